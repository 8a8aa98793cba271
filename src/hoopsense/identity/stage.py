"""The identity stage of the tracked-frame stream: tracker IDs in, one identity per person out.

Per frame, :meth:`IdentityStage.observe` turns the tracker's IDs into fragment
IDs, samples the appearance (re-ID embedding) and jersey colours of the
players who need it, offers crops to the gallery and decides the fragments
that have enough samples. The frame then waits in the stream's delay line;
when it leaves, :meth:`IdentityStage.finalize` replaces each fragment ID by its
identity (deciding any fragment still open, so no output ever shows a
provisional ID), gives each identity its team, and drops referees and the
foreground crowd unless they are kept. Teams are fitted once the first
``team_warmup_s`` seconds were seen (the stream holds those frames back
meanwhile) and refitted as players appear; an identity's team is fixed the
first time one of its frames leaves, so the video, the track files and the
timeline always agree.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import supervision as sv

from hoopsense.errors import ConfigError, check_range
from hoopsense.identity.gallery import Gallery
from hoopsense.identity.linker import Linker, LinkerConfig

if TYPE_CHECKING:
    from hoopsense.identity.reid import Embedder
    from hoopsense.identity.teams import Team, TeamModel

REID_OFF = "off"
REID_COLOUR = "colour"


COLOUR_SAMPLES = 24  # jersey-colour samples kept per track fragment
SWAP_MARGIN = 0.0  # re-ID distance by which a swapped fragment must look more like the other identity than its own
RECLAIM_MARGIN = 0.05  # how much more a returning fragment must look like an identity than the track holding it
FORGET_AFTER = 300  # frames after its last that a fragment is gone for good: its gallery crops and samples are dropped
FORGET_EVERY = 30  # frames between those clean-ups
EDGE_MARGIN = 0.02  # a box whose bottom is this close to the frame's (a fraction of its height) is cut by it
CROWD_CUT = 0.8  # an identity cut by the bottom edge in at least this fraction of its boxes never stood in view
CROWD_MIN_BOXES = 10  # boxes an identity needs before it can be judged the crowd
CROWD_GROWTH = 1.2  # boxes growing by more than this (latest third against first) are someone stepping into view
HEIGHTS_KEPT = 64  # box heights kept per fragment (its first ones)
WHOLE_KEPT = 2048  # heights of the latest whole (uncut) boxes, the reference size of a person on the floor


@dataclass(frozen=True)
class IdentityConfig:
    """Re-identification and teams.

    * ``reid``: re-ID weights (a name, a ``.pth``/``.onnx`` file), None for the
      default weights (colour histograms when they cannot be had, with a note),
      ``"colour"`` for colour histograms, ``"off"`` for no linking (each
      tracker fragment is its own identity).
    * ``link_distance``: largest appearance distance to link a fragment to an
      earlier identity (None: the embedder's default).
    * ``split_distance``: a decided fragment whose appearance stays farther
      than this from its identity (the tracker moved the ID onto another
      player) is split (None: never). Off by default: with OSNet x0.25 at 0.3
      it raised IDF1 on the composite benchmark (47.4 to 53.8 with ByteTrack,
      51.4 to 64.4 with BoT-SORT) but split 15 fragments of the 1080p gym
      clip, whose identities rose from 28 to 36.
    * ``swap_repair``: with a re-ID network, give two players their identities
      back when the tracker swapped their IDs (in contact, a screen): two
      visible identities whose current fragments each look more like the
      other's identity than like their own, in two samples in a row, trade
      them from then on (:class:`~hoopsense.identity.linker.Linker`). On the
      composite benchmark (``--seed 1``) it raised IDF1 from 50.5 to 57.6 with
      ByteTrack; on the NBA clip it undid the pick-and-roll swap and a swap
      between a Lakers defender and a ball handler.
    * ``reclaim``: with a re-ID network, give a returning player his identity
      back while the tracker still shows it on another player (it moved his
      track onto someone else when it lost him): a new fragment that looks
      like a visible identity, when that identity's current fragment looks
      less like him (against all his samples, by ``RECLAIM_MARGIN``), takes
      it from the new fragment's first frame on, and the other fragment goes
      on as a new fragment (:class:`~hoopsense.identity.linker.Linker`). On
      the composite benchmark it raised IDF1 from 57.6 to 61.2 (``--seed 1``,
      where the margin was chosen) and from 56.2 to 61.5 (``--seed 2``).
    * ``sample_every``: frames between appearance samples of a player already
      identified (a new fragment is sampled every frame until decided).
    * ``teams``: cluster identities into teams ``A``/``B``, ``referee``,
      ``crowd`` (see :class:`Footing`) and ``other``; ``keep_referees`` keeps
      referees in the outputs, ``keep_crowd`` the crowd.
    * ``team_warmup_s``: seconds of video seen before the first team fit.
    * ``gallery``: keep each identity's clearest crop (thumbnails).
    """

    reid: str | None = None
    link_distance: float | None = None
    split_distance: float | None = None
    swap_repair: bool = True
    reclaim: bool = True
    sample_every: int = 5
    teams: bool = True
    keep_referees: bool = False
    keep_crowd: bool = False
    team_warmup_s: float = 1.0
    gallery: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.link_distance is not None:
            check_range(self, "link_distance", 0, 2)
        if self.split_distance is not None:
            check_range(self, "split_distance", 0, 2)
        check_range(self, "sample_every", 1, 1000, "frames")
        check_range(self, "team_warmup_s", 0, 600, "seconds")
        if self.keep_referees and not self.teams:
            raise ConfigError("keep_referees needs teams (referees are found by the team clustering)",
                              field="IdentityConfig.keep_referees")  # fmt: skip
        if self.keep_crowd and not self.teams:
            raise ConfigError("keep_crowd needs teams (the crowd is found by the team clustering)",
                              field="IdentityConfig.keep_crowd")  # fmt: skip

    @property
    def linking(self) -> bool:
        return self.reid != REID_OFF

    @property
    def dropped_sides(self) -> frozenset[str]:
        """The sides left out of the outputs: referees and the crowd unless they are kept."""
        if not self.teams:
            return frozenset()
        return frozenset(
            name for name, kept in (("referee", self.keep_referees), ("crowd", self.keep_crowd)) if not kept
        )


class Footing:
    """Whether a person was ever seen standing in the picture, from his boxes alone.

    Spectators, photographers and staff between the camera and the court (the
    heads along the bottom of a broadcast, the parents in front of a phone) are
    seen cut by the frame's bottom edge, and what shows of them is smaller than
    a whole person standing on the floor, though they are nearer the camera. A
    player near the camera is cut too, but what shows of him is larger. So an
    identity is :meth:`foreground` when it was seen in at least
    ``CROWD_MIN_BOXES`` boxes, at least ``CROWD_CUT`` of them ending within
    ``EDGE_MARGIN`` of the bottom edge, their median height is below the
    median height of the latest whole (uncut) boxes of everybody, and they are
    not growing: someone walking into the picture from under a raised camera is
    cut at first too, and small, but his boxes grow (the latest third's median
    height more than ``CROWD_GROWTH`` times the first third's), where a seated
    spectator's stay the same size.
    """

    def __init__(self) -> None:
        self.seen: dict[int, int] = {}  # fragment -> boxes
        self.cut: dict[int, int] = {}  # fragment -> boxes cut by the bottom edge
        self.heights: dict[int, list[float]] = {}  # fragment -> its first HEIGHTS_KEPT box heights
        self.whole: deque[float] = deque(maxlen=WHOLE_KEPT)

    def add(self, fragments: np.ndarray, boxes: np.ndarray, frame_height: float) -> None:
        """One frame's ``(N,)`` fragments and ``(N, 4)`` xyxy boxes, in a frame ``frame_height`` pixels high."""
        heights = boxes[:, 3] - boxes[:, 1]
        cut = boxes[:, 3] >= (1.0 - EDGE_MARGIN) * frame_height
        self.whole.extend(heights[~cut].tolist())
        for fid, h, c in zip(fragments.tolist(), heights.tolist(), cut.tolist(), strict=True):
            self.seen[fid] = self.seen.get(fid, 0) + 1
            self.cut[fid] = self.cut.get(fid, 0) + int(c)
            kept = self.heights.setdefault(fid, [])
            if len(kept) < HEIGHTS_KEPT:
                kept.append(h)

    def foreground(self, fragments: Iterable[int]) -> bool:
        """True when the fragments (one identity's) are of someone in front of the floor: see the class."""
        fragments = [f for f in fragments if f in self.seen]
        seen = sum(self.seen[f] for f in fragments)
        if seen < CROWD_MIN_BOXES or not self.whole:
            return False
        if sum(self.cut[f] for f in fragments) < CROWD_CUT * seen:
            return False
        heights = np.array([h for f in sorted(fragments) for h in self.heights[f]])  # fragments in time order
        third = max(1, len(heights) // 3)
        if np.median(heights[-third:]) > CROWD_GROWTH * np.median(heights[:third]):
            return False  # stepping into view
        return float(np.median(heights)) < float(np.median(np.asarray(self.whole)))

    def forget(self, fragments: Iterable[int]) -> None:
        for f in fragments:
            self.seen.pop(f, None)
            self.cut.pop(f, None)
            self.heights.pop(f, None)


def _colour(embedder: Embedder) -> bool:
    from hoopsense.identity.reid import ColourEmbedder

    return isinstance(embedder, ColourEmbedder)


def default_link_distance(embedder: Embedder | None) -> float:
    """Cosine distance under which a fragment links to an identity, per kind of embedder."""
    if embedder is None:
        return 0.0
    return 0.12 if _colour(embedder) else 0.3


def load_embedder(config: IdentityConfig) -> tuple[Embedder | None, str | None]:
    """The embedder ``config`` asks for, and a one-line note when it fell back to colour histograms."""
    if not config.linking:
        return None, None
    from hoopsense.identity import reid

    return reid.load_embedder(config.reid, device=config.device)


class IdentityStage:
    """See the module docstring. One instance per analysed video."""

    def __init__(self, config: IdentityConfig, fps: float, embedder: Embedder | None = None) -> None:
        self.config = config
        self.embedder = embedder
        distance = config.link_distance if config.link_distance is not None else default_link_distance(embedder)
        split = config.split_distance if embedder is not None else None
        network = embedder is not None and not _colour(embedder)  # swap repair and reclaims need re-ID embeddings
        swap = SWAP_MARGIN if config.swap_repair and network else None
        reclaim = RECLAIM_MARGIN if config.reclaim and network else None
        self.linker = Linker(
            LinkerConfig(max_distance=distance, split_distance=split, swap_margin=swap, reclaim_margin=reclaim)
        )
        self.gallery = Gallery() if config.gallery else None
        self.seconds = {"reid": 0.0, "teams": 0.0, "gallery": 0.0}
        self.warmup_frames = int(round(config.team_warmup_s * fps)) if config.teams else 0
        self.frames_seen = 0
        self._colour_sum: dict[int, np.ndarray] = {}  # fragment -> sum of jersey features
        self._colour_n: dict[int, int] = {}
        self._colour_min = 0  # jersey samples a fragment gathers every frame, so that its team can be told
        if config.teams:
            from hoopsense.identity.teams import TeamConfig

            self._colour_min = TeamConfig().min_samples
        self._sampled: dict[int, int] = {}  # fragment -> frame of its last appearance sample
        self._team_model: TeamModel | None = None
        self._fitted_at = -(10**9)
        self._warm = False
        self.refit_every = max(30, self.warmup_frames)
        self.teams: dict[int, Team] = {}  # identity -> its team, fixed when first released
        self.team_colours: dict[str, str] = {}  # "A"/"B" -> the colour of its first player, one for the game
        self.footing = Footing() if config.teams else None
        self.dropped_rows: dict[str, int] = {}  # side -> rows left out of the outputs
        self._written_unknown: set[int] = set()  # identities with rows written before their team was known
        self._frame = 0  # the latest frame observed
        self._released = -1  # the latest frame finalized (frames leave in order)
        self.released: dict[int, set[int]] = {}  # identity -> its fragments that reached the outputs

    @property
    def wants_full_frames(self) -> bool:
        """True when the stage looks at pixels (re-ID, jersey colours, thumbnails): it then needs the full-size
        frames, so that a run without a video identifies players (and shows them) as well as one with it."""
        return self.embedder is not None or self.config.teams or self.gallery is not None

    # ------------------------------------------------------------------ stream side
    def observe(self, frame: int, image: np.ndarray, scale: float, players: sv.Detections) -> sv.Detections:
        """Track IDs -> fragment IDs for one frame; ``image`` is BGR at ``scale`` x the frame size."""
        self.frames_seen += 1
        self._frame = frame
        out = players[np.ones(len(players), dtype=bool)]
        if len(players) == 0:
            return out
        fragments = self.linker.observe(frame, players.tracker_id)
        out.tracker_id = fragments
        boxes = players.xyxy * scale
        if self.footing is not None:
            self.footing.add(fragments, players.xyxy, image.shape[0] / scale)
        due = np.array([self._due(int(f), frame) for f in fragments], dtype=bool)
        if due.any():
            self._sample(frame, image, boxes[due], fragments[due])
        if self.gallery is not None:
            t = time.perf_counter()
            conf = players.confidence if players.confidence is not None else np.ones(len(players))
            self.gallery.offer(frame, image, boxes, conf, fragments, scale)
            if frame % FORGET_EVERY == 0:
                # crops of fragments that never reached the outputs (tracks too short to keep) are let go
                self.gallery.forget([f for f in self.gallery.fragments if self._over(f)])
            self.seconds["gallery"] += time.perf_counter() - t
        if frame % FORGET_EVERY == 0:  # the boxes and samples of fragments gone for good
            if self.footing is not None:
                self.footing.forget([f for f in self.footing.seen if self._over(f)])
            self.linker.forget(self._gone_before())
        self.linker.decide(self.linker.ready())  # thumbnails join their identity in finalize()
        return out

    def holding(self, queued: int) -> bool:
        """True while the stream should hold frames back: teams not fitted yet and the warm-up not over."""
        if not self.config.teams or self._team_model is not None or self._warm:
            return False
        if queued <= self.warmup_frames:
            return True
        self._warm = True  # past the warm-up: release frames, with teams once they can be told apart
        self._maybe_fit(force=True)
        return False

    def finalize(self, players: sv.Detections, frame: int) -> sv.Detections:
        """Fragment IDs -> identities, with teams, for ``frame`` leaving the stream (a new object)."""
        n = len(players)
        self._released = max(self._released, frame)
        out = players[np.ones(n, dtype=bool)]
        fragments = np.asarray(players.tracker_id, dtype=np.int64)
        if self.config.linking and n:
            # decided together before any is read: a decision can hand another fragment's rows over
            while True:
                self.linker.decide([int(f) for f in fragments])
                moved = np.array([self.linker.fragment_at(int(f), frame) for f in fragments], dtype=np.int64)
                if np.array_equal(moved, fragments):
                    break
                fragments = moved
            self._hand_over_crops()
        identities = np.array([self._identity(int(f)) for f in fragments], dtype=np.int64)
        for fid, pid in zip(fragments, identities, strict=True):
            if self.gallery is not None:
                self.gallery.merge(int(fid), int(pid), upto=frame)
        out.tracker_id = identities
        out.data["track_id"] = fragments
        for fid, pid in zip(fragments, identities, strict=True):
            self.released.setdefault(int(pid), set()).add(int(fid))
        if self.config.teams:
            teams = [self._team_of(int(p)) for p in identities]
            out.data["team"] = np.array([t.name if t else "" for t in teams], dtype=object)
            self._written_unknown.update(int(p) for p, t in zip(identities, teams, strict=True) if t is None)
            dropped = self.config.dropped_sides
            if dropped and n:
                # left out: referees and the crowd, but never someone whose earlier rows were written (before the
                # teams were known), so that nobody is half in the outputs
                keep = np.array(
                    [t is None or t.name not in dropped or int(p) in self._written_unknown
                     for p, t in zip(identities, teams, strict=True)],
                    dtype=bool,
                )  # fmt: skip
                for t in (t for t, k in zip(teams, keep, strict=True) if not k):
                    self.dropped_rows[t.name] = self.dropped_rows.get(t.name, 0) + 1
                out = out[keep]
        return out

    def thumbnail_jpeg(self, identity: int) -> bytes | None:
        """The identity's gallery thumbnail as JPEG: its clearest crop that looks like him (not like a
        player his track drifted onto for a while), judged by the re-ID embedder when there is one."""
        if self.gallery is None:
            return None
        thumbs = self.gallery.thumbnails(identity)
        person = self.linker.identities.get(identity)
        look = person.look() if person is not None else None
        distances = None
        if self.embedder is not None and look is not None and len(thumbs) > 1:
            distances = np.array([self._distance_to(thumb.image, look) for thumb in thumbs])
        return self.gallery.jpeg(identity, distances)

    def _distance_to(self, crop: np.ndarray, look: np.ndarray) -> float:
        assert self.embedder is not None
        h, w = crop.shape[:2]
        embedding = self.embedder.embed(crop, np.array([[0.0, 0.0, float(w), float(h)]]))[0]
        return float(1.0 - float(np.dot(embedding, look)))

    # ------------------------------------------------------------------ summaries
    def team_of(self, identity: int) -> Team | None:
        return self.teams.get(identity)

    def summary(self) -> dict:
        """The identity section of ``run.json``."""
        counts: dict[str, int] = {}
        for team in self.teams.values():
            counts[team.name] = counts.get(team.name, 0) + 1
        return {
            "embedder": self.embedder.name if self.embedder is not None else None,
            "linking": self.config.linking,
            "link_distance": self.linker.config.max_distance,
            "fragments": sum(len(f) for f in self.released.values()),
            "identities": len(self.released),
            "linked_fragments": sum(len(f) - 1 for f in self.released.values()),
            "split_fragments": self.linker.splits,
            "swaps": self.linker.swaps,
            "split_distance": self.linker.config.split_distance,
            "swap_repair": self.linker.config.swap_margin is not None,
            "reclaims": self.linker.reclaims,
            "reclaim": self.linker.config.reclaim_margin is not None,
            "teams": self.config.teams,
            "team_counts": counts,
            "keep_referees": self.config.keep_referees,
            "keep_crowd": self.config.keep_crowd,
            "dropped_rows": dict(sorted(self.dropped_rows.items())),
        }

    # ------------------------------------------------------------------ helpers
    def _gone_before(self) -> int:
        """Fragments last seen before this frame are gone for good: more than ``FORGET_AFTER`` frames before the
        latest frame, and all their rows have left the stream (which holds frames back during the teams' warm-up),
        so each is released by now (its identity's side fixed) or never to be (a flicker too short to be written).
        A tracker that finds a track again after longer (a ``lost_buffer`` above ``FORGET_AFTER``) continues the
        fragment, which then samples its appearance afresh."""
        return min(self._frame - FORGET_AFTER, self._released + 1)

    def _over(self, fragment: int) -> bool:
        """True when the fragment is gone for good (:meth:`_gone_before`)."""
        return self.linker.fragments[fragment].last_frame < self._gone_before()

    def _due(self, fragment: int, frame: int) -> bool:
        if self.linker.needs_samples(fragment):
            return True
        if self._colour_min and self._colour_n.get(fragment, 0) < self._colour_min:
            return True  # too few jersey colours for a team yet (a fragment handed rows over by a reclaim)
        last = self._sampled.get(fragment)
        return last is None or frame - last >= self.config.sample_every

    def _sample(self, frame: int, image: np.ndarray, boxes: np.ndarray, fragments: np.ndarray) -> None:
        for fid in fragments:
            self._sampled[int(fid)] = frame
        if self.embedder is not None and self.config.linking:
            t = time.perf_counter()
            embeddings = self.embedder.embed(image, boxes)
            self.linker.add_samples(fragments, embeddings)
            self.seconds["reid"] += time.perf_counter() - t
        if self.config.teams:
            from hoopsense.identity.teams import jersey_features

            # a fragment's jersey colour is the mean of its first COLOUR_SAMPLES samples: more barely
            # moves it, and skipping them saves CPU the detector can use
            todo = np.array([self._colour_n.get(int(f), 0) < COLOUR_SAMPLES for f in fragments], dtype=bool)
            if todo.any():
                t = time.perf_counter()
                features = jersey_features(image, boxes[todo])
                for fid, feat in zip(fragments[todo], features, strict=True):
                    key = int(fid)
                    self._colour_sum[key] = self._colour_sum.get(key, 0) + feat.astype(np.float64)
                    self._colour_n[key] = self._colour_n.get(key, 0) + 1
                self.seconds["teams"] += time.perf_counter() - t
            self._maybe_fit(force=False)

    def _hand_over_crops(self) -> None:
        """Thumbnails follow the rows a reclaim handed from one fragment to another (before any of those rows is
        written: a fragment's crops join its identity only as its rows are written)."""
        for fragment, frame, to in self.linker.handovers:
            if self.gallery is not None:
                self.gallery.hand_over(fragment, frame, to)
        self.linker.handovers.clear()

    def _identity(self, fragment: int) -> int:
        if not self.config.linking:
            frag = self.linker.fragments[fragment]
            if frag.identity is None:  # without linking every fragment is a new identity
                self.linker.decide([fragment])  # no samples: no candidate, so a new identity
            return int(frag.identity)  # type: ignore[arg-type]
        return self.linker.identity_of(fragment)

    def _fragments_of(self, identity: int) -> list[int]:
        return list(self.linker.identities[identity].fragments)

    def _identity_colour(self, identity: int) -> tuple[np.ndarray, int] | None:
        return self._colour_of(self._fragments_of(identity))

    def _colour_of(self, fragments: Iterable[int]) -> tuple[np.ndarray, int] | None:
        """The mean jersey feature of one person's fragments, and the samples it is the mean of."""
        total, n = None, 0
        for fid in fragments:
            if fid in self._colour_sum:
                total = self._colour_sum[fid] if total is None else total + self._colour_sum[fid]
                n += self._colour_n[fid]
        if total is None or n == 0:
            return None
        return (total / n).astype(np.float32), n

    def _maybe_fit(self, *, force: bool) -> None:
        """Fit (or refit) the teams every ``refit_every`` frames once the warm-up is over (or when forced)."""
        if not (force or self._warm or self.frames_seen > self.warmup_frames):
            return
        if not force and self.frames_seen - self._fitted_at < self.refit_every:
            return
        from hoopsense.identity.teams import TeamModel

        t = time.perf_counter()
        people = [person.fragments for person in self.linker.identities.values()]
        if not self.config.linking:  # a fragment becomes an identity only when released: each is one person
            people += [[f] for f in self._colour_sum if self.linker.fragments[f].identity is None and not self._over(f)]
        feats, ns = [], []
        for fragments in people:
            got = self._colour_of(fragments)
            if got is not None:
                feats.append(got[0])
                ns.append(got[1])
        model = TeamModel.fit(np.stack(feats), np.asarray(ns)) if feats else None
        self._fitted_at = self.frames_seen
        if model is not None:
            self._team_model = model
        self.seconds["teams"] += time.perf_counter() - t

    def _team_of(self, identity: int) -> Team | None:
        team = self.teams.get(identity)
        if team is not None:
            return team
        if self._team_model is None:
            return None
        got = self._identity_colour(identity)
        if got is None:
            return None
        from hoopsense.identity.teams import Team

        team = self._team_model.assign(got[0], got[1])
        footing = self.footing
        if team.name == "other" and footing is not None and footing.foreground(self._fragments_of(identity)):
            team = Team("crowd", team.colour)  # not in a uniform, and never seen standing in view
        if team.name in ("A", "B"):  # refits move a team's mean a little: keep the colour the video started with
            team = Team(team.name, self.team_colours.setdefault(team.name, team.colour))
        self.teams[identity] = team
        return team
