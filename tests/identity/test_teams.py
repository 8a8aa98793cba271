"""Teams and referees by unsupervised clustering of jersey appearance: synthetic scenes and one real broadcast clip."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from conftest import FOOTAGE, ONNX_DETECTOR, need_asset

from hoopsense.errors import ConfigError
from hoopsense.identity.teams import (
    N_FEATURES,
    Team,
    TeamConfig,
    TeamModel,
    assign_teams,
    feature_colour,
    jersey_features,
)
from hoopsense.identity.teams import _groups as groups

FLOOR = (95, 150, 205)  # BGR light wood
SKIN = (90, 120, 170)
RED = (40, 40, 200)
WHITE = (235, 235, 235)
BLUE = (170, 70, 30)
YELLOW = (40, 200, 235)
GREEN = (60, 140, 30)
PURPLE = (130, 40, 110)
GREY = (175, 175, 175)
BLACK = (25, 25, 25)
NAVY_SUIT = (60, 40, 35)
ORANGE = (20, 120, 240)


@dataclass(frozen=True)
class Person:
    shirt: tuple[int, int, int]
    lower: tuple[int, int, int]
    striped: bool = False
    light: float = 1.0  # the person's own light, on top of each frame's random one


def player(colour, light: float = 1.0) -> Person:
    return Person(colour, colour, light=light)


REFEREE = Person(GREY, BLACK, striped=True)
PLAIN_REFEREE = Person(GREY, BLACK)  # stripes too thin to see at broadcast resolution


def draw_person(img: np.ndarray, box, person: Person, rng: np.random.Generator) -> None:
    """Paint a person (head, shirt with bare arms, shorts or trousers, legs) into the box ``(x1, y1, x2, y2)`` of
    the float BGR image, off-centre and under its own lighting (lighter at the top), leaving floor around the body
    as a detector's box does."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    light, tint = rng.uniform(0.75, 1.2) * person.light, rng.normal(0, 6, 3)
    cx = x1 + w / 2 + rng.uniform(-0.08, 0.08) * w
    half = rng.uniform(0.17, 0.25) * w

    def colour(c):
        return tuple(float(v) for v in np.clip(np.array(c, float) * light + tint, 0, 255))

    before = img[y1:y2, x1:x2].copy()
    left, right = int(cx - half), int(cx + half)
    top, waist = y1 + int(0.15 * h), y1 + int(0.5 * h)
    cv2.circle(img, (int(cx), y1 + int(0.08 * h)), max(2, int(0.07 * h)), colour(SKIN), -1)
    cv2.rectangle(img, (left - int(0.12 * w), top), (right + int(0.12 * w), y1 + int(0.42 * h)), colour(SKIN), -1)
    cv2.rectangle(img, (left, top), (right, waist), colour(person.shirt), -1)
    if person.striped:
        for sx in range(left + 2, right, 6):
            cv2.rectangle(img, (sx, top), (sx + 1, waist), colour(BLACK), -1)
    legs_top = y1 + int((0.95 if person.lower == BLACK else 0.68) * h)  # trousers, or shorts
    cv2.rectangle(img, (left, waist), (right, legs_top), colour(person.lower), -1)
    cv2.rectangle(img, (left + 1, legs_top), (right - 1, y2 - 2), colour(SKIN), -1)
    # light from above: the top of the body is brighter than the bottom (the floor around it is left as it was)
    region = img[y1:y2, x1:x2]
    body = (region != before).any(axis=2)
    shade = np.broadcast_to(np.linspace(1.1, 0.9, len(region), dtype=np.float32)[:, None], body.shape)
    region[body] *= shade[body][:, None]


