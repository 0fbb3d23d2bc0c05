"""The array API standard's manipulation, utility and linear algebra functions against
NumPy 2's functions of the same names.

Every case is written once against a namespace ``xp`` and run with ``xp = numpy`` and
``xp = lazyarr``: the same values (bit for bit: NaN where NaN, the sign of zero), dtype and
shape, or the same exception type, on both backends, over dtypes, 0-d and zero-size arrays
and negative axes. Inputs are never written; results NumPy documents as new arrays do not
alias their inputs, and views of captured arrays are views. Where lazyarr follows the
standard rather than NumPy, a test says so by name.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyarr as la

BACKENDS = ("interp", "cpu")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = ("bool", "int8", "uint16", "int64", "uint64", "float32", "float64")


def data(shape: tuple[int, ...], dt: str, seed: int = 0, small: bool = False) -> np.ndarray:
    """Random values of ``dt``; floats with a NaN, an infinity and -0.0 among them, unless
    ``small`` (integers in [-5, 5], whose float sums are exact in any order)."""
    rng = np.random.default_rng(seed)
    if dt == "bool":
        return rng.random(shape) < 0.5
    if small:
        low = 0 if dt.startswith("u") else -5
        return rng.integers(low, 6, size=shape).astype(dt)
    if dt in INTS:
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    x = (rng.standard_normal(shape) * 10).astype(dt)
    flat = x.reshape(-1)
    for k, v in enumerate((math.nan, -0.0, math.inf, -math.inf)):
        if flat.size > 4 * (k + 1):
            flat[3 * k + 1] = v
    return x


def bits_equal(got: np.ndarray, want: np.ndarray) -> bool:
    """Same dtype, shape and values: NaN where NaN, other floats bit for bit."""
    got, want = np.asarray(got), np.asarray(want)
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    if want.dtype.kind != "f":
        return bool((got == want).all())
    nan = np.isnan(want)
    if not (nan == np.isnan(got)).all():
        return False
    ints = f"u{want.dtype.itemsize}"
    return bool((got[~nan].view(ints) == want[~nan].view(ints)).all())


def evaluated(result: Any, backend: str) -> Any:
    """A lazy result evaluated; sequences element by element; anything else as it is."""
    if isinstance(result, la.LazyArray):
        return np.asarray(la.eval(result, backend=backend))
    if isinstance(result, list | tuple) and result and isinstance(result[0], la.LazyArray):
        return type(result)(evaluated(r, backend) for r in result)
    return result


def assert_same(got: Any, want: Any, what: str) -> None:
    if isinstance(want, np.ndarray | np.generic):
        assert bits_equal(got, want), f"{what}: got {got!r}, NumPy {want!r}"
    elif isinstance(want, list | tuple):
        assert isinstance(got, list | tuple) and len(got) == len(want), what
        for g, w in zip(got, want, strict=True):
            assert_same(g, w, what)
    else:
        assert got == want, f"{what}: got {got!r}, NumPy {want!r}"


def run_case(case: Callable[..., Any], arrays: list[np.ndarray], backend: str,
             what: str) -> None:
    """``case(np, *arrays)`` against ``case(la, *lazy arrays)``: the same result or the
    same exception type; the inputs unchanged."""
    saved = [a.copy() for a in arrays]
    try:
        with np.errstate(all="ignore"):
            want = case(np, *arrays)
    except Exception as exc:  # whichever NumPy raises, lazyarr must
        with pytest.raises(type(exc)), np.errstate(all="ignore"):
            evaluated(case(la, *[la.asarray(a) for a in arrays]), backend)
        return
    with np.errstate(all="ignore"):
        got = evaluated(case(la, *[la.asarray(a) for a in arrays]), backend)
    assert_same(got, want, what)
    for a, s in zip(arrays, saved, strict=True):
        assert bits_equal(a, s), f"{what}: an input was written"


# -- cases that hold for every dtype ---------------------------------------------------------
# (id, case(xp, *arrays), shapes of the arrays)
CASES: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("concat", lambda xp, a, b: xp.concat([a, b]), [(2, 3), (4, 3)]),
    ("concat-axis-1", lambda xp, a, b: xp.concat((a, b), axis=-1), [(2, 3), (2, 1)]),
    ("concat-axis1-3d", lambda xp, a, b: xp.concat([a, b], axis=1), [(2, 1, 3), (2, 4, 3)]),
    ("concat-none", lambda xp, a, b: xp.concat([a, b], axis=None), [(2, 3), (3,)]),
    ("concat-none-0d", lambda xp, a, b: xp.concat([a, b], axis=None), [(), (2,)]),
    ("concat-empty", lambda xp, a, b: xp.concat([a, b]), [(0, 3), (2, 3)]),
    ("concat-one", lambda xp, a: xp.concat([a], axis=1), [(2, 3)]),
    ("concat-expression", lambda xp, a, b: xp.concat([xp.flip(a, axis=0), b.T]),
     [(2, 3), (3, 1)]),
    ("stack", lambda xp, a, b: xp.stack([a, b]), [(2, 3), (2, 3)]),
    ("stack-axis-1", lambda xp, a, b: xp.stack((a, b), axis=-1), [(2, 3), (2, 3)]),
    ("stack-0d", lambda xp, a, b: xp.stack([a, b]), [(), ()]),
    ("stack-empty", lambda xp, a, b: xp.stack([a, b], axis=1), [(0, 2), (0, 2)]),
    ("unstack", lambda xp, a: xp.unstack(a), [(3, 2)]),
    ("unstack-axis1", lambda xp, a: xp.unstack(a, axis=1), [(2, 3, 2)]),
    ("unstack-axis-1", lambda xp, a: xp.unstack(a, axis=-1), [(2, 3)]),
    ("unstack-1d", lambda xp, a: xp.unstack(a), [(4,)]),
    ("unstack-empty-axis", lambda xp, a: xp.unstack(a), [(0, 3)]),
    ("unstack-empty-rest", lambda xp, a: xp.unstack(a), [(3, 0)]),
    ("roll", lambda xp, a: xp.roll(a, 2), [(7,)]),
    ("roll-flat-2d", lambda xp, a: xp.roll(a, -4), [(3, 4)]),
    ("roll-axis", lambda xp, a: xp.roll(a, 1, axis=0), [(3, 4)]),
    ("roll-axis-neg", lambda xp, a: xp.roll(a, -5, axis=-1), [(3, 4)]),
    ("roll-big-shift", lambda xp, a: xp.roll(a, 11, axis=1), [(3, 4)]),
    ("roll-full-turn", lambda xp, a: xp.roll(a, 8, axis=1), [(3, 4)]),
    ("roll-zero", lambda xp, a: xp.roll(a, 0), [(3, 4)]),
    ("roll-tuple", lambda xp, a: xp.roll(a, (1, -2), axis=(0, 2)), [(2, 3, 4)]),
    ("roll-int-on-axes", lambda xp, a: xp.roll(a, 1, axis=(0, 1)), [(2, 3)]),
    ("roll-repeated-axis", lambda xp, a: xp.roll(a, (1, 2), axis=(1, 1)), [(2, 5)]),
    ("roll-tuple-flat", lambda xp, a: xp.roll(a, (1, 2)), [(2, 3)]),
    ("roll-0d", lambda xp, a: xp.roll(a, 3), [()]),
    ("roll-empty", lambda xp, a: xp.roll(a, 2, axis=0), [(0, 3)]),
    ("roll-expression", lambda xp, a: xp.roll(a.T, 1, axis=0) == a.T, [(2, 3)]),
    ("repeat", lambda xp, a: xp.repeat(a, 2), [(2, 3)]),
    ("repeat-axis", lambda xp, a: xp.repeat(a, 3, axis=1), [(2, 3)]),
    ("repeat-axis-neg", lambda xp, a: xp.repeat(a, 2, axis=-2), [(2, 3, 2)]),
    ("repeat-zero", lambda xp, a: xp.repeat(a, 0, axis=0), [(2, 3)]),
    ("repeat-one", lambda xp, a: xp.repeat(a, 1), [(2, 3)]),
    ("repeat-float-count", lambda xp, a: xp.repeat(a, 2.5, axis=0), [(2, 3)]),
    ("repeat-numpy-int", lambda xp, a: xp.repeat(a, np.int8(2), axis=1), [(2, 3)]),
    ("repeat-0d", lambda xp, a: xp.repeat(a, 4), [()]),
    ("repeat-0d-axis", lambda xp, a: xp.repeat(a, 2, axis=0), [()]),
    ("repeat-0d-axis-neg", lambda xp, a: xp.repeat(a, np.array([3]), axis=-1), [()]),
    ("repeat-empty", lambda xp, a: xp.repeat(a, 3, axis=1), [(0, 2)]),
    ("repeat-array", lambda xp, a: xp.repeat(a, np.array([2, 0, 1]), axis=1), [(2, 3)]),
    ("repeat-array-flat", lambda xp, a: xp.repeat(a, np.array([1, 2, 0, 3, 1, 1])), [(2, 3)]),
    ("repeat-array-one", lambda xp, a: xp.repeat(a, np.array([2]), axis=0), [(2, 3)]),
    ("repeat-array-0d", lambda xp, a: xp.repeat(a, np.array(3), axis=0), [(2, 3)]),
    ("repeat-array-uint8", lambda xp, a: xp.repeat(a, np.array([1, 0, 2], np.uint8)),
     [(3,)]),
    ("tile", lambda xp, a: xp.tile(a, (2, 3)), [(2, 3)]),
    ("tile-more-reps", lambda xp, a: xp.tile(a, (2, 1, 2)), [(2, 3)]),
    ("tile-fewer-reps", lambda xp, a: xp.tile(a, (3,)), [(2, 1, 2)]),
    ("tile-int", lambda xp, a: xp.tile(a, 2), [(3,)]),
    ("tile-zero", lambda xp, a: xp.tile(a, (0, 2)), [(2, 3)]),
    ("tile-ones", lambda xp, a: xp.tile(a, (1, 1)), [(2, 3)]),
    ("tile-0d", lambda xp, a: xp.tile(a, (2, 2)), [()]),
    ("tile-0d-none", lambda xp, a: xp.tile(a, ()), [()]),
    ("tile-empty", lambda xp, a: xp.tile(a, (2, 2)), [(0, 3)]),
    ("tile-strided", lambda xp, a: xp.tile(a[:, ::-2], (2, 1)), [(2, 5)]),
    ("squeeze", lambda xp, a: xp.squeeze(a, axis=0), [(1, 3)]),
    ("squeeze-neg", lambda xp, a: xp.squeeze(a, axis=-1), [(2, 3, 1)]),
    ("squeeze-tuple", lambda xp, a: xp.squeeze(a, axis=(0, 2)), [(1, 3, 1)]),
    ("squeeze-positional", lambda xp, a: xp.squeeze(a, 1), [(3, 1)]),
    ("expand_dims", lambda xp, a: xp.expand_dims(a, axis=0), [(2, 3)]),
    ("expand_dims-last", lambda xp, a: xp.expand_dims(a, axis=-1), [(2, 3)]),
    ("expand_dims-neg-first", lambda xp, a: xp.expand_dims(a, axis=-3), [(2, 3)]),
    ("expand_dims-tuple", lambda xp, a: xp.expand_dims(a, axis=(0, -1)), [(2, 3)]),
    ("expand_dims-0d", lambda xp, a: xp.expand_dims(a, axis=0), [()]),
    ("moveaxis", lambda xp, a: xp.moveaxis(a, 0, -1), [(2, 3, 4)]),
    ("moveaxis-tuple", lambda xp, a: xp.moveaxis(a, (0, 1), (2, 0)), [(2, 3, 4)]),
    ("flip", lambda xp, a: xp.flip(a), [(2, 3)]),
    ("flip-axis", lambda xp, a: xp.flip(a, axis=-1), [(2, 3)]),
    ("flip-tuple", lambda xp, a: xp.flip(a, axis=(0, 2)), [(2, 3, 2)]),
    ("flip-0d", lambda xp, a: xp.flip(a), [()]),
    ("flip-empty", lambda xp, a: xp.flip(a, axis=0), [(0, 2)]),
    ("permute_dims", lambda xp, a: xp.permute_dims(a, (1, 0, 2)), [(2, 3, 4)]),
    ("permute_dims-neg", lambda xp, a: xp.permute_dims(a, (-1, 0, 1)), [(2, 3, 4)]),
    ("reshape", lambda xp, a: xp.reshape(a, (3, 2)), [(2, 3)]),
    ("reshape-infer", lambda xp, a: xp.reshape(a, (-1,)), [(2, 3)]),
    ("reshape-infer-mid", lambda xp, a: xp.reshape(a, (2, -1, 2)), [(4, 3)]),
    ("reshape-0d", lambda xp, a: xp.reshape(a, (1, 1)), [()]),
    ("reshape-to-0d", lambda xp, a: xp.reshape(a, ()), [(1, 1)]),
    ("reshape-empty", lambda xp, a: xp.reshape(a, (3, 0, 2)), [(0, 6)]),
    ("reshape-transposed", lambda xp, a: xp.reshape(a.T, (6,)), [(2, 3)]),
    ("reshape-copy-true", lambda xp, a: xp.reshape(a, (6,), copy=True), [(2, 3)]),
    ("reshape-copy-false", lambda xp, a: xp.reshape(a, (3, 2), copy=False), [(2, 3)]),
    ("reshape-copy-false-strided", lambda xp, a: xp.reshape(a[:, ::2], (2, 1, 2),
                                                            copy=False), [(2, 4)]),
    ("reshape-copy-none-transposed",
     lambda xp, a: xp.reshape(a.T, (6,), copy=None), [(2, 3)]),
    ("broadcast_arrays", lambda xp, a, b: xp.broadcast_arrays(a, b), [(3, 1), (4,)]),
    ("broadcast_arrays-0d", lambda xp, a, b: xp.broadcast_arrays(a, b), [(), (2, 2)]),
    ("broadcast_arrays-one", lambda xp, a: xp.broadcast_arrays(a), [(2,)]),
    ("broadcast_arrays-empty", lambda xp, a, b: xp.broadcast_arrays(a, b), [(0, 1), (3,)]),
    ("broadcast_to", lambda xp, a: xp.broadcast_to(a, (2, 3, 4)), [(3, 1)]),
    ("diff", lambda xp, a: xp.diff(a), [(5,)]),
    ("diff-2d", lambda xp, a: xp.diff(a, axis=0), [(4, 3)]),
    ("diff-n2", lambda xp, a: xp.diff(a, n=2, axis=-1), [(3, 5)]),
    ("diff-n-large", lambda xp, a: xp.diff(a, n=6), [(2, 4)]),
    ("diff-prepend", lambda xp, a, b: xp.diff(a, axis=1, prepend=b), [(2, 3), (2, 2)]),
    ("diff-append", lambda xp, a, b: xp.diff(a, axis=0, append=b), [(2, 3), (1, 3)]),
    ("diff-both", lambda xp, a, b, c: xp.diff(a, n=2, prepend=b, append=c),
     [(2, 3), (2, 1), (2, 2)]),
    ("diff-0d-append", lambda xp, a, b: xp.diff(a, axis=0, append=b), [(3, 2), ()]),
    ("diff-empty", lambda xp, a: xp.diff(a), [(2, 0)]),
    ("diff-one", lambda xp, a: xp.diff(a), [(1,)]),
    ("diff-expression", lambda xp, a: xp.diff(xp.flip(a, axis=0), axis=0), [(4, 2)]),
    ("matmul", lambda xp, a, b: xp.matmul(a, b), [(2, 3), (3, 4)]),
    ("matrix_transpose", lambda xp, a: xp.matrix_transpose(a), [(2, 3, 4)]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize(("case", "shapes"), [pytest.param(c[1], c[2], id=c[0]) for c in CASES])
def test_matches_numpy(case: Callable[..., Any], shapes: list[tuple[int, ...]], dt: str,
                       backend: str) -> None:
    arrays = [data(s, dt, seed=k) for k, s in enumerate(shapes)]
    run_case(case, arrays, backend, f"{dt} on {backend}")


# exact sums: small integer values (any summation order gives the same float)
LINALG: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("tensordot", lambda xp, a, b: xp.tensordot(a, b), [(2, 3, 4), (3, 4, 5)]),
    ("tensordot-1", lambda xp, a, b: xp.tensordot(a, b, axes=1), [(2, 3), (3, 4)]),
    ("tensordot-0", lambda xp, a, b: xp.tensordot(a, b, axes=0), [(2, 3), (4,)]),
    ("tensordot-0d", lambda xp, a, b: xp.tensordot(a, b, axes=0), [(), (3,)]),
    ("tensordot-lists", lambda xp, a, b: xp.tensordot(a, b, axes=([0, 2], [2, 1])),
     [(2, 3, 4), (5, 4, 2)]),
    ("tensordot-negative", lambda xp, a, b: xp.tensordot(a, b, axes=([-1], [-2])),
     [(2, 3), (4, 3, 5)]),
    ("tensordot-ints", lambda xp, a, b: xp.tensordot(a, b, axes=(1, 0)), [(2, 3), (3, 2)]),
    ("tensordot-all", lambda xp, a, b: xp.tensordot(a, b, axes=2), [(2, 3), (2, 3)]),
    ("tensordot-empty", lambda xp, a, b: xp.tensordot(a, b, axes=1), [(2, 0), (0, 3)]),
    ("vecdot", lambda xp, a, b: xp.vecdot(a, b), [(5,), (5,)]),
    ("vecdot-broadcast", lambda xp, a, b: xp.vecdot(a, b), [(2, 3, 4), (4,)]),
    ("vecdot-broadcast-both", lambda xp, a, b: xp.vecdot(a, b), [(2, 1, 4), (3, 4)]),
    ("vecdot-axis0", lambda xp, a, b: xp.vecdot(a, b, axis=0), [(3, 2), (3, 2)]),
    ("vecdot-axis-2", lambda xp, a, b: xp.vecdot(a, b, axis=-2), [(2, 3, 4), (3, 4)]),
    ("vecdot-empty", lambda xp, a, b: xp.vecdot(a, b), [(2, 0), (0,)]),
    ("vecdot-expression", lambda xp, a, b: xp.vecdot(a.T, xp.flip(b, axis=0)),
     [(4, 3), (4,)]),
    ("matmul-batched", lambda xp, a, b: xp.matmul(a, b), [(2, 1, 3), (4, 3, 2)]),
]
LINALG_DTYPES = ("bool", "int8", "uint8", "int32", "uint64", "float32", "float64")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", LINALG_DTYPES)
@pytest.mark.parametrize(("case", "shapes"),
                         [pytest.param(c[1], c[2], id=c[0]) for c in LINALG])
def test_linear_algebra_matches_numpy(case: Callable[..., Any], shapes: list[tuple[int, ...]],
                                      dt: str, backend: str) -> None:
    arrays = [data(s, dt, seed=k, small=True) for k, s in enumerate(shapes)]
    run_case(case, arrays, backend, f"{dt} on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", ["int8", "uint8", "int16"])
def test_vecdot_wraps_like_numpy(dt: str, backend: str) -> None:
    """Integer products and sums wrap in the promoted dtype, as NumPy's vecdot's loop."""
    info = np.iinfo(dt)
    a = np.array([[info.max, info.max, 3], [info.min, info.max, 1]], dt)
    b = np.array([info.max, 2, info.min], dt)
    run_case(lambda xp, x, y: xp.vecdot(x, y), [a, b], backend, dt)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("dt1", "dt2"), [("int8", "uint8"), ("int8", "float32"),
                                          ("uint16", "int64"), ("bool", "int16"),
                                          ("float32", "float64"), ("uint64", "float32")])
def test_mixed_dtypes_promote_as_numpy(dt1: str, dt2: str, backend: str) -> None:
    a, b = data((2, 3), dt1, 0, small=True), data((2, 3), dt2, 1, small=True)
    for case in (lambda xp, x, y: xp.concat([x, y]), lambda xp, x, y: xp.stack([x, y]),
                 lambda xp, x, y: xp.vecdot(x, y), lambda xp, x, y: xp.tensordot(x, y.T, axes=1),
                 lambda xp, x, y: xp.diff(x, prepend=y), lambda xp, x, y: xp.diff(x, append=1),
                 lambda xp, x, y: xp.broadcast_arrays(x, y[:1])):
        run_case(case, [a, b], backend, f"{dt1}, {dt2} on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_linear_algebra_of_random_floats(dt: str, backend: str) -> None:
    """Sums of products of random floats: within a few ULP of NumPy's, with an absolute
    bound from the sum of the products' magnitudes where terms cancel."""
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal((6, 7, 40)).astype(dt), rng.standard_normal((40, 7)).astype(dt)
    eps = np.finfo(dt).eps
    got = la.vecdot(a, b.T).eval(backend=backend)
    bound = 4 * 40 * eps * np.vecdot(np.abs(a), np.abs(b.T))
    assert got.dtype == np.dtype(dt)
    np.testing.assert_array_less(np.abs(got - np.vecdot(a, b.T)), bound + np.finfo(dt).tiny)
    got = la.tensordot(a, b, axes=([2, 1], [0, 1])).eval(backend=backend)
    want = np.tensordot(a, b, axes=([2, 1], [0, 1]))
    bound = 4 * 280 * eps * np.tensordot(np.abs(a), np.abs(b), axes=([2, 1], [0, 1]))
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_less(np.abs(got - want), bound + np.finfo(dt).tiny)


