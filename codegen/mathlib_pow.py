"""pow, integer powers, cbrt and hypot for :mod:`mathlib`: pow through the double-word
logarithm and exp's core, ``x ** n`` for a constant n unrolled, cbrt by Newton steps on a
polynomial guess, hypot with one scaling and a double-word sum of squares."""

from __future__ import annotations

from llvmlite import ir

from .mathlib_core import FORMATS, Em
from .mathlib_exp import _exp_core, _log_dd, _log_kernel, _one_plus, _split


# -- pow ---------------------------------------------------------------------------------
def _pow_magnitude(m: Em, ax: ir.Value, y: ir.Value) -> ir.Value:
    """|x|**y = exp(y log|x|) for finite positive |x| and finite y, in double-double."""
    lh, ll = _log_dd(m, ax)
    ph, pl = m.two_prod(y, lh)
    pl = m.fma(y, ll, pl)
    hc = m.clamp(ph, -746.0, 710.0)
    hi, t, n = _exp_core(m, hc, m.sel(m.cmp("==", hc, ph), pl, m.k(0.0)))
    return m.scale(_one_plus(m, hi, t), n)


def _pow64(m: Em, x: ir.Value, y: ir.Value, dd: bool = True) -> ir.Value:
    """C99 pow (Annex F special cases) in float64: exp(y log|x|), then signs and specials.

    With ``dd`` the logarithm and the product carry double-double precision (float64
    results); without, plain float64 is ample (float32 results, rounded once at the end).
    """
    one, zero, inf = m.k(1.0), m.k(0.0), m.k(float("inf"))
    ax, ay = m.abs(x), m.abs(y)
    ax_ok = m.b.and_(m.cmp(">", ax, zero), m.cmp("<", ax, inf))
    y_ok = m.cmp("<", ay, inf)
    axs, ys = m.sel(ax_ok, ax, one), m.sel(y_ok, y, zero)
    if dd:
        mag = _pow_magnitude(m, axs, ys)
    else:  # float32 arguments: never subnormal in float64, and axs is positive and finite
        k, mant = _split(m, axs)
        # the float32 polynomials, evaluated in float64, are accurate enough here too
        t = m.mul(ys, _log_kernel(m, k, m.sub(mant, one), low=True))
        hi, lo, n = _exp_core(m, m.clamp(t, -746.0, 710.0), low=True)
        mag = m.scale(_one_plus(m, hi, lo), n)
    y_neg = m.cmp("<", y, zero)
    # |x| == 0 or inf, and |y| == inf: limits of exp(y log|x|)
    mag = m.sel(m.cmp("==", ax, zero), m.sel(y_neg, inf, zero), mag)
    mag = m.sel(m.cmp("==", ax, inf), m.sel(y_neg, zero, inf), mag)
    below_one = m.cmp("<", ax, one)
    y_inf = m.sel(m.b.icmp_unsigned("==", below_one, y_neg), inf, zero)
    y_inf = m.sel(m.cmp("==", ax, one), one, y_inf)  # pow(-1, +-inf) == 1
    mag = m.sel(y_ok, mag, y_inf)
    # sign and domain: a negative base needs an integer exponent; odd ones keep the sign
    y_int = m.cmp("==", m.trunc(y), y)
    half = m.mul(y, m.k(0.5))
    y_odd = m.b.and_(y_int, m.cmp("!=", m.trunc(half), half))
    x_neg = m.b.icmp_signed("<", m.bits(x), m.i(0))  # includes -0.0
    r = m.sel(m.b.and_(x_neg, y_odd), m.neg(mag), mag)
    bad = m.b.and_(m.b.and_(m.cmp("<", x, zero), ax_ok), m.b.not_(y_int))
    r = m.sel(m.b.and_(bad, y_ok), m.k(float("nan")), r)
    r = _nan_argument(m, x, y, r)
    return m.sel(m.b.or_(m.cmp("==", y, zero), m.cmp("==", x, one)), one, r)


def _nan_argument(m: Em, x: ir.Value, y: ir.Value, r: ir.Value) -> ir.Value:
    """``r``, or a NaN argument itself (x when both are), as the one-argument functions here
    return theirs. Not x + y, C's usual answer: with two NaNs it gives the bits of whichever
    operand instruction selection and register allocation put first (x86 keeps the first),
    so the same IR gave pow(-nan, nan) = -nan called out of line on the CPU and +nan inlined
    in the emulated GPU kernel, depending on the vector width and the CPU."""
    return m.sel(m.isnan(x), x, m.sel(m.isnan(y), y, r))


