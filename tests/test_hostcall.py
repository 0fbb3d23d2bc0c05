"""Host calls (``Op.HOST``): NumPy functions of evaluated inputs inside lazy expressions."""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as la
from lazyarr.front.array import LazyArray
from lazyarr.front.hostcall import host_call, host_value
from lazyarr.inspect.kernelplan import build_plan


def _sorted(x: LazyArray, axis: int = -1) -> LazyArray:
    return LazyArray(host_value("sort", np.sort, [x._node], (x.shape, x.dtype), (axis,)))


def _eigh(x: LazyArray) -> tuple[LazyArray, LazyArray]:
    n = x.shape[-1]
    w, v = host_call("eigh", np.linalg.eigh, [x._node],
                     [(x.shape[:-1], x.dtype), (x.shape, x.dtype)])
    assert w.shape == x.shape[:-1] and v.shape[-1] == n
    return LazyArray(w), LazyArray(v)


@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_fuses_around_the_call(backend: str) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((7, 5)).astype(np.float32)
    r = _sorted(la.asarray(a) * 2, axis=0) + 1
    expected = np.sort(a * 2, axis=0) + 1
    got = r.eval(backend=backend)
    assert got.dtype == np.float32 and got.shape == (7, 5)
    np.testing.assert_array_equal(got, expected)
    kinds = [s.kind for s in build_plan([r._node])]
    assert kinds == ["kernel", "opaque", "kernel"]


def test_several_results_and_interning() -> None:
    rng = np.random.default_rng(1)
    m = rng.standard_normal((3, 4, 4))
    m = m + np.swapaxes(m, -1, -2)
    x = la.asarray(m)
    w, v = _eigh(x)
    w2, _ = _eigh(x)
    assert w._node is w2._node  # the same call is one node
    ew, ev = np.linalg.eigh(m)
    got_w, got_v = la.eval(w, v)
    np.testing.assert_allclose(got_w, ew, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.abs(got_v), np.abs(ev), rtol=1e-9, atol=1e-9)


def test_zero_size_and_explain() -> None:
    x = la.asarray(np.zeros((0, 3)))
    np.testing.assert_array_equal(_sorted(x).eval(), np.zeros((0, 3)))
    assert "sort (NumPy)" in str(la.explain(_sorted(la.asarray(np.ones(4))) * 2).plan)


def test_no_gradient() -> None:
    with pytest.raises(NotImplementedError, match="sort"):
        la.grad(lambda x: _sorted(x).sum())(np.ones(3))


def test_a_changed_shape_is_an_error() -> None:
    a = np.arange(5.0)
    x = la.asarray(a)
    r = LazyArray(host_value("unique", np.unique, [x._node], ((5,), np.float64)))
    np.testing.assert_array_equal(r.eval(), a)
    a[:] = 1.0  # the captured array changed: NumPy's unique now has one element
    with pytest.raises(RuntimeError, match="unique"):
        r.eval()


def test_dask() -> None:
    da = pytest.importorskip("dask.array")
    a = np.random.default_rng(2).standard_normal((6, 4))
    x = la.asarray(da.from_array(a, chunks=(3, 2)))
    r = la.eval(_sorted(x * 2, axis=0) - 1)
    np.testing.assert_allclose(np.asarray(r), np.sort(a * 2, axis=0) - 1)


_CALLS = []


def _counted_eigh(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _CALLS.append(1)
    return np.linalg.eigh(m)


@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_several_results_run_numpy_once(backend: str) -> None:
    m = np.eye(3) * 2.0
    w, v = host_call("eigh", _counted_eigh, [la.asarray(m)._node],
                     [((3,), np.float64), ((3, 3), np.float64)])
    _CALLS.clear()
    got_w, got_v = la.eval(LazyArray(w) + 1, LazyArray(v), backend=backend)
    assert len(_CALLS) == 1
    np.testing.assert_array_equal(got_w, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(np.abs(got_v), np.eye(3))
    _CALLS.clear()
    m[:] = np.eye(3) * 5.0  # a later evaluation computes again: nothing kept across them
    assert np.array_equal(LazyArray(w).eval(backend=backend), [5.0, 5.0, 5.0])
    assert len(_CALLS) == 1
