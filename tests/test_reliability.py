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


# -- found by the random expressions of test_random_expressions.py -----------------------------
def _check_close(lazy: la.LazyArray, expected: np.ndarray) -> None:
    """As ``_check``, and the sign of every zero too."""
    _check(lazy, expected)
    for backend in BACKENDS:
        got = la.eval(lazy, backend=backend)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("axis", [0, -1, np.int64(0)])
@pytest.mark.parametrize("name", ["sum", "prod", "min", "max", "any", "all", "argmin", "argmax"])
def test_ufunc_reductions_of_0d_take_axis_0_and_minus_1(name, axis):
    a = np.array(2.5)
    _check(getattr(la, name)(la.asarray(a), axis=axis), np.asarray(getattr(np, name)(a, axis=axis)))


@pytest.mark.parametrize("axis", [0, -1, (0,), 1])
@pytest.mark.parametrize("name", ["mean", "var", "std", "sum"])
def test_0d_reductions_refuse_other_axes_as_numpy(name, axis):
    a = np.array(2.5)
    if name == "sum" and axis in (0, -1):
        return  # taken above
    with pytest.raises(np.exceptions.AxisError):
        getattr(np, name)(a, axis=axis)
    with pytest.raises(np.exceptions.AxisError):
        getattr(la, name)(la.asarray(a), axis=axis)


@pytest.mark.parametrize(("value", "dtype"), [(-1, "uint8"), (2**63, "int16"), (300, "uint8"),
                                              (2**64 - 1, "int8"), (-(2**63), "uint64")])
def test_where_wraps_a_python_int_as_numpy(value, dtype):
    c, arr = np.array([True, False]), np.array([1, 2], dtype)
    _check(la.where(la.asarray(c), value, la.asarray(arr)), np.where(c, value, arr))
    with pytest.raises(OverflowError):
        la.where(la.asarray(c), 2**64, la.asarray(arr))


def test_where_of_two_python_scalars_beyond_int64():
    c = np.array([True, False])
    _check(la.where(la.asarray(c), 2**64, 2.0), np.where(c, 2**64, 2.0))
    _check(la.where(la.asarray(c), -(2**63) - 1, 0.5), np.where(c, -(2**63) - 1, 0.5))


def test_flip_of_0d_is_a_view():
    a = np.array(-7.5)
    lazy = la.flip(la.asarray(a)) * 2
    _check(lazy, np.flip(a) * 2)
    a[()] = 1.0
    assert la.eval(lazy)[()] == 2.0


@pytest.mark.parametrize("name", ["argmin", "argmax"])
def test_arg_reduction_beside_an_empty_axis(name):
    a = np.zeros((2, 0, 3))
    _check(getattr(la, name)(la.asarray(a), axis=0), getattr(np, name)(a, axis=0))


def test_sum_over_no_axes_turns_negative_zero_positive():
    a = np.array([-0.0, 1.0])
    _check_close(la.sum(la.asarray(a), axis=()), np.sum(a, axis=()))
    _check_close(la.mean(la.asarray(np.array(-0.0))), np.asarray(np.mean(np.array(-0.0))))
    _check_close(la.prod(la.asarray(a), axis=()), np.prod(a, axis=()))  # 1 * -0.0 stays


def test_stride_0_input_read_inside_and_outside_a_reduction():
    b = np.broadcast_to(np.ones((1, 1)), (2, 2))
    x = la.asarray(b)
    _check(la.sum(x, axis=1) + x[0], b.sum(axis=1) + b[0])
    _check(x[0] * la.max(x, axis=1), b[0] * b.max(axis=1))


def test_python_int_out_of_range_is_found_before_broadcasting():
    with pytest.raises(OverflowError):
        np.clip(np.array([True, False, True]), -1, np.arange(2, dtype=np.uint32))
    with pytest.raises(OverflowError):
        la.clip(la.asarray(np.array([True, False, True])), -1,
                la.asarray(np.arange(2, dtype=np.uint32)))
