"""The identity stage in the tracked-frame stream: fragments become identities before any output sees them."""

from __future__ import annotations

import cv2
import numpy as np
import supervision as sv

from hoopsense.identity.stage import IdentityConfig, IdentityStage
from hoopsense.pipeline.stream import DelayLine, TrackedFrame


class MeanColour:
    """A stand-in re-ID network: the normalised mean colour of the box (enough for flat synthetic people)."""

    name = "mean colour"
    dim = 3

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        out = []
        for x1, y1, x2, y2 in boxes.astype(int):
            v = image[y1:y2, x1:x2].reshape(-1, 3).mean(axis=0) + 1.0
            out.append(v / np.linalg.norm(v))
        return np.asarray(out, dtype=np.float32).reshape(-1, 3)


RED, BLUE = (30, 30, 220), (220, 60, 30)


def frame_with(people: list[tuple[tuple[int, int, int], int]]) -> tuple[np.ndarray, np.ndarray]:
    """A grey 480x640 frame with one flat person per ``(colour, x)``; returns the image and boxes."""
    image = np.full((480, 640, 3), 120, dtype=np.uint8)
    boxes = []
    for colour, x in people:
        image[100:300, x : x + 60] = colour
        boxes.append((x, 100, x + 60, 300))
    return image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def detections(boxes: np.ndarray, tracker_ids: list[int]) -> sv.Detections:
    d = sv.Detections(xyxy=boxes, confidence=np.full(len(boxes), 0.9, dtype=np.float32))
    d.tracker_id = np.asarray(tracker_ids, dtype=int)
    return d


def run(stage: IdentityStage, script: list[list[tuple]], min_frames: int = 3):
    """Feed frames of ``(colour, x, tracker id)`` (and optionally the box's confidence, 0.9 otherwise) through
    the stage and a delay line, as the stream does."""
    delay = DelayLine(min_frames, stage)
    released = []
    for index, people in enumerate(script):
        image, boxes = frame_with([(p[0], p[1]) for p in people])
        players = detections(boxes, [p[2] for p in people])
        players.confidence = np.array([p[3] if len(p) > 3 else 0.9 for p in people], dtype=np.float32)
        players = stage.observe(index, image, 1.0, players)
        released += list(delay.push(TrackedFrame(index, index / 30, None, players)))
    released += list(delay.flush())
    return released


def red_leaves_and_returns(n: int, gone: int, back: int, back_as: int) -> list[list[tuple]]:
    """``n`` frames: a blue player (tracker 2) throughout; a red one as tracker 1 before frame ``gone``, then as
    tracker ``back_as`` (a bit to the right) from frame ``back`` on."""
    script = []
    for f in range(n):
        people = [(BLUE, 400, 2)]
        if f < gone:
            people.append((RED, 100, 1))
        elif f >= back:
            people.append((RED, 150, back_as))
        script.append(people)
    return script


def test_a_player_lost_and_found_again_keeps_his_identity_in_every_released_frame():
    stage = IdentityStage(IdentityConfig(teams=False, gallery=False), fps=30, embedder=MeanColour())
    # red player as tracker 1 (frames 0-19), gone (20-29), back as tracker 7 (30-49); blue player throughout
    frames = run(stage, red_leaves_and_returns(50, 20, 30, 7))
    assert len(frames) == 50
    red = {int(p) for fr in frames for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0]) if x < 300}
    blue = {int(p) for fr in frames for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0]) if x >= 300}
    assert len(red) == 1 and len(blue) == 1 and red != blue
    fragments = {int(f) for fr in frames for f in fr.players.data["track_id"]}
    assert len(fragments) == 3  # red's two fragments and blue's one
    summary = stage.summary()
    assert summary["fragments"] == 3 and summary["identities"] == 2 and summary["linked_fragments"] == 1


def test_without_linking_every_fragment_is_its_own_identity():
    stage = IdentityStage(IdentityConfig(reid="off", teams=False, gallery=False), fps=30, embedder=None)
    script = [[(RED, 100, 1)] if f < 20 else [(RED, 150, 7)] for f in range(40)]
    frames = run(stage, script)
    assert {int(p) for fr in frames for p in fr.players.tracker_id} == {1, 2}


