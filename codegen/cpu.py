"""CPU loop wrapper: the kernel body inside nested loops over ``[start, end)`` of dim 0.

The exported function ``void name(i64 *args, i64 start, i64 end)`` reads its arguments once and
calls an always-inlined inner function whose array pointers are ``noalias``: the inliner turns
that into alias scopes, so the vectoriser needs no run-time overlap checks. That promise holds
because the evaluator never lets an output overlap an input except element for element (an
in-place update), where each element is read before it is written.
"""

from __future__ import annotations

from llvmlite import ir

from lazyarr.loopir import Kernel, Layout

from .common import PTR, ArgBlock, InnerArgs, counted_loop
from .rows import ColumnEmitter, RowEmitter
from .scalar import I8, I64, emit_body, from_memory, memory_type, to_memory, value_type


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


def _emit_loops(b: ir.IRBuilder, p: InnerArgs, kernel: Kernel) -> None:
    params = list(kernel.inputs) + [o for _, o in kernel.outputs]
    last = kernel.outer_ndim - 1

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
            ptrs = [_element_ptr(b, r, i, s[d], prm.dtype, prm.layout)
                    for r, s, prm in zip(rows, p.strides, params, strict=True)]

            def load(k: int) -> ir.Value:
                dt = kernel.inputs[k].dtype
                return from_memory(b, b.load(ptrs[k], typ=memory_type(dt)), dt)

            values = emit_body(b, kernel, "cpu", load, p.scalars, p.status)
            for k, (v, (_, prm)) in enumerate(zip(values, kernel.outputs, strict=True)):
                b.store(to_memory(b, v, prm.dtype), ptrs[len(kernel.inputs) + k])

        counted_loop(b, lo, hi, I64(1), body, f"i{d}")

    level(0, list(p.ptrs))


def build_module(kernel: Kernel, name: str, triple: str = "", layout: str = "") -> ir.Module:
    module = ir.Module(name=name)
    module.triple, module.data_layout = triple, layout
    inner = ir.Function(module, ir.FunctionType(ir.VoidType(), _inner_signature(kernel)),
                        f"{name}.inner")
    inner.linkage = "internal"
    inner.attributes.add("alwaysinline")
    n_arrays = len(kernel.inputs) + len(kernel.outputs)
    for arg in inner.args[2 + kernel.ndim:2 + kernel.ndim + n_arrays]:
        arg.add_attribute("noalias")
    b = ir.IRBuilder(inner.append_basic_block("entry"))
    _emit_loops(b, InnerArgs(inner, kernel), kernel)
    b.ret_void()

    outer = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR, I64, I64]), name)
    outer.args[0].add_attribute("noalias")
    b = ir.IRBuilder(outer.append_basic_block("entry"))
    blk = ArgBlock(b, outer.args[0], kernel)
    flat_strides = [s for per in blk.strides for s in per]
    b.call(inner, [outer.args[1], outer.args[2], *blk.shape, *blk.ptrs, *flat_strides,
                   *blk.scalars, blk.status])
    b.ret_void()
    return module