# -- errors: NumPy's exception types ----------------------------------------------------------
ERRORS: list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]] = [
    ("concat-0d", lambda xp, a, b: xp.concat([a, b]), [(), ()]),
    ("concat-shapes", lambda xp, a, b: xp.concat([a, b]), [(2, 3), (2, 4)]),
    ("concat-ndims", lambda xp, a, b: xp.concat([a, b]), [(2, 3), (3,)]),
    ("concat-axis", lambda xp, a, b: xp.concat([a, b], axis=2), [(2, 3), (2, 3)]),
    ("concat-axis-neg", lambda xp, a, b: xp.concat([a, b], axis=-3), [(2, 3), (2, 3)]),
    ("concat-nothing", lambda xp: xp.concat([]), []),
    ("stack-shapes", lambda xp, a, b: xp.stack([a, b]), [(2, 3), (3, 2)]),
    ("stack-axis", lambda xp, a, b: xp.stack([a, b], axis=3), [(2, 3), (2, 3)]),
    ("stack-nothing", lambda xp: xp.stack([]), []),
    ("unstack-0d", lambda xp, a: xp.unstack(a), [()]),
    ("unstack-axis", lambda xp, a: xp.unstack(a, axis=2), [(2, 3)]),
    ("unstack-axis-neg", lambda xp, a: xp.unstack(a, axis=-3), [(2, 3)]),
    ("roll-axis", lambda xp, a: xp.roll(a, 1, axis=2), [(2, 3)]),
    ("roll-lengths", lambda xp, a: xp.roll(a, (1, 2), axis=(0, 1, 0)), [(2, 3)]),
    ("roll-2d-shift", lambda xp, a: xp.roll(a, [[1, 2]], axis=(0, 1)), [(2, 3)]),
    ("repeat-negative", lambda xp, a: xp.repeat(a, -1), [(2, 3)]),
    ("repeat-nan", lambda xp, a: xp.repeat(a, math.nan), [(2, 3)]),
    ("repeat-inf", lambda xp, a: xp.repeat(a, math.inf), [(2, 3)]),
    ("repeat-axis", lambda xp, a: xp.repeat(a, 2, axis=2), [(2, 3)]),
    ("repeat-axis-0d", lambda xp, a: xp.repeat(a, 2, axis=1), [()]),
    ("repeat-array-length", lambda xp, a: xp.repeat(a, np.array([1, 2]), axis=1), [(2, 3)]),
    ("repeat-array-negative", lambda xp, a: xp.repeat(a, np.array([1, -1, 0]), axis=1),
     [(2, 3)]),
    ("repeat-array-negative-one", lambda xp, a: xp.repeat(a, np.array([-1]), axis=1),
     [(2, 3)]),
    ("repeat-array-float", lambda xp, a: xp.repeat(a, np.array([1.0, 2.0, 0.0]), axis=1),
     [(2, 3)]),
    ("tile-negative", lambda xp, a: xp.tile(a, (2, -1)), [(2, 3)]),
    ("tile-float", lambda xp, a: xp.tile(a, (2.0,)), [(2, 3)]),
    ("squeeze-not-one", lambda xp, a: xp.squeeze(a, axis=1), [(1, 3)]),
    ("squeeze-axis", lambda xp, a: xp.squeeze(a, axis=2), [(1, 3)]),
    ("expand_dims-axis", lambda xp, a: xp.expand_dims(a, axis=3), [(2, 3)]),
    ("expand_dims-axis-neg", lambda xp, a: xp.expand_dims(a, axis=-4), [(2, 3)]),
    ("expand_dims-repeated", lambda xp, a: xp.expand_dims(a, axis=(0, 0)), [(2, 3)]),
    ("moveaxis-axis", lambda xp, a: xp.moveaxis(a, 3, 0), [(2, 3, 4)]),
    ("moveaxis-lengths", lambda xp, a: xp.moveaxis(a, (0, 1), (0,)), [(2, 3, 4)]),
    ("moveaxis-repeated", lambda xp, a: xp.moveaxis(a, (0, 0), (1, 2)), [(2, 3, 4)]),
    ("flip-axis", lambda xp, a: xp.flip(a, axis=2), [(2, 3)]),
    ("permute_dims-length", lambda xp, a: xp.permute_dims(a, (1, 0)), [(2, 3, 4)]),
    ("permute_dims-repeated", lambda xp, a: xp.permute_dims(a, (0, 0, 1)), [(2, 3, 4)]),
    ("permute_dims-axis", lambda xp, a: xp.permute_dims(a, (0, 1, 3)), [(2, 3, 4)]),
    ("reshape-size", lambda xp, a: xp.reshape(a, (4,)), [(2, 3)]),
    ("reshape-two-unknown", lambda xp, a: xp.reshape(a, (-1, -1)), [(2, 3)]),
    ("reshape-negative", lambda xp, a: xp.reshape(a, (-2, -3)), [(2, 3)]),
    ("reshape-copy-false-transposed", lambda xp, a: xp.reshape(a.T, (6,), copy=False),
     [(2, 3)]),
    ("reshape-copy-false-strided", lambda xp, a: xp.reshape(a[:, :2], (4,), copy=False),
     [(2, 4)]),
    ("broadcast_arrays", lambda xp, a, b: xp.broadcast_arrays(a, b), [(3,), (4,)]),
    ("broadcast_to", lambda xp, a: xp.broadcast_to(a, (2, 4)), [(3,)]),
    ("diff-0d", lambda xp, a: xp.diff(a), [()]),
    ("diff-negative-n", lambda xp, a: xp.diff(a, n=-1), [(3,)]),
    ("diff-axis", lambda xp, a: xp.diff(a, axis=1), [(3,)]),
    ("diff-prepend-shape", lambda xp, a, b: xp.diff(a, axis=0, prepend=b), [(2, 3), (2, 2)]),
    ("tensordot-mismatch", lambda xp, a, b: xp.tensordot(a, b, axes=1), [(2, 3), (4, 3)]),
    ("tensordot-too-many", lambda xp, a, b: xp.tensordot(a, b, axes=3), [(2, 3), (3, 2)]),
    ("tensordot-lengths", lambda xp, a, b: xp.tensordot(a, b, axes=([0, 1], [0])),
     [(2, 3), (2, 3)]),
    ("tensordot-broadcast", lambda xp, a, b: xp.tensordot(a, b, axes=([1], [0])),
     [(2, 3), (1, 3)]),
    ("vecdot-mismatch", lambda xp, a, b: xp.vecdot(a, b), [(2, 3), (4,)]),
    ("vecdot-no-broadcast-of-the-axis", lambda xp, a, b: xp.vecdot(a, b), [(2, 3), (1,)]),
    ("vecdot-0d", lambda xp, a, b: xp.vecdot(a, b), [(), (3,)]),
    ("vecdot-axis", lambda xp, a, b: xp.vecdot(a, b, axis=2), [(2, 3), (2, 3)]),
    ("vecdot-batch", lambda xp, a, b: xp.vecdot(a, b), [(2, 3), (4, 1, 3, 3)]),
    ("matmul-0d", lambda xp, a, b: xp.matmul(a, b), [(), (3,)]),
    ("matrix_transpose-1d", lambda xp, a: xp.matrix_transpose(a), [(3,)]),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("case", "shapes"), [pytest.param(c[1], c[2], id=c[0]) for c in ERRORS])
