"""Pieces both loop wrappers share: the argument block and IR loops."""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from lazyarr.loopir import Kernel

from .scalar import I64, memory_type

PTR = ir.PointerType()


class ArgBlock:
    """Loads the kernel's arguments from the block (see ``loopir.args_words``), once, at entry."""

    def __init__(self, b: ir.IRBuilder, block: ir.Value, kernel: Kernel) -> None:
        self.b, self.block, self.kernel = b, block, kernel
        nd = kernel.ndim
        self.shape = [self.word(d) for d in range(nd)]
        self.ptrs: list[ir.Value] = []
        self.strides: list[list[ir.Value]] = []
        base = nd
        for _ in range(len(kernel.inputs) + len(kernel.outputs)):
            self.ptrs.append(self.word(base, PTR))
            self.strides.append([self.word(base + 1 + d) for d in range(nd)])
            base += 1 + nd
        self.scalars = []
        for k, dt in enumerate(kernel.scalars):
            ty = memory_type(dt)
            raw = b.load(b.gep(block, [I64(base + k)], source_etype=I64), typ=ty)
            self.scalars.append(b.icmp_unsigned("!=", raw, ir.Constant(ty, 0))
                                if dt.kind == "b" else raw)
        self.status = self.word(base + len(kernel.scalars), PTR)

    def word(self, k: int, ty: ir.Type = I64) -> ir.Value:
        return self.b.load(self.b.gep(self.block, [I64(k)], source_etype=I64), typ=ty)


def counted_loop(b: ir.IRBuilder, lo: ir.Value, hi: ir.Value, step: ir.Value,
                 body: Callable[[ir.Value], None], name: str) -> None:
    """``for (i = lo; i < hi; i += step) body(i)`` in the form LLVM's vectoriser expects."""
    entry = b.block
    head = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    b.cbranch(b.icmp_signed("<", lo, hi), head, done)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(lo, entry)
    body(i)
    nxt = b.add(i, step)
    i.add_incoming(nxt, b.block)
    b.cbranch(b.icmp_signed("<", nxt, hi), head, done)
    b.position_at_end(done)
