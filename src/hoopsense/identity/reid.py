"""Appearance embeddings of people, for re-identifying players across tracker fragments.

An :class:`Embedder` turns the boxes of one frame into L2-normalised vectors:
the cosine of two rows (their dot product) says how alike two crops look.
:class:`OsnetEmbedder` runs the OSNet x0.25 person re-ID network (MSMT17
weights) with onnxruntime (``.onnx``) or torch (``.pth``/``.pt``);
:class:`ColourEmbedder` needs no weights and compares colour histograms of the
upper and lower body, which tells the two teams and the referees apart but
not two players of one team. :func:`load_embedder` picks one.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import cv2
import numpy as np

from hoopsense.devices import check_device_name, openvino_available, pick_device
from hoopsense.errors import ConfigError, WeightsError
from hoopsense.weights import cached_path, get_spec, resolve
from hoopsense.weights.cache import offline

if TYPE_CHECKING:
    import torch

DEFAULT_WEIGHTS = "osnet_x0_25_msmt17"
COLOUR = "colour"
INPUT_HW = (256, 128)  # OSNet input, height x width
MEAN_RGB = np.array([0.485, 0.456, 0.406], np.float32)
STD_RGB = np.array([0.229, 0.224, 0.225], np.float32)


@runtime_checkable
class Embedder(Protocol):
    """Appearance vectors for the boxes of one frame.

    ``name`` says which model it is (for summaries and run files); ``dim`` is
    the length of each vector.
    """

    name: str
    dim: int

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """``image``: BGR uint8 ``(H, W, 3)``; ``boxes``: ``(N, 4)`` float xyxy in its pixels (clipped to
        the image; degenerate boxes give a vector too). Returns float32 ``(N, dim)``, each row of unit
        L2 norm; ``(0, dim)`` when there is no box."""
        ...


# -- boxes and crops ---------------------------------------------------------------------------------------------
def _check_inputs(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Validate ``image`` (BGR uint8 ``(H, W, 3)``) and return ``boxes`` as float64 ``(N, 4)``."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ConfigError(f"image must be a BGR uint8 array of shape (H, W, 3), got {got}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ConfigError(f"image must not be empty, got shape {image.shape}")
    try:
        arr = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"boxes must be an (N, 4) array of xyxy pixels ({exc})") from exc
    if arr.size == 0:
        return arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ConfigError(f"boxes must be an (N, 4) array of xyxy pixels, got shape {arr.shape}")
    return arr


def pixel_boxes(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Integer ``(N, 4)`` xyxy crops inside a ``width`` x ``height`` image, each at least 1x1 pixel.

    ``boxes``: float ``(N, 4)`` xyxy. Corners are ordered, clipped to the image,
    and rounded outwards; a box that is empty, reversed, outside the image or
    not finite becomes the pixel nearest to it, so that every box has a crop.
    """
    b = np.nan_to_num(np.asarray(boxes, np.float64).reshape(-1, 4), nan=0.0, posinf=1e9, neginf=-1e9)
    x0, x1 = np.minimum(b[:, 0], b[:, 2]), np.maximum(b[:, 0], b[:, 2])
    y0, y1 = np.minimum(b[:, 1], b[:, 3]), np.maximum(b[:, 1], b[:, 3])
    x0 = np.clip(np.floor(x0), 0, width - 1)
    y0 = np.clip(np.floor(y0), 0, height - 1)
    x1 = np.maximum(np.clip(np.ceil(x1), 0, width), x0 + 1)
    y1 = np.maximum(np.clip(np.ceil(y1), 0, height), y0 + 1)
    return np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)


