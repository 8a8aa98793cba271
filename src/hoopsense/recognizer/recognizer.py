"""Batched action recognition over tubelets from all players at once."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hoopsense.devices import openvino_available, pick_device, pick_dtype
from hoopsense.errors import ConfigError
from hoopsense.recognizer.config import RecognizerConfig
from hoopsense.recognizer.model import ARCHITECTURES, CheckpointMeta, load_checkpoint
from hoopsense.recognizer.skeleton import keypoints_batch
from hoopsense.recognizer.transforms import clips_to_tensor, crop_to_frame
from hoopsense.recognizer.tubelets import Tubelet, TubeletConfig
from hoopsense.recognizer.windows import WindowPrediction
from hoopsense.weights import resolve

if TYPE_CHECKING:
    from hoopsense.detection.crop_pose import CropBall, CropPose

__all__ = ["Recognizer", "RecognizerConfig", "WindowPrediction"]


class Recognizer:
    """A loaded checkpoint that classifies clips in batches, preprocessing them as its metadata says."""

    def __init__(self, config: RecognizerConfig) -> None:
        self.config = config
        self.path: Path = resolve(config.checkpoint, what="recognizer checkpoint")
        model, self.meta = load_checkpoint(self.path)
        self.device = torch.device(pick_device(config.device))
        arch = ARCHITECTURES[self.meta.architecture]
        # auto is bf16 on native-bf16 CPUs for the 3D video networks only (about 2.5x faster than fp32 there);
        # the frame-based networks measured no faster in bf16 and keep fp32, as does the tiny skeleton network
        video = arch.kind == "video"
        self.uses_keypoints = arch.uses_keypoints
        self.dtype = pick_dtype(arch.precision(config.precision), self.device, inference=video)
        self.pose_weights = config.pose or self.meta.training.get("pose")
        self._crop_pose: CropPose | None = None
        self.uses_ball = arch.uses_ball
        self.ball_weights = (config.ball or self.meta.training.get("ball")) if self.uses_ball else None
        self._crop_ball: CropBall | None = None
        self.clips_with_ball = 0  # clips in which the ball detector found a ball in at least one frame
        self.keypoint_sources = {"detector": 0, "crops": 0}  # clips whose keypoints came from each
        # the skeleton network costs microseconds a clip: batches of 16 on the CPU too, to pay its call once
        self.batch_size = config.batch_size or (16 if self.device.type == "cuda" or self.uses_keypoints else 1)
        # channels-last 3D lets oneDNN pick its fast convolution kernels on CPU (about 1.7x for R(2+1)D),
        # and is the layout of cuDNN's tensor-core kernels for fp16/bf16 3D convolutions on CUDA.
        self._memory_format = (
            torch.channels_last_3d if video and self.device.type in ("cpu", "cuda") else torch.contiguous_format
        )
        self.model = model.to(self.device, memory_format=self._memory_format)
        self._pad_batches = config.compile
        if config.compile:
            self.model = torch.compile(self.model, dynamic=False)
        self._openvino: _OpenVinoNetwork | None = None
        wanted = config.backend
        if wanted == "openvino" and (self.device.type != "cpu" or not video):
            raise ConfigError(
                "recognizer backend openvino runs the 3D video networks on the CPU", field="RecognizerConfig.backend"
            )
        if wanted == "openvino" or (wanted == "auto" and self.device.type == "cpu" and video and not config.compile):
            if openvino_available():
                self._openvino = _OpenVinoNetwork(model, self.meta, bf16=self.dtype == torch.bfloat16, source=self.path)
            elif wanted == "openvino":
                raise ConfigError(
                    "recognizer backend openvino needs the openvino package", field="RecognizerConfig.backend"
                )
        self.clips = 0
        self.partner: Recognizer | None = None
        if config.fuse is not None:
            self.partner = Recognizer(replace(config, checkpoint=config.fuse, fuse=None))
            self._partner_order = self._check_partner(self.partner)

    def _check_partner(self, other: Recognizer) -> np.ndarray:
        """The column of ``other``'s output for each of this recognizer's labels; a partner that
        cannot share this recognizer's clips or classes is refused."""
        a, b = self.meta, other.meta
        if set(a.labels) != set(b.labels):
            raise ConfigError(
                f"cannot fuse {other.path.name} with {self.path.name}: their classes differ "
                f"({', '.join(b.labels)} against {', '.join(a.labels)})",
                field="RecognizerConfig.fuse",
            )
        if (a.clip_len, a.frame_step) != (b.clip_len, b.frame_step):
            raise ConfigError(
                f"cannot fuse {other.path.name} with {self.path.name}: clips of {b.clip_len} frames every "
                f"{b.frame_step} against {a.clip_len} every {a.frame_step}",
                field="RecognizerConfig.fuse",
            )
        if not other.uses_keypoints and b.crop_size > a.resize:
            raise ConfigError(
                f"cannot fuse {other.path.name} with {self.path.name}: it needs {b.crop_size}-pixel crops and "
                f"{self.path.name} cuts {a.resize}; give {other.path.name} as --recognizer and the other as --fuse",
                field="RecognizerConfig.fuse",
            )
        return np.array([b.labels.index(name) for name in a.labels])

    def fused(self, own: np.ndarray, partner: np.ndarray) -> np.ndarray:
        """The mean of this recognizer's class probabilities ``(N, C)`` and its :attr:`partner`'s (in the
        partner's own label order)."""
        return ((own + partner[:, self._partner_order]) / 2).astype(np.float32)

    @property
    def backend(self) -> str:
        """``openvino`` or ``torch``: what computes the network."""
        return "openvino" if self._openvino is not None else "torch"

    @property
    def labels(self) -> tuple[str, ...]:
        return self.meta.labels

    @property
    def fill(self) -> tuple[int, int, int]:
        """RGB padding colour that normalises to zero (the model's mean)."""
        return tuple(int(round(255 * m)) for m in self.meta.mean)  # type: ignore[return-value]

    def tubelet_config(
        self,
        *,
        clip_len: int | None = None,
        stride: int | None = None,
        max_gap: int = 8,
        detector_keypoints: bool = False,
    ) -> TubeletConfig:
        """Tubelet geometry from the checkpoint, for classifying every frame; ``clip_len`` overrides it.

        ``stride`` defaults to one clip span (``(clip_len - 1) * frame_step + 1`` frames): every frame is
        in one clip. Half a span (every frame classified twice) cost twice the clips and, measured on the
        NBA clip with a trained 8-frame checkpoint (``benchmarks/bench_schedule.py``), gave the same action
        on 97.3% of player-frames; pass it as ``stride`` for the dense schedule. A stride longer than the
        span would leave frames that no clip covers, and is refused (:class:`ConfigError`).
        ``detector_keypoints``: the detector is a pose model; a skeleton recognizer (not fused with a pixel
        one, and not looking for the ball in the crops) then reads its keypoints and no crops are cut."""
        meta: CheckpointMeta = self.meta
        clip_len = clip_len or meta.clip_len
        span = (clip_len - 1) * meta.frame_step + 1
        if stride is not None and stride > span:
            raise ConfigError(
                f"stride must be at most the clip span ({span} frames: {clip_len} frames every {meta.frame_step}), "
                f"got {stride}; a longer stride leaves frames that no clip covers",
                field="AnalyzeOptions.stride",
            )
        return TubeletConfig(
            clip_len=clip_len,
            stride=stride or span,
            frame_step=meta.frame_step,
            context=meta.context,
            resize=meta.resize,
            max_gap=max_gap,
            cut_crops=not (detector_keypoints and self.uses_keypoints and not self.uses_ball and self.partner is None),
        )

    def crop_keypoints(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Keypoints ``(T, 17, 3)`` of the player in each RGB uint8 crop clip, from the pose model
        (:attr:`pose_weights`, loaded on first use)."""
        if self._crop_pose is None:
            from hoopsense.detection.crop_pose import CropPose

            weights = self._crop_weights(self.pose_weights, "pose", "keypoints", "pose model", "yolo11n-pose.pt")
            self._crop_pose = CropPose(weights, device=str(self.device))
        return [self._crop_pose(list(clip)) for clip in clips]

    def crop_balls(self, clips: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The ball ``(T, 3)`` (centre in crop pixels, confidence; zero where none) in each RGB uint8 crop
        clip, from the ball detector (:attr:`ball_weights`, loaded on first use)."""
        if self._crop_ball is None:
            from hoopsense.detection.crop_pose import CropBall

            weights = self._crop_weights(self.ball_weights, "ball", "the ball", "ball detector", "yolo11n.pt")
            self._crop_ball = CropBall(weights, device=str(self.device))
        found = [self._crop_ball(list(clip)) for clip in clips]
        self.clips_with_ball += sum(bool((b[:, 2] > 0).any()) for b in found)
        return found

    def _crop_weights(self, weights: object, option: str, reads: str, model: str, example: str) -> str:
        """The weights of the model that looks at the crops, or one clear error naming the option to give."""
        if not weights:
            also = " or use a pose model as the detector" if option == "pose" else ""
            raise ConfigError(
                f"{self.path.name} reads {reads} and no {model} is known for it; give one (--{option} {example}){also}",
                field=f"RecognizerConfig.{option}",
            )
        return str(weights)

    def predict_keypoints(
        self, keypoints: Sequence[np.ndarray], balls: Sequence[np.ndarray] | None = None
    ) -> np.ndarray:
        """Class probabilities float32 ``(N, C)`` of a skeleton checkpoint for raw keypoint clips ``(T, 17, 3)``
        (x, y in any pixel frame, confidence), and for ``skeleton-ball-tcn`` the ball of each ``(T, 3)``
        (x, y in the same pixels as the clip's keypoints, confidence)."""
        if self.uses_ball and balls is None:
            raise ConfigError(f"{self.path.name} reads the ball: give the ball of every clip")
        out = []
        step = max(self.batch_size, 64)
        for i in range(0, len(keypoints), step):
            chunk = list(balls[i : i + step]) if self.uses_ball and balls is not None else None
            x = keypoints_batch(list(keypoints[i : i + step]), chunk).to(self.device)
            with (
                torch.inference_mode(),
                torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32),
            ):
                logits = self.model(x)
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            self.clips += len(x)
        if not out:
            return np.empty((0, len(self.labels)), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def predict_clips(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities float32 ``(N, C)`` for RGB uint8 clips ``(T, H, W, 3)`` (H, W >= crop size),
        averaged with the :attr:`partner`'s when fused."""
        probs = self._own_clips(clips)
        if self.partner is not None:
            probs = self.fused(probs, self.partner._own_clips(clips))
        return probs

    def _own_clips(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        if self.uses_keypoints:
            return self.predict_keypoints(
                self.crop_keypoints(clips), self.crop_balls(clips) if self.uses_ball else None
            )
        out = []
        for i in range(0, len(clips), self.batch_size):
            x = clips_to_tensor(
                clips[i : i + self.batch_size], crop_size=self.meta.crop_size, mean=self.meta.mean, std=self.meta.std
            )
            n = len(x)
            if self._openvino is not None:
                out.append(torch.softmax(torch.from_numpy(self._openvino(x.numpy())), dim=1).numpy())
                self.clips += n
                continue
            if self._pad_batches and n < self.batch_size:  # one compiled graph: every batch the same size
                x = torch.cat([x, x.new_zeros((self.batch_size - n, *x.shape[1:]))])
            if self.device.type == "cuda":
                x = x.pin_memory()  # lets the copy below overlap with the GPU's work
            x = x.to(self.device, memory_format=self._memory_format, non_blocking=True)
            with (
                torch.inference_mode(),
                torch.autocast(self.device.type, dtype=self.dtype, enabled=self.dtype != torch.float32),
            ):
                logits = self.model(x)[:n]
            out.append(torch.softmax(logits.float(), dim=1).cpu().numpy())
            self.clips += n
        if not out:
            return np.empty((0, len(self.labels)), np.float32)
        return np.concatenate(out).astype(np.float32, copy=False)

    def predict(self, tubelets: Sequence[Tubelet]) -> list[WindowPrediction]:
        """One :class:`WindowPrediction` per tubelet, in order."""
        probs = self._own_tubelets(tubelets)
        if self.partner is not None:
            probs = self.fused(probs, self.partner._own_tubelets(tubelets))
        return [WindowPrediction(t.track_id, t.start_frame, t.end_frame, p) for t, p in zip(tubelets, probs)]

    def _own_tubelets(self, tubelets: Sequence[Tubelet]) -> np.ndarray:
        if not self.uses_keypoints:
            return self._own_clips([t.crops for t in tubelets])
        missing = [i for i, t in enumerate(tubelets) if t.keypoints is None]
        found = self.crop_keypoints([tubelets[i].crops for i in missing]) if missing else []
        keypoints = [t.keypoints for t in tubelets]
        for i, kp in zip(missing, found):
            keypoints[i] = kp
        self.keypoint_sources["crops"] += len(missing)
        self.keypoint_sources["detector"] += len(tubelets) - len(missing)
        balls = None
        if self.uses_ball:  # found in the crops; mapped to frame pixels where the keypoints are in them
            balls = self.crop_balls([t.crops for t in tubelets])
            cut = set(missing)
            for i, t in enumerate(tubelets):
                if i not in cut:
                    balls[i] = np.stack(
                        [crop_to_frame(b, box, context=self.meta.context, size=t.crops.shape[1])
                         for b, box in zip(balls[i], t.boxes)]
                    )  # fmt: skip
        return self.predict_keypoints(keypoints, balls)  # type: ignore[arg-type]


class _OpenVinoNetwork:
    """A 3D video network converted to OpenVINO for the CPU, compiled per input shape.

    On the 2-core test machine R(2+1)D-18 took 38 ms per 16x112x112 clip in
    OpenVINO's bf16 against 102 ms in PyTorch's bf16 autocast (class
    probabilities within 1e-4 of PyTorch's), and 212 ms in f32 against about
    370-400 ms in PyTorch's fp32.
    """

    def __init__(self, model: torch.nn.Module, meta: CheckpointMeta, *, bf16: bool, source: Path | None = None) -> None:
        import openvino as ov

        self._core = ov.Core()
        cached = _cached_ir(source, meta) if source is not None else None
        self._model = None
        if cached is not None and cached.is_file():
            try:
                self._model = self._core.read_model(str(cached))
            except Exception:  # a damaged cache entry is removed, converted again and saved anew
                shutil.rmtree(cached.parent, ignore_errors=True)
                self._model = None
        if self._model is None:
            size = meta.crop_size
            example = torch.zeros(1, 3, meta.clip_len, size, size)
            self._model = ov.convert_model(model.float().eval(), example_input=example)
            if cached is not None:
                _save_ir(self._model, cached)
        self._config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32"}
        self._compiled: dict[tuple[int, ...], object] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Logits float32 ``(B, classes)`` of a normalised float32 batch ``(B, 3, T, S, S)``."""
        shape = tuple(x.shape)
        if shape not in self._compiled:
            if len(self._compiled) >= 4:  # a few shapes at most: the last batch of a run is smaller
                self._compiled.pop(next(iter(self._compiled)))
            self._model.reshape(list(shape))
            self._compiled[shape] = self._core.compile_model(self._model, "CPU", self._config)
        compiled = self._compiled[shape]
        return np.asarray(compiled(np.ascontiguousarray(x, dtype=np.float32))[0], dtype=np.float32)  # type: ignore[operator]


def _cached_ir(checkpoint: Path, meta: CheckpointMeta) -> Path:
    """Where the OpenVINO conversion of ``checkpoint`` is cached (converting takes about 3 s; reading
    it back a fraction of that): keyed by the file's hash, the clip shape and OpenVINO's version."""
    import openvino as ov

    from hoopsense.weights.cache import cache_dir, sha256_of

    key = f"{checkpoint.stem}.{sha256_of(checkpoint)[:16]}.{meta.clip_len}x{meta.crop_size}.ov{ov.__version__.split('-')[0]}"
    return cache_dir() / "openvino" / "recognizers" / key / "model.xml"


def _save_ir(model: object, target: Path) -> None:
    """Save ``model`` as ``target`` (an ``.xml`` and its ``.bin``) through a temporary folder renamed into
    place; a cache that cannot be written is skipped."""
    import openvino as ov

    try:
        target.parent.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{target.parent.name}.", dir=target.parent.parent))
    except OSError:
        return
    try:
        ov.save_model(model, str(work / target.name), compress_to_fp16=False)
        os.replace(work, target.parent)
    except OSError:
        pass  # a read-only cache, or another process saved the same conversion first
    finally:
        shutil.rmtree(work, ignore_errors=True)
