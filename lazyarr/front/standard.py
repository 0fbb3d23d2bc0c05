"""The array API standard's (2024.12) elementwise names, manipulation, utility and linear
algebra functions where lazyarr lacked them or took other arguments.

Everything here is made of lazyarr's own ops, views and opaque steps, so a result is a lazy
array that fuses like any other expression. Values, dtypes, shapes and exception types are
those of NumPy 2's function of the same name, except where NumPy departs from the standard:
each docstring says where (the standard wins there).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from lazyarr.front import build, opaque, reductions, views
from lazyarr.front import functions as _functions
from lazyarr.front.array import LazyArray
from lazyarr.front.creation import fresh  # a new array's memory for what would be a view
from lazyarr.front.functions import UFUNC_FUNCTIONS, asarray
from lazyarr.ir.graph import Node, Op, ReduceKind

# -- elementwise functions under the standard's names ---------------------------------------
# NumPy 2 has these names too, for the same ufuncs: aliases, not new functions
acos = UFUNC_FUNCTIONS["arccos"]
acosh = UFUNC_FUNCTIONS["arccosh"]
asin = UFUNC_FUNCTIONS["arcsin"]
asinh = UFUNC_FUNCTIONS["arcsinh"]
atan = UFUNC_FUNCTIONS["arctan"]
atan2 = UFUNC_FUNCTIONS["arctan2"]
atanh = UFUNC_FUNCTIONS["arctanh"]
bitwise_left_shift = UFUNC_FUNCTIONS["left_shift"]
bitwise_invert = UFUNC_FUNCTIONS["invert"]
bitwise_right_shift = UFUNC_FUNCTIONS["right_shift"]


def clip(x: Any, /, min: Any = None, max: Any = None) -> LazyArray:
    """The standard's ``clip(x, /, min=None, max=None)``: NumPy's ``clip`` (a NaN in ``x``,
    ``min`` or ``max`` gives NaN; ``min > max`` gives ``max``), with the bounds named as the
    standard names them. With both bounds None the values of ``x`` are returned."""
    return _functions.clip(x, min, max)


def _n(x: Any) -> Node:
    return x._node if type(x) is LazyArray else asarray(x)._node


# -- manipulation ----------------------------------------------------------------------------
def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """NumPy's ``broadcast_shapes``: the shape all of ``shapes`` broadcast to (ValueError
    when they do not)."""
    return np.broadcast_shapes(*shapes)


def broadcast_arrays(*arrays: Any) -> list[LazyArray]:
    """Each array broadcast (a view) to the shape they all broadcast to.

    A list, as the standard says (NumPy 2 returns a tuple); each keeps its own dtype.
    """
    nodes = [_n(a) for a in arrays]
    if not nodes:
        return []
    shape = build.broadcast_shapes([n.shape for n in nodes], "broadcast_arrays")
    return [LazyArray(build.broadcast_to(n, shape)) for n in nodes]


def concat(arrays: Sequence[Any], /, *, axis: int | None = 0) -> LazyArray:
    """Join ``arrays`` along an existing ``axis`` (None: flattened first), with NumPy's type
    promotion: lazy, an opaque step evaluated from its evaluated inputs."""
    return LazyArray(opaque.concatenate([_n(a) for a in arrays], axis))


def unstack(x: Any, /, *, axis: int = 0) -> tuple[LazyArray, ...]:
    """The slices of ``x`` along ``axis``, as a tuple of views (no copies)."""
    node = _n(x)
    if node.ndim == 0:
        raise ValueError("Input array must be at least 1-d.")
    ax = normalize_axis_index(axis, node.ndim)
    lead = (slice(None),) * ax
    return tuple(LazyArray(views.getitem(node, (*lead, i))) for i in range(node.shape[ax]))


def expand_dims(x: Any, /, axis: int | tuple[int, ...] = 0) -> LazyArray:
    """A view of ``x`` with a new axis of size one at ``axis`` (a tuple: one at each).

    An axis out of ``[-N-1, N]`` raises NumPy's ``AxisError``, an ``IndexError`` as the
    standard asks (and a ``ValueError``).
    """
    return LazyArray(views.expand_dims(_n(x), axis))


def _reshape_nodes(node: Node) -> set[int]:
    """Ids of the copying reshapes (``Op.RESHAPE``) in ``node``'s graph."""
    found: set[int] = set()
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if n.op is Op.RESHAPE:
            found.add(id(n))
        stack.extend(n.src)
    return found


