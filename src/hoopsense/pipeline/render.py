"""Drawing players on frames for the annotated video."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import supervision as sv


class Renderer:
    """Draws an ellipse at each player's feet with a ``#ID`` label under it (plus optional text).

    Colours follow the player ID, so a player keeps one colour for the whole
    video. Frames are BGR uint8 ``(H, W, 3)``; sizes scale with the frame height.
    """

    def __init__(self, frame_height: int) -> None:
        scale = max(0.4, frame_height / 1080)
        self._ellipse = sv.EllipseAnnotator(thickness=max(2, int(round(3 * scale))), color_lookup=sv.ColorLookup.TRACK)
        self._label = sv.LabelAnnotator(
            text_scale=0.9 * scale,
            text_thickness=max(1, int(round(2 * scale))),
            text_padding=max(2, int(round(6 * scale))),
            text_position=sv.Position.BOTTOM_CENTER,
            color_lookup=sv.ColorLookup.TRACK,
            smart_position=False,
        )

    def draw(self, image: np.ndarray, players: sv.Detections, extra: Mapping[int, str] | None = None) -> np.ndarray:
        """Return a new annotated copy of ``image`` (BGR uint8); ``extra`` adds text after ``#ID``."""
        canvas = image.copy()
        if len(players) == 0:
            return canvas
        labels = []
        for tid in players.tracker_id:
            text = f"#{int(tid)}"
            if extra and int(tid) in extra:
                text = f"{text} {extra[int(tid)]}"
            labels.append(text)
        canvas = self._ellipse.annotate(canvas, players)
        return self._label.annotate(canvas, players, labels=labels)
