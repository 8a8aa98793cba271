"""What :func:`~hoopsense.weights.pickle_scan.check_torch_pickle` allows: every global a
torch checkpoint may name, classified by its exact name (the policy is described in
:mod:`hoopsense.weights.pickle_scan`)."""

from __future__ import annotations

import _compat_pickle
import importlib
import inspect
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

_ADVICE = (
    "hoopsense refuses to load weights that would run code; export the model to ONNX or OpenVINO on a trusted "
    "machine, or re-save it from a trusted source"
)
# torch.load's legacy (non-zip) stream: magic number, protocol version, sys info, the object, storage keys.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


class _Refused(Exception):
    """The pickle asks for something that could run code."""


class _Unreadable(Exception):
    """The bytes are not a pickle that torch.load could read."""


# --------------------------------------------------------------------------------------------------------------------
# Classification of globals
# --------------------------------------------------------------------------------------------------------------------

CALLABLE = "callable"  # safe to call with any arguments, allowed anywhere
DATA = "data"  # a value that is never called
CLASS = "class"  # only instantiated without its constructor (NEWOBJ)
SPECIAL = "special"  # only called, with checked arguments


@dataclass(frozen=True)
class _Entry:
    name: str
    kind: str
    is_class: bool = False
    module_class: bool = False  # a torch.nn.Module subclass
    init_on_inst: bool = False  # INST/OBJ would call it even without arguments (__getinitargs__)


_TENSOR_REBUILDERS = frozenset(
    f"torch._utils.{n}"
    for n in (
        "_rebuild_tensor",
        "_rebuild_tensor_v2",
        "_rebuild_tensor_v3",
        "_rebuild_parameter",
        "_rebuild_parameter_with_state",
        "_rebuild_qtensor",
        "_rebuild_meta_tensor_no_storage",
    )
)
_TENSOR_TYPES = frozenset(
    {"torch.Tensor", "torch._tensor.Tensor", "torch.nn.parameter.Parameter", "torch.nn.parameter.Buffer"}
)
_BUILTIN_TYPES = (
    *("set", "frozenset", "slice", "complex", "bytes", "bytearray", "object"),
    *("list", "dict", "tuple", "int", "float", "str", "bool", "range"),
)
_DEFAULT_FACTORIES = frozenset(
    {f"builtins.{t}" for t in ("list", "dict", "set", "frozenset", "tuple", "int", "float", "str", "bool", "bytes")}
    | {"collections.OrderedDict", "collections.Counter"}
)

_CALLABLE_FUNCTIONS = frozenset(
    _TENSOR_REBUILDERS
    | {
        "torch.serialization._get_layout",
        "_codecs.encode",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
    }
)
_CALLABLE_CLASSES = frozenset(
    {f"builtins.{t}" for t in _BUILTIN_TYPES}
    | {f"{m}.{c}" for m in ("pathlib", "pathlib._local") for c in ("Path", "PosixPath", "WindowsPath", "PurePath")}
    | {f"{m}.{c}" for m in ("pathlib", "pathlib._local") for c in ("PurePosixPath", "PureWindowsPath")}
    | {f"datetime.{c}" for c in ("datetime", "date", "time", "timedelta", "timezone")}
    | {
        "torch.Size",
        "torch.device",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
        "collections.defaultdict",
        "numpy.ndarray",
        "numpy.dtype",
        "argparse.Namespace",
        "types.SimpleNamespace",
        "ultralytics.utils.IterableSimpleNamespace",
    }
)
_SPECIAL = frozenset(
    {
        "builtins.getattr",
        "copyreg._reconstructor",
        "torch._tensor._rebuild_from_type_v2",
        "torch._tensor._rebuild_from_type",
    }
)
_DATA_NAMES = frozenset({"torch.storage.TypedStorage", "torch.storage.UntypedStorage", "torch.UntypedStorage"})

# Names Ultralytics' loader (ultralytics.nn.tasks.torch_safe_load) aliases while it unpickles old checkpoints.
_MODULE_ALIASES = {
    "ultralytics.yolo.utils": "ultralytics.utils",
    "ultralytics.yolo.v8": "ultralytics.models.yolo",
    "ultralytics.yolo.data": "ultralytics.data",
}
_NAME_ALIASES = {
    "ultralytics.nn.modules.block.Silence": "torch.nn.modules.linear.Identity",
    "ultralytics.nn.tasks.YOLOv10DetectionModel": "ultralytics.nn.tasks.DetectionModel",
    "ultralytics.utils.loss.v10DetectLoss": "ultralytics.utils.loss.E2EDetectLoss",
}
# Modules under which classes may be resolved (and therefore imported).
_MODULE_CLASS_PREFIXES = ("torch.nn.", "torch.ao.nn.", "ultralytics.nn.")
# Inference wrappers that load other files or install packages (text_model does so when imported), and DDP.
_MODULE_CLASS_EXCLUDED = (
    "ultralytics.nn.autobackend",
    "ultralytics.nn.backends",
    "ultralytics.nn.text_model",
    "torch.nn.parallel",
)
_PLAIN_CLASS_MODULES = ("ultralytics.utils.loss", "ultralytics.utils.tal")
# Modules the scan may import to resolve a class (others only when already imported by someone else).
_IMPORTABLE = ("torch.nn", "torch.ao.nn", "ultralytics.nn.modules", "ultralytics.nn.tasks") + _PLAIN_CLASS_MODULES
_GETATTR_NAMES = frozenset({"forward", "forward_fuse"})


