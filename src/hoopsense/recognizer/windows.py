"""What the recognizer says about one clip of one player (plain data, no torch import)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPrediction:
    """Class probabilities (float32 ``(C,)``, summing to 1) of one player's clip over frames ``start..end``."""

    track_id: int
    start_frame: int
    end_frame: int
    probs: np.ndarray
