"""NVIDIA GPU target: kernel modules checked, math resolved, optimised and emitted as PTX.

The kernel function and the elementwise wrapper (the same scalar body inside a grid-stride
loop) are ``nvptx_kernel.py``'s; kernels with rows (reductions, softmax-like row kernels) are
built by ``nvptx_rows.py``.

Math: NVPTX has no libm, and LLVM aborts the process on a math intrinsic it cannot lower.
The functions lazyarr's own math library implements (``mathlib``: exp, expm1, log, log1p,
sin, cos, tan, tanh, sinh, cosh, arctan, float power, exp2, log2, log10, cbrt, hypot;
from ``mathlib_inverse`` arcsin, arccos, arctan2, arcsinh, arccosh, arctanh; from
``mathlib_erf`` erf, erfc; ``MATHLIB_NAMES``) are inlined from it
(:func:`use_mathlib`), with or without libdevice: the same IR as the CPU's, so the same bits,
and huge trigonometric arguments take an exact Payne-Hanek reduction instead of libm. For the
rest, with NVIDIA's libdevice bitcode (``emit_ptx(..., libdevice=path)``;
``nvptx_libdevice.py``) the module's libm calls, math intrinsics and ``frem`` become
libdevice's ``__nv_*`` functions, libdevice is linked in (only the functions used),
internalised and optimised, and what is left is checked against a whitelist before the code
generator runs. Without libdevice those ops are refused (``UnsupportedOnTarget``) before LLVM
sees anything.
"""

from __future__ import annotations

import os

import numpy as np
from llvmlite import ir

from lazyarr import config
from lazyarr.ir import ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import Kernel

from . import mathlib
from .nvptx_kernel import TRIPLE, UnsupportedOnTarget, Variant, elementwise_module
from .nvptx_libdevice import (
    LIBDEVICE_NAMES,
    called_names,
    legalise_math,
    link_libdevice,
    routines,
    uses_libdevice,
)
from .scalar import has_emitter

DEFAULT_ARCH = "sm_90"

# The only functions a kernel module may declare. Each lowers to PTX instructions for f32 and
# f64 (tests/test_ptx.py emits and assembles every one). Any other declaration would be libm:
# NVPTX has none, and LLVM then aborts the whole process ("Cannot select: fpow", "no libcall
# available for flog2") or leaves a call that ptxas rejects.
_LOWERED = frozenset(
    f"llvm.{name}.{ty}"
    for name in ("sqrt", "fabs", "floor", "ceil", "trunc", "rint", "copysign")
    for ty in ("f32", "f64")
)
_LOWERED_PREFIXES = ("llvm.nvvm.read.ptx.sreg.",)
# what kernels with rows add (tests/test_cuda_nogpu.py assembles every one): NaN-propagating
# min/max folds (max.NaN.f32 on sm_80+, a select sequence for f64), warp shuffles, barriers
_ROW_LOWERED = frozenset(f"llvm.{name}.{ty}" for name in ("maximum", "minimum")
                         for ty in ("f32", "f64"))
_ROW_PREFIXES = ("llvm.nvvm.shfl.sync.", "llvm.nvvm.barrier")
# what mathlib's inlined functions add: FMA (fma.rn), and a 128-bit leading-zero count in the
# Payne-Hanek reduction (tests/test_cuda_nogpu.py assembles every function)
# and a 64-bit one (clz.b64) in the conversion of 64-bit integers to bfloat16 (codegen/half.py)
_MATHLIB_LOWERED = frozenset({"llvm.fma.f32", "llvm.fma.f64", "llvm.ctlz.i128", "llvm.ctlz.i64"})
# what arrays in the other byte order add: byte swaps (prmt.b32; tests/test_byteorder.py
# assembles such kernels)
_SWAP_PREFIX = "llvm.bswap."

# -- mathlib -----------------------------------------------------------------------------------
# Prefer lazyarr's own math (codegen/mathlib.py) to libdevice for the functions it has: its
# accuracy is measured (docs/math.md), and it is the CPU's code, so both targets give the same
# bits. False: libdevice for these too (where it is found), as before; clear the CUDA backend's
# caches (lazyarr.backends.cuda.clear_cache()) after changing it.
USE_MATHLIB = True


def _mathlib_names() -> dict[str, str]:
    # each such name whose routine mathlib has -> mathlib's function
    return {name: r.mathlib for r in routines() if r.mathlib in mathlib.FUNCTIONS
            for name in called_names(r)}


MATHLIB_NAMES = _mathlib_names()
# ops on float loops whose every math call is mathlib's (logaddexp: exp and log1p), so they
# compile without libdevice; check_module still refuses a call an emitter adds later
GPU_MATHLIB_OPS = frozenset(op for op in ops.LIBM if all(
    n in mathlib.FUNCTIONS for n in ops.mathlib_names(op)))


