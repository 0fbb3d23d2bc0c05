"""Differential tests in the style of numexpr: the same expression through NumPy and lazyarr.

Every elementwise function and operator, on every supported dtype (and a sample of mixed dtype
pairs), on every kind of input layout, is evaluated by NumPy and by each lazyarr backend. The
results must have the same shape, dtype and values (exact for integers and bools; for floats
NaN in the same places, the same infinities, the same sign of zero and a ULP bound per op),
or, when NumPy raises, lazyarr must raise the same exception type.

Deliberate deviations that lazyarr documents are compared against lazyarr's rule instead of
NumPy (whose result is platform-defined there): float to int casts of NaN, infinities and
out-of-range values, and integer ``reciprocal(0)``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import pytest

import lazyarr as la
from lazyarr.functions import UFUNC_FUNCTIONS

BACKENDS = ("interp", "cpu")

DTYPES = tuple(np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "float32", "float64",
))
SUPPORTED = frozenset(DTYPES)

# ULP bounds: 0 for correctly rounded (or exact) operations, a few for libm transcendentals,
# where NumPy's own SIMD routines and the C library may round differently.
EXACT = 0
TRANSCENDENTAL = 4


# -- comparing results -------------------------------------------------------------------
def _ordered(values: np.ndarray) -> list[int]:
    """Float bit patterns as integers that are ordered like the floats (+0 and -0 both 0)."""
    bits = np.dtype(f"int{8 * values.dtype.itemsize}")
    raw = values.view(bits).astype(np.int64)
    magnitude = raw & np.int64(np.iinfo(bits).max)
    return np.where(raw < 0, -magnitude, magnitude).tolist()


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """How many representable floats lie between ``a`` and ``b`` (same dtype, finite)."""
    dist = [abs(x - y) for x, y in zip(_ordered(a.ravel()), _ordered(b.ravel()), strict=True)]
    return np.array(dist, dtype=object).reshape(a.shape)


def assert_same(got: Any, expected: np.ndarray, ulps: int = EXACT, zero_sign: bool = True,
                what: str = "") -> None:
    """``got`` equals ``expected``: type, shape, dtype and values (see the module docstring)."""
    assert isinstance(got, np.ndarray), f"{what}: got {type(got).__name__}, not ndarray"
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    if expected.dtype.kind != "f":
        bad = got != expected
        assert not bad.any(), f"{what}: {got[bad]} != {expected[bad]} (NumPy)"
        return
    nan_g, nan_e = np.isnan(got), np.isnan(expected)
    assert (nan_g == nan_e).all(), f"{what}: NaN at {got[nan_g != nan_e]} vs {expected[nan_g != nan_e]}"
    inf = np.isinf(got) | np.isinf(expected)
    assert (got[inf] == expected[inf]).all(), f"{what}: infinities {got[inf]} vs {expected[inf]}"
    finite = ~(nan_e | inf)
    dist = ulp_distance(got[finite], expected[finite])
    if dist.size:
        worst = int(dist.max())
        k = int(np.argmax(dist.astype(float)))
        assert worst <= ulps, (f"{what}: {worst} ULP apart (bound {ulps}): "
                               f"{got[finite][k]!r} vs NumPy {expected[finite][k]!r}")
    if zero_sign:
        zero = finite & (expected == 0)
        bad = np.signbit(got[zero]) != np.signbit(expected[zero])
        assert not bad.any(), f"{what}: sign of zero differs: {got[zero][bad]}"


def numpy_loop(ufunc: np.ufunc, args: tuple) -> tuple[np.dtype, ...]:
    """The dtypes of the inner loop NumPy picks for ``ufunc(*args)`` (empty if it has none)."""
    def signature(x: Any) -> Any:
        if isinstance(x, bool):
            return np.dtype(bool)
        return type(x) if isinstance(x, int | float) else np.asarray(x).dtype

    try:
        return tuple(ufunc.resolve_dtypes(tuple(map(signature, args)) + (None,)))
    except (TypeError, ValueError):
        return ()


def check(numpy_call: Callable[[], Any], lazy_call: Callable[[], Any], ulps: int = EXACT,
          zero_sign: bool = True, expect: Callable[[], Any] | None = None,
          loop: tuple[np.dtype, ...] = ()) -> None:
    """Run one case through NumPy and through lazyarr on every backend.

    ``expect`` replaces NumPy's value where lazyarr documents its own rule; NumPy still
    decides the dtype, the shape and whether the expression raises. ``loop`` is NumPy's inner
    loop, when known: if it computes in a dtype lazyarr lacks, lazyarr must refuse.
    """
    with np.errstate(all="ignore"):
        try:
            expected = np.asarray(numpy_call())
        except Exception as exc:  # noqa: BLE001 (any NumPy exception must be mirrored)
            for backend in BACKENDS:
                with pytest.raises(type(exc)):
                    la.eval(lazy_call(), backend=backend)
            return
        if expect is not None:
            expected = np.asarray(expect()).astype(expected.dtype)
    if expected.dtype not in SUPPORTED or not SUPPORTED.issuperset(loop):
        # NumPy computes in a dtype lazyarr does not have (float16): refused at build time
        with pytest.raises(TypeError):
            lazy_call()
        return
    expr = lazy_call()
    assert expr.shape == expected.shape and expr.dtype == expected.dtype, \
        f"built {expr.dtype}{expr.shape}, NumPy gives {expected.dtype}{expected.shape}"
    for backend in BACKENDS:
        assert_same(la.eval(expr, backend=backend), expected, ulps, zero_sign, backend)


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


def operand(dt: np.dtype, domain: str, role: int, kind: str) -> Any:
    """Operand number ``role`` of an input of this kind."""
    p = pool(dt, domain, role)
    if kind == "contig":
        return p[:24].copy()
    if kind == "strided":
        return p[:48][::2]
    if kind == "negstride":
        return p[:24][::-1]
    if kind == "2d":
        # operand 0 is transposed, operand 1 takes every third column: neither is contiguous
        return p[:20].reshape(4, 5).T if role % 2 == 0 else p[:60].reshape(5, 12)[:, ::3]
    if kind == "broadcast":
        return p[:3].reshape(3, 1) if role % 2 == 0 else p[:4]
    if kind == "empty":
        return p[:0]
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
}

# NumPy is itself inconsistent about which zero fmax/fmin return for +0.0 vs -0.0: its
# array loops return the second argument, its scalar path (np.fmax(0.0, -0.0)) the first.
# C's fmax leaves it unspecified too, so the sign of a zero result is not checked for them.
ZERO_SIGN_FREE = frozenset({"fmax", "fmin"})

ALIASES = {"abs": "absolute", "divide": "true_divide", "mod": "remainder", "pow": "power"}


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


UNARY_KINDS = ("contig", "strided", "negstride", "2d", "empty", "0d", "npscalar", "pyscalar")
# A Python scalar is an int, float or bool: one dtype each when it is the only operand.
PYSCALAR_DTYPES = frozenset(np.dtype(t) for t in ("bool", "int64", "float64"))


def _unary_cases():
    for name, (domain, ulps) in UNARY.items():
        for dt in DTYPES:
            for kind in UNARY_KINDS:
                if kind == "pyscalar" and dt not in PYSCALAR_DTYPES:
                    continue
                yield pytest.param(name, dt, kind, domain, ulps, id=f"{name}-{dt}-{kind}")


@pytest.mark.parametrize(("name", "dt", "kind", "domain", "ulps"), list(_unary_cases()))
def test_unary(name: str, dt: np.dtype, kind: str, domain: str, ulps: int) -> None:
    x = operand(dt, domain, 0, kind)
    check(lambda: numpy_fn(name)(x), lambda: UFUNC_FUNCTIONS[name](lazy(x)), ulps,
          expect=_documented_rule(name, (x,)), loop=numpy_loop(numpy_fn(name), (x,)))


BINARY_KINDS = ("contig", "pyscalar_right", "pyscalar_left", "pyfloat_right", "npscalar",
                "broadcast", "strided", "negstride", "2d", "empty", "0d")

# Mixed dtype pairs: signed with signed, signed with unsigned (incl. the int64/uint64 pair
# NumPy sends to float64), int with float, float32 with float64, bool with others.
MIXED = tuple((np.dtype(a), np.dtype(b)) for a, b in (
    ("int8", "int16"), ("uint8", "int8"), ("int16", "uint8"), ("int32", "uint32"),
    ("uint16", "uint32"), ("int64", "uint64"), ("uint64", "int8"), ("float32", "float64"),
    ("int16", "float32"), ("int32", "float32"), ("uint64", "float32"), ("int64", "float64"),
    ("bool", "int8"), ("bool", "float32"), ("float64", "uint8"),
))
# broadcasting, 0-d and 2-D layouts do not depend on the dtypes: the same-dtype cases cover them
MIXED_KINDS = ("contig", "npscalar", "negstride")


def _binary_operands(dx: np.dtype, dy: np.dtype, kind: str, domains: tuple[str, str]
                     ) -> tuple[Any, Any]:
    """The two operands of one binary case."""
    if kind == "pyscalar_right":
        return operand(dx, domains[0], 0, "contig"), python_scalar(dy, domains[1], 1)
    if kind == "pyscalar_left":
        return python_scalar(dx, domains[0], 0), operand(dy, domains[1], 1, "contig")
    if kind == "pyfloat_right":
        return operand(dx, domains[0], 0, "contig"), 2.5
    if kind == "npscalar":
        return operand(dx, domains[0], 0, "contig"), operand(dy, domains[1], 1, "npscalar")
    return operand(dx, domains[0], 0, kind), operand(dy, domains[1], 1, kind)


def _binary_cases():
    for name, (d0, d1, ulps) in BINARY.items():
        for dt in DTYPES:
            for kind in BINARY_KINDS:
                yield pytest.param(name, dt, dt, kind, (d0, d1), ulps,
                                   id=f"{name}-{dt}-{kind}")
        for dx, dy in MIXED:
            for kind in MIXED_KINDS:
                yield pytest.param(name, dx, dy, kind, (d0, d1), ulps,
                                   id=f"{name}-{dx}-{dy}-{kind}")


@pytest.mark.parametrize(("name", "dx", "dy", "kind", "domains", "ulps"),
                         list(_binary_cases()))
def test_binary(name: str, dx: np.dtype, dy: np.dtype, kind: str, domains: tuple[str, str],
                ulps: int) -> None:
    x, y = _binary_operands(dx, dy, kind, domains)
    check(lambda: numpy_fn(name)(x, y), lambda: UFUNC_FUNCTIONS[name](lazy(x), lazy(y)), ulps,
          zero_sign=name not in ZERO_SIGN_FREE, loop=numpy_loop(numpy_fn(name), (x, y)))


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
    names = set(UFUNC_FUNCTIONS) - set(ALIASES)
    assert names == set(UNARY) | set(BINARY)


@pytest.mark.parametrize("alias", sorted(ALIASES))
@pytest.mark.parametrize("dt", ["int32", "float64"])
def test_aliases(alias: str, dt: str) -> None:
    dt = np.dtype(dt)
    name = ALIASES[alias]
    nin = 1 if name in UNARY else 2
    domains = (UNARY[name][0],) if nin == 1 else BINARY[name][:2]
    args = [operand(dt, d, k, "contig") for k, d in enumerate(domains)]
    check(lambda: numpy_fn(alias)(*args),
          lambda: UFUNC_FUNCTIONS[alias](*(la.asarray(a) for a in args)))


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

# How each operand is passed: lazy array (L), NumPy array (N) or Python scalar (P)
OPERATOR_KINDS = ("L-L", "L-P", "P-L", "L-N", "N-L", "L-bigint")


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
    # a Python int outside every integer dtype's range: OverflowError, or exact comparisons
    return (x, 2**70), (la.asarray(x), 2**70)


def _operator_cases():
    for sym, (_, d0, d1) in BINARY_OPERATORS.items():
        for dt in DTYPES:
            for kind in OPERATOR_KINDS:
                yield pytest.param(sym, dt, kind, (d0, d1),
                                   id=f"{OPERATOR_NAMES[sym]}-{dt}-{kind}")


@pytest.mark.parametrize(("sym", "dt", "kind", "domains"), list(_operator_cases()))
def test_binary_operator(sym: str, dt: np.dtype, kind: str, domains: tuple[str, str]) -> None:
    fn = BINARY_OPERATORS[sym][0]
    (nx, ny), (lx, ly) = _operator_operands(dt, kind, domains)
    ulps = TRANSCENDENTAL if sym == "**" else EXACT
    check(lambda: fn(nx, ny), lambda: fn(lx, ly), ulps)


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
WHERE_KINDS = ("contig", "broadcast", "2d", "negstride", "scalars", "intcond")


@pytest.mark.parametrize("kind", WHERE_KINDS)
@pytest.mark.parametrize(("dx", "dy"), [(d, d) for d in DTYPES] + list(MIXED[:8]), ids=str)
def test_where(dx: np.dtype, dy: np.dtype, kind: str) -> None:
    cond = operand(np.dtype(bool), "any", 2, "contig" if kind in ("scalars", "intcond") else kind)
    if kind == "intcond":
        cond = operand(np.dtype("int16"), "any", 2, "contig")  # truthiness of any dtype
    if kind == "scalars":
        # NumPy quirk: np.where(c, 2**63, 0) is int64 with the value wrapped to -2**63 (and
        # 2**64 raises), so two Python ints are kept within int64 here
        x, y = (min(python_scalar(d, "any", k), 2**63 - 1) for k, d in enumerate((dx, dy)))
    else:
        sub = "contig" if kind == "intcond" else kind
        x, y = operand(dx, "any", 0, sub), operand(dy, "any", 1, sub)
    check(lambda: np.where(cond, x, y), lambda: la.where(lazy(cond), lazy(x), lazy(y)))


@pytest.mark.parametrize("kind", ["scalars", "arrays", "lo_above_hi", "broadcast"])
@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_clip(dt: np.dtype, kind: str) -> None:
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
    check(lambda: np.clip(x, lo, hi), lambda: la.clip(lazy(x), lazy(lo), lazy(hi)))


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


@pytest.mark.parametrize("kind", ["contig", "strided", "2d"])
@pytest.mark.parametrize("dst", DTYPES, ids=str)
@pytest.mark.parametrize("src", DTYPES, ids=str)
def test_astype(src: np.dtype, dst: np.dtype, kind: str) -> None:
    x = operand(src, "any", 0, kind)
    if src.kind == "f" and dst.kind in "iu":
        # huge values too, so saturation is exercised on every layout
        x = x * np.asarray(1e12 if src.itemsize == 8 else 1e9, dtype=src)
        rule = lambda: saturating_cast(np.asarray(x), dst)  # noqa: E731
    else:
        rule = None
    check(lambda: np.asarray(x).astype(dst), lambda: la.asarray(x).astype(dst), expect=rule)


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
