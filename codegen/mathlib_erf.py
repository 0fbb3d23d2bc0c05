"""erf and erfc for :mod:`mathlib`, branch-free and type generic like the rest of the library
(no libm: only arithmetic, ``llvm.fma``, ``llvm.fabs``, ``llvm.copysign`` and exp's core).

float64:

* ``|x| < 3/4``: ``erf(x) = x + x R(x^2)`` (``fma``, so tiny and subnormal arguments give
  ``2x/sqrt(pi)`` rounded once, ``-0.0`` stays ``-0.0``); ``erfc(x) = (1 - x) - x R(x^2)``
  with ``1 - x`` exact (two-sum), so no cancellation is left but the last addition.
* ``|x| >= 3/4``: ``erfc(a) = exp(-a^2) v F(v)``, ``a = |x|``, ``v = 1/(a + 3)``: ``F`` is
  ``(a + 3) erfcx(a)``, smooth in ``v`` (it tends to ``1/sqrt(pi)``), one polynomial per
  piece of ``v``'s range (four) picked by ``select``. F varies by a fifth across a piece,
  so its last Horner step, ``F(c) + w q(w)``, and the product ``v F`` are double words,
  ``v``'s rounding error (from the exact residual ``1 - v (a + 3)``) included. ``a^2`` is
  split exactly (``sq + sq_lo`` by FMA) and passed to exp's core as a double word, so the
  large exponent loses nothing (the trap of erfc for large ``a``); the pieces meet in one
  sum that rounds once, then ``2^n`` (exact, or one rounding into the subnormal range where
  erfc underflows). ``erf = 1 - erfc(a)`` (at most ``erfc(3/4) = 0.289``: no cancellation)
  with ``x``'s sign; ``erfc(x) = 2 - erfc(a)`` for negative ``x``.

float32 has its own code in float32 lanes (twice the lanes of float64, no conversions), the
same split and forms with one polynomial for F and fewer double words:

* ``|x| < 3/4``: as float64 (``R`` has 6 terms); ``1 - x`` split by fast two-sum.
* ``|x| >= 3/4``: ``v = 1/(a + 2.5)`` and ``F = (a + 2.5) erfcx(a) = e^L (1 + w Q(w))``,
  ``w = v - c`` (exact), ``L = ln F(c)``: ``L`` goes into exp's argument, so F's constant
  term is exactly 1 and ``w Q`` is the only part of F that rounds (``w Q0`` inside an FMA).
  ``v``'s rounding error counts up to 2.4 times over (erfc's elasticity in ``v``), so it is
  carried: ``a + 2.5`` is split exactly (``2.5`` lies on the sum's grid), the exact residual
  gives ``e`` with ``1/(a + 2.5) = v (1 + e)``, and ``e`` shifts ``w`` (``v e``) and joins
  exp's argument (the prefactor's ``1 + e``) with ``L`` and ``-a^2``'s low part.
  ``erfc(a) = 2^n vs (1 + w Q)(1 + s)`` with ``vs = v 2^-64`` (so that ``2^(n + 64)`` is one
  normal power of two down to the subnormal results) added last: ``vs + (vs s + p (1 + s))``,
  ``p = vs w Q``. erf needs erfc(a) only to about 2^-22 (its error shrinks by
  ``erfc(a)/erf(a) < 0.41``) and a up to 3.92 (where erf rounds to 1): ``a^2`` rounded, and
  ``g = vs (1 + w Q)`` then ``g (1 + s)`` by two FMAs.

Special values: NaN passes; ``erf(+-inf) = +-1``, ``erfc(inf) = 0``, ``erfc(-inf) = 2``
(``a`` is clamped before ``a^2``, so no inf - inf and no NaN appear on the way).

Tables: fitted for this module with the discrete Remez exchange of ``docs/math.md`` (mpmath,
50 digits (float32: 40), 1,200 (float32: 600) Chebyshev points, coefficients rounded to the
format one at a time, lowest order first, the rest refitted), error checked on 3,000 to
12,000 points of each interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

from .mathlib_core import Em
from .mathlib_exp import LN2_HI, LN2_LO, LOG2E, _exp_core

ERF_SPLIT = 0.75
ERFC_SHIFT = 3.0  # v = 1 / (a + 3): the fewest terms of the shifts tried (1.5, 2, 3, 4)

# -- float64 tables --------------------------------------------------------------------------
# erf(x) = x + x R(z), z = x^2 <= 0.5625 * 1.0001, R(z) = erf(x)/x - 1, weight x/erf(x)
# (relative error of erf): 2^-56.3 (the rounding of R(0) = 2/sqrt(pi) - 1 is most of it)
ERF_R = (0.1283791670955126, -0.3761263890318417, 0.1128379167097835, -0.02686617065013224,
         0.005223977679795612, -0.0008548330373329351, 0.00012055455516781984,
         -1.4928276461735247e-05, 1.6491392095710635e-06, -1.644073040672898e-07,
         1.322905678329509e-08)
# Beyond this erfc(a) rounds to 0 (below 2^-1075 from a = 27.226); a is clamped to it,
# inside the fitted range of v
ERFC_MAX = 27.3
# F(v) = (a + 3) erfcx(a) = erfc(a) exp(a^2) / v on four equal pieces of v in
# [1/30.5, 1/3.75], each widened by a thousandth, in w = v - c with c the piece's centre
# (exact: v is within a factor 2 of c); a piece is chosen by v > ERFC_BOUNDS[k]
ERFC_BOUNDS = (0.0912568306010929, 0.14972677595628414, 0.2081967213114754)
ERFC_CENTRES = (0.062021857923497264, 0.12049180327868853, 0.17896174863387976,
                0.23743169398907105)
# F(c) as a double word (its high part first, the low part in ERFC_P0_LO), then
# q(w) = (F(c + w) - F(c))/w, 12 terms, fitted with weight |w|/F (the relative error of F):
# 2^-58.0, 2^-58.9, 2^-57.3, 2^-56.6 on the four pieces
ERFC_P = (
    (0.6911683045261164, 2.469139684295072, 8.062054041181678, 23.630425149559784,
     60.387581509441134, 127.31806542203748, 192.58578385500644, 89.78079042912829,
     -541.5828546302557, -1780.767140683291, -1475.010469713676, 6649.939289179138,
     12545.15618074615),
    (0.8686249689101405, 3.710800810916389, 13.734548453306084, 42.88625174593315,
     107.51076503736907, 192.5476923810436, 146.82001684351832, -381.4571575398438,
     -1371.9910954508864, -587.8654192333678, 6162.645130649099, 10848.695188991802,
     -20848.756051321347),
    (1.1425156637044633, 5.8544519513991835, 23.866136227068946, 74.99190962889362,
     167.5473881999829, 201.65197215099906, -133.09868119788757, -923.3894881101061,
     -571.9151888529071, 3482.6701364462056, 4745.619268862709, -15578.06061740621,
     -55169.233710856126),
    (1.583496039605638, 9.55942809714397, 40.82343205292507, 120.15268645725217,
     213.07246215432906, 87.87547199280229, -501.36685461716064, -718.2697111597281,
     1395.6983890704803, 2921.823592133814, -5718.187111969146, -10111.012504662278,
     -35907.69380761036),
)
ERFC_P0_LO = (-2.2458751528920122e-17, -3.99206099212149e-17, -5.597431053185733e-17,
              1.5403652713159523e-17)

# -- float32 tables (every value a float32) --------------------------------------------------
# R(z) as above, 6 terms: 2^-29.2 (relative error of erf)
ERF_R32 = (0.12837916612625122, -0.3761261999607086, 0.11283379048109055,
           -0.026834335178136826, 0.005113156978040934, -0.0006737583316862583)
# erfc(a) < 2^-150 (rounds to 0) from a = 10.128: a is clamped here, inside v's range
ERFC_MAX32 = 10.2
# erf rounds to 1 from a = 3.92 (erfc(a) < 2^-25): erf's tail clamps a here
ERF_ONE32 = 4.0
# v = 1 / (a + 2.5): of the shifts tried (2, 2.5, 3, 3.5, 4) the most accurate with 9 terms
ERFC_SHIFT32 = 2.5
# F(c + w) = (a + 2.5) erfcx(a) = e^L (1 + w Q(w)), w = v - c, on v in [1/12.8, 1/3.25]
# widened by a thousandth, weight |w| / (1 + w Q) (the relative error of F): 2^-27.8.
# L = ln F(c) rounded to float32 (F(c) = e^L (1 - 2e-12)). c is on the grid of 2^-26, and
# |w| < 1/8, so w = v - c is exact.
ERFC_CENTRE32 = 0.1929086595773697
ERFC_LOG32 = 0.025730689987540245
ERFC_Q32 = (3.7673263549804688, 10.621065139770508, 20.360191345214844, 18.122343063354492,
            -22.395843505859375, -73.96296691894531, 17.03966522216797, 224.8035430908203)
# exp(r) = 1 + r + r^2 P(r) on r in [-ln2/2 + L, ln2/2 + L] widened by 1.0005 (exp's own
# float32 table is fitted on |r| <= ln2/2; L shifts r): relative error 2^-28.2
EXP_P32 = (0.5000000596046448, 0.1666652113199234, 0.041663363575935364, 0.008368187583982944,
           0.0014208160573616624)
# The tail is computed 2^-64 times too small (on v, exactly), so that the final
# 2^(n + 64) is one normal power of two for every n (n >= -151) and the one product that
# scales by it rounds once into the subnormal range
ERFC_SCALE32 = 64


def _pick(m: Em, above: Sequence[ir.Value], values: Sequence[float]) -> ir.Value:
    """values[k] where k is the number of true masks in ``above`` (increasing thresholds)."""
    out = m.k(values[0])
    for mask, value in zip(above, values[1:], strict=True):
        out = m.sel(mask, m.k(value), out)
    return out


# -- float64 ---------------------------------------------------------------------------------
def _erfc_tail(m: Em, a: ir.Value) -> ir.Value:
    """erfc(a) for ERF_SPLIT <= a <= ERFC_MAX (``a`` already clamped there)."""
    d, d_lo = m.two_sum(a, m.k(ERFC_SHIFT))
    v = m.div(m.k(1.0), d)
    # 1/(d + d_lo) = v (1 + e): the residual 1 - v d is exact (FMA)
    e = m.sub(m.fma(m.neg(v), d, m.k(1.0)), m.mul(v, d_lo))
    above = [m.cmp(">", v, m.k(bound)) for bound in ERFC_BOUNDS]
    # F(c + w), w = (v - c) + v e: the last Horner step in double words (F varies by a
    # fifth across a piece, so a rounded c0 + w q would cost half an ULP or more)
    w = m.sub(v, _pick(m, above, ERFC_CENTRES))
    q = _pick(m, above, [c[-1] for c in ERFC_P])
    for i in reversed(range(1, len(ERFC_P[0]) - 1)):
        q = m.fma(q, w, _pick(m, above, [c[i] for c in ERFC_P]))
    wq, wq_lo = m.two_prod(w, q)
    wq_lo = m.fma(m.mul(v, e), q, wq_lo)
    f, f_lo = m.fast_two_sum(_pick(m, above, [c[0] for c in ERFC_P]), wq)
    f_lo = m.add(f_lo, m.add(wq_lo, _pick(m, above, ERFC_P0_LO)))
    # erfcx(a) = v F as a double word (g, g_lo), v's error e still outside
    g, g_lo = m.two_prod(v, f)
    g_lo = m.fma(v, f_lo, g_lo)
    # exp(-a^2) = 2^n (1 + hi + t), a^2 = sq + sq_lo exactly (the large exponent keeps its
    # low bits: the trap of erfc for large a)
    sq, sq_lo = m.two_prod(a, a)
    hi, t, n = _exp_core(m, m.neg(sq), m.neg(sq_lo))
    # (g + g_lo)(1 + hi + t)(1 + e) = g + g hi + [g (t + e (1 + s)) + g_lo (1 + s)]
    s = m.add(hi, t)
    small = m.fma(g, m.add(t, m.fma(e, s, e)), m.fma(g_lo, s, g_lo))
    # g + g hi exactly (|hi| < 0.35), so that only the last addition rounds
    gh, gh_lo = m.two_prod(g, hi)
    y, y_lo = m.fast_two_sum(g, gh)
    return m.scale(m.add(y, m.add(y_lo, m.add(gh_lo, small))), n)


# -- float32 ---------------------------------------------------------------------------------
def _exp_core32(m: Em, x: ir.Value, lo: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(hi, t, n) with exp(x + lo) = 2**n (1 + hi + t) in float32: exp's core with its
    ``n ln2_lo`` and ``lo`` in one FMA."""
    n, ni = m.round_int(x, LOG2E[1])
    # exact: where n is not 0, |x| > ln2/2 puts x on the grid of 2^-25, n ln2_hi is on that
    # of 2^-24 and |hi| < 1/2
    hi = m.fma(m.neg(n), m.k(LN2_HI), x)
    r_lo = m.fma(m.neg(n), m.k(LN2_LO), lo)
    r = m.add(hi, r_lo)
    t = m.fma(m.mul(r, r), m.poly(r, EXP_P32), r_lo)
    return hi, t, ni