def test_errors_match_numpy(case: Callable[..., Any], shapes: list[tuple[int, ...]],
                            backend: str) -> None:
    arrays = [data(s, "float32", seed=k) for k, s in enumerate(shapes)]
    with pytest.raises(Exception) as numpy_raised:  # its type is the point
        case(np, *arrays)
    with pytest.raises(numpy_raised.type):
        evaluated(case(la, *[la.asarray(a) for a in arrays]), backend)


def test_axis_errors_are_index_errors_as_the_standard_asks() -> None:
    """expand_dims out of ``[-N-1, N]``: the standard asks for an IndexError; NumPy's
    AxisError is one (and a ValueError)."""
    x = la.asarray(np.zeros((2, 3)))
    with pytest.raises(IndexError):
        la.expand_dims(x, axis=3)
    with pytest.raises(IndexError):
        la.expand_dims(x, axis=-4)
    with pytest.raises(ValueError, match="squeeze"):
        la.squeeze(x, axis=0)


# -- where lazyarr follows the standard, not NumPy ---------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_diff_n0_still_joins_prepend_and_append(backend: str) -> None:
    """The standard's size rule M + N1 + N2 - n holds for n=0 too (NumPy returns x)."""
    x, p = data((2, 3), "int16"), data((2, 1), "int16", 1)
    got = la.diff(x, n=0, prepend=p, append=p).eval(backend=backend)
    np.testing.assert_array_equal(got, np.concatenate([p, x, p], axis=1))
    np.testing.assert_array_equal(la.diff(x, n=0).eval(backend=backend), x)
    with pytest.raises(ValueError, match="at least one dimensional"):
        la.diff(np.float64(1.0), n=0)  # no axis to take a difference along


