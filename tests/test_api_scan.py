"""cumulative_sum and cumulative_prod (array API 2024.12): fused scan kernels, against NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyarr as la
from lazyarr.config import settings as la_settings
from lazyarr.ir.graph import Op

RNG = np.random.default_rng(17)
BACKENDS = ["cpu", "interp"]
DTYPES = ["bool", "int8", "uint8", "int32", "uint32", "int64", "uint64", "float32", "float64"]
FUNCS = {"sum": (la.cumulative_sum, np.cumulative_sum),
         "prod": (la.cumulative_prod, np.cumulative_prod)}


def _data(shape: tuple[int, ...], dtype: str, kind: str = "sum") -> np.ndarray:
    if kind == "prod" and dtype.startswith(("int", "uint")):
        # small factors: products stay inside every integer type for a few elements, and
        # the wrap-around test below covers overflow
        return RNG.integers(0 if dtype[0] == "u" else -2, 3, shape).astype(dtype)
    if kind == "prod" and dtype.startswith("float"):
        return (1 + 0.1 * RNG.standard_normal(shape)).astype(dtype)
    return (RNG.standard_normal(shape) * 20).astype(dtype)


def _same(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and bits (NaN where NumPy has NaN)."""
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want, strict=True)
    if want.dtype.kind == "f":  # the sign of zero too
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def _kernels(*exprs: la.LazyArray) -> list:
    return la.explain(*exprs).kernel_objects


# -- values against NumPy ----------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["sum", "prod"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_numpy_over_dtypes_and_axes(backend: str, kind: str, dtype: str) -> None:
    fn, ref = FUNCS[kind]
    x = _data((3, 4, 5), dtype, kind)
    for axis in (0, 1, 2, -1, -3):
        for initial in (False, True):
            got = fn(la.asarray(x), axis=axis, include_initial=initial).eval(backend=backend)
            _same(got, ref(x, axis=axis, include_initial=initial))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", ["sum", "prod"])
def test_one_dimensional_input_needs_no_axis(backend: str, kind: str) -> None:
    fn, ref = FUNCS[kind]
    x = _data((37,), "float64", kind)
    _same(fn(la.asarray(x)).eval(backend=backend), ref(x))
    _same(fn(x, include_initial=True).eval(backend=backend), ref(x, include_initial=True))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("source", "dtype"), [
    ("int8", "float32"), ("float64", "int32"), ("float64", "float32"), ("int64", "int8"),
    ("bool", "bool"), ("int32", "bool"), ("uint8", "int16"), ("float32", "float64")])
def test_dtype_argument_casts_each_element_first(backend: str, source: str, dtype: str
                                                  ) -> None:
    x = _data((4, 9), source)
    for kind, (fn, ref) in FUNCS.items():
        data = x if kind == "sum" else _data((4, 9), source, kind)
        got = fn(la.asarray(data), axis=1, dtype=np.dtype(dtype)).eval(backend=backend)
        _same(got, ref(data, axis=1, dtype=dtype))


@pytest.mark.parametrize(("source", "result"), [
    ("bool", "int64"), ("int8", "int64"), ("int32", "int64"), ("uint8", "uint64"),
    ("uint32", "uint64"), ("float32", "float32"), ("float64", "float64")])
