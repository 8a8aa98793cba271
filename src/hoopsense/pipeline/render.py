"""Drawing players and their actions on frames for the annotated video.

Colours are shared with the HTML report: a player's ellipse and ``#ID`` label
use :func:`player_colour` (supervision's default palette by player ID), and
an action's label uses :func:`action_colours` (one colour per class, grey for
the background class).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np
import supervision as sv

ACTION_PALETTE = (
    "#1f77b4",
    "#e8710a",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#d6409f",
    "#0f9ab0",
    "#8a8a12",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
    "#e6550d",
)
BACKGROUND_COLOUR = "#757575"
NO_TEAM_COLOUR = "#9e9e9e"  # other people, and players whose team is not known yet
PLAIN_SIDES = ("other", "crowd")  # sides drawn in NO_TEAM_COLOUR, like players whose team is unknown
PLAYER_PALETTE = sv.ColorPalette.DEFAULT


def player_colour(player_id: int) -> str:
    """Hex colour of a player's ellipse and ID label in the video."""
    return PLAYER_PALETTE.by_idx(int(player_id)).as_hex()


def action_colours(labels: Sequence[str], background: str | None = None) -> list[str]:
    """Hex colour per class (index = class index); the background class is grey."""
    return [
        BACKGROUND_COLOUR if name == background else ACTION_PALETTE[i % len(ACTION_PALETTE)]
        for i, name in enumerate(labels)
    ]


class Renderer:
    """Draws an ellipse at each player's feet with a ``#ID`` label under it, and the
    current action above the player in the action's colour.

    Frames are BGR uint8 ``(H, W, 3)``; sizes scale with the frame height.
    ``labels`` names the recognizer's classes and ``action_palette`` gives the
    hex colour of each (see :func:`action_colours`).
    """

    def __init__(
        self, frame_height: int, labels: Sequence[str] = (), action_palette: Sequence[str] | None = None
    ) -> None:
        self.labels = tuple(labels)
        scale = max(0.4, frame_height / 1080)
        thickness = max(1, int(round(2 * scale)))
        padding = max(2, int(round(6 * scale)))
        self._ellipse = sv.EllipseAnnotator(
            thickness=max(2, int(round(3 * scale))), color=PLAYER_PALETTE, color_lookup=sv.ColorLookup.TRACK
        )
        self._label = sv.LabelAnnotator(
            color=PLAYER_PALETTE,
            text_scale=0.9 * scale,
            text_thickness=thickness,
            text_padding=padding,
            text_position=sv.Position.BOTTOM_CENTER,
            color_lookup=sv.ColorLookup.TRACK,
            smart_position=False,
        )
        palette = (
            sv.ColorPalette.from_hex(list(action_palette))
            if action_palette
            else sv.ColorPalette.from_hex([BACKGROUND_COLOUR])
        )
        self._action = sv.LabelAnnotator(
            color=palette,
            text_color=sv.Color.WHITE,
            text_scale=0.8 * scale,
            text_thickness=thickness,
            text_padding=padding,
            text_position=sv.Position.TOP_CENTER,
            smart_position=False,
        )

    def draw(
        self,
        image: np.ndarray,
        players: sv.Detections,
        actions: Mapping[int, tuple[int, float]] | None = None,
        colours: Mapping[int, str] | None = None,
        *,
        skeletons: bool = False,
    ) -> np.ndarray:
        """Return a new annotated copy of ``image`` (BGR uint8).

        ``skeletons``: also draw each player's keypoints (``players.data["keypoints"]``, float
        ``(N, 17, 3)`` COCO points in pixels with their visibility) joined as a skeleton.

        ``actions`` maps a player ID to ``(class index, confidence)``, drawn as ``dribble 0.83``.
        ``colours`` maps a player ID to the hex colour of his ellipse and label (his team's); players
        not in it keep their own colour.
        """
        canvas = image.copy()
        if len(players) == 0:
            return canvas
        if skeletons and "keypoints" in players.data:
            draw_skeletons(canvas, players.data["keypoints"])
        texts = [f"#{int(t)}" for t in players.tracker_id]
        if colours:
            canvas = self._draw_in_colours(canvas, players, texts, colours)
        else:
            canvas = self._ellipse.annotate(canvas, players)
            canvas = self._label.annotate(canvas, players, labels=texts)
        if actions:
            keep = np.array([int(t) in actions for t in players.tracker_id], dtype=bool)
            if keep.any():
                tagged = players[keep]
                tags = [actions[int(t)] for t in tagged.tracker_id]
                lookup = np.array([index for index, _ in tags], dtype=np.int64)
                texts = [f"{self.labels[index]} {confidence:.2f}" for index, confidence in tags]
                canvas = self._action.annotate(canvas, tagged, labels=texts, custom_color_lookup=lookup)
        return canvas

    def _draw_in_colours(
        self, canvas: np.ndarray, players: sv.Detections, texts: list[str], colours: Mapping[int, str]
    ) -> np.ndarray:
        hexes = [colours.get(int(t)) or player_colour(int(t)) for t in players.tracker_id]
        unique = sorted(set(hexes))
        lookup = np.array([unique.index(h) for h in hexes], dtype=np.int64)
        palette = sv.ColorPalette.from_hex(unique)
        self._ellipse.color = palette
        canvas = self._ellipse.annotate(canvas, players, custom_color_lookup=lookup)
        self._label.color = palette
        light = np.array([_is_light(h) for h in hexes], dtype=bool)
        for group, text_colour in ((light, sv.Color.BLACK), (~light, sv.Color.WHITE)):
            if group.any():
                self._label.text_color = text_colour
                canvas = self._label.annotate(
                    canvas, players[group], labels=[t for t, g in zip(texts, group) if g],
                    custom_color_lookup=lookup[group],
                )  # fmt: skip
        self._ellipse.color = self._label.color = PLAYER_PALETTE
        self._label.text_color = sv.Color.WHITE
        return canvas


def _is_light(hex_colour: str) -> bool:
    """True for colours on which black text reads better than white."""
    c = sv.Color.from_hex(hex_colour)
    return 0.299 * c.r + 0.587 * c.g + 0.114 * c.b > 150


# COCO keypoint pairs joined in a skeleton (0 nose, 5/6 shoulders, 11/12 hips, 15/16 ankles)
SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4),
)  # fmt: skip
SKELETON_BGR = (255, 255, 0)
MIN_VISIBILITY = 0.5


def draw_skeletons(canvas: np.ndarray, keypoints: np.ndarray, min_visibility: float = MIN_VISIBILITY) -> None:
    """Draw, in place on BGR uint8 ``canvas``, the skeleton of each person in float ``(N, 17, 3)``
    ``keypoints`` (x, y in pixels, visibility 0-1); points below ``min_visibility`` are left out."""
    thickness = max(1, round(canvas.shape[0] / 540))
    for person in np.asarray(keypoints, dtype=np.float32):
        seen = person[:, 2] >= min_visibility
        xy = np.round(person[:, :2]).astype(int)
        for a, b in SKELETON:
            if seen[a] and seen[b]:
                cv2.line(canvas, tuple(xy[a]), tuple(xy[b]), SKELETON_BGR, thickness, cv2.LINE_AA)
        for point in xy[seen]:
            cv2.circle(canvas, tuple(point), thickness + 1, SKELETON_BGR, -1, cv2.LINE_AA)
