"""Edge values through lazyarr and NumPy: IEEE specials, integer extremes and the operations
whose LLVM instruction is undefined where NumPy defines a value (division by zero,
``INT_MIN // -1``, over-wide shifts, float to int of NaN). Each case runs on every backend.

Most cases compare against NumPy and, where the value is well known, against a literal too.
Float to int casts and integer ``reciprocal(0)`` follow lazyarr's documented rule instead of
NumPy (whose values there are platform-defined). A few hypothesis properties close the file.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lazyarr as la

BACKENDS = ("interp", "cpu")
FLOATS = ("float32", "float64")
SIGNED = ("int8", "int16", "int32", "int64")
UNSIGNED = ("uint8", "uint16", "uint32", "uint64")
INTS = SIGNED + UNSIGNED


def evaluate_all(expr: Any) -> dict[str, np.ndarray]:
    return {backend: la.eval(expr, backend=backend) for backend in BACKENDS}


def same_floats(got: np.ndarray, want: np.ndarray, ulps: int = 0) -> bool:
    """Equal dtype and shape, NaN where NaN, equal signs of zero, at most ``ulps`` apart."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if not (np.isnan(got) == np.isnan(want)).all():
        return False
    if not (np.signbit(got) == np.signbit(want))[~np.isnan(want)].all():
        return False
    bits = np.dtype(f"int{8 * got.dtype.itemsize}")

    def ordered(v: np.ndarray) -> np.ndarray:
        raw = v.view(bits).astype(object)
        return np.where(raw < 0, -(raw & int(np.iinfo(bits).max)), raw)

    ok = ~np.isnan(want)
    return bool((abs(ordered(got[ok]) - ordered(want[ok])) <= ulps).all())


def assert_matches_numpy(lazy_fn: Callable[..., Any], numpy_fn: Callable[..., Any],
                         *args: np.ndarray, ulps: int = 0, zero_ties: bool = False) -> None:
    """lazyarr gives NumPy's dtype and values; ``zero_ties``: where NumPy is inconsistent
    about the sign of a zero (fmax and fmin of +0.0 and -0.0), only compare values there."""
    with np.errstate(all="ignore"):
        want = np.asarray(numpy_fn(*args))
    for backend, got in evaluate_all(lazy_fn(*(la.asarray(a) for a in args))).items():
        if want.dtype.kind == "f":
            if zero_ties:
                tie = (want == 0) & (got == 0)
                got, want = np.where(tie, 0, got).astype(got.dtype), np.where(tie, 0, want)
            assert same_floats(got, want, ulps), f"{backend}: {args} -> {got}, NumPy {want}"
        else:
            assert got.dtype == want.dtype and (got == want).all(), \
                f"{backend}: {args} -> {got}, NumPy {want}"


def float_specials(dt: str) -> np.ndarray:
    info = np.finfo(dt)
    sub = info.smallest_subnormal
    return np.array([
        math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, sub, -sub, info.tiny / 2,
        -info.tiny / 2, info.tiny, -info.tiny, info.max, -info.max, 1.0, -1.0, 0.5, -0.5,
        1.5, -1.5, 2.5, -2.5, 3.0, -7.0, 1e30, -1e30, info.eps, 1 - info.epsneg,
    ], dtype=dt)


