"""Online linking of tracker fragments into one identity per person.

A *fragment* is a stretch of one tracker ID. When the tracker loses a player
(occlusion, exit, camera cut) and finds him again, he comes back as a new
fragment; the linker decides, from appearance alone, whether that fragment is
a person seen before (then it takes that person's identity) or somebody new.

* A fragment is decided once it has ``samples_to_decide`` appearance samples,
  or when the caller must release its first frame (:meth:`Linker.decide`),
  whichever comes first; the decision is final, so every output shows the
  same identity.
* Candidates are the identities *not visible* since the fragment appeared: two
  people visible in the same frame are never linked, and two fragments decided
  in the same frame never take the same identity.
* The distance of a fragment to an identity is the cosine distance between the
  fragment's mean embedding and the closest of the identity's stored
  embeddings (a gallery of up to ``gallery_size`` samples spread over time).
  The fragment links to the closest candidate when that distance is below
  ``max_distance`` and clearly below the next candidate's (``margin``).
* A tracker ID that reappears after its identity was given to another fragment
  (the tracker re-found a track that the linker had already retired) starts a
  new fragment, which is decided like any other.
* A decided fragment whose samples stop looking like its identity (the
  tracker moved its ID onto another player, as in a pick-and-roll) is split:
  once ``split_samples`` samples in a row lie farther than ``split_distance``
  from every stored embedding of the identity, the tracker ID continues as a
  new fragment holding those samples, decided like any other but never
  linked back to the identity it split from. The rows already written keep
  the old identity; the samples in between do not enter its gallery.
* Two tracker IDs swapped between two players (they were in contact, as in
  a screen) are given back (``swap_margin``, None: never): a sample of a
  decided fragment that looks more like another identity seen in the last
  ``swap_recent`` frames than like its own (by ``swap_margin``) is held out
  of its gallery, so that no gallery takes in the other player's look; once
  two fragments have each ``swap_samples`` such samples in a row, each like
  the other's identity, and the two identities' usual looks are at least
  half of ``max_distance`` apart (two fragments of one person, a doubled
  box, look like each other's identity half the time), each tracker ID
  continues from the next frame as a new fragment of the other's identity,
  with those samples (at most ``gallery_size`` of them). Requiring the two
  rows of likeness to begin together missed a swap back on the NBA clip
  (one of them began 45 frames before the other), so a player who has long
  looked like a teammate can be swapped with him on the teammate's first
  two odd samples. The rows already written keep the old identities. One
  track alone looking like someone else is not a swap (that is what
  ``split_distance`` handles).
* A player whose identity is still shown on another player takes it back
  (``reclaim_margin``, None: never). When the tracker loses a player, it can
  move his tracker ID onto someone near him; the player, back as a new
  fragment, then has no candidate: his identity is visible. If the new
  fragment's nearest identity of all is such a visible one (within
  ``max_distance``, and ``margin`` clear of the next), and the fragment now
  holding it looks less like that identity's usual look (the mean of all
  its samples, not its gallery, which may have taken in the other player's
  look since the drift) than the new fragment does, by ``reclaim_margin``,
  the new fragment takes the identity from its first frame on. The holding
  fragment's rows from that frame on (:meth:`Linker.fragment_at`), and its
  tracker ID from now on, go to a new fragment with its latest samples,
  decided like any other but never linked back to that identity, and the
  identity's gallery forgets the samples nearer that fragment's look than
  the new fragment's. Nothing is reclaimed from a fragment that still looks
  like its identity (one person boxed twice), or, with swap repair, while it
  and another look like each other's identities (a swap under way). The rows
  already written keep the old identity. The decision comes with the new
  fragment's, so a fragment too short to reach the outputs (the caller's
  ``min_track_frames``) can take an identity too: the drifted fragment then
  goes on as somebody else, which it is, and the identity waits unseen.

Memory over a whole game: each identity keeps at most ``gallery_size``
embeddings; a fragment keeps its samples while it is open, and
:meth:`Linker.forget` lets go of those of fragments gone for good (the caller
says which frames are behind it), so what grows with the game is a few
kilobytes of bookkeeping per fragment. Embeddings are copied in: a row
of the caller's batch must not keep the whole batch alive.

Pure bookkeeping on arrays: no images, no models.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hoopsense.errors import check_range


@dataclass(frozen=True)
class LinkerConfig:
    """How sure the linker must be.

    * ``max_distance``: largest cosine distance between a fragment and an
      identity to link them (it depends on the embedder: re-ID embeddings of
      one person are much closer than colour histograms are).
    * ``margin``: the best candidate must be closer than the second best by
      this much, otherwise the fragment becomes a new identity (two
      look-alikes are not guessed between).
    * ``samples_to_decide``: appearance samples a fragment gathers before it
      is decided (it is decided earlier when its first frame must be released).
    * ``gallery_size``: embeddings kept per identity.
    * ``split_distance``: a decided fragment whose ``split_samples`` latest
      samples in a row are all farther than this from its identity is split
      (None: never).
    * ``swap_margin``, ``swap_samples``, ``swap_recent``: swap repair (see the
      module docstring; ``swap_margin`` None: off).
    * ``reclaim_margin``: how much more a new fragment must look like a
      visible identity's usual look than the fragment holding it, to take it
      back (see the module docstring; None: never).
    """

    max_distance: float = 0.3
    margin: float = 0.03
    samples_to_decide: int = 5
    gallery_size: int = 32
    split_distance: float | None = None
    split_samples: int = 3
    swap_margin: float | None = None
    swap_samples: int = 2
    swap_recent: int = 15
    reclaim_margin: float | None = None

    def __post_init__(self) -> None:
        check_range(self, "max_distance", 0, 2)
        check_range(self, "margin", 0, 2)
        check_range(self, "samples_to_decide", 1, 1000)
        check_range(self, "gallery_size", 1, 100000)
        if self.split_distance is not None:
            check_range(self, "split_distance", 0, 2)
        check_range(self, "split_samples", 1, 1000)
        if self.swap_margin is not None:
            check_range(self, "swap_margin", 0, 2)
        check_range(self, "swap_samples", 1, 1000)
        check_range(self, "swap_recent", 0, 100000, "frames")
        if self.reclaim_margin is not None:
            check_range(self, "reclaim_margin", 0, 2)


RECENT_SAMPLES = 3  # samples of a decided fragment kept to tell whether it still looks like its identity


@dataclass(slots=True)
class Fragment:
    """One stretch of a tracker ID: its frames, appearance samples and (once decided) identity."""

    id: int
    tracker_id: int
    first_frame: int
    last_frame: int
    samples: list[np.ndarray] = field(default_factory=list)
    identity: int | None = None
    drift: list[np.ndarray] = field(default_factory=list)  # latest samples unlike its identity, in a row
    split_from: int | None = None  # the identity this fragment split from: never a candidate for it
    drift_held: list[bool] = field(default_factory=list)  # per drift sample: held out of the gallery (crossed)
    crossed: list[np.ndarray] = field(default_factory=list)  # latest samples nearer another visible identity
    crossed_to: int | None = None  # ... that identity
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT_SAMPLES))  # latest samples once decided
    handover: tuple[int, int] | None = None  # (frame, fragment): its rows from that frame on are that fragment's

    def mean(self) -> np.ndarray | None:
        return _mean(self.samples) if self.samples else None


@dataclass
class Identity:
    """A person: the fragments linked to him, his appearance gallery and when he was last visible."""

    id: int
    first_frame: int
    last_frame: int
    fragments: list[int] = field(default_factory=list)
    gallery: deque = field(default_factory=deque)
    samples: int = 0
    total: np.ndarray | None = None  # sum of every sample, each counted once

    def add(self, embedding: np.ndarray, size: int) -> None:
        self.samples += 1
        self.total = embedding.astype(np.float64) if self.total is None else self.total + embedding
        if len(self.gallery) >= size:
            # keep samples spread over time: drop every other old sample once full
            kept = list(self.gallery)[::2]
            self.gallery = deque(kept)
        self.gallery.append(np.asarray(embedding, dtype=np.float32))

    def forget_looks_like(self, other: np.ndarray, own: np.ndarray) -> None:
        """Drop the gallery samples nearer the look ``other`` than his own look ``own`` (those his track took of
        another player), from his usual look too; never all of them."""
        near_other = [float(e @ other) > float(e @ own) for e in self.gallery]
        if not any(near_other) or all(near_other):
            return
        for emb, drop in zip(self.gallery, near_other, strict=True):
            if drop and self.total is not None:
                self.total = self.total - emb
                self.samples -= 1
        self.gallery = deque(e for e, drop in zip(self.gallery, near_other, strict=True) if not drop)

    def look(self) -> np.ndarray | None:
        """The mean of all his samples (L2-normalised): how he looked most of the time."""
        if self.total is None:
            return None
        norm = float(np.linalg.norm(self.total))
        return (self.total / norm).astype(np.float32) if norm > 0 else None


def _mean(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """The L2-normalised mean of some embeddings."""
    m = np.mean(np.stack(list(embeddings)), axis=0)
    return m / max(float(np.linalg.norm(m)), 1e-12)


def _distance(person: Identity, emb: np.ndarray) -> float:
    """Cosine distance of an embedding to the closest of a person's stored embeddings."""
    return 1.0 - float(np.max(np.stack(person.gallery) @ emb))


