"""Differential tests in the style of numexpr: the same expression through NumPy and lazyarr.

Every elementwise function and operator, on every supported dtype (and a sample of mixed dtype
pairs), on every kind of input layout, is evaluated by NumPy and by each lazyarr backend. The
results must have the same shape, dtype and values (exact for integers and bools; for floats
NaN in the same places, the same infinities, the same sign of zero and a ULP bound per op),
or, when NumPy raises, lazyarr must raise the same exception type.

Deliberate deviations that lazyarr documents are compared against lazyarr's rule instead of
NumPy (whose result is platform-defined there): float to int casts of NaN, infinities and
out-of-range values, and integer ``reciprocal(0)``. Places where NumPy is inconsistent with
itself are noted where they are handled: the sign of a zero from ``fmax``/``fmin``, and Python
ints beyond int64 in ``np.where``. (``x ** 0.5`` at -inf and -0.0 depends on the exponent's
strides in NumPy; see ``tests/test_edge_values.py``.)

Input kinds are evaluated in groups, one ``lazyarr.eval`` call per group: see
:func:`check_group`.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
from kernel_cases import numpy_loop

import lazyarr as la
from lazyarr.front.functions import UFUNC_FUNCTIONS

BACKENDS = ("interp", "cpu")

DTYPES = tuple(np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "float32", "float64",
))
SUPPORTED = frozenset({*DTYPES, np.dtype(np.float16)})  # float16: loops NumPy picks (sin(int8))

# ULP bounds: 0 for correctly rounded (or exact) operations, a few for transcendentals, where
# NumPy's SIMD routines, the C library and lazyarr's own vector math may round differently.
EXACT = 0
TRANSCENDENTAL = 4


# -- comparing results -------------------------------------------------------------------
def _ordered(values: np.ndarray) -> np.ndarray:
    """Float bit patterns as int64 ordered like the floats (+0.0 and -0.0 both 0)."""
    bits = np.dtype(f"int{8 * values.dtype.itemsize}")
    raw = values.view(bits).astype(np.int64)
    magnitude = raw & np.int64(np.iinfo(bits).max)
    return np.where(raw < 0, -magnitude, magnitude)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many representable floats lie between ``a`` and ``b`` (same dtype, not NaN)."""
    oa, ob = _ordered(np.ascontiguousarray(a)), _ordered(np.ascontiguousarray(b))
    # the ordered values lie in (-2**63, 2**63): their distance fits uint64, and unsigned
    # subtraction (modulo 2**64) gives it exactly
    ua, ub = oa.view(np.uint64), ob.view(np.uint64)
    return np.where(oa >= ob, ua - ub, ub - ua)


def assert_same(got: Any, expected: np.ndarray, ulps: int = EXACT, zero_sign: bool = True,
                what: str = "") -> None:
    """``got`` equals ``expected``: type, shape, dtype and values (see the module docstring)."""
    assert isinstance(got, np.ndarray), f"{what}: got {type(got).__name__}, not ndarray"
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    if expected.dtype.kind != "f":
        bad = got != expected
        assert not bad.any(), f"{what}: {got[bad]} != NumPy {expected[bad]}"
        return
    nan_g, nan_e = np.isnan(got), np.isnan(expected)
    bad = nan_g != nan_e
    assert not bad.any(), f"{what}: NaN placement: {got[bad]} vs NumPy {expected[bad]}"
    inf = np.isinf(got) | np.isinf(expected)
    bad = inf & (got != expected)
    assert not bad.any(), f"{what}: infinities: {got[bad]} vs NumPy {expected[bad]}"
    finite = ~(nan_e | inf)
    dist = ulp_distance(got[finite], expected[finite])
    if dist.size and dist.max() > ulps:
        k = int(np.argmax(dist))
        raise AssertionError(f"{what}: {dist[k]} ULP apart (bound {ulps}): "
                             f"{got[finite][k]!r} vs NumPy {expected[finite][k]!r}")
    if zero_sign:
        zero = finite & (expected == 0)
        bad = np.signbit(got[zero]) != np.signbit(expected[zero])
        assert not bad.any(), f"{what}: sign of zero differs: {got[zero][bad]}"


@dataclass
class Case:
    """One expression: how NumPy computes it and how lazyarr builds it.

    ``expect`` replaces NumPy's value where lazyarr documents its own rule; NumPy still
    decides the dtype, the shape and whether the expression raises. ``loop`` is NumPy's inner
    loop, when known: if it computes in a dtype lazyarr lacks, lazyarr must refuse.
    """

    label: str
    numpy_call: Callable[[], Any]
    lazy_call: Callable[[], Any]
    ulps: int = EXACT
    zero_sign: bool = True
    expect: Callable[[], Any] | None = None
    loop: tuple[np.dtype, ...] = ()


