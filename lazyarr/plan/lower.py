"""Lowering one fused step of a plan to loop IR.

:func:`trace` walks the graph of a step's roots once, following each node's index map (a
:data:`~lazyarr.ir.graph.ViewMap` from the kernel's index space to the node's dimensions):
movement ops vanish into the maps, and each input is read through one strided view of its
buffer. The walk also says which nodes the kernel cannot fuse (``Trace.blocked``): opaque
ops, reductions over other dimensions than the kernel's row, and scans (cumulative sums and
products, ``Op.SCAN``) that do not walk the kernel's row forward or that a reduction of the
same row consumes. The scheduler
(``schedule.py``) plans those as steps of their own before the kernel, so :func:`lower`,
which turns a trace into a :class:`~lazyarr.ir.loop.Launch` writing given outputs, never
meets one. Target policies (partial rows, streaming stores) are passes over the result
(``cpu_passes.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lazyarr.ir import dtypes
from lazyarr.ir.graph import ELEMENTWISE, MOVEMENT, OPAQUE, Node, Op, ReduceKind, ViewMap
from lazyarr.ir.loop import (
    COUNTER_MEMORY,
    ArrayParam,
    Instr,
    Kernel,
    Launch,
    Layout,
    View,
    c_strides,
)


def map_through(node: Node, m: ViewMap) -> ViewMap:
    """The map of ``node.src[0]`` given the map ``m`` of movement node ``node``."""
    src = node.src[0]
    if node.op is Op.BROADCAST:
        lead = node.ndim - src.ndim
        return tuple(
            (None, 0, 0) if n == 1 and node.shape[k + lead] != 1 else m[k + lead]
            for k, n in enumerate(src.shape)
        )
    if node.op is Op.PERMUTE:
        out: list = [None] * src.ndim
        for d, axis in enumerate(node.arg):
            out[axis] = m[d]
        return tuple(out)
    if node.op is Op.VIEW:
        return tuple(_compose(m, entry) for entry in node.arg)
    raise AssertionError(f"not a movement op: {node.op}")


def _compose(m: ViewMap, entry: tuple[int | None, int, int]) -> tuple[int | None, int, int]:
    dim, step, start = entry
    if dim is None:
        return (None, 0, start)
    kdim, kstep, kstart = m[dim]
    if kdim is None:
        return (None, 0, start + step * kstart)
    return (kdim, step * kstep, start + step * kstart)


def reduce_source_map(node: Node, m: ViewMap, row_start: int) -> ViewMap:
    """Map of a REDUCE node's source: kept axes as ``m``, reduced axes on the row dims."""
    axes = node.arg[1]
    kept = iter(m)
    reduced = iter(range(row_start, row_start + len(axes)))
    return tuple((next(reduced), 1, 0) if k in axes else next(kept)
                 for k in range(node.src[0].ndim))


def _identity(ndim: int) -> ViewMap:
    return tuple((d, 1, 0) for d in range(ndim))


def _strided(array: Any, m: ViewMap, ndim: int, own: tuple[int, ...] | None = None) -> View:
    """``array`` (whose strides are ``own``, or its own) seen through map ``m``."""
    strides = [0] * ndim
    offset = 0
    for (dim, step, start), stride in zip(m, array.strides if own is None else own,
                                          strict=True):
        offset += start * stride
        if dim is not None:
            strides[dim] += step * stride
    return View(array, offset, tuple(strides))


def view_base(node: Node) -> Node:
    """The node under ``node``'s movement ops (each has one source)."""
    while node.op in MOVEMENT:
        node = node.src[0]
    return node


def leaf_view(node: Node, array: Any = None) -> View:
    """The memory a view (movement ops over one LEAF, or over a result materialised into
    ``array``) reads, over ``node``'s own dimensions: no copy needed."""
    ndim, m = node.ndim, _identity(node.ndim)
    while node.op in MOVEMENT:
        m, node = map_through(node, m), node.src[0]
    return _strided(node.arg.array if array is None else array, m, ndim)


