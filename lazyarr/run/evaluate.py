"""``lazyarr.eval``: check the outputs, pick the backend, evaluate."""

from __future__ import annotations

from typing import Any

import numpy as np

from lazyarr.config import settings
from lazyarr.front import build, complexes
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Buffer, Node, Op
from lazyarr.plan.schedule import schedule
from lazyarr.run import daskeval, fastpath, runtime


def _fit_out(node: Node, out: Any) -> Node:
    """``node`` broadcast and cast to fill ``out``, with NumPy's checks and exception types."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if not out.flags.writeable:
        raise ValueError("output array is read-only")
    dt = dtypes.check_array(out.dtype, "out")  # a big-endian out= is stored byte-swapped
    if node.shape != out.shape and (not _broadcastable(node.shape, out.shape) or
                                    np.broadcast_shapes(node.shape, out.shape) != out.shape):
        raise ValueError(
            f"non-broadcastable output operand with shape {out.shape} doesn't match "
            f"the broadcast shape {node.shape}")
    if not np.can_cast(node.dtype, out.dtype, casting="same_kind"):
        raise TypeError(
            f"Cannot cast ufunc output from {node.dtype!r} to {out.dtype!r} "
            "with casting rule 'same_kind'")
    return build.cast(build.broadcast_to(node, out.shape), dt)


def _complex(nodes: list[Node], out: list[Any] | None) -> bool:
    """Whether a node is complex or goes into a complex ``out=`` array."""
    for n in nodes:
        if n.op is Op.COMPLEX:
            return True
    return out is not None and any(isinstance(o, np.ndarray) and o.dtype.kind == "c"
                                   for o in out)


def _broadcastable(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def evaluate(nodes: list[Node], out: list[Any] | None = None,
             backend: str | None = None, target: str | None = None) -> list[Any]:
    """Evaluate ``nodes`` (into ``out``: an array or None per node) on the backend named, or
    the one the target and the leaves' location choose: the one entry of every evaluation.

    On the CPU over host arrays, the fast path answers first (one lookup: these nodes into
    these outputs, evaluated before); a miss whose plan is one kernel becomes its entry."""
    if (complexes.Seen.any or out is not None) and _complex(nodes, out):  # real parts
        return complexes.evaluate(nodes, out, backend, target, evaluate)
    if Buffer.dask and daskeval.has_dask_leaves(nodes):
        if target not in (None, "cpu") or backend not in (None, "cpu"):
            raise ValueError("eval: expressions over Dask arrays run on Dask's workers, with "
                             "the cpu backend")
        return daskeval.evaluate(nodes, out)
    if Buffer.foreign and out is None and target is None and backend in (None, "cuda") and \
            len(nodes) == 1 and nodes[0].sid and nodes[0].ins is not None:
        from lazyarr.run import device  # a new expression of the lean operators

        result = device.run_signed(nodes[0])  # (None unless every leaf is on the device)
        if result is not None:
            return [result]
    if target is not None or backend == "cuda" or Buffer.foreign:
        from lazyarr.run.device import route  # only when device arrays exist or a target is named

        backend, nodes = route(nodes, backend, target, out)
    name = backend or settings.backend
    fast = name == "cpu" and fastpath.active()
    given = None if out is None else tuple(out)
    if fast:  # a hit needs the very arrays an executor holds: no type checks on the way
        results = fastpath.run(tuple(nodes), given)
        if results is None and out is None:  # new expressions (a layer's new batch): build
            results = fastpath.build(tuple(nodes), tuple(nodes))
        if results is not None:
            return results
    from lazyarr import backends

    impl = backends.get(name).BACKEND
    outs = [None] * len(nodes) if out is None else list(out)
    if len(outs) != len(nodes):
        raise ValueError(f"eval: {len(nodes)} expressions but {len(outs)} outputs")
    if not impl.host and any(o is not None for o in outs):
        raise NotImplementedError(f"out= is not supported on the {name.upper()} target yet")
    roots = [n if o is None else _fit_out(n, o) for n, o in zip(nodes, outs, strict=True)]
    # into arrays for every output: the fast path's too (a partial out= is the general path's)
    fast = fast and (given is None or all(type(o) is np.ndarray for o in given))
    if fast and given is not None:
        results = fastpath.build(tuple(nodes), tuple(roots), given)
        if results is not None:
            return results
    plan = fastpath.plan_of(nodes, tuple(roots), given is not None) if fast else None
    if plan is None:
        filled = frozenset(k for k, o in enumerate(outs) if o is not None)
        plan = schedule(roots, impl.cpu_policies, filled)
        if fast:  # outputs of several shapes (a backward pass): planned once, run again
            fastpath.keep_plan(tuple(nodes), given is not None, plan)
    return runtime.run_plan(plan, outs, impl)
