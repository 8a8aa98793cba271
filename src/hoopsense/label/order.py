"""Which clip to label next: a motion descriptor per clip, clusters of them, and an order that covers them.

Plain least-confident-first fails a labeller twice. At the start the model has
seen a handful of clips and its confidences are noise; later it piles every
question onto the one class it has not learned (measured on the synthetic
motion set: 13 of 16 picks from one class, and no fewer labels needed than
labelling in order). Both are cured by spreading the questions over the kinds
of clips there are:

* every clip gets a model-free motion descriptor (:func:`motion_descriptor`: a
  histogram of optical-flow directions, the classic HOF of action recognition);
* the descriptors are clustered (k-means, :func:`cluster`), and each clip is
  scored by how typical it is of its cluster;
* :func:`label_order` then deals the next questions out over the clusters in
  proportion to the square root of each cluster's size times the model's mean
  uncertainty on it, discounted by the labels the cluster already has
  (Sainte-Lague's divisors). The square root sits between proportional and
  equal shares: most clips of a game are one kind (players running), and a
  share by size gave that kind 15 of the first 16 questions. Within a cluster the least
  confident clip comes first; without a model (``uncertainty=None``) the most
  typical one does, which is the labeller's "varied first" order for a folder
  nobody has labelled yet.

The descriptors of a folder are cached in it (:data:`CACHE`, one file, each
clip stamped with its size and modification time), so the labeller computes
only new or changed clips when it is launched again: about 10 ms a clip, some
minutes for a season's clips.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from hoopsense.errors import HoopsenseError, OutputError
from hoopsense.outputs import atomic_write
from hoopsense.video import read_frames

log = logging.getLogger(__name__)

FLOW_SIZE = 48  # frames are shrunk to this square before the optical flow: motion, not detail
DIRECTIONS = 8
STILL_PX = 0.25  # flow below this many pixels (at FLOW_SIZE) counts as no motion
MAX_FRAMES = 16
DESCRIPTOR_SIZE = (DIRECTIONS + 1) * 4 * 2  # (directions + still) x 2x2 cells x 2 halves of the clip
DESCRIPTOR_VERSION = 1  # raise it when motion_descriptor changes: caches of another version are ignored
CACHE = ".motion-descriptors.npz"  # in the clip folder
SAVE_EVERY = 500  # newly computed descriptors between saves of the cache (an interrupted run keeps them)


def motion_descriptor(frames: np.ndarray) -> np.ndarray:
    """A clip's motion as a float32 vector of :data:`DESCRIPTOR_SIZE` (unit length).

    ``frames``: RGB uint8 ``(T, H, W, 3)``, T >= 1. For each pair of consecutive
    frames (at most :data:`MAX_FRAMES`, evenly spread), Farneback optical flow at
    48x48; each pixel votes, with its flow's length, for one of 8 directions (bins
    centred on right, down-right, down, ...), or
    for "still" when it moves less than a quarter pixel. The votes are summed in
    2x2 spatial cells over each half of the clip, each cell normalised to a
    distribution, and square-rooted (so Euclidean distance is the Hellinger one).
    A one-frame clip is all still.
    """
    if frames.ndim != 4 or frames.shape[0] < 1 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), MAX_FRAMES)).round().astype(int))
    grey = [cv2.resize(cv2.cvtColor(frames[i], cv2.COLOR_RGB2GRAY), (FLOW_SIZE, FLOW_SIZE)) for i in picks]
    half = FLOW_SIZE // 2
    cell = (np.arange(FLOW_SIZE)[:, None] >= half) * 2 + (np.arange(FLOW_SIZE)[None, :] >= half)  # 0..3
    bins = DIRECTIONS + 1
    votes = np.zeros((2, 4, bins), np.float64)
    pairs = max(1, len(grey) - 1)
    if len(grey) == 1:
        votes[:, :, DIRECTIONS] = 1.0
    for t in range(len(grey) - 1):
        flow = cv2.calcOpticalFlowFarneback(grey[t], grey[t + 1], None, 0.5, 2, 9, 3, 5, 1.1, 0)
        length = np.hypot(flow[..., 0], flow[..., 1])
        angle = np.arctan2(flow[..., 1], flow[..., 0])  # image y points down
        direction = np.round(angle / (2 * np.pi) * DIRECTIONS).astype(int) % DIRECTIONS  # 0: right, 2: down
        moving = length >= STILL_PX
        slot = cell * bins + np.where(moving, direction, DIRECTIONS)
        weight = np.where(moving, length, STILL_PX)
        votes[min(1, 2 * t // pairs)] += np.bincount(slot.ravel(), weight.ravel(), 4 * bins).reshape(4, bins)
    votes /= np.maximum(votes.sum(axis=2, keepdims=True), 1e-12)
    if not votes[1].any():  # a two-frame clip has one pair: both halves are that pair
        votes[1] = votes[0]
    out = np.sqrt(votes).ravel()
    return (out / max(float(np.linalg.norm(out)), 1e-12)).astype(np.float32)


def cluster_count(n: int) -> int:
    """Clusters for ``n`` clips: about the square root, from 2 to 64 (13 for 160 clips, 64 from 4,096)."""
    return int(min(64, max(2, round(np.sqrt(n))))) if n > 1 else 1


def cluster(descriptors: np.ndarray, k: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(cluster id per clip, typicality per clip)``: k-means on the descriptors (k from :func:`cluster_count`).

    Typicality is ``1 / (1 + d / median d)`` with ``d`` the distance to the clip's
    cluster centre: 1 at the centre, falling for the cluster's odd ones out.
    """
    from sklearn.cluster import KMeans

    n = len(descriptors)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    k = min(len(np.unique(descriptors, axis=0)), k or cluster_count(n))  # copies of one clip are one point
    if k <= 1:
        ids = np.zeros(n, np.int64)
        centres = descriptors.mean(axis=0, keepdims=True)
    else:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(descriptors)
        ids = model.labels_.astype(np.int64)
        centres = model.cluster_centers_
    d = np.linalg.norm(descriptors - centres[ids], axis=1)
    scale = float(np.median(d)) or 1.0
    return ids, 1.0 / (1.0 + d / scale)