def scene(people: list[Person], rng: np.random.Generator, size=(480, 854)) -> tuple[np.ndarray, np.ndarray]:
    """A noisy court-coloured BGR frame with ``people`` drawn side by side in two rows, each under its own lighting;
    returns the frame and their float xyxy boxes."""
    height, width = size
    img = np.empty((height, width, 3), np.float32)
    img[:] = FLOOR
    img[: height // 5] = (60, 50, 45)  # a dark crowd band at the top
    boxes = []
    per_row = (len(people) + 1) // 2
    for i, person in enumerate(people):
        row, col = divmod(i, per_row)
        w = int(rng.integers(34, 46))
        h = int(w * rng.uniform(2.3, 2.7))
        x1 = 20 + col * (width - 40) // per_row + int(rng.integers(0, 10))
        y1 = height // 5 + 10 + row * 170 + int(rng.integers(0, 15))
        box = (x1, y1, x1 + w, y1 + h)
        draw_person(img, box, person, rng)
        jitter = rng.normal(0, 2, 4)
        boxes.append(np.array(box, float) + jitter)
    img += rng.standard_normal(img.shape, dtype=np.float32) * 6
    return np.clip(img, 0, 255).astype(np.uint8), np.array(boxes)


def identities(people: list[Person], frames: int = 6, seed: int = 0) -> tuple[dict[int, np.ndarray], dict[int, int]]:
    """Mean jersey feature of each person over ``frames`` frames (new lighting and boxes each time), as the
    identity stage accumulates them: ``{id: feature}``, ``{id: frames seen}``."""
    rng = np.random.default_rng(seed)
    sums = np.zeros((len(people), N_FEATURES))
    for _ in range(frames):
        image, boxes = scene(people, rng)
        sums += jersey_features(image, boxes)
    return {i + 1: sums[i] / frames for i in range(len(people))}, {i + 1: frames for i in range(len(people))}


def lab(bgr) -> np.ndarray:
    return cv2.cvtColor(np.array([[bgr]], np.float32) / 255, cv2.COLOR_BGR2Lab).reshape(3)


def hex_lab(colour: str) -> np.ndarray:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return lab((b, g, r))


def delta_e(colour: str, bgr) -> float:
    return float(np.linalg.norm(hex_lab(colour) - lab(bgr)))


def sides(result: dict[int, Team], ids) -> set[str]:
    return {result[i].name for i in ids}


@pytest.mark.parametrize(("first", "second"), [(RED, WHITE), (BLUE, YELLOW), (GREEN, PURPLE)])
def test_two_teams_and_striped_referees(first, second):
    people = [player(first)] * 5 + [player(second)] * 5 + [REFEREE] * 3
    feats, counts = identities(people, seed=1)
    result = assign_teams(feats, counts)
    team1, team2, refs = range(1, 6), range(6, 11), range(11, 14)
    assert len(sides(result, team1)) == 1 and len(sides(result, team2)) == 1
    assert sides(result, team1) | sides(result, team2) == {"A", "B"}
    assert sides(result, refs) == {"referee"}
    for members, bgr in ((team1, first), (team2, second)):
        colour = result[members[0]].colour
        assert all(result[i].colour == colour for i in members)
        # lighting varies from 0.75x to 1.2x and the medians see some skin and noise: a loose but real match
        assert delta_e(colour, bgr) < 25, (colour, bgr)
    # "A" is the lighter jersey
    light = max((first, second), key=lambda c: lab(c)[0])
    a_members = team1 if light == first else team2
    assert sides(result, a_members) == {"A"}


def test_a_team_in_uneven_light_stays_one_team():
    # each player keeps their own brightness (+-15 % in pixel values) all game, on top of the per-frame light
    lights = (0.85, 0.93, 1.0, 1.07, 1.15)
    people = [player(BLUE, light) for light in lights] + [player(WHITE, light) for light in lights] + [REFEREE] * 3
    feats, counts = identities(people, seed=10)
    result = assign_teams(feats, counts)
    assert len(sides(result, range(1, 6))) == 1 and len(sides(result, range(6, 11))) == 1
    assert sides(result, range(1, 6)) | sides(result, range(6, 11)) == {"A", "B"}
    assert sides(result, range(11, 14)) == {"referee"}


def test_referees_without_visible_stripes_are_found_by_shirt_over_dark_trousers():
    people = [player(BLUE)] * 5 + [player(YELLOW)] * 5 + [PLAIN_REFEREE] * 2
    feats, counts = identities(people, seed=9)
    result = assign_teams(feats, counts)
    assert sides(result, range(1, 6)) | sides(result, range(6, 11)) == {"A", "B"}
    assert sides(result, range(11, 13)) == {"referee"}


def test_naming_does_not_depend_on_identity_order():
    people = [player(BLUE)] * 4 + [player(YELLOW)] * 4 + [REFEREE] * 2
    feats, counts = identities(people, seed=2)
    forward = assign_teams(feats, counts)
    ids = list(feats)[::-1]
    backward = assign_teams({i: feats[i] for i in ids}, {i: counts[i] for i in ids})
    assert forward == backward


def test_no_referees_nobody_is_called_referee():
    people = [player(RED)] * 5 + [player(WHITE)] * 5
    feats, counts = identities(people, seed=3)
    result = assign_teams(feats, counts)
    assert sides(result, range(1, 6)) | sides(result, range(6, 11)) == {"A", "B"}
    assert len(sides(result, range(1, 6))) == 1 and len(sides(result, range(6, 11))) == 1
    assert all(t.name != "referee" for t in result.values())


def test_a_coach_in_a_suit_is_other_and_does_not_break_the_teams():
    coach = Person(NAVY_SUIT, BLACK)
    orange = player(ORANGE)  # a single person in a third colour (a mascot or a staff member)
    people = [player(RED)] * 5 + [player(WHITE)] * 5 + [REFEREE] * 3 + [coach, orange]
    feats, counts = identities(people, seed=4)
    result = assign_teams(feats, counts)
    assert sides(result, range(1, 6)) | sides(result, range(6, 11)) == {"A", "B"}
    assert len(sides(result, range(1, 6))) == 1 and len(sides(result, range(6, 11))) == 1
    assert sides(result, range(11, 14)) == {"referee"}
    assert result[14].name == "other" and result[15].name == "other"
    assert delta_e(result[15].colour, ORANGE) < 25  # others keep their own colour


def test_a_player_whose_look_is_off_his_team_alone_stays_in_his_team():
    """A look seen on one person only is no "other" group: one red player in deep shadow (farther than
    ``merge_distance`` from the red team, nearer than ``max_distance``) is red, though he is in the fit."""
    from hoopsense.identity.teams import _distance

    people = [player(RED)] * 5 + [player(WHITE)] * 5
    feats, counts = identities(people, seed=3)
    red = np.mean([feats[i] for i in range(1, 6)], axis=0)
    shadow = red.copy()
    shadow[[0, 3]] -= 25.0  # shirt and shorts lightness
    config = TeamConfig()
    assert config.merge_distance < _distance(shadow, red) < config.max_distance
    feats[11], counts[11] = shadow, 6
    result = assign_teams(feats, counts)
    assert result[11].name == result[1].name and result[1].name in ("A", "B")
    # two such people are a look of their own, kept apart from the team
    feats[12], counts[12] = shadow + 0.5, 6
    result = assign_teams(feats, counts)
    assert result[11].name == result[12].name == "other"


def test_rarely_seen_identity_is_other():
    people = [player(BLUE)] * 4 + [player(YELLOW)] * 4 + [player(BLUE)]
    feats, counts = identities(people, seed=5)
    counts[9] = 2
    result = assign_teams(feats, counts)
    assert result[9].name == "other"
    assert result[1].name in ("A", "B") and result[1].name == result[2].name
    model = TeamModel.fit(np.stack([feats[i] for i in range(1, 9)]), np.array([counts[i] for i in range(1, 9)]))
    assert model is not None
    assert model.assign(feats[9], 2).name == "other"
    assert model.assign(feats[9], 50) == result[1]  # seen enough, the same look is a blue player
    # a look never seen in the fit, far from both teams
    green = jersey_features(np.full((100, 40, 3), GREEN, np.uint8), np.array([[0, 0, 40, 100]]))[0]
    assert model.assign(green, 50).name == "other"
    assert set(model.colours) == {"A", "B"}
    broken = np.full(N_FEATURES, np.nan)
    assert model.assign(broken, 50).name == "other"
    with pytest.raises(ValueError, match="feature must have"):
        model.assign(np.zeros(3), 50)
    # a non-finite identity does not count in the fit and does not break it
    feats[10], counts[10] = broken, 50
    with_broken = assign_teams(feats, counts)
    assert with_broken[10].name == "other" and with_broken[1] == result[1]


def test_more_striped_people_than_a_game_has_referees_are_not_referees():
    people = [player(RED)] * 5 + [player(WHITE)] * 5 + [REFEREE] * 3
    feats, counts = identities(people, seed=11)
    assert sides(assign_teams(feats, counts), range(11, 14)) == {"referee"}
    result = assign_teams(feats, counts, TeamConfig(max_referees=2))
    assert sides(result, range(1, 6)) | sides(result, range(6, 11)) == {"A", "B"}
    assert sides(result, range(11, 14)) == {"other"}


def test_too_few_identities_everyone_other():
    people = [player(BLUE), player(BLUE), player(YELLOW)]
    feats, counts = identities(people, seed=6)
    result = assign_teams(feats, counts)
    assert set(result) == {1, 2, 3} and all(t.name == "other" for t in result.values())
    assert delta_e(result[3].colour, YELLOW) < 25
    assert TeamModel.fit(np.stack(list(feats.values())), np.array(list(counts.values()))) is None
    # enough identities, but only three seen enough times
    people = [player(BLUE)] * 3 + [player(YELLOW)] * 3
    feats, counts = identities(people, seed=6)
    counts.update({1: 1, 2: 1, 4: 1})
    assert all(t.name == "other" for t in assign_teams(feats, counts).values())


def test_everyone_in_the_same_colour_cannot_be_split():
    people = [player(RED)] * 10
    feats, counts = identities(people, seed=7)
    result = assign_teams(feats, counts)
    assert all(t.name == "other" for t in result.values())


def test_empty_input():
    assert assign_teams({}, {}) == {}
    assert jersey_features(np.zeros((48, 64, 3), np.uint8), np.zeros((0, 4))).shape == (0, N_FEATURES)
    assert TeamModel.fit(np.zeros((0, N_FEATURES)), np.zeros(0)) is None


def test_groups_merge_below_the_threshold_only():
    # a pair exactly at the threshold stays apart; average linkage: {0, 1} at 1, then 2 at mean(9, 8) = 8.5
    points = np.array([[0.0, 0], [1, 0], [9, 0]])
    assert groups(points, 1.0) == [[0], [1], [2]]
    assert groups(points, 1.5) == [[0, 1], [2]]
    assert groups(points, 8.5) == [[0, 1], [2]]
    assert groups(points, 8.6) == [[0, 1, 2]]
    assert groups(points[:1], 5.0) == [[0]]
    assert groups(points[:0], 5.0) == []


def test_team_fitting_does_not_import_scikit_learn():
    # the first fit runs mid-video: scikit-learn's import (about half a second) would stall the stream
    code = (
        "import sys, numpy as np; from hoopsense.identity.teams import TeamModel, N_FEATURES; "
        "rng = np.random.default_rng(0); f = np.zeros((8, N_FEATURES)); f[:4, 0], f[4:, 0] = 90, 20; "
        "f[:, :3] += rng.normal(0, 1, (8, 3)); assert TeamModel.fit(f, np.full(8, 20)) is not None; "
        "assert 'sklearn' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_degenerate_boxes_give_finite_features():
    image = np.full((48, 64, 3), 128, np.uint8)
    boxes = np.array(
        [
            [10, 10, 10, 10],  # zero area
            [30, 20, 30.4, 20.3],  # under a pixel
            [-50, -50, -10, -10],  # outside the frame
            [60, 40, 200, 300],  # mostly outside
            [40, 40, 20, 10],  # corners swapped
            [np.nan, 0, np.inf, 5],
        ]
    )
    feats = jersey_features(image, boxes)
    assert feats.shape == (6, N_FEATURES) and feats.dtype == np.float32
    assert np.isfinite(feats).all()
    assert feature_colour(feats[0]) == "#808080"
    with pytest.raises(ValueError, match="image must be"):
        jersey_features(np.zeros((10, 10)), boxes)


def test_feature_colour_round_trips_plain_colours():
    for bgr in (RED, WHITE, BLUE, YELLOW, BLACK):
        image = np.zeros((100, 40, 3), np.uint8)
        image[:] = bgr
        colour = feature_colour(jersey_features(image, np.array([[0, 0, 40, 100]]))[0])
        rgb = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
        assert max(abs(a - b) for a, b in zip(rgb, bgr[::-1])) <= 2, (colour, bgr)  # 8-bit Lab rounding


def test_stripes_are_seen():
    rng = np.random.default_rng(8)
    image, boxes = scene([REFEREE, Person(GREY, BLACK), player(WHITE)], rng)
    feats = jersey_features(image, boxes)
    stripes = feats[:, 6]
    assert stripes[0] > 4 * max(stripes[1], stripes[2], 1.0)


def test_config_is_validated():
    with pytest.raises(ConfigError, match="min_samples must be in"):
        TeamConfig(min_samples=0)
    with pytest.raises(ConfigError, match="max_distance must be in"):
        TeamConfig(max_distance=float("nan"))
    with pytest.raises(ConfigError, match="whole number"):
        TeamConfig(max_referees=2.5)
    with pytest.raises(ValueError, match="features must be"):
        TeamModel.fit(np.zeros((5, 3)), np.ones(5))


# --- real footage ---------------------------------------------------------------------------------------------------
# nba_broadcast_wide_854x480.mp4, first second: Golden State in royal blue (looking blue-violet in this broadcast)
# against the Lakers in gold; referees in light grey shirts and black trousers (stripes too thin to see at this
# size). Points inside the boxes of the people checked by eye on frame 29 (x, y in pixels):
REAL_REFEREES = {"bottom left": (228, 350), "right sideline": (806, 250)}
REAL_BLUE = {"#30 centre": (337, 270), "left wing": (148, 245)}
REAL_GOLD = {"top of the key": (470, 205), "guarding #30": (380, 240)}
REAL_CROWD = {"spectator bottom left": (205, 455)}


@pytest.mark.slow
def test_real_broadcast_teams_and_referees():
    from hoopsense.detection import DetectorConfig, YoloDetector
    from hoopsense.tracking.players import PlayerTracker, TrackerConfig
    from hoopsense.video import VideoReader

    clip = need_asset(FOOTAGE / "nba_broadcast_wide_854x480.mp4")
    detector = YoloDetector(DetectorConfig(weights=str(need_asset(ONNX_DETECTOR)), device="cpu"))
    tracker = PlayerTracker(TrackerConfig(), 854, 480, 29.97)
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    with VideoReader(clip, pixel_format="bgr24") as reader:
        for frame in reader:
            tracked = tracker.update(detector.detect([frame.image], bgr=True)[0])
            for tid, feature in zip(tracked.tracker_id, jersey_features(frame.image, tracked.xyxy)):
                sums[int(tid)] = sums.get(int(tid), 0) + feature
                counts[int(tid)] = counts.get(int(tid), 0) + 1
            if frame.index == 29:
                last = tracked
                break
    result = assign_teams({i: sums[i] / counts[i] for i in sums}, counts)

    def who(point) -> Team:
        inside = [
            int(t)
            for t, (x1, y1, x2, y2) in zip(last.tracker_id, last.xyxy)
            if x1 <= point[0] <= x2 and y1 <= point[1] <= y2
        ]
        assert len(inside) == 1, f"expected one tracked person at {point}, got ids {inside}"
        return result[inside[0]]

    assert {who(p).name for p in REAL_REFEREES.values()} == {"referee"}
    blue = {who(p) for p in REAL_BLUE.values()}
    gold = {who(p) for p in REAL_GOLD.values()}
    assert len(blue) == 1 and len(gold) == 1
    (blue_team,), (gold_team,) = blue, gold
    assert {blue_team.name, gold_team.name} == {"A", "B"}
    assert gold_team.name == "A"  # the lighter jersey
    blue_lab, gold_lab = hex_lab(blue_team.colour), hex_lab(gold_team.colour)
    assert blue_lab[2] < -10 and gold_lab[2] > 15, (blue_team.colour, gold_team.colour)  # blue and yellow sides
    assert all(result[i].name == "other" for i in result if counts[i] < 5)
    assert {who(p).name for p in REAL_CROWD.values()} == {"other"}
    assert sum(t.name == "referee" for t in result.values()) <= 4