def test_default_dtypes_are_sums(source: str, result: str) -> None:
    # the standard: default integer of the same signedness, bool as the default integer
    for fn, _ in FUNCS.values():
        assert fn(la.asarray(np.ones(3, source))).dtype == np.dtype(result)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_sums_have_numpys_bits(backend: str, dtype: str) -> None:
    # magnitudes over many decades: a pairwise or blocked sum would round differently
    n = 100_003
    x = (RNG.standard_normal(n) * 10.0 ** RNG.integers(-8, 9, n)).astype(dtype)
    _same(la.cumulative_sum(la.asarray(x)).eval(backend=backend), np.cumsum(x))
    y = (1 + 1e-3 * RNG.standard_normal(n)).astype(dtype)
    _same(la.cumulative_prod(la.asarray(y)).eval(backend=backend), np.cumprod(y))
    rows = x[:100_000].reshape(400, 250)
    _same(la.cumulative_sum(la.asarray(rows), axis=1).eval(backend=backend),
          np.cumsum(rows, axis=1))
    _same(la.cumulative_sum(la.asarray(rows), axis=0).eval(backend=backend),
          np.cumsum(rows, axis=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_inf_and_signed_zeros(backend: str) -> None:
    x = np.array([[-0.0, -0.0, 1.0, -1.0, np.inf, 2.0, -np.inf, 3.0],
                  [np.nan, 1.0, 2.0, -0.0, 0.0, -0.0, 5.0, 6.0],
                  [-0.0, np.inf, 0.0, 1.0, -np.inf, 1.0, np.nan, 2.0]])
    for fn, ref in FUNCS.values():
        for initial in (False, True):
            got = fn(la.asarray(x), axis=1, include_initial=initial).eval(backend=backend)
            with np.errstate(invalid="ignore"):  # inf - inf
                _same(got, ref(x, axis=1, include_initial=initial))
        with np.errstate(invalid="ignore"):
            want = ref(x.astype(np.float32), axis=-1)
        _same(fn(la.asarray(x.astype(np.float32)), axis=-1).eval(backend=backend), want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_overflow_wraps(backend: str) -> None:
    top = np.iinfo(np.int64).max
    x = np.array([top, 1, 1, top, top], dtype=np.int64)
    with np.errstate(over="ignore"):
        _same(la.cumulative_sum(la.asarray(x)).eval(backend=backend), np.cumsum(x))
        _same(la.cumulative_prod(la.asarray(x)).eval(backend=backend), np.cumprod(x))
        u = np.array([2**63, 2**63, 3], dtype=np.uint64)
        _same(la.cumulative_sum(la.asarray(u)).eval(backend=backend), np.cumsum(u))
        small = np.array([100, 100, 100, -128], dtype=np.int8)
        _same(la.cumulative_sum(la.asarray(small), dtype=np.int8).eval(backend=backend),
              np.cumsum(small, dtype=np.int8))
        _same(la.cumulative_prod(la.asarray(small), dtype=np.int8).eval(backend=backend),
              np.cumprod(small, dtype=np.int8))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("shape", "axis"), [((0,), 0), ((3, 0), 1), ((0, 4), 1), ((0, 4), 0),
                                             ((2, 0, 3), -1), ((1,), 0), ((5, 1), 1)])
def test_empty_and_unit_axes(backend: str, shape: tuple[int, ...], axis: int) -> None:
    x = _data(shape, "float64")
    for fn, ref in FUNCS.values():
        for initial in (False, True):
            got = fn(la.asarray(x), axis=axis, include_initial=initial).eval(backend=backend)
            _same(got, ref(x, axis=axis, include_initial=initial))


@pytest.mark.parametrize("backend", BACKENDS)
def test_strided_transposed_and_broadcast_inputs(backend: str) -> None:
    base = _data((9, 12), "float64")
    views = [base[::2, ::-3], base.T, base[1:, 2:7], np.broadcast_to(base[:, :1], (9, 5)),
             np.broadcast_to(base[0], (3, 12)), np.asfortranarray(base)]
    big_endian = base.astype(">f8")
    for x in [*views, big_endian]:
        for axis in (0, 1):
            for fn, ref in FUNCS.values():
                _same(fn(la.asarray(x), axis=axis).eval(backend=backend),
                      ref(x.astype("=f8"), axis=axis))
    # views made lazily of a lazy expression: reversed, sliced, transposed
    lazy = la.asarray(base) + 1
    _same(la.cumulative_sum(lazy[::-1, 1::2], axis=0).eval(backend=backend),
          np.cumsum((base + 1)[::-1, 1::2], axis=0))
    _same(la.cumulative_sum(la.permute_dims(lazy, (1, 0)), axis=1).eval(backend=backend),
          np.cumsum((base + 1).T, axis=1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_consumers_of_a_scan(backend: str) -> None:
    x = _data((6, 10), "float64")
    sx = la.asarray(x)
    cases = [
        (la.cumulative_sum(sx, axis=1)[:, ::-1], np.cumsum(x, axis=1)[:, ::-1]),
        (la.cumulative_sum(sx, axis=1).sum(axis=1), np.cumsum(x, axis=1).sum(axis=1)),
        (la.cumulative_sum(sx, axis=1).max(axis=0), np.cumsum(x, axis=1).max(axis=0)),
        (la.cumulative_sum(la.cumulative_sum(sx, axis=1), axis=0),
         np.cumsum(np.cumsum(x, axis=1), axis=0)),
        (la.cumulative_sum(la.cumulative_sum(sx, axis=1), axis=1),
         np.cumsum(np.cumsum(x, axis=1), axis=1)),
        (la.cumulative_sum(sx[0], axis=0) + sx, np.cumsum(x[0]) + x),
        (la.cumulative_prod(sx, axis=1) / la.cumulative_sum(sx, axis=1),
         np.cumprod(x, axis=1) / np.cumsum(x, axis=1)),
        (la.reshape(la.cumulative_sum(sx, axis=1), (60,)), np.cumsum(x, axis=1).reshape(60)),
    ]
    for lazy, want in cases:
        np.testing.assert_allclose(lazy.eval(backend=backend), want, rtol=1e-12, atol=1e-9)


# -- errors as the standard ---------------------------------------------------------------------
@pytest.mark.parametrize("fn", [la.cumulative_sum, la.cumulative_prod])
def test_errors(fn) -> None:
    with pytest.raises(ValueError, match="at least one dimension"):
        fn(la.asarray(np.float64(2.0)))  # the standard (NumPy takes it as 1-D)
    with pytest.raises(ValueError, match="axis is required"):
        fn(la.asarray(np.ones((2, 3))))
    with pytest.raises(ValueError):
        np.cumulative_sum(np.ones((2, 3)))  # NumPy agrees
    with pytest.raises(np.exceptions.AxisError):
        fn(la.asarray(np.ones((2, 3))), axis=2)
    with pytest.raises(np.exceptions.AxisError):
        fn(la.asarray(np.ones(3)), axis=-2)


def test_numpy_functions_dispatch_to_the_lazy_scan() -> None:
    x = _data((4, 5), "float64")
    lazy = np.cumulative_sum(la.asarray(x) * 2, axis=1, include_initial=True)
    assert isinstance(lazy, la.LazyArray)
    _same(lazy.eval(), np.cumulative_sum(x * 2, axis=1, include_initial=True))
    assert isinstance(np.cumulative_prod(la.asarray(x), axis=0), la.LazyArray)


# -- fusion -------------------------------------------------------------------------------------
def test_the_prologue_fuses_into_one_kernel() -> None:
    a, b = _data((1000,), "float64"), _data((1000,), "float64")
    expr = la.cumulative_sum(la.asarray(a) * b + 1)
    (kernel,) = _kernels(expr)  # one kernel: reads a and b, writes the scan, no temporaries
    assert len(kernel.inputs) == 2 and len(kernel.outputs) == 1
    assert [i.op for i in kernel.body].count(Op.SCAN) == 1
    plan = la.explain(expr).plan
    assert len(plan) == 1 and not plan[0].reads
    _same(expr.eval(), np.cumsum(a * b + 1))


@pytest.mark.parametrize("shape", [(1000,), (30, 40), (2, 3, 50)])
def test_an_elementwise_consumer_and_row_reductions_join_the_kernel(shape) -> None:
    x, y = _data(shape, "float64"), _data(shape, "float64")
    sx = la.asarray(x)
    # epilogue: the scan's own kernel stores 2 * scan + y
    expr = la.cumulative_sum(sx * y, axis=-1) * 2 + y
    assert len(_kernels(expr)) == 1
    _same(expr.eval(), np.cumsum(x * y, axis=-1) * 2 + y)
    # a prologue with a reduction of the same row (a shifted cumulative sum): one kernel
    shifted = la.cumulative_sum(sx - sx.max(axis=-1, keepdims=True), axis=-1)
    assert len(_kernels(shifted)) == 1
    _same(shifted.eval(), np.cumsum(x - x.max(axis=-1, keepdims=True), axis=-1))
    # a normalised cumulative sum: the row's total and the scan in one kernel
    normalised = la.cumulative_sum(sx, axis=-1) / sx.sum(axis=-1, keepdims=True)
    assert len(_kernels(normalised)) == 1
    np.testing.assert_allclose(normalised.eval(), np.cumsum(x, axis=-1)
                               / x.sum(axis=-1, keepdims=True), rtol=1e-12, atol=1e-12)


def test_scans_that_cannot_join_are_materialised_with_a_reason() -> None:
    x = _data((20, 30), "float64")
    sx = la.asarray(x)
    # another axis than the last: the scan's kernel, then the consumer's
    across = la.cumulative_sum(sx, axis=0) * 2
    assert len(_kernels(across)) == 2
    _same(across.eval(), np.cumsum(x, axis=0) * 2)
    # folded by a reduction of its row: the scan first, then the sum
    folded = la.cumulative_sum(sx, axis=1).sum(axis=1)
    explanation = la.explain(folded)
    assert len(explanation.kernel_objects) == 2
    assert "scan boundary" in str(explanation.kernel_plan)
    np.testing.assert_allclose(folded.eval(), np.cumsum(x, axis=1).sum(axis=1), rtol=1e-12)
    # alone: no join step, only views around the scan's kernel
    assert len(_kernels(la.cumulative_sum(sx, axis=0))) == 1


def test_explain_describes_the_scan() -> None:
    x = la.asarray(_data((8, 16), "float64"))
    text = " ".join(str(la.explain(la.cumulative_sum(x * 2, axis=1))).split())  # unwrapped
    assert "scans (cumulative sum) in row order" in text
    assert "sum-scan" in text and "its loop stays scalar" in text


def test_scan_kernels_carry_no_fast_math_flags() -> None:
    # reassociation would let LLVM reorder the running sum (and lose NumPy's bits)
    x = la.asarray(_data((64,), "float64"))
    llvm = la.explain(la.cumulative_sum(x)).llvm
    assert "fadd double" in llvm and "reassoc" not in llvm and "fast" not in llvm


def test_threads_give_the_same_bits(monkeypatch: pytest.MonkeyPatch) -> None:
    x = _data((3000, 400), "float64") * 1e-3
    expr = la.cumulative_sum(la.asarray(x) * 3 + 1, axis=1)
    results = []
    for n in (1, 2):
        monkeypatch.setattr(la_settings, "num_threads", n)
        results.append(expr.eval())
    _same(results[0], results[1])
    _same(results[0], np.cumsum(x * 3 + 1, axis=1))


def test_evaluated_with_its_row_total() -> None:
    x = _data((7, 33), "float64")
    sx = la.asarray(x)
    scan, total = la.eval(la.cumulative_sum(sx, axis=1), sx.sum(axis=1))
    _same(scan, np.cumsum(x, axis=1))
    np.testing.assert_allclose(total, x.sum(axis=1), rtol=1e-12)


def test_written_in_place_over_its_input() -> None:
    x = _data((5, 40), "float64")
    want = np.cumsum(x * 2, axis=1)
    la.eval(la.cumulative_sum(la.asarray(x) * 2, axis=1), out=x)
    _same(x, want)


# -- gradients ------------------------------------------------------------------------------------
def _numeric_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        out[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return out


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gradient_of_cumulative_sum(axis: int) -> None:
    x, w = _data((4, 6), "float64") * 0.1, _data((4, 6), "float64")

    def lazy(v):
        return (la.cumulative_sum(v * v, axis=axis) * w).sum()

    def ref(v):
        return (np.cumsum(v * v, axis=axis) * w).sum()

    got = np.asarray(la.grad(lazy)(la.asarray(x)))
    np.testing.assert_allclose(got, _numeric_grad(ref, x), rtol=1e-6, atol=1e-8)


def test_jvp_of_cumulative_sum_is_the_scan_of_the_tangent() -> None:
    x, t = _data((5,), "float64"), _data((5,), "float64")
    out, tangent = la.jvp(lambda v: la.cumulative_sum(v * 3), (la.asarray(x),),
                          (la.asarray(t),))
    np.testing.assert_allclose(np.asarray(out), np.cumsum(x * 3), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(tangent), np.cumsum(t * 3), rtol=1e-12, atol=1e-12)


def test_cumulative_prod_has_no_gradient() -> None:
    x = la.asarray(_data((3, 4), "float64"))
    with pytest.raises(NotImplementedError, match="cumulative_prod"):
        la.grad(lambda v: la.cumulative_prod(v, axis=1).sum())(x)


# -- other targets --------------------------------------------------------------------------------
def test_cuda_refuses_scan_kernels_before_llvm() -> None:
    from lazyarr.codegen import nvptx

    x = la.asarray(_data((4, 8), "float64"))
    explanation = la.explain(la.cumulative_sum(x, axis=1), target="cuda")
    (kernel,) = explanation.kernel_objects
    with pytest.raises(NotImplementedError, match="scan kernels"):
        nvptx.build_module(kernel, "k")
    assert "not supported on the CUDA target" in str(explanation)


def test_dask_arrays() -> None:
    da = pytest.importorskip("dask.array")
    x, y = _data((6, 10), "float64"), _data((6, 10), "float64")
    dx = da.from_array(x, chunks=(3, 4))
    got = la.cumulative_sum(la.asarray(dx) * y + 1, axis=1).eval()
    np.testing.assert_allclose(got.compute(), np.cumsum(x * y + 1, axis=1), rtol=1e-12)
    got = la.cumulative_prod(la.asarray(dx), axis=0, include_initial=True).eval()
    np.testing.assert_allclose(got.compute(),
                               np.cumulative_prod(x, axis=0, include_initial=True), rtol=1e-12)


# -- random combinations ---------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(0, 5), min_size=1, max_size=3),
       data=st.data(), kind=st.sampled_from(["sum", "prod"]),
       dtype=st.sampled_from(["int16", "uint8", "float32", "float64"]),
       initial=st.booleans(), backend=st.sampled_from(BACKENDS))
def test_random_prologues_and_epilogues(shape, data, kind, dtype, initial, backend) -> None:
    shape = tuple(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    fn, ref = FUNCS[kind]
    a = _data(shape, dtype, kind)
    b = _data(shape[-1:], dtype, kind)  # broadcast along the other axes
    with np.errstate(all="ignore"):
        want = ref(a * b + a, axis=axis, include_initial=initial) * 2
    got = (fn(la.asarray(a) * b + a, axis=axis, include_initial=initial) * 2
           ).eval(backend=backend)
    _same(got, want)


_FORMS = {
    "shifted": (lambda m, x, ax: m.cumulative_sum(x - m.max(x, axis=ax, keepdims=True), axis=ax)),
    "folded": (lambda m, x, ax: m.sum(m.cumulative_sum(x, axis=ax), axis=ax)),
    "reversed": (lambda m, x, ax: m.flip(m.cumulative_prod(x, axis=ax), axis=ax)),
    "nested": (lambda m, x, ax: m.cumulative_sum(m.cumulative_sum(x, axis=ax) * x, axis=0)),
    "ratio": (lambda m, x, ax: m.cumulative_sum(x, axis=ax) / m.sum(x, axis=ax, keepdims=True)),
}


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), data=st.data(),
       form=st.sampled_from(sorted(_FORMS)), backend=st.sampled_from(BACKENDS))
def test_random_scans_among_reductions_and_views(shape, data, form, backend) -> None:
    shape = tuple(shape)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = 1 + 0.1 * _data(shape, "float64")  # no cancellation: the sums' orders differ
    got = _FORMS[form](la, la.asarray(x), axis).eval(backend=backend)
    want = _FORMS[form](np, x, axis)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", ["cumulative_sum", "cumulative_prod"])
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_scans_are_numpys(name: str, dtype: str) -> None:
    rng = np.random.default_rng(11)
    z = (rng.standard_normal((3, 5)) + 1j * rng.standard_normal((3, 5))).astype(dtype)
    for axis in (0, 1):
        for include_initial in (False, True):
            want = getattr(np, name)(z, axis=axis, include_initial=include_initial)
            got = getattr(la, name)(la.asarray(z), axis=axis, include_initial=include_initial)
            assert (got.dtype, got.shape) == (want.dtype, want.shape)
            tol = 1e-5 if dtype == "complex64" else 1e-12
            np.testing.assert_allclose(got.eval(), want, rtol=tol, atol=tol)
    real = np.arange(4.0)
    np.testing.assert_array_equal(la.cumulative_sum(real, dtype=dtype).eval(),
                                  np.cumulative_sum(real, dtype=dtype))
