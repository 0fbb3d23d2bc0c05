"""Views: indexing, transposes, reshapes and friends, all without copying; and the indexing
that copies (gathers) and functional updates (``x[key] = value``).

On a leaf (a captured NumPy array) each view is NumPy's own view of the array, so the result,
the errors and the zero-copy guarantee are NumPy's. On an expression it is a movement node
(``VIEW`` for slices, integer indices and new axes; ``PERMUTE``; ``BROADCAST``) that lowering
folds into each input's strides, so ``(a + b)[::2].T * c`` is still one kernel. A reshape of
an expression is pushed through elementwise ops to their inputs; only where that fails is the
producer evaluated into a buffer first (the ``RESHAPE`` node).

Integer-array and boolean indices copy in NumPy too: here they are one ``TAKE`` (a gather) of
the array with the indexed axes flattened into one, at flat indices computed by NumPy (or
lazily, for lazy integer indices). A boolean mask decides the result's size, so only the mask
is evaluated when the expression is written. ``x[key] = value`` never writes memory: it is a
new expression, ``where(selected, value placed, x)``.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from lazyarr.front import build, complexes, opaque
from lazyarr.ir.graph import ELEMENTWISE, Buffer, Node, Op, ViewMap, make


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
    if node.op is Op.COMPLEX:
        return complexes.each(getitem, node, index)
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
    if node.op is Op.COMPLEX:
        return complexes.each(expand_dims, node, axis)
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
    if node.op is Op.COMPLEX:
        return complexes.each(squeeze, node, axis)
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
    if node.op is Op.COMPLEX:
        return complexes.each(flip, node, axis)
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
    if node.op is Op.COMPLEX:
        return complexes.each(reshape, node, target)
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
    elif node.op is Op.COUNTER:  # the C-order index does not depend on the shape
        result = make(Op.COUNTER, node.dtype, shape)
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



# -- advanced indexing: gathers --------------------------------------------------------------
_ARRAY_INDEX_ERROR = "arrays used as indices must be of integer (or boolean) type"


def _is_array(item: Any) -> bool:
    return isinstance(item, np.ndarray | Node)


def _is_mask(item: Any) -> bool:
    return _is_array(item) and item.dtype.kind == "b"


def index_items(index: Any) -> list:
    """``index`` as a list of items: None, Ellipsis, slices, ints, and integer or boolean
    arrays (NumPy arrays or nodes). A list or nested tuple is a NumPy array, as in NumPy;
    anything else is NumPy's IndexError."""
    return [_index_item(i) for i in (index if isinstance(index, tuple) else (index,))]


def _index_item(item: Any) -> Any:
    if item is None or item is Ellipsis or isinstance(item, slice):
        return item
    if isinstance(item, Node):
        if item.dtype.kind not in "biu":
            raise IndexError(_ARRAY_INDEX_ERROR)
        return item
    if isinstance(item, bool | np.bool_):
        return np.asarray(item)
    if _is_int(item):
        return operator.index(item)
    if isinstance(item, np.ndarray):
        array = item
    elif isinstance(item, list | tuple):
        array = np.asarray(item)
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.intp)  # x[[]]: NumPy takes nothing
    else:
        raise IndexError(_INDEX_ERROR)
    if array.dtype.kind not in "biu":
        raise IndexError(_ARRAY_INDEX_ERROR)
    return array


def _consumed(item: Any) -> int:
    """How many axes of the indexed array ``item`` indexes."""
    if item is None or item is Ellipsis:
        return 0
    return item.ndim if _is_mask(item) else 1


def _expand(items: list, ndim: int) -> list:
    """``items`` with the ellipsis replaced by full slices; NumPy's IndexErrors."""
    ellipses = [k for k, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    consumed = sum(_consumed(item) for item in items)
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, "
                         f"but {consumed} were indexed")
    fill = [slice(None)] * (ndim - consumed)
    if ellipses:
        return items[:ellipses[0]] + fill + items[ellipses[0] + 1:]
    return items + fill


def _host(node: Node) -> np.ndarray:
    """The value of ``node`` now: what decides a result's size cannot wait."""
    from lazyarr.run.evaluate import evaluate  # (the evaluator imports the front end)

    return np.asarray(evaluate([node])[0])


