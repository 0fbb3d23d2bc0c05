"""The CPU backend's LLVM: one target machine, the O3 pipeline, object code, and one MCJIT
engine that every kernel of the process is linked into.

LLVM is imported when the first kernel is compiled or loaded from the disk cache, not with
lazyarr. Every kernel goes through the same path: optimise the IR, ``emit_object``, hand the
object file to MCJIT (``add_object_file``). A disk hit takes only the last step, so compiled
and loaded kernels are the same machine code. (MCJIT's ``set_object_cache`` hooks were the
other choice; they need an LLVM module for every lookup, so a hit would still build and parse
IR.)

Kernels call the vectorised math functions out of line (``codegen/mathlib.py``): each one is
a support module, compiled (or loaded from the disk cache) once per process, when the first
kernel needing it is compiled or loaded, and linked into the engine before that kernel. A
kernel's disk entry names the support modules it calls (:class:`Object`), so a disk hit needs
no IR.
"""

from __future__ import annotations

import ctypes
import re
import sys
import threading
from collections.abc import Callable
from typing import Any, NamedTuple

from lazyarr.config import settings
from lazyarr.ir import ops
from lazyarr.ir.loop import Kernel, compute_bound, element_cost

from . import diskcache
from .cpu_target import has_feature, target_cpu

_KERNEL_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)

# C math functions the generated code may call, directly or through LLVM intrinsics
LIBM_NAMES = tuple(sorted(ops.libm_names()))
JIT_LOCK = threading.RLock()  # one compile or load at a time: MCJIT is not thread-safe


class Object(NamedTuple):
    """A kernel's object code and the support modules it calls (``codegen/mathlib.py``)."""

    code: bytes
    needs: tuple[str, ...]  # symbols of mathlib.SUPPORT_SYMBOLS


# A declaration of a support function in IR text (llvmlite quotes the name). Read from the
# text, not the llvmlite module, so a disk hit needs no IR built and no llvmlite.ir import.
_SUPPORT_DECLARATION = re.compile(r'^declare [^@\n]*@"?(lazyarr_math_[a-z0-9]+_f(?:32|64))"?\(',
                                  re.M)


_VECTOR_DECLARATION = re.compile(
    r'^declare [^@\n]*@"?(_ZGV_LLVM_N\d+v+_lazyarr_math_[a-z0-9]+_f(?:32|64))"?\(', re.M)


def support_needs(text: str) -> tuple[str, ...]:
    """The support modules the IR ``text`` calls, by symbol."""
    return tuple(sorted(set(_SUPPORT_DECLARATION.findall(text))))


def is_support_symbol(name: str) -> bool:
    """Whether ``name`` is a support module's symbol, by the pattern the IR declares them
    with (a disk entry naming anything else is refused: nothing else reaches the engine)."""
    return _SUPPORT_DECLARATION.match(f"declare @{name}(") is not None


def libm() -> ctypes.CDLL:
    """The C math library, whose functions the JIT resolves generated code's calls to."""
    try:  # the usual name first: ctypes.util (find_library) costs ~10 ms to import
        return ctypes.CDLL("libm.so.6")
    except OSError:
        from ctypes.util import find_library

        return ctypes.CDLL(find_library("m"))


NO_STRIDE_VERSIONS = True  # see Jit.__init__


