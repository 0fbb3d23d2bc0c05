"""The array API's creation functions (lazyarr/front/creation.py) against NumPy: values bit for
bit, dtypes, shapes and exception types, on both backends; that they stay lazy and fuse into
the kernel that uses them; and that evaluated results are new, writable C-contiguous arrays."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import lazyarr as la
from lazyarr.ir.loop import COUNTER_MEMORY

BACKENDS = ["cpu", "interp"]
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64"]
DTYPES = ["bool", *INT_DTYPES, "float32", "float64"]
HAS_CUDA = "cuda" in la.__array_namespace_info__().devices()


def _same(got: np.ndarray, want: np.ndarray) -> None:
    """Same dtype, shape and values; floats bit for bit but for the sign of a NaN (which
    IEEE 754 leaves unspecified)."""
    assert isinstance(got, np.ndarray)
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape, want)
    if want.dtype.kind == "f":
        nan = np.isnan(want)
        np.testing.assert_array_equal(np.isnan(got), nan)
        np.testing.assert_array_equal(got[~nan].view(f"u{want.itemsize}"),
                                      want[~nan].view(f"u{want.itemsize}"))
    else:
        np.testing.assert_array_equal(got, want)


def _evaluated(lazy: la.LazyArray, backend: str) -> np.ndarray:
    result = la.eval(lazy, backend=backend)
    assert result.flags.writeable  # (large results are views of aligned memory: not owndata)
    if backend == "cpu":
        assert result.flags.c_contiguous
    return result


def _outcome(fn: Any) -> Any:
    """The result of ``fn()``, or the type of the exception it raised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn()
    except Exception as exc:  # the type is what is compared
        return type(exc)


def _check_against_numpy(np_fn: Any, la_fn: Any, backend: str = "cpu") -> None:
    want, got = _outcome(np_fn), _outcome(la_fn)
    if isinstance(want, type):
        assert isinstance(got, type) and issubclass(got, want), (want, got)
        return
    assert not isinstance(got, type), f"lazyarr raised {got.__name__}, NumPy gave {want!r}"
    _same(_evaluated(got, backend), want)


def _kernel_inputs(expr: la.LazyArray) -> tuple[int, list[np.ndarray]]:
    """(number of kernels, the memory arrays the kernels read)."""
    steps = la.explain(expr).kernel_steps
    arrays = [v.array for s in steps for v in s.launch.inputs if v.array is not COUNTER_MEMORY]
    return len(steps), arrays


# -- arange -----------------------------------------------------------------------------------
ARANGE_ARGS = [
    (5,), (0,), (-3,), (2, 9), (9, 2), (9, 2, -2), (0, 10, 3), (-7, 8, 5), (10, -10, -3),
    (0, 1, 0.1), (1, 1.3, 0.1), (-0.0, 3), (-0.0, 3, 0.5), (0.5, 7.25, 0.75), (3.5,),
    (1e20, 1, -1e19), (0, 1, 1 / 3), (-2.5, 2.5, 0.001), (1e-320, 1e-319, 1e-321),
    (True,), (np.int8(5),), (np.float32(0), np.float32(1), np.float32(0.1)), (np.uint64(4),),
    (0, 300), (5, 0, -1), (2**62, 2**62 + 5), (0, 10, 2**40),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("args", ARANGE_ARGS, ids=repr)
def test_arange_matches_numpy(args: tuple, backend: str) -> None:
    _check_against_numpy(lambda: np.arange(*args), lambda: la.arange(*args), backend)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args", [(0,), (1,), (2,), (7,), (0, 300), (-5, 5), (5, 0, -1),
                                  (0, 3, 1.5), (0.5, 9.5, 1.25), (250, 260), (-1, 2),
                                  (2.5, -3.5, -0.5), (0, 2**16 + 7, 3)], ids=repr)
