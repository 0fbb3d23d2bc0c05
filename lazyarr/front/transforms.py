"""``grad``, ``value_and_grad``, ``vjp`` and ``jvp`` in JAX's conventions, and
``gradients`` in TensorFlow 1's, over :func:`lazyarr.front.autodiff.backprop`.

Functions receive lazy arrays and return lazy arrays; so do these transforms: nothing is
computed until the values and gradients are evaluated, best together
(``la.eval(loss, *grads)``), which fuses the backward pass with the forward pass. Arguments
and results may be pytrees: nested tuples, lists and dicts of arrays.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lazyarr.front import build
from lazyarr.front.array import LazyArray
from lazyarr.front.autodiff import NonScalarOutputError, _fit, backprop, zeros_like
from lazyarr.ir.dtypes import is_float
from lazyarr.ir.graph import Node

__all__ = ["grad", "gradients", "jvp", "tree_flatten", "value_and_grad", "vjp"]


def tree_flatten(tree: Any) -> tuple[list[Any], Callable[[list[Any]], Any]]:
    """The leaves of nested tuples, lists and dicts (dict keys in sorted order, as JAX), and
    a function that builds the same structure around new leaves."""
    if isinstance(tree, tuple | list):
        flats = [tree_flatten(t) for t in tree]
        kind = type(tree)

        def rebuild(leaves: list[Any]) -> Any:
            out, at = [], 0
            for sub, again in flats:
                out.append(again(leaves[at:at + len(sub)]))
                at += len(sub)
            return tuple(out) if kind is tuple else out

        return [x for sub, _ in flats for x in sub], rebuild
    if isinstance(tree, dict):
        keys = sorted(tree)
        leaves, again = tree_flatten([tree[k] for k in keys])
        return leaves, lambda new: dict(zip(keys, again(new), strict=True))
    return [tree], lambda new: new[0]


# (argument slot, id of a NumPy array) -> weak references to the array and its leaf. A
# training loop passes the same arrays every step (updated in place): the same leaves make
# the same graph, which interning, the operator memo and the fast path then find instead of
# building and planning it again (about 500 us for GELU's forward and backward). Weak: the
# cache keeps nothing alive (the fast path holds the graphs it ran recently). Slots keep two
# arguments that are one array two variables, as in JAX.
_LEAVES: dict[tuple[Any, int], tuple[weakref.ref, weakref.ref]] = {}
_LEAVES_MAX = 256


def _leaf(slot: Any, array: np.ndarray) -> Node:
    key = (slot, id(array))
    found = _LEAVES.get(key)
    if found is not None:
        node = found[1]()
        if found[0]() is array and node is not None and node.arg.array.shape == array.shape \
                and node.arg.array.strides == array.strides:
            return node
    node = build.leaf(array)
    if len(_LEAVES) >= _LEAVES_MAX:
        dead = [k for k, (a, n) in _LEAVES.items() if a() is None or n() is None]
        for k in dead or list(_LEAVES)[:_LEAVES_MAX // 4]:
            del _LEAVES[k]
    _LEAVES[key] = (weakref.ref(array), weakref.ref(node))
    return node


def _node(x: Any, slot: Any) -> Node:
    """``x`` as a node: a lazy array's own, or the leaf of argument ``slot`` over an array."""
    if isinstance(x, LazyArray):
        return x._node
    if isinstance(x, Node):
        return x
    if type(x) is np.ndarray and x.dtype.isnative:
        return _leaf(slot, x)
    return build.leaf(np.asarray(x))  # a fresh leaf: each argument is its own variable


def _variable(x: Any, where: str, slot: Any = None) -> Node:
    node = _node(x, slot)
    if not is_float(node.dtype):
        raise TypeError(f"{where} requires float inputs (as jax.grad), but got an input of "
                        f"dtype {node.dtype} and shape {node.shape}")
    return node