def test_gallery_keeps_the_largest_unoccluded_crop_of_each_identity():
    stage = IdentityStage(IdentityConfig(teams=False), fps=30, embedder=MeanColour())
    frames = run(stage, [[(RED, 100, 1), (BLUE, 400, 2)] for _ in range(20)])
    ids = {int(p) for fr in frames for p in fr.players.tracker_id}
    assert stage.gallery is not None
    for pid in ids:
        data = stage.gallery.jpeg(pid)
        assert data is not None and data[:2] == b"\xff\xd8"  # a JPEG


def test_with_split_distance_a_tracker_id_that_jumps_onto_another_player_is_split_in_the_outputs():
    # tracker 1 follows red (0-19), then blue (20-49) at the same place; red comes back as tracker 5 at 35
    script = []
    for f in range(50):
        people = [(RED if f < 20 else BLUE, 100, 1)]
        if f >= 35:
            people.append((RED, 400, 5))
        script.append(people)
    results = {}
    for split in (None, 0.3):
        config = IdentityConfig(teams=False, gallery=False, split_distance=split, reclaim=False)
        stage = IdentityStage(config, fps=30, embedder=MeanColour())
        frames = run(stage, script)
        tracker1 = [int(fr.players.tracker_id[fr.players.xyxy[:, 0] < 300][0]) for fr in frames]
        red_back = {int(p) for fr in frames for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0]) if x >= 300}
        results[split] = (tracker1, red_back, stage.summary())
    tracker1, red_back, summary = results[None]
    assert len(set(tracker1)) == 1 and summary["split_fragments"] == 0  # blue wears red's identity to the end
    assert red_back != {tracker1[0]}  # and red, back, cannot have his own
    tracker1, red_back, summary = results[0.3]
    red, blue = tracker1[0], tracker1[-1]
    assert red != blue and summary["split_fragments"] == 1 and summary["split_distance"] == 0.3
    # the split comes after three samples unlike red, one every 5 frames once decided (20, 25, 30): frames
    # 20-30 still show red's identity, and from 31 on blue has his own
    switch = tracker1.index(blue)
    assert tracker1[:switch] == [red] * switch and tracker1[switch:] == [blue] * (50 - switch)
    assert 21 <= switch <= 35, switch
    assert red_back == {red}  # red, back under tracker 5, is red again


def test_a_player_back_takes_his_identity_from_the_track_that_drifted_onto_another_in_every_output():
    # tracker 1 follows red (0-19), then blue (20-49) at the same place; red comes back as tracker 5 at 35
    script = [[(RED if f < 20 else BLUE, 100, 1), *([(RED, 400, 5)] if f >= 35 else [])] for f in range(50)]
    for min_frames in (3, 10):  # red decided when his first row leaves the stream, or before (5 samples)
        stage = IdentityStage(IdentityConfig(teams=False), fps=30, embedder=MeanColour())
        frames = run(stage, script, min_frames=min_frames)
        assert [fr.index for fr in frames] == list(range(50))
        at = [{float(x): int(p) for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0])} for fr in frames]
        tracks = [{float(x): int(t) for t, x in zip(fr.players.data["track_id"], fr.players.xyxy[:, 0])}
                  for fr in frames]  # fmt: skip
        red = at[0][100.0]
        assert [a[100.0] for a in at[:35]] == [red] * 35  # the rows before red came back keep his identity
        assert all(a[400.0] == red for a in at[35:])  # red, back, is red from his first row
        blue = {a[100.0] for a in at[35:]}
        assert len(blue) == 1 and red not in blue  # tracker 1 (blue) goes on as somebody else
        assert len({t[100.0] for t in tracks[35:]}) == 1 and tracks[35][100.0] != tracks[34][100.0]
        summary = stage.summary()
        assert summary["reclaims"] == 1 and summary["reclaim"] is True and summary["identities"] == 2
    off = IdentityStage(IdentityConfig(teams=False, gallery=False, reclaim=False), fps=30, embedder=MeanColour())
    frames = run(off, script)
    assert off.summary()["reclaims"] == 0 and off.summary()["reclaim"] is False
    assert int(frames[-1].players.tracker_id[0]) == int(frames[0].players.tracker_id[0])  # blue keeps red's ID
    from hoopsense.identity.reid import ColourEmbedder

    assert IdentityStage(IdentityConfig(), fps=30, embedder=ColourEmbedder()).summary()["reclaim"] is False


