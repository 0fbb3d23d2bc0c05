"""Complex elementary functions on ``(re, im)`` pairs of real lazy arrays
(``lazyarr/front/complex_math.py``).

* Special values against NumPy's complex functions on a grid of every pair of parts from
  0, -0, subnormals, tiny, ordinary, huge, +-inf and NaN of either sign, complex64 and
  complex128: NaN where NumPy gives NaN, infinities and the signs of zeros exactly, finite
  values within 8 ULP of NumPy's. Where NumPy's own formula is inaccurate for finite input
  (``log1p``; ``expm1`` where ``exp`` of the real part overflows; ``power`` off its integer
  path) mpmath is the reference instead, and complex64 is compared with NumPy's complex128
  result rounded where NumPy's float32 arithmetic decides a special value (lazyarr computes
  complex64 in float64): docs/complex_math.md lists each difference.
* The error against mpmath on random points (``LAZYARR_TEST_EXAMPLES`` per function and
  dtype, 300 by default): float64 within 4 ULP per component (``expm1``'s real part: times
  its cancellation factor; ``power``: within ``2 (1 + |w log z|)`` ULP of ``|z**w|``),
  float32 within 1 ULP.
"""

from __future__ import annotations

import math
import os
import warnings

import numpy as np
import pytest

import lazyarr as la
from lazyarr.front import complex_math as cm

mpmath = pytest.importorskip("mpmath")

FLOATS = (np.float32, np.float64)
COMPLEX = {np.float32: np.complex64, np.float64: np.complex128}
UNARY = tuple(name for name in cm.FUNCTIONS if name != "power")
EXAMPLES = int(os.environ.get("LAZYARR_TEST_EXAMPLES") or 300)
PREC = 320  # bits: enough for every reference formula below on these inputs


def _ids(dtype: type) -> str:
    return np.dtype(dtype).name


def _complex(a: np.ndarray, b: np.ndarray, dtype: type) -> np.ndarray:
    z = np.empty(np.broadcast(a, b).shape, COMPLEX[dtype])
    z.real, z.imag = a, b  # (a + 1j*b would turn 0*inf into NaN)
    return z


def _values(dtype: type) -> np.ndarray:
    info = np.finfo(dtype)
    big = 710.0 if dtype == np.float64 else 89.0  # exp overflows just below
    tiny, huge = (1e-300, 1e300) if dtype == np.float64 else (1e-30, 1e30)
    values = [0.0, info.smallest_subnormal, info.tiny / 4, tiny, 1e-8, 0.5, 1.0, 1.5, 2.0, 3.0,
              22.5, 100.0, big, 1e10, huge, info.max]
    values = values + [-v for v in values] + [np.inf, -np.inf, np.nan, -np.nan]
    return np.array(values, dtype)


def _grid(dtype: type) -> tuple[np.ndarray, np.ndarray]:
    v = _values(dtype)
    a, b = np.meshgrid(v, v, indexing="ij")
    return a.ravel(), b.ravel()


def _agree(mine: np.ndarray, ref: np.ndarray, dtype: type, tol: float) -> np.ndarray:
    """Where ``mine`` is ``ref``: NaN for NaN, the same infinity, zeros with the same sign,
    finite values within ``tol`` ULP of ``ref`` (or one smallest subnormal apart: NumPy's
    subnormal results are sometimes rounded twice)."""
    mine = np.asarray(mine, np.float64)
    ref = np.asarray(ref, np.float64)
    nan_m, nan_r = np.isnan(mine), np.isnan(ref)
    with np.errstate(invalid="ignore"):
        diff = np.abs(mine - ref)
        spacing = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
        close = (diff <= tol * spacing) | (diff <= np.finfo(dtype).smallest_subnormal)
        same_inf = np.where(np.isinf(mine) | np.isinf(ref), mine == ref, True)
    zeros = (mine == 0) & (ref == 0)
    signs = np.where(zeros, np.signbit(mine) == np.signbit(ref), True)
    finite = np.isfinite(mine) & np.isfinite(ref)
    return (nan_m & nan_r) | (~nan_m & ~nan_r & same_inf & signs & np.where(finite, close, True))


