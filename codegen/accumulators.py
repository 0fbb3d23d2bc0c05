"""Accumulators of row reductions: what a REDUCE folds its row into (``rows.py``).

Float sums are accurate and vectorised: inside a block of ``BLOCK`` elements the accumulator
may be reassociated (LLVM keeps several vector partial sums), and the block sums are added with
Kahan compensation, so the error does not grow with the row length. The order is fixed by the
code, so the same input always gives the same bits. Every accumulator also has a partial
state, which split kernels store per partial row and merge in row order (``partial_rows.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
from llvmlite import ir

from lazyarr.ir.graph import ReduceKind

from . import half
from .common import counted_loop
from .scalar import I1, I64, Ctx, truthy, value_type

if TYPE_CHECKING:
    from .rows import RowEmitter

BLOCK = 2048


class Accumulator:
    """Folds row values into one result; subclasses per reduction kind."""

    def __init__(self, em: RowEmitter, kind: ReduceKind, dtype: np.dtype,
                 src: np.dtype) -> None:
        self.em, self.b, self.kind, self.dtype, self.src = em, em.b, kind, dtype, src
        self.ty = value_type(dtype)

    @staticmethod
    def make(em: RowEmitter, kind: ReduceKind, dtype: np.dtype, src: np.dtype) -> Accumulator:
        if half.is_narrow(dtype) or half.is_narrow(src):
            # lazyarr/front/reductions.py reduces float16 and bfloat16 in float32
            raise NotImplementedError(f"a {kind.value} reduction in {dtype}: lazyarr's "
                                      "kernels reduce float16 and bfloat16 values in float32")
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


def scan_identity(kind: ReduceKind, dt: np.dtype) -> ir.Constant:
    """A scan's running value before the row's first element: a float sum starts from -0.0,
    the one value that adds to every x giving x itself (+0.0 would turn a first -0.0 into
    +0.0, where NumPy's accumulate copies the first element)."""
    if kind is ReduceKind.SUM and dt.kind == "f":
        return ir.Constant(value_type(dt), -0.0)
    if half.is_bfloat16(dt):  # its bits, as i16: -0.0 and 1.0
        return ir.Constant(value_type(dt), 0x8000 if kind is ReduceKind.SUM else 0x3F80)
    return identity(kind, dt)


def scan_fold(c: Ctx, kind: ReduceKind, dt: np.dtype, acc: ir.Value, x: ir.Value) -> ir.Value:
    """A scan's running value ``acc`` with one more row value ``x`` (of the scan's dtype):
    one plain add or multiply, rounded, without fast-math flags, as NumPy's sequential
    ``add.accumulate`` and ``multiply.accumulate``; integers wrap; bools or and and."""
    b = c.b
    total = kind is ReduceKind.SUM
    if dt.kind == "b":
        return b.or_(acc, x) if total else b.and_(acc, x)
    if half.is_half(dt):  # NumPy's float16 accumulate: in float32, rounded at every step
        wide = scan_fold(c, kind, half.F32_DTYPE, half.to_float(b, acc), half.to_float(b, x))
        return b.fptrunc(wide, half.F16)
    if half.is_bfloat16(dt):  # ml_dtypes' accumulate: the same, rounded to bfloat16
        wide = scan_fold(c, kind, half.F32_DTYPE, half.bfloat_to_float(b, acc),
                         half.bfloat_to_float(b, x))
        return half.float_to_bfloat(b, wide)
    if dt.kind == "f":
        return b.fadd(acc, x) if total else b.fmul(acc, x)
    return b.add(acc, x) if total else b.mul(acc, x)


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
