"""The array API standard's ``linalg`` extension (2024.12), as lazy arrays.

Three kinds of functions:

* Fused. ``diagonal`` is a view (the matrix's two dimensions read along one result
  dimension); ``trace``, ``outer``, ``cross``, ``vecdot``, ``vector_norm`` and the
  ``"fro"``/1/-1/inf/-inf ``matrix_norm`` are elementwise ops and reductions of views, so each
  is one kernel together with what computes its input and what reads its result.
* LAPACK. ``cholesky det eigh eigvalsh inv pinv qr slogdet solve svd svdvals`` (and the
  inverse of a negative ``matrix_power``) are host calls of ``numpy.linalg``: NumPy runs them
  on the evaluated input, which is one fused kernel, and what reads their results fuses again.
  ``matrix_rank`` and the 2/-2/"nuc" matrix norms are ``svdvals`` followed by fused
  reductions; ``matmul``, ``tensordot`` and positive matrix powers are BLAS products.
* ``matmul``, ``matrix_transpose``, ``tensordot`` and ``vecdot`` are the namespace's own
  functions (the standard's aliases).

Values, dtypes and exceptions are ``numpy.linalg``'s (NumPy 2): integer and bool input to
LAPACK functions gives float64 results, float32 input float32 ones; shapes are checked when
the expression is written (``numpy.linalg.LinAlgError`` for a non-square or 1-d matrix, where
NumPy raises it), while a singular or non-positive-definite matrix raises ``LinAlgError``
when it is evaluated. Functions with several results return the standard's named tuples;
their results come from one call of NumPy's function (one host call, whose result the named
arrays are views of), however many of them are evaluated.
"""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from lazyarr.front import complexes, views
from lazyarr.front.array import LazyArray
from lazyarr.front.build import broadcast_shapes
from lazyarr.front.functions import (
    UFUNC_FUNCTIONS,
    asarray,
    broadcast_to,
    expand_dims,
    matmul,
    matrix_transpose,
    moveaxis,
    where,
)
from lazyarr.front.hostcall import host_value
from lazyarr.front.standard import tensordot, vecdot

__all__ = [
    "cholesky", "cross", "det", "diagonal", "eigh", "eigvalsh", "inv", "matmul", "matrix_norm",
    "matrix_power", "matrix_rank", "matrix_transpose", "outer", "pinv", "qr", "slogdet",
    "solve", "svd", "svdvals", "tensordot", "trace", "vecdot", "vector_norm",
]

_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_C64, _C128 = np.dtype(np.complex64), np.dtype(np.complex128)
_INTP = np.dtype(np.intp)
_sqrt = UFUNC_FUNCTIONS["sqrt"]
LinAlgError = np.linalg.LinAlgError


class EighResult(NamedTuple):
    eigenvalues: LazyArray
    eigenvectors: LazyArray


class QRResult(NamedTuple):
    Q: LazyArray
    R: LazyArray


class SlogdetResult(NamedTuple):
    sign: LazyArray
    logabsdet: LazyArray


class SVDResult(NamedTuple):
    U: LazyArray
    S: LazyArray
    Vh: LazyArray


# -- checks and dtypes ------------------------------------------------------------------------
def _stacked_2d(x: LazyArray) -> None:
    if x.ndim < 2:
        raise LinAlgError(f"{x.ndim}-dimensional array given. Array must be at least "
                          "two-dimensional")


def _square(x: LazyArray) -> None:
    _stacked_2d(x)
    if x.shape[-1] != x.shape[-2]:
        raise LinAlgError("Last 2 dimensions of the array must be square")


def _lapack_dtype(*arrays: LazyArray) -> np.dtype:
    """``numpy.linalg``'s result dtype: single precision (float32, complex64) when every
    input is, else double (NumPy computes integers and bools in double); complex when any
    input is. float16 is NumPy's TypeError."""
    for a in arrays:
        if a.dtype.kind in "fc" and a.dtype not in (_F32, _F64, _C64, _C128):
            raise TypeError(f"array type {a.dtype} is unsupported in linalg")
    single = all(a.dtype in (_F32, _C64) for a in arrays)
    if any(a.dtype.kind == "c" for a in arrays):
        return _C64 if single else _C128
    return _F32 if single else _F64


