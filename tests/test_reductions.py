"""Reductions against NumPy on both backends: values, dtypes, shapes, exceptions, fusion."""

import math
import tracemalloc

import numpy as np
import pytest
from conftest import kernels_run

import lazyarr as la
from lazyarr.runtime import plan

DTYPES = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float32", "float64"]
KINDS = ["sum", "prod", "min", "max", "mean", "var", "std", "argmin", "argmax", "any", "all"]
AXES = [None, 0, 1, -1, (0, 1)]


def data(dtype: str, shape=(6, 9), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.random(shape) > 0.5
    if dtype.startswith(("int", "uint")):
        return rng.integers(0, 5, shape).astype(dtype)  # small: prod must not wrap differently
    return (rng.random(shape) * 2 - 0.5).astype(dtype)


def numpy_reduce(x: np.ndarray, kind: str, **kw):
    with np.errstate(all="ignore"):
        return getattr(np, kind)(x, **kw)


def check(got: np.ndarray, ref, dtype: np.dtype) -> None:
    ref = np.asarray(ref)
    assert got.dtype == ref.dtype, (got.dtype, ref.dtype)
    assert got.shape == ref.shape
    if ref.dtype.kind == "f":
        rtol = 1e-5 if ref.dtype == np.float32 else 1e-12
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, ref)


