"""Inverse trigonometric and hyperbolic functions for :mod:`mathlib`: arcsin, arccos, arctan2,
arcsinh, arccosh and arctanh, branch-free and type generic like the rest of the library
(every special value chosen by ``select``), built on mathlib's log kernel, its arctan
polynomial and ``llvm.sqrt``.

* arcsin, arccos: ``x + x^3 P(x^2)`` for ``|x| <= 1/2``; beyond, with ``z = (1 - |x|)/2``
  (exact) and ``s = sqrt(z)`` carried as a double word, ``asin|x| = pi/2 - 2 asin(s)``,
  ``acos(x) = 2 asin(s)`` or ``pi - 2 asin(s)``; the constant and ``2s`` are added
  exactly (two-sum) so only the last addition rounds.
* arctan2: arctan's reduction applied to ``|y|`` and ``|x|`` directly (``t = |y|/|x|``,
  ``(|y|-|x|)/(|y|+|x|)`` or ``-|x|/|y|``, no rounded ``y/x`` first), ``t`` a double word
  (its low part from the exact remainder: a second division), the quadrant folded into the
  offset (0, pi/4, pi/2, 3pi/4, pi, each in two parts).
* arcsinh, arccosh, arctanh: ``log1p`` of an argument computed as a double word
  (:func:`_log1p_dw`), so its rounding does not add to log1p's; ``log(2|x|)`` through the
  log kernel with the exponent raised by one where ``x*x`` would overflow.
"""

from __future__ import annotations

from collections.abc import Callable

from llvmlite import ir

from .mathlib_core import Em
from .mathlib_exp import _log_kernel, _split
from .mathlib_trig import ATAN_P, PIO2_HI, PIO2_LO, PIO4_HI, PIO4_LO, TAN_3PI_8, TAN_PI_8

# -- constants: (float64, float32); pi multiples in two parts, the second the rounding error
PI_HI = (3.141592653589793, 3.1415927410125732)
PI_LO = (1.2246467991473532e-16, -8.742277657347586e-08)
PI3O4_HI = (2.356194490192345, 2.356194496154785)
PI3O4_LO = (9.184850993605148e-17, -5.962440319251527e-09)
# arcsinh/arccosh use log(2|x|) from here (x*x is far from overflow below, and the terms
# log(2|x|) drops, about 1/(4x^2), are below 2^-58 (float64) / 2^-28 (float32) relative)
LOG_2X_FROM = (2.0 ** 28, 2.0 ** 12)
# below these arcsinh(x) and arctanh(x) are x: the next terms, x^3/6 and x^3/3, are under
# 2^-56 (float64) / 2^-27.6 (float32) of x
SAME_BELOW = (2.0 ** -28, 2.0 ** -13)

# asin(x) = x + x^3 P(x^2), z = x^2 in [0, 1/4] (times 1.0001), P(z) = (asin(x) - x) / x^3
# fitted with weight x^3 / asin(x) (discrete Remez, mpmath, 600 Chebyshev points, rounded
# one coefficient at a time with the rest refitted): relative error of asin 2^-59.9 (float64,
# 13 terms), 2^-31.7 (float32, 6 terms), checked on 12,000 points.
ASIN_P = (
    (0.1666666666666676, 0.07499999999970852, 0.04464285717458225, 0.030381942708568074,
     0.022372214978473078, 0.01735161199931608, 0.01398082245875588, 0.011398884612059077,
     0.010780465656376203, 0.003705410726096649, 0.021710299003041295, -0.021003643665359437,
     0.03263180221011522),
    (0.16666659712791443, 0.07500521838665009, 0.044513385742902756, 0.03183874115347862,
     0.014317835681140423, 0.0376892164349556),
)