def _real_dtype(dtype: np.dtype) -> np.dtype:
    """The real dtype of ``dtype``'s values (a complex one's parts): what eigenvalues of
    Hermitian matrices, singular values and absolute values are."""
    return complexes.PARTS.get(dtype, dtype)


def _real_part(x: LazyArray) -> LazyArray:
    """The real part of a packed host result (eigenvalues, singular values, logabsdet,
    stored in a complex array with its complex companions)."""
    return x.real if x.dtype.kind == "c" else x


def _as_float(x: LazyArray) -> LazyArray:
    """``x`` in an inexact dtype, as ``numpy.linalg.norm`` takes it (integers become
    float64; complex stays complex)."""
    return x if x.dtype.kind in "fc" else x.astype(_F64)


def _squares(x: LazyArray) -> LazyArray:
    """``|x|**2`` as NumPy's norms compute it: ``x * x``, for complex ``(conj(x) * x).real``,
    which is ``re * re + im * im`` (real, fused like the rest)."""
    if x.dtype.kind != "c":
        return x * x
    re, im = x.real, x.imag
    return re * re + im * im


def _host(name: str, fn: Any, inputs: list[LazyArray], shape: tuple[int, ...],
          dtype: np.dtype, params: tuple = ()) -> LazyArray:
    return LazyArray(host_value(f"linalg.{name}", fn, [a._node for a in inputs],
                                (shape, dtype), params))


def _part(packed: LazyArray, rows: slice | int, cols: slice) -> LazyArray:
    """A view of the last two dimensions of a packed host result."""
    return LazyArray(views.getitem(packed._node, (Ellipsis, rows, cols)))


# -- host functions (module level: each is part of its nodes' keys) -------------------------
# A function with several results returns them packed into one array, so that NumPy runs
# once however many of the results are evaluated: each host node is one call.
def _cholesky(x: np.ndarray, upper: bool) -> np.ndarray:
    return np.linalg.cholesky(x, upper=upper)


def _pinv(x: np.ndarray, rtol: Any) -> np.ndarray:
    return np.linalg.pinv(x, rtol=rtol)


def _eigh_packed(x: np.ndarray) -> np.ndarray:
    """Eigenvalues in row 0, eigenvectors below: (..., M + 1, M)."""
    w, v = np.linalg.eigh(x)
    return np.concatenate([w[..., None, :], v], axis=-2)


def _slogdet_packed(x: np.ndarray) -> np.ndarray:
    sign, logabsdet = np.linalg.slogdet(x)
    return np.stack([sign, logabsdet], axis=-1)


