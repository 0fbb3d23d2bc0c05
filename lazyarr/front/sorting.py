"""The array API standard's sorting, set, searching and statistical functions (2024.12).

Sorting and searching are NumPy host calls (``Op.HOST``): what feeds them is one fused kernel
and what reads their result fuses after them, so ``la.sort(a * 2) + 1`` is a kernel, NumPy's
sort and a kernel. The set functions and ``nonzero`` have results whose size depends on the
data: they evaluate their input when they are called and return lazy leaves. The statistical
functions and ``argmax``/``argmin``/``count_nonzero`` are lazyarr's fused reductions.

Where NumPy deviates from the standard the standard wins (each such function says where);
everything else is NumPy 2's behaviour. The statistical functions also take NumPy's extra
arguments (positional ``axis``, ``out=``, ``ddof=``, ``dtype=`` of ``mean``/``var``/``std``),
so the older NumPy-style calls of ``la.sum`` and friends keep working.
"""

from __future__ import annotations

import math
import operator
from typing import Any, NamedTuple

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from lazyarr.front import build, functions, reductions
from lazyarr.front.array import LazyArray, _finish
from lazyarr.front.hostcall import host_value
from lazyarr.ir.graph import Op, ReduceKind

__all__ = [
    "argmax", "argmin", "argsort", "count_nonzero", "max", "mean", "min", "nonzero", "prod",
    "searchsorted", "sort", "std", "sum", "unique_all", "unique_counts", "unique_inverse",
    "unique_values", "var", "where",
]

# the standard's default array index dtype (and default integer dtype)
_INDEX = np.dtype(np.int64)


def _array(x: Any) -> LazyArray:
    return x if type(x) is LazyArray else functions.asarray(x)


# -- sorting: host calls ------------------------------------------------------------------
# These run in NumPy on evaluated inputs and are part of the nodes' identity: module-level
# functions of (array, *hashable params).


def _sort_values(x: np.ndarray, axis: int, descending: bool, stable: bool) -> np.ndarray:
    kind = "stable" if stable else None
    if not descending:
        return np.sort(x, axis=axis, kind=kind)
    if not stable:  # equal values may come in any order: reversing the ascending sort will do
        return np.flip(np.sort(x, axis=axis), axis)
    # Sorting the reversed array stably and reversing the result puts equal values (-0.0 and
    # +0.0) back in their original order; a plain flip would reverse them.
    return np.flip(np.sort(np.flip(x, axis), axis=axis, kind=kind), axis)


def _sort_indices(x: np.ndarray, axis: int, descending: bool, stable: bool) -> np.ndarray:
    kind = "stable" if stable else None
    if not descending:
        return np.argsort(x, axis=axis, kind=kind)
    if not stable:
        return np.flip(np.argsort(x, axis=axis), axis)
    # as in _sort_values: indices into the reversed array, mapped back (n - 1 - i)
    order = np.flip(np.argsort(np.flip(x, axis), axis=axis, kind=kind), axis)
    return (x.shape[axis] - 1) - order


def _sort_call(name: str, fn: Any, x: Any, axis: int, descending: bool, stable: bool,
               dtype: np.dtype | None) -> LazyArray:
    a = _array(x)
    ax = normalize_axis_index(operator.index(axis), a.ndim)  # NumPy's AxisError, also for 0-d
    params = (ax, bool(descending), bool(stable))
    node = host_value(name, fn, [a._node], (a.shape, a.dtype if dtype is None else dtype), params)
    return LazyArray(node)


def sort(x: Any, /, *, axis: int = -1, descending: bool = False,
         stable: bool = True) -> LazyArray:
    """A sorted copy of ``x`` along ``axis`` (NumPy's sort, run on the evaluated input when
    the result is evaluated; what feeds it and what reads it fuse as usual).

    NaNs sort last in ascending order, as NumPy's, and therefore first in descending order
    (array_api_strict's order, consistent with ``argsort``). A stable descending sort keeps
    equal values (-0.0 and +0.0) in their original order rather than reversing them.
    """
    return _sort_call("sort", _sort_values, x, axis, descending, stable, None)


