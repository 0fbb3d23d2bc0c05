"""Pieces both loop wrappers share: the argument block and IR loops."""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from lazyarr.ir.loop import Kernel

from . import mathlib
from .scalar import I32, I64, memory_type

PTR = ir.PointerType()


class ArgBlock:
    """Loads the kernel's arguments from the block (at the words ``Kernel.args`` names), once,
    at entry."""

    def __init__(self, b: ir.IRBuilder, block: ir.Value, kernel: Kernel) -> None:
        self.b, self.block, self.kernel = b, block, kernel
        at, nd = kernel.args, kernel.ndim
        self.shape = [self.word(at.SHAPE + d) for d in range(nd)]
        self.ptrs: list[ir.Value] = []
        self.strides: list[list[ir.Value]] = []
        for k in range(at.inputs + at.outputs):
            self.ptrs.append(self.word(at.address(k), PTR))
            self.strides.append([self.word(at.strides(k) + d) for d in range(nd)])
        self.scalars = []
        for k, dt in enumerate(kernel.scalars):
            ty = memory_type(dt)
            raw = b.load(b.gep(block, [I64(at.scalar(k))], source_etype=I64), typ=ty)
            self.scalars.append(b.icmp_unsigned("!=", raw, ir.Constant(ty, 0))
                                if dt.kind == "b" else raw)
        self.status = self.word(at.status, PTR)

    def word(self, k: int, ty: ir.Type = I64) -> ir.Value:
        return self.b.load(self.b.gep(self.block, [I64(k)], source_etype=I64), typ=ty)


def counted_loop(b: ir.IRBuilder, lo: ir.Value, hi: ir.Value, step: ir.Value,
                 body: Callable[[ir.Value], None], name: str, vectorise: bool = True,
                 interleave: int | None = None) -> None:
    """``for (i = lo; i < hi; i += step) body(i)`` in the form LLVM's vectoriser expects.

    An innermost loop calling out-of-line vector math (``mathlib.call_support``) asks the
    vectoriser for ``mathlib.loop_width`` lanes (see there why). ``vectorise=False`` asks it
    to leave the loop scalar (and not to interleave it). ``interleave``: vectors in flight
    per iteration, for a long chain of dependent instructions (Philox's rounds) whose latency
    one vector at a time would leave the core waiting on.
    """
    entry = b.block
    head = b.append_basic_block(f"{name}.body")
    done = b.append_basic_block(f"{name}.done")
    first = len(b.function.blocks)  # blocks from here on are the body's
    b.cbranch(b.icmp_signed("<", lo, hi), head, done)
    b.position_at_end(head)
    i = b.phi(I64, name=name)
    i.add_incoming(lo, entry)
    body(i)
    nxt = b.add(i, step)
    i.add_incoming(nxt, b.block)
    latch = b.cbranch(b.icmp_signed("<", nxt, hi), head, done)
    inside = b.function.blocks[first:]
    width = mathlib.loop_width([head, *inside])
    if not vectorise:
        _loop_hints(latch, [("llvm.loop.vectorize.enable", ir.IntType(1)(0)),
                            ("llvm.loop.interleave.count", I32(1)),
                            ("llvm.loop.unroll.disable", None)])
    elif (width or interleave) and _innermost(inside):
        # a width hint also lets the vectoriser reassociate floating-point reductions of the
        # loop, which changes nothing here: the only ones in innermost loops
        # (codegen/accumulators.py: block sums, products) carry the reassoc flag already, and
        # min/max are exact in any order
        _loop_hints(latch, [*([("llvm.loop.vectorize.width", I32(width))] if width else []),
                            *([("llvm.loop.interleave.count", I32(interleave))] if interleave
                              else [])])
    b.position_at_end(done)


def _innermost(blocks: list[ir.Block]) -> bool:
    """Whether a loop body made of ``blocks`` (in order) holds no loop: no branch back."""
    seen: set[int] = set()
    for block in blocks:
        seen.add(id(block))
        term = block.terminator
        targets = [] if term is None else [op for op in term.operands
                                           if isinstance(op, ir.Block)]
        if any(id(t) in seen for t in targets):
            return False
    return True


class _LoopID(ir.values.MDValue):
    """A distinct metadata node whose first operand is itself: the form LLVM requires of a
    loop's ID (llvmlite's metadata nodes are uniqued and cannot refer to themselves)."""

    def __init__(self, module: ir.Module, hints: list[ir.values.MDValue]) -> None:
        super().__init__(module, hints, name=str(len(module.metadata)))

    def descr(self, buf: list[str]) -> None:
        refs = [self.get_reference(), *(h.get_reference() for h in self.operands)]
        buf += (f"distinct !{{ {', '.join(refs)} }}", "\n")


def _loop_hints(latch: ir.Instruction, hints: list[tuple[str, ir.Constant | None]]) -> None:
    module = latch.module
    nodes = [module.add_metadata([ir.MetaDataString(module, name)]
                                 + ([] if value is None else [value]))
             for name, value in hints]
    latch.set_metadata("llvm.loop", _LoopID(module, nodes))


class InnerArgs:
    """The CPU inner function's parameters, unpacked (codegen/cpu.py makes the function;
    codegen/partial_rows.py reads the arrays' base pointers from it)."""

    def __init__(self, fn: ir.Function, kernel: Kernel) -> None:
        nd, n = kernel.ndim, len(kernel.inputs) + len(kernel.outputs)
        a = list(fn.args)
        self.start, self.end = a[0], a[1]
        self.shape = a[2:2 + nd]
        self.ptrs = a[2 + nd:2 + nd + n]
        flat = a[2 + nd + n:2 + nd + n + n * nd]
        self.strides = [flat[k * nd:(k + 1) * nd] for k in range(n)]
        self.scalars = a[2 + nd + n + n * nd:-1]
        self.status = a[-1]