def _prepare(case: Case) -> tuple[Any, np.ndarray] | None:
    """(lazy expression, expected array), or None once an expected refusal was checked."""
    with np.errstate(all="ignore"):
        try:
            expected = np.asarray(case.numpy_call())
        except Exception as exc:  # any exception NumPy raises must be mirrored
            raised: tuple[type[Exception], ...] = (type(exc),)
            if not SUPPORTED.issuperset(case.loop):
                raised += (TypeError,)  # lazyarr refuses the loop's dtype before all else
            for backend in BACKENDS:
                with pytest.raises(raised):
                    la.eval(case.lazy_call(), backend=backend)
            return None
        if case.expect is not None:
            expected = np.asarray(case.expect()).astype(expected.dtype)
    if expected.dtype not in SUPPORTED or not SUPPORTED.issuperset(case.loop):
        # NumPy computes in a dtype lazyarr does not have (float16): refused at build time
        with pytest.raises(TypeError):
            case.lazy_call()
        return None
    expr = case.lazy_call()
    assert isinstance(expr, la.LazyArray), f"{case.label}: evaluated eagerly: {type(expr)}"
    assert expr.shape == expected.shape and expr.dtype == expected.dtype, \
        f"{case.label}: built {expr.dtype}{expr.shape}, NumPy gives " \
        f"{expected.dtype}{expected.shape}"
    return expr, expected


def check_group(cases: list[Case]) -> None:
    """Run cases through NumPy and through lazyarr on every backend.

    The cases are evaluated together (``lazyarr.eval(*exprs)``): outputs of one shape share
    one compiled kernel, which keeps the suite's compile time down and exercises multi-output
    kernels whose inputs have different layouts.
    """
    ready = [(case, *found) for case in cases if (found := _prepare(case)) is not None]
    if not ready:
        return
    for backend in BACKENDS:
        try:
            results = la.eval(*(expr for _, expr, _ in ready), backend=backend)
        except Exception:
            for _, expr, _ in ready:  # name the case that raised
                la.eval(expr, backend=backend)
            raise
        results = results if len(ready) > 1 else (results,)
        for (case, _, expected), got in zip(ready, results, strict=True):
            assert_same(got, expected, case.ulps, case.zero_sign, f"{backend} {case.label}")


def check(numpy_call: Callable[[], Any], lazy_call: Callable[[], Any], ulps: int = EXACT,
          zero_sign: bool = True, expect: Callable[[], Any] | None = None,
          loop: tuple[np.dtype, ...] = ()) -> None:
    """One expression through NumPy and lazyarr (see :class:`Case`)."""
    check_group([Case("", numpy_call, lazy_call, ulps, zero_sign, expect, loop)])


# -- test data ---------------------------------------------------------------------------
# Every operand is cut from one deterministic 1-D pool per (dtype, domain, role): edge values
# shuffled among random values from the op's domain, so every input kind sees some edges.
POOL = 64

FLOAT_DOMAINS: dict[str, tuple[float, float]] = {
    "any": (-10.0, 10.0), "pos": (0.01, 100.0), "gtm1": (-0.99, 10.0), "unit": (-0.999, 0.999),
    "ge1": (1.0, 50.0), "exp": (-20.0, 20.0), "trig": (-10.0, 10.0), "base": (0.1, 10.0),
    "expo": (-5.0, 5.0), "shift": (-10.0, 10.0), "small": (-10.0, 10.0),
}


def _float_edges(dt: np.dtype) -> list[float]:
    info = np.finfo(dt)
    return [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -2.5, math.inf, -math.inf, math.nan,
            float(info.max), -float(info.max), float(info.smallest_subnormal),
            -float(info.smallest_subnormal), float(info.tiny), 3.0, -7.0]


def _int_edges(dt: np.dtype, domain: str) -> list[int]:
    info = np.iinfo(dt)
    bits = 8 * dt.itemsize
    if domain == "shift":
        edges = [0, 1, bits - 1, bits, bits + 1, 2 * bits]
        return edges + ([-1, -bits] if dt.kind == "i" else [])
    if domain == "expo":
        return [0, 1, 2, 3, int(info.max)]
    edges = [0, 1, 2, 7, int(info.max), int(info.max) - 1]
    if dt.kind == "i":
        edges += [-1, -2, -7, int(info.min), int(info.min) + 1]
    return edges


def _int_random(rng: np.random.Generator, dt: np.dtype, domain: str, n: int) -> np.ndarray:
    info = np.iinfo(dt)
    lo, hi = int(info.min), int(info.max)
    if domain == "shift":
        lo, hi = 0, 8 * dt.itemsize - 1
    elif domain in ("expo",):
        lo, hi = 0, 8
    elif domain == "base":
        lo, hi = max(lo, -6), min(hi, 6)
    elif domain != "any":
        lo, hi = max(lo, -20), min(hi, 20)
    return rng.integers(lo, hi, size=n, endpoint=True, dtype=dt)