def argsort(x: Any, /, *, axis: int = -1, descending: bool = False,
            stable: bool = True) -> LazyArray:
    """The int64 indices that sort ``x`` along ``axis``, as :func:`sort` orders the values.

    A stable descending argsort lists the indices of equal values in increasing order (it is
    not the reverse of an ascending argsort, which would list them in decreasing order).
    """
    return _sort_call("argsort", _sort_indices, x, axis, descending, stable, _INDEX)


def _searchsorted(x1: np.ndarray, x2: np.ndarray, side: str) -> np.ndarray:
    return np.searchsorted(x1, x2, side=side)


def _searchsorted_sorter(x1: np.ndarray, x2: np.ndarray, sorter: np.ndarray,
                         side: str) -> np.ndarray:
    return np.searchsorted(x1, x2, side=side, sorter=sorter)


def searchsorted(x1: Any, x2: Any, /, *, side: str = "left", sorter: Any = None) -> LazyArray:
    """Indices (int64, shaped like ``x2``) at which ``x2``'s values would be inserted into the
    sorted 1-D ``x1`` to keep it sorted; ``sorter``: indices that sort ``x1``. NumPy's
    searchsorted, run when the result is evaluated, so NaN and -0.0 are placed as
    :func:`sort` orders them. Bad arguments raise NumPy's exceptions now; a ``sorter`` whose
    values are out of range raises when evaluated."""
    a, v = _array(x1), _array(x2)
    if a.ndim != 1:
        raise ValueError(f"searchsorted: x1 must be one-dimensional, not {a.ndim}-D")
    if side not in ("left", "right"):
        raise ValueError(f"search side must be 'left' or 'right' (got {side!r})")
    if sorter is None:
        node = host_value("searchsorted", _searchsorted, [a._node, v._node], (v.shape, _INDEX),
                          (side,))
        return LazyArray(node)
    s = _array(sorter)
    if s.dtype.kind not in "iu":
        raise TypeError("searchsorted: sorter must only contain integers")
    if s.shape != a.shape:
        raise ValueError(f"searchsorted: sorter.size must equal a.size (sorter has shape "
                         f"{s.shape}, x1 {a.shape})")
    node = host_value("searchsorted", _searchsorted_sorter, [a._node, v._node, s._node],
                      (v.shape, _INDEX), (side,))
    return LazyArray(node)


# -- set functions: data-dependent sizes, evaluated at call time -----------------------------
class UniqueAllResult(NamedTuple):
    values: LazyArray
    indices: LazyArray
    inverse_indices: LazyArray
    counts: LazyArray


class UniqueCountsResult(NamedTuple):
    values: LazyArray
    counts: LazyArray


class UniqueInverseResult(NamedTuple):
    values: LazyArray
    inverse_indices: LazyArray


def _evaluated(x: Any) -> np.ndarray:
    """``x``'s value on the host (a lazy expression is evaluated now)."""
    # (np.asarray of a lazy array copies a device result to the host)
    a = x if isinstance(x, np.ndarray) else np.asarray(_array(x))
    build.leaf(a)  # the dtype check: complex and float16 are refused with a TypeError
    return a


