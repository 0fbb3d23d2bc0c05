"""Expressions over Dask arrays: one fused lazyarr kernel per chunk, Dask for the rest.

A graph whose leaves include Dask arrays evaluates to Dask arrays, still lazy. Its elementwise
parts become ``blockwise`` layers whose task runs one fused lazyarr kernel per chunk; a
reduction becomes a Dask tree reduction whose chunk step is a lazyarr kernel with the
producer fused in (``sum(a*b)`` reads each chunk of ``a`` and ``b`` once) and whose combine
and aggregate steps are lazyarr reductions of the partial results; views map to Dask
slicing and transposes, matrix products, reshapes and joins to Dask's own. Dask schedules
(threads, processes, ``dask.distributed``); lazyarr brings no scheduler of its own.

What a task carries is a :class:`Cluster`: plain data (op names, dtypes, constants, view
maps) that a worker rebuilds into a lazyarr graph over its chunks, then evaluates. Kernels
are compiled once per worker process and kernel structure (chunk sizes are run-time
arguments), and worker processes share the on-disk kernel cache.

Dask is optional (``pip install lazyarr[dask]``); this module imports it only when a graph
has a Dask leaf.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lazyarr.ir.graph import (
    ELEMENTWISE,
    MOVEMENT,
    Node,
    Op,
    ReduceKind,
    is_dask_array,
    make,
    toposort,
)
from lazyarr.ir.reference import opaque_value

EXTRA = "Dask support needs the optional dependencies: pip install 'lazyarr[dask]'"


def has_dask_leaves(roots: list[Node] | tuple[Node, ...]) -> bool:
    return any(n.op is Op.LEAF and is_dask_array(n.arg.array) for n in toposort(list(roots)))


def _dask() -> Any:
    try:
        import dask.array as da
    except ImportError:
        raise ImportError(EXTRA) from None
    return da


def check_leaf(array: Any) -> None:
    """A Dask array lazyarr can capture: known chunk sizes (lazyarr needs every shape when the
    expression is written)."""
    if any(isinstance(n, float) for n in array.shape):  # NaN: unknown chunk sizes
        raise ValueError("asarray: a Dask array with unknown chunk sizes (shape "
                         f"{array.shape}); call .compute_chunk_sizes() first")


# -- what a task carries ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Cluster:
    """An elementwise expression over ``n_inputs`` chunks of one shape, as plain data: each
    entry is ``(op, dtype, arg, sources)``, a source being ``("in", k)``, ``("const", value)``
    (a scalar, broadcast) or ``("node", j)`` (an earlier entry). The last entry is the result;
    ``reduce`` (kind, axes), when set, reduces it per chunk with ``keepdims``."""

    entries: tuple[tuple[Op, np.dtype, Any, tuple[tuple[str, Any], ...]], ...]
    n_inputs: int
    reduce: tuple[ReduceKind, tuple[int, ...]] | None = None
    # a complex result: the sources of its real and imaginary parts (no reduction then)
    parts: tuple[tuple[str, Any], tuple[str, Any]] | None = None

    def text(self) -> str:
        """The expression, one entry a line (what ``explain`` prints for the layer)."""
        lines = []
        for j, (op, dtype, arg, srcs) in enumerate(self.entries):
            names = [f"in{v}" if kind == "in" else f"%{v}" if kind == "node" else repr(v.item())
                     for kind, v in srcs]
            extra = f" n={arg}" if op is Op.POWER_INT else ""
            lines.append(f"%{j} = {op.value}{extra}({', '.join(names)}) : {dtype}")
        if self.reduce is not None:
            kind, axes = self.reduce
            lines.append(f"per chunk: {kind.value} over axes {axes}, kept as length 1")
        if self.parts is not None:
            names = [f"in{v}" if kind == "in" else f"%{v}" if kind == "node" else repr(v.item())
                     for kind, v in self.parts]
            lines.append(f"complex chunk: real {names[0]}, imaginary {names[1]}")
        return "\n".join(lines)


def run_cluster(cluster: Cluster, *blocks: np.ndarray) -> np.ndarray:
    """A task: ``cluster`` over the chunks ``blocks``, one fused lazyarr kernel."""
    from lazyarr.front import build, reductions

    shape = np.broadcast_shapes(*(b.shape for b in blocks)) if blocks else ()
    made: list[Node] = []

    def source(kind: str, v: Any) -> Node:
        if kind == "in":
            return build.broadcast_to(build.leaf(np.asarray(blocks[v])), shape)
        if kind == "const":
            return build.broadcast_to(build.scalar(v, v.dtype), shape)
        return made[v]

    for op, dtype, arg, srcs in cluster.entries:
        made.append(make(op, dtype, shape, tuple(source(*s) for s in srcs), arg))
    if cluster.parts is not None:
        return _complex_block([source(*s) for s in cluster.parts])
    node = made[-1] if made else source("in", 0)
    if cluster.reduce is not None:
        kind, axes = cluster.reduce
        node = reductions.reduce(kind, node, axes, keepdims=True)
    return _evaluate(node)


def _evaluate(node: Node) -> np.ndarray:
    """``node``'s value by the general path: the fast path would keep each chunk's graph,
    and so its arrays, among its recent expressions (the kernel caches still apply)."""
    from lazyarr.backends import cpu
    from lazyarr.plan.schedule import schedule
    from lazyarr.run.runtime import run_plan

    (value,) = run_plan(schedule([node], True), [None], cpu.BACKEND)
    return value


def _complex_block(parts: list[Node]) -> np.ndarray:
    """A complex chunk from its two parts, computed together (one kernel, two outputs) and
    stored part by part: ``re + 1j * im`` would turn an infinite part into NaN's."""
    from lazyarr.backends import cpu
    from lazyarr.plan.schedule import schedule
    from lazyarr.run.runtime import run_plan

    re, im = run_plan(schedule(parts, True), [None, None], cpu.BACKEND)
    node = parts[0]
    z = np.empty(node.shape, np.result_type(node.dtype, np.complex64))  # float32: complex64
    z.real, z.imag = re, im
    return z


