"""CPU loop wrapper: the kernel body inside nested loops over ``[start, end)`` of dim 0.

The exported function ``void name(i64 *args, i64 start, i64 end)`` reads its arguments once and
calls an always-inlined inner function whose array pointers are ``noalias``: the inliner turns
that into alias scopes, so the vectoriser needs no run-time overlap checks. That promise holds
because the evaluator never lets an output overlap an input except element for element (an
in-place update), where each element is read before it is written.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from lazyarr.ir.graph import Op
from lazyarr.ir.loop import Kernel, Layout

from . import mathlib
from .common import PTR, ArgBlock, InnerArgs, counted_loop
from .rows import ColumnEmitter, RowEmitter
from .scalar import (
    I8,
    I64,
    emit_body,
    load_param,
    memory_type,
    store_param,
    stored_type,
    to_stored,
    value_type,
)


def _inner_signature(kernel: Kernel) -> list[ir.Type]:
    n_arrays = len(kernel.inputs) + len(kernel.outputs)
    scalars = [value_type(dt) for dt in kernel.scalars]
    return [I64, I64] + [I64] * kernel.ndim + [PTR] * n_arrays \
        + [I64] * (n_arrays * kernel.ndim) + scalars + [PTR]


def _element_ptr(b: ir.IRBuilder, row: ir.Value, i: ir.Value, stride: ir.Value,
                 dtype, layout: Layout) -> ir.Value:
    if layout is Layout.CONTIG:
        return b.gep(row, [i], source_etype=memory_type(dtype))
    if layout is Layout.ZERO:
        return row
    return b.gep(row, [b.mul(i, stride)], source_etype=I8)


def _element_ptrs(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel, rows: list[ir.Value],
                  i: ir.Value, d: int) -> list[ir.Value]:
    params = list(kernel.inputs) + [o for _, o in kernel.outputs]
    return [_element_ptr(b, r, i, s[d], prm.dtype, prm.layout)
            for r, s, prm in zip(rows, p.strides, params, strict=True)]


def _values(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel, ptrs: list[ir.Value]
            ) -> list[ir.Value]:
    """The outputs' values of one element whose arrays are at ``ptrs``."""
    def load(k: int) -> ir.Value:
        return load_param(b, ptrs[k], kernel.inputs[k])

    return emit_body(b, kernel, "cpu", load, p.scalars, p.status)


def _element(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel, rows: list[ir.Value],
             i: ir.Value, d: int) -> None:
    ptrs = _element_ptrs(b, p, kernel, rows, i, d)
    n_in = len(kernel.inputs)
    for k, (v, (_, prm)) in enumerate(zip(_values(b, p, kernel, ptrs), kernel.outputs,
                                          strict=True)):
        store_param(b, v, ptrs[n_in + k], prm)


# vectors of Philox blocks computed side by side: one alone waits on its rounds' latency
INTERLEAVE = 2


def _emit_loops(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel, stream: bool) -> None:
    last = kernel.outer_ndim - 1
    interleave = INTERLEAVE if any(ins.op is Op.PHILOX for ins in kernel.body) else None

    def level(d: int, rows: list[ir.Value]) -> None:
        lo = p.start if d == 0 else I64(0)
        hi = p.end if d == 0 else p.shape[d]
        if d == last and kernel.column:
            ColumnEmitter(b, kernel, b.function, p.shape, p.strides, p.scalars,
                          p.status).tiles(lo, hi, rows, d)
            return

        def body(i: ir.Value) -> None:
            if d < last or kernel.row_ndim:
                inner = [b.gep(r, [b.mul(i, s[d])], source_etype=I8)
                         for r, s in zip(rows, p.strides, strict=True)]
                if d < last:
                    level(d + 1, inner)
                else:
                    RowEmitter(b, kernel, b.function, p.shape, p.strides, p.scalars,
                               p.status).outer_body(inner)
                return
            _element(b, p, kernel, rows, i, d)

        if stream:
            _streaming_loops(b, p, kernel, body)
        else:
            counted_loop(b, lo, hi, I64(1), body, f"i{d}", interleave=interleave)

    level(0, list(p.ptrs))


