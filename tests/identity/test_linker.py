"""Linking tracker fragments into identities: appearance decides, co-visibility forbids."""

from __future__ import annotations

import numpy as np
import pytest

from hoopsense.errors import ConfigError
from hoopsense.identity.linker import Linker, LinkerConfig

DIM = 16


def look(seed: int, noise: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """A person's appearance: a fixed random unit vector per ``seed``, optionally jittered."""
    v = np.random.default_rng(seed).normal(size=DIM)
    if noise:
        v = v + (rng or np.random.default_rng()).normal(scale=noise, size=DIM)
    return (v / np.linalg.norm(v)).astype(np.float32)


FORGET_LAG = 30  # frames unseen after which run() lets go of a fragment's samples (the stage: 300)


def run(linker: Linker, frames: dict[int, list[tuple[int, int]]], noise: float = 0.05) -> dict[int, dict[int, int]]:
    """Feed ``{frame: [(tracker id, person), ...]}``; returns ``{frame: {tracker id: identity}}`` decided at once.
    As the identity stage does, though sooner, the samples of fragments unseen for ``FORGET_LAG`` frames are let go
    (every scenario here decides the same without)."""
    rng = np.random.default_rng(0)
    out: dict[int, dict[int, int]] = {}
    fragments_at: dict[int, tuple[list[int], np.ndarray]] = {}
    for frame in sorted(frames):
        tids = [t for t, _ in frames[frame]]
        fids = linker.observe(frame, tids)
        linker.add_samples(fids, np.stack([look(p, noise, rng) for _, p in frames[frame]]))
        linker.decide(linker.ready())
        linker.forget(frame - FORGET_LAG)
        fragments_at[frame] = (tids, fids)
    for frame, (tids, fids) in fragments_at.items():
        out[frame] = {t: linker.identity_of(linker.fragment_at(int(f), frame)) for t, f in zip(tids, fids, strict=True)}
    return out


def test_fragments_of_one_person_are_linked_across_a_gap():
    linker = Linker()
    # person 7 as tracker ID 1 (frames 0-19), lost, then back as tracker ID 2 (frames 40-59)
    frames = {f: [(1, 7)] for f in range(20)} | {f: [(2, 7)] for f in range(40, 60)}
    ids = run(linker, frames)
    assert ids[0][1] == ids[50][2]
    assert len(linker.identities) == 1
    assert linker.linked == 1
    assert len(linker.fragments) == 2


def test_different_people_never_seen_together_are_not_linked():
    linker = Linker()
    frames = {f: [(1, 7)] for f in range(20)} | {f: [(2, 8)] for f in range(40, 60)}
    ids = run(linker, frames)
    assert ids[0][1] != ids[50][2]
    assert len(linker.identities) == 2
    assert linker.linked == 0


def test_people_visible_at_once_are_never_linked_even_when_they_look_alike():
    linker = Linker()
    # two people of identical appearance (same seed) side by side in every frame
    frames = {f: [(1, 7), (2, 7)] for f in range(30)}
    ids = run(linker, frames, noise=0.0)
    assert ids[10][1] != ids[10][2]
    assert len(linker.identities) == 2


def test_a_new_fragment_cannot_take_the_identity_of_someone_still_visible():
    linker = Linker()
    # person 7 (tracker 1) stays visible; a look-alike (tracker 2) appears at frame 10
    frames = {f: [(1, 7)] for f in range(10)} | {f: [(1, 7), (2, 7)] for f in range(10, 30)}
    ids = run(linker, frames, noise=0.0)
    assert ids[20][1] != ids[20][2]


def test_two_returning_fragments_do_not_share_one_identity():
    linker = Linker()
    # person 7 leaves at frame 19; two look-alikes (trackers 2 and 3) come back together at frame 40
    frames = {f: [(1, 7)] for f in range(20)} | {f: [(2, 7), (3, 7)] for f in range(40, 60)}
    ids = run(linker, frames, noise=0.0)
    assert ids[50][2] != ids[50][3]
    assert ids[0][1] in (ids[50][2], ids[50][3])


def test_ambiguous_look_alikes_start_a_new_identity():
    linker = Linker(LinkerConfig(max_distance=0.5, margin=0.05))
    # persons 7 and 8 seen, both leave; a fragment equally close to both returns: not guessed
    a, b = look(7), look(8)
    mid = (a + b) / np.linalg.norm(a + b)
    for f in range(10):
        fids = linker.observe(f, [1, 2])
        linker.add_samples(fids, np.stack([a, b]))
        linker.decide(linker.ready())
    fids = linker.observe(30, [3])
    linker.add_samples(fids, mid[None])
    linker.decide(fids)
    assert linker.identity_of(int(fids[0])) not in (linker.identity_of(1), linker.identity_of(2))


def test_tracker_id_reappearing_after_its_identity_moved_on_is_a_new_fragment():
    linker = Linker()
    # person 7: tracker 1 (0-9), lost; back as tracker 2 (20-29) and linked; tracker 1 re-found at 40
    frames = {f: [(1, 7)] for f in range(10)} | {f: [(2, 7)] for f in range(20, 30)}
    run(linker, frames, noise=0.0)
    fid = linker.observe(40, [1])[0]
    assert fid not in (1, 2)
    assert linker.fragments[int(fid)].identity is None


def test_a_fragment_released_before_it_has_samples_is_decided_at_once():
    linker = Linker()
    fids = linker.observe(0, [5])
    assert linker.ready() == []
    assert linker.identity_of(int(fids[0])) == 1


def test_config_is_checked():
    with pytest.raises(ConfigError):
        LinkerConfig(max_distance=-1)
    with pytest.raises(ConfigError):
        LinkerConfig(samples_to_decide=0)


def test_a_tracker_id_moved_onto_another_player_is_split_and_each_returns_to_his_own():
    """The pick-and-roll: tracker 1 follows person 7, then (frame 30) jumps onto person 8 whose own tracker 2
    was lost there; person 7 comes back as tracker 3 at frame 50."""
    linker = Linker(LinkerConfig(split_distance=0.3))
    frames = {f: [(1, 7), (2, 8)] for f in range(30)}
    frames |= {f: [(1, 8)] for f in range(30, 70)}
    frames |= {f: [(1, 8), (3, 7)] for f in range(50, 70)}
    ids = run(linker, frames)
    seven, eight = ids[0][1], ids[0][2]
    assert seven != eight and linker.splits == 1
    # the split takes split_samples (3) samples unlike person 7: frames 30-32 still show 7's identity
    assert [ids[f][1] for f in (30, 31, 32)] == [seven] * 3
    assert all(ids[f][1] == eight for f in range(33, 70))  # then tracker 1 is person 8 again
    assert all(ids[f][3] == seven for f in range(50, 70))  # and person 7 takes his own identity back
    assert len(linker.identities) == 2
    # the samples of person 8 never entered person 7's gallery
    gallery = np.stack(linker.identities[seven].gallery)
    assert float(np.max(gallery @ look(8))) < 0.7


def test_a_short_change_of_appearance_is_not_a_split_and_splitting_is_off_by_default():
    rng = np.random.default_rng(1)
    for config, splits in ((LinkerConfig(split_distance=0.3), 0), (LinkerConfig(), 0)):
        linker = Linker(config)
        for f in range(40):
            fids = linker.observe(f, [1])
            # two frames (an occlusion by person 8) in the middle of person 7's track: not three in a row
            who = 8 if f in (20, 21) else 7
            linker.add_samples(fids, look(who, 0.05, rng)[None])
            linker.decide(linker.ready())
        assert linker.splits == splits and len(linker.fragments) == 1
    # without split_distance even a lasting change keeps the fragment (the linker before splitting existed)
    linker = Linker()
    ids = run(linker, {f: [(1, 7)] for f in range(20)} | {f: [(1, 8)] for f in range(20, 40)})
    assert linker.splits == 0 and ids[0][1] == ids[39][1]
    with pytest.raises(ConfigError):
        LinkerConfig(split_distance=3)
    with pytest.raises(ConfigError):
        LinkerConfig(split_samples=0)


SWAP = LinkerConfig(swap_margin=0.0)


def _near_only(linker: Linker, identity: int, person: int) -> bool:
    """Every embedding in the identity's gallery is ``person``'s look (the other player's never entered it)."""
    gallery = np.stack(linker.identities[identity].gallery)
    return bool(np.all(gallery @ look(person) > 0.9))


def test_two_players_whose_tracker_ids_swapped_get_their_identities_back():
    """A screen: trackers 1 and 2 follow persons 7 and 8, then (frame 20) trade them. Each now looks like the
    other's identity: from the second such sample on, each tracker ID continues as the other's identity."""
    linker = Linker(SWAP)
    frames = {f: [(1, 7), (2, 8)] for f in range(20)} | {f: [(1, 8), (2, 7)] for f in range(20, 40)}
    ids = run(linker, frames)
    seven, eight = ids[0][1], ids[0][2]
    assert seven != eight and linker.swaps == 1
    assert (ids[20][1], ids[21][1]) == (seven, seven)  # the rows before the swap was seen keep the old identity
    assert all(ids[f][1] == eight and ids[f][2] == seven for f in range(22, 40))
    assert len(linker.identities) == 2 and len(linker.fragments) == 4
    # the samples that showed the swap went to the right person, never to the wrong one
    assert _near_only(linker, seven, 7) and _near_only(linker, eight, 8)


def test_the_samples_that_showed_a_swap_go_to_the_new_fragments_and_a_swap_can_fire_mid_frame():
    """Tracker 1 turns to person 8 a frame before tracker 2 turns to person 7, and tracker 2 is sampled first in
    each frame: the swap fires at frame 22 on tracker 2's sample, before tracker 1's sample of that frame, which
    must reach tracker 1's new fragment (person 8's identity), not be lost."""
    linker = Linker(SWAP)
    frames = {f: [(2, 8), (1, 7)] for f in range(20)} | {20: [(2, 8), (1, 8)]}
    frames |= {f: [(2, 7), (1, 8)] for f in range(21, 24)}
    ids = run(linker, frames)
    seven, eight = ids[0][1], ids[0][2]
    assert linker.swaps == 1
    current = {linker.fragments[fid].tracker_id: linker.fragments[fid] for fid in linker._current.values()}
    assert current[1].identity == eight and current[2].identity == seven
    # every sample of each person is in his own identity: person 7 20 + 3 (frames 21-23 under tracker 2), person 8
    # 20 + 1 (frame 20 under tracker 2) + 4 (frames 20-23 under tracker 1)
    assert (linker.identities[seven].samples, linker.identities[eight].samples) == (23, 25)
    assert _near_only(linker, seven, 7) and _near_only(linker, eight, 8)


def test_a_partner_with_a_single_sample_like_the_other_is_no_swap():
    """Tracker 1 looks like person 8 from frame 20 on (drifted onto him); tracker 2 (person 8) looks like person
    7 in one frame only: one odd sample is no swap."""
    linker = Linker(SWAP)
    frames = {f: [(1, 7), (2, 8)] for f in range(20)} | {f: [(1, 8), (2, 8)] for f in range(20, 30)}
    frames[21] = [(1, 8), (2, 7)]
    ids = run(linker, frames)
    assert linker.swaps == 0 and ids[29] == ids[0]


def test_a_third_player_is_not_swapped_in():
    """Tracker 1 (person 7) comes to look like person 8, and tracker 2 (person 8) like person 9 (tracker 3): no
    two of them look like each other's identity, so nobody is swapped."""
    linker = Linker(SWAP)
    frames = {f: [(1, 7), (2, 8), (3, 9)] for f in range(20)} | {f: [(1, 8), (2, 9), (3, 9)] for f in range(20, 40)}
    ids = run(linker, frames)
    assert linker.swaps == 0 and ids[39] == ids[0]


def test_two_fragments_of_one_person_are_never_swapped():
    """A doubled box: tracker 3 follows person 7 beside tracker 1 for a while (a new identity, as tracker 1 is
    visible). Each looks like the other's identity about half the time; swapping them would hand person 7's
    identity to the short double."""
    for seed in range(20):
        linker = Linker(SWAP)
        rng = np.random.default_rng(seed)
        for f in range(60):
            people = [(1, 7)] + ([(3, 7)] if 20 <= f < 50 else [])
            fids = linker.observe(f, [t for t, _ in people])
            linker.add_samples(fids, np.stack([look(p, 0.08, rng) for _, p in people]))
            linker.decide(linker.ready())
        first = linker.fragments[1].identity
        assert linker.swaps == 0, seed
        assert linker.fragments[linker._current[1]].identity == first, seed


def test_swapped_ids_stay_swapped_without_swap_repair():
    """The linker as it was before swap repair: the stage asks for it with --swap-repair off and with colour
    histograms (see test_stage)."""
    linker = Linker()
    frames = {f: [(1, 7), (2, 8)] for f in range(20)} | {f: [(1, 8), (2, 7)] for f in range(20, 40)}
    ids = run(linker, frames)
    assert linker.swaps == 0 and ids[39][1] == ids[0][1] and ids[39][2] == ids[0][2]


def test_with_split_distance_a_sample_like_another_player_counts_toward_a_split_but_never_joins_the_gallery():
    """Tracker 1 (person 7) shows person 8's look once (far from 7, nearest 8: held), then his own again: no
    split, and with swap repair 8's look does not enter 7's gallery when the row is let go, so that three of 8's
    in a row later still split the track."""
    for swap in (None, 0.0):
        linker = Linker(LinkerConfig(split_distance=0.3, swap_margin=swap))
        frames = {f: [(1, 7), (2, 8)] for f in range(20)} | {20: [(1, 8), (2, 8)]}
        frames |= {f: [(1, 7), (2, 8)] for f in range(21, 30)}
        ids = run(linker, frames)
        seven = ids[0][1]
        assert linker.splits == 0, swap
        if swap is not None:  # without swap repair the broken row joins the gallery ("his after all")
            assert _near_only(linker, seven, 7)
        if swap is not None:  # and then three of 8's in a row still split it (without repair 8's look, let in
            frames |= {f: [(1, 8), (2, 8)] for f in range(30, 33)}  # at frame 21, keeps them near enough)
            linker = Linker(LinkerConfig(split_distance=0.3, swap_margin=swap))
            run(linker, frames)
            assert linker.splits == 1 and linker.swaps == 0


def test_one_track_drifting_onto_another_player_is_not_a_swap():
    """Tracker 1 drifts onto person 8, whom tracker 2 still follows: only one side looks like the other, so
    nothing is swapped, and the drifted samples stay out of person 7's gallery."""
    linker = Linker(SWAP)
    frames = {f: [(1, 7), (2, 8)] for f in range(40)} | {f: [(1, 8), (2, 8)] for f in range(20, 40)}
    ids = run(linker, frames)
    seven = ids[0][1]
    assert linker.swaps == 0 and ids[39][1] == seven and ids[39][2] == ids[0][2]
    assert _near_only(linker, seven, 7)


def test_one_sample_each_like_the_other_is_not_a_swap():
    """A single frame in which each looks like the other (one passing the other) swaps nothing."""
    linker = Linker(SWAP)
    frames = {f: [(1, 7), (2, 8)] for f in range(40)} | {20: [(1, 8), (2, 7)]}
    ids = run(linker, frames)
    assert linker.swaps == 0 and ids[39][1] == ids[0][1] and len(linker.fragments) == 2
    with pytest.raises(ConfigError):
        LinkerConfig(swap_margin=-0.1)
    with pytest.raises(ConfigError):
        LinkerConfig(swap_samples=0)


def test_someone_not_seen_lately_is_no_swap_partner():
    """Tracker 2 looked like person 7 for a moment (frames 10-11), then left with person 8; long after, tracker 1
    drifting onto someone like person 8 is no swap: person 8 is not in the picture."""
    frames = {f: [(1, 7), (2, 8)] for f in range(10)} | {f: [(1, 7), (2, 7)] for f in (10, 11)}
    frames |= {f: [(1, 8)] for f in range(40, 50)}
    for recent, swaps in ((5, 0), (1000, 1)):  # with every identity a candidate, the old crossing would pair up
        linker = Linker(LinkerConfig(swap_margin=0.0, swap_recent=recent))
        run(linker, frames)
        assert linker.swaps == swaps


RECLAIM = LinkerConfig(reclaim_margin=0.1)


def test_a_returning_player_takes_his_identity_back_from_a_track_that_drifted_onto_another():
    """Tracker 1 follows person 7 and tracker 2 person 8; at frame 30 tracker 2 loses person 8 and tracker 1 jumps
    onto him. Person 7 comes back as tracker 3 at frame 40, while his identity is still shown on person 8: tracker
    3 takes it back from its first frame, and tracker 1 goes on as a new fragment, which then links to person 8's
    own identity (not visible since frame 29)."""
    frames = {f: [(1, 7), (2, 8)] for f in range(30)} | {f: [(1, 8)] for f in range(30, 70)}
    frames |= {f: [(1, 8), (3, 7)] for f in range(40, 70)}
    linker = Linker(RECLAIM)
    ids = run(linker, frames)
    seven, eight = ids[0][1], ids[0][2]
    assert linker.reclaims == 1 and len(linker.identities) == 2
    assert all(ids[f][3] == seven for f in range(40, 70))
    assert all(ids[f][1] == seven for f in range(30, 40))  # rows before the new fragment keep the identity
    assert all(ids[f][1] == eight for f in range(40, 70))
    assert all(len(set(row.values())) == len(row) for row in ids.values())  # never one identity twice in a frame
    # off (the default), person 7 comes back as somebody new and tracker 1 keeps his identity on person 8
    plain = run(Linker(), frames)
    assert plain[69][1] == seven and plain[69][3] not in (seven, eight)


def test_a_player_boxed_twice_takes_no_identity_from_his_own_track():
    """A second box on person 7 (tracker 2, frame 20 on) looks like him, but so does his own track: no reclaim."""
    frames = {f: [(1, 7)] for f in range(20)} | {f: [(1, 7), (2, 7)] for f in range(20, 40)}
    linker = Linker(RECLAIM)
    ids = run(linker, frames)
    assert linker.reclaims == 0 and ids[39][1] == ids[0][1] != ids[39][2]


def test_a_swap_under_way_is_left_to_swap_repair():
    """Trackers 1 and 2 trade persons 7 and 8 (tracker 1 at frame 20, tracker 2 at frame 22), while a second box
    on person 7 (tracker 3) appears at frame 18. When tracker 3 is decided (frame 22) tracker 1 no longer looks
    like person 7, but the two tracks look like each other's identities: swap repair gives both back (frame 23)
    rather than tracker 3 taking person 7's identity and leaving person 8's on person 7."""
    frames = {f: [(1, 7), (2, 8)] for f in range(20)} | {f: [(1, 8), (2, 8)] for f in (20, 21)}
    frames |= {f: [(1, 8), (2, 7)] for f in range(22, 40)}
    for f in range(18, 40):
        frames[f] = [*frames[f], (3, 7)]
    linker = Linker(LinkerConfig(swap_margin=0.0, reclaim_margin=0.1))
    ids = run(linker, frames)
    seven, eight = ids[0][1], ids[0][2]
    assert linker.swaps == 1 and linker.reclaims == 0
    assert ids[39][1] == eight and ids[39][2] == seven and ids[39][3] not in (seven, eight)


def test_reclaim_margin_is_checked():
    with pytest.raises(ConfigError):
        LinkerConfig(reclaim_margin=-0.1)


def test_a_reclaimed_identity_forgets_the_look_of_the_player_its_track_had_drifted_onto():
    """As above, but both leave at frame 70 and person 8 comes back alone (tracker 9) at frame 90: he links to
    his own identity. Person 7's gallery had taken in person 8's look while tracker 1 followed him (frames 30-39);
    kept, it would leave person 8 two candidates that look like him, and him somebody new."""
    frames = {f: [(1, 7), (2, 8)] for f in range(30)} | {f: [(1, 8)] for f in range(30, 70)}
    frames |= {f: [(1, 8), (3, 7)] for f in range(40, 70)} | {f: [(9, 8)] for f in range(90, 110)}
    linker = Linker(RECLAIM)
    ids = run(linker, frames)
    seven, eight = ids[0][1], ids[0][2]
    assert linker.reclaims == 1 and ids[100][9] == eight and len(linker.identities) == 2
    assert _near_only(linker, seven, 7)


def _long_game(forget: bool) -> tuple[Linker, list[int]]:
    """2000 frames of 6 people out of 10, each on screen 40-160 frames at a time, with swap repair and reclaim
    on; ``forget``: the samples of fragments unseen for 300 frames are let go, as the identity stage does."""
    rng = np.random.default_rng(3)
    linker = Linker(LinkerConfig(swap_margin=0.0, reclaim_margin=0.05))
    on: dict[int, list[int]] = {}  # person -> [tracker id, frames left]
    next_tid, decided = 0, []
    for frame in range(2000):
        on = {p: [t, left - 1] for p, (t, left) in on.items() if left > 1}
        while len(on) < 6:
            person = int(rng.integers(10))
            if person not in on:
                next_tid += 1
                on[person] = [next_tid, int(rng.integers(40, 160))]
        people = sorted(on)
        fids = linker.observe(frame, [on[p][0] for p in people])
        linker.add_samples(fids, np.stack([look(p, 0.05, rng) for p in people]))
        linker.decide(linker.ready())
        decided += [linker.identity_of(int(f)) for f in fids]
        if forget and frame % 30 == 0:
            linker.forget(frame - 300)
    return linker, decided


def test_a_long_game_keeps_the_samples_of_recent_fragments_only_and_decides_the_same():
    kept, decided = _long_game(forget=True)
    whole, decided_whole = _long_game(forget=False)
    assert decided == decided_whole  # letting go of old fragments' samples changes no identity
    assert len(kept.fragments) > 100 and len(kept.identities) == 10

    def held(linker: Linker) -> int:  # embeddings held by fragments
        return sum(len(f.samples) + len(f.recent) + len(f.drift) + len(f.crossed) for f in linker.fragments.values())

    recent = [f for f in kept.fragments.values() if f.last_frame >= 2000 - 330]
    assert held(kept) <= len(recent) * (3 + 5)  # RECENT_SAMPLES + samples_to_decide each, at most
    assert held(whole) > 2 * len(kept.fragments)  # without forget, every old fragment keeps its latest samples


def test_samples_do_not_keep_the_callers_batch_alive():
    import gc
    import weakref

    linker = Linker()
    batch = np.stack([look(1), look(2)] * 64)  # one batch of the re-ID network: 128 rows
    ref = weakref.ref(batch)
    for frame in range(6):  # decided after 5 samples: rows go into the gallery and the fragment's latest samples
        fids = linker.observe(frame, [1, 2])
        linker.add_samples(fids, batch[:2] if frame < 5 else batch[2:4])
        linker.decide(linker.ready())
    del batch
    gc.collect()
    assert ref() is None and len(linker.identities) == 2
