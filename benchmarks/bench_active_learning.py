"""Does labelling the least-confident clips first beat labelling them in the listed order?

A labelling app can order the unlabelled clips "least-confident first": the
model trained on the labels so far scores every unlabelled clip and the ones
whose top-class probability is lowest come first. This script measures, on the
synthetic motion set of the tests (``tests/motion.py``: four classes, left,
right, bounce and still, that differ only in motion), how many labels each
order needs to reach a given validation accuracy.

Set-up (data, listed order and training are seeded; CPU training is still not
bit-identical from run to run: the same 16 clips gave 0.30 in one run and 0.40
in another, so compare strategies over several ``--repeats``, not one seed):

* a pool of ``--per-class`` clips per class (or ``--pool-counts``, a game-like
  imbalance where most clips are one class; seed ``--seed``) and a separate,
  fixed, balanced held-out validation set of ``--val-per-class`` clips per class (another
  seed), copied into one SpaceJam-format folder;
* the pool is listed in a seeded random order, unrelated to the class, as the
  clips of a real game would be ("in order" is not class-blocked);
* for each label budget k (``--budgets``), each strategy picks k clips:

  - ``in-order``: the first k clips of the list;
  - ``least-confident``: the first ``--seed-batch`` clips of the list, then,
    round by round, the model trained on the labels so far predicts every
    unlabelled pool clip (the checkpoint through ``Recognizer``, clips
    preprocessed as ``hoopsense evaluate`` does) and the clips with the lowest
    top-class probability are added up to the next budget;
  - ``balanced``: least-confident, taken in turn from each class the model
    guesses (the least confident clip guessed as each class, then the second
    least confident of each, ...), so that a weak early model cannot fill a
    batch with one class; the labeller's "least confident first" order;
  - ``covering``: the labeller's "least confident first" order
    (``hoopsense.label.order.label_order``): the seed batch is the first clips of
    its "varied first" order (no model: the most typical clip of each cluster of
    motion descriptors, clusters dealt out by the square root of their size),
    then, round by round, the next clips come from the clusters in proportion to
    sqrt(size) x the model's mean uncertainty there, least confident first within
    a cluster;
  - ``varied`` (optional): the "varied first" order alone, no model at any
    budget: how much of ``covering``'s gain is the spread alone;
  - ``margin`` (optional): the same, smallest gap between the two most
    probable classes first;
  - ``mixed`` (optional): the same as least-confident, but half of each new
    batch are the next clips in the listed order;

* each round trains R(2+1)D-18 from scratch with the learning test's
  configuration (``tests/training/test_learning.py`` CONFIG: 8-frame 32-px
  clips, 12 epochs, no pretrained weights, workers 0) on exactly the labelled
  clips, through a split file, and validates on the held-out set after every
  epoch. The figures are those of the best checkpoint (best validation
  macro-F1), as in the learning test, whose bar is accuracy >= 0.9.

Printed: per strategy, labels -> validation accuracy and macro-F1 (mean over
``--repeats`` seeds), and the fewest labels at which the mean accuracy reaches
``--target`` (default 0.9). ``--json PATH`` writes the curves.

    PYTHONPATH=src python benchmarks/bench_active_learning.py            # in order vs the labeller's order: about 10 min
    PYTHONPATH=src python benchmarks/bench_active_learning.py --pool-counts 12 12 12 124   # a game-like pool
    PYTHONPATH=src python benchmarks/bench_active_learning.py --quick    # smoke run (learns nothing in 2 epochs), about 2 min
    PYTHONPATH=src python benchmarks/bench_active_learning.py --strategies in-order least-confident margin
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tests/motion.py: the synthetic motion set

STRATEGIES = ("in-order", "least-confident", "covering", "varied", "balanced", "margin", "mixed")


def learning_test_config():
    """The CONFIG of tests/training/test_learning.py, read from the test itself so the two never drift."""
    path = ROOT / "tests" / "training" / "test_learning.py"
    spec = importlib.util.spec_from_file_location("_learning_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CONFIG


def make_data(folder: Path, pool_counts: list[int], val_per_class: int, seed: int):
    """Pool and held-out clips in one SpaceJam folder: ids ``p0000000`` (pool) and ``v0000000`` (held out).

    ``pool_counts``: pool clips per class (left, right, bounce, still). Returns the loaded ClipSet,
    the pool ids in their listed (seeded random) order and the held-out ids."""
    from motion import make_motion_dataset

    from hoopsense.training.formats import load_dataset

    data_dir = folder / "data"
    data_dir.mkdir(parents=True)
    annotations: dict[str, int] = {}
    labels = None
    for prefix, counts, data_seed in (("p", pool_counts, seed), ("v", [val_per_class] * 4, seed + 100_003)):
        src = make_motion_dataset(folder / f"src-{prefix}", max(counts), seed=data_seed)
        kept = [0] * len(counts)
        for clip_id, label in json.loads((src / "annotation_dict.json").read_text()).items():
            if kept[label] == counts[label]:
                continue
            kept[label] += 1
            shutil.copyfile(src / f"{clip_id}.mp4", data_dir / f"{prefix}{clip_id}.mp4")
            annotations[prefix + clip_id] = label
        labels = (src / "labels_dict.json").read_text()
        shutil.rmtree(src)
    (data_dir / "annotation_dict.json").write_text(json.dumps(annotations))
    (data_dir / "labels_dict.json").write_text(labels)
    data = load_dataset(data_dir, "spacejam")
    pool = [r.id for r in data.records if r.id.startswith("p")]
    val = tuple(r.id for r in data.records if r.id.startswith("v"))
    order = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]
    return data, order, val


class Rounds:
    """Trains on a labelled set (cached: the same set trains once) and scores unlabelled clips."""

    def __init__(self, data, val: tuple[str, ...], config, folder: Path, truth: dict[str, int]) -> None:
        self.data, self.val, self.config, self.folder, self.truth = data, val, config, folder, truth
        self.cache: dict[frozenset[str], dict] = {}
        self.trained = 0
        self.tag = ""  # printed with each round's progress line

    def train(self, labelled: list[str]) -> dict:
        from hoopsense.training.loop import train
        from hoopsense.training.splits import Split, save_split

        key = frozenset(labelled)
        if key in self.cache:
            self.report(self.cache[key], "the same clips as an earlier round: not trained again")
            return self.cache[key]
        self.trained += 1
        run = self.folder / f"round{self.trained:03d}"
        run.mkdir()
        split_file = save_split(
            Split(tuple(labelled), self.val, (), self.config.seed, 0.2), run / "split.json", self.data
        )
        started = time.perf_counter()
        result = train(self.data, self.config, run / "model.pt", split_file=split_file)
        counts = np.bincount([self.truth[i] for i in labelled], minlength=len(self.data.labels))
        out = {
            "labels": len(labelled),
            "val_accuracy": result.best["val_accuracy"],
            "val_macro_f1": result.best["val_macro_f1"],
            "best_epoch": result.best_epoch,
            "class_counts": counts.tolist(),
            "checkpoint": run / "model.pt",
            "seconds": time.perf_counter() - started,
            "train_clips_per_s": float(np.mean([h["train_clips_per_s"] for h in result.history])),
        }
        self.cache[key] = out
        self.report(out, f"{out['seconds']:.0f} s, {out['train_clips_per_s']:.1f} training clips/s")
        return out

    def report(self, point: dict, note: str) -> None:
        print(
            f"  {self.tag:22s} {point['labels']:3d} labels: accuracy {point['val_accuracy']:.3f}, "
            f"macro-F1 {point['val_macro_f1']:.3f} (epoch {point['best_epoch']}, per class {point['class_counts']}; {note})",
            file=sys.stderr,
            flush=True,
        )

    def probabilities(self, checkpoint: Path, ids: list[str]) -> np.ndarray:
        """Class probabilities of ``ids`` from ``checkpoint``, clips preprocessed as ``hoopsense evaluate`` does."""
        from hoopsense.recognizer.recognizer import Recognizer, RecognizerConfig
        from hoopsense.training.loader import ClipDataset, ClipGeometry, make_loader
        from hoopsense.training.splits import records_of

        rec = Recognizer(RecognizerConfig(str(checkpoint), batch_size=8, precision="fp32"))
        meta = rec.meta
        geometry = ClipGeometry(meta.clip_len, meta.frame_step, meta.resize, meta.crop_size, self.data.fit, rec.fill)
        loader = make_loader(ClipDataset(records_of(self.data, tuple(ids)), geometry), 8, shuffle=False, workers=0)
        return np.concatenate([rec.predict_clips(list(clips.numpy())) for clips, _ in loader])


def label_first(strategy: str, probs: np.ndarray) -> np.ndarray:
    """Indices of the clips in the order to label them (ties keep the listed order)."""
    top = np.sort(probs, axis=1)[:, ::-1]
    if strategy == "margin":
        return np.argsort(top[:, 0] - top[:, 1], kind="stable")
    by_confidence = np.argsort(top[:, 0], kind="stable")  # least-confident (and the model-chosen half of mixed)
    if strategy != "balanced":
        return by_confidence
    guessed = probs.argmax(axis=1)[by_confidence]
    turn = np.zeros(len(by_confidence), dtype=np.int64)  # rank among the clips guessed as the same class
    seen: dict[int, int] = {}
    for j, c in enumerate(guessed.tolist()):
        turn[j] = seen.get(c, 0)
        seen[c] = turn[j] + 1
    return by_confidence[np.argsort(turn, kind="stable")]


class Covering:
    """The labeller's orders on the pool: its :class:`~hoopsense.label.order.Coverage`, computed once here."""

    def __init__(self, data, order: list[str]) -> None:
        from hoopsense.label.order import Coverage

        self.order = order
        self.coverage = Coverage(order, {r.id: r.path for r in data.records})
        self.coverage.run()

    def next(self, labelled: list[str], k: int, probs: dict[str, np.ndarray] | None = None) -> list[str]:
        """The next ``k`` clips: "varied first" without ``probs``, else "least confident first"."""
        done = set(labelled)
        mask = np.array([i in done for i in self.order])
        uncertainty = None
        if probs is not None:
            uncertainty = np.array([1.0 - probs[i].max() if i in probs else np.nan for i in self.order])
        ranked = self.coverage.order(mask, uncertainty)
        assert ranked is not None  # run() has made the clusters
        return [self.order[j] for j in ranked[:k]]