class _Primals:
    """Arguments made lazy variables: their leaves' nodes, and the arguments rebuilt."""

    def __init__(self, args: Sequence[Any], where: str) -> None:
        self.nodes: list[list[Node]] = []
        self.rebuilds: list[Callable[[list[Any]], Any]] = []
        self.lazy: list[Any] = []
        for k, arg in enumerate(args):
            leaves, rebuild = tree_flatten(arg)
            nodes = [_variable(x, where, (k, j)) for j, x in enumerate(leaves)]
            self.nodes.append(nodes)
            self.rebuilds.append(rebuild)
            self.lazy.append(rebuild([LazyArray(n) for n in nodes]))

    @property
    def flat(self) -> list[Node]:
        return [n for nodes in self.nodes for n in nodes]

    def unflatten(self, cts: list[Node | None]) -> tuple[Any, ...]:
        """Cotangents of ``flat`` as one pytree per argument (zeros where unconnected)."""
        out, at = [], 0
        for nodes, rebuild in zip(self.nodes, self.rebuilds, strict=True):
            part = cts[at:at + len(nodes)]
            out.append(rebuild([LazyArray(zeros_like(n) if c is None else c)
                                for n, c in zip(nodes, part, strict=True)]))
            at += len(nodes)
        return tuple(out)


