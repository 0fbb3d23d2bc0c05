"""The exp and log families of :mod:`mathlib`: exp, expm1, tanh (and ``precision="fast"``'s
fasttanh), sinh, cosh, log, log1p, exp2, log2 and log10, and the double-word logarithm that
pow shares (``_log_dd``)."""

from __future__ import annotations

from llvmlite import ir

from .mathlib_core import FORMATS, Em

# -- constants: (float64 value, float32 value); splits hold more bits than one float ----------
LOG2E = (1.4426950408889634, 1.4426950216293335)
LN2_HI = (0.6931471805599453, 0.6931471824645996)
LN2_LO = (2.3190468138462996e-17, -1.9046542121259336e-09)
LN2_LO2 = 5.707708438416212e-34  # third part (float64 only): log of pow in double-double
TANH_SPLIT = 0.5493061443340549  # atanh(1/2): above it 1 - tanh(|x|) <= 1/2

# -- polynomial tables (float64, float32) --------------------------------------------------
# exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2: relative error 2^-63.3 (f64), 2^-28.2 (f32)
EXP_P = (
    (0.5, 0.16666666666666688, 0.041666666666666824, 0.00833333333331389,
     0.0013888888888778305, 0.00019841269903372622, 2.4801587557255594e-05,
     2.7557228735907945e-06, 2.755707084781041e-07, 2.5113886021107792e-08,
     2.0976271432426874e-09),
    (0.4999999403953552, 0.16666516661643982, 0.04166810214519501, 0.008369200862944126,
     0.001383906346745789),
)
# expm1(r) = r + r^2 P(r), |r| <= ln2/2, weighted for the relative error of expm1:
# 2^-57.5 (f64), 2^-31.0 (f32)
EXPM1_P = (
    (0.5000000000000001, 0.1666666666666667, 0.041666666666649296, 0.008333333333328675,
     0.0013888888897404478, 0.00019841269865026912, 2.4801570297641738e-05,
     2.75572670472829e-06, 2.757199800384999e-07, 2.510081524995366e-08,
     1.6326558212456953e-09),
    (0.5, 0.1666666567325592, 0.04166646674275398, 0.008333643898367882,
     0.0013935043243691325, 0.00019662633712869138),
)
# log(1+f) = 2s + s R(s^2), s = f/(2+f), R(z) = z P(z), z <= 0.0295 (|f| <= sqrt2 - 1):
# absolute error of R 2^-58.5 (f64), 2^-34.2 (f32)
LOG_P = (
    (0.6666666666666735, 0.3999999999940935, 0.28571428743686567, 0.2222219842896005,
     0.1818357235646329, 0.15313832108361836, 0.14798259536625033),
    (0.6666666269302368, 0.40000972151756287, 0.2849879264831543, 0.24278858304023743),
)
# 2 atanh(s) = 2s + 2s^3/3 + s^5 U(s^2) (pow's double-double log): s^5 error 2^-68.5
LOG_U64 = (0.40000000000003544, 0.28571428569567225, 0.222222226042658, 0.1818177769061512,
           0.15387039398129929, 0.13250731400969865, 0.13249097902030937)
# tanh(x) = x + x^3 P(x^2), |x| <= atanh(1/2): relative error 2^-60.6 (f64), 2^-29.7 (f32)
TANH_P = (
    (-0.333333333333333, 0.1333333333332658, -0.05396825396373699, 0.021869488385181806,
     -0.00886323259049444, 0.003592091921503704, -0.0014555421594509242,
     0.00058844174430318, -0.0002333748481203008, 8.330726642664616e-05,
     -1.948934197578581e-05),
    (-0.33333316445350647, 0.13332544267177582, -0.0538475476205349, 0.02105071395635605,
     -0.00624284939840436),
)
# sinh(x) = x + x^3 P(x^2), |x| <= 1: relative error 2^-61.8 (f64), 2^-31.6 (f32)
SINH_P = (
    (0.16666666666666669, 0.008333333333332912, 0.00019841269841593408,
     2.7557319106758375e-06, 2.50521309982999e-08, 1.6056659214566334e-10,
     7.776598233072137e-13),
    (0.1666666716337204, 0.00833331048488617, 0.0001984289410756901, 2.782230239972705e-06),
)