def _report(name: str, dtype: type, a, b, mine, ref, ok) -> str:
    bad = np.flatnonzero(~ok)[:8]
    lines = [f"({a[i]!r}, {b[i]!r}): lazyarr {mine[i]!r}, expected {ref[i]!r}" for i in bad]
    return f"{name} {_ids(dtype)}: {(~ok).sum()} mismatches\n" + "\n".join(lines)


def _evaluate(name: str, *parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    re, im = cm.FUNCTIONS[name](*(la.asarray(p) for p in parts))
    return la.eval(re, im)


# -- references ------------------------------------------------------------------------------------
def _mp_log(a: float, b: float) -> mpmath.mpc:
    """The principal log with C's branch: the sign of a zero imaginary part picks +-pi."""
    if b == 0 and a < 0:
        return mpmath.mpc(mpmath.log(-a), -mpmath.pi if math.copysign(1.0, b) < 0 else mpmath.pi)
    return mpmath.log(mpmath.mpc(a, b))


def _mp_log1p(a: float, b: float) -> mpmath.mpc:
    """``log(1 + z)`` with the real part as ``log1p(2a + a**2 + b**2) / 2`` (``1 + a`` would
    round away a subnormal ``a``)."""
    if b == 0 and a < -1:
        return _mp_log(float(1 + mpmath.mpf(a)), b)
    x, y = mpmath.mpf(a), mpmath.mpf(b)
    if abs(1 + x) < 0.5:  # 1 + a exact; log1p's argument would be -1 + a tiny y**2
        re = mpmath.log(mpmath.hypot(1 + x, y))
    else:
        re = mpmath.log1p(2 * x + x * x + y * y) / 2
    return mpmath.mpc(re, mpmath.atan2(y, 1 + x))


def _mp_atanh(a: float, b: float) -> mpmath.mpc:
    """``atanh`` from formulas without cancellation (mpmath's own loses the real part far
    from the origin)."""
    x, y = mpmath.mpf(a), mpmath.mpf(b)
    re = mpmath.log1p(4 * x / ((x - 1) ** 2 + y**2)) / 4
    return mpmath.mpc(re, mpmath.atan2(2 * y, (1 - x) * (1 + x) - y * y) / 2)


def _mp_atan(a: float, b: float) -> mpmath.mpc:
    w = _mp_atanh(-b, a)  # atan z = -i atanh(i z)
    return mpmath.mpc(w.imag, -w.real)


MP = {
    "exp": lambda a, b: mpmath.exp(mpmath.mpc(a, b)),
    "exp2": lambda a, b: mpmath.exp(mpmath.mpc(a, b) * mpmath.log(2)),
    "log": _mp_log,
    "log2": lambda a, b: _mp_log(a, b) / mpmath.log(2),
    "log10": lambda a, b: _mp_log(a, b) / mpmath.log(10),
    "log1p": lambda a, b: _mp_log1p(a, b),
    "expm1": lambda a, b: mpmath.expm1(mpmath.mpc(a, b)),
    "sqrt": lambda a, b: mpmath.sqrt(mpmath.mpc(a, b)),
    "sin": lambda a, b: mpmath.sin(mpmath.mpc(a, b)),
    "cos": lambda a, b: mpmath.cos(mpmath.mpc(a, b)),
    "tan": lambda a, b: mpmath.tan(mpmath.mpc(a, b)),
    "sinh": lambda a, b: mpmath.sinh(mpmath.mpc(a, b)),
    "cosh": lambda a, b: mpmath.cosh(mpmath.mpc(a, b)),
    "tanh": lambda a, b: mpmath.tanh(mpmath.mpc(a, b)),
    "arcsin": lambda a, b: mpmath.asin(mpmath.mpc(a, b)),
    "arccos": lambda a, b: mpmath.acos(mpmath.mpc(a, b)),
    "arctan": _mp_atan,
    "arcsinh": lambda a, b: mpmath.asinh(mpmath.mpc(a, b)),
    "arccosh": lambda a, b: mpmath.acosh(mpmath.mpc(a, b)),
    "arctanh": _mp_atanh,
}


def _mp_values(fn, *parts: np.ndarray) -> list:
    with mpmath.workprec(PREC):
        return [fn(*(float(p[i]) for p in parts)) for i in range(len(parts[0]))]


def _rounded(values: list, part: str, dtype: type, zeros: np.ndarray) -> np.ndarray:
    """Parts of mpmath values rounded to ``dtype`` (overflow to inf, underflow to a zero of
    the value's sign); an exact zero (mpmath's have no sign) is taken from ``zeros``."""
    with np.errstate(over="ignore"):
        out = np.array([float(getattr(v, part)) for v in values]).astype(dtype)
    exact_zero = np.array([getattr(v, part) == 0 for v in values], bool)
    out[exact_zero] = zeros[exact_zero]
    return out


def _numpy(name: str, a: np.ndarray, b: np.ndarray, dtype: type) -> np.ndarray:
    """NumPy's result; for complex64, NumPy's complex128 result rounded where the two differ
    in a special value (a float32 intermediate overflowed or underflowed)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        ref = getattr(np, name)(_complex(a, b, dtype))
        if dtype == np.float32:
            wide = getattr(np, name)(_complex(a, b, np.float64)).astype(np.complex64)
            for part in ("real", "imag"):
                r, w = getattr(ref, part), getattr(wide, part)
                special = ~_agree(r, w, dtype, np.inf)
                getattr(ref, part)[special] = w[special]
    return ref


def _numpy_inaccurate(name: str, a: np.ndarray, b: np.ndarray, dtype: type) -> np.ndarray:
    """Finite inputs where NumPy's formula is inaccurate and mpmath decides (exp2: NumPy
    rounds ``a ln 2`` first, ``|a|`` ULP off for large ``|a|``)."""
    finite = np.isfinite(a) & np.isfinite(b)
    if name == "exp2":
        return finite & (np.abs(b) < 2.0**20)
    if name == "log1p":
        return finite
    if name == "expm1":
        return finite & (a > math.log(float(np.finfo(dtype).max)))
    return np.zeros(a.shape, bool)


# -- special values --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", UNARY)
def test_special_values_as_numpy(name: str, dtype: type) -> None:
    a, b = _grid(dtype)
    re, im = _evaluate(name, a, b)
    assert re.dtype == im.dtype == dtype
    ref = _numpy(name, a, b, dtype)
    inaccurate = _numpy_inaccurate(name, a, b, dtype)
    exact = _mp_values(MP[name], a[inaccurate], b[inaccurate])
    for part, mine in (("real", re), ("imag", im)):
        expected = getattr(ref, part).copy()
        zeros = np.where(expected == 0, expected, np.copysign(0.0, b).astype(dtype))
        expected[inaccurate] = _rounded(exact, part, dtype, zeros[inaccurate])
        tol = np.where(inaccurate, 4.0, 8.0)
        if name == "exp2":  # cos(b ln 2) of a huge b: any value (NumPy's angle is rounded)
            tol[np.isfinite(a) & (np.abs(b) >= 2.0**20)] = np.inf
        ok = _agree(mine, expected, dtype, tol)
        assert ok.all(), _report(f"{name} {part}", dtype, a, b, mine, expected, ok)


def test_expm1_finite_where_numpy_overflows() -> None:
    """NumPy's ``expm1`` multiplies ``exp(a)`` by ``sin b``: inf (NaN for ``b = 0``) once
    ``exp(a)`` overflows, where the result itself can be finite."""
    re, im = _evaluate("expm1", np.array([709.9, 710.0, 720.0]), np.array([1.0, 0.0, 1e-300]))
    assert np.isfinite(re[0]) and np.isfinite(im[0])
    assert re[1] == np.inf and im[1] == 0 and not np.signbit(im[1])
    assert re[2] == np.inf and 0 < im[2] < np.inf
    with np.errstate(all="ignore"):
        assert not np.isfinite(np.expm1(np.complex128(complex(709.9, 1.0))).imag)


def test_log1p_accurate_near_zero() -> None:
    """NumPy's ``log1p`` real part is ``log(hypot(1 + a, b))``: 0 for tiny ``z``."""
    re, im = _evaluate("log1p", np.array([1e-20, 0.0, -1e-300]), np.array([0.0, 1e-10, 0.0]))
    np.testing.assert_allclose(re, [1e-20, 5e-21, -1e-300], rtol=4e-16)
    assert im[1] == 1e-10
    assert np.log1p(np.complex128(1e-20)).real == 0