def test_arange_with_a_dtype_matches_numpy(args: tuple, dtype: str) -> None:
    # integers wrap as NumPy's do; values out of the dtype's range are its OverflowError
    _check_against_numpy(lambda: np.arange(*args, dtype=dtype),
                         lambda: la.arange(*args, dtype=dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_arange_long_float_ranges_match_numpy_bit_for_bit(dtype: str) -> None:
    for args in [(0, 3e6), (0.1, 2e4, 0.1), (-3, 3e4, 0.37), (1e6, -1e6, -0.7)]:
        for backend in BACKENDS:
            _check_against_numpy(lambda a=args: np.arange(*a, dtype=dtype),
                                 lambda a=args: la.arange(*a, dtype=dtype), backend)


_NUMBERS = st.one_of(
    st.integers(-300, 300), st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.1, -0.0, 1e-300, 2.5, 1e20, -1e20, 127, 128, 255, 256, -129]))


@settings(max_examples=150, deadline=None)
@given(args=st.lists(_NUMBERS, min_size=1, max_size=3),
       dtype=st.sampled_from([None, *DTYPES]), backend=st.sampled_from(BACKENDS))
def test_arange_hypothesis(args: list, dtype: str | None, backend: str) -> None:
    kw = {} if dtype is None else {"dtype": dtype}
    want = _outcome(lambda: np.arange(*args, **kw))
    assume(not (isinstance(want, type) and issubclass(want, MemoryError)))
    assume(isinstance(want, type) or want.size <= 20_000)
    _check_against_numpy(lambda: np.arange(*args, **kw), lambda: la.arange(*args, **kw),
                         backend)


def test_arange_length_follows_numpy_for_float_steps() -> None:
    assert la.arange(0, 1, 0.1).shape == (10,)
    assert la.arange(1, 1.3, 0.1).shape == np.arange(1, 1.3, 0.1).shape == (4,)
    for args in [(0, 10, 3), (10, 0, 3), (0, -10, -3), (0, 1e-300, 1e300), (0, -1e-300, 1e300)]:
        assert la.arange(*args).shape == np.arange(*args).shape


@pytest.mark.parametrize("args,kwargs", [
    ((0, 3, 0), {}), ((0, 3, 0.0), {}), ((0, 0, 0), {}), ((math.nan,), {}), ((math.inf,), {}),
    ((0, 1, 1e-300), {}), ((-1, 5), {"dtype": "uint8"}), ((0, 300, 200), {"dtype": "int8"}),
    ((0, 5), {"dtype": "bool"}), ((1e30, 1e30 + 1e15, 1e15), {"dtype": "int64"}),
    ((-128, np.float32(0.1), np.uint8(200)), {"dtype": "bool"}), ((np.int64(300), 302),
                                                                  {"dtype": "int8"}),
    ((np.float64(-1.5), 2), {"dtype": "uint8"}), ((0, 5, np.float64(0)), {}),
    ((0, -1e20, -11), {}),  # fewer than 2**63 elements, but more than 2**63 bytes
], ids=repr)
def test_arange_errors_are_numpys(args: tuple, kwargs: dict) -> None:
    want, got = _outcome(lambda: np.arange(*args, **kwargs)), _outcome(
        lambda: la.arange(*args, **kwargs))
    assert isinstance(want, type) and got is want


@pytest.mark.parametrize("bad", [dict(args=(3,), dtype="complex128"),
                                 dict(args=(1j,), dtype=None)])
def test_arange_refuses_dtypes_lazyarr_lacks(bad: dict) -> None:
    with pytest.raises(TypeError):
        la.arange(*bad["args"], dtype=bad["dtype"])


