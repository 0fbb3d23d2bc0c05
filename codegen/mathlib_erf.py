"""erf and erfc for :mod:`mathlib`, branch-free and type generic like the rest of the library
(no libm: only arithmetic, ``llvm.fma``, ``llvm.fabs``, ``llvm.copysign`` and exp's core).

* ``|x| < 3/4``: ``erf(x) = x + x R(x^2)`` (``fma``, so tiny and subnormal arguments give
  ``2x/sqrt(pi)`` rounded once, ``-0.0`` stays ``-0.0``); ``erfc(x) = (1 - x) - x R(x^2)``
  with ``1 - x`` exact (two-sum), so no cancellation is left but the last addition.
* ``|x| >= 3/4``: ``erfc(a) = exp(-a^2) v F(v)``, ``a = |x|``, ``v = 1/(a + 3)``: ``F`` is
  ``(a + 3) erfcx(a)``, smooth in ``v`` (it tends to ``1/sqrt(pi)``), one polynomial per
  piece of ``v``'s range picked by ``select`` (float64: four pieces, float32: two). F
  varies by a fifth across a piece, so its last Horner step, ``F(c) + w q(w)``, and the
  product ``v F`` are double words, ``v``'s rounding error (from the exact residual
  ``1 - v (a + 3)``) included. ``a^2`` is split exactly (``sq + sq_lo`` by FMA) and passed
  to exp's core as a double word, so the large exponent loses nothing (the trap of erfc for
  large ``a``); the pieces meet in one sum that rounds once, then ``2^n`` (exact, or one
  rounding into the subnormal range where erfc underflows).
  ``erf = 1 - erfc(a)`` (at most ``erfc(3/4) = 0.289``: no cancellation) with ``x``'s sign;
  ``erfc(x) = 2 - erfc(a)`` for negative ``x``.
* float32 runs the same code in float64 with shorter tables and rounds once at the end.

Special values: NaN passes; ``erf(+-inf) = +-1``, ``erfc(inf) = 0``, ``erfc(-inf) = 2``
(``a`` is clamped before ``a^2``, so no inf - inf and no NaN appear on the way).

Tables: fitted for this module with the discrete Remez exchange of ``docs/math.md`` (mpmath,
50 digits, 1,200 Chebyshev points, coefficients rounded to float64 one at a time, lowest
order first, the rest refitted), error checked on 3,000 to 12,000 points of each interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from llvmlite import ir

from .mathlib_core import FORMATS, Em
from .mathlib_exp import _exp_core

ERF_SPLIT = 0.75
# erf(x) = x + x R(z), z = x^2 <= 0.5625 * 1.0001, R(z) = erf(x)/x - 1, weight x/erf(x)
# (relative error of erf): 2^-56.3 (float64, 11 terms: the rounding of R(0) = 2/sqrt(pi) - 1
# is most of it), 2^-29.4 (float32 results, 6 terms evaluated in float64)
ERF_R = (
    (0.1283791670955126, -0.3761263890318417, 0.1128379167097835, -0.02686617065013224,
     0.005223977679795612, -0.0008548330373329351, 0.00012055455516781984,
     -1.4928276461735247e-05, 1.6491392095710635e-06, -1.644073040672898e-07,
     1.322905678329509e-08),
    (0.1283791654954945, -0.3761261874698118, 0.11283376415502747, -0.026834615648429382,
     0.005114325363774662, -0.0006749355006586531),
)
ERFC_SHIFT = 3.0  # v = 1 / (a + 3): the fewest terms of the shifts tried (1.5, 2, 3, 4)
# Beyond these erfc(a) rounds to 0 (float64: below 2^-1075 from a = 27.226; float32: below
# 2^-150 from 10.128); a is clamped to them, inside the fitted range of v
ERFC_MAX = (27.3, 10.2)
# F(v) = (a + 3) erfcx(a) = erfc(a) exp(a^2) / v on equal pieces of v in [1/(A + 3), 1/3.75]
# (A = 27.5 for float64, 10.3 for float32), each widened by a thousandth, in w = v - c with
# c the piece's centre (exact: v is within a factor 2 of c); a piece is chosen by v > BOUNDS[k]
ERFC_BOUNDS = (
    (0.0912568306010929, 0.14972677595628414, 0.2081967213114754),
    (0.17092731829573934,),
)
ERFC_CENTRES = (
    (0.062021857923497264, 0.12049180327868853, 0.17896174863387976, 0.23743169398907105),
    (0.12305764411027569, 0.21879699248120302),
)
# float64: F(c) as a double word (its high part first, the low part in ERFC_P0_LO), then
# q(w) = (F(c + w) - F(c))/w, 12 terms, fitted with weight |w|/F (the relative error of F):
# 2^-58.0, 2^-58.9, 2^-57.3, 2^-56.6 on the four pieces. float32 results (in float64): one
# polynomial for F per piece, 8 terms: 2^-29.2, 2^-31.0.
ERFC_P = (
    ((0.6911683045261164, 2.469139684295072, 8.062054041181678, 23.630425149559784,
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
      -35907.69380761036)),
    ((0.8782374445025299, 3.782136275650796, 14.06894170965712, 44.00310743901923,
      110.00417914180598, 194.13618321838072, 133.45998339192502, -256.8756704559783),
     (1.4187829473056315, 8.15767747151455, 34.54378751716732, 104.63704882476175,
      202.4415456815419, 138.4921364811391, -392.08837422597725, -938.3654105927392)),
)
ERFC_P0_LO = (
    (-2.2458751528920122e-17, -3.99206099212149e-17,
     -5.597431053185733e-17, 1.5403652713159523e-17),
    (0.0, 0.0),
)


def _pick(m: Em, above: Sequence[ir.Value], values: Sequence[float]) -> ir.Value:
    """values[k] where k is the number of true masks in ``above`` (increasing thresholds)."""
    out = m.k(values[0])
    for mask, value in zip(above, values[1:], strict=True):
        out = m.sel(mask, m.k(value), out)
    return out


def _small_r(m: Em, x: ir.Value, low: bool) -> ir.Value:
    """R(x^2) = erf(x)/x - 1 for |x| < ERF_SPLIT."""
    return m.poly(m.mul(x, x), ERF_R[1 if low else 0])


def _erfc_tail(m: Em, a: ir.Value, low: bool) -> ir.Value:
    """erfc(a) for ERF_SPLIT <= a <= ERFC_MAX (``a`` already clamped there)."""
    k = 1 if low else 0
    d, d_lo = m.two_sum(a, m.k(ERFC_SHIFT))
    v = m.div(m.k(1.0), d)
    # 1/(d + d_lo) = v (1 + e): the residual 1 - v d is exact (FMA)
    e = m.sub(m.fma(m.neg(v), d, m.k(1.0)), m.mul(v, d_lo))
    above = [m.cmp(">", v, m.k(bound)) for bound in ERFC_BOUNDS[k]]
    pieces = ERFC_P[k]
    # F(c + w), w = (v - c) + v e: the last Horner step in double words (F varies by a
    # fifth across a piece, so a rounded c0 + w q would cost half an ULP or more)
    w = m.sub(v, _pick(m, above, ERFC_CENTRES[k]))
    q = _pick(m, above, [c[-1] for c in pieces])
    for i in reversed(range(1, len(pieces[0]) - 1)):
        q = m.fma(q, w, _pick(m, above, [c[i] for c in pieces]))
    wq, wq_lo = m.two_prod(w, q)
    wq_lo = m.fma(m.mul(v, e), q, wq_lo)
    f, f_lo = m.fast_two_sum(_pick(m, above, [c[0] for c in pieces]), wq)
    f_lo = m.add(f_lo, m.add(wq_lo, _pick(m, above, ERFC_P0_LO[k])))
    # erfcx(a) = v F as a double word (g, g_lo), v's error e still outside
    g, g_lo = m.two_prod(v, f)
    g_lo = m.fma(v, f_lo, g_lo)
    # exp(-a^2) = 2^n (1 + hi + t), a^2 = sq + sq_lo exactly (the large exponent keeps its
    # low bits: the trap of erfc for large a)
    sq, sq_lo = m.two_prod(a, a)
    hi, t, n = _exp_core(m, m.neg(sq), m.neg(sq_lo), low=low)
    # (g + g_lo)(1 + hi + t)(1 + e) = g + g hi + [g (t + e (1 + s)) + g_lo (1 + s)]
    s = m.add(hi, t)
    small = m.fma(g, m.add(t, m.fma(e, s, e)), m.fma(g_lo, s, g_lo))
    # g + g hi exactly (|hi| < 0.35), so that only the last addition rounds
    gh, gh_lo = m.two_prod(g, hi)
    y, y_lo = m.fast_two_sum(g, gh)
    return m.scale(m.add(y, m.add(y_lo, m.add(gh_lo, small))), n)


def _parts(m: Em, x: ir.Value, low: bool) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(small, r, tail): |x| < ERF_SPLIT, R(x^2) and erfc(|x|) (clamped into its range)."""
    a = m.abs(x)
    small = m.cmp("<", a, m.k(ERF_SPLIT))
    # NaN clamps to ERF_SPLIT: the tail stays finite, NaN is put back by the caller
    tail = _erfc_tail(m, m.clamp(a, ERF_SPLIT, ERFC_MAX[1 if low else 0]), low)
    return small, _small_r(m, x, low), tail