def label_order(
    clusters: np.ndarray,
    typicality: np.ndarray,
    labelled: np.ndarray,
    uncertainty: np.ndarray | None = None,
) -> np.ndarray:
    """Indices of the unlabelled clips in the order to label them.

    ``clusters``/``typicality`` from :func:`cluster`; ``labelled``: bool per clip;
    ``uncertainty`` (optional): per clip, ``1 - top-class probability`` of the
    current model, NaN where it has no guess yet. Each next clip comes from the
    cluster with the largest ``sqrt(size) x mean uncertainty / (1 + 2 x (labels
    given + picks so far))`` (Sainte-Lague's divisors): the most
    uncertain clip of it when a model is given (then the most typical), else its
    most typical clip. Clips with no guess come last in their cluster and do not
    count in its mean.
    """
    clusters = np.asarray(clusters, np.int64)
    labelled = np.asarray(labelled, bool)
    n = len(clusters)
    if not (len(typicality) == len(labelled) == n) or (uncertainty is not None and len(uncertainty) != n):
        raise ValueError("clusters, typicality, labelled and uncertainty must have one entry per clip")
    if n == 0:
        return np.zeros(0, np.int64)
    k = int(clusters.max()) + 1
    size = np.bincount(clusters, minlength=k).astype(np.float64)
    given = np.bincount(clusters[labelled], minlength=k).astype(np.float64)
    todo = np.flatnonzero(~labelled)
    weight = np.sqrt(size)  # times the mean uncertainty when there is a model
    if uncertainty is None:
        keys = (-np.asarray(typicality)[todo],)
    else:
        u = np.asarray(uncertainty, np.float64)
        known = ~np.isnan(u)
        total = np.bincount(clusters[known], weights=u[known], minlength=k)
        count = np.bincount(clusters[known], minlength=k)
        mean = np.divide(total, count, out=np.full(k, np.nanmean(u) if known.any() else 1.0), where=count > 0)
        weight *= np.maximum(mean, 1e-3)
        keys = (-np.asarray(typicality)[todo], -np.nan_to_num(u[todo], nan=-1.0))  # lexsort: last key first
    ranked = todo[np.lexsort((*keys, clusters[todo]))]  # by cluster, then within it in picking order
    starts = np.searchsorted(clusters[ranked], np.arange(k + 1))
    head = starts[:-1].copy()  # each cluster's next clip in ``ranked``; head - start is its picks so far
    score = np.where(head < starts[1:], weight / (1.0 + 2.0 * given), -np.inf)
    out = np.empty(len(todo), np.int64)
    for j in range(len(todo)):
        c = int(np.argmax(score))  # ties: the lowest cluster id
        out[j] = ranked[head[c]]
        head[c] += 1
        picks = given[c] + head[c] - starts[c]
        score[c] = weight[c] / (1.0 + 2.0 * picks) if head[c] < starts[c + 1] else -np.inf
    return out


