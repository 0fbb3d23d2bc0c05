"""Reductions: sum, prod, min, max, argmin, argmax, any, all, and what is built from them.

Result dtypes are NumPy's, found by asking NumPy once per (function, dtype, dtype argument)
on a one-element array. ``mean``, ``var``, ``std`` and ``logsumexp`` are compositions of
reductions and elementwise ops, written the way NumPy computes them, so they fuse like any
other expression.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from lazyarr.front import build, complexes, views
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Node, Op, ReduceKind, make

_NUMPY = {
    ReduceKind.SUM: np.sum, ReduceKind.PROD: np.prod, ReduceKind.MIN: np.min,
    ReduceKind.MAX: np.max, ReduceKind.ANY: np.any, ReduceKind.ALL: np.all,
}
_NAMES = {ReduceKind.MIN: "minimum", ReduceKind.MAX: "maximum"}


@cache
def result_dtype(name: str, dtype: np.dtype, dtype_arg: np.dtype | None) -> np.dtype:
    """NumPy's result dtype of reduction ``name``; a TypeError for one lazyarr cannot make."""
    where = name if dtype_arg is None else f"{name}(dtype={dtype_arg})"
    if dtype_arg is not None:
        dtypes.check(dtype_arg, where)  # before NumPy: object or void would not say dtype
    probe = np.ones(1, dtype)
    kwargs = {} if dtype_arg is None else {"dtype": dtype_arg}
    return dtypes.check(getattr(np, name)(probe, **kwargs).dtype, where)


# Added or multiplied as bool, NumPy's add and multiply are logical or and and (a sum of
# bools in another dtype counts them instead: the source is cast first).
_BOOL_FOLD = {ReduceKind.SUM: ReduceKind.ANY, ReduceKind.PROD: ReduceKind.ALL}


def axes_of(axis: Any, ndim: int, ufunc_like: bool = False) -> tuple[int, ...]:
    """``axis`` normalised and sorted. ``ufunc_like``: NumPy's reductions that are ufunc
    reductions (sum, max, any, ...; not mean or var) take an int axis 0 or -1 of a 0-d
    array, as no axis at all."""
    if axis is None:
        return tuple(range(ndim))
    if ufunc_like and _scalar_axis(axis, ndim):
        return ()
    if isinstance(axis, list):  # NumPy takes an int or a tuple, not a list
        raise TypeError("'list' object cannot be interpreted as an integer")
    return tuple(sorted(normalize_axis_tuple(axis, ndim)))


def _scalar_axis(axis: Any, ndim: int) -> bool:
    """An int axis 0 or -1 of a 0-d array: none at all to NumPy's ufunc reductions."""
    return ndim == 0 and isinstance(axis, int | np.integer) and \
        not isinstance(axis, bool | np.bool_) and axis in (0, -1)


def _keep(node: Node, axes: tuple[int, ...], keepdims: bool) -> Node:
    return views.expand_dims(node, axes) if keepdims and axes else node


def reduce(kind: ReduceKind, x: Node, axes: tuple[int, ...], keepdims: bool = False,
           dtype: np.dtype | None = None) -> Node:
    """The REDUCE node of ``kind`` over ``axes`` (already normalised and sorted)."""
    if x.dtype.kind == "c" or (dtype is not None and dtype.kind == "c"):
        return complexes.reduce(kind, x, axes, keepdims, dtype)
    shape = tuple(n for d, n in enumerate(x.shape) if d not in axes)
    if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
        src, out = x, np.dtype(np.intp)
    elif kind in (ReduceKind.ANY, ReduceKind.ALL):
        src, out = build.cast(x, np.dtype(bool)), np.dtype(bool)
    else:
        out = result_dtype(kind.value, x.dtype, dtype)
        src = build.cast(x, out)
        if out.kind == "b":
            kind = _BOOL_FOLD.get(kind, kind)
    if not axes:
        if kind is ReduceKind.SUM and out.kind == "f":  # (ml_dtypes' bfloat16 keeps -0.0)
            return build.apply(Op.ADD, src, 0.0)  # NumPy adds to +0.0: -0.0 comes out +0.0
        return build.cast(src, out)
    _check_not_empty(kind, x, axes)
    if dtypes.is_narrow(src.dtype):
        # NumPy's float16 loops accumulate a row in float32 and round the result once; min,
        # max and their indices are exact in float32 (kernels never compute in float16).
        # bfloat16 likewise, where ml_dtypes' loops round every partial sum to bfloat16
        # (docs/float16.md)
        wide = build.cast(src, dtypes.FLOAT32)
        if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
            return _keep(make(Op.REDUCE, out, shape, (wide,), (kind, axes)), axes, keepdims)
        total = make(Op.REDUCE, dtypes.FLOAT32, shape, (wide,), (kind, axes))
        return _keep(build.cast(total, out), axes, keepdims)
    return _keep(make(Op.REDUCE, out, shape, (src,), (kind, axes)), axes, keepdims)


def _check_not_empty(kind: ReduceKind, x: Node, axes: tuple[int, ...]) -> None:
    if all(x.shape[a] for a in axes):
        return
    if kind in (ReduceKind.MIN, ReduceKind.MAX):
        raise ValueError(f"zero-size array to reduction operation {_NAMES[kind]} which has "
                         "no identity")
    if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
        raise ValueError(f"attempt to get {kind.value} of an empty sequence")