@cache
def pool(dt: np.dtype, domain: str = "any", role: int = 0) -> np.ndarray:
    seed = 1000 * DTYPES.index(dt) + 10 * sorted(FLOAT_DOMAINS).index(domain) + role
    rng = np.random.default_rng(seed)
    if dt.kind == "b":
        values = rng.integers(0, 2, size=POOL).astype(bool)
        values[:2] = [True, False]
        return rng.permutation(values)
    if dt.kind == "f":
        edges = np.array(_float_edges(dt), dtype=dt)
        lo, hi = FLOAT_DOMAINS[domain]
        rand = rng.uniform(lo, hi, size=POOL - len(edges)).astype(dt)
    else:
        edges = np.array(_int_edges(dt, domain), dtype=dt)
        rand = _int_random(rng, dt, domain, POOL - len(edges))
    mixed = np.concatenate([edges, rand])
    return rng.permutation(mixed)


@cache
def python_scalar(dt: np.dtype, domain: str, role: int) -> bool | int | float:
    """An in-domain value of ``dt`` as a Python scalar (weak in NEP 50, except bool)."""
    rng = np.random.default_rng(7 + role)
    if dt.kind == "b":
        return True
    if dt.kind == "f":
        lo, hi = FLOAT_DOMAINS[domain]
        return float(dt.type(rng.uniform(lo, hi)))
    return int(_int_random(rng, dt, domain, 1)[0])


LENGTH = 515  # long enough for the vectorised main loop even with 32 int8 lanes x interleave


def operand(dt: np.dtype, domain: str, role: int, kind: str) -> Any:
    """Operand number ``role`` of an input of this kind."""
    p = pool(dt, domain, role)
    rng = np.random.default_rng(role)
    if kind == "contig":
        return rng.permutation(np.resize(p, LENGTH))
    if kind == "strided":
        return rng.permutation(np.resize(p, 2 * LENGTH))[::2]
    if kind == "negstride":
        return rng.permutation(np.resize(p, LENGTH))[::-1]
    if kind == "2d":
        # operand 0 is transposed, operand 1 takes every third column: neither is contiguous
        return p[:20].reshape(4, 5).T if role % 2 == 0 else p[:60].reshape(5, 12)[:, ::3]
    if kind == "cols":
        return p[4:64].reshape(5, 12)[:, ::3]
    if kind == "broadcast":
        return p[:5].reshape(5, 1) if role % 2 == 0 else p[:4]  # (5, 1) with (4,): (5, 4)
    if kind == "empty":
        return p[:0]
    if kind == "empty2d":
        return p[:0].reshape(0, 1) if role % 2 == 0 else p[:4]  # (0, 1) with (4,): (0, 4)
    if kind == "mismatch":
        return p[:3] if role % 2 == 0 else p[:4]  # NumPy raises ValueError
    if kind == "0d":
        return np.array(p[5])
    if kind == "npscalar":
        return dt.type(python_scalar(dt, domain, role))
    if kind == "pyscalar":
        return python_scalar(dt, domain, role)
    raise AssertionError(kind)


def lazy(x: Any) -> Any:
    return la.asarray(x) if isinstance(x, np.ndarray) else x


# -- the op table ------------------------------------------------------------------------
# name -> (domain of each operand, ULP bound for floats, check the sign of zero)
UNARY: dict[str, tuple[str, int]] = {
    "negative": ("any", EXACT), "positive": ("any", EXACT), "absolute": ("any", EXACT),
    "invert": ("any", EXACT), "exp": ("exp", TRANSCENDENTAL), "expm1": ("exp", TRANSCENDENTAL),
    "exp2": ("exp", TRANSCENDENTAL), "log": ("pos", TRANSCENDENTAL),
    "log1p": ("gtm1", TRANSCENDENTAL), "log2": ("pos", TRANSCENDENTAL),
    "log10": ("pos", TRANSCENDENTAL), "sqrt": ("pos", EXACT), "cbrt": ("any", TRANSCENDENTAL),
    "square": ("any", EXACT), "reciprocal": ("any", EXACT), "sin": ("trig", TRANSCENDENTAL),
    "cos": ("trig", TRANSCENDENTAL), "tan": ("trig", TRANSCENDENTAL),
    "arcsin": ("unit", TRANSCENDENTAL), "arccos": ("unit", TRANSCENDENTAL),
    "arctan": ("any", TRANSCENDENTAL), "sinh": ("exp", TRANSCENDENTAL),
    "cosh": ("exp", TRANSCENDENTAL), "tanh": ("any", TRANSCENDENTAL),
    "arcsinh": ("any", TRANSCENDENTAL), "arccosh": ("ge1", TRANSCENDENTAL),
    "arctanh": ("unit", TRANSCENDENTAL), "floor": ("any", EXACT), "ceil": ("any", EXACT),
    "trunc": ("any", EXACT), "rint": ("any", EXACT), "sign": ("any", EXACT),
    "isnan": ("any", EXACT), "isinf": ("any", EXACT), "isfinite": ("any", EXACT),
    "signbit": ("any", EXACT), "logical_not": ("any", EXACT),
    "fabs": ("any", EXACT), "spacing": ("any", EXACT), "deg2rad": ("any", EXACT),
    "rad2deg": ("any", EXACT), "bitwise_count": ("any", EXACT), "conjugate": ("any", EXACT),
}

