"""CPU backend: runs loop-IR kernels compiled by LLVM (``cpu_jit.py``) through ctypes.

Compiled kernels are cached in memory by their :class:`~lazyarr.ir.loop.Kernel` (structure,
dtypes, layout classes): sizes, strides, pointers and scalar values are run-time arguments, so
they never cause a compile. Below that sits the on-disk cache of object code
(``diskcache.py``): a kernel compiled by an earlier process is loaded from it without running
LLVM's optimiser or code generator. :func:`call` is where every evaluation runs a kernel, and
where its work is split across threads (``threads.py``).
"""

from __future__ import annotations

import ctypes
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lazyarr.ir.loop import NEGATIVE_POWER, ArgLayout, Kernel, Launch, pack_args

from . import diskcache, stats, threads
from .cpu_jit import JIT_LOCK, Object, is_support_symbol, jit
from .interp import InterpBackend, values


@dataclass(slots=True)
class Compiled:
    """One kernel loaded into the JIT. ``function`` is a ctypes function that also carries
    ``lazyarr_ndim`` and ``lazyarr_cost`` (loop depth and
    :func:`~lazyarr.ir.loop.element_cost`, which :func:`call` needs)."""

    function: Any  # ctypes function
    kernel: Kernel
    name: str  # symbol of the exported function
    seconds: float  # compile (or disk load) time
    source: str  # "compile" or "disk"
    _llvm: str | None = None
    _llvm_opt: str | None = None

    @property
    def llvm(self) -> str:
        """The generated LLVM IR (rebuilt on demand for kernels loaded from disk)."""
        if self._llvm is None:
            self._llvm = jit().ir(self.kernel, self.name)
        return self._llvm

    @property
    def llvm_opt(self) -> str:
        """The IR after O3 (for disk hits: the same deterministic pipeline, rerun)."""
        if self._llvm_opt is None:
            self._llvm_opt = str(jit().optimise(self.llvm))
        return self._llvm_opt


# Disk entries of kernels: a line naming the support modules the object code calls, then
# the object code (ELF and Mach-O start otherwise, so an entry without the line is refused).
_NEEDS = b"needs:"


def _pack(obj: Object) -> bytes:
    return _NEEDS + " ".join(obj.needs).encode() + b"\n" + obj.code


def _unpack(payload: bytes) -> Object | None:
    head, newline, code = payload.partition(b"\n")
    if not newline or not head.startswith(_NEEDS):
        return None
    needs = tuple(head[len(_NEEDS):].decode("ascii", "replace").split())
    if not all(is_support_symbol(n) for n in needs):
        return None
    return Object(code, needs)


_cache: dict[Kernel, Compiled] = {}
_uncacheable = itertools.count()


def _names(kernel: Kernel) -> tuple[str, str | None]:
    """The symbol to export and the kernel's content digest (None: not cacheable on disk).

    Symbols are named by content, so one name is always one kernel: an object file from
    another process never clashes with code already in the engine.
    """
    try:
        digest = diskcache.kernel_digest(kernel)
    except diskcache.NotCacheable:
        return f"lazyarr_kernel_n{next(_uncacheable)}", None
    return f"lazyarr_kernel_{digest[:16]}", digest


def _from_disk(kernel: Kernel, name: str, key: bytes) -> Compiled | None:
    t0 = time.perf_counter()
    payload = diskcache.load(key)
    obj = None if payload is None else _unpack(payload)
    if obj is None:
        return None
    try:
        fn = jit().load(obj, name, kernel)
    except RuntimeError:
        return None  # verified but unusable: compile it and replace the entry
    return Compiled(fn, kernel, name, time.perf_counter() - t0, "disk")


def _compile(kernel: Kernel, name: str, key: bytes | None) -> Compiled:
    t0 = time.perf_counter()
    j = jit()
    obj, text, text_opt = j.compile(kernel, name)
    fn = j.load(obj, name, kernel)
    seconds = time.perf_counter() - t0
    if key is not None:
        diskcache.store(key, _pack(obj))
    return Compiled(fn, kernel, name, seconds, "compile", text, text_opt)