def simple(kind: ReduceKind, x: Node, axis: Any = None, keepdims: bool = False,
           dtype: Any = None) -> Node:
    dt = None if dtype is None else np.dtype(dtype)
    return reduce(kind, x, axes_of(axis, x.ndim, ufunc_like=True), keepdims, dt)


def arg(kind: ReduceKind, x: Node, axis: int | None = None, keepdims: bool = False) -> Node:
    if axis is None or _scalar_axis(axis, x.ndim):
        flat = reduce(kind, x, tuple(range(x.ndim))) if x.ndim else reduce(
            kind, views.reshape(x, (1,)), (0,))
        return views.reshape(flat, (1,) * x.ndim) if keepdims else flat
    a = normalize_axis_index(axis, x.ndim)
    return reduce(kind, x, (a,), keepdims)


def _count(x: Node, axes: tuple[int, ...]) -> int:
    return math.prod(x.shape[a] for a in axes)


def _mean_dtype(x: Node, dtype: Any, name: str) -> np.dtype:
    if dtype is not None:
        dtype = np.dtype(dtype)
        return dtypes.check(dtype, f"{name}(dtype={dtype})")
    return np.dtype(np.float64) if x.dtype.kind in "biu" else x.dtype


def mean(x: Node, axis: Any = None, dtype: Any = None, keepdims: bool = False) -> Node:
    axes = axes_of(axis, x.ndim)
    if x.dtype.kind == "c" or (dtype is not None and np.dtype(dtype).kind == "c"):
        return complexes.mean(x, axes, dtype, keepdims)
    acc = _mean_dtype(x, dtype, "mean")
    # NumPy's mean of float16 sums and divides in float32 (var's mean, given float16, not)
    inner = dtypes.FLOAT32 if dtype is None and dtypes.is_narrow(acc) else acc
    total = reduce(ReduceKind.SUM, build.cast(x, inner), axes, keepdims, inner)
    return build.cast(_divide(total, _count(x, axes), inner), acc)


def _divide(total: Node, n: int | float, acc: np.dtype) -> Node:
    """``total / n`` in ``acc``. NumPy divides by its count as an intp array, so a float16
    total is divided in the float64 loop and rounded to float16 (the count as a float16
    would round, and overflow past 65504)."""
    if dtypes.is_narrow(acc):
        total = build.cast(total, np.dtype(np.float64))
    return build.cast(build.apply(Op.TRUE_DIVIDE, total, n), acc)


def var(x: Node, axis: Any = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False) -> Node:
    """NumPy's two-pass variance, step by step as ``numpy._core._methods._var`` takes it.

    Only the sums are taken in ``dtype``: the deviations are ``x - mean`` in the promoted
    dtype, so ``dtype=float32`` of float64 data rounds each square, not each element.
    """
    axes = axes_of(axis, x.ndim)
    if x.dtype.kind == "c":
        return complexes.var(x, axes, dtype, ddof, keepdims)
    acc = _mean_dtype(x, dtype, "var")
    n = _count(x, axes)
    centred = build.apply(Op.SUBTRACT, x, mean(x, axes, acc, keepdims=True))
    squares = build.apply(Op.MULTIPLY, centred, centred)
    total = reduce(ReduceKind.SUM, squares, axes, keepdims, acc)
    return _divide(total, max(n - ddof, 0), acc)


def std(x: Node, axis: Any = None, dtype: Any = None, ddof: float = 0,
        keepdims: bool = False) -> Node:
    """NumPy's ``sqrt(var)``, in the variance's dtype (an integer ``dtype=`` truncates)."""
    variance = var(x, axis, dtype, ddof, keepdims)
    if variance.dtype.kind in "biu":
        what = f"std(dtype={variance.dtype})"
        if variance.ndim:  # NumPy takes this root in place, which its casting rule refuses
            raise TypeError(f"{what}: cannot cast the float square root of an integer "
                            "variance array back to its dtype (as NumPy)")
        try:
            root = build.apply(Op.SQRT, variance)
        except TypeError as exc:  # a root NumPy computes in a loop lazyarr refuses
            raise TypeError(f"{what}: {exc}") from None
        return build.cast(root, variance.dtype)
    return build.apply(Op.SQRT, variance)


def logsumexp(x: Node, axis: Any = None, keepdims: bool = False) -> Node:
    """``log(sum(exp(x)))`` without overflow: the maximum is taken out first (as SciPy)."""
    axes = axes_of(axis, x.ndim)
    top = reduce(ReduceKind.MAX, x, axes, keepdims=True)
    shift = build.where(build.apply(Op.ISFINITE, top), top, 0)
    if shift.dtype.kind == "f":  # the shift cancels: no gradient through the maximum's ties
        shift = build.apply(Op.STOP_GRADIENT, shift)
    total = reduce(ReduceKind.SUM, build.apply(Op.EXP, build.apply(Op.SUBTRACT, x, shift)),
                   axes, keepdims)
    if not keepdims:
        shift = views.squeeze(shift, axes) if axes else shift
    return build.apply(Op.ADD, build.apply(Op.LOG, total), shift)