def run_strategy(
    strategy: str, rounds: Rounds, order: list[str], budgets: list[int], seed_batch: int, covering: Covering
) -> list[dict]:
    if strategy == "in-order":
        return [rounds.train(order[:k]) for k in budgets]
    if strategy == "varied":
        return [rounds.train(covering.next([], k)) for k in budgets]
    labelled = covering.next([], seed_batch) if strategy == "covering" else order[:seed_batch]
    curve = []
    model = rounds.train(labelled)
    if seed_batch in budgets:
        curve.append(model)
    for k in budgets:
        if k <= len(labelled):
            continue
        need = k - len(labelled)
        done = set(labelled)
        unlabelled = [i for i in order if i not in done]
        picked: list[str] = []
        if strategy == "covering":
            probs = rounds.probabilities(model["checkpoint"], unlabelled)
            labelled = labelled + covering.next(labelled, need, dict(zip(unlabelled, probs, strict=True)))
            model = rounds.train(labelled)
            curve.append(model)
            continue
        if strategy == "mixed":
            picked = unlabelled[: need // 2]  # the next clips in the listed order
            unlabelled = unlabelled[need // 2 :]
            need -= len(picked)
        ranked = label_first(strategy, rounds.probabilities(model["checkpoint"], unlabelled))
        picked += [unlabelled[j] for j in ranked[:need]]
        labelled = labelled + picked
        model = rounds.train(labelled)
        curve.append(model)
    return curve


def reached(curve: list[dict], target: float) -> str:
    for point in curve:
        if point["val_accuracy"] >= target - 1e-9:
            return str(point["labels"])
    return "not reached"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=int, nargs="+", default=[16, 24, 32, 48, 64], help="label budgets")
    parser.add_argument(
        "--seed-batch", type=int, default=None, help="first clips labelled in order (default: smallest budget)"
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs per round (default: the learning test's, 10)")
    parser.add_argument("--per-class", type=int, default=40, help="pool clips per class")
    parser.add_argument(
        "--pool-counts",
        type=int,
        nargs=4,
        default=None,
        metavar=("LEFT", "RIGHT", "BOUNCE", "STILL"),
        help="pool clips per class instead of --per-class, for a game-like imbalance (e.g. 10 10 10 130: "
        "most clips of a game are one class)",
    )
    parser.add_argument("--val-per-class", type=int, default=15, help="held-out validation clips per class")
    parser.add_argument("--seed", type=int, default=0, help="first seed (data, listed order, training)")
    parser.add_argument("--repeats", type=int, default=1, help="seeds seed, seed+1, ...; the tables show the mean")
    parser.add_argument("--strategies", nargs="+", default=["in-order", "covering"], choices=STRATEGIES)
    parser.add_argument("--target", type=float, default=0.9, help="accuracy to reach (the learning test's bar)")
    parser.add_argument("--json", type=Path, default=None, help="write the curves here")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny pool, 2 epochs, budgets 8 16")
    args = parser.parse_args()
    if args.quick:
        args.budgets, args.per_class, args.val_per_class, args.epochs, args.repeats = [8, 16], 6, 3, 2, 1
    budgets = sorted(set(args.budgets))
    seed_batch = args.seed_batch or budgets[0]
    if seed_batch > budgets[0]:
        parser.error("--seed-batch must not exceed the smallest budget")
    pool_counts = args.pool_counts or [args.per_class] * 4
    if min(pool_counts) < 1:
        parser.error("every class needs at least one pool clip")
    if budgets[-1] > sum(pool_counts):
        parser.error(f"the largest budget {budgets[-1]} exceeds the pool ({sum(pool_counts)} clips)")

    import torch

    config = learning_test_config()
    if args.epochs:
        config = dataclasses.replace(config, epochs=args.epochs)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; pool {sum(pool_counts)} clips {pool_counts}, "
        f"held out {4 * args.val_per_class}; budgets {budgets}, seed batch {seed_batch}; "
        f"{config.architecture}, {config.epochs} epochs, {config.clip_len}x{config.crop_size}px; "
        f"seeds {list(range(args.seed, args.seed + args.repeats))}",
        flush=True,
    )
    started = time.perf_counter()
    curves: dict[str, list[list[dict]]] = {s: [] for s in args.strategies}
    for r in range(args.repeats):
        seed = args.seed + r
        with tempfile.TemporaryDirectory(prefix="hs-al-") as tmp:
            data, order, val = make_data(Path(tmp), pool_counts, args.val_per_class, seed)
            truth = {rec.id: rec.label for rec in data.records}
            rounds = Rounds(data, val, dataclasses.replace(config, seed=seed), Path(tmp), truth)
            covering = Covering(data, order)
            for strategy in args.strategies:
                rounds.tag = f"seed {seed} {strategy}"
                curve = run_strategy(strategy, rounds, order, budgets, seed_batch, covering)
                curves[strategy].append([{k: v for k, v in p.items() if k != "checkpoint"} for p in curve])

    mean = {
        s: [
            {
                "labels": k,
                "val_accuracy": float(np.mean([run[i]["val_accuracy"] for run in runs])),
                "val_macro_f1": float(np.mean([run[i]["val_macro_f1"] for run in runs])),
                "min_accuracy": float(np.min([run[i]["val_accuracy"] for run in runs])),
            }
            for i, k in enumerate(budgets)
        ]
        for s, runs in curves.items()
    }
    n = args.repeats
    print(f"\nvalidation on {4 * args.val_per_class} held-out clips, best checkpoint per round, mean of {n} seed(s)")
    header = f"{'labels':>6}" + "".join(f" | {s + ' acc':>20} {'F1':>6}" for s in args.strategies)
    print(header)
    print("-" * len(header))
    for i, k in enumerate(budgets):
        cells = "".join(
            f" | {mean[s][i]['val_accuracy']:20.3f} {mean[s][i]['val_macro_f1']:6.3f}" for s in args.strategies
        )
        print(f"{k:6d}{cells}")
    print(f"\nfewest labels to reach mean accuracy >= {args.target}:")
    for s in args.strategies:
        per_seed = [reached(run, args.target) for run in curves[s]]
        extra = f" (per seed: {', '.join(per_seed)})" if n > 1 else ""
        print(f"  {s:15s} {reached(mean[s], args.target)}{extra}")
    print(f"\n{time.perf_counter() - started:.0f} s in all", flush=True)
    if args.json:
        doc = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "mean": mean}
        doc["runs"] = curves
        args.json.write_text(json.dumps(doc, indent=1))
        print(f"curves written to {args.json}")


if __name__ == "__main__":
    main()