def test_arange_fuses_and_reads_only_the_other_operand() -> None:
    x = np.linspace(-1, 1, 1000)
    f32 = np.float32
    for expr, want in [(la.arange(1000) * 2 + x, np.arange(1000) * 2 + x),
                       (la.arange(0.5, 1000, 1.0) * x, np.arange(0.5, 1000, 1.0) * x),
                       (la.arange(3, 1003, dtype=f32) + x, np.arange(3, 1003, dtype=f32) + x),
                       (la.exp(la.arange(1e20, 1, -1e17) * 1e-18) * x,
                        np.exp(np.arange(1e20, 1, -1e17) * 1e-18) * x)]:
        kernels, reads = _kernel_inputs(expr)
        assert kernels == 1 and len(reads) == 1 and reads[0] is x
        np.testing.assert_allclose(expr.eval(), want, rtol=1e-15)


def test_arange_is_lazy_and_huge_ranges_cost_nothing() -> None:
    big = la.arange(10**12)
    assert big.shape == (10**12,) and big.dtype == np.int64
    _same(big[-3:].eval(), np.arange(10**12 - 3, 10**12))
    _same((big[::250_000_000_000] * 3).eval(), np.arange(0, 10**12, 250_000_000_000) * 3)


def test_arange_of_a_lazy_scalar_evaluates_it() -> None:
    n = la.asarray(np.int64(4)) + 1
    _same(la.arange(n).eval(), np.arange(5))
    with pytest.raises(TypeError):
        la.arange(la.asarray(np.arange(3)))


