"""Reductions against NumPy on both backends: values, dtypes, shapes, exceptions, fusion."""

import math
import tracemalloc

import numpy as np
import pytest
from conftest import kernels_run

import lazyarr as la
from lazyarr.inspect.kernelplan import build_plan as plan
from lazyarr.ir import ops
from lazyarr.plan import cpu_passes

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


def _math_call_sites(expr) -> int:
    return sum("call" in line and "lazyarr_math_exp" in line
               for line in la.explain(expr).llvm.splitlines())


def _softmax_ref(xn):
    e = np.exp(xn - xn.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_computes_exp_once_per_element(rng, dtype):
    xn = rng.standard_normal((40, 300)).astype(dtype)
    x = la.asarray(xn)
    # the sum's pass keeps exp(x - max) in the output; the output pass divides it there
    assert _math_call_sites(softmax(x)) == 1
    rtol = 2e-6 if dtype == np.float32 else 1e-14
    # the reference computed in float64, not with NumPy's float32 exp (its SIMD versions
    # differ between machines in the last bits)
    ref = _softmax_ref(xn.astype(np.float64))
    np.testing.assert_allclose(softmax(x).eval(), ref, rtol=rtol)
    # an output pass that reads the input again recomputes exp instead
    plus = softmax(x) + x
    assert _math_call_sites(plus) == 2
    # softmax + x cancels to near 0 in places: the softmax term's own error, rtol of it,
    # is then all that is left, so it is the absolute bound
    np.testing.assert_allclose(plus.eval(), ref + xn, rtol=rtol, atol=rtol * ref.max())
    # and a result of another dtype cannot hold the value
    wide = softmax(x).astype(np.float64) if dtype == np.float32 else softmax(x).astype(
        np.float32)
    assert _math_call_sites(wide) == 2


@pytest.mark.parametrize("make", [softmax, lambda x: softmax(x) + x,
                                  lambda x: la.exp(x - x.max(axis=-1, keepdims=True))
                                  / la.exp(x - x.max(axis=-1, keepdims=True)).sum(
                                      axis=-1, keepdims=True) * 2])
def test_row_kernels_in_place_and_into_strided_outputs(rng, make):
    xn = rng.standard_normal((30, 257))
    want = np.asarray(make(la.asarray(xn.copy())).eval())
    inplace = xn.copy()
    la.eval(make(la.asarray(inplace)), out=inplace)  # written over its own input
    np.testing.assert_allclose(inplace, want, rtol=1e-14)
    big = np.zeros((30, 514))
    la.eval(make(la.asarray(xn)), out=big[:, ::2])  # a strided output row
    np.testing.assert_allclose(big[:, ::2], want, rtol=1e-14)
    assert not big[:, 1::2].any()


def test_several_outputs_each_keep_their_own_value(rng):
    xn = rng.standard_normal((20, 100)).astype(np.float32)
    x = la.asarray(xn)
    e = la.exp(x - x.max(axis=-1, keepdims=True))
    s, e_out = la.eval(e / e.sum(axis=-1, keepdims=True), e)
    np.testing.assert_allclose(s, _softmax_ref(xn), rtol=2e-6)
    np.testing.assert_allclose(e_out, np.exp(xn - xn.max(-1, keepdims=True)), rtol=2e-6)


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


# -- large full reductions: cut into partial rows that threads share ------------------------
SPLIT = cpu_passes.SPLIT_MIN
# just below and at the threshold, odd sizes (a tail after the partial rows), and one where
# the first row dimension is long enough for PARTS equal partial rows
SPLIT_SIZES = [SPLIT - 1, SPLIT, SPLIT + 1, cpu_passes.PARTS**2 * 17 + 63, 10**6 + 3]


@pytest.fixture
def split_early(monkeypatch):
    """Split every full reduction of SPLIT_MIN elements or more, whatever its work estimate
    (the differential tests stay small; test_split_thresholds checks the real ones)."""
    monkeypatch.setattr(cpu_passes, "SPLIT_WORK", 0)


def split_flags(expr) -> list[bool]:
    return [s.kernel.split for s in steps(expr) if s.kind == "kernel"]


def test_split_thresholds():
    work = cpu_passes.SPLIT_WORK
    cheap, dear = (la.asarray(np.ones(work)) for _ in range(2))
    assert split_flags(la.sum(cheap * cheap)) == [True]
    assert split_flags(la.sum(cheap[1:] * cheap[1:])) == [False]
    n = work // (1 + ops.CALL_COST) + 1  # exp: a math call per element
    assert split_flags(la.sum(la.exp(dear[:n]))) == [n >= SPLIT]
    assert split_flags(la.sum(la.exp(dear[:n - 1]))) == [False]
    assert split_flags(la.sum(la.exp(la.exp(dear[:SPLIT - 1])))) == [False]
    assert split_flags(la.sum(la.exp(la.exp(dear[:SPLIT])))) == [True]
    # work is weighted by the bytes read per element: float32 needs twice the elements
    single = la.asarray(np.ones(2 * work, np.float32))
    assert split_flags(single.sum()) == [True]
    assert split_flags(single[1:].sum()) == [False]
    assert split_flags(la.sum(single[:work] * single[work:])) == [True]  # 8 bytes again


@pytest.mark.usefixtures("split_early")
@pytest.mark.parametrize("n", SPLIT_SIZES)
@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "uint64", "float32", "float64"])
def test_split_full_reductions_match_numpy(n, dtype):
    x = data(dtype, (n,), seed=n)
    for kind in KINDS:
        expr = call(x, kind)
        nested = kind in ("var", "std")  # below NESTED_SPLIT_MIN: one unsplit kernel
        assert split_flags(expr) == [n >= SPLIT and not nested]
        if kind == "prod" and x.dtype.kind == "f":
            continue  # the product of so many numbers is 0: see the next test
        check(expr.eval(), numpy_reduce(x, kind), x.dtype)


