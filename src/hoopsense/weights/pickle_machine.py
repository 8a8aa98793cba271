"""The symbolic pickle machine of :func:`~hoopsense.weights.pickle_scan.check_torch_pickle`: it follows
the opcodes on a stack of symbols (never real objects) and refuses any step the policy does not allow."""

from __future__ import annotations

import io
import mmap
import pickletools
from collections.abc import Callable
from typing import IO, Any, cast

from hoopsense.weights.pickle_policy import (
    _DEFAULT_FACTORIES,
    _GETATTR_NAMES,
    _TENSOR_REBUILDERS,
    _TENSOR_TYPES,
    CALLABLE,
    CLASS,
    DATA,
    SPECIAL,
    _classify,
    _Entry,
    _Refused,
    _Unreadable,
)


class _Const:
    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class _Tuple:
    __slots__ = ("checked", "items")

    def __init__(self, items: list[Any]) -> None:
        self.items = items
        self.checked = False


class _Container:
    """A list, dict, set or frozenset built by the pickle (its items were checked as they went in)."""

    __slots__ = ("kind", "size")

    def __init__(self, kind: str, size: int = 0) -> None:
        self.kind = kind
        self.size = size


class _Obj:
    """An object the pickle created through an allowed call or class."""

    __slots__ = ("module_instance", "origin")

    def __init__(self, origin: str, module_instance: bool = False) -> None:
        self.origin = origin
        self.module_instance = module_instance


class _Global:
    __slots__ = ("entry",)

    def __init__(self, entry: _Entry) -> None:
        self.entry = entry