# -- accuracy against mpmath -----------------------------------------------------------------------
def _random_points(name: str, dtype: type, n: int) -> tuple[np.ndarray, np.ndarray]:
    """A third uniform in [-4, 4]**2, a third with log-uniform magnitudes in [1e-9, 1e9]
    (1e-6 .. 1e6 for float32) and random signs, a third near the unit circle (near 1 + 0i
    shifted to |1 + z| = 1 for log1p)."""
    rng = np.random.default_rng(sum(map(ord, name)) + np.dtype(dtype).itemsize)
    k = n // 3
    span = 9 if dtype == np.float64 else 6

    def wide() -> np.ndarray:
        return rng.choice([-1.0, 1.0], k) * 10.0 ** rng.uniform(-span, span, k)

    t = rng.uniform(-np.pi, np.pi, n - 2 * k)
    r = 1 + rng.uniform(-1e-3, 1e-3, n - 2 * k)
    ua, ub = r * np.cos(t), r * np.sin(t)
    if name == "log1p":
        ua = ua - 1
    a = np.concatenate([rng.uniform(-4, 4, k), wide(), ua])
    b = np.concatenate([rng.uniform(-4, 4, k), wide(), ub])
    return a.astype(dtype), b.astype(dtype)


def _ulps(mine: np.ndarray, exact: list, part: str, dtype: type) -> np.ndarray:
    """|mine - exact| in ULP of the exact value rounded to ``dtype``."""
    out = np.empty(len(mine))
    for i, (m, e) in enumerate(zip(mine, exact, strict=True)):
        v = getattr(e, part)
        with np.errstate(over="ignore"):
            rounded = dtype(float(v))
        r = abs(rounded)
        if np.isinf(r) or np.isinf(m):  # an overflowed result: the same infinity
            out[i] = 0.0 if m == rounded else np.inf
            continue
        unit = float(np.spacing(r)) if r > 0 else float(np.finfo(dtype).smallest_subnormal)
        out[i] = float(abs(mpmath.mpf(float(m)) - v)) / unit
    return out


