"""The array API standard's statistical functions (``max min mean prod sum std var``)
against NumPy and the standard's own rules (result dtypes, ``correction``, empty input)."""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest
from numpy.exceptions import AxisError

import lazyarr as la

BACKENDS = ["cpu", "interp"]
RNG = np.random.default_rng(23)
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
DTYPES = ["bool", *INTS, "float32", "float64"]
AXES = [None, 0, -1, (0, 2), (-1, 0, 1), ()]


def _data(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    if dtype == "bool":
        return RNG.integers(0, 2, shape).astype(bool)
    if dtype in INTS:  # small: products of a few of them do not overflow int8
        lo = 0 if dtype.startswith("u") else -2
        return RNG.integers(lo, 3, shape).astype(dtype)
    return (RNG.standard_normal(shape) * 3).astype(dtype)


def _standard_sum_dtype(dtype: np.dtype) -> np.dtype:
    """The standard's result dtype of sum and prod without ``dtype=``: floats keep theirs,
    smaller integers go to the default integer (int64) or its unsigned twin (uint64); bool
    (not numeric to the standard) as NumPy, int64."""
    if dtype.kind == "f":
        return dtype
    return np.dtype(np.uint64) if dtype.kind == "u" else np.dtype(np.int64)


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, want.dtype,
                                                                 got.shape, want.shape)
    if want.dtype.kind == "f":
        # lazyarr's compensated sums are not NumPy's pairwise ones: a few ulps apart
        rtol = 1e-5 if want.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 10)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_sum_and_prod_dtypes_and_values(name: str, dtype: str, backend: str) -> None:
    x = _data((3, 4, 2), dtype)
    for axis in AXES:
        got = getattr(la, name)(x, axis=axis).eval(backend=backend)
        assert got.dtype == _standard_sum_dtype(x.dtype), (axis, got.dtype)
        _close(got, np.asarray(getattr(np, name)(x, axis=axis)))
    got = getattr(la, name)(x, axis=(0, -1), keepdims=True).eval(backend=backend)
    _close(got, np.asarray(getattr(np, name)(x, axis=(0, -1), keepdims=True)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sum_and_prod_dtype_argument(backend: str) -> None:
    x = np.array([100, 100, 100], np.int8)
    got = la.sum(x, dtype=np.int8).eval(backend=backend)
    assert got.dtype == np.int8 and got[()] == np.sum(x, dtype=np.int8)  # wraps as NumPy
    f = _data((5, 3), "float32")
    _close(la.sum(f, axis=0, dtype=np.float64).eval(backend=backend),
           np.sum(f, axis=0, dtype=np.float64))
    _close(la.prod(np.array([3, 4], np.uint8), dtype=np.uint8).eval(backend=backend),
           np.asarray(np.prod(np.array([3, 4], np.uint8), dtype=np.uint8)))
    for fn, dt in ((la.sum, np.complex128), (la.prod, np.float16)):  # complex, float16 too
        want = getattr(np, fn.__name__)(f, dtype=dt)
        got = fn(f, dtype=dt).eval(backend=backend)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-3 if dt == np.float16 else 1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_sums_products_and_special_values(backend: str) -> None:
    empty = np.zeros((0, 3), np.float32)
    got = la.sum(empty).eval(backend=backend)
    assert got.dtype == np.float32 and got[()] == 0
    assert la.prod(empty).eval(backend=backend)[()] == 1
    np.testing.assert_array_equal(la.sum(empty, axis=0).eval(backend=backend), [0, 0, 0])
    np.testing.assert_array_equal(la.prod(np.zeros((3, 0), np.int32), axis=1)
                                  .eval(backend=backend), [1, 1, 1])
    specials = np.array([[np.inf, -np.inf, 1.0], [np.nan, 2.0, 3.0], [np.inf, 1.0, 0.0]])
    for name in ("sum", "prod"):
        for axis in (None, 0, 1):
            got = getattr(la, name)(specials, axis=axis).eval(backend=backend)
            with np.errstate(invalid="ignore"):  # inf - inf, inf * 0: NumPy warns
                want = getattr(np, name)(specials, axis=axis)
            np.testing.assert_array_equal(got, want)
    # a sum of -0.0 alone is +0.0 (NumPy's: it adds to +0.0); a product keeps it
    assert not np.signbit(la.sum(np.array([-0.0, -0.0])).eval(backend=backend))
    assert np.signbit(la.prod(np.array([-0.0, 1.0])).eval(backend=backend))
    zero_d = np.array(2.5, np.float32)
    assert la.sum(zero_d).eval(backend=backend)[()] == 2.5
    assert la.prod(np.array(3, np.int16)).eval(backend=backend).dtype == np.int64


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_match_numpy(name: str, dtype: str, backend: str) -> None:
    x = _data((3, 4, 2), dtype)
    for axis in AXES:
        for keepdims in (False, True):
            got = getattr(la, name)(x, axis=axis, keepdims=keepdims).eval(backend=backend)
            want = np.asarray(getattr(np, name)(x, axis=axis, keepdims=keepdims))
            assert got.dtype == x.dtype and got.shape == want.shape
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_special_values_and_empty(name: str, backend: str) -> None:
    fn = getattr(la, name)
    x = np.array([[1.0, np.nan, -np.inf], [-0.0, 0.0, 2.0], [np.inf, -1.0, -0.0]])
    for axis in (None, 0, 1):
        got = fn(x, axis=axis).eval(backend=backend)
        np.testing.assert_array_equal(got, getattr(np, name)(x, axis=axis))  # NaN propagates
    # the sign of a zero result is the standard's "either": compared as values only
    assert fn(np.array([-0.0, 0.0])).eval(backend=backend)[()] == 0.0
    for empty, axis in ((np.zeros((0,)), None), (np.zeros((2, 0)), 1), (np.zeros((0, 2)), 0)):
        with pytest.raises(ValueError):
            fn(empty, axis=axis)
        with pytest.raises(ValueError):  # NumPy raises the same
            getattr(np, name)(empty, axis=axis)
    got = fn(np.zeros((0, 2)), axis=1).eval(backend=backend)  # nothing to reduce: fine
    assert got.shape == (0,)
    assert fn(np.array(-3, np.int8)).eval(backend=backend)[()] == -3


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["bool", "int16", "uint32", "int64", "float32", "float64"])
def test_mean_matches_numpy(dtype: str, backend: str) -> None:
    x = _data((3, 4, 2), dtype)
    for axis in AXES[:-1]:
        for keepdims in (False, True):
            got = la.mean(x, axis=axis, keepdims=keepdims).eval(backend=backend)
            want = np.asarray(np.mean(x, axis=axis, keepdims=keepdims))
            # the standard: an integer input's mean is the default float dtype
            assert got.dtype == (x.dtype if dtype.startswith("float") else np.float64)
            _close(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_of_nothing_is_nan_without_a_warning(backend: str,
                                                  capfd: pytest.CaptureFixture) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = la.mean(np.zeros((0,), np.float32)).eval(backend=backend)
        rows = la.mean(np.zeros((2, 0)), axis=1).eval(backend=backend)
    assert got.dtype == np.float32 and np.isnan(got)
    assert rows.shape == (2,) and np.isnan(rows).all()
    assert capfd.readouterr() == ("", "")
    x = np.array([[1.0, np.nan], [np.inf, 2.0], [np.inf, -np.inf]])
    np.testing.assert_array_equal(la.mean(x, axis=1).eval(backend=backend),
                                  [np.nan, np.inf, np.nan])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["int8", "float32", "float64"])
@pytest.mark.parametrize("name", ["var", "std"])
def test_var_std_with_correction(name: str, dtype: str, backend: str) -> None:
    x = _data((4, 3, 5), dtype)
    for axis in (None, 0, -1, (0, 2)):
        for correction in (0, 1, 1.5, 0.0):
            got = getattr(la, name)(x, axis=axis, correction=correction).eval(backend=backend)
            want = np.asarray(getattr(np, name)(x, axis=axis, ddof=correction))
            assert got.dtype == (np.float64 if dtype == "int8" else x.dtype)
            _close(got, want)
    keepdims = getattr(la, name)(x, axis=1, correction=1, keepdims=True).eval(backend=backend)
    _close(keepdims, np.asarray(getattr(np, name)(x, axis=1, ddof=1, keepdims=True)))
    # NumPy's spelling still works
    _close(getattr(la, name)(x, axis=0, ddof=1).eval(backend=backend),
           getattr(np, name)(x, axis=0, ddof=1))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["var", "std"])