# -- exp family ------------------------------------------------------------------------------
def _exp_core(m: Em, x: ir.Value, lo: ir.Value | None = None, low: bool = False
              ) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(hi, t, n) with exp(x + lo) = 2**n * (1 + hi + t), |hi + t| < 0.42.

    ``x`` must already be clamped to a finite range. ``hi = x - n*ln2_hi`` is exact (FMA,
    and the result needs no more bits than x has), so the reduced argument carries the error
    of the small ``ln2_lo`` term only. ``low`` picks the float32 polynomial (float64 work
    whose result is rounded to float32 needs no more).
    """
    n, ni = m.round_int(x, LOG2E[0 if m.wide else 1])
    hi = m.fma(m.neg(n), m.k(LN2_HI), x)
    r_lo = m.mul(m.neg(n), m.k(LN2_LO))
    if lo is not None:
        r_lo = m.add(r_lo, lo)
    r = m.add(hi, r_lo)
    t = m.fma(m.mul(r, r), m.poly(r, EXP_P[1] if low else m.table(EXP_P)), r_lo)
    return hi, t, ni


def _one_plus(m: Em, hi: ir.Value, t: ir.Value) -> ir.Value:
    """1 + hi + t rounded once: 1 + hi is split exactly, so only the final add rounds."""
    u, ue = m.fast_two_sum(m.k(1.0), hi)
    return m.add(u, m.add(ue, t))


def _exp(m: Em, x: ir.Value) -> ir.Value:
    # beyond these the result is 0 or inf whatever the rounding; clamping keeps n small
    xc = m.clamp(x, -746.0 if m.wide else -104.0, 710.0 if m.wide else 89.0)
    hi, t, n = _exp_core(m, xc)
    y = m.scale(_one_plus(m, hi, t), n)
    return m.sel(m.isnan(x), x, y)


def _expm1(m: Em, x: ir.Value) -> ir.Value:
    # below the lower clamp expm1 rounds to -1; above the upper it overflows
    xc = m.clamp(x, -40.0 if m.wide else -18.0, 710.0 if m.wide else 89.0)
    n, ni = m.round_int(xc, LOG2E[0 if m.wide else 1])
    hi = m.fma(m.neg(n), m.k(LN2_HI), xc)
    lo = m.mul(m.neg(n), m.k(LN2_LO))
    r = m.add(hi, lo)
    e = m.add(hi, m.fma(m.mul(r, r), m.poly(r, m.table(EXPM1_P)), lo))  # expm1(r)
    # 2^n (1 + e) - 1 = 2^n e + (2^n - 1): both terms exact while 2^n - 1 is, one rounding
    big = m.f.mant + 1
    two_n = m.pow2(m.b.select(m.b.icmp_signed("<", ni, m.i(big)), ni, m.i(big)))
    y = m.fma(two_n, e, m.sub(two_n, m.k(1.0)))
    y = m.sel(m.b.icmp_signed(">", ni, m.i(big)), m.scale(m.add(m.k(1.0), e), ni), y)
    y = m.sel(m.cmp("==", x, m.k(0.0)), x, y)  # keeps -0.0
    return m.sel(m.isnan(x), x, y)


def _tanh(m: Em, x: ir.Value) -> ir.Value:
    a = m.abs(x)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.poly(z, m.table(TANH_P)), a)
    # 1 - tanh(a) = 2 / (e^(2a) + 1); the denominator is kept as a double-word
    ac = m.clamp(a, 0.0, 20.0 if m.wide else 9.5)  # tanh rounds to 1 beyond
    hi, t, n = _exp_core(m, m.add(ac, ac))
    two_n = m.pow2(n)
    d_hi, d_lo = m.fast_two_sum(m.add(two_n, m.k(1.0)), m.mul(two_n, m.add(hi, t)))
    q = m.div(m.k(2.0), d_hi)
    rho = m.sub(m.fma(m.neg(q), d_hi, m.k(2.0)), m.mul(q, d_lo))  # 2 - q d, to first order
    q = m.fma(rho, m.mul(q, m.k(0.5)), q)  # one Newton step: q + rho / d
    large = m.sub(m.k(1.0), q)
    y = m.copysign(m.sel(m.cmp("<", a, m.k(TANH_SPLIT)), small, large), x)
    return m.sel(m.isnan(x), x, y)


# beyond these tanh rounds to 1 (from 19.06 in float64, 9.01 in float32)
TANH_FAST_CLAMP = (20.0, 10.0)


def _tanh_fast(m: Em, x: ir.Value) -> ir.Value:
    """tanh within 2.1 ULP (docs/math.md), for ``precision="fast"``: one branch-free form.

    With ``a = |x|`` and ``e^(-2a) = 2^n (1 + e)`` from exp's reduction, ``e = expm1(r)`` by
    expm1's polynomial, ``tanh(a) = (1 - e^(-2a)) / (1 + e^(-2a))``: the numerator and the
    denominator are one FMA each (``1 - 2^n`` and ``1 + 2^n`` are exact while tanh is below
    1), so near 0 the numerator is ``-e`` itself, with no cancellation, and one division
    rounds the result. The accurate :func:`_tanh` computes a second polynomial (both sides
    of its split) and refines its quotient with a Newton step. A rational ``x P(x^2) /
    Q(x^2)``, as XLA computes, was not more accurate in float32 (docs/math.md).
    """
    a = m.abs(x)
    clamp = m.k(TANH_FAST_CLAMP)
    ac = m.sel(m.cmp(">", a, clamp), clamp, a)  # NaN stays NaN: the comparison is false
    m2a = m.mul(ac, m.k(-2.0))  # exact
    n, ni = m.round_int(m2a, LOG2E[0 if m.wide else 1])
    r = m.fma(m.neg(n), m.k(LN2_HI), m2a)
    if m.wide:  # float32: without ln2's low part the result moves by under 0.05 ULP
        r = m.fma(m.neg(n), m.k(LN2_LO), r)
    e = m.fma(m.mul(r, r), m.poly(r, m.table(EXPM1_P)), r)
    two_n = m.pow2(ni)
    num = m.fma(m.neg(two_n), e, m.sub(m.k(1.0), two_n))
    den = m.fma(two_n, e, m.add(m.k(1.0), two_n))
    return m.copysign(m.div(num, den), x)  # tanh(-0.0) = -0.0


def _half_exp(m: Em, a: ir.Value) -> ir.Value:
    """e^a / 2 for 0 <= a, overflowing exactly where cosh does (the halving is in 2**n)."""
    ac = m.clamp(a, 0.0, 711.0 if m.wide else 89.5)
    hi, t, n = _exp_core(m, ac)
    return m.scale(_one_plus(m, hi, t), m.b.sub(n, m.i(1)))


def _cosh(m: Em, x: ir.Value) -> ir.Value:
    e = _half_exp(m, m.abs(x))
    y = m.add(e, m.div(m.k(0.25), e))
    return m.sel(m.isnan(x), x, y)


def _sinh(m: Em, x: ir.Value) -> ir.Value:
    a = m.abs(x)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.poly(z, m.table(SINH_P)), a)
    e = _half_exp(m, a)
    large = m.sub(e, m.div(m.k(0.25), e))
    y = m.copysign(m.sel(m.cmp("<", a, m.k(1.0)), small, large), x)
    return m.sel(m.isnan(x), x, y)


# -- log family ------------------------------------------------------------------------------
def _split(m: Em, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(k, mant) with x = mant * 2**k, mant in [sqrt(1/2), sqrt(2)), for positive normal x."""
    ix = m.bits(x)
    d = m.b.sub(ix, m.i(m.f.sqrt_half_bits))
    k = m.b.ashr(d, m.i(m.f.mant))
    return k, m.from_bits(m.b.sub(ix, m.b.shl(k, m.i(m.f.mant))))