# -- linspace ---------------------------------------------------------------------------------
LINSPACE_CASES = [
    (0, 1, 5), (0, 1, 0), (0, 1, 1), (0, 1, 2), (1, 0, 7), (-3.5, 7.25, 30), (0, 1e-320, 100),
    (1e300, -1e300, 9), (0, math.inf, 4), (math.nan, 1, 3), (-0.0, 0.0, 5), (2, 2, 6),
    (np.float32(0.1), 2.3, 11), (np.float32(-7.1), np.float32(3), 6), (0, 10, 1000),
    (True, 5, 4), (10**18, 10**18 + 10, 5),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("endpoint", [True, False])
@pytest.mark.parametrize("case", LINSPACE_CASES, ids=repr)
def test_linspace_matches_numpy(case: tuple, endpoint: bool, backend: str) -> None:
    start, stop, num = case
    _check_against_numpy(lambda: np.linspace(start, stop, num, endpoint=endpoint),
                         lambda: la.linspace(start, stop, num, endpoint=endpoint), backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linspace_with_a_dtype_matches_numpy(dtype: str) -> None:
    # integer dtypes: NumPy floors, then casts; only values in the dtype's range are compared
    # (NumPy's casts of others are platform-defined; lazyarr's saturate)
    cases = [(0, 100, 7), (0, 1, 5), (0.5, 9.5, 4)]
    if dtype[0] != "u":
        cases += [(-5.5, 5.5, 12), (3, -3, 4)]
    for start, stop, num in cases:
        for endpoint in (True, False):
            _check_against_numpy(
                lambda a=start, b=stop, n=num, e=endpoint: np.linspace(a, b, n, endpoint=e,
                                                                       dtype=dtype),
                lambda a=start, b=stop, n=num, e=endpoint: la.linspace(a, b, n, endpoint=e,
                                                                       dtype=dtype))
    saturated = la.linspace(-2, 2, 5, dtype=dtype).eval()
    if dtype[0] == "u":
        _same(saturated, np.array([0, 0, 0, 1, 2], dtype))


@settings(max_examples=100, deadline=None)
@given(start=st.floats(allow_nan=False, width=64), stop=st.floats(allow_nan=False, width=64),
       num=st.integers(0, 70), endpoint=st.booleans(),
       dtype=st.sampled_from([None, "float32", "float64"]))
def test_linspace_hypothesis(start: float, stop: float, num: int, endpoint: bool,
                             dtype: str | None) -> None:
    _check_against_numpy(lambda: np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype),
                         lambda: la.linspace(start, stop, num, endpoint=endpoint, dtype=dtype))


def test_linspace_errors_are_numpys() -> None:
    for args in [(0, 1, -1), (0, 1, 2.5), (0, 1, None)]:
        want, got = _outcome(lambda a=args: np.linspace(*a)), _outcome(
            lambda a=args: la.linspace(*a))
        assert isinstance(want, type) and got is want
    with pytest.raises(TypeError):
        la.linspace(0, 1j, 3)
    with pytest.raises(TypeError):
        la.linspace(0, 1)  # the standard makes num required


def test_linspace_fuses() -> None:
    x = np.ones(100, np.float32)
    expr = la.linspace(0, 1, 100, dtype=np.float32) * x
    kernels, reads = _kernel_inputs(expr)
    assert kernels == 1 and len(reads) == 1 and reads[0] is x
    _same(expr.eval(), np.linspace(0, 1, 100, dtype=np.float32) * x)


# -- full, zeros, ones, empty and their *_like --------------------------------------------------
SHAPES = [(), 0, 5, (0,), (3, 0), (2, 3), [4, 1, 3], (3, 5, 7), np.array([2, 2]), (1,) * 64]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES, ids=repr)
def test_zeros_ones_full_empty_match_numpy(shape: Any, backend: str) -> None:
    for dtype in [None, *DTYPES]:
        kw = {} if dtype is None else {"dtype": dtype}
        _check_against_numpy(lambda k=kw: np.zeros(shape, **k), lambda k=kw: la.zeros(shape, **k),
                             backend)
        _check_against_numpy(lambda k=kw: np.ones(shape, **k), lambda k=kw: la.ones(shape, **k),
                             backend)
        want = np.empty(shape, **kw)
        got = _evaluated(la.empty(shape, **kw), backend)
        assert got.dtype == want.dtype and got.shape == want.shape
    for value in [True, 0, -7, 2**40, 2**63, 1.5, -0.0, math.inf, math.nan, np.float32(2.5),
                  np.int8(-3), np.uint16(9)]:
        _check_against_numpy(lambda v=value: np.full(shape, v),
                             lambda v=value: la.full(shape, v), backend)


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_converts_its_value_as_numpy(dtype: str) -> None:
    for value in [True, False, 0, 1, 7, -1, 127, 128, 255, 256, -129, 2**31, 2**63 - 1, 1.5,
                  -2.75, 1e30, -0.0, np.int64(300), np.float32(3.5)]:
        if np.dtype(dtype).kind in "iu" and isinstance(value, float) and not \
                np.iinfo(dtype).min <= value <= np.iinfo(dtype).max:
            continue  # float -> int out of range: platform-defined in NumPy (see below)
        _check_against_numpy(lambda v=value: np.full((2, 3), v, dtype=dtype),
                             lambda v=value: la.full((2, 3), v, dtype=dtype))
        _check_against_numpy(lambda v=value: np.full_like(np.zeros(4, dtype), v),
                             lambda v=value: la.full_like(np.zeros(4, dtype), v))


def test_full_float_to_int_follows_lazyarrs_cast_rule() -> None:
    # NumPy leaves these platform-defined; lazyarr saturates and maps NaN to 0, as astype
    got = la.full(3, math.nan, dtype=np.int32).eval()
    _same(got, np.zeros(3, np.int32))
    _same(la.full(2, 1e30, dtype=np.int8).eval(), np.full(2, 127, np.int8))
    _same(la.full(2, -math.inf, dtype=np.uint16).eval(), np.zeros(2, np.uint16))


def test_full_with_an_array_value_broadcasts_it_lazily() -> None:
    row = np.arange(3.0)
    got = la.full((2, 3), row)
    _same(got.eval(), np.full((2, 3), row))
    assert not np.shares_memory(la.full(3, row).eval(), row)
    zero_d = np.array(4.5)
    for shape in [(), (2, 3)]:
        result = la.full(shape, zero_d).eval()
        _same(result, np.full(shape, zero_d))
        assert result.flags.writeable and not np.shares_memory(result, zero_d)
    _same(la.full((2, 3), la.asarray(row) * 2, dtype=np.int16).eval(),
          np.full((2, 3), row * 2, dtype=np.int16))
    with pytest.raises(ValueError):
        la.full((2, 4), row)


