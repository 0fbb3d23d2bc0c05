"""The array API standard's ``linalg`` extension (``la.linalg``) against ``numpy.linalg``.

LAPACK functions are host calls: NumPy's own function runs on the evaluated input, so values
agree to rounding (the input may reach NumPy through a fused kernel, in another buffer);
dtypes, shapes and exception types must be NumPy's. The fused functions (views, elementwise
ops and reductions) are compared value by value and checked to be the one kernel the module
claims. Every evaluating test runs on both backends.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.exceptions import AxisError

import lazyarr as la
from lazyarr import linalg

BACKENDS = ["cpu", "interp"]
RNG = np.random.default_rng(23)
FLOATS = ["float32", "float64"]
LinAlgError = np.linalg.LinAlgError
STANDARD_NAMES = {
    "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
    "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet",
    "solve", "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm",
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def _kernels(*exprs: la.LazyArray) -> int:
    return len(la.explain(*exprs).kernel_objects)


def _tol(dtype: np.dtype) -> dict[str, float]:
    return {"rtol": 2e-4, "atol": 2e-4} if np.dtype(dtype) == np.float32 else \
        {"rtol": 1e-10, "atol": 1e-10}


def _close(got: np.ndarray, want: np.ndarray, tol_dtype: object = None) -> None:
    want = np.asarray(want)
    assert isinstance(got, np.ndarray)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    if want.dtype.kind in "biu":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, **_tol(tol_dtype or want.dtype))


def _general(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random matrices, well conditioned when square (n * I added)."""
    if dtype.startswith(("int", "uint", "bool")):
        x = RNG.integers(-3, 4, shape)
        if len(shape) >= 2 and shape[-1] == shape[-2]:
            x = x + 8 * np.eye(shape[-1], dtype=np.int64)
        return x.astype(dtype) if dtype != "bool" else (x > 0)
    x = RNG.standard_normal(shape)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        x = x + shape[-1] * np.eye(shape[-1])
    return x.astype(dtype)


