"""What a run did: :class:`AnalysisResult` and its per-player :class:`TrackStats`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hoopsense.errors import Interrupted
from hoopsense.pipeline.timeline import ActionEvent, action_totals
from hoopsense.video import VideoMeta


@dataclass
class TrackStats:
    """When a player was visible: first and last frame (0-based) and frames seen."""

    first_frame: int
    last_frame: int
    frames: int = 0


@dataclass
class AnalysisResult:
    """What a run did: counts, speed, per-stage seconds, the files written and, with a
    recognizer, the action events (``events``) and the players classified."""

    meta: VideoMeta
    frames: int = 0
    rows: int = 0
    players: dict[int, TrackStats] = field(default_factory=dict)
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=dict)
    outputs: list[Path] = field(default_factory=list)
    partial: bool = False
    events: list[ActionEvent] = field(default_factory=list)
    windows: int = 0
    classified: set[int] = field(default_factory=set)
    provisional_frames: int = 0
    skipped_packets: int = 0
    cuts: list[int] = field(default_factory=list)  # frames where the tracker started afresh (camera cuts)
    recognizer: dict[str, Any] | None = None
    identity: dict[str, Any] | None = None  # the identity stage's summary (run.json)
    identities: dict[int, dict[str, Any]] = field(default_factory=dict)  # per player: team, colour, thumbnail...
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)  # per team: colour, players
    notes: list[str] = field(default_factory=list)  # one-line notes for the user (e.g. a fallback taken)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_s if self.wall_s > 0 else 0.0

    def player_summaries(self) -> list[dict[str, Any]]:
        """Per player: id, first/last frame, frames visible, seconds visible and, with a
        recognizer, events and seconds per action."""
        fps = self.meta.fps
        totals = action_totals(self.events)
        out = []
        for pid, s in sorted(self.players.items()):
            actions = totals.get(pid, {})
            out.append({
                "player_id": pid, "team": self.identities.get(pid, {}).get("team"), "first_frame": s.first_frame, "last_frame": s.last_frame,
                "frames": s.frames, "seconds_visible": round(s.frames / fps, 3), "actions": actions,
            })  # fmt: skip
        return out


class AnalysisInterrupted(Interrupted):
    """Ctrl-C: the outputs so far were finished and renamed ``*.partial.*``."""

    def __init__(self, result: AnalysisResult) -> None:
        names = ", ".join(str(p) for p in result.outputs) or "none"
        super().__init__(f"stopped after {result.frames} frames; partial outputs: {names}")
        self.result = result