@pytest.mark.usefixtures("split_early")
@pytest.mark.parametrize("n", SPLIT_SIZES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_float_products(n, dtype):
    x = (1 + (data(dtype, (n,), seed=n) - 0.75) * 2**-20).astype(dtype)  # product near 1
    exact = np.prod(x.astype(np.float64))  # float32: NumPy's own is ~1e-4 off here
    got = call(x, "prod").eval()
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, exact, rtol=5e-4 if dtype == "float32" else 1e-12)


@pytest.mark.usefixtures("split_early")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_split_reductions_of_nan_and_inf(dtype):
    n = 10**6 + 3
    rng = np.random.default_rng(9)
    for where in ([0], [5, 500_000], [n - 1], [n - 2, 17]):  # partial rows and the tail
        x = rng.standard_normal(n).astype(dtype)
        x[where] = np.nan
        for kind in ("max", "min", "argmax", "argmin", "sum", "any", "all"):
            check(call(x, kind).eval(), numpy_reduce(x, kind), x.dtype)
    x = rng.random(n).astype(dtype)
    x[[3, n // 2]] = np.inf
    check(call(x, "sum").eval(), x.sum(), x.dtype)
    check(call(x, "max").eval(), x.max(), x.dtype)
    x[n - 1] = -np.inf
    check(call(x, "sum").eval(), numpy_reduce(x, "sum"), x.dtype)


@pytest.mark.usefixtures("split_early")
@pytest.mark.parametrize("n", [5000, 10**6 + 3])  # one partial row, and split
def test_sum_that_overflows_stays_infinite(n):
    """Kahan's compensation of an infinite total is NaN; it must not reach later blocks."""
    x = np.full(n, 1e303)
    check(call(x, "sum").eval(), numpy_reduce(x, "sum"), x.dtype)
    x = np.ones(n)
    x[0] = np.inf
    check(call(x, "sum").eval(), x.sum(), x.dtype)
    check(call(-x, "mean").eval(), (-x).mean(), x.dtype)


@pytest.mark.usefixtures("split_early")
def test_split_arg_reductions_find_the_first_extreme():
    n = 10**6 + 3
    x = np.random.default_rng(2).random(n)
    x[[100, 300_000, n - 1]] = 2.0  # in the first, a middle and the tail partial row
    x[[200, 400_000, n - 2]] = -1.0
    for kind in ("argmax", "argmin", "max", "min"):
        check(call(x, kind).eval(), numpy_reduce(x, kind), x.dtype)
    for tail in ([n - 1], [n - 3, n - 1]):  # only in the tail (NaN: the first one)
        y = np.zeros(n)
        y[tail] = np.nan if len(tail) > 1 else 1.0
        for kind in ("argmax", "argmin"):
            check(call(y, kind).eval(), numpy_reduce(y, kind), y.dtype)
    ints = np.random.default_rng(3).integers(0, 7, n).astype(np.int16)  # many ties
    for kind in ("argmax", "argmin"):
        check(call(ints, kind).eval(), numpy_reduce(ints, kind), ints.dtype)


@pytest.mark.usefixtures("split_early")
def test_split_integer_sums_wrap_like_numpy():
    rng = np.random.default_rng(4)
    x = rng.integers(2**62, 2**63 - 1, 10**6 + 3, dtype=np.int64)
    u = rng.integers(0, 2**64 - 1, 10**6 + 3, dtype=np.uint64)
    check(call(x, "sum").eval(), x.sum(), x.dtype)
    check(call(u, "sum").eval(), u.sum(), u.dtype)
    check(call(u, "prod").eval(), u.prod(), u.dtype)


@pytest.mark.usefixtures("split_early")
@pytest.mark.parametrize("layout", ["strided", "reversed", "transposed", "broadcast",
                                    "broadcast-rows", "3d"])
def test_split_reductions_of_views(layout):
    base = np.random.default_rng(5).standard_normal((3000, 1000))
    x = {"strided": base[::2, 1::3], "reversed": base[::-1, ::-2], "transposed": base.T,
         "broadcast": np.broadcast_to(base[0], (700, 1000)),
         "broadcast-rows": np.broadcast_to(base[:, :1], (3000, 700)),
         "3d": base.reshape(30, 100, 1000).transpose(2, 0, 1)}[layout]
    assert split_flags(la.asarray(x).sum()) == [True]
    for kind in ("sum", "max", "argmax", "argmin", "mean", "var", "any"):
        for keepdims in (False, True):
            check(call(x, kind, keepdims=keepdims).eval(),
                  numpy_reduce(x, kind, keepdims=keepdims), x.dtype)


@pytest.mark.usefixtures("split_early")
def test_split_fused_reductions(rng):
    n = 10**6 + 3
    an, bn = rng.standard_normal(n), rng.standard_normal(n).astype(np.float32)
    a, b = la.asarray(an), la.asarray(bn)
    for expr, ref in [(la.sum(a * b), np.sum(an * bn)), (((a - b) ** 2).mean(),
                                                         ((an - bn) ** 2).mean()),
                      (a.sum() * 2 + b.max(), an.sum() * 2 + bn.max()),
                      (la.sum(a[:-1:2] * a[1::2]), np.sum(an[:-1:2] * an[1::2]))]:
        assert split_flags(expr) == [True]
        check(expr.eval(), ref, an.dtype)
    got = la.eval(a.sum(), a.max(), (a * b).argmin(), la.any(b > 3))  # one kernel, 4 outputs
    for g, r in zip(got, [an.sum(), an.max(), (an * bn).argmin(), np.any(bn > 3)],
                    strict=True):
        check(g, r, an.dtype)
    out = np.empty(())
    la.eval(a.sum(), out=out)
    check(out, an.sum(), an.dtype)


@pytest.mark.usefixtures("split_early")
def test_split_is_as_accurate_as_numpy():
    x = np.random.default_rng(6).random(3 * 10**6).astype(np.float32) + np.float32(1000)
    exact = math.fsum(x.astype(np.float64).tolist())
    assert split_flags(la.asarray(x).sum()) == [True]
    ours = abs(float(la.asarray(x).sum().eval()) - exact)
    assert ours <= max(abs(float(x.sum()) - exact), exact * 2**-24)


@pytest.mark.usefixtures("split_early")
def test_nested_split_reductions_run_the_inner_one_first(monkeypatch):
    """var's mean is needed by every partial row of its sum of squares: above
    NESTED_SPLIT_MIN it becomes a kernel of its own, and both kernels split."""
    x = np.random.default_rng(7).standard_normal(10**5 + 7)
    a = la.asarray(x)
    assert split_flags(a.var()) == [False]  # nested, below NESTED_SPLIT_MIN: one kernel
    monkeypatch.setattr(cpu_passes, "NESTED_SPLIT_MIN", SPLIT)
    for expr, ref in [(a.var(), x.var()), (a.std(ddof=1), x.std(ddof=1)),
                      (la.logsumexp(a), np.log(np.sum(np.exp(x - x.max()))) + x.max())]:
        planned = steps(expr)
        assert [s.kernel.split for s in planned] == [True, True]
        assert "split for threads" in planned[0].reason
        check(expr.eval(), ref, x.dtype)
        check(expr.eval(), ref, x.dtype)  # again (no fast path for two kernels)


@pytest.mark.usefixtures("split_early")
def test_split_reductions_are_repeatable_through_the_fast_path():
    """The partial rows count themselves done in the status word, which every call
    starts from zero: repeated evaluations (the fast path) give the same bits."""
    a = la.asarray(np.random.default_rng(8).standard_normal(10**6 + 3).astype(np.float32))
    first = la.sum(a * a).eval()
    assert all(la.sum(a * a).eval().tobytes() == first.tobytes() for _ in range(5))


@pytest.mark.usefixtures("split_early")
def test_what_does_not_split():
    x = np.random.default_rng(9).random((3000, 400))
    ints = la.asarray(np.arange(SPLIT * 2) % 7)
    assert split_flags(la.asarray(x).sum(axis=0)) == [False]  # kept extent > 1
    assert split_flags(la.asarray(x[:, 0]).sum()) == [False]  # small
    assert split_flags(la.asarray(x).sum(axis=1, keepdims=True)) == [False]
    assert split_flags(la.sum(ints ** ints)) == [False]  # integer power reports errors
    with pytest.raises(ValueError, match="negative integer powers"):
        la.sum(ints ** (ints - 3)).eval()


@pytest.mark.usefixtures("split_early")
def test_split_kernel_text():
    a = la.asarray(np.ones(SPLIT))
    text = la.explain(a.sum() + a.max()).loops
    assert "cut into partial rows" in text and "partial state of" in text
    assert "the last i0 to finish combines" in text


def test_plans_without_splitting():
    """A target that does not split (the GPU's kernel plan) can ask for the plain plan."""
    a = la.asarray(np.ones(cpu_passes.SPLIT_WORK))
    planned = plan([a.sum()._node], split=False)
    assert [s.kernel.split for s in planned] == [False]
    assert planned[0].launch.shape == (1, cpu_passes.SPLIT_WORK)


# -- float16, bfloat16 and complex (issue 19) ----------------------------------------------
NEW_DTYPES = ["float16", "complex64", "complex128", "bfloat16"]


def _new_dtype(name: str) -> np.dtype:
    if name == "bfloat16":
        return np.dtype(pytest.importorskip("ml_dtypes").bfloat16)
    return np.dtype(name)


def _new_data(dt: np.dtype) -> np.ndarray:
    x = data("float64")
    if dt.kind == "c":  # parts of different sizes: min/max and argmin/argmax order by both
        return (x + 1j * x[::-1]).astype(dt)
    return x.astype(dt)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", NEW_DTYPES)
@pytest.mark.parametrize("axis", AXES, ids=str)
def test_reduction_table_new_dtypes(kind, name, axis, backend):
    """NumPy's dtype, shape and values. Narrow floats accumulate in float32 and round once
    (NumPy rounds float16's partial sums across rows, and ml_dtypes every bfloat16 partial
    sum: lazyarr is the more accurate), so their sums, means and variances are held to one
    unit in the last place of the narrow result; extrema, arg-extrema and logic are exact.
    bfloat16's reference is float32's result rounded to bfloat16."""
    if kind in ("argmin", "argmax") and isinstance(axis, tuple):
        pytest.skip("NumPy's argmin/argmax take one axis")
    dt = _new_dtype(name)
    x = _new_data(dt)
    got = la.eval(call(x, kind, axis=axis), backend=backend)
    if name == "bfloat16":
        ref = np.asarray(numpy_reduce(x.astype(np.float32), kind, axis=axis))
        if ref.dtype == np.float32:
            ref = ref.astype(dt)
    else:
        ref = np.asarray(numpy_reduce(x, kind, axis=axis))
    assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, ref.dtype)
    if kind in ("min", "max", "argmin", "argmax", "any", "all"):
        np.testing.assert_array_equal(got, ref)
        return
    narrow = dt.kind == "f"
    eps = 2.0 ** -(np.finfo(dt).nmant) if narrow else np.finfo(dt).eps * 64
    want, have = ref.astype(np.complex128), got.astype(np.complex128)
    np.testing.assert_allclose(have, want, rtol=eps, atol=eps)
