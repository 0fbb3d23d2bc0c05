"""NVIDIA GPU wrapper: the same scalar body inside a grid-stride loop, emitted as PTX.

``void name(i64 w0, ..., i64 wN)``: the kernel's parameters are the words of the argument
block (``Kernel.args``), passed by value, so a launch copies nothing to the device
before it starts (``cuLaunchKernel`` puts them in the constant bank). Pointers among them are
global-memory (``addrspace(1)``) pointers.

Elementwise kernels (no rows): every thread walks the flat index space with stride
``gridDim.x * blockDim.x`` and unravels its flat index into the kernel's dimensions, so any
grid size covers any problem size and the bounds guard is the loop condition itself. All
index arithmetic is 64-bit; with the ``narrow`` variant (index space below 2**31, decided at
launch) the unravelling divisions are 32-bit, which the GPU does far faster. With the
``vector`` variant (one dimension, every contiguous array aligned for it: decided at launch)
a main loop handles groups of four elements with one vector load or store per contiguous
array (16 bytes for float32: ``ld.global.v4``), then a scalar loop handles the tail.

Kernels with rows (reductions, softmax-like row kernels) are built by ``nvptx_rows.py``.

Math: NVPTX has no libm, and LLVM aborts the process on a math intrinsic it cannot lower.
The functions lazyarr's own math library implements (``mathlib``: exp, expm1, log, log1p,
sin, cos, tan, tanh, sinh, cosh, arctan, float power, exp2, log2, log10, cbrt, hypot;
and from ``mathlib_inverse`` arcsin, arccos, arctan2, arcsinh, arccosh, arctanh;
``MATHLIB_NAMES``) are inlined from it
(:func:`use_mathlib`), with or without libdevice: the same IR as the CPU's, so the same bits,
and huge trigonometric arguments take an exact Payne-Hanek reduction instead of libm. For the
rest, with NVIDIA's libdevice bitcode (``emit_ptx(..., libdevice=path)``) the module's libm
calls, math intrinsics and ``frem`` are renamed to libdevice's ``__nv_*`` functions in the IR
text, libdevice is linked in (only the functions used), internalised and optimised, and what
is left is checked against a whitelist before the code generator runs. Without libdevice
those ops are refused (``UnsupportedOnTarget``) before LLVM sees anything.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from lazyarr import config
from lazyarr.ir import ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import Kernel, Layout

from . import mathlib
from .common import counted_loop
from .scalar import (
    F32,
    F64,
    I8,
    I32,
    I64,
    emit_body,
    from_stored,
    has_emitter,
    load_param,
    memory_type,
    store_param,
    stored_type,
    to_stored,
)

TRIPLE = "nvptx64-nvidia-cuda"
DATA_LAYOUT = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
DEFAULT_ARCH = "sm_90"
GPTR = ir.PointerType(addrspace=1)  # global memory
GROUP = 4  # elements per vector group
MAX_PARAM_BYTES = 4096  # kernel parameter space every CUDA version and device accepts


class UnsupportedOnTarget(NotImplementedError):  # noqa: N818 (public name, used elsewhere)
    """The kernel uses an op this target cannot lower (checked before LLVM sees it)."""


@dataclass(frozen=True, slots=True)
class Variant:
    """Launch-time facts that change the generated code (part of the cache key).

    ``strategy``: "flat" (elementwise grid-stride loop), "block" (one thread block per outer
    index of a kernel with rows), "thread" (one thread per outer index), or the pair
    "split" / "combine" (long rows in chunks, then the chunks' partials; ``nvptx_rows.py``).
    """

    vector: bool = False
    narrow: bool = False
    strategy: str = "flat"


# The only functions a kernel module may declare. Each lowers to PTX instructions for f32 and
# f64 (tests/test_ptx.py emits and assembles every one). Any other declaration would be libm:
# NVPTX has none, and LLVM then aborts the whole process ("Cannot select: fpow", "no libcall
# available for flog2") or leaves a call that ptxas rejects.
_LOWERED = frozenset(
    f"llvm.{name}.{ty}"
    for name in ("sqrt", "fabs", "floor", "ceil", "trunc", "rint", "copysign")
    for ty in ("f32", "f64")
)
_LOWERED_PREFIXES = ("llvm.nvvm.read.ptx.sreg.", "llvm.fptosi.sat.", "llvm.fptoui.sat.")
# what kernels with rows add (tests/test_cuda_nogpu.py assembles every one): NaN-propagating
# min/max folds (max.NaN.f32 on sm_80+, a select sequence for f64), warp shuffles, barriers
_ROW_LOWERED = frozenset(f"llvm.{name}.{ty}" for name in ("maximum", "minimum")
                         for ty in ("f32", "f64"))
_ROW_PREFIXES = ("llvm.nvvm.shfl.sync.", "llvm.nvvm.barrier")
# what mathlib's inlined functions add: FMA (fma.rn), and a 128-bit leading-zero count in the
# Payne-Hanek reduction (tests/test_cuda_nogpu.py assembles every function)
_MATHLIB_LOWERED = frozenset({"llvm.fma.f32", "llvm.fma.f64", "llvm.ctlz.i128"})
# what arrays in the other byte order add: byte swaps (prmt.b32; tests/test_byteorder.py
# assembles such kernels)
_SWAP_PREFIX = "llvm.bswap."

# -- mathlib -----------------------------------------------------------------------------------
# Prefer lazyarr's own math (codegen/mathlib.py) to libdevice for the functions it has: its
# accuracy is measured (docs/math.md), and it is the CPU's code, so both targets give the same
# bits. False: libdevice for these too (where it is found), as before; clear the CUDA backend's
# caches (lazyarr.backends.cuda.clear_cache()) after changing it.
USE_MATHLIB = True


def _called_names(routine: ops.MathCall) -> tuple[str, str]:
    """The (float64, float32) names under which an emitter calls ``routine`` in a module."""
    if routine.form is ops.Form.INTRINSIC:
        return f"llvm.{routine.libm}.f64", f"llvm.{routine.libm}.f32"
    return routine.libm, routine.libm + "f"  # a C call; frem is C's fmod to libdevice


def _routines() -> list[ops.MathCall]:
    """Every routine the op rows call by a C or intrinsic name."""
    return [row.math for row in ops.ROWS.values() if row.math is not None and row.math.libm]


def _mathlib_names() -> dict[str, str]:
    # each such name whose routine mathlib has -> mathlib's function
    return {name: r.mathlib for r in _routines() if r.mathlib in mathlib.FUNCTIONS
            for name in _called_names(r)}


MATHLIB_NAMES = _mathlib_names()
# ops on float loops whose every math call is mathlib's (logaddexp: exp and log1p), so they
# compile without libdevice; check_module still refuses a call an emitter adds later
GPU_MATHLIB_OPS = frozenset(op for op in ops.LIBM if all(
    n in mathlib.FUNCTIONS for n in ops.mathlib_names(op)))


# -- libdevice -------------------------------------------------------------------------------
def _libdevice_names() -> dict[str, str]:
    # libdevice provides every routine of the rows as __nv_<C name>[f]; LLVM math intrinsics
    # NVPTX cannot lower (DESIGN.md) are renamed to it too
    names = {}
    for r in _routines():
        for name, suffix in zip(_called_names(r), ("", "f"), strict=True):
            names[name] = names[r.libm + suffix] = f"__nv_{r.libm}{suffix}"
    return names


LIBDEVICE_NAMES = _libdevice_names()

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
    reason = ops.target_support(op, loop_dtype, "nvptx", libdevice=libdevice,
                                mathlib=mathlib.FUNCTIONS if USE_MATHLIB else frozenset())
    return reason and f"cannot compile for CUDA: {reason}"


def check_supported(kernel: Kernel, libdevice: bool = False) -> None:
    """Refuse, by the op tables, a kernel this wrapper cannot compile (before any LLVM)."""
    for ins in kernel.body:
        if ins.op in (Op.LEAF, Op.SCALAR, Op.CAST):
            continue
        if ins.op is Op.REDUCE and kernel.row_ndim:
            continue  # the row wrappers fold it
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

    Only the CPU's row code (``rows.SplitReduction``) emits the step that combines the
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


# -- kernel parameters -------------------------------------------------------------------------
def _sreg(b: ir.IRBuilder, name: str) -> ir.Value:
    full = f"llvm.nvvm.read.ptx.sreg.{name}"
    fn = b.module.globals.get(full) or ir.Function(b.module, ir.FunctionType(I32, []), full)
    return b.zext(b.call(fn, []), I64)


def thread_index(b: ir.IRBuilder) -> tuple[ir.Value, ir.Value]:
    """(global thread index, total threads in the grid), both i64."""
    ntid = _sreg(b, "ntid.x")
    tid = b.add(b.mul(_sreg(b, "ctaid.x"), ntid), _sreg(b, "tid.x"))
    return tid, b.mul(_sreg(b, "nctaid.x"), ntid)


class ParamBlock:
    """The argument block's words, read from the kernel's by-value i64 parameters.

    The same fields as ``common.ArgBlock`` (shape, ptrs, strides, scalars, status), at the
    words ``Kernel.args`` names, so the host packs them once for both targets
    (``loop.pack_args``).
    """

    def __init__(self, b: ir.IRBuilder, fn: ir.Function, kernel: Kernel) -> None:
        words = list(fn.args)
        at, nd = kernel.args, kernel.ndim
        self.shape = words[at.SHAPE:at.SHAPE + nd]
        self.ptrs: list[ir.Value] = []
        self.strides: list[list[ir.Value]] = []
        for k in range(at.inputs + at.outputs):
            self.ptrs.append(b.inttoptr(words[at.address(k)], GPTR))
            self.strides.append(words[at.strides(k):at.strides(k) + nd])
        self.scalars = [_scalar(b, words[at.scalar(k)], dt)
                        for k, dt in enumerate(kernel.scalars)]
        self.status = b.inttoptr(words[at.status], GPTR)


def _scalar(b: ir.IRBuilder, word: ir.Value, dt) -> ir.Value:
    """A scalar from its word: its bits sit in the low bytes (little end first)."""
    ty = memory_type(dt)
    if ty == F64:
        return b.bitcast(word, F64)
    if ty == F32:
        return b.bitcast(b.trunc(word, I32), F32)
    raw = word if ty.width == 64 else b.trunc(word, ty)
    return b.icmp_unsigned("!=", raw, ir.Constant(ty, 0)) if dt.kind == "b" else raw


def param_count(kernel: Kernel, variant: Variant) -> int:
    """The kernel's i64 parameters: the argument block's words, then the split/combine
    kernels' workspace address and chunk count."""
    return kernel.args.words + (2 if variant.strategy in ("split", "combine") else 0)


def new_kernel(kernel: Kernel, name: str, extra: int = 0
               ) -> tuple[ir.Module, ir.Function, ir.IRBuilder]:
    """An empty kernel function taking the argument block's words (and ``extra`` more
    words) by value."""
    words = kernel.args.words + extra
    if 8 * words > MAX_PARAM_BYTES:
        raise UnsupportedOnTarget(
            f"cannot compile for CUDA: {words} argument words exceed the "
            f"{MAX_PARAM_BYTES}-byte kernel parameter space (too many arrays or dimensions)")
    module = ir.Module(name=name)
    module.triple, module.data_layout = TRIPLE, DATA_LAYOUT
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [I64] * words), name)
    fn.calling_convention = "ptx_kernel"
    md = module.add_named_metadata("nvvm.annotations")
    md.add(module.add_metadata([fn, ir.MetaDataString(module, "kernel"), I32(1)]))
    return module, fn, ir.IRBuilder(fn.append_basic_block("entry"))