@pytest.mark.parametrize("fn", ["zeros", "ones", "empty"])
def test_shape_errors_are_numpys(fn: str) -> None:
    for shape in [-1, (2, -1), 1.5, (2, "a"), (2, None), (1,) * 65, (2**40, 2**40)]:
        want = _outcome(lambda s=shape: getattr(np, fn)(s))
        got = _outcome(lambda s=shape: getattr(la, fn)(s))
        assert isinstance(want, type) and got is want, (shape, want, got)
    for dt in (np.float16, np.complex64):  # stored as half; a pair of float32 parts
        got = getattr(la, fn)(3, dtype=dt).eval()
        assert got.dtype == dt and got.shape == (3,)


def test_full_errors() -> None:
    for value, dtype in [(300, "int8"), (-1, "uint8"), (2**64, None)]:
        want = _outcome(lambda v=value, d=dtype: np.full(3, v, dtype=d))
        got = _outcome(lambda v=value, d=dtype: la.full(3, v, dtype=d))
        if isinstance(want, np.ndarray):  # NumPy makes an object array: lazyarr refuses it
            assert want.dtype == object and got is TypeError
        else:
            assert got is want
    for value, dtype in [(1 + 2j, None), (3, "complex64"), (1.5, "float16")]:
        want = np.full(3, value, dtype=dtype)
        got = la.full(3, value, dtype=dtype).eval()
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_like_functions_match_numpy(backend: str) -> None:
    # (a big-endian input gives native results: lazyarr computes in native byte order)
    for x in [np.arange(6.0).reshape(2, 3), np.zeros((0, 4), np.int8), np.array(True),
              np.arange(5, dtype=">i4").astype("=i4"), [[1, 2], [3, 4]], 2.5]:
        for dtype in [None, "uint16", "float32", "bool"]:
            kw = {} if dtype is None else {"dtype": dtype}
            for name in ["zeros_like", "ones_like"]:
                _check_against_numpy(lambda n=name, k=kw, a=x: getattr(np, n)(a, **k),
                                     lambda n=name, k=kw, a=x: getattr(la, n)(a, **k), backend)
            _check_against_numpy(lambda k=kw, a=x: np.full_like(a, 3, **k),
                                 lambda k=kw, a=x: la.full_like(a, 3, **k), backend)
            want = np.empty_like(x, **kw)
            got = _evaluated(la.empty_like(x, **kw), backend)
            assert got.dtype == want.dtype and got.shape == want.shape
    swapped = np.arange(5, dtype=">i4")
    _same(la.ones_like(swapped).eval(), np.ones(5, np.int32))
    _same(la.full_like(swapped, 7).eval(), np.full(5, 7, np.int32))
    with pytest.raises(TypeError, match="byte order"):  # lazyarr's rule for dtype= requests
        la.zeros_like(swapped, dtype=">f8")


def test_like_functions_never_evaluate_a_lazy_input() -> None:
    huge = la.arange(10**12) * 2.0  # evaluating it would need 8 TB
    for fn in [la.zeros_like, la.ones_like, la.empty_like]:
        out = fn(huge, dtype=np.int8)
        assert out.shape == huge.shape and out.dtype == np.int8
    assert la.full_like(huge, 1).dtype == np.float64
    small = la.asarray(np.ones((2, 3), np.float32)) + 1
    _same(la.zeros_like(small).eval(), np.zeros((2, 3), np.float32))