def _unique(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(values, first indices, inverse indices, counts) of the flattened ``x``, in ascending
    order. Groups are runs of equal neighbours after a stable sort, so each NaN (unequal to
    everything) is its own value, -0.0 and +0.0 are one value (whichever occurs first in
    ``x``), and the first element of a group is its first occurrence."""
    flat = x.reshape(-1)
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    starts_group = np.ones(ordered.size, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=starts_group[1:])
    starts = np.flatnonzero(starts_group)
    values = ordered[starts]
    indices = order[starts].astype(_INDEX, copy=False)
    counts = np.diff(np.append(starts, ordered.size)).astype(_INDEX, copy=False)
    inverse = np.empty(flat.size, dtype=_INDEX)
    inverse[order] = np.cumsum(starts_group, dtype=_INDEX) - 1
    return values, indices, inverse.reshape(x.shape), counts


def _leaves(*arrays: np.ndarray) -> list[LazyArray]:
    # (np.ascontiguousarray would make a 0-d inverse 1-d)
    return [LazyArray(build.leaf(np.asarray(a, order="C"))) for a in arrays]


def unique_all(x: Any, /) -> UniqueAllResult:
    """The unique values of ``x`` (flattened, ascending), the flat index of each one's first
    occurrence, the indices into ``values`` that rebuild ``x`` (shaped like ``x``) and the
    counts. Their sizes depend on the data: ``x`` is evaluated when this is called and the
    results are lazy leaves.

    As the standard says (NumPy's ``unique`` can merge NaNs), every NaN is a distinct value
    with a count of one, and -0.0 and +0.0 are one value, the one occurring first."""
    values, indices, inverse, counts = _unique(_evaluated(x))
    return UniqueAllResult(*_leaves(values, indices, inverse, counts))


def unique_counts(x: Any, /) -> UniqueCountsResult:
    """``(values, counts)`` of :func:`unique_all` (``x`` is evaluated when this is called)."""
    values, _, _, counts = _unique(_evaluated(x))
    return UniqueCountsResult(*_leaves(values, counts))


def unique_inverse(x: Any, /) -> UniqueInverseResult:
    """``(values, inverse_indices)`` of :func:`unique_all` (``x`` is evaluated when this is
    called); ``inverse_indices`` has the shape of ``x``."""
    values, _, inverse, _ = _unique(_evaluated(x))
    return UniqueInverseResult(*_leaves(values, inverse))


def unique_values(x: Any, /) -> LazyArray:
    """The unique values of :func:`unique_all`, ascending, NaNs last and each distinct
    (``x`` is evaluated when this is called)."""
    return _leaves(_unique(_evaluated(x))[0])[0]


# -- searching ------------------------------------------------------------------------------
def nonzero(x: Any, /) -> tuple[LazyArray, ...]:
    """The int64 indices of ``x``'s non-zero elements, one array per dimension, in C order.
    Their size depends on the data: ``x`` is evaluated when this is called and the results
    are lazy leaves. A 0-d ``x`` is a ValueError (as the standard and NumPy 2 say)."""
    a = _evaluated(x)
    if a.ndim == 0:
        raise ValueError("nonzero: a zero-dimensional array has no indices "
                         "(use la.reshape(x, (1,)) first)")
    return tuple(_leaves(*(i.astype(_INDEX, copy=False) for i in np.nonzero(a))))


def count_nonzero(x: Any, /, axis: Any = None, *, keepdims: bool = False) -> LazyArray:
    """The number of non-zero elements (NaN counts, -0.0 does not) along ``axis`` (an int,
    a tuple or None for all), as int64: a fused sum of ``x != 0``."""
    a = _array(x)
    nonzero_mask = build.apply(Op.NOT_EQUAL, a._node, 0)
    return LazyArray(reductions.simple(ReduceKind.SUM, nonzero_mask, axis, keepdims, _INDEX))


def argmax(x: Any, /, axis: int | None = None, out: Any = None, *,
           keepdims: bool = False) -> Any:
    """The int64 index of the first maximum (a NaN is the maximum) along ``axis``, or in
    the flattened array for ``axis=None``; an empty axis is a ValueError as in NumPy."""
    return _array(x).argmax(axis, out, keepdims=keepdims)


def argmin(x: Any, /, axis: int | None = None, out: Any = None, *,
           keepdims: bool = False) -> Any:
    """The int64 index of the first minimum (a NaN is the minimum) along ``axis``, or in
    the flattened array for ``axis=None``; an empty axis is a ValueError as in NumPy."""
    return _array(x).argmin(axis, out, keepdims=keepdims)


def where(condition: Any, x1: Any, x2: Any, /) -> LazyArray:
    """``x1`` where ``condition`` is true, else ``x2``, broadcast together; ``x1`` and ``x2``
    may be Python scalars, which take the other operand's dtype as NumPy 2's weak scalars
    (two Python scalars: NumPy's default dtypes)."""
    return functions.where(condition, x1, x2)


# -- statistical functions --------------------------------------------------------------------
def _accumulator(name: str, dtype: np.dtype) -> np.dtype | None:
    """The standard's dtype of a sum or product of ``dtype`` when NumPy's differs (NumPy's
    is the platform's C long: int32 where that is 32 bits), else None."""
    if dtype.kind in "biu":
        wanted = np.dtype(np.uint64) if dtype.kind == "u" else _INDEX
        if reductions.result_dtype(name, dtype, None) != wanted:
            return wanted
    return None


def sum(x: Any, /, axis: Any = None, dtype: Any = None, out: Any = None,
        keepdims: bool = False) -> Any:
    """The sum over ``axis`` (int, tuple, None for all), fused with what feeds it. Without
    ``dtype``: a float keeps its dtype, a signed integer or bool sums in int64, an unsigned
    one in uint64 (the standard's rule, NumPy's on 64-bit Linux); an empty sum is 0."""
    a = _array(x)
    if dtype is None:
        dtype = _accumulator("sum", a.dtype)
    return a.sum(axis, dtype, out, keepdims)


def prod(x: Any, /, axis: Any = None, dtype: Any = None, out: Any = None,
         keepdims: bool = False) -> Any:
    """The product over ``axis``, with :func:`sum`'s dtype rule; an empty product is 1."""
    a = _array(x)
    if dtype is None:
        dtype = _accumulator("prod", a.dtype)
    return a.prod(axis, dtype, out, keepdims)


def max(x: Any, /, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """The maximum over ``axis``; NaN propagates; an empty axis is a ValueError (NumPy's)."""
    return _array(x).max(axis, out, keepdims)


def min(x: Any, /, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
    """The minimum over ``axis``; NaN propagates; an empty axis is a ValueError (NumPy's)."""
    return _array(x).min(axis, out, keepdims)


def mean(x: Any, /, axis: Any = None, dtype: Any = None, out: Any = None,
         keepdims: bool = False) -> Any:
    """The mean over ``axis``: float64 for integer and bool input, else the input's dtype;
    the mean of nothing is NaN (without NumPy's warning)."""
    return _array(x).mean(axis, dtype, out, keepdims)


def _correction(ddof: Any, correction: Any) -> int | float:
    if ddof is not None and correction is not None:
        raise ValueError("ddof and correction can't be provided simultaneously.")
    c = correction if ddof is None else ddof
    if c is None:
        return 0
    if isinstance(c, float | np.floating) and float(c).is_integer():
        return int(c)  # an int ddof lets the reduction's memo find an earlier one
    return c


def _spread(method: str, x: Any, axis: Any, dtype: Any, out: Any, ddof: Any,
            keepdims: bool, correction: Any) -> Any:
    a = _array(x)
    c = _correction(ddof, correction)
    result = getattr(a, method)(axis, dtype, None, c, keepdims)
    n = math.prod(a.shape[d] for d in reductions.axes_of(axis, a.ndim))
    if n - c <= 0 and result.dtype.kind == "f":
        # the standard: NaN when nothing is left to divide by (NumPy divides by max(n - c, 0)
        # and gives inf for a non-zero sum of squares)
        nan = build.scalar(np.nan, result.dtype)
        result = LazyArray(build.broadcast_to(nan, result.shape))
    return _finish(result, out)


def var(x: Any, /, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = None,
        keepdims: bool = False, *, correction: Any = None) -> Any:
    """The variance over ``axis`` with divisor ``M - correction`` (``ddof`` is NumPy's name
    for it; give one of them). NumPy's two-pass formula, fused; float64 for integer input.
    Where ``M - correction <= 0`` the result is NaN as the standard says (NumPy gives inf for
    a non-zero sum of squares there)."""
    return _spread("var", x, axis, dtype, out, ddof, keepdims, correction)


def std(x: Any, /, axis: Any = None, dtype: Any = None, out: Any = None, ddof: Any = None,
        keepdims: bool = False, *, correction: Any = None) -> Any:
    """The square root of :func:`var` (same arguments, same NaN where ``M - correction <=
    0``)."""
    return _spread("std", x, axis, dtype, out, ddof, keepdims, correction)
