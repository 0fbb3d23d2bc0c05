"""Regressions found by testing as a new user would: each gives NumPy's result now."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import lazyarr as la

BACKENDS = ("cpu", "interp")


def _check(lazy: la.LazyArray, expected: np.ndarray) -> None:
    for backend in BACKENDS:
        got = la.eval(lazy, backend=backend)
        assert got.dtype == expected.dtype, backend
        assert got.shape == expected.shape, backend
        np.testing.assert_array_equal(got, expected)


# -- a reduction broadcast up in rank next to operands of other ranks --------------------------
def test_reduction_broadcast_up_beside_lower_rank_operands():
    one, v, m = np.ones((1, 1)), np.ones(1), np.ones((100, 3))
    lazy = la.asarray(one) + la.sum(la.asarray(m), axis=0) + la.asarray(v)
    _check(lazy, one + m.sum(axis=0) + v)

    mask, cube, eight = np.ones((1, 1), bool), np.arange(300).reshape(1, 100, 3), np.int32([8])
    lazy = la.where(la.asarray(mask), la.min(la.asarray(cube), axis=-2), la.asarray(eight))
    _check(lazy, np.where(mask, cube.min(axis=-2), eight))


@pytest.mark.parametrize("kind", ["sum", "max", "argmin", "any"])
@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_operands_met_before_and_after_the_reduction_share_one_kernel(kind, order):
    """Inputs lowered before the kernel's row is known used to get views of lower rank."""
    rng = np.random.default_rng(3)
    data = rng.integers(0, 9, (1, 7, 5, 4))
    small = rng.integers(0, 9, (1, 1, 4))  # rank 3 beside the rank-3 reduction result
    tiny = rng.integers(0, 9, (4,))
    reduced = getattr(np, kind)(data, axis=1)
    lazy_reduced = getattr(la, kind)(la.asarray(data), axis=1)
    terms = [(reduced, lazy_reduced), (small, la.asarray(small)), (tiny, la.asarray(tiny))]
    picked = [terms[k] for k in order]
    expected = picked[0][0] + picked[1][0] * 2 + picked[2][0]
    _check(picked[0][1] + picked[1][1] * 2 + picked[2][1], expected)


# -- integer indexing down to one element --------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_integer_index_to_one_element_then_arithmetic(dtype):
    a = np.arange(6).reshape(2, 3).astype(dtype)
    x = la.asarray(a)
    _check(x[0, 1] * 2, np.asarray(a[0, 1] * 2))
    _check(x[1, 1] + x[0, 0], np.asarray(a[1, 1] + a[0, 0]))
    _check(x[-1, -1, ...] | x[0, 2] if dtype == "bool" else x[-1, -1, ...] - x[0, 2],
           np.asarray(a[-1, -1] | a[0, 2] if dtype == "bool" else a[-1, -1] - a[0, 2]))
    assert bool(x[0, 0] > 0) is bool(a[0, 0] > 0)
    assert int(x[1, 1]) == int(a[1, 1])
    assert float(x[1, 2]) == float(a[1, 2])


def test_integer_index_is_a_view_read_at_evaluation():
    a = np.arange(6.0).reshape(2, 3)
    lazy = la.asarray(a)[1, 2] * 2
    a[1, 2] = 100.0  # captured arrays are read when evaluated, not when built
    assert la.eval(lazy)[()] == 200.0
    with pytest.raises(IndexError):
        la.asarray(a)[2, 0]
