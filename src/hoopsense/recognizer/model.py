"""Video classification backbones and self-describing checkpoints.

A checkpoint is one ``torch.save`` file holding only tensors and plain data::

    {"format": "hoopsense-recognizer", "format_version": 1,
     "metadata": {...CheckpointMeta...}, "state_dict": {name: tensor}}

It is read with ``torch.load(weights_only=True)``, so loading never runs
pickled code. The metadata records everything inference needs to preprocess
clips exactly as in training (labels, clip length, frame step, crop and
resize sizes, mean/std, context padding) plus metrics and the version.
"""

from __future__ import annotations

import os
import pickle
import re
import urllib.error
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hoopsense import __version__
from hoopsense.errors import ConfigError, WeightsError, check_range
from hoopsense.outputs import atomic_save
from hoopsense.weights.cache import offline

FORMAT = "hoopsense-recognizer"
FORMAT_VERSION = 1
# torchvision's Kinetics-400 preprocessing for its video models (RGB, 0-1 scale).
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Architecture:
    """A network family: how to build it, its torchvision pretrained weights and their normalisation."""

    name: str
    # "video": torchvision.models.video builder; "frames": FrameCNN over a 2D builder;
    # "sequence": FrameSequenceNet (a 2D builder per frame, then a temporal model);
    # "skeleton": SkeletonNet over a pose model's keypoints (no pixels, no pretrained weights)
    kind: str
    builder: str
    weights_enum: str  # torchvision weights enum holding the pretrained weights
    weights_member: str
    pretrained_on: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str
    new_layers: tuple[str, ...] = ()  # layers the pretrained weights lack (a new head), left at random init
    ball: bool = False  # a skeleton network that also reads the ball's position (needs a ball detector)

    def build(self) -> Any:
        """The network with its original pretrained head (400 or 1000 classes), random weights."""
        if self.kind == "frames":
            from hoopsense.recognizer.frame_cnn import FrameCNN

            return FrameCNN(num_classes=1000)
        if self.kind == "sequence":
            from hoopsense.recognizer.sequence import FrameSequenceNet

            return FrameSequenceNet(num_classes=1000)
        if self.kind == "skeleton":
            from hoopsense.recognizer.skeleton import KEYPOINTS, SkeletonNet

            return SkeletonNet(points=KEYPOINTS + 1 if self.ball else KEYPOINTS)
        from torchvision.models import video

        return getattr(video, self.builder)(weights=None)

    @property
    def has_pretrained(self) -> bool:
        return bool(self.weights_enum)

    @property
    def uses_keypoints(self) -> bool:
        """True for the skeleton networks: their input is keypoints, not pixels."""
        return self.kind == "skeleton"

    @property
    def uses_ball(self) -> bool:
        """True for the skeleton networks that also read where the ball is near the player."""
        return self.uses_keypoints and self.ball

    def precision(self, asked: str) -> str:
        """The precision to compute in when ``asked`` (``auto``, ``fp32``...): ``auto`` is fp32 for the
        skeleton networks, too small for a lower precision to pay; the rest as asked."""
        return "fp32" if asked == "auto" and self.uses_keypoints else asked

    def pretrained_weights(self) -> Any:
        if not self.has_pretrained:
            raise WeightsError(f"{self.name} has no pretrained weights; it trains from scratch")
        import torchvision.models as tvm
        from torchvision.models import video

        module = video if self.kind == "video" else tvm
        return getattr(getattr(module, self.weights_enum), self.weights_member)

    def adapt(self, state: dict) -> dict:
        """Map a torchvision state dict to this network's parameter names."""
        if self.kind == "frames":
            from hoopsense.recognizer.frame_cnn import from_torchvision_state

            return from_torchvision_state(state)
        if self.kind == "sequence":
            from hoopsense.recognizer.sequence import from_torchvision_state as sequence_state

            return sequence_state(state)
        return state


def _video(name: str, enum: str, description: str) -> Architecture:
    return Architecture(
        name, "video", name, enum, "KINETICS400_V1", "Kinetics-400", KINETICS_MEAN, KINETICS_STD, description
    )


