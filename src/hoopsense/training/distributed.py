"""Training under ``torchrun``: one process per GPU (or several on a CPU), DistributedDataParallel.

torchrun starts ``WORLD_SIZE`` copies of the command and tells each, through its
environment, its ``RANK`` (0 to WORLD_SIZE - 1, across machines) and its
``LOCAL_RANK`` (its index on its machine, which picks its CUDA device). Outside
torchrun (or with a world of one) every helper here does nothing, and training
runs exactly as a single process.

Every process runs the same code and must reach the same collective calls in
the same order, or they wait for each other forever. So a failure is never
raised by one process alone where the others could be waiting: code that may
fail on one process only (reading a clip, writing a file) runs inside
:func:`together` or is iterated with :func:`synced`, which raise it on every
process at the same point; :func:`raised_on_all_ranks` then tells the CLI that
every process is stopping, so rank 0 can print the one line while the others
wait for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from hoopsense.devices import pick_device, usable_cores
from hoopsense.errors import ConfigError, HoopsenseError

T = TypeVar("T")
_MARK = "_hoopsense_all_ranks"


class PeerFailed(HoopsenseError):
    """Another process of the torchrun job failed; the message is that process's own."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job: ``rank`` in ``[0, world)``, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The one process that writes files and prints."""
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int] | None:
        """``(rank, world)`` when the data is shared among several processes, else None."""
        return (self.rank, self.world) if self.world > 1 else None


SINGLE = Ranks()


