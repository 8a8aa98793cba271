"""Refuse torch checkpoints whose unpickling could run code, without unpickling them.

``ultralytics.YOLO("x.pt")`` reads the file with an unrestricted torch load (``weights_only`` off):
a plain :mod:`pickle` load, in which the file names any importable callable and
the arguments to call it with (``os.system("...")`` is four opcodes).
:func:`check_torch_pickle` reads the pickle opcodes with :func:`pickletools.genops`
and follows them on a symbolic stack (with the memo, marks, tuples and the
torch persistent ids), so it knows for every call the file asks for *what* is
called and *with what*, and raises :class:`~hoopsense.errors.WeightsError`
unless every step is allowed. Nothing from the file is unpickled, and no module
named by the file is imported unless it is one of the few packages below.

Formats: a ``torch.save`` zip archive (every ``*.pkl`` member is checked;
TorchScript archives are refused, they carry code), or the legacy pre-1.6
stream (its five consecutive pickles are checked; the older tar format is
refused). Anything else is "not a readable torch checkpoint".

Policy. A module-prefix allowlist would not be safe: a REDUCE opcode calls any
global it can name with arguments from the file, and ``torch``, ``ultralytics``
or ``builtins`` all hold callables that run code (``torch.hub.load``,
``ultralytics.utils.checks.check_requirements``, ``builtins.eval``, ...). So
every global is classified, by its exact name, into one of four kinds:

* **callable**: safe to call with *any* arguments (and so allowed anywhere,
  as code the file does not control may later call whatever it stored):
  torch's storage-backed tensor rebuilders (``torch._utils._rebuild_tensor``,
  ``_rebuild_tensor_v2``/``_v3``, ``_rebuild_parameter``,
  ``_rebuild_parameter_with_state``, ``_rebuild_qtensor``,
  ``_rebuild_meta_tensor_no_storage``; not the sparse, wrapper-subclass or
  device rebuilders), ``torch.Size``, ``torch.device``,
  ``torch.serialization._get_layout``, ``collections.OrderedDict``/``Counter``/
  ``deque``, the builtin data types (``set``, ``frozenset``, ``slice``,
  ``complex``, ``bytes``, ``bytearray``, ``list``, ``dict``, ...), numpy's
  array/scalar/dtype reconstructors, ``pathlib`` paths, ``argparse.Namespace``,
  ``types.SimpleNamespace``, ``datetime`` types and Ultralytics'
  ``IterableSimpleNamespace``. Two of them have their arguments checked as
  well: ``_codecs.encode`` only as ``(str, "latin1")`` (how pickle writes
  bytes), ``collections.defaultdict`` only with a builtin type as factory.
* **data**: values that are never called: torch dtypes, layouts, memory
  formats and qschemes (``torch.float32``), storage types
  (``torch.FloatStorage``, which torch's unpickler maps to a harmless marker),
  and the tensor types ``torch.Tensor``/``Parameter``/``Buffer`` (the type
  argument of ``_rebuild_from_type_v2``; NEWOBJ of them only without
  arguments, as legacy pickles do). No NEWOBJ gets keyword arguments
  (``torch.Tensor.__new__(cdata=<address>)`` would dereference a pointer).
* **class** (NEWOBJ only): ``torch.nn.Module`` subclasses defined under
  ``torch.nn``, ``torch.ao.nn`` or ``ultralytics.nn`` (layers, ``DetectionModel``,
  ``Conv``, ``C2f``, ``Detect``, ...; not ``torch.nn.parallel``, nor
  Ultralytics' ``autobackend``/``backends``/``text_model``, whose objects load
  other files or install packages), and the classes of
  ``ultralytics.utils.loss``/``ultralytics.utils.tal`` (the criterion a
  training checkpoint holds). Such a class may do arbitrary work in
  ``__init__`` (``AutoBackend`` would load files, ``Conv2d`` allocates what the
  file asks for), so it may only be *instantiated without its constructor*: as
  the class of NEWOBJ (``cls.__new__(cls)``, which is how protocol 2 pickles an
  ``nn.Module``), of INST/OBJ with no arguments, or of
  ``copyreg._reconstructor(cls, object, None)``; its state then comes through
  BUILD and the class's own ``__setstate__`` (torch/Ultralytics code handling
  data). As a REDUCE callable, or passed anywhere as a value (where a later
  call could run its constructor), it is refused. A class is resolved by static
  attribute lookup in its module, importing only ``torch.nn*``, ``torch.ao.nn*``,
  ``ultralytics.nn.modules*``, ``ultralytics.nn.tasks`` and the two criterion
  modules (any other module must already be imported: importing a module named
  by the file can itself run code), and the resolved class itself is checked
  (its ``__module__``, its base, no custom ``__new__``), so a re-export such as
  ``ultralytics.nn.tasks.<name>`` cannot smuggle in another class.
* **special**: called only with checked arguments, never passed as a value:
  ``builtins.getattr(m, "forward" | "forward_fuse")`` where ``m`` is such a
  module class or instance (how pickle writes ``Detect.forward`` and the bound
  ``forward_fuse`` of a fused layer; the result may only be stored, never called
  during loading), ``copyreg._reconstructor`` as above, and
  ``torch._tensor._rebuild_from_type_v2`` only with a rebuild function and a
  tensor type (it calls its first argument).

Everything else is refused: unknown globals (``os``/``posix``/``nt``/
``subprocess``/``shutil``/``builtins.eval``/``exec``/``__import__``, any
function of ``torch``/``ultralytics`` not listed), REDUCE/NEWOBJ/BUILD on
anything that did not come from an allowed global, STACK_GLOBAL whose operands
are not constant strings, extension-registry opcodes, and persistent ids other
than torch storages. BUILD, APPEND and SETITEM only ever touch objects the file
built through allowed steps. Globals are resolved the way ``torch.load``'s
unpickler does (protocol < 3 names through :mod:`_compat_pickle`, so
``__builtin__.eval`` is ``builtins.eval``; ``torch.tensor`` is
``torch._tensor``), plus the legacy names Ultralytics aliases while loading
(``ultralytics.yolo.utils.*``, ``Silence``, ``YOLOv10DetectionModel``,
``v10DetectLoss``).

Remaining trust: the scan vouches for the file as it is when checked (load it
right after), and it trusts torch, numpy and Ultralytics code reached through
the allowed names (rebuild functions, ``__setstate__``, ``forward``).
"""

