"""Complex elementary functions as formulas on real lazy arrays.

A complex number is a pair of real lazy arrays ``(re, im)``; each function here takes such
pairs and returns one, built only from lazyarr's real element-wise functions (``exp``,
``hypot``, ``arctan2``, ``where`` ...), so a complex expression stays one fused kernel.

Values are NumPy 2's for ``np.<name>`` on complex input (glibc's ``cexp``, ``clog``,
``csqrt``, ``csinh`` ... and NumPy's own ``exp2``, ``expm1``, ``log1p``, ``log2``,
``log10`` and ``power`` loops), special values included: infinities, NaNs and signed zeros
come out as NumPy gives them (C99 Annex G). Finite values are computed more carefully than
a direct transcription (overflow-free scaling, error-free products and sums near
cancellation, Hull et al.'s arcsine), so they can differ from NumPy's in the last bits, and
where NumPy's own formula is inaccurate (``log1p`` near 0, ``exp2``'s rounded ``z ln 2``,
``expm1`` where ``exp`` of the real part overflows but the result does not, ``power`` of a
real base by a real exponent) lazyarr gives the accurate value. See docs/complex_math.md
for accuracy figures and every known difference from NumPy.

float32 pairs are computed in float64 and rounded once at the end (NumPy's complex64
results come from float32 arithmetic; here an intermediate that overflows float32 does
not make a NaN).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from lazyarr.front import build
from lazyarr.front.array import LazyArray
from lazyarr.front.functions import UFUNC_FUNCTIONS, asarray, broadcast_to, where
from lazyarr.ir.graph import Op

Pair = tuple[LazyArray, LazyArray]

_F64 = np.dtype(np.float64)
_F32 = np.dtype(np.float32)

(_abs, _arccos, _arcsin, _arctan, _arctan2, _arctanh, _copysign, _cos, _cosh, _exp, _expm1,
 _exp2, _floor, _fmax, _fmin, _hypot, _isfinite, _isinf, _isnan, _ldexp, _log, _log1p, _pow,
 _rint, _signbit, _sin, _sinh, _sqrt, _tanh) = (UFUNC_FUNCTIONS[name] for name in (
    "absolute", "arccos", "arcsin", "arctan", "arctan2", "arctanh", "copysign", "cos", "cosh",
    "exp", "expm1", "exp2", "floor", "fmax", "fmin", "hypot", "isfinite", "isinf", "isnan",
    "ldexp", "log", "log1p", "power", "rint", "signbit", "sin", "sinh", "sqrt", "tanh"))
_frexp = UFUNC_FUNCTIONS["frexp"]  # two outputs: (mantissa, exponent)

_INF = math.inf
_NAN = math.nan
_PI = math.pi
_PI_2 = math.pi / 2
_LN2 = math.log(2.0)
_LN2_TAIL = 2.3190468138462996e-17  # ln 2 - _LN2
# ln 2 in two parts (fdlibm's): k * _LN2_HI is exact for |k| < 2**20
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_LOG2E = (1.4426950408889634, 2.0355273740931033e-17)  # log2(e) as a double word
_LOG10E = (0.4342944819032518, 1.098319650216765e-17)  # log10(e) as a double word
_DBL_MAX = float(np.finfo(np.float64).max)
_DBL_MIN = float(np.finfo(np.float64).tiny)
_EPS = float(np.finfo(np.float64).eps)


# -- inputs and outputs ---------------------------------------------------------------------------
def _inputs(*parts: Any) -> tuple[list[LazyArray], np.dtype]:
    """The parts as float64 lazy arrays of their common broadcast shape, and the result dtype
    (float32 only if every part is float32)."""
    arrays = [asarray(p) for p in parts]
    for a in arrays:
        if a.dtype not in (_F32, _F64):
            raise TypeError(f"complex_math: the parts must be float32 or float64 arrays, "
                            f"not {a.dtype}")
    dtype = _F32 if all(a.dtype == _F32 for a in arrays) else _F64
    shape = np.broadcast_shapes(*(a.shape for a in arrays))
    # broadcast explicitly: several results below are one part selected by `where`
    wide = [a if a.shape == shape else broadcast_to(a, shape) for a in arrays]
    return [a if a.dtype == _F64 else a.astype(_F64) for a in wide], dtype


def _out(pair: Pair, dtype: np.dtype) -> Pair:
    re, im = pair
    return (re, im) if dtype == _F64 else (re.astype(dtype), im.astype(dtype))


def _unary(name: str, fn):
    """The public ``name(re, im)`` around a float64 kernel ``fn(a, b)``."""

    def public(re: Any, im: Any) -> Pair:
        (a, b), dtype = _inputs(re, im)
        return _out(fn(a, b), dtype)

    public.__name__ = public.__qualname__ = name
    public.__doc__ = fn.__doc__
    return public


# -- exact arithmetic helpers ---------------------------------------------------------------------
def _fma(x: Any, y: Any, z: Any) -> LazyArray:
    """``x * y + z`` rounded once."""
    return LazyArray(build.apply(Op.FMA, x, y, z))


def _two_sum(x: LazyArray, y: Any) -> Pair:
    """``s + e == x + y`` exactly, ``s`` the rounded sum (Knuth's TwoSum: any order)."""
    s = x + y
    t = s - x
    return s, (x - (s - t)) + (y - t)


_PROD_MAX = 2.0**510  # beyond, no caller uses an exact product


def _two_prod(x: LazyArray, y: LazyArray) -> Pair:
    """``p + e == x * y`` exactly (unless it underflows), ``p`` the rounded product, for
    ``|x|, |y| <= 2**510``; larger (or NaN) factors are replaced by 0, so no lane overflows
    (the interpreter's exact FMA would fail there), and callers select other values for
    them."""
    x = where(_abs(x) <= _PROD_MAX, x, 0.0)
    y = where(_abs(y) <= _PROD_MAX, y, 0.0)
    p = x * y
    return p, _fma(x, y, -p)


def _exp_parts(x: LazyArray) -> tuple[LazyArray, LazyArray]:
    """``(m, n)`` with ``e**x == m * 2**n``, ``m`` in ``[0.7, 1.42]``, ``n`` int32, for ``x``
    clamped to ``[-1500, 1500]`` (NaN as 1500): beyond, every product with a float in
    ``[2**-1074, 1]`` overflows or underflows anyway. ``x - n ln2`` is exact in its first
    step (``n * _LN2_HI`` exact, Sterbenz), so ``m`` carries exp's error and one rounding."""
    xc = _fmax(_fmin(x, 1500.0), -1500.0)
    k = _rint(xc * _INV_LN2)
    r = (xc - k * _LN2_HI) - k * _LN2_LO
    return _exp(r), k.astype(np.int32)


def _scaled(m: LazyArray, n: LazyArray, s: LazyArray | None,
            s_up: LazyArray | None = None) -> LazyArray:
    """``m * s * 2**n`` for ``|s| <= 1``: ``s`` is scaled up by 2**1000 first (exact, and no
    longer subnormal; or the caller gives ``s_up = s * 2**1000``), so the product rounds
    once and the final scaling rounds only a subnormal result or overflows."""
    up = _ldexp(s, 1000) if s_up is None else s_up
    return _ldexp(up * m, n - 1000)


# -- exp, log, sqrt -------------------------------------------------------------------------------
def _cexp(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``exp``: ``e**a (cos b + i sin b)`` (glibc's ``cexp``)."""
    m, n = _exp_parts(a)
    return _exp_special(a, b, _scaled(m, n, _cos(b)), _scaled(m, n, _sin(b)))


def _cexp2(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``exp2``: NumPy's ``exp(z ln 2)``, with ``2**a`` from the real ``exp2`` (so
    not ``a ln 2`` rounded: NumPy's carries ``|a|`` ULP of error) and the angle ``b ln 2``
    as a double word for ``|b| < 2**50``."""
    ac = _fmax(_fmin(a, 2200.0), -2200.0)  # (as _exp_parts' clamp; NaN as 2200)
    k = _rint(ac)
    m = _exp2(ac - k)
    hi = b * _LN2
    # the angle's low word for |b| < 2**50 (ln 2 as a double word is good to 2**-106 there;
    # beyond, NumPy's cos(fl(b ln 2)) is kept), added by rotating through it
    lo = where(_abs(b) < 2.0**50, _fma(b, _LN2, -hi) + b * _LN2_TAIL, 0.0)
    c, s, cl, sl = _cos(hi), _sin(hi), _cos(lo), _sin(lo)
    c, s = c * cl - s * sl, s * cl + c * sl
    # a tiny b: sin(b ln 2) is b ln 2, formed at 2**1000 times its size (b ln 2 itself
    # would round to the subnormals' few bits before exp's scaling)
    s_up = where(_abs(b) < 2.0**-900, _ldexp(b, 1000) * _LN2, _ldexp(s, 1000))
    n = k.astype(np.int32)
    return _exp_special(a, b, _scaled(m, n, c), _scaled(m, n, None, s_up))


def _exp_special(a: LazyArray, b: LazyArray, re: LazyArray, im: LazyArray) -> Pair:
    """glibc's ``cexp`` special values over the finite formula's ``(re, im)`` (for ``exp2``
    too: ``a ln 2`` and ``b ln 2`` are in the classes of ``a`` and ``b``)."""
    # a = +-inf or NaN with b not finite, and a = NaN (the clamp made it 1500)
    fin_b = _isfinite(b)
    re = where(_isnan(a), _NAN, where((a == _INF) & ~fin_b, _INF, where(
        (a == -_INF) & ~fin_b, 0.0, re)))
    im = where(_isnan(a) & (b != 0), _NAN, where((a == -_INF) & ~fin_b, _copysign(0.0, b), im))
    return re, im


def _log_abs(a: LazyArray, b: LazyArray) -> LazyArray:
    """``log|a + ib|`` without overflow or underflow; for ``|z|`` in ``[0.71, 1.73]`` as
    ``log1p`` of ``|z|**2 - 1`` computed from error-free products and sums (CPython's and
    NumPy's ``clog`` regions). +inf if either part is infinite (even with a NaN), -inf at
    0."""
    ax, ay = _abs(a), _abs(b)
    big, small = _fmax(ax, ay), _fmin(ax, ay)
    h = _hypot(a, b)
    p, ep = _two_prod(big, big)
    q, eq = _two_prod(small, small)
    s1, t1 = _two_sum(p, -1.0)
    s2, t2 = _two_sum(s1, q)
    near = 0.5 * _log1p(s2 + ((t1 + t2) + (ep + eq)))
    # elsewhere log(h) + (|z|**2 - h**2) / (2 h**2): the correction takes hypot's rounding
    # out (worth up to 2 ULP where |log h| is below 1); p - hh and the sum after it are exact
    hh, eh = _two_prod(h, h)
    residual = ((p - hh) + q) + ((ep + eq) - eh)
    mid = _log(h) + where((big > 2.0**-500) & (big < 2.0**500), residual / (hh + hh), 0.0)
    huge = _log(_hypot(a * 0.5, b * 0.5)) + _LN2
    tiny = _log(_hypot(a * 2.0**54, b * 2.0**54)) - 54 * _LN2
    result = where((h >= 0.71) & (h <= 1.73), near, mid)
    return where(big > _DBL_MAX / 4, huge, where(big < _DBL_MIN, tiny, result))


def _clog(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``log``: ``log|z| + i atan2(b, a)`` (glibc's ``clog``)."""
    return _log_abs(a, b), _arctan2(b, a)


def _times(pair: Pair, constant: tuple[float, float]) -> Pair:
    """Both parts times a double-word constant, rounded once each."""
    hi, lo = constant
    return tuple(_fma(x, hi, x * lo) for x in pair)  # type: ignore[return-value]


def _clog2(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``log2``: ``log(z) * log2(e)`` (NumPy's definition)."""
    return _times(_clog(a, b), _LOG2E)


def _clog10(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``log10``: ``log(z) * log10(e)`` (NumPy's definition)."""
    return _times(_clog(a, b), _LOG10E)


def _csqrt(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``sqrt``, principal branch (glibc's ``csqrt``): with ``d = |z|``,
    ``r = sqrt((d + a)/2)``, ``s = b/(2r)`` for ``a > 0``, else ``s = sqrt((d - a)/2)``,
    ``r = |b|/(2s)``, on parts scaled by an even power of two so nothing overflows."""
    big = _fmax(_abs(a), _abs(b))
    e = _frexp(big)[1]
    k = e >> 1
    a2, b2 = _ldexp(a, -2 * k), _ldexp(b, -2 * k)
    d = _hypot(a2, b2)
    r_pos = _ldexp(_sqrt(0.5 * (d + a2)), k)
    s_neg = _ldexp(_sqrt(0.5 * (d - a2)), k)
    pos = a > 0
    re = where(pos, r_pos, _abs(b) / (s_neg + s_neg))
    im = where(pos, b / (r_pos + r_pos), _copysign(s_neg, b))
    # zeros, infinities and NaNs
    zero = (a == 0) & (b == 0)
    nan_a, nan_b, inf_b = _isnan(a), _isnan(b), _isinf(b)
    re = where(zero, 0.0, re)
    im = where(zero, b, im)
    re = where(a == -_INF, where(nan_b, _NAN, 0.0), re)
    im = where(a == -_INF, _copysign(_INF, b), im)
    re = where(a == _INF, _INF, re)
    im = where(a == _INF, where(nan_b, _NAN, _copysign(0.0, b)), im)
    re = where(nan_a | (nan_b & _isfinite(a)), _NAN, re)
    im = where(nan_a | (nan_b & _isfinite(a)), _NAN, im)
    return where(inf_b, _INF, re), where(inf_b, b, im)


# -- hyperbolic and trigonometric -----------------------------------------------------------------
_HYP_BIG = 20.0  # beyond, cosh |a| == sinh |a| == e**|a| / 2 in float64


def _cosh_sinh_times(a: LazyArray, c: LazyArray, s: LazyArray) -> Pair:
    """``(cosh(a) * c, sinh(a) * s)`` for ``|c|, |s| <= 1`` without overflow: for
    ``|a| > 20`` as ``e**|a| / 2`` scaled (``_scaled``)."""
    m, n = _exp_parts(_abs(a))
    sign = _copysign(1.0, a)
    large = _abs(a) > _HYP_BIG
    return (where(large, _scaled(m, n - 1, c), _cosh(a) * c),
            where(large, _scaled(m, n - 1, s * sign), _sinh(a) * s))


def _csinh(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``sinh``: ``sinh a cos b + i cosh a sin b`` (glibc's ``csinh``)."""
    c, s = _cos(b), _sin(b)
    im, re = _cosh_sinh_times(a, s, c)
    fin_b = _isfinite(b)
    re = where((a == 0) & ~fin_b, a, where(_isinf(a) & ~fin_b, _INF, re))
    im = where(_isnan(a) & (b == 0), b, im)
    return re, im


def _ccosh(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``cosh``: ``cosh a cos b + i sinh a sin b`` (glibc's ``ccosh``)."""
    c, s = _cos(b), _sin(b)
    re, im = _cosh_sinh_times(a, c, s)
    fin_b = _isfinite(b)
    re = where(_isinf(a) & ~fin_b, _INF, re)
    im = where((a == 0) & ~fin_b, 0.0, where(_isnan(a) & (b == 0), b, im))
    return re, im


_TANH_BIG = 22.0  # beyond, tanh |a| == 1 in float64


def _ctanh(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``tanh`` (glibc's ``ctanh`` values). With ``T = tanh a``: the real part is
    ``T / (cos**2 b + T**2 sin**2 b)``; the imaginary part ``sin 2b / (cosh 2a + cos 2b)``
    for ``|a| >= 1/2`` and ``sin(2b)/2 / (sinh**2 a + cos**2 b)`` below (where ``cosh 2a
    + cos 2b`` can cancel); for ``|a| > 22`` the real part is +-1 and the imaginary
    ``4 sin b cos b e**(-2|a|)``. (Measured against glibc's single formula, these lower the
    float64 maximum from about 4.4 ULP to 3.3.)"""
    c, s = _cos(b), _sin(b)
    # 2b exact unless it overflows
    b_ok = _abs(b) < 2.0**1022
    s2 = where(b_ok, _sin(2.0 * b), 2.0 * (s * c))
    c2 = where(b_ok, _cos(2.0 * b), (c - s) * (c + s))
    # cos**2 b: (1 + cos 2b)/2 carries cos's error once, not twice, unless it cancels
    cc = where(c2 > -0.5, 0.5 * (1.0 + c2), c * c)
    t = _tanh(a)
    ts, sh = t * s, _sinh(_fmax(_fmin(a, _TANH_BIG), -_TANH_BIG))  # (|a| > 22 is apart)
    re = t / _fma(ts, ts, cc)
    im = where(_abs(a) >= 0.5, s2 / (_cosh(2.0 * a) + c2), 0.5 * s2 / _fma(sh, sh, cc))
    m, n = _exp_parts(-2.0 * _abs(a))
    large = _abs(a) > _TANH_BIG
    re = where(large, _copysign(1.0, a), re)
    im = where(large, _scaled(m, n + 2, s * c), im)
    # a infinite: +-1 + 0i, the zero's sign that of sin(2b) (of b for |b| <= 1 or b
    # infinite); a NaN: NaN + i b for b == 0; b not finite: NaN (a if a == 0) + i NaN
    inf_a, nan_a, fin_b = _isinf(a), _isnan(a), _isfinite(b)
    zero_sign = where(fin_b & (_abs(b) > 1.0), s * c, b)
    re = where(inf_a, _copysign(1.0, a),
               where(nan_a, _NAN, where(~fin_b, where(a == 0, a, _NAN), re)))
    im = where(inf_a, _copysign(0.0, zero_sign),
               where(nan_a, where(b == 0, b, _NAN), where(~fin_b, _NAN, im)))
    return re, im


def _rotated(fn, a: LazyArray, b: LazyArray) -> Pair:
    """``-i fn(i z)``: ``sin`` from ``sinh``, ``tan`` from ``tanh`` (C99's definitions)."""
    x, y = fn(-b, a)
    return y, -x


def _csin(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``sin``: ``-i sinh(i z)`` (glibc's ``csin``, which makes the imaginary part
    +inf, not -inf, for an infinite ``b`` and a real part that is infinite or NaN)."""
    re, im = _rotated(_csinh, a, b)
    return re, where(~_isfinite(a) & _isinf(b), _INF, im)


def _ccos(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``cos``: ``cosh(i z)`` (glibc's ``ccos``)."""
    return _ccosh(-b, a)


def _ctan(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``tan``: ``-i tanh(i z)`` (glibc's ``ctan``)."""
    return _rotated(_ctanh, a, b)


# -- NumPy's own: expm1, log1p --------------------------------------------------------------------
_EXPM1_BIG = 700.0  # beyond, e**a overflows soon and 2 sin(b/2)**2 is below its last bit


def _cexpm1(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``expm1``: NumPy's ``expm1(a) cos b - 2 sin(b/2)**2 + i e**a sin b``; for
    ``a > 700`` ``e**a`` is scaled, so a result that is finite is (NumPy's overflows to inf,
    and to NaN for ``b == 0``). Non-finite inputs: NumPy's formula as it is."""
    c, s = _cos(b), _sin(b)
    h = _sin(0.5 * b)
    re = _expm1(a) * c - 2.0 * (h * h)
    im = _exp(a) * s
    m, n = _exp_parts(a)
    large = (a > _EXPM1_BIG) & _isfinite(a) & _isfinite(b)
    return where(large, _scaled(m, n, c), re), where(large, _scaled(m, n, s), im)


def _clog1p(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``log1p``: ``log|1 + z| + i atan2(b, 1 + a)``. NumPy computes the real part as
    ``log(hypot(1 + a, b))``, which loses everything for small ``|z|``; here it is
    ``log1p(2a + a**2 + b**2) / 2`` with the sum formed exactly, where ``|1 + z|**2 >=
    1/4`` and ``|z| < 2**500``, and ``log|1 + z|`` (``1 + a`` exact there) elsewhere.
    Non-finite inputs give NumPy's values."""
    u = 1.0 + a
    p, ep = _two_prod(a, a)
    q, eq = _two_prod(b, b)
    s1, t1 = _two_sum(a + a, p)
    s2, t2 = _two_sum(s1, q)
    v = s2 + ((t1 + t2) + (ep + eq))
    moderate = (_abs(a) < 2.0**500) & (_abs(b) < 2.0**500) & (v >= -0.75)  # (no NaN)
    re = where(moderate, 0.5 * _log1p(v), _log_abs(u, b))
    return re, _arctan2(b, u)


# -- power ----------------------------------------------------------------------------------------
def _cmul(a: LazyArray, b: LazyArray, c: LazyArray, d: LazyArray) -> Pair:
    """``(a + ib)(c + id)`` as NumPy's ``cmul``: four products, no recovery of infinities."""
    return a * c - b * d, a * d + b * c


def _cdiv_one(c: LazyArray, d: LazyArray) -> Pair:
    """``1 / (c + id)`` as NumPy's ``cdiv`` (Smith's algorithm) of ``1 + 0i``: every
    product and sum of it kept, since ``0 * inf`` and ``0 - 0`` decide special values."""
    ar, ai = 1.0, 0.0
    abs_c, abs_d = _abs(c), _abs(d)
    rat = d / c
    scl = 1.0 / (c + d * rat)
    rat2 = c / d
    scl2 = 1.0 / (d + c * rat2)
    zero = (abs_c == 0) & (abs_d == 0)
    first = abs_c >= abs_d
    re = where(first, where(zero, ar / abs_c, (ar + ai * rat) * scl), (ar * rat2 + ai) * scl2)
    im = where(first, where(zero, ai / abs_d, (ai - ar * rat) * scl), (ai * rat2 - ar) * scl2)
    return re, im


_POWER_BITS = 7  # NumPy multiplies for integral exponents |n| < 100


def _int_power(a: LazyArray, b: LazyArray, n: LazyArray) -> Pair:
    """``z ** n`` for integral ``|n| < 100`` as NumPy's ``npy_cpow``: ``n`` = 1, 2, 3
    unrolled, others by binary powering from ``1 + 0i`` (the same products, so the same
    special values; every bit's product is computed and selected), negative ``n`` as
    ``1 / z**|n|``."""
    m = _abs(n)
    acc_re: Any = 1.0  # NumPy starts from 1 + 0i and multiplies (1 * inf + 0 * 0i is NaN)
    acc_im: Any = 0.0
    p_re, p_im = a, b
    for bit in range(_POWER_BITS):
        weight = float(2**bit)
        set_ = _fmod_bit(m, weight)
        prod = _cmul(acc_re, acc_im, p_re, p_im)
        acc_re, acc_im = where(set_, prod[0], acc_re), where(set_, prod[1], acc_im)
        if bit < _POWER_BITS - 1:
            p_re, p_im = _cmul(p_re, p_im, p_re, p_im)
    # 1, 2, 3 unrolled for positive n only (NumPy tests n before it negates it)
    sq = _cmul(a, b, a, b)
    cube = _cmul(a, b, *sq)
    inv = _cdiv_one(acc_re, acc_im)
    re = where(n == 1, a, where(n == 2, sq[0], where(n == 3, cube[0], where(
        n < 0, inv[0], acc_re))))
    im = where(n == 1, b, where(n == 2, sq[1], where(n == 3, cube[1], where(
        n < 0, inv[1], acc_im))))
    return re, im


def _fmod_bit(m: LazyArray, weight: float) -> LazyArray:
    """Whether bit ``weight`` (a power of two) of the integral ``m >= 0`` is set."""
    half = m / (2.0 * weight)
    return (half - _floor(half)) >= 0.5


def _cmul_c99(a: LazyArray, b: LazyArray, c: LazyArray, d: LazyArray) -> Pair:
    """``(a + ib)(c + id)`` as C99's ``*`` (libgcc's ``__muldc3``): where both parts come
    out NaN, infinities in either factor (or overflowed products) are recovered."""
    ac, bd, ad, bc = a * c, b * d, a * d, b * c
    x, y = ac - bd, ad + bc
    both = _isnan(x) & _isnan(y)
    inf_ab = _isinf(a) | _isinf(b)
    inf_cd = _isinf(c) | _isinf(d)

    def box(v: LazyArray) -> LazyArray:
        return _copysign(where(_isinf(v), 1.0, 0.0), v)

    def unnan(v: LazyArray) -> LazyArray:
        return where(_isnan(v), _copysign(0.0, v), v)

    a1, b1 = where(inf_ab, box(a), a), where(inf_ab, box(b), b)
    c1, d1 = where(inf_ab, unnan(c), c), where(inf_ab, unnan(d), d)
    c1, d1 = where(inf_cd, box(c1), c1), where(inf_cd, box(d1), d1)
    a1, b1 = where(inf_cd, unnan(a1), a1), where(inf_cd, unnan(b1), b1)
    overflowed = ~inf_ab & ~inf_cd & (_isinf(ac) | _isinf(bd) | _isinf(ad) | _isinf(bc))
    a1, b1 = where(overflowed, unnan(a1), a1), where(overflowed, unnan(b1), b1)
    c1, d1 = where(overflowed, unnan(c1), c1), where(overflowed, unnan(d1), d1)
    recalc = both & (inf_ab | inf_cd | overflowed)
    x2 = _INF * (a1 * c1 - b1 * d1)
    y2 = _INF * (a1 * d1 + b1 * c1)
    return where(recalc, x2, x), where(recalc, y2, y)


def _cos_sin_pi(x: LazyArray) -> Pair:
    """``(cos(pi x), sin(pi x))`` for finite ``x``, accurate near their zeros: ``x`` is
    reduced exactly to ``r`` in ``[-1/4, 1/4]`` and a quadrant, so only ``pi r`` rounds;
    exact zeros are +0."""
    half_turns = _rint(2.0 * x)  # x = half_turns / 2 + r, both exact
    r = x - 0.5 * half_turns
    q = half_turns - 4.0 * _floor(0.25 * half_turns)  # quadrant 0..3
    c, s = _cos(_PI * r), _sin(_PI * r)
    zero_minus_s, zero_minus_c = 0.0 - s, 0.0 - c
    cos_pi = where(q == 0, c, where(q == 1, zero_minus_s, where(q == 2, zero_minus_c, s)))
    sin_pi = where(q == 0, s, where(q == 1, c, where(q == 2, zero_minus_s, zero_minus_c)))
    return cos_pi, sin_pi


def _cpow(a: LazyArray, b: LazyArray, c: LazyArray, d: LazyArray) -> Pair:
    """Complex ``power`` as NumPy's ``npy_cpow``: ``z**0 = 1``; ``0**w`` is 0 for
    ``Re w > 0``, else NaN; integral real exponents ``|n| < 100`` by multiplication;
    otherwise ``exp(w log z)`` (glibc's ``cpow``)."""
    lr, li = _clog(a, b)
    wr, wi = _cmul_c99(c, d, lr, li)
    gr, gi = _cexp(wr, wi)
    # a real base and exponent: |a|**c from the real power (accurate where exp(c log|a|)
    # carries log's error times c) and, for a < 0, the angle +-pi c from cos and sin of pi c
    modulus = _pow(_abs(a), c)
    cos_pi, sin_pi = _cos_sin_pi(c)
    real = ((b == 0) & (d == 0) & (a != 0) & _isfinite(a) & _isfinite(c)
            & (modulus > 0) & _isfinite(modulus))
    gr = where(real, where(a < 0, modulus * cos_pi, modulus), gr)
    gi = where(real & (a < 0), _copysign(modulus, b) * sin_pi, gi)
    integral = (d == 0) & (_abs(c) < 100.0) & (_floor(c) == c)
    ir, ii = _int_power(a, b, where(integral, c, 0.0))
    re, im = where(integral, ir, gr), where(integral, ii, gi)
    base_zero = (a == 0) & (b == 0)
    re = where(base_zero, where(c > 0, 0.0, _NAN), re)
    im = where(base_zero, where(c > 0, 0.0, _NAN), im)
    exp_zero = (c == 0) & (d == 0)
    return where(exp_zero, 1.0, re), where(exp_zero, 0.0, im)


# -- inverse functions: Hull, Fairgrieve and Tang's algorithm as in FreeBSD's catrig.c -----------
_RECIP_EPS = 1.0 / _EPS
_SQRT_6_EPS = 3.65002414998885671e-08
_SQRT_3_EPS = 2.5809568279517849e-08
_FOUR_SQRT_MIN = 5.9666725849601654e-154
_A_CROSSOVER = 10.0
_B_CROSSOVER = 0.6417
_PI_2_LO = 6.1232339957367659e-17  # pi/2 - _PI_2


def _half_gap(a: LazyArray, b: LazyArray, h: LazyArray) -> LazyArray:
    """``(hypot(a, b) - b) / 2`` without cancellation (``h`` is ``hypot(a, b)``)."""
    return where(b < 0, 0.5 * (h - b), where(b == 0, 0.5 * a, a * a / (h + b) * 0.5))


def _hard_work(x: LazyArray, y: LazyArray) -> tuple[LazyArray, ...]:
    """catrig's ``do_hard_work`` for ``0 <= x, y < 2**52``: ``(rx, usable, B, sqrt_a2my2,
    new_y)`` with ``rx = Re casinh(x + iy)`` and ``Im casinh = asin(B)`` where ``usable``,
    else ``atan2(new_y, sqrt_a2my2)``. Every branch is computed and selected."""
    r = _hypot(x, y + 1.0)  # |z + i|
    s = _hypot(x, y - 1.0)  # |z - i|
    a = _fmax(0.5 * (r + s), 1.0)
    gap = _abs(y - 1.0)
    near = x >= _EPS * gap
    am1 = _half_gap(x, 1.0 + y, r) + _half_gap(x, 1.0 - y, s)
    rx_small = where(
        (y == 1.0) & (x < _EPS * _EPS / 128), _sqrt(x), where(
            near, _log1p(am1 + _sqrt(am1 * (a + 1.0))), where(
                y < 1.0, x / _sqrt((1.0 - y) * (1.0 + y)),
                _log1p((y - 1.0) + _sqrt((y - 1.0) * (y + 1.0))))))
    rx = where(a < _A_CROSSOVER, rx_small, _log(a + _sqrt(a * a - 1.0)))
    tiny_y = y < _FOUR_SQRT_MIN
    b = y / a
    amy = _half_gap(x, y + 1.0, r) + _half_gap(x, y - 1.0, s)
    touching = (y == 1.0) & (x < _EPS / 128)
    scaled = ~touching & ~near & (y > 1.0)
    big_scale = 4.0 / _EPS / _EPS
    root = where(touching, _sqrt(x) * _sqrt(0.5 * (a + y)), where(
        near, _sqrt(amy * (a + y)), where(
            y > 1.0, x * big_scale * y / _sqrt((y + 1.0) * (y - 1.0)),
            _sqrt((1.0 - y) * (1.0 + y)))))
    over = b > _B_CROSSOVER
    root = where(tiny_y, a * (2.0 / _EPS), root)
    new_y = where(tiny_y, y * (2.0 / _EPS), where(over & scaled, y * big_scale, y))
    usable = ~tiny_y & ~over
    return rx, usable, b, root, new_y


def _casinh_core(a: LazyArray, b: LazyArray) -> Pair:
    """casinh for inputs without NaN (catrig's ``casinh``)."""
    ax, ay = _abs(a), _abs(b)
    rx, usable, bb, root, new_y = _hard_work(ax, ay)
    ry = where(usable, _arcsin(bb), _arctan2(new_y, root))
    large = (ax > _RECIP_EPS) | (ay > _RECIP_EPS)
    small = (ax < _SQRT_6_EPS / 4) & (ay < _SQRT_6_EPS / 4)
    rx = where(large, _log_abs(ax, ay) + _LN2, where(small, ax, rx))
    ry = where(large, _arctan2(ay, ax), where(small, ay, ry))
    return _copysign(rx, a), _copysign(ry, b)


def _casinh(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``arcsinh`` (glibc's ``casinh`` values): Hull et al.'s algorithm (FreeBSD's
    catrig), accurate near the branch points and cuts."""
    re, im = _casinh_core(a, b)
    nan_a, nan_b, inf_a, inf_b = _isnan(a), _isnan(b), _isinf(a), _isinf(b)
    any_nan = nan_a | nan_b
    # NaN with an infinity: glibc's choices
    re = where(any_nan, where(inf_b, _copysign(_INF, a), where(inf_a, a, _NAN)), re)
    im = where(any_nan, where(inf_a & (b == 0), _copysign(0.0, b), where(
        nan_a & (b == 0), b, _NAN)), im)
    re = where(nan_a & (b == 0), a, re)
    return re, im


def _casin(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``arcsin``: ``-i asinh(i z)`` (glibc's ``casin``)."""
    x, y = _casinh_core(-b, a)
    re, im = y, -x
    nan = _isnan(a) | _isnan(b)
    re = where(nan, where(a == 0, a, _NAN), re)
    im = where(nan, where(a == 0, b, where(_isinf(a) | _isinf(b), _copysign(_INF, b), _NAN)), im)
    return re, im


def _cacos_core(a: LazyArray, b: LazyArray) -> Pair:
    """cacos for inputs without NaN (catrig's ``cacos``)."""
    ax, ay = _abs(a), _abs(b)
    neg_a, neg_b = _signbit(a), _signbit(b)
    ry, usable, bb, root, new_x = _hard_work(ay, ax)
    rx = where(usable, _arccos(where(neg_a, -bb, bb)),
               _arctan2(root, where(neg_a, -new_x, new_x)))
    large = (ax > _RECIP_EPS) | (ay > _RECIP_EPS)
    small = (ax < _SQRT_6_EPS / 4) & (ay < _SQRT_6_EPS / 4)
    rx = where(large, _abs(_arctan2(b, a)), where(small, _PI_2 - (a - _PI_2_LO), rx))
    ry = where(large, _log_abs(a, b) + _LN2, where(small, ay, ry))
    ry = where(neg_b, ry, -ry)
    one = (a == 1.0) & (b == 0)
    return where(one, 0.0, rx), where(one, -b, ry)


def _cacos(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``arccos`` (glibc's ``cacos`` values; catrig's algorithm)."""
    re, im = _cacos_core(a, b)
    nan = _isnan(a) | _isnan(b)
    inf_a, inf_b = _isinf(a), _isinf(b)
    re = where(nan, where(a == 0, _PI_2, _NAN), re)
    im = where(nan, where(inf_a, _copysign(_INF, -b), where(inf_b, -b, _NAN)), im)
    return re, im


def _cacosh(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``arccosh``: ``+-i acos(z)``, the sign making the real part >= 0 (glibc's
    ``cacosh`` values)."""
    x, y = _cacos_core(a, b)
    re, im = _abs(y), _copysign(x, b)
    nan = _isnan(a) | _isnan(b)
    inf = _isinf(a) | _isinf(b)
    re = where(nan, where(inf, _INF, _NAN), re)
    im = where(nan, where((a == 0) & _isnan(b), _PI_2, _NAN), im)
    return re, im


def _real_reciprocal(x: LazyArray, y: LazyArray) -> LazyArray:
    """``Re(1/(x + iy)) = x / (x**2 + y**2)`` for ``|z| > 2**52``, scaled (no overflow, one
    rounding into the subnormals); +-0 for an infinite part."""
    e = _frexp(_fmax(_abs(x), _abs(y)))[1]
    xs, ys = _ldexp(x, -e), _ldexp(y, -e)
    value = _ldexp(xs / (xs * xs + ys * ys), -e)
    return where(_isinf(x) | _isinf(y), _copysign(0.0, x), value)


def _catanh_core(a: LazyArray, b: LazyArray) -> Pair:
    """catanh for inputs without NaN (catrig's ``catanh``; ``1 - |z|**2`` formed exactly)."""
    ax, ay = _abs(a), _abs(b)
    p, ep = _two_prod(ax, ax)
    q, eq = _two_prod(ay, ay)
    s1, t1 = _two_sum(1.0 - p, -q)  # 1 - p exact where it matters (Sterbenz)
    one_minus = s1 + (t1 - (ep + eq))
    dx = ax - 1.0
    sum_sq = where(ay < 1.4916681462400413e-154, dx * dx, dx * dx + ay * ay)
    rx = where((ax == 1.0) & (ay < _EPS), 0.5 * (_LN2 - _log(ay)),
               0.25 * _log1p(4.0 * ax / sum_sq))
    ry = where(ax == 1.0, 0.5 * _arctan2(2.0, -ay), where(
        ay < _EPS, 0.5 * _arctan2(2.0 * ay, (1.0 - ax) * (1.0 + ax)),
        0.5 * _arctan2(2.0 * ay, one_minus)))
    large = (ax > _RECIP_EPS) | (ay > _RECIP_EPS)
    small = (ax < _SQRT_3_EPS / 2) & (ay < _SQRT_3_EPS / 2)
    rx = where(large, _abs(_real_reciprocal(a, b)), where(small, ax, rx))
    ry = where(large, _PI_2, where(small, ay, ry))
    re, im = _copysign(rx, a), _copysign(ry, b)
    # the real axis inside [-1, 1] and the imaginary axis: the real functions
    real = (b == 0) & (ax <= 1.0)
    re = where(real, _arctanh(a), where(a == 0, a, re))
    im = where(real, b, where(a == 0, _arctan(b), im))
    return re, im


def _catanh(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``arctanh`` (glibc's ``catanh`` values; catrig's algorithm)."""
    re, im = _catanh_core(a, b)
    nan = (_isnan(a) | _isnan(b)) & ~((b == 0) & (_abs(a) <= 1.0)) & (a != 0)
    re = where(nan, where(_isinf(a) | _isinf(b), _copysign(0.0, a), _NAN), re)
    im = where(nan, where(_isinf(b), _copysign(_PI_2, b), _NAN), im)
    return re, im


def _catan(a: LazyArray, b: LazyArray) -> Pair:
    """Complex ``arctan``: ``-i atanh(i z)`` (glibc's ``catan``)."""
    x, y = _catanh(-b, a)
    return y, -x


# -- public functions -----------------------------------------------------------------------------
exp = _unary("exp", _cexp)
exp2 = _unary("exp2", _cexp2)
log = _unary("log", _clog)
log2 = _unary("log2", _clog2)
log10 = _unary("log10", _clog10)
log1p = _unary("log1p", _clog1p)
expm1 = _unary("expm1", _cexpm1)
sqrt = _unary("sqrt", _csqrt)
sin = _unary("sin", _csin)
cos = _unary("cos", _ccos)
tan = _unary("tan", _ctan)
sinh = _unary("sinh", _csinh)
cosh = _unary("cosh", _ccosh)
tanh = _unary("tanh", _ctanh)
arcsin = _unary("arcsin", _casin)
arccos = _unary("arccos", _cacos)
arctan = _unary("arctan", _catan)
arcsinh = _unary("arcsinh", _casinh)
arccosh = _unary("arccosh", _cacosh)
arctanh = _unary("arctanh", _catanh)


def power(re1: Any, im1: Any, re2: Any, im2: Any) -> Pair:
    """Complex ``power(z, w)`` of ``z = re1 + i im1`` and ``w = re2 + i im2``: NumPy's
    ``npy_cpow`` (see ``_cpow``)."""
    (a, b, c, d), dtype = _inputs(re1, im1, re2, im2)
    return _out(_cpow(a, b, c, d), dtype)


FUNCTIONS = {"exp": exp, "exp2": exp2, "log": log, "log2": log2, "log10": log10, "log1p": log1p,
             "expm1": expm1, "sqrt": sqrt, "sin": sin, "cos": cos, "tan": tan, "sinh": sinh,
             "cosh": cosh, "tanh": tanh, "arcsin": arcsin, "arccos": arccos,
             "arctan": arctan, "arcsinh": arcsinh, "arccosh": arccosh, "arctanh": arctanh,
             "power": power}

__all__ = ["FUNCTIONS", "Pair", *FUNCTIONS]
