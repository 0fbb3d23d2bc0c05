"""Expressions over Dask arrays (lazyarr/run/daskeval.py) against NumPy and plain Dask.

Every differential case writes one expression once, as a function of a namespace (``np``,
``da`` or ``la``), and evaluates it four ways: NumPy over NumPy arrays, lazyarr over NumPy
arrays, plain Dask over Dask arrays, and lazyarr over the same Dask arrays. The last must be
a lazy Dask array whose computed value matches the other three: exactly for integers,
booleans, min/max and arg-reductions, with rtol for floats (lazyarr's compensated sums and its
own math library round differently from NumPy's).

The tests that start processes (the ``processes`` scheduler, ``distributed.LocalCluster``,
the worker-fault test) are marked ``slow``; with them the file runs in well under a minute.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import lazyarr as la
from lazyarr.ir.graph import Buffer

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")

Spec = tuple[str, tuple[int, ...], Any]  # (kind of values, shape, Dask chunks or None: NumPy)


@pytest.fixture(autouse=True, scope="module")
def _restore_dask_flag() -> Iterator[None]:
    """A Dask leaf sets ``Buffer.dask`` for the whole process, after which every evaluation
    looks for Dask leaves; put it back so that the modules after this one run as alone."""
    before = Buffer.dask
    yield
    Buffer.dask = before


# -- the differential harness ------------------------------------------------------------------
def _values(kind: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "f8":
        return rng.standard_normal(shape)
    if kind == "f4":
        return rng.standard_normal(shape).astype(np.float32)
    if kind == "pos":  # products of many stay far from overflow and underflow
        return rng.uniform(0.5, 1.5, shape)
    if kind == "i4":
        return rng.integers(-50, 50, shape, dtype=np.int32)
    if kind == "i4small":  # integer products of 120 of these stay well inside int64
        return rng.choice(np.array([-1, 1, 1, 1, 2, -2, 1, -1], dtype=np.int32), shape)
    if kind == "i4perm":  # distinct values: no ties for arg-reductions
        size = int(np.prod(shape))
        return (rng.permutation(size) - size // 2).astype(np.int32).reshape(shape)
    if kind == "i4tie":  # many ties
        return rng.integers(0, 3, shape, dtype=np.int32)
    if kind == "i1":
        return rng.integers(-100, 100, shape, dtype=np.int8)
    if kind == "u1":
        return rng.integers(0, 255, shape, dtype=np.uint8)
    if kind == "b":
        return rng.random(shape) < 0.5
    raise ValueError(kind)


def _wrap(values: list[Any]) -> list[Any]:
    """Dask arrays (and, for the lazyarr-over-NumPy run, NumPy arrays) as lazyarr leaves."""
    return [la.asarray(v) if isinstance(v, np.ndarray | da.Array) else v for v in values]


def _tolerance(dtype: np.dtype) -> tuple[float, float]:
    return (1e-5, 1e-6) if dtype == np.float32 else (1e-11, 1e-12)


def _compare(got: Any, want: Any, exact: bool, rtol: float | None, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if exact or want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        default_rtol, atol = _tolerance(want.dtype)
        np.testing.assert_allclose(got, want, rtol=rtol or default_rtol, atol=atol, err_msg=what)


def differential(fn: Callable[..., Any], specs: list[Spec], *, exact: bool = False,
                 rtol: float | None = None, lazy_numpy: bool = True,
                 dask_dtype: bool = True) -> Any:
    """``fn(xp, *operands)`` four ways (see the module docstring); returns the Dask result.

    Operands whose chunks are None stay NumPy arrays in the Dask runs (mixed operands).
    ``dask_dtype=False``: plain Dask's result dtype differs from NumPy's (its int32 matmul
    gives int64), so only its values are compared."""
    values = [_values(kind, shape, k) for k, (kind, shape, _) in enumerate(specs)]
    chunked = [v if chunks is None else da.from_array(v, chunks=chunks)
               for v, (_, _, chunks) in zip(values, specs, strict=True)]
    want = np.asarray(fn(np, *values))
    result = la.eval(fn(la, *_wrap(chunked)))
    assert isinstance(result, da.Array), type(result)
    assert result.shape == want.shape, (result.shape, want.shape)
    assert result.dtype == want.dtype, (result.dtype, want.dtype)
    got = result.compute()
    _compare(got, want, exact, rtol, "lazyarr over Dask vs NumPy")
    plain = np.asarray(fn(da, *chunked).compute())
    if not dask_dtype:
        assert plain.dtype != want.dtype, "plain Dask now keeps NumPy's dtype: drop the flag"
        plain = plain.astype(want.dtype)
    _compare(got, plain, exact, rtol, "lazyarr over Dask vs Dask")
    if lazy_numpy:
        _compare(got, la.eval(fn(la, *_wrap(values))), exact, rtol,
                 "lazyarr over Dask vs lazyarr over NumPy")
    return result


# -- elementwise -------------------------------------------------------------------------------
M, N = 7, 12
UNEVEN = (3, (3, 7, 2))  # chunks of a (7, 12) array: uneven along both axes
OTHER = ((2, 5), (6, 6))  # a second chunking of the same shape: blocks must be unified

ELEMENTWISE = {
    "exp_poly": (lambda xp, x: 2 * x + xp.exp(-x), [("f8", (M, N), UNEVEN)]),
    "float64_two_chunkings": (lambda xp, x, y: x * y - xp.sin(x) / (1 + y * y),
                              [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "float32": (lambda xp, x, y: x * y - xp.cos(x) / (1 + y * y) + 0.5,
                [("f4", (M, N), UNEVEN), ("f4", (M, N), OTHER)]),
    "int32_arith": (lambda xp, a, b: ((a * 3 + b) // 7 - a % 5) + ((a & b) ^ (b >> 1)),
                    [("i4", (M, N), UNEVEN), ("i4", (M, N), OTHER)]),
    "int32_scalar": (lambda xp, a: a * 2 - 1 + abs(a), [("i4", (M, N), UNEVEN)]),
    "int32_true_divide": (lambda xp, a, b: a / (b * b + 1), [("i4", (M, N), UNEVEN),
                                                              ("i4", (M, N), OTHER)]),
    "int_float_promotion": (lambda xp, a, x: a + x, [("i4", (M, N), UNEVEN),
                                                      ("f8", (M, N), OTHER)]),
    "comparisons": (lambda xp, x, y: ((x > y) & (x < 0.5)) | (x == y) | (y <= -1.0),
                    [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "int_comparisons": (lambda xp, a, b: (a >= b) ^ (a != 3), [("i4", (M, N), UNEVEN),
                                                                ("i4", (M, N), OTHER)]),
    "where": (lambda xp, x, y: xp.where(x > 0, x, y * 2), [("f8", (M, N), UNEVEN),
                                                            ("f8", (M, N), OTHER)]),
    "where_int32": (lambda xp, a, b: xp.where(a > b, a, b - 1), [("i4", (M, N), UNEVEN),
                                                                  ("i4", (M, N), OTHER)]),
    "casts": (lambda xp, x, a: (x * 10).astype(np.int32) + a, [("f8", (M, N), UNEVEN),
                                                                ("i4", (M, N), OTHER)]),
    "cast_to_float32": (lambda xp, x, a: x.astype(np.float32) * 2 + a.astype(np.float32),
                        [("f8", (M, N), UNEVEN), ("i4", (M, N), OTHER)]),
    "bool_cast": (lambda xp, x, y: (x > 0).astype(np.float64) * y, [("f8", (M, N), UNEVEN),
                                                                     ("f8", (M, N), OTHER)]),
    "unary_math": (lambda xp, x, y: xp.sqrt(xp.abs(x)) + xp.log1p(xp.abs(y)) - xp.tanh(x),
                   [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "min_max_clip": (lambda xp, x, y: xp.maximum(x, y) - xp.minimum(x, 0.25)
                     + xp.clip(y, -0.5, 0.5), [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "powers": (lambda xp, x, y: x ** 2 + x ** 3 - xp.abs(y) ** 0.5,
               [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "floor_ceil": (lambda xp, x, y: xp.floor(x * 3) + xp.ceil(y), [("f8", (M, N), UNEVEN),
                                                                    ("f8", (M, N), OTHER)]),
    "int8_wraps": (lambda xp, a, b: a * 50 + b, [("i1", (M, N), UNEVEN), ("i1", (M, N), OTHER)]),
    "uint8_mixed_int8": (lambda xp, u, a: u - a, [("u1", (M, N), UNEVEN), ("i1", (M, N), OTHER)]),
    "logical": (lambda xp, x, p: xp.logical_not(x > 0) ^ p, [("f8", (M, N), UNEVEN),
                                                              ("b", (M, N), OTHER)]),
    # broadcasting across chunked and unchunked operands
    "numpy_row": (lambda xp, x, v: x * v + v, [("f8", (M, N), UNEVEN), ("f8", (N,), None)]),
    "numpy_column": (lambda xp, x, c: x - c, [("f8", (M, N), UNEVEN), ("f8", (M, 1), None)]),
    "dask_row_other_chunks": (lambda xp, x, v: x / (2 + v * v),
                              [("f8", (M, N), UNEVEN), ("f8", (N,), ((5, 7),))]),
    "outer": (lambda xp, c, r: c * r - r, [("f8", (M, 1), ((2, 5), 1)),
                                           ("f8", (1, N), (1, (4, 4, 4)))]),
    "outer_three": (lambda xp, c, r, x: xp.where(c > r, x, c + r),
                    [("f8", (M, 1), ((4, 3), 1)), ("f8", (1, N), (1, (5, 7))),
                     ("f8", (M, N), UNEVEN)]),
    "uneven_1d": (lambda xp, x, y: xp.exp(x) * y, [("f8", (12,), ((3, 7, 2),)),
                                                   ("f8", (12,), ((6, 6),))]),
    # 0-d: a 0-d Dask leaf, a 0-d NumPy operand, Python scalars
    "zero_d_result": (lambda xp, s: xp.exp(s) * 2 - 1, [("f8", (), ())]),
    "zero_d_broadcast": (lambda xp, s, x, t: s * x + t, [("f8", (), ()), ("f8", (M, N), UNEVEN),
                                                         ("f8", (), None)]),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
def test_elementwise(name: str) -> None:
    fn, specs = ELEMENTWISE[name]
    differential(fn, specs)


def test_float32_stays_float32_with_python_scalars() -> None:
    result = differential(lambda xp, x: x * 0.5 + 3, [("f4", (M, N), UNEVEN)])
    assert result.dtype == np.float32


def test_result_chunks_follow_the_operands() -> None:
    x = da.from_array(_values("f8", (M, N), 1), chunks=UNEVEN)
    result = la.eval(la.asarray(x) * 2 + 1)
    assert result.chunks == x.chunks
    assert result.npartitions == x.npartitions


# -- reductions --------------------------------------------------------------------------------
SHAPE3 = (4, 5, 6)
CHUNKS3 = ((1, 3), (3, 2), (1, 3, 2))  # uneven along every axis
AXES = [None, 0, 1, 2, -1, -3, (0, 1), (0, 2), (1, 2), (2, 0), (-1, -2), (0, 1, 2)]
KINDS = ["sum", "prod", "min", "max", "mean", "var", "std", "any", "all", "logsumexp",
         "argmin", "argmax"]
EXACT = {"min", "max", "any", "all", "argmin", "argmax"}


def _reduce(xp: Any, kind: str, x: Any, axis: Any, keepdims: bool) -> Any:
    if kind == "logsumexp":
        if xp is la:
            return la.logsumexp(x, axis=axis, keepdims=keepdims)
        top = x.max(axis=axis, keepdims=True)
        total = top + xp.log(xp.exp(x - top).sum(axis=axis, keepdims=True))
        return total if keepdims else xp.squeeze(total, axis=axis)
    if kind in ("any", "all"):
        x = x > 1.1  # a comparison fused into the chunk step
    return getattr(x, kind)(axis=axis, keepdims=keepdims)


REDUCTION_CASES = [(kind, axis, keepdims) for kind in KINDS for axis in AXES
                   for keepdims in (False, True)
                   if kind not in ("argmin", "argmax") or not isinstance(axis, tuple)]


@pytest.mark.parametrize(("kind", "axis", "keepdims"), REDUCTION_CASES, ids=str)
def test_reduction_every_axis(kind: str, axis: Any, keepdims: bool) -> None:
    result = differential(lambda xp, x: _reduce(xp, kind, x, axis, keepdims),
                          [("pos", SHAPE3, CHUNKS3)], exact=kind in EXACT, lazy_numpy=False)
    if axis is None and not keepdims:
        assert result.shape == ()


FUSED = {
    "sum_product": lambda xp, x, y, axis: (x * y).sum(axis=axis),
    "max_difference": lambda xp, x, y, axis: (x - y).max(axis=axis),
    "mean_exp": lambda xp, x, y, axis: xp.exp(x).mean(axis=axis),
    "var_linear": lambda xp, x, y, axis: (x * 2 + y).var(axis=axis),
    "std_ddof": lambda xp, x, y, axis: (x - y).std(axis=axis, ddof=1),
    "count_true": lambda xp, x, y, axis: (x > y).sum(axis=axis),
    "any_and": lambda xp, x, y, axis: ((x > y) & (x > 1.2)).any(axis=axis),
    "all_or": lambda xp, x, y, axis: ((x > y) | (y < 0.7)).all(axis=axis),
    "prod_ratio": lambda xp, x, y, axis: (x / y).prod(axis=axis),
}


@pytest.mark.parametrize("axis", [None, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("name", list(FUSED))
def test_reduction_of_fused_producer(name: str, axis: Any) -> None:
    # the two operands chunked differently: the chunk step sees unified blocks
    differential(lambda xp, x, y: FUSED[name](xp, x, y, axis),
                 [("pos", SHAPE3, CHUNKS3), ("pos", SHAPE3, (2, 5, 3))],
                 exact=name in ("max_difference", "count_true", "any_and", "all_or"))


@pytest.mark.parametrize("axis", [None, 0, 2, -2], ids=str)
@pytest.mark.parametrize("kind", ["argmin", "argmax"])
def test_arg_reduction_of_fused_producer(kind: str, axis: Any) -> None:
    differential(lambda xp, x, y: getattr(x * y - x, kind)(axis=axis),
                 [("pos", SHAPE3, CHUNKS3), ("pos", SHAPE3, (2, 5, 3))], exact=True)


@pytest.mark.parametrize("axis", [None, 0, (1, 2), -1], ids=str)
@pytest.mark.parametrize("kind", ["sum", "prod", "min", "max", "mean", "argmin", "argmax"])
def test_int32_reductions(kind: str, axis: Any) -> None:
    values = "i4small"
    if kind.startswith("arg"):
        # Dask's own argmin/argmax over all axes of a chunked 3-D array breaks ties in block
        # order, not NumPy's: distinct values here, ties below (against NumPy alone)
        values = "i4perm"
        axis = 1 if isinstance(axis, tuple) else axis
    result = differential(lambda xp, a: getattr(a, kind)(axis=axis),
                          [(values, SHAPE3, CHUNKS3)], exact=kind != "mean", lazy_numpy=False)
    # NumPy's accumulator dtypes: int64 sums and products, float64 means, int32 min/max
    expected = {"sum": np.int64, "prod": np.int64, "mean": np.float64, "min": np.int32,
                "max": np.int32}.get(kind, np.intp)
    assert result.dtype == expected


@pytest.mark.parametrize("axis", [None, 1, (0, 2)], ids=str)
@pytest.mark.parametrize("kind", ["sum", "mean", "var", "std", "max", "logsumexp"])
def test_float32_reductions(kind: str, axis: Any) -> None:
    result = differential(lambda xp, x: _reduce(xp, kind, x, axis, False),
                          [("f4", SHAPE3, CHUNKS3)], exact=kind == "max", lazy_numpy=False)
    assert result.dtype == np.float32


@pytest.mark.parametrize("axis", [None, 0, 1, -1], ids=str)
@pytest.mark.parametrize("kind", ["argmin", "argmax"])
def test_arg_reductions_break_ties_like_numpy(kind: str, axis: Any) -> None:
    a = _values("i4tie", SHAPE3, 11)
    for values in (a, a == 1):
        lazy = getattr(la.asarray(da.from_array(values, chunks=CHUNKS3)), kind)(axis=axis)
        _compare(la.eval(lazy).compute(), getattr(values, kind)(axis=axis), True, None,
                 f"{kind}(axis={axis}) of {values.dtype}")


def test_reductions_of_small_integers() -> None:
    # NumPy's accumulators: uint8 sums and products in uint64
    for fn in (lambda xp, u: u.sum(), lambda xp, u: u.sum(axis=(0, 2)),
               lambda xp, u: (u // 64).prod(axis=1), lambda xp, u: u.max(axis=0)):
        differential(fn, [("u1", SHAPE3, CHUNKS3)], lazy_numpy=False)


def test_nan_propagates_through_chunked_reductions() -> None:
    x = _values("f8", SHAPE3, 12)
    x[3, 4, 5] = np.nan  # in the last chunk along every axis
    lx = la.asarray(da.from_array(x, chunks=CHUNKS3))
    for kind in ("sum", "min", "max", "mean", "argmax"):
        for axis in (None, 0, (1, 2)):
            if kind == "argmax" and axis is not None:
                continue
            got = la.eval(getattr(lx, kind)(axis=axis)).compute()
            want = getattr(x, kind)(axis=axis)
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{kind}({axis})")
            assert np.array_equal(np.isnan(got), np.isnan(want))


def test_zero_size_arrays() -> None:
    z = np.zeros((0, 6))
    lz = la.asarray(da.from_array(z, chunks=(1, 4)))
    assert la.eval(lz * 2 + 1).compute().shape == (0, 6)
    _compare(la.eval(lz.sum(axis=0)).compute(), z.sum(axis=0), True, None, "sum of none")
    _compare(la.eval(lz.prod()).compute(), z.prod(), True, None, "prod of none")


def test_reductions_of_bool_leaf() -> None:
    for fn in (lambda xp, p: p.any(axis=0), lambda xp, p: p.all(axis=(1, 2)),
               lambda xp, p: p.sum(axis=-1), lambda xp, p: p.argmax(axis=1)):
        differential(fn, [("b", SHAPE3, CHUNKS3)], exact=True, lazy_numpy=False)


def _softmax(xp: Any, x: Any) -> Any:
    """Row-wise softmax: a reduction feeding an elementwise layer feeding a reduction."""
    e = xp.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_softmax_rows() -> None:
    result = differential(_softmax, [("f8", (6, 10), (2, (4, 6)))])
    np.testing.assert_allclose(result.compute().sum(axis=1), 1.0, rtol=1e-12)


def test_softmax_float32() -> None:
    assert differential(_softmax, [("f4", (5, 9), ((2, 3), (4, 5)))]).dtype == np.float32


# -- views -------------------------------------------------------------------------------------
VSPECS: list[Spec] = [("f8", SHAPE3, CHUNKS3), ("f8", (6,), ((4, 2),))]
VIEWS = {
    "slice_steps": lambda xp, x, v: x[1:, ::2, 1:5:3] * 2,
    "negative_steps": lambda xp, x, v: x[::-1, ::-2, 4:0:-3] + 1,
    "negative_step_from_end": lambda xp, x, v: x[2::-1, 3::-3] - 1,
    "integer_indices": lambda xp, x, v: x[2, :, -1] - x[0, 1, :5],
    "newaxis": lambda xp, x, v: x[:, None, 1, ::2] + x[None, 0, :, ::2],
    "ellipsis": lambda xp, x, v: x[..., 1] * 3,
    "view_alone": lambda xp, x, v: x[1:3, ::-1],
    "reversed_plus_original": lambda xp, x, v: x[::-1] + x,
    "view_of_expression": lambda xp, x, v: (x * 2 + 1)[:, ::-2, 1],
    "T": lambda xp, x, v: x.T + 1,
    "T_of_expression": lambda xp, x, v: (x * 2 - 1).T,
    "transpose_axes": lambda xp, x, v: x.transpose(2, 0, 1) - x[0, 0, 0],
    "transpose_plus_view": lambda xp, x, v: x.transpose(1, 2, 0)[::2, 1:] * 2,
    "moveaxis": lambda xp, x, v: xp.moveaxis(x, 0, -1) + 1,
    "broadcast_to": lambda xp, x, v: xp.broadcast_to(v, SHAPE3) * x,
    "broadcast_to_alone": lambda xp, x, v: xp.broadcast_to(v * 2, (3, 6)),
    "flip_axis": lambda xp, x, v: xp.flip(x, 1) + x,
    "flip_all": lambda xp, x, v: xp.flip(x) * 2,
    "reshape": lambda xp, x, v: (x * 2).reshape(20, 6) + 1,
    "reshape_flat": lambda xp, x, v: x.reshape(-1) * 3,
    "reshape_leaf": lambda xp, x, v: x.reshape(4, 30),
    "expand_dims": lambda xp, x, v: xp.expand_dims(x, 1) + 1,
    "squeeze_axis": lambda xp, x, v: x[:, 2:3].squeeze(axis=1) + v,
    "squeeze_all": lambda xp, x, v: xp.expand_dims(v, 0).squeeze() * 2,
    "view_then_reduce": lambda xp, x, v: x[:, ::2].sum(axis=1),
    "reduce_then_view": lambda xp, x, v: x.max(axis=0)[::-1, 1:],
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_views(name: str) -> None:
    differential(VIEWS[name], VSPECS, exact=name not in ("view_then_reduce",))


# -- matrix products and joins -----------------------------------------------------------------
JOINS = {
    "matmul": (lambda xp, a, b: xp.matmul(a, b) * 2 + 1,
               [("f8", (6, 8), (3, (5, 3))), ("f8", (8, 4), ((5, 3), 2))]),
    "matmul_operator_numpy": (lambda xp, a, b: a @ b, [("f8", (6, 8), (3, (5, 3))),
                                                       ("f8", (8, 4), None)]),
    "matmul_vector": (lambda xp, a, b: xp.matmul(xp.exp(a), b), [("f8", (8,), ((5, 3),)),
                                                                 ("f8", (8, 4), ((3, 5), 4))]),
    "matmul_batched": (lambda xp, a, b: xp.matmul(a, b).sum(axis=0),
                       [("f8", (3, 4, 5), (2, 4, (2, 3))), ("f8", (3, 5, 2), (2, (2, 3), 2))]),
    "matmul_int32": (lambda xp, a, b: xp.matmul(a, b), [("i4", (5, 6), (2, 3)),
                                                        ("i4", (6, 3), (3, 3))]),
    "concatenate_axis0": (lambda xp, x, y: xp.concatenate([x, y * 2], axis=0),
                          [("f8", (M, N), UNEVEN), ("f8", (3, N), (2, 4))]),
    "concatenate_axis1_mixed_dtypes": (lambda xp, x, a: xp.concatenate([x, a], axis=1) + 1,
                                       [("f8", (M, N), UNEVEN), ("i4", (M, 5), (3, 5))]),
    "concatenate_numpy": (lambda xp, x, y: xp.concatenate([x, y], axis=-1),
                          [("f8", (M, N), UNEVEN), ("f8", (M, 2), None)]),
    "stack_axis0": (lambda xp, x, y: xp.stack([x, y], axis=0) * 2,
                    [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "stack_last_axis": (lambda xp, x, y: xp.stack([x + 1, y], axis=-1) * 2,
                        [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
    "stack_of_leaves_then_sum": (lambda xp, x, y: xp.stack([x, y], axis=-1).sum(axis=-1),
                                 [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)]),
}


@pytest.mark.parametrize("name", list(JOINS))
def test_matmul_and_joins(name: str) -> None:
    fn, specs = JOINS[name]
    differential(fn, specs, rtol=1e-10, dask_dtype=name != "matmul_int32")


# A reduction whose operand is a view, transpose, product or join of an elementwise
# expression: the chunk step must read that operand's chunks as they are (it once walked into
# the expression below and applied it a second time).
REDUCE_OVER_BARRIER = {
    "view": lambda xp, x, y: (x * 2 + 1)[:, ::2].sum(axis=1),
    "transpose": lambda xp, x, y: (x + y).T.max(axis=0),
    "matmul": lambda xp, x, y: xp.matmul(x * 3, y.T).sum(),
    "stack": lambda xp, x, y: xp.stack([x + 1, y], axis=-1).sum(axis=-1),
    "concatenate": lambda xp, x, y: xp.concatenate([x * 2, y]).mean(axis=0),
    "broadcast_to": lambda xp, x, y: xp.broadcast_to(x[0] * 2, (3, N)).sum(axis=0),
}


@pytest.mark.parametrize("name", list(REDUCE_OVER_BARRIER))
def test_reduction_of_view_or_join_of_expression(name: str) -> None:
    differential(REDUCE_OVER_BARRIER[name], [("f8", (M, N), UNEVEN), ("f8", (M, N), OTHER)],
                 rtol=1e-10)


# -- laziness, explain, refusals ---------------------------------------------------------------
def _counted(x: np.ndarray, chunks: Any) -> tuple[Any, list[int]]:
    """A Dask array over ``x`` whose blocks count their loading."""
    calls: list[int] = []
    lock = threading.Lock()

    def load(block: np.ndarray) -> np.ndarray:
        with lock:
            calls.append(1)
        return block

    dx = da.from_array(x, chunks=chunks).map_blocks(load, meta=np.empty((0,) * x.ndim, x.dtype))
    return dx, calls


def test_results_are_lazy_dask_arrays() -> None:
    x = _values("f8", (M, N), 3)
    dx, calls = _counted(x, UNEVEN)
    lx = la.asarray(dx)
    elementwise = 2 * lx + la.exp(-lx)
    total = (lx * lx).sum(axis=0)
    launches = la.cache_info().hits + la.cache_info().misses
    results = la.eval(elementwise, total)
    assert isinstance(results, tuple) and len(results) == 2
    assert all(isinstance(r, da.Array) for r in results)
    alone = elementwise.eval()
    assert isinstance(alone, da.Array)
    la.explain(elementwise, total)
    assert calls == [], "evaluating or explaining computed blocks"
    assert la.cache_info().hits + la.cache_info().misses == launches, "a kernel ran"
    got_e, got_t = dask.compute(*results)
    assert len(calls) >= dx.npartitions  # the blocks were loaded by compute, not before
    np.testing.assert_allclose(got_e, 2 * x + np.exp(-x), rtol=1e-12)
    np.testing.assert_allclose(got_t, (x * x).sum(axis=0), rtol=1e-12)


def test_separate_evaluations_join_one_graph() -> None:
    # each layer's name is a token of what its tasks compute: two expressions over one leaf
    # that differ only in a constant, an exponent or a reduction are two layers
    x = _values("f8", (M, N), 13)
    lx = la.asarray(da.from_array(x, chunks=UNEVEN))
    pairs = [(lx * 2, lx * 3, x * 2, x * 3), (lx ** 3, lx ** 4, x ** 3, x ** 4),
             (lx.sum(axis=0), lx.max(axis=0), x.sum(axis=0), x.max(axis=0))]
    for a, b, want_a, want_b in pairs:
        ra, rb = la.eval(a), la.eval(b)
        assert ra.name != rb.name
        got = da.stack([ra, rb]).compute()
        np.testing.assert_allclose(got, np.stack([want_a, want_b]), rtol=1e-12)
    assert la.eval(lx * 2).name == la.eval(lx * 2).name  # and the same expression, one name


def test_explain_names_layers_and_fused_ops() -> None:
    dx = da.from_array(_values("f8", (M, N), 4), chunks=UNEVEN)
    lx = la.asarray(dx)
    e = 2 * lx + la.exp(-lx)
    plan = la.explain(e)
    text = str(plan)
    assert type(plan).__name__ == "DaskPlan"
    assert la.eval(e).name in text  # the layer the result is
    assert "lazyarr-add" in text
    for op in ("multiply", "negative", "exp", "add"):
        assert f"= {op}(" in text, op
    assert f"{dx.npartitions} task(s)" in text

    reduction = la.explain((lx * lx).sum(axis=1)).text
    assert "lazyarr-sum-chunk" in reduction
    assert "= multiply(in0, in0)" in reduction
    assert "per chunk: sum over axes (1,)" in reduction


def test_out_is_refused() -> None:
    lx = la.asarray(da.from_array(_values("f8", (M, N), 5), chunks=UNEVEN))
    e = lx * 2
    with pytest.raises(ValueError, match="out="):
        e.eval(out=np.empty((M, N)))
    with pytest.raises(ValueError, match="out="):
        la.eval(e, out=np.empty((M, N)))
    with pytest.raises(ValueError, match="out="):
        la.eval(e, lx + 1, out=(np.empty((M, N)), None))


def test_other_backends_and_bad_leaves_are_refused() -> None:
    dx = da.from_array(_values("f8", (M, N), 6), chunks=UNEVEN)
    with pytest.raises(ValueError, match="cpu"):
        (la.asarray(dx) + 1).eval(backend="interp")
    with pytest.raises(ValueError, match="device"):
        la.asarray(dx, device="cuda")
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        la.asarray(dx[dx > 0])


def test_asarray_dtype_casts() -> None:
    x = _values("f8", (M, N), 7)
    result = la.eval(la.asarray(da.from_array(x, chunks=UNEVEN), dtype=np.float32) * 2)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result.compute(), x.astype(np.float32) * 2, rtol=1e-6)


# -- schedulers and kernels --------------------------------------------------------------------
def _scheduler_case() -> tuple[Any, np.ndarray, np.ndarray]:
    x = _values("f8", (16, 10), 8)
    lx = la.asarray(da.from_array(x, chunks=(4, 5)))
    e = la.exp(-lx * lx) * 2 + lx
    return (e, e.sum(axis=1)), 2 * np.exp(-x * x) + x, (2 * np.exp(-x * x) + x).sum(axis=1)


@pytest.mark.parametrize("scheduler", ["threads", "synchronous"])
def test_local_schedulers(scheduler: str) -> None:
    exprs, want_e, want_s = _scheduler_case()
    got_e, got_s = dask.compute(*la.eval(*exprs), scheduler=scheduler)
    np.testing.assert_allclose(got_e, want_e, rtol=1e-12)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-12)


@pytest.mark.slow
def test_processes_scheduler() -> None:
    exprs, want_e, want_s = _scheduler_case()
    got_e, got_s = dask.compute(*la.eval(*exprs), scheduler="processes", num_workers=2)
    np.testing.assert_allclose(got_e, want_e, rtol=1e-12)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-12)


def test_kernels_compile_once_per_structure() -> None:
    # eight chunks of different lengths: chunk sizes are run-time arguments of one kernel
    x = _values("f8", (36,), 9)
    dx = da.from_array(x, chunks=((2, 3, 4, 5, 7, 6, 5, 4),))
    e = la.sinh(la.asarray(dx)) * 3 - 1.25
    la.clear_cache()
    before = la.cache_info()
    with dask.config.set(scheduler="threads", num_workers=4):
        got = la.eval(e).compute()
    after = la.cache_info()
    compiled = after.compiles - before.compiles
    assert 1 <= compiled <= 2, compiled  # two threads may both miss before the first compile
    # one fused kernel launch (one cache lookup) per chunk
    assert (after.hits + after.misses) - (before.hits + before.misses) == dx.npartitions
    np.testing.assert_allclose(got, np.sinh(x) * 3 - 1.25, rtol=1e-12)
    with dask.config.set(scheduler="threads", num_workers=4):
        la.eval(e).compute()
    assert la.cache_info().compiles == after.compiles  # the second run compiles nothing


# -- dask.distributed --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster, \
            distributed.Client(cluster, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.mark.slow
def test_distributed_cluster(client: Any) -> None:
    exprs, want_e, want_s = _scheduler_case()
    got_e, got_s = client.gather(client.compute(list(la.eval(*exprs))))
    np.testing.assert_allclose(got_e, want_e, rtol=1e-12)
    np.testing.assert_allclose(got_s, want_s, rtol=1e-12)
    # the whole differential harness with the cluster as the default scheduler
    with dask.config.set(scheduler=client.get):
        differential(_softmax, [("f8", (6, 10), (2, (4, 6)))])
        differential(lambda xp, x, y: FUSED["var_linear"](xp, x, y, (0, 2)),
                     [("pos", SHAPE3, CHUNKS3), ("pos", SHAPE3, (2, 5, 3))])


@pytest.mark.slow
def test_worker_killed_mid_computation(client: Any) -> None:
    """One of two worker processes dies while the graph runs; Dask reruns its tasks on the
    other (and on the nanny's replacement) and the result is still right."""
    x = _values("f8", (64, 40), 10)

    def slow(block: np.ndarray) -> np.ndarray:
        time.sleep(0.1)  # each task takes long enough for the kill to land mid-graph
        return block

    dx = da.from_array(x, chunks=(2, 40)).map_blocks(slow, meta=np.empty((0, 0)))
    lx = la.asarray(dx)
    e = (la.exp(-lx * lx) * 2 + lx).sum(axis=1)
    want = (np.exp(-x * x) * 2 + x).sum(axis=1)
    pids = client.run(os.getpid)  # worker address -> its process id
    assert len(pids) == 2
    victim = sorted(pids)[0]
    pid = pids[victim]
    assert pid != os.getpid()

    future = client.compute(la.eval(e))
    deadline = time.monotonic() + 60
    while not client.processing(workers=[victim]).get(victim):
        assert time.monotonic() < deadline, "the victim never got a task"
        time.sleep(0.02)
    time.sleep(0.3)  # let it finish a few tasks, whose results die with it
    assert not future.done()
    os.kill(pid, signal.SIGKILL)

    got = future.result(timeout=120)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert victim not in client.scheduler_info()["workers"]


def test_a_reshape_dask_refuses_on_its_chunks_goes_through_the_flat_array() -> None:
    x = np.arange(12.0).reshape(3, 4)
    lx = la.asarray(da.from_array(x, chunks=(2, 3)))
    got = (lx.reshape(4, 3) * 2).eval()
    assert isinstance(got, da.Array)
    np.testing.assert_array_equal(got.compute(), x.reshape(4, 3) * 2)
    np.testing.assert_array_equal((lx.T.reshape(2, 6) + 1).eval().compute(),
                                  x.T.reshape(2, 6) + 1)


@pytest.mark.parametrize("ddof", [0, 1])
def test_var_and_std_merge_moments_in_one_pass(ddof: int) -> None:
    """var/std over Dask arrays read the data once (Dask's moment merging), not twice (the
    mean, then the centred squares, as the expression is written)."""
    x = np.random.default_rng(20).standard_normal((30, 41)) * 3 + 100
    lx = la.asarray(da.from_array(x, chunks=(7, 11)))
    for expr, want in ((lx.var(axis=0, ddof=ddof), x.var(0, ddof=ddof)),
                       (lx.std(ddof=ddof), x.std(ddof=ddof)),
                       ((lx * 2 + 1).std(axis=1, ddof=ddof), (x * 2 + 1).std(1, ddof=ddof))):
        got = expr.eval()
        names = list(got.__dask_graph__().layers)
        assert not any(n.startswith("lazyarr-sum-chunk") for n in names), names
        assert any(n.startswith("var") for n in names), names
        np.testing.assert_allclose(got.compute(), want, rtol=1e-12)
