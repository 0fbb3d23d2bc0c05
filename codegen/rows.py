"""Kernels with rows: reductions, and row-wise kernels such as softmax.

For each outer index the body's level-0 values are emitted in order; each REDUCE is a loop
over the row that evaluates the level-1 values it needs and folds them into an accumulator
(``accumulators.py``). Row-wise kernels then run one more loop over the row to store every
element. The row is read again by each loop, but it was just read: it is in cache, so main
memory sees each input once. A SCAN (cumulative sum or product) is computed in that last
loop: its running value is carried from one row element to the next, in row order, and reset
at the start of each row. A full reduction split into partial rows has its own body
(``partial_rows.py``); reductions down columns are :class:`ColumnEmitter`'s.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from lazyarr.ir import ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import Kernel, Layout

from .accumulators import Accumulator, fold, identity, scan_fold, scan_identity
from .common import counted_loop
from .partial_rows import SplitReduction
from .scalar import (
    I8,
    I64,
    Ctx,
    alignment,
    emit_instr,
    load_param,
    memory_type,
    store_param,
    value_type,
)


def closure(kernel: Kernel, wanted: list[int], level: int, done: dict[int, ir.Value]
            ) -> list[int]:
    """Indices of ``level`` instructions that ``wanted`` needs, in body order.

    Walks through instructions of both levels but returns only those of ``level``; a
    REDUCE stops the walk into its row when collecting level-1 instructions.
    """
    out: set[int] = set()
    stack = list(wanted)
    while stack:
        n = stack.pop()
        if n in out or n in done:
            continue
        ins = kernel.body[n]
        if ins.level == level:
            out.add(n)
        if not (level == 1 and ins.op is Op.REDUCE):
            stack.extend(ins.args)
    return sorted(out)


def stash_plan(k: Kernel) -> dict[int, list[tuple[int, int]]]:
    """Row values to keep in the outputs rather than compute twice: {REDUCE index: [(value,
    output)]}.

    Softmax computes ``exp(x - max)`` in its sum's pass and again for every output element.
    When the last reduction's pass computes a math-library value that an output needs too, of
    the output's own float dtype, that pass stores it in the output element, and the output
    pass loads it back from cache instead of calling ``exp`` again. Only when the output pass
    then reads no input: an output written over its own input (``out=x``) stays correct.
    """
    reduces = [n for n, ins in enumerate(k.body) if ins.op is Op.REDUCE and ins.level == 0]
    outs = [v for v, _ in k.outputs]
    if not reduces or reduces[-1] not in closure(k, outs, 0, {}):
        return {}
    last = reduces[-1]
    computed = set(closure(k, [k.body[last].args[0]], 1, {}))
    plan = []
    for j, (v, prm) in enumerate(k.outputs):
        found = [c for c in closure(k, [v], 1, {}) if c in computed and _costly(k, c, prm)]
        if found and not any(k.body[n].op is Op.LEAF
                             for n in closure(k, [v], 1, {found[-1]: None})):
            plan.append((found[-1], j))
    return {last: plan} if plan else {}


def _costly(k: Kernel, n: int, prm) -> bool:
    ins = k.body[n]
    return ins.op in ops.LIBM and ins.dtype == prm.dtype and ins.dtype.kind == "f"


class RowEmitter:
    """Emits one kernel-with-rows; the outer loop nest is the caller's."""

    stash: dict[int, list[tuple[int, int]]] = {}  # see stash_plan; set by outer_body
    scans: dict[int, ir.Value] = {}  # SCAN index -> its running value's slot; set by outer_body

    def __init__(self, b: ir.IRBuilder, kernel: Kernel, fn: ir.Function, shape: list,
                 strides: list[list], scalars: list, status: ir.Value) -> None:
        self.b, self.k, self.fn, self.shape, self.strides = b, kernel, fn, shape, strides
        self.scalars = scalars
        self.c = Ctx(b, "cpu", status)
        self.entry = ir.IRBuilder(fn.entry_basic_block)
        self.params = list(kernel.inputs) + [o for _, o in kernel.outputs]

    def alloca(self, ty: ir.Type, init: ir.Value) -> ir.Value:
        # allocas in the entry block are promoted to registers by mem2reg
        self.entry.position_at_start(self.entry.block)
        slot = self.entry.alloca(ty)
        self.b.store(init, slot)
        return slot

    # -- loops over the row ------------------------------------------------------------
    def row_loops(self, rows: list[ir.Value],
                  body: Callable[[list[ir.Value]], None],
                  inner: Callable[[ir.Value, ir.Value, Callable[[ir.Value], None]], None]
                  | None = None, columns: bool = False, shape: list | None = None) -> None:
        """Nested loops over the row dims; ``body`` gets element pointers of every array.

        With ``columns`` the row loops only move the pointers (the layout classes describe
        the tile dimension instead). ``shape``: extents other than the kernel's.
        """
        b, k = self.b, self.k
        shape = shape or self.shape
        first, last = k.outer_ndim, k.ndim - 1
        if columns:
            last += 1

        def level(d: int, ptrs: list[ir.Value]) -> None:
            if d == last and columns:
                body(ptrs)
                return
            if d < last:
                counted_loop(b, I64(0), shape[d], I64(1), lambda i: level(d + 1, [
                    b.gep(p, [b.mul(i, s[d])], source_etype=I8)
                    for p, s in zip(ptrs, self.strides, strict=True)]), f"r{d - first}")
                return

            def element(i: ir.Value) -> None:
                body([self.element_ptr(p, i, s[d], prm)
                      for p, s, prm in zip(ptrs, self.strides, self.params, strict=True)])

            if inner is None:
                counted_loop(b, I64(0), shape[d], I64(1), element, f"r{d - first}")
            else:
                inner(I64(0), shape[d], element)

        level(first, rows)

    def element_ptr(self, row: ir.Value, i: ir.Value, stride: ir.Value, prm) -> ir.Value:
        if prm.layout is Layout.CONTIG:
            return self.b.gep(row, [i], source_etype=memory_type(prm.dtype))
        if prm.layout is Layout.ZERO:
            return row
        return self.b.gep(row, [self.b.mul(i, stride)], source_etype=I8)

    def loader(self, ptrs: list[ir.Value], rows: list[ir.Value]) -> Callable[[int], ir.Value]:
        def load(k: int) -> ir.Value:
            return load_param(self.b, ptrs[k], self.k.inputs[k])

        return load

    def values(self, wanted: list[int], level: int, vals: dict[int, ir.Value],
               load: Callable[[int], ir.Value], rows: list[ir.Value]) -> None:
        for n in closure(self.k, wanted, level, vals):
            if self.k.body[n].op is Op.REDUCE:
                vals[n] = self.reduce(n, vals, rows)
            elif self.k.body[n].op is Op.SCAN:
                vals[n] = self.scan_step(n, vals)
            else:
                vals[n] = emit_instr(self.c, self.k, n, vals, load, self.scalars)

    # -- the kernel for one outer index ------------------------------------------------
    def outer_body(self, rows: list[ir.Value]) -> None:
        k = self.k
        if k.split:
            SplitReduction(self).emit(rows)
            return
        vals: dict[int, ir.Value] = {}
        outs = [v for v, _ in k.outputs]
        self.stash = stash_plan(k)
        stashed = [pair for pairs in self.stash.values() for pair in pairs]
        self.values(outs, 0, vals, self.loader(rows, rows), rows)
        n_in = len(k.inputs)
        if not k.out_level:
            for j, (v, prm) in enumerate(k.outputs):
                store_param(self.b, vals[v], rows[n_in + j], prm)
            return

        def element(ptrs: list[ir.Value]) -> None:
            row_vals = dict(vals)
            for c, j in stashed:  # computed by the last reduction's pass and kept in out j
                # kept in native byte order: this pass's store below swaps it if needed
                row_vals[c] = self.b.load(ptrs[n_in + j], typ=value_type(k.body[c].dtype),
                                          align=alignment(k.outputs[j][1]))
            self.values(outs, 1, row_vals, self.loader(ptrs, rows), rows)
            for j, (v, prm) in enumerate(k.outputs):
                store_param(self.b, row_vals[v], ptrs[n_in + j], prm)

        # each scan starts the row from its identity (stored here, once per outer index)
        self.scans = {n: self.alloca(value_type(ins.dtype), scan_identity(ins.arg, ins.dtype))
                      for n, ins in enumerate(k.body) if ins.op is Op.SCAN}
        self.row_loops(rows, element)

    def scan_step(self, n: int, vals: dict[int, ir.Value]) -> ir.Value:
        """SCAN ``n`` at this row element: its running value with this element folded in.
        Only the store pass computes a scan (lowering evaluates first any scan a reduction
        of the row folds), so the row elements come in order, each once."""
        ins = self.k.body[n]
        slot = self.scans[n]
        acc = self.b.load(slot, typ=value_type(ins.dtype))
        value = scan_fold(self.c, ins.arg, ins.dtype, acc, vals[ins.args[0]])
        self.b.store(value, slot)
        return value

    # -- reductions --------------------------------------------------------------------
    def reduce(self, n: int, vals: dict[int, ir.Value], rows: list[ir.Value]) -> ir.Value:
        acc = self.accumulator(n)
        self.fold_row(n, acc, vals, rows)
        return acc.result()

    def accumulator(self, n: int) -> Accumulator:
        ins = self.k.body[n]
        return Accumulator.make(self, ins.arg, ins.dtype, self.k.body[ins.args[0]].dtype)

    def fold_row(self, n: int, acc: Accumulator, vals: dict[int, ir.Value],
                 rows: list[ir.Value], shape: list | None = None) -> None:
        """Fold the row at ``rows`` (of ``shape``, the kernel's by default) into ``acc``."""
        src = self.k.body[n].args[0]

        n_in = len(self.k.inputs)
        stash = self.stash.get(n, ())

        def element(ptrs: list[ir.Value]) -> None:
            row_vals = dict(vals)
            self.values([src, *(c for c, _ in stash)], 1, row_vals, self.loader(ptrs, rows),
                        rows)
            acc.add(row_vals[src])
            for c, j in stash:
                self.b.store(row_vals[c], ptrs[n_in + j], align=alignment(self.k.outputs[j][1]))

        self.row_loops(rows, element, acc.inner_loop, shape=shape)


