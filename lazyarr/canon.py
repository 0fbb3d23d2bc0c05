"""Canonicalisation: rewrite rules applied as nodes are built.

Only rewrites that keep every bit of the result (NaN, infinities, signed zeros) are here;
algebraic identities such as ``x*0 -> 0`` are wrong for NaN and inf and are not applied.
"""

from __future__ import annotations

from collections.abc import Callable

from .graph import Node, Op, make


def _scalar_value(node: Node) -> float | None:
    """The value of a scalar operand (possibly broadcast), else None."""
    while node.op is Op.BROADCAST:
        node = node.src[0]
    return node.arg.item() if node.op is Op.SCALAR else None


def _power_by_constant(node: Node) -> Node:
    """``x ** c`` for the scalar exponents NumPy's power loop special-cases.

    NumPy computes ``x ** 0.5`` as ``sqrt(x)`` (so ``(-0.0) ** 0.5 == -0.0`` and
    ``(-inf) ** 0.5`` is NaN), ``x ** 2`` as ``x * x`` and ``x ** -1`` as ``1 / x``; matching
    it keeps both the values and the speed (no ``pow`` call per element).
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
    return node


RULES: dict[Op, Callable[[Node], Node]] = {Op.POWER: _power_by_constant}


def canonicalise(node: Node) -> Node:
    rule = RULES.get(node.op)
    return node if rule is None else rule(node)


__all__ = ["RULES", "canonicalise"]
