"""``x ** n`` for an integral scalar n on float arrays: repeated squaring (``Op.POWER_INT``).

Canonicalisation turns a float POWER whose exponent is an integral scalar, |n| <=
``canon.POWER_INT_MAX``, into POWER_INT with n in the node (and the loop IR instruction): the
kernel unrolls the squarings for that n (``codegen/mathlib.py``, ``int_power``; n = 3 is
``x*x*x`` in the working precision). Checked here: which expressions are rewritten (and that
NumPy's dtype rules and the other fast paths are untouched), values against NumPy on every
backend (random data, special values, broadcast, strided and fused inputs), the error of the
compiled code against mpmath (``LAZYARR_TEST_EXAMPLES`` random points per case, default 2000,
plus the hard cases at the edges of the format: half an ULP, n = 3 under 2 ULP, also against
an exact reference on a million bases), and the generated code (no pow call, FMA where the CPU
has it, vector code, one kernel per n).
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np
import pytest
from kernel_cases import kernel_of
from lazyarr.backends import cpu as cpu_backend
from lazyarr.backends import diskcache
from lazyarr.codegen import cpu, mathlib, mathlib_pow, nvptx

import lazyarr as la
from lazyarr.front import canon
from lazyarr.ir.graph import Node, Op
from lazyarr.run import rebind

BACKENDS = ("interp", "cpu")
FLOATS = ("float32", "float64")
# exponents of the differential tests: NumPy's fast paths (2, -1) among them
EXPONENTS = (*range(-8, 17), 31, 32, 100, 485, 1000, -100, -1000, canon.POWER_INT_MAX,
             -canon.POWER_INT_MAX)
# exponents of the mpmath test: short and long chains, both scalings of float64
ULP_EXPONENTS = (-1022, -485, -100, -31, -7, -3, -2, 3, 4, 5, 16, 31, 32, 100, 484, 485, 1000,
                 1022)
EXAMPLES = int(os.environ.get("LAZYARR_TEST_EXAMPLES") or 2000)


def node_of(expr: Any) -> Node:
    return expr._node


def evaluate_all(expr: Any) -> dict[str, np.ndarray]:
    return {backend: la.eval(expr, backend=backend) for backend in BACKENDS}


def ulps_apart(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Representable floats between ``a`` and ``b`` (finite, same dtype; +0 and -0 equal)."""
    ity = np.dtype(f"int{8 * a.dtype.itemsize}")

    def ordered(v: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(v).view(ity).astype(object)
        return np.where(raw < 0, -(raw & int(np.iinfo(ity).max)), raw)

    return np.abs(ordered(a) - ordered(b)).astype(np.float64)


def assert_like_numpy(got: np.ndarray, want: np.ndarray, ulps: int = 2, what: str = "") -> None:
    """Same dtype and shape, NaN, infinities and zeros (with their signs) where NumPy has
    them, finite values at most ``ulps`` apart."""
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype)
    special = ~np.isfinite(want) | (want == 0) | ~np.isfinite(got) | (got == 0)
    same = (got == want) & (np.signbit(got) == np.signbit(want)) | np.isnan(got) & np.isnan(want)
    bad = special & ~same
    assert not bad.any(), f"{what}: {got[bad][:5]} where NumPy has {want[bad][:5]}"
    finite = ~special
    if finite.any():
        dist = ulps_apart(got[finite], want[finite])
        k = int(np.argmax(dist))
        assert dist[k] <= ulps, (f"{what}: {dist[k]} ULP apart: {got[finite][k]!r} vs NumPy "
                                 f"{want[finite][k]!r}")


def sample(dt: str, size: int = 4000, seed: int = 0) -> np.ndarray:
    """Normal data, values near 1, log-uniform magnitudes over the whole format, specials."""
    rng = np.random.default_rng(seed)
    info = np.finfo(dt)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, float(info.max),
               -float(info.max), float(info.tiny), float(info.smallest_subnormal), 2.0, -0.5]
    q = size // 3
    log = np.exp2(rng.uniform(math.log2(info.smallest_subnormal), 128 if dt == "float32"
                              else 1024, size - 2 * q)) * rng.choice([-1, 1], size - 2 * q)
    return np.concatenate([rng.standard_normal(q) * 4, rng.uniform(0.9, 1.1, q), log,
                           special]).astype(dt)


