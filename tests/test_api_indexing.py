"""Indexing against NumPy: integer and boolean arrays (lazy gathers), ``take_along_axis``, and
``x[key] = value`` as a functional update (a new expression; nothing is written)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from conftest import kernels_run
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyarr as la
from lazyarr.front.functions import take_along_axis
from lazyarr.ir.graph import Op

RNG = np.random.default_rng(17)
SHAPE = (4, 5, 6)
X = RNG.standard_normal(SHAPE)

# indices NumPy takes, each with integer or boolean arrays (the basic ones are
# tests/test_views.py's)
ADVANCED: list[Any] = [
    np.array([3, 0, -1]),
    [2, -4],
    np.array([[1], [0]]),
    (slice(None), np.array([4, 0, 2])),
    (slice(None), slice(None), np.array([-1])),
    (np.array([0, 3]), np.array([1, 4])),  # two arrays, adjacent: in place
    (slice(None), np.array([[0], [2]]), np.array([1, 5])),  # broadcast together
    (np.array([1, 2]), slice(1, 4), np.array([0, 5])),  # separated: picked axes first
    (0, slice(None), np.array([1, 2])),  # an integer counts as an array index here
    (0, np.array([1, 2])),
    (Ellipsis, np.array([0, 5, 5])),
    (np.array([2, 2]), Ellipsis, np.array([3, 4])),
    (None, np.array([0, 1]), None, np.array([1, 2])),
    (np.array([0, 1]), None, np.array([1, 2])),
    (slice(None, None, -1), np.array([0, 1]), slice(1, None, 2)),
    np.array([], np.intp),
    [],
    (1, [], 2),
    X > 0,  # a full mask
    (X > 0)[:, :, 0],  # over the leading axes
    (slice(None), (X > 0)[0]),
    (X[:, 0, 0] > 0, slice(None), np.array([1, 3])),
    (np.array([True, False, True, True]), 2),
    np.zeros(SHAPE, bool),
    (np.array(1), np.array([0, 2])),  # 0-d integer arrays are integers
]


def _ids(index: Any) -> str:
    return repr(index).replace("\n", "")[:60]


@pytest.mark.parametrize("index", ADVANCED, ids=_ids)
@pytest.mark.parametrize("on", ["leaf", "expression", "strided"])
def test_advanced_getitem_matches_numpy(index: Any, on: str, backend: str) -> None:
    x = {"leaf": X, "expression": X, "strided": RNG.standard_normal((8, 5, 12))[::2, :, ::-2]}[on]
    lazy = la.asarray(x) if on != "expression" else la.asarray(x) * 2 + 1
    want = x[index] if on != "expression" else (x * 2 + 1)[index]
    got = lazy[index]
    assert got._node.op is not Op.LEAF  # a gather, not an eager copy
    value = got.eval(backend=backend)
    assert value.shape == want.shape and value.dtype == want.dtype
    np.testing.assert_array_equal(value, want)


@pytest.mark.parametrize("index", [i for i in ADVANCED if not isinstance(i, np.ndarray)
                                   or i.dtype != bool], ids=_ids)
def test_lazy_index_arrays_stay_lazy(index: Any, backend: str) -> None:
    items = index if isinstance(index, tuple) else (index,)
    lazy_items = tuple(la.asarray(np.asarray(i).astype(np.intp)) * 1
                       if isinstance(i, list) or (isinstance(i, np.ndarray) and i.dtype != bool)
                       else i for i in items)
    a = la.asarray(X)
    assert kernels_run(lambda: a[lazy_items]) == 0  # nothing evaluated to write it
    np.testing.assert_array_equal(a[lazy_items].eval(backend=backend), X[index])


def test_gathers_are_lazy_and_a_mask_is_all_that_is_evaluated() -> None:
    a = la.asarray(X)
    assert kernels_run(lambda: a[np.array([0, 1]), np.array([2, 3])]) == 0
    e = la.exp(a) * 2
    mask = a > 0
    picked = kernels_run(lambda: e[mask])  # the mask's kernel, and nothing of e
    assert picked == 1
    assert e[mask]._node.op is Op.TAKE
    np.testing.assert_allclose(e[mask].eval(), (np.exp(X) * 2)[X > 0], rtol=1e-15)


def test_boolean_scalar_indices_are_numpys() -> None:
    a = la.asarray(X)
    for index in (True, False, (Ellipsis, True), (np.True_, 0)):
        np.testing.assert_array_equal(a[index].eval(), X[index])


BAD = [
    (np.array([4]), IndexError, "out of bounds"),
    ((slice(None), np.array([0, -6])), IndexError, "index -6 is out of bounds for axis 1"),
    ((0, 0, 0, np.array([0])), IndexError, "too many indices"),
    ((X > 0, 0), IndexError, "too many indices"),
    (np.zeros(3, bool), IndexError, "boolean index did not match"),
    ((slice(None), np.zeros((5, 5), bool)), IndexError, "boolean index did not match"),
    ((np.array([0, 1]), np.array([0, 1, 2])), IndexError, "shape mismatch"),
    (np.array([1.0]), IndexError, "integer \\(or boolean\\) type"),
    ((1.5, np.array([0])), IndexError, "only integers"),
    ((Ellipsis, np.array([0]), Ellipsis), IndexError, "single ellipsis"),
]


@pytest.mark.parametrize(("index", "exc", "match"), BAD, ids=_ids)
def test_errors_are_numpys(index: Any, exc: type, match: str) -> None:
    with pytest.raises(exc):
        X[index]
    for lazy in (la.asarray(X), la.asarray(X) + 1):
        with pytest.raises(exc, match=match):
            lazy[index]


def test_lazy_indices_out_of_bounds_raise_when_evaluated() -> None:
    a = la.asarray(X)
    for index in ((la.asarray(np.array([0, 4])) * 1, 0),
                  (la.asarray(np.array([0, 1])), la.asarray(np.array([2, -6]))),
                  (0, la.asarray(np.array([1, 5])) + 0, 0)):
        lazy = a[index]  # written without error: the indices are not known yet
        with pytest.raises(IndexError):
            lazy.eval()


def test_gradients_through_gathers() -> None:
    x = RNG.standard_normal((4, 5))
    rows, cols = np.array([0, 3, 0]), np.array([1, 1, 1])  # a repeated element adds up

    def picked(t: Any) -> Any:
        return la.sum(t[rows, cols] ** 2) + la.sum(t[t > 0.5]) + la.sum(t[:, [4, 0]] * 3)

    want = np.zeros_like(x)
    np.add.at(want, (rows, cols), 2 * x[rows, cols])
    want += x > 0.5
    want[:, [4, 0]] += 3
    np.testing.assert_allclose(la.grad(picked)(x).eval(), want, rtol=1e-13)


# -- take_along_axis ---------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [0, 1, -1, None])
@pytest.mark.parametrize("lazy_indices", [False, True])
def test_take_along_axis_matches_numpy(axis: int | None, lazy_indices: bool,
                                       backend: str) -> None:
    x = RNG.standard_normal((3, 4, 5)).astype(np.float32)
    indices = np.argsort(x, axis=axis) if axis is not None else np.argsort(x, axis=None)[::2]
    given_indices = la.asarray(indices) * 1 if lazy_indices else indices
    got = take_along_axis(la.asarray(x), given_indices, axis=axis).eval(backend=backend)
    want = np.take_along_axis(x, indices, axis=axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_take_along_axis_broadcasts_and_dispatches() -> None:
    x = RNG.standard_normal((3, 1, 4))
    indices = np.array([[[0, 3]], [[1, 1]], [[-1, 2]]]).repeat(2, axis=1)  # (3, 2, 2)
    want = np.take_along_axis(x, indices, axis=2)
    np.testing.assert_array_equal(take_along_axis(x, indices, axis=2).eval(), want)
    through_numpy = np.take_along_axis(la.asarray(x), indices, 2)
    assert isinstance(through_numpy, la.LazyArray)
    np.testing.assert_array_equal(through_numpy.eval(), want)
    first = take_along_axis(la.asarray(x), np.zeros((3, 1, 1), np.int64), axis=-1)
    np.testing.assert_array_equal(first.eval(), x[:, :, :1])


def test_take_along_axis_errors() -> None:
    x = la.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(ValueError, match="same number of dimensions"):
        take_along_axis(x, np.array([0, 1]), axis=1)
    with pytest.raises(IndexError, match="integer array"):
        take_along_axis(x, np.array([[0.0]]), axis=1)
    with pytest.raises(IndexError, match="out of bounds"):
        take_along_axis(x, np.array([[3]]), axis=1)
    with pytest.raises(np.exceptions.AxisError):
        take_along_axis(x, np.array([[0]]), axis=2)


def test_take_along_axis_gradient() -> None:
    x = RNG.standard_normal((3, 4))
    indices = np.array([[0, 0], [3, 1], [2, 2]])
    want = np.zeros_like(x)
    np.add.at(want, (np.arange(3)[:, None], indices), 1.0)
    got = la.grad(lambda t: la.sum(take_along_axis(t, indices, axis=1)))(x)
    np.testing.assert_array_equal(got.eval(), want)


# -- x[key] = value ----------------------------------------------------------------------------
SETS: list[tuple[Any, Any]] = [
    (1, 7.0),
    (-1, np.arange(30.0).reshape(5, 6)),
    ((0, 1, 2), -3.0),
    (slice(1, 3), 2.5),
    ((slice(None, None, -1), slice(None, None, 2)), np.arange(6.0)),  # broadcast along rows
    ((slice(None, None, -1), slice(None, None, 2)), np.arange(72.0).reshape(4, 3, 6)),
    ((slice(3, 0, -2), 1, slice(None, None, -3)), np.array([[1.0, 2.0], [3.0, 4.0]])),
    ((Ellipsis, 2), np.arange(5.0)),
    ((None, 0, Ellipsis, None), np.ones((1, 1, 5, 6, 1))),
    ((slice(None), None, 4), np.arange(4.0).reshape(4, 1, 1)),
    (Ellipsis, np.arange(6.0)),
    (slice(None), np.ones((1, 1, 4, 5, 6))),  # leading ones are dropped, as in NumPy
    (slice(5, 9), np.ones(6)),  # selects nothing
    (X > 0.5, 0.0),  # a mask and a scalar: a lazy where
    ((X > 0.5)[:, :, 0], np.arange(6.0)),  # a value along the rest: a lazy where
    (X > 0.5, np.arange(float(np.count_nonzero(X > 0.5)))),  # one value per element
    ((slice(None), X[0, :, 0] > 0), 9.0),
    (np.array([3, 0, 3]), np.arange(90.0).reshape(3, 5, 6)),  # repeated: the last wins
    ((np.array([0, 1]), slice(None), np.array([[5], [4]])), np.arange(10.0).reshape(2, 5)),
    ([1, -1], 5.0),
    ((0, [], 1), 3.0),
]


@pytest.mark.parametrize(("key", "value"), SETS, ids=_ids)
@pytest.mark.parametrize("on", ["leaf", "expression"])
def test_setitem_matches_numpy_in_place(key: Any, value: Any, on: str, backend: str) -> None:
    x = X.copy()
    lazy = la.asarray(x) if on == "leaf" else la.asarray(x) * 1
    lazy[key] = value
    want = X.copy()
    want[key] = value
    got = lazy.eval(backend=backend)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, X)  # the captured array is never written


def test_setitem_with_lazy_keys_and_values(backend: str) -> None:
    a = la.asarray(X)
    b = la.asarray(X) * 1
    b[a > 0] = (a * 10)[a > 0]  # a lazy mask, and a lazy value per element
    b[la.asarray(np.array([0, 2])), 1] = la.asarray(np.arange(6.0)) - 1
    want = X.copy()
    want[X > 0] = (X * 10)[X > 0]
    want[[0, 2], 1] = np.arange(6.0) - 1
    np.testing.assert_array_equal(b.eval(backend=backend), want)


def test_setitem_by_mask_with_a_scalar_evaluates_nothing() -> None:
    a = la.asarray(X) * 2
    assert kernels_run(lambda: a.__setitem__(a < 0, 0.0)) == 0
    assert a._node.op is Op.WHERE
    np.testing.assert_array_equal(a.eval(), np.maximum(X * 2, 0.0))


@pytest.mark.parametrize(("dtype", "key", "value"), [
    ("int64", 0, 1.5), ("int64", slice(None), 2.9), ("int64", [0], -1.5),
    ("int8", 1, np.int8(-128)), ("uint8", slice(1, 3), np.array([300, -1])),
    ("uint8", slice(None), np.array([1.5, 2.7, 0.2, 255.9])),
    ("int16", [0, 2], np.array(1e4)), ("bool", 0, 5), ("bool", slice(None), 0.0),
    ("float32", 2, 1e300), ("float32", slice(None), np.arange(4, dtype=np.int64)),
    ("uint16", [0], np.int64(-1)),  # advanced: NumPy casts NumPy scalars as arrays (wraps)
])
def test_setitem_casts_like_numpy(dtype: str, key: Any, value: Any, backend: str) -> None:
    x = np.arange(4).astype(dtype)
    lazy = la.asarray(x)
    want = x.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        want[key] = value
        lazy[key] = value
        got = lazy.eval(backend=backend)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(("dtype", "key", "value", "exc"), [
    ("int8", 0, 300, OverflowError), ("int8", slice(None), 300, OverflowError),
    ("int8", [0], 300, OverflowError), ("int8", 0, np.int64(300), OverflowError),
    ("uint8", slice(None), -1, OverflowError), ("int64", 0, float("nan"), ValueError),
    ("int64", slice(None), float("inf"), OverflowError), ("float64", 0, [1.0], ValueError),
    ("int8", 0, [1.0], TypeError),
    ("float64", 0, np.array([1.0]), ValueError), ("float64", 0, 1j, TypeError),
    ("float64", slice(None), np.ones(3), ValueError), ("float64", [0, 1], np.ones(3), ValueError),
    ("float64", np.ones(4, bool), np.ones(3), ValueError),
    ("float64", 4, 1.0, IndexError), ("float64", (0, 0), 1.0, IndexError),
    ("float64", np.array([5]), 1.0, IndexError), ("float64", np.ones(3, bool), 1.0, IndexError),
    ("float64", 1.5, 1.0, IndexError),
])
def test_setitem_errors_are_numpys(dtype: str, key: Any, value: Any, exc: type) -> None:
    x = np.zeros(4, dtype)
    with pytest.raises(exc):
        x[key] = value
    lazy = la.asarray(np.zeros(4, dtype))
    before = lazy._node
    with pytest.raises(exc):
        lazy[key] = value
    assert lazy._node is before  # a failed update leaves the array as it was


def test_setitem_on_zero_d_arrays(backend: str) -> None:
    for key in ((), Ellipsis):
        lazy = la.asarray(np.float32(1.5))
        lazy[key] = 7
        got = lazy.eval(backend=backend)
        assert got.shape == () and got.dtype == np.float32 and got == 7
    with pytest.raises(ValueError):
        la.asarray(np.float64(1.0))[()] = np.ones(1)  # one element: NumPy wants a scalar


def test_setitem_overlapping_sources_read_the_old_values() -> None:
    x = np.arange(6.0)
    lazy = la.asarray(x)
    lazy[1:] = lazy[:-1]
    want = np.arange(6.0)
    want[1:] = want[:-1].copy()
    np.testing.assert_array_equal(lazy.eval(), want)


def test_setitem_aliases_like_numpy_and_never_writes_inputs() -> None:
    x = np.arange(5.0)
    a = la.asarray(x)
    same = a  # one object, as in NumPy: both names see the update
    other = la.asarray(x)  # another lazy array over the same memory: unchanged
    a[0] = 100.0
    assert same.eval()[0] == 100.0
    assert other.eval()[0] == 0.0 and x[0] == 0.0


def test_setitem_gradient_flows_to_the_value_and_the_rest() -> None:
    x = RNG.standard_normal(6)
    v = RNG.standard_normal(2)

    def f(t: Any, w: Any) -> Any:
        t = t * 1.0
        t[1:5:2] = w * 3
        return la.sum(t * t)

    gx, gw = la.grad(f, argnums=(0, 1))(x, v)
    want_x = 2 * x
    want_x[1:5:2] = 0.0
    np.testing.assert_allclose(gx.eval(), want_x, rtol=1e-14)
    np.testing.assert_allclose(gw.eval(), 18 * v, rtol=1e-14)


def test_equal_expressions_stay_apart_under_setitem() -> None:
    a, b = la.asarray(np.arange(4.0)), la.asarray(np.ones(4))
    y = a * 2 + b
    z = a * 2 + b
    y[0] = 5
    np.testing.assert_array_equal(z.eval(), np.arange(4.0) * 2 + 1)
    np.testing.assert_array_equal((a * 2 + b).eval(), np.arange(4.0) * 2 + 1)
    np.testing.assert_array_equal(y.eval(), [5.0, 3.0, 5.0, 7.0])


# -- random basic indices against NumPy's in-place update ---------------------------------------
@st.composite
def _basic_key(draw: Any, shape: tuple[int, ...]) -> tuple:
    items: list = []
    for n in shape:
        if n and draw(st.booleans()):
            items.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
            step = st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 3]))
            items.append(slice(draw(bound), draw(bound), draw(step)))
        if draw(st.integers(0, 5)) == 0:
            items.append(None)
    if items and draw(st.booleans()):  # an ellipsis stands for a run of full slices
        k = draw(st.integers(0, len(items)))
        j = draw(st.integers(k, len(items)))
        if all(isinstance(i, slice) and i == slice(None) for i in items[k:j]):
            items[k:j] = [Ellipsis]
    return tuple(items)


@st.composite
def _case(draw: Any) -> tuple:
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    key = draw(_basic_key(shape))
    target = np.empty(shape)[key].shape
    if draw(st.booleans()):
        value: Any = draw(st.floats(-100, 100, allow_nan=False))
    else:  # an array broadcasting to the selection: a suffix, some dimensions one
        dims = list(target[draw(st.integers(0, len(target))):])
        dims = [1 if draw(st.booleans()) else n for n in dims]
        value = np.arange(float(np.prod(dims, dtype=int))).reshape(dims) - 7.5
    return shape, key, value


@settings(max_examples=80, deadline=None)
@given(case=_case(), dtype=st.sampled_from(["float64", "int32"]))
@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_setitem_random_basic_indices(case: tuple, dtype: str, backend: str) -> None:
    shape, key, value = case
    x = np.array(np.arange(np.prod(shape, dtype=int)).reshape(shape) * 3 - 20, dtype)
    want = x.copy()
    want[key] = value
    lazy = la.asarray(x)
    lazy[key] = value
    got = lazy.eval(backend=backend)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
