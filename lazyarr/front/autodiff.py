"""Reverse-mode differentiation of lazy expressions.

A gradient is built, not computed: :func:`backprop` walks the graph from the outputs to the
variables and applies each node's vector-Jacobian product, which for an elementwise op is the
op table's ``derivative`` rule (``lazyarr/ir/derivatives.py``) and for views, reductions and
opaque ops is here. Every rule is written with lazyarr's own functions, so the backward graph
is an ordinary lazy graph: evaluated together with the forward values it fuses with them
(``la.eval(loss, *grads)``), and it can be differentiated again. Forward mode (``jvp``) is the
transpose of reverse mode: the vector-Jacobian product is linear in its cotangent, and its
own vector-Jacobian product with respect to that cotangent is the Jacobian-vector product.

Views of a captured array are NumPy views, i.e. new leaves (``lazyarr/front/views.py``); such a
leaf remembers the leaf it came from and how (``Buffer.origin``), and gradients follow it back.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np

from lazyarr.front import build, opaque, reductions, scan, views
from lazyarr.front.array import LazyArray
from lazyarr.ir.dtypes import is_float
from lazyarr.ir.graph import MOVEMENT, Node, Op, ReduceKind, make, toposort
from lazyarr.ir.ops import ROWS


class NonScalarOutputError(ValueError, TypeError):
    """A gradient asked of a non-scalar output without a cotangent for it. A ValueError, and a
    TypeError as JAX raises for ``jax.grad`` of a non-scalar function."""


def _lazy(node: Node) -> LazyArray:
    return LazyArray(node)


@cache
def _namespace() -> SimpleNamespace:
    """The rules' ``la``: lazyarr's elementwise functions and ``where``."""
    from lazyarr.front import functions  # it imports this module's package siblings

    return SimpleNamespace(**functions.UFUNC_FUNCTIONS, where=functions.where)


def zeros(dtype: np.dtype, shape: tuple[int, ...]) -> Node:
    """Lazy zeros (a broadcast scalar: no memory)."""
    return build.broadcast_to(build.scalar(0, dtype), shape)


def zeros_like(node: Node) -> Node:
    return zeros(node.dtype, node.shape)


# -- the walk ---------------------------------------------------------------------------
def _inputs(node: Node) -> tuple[Node, ...]:
    """What ``node``'s value depends on: its sources, or for a leaf that is a NumPy view of
    another leaf, that leaf."""
    if node.op is Op.LEAF:
        origin = node.arg.origin
        return () if origin is None else (origin[0],)
    return node.src


def _live(order: list[Node], wrt: Sequence[Node]) -> set[int]:
    """Nodes of ``order`` on a float path from a node of ``wrt``: only they carry cotangents."""
    live = {id(x) for x in wrt}
    for node in order:
        if is_float(node.dtype) and any(id(s) in live for s in _inputs(node)):
            live.add(id(node))
    return live


# The last few backward graphs, by the ids of what they were built from. A training step
# builds the same graph every time (interning makes it the same nodes); walking it again is
# most of the cost of writing a small step's gradient. Entries hold weak references only
# (checked on a hit): the fast path keeps the graphs it evaluated recently alive, this
# cache keeps nothing.
_RECENT: dict[tuple, tuple[tuple, tuple]] = {}
_RECENT_MAX = 8


def _refs(nodes: Sequence[Node | None]) -> tuple:
    return tuple(None if n is None else weakref.ref(n) for n in nodes)


def _alive(refs: tuple) -> list[Node | None] | None:
    nodes = [None if r is None else r() for r in refs]
    return None if any(n is None for n, r in zip(nodes, refs, strict=True) if r) else nodes


def backprop(roots: Sequence[Node], cotangents: Sequence[Node],
             wrt: Sequence[Node]) -> list[Node | None]:
    """The cotangent of each node of ``wrt`` (None: no float path to a root) given the
    cotangent of each root: the sum over every path, including paths through other nodes of
    ``wrt`` (``tf.gradients``' total derivative)."""
    given = (*roots, *cotangents, *wrt)
    key = tuple(map(id, given))
    found = _RECENT.get(key)
    if found is not None and _alive(found[0]) == list(given):
        result = _alive(found[1])
        if result is not None:
            return result
    result = _backprop(roots, cotangents, wrt)
    if len(_RECENT) >= _RECENT_MAX:
        del _RECENT[next(iter(_RECENT))]
    _RECENT[key] = (_refs(given), _refs(result))
    return result


def _backprop(roots: Sequence[Node], cotangents: Sequence[Node],
              wrt: Sequence[Node]) -> list[Node | None]:
    order = toposort(roots, inputs=_inputs)
    live = _live(order, wrt)
    parts: dict[int, list[Node]] = {}
    for root, ct in zip(roots, cotangents, strict=True):
        if id(root) in live:
            parts.setdefault(id(root), []).append(_fit(ct, root))
    wanted = {id(x) for x in wrt}
    found: dict[int, Node] = {}
    for node in reversed(order):
        pending = parts.pop(id(node), None)
        if not pending:
            continue
        g = _total(pending)
        if id(node) in wanted:
            found[id(node)] = g
        inputs = _inputs(node)
        if not inputs:
            continue
        for src, ct in zip(inputs, vjp_of(node, g), strict=True):
            if ct is not None and id(src) in live:
                parts.setdefault(id(src), []).append(_fit(ct, src))
    return [found.get(id(x)) for x in wrt]


def _total(parts: list[Node]) -> Node:
    total = parts[0]
    for p in parts[1:]:
        total = build.apply(Op.ADD, total, p)
    return total


def _fit(ct: Any, like: Node) -> Node:
    """Cotangent ``ct`` in ``like``'s dtype and shape (summed over broadcast axes)."""
    node = build.operand_node(ct, "grad")
    if node.shape != like.shape:
        node = unbroadcast(node, like.shape)
    return build.cast(node, like.dtype)


def unbroadcast(node: Node, shape: tuple[int, ...]) -> Node:
    """``node`` summed over the axes that broadcasting ``shape`` to its shape added or
    stretched: the transpose of ``broadcast_to``. The stretched axes come back as views of
    length one (a reshape of a reduction would be a copy)."""
    lead = node.ndim - len(shape)
    stretched = tuple(d for d, n in enumerate(shape) if n == 1 and node.shape[lead + d] != 1)
    axes = tuple(range(lead)) + tuple(lead + d for d in stretched)
    if axes:
        node = reductions.reduce(ReduceKind.SUM, node, axes, keepdims=False)
        if stretched:
            node = views.expand_dims(node, stretched)
    return views.reshape(node, shape) if node.shape != shape else node


# -- vector-Jacobian products of each kind of node -------------------------------------------
def vjp_of(node: Node, g: Node) -> tuple[Node | None, ...]:
    """One cotangent (or None) per input of ``node`` (``_inputs``) for cotangent ``g``."""
    op = node.op
    if op is Op.LEAF:
        return (_origin_vjp(node, g),)
    if op is Op.BROADCAST:
        return (unbroadcast(g, node.src[0].shape),)
    if op is Op.PERMUTE:
        return (build.permute(g, tuple(np.argsort(node.arg).tolist())),)
    if op is Op.VIEW:
        return (embed(g, node.src[0].shape, node.arg),)
    if op is Op.RESHAPE:
        return (views.reshape(g, node.src[0].shape),)
    if op is Op.REDUCE:
        return (_reduce_vjp(node, g),)
    if op is Op.SCAN:
        return (_scan_vjp(node, g),)
    if op is Op.MATMUL:
        return _matmul_vjp(node, g)
    if op in (Op.CONCATENATE, Op.STACK):
        return _join_vjp(node, g)
    if op is Op.TAKE:
        x, indices = node.src
        return opaque.scatter_add(g, indices, node.arg, x.shape[node.arg]), None
    if op is Op.SCATTER_ADD:
        return opaque.take(g, node.src[1], node.arg[0]), None
    if op is Op.HOST:
        raise NotImplementedError(f"grad: {node.arg.name} runs in NumPy and has no gradient "
                                  "rule in lazyarr")
    return _elementwise_vjp(node, g)


def _elementwise_vjp(node: Node, g: Node) -> tuple[Node | None, ...]:
    rule = ROWS[node.op].derivative
    if rule is None:
        raise NotImplementedError(f"grad: {node.op.value} has no derivative rule "
                                  f"({node.dtype} operands)")
    la = _namespace()
    cts = rule(la, _lazy(g), _lazy(node), *map(_lazy, node.src))
    return tuple(None if c is None else _tidy(build.operand_node(c, "grad")) for c in cts)


def _is_one(node: Node) -> bool:
    while node.op in MOVEMENT:
        node = node.src[0]
    return node.op is Op.SCALAR and node.arg == 1


def _tidy(node: Node) -> Node:
    """``1 * y`` as ``y`` (exact, and the same dtype): a scalar output's cotangent is 1, and
    the gradient reads, and displays, without it."""
    if node.op is Op.MULTIPLY:
        for one, other in (node.src, node.src[::-1]):
            if _is_one(one) and other.dtype == node.dtype and other.shape == node.shape:
                return other
    return node


def _origin_vjp(leaf: Node, g: Node) -> Node:
    """The cotangent of the leaf a NumPy view came from: the view is taken again of a
    stand-in for that leaf that is not a leaf (so it builds view nodes instead of folding
    into a new NumPy view), and differentiated."""
    parent, redo = leaf.arg.origin
    stand_in = make(Op.PERMUTE, parent.dtype, parent.shape, (parent,),
                    tuple(range(parent.ndim)))
    (ct,) = backprop([redo(stand_in)], [g], [parent])
    return zeros_like(parent) if ct is None else ct


def _reduce_vjp(node: Node, g: Node) -> Node | None:
    kind, axes = node.arg
    (x,) = node.src
    kept = views.expand_dims(g, axes)
    if kind is ReduceKind.SUM:
        return build.broadcast_to(kept, x.shape)
    out = views.expand_dims(node, axes)
    if kind in (ReduceKind.MAX, ReduceKind.MIN):
        # JAX's rule: ties share the cotangent evenly
        at = build.apply(Op.EQUAL, x, out)
        count = reductions.reduce(ReduceKind.SUM, build.cast(at, x.dtype), axes, keepdims=True)
        return build.where(at, build.apply(Op.TRUE_DIVIDE, kept, count), 0.0)
    if kind is ReduceKind.PROD:
        return _prod_vjp(x, axes, kept, out)
    return None  # arg and logical reductions: integer and bool results


def _scan_vjp(node: Node, g: Node) -> Node:
    """A cumulative sum's: each element reaches every later output, so its cotangent is the
    sum of ``g`` from its index to the end, a cumulative sum of ``g`` reversed (flips are
    views). Cumulative products have no rule yet."""
    if node.arg is not ReduceKind.SUM:
        raise NotImplementedError("grad: cumulative_prod has no gradient rule in lazyarr "
                                  "(only cumulative_sum is differentiable)")
    last = node.ndim - 1
    return views.flip(scan.scan(ReduceKind.SUM, views.flip(g, last), last), last)


def _prod_vjp(x: Node, axes: tuple[int, ...], kept: Node, out: Node) -> Node:
    """d prod / d x_j, the product of the others, written so that it is right where ``x``
    has zeros and differentiable again through second order: with no zero, ``out / x_j``;
    else from ``others``, the product of the nonzero elements, and the zeros' own values
    (zero, but each carries its slope): with one zero ``z``, ``others`` at it and
    ``z * others / x_j`` elsewhere; with two, ``z' * others`` at a zero (``z'`` the other
    one); with more, 0."""
    def where(c: Node, a: Any, b: Any) -> Node:
        return build.where(c, a, b)

    def op(kind: Op, *args: Any) -> Node:
        return build.apply(kind, *args)

    zero = op(Op.EQUAL, x, 0)
    count = reductions.reduce(ReduceKind.SUM, build.cast(zero, x.dtype), axes, keepdims=True)
    nonzero = where(zero, 1, x)
    others = reductions.reduce(ReduceKind.PROD, nonzero, axes, keepdims=True)
    zsum = reductions.reduce(ReduceKind.SUM, where(zero, x, 0), axes, keepdims=True)
    one, two = op(Op.EQUAL, count, 1), op(Op.EQUAL, count, 2)
    at_zero = where(one, others, where(two, op(Op.MULTIPLY, op(Op.SUBTRACT, zsum, x), others),
                                       0))
    elsewhere = where(one, op(Op.TRUE_DIVIDE, op(Op.MULTIPLY, zsum, others), nonzero), 0)
    slope = where(op(Op.EQUAL, count, 0), op(Op.TRUE_DIVIDE, out, nonzero),
                  where(zero, at_zero, elsewhere))
    return op(Op.MULTIPLY, kept, slope)


def _matmul_vjp(node: Node, g: Node) -> tuple[Node, Node]:
    a, b = node.src
    if node.arg == "dot" and (a.ndim > 2 or b.ndim > 2):
        return _dot_vjp(a, b, g)
    a2 = a if a.ndim > 1 else views.expand_dims(a, 0)
    b2 = b if b.ndim > 1 else views.expand_dims(b, 1)
    if a.ndim == 1:
        g = views.expand_dims(g, g.ndim - (1 if b.ndim > 1 else 0))
    if b.ndim == 1:
        g = views.expand_dims(g, g.ndim)
    ga = opaque.matmul(g, views.matrix_transpose(b2))
    gb = opaque.matmul(views.matrix_transpose(a2), g)
    return (views.reshape(unbroadcast(ga, a2.shape), a.shape),
            views.reshape(unbroadcast(gb, b2.shape), b.shape))


def _dot_vjp(a: Node, b: Node, g: Node) -> tuple[Node, Node]:
    """``numpy.dot`` of N-d operands, out[i..., j..., m] = sum_k a[i..., k] b[j..., k, m], as
    one matrix product of flattened operands."""
    k = a.shape[-1]
    b3 = b if b.ndim > 1 else views.expand_dims(b, 1)
    rows, cols = math.prod(a.shape[:-1]), math.prod(b3.shape[:-2]) * b3.shape[-1]
    a2 = views.reshape(a, (rows, k))
    moved = views.moveaxis(b3, -2, 0)
    b2 = views.reshape(moved, (k, cols))
    g2 = views.reshape(g, (rows, cols))
    ga = views.reshape(opaque.matmul(g2, views.matrix_transpose(b2)), a.shape)
    gb = views.moveaxis(views.reshape(opaque.matmul(views.matrix_transpose(a2), g2),
                                      moved.shape), 0, -2)
    return ga, views.reshape(gb, b.shape)


def _join_vjp(node: Node, g: Node) -> tuple[Node, ...]:
    axis, before = node.arg, (slice(None),) * node.arg
    if node.op is Op.STACK:
        return tuple(views.getitem(g, (*before, k)) for k in range(len(node.src)))
    cts, start = [], 0
    for src in node.src:
        cts.append(views.getitem(g, (*before, slice(start, start + src.shape[axis]))))
        start += src.shape[axis]
    return tuple(cts)


# -- the transpose of a view -------------------------------------------------------------------
def embed(g: Node, shape: tuple[int, ...], vmap: Any) -> Node:
    """Zeros of ``shape`` with ``g`` where view ``vmap`` of such an array reads: the
    cotangent of a view's source. Full dimensions stay views (a flip, a new or dropped axis
    of length one); slices and integer indices pad with zeros (concatenate) and spread by
    their step (stack), so every part is an op with its own derivative."""
    order = [r for r, _, _ in vmap if r is not None]
    if len(order) != len(set(order)):
        return _embed_diagonal(g, shape, vmap)
    perm = (*order, *(r for r in range(g.ndim) if r not in order))
    g = build.permute(g, perm)  # the mapped dimensions first, in the source's order
    g = views.squeeze(g, tuple(range(len(order), g.ndim)))  # the rest: new axes
    for d, (r, step, start) in enumerate(vmap):
        if r is None:
            g = _pad(views.expand_dims(g, d), d, start, shape[d] - start - 1)
        else:
            g = _place(g, d, step, start, shape[d])
    return g


def _embed_diagonal(g: Node, shape: tuple[int, ...], vmap: Any) -> Node:
    """:func:`embed` of a view that reads one result dimension from several source
    dimensions (a diagonal): each such source dimension after the first gets a new result
    dimension of its full length (``g`` broadcast along it), and a constant mask keeps the
    elements the view reads."""
    wide_map, extra, first = list(vmap), [], {}
    mask = np.ones((1,) * len(shape), bool)
    for d, (r, step, start) in enumerate(vmap):
        if r is None:
            continue
        if r not in first:
            first[r] = d
            continue
        d1 = first[r]
        _, step1, start1 = vmap[d1]
        i = np.arange(g.shape[r])
        pair = np.zeros((shape[d1], shape[d]), bool)
        pair[start1 + step1 * i, start + step * i] = True
        axes = [1] * len(shape)
        axes[d1], axes[d] = shape[d1], shape[d]
        mask = mask & pair.reshape(axes)
        wide_map[d] = (g.ndim + len(extra), 1, 0)
        extra.append(shape[d])
    wide = views.expand_dims(g, tuple(range(g.ndim, g.ndim + len(extra))))
    wide = build.broadcast_to(wide, (*g.shape, *extra))
    full = embed(wide, shape, tuple(wide_map))
    return build.where(build.leaf(np.broadcast_to(mask, shape)), full, 0)


def _place(g: Node, d: int, step: int, start: int, size: int) -> Node:
    """Dimension ``d`` of ``g`` (n elements) placed at ``start + step * i`` of ``size``."""
    n = g.shape[d]
    if n == 0:
        return _zeros(g, d, size)
    if step < 0:
        g = views.flip(g, d)
        start, step = start + step * (n - 1), -step
    if step > 1:
        gaps = [zeros_like(g)] * (step - 1)
        spread = views.reshape(opaque.stack([g, *gaps], d + 1),
                               (*g.shape[:d], n * step, *g.shape[d + 1:]))
        g = views.getitem(spread, (slice(None),) * d + (slice(0, (n - 1) * step + 1),))
    return _pad(g, d, start, size - start - g.shape[d])


def _pad(g: Node, d: int, before: int, after: int) -> Node:
    parts = [_zeros(g, d, before)] if before else []
    parts.append(g)
    if after:
        parts.append(_zeros(g, d, after))
    return g if len(parts) == 1 else opaque.concatenate(parts, d)


def _zeros(g: Node, d: int, n: int) -> Node:
    """Zeros like ``g`` but ``n`` long along dimension ``d``."""
    return zeros(g.dtype, (*g.shape[:d], n, *g.shape[d + 1:]))