def pairs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every ordered pair of ``values`` as two flat arrays."""
    x, y = np.meshgrid(values, values)
    return x.ravel().copy(), y.ravel().copy()


# -- IEEE specials -----------------------------------------------------------------------
FLOAT_UNARY = (
    "negative", "positive", "absolute", "exp", "expm1", "exp2", "log", "log1p", "log2",
    "log10", "sqrt", "cbrt", "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos",
    "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "floor", "ceil",
    "trunc", "rint", "sign", "isnan", "isinf", "isfinite", "signbit", "logical_not",
)
CORRECTLY_ROUNDED = frozenset({
    "negative", "positive", "absolute", "sqrt", "square", "reciprocal", "floor", "ceil",
    "trunc", "rint", "sign",
})


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("name", FLOAT_UNARY)
def test_unary_specials(name: str, dt: str) -> None:
    ulps = 0 if name in CORRECTLY_ROUNDED else 4
    assert_matches_numpy(getattr(la, name), getattr(np, name), float_specials(dt), ulps=ulps)


FLOAT_BINARY = (
    "add", "subtract", "multiply", "true_divide", "floor_divide", "remainder", "power",
    "arctan2", "hypot", "maximum", "minimum", "logaddexp", "copysign", "less", "equal",
    "not_equal", "greater_equal", "logical_and", "logical_xor",
)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("name", FLOAT_BINARY)
def test_binary_specials(name: str, dt: str) -> None:
    ulps = 4 if name in ("power", "arctan2", "hypot", "logaddexp") else 0
    assert_matches_numpy(getattr(la, name), getattr(np, name), *pairs(float_specials(dt)),
                         ulps=ulps)


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_specials(name: str, dt: str) -> None:
    # NumPy's array loops return the second argument for fmax(+0.0, -0.0) but its scalar
    # path the first (and C leaves it open): compare values, and zero signs only off zero ties
    x, y = pairs(float_specials(dt))
    want = getattr(np, name)(x, y)
    tie = (x == 0) & (y == 0)
    for backend, got in evaluate_all(getattr(la, name)(la.asarray(x), y)).items():
        assert same_floats(got[~tie], want[~tie]), backend
        assert (got[tie] == 0).all(), backend


SIGNED_ZEROS: list[tuple[str, Callable[[Any], Any], float, float]] = [
    ("-(+0)", operator.neg, 0.0, -0.0),
    ("-(-0)", operator.neg, -0.0, 0.0),
    ("floor(-0.5)", la.floor, -0.5, -1.0),
    ("ceil(-0.5)", la.ceil, -0.5, -0.0),
    ("trunc(-0.5)", la.trunc, -0.5, -0.0),
    ("rint(-0.5)", la.rint, -0.5, -0.0),
    ("rint(0.5)", la.rint, 0.5, 0.0),
    ("rint(-1.5)", la.rint, -1.5, -2.0),
    ("floor(-0.0)", la.floor, -0.0, -0.0),
    ("sqrt(-0)", la.sqrt, -0.0, -0.0),
    ("abs(-0)", abs, -0.0, 0.0),
    ("sign(-0)", la.sign, -0.0, 0.0),
    ("(-0)*1", lambda x: x * 1.0, -0.0, -0.0),
    ("0*-1", lambda x: x * -1.0, 0.0, -0.0),
    ("-0 + -0", lambda x: x + -0.0, -0.0, -0.0),
    ("-0 + 0", lambda x: x + 0.0, -0.0, 0.0),
    ("0 - 0", lambda x: x - 0.0, 0.0, 0.0),
    ("-0 / 5", lambda x: x / 5.0, -0.0, -0.0),
    ("1 / -inf", lambda x: 1.0 / x, -math.inf, -0.0),
    ("copysign(3, -0)", lambda x: la.copysign(3.0, x), -0.0, -3.0),
    ("copysign(0, -1)", lambda x: la.copysign(x, -1.0), 0.0, -0.0),
    ("copysign(-0, +nan)", lambda x: la.copysign(x, math.nan), -0.0, 0.0),
    ("-0 // 1", lambda x: x // 1.0, -0.0, -0.0),
    ("-0 % 1", lambda x: x % 1.0, -0.0, 0.0),
    ("0 % -1", lambda x: x % -1.0, 0.0, -0.0),
    ("-2 % 2", lambda x: x % 2.0, -2.0, 0.0),
    ("expm1(-0)", la.expm1, -0.0, -0.0),
    ("sin(-0)", la.sin, -0.0, -0.0),
    ("tanh(-0)", la.tanh, -0.0, -0.0),
    ("log1p(-0)", la.log1p, -0.0, -0.0),
    ("arctan2(-0, 1)", lambda x: la.arctan2(x, 1.0), -0.0, -0.0),
    ("arctan2(0, -1)", lambda x: la.arctan2(x, -1.0), 0.0, math.pi),
    ("arctan2(-0, -1)", lambda x: la.arctan2(x, -1.0), -0.0, -math.pi),
    ("max(nan, 1)", lambda x: la.maximum(x, 1.0), math.nan, math.nan),
    ("max(1, nan)", lambda x: la.maximum(1.0, x), math.nan, math.nan),
    ("fmax(nan, 1)", lambda x: la.fmax(x, 1.0), math.nan, 1.0),
    ("fmin(1, nan)", lambda x: la.fmin(1.0, x), math.nan, 1.0),
]


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize(("fn", "x", "want"), [c[1:] for c in SIGNED_ZEROS],
                         ids=[c[0] for c in SIGNED_ZEROS])
def test_known_values(fn: Callable[[Any], Any], x: float, want: float, dt: str) -> None:
    """Literal IEEE results (the sign of zero included), checked against NumPy too."""
    arr = np.full(5, x, dtype=dt)
    with np.errstate(all="ignore"):
        numpy_value = np.asarray(fn(arr))
    expected = np.full(5, want, dtype=dt)
    assert same_floats(numpy_value, expected), f"NumPy gives {numpy_value}"
    for backend, got in evaluate_all(fn(la.asarray(arr))).items():
        assert same_floats(got, expected), f"{backend}: {got}"


@pytest.mark.parametrize("dt", FLOATS)
def test_subnormals_survive(dt: str) -> None:
    """No flush-to-zero: subnormal inputs and results stay subnormal."""
    sub = np.finfo(dt).smallest_subnormal
    tiny = np.finfo(dt).tiny
    x = np.array([sub, 3 * sub, tiny / 4, -tiny / 2], dtype=dt)
    for backend, got in evaluate_all(la.asarray(x) * 1.0 + 0.0).items():
        assert same_floats(got, x), backend
    for backend, got in evaluate_all(la.asarray(x) / 2).items():
        assert same_floats(got, x / dt_type(dt)(2)), backend
    assert_matches_numpy(lambda a: a * np.asarray(0.5, dtype=dt), lambda a: a * dt_type(dt)(0.5),
                         np.array([tiny, tiny * 1.5, -tiny], dtype=dt))


def dt_type(dt: str) -> type:
    return np.dtype(dt).type


@pytest.mark.parametrize("dt", FLOATS)
def test_logaddexp_infinities(dt: str) -> None:
    inf, nan = math.inf, math.nan
    x = np.array([inf, -inf, inf, -inf, -inf, 3.0, nan, 1.0, -inf, 0.0], dtype=dt)
    y = np.array([inf, -inf, -inf, inf, 3.0, -inf, 1.0, nan, 0.0, 0.0], dtype=dt)
    want = np.array([inf, -inf, inf, inf, 3.0, 3.0, nan, nan, 0.0, math.log(2)], dtype=dt)
    with np.errstate(all="ignore"):
        assert same_floats(np.logaddexp(x, y), want, ulps=1)
    for backend, got in evaluate_all(la.logaddexp(la.asarray(x), y)).items():
        assert same_floats(got, want, ulps=1), f"{backend}: {got}"


# -- float // and % ----------------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("op", ["floor_divide", "remainder"])
def test_float_divmod_edges(op: str, dt: str) -> None:
    values = np.array([0.0, -0.0, 1.0, -1.0, 5.5, -5.5, 3.0, -3.0, 1e300 if dt == "float64"
                       else 1e38, 7e-300 if dt == "float64" else 7e-38, math.inf, -math.inf,
                       math.nan, np.finfo(dt).smallest_subnormal], dtype=dt)
    assert_matches_numpy(getattr(la, op), getattr(np, op), *pairs(values))


FLOAT_DIVMOD_KNOWN = [  # (x, y, x // y, x % y) as NumPy (and Python) define them
    (5.0, -3.0, -2.0, -1.0), (-5.0, 3.0, -2.0, 1.0), (-5.0, -3.0, 1.0, -2.0),
    (1.0, 0.0, math.inf, math.nan), (-1.0, 0.0, -math.inf, math.nan),
    (0.0, 0.0, math.nan, math.nan), (5.0, math.inf, 0.0, 5.0),
    (-5.0, math.inf, -1.0, math.inf), (5.0, -math.inf, -1.0, -math.inf),
    (math.inf, 2.0, math.nan, math.nan), (-0.0, 1.0, -0.0, 0.0), (7.5, 2.5, 3.0, 0.0),
]


@pytest.mark.parametrize("dt", FLOATS)
def test_float_divmod_known(dt: str) -> None:
    x, y, fd, md = (np.array(col, dtype=dt) for col in zip(*FLOAT_DIVMOD_KNOWN, strict=True))
    with np.errstate(all="ignore"):
        assert same_floats(np.floor_divide(x, y), fd) and same_floats(np.remainder(x, y), md)
    for backend in BACKENDS:
        got_fd = la.eval(la.asarray(x) // y, backend=backend)
        got_md = la.eval(la.asarray(x) % y, backend=backend)
        assert same_floats(got_fd, fd), f"{backend} //: {got_fd}"
        assert same_floats(got_md, md), f"{backend} %: {got_md}"


# -- integer extremes --------------------------------------------------------------------
def int_extremes(dt: str) -> np.ndarray:
    info = np.iinfo(dt)
    vals = [0, 1, 2, 3, 7, info.max, info.max - 1, info.max // 2]
    if info.min < 0:
        vals += [-1, -2, -3, -7, info.min, info.min + 1, info.min // 2]
    return np.array(vals, dtype=dt)


INT_BINARY = (
    "add", "subtract", "multiply", "floor_divide", "remainder", "maximum", "minimum",
    "bitwise_and", "bitwise_xor", "less", "greater_equal", "equal", "logical_or",
)


@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize("name", INT_BINARY)
def test_int_extremes(name: str, dt: str) -> None:
    """Every pair of extremes, including x // 0, x % 0 and INT_MIN // -1 (wraps to INT_MIN)."""
    assert_matches_numpy(getattr(la, name), getattr(np, name), *pairs(int_extremes(dt)))