def _expm1_cancellation(a: np.ndarray, b: np.ndarray, exact: list) -> np.ndarray:
    """How far ``expm1(a) cos b - 2 sin(b/2)**2`` cancels: the terms' size over the result's."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    result = np.array([abs(float(e.real)) for e in exact])
    with np.errstate(all="ignore"):
        terms = np.abs(np.expm1(a) * np.cos(b)) + 2 * np.sin(b / 2) ** 2
        factor = np.maximum(1.0, terms / result)
    return np.where(np.isfinite(factor), factor, 1.0)  # (an overflowed result)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", UNARY)
def test_accuracy_against_mpmath(name: str, dtype: type) -> None:
    a, b = _random_points(name, dtype, EXAMPLES)
    re, im = _evaluate(name, a, b)
    exact = _mp_values(MP[name], a, b)
    bound = 4.0 if dtype == np.float64 else 1.0
    for part, mine in (("real", re), ("imag", im)):
        err = _ulps(mine, exact, part, dtype)
        allowed = np.full(len(err), bound)
        if name == "expm1" and part == "real":
            allowed *= _expm1_cancellation(a, b, exact)
        worst = int(np.argmax(err / allowed))
        assert err[worst] <= allowed[worst], (
            f"{name} {part} {_ids(dtype)}: {err[worst]:.2f} ULP at ({a[worst]!r}, {b[worst]!r})")


# -- power -----------------------------------------------------------------------------------------
def _power_grid(dtype: type) -> tuple[np.ndarray, ...]:
    tiny, huge = (1e-300, 1e200) if dtype == np.float64 else (1e-30, 1e30)
    bases = [0.0, -0.0, tiny, 0.5, 1.0, -1.0, 2.0, -3.0, 1e10, huge, np.inf, -np.inf, np.nan]
    powers = [0.0, -0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 5.0, -7.0, 0.5, -2.5, 99.0, 100.0, 1e10,
              np.inf, -np.inf, np.nan]
    imag_powers = [0.0, -0.0, 1.0, -0.5, np.inf, np.nan]
    z = [(x, y) for x in bases for y in bases]
    w = [(x, y) for x in powers for y in imag_powers]
    a, b = np.array([p for p in z for _ in w], dtype).T
    c, d = np.array([q for _ in z for q in w], dtype).T
    return a, b, c, d


def _mp_power(a: float, b: float, c: float, d: float) -> mpmath.mpc:
    return mpmath.exp(mpmath.mpc(c, d) * _mp_log(a, b))


def _integral_path(c: np.ndarray, d: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (d == 0) & (np.abs(c) < 100) & (np.floor(c) == c)


def _power_scale(a, b, c, d) -> np.ndarray:
    """``1 + |w log z|``: how much a power's error grows with its exponent."""
    with np.errstate(all="ignore"):
        z = _complex(a.astype(np.float64), b.astype(np.float64), np.float64)
        w = _complex(c.astype(np.float64), d.astype(np.float64), np.float64)
        return 1 + np.abs(w * np.log(z))


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_power_special_values_as_numpy(dtype: type) -> None:
    """NumPy's ``npy_cpow``: ``z**0 = 1``, ``0**w``, integral exponents by repeated
    multiplication (the same products, so the same NaNs and infinities). Finite powers off
    the integer path are checked against mpmath (lazyarr's real-axis powers are exact where
    NumPy's carry ``exp(log)`` rounding)."""
    a, b, c, d = _power_grid(dtype)
    re, im = _evaluate("power", a, b, c, d)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        # complex64 is NumPy's algorithm in float64, rounded at the end
        ref = np.power(_complex(a, b, np.float64), _complex(c, d, np.float64))
    with np.errstate(over="ignore"):
        ref = ref.astype(COMPLEX[dtype])
    finite = np.isfinite(a) & np.isfinite(b) & np.isfinite(c) & np.isfinite(d)
    general = finite & ((a != 0) | (b != 0)) & ((c != 0) | (d != 0)) & ~_integral_path(c, d)
    scale = _power_scale(a, b, c, d)
    # |w log z| beyond 2**20 off the real axis: the angle has no correct bits left (NumPy's
    # and lazyarr's signs there are the rounding's), so only the classes are compared
    lost = general & (scale > 2.0**20) & ((b != 0) | (d != 0))
    general &= ~lost
    exact = _mp_values(_mp_power, a[general], b[general], c[general], d[general])
    for part, mine in (("real", re), ("imag", im)):
        expected = getattr(ref, part).copy()
        zeros = np.where(expected == 0, expected, np.copysign(0.0, b).astype(dtype))
        expected[general] = _rounded(exact, part, dtype, zeros[general])
        ok = _agree(mine, expected, dtype, np.where(lost, np.inf, 8.0))
        # off the integer path: within 2 (1 + |w log z|) ULP of |z**w|, per component
        with np.errstate(all="ignore"):
            modulus = np.abs(ref.astype(np.complex128))
            modulus[general] = [float(abs(v)) for v in exact]
            overflowed = modulus.astype(dtype) == np.inf
            unit = np.where(overflowed, modulus * np.finfo(dtype).eps,
                            np.spacing(modulus.astype(dtype))).astype(np.float64)
            near = np.abs(mine.astype(np.float64) - expected) <= 2 * scale * unit
            part_exact = np.zeros(len(a))
            part_exact[general] = [abs(float(getattr(v, part))) for v in exact]
        ok |= general & np.isfinite(expected) & np.isfinite(mine) & near
        # |z**w| overflows and this part is below its error: any value, inf of either sign
        ok |= general & overflowed & (part_exact <= 2 * scale * unit)
        assert ok.all(), _report(f"power {part}", dtype, a + 1j * b, c + 1j * d, mine,
                                 expected, ok)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_power_accuracy_against_mpmath(dtype: type) -> None:
    """float32: within 1 ULP per component. float64: positive real bases with real exponents
    within 4 ULP (the real ``power``); otherwise within ``2 (1 + |w log z|)`` ULP of ``|z**w|``
    (``exp(w log z)`` with ``log``'s error multiplied by ``|w|``, as NumPy's)."""
    rng = np.random.default_rng(7 + np.dtype(dtype).itemsize)
    n = EXAMPLES
    k = n // 4
    a = np.concatenate([rng.uniform(-3, 3, 3 * k), rng.uniform(0, 3, n - 3 * k)])
    b = np.concatenate([rng.uniform(-3, 3, 3 * k), np.zeros(n - 3 * k)])
    c = np.concatenate([rng.uniform(-4, 4, k), rng.integers(-20, 20, k), rng.uniform(-40, 40, k),
                        rng.uniform(-30, 30, n - 3 * k)])
    d = np.concatenate([rng.uniform(-4, 4, k), np.zeros(k), rng.uniform(-40, 40, k),
                        np.zeros(n - 3 * k)])
    a, b, c, d = (x.astype(dtype) for x in (a, b, c, d))
    re, im = _evaluate("power", a, b, c, d)
    exact = _mp_values(_mp_power, a, b, c, d)
    real_axis = np.arange(n) >= 3 * k
    scale = _power_scale(a, b, c, d)
    modulus = np.array([float(abs(v)) for v in exact])
    for part, mine in (("real", re), ("imag", im)):
        err = _ulps(mine, exact, part, dtype)
        if dtype == np.float32:
            assert err.max() <= 1.0, f"power {part} float32: {err.max():.2f} ULP"
            continue
        worst = err[real_axis].max()
        assert worst <= 4.0, f"power {part} real axis: {worst:.2f} ULP"
        diff = np.abs(mine - np.array([float(getattr(v, part)) for v in exact]))
        normwise = diff / np.spacing(modulus)
        assert (normwise <= 2 * scale).all(), f"power {part}: {(normwise / scale).max():.2f}"


