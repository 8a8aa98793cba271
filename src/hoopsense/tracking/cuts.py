"""Camera cuts, found as the video streams, so that no track is carried across one.

At a hard cut the tracker sees every box jump. With a permissive match (a
low IoU suits fast broadcast motion) it can carry a track from a player
before the cut onto another player after it; that identity is then "visible"
on the wrong player, and the right one, seen again after the cut, cannot be
linked to it. So the tracker starts afresh at a cut (:meth:`PlayerTracker.reset
<hoopsense.tracking.players.PlayerTracker.reset>`): everyone after it is a new
fragment, which re-identification links to the people seen before.

Cuts are found by PySceneDetect's ``AdaptiveDetector``: a frame's content
change (hue, saturation and luma against the previous frame) compared with the
average change over the ``window`` frames on either side, so a pan or a fast
move, which changes every frame a lot, is not a cut. It needs those frames
after the cut, so the stream tracks ``lookahead`` frames behind the frames it
gives it. Frames are scaled to :data:`WIDTH` pixels wide first, so the
threshold means the same at any resolution (0.3-0.5 ms for a 640x360 frame
alone; about 1.7 ms a frame within ``analyze`` on two busy cores).

Two cuts are at least :data:`MIN_SHOT` frames apart, counted from the first
frame given: a cut in the first 15 frames of the analysed range is not found,
nor one in its last ``lookahead`` frames.

On the shared clips it found the 1080p gym clip's two cuts and nothing on the
others; the plain ``ContentDetector`` (a fixed threshold) also cut the gym
clip and the lebron clip where a hand-held camera moved fast.
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH = 320  # frames are scaled to this width before they are compared
WINDOW = 2  # frames on either side of a frame that its change is compared with
MIN_SHOT = 15  # frames: two cuts are at least this far apart (a flash or a wipe is not two cuts)


class CutDetector:
    """Feed every frame in order with :meth:`push`; it returns the indices of the frames found to start a new
    shot, ``lookahead`` frames late at most."""

    lookahead = WINDOW

    def __init__(self, fps: float) -> None:
        from scenedetect import FrameTimecode
        from scenedetect.detectors import AdaptiveDetector

        self.fps = fps
        self._timecode = FrameTimecode
        self._detector = AdaptiveDetector(window_width=WINDOW, min_scene_len=MIN_SHOT)

    def push(self, index: int, image: np.ndarray) -> list[int]:
        """Frame ``index`` (BGR uint8); returns the cut frames found with it (each the first frame of a shot)."""
        h, w = image.shape[:2]
        small = cv2.resize(image, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
        found = self._detector.process_frame(self._timecode(index, fps=self.fps), small)
        return [int(cut.frame_num) for cut in found]