def torchrun_ranks(environ: Mapping[str, str] | None = None) -> Ranks | None:
    """The ranks torchrun put in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); None
    outside torchrun or for a world of one process."""
    env = os.environ if environ is None else environ
    if not all(name in env for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK")):
        return None
    try:
        ranks = Ranks(int(env["RANK"]), int(env["WORLD_SIZE"]), int(env["LOCAL_RANK"]))
    except ValueError:
        raise ConfigError(
            f"torchrun's RANK, WORLD_SIZE and LOCAL_RANK must be numbers, got "
            f"{env['RANK']!r}, {env['WORLD_SIZE']!r}, {env['LOCAL_RANK']!r}"
        ) from None
    return ranks if ranks.world > 1 else None


def active() -> bool:
    """True when this process belongs to a process group of two or more processes."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def current() -> Ranks:
    """This process's ranks in the process group; :data:`SINGLE` without one."""
    if not active():
        return SINGLE
    return Ranks(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def threads_per_process() -> int:
    """Torch threads for one process of a torchrun job: ``OMP_NUM_THREADS`` when set (torchrun
    sets 1 when it starts several processes a machine), else the cores shared among them."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    return max(1, usable_cores() // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))


def pick_rank_device(name: str, ranks: Ranks) -> torch.device:
    """The device of this process: as :func:`~hoopsense.devices.pick_device` for one process;
    under torchrun ``auto`` and ``cuda`` are ``cuda:LOCAL_RANK`` (``cpu`` when ``auto`` finds no
    CUDA), and a numbered GPU or ``mps`` is a :class:`ConfigError`."""
    if ranks.world == 1:
        return torch.device(pick_device(name))
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if name not in ("auto", "cuda"):
        raise ConfigError(
            f"device {name} cannot be used under torchrun: each process takes the GPU of its LOCAL_RANK; "
            "use auto, cuda or cpu (CUDA_VISIBLE_DEVICES chooses the GPUs)",
            field="device",
        )
    pick_device("cuda")  # a ConfigError when there is no CUDA device
    if ranks.local_rank >= torch.cuda.device_count():
        raise ConfigError(
            f"device: LOCAL_RANK {ranks.local_rank} but this machine has {torch.cuda.device_count()} CUDA "
            "devices; start at most that many processes a machine (--nproc_per_node)",
            field="device",
        )
    return torch.device("cuda", ranks.local_rank)


@contextmanager
def joined(device: str) -> Iterator[Ranks]:
    """Within the block, this process is in torchrun's process group (nccl for CUDA, gloo for
    the CPU) when torchrun started it; yields its :class:`Ranks`. A group that already exists is
    used and left as it is. The group is taken down when the block ends, unless it ends with a
    failure of this process alone (the others may be waiting in a collective call: torchrun
    stops them when this process exits)."""
    ranks = torchrun_ranks()
    if ranks is not None and not dist.is_available():
        raise ConfigError("started by torchrun, but this PyTorch build has no torch.distributed")
    if ranks is None or dist.is_initialized():
        yield current()
        return
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if cuda and ranks.local_rank < torch.cuda.device_count():
        torch.cuda.set_device(ranks.local_rank)
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield current()
    except BaseException as exc:
        if raised_on_all_ranks(exc):
            dist.destroy_process_group()
        raise
    dist.destroy_process_group()


def on_all_ranks(exc: BaseException) -> BaseException:
    """Mark ``exc`` as raised by every process at the same point (and return it)."""
    setattr(exc, _MARK, True)
    return exc


def raised_on_all_ranks(exc: BaseException) -> bool:
    """True when ``exc``, or an exception it was raised from, was raised by every process together."""
    seen: BaseException | None = exc
    while seen is not None:
        if getattr(seen, _MARK, False):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _comm_device() -> torch.device:
    """Where collective tensors live: the current GPU for nccl, the CPU for gloo."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def agree(failure: Exception | None) -> None:
    """Every process calls this at the same point, with its own failure or None. When any process
    failed, every process raises: the failed ones their own exception, the others the first
    failed rank's :class:`ConfigError` (with its field) or else :class:`PeerFailed` with its message."""
    if not active():
        if failure is not None:
            raise failure
        return
    flags = torch.zeros(dist.get_world_size(), dtype=torch.int64, device=_comm_device())
    flags[dist.get_rank()] = int(failure is not None)
    dist.all_reduce(flags)
    failed = flags.nonzero().flatten().tolist()
    if not failed:
        return
    notes: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(notes, _note(failure) if failure is not None else None)
    if failure is not None:
        raise on_all_ranks(failure)
    kind, message, exit_code, field = notes[failed[0]]
    if kind == "config":
        raise on_all_ranks(ConfigError(message, field=field)) from None
    if kind != "expected":
        message = f"process {failed[0]} failed with {message}"
    raise on_all_ranks(PeerFailed(message, exit_code=exit_code)) from None


def _note(exc: Exception) -> tuple[str, str, int, str | None]:
    """What another process needs to raise the same error: kind, message, exit code, field."""
    if isinstance(exc, ConfigError):
        return "config", str(exc), exc.exit_code, exc.field
    if isinstance(exc, HoopsenseError):
        return "expected", str(exc), exc.exit_code, None
    first = next((line for line in str(exc).splitlines() if line.strip()), "")
    return "bug", f"{type(exc).__name__}: {first[:300]} (its traceback is in that process's output)", 1, None


@contextmanager
def together() -> Iterator[None]:
    """Run a block that may fail on some processes only; leave it on every process together,
    raising on all of them when it raised on any (see :func:`agree`). Outside torchrun the block
    runs as it is."""
    if not active():
        yield
        return
    failure: Exception | None = None
    try:
        yield
    except Exception as exc:
        failure = exc
    agree(failure)


_END = object()


def synced(items: Iterable[T]) -> Iterator[T]:
    """Iterate over ``items`` (e.g. a loader) in step with the other processes, which must have as
    many items: an error raised by one process's iterator is raised by every process."""
    if not active():
        yield from items
        return
    it = iter(items)
    while True:
        with together():
            item = next(it, _END)
        ended = all_sum(np.array([item is _END], np.int64))[0]
        if ended == dist.get_world_size():
            return
        if ended:
            raise on_all_ranks(RuntimeError("the processes' loaders ran out at different steps"))
        yield cast(T, item)


def all_sum(values: np.ndarray) -> np.ndarray:
    """The element-wise sum of ``values`` (any shape, int64 or float64) over all processes."""
    if not active():
        return values
    tensor = torch.as_tensor(values).to(_comm_device())
    dist.all_reduce(tensor)
    return tensor.cpu().numpy()


def sum_values(*values: float) -> tuple[float, ...]:
    """Each of ``values`` summed over all processes (ints stay ints); ``values`` as they are for one."""
    if not active():
        return values
    sums = all_sum(np.array(values, np.float64)).tolist()
    return tuple(int(round(s)) if isinstance(v, int) else s for v, s in zip(values, sums, strict=True))


def total_loss(loss: torch.Tensor) -> torch.Tensor:
    """A scalar summed over all processes (non-finite when any process's is); ``loss`` itself for one."""
    if not active():
        return loss
    total = loss.detach().float().to(_comm_device(), copy=True)
    dist.all_reduce(total)
    return total


def barrier() -> None:
    """Wait until every process gets here."""
    if active():
        dist.barrier()


def share_buffers(model: nn.Module) -> None:
    """Give every process rank 0's buffers (batch-norm statistics, which each process updates
    from its own batches), so that all evaluate the model rank 0 saves."""
    if active():
        for buffer in model.buffers():
            dist.broadcast(buffer.data, src=0)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel when several processes train it, else ``model`` itself."""
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shard_of(items: Sequence[T], ranks: Ranks) -> list[T]:
    """This process's share of ``items`` (every ``world``-th from ``rank``; all of them for one
    process), for evaluation."""
    return list(items[ranks.rank :: ranks.world])