def reshape(x: Any, /, shape: Any, *, copy: bool | None = None) -> LazyArray:
    """``x`` with a new ``shape`` (one entry may be -1), in C order.

    ``copy=None``: a view where a strided view expresses it, else a copy made when evaluated.
    ``copy=False``: ValueError where a copy would be needed (lazyarr would evaluate a
    captured array or an intermediate into a buffer first; NumPy's message).
    ``copy=True``: the result never shares memory with ``x``'s data (it is evaluated by a
    kernel rather than returned as a view of a captured array).
    """
    node = _n(x)
    result = views.reshape(node, shape)
    if copy is False and _reshape_nodes(result) - _reshape_nodes(node):
        raise ValueError("Unable to avoid creating a copy while reshaping.")
    return LazyArray(fresh(result) if copy else result)


def roll(x: Any, /, shift: int | tuple[int, ...], *,
         axis: int | tuple[int, ...] | None = None) -> LazyArray:
    """Elements of ``x`` shifted along ``axis`` (None: the flattened array, then its shape
    restored), those that leave one end coming back at the other.

    Lazy: two slices (views) of ``x`` joined by a concatenation per rolled axis. Shifts of
    an axis given twice add up, as in NumPy.
    """
    node = _n(x)
    if axis is None:
        return LazyArray(fresh(views.reshape(_roll(views.ravel(node), shift, 0), node.shape)))
    return LazyArray(fresh(_roll(node, shift, axis)))


def _roll(node: Node, shift: Any, axis: Any) -> Node:
    axes = normalize_axis_tuple(axis, node.ndim, allow_duplicate=True)
    pairs = np.broadcast(shift, axes)
    if pairs.ndim > 1:
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    shifts = dict.fromkeys(range(node.ndim), 0)
    for sh, ax in pairs:
        shifts[int(ax)] += int(sh)
    for ax, total in shifts.items():
        n = node.shape[ax]
        if n == 0 or total % n == 0:
            continue
        cut = n - total % n
        lead = (slice(None),) * ax
        tail = views.getitem(node, (*lead, slice(cut, None)))
        head = views.getitem(node, (*lead, slice(None, cut)))
        node = opaque.concatenate([tail, head], ax)
    return node


def repeat(x: Any, repeats: Any, /, *, axis: int | None = None) -> LazyArray:
    """Each element of ``x`` repeated ``repeats`` times along ``axis`` (None: along the
    flattened array).

    An int ``repeats`` is a broadcast view reshaped (lazy). An array of repeats decides the
    result's shape by its values, so it is evaluated now (a lazy one too); the result is a
    lazy gather (``la.take``) of ``x`` at the indices it gives. Errors are NumPy's (a
    negative count, an array of float counts, repeats of the wrong length); a Python float
    count is truncated, as NumPy does.
    """
    node = _n(x)
    if axis is None or node.ndim == 0:  # NumPy repeats a 0-d array along axis 0 or -1 as 1-d
        node = views.ravel(node)
    ax = 0 if axis is None else normalize_axis_index(axis, node.ndim)
    n = node.shape[ax]
    if isinstance(repeats, LazyArray):
        repeats = repeats.eval()
    if isinstance(repeats, np.ndarray | list | tuple):
        counts = np.asarray(repeats)
        if counts.size != 1:
            indices = np.repeat(np.arange(n), counts)  # NumPy's checks of the counts
            return LazyArray(opaque.take(node, build.leaf(indices), ax))
        np.repeat(np.arange(1), counts)  # a float or negative count fails as in NumPy
        repeats = counts.reshape(())[()]
    # NumPy truncates a float count (2.5 repeats twice); the standard asks for an int
    count = int(repeats) if isinstance(repeats, float | np.floating) else \
        operator.index(repeats)
    if count < 0:
        raise ValueError("negative dimensions are not allowed")
    before, after = node.shape[:ax + 1], node.shape[ax + 1:]
    spread = build.broadcast_to(views.expand_dims(node, ax + 1), (*before, count, *after))
    return LazyArray(fresh(views.reshape(spread, (*node.shape[:ax], n * count, *after))))


