"""Streaming video input and output on PyAV.

* :func:`probe` reads a video's metadata (:class:`VideoMeta`) or raises a
  :class:`~hoopsense.errors.VideoError` that says what is wrong with the file.
* :class:`VideoReader` decodes frames in a background thread into a small
  bounded queue, so decoding overlaps whatever the consumer does (detection)
  and memory does not grow with the length of the video. Frames are RGB uint8
  arrays of shape ``(H, W, 3)``, already turned upright when the file carries
  rotation metadata.
* :class:`VideoWriter` encodes H.264 mp4 at the input's exact frame rate and
  carries the input's audio over (copied when mp4 can hold it, re-encoded to
  AAC otherwise).
* :func:`read_frames` decodes a short clip whole into one RGB uint8
  ``(N, H, W, 3)`` array.

The modules: :mod:`.meta` (metadata, opening, rotation), :mod:`.decode`
(packet-by-packet decoding, whole clips), :mod:`.reader` (streaming) and
:mod:`.writer` (encoding and audio).
"""

from hoopsense.video.decode import read_frames
from hoopsense.video.meta import Frame, VideoMeta, probe, upright
from hoopsense.video.reader import VideoReader
from hoopsense.video.writer import VideoWriter

__all__ = ["Frame", "VideoMeta", "VideoReader", "VideoWriter", "probe", "read_frames", "upright"]