def _check_mask(mask_shape: tuple[int, ...], shape: tuple[int, ...], axis: int) -> None:
    for j, m in enumerate(mask_shape):
        n = shape[axis + j]
        if m != n and m:  # NumPy lets an empty mask dimension stand for any extent
            raise IndexError(f"boolean index did not match indexed array along axis "
                             f"{axis + j}; size of axis is {n} but size of corresponding "
                             f"boolean axis is {m}")


def _masks_to_arrays(items: list, shape: tuple[int, ...]) -> list:
    """Each boolean mask replaced by the integer arrays of its True positions (NumPy's
    definition of boolean indexing): the one step that evaluates."""
    out, axis = [], 0
    for item in items:
        if _is_mask(item):
            mask = _host(item) if isinstance(item, Node) else item
            _check_mask(mask.shape, shape, axis)
            out.extend(np.nonzero(mask))
        else:
            out.append(item)
        axis += _consumed(item)
    return out


def _check_bounds(indices: np.ndarray, axis: int, n: int) -> None:
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        bad = hi if hi >= n else lo if lo < -n else None
        if bad is not None:
            raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")


def _index_node(indices: Any) -> Node:
    return indices if isinstance(indices, Node) else build.leaf(indices)


def _flat_index(arrays: list, sizes: list[int], shape: tuple[int, ...]) -> Node:
    """The C-order position of each element that ``arrays`` pick from axes of ``sizes``
    (NumPy's ``ravel_multi_index`` after wrapping negative indices), of the broadcast
    ``shape``. Lazy when any index array is: an out-of-bounds index there gives the flat
    size, which ``take`` refuses (IndexError) when the expression is evaluated."""
    strides = [math.prod(sizes[k + 1:]) for k in range(len(sizes))]
    if not any(isinstance(a, Node) for a in arrays):
        flat = np.zeros(shape, np.intp)
        for a, n, s in zip(arrays, sizes, strides, strict=True):
            i = a.astype(np.intp)  # checked: in bounds, so the cast is exact
            flat += np.where(i < 0, i + n, i) * s
        return build.leaf(flat)
    intp = np.dtype(np.intp)
    flat = valid = None
    for a, n, s in zip(arrays, sizes, strides, strict=True):
        i = build.cast(_index_node(a), intp)
        i = build.where(build.apply(Op.LESS, i, 0), build.apply(Op.ADD, i, n), i)
        ok = build.apply(Op.LOGICAL_AND, build.apply(Op.GREATER_EQUAL, i, 0),
                         build.apply(Op.LESS, i, n))
        term = build.apply(Op.MULTIPLY, i, s)
        flat = term if flat is None else build.apply(Op.ADD, flat, term)
        valid = ok if valid is None else build.apply(Op.LOGICAL_AND, valid, ok)
    return build.broadcast_to(build.where(valid, flat, math.prod(sizes)), shape)


def gather(node: Node, index: Any) -> Node | None:
    """``node[index]`` for any index NumPy takes (integer and boolean arrays, NumPy's or
    nodes, with slices, integers, None and ...), with NumPy's result shape and errors; None
    for a boolean scalar in the index (``x[True]``), which the caller leaves to NumPy.

    The basic items are a view; the integer arrays pick from the axes they index, flattened
    into one (a view, or a copy when no strided view can express it), with one ``take`` at
    flat indices; boolean masks are their True positions, found by evaluating the mask."""
    if node.op is Op.COMPLEX:
        return complexes.each(gather, node, index)
    items = index_items(index)
    if any(_is_mask(item) and item.ndim == 0 for item in items):
        return None
    items = _masks_to_arrays(_expand(items, node.ndim), node.shape)
    arrays = [item for item in items if _is_array(item)]
    if not arrays:
        return getitem(node, tuple(items))
    shapes = [a.shape for a in arrays]
    try:
        shape = tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        listed = "".join(f"{s} " for s in shapes)
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together "
                         f"with shapes {listed}") from None
    # NumPy's placement rule: the picked dimensions replace the advanced items (arrays and
    # integers) where those are adjacent, and go first where anything separates them
    advanced = [k for k, item in enumerate(items) if _is_array(item) or type(item) is int]
    adjacent = advanced[-1] - advanced[0] + 1 == len(advanced)
    basic: list = []
    picks: list[tuple[Any, int]] = []  # (index array, its axis in the basic view)
    axis = 0
    for item in items:
        if _is_array(item):
            if isinstance(item, np.ndarray):
                _check_bounds(item, axis, node.shape[axis])
            picks.append((item, len(basic) - sum(type(b) is int for b in basic)))
            item = slice(None)
        basic.append(item)
        axis += item is not None
    viewed = getitem(node, tuple(basic))
    first = picks[0][1]
    if len(picks) == 1:
        result, at = opaque.take(viewed, _index_node(picks[0][0]), first), first
    else:
        where = [p for _, p in picks]
        moved = permute_dims(viewed, (*where, *[d for d in range(viewed.ndim) if d not in where]))
        sizes = [viewed.shape[p] for p in where]
        flat = reshape(moved, (math.prod(sizes), *moved.shape[len(where):]))
        result, at = opaque.take(flat, _flat_index(arrays, sizes, shape), 0), 0
    want = first if adjacent else 0
    if at != want:
        nb = len(shape)
        result = moveaxis(result, tuple(range(at, at + nb)), tuple(range(want, want + nb)))
    return result