def _split_aux(result: Any, has_aux: bool, where: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise TypeError(f"{where}(has_aux=True): the function must return a pair "
                        f"(output, auxiliary data), not {type(result).__name__}")
    return result[0], result[1]


def _scalar_output(out: Any, where: str) -> Node:
    node = build.operand_node(out, where)
    if node.shape != ():
        raise NonScalarOutputError(
            f"{where}: the gradient is only defined for a scalar output, but the function "
            f"returned shape {node.shape} (use vjp, or gradients with grad_ys)")
    if not is_float(node.dtype):
        raise TypeError(f"{where} requires a float output (as jax.grad), but the function "
                        f"returned dtype {node.dtype}")
    return node


def _argnums(argnums: int | Sequence[int], n: int, where: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for k in nums:
        if not -n <= k < n:
            raise ValueError(f"{where}: argnums {argnums} out of range for {n} positional "
                             "arguments")
    return tuple(k % n for k in nums)


def value_and_grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable[..., Any]:
    """``f`` and its gradient in one call: ``value, grads`` (``(value, aux), grads`` with
    ``has_aux``), as ``jax.value_and_grad``. ``f`` must return a float scalar; the gradient
    is taken with respect to the positional arguments ``argnums`` (one, or a tuple of them
    for a tuple of gradients), each an array or a pytree of arrays."""

    def run(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        nums = _argnums(argnums, len(args), "grad")
        primals = _Primals([args[k] for k in nums], "grad")
        call = list(args)
        for k, lazy in zip(nums, primals.lazy, strict=True):
            call[k] = lazy
        out, aux = _split_aux(f(*call, **kwargs), has_aux, "grad")
        y = _scalar_output(out, "grad")
        grads = primals.unflatten(backprop([y], [build.scalar(1, y.dtype)], primals.flat))
        value = LazyArray(y)
        return ((value, aux) if has_aux else value,
                grads[0] if isinstance(argnums, int) else grads)

    return run


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0,
         has_aux: bool = False) -> Callable[..., Any]:
    """The gradient of float-scalar function ``f`` (``jax.grad``): a function returning lazy
    gradients shaped like the arguments ``argnums`` (and ``f``'s auxiliary data with
    ``has_aux``)."""
    both = value_and_grad(f, argnums, has_aux)

    def run(*args: Any, **kwargs: Any) -> Any:
        value, grads = both(*args, **kwargs)
        return (grads, value[1]) if has_aux else grads

    return run


def vjp(f: Callable[..., Any], *primals: Any,
        has_aux: bool = False) -> tuple[Any, ...]:
    """``(out, vjp_fn)`` (``(out, vjp_fn, aux)`` with ``has_aux``), as ``jax.vjp``:
    ``vjp_fn(cotangents)``, cotangents shaped like ``out``, returns a tuple with one
    cotangent per primal. Integer and bool outputs take no cotangent (any value is
    ignored)."""
    args = _Primals(primals, "vjp")
    out, aux = _split_aux(f(*args.lazy), has_aux, "vjp")
    leaves, rebuild = tree_flatten(out)
    nodes = [build.operand_node(x, "vjp") for x in leaves]
    if any(n.dtype.kind == "c" for n in nodes):
        raise NotImplementedError("vjp: complex outputs have no gradient in lazyarr yet (take "
                                  "la.real/la.imag, or la.abs, of them first)")

    def vjp_fn(cotangents: Any) -> tuple[Any, ...]:
        cts, _ = tree_flatten(cotangents)
        if len(cts) != len(nodes):
            raise ValueError(f"vjp: expected cotangents for {len(nodes)} outputs, got "
                             f"{len(cts)}")
        roots, given = [], []
        for node, ct in zip(nodes, cts, strict=True):
            if not is_float(node.dtype):
                continue
            ct_node = _node(ct, ("ct", len(roots))) if isinstance(ct, np.ndarray) \
                else build.operand_node(ct, "vjp")
            if ct_node.shape != node.shape:
                raise ValueError(f"vjp: a cotangent of shape {ct_node.shape} for an output "
                                 f"of shape {node.shape}")
            roots.append(node)
            given.append(ct_node)
        return args.unflatten(backprop(roots, given, args.flat))

    result = rebuild([LazyArray(n) for n in nodes])
    return (result, vjp_fn, aux) if has_aux else (result, vjp_fn)


def jvp(f: Callable[..., Any], primals: Sequence[Any],
        tangents: Sequence[Any]) -> tuple[Any, Any]:
    """``(out, tangent_out)``, as ``jax.jvp``: the Jacobian of ``f`` at ``primals`` times
    ``tangents`` (a sequence like ``primals``). Computed as the transpose of the
    vector-Jacobian product, which is linear in its cotangent (no forward-mode rules)."""
    if not isinstance(primals, tuple | list) or not isinstance(tangents, tuple | list):
        raise TypeError("jvp: primals and tangents must be tuples or lists, as jax.jvp")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    out, vjp_fn = vjp(f, *primals)
    leaves, rebuild = tree_flatten(out)
    # one unique stand-in cotangent per output: a new leaf over one element of zeros
    probes = [build.leaf(np.broadcast_to(np.zeros((), x.dtype), x.shape))
              if is_float(x.dtype) else None for x in leaves]
    pulled, _ = tree_flatten(vjp_fn(rebuild([x if p is None else LazyArray(p)
                                             for x, p in zip(leaves, probes, strict=True)])))
    primal_leaves, _ = tree_flatten(list(primals))
    tangent_leaves, _ = tree_flatten(list(tangents))
    if len(tangent_leaves) != len(primal_leaves):
        raise ValueError("jvp: tangents must have the structure of primals")
    seeds = [_fit(t, p._node) for t, p in zip(tangent_leaves, pulled, strict=True)]
    wanted = [p for p in probes if p is not None]
    pushed = iter(backprop([p._node for p in pulled], seeds, wanted))
    result = []
    for x, probe in zip(leaves, probes, strict=True):
        found = next(pushed) if probe is not None else None
        result.append(LazyArray(zeros_like(x._node) if found is None else found))
    return out, rebuild(result)


def gradients(ys: Any, xs: Any, grad_ys: Any = None) -> list[LazyArray]:
    """The gradient of the sum of ``ys`` with respect to each of ``xs`` (TensorFlow 1's
    ``tf.gradients``): total derivatives through every path, zeros for an ``x`` that no
    ``y`` depends on. ``xs`` may be any lazy arrays, leaves or intermediate expressions of
    the graph; ``grad_ys`` gives each ``y``'s cotangent and is required for non-scalar
    ``ys``."""
    ys = list(ys) if isinstance(ys, tuple | list) else [ys]
    xs = list(xs) if isinstance(xs, tuple | list) else [xs]
    y_nodes = [build.operand_node(y, "gradients") for y in ys]
    x_nodes = [_variable(x, "gradients") for x in xs]
    if grad_ys is None:
        for y in y_nodes:
            if y.shape != ():
                raise NonScalarOutputError(
                    f"gradients: an output of shape {y.shape} needs its cotangent in grad_ys")
        cts = [build.scalar(1, y.dtype) for y in y_nodes]
    else:
        given = list(grad_ys) if isinstance(grad_ys, tuple | list) else [grad_ys]
        if len(given) != len(y_nodes):
            raise ValueError(f"gradients: {len(y_nodes)} ys but {len(given)} grad_ys")
        cts = [build.operand_node(g, "gradients") for g in given]
        for y, c in zip(y_nodes, cts, strict=True):
            if c.shape != y.shape:
                raise ValueError(f"gradients: grad_ys of shape {c.shape} for a y of shape "
                                 f"{y.shape}")
    found = backprop(y_nodes, cts, x_nodes)
    return [LazyArray(zeros_like(x) if c is None else c)
            for x, c in zip(x_nodes, found, strict=True)]