def test_tensordot_refuses_a_negative_axes_count() -> None:
    """The standard: an int ``axes`` must be non-negative (NumPy computes something)."""
    with pytest.raises(ValueError, match="non-negative"):
        la.tensordot(np.ones((2, 3)), np.ones((3, 2)), axes=-1)


def test_broadcast_arrays_is_a_list() -> None:
    result = la.broadcast_arrays(np.ones(3, np.int8), np.ones((2, 1), np.float32))
    assert isinstance(result, list)
    assert [r.shape for r in result] == [(2, 3), (2, 3)]
    assert [r.dtype for r in result] == [np.int8, np.float32]
    assert la.broadcast_arrays() == []


@pytest.mark.parametrize("shapes", [((3, 1), (1, 4)), ((2,), ()), (3, (2, 1)), ((0, 1), (3,)),
                                    ((5, 1, 2), (4, 1), (1,)), ()])
def test_broadcast_shapes(shapes: tuple[Any, ...]) -> None:
    assert la.broadcast_shapes(*shapes) == np.broadcast_shapes(*shapes)


def test_broadcast_shapes_error() -> None:
    with pytest.raises(ValueError):
        la.broadcast_shapes((2, 3), (3, 2))


# -- views, copies, laziness ---------------------------------------------------------------------
def test_views_of_captured_arrays_are_views() -> None:
    """On the cpu backend an evaluated view of a captured array is that array's memory."""
    a = data((2, 3, 4), "float64")
    lazy = la.asarray(a)
    for view in (*la.unstack(lazy, axis=1), la.expand_dims(lazy, axis=(0, 2)),
                 la.permute_dims(lazy, (2, 0, 1)), la.flip(lazy, axis=1),
                 la.moveaxis(lazy, 0, 2), la.squeeze(la.expand_dims(lazy), axis=0),
                 la.reshape(lazy, (6, 4)), la.reshape(lazy, (6, 4), copy=False),
                 la.matrix_transpose(lazy)):
        assert np.shares_memory(view.eval(backend="cpu"), a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_new_arrays_never_alias_their_inputs(backend: str) -> None:
    """Results NumPy documents as new arrays are: writing into one leaves the input as it
    was, even where the values are the input's (a roll by 0, a tile by 1)."""
    a = data((2, 3), "float64")
    saved = a.copy()
    lazy = la.asarray(a)
    for make in (lambda: la.reshape(lazy, (3, 2), copy=True), lambda: la.roll(lazy, 0),
                 lambda: la.roll(lazy, 3, axis=1), lambda: la.roll(lazy, 1),
                 lambda: la.tile(lazy, (1, 1)), lambda: la.tile(lazy, (2, 1)),
                 lambda: la.repeat(lazy, 1, axis=0), lambda: la.repeat(lazy, 2),
                 lambda: la.repeat(lazy, np.array([1, 1, 1]), axis=1),
                 lambda: la.diff(lazy, n=0), lambda: la.diff(lazy),
                 lambda: la.concat([lazy]), lambda: la.stack([lazy]),
                 lambda: la.tile(la.asarray(np.float64(2.0)), ())):
        result = make().eval(backend=backend)
        assert not np.shares_memory(result, a)
        result[...] = 0
        assert bits_equal(a, saved)


def test_building_evaluates_nothing() -> None:
    """Every function returns a lazy array: writing it launches no kernel (only an array of
    repeat counts is evaluated, for the shape it decides)."""
    from conftest import kernels_run

    x = la.asarray(data((4, 6), "float32")) * 2
    y = la.asarray(data((6,), "float32")) + 1
    built: list[Any] = []

    def build() -> None:
        built.extend([
            la.roll(x, 2, axis=1), la.roll(x, 5), la.repeat(x, 3, axis=0), la.tile(x, (2, 1)),
            la.diff(x, n=2, prepend=x), la.concat([x, x]), la.vecdot(x, y),
            la.tensordot(x, y, axes=1), la.reshape(x, (24,), copy=True),
            la.repeat(x, np.array([1, 0, 2, 1]), axis=0), *la.unstack(x),
            *la.broadcast_arrays(x, y), la.expand_dims(x), la.clip(x, min=0.5),
        ])

    assert kernels_run(build) == 0
    assert all(isinstance(b, la.LazyArray) for b in built)


def test_vecdot_is_one_fused_kernel() -> None:
    """The product feeds the sum in the same loop: one kernel, no temporary."""
    from conftest import kernels_run

    a, b = data((50, 30), "float64"), data((30,), "float64")
    expr = la.vecdot(la.asarray(a) * 2, b)
    assert kernels_run(lambda: expr.eval()) == 1
    np.testing.assert_allclose(expr.eval(), np.vecdot(a * 2, b), rtol=1e-12, atol=1e-9)


def test_repeat_takes_a_lazy_array_of_counts() -> None:
    counts = la.asarray(np.array([1, 2, 0])) + 1
    got = la.repeat(np.arange(3.0), counts).eval()
    np.testing.assert_array_equal(got, np.repeat(np.arange(3.0), [2, 3, 1]))


def test_gradients_flow_through() -> None:
    """roll, repeat, tile, diff, vecdot and tensordot are built from differentiable parts."""
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((3, 4)), rng.standard_normal((4, 3))

    def loss(v: Any) -> Any:
        rolled = la.roll(v, 1, axis=1) * la.repeat(v, 1, axis=0)
        tiled = la.sum(la.tile(v, (2, 1)) ** 2) + la.sum(la.diff(v, axis=0) ** 2)
        return la.sum(rolled) + tiled + la.sum(la.vecdot(v, v)) + \
            la.sum(la.tensordot(v, w, axes=1))

    def numpy_loss(v: np.ndarray) -> float:
        return float(np.sum(np.roll(v, 1, axis=1) * v) + 2 * np.sum(v ** 2)
                     + np.sum(np.diff(v, axis=0) ** 2) + np.sum(v * v)
                     + np.sum(np.tensordot(v, w, axes=1)))

    got = la.grad(loss)(la.asarray(x)).eval()
    step, want = 1e-6, np.empty_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = step
        want[i] = (numpy_loss(x + e) - numpy_loss(x - e)) / (2 * step)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


# -- combinations -------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=3), seed=st.integers(0, 99),
       shift=st.integers(-9, 9), count=st.integers(0, 3), n=st.integers(0, 3),
       axis=st.integers(-3, 2), dt=st.sampled_from(["int16", "float64", "bool"]),
       backend=st.sampled_from(BACKENDS))
def test_combinations(shape: list[int], seed: int, shift: int, count: int, n: int, axis: int,
                      dt: str, backend: str) -> None:
    """Chains of roll, repeat, tile, flip, diff and concat over random shapes and axes
    (out-of-range ones included) agree with NumPy, or raise what it raises."""
    a = data(tuple(shape), dt, seed)

    def chain(xp: Any, x: Any) -> Any:
        y = xp.roll(x, shift, axis=axis)
        y = xp.repeat(y, count, axis=axis)
        y = xp.concat([y, xp.flip(x, axis=axis)], axis=axis)
        y = xp.tile(y, (1,) * (len(shape) - 1) + (2,))
        return xp.diff(y, n=max(n, 1), axis=axis)

    run_case(chain, [a], backend, f"{shape} {dt} on {backend}")