class _FuncRef:
    """``getattr(<nn.Module class or instance>, "forward")``: may be stored, never called while loading."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


Sym = _Const | _Tuple | _Container | _Obj | _Global | _FuncRef

_CONST_OPS = frozenset(
    {
        *("INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT"),
        *("STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8"),
        *("UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8"),
    }
)
_LITERALS = {"NONE": None, "NEWTRUE": True, "NEWFALSE": False}


def _short(text: str, limit: int = 120) -> str:
    text = repr(text)[1:-1]
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Machine:
    """Follows one pickle's opcodes on a symbolic stack and raises _Refused or _Unreadable."""

    def __init__(self, data: bytes | mmap.mmap, start: int, *, mode: str) -> None:
        self.data = data
        self.start = start
        self.mode = mode  # "zip", "legacy" (the object pickle of the legacy format) or "plain" (legacy header)
        self.torch_unpickler = mode != "plain"
        self.stack: list[Sym] = []
        self.metastack: list[list[Sym]] = []
        self.memo: dict[int, Sym] = {}
        self.proto = 0
        self.pos = start

    # -- stack helpers --------------------------------------------------------------------------------------------
    def pop(self) -> Sym:
        if not self.stack:
            raise _Unreadable(f"stack underflow at byte {self.pos}")
        return self.stack.pop()

    def push(self, sym: Sym) -> None:
        self.stack.append(sym)

    def top(self) -> Sym:
        if not self.stack:
            raise _Unreadable(f"stack underflow at byte {self.pos}")
        return self.stack[-1]

    def pop_mark(self) -> list[Sym]:
        if not self.metastack:
            raise _Unreadable(f"no MARK before byte {self.pos}")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # -- policy helpers -------------------------------------------------------------------------------------------
    def refuse(self, detail: str) -> _Refused:
        return _Refused(detail)

    def as_data(self, sym: Sym, where: str) -> None:
        """``sym`` is stored or passed as a value: it must not be a constructor-only class or a special callable."""
        todo: list[Sym] = [sym]
        tuples: list[_Tuple] = []
        seen: set[int] = set()
        while todo:
            s = todo.pop()
            if isinstance(s, _Tuple):
                if not s.checked and id(s) not in seen:
                    seen.add(id(s))
                    tuples.append(s)
                    todo.extend(s.items)
            elif isinstance(s, _Global) and s.entry.kind not in (CALLABLE, DATA):
                what = "class" if s.entry.kind == CLASS else "callable"
                raise self.refuse(
                    f"it passes the {what} '{_short(s.entry.name)}' as a value ({where} at byte {self.pos}), "
                    f"where it could be called with arguments from the file"
                )
        for t in tuples:
            t.checked = True

    def global_sym(self, module: str, name: str) -> _Global:
        full, entry = _classify(module, name, self.proto, self.torch_unpickler)
        if entry is None:
            raise self.refuse(f"it references the global '{_short(full)}', which is not on the allowed list")
        return _Global(entry)

    def read_global_line_pair(self) -> tuple[str, str]:
        """Module and name of GLOBAL/INST, read from the raw bytes the way the C unpickler reads them."""
        first = self.data.find(b"\n", self.pos + 1)
        second = self.data.find(b"\n", first + 1) if first >= 0 else -1
        if first < 0 or second < 0:
            raise _Unreadable(f"truncated GLOBAL at byte {self.pos}")
        try:
            return self.data[self.pos + 1 : first].decode("utf-8"), self.data[first + 1 : second].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _Unreadable(f"undecodable GLOBAL at byte {self.pos}") from exc

    # -- calls ----------------------------------------------------------------------------------------------------
    def call(self, func: Sym, args: Sym, opname: str) -> Sym:
        if not isinstance(func, _Global):
            raise self.refuse(f"it calls an object that is not an allowed global ({opname} at byte {self.pos})")
        entry = func.entry
        if not isinstance(args, _Tuple):
            raise self.refuse(f"it calls '{_short(entry.name)}' with arguments that cannot be determined")
        if entry.kind == CLASS:
            raise self.refuse(
                f"it calls the class '{_short(entry.name)}' ({opname} at byte {self.pos}), which would run its "
                f"constructor with arguments from the file"
            )
        if entry.kind == DATA:
            raise self.refuse(f"it calls '{_short(entry.name)}', which is not a callable ({opname} at byte {self.pos})")
        check = _ARG_CHECKS.get(entry.name)
        if check is not None:
            return check(self, entry, args.items)
        if entry.kind == SPECIAL:  # pragma: no cover - every special name has an argument check
            raise self.refuse(f"it calls '{_short(entry.name)}'")
        self.as_data(args, f"arguments of {entry.name}")
        return _Obj(entry.name)

    def new_object(self, cls: Sym, args: Sym, kwargs: Sym | None, opname: str) -> Sym:
        """``cls.__new__(cls, *args)``: for an allowed class; tensor types only without arguments."""
        if not isinstance(cls, _Global):
            raise self.refuse(f"it instantiates an object that is not an allowed class ({opname} at byte {self.pos})")
        entry = cls.entry
        if not isinstance(args, _Tuple):
            raise _Unreadable(f"{opname} without an argument tuple at byte {self.pos}")
        if not entry.is_class or entry.kind == SPECIAL or (entry.kind == DATA and args.items):
            raise self.refuse(f"it instantiates '{_short(entry.name)}' ({opname} at byte {self.pos})")
        if kwargs is not None and not (isinstance(kwargs, _Container) and kwargs.kind == "dict" and not kwargs.size):
            # C-level __new__ methods take keywords that files must never reach (torch.Tensor(cdata=<address>)).
            raise self.refuse(
                f"it instantiates '{_short(entry.name)}' with keyword arguments ({opname} at byte {self.pos})"
            )
        self.as_data(args, f"{opname} arguments")
        return _Obj(entry.name, entry.module_class)

    def instantiate(self, cls: Sym, args: list[Sym], opname: str) -> Sym:
        """INST/OBJ: ``cls(*args)`` when there are arguments (or ``__getinitargs__``), else ``cls.__new__(cls)``."""
        if isinstance(cls, _Global) and cls.entry.is_class and not args and not cls.entry.init_on_inst:
            return self.new_object(cls, _Tuple([]), None, opname)
        return self.call(cls, _Tuple(args), opname)

    def persistent(self, pid: Sym) -> Sym:
        if self.mode == "plain":
            raise _Unreadable(f"persistent id outside the checkpoint object at byte {self.pos}")
        items = pid.items if isinstance(pid, _Tuple) else []
        kind = items[0].value if items and isinstance(items[0], _Const) else None
        kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else kind
        if kind == "storage":
            self.as_data(pid, "storage id")
            return _Obj("storage")
        if kind == "module" and self.mode == "legacy" and len(items) >= 2 and isinstance(items[1], _Global):
            # Legacy torch.save writes nn.Module classes as ('module', cls, source_file, source): the load returns cls.
            for item in items[2:]:
                self.as_data(item, "module id")
            if not items[1].entry.is_class:
                raise self.refuse(f"its persistent id names '{_short(items[1].entry.name)}', which is not a class")
            return items[1]
        raise self.refuse(f"it holds a persistent id that is not a torch storage (byte {self.pos})")

    # -- the walk -------------------------------------------------------------------------------------------------
    def run(self) -> tuple[Sym, int]:
        # An mmap is file-like (read, readline, seek, tell) without reading the whole file.
        stream = cast(IO[bytes], io.BytesIO(self.data) if isinstance(self.data, bytes) else self.data)
        stream.seek(self.start)
        try:
            for op, arg, pos in pickletools.genops(stream):
                self.pos = pos if pos is not None else self.pos
                result = self.step(op.name, arg)
                if result is not None:
                    return result, stream.tell()
        except (_Refused, _Unreadable):
            raise
        except Exception as exc:  # genops: unknown opcode, truncated argument, exhausted before STOP, ...
            raise _Unreadable(f"{exc} (byte {self.pos})") from exc
        raise _Unreadable("pickle data ended before STOP")

    def step(self, name: str, arg: Any) -> Sym | None:
        if name in _CONST_OPS:
            self.push(_Const(arg))
        elif name in _LITERALS:
            self.push(_Const(_LITERALS[name]))
        elif name == "MARK":
            self.metastack.append(self.stack)
            self.stack = []
        elif name in ("PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"):
            index = len(self.memo) if name == "MEMOIZE" else arg
            if not isinstance(index, int) or index < 0:
                raise _Unreadable(f"bad memo index at byte {self.pos}")
            self.memo[index] = self.top()
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            if arg not in self.memo:
                raise _Unreadable(f"memo entry {arg!r} read before it was written (byte {self.pos})")
            self.push(self.memo[arg])
        elif name == "POP":
            if self.stack:
                self.stack.pop()
            else:
                self.pop_mark()
        elif name == "POP_MARK":
            self.pop_mark()
        elif name == "DUP":
            self.push(self.top())
        elif name == "EMPTY_TUPLE":
            self.push(_Tuple([]))
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = [self.pop() for _ in range(n)][::-1]
            self.push(_Tuple(items))
        elif name == "TUPLE":
            self.push(_Tuple(self.pop_mark()))
        elif name in ("EMPTY_LIST", "EMPTY_DICT", "EMPTY_SET"):
            self.push(_Container(name[6:].lower()))
        elif name in ("LIST", "DICT", "FROZENSET"):
            items = self.pop_mark()
            for item in items:
                self.as_data(item, name)
            self.push(_Container(name.lower(), len(items)))
        elif name in ("APPEND", "APPENDS", "SETITEM", "SETITEMS", "ADDITEMS"):
            if name == "APPEND":
                items = [self.pop()]
            elif name == "SETITEM":
                value = self.pop()
                items = [self.pop(), value]
            else:
                items = self.pop_mark()
            target = self.top()
            if not isinstance(target, (_Container, _Obj)):
                raise self.refuse(f"it applies {name} to something other than a container (byte {self.pos})")
            for item in items:
                self.as_data(item, name)
            if isinstance(target, _Container):
                target.size += len(items)
        elif name == "GLOBAL":
            module, attr = self.read_global_line_pair()
            self.push(self.global_sym(module, attr))
        elif name == "STACK_GLOBAL":
            attr_sym, module_sym = self.pop(), self.pop()
            if not (
                isinstance(module_sym, _Const)
                and isinstance(attr_sym, _Const)
                and isinstance(module_sym.value, str)
                and isinstance(attr_sym.value, str)
            ):
                raise self.refuse(f"it names a global (STACK_GLOBAL at byte {self.pos}) that cannot be determined")
            self.push(self.global_sym(module_sym.value, attr_sym.value))
        elif name == "INST":
            module, attr = self.read_global_line_pair()
            cls = self.global_sym(module, attr)
            self.push(self.instantiate(cls, self.pop_mark(), "INST"))
        elif name == "OBJ":
            items = self.pop_mark()
            if not items:
                raise _Unreadable(f"OBJ without a class at byte {self.pos}")
            self.push(self.instantiate(items[0], items[1:], "OBJ"))
        elif name == "REDUCE":
            args = self.pop()
            self.push(self.call(self.pop(), args, "REDUCE"))
        elif name == "NEWOBJ":
            args = self.pop()
            self.push(self.new_object(self.pop(), args, None, "NEWOBJ"))
        elif name == "NEWOBJ_EX":
            kwargs, args = self.pop(), self.pop()
            self.push(self.new_object(self.pop(), args, kwargs, "NEWOBJ_EX"))
        elif name == "BUILD":
            state = self.pop()
            if not isinstance(self.top(), _Obj):
                raise self.refuse(f"it sets the state of something it did not create (BUILD at byte {self.pos})")
            self.as_data(state, "BUILD state")
        elif name == "BINPERSID":
            self.push(self.persistent(self.pop()))
        elif name == "PERSID":
            raise _Unreadable(f"text persistent id at byte {self.pos}")
        elif name in ("EXT1", "EXT2", "EXT4"):
            raise self.refuse(f"it names a global through the extension registry ({name} at byte {self.pos})")
        elif name == "PROTO":
            self.proto = int(arg)
        elif name == "FRAME":
            pass
        elif name == "STOP":
            result = self.pop()
            self.as_data(result, "the loaded object")
            return result
        else:  # NEXT_BUFFER, READONLY_BUFFER: torch.load passes no out-of-band buffers
            raise _Unreadable(f"unsupported opcode {name} at byte {self.pos}")
        return None