@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize("name", ["negative", "absolute", "invert", "sign", "square",
                                  "logical_not", "isfinite", "signbit"])
def test_int_unary_extremes(name: str, dt: str) -> None:
    x = int_extremes(dt)
    if name == "signbit" and np.dtype(dt).itemsize == 1:
        pytest.skip("NumPy computes signbit of 8-bit ints in float16")
    assert_matches_numpy(getattr(la, name), getattr(np, name), x)


@pytest.mark.parametrize("dt", INTS)
def test_int_division_by_zero_and_overflow(dt: str) -> None:
    info = np.iinfo(dt)
    x = np.array([info.min, info.max, 0, 1, 7], dtype=dt)
    zero = np.zeros_like(x)
    for backend in BACKENDS:
        for expr in (la.asarray(x) // zero, la.asarray(x) % zero, la.asarray(x) // 0,
                     la.asarray(x) % 0):
            got = la.eval(expr, backend=backend)
            assert got.dtype == x.dtype and (got == 0).all(), f"{backend}: {got}"
    if info.min < 0:
        m = np.array([info.min, info.min], dtype=dt)
        with np.errstate(all="ignore"):
            want_q, want_r = m // dt_type(dt)(-1), m % dt_type(dt)(-1)
        assert (want_q == info.min).all() and (want_r == 0).all()
        minus1 = np.array([-1, -1], dtype=dt)
        for backend in BACKENDS:
            assert (la.eval(la.asarray(m) // minus1, backend=backend) == info.min).all()
            assert (la.eval(la.asarray(m) % minus1, backend=backend) == 0).all()
            assert (la.eval(la.asarray(m) // -1, backend=backend) == info.min).all()
            assert (la.eval(la.asarray(m) % -1, backend=backend) == 0).all()
            assert (la.eval(-la.asarray(m), backend=backend) == info.min).all()


@pytest.mark.parametrize("dt", INTS)
def test_int_wraparound(dt: str) -> None:
    info = np.iinfo(dt)
    x = np.array([info.max, info.min, info.max], dtype=dt)
    for backend in BACKENDS:
        got = la.eval(la.asarray(x) + dt_type(dt)(1), backend=backend)
        assert got.tolist() == [info.min, info.min + 1, info.min], backend
        got = la.eval(la.asarray(x) * dt_type(dt)(2), backend=backend)
        with np.errstate(all="ignore"):
            assert (got == x * dt_type(dt)(2)).all(), backend


def test_int64_uint64_comparisons_are_exact() -> None:
    """NumPy 2 has int64-with-uint64 comparison loops; -1 is below 2**64 - 1, not equal."""
    s = np.array([-1, -1, 0, 5, np.iinfo(np.int64).max, np.iinfo(np.int64).min], dtype=np.int64)
    u = np.array([2**64 - 1, 0, 0, 5, 2**63, 2**63 - 1], dtype=np.uint64)
    for name in ("less", "less_equal", "greater", "greater_equal", "equal", "not_equal"):
        assert_matches_numpy(getattr(la, name), getattr(np, name), s, u)
        assert_matches_numpy(getattr(la, name), getattr(np, name), u, s)
        assert_matches_numpy(getattr(la, name), getattr(np, name), u, s.astype(np.int8))


# -- shifts ------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize("name", ["left_shift", "right_shift"])
def test_shift_out_of_range(name: str, dt: str) -> None:
    """Shifts by >= the bit width give 0 (or -1 for negative >>); negative amounts too."""
    bits = 8 * np.dtype(dt).itemsize
    info = np.iinfo(dt)
    x = np.array([1, 5, info.max, info.min, 0] + ([-1, -4, info.min + 1] if info.min else []),
                 dtype=dt)
    amounts = [0, 1, bits - 1, bits, bits + 1, 2 * bits, int(info.max)]
    if info.min < 0:
        amounts += [-1, -bits, int(info.min)]
    xs, ns = (a.ravel().copy() for a in np.meshgrid(x, np.array(amounts, dtype=dt)))
    assert_matches_numpy(getattr(la, name), getattr(np, name), xs, ns)
    big = ns.astype(np.int64) >= bits
    negative = ns.astype(np.int64) < 0
    out_of_range = big | negative
    for backend, got in evaluate_all(getattr(la, name)(la.asarray(xs), ns)).items():
        if name == "left_shift":
            assert (got[out_of_range] == 0).all(), backend
        else:
            want = np.where(xs < 0, -1, 0).astype(dt)[out_of_range]
            assert (got[out_of_range] == want).all(), backend


# -- integer power -----------------------------------------------------------------------
@pytest.mark.parametrize("dt", SIGNED)
def test_negative_integer_power_raises(dt: str) -> None:
    x = np.array([2, 3, 4], dtype=dt)
    e = np.array([1, -1, 2], dtype=dt)
    with pytest.raises(ValueError):
        np.power(x, e)
    for backend in BACKENDS:
        for build in (lambda: la.asarray(x) ** e, lambda: la.asarray(x) ** -1,
                      lambda: la.power(la.asarray(x), dt_type(dt)(-2)),
                      lambda: la.asarray(x) ** la.asarray(np.array(-3, dtype=dt)),
                      lambda: 2 ** la.asarray(e)):
            with pytest.raises(ValueError, match="negative integer powers"):
                la.eval(build(), backend=backend)


@pytest.mark.parametrize("dt", INTS)
def test_integer_power_values(dt: str) -> None:
    info = np.iinfo(dt)
    x = np.array([0, 1, 2, 3, 7, info.max, info.min, info.max - 1] +
                 ([-1, -2, -3] if info.min else []), dtype=dt)
    e = np.array([0, 1, 2, 3, 5, 8, 17, 63, 64, 127, info.max], dtype=dt)
    xs, es = (a.ravel().copy() for a in np.meshgrid(x, e))
    assert_matches_numpy(la.power, np.power, xs, es)
    for backend, got in evaluate_all(la.asarray(np.zeros(3, dt)) ** 0).items():
        assert (got == 1).all(), backend  # 0 ** 0 == 1


def test_zero_size_negative_power_does_not_raise() -> None:
    """NumPy checks exponents element by element: nothing to check, nothing raised."""
    x = np.array([], dtype=np.int64)
    assert np.power(x, np.array([], dtype=np.int64)).shape == (0,)
    for backend in BACKENDS:
        assert la.eval(la.asarray(x) ** la.asarray(x), backend=backend).shape == (0,)


@pytest.mark.parametrize("dt", FLOATS)
def test_power_one_half_special_values(dt: str) -> None:
    """x ** 0.5 at -inf and -0.0: NumPy's float power loop takes sqrt for a scalar exponent
    (nan, -0.0) and C's pow for an exponent array (inf, +0.0)."""
    x = np.array([-math.inf, -0.0, 4.0, math.nan], dtype=dt)
    half = dt_type(dt)(0.5)
    with np.errstate(all="ignore"):
        by_sqrt, by_pow = np.power(x, half), np.power(x, np.full(4, half))
    assert same_floats(by_sqrt, np.array([math.nan, -0.0, 2.0, math.nan], dtype=dt))
    assert same_floats(by_pow, np.array([math.inf, 0.0, 2.0, math.nan], dtype=dt))
    for exponent in (0.5, half):
        for backend, got in evaluate_all(la.asarray(x) ** exponent).items():
            assert same_floats(got, by_sqrt), f"{backend}: {got}"
    for backend, got in evaluate_all(la.asarray(x) ** la.asarray(np.full(4, half))).items():
        assert same_floats(got, by_pow), f"{backend}: {got}"
    # NumPy also takes sqrt for a 0-d array exponent (its inner loop sees stride 0); lazyarr
    # reads a 0-d array at evaluation time, so it cannot specialise on its value: pow there
    for backend, got in evaluate_all(la.asarray(x) ** la.asarray(np.array(half))).items():
        assert same_floats(got, by_pow), f"{backend}: {got}"


# -- large arrays (several threads, vector loops, chunk boundaries) -------------------------
LARGE_EXPRESSIONS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "exp_sin": lambda m, a, b: m.exp(-m.abs(a)) * m.sin(b),
    "divmod": lambda m, a, b: (a // (b + 0.5)) + a % 3.0,
    "pow_where": lambda m, a, b: m.where(a > 0, m.abs(a) ** b, m.logaddexp(a, b)),
    "int_ops": lambda m, a, b: ((a * 1000).astype("int32") // 7) ^ (b * 100).astype("int32"),
}


@pytest.mark.parametrize("layout", ["contig", "transposed"])
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("name", sorted(LARGE_EXPRESSIONS))
def test_large_arrays(name: str, dt: str, layout: str) -> None:
    rng = np.random.default_rng(11)
    a, b = (rng.uniform(-4, 4, size=(601, 499)).astype(dt) for _ in range(2))
    if layout == "contig":
        a, b = a.ravel(), b.ravel()
    else:
        a, b = a.T, b[::-1].T
    fn = LARGE_EXPRESSIONS[name]
    with np.errstate(all="ignore"):
        want = fn(np, a, b)
    for backend, got in evaluate_all(fn(la, la.asarray(a), la.asarray(b))).items():
        assert got.shape == want.shape and got.dtype == want.dtype, backend
        if want.dtype.kind != "f":
            assert (got == want).all(), backend
            continue
        # exp, sin, pow and log1p differ from NumPy's by a few ULP, which the sums amplify
        np.testing.assert_allclose(got, want, rtol=64 * np.finfo(dt).eps,
                                   atol=64 * np.finfo(dt).eps, err_msg=backend)


# -- unsupported dtypes ----------------------------------------------------------------------
def test_unsupported_dtypes_raise_type_error_at_build_time() -> None:
    x = la.asarray(np.arange(3.0))
    for build in (lambda: la.asarray(np.ones(3, np.longdouble)),
                  lambda: la.asarray(np.ones(3, np.clongdouble)),
                  lambda: x + np.longdouble(1), lambda: x.astype(np.longdouble),
                  lambda: la.asarray(np.ones(3, "datetime64[s]"))):
        with pytest.raises(TypeError):
            build()


# -- casts -------------------------------------------------------------------------------
def documented_cast(values: list[float], dt: str) -> np.ndarray:
    """lazyarr's rule: NaN -> 0, truncate, saturate to the integer type's range."""
    lo, hi = int(np.iinfo(dt).min), int(np.iinfo(dt).max)
    out = [0 if math.isnan(v) else hi if v == math.inf else lo if v == -math.inf
           else min(hi, max(lo, math.trunc(v))) for v in values]
    return np.array(out, dtype=dt)


CAST_SOURCES = [
    math.nan, math.inf, -math.inf, 0.0, -0.0, 0.5, -0.5, 0.999, -0.999, 1.5, -1.5, 127.9,
    128.0, -128.0, -128.9, -129.0, 255.5, 256.0, 32767.0, 32768.0, -32769.0, 65535.9, 65536.0,
    2147483520.0, 2147483648.0, -2147483648.0, -2147483904.0, 4294967040.0, 4294967296.0,
    9223371487098961920.0, 9223372036854775808.0, -9223372036854775808.0,
    -9223373136366403584.0, 18446742974197923840.0, 18446744073709551616.0, 1e30, -1e30,
    3.4e38, -3.4e38, 1e300, -1e300, 5e-324,
]


@pytest.mark.parametrize("src", FLOATS)
@pytest.mark.parametrize("dst", INTS)
def test_float_to_int_cast_rule(src: str, dst: str) -> None:
    values = np.array([v for v in CAST_SOURCES if src == "float64" or abs(v) < 3.5e38 or
                       math.isinf(v) or math.isnan(v)], dtype=src)
    want = documented_cast(values.tolist(), dst)
    for kind, arr in (("contig", values), ("strided", np.repeat(values, 2)[::2]),
                      ("negstride", values[::-1].copy()[::-1])):
        for backend, got in evaluate_all(la.asarray(arr).astype(dst)).items():
            bad = got != want
            assert not bad.any(), f"{backend} {kind}: {values[bad]} -> {got[bad]}, not {want[bad]}"
    # the rule also holds for casts inside a larger expression and for scalars
    for backend, got in evaluate_all((la.asarray(values) * 1.0).astype(dst) + 0).items():
        assert (got == want.astype(got.dtype)).all(), backend
    for backend, got in evaluate_all(la.asarray(np.array(math.nan, dtype=src)).astype(dst)
                                     ).items():
        assert got.shape == () and got == 0, backend


def test_in_range_casts_match_numpy() -> None:
    """Where NumPy's float to int cast is defined (in range) lazyarr gives the same value."""
    rng = np.random.default_rng(5)
    for dst in INTS:
        info = np.iinfo(dst)
        for src in FLOATS:
            values = rng.uniform(float(info.min), float(info.max), 64).astype(src)
            values = values[(values > info.min) & (values < float(info.max) * 0.99)]
            want = values.astype(dst)
            for backend, got in evaluate_all(la.asarray(values).astype(dst)).items():
                assert (got == want).all(), f"{backend} {src}->{dst}"


def test_integer_reciprocal_rule() -> None:
    """Documented: integer reciprocal is 1 // x, and 0 at x == 0."""
    for dt in INTS:
        x = int_extremes(dt)
        want = np.array([0 if v == 0 else (1 if v == 1 else -1 if v == -1 else 0)
                         for v in x.tolist()], dtype=dt)
        for backend, got in evaluate_all(la.reciprocal(la.asarray(x))).items():
            assert got.dtype == want.dtype and (got == want).all(), f"{backend} {dt}: {got}"


# -- Python scalars at the edge of their types ---------------------------------------------
@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64])
def test_bool_loop_python_int_overflow(value: int) -> None:
    """NumPy converts a Python int for a bool loop through a C long: outside int64 it raises."""
    for arr in (np.array([True, False]), np.array([1.0, 0.0]), np.array([1, 0], np.uint64)):
        with pytest.raises(OverflowError):
            np.logical_and(arr, value)
        with pytest.raises(OverflowError):
            la.eval(la.logical_and(la.asarray(arr), value))


@pytest.mark.parametrize("dt", ["uint8", "int8", "uint64", "int64"])
def test_out_of_range_python_int_arithmetic_raises(dt: str) -> None:
    x = la.asarray(np.array([1, 2], dtype=dt))
    for bad in (-1 if dt.startswith("u") else 2**70, 2**70):
        with pytest.raises(OverflowError):
            np.add(np.array([1, 2], dtype=dt), bad)
        with pytest.raises(OverflowError):
            la.eval(x + bad)


def test_where_condition_truthiness() -> None:
    """Any dtype is a condition: NaN and -0.0 are as NumPy reads them (True, False)."""
    cond = np.array([math.nan, 0.0, -0.0, 2.0, -math.inf])
    x, y = np.arange(5, dtype=np.int16), np.full(5, -1, dtype=np.int16)
    want = np.where(cond, x, y)
    assert want.tolist() == [0, -1, -1, 3, 4]
    for backend, got in evaluate_all(la.where(la.asarray(cond), x, y)).items():
        assert got.dtype == want.dtype and (got == want).all(), backend


@pytest.mark.parametrize("dt", FLOATS)
def test_clip_nan(dt: str) -> None:
    x = np.array([math.nan, 1.0, -5.0, 5.0, -0.0], dtype=dt)
    for lo, hi in ((-1.0, 1.0), (math.nan, 1.0), (-1.0, math.nan), (1.0, -1.0)):
        with np.errstate(all="ignore"):
            want = np.clip(x, lo, hi)
        for backend, got in evaluate_all(la.clip(la.asarray(x), lo, hi)).items():
            assert same_floats(got[1:], want[1:]) and np.isnan(got[0]), f"{backend}: {lo, hi}"


@pytest.mark.parametrize(("lo", "hi"), [(-1000, 1000), (None, 1000), (-5, None), (-5, 3)])
def test_clip_out_of_range_python_int_bounds(lo: int | None, hi: int | None) -> None:
    """np.clip drops a Python int bound beyond the integer dtype's range instead of raising."""
    x = np.array([1, 2, 200], dtype=np.uint8)
    want = np.clip(x, lo, hi)
    for backend, got in evaluate_all(la.clip(la.asarray(x), lo, hi)).items():
        assert got.dtype == want.dtype and (got == want).all(), backend


# -- hypothesis properties ---------------------------------------------------------------
BINARY_OPS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "+": lambda m, a, b: a + b,
    "-": lambda m, a, b: a - b,
    "*": lambda m, a, b: a * b,
    "/": lambda m, a, b: a / b,
    "max": lambda m, a, b: m.maximum(a, b),
    "min": lambda m, a, b: m.minimum(a, b),
}

LEAVES = ("x", "y", "z", "1.5", "-0.0")


def _tree(leaf: st.SearchStrategy) -> st.SearchStrategy:
    def extend(children: st.SearchStrategy) -> st.SearchStrategy:
        binary = st.tuples(st.sampled_from(sorted(BINARY_OPS)), children, children)
        where = st.tuples(st.just("where"), children, children, children, children)
        return binary | where

    return st.recursive(leaf, extend, max_leaves=8)


def build_tree(tree: Any, m: Any, env: dict[str, Any]) -> Any:
    if isinstance(tree, str):
        # constants are NumPy scalars: Python would evaluate 1.5 / -0.0 itself (and raise)
        return env[tree] if tree in env else np.float64(tree)
    if tree[0] == "where":
        a, b, c, d = (build_tree(t, m, env) for t in tree[1:])
        return m.where(a < b, c, d)
    a, b = build_tree(tree[1], m, env), build_tree(tree[2], m, env)
    return BINARY_OPS[tree[0]](m, a, b)


def _has_array(tree: Any) -> bool:
    if isinstance(tree, str):
        return tree in ("x", "y", "z")
    return any(_has_array(t) for t in tree[1:])


float_arrays = hnp.arrays(np.float64, st.integers(1, 12),
                          elements=st.floats(allow_nan=True, allow_infinity=True, width=64))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=_tree(st.sampled_from(LEAVES)), x=float_arrays, data=st.data())
def test_property_float_expressions(tree: Any, x: np.ndarray, data: st.DataObject) -> None:
    """Random trees of + - * / maximum minimum where: cpu == interp == NumPy, bit for bit."""
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=st.floats(width=64)))
    z = data.draw(hnp.arrays(np.float64, (1,), elements=st.floats(-1e3, 1e3)))
    env = {"x": x, "y": y, "z": z}
    with np.errstate(all="ignore"):  # constant subtrees are computed by NumPy in both
        want = np.asarray(build_tree(tree, np, env))
        expr = build_tree(tree, la, {k: la.asarray(v) for k, v in env.items()})
        if not _has_array(tree):
            expr = la.asarray(np.asarray(0.0)) + expr  # a NumPy scalar is not an expression
            want = np.asarray(0.0 + want)
    for backend, got in evaluate_all(expr).items():
        assert same_floats(got, want), f"{backend}: {tree}"