def _log_kernel(m: Em, k: ir.Value, f: ir.Value, low: bool = False) -> ir.Value:
    """k*ln2 + log(1 + f) for |f| <= sqrt(2) - 1 (fdlibm's arrangement of the sum).

    ``low`` picks the float32 polynomial, as for :func:`_exp_core`.
    """
    s = m.div(f, m.add(m.k(2.0), f))
    z = m.mul(s, s)
    r = m.mul(z, m.poly(z, LOG_P[1] if low else m.table(LOG_P)))
    hfsq = m.mul(m.mul(m.k(0.5), f), f)
    kf = m.int_to_float(k)
    inner = m.sub(m.sub(hfsq, m.fma(s, m.add(hfsq, r), m.mul(kf, m.k(LN2_LO)))), f)
    return m.fma(kf, m.k(LN2_HI), m.neg(inner))


def _log_specials(m: Em, x: ir.Value, y: ir.Value, zero: ir.Value) -> ir.Value:
    """log-like results at the domain edges: ``zero`` maps to -inf, below it NaN."""
    y = m.sel(m.cmp("==", x, zero), m.k(float("-inf")), y)
    y = m.sel(m.cmp("<", x, zero), m.k(float("nan")), y)
    y = m.sel(m.cmp("==", x, m.k(float("inf"))), x, y)
    return m.sel(m.isnan(x), x, y)