def _spd(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Symmetric positive definite matrices (of small integers for an integer dtype)."""
    x = RNG.integers(-3, 4, shape) if "int" in dtype else RNG.standard_normal(shape)
    return (x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1], dtype=x.dtype)
            ).astype(dtype)


def _lazy(x: np.ndarray) -> la.LazyArray:
    """``x`` as an expression (so a kernel computes what a host call reads)."""
    return la.asarray(x) * 1 if x.dtype != bool else la.asarray(x) & True


def test_the_namespace_is_the_standards() -> None:
    assert set(linalg.__all__) == STANDARD_NAMES
    assert all(callable(getattr(linalg, name)) for name in STANDARD_NAMES)
    a = RNG.standard_normal((2, 3, 4))
    np.testing.assert_array_equal(linalg.matrix_transpose(a).eval(), np.swapaxes(a, -1, -2))
    np.testing.assert_allclose(linalg.matmul(a, a.swapaxes(-1, -2)).eval(),
                               a @ a.swapaxes(-1, -2))


# -- LAPACK functions ----------------------------------------------------------------------
SQUARE_SHAPES = [(4, 4), (3, 5, 5), (2, 1, 3, 3), (0, 3, 3), (2, 0, 0), (1, 1)]
ONE_RESULT = {
    "inv": (linalg.inv, np.linalg.inv, _general),
    "det": (linalg.det, np.linalg.det, _general),
    "eigvalsh": (linalg.eigvalsh, np.linalg.eigvalsh, _spd),
    "cholesky": (linalg.cholesky, np.linalg.cholesky, _spd),
    "svdvals": (linalg.svdvals, np.linalg.svdvals, _general),
}


@pytest.mark.parametrize("name", sorted(ONE_RESULT))
@pytest.mark.parametrize("dtype", [*FLOATS, "int32"])
@pytest.mark.parametrize("shape", SQUARE_SHAPES)
def test_square_functions_match_numpy(name: str, dtype: str, shape: tuple[int, ...],
                                      backend: str) -> None:
    ours, theirs, make = ONE_RESULT[name]
    x = make(shape, dtype)
    want = theirs(x)
    _close(ours(x).eval(backend=backend), want, dtype)
    _close(ours(_lazy(x)).eval(backend=backend), want, dtype)


def test_cholesky_upper(backend: str) -> None:
    x = _spd((2, 4, 4), "float64")
    _close(linalg.cholesky(x, upper=True).eval(backend=backend),
           np.linalg.cholesky(x, upper=True))


@pytest.mark.parametrize("dtype", [*FLOATS, "int64", "bool"])
def test_dtypes_follow_numpy(dtype: str) -> None:
    x = (np.eye(3) * 2 + np.tri(3)).astype(dtype)  # non-singular, also as bool
    for name in ("inv", "det", "svdvals"):
        assert getattr(linalg, name)(x).dtype == getattr(np.linalg, name)(x).dtype
    assert linalg.slogdet(x).logabsdet.dtype == np.linalg.slogdet(x).logabsdet.dtype
    assert linalg.solve(x, x).dtype == np.linalg.solve(x, x).dtype


def _unsign(v: np.ndarray) -> np.ndarray:
    """Vectors (columns) with their largest element made positive: eigenvectors and
    singular vectors are unique only up to sign."""
    if not v.size:
        return v
    pick = np.take_along_axis(v, np.abs(v).argmax(axis=-2)[..., None, :], axis=-2)
    return v * np.where(pick < 0, -1, 1)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5), (0, 3, 3), (2, 0, 0)])
def test_eigh(dtype: str, shape: tuple[int, ...], backend: str) -> None:
    x = _spd(shape, dtype) if shape[-1] else np.zeros(shape, dtype)
    got = linalg.eigh(_lazy(x))
    want = np.linalg.eigh(x)
    assert got._fields == ("eigenvalues", "eigenvectors") == type(want)._fields
    w, v = la.eval(*got, backend=backend)
    _close(w, want.eigenvalues, dtype)
    _close(_unsign(v), _unsign(want.eigenvectors), dtype)
    _close(got.eigenvectors.eval(backend=backend), want.eigenvectors, dtype)


@pytest.mark.parametrize("mode", ["reduced", "complete"])
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 5, 3), (0, 3, 2), (2, 0, 3),
                                   (2, 3, 0)])
def test_qr(mode: str, shape: tuple[int, ...], backend: str) -> None:
    x = _general(shape, "float64")
    got = linalg.qr(x, mode=mode)
    want = np.linalg.qr(x, mode=mode)
    assert got._fields == ("Q", "R")
    q, r = la.eval(*got, backend=backend)
    _close(q, want.Q)
    _close(r, want.R)
    np.testing.assert_allclose(q @ r, x, atol=1e-12)


@pytest.mark.parametrize("full_matrices", [True, False])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4), (0, 3, 2), (2, 0, 3)])
def test_svd(full_matrices: bool, dtype: str, shape: tuple[int, ...], backend: str) -> None:
    x = _general(shape, dtype)
    got = linalg.svd(_lazy(x), full_matrices=full_matrices)
    want = np.linalg.svd(x, full_matrices=full_matrices)
    assert got._fields == ("U", "S", "Vh")
    u, s, vh = la.eval(*got, backend=backend)
    _close(s, want.S, dtype)
    assert u.shape == want.U.shape and vh.shape == want.Vh.shape
    assert u.dtype == want.U.dtype and vh.dtype == want.Vh.dtype
    k = s.shape[-1]
    rebuilt = (u[..., :, :k] * s[..., None, :]) @ vh[..., :k, :]
    np.testing.assert_allclose(rebuilt, x, **_tol(dtype))
    np.testing.assert_allclose(linalg.svd(x, full_matrices=full_matrices).U.eval(
        backend=backend), want.U, **_tol(dtype))


@pytest.mark.parametrize("dtype", [*FLOATS, "int16"])
@pytest.mark.parametrize("shape", SQUARE_SHAPES)
def test_slogdet(dtype: str, shape: tuple[int, ...], backend: str) -> None:
    x = _general(shape, dtype)
    got = linalg.slogdet(x)
    want = np.linalg.slogdet(x)
    assert got._fields == ("sign", "logabsdet")
    sign, logabsdet = la.eval(*got, backend=backend)
    _close(sign, want.sign, dtype)
    _close(logabsdet, want.logabsdet, dtype)


def test_slogdet_of_a_singular_matrix(backend: str) -> None:
    sign, logabsdet = la.eval(*linalg.slogdet(np.ones((3, 3))), backend=backend)
    assert sign == 0 and logabsdet == -np.inf


def test_several_results_are_one_call_of_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    """eigh, qr, slogdet and svd run NumPy once however many of their results are read."""
    calls = []
    for name in ("eigh", "qr", "slogdet", "svd"):
        original = getattr(np.linalg, name)

        def counted(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(np.linalg, name, counted)
    x = _spd((3, 3), "float64")
    for name in ("eigh", "qr", "slogdet", "svd"):
        parts = getattr(linalg, name)(x)
        la.eval(*parts, *(p + 1 for p in parts))
    assert calls == ["eigh", "qr", "slogdet", "svd"]


@pytest.mark.parametrize(("a_shape", "b_shape"), [
    ((3, 3), (3,)), ((2, 3, 3), (3,)), ((2, 3, 3), (2, 3, 2)), ((3, 3), (4, 3, 2)),
    ((1, 3, 3), (5, 3, 1)), ((0, 3, 3), (3, 2)), ((2, 0, 0), (0,)), ((3, 3), (3, 0)),
])
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"),
                                    ("float32", "int32"), ("int64", "float32")])
def test_solve(a_shape: tuple[int, ...], b_shape: tuple[int, ...], dtypes: tuple[str, str],
               backend: str) -> None:
    a, b = _general(a_shape, dtypes[0]), _general(b_shape, dtypes[1])
    want = np.linalg.solve(a, b)
    _close(linalg.solve(_lazy(a), b).eval(backend=backend), want,
           "float32" if dtypes == ("float32", "float32") else "float64")


@pytest.mark.parametrize("rtol", [None, 0.3, "array"])
@pytest.mark.parametrize("shape", [(4, 6), (3, 5, 5), (2, 6, 3), (0, 4, 4), (2, 0, 3)])
@pytest.mark.parametrize("dtype", [*FLOATS, "int32"])
def test_pinv_and_matrix_rank(rtol: object, shape: tuple[int, ...], dtype: str,
                              backend: str) -> None:
    # low rank: two columns repeat, one column tiny
    x = _general(shape, "float64")
    if shape[-1] >= 3 and shape[-2]:
        x[..., 1] = x[..., 0]
        x[..., 2] *= 0.01
    x = (x * 10).astype(dtype) if dtype == "int32" else x.astype(dtype)
    if rtol == "array":
        rtol = np.linspace(1e-3, 0.5, math.prod(shape[:-2])).reshape(shape[:-2])
    # the standard's pinv default is max(M, N) * eps (NumPy's default without rtol= is 1e-15)
    want = np.linalg.pinv(x.astype(np.result_type(x.dtype, 1.0)), rtol=rtol)
    _close(linalg.pinv(_lazy(x), rtol=rtol).eval(backend=backend), want, dtype)
    rank = np.linalg.matrix_rank(x, rtol=rtol)
    _close(linalg.matrix_rank(x, rtol=rtol).eval(backend=backend), np.asarray(rank))


def test_matrix_rank_counts_with_numpys_threshold(backend: str) -> None:
    """Singular values next to the default threshold max(M, N) * eps * max(S)."""
    for dtype in FLOATS:
        eps = np.finfo(dtype).eps
        u, _ = np.linalg.qr(RNG.standard_normal((6, 6)))
        for factor in (3.0, 6.0, 12.0):
            s = np.array([1.0, 0.5, 0.1, 1e-3, factor * eps, 0.0])
            x = ((u * s) @ u.T).astype(dtype)
            got = linalg.matrix_rank(x).eval(backend=backend)
            assert got == np.linalg.matrix_rank(x) and got.dtype == np.intp


def test_matrix_rank_of_vectors_is_numpys() -> None:
    for x in (np.zeros(3), np.array([0.0, 2.0]), np.zeros(0), np.float64(5.0)):
        got = linalg.matrix_rank(x).eval()
        assert got == np.linalg.matrix_rank(x) and got.dtype == np.intp


@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 3, 4, 5, 8, 13])
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool"])
def test_matrix_power(n: int, dtype: str, backend: str) -> None:
    if n < 0 and dtype == "bool":
        pytest.skip("NumPy's inverse of a bool matrix is float64, as ours; nothing new")
    x = _general((2, 3, 3), dtype)
    if dtype in ("float64", "float32"):
        x = x / 3  # powers stay in range
    if dtype == "int64":
        x = x % 3 + 5 * np.eye(3, dtype=x.dtype)  # diagonally dominant: invertible
    want = np.linalg.matrix_power(x, n)
    _close(linalg.matrix_power(_lazy(x), n).eval(backend=backend), want, dtype)


def test_matrix_power_of_empty_stacks(backend: str) -> None:
    for shape in ((0, 3, 3), (2, 0, 0)):
        for n in (-2, 0, 3, 5):
            x = np.zeros(shape)
            _close(linalg.matrix_power(x, n).eval(backend=backend),
                   np.linalg.matrix_power(x, n))


def test_singular_and_indefinite_matrices_raise_when_evaluated(backend: str) -> None:
    singular = la.asarray(np.ones((2, 3, 3)))
    for expr in (linalg.inv(singular), linalg.solve(singular, np.ones(3)),
                 linalg.matrix_power(singular, -2),
                 linalg.cholesky(-la.asarray(np.eye(3)))):
        with pytest.raises(LinAlgError):
            expr.eval(backend=backend)


BAD_SHAPES = [
    (linalg.inv, (3,), LinAlgError), (linalg.inv, (2, 3), LinAlgError),
    (linalg.det, (4, 2, 3), LinAlgError), (linalg.eigh, (3,), LinAlgError),
    (linalg.eigvalsh, (3, 2), LinAlgError), (linalg.cholesky, (), LinAlgError),
    (linalg.slogdet, (2, 3), LinAlgError), (linalg.svd, (3,), LinAlgError),
    (linalg.svdvals, (3,), LinAlgError), (linalg.qr, (3,), LinAlgError),
    (linalg.pinv, (3,), LinAlgError), (lambda x: linalg.matrix_power(x, 2), (2, 3),
                                       LinAlgError),
    (linalg.diagonal, (3,), ValueError), (linalg.trace, (), ValueError),
    (linalg.matrix_norm, (3,), AxisError),
]


@pytest.mark.parametrize(("fn", "shape", "error"), BAD_SHAPES)
def test_bad_shapes_raise_numpys_exception_when_written(fn, shape, error) -> None:
    x = np.ones(shape)
    np_fn = getattr(np.linalg, getattr(fn, "__name__", ""), None)
    if np_fn is not None:
        with pytest.raises(error):
            np_fn(x)
    with pytest.raises(error):
        fn(la.asarray(x) + 1)


@pytest.mark.parametrize(("a_shape", "b_shape"), [((3, 3), (2,)), ((3, 3), (2, 2, 3)),
                                                   ((2, 3, 3), (4, 3, 1)), ((3, 3), ())])
def test_solve_shape_errors(a_shape: tuple[int, ...], b_shape: tuple[int, ...]) -> None:
    a, b = np.eye(3) + np.zeros(a_shape), np.ones(b_shape)
    with pytest.raises(ValueError):
        np.linalg.solve(a, b)
    with pytest.raises(ValueError):
        linalg.solve(a, b)


def test_argument_errors() -> None:
    with pytest.raises(ValueError):
        linalg.qr(np.eye(3), mode="r")  # NumPy's other modes are not the standard's
    with pytest.raises(TypeError, match="exponent must be an integer"):
        linalg.matrix_power(np.eye(3), 1.5)
    with pytest.raises(ValueError):
        linalg.pinv(np.ones((2, 3, 3)), rtol=np.ones(4))


def test_host_results_fuse_with_their_consumers() -> None:
    x = la.asarray(_general((8, 8), "float64"))
    expr = la.exp(linalg.inv(x * 2) + 1)
    assert _kernels(expr) == 2  # x * 2, then the inverse's consumer
    np.testing.assert_allclose(expr.eval(), np.exp(np.linalg.inv(x.eval() * 2) + 1))
    # matrix_rank: svdvals in NumPy, then threshold and count in one kernel
    rank = linalg.matrix_rank(la.asarray(_general((3, 6, 4), "float64")))
    assert _kernels(rank) == 1


# -- matrix products ------------------------------------------------------------------------
@pytest.mark.parametrize(("a_shape", "b_shape", "axes"), [
    ((3, 4, 5), (4, 5, 2), 2), ((3, 4), (4, 2), 1), ((2, 3), (4,), 0),
    ((3, 4, 5), (5, 3, 2), ([0, 2], [1, 0])), ((3, 4, 5), (2, 4), (1, 1)),
    ((2, 0, 3), (0, 3, 4), 2), ((3, 4), (4, 3), ([-1, -2], [0, 1])), ((), (), 0),
])
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("int8", "int8"),
                                    ("bool", "bool"), ("float32", "int16")])
def test_tensordot(a_shape, b_shape, axes, dtypes, backend: str) -> None:
    a, b = _general(a_shape, dtypes[0]), _general(b_shape, dtypes[1])
    want = np.tensordot(a, b, axes=axes)
    _close(linalg.tensordot(_lazy(a), b, axes=axes).eval(backend=backend), want,
           np.result_type(a.dtype, b.dtype))


@pytest.mark.parametrize(("a_shape", "b_shape", "axes", "error"), [
    ((3, 4), (3, 4), 1, ValueError), ((3, 4), (4, 3), ([0, 0], [1, 1]), ValueError),
    ((3, 4), (4, 3), ([0, 1], [0]), ValueError), ((3,), (3,), 2, IndexError),
    ((3, 4), (4, 3), -1, ValueError),
])
def test_tensordot_errors(a_shape, b_shape, axes, error) -> None:
    if not (isinstance(axes, int) and axes < 0):  # NumPy takes a negative count as 0
        with pytest.raises(error):
            np.tensordot(np.ones(a_shape), np.ones(b_shape), axes=axes)
    with pytest.raises(error):
        linalg.tensordot(np.ones(a_shape), np.ones(b_shape), axes=axes)


@pytest.mark.parametrize(("a_shape", "b_shape", "axis"), [
    ((5,), (5,), -1), ((3, 5), (5,), -1), ((4, 1, 5), (3, 5), -1), ((3, 5), (3, 5), 0),
    ((5, 3), (2, 5, 3), -2), ((0, 4), (4,), -1), ((3, 0), (3, 0), -1),
])
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"),
                                    ("int8", "int8"), ("bool", "bool"),
                                    ("uint8", "int16")])
def test_vecdot(a_shape, b_shape, axis, dtypes, backend: str) -> None:
    a, b = _general(a_shape, dtypes[0]), _general(b_shape, dtypes[1])
    if dtypes[0] == "int8":
        a, b = a * 40, b * 40  # products and sums wrap in int8, as NumPy's
    want = np.linalg.vecdot(a, b, axis=axis)
    expr = linalg.vecdot(_lazy(a), b, axis=axis)
    _close(expr.eval(backend=backend), want, np.result_type(a.dtype, b.dtype))
    assert _kernels(expr) <= 1


def test_vecdot_errors() -> None:
    for a, b in (((3,), (4,)), ((), (3,)), ((3, 2), (2, 3))):
        with pytest.raises(ValueError):
            np.linalg.vecdot(np.ones(a), np.ones(b))
        with pytest.raises(ValueError):
            linalg.vecdot(np.ones(a), np.ones(b))


# -- fused: views, products, norms ----------------------------------------------------------
@pytest.mark.parametrize("offset", [-5, -3, -1, 0, 1, 2, 4, 6])
@pytest.mark.parametrize("shape", [(4, 6), (3, 5, 4), (2, 0, 3), (0, 4, 4), (1, 1)])
@pytest.mark.parametrize("dtype", ["float64", "int8", "bool", "uint32"])
def test_diagonal_and_trace(offset: int, shape: tuple[int, ...], dtype: str,
                            backend: str) -> None:
    x = _general(shape, dtype)
    _close(linalg.diagonal(x, offset=offset).eval(backend=backend),
           np.linalg.diagonal(x, offset=offset))
    _close(linalg.diagonal(_lazy(x), offset=offset).eval(backend=backend),
           np.linalg.diagonal(x, offset=offset))
    _close(linalg.trace(_lazy(x), offset=offset).eval(backend=backend),
           np.linalg.trace(x, offset=offset))
    _close(linalg.trace(x, offset=offset, dtype=np.float32).eval(backend=backend),
           np.linalg.trace(x, offset=offset, dtype=np.float32))


def test_diagonal_is_a_view_and_trace_one_kernel() -> None:
    x = la.asarray(_general((3, 5, 5), "float32"))
    d = linalg.diagonal(x * 2 + 1, offset=1)
    assert d._node.op.value == "view" and _kernels(d) == 1
    t = linalg.trace(la.exp(x), offset=-2) * 3
    assert _kernels(t) == 1
    np.testing.assert_allclose(t.eval(), np.linalg.trace(np.exp(x.eval()), offset=-2) * 3,
                               rtol=1e-5)


@pytest.mark.parametrize("dtypes", [("float64", "float32"), ("int8", "uint8"),
                                    ("bool", "bool"), ("int32", "float32")])
@pytest.mark.parametrize("sizes", [(4, 3), (1, 5), (0, 3), (2, 0)])
def test_outer(dtypes: tuple[str, str], sizes: tuple[int, int], backend: str) -> None:
    a, b = _general((sizes[0],), dtypes[0]), _general((sizes[1],), dtypes[1])
    expr = linalg.outer(_lazy(a), b)
    _close(expr.eval(backend=backend), np.linalg.outer(a, b), np.result_type(a, b))
    assert _kernels(expr) <= 1


def test_outer_needs_vectors() -> None:
    for a, b in (((2, 2), (2,)), ((), (3,))):
        with pytest.raises(ValueError):
            np.linalg.outer(np.ones(a), np.ones(b))
        with pytest.raises(ValueError):
            linalg.outer(np.ones(a), np.ones(b))


@pytest.mark.parametrize(("a_shape", "b_shape", "axis"), [
    ((3,), (3,), -1), ((4, 3), (3,), -1), ((2, 1, 3), (5, 3), -1), ((3, 4), (3, 4), -2),
    ((3, 2, 4), (3, 1, 4), 0), ((0, 3), (3,), -1), ((2, 3, 5), (3, 5), -2),
])
@pytest.mark.parametrize("dtypes", [("float64", "float64"), ("float32", "float32"),
                                    ("int16", "int16"), ("int8", "float32")])
def test_cross(a_shape, b_shape, axis, dtypes, backend: str) -> None:
    a, b = _general(a_shape, dtypes[0]), _general(b_shape, dtypes[1])
    want = np.linalg.cross(a, b, axis=axis)
    expr = linalg.cross(_lazy(a), b, axis=axis)
    _close(expr.eval(backend=backend), want, np.result_type(a.dtype, b.dtype))
    assert _kernels(expr) <= 1


def test_cross_errors() -> None:
    for a, b, error in (((2,), (3,), ValueError), ((3,), (4, 2), ValueError),
                        ((4, 3), (2, 3), ValueError), ((), (3,), IndexError)):
        with pytest.raises(error):
            np.linalg.cross(np.ones(a), np.ones(b))
        with pytest.raises(error):
            linalg.cross(np.ones(a), np.ones(b))
    with pytest.raises(TypeError):  # NumPy's: bool has no subtract
        linalg.cross(np.ones(3, bool), np.ones(3, bool))


VECTOR_ORDS = [2, 1, 0, -1, -2, 3, 0.5, np.inf, -np.inf]


@pytest.mark.parametrize("ord", VECTOR_ORDS)
@pytest.mark.parametrize("axis", [None, -1, (0, 2), (2, 0, 1), ()])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_vector_norm(ord, axis, dtype: str, backend: str) -> None:
    x = _general((3, 4, 5), dtype)
    x.flat[::7] = 0  # zeros: the count of ord 0, infinities of negative orders
    for keepdims in (False, True):
        with np.errstate(divide="ignore"):
            want = np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
        expr = linalg.vector_norm(_lazy(x), axis=axis, keepdims=keepdims, ord=ord)
        _close(expr.eval(backend=backend), want, want.dtype)
        assert _kernels(expr) == 1


@pytest.mark.parametrize("ord", VECTOR_ORDS)
def test_vector_norm_edges(ord, backend: str) -> None:
    special = np.array([[1.0, np.nan, 2.0], [np.inf, -3.0, 0.0], [-0.0, 0.0, 0.0]])
    with np.errstate(divide="ignore", invalid="ignore"):
        for x, axis in ((special, 1), (special, None), (np.float64(-2.5), None),
                        (np.zeros((2, 0)), 0)):
            want = np.linalg.vector_norm(x, axis=axis, ord=ord)
            _close(linalg.vector_norm(x, axis=axis, ord=ord).eval(backend=backend), want)
    # no elements: inf is 0 (NumPy's initial=0), -inf has no identity
    x = np.zeros((2, 0))
    if ord == -np.inf:
        with pytest.raises(ValueError):
            np.linalg.vector_norm(x, axis=1, ord=ord)
        with pytest.raises(ValueError):
            linalg.vector_norm(x, axis=1, ord=ord)
    else:
        with np.errstate(divide="ignore"):
            want = np.linalg.vector_norm(x, axis=1, ord=ord)
        _close(linalg.vector_norm(x, axis=1, ord=ord).eval(backend=backend), want)


def test_vector_norm_argument_errors() -> None:
    x = np.ones((2, 3))
    for kwargs, error in (({"ord": "fro"}, ValueError), ({"axis": 2}, AxisError),
                          ({"axis": (0, 0)}, ValueError), ({"axis": [0]}, TypeError)):
        with pytest.raises(error):
            np.linalg.vector_norm(x, **kwargs)
        with pytest.raises(error):
            linalg.vector_norm(x, **kwargs)


MATRIX_ORDS = ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]


@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (2, 0, 3), (2, 3, 0), (0, 3, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_matrix_norm(ord, shape: tuple[int, ...], dtype: str, backend: str) -> None:
    x = _general(shape, dtype)
    for keepdims in (False, True):
        try:
            want = np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
        except ValueError:  # min of nothing
            with pytest.raises(ValueError):
                linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
            continue
        expr = linalg.matrix_norm(_lazy(x), keepdims=keepdims, ord=ord)
        _close(expr.eval(backend=backend), want, want.dtype)


def test_matrix_norm_kernels_and_errors() -> None:
    x = la.asarray(_general((3, 4, 5), "float32"))
    assert _kernels(linalg.matrix_norm(x * 2)) == 1
    for ord in (1, -1, np.inf, -np.inf):  # a sum over one axis, then a max over the other
        assert _kernels(linalg.matrix_norm(x * 2, ord=ord)) <= 2
    for ord in (3, "f2", 0):
        with pytest.raises(ValueError):
            np.linalg.matrix_norm(np.ones((2, 2)), ord=ord)
        with pytest.raises(ValueError):
            linalg.matrix_norm(np.ones((2, 2)), ord=ord)


@settings(max_examples=60, deadline=None)
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                    elements=st.floats(-1e3, 1e3)),
       ord=st.sampled_from([2, 1, np.inf, -np.inf, 0, 3]),
       data=st.data())
def test_norms_of_expressions(x: np.ndarray, ord, data) -> None:
    """Norms of elementwise expressions over random axes, against NumPy on the same values."""
    axes = data.draw(st.sets(st.integers(0, x.ndim - 1), min_size=1).map(tuple))
    y = np.tanh(x) * 3 - 1
    expr = linalg.vector_norm(la.tanh(la.asarray(x)) * 3 - 1, axis=axes, ord=ord)
    if ord == -np.inf and 0 in [x.shape[a] for a in axes]:
        return
    np.testing.assert_allclose(expr.eval(), np.linalg.vector_norm(y, axis=axes, ord=ord),
                               rtol=1e-12, atol=1e-12)
    if x.ndim >= 2 and x.shape[-1] and x.shape[-2]:
        np.testing.assert_allclose(linalg.matrix_norm(la.asarray(x) * 2).eval(),
                                   np.linalg.matrix_norm(x * 2), rtol=1e-12)


@pytest.mark.parametrize("offset", [0, 1, -2, 3])
def test_gradient_of_trace_is_the_shifted_identity(offset: int) -> None:
    x = np.arange(20.0).reshape(4, 5)
    g = la.grad(lambda a: linalg.trace(a * 1.0, offset=offset))(x)
    np.testing.assert_array_equal(np.asarray(g), np.eye(4, 5, k=offset))


def test_gradient_of_a_diagonal_of_a_flipped_batch() -> None:
    xb = np.random.default_rng(3).random((2, 3, 3))
    g = la.grad(lambda a: (linalg.diagonal(a * 1.0) ** 2).sum())(xb)
    np.testing.assert_allclose(np.asarray(g), 2 * xb * np.eye(3), rtol=1e-15)
    weights = np.array([2.0, 5.0])
    g = la.grad(lambda a: (linalg.diagonal(a[:, ::-1] * 1.0, offset=1) * weights).sum())(
        np.ones((3, 3)))
    expected = np.zeros((3, 3))
    expected[0, 1], expected[1, 0] = weights  # (0, 1) and (1, 2) of the flipped matrix
    np.testing.assert_array_equal(np.asarray(g), expected)


# -- complex input -------------------------------------------------------------------------------
COMPLEX = ["complex64", "complex128"]
_PART = {"complex64": "float32", "complex128": "float64"}


def _complex(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Random complex matrices, well conditioned when square (n * I added)."""
    x = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    if len(shape) >= 2 and shape[-1] == shape[-2]:
        x = x + shape[-1] * np.eye(shape[-1])
    return x.astype(dtype)


def _hpd(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Hermitian positive definite matrices."""
    x = RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)
    return (x @ np.conj(np.swapaxes(x, -1, -2)) + shape[-1] * np.eye(shape[-1])).astype(dtype)


def _cclose(got: np.ndarray, want: np.ndarray, dtype: str) -> None:
    """NumPy's dtype and shape; values within the tolerance of the input's part dtype."""
    _close(got, want, _PART[dtype])


COMPLEX_ONE_RESULT = {**ONE_RESULT, "eigvalsh": (linalg.eigvalsh, np.linalg.eigvalsh, _hpd),
                      "cholesky": (linalg.cholesky, np.linalg.cholesky, _hpd),
                      "pinv": (linalg.pinv, np.linalg.pinv, _complex)}


@pytest.mark.parametrize("name", sorted(COMPLEX_ONE_RESULT))
@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5), (0, 3, 3), (1, 1)])
def test_complex_square_functions_match_numpy(name: str, dtype: str, shape: tuple[int, ...],
                                              backend: str) -> None:
    ours, theirs, make = COMPLEX_ONE_RESULT[name]
    x = _complex(shape, dtype) if make in (_general, _complex) else make(shape, dtype)
    want = theirs(x)
    _cclose(ours(x).eval(backend=backend), want, dtype)
    _cclose(ours(_lazy(x) * (1 + 0j)).eval(backend=backend), want, dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_dtypes_follow_numpy(dtype: str) -> None:
    """Single precision stays single: eigvalsh(complex64) is float32, as NumPy's."""
    x = _hpd((3, 3), dtype)
    part = np.dtype(_PART[dtype])
    for name in ("inv", "det", "cholesky", "pinv"):
        assert getattr(linalg, name)(x).dtype == getattr(np.linalg, name)(x).dtype == dtype
    for name in ("eigvalsh", "svdvals"):
        assert getattr(linalg, name)(x).dtype == getattr(np.linalg, name)(x).dtype == part
    assert linalg.eigh(x).eigenvalues.dtype == part
    assert linalg.eigh(x).eigenvectors.dtype == dtype
    assert linalg.slogdet(x).sign.dtype == dtype
    assert linalg.slogdet(x).logabsdet.dtype == part
    assert linalg.svd(x).S.dtype == part and linalg.svd(x).U.dtype == dtype
    assert linalg.qr(x).Q.dtype == linalg.qr(x).R.dtype == dtype
    for norm in (linalg.vector_norm, linalg.matrix_norm):
        assert norm(x).dtype == part
    for other in ("float32", "float64", "int8", "complex64", "complex128"):
        b = np.ones(3, other)
        assert linalg.solve(x, b).dtype == np.linalg.solve(x, b).dtype
    with pytest.raises(TypeError, match="float16"):
        linalg.inv(np.eye(2, dtype=np.float16))


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("shape", [(4, 4), (3, 5, 5), (0, 3, 3)])
def test_complex_eigh(dtype: str, shape: tuple[int, ...], backend: str) -> None:
    x = _hpd(shape, dtype)
    w, v = la.eval(*linalg.eigh(_lazy(x)), backend=backend)
    want = np.linalg.eigh(x)
    _cclose(w, want.eigenvalues, dtype)
    assert v.dtype == want.eigenvectors.dtype and v.shape == want.eigenvectors.shape
    # eigenvectors are unique up to a phase: check that they rebuild the matrix
    rebuilt = (v * w[..., None, :]) @ np.conj(np.swapaxes(v, -1, -2))
    tol = {"rtol": 1e-4, "atol": 1e-3} if dtype == "complex64" else {"rtol": 1e-10,
                                                                        "atol": 1e-9}
    np.testing.assert_allclose(rebuilt, x, **tol)


@pytest.mark.parametrize("dtype", COMPLEX)
@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (2, 4, 4), (0, 3, 2)])
def test_complex_qr_svd_slogdet(dtype: str, shape: tuple[int, ...], backend: str) -> None:
    x = _complex(shape, dtype)
    tol = {"atol": 1e-4, "rtol": 1e-4} if dtype == "complex64" else {"atol": 1e-11}
    q, r = la.eval(*linalg.qr(_lazy(x)), backend=backend)
    want = np.linalg.qr(x)
    _cclose(q, want.Q, dtype)
    _cclose(r, want.R, dtype)
    np.testing.assert_allclose(q @ r, x, **tol)
    u, s, vh = la.eval(*linalg.svd(_lazy(x), full_matrices=False), backend=backend)
    want_svd = np.linalg.svd(x, full_matrices=False)
    _cclose(s, want_svd.S, dtype)
    assert u.dtype == want_svd.U.dtype == vh.dtype
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, x, **tol)
    if shape[-1] == shape[-2]:
        sign, logabsdet = la.eval(*linalg.slogdet(_lazy(x)), backend=backend)
        want_det = np.linalg.slogdet(x)
        _cclose(sign, want_det.sign, dtype)
        _cclose(logabsdet, want_det.logabsdet, dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_solve_rank_and_power(dtype: str, backend: str) -> None:
    a, b = _complex((2, 4, 4), dtype), _complex((2, 4, 3), dtype)
    _cclose(linalg.solve(_lazy(a), b).eval(backend=backend), np.linalg.solve(a, b), dtype)
    _cclose(linalg.solve(a, b.real.copy()).eval(backend=backend),
            np.linalg.solve(a, b.real.copy()), dtype)
    low = _complex((3, 5, 2), dtype) @ _complex((3, 2, 5), dtype)  # rank 2
    _close(linalg.matrix_rank(_lazy(low)).eval(backend=backend), np.linalg.matrix_rank(low))
    _close(linalg.matrix_rank(a).eval(backend=backend), np.linalg.matrix_rank(a))
    m = a / 4  # powers that stay near 1
    for n in (-2, -1, 0, 1, 2, 3, 5):
        want = np.linalg.matrix_power(m, n)
        _cclose(linalg.matrix_power(_lazy(m), n).eval(backend=backend), want, dtype)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_products_and_fused_functions(dtype: str, backend: str) -> None:
    """matmul, tensordot, vecdot (which conjugates x1), trace, outer and cross."""
    a, b = _complex((2, 3, 4), dtype), _complex((4, 5), dtype)
    v, w = _complex((2, 3, 4), dtype), _complex((4,), "complex128")
    cases = [
        (linalg.matmul(_lazy(a), b), np.linalg.matmul(a, b)),
        (linalg.tensordot(_lazy(a), b, axes=1), np.linalg.tensordot(a, b, axes=1)),
        (linalg.vecdot(_lazy(v), a), np.linalg.vecdot(v, a)),
        (linalg.vecdot(_lazy(a), w), np.linalg.vecdot(a, w)),
        (linalg.vecdot(_lazy(a.real.copy()), v), np.linalg.vecdot(a.real.copy(), v)),
        (linalg.trace(_lazy(a), offset=1), np.linalg.trace(a, offset=1)),
        (linalg.outer(_lazy(w), b[0]), np.linalg.outer(w, b[0])),
        (linalg.cross(_lazy(a[..., :3]), v[0, 0, 1:]), np.linalg.cross(a[..., :3],
                                                                     v[0, 0, 1:])),
        (linalg.diagonal(_lazy(a), offset=-1), np.linalg.diagonal(a, offset=-1)),
    ]
    for got, want in cases:
        _close(got.eval(backend=backend), want, "float32" if want.dtype == np.complex64
               else "float64")
    # vecdot conjugates its first operand: <v, v> is real and positive
    norms = linalg.vecdot(_lazy(v), v).eval(backend=backend)
    np.testing.assert_allclose(norms.imag, 0, atol=1e-5)
    assert (norms.real > 0).all()
    assert _kernels(linalg.trace(_lazy(a))) == 1 and _kernels(linalg.vecdot(_lazy(v), a)) == 1


@pytest.mark.parametrize("ord", VECTOR_ORDS)
@pytest.mark.parametrize("axis", [None, -1, (0, 2)])
@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_vector_norm(ord, axis, dtype: str, backend: str) -> None:
    """Norms of the absolute values: real results, one fused kernel as for real input."""
    x = _complex((3, 4, 5), dtype)
    x.flat[::7] = 0
    x.flat[3::11] = 2j  # purely imaginary elements count as non-zero
    for keepdims in (False, True):
        with np.errstate(divide="ignore"):
            want = np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)
        expr = linalg.vector_norm(_lazy(x), axis=axis, keepdims=keepdims, ord=ord)
        assert want.dtype == _PART[dtype]
        _close(expr.eval(backend=backend), want, want.dtype)
        assert _kernels(expr) == 1


@pytest.mark.parametrize("ord", ["fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
@pytest.mark.parametrize("dtype", COMPLEX)
def test_complex_matrix_norm(ord, dtype: str, backend: str) -> None:
    x = _complex((3, 4, 5), dtype)
    for keepdims in (False, True):
        want = np.linalg.matrix_norm(x, keepdims=keepdims, ord=ord)
        expr = linalg.matrix_norm(_lazy(x), keepdims=keepdims, ord=ord)
        assert want.dtype == _PART[dtype]
        _close(expr.eval(backend=backend), want, want.dtype)
    if ord == "fro":
        assert _kernels(linalg.matrix_norm(_lazy(x))) == 1
    elif ord in (1, -1, np.inf, -np.inf):
        assert _kernels(linalg.matrix_norm(_lazy(x), ord=ord)) <= 2