def test_nothing_left_to_divide_by_is_nan(name: str, backend: str) -> None:
    fn = getattr(la, name)
    x = np.array([[1.0, 2.0], [3.0, 3.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for correction in (2, 2.5, 3):  # M - correction <= 0: NaN (NumPy: inf or NaN)
            got = fn(x, axis=1, correction=correction).eval(backend=backend)
            assert got.dtype == np.float32 and np.isnan(got).all(), (correction, got)
        assert np.isnan(fn(np.zeros((0,))).eval(backend=backend))
        assert np.isnan(fn(np.array(4.0), correction=1).eval(backend=backend))
    assert fn(np.array(4.0)).eval(backend=backend)[()] == 0.0
    ok = fn(x, axis=1, correction=1.5).eval(backend=backend)  # M - c = 0.5: divides
    np.testing.assert_allclose(ok, getattr(np, name)(x, axis=1, ddof=1.5), rtol=1e-6)
    np.testing.assert_array_equal(fn(np.array([1.0, np.nan, 2.0])).eval(backend=backend),
                                  np.nan)
    with pytest.raises(ValueError):
        fn(x, ddof=1, correction=1)
    with pytest.raises(ValueError):  # NumPy raises the same
        getattr(np, name)(x, ddof=1, correction=1)


@pytest.mark.parametrize("name", ["sum", "prod", "max", "min", "mean", "var", "std"])
def test_bad_axes_raise_numpys_errors(name: str) -> None:
    x = np.ones((2, 3))
    fn = getattr(la, name)
    for axis, error in ((2, AxisError), (-3, AxisError), ((0, 0), ValueError),
                        ((0, -2), ValueError), (0.5, TypeError), ([0], TypeError)):
        with pytest.raises(error):
            fn(x, axis=axis)
        with pytest.raises(error):
            getattr(np, name)(x, axis=axis)


@pytest.mark.parametrize("backend", BACKENDS)
def test_positional_axis_and_out_still_work(backend: str) -> None:
    x = _data((3, 4), "float64")
    out = np.empty(4)
    assert la.sum(x, 0, out=out) is out
    _close(out, x.sum(axis=0))
    _close(la.max(x, 1).eval(backend=backend), x.max(axis=1))
    _close(la.var(x, 1, None, None, 1).eval(backend=backend), x.var(axis=1, ddof=1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_statistics_fuse_with_what_feeds_them(backend: str) -> None:
    a, b = _data((6, 5), "float32"), _data((6, 5), "float32")
    expr = la.sum(la.asarray(a) * b, axis=1) + la.max(la.asarray(a) - b, axis=1)
    assert len(la.explain(expr).kernel_steps) == 1
    _close(expr.eval(backend=backend), (a * b).sum(axis=1) + (a - b).max(axis=1))
    v = la.std(la.asarray(a) * 2, axis=0, correction=1)
    _close(v.eval(backend=backend), np.std(a * 2, axis=0, ddof=1))


def test_signatures_take_the_standards_keywords() -> None:
    keywords = {"sum": {"axis", "dtype", "keepdims"}, "prod": {"axis", "dtype", "keepdims"},
                "max": {"axis", "keepdims"}, "min": {"axis", "keepdims"},
                "mean": {"axis", "keepdims"}, "var": {"axis", "correction", "keepdims"},
                "std": {"axis", "correction", "keepdims"}}
    for name, wanted in keywords.items():
        params = inspect.signature(getattr(la, name)).parameters
        assert wanted <= set(params), name
        first = next(iter(params.values()))
        assert first.kind is inspect.Parameter.POSITIONAL_ONLY, name
