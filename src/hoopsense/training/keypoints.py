"""Keypoints of labelled clips for the skeleton recognizer: extracted once by a pose model, cached beside the clips.

For each clip file ``DIR/clip.mp4`` the keypoints of every frame (float32
``(frames, 17, 3)``: x, y in the clip's pixels, confidence) are saved as
``DIR/.keypoints/<pose>/clip.mp4.npz``, where ``<pose>`` names the pose model
and its content hash, together with the clip's size and modification time: a
clip that changes is extracted again, and another pose model has its own
cache. A folder that cannot be written (read-only media, a shared dataset)
keeps its cache under ``$HOOPSENSE_HOME/keypoints/`` instead. Each file is
written under a temporary name and renamed, so an interrupted extraction
leaves only whole files.

Player-crop datasets (SpaceJam, clips cut by hoopsense) are run through the
pose model 16 crops at a time (:class:`~hoopsense.detection.crop_pose.CropPose`);
whole-scene datasets (folder, UCF101) one frame at a time.

The ball near the player (``skeleton-ball-tcn``) is found the same way by a
detector with a ball class (:class:`~hoopsense.detection.crop_pose.CropBall`)
and cached the same way, under the detector's own key: float32
``(frames, 3)``, the ball's centre and confidence, zero where none was found.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hoopsense.errors import OutputError
from hoopsense.outputs import atomic_write
from hoopsense.recognizer.skeleton import KEYPOINTS, augment_keypoints, normalise_keypoints
from hoopsense.training.augment import Augment, sample_indices
from hoopsense.training.formats import ClipRecord
from hoopsense.training.loader import read_clip
from hoopsense.weights import resolve
from hoopsense.weights.cache import home_dir

FOLDER = ".keypoints"


def model_key(weights: Path) -> str:
    """``<stem>-<12 hex digits>``: a model's (pose model, ball detector) name and a hash of its content (a file, or every file of
    an OpenVINO folder)."""
    digest = hashlib.sha256()
    files = sorted(p for p in weights.rglob("*") if p.is_file()) if weights.is_dir() else [weights]
    for path in files:
        digest.update(path.name.encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    stem = weights.stem if weights.is_file() else weights.name.removesuffix("_openvino_model")
    return f"{stem}-{digest.hexdigest()[:12]}"


def _writable(folder: Path) -> bool:
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return os.access(folder, os.W_OK) and bool(mode & stat.S_IWUSR)


def cache_file(clip: Path, key: str) -> Path:
    """Where the keypoints of ``clip`` extracted by the pose model ``key`` are kept."""
    clip = clip.resolve()
    if _writable(clip.parent):
        return clip.parent / FOLDER / key / f"{clip.name}.npz"
    folder = hashlib.sha256(str(clip.parent).encode()).hexdigest()[:16]
    return home_dir() / "keypoints" / key / folder / f"{clip.name}.npz"


def _stamp(clip: Path) -> np.ndarray:
    st = clip.stat()
    return np.array([st.st_size, st.st_mtime_ns], np.int64)


# what each cache holds: the array's name in the file, and its shape after the frame axis
_KINDS = {"keypoints": (KEYPOINTS, 3), "ball": (3,)}


def load_cached(clip: Path, key: str, kind: str = "keypoints") -> np.ndarray | None:
    """The cached keypoints (or ``kind="ball"``: ball) of ``clip``, or None when absent, unreadable or made
    from another version of it."""
    path = cache_file(clip, key)
    try:
        with np.load(path) as doc:
            if not np.array_equal(doc["stamp"], _stamp(clip)):
                return None
            found = np.asarray(doc[kind], np.float32)
    except (OSError, KeyError, ValueError, EOFError):
        return None
    return found if found.ndim == 1 + len(_KINDS[kind]) and found.shape[1:] == _KINDS[kind] else None


def save_cached(clip: Path, key: str, found: np.ndarray, kind: str = "keypoints") -> Path | None:
    """Cache the keypoints (or ``kind="ball"``: ball) of ``clip``; returns the file, or None when it could
    not be written (they are then extracted again next time)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{kind: np.asarray(found, np.float32)}, stamp=_stamp(clip))
    path = cache_file(clip, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as fh:
            fh.write(buffer.getvalue())
    except (OSError, OutputError):
        return None
    return path


def extract_keypoints(
    records: Sequence[ClipRecord],
    pose_weights: str,
    *,
    mosaic: bool = True,
    device: str = "auto",
    on_clip: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], str]:
    """Keypoints ``(frames, 17, 3)`` of every clip by id, and the pose model's key; clips not cached yet
    are decoded and run through the pose model (loaded only then). ``mosaic``: the clips are player
    crops (see the module docstring)."""
    return _extract(records, pose_weights, "keypoints", mosaic=mosaic, device=device, on_clip=on_clip)