def _erfc_tail32(m: Em, a: ir.Value, precise: bool) -> ir.Value:
    """erfc(a) in float32 for ERF_SPLIT <= a <= ERFC_MAX32 (``a`` already clamped there);
    with ``precise`` False (erf's), to about 2^-22 and for a <= ERF_ONE32 only."""
    d = m.add(a, m.k(ERFC_SHIFT32))
    # d's rounding error, exactly: 2.5 is on the grid of d's ULP, so d - 2.5 and a - (d - 2.5)
    # are exact (fast two-sum, valid here though a may exceed 2.5)
    d_lo = m.sub(a, m.sub(d, m.k(ERFC_SHIFT32)))
    v = m.div(m.k(1.0), d)
    # 1/(d + d_lo) = v (1 + e) to first order: the residual 1 - v d is exact (FMA). v's
    # error counts 1.2 to 2.4 times over in erfc (its elasticity in v), so it is carried
    e = m.fma(m.neg(v), d_lo, m.fma(m.neg(v), d, m.k(1.0)))
    # F at v (1 + e): w = (v - c) + v e, one rounding
    w = m.fma(v, e, m.sub(v, m.k(ERFC_CENTRE32)))
    # w Q(w) = w Q0 + w^2 Q1(w): Q0's term exact inside the FMA, so only the smaller
    # w^2 Q1 carries Q's rounding (Q = Q0 + w Q1 rounded would cost up to 0.7 ULP)
    wq = m.fma(w, m.k(ERFC_Q32[0]), m.mul(m.mul(w, w), m.poly(w, ERFC_Q32[1:])))
    vs = m.mul(v, m.k(2.0 ** -ERFC_SCALE32))  # exact
    # exp(-a^2 + L + e) = 2^n (1 + s): L and e (the prefactor's 1 + e) join the low part
    # of exp's argument; a^2 = sq + sq_lo exactly, so the large exponent loses nothing
    lo = m.add(e, m.k(ERFC_LOG32))
    if precise:
        sq, sq_lo = m.two_prod(a, a)
        lo = m.sub(lo, sq_lo)
    else:
        sq = m.mul(a, a)
    hi, t, n = _exp_core32(m, m.neg(sq), lo)
    s = m.add(hi, t)
    if precise:
        # vs (1 + w Q)(1 + s) = vs + (vs s + p (1 + s)), p = vs w Q: vs is exact and added
        # last, so the roundings before it count at most |w Q| < 0.61 and |s| < 0.46 of
        # it (vs (1 + w Q) rounded first, then times 1 + s: 2.03 ULP at most, not 1.85)
        p = m.mul(vs, wq)
        y = m.add(vs, m.fma(vs, s, m.fma(p, s, p)))
    else:
        g = m.fma(vs, wq, vs)
        y = m.fma(g, s, g)
    return m.mul(y, m.pow2(m.b.add(n, m.i(ERFC_SCALE32))))