# -- the functions as lazy expressions -------------------------------------------------------------
def test_one_kernel_per_function() -> None:
    x = la.asarray(np.linspace(-2, 2, 50))
    y = la.asarray(np.linspace(3, -1, 50))
    for name, fn in cm.FUNCTIONS.items():
        parts = fn(x, y, y, x) if name == "power" else fn(x, y)
        assert len(la.explain(*parts).kernel_steps) == 1, name


def test_broadcasting_and_dtypes() -> None:
    re32 = la.asarray(np.linspace(-1, 1, 3, dtype=np.float32).reshape(3, 1))
    im32 = la.asarray(np.linspace(0, 2, 4, dtype=np.float32))
    re, im = cm.exp(re32, im32)
    assert re.shape == im.shape == (3, 4) and re.dtype == im.dtype == np.float32
    got = np.asarray(re.eval()) + 1j * np.asarray(im.eval())
    expected = np.exp(np.asarray(re32.eval()) + 1j * np.asarray(im32.eval()))
    np.testing.assert_allclose(got, expected, rtol=2e-7)
    # float32 with float64 computes in float64; a Python float part is float64
    assert cm.log(re32, np.ones(4))[0].dtype == np.float64
    assert cm.sqrt(np.ones(3), 2.0)[1].dtype == np.float64
    with pytest.raises(TypeError, match="float32 or float64"):
        cm.exp(np.ones(3, np.int64), np.ones(3))
    with pytest.raises(ValueError):
        cm.exp(np.ones(3), np.ones(4))


def test_public_names() -> None:
    for name, fn in cm.FUNCTIONS.items():
        assert fn.__name__ == name
        assert fn.__doc__


def test_reference_backend_agrees() -> None:
    """The interpreter (NumPy's functions, exact FMA) gives the compiled kernel's values
    within a few ULP and the same special values."""
    v = np.array([0.0, -0.0, 5e-324, 1e-300, 0.3, -1.0, 2.5, -40.0, 800.0, 1e300, np.inf,
                  -np.inf, np.nan])
    a, b = (x.ravel() for x in np.meshgrid(v, v, indexing="ij"))
    for name, fn in cm.FUNCTIONS.items():
        if name == "power":
            continue  # exp(w log z) carries |w| times log's error, which differs
        parts = fn(la.asarray(a), la.asarray(b))
        compiled = la.eval(*parts, backend="cpu")
        reference = la.eval(*parts, backend="interp")
        for mine, ref in zip(compiled, reference, strict=True):
            ok = _agree(mine, ref, np.float64, 4.0)
            assert ok.all(), _report(name, np.float64, a, b, mine, ref, ok)