def test_swap_repair_gives_two_players_whose_tracker_ids_swapped_their_identities_back():
    # red (tracker 1) and blue (tracker 2); at frame 20 the tracker trades them: tracker 1 follows blue
    script = [[(RED if f < 20 else BLUE, 100, 1), (BLUE if f < 20 else RED, 400, 2)] for f in range(50)]
    results = {}
    for repair in (False, True):
        stage = IdentityStage(IdentityConfig(teams=False, gallery=False, swap_repair=repair), fps=30,
                              embedder=MeanColour())  # fmt: skip
        frames = run(stage, script)
        colours = [{int(p): ("red" if (x < 300) == (fr.index < 20) else "blue")
                    for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0])} for fr in frames]  # fmt: skip
        results[repair] = (colours, stage.summary())
    colours, summary = results[False]
    assert summary["swaps"] == 0 and summary["swap_repair"] is False
    red, blue = (next(p for p, c in colours[0].items() if c == name) for name in ("red", "blue"))
    assert colours[-1] == {red: "blue", blue: "red"}  # without repair each wears the other's identity to the end
    colours, summary = results[True]
    assert summary["swaps"] == 1 and summary["swap_repair"] is True
    # after two samples each like the other (one every 5 frames once decided) each wears his own identity again,
    # for good; the rows before keep the swapped ones
    wrong = [f for f, c in enumerate(colours) if c != {red: "red", blue: "blue"}]
    assert wrong == list(range(20, 20 + len(wrong))) and 6 <= len(wrong) <= 11, str(wrong)
    # with colour histograms (which cannot tell two players in one kit apart) there is no swap repair
    from hoopsense.identity.reid import ColourEmbedder

    stage = IdentityStage(IdentityConfig(teams=False, gallery=False), fps=30, embedder=ColourEmbedder())
    assert stage.summary()["swap_repair"] is False


def test_the_thumbnail_shows_who_the_identity_was_most_of_the_time_not_a_clearer_player_it_drifted_onto():
    # tracker 1 follows red for 60 frames, then drifts onto blue, seen larger (a clearer crop), for 20
    stage = IdentityStage(IdentityConfig(teams=False), fps=30, embedder=MeanColour())
    delay = DelayLine(3, stage)
    for index in range(80):
        colour, height = (RED, 150) if index < 60 else (BLUE, 250)
        image = np.full((480, 640, 3), 120, dtype=np.uint8)
        image[100 : 100 + height, 200:260] = colour
        boxes = np.array([[200, 100, 260, 100 + height]], dtype=np.float32)
        players = stage.observe(index, image, 1.0, detections(boxes, [1]))
        list(delay.push(TrackedFrame(index, index / 30, None, players)))
    list(delay.flush())
    assert stage.gallery is not None
    (pid,) = stage.released
    clearest = stage.gallery.thumbnails(pid)[0]
    assert clearest.frame >= 60  # the clearest crop is blue's ...
    data = stage.thumbnail_jpeg(pid)
    assert data is not None
    thumb = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    b, _g, r = thumb.reshape(-1, 3).mean(axis=0)
    assert r > 150 and b < 80  # ... but the thumbnail is red's
    # without an embedder to judge the crops, the clearest one is shown
    assert stage.gallery.jpeg(pid) == clearest.jpeg


