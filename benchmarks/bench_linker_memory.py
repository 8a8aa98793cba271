"""Memory and time of re-identification bookkeeping over a whole game: the linker, with and without ``forget``.

The clips in ``../shared`` last seconds; a game lasts two hours, with camera
cuts every few seconds (after each, everyone is a new tracker fragment). This
drives :class:`~hoopsense.identity.linker.Linker` through such a game without
pictures: ``--people`` people, ``--visible`` on screen at once, each for 30-300
frames at a time, a cut with probability 0.3 every 125 frames (everyone then
comes back as a new fragment), 512-value embeddings (OSNet's) drawn around
each person's look, sampled as the identity stage samples them (every frame
until decided, then every 5th). Swap repair and reclaim are on, as by default.

Two runs of the same game, side by side: ``forget`` every 30 frames for the
fragments unseen for 300 frames (what the identity stage does), and without
it. Each prints, per ``--every`` minutes of game, the time per frame, the
fragments and identities so far, and the Python memory held (tracemalloc).

    python benchmarks/bench_linker_memory.py --minutes 120
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from hoopsense.identity.linker import Linker, LinkerConfig

DIM = 512
SAMPLE_EVERY = 5


def game(minutes: float, fps: int, people: int, visible: int, every: float, forget: bool) -> list[tuple]:
    rng = np.random.default_rng(0)
    looks = rng.normal(size=(people, DIM))
    looks /= np.linalg.norm(looks, axis=1, keepdims=True)
    linker = Linker(LinkerConfig(swap_margin=0.0, reclaim_margin=0.05))
    on: dict[int, tuple[int, int]] = {}  # person -> (tracker id, frames left)
    next_tid = 0
    rows = []
    period = int(every * 60 * fps)
    tracemalloc.start()
    started = time.perf_counter()
    for frame in range(int(minutes * 60 * fps)):
        if frame % 125 == 0 and rng.random() < 0.3:
            on = {}  # a camera cut: the tracker starts afresh
        on = {p: (t, left - 1) for p, (t, left) in on.items() if left > 1}
        while len(on) < visible:
            p = int(rng.integers(people))
            if p not in on:
                next_tid += 1
                on[p] = (next_tid, int(rng.integers(30, 300)))
        who = list(on)
        fids = linker.observe(frame, [on[p][0] for p in who])
        due = [i for i, f in enumerate(fids) if linker.needs_samples(f) or frame % SAMPLE_EVERY == 0]
        if due:
            batch = looks[[who[i] for i in due]] + rng.normal(scale=0.03, size=(len(due), DIM))
            batch /= np.linalg.norm(batch, axis=1, keepdims=True)
            linker.add_samples([fids[i] for i in due], batch.astype(np.float32))
        linker.decide(linker.ready())
        if forget and frame % 30 == 0:
            linker.forget(frame - 300)
        if (frame + 1) % period == 0:
            now = time.perf_counter()
            held = tracemalloc.get_traced_memory()[0] / 1e6
            rows.append(((frame + 1) / fps / 60, (now - started) / period * 1000, len(linker.fragments),
                         len(linker.identities), held))  # fmt: skip
            started = now
    tracemalloc.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="game length (default: 120)")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--people", type=int, default=20, help="people in the game: players, referees, staff")
    parser.add_argument("--visible", type=int, default=10, help="people on screen at once")
    parser.add_argument("--every", type=float, default=20.0, help="minutes of game between report lines")
    args = parser.parse_args()
    results = {
        name: game(args.minutes, args.fps, args.people, args.visible, args.every, forget)
        for name, forget in (("forget (as in analyze)", True), ("without forget", False))
    }
    print(f"| minute | {' | '.join(f'{n}: ms/frame, fragments, identities, MB' for n in results)} |")
    print("|---|" + "---|" * len(results))
    for i, row in enumerate(next(iter(results.values()))):
        cells = [f"{r[i][1]:.2f}, {r[i][2]}, {r[i][3]}, {r[i][4]:.1f}" for r in results.values()]
        print(f"| {row[0]:.0f} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