class Coverage:
    """The motion descriptors and clusters of a folder's clips, computed once by a daemon thread (:meth:`start`).

    The labeller's "varied first" and "least confident first" orders need all of
    them; until then (about 10 ms a clip) the page keeps its plain orders. A clip
    that cannot be decoded gets a descriptor of no motion.
    """

    def __init__(self, clips: Sequence[str], paths: dict[str, Path], cache: Path | None = None) -> None:
        self.clips = list(clips)
        self._paths = paths
        self.cache = cache  # the descriptor cache file (None: no cache)
        self.computed = 0  # descriptors computed by this run (the others came from the cache)
        self.done = 0
        self.clusters: np.ndarray | None = None
        self.typicality: np.ndarray | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def total(self) -> int:
        return len(self.clips)

    @property
    def ready(self) -> bool:
        return self.clusters is not None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="hoopsense-coverage", daemon=True)
        self._thread.start()

    def stop(self, wait_s: float = 5.0) -> None:
        """Stop computing, and wait (up to ``wait_s``) for the thread to save what it computed."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(wait_s)

    def run(self) -> None:
        """Compute everything in this thread (:meth:`start` runs it in the background)."""
        out = np.empty((len(self.clips), DESCRIPTOR_SIZE), np.float32)
        wanted = set(self.clips)  # clips gone from the folder leave the cache at its next save
        known = {c: v for c, v in load_descriptors(self.cache).items() if c in wanted} if self.cache is not None else {}
        for i, clip in enumerate(self.clips):
            if self._stop.is_set():
                break
            path = self._paths[clip]
            stamp = _stamp(path)
            hit = known.get(clip)
            if hit is not None and stamp is not None and hit[0] == stamp:
                out[i] = hit[1]
            else:
                try:
                    out[i] = motion_descriptor(read_frames(path, max_frames=256))
                    if stamp is not None:
                        known[clip] = (stamp, out[i].copy())
                except HoopsenseError as exc:  # not cached: tried again at the next launch
                    log.warning("clip %s counts as still in the varied order: %s", clip, exc)
                    out[i] = motion_descriptor(np.zeros((1, 8, 8, 3), np.uint8))
                self.computed += 1
                if self.cache is not None and self.computed % SAVE_EVERY == 0:
                    save_descriptors(self.cache, known)
            self.done = i + 1
        if self.cache is not None and self.computed:
            save_descriptors(self.cache, known)
        if self._stop.is_set():
            return
        clusters, self.typicality = cluster(out)
        self.clusters = clusters  # last: it marks the order ready

    def order(self, labelled: np.ndarray, uncertainty: np.ndarray | None = None) -> np.ndarray | None:
        """:func:`label_order` over the folder's clips, or None while the clusters are not ready."""
        clusters, typicality = self.clusters, self.typicality
        if clusters is None or typicality is None:
            return None
        return label_order(clusters, typicality, labelled, uncertainty)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


def load_descriptors(cache: Path) -> dict[str, tuple[tuple[int, int], np.ndarray]]:
    """``{clip: ((size, mtime_ns), descriptor)}`` from a cache file; empty when it is absent, unreadable or
    of another descriptor version."""
    try:
        with np.load(cache, allow_pickle=False) as doc:
            if int(doc["version"]) != DESCRIPTOR_VERSION:
                return {}
            names, stamps, descriptors = doc["names"], doc["stamps"], doc["descriptors"]
            if (
                descriptors.ndim != 2
                or descriptors.shape[1] != DESCRIPTOR_SIZE
                or names.ndim != 1
                or stamps.shape != (len(names), 2)
                or len(descriptors) != len(names)
            ):
                return {}
            return {
                str(n): ((int(s[0]), int(s[1])), d.astype(np.float32))
                for n, s, d in zip(names, stamps, descriptors, strict=True)
            }
    except Exception:  # a damaged cache (truncated zip, wrong shapes or types) is computed again, never fatal
        return {}


def save_descriptors(cache: Path, known: dict[str, tuple[tuple[int, int], np.ndarray]]) -> bool:
    """Write the cache atomically; False (and a warning) when it cannot be written: the descriptors are then
    computed again at the next launch."""
    names = sorted(known)
    try:
        with atomic_write(cache, "wb", encoding=None) as fh:
            np.savez(
                fh,
                version=np.int64(DESCRIPTOR_VERSION),
                names=np.array(names, dtype=str),
                stamps=np.array([known[n][0] for n in names], dtype=np.int64).reshape(-1, 2),
                descriptors=np.array([known[n][1] for n in names], dtype=np.float32).reshape(-1, DESCRIPTOR_SIZE),
            )
    except (OSError, OutputError) as exc:
        log.warning("could not save the motion descriptors to %s: %s", cache, exc)
        return False
    return True
