"""Derivative rules of the elementwise ops: the op table's ``derivative`` column.

A rule is a vector-Jacobian product: ``rule(la, g, out, *xs)`` returns one cotangent per
operand for the cotangent ``g`` of the op's result ``out`` at operands ``xs``, or None for an
operand the result does not depend on smoothly. Rules are written with lazyarr's own
functions (``la`` holds lazyarr's elementwise functions and ``where``, passed in because this
layer may not import the front end) over lazy arrays, so a gradient is an ordinary lazy
expression: it fuses with the forward pass, and it can be differentiated again. Operands and
``g`` have the result's shape; the engine (``lazyarr/front/autodiff.py``) casts each
cotangent to its operand's dtype.

Ties and kinks follow JAX's conventions (``jax.grad``): ``maximum``/``minimum`` and the max
and min reductions split the cotangent evenly between tied operands; ``fmax``/``fmin`` send
it to the second operand at a tie, as ``jnp.fmax``; ``abs`` has slope +1 at 0 (and so has
``copysign`` in its first operand); ``x ** y`` has no slope in ``y`` at ``x == 0``, and slope
0 in ``x`` where ``y == 0`` (JAX's is NaN at ``x == 0``); floor, ceil, trunc, rint, sign and
floor division are flat. ``hypot`` at (0, 0) has slope 0 (JAX's is 0.5, an artefact of its
formula).

``ZERO`` marks an op whose float result is piecewise constant: its cotangents are all zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Rule = Callable[..., tuple[Any, ...]]


def ZERO(la: Any, g: Any, out: Any, *xs: Any) -> tuple[None, ...]:  # noqa: N802 (a marker)
    return (None,) * len(xs)


def _share(la: Any, g: Any, x: Any, other: Any, out: Any) -> Any:
    """``g`` where ``x`` is the result, half of it where ``other`` ties, else 0."""
    return la.where(x == out, la.where(other == out, g * 0.5, g), 0.0)


def add(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g, g


def subtract(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g, -g


def multiply(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g * y, g * x


def true_divide(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g / y, -g * x / (y * y)


def power(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    dx = la.where(y == 0, 0.0, y * x ** (y - 1))
    return g * dx, g * out * la.log(la.where(x == 0, 1.0, x))


def power_int(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    n = out._node.arg
    return (g * (n * x ** (n - 1)) if n else None,)


def negative(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (-g,)


def positive(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g,)


def absolute(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (la.where(x >= 0, g, -g),)


def square(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (2 * x),)


def reciprocal(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (-g * (out * out),)


def sqrt(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * 0.5 / out,)


def cbrt(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (3 * (out * out)),)


def exp(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * out,)


def expm1(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (out + 1),)


def exp2(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * out * math.log(2),)


def log(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / x,)


def log1p(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (x + 1),)


def log2(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (x * math.log(2)),)


def log10(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (x * math.log(10)),)


def _gap(la: Any, x: Any, out: Any) -> Any:
    """``x - out``, 0 where they are equal: an infinite operand is the result (slope 1, as
    JAX), not inf - inf."""
    return la.where(x == out, 0.0, x - out)


def logaddexp(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g * la.exp(_gap(la, x, out)), g * la.exp(_gap(la, y, out))


def logaddexp2(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g * la.exp2(_gap(la, x, out)), g * la.exp2(_gap(la, y, out))


def sin(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * la.cos(x),)


def cos(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (-g * la.sin(x),)


def tan(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (1 + out * out),)


def arcsin(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / la.sqrt(1 - x * x),)


def arccos(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (-g / la.sqrt(1 - x * x),)


def arctan(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (1 + x * x),)


def arctan2(la: Any, g: Any, out: Any, y: Any, x: Any) -> tuple[Any, ...]:
    scale = g / (x * x + y * y)
    return scale * x, -scale * y


def hypot(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    scale = la.where(out == 0, 0.0, g / out)
    return scale * x, scale * y


def sinh(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * la.cosh(x),)


def cosh(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * la.sinh(x),)


def tanh(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (1 - out * out),)


def arcsinh(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / la.sqrt(x * x + 1),)


def arccosh(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / la.sqrt((x - 1) * (x + 1)),)


def arctanh(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g / (1 - x * x),)


_TWO_OVER_ROOT_PI = 2 / math.sqrt(math.pi)


def erf(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (_TWO_OVER_ROOT_PI * la.exp(-(x * x))),)


def erfc(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g * (-_TWO_OVER_ROOT_PI * la.exp(-(x * x))),)


def copysign(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    # |x| with y's sign: abs's slope is +1 at -0.0 too (as JAX)
    return la.where((x >= 0) != la.signbit(y), g, -g), None


def fmod(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g, -g * la.trunc(x / y)


def remainder(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return g, -g * la.floor(x / y)


def ldexp(la: Any, g: Any, out: Any, x: Any, e: Any) -> tuple[Any, ...]:
    return la.ldexp(g, e), None


def frexp_mantissa(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (la.ldexp(g, -la.frexp(x)[1]),)


def maximum(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return _share(la, g, x, y, out), _share(la, g, y, x, out)


minimum = maximum  # the same rule: each operand's share is where it equals the result


def fmax(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    took_x = (x > y) | la.isnan(y)  # jnp.fmax's choice: a tie goes to y
    return la.where(took_x, g, 0.0), la.where(took_x, 0.0, g)


def fmin(la: Any, g: Any, out: Any, x: Any, y: Any) -> tuple[Any, ...]:
    took_x = (x < y) | la.isnan(y)
    return la.where(took_x, g, 0.0), la.where(took_x, 0.0, g)


def clip(la: Any, g: Any, out: Any, x: Any, lo: Any, hi: Any) -> tuple[Any, ...]:
    """NumPy's clip is minimum(maximum(x, lo), hi), differentiated as those two (JAX's
    ``jnp.clip`` is the same composition)."""
    raised = la.maximum(x, lo)
    g_raised, g_hi = maximum(la, g, out, raised, hi)
    g_x, g_lo = maximum(la, g_raised, raised, x, lo)
    return g_x, g_lo, g_hi


def where(la: Any, g: Any, out: Any, c: Any, x: Any, y: Any) -> tuple[Any, ...]:
    return None, la.where(c, g, 0.0), la.where(c, 0.0, g)


def cast(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (g,)  # the engine casts it back to the operand's dtype (none for an integer)


def stop_gradient(la: Any, g: Any, out: Any, x: Any) -> tuple[Any, ...]:
    return (None,)


def fma(la: Any, g: Any, out: Any, x: Any, y: Any, z: Any) -> tuple[Any, ...]:
    return g * y, g * x, g
