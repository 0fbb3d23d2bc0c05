"""The array API standard's sorting, set and searching functions against NumPy.

``sort``, ``argsort`` and ``searchsorted`` are host calls (NumPy run when the result is
evaluated, fused with what feeds and reads them); the set functions and ``nonzero`` evaluate
their input when called; ``count_nonzero``, ``argmax``, ``argmin`` and ``where`` are fused.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.exceptions import AxisError

import lazyarr as la
from lazyarr.inspect.kernelplan import build_plan
from lazyarr.ir.graph import Op

BACKENDS = ["cpu", "interp"]
RNG = np.random.default_rng(17)
DTYPES = ["bool", "int8", "uint16", "int32", "int64", "uint64", "float32", "float64"]


def _data(shape: tuple[int, ...], dtype: str, ties: bool = False) -> np.ndarray:
    """Random values of ``dtype``; ``ties``: few distinct values, so most compare equal.
    Float data holds NaN, +-inf and both zeros."""
    if dtype == "bool":
        return RNG.integers(0, 2, shape).astype(bool)
    if dtype.startswith(("int", "uint")):
        hi = 4 if ties else 100
        lo = 0 if dtype.startswith("u") or ties else -100
        return RNG.integers(lo, hi, shape).astype(dtype)
    values = np.array([0.0, -0.0, 1.5, -2.0, np.nan, np.inf, -np.inf] if ties else
                      [0.0, -0.0, np.nan, np.inf, -np.inf])
    x = RNG.standard_normal(shape) * 10
    x = np.where(RNG.random(shape) < (0.9 if ties else 0.3), RNG.choice(values, shape), x)
    return x.astype(dtype)


def _bits(x: np.ndarray) -> np.ndarray:
    """Floats as their bit patterns (so -0.0 and +0.0 differ); other dtypes as they are."""
    return x.view(f"u{x.dtype.itemsize}") if x.dtype.kind == "f" else x


def _descending_order(row: np.ndarray) -> list[int]:
    """The standard's stable descending order of a 1-D row, from Python's stable sort: NaNs
    first (array_api_strict puts them there: the reverse of NumPy's ascending order), then
    larger values first, equal values in their original order."""
    def key(i: int) -> tuple:
        v = row[i].item()
        return (0, 0) if v != v else (1, -v)

    return sorted(range(row.size), key=key)


def _reference(x: np.ndarray, axis: int, descending: bool) -> tuple[np.ndarray, np.ndarray]:
    """(values, indices) of a stable sort of ``x`` along ``axis``."""
    if not descending:
        order = np.argsort(x, axis=axis, kind="stable")
    else:
        moved = np.moveaxis(x, axis, -1)
        order = np.zeros(moved.shape, np.int64)
        for index in np.ndindex(moved.shape[:-1]):
            order[index] = _descending_order(moved[index])
        order = np.moveaxis(order, -1, axis)
    return np.take_along_axis(x, order, axis), order


def _check_sorted(x: np.ndarray, axis: int, descending: bool, backend: str) -> None:
    want_values, want_order = _reference(x, axis, descending)
    values = la.sort(x, axis=axis, descending=descending).eval(backend=backend)
    order = la.argsort(x, axis=axis, descending=descending).eval(backend=backend)
    assert values.dtype == x.dtype and values.shape == x.shape
    assert order.dtype == np.int64 and order.shape == x.shape
    np.testing.assert_array_equal(_bits(values), _bits(want_values))  # stable: zeros' signs
    np.testing.assert_array_equal(order, want_order)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sort_and_argsort_match_a_stable_sort(dtype: str, descending: bool,
                                              backend: str) -> None:
    x = _data((3, 5, 4), dtype)
    for axis in (-1, 0, 1, -3):
        _check_sorted(x, axis, descending, backend)
    _check_sorted(_data((9,), dtype), 0, descending, backend)


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_stability_with_many_ties(dtype: str, descending: bool) -> None:
    x = _data((4, 200), dtype, ties=True)
    for axis in (-1, 0):
        _check_sorted(x, axis, descending, "cpu")


def test_signed_zeros_keep_their_order_and_nans_go_last_ascending_first_descending() -> None:
    x = np.array([0.0, np.nan, -0.0, 1.0, 0.0, -np.inf, np.nan, -0.0])
    up = la.sort(x).eval()
    down = la.sort(x, descending=True).eval()
    assert np.isnan(up[-2:]).all() and np.isnan(down[:2]).all()
    assert list(np.signbit(up[1:5])) == [False, True, False, True]  # as they occur in x
    assert list(np.signbit(down[3:7])) == [False, True, False, True]
    assert list(la.argsort(x, descending=True).eval()) == [1, 6, 3, 0, 2, 4, 7, 5]
    # a descending argsort is not the reverse of the ascending one: ties stay in order
    assert list(la.argsort(np.array([2, 1, 2, 1]), descending=True).eval()) == [0, 2, 1, 3]


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", ["int8", "float32", "float64"])
def test_unstable_sort_still_sorts(dtype: str, descending: bool) -> None:
    x = _data((6, 50), dtype, ties=True)
    want, _ = _reference(x, -1, descending)
    values = la.sort(x, descending=descending, stable=False).eval()
    np.testing.assert_array_equal(values, want)  # equal values: zeros' signs may differ
    order = la.argsort(x, descending=descending, stable=False).eval()
    np.testing.assert_array_equal(np.sort(order, axis=-1), np.broadcast_to(np.arange(50), x.shape))
    np.testing.assert_array_equal(np.take_along_axis(x, order, -1), want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sort_empty_and_zero_dimensional(backend: str) -> None:
    for shape, axis in [((0,), 0), ((3, 0), -1), ((0, 4), 0), ((0, 4), 1)]:
        x = np.zeros(shape, np.float32)
        for descending in (False, True):
            got = la.sort(x, axis=axis, descending=descending).eval(backend=backend)
            assert got.shape == shape and got.dtype == np.float32
            order = la.argsort(x, axis=axis, descending=descending).eval(backend=backend)
            assert order.shape == shape and order.dtype == np.int64
    for fn in (la.sort, la.argsort):
        with pytest.raises(AxisError):  # NumPy's error: a 0-d array has no axis -1
            fn(np.array(3.0))
        with pytest.raises(AxisError):
            fn(np.ones((2, 3)), axis=2)
        for dt in (np.complex128, np.float16):  # complex sorts lexicographically, as NumPy
            v = np.array([2 + 1j, 1 - 1j, 2 - 3j, 1 + 0j]).astype(dt) if dt != np.float16 \
                else np.array([2.5, -1.0, 0.0, 2.5], dt)
            want = np.sort(v) if fn is la.sort else np.argsort(v, kind="stable")
            got = fn(v).eval(backend=backend)
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sort_fuses_around_numpy(backend: str) -> None:
    a = _data((6, 7), "float32")
    r = la.sort(la.asarray(a) * 2) + 1
    kinds = [s.kind for s in build_plan([r._node])]
    assert kinds == ["kernel", "opaque", "kernel"]
    assert "sort (NumPy)" in str(la.explain(r).plan)
    want = np.sort(a * 2, axis=-1) + 1
    got = r.eval(backend=backend)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    i = la.argsort(la.asarray(a) - 1, axis=0, descending=True) * 3
    assert [s.kind for s in build_plan([i._node])] == ["kernel", "opaque", "kernel"]
    np.testing.assert_array_equal(i.eval(backend=backend),
                                  _reference(a - 1, 0, True)[1] * 3)


@settings(max_examples=80, deadline=None)
@given(x=hnp.arrays(st.sampled_from([np.int16, np.uint8, np.float32, np.float64, np.bool_]),
                    hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6)),
       data=st.data(), descending=st.booleans())
def test_sort_and_argsort_hypothesis(x: np.ndarray, data: st.DataObject,
                                     descending: bool) -> None:
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1))
    _check_sorted(x, axis, descending, "cpu")
    if not descending:  # NumPy itself is the reference of the ascending sort
        np.testing.assert_array_equal(la.sort(x, axis=axis).eval(),
                                      np.sort(x, axis=axis, kind="stable"))


# -- searchsorted ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("dtype", ["int8", "uint16", "int64", "float32", "float64"])
def test_searchsorted_matches_numpy(dtype: str, side: str, backend: str) -> None:
    x1 = np.sort(_data((20,), dtype, ties=True))
    for x2 in (_data((3, 4), dtype), _data((7,), dtype, ties=True), x1, x1[:0],
               np.asarray(x1[3])):
        got = la.searchsorted(x1, x2, side=side).eval(backend=backend)
        want = np.searchsorted(x1, x2, side=side)
        assert got.dtype == np.int64 and got.shape == np.shape(want)
        np.testing.assert_array_equal(got, want)
    for shuffled in (x1[::-1].copy(), _data((20,), dtype)):
        sorter = np.argsort(shuffled, kind="stable")
        x2 = _data((5,), dtype)
        got = la.searchsorted(shuffled, x2, side=side, sorter=sorter).eval(backend=backend)
        np.testing.assert_array_equal(got, np.searchsorted(shuffled, x2, side, sorter))
    empty = la.searchsorted(x1[:0], x1[:4], side=side).eval(backend=backend)
    np.testing.assert_array_equal(empty, np.zeros(4, np.int64))


@pytest.mark.parametrize("backend", BACKENDS)
def test_searchsorted_nan_and_signed_zero_agree_with_sort(backend: str) -> None:
    x1 = la.sort(np.array([np.nan, 1.0, -0.0, -np.inf, 0.0]))  # lazy: evaluated with x2
    x2 = np.array([np.nan, 0.0, -0.0, np.inf, -np.inf, 1.0])
    for side in ("left", "right"):
        got = la.searchsorted(x1, la.asarray(x2) * 1, side=side).eval(backend=backend)
        want = np.searchsorted(np.sort(x1.eval()), x2, side=side)
        np.testing.assert_array_equal(got, want)
        # inserting x2's values where they land keeps x1 sorted as la.sort orders it
        for v, i in zip(x2, got, strict=True):
            merged = np.insert(x1.eval(), i, v)
            np.testing.assert_array_equal(la.sort(merged).eval(), merged)


def test_searchsorted_errors() -> None:
    x1 = np.arange(5.0)
    with pytest.raises(ValueError):
        la.searchsorted(np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError):
        la.searchsorted(x1, 1.0, side="middle")
    with pytest.raises(ValueError):
        la.searchsorted(x1, 1.0, sorter=np.arange(4))
    with pytest.raises(TypeError):
        la.searchsorted(x1, 1.0, sorter=np.arange(5.0))
    z = np.array([1 + 1j, 2.5 - 1j], np.complex64)  # complex values: NumPy's order
    np.testing.assert_array_equal(la.searchsorted(x1, z).eval(), np.searchsorted(x1, z))
    for bad in ((np.ones((2, 2)), 1.0), (x1, 1.0, "middle")):  # NumPy raises the same
        with pytest.raises(ValueError):
            np.searchsorted(*bad)


# -- set functions ---------------------------------------------------------------------------
def _numpy_unique(x: np.ndarray) -> tuple[np.ndarray, ...]:
    """NumPy's sorted unique of the flattened ``x`` with every NaN distinct."""
    values, index, inverse, counts = np.unique(
        x.reshape(-1), return_index=True, return_inverse=True, return_counts=True,
        equal_nan=False)
    return values, index, inverse.reshape(x.shape), counts


def _check_unique(x: np.ndarray, backend: str = "cpu") -> None:
    values, index, inverse, counts = _numpy_unique(x)
    result = la.unique_all(x)
    assert result._fields == ("values", "indices", "inverse_indices", "counts")
    got = [np.asarray(la.eval(r, backend=backend)) for r in result]
    assert got[0].dtype == x.dtype and got[0].shape == values.shape
    assert all(g.dtype == np.int64 for g in got[1:])
    assert got[2].shape == x.shape
    np.testing.assert_array_equal(got[0], values)  # NaNs compare equal here, zeros too
    np.testing.assert_array_equal(got[1], index)
    np.testing.assert_array_equal(got[2], inverse)
    np.testing.assert_array_equal(got[3], counts)
    flat = x.reshape(-1)
    np.testing.assert_array_equal(_bits(got[0]), _bits(flat[got[1]]))  # first occurrences
    np.testing.assert_array_equal(got[0][got[2]], x)  # rebuilds x (up to zeros' signs)
    assert got[3].sum() == x.size
    counts_result = la.unique_counts(x)
    assert counts_result._fields == ("values", "counts")
    np.testing.assert_array_equal(counts_result.counts.eval(), counts)
    inverse_result = la.unique_inverse(x)
    assert inverse_result._fields == ("values", "inverse_indices")
    np.testing.assert_array_equal(inverse_result.inverse_indices.eval(), inverse)
    np.testing.assert_array_equal(la.unique_values(x).eval(), values)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_unique_matches_numpy(dtype: str, backend: str) -> None:
    for shape in [(30,), (4, 6), (2, 3, 5), (0,), (3, 0), ()]:
        _check_unique(_data(shape, dtype, ties=True), backend)


def test_unique_nans_are_distinct_and_zeros_are_one() -> None:
    x = np.array([[np.nan, 0.0, -0.0], [np.nan, 2.0, 0.0]])
    values, indices, inverse, counts = (r.eval() for r in la.unique_all(x))
    np.testing.assert_array_equal(values, [0.0, 2.0, np.nan, np.nan])
    assert not np.signbit(values[0])  # +0.0 occurs first
    np.testing.assert_array_equal(counts, [3, 1, 1, 1])
    np.testing.assert_array_equal(indices, [1, 4, 0, 3])
    np.testing.assert_array_equal(inverse, [[2, 0, 0], [3, 1, 0]])
    assert np.signbit(la.unique_values(np.array([-0.0, 0.0])).eval()[0])  # -0.0 first
    # the standard's NaNs: NumPy's plain np.unique merges them
    assert la.unique_values(np.full(5, np.nan)).shape == (5,)


def test_unique_evaluates_at_call_time_and_returns_leaves() -> None:
    a = np.array([3, 1, 3, 2], np.int32)
    lazy = la.asarray(a) * 2
    result = la.unique_all(lazy)
    assert all(r._node.op is Op.LEAF for r in result)
    a[:] = 7  # changing the input afterwards does not change the result
    np.testing.assert_array_equal(result.values.eval(), [2, 4, 6])
    np.testing.assert_array_equal((result.counts * 10).eval(), [10, 10, 20])
    z = np.array([1 + 1j, 1 - 1j, 1 + 1j])
    np.testing.assert_array_equal(la.unique_values(z).eval(), np.unique_values(z))


@settings(max_examples=80, deadline=None)
@given(hnp.arrays(st.sampled_from([np.int8, np.uint32, np.float32, np.float64, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)))
def test_unique_hypothesis(x: np.ndarray) -> None:
    _check_unique(x)


# -- nonzero, count_nonzero ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_nonzero_matches_numpy(dtype: str) -> None:
    for shape in [(12,), (3, 4), (2, 3, 4), (0,), (2, 0, 3)]:
        x = _data(shape, dtype, ties=True)
        got = la.nonzero(x)
        want = np.nonzero(x)
        assert len(got) == len(want) == x.ndim
        for g, w in zip(got, want, strict=True):
            assert g.dtype == np.int64 and g._node.op is Op.LEAF
            np.testing.assert_array_equal(g.eval(), w)
    got = la.nonzero(la.asarray(np.array([0.0, -0.0, np.nan, 2.0])) - 0.0)
    np.testing.assert_array_equal(got[0].eval(), [2, 3])  # NaN is non-zero, -0.0 is zero
    with pytest.raises(ValueError):
        la.nonzero(np.array(1.0))
    with pytest.raises(ValueError):  # NumPy 2 raises the same
        np.nonzero(np.array(1.0))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_count_nonzero_matches_numpy(dtype: str, backend: str) -> None:
    x = _data((3, 4, 5), dtype, ties=True)
    for axis in (None, 0, -1, (0, 2), (-1, -2), ()):
        for keepdims in (False, True):
            got = la.count_nonzero(x, axis=axis, keepdims=keepdims).eval(backend=backend)
            want = np.asarray(np.count_nonzero(x, axis=axis, keepdims=keepdims))
            assert got.dtype == np.int64 and got.shape == want.shape, (axis, keepdims)
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_count_nonzero_edges(backend: str) -> None:
    x = np.array([0.0, -0.0, np.nan, np.inf, 1e-320])
    assert la.count_nonzero(x).eval(backend=backend)[()] == 3
    assert la.count_nonzero(np.array(2.0)).eval(backend=backend).shape == ()
    assert la.count_nonzero(np.zeros((0, 3)), axis=0).eval(backend=backend).tolist() == [0] * 3
    assert la.count_nonzero(la.asarray(np.arange(6)) - 2).eval(backend=backend)[()] == 5
    with pytest.raises(AxisError):
        la.count_nonzero(np.ones((2, 3)), axis=2)


# -- argmax, argmin --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_argmin_match_numpy(name: str, dtype: str, backend: str) -> None:
    x = _data((4, 5, 3), dtype, ties=True)  # ties: the first occurrence; NaN: the first NaN
    for axis in (None, 0, -1, 1):
        for keepdims in (False, True):
            got = getattr(la, name)(x, axis=axis, keepdims=keepdims).eval(backend=backend)
            want = np.asarray(getattr(np, name)(x, axis=axis, keepdims=keepdims))
            assert got.dtype == np.int64 and got.shape == want.shape, (axis, keepdims)
            np.testing.assert_array_equal(got, want)
    zero_d = getattr(la, name)(np.array(5.0)).eval(backend=backend)
    assert zero_d.shape == () and zero_d[()] == 0
    with pytest.raises(ValueError):
        getattr(la, name)(np.zeros((0, 3)), axis=0)
    with pytest.raises(ValueError):
        getattr(la, name)(np.zeros((0,)))
    with pytest.raises(TypeError):  # an int axis only
        getattr(la, name)(x, axis=(0, 1))


# -- where -----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_where_with_python_scalars(dtype: str, backend: str) -> None:
    cond = RNG.random((3, 4)) < 0.5
    x = _data((4,), dtype)
    # scalars of the array's kind (and bool) take the array's dtype, the standard's rule
    scalars: list[object] = [True, 2] if dtype != "bool" else [False]
    if dtype.startswith("float"):
        scalars += [2.5, -np.inf, np.nan, -0.0]
    for s in scalars:
        for args in ((cond, x, s), (cond, s, x)):
            got = la.where(*args).eval(backend=backend)
            want = np.where(*args)
            assert got.dtype == x.dtype == want.dtype and got.shape == (3, 4)
            np.testing.assert_array_equal(_bits(got), _bits(want))
    got = la.where(cond, la.asarray(x), x[::-1]).eval(backend=backend)
    np.testing.assert_array_equal(got, np.where(cond, x, x[::-1]))
    mixed = la.where(cond, x, 0.5)  # another kind: implementation-defined, NumPy's
    assert mixed.dtype == np.where(cond, x, 0.5).dtype
    with pytest.raises(ValueError):
        la.where(cond, np.ones(3), 0)