def _stack_rows(parts: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """Matrices of one batch shape stacked along the rows, padded with zeros to the widest."""
    cols = max(p.shape[-1] for p in parts)
    rows = sum(p.shape[-2] for p in parts)
    out = np.zeros((*parts[0].shape[:-2], rows, cols), dtype)
    row = 0
    for p in parts:
        out[..., row:row + p.shape[-2], :p.shape[-1]] = p
        row += p.shape[-2]
    return out


def _qr_packed(x: np.ndarray, mode: str) -> np.ndarray:
    """Q above R, padded to the wider of the two."""
    q, r = np.linalg.qr(x, mode=mode)
    return _stack_rows([q, r], q.dtype)


def _svd_packed(x: np.ndarray, full_matrices: bool) -> np.ndarray:
    """U, then S as one row, then Vh, padded to the widest."""
    u, s, vh = np.linalg.svd(x, full_matrices=full_matrices)
    return _stack_rows([u, s[..., None, :], vh], u.dtype)


# -- LAPACK functions -----------------------------------------------------------------------
def cholesky(x: Any, /, *, upper: bool = False) -> LazyArray:
    """Lower (or with ``upper=True`` upper) Cholesky factor of each matrix: ``numpy.linalg.
    cholesky``. A matrix that is not positive definite raises ``LinAlgError`` when the
    result is evaluated."""
    a = asarray(x)
    _square(a)
    return _host("cholesky", _cholesky, [a], a.shape, _lapack_dtype(a), (bool(upper),))


def det(x: Any, /) -> LazyArray:
    """Determinant of each square matrix: ``numpy.linalg.det``."""
    a = asarray(x)
    _square(a)
    return _host("det", np.linalg.det, [a], a.shape[:-2], _lapack_dtype(a))


def eigh(x: Any, /) -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of each symmetric matrix, from its
    lower triangle: ``numpy.linalg.eigh``."""
    a = asarray(x)
    _square(a)
    m = a.shape[-1]
    packed = _host("eigh", _eigh_packed, [a], (*a.shape[:-2], m + 1, m), _lapack_dtype(a))
    return EighResult(_real_part(_part(packed, 0, slice(None))),
                      _part(packed, slice(1, None), slice(None)))


def eigvalsh(x: Any, /) -> LazyArray:
    """Eigenvalues (ascending) of each symmetric matrix: ``numpy.linalg.eigvalsh``."""
    a = asarray(x)
    _square(a)
    return _host("eigvalsh", np.linalg.eigvalsh, [a], a.shape[:-1],
                 _real_dtype(_lapack_dtype(a)))


def inv(x: Any, /) -> LazyArray:
    """Inverse of each square matrix: ``numpy.linalg.inv`` (``LinAlgError`` for a singular
    one when evaluated)."""
    a = asarray(x)
    _square(a)
    return _host("inv", np.linalg.inv, [a], a.shape, _lapack_dtype(a))


def pinv(x: Any, /, *, rtol: Any = None) -> LazyArray:
    """Moore-Penrose pseudo-inverse of each matrix: ``numpy.linalg.pinv(x, rtol=rtol)``.

    The standard's default ``rtol=None`` is ``max(M, N) * eps`` (``numpy.linalg.pinv``'s own
    default is 1e-15: the standard's wins). Integer input is cast to float64 first: NumPy
    takes ``eps`` of the input's dtype, which fails for integers. ``rtol`` may be an array
    broadcastable to the batch shape ``x.shape[:-2]``.
    """
    a = asarray(x)
    _stacked_2d(a)
    dt = _lapack_dtype(a)
    a = a.astype(dt) if a.dtype != dt else a
    shape = (*a.shape[:-2], a.shape[-1], a.shape[-2])
    if rtol is None or type(rtol) in (int, float):
        return _host("pinv", _pinv, [a], shape, dt, (None if rtol is None else float(rtol),))
    r = asarray(rtol)
    if broadcast_shapes([a.shape[:-2], r.shape], "pinv") != a.shape[:-2]:
        raise ValueError(f"pinv: rtol of shape {r.shape} does not broadcast to the batch "
                         f"shape {a.shape[:-2]}")
    return _host("pinv", _pinv, [a, r], shape, dt)


def qr(x: Any, /, *, mode: str = "reduced") -> QRResult:
    """QR decomposition of each matrix: ``numpy.linalg.qr`` with ``mode`` "reduced" (Q is
    (..., M, K), R (..., K, N), K = min(M, N)) or "complete" (Q (..., M, M), R (..., M, N))."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"Unrecognized mode '{mode}': the standard's qr takes 'reduced' or "
                         "'complete'")
    a = asarray(x)
    _stacked_2d(a)
    *batch, m, n = a.shape
    k = min(m, n) if mode == "reduced" else m
    shape = (*batch, m + k, max(k, n))
    packed = _host("qr", _qr_packed, [a], tuple(shape), _lapack_dtype(a), (mode,))
    return QRResult(_part(packed, slice(0, m), slice(0, k)),
                    _part(packed, slice(m, m + k), slice(0, n)))


