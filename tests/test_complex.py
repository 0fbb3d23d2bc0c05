"""complex64 and complex128 (lazyarr/front/complexes.py), differential against NumPy.

A complex lazy value is a pair of real expressions: these tests check values (each part, in
ULPs, with special values: NaN positions, infinities), dtypes (NumPy 2's promotion with weak
Python scalars), shapes and broadcasting, strided and big-endian inputs, views, reductions,
``where``, ``astype``, matmul, evaluation into ``out=`` arrays, and that ``z * w + 1j`` is
one kernel, on the compiled and the interpreted backends (the ``backend`` fixture).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import lazyarr as la
from lazyarr.front import complexes
from lazyarr.front.array import LazyArray

COMPLEX = ("complex64", "complex128")
REAL = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float32", "float64")
# parts of the special-value grid: no large finite values, whose products overflow or not
# depending on whether NumPy's loop fuses them (its SIMD loop uses FMA, its scalar loop not)
SPECIAL_PARTS = (0.0, -0.0, 1.0, -2.5, 0.75, 3e-30, np.inf, -np.inf, np.nan)


# -- helpers --------------------------------------------------------------------------------------
def randn(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    z = rng.standard_normal(shape) + 1j * rng.standard_normal(shape)
    return z.astype(dtype)


def specials(dtype: str) -> np.ndarray:
    grid = [complex(r, i) for r, i in itertools.product(SPECIAL_PARTS, SPECIAL_PARTS)]
    z = np.empty(len(grid), dtype)
    z.real = [g.real for g in grid]  # set part by part: complex(r, i) arithmetic would mix
    z.imag = [g.imag for g in grid]
    return z


def _parts(x: np.ndarray) -> list[np.ndarray]:
    return [x.real, x.imag] if x.dtype.kind == "c" else [x]


def assert_close(got: Any, want: Any, ulps: float = 4, scale: Any = None) -> None:
    """Same dtype and shape; each part: NaN where NumPy has NaN, the same infinities, finite
    values within ``ulps`` of NumPy's relative to the larger of the value and ``scale`` (for
    results that cancel: the size of what was added). ``ulps=0``: the same bits (but NaN's)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    assert got.shape == want.shape, (got.shape, want.shape)
    for g, w in zip(_parts(got), _parts(want), strict=True):
        nan = np.isnan(w) if w.dtype.kind == "f" else np.zeros(w.shape, bool)
        assert np.array_equal(np.isnan(g) if g.dtype.kind == "f" else nan, nan), (g, w)
        if ulps == 0 or w.dtype.kind != "f":
            ok = g[~nan] == w[~nan]
            if w.dtype.kind == "f":
                ok &= np.signbit(g[~nan]) == np.signbit(w[~nan])
            assert ok.all(), (g[~nan][~ok], w[~nan][~ok])
            continue
        finite = np.isfinite(w)
        assert np.array_equal(g[~finite & ~nan], w[~finite & ~nan]), (g, w)
        assert np.array_equal(np.isfinite(g), finite), (g, w)
        eps = np.finfo(w.dtype).eps
        size = np.abs(w.astype(np.float64))
        if scale is not None:
            size = np.maximum(size, np.broadcast_to(np.asarray(scale, np.float64), w.shape))
        tol = ulps * eps * size + np.finfo(w.dtype).smallest_subnormal
        with np.errstate(all="ignore"):
            err = np.abs(g.astype(np.float64) - w.astype(np.float64))
        bad = finite & ~(err <= tol)
        assert not bad.any(), (g[bad], w[bad], err[bad], tol[bad])


def evaluated(expr: Any, backend: str) -> np.ndarray:
    with np.errstate(all="ignore"):
        return expr.eval(backend=backend)


def numpy(fn: Callable[..., Any], *args: Any) -> Any:
    with np.errstate(all="ignore"):
        return fn(*args)


def lazy(*arrays: np.ndarray) -> list[LazyArray]:
    return [la.asarray(a) for a in arrays]


# -- leaves and evaluation ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", COMPLEX)
def test_leaf_round_trip(dtype: str, backend: str, rng: np.random.Generator) -> None:
    z = randn(rng, (4, 6), dtype)
    strided = z[::2, ::-3]
    big = z.astype(np.dtype(dtype).newbyteorder(">"))
    for arr in (z, strided, z.T, big, z[1, 2, ...], z[:0]):
        x = la.asarray(arr)
        assert x.dtype == np.dtype(dtype) and x.shape == arr.shape
        assert_close(evaluated(x, backend), arr.astype(dtype), ulps=0)
        assert_close(evaluated(x + 0, backend), numpy(np.add, arr.astype(dtype), 0), ulps=0)


def test_asarray_reads_when_evaluated() -> None:
    z = np.array([1 + 2j, 3 - 4j])
    x = la.asarray(z) * 2
    z[0] = 10j  # captured by reference: the value when evaluated counts, as for real arrays
    assert_close(x.eval(), np.array([20j, 6 - 8j]), ulps=0)


def test_unsupported_complex_dtypes() -> None:
    with pytest.raises(TypeError, match=r"complex256|clongdouble|not supported"):
        la.asarray(np.ones(3, np.clongdouble))
    with pytest.raises(TypeError, match="complex"):
        la.asarray(np.ones(3)).astype(np.clongdouble)


# -- arithmetic -----------------------------------------------------------------------------------
BINARY = {
    "add": np.add, "subtract": np.subtract, "multiply": np.multiply, "divide": np.true_divide,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", COMPLEX)
def test_binary_values(name: str, dtype: str, backend: str, rng: np.random.Generator) -> None:
    a, b = randn(rng, (5, 7), dtype), randn(rng, (5, 7), dtype)
    fn = BINARY[name]
    got = evaluated(fn(*lazy(a, b)), backend)
    want = numpy(fn, a, b)
    # NumPy's SIMD multiply fuses a product into the other (FMA): the parts cancel
    scale = np.abs(a) * np.abs(b) if name == "multiply" else np.abs(a) + np.abs(b)
    assert_close(got, want, ulps=4, scale=scale if name != "divide" else None)


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("dtype", COMPLEX)
def test_binary_special_values(name: str, dtype: str, backend: str) -> None:
    """Every pair of special values (zeros of both signs, infinities, NaN, tiny): NumPy's
    NaN, infinities and zeros, part by part."""
    s = specials(dtype)
    a, b = np.repeat(s, s.size), np.tile(s, s.size)
    fn = BINARY[name]
    got = evaluated(fn(*lazy(a, b)), backend)
    want = numpy(fn, a, b)
    with np.errstate(all="ignore"):
        scale = np.abs(a) * np.abs(b) if name == "multiply" else None
        assert_close(got, want, ulps=4, scale=scale)


UNARY = {
    "negative": np.negative, "positive": np.positive, "conjugate": np.conjugate,
    "absolute": np.absolute, "square": np.square, "reciprocal": np.reciprocal,
    "sign": np.sign, "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "rint": np.rint, "logical_not": np.logical_not,
}
EXACT_UNARY = {"negative", "positive", "conjugate", "isnan", "isinf", "isfinite", "rint",
               "logical_not"}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", COMPLEX)
def test_unary(name: str, dtype: str, backend: str, rng: np.random.Generator) -> None:
    z = np.concatenate([randn(rng, (40,), dtype), specials(dtype)])
    fn = UNARY[name]
    got = evaluated(getattr(la, name)(la.asarray(z)), backend)
    want = numpy(fn, z)
    scale = np.abs(z) ** 2 if name == "square" else None
    assert_close(got, want, ulps=0 if name in EXACT_UNARY else 4, scale=scale)


def test_operators_and_numpy_dispatch(rng: np.random.Generator) -> None:
    a, b = randn(rng, (6,), "complex128"), randn(rng, (6,), "complex128")
    x, y = lazy(a, b)
    for got, want in [(-x, -a), (+x, +a), (abs(x), abs(a)), (x ** 1, a), (x.conj(), a.conj()),
                      (np.add(x, y), a + b), (np.conj(x), np.conj(a)), (np.abs(x), np.abs(a)),
                      (np.real(x), np.real(a)), (np.imag(x), np.imag(a)), (x.real, a.real),
                      (x.imag, a.imag), (np.angle(x), np.angle(a)),
                      (la.angle(x) if hasattr(la, "angle") else np.angle(x), np.angle(a))]:
        assert isinstance(got, LazyArray)
        assert_close(got.eval(), want, ulps=4)
    assert_close(np.angle(x, deg=True).eval(), np.angle(a, deg=True), ulps=4)
    assert complex(la.asarray(np.array(1 - 2j))) == 1 - 2j


def test_real_arrays_keep_real_and_imag() -> None:
    r = np.array([1.5, -2.0], np.float32)
    x = la.asarray(r)
    assert_close(x.real.eval(), r.real, ulps=0)
    assert_close(x.imag.eval(), r.imag, ulps=0)
    assert_close(np.angle(x).eval(), np.angle(r), ulps=2)


COMPARISONS = {
    "equal": np.equal, "not_equal": np.not_equal, "less": np.less, "less_equal": np.less_equal,
    "greater": np.greater, "greater_equal": np.greater_equal, "maximum": np.maximum,
    "minimum": np.minimum, "fmax": np.fmax, "fmin": np.fmin, "logical_and": np.logical_and,
    "logical_or": np.logical_or, "logical_xor": np.logical_xor,
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
def test_comparisons_and_selection(name: str, backend: str) -> None:
    """NumPy's lexicographic order of complex values, with its NaN rules: exact."""
    s = specials("complex128")
    a, b = np.repeat(s, s.size), np.tile(s, s.size)
    fn = COMPARISONS[name]
    assert_close(evaluated(getattr(la, name)(*lazy(a, b)), backend), numpy(fn, a, b), ulps=0)


# -- dtypes: NumPy 2's promotion -------------------------------------------------------------------
@pytest.mark.parametrize("real", REAL)
@pytest.mark.parametrize("dtype", COMPLEX)
def test_mixed_with_real_dtypes(real: str, dtype: str, rng: np.random.Generator) -> None:
    z = randn(rng, (5,), dtype)
    r = (rng.standard_normal(5) * 10).astype(real) if real != "bool" else \
        rng.integers(0, 2, 5).astype(bool)
    x, y = lazy(z, r)
    for got, want in [(x + y, z + r), (y * x, r * z), (y - x, r - z),
                      (x / y, numpy(np.divide, z, r))]:
        assert got.dtype == want.dtype
        assert_close(got.eval(), want, ulps=4, scale=np.abs(z) * np.abs(r.astype(float)))


WEAK = [
    # (array dtype, Python scalar) -> NumPy 2's result dtype (NEP 50)
    ("float32", 1j), ("float64", 1j), ("int8", 1j), ("uint64", 1j), ("bool", 1j),
    ("complex64", 1j), ("complex64", 2.5), ("complex64", 3), ("complex128", 2.5),
    ("complex64", True), ("complex128", -1 - 1j),
]


@pytest.mark.parametrize(("dtype", "value"), WEAK)
def test_weak_python_scalars(dtype: str, value: Any, backend: str) -> None:
    arr = np.array([1, 0, 3], dtype)
    x = la.asarray(arr)
    for got, want in [(x * value, arr * value), (value + x, value + arr),
                      (x - value, arr - value), (value / x, numpy(np.divide, value, arr))]:
        assert got.dtype == want.dtype, (got.dtype, want.dtype)
        assert_close(evaluated(got, backend), want, ulps=2)


def test_weak_promotion_named_in_the_brief() -> None:
    assert (la.asarray(np.ones(2, np.float32)) * 1j).dtype == np.complex64
    assert (la.asarray(np.ones(2, np.int8)) + 1j).dtype == np.complex128
    assert (la.asarray(np.ones(2, np.complex64)) + np.float64(1)).dtype == np.complex128
    assert (la.asarray(np.ones(2, np.float32)) + np.complex64(1j)).dtype == np.complex64


def test_float16_with_complex() -> None:
    h = np.array([1.5, -2.0], np.float16)
    if np.dtype(np.float16) not in la.supported_dtypes():
        with pytest.raises(TypeError):
            la.asarray(h) * 1j
        return
    got = la.asarray(h) * 1j
    assert got.dtype == (h * 1j).dtype
    assert_close(got.eval(), h * 1j, ulps=0)


def test_numpy_scalars_and_all_scalar_operands() -> None:
    z = np.array([1 + 1j, 2 - 1j], np.complex64)
    x = la.asarray(z)
    for value in (np.complex64(2 - 1j), np.complex128(2 - 1j), np.float64(0.5)):
        assert_close((x * value).eval(), z * value, ulps=2)
    assert_close(la.add(1j, 2).eval(), np.add(1j, 2), ulps=0)


def test_unsupported_ops_raise_type_error() -> None:
    x = la.asarray(np.array([1 + 1j]))
    with pytest.raises(TypeError):
        la.floor(x)  # NumPy has no complex loop
    with pytest.raises(TypeError):
        x % 2
    with pytest.raises(TypeError, match="complex"):
        la.clip(x, 0, 1)  # NumPy's, but not lazyarr's yet


def test_elementary_functions_route_to_complex_math(rng: np.random.Generator) -> None:
    """exp and friends are lazyarr/front/complex_math.py's where it has them; elsewhere a
    TypeError naming complex."""
    try:
        from lazyarr.front import complex_math
    except ImportError:
        complex_math = None
    z = randn(rng, (8,), "complex128") * 0.5
    for name in ("exp", "log", "sqrt", "sin", "tanh", "arctan"):
        x = la.asarray(z)
        if getattr(complex_math, name, None) is None:
            with pytest.raises(TypeError, match="complex"):
                getattr(la, name)(x)
        else:
            assert_close(getattr(la, name)(x).eval(), getattr(np, name)(z), ulps=16,
                         scale=np.abs(getattr(np, name)(z)))


# -- shapes ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("sa", "sb"), [((3, 1), (4,)), ((), (2, 3)), ((2, 0), (1,)),
                                         ((), ()), ((4, 1, 2), (3, 1))])
def test_broadcasting_and_shapes(sa: tuple, sb: tuple, backend: str,
                                 rng: np.random.Generator) -> None:
    a, b = randn(rng, sa, "complex128"), randn(rng, sb, "complex64")
    x, y = lazy(np.asarray(a), np.asarray(b))
    got = evaluated(x * y + 1j, backend)
    want = numpy(lambda p, q: p * q + 1j, a, b)
    assert_close(got, np.asarray(want), ulps=4, scale=np.abs(a) * np.abs(b) + 1)


def test_broadcast_error_is_numpys() -> None:
    x, y = lazy(np.ones(3, complex), np.ones(4))
    with pytest.raises(ValueError, match="could not be broadcast"):
        x + y


# -- views -----------------------------------------------------------------------------------------
VIEWS: dict[str, Callable[[Any], Any]] = {
    "slice": lambda x: x[1:, ::-2],
    "int": lambda x: x[2],
    "newaxis": lambda x: x[None, :, 1],
    "ellipsis": lambda x: x[..., 0],
    "T": lambda x: x.T,
    "transpose": lambda x: x.transpose(1, 0),
    "reshape": lambda x: x.reshape(2, -1),
    "ravel": lambda x: x.ravel(),
    "flip": lambda x: np.flip(x, 0),
    "expand_dims": lambda x: np.expand_dims(x, 1),
    "squeeze": lambda x: x[:1].squeeze(0),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "moveaxis": lambda x: np.moveaxis(x, 0, -1),
    "broadcast_to": lambda x: np.broadcast_to(x[:1], (3, 4, 5)),
    "int_array": lambda x: x[np.array([3, 0, 0])],
    "mask": lambda x: x[np.array([True, False, True, False])],
    "take": lambda x: np.take(x, np.array([1, 4]), axis=1),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_views(name: str, backend: str, rng: np.random.Generator) -> None:
    z = randn(rng, (4, 5), "complex128")
    fn = VIEWS[name]
    x = la.asarray(z)
    # of a leaf (NumPy's views of the parts) and of an expression (movement nodes)
    assert_close(evaluated(fn(x), backend), fn(z), ulps=0)
    assert_close(evaluated(fn(x * 2j), backend), fn(z * 2j), ulps=0)


def test_setitem(rng: np.random.Generator) -> None:
    z = randn(rng, (4, 3), "complex64")
    x = la.asarray(z) * 1
    want = z.copy()
    for index, value in [((0, 1), 5j), (slice(1, 3), np.array([1, 2, 3j])),
                         (np.array([True, False, True, False]), 7.0)]:
        x[index] = value
        want[index] = value
    assert_close(x.eval(), want, ulps=0)
    y = la.asarray(np.zeros(2, np.complex128))
    y[1] = la.asarray(np.array(2 - 3j))
    assert_close(y.eval(), np.array([0, 2 - 3j]), ulps=0)


def test_in_place_operators() -> None:
    z = np.array([1 + 1j, 2j])
    x = la.asarray(z)
    x += 1j
    x *= 2
    assert_close(x.eval(), (z + 1j) * 2, ulps=0)
    r = la.asarray(np.ones(2))
    with pytest.raises(TypeError, match="same_kind"):
        r += 1j


# -- where, astype, concatenate, matmul ------------------------------------------------------------
def test_where(backend: str, rng: np.random.Generator) -> None:
    z = randn(rng, (3, 4), "complex64")
    r = rng.standard_normal((3, 4)).astype(np.float32)
    c = r > 0
    x, y = lazy(z, r)
    cases = [
        (la.where(la.asarray(c), x, y), np.where(c, z, r)),
        (la.where(la.asarray(c), y, 1j), np.where(c, r, 1j)),
        (la.where(la.asarray(c), x, 0), np.where(c, z, 0)),
        (la.where(x, 1.0, 2.0), np.where(z, 1.0, 2.0)),  # a complex condition: nonzero
        (np.where(la.asarray(c), x, x * 2), np.where(c, z, z * 2)),
    ]
    for got, want in cases:
        assert got.dtype == want.dtype
        assert_close(evaluated(got, backend), want, ulps=0)


@pytest.mark.parametrize("target", [*COMPLEX, *REAL])
def test_astype(target: str, backend: str) -> None:
    z = np.array([1.5 - 2j, -0.0 + 0j, 0j, np.nan + 1j, 3 + 0.5j, -7.25 - 0j])
    if target in REAL and target[0] in "iu":
        # NaN to an integer is undefined, and so (C's rule) is a negative value to an
        # unsigned one (lazyarr's real casts give 0 there, NumPy's wrap)
        z = z[[0, 1, 2, 4]] if target[0] == "i" else z[[1, 2, 4]]
    x = la.asarray(z)
    for source in (z, z.astype(np.complex64)):
        got = evaluated(la.asarray(source).astype(target), backend)
        with pytest.warns(np.exceptions.ComplexWarning) if target in REAL and target != "bool" \
                else _nothing():
            want = source.astype(target)
        assert_close(got, want, ulps=0)
    r = np.array([1, -2, 3], np.int16)
    if target in COMPLEX:
        assert_close(evaluated(la.asarray(r).astype(target), backend), r.astype(target), ulps=0)
        assert_close(evaluated(x.astype(target), backend), z.astype(target), ulps=0)


class _nothing:  # noqa: N801 (a context manager that checks nothing)
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def test_asarray_with_complex_dtype() -> None:
    got = la.asarray([1, 2, 3], dtype=np.complex64)
    assert got.dtype == np.complex64
    assert_close(got.eval(), np.asarray([1, 2, 3], np.complex64), ulps=0)
    assert la.asarray(la.asarray(np.ones(2)), dtype=complex).dtype == np.complex128


def test_concatenate_and_stack(rng: np.random.Generator) -> None:
    z = randn(rng, (2, 3), "complex64")
    r = rng.standard_normal((2, 3))
    x, y = lazy(z, r)
    for got, want in [(la.concatenate([x, y], axis=0), np.concatenate([z, r], axis=0)),
                      (la.concatenate([x, x * 1j], axis=None), np.concatenate([z, z * 1j],
                                                                              axis=None)),
                      (la.stack([y, x], axis=1), np.stack([r, z], axis=1))]:
        assert got.dtype == want.dtype
        assert_close(got.eval(), want, ulps=0)


@pytest.mark.parametrize(("sa", "sb"), [((3, 4), (4, 2)), ((4,), (4,)), ((2, 3, 4), (4,)),
                                         ((2, 3, 4), (4, 5))])
def test_matmul_and_dot(sa: tuple, sb: tuple, backend: str, rng: np.random.Generator) -> None:
    a, b = randn(rng, sa, "complex128"), rng.standard_normal(sb)
    x, y = lazy(a, b)
    scale = np.abs(a) @ np.abs(b)
    assert_close(evaluated(x @ y, backend), a @ b, ulps=8, scale=scale)
    assert_close(evaluated(la.matmul(x * 1j, y), backend), (a * 1j) @ b, ulps=8, scale=scale)
    assert_close(evaluated(la.dot(x, y), backend), np.dot(a, b), ulps=8, scale=scale)
    if a.ndim <= 2:  # the real operand first
        assert_close(evaluated(np.dot(y.T, x.T), backend), np.dot(b.T, a.T), ulps=8,
                     scale=np.abs(b.T) @ np.abs(a.T))


# -- reductions ------------------------------------------------------------------------------------
REDUCTIONS = ["sum", "mean", "prod", "max", "min", "argmax", "argmin", "any", "all", "var",
              "std"]


@pytest.mark.parametrize("name", REDUCTIONS)
@pytest.mark.parametrize("dtype", COMPLEX)
def test_reductions(name: str, dtype: str, backend: str, rng: np.random.Generator) -> None:
    z = randn(rng, (3, 5), dtype)
    z[1, 2] = 0
    x = la.asarray(z)
    axes: list[Any] = [None, 0, 1] if name.startswith("arg") else [None, 0, 1, (0, 1)]
    for axis in axes:
        for keepdims in (False, True):
            got = evaluated(getattr(x, name)(axis=axis, keepdims=keepdims), backend)
            want = numpy(lambda v, a=axis, k=keepdims: getattr(v, name)(axis=a, keepdims=k), z)
            n = z.size if axis is None else np.prod([z.shape[a] for a in np.atleast_1d(axis)])
            assert_close(got, np.asarray(want), ulps=4 * n,
                         scale=np.abs(z).sum() if name in ("sum", "mean") else None)


def test_reduction_dtypes_and_special_values(backend: str) -> None:
    r = np.arange(6, dtype=np.int16).reshape(2, 3)
    got = la.asarray(r).sum(axis=0, dtype=np.complex64)
    assert got.dtype == np.complex64
    assert_close(evaluated(got, backend), r.sum(axis=0, dtype=np.complex64), ulps=0)
    z = np.array([complex(1, np.inf), 1 + 0j])  # NumPy's mean divides as complex: NaN real
    assert_close(evaluated(la.mean(la.asarray(z)), backend), numpy(np.mean, z), ulps=0)
    e = np.zeros((0, 2), np.complex64)
    assert_close(evaluated(la.asarray(e).sum(axis=0), backend), e.sum(axis=0), ulps=0)
    with pytest.raises(ValueError):
        la.asarray(e).max(axis=0)


# -- evaluation: out=, several results, one kernel -------------------------------------------------
def test_one_kernel(rng: np.random.Generator) -> None:
    z, w = randn(rng, (64,), "complex128"), randn(rng, (64,), "complex128")
    e = la.asarray(z) * la.asarray(w) + 1j
    re, im = complexes.real_roots([e._node])
    assert len(la.explain(LazyArray(re), LazyArray(im)).kernel_objects) == 1
    la.clear_cache()
    before = la.cache_info()
    assert_close(e.eval(), z * w + 1j, ulps=4, scale=np.abs(z) * np.abs(w) + 1)
    after = la.cache_info()
    assert (after.hits + after.misses) - (before.hits + before.misses) == 1
    assert after.compiles - before.compiles == 1


def test_eval_several_and_out(backend: str, rng: np.random.Generator) -> None:
    z = randn(rng, (3, 4), "complex128")
    r = rng.standard_normal((3, 4))
    x, y = lazy(z, r)
    got = la.eval(x * 2, y + 1, abs(x), backend=backend)
    for g, w in zip(got, (z * 2, r + 1, np.abs(z)), strict=True):
        assert_close(g, w, ulps=2)
    out = np.zeros((3, 4), np.complex64)
    assert la.eval(x * 1j, out=out, backend=backend) is out
    assert_close(out, (z * 1j).astype(np.complex64), ulps=0)
    big = np.zeros((3, 4), ">c16")
    (x - 1).eval(out=big, backend=backend)
    assert_close(big.astype(np.complex128), z - 1, ulps=0)
    into = np.zeros((2, 3, 4), np.complex128)  # a real result into a complex out=, broadcast
    (y * 3).eval(out=into, backend=backend)
    assert_close(into, np.broadcast_to(r * 3 + 0j, (2, 3, 4)), ulps=0)
    with pytest.raises(TypeError, match="same_kind"):
        x.eval(out=np.zeros((3, 4)), backend=backend)
    with pytest.raises(ValueError, match="non-broadcastable"):
        x.eval(out=np.zeros((5, 4), complex), backend=backend)


def test_repeated_evaluation_reads_new_values() -> None:
    z = np.array([1 + 1j, 2 - 2j])
    e = la.asarray(z) * (1 + 1j)
    first = e.eval().copy()
    z *= 2
    second = e.eval()
    assert_close(second, first * 2, ulps=0)


def test_building_long_chains_is_linear() -> None:
    """Complex operands are not memoised by id (a complex result holds their parts, not
    them): building walks no graphs, and equal expressions still evaluate equal."""
    z = la.asarray(np.array([1 + 1j, 0.5]))
    w = la.asarray(np.array([0.5 - 0.25j, 1j]))
    e, want = z, np.array([1 + 1j, 0.5])
    for _ in range(50):
        e = e * w + 1j
        want = want * np.array([0.5 - 0.25j, 1j]) + 1j
    assert_close(e.eval(), want, ulps=64, scale=np.abs(want) + 1)
