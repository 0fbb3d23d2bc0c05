"""Accuracy of lazyarr's vectorised math (``codegen/mathlib.py``) in ULP.

Each function is evaluated through the public API (``la.exp(la.asarray(x)).eval()``) on random
inputs over its domain, log-uniform magnitudes, and edge cases (range-reduction boundaries,
multiples of pi/2, overflow and underflow thresholds, subnormals). The error is
``|result - exact| / ulp(exact)``, the exact value taken from a reference with at least 10 more
bits than the format: NumPy's ``long double`` functions (glibc's 64-bit-mantissa ``expl``,
``sinl``, ...) for float64, float64 NumPy for float32. The worst points of every function are
then recomputed with mpmath at 200 bits, so each reported maximum is an mpmath measurement.
Results that must be special (NaN, +-inf, +-0) are compared with NumPy exactly.

    python benchmarks/ulp.py                 # quick: 200,000 random points per function
    python benchmarks/ulp.py --n 10000000    # millions
    python benchmarks/ulp.py --functions sin,cos --dtypes float64
    python benchmarks/ulp.py --exhaustive --dtypes float32   # every float32 input
    python benchmarks/ulp.py --speed --n 10000000            # speed against NumPy
    python benchmarks/ulp.py --speed-erf --n 10000000        # erf, erfc against scipy
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import mpmath
import numpy as np

import lazyarr as la

LD = np.longdouble
Inputs = tuple[np.ndarray, ...]
Generator = Callable[[np.random.Generator, int, type], Inputs]


# -- input generators ------------------------------------------------------------------------
def uniform(rng: np.random.Generator, n: int, lo: float, hi: float, dt: type) -> np.ndarray:
    return rng.uniform(lo, hi, n).astype(dt)


def log_uniform(rng: np.random.Generator, n: int, lo: float, hi: float, dt: type,
                signed: bool = True) -> np.ndarray:
    """Magnitudes 2**u with u uniform in [lo, hi], random signs when ``signed``."""
    x = np.exp2(rng.uniform(lo, hi, n)).astype(dt)
    return x * rng.choice([-1, 1], n).astype(dt) if signed else x


def around(values: list[float] | np.ndarray, dt: type, ulps: int = 4) -> np.ndarray:
    """Each value and its neighbours up to ``ulps`` representable steps either side."""
    v = np.asarray(values, dtype=dt)
    v = v[np.isfinite(v)]
    ity = np.int32 if dt == np.float32 else np.int64
    steps = np.arange(-ulps, ulps + 1, dtype=ity)
    # consecutive magnitudes have consecutive bit patterns; the sign is put back after
    mag = np.abs(v).view(ity)[:, None] + steps[None, :]
    with np.errstate(invalid="ignore"):
        out = np.maximum(mag, 0).view(dt) * np.sign(v)[:, None].astype(dt)
    return out.ravel()


def near_multiples(rng: np.random.Generator, n: int, period: LD, limit: float, dt: type
                   ) -> np.ndarray:
    """Representable numbers nearest to k * period, k log-uniform up to limit / period."""
    k = np.floor(np.exp2(rng.uniform(0, math.log2(limit / float(period)), n)))
    x = (k.astype(LD) * period).astype(dt)
    return around(np.concatenate([x, -x]), dt, 2)


def hard_trig(dt: type, max_exp: int) -> np.ndarray:
    """Numbers in each binade [2**e, 2**(e+1)), e < max_exp, closest to multiples of pi/2.

    With x = M * 2**(e-p+1) (M a p-bit integer), x*2/pi is near an integer when M*alpha is,
    alpha = frac(2/pi * 2**(e-p+1)); the denominators q of alpha's continued-fraction
    convergents (and their multiples landing in the p-bit range) give the smallest such
    distances: the hardest cases for a range reduction.
    """
    p = np.finfo(dt).nmant + 1
    out: list[float] = []
    with mpmath.workprec(4 * max_exp + 300):
        for e in range(0, max_exp):
            alpha = mpmath.frac(2 / mpmath.pi * mpmath.ldexp(1, e - p + 1))
            h0, h1, k0, k1 = 0, 1, 1, 0  # convergent numerators h, denominators k
            rest = alpha
            while True:
                a = int(mpmath.floor(rest))
                h0, h1, k0, k1 = h1, a * h1 + h0, k1, a * k1 + k0
                if k1 >= 2 ** p or rest == a:
                    break
                rest = 1 / (rest - a)
                if k1 == 0:
                    continue
                first = -(-(2 ** (p - 1)) // k1)  # smallest multiple in the p-bit range
                for t in range(first, first + 3):
                    if k1 * t < 2 ** p:
                        out.append(float(mpmath.ldexp(k1 * t, e - p + 1)))
    x = np.array(out, dtype=dt)
    return around(np.concatenate([x, -x]), dt, 1)


def specials(dt: type) -> np.ndarray:
    info = np.finfo(dt)
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, info.tiny, -info.tiny,
                     info.smallest_subnormal, -info.smallest_subnormal, info.max, -info.max],
                    dtype=dt)


def _big(dt: type) -> float:
    return 1023.0 if dt == np.float64 else 127.0


def _small(dt: type) -> float:
    return -1074.0 if dt == np.float64 else -149.0


def _pick(dt: type, f64: float, f32: float) -> float:
    return f64 if dt == np.float64 else f32


def gen_exp(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    hi, lo = _pick(dt, 709.8, 88.8), _pick(dt, -745.2, -104.0)
    edges = [_pick(dt, 709.782712893384, 88.72283935546875),  # overflow
             _pick(dt, -708.3964185322641, -87.3365478515625),  # subnormal results begin
             _pick(dt, -745.1332191019411, -103.97207708), 0.3465735902799726, -0.34657359]
    return (np.concatenate([uniform(rng, n // 2, lo, hi, dt),
                            log_uniform(rng, n // 2, _small(dt), 10, dt),
                            around(edges, dt, 64), specials(dt)]),)


def gen_expm1(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    hi = _pick(dt, 709.8, 88.8)
    edges = [_pick(dt, 709.782712893384, 88.72283935546875), 0.34657359, -0.34657359,
             _pick(dt, 53.5 * math.log(2), 24.5 * math.log(2)), -40.0, -18.0, 1e-10]
    return (np.concatenate([uniform(rng, n // 4, -45, hi, dt), uniform(rng, n // 4, -1, 1, dt),
                            log_uniform(rng, n // 2, _small(dt), 10, dt),
                            around(edges, dt, 64), specials(dt)]),)


def gen_log(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    edges = [1.0, 0.7071067811865476, 1.4142135623730951, 2.0, 0.5,
             float(np.finfo(dt).tiny), float(np.finfo(dt).max)]
    return (np.concatenate([log_uniform(rng, n // 2, _small(dt), _big(dt) + 1, dt, False),
                            uniform(rng, n // 2, 0.5, 2.0, dt),
                            around(edges, dt, 256), specials(dt)]),)


def gen_log1p(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    neg = -log_uniform(rng, n // 4, -60, -1e-9, dt, False)  # in (-1, 0)
    edges = [-1.0, 0.41421356237309503, -0.2928932188134524, 1.0, 1e-10, -1e-10]
    return (np.concatenate([uniform(rng, n // 4, -1, 1, dt), neg,
                            log_uniform(rng, n // 2, _small(dt), _big(dt) + 1, dt, False),
                            around(edges, dt, 64), specials(dt)]),)


TRIG_LIMIT = 2.0 ** 40  # codegen/mathlib.py: beyond it the CPU falls back to libm per lane


_HARD: dict[type, np.ndarray] = {}


def _hard_trig_cached(dt: type) -> np.ndarray:
    if dt not in _HARD:
        _HARD[dt] = hard_trig(dt, 40 if dt == np.float64 else 17)
    return _HARD[dt]


def gen_trig(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    pio2 = LD(mpmath.mpf(mpmath.pi) / 2)
    return (np.concatenate([uniform(rng, n // 4, -10, 10, dt),
                            uniform(rng, n // 8, -1e5, 1e5, dt),
                            log_uniform(rng, n // 4, _small(dt), 40, dt),
                            log_uniform(rng, n // 64, 40, _big(dt), dt),  # libm lanes
                            near_multiples(rng, n // 16, pio2, TRIG_LIMIT, dt),
                            _hard_trig_cached(dt),
                            around([0.7853981633974483, 2.356194490192345], dt, 64),
                            specials(dt)]),)


def gen_tanh(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    edges = [0.5493061443340549, -0.5493061443340549, _pick(dt, 19.06, 9.01), 20.0, 9.5]
    return (np.concatenate([uniform(rng, n // 2, -10, 10, dt),
                            log_uniform(rng, n // 2, _small(dt), 6, dt),
                            around(edges, dt, 128), specials(dt)]),)


def gen_hyperbolic(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    hi = _pick(dt, 710.6, 89.5)
    edges = [_pick(dt, 710.4758600739439, 89.41598629223294), 1.0, -1.0]
    return (np.concatenate([uniform(rng, n // 2, -hi, hi, dt),
                            log_uniform(rng, n // 2, _small(dt), 10, dt),
                            around(edges, dt, 64), specials(dt)]),)


def gen_arctan(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    edges = [0.41421356237309503, 2.414213562373095, 1.0, -0.41421356237309503]
    return (np.concatenate([uniform(rng, n // 2, -5, 5, dt),
                            log_uniform(rng, n // 2, _small(dt), _big(dt) + 1, dt),
                            around(edges, dt, 64), specials(dt)]),)


def gen_pow(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    m = n // 6
    span = _pick(dt, 1080.0, 155.0)  # |y log2 x| up to a bit beyond overflow/underflow
    x1 = log_uniform(rng, m, _small(dt), _big(dt) + 1, dt, False)
    y1 = (rng.uniform(-span, span, m) / np.log2(x1.astype(np.float64))).astype(dt)
    x2 = uniform(rng, m, 0, 10, dt)
    y2 = uniform(rng, m, -10, 10, dt)
    x3 = (1 + rng.uniform(-1e-3, 1e-3, m)).astype(dt)  # near 1 with large exponents
    with np.errstate(divide="ignore"):  # x3 == 1 gives y3 == inf: pow(1, inf) is a case too
        y3 = (rng.uniform(-span, span, m) / np.log2(x3.astype(np.float64))).astype(dt)
    x4 = -log_uniform(rng, m, -20, 20, dt, False)  # negative bases, integer exponents
    y4 = rng.integers(-40, 40, m).astype(dt)
    x5 = rng.integers(0, 30, m).astype(dt)  # exact results
    y5 = rng.integers(0, 12, m).astype(dt)
    sv = specials(dt)
    with np.errstate(over="ignore"):
        sy_values = np.concatenate([sv, [2.0, 3.0, -3.0, 0.5, -0.5, 1e300]]).astype(dt)
    sx, sy = np.meshgrid(np.concatenate([sv, np.array([2.0, -2.0, 0.5, -0.5], dt)]), sy_values)
    xs = np.concatenate([x1, x2, x3, x4, x5, sx.ravel()])
    ys = np.concatenate([y1, y2, y3, y4, y5, sy.ravel()])
    return xs, ys


def gen_exp2(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    hi, lo = _big(dt) + 1.5, _small(dt) - 1.5
    edges = [_big(dt) + 1, _small(dt), _small(dt) - 1, _pick(dt, -1022.0, -126.0), 0.5, -0.5]
    ints = rng.integers(int(lo), int(hi), n // 16).astype(dt)  # exact results
    return (np.concatenate([uniform(rng, n // 2, lo, hi, dt), uniform(rng, n // 8, -1, 1, dt),
                            log_uniform(rng, n // 4, _small(dt), 10, dt), ints,
                            around(edges, dt, 64), specials(dt)]),)


def gen_log2(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    powers = np.ldexp(1.0, rng.integers(int(_small(dt)), int(_big(dt)) + 1, n // 16))
    return (np.concatenate([gen_log(rng, n - n // 16, dt)[0], powers.astype(dt)]),)


def gen_log10(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    tens = 10.0 ** np.arange(0, 23 if dt == np.float64 else 11)  # exact in the format
    return (np.concatenate([gen_log(rng, n, dt)[0], tens.astype(dt), (1 / tens).astype(dt),
                            around(tens, dt, 8)]),)


def gen_cbrt(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    lim = 2 ** 17 if dt == np.float64 else 2 ** 8  # exact cubes: c**3 fits the mantissa
    cubes = rng.integers(-lim, lim, n // 16) ** 3
    return (np.concatenate([log_uniform(rng, n // 2, _small(dt), _big(dt) + 1, dt),
                            uniform(rng, n // 4, -8, 8, dt), cubes.astype(dt),
                            around([1.0, 2.0, 4.0, 8.0, float(np.finfo(dt).tiny)], dt, 64),
                            specials(dt)]),)


def gen_hypot(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    m = n // 4
    x1 = log_uniform(rng, m, _small(dt), _big(dt) + 1, dt)  # whole range, any ratio
    y1 = log_uniform(rng, m, _small(dt), _big(dt) + 1, dt)
    x2 = log_uniform(rng, m, _small(dt), _big(dt) + 1, dt)  # close magnitudes
    with np.errstate(over="ignore"):
        y2 = (x2 * np.exp2(rng.uniform(-30, 30, m))).astype(dt)
    x3 = log_uniform(rng, m, _big(dt) - 2, _big(dt) + 1, dt)  # overflow threshold
    y3 = log_uniform(rng, m, _big(dt) - 2, _big(dt) + 1, dt)
    x4 = uniform(rng, m, -10, 10, dt)
    y4 = uniform(rng, m, -10, 10, dt)
    trip = np.array([[3, 4], [5, 12], [8, 15], [20, 21]], np.float64)  # exact results
    scales = np.ldexp(1.0, np.arange(int(_small(dt)), int(_big(dt)) - 4, 7))
    xt = (trip[:, None, 0] * scales[None, :]).ravel().astype(dt)
    yt = (trip[:, None, 1] * scales[None, :]).ravel().astype(dt)
    sx, sy = np.meshgrid(specials(dt), specials(dt))
    with np.errstate(over="ignore"):
        return (np.concatenate([x1, x2, x3, x4, xt, sx.ravel()]),
                np.concatenate([y1, y2, y3, y4, yt, sy.ravel()]))


def _mp_cbrt(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.sign(x) * mpmath.cbrt(abs(x))  # the real root (mpmath's is complex)


@dataclass(frozen=True)
class Function:
    name: str
    generate: Generator
    mp: Callable[..., mpmath.mpf]


FUNCTIONS = {f.name: f for f in [
    Function("exp", gen_exp, mpmath.exp), Function("expm1", gen_expm1, mpmath.expm1),
    Function("log", gen_log, mpmath.log), Function("log1p", gen_log1p, mpmath.log1p),
    Function("sin", gen_trig, mpmath.sin), Function("cos", gen_trig, mpmath.cos),
    Function("tan", gen_trig, mpmath.tan), Function("tanh", gen_tanh, mpmath.tanh),
    Function("sinh", gen_hyperbolic, mpmath.sinh), Function("cosh", gen_hyperbolic, mpmath.cosh),
    Function("arctan", gen_arctan, mpmath.atan), Function("power", gen_pow, mpmath.power),
    Function("exp2", gen_exp2, lambda x: mpmath.power(2, x)),
    Function("log2", gen_log2, lambda x: mpmath.log(x, 2)),
    Function("log10", gen_log10, mpmath.log10), Function("cbrt", gen_cbrt, _mp_cbrt),
    Function("hypot", gen_hypot, mpmath.hypot),
]}
BOUND = {"exp": 1, "log": 1, "sin": 1, "cos": 1, "tanh": 1,  # the rest: 4
         "exp2": 1, "log2": 1, "log10": 1, "cbrt": 1, "hypot": 1}


# -- inverse trigonometric and hyperbolic functions (codegen/mathlib_inverse.py) -------------
def _below_one(rng: np.random.Generator, n: int, dt: type) -> np.ndarray:
    """1 - d, d log-uniform from half an epsilon to 1/2 (rounded once, from float64)."""
    eps = float(np.finfo(dt).eps)
    return (1 - log_uniform(rng, n, math.log2(eps) - 1, -1, np.float64, False)).astype(dt)


def gen_unit(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    """arcsin, arccos, arctanh: [-1, 1], its ends, tiny arguments, a few outside."""
    near = _below_one(rng, n // 4, dt)
    return (np.concatenate([uniform(rng, n // 4, -1, 1, dt), near, -near,
                            log_uniform(rng, n // 4, _small(dt), 0, dt),
                            log_uniform(rng, n // 64, 0, _big(dt) + 1, dt),
                            around([0.5, -0.5, 1.0, -1.0, 2.0 ** -28, 2.0 ** -13], dt, 64),
                            specials(dt)]),)


def gen_arcsinh(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    return (np.concatenate([uniform(rng, n // 2, -5, 5, dt),
                            log_uniform(rng, n // 2, _small(dt), _big(dt) + 1, dt),
                            around([2.0 ** 28, 2.0 ** 12, 2.0 ** -28, 2.0 ** -13], dt, 64),
                            specials(dt)]),)


def gen_arccosh(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    eps = float(np.finfo(dt).eps)
    near = (1 + log_uniform(rng, n // 4, math.log2(eps) - 1, 3, np.float64, False)).astype(dt)
    return (np.concatenate([near, uniform(rng, n // 4, 1, 10, dt),
                            log_uniform(rng, n // 2, 0, _big(dt) + 1, dt, False),
                            log_uniform(rng, n // 64, _small(dt), 0, dt),  # below 1: NaN
                            around([1.0, 2.0, 2.0 ** 28, 2.0 ** 12], dt, 64), specials(dt)]),)


def gen_arctan2(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    m = n // 4
    lo, hi = _small(dt), _big(dt) + 1
    y1, x1 = (log_uniform(rng, m, lo, hi, dt) for _ in range(2))  # any magnitudes
    x2 = rng.standard_normal(m).astype(dt)
    y2 = rng.standard_normal(m).astype(dt)
    x3 = rng.standard_normal(m).astype(dt)  # ratios near the reduction's boundaries
    ratio = rng.choice([0.41421356237309503, 1.0, 2.414213562373095], m)
    y3 = (x3 * ratio * rng.uniform(0.99, 1.01, m) * rng.choice([-1, 1], m)).astype(dt)
    x4 = log_uniform(rng, m, hi - 3, hi, dt)  # near overflow
    with np.errstate(over="ignore"):
        y4 = (x4 * rng.uniform(-3, 3, m)).astype(dt)
    x5 = log_uniform(rng, m // 4, lo, lo + 30, dt)  # subnormal and tiny
    y5 = log_uniform(rng, m // 4, lo, lo + 30, dt)
    values = np.concatenate([specials(dt), np.array([3.0, -3.0], dt)])
    sy, sx = np.meshgrid(values, values)
    with np.errstate(over="ignore"):
        return (np.concatenate([y1, y2, y3, y4, y5, sy.ravel()]),
                np.concatenate([x1, x2, x3, x4, x5, sx.ravel()]))


FUNCTIONS.update({f.name: f for f in [
    Function("arcsin", gen_unit, mpmath.asin), Function("arccos", gen_unit, mpmath.acos),
    Function("arctan2", gen_arctan2, mpmath.atan2),
    Function("arcsinh", gen_arcsinh, mpmath.asinh), Function("arccosh", gen_arccosh, mpmath.acosh),
    Function("arctanh", gen_unit, mpmath.atanh),
]})


# -- erf, erfc (codegen/mathlib_erf.py) ------------------------------------------------------
def gen_erf(rng: np.random.Generator, n: int, dt: type) -> Inputs:
    """erf and erfc: the main range, tiny and subnormal magnitudes, erfc's underflow region
    (to 27.3 for float64, 10.2 for float32), the split point 3/4 and the pieces' edges."""
    top = _pick(dt, 27.4, 10.3)
    edges = [0.75, 1.0 / 0.2081967213114754 - 3, 1.0 / 0.14972677595628414 - 3,
             1.0 / 0.0912568306010929 - 3, 1.0 / 0.17092731829573934 - 3, _pick(dt, 5.93, 3.92),
             _pick(dt, 26.55, 9.19), _pick(dt, 27.226, 10.128), _pick(dt, 27.3, 10.2)]
    edges += [-e for e in edges]
    return (np.concatenate([uniform(rng, n // 4, -6, 6, dt), uniform(rng, n // 8, -1, 1, dt),
                            uniform(rng, n // 4, -top, top, dt),
                            uniform(rng, n // 8, _pick(dt, 20.0, 7.0), top, dt),
                            log_uniform(rng, n // 4, _small(dt), 3, dt),
                            around(edges, dt, 64), specials(dt)]),)


def erf_reference(name: str, x: np.ndarray) -> np.ndarray:
    """erf or erfc of float64 (or float32) ``x`` in long double, with about 60 good bits:
    the screen for ``measure`` (NumPy has neither function; mpmath confirms the worst).

    erf by its series of positive terms, ``2/sqrt(pi) e^(-x^2) sum 2^n x^(2n+1) / (2n+1)!!``,
    below 1 (no cancellation), the other one as 1 minus it; from 1 on, erfc by Laplace's
    continued fraction, evaluated backwards at a depth that converges there, and erf as 1
    minus it; ``e^(-x^2)`` with ``x^2`` split exactly.
    """
    # |x| <= 40 (erf 1, erfc 0 in both formats beyond); NaN passes
    a = np.minimum(np.abs(x.astype(np.float64)), 40.0).astype(LD)
    split = LD(2.0 ** 27 + 1)
    hi = a * split - (a * split - a)  # 26 bits: hi^2 and 2 hi lo are exact
    lo = a - hi
    gauss = np.exp(-hi * hi) * np.exp(-LD(2) * hi * lo) * np.exp(-lo * lo)
    inv_sqrt_pi = LD("0.56418958354775628694807945156077258584405")  # from text: all bits
    near = np.where(a < 1, a, LD(0))
    term, total = near.copy(), near.copy()
    for k in range(1, 40):  # |x| < 1: terms fall by 2/(2k+1) at least
        term = term * (LD(2) * near * near) / LD(2 * k + 1)
        total = total + term
    erf_near = LD(2) * inv_sqrt_pi * gauss * total
    far = np.where(a >= 1, a, LD(1))
    cf = np.zeros_like(a)
    for k in range(400, 0, -1):  # erfc(x) = e^(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + ...
        cf = LD(k) / LD(2) / (far + cf)
    erfc_far = gauss * inv_sqrt_pi / (far + cf)
    erf = np.where(a < 1, erf_near, LD(1) - erfc_far)
    erfc = np.where(a < 1, LD(1) - erf_near, erfc_far)
    neg = np.signbit(x)
    with np.errstate(invalid="ignore"):
        out = np.where(neg, -erf, erf) if name == "erf" else np.where(neg, 2 - erfc, erfc)
    return np.where(np.isnan(x), LD(np.nan), out)


FUNCTIONS.update({f.name: f for f in [
    Function("erf", gen_erf, mpmath.erf), Function("erfc", gen_erf, mpmath.erfc),
]})


# -- measuring -------------------------------------------------------------------------------
_DIRECT: dict[tuple[str, str], object] = {}


def mathlib_loop(name: str, dt: type) -> tuple[str, str]:
    """(IR text, symbol) of ``void f(ptr x, ptr out, i64 n)``: ``out[i] = name(x[i])``, a
    loop calling mathlib's out-of-line function ``name`` as a kernel of lazyarr's would (the
    vectoriser calls its vector versions): the way to reach a function no op routes to yet."""
    from lazyarr.backends import cpu
    from lazyarr.codegen import common, mathlib
    from llvmlite import ir

    jit = cpu.jit()
    ty = mathlib.F64 if dt == np.float64 else mathlib.F32
    module = ir.Module(name=f"direct_{name}")
    module.triple, module.data_layout = jit.triple, jit.layout
    mathlib.set_register_bits(module, jit.register_bits)  # as the JIT's routine modules
    i64 = ir.IntType(64)
    symbol = f"direct_{name}_{ty}"
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [mathlib.PTR] * 2 + [i64]), symbol)
    for arg in fn.args[:2]:
        arg.add_attribute("noalias")
    src, dst, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def body(i: ir.Value) -> None:
        x = b.load(b.gep(src, [i], source_etype=ty), typ=ty)
        b.store(mathlib.call_support(b, name, [x]), b.gep(dst, [i], source_etype=ty))

    common.counted_loop(b, i64(0), n, i64(1), body, "i")
    b.ret_void()
    return str(module), symbol


def mathlib_kernel(name: str, dt: type) -> Callable[[np.ndarray, np.ndarray], None]:
    """:func:`mathlib_loop` compiled (once per process): ``call(x, out)``."""
    import ctypes

    from lazyarr.backends import cpu

    key = (name, np.dtype(dt).name)
    if key not in _DIRECT:
        jit = cpu.jit()
        text, symbol = mathlib_loop(name, dt)
        code = jit.tm.emit_object(jit.optimise(text))
        address = jit.link_cached(None, symbol, lambda: code)
        _DIRECT[key] = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                                        ctypes.c_int64)(address)
    run = _DIRECT[key]

    def call(x: np.ndarray, out: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=dt)
        if out.dtype != dt or not out.flags.c_contiguous or out.shape != x.shape:
            raise ValueError("out must be a contiguous array of x's shape and dtype")
        run(x.ctypes.data, out.ctypes.data, x.size)

    return call


def lazyarr_eval(name: str, args: Inputs) -> np.ndarray:
    if not hasattr(la, name):  # a mathlib function no op reaches yet (erf, erfc)
        out = np.empty_like(args[0])
        mathlib_kernel(name, args[0].dtype.type)(args[0], out)
        return out
    with np.errstate(all="ignore"):
        out = np.asarray(getattr(la, name)(*[la.asarray(a) for a in args]).eval())
    la.clear_cache()  # the fast path would keep the (large) inputs alive
    return out


def reference(name: str, args: Inputs, dt: type) -> np.ndarray:
    """The function in a wider format: long double for float64, float64 for float32."""
    wide = LD if dt == np.float64 else np.float64
    if name in ("erf", "erfc"):
        return erf_reference(name, args[0]).astype(wide)
    with np.errstate(all="ignore"):
        return getattr(np, name)(*[a.astype(wide) for a in args])


def ulp_error(got: np.ndarray, exact: np.ndarray, dt: type) -> np.ndarray:
    """|got - exact| in units of the last place of ``exact`` in format ``dt``.

    Values at or beyond the overflow rounding point count as infinite; NaN must match NaN.
    Mismatched specials give +inf.
    """
    info = np.finfo(dt)
    wide = exact.dtype
    _, e = np.frexp(exact)
    ulp = np.ldexp(np.ones_like(exact), np.maximum(e - 1, info.minexp) - info.nmant)
    overflow_at = wide.type(info.max) + wide.type(np.ldexp(1.0, info.maxexp - info.nmant - 2))
    exact_inf = np.isinf(exact) | (np.abs(exact) >= overflow_at)
    with np.errstate(all="ignore"):
        err = np.abs(got.astype(wide) - exact) / ulp
    inf_ok = exact_inf & (got == np.copysign(np.inf, exact))
    nan_ok = np.isnan(exact) & np.isnan(got)
    err = np.where(inf_ok | nan_ok, 0.0, err)
    bad = (exact_inf & ~inf_ok) | (np.isnan(exact) != np.isnan(got)) | (np.isinf(got) & ~inf_ok)
    return np.where(bad, np.inf, err).astype(np.float64)


def mp_ulp_error(fn: Function, args: tuple[float, ...], got: float, dt: type) -> float:
    """The same error, the exact value from mpmath at 200 bits."""
    with mpmath.workprec(200):
        try:
            exact = fn.mp(*[mpmath.mpf(float(a)) for a in args])
        except (ValueError, ZeroDivisionError):
            return float("nan")
        if isinstance(exact, mpmath.mpc) or not mpmath.isfinite(exact):
            return float("nan")  # the screening error (special values) stands
        info = np.finfo(dt)
        if exact == 0:
            return 0.0 if got == 0 else float("inf")
        e = max(int(mpmath.floor(mpmath.log(abs(exact), 2))), info.minexp)
        ulp = mpmath.ldexp(1, e - info.nmant)
        if not math.isfinite(got):
            return float("inf") if abs(exact) < info.max + ulp / 2 else 0.0
        return float(abs(mpmath.mpf(got) - exact) / ulp)


def special_mismatches(name: str, args: Inputs, got: np.ndarray) -> int:
    """Where NumPy gives NaN, +-inf or +-0, lazyarr must give the same (sign included)."""
    with np.errstate(all="ignore"):
        exact = reference(name, args, got.dtype.type).astype(got.dtype)
        want = exact if name in ("erf", "erfc") else getattr(np, name)(*args)
    # where NumPy's 0 or inf is not the correctly rounded result, the wider reference decides:
    # NumPy's own float32 exp2 gives 0 for results below about 2**-149.5 (glibc's exp2f and
    # lazyarr round them, correctly, to the smallest subnormal)
    want = np.where(((want == 0) | np.isinf(want)) & np.isfinite(exact) & (exact != 0), exact,
                    want)
    special = np.isnan(want) | np.isinf(want) | (want == 0)
    same = (np.isnan(want) & np.isnan(got)) | ((want == got) & (np.signbit(want) ==
                                                                 np.signbit(got)))
    return int(np.count_nonzero(special & ~same))


@dataclass
class Result:
    name: str
    dtype: str
    points: int
    max_ulp: float
    worst: tuple[float, ...]
    mean_ulp: float
    special_bad: int
    seconds: float


def measure(fn: Function, dt: type, n: int, rng: np.random.Generator, confirm: int
            ) -> Result:
    t0 = time.perf_counter()
    args = fn.generate(rng, n, dt)
    got = lazyarr_eval(fn.name, args)
    err = ulp_error(got, reference(fn.name, args, dt), dt)
    finite = np.isfinite(err)
    # recompute the worst finite points with mpmath: the reported maximum is mpmath's
    order = np.argsort(np.where(finite, -err, 0.0))[:confirm]
    for i in order:
        e = mp_ulp_error(fn, tuple(a[i] for a in args), float(got[i]), dt)
        if not math.isnan(e):
            err[i] = e
    worst = int(np.argmax(err))
    return Result(fn.name, np.dtype(dt).name, len(got), float(err[worst]),
                  tuple(float(a[worst]) for a in args), float(np.mean(err[np.isfinite(err)])),
                  special_mismatches(fn.name, args, got), time.perf_counter() - t0)


def exhaustive(fn: Function, chunk: int = 1 << 22) -> Result:
    """Every float32 input (2**32 bit patterns) of a unary function."""
    t0 = time.perf_counter()
    worst_err, worst_x, total, count, bad = -1.0, 0.0, 0.0, 0, 0
    # one expression over one buffer refilled per chunk (arrays are read at evaluation)
    x = np.empty(chunk, np.float32)
    got = np.empty(chunk, np.float32)
    expr = getattr(la, fn.name)(la.asarray(x))
    for start in range(0, 1 << 32, chunk):
        x.view(np.uint32)[:] = np.arange(start, start + chunk, dtype=np.uint64)
        with np.errstate(all="ignore"):
            expr.eval(out=got)
        err = ulp_error(got, reference(fn.name, (x,), np.float32), np.float32)
        bad += special_mismatches(fn.name, (x,), got)
        i = int(np.argmax(err))
        if err[i] > worst_err:
            worst_err, worst_x = float(err[i]), float(x[i])
        finite = np.isfinite(err)
        total += float(err[finite].sum())
        count += int(finite.sum())
    got = lazyarr_eval(fn.name, (np.array([worst_x], np.float32),))
    confirmed = mp_ulp_error(fn, (worst_x,), float(got[0]), np.float32)
    if not math.isnan(confirmed):
        worst_err = confirmed
    return Result(fn.name, "float32", 1 << 32, worst_err, (worst_x,), total / max(count, 1),
                  bad, time.perf_counter() - t0)


# -- speed -----------------------------------------------------------------------------------
def _workloads(dt: type, n: int, rng: np.random.Generator) -> dict[str, tuple[Callable, ...]]:
    """name -> (NumPy version, lazyarr version), over fresh standard-normal inputs."""
    a, b, c = (rng.standard_normal(n).astype(dt) for _ in range(3))
    k1, k3 = dt(0.7978845608), dt(0.044715)

    def gelu(x: np.ndarray | la.LazyArray, tanh: Callable) -> object:
        return 0.5 * x * (1 + tanh(k1 * (x + k3 * x**3)))

    return {
        "exp(-a)*sin(b)+cos(c)": (
            lambda: np.exp(-a) * np.sin(b) + np.cos(c),
            lambda: la.exp(-la.asarray(a)) * la.sin(la.asarray(b)) + la.cos(la.asarray(c))),
        "gelu (tanh form)": (lambda: gelu(a, np.tanh), lambda: gelu(la.asarray(a), la.tanh)),
        # one function each (positive arguments for the logarithms)
        "log10(|a|)": (lambda: np.log10(np.abs(a)), lambda: la.log10(abs(la.asarray(a)))),
        "log2(|a|)": (lambda: np.log2(np.abs(a)), lambda: la.log2(abs(la.asarray(a)))),
        "exp2(a)": (lambda: np.exp2(a), lambda: la.exp2(la.asarray(a))),
        "cbrt(a)": (lambda: np.cbrt(a), lambda: la.cbrt(la.asarray(a))),
        "hypot(a,b)": (lambda: np.hypot(a, b), lambda: la.hypot(la.asarray(a), la.asarray(b))),
        "logaddexp(a,b)": (lambda: np.logaddexp(a, b),
                           lambda: la.logaddexp(la.asarray(a), la.asarray(b))),
        **_inverse_workloads(a, b, dt, n),
    }


def _inverse_workloads(a: np.ndarray, b: np.ndarray, dt: type, n: int
                       ) -> dict[str, tuple[Callable, ...]]:
    """codegen/mathlib_inverse.py's functions, on arguments in their domains (u uniform in
    [-1, 1] from a generator of its own, so the other workloads' inputs stay as they were)."""
    u = np.random.default_rng(1).uniform(-1, 1, n).astype(dt)
    v = (1 + np.abs(a)).astype(dt)
    out = {}
    for name, x, arg in (("arcsin", u, "u"), ("arccos", u, "u"), ("arcsinh", a, "a"),
                         ("arccosh", v, "1+|a|"), ("arctanh", u, "u")):
        np_f, la_f = getattr(np, name), getattr(la, name)
        out[f"{name}({arg})"] = (lambda f=np_f, x=x: f(x),
                                 lambda f=la_f, x=x: f(la.asarray(x)))
    out["arctan2(a,b)"] = (lambda: np.arctan2(a, b),
                           lambda: la.arctan2(la.asarray(a), la.asarray(b)))
    return out


def _best_ms(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * min(times)


def speed(n: int, reps: int, threads: int) -> None:
    """Both workloads, NumPy against lazyarr with this module's math and with libm calls."""
    from lazyarr.codegen import scalar

    la.set_num_threads(threads)
    la.set_disk_cache(False)  # the disk cache does not know about USE_MATHLIB
    rng = np.random.default_rng(0)
    print(f"n={n}, lazyarr threads={threads}, best of {reps}; times in ms (speed-up on NumPy)")
    for dt in (np.float32, np.float64):
        for name, (np_fn, la_fn) in _workloads(dt, n, rng).items():
            out = np.empty(n, dt)
            base = _best_ms(np_fn, reps)
            row = [f"{np.dtype(dt).name:8} {name:22} numpy {base:7.1f}"]
            for use in (True, False):
                scalar.USE_MATHLIB = use
                la.clear_cache()
                la_fn().eval(out=out)  # compile outside the timing
                ms = _best_ms(lambda f=la_fn, o=out: f().eval(out=o), reps)
                label = "mathlib" if use else "libm"
                row.append(f"{label} {ms:7.1f} ({base / ms:4.1f}x)")
            scalar.USE_MATHLIB = True
            la.clear_cache()
            print(" | ".join(row), flush=True)


def _erf_row(name: str, x: np.ndarray, out: np.ndarray, special: object, reps: int) -> str:
    kernel = mathlib_kernel(name, x.dtype.type)
    ours = _best_ms(lambda: kernel(x, out), reps)
    row = [f"{x.dtype.name:8} {name:5}"]
    if special is not None:
        fn = getattr(special, name)
        base = _best_ms(lambda: fn(x, out=out), reps)
        row.append(f"scipy {base:7.1f} | mathlib loop {ours:7.1f} ({base / ours:4.1f}x)")
    else:
        row.append(f"mathlib loop {ours:7.1f}")
    if hasattr(la, name):  # an op routes to it: the same through lazyarr's front end
        expr = getattr(la, name)(la.asarray(x))
        expr.eval(out=out)  # compile outside the timing
        row.append(f"la.{name} {_best_ms(lambda: expr.eval(out=out), reps):7.1f}")
    return " | ".join(row)


def speed_erf(n: int, reps: int) -> None:
    """erf and erfc: scipy.special (if installed) against mathlib's loop (one thread, into
    a preallocated output) and, where an op routes to it, ``la.erf(x).eval(out=...)``."""
    try:
        from scipy import special
    except ImportError:
        special = None
        print("scipy is not installed: lazyarr only")
    print(f"n={n}, best of {reps}; times in ms (speed-up on scipy.special)")
    la.set_num_threads(1)
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64):
        x = (rng.standard_normal(n) * 2).astype(dt)
        out = np.empty(n, dt)
        for name in ("erf", "erfc"):
            print(_erf_row(name, x, out, special, reps), flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=200_000, help="random points per function")
    p.add_argument("--functions", default=",".join(FUNCTIONS))
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--confirm", type=int, default=32, help="worst points checked with mpmath")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--exhaustive", action="store_true",
                   help="float32 unary functions: all 2**32 inputs instead of random points")
    p.add_argument("--speed", action="store_true",
                   help="time exp(-a)*sin(b)+cos(c) and GELU at --n elements against NumPy")
    p.add_argument("--speed-erf", action="store_true",
                   help="time erf and erfc at --n elements against scipy.special")
    p.add_argument("--threads", type=int, default=1, help="lazyarr threads for --speed")
    p.add_argument("--reps", type=int, default=7, help="repetitions for --speed")
    a = p.parse_args(argv)
    if a.speed_erf:
        speed_erf(a.n, a.reps)
        return 0
    if a.speed:
        speed(a.n, a.reps, a.threads)
        return 0
    rng = np.random.default_rng(a.seed)
    print(f"{'function':8} {'dtype':8} {'points':>10} {'max ulp':>8} {'bound':>5} "
          f"{'mean ulp':>9} {'specials':>8}  worst input")
    failed = False
    for dtname in a.dtypes.split(","):
        dt = np.dtype(dtname).type
        for name in a.functions.split(","):
            if a.exhaustive and dt == np.float32 and name != "power":
                r = exhaustive(FUNCTIONS[name])
            else:
                r = measure(FUNCTIONS[name], dt, a.n, rng, a.confirm)
            bound = BOUND.get(name, 4)
            failed |= r.max_ulp > bound or r.special_bad > 0
            worst = ", ".join(repr(v) for v in r.worst)
            print(f"{r.name:8} {r.dtype:8} {r.points:10d} {r.max_ulp:8.3f} {bound:5d} "
                  f"{r.mean_ulp:9.4f} {r.special_bad:8d}  ({worst})  [{r.seconds:.1f}s]",
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
