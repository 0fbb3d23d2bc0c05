"""CPU backend: JIT-compiles loop-IR kernels with llvmlite and runs them through ctypes.

LLVM is imported on the first compile or disk-cache load, not with lazyarr. Compiled kernels
are cached in memory by their :class:`~lazyarr.ir.loop.Kernel` (structure, dtypes, layout
classes): sizes, strides, pointers and scalar values are run-time arguments, so they never
cause a compile. Below that sits the on-disk cache of object code (``diskcache.py``): a kernel
compiled by an earlier process is loaded from it without running LLVM's optimiser or code
generator.

Every kernel goes through the same path: optimise the IR, ``emit_object``, hand the object
file to MCJIT (``add_object_file``). A disk hit takes only the last step, so compiled and
loaded kernels are the same machine code. (MCJIT's ``set_object_cache`` hooks were the other
choice; they need an LLVM module for every lookup, so a hit would still build and parse IR.)

Kernels call the vectorised math functions out of line (``codegen/mathlib.py``): each one is
a support module, compiled (or loaded from the disk cache) once per process, when the first
kernel needing it is compiled or loaded, and linked into the engine before that kernel. A
kernel's disk entry names the support modules it calls, so a disk hit needs no IR.
"""

from __future__ import annotations

import ctypes
import itertools
import math
import os
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from lazyarr.config import settings
from lazyarr.ir import ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import NEGATIVE_POWER, ArgLayout, Kernel, Launch, pack_args
from lazyarr.run import stats

from . import diskcache, threads
from .interp import InterpBackend, values

_KERNEL_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)

# C math functions the generated code may call, directly or through LLVM intrinsics
_LIBM_NAMES = tuple(sorted(ops.libm_names()))
CALL_COST = ops.CALL_COST


def element_cost(kernel: Kernel) -> int:
    """Estimated cost of one element of ``kernel`` in plain-arithmetic units (>= 1): what
    :func:`call` multiplies element counts by to decide whether threads pay off. Each op's
    math routine costs what its row says (``ops.call_cost``)."""
    body = kernel.body
    return 1 + sum(ops.call_cost(ins.op, body[ins.args[-1]].dtype)
                   for ins in body if ins.args and ins.op is not Op.REDUCE)


@dataclass(slots=True)
class Compiled:
    """One kernel loaded into the JIT. ``function`` is a ctypes function that also carries
    ``lazyarr_ndim`` and ``lazyarr_cost`` (loop depth and :func:`element_cost`, which
    :func:`call` needs)."""

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


class Object(NamedTuple):
    """A kernel's object code and the support modules it calls (``codegen/mathlib.py``)."""

    code: bytes
    needs: tuple[str, ...]  # symbols of mathlib.SUPPORT_SYMBOLS


# A declaration of a support function in IR text (llvmlite quotes the name). Read from the
# text, not the llvmlite module, so a disk hit needs no IR built and no llvmlite.ir import.
_SUPPORT_DECLARATION = re.compile(r'^declare [^@\n]*@"?(lazyarr_math_[a-z0-9]+_f(?:32|64))"?\(',
                                  re.M)


def support_needs(text: str) -> tuple[str, ...]:
    """The support modules the IR ``text`` calls, by symbol."""
    return tuple(sorted(set(_SUPPORT_DECLARATION.findall(text))))


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
    # the same pattern the IR declares them with: nothing else reaches the engine
    if any(not _SUPPORT_DECLARATION.match(f"declare @{n}(") for n in needs):
        return None
    return Object(code, needs)


def _libm() -> ctypes.CDLL:
    try:  # the usual name first: ctypes.util (find_library) costs ~10 ms to import
        return ctypes.CDLL("libm.so.6")
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("m"))


# -- the target CPU: the host's, or LAZYARR_CPU's ------------------------------------------------
_UNKNOWN_CPU = "is not a recognized processor"  # what LLVM prints, and then goes on without


def _llvm_stderr(fn: Callable[[], Any]) -> tuple[Any, str]:
    """``fn()`` and what was written to stderr meanwhile.

    LLVM reports to file descriptor 2 directly, not through Python, so the descriptor
    itself points at a temporary file for the call (one target machine: milliseconds, once
    per process, and only for LAZYARR_CPU). The caller writes back what is not LLVM's.
    """
    import tempfile  # only here: importing it costs milliseconds

    sys.stderr.flush()
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        try:
            os.dup2(caught.fileno(), 2)
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        return result, caught.read().decode("utf-8", "replace")