# After the module is optimised (and libdevice linked), what may still be declared: NVVM
# intrinsics (libdevice is written for NVPTX) and generic intrinsics that NVPTX lowers
# (libdevice's and mathlib's fma/copysign/bit counting; integer min/max, floating-point class
# tests and assumptions the optimiser forms).
_OPTIMISED_PREFIXES = ("llvm.nvvm.", "llvm.fma.", "llvm.fmuladd.", "llvm.copysign.", "llvm.fabs.",
                    "llvm.sqrt.", "llvm.floor.", "llvm.ceil.", "llvm.trunc.", "llvm.rint.",
                    "llvm.nearbyint.", "llvm.roundeven.", "llvm.ctlz.", "llvm.cttz.",
                    "llvm.ctpop.", "llvm.bitreverse.", "llvm.bswap.", "llvm.umax.",
                    "llvm.umin.", "llvm.smax.", "llvm.smin.", "llvm.abs.", "llvm.fshl.",
                    "llvm.fshr.", "llvm.maximum.", "llvm.minimum.", "llvm.maxnum.",
                    "llvm.minnum.", "llvm.fptosi.sat.", "llvm.fptoui.sat.", "llvm.assume",
                    "llvm.lifetime.", "llvm.experimental.noalias.scope.decl",
                    "llvm.vector.reduce.", "llvm.is.fpclass.")


def find_libdevice() -> str | None:
    """Path of NVIDIA's ``libdevice.10.bc``: ``LAZYARR_LIBDEVICE``, else a CUDA toolkit."""
    override = config.libdevice_override()
    if override:
        return override if os.path.isfile(override) else None
    for root in config.cuda_toolkit_roots():
        path = os.path.join(root, "nvvm", "libdevice", "libdevice.10.bc")
        if os.path.isfile(path):
            return path
    return None


# -- checks before LLVM ----------------------------------------------------------------------
def refusal(op: Op, loop_dtype: np.dtype, libdevice: bool = False) -> str | None:
    """Why the CUDA target cannot compute ``op`` on ``loop_dtype`` (None: it can), by the op
    tables: ``ops.target_support``'s math refusals, less what mathlib (float loops) and
    libdevice provide."""
    reason = ops.target_support(op, loop_dtype, "cuda", libdevice=libdevice,
                                mathlib=mathlib.FUNCTIONS if USE_MATHLIB else frozenset())
    return reason and f"cannot compile for CUDA: {reason}"


def check_supported(kernel: Kernel, libdevice: bool = False) -> None:
    """Refuse, by the op tables, a kernel this wrapper cannot compile (before any LLVM)."""
    for ins in kernel.body:
        if ins.op in (Op.LEAF, Op.SCALAR, Op.CAST):
            continue
        if ins.op is Op.REDUCE and kernel.row_ndim:
            continue  # the row wrappers fold it
        if ins.op is Op.SCAN:
            # the row wrappers spread a row over a block's threads, which a running value
            # carried from element to element does not fit (a block scan would)
            raise UnsupportedOnTarget(
                "cannot compile for CUDA: cumulative_sum / cumulative_prod (scan kernels) are "
                "not supported on the CUDA target yet; evaluate them with target='cpu'")
        if not has_emitter(ins.op):
            # a reduction outside a kernel with rows (or any op without a scalar emitter)
            # has no wrapper here; emit_body would fail with a bare KeyError
            raise UnsupportedOnTarget(
                f"cannot compile for CUDA: {ins.op.value} kernels are not supported on the "
                "CUDA target yet")
        reason = refusal(ins.op, kernel.body[ins.args[-1]].dtype, libdevice)
        if reason:
            raise UnsupportedOnTarget(reason)


def check_not_split(kernel: Kernel) -> None:
    """Refuse a full reduction cut into the CPU's partial rows (``cpu_passes.split_rows``).

    Only the CPU's row code (``partial_rows.SplitReduction``) emits the step that combines the
    partial rows and folds in the tail; the wrappers here would take each partial row for a
    row of its own, store its partial result over the one output and never read the tail.
    The CUDA target lowers with ``split=False`` and spreads a long row over thread blocks
    its own way (``nvptx_rows``: split/combine).
    """
    if kernel.split:
        raise UnsupportedOnTarget(
            "cannot compile for CUDA: this full reduction is cut into partial rows for CPU "
            "threads (cpu_passes.split_rows); plan it with cpu=False for the CUDA target")


def _allowed(name: str, libdevice: bool) -> bool:
    return (name in _LOWERED or name.startswith(_LOWERED_PREFIXES) or name in _ROW_LOWERED
            or name.startswith(_ROW_PREFIXES) or name in _MATHLIB_LOWERED
            or name.startswith(_SWAP_PREFIX)
            or (libdevice and name in LIBDEVICE_NAMES))