def combine(kind: ReduceKind, block: np.ndarray, axis: tuple[int, ...], keepdims: bool
            ) -> np.ndarray:
    """A combine or aggregate step of a tree reduction: partial results reduced with lazyarr
    (sums with its compensated summation; min, max, any, all exactly)."""
    from lazyarr.front import build, reductions

    leaf = build.leaf(np.asarray(block))
    return _evaluate(reductions.reduce(kind, leaf, tuple(sorted(axis)), keepdims=keepdims))


# -- the graph as Dask arrays ----------------------------------------------------------------------
class _Translation:
    def __init__(self) -> None:
        self.da = _dask()
        self.done: dict[int, Any] = {}  # id of a node -> its Dask array
        self.layers: list[tuple[str, Cluster]] = []  # what explain shows
        self.host_calls: dict[tuple, Any] = {}  # one task per call with several results

    def array(self, node: Node) -> Any:
        """``node`` as a Dask array."""
        found = self.done.get(id(node))
        if found is None:
            found = self.done[id(node)] = self.translate(node)
        return found

    def translate(self, node: Node) -> Any:
        da = self.da
        if node.op is Op.LEAF:
            arr = node.arg.array
            return arr if is_dask_array(arr) else da.from_array(arr, chunks=-1)
        if node.op is Op.SCALAR:
            return da.from_array(np.asarray(node.arg), chunks=())
        if node.op is Op.COUNTER:
            # each chunk makes its own part of the index (Dask's arange), so a sampler draws
            # the numbers it draws without Dask, whatever the chunks
            return da.arange(node.size, dtype=np.uint64).reshape(node.shape)
        if node.op in ELEMENTWISE:
            return self.blockwise(node)
        if node.op is Op.REDUCE:
            return self.reduction(node)
        if node.op is Op.SCAN:
            return self.scan(node)
        if node.op is Op.COMPLEX:
            return self.complex(node)
        if node.op in MOVEMENT:
            return self.movement(node)
        return self.opaque(node)

    # elementwise clusters -------------------------------------------------------------------
    def cluster(self, root: Node, reduce: tuple | None) -> tuple[Cluster, list[Node]]:
        """``root``'s maximal elementwise expression, and the nodes its inputs are (a view or
        an opaque op is the one input of a cluster with no entries)."""
        if root.op not in ELEMENTWISE:
            return Cluster((), 1, reduce), [root]
        entries, _, inputs = _entries([root])
        return Cluster(entries, len(inputs), reduce), inputs

    def aligned(self, inputs: list[Node], shape: tuple[int, ...]) -> list[Any]:
        arrays = [self.da.broadcast_to(self.array(n), shape) for n in inputs]
        if len(arrays) > 1:
            _, arrays = self.da.core.unify_chunks(*_pairs(arrays))
        return list(arrays)

    def blockwise(self, node: Node) -> Any:
        cluster, inputs = self.cluster(node, None)
        shape = node.shape
        ind = tuple(range(len(shape)))
        arrays = self.aligned(inputs, shape)
        name = f"lazyarr-{node.op.value}"
        result = self.da.blockwise(functools.partial(run_cluster, cluster), ind,
                                   *_pairs(arrays),
                                   dtype=node.dtype, token=name, meta=np.empty((0,) * len(ind),
                                                                              node.dtype))
        self.layers.append((result.name, cluster))
        return result

    # complex values: both parts in one task per chunk (one kernel, two outputs) ---------
    def complex(self, node: Node) -> Any:
        entries, refs, inputs = _entries(list(node.src))
        if not inputs:  # constant parts: an input of the shape, for the chunks to fill
            from lazyarr.front import build

            inputs = [build.broadcast_to(build.leaf(np.zeros((), np.uint8)), node.shape)]
        cluster = Cluster(entries, len(inputs), parts=(refs[0], refs[1]))
        ind = tuple(range(node.ndim))
        arrays = self.aligned(inputs, node.shape)
        result = self.da.blockwise(functools.partial(run_cluster, cluster), ind,
                                   *_pairs(arrays), dtype=node.dtype, token="lazyarr-complex",
                                   meta=np.empty((0,) * node.ndim, node.dtype))
        self.layers.append((result.name, cluster))
        return result

    # reductions -----------------------------------------------------------------------------
    def reduction(self, node: Node) -> Any:
        kind, axes = node.arg
        source = node.src[0]
        if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
            return self.arg_reduction(node)
        data = _centred_squares(node) if kind is ReduceKind.SUM else None
        if data is not None:  # var, std: one pass merging moments, not two over the data
            count = math.prod(data.shape[a] for a in axes)
            spread = self.da.var(self.array(data), axis=axes) * count
            return spread.astype(node.dtype)
        cluster, inputs = self.cluster(source, (kind, axes))
        ind = tuple(range(source.ndim))
        arrays = self.aligned(inputs, source.shape)
        partial = self.da.blockwise(functools.partial(run_cluster, cluster), ind,
                                    *_pairs(arrays), dtype=node.dtype,
                                    token=f"lazyarr-{kind.value}-chunk", adjust_chunks={
                                        d: (lambda n: 1) for d in axes},
                                    meta=np.empty((0,) * len(ind), node.dtype))
        self.layers.append((partial.name, cluster))
        step = functools.partial(combine, kind)
        return self.da.reduction(partial, chunk=_identity, combine=step, aggregate=step,
                                 axis=axes, keepdims=False, dtype=node.dtype,
                                 name=f"lazyarr-{kind.value}", concatenate=True,
                                 meta=np.empty((0,) * node.ndim, node.dtype))

    def arg_reduction(self, node: Node) -> Any:
        kind, axes = node.arg
        source = node.src[0]
        values = self.array(source)
        fn = self.da.argmax if kind is ReduceKind.ARGMAX else self.da.argmin
        if len(axes) == source.ndim and source.ndim != 1:
            return fn(values.ravel(), axis=0).astype(node.dtype)
        return fn(values, axis=axes[0]).astype(node.dtype)

    # scans: Dask's own (a sequential scan per chunk, and the totals of the chunks before it
    # added or multiplied in); what is scanned is a fused lazyarr layer like any other
    def scan(self, node: Node) -> Any:
        fn = self.da.cumsum if node.arg is ReduceKind.SUM else self.da.cumprod
        return fn(self.array(node.src[0]), axis=node.ndim - 1, dtype=node.dtype)

    # views and opaque ops -------------------------------------------------------------------
    def movement(self, node: Node) -> Any:
        x = self.array(node.src[0])
        if node.op is Op.BROADCAST:
            return self.da.broadcast_to(x, node.shape)
        if node.op is Op.PERMUTE:
            return self.da.transpose(x, node.arg)
        index, order = [], []
        for r, step, start in node.arg:
            if r is None:
                index.append(start)
            else:
                n = node.shape[r]
                stop = start + step * n
                index.append(slice(start, None if stop < 0 else stop, step))
                order.append(r)
        y = x[tuple(index)]
        ranked = sorted(range(len(order)), key=lambda k: order[k])
        if ranked != list(range(len(order))):
            y = self.da.transpose(y, ranked)
        return y.reshape(node.shape) if y.shape != node.shape else y

    def opaque(self, node: Node) -> Any:
        da = self.da
        args = [self.array(s) for s in node.src]
        if node.op is Op.MATMUL:
            result = (da.matmul if node.arg == "matmul" else da.dot)(*args)
        elif node.op is Op.RESHAPE:
            result = _reshape(args[0], node.shape)
        elif node.op is Op.CONCATENATE:
            result = da.concatenate([a.astype(node.dtype) for a in args], axis=node.arg)
        elif node.op is Op.TAKE:
            result = da.take(args[0], args[1], axis=node.arg)
        elif node.op is Op.HOST:  # NumPy's function of whole arrays: one task, one chunk
            import dask

            if node.arg.output is None:
                task = dask.delayed(_host_value, pure=True)(node, *args)
            else:  # one of several results (a complex one's parts): one call for all
                key = (node.arg.fn, node.arg.params, *map(id, node.src))
                whole = self.host_calls.get(key)
                if whole is None:
                    whole = self.host_calls[key] = dask.delayed(_host_whole, pure=True)(
                        node, *args)
                task = dask.delayed(_host_item, pure=True)(whole, node)
            result = da.from_delayed(task, node.shape, dtype=node.dtype)
        elif node.op is Op.SCATTER_ADD:
            raise NotImplementedError("scatter_add (the gradient of take) over Dask arrays: "
                                      "evaluate the gradient on NumPy arrays")
        else:
            result = da.stack([a.astype(node.dtype) for a in args], axis=node.arg)
        return result.astype(node.dtype)