from __future__ import annotations

import mmap
import os
import tarfile
import zipfile
from pathlib import Path

from hoopsense.errors import WeightsError
from hoopsense.weights.pickle_policy import (
    _ADVICE,
    _LEGACY_MAGIC,
    _LEGACY_PROTOCOL,
    _Refused,
    _Unreadable,
)

__all__ = ["check_torch_pickle"]
from hoopsense.weights.pickle_machine import (
    _Const,
    _Machine,
)


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if not infos or min(i.header_offset for i in infos) != 0:
                raise _Unreadable("the zip archive does not start with its first member")
            if any(i.orig_filename != i.filename for i in infos):  # NUL in a name: zip readers disagree on it
                raise _Unreadable("the zip archive has a member name that readers interpret differently")
            names = [i.filename for i in infos]
            if any(n == "constants.pkl" or n.endswith("/constants.pkl") or "/code/" in f"/{n}" for n in names):
                raise _Refused("it is a TorchScript archive, which carries code that torch.load would run")
            pickles = [i for i in infos if i.filename.endswith(".pkl")]
            if not any(i.filename == "data.pkl" or i.filename.endswith("/data.pkl") for i in pickles):
                raise _Unreadable("the zip archive has no data.pkl")
            for info in pickles:
                _Machine(archive.read(info), 0, mode="zip").run()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, NotImplementedError, ValueError) as exc:
        raise _Unreadable(f"broken zip archive ({exc})") from exc
    except RuntimeError as exc:  # zipfile raises it for encrypted members
        raise _Unreadable(f"broken zip archive ({exc})") from exc


def _is_tar(path: Path) -> bool:
    try:  # exactly how torch.load's legacy loader probes for the pre-0.4 tar format
        with tarfile.open(path, mode="r:", format=tarfile.PAX_FORMAT):
            return True
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return False


def _check_legacy(path: Path) -> None:
    if _is_tar(path):
        raise _Unreadable("it is a pre-0.4 tar-format torch file, which hoopsense does not read")
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise _Unreadable("the file is empty")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:  # read only as far as the pickles go
            magic, pos = _Machine(data, 0, mode="plain").run()
            if not (isinstance(magic, _Const) and magic.value == _LEGACY_MAGIC):
                raise _Unreadable("it is neither a torch.save zip archive nor a legacy torch file")
            version, pos = _Machine(data, pos, mode="plain").run()
            if not (isinstance(version, _Const) and version.value == _LEGACY_PROTOCOL):
                raise _Unreadable("unsupported legacy torch protocol version")
            _, pos = _Machine(data, pos, mode="plain").run()  # sys info
            _, pos = _Machine(data, pos, mode="legacy").run()  # the checkpoint object
            _Machine(data, pos, mode="plain").run()  # storage keys; raw tensor bytes follow


def check_torch_pickle(path: Path, *, what: str = "detector weights") -> None:
    """Raise :class:`WeightsError` unless loading the torch checkpoint ``path`` can run no code.

    Reads the file without unpickling it (see the module docstring for the policy). ``what`` names the file
    in messages (``"detector weights"``). Accepts Ultralytics checkpoints (``YOLO.save``, training
    ``last.pt``/``best.pt``), plain ``torch.save`` state dicts and legacy (pre-1.6) torch files.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise WeightsError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc
    try:
        if head == b"PK\x03\x04":  # torch.load's own test for the zip format
            _check_zip(path)
        else:
            _check_legacy(path)
    except _Refused as exc:
        raise WeightsError(_one_line(f"{what} {path} could run code when loaded: {exc}; {_ADVICE}")) from None
    except _Unreadable as exc:
        raise WeightsError(_one_line(f"{what} {path} is not a readable torch checkpoint: {exc}")) from None
    except OSError as exc:
        raise WeightsError(_one_line(f"cannot read {what} {path}: {exc.strerror or exc}")) from exc


def _one_line(text: str) -> str:
    return " ".join(text.splitlines())