def call(x, kind, **kw):
    return getattr(la.asarray(x), kind)(**kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_reduction_table(kind, dtype, axis, backend):
    if kind in ("argmin", "argmax") and isinstance(axis, tuple):
        pytest.skip("NumPy's argmin/argmax take one axis")
    x = data(dtype)
    ref = numpy_reduce(x, kind, axis=axis)
    check(la.eval(call(x, kind, axis=axis), backend=backend), ref, x.dtype)


@pytest.mark.parametrize("kind", ["sum", "max", "mean", "var", "argmax", "any", "prod"])
@pytest.mark.parametrize("layout", ["strided", "reversed", "transposed", "broadcast", "3d"])
@pytest.mark.parametrize("dtype", ["int32", "float64", "float32"])
def test_reduction_layouts(kind, layout, dtype, backend):
    base = data(dtype, (8, 10, 6))
    x = {"strided": base[::2, 1::3, 0], "reversed": base[::-1, :, ::-2][:, :, 0],
         "transposed": base[:, :, 1].T, "broadcast": np.broadcast_to(base[0, :, 0], (5, 10)),
         "3d": base}[layout]
    axes = [None, 0, -1] + ([(0, 2), 1] if x.ndim == 3 else [])
    for axis in axes:
        if kind == "argmax" and isinstance(axis, tuple):
            continue
        for keepdims in (False, True):
            ref = numpy_reduce(x, kind, axis=axis, keepdims=keepdims)
            got = la.eval(call(x, kind, axis=axis, keepdims=keepdims), backend=backend)
            check(got, ref, x.dtype)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's mean of an empty slice
@pytest.mark.parametrize("kind", ["sum", "prod", "any", "all", "mean"])
@pytest.mark.parametrize("shape,axis", [((0,), None), ((3, 0), 1), ((0, 4), 0), ((0, 4), 1)])
def test_empty_reductions_with_identity(kind, shape, axis, backend):
    x = np.ones(shape, np.float32)
    ref = numpy_reduce(x, kind, axis=axis)
    check(la.eval(call(x, kind, axis=axis), backend=backend), ref, x.dtype)


@pytest.mark.parametrize("kind", ["min", "max", "argmin", "argmax"])
def test_empty_reductions_without_identity_raise(kind):
    x = np.ones((3, 0))
    with pytest.raises(ValueError) as numpy_error:
        getattr(np, kind)(x, axis=1)
    with pytest.raises(type(numpy_error.value)):
        call(x, kind, axis=1)


def test_bad_axes_raise_like_numpy():
    x = np.ones((2, 3))
    for axis in (2, -3, (0, 0)):
        with pytest.raises(Exception) as numpy_error:
            np.sum(x, axis=axis)
        with pytest.raises(type(numpy_error.value)):
            call(x, "sum", axis=axis)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's ddof >= n
def test_dtype_argument_and_ddof(backend):
    x = data("int8", (5, 7))
    check(la.eval(call(x, "sum", dtype=np.int8), backend=backend), x.sum(dtype=np.int8), x.dtype)
    check(la.eval(call(x, "mean", dtype=np.float32), backend=backend),
          x.mean(dtype=np.float32), x.dtype)
    for ddof in (0, 1, 7, 8):
        with np.errstate(all="ignore"):
            ref = x.var(axis=1, ddof=ddof)
        check(la.eval(call(x, "var", axis=1, ddof=ddof), backend=backend), ref, x.dtype)


def test_nan_handling(backend):
    x = np.array([[1.0, np.nan, 3.0, np.nan], [0.5, -1.0, 2.0, 0.0], [np.inf, -np.inf, 1, 2]])
    for kind in ("max", "min", "argmax", "argmin", "sum", "prod"):
        for axis in (None, 1, 0):
            check(la.eval(call(x, kind, axis=axis), backend=backend),
                  numpy_reduce(x, kind, axis=axis), x.dtype)


def test_numpy_entry_points_stay_lazy():
    x = data("float64")
    a = la.asarray(x)
    for lazy, ref in [(np.sum(a), x.sum()), (np.add.reduce(a), np.add.reduce(x)),
                      (np.max(a, axis=1), x.max(axis=1)), (np.mean(a, axis=0), x.mean(0)),
                      (np.maximum.reduce(a, axis=1), x.max(1)), (np.argmax(a), x.argmax()),
                      (la.sum(a * 2), (x * 2).sum())]:
        assert isinstance(lazy, la.LazyArray)
        check(lazy.eval(), ref, x.dtype)


def test_reduction_out_argument():
    x = data("float64")
    out = np.empty(9)
    assert la.asarray(x).sum(axis=0, out=out) is out
    np.testing.assert_allclose(out, x.sum(axis=0))


def test_logsumexp(backend):
    x = data("float64", (4, 7)) * 50
    x[1, 2] = -np.inf
    x[2] = -np.inf
    for axis, keepdims in [(None, False), (1, False), (0, True)]:
        top = np.max(x, axis=axis, keepdims=True)
        top[~np.isfinite(top)] = 0
        with np.errstate(all="ignore"):
            ref = np.log(np.sum(np.exp(x - top), axis=axis, keepdims=keepdims))
            ref = ref + (top if keepdims else np.squeeze(top, axis=axis))
        got = la.eval(la.logsumexp(la.asarray(x), axis=axis, keepdims=keepdims),
                      backend=backend)
        np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_float32_sum_accuracy():
    x = np.random.default_rng(5).random(10**6).astype(np.float32) + np.float32(1000)
    exact = math.fsum(x.astype(np.float64).tolist())
    ours = abs(float(la.asarray(x).sum().eval()) - exact)
    naive = abs(float(np.cumsum(x, dtype=np.float32)[-1]) - exact)
    pairwise = abs(float(x.sum()) - exact)
    assert ours <= max(pairwise, exact * 2**-24)  # at least as good as NumPy's pairwise sum
    assert ours < naive / 10


def test_reductions_are_deterministic():
    x = np.random.default_rng(6).standard_normal(10**6 + 3).astype(np.float32)
    a = la.asarray(x)
    first = a.sum().eval()
    assert all(a.sum().eval().tobytes() == first.tobytes() for _ in range(3))


# -- fusion -----------------------------------------------------------------------------
def steps(expr):
    return plan([expr._node])


def softmax(x):
    e = la.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layer_norm(x, g, b, eps=1e-5):
    mean = x.mean(axis=-1, keepdims=True)
    return (x - mean) / la.sqrt(x.var(axis=-1, keepdims=True) + eps) * g + b


def test_row_kernels_are_one_kernel(rng):
    x = la.asarray(rng.random((64, 33)).astype(np.float32))
    g, b = (la.asarray(rng.random(33).astype(np.float32)) for _ in range(2))
    for expr in [x - x.max(axis=-1, keepdims=True), softmax(x), layer_norm(x, g, b),
                 la.sum(x * x), ((x - x) ** 2).mean(axis=0), abs(x).max()]:
        assert [s.kind for s in steps(expr)] == ["kernel"]
        assert kernels_run(expr.eval) == 1


def test_row_kernels_match_numpy(rng, backend):
    xn = rng.standard_normal((50, 70)).astype(np.float32)
    gn, bn = rng.random(70).astype(np.float32), rng.random(70).astype(np.float32)
    x, g, b = la.asarray(xn), la.asarray(gn), la.asarray(bn)
    e = np.exp(xn - xn.max(-1, keepdims=True))
    np.testing.assert_allclose(la.eval(softmax(x), backend=backend),
                               e / e.sum(-1, keepdims=True), rtol=2e-6)
    ref = (xn - xn.mean(-1, keepdims=True)) / np.sqrt(xn.var(-1, keepdims=True) + 1e-5) * gn + bn
    np.testing.assert_allclose(la.eval(layer_norm(x, g, b), backend=backend), ref,
                               rtol=1e-4, atol=1e-5)


def test_reduction_over_other_axis_splits_with_reason(rng):
    x = la.asarray(rng.random((8, 5)))
    expr = x - x.max(axis=0, keepdims=True)
    kinds = steps(expr)
    assert len(kinds) == 2 and "reduction" in kinds[0].reason
    np.testing.assert_array_equal(expr.eval(), np.asarray(x) - np.asarray(x).max(0, keepdims=True))


def test_fused_reduction_allocates_only_the_result(rng):
    n = 1_000_000
    a, b = la.asarray(rng.random(n)), la.asarray(rng.random(n))
    x = la.asarray(rng.random((1000, 1000)))
    for expr in [la.sum(a * b), ((a - b) ** 2).mean(), softmax(x)]:
        expr.eval()
        tracemalloc.start()
        result = expr.eval()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < result.nbytes + 100_000