def slogdet(x: Any, /) -> SlogdetResult:
    """Sign and natural log of the absolute determinant of each square matrix:
    ``numpy.linalg.slogdet`` (sign 0 and logabsdet -inf for a singular one)."""
    a = asarray(x)
    _square(a)
    packed = _host("slogdet", _slogdet_packed, [a], (*a.shape[:-2], 2), _lapack_dtype(a))
    return SlogdetResult(LazyArray(views.getitem(packed._node, (Ellipsis, 0))),
                         _real_part(LazyArray(views.getitem(packed._node, (Ellipsis, 1)))))


def solve(x1: Any, x2: Any, /) -> LazyArray:
    """The solution ``X`` of ``x1 @ X = x2``: ``numpy.linalg.solve``. A 1-d ``x2`` of shape
    (M,) is one vector for every matrix (result ``x1.shape[:-2] + (M,)``); otherwise ``x2``
    is a stack of (M, K) matrices whose batch dimensions broadcast with ``x1``'s."""
    a, b = asarray(x1), asarray(x2)
    _square(a)
    m = a.shape[-1]
    if b.ndim == 1:
        if b.shape[0] != m:
            raise ValueError("solve1: Input operand 1 has a mismatch in its core dimension 0, "
                             "with gufunc signature (m,m),(m)->(m) (size "
                             f"{b.shape[0]} is different from {m})")
        shape = (*a.shape[:-2], m)
    else:
        if b.ndim == 0:
            raise ValueError("solve: Input operand 1 does not have enough dimensions (has 0, "
                             "gufunc core with signature (m,m),(m,n)->(m,n) requires 2)")
        if b.shape[-2] != m:
            raise ValueError("solve: Input operand 1 has a mismatch in its core dimension 0, "
                             "with gufunc signature (m,m),(m,n)->(m,n) (size "
                             f"{b.shape[-2]} is different from {m})")
        shape = (*broadcast_shapes([a.shape[:-2], b.shape[:-2]], "solve"), m, b.shape[-1])
    return _host("solve", np.linalg.solve, [a, b], shape, _lapack_dtype(a, b))


def svd(x: Any, /, *, full_matrices: bool = True) -> SVDResult:
    """Singular value decomposition of each matrix: ``numpy.linalg.svd``; ``S`` descending."""
    a = asarray(x)
    _stacked_2d(a)
    *batch, m, n = a.shape
    k = min(m, n)
    ucols, vrows = (m, n) if full_matrices else (k, k)
    shape = (*batch, m + 1 + vrows, max(ucols, k, n))
    packed = _host("svd", _svd_packed, [a], tuple(shape), _lapack_dtype(a),
                   (bool(full_matrices),))
    return SVDResult(_part(packed, slice(0, m), slice(0, ucols)),
                     _real_part(_part(packed, m, slice(0, k))),
                     _part(packed, slice(m + 1, m + 1 + vrows), slice(0, n)))


def svdvals(x: Any, /) -> LazyArray:
    """Singular values of each matrix, descending: ``numpy.linalg.svdvals``."""
    a = asarray(x)
    _stacked_2d(a)
    k = min(a.shape[-2:])
    return _host("svdvals", np.linalg.svdvals, [a], (*a.shape[:-2], k),
                 _real_dtype(_lapack_dtype(a)))


# -- built from the above and matrix products -----------------------------------------------
def _max_or_zero(x: LazyArray, axes: int | tuple[int, ...]) -> LazyArray:
    """``x.max(axes)`` with NumPy's ``initial=0`` (for values >= 0): zeros where nothing is
    reduced, as the sum of nothing is."""
    if math.prod(x.shape[a] for a in normalize_axis_tuple(axes, x.ndim)) == 0:
        return x.sum(axis=axes)
    return x.max(axis=axes)