# -- streaming stores (cpu_passes.stream_outputs) --------------------------------------------------
# A streaming store must write a whole aligned vector, which the loop vectoriser does not
# arrange (it neither peels for alignment nor keeps non-temporal hints it cannot prove
# aligned), so a streaming kernel's loop is written out: ordinary elements up to the first
# 32-byte boundary of the outputs, then groups of one AVX register per output (the body once
# per lane; the SLP vectoriser joins the lanes), then ordinary elements again.
GROUP_BYTES = 32
STREAM_FENCE = "llvm.x86.sse.sfence"


def _address(b: ir.IRBuilder, row: ir.Value, i: ir.Value, dtype) -> ir.Value:
    return b.ptrtoint(b.gep(row, [i], source_etype=memory_type(dtype)), I64)


def _stream_range(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel
                  ) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(whether to stream, first and end index of the grouped part) for ``[start, end)``:
    the outputs must reach a 32-byte boundary at the same index (their addresses agree
    modulo 32 and are multiples of the itemsize) and hold at least one group after it."""
    outs = p.ptrs[len(kernel.inputs):]
    dt = kernel.outputs[0][1].dtype
    item, lanes = dt.itemsize, GROUP_BYTES // dt.itemsize
    first = _address(b, outs[0], p.start, dt)
    mis = b.and_(first, I64(GROUP_BYTES - 1))
    ok = b.icmp_unsigned("==", b.and_(mis, I64(item - 1)), I64(0))
    for row in outs[1:]:
        apart = b.sub(_address(b, row, p.start, dt), first)
        ok = b.and_(ok, b.icmp_unsigned("==", b.and_(apart, I64(GROUP_BYTES - 1)), I64(0)))
    peel = b.lshr(b.and_(b.sub(I64(GROUP_BYTES), mis), I64(GROUP_BYTES - 1)),
                  I64(item.bit_length() - 1))
    lo = b.add(p.start, peel)
    room = b.sub(p.end, lo)
    ok = b.and_(ok, b.icmp_signed(">=", room, I64(lanes)))
    hi = b.add(lo, b.mul(b.sdiv(room, I64(lanes)), I64(lanes)))
    return ok, lo, hi


def _group(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel, i: ir.Value) -> None:
    """Elements ``[i, i + lanes)``: the body once per lane, one streaming store per output."""
    n_in = len(kernel.inputs)
    dt = kernel.outputs[0][1].dtype
    lanes = GROUP_BYTES // dt.itemsize
    per_lane = [_values(b, p, kernel, _element_ptrs(b, p, kernel, list(p.ptrs),
                                                    b.add(i, I64(j)), 0))
                for j in range(lanes)]
    hint = b.module.add_metadata([ir.IntType(32)(1)])
    for k, (_, prm) in enumerate(kernel.outputs):
        vec: ir.Value = ir.VectorType(stored_type(prm), lanes)(ir.Undefined)
        for j in range(lanes):
            vec = b.insert_element(vec, to_stored(b, per_lane[j][k], prm), I64(j))
        ptr = b.gep(p.ptrs[n_in + k], [i], source_etype=memory_type(prm.dtype))
        b.store(vec, ptr, align=GROUP_BYTES).set_metadata("nontemporal", hint)


def _sfence(b: ir.IRBuilder) -> None:
    """Order the streaming stores before whatever follows (they are weakly ordered: the
    thread that joins this one must see them)."""
    fn = b.module.globals.get(STREAM_FENCE) or ir.Function(
        b.module, ir.FunctionType(ir.VoidType(), []), STREAM_FENCE)
    b.call(fn, [])


def _streaming_loops(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel,
                     body: Callable[[ir.Value], None]) -> None:
    """``[start, end)`` as: ordinary loop to the boundary, groups, ordinary loop to the end.
    The ordinary loop is emitted once and run twice (a two-pass outer loop), not copied."""
    ok, lo, hi = _stream_range(b, p, kernel)
    first_hi = b.select(ok, lo, p.end)
    entry = b.block
    segment = b.append_basic_block("segment")
    grouped = b.append_basic_block("grouped")
    b.branch(segment)
    b.position_at_end(segment)
    seg_lo, seg_hi = b.phi(I64, "seg.lo"), b.phi(I64, "seg.hi")
    first = b.phi(ir.IntType(1), "seg.first")
    seg_lo.add_incoming(p.start, entry)
    seg_hi.add_incoming(first_hi, entry)
    first.add_incoming(ok, entry)
    # scalar: it runs the few elements around the groups, or (outputs that cannot be
    # aligned alike, rare) the whole chunk, still memory-bound at these sizes
    counted_loop(b, seg_lo, seg_hi, I64(1), body, "i0", vectorise=False)
    done = b.append_basic_block("streamed")
    b.cbranch(first, grouped, done)
    b.position_at_end(grouped)
    counted_loop(b, lo, hi, I64(GROUP_BYTES // kernel.outputs[0][1].dtype.itemsize),
                 lambda i: _group(b, p, kernel, i), "g0", vectorise=False)
    _sfence(b)
    seg_lo.add_incoming(hi, b.block)
    seg_hi.add_incoming(p.end, b.block)
    first.add_incoming(ir.IntType(1)(0), b.block)
    b.branch(segment)
    b.position_at_end(done)


class _PreferWidth(ir.values.FunctionAttributes):
    """Function attributes with LLVM's "prefer-vector-width" (clang's -mprefer-vector-width),
    a string attribute, which llvmlite's attribute sets do not list."""

    def __init__(self, bits: int, names: set[str]) -> None:
        width = f'"prefer-vector-width"="{bits}"'
        self._known = ir.values.FunctionAttributes._known | {width}
        super().__init__([width, *names])


