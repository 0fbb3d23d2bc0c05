"""Opaque ops: computed by NumPy (BLAS for matmul) on materialised inputs.

This module builds their nodes (shapes, dtypes, NumPy's errors); their reference values are
``lazyarr.ir.reference.opaque_value``.

They are fusion barriers: their inputs are evaluated into buffers first (an expression
feeding ``@`` becomes one fused kernel), and their result is read by the consuming kernel like
any captured array, so ``relu(x @ W + b)`` is one BLAS call plus one fused kernel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from lazyarr.front import complexes
from lazyarr.front.build import broadcast_shapes
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Node, Op, make


def _matmul_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    for k, shape in enumerate((a, b)):
        if not shape:
            raise ValueError(f"matmul: Input operand {k} does not have enough dimensions "
                             "(has 0, gufunc core with signature (n?,k),(k,m?)->(n?,m?) "
                             "requires 1)")
    a2 = (1, *a) if len(a) == 1 else a
    b2 = (*b, 1) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ValueError(f"matmul: Input operand 1 has a mismatch in its core dimension 0, "
                         f"with gufunc signature (n?,k),(k,m?)->(n?,m?) (size {b2[-2]} is "
                         f"different from {a2[-1]})")
    batch = broadcast_shapes([a2[:-2], b2[:-2]], "matmul")
    core = ((a2[-2],) if len(a) > 1 else ()) + ((b2[-1],) if len(b) > 1 else ())
    return tuple(batch) + core


def matmul(a: Node, b: Node) -> Node:
    if a.dtype.kind == "c" or b.dtype.kind == "c":
        return complexes.matmul(a, b, _matmul_shape(a.shape, b.shape), "matmul")
    dt = dtypes.check(np.matmul.resolve_dtypes((a.dtype, b.dtype, None))[-1], "matmul")
    return make(Op.MATMUL, dt, _matmul_shape(a.shape, b.shape), (a, b), "matmul")


def dot(a: Node, b: Node) -> Node:
    """``numpy.dot``: matmul for 1-d and 2-d operands; N-d follows dot's own rule."""
    if a.ndim <= 2 and b.ndim <= 2 and a.ndim and b.ndim:
        return matmul(a, b)
    if not a.ndim or not b.ndim:
        from lazyarr.front.build import apply

        return apply(Op.MULTIPLY, a, b)
    k = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if a.shape[-1] != k:
        raise ValueError(f"shapes {a.shape} and {b.shape} not aligned: {a.shape[-1]} "
                         f"(dim {a.ndim - 1}) != {k} (dim {max(b.ndim - 2, 0)})")
    shape = a.shape[:-1] + b.shape[:-2] + b.shape[-1:] if b.ndim > 1 else a.shape[:-1]
    if a.dtype.kind == "c" or b.dtype.kind == "c":
        return complexes.matmul(a, b, shape, "dot")
    dt = dtypes.check(np.result_type(a.dtype, b.dtype), "dot")
    return make(Op.MATMUL, dt, shape, (a, b), "dot")


def concatenate(nodes: Sequence[Node], axis: int | None = 0) -> Node:
    if not nodes:
        raise ValueError("need at least one array to concatenate")
    if any(n.dtype.kind == "c" for n in nodes):
        return complexes.joined(concatenate, nodes, axis, "concatenate")
    if axis is None:
        from lazyarr.front.views import ravel

        nodes, axis = [ravel(n) for n in nodes], 0
    if any(n.ndim == 0 for n in nodes):
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    first = nodes[0]
    ax = normalize_axis_index(axis, first.ndim)
    for k, n in enumerate(nodes[1:], 1):
        if n.ndim != first.ndim:
            raise ValueError(
                "all the input array dimensions except for the concatenation axis must match "
                f"exactly, but along dimension 0, the array at index 0 has {first.ndim} "
                f"dimension(s) and the array at index {k} has {n.ndim} dimension(s)")
        for d in range(first.ndim):
            if d != ax and n.shape[d] != first.shape[d]:
                raise ValueError(
                    "all the input array dimensions except for the concatenation axis must "
                    f"match exactly, but along dimension {d}, the array at index 0 has size "
                    f"{first.shape[d]} and the array at index {k} has size {n.shape[d]}")
    shape = list(first.shape)
    shape[ax] = sum(n.shape[ax] for n in nodes)
    dt = dtypes.check(np.result_type(*[n.dtype for n in nodes]), "concatenate")
    return make(Op.CONCATENATE, dt, tuple(shape), tuple(nodes), ax)


def stack(nodes: Sequence[Node], axis: int = 0) -> Node:
    if not nodes:
        raise ValueError("need at least one array to stack")
    if any(n.dtype.kind == "c" for n in nodes):
        return complexes.joined(stack, nodes, axis, "stack")
    if len({n.shape for n in nodes}) != 1:
        raise ValueError("all input arrays must have the same shape")
    ax = normalize_axis_index(axis, nodes[0].ndim + 1)
    shape = list(nodes[0].shape)
    shape.insert(ax, len(nodes))
    dt = dtypes.check(np.result_type(*[n.dtype for n in nodes]), "stack")
    return make(Op.STACK, dt, tuple(shape), tuple(nodes), ax)


def take(x: Node, indices: Node, axis: int | None) -> Node:
    """``numpy.take(x, indices, axis)``. Indices a NumPy array holds are checked now (NumPy's
    IndexError where the expression is written); computed ones when it is evaluated."""
    if x.op is Op.COMPLEX:
        return complexes.each(take, x, indices, axis)
    if axis is None:
        from lazyarr.front.views import ravel

        x, axis = ravel(x), 0
    if indices.dtype.kind not in "biu":
        raise TypeError(f"Cannot cast array data from {indices.dtype!r} to "
                        "dtype('int64') according to the rule 'safe'")
    if x.ndim == 0:
        raise ValueError("take: a 0-d array has no axis to take from")
    ax = normalize_axis_index(axis, x.ndim)
    n = x.shape[ax]
    if indices.op is Op.LEAF and isinstance(indices.arg.array, np.ndarray) and indices.size:
        values = indices.arg.array
        lo, hi = int(values.min()), int(values.max())
        bad = hi if hi >= n else lo if lo < -n else None
        if bad is not None:
            raise IndexError(f"index {bad} is out of bounds for axis {ax} with size {n}")
    elif indices.size and not n:
        raise IndexError(f"cannot do a non-empty take from an empty axes (axis {ax})")
    shape = x.shape[:ax] + indices.shape + x.shape[ax + 1:]
    return make(Op.TAKE, x.dtype, shape, (x, indices), ax)


def scatter_add(g: Node, indices: Node, axis: int, n: int) -> Node:
    """Zeros with ``take(., indices, axis)``'s source shape, each slice of ``g`` added at its
    index: the transpose of take (its gradient)."""
    shape = (*g.shape[:axis], n, *g.shape[axis + indices.ndim:])
    return make(Op.SCATTER_ADD, g.dtype, shape, (g, indices), (axis, n))