def _skeleton(name: str, description: str, *, ball: bool = False) -> Architecture:
    return Architecture(name, "skeleton", "", "", "", "", IMAGENET_MEAN, IMAGENET_STD, description, ball=ball)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        _video("r2plus1d_18", "R2Plus1D_18_Weights", "R(2+1)D-18: 3D conv split into 2D space + 1D time (default)"),
        _video("r3d_18", "R3D_18_Weights", "R3D-18: full 3D convolutions"),
        _video("mc3_18", "MC3_18_Weights", "MC3-18: 3D convolutions in the early layers, 2D later"),
        Architecture(
            "frames-efficientnet_b0",
            "frames",
            "efficientnet_b0",
            "EfficientNet_B0_Weights",
            "IMAGENET1K_V1",
            "ImageNet-1k",
            IMAGENET_MEAN,
            IMAGENET_STD,
            "EfficientNet-B0 on each frame, averaged over time (frame-based baseline)",
        ),
        Architecture(
            "frames-mobilenet_v3_small-gru",
            "sequence",
            "mobilenet_v3_small",
            "MobileNet_V3_Small_Weights",
            "IMAGENET1K_V1",
            "ImageNet-1k",
            IMAGENET_MEAN,
            IMAGENET_STD,
            "MobileNetV3-Small on each frame, then a GRU over time (fast, for CPU real time)",
            new_layers=("temporal", "fc"),
        ),
        _skeleton(
            "skeleton-tcn",
            "temporal convolutions over the player's pose keypoints (learns from few labels; needs a pose model)",
        ),
        _skeleton(
            "skeleton-ball-tcn",
            "skeleton-tcn plus the ball's position near the player (needs a pose model and a ball detector)",
            ball=True,
        ),
    )
}


@dataclass(frozen=True)
class CheckpointMeta:
    """What a recognizer checkpoint says about itself.

    ``labels[i]`` is the name of output ``i``; ``background`` (one of the
    labels, or None) is the class meaning "no action". Clips are ``clip_len``
    frames taken every ``frame_step`` frames; crops are square, ``context``
    times the larger box side, resized to ``resize`` and centre-cropped to
    ``crop_size``; pixels are RGB scaled to 0-1 and normalised with
    ``mean``/``std``.
    """

    architecture: str
    labels: tuple[str, ...]
    clip_len: int = 16
    frame_step: int = 1
    crop_size: int = 112
    resize: int = 128
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD
    context: float = 1.25
    background: str | None = None
    colour: str = "RGB"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    hoopsense_version: str = __version__

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.architecture not in ARCHITECTURES:
            raise ConfigError(f"unknown architecture {self.architecture!r}; known: {', '.join(ARCHITECTURES)}")
        if not self.labels or not all(isinstance(x, str) and x.strip() for x in self.labels):
            raise ConfigError("labels must be a non-empty list of non-empty names")
        if len(set(self.labels)) != len(self.labels):
            raise ConfigError(f"labels must be unique, got {list(self.labels)}")
        check_range(self, "clip_len", 1, 256)
        check_range(self, "frame_step", 1, 16)
        if not 8 <= self.crop_size <= self.resize <= 1024:
            raise ConfigError(
                f"need 8 <= crop_size <= resize <= 1024, got crop_size {self.crop_size}, resize {self.resize}"
            )
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError(f"mean and std need 3 values each, std > 0; got mean {self.mean}, std {self.std}")
        check_range(self, "context", 1, 4)
        if self.background is not None and self.background not in self.labels:
            raise ConfigError(f"background class {self.background!r} is not one of the labels {list(self.labels)}")
        if self.colour != "RGB":
            raise ConfigError(f"colour order must be RGB, got {self.colour!r}")

    @property
    def background_index(self) -> int | None:
        return self.labels.index(self.background) if self.background is not None else None

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["labels"] = list(self.labels)
        doc["mean"], doc["std"] = list(self.mean), list(self.std)
        return doc

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CheckpointMeta:
        known = set(cls.__dataclass_fields__)
        missing = [k for k in ("architecture", "labels") if k not in doc]
        if missing:
            raise ConfigError(f"metadata lacks {', '.join(missing)}")
        return cls(**{k: v for k, v in doc.items() if k in known})


def build_model(architecture: str, num_classes: int, init: str | Path | None = None) -> Any:
    """A network with a fresh ``num_classes`` head.

    ``init``: None (random weights), ``"pretrained"`` (torchvision's own
    weights API: Kinetics-400 for the video networks, ImageNet for the
    frame-based ones; downloaded once into torch's hub cache) or a local
    ``.pth`` file holding those weights (e.g. ``r2plus1d_18-91a641e6.pth``).
    The architecture's ``new_layers`` (a head the pretrained network lacks)
    may be absent from them and then keep their random initialisation.
    """
    import torch

    if architecture not in ARCHITECTURES:
        raise ConfigError(f"unknown architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
    arch = ARCHITECTURES[architecture]
    model = arch.build()
    if init is not None:
        state = arch.adapt(_pretrained_state(arch, init))
        _load_state(model, state, f"initial weights {init}", architecture, optional=arch.new_layers)
    model.fc = torch.nn.Linear(model.fc.in_features, num_classes)
    return model


def pretrained_cached(architecture: str) -> Path:
    """Where torchvision keeps the pretrained weights of ``architecture`` once downloaded."""
    import torch

    weights = ARCHITECTURES[architecture].pretrained_weights()
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _pretrained_state(arch: Architecture, init: str | Path) -> dict:
    if str(init) == "pretrained":
        weights = arch.pretrained_weights()
        cached = pretrained_cached(arch.name)
        if offline() and not cached.is_file():
            raise WeightsError(
                f"{arch.pretrained_on} weights for {arch.name} are not cached ({cached}) and HOOPSENSE_OFFLINE is set; "
                f"download {weights.url} elsewhere and pass the file's path"
            )
        try:
            return weights.get_state_dict(progress=False, check_hash=True)
        except (urllib.error.URLError, OSError, RuntimeError) as exc:
            raise WeightsError(
                f"cannot fetch {arch.pretrained_on} weights for {arch.name} from {weights.url} ({exc}); "
                f"on a machine without internet download the file elsewhere and pass its path"
            ) from exc
    path = Path(init).expanduser()
    state = _torch_load(path, "initial weights")
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path} does not hold a state dict")
    return state