# Which of the features this machine lacks a named CPU has, asked of LLVM itself (llvmlite
# does not expose a CPU's features): its inliner inlines a function into another only when
# the callee's subtarget features are a subset of the caller's (areInlineCompatible), and
# "target-cpu" and "target-features" attributes choose a function's subtarget. Caller and
# callees name the same CPU, so its tuning flags (some of which the comparison counts) are
# the same on both sides. The volatile store keeps each callee from being folded away.
_PROBE = """target triple = "{triple}"
@sink = global i32 0
{callees}
define void @caller() #0 {{
{calls}  ret void
}}
attributes #0 = {{ "target-cpu"="{cpu}" "target-features"="{features}" }}
{attributes}
"""
# Features LLVM emits only for their intrinsics, which generated code never calls (system,
# privileged and random-number instructions): hypervisors often hide some of them, and a
# CPU name must not be refused for those.
_UNUSED_FEATURES = frozenset((
    "clflushopt", "cldemote", "clwb", "enqcmd", "fsgsbase", "hreset", "invpcid", "kl", "lwp",
    "movdir64b", "movdiri", "mwaitx", "pconfig", "pku", "ptwrite", "rdpid", "rdpru", "rdrnd",
    "rdseed", "rtm", "serialize", "sgx", "shstk", "tsxldtrk", "uintr", "usermsr", "waitpkg",
    "wbnoinvd", "widekl", "xsave", "xsavec", "xsaveopt", "xsaves",
))


def _inlined(llvm: Any, tm: Any, triple: str, cpu: str, features: str,
             callees: list[str]) -> list[bool]:
    """Whether LLVM inlines a function of CPU ``cpu`` and features ``callees[k]`` into one of
    ``cpu`` and ``features``, for each k (all in one module, one O1 run)."""
    mod = llvm.parse_assembly(_PROBE.format(
        triple=triple, cpu=cpu, features=features,
        callees="\n".join(f"define internal void @f{k}() #{k + 1} {{\n"
                          f"  store volatile i32 {k}, ptr @sink\n  ret void\n}}"
                          for k in range(len(callees))),
        calls="".join(f"  call void @f{k}()\n" for k in range(len(callees))),
        attributes="\n".join(f'attributes #{k + 1} = {{ "target-cpu"="{cpu}" '
                             f'"target-features"="{f}" }}' for k, f in enumerate(callees))))
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=1))
    pb.getModulePassManager().run(mod, pb)
    text = str(mod)
    return [f"@f{k}(" not in text for k in range(len(callees))]


def missing_features(llvm: Any, tm: Any, triple: str, cpu: str,
                     host: dict[str, bool]) -> list[str]:
    """The features that LLVM's CPU ``cpu`` has and ``host`` (LLVM's report of a machine's
    features, name: present) says are absent, but those of ``_UNUSED_FEATURES``.

    Only features LLVM detects on a machine can be compared: the rest are tuning flags
    (ermsb, slow-*, ...) or have no detection, and are taken as present.
    """
    absent = sorted(f for f, on in host.items() if not on and f not in _UNUSED_FEATURES)
    if not absent:
        return []
    # the usual answer in one question: the CPU inlines into itself without those features
    # (turning off a feature it lacks changes nothing)
    if _inlined(llvm, tm, triple, cpu, ",".join(f"-{f}" for f in absent), [""])[0]:
        return []
    # which ones, for the message: the CPU plus the feature inlines into the CPU when it has
    # that feature already
    has = _inlined(llvm, tm, triple, cpu, "", [f"+{f}" for f in absent])
    return [f for f, h in zip(absent, has, strict=True) if h]


def target_cpu(llvm: Any, target: Any, triple: str, name: str) -> tuple[str, str]:
    """The CPU name and feature string to compile for: this machine's when ``name`` is ""
    (LAZYARR_CPU unset or "host"), else ``name`` with the features LLVM gives that CPU.

    A name LLVM does not know is a ValueError (LLVM would say so on stderr and compile for a
    generic CPU), and so is a CPU with instructions this machine lacks (code for it could
    end the process with SIGILL here).
    """
    if not name:
        return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    tm, said = _llvm_stderr(lambda: target.create_target_machine(cpu=name, features="", opt=3))
    if _UNKNOWN_CPU in said:
        raise ValueError(f"LAZYARR_CPU={name}: LLVM does not know this CPU for {triple} "
                         f"(names as for clang's -march, e.g. haswell, skylake-avx512, "
                         f"x86-64-v3; or host)")
    if said:
        sys.stderr.write(said)  # not LLVM's complaint about the name: someone else's
    missing = missing_features(llvm, tm, triple, name, dict(llvm.get_host_cpu_features()))
    if missing:
        raise ValueError(f"LAZYARR_CPU={name}: this machine ({llvm.get_host_cpu_name()}) "
                         f"lacks {', '.join(missing)} of that CPU, so code compiled for it "
                         f"could end the process with an illegal instruction here")
    return name, ""