# --------------------------------------------------------------------------------------------------------------------
# Argument checks of the special callables
# --------------------------------------------------------------------------------------------------------------------


def _check_getattr(m: _Machine, entry: _Entry, args: list[Sym]) -> Sym:
    if len(args) == 2 and isinstance(args[1], _Const) and args[1].value in _GETATTR_NAMES:
        owner = args[0]
        if (isinstance(owner, _Global) and owner.entry.module_class) or (
            isinstance(owner, _Obj) and owner.module_instance
        ):
            return _FuncRef(str(args[1].value))
    raise m.refuse(
        f"it calls 'builtins.getattr' (byte {m.pos}) other than to take 'forward' or 'forward_fuse' of a torch module"
    )


def _check_reconstructor(m: _Machine, entry: _Entry, args: list[Sym]) -> Sym:
    if len(args) == 3:
        cls, base, state = args
        if (
            isinstance(cls, _Global)
            and cls.entry.is_class
            and cls.entry.kind in (CLASS, CALLABLE)
            and isinstance(base, _Global)
            and base.entry.name in ("builtins.object", "__builtin__.object")
            and isinstance(state, _Const)
            and state.value is None
        ):
            return _Obj(cls.entry.name, cls.entry.module_class)
    raise m.refuse(f"it calls 'copyreg._reconstructor' (byte {m.pos}) in a way that could run a constructor")