def matrix_rank(x: Any, /, *, rtol: Any = None) -> LazyArray:
    """Number of singular values above ``rtol`` times the largest, for each matrix (int64):
    ``numpy.linalg.matrix_rank``. ``svdvals`` runs in NumPy; the threshold and the count are
    one fused kernel. ``rtol=None`` is ``max(M, N) * eps``; an array ``rtol`` broadcasts
    against the batch shape. A 0-d or 1-d ``x`` is 1 unless all its elements are zero (as
    NumPy's; the standard leaves it undefined)."""
    a = asarray(x)
    if a.ndim < 2:
        return (a != 0).any().astype(_INTP)
    s = svdvals(a)
    top = _max_or_zero(s, -1)[..., None]
    if rtol is None:
        # a NumPy scalar of the singular values' dtype, as NumPy computes it
        tol = top * (max(a.shape[-2:]) * np.finfo(s.dtype).eps)
    else:
        # NumPy's asarray(rtol): a Python float is a float64 array, so the threshold is too
        tol = top * asarray(rtol)[..., None]
    return (s > tol).sum(axis=-1, dtype=_INTP)


def matrix_power(x: Any, n: int, /) -> LazyArray:
    """``x`` multiplied by itself ``n`` times: ``numpy.linalg.matrix_power``, with its
    sequence of matrix products (so the same rounding). ``n = 0`` gives identity matrices of
    ``x``'s dtype; a negative ``n`` powers the inverse (float)."""
    a = asarray(x)
    _square(a)
    try:
        n = operator.index(n)
    except TypeError as e:
        raise TypeError("exponent must be an integer") from e
    if n == 0:
        return broadcast_to(asarray(np.eye(a.shape[-1], dtype=a.dtype)), a.shape)
    if n < 0:
        a, n = inv(a), -n
    if n == 1:
        return a
    if n == 2:
        return matmul(a, a)
    if n == 3:
        return matmul(matmul(a, a), a)
    z = result = None
    while n > 0:  # NumPy's binary decomposition, bit by bit from the lowest
        z = a if z is None else matmul(z, z)
        n, bit = divmod(n, 2)
        if bit:
            result = z if result is None else matmul(result, z)
    return result


# -- fused ------------------------------------------------------------------------------------
def diagonal(x: Any, /, *, offset: int = 0) -> LazyArray:
    """The ``offset`` diagonal of each matrix (``numpy.linalg.diagonal``), as a view: one
    result dimension reads along both of the matrix's, so it costs nothing and fuses."""
    a = asarray(x)
    offset = operator.index(offset)
    if a.ndim < 2:
        raise ValueError("diag requires an array of at least two dimensions")
    *batch, m, n = a.shape
    row, col = max(-offset, 0), max(offset, 0)
    size = max(0, min(m - row, n - col))
    if size == 0:
        row = col = 0  # no element is read: keep the view's start inside the array
    d = len(batch)
    vmap = (*((k, 1, 0) for k in range(d)), (d, 1, row), (d, 1, col))
    if a.dtype.kind == "c":  # the same view of both parts
        return LazyArray(complexes.each(views.view, a._node, (*batch, size), vmap))
    return LazyArray(views.view(a._node, (*batch, size), vmap))


def trace(x: Any, /, *, offset: int = 0, dtype: Any = None) -> LazyArray:
    """Sum of each matrix's ``offset`` diagonal: ``numpy.linalg.trace``, with ``sum``'s
    dtypes (small integers add up in int64 or uint64, ``dtype=`` casts first). One fused
    reduction of the diagonal's view."""
    return diagonal(x, offset=offset).sum(axis=-1, dtype=dtype)


def outer(x1: Any, x2: Any, /) -> LazyArray:
    """Outer product of two vectors: ``numpy.linalg.outer``, one fused multiply."""
    a, b = asarray(x1), asarray(x2)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("Input arrays must be one-dimensional, but they are "
                         f"x1.ndim={a.ndim} and x2.ndim={b.ndim}.")
    return a[:, None] * b[None, :]