class _Jit:
    """The LLVM target machine and one MCJIT engine for every kernel of this process."""

    def __init__(self) -> None:
        import llvmlite
        import llvmlite.binding as llvm

        self.llvm = llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        self.triple = llvm.get_process_triple()
        self._target = llvm.Target.from_triple(self.triple)
        # the CPU code is made for: this machine's, or LAZYARR_CPU's with its own features
        self.cpu, self.features = target_cpu(llvm, self._target, self.triple, settings.cpu)
        self.tm = self.target_machine()  # for optimising and emitting code; never in an engine
        self.layout = str(self.tm.target_data)
        # what, besides the kernel, decides the machine code: part of every disk-cache key (so
        # code for LAZYARR_CPU and for this machine, even one of that name, never share one)
        llvm_version = ".".join(map(str, llvm.llvm_version_info))
        self.host = (f"llvm {llvm_version}; llvmlite {llvmlite.__version__}; "
                     f"triple {self.triple}; cpu {self.cpu}; "
                     f"features {self.features or 'those of that CPU'}")
        self._remarks = False  # whether LLVM's vectoriser remarks are on (_show_remarks)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine())
        self._support: set[str] = set()  # support modules linked into the engine
        libm = _libm()
        for name in _LIBM_NAMES:
            for full in (name, name + "f"):
                fn = getattr(libm, full, None)
                if fn is not None:
                    llvm.add_symbol(full, ctypes.cast(fn, ctypes.c_void_p).value)

    def target_machine(self, opt: int = 3) -> Any:
        """A new target machine for this JIT's CPU and features. An MCJIT engine takes
        ownership of the target machine it is created with and frees it when it dies, so
        every engine needs its own: sharing ``tm`` would free it under its other users."""
        return self._target.create_target_machine(cpu=self.cpu, features=self.features,
                                                  opt=opt, jit=True)

    def ir(self, kernel: Kernel, name: str) -> str:
        from lazyarr.codegen.cpu import build_module

        return str(build_module(kernel, name, self.triple, self.layout))

    def optimise(self, text: str) -> Any:
        """Parse, verify and optimise IR text at O3. Support modules the IR calls are loaded
        first, so whatever this JIT optimises can be linked into its engine."""
        self.require(support_needs(text))
        return self._o3(text, remarks=settings.debug >= 2)

    def _o3(self, text: str, remarks: bool = False) -> Any:
        """``text`` parsed, verified and optimised; with ``remarks``, LLVM says on stderr why
        it did not vectorise a loop (kernels at LAZYARR_DEBUG >= 2; never support modules,
        whose cold lane-by-lane loops would only add noise)."""
        llvm = self.llvm
        mod = llvm.parse_assembly(text)
        mod.verify()
        self._show_remarks(remarks)
        pb = llvm.create_pass_builder(self.tm, self.pipeline_options(text))
        pb.getModulePassManager().run(mod, pb)
        return mod

    def _show_remarks(self, on: bool) -> None:
        """Turn LLVM's loop-vectoriser remarks (why a loop was not vectorised) on or off.

        LLVM prints remarks on stderr, and a library prints nothing unless asked:
        LAZYARR_DEBUG=2 and above ask (the level that reports vector widths). They are
        options of the whole process (numba's too, if loaded), so they are set only when
        they change, and "off" is a pattern no pass name matches: an empty one is ignored.
        """
        if on != self._remarks:
            pattern = "loop-vectorize" if on else "^$"
            for option in ("pass-remarks-missed", "pass-remarks-analysis"):
                self.llvm.set_option("lazyarr", f"-{option}={pattern}")
            self._remarks = on

    def pipeline_options(self, text: str) -> Any:
        """O3's tuning options for the module ``text``."""
        from lazyarr.codegen.cpu import STREAM_FENCE

        pto = self.llvm.create_pipeline_tuning_options(speed_level=3)
        # a streaming kernel's groups are one copy of the body per lane: SLP joins them
        # (off otherwise: the loop vectoriser does the rest, and SLP costs compile time)
        pto.slp_vectorization = STREAM_FENCE in text
        return pto

    def compile(self, kernel: Kernel, name: str) -> tuple[Object, str, str]:
        """Object code, IR and optimised IR of ``kernel``, exporting ``name``."""
        text = self.ir(kernel, name)
        mod = self.optimise(text)
        return Object(self.tm.emit_object(mod), support_needs(text)), text, str(mod)

    def require(self, needs: tuple[str, ...]) -> None:
        """Link the support modules ``needs`` names into the engine, once per process.

        Code calling them must come after: MCJIT resolves symbols when it finalises an
        object, and one it cannot find then stays a null address (calling it would end the
        process).
        """
        missing = [s for s in needs if s not in self._support]
        if not missing:
            return
        with _lock:  # callers outside a compile too (Compiled.llvm_opt, objcall)
            for symbol in missing:
                if symbol not in self._support:
                    self._load_support(symbol)
                    self._support.add(symbol)

    def support_key(self, symbol: str) -> bytes:
        """The disk-cache key of a support module's object code."""
        return diskcache.entry_key(diskcache.kernel_digest(("mathlib support", symbol)),
                                   self.host)

    def _load_support(self, symbol: str) -> None:
        """A support module from the disk cache, or compiled (and stored there)."""
        def make() -> bytes:
            from lazyarr.codegen import mathlib  # not on a disk hit: it is big to import

            if symbol not in mathlib.SUPPORT_SYMBOLS:
                raise RuntimeError(f"no support module defines {symbol}")
            module = mathlib.support_module(symbol, self.triple, self.layout)
            return self.tm.emit_object(self._o3(str(module)))

        key = self.support_key(symbol) if diskcache.enabled() else None
        self.link_cached(key, symbol, make)

    def link_cached(self, key: bytes | None, symbol: str, make: Callable[[], bytes]) -> int:
        """Link object code defining ``symbol``: the disk cache's entry ``key`` when it is
        there and usable, else ``make()`` (stored under ``key``); the symbol's address."""
        if key is not None:
            code = diskcache.load(key)
            if code is not None:
                try:
                    address = self._link(code, symbol)
                except RuntimeError:
                    address = 0  # unusable: made again below, and the entry replaced
                if address:
                    return address
        code = make()
        address = self._link(code, symbol)
        if not address:
            raise RuntimeError(f"object code for {symbol} did not link")
        if key is not None:
            diskcache.store(key, code)
        return address

    def _link(self, code: bytes, symbol: str) -> int:
        """Add object code to the engine; the address of ``symbol`` in it (0: absent)."""
        ref = self.llvm.ObjectFileRef.from_data(code)
        if not ref._ptr:  # LLVM could not parse it; adding a null object would crash
            raise RuntimeError("not an object file")
        self.engine.add_object_file(ref)
        self.engine.finalize_object()
        return self.engine.get_function_address(symbol)

    def load(self, obj: Object, name: str, kernel: Kernel) -> Any:
        """Link object code into the engine (its support modules first); the ctypes
        function named ``name``."""
        self.require(obj.needs)
        address = self._link(obj.code, name)
        if not address:
            raise RuntimeError(f"object code does not define {name}")
        fn = _KERNEL_TYPE(address)
        fn.lazyarr_ndim = kernel.ndim
        fn.lazyarr_cost = element_cost(kernel)
        return fn

    def assembly(self, text: str) -> str:
        return self.tm.emit_assembly(self.optimise(text))