# -- elementwise kernels -------------------------------------------------------------------------
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
        module, fn, b = new_kernel(kernel, name)
        blk = ParamBlock(b, fn, kernel)
        if variant.vector and kernel.ndim == 1:
            _vector_loops(b, blk, kernel)
        else:
            tid, stride = thread_index(b)
            counted_loop(b, tid, _total(b, blk.shape), stride,
                         lambda flat: _element(b, blk, kernel, flat, variant.narrow), "flat")
        b.ret_void()
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


def _total(b: ir.IRBuilder, shape: list[ir.Value]) -> ir.Value:
    total = shape[0]
    for n in shape[1:]:
        total = b.mul(total, n)
    return total


def unravel(b: ir.IRBuilder, flat: ir.Value, shape: list[ir.Value], narrow: bool
            ) -> list[ir.Value]:
    """Per-dimension indices (i64) of C-order flat index ``flat`` over ``shape``.

    ``narrow``: every index fits 31 bits, so divide in 32 bits (64-bit division is a long
    instruction sequence on NVIDIA GPUs).
    """
    if len(shape) == 1:
        return [flat]
    ty = I32 if narrow else I64
    rest = b.trunc(flat, I32) if narrow else flat
    idx: list[ir.Value] = []
    for d in reversed(range(len(shape))):
        n = b.trunc(shape[d], I32) if narrow else shape[d]
        if d:
            idx.append(b.urem(rest, n))
            rest = b.udiv(rest, n)
        else:
            idx.append(rest)
    idx.reverse()
    return [b.zext(i, I64) if ty is I32 else i for i in idx]