def _pow(m: Em, x: ir.Value, y: ir.Value) -> ir.Value:
    if m.wide:
        return _pow64(m, x, y)
    # float32: the float64 algorithm, rounded once at the end, is correct to ~0.5 ULP
    d = Em(m.b, FORMATS["double"], m.width)
    r = _pow64(d, m.b.fpext(x, d.ty), m.b.fpext(y, d.ty), dd=False)
    return m.b.fptrunc(r, m.ty)


# -- integer powers ------------------------------------------------------------------------
# x ** n for a constant integer n (graph.Op.POWER_INT), unrolled for that n and inlined into
# the kernel. Left-to-right binary powering: one squaring per bit of |n| after the leading
# one, and a multiplication by the base for each further 1 bit (multiplying by the base, a
# single word, is cheaper than by another power). Squaring in the working precision loses
# about one rounding per step and the relative error doubles with each squaring (float64
# x**16 by four squarings: 11 ULP off measured, about 15 at worst), hence:
#   * float32 works in float64 and rounds once at the end. The float64 error, at most about
#     |n| * 2**-53, is far below float32's half ULP (2**-24), and float64's range holds every
#     intermediate whose float32 result is neither 0 nor inf;
#   * float64 works in double-word arithmetic (hi + lo, products made error-free by FMA) on
#     the mantissa m in [1, 2) of |x| = m * 2**k, which keeps every intermediate in range;
#     k*n goes into the exponent at the end by two exact power-of-two factors, so the result
#     rounds once (twice for subnormal results: the double word, then the scaling).
# The one exception is n = 3 (below): x*x*x in the working precision, within 2 ULP.
# Largest |n| computed this way (canon.POWER_INT_MAX may not exceed it): m**|n| and its
# reciprocal must be normal floats, m**|n| < 2**|n| and 1/m**|n| > 2**-|n|, so |n| <= 1022.
INT_POWER_MAX = 1022
# Beyond this |n| the float64 result's double word r (in [1, 2**|n|] or [2**-|n|, 1]) is
# too wide for the halving in Em.scale to keep its first factor exact; it is normalised to
# [1, 2) first (four more instructions).
_INT_POWER_HALVING_MAX = 484


def int_power(m: Em, x: ir.Value, n: int) -> ir.Value:
    """``x ** n`` for a float (or vector of floats) ``x`` and a constant integer ``n``, with
    NumPy's ``np.power`` special values: NaN for NaN (but ``x ** 0 == 1``), and the signs and
    infinities of C's pow for zeros and infinities; overflow to inf, underflow to zero."""
    if abs(n) > INT_POWER_MAX:
        raise ValueError(f"integer power {n}: |n| > {INT_POWER_MAX} takes the general pow")
    if n == 0:
        return m.k(1.0)  # pow(x, 0) == 1 even for NaN
    if n == 1:
        return x
    if n == 3:
        return _cube(m, x)
    if not m.wide:
        d = Em(m.b, FORMATS["double"], m.width)
        return m.b.fptrunc(_power_chain(d, m.b.fpext(x, d.ty), n), m.ty)
    if n in (-1, 2):  # one operation, correctly rounded
        return _power_chain(m, x, n)
    return _int_power64(m, x, n)