def _erf32(m: Em, x: ir.Value) -> ir.Value:
    a = m.abs(x)
    small = m.fma(x, m.poly(m.mul(x, x), ERF_R32), x)
    # NaN clamps to ERF_SPLIT and is put back at the end
    tail = _erfc_tail32(m, m.clamp(a, ERF_SPLIT, ERF_ONE32), precise=False)
    y = m.sel(m.cmp("<", a, m.k(ERF_SPLIT)), small, m.copysign(m.sub(m.k(1.0), tail), x))
    return m.sel(m.isnan(x), x, y)


def _erfc32(m: Em, x: ir.Value) -> ir.Value:
    a = m.abs(x)
    r = m.poly(m.mul(x, x), ERF_R32)
    # NaN clamps to ERF_SPLIT and is put back at the end
    tail = _erfc_tail32(m, m.clamp(a, ERF_SPLIT, ERFC_MAX32), precise=True)
    # 1 - x exactly as h + h_lo (fast two-sum, |x| < 1 where it is used: 1 - h is exact)
    h = m.sub(m.k(1.0), x)
    h_lo = m.sub(m.sub(m.k(1.0), h), x)
    near = m.add(h, m.fma(m.neg(x), r, h_lo))
    far = m.sel(m.cmp("<", x, m.k(0.0)), m.sub(m.k(2.0), tail), tail)
    y = m.sel(m.cmp("<", a, m.k(ERF_SPLIT)), near, far)
    return m.sel(m.isnan(x), x, y)


