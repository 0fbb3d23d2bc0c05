"""Reference backend: evaluates the graph node by node with NumPy.

It defines lazyarr's semantics in the most direct way (the ufunc of each op on inputs already
cast to the ufunc's loop dtypes) and is what the compiled backends are tested against. It
allocates a temporary per node; it is for checking, not speed.
"""

from __future__ import annotations

import math

import numpy as np

from lazyarr.front import opaque
from lazyarr.front.build import cast_values
from lazyarr.ir import ops
from lazyarr.ir.graph import OPAQUE, Node, Op, ReduceKind, toposort


def _reciprocal(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iu":
        return np.reciprocal(x)
    # lazyarr's integer rule: 1 // x, and 0 for x == 0 (NumPy's value there is platform-defined)
    result = np.where(x == 1, x.dtype.type(1), x.dtype.type(0))
    if x.dtype.kind == "i":  # unsigned types have no -1 (building one raises OverflowError)
        result = np.where(x == -1, x.dtype.type(-1), result)
    return result


def _float_power(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``x ** e`` with C's pow at ``e == 0.5``, whatever the exponent's strides.

    NumPy's float power loop computes ``x ** 0.5`` as ``sqrt(x)`` when the exponent's inner
    stride is 0 (a 0-d or broadcast array), which differs from pow at -inf (NaN, not inf) and
    -0.0 (-0.0, not 0.0). Scalar exponents are rewritten to sqrt as they are built
    (``lazyarr/front/canon.py``); an array exponent means pow on every backend.
    """
    result = np.power(x, e)
    fix = (e == 0.5) & ((x == -np.inf) | ((x == 0) & np.signbit(x)))
    if not fix.any():
        return result
    return np.where(fix, np.where(x == 0, 0.0, np.inf).astype(result.dtype), result)


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
    if op is Op.BROADCAST:
        return np.broadcast_to(args[0], node.shape)
    if op is Op.PERMUTE:
        return args[0].transpose(node.arg)
    if op is Op.VIEW:
        return _view(args[0], node)
    if op is Op.REDUCE:
        return _reduce(args[0], node)
    if op in OPAQUE:
        return opaque.run(node, args)
    if op is Op.CAST:
        return cast_values(args[0], node.dtype)
    if op is Op.WHERE:
        return np.where(*args)
    if op is Op.RECIPROCAL:
        return _reciprocal(args[0])
    if op is Op.POWER and node.dtype.kind == "f":
        return _float_power(*args)
    if op is Op.POWER_INT:
        # what the user compares with: NumPy's power with the exponent as its loop saw it
        # (the compiled backends square instead, within 1 ULP of the exact result)
        return np.power(args[0], node.dtype.type(node.arg))
    return ops.SPECS[op].ufunc(*args)


def run(roots: list[Node]) -> list[np.ndarray]:
    values: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for node in toposort(roots):
            v = np.asarray(_node_value(node, [values[id(s)] for s in node.src]))
            values[id(node)] = v.astype(node.dtype, copy=False)
    return [values[id(r)] for r in roots]


def evaluate(roots: list[Node], outs: list[np.ndarray | None]) -> list[np.ndarray]:
    results = []
    for value, out in zip(run(roots), outs, strict=True):
        if out is not None:
            np.copyto(out, value, casting="unsafe")
            results.append(out)
        elif value.flags.writeable and value.base is None:
            results.append(value)
        else:
            results.append(np.array(value))
    return results
