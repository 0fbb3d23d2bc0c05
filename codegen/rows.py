"""Kernels with rows: reductions, and row-wise kernels such as softmax.

For each outer index the body's level-0 values are emitted in order; each REDUCE is a loop
over the row that evaluates the level-1 values it needs and folds them into an accumulator.
Row-wise kernels then run one more loop over the row to store every element. The row is
read again by each loop, but it was just read: it is in cache, so main memory sees each input
once.

Float sums are accurate and vectorised: inside a block of ``BLOCK`` elements the accumulator
may be reassociated (LLVM keeps several vector partial sums), and the block sums are added with
Kahan compensation, so the error does not grow with the row length. The order is fixed by the
code, so the same input always gives the same bits.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from llvmlite import ir

from lazyarr.ir import ops
from lazyarr.ir.graph import Op, ReduceKind
from lazyarr.ir.loop import Kernel, Layout

from .common import InnerArgs, counted_loop
from .scalar import (
    I1,
    I8,
    I32,
    I64,
    Ctx,
    alignment,
    emit_instr,
    from_memory,
    load_param,
    memory_type,
    store_param,
    to_memory,
    truthy,
    value_type,
)

BLOCK = 2048


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

        self.row_loops(rows, element)

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


class Accumulator:
    """Folds row values into one result; subclasses per reduction kind."""

    def __init__(self, em: RowEmitter, kind: ReduceKind, dtype: np.dtype,
                 src: np.dtype) -> None:
        self.em, self.b, self.kind, self.dtype, self.src = em, em.b, kind, dtype, src
        self.ty = value_type(dtype)

    @staticmethod
    def make(em: RowEmitter, kind: ReduceKind, dtype: np.dtype, src: np.dtype) -> Accumulator:
        if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
            return ArgAccumulator(em, kind, dtype, src)
        if kind is ReduceKind.SUM and dtype.kind == "f":
            return KahanSum(em, kind, dtype, src)
        return FoldAccumulator(em, kind, dtype, src)

    inner_loop = None  # plain counted loops over the innermost row dimension

    # -- partial states, for split kernels (SplitReduction) --------------------------------
    def state_dtypes(self) -> list[np.dtype]:
        """The dtypes of ``state``: at most two, each stored in an 8-byte word."""
        raise NotImplementedError

    def state(self) -> list[ir.Value]:
        """What a partial row leaves for the combining step."""
        raise NotImplementedError

    def merge(self, state: list[ir.Value], first: ir.Value) -> None:
        """Fold in the state of a partial row whose first element has flat index ``first``
        (partial rows are merged in row order)."""
        raise NotImplementedError

    def start_at(self, index: ir.Value) -> None:
        """The flat index of the next element that ``add`` gets."""


_IDENTITY = {ReduceKind.SUM: 0, ReduceKind.PROD: 1, ReduceKind.ANY: 0, ReduceKind.ALL: 1}


def identity(kind: ReduceKind, dt: np.dtype) -> ir.Constant:
    """The value a fold starts from (NumPy's identity; +-inf or the integer range for min/max)."""
    ty = value_type(dt)
    if kind in _IDENTITY:
        return ir.Constant(ty, _IDENTITY[kind])
    low = kind is ReduceKind.MAX
    if dt.kind == "f":
        return ir.Constant(ty, -np.inf if low else np.inf)
    if dt.kind == "b":
        return ir.Constant(I1, 0 if low else 1)
    info = np.iinfo(dt)
    return ir.Constant(ty, int(info.min if low else info.max))


def fold(c: Ctx, kind: ReduceKind, dt: np.dtype, src: np.dtype, acc: ir.Value,
         x: ir.Value) -> ir.Value:
    """``acc`` combined with one more row value ``x``."""
    b = c.b
    if kind in (ReduceKind.ANY, ReduceKind.ALL):
        x = truthy(c, src, x)
        return b.or_(acc, x) if kind is ReduceKind.ANY else b.and_(acc, x)
    if kind is ReduceKind.SUM:
        return b.fadd(acc, x) if dt.kind == "f" else b.add(acc, x)
    if kind is ReduceKind.PROD:
        return b.fmul(acc, x, flags=("reassoc",)) if dt.kind == "f" else b.mul(acc, x)
    big = kind is ReduceKind.MAX
    if dt.kind == "f":  # NaN-propagating, like NumPy's max/min
        return c.call("maximum" if big else "minimum", acc.type, acc, x)
    if dt.kind == "b":
        return b.or_(acc, x) if big else b.and_(acc, x)
    pred = ">" if big else "<"
    cmp = b.icmp_signed(pred, x, acc) if dt.kind == "i" else b.icmp_unsigned(pred, x, acc)
    return b.select(cmp, x, acc)


class FoldAccumulator(Accumulator):
    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.slot = self.em.alloca(self.ty, self.identity())

    def identity(self) -> ir.Constant:
        return identity(self.kind, self.dtype)

    def add(self, x: ir.Value) -> None:
        acc = self.b.load(self.slot, typ=self.ty)
        self.b.store(fold(self.em.c, self.kind, self.dtype, self.src, acc, x), self.slot)

    def result(self) -> ir.Value:
        return self.b.load(self.slot, typ=self.ty)

    def state_dtypes(self) -> list[np.dtype]:
        return [self.dtype]

    def state(self) -> list[ir.Value]:
        return [self.result()]

    def merge(self, state: list[ir.Value], first: ir.Value) -> None:
        acc = self.b.load(self.slot, typ=self.ty)
        # a partial result is of the result's dtype (any/all: already a truth value)
        self.b.store(fold(self.em.c, self.kind, self.dtype, self.dtype, acc, state[0]),
                     self.slot)


class KahanSum(Accumulator):
    """Vectorisable partial sums in blocks, blocks added with Kahan compensation."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        zero = ir.Constant(self.ty, 0.0)
        self.part = self.em.alloca(self.ty, zero)
        self.total = self.em.alloca(self.ty, zero)
        self.comp = self.em.alloca(self.ty, zero)

    def add(self, x: ir.Value) -> None:
        b = self.b
        b.store(b.fadd(b.load(self.part, typ=self.ty), x, flags=("reassoc",)), self.part)

    def flush(self) -> None:
        b, ty = self.b, self.ty
        self.compensated_add(b.load(self.part, typ=ty), b.load(self.comp, typ=ty))
        b.store(ir.Constant(ty, 0.0), self.part)

    def compensated_add(self, x: ir.Value, comp: ir.Value) -> None:
        """Kahan's step: add ``x`` to the total, less the compensation ``comp``."""
        b, ty = self.b, self.ty
        y = b.fsub(x, comp)
        total = b.load(self.total, typ=ty)
        t = b.fadd(total, y)
        lost = b.fsub(b.fsub(t, total), y)
        # once the total is inf or NaN, (t - total) - y is NaN: it must not turn a later
        # finite block into NaN (NumPy's sum of [inf, 1, ...] is inf)
        finite = b.fcmp_ordered("<", self.em.c.call("fabs", ty, t), ir.Constant(ty, np.inf))
        b.store(b.select(finite, lost, ir.Constant(ty, 0.0)), self.comp)
        b.store(t, self.total)

    def inner_loop(self, lo: ir.Value, hi: ir.Value, element: Callable[[ir.Value], None]
                   ) -> None:
        b = self.b

        def block(start: ir.Value) -> None:
            end = b.add(start, I64(BLOCK))
            end = b.select(b.icmp_signed("<", end, hi), end, hi)
            counted_loop(b, start, end, I64(1), element, "blk")
            self.flush()

        counted_loop(b, lo, hi, I64(BLOCK), block, "blocks")

    def result(self) -> ir.Value:
        return self.b.load(self.total, typ=self.ty)

    def state_dtypes(self) -> list[np.dtype]:
        return [self.dtype, self.dtype]

    def state(self) -> list[ir.Value]:
        return [self.result(), self.b.load(self.comp, typ=self.ty)]

    def merge(self, state: list[ir.Value], first: ir.Value) -> None:
        # a partial's own compensation joins ours: both are far below the totals, so their
        # sum is all but exact, and none of the partial's low-order bits is dropped
        b, ty = self.b, self.ty
        self.compensated_add(state[0], b.fadd(b.load(self.comp, typ=ty), state[1]))


class ArgAccumulator(Accumulator):
    """Index of the first extreme value in row order; the first NaN wins, as in NumPy."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        vty = value_type(self.src)
        self.vty = vty
        self.best = self.em.alloca(vty, ir.Constant(vty, 0))
        self.index = self.em.alloca(I64, I64(-1))
        self.count = self.em.alloca(I64, I64(0))

    def better(self, x: ir.Value, best: ir.Value) -> ir.Value:
        b, dt = self.b, self.src
        pred = ">" if self.kind is ReduceKind.ARGMAX else "<"
        if dt.kind == "f":
            nan_x = b.fcmp_unordered("uno", x, x)
            nan_best = b.fcmp_unordered("uno", best, best)
            return b.or_(b.fcmp_ordered(pred, x, best), b.and_(nan_x, b.not_(nan_best)))
        if dt.kind == "i":
            return b.icmp_signed(pred, x, best)
        return b.icmp_unsigned(pred, x, best)

    def add(self, x: ir.Value) -> None:
        b = self.b
        best = b.load(self.best, typ=self.vty)
        index = b.load(self.index, typ=I64)
        count = b.load(self.count, typ=I64)
        take = b.or_(b.icmp_signed("<", index, I64(0)), self.better(x, best))
        b.store(b.select(take, x, best), self.best)
        b.store(b.select(take, count, index), self.index)
        b.store(b.add(count, I64(1)), self.count)

    def result(self) -> ir.Value:
        return self.b.load(self.index, typ=I64)

    def state_dtypes(self) -> list[np.dtype]:
        return [self.src, np.dtype(np.int64)]

    def state(self) -> list[ir.Value]:
        return [self.b.load(self.best, typ=self.vty), self.result()]

    def merge(self, state: list[ir.Value], first: ir.Value) -> None:
        # partials come in row order and only a strictly better one is taken: the first
        # index of the extreme value (or of the first NaN) wins, as in a single pass
        b = self.b
        best = b.load(self.best, typ=self.vty)
        index = b.load(self.index, typ=I64)
        take = b.or_(b.icmp_signed("<", index, I64(0)), self.better(state[0], best))
        b.store(b.select(take, state[0], best), self.best)
        b.store(b.select(take, b.add(first, state[1]), index), self.index)

    def start_at(self, index: ir.Value) -> None:
        self.b.store(index, self.count)


class SplitReduction:
    """The body of a split kernel (``cpu_passes.split_rows``) for outer index i0: one partial
    row of a full reduction.

    Each partial row stores the state of every reduction in its slot of the partials
    outputs (after the kernel's own outputs), then counts itself done in the status word
    (zero at every call, and no split kernel reports errors there). The one that completes
    the count saw every other row's stores (acquire-release), so it combines the partial
    states in row order, folds the tail rows after the last partial row into them, computes
    the outputs and zeroes the count again. Which thread does it changes nothing: the
    order of the arithmetic is fixed by the shape.
    """

    def __init__(self, em: RowEmitter) -> None:
        self.em, self.b, self.k = em, em.b, em.k
        self.reduces = [n for n, ins in enumerate(self.k.body) if ins.op is Op.REDUCE]
        self.n_out = len(self.k.outputs) - len(self.reduces)  # the kernel's own outputs
        first = len(self.k.inputs) + self.n_out
        self.partials = {n: first + j for j, n in enumerate(self.reduces)}  # param index

    def emit(self, rows: list[ir.Value]) -> None:
        b, em = self.b, self.em
        vals: dict[int, ir.Value] = {}
        load = em.loader(rows, rows)
        for n in self.reduces:
            em.values([self.k.body[n].args[0]], 0, vals, load, rows)
            acc = em.accumulator(n)
            em.fold_row(n, acc, vals, rows)
            self.store_state(acc, rows[self.partials[n]])
        parts = em.shape[0]
        done = b.atomic_rmw("add", em.c.status, I32(1), "acq_rel")
        with b.if_then(b.icmp_signed("==", b.add(done, I32(1)), b.trunc(parts, I32))):
            self.finish(rows, vals, load)

    def store_state(self, acc: Accumulator, slot: ir.Value) -> None:
        for k, (value, dt) in enumerate(zip(acc.state(), acc.state_dtypes(), strict=True)):
            ptr = self.b.gep(slot, [I64(8 * k)], source_etype=I8)
            self.b.store(to_memory(self.b, value, dt), ptr)

    def load_state(self, acc: Accumulator, slot: ir.Value) -> list[ir.Value]:
        out = []
        for k, dt in enumerate(acc.state_dtypes()):
            ptr = self.b.gep(slot, [I64(8 * k)], source_etype=I8)
            out.append(from_memory(self.b, self.b.load(ptr, typ=memory_type(dt)), dt))
        return out

    def finish(self, rows: list[ir.Value], vals: dict[int, ir.Value],
               load: Callable[[int], ir.Value]) -> None:
        b, em, k = self.b, self.em, self.k
        bases = InnerArgs(em.fn, k).ptrs  # the arrays' base pointers
        parts = em.shape[0]
        per_part = b.mul(em.shape[1], self.product(em.shape[2:]))  # elements per part row
        tail_rows = [b.gep(p, [b.mul(parts, s[0])], source_etype=I8)
                     for p, s in zip(bases, em.strides, strict=True)]
        tail_shape = [em.shape[0], em.scalars[-1], *em.shape[2:]]
        for n in self.reduces:
            acc = em.accumulator(n)
            slots, stride = bases[self.partials[n]], em.strides[self.partials[n]][0]

            def merge(p: ir.Value, acc: Accumulator = acc, slots: ir.Value = slots,
                      stride: ir.Value = stride) -> None:
                slot = b.gep(slots, [b.mul(p, stride)], source_etype=I8)
                acc.merge(self.load_state(acc, slot), b.mul(p, per_part))

            counted_loop(b, I64(0), parts, I64(1), merge, "parts")
            acc.start_at(b.mul(parts, per_part))
            em.fold_row(n, acc, vals, tail_rows, tail_shape)
            vals[n] = acc.result()
        outs = k.outputs[:self.n_out]
        em.values([v for v, _ in outs], 0, vals, load, rows)
        for j, (v, prm) in enumerate(outs):
            store_param(b, vals[v], rows[len(k.inputs) + j], prm)
        b.store(I32(0), em.c.status)

    def product(self, extents: list[ir.Value]) -> ir.Value:
        out = I64(1)
        for n in extents:
            out = self.b.mul(out, n)
        return out


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
