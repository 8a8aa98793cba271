"""The crowd in front of the floor: people not in a uniform, only ever seen cut by the frame's bottom edge and
smaller than a whole person, are ``"crowd"`` and left out of the outputs unless kept."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import supervision as sv
from test_teams import BLUE, FLOOR, GREEN, PURPLE, RED, Person, draw_person, player

from hoopsense.errors import ConfigError
from hoopsense.identity.reid import ColourEmbedder, Embedder
from hoopsense.identity.stage import CROWD_MIN_BOXES, Footing, IdentityConfig, IdentityStage
from hoopsense.pipeline.stream import DelayLine, TrackedFrame
from hoopsense.tracking.players import TrackerConfig

HEIGHT, WIDTH = 480, 854


def test_an_identity_seen_only_cut_by_the_bottom_edge_and_smaller_than_a_whole_person_is_in_front_of_the_floor():
    footing = Footing()
    whole = [(100 + 60 * i, 200, 140 + 60 * i, 300) for i in range(5)]  # five people standing, 100 px high
    for frame in range(20):
        near_edge = [
            (50, 430, 90, 480),  # 1: a head along the bottom, 50 px, always cut
            (600, 430, 640, 480 if frame % 10 < 7 else 470),  # 2: cut in 7 frames of 10 only
            (700, 230, 790, 480),  # 3: cut, but 250 px: a player near the camera
            (300, 440, 340, 479),  # 4: within the margin of the edge, 39 px
        ]
        boxes = np.array(whole + near_edge, np.float32)
        footing.add(np.array([10, 11, 12, 13, 14, 1, 2, 3, 4]), boxes, HEIGHT)
    assert footing.foreground([1]) and footing.foreground([4])
    assert not footing.foreground([2])
    assert not footing.foreground([3])
    assert not footing.foreground([10]) and not footing.foreground([])
    # one identity of two fragments: judged on all of its boxes
    assert footing.foreground([1, 4]) and not footing.foreground([1, 3])
    footing.forget([1])
    assert not footing.foreground([1])


def test_someone_stepping_into_view_from_below_or_seen_too_briefly_is_not_the_crowd():
    footing = Footing()
    for frame in range(CROWD_MIN_BOXES):
        boxes = [(100, 200, 140, 300), (300, 200, 340, 300)]  # two people standing, 100 px high
        boxes.append((500, 470 - 4 * frame, 540, 480))  # 5: walking in from under the camera, 10 to 46 px
        boxes.append((600, 430, 640, 480))  # 6: a seated spectator, 50 px
        footing.add(np.array([1, 2, 5, 6]), np.array(boxes, np.float32), HEIGHT)
        if frame == CROWD_MIN_BOXES - 2:
            assert not footing.foreground([6])  # not seen long enough yet
    assert footing.foreground([6]) and not footing.foreground([5])


def test_without_a_whole_person_for_reference_nobody_is_in_front_of_the_floor():
    footing = Footing()
    for _ in range(10):
        footing.add(np.array([1, 2]), np.array([[0, 400, 50, 480], [100, 300, 200, 480]], np.float32), HEIGHT)
    assert not footing.foreground([1]) and not footing.foreground([2])


# ------------------------------------------------------------------ the stage on a synthetic game

TEAM_A = [player(RED)] * 4
TEAM_B = [player(BLUE)] * 4
CROWD = Person(GREEN, GREEN)  # two spectators' heads and shoulders along the bottom of the picture
STRANGER = Person(PURPLE, PURPLE)  # not in a team's colours: a coach standing, and a player cut near the camera


def game_frame(rng: np.random.Generator, frame: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Eight players standing (red 1-4, blue 5-8), a stranger standing (9), two spectators cut by the bottom edge
    (10, 11) and a stranger near the camera, cut too but larger than the players (12)."""
    canvas = np.empty((HEIGHT + 200, WIDTH, 3), np.float32)  # people below the frame are drawn, then cut off
    canvas[:] = FLOOR
    boxes = []
    for i, person in enumerate(TEAM_A + TEAM_B + [STRANGER]):
        x = 20 + 90 * i + frame % 5
        boxes.append((x, 150, x + 40, 250))
        draw_person(canvas, boxes[-1], person, rng)
    for x in (200, 500):
        boxes.append((x, 430, x + 45, 540))  # seen from the shoulders up: 50 px of a 110 px person
        draw_person(canvas, boxes[-1], CROWD, rng)
    boxes.append((700, 250, 790, 480 + 60))
    draw_person(canvas, boxes[-1], STRANGER, rng)
    canvas += rng.standard_normal(canvas.shape, dtype=np.float32) * 4
    image = np.clip(canvas[:HEIGHT], 0, 255).astype(np.uint8)
    xyxy = np.array(boxes, np.float32)
    xyxy[:, 3] = np.minimum(xyxy[:, 3], HEIGHT)  # a detector's box ends at the frame's edge
    return image, xyxy, list(range(1, len(boxes) + 1))


