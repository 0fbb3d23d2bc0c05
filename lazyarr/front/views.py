"""Views: indexing, transposes, reshapes and friends, all without copying.

On a leaf (a captured NumPy array) each view is NumPy's own view of the array, so the result,
the errors and the zero-copy guarantee are NumPy's. On an expression it is a movement node
(``VIEW`` for slices, integer indices and new axes; ``PERMUTE``; ``BROADCAST``) that lowering
folds into each input's strides, so ``(a + b)[::2].T * c`` is still one kernel. A reshape of
an expression is pushed through elementwise ops to their inputs; only where that fails is the
producer evaluated into a buffer first (the ``RESHAPE`` node).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from lazyarr.front import build
from lazyarr.ir.graph import ELEMENTWISE, Node, Op, ViewMap, make


def _leaf_array(node: Node) -> np.ndarray | None:
    # a captured device array (lazyarr.backends.cuda_memory) has no NumPy views: it gets
    # movement nodes
    if node.op is Op.LEAF and isinstance(node.arg.array, np.ndarray):
        return node.arg.array
    return None


def _leaf(array: np.ndarray, parent: Node, redo: Callable[[Node], Node]) -> Node:
    """A leaf over ``array``, NumPy's view of leaf ``parent``; ``redo`` takes the same view of
    any node, so that gradients reach ``parent`` (lazyarr/front/autodiff.py)."""
    return build.leaf(array, (parent, redo))


def view(node: Node, shape: tuple[int, ...], vmap: ViewMap) -> Node:
    if shape == node.shape and vmap == tuple((d, 1, 0) for d in range(node.ndim)):
        return node
    return make(Op.VIEW, node.dtype, tuple(shape), (node,), vmap)


# -- basic indexing --------------------------------------------------------------------
_INDEX_ERROR = ("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and "
                "integer or boolean arrays are valid indices")


def is_basic_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return all(i is None or i is Ellipsis or isinstance(i, slice) or _is_int(i) for i in items)


def _is_int(i: Any) -> bool:
    if isinstance(i, bool | np.bool_):
        return False
    try:
        operator.index(i)
    except TypeError:
        return False
    return not isinstance(i, np.ndarray) or i.ndim == 0


def _expand_ellipsis(items: tuple, ndim: int) -> list:
    if sum(i is Ellipsis for i in items) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, "
                         f"but {consumed} were indexed")
    fill = [slice(None)] * (ndim - consumed)
    if Ellipsis in items:
        k = items.index(Ellipsis)
        return list(items[:k]) + fill + list(items[k + 1:])
    return list(items) + fill


def getitem(node: Node, index: Any) -> Node:
    """``node[index]`` for basic indices (integers, slices, None, ...)."""
    array = _leaf_array(node)
    if array is not None:
        # a trailing ``...`` keeps a full integer index a 0-d view instead of a scalar copy
        items = index if isinstance(index, tuple) else (index,)
        if not any(item is Ellipsis for item in items):
            items = (*items, Ellipsis)
        return _leaf(array[items], node, lambda p: getitem(p, index))
    items = _expand_ellipsis(index if isinstance(index, tuple) else (index,), node.ndim)
    shape: list[int] = []
    vmap: list[tuple[int | None, int, int]] = []
    for item in items:
        if item is None:
            shape.append(1)
            continue
        n = node.shape[len(vmap)]
        if isinstance(item, slice):
            start, stop, step = item.indices(n)
            vmap.append((len(shape), step, start))
            shape.append(len(range(start, stop, step)))
            continue
        i = operator.index(item)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of bounds for axis {len(vmap)} with size {n}")
        vmap.append((None, 0, i % n))
    return view(node, tuple(shape), tuple(vmap))


# -- axes and shapes -------------------------------------------------------------------
def expand_dims(node: Node, axis: int | tuple[int, ...]) -> Node:
    array = _leaf_array(node)
    if array is not None:
        return _leaf(np.expand_dims(array, axis), node, lambda p: expand_dims(p, axis))
    axes = normalize_axis_tuple(axis, node.ndim + (1 if np.ndim(axis) == 0 else len(axis)))
    shape, vmap, src = [], [], 0
    for d in range(node.ndim + len(axes)):
        if d in axes:
            shape.append(1)
        else:
            vmap.append((d, 1, 0))
            shape.append(node.shape[src])
            src += 1
    return view(node, tuple(shape), tuple(vmap))


def squeeze(node: Node, axis: int | tuple[int, ...] | None = None) -> Node:
    array = _leaf_array(node)
    if array is not None:
        return _leaf(np.squeeze(array, axis), node, lambda p: squeeze(p, axis))
    if axis is None:
        axes = tuple(d for d, n in enumerate(node.shape) if n == 1)
    else:
        axes = normalize_axis_tuple(axis, node.ndim)
        if any(node.shape[a] != 1 for a in axes):
            raise ValueError("cannot select an axis to squeeze out which has size "
                             "not equal to one")
    shape, vmap = [], []
    for d, n in enumerate(node.shape):
        if d in axes:
            vmap.append((None, 0, 0))
        else:
            vmap.append((len(shape), 1, 0))
            shape.append(n)
    return view(node, tuple(shape), tuple(vmap))


def flip(node: Node, axis: int | tuple[int, ...] | None = None) -> Node:
    axes = range(node.ndim) if axis is None else normalize_axis_tuple(axis, node.ndim)
    if not axes:
        return node  # np.flip of a 0-d array would copy it into a scalar
    array = _leaf_array(node)
    if array is not None:
        return _leaf(np.flip(array, axis), node, lambda p: flip(p, axis))
    vmap = tuple((d, -1, max(n - 1, 0)) if d in axes else (d, 1, 0)
                 for d, n in enumerate(node.shape))
    return view(node, node.shape, vmap)


def permute_dims(node: Node, axes: tuple[int, ...] | None = None) -> Node:
    if axes is None:
        axes = tuple(reversed(range(node.ndim)))
    if len(axes) != node.ndim:
        raise ValueError("axes don't match array")
    norm = tuple(normalize_axis_index(a, node.ndim) for a in axes)
    if sorted(norm) != list(range(node.ndim)):
        raise ValueError("repeated axis in transpose")
    array = _leaf_array(node)
    if array is not None:
        return _leaf(array.transpose(norm), node, lambda p: build.permute(p, norm))
    return build.permute(node, norm)


def swapaxes(node: Node, a: int, b: int) -> Node:
    a, b = normalize_axis_index(a, node.ndim), normalize_axis_index(b, node.ndim)
    axes = list(range(node.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return permute_dims(node, tuple(axes))


def moveaxis(node: Node, source: Any, destination: Any) -> Node:
    src = normalize_axis_tuple(source, node.ndim, "source")
    dst = normalize_axis_tuple(destination, node.ndim, "destination")
    if len(src) != len(dst):
        raise ValueError("`source` and `destination` arguments must have the same number "
                         "of elements")
    order = [n for n in range(node.ndim) if n not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return permute_dims(node, tuple(order))


def matrix_transpose(node: Node) -> Node:
    if node.ndim < 2:
        raise ValueError("matrix transpose with ndim < 2 is undefined")
    return swapaxes(node, -1, -2)


def broadcast_to(node: Node, shape: Any) -> Node:
    shape = (operator.index(shape),) if np.ndim(shape) == 0 else tuple(map(operator.index, shape))
    if any(n < 0 for n in shape):
        raise ValueError("all elements of broadcast shape must be non-negative")
    ok = len(shape) >= node.ndim and all(
        s in (1, t) for s, t in zip(node.shape, shape[len(shape) - node.ndim:], strict=True))
    if not ok:
        raise ValueError(f"operands could not be broadcast together with remapped shapes "
                         f"[original->remapped]: {node.shape} and requested shape {shape}")
    return build.broadcast_to(node, shape)


def reshape_target(size: int, shape: Any) -> tuple[int, ...]:
    """NumPy's reading of a requested shape, with its errors."""
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    shape = tuple(operator.index(n) for n in shape)
    unknown = [k for k, n in enumerate(shape) if n == -1]
    if len(unknown) > 1:
        raise ValueError("can only specify one unknown dimension")
    if any(n < -1 for n in shape):
        raise ValueError("negative dimensions not allowed")
    known = math.prod(n for n in shape if n != -1)
    if unknown and known and size % known == 0:
        shape = tuple(size // known if n == -1 else n for n in shape)
    if -1 in shape or math.prod(shape) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    return shape


def reshape(node: Node, shape: Any) -> Node:
    target = reshape_target(node.size, shape)
    if target == node.shape:
        return node
    return _reshape(node, target, {})


def _reshape(node: Node, shape: tuple[int, ...], memo: dict) -> Node:
    key = id(node)
    if key in memo:
        return memo[key]
    array = _leaf_array(node)
    if array is not None:
        try:
            result = _leaf(array.reshape(shape, copy=False), node,
                           lambda p: reshape(p, shape))
        except ValueError:  # no strided view can express it: copy when evaluated
            result = make(Op.RESHAPE, node.dtype, shape, (node,))
    elif node.op is Op.SCALAR:
        result = build.broadcast_to(node, shape)
    elif node.op is Op.BROADCAST and node.src[0].size == 1:
        result = build.broadcast_to(_reshape(node.src[0], (1,) * len(shape), memo), shape)
    elif node.op in ELEMENTWISE:
        # elementwise ops commute with reshapes: reshape the inputs instead
        srcs = tuple(_reshape(s, shape, memo) for s in node.src)
        result = make(node.op, node.dtype, shape, srcs, node.arg)
    else:
        result = make(Op.RESHAPE, node.dtype, shape, (node,))
    memo[key] = result
    return result


def ravel(node: Node) -> Node:
    return reshape(node, (-1,))

