"""The body of a full reduction split into partial rows (``cpu_passes.split_rows``): each
partial row leaves its accumulators' states, and the last one to finish combines them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from llvmlite import ir

from lazyarr.ir.graph import Op

from .common import InnerArgs, counted_loop
from .scalar import I8, I32, I64, from_memory, memory_type, store_param, to_memory

if TYPE_CHECKING:
    from .accumulators import Accumulator
    from .rows import RowEmitter


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
