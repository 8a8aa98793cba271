"""The player gallery: each identity's clearest crop, so a coach can tell who ``#7`` is.

A crop's quality favours large, sharp, unoccluded and uncut views of a
confidently detected person: box height (capped), detector confidence, the
sharpness of the crop (variance of its Laplacian), a penalty when another
person's box overlaps it and when it touches the frame border.

A track can drift onto another player for a while (two players in contact
trade tracker IDs), and that player's clearest view may be the clearest of
the identity. So each fragment keeps its best crops from up to ``KEEP``
different moments (``BUCKET_FRAMES`` apart), as small thumbnails; a
fragment's crops join its identity's once it is decided; and the thumbnail
shown is the clearest of the crops that look like the identity most of the
time (:meth:`Gallery.choose`, given their distances to the identity's mean
appearance). Memory is bounded by ``KEEP`` thumbnails per identity (plus
those of the fragments not written yet; the identity stage drops the crops of
fragments too short to be written), each kept as the JPEG that is written
(``JPEG_QUALITY``): a ninth of its pixels' memory on the shared clips, which
counts over a game of hundreds of identities (encoding the crops that are
kept costs about 0.15 ms a frame of the 1080p gym clip).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import supervision as sv

THUMB_HEIGHT = 192  # pixels; thumbnails keep the box's aspect ratio
KEEP = 6  # thumbnails kept per fragment and per identity, each from another moment
BUCKET_FRAMES = 30  # frames of one moment
LOOK_SLACK = 0.1  # a crop this much farther from the identity's look than the closest still counts as him
JPEG_QUALITY = 90


@dataclass
class Thumbnail:
    score: float
    frame: int
    jpeg: bytes  # the crop, THUMB_HEIGHT high, as written

    @classmethod
    def of(cls, score: float, frame: int, image: np.ndarray) -> Thumbnail:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            raise ValueError("could not encode a thumbnail")
        return cls(score, frame, data.tobytes())

    @property
    def image(self) -> np.ndarray:
        """The crop (BGR uint8), decoded from its JPEG."""
        return cv2.imdecode(np.frombuffer(self.jpeg, np.uint8), cv2.IMREAD_COLOR)


def crop_quality(image: np.ndarray, boxes: np.ndarray, confidence: np.ndarray, scale: float) -> np.ndarray:
    """Quality of each box of ``image`` (boxes in that image's pixels; ``scale`` = image px per frame px)."""
    n = len(boxes)
    if n == 0:
        return np.zeros(0)
    h_img, w_img = image.shape[:2]
    heights = (boxes[:, 3] - boxes[:, 1]) / max(scale, 1e-6)
    iou = sv.box_iou_batch(boxes, boxes) if n > 1 else np.zeros((1, 1))
    np.fill_diagonal(iou, 0)
    overlap = iou.max(axis=1) if n > 1 else np.zeros(1)
    edge = (boxes[:, 0] <= 1) | (boxes[:, 1] <= 1) | (boxes[:, 2] >= w_img - 1) | (boxes[:, 3] >= h_img - 1)
    score = np.minimum(heights, 300.0) * np.clip(confidence, 0.05, 1.0)
    score = score * np.where(overlap > 0.02, 0.3, 1.0) * np.where(edge, 0.5, 1.0)
    return score


def sharpness(crop: np.ndarray) -> float:
    """0.5-1: how sharp a crop is (variance of the Laplacian of its grey image, saturating)."""
    if crop.size == 0:
        return 0.5
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    return 0.5 + 0.5 * min(1.0, float(cv2.Laplacian(grey, cv2.CV_64F).var()) / 200.0)


def cut_thumbnail(image: np.ndarray, box: np.ndarray) -> np.ndarray | None:
    h_img, w_img = image.shape[:2]
    x1, y1 = max(0, int(box[0])), max(0, int(box[1]))
    x2, y2 = min(w_img, int(np.ceil(box[2]))), min(h_img, int(np.ceil(box[3])))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return None
    crop = image[y1:y2, x1:x2]
    width = max(1, int(round(crop.shape[1] * THUMB_HEIGHT / crop.shape[0])))
    k = crop.shape[0] // THUMB_HEIGHT
    if k >= 2 and crop.shape[1] >= 2 * k:
        # averaging k x k blocks first takes OpenCV's fast whole-factor path: a tall crop of a 1080p frame
        # costs about a third less, with the same area averaging
        h, w = crop.shape[0] // k * k, crop.shape[1] // k * k
        crop = cv2.resize(crop[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)
    interpolation = cv2.INTER_AREA if crop.shape[0] > THUMB_HEIGHT else cv2.INTER_CUBIC
    return cv2.resize(crop, (width, THUMB_HEIGHT), interpolation=interpolation)


def _kept(thumbs: list[Thumbnail], new: Thumbnail) -> list[Thumbnail] | None:
    """``thumbs`` with ``new`` in it (best per moment, the ``KEEP`` best moments), or None when it changes nothing."""
    if not _would_keep(thumbs, new.frame, new.score):
        return None
    moment = new.frame // BUCKET_FRAMES
    return sorted([t for t in thumbs if t.frame // BUCKET_FRAMES != moment] + [new], key=lambda t: -t.score)[:KEEP]


def _would_keep(thumbs: list[Thumbnail], frame: int, score: float) -> bool:
    """Whether a crop of ``frame`` with ``score`` would join ``thumbs`` (kept clearest first)."""
    moment = frame // BUCKET_FRAMES
    same = [t for t in thumbs if t.frame // BUCKET_FRAMES == moment]
    if same:
        return score > same[0].score
    return len(thumbs) < KEEP or score > thumbs[-1].score


def _join(lists: dict[int, list[Thumbnail]], key: int, thumbs: Iterable[Thumbnail]) -> None:
    """``thumbs`` compete for ``lists[key]`` (best per moment, the ``KEEP`` best moments)."""
    kept = lists.get(int(key), [])
    for thumb in thumbs:
        kept = _kept(kept, thumb) or kept
    if kept:
        lists[int(key)] = kept


class Gallery:
    """Best thumbnails per fragment, then per identity."""

    def __init__(self) -> None:
        self.fragments: dict[int, list[Thumbnail]] = {}
        self.identities: dict[int, list[Thumbnail]] = {}

    def offer(
        self, frame: int, image: np.ndarray, boxes: np.ndarray, confidence: np.ndarray, fragments: np.ndarray,
        scale: float,
    ) -> None:  # fmt: skip
        """Consider the boxes of one frame (in ``image``'s pixels) as thumbnails of their fragments."""
        scores = crop_quality(image, boxes, confidence, scale)
        for box, score, fid in zip(boxes, scores, fragments, strict=True):
            kept = self.fragments.get(int(fid), [])
            if not _would_keep(kept, frame, float(score)):  # sharpness can only lower a score: skip the crop
                continue
            thumb = cut_thumbnail(image, box)
            if thumb is None:
                continue
            score = float(score) * sharpness(thumb)
            if not _would_keep(kept, frame, score):
                continue  # encoded only when kept
            now = _kept(kept, Thumbnail.of(score, frame, thumb))
            if now is not None:
                self.fragments[int(fid)] = now

    def merge(self, fragment: int, identity: int, upto: int | None = None) -> None:
        """A decided fragment's crops (those of frames up to ``upto``: its rows written so far) compete for its
        identity's; later ones wait, as a reclaim can still hand them over with their rows."""
        taken = self._take(fragment, lambda t: upto is None or t.frame <= upto)
        _join(self.identities, identity, taken)

    def hand_over(self, fragment: int, frame: int, to: int) -> None:
        """``fragment``'s crops from ``frame`` on become ``to``'s (its rows from then on are ``to``'s)."""
        _join(self.fragments, to, self._take(fragment, lambda t: t.frame >= frame))

    def _take(self, fragment: int, which: Callable[[Thumbnail], bool]) -> list[Thumbnail]:
        """Take ``fragment``'s crops for which ``which`` holds out of it; the others stay."""
        thumbs = self.fragments.pop(int(fragment), [])
        stay = [t for t in thumbs if not which(t)]
        if stay:
            self.fragments[int(fragment)] = stay
        return [t for t in thumbs if which(t)]

    def forget(self, fragments: Iterable[int]) -> None:
        """Drop the crops of fragments that will never join an identity (their rows were never written)."""
        for fid in list(fragments):
            self.fragments.pop(int(fid), None)

    def thumbnails(self, identity: int) -> list[Thumbnail]:
        """The identity's kept crops, clearest first."""
        return list(self.identities.get(identity, []))

    def choose(self, identity: int, distances: np.ndarray | None = None) -> Thumbnail | None:
        """The thumbnail to show: the clearest crop, among those within ``LOOK_SLACK`` of the smallest of
        ``distances`` (each crop's appearance distance to the identity's usual look, in
        :meth:`thumbnails` order) when they are given."""
        thumbs = self.thumbnails(identity)
        if not thumbs:
            return None
        if distances is None or len(distances) != len(thumbs) or not np.all(np.isfinite(distances)):
            return thumbs[0]
        near = float(np.min(distances)) + LOOK_SLACK
        return next(t for t, d in zip(thumbs, distances, strict=True) if d <= near)

    def jpeg(self, identity: int, distances: np.ndarray | None = None) -> bytes | None:
        thumb = self.choose(identity, distances)
        return None if thumb is None else thumb.jpeg