def _torch_load(path: Path, what: str) -> Any:
    import torch

    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}")
    if path.stat().st_size == 0:
        raise WeightsError(f"{what} file is empty (0 bytes): {path}")
    if not zipfile.is_zipfile(path):
        raise WeightsError(f"{path} is not a PyTorch checkpoint (another format, or a corrupt or truncated file)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
        what = f" ({found.group(1)})" if found else ""
        raise WeightsError(
            f"{path} holds pickled Python objects{what}, not plain tensors; it is refused because loading it "
            f"could run code (is it a detector or another tool's model?)"
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
        raise WeightsError(f"cannot read {path}: corrupt or truncated file ({str(exc).splitlines()[0][:160]})") from exc


def _load_state(model: Any, state: dict, what: str, architecture: str, optional: tuple[str, ...] = ()) -> None:
    """Load ``state`` into ``model``; every parameter and buffer must be there except those under ``optional``."""
    try:
        result = model.load_state_dict(state, strict=not optional)
    except RuntimeError as exc:
        first = [line.strip() for line in str(exc).splitlines() if line.strip()][1:3]
        raise WeightsError(f"{what} do not fit architecture {architecture}: {' '.join(first)[:300]}") from exc
    missing = [k for k in result.missing_keys if not any(k == p or k.startswith(p + ".") for p in optional)]
    if missing or result.unexpected_keys:
        found = [
            f"{n} key(s): {', '.join(keys[:4])}"
            for n, keys in (("missing", missing), ("unexpected", result.unexpected_keys))
            if keys
        ]
        raise WeightsError(f"{what} do not fit architecture {architecture}: {'; '.join(found)[:300]}")


def read_checkpoint(path: str | Path) -> tuple[CheckpointMeta, dict]:
    """Metadata and state dict of a checkpoint, validated, without building the model."""
    path = Path(path).expanduser()
    doc = _torch_load(path, "recognizer checkpoint")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("metadata"), dict):
        raise WeightsError(
            f"{path} is not a hoopsense recognizer checkpoint (no hoopsense metadata); "
            f"a plain torchvision .pth can only be used as initial weights for training"
        )
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise WeightsError(
            f"{path} was written by a newer hoopsense (format {doc['format_version']}); upgrade hoopsense"
        )
    try:
        meta = CheckpointMeta.from_dict(doc["metadata"])
    except (ConfigError, TypeError, ValueError) as exc:
        raise WeightsError(f"{path} has inconsistent metadata: {exc}") from exc
    state = doc.get("state_dict")
    if not isinstance(state, dict) or "fc.weight" not in state:
        raise WeightsError(f"{path} has no classifier weights (fc.weight); the file is incomplete")
    outputs = int(state["fc.weight"].shape[0])
    if outputs != len(meta.labels):
        raise WeightsError(
            f"{path}: the classifier has {outputs} outputs but the metadata lists {len(meta.labels)} labels"
        )
    return meta, state


def load_checkpoint(path: str | Path) -> tuple[Any, CheckpointMeta]:
    """Build the model a checkpoint describes and load its weights (on CPU, eval mode)."""
    meta, state = read_checkpoint(path)
    model = build_model(meta.architecture, len(meta.labels))
    _load_state(model, state, f"weights in {path}", meta.architecture)
    return model.eval(), meta


def save_checkpoint(path: str | Path, model: Any, meta: CheckpointMeta) -> Path:
    """Write ``model``'s weights with ``meta`` atomically (temporary name, then rename)."""
    import torch

    path = Path(path)
    head = model.fc.out_features
    if head != len(meta.labels):
        raise ConfigError(f"the model has {head} outputs but {len(meta.labels)} labels were given")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "metadata": meta.to_dict(),
        "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
    }
    return atomic_save(path, lambda tmp: torch.save(payload, tmp))


def parameter_count(state: dict) -> int:
    return int(sum(v.numel() for v in state.values() if hasattr(v, "numel") and v.is_floating_point()))