def element_ptrs(b: ir.IRBuilder, bases: list[ir.Value], strides: list[list[ir.Value]],
                 idx: list[ir.Value], dims: range) -> list[ir.Value]:
    """``base + sum(idx[d] * stride[d])`` for every array, over kernel dimensions ``dims``."""
    out = []
    for base, s in zip(bases, strides, strict=True):
        offset = None
        for i, d in zip(idx, dims, strict=True):
            term = b.mul(i, s[d])
            offset = term if offset is None else b.add(offset, term)
        out.append(base if offset is None else b.gep(base, [offset], source_etype=I8))
    return out


def _element(b: ir.IRBuilder, blk: ParamBlock, kernel: Kernel, flat: ir.Value,
             narrow: bool) -> None:
    idx = unravel(b, flat, blk.shape, narrow)
    ptrs = element_ptrs(b, blk.ptrs, blk.strides, idx, range(kernel.ndim))

    def load(k: int) -> ir.Value:
        return load_param(b, ptrs[k], kernel.inputs[k])

    values = emit_body(b, kernel, "nvptx", load, blk.scalars, blk.status)
    for k, (v, (_, prm)) in enumerate(zip(values, kernel.outputs, strict=True)):
        store_param(b, v, ptrs[len(kernel.inputs) + k], prm)


