"""Teams and referees by unsupervised clustering of jersey appearance.

Per game, every identity gets team ``"A"`` or ``"B"`` (with the team's
representative jersey colour), ``"referee"`` or ``"other"``, without labels.
The caller accumulates, per identity, the mean of the per-frame
:func:`jersey_features` over the frames it was seen, and asks
:func:`assign_teams` (or a fitted :class:`TeamModel`) for assignments.

Method
------
* **Feature** (:func:`jersey_features`, ``N_FEATURES = 8`` values a box): the
  main CIE Lab colour (L 0-100, a and b about -128..127) of the *shirt*
  region (the central 40 % of the box width, 18-45 % of its height: below the
  head, above the shorts) and of the *shorts / trousers* region (central
  40 %, 50-62 % of the height), then two texture values of the shirt region:
  a vertical-stripe energy (mean horizontal lightness change minus the
  vertical one, so that noise and folds, which change lightness both ways,
  cancel) and the fraction of dark pixels (L < 30). Floor and background
  pixels are dropped from the shirt region when they match the colour of the
  box's side strips (which are mostly floor), and the "main colour" is the
  densest colour of the region (mean-shift from the densest of a few seed
  colours), not a blend with skin, numbers and lettering. The caller's mean
  over frames of these rows stays meaningful (plain numbers, no histograms of
  per-frame clusters).
* **Distance**: Euclidean in an embedding of the feature: lightness weighted
  0.5 against hue and chroma (shadow and light move L most), chroma
  compressed logarithmically (a saturated jersey's chroma grows with the
  light; its hue does not), the shorts / trousers colour at half the weight
  of the shirt, and the stripe energy as a colour difference.
* **Groups**: identities seen at least ``min_samples`` frames are grouped by
  average-linkage agglomerative clustering cut at ``merge_distance``, so the
  number of groups comes from the data (two teams, maybe referees, maybe
  crowd or staff). Deterministic: nothing random anywhere.
* **Teams**: the groups with the most frames seen in total (a team's players
  are on screen most), each with at least ``min_team_size`` identities and
  the second at least ``min_separation`` from the first; a small group that
  looks like referees is taken as a team only when nothing else qualifies.
  When no second team qualifies (too few identities, or everybody in similar
  colours, as in a gym warm-up), :meth:`TeamModel.fit` returns ``None`` and
  :func:`assign_teams` calls everybody ``"other"``. Naming is stable: ``"A"``
  is the team with the lighter shirt (higher L), ``"B"`` the darker one.
* **Referees**: among the other groups, the one seen most that has at most
  ``max_referees`` identities (a game has three or four), is at least
  ``min_separation`` from both teams and looks like a referee's uniform: a
  striped shirt, or a shirt with little colour clearly lighter than dark
  trousers (NBA grey shirts, whose stripes are too thin to see at broadcast
  resolution; players' shorts match their shirts). Without such a group
  nobody is a referee; referees in a plain strong colour are ``"other"``.
* **Other**: the remaining groups of at least two identities at least
  ``merge_distance`` from the teams and the referees are kept as known
  "other" looks (crowd, coaches, staff, identities mixed up by the tracker),
  nearer ones count as part of the nearest team (the same jersey in other
  light). A look seen on one identity only is not a group of its own: that
  identity (a player in a shadow, a coach) is judged by ``max_distance``
  alone, so no identity is "other" just for looking like itself.
* **Assignment** (:meth:`TeamModel.assign`): the nearest group mean; ``"other"``
  when that is an "other" group, when it is farther than ``max_distance``,
  when the identity was seen fewer than ``min_samples`` frames, or when it is
  nearest to the referees without looking like one itself.

Limits: colours alone cannot tell a fan in a team's jersey from a player, or a
coach in a navy suit from a team in black; a team whose players are seen in
very different light (more than about +-15 % in pixel values on average) can
be split, its darker part becoming ``"other"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import cv2
import numpy as np

from hoopsense.errors import ConfigError, check_range

N_FEATURES = 8
"""Length of a :func:`jersey_features` row."""

# Indices into a feature row.
_SHIRT = slice(0, 3)  # main Lab colour of the shirt region
_LOWER = slice(3, 6)  # main Lab colour of the shorts / trousers region
_STRIPES, _DARK = 6, 7  # vertical-stripe energy and dark fraction of the shirt region

# Regions as fractions of the box: (x0, x1, y0, y1).
_SHIRT_REGION = (0.30, 0.70, 0.18, 0.45)
_LOWER_REGION = (0.30, 0.70, 0.50, 0.62)
# The box's side strips at body height: mostly floor and background, the colour to ignore in the shirt region.
_BACKGROUND_REGIONS = ((0.0, 0.12, 0.10, 0.60), (0.88, 1.0, 0.10, 0.60))
_BACKGROUND_DISTANCE = 8.0  # shirt pixels closer than this (weighted Lab) to the background colour are dropped
_MIN_BODY_FRACTION = 0.4  # ... unless fewer than this fraction would be left (a shirt the colour of the floor)
_MODE_RADIUS, _MODE_STEPS, _MODE_SEEDS = 12.0, 5, 16  # the jersey's main colour: densest seed, then mean-shift
_MODE_PIXELS = 600  # larger regions are subsampled (evenly) for the main colour

# Embedding: lightness counts half as much as hue / chroma; chroma C becomes C0 ln(1 + C / C0).
_L_WEIGHT = 0.5
_LOWER_WEIGHT = 0.5
_STRIPE_WEIGHT = 1.0
_CHROMA_SCALE = 40.0

# A referee's uniform: stripes, or a low-colour shirt clearly lighter than dark trousers.
_STRIPED, _STRIPE_DARK = 4.0, 0.05
_REFEREE_CHROMA, _TROUSERS_L, _SHIRT_OVER_TROUSERS = 20.0, 35.0, 20.0


def _lab(pixels_bgr: np.ndarray) -> np.ndarray:
    """Float32 CIE Lab (L 0-100, a and b about -128..127) of uint8 BGR pixels ``(H, W, 3)``.

    OpenCV's 8-bit conversion (a table lookup, fast on the small regions used here) is rescaled; it is exact to
    about half a unit."""
    lab = cv2.cvtColor(np.ascontiguousarray(pixels_bgr), cv2.COLOR_BGR2Lab).astype(np.float32)
    lab[..., 0] *= 100.0 / 255.0
    lab[..., 1:] -= 128.0
    return lab


def jersey_features(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Jersey appearance of each person.

    ``image``: BGR uint8 ``(H, W, 3)``. ``boxes``: ``(N, 4)`` float xyxy in
    pixels; they are clipped to the frame, and a box smaller than a pixel (or
    outside the frame) still gives a finite feature, from the nearest pixel.
    Returns float32 ``(N, N_FEATURES)``; ``(0, N_FEATURES)`` when ``N == 0``.
    The layout is described in the module docstring.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) BGR uint8, got shape {image.shape} {image.dtype}")
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    height, width = image.shape[:2]
    out = np.zeros((len(boxes), N_FEATURES), dtype=np.float32)
    for i, box in enumerate(boxes):
        # only the regions' pixels are converted: together about half of the box's span
        shirt, lower, *sides = (
            _lab(image[ya:yb, xa:xb])
            for xa, xb, ya, yb in (
                _bounds(box, frac, width, height) for frac in (_SHIRT_REGION, _LOWER_REGION, *_BACKGROUND_REGIONS)
            )
        )
        background = np.median(np.concatenate([side.reshape(-1, 3) for side in sides]), axis=0)
        pixels = shirt.reshape(-1, 3)
        body = _weighted_norm(pixels - background) > _BACKGROUND_DISTANCE
        if body.mean() >= _MIN_BODY_FRACTION:
            pixels = pixels[body]
        light = shirt[..., 0]
        out[i, _SHIRT] = _dominant(pixels)
        out[i, _LOWER] = _dominant(lower.reshape(-1, 3))
        gx = np.abs(np.diff(light, axis=1)).mean() if light.shape[1] > 1 else 0.0
        gy = np.abs(np.diff(light, axis=0)).mean() if light.shape[0] > 1 else 0.0
        out[i, _STRIPES] = max(0.0, float(gx - gy))
        out[i, _DARK] = (light < 30).mean()
    return out


def _bounds(
    box: np.ndarray, frac: tuple[float, float, float, float], width: int, height: int
) -> tuple[int, int, int, int]:
    """Pixel bounds ``(x0, x1, y0, y1)`` of a sub-region of ``box`` (fractions ``(x0, x1, y0, y1)`` of its size),
    inside a ``width`` x ``height`` frame and at least 1x1 (a degenerate box gives its nearest pixel)."""
    x1, y1, x2, y2 = (float(v) if np.isfinite(v) else 0.0 for v in box)
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    bw, bh = x2 - x1, y2 - y1
    xa = int(np.clip(np.floor(x1 + frac[0] * bw), 0, width - 1))
    ya = int(np.clip(np.floor(y1 + frac[2] * bh), 0, height - 1))
    xb = int(np.clip(np.ceil(x1 + frac[1] * bw), xa + 1, width))
    yb = int(np.clip(np.ceil(y1 + frac[3] * bh), ya + 1, height))
    return xa, xb, ya, yb


def _dominant(pixels: np.ndarray) -> np.ndarray:
    """The main colour of ``(P, 3)`` Lab pixels: the densest of a few candidate colours (the median and evenly
    spaced pixels), refined by mean-shift steps (the mean of the pixels within ``_MODE_RADIUS``), so that skin,
    numbers, lettering and blurred edges on a jersey do not pull it towards a blend."""
    if len(pixels) > _MODE_PIXELS:
        pixels = pixels[:: -(-len(pixels) // _MODE_PIXELS)]
    order = np.argsort(pixels[:, 0], kind="stable")
    seeds = np.concatenate([np.median(pixels, axis=0)[None], pixels[order[:: max(1, len(order) // _MODE_SEEDS)]]])
    density = (_weighted_norm(pixels[None] - seeds[:, None]) <= _MODE_RADIUS).sum(axis=1)
    centre = seeds[int(np.argmax(density))]
    for _ in range(_MODE_STEPS):
        near = pixels[_weighted_norm(pixels - centre) <= _MODE_RADIUS]
        if len(near) == 0:
            break
        moved, centre = centre, near.mean(axis=0)
        if np.abs(centre - moved).max() < 0.1:
            break
    return centre


def _weighted_norm(lab: np.ndarray) -> np.ndarray:
    """Length of Lab differences ``(..., 3)`` with lightness weighted by ``_L_WEIGHT``."""
    return np.sqrt((lab[..., 0] * _L_WEIGHT) ** 2 + lab[..., 1] ** 2 + lab[..., 2] ** 2)


def feature_colour(feature: np.ndarray) -> str:
    """The ``"#rrggbb"`` shirt colour of a :func:`jersey_features` row (or of a mean of rows); missing (NaN)
    values read as 0."""
    lab = np.nan_to_num(np.asarray(feature, dtype=np.float32).reshape(-1)[_SHIRT], posinf=0, neginf=0)
    lab = lab.reshape(1, 1, 3)
    bgr = cv2.cvtColor(lab, cv2.COLOR_Lab2BGR).reshape(3)
    b, g, r = (int(round(float(np.clip(v, 0, 1)) * 255)) for v in bgr)
    return f"#{r:02x}{g:02x}{b:02x}"


def _colour_point(lab: np.ndarray) -> np.ndarray:
    """``(M, 3)`` Lab -> ``(M, 3)`` points: lightness weighted by ``_L_WEIGHT``, hue kept, chroma ``C`` compressed to
    ``C0 ln(1 + C / C0)``, so that the brighter and darker sides of one saturated jersey (whose chroma scales
    with the light) stay close while different hues stay apart."""
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    squeeze = np.where(chroma > 1e-6, _CHROMA_SCALE * np.log1p(chroma / _CHROMA_SCALE) / np.maximum(chroma, 1e-6), 1.0)
    return np.stack([lab[:, 0] * _L_WEIGHT, lab[:, 1] * squeeze, lab[:, 2] * squeeze], axis=1)


def _embed(features: np.ndarray) -> np.ndarray:
    """``(M, N_FEATURES)`` features -> ``(M, 7)`` points where Euclidean distance is the weighted colour
    difference of the module docstring."""
    f = np.asarray(features, dtype=np.float64).reshape(-1, N_FEATURES)
    return np.concatenate(
        [
            _colour_point(f[:, _SHIRT]),
            _colour_point(f[:, _LOWER]) * _LOWER_WEIGHT,
            f[:, _STRIPES : _STRIPES + 1] * _STRIPE_WEIGHT,
        ],
        axis=1,
    )


def _referee_like(feature: np.ndarray) -> bool:
    """A striped shirt, or a shirt with little colour clearly lighter than dark trousers."""
    f = np.asarray(feature, dtype=np.float64).reshape(-1)
    chroma = float(np.hypot(f[1], f[2]))
    striped = f[_STRIPES] >= _STRIPED and f[_DARK] >= _STRIPE_DARK
    shirt_over_trousers = chroma < _REFEREE_CHROMA and f[3] < _TROUSERS_L and f[0] - f[3] > _SHIRT_OVER_TROUSERS
    return bool(striped or shirt_over_trousers)


@dataclass(frozen=True)
class Team:
    """An identity's side: ``name`` is ``"A"``, ``"B"``, ``"referee"`` or ``"other"``; ``colour`` is ``"#rrggbb"``
    (the team's representative jersey colour; for referees and others, the identity's own shirt colour)."""

    name: str
    colour: str


@dataclass(frozen=True)
class TeamConfig:
    """Settings of :meth:`TeamModel.fit` (distances are in the weighted Lab units of the module docstring).

    * ``min_samples``: frames an identity must have been seen to count (and to get a team).
    * ``min_identities``: counted identities needed to tell two teams apart.
    * ``min_team_size``: identities a group needs to be a team.
    * ``max_referees``: most identities a referee group may have.
    * ``merge_distance``: groups closer than this (average linkage) are merged.
    * ``min_separation``: the two teams' means must be at least this far apart.
    * ``max_distance``: an identity farther than this from every team and the referees is ``"other"``.
    """

    min_samples: int = 5
    min_identities: int = 4
    min_team_size: int = 2
    max_referees: int = 4
    merge_distance: float = 10.0
    min_separation: float = 16.0
    max_distance: float = 20.0

    def __post_init__(self) -> None:
        check_range(self, "min_samples", 1, 1_000_000, "frames")
        check_range(self, "min_identities", 2, 10_000)
        check_range(self, "min_team_size", 1, 1_000)
        check_range(self, "max_referees", 0, 1_000)
        for name in ("merge_distance", "min_separation", "max_distance"):
            check_range(self, name, 0, 1_000, open_low=True)
        for name in ("min_samples", "min_identities", "min_team_size", "max_referees"):
            if not float(getattr(self, name)).is_integer():
                raise ConfigError(
                    f"{name} must be a whole number, got {getattr(self, name)}", field=f"TeamConfig.{name}"
                )


@dataclass(frozen=True, eq=False)
class TeamModel:
    """Team and referee means of one game, fitted without labels by :meth:`fit`.

    ``centres``: float32 ``(K, N_FEATURES)`` mean features of the groups named in ``names``:
    ``"A"``, ``"B"``, maybe ``"referee"``, then any number of ``"other"`` groups
    (looks seen in the game that are neither, such as a coach's suit).
    """

    centres: np.ndarray
    names: tuple[str, ...]
    config: TeamConfig = field(default_factory=TeamConfig)

    @property
    def colours(self) -> dict[str, str]:
        """``{name: "#rrggbb"}`` of the teams' (and the referees') mean shirt colour."""
        return {name: feature_colour(c) for name, c in zip(self.names, self.centres) if name != "other"}

    @classmethod
    def fit(cls, features: np.ndarray, samples: np.ndarray, config: TeamConfig | None = None) -> TeamModel | None:
        """Find the two teams (and the referees, when there are any) among the identities of one game.

        ``features``: float ``(M, N_FEATURES)``, one mean :func:`jersey_features` row per identity;
        ``samples``: ``(M,)`` frames each identity was seen (its weight and reliability).
        Returns None when there is too little to tell two teams apart: fewer than
        ``min_identities`` identities seen ``min_samples`` times, no two groups of
        ``min_team_size`` that are ``min_separation`` apart.
        """
        config = config or TeamConfig()
        feats = np.asarray(features, dtype=np.float64)
        counts = np.asarray(samples, dtype=np.float64).reshape(-1)
        if feats.ndim != 2 or feats.shape[1] != N_FEATURES or len(feats) != len(counts):
            raise ValueError(
                f"features must be (M, {N_FEATURES}) and samples (M,), got {feats.shape} and {counts.shape}"
            )
        keep = (counts >= config.min_samples) & np.isfinite(feats).all(axis=1)
        if keep.sum() < max(config.min_identities, 2):
            return None
        feats, counts = feats[keep], counts[keep]
        groups = _groups(_embed(feats), config.merge_distance)
        summaries = []
        for members in groups:
            weights = counts[members]
            centre = (feats[members] * weights[:, None]).sum(axis=0) / weights.sum()
            small_referee = len(members) <= config.max_referees and _referee_like(centre)
            summaries.append((centre, len(members), float(weights.sum()), small_referee))
        # Teams: the groups with the most frames seen, preferring those that do not look like a referee group.
        order = sorted(range(len(summaries)), key=lambda k: (summaries[k][3], -summaries[k][2], groups[k][0]))
        teams: list[int] = []
        for k in order:
            centre, size = summaries[k][0], summaries[k][1]
            if size < config.min_team_size:
                continue
            if all(_distance(centre, summaries[t][0]) >= config.min_separation for t in teams):
                teams.append(k)
            if len(teams) == 2:
                break
        if len(teams) < 2:
            return None
        teams.sort(key=lambda k: -summaries[k][0][0])  # "A": the lighter shirt
        centres = [summaries[k][0] for k in teams]
        names: list[str] = ["A", "B"]
        referees = [
            k
            for k in order
            if k not in teams
            and summaries[k][3]
            and all(_distance(summaries[k][0], c) >= config.min_separation for c in centres)
        ]
        if referees:
            best = max(referees, key=lambda k: (summaries[k][2], -groups[k][0]))
            centres.append(summaries[best][0])
            names.append("referee")
        # The remaining groups of several people far from all of the above are kept as known "other" looks
        # (coaches, crowd), so that an identity nearer to them than to a team is not pulled into the team; nearer
        # groups are parts of a team (lighting) or of the referees, and their members go to the nearest of those.
        named = list(centres)
        for k in range(len(summaries)):
            centre = summaries[k][0]
            if summaries[k][1] < 2:
                continue  # one person's look (maybe the very identity to assign): max_distance judges him
            if all(_distance(centre, c) >= config.merge_distance for c in named):
                centres.append(centre)
                names.append("other")
        return cls(np.asarray(centres, dtype=np.float32), tuple(names), config)

    def assign(self, feature: np.ndarray, samples: int) -> Team:
        """The side of one identity from its mean ``feature`` (``(N_FEATURES,)`` float) and the frames it was seen.

        Seen fewer than ``min_samples`` frames, farther than ``max_distance``
        from every team and the referees, or nearest to a group of other people
        seen in the game: ``"other"``. Teams get their mean colour, referees and
        others their own.
        """
        f = np.asarray(feature, dtype=np.float64).reshape(-1)
        if f.shape != (N_FEATURES,):
            raise ValueError(f"feature must have {N_FEATURES} values, got shape {np.shape(feature)}")
        own = feature_colour(f)
        if samples < self.config.min_samples or not np.isfinite(f).all():
            return Team("other", own)
        distances = [_distance(f, c) for c in self.centres]
        k = int(np.argmin(distances))
        if distances[k] > self.config.max_distance:
            return Team("other", own)
        name = self.names[k]
        if name == "referee" and not _referee_like(f):
            return Team("other", own)  # near the referees' colours, but not in their uniform
        return Team(name, feature_colour(self.centres[k]) if name in ("A", "B") else own)


def assign_teams(
    features: Mapping[int, np.ndarray], samples: Mapping[int, int], config: TeamConfig | None = None
) -> dict[int, Team]:
    """Fit a :class:`TeamModel` on the identities of one game and assign each a :class:`Team`.

    ``features``: ``{identity: (N_FEATURES,) mean jersey feature}``; ``samples``: ``{identity: frames seen}``
    (an identity missing from ``samples`` counts as seen 0 times). When the teams
    cannot be told apart, every identity is ``"other"`` with its own colour.
    """
    ids = list(features)
    if not ids:
        return {}
    feats = np.stack([np.asarray(features[i], dtype=np.float64).reshape(-1) for i in ids])
    counts = np.array([samples.get(i, 0) for i in ids], dtype=np.float64)
    model = TeamModel.fit(feats, counts, config)
    if model is None:
        return {i: Team("other", feature_colour(f)) for i, f in zip(ids, feats)}
    return {i: model.assign(f, int(n)) for i, f, n in zip(ids, feats, counts)}


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Weighted colour difference between two feature rows."""
    return float(np.linalg.norm(_embed(a) - _embed(b)))


def _groups(points: np.ndarray, threshold: float) -> list[list[int]]:
    """Average-linkage groups of ``(M, D)`` points, merged while their linkage distance is below ``threshold``;
    each group's indices in increasing order, groups ordered by their first index (deterministic).

    SciPy's hierarchy (the same linkage scikit-learn's ``AgglomerativeClustering`` runs), which imports in about
    10 ms against about half a second for scikit-learn: the first team fit happens in the middle of a run."""
    from scipy.cluster.hierarchy import fcluster, linkage

    if len(points) < 2:
        return [[0]] if len(points) else []
    tree = linkage(np.asarray(points, dtype=np.float64), method="average")
    # fcluster keeps merges at or below t: just under the threshold, so merges *at* it stay apart
    labels = fcluster(tree, t=np.nextafter(threshold, -np.inf), criterion="distance")
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return sorted(groups.values(), key=lambda g: g[0])