def _prefer_width(fn: ir.Function, bits: int | None) -> None:
    """Ask LLVM's vectorisers for ``bits``-bit vectors in ``fn`` (None: the CPU's choice)."""
    if bits is not None:
        fn.attributes = _PreferWidth(bits, set(fn.attributes))


def build_module(kernel: Kernel, name: str, triple: str = "", layout: str = "",
                 vector_bits: int | None = None, register_bits: int | None = None
                 ) -> ir.Module:
    """The kernel's module. ``vector_bits``: the vector width LLVM should prefer in its
    loops (backends/cpu_jit.py ``Jit.vector_bits``); None leaves it to the target CPU.
    ``register_bits``: the width of the registers its math calls are sized in
    (``mathlib.CPU_USE``), that of the support modules it will be linked with (the CPU
    JIT's ``register_bits``; None: ``mathlib.REGISTER_BITS``, which that JIT sets)."""
    module = ir.Module(name=name)
    module.triple, module.data_layout = triple, layout
    if register_bits is not None:
        mathlib.set_register_bits(module, register_bits)
    inner = ir.Function(module, ir.FunctionType(ir.VoidType(), _inner_signature(kernel)),
                        f"{name}.inner")
    inner.linkage = "internal"
    inner.attributes.add("alwaysinline")
    # both functions: the loops end up in the outer one once the inner one is inlined
    _prefer_width(inner, vector_bits)
    n_arrays = len(kernel.inputs) + len(kernel.outputs)
    for arg in inner.args[2 + kernel.ndim:2 + kernel.ndim + n_arrays]:
        arg.add_attribute("noalias")
    b = ir.IRBuilder(inner.append_basic_block("entry"))
    # streaming stores and the fence are x86's (other targets: ordinary stores)
    _emit_loops(b, InnerArgs(inner, kernel), kernel,
                kernel.stream and triple.startswith("x86_64"))
    b.ret_void()

    outer = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]), name)
    outer.args[0].add_attribute("noalias")
    _prefer_width(outer, vector_bits)
    b = ir.IRBuilder(outer.append_basic_block("entry"))
    blk = ArgBlock(b, outer.args[0], kernel)
    flat_strides = [s for per in blk.strides for s in per]
    b.call(inner, [outer.args[1], outer.args[2], *blk.shape, *blk.ptrs, *flat_strides,
                   *blk.scalars, blk.status])
    b.ret_void()
    return module