def _host_value(node: Node, *args: np.ndarray) -> np.ndarray:
    return opaque_value(node, list(args))


def _host_whole(node: Node, *args: np.ndarray) -> Any:
    """All results of a host call with several (each a node of its own): NumPy runs once."""
    call = node.arg
    return call.fn(*args, *call.params)


def _host_item(whole: Any, node: Node) -> np.ndarray:
    result = whole[node.arg.output]
    if np.shape(result) != node.shape:
        raise RuntimeError(f"{node.arg.name}: NumPy gave shape {np.shape(result)}, the lazy "
                           f"array has {node.shape} (its input changed since it was built?)")
    return np.asarray(result, dtype=node.dtype)


def _entries(roots: list[Node]) -> tuple[tuple, list[tuple[str, Any]], list[Node]]:
    """The elementwise expression of ``roots`` as a cluster's entries, a source for each
    root (an entry, a constant or an input: a root that is not elementwise is an input) and
    the nodes the inputs are."""
    entries: list = []
    index: dict[int, tuple[str, Any]] = {}
    inputs: list[Node] = []

    def ref(s: Node) -> tuple[str, Any]:
        found = index.get(id(s))
        if found is None:
            const = _const(s)
            if const is not None:
                found = ("const", const)
            else:
                found = ("in", len(inputs))
                inputs.append(s)
            index[id(s)] = found
        return found

    inner = [r for r in roots if r.op in ELEMENTWISE]
    for node in toposort(inner, lambda n: n.op not in ELEMENTWISE):
        srcs = tuple(ref(s) for s in node.src)
        index[id(node)] = ("node", len(entries))
        entries.append((node.op, node.dtype, node.arg, srcs))
    return tuple(entries), [ref(r) for r in roots], inputs