# -- eye, tril, triu --------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [None, "bool", "int8", "uint64", "float32"])
def test_eye_matches_numpy(dtype: str | None, backend: str) -> None:
    kw = {} if dtype is None else {"dtype": dtype}
    for rows, cols in [(0, None), (1, None), (4, None), (3, 5), (5, 3), (0, 3), (3, 0),
                       (17, 33)]:
        for k in [-6, -3, -1, 0, 1, 2, 4, 10**30, -(10**30)]:
            _check_against_numpy(lambda r=rows, c=cols, d=k: np.eye(r, c, k=d, **kw),
                                 lambda r=rows, c=cols, d=k: la.eye(r, c, k=d, **kw), backend)


def test_eye_errors_and_signature() -> None:
    for args, kwargs in [((-1,), {}), ((3, -2), {}), ((3,), {"k": 1.5}), ((2.5,), {})]:
        want = _outcome(lambda a=args, k=kwargs: np.eye(*a, **k))
        got = _outcome(lambda a=args, k=kwargs: la.eye(*a, **k))
        assert isinstance(want, type) and got is want
    with pytest.raises(TypeError):
        la.eye(3, 3, 1)  # k is keyword-only in the standard


def test_eye_fuses() -> None:
    x = np.arange(64.0).reshape(8, 8)
    expr = la.eye(8, k=-1) * x + 1
    kernels, reads = _kernel_inputs(expr)
    assert kernels == 1 and len(reads) == 1 and reads[0] is x
    _same(expr.eval(), np.eye(8, k=-1) * x + 1)


