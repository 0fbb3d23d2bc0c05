"""Canonicalisation: rewrite rules applied as nodes are built.

Composite ops (rows of lazyarr/ir/ops.py with an ``expand``) are rewritten into the ops they
are made of. Otherwise only rewrites that keep every special value of the result (NaN,
infinities, signed zeros) are here, and all but one keep every bit; algebraic identities such
as ``x*0 -> 0`` are wrong for NaN and inf and are not applied. The exception is a float power
with an integral scalar exponent, which becomes an integer power (repeated squaring, as NumPy
users write ``x**3`` for): within 1 ULP of the exact result, as C's pow is, but not always its bits.
"""

from __future__ import annotations

from collections.abc import Callable

from lazyarr.ir.graph import Node, Op, make
from lazyarr.ir.ops import ROWS

# Largest |n| of ``x ** n`` computed by squaring (codegen/mathlib.py's INT_POWER_MAX: the
# float64 mantissa's |n|-th power and its reciprocal must be normal floats). The unrolled
# chain costs at most 9 squarings and 9 multiplications there, still well below a general
# pow (docs/math.md); larger exponents take the general pow, so no exponent makes a long
# chain.
POWER_INT_MAX = 1022


def _scalar_value(node: Node) -> float | None:
    """The value of a scalar operand (possibly broadcast), else None."""
    while node.op is Op.BROADCAST:
        node = node.src[0]
    return node.arg.item() if node.op is Op.SCALAR else None


def _power_by_constant(node: Node) -> Node:
    """``x ** c`` for scalar c: NumPy's fast paths, and integers by repeated squaring.

    NumPy computes ``x ** 0.5`` as ``sqrt(x)`` (so ``(-0.0) ** 0.5 == -0.0`` and
    ``(-inf) ** 0.5`` is NaN), ``x ** 2`` as ``x * x`` and ``x ** -1`` as ``1 / x``; matching
    it keeps both the values and the speed (no ``pow`` call per element). Any other integral
    float exponent n, |n| <= POWER_INT_MAX, becomes POWER_INT (n in ``arg``): the kernel
    unrolls the squarings for that n. The exponent is the scalar as NumPy's loop sees it (cast
    to the loop dtype), and only float loops are rewritten: integer powers keep their exact
    integer loop.
    """
    x, e = node.src
    value = _scalar_value(e)
    if value is None or x.dtype != node.dtype:
        return node
    if value == 2:
        return make(Op.SQUARE, node.dtype, node.shape, (x,))
    if node.dtype.kind != "f":
        return node
    if value == 0.5:
        return make(Op.SQRT, node.dtype, node.shape, (x,))
    if value == -1:
        return make(Op.RECIPROCAL, node.dtype, node.shape, (x,))
    if float(value).is_integer() and abs(value) <= POWER_INT_MAX:
        return make(Op.POWER_INT, node.dtype, node.shape, (x,), int(value))
    return node


RULES: dict[Op, Callable[[Node], Node]] = {Op.POWER: _power_by_constant}
# composite ops (a row's ``expand``) become the ops they are made of as they are built
RULES.update({op: row.expand for op, row in ROWS.items() if row.expand is not None})


def canonicalise(node: Node) -> Node:
    rule = RULES.get(node.op)
    return node if rule is None else rule(node)


__all__ = ["RULES", "canonicalise"]