def extract_ball(
    records: Sequence[ClipRecord],
    detector_weights: str,
    *,
    mosaic: bool = True,
    device: str = "auto",
    on_clip: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, np.ndarray], str]:
    """The ball ``(frames, 3)`` in every clip by id, and the detector's key: as :func:`extract_keypoints`,
    with a detector that has a ball class."""
    return _extract(records, detector_weights, "ball", mosaic=mosaic, device=device, on_clip=on_clip)


def _extract(
    records: Sequence[ClipRecord],
    weights_spec: str,
    kind: str,
    *,
    mosaic: bool,
    device: str,
    on_clip: Callable[[int, int], None] | None,
) -> tuple[dict[str, np.ndarray], str]:
    weights = resolve(weights_spec, what="pose model" if kind == "keypoints" else "ball detector")
    key = model_key(weights)
    found: dict[str, np.ndarray] = {}
    model = None
    for i, record in enumerate(records, start=1):
        got = load_cached(record.path, key, kind)
        if got is None:
            if model is None:
                from hoopsense.detection.crop_pose import CropBall, CropPose

                model = (CropPose if kind == "keypoints" else CropBall)(str(weights), device=device)
            got = model(list(read_clip(record)), mosaic=mosaic)
            save_cached(record.path, key, got, kind)
        found[record.id] = got
        if on_clip:
            on_clip(i, len(records))
    return found, key


class KeypointDataset(Dataset):
    """Items are ``(keypoints, label)``: normalised float32 ``(T, 17, 3)`` tensors (``(T, 18, 3)`` with
    ``balls``, the ball of each clip by id) and an int.

    Clips are sampled from each clip's frames as :class:`~hoopsense.training.loader.ClipDataset` samples
    pixels (``clip_len`` frames every ``frame_step``; with ``augment`` a random start, mirror, rotation,
    zoom and noise, seeded by ``seed``, the epoch and the index).
    """

    def __init__(
        self,
        records: Sequence[ClipRecord],
        keypoints: dict[str, np.ndarray],
        clip_len: int,
        frame_step: int,
        augment: Augment | None = None,
        seed: int = 0,
        balls: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.records = list(records)
        self.keypoints = keypoints
        self.balls = balls
        self.clip_len, self.frame_step = clip_len, frame_step
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        record = self.records[i]
        kp = self.keypoints[record.id]
        rng = np.random.default_rng((self.seed, self.epoch, i)) if self.augment is not None else None
        jitter = self.augment.jitter_frames if self.augment is not None else 0
        idx = sample_indices(len(kp), self.clip_len, self.frame_step, rng=rng, jitter=jitter)
        clip = normalise_keypoints(kp[idx], None if self.balls is None else self.balls[record.id][idx])
        if self.augment is not None and rng is not None:
            a = self.augment
            clip = augment_keypoints(clip, rng, flip=a.flip, rotate_deg=a.rotate_deg, scale=a.scale)
        return torch.from_numpy(clip), record.label
