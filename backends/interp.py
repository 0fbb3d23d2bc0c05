"""Reference backend: evaluates the graph node by node with NumPy.

It defines lazyarr's semantics in the most direct way (the ufunc of each op on inputs already
cast to the ufunc's loop dtypes) and is what the compiled backends are tested against. It
allocates a temporary per node; it is for checking, not speed.
"""

from __future__ import annotations

import math

import numpy as np

from lazyarr.ir import ops
from lazyarr.ir.graph import OPAQUE, Node, Op, ReduceKind, toposort
from lazyarr.ir.reference import cast_values, opaque_value, scan_value


def _view(x: np.ndarray, node: Node) -> np.ndarray:
    """Apply a VIEW's map to an evaluated array, as a strided view of it."""
    if node.size == 0:
        return np.empty(node.shape, node.dtype)
    corner = x[tuple(slice(start, start + 1) for _, _, start in node.arg)]
    strides = [0] * node.ndim
    for (dim, step, _), stride in zip(node.arg, x.strides, strict=True):
        if dim is not None:
            strides[dim] += step * stride
    return np.lib.stride_tricks.as_strided(corner, node.shape, strides, writeable=False)


_REDUCE = {
    ReduceKind.SUM: np.sum, ReduceKind.PROD: np.prod, ReduceKind.MIN: np.min,
    ReduceKind.MAX: np.max, ReduceKind.ANY: np.any, ReduceKind.ALL: np.all,
}


def _reduce(x: np.ndarray, node: Node) -> np.ndarray:
    kind, axes = node.arg
    if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
        fn = np.argmin if kind is ReduceKind.ARGMIN else np.argmax
        # over several axes: the index into those axes flattened in C order
        moved = np.moveaxis(x, axes, range(x.ndim - len(axes), x.ndim))
        kept = moved.shape[:x.ndim - len(axes)]
        # the reduced extent spelled out: -1 is ambiguous when a kept axis is empty
        flat = moved.reshape((*kept, math.prod(moved.shape[len(kept):])))
        return fn(flat, axis=-1)
    if kind in (ReduceKind.SUM, ReduceKind.PROD):
        return _REDUCE[kind](x, axis=axes, dtype=node.dtype)
    return _REDUCE[kind](x, axis=axes)


def _node_value(node: Node, args: list[np.ndarray]) -> np.ndarray:
    op = node.op
    if op is Op.LEAF:
        return node.arg.array
    if op is Op.SCALAR:
        return np.asarray(node.arg)
    if op is Op.COUNTER:
        return np.arange(node.size, dtype=np.uint64).reshape(node.shape)
    if op is Op.BROADCAST:
        return np.broadcast_to(args[0], node.shape)
    if op is Op.PERMUTE:
        return args[0].transpose(node.arg)
    if op is Op.VIEW:
        return _view(args[0], node)
    if op is Op.REDUCE:
        return _reduce(args[0], node)
    if op is Op.SCAN:
        return scan_value(node, args[0])
    if op in OPAQUE:
        return opaque_value(node, args)
    if op is Op.CAST:
        return cast_values(args[0], node.dtype)
    return ops.ROWS[op].evaluate(node, args)  # the op's reference, from its row


def values(roots: tuple[Node, ...] | list[Node], known: dict[int, np.ndarray] | None = None
           ) -> list[np.ndarray]:
    """The value of each root, node by node (``known``: values of nodes already computed)."""
    found: dict[int, np.ndarray] = dict(known or {})
    calls: dict = {}  # host calls' whole results (the inputs stay alive in found meanwhile)
    with np.errstate(all="ignore"):
        for node in toposort(list(roots), lambda n: id(n) in found):
            args = [found[id(s)] for s in node.src]
            if node.op in OPAQUE:
                v = np.asarray(opaque_value(node, args, calls))
            else:
                v = np.asarray(_node_value(node, args))
            found[id(node)] = v.astype(node.dtype, copy=False)
    return [found[id(r)] for r in roots]


def _own(value: np.ndarray) -> np.ndarray:
    """``value``, or a copy where it is a read-only or borrowed view (a result's memory is
    its own)."""
    return value if value.flags.writeable and value.base is None else np.array(value)


class InterpBackend:
    """The NumPy reference: every step evaluated node by node, nothing compiled."""

    name = "interp"
    host = True
    cpu_policies = False
    lowers = False

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        return np.empty(shape, dtype)

    def view(self, node: Node, known: dict[int, np.ndarray]) -> np.ndarray:
        return _own(values([node], known)[0])  # the reference's results own their memory

    def compile(self, kernel: object) -> object:
        raise NotImplementedError("the interpreter runs graph nodes, not kernels")

    def launch(self, program: object, launch: object) -> None:
        raise NotImplementedError("the interpreter runs graph nodes, not kernels")

    def run_opaque(self, node: Node, args: list[np.ndarray]) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(_node_value(node, args)).astype(node.dtype, copy=False)

    def run_nodes(self, roots: tuple[Node, ...], known: dict[int, np.ndarray]
                  ) -> list[np.ndarray]:
        return [_own(v) for v in values(roots, known)]

    def copy(self, source: np.ndarray, target: np.ndarray) -> None:
        np.copyto(target, source, casting="unsafe")


BACKEND = InterpBackend()
