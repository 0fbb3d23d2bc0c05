"""Kernels with rows on NVIDIA GPUs: reductions and row-wise kernels (softmax, layer norm).

Two strategies, chosen at launch (``nvptx_kernel.Variant.strategy``):

``block``: one thread block of ``ROW_BLOCK`` threads per outer index (a grid-stride loop over
outer indices by block). Each REDUCE is a loop in which thread ``t`` folds row elements
``t, t + ROW_BLOCK, ...`` into its own accumulator, then a block reduction: a butterfly over
each warp with ``shfl.sync.bfly``, one partial per warp through shared memory, and the same
butterfly over those partials in every warp, so every thread ends with the result (later
reductions and the row-wise stores use it). Nothing is atomic and the pairing is fixed by the
code, so a given input and launch always give the same bits. Row-wise outputs
(``out_level == 1``) are then stored by the same thread-strided loop; per-row outputs by
thread 0.

``thread``: one thread per outer index, walking its row sequentially with the CPU's row code
(``rows.RowEmitter`` and ``accumulators``: blocked Kahan sums, first-index arg reductions).
Used for column reductions (``x.sum(axis=0)``: neighbouring threads read neighbouring
columns, so loads coalesce) and for short rows.

``split`` then ``combine``: for long rows and few outer indices (``x.sum()`` is one row), where
one block per row would leave most of the GPU idle. Two kernels from the same Kernel: the
first gives each (outer index, chunk of the row) pair a block, which reduces its chunk as in
``block`` and writes one partial per REDUCE to a workspace; the second, one block per outer
index, folds the partials with the same deterministic tree and computes the outputs. The
chunk count is a kernel parameter decided at launch (so is the workspace's address): it
depends on the sizes and the SM count, never on timing, so results stay reproducible. Only
for kernels whose reductions fold independently (:func:`splittable`).

Row addressing always multiplies by the byte stride: the layout classes of a column kernel
describe the outer dimension, not the row.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from lazyarr.ir.graph import Op, ReduceKind
from lazyarr.ir.loop import Kernel

from .accumulators import fold, identity
from .common import counted_loop
from .nvptx import check_not_split
from .nvptx_kernel import (
    GPTR,
    ParamBlock,
    Variant,
    element_ptrs,
    new_kernel,
    sreg,
    thread_index,
    unravel,
)
from .rows import RowEmitter
from .scalar import F32, F64, I1, I8, I32, I64, Ctx, store_param, value_type

ROW_BLOCK = 256  # threads per block of the "block" strategy: launches must use exactly this
WARP = 32
WARPS = ROW_BLOCK // WARP
_ARG = (ReduceKind.ARGMIN, ReduceKind.ARGMAX)


_FOLDS = frozenset({ReduceKind.SUM, ReduceKind.PROD, ReduceKind.MIN, ReduceKind.MAX,
                    ReduceKind.ANY, ReduceKind.ALL})
SPLIT_PARAMS = 2  # extra kernel parameters of split/combine kernels: workspace, chunk count


def splittable(kernel: Kernel) -> bool:
    """Whether the split/combine pair can run ``kernel``: per-outer-index outputs, and
    reductions that fold independently (no argmin/argmax, none reducing another's result)."""
    if not kernel.row_ndim or kernel.out_level or kernel.column:
        return False
    depends: list[bool] = []
    for ins in kernel.body:
        is_reduce = ins.op is Op.REDUCE
        if is_reduce and (ins.arg not in _FOLDS or any(depends[a] for a in ins.args)):
            return False
        depends.append(is_reduce or any(depends[a] for a in ins.args))
    return True


def build_rows(kernel: Kernel, name: str, variant: Variant) -> ir.Module:
    check_not_split(kernel)  # also when called without build_module's checks
    extra = SPLIT_PARAMS if variant.strategy in ("split", "combine") else 0
    if extra and not splittable(kernel):
        raise ValueError("this kernel's reductions cannot be split across blocks")
    module, fn, b = new_kernel(kernel, name, extra)
    blk = ParamBlock(b, fn, kernel)
    n_outer = kernel.outer_ndim
    outer_shape = blk.shape[:n_outer]
    total = outer_shape[0]
    for n in outer_shape[1:]:
        total = b.mul(total, n)
    if variant.strategy == "thread":
        em: ThreadRows = ThreadRows(b, kernel, fn, blk, variant.narrow)
        first, step = thread_index(b)
    else:
        cls = {"split": SplitRows, "combine": CombineRows}.get(variant.strategy, BlockRows)
        em = cls(b, kernel, fn, blk, variant.narrow)
        first, step = sreg(b, "ctaid.x"), sreg(b, "nctaid.x")
    if isinstance(em, SplitRows | CombineRows):
        em.workspace(fn.args[-2], fn.args[-1], total)

    def outer(o: ir.Value) -> None:
        if isinstance(em, SplitRows):  # the loop is over (outer index, chunk) pairs
            em.chunk = b.urem(o, em.chunks)
            o = b.udiv(o, em.chunks)
        em.outer = o
        idx = unravel(b, o, outer_shape, variant.narrow)
        em.outer_body(element_ptrs(b, blk.ptrs, blk.strides, idx, range(n_outer)))

    if isinstance(em, SplitRows):
        total = b.mul(total, em.chunks)
    counted_loop(b, first, total, step, outer, "outer")
    b.ret_void()
    return module


class ThreadRows(RowEmitter):
    """One thread per outer index: the CPU's row code, with strided row addressing."""

    def __init__(self, b: ir.IRBuilder, kernel: Kernel, fn: ir.Function, blk: ParamBlock,
                 narrow: bool) -> None:
        super().__init__(b, kernel, fn, blk.shape, blk.strides, blk.scalars, blk.status)
        self.c = Ctx(b, "cuda", blk.status)
        self.narrow = narrow

    def element_ptr(self, row: ir.Value, i: ir.Value, stride: ir.Value, prm) -> ir.Value:
        return self.b.gep(row, [self.b.mul(i, stride)], source_etype=I8)


class BlockRows(ThreadRows):
    """One block per outer index (see the module docstring)."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        b = self.b
        self.tid = sreg(b, "tid.x")
        self.ntid = sreg(b, "ntid.x")
        tid32 = b.trunc(self.tid, I32)
        self.lane = b.and_(tid32, I32(WARP - 1))
        self.warp = b.lshr(tid32, I32(5))
        self.shared = 0

    def product(self, dims: list[ir.Value]) -> ir.Value:
        """The product of run-time extents (the elements in one row)."""
        length = dims[0]
        for n in dims[1:]:
            length = self.b.mul(length, n)
        return length

    # -- the thread-strided loop over one row ----------------------------------------------
    def thread_rows(self, rows: list[ir.Value], body) -> None:
        """``body(element pointers, flat row index)`` for this thread's row elements."""
        b, k = self.b, self.k
        row_shape = self.shape[k.outer_ndim:]
        length = self.product(row_shape)

        def element(r: ir.Value) -> None:
            idx = unravel(b, r, row_shape, self.narrow)
            body(element_ptrs(b, rows, self.strides, idx, range(k.outer_ndim, k.ndim)), r)

        counted_loop(b, self.tid, length, self.ntid, element, "r")

    def outer_body(self, rows: list[ir.Value]) -> None:
        b, k = self.b, self.k
        vals: dict[int, ir.Value] = {}
        outs = [v for v, _ in k.outputs]
        self.values(outs, 0, vals, self.loader(rows, rows), rows)
        n_in = len(k.inputs)
        if not k.out_level:
            with b.if_then(b.icmp_unsigned("==", self.tid, I64(0))):
                for j, (v, prm) in enumerate(k.outputs):
                    store_param(b, vals[v], rows[n_in + j], prm)
            return

        def element(ptrs: list[ir.Value], r: ir.Value) -> None:
            row_vals = dict(vals)
            self.values(outs, 1, row_vals, self.loader(ptrs, rows), rows)
            for j, (v, prm) in enumerate(k.outputs):
                store_param(b, row_vals[v], ptrs[n_in + j], prm)

        self.thread_rows(rows, element)

    # -- reductions ----------------------------------------------------------------------
    def reduce(self, n: int, vals: dict[int, ir.Value], rows: list[ir.Value]) -> ir.Value:
        ins = self.k.body[n]
        src = ins.args[0]
        acc = BlockAccumulator(self, ins.arg, ins.dtype, self.k.body[src].dtype)

        def element(ptrs: list[ir.Value], r: ir.Value) -> None:
            row_vals = dict(vals)
            self.values([src], 1, row_vals, self.loader(ptrs, rows), rows)
            acc.add(row_vals[src], r)

        self.thread_rows(rows, element)
        return acc.result()

    def shared_array(self, ty: ir.Type) -> ir.GlobalVariable:
        """A fresh ``WARPS``-element array in shared memory (one per use: no reuse hazards
        between reductions, only between outer iterations, which a barrier separates)."""
        self.shared += 1
        g = ir.GlobalVariable(self.b.module, ir.ArrayType(ty, WARPS),
                              f"{self.b.function.name}.shared{self.shared}", addrspace=3)
        g.linkage = "internal"
        return g

    def barrier(self) -> None:
        name = "llvm.nvvm.barrier0"  # bar.sync 0 (auto-upgraded by newer LLVMs)
        fn = self.b.module.globals.get(name) or ir.Function(
            self.b.module, ir.FunctionType(ir.VoidType(), []), name)
        self.b.call(fn, [])


class _Partials(BlockRows):
    """What split and combine kernels share: the workspace of partial results.

    One 8-byte slot per (REDUCE, outer index, chunk), REDUCEs in body order; a slot holds
    the value in its own type (bools as a byte).
    """

    def workspace(self, base: ir.Value, chunks: ir.Value, n_outer: ir.Value) -> None:
        self.base = self.b.inttoptr(base, GPTR)
        self.chunks, self.n_outer = chunks, n_outer
        self.reduces = [n for n, ins in enumerate(self.k.body) if ins.op is Op.REDUCE]
        self.outer: ir.Value = I64(0)
        self.chunk: ir.Value = I64(0)

    def slot(self, n: int, chunk: ir.Value) -> tuple[ir.Value, ir.Type]:
        b = self.b
        k = I64(self.reduces.index(n))
        index = b.add(b.mul(b.add(b.mul(k, self.n_outer), self.outer), self.chunks), chunk)
        ty = value_type(self.k.body[n].dtype)
        return b.gep(self.base, [b.mul(index, I64(8))], source_etype=I8), ty


class SplitRows(_Partials):
    """Kernel 1 of 2: each block reduces one chunk of one row into the workspace."""

    def thread_rows(self, rows: list[ir.Value], body) -> None:
        b, k = self.b, self.k
        row_shape = self.shape[k.outer_ndim:]
        length = self.product(row_shape)
        per = b.udiv(b.add(length, b.sub(self.chunks, I64(1))), self.chunks)  # ceil
        start = b.mul(self.chunk, per)
        end = b.add(start, per)
        end = b.select(b.icmp_unsigned("<", end, length), end, length)

        def element(r: ir.Value) -> None:
            idx = unravel(b, r, row_shape, self.narrow)
            body(element_ptrs(b, rows, self.strides, idx, range(k.outer_ndim, k.ndim)), r)

        counted_loop(b, b.add(start, self.tid), end, self.ntid, element, "r")

    def outer_body(self, rows: list[ir.Value]) -> None:
        # only the reductions (and the per-row values they read): the outputs are kernel 2's
        self.values(self.reduces, 0, {}, self.loader(rows, rows), rows)

    def reduce(self, n: int, vals: dict[int, ir.Value], rows: list[ir.Value]) -> ir.Value:
        b = self.b
        value = super().reduce(n, vals, rows)
        ptr, ty = self.slot(n, self.chunk)
        with b.if_then(b.icmp_unsigned("==", self.tid, I64(0))):
            b.store(b.zext(value, I8) if ty == I1 else value, ptr)
        return value


class CombineRows(_Partials):
    """Kernel 2 of 2: one block per outer index folds its chunks' partials, then stores the
    outputs exactly as the block strategy does."""

    def reduce(self, n: int, vals: dict[int, ir.Value], rows: list[ir.Value]) -> ir.Value:
        b = self.b
        ins = self.k.body[n]
        acc = BlockAccumulator(self, ins.arg, ins.dtype, self.k.body[ins.args[0]].dtype)

        def partial(c: ir.Value) -> None:
            ptr, ty = self.slot(n, c)
            x = b.load(ptr, typ=I8 if ty == I1 else ty)
            acc.add(b.trunc(x, I1) if ty == I1 else x, None)

        counted_loop(b, self.tid, self.chunks, self.ntid, partial, "chunk")
        return acc.result()


def shuffle_xor(b: ir.IRBuilder, v: ir.Value, lane_mask: int) -> ir.Value:
    """The value ``v`` of lane ``lane ^ lane_mask`` (every lane of the warp takes part)."""
    name = "llvm.nvvm.shfl.sync.bfly.i32"
    fn = b.module.globals.get(name) or ir.Function(
        b.module, ir.FunctionType(I32, [I32, I32, I32, I32]), name)

    def word(x: ir.Value) -> ir.Value:
        # mask -1: the whole warp; 0x1f: clamp at lane 31, one 32-lane segment
        return b.call(fn, [I32(-1), x, I32(lane_mask), I32(WARP - 1)])

    ty = v.type
    if ty == F32:
        return b.bitcast(word(b.bitcast(v, I32)), F32)
    if ty == F64 or ty.width == 64:
        bits = b.bitcast(v, I64) if ty == F64 else v
        lo = word(b.trunc(bits, I32))
        hi = word(b.trunc(b.lshr(bits, I64(32)), I32))
        out = b.or_(b.zext(lo, I64), b.shl(b.zext(hi, I64), I64(32)))
        return b.bitcast(out, F64) if ty == F64 else out
    if ty.width == 32:
        return word(v)
    return b.trunc(word(b.zext(v, I32)), ty)


class BlockAccumulator:
    """A per-thread partial, then the deterministic block reduction."""

    def __init__(self, em: BlockRows, kind: ReduceKind, dtype: np.dtype, src: np.dtype
                 ) -> None:
        self.em, self.b, self.kind, self.dtype, self.src = em, em.b, kind, dtype, src
        self.arg = kind in _ARG
        self.vdt = src if self.arg else dtype  # what the value slot holds
        self.vty = value_type(self.vdt)
        self.ident = ir.Constant(self.vty, 0) if self.arg else identity(kind, dtype)
        self.value = em.alloca(self.vty, self.ident)
        self.index = em.alloca(I64, I64(-1)) if self.arg else None

    def combine(self, v: ir.Value, i: ir.Value | None, w: ir.Value, j: ir.Value | None
                ) -> tuple[ir.Value, ir.Value | None]:
        """Partials (v, i) and (w, j) combined; symmetric, so lane order cannot matter."""
        b = self.b
        if not self.arg:
            # partials of ANY/ALL are already bools
            src = np.dtype(bool) if self.kind in (ReduceKind.ANY, ReduceKind.ALL) else self.dtype
            return fold(self.em.c, self.kind, self.dtype, src, v, w), None
        take = self.wins(w, j, v, i)
        return b.select(take, w, v), b.select(take, j, i)

    def wins(self, w: ir.Value, j: ir.Value, v: ir.Value, i: ir.Value) -> ir.Value:
        """Whether partial (w, j) beats (v, i): more extreme, or equal with a smaller index;
        a NaN beats every number (NumPy returns the first NaN); index -1 means empty."""
        b, dt = self.b, self.src
        big = self.kind is ReduceKind.ARGMAX
        valid_w = b.icmp_signed(">=", j, I64(0))
        valid_v = b.icmp_signed(">=", i, I64(0))
        earlier = b.icmp_signed("<", j, i)
        if dt.kind == "f":
            nan_w, nan_v = b.fcmp_unordered("uno", w, w), b.fcmp_unordered("uno", v, v)
            better = b.or_(b.fcmp_ordered(">" if big else "<", w, v),
                           b.and_(nan_w, b.not_(nan_v)))
            same = b.or_(b.fcmp_ordered("==", w, v), b.and_(nan_w, nan_v))
        else:
            pred = ">" if big else "<"
            better = (b.icmp_signed(pred, w, v) if dt.kind == "i"
                      else b.icmp_unsigned(pred, w, v))
            same = b.icmp_unsigned("==", w, v)
        beats = b.or_(better, b.and_(same, earlier))
        return b.and_(valid_w, b.or_(b.not_(valid_v), beats))

    def add(self, x: ir.Value, r: ir.Value) -> None:
        b = self.b
        v = b.load(self.value, typ=self.vty)
        i = b.load(self.index, typ=I64) if self.arg else None
        v, i = self.combine(v, i, x, r)
        b.store(v, self.value)
        if self.arg:
            b.store(i, self.index)

    def warp_reduce(self, v: ir.Value, i: ir.Value | None) -> tuple[ir.Value, ir.Value | None]:
        for mask in (16, 8, 4, 2, 1):
            w = shuffle_xor(self.b, v, mask)
            j = shuffle_xor(self.b, i, mask) if self.arg else None
            v, i = self.combine(v, i, w, j)
        return v, i

    def result(self) -> ir.Value:
        b, em = self.b, self.em
        v = b.load(self.value, typ=self.vty)
        i = b.load(self.index, typ=I64) if self.arg else None
        v, i = self.warp_reduce(v, i)
        mty = I8 if self.vty == I1 else self.vty  # bools live in shared memory as bytes
        values = em.shared_array(mty)
        indices = em.shared_array(I64) if self.arg else None
        with b.if_then(b.icmp_unsigned("==", em.lane, I32(0))):
            b.store(b.zext(v, I8) if self.vty == I1 else v, self._slot(values, em.warp))
            if self.arg:
                b.store(i, self._slot(indices, em.warp))
        em.barrier()
        # every warp reduces the per-warp partials the same way: all threads get the result
        present = b.icmp_unsigned("<", em.lane, I32(WARPS))
        at = b.select(present, em.lane, I32(0))
        w = b.load(self._slot(values, at), typ=mty)
        w = b.trunc(w, I1) if self.vty == I1 else w
        v = b.select(present, w, self.ident)
        if self.arg:
            i = b.select(present, b.load(self._slot(indices, at), typ=I64), I64(-1))
        v, i = self.warp_reduce(v, i)
        em.barrier()  # the shared arrays are rewritten by the next outer index
        return i if self.arg else v

    def _slot(self, array: ir.GlobalVariable, k: ir.Value) -> ir.Value:
        # llvmlite types globals: without source_etype the element pointer is typed too
        return self.b.gep(array, [I32(0), k])