def _crops(image: np.ndarray, boxes: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """BGR uint8 ``(N, h, w, 3)``: each box of ``image`` resized to ``size_hw`` (bilinear)."""
    h, w = size_hw
    out = np.empty((len(boxes), h, w, 3), np.uint8)
    for i, (x0, y0, x1, y1) in enumerate(pixel_boxes(boxes, image.shape[1], image.shape[0])):
        crop = np.ascontiguousarray(image[y0:y1, x0:x1])  # OpenCV refuses views with negative strides
        out[i] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def _l2_rows(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit L2 norm (float32); an all-zero row becomes the uniform unit vector."""
    x = np.asarray(x, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    out = x / np.maximum(norms, 1e-12)
    zero = norms[:, 0] < 1e-12
    if zero.any():
        out[zero] = 1.0 / np.sqrt(x.shape[1])
    return out


# -- colour histograms ---------------------------------------------------------------------------------------------
class ColourEmbedder:
    """Colour histograms of the upper and lower body: needs no weights, separates kits rather than people.

    Each crop is resized to 64x32, its central 60% of width is kept (less
    court and crowd), and a joint HSV histogram (8 hue x 4 saturation x 4
    value bins) is taken of the torso (rows 15-50% of the box) and of the legs
    (rows 50-85%). The square roots of the two normalised histograms are
    concatenated and L2-normalised, so the dot product of two vectors is the
    mean Bhattacharyya coefficient of their histograms.
    """

    name = "colour histograms (no re-ID weights)"
    _BINS = (8, 4, 4)
    _SIZE = (64, 32)  # h, w
    _PARTS = ((0.15, 0.50), (0.50, 0.85))

    def __init__(self) -> None:
        self.dim = len(self._PARTS) * int(np.prod(self._BINS))

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """See :meth:`Embedder.embed`: float32 ``(N, 256)`` unit rows for a BGR uint8 image and xyxy boxes."""
        arr = _check_inputs(image, boxes)
        if len(arr) == 0:
            return np.zeros((0, self.dim), np.float32)
        h, w = self._SIZE
        crops = _crops(image, arr, self._SIZE)[:, :, int(w * 0.2) : w - int(w * 0.2)]
        n = len(crops)
        hsv = cv2.cvtColor(crops.reshape(-1, crops.shape[2], 3), cv2.COLOR_BGR2HSV).reshape(crops.shape)
        hb, sb, vb = self._BINS
        cell = (
            (hsv[..., 0].astype(np.int64) * hb // 180) * (sb * vb)
            + (hsv[..., 1].astype(np.int64) * sb // 256) * vb
            + hsv[..., 2].astype(np.int64) * vb // 256
        )
        per_part = hb * sb * vb
        feats = np.zeros((n, len(self._PARTS), per_part), np.float32)
        for p, (top, bottom) in enumerate(self._PARTS):
            rows = cell[:, int(round(top * h)) : int(round(bottom * h))].reshape(n, -1)
            flat = (rows + np.arange(n)[:, None] * per_part).ravel()
            counts = np.bincount(flat, minlength=n * per_part).reshape(n, per_part).astype(np.float32)
            feats[:, p] = np.sqrt(counts / counts.sum(axis=1, keepdims=True))
        return _l2_rows(feats.reshape(n, -1))


# -- OSNet -------------------------------------------------------------------------------------------------------
def _normalised_batch(crops_bgr: np.ndarray) -> np.ndarray:
    """BGR uint8 ``(N, H, W, 3)`` -> float32 ``(N, 3, H, W)`` RGB in [0, 1] minus ImageNet mean, over std."""
    rgb = crops_bgr[..., ::-1].astype(np.float32) * (1.0 / 255.0)
    return np.ascontiguousarray(((rgb - MEAN_RGB) / STD_RGB).transpose(0, 3, 1, 2))


def _chunks(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


class OsnetEmbedder:
    """OSNet x0.25 person re-ID embeddings (512-d): a ``.onnx`` file runs in OpenVINO on the CPU (when it is
    installed: 3.6 ms a crop against 12.3 in onnxruntime on one core, the same embeddings) and in onnxruntime
    otherwise or on CUDA (``runtime`` picks one), a ``.pth``/``.pt`` torchreid-format state dict in torch
    (:mod:`hoopsense.identity.osnet`), on ``device``.

    Crops are resized to 256x128 (HxW), converted to RGB and normalised with
    the ImageNet mean and std. ``batch_size`` crops go through the network at
    once (an ONNX file with a fixed batch of 1 takes them one by one).
    Raises :class:`WeightsError` for a file that is not OSNet x0.25 weights and
    :class:`ConfigError` for a bad ``device`` or ``batch_size``.
    """

    dim = 512

    def __init__(self, path: str | Path, device: str = "cpu", batch_size: int = 32, runtime: str = "auto") -> None:
        self.path = Path(path)
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= 1024:
            raise ConfigError(f"batch_size must be in [1, 1024], got {batch_size}", field="OsnetEmbedder.batch_size")
        if runtime not in ("auto", "openvino", "onnxruntime"):
            raise ConfigError(
                f"runtime must be one of auto, openvino, onnxruntime, got {runtime!r}", field="OsnetEmbedder.runtime"
            )
        check_device_name(device, owner="OsnetEmbedder")
        self.batch_size = batch_size
        if not self.path.is_file():
            raise WeightsError(f"re-ID weights not found: {self.path} is not a file")
        suffix = self.path.suffix.lower()
        if suffix == ".onnx":
            if runtime == "auto":
                on_cpu = pick_device(device) == "cpu" or (device == "auto" and not _ort_cuda())
                runtime = "openvino" if on_cpu and openvino_available() else "onnxruntime"
            if runtime == "openvino" and pick_device(device) != "cpu" and device != "auto":
                raise ConfigError(
                    f"device {device}: OpenVINO runs the re-ID network on cpu", field="OsnetEmbedder.device"
                )
            self._run = self._load_openvino() if runtime == "openvino" else self._load_onnx(device)
        elif suffix in (".pth", ".pt"):
            self._run = self._load_torch(device)
        else:
            raise WeightsError(f"re-ID weights {self.path} must be an .onnx file or a .pth/.pt state dict")

    # -- OpenVINO ----------------------------------------------------------------------------------------------------
    def _load_openvino(self) -> Any:
        import openvino as ov
        from openvino.frontend import FrontEndManager

        core = ov.Core()
        try:  # the ONNX reader itself: read_model would try every format's reader on a bad file, noisily
            onnx = FrontEndManager().load_by_framework("onnx")
            model = onnx.convert(onnx.load(str(self.path)))
        except Exception as exc:  # OpenVINO raises its own exception types for unreadable models
            said = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
            raise WeightsError(
                f"cannot load re-ID weights {self.path}: not a readable ONNX model ({said[-1] if said else exc})"
            ) from exc
        inputs, outputs = model.inputs, model.outputs
        shape = (
            [d.get_length() if d.is_static else None for d in inputs[0].get_partial_shape()] if len(inputs) == 1 else []
        )
        out = outputs[0].get_partial_shape() if outputs else None
        out_dim = out[out.rank.get_length() - 1] if out is not None and out.rank.is_static else None
        self._check_io(
            shape, out_dim, [str(i.get_partial_shape()) for i in inputs], [str(o.get_partial_shape()) for o in outputs]
        )
        try:
            model.reshape({inputs[0]: ov.PartialShape([-1, 3, *INPUT_HW])})  # any batch (the shared file's is 1)
            batch = self.batch_size
        except Exception:  # a graph that hard-codes its batch: one crop at a time
            batch = shape[0] or 1
        # one thread, as in onnxruntime below; f32, so that the embeddings are the reference runtime's. Not pinned
        # to a core: OpenVINO pins a one-thread network to a core that the detector's threads are pinned to as well,
        # and they then wait on it (tracking only with OSNet, 2-core CPU, against YOLO.track in the same run:
        # NBA clip 1.38x -> 1.67x, 1080p gym clip 1.32x -> 1.56x; the same embeddings)
        config = {
            "INFERENCE_NUM_THREADS": 1,
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_PRECISION_HINT": "f32",
            "ENABLE_CPU_PINNING": False,
        }
        request = core.compile_model(model, "CPU", config).create_infer_request()
        self.name = f"{self.path.stem} (openvino, cpu)"

        return lambda x: _in_batches(x, batch, lambda chunk: request.infer({0: chunk})[0], pad=batch == shape[0])

    # -- onnxruntime -----------------------------------------------------------------------------------------------
    def _load_onnx(self, device: str) -> Any:
        import onnxruntime as ort

        resolved = pick_device(device)
        providers: list[Any] = ["CPUExecutionProvider"]
        has_cuda = _ort_cuda()
        if device == "auto" and not has_cuda:
            resolved = "cpu"
        if resolved.startswith("cuda"):
            if not has_cuda:
                raise ConfigError(
                    f"device {device}: this onnxruntime has no CUDA support; use device cpu, or the .pth weights "
                    f"(torch runs them on CUDA)",
                    field="OsnetEmbedder.device",
                )
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(resolved.partition(":")[2] or 0)}))
        elif resolved != "cpu":
            raise ConfigError(f"device {device}: onnxruntime runs on cpu or cuda here", field="OsnetEmbedder.device")
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if not resolved.startswith("cuda"):
            # one thread: the detector runs beside it in its own thread and keeps every core busy; two threads
            # each fought it for the cores (analyze with OSNet on a 2-core CPU: NBA clip 13.4-13.8 s -> 10.1-10.3 s,
            # 1080p gym clip 13.2-14.3 s -> 10.5-10.8 s, the same identities)
            options.intra_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(self.path), sess_options=options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable models
            raise WeightsError(f"cannot load re-ID weights {self.path}: {_first_line(exc)}") from exc
        inputs, outputs = session.get_inputs(), session.get_outputs()
        shape = list(inputs[0].shape) if len(inputs) == 1 else []
        out_dim = outputs[0].shape[-1] if outputs else None
        self._check_io(shape, out_dim, [str(list(i.shape)) for i in inputs], [str(list(o.shape)) for o in outputs])
        fixed = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None  # the shared file's is 1
        batch = fixed or self.batch_size
        input_name = inputs[0].name
        self.name = f"{self.path.stem} (onnxruntime, {'cuda' if resolved.startswith('cuda') else 'cpu'})"

        return lambda x: _in_batches(x, batch, lambda chunk: session.run(None, {input_name: chunk})[0], pad=bool(fixed))

    # -- torch -------------------------------------------------------------------------------------------------------
    def _load_torch(self, device: str) -> Any:
        import torch

        from hoopsense.identity.osnet import osnet_x0_25

        state = _read_state_dict(self.path)
        model = osnet_x0_25()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise WeightsError(_mismatch_message(self.path, model.state_dict(), state)) from exc
        torch_device = torch.device(pick_device(device))
        model = model.to(torch_device).eval()
        self.name = f"{self.path.stem} (torch, {torch_device.type})"

        def infer(chunk: np.ndarray) -> np.ndarray:
            return model(torch.from_numpy(chunk).to(torch_device)).float().cpu().numpy()

        def run(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                return _in_batches(x, self.batch_size, infer, pad=False)

        return run

    def _check_io(self, shape: list, out_dim: object, inputs: list[str], outputs: list[str]) -> None:
        """Raise :class:`WeightsError` unless the network takes ``[N, 3, 256, 128]`` and gives 512 values a crop
        (``shape``: its one input's dimensions, empty when it has another number of inputs)."""
        if len(shape) != 4 or shape[1:] != [3, *INPUT_HW] or out_dim != self.dim:
            raise WeightsError(
                f"re-ID weights {self.path} are not OSNet x0.25: expected input [N, 3, 256, 128] and a 512-d "
                f"output, got inputs {inputs} and outputs {outputs}"
            )

    def embed(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """See :meth:`Embedder.embed`: float32 ``(N, 512)`` unit rows for a BGR uint8 image and xyxy boxes."""
        arr = _check_inputs(image, boxes)
        if len(arr) == 0:
            return np.zeros((0, self.dim), np.float32)
        return _l2_rows(self._run(_normalised_batch(_crops(image, arr, INPUT_HW))))


def _in_batches(x: np.ndarray, batch: int, infer: Callable[[np.ndarray], Any], pad: bool) -> np.ndarray:
    """``infer`` on ``x`` (``(N, ...)``) ``batch`` rows at a time, the outputs as ``(N, -1)`` float rows; with
    ``pad`` the last chunk is padded with zeros to ``batch`` (a network with a fixed batch size)."""
    parts = []
    for s in _chunks(len(x), batch):
        chunk = x[s]
        if pad and len(chunk) < batch:
            chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
        # a copy: a runtime may hand back the same output buffer on its next call
        parts.append(np.array(infer(chunk)).reshape(len(chunk), -1)[: s.stop - s.start])
    return np.concatenate(parts, axis=0)


def _ort_cuda() -> bool:
    import onnxruntime as ort

    return "CUDAExecutionProvider" in ort.get_available_providers()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The OSNet tensors of a torchreid-format file (a plain state dict, or one under ``state_dict``, with or
    without DataParallel's ``module.`` prefix), without the identity classifier. Never runs pickled code."""
    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(
            f"cannot load re-ID weights {path}: not a readable torch state dict ({_first_line(exc)})"
        ) from exc
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"re-ID weights {path} hold a {type(obj).__name__}, not a state dict of tensors")
    state = {str(k).removeprefix("module."): v for k, v in obj.items()}
    return {k: v for k, v in state.items() if not k.startswith("classifier.")}


def _mismatch_message(path: Path, expected: Mapping[str, Any], got: Mapping[str, Any]) -> str:
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    shapes = [k for k in expected if k in got and tuple(expected[k].shape) != tuple(got[k].shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
    if shapes:
        parts.append(f"{len(shapes)} tensors of another shape (e.g. {shapes[0]})")
    return f"re-ID weights {path} are not an OSNet x0.25 state dict: {'; '.join(parts) or 'they do not load'}"


# -- choosing one ----------------------------------------------------------------------------------------------------
def load_embedder(weights: str | Path | None, device: str = "cpu") -> tuple[Embedder, str | None]:
    """The embedder for ``weights`` and a one-line note when it is not the one asked for.

    * ``None``: the default OSNet weights (``osnet_x0_25_msmt17``) from the
      cache, downloaded once and hash-checked unless ``HOOPSENSE_OFFLINE`` is
      set. When they cannot be had, a :class:`ColourEmbedder` and a note that
      says so and how to give a local file.
    * ``"colour"``: a :class:`ColourEmbedder`, no note.
    * a known weights name or a local ``.onnx``/``.pth``/``.pt`` file: an
      :class:`OsnetEmbedder`; a missing, unreadable or wrong file is a
      :class:`WeightsError`.
    """
    check_device_name(device, owner="OsnetEmbedder")
    if weights is None:
        try:
            path = resolve(DEFAULT_WEIGHTS, what="re-ID weights")
        except WeightsError:
            spec = get_spec(DEFAULT_WEIGHTS)
            where = cached_path(spec) if spec is not None else DEFAULT_WEIGHTS
            why = "not in the cache and HOOPSENSE_OFFLINE is set" if offline() else "the download failed"
            note = (
                f"re-ID weights {DEFAULT_WEIGHTS} are unavailable ({why}): fragments are linked by colour histograms "
                f"instead, which is less reliable; give a local file with --reid PATH (.onnx or .pth) or put it at "
                f"{where}"
            )
            return ColourEmbedder(), note
        return OsnetEmbedder(path, device=device), None
    if str(weights).strip().lower() in (COLOUR, "color"):
        return ColourEmbedder(), None
    return OsnetEmbedder(resolve(weights, what="re-ID weights"), device=device), None