def _erf_body(m: Em, x: ir.Value, low: bool = False) -> ir.Value:
    small, r, tail = _parts(m, x, low)
    y = m.sel(small, m.fma(x, r, x), m.copysign(m.sub(m.k(1.0), tail), x))
    return m.sel(m.isnan(x), x, y)


def _erfc_body(m: Em, x: ir.Value, low: bool = False) -> ir.Value:
    small, r, tail = _parts(m, x, low)
    h, h_lo = m.two_sum(m.k(1.0), m.neg(x))
    near = m.add(h, m.fma(m.neg(x), r, h_lo))
    far = m.sel(m.cmp("<", x, m.k(0.0)), m.sub(m.k(2.0), tail), tail)
    y = m.sel(small, near, far)
    return m.sel(m.isnan(x), x, y)


def _in_format(body: Callable[..., ir.Value]) -> Callable[[Em, ir.Value], ir.Value]:
    """``body`` for float64; for float32 the same code in float64 with the float32 tables,
    rounded once to float32."""
    def emit(m: Em, x: ir.Value) -> ir.Value:
        if m.wide:
            return body(m, x)
        d = Em(m.b, FORMATS["double"], m.width)
        return m.b.fptrunc(body(d, m.b.fpext(x, d.ty), low=True), m.ty)
    return emit


_erf = _in_format(_erf_body)
_erfc = _in_format(_erfc_body)

# -- registration ----------------------------------------------------------------------------
Body = Callable[..., ir.Value]
# name -> (arguments, emitter), merged into mathlib.FUNCTIONS
FUNCTIONS: dict[str, tuple[int, Body]] = {"erf": (1, _erf), "erfc": (1, _erfc)}
# the C math names an emitter calls for these (for nvptx.MATHLIB_NAMES, as mathlib_inverse's)
C_NAMES = {"erf": "erf", "erfc": "erfc"}