# -- which expressions are rewritten ------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("exponent", [3, 3.0, -7, 0, 1, -2, 1000, -1022, 0.0, -0.0])
def test_integral_scalar_exponent_becomes_power_int(dt: str, exponent: float) -> None:
    x = la.asarray(np.ones(5, dt))
    for e in (exponent, np.dtype(dt).type(exponent)):
        node = node_of(x ** e)
        assert node.op is Op.POWER_INT and node.arg == int(exponent), (e, node.op)
        assert type(node.arg) is int and node.dtype == np.dtype(dt)
        assert node.src == (node_of(x),)  # the exponent is no source: it is in the kernel
    assert node_of(la.power(x, exponent)).op is Op.POWER_INT
    assert node_of(np.power(x, exponent)).op is Op.POWER_INT


@pytest.mark.parametrize("dt", FLOATS)
def test_numpy_fast_paths_are_kept(dt: str) -> None:
    x = la.asarray(np.ones(5, dt))
    assert node_of(x ** 2).op is Op.SQUARE
    assert node_of(x ** 0.5).op is Op.SQRT
    assert node_of(x ** -1).op is Op.RECIPROCAL
    assert node_of(x ** -1.0).op is Op.RECIPROCAL


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("exponent", [3.5, -0.25, 1023, -1023, 2**24 + 1, 10**30, -(10**30),
                                      math.inf, -math.inf, math.nan])
def test_other_exponents_take_the_general_pow(dt: str, exponent: float) -> None:
    x = la.asarray(np.array([0.5, 1.5, -2.0, 0.0, np.inf, np.nan], dt))
    expr = x ** exponent
    assert node_of(expr).op is Op.POWER
    with np.errstate(all="ignore"):
        want = np.power(x.eval(), exponent)
    for backend, got in evaluate_all(expr).items():
        assert_like_numpy(got, want, 4, backend)


def test_array_exponents_take_the_general_pow() -> None:
    x = la.asarray(np.array([0.5, 1.5, -2.0]))
    assert node_of(x ** la.asarray(np.array(3.0))).op is Op.POWER  # a 0-d array is data
    assert node_of(x ** la.asarray(np.full(3, 3.0))).op is Op.POWER


@pytest.mark.parametrize(("base", "exponent", "kind"), [
    ("float32", 3, Op.POWER_INT),  # NEP 50: a Python int is weak, float32 stays
    ("float32", 3.0, Op.POWER_INT),
    ("float32", np.float64(3), Op.POWER_INT),  # a NumPy scalar is strong: float64
    ("float64", np.float32(3), Op.POWER_INT),
    ("int32", 3.0, Op.POWER_INT),  # float64 loop on the cast base
    ("int64", 3, Op.POWER),  # integer loop: exact, wraps
    ("uint8", 3, Op.POWER),
    ("int16", np.int16(5), Op.POWER),
    ("bool", 3, Op.POWER),
])
def test_numpy_dtype_rules_decide(base: str, exponent: Any, kind: Op) -> None:
    """The rewrite happens after NumPy's type resolution, on a float loop only."""
    xn = np.array([0, 1, 2, 3, 5, 7]).astype(base)
    expr = la.asarray(xn) ** exponent
    want = np.power(xn, exponent)
    assert expr.dtype == want.dtype
    assert node_of(expr).op is kind
    for backend, got in evaluate_all(expr).items():
        if want.dtype.kind == "f":
            assert_like_numpy(got, want, 0, backend)  # small integers: exact
        else:
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype


def test_integer_power_keeps_its_wrap_around() -> None:
    xn = np.array([3, -7, 1 << 20, 255], np.int64)
    for backend, got in evaluate_all(la.asarray(xn) ** 5).items():
        np.testing.assert_array_equal(got, xn ** 5, backend)


def test_power_int_limit_fits_the_algorithm() -> None:
    assert 0 < canon.POWER_INT_MAX <= mathlib.INT_POWER_MAX
    with pytest.raises(ValueError, match="general pow"):
        mathlib.int_power(None, None, mathlib.INT_POWER_MAX + 1)  # type: ignore[arg-type]


# -- values against NumPy -----------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("n", EXPONENTS)
def test_matches_numpy(dt: str, n: int) -> None:
    xn = sample(dt, seed=abs(n))
    with np.errstate(all="ignore"):
        want = np.power(xn, np.dtype(dt).type(n))
    for backend, got in evaluate_all(la.asarray(xn) ** n).items():
        # both within 1 ULP of the exact value (NumPy's float32 power: about 1 ULP)
        assert_like_numpy(got, want, 2, f"{backend} {dt} x**{n}")


SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5]


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("n", [-5, -4, -3, -2, 0, 1, 3, 4, 5, 6, 7, 1000, -1000, 1001])
def test_special_values_equal_numpy(dt: str, n: int) -> None:
    """Zeros, infinities and NaN give exactly NumPy's results: (-0.0)**-3 == -inf,
    (-inf)**3 == -inf, 0**-2 == inf, nan**0 == 1, and overflow to +-inf."""
    info = np.finfo(dt)
    edges = [float(info.max), float(info.smallest_subnormal)]
    xn = np.array([*SPECIALS, *edges, *(-v for v in edges)], dtype=dt)
    with np.errstate(all="ignore"):
        want = np.power(xn, np.dtype(dt).type(n))
    for backend, got in evaluate_all(la.asarray(xn) ** n).items():
        assert_like_numpy(got, want, 0, f"{backend} {dt} x**{n}")


@pytest.mark.parametrize("dt", FLOATS)
def test_nan_comes_back_as_nan(dt: str) -> None:
    xn = np.array([np.nan, -np.nan], dt)
    for n in (1, 3, -3, 4):
        for backend, got in evaluate_all(la.asarray(xn) ** n).items():
            assert np.isnan(got).all(), (backend, n, got)
    for backend, got in evaluate_all(la.asarray(xn) ** 0).items():
        np.testing.assert_array_equal(got, [1, 1], backend)  # NumPy: x**0 == 1, NaN too


@pytest.mark.parametrize("dt", FLOATS)
def test_broadcast_strided_and_fused(dt: str) -> None:
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 1)).astype(dt)
    b = rng.standard_normal(5).astype(dt)
    big = rng.standard_normal((8, 12)).astype(dt)
    c1, c2 = math.sqrt(2 / math.pi), 0.044715
    cases = {
        "broadcast": (lambda m, x, y: x ** 3 + y ** -2, (a, b)),
        "reversed": (lambda m, x, y: x[::-3] ** 5 - y, (big[:, 0], big[0, :3])),
        "transposed": (lambda m, x, y: x.T ** 7 * y, (big, big.T)),
        "0-d": (lambda m, x, y: x ** 4 + y, (np.array(1.5, dt), b)),
        "gelu": (lambda m, x, y: 0.5 * x * (1 + m.tanh(c1 * (x + c2 * x ** 3))) + y ** 4,
                 (big, big[::-1])),
        "nested": (lambda m, x, y: ((x ** 3) ** -3 + m.exp(y) ** 2) ** 4, (a, b)),
    }
    for name, (fn, args) in cases.items():
        with np.errstate(all="ignore"):
            want = np.asarray(fn(np, *args))
        # several roundings of different functions (and tanh near -1 in GELU): compare to
        # the scale of the result
        eps = float(np.finfo(dt).eps)
        atol = 64 * eps * float(np.abs(want[np.isfinite(want)]).max())
        for backend, got in evaluate_all(fn(la, *(la.asarray(v) for v in args))).items():
            assert got.dtype == want.dtype and got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=64 * eps, atol=atol,
                                       err_msg=f"{name} {backend}")


@pytest.mark.parametrize("dt", FLOATS)
def test_into_a_strided_out(dt: str) -> None:
    xn = sample(dt, 600)
    out = np.full((len(xn), 2), 7, dt)
    la.eval(la.asarray(xn) ** -3, out=out[:, 1])
    with np.errstate(all="ignore"):
        assert_like_numpy(out[:, 1], np.power(xn, np.dtype(dt).type(-3)), 2, "out=")
    assert (out[:, 0] == 7).all()


# -- error against mpmath -----------------------------------------------------------------
def _edges(dt: str, n: int) -> np.ndarray:
    """Bases whose n-th power is near the largest float, the overflow threshold, the
    smallest normal and subnormal and the rounding-to-zero threshold (both signs)."""
    info = np.finfo(dt)
    p, emin, emax = info.nmant + 1, info.minexp, info.maxexp - 1
    with mpmath.workprec(200):
        targets = [mpmath.ldexp(2 - mpmath.ldexp(1, 1 - p), emax),
                   mpmath.ldexp(2 - mpmath.ldexp(1, -p), emax), mpmath.ldexp(1, emin),
                   mpmath.ldexp(1, emin - p + 1), mpmath.ldexp(1, emin - p)]
        roots = [float(mpmath.root(t, abs(n)) ** (1 if n > 0 else -1)) for t in targets]
    ity = np.int32 if dt == "float32" else np.int64
    base = np.array(roots, dt).view(ity)
    near = (base[:, None] + np.arange(-8, 9, dtype=ity)[None, :]).ravel().view(dt)
    return np.concatenate([near, -near])