TILE = 1024


class ColumnEmitter(RowEmitter):
    """Reductions down columns: for a tile of adjacent outer indices, walk the rows in
    memory order and keep one accumulator per outer index (the loop over the tile is the
    vectorised one). Accumulation down each column is sequential, as in NumPy."""

    def tiles(self, lo: ir.Value, hi: ir.Value, rows: list[ir.Value], dim: int) -> None:
        """Tiles of ``[lo, hi)`` along outer dimension ``dim`` (the innermost outer one)."""
        self.col_strides = [s[dim] for s in self.strides]
        counted_loop(self.b, lo, hi, I64(TILE), lambda t0: self.tile(t0, hi, rows), "tile")

    def tile(self, t0: ir.Value, hi: ir.Value, rows: list[ir.Value]) -> None:
        b, k = self.b, self.k
        end = b.add(t0, I64(TILE))
        width = b.sub(b.select(b.icmp_signed("<", end, hi), end, hi), t0)
        base = [b.gep(r, [b.mul(t0, s)], source_etype=I8)
                for r, s in zip(rows, self.col_strides, strict=True)]
        reduces = [n for n, ins in enumerate(k.body) if ins.op is Op.REDUCE]
        accs = {n: self.acc_array(n, width) for n in reduces}

        def row_element(ptrs: list[ir.Value]) -> None:
            counted_loop(b, I64(0), width, I64(1), lambda j: self.fold_all(j, ptrs, accs),
                         "col")

        self.row_loops(base, row_element, inner=None, columns=True)
        counted_loop(b, I64(0), width, I64(1), lambda j: self.finish(j, base, accs), "out")

    def acc_array(self, n: int, width: ir.Value) -> ir.Value:
        ins = self.k.body[n]
        self.entry.position_at_start(self.entry.block)
        arr = self.entry.alloca(ir.ArrayType(value_type(ins.dtype), TILE))
        init = identity(ins.arg, ins.dtype)
        counted_loop(self.b, I64(0), width, I64(1),
                     lambda j: self.b.store(init, self.slot(arr, n, j)), "init")
        return arr

    def slot(self, arr: ir.Value, n: int, j: ir.Value) -> ir.Value:
        # llvmlite types allocas: without source_etype the element pointer is typed too
        return self.b.gep(arr, [I64(0), j])

    def shifted(self, ptrs: list[ir.Value], j: ir.Value) -> list[ir.Value]:
        return [self.element_ptr(p, j, self.col_strides[i], prm)
                for i, (p, prm) in enumerate(zip(ptrs, self.params, strict=True))]

    def fold_all(self, j: ir.Value, ptrs: list[ir.Value], accs: dict) -> None:
        b, k = self.b, self.k
        vals: dict[int, ir.Value] = {}
        at = self.shifted(ptrs, j)
        load = self.loader(at, at)
        for n, arr in accs.items():
            ins = k.body[n]
            src = ins.args[0]
            self.values([src], 0, vals, load, at)
            self.values([src], 1, vals, load, at)
            slot = self.slot(arr, n, j)
            acc = b.load(slot, typ=value_type(ins.dtype))
            b.store(fold(self.c, ins.arg, ins.dtype, k.body[src].dtype, acc, vals[src]), slot)

    def finish(self, j: ir.Value, base: list[ir.Value], accs: dict) -> None:
        b, k = self.b, self.k
        at = self.shifted(base, j)
        vals = {n: b.load(self.slot(arr, n, j), typ=value_type(k.body[n].dtype))
                for n, arr in accs.items()}
        self.values([v for v, _ in k.outputs], 0, vals, self.loader(at, at), at)
        n_in = len(k.inputs)
        for i, (v, prm) in enumerate(k.outputs):
            store_param(b, vals[v], at[n_in + i], prm)