# x ** 3 is x*x*x in the working precision (float32 in float32, float64 in float64), as
# JAX and hand-written code compute it: the exact chains made GELU's x**3 cost several times
# x*x*x (docs/math.md, Integer powers), for an error below 2 ULP instead of half of one.
# Why it stays within 2 ULP, u = 2**-p (p = 24, 53), s = 2**(emin - p + 1) the smallest
# subnormal:
#   * normal results: each rounding to nearest is t (1 + d), |d| <= u / (1 + u), so
#     y = x**3 (1 + d1)(1 + d2) with |(1 + d1)(1 + d2) - 1| <= (2u + 3u**2) / (1 + u)**2
#     < 2u, and u |x**3| < ulp(x**3): |y - x**3| < 2 ulp, hence at most 2 floats from the
#     correctly rounded result (a rounding of x*x*x into the subnormal range errs by at most
#     s/2 <= u |x**3| here, so the bound holds there too). Measured: float32 1.2874 ULP at
#     most over every float in [1, 2) (whose mantissas are every normal result's), float64
#     1.2876 over 10**7 bases (docs/math.md): none was 2 floats from it;
#   * subnormal results (|x**3| < 2**emin): fl(x*x) errs by u/(1 + u) |x**2| when normal,
#     and the last rounding by s/2 at most, so |y - x**3| < u 2**emin + s/2 = s: under 1 ULP.
#     A subnormal or zero x*x means |x| < 2**(emin/2), so |x**3| and |fl(x*x) x| are below
#     2**(3 emin / 2) < s/2: both round to zero, y with x's sign (+0 * x), as np.power's;
#   * overflow: x*x overflows only when |x| > 1, where |x**3| > |x**2| overflows too
#     (inf * x = +-inf). The last product, though, can round to inf where x**3 rounds to the
#     largest float: threshold / (1 + 2u) < |x**3| < threshold (the overflow threshold
#     (2 - u) 2**emax). That window is 2u/3 wide in |x|, less than the spacing of floats (u
#     at least), so it holds at most one magnitude per format: _CUBE_OVERFLOW_EDGE. There
#     the inf is stepped down to the largest float (its bits minus one, the sign kept),
#     picked out by x*x: squares of neighbouring floats differ (tests/test_power.py checks
#     the neighbourhood). A compare and an integer addition cost float32 GELU about 4% on
#     AVX-512 (out-of-line tanh), |x|, a compare and a select about 8%;
#   * zeros, infinities and NaN by IEEE rules alone: (-0)(-0)(-0) = -0, (-inf)**3 = -inf,
#     NaN propagates (its payload and sign as the target's multiplication keeps them).
# Only n = 3: n = 4 by two squarings rounds three times (bound 3u, beyond 2 ULP), and so
# does x**-3 (1 / x**3), so they keep the exact chains. float16 and bfloat16 compute in
# float32: a bfloat16 x**3 (8-bit mantissa) is exact there unless subnormal, a float16 one
# rounds twice (float32, then the half): within half an ULP and 2**-14 of one.
# format -> (that magnitude, its square rounded); float64 has none
_CUBE_OVERFLOW_EDGE = {"float": (float.fromhex("0x1.965feap+42"), float.fromhex("0x1.428a3p+85"))}


def _cube(m: Em, x: ir.Value) -> ir.Value:
    """``x ** 3`` as ``x*x*x`` in the format of ``m``: see the comment above."""
    square = m.mul(x, x)
    y = m.mul(square, x)
    if str(m.f.ty) not in _CUBE_OVERFLOW_EDGE:
        return y
    # +-inf there, where x**3 rounds to +-largest: one less in the bits (-1 where true)
    edge = m.b.sext(m.cmp("==", square, m.k(_CUBE_OVERFLOW_EDGE[str(m.f.ty)][1])), m.ity)
    return m.from_bits(m.b.add(m.bits(y), edge))


def _power_chain(m: Em, x: ir.Value, n: int) -> ir.Value:
    """``x ** n`` by plain squarings and multiplications, then one division for n < 0.
    Zeros, infinities and NaN come out as pow's by IEEE arithmetic alone."""
    y = x
    for bit in bin(abs(n))[3:]:
        y = m.mul(y, y)
        if bit == "1":
            y = m.mul(y, x)
    return m.div(m.k(1.0), y) if n < 0 else y


def _dd_chain(m: Em, base: ir.Value, n: int) -> tuple[ir.Value, ir.Value]:
    """``base ** n`` (n >= 2) as a double word (hi, lo), not renormalised: relative error
    about |n| * 2**-104 (the lo words grow with the squarings, to about |n| ulp of hi)."""
    hi, lo = base, None
    for bit in bin(n)[3:]:
        if lo is None:
            hi, lo = m.two_prod(hi, hi)
        else:  # (hi + lo)**2, dropping lo**2
            p, e = m.two_prod(hi, hi)
            hi, lo = p, m.fma(m.add(hi, hi), lo, e)
        if bit == "1":  # (hi + lo) * base
            p, e = m.two_prod(hi, base)
            hi, lo = p, m.fma(lo, base, e)
    return hi, lo


def _dd_reciprocal(m: Em, hi: ir.Value, lo: ir.Value) -> ir.Value:
    """1 / (hi + lo), rounded once: q = 1/hi and one Newton step, whose residual
    1 - q*hi is exact by FMA."""
    q = m.div(m.k(1.0), hi)
    e = m.fma(m.neg(q), lo, m.fma(m.neg(q), hi, m.k(1.0)))
    return m.fma(q, e, q)