def _log(m: Em, x: ir.Value) -> ir.Value:
    # subnormals: scale into the normal range first
    tiny = m.cmp("<", x, m.k(2.0 ** (1 - m.f.bias)))
    xs = m.sel(tiny, m.mul(x, m.k(2.0 ** m.f.mant)), x)
    k, mant = _split(m, xs)
    k = m.b.sub(k, m.b.select(tiny, m.i(m.f.mant), m.i(0)))
    y = _log_kernel(m, k, m.sub(mant, m.k(1.0)))
    return _log_specials(m, x, y, m.k(0.0))


def _log1p(m: Em, x: ir.Value) -> ir.Value:
    u, c = m.two_sum(m.k(1.0), x)  # 1 + x == u + c exactly
    k, mant = _split(m, u)
    # the part of 1 + x that u lost, at the scale of the mantissa; negligible once k is big
    kc = m.b.select(m.b.icmp_signed("<", k, m.i(m.f.mant + 2)), k, m.i(m.f.mant + 2))
    c = m.mul(c, m.pow2(m.b.sub(m.i(0), kc)))
    c = m.sel(m.b.icmp_signed("<", k, m.i(m.f.mant + 2)), c, m.k(0.0))
    y = _log_kernel(m, k, m.add(m.sub(mant, m.k(1.0)), c))
    y = m.sel(m.cmp("==", x, m.k(0.0)), x, y)  # keeps -0.0
    return _log_specials(m, x, y, m.k(-1.0))