def tile(x: Any, repetitions: Any, /) -> LazyArray:
    """``x`` repeated ``repetitions[i]`` times along axis ``i`` (the shorter of ``x.shape``
    and ``repetitions`` padded with leading ones), lazily: a broadcast view reshaped."""
    node = _n(x)
    reps = tuple(repetitions) if isinstance(repetitions, Sequence | np.ndarray) \
        else (repetitions,)
    reps = tuple(operator.index(r) for r in reps)
    if any(r < 0 for r in reps):
        raise ValueError("negative dimensions are not allowed")
    d = max(node.ndim, len(reps))
    shape = (1,) * (d - node.ndim) + node.shape
    reps = (1,) * (d - len(reps)) + reps
    node = views.reshape(node, shape)
    if not d:
        return LazyArray(fresh(node))
    # (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...): row-major, that is the tiling
    spread = views.expand_dims(node, tuple(range(0, 2 * d, 2)))
    spread = build.broadcast_to(spread, tuple(v for pair in zip(reps, shape, strict=True)
                                              for v in pair))
    tiled = views.reshape(spread, tuple(r * s for r, s in zip(reps, shape, strict=True)))
    return LazyArray(fresh(tiled))


# -- utility ---------------------------------------------------------------------------------
def diff(x: Any, /, *, axis: int = -1, n: int = 1, prepend: Any = None,
         append: Any = None) -> LazyArray:
    """The ``n``-th forward difference along ``axis``: ``x[1:] - x[:-1]`` applied ``n`` times
    (``!=`` for bool, as in NumPy), lazily: views of ``x`` and one fused subtraction.

    ``prepend``/``append`` are joined to ``x`` along ``axis`` first (a 0-d one is broadcast
    to one slice; NumPy's promotion). Unlike NumPy, ``n=0`` still checks ``x`` and joins
    ``prepend``/``append``, as the standard's size rule ``M + N1 + N2 - n`` says.
    """
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"order must be non-negative but got {n!r}")
    node = _n(x)
    if node.ndim == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    ax = normalize_axis_index(axis, node.ndim)
    parts = []
    for extra, at in ((prepend, 0), (None, 1), (append, 2)):
        if at == 1:
            parts.append(node)
        elif extra is not None:
            part = _n(extra)
            if part.ndim == 0:
                one = (*node.shape[:ax], 1, *node.shape[ax + 1:])
                part = build.broadcast_to(part, one)
            parts.append(part)
    if len(parts) > 1:
        node = opaque.concatenate(parts, ax)
    op = Op.NOT_EQUAL if node.dtype.kind == "b" else Op.SUBTRACT
    lead = (slice(None),) * ax
    for _ in range(n):
        upper = views.getitem(node, (*lead, slice(1, None)))
        lower = views.getitem(node, (*lead, slice(None, -1)))
        node = build.apply(op, upper, lower)
    return LazyArray(fresh(node))


# -- linear algebra --------------------------------------------------------------------------
def _axis_list(axes: Any) -> list[int]:
    try:
        return [operator.index(a) for a in axes]
    except TypeError:
        return [operator.index(axes)]