def stand_in(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A C-ordered array of ``shape`` over one element of memory: lowering reads only its
    dtype, strides and address, and nothing writes it. It is read-only, which is how the
    CPU's passes know its claimed extent (which may cover any other array's memory) is not
    memory at all."""
    strides, step = [], dtype.itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return np.lib.stride_tricks.as_strided(np.empty(1, dtype), shape, tuple(reversed(strides)),
                                           writeable=False)


def _dims_used(m: ViewMap) -> set[int]:
    return {d for d, _, _ in m if d is not None}


@dataclass(frozen=True, slots=True)
class Trace:
    """One walk of a step's graph: the kernel body and what it reads, before the outputs and
    the loop shape are known. ``blocked``: nodes the kernel cannot fuse (empty for a trace
    that can be lowered)."""

    roots: tuple[Node, ...]
    outer: tuple[int, ...]
    row: tuple[int, ...]
    out_level: int
    body: tuple[Instr, ...]
    values: tuple[int, ...]  # body index of each root
    inputs: tuple[View, ...]  # over outer + row dimensions
    sources: tuple[Node | None, ...]  # the materialised result each input reads, if any
    scalars: tuple[np.generic, ...]
    scalar_nodes: tuple[Node, ...]
    blocked: tuple[Node, ...]
    reads: tuple[Node, ...]  # materialised results it loads
    reduce_nodes: tuple[tuple[int, Node], ...]  # body index of each REDUCE, its node


class _Walk:
    def __init__(self, shape: tuple[int, ...], row: tuple[int, ...] | None,
                 materialised: Mapping[int, Any]) -> None:
        self.outer = shape
        self.row = row  # None: not known yet (set by the first reduction met)
        # a row-wise kernel (its row chosen from the outputs' shape) stores every row element
        # in one last pass over the row: only there can a scan carry its running value
        self.row_wise = row is not None
        self.materialised = materialised
        self.body: list[Instr] = []
        self.inputs: list[View] = []
        self.sources: list[Node | None] = []
        self.scalars: list[np.generic] = []
        self.scalar_nodes: list[Node] = []
        self.memo: dict[tuple[int, ViewMap], int] = {}
        self.views: dict[tuple, int] = {}
        self.blocked: dict[int, Node] = {}
        self.reads: dict[int, Node] = {}
        self.reduce_nodes: list[tuple[int, Node]] = []
        self.scan_nodes: list[tuple[int, Node]] = []

    @property
    def ndim(self) -> int:
        return len(self.outer) + len(self.row or ())

    def emit(self, instr: Instr) -> int:
        self.body.append(instr)
        return len(self.body) - 1

    def scalar(self, node: Node) -> int:
        self.scalars.append(node.arg)
        self.scalar_nodes.append(node)
        return self.emit(Instr(Op.SCALAR, node.dtype, (), len(self.scalars) - 1))

    def load(self, array: Any, m: ViewMap, source: Node | None = None,
             own: tuple[int, ...] | None = None) -> int:
        view = _strided(array, m, self.ndim, own)
        level = int(any(d >= len(self.outer) for d in _dims_used(m)))
        # one parameter (and one load) per distinct piece of memory, so that an output
        # written in place over an input is read before it is written; and per level, as a
        # load inside the row loop is no value outside it (a stride-0 input read both ways)
        key = (view.address, view.strides, array.dtype, level)
        found = self.views.get(key)
        if found is None:
            self.inputs.append(view)
            self.sources.append(source)
            found = self.emit(Instr(Op.LEAF, dtypes.native(array.dtype), (),
                                    len(self.inputs) - 1, level))
            self.views[key] = found
        return found

    def fusable_reduction(self, node: Node, m: ViewMap) -> bool:
        """A reduction fuses when its result varies along every outer dimension (no work is
        repeated) and not along the row, and it reduces exactly the kernel's row."""
        used = _dims_used(m)
        needed = {d for d, n in enumerate(self.outer) if n > 1}
        if not needed <= used or any(d >= len(self.outer) for d in used):
            return False
        extents = tuple(node.src[0].shape[a] for a in node.arg[1])
        if self.row is None:
            self.row = extents
        return extents == self.row

    def fusable_scan(self, node: Node, m: ViewMap) -> bool:
        """A scan fuses into a row-wise kernel when its axis is the kernel's row, walked
        forward from its start (the running value follows the store pass), and, as for a
        reduction, its result varies along every outer dimension (no scan is repeated)."""
        k = len(self.outer)
        if not self.row_wise or self.row != (node.shape[-1],) or m[-1] != (k, 1, 0):
            return False
        used = _dims_used(m[:-1])
        needed = {d for d, n in enumerate(self.outer) if n > 1}
        return needed <= used and all(d < k for d in used)

    def children(self, node: Node, m: ViewMap) -> list[tuple[Node, ViewMap]]:
        if node.op is Op.REDUCE:
            return [(node.src[0], reduce_source_map(node, m, len(self.outer)))]
        if node.op in ELEMENTWISE or node.op is Op.SCAN:
            return [(s, m) for s in node.src]
        return [(node.src[0], map_through(node, m))]

    def leaf_or_none(self, node: Node, m: ViewMap) -> int | None:
        """Emit ``node`` if it needs no children; None if it does."""
        array = self.materialised.get(id(node))
        if array is not None:
            self.reads[id(node)] = node
            return self.load(array, m, node)
        if node.op is Op.LEAF:
            return self.load(node.arg.array, m)
        if node.op is Op.COUNTER:  # C-ordered: each element's index is its "address" / 8
            return self.load(COUNTER_MEMORY, m, own=c_strides(node.shape, 8))
        if node.op is Op.SCALAR:
            return self.scalar(node)
        if node.op in OPAQUE or (node.op is Op.REDUCE and not self.fusable_reduction(node, m)) \
                or (node.op is Op.SCAN and not self.fusable_scan(node, m)):
            self.blocked[id(node)] = node
            return self.emit(Instr(Op.SCALAR, node.dtype))  # placeholder, never compiled
        return None

    def finish(self, node: Node, kids: list[int]) -> int:
        if node.op is Op.REDUCE:
            index = self.emit(Instr(Op.REDUCE, node.dtype, tuple(kids), node.arg[0], 0))
            self.reduce_nodes.append((index, node))
            return index
        if node.op is Op.SCAN:  # once per row element, its running value carried along
            index = self.emit(Instr(Op.SCAN, node.dtype, tuple(kids), node.arg, 1))
            self.scan_nodes.append((index, node))
            return index
        if node.op in ELEMENTWISE:
            level = max((self.body[k].level for k in kids), default=0)
            # an elementwise op's argument (POWER_INT's exponent) shapes the code: it is part
            # of the instruction, so of the kernel's cache keys
            return self.emit(Instr(node.op, node.dtype, tuple(kids), node.arg, level))
        return kids[0]  # movement: the source's value, seen through the map

    def walk(self, root: Node, m: ViewMap) -> int:
        stack: list[tuple[Node, ViewMap, bool]] = [(root, m, False)]
        while stack:
            node, m, ready = stack.pop()
            key = (id(node), m)
            if key in self.memo:
                continue
            if ready:
                kids = [self.memo[(id(s), sm)] for s, sm in self.children(node, m)]
                self.memo[key] = self.finish(node, kids)
                continue
            value = self.leaf_or_none(node, m)
            if value is not None:
                self.memo[key] = value
                continue
            stack.append((node, m, True))
            stack.extend((s, sm, False) for s, sm in reversed(self.children(node, m)))
        return self.memo[(id(root), m)]


