"""CPU backend: JIT-compiles loop-IR kernels with llvmlite and runs them through ctypes.

LLVM is imported on the first compile, not with lazyarr. Compiled kernels are cached in
memory by their :class:`~lazyarr.loopir.Kernel` (structure, dtypes, layout classes): sizes,
strides, pointers and scalar values are run-time arguments, so they never cause a compile.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import time
from dataclasses import dataclass

from lazyarr import stats
from lazyarr.loopir import Kernel, Launch
from lazyarr.runtime import pack_args

_KERNEL_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)

# C math functions the generated code may call, directly or through LLVM intrinsics.
_LIBM_NAMES = (
    "exp expm1 exp2 log log1p log2 log10 cbrt sin cos tan asin acos atan atan2 sinh cosh "
    "tanh asinh acosh atanh hypot pow fmod floor ceil trunc rint copysign sqrt fabs"
).split()


@dataclass(slots=True)
class Compiled:
    function: object  # ctypes function
    llvm: str
    llvm_opt: str
    seconds: float
    module: object  # keeps the JIT'd code alive


class _Jit:
    """The LLVM target machine and one MCJIT engine for every kernel of this process."""

    def __init__(self) -> None:
        import llvmlite.binding as llvm

        self.llvm = llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        self.tm = target.create_target_machine(
            cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(),
            opt=3, jit=True)
        self.triple = llvm.get_process_triple()
        self.layout = str(self.tm.target_data)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), self.tm)
        libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        for name in _LIBM_NAMES:
            for full in (name, name + "f"):
                fn = getattr(libm, full, None)
                if fn is not None:
                    llvm.add_symbol(full, ctypes.cast(fn, ctypes.c_void_p).value)

    def optimise(self, text: str):
        llvm = self.llvm
        mod = llvm.parse_assembly(text)
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)
        return mod

    def compile(self, kernel: Kernel, name: str) -> Compiled:
        from lazyarr.codegen.cpu import build_module

        t0 = time.perf_counter()
        text = str(build_module(kernel, name, self.triple, self.layout))
        mod = self.optimise(text)
        self.engine.add_module(mod)
        self.engine.finalize_object()
        fn = _KERNEL_TYPE(self.engine.get_function_address(name))
        return Compiled(fn, text, str(mod), time.perf_counter() - t0, mod)

    def assembly(self, text: str) -> str:
        return self.tm.emit_assembly(self.optimise(text))


_jit: _Jit | None = None
_cache: dict[Kernel, Compiled] = {}


def jit() -> _Jit:
    global _jit
    if _jit is None:
        _jit = _Jit()
    return _jit


def compiled(kernel: Kernel) -> Compiled:
    found = _cache.get(kernel)
    if found is not None:
        stats.hit()
        return found
    stats.miss()
    found = jit().compile(kernel, f"lazyarr_kernel_{len(_cache)}")
    stats.compiled(found.seconds)
    _cache[kernel] = found
    from lazyarr.debug import on_compile  # LAZYARR_DEBUG output; silent at level 0

    on_compile(kernel, found)
    return found


def clear_cache() -> None:
    _cache.clear()


def call(fn, address: int, extent: int) -> None:
    """Run compiled kernel ``fn`` on the argument block at ``address`` over ``[0, extent)``
    of its outer loop. Every evaluation ends here (the fast path of repeated evaluations
    too), so this is where the work is split across threads."""
    fn(address, 0, extent)


def check_status(status) -> None:
    if status[0]:
        raise ValueError("Integers to negative integer powers are not allowed.")


def run(launch: Launch) -> None:
    """Run one lowered kernel over its whole index space."""
    fn = compiled(launch.kernel).function
    args, status = pack_args(launch)
    call(fn, args.ctypes.data, launch.shape[0])
    check_status(status)


def evaluate(roots, outs):
    from lazyarr.runtime import evaluate_compiled

    return evaluate_compiled(roots, outs, run)