def _reshape(x: Any, shape: tuple[int, ...]) -> Any:
    """Dask's reshape, which only merges or splits whole dimensions: any other reshape goes
    through the flat array (merge every dimension, then split into the new ones)."""
    try:
        return x.reshape(shape)
    except NotImplementedError:
        return x.reshape(math.prod(x.shape)).reshape(shape)


def _identity(block: np.ndarray, axis: Any = None, keepdims: bool = True) -> np.ndarray:
    return block


def _pairs(arrays: list[Any]) -> list[Any]:
    out: list[Any] = []
    for a in arrays:
        out += [a, tuple(range(a.ndim))]
    return out


def _under_views(node: Node) -> Node:
    while node.op in MOVEMENT or node.op is Op.CAST:
        node = node.src[0]
    return node


def _centred_squares(node: Node) -> Node | None:
    """``x`` when ``node`` (a sum) is ``sum((x - mean(x))**2)`` over the mean's own axes, as
    lazyarr's ``var`` and ``std`` write it; else None. Dask merges the moments of the chunks
    in one pass (Chan's formulas) where the expression as written takes two."""
    axes = node.arg[1]
    sq = node.src[0]
    if not (sq.op is Op.SQUARE or (sq.op is Op.MULTIPLY and sq.src[0] is sq.src[1])):
        return None
    centred = sq.src[0]
    if centred.op is not Op.SUBTRACT:
        return None
    x, mean = centred.src[0], _under_views(centred.src[1])
    if mean.op is not Op.TRUE_DIVIDE or _const(mean.src[1]) is None:
        return None
    total = _under_views(mean.src[0])
    if total.op is not Op.REDUCE or total.arg != (ReduceKind.SUM, axes) or \
            _under_views(total.src[0]) is not _under_views(x) or x.dtype.kind != "f":
        return None
    count = math.prod(x.shape[a] for a in axes)
    return x if float(_const(mean.src[1])) == count else None