# name -> (domain of operand 0, domain of operand 1, ULP bound)
BINARY: dict[str, tuple[str, str, int]] = {
    "add": ("any", "any", EXACT), "subtract": ("any", "any", EXACT),
    "multiply": ("any", "any", EXACT), "true_divide": ("any", "any", EXACT),
    "floor_divide": ("any", "small", EXACT), "remainder": ("any", "small", EXACT),
    "power": ("base", "expo", TRANSCENDENTAL), "less": ("any", "any", EXACT),
    "less_equal": ("any", "any", EXACT), "greater": ("any", "any", EXACT),
    "greater_equal": ("any", "any", EXACT), "equal": ("any", "any", EXACT),
    "not_equal": ("any", "any", EXACT), "bitwise_and": ("any", "any", EXACT),
    "bitwise_or": ("any", "any", EXACT), "bitwise_xor": ("any", "any", EXACT),
    "left_shift": ("any", "shift", EXACT), "right_shift": ("any", "shift", EXACT),
    "arctan2": ("any", "any", TRANSCENDENTAL), "hypot": ("any", "any", TRANSCENDENTAL),
    "maximum": ("any", "any", EXACT), "minimum": ("any", "any", EXACT),
    "fmax": ("any", "any", EXACT), "fmin": ("any", "any", EXACT),
    "logaddexp": ("exp", "exp", TRANSCENDENTAL), "copysign": ("any", "any", EXACT),
    "logical_and": ("any", "any", EXACT), "logical_or": ("any", "any", EXACT),
    "logical_xor": ("any", "any", EXACT),
    "fmod": ("any", "small", EXACT), "ldexp": ("any", "shift", EXACT),
    "nextafter": ("any", "any", EXACT), "heaviside": ("any", "any", EXACT),
    "float_power": ("base", "expo", TRANSCENDENTAL), "gcd": ("any", "any", EXACT),
    "lcm": ("any", "any", EXACT), "logaddexp2": ("exp", "exp", TRANSCENDENTAL),
}
# two-output ufuncs and functions NumPy lacks: tests/test_ufuncs_more.py
ELSEWHERE = frozenset({"frexp", "modf", "divmod", "erf", "erfc"})

# NumPy is itself inconsistent about which zero fmax/fmin return for +0.0 vs -0.0: its
# array loops return the second argument, its scalar path (np.fmax(0.0, -0.0)) the first.
# C's fmax leaves it unspecified too, so the sign of a zero result is not checked for them.
ZERO_SIGN_FREE = frozenset({"fmax", "fmin"})

ALIASES = {"abs": "absolute", "divide": "true_divide", "mod": "remainder", "pow": "power",
           "radians": "deg2rad", "degrees": "rad2deg", "conj": "conjugate"}


def numpy_fn(name: str) -> np.ufunc:
    return getattr(np, name)


def _int_reciprocal(x: np.ndarray) -> np.ndarray:
    """lazyarr's documented rule: integer ``reciprocal(0)`` is 0 (NumPy's is platform-defined)."""
    x = np.asarray(x)
    safe = np.where(x == 0, np.ones_like(x), x)
    return np.where(x == 0, np.zeros_like(x), np.reciprocal(safe))


def _documented_rule(name: str, args: tuple) -> Callable[[], Any] | None:
    if name != "reciprocal":
        return None
    x = np.asarray(args[0])
    if x.dtype.kind not in "biu":
        return None
    loop = np.reciprocal.resolve_dtypes((x.dtype, None))[0]
    return lambda: _int_reciprocal(x.astype(loop))


# Input kinds come in groups evaluated together: one kernel per group and output shape.
# "1d" runs for every dtype. The layouts of "2d" and "0d" do not depend on the op's dtype
# beyond its size, so they run for one dtype of each size and kind (LAYOUT_DTYPES), which
# keeps the compile time of the suite within budget.
UNARY_GROUPS: dict[str, tuple[str, ...]] = {
    "1d": ("contig", "strided", "negstride"),
    "2d": ("2d", "cols"),
    "0d": ("0d", "npscalar", "pyscalar"),
    "empty": ("empty",),
}
LAYOUT_DTYPES = frozenset(np.dtype(t) for t in (
    "bool", "int8", "uint16", "int32", "uint64", "float32", "float64"))
