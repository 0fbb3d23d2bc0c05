"""Gathers: ``la.take`` and ``x[index_array]`` (one integer array after full slices) as lazy,
differentiable opaque steps, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as la

RNG = np.random.default_rng(31)
DTYPES = ["bool", "int8", "uint16", "int64", "float32", "float64"]


def _data(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    return (RNG.standard_normal(shape) * 10).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_take_matches_numpy(dtype: str, axis: int | None, backend: str) -> None:
    x = _data((5, 6, 3), dtype)
    idx = np.array([[0, 2], [-1, 2], [1, 1]])
    got = la.take(x, idx, axis=axis).eval(backend=backend)
    want = np.take(x, idx, axis=axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("index", [np.array([3, 0, 3]), [2, -5], np.array([[1], [0]]),
                                   (slice(None), np.array([5, 0, 2])),
                                   (slice(None), slice(None), np.array([-1]))])
def test_getitem_with_an_index_array_is_a_lazy_take(index: object) -> None:
    x = _data((5, 6, 3), "float64")
    lazy = la.asarray(x)[index]
    assert lazy._node.op.value == "take"
    np.testing.assert_array_equal(lazy.eval(), x[index])
    np.testing.assert_array_equal((la.asarray(x) * 2 + 1)[index].eval(), (x * 2 + 1)[index])


def test_other_advanced_indices_stay_numpys() -> None:
    x = _data((5, 6), "float32")
    for index in (x > 0, (np.array([1, 2]), np.array([3, 4])), (1, np.array([0, 5]))):
        np.testing.assert_array_equal(la.asarray(x)[index].eval(), x[index])


def test_strided_empty_and_fused() -> None:
    x = _data((8, 10), "float32")[::2, ::-3]
    idx = np.array([3, 0, 0])
    expr = la.exp(la.take(la.asarray(x) * 2, idx, axis=0)) + 1
    np.testing.assert_allclose(expr.eval(), np.exp(np.take(x * 2, idx, axis=0)) + 1,
                               rtol=1e-6)
    assert len(la.explain(expr).kernel_steps) == 2  # x * 2, then take's consumer
    assert la.take(x, np.array([], np.int64), axis=1).eval().shape == (4, 0)
    assert la.take(np.zeros((0, 3)), np.array([], np.int64), axis=0).eval().shape == (0, 3)


def test_errors() -> None:
    x = la.asarray(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match="out of bounds"):
        x[np.array([2])]
    with pytest.raises(IndexError, match="out of bounds"):
        la.take(x, np.array([-4]), axis=1)
    with pytest.raises(TypeError):
        la.take(x, np.array([0.5]), axis=0)
    with pytest.raises(np.exceptions.AxisError):
        la.take(x, np.array([0]), axis=2)
    computed = la.asarray(np.array([0, 1])) * 5  # known only when evaluated
    expr = la.take(x, computed, axis=1)
    with pytest.raises(IndexError):
        expr.eval()
    with pytest.raises(IndexError):
        np.take(np.arange(6.0).reshape(2, 3), np.array([0, 5]), axis=1)


def test_gradient_adds_back_into_place() -> None:
    w = RNG.standard_normal((7, 4))
    idx = np.array([[1, 3, 1], [6, -1, 0]])  # repeats add up

    def loss(t: la.LazyArray) -> la.LazyArray:
        return (la.tanh(la.take(t, idx, axis=0)) ** 2).sum()

    g = la.grad(loss)(w)
    picked = np.take(w, idx, axis=0)
    want = np.zeros_like(w)
    np.add.at(want, idx, 2 * np.tanh(picked) * (1 - np.tanh(picked) ** 2))
    np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-15)
    g_cols = la.grad(lambda t: (t[:, np.array([0, 0, 3])] * 3).sum())(w)
    np.testing.assert_array_equal(g_cols, np.tile([6.0, 0, 0, 3], (7, 1)))


def test_second_order_through_take() -> None:
    """The gradient of a gradient: scatter_add's own rule is take."""
    w = RNG.standard_normal(5)
    idx = np.array([0, 0, 4])

    def f(t: la.LazyArray) -> la.LazyArray:
        return (la.take(t, idx) ** 3).sum()

    hvp = la.grad(lambda t: (la.grad(f)(t) * np.arange(5.0)).sum())(w)
    want = np.zeros(5)
    np.add.at(want, idx, 6 * w[idx] * np.arange(5.0)[idx] * 1.0)
    np.testing.assert_allclose(hvp, want, rtol=1e-12)


def test_take_over_dask() -> None:
    da = pytest.importorskip("dask.array")
    x = np.arange(40.0).reshape(8, 5)
    lazy = la.asarray(da.from_array(x, chunks=(3, 5)))
    got = np.asarray(la.take(lazy * 2, np.array([7, 0, 0]), axis=0).eval())
    np.testing.assert_array_equal(np.asarray(got), np.take(x * 2, [7, 0, 0], axis=0))