def test_the_gallery_keeps_the_best_crop_of_each_of_its_best_moments():
    from hoopsense.identity.gallery import BUCKET_FRAMES, KEEP, Gallery

    gallery = Gallery()
    image = np.full((480, 640, 3), 120, dtype=np.uint8)
    image[100:300, 200:260] = RED
    box = np.array([[200, 100, 260, 300]], np.float32)
    moments = KEEP + 3
    # confidence rises from moment to moment, and within a moment peaks where (frame * 7) % 11 == 10
    conf = lambda f: 0.2 + 0.05 * (f // BUCKET_FRAMES) + 0.01 * ((f * 7) % 11)  # noqa: E731
    for frame in range(BUCKET_FRAMES * moments):
        gallery.offer(frame, image, box, np.array([conf(frame)], np.float32), np.array([1]), 1.0)
    kept = gallery.fragments[1]
    assert sorted(t.frame // BUCKET_FRAMES for t in kept) == list(range(moments - KEEP, moments))
    assert all((t.frame * 7) % 11 == 10 for t in kept)  # each moment's best frame
    assert [t.score for t in kept] == sorted((t.score for t in kept), reverse=True)
    # a second fragment of the same identity competes moment by moment
    for frame in range(BUCKET_FRAMES * moments, BUCKET_FRAMES * (moments + 2)):
        gallery.offer(frame, image, box, np.array([0.99], np.float32), np.array([2]), 1.0)
    gallery.merge(1, 9)
    gallery.merge(2, 9)
    assert 1 not in gallery.fragments and 2 not in gallery.fragments
    merged = [t.frame // BUCKET_FRAMES for t in gallery.thumbnails(9)]
    assert merged[:2] == [moments, moments + 1] or merged[:2] == [moments + 1, moments]
    assert sorted(merged) == list(range(moments - KEEP + 2, moments + 2))
    gallery.forget([9, 1])  # nothing to forget: identities are kept
    assert len(gallery.thumbnails(9)) == KEEP


def test_crops_of_tracks_too_short_to_be_written_are_let_go():
    from hoopsense.identity.stage import FORGET_AFTER

    stage = IdentityStage(IdentityConfig(teams=False), fps=30, embedder=MeanColour())
    # a flicker (tracker 9, 3 frames: dropped by a delay line wanting 5), then a steady player
    script = [[(RED, 100, 1)] + ([(BLUE, 400, 9)] if f < 3 else []) for f in range(FORGET_AFTER + 40)]
    run(stage, script, min_frames=5)
    assert stage.gallery is not None and not stage.gallery.fragments  # the flicker's crops are gone
    assert len(stage.released) == 1


def test_handed_over_rows_take_their_crops_with_them():
    from hoopsense.identity.gallery import BUCKET_FRAMES, Gallery

    gallery = Gallery()
    image = np.full((480, 640, 3), 120, dtype=np.uint8)
    box = np.array([[200, 100, 260, 300]], np.float32)
    for frame in range(0, 4 * BUCKET_FRAMES, 5):
        gallery.offer(frame, image, box, np.array([0.5], np.float32), np.array([1]), 1.0)
    gallery.offer(3 * BUCKET_FRAMES + 1, image, box, np.array([0.1], np.float32), np.array([2]), 1.0)
    gallery.hand_over(1, 2 * BUCKET_FRAMES, 2)
    assert sorted(t.frame // BUCKET_FRAMES for t in gallery.fragments[1]) == [0, 1]
    moved = sorted((t.frame // BUCKET_FRAMES, t.frame) for t in gallery.fragments[2])
    # fragment 2's own crop of moment 3 was poorer: the handed-over one of that moment replaces it
    assert [m for m, _ in moved] == [2, 3] and moved[1][1] != 3 * BUCKET_FRAMES + 1
    gallery.hand_over(1, 0, 3)  # everything: fragment 1 has no crops left
    assert 1 not in gallery.fragments and len(gallery.fragments[3]) == 2


GREEN = (40, 200, 40)


def test_a_chain_of_drifted_tracks_is_undone_in_every_output():
    """Tracker 1 follows red, 2 blue, 3 green; at frame 20 tracker 3 loses green, tracker 2 moves onto green and
    tracker 1 onto blue (both at their places). Red comes back as tracker 5 at 35: he takes red's identity from
    tracker 1, whose rows from 35 on (blue) take blue's from tracker 2, whose rows (green) link to green's."""
    script = [[(RED if f < 20 else BLUE, 100, 1), (BLUE if f < 20 else GREEN, 250, 2),
               *([(GREEN, 400, 3)] if f < 20 else []), *([(RED, 550, 5)] if f >= 35 else [])]
              for f in range(60)]  # fmt: skip
    for min_frames in (3, 10):
        stage = IdentityStage(IdentityConfig(teams=False, gallery=False), fps=30, embedder=MeanColour())
        frames = run(stage, script, min_frames=min_frames)
        at = [{float(x): int(p) for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0])} for fr in frames]
        red, blue, green = at[0][100.0], at[0][250.0], at[0][400.0]
        assert all(len(set(a.values())) == len(a) for a in at)  # never one identity twice in a frame
        assert at[59] == {100.0: blue, 250.0: green, 550.0: red}, (min_frames, at[59])
        assert all(a == at[59] for a in at[35:]), min_frames
        assert stage.summary()["reclaims"] == 2 and stage.summary()["identities"] == 3


def test_thumbnails_and_team_colours_follow_the_rows_a_reclaim_hands_over():
    """Tracker 1 follows red, then (frame 20) blue, seen sharper from 35 on; red comes back at 35. Blue's crops
    of 35 on are not red's thumbnails (they would win their moment), and blue's new fragment gathers jersey
    colours at once."""
    script = [[(RED if f < 20 else BLUE, 100, 1, 0.5 if f < 35 else 0.99), *([(RED, 400, 5, 0.5)] if f >= 35 else [])]
              for f in range(70)]  # fmt: skip
    stage = IdentityStage(IdentityConfig(teams=False), fps=30, embedder=MeanColour())
    frames = run(stage, script, min_frames=10)
    red, blue = int(frames[0].players.tracker_id[0]), int(frames[-1].players.tracker_id[0])
    assert stage.summary()["reclaims"] == 1 and red != blue
    assert stage.gallery is not None
    late = [t for t in stage.gallery.thumbnails(red) if t.frame >= 35]
    assert late and all(t.image[:, :, 2].mean() > 150 for t in late)  # red's own crops (BGR), not blue's
    assert any(t.frame >= 35 for t in stage.gallery.thumbnails(blue))
    # with teams, the fragment that took over blue's rows samples his jersey every frame until it has enough
    # for a team (5), not every 5th frame, so his team is not judged on one or two samples when his rows leave
    stage = IdentityStage(IdentityConfig(), fps=30, embedder=MeanColour())
    frames = run(stage, script, min_frames=10)
    rest = int(frames[35].players.data["track_id"][frames[35].players.xyxy[:, 0] < 300][0])
    assert stage.summary()["reclaims"] == 1 and rest != int(frames[34].players.data["track_id"][0])
    assert stage._colour_n[rest] >= 5


def test_over_a_long_run_the_samples_of_fragments_gone_for_good_are_let_go():
    """A red player leaves at frame 20 and comes back at 380 (another tracker ID) and a green flicker of two
    frames never reaches the outputs: by the end their fragments hold no samples, yet red is linked back to his
    identity (his gallery is kept); blue, seen throughout, keeps his latest samples."""
    stage = IdentityStage(IdentityConfig(teams=False, gallery=False), fps=30, embedder=MeanColour())
    script = red_leaves_and_returns(400, 20, 380, 9)
    for f in (40, 41):
        script[f].append(((40, 200, 40), 250, 5))  # green
    frames = run(stage, script)
    ids = [{int(x) // 100: int(p) for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0])} for fr in frames]
    assert ids[0][1] == ids[399][1] and ids[0][4] == ids[399][4]  # red linked back; blue kept his identity
    assert all(2 not in i for i in ids)  # the flicker was never written
    fragments = stage.linker.fragments.values()
    gone = [f for f in fragments if f.last_frame < 100]
    assert {f.tracker_id for f in gone} == {1, 5}
    assert all(not f.samples and not f.recent for f in gone)
    (blue,) = [f for f in fragments if f.tracker_id == 2]
    assert len(blue.recent) > 0


def test_a_long_team_warm_up_holds_frames_and_nothing_of_theirs_is_let_go_before_they_leave():
    """With 16 s of warm-up the stream holds 480 frames back: a red player seen only in frames 0-3 (his rows
    still held at frame 300) keeps his samples and crops until they leave, so he is linked back at frame 480 and
    has his thumbnail."""
    stage = IdentityStage(IdentityConfig(team_warmup_s=16.0), fps=30, embedder=MeanColour())
    frames = run(stage, red_leaves_and_returns(520, 4, 480, 9))
    red = [{int(p) for p, x in zip(fr.players.tracker_id, fr.players.xyxy[:, 0]) if x < 300} for fr in frames]
    assert red[0] and red[0] == red[500]
    (pid,) = red[0]
    assert stage.thumbnail_jpeg(pid) is not None