TRI_SHAPES = [(4,), (0,), (4, 5), (5, 4), (1, 1), (2, 3, 4), (0, 3), (3, 0), (2, 1, 6, 3),
              (33, 17)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", ["tril", "triu"])
@pytest.mark.parametrize("shape", TRI_SHAPES, ids=repr)
def test_tril_triu_match_numpy(shape: tuple, fn: str, backend: str) -> None:
    rng = np.random.default_rng(len(shape) * 7 + sum(shape))
    for dtype in ["bool", "int16", "uint32", "float32", "float64"]:
        x = (rng.standard_normal(shape) * 5).astype(dtype)
        for k in [-7, -2, -1, 0, 1, 3, 40]:
            got = _evaluated(getattr(la, fn)(x, k=k), backend)
            _same(got, getattr(np, fn)(x, k=k))
            assert not np.shares_memory(got, x)


def test_tril_triu_huge_k_and_lazy_input() -> None:
    x = np.arange(12.0).reshape(3, 4)
    _same(la.tril(x, k=10**40).eval(), x)
    _same(la.tril(x, k=-(10**40)).eval(), np.zeros_like(x))
    _same(la.triu(x, k=-(10**40)).eval(), x)
    _same(la.triu(x, k=10**40).eval(), np.zeros_like(x))
    _same(la.tril(la.asarray(x) * 2).eval(), np.tril(x * 2))
    with pytest.raises(TypeError):
        la.tril(np.float64(1.0))
    with pytest.raises(TypeError):
        la.triu(x, k=0.5)
    with pytest.raises(TypeError):
        la.tril(x, 1)  # k is keyword-only in the standard


def test_tril_fuses_with_its_producer() -> None:
    a, b = np.ones((40, 40)), np.full((40, 40), 2.0)
    expr = la.tril(la.asarray(a) * b, k=1) + 1
    kernels, reads = _kernel_inputs(expr)
    assert kernels == 1 and {id(r) for r in reads} == {id(a), id(b)}
    _same(expr.eval(), np.tril(a * b, k=1) + 1)
    product = la.triu(la.asarray(a) @ b)  # the BLAS call, then one masking kernel
    assert len(la.explain(product).kernel_steps) == 1
    _same(product.eval(), np.triu(a @ b))


def test_tril_gradient_masks() -> None:
    x = np.arange(1.0, 13.0).reshape(3, 4)
    g = la.grad(lambda t: (la.tril(t, k=1) ** 2).sum())(x)
    _same(np.asarray(g), 2 * np.tril(x, k=1))


# -- meshgrid ---------------------------------------------------------------------------------
MESH_INPUTS = [(), (np.arange(3),), (np.arange(3), np.arange(4.0)),
               (np.arange(2), np.arange(3), np.arange(4)), (np.ones((2, 2)), np.arange(3)),
               (np.arange(0), np.arange(3)), (np.array([True, False]), np.arange(2, dtype=np.int8))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("arrays", MESH_INPUTS, ids=lambda a: str([x.shape for x in a]))
def test_meshgrid_matches_numpy(arrays: tuple, indexing: str, backend: str) -> None:
    got = la.meshgrid(*arrays, indexing=indexing)
    want = np.meshgrid(*arrays, indexing=indexing)
    assert type(got) is list and len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        result = _evaluated(g, backend)
        _same(result, w)
        assert not any(np.shares_memory(result, a) for a in arrays)


def test_meshgrid_of_lazy_inputs_fuses() -> None:
    xs, ys = la.meshgrid(la.arange(400) * 0.5, la.linspace(0, 1, 300))
    expr = xs * xs + ys
    kernels, reads = _kernel_inputs(expr)
    assert kernels == 1 and reads == []
    xn, yn = np.meshgrid(np.arange(400) * 0.5, np.linspace(0, 1, 300))
    _same(expr.eval(), xn * xn + yn)


def test_meshgrid_errors() -> None:
    with pytest.raises(ValueError):
        la.meshgrid(np.arange(2), np.arange(3), indexing="xz")


# -- devices ----------------------------------------------------------------------------------
CREATORS = {
    "arange": lambda d: la.arange(3, device=d), "linspace": lambda d: la.linspace(0, 1, 3,
                                                                                 device=d),
    "zeros": lambda d: la.zeros(3, device=d), "ones": lambda d: la.ones(3, device=d),
    "empty": lambda d: la.empty(3, device=d), "full": lambda d: la.full(3, 1.0, device=d),
    "eye": lambda d: la.eye(3, device=d),
    "zeros_like": lambda d: la.zeros_like(np.ones(3), device=d),
    "ones_like": lambda d: la.ones_like(np.ones(3), device=d),
    "empty_like": lambda d: la.empty_like(np.ones(3), device=d),
    "full_like": lambda d: la.full_like(np.ones(3), 2, device=d),
}


@pytest.mark.parametrize("name", sorted(CREATORS))
def test_device_argument(name: str) -> None:
    make = CREATORS[name]
    for device in (None, "cpu"):
        assert isinstance(make(device).eval(), np.ndarray)
    for bad in ("tpu", "cuda:7", 0):
        with pytest.raises(ValueError):
            make(bad)
    if not HAS_CUDA:  # no usable GPU here: the clear error of asarray(device="cuda")
        with pytest.raises(RuntimeError, match="needs an NVIDIA GPU"):
            make("cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs an NVIDIA GPU and driver")
def test_device_cuda_creates_on_the_gpu() -> None:
    from lazyarr.backends.cuda_memory import DeviceArray

    x = la.arange(10, dtype=np.float32, device="cuda")
    result = (x * 2).eval()
    assert isinstance(result, DeviceArray)
    _same(result.to_numpy(), np.arange(10, dtype=np.float32) * 2)
    like = la.zeros_like(x)  # where x lives
    assert isinstance(like.eval(), DeviceArray)
    _same(la.zeros_like(x, device="cpu").eval(), np.zeros(10, np.float32))


def test_reshaped_index_functions_stay_in_the_kernel() -> None:
    e = la.arange(12).reshape(3, 4) * 2
    assert len(la.explain(e).kernel_objects) == 1  # no buffer for the reshaped index
    np.testing.assert_array_equal(e.eval(), np.arange(12).reshape(3, 4) * 2)
    u = la.random.uniform(la.random.key(3), (12,))
    np.testing.assert_array_equal(u.reshape(3, 4).eval(), u.eval().reshape(3, 4))
