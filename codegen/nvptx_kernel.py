"""The PTX kernel function: its by-value parameters, thread indices, and the elementwise
wrapper (``nvptx.py`` builds modules with it; ``nvptx_rows.py`` adds the kernels with rows).

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
"""

from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from lazyarr.ir.loop import Kernel, Layout

from .common import counted_loop
from .scalar import (
    F32,
    F64,
    I8,
    I32,
    I64,
    emit_body,
    from_stored,
    load_param,
    memory_type,
    store_param,
    stored_type,
    to_stored,
)

TRIPLE = "nvptx64-nvidia-cuda"
DATA_LAYOUT = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"
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


# -- kernel parameters -------------------------------------------------------------------------
def sreg(b: ir.IRBuilder, name: str) -> ir.Value:
    """PTX special register ``name`` (``tid.x``, ``ntid.x``, ...), as an i64."""
    full = f"llvm.nvvm.read.ptx.sreg.{name}"
    fn = b.module.globals.get(full) or ir.Function(b.module, ir.FunctionType(I32, []), full)
    return b.zext(b.call(fn, []), I64)


def thread_index(b: ir.IRBuilder) -> tuple[ir.Value, ir.Value]:
    """(global thread index, total threads in the grid), both i64."""
    ntid = sreg(b, "ntid.x")
    tid = b.add(b.mul(sreg(b, "ctaid.x"), ntid), sreg(b, "tid.x"))
    return tid, b.mul(sreg(b, "nctaid.x"), ntid)


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
def elementwise_module(kernel: Kernel, name: str, variant: Variant) -> ir.Module:
    """The module of an elementwise kernel (no rows), before any math is resolved."""
    module, fn, b = new_kernel(kernel, name)
    blk = ParamBlock(b, fn, kernel)
    if variant.vector and kernel.ndim == 1:
        _vector_loops(b, blk, kernel)
    else:
        tid, stride = thread_index(b)
        counted_loop(b, tid, _total(b, blk.shape), stride,
                     lambda flat: _element(b, blk, kernel, flat, variant.narrow), "flat")
    b.ret_void()
    return module


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

    values = emit_body(b, kernel, "cuda", load, blk.scalars, blk.status)
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
        # the launch checked the alignment of the vectors; a counter is no memory to load
        if prm.layout is Layout.CONTIG and not prm.counter:
            vec = b.load(_group_ptr(b, blk, k, first, prm.dtype),
                         typ=ir.VectorType(stored_type(prm), GROUP),
                         align=vector_alignment(prm.dtype.itemsize))
            lanes.append([from_stored(b, b.extract_element(vec, I32(j)), prm)
                          for j in range(GROUP)])
        elif prm.layout is Layout.ZERO:
            lanes.append([load_param(b, blk.ptrs[k], prm)] * GROUP)
        else:
            lanes.append([load_param(b, lane_ptr(k, j), prm) for j in range(GROUP)])
    results = [emit_body(b, kernel, "cuda", lambda k, j=j: lanes[k][j], blk.scalars,
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
