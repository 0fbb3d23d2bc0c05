"""The scalar emitter of PHILOX: one Philox4x32-10 block per element, in 32-bit integers.

Registered in ``scalar.ARG_EMITTERS`` on import (``scalar.py`` imports this module last). The
reference is ``lazyarr/ir/philox.py``; a kernel asking for several words of one element emits
the same rounds for each, and LLVM merges the copies. Every step is an integer multiply
(32 x 32 -> 64 bits), shift, xor or add: defined for every input, vectorised on the CPU (each
lane computes its own block) and plain PTX on NVIDIA GPUs (``mul.wide.u32``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir

from lazyarr.ir import philox
from lazyarr.ir.graph import Op

from .scalar import ARG_EMITTERS, I32, I64, Ctx


def _halves(b: ir.IRBuilder, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    return b.trunc(x, I32), b.trunc(b.lshr(x, I64(32)), I32)


def _mulhilo(b: ir.IRBuilder, m: int, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    product = b.mul(b.zext(x, I64), I64(m))
    return _halves(b, product)[::-1]


def _philox(c: Ctx, dt: np.dtype, a: Sequence[ir.Value], word: int) -> ir.Value:
    b = c.b
    c0, c1 = _halves(b, a[0])
    c2 = c3 = I32(0)  # domain 0: the numbers samplers draw (see lazyarr/ir/philox.py)
    k0, k1 = _halves(b, a[1])
    for r in range(philox.ROUNDS):
        if r:
            k0, k1 = b.add(k0, I32(philox.W0)), b.add(k1, I32(philox.W1))
        hi0, lo0 = _mulhilo(b, philox.M0, c0)
        hi1, lo1 = _mulhilo(b, philox.M1, c2)
        c0, c1, c2, c3 = b.xor(b.xor(hi1, c1), k0), lo1, b.xor(b.xor(hi0, c3), k1), lo0
    return (c0, c1, c2, c3)[word]


ARG_EMITTERS[Op.PHILOX] = _philox