def vector_alignment(itemsize: int) -> int:
    """Bytes a contiguous array must be aligned to for the vector variant."""
    return min(16, GROUP * itemsize)


def _vector_loops(b: ir.IRBuilder, blk: ParamBlock, kernel: Kernel) -> None:
    """Groups of ``GROUP`` elements with vector loads/stores, then the scalar tail."""
    tid, stride = thread_index(b)
    total = blk.shape[0]
    groups = b.udiv(total, I64(GROUP))
    counted_loop(b, tid, groups, stride, lambda g: _group(b, blk, kernel, g), "group")
    tail = b.add(b.mul(groups, I64(GROUP)), tid)
    counted_loop(b, tail, total, stride, lambda i: _element(b, blk, kernel, i, False), "tail")


def _group(b: ir.IRBuilder, blk: ParamBlock, kernel: Kernel, g: ir.Value) -> None:
    first = b.mul(g, I64(GROUP))
    n_in = len(kernel.inputs)

    def lane_ptr(k: int, j: int) -> ir.Value:
        offset = b.mul(b.add(first, I64(j)), blk.strides[k][0])
        return b.gep(blk.ptrs[k], [offset], source_etype=I8)

    lanes: list[list[ir.Value]] = []
    for k, prm in enumerate(kernel.inputs):
        if prm.layout is Layout.CONTIG:  # the launch checked the alignment of the vectors
            vec = b.load(_group_ptr(b, blk, k, first, prm.dtype),
                         typ=ir.VectorType(stored_type(prm), GROUP),
                         align=vector_alignment(prm.dtype.itemsize))
            lanes.append([from_stored(b, b.extract_element(vec, I32(j)), prm)
                          for j in range(GROUP)])
        elif prm.layout is Layout.ZERO:
            lanes.append([load_param(b, blk.ptrs[k], prm)] * GROUP)
        else:
            lanes.append([load_param(b, lane_ptr(k, j), prm) for j in range(GROUP)])
    results = [emit_body(b, kernel, "nvptx", lambda k, j=j: lanes[k][j], blk.scalars,
                         blk.status) for j in range(GROUP)]
    for o, (_, prm) in enumerate(kernel.outputs):
        k = n_in + o
        if prm.layout is Layout.CONTIG:
            vec = ir.Constant(ir.VectorType(stored_type(prm), GROUP), None)
            for j in range(GROUP):
                vec = b.insert_element(vec, to_stored(b, results[j][o], prm), I32(j))
            b.store(vec, _group_ptr(b, blk, k, first, prm.dtype),
                    align=vector_alignment(prm.dtype.itemsize))
        else:
            for j in range(GROUP):
                store_param(b, results[j][o], lane_ptr(k, j), prm)