def cross(x1: Any, x2: Any, /, *, axis: int = -1) -> LazyArray:
    """Cross product of 3-vectors along ``axis``: ``numpy.linalg.cross``, the other
    dimensions broadcast. One fused kernel: each result element picks its component (a
    comparison of a 3-element index) from products of views."""
    a, b = asarray(x1), asarray(x2)
    if a.shape[axis] != 3 or b.shape[axis] != 3:  # a 0-d input: IndexError, as NumPy
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors, but "
                         f"they are {a.shape[axis]} and {b.shape[axis]} dimensional instead.")
    a = moveaxis(a, normalize_axis_index(axis, a.ndim), -1)
    b = moveaxis(b, normalize_axis_index(axis, b.ndim), -1)
    batch = broadcast_shapes([a.shape[:-1], b.shape[:-1]], "cross")
    a0, a1, a2 = (a[..., k:k + 1] for k in range(3))
    b0, b1, b2 = (b[..., k:k + 1] for k in range(3))
    component = asarray(np.arange(3, dtype=np.int8))
    c = where(component == 0, a1 * b2 - a2 * b1,
              where(component == 1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0))
    return moveaxis(c, -1, normalize_axis_index(axis, len(batch) + 1))


def _axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, tuple):
        try:
            axis = operator.index(axis)
        except TypeError as e:
            raise TypeError("'axis' must be None, an integer or a tuple of integers") from e
    return tuple(sorted(normalize_axis_tuple(axis, ndim)))


def vector_norm(x: Any, /, *, axis: Any = None, keepdims: bool = False,
                ord: Any = 2) -> LazyArray:
    """Vector norm over ``axis`` (all by default; a tuple is one vector of those dimensions):
    ``numpy.linalg.vector_norm``. Integers are float64 first. One fused reduction: ``max|x|``
    for inf (0 for no elements), ``min|x|`` for -inf, the count of non-zeros for 0,
    ``sqrt(sum(x*x))`` for 2 and ``sum(|x|**p) ** (1/p)`` for other ``p``."""
    a = _as_float(asarray(x))
    if isinstance(ord, str):
        raise ValueError(f"Invalid norm order '{ord}' for vectors")
    axes = _axes(axis, a.ndim)
    real = _real_dtype(a.dtype)  # of a complex vector: the norm of its absolute values
    if ord == np.inf:
        result = _max_or_zero(abs(a), axes)
    elif ord == -np.inf:
        result = abs(a).min(axis=axes)
    elif ord == 0:
        result = (a != 0).astype(real).sum(axis=axes)
    elif ord == 1:
        result = abs(a).sum(axis=axes)
    elif ord is None or ord == 2:
        result = _sqrt(_squares(a).sum(axis=axes))
    else:
        # NumPy's exponent 1/p is rounded to the result's dtype
        result = (abs(a) ** ord).sum(axis=axes) ** np.reciprocal(ord, dtype=real)
    return expand_dims(result, axes) if keepdims and axes else result


def matrix_norm(x: Any, /, *, keepdims: bool = False,
                ord: Any = "fro") -> LazyArray:
    """Matrix norm of each matrix: ``numpy.linalg.matrix_norm``. "fro" is one fused
    reduction, 1/-1 (inf/-inf) the max/min of column (row) sums of ``|x|``, fused; 2, -2 and
    "nuc" the max, min and sum of ``svdvals``. Integers are float64 first."""
    a = _as_float(asarray(x))
    normalize_axis_index(-2, a.ndim)  # NumPy's AxisError for fewer than two dimensions
    if isinstance(ord, str) or ord is None:
        if ord in (None, "fro", "f"):
            result = _sqrt(_squares(a).sum(axis=(-2, -1)))
        elif ord == "nuc":
            result = svdvals(a).sum(axis=-1)
        else:
            raise ValueError("Invalid norm order for matrices.")
    elif ord == 2:
        result = _max_or_zero(svdvals(a), -1)
    elif ord == -2:
        result = svdvals(a).min(axis=-1)
    elif ord in (1, -1):
        sums = abs(a).sum(axis=-2)
        result = _max_or_zero(sums, -1) if ord == 1 else sums.min(axis=-1)
    elif ord in (np.inf, -np.inf):
        sums = abs(a).sum(axis=-1)
        result = _max_or_zero(sums, -1) if ord > 0 else sums.min(axis=-1)
    else:
        raise ValueError("Invalid norm order for matrices.")
    return expand_dims(result, (-2, -1)) if keepdims else result
