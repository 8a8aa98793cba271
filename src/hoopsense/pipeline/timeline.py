"""Window predictions -> per-player action events, online and with bounded look-ahead.

For each player, clips arrive in order (:class:`WindowPrediction`, overlapping
when the stride is shorter than a clip). Three steps turn them into events:

1. **Smoothing**: each window's probabilities are averaged with its
   ``smooth // 2`` neighbours on each side (within a visible segment).
2. **Ownership**: each frame belongs to the window whose centre is nearest,
   so overlapping windows split their frames at the midpoint between centres.
3. **Hysteresis**: a new action replaces the current one only once it has
   lasted ``min_frames`` frames; a shorter run is absorbed by the current
   action, so one noisy window never splits an event. A segment's opening
   run that is shorter than ``min_frames`` is taken over by the next
   confirmed action, and a final run shorter than ``min_frames`` is dropped.

An event's confidence is the mean, over its frames, of the smoothed
probability of its action. Events of the checkpoint's background class are
dropped unless ``keep_background``. Segments end where the tracker lost the
player (see :class:`~hoopsense.recognizer.tubelets.SegmentEnd`).

Everything is decided with a look-ahead of a few windows, so the annotated
video can show the final label of each frame: :meth:`Timeline.final_until`
tells up to which frame a player's labels are settled.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from hoopsense.errors import ConfigError, check_range, field_name
from hoopsense.recognizer.windows import WindowPrediction


@dataclass(frozen=True)
class ActionEvent:
    """One action of one player over frames ``start_frame..end_frame`` (inclusive).

    ``start_s = start_frame / fps`` and ``end_s = (end_frame + 1) / fps``.
    """

    player_id: int
    action: str
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    confidence: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame + 1


def action_totals(events: Iterable[ActionEvent]) -> dict[int, dict[str, dict[str, float]]]:
    """Per player, per action: ``{"events": count, "seconds": total duration}`` (seconds to 4 decimals)."""
    totals: dict[int, dict[str, dict[str, float]]] = {}
    for e in events:
        a = totals.setdefault(e.player_id, {}).setdefault(e.action, {"events": 0, "seconds": 0.0})
        a["events"] += 1
        a["seconds"] = round(a["seconds"] + e.duration_s, 4)
    return totals


@dataclass(frozen=True)
class TimelineConfig:
    """``smooth``: odd number of windows averaged; ``min_event_s``: shortest event in seconds."""

    smooth: int = 3
    min_event_s: float = 0.5
    keep_background: bool = False

    def __post_init__(self) -> None:
        check_range(self, "smooth", 1, 31, "windows")
        if self.smooth % 2 == 0:
            raise ConfigError(
                f"smooth must be an odd number of windows, got {self.smooth}", field=field_name(self, "smooth")
            )
        check_range(self, "min_event_s", 0, 600, "seconds")

    def min_frames(self, fps: float) -> int:
        return max(1, int(round(self.min_event_s * fps)))


@dataclass
class _Run:
    label: int
    start: int
    end: int
    prob_sum: np.ndarray  # frame-weighted sum of smoothed probabilities, (C,)

    @property
    def frames(self) -> int:
        return self.end - self.start + 1

    def absorb(self, other: _Run) -> None:
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        self.prob_sum = self.prob_sum + other.prob_sum

    @property
    def confidence(self) -> float:
        return float(self.prob_sum[self.label] / self.frames)


@dataclass
class PlayerTimeline:
    """Online event builder for one player (see the module docstring)."""

    player_id: int
    min_frames: int
    smooth: int = 3
    windows_seen: int = 0
    closed: list[_Run] = field(default_factory=list)
    _win: list[WindowPrediction] = field(default_factory=list)
    _next: int = 0
    _owned_to: int | None = None
    _cur: _Run | None = None
    _cand: _Run | None = None
    _final_until: int = -1
    _shown: deque = field(default_factory=deque)  # closed runs not yet passed by label_at

    def add(self, window: WindowPrediction) -> None:
        if self._win and window.start_frame > self._win[-1].end_frame + 1:
            self.end_segment(self._win[-1].end_frame)  # a gap the tracker did not report: never bridge it
        self._win.append(window)
        self.windows_seen += 1
        self._advance(final=False)

    def end_segment(self, last_frame: int) -> None:
        """The player's visible segment ended at ``last_frame``: settle everything up to it."""
        self._advance(final=True)
        tail = self._cand or self._cur
        if tail is not None and last_frame > tail.end:
            tail.prob_sum = tail.prob_sum + tail.prob_sum / tail.frames * (last_frame - tail.end)
            tail.end = last_frame
        if self._cand is not None and self._cur is not None:
            self._cur.absorb(self._cand)
        if self._cur is not None and self._cur.frames >= self.min_frames:
            self._close(self._cur)
        self._final_until = max(self._final_until, last_frame)
        self._win, self._next, self._owned_to, self._cur, self._cand = [], 0, None, None, None

    @property
    def final_until(self) -> int:
        """Last frame whose label can no longer change (-1 when none)."""
        cur = self._cur
        if cur is not None and cur.frames >= self.min_frames:
            return max(self._final_until, (self._cand.start - 1) if self._cand is not None else cur.end)
        return self._final_until

    def label_at(self, frame: int) -> tuple[int, float] | None:
        """``(class, confidence)`` shown at ``frame`` (None: no label). Query frames in increasing order."""
        while self._shown and self._shown[0].end < frame:
            self._shown.popleft()
        if self._shown and self._shown[0].start <= frame:
            run = self._shown[0]
            return run.label, run.confidence
        cur = self._cur
        if cur is not None and cur.start <= frame <= max(cur.end, self._cand.end if self._cand else cur.end):
            return cur.label, cur.confidence  # provisional: only used when the video cannot wait longer
        return None

    def _advance(self, final: bool) -> None:
        h = self.smooth // 2
        look = max(h, 1)
        while self._next < len(self._win) and (final or self._next + look < len(self._win)):
            i = self._next
            lo, hi = max(0, i - h), min(len(self._win), i + h + 1)
            probs = np.mean([w.probs for w in self._win[lo:hi]], axis=0)
            w = self._win[i]
            a = w.start_frame if self._owned_to is None else max(w.start_frame, self._owned_to + 1)
            if i + 1 < len(self._win):
                nxt = self._win[i + 1]
                b = (w.start_frame + w.end_frame + nxt.start_frame + nxt.end_frame) // 4
            else:
                b = w.end_frame
            if b >= a:
                self._feed(_Run(int(np.argmax(probs)), a, b, probs * (b - a + 1)))
                self._owned_to = b
            self._next += 1
            if i - h > 0:  # windows before i - h are no longer needed for smoothing
                drop = i - h
                del self._win[:drop]
                self._next -= drop

    def _feed(self, piece: _Run) -> None:
        cur = self._cur
        if cur is None:
            self._cur = piece
            return
        if piece.label == cur.label:
            if self._cand is not None:
                cur.absorb(self._cand)
                self._cand = None
            cur.absorb(piece)
            return
        if self._cand is not None and self._cand.label == piece.label:
            self._cand.absorb(piece)
        else:
            if self._cand is not None:
                cur.absorb(self._cand)
            self._cand = piece
        cand = self._cand
        if cand.frames >= self.min_frames:
            if cur.frames < self.min_frames:
                cand.absorb(cur)  # a short opening run goes to the first confirmed action
            else:
                self._close(cur)
            self._cur, self._cand = cand, None

    def _close(self, run: _Run) -> None:
        self.closed.append(run)
        self._shown.append(run)
        self._final_until = max(self._final_until, run.end)