def _random(dt: str, n: int, count: int) -> np.ndarray:
    """Log-uniform magnitudes over the bases of finite nonzero results, and values near 1."""
    info = np.finfo(dt)
    p, emin, emax = info.nmant + 1, info.minexp, info.maxexp - 1
    lo, hi = sorted(((emin - p - 1) / n, (emax + 1) / n))
    rng = np.random.default_rng([abs(n), n < 0, len(dt)])
    x = np.concatenate([np.exp2(rng.uniform(lo, hi, count - count // 4)),
                        rng.uniform(0.5, 2.0, count // 4)])
    return (x * rng.choice([-1, 1], count)).astype(dt)


def ulp_errors(xn: np.ndarray, got: np.ndarray, n: int) -> tuple[float, float, list[str]]:
    """(max ULP of normal results, of subnormal results, class errors) against mpmath."""
    info = np.finfo(xn.dtype)
    p, emin, emax = info.nmant + 1, info.minexp, info.maxexp - 1
    worst, worst_sub, wrong = 0.0, 0.0, []
    with mpmath.workprec(160):
        overflow = mpmath.ldexp(2 - mpmath.ldexp(1, -p), emax)
        to_zero = mpmath.ldexp(1, emin - p)
        for x, g in zip(xn.tolist(), got.tolist(), strict=True):
            exact = mpmath.mpf(x) ** n
            if abs(exact) >= overflow:
                if not (math.isinf(g) and (g < 0) == (exact < 0)):
                    wrong.append(f"{x!r}**{n} = {g!r}, exact {exact} overflows")
                continue
            if not math.isfinite(g):
                wrong.append(f"{x!r}**{n} = {g!r}, exact {exact}")
                continue
            if g == 0 and abs(exact) <= to_zero:
                if math.copysign(1, g) != (-1 if exact < 0 else 1):
                    wrong.append(f"{x!r}**{n} = {g!r}: sign of zero")
                continue
            man, exp = exact.man_exp
            top = exp + int(man).bit_length() - 1
            err = float(mpmath.ldexp(abs(mpmath.mpf(g) - exact), p - 1 - max(top, emin)))
            if top < emin:
                worst_sub = max(worst_sub, err)
            else:
                worst = max(worst, err)
    return worst, worst_sub, wrong


def compiled_power(xn: np.ndarray, n: int) -> np.ndarray:
    """``xn ** n`` by the CPU backend's code (the interp backend calls ``np.power``)."""
    return la.eval(la.asarray(xn) ** n, backend="cpu")


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("n", ULP_EXPONENTS)
def test_error_against_mpmath(dt: str, n: int) -> None:
    xn = np.concatenate([_random(dt, n, EXAMPLES), _edges(dt, n)])
    got = compiled_power(xn, n)
    worst, worst_sub, wrong = ulp_errors(xn, got, n)
    assert not wrong, wrong[:5]
    assert max(worst, worst_sub) <= 2.0, (worst, worst_sub)  # the contract (README)
    if n == 3:
        # x*x*x in the working precision, two roundings: under 2 ULP for normal results and
        # under 1 for subnormal ones (the proof in codegen/mathlib_pow.py)
        assert worst < 2.0, f"x**3 {dt}: {worst} ULP (normal results)"
        assert worst_sub < 1.0, f"x**3 {dt}: {worst_sub} ULP (subnormal results)"
        return
    # what docs/math.md reports: normal results correctly rounded (the double word's error
    # is about |n| * 2**-104 relative); float64 subnormal results rounded twice (the double
    # word, then the scaling): at most 3/4 ULP
    assert worst <= 0.5 + 1e-6, worst
    assert worst_sub <= (0.5 if dt == "float32" else 0.75) + 1e-6, worst_sub


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a * b == hi + lo exactly in float64 (Dekker's product with Veltkamp's split: NumPy
    has no FMA); the operands well inside the range."""

    def split(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = v * 134217729.0  # 2**27 + 1
        h = c - (c - v)
        return h, v - h

    hi = a * b
    (ah, al), (bh, bl) = split(a), split(b)
    return hi, ((ah * bh - hi) + ah * bl + al * bh) + al * bl


def cube_ulp_errors(xn: np.ndarray, got: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``|got - x**3| / ulp(x**3)`` per base, exact to about 2**-50 ULP (the subnormal
    range in units of the smallest subnormal), and whether x**3 is below the smallest normal,
    for finite nonzero bases whose cube is below the overflow threshold. With x = f 2**k (f
    in [1/2, 1)), f**3 is the exact sum of four float64 terms and ``got * 2**-3k`` is
    exact."""
    info = np.finfo(xn.dtype)
    p, emin = info.nmant + 1, info.minexp
    f, k = np.frexp(xn.astype(np.float64))
    a, b = _two_prod(f, f)
    (c, d), (e, g) = _two_prod(a, f), _two_prod(b, f)
    top = np.frexp(c)[1].astype(np.int64) - 1  # floor(log2 |c|), exactly
    rest = d + e + g
    top -= (np.ldexp(1.0, top) == np.abs(c)) & (rest * c < 0)  # f**3 just below 2**top
    unit = np.maximum(top + 3 * k, emin) - p + 1 - 3 * k  # ulp(x**3) * 2**-3k, as exponent
    scaled = np.ldexp(got.astype(np.float64), -3 * k)
    return np.ldexp(np.abs(((scaled - c) - d) - (e + g)), -unit), top + 3 * k < emin


@pytest.mark.parametrize("dt", FLOATS)
def test_cube_within_two_ulp_of_exact(dt: str) -> None:
    """x**3 (x*x*x in the working precision) on a million bases: float32 every 8th float of
    [1, 2) (every normal result's mantissa pattern, sampled evenly), float64 random
    mantissas, each scaled by a random power of two over the range of finite nonzero
    results (so subnormal results too), random signs. The bounds proved in
    codegen/mathlib_pow.py: under 2 ULP for normal results, under 1 for subnormal ones."""
    info = np.finfo(dt)
    p, emin, emax = info.nmant + 1, info.minexp, info.maxexp - 1
    rng = np.random.default_rng(33)
    size = 1 << 20
    if dt == "float32":
        f = np.arange(0x3F800000, 0x40000000, 8, dtype=np.int32).view(np.float32)
    else:
        f = (rng.integers(0, 1 << 52, size, dtype=np.int64) | (1023 << 52)).view(np.float64)
    # 2**k f with k in [(emin - p) / 3, emax / 3): cubes from 2**(emin - p) (half the
    # smallest subnormal) to 2**emax (finite)
    k = rng.integers(-((p - emin) // 3), emax // 3, f.size)
    xn = (np.ldexp(f.astype(np.float64), k) * rng.choice([-1.0, 1.0], f.size)).astype(dt)
    got = compiled_power(xn, 3)
    assert np.isfinite(got).all()
    assert (np.signbit(got) == np.signbit(xn)).all()  # zeros too: -tiny ** 3 == -0.0
    err, sub = cube_ulp_errors(xn, got)
    i, j = int(np.argmax(np.where(sub, 0, err))), int(np.argmax(np.where(sub, err, 0)))
    assert sub.sum() > 1000 and (~sub).sum() > size // 2
    assert err[i] < 2.0, f"{dt} x**3: {err[i]} ULP at {xn[i]!r}"
    assert err[j] < 1.0, f"{dt} x**3: {err[j]} ULP (subnormal) at {xn[j]!r}"


@pytest.mark.parametrize("dt", FLOATS)
def test_cube_overflow_edge(dt: str) -> None:
    """Every float within 64 steps of the cube root of the overflow threshold: x**3 is inf
    exactly where the exact cube reaches the threshold, the largest float otherwise (the
    one magnitude where x*x*x rounds to inf too early, _CUBE_OVERFLOW_EDGE, included; the
    code finds it by its square, which no neighbour shares)."""
    info = np.finfo(dt)
    p, emax = info.nmant + 1, info.maxexp - 1
    threshold = Fraction(2**emax) * (2 - Fraction(1, 2**p))
    ity = np.int32 if dt == "float32" else np.int64
    with mpmath.workprec(200):
        root = np.array(float(mpmath.cbrt(mpmath.mpf(threshold.numerator)
                                          / threshold.denominator)), dt)
    mag = (root.view(ity) + np.arange(-64, 65, dtype=ity)).view(dt)
    xn = np.concatenate([mag, -mag])
    got = compiled_power(xn, 3)
    exact = [Fraction(float(v)) ** 3 for v in xn]
    overflows = np.array([abs(e) >= threshold for e in exact])
    assert overflows.any() and not overflows.all()
    assert (np.isinf(got) == overflows).all(), xn[np.isinf(got) != overflows]
    assert (np.signbit(got) == np.signbit(xn)).all()
    assert cube_ulp_errors(xn[~overflows], got[~overflows])[0].max() < 2.0
    # the magnitudes where x*x*x itself overflows early: the one the code knows of
    with np.errstate(over="ignore"):
        plain = mag * mag * mag
    early = mag[np.isinf(plain) & ~overflows[:mag.size]].tolist()
    edge = mathlib_pow._CUBE_OVERFLOW_EDGE.get("float" if dt == "float32" else "double")
    assert early == ([] if edge is None else [edge[0]])
    if edge is not None:
        assert edge[1] == float(np.float32(edge[0]) * np.float32(edge[0]))
        assert (mag * mag == edge[1]).sum() == 1


# -- generated code -----------------------------------------------------------------------
def _called(ir_text: str) -> set[str]:
    return set(re.findall(r'call [^@]*@"?([\w.]+)', ir_text))


def _target_has_fma() -> bool | None:
    """Whether the CPU compiled for has FMA instructions (None: a named CPU not listed)."""
    jit = cpu_backend.jit()
    if jit.features:  # the host's own feature string
        return "+fma" in jit.features.split(",")
    return {"x86-64": False, "x86-64-v2": False, "x86-64-v3": True, "x86-64-v4": True,
            "haswell": True, "skylake": True, "skylake-avx512": True, "znver3": True,
            "nehalem": False, "sandybridge": False}.get(jit.cpu)


@pytest.mark.parametrize("n", [-3, 4, 16, 1000])
def test_float64_code_squares_with_fma_in_vectors(n: int) -> None:
    ex = la.explain(la.asarray(np.linspace(0.5, 1.5, 1000)) ** n)
    called = _called(ex.llvm_opt)
    assert not [c for c in called if "pow" in c], called  # no pow, libm's or mathlib's
    assert any(c.startswith("llvm.fma.") for c in called), called
    fma = _target_has_fma()
    if fma is False:
        # a CPU without FMA: the intrinsic becomes a call of libm's fma (correct, slow), and
        # LLVM may leave long chains scalar (docs/math.md)
        assert not re.search(r"\bvfn?m(add|sub)", ex.asm)
        return
    assert any(c.startswith("llvm.fma.v") for c in called), called  # vectorised
    assert re.search(r"<(2|4|8|16) x double>", ex.llvm_opt)
    if fma:  # the hardware FMA, on packed registers
        assert re.search(r"\bvfn?m(add|sub)\d+pd\b", ex.asm), "no packed FMA instruction"


@pytest.mark.parametrize("n", [-3, 4, 1000])
def test_float32_code_works_in_float64_vectors(n: int) -> None:
    ex = la.explain(la.asarray(np.linspace(0.5, 1.5, 1000, dtype=np.float32)) ** n)
    called = _called(ex.llvm_opt)
    assert not [c for c in called if "pow" in c or "fma" in c], called
    assert re.search(r"fpext <\d+ x float> .* to <\d+ x double>", ex.llvm_opt)
    assert re.search(r"fptrunc <\d+ x double> .* to <\d+ x float>", ex.llvm_opt)


@pytest.mark.parametrize("dt", FLOATS)
def test_cube_is_two_multiplications_in_the_working_precision(dt: str) -> None:
    """x**3 is x*x*x in vectors of the dtype itself: no conversion, no FMA, no pow; float32
    adds one compare and one integer addition for its overflow edge, no select."""
    ty = {"float32": "float", "float64": "double"}[dt]
    ex = la.explain(la.asarray(np.linspace(0.5, 1.5, 1000, dtype=dt)) ** 3)
    called = _called(ex.llvm_opt)
    assert not [c for c in called if "pow" in c or "fma" in c], called
    assert not re.search(r"\b(fpext|fptrunc)\b", ex.llvm_opt)
    assert re.search(rf"fmul <\d+ x {ty}>", ex.llvm_opt)
    module = cpu.build_module(kernel_of([la.asarray(np.ones(100, dt)) ** 3]), "k")
    ops = [i.opname for fn in module.functions for b in fn.blocks for i in b.instructions]
    assert ops.count("fmul") == 2, ops
    assert ops.count("fcmp") == (dt == "float32") and "select" not in ops, ops


@pytest.mark.parametrize("dt", FLOATS)
def test_chain_is_branch_free(dt: str) -> None:
    """The unrolled chain adds no blocks to the kernel (the loop vectoriser needs none), and
    the longest chain stays small (float64 |n| = 1022: 113 instructions)."""
    x = la.asarray(np.ones(100, dt))

    def shape(expr: Any) -> tuple[int, int]:
        module = cpu.build_module(kernel_of([expr]), "k")
        blocks = [b for fn in module.functions for b in fn.blocks]
        return len(blocks), sum(len(b.instructions) for b in blocks)

    plain_blocks, plain_size = shape(x * x)
    for n in (3, -3, 1000, canon.POWER_INT_MAX, -canon.POWER_INT_MAX):
        blocks, size = shape(x ** n)
        assert blocks == plain_blocks, n
        assert size < plain_size + 150, (n, size - plain_size)


def test_exponent_is_part_of_the_kernel() -> None:
    xn = np.linspace(0.5, 1.5, 64)
    k3, k4 = (kernel_of([la.asarray(xn) ** n]) for n in (3, 4))
    assert k3 != k4 and k3.scalars == () == k4.scalars
    assert [i.arg for i in k3.body if i.op is Op.POWER_INT] == [3]
    # the disk cache's key text holds the exponent
    assert diskcache.kernel_digest(k3) != diskcache.kernel_digest(k4)
    assert "arg=3" in diskcache.stable_text(k3) and "arg=4" in diskcache.stable_text(k4)
    # and so does the structure new arrays are rebound by
    s3, s4 = (rebind.structure((node_of(la.asarray(xn) ** n),)) for n in (3, 4))
    assert s3 is not None and s4 is not None and s3.key != s4.key


def test_new_arrays_reuse_one_kernel_per_exponent() -> None:
    la.clear_cache()  # other tests compiled these kernels (the shape is no part of them)
    rng = np.random.default_rng(5)
    shape = (333,)
    compiled_power(rng.random(shape), 3)  # compiled whatever LAZYARR_BACKEND says
    before = la.cache_info().compiles
    for _ in range(3):
        xn = rng.random(shape)
        np.testing.assert_allclose(compiled_power(xn, 3), xn ** 3, rtol=1e-15)
    assert la.cache_info().compiles == before  # the same kernel, over other arrays
    compiled_power(rng.random(shape), 4)
    assert la.cache_info().compiles == before + 1  # another exponent: another kernel


def test_explain_and_display_show_the_exponent() -> None:
    x = la.asarray(np.ones(4))
    ex = la.explain(x ** 3)
    assert "power_int n=3" in ex.graph
    assert "power_int(v0, n=3)" in ex.loops
    assert "integer powers" in ex.canonical
    assert (x ** 3)._repr_latex_() == r"$\displaystyle a^{3}$"
    assert (x ** -3)._repr_latex_() == r"$\displaystyle \frac{1}{a^{3}}$"
    assert "power_int n=3" in (x ** 3)._repr_html_()


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("n", [3, -7, 1000])
def test_compiles_for_cuda_without_libdevice(dt: str, n: int) -> None:
    kernel = kernel_of([la.asarray(np.ones(8, dt)) ** n])
    nvptx.check_supported(kernel)  # no refusal: no math routine needed
    module = nvptx.build_module(kernel, "k")
    nvptx.check_module(module)  # declares only what NVPTX lowers
    declared = {f.name for f in module.functions if f.is_declaration}
    exact_chain = dt == "float64" and n != 3  # x**3 is x*x*x (no FMA)
    assert ("llvm.fma.f64" in declared) == exact_chain, declared
    ptx = nvptx.emit_ptx(kernel)
    assert not re.search(r"^\s*call", ptx, re.M)
    assert ("fma.rn.f64" in ptx) == exact_chain
    if n == 3:  # in the dtype itself, subnormals kept (no .ftz)
        suffix = dt.replace("float", "f")
        assert ptx.count(f"mul.rn.{suffix}") == 2 and "cvt.f64.f32" not in ptx, ptx