def _log_dd(m: Em, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log(x) as a double-double for positive normal or subnormal float64 x (~2^-66 rel)."""
    tiny = m.cmp("<", x, m.k(2.0 ** -1022))
    xs = m.sel(tiny, m.mul(x, m.k(2.0 ** 52)), x)
    k, mant = _split(m, xs)
    kf = m.int_to_float(m.b.sub(k, m.b.select(tiny, m.i(52), m.i(0))))
    f = m.sub(mant, m.k(1.0))  # exact
    # s = f / (2 + f) as a double-double: the denominator exactly, then one correction
    d_hi, d_lo = m.fast_two_sum(m.k(2.0), f)
    s = m.div(f, d_hi)
    s_lo = m.div(m.sub(m.fma(m.neg(s), d_hi, f), m.mul(s, d_lo)), d_hi)
    # log(1 + f) = 2 atanh(s) = 2s + (2/3) s^3 + s^5 U(s^2)
    z = m.mul(s, s)
    s2 = m.two_prod(s, s)
    s2 = (s2[0], m.fma(m.add(s, s), s_lo, s2[1]))
    s3 = m.dd_mul(s2, (s, s_lo))
    t3 = m.dd_mul(s3, (m.k(2.0 / 3.0), m.k(3.700743415417188e-17)))  # 2/3 = hi + lo
    tail = m.mul(m.mul(s3[0], z), m.poly(z, LOG_U64))
    b_hi, b_lo = m.fast_two_sum(m.add(s, s), t3[0])
    b_lo = m.add(b_lo, m.add(m.add(s_lo, s_lo), m.add(t3[1], tail)))
    b_hi, b_lo = m.fast_two_sum(b_hi, b_lo)
    # + k ln2, ln2 in three parts
    a_hi, a_lo = m.two_prod(kf, m.k(LN2_HI))
    a_lo = m.fma(kf, m.k(LN2_LO), m.fma(kf, m.k(LN2_LO2), a_lo))
    h, e = m.two_sum(a_hi, b_hi)
    return m.fast_two_sum(h, m.add(e, m.add(a_lo, b_lo)))


# -- exp2, log2, log10 ------------------------------------------------------------------------
# log2(e) and log10(e) as double words (hi + lo, |lo| <= ulp(hi)/2): the float64 log is a
# double word (_log_dd), and its product with these keeps ~2^-66 relative, so exact powers
# of 2 and 10 (log2(8) == 3, log10(1000) == 3) come out exact after the one final rounding
LOG2E_DD = (1.4426950408889634, 2.0355273740931033e-17)
LOG10E_DD = (0.4342944819032518, 1.098319650216765e-17)
LOG10E = 0.4342944819032518  # float32 results: the float64 log times this, rounded once


def _exp2(m: Em, x: ir.Value) -> ir.Value:
    """2**x: x = k + r with k = round(x) and r = x - k exact (|r| <= 1/2; no reduction
    error, unlike exp), then 2**r = exp(r ln2) through exp's core with r ln2 a double word.
    Integers give r = 0, so 2**k exactly (subnormal results included)."""
    # beyond these the result is 0 or inf whatever the rounding; clamping keeps k small
    xc = m.clamp(x, -1080.0 if m.wide else -160.0, 1030.0 if m.wide else 130.0)
    k, ki = m.round_int(xc, 1.0)
    r = m.sub(xc, k)  # exact: k and xc share the binade's grid
    rh, rl = m.two_prod(r, m.k(LN2_HI))
    rl = m.fma(r, m.k(LN2_LO), rl)
    rh, rl = m.fast_two_sum(rh, rl)
    hi, t, n = _exp_core(m, rh, rl)
    y = m.scale(_one_plus(m, hi, t), m.b.add(n, ki))
    return m.sel(m.isnan(x), x, y)


def _log_scaled(m: Em, x: ir.Value, c: tuple[float, float], c32: float) -> ir.Value:
    """c * log(x) (c = log2(e) or log10(e)) with log's special values. float64: the
    double-word log times the double-word c, rounded once; float32: the float64 log times
    c in float64 (relative error ~2^-51), rounded once to float32."""
    if m.wide:
        lh, ll = _log_dd(m, x)
        ph, pl = m.dd_mul((lh, ll), (m.k(c[0]), m.k(c[1])))
        y = m.add(ph, pl)
    else:
        d = Em(m.b, FORMATS["double"], m.width)
        y = m.b.fptrunc(d.mul(_log(d, m.b.fpext(x, d.ty)), d.k(c32)), m.ty)
    return _log_specials(m, x, y, m.k(0.0))


def _log2(m: Em, x: ir.Value) -> ir.Value:
    return _log_scaled(m, x, LOG2E_DD, LOG2E[0])


def _log10(m: Em, x: ir.Value) -> ir.Value:
    return _log_scaled(m, x, LOG10E_DD, LOG10E)