class Jit:
    """The LLVM target machine and one MCJIT engine for every kernel of this process."""

    def __init__(self) -> None:
        import llvmlite
        import llvmlite.binding as llvm

        self.llvm = llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        # LLVM's loop vectoriser versions a loop over a strided input on "stride == 1" and
        # runs the scalar loop otherwise. A unit stride is always CONTIG in lazyarr's
        # kernels, so that version never runs, and a strided input fell to scalar code: sin
        # of x[::2] took 10x the contiguous time. Without it, strided reads are gathers in
        # the vector loop (an option of the whole process, as LLVM's options are)
        llvm.set_option("lazyarr", f"-enable-mem-access-versioning={not NO_STRIDE_VERSIONS}")
        self.triple = llvm.get_process_triple()
        self._target = llvm.Target.from_triple(self.triple)
        # the CPU code is made for: this machine's, or LAZYARR_CPU's with its own features
        self.cpu, self.features = target_cpu(llvm, self._target, self.triple, settings.cpu)
        self.tm = self.target_machine()  # for optimising and emitting code; never in an engine
        self.layout = str(self.tm.target_data)
        # AVX-512 registers: math-bound kernels ask for them (vector_bits); a pure function of
        # the CPU and features below, so the disk-cache key (self.host) covers the choice
        self.avx512 = has_feature(llvm, self.tm, self.triple, self.cpu, self.features,
                                  "avx512f")
        # the registers math calls are sized in (codegen/mathlib.py CPU_USE), kernels and
        # support modules alike; mathlib's default too (_mathlib), for modules built outside
        # the backend, whose calls must name vector versions this process's modules define
        self.register_bits = 512 if self.avx512 else 256
        if "lazyarr.codegen.mathlib" in sys.modules:  # else: set where it is imported
            self._mathlib()
        # what, besides the kernel, decides the machine code: part of every disk-cache key (so
        # code for LAZYARR_CPU and for this machine, even one of that name, never share one)
        llvm_version = ".".join(map(str, llvm.llvm_version_info))
        self.host = (f"llvm {llvm_version}; llvmlite {llvmlite.__version__}; "
                     f"triple {self.triple}; cpu {self.cpu}; "
                     f"features {self.features or 'those of that CPU'}; "
                     f"stride versions {not NO_STRIDE_VERSIONS}")
        self._remarks = False  # whether LLVM's vectoriser remarks are on (_show_remarks)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.target_machine())
        self._support: set[str] = set()  # support modules linked into the engine
        lib = libm()
        for name in LIBM_NAMES:
            for full in (name, name + "f"):
                fn = getattr(lib, full, None)
                if fn is not None:
                    llvm.add_symbol(full, ctypes.cast(fn, ctypes.c_void_p).value)

    def target_machine(self, opt: int = 3) -> Any:
        """A new target machine for this JIT's CPU and features. An MCJIT engine takes
        ownership of the target machine it is created with and frees it when it dies, so
        every engine needs its own: sharing ``tm`` would free it under its other users."""
        return self._target.create_target_machine(cpu=self.cpu, features=self.features,
                                                  opt=opt, jit=True)

    def vector_bits(self, kernel: Kernel) -> int | None:
        """The vector width ``kernel``'s loops should prefer (None: the CPU's choice).

        LLVM's tuning for most AVX-512 cores prefers 256-bit vectors. Loops calling vector
        math already run in zmm registers on them (their width is asked for, and 512-bit
        types stay legal), so a kernel calling a math routine prefers 512 bits in all its
        loops: a row kernel such as softmax then mixes no ymm loops with zmm ones. Everything
        else keeps 256: memory-bound loops are no faster in zmm, and slower in the cache
        (benchmarks/vector_width.py; docs/benchmarks.md has the figures).
        """
        if self.avx512 and compute_bound(kernel.body):
            return 512
        return None

    def _mathlib(self) -> Any:
        """codegen/mathlib.py (not imported on a disk hit: it is big to import), its default
        register width set to this JIT's."""
        from lazyarr.codegen import mathlib

        mathlib.REGISTER_BITS = self.register_bits
        return mathlib

    def ir(self, kernel: Kernel, name: str) -> str:
        from lazyarr.codegen.cpu import build_module

        self._mathlib()
        return str(build_module(kernel, name, self.triple, self.layout,
                                self.vector_bits(kernel), self.register_bits))

    def optimise(self, text: str) -> Any:
        """Parse, verify and optimise IR text at O3. Support modules the IR calls are loaded
        first, so whatever this JIT optimises can be linked into its engine."""
        self.require(support_needs(text))
        self._check_versions(text)
        return self._o3(text, remarks=settings.debug >= 2)

    def _check_versions(self, text: str) -> None:
        """Refuse IR naming a vector version of a math function that the support modules
        linked here lack (IR sized for other registers: ``mathlib.set_register_bits``):
        linked, its calls would jump to address 0."""
        for symbol in set(_VECTOR_DECLARATION.findall(text)):
            if not self.engine.get_function_address(symbol):
                raise RuntimeError(
                    f"the IR calls {symbol}, which this process's math support modules do "
                    f"not define: its math calls are sized for other registers than this "
                    f"JIT's {self.register_bits} bits (mathlib.set_register_bits)")

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
        with JIT_LOCK:  # callers outside a compile too (Compiled.llvm_opt, objcall)
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
            mathlib = self._mathlib()
            if symbol not in mathlib.SUPPORT_SYMBOLS:
                raise RuntimeError(f"no support module defines {symbol}")
            module = mathlib.support_module(symbol, self.triple, self.layout,
                                            self.register_bits)
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


_jit: Jit | None = None


def jit() -> Jit:
    """The process's JIT, started on first use."""
    global _jit
    with JIT_LOCK:
        if _jit is None:
            _jit = Jit()
    return _jit