def run_game(
    config: IdentityConfig, frames: int = 60, scene: Callable = game_frame, embedder: Embedder | None = None
) -> tuple[IdentityStage, list[TrackedFrame]]:
    rng = np.random.default_rng(0)
    stage = IdentityStage(config, fps=30, embedder=embedder)
    delay = DelayLine(TrackerConfig().min_track_frames, stage)  # as the stream holds frames back
    released: list[TrackedFrame] = []
    for index in range(frames):
        image, boxes, ids = scene(rng, index)
        d = sv.Detections(xyxy=boxes, confidence=np.full(len(boxes), 0.9, np.float32))
        d.tracker_id = np.asarray(ids, dtype=int)
        released += list(delay.push(TrackedFrame(index, index / 30, None, stage.observe(index, image, 1.0, d))))
    return stage, released + list(delay.flush())


def sides_of(stage: IdentityStage, frames: list[TrackedFrame]) -> dict[int, str]:
    """Tracker ID -> the side written in the outputs, the same in every row from the first."""
    seen: dict[int, set[str]] = {}
    for fr in frames:
        for f, t in zip(fr.players.data["track_id"], fr.players.data["team"], strict=True):
            seen.setdefault(stage.linker.fragments[int(f)].tracker_id, set()).add(str(t))
    assert all(len(s) == 1 for s in seen.values()), seen
    return {f: s.pop() for f, s in seen.items()}


def test_the_crowd_in_front_of_the_floor_is_left_out_of_the_outputs_unless_kept():
    stage, frames = run_game(IdentityConfig(reid="off", gallery=False, keep_crowd=True))
    sides = sides_of(stage, frames)
    assert {sides[f] for f in range(1, 5)} | {sides[f] for f in range(5, 9)} == {"A", "B"}
    assert sides[1] != sides[5]
    assert sides[9] == "other"  # standing in view: not the crowd, whatever his colours
    assert sides[10] == sides[11] == "crowd"
    assert sides[12] == "other"  # cut by the edge, but larger than a player: someone near the camera
    assert stage.summary()["team_counts"]["crowd"] == 2
    # by default the crowd's rows are left out, and counted
    stage, frames = run_game(IdentityConfig(reid="off", gallery=False))
    sides = sides_of(stage, frames)
    assert 10 not in sides and 11 not in sides and sides[12] == "other" and len(sides) == 10
    assert stage.dropped_rows["crowd"] == 2 * len(frames)
    assert stage.summary()["keep_crowd"] is False


def test_keeping_the_crowd_needs_teams():
    with pytest.raises(ConfigError, match="keep_crowd needs teams"):
        IdentityConfig(teams=False, keep_crowd=True)
    assert IdentityConfig(teams=False).dropped_sides == frozenset()
    assert IdentityConfig(keep_referees=True).dropped_sides == {"crowd"}


def late_frame(rng: np.random.Generator, frame: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """The game of :func:`game_frame` without its crowd at first: from frame 40 a spectator sits down along the
    bottom edge (13), and a coach walks into the picture from under the camera (14), growing from 20 px."""
    image, boxes, ids = game_frame(rng, frame)
    keep = [i for i, t in enumerate(ids) if t not in (10, 11)]
    image, boxes, ids = image.copy(), boxes[keep], [ids[i] for i in keep]
    if frame >= 40:
        canvas = np.empty((HEIGHT + 200, WIDTH, 3), np.float32)
        canvas[:HEIGHT] = image
        canvas[HEIGHT:] = FLOOR
        new = [(300, 430, 345, 540), (600, max(HEIGHT - 20 - 6 * (frame - 40), 250), 640, 560)]
        for box, person in zip(new, (CROWD, STRANGER), strict=True):
            draw_person(canvas, box, person, rng)
        image = np.clip(canvas[:HEIGHT], 0, 255).astype(np.uint8)
        extra = np.array(new, np.float32)
        extra[:, 3] = HEIGHT
        boxes, ids = np.concatenate([boxes, extra]), [*ids, 13, 14]
    return image, boxes, ids


def test_with_linking_a_spectator_arriving_late_is_the_crowd_and_someone_walking_in_from_below_is_not():
    config = IdentityConfig(reid="colour", gallery=False, keep_crowd=True)
    stage, frames = run_game(config, 90, late_frame, ColourEmbedder())
    sides = sides_of(stage, frames)
    assert sides[13] == "crowd"
    assert sides[14] == "other"  # cut and small at first, but growing: stepping into view
    assert all(sides[f] in ("A", "B") for f in range(1, 9))


def test_nobody_is_left_out_after_rows_of_his_were_written_before_the_teams_were_known():
    """Three people at first (too few to tell two teams apart): their rows go out with no team. When the teams
    are known, the spectator among them turns out to be the crowd, but his rows keep coming; a spectator who
    arrives after that is left out from his first row."""

    def scene(rng: np.random.Generator, frame: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
        image, boxes, ids = game_frame(rng, frame)
        keep = [i for i, t in enumerate(ids) if t in (1, 5, 10) or (frame >= 45 and t != 11) or frame >= 80]
        return image, boxes[keep], [ids[i] for i in keep]

    stage, frames = run_game(IdentityConfig(reid="off", gallery=False), 120, scene)
    tracker = {f: stage.linker.fragments[f].tracker_id for f in stage.linker.fragments}
    rows = [
        (tracker[int(f)], str(t)) for fr in frames for f, t in zip(fr.players.data["track_id"], fr.players.data["team"])
    ]
    spectator = [t for tid, t in rows if tid == 10]
    assert len(spectator) == 120 and spectator[0] == "" and spectator[-1] == "crowd"  # every frame of his
    assert not [t for tid, t in rows if tid == 11] and stage.dropped_rows == {"crowd": 40}