_jit: _Jit | None = None
_cache: dict[Kernel, Compiled] = {}
_lock = threading.RLock()  # one compile or load at a time: MCJIT is not thread-safe
_uncacheable = itertools.count()


def jit() -> _Jit:
    global _jit
    with _lock:
        if _jit is None:
            _jit = _Jit()
    return _jit


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
    with _lock:
        found = _cache.get(kernel)  # another thread may have just made it
        if found is not None:
            stats.hit()
            return found
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


def compiled(kernel: Kernel) -> Compiled:
    found = _cache.get(kernel)
    if found is not None:
        stats.hit()
        return found
    found = _lookup(kernel)
    if settings.debug > 0:  # importing the reporter costs milliseconds: only when it speaks
        from lazyarr.inspect.debug import (
            on_compile,  # LAZYARR_DEBUG output (compiles and disk loads)
        )

        on_compile(kernel, found)
    return found


def clear_cache() -> None:
    """Forget kernels in memory (the disk cache stays: see ``diskcache.clear``)."""
    _cache.clear()


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

    def view(self, node: Any) -> Any:
        return values([node])[0]  # movement ops on the leaf's array: a NumPy view

    def compile(self, kernel: Kernel) -> Any:
        return compiled(kernel).function

    def launch(self, program: Any, launch: Launch) -> None:
        """Run a compiled kernel over the launch's whole index space."""
        args, status = pack_args(launch)
        call(program, args.ctypes.data, launch.shape[0], math.prod(launch.shape))
        check_status(status)


BACKEND = CpuBackend()