int_dtypes = st.sampled_from([np.dtype(d) for d in INTS])

INT_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "//": operator.floordiv,
    "%": operator.mod, "&": operator.and_, "^": operator.xor, "<<": operator.lshift,
    ">>": operator.rshift,
}


@settings(max_examples=40, deadline=None)
@given(dt=int_dtypes, data=st.data())
def test_property_integer_ops(dt: np.dtype, data: st.DataObject) -> None:
    """Integer ops with any values (zero divisors, extremes, any shift amount): exact."""
    shape = data.draw(st.integers(1, 10))
    x = data.draw(hnp.arrays(dt, shape))
    y = data.draw(hnp.arrays(dt, shape))
    names = data.draw(st.lists(st.sampled_from(sorted(INT_OPS)), min_size=1, max_size=3))
    lazy, want = la.asarray(x), x
    with np.errstate(all="ignore"):
        for name in names:
            lazy, want = INT_OPS[name](lazy, y), INT_OPS[name](want, y)
    for backend, got in evaluate_all(lazy).items():
        assert got.dtype == want.dtype and (got == want).all(), f"{backend}: {names}"


ANY_DTYPE = st.sampled_from([np.dtype(d) for d in ("bool", *INTS, *FLOATS)])
ALL_BINARY = (
    "add", "subtract", "multiply", "true_divide", "floor_divide", "remainder", "power", "less",
    "less_equal", "greater", "greater_equal", "equal", "not_equal", "bitwise_and", "bitwise_or",
    "bitwise_xor", "left_shift", "right_shift", "arctan2", "hypot", "maximum", "minimum",
    "fmax", "fmin", "logaddexp", "copysign", "logical_and", "logical_or", "logical_xor",
)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(ALL_BINARY), dx=ANY_DTYPE, dy=ANY_DTYPE, data=st.data())
def test_property_any_binary_op(name: str, dx: np.dtype, dy: np.dtype,
                                data: st.DataObject) -> None:
    """Any binary function on any two dtypes and any values: NumPy's dtype and values (or its
    exception, or TypeError where NumPy computes in float16)."""
    x = data.draw(hnp.arrays(dx, st.integers(1, 9)))
    y = data.draw(hnp.arrays(dy, x.shape))
    if name == "power" and y.dtype.kind == "i":
        y = np.abs(y)  # negative integer powers raise: tested above
    ulps = 4 if name in ("power", "arctan2", "hypot", "logaddexp") else 0
    with np.errstate(all="ignore"):
        try:
            want = getattr(np, name)(x, y)
        except TypeError:
            with pytest.raises(TypeError):
                getattr(la, name)(la.asarray(x), y)
            return
    if want.dtype == np.float16 or np.float16 in getattr(np, name).resolve_dtypes(
            (x.dtype, y.dtype, None)):
        # computed in float32 and rounded, as NumPy: within an ULP of its float16 loops
        # (test_float16.py has the exact cases; np.power's float16 loop lacks sqrt's path)
        if name == "power":
            return
        ulps = max(ulps, 1)
    assert_matches_numpy(getattr(la, name), getattr(np, name), x, y, ulps=ulps,
                         zero_ties=name in ("fmax", "fmin"))


@settings(max_examples=30, deadline=None)
@given(x=hnp.arrays(np.float64, st.integers(1, 16),
                    elements=st.floats(allow_nan=True, allow_infinity=True)),
       dst=int_dtypes)
def test_property_float_to_int_cast(x: np.ndarray, dst: np.dtype) -> None:
    want = documented_cast(x.tolist(), str(dst))
    for backend, got in evaluate_all(la.asarray(x).astype(dst)).items():
        assert (got == want).all(), backend
