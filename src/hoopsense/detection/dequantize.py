"""Dynamically quantised ONNX detectors rewritten once to float convolutions, for speed on the CPU.

``onnxruntime.quantization.quantize_dynamic`` (the usual way to make an
"int8" ``.onnx``) stores each convolution's weights in int8 and quantises its
input at run time: ``DynamicQuantizeLinear`` -> ``ConvInteger`` -> ``Cast`` ->
``Mul`` by the two scales. ONNX Runtime has no fast x86 kernel for
``ConvInteger``: on a quiet 2-core test machine the int8 YOLOv8n in
``../shared/assets`` ran in 61.5 ms a 640x640 frame, and the same network
with each convolution's weights dequantised once (``(w - zero point) *
scale``, the very numbers the int8 model multiplies by) in 45.0 ms, and in
33.6 ms in OpenVINO (f32), with the activations computed in float instead of
rounded to 8 bits at every layer.

:func:`dequantized` writes that float model into the weights cache folder,
named by the file's sha256, once; the detector's ``auto`` backend then runs
it (in OpenVINO when installed). A model without this pattern, or with a
variant of it that is not recognised, is run as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hoopsense.outputs import atomic_write

SUFFIX = ".dequantized.onnx"


def dequantized_file(weights: Path, export_dir: Path | None = None, size: tuple[int, int] | None = None) -> Path:
    """Where the float copy of ``weights`` is kept: ``<stem>.<sha256[:12]>.dequantized.onnx`` (with
    ``size``, ``.<height>x<width>.dequantized.onnx``) in ``export_dir`` (default: ``onnx/`` in the
    weights cache folder; nothing is written beside the user's file)."""
    from hoopsense.weights.cache import cache_dir, sha256_of

    sized = f".{size[0]}x{size[1]}" if size else ""
    return (export_dir or cache_dir() / "onnx") / f"{weights.stem}.{sha256_of(weights)[:12]}{sized}{SUFFIX}"


def dequantized(weights: Path, *, size: tuple[int, int] | None = None, export_dir: Path | None = None) -> Path | None:
    """The float copy of the dynamically quantised ``.onnx`` ``weights`` (written now if missing), or None
    when the model is not dynamically quantised or its pattern is not recognised (run it as it is).
    ``size`` (height, width): the copy made for that input size (:func:`resize`); None when its head
    cannot be resized."""
    target = dequantized_file(weights, export_dir, size)
    if target.is_file():
        return target
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dependency
        return None
    if size is not None:
        base = dequantized(weights, export_dir=export_dir)
        if base is None:
            return None
        model = onnx.load(str(base))
        if not resize(model, *size):
            return None
    else:
        try:
            model = onnx.load(str(weights))
        except Exception:  # not readable here: ONNX Runtime gives the clear error when it loads it
            return None
        if not any(node.op_type == "ConvInteger" for node in model.graph.node) or not rewrite(model):
            return None
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as fh:
        fh.write(model.SerializeToString())
    return target


def rewrite(model: Any) -> bool:
    """Replace, in place, every ``DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(scale)`` chain of the
    ONNX ``model`` by one float ``Conv`` on the unquantised input with the dequantised weights, and drop
    what no output needs any more. Returns False (``model`` untouched) if any ``ConvInteger`` does not
    follow the pattern."""
    from onnx import helper, numpy_helper

    graph = model.graph
    initial = {i.name: i for i in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    def constant(name: str) -> np.ndarray | None:
        if name in initial:
            return numpy_helper.to_array(initial[name])
        node = producer.get(name)
        if node is not None and node.op_type == "Constant" and node.attribute:
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    replaced: dict[int, Any] = {}  # id(ConvInteger) -> its float Conv
    dropped: set[int] = set()
    weights = []
    for node in graph.node:
        if node.op_type != "ConvInteger":
            continue
        quantise = producer.get(node.input[0])
        after = consumers.get(node.output[0], [])
        cast = after[0] if len(after) == 1 and after[0].op_type == "Cast" else None
        after = consumers.get(cast.output[0], []) if cast is not None else []
        mul = after[0] if len(after) == 1 and after[0].op_type == "Mul" else None
        if quantise is None or quantise.op_type != "DynamicQuantizeLinear" or cast is None or mul is None:
            return False
        scales = producer.get(next((i for i in mul.input if i != cast.output[0]), ""))
        if scales is None or scales.op_type != "Mul" or quantise.output[1] not in scales.input:
            return False
        w_scale = constant(next(i for i in scales.input if i != quantise.output[1]))
        w = constant(node.input[1])
        if w is None or w_scale is None or w.ndim != 4:
            return False
        zero = constant(node.input[3]) if len(node.input) > 3 and node.input[3] else np.zeros(1)
        if zero is None:
            return False
        per_channel = (-1, 1, 1, 1)
        w_scale = np.asarray(w_scale, np.float32)
        zero = np.asarray(zero, np.float32)
        w_scale = w_scale.reshape(per_channel) if w_scale.size > 1 else w_scale.reshape(())
        zero = zero.reshape(per_channel) if zero.size > 1 else zero.reshape(())
        name = f"{node.input[1]}_dequantized"
        weights.append(numpy_helper.from_array(((w.astype(np.float32) - zero) * w_scale).astype(np.float32), name))
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        replaced[id(node)] = helper.make_node(
            "Conv", [quantise.input[0], name], [mul.output[0]], name=f"{node.name}_float{len(weights)}", **attributes
        )
        dropped |= {id(cast), id(mul)}
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    # keep only what an output needs (the quantisers and scale products are left without consumers)
    needed = {o.name for o in graph.output}
    alive = []
    for node in reversed(nodes):
        if any(out in needed for out in node.output):
            alive.append(node)
            needed.update(node.input)
    alive.reverse()
    graph.initializer.extend(weights)
    used = {name for node in alive for name in node.input}
    kept_initial = [i for i in graph.initializer if i.name in used]
    del graph.node[:]
    graph.node.extend(alive)
    del graph.initializer[:]
    graph.initializer.extend(kept_initial)
    return True


LEVELS = (8, 16, 32)  # the strides of YOLOv8/11's three detection levels


def anchors(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The anchor points ``(2, N)`` (cell centres, in cells) and strides ``(N,)`` of a YOLOv8/11 head for an
    input of ``height`` x ``width``, in the order of its output (level by level, row by row)."""
    points, strides = [], []
    for stride in LEVELS:
        h, w = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(h, dtype=np.float32) + 0.5, np.arange(w, dtype=np.float32) + 0.5, indexing="ij")
        points.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(h * w, stride, np.float32))
    return np.concatenate(points, axis=1), np.concatenate(strides)


def resize(model: Any, height: int, width: int) -> bool:
    """Make, in place, the fixed-size YOLO ONNX ``model`` take ``height`` x ``width`` inputs (multiples of
    32): its baked anchor points, strides and anchor counts are recomputed for that size. Returns False
    (``model`` untouched) when its constants are not the anchors this function would compute for its own
    size (not a head it knows)."""
    from onnx import numpy_helper

    graph = model.graph
    dims = graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4 or height % 32 or width % 32 or not all(d.dim_value for d in dims[2:]):
        return False
    own_points, own_strides = anchors(dims[2].dim_value, dims[3].dim_value)
    count = own_points.shape[1]
    new_points, new_strides = anchors(height, width)
    tensors = list(graph.initializer) + [
        n.attribute[0].t for n in graph.node if n.op_type == "Constant" and n.attribute
    ]
    changes = []
    for tensor in tensors:
        value = numpy_helper.to_array(tensor)
        if value.shape == (1, 2, count):
            if not np.allclose(value[0], own_points):
                return False
            changes.append((tensor, new_points[None].astype(value.dtype)))
        elif value.shape == (1, count):
            if not np.allclose(value[0], own_strides):
                return False
            changes.append((tensor, new_strides[None].astype(value.dtype)))
        elif value.dtype == np.int64 and value.ndim == 1 and count in value.tolist():  # a Reshape's target
            changes.append((tensor, np.where(value == count, new_points.shape[1], value).astype(np.int64)))
    if sum(value.shape[-1] == new_points.shape[1] and value.ndim == 3 for _, value in changes) < 1:
        return False  # no anchor table found: not a YOLOv8/11 head
    for tensor, value in changes:
        tensor.CopyFrom(numpy_helper.from_array(value, tensor.name))
    dims[2].dim_value, dims[3].dim_value = height, width
    del graph.value_info[:]  # shapes inferred for the old size
    for out in graph.output:
        for dim in out.type.tensor_type.shape.dim:
            if dim.dim_value == count:
                dim.dim_value = new_points.shape[1]
    return True