# A Python scalar is an int, float or bool: one dtype each when it is the only operand.
PYSCALAR_DTYPES = frozenset(np.dtype(t) for t in ("bool", "int64", "float64"))


def _wanted(group: str, dt: np.dtype) -> bool:
    return group not in ("2d", "0d") or dt in LAYOUT_DTYPES


def _unary_cases():
    for name, (domain, ulps) in UNARY.items():
        for dt in DTYPES:
            for group in UNARY_GROUPS:
                if _wanted(group, dt):
                    yield pytest.param(name, dt, group, domain, ulps, id=f"{name}-{dt}-{group}")


def _unary_case(name: str, x: Any, kind: str, ulps: int) -> Case:
    return Case(kind, lambda: numpy_fn(name)(x), lambda: UFUNC_FUNCTIONS[name](lazy(x)), ulps,
                expect=_documented_rule(name, (x,)), loop=numpy_loop(numpy_fn(name), (x,)))


@pytest.mark.parametrize(("name", "dt", "group", "domain", "ulps"), list(_unary_cases()))
def test_unary(name: str, dt: np.dtype, group: str, domain: str, ulps: int) -> None:
    kinds = [k for k in UNARY_GROUPS[group] if k != "pyscalar" or dt in PYSCALAR_DTYPES]
    check_group([_unary_case(name, operand(dt, domain, 0, k), k, ulps) for k in kinds])


BINARY_GROUPS: dict[str, tuple[str, ...]] = {
    "1d": ("contig", "strided", "negstride", "pyscalar_left", "pyscalar_right",
           "pyfloat_right", "pyint_right", "npscalar"),
    "2d": ("2d", "broadcast"),
    "0d": ("0d",),
    "empty": ("empty", "empty2d", "mismatch"),
}

# Mixed dtype pairs: signed with signed, signed with unsigned (incl. the int64/uint64 pair
# NumPy sends to float64), int with float, float32 with float64, bool with others.
MIXED = tuple((np.dtype(a), np.dtype(b)) for a, b in (
    ("int8", "int16"), ("uint8", "int8"), ("int16", "uint8"), ("int32", "uint32"),
    ("uint16", "uint32"), ("int64", "uint64"), ("uint64", "int8"), ("float32", "float64"),
    ("int16", "float32"), ("int32", "float32"), ("uint64", "float32"), ("int64", "float64"),
    ("bool", "int8"), ("bool", "float32"), ("float64", "uint8"),
))
# broadcasting, 0-d and 2-D layouts do not depend on the dtypes: the same-dtype cases cover them
MIXED_GROUP = ("contig", "negstride", "npscalar")


def _binary_operands(dx: np.dtype, dy: np.dtype, kind: str, domains: tuple[str, str]
                     ) -> tuple[Any, Any]:
    """The two operands of one binary case."""
    if kind == "pyscalar_right":
        return operand(dx, domains[0], 0, "contig"), python_scalar(dy, domains[1], 1)
    if kind == "pyscalar_left":
        return python_scalar(dx, domains[0], 0), operand(dy, domains[1], 1, "contig")
    if kind == "pyfloat_right":
        # not a float32 value: NumPy rounds it to the array's float dtype (NEP 50)
        return operand(dx, domains[0], 0, "contig"), 0.1
    if kind == "pyint_right":
        # 2**24 + 1 is no float32, and too big for 8- and 16-bit ints (OverflowError)
        return operand(dx, domains[0], 0, "contig"), 2**24 + 1
    if kind == "npscalar":
        return operand(dx, domains[0], 0, "contig"), operand(dy, domains[1], 1, "npscalar")
    return operand(dx, domains[0], 0, kind), operand(dy, domains[1], 1, kind)


def _binary_cases():
    for name, (d0, d1, ulps) in BINARY.items():
        for dt in DTYPES:
            for group, kinds in BINARY_GROUPS.items():
                if _wanted(group, dt):
                    yield pytest.param(name, dt, dt, kinds, (d0, d1), ulps,
                                       id=f"{name}-{dt}-{group}")
        for dx, dy in MIXED:
            yield pytest.param(name, dx, dy, MIXED_GROUP, (d0, d1), ulps,
                               id=f"{name}-{dx}-{dy}-1d")


def _binary_case(name: str, x: Any, y: Any, kind: str, ulps: int) -> Case:
    return Case(kind, lambda: numpy_fn(name)(x, y),
                lambda: UFUNC_FUNCTIONS[name](lazy(x), lazy(y)), ulps,
                zero_sign=name not in ZERO_SIGN_FREE, loop=numpy_loop(numpy_fn(name), (x, y)))