def _int_power64(m: Em, x: ir.Value, n: int) -> ir.Value:
    """float64 ``x ** n`` for |n| >= 2 (other than 2): see the comment above INT_POWER_MAX.

    Zeros and subnormals have k = -1023 and m = 1.f, infinities and NaN k = 1024: k*n then
    saturates the scaling to 0 or inf, which is the exact result for zeros, infinities and
    subnormals (|x|**|n| < 2**-2044 for |n| >= 2); NaN is put back at the end.
    """
    b, bits_n = m.b, abs(n)
    mant_mask = (1 << m.f.mant) - 1
    bits = m.bits(x)
    k = b.sub(b.lshr(b.and_(bits, m.i((1 << 63) - 1)), m.i(m.f.mant)), m.i(m.f.bias))
    base = m.from_bits(b.or_(b.and_(bits, m.i(mant_mask)), m.i(m.f.bias << m.f.mant)))
    hi, lo = _dd_chain(m, base, bits_n)
    # r in [1, 2**|n|] for n > 0, in [2**-|n|, 1] for n < 0 (one rounding either way)
    r = _dd_reciprocal(m, hi, lo) if n < 0 else m.add(hi, lo)
    s = b.mul(k, m.i(n))
    if bits_n > _INT_POWER_HALVING_MAX:
        # r = f * 2**e with f in [1, 2): scale f by 2**(s + e) instead
        r_bits = m.bits(r)
        s = b.add(s, b.sub(b.lshr(r_bits, m.i(m.f.mant)), m.i(m.f.bias)))
        r = m.from_bits(b.or_(b.and_(r_bits, m.i(mant_mask)), m.i(m.f.bias << m.f.mant)))
        low, high = -1078, 1024
    else:
        # beyond these, r * 2**s is below 2**-1076 (rounds to 0) or at least 2**1024 (inf)
        low, high = (-1076 - bits_n, 1024) if n > 0 else (-1076, 1024 + bits_n)
        low -= low % 2
    s = b.select(b.icmp_signed("<", s, m.i(low)), m.i(low), s)
    s = b.select(b.icmp_signed(">", s, m.i(high)), m.i(high), s)
    # r * 2**s as Em.scale computes it (the first factor exact, the second rounds once), but
    # floor(s / 2) by a logical shift of s - low >= 0 (low is even): AVX2 has no 64-bit
    # arithmetic shift, and LLVM's substitute took six instructions
    half = b.add(b.lshr(b.sub(s, m.i(low)), m.i(1)), m.i(low // 2))
    y = m.mul(m.mul(r, m.pow2(half)), m.pow2(b.sub(s, half)))
    if n % 2:
        y = m.copysign(y, x)
    return m.sel(m.isnan(x), x, y)


# -- cbrt, hypot ------------------------------------------------------------------------------
# cbrt(m) ~ P(m) on [1, 2], fitted as the tables above (Remez, relative error, weight
# 1/cbrt(m), basis m^0..m^4, coefficients rounded to float64 lowest order first): 2^-16.7.
# Only a first guess: one plain Newton step takes it to ~2^-33, one more with an FMA
# residual to ~2^-66, so the float64 result rounds once from a value far inside half an ULP
CBRT_P = (0.5069793925206802, 0.7181539317040019, -0.3006115904806954, 0.08609137943406044,
          -0.010603905049031722)
CBRT2 = (0.7937005259840998, 1.0, 1.2599210498948732)  # 2^(r/3), r = -1, 0, 1


def _cbrt64(m: Em, x: ir.Value) -> ir.Value:
    """cbrt(x) in float64: |x| = 2^(3q + r) * mant, r in {-1, 0, 1}; a polynomial guess for
    cbrt(mant) times 2^(r/3), two Newton steps on t^3 = 2^r mant, then 2^q (exact)."""
    b = m.b
    a = m.abs(x)
    # subnormals: scale by 2^54 (a multiple of 3, undone as 2^-18 in the result)
    tiny = m.cmp("<", a, m.k(2.0 ** -1022))
    a = m.sel(tiny, m.mul(a, m.k(2.0 ** 54)), a)
    bits = m.bits(a)
    e = b.sub(b.lshr(bits, m.i(52)), m.i(1023))
    mant = m.from_bits(b.or_(b.and_(bits, m.i((1 << 52) - 1)), m.i(1023 << 52)))  # [1, 2)
    # q = round(e / 3): e/3 is never within 1/6 of a half-integer, so 1/3 rounded is fine
    _, q = m.round_int(m.int_to_float(e), 1.0 / 3.0)
    r = b.sub(e, b.mul(q, m.i(3)))  # -1, 0 or 1
    y = m.mul(mant, m.pow2(r))  # exact: the value whose cube root is wanted, in [1/2, 4)
    is_lo, is_hi = b.icmp_signed("<", r, m.i(0)), b.icmp_signed(">", r, m.i(0))
    c = m.sel(is_lo, m.k(CBRT2[0]), m.sel(is_hi, m.k(CBRT2[2]), m.k(1.0)))
    t = m.mul(m.poly(mant, CBRT_P), c)  # ~2^-16.7 relative
    # Newton: t - (t^3 - y) / (3 t^2); the first in plain arithmetic (~2^-33)
    t2 = m.mul(t, t)
    t = m.sub(t, m.div(m.fma(t2, t, m.neg(y)), m.mul(m.k(3.0), t2)))
    # the second with the residual t^3 - y nearly exact: t*t as a double word, the product
    # by t and the subtraction of y in one FMA (the result is ~2^-33 y: its rounding error
    # is ~2^-86 y)
    h, hl = m.two_prod(t, t)
    res = m.fma(hl, t, m.fma(h, t, m.neg(y)))
    t = m.sub(t, m.div(res, m.mul(m.k(3.0), h)))
    qs = b.sub(q, b.select(tiny, m.i(18), m.i(0)))
    out = m.copysign(m.mul(t, m.pow2(qs)), x)
    # zeros, infinities and NaN are their own cube roots
    special = b.or_(m.cmp("==", x, m.k(0.0)), m.isnan(m.sub(x, x)))
    return m.sel(special, x, out)


def _cbrt(m: Em, x: ir.Value) -> ir.Value:
    if m.wide:
        return _cbrt64(m, x)
    # float32: the float64 result (within ~0.5 ULP of float64) rounded once more
    d = Em(m.b, FORMATS["double"], m.width)
    return m.b.fptrunc(_cbrt64(d, m.b.fpext(x, d.ty)), m.ty)


def _hypot64(m: Em, x: ir.Value, y: ir.Value) -> ir.Value:
    """sqrt(x^2 + y^2) in float64 without overflow or underflow: both scaled by 2^-e (e the
    larger one's exponent), the sum of squares as a double word (FMA), its square root
    corrected once, then 2^e (exact unless the result overflows)."""
    b = m.b
    ax, ay = m.abs(x), m.abs(y)
    big = m.sel(m.cmp(">", ax, ay), ax, ay)
    small = m.sel(m.cmp(">", ax, ay), ay, ax)
    e = b.sub(b.lshr(m.bits(big), m.i(52)), m.i(1023))
    # keep 2^-e and 2^e normal: big * 2^-e then lies in [2^-52, 4)
    e = b.select(b.icmp_signed("<", e, m.i(-1022)), m.i(-1022), e)
    e = b.select(b.icmp_signed(">", e, m.i(1022)), m.i(1022), e)
    down = m.pow2(b.sub(m.i(0), e))
    u, v = m.mul(big, down), m.mul(small, down)  # exact, or v negligible beside u
    uh, ul = m.two_prod(u, u)
    vh, vl = m.two_prod(v, v)
    sh, sl = m.fast_two_sum(uh, vh)
    sl = m.add(sl, m.add(ul, vl))
    # sqrt(sh + sl) = r + (sh - r^2 + sl) / (2r), the residual sh - r^2 exact by FMA
    r = m.intrinsic("sqrt", sh)
    corr = m.div(m.add(m.fma(m.neg(r), r, sh), sl), m.add(r, r))
    out = m.mul(m.add(r, corr), m.pow2(e))
    out = m.sel(m.cmp("==", big, m.k(0.0)), m.k(0.0), out)
    return _hypot_specials(m, x, y, ax, ay, out)


def _hypot_specials(m: Em, x: ir.Value, y: ir.Value, ax: ir.Value, ay: ir.Value,
                    out: ir.Value) -> ir.Value:
    """C99 (and NumPy): an infinite argument gives +inf even with a NaN; else NaN passes."""
    inf = m.k(float("inf"))
    out = _nan_argument(m, x, y, out)
    return m.sel(m.b.or_(m.cmp("==", ax, inf), m.cmp("==", ay, inf)), inf, out)


def _hypot(m: Em, x: ir.Value, y: ir.Value) -> ir.Value:
    if m.wide:
        return _hypot64(m, x, y)
    # float32: in float64 the squares are exact and cannot overflow or underflow; the sum
    # and the square root round once each, far below float32's half ULP (~0.5 ULP total)
    d = Em(m.b, FORMATS["double"], m.width)
    xd, yd = m.b.fpext(x, d.ty), m.b.fpext(y, d.ty)
    s = d.intrinsic("sqrt", d.fma(xd, xd, d.mul(yd, yd)))
    out = m.b.fptrunc(s, m.ty)
    return _hypot_specials(m, x, y, m.abs(x), m.abs(y), out)