# -- x[key] = value: a new expression --------------------------------------------------------
def _mask_leaf(node: Node, mask: np.ndarray) -> Node:
    """A leaf of ``mask``, on the device where ``node``'s leaves are (host and device leaves
    in one expression are refused at evaluation)."""
    if Buffer.foreign:
        from lazyarr.run import device

        if device.on_cuda([node], None, None):
            return build.leaf(device.DeviceArray.from_numpy(mask))
    return build.leaf(mask)


def setitem(node: Node, index: Any, value: Any) -> Node:
    """``node`` with ``node[index] = value`` done as NumPy does it in place (``value`` cast
    to ``node``'s dtype as NumPy casts it there and broadcast to the selection), as a new
    expression: ``where(selected, value placed, node)``. Nothing is written."""
    if node.op is Op.COMPLEX:
        return complexes.setitem(setitem, node, index, value)
    items = index_items(index)
    if any(_is_array(item) for item in items):
        return _set_advanced(node, items, value)
    element = len(items) == node.ndim and all(type(item) is int for item in items)
    items = _expand_ellipsis(tuple(items), node.ndim)
    selected = _basic_shape(node.shape, items)
    v = _fit_value(_value(value, node.dtype, "element" if element else "basic"), selected,
                   "could not broadcast input array from shape {v} into shape {s}")
    if not math.prod(selected):
        return node  # selects nothing
    axes = [item for item in items if item is not None]  # one per axis of node
    if v.size == 1:
        v = reshape(v, ())
    else:
        # drop the new axes, put back the axes integers index away, then move each slice's
        # values to the positions it selects (a gather; flipped or kept where that is a view)
        v = getitem(v, tuple(0 if item is None else slice(None) for item in items
                             if type(item) is not int))
        ints = tuple(d for d, item in enumerate(axes) if type(item) is int)
        if ints:
            v = expand_dims(v, ints)
        for d, item in enumerate(axes):
            n = node.shape[d]
            if type(item) is int or v.shape[d] == 1:
                continue
            step = item.indices(n)[2]
            if v.shape[d] == n and step in (1, -1):  # every position, in order or reversed
                v = v if step == 1 else flip(v, d)
                continue
            positions = np.zeros(n, np.intp)
            positions[item] = np.arange(v.shape[d])
            v = opaque.take(v, build.leaf(positions), d)
    mask = None
    for d, item in enumerate(axes):
        n = node.shape[d]
        if type(item) is not int and len(range(*item.indices(n))) == n:
            continue  # every position of this axis
        picked = np.zeros(n, bool)
        picked[item] = True
        part = _mask_leaf(node, picked.reshape([n if k == d else 1 for k in range(node.ndim)]))
        mask = part if mask is None else build.apply(Op.LOGICAL_AND, mask, part)
    v = build.broadcast_to(v, node.shape)
    return v if mask is None else build.where(mask, v, node)


def _basic_shape(shape: tuple[int, ...], items: list) -> tuple[int, ...]:
    """The shape of ``x[items]`` (basic items, ellipsis expanded); NumPy's IndexError for an
    integer out of bounds."""
    out: list[int] = []
    axis = 0
    for item in items:
        if item is None:
            out.append(1)
            continue
        n = shape[axis]
        if isinstance(item, slice):
            out.append(len(range(*item.indices(n))))
        elif not -n <= item < n:
            raise IndexError(f"index {item} is out of bounds for axis {axis} with size {n}")
        axis += 1
    return tuple(out)