@pytest.mark.parametrize(("name", "dx", "dy", "kinds", "domains", "ulps"),
                         list(_binary_cases()))
def test_binary(name: str, dx: np.dtype, dy: np.dtype, kinds: tuple[str, ...],
                domains: tuple[str, str], ulps: int) -> None:
    check_group([_binary_case(name, *_binary_operands(dx, dy, k, domains), k, ulps)
                 for k in kinds])


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dt", ["int32", "float64"])
def test_binary_edge_grid(name: str, dt: str) -> None:
    """Every pair of edge values of the dtype (one contiguous kernel, already compiled)."""
    dt = np.dtype(dt)
    domain = BINARY[name][1]
    edges = _float_edges(dt) if dt.kind == "f" else _int_edges(dt, domain)
    values = np.array(edges, dtype=dt)
    x, y = (g.ravel().copy() for g in np.meshgrid(values, values))
    if name == "power" and dt.kind == "i":
        y = np.abs(y)  # negative integer powers raise: see test_edge_values
    check(lambda: numpy_fn(name)(x, y), lambda: UFUNC_FUNCTIONS[name](la.asarray(x), y),
          BINARY[name][2], zero_sign=name not in ZERO_SIGN_FREE)


def test_table_covers_every_function() -> None:
    names = set(UFUNC_FUNCTIONS) - set(ALIASES) - ELSEWHERE
    assert names == set(UNARY) | set(BINARY)


@pytest.mark.parametrize("alias", sorted(ALIASES))
@pytest.mark.parametrize("dt", ["int32", "float64"])
def test_aliases(alias: str, dt: str) -> None:
    dt = np.dtype(dt)
    name = ALIASES[alias]
    nin = 1 if name in UNARY else 2
    domains = (UNARY[name][0],) if nin == 1 else BINARY[name][:2]
    args = [operand(dt, d, k, "contig") for k, d in enumerate(domains)]
    ulps = UNARY[name][1] if nin == 1 else BINARY[name][2]
    check(lambda: numpy_fn(alias)(*args),
          lambda: UFUNC_FUNCTIONS[alias](*(la.asarray(a) for a in args)), ulps)


# -- operators ---------------------------------------------------------------------------
BINARY_OPERATORS: dict[str, tuple[Callable[[Any, Any], Any], str, str]] = {
    "+": (operator.add, "any", "any"), "-": (operator.sub, "any", "any"),
    "*": (operator.mul, "any", "any"), "/": (operator.truediv, "any", "any"),
    "//": (operator.floordiv, "any", "small"), "%": (operator.mod, "any", "small"),
    "**": (operator.pow, "base", "expo"), "<": (operator.lt, "any", "any"),
    "<=": (operator.le, "any", "any"), ">": (operator.gt, "any", "any"),
    ">=": (operator.ge, "any", "any"), "==": (operator.eq, "any", "any"),
    "!=": (operator.ne, "any", "any"), "&": (operator.and_, "any", "any"),
    "|": (operator.or_, "any", "any"), "^": (operator.xor, "any", "any"),
    "<<": (operator.lshift, "any", "shift"), ">>": (operator.rshift, "any", "shift"),
}
OPERATOR_NAMES = {
    "+": "add", "-": "sub", "*": "mul", "/": "truediv", "//": "floordiv", "%": "mod",
    "**": "pow", "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne",
    "&": "and", "|": "or", "^": "xor", "<<": "lshift", ">>": "rshift",
}

# How each operand is passed: lazy array (L), NumPy array (N), Python scalar (P) or NumPy
# scalar (S); with a NumPy operand on the left, NumPy must hand over to LazyArray. The plain
# lazy-with-lazy case is evaluated on its own (a single-output kernel), the others together.
OPERATOR_GROUPS = {
    "L-L": ("L-L",),
    "mixed": ("L-P", "P-L", "L-N", "N-L", "L-S", "S-L", "L-bigint"),
}


def _operator_operands(dt: np.dtype, kind: str, domains: tuple[str, str]
                       ) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    """(NumPy operands, lazyarr operands) for one operator case."""
    x = operand(dt, domains[0], 0, "contig")
    y = operand(dt, domains[1], 1, "contig")
    px, py = python_scalar(dt, domains[0], 0), python_scalar(dt, domains[1], 1)
    if kind == "L-L":
        return (x, y), (la.asarray(x), la.asarray(y))
    if kind == "L-P":
        return (x, py), (la.asarray(x), py)
    if kind == "P-L":
        return (px, y), (px, la.asarray(y))
    if kind == "L-N":
        return (x, y), (la.asarray(x), y)
    if kind == "N-L":
        return (x, y), (x, la.asarray(y))
    if kind == "L-S":
        return (x, dt.type(py)), (la.asarray(x), dt.type(py))
    if kind == "S-L":
        return (dt.type(px), y), (dt.type(px), la.asarray(y))
    # a Python int outside every integer dtype's range: OverflowError, or exact comparisons
    return (x, 2**70), (la.asarray(x), 2**70)