def _check_rebuild_from_type(m: _Machine, entry: _Entry, args: list[Sym]) -> Sym:
    if len(args) == 4:
        func, new_type, call_args, state = args
        if (
            isinstance(func, _Global)
            and func.entry.name in _TENSOR_REBUILDERS
            and isinstance(new_type, _Global)
            and new_type.entry.name in _TENSOR_TYPES
        ):
            m.as_data(call_args, f"arguments of {entry.name}")
            m.as_data(state, f"arguments of {entry.name}")
            return _Obj(entry.name)
    raise m.refuse(f"it calls '{entry.name}' (byte {m.pos}) with something other than a tensor rebuild function")


def _check_defaultdict(m: _Machine, entry: _Entry, args: list[Sym]) -> Sym:
    factory = args[0] if args else _Const(None)
    allowed = (isinstance(factory, _Const) and factory.value is None) or (
        isinstance(factory, _Global) and factory.entry.name in _DEFAULT_FACTORIES
    )
    if not allowed:
        raise m.refuse(f"it builds a 'collections.defaultdict' (byte {m.pos}) whose factory is not a builtin type")
    for item in args[1:]:
        m.as_data(item, "arguments of collections.defaultdict")
    return _Obj(entry.name)


def _check_codecs_encode(m: _Machine, entry: _Entry, args: list[Sym]) -> Sym:
    if (
        len(args) == 2
        and isinstance(args[0], _Const)
        and isinstance(args[0].value, str)
        and isinstance(args[1], _Const)
        and args[1].value in ("latin1", "latin-1")
    ):
        return _Obj(entry.name)
    raise m.refuse(f"it calls '_codecs.encode' (byte {m.pos}) other than as pickle does for bytes")


_ARG_CHECKS: dict[str, Callable[[_Machine, _Entry, list[Sym]], Sym]] = {
    "builtins.getattr": _check_getattr,
    "copyreg._reconstructor": _check_reconstructor,
    "torch._tensor._rebuild_from_type_v2": _check_rebuild_from_type,
    "torch.tensor._rebuild_from_type_v2": _check_rebuild_from_type,
    "torch._tensor._rebuild_from_type": _check_rebuild_from_type,
    "torch.tensor._rebuild_from_type": _check_rebuild_from_type,
    "collections.defaultdict": _check_defaultdict,
    "_codecs.encode": _check_codecs_encode,
}


# --------------------------------------------------------------------------------------------------------------------
# File formats
# --------------------------------------------------------------------------------------------------------------------