# -- arcsin, arccos --------------------------------------------------------------------------
def _asin_parts(m: Em, x: ir.Value
                ) -> tuple[ir.Value, ir.Value, ir.Value, ir.Value, ir.Value]:
    """(a, big, p, s, t) for |x| = a: ``big`` is a > 1/2; then asin(s) = s + t with
    s = sqrt((1 - a)/2) and t its low part (the sqrt's rounding error included), else
    asin(a) = a + a*p. NaN or |x| > 1 make everything NaN."""
    a = m.abs(x)
    half = m.k(0.5)
    big = m.cmp(">", a, half)
    z = m.sel(big, m.mul(m.sub(m.k(1.0), a), half), m.mul(a, a))  # 1 - a exact for a >= 1/2
    p = m.mul(z, m.poly(z, m.table(ASIN_P)))
    s = m.intrinsic("sqrt", z)
    # sqrt's rounding error, z - s^2 (exact by FMA) over 2s; 0 at s = 0 (|x| = 1)
    pos = m.cmp(">", s, m.k(0.0))
    s_lo = m.div(m.fma(m.neg(s), s, z), m.sel(pos, m.add(s, s), m.k(1.0)))
    t = m.fma(s, p, s_lo)
    return a, big, p, s, t


def _minus_plus(m: Em, c_hi: tuple[float, float], c_lo: tuple[float, float], v: ir.Value,
                tail: ir.Value) -> ir.Value:
    """c - v + tail with c = c_hi + c_lo: c_hi - v exactly (two-sum), so one rounding
    matters, the last."""
    hi, lo = m.two_sum(m.k(c_hi), m.neg(v))
    return m.add(hi, m.add(lo, m.add(m.k(c_lo), tail)))


def _arcsin(m: Em, x: ir.Value) -> ir.Value:
    a, big, p, s, t = _asin_parts(m, x)
    small = m.fma(a, p, a)
    two = m.k(2.0)
    large = _minus_plus(m, PIO2_HI, PIO2_LO, m.mul(two, s), m.mul(m.k(-2.0), t))
    return m.copysign(m.sel(big, large, small), x)


def _arccos(m: Em, x: ir.Value) -> ir.Value:
    _, big, p, s, t = _asin_parts(m, x)
    # |x| <= 1/2: pi/2 - asin(x) = pi/2 - x - x*p
    small = _minus_plus(m, PIO2_HI, PIO2_LO, x, m.neg(m.mul(x, p)))
    two = m.k(2.0)
    positive = m.mul(two, m.add(s, t))  # x > 1/2: 2 asin(s)
    negative = _minus_plus(m, PI_HI, PI_LO, m.mul(two, s), m.mul(m.k(-2.0), t))
    large = m.sel(m.cmp(">", x, m.k(0.0)), positive, negative)
    return m.sel(m.isnan(x), x, m.sel(big, large, small))


