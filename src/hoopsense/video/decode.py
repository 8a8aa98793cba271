"""Decoding building blocks.

:class:`PacketDecoder` decodes a stream packet by packet and survives a few
damaged packets (used by :class:`~hoopsense.video.reader.VideoReader`);
:func:`read_frames` decodes a short clip whole.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from hoopsense.errors import VideoError
from hoopsense.video.meta import _normalise_rotation, _open, _reason, upright

log = logging.getLogger(__name__)


class PacketDecoder:
    """Decode one video stream of an open container packet by packet.

    Plain ``container.decode`` ends the whole read at the first packet the
    decoder rejects (:class:`av.error.InvalidDataError` and the like), so one
    damaged spot in a long game would stop the analysis there. Here such a
    packet is skipped: it is counted in :attr:`skipped`, logged as a warning
    (the first ``logged`` one by one) and decoding goes on with the next
    packet; only the frames in the bad packets are missing.

    More than ``max_bad`` bad packets that also make up more than
    ``max_share`` of the packets read so far raise :class:`VideoError`: the
    file is then too damaged to be worth analysing. Errors of the demuxer
    itself (a broken container) are not skipped; they propagate as
    :class:`av.error.FFmpegError`. Iterating yields :class:`av.VideoFrame`
    objects in decoding order; ``origin`` (seconds) is the stream's start
    time, subtracted from packet times in the warnings.
    """

    def __init__(
        self,
        path: Path,
        container: av.container.InputContainer,
        stream: av.video.stream.VideoStream,
        *,
        origin: float = 0.0,
        max_bad: int = 10,
        max_share: float = 0.5,
        logged: int = 3,
    ) -> None:
        self.path = path
        self.container = container
        self.stream = stream
        self.origin = origin
        self.max_bad = max_bad
        self.max_share = max_share
        self.logged = logged
        self.packets = 0  # packets read, the final flush included
        self.skipped = 0  # packets the decoder rejected

    def __iter__(self) -> Iterator[av.VideoFrame]:
        for packet in self.container.demux(self.stream):
            self.packets += 1
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self._skip(packet, exc)
                continue
            yield from frames

    def _skip(self, packet: av.Packet, exc: av.error.FFmpegError) -> None:
        self.skipped += 1
        bad, read = self.skipped, self.packets
        if bad > self.max_bad and bad > self.max_share * read:
            raise VideoError(
                f"cannot decode {self.path}: {bad} of the {read} packets read so far are corrupt "
                f"({_reason(exc)}); the file is too damaged to analyse"
            )
        if bad <= self.logged:
            at = f"{float(packet.pts * packet.time_base) - self.origin:.2f} s" if packet.pts is not None else "?"
            log.warning("%s: skipping an undecodable packet at %s (%s)", self.path, at, _reason(exc))

    def summarise(self) -> None:
        """Log one warning with the number of skipped packets, if any."""
        if self.skipped:
            log.warning("%s: skipped %d undecodable packet(s) of %d", self.path, self.skipped, self.packets)


def read_frames(path: str | Path, max_frames: int | None = None) -> np.ndarray:
    """Decode a short clip whole: RGB uint8 ``(N, H, W, 3)``, upright, at most ``max_frames`` frames.

    For training clips of a few seconds; game footage is streamed with
    :class:`~hoopsense.video.VideoReader` instead. Raises :class:`VideoError` for unreadable
    files or clips without a decodable frame.
    """
    path = Path(path)
    container = _open(path)
    frames: list[np.ndarray] = []
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rotation = 0
        for frame in container.decode(stream):
            if not frames:
                rotation = _normalise_rotation(frame.rotation)
            frames.append(upright(frame.to_ndarray(format="rgb24"), rotation))
            if max_frames is not None and len(frames) >= max_frames:
                break
    except av.error.FFmpegError as exc:
        if not frames:
            raise VideoError(f"cannot decode {path} ({_reason(exc)})") from exc
    finally:
        container.close()
    if not frames:
        raise VideoError(f"{path} has no decodable frame")
    return np.stack(frames)