def _const(node: Node) -> np.generic | None:
    """The scalar a (broadcast) constant holds, else None."""
    while node.op is Op.BROADCAST:
        node = node.src[0]
    return node.arg if node.op is Op.SCALAR else None


def evaluate(nodes: list[Node], out: Any = None) -> list[Any]:
    """``nodes`` as Dask arrays (lazy: ``.compute()`` runs them on any Dask scheduler)."""
    if out is not None and any(o is not None for o in out):
        raise ValueError("eval: out= is not supported for expressions over Dask arrays "
                         "(Dask arrays are immutable); use the returned Dask array")
    tr = _Translation()
    return [tr.array(n) for n in nodes]


class DaskPlan:
    """What ``la.explain`` returns for an expression over Dask arrays: the Dask graph's
    layers and, for each of lazyarr's, the fused expression its tasks run per chunk."""

    def __init__(self, nodes: list[Node]) -> None:
        self.text = explain(nodes)

    def __str__(self) -> str:
        return self.text

    __repr__ = __str__


def explain(nodes: list[Node]) -> str:
    """The Dask graph's layers, and the fused expression each lazyarr layer runs per chunk."""
    tr = _Translation()
    results = [tr.array(n) for n in nodes]
    lines = [f"{len(results)} Dask array(s) over Dask leaves; each chunk of a lazyarr layer "
             "is one fused lazyarr kernel"]
    kernels = dict(tr.layers)
    for r in results:
        layers = r.__dask_graph__().layers
        lines.append(f"Dask graph of {r.name}: {len(layers)} layer(s)")
        for name, layer in layers.items():
            tasks = len(layer)
            lines.append(f"  {name}: {tasks} task(s)")
            if name in kernels:
                lines.extend("      " + t for t in kernels[name].text().splitlines())
    return "\n".join(lines)


__all__ = ["EXTRA", "Cluster", "DaskPlan", "check_leaf", "evaluate", "explain", "has_dask_leaves",
           "run_cluster"]
