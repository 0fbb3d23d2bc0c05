"""Cumulative sums and products (the array API's ``cumulative_sum``, ``cumulative_prod``).

Each is one ``Op.SCAN`` node, which fuses like a reduction of its axis: what it scans is
computed inside the scan's kernel (``cumulative_sum(a * b + 1)`` reads ``a`` and ``b`` once
and writes only the result), and an elementwise expression of the result joins that kernel
when the scan's axis is the last one. The kernel walks each row in order and carries the
running value from one element to the next, one plain add or multiply each: NumPy's
sequential ``add.accumulate``, so float results have NumPy's bits. A SCAN always runs
along its last axis; another axis is moved there and back, as views.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from lazyarr.front import build, opaque, reductions, views
from lazyarr.front.array import _ARRAY_FUNCTIONS, LazyArray
from lazyarr.ir.graph import Node, Op, ReduceKind, make

__all__ = ["cumulative_prod", "cumulative_sum"]

_IDENTITY = {ReduceKind.SUM: 0, ReduceKind.PROD: 1}


def scan(kind: ReduceKind, x: Node, axis: int) -> Node:
    """The SCAN node of ``kind`` along ``axis`` (normalised) of ``x``, in ``x``'s dtype."""
    last = x.ndim - 1
    moved = x if axis == last else views.moveaxis(x, axis, last)
    node = make(Op.SCAN, x.dtype, moved.shape, (moved,), kind)
    return node if axis == last else views.moveaxis(node, last, axis)


def _cumulative(kind: ReduceKind, name: str, x: Any, axis: Any, dtype: Any,
                include_initial: bool) -> LazyArray:
    node = build.operand_node(x, name)
    if node.ndim == 0:
        # the standard asks for at least one dimension (NumPy takes a 0-d array as 1-d)
        raise ValueError(f"{name}: x must have at least one dimension (array API standard); "
                         "use reshape(x, (1,)) for a one-element result")
    if axis is None:
        if node.ndim > 1:
            raise ValueError(f"{name}: axis is required for an array of {node.ndim} "
                             "dimensions (only a 1-D array may leave it out)")
        ax = 0
    else:
        ax = normalize_axis_index(axis, node.ndim)  # AxisError, as NumPy
    dt = None if dtype is None else np.dtype(dtype)
    if node.dtype.kind == "c" or (dt is not None and dt.kind == "c"):
        return LazyArray(_complex(kind, node, ax, dt, include_initial))
    # the standard's dtype rules are sum's and prod's: integers in the default 64-bit
    # integer of their signedness, bool as int64 (or as bool when asked: or / and)
    out = reductions.result_dtype("sum" if kind is ReduceKind.SUM else "prod", node.dtype, dt)
    result = scan(kind, build.cast(node, out), ax)
    if include_initial:
        shape = list(result.shape)
        shape[ax] = 1
        first = build.broadcast_to(build.scalar(_IDENTITY[kind], out), tuple(shape))
        # a join (a copy of the scan into the longer result): a scan kernel's row is the
        # result's own, and this row starts with an element no input gives
        result = opaque.concatenate([first, result], ax)
    return LazyArray(result)


def _complex(kind: ReduceKind, node: Node, axis: int, dtype: np.dtype | None,
             include_initial: bool) -> Node:
    """A complex scan: a sum scans each part (exactly what adding complex numbers does); a
    product runs NumPy's ``cumulative_prod`` on the host."""
    from lazyarr.front import complexes  # (loaded with complex values only)

    z = build.astype(node, dtype if dtype is not None else node.dtype)
    if kind is ReduceKind.PROD:
        return complexes.host_value("cumulative_prod", _cumulative_prod, [z],
                                    (_scanned_shape(z.shape, axis, include_initial), z.dtype),
                                    (axis, include_initial))
    re, im = (_cumulative(kind, "cumulative_sum", LazyArray(p), axis, None,
                          include_initial)._node for p in z.src)
    return complexes.pair(re, im)


def _scanned_shape(shape: tuple[int, ...], axis: int, include_initial: bool
                   ) -> tuple[int, ...]:
    return (*shape[:axis], shape[axis] + include_initial, *shape[axis + 1:])


def _cumulative_prod(z: np.ndarray, axis: int, include_initial: bool) -> np.ndarray:
    return np.cumulative_prod(z, axis=axis, include_initial=include_initial)


def cumulative_sum(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                   include_initial: bool = False) -> LazyArray:
    """Cumulative sum of ``x`` along ``axis`` (array API standard 2024.12), lazily.

    ``axis`` may be left out only for a 1-D array. The result dtype is ``sum``'s: signed
    integers and bool accumulate in int64, unsigned integers in uint64, floats in their own
    dtype; ``dtype=`` casts each element first (``dtype=bool`` is a running logical or).
    ``include_initial=True`` prepends a 0 along ``axis`` (one more element there).
    Sums are sequential (each element the previous one plus the next value, rounded), as
    NumPy's ``cumsum``, so float results have NumPy's bits; integer overflow wraps.
    Differs from NumPy where NumPy deviates from the standard: a 0-d ``x`` is a
    ValueError (NumPy returns a 1-element array).
    """
    return _cumulative(ReduceKind.SUM, "cumulative_sum", x, axis, dtype, include_initial)


def cumulative_prod(x: Any, /, *, axis: int | None = None, dtype: Any = None,
                    include_initial: bool = False) -> LazyArray:
    """Cumulative product of ``x`` along ``axis`` (array API standard 2024.12), lazily.

    As :func:`cumulative_sum`, with products: ``include_initial=True`` prepends a 1, and
    ``dtype=bool`` is a running logical and. ``la.grad`` has no rule for it
    (NotImplementedError).
    """
    return _cumulative(ReduceKind.PROD, "cumulative_prod", x, axis, dtype, include_initial)


# np.cumulative_sum(lazy, ...) builds the lazy scan instead of evaluating its argument
_ARRAY_FUNCTIONS.update({getattr(np, f.__name__): f for f in (cumulative_sum, cumulative_prod)
                         if hasattr(np, f.__name__)})