def _operator_cases():
    for sym, (_, d0, d1) in BINARY_OPERATORS.items():
        for dt in DTYPES:
            for group, kinds in OPERATOR_GROUPS.items():
                yield pytest.param(sym, dt, kinds, (d0, d1),
                                   id=f"{OPERATOR_NAMES[sym]}-{dt}-{group}")


def _operator_case(sym: str, dt: np.dtype, kind: str, domains: tuple[str, str]) -> Case:
    fn = BINARY_OPERATORS[sym][0]
    (nx, ny), (lx, ly) = _operator_operands(dt, kind, domains)
    ulps = TRANSCENDENTAL if sym == "**" else EXACT
    return Case(kind, lambda: fn(nx, ny), lambda: fn(lx, ly), ulps)


@pytest.mark.parametrize(("sym", "dt", "kinds", "domains"), list(_operator_cases()))
def test_binary_operator(sym: str, dt: np.dtype, kinds: tuple[str, ...],
                         domains: tuple[str, str]) -> None:
    check_group([_operator_case(sym, dt, k, domains) for k in kinds])


@pytest.mark.parametrize("dx", ["uint8", "int8", "uint64", "int64"])
@pytest.mark.parametrize("value", [-1, -129, 256, 2**63, 2**64, -(2**63) - 1])
@pytest.mark.parametrize("sym", ["<", "<=", ">", ">=", "==", "!="])
def test_comparison_with_out_of_range_python_int(dx: str, value: int, sym: str) -> None:
    """NumPy 2 compares integer arrays with any Python int exactly, on either side."""
    fn = BINARY_OPERATORS[sym][0]
    x = pool(np.dtype(dx))[:8].copy()
    check(lambda: fn(x, value), lambda: fn(la.asarray(x), value))
    check(lambda: fn(value, x), lambda: fn(value, la.asarray(x)))


UNARY_OPERATORS: dict[str, Callable[[Any], Any]] = {
    "neg": operator.neg, "pos": operator.pos, "invert": operator.invert, "abs": abs,
}


@pytest.mark.parametrize("dt", DTYPES, ids=str)
@pytest.mark.parametrize("sym", sorted(UNARY_OPERATORS))
def test_unary_operator(sym: str, dt: np.dtype) -> None:
    fn = UNARY_OPERATORS[sym]
    x = operand(dt, "any", 0, "contig")
    check(lambda: fn(x), lambda: fn(la.asarray(x)))


# -- where, clip, astype -----------------------------------------------------------------
WHERE_GROUPS = {"1d": ("contig", "negstride", "scalars", "intcond"), "2d": ("2d", "broadcast")}


def _where_case(dx: np.dtype, dy: np.dtype, kind: str) -> Case:
    if kind in ("scalars", "intcond"):
        # any dtype is a condition: int16 checks truthiness
        cond = operand(np.dtype("int16" if kind == "intcond" else bool), "any", 2, "contig")
    else:
        cond = operand(np.dtype(bool), "any", 2, kind)
    if kind == "scalars":
        # NumPy quirk: np.where(c, 2**63, 0) is int64 with the value wrapped to -2**63 (and
        # 2**64 raises), so two Python ints are kept within int64 here
        x, y = (min(python_scalar(d, "any", k), 2**63 - 1) for k, d in enumerate((dx, dy)))
    else:
        sub = "contig" if kind == "intcond" else kind
        x, y = operand(dx, "any", 0, sub), operand(dy, "any", 1, sub)
    return Case(kind, lambda: np.where(cond, x, y),
                lambda: la.where(lazy(cond), lazy(x), lazy(y)))


@pytest.mark.parametrize("group", sorted(WHERE_GROUPS))
@pytest.mark.parametrize(("dx", "dy"), [(d, d) for d in DTYPES] + list(MIXED[:8]), ids=str)
def test_where(dx: np.dtype, dy: np.dtype, group: str) -> None:
    check_group([_where_case(dx, dy, kind) for kind in WHERE_GROUPS[group]])


def _clip_case(dt: np.dtype, kind: str) -> Case:
    x = operand(dt, "any", 0, "contig")
    if kind == "scalars":
        lo, hi = sorted([python_scalar(dt, "any", 1), python_scalar(dt, "any", 2)])
    elif kind == "lo_above_hi":
        hi, lo = sorted([python_scalar(dt, "any", 1), python_scalar(dt, "any", 2)])
    elif kind == "arrays":
        lo, hi = operand(dt, "any", 1, "contig"), operand(dt, "any", 2, "contig")
    else:
        x = operand(dt, "any", 0, "broadcast")
        lo, hi = operand(dt, "any", 1, "broadcast"), operand(dt, "any", 2, "0d")
    return Case(kind, lambda: np.clip(x, lo, hi), lambda: la.clip(lazy(x), lazy(lo), lazy(hi)))