def check_module(module: ir.Module, libdevice: bool = False) -> None:
    """Refuse a built module that LLVM's NVPTX backend would abort on or get wrong.

    A second line of defence behind :func:`check_supported`: it looks at what the emitters
    actually produced, so an emitter that starts calling a new libm function, or an op table
    row that forgets a rule, fails here with a Python exception instead of killing the process.
    With ``libdevice`` the libm names libdevice provides, and ``frem`` (libdevice's fmod),
    are allowed: :func:`legalise_math` renames them before LLVM parses the module.
    """
    for fn in module.functions:
        if fn.is_declaration and not _allowed(fn.name, libdevice):
            raise UnsupportedOnTarget(
                f"cannot compile for CUDA: the kernel calls {fn.name}, a math routine the "
                "CUDA target does not have yet")
        for block in fn.blocks:
            for ins in block.instructions:
                # NVPTX does lower frem, but as x - trunc(x / y) * y: fmod(1e17, 3) comes out
                # 4.0 instead of 1.0, and an overflowing x / y gives -inf. NumPy's float % and
                # // need the exact remainder (libdevice's fmod is exact).
                if ins.opname == "frem" and not libdevice:
                    raise UnsupportedOnTarget(
                        "cannot compile for CUDA: floating-point remainder (frem) has no "
                        "exact lowering on the CUDA target yet")


# -- the module -------------------------------------------------------------------------------
def build_module(kernel: Kernel, name: str, variant: Variant | None = None,
                 libdevice: bool = False) -> ir.Module:
    """The kernel's LLVM module (llvmlite IR objects only: safe to build in-process)."""
    check_not_split(kernel)
    variant = variant or Variant(strategy="block" if kernel.row_ndim else "flat")
    check_supported(kernel, libdevice)
    if kernel.row_ndim:
        from .nvptx_rows import build_rows

        module = build_rows(kernel, name, variant)
    else:
        module = elementwise_module(kernel, name, variant)
    if USE_MATHLIB:
        use_mathlib(module)
    check_module(module, libdevice)
    return module


def use_mathlib(module: ir.Module) -> None:
    """Point every call of a libm routine or math intrinsic in ``MATHLIB_NAMES`` at mathlib's
    always-inlined function for it (with the Payne-Hanek reduction for huge trigonometric
    arguments), and drop the declaration.

    The emitters are shared with the CPU, which calls the out-of-line versions of the same
    functions (``scalar.MATHLIB_OPS``); redirecting calls here leaves the CPU's code alone.
    """
    targets = {}
    for fn in list(module.functions):
        name = MATHLIB_NAMES.get(fn.name)
        if name is not None and fn.is_declaration:
            targets[fn.name] = mathlib.function(module, name, fn.function_type.return_type,
                                               reduce_huge=True)
    if not targets:
        return
    for fn in module.functions:
        for block in fn.blocks:
            for ins in block.instructions:
                if isinstance(ins, ir.CallInstr) and ins.callee.name in targets:
                    ins.replace_callee(targets[ins.callee.name])
    for name in targets:
        del module.globals[name]


def check_optimised(mod) -> None:
    """The last check before code generation: every remaining declaration must lower.

    (Math intrinsics were renamed before LLVM parsed the module; the optimiser only adds
    intrinsics from the list above, but this keeps an abort impossible if it ever did not.)
    """
    for fn in mod.functions:
        name = fn.name
        if fn.is_declaration and not (_allowed(name, False)
                                      or name.startswith(_OPTIMISED_PREFIXES)):
            raise UnsupportedOnTarget(
                f"cannot compile for CUDA: after optimisation the kernel calls {name}")


# -- PTX -------------------------------------------------------------------------------------
_machines: dict[str, object] = {}


def _target_machine(arch: str = DEFAULT_ARCH):
    tm = _machines.get(arch)
    if tm is None:
        import llvmlite.binding as llvm

        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        target = llvm.Target.from_triple(TRIPLE)
        tm = _machines[arch] = target.create_target_machine(cpu=arch, opt=3)
    return tm


def optimised_module(kernel: Kernel, name: str = "lazyarr_kernel",
                     variant: Variant | None = None, libdevice: str | None = None,
                     arch: str = DEFAULT_ARCH):
    """The kernel's module as the code generator gets it: legalised, libdevice linked where
    used, optimised (an ``llvmlite.binding`` module). Refuses unsupported ops before LLVM."""
    import llvmlite.binding as llvm

    text = str(build_module(kernel, name, variant, libdevice is not None))
    if libdevice is not None:
        text = legalise_math(text)
    linked = libdevice is not None and uses_libdevice(text)
    mod = llvm.parse_assembly(text)
    mod.verify()
    tm = _target_machine(arch)
    # the target's own layout (LLVM 22 adds entries such as p6 and i256 to DATA_LAYOUT), so
    # the optimiser and the code generator agree on it
    mod.data_layout = str(tm.target_data)
    if linked:
        link_libdevice(mod, text, libdevice, name)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    check_optimised(mod)
    return mod


def emit_ptx(kernel: Kernel, name: str = "lazyarr_kernel", variant: Variant | None = None,
             libdevice: str | None = None, arch: str = DEFAULT_ARCH) -> str:
    """PTX text for ``kernel``; refuses unsupported ops before LLVM runs.

    ``libdevice``: path of ``libdevice.10.bc``; without it, math ops that mathlib does not
    provide are refused.
    """
    mod = optimised_module(kernel, name, variant, libdevice, arch)
    return _target_machine(arch).emit_assembly(mod)