def _group_ptr(b: ir.IRBuilder, blk: ParamBlock, k: int, first: ir.Value, dt) -> ir.Value:
    return b.gep(blk.ptrs[k], [first], source_etype=memory_type(dt))


# -- math through libdevice ------------------------------------------------------------------------
_FREM = re.compile(r"^(\s*%\S+ = )frem ((?:[a-z]+ )*)(float|double) (\S+), (\S+)\s*$", re.M)
_DECLARE = re.compile(r"^declare .*$", re.M)


def legalise_math(text: str) -> str:
    """Rename libm calls and math intrinsics to libdevice's, and ``frem`` to its fmod."""
    fmod = {"float": "__nv_fmodf", "double": "__nv_fmod"}
    used: set[str] = set()

    def frem(m: re.Match[str]) -> str:
        ty = m.group(3)
        used.add(ty)
        return f"{m.group(1)}call {ty} @{fmod[ty]}({ty} {m.group(4)}, {ty} {m.group(5)})"

    text = _FREM.sub(frem, text)
    pattern = re.compile(r'@"?(' + "|".join(map(re.escape, sorted(
        LIBDEVICE_NAMES, key=len, reverse=True))) + r')"?(?=[\s(])')
    text = pattern.sub(lambda m: "@" + LIBDEVICE_NAMES[m.group(1)], text)
    lines, seen = [], set()
    for line in text.splitlines():
        if _DECLARE.match(line):
            if line in seen:
                continue  # two source names mapped to one libdevice function
            seen.add(line)
        lines.append(line)
    for ty in sorted(used):
        decl = f"declare {ty} @{fmod[ty]}({ty}, {ty})"
        if decl not in seen:
            lines.append(decl)
    return "\n".join(lines) + "\n"


def uses_libdevice(text: str) -> bool:
    return "@__nv_" in text


_libdevice_lock = threading.Lock()
# (libdevice path, the __nv_ declarations a kernel needs) -> bitcode of a small module holding
# just those functions and what they call: parsing all of libdevice (~0.1 s) happens once per
# distinct set of math functions, not once per kernel
_math_modules: dict[tuple[str, frozenset[str]], bytes] = {}
_NV_DECLARE = re.compile(r"^declare [^@]*@__nv_\w+\([^)]*\)$", re.M)


def _math_module(path: str, declarations: frozenset[str], triple: str, layout: str):
    import llvmlite.binding as llvm

    key = (path, declarations)
    bitcode = _math_modules.get(key)
    if bitcode is None:
        with open(path, "rb") as f:
            lib = llvm.parse_bitcode(f.read())
        lib.triple, lib.data_layout = triple, layout
        # linkonce_odr: the linker copies a definition only where something refers to it
        for fn in lib.functions:
            if not fn.is_declaration:
                fn.linkage = llvm.Linkage.linkonce_odr
        stub = llvm.parse_assembly("\n".join(sorted(declarations)))
        stub.triple, stub.data_layout = triple, layout
        stub.link_in(lib)
        bitcode = _math_modules[key] = stub.as_bitcode()
    return llvm.parse_bitcode(bitcode)


def _link_libdevice(mod, text: str, path: str, kernel_name: str) -> None:
    """Link the libdevice functions the kernel calls, then make them internal."""
    import llvmlite.binding as llvm

    declarations = frozenset(_NV_DECLARE.findall(text))
    with _libdevice_lock:
        mod.link_in(_math_module(path, declarations, mod.triple, mod.data_layout))
    for fn in mod.functions:
        if not fn.is_declaration and fn.name != kernel_name:
            fn.linkage = llvm.Linkage.internal


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
        _link_libdevice(mod, text, libdevice, name)
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