# -- arctan2 ---------------------------------------------------------------------------------
def _scaled(m: Em, ax: ir.Value, ay: ir.Value) -> tuple[ir.Value, ir.Value]:
    """|x|, |y| times one power of two (exact), so that the reduction's products, sums and
    comparisons neither overflow nor lose bits in the subnormal range; both infinite: 1, 1
    (the ratio is then 1), both zero: x 1 (the ratio 0)."""
    top = m.sel(m.cmp(">", ax, ay), ax, ay)
    f = m.f
    up = m.k(2.0 ** (f.mant + 2))
    factor = m.sel(m.cmp("<", top, m.k(2.0 ** -(f.bias // 2))), up,
                   m.sel(m.cmp(">", top, m.k(2.0 ** (f.bias - 1))), m.k(0.25), m.k(1.0)))
    sx, sy = m.mul(ax, factor), m.mul(ay, factor)
    inf = m.k(float("inf"))
    both_inf = m.b.and_(m.cmp("==", ax, inf), m.cmp("==", ay, inf))
    both_zero = m.b.and_(m.cmp("==", ax, m.k(0.0)), m.cmp("==", ay, m.k(0.0)))
    one = m.k(1.0)
    sx = m.sel(m.b.or_(both_inf, both_zero), one, sx)
    sy = m.sel(both_inf, one, sy)
    return sx, sy


def _offset(m: Em, big: ir.Value, mid: ir.Value, neg: ir.Value,
            parts: tuple[tuple[float, float], ...]) -> ir.Value:
    """One part of arctan2's offset: pi/2, pi/4 or 0 for x >= 0; pi/2, 3pi/4 or pi for x < 0
    (``parts``: that part of pi/2, pi/4, 3pi/4 and pi)."""
    pio2, pio4, pi3o4, pi = (m.k(c) for c in parts)
    return m.sel(big, pio2, m.sel(mid, m.sel(neg, pi3o4, pio4), m.sel(neg, pi, m.k(0.0))))


def _arctan2(m: Em, y: ir.Value, x: ir.Value) -> ir.Value:
    sx, sy = _scaled(m, m.abs(x), m.abs(y))
    big = m.cmp(">", sy, m.mul(sx, m.k(TAN_3PI_8)))
    mid = m.cmp(">", sy, m.mul(sx, m.k(TAN_PI_8)))
    # numerator and denominator as double words (exact: only the mid range's are rounded),
    # and the quotient's rounding error from its remainder (exact by FMA): t + t_lo carries
    # about twice the format's precision, so the rounding of t costs nothing in the result
    diff, diff_lo = m.two_sum(sy, m.neg(sx))
    total, total_lo = m.two_sum(sy, sx)
    zero = m.k(0.0)
    num = m.sel(big, m.neg(sx), m.sel(mid, diff, sy))
    num_lo = m.sel(mid, m.sel(big, zero, diff_lo), zero)
    den = m.sel(big, sy, m.sel(mid, total, sx))
    den_lo = m.sel(mid, m.sel(big, zero, total_lo), zero)
    t = m.div(num, den)  # |t| <= tan(pi/8); NaN in, NaN out
    rem = m.sub(m.add(m.fma(m.neg(t), den, num), num_lo), m.mul(t, den_lo))
    # (an infinite |y| makes den infinite, t 0 and the remainder NaN: no low part then)
    t_lo = m.sel(m.cmp("<", den, m.k(float("inf"))), m.div(rem, den), zero)
    # x < 0 (sign bit, so -0 too): pi - (offset + atan t) = (pi - offset) + atan(-t)
    neg = m.b.icmp_signed("<", m.bits(x), m.i(0))
    q_hi = _offset(m, big, mid, neg, (PIO2_HI, PIO4_HI, PI3O4_HI, PI_HI))
    q_lo = _offset(m, big, mid, neg, (PIO2_LO, PIO4_LO, PI3O4_LO, PI_LO))
    t = m.sel(neg, m.neg(t), t)
    t_lo = m.sel(neg, m.neg(t_lo), t_lo)
    z = m.mul(t, t)
    tail = m.fma(m.mul(t, z), m.poly(z, m.table(ATAN_P)), m.add(q_lo, t_lo))
    return m.copysign(m.add(q_hi, m.add(t, tail)), y)


# -- arcsinh, arccosh, arctanh: log1p of a double word ---------------------------------------
def _log1p_dw(m: Em, hi: ir.Value, lo: ir.Value) -> ir.Value:
    """log(1 + hi + lo) for hi + lo > -1 (finite), hi + lo not rounded: mathlib's log1p
    with ``lo`` added to the part of 1 + hi that the rounded sum lost."""
    u, c = m.two_sum(m.k(1.0), hi)
    c = m.add(c, lo)
    k, mant = _split(m, u)
    # c at the mantissa's scale; negligible (dropped) once k is big
    limit = m.i(m.f.mant + 2)
    near = m.b.icmp_signed("<", k, limit)
    kc = m.b.select(near, k, limit)
    c = m.sel(near, m.mul(c, m.pow2(m.b.sub(m.i(0), kc))), m.k(0.0))
    return _log_kernel(m, k, m.add(m.sub(mant, m.k(1.0)), c))


def _log_2x(m: Em, a: ir.Value) -> ir.Value:
    """log(2a) for normal a > 0 without forming 2a (which may overflow) or adding ln2
    (another rounding): the log kernel with the exponent raised by one."""
    k, mant = _split(m, a)
    return _log_kernel(m, m.b.add(k, m.i(1)), m.sub(mant, m.k(1.0)))


def _specials(m: Em, x: ir.Value, a: ir.Value, y: ir.Value) -> ir.Value:
    """+-inf for infinite x, x itself for NaN (odd functions: the sign is x's)."""
    y = m.sel(m.cmp("==", a, m.k(float("inf"))), a, y)
    return m.sel(m.isnan(x), x, m.copysign(y, x))


def _arcsinh(m: Em, x: ir.Value) -> ir.Value:
    # asinh(a) = log1p(a + a^2/(1 + sqrt(1 + a^2))), a + v summed exactly (v < a)
    a = m.abs(x)
    v = m.div(m.mul(a, a), m.add(m.k(1.0), m.intrinsic("sqrt", m.fma(a, a, m.k(1.0)))))
    hi, lo = m.fast_two_sum(a, v)
    y = m.sel(m.cmp(">=", a, m.k(LOG_2X_FROM)), _log_2x(m, a), _log1p_dw(m, hi, lo))
    return _specials(m, x, a, m.sel(m.cmp("<", a, m.k(SAME_BELOW)), a, y))


def _arccosh(m: Em, x: ir.Value) -> ir.Value:
    # acosh(x) = log1p(t + sqrt(2t + t^2)), t = x - 1 (a double word beyond 2), the square
    # root's argument and result double words too: near 1 the sqrt term dominates
    t, t_lo = m.two_sum(x, m.k(-1.0))
    t2, t2_lo = m.two_prod(t, t)
    p, p_lo = m.two_sum(m.add(t, t), t2)
    p_lo = m.add(p_lo, t2_lo)
    w = m.intrinsic("sqrt", p)
    pos = m.cmp(">", w, m.k(0.0))
    w_lo = m.div(m.add(m.fma(m.neg(w), w, p), p_lo), m.sel(pos, m.add(w, w), m.k(1.0)))
    hi, lo = m.fast_two_sum(w, t)  # w >= t
    # t_lo moves sqrt(2t + t^2) by about as much as t once t_lo is nonzero (x > 2)
    lo = m.add(lo, m.fma(m.k(2.0), t_lo, w_lo))
    y = m.sel(m.cmp(">=", x, m.k(LOG_2X_FROM)), _log_2x(m, x), _log1p_dw(m, hi, lo))
    y = m.sel(m.cmp("==", x, m.k(float("inf"))), x, y)
    y = m.sel(m.cmp("<", x, m.k(1.0)), m.k(float("nan")), y)
    return m.sel(m.isnan(x), x, y)


def _arctanh(m: Em, x: ir.Value) -> ir.Value:
    # atanh(a) = log1p(2a/(1 - a))/2, 1 - a exact as a double word and the quotient with its
    # remainder (exact by FMA) as a double word
    a = m.abs(x)
    n = m.add(a, a)
    d, d_lo = m.two_sum(m.k(1.0), m.neg(a))
    q = m.div(n, d)
    q_lo = m.div(m.sub(m.fma(m.neg(q), d, n), m.mul(q, d_lo)), d)
    y = m.mul(m.k(0.5), _log1p_dw(m, q, q_lo))
    y = m.sel(m.cmp("<", a, m.k(SAME_BELOW)), a, y)
    y = m.sel(m.cmp("==", a, m.k(1.0)), m.k(float("inf")), y)
    y = m.sel(m.cmp(">", a, m.k(1.0)), m.k(float("nan")), y)
    return m.sel(m.isnan(x), x, m.copysign(y, x))


# -- registration ----------------------------------------------------------------------------
Body = Callable[..., ir.Value]
# name -> (arguments, emitter), merged into mathlib.FUNCTIONS (arctan2 takes y, x like C)
FUNCTIONS: dict[str, tuple[int, Body]] = {
    "arcsin": (1, _arcsin), "arccos": (1, _arccos), "arctan2": (2, _arctan2),
    "arcsinh": (1, _arcsinh), "arccosh": (1, _arccosh), "arctanh": (1, _arctanh),
}
# the C math names the emitters call for these (NVPTX points such calls at the inlined
# functions: nvptx.MATHLIB_NAMES)
C_NAMES = {"asin": "arcsin", "acos": "arccos", "atan2": "arctan2", "asinh": "arcsinh",
           "acosh": "arccosh", "atanh": "arctanh"}