@pytest.mark.parametrize("kinds", [("scalars", "arrays", "lo_above_hi"), ("broadcast",)],
                         ids=["1d", "2d"])
@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_clip(dt: np.dtype, kinds: tuple[str, ...]) -> None:
    check_group([_clip_case(dt, kind) for kind in kinds])


def test_clip_one_sided() -> None:
    x = operand(np.dtype("float64"), "any", 0, "contig")
    check(lambda: np.clip(x, None, 1.5), lambda: la.clip(la.asarray(x), None, 1.5))
    check(lambda: np.clip(x, -1.5, None), lambda: la.clip(la.asarray(x), -1.5, None))


def saturating_cast(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """lazyarr's documented float to int rule, computed one Python number at a time."""
    lo, hi = int(np.iinfo(dtype).min), int(np.iinfo(dtype).max)
    flat = [0 if math.isnan(v) else hi if v == math.inf else lo if v == -math.inf
            else min(hi, max(lo, math.trunc(v))) for v in values.ravel().tolist()]
    return np.array(flat, dtype=dtype).reshape(values.shape)


def _astype_case(src: np.dtype, dst: np.dtype, kind: str) -> Case:
    x = operand(src, "any", 0, kind)
    rule = None
    if src.kind == "f" and dst.kind in "iu":
        # huge values too, so saturation is exercised on every layout
        with np.errstate(over="ignore"):
            x = x * np.asarray(1e12 if src.itemsize == 8 else 1e9, dtype=src)
        rule = lambda: saturating_cast(np.asarray(x), dst)  # noqa: E731
    return Case(kind, lambda: np.asarray(x).astype(dst), lambda: la.asarray(x).astype(dst),
                expect=rule)


@pytest.mark.parametrize("kinds", [("contig", "strided", "negstride"), ("2d",)],
                         ids=["1d", "2d"])
@pytest.mark.parametrize("dst", DTYPES, ids=str)
@pytest.mark.parametrize("src", DTYPES, ids=str)
def test_astype(src: np.dtype, dst: np.dtype, kinds: tuple[str, ...]) -> None:
    check_group([_astype_case(src, dst, kind) for kind in kinds])


# -- composite expressions ---------------------------------------------------------------
def _gelu(m, x):
    return 0.5 * x * (1 + m.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


COMPOSITES: dict[str, Callable[[Any, Any, Any], Any]] = {
    "poly": lambda m, a, b: 2 * a * a - 3 * a * b + b / 7,
    "gelu": lambda m, a, b: _gelu(m, a),
    "where_sqrt": lambda m, a, b: m.where(a > 0, m.sqrt(m.abs(a)), -b),
    "mixed_cast": lambda m, a, b: (a.astype("float32") * 3).astype("int32") // 2,
    "cse": lambda m, a, b: (a + b) * (a + b) - m.exp(-(a + b) ** 2),
    "logic": lambda m, a, b: m.logical_and(a < b, m.logical_not(m.isnan(a))) | (a == 0),
    "softplus": lambda m, a, b: m.logaddexp(0.0, a) - m.maximum(a, 0),
}


@pytest.mark.parametrize("kind", ["contig", "broadcast", "2d"])
@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite(name: str, dt: str, kind: str) -> None:
    dt = np.dtype(dt)
    # edge values (NaN, inf, max, float to int overflow) have their own tests above; here the
    # point is many ops fused into one kernel
    a, b = (np.where(np.abs(x) < 100, x, 1.5).astype(dt)
            for x in (operand(dt, "small", k, kind) for k in range(2)))
    fn = COMPOSITES[name]
    with np.errstate(all="ignore"):
        expected = np.asarray(fn(np, a, b))
    expr = fn(la, la.asarray(a), la.asarray(b))
    assert (expr.shape, expr.dtype) == (expected.shape, expected.dtype)
    for backend in BACKENDS:
        got = la.eval(expr, backend=backend)
        if expected.dtype.kind != "f":
            assert_same(got, expected, what=backend)
            continue
        # one ULP of difference in a transcendental (tanh near -1 in GELU) can cancel to
        # many ULP of the result, so composites are compared on the scale of their inputs
        assert np.isfinite(got).all() and np.isfinite(expected).all(), backend
        tol = 64 * np.finfo(dt).eps * (1 + np.abs(np.concatenate([a, b], axis=None)).max()) ** 3
        assert np.abs(got - expected).max(initial=0) <= tol, backend
