"""Torch datasets and loaders over :class:`ClipRecord` lists."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, WeightedRandomSampler

from hoopsense.devices import usable_cores
from hoopsense.errors import VideoError
from hoopsense.training.augment import Augment, prepare_clip
from hoopsense.training.formats import ClipRecord
from hoopsense.video import read_frames

MAX_FRAMES = 2000  # longer files are read up to here (clips are a few seconds)


def read_clip(record: ClipRecord) -> np.ndarray:
    """The frames of a training clip, RGB uint8 ``(N, H, W, 3)`` (at most :data:`MAX_FRAMES`); an unreadable
    clip is a :class:`VideoError` that names it."""
    try:
        return read_frames(record.path, max_frames=MAX_FRAMES)
    except VideoError as exc:
        raise VideoError(f"training clip {record.id}: {exc}") from exc


@dataclass(frozen=True)
class ClipGeometry:
    clip_len: int
    frame_step: int
    resize: int
    crop_size: int
    fit: str
    fill: tuple[int, int, int]


class ClipDataset(Dataset):
    """Items are ``(clip, label)``: RGB uint8 ``(T, S, S, 3)`` and an int.

    With ``augment`` each access draws a new random clip (seeded by ``seed``,
    the epoch and the index, so runs repeat); without, the centred clip.
    """

    def __init__(
        self, records: Sequence[ClipRecord], geometry: ClipGeometry, augment: Augment | None = None, seed: int = 0
    ) -> None:
        self.records = list(records)
        self.geometry = geometry
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        record = self.records[i]
        g = self.geometry
        frames = read_clip(record)
        rng = np.random.default_rng((self.seed, self.epoch, i)) if self.augment is not None else None
        clip = prepare_clip(
            frames,
            clip_len=g.clip_len,
            frame_step=g.frame_step,
            resize=g.resize,
            crop_size=g.crop_size,
            fit_mode=g.fit,
            fill=g.fill,
            augment=self.augment,
            rng=rng,
        )
        return clip, record.label


def _worker_init(_: int) -> None:
    """One thread per decoding worker; and on Linux the worker dies with its parent, even when
    the parent is killed outright (SIGKILL), so no worker ever outlives a stopped ``train``."""
    torch.set_num_threads(1)
    import cv2

    cv2.setNumThreads(1)
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() == 1:  # the parent died before prctl took effect
                os._exit(0)
        except (OSError, AttributeError):
            pass


class ShardSampler(Sampler[int]):
    """One process's share of a training epoch under torchrun (``shard``: ``(rank, world)``).

    Every process draws the same epoch from a generator seeded by ``seed`` and the epoch
    (:meth:`set_epoch`) of ``ceil(n / world) * world`` indices: a permutation of the ``n``
    items that repeats its first ones, or, with ``weights`` (``(n,)``, any positive scale),
    balanced draws with replacement. Process ``rank`` takes every ``world``-th index from
    position ``rank``: the shares are disjoint and equally long, so every process runs the
    same number of steps.
    """

    def __init__(self, n: int, shard: tuple[int, int], *, weights: np.ndarray | None = None, seed: int = 0) -> None:
        self.n, (self.rank, self.world) = n, shard
        self.weights = None if weights is None else np.asarray(weights, np.float64) / np.sum(weights)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_indices(self) -> np.ndarray:
        """The whole epoch's indices, int64 ``(ceil(n / world) * world,)``, the same in every process."""
        rng = np.random.default_rng((self.seed, self.epoch))
        total = -(-self.n // self.world) * self.world
        if self.weights is not None:
            return rng.choice(self.n, size=total, replace=True, p=self.weights)
        return np.resize(rng.permutation(self.n), total)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices()[self.rank :: self.world].tolist())

    def __len__(self) -> int:
        return -(-self.n // self.world)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    workers: int,
    sample_weights: np.ndarray | None = None,
    seed: int = 0,
    shard: tuple[int, int] | None = None,
) -> DataLoader:
    """A loader of ``(uint8 (B, T, S, S, 3), int64 (B,))`` batches; ``sample_weights`` draws a balanced epoch;
    ``shard`` (``(rank, world)``, training under torchrun) gives this process its :class:`ShardSampler` share."""
    generator = torch.Generator().manual_seed(seed)
    sampler: Sampler[int] | None = None
    if shard is not None:
        sampler = ShardSampler(len(dataset), shard, weights=sample_weights, seed=seed)
        shuffle = False
    elif sample_weights is not None:
        sampler = WeightedRandomSampler(
            torch.as_tensor(sample_weights, dtype=torch.double), len(dataset), replacement=True, generator=generator
        )
        shuffle = False
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        worker_init_fn=_worker_init if workers else None,
        persistent_workers=False,
        generator=generator,
        drop_last=False,
    )


def default_workers() -> int:
    return max(0, min(4, usable_cores() - 1))