def _value(value: Any, dtype: np.dtype, kind: str) -> Node:
    """``value`` as a node of ``dtype``, converted as NumPy's ``__setitem__`` converts it
    for an index of ``kind``: "element" (an integer per axis), "basic" or "advanced".

    Python scalars (and NumPy scalars but for advanced indices) are checked as NumPy checks
    them (``int8[...] = 300`` is an OverflowError, NaN into an integer a ValueError); arrays
    are cast as ``astype`` casts (wrapping, truncating)."""
    node = value if isinstance(value, Node) else getattr(value, "_node", None)
    if node is None and isinstance(value, np.ndarray):
        node = build.leaf(value)
    if node is not None:
        if kind == "element" and node.ndim:
            raise ValueError("setting an array element with a sequence.")
        return build.cast(node, dtype)
    probe = np.zeros(1, dtype)
    if kind == "element" or isinstance(value, int | float | complex | np.generic):
        key = 0 if kind == "element" else slice(None) if kind == "basic" else [0]
        probe[key] = value  # NumPy's checks and conversion, on one element
        return build.scalar(probe[0], dtype)
    array = np.array(value, dtype=dtype) if isinstance(value, list | tuple) else \
        np.asarray(value)
    return build.cast(build.leaf(array), dtype)


def _fit_value(v: Node, selected: tuple[int, ...], message: str) -> Node:
    """``v`` with the shape it broadcasts from into ``selected`` (leading ones added, or
    dropped as NumPy drops them); ValueError ``message`` when it does not broadcast."""
    shape = v.shape
    while len(shape) > len(selected) and shape[0] == 1:
        shape = shape[1:]
    fits = len(shape) <= len(selected) and all(
        a in (1, b) for a, b in zip(reversed(shape), reversed(selected), strict=False))
    if not fits:
        raise ValueError(message.format(v=v.shape, s=selected))
    shape = (1,) * (len(selected) - len(shape)) + shape
    return v if shape == v.shape else reshape(v, shape)


def _set_advanced(node: Node, items: list, value: Any) -> Node:
    v = _value(value, node.dtype, "advanced")
    if len(items) == 1 and _is_mask(items[0]) and items[0].ndim > 0:
        # x[mask] = value: without the count of True values, a where of the mask itself
        found = _set_mask(node, items[0], v)
        if found is not None:
            return found
    # NumPy works out which value goes where: a map of value positions, -1 where unselected
    key = tuple(_host(item) if isinstance(item, Node) else item for item in items)
    positions = np.full(node.shape, -1, np.intp)
    selected = positions[key].shape  # and NumPy's IndexErrors
    v = _fit_value(v, selected, "shape mismatch: value array of shape {v} could not be "
                   "broadcast to indexing result of shape {s}")
    count = math.prod(selected)
    if not count:
        return node
    positions[key] = np.arange(count).reshape(selected)  # repeated positions: the last wins
    picked = np.asarray(positions >= 0)  # (a 0-d comparison gives a NumPy scalar)
    if v.size == 1:
        placed = reshape(v, ())
    else:
        flat = reshape(build.broadcast_to(v, selected), (count,))
        at = np.where(picked, positions, 0).astype(np.int32 if count < 2**31 else np.intp)
        placed = opaque.take(flat, build.leaf(at), 0)
    return build.where(build.leaf(picked), placed, node)


def _set_mask(node: Node, mask: Any, v: Node) -> Node | None:
    """``node[mask] = v`` as ``where(mask, v, node)`` when ``v`` does not depend on how
    many elements the mask selects (it broadcasts along them); else None."""
    _check_mask(mask.shape, node.shape, 0)
    rest = node.shape[mask.ndim:]
    shape = v.shape
    while len(shape) > len(rest) + 1 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) == len(rest) + 1:
        if shape[0] != 1:
            return None  # one value per selected element: their positions are needed
        shape = shape[1:]
    if len(shape) > len(rest) or not all(
            a in (1, b) for a, b in zip(reversed(shape), reversed(rest), strict=False)):
        count = int(np.count_nonzero(_host(mask) if isinstance(mask, Node) else mask))
        raise ValueError(f"shape mismatch: value array of shape {v.shape} could not be "
                         f"broadcast to indexing result of shape {(count, *rest)}")
    m = _index_node(mask)
    m = reshape(m, m.shape + (1,) * len(rest))
    return build.where(m, v if shape == v.shape else reshape(v, shape), node)
