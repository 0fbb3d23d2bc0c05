"""Reference backend: evaluates the graph node by node with NumPy.

It defines lazyarr's semantics in the most direct way (the ufunc of each op on inputs already
cast to the ufunc's loop dtypes) and is what the compiled backends are tested against. It
allocates a temporary per node; it is for checking, not speed.
"""

from __future__ import annotations

import numpy as np

from lazyarr import ops
from lazyarr.build import cast_values
from lazyarr.graph import Node, Op, toposort


def _reciprocal(x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iu":
        return np.reciprocal(x)
    # lazyarr's integer rule: 1 // x, and 0 for x == 0 (NumPy's value there is platform-defined)
    one = x == 1
    minus = (x == -1) if x.dtype.kind == "i" else np.zeros_like(one)
    return np.where(one, x.dtype.type(1), np.where(minus, x.dtype.type(-1), x.dtype.type(0)))


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
    if op is Op.CAST:
        return cast_values(args[0], node.dtype)
    if op is Op.WHERE:
        return np.where(*args)
    if op is Op.RECIPROCAL:
        return _reciprocal(args[0])
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