def _apart(a: Identity, b: Identity) -> float:
    """Cosine distance between two people's usual looks (2 when either has none)."""
    la, lb = a.look(), b.look()
    return 2.0 if la is None or lb is None else 1.0 - float(la @ lb)


class Linker:
    """Turns tracker IDs into fragment IDs, and fragments into identities; see the module docstring."""

    def __init__(self, config: LinkerConfig | None = None) -> None:
        self.config = config or LinkerConfig()
        self.fragments: dict[int, Fragment] = {}
        self.identities: dict[int, Identity] = {}
        self._current: dict[int, int] = {}  # tracker ID -> its open fragment
        self._next_fragment = 1
        self._next_identity = 1
        self.linked = 0  # fragments that took an earlier identity
        self.splits = 0  # fragments split because their appearance changed
        self.reclaims = 0  # identities taken back from fragments that drifted off their person
        self.handovers: list[tuple[int, int, int]] = []  # (fragment, frame, fragment) not yet read by the caller
        self.swaps = 0  # pairs of tracker IDs found swapped between two people, and given back
        self._frame = -1
        self._live: set[int] = set()  # fragments that may hold samples: the recently seen ones

    # ------------------------------------------------------------------ per frame
    def observe(self, frame: int, tracker_ids: Sequence[int]) -> np.ndarray:
        """The fragment ID of each tracked box of ``frame`` (new fragments are opened as needed)."""
        self._frame = frame
        out = np.empty(len(tracker_ids), dtype=np.int64)
        for i, tid in enumerate(int(t) for t in tracker_ids):
            fid = self._current.get(tid)
            frag = self.fragments.get(fid) if fid is not None else None
            if frag is not None and frag.identity is not None and self._taken_by_other(frag):
                frag = None  # its identity moved on to another fragment while the tracker kept this ID
            if frag is None:
                frag = Fragment(self._next_fragment, tid, frame, frame)
                self._next_fragment += 1
                self._open(frag)
                self._current[tid] = frag.id
            frag.last_frame = frame
            self._live.add(frag.id)
            if frag.identity is not None:
                self.identities[frag.identity].last_frame = frame
            out[i] = frag.id
        return out

    def add_samples(self, fragment_ids: Sequence[int], embeddings: np.ndarray) -> None:
        """Appearance samples (rows of ``embeddings``, L2-normalised) of these fragments."""
        limit = self.config.split_distance
        for fid, emb in zip(fragment_ids, embeddings, strict=True):
            frag = self.fragments[int(fid)]
            current = self._current.get(frag.tracker_id)
            if current is not None and current != frag.id:  # split or swapped earlier in this call: the new one's
                frag = self.fragments[current]
            emb = np.array(emb, dtype=np.float32)  # a copy: a view would keep the caller's whole batch alive
            if frag.identity is None:
                frag.samples.append(emb)
                continue
            person = self.identities[frag.identity]
            frag.recent.append(emb)
            held = False
            if self.config.swap_margin is not None:
                held = self._crossed(frag, person, emb)
                if self._current.get(frag.tracker_id) != frag.id:
                    continue  # swapped: the sample went to the tracker ID's new fragment
            if limit is not None and person.gallery and _distance(person, emb) > limit:
                frag.drift.append(emb)
                frag.drift_held.append(held)
                if len(frag.drift) >= self.config.split_samples and self._current.get(frag.tracker_id) == frag.id:
                    self._split(frag)
                continue
            if not held:  # a passing occlusion, not another player: they were his after all
                for earlier, was_held in zip(frag.drift, frag.drift_held, strict=True):
                    if not was_held:
                        person.add(earlier, self.config.gallery_size)
                person.add(emb, self.config.gallery_size)
            frag.drift, frag.drift_held = [], []  # a near sample ends a row of far ones

    def ready(self) -> list[int]:
        """Undecided fragments with enough samples to be decided."""
        need = self.config.samples_to_decide
        live = (self.fragments[f] for f in sorted(self._live))
        return [f.id for f in live if f.identity is None and len(f.samples) >= need]

    def forget(self, before: int) -> None:
        """Let go of the samples of the fragments last seen before frame ``before`` (the caller's promise: their
        tracks are gone and none of their rows is still to be decided). A fragment seen again starts sampling
        anew."""
        for fid in [f for f in self._live if self.fragments[f].last_frame < before]:
            frag = self.fragments[fid]
            for kept in (frag.samples, frag.drift, frag.drift_held, frag.crossed, frag.recent):
                kept.clear()
            frag.crossed_to = None
            self._live.discard(fid)

    def needs_samples(self, fragment_id: int) -> bool:
        return self.fragments[int(fragment_id)].identity is None

    def decide(self, fragment_ids: Sequence[int]) -> None:
        """Give these fragments their identity now: the closest candidates first, then identities taken back
        from fragments that drifted off their person (``reclaim_margin``), then new identities."""
        todo = [self.fragments[int(f)] for f in fragment_ids if self.fragments[int(f)].identity is None]
        if not todo:
            return
        pairs: list[tuple[float, int, int]] = []  # (distance, fragment, identity) links allowed on their own
        for frag in todo:
            best = self._best_candidate(frag)
            if best is not None:
                pairs.append((best[1], frag.id, best[0]))
        taken: set[int] = set()
        for _, fid, pid in sorted(pairs):
            frag = self.fragments[fid]
            if frag.identity is not None or pid in taken:
                continue
            self._assign(frag, pid)
            taken.add(pid)
            self.linked += 1
        for frag in todo:
            holder = self._reclaim_holder(frag, taken) if frag.identity is None else None
            if holder is not None:
                assert holder.identity is not None
                taken.add(holder.identity)
                self._hand_over(frag, holder)
        for frag in todo:
            if frag.identity is None:
                self._assign(frag, self._new_identity(frag))

    def identity_of(self, fragment_id: int) -> int:
        """The identity of a decided fragment (decide it first)."""
        pid = self.fragments[int(fragment_id)].identity
        if pid is None:
            self.decide([fragment_id])
            pid = self.fragments[int(fragment_id)].identity
        assert pid is not None
        return pid

    def fragment_at(self, fragment_id: int, frame: int) -> int:
        """The fragment a row of ``frame`` tagged ``fragment_id`` belongs to (a reclaim hands a fragment's rows
        from a given frame on to a new fragment)."""
        frag = self.fragments[int(fragment_id)]
        while frag.handover is not None and frame >= frag.handover[0]:
            frag = self.fragments[frag.handover[1]]
        return frag.id

    # ------------------------------------------------------------------ helpers
    def _reclaim_holder(self, frag: Fragment, taken: set[int]) -> Fragment | None:
        """The current fragment of a visible identity that ``frag`` looks like when that fragment no longer does
        (the tracker moved the ID onto another player), or None (see :meth:`decide`)."""
        mean = frag.mean()
        margin = self.config.reclaim_margin
        if mean is None or margin is None:
            return None
        best = self._closest(mean, [p for p in self.identities.values() if p.gallery and p.id != frag.split_from])
        if best is None or best[0] in taken:
            return None
        pid = best[0]
        person = self.identities[pid]
        if person.last_frame < frag.first_frame:
            return None  # a candidate that was not linked (too far, or too near another): not this rule's case
        holder = self._holder(pid)
        if (
            self._current.get(holder.tracker_id) != holder.id
            or holder.first_frame >= frag.first_frame
            or len(holder.recent) < 2
        ):
            return None
        if holder.crossed_to is not None and self._holder(holder.crossed_to).crossed_to == pid:
            return None  # the two look like each other's identity: a swap under way, for swap repair
        # judged against his usual look (all his samples), not his gallery's nearest sample: since the drift his
        # gallery may hold the other player's look too
        usual = person.look()
        now = _mean(holder.recent)
        if usual is None or float(usual @ mean) - float(usual @ now) < margin:
            return None  # his track still looks as much like him: two people, or one person boxed twice
        return holder

    def _hand_over(self, frag: Fragment, holder: Fragment) -> None:
        """``frag`` takes ``holder``'s identity; ``holder``'s rows from ``frag``'s first frame on, and its tracker
        ID from now on, go to a new fragment holding its latest samples, never linked back to that identity."""
        pid = holder.identity
        assert pid is not None
        own, other = frag.mean(), _mean(holder.recent)
        if own is not None:
            self.identities[pid].forget_looks_like(other, own)
        rest = Fragment(
            self._next_fragment, holder.tracker_id, frag.first_frame, holder.last_frame,
            samples=list(holder.recent), split_from=pid,
        )  # fmt: skip
        self._next_fragment += 1
        holder.handover = (frag.first_frame, rest.id)
        self.handovers.append((holder.id, frag.first_frame, rest.id))
        holder.recent.clear()
        holder.drift, holder.drift_held, holder.crossed, holder.crossed_to = [], [], [], None
        self._open(rest)
        self._current[holder.tracker_id] = rest.id
        self._assign(frag, pid)
        self.reclaims += 1

    def _taken_by_other(self, frag: Fragment) -> bool:
        """True when ``frag``'s identity was given to a later fragment of another tracker ID."""
        assert frag.identity is not None
        last = self.identities[frag.identity].fragments[-1]
        return last != frag.id

    def _split(self, frag: Fragment) -> None:
        """Close ``frag``: its tracker ID continues from the next frame as a new fragment holding the drifted
        samples."""
        new = Fragment(
            self._next_fragment, frag.tracker_id, frag.last_frame + 1, frag.last_frame,
            samples=frag.drift, split_from=frag.identity,
        )  # fmt: skip
        self._next_fragment += 1
        frag.drift, frag.drift_held = [], []
        self._open(new)
        self._current[frag.tracker_id] = new.id
        self.splits += 1

    def _crossed(self, frag: Fragment, person: Identity, emb: np.ndarray) -> bool:
        """Whether ``emb`` is to be held back from ``person``'s gallery (``frag``'s identity): it looks more like
        another visible identity, and the other player's look must never enter it. Gives two fragments their
        identities back once each looks like the other's (``emb`` then goes to the new fragment)."""
        margin = self.config.swap_margin
        assert margin is not None
        if not person.gallery:
            return False
        best, nearest = None, _distance(person, emb) - margin
        for other in self.identities.values():
            if other.id == person.id or not other.gallery or other.last_frame < self._frame - self.config.swap_recent:
                continue
            d = _distance(other, emb)
            if d < nearest:
                best, nearest = other.id, d
        if best is None or best != frag.crossed_to:
            frag.crossed, frag.crossed_to = [], best
            if best is None:
                return False
        frag.crossed = [*frag.crossed[-(self.config.gallery_size - 1) :], emb]  # bounded: the latest ones
        partner = self._swap_partner(frag)
        if partner is not None:
            self._swap(frag, partner)
        return True

    def _swap_partner(self, frag: Fragment) -> Fragment | None:
        """The current fragment of the identity ``frag`` looks like, when it looks like ``frag``'s identity in turn
        (each with ``swap_samples`` samples in a row)."""
        need = self.config.swap_samples
        if len(frag.crossed) < need or frag.crossed_to is None:
            return None
        partner = self._holder(frag.crossed_to)
        if (
            partner.crossed_to == frag.identity
            and len(partner.crossed) >= need
            # two fragments of one person (a doubled box) look like each other's identity half the time
            and _apart(self.identities[frag.identity], self.identities[frag.crossed_to]) >= self.config.max_distance / 2
            and self._current.get(partner.tracker_id) == partner.id
            and self._current.get(frag.tracker_id) == frag.id
        ):
            return partner
        return None

    def _swap(self, a: Fragment, b: Fragment) -> None:
        """Close ``a`` and ``b`` and continue each tracker ID as a new fragment of the other's identity, with the
        samples that showed the swap."""
        pa, pb = a.identity, b.identity
        assert pa is not None and pb is not None
        for frag, identity in ((a, pb), (b, pa)):
            new = Fragment(self._next_fragment, frag.tracker_id, self._frame + 1, self._frame, samples=frag.crossed)
            self._next_fragment += 1
            frag.crossed, frag.crossed_to, frag.drift, frag.drift_held = [], None, [], []
            self._open(new)
            self._current[frag.tracker_id] = new.id
            self._assign(new, identity)
        self.swaps += 1

    def _candidates(self, frag: Fragment) -> list[Identity]:
        return [
            p
            for p in self.identities.values()
            if p.last_frame < frag.first_frame and p.gallery and p.id != frag.split_from
        ]

    def _best_candidate(self, frag: Fragment) -> tuple[int, float] | None:
        mean = frag.mean()
        return None if mean is None else self._closest(mean, self._candidates(frag))

    def _closest(self, mean: np.ndarray, people: list[Identity]) -> tuple[int, float] | None:
        """The person of ``people`` nearest ``mean`` and his distance, when within ``max_distance`` and clearly
        nearer than the next (``margin``); else None."""
        scored = sorted((_distance(person, mean), person.id) for person in people)
        if not scored:
            return None
        distance, pid = scored[0]
        if distance > self.config.max_distance:
            return None
        if len(scored) > 1 and scored[1][0] - distance < self.config.margin:
            return None
        return pid, distance

    def _holder(self, identity: int) -> Fragment:
        """The latest fragment given ``identity``."""
        return self.fragments[self.identities[identity].fragments[-1]]

    def _open(self, frag: Fragment) -> None:
        self.fragments[frag.id] = frag
        self._live.add(frag.id)

    def _new_identity(self, frag: Fragment) -> int:
        pid = self._next_identity
        self._next_identity += 1
        self.identities[pid] = Identity(pid, frag.first_frame, frag.last_frame)
        return pid

    def _assign(self, frag: Fragment, pid: int) -> None:
        person = self.identities[pid]
        frag.identity = pid
        person.fragments.append(frag.id)
        person.last_frame = max(person.last_frame, frag.last_frame)
        person.first_frame = min(person.first_frame, frag.first_frame)
        for emb in frag.samples:
            person.add(emb, self.config.gallery_size)
        frag.samples = []