def first_reduction(roots: tuple[Node, ...], materialised: Mapping[int, Any]
                    ) -> tuple[Node, ViewMap] | None:
    """The first reduction or scan met walking down from ``roots`` through fusable ops, with
    its map."""
    stack = [(r, _identity(r.ndim)) for r in reversed(roots)]
    seen: set[tuple[int, ViewMap]] = set()
    while stack:
        node, m = stack.pop()
        if (id(node), m) in seen or id(node) in materialised or node.op in OPAQUE:
            continue
        seen.add((id(node), m))
        if node.op in (Op.REDUCE, Op.SCAN):
            return node, m
        if node.op in ELEMENTWISE:
            stack.extend((s, m) for s in reversed(node.src))
        elif node.src:
            stack.append((node.src[0], map_through(node, m)))
    return None


def choose_row(roots: tuple[Node, ...], materialised: Mapping[int, Any]
               ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Split the output shape into (outer, row).

    Row-wise kernels (softmax, layer norm) store every element of trailing dimensions that
    their reductions reduce: those dimensions become the row. A scan's axis is the row of
    the kernel that stores it when that axis is the outputs' last. Otherwise all output
    dimensions are outer, and a reduction met while lowering sets the row.
    """
    shape = roots[0].shape
    found = first_reduction(roots, materialised)
    if found is None:
        return shape, None
    node, m = found
    if node.op is Op.SCAN:
        return _scan_row(shape, node, m)
    extents = tuple(node.src[0].shape[a] for a in node.arg[1])
    k = len(shape) - len(extents)
    if k < 0 or shape[k:] != extents:
        return shape, None
    used = _dims_used(m)
    outer_needed = {d for d in range(k) if shape[d] > 1}
    if used <= set(range(k)) and outer_needed <= used:
        return shape[:k], extents
    return shape, None


def _scan_row(shape: tuple[int, ...], node: Node, m: ViewMap
              ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """(outer, row) for outputs of ``shape`` whose first row op is scan ``node`` (map
    ``m``): its axis is the row when it runs forward along the outputs' last dimension and
    the rest of the scan varies along every other dimension of more than one element."""
    k = len(shape) - 1
    if k < 0 or shape[k] != node.shape[-1] or m[-1] != (k, 1, 0):
        return shape, None
    used = _dims_used(m[:-1])
    if used <= set(range(k)) and {d for d in range(k) if shape[d] > 1} <= used:
        return shape[:k], (shape[k],)
    return shape, None


def _scans_in_reductions(body: list[Instr], scans: list[tuple[int, Node]]) -> list[Node]:
    """The scans whose value a reduction of the same row folds: a reduction's pass over the
    row and the store pass would each need the running value from the row's start, so such
    a scan is evaluated first, into a buffer of its own."""
    inside: set[int] = set()
    for ins in body:
        if ins.op is not Op.REDUCE:
            continue
        stack = list(ins.args)
        while stack:
            n = stack.pop()
            if n in inside or body[n].op is Op.REDUCE:
                continue  # an inner reduction is a level-0 value, computed before the row
            inside.add(n)
            stack.extend(body[n].args)
    return [node for index, node in scans if index in inside]


def trace(roots: tuple[Node, ...], materialised: Mapping[int, Any]) -> Trace:
    """Walk the fused graph of ``roots`` (one shape). ``materialised``: id of each node
    evaluated into a buffer before this kernel -> that buffer (or any stand-in with its
    ``dtype``, ``strides`` and an address: only a trace that nothing lowers may use those)."""
    outer, row = choose_row(roots, materialised)
    out_level = int(row is not None)  # a row-wise kernel stores every row element
    walk = _Walk(outer, row, materialised)
    # a root of the outer shape alone (a row kernel's per-row result) maps to the outer
    # dimensions, which come first: its own identity map
    values = tuple(walk.walk(r, _identity(r.ndim)) for r in roots)
    for node in _scans_in_reductions(walk.body, walk.scan_nodes):
        walk.blocked[id(node)] = node
    # inputs met before the first reduction set the row do not vary along it: stride 0
    inputs = tuple(View(v.array, v.offset, v.strides + (0,) * (walk.ndim - len(v.strides)))
                   for v in walk.inputs)
    return Trace(roots, outer, walk.row or (), out_level, tuple(walk.body), values, inputs,
                 tuple(walk.sources), tuple(walk.scalars), tuple(walk.scalar_nodes),
                 tuple(walk.blocked.values()), tuple(walk.reads.values()),
                 tuple(walk.reduce_nodes))


def rebind(tr: Trace, buffers: Mapping[int, Any]) -> Trace:
    """``tr`` reading the materialised results' real ``buffers`` (by node id) instead of the
    stand-ins it was walked with; walked again where a buffer is laid out otherwise (an
    opaque op's result may be any view)."""
    inputs = list(tr.inputs)
    for k, (v, node) in enumerate(zip(tr.inputs, tr.sources, strict=True)):
        if node is not None:
            real = buffers[id(node)]
            if real.strides != v.array.strides or real.dtype != v.array.dtype:
                return trace(tr.roots, {id(n): buffers[id(n)] for n in tr.reads})
            inputs[k] = View(real, v.offset, v.strides)
    return replace(tr, inputs=tuple(inputs))


def _coalesce(shape: tuple[int, ...], strides: list[tuple[int, ...]]
              ) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Drop size-1 dimensions and merge neighbours that every array walks contiguously."""
    keep = [d for d, n in enumerate(shape) if n != 1]
    dims = [shape[d] for d in keep]
    cols = [[s[d] for d in keep] for s in strides]
    d = len(dims) - 2
    while d >= 0:
        if all(c[d] == c[d + 1] * dims[d + 1] for c in cols):
            dims[d] *= dims[d + 1]
            del dims[d + 1]
            for c in cols:
                c[d] = c[d + 1]
                del c[d + 1]
        d -= 1
    if not dims:
        return (1,), [(0,) for _ in strides]
    return tuple(dims), [tuple(c) for c in cols]


def _coalesce_split(outer: tuple[int, ...], row: tuple[int, ...], views: list[View]
                    ) -> tuple[tuple[int, ...], int, list[View]]:
    """Coalesce outer and row dimensions separately (they are different loops)."""
    n = len(outer)
    o_dims, o_strides = _coalesce(outer, [v.strides[:n] for v in views])
    if not row:
        return o_dims, 0, [View(v.array, v.offset, s) for v, s in zip(views, o_strides,
                                                                         strict=True)]
    r_dims, r_strides = _coalesce(row, [v.strides[n:] for v in views])
    return o_dims + r_dims, len(r_dims), [
        View(v.array, v.offset, so + sr)
        for v, so, sr in zip(views, o_strides, r_strides, strict=True)]


def _aligned(array: Any) -> bool:
    """Whether every element of ``array`` (NumPy's or a device array) is aligned for its
    dtype. A view's offset and strides are sums of the array's strides: aligned too."""
    if isinstance(array, np.ndarray):
        return array.flags.aligned
    align = array.dtype.alignment
    return all(n % align == 0 for n in (array.ptr, *array.strides))


def _layout(stride: int, itemsize: int, extent: int) -> Layout:
    # with one element along the loop the stride is never used: share the contiguous kernel
    if stride == itemsize or extent == 1:
        return Layout.CONTIG
    return Layout.ZERO if stride == 0 else Layout.STRIDED


def _param(v: View, dims: tuple[int, ...], vec: int) -> ArrayParam:
    dt = v.array.dtype
    return ArrayParam(dtypes.native(dt), _layout(v.strides[vec], dt.itemsize, dims[vec]),
                      swapped=not dt.isnative, aligned=_aligned(v.array),
                      counter=v.array is COUNTER_MEMORY)


def lower(tr: Trace, outs: list[Any]) -> Launch:
    """The launch of a trace with nothing blocked, writing into ``outs`` (arrays of the
    roots' shape: NumPy's or device arrays)."""
    if tr.blocked:
        raise AssertionError("lowering a step the plan did not make fusable")
    ndim = len(tr.outer) + len(tr.row)
    # one value per row (every output of a reduction, a row-wise kernel's per-row results):
    # stride 0 along the row
    out_views = [View(o, 0, tuple(o.strides) + (0,) * (ndim - len(o.shape))) for o in outs]
    dims, row_ndim, views = _coalesce_split(tr.outer, tr.row, [*tr.inputs, *out_views])
    inputs, outputs = views[:len(tr.inputs)], views[len(tr.inputs):]
    column = _column_friendly(tr.body, inputs, dims, row_ndim, tr.out_level)
    vec = len(dims) - row_ndim - 1 if column else len(dims) - 1  # the vectorised dim
    kernel = Kernel(
        ndim=len(dims),
        inputs=tuple(_param(v, dims, vec) for v in inputs),
        scalars=tuple(n.dtype for n in tr.scalar_nodes),
        body=tr.body,
        outputs=tuple((val, _param(v, dims, vec))
                      for val, v in zip(tr.values, outputs, strict=True)),
        row_ndim=row_ndim,
        out_level=tr.out_level if row_ndim else 0,
        column=column,
    )
    return Launch(kernel, dims, tuple(inputs), tuple(outputs), tr.scalars, tr.scalar_nodes)


def copy_launch(source: Any, target: Any) -> Launch:
    """A kernel copying ``source`` into ``target`` (same shape; cast to ``target``'s dtype),
    made from loop IR alone: what a backend runs to move data between strided arrays."""
    dims, strides = _coalesce(tuple(target.shape), [tuple(source.strides),
                                                    tuple(target.strides)])
    views = [View(source, 0, strides[0]), View(target, 0, strides[1])]
    body = [Instr(Op.LEAF, dtypes.native(source.dtype), (), 0)]
    if dtypes.native(source.dtype) != dtypes.native(target.dtype):
        body.append(Instr(Op.CAST, dtypes.native(target.dtype), (0,)))
    vec = len(dims) - 1
    kernel = Kernel(len(dims), (_param(views[0], dims, vec),), (), tuple(body),
                    ((len(body) - 1, _param(views[1], dims, vec)),))
    return Launch(kernel, dims, (views[0],), (views[1],))


_FOLDS = frozenset({ReduceKind.SUM, ReduceKind.PROD, ReduceKind.MIN, ReduceKind.MAX,
                    ReduceKind.ANY, ReduceKind.ALL})


def inner_reductions(body: tuple[Instr, ...] | list[Instr]) -> list[int]:
    """Body indices of reductions that another reduction depends on."""
    feeds: list[set[int]] = []  # reductions each instruction depends on
    for ins in body:
        deps = set().union(*(feeds[a] for a in ins.args)) if ins.args else set()
        feeds.append(deps)
        if ins.op is Op.REDUCE:
            feeds[-1] = deps | {len(feeds) - 1}
    inner: set[int] = set()
    for k, ins in enumerate(body):
        if ins.op is Op.REDUCE:
            inner |= feeds[k] - {k}
    return sorted(inner)


def _column_friendly(body: tuple[Instr, ...], inputs: list[View], dims: tuple[int, ...],
                     row_ndim: int, out_level: int) -> bool:
    """Reduce down columns when rows are strided in memory but outer indices are adjacent.

    ``x.sum(axis=0)`` of a C-ordered matrix walks each column with a large stride; walking
    whole rows and keeping one accumulator per column reads memory in order instead.
    Only for kernels whose reductions fold independently (no argmin/argmax, no reduction of
    a value that needs another reduction of the same row first).
    """
    if not row_ndim or out_level:
        return False
    reduces = [i for i in body if i.op is Op.REDUCE]
    if any(i.arg not in _FOLDS for i in reduces) or inner_reductions(body):
        return False
    p, r = len(dims) - row_ndim - 1, len(dims) - 1
    loads = [i for i in body if i.op is Op.LEAF]
    rows = [v for v, ins in zip(inputs, loads, strict=True) if ins.level]
    # an input constant along the columns (a per-row scale, stride 0 across) is one value per
    # row whatever its own layout; the others must lie along the columns, rows apart
    across = [v for v in rows if v.strides[p]]
    return bool(across) and all(
        abs(v.strides[r]) > v.array.dtype.itemsize and v.strides[p] == v.array.dtype.itemsize
        for v in across) and dims[p] > 1