def tensordot(x1: Any, x2: Any, /, *, axes: Any = 2) -> LazyArray:
    """NumPy's ``tensordot``: the sum of products over ``axes`` (an int N: the last N axes
    of ``x1`` with the first N of ``x2``; or two sequences of axes), through lazyarr's matmul
    (BLAS) on ``x1`` and ``x2`` permuted and reshaped to matrices.

    Contracted axes must have equal sizes (no broadcasting: ValueError). A negative int
    ``axes`` is a ValueError, as the standard asks (NumPy reads it as an outer product of
    reordered axes); an axis out of range is NumPy's ``AxisError`` (an IndexError).
    """
    a, b = _n(x1), _n(x2)
    if isinstance(axes, int | np.integer):
        k = operator.index(axes)
        if k < 0:
            raise ValueError(f"tensordot: axes must be a non-negative integer, not {k}")
        if k > a.ndim or k > b.ndim:
            raise IndexError("tuple index out of range")  # NumPy's
        axes_a, axes_b = list(range(a.ndim - k, a.ndim)), list(range(k))
    else:
        first, second = axes
        axes_a, axes_b = _axis_list(first), _axis_list(second)
    axes_a = [normalize_axis_index(d, a.ndim) for d in axes_a]
    axes_b = [normalize_axis_index(d, b.ndim) for d in axes_b]
    if len(axes_a) != len(axes_b) or any(
            a.shape[i] != b.shape[j] for i, j in zip(axes_a, axes_b, strict=True)):
        raise ValueError("shape-mismatch for sum")
    free_a = [d for d in range(a.ndim) if d not in axes_a]
    free_b = [d for d in range(b.ndim) if d not in axes_b]
    k_size = math.prod(a.shape[d] for d in axes_a)
    left = views.permute_dims(a, tuple(free_a + axes_a))
    right = views.permute_dims(b, tuple(axes_b + free_b))
    shape_a = tuple(a.shape[d] for d in free_a)
    shape_b = tuple(b.shape[d] for d in free_b)
    left = views.reshape(left, (math.prod(shape_a), k_size))
    right = views.reshape(right, (k_size, math.prod(shape_b)))
    return LazyArray(views.reshape(opaque.matmul(left, right), shape_a + shape_b))


def vecdot(x1: Any, x2: Any, /, *, axis: int = -1) -> LazyArray:
    """The dot product of the vectors along ``axis``: ``sum(conj(x1) * x2, axis)`` with the
    other axes broadcast, in the promoted dtype (integers wrap; bool is or-of-ands), as
    NumPy's ``vecdot``: one fused multiply and sum, no temporary.

    ``axis`` counts in each operand (NumPy's gufunc rule; the standard asks for a negative
    one). The vector axes must have the same size (not broadcast: ValueError).
    """
    a, b = _n(x1), _n(x2)
    for k, node in enumerate((a, b)):
        if node.ndim == 0:
            raise ValueError(f"vecdot: Input operand {k} does not have enough dimensions "
                             "(has 0, gufunc core with signature (n),(n)->() requires 1)")
    a = views.moveaxis(a, normalize_axis_index(axis, a.ndim), -1)
    b = views.moveaxis(b, normalize_axis_index(axis, b.ndim), -1)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"vecdot: Input operand 1 has a mismatch in its core dimension 0, "
                         f"with gufunc signature (n),(n)->() (size {b.shape[-1]} is different "
                         f"from {a.shape[-1]})")
    build.broadcast_shapes([a.shape[:-1], b.shape[:-1]], "vecdot")
    # conj(x1) of a real x1 is x1 itself (and NumPy's conjugate of bool would be int8)
    if a.dtype.kind == "c":
        a = build.apply(Op.CONJUGATE, a)
    product = build.apply(Op.MULTIPLY, a, b)
    last = (product.ndim - 1,)
    return LazyArray(reductions.reduce(ReduceKind.SUM, product, last, False, product.dtype))


__all__ = [
    "acos", "acosh", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_invert",
    "bitwise_left_shift", "bitwise_right_shift", "broadcast_arrays", "broadcast_shapes",
    "clip", "concat", "diff", "expand_dims", "repeat", "reshape", "roll", "tensordot", "tile",
    "unstack", "vecdot",
]