def _is_dotted_identifier(text: str) -> bool:
    return text.isascii() and all(part.isidentifier() for part in text.split("."))


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p.rstrip(".") or module.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


@lru_cache(maxsize=1)
def _storage_type_names() -> frozenset[str]:
    try:
        import torch.storage

        return frozenset(str(k) for k in torch.storage._storage_type_to_dtype_map())
    except (ImportError, AttributeError, TypeError):  # private torch API: the names torch has used since 1.x
        kinds = (
            *("Double", "Float", "Half", "Long", "Int", "Short", "Char", "Byte", "Bool", "BFloat16"),
            *("ComplexDouble", "ComplexFloat", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4"),
        )
        return frozenset(f"{k}Storage" for k in kinds)


def _torch_value_is_data(name: str) -> bool:
    """``torch.<name>`` is a dtype, layout, memory format or qscheme (looked up without torch's lazy __getattr__)."""
    import torch

    value = vars(torch).get(name)
    return isinstance(value, (torch.dtype, torch.layout, torch.memory_format, torch.qscheme))


def _resolve_class(module: str, qualname: str) -> type | None:
    """The class ``module.qualname``, importing ``module`` only when it is in :data:`_IMPORTABLE`; else None."""
    if not (_under(module, _MODULE_CLASS_PREFIXES) or _under(module, _PLAIN_CLASS_MODULES)):
        return None
    if _under(module, _MODULE_CLASS_EXCLUDED) or any(p.startswith("__") for p in module.split(".")):
        return None
    try:
        obj: Any = sys.modules.get(module)
        if obj is None:
            if not _under(module, _IMPORTABLE):
                return None
            obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = inspect.getattr_static(obj, part)
    except Exception:
        return None
    return obj if inspect.isclass(obj) else None


def _class_entry(name: str, cls: type) -> _Entry | None:
    """Classify a resolved class: an allowed nn.Module or Ultralytics criterion class, or None."""
    import torch

    if any("__new__" in vars(k) for k in cls.__mro__ if k is not object):
        return None  # NEWOBJ would run a custom __new__
    owner = getattr(cls, "__module__", "") or ""
    init_on_inst = hasattr(cls, "__getinitargs__")
    is_module = issubclass(cls, torch.nn.Module)
    if owner in _PLAIN_CLASS_MODULES or (
        is_module and _under(owner, _MODULE_CLASS_PREFIXES) and not _under(owner, _MODULE_CLASS_EXCLUDED)
    ):
        return _Entry(name, CLASS, is_class=True, module_class=is_module, init_on_inst=init_on_inst)
    return None


@lru_cache(maxsize=4096)
def _classify(module: str, name: str, proto: int, torch_unpickler: bool) -> tuple[str, _Entry | None]:
    """(effective name, entry) for a global as the unpickler of ``torch.load`` would resolve it; entry None = refuse.

    ``torch_unpickler``: the pickle is read by torch's own unpickler (data.pkl, or the legacy object pickle),
    which maps storage names and ``torch.tensor``; the other legacy pickles are read by plain ``pickle.load``.
    """
    raw = f"{module}.{name}"
    if torch_unpickler:
        if "Storage" in name and name in _storage_type_names():
            return raw, _Entry(raw, DATA)  # torch returns StorageType(name) without looking at the module
        if module == "torch.tensor":
            module = "torch._tensor"
    if proto < 3:  # pickle's fix_imports, as the real unpickler applies it
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
    full = f"{module}.{name}"
    if not torch_unpickler:
        return full, None  # the legacy header pickles hold only numbers, strings and dicts
    if not _is_dotted_identifier(module) or not _is_dotted_identifier(name) or (proto < 4 and "." in name):
        return full, None
    for old, new in _MODULE_ALIASES.items():
        if module == old or module.startswith(old + "."):
            module = new + module[len(old) :]
    alias = _NAME_ALIASES.get(f"{module}.{name}")
    if alias is not None:
        module, name = alias.rsplit(".", 1)
    target = f"{module}.{name}" if "." not in name else ""  # qualified names (protocol 4) only name classes
    if target in _CALLABLE_FUNCTIONS:
        return full, _Entry(full, CALLABLE)
    if target in _CALLABLE_CLASSES:
        return full, _Entry(full, CALLABLE, is_class=True)
    if target in _SPECIAL:
        return full, _Entry(full, SPECIAL)
    if target in _TENSOR_TYPES:  # legacy pickles create tensors as NEWOBJ + BUILD; never called with arguments
        return full, _Entry(full, DATA, is_class=True)
    if target in _DATA_NAMES or (module == "torch" and _torch_value_is_data(name)):
        return full, _Entry(full, DATA)
    cls = _resolve_class(module, name)
    return full, (_class_entry(full, cls) if cls is not None else None)


# --------------------------------------------------------------------------------------------------------------------
# Symbolic values
# --------------------------------------------------------------------------------------------------------------------
