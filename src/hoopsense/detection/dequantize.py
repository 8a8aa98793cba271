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


def dequantized_file(weights: Path, export_dir: Path | None = None) -> Path:
    """Where the float copy of ``weights`` is kept: ``<stem>.<sha256[:12]>.dequantized.onnx`` in
    ``export_dir`` (default: ``onnx/`` in the weights cache folder; nothing is written beside the
    user's file)."""
    from hoopsense.weights.cache import cache_dir, sha256_of

    return (export_dir or cache_dir() / "onnx") / f"{weights.stem}.{sha256_of(weights)[:12]}{SUFFIX}"


def dequantized(weights: Path, *, export_dir: Path | None = None) -> Path | None:
    """The float copy of the dynamically quantised ``.onnx`` ``weights`` (written now if missing), or None
    when the model is not dynamically quantised or its pattern is not recognised (run it as it is)."""
    target = dequantized_file(weights, export_dir)
    if target.is_file():
        return target
    try:
        import onnx
    except ImportError:  # pragma: no cover - onnx is a dependency
        return None
    try:
        model = onnx.load(str(weights))
    except Exception:  # not readable here: ONNX Runtime gives the clear error when it loads it
        return None
    if not any(node.op_type == "ConvInteger" for node in model.graph.node):
        return None
    if not rewrite(model):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "wb") as fh:
        fh.write(model.SerializeToString())
    return target


def rewrite(model: Any) -> bool:
    """Replace, in place, every ``DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(scale)`` chain of the
    ONNX ``model`` by one float ``Conv`` on the unquantised input with the dequantised weights, and drop
    what no output needs any more. Returns False (``model`` untouched) if any ``ConvInteger`` does not
    follow the pattern."""
    import onnx
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
    onnx.checker.check_model(model)
    return True