class Timeline:
    """Per-player timelines for one video: feed predictions and segment ends, read events and labels."""

    def __init__(
        self,
        labels: Sequence[str],
        fps: float,
        config: TimelineConfig | None = None,
        background: str | None = None,
    ) -> None:
        self.labels = tuple(labels)
        self.fps = float(fps)
        self.config = config or TimelineConfig()
        self.background = self.labels.index(background) if background is not None else None
        self.min_frames = self.config.min_frames(self.fps)
        self.players: dict[int, PlayerTimeline] = {}

    def _player(self, track_id: int) -> PlayerTimeline:
        player = self.players.get(track_id)
        if player is None:
            player = self.players[track_id] = PlayerTimeline(track_id, self.min_frames, self.config.smooth)
        return player

    def add(self, prediction: WindowPrediction) -> None:
        if len(prediction.probs) != len(self.labels):
            raise ValueError(f"prediction has {len(prediction.probs)} classes, expected {len(self.labels)}")
        self._player(prediction.track_id).add(prediction)

    def end_segment(self, track_id: int, last_frame: int) -> None:
        self._player(track_id).end_segment(last_frame)

    def final_until(self, track_id: int) -> int:
        player = self.players.get(track_id)
        return player.final_until if player is not None else -1

    def label_at(self, track_id: int, frame: int) -> tuple[int, float] | None:
        """The class index (into :attr:`labels`) and confidence to show for a player at a frame, or None."""
        player = self.players.get(track_id)
        found = player.label_at(frame) if player is not None else None
        if found is None or (found[0] == self.background and not self.config.keep_background):
            return None
        return found

    def events(self) -> list[ActionEvent]:
        """Settled events of every player, sorted by player then start frame."""
        out = []
        for pid in sorted(self.players):
            for run in self.players[pid].closed:
                if run.label == self.background and not self.config.keep_background:
                    continue
                out.append(
                    ActionEvent(
                        player_id=pid,
                        action=self.labels[run.label],
                        start_frame=run.start,
                        end_frame=run.end,
                        start_s=run.start / self.fps,
                        end_s=(run.end + 1) / self.fps,
                        confidence=run.confidence,
                    )
                )
        return out


def build_events(
    predictions: Iterable[WindowPrediction],
    labels: Sequence[str],
    fps: float,
    config: TimelineConfig | None = None,
    *,
    background: str | None = None,
    segment_ends: dict[int, int] | None = None,
) -> list[ActionEvent]:
    """All events from a complete list of predictions (each player's in frame order).

    ``segment_ends`` maps players to their last visible frame; by default a
    player's segment ends with its last window.
    """
    timeline = Timeline(labels, fps, config, background)
    last: dict[int, int] = {}
    for p in predictions:
        timeline.add(p)
        last[p.track_id] = max(last.get(p.track_id, -1), p.end_frame)
    for pid, end in {**last, **(segment_ends or {})}.items():
        timeline.end_segment(pid, end)
    return timeline.events()