# -- float64 and float32 --------------------------------------------------------------------
def _erf(m: Em, x: ir.Value) -> ir.Value:
    if not m.wide:
        return _erf32(m, x)
    a = m.abs(x)
    r = m.poly(m.mul(x, x), ERF_R)
    # NaN clamps to ERF_SPLIT: the tail stays finite, NaN is put back at the end
    tail = _erfc_tail(m, m.clamp(a, ERF_SPLIT, ERFC_MAX))
    y = m.sel(m.cmp("<", a, m.k(ERF_SPLIT)), m.fma(x, r, x),
              m.copysign(m.sub(m.k(1.0), tail), x))
    return m.sel(m.isnan(x), x, y)


def _erfc(m: Em, x: ir.Value) -> ir.Value:
    if not m.wide:
        return _erfc32(m, x)
    a = m.abs(x)
    r = m.poly(m.mul(x, x), ERF_R)
    tail = _erfc_tail(m, m.clamp(a, ERF_SPLIT, ERFC_MAX))
    # 1 - x exactly as h + h_lo, so no cancellation is left but the last addition
    h, h_lo = m.two_sum(m.k(1.0), m.neg(x))
    near = m.add(h, m.fma(m.neg(x), r, h_lo))
    far = m.sel(m.cmp("<", x, m.k(0.0)), m.sub(m.k(2.0), tail), tail)
    y = m.sel(m.cmp("<", a, m.k(ERF_SPLIT)), near, far)
    return m.sel(m.isnan(x), x, y)


# -- registration ----------------------------------------------------------------------------
Body = Callable[..., ir.Value]
# name -> (arguments, emitter), merged into mathlib.FUNCTIONS
FUNCTIONS: dict[str, tuple[int, Body]] = {"erf": (1, _erf), "erfc": (1, _erfc)}
# the C math names an emitter calls for these (for nvptx.MATHLIB_NAMES, as mathlib_inverse's)
C_NAMES = {"erf": "erf", "erfc": "erfc"}