def _lookup(kernel: Kernel) -> Compiled:
    """The kernel from the disk cache, or compiled (and stored there); counts the lookup."""
    with JIT_LOCK:
        found = _cache.get(kernel)  # another thread may have just made it
        if found is not None:
            stats.hit()
            return found
        _link_half_runtime(kernel)
        name, digest = _names(kernel)
        key = None
        if digest is not None and diskcache.enabled():
            key = diskcache.entry_key(digest, jit().host)
            found = _from_disk(kernel, name, key)
        if found is not None:
            stats.hit()  # a hit that needs no compile
        else:
            stats.miss()
            found = _compile(kernel, name, key)
            stats.compiled(found.seconds)
        _cache[kernel] = found
        return found


_half_runtime: Any = None  # the JIT whose engine has the float16 conversion functions


def _link_half_runtime(kernel: Kernel) -> None:
    """Before the first kernel that touches float16: link the conversion functions LLVM
    calls on CPUs without half conversions (``codegen/half.py``), so that code for such a
    CPU (LAZYARR_CPU=sandybridge) finds them. Linked whatever the CPU: a few milliseconds once
    per process, or a disk hit."""
    global _half_runtime
    j = jit()
    if _half_runtime is j or not any(d.kind == "f" and d.itemsize == 2
                                     for d in _dtypes(kernel)):
        return

    def make() -> bytes:
        from lazyarr.codegen import half

        return j.tm.emit_object(j.optimise(str(half.runtime_module(j.triple, j.layout))))

    key = None
    if diskcache.enabled():
        key = diskcache.entry_key(diskcache.kernel_digest(("half runtime", 1)), j.host)
    j.link_cached(key, "__truncsfhf2", make)
    _half_runtime = j


def _dtypes(kernel: Kernel) -> list[Any]:
    return [*(i.dtype for i in kernel.body), *(p.dtype for p in kernel.inputs),
            *(p.dtype for _, p in kernel.outputs), *kernel.scalars]


def compiled(kernel: Kernel) -> Compiled:
    found = _cache.get(kernel)
    if found is not None:
        stats.hit()
        return found
    found = _lookup(kernel)
    stats.announce(kernel, found)  # LAZYARR_DEBUG's reporter listens (lazyarr.inspect.debug)
    return found


def clear_cache() -> None:
    """Forget kernels in memory (the disk cache stays: see ``diskcache.clear``), and what
    the thread pool learnt about them."""
    _cache.clear()
    threads.forget_learnt()


def _block_work(address: int, ndim: int) -> int:
    """Elements in the index space: the product of the block's shape words."""
    return math.prod((ctypes.c_int64 * ndim).from_address(address + 8 * ArgLayout.SHAPE))


def call(fn: Callable[[int, int, int], None], address: int, extent: int,
         work: int | None = None) -> None:
    """Run compiled kernel ``fn`` on the argument block at ``address`` over ``[0, extent)``
    of its outer loop. Every evaluation ends here (the fast path of repeated evaluations
    too), so this is where the work is split across threads. ``work``: elements in the
    whole index space (read from the block when not given)."""
    ndim = fn.lazyarr_ndim
    if work is None:
        work = extent if ndim == 1 else _block_work(address, ndim)
    # a 1-D kernel's outer loop is its vector loop: keep chunk edges on vector boundaries
    align = threads.ALIGN if ndim == 1 else 1
    threads.run(fn, address, extent, work * fn.lazyarr_cost, align)


def runs_inline(fn: Callable[[int, int, int], None], launch: Launch) -> bool:
    """Whether :func:`call` runs this launch on the calling thread whatever the thread
    count (too little work to share)."""
    return math.prod(launch.shape) * fn.lazyarr_cost < threads.MIN_WORK


def check_status(status) -> None:
    if status[0]:
        raise ValueError(NEGATIVE_POWER)


class CpuBackend(InterpBackend):
    """Compiled kernels on this machine's cores; NumPy (the interpreter's way) makes views of
    inputs, runs opaque ops and copies."""

    name = "cpu"
    cpu_policies = True
    lowers = True

    def view(self, node: Any, known: dict[int, Any]) -> Any:
        # movement ops on the leaf's (or the materialised result's) array: a NumPy view
        return values([node], known)[0]

    def compile(self, kernel: Kernel) -> Any:
        return compiled(kernel).function

    def launch(self, program: Any, launch: Launch) -> None:
        """Run a compiled kernel over the launch's whole index space."""
        args, status = pack_args(launch)
        call(program, args.ctypes.data, launch.shape[0], math.prod(launch.shape))
        check_status(status)


BACKEND = CpuBackend()
