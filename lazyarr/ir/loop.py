"""Loop IR: one fused kernel as a flat, typed SSA body over an N-d index space.

The index space is ``outer + row``. Outer dimensions are iterated by the loop nest (the first
one split into ``[start, end)`` chunks); row dimensions exist only in kernels with reductions.
Every instruction has a level: 0 (once per outer index) or 1 (once per row element). A
REDUCE instruction is level 0 and consumes a level-1 value: it is a loop over the row. Outputs
are stored at level 0 (a reduction kernel: one value per outer index) or at level 1 (a
row-wise kernel such as softmax: every element of the row, after the row's reductions).

A full reduction has a single outer index, so the threads that split the outer loop would
have nothing to share: a large one is lowered as a *split* kernel instead (``split_rows``),
whose outer index walks a fixed number of partial rows; the last partial row to finish
combines them (``codegen/rows.py``).

``lower_kernel`` turns the graph of one kernel into a :class:`Kernel` (the cache key:
structure, dtypes and layout classes only) plus a :class:`Launch` (the run-time part: shape,
buffers, strides and scalar values). Movement ops vanish here: each input is read through one
strided view of its buffer, found by composing the movement ops between it and the kernel.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace

import numpy as np

from lazyarr.config import settings
from lazyarr.ir import dtypes
from lazyarr.ir.graph import ELEMENTWISE, OPAQUE, Node, Op, ReduceKind
from lazyarr.ir.ops import needs_math
from lazyarr.run.arraystruct import data_pointer


class Layout(enum.Enum):
    """How an array is addressed along the innermost loop dimension."""

    CONTIG = "contig"  # stride == itemsize: vectorisable loads and stores
    ZERO = "zero"  # stride 0: broadcast, loaded once per row
    STRIDED = "strided"  # any other stride, in bytes


Layout.__hash__ = object.__hash__  # type: ignore[method-assign]  # see graph.Op


@dataclass(frozen=True, slots=True)
class ArrayParam:
    """How a kernel reads or writes one array: elements of ``dtype`` (native byte order)."""

    dtype: np.dtype
    layout: Layout
    # the array is in the other byte order (FITS files, network formats): each element is
    # loaded and stored as an integer and byte-swapped in registers
    swapped: bool = False
    # every element sits at a multiple of the dtype's alignment, which LLVM assumes of a
    # plain load or store; an array NumPy flags unaligned (a buffer at an odd offset) is
    # accessed with alignment 1 instead, in a kernel of its own (the common kernels keep
    # the natural alignment and stay as they were)
    aligned: bool = True

    def describe(self) -> str:
        """The dtype, with how its memory differs from plain native elements."""
        notes = [n for n, on in (("byte-swapped", self.swapped),
                                 ("unaligned", not self.aligned)) if on]
        return f"{self.dtype}" + "".join(f", {n}" for n in notes)


@dataclass(frozen=True, slots=True)
class Instr:
    """One SSA value.

    ``op`` LEAF loads input ``arg``; SCALAR reads scalar parameter ``arg``; REDUCE reduces its
    level-1 argument over the row with the ``ReduceKind`` in ``arg``; POWER_INT raises its
    argument to the constant integer ``arg``.
    """

    op: Op
    dtype: np.dtype
    args: tuple[int, ...] = ()
    arg: object = None
    level: int = 0


@dataclass(frozen=True, slots=True)
class Kernel:
    ndim: int
    inputs: tuple[ArrayParam, ...]
    scalars: tuple[np.dtype, ...]
    body: tuple[Instr, ...]
    outputs: tuple[tuple[int, ArrayParam], ...]  # (body index, where to store it)
    row_ndim: int = 0  # trailing dimensions walked by the row loops
    out_level: int = 0  # 1: outputs are stored for every row element
    # reduce down columns: rows outermost, a tile of outer indices innermost (vectorised)
    column: bool = False
    # a full reduction cut into partial rows (see ``split_rows``): outer index i0 is a
    # partial row, the last of them to finish combines the partials and stores the outputs
    split: bool = False
    # outputs written with streaming (non-temporal) stores in aligned 32-byte groups (the
    # CPU's big 1-D elementwise kernels: see ``stream_outputs``)
    stream: bool = False

    @property
    def needs_status(self) -> bool:
        """Whether the kernel can report a run-time error (integer power < 0)."""
        return reports_errors(self.body)

    @property
    def outer_ndim(self) -> int:
        return self.ndim - self.row_ndim


def reports_errors(body: tuple[Instr, ...] | list[Instr]) -> bool:
    """Whether code for ``body`` can set the status word (integer power < 0)."""
    return any(i.op is Op.POWER and i.dtype.kind == "i" for i in body)


def args_words(kernel: Kernel) -> int:
    """Length in 8-byte words of the argument block a compiled kernel reads.

    Layout: shape[ndim]; per array (inputs, then outputs): data pointer, byte strides[ndim];
    one word per scalar (its bits, little end first); then a pointer to an int32 status word,
    which must be zero when the kernel is called (a split kernel counts its finished partial
    rows in it, and leaves it zero).
    """
    arrays = len(kernel.inputs) + len(kernel.outputs)
    return kernel.ndim + arrays * (1 + kernel.ndim) + len(kernel.scalars) + 1


def data_address(array) -> int:
    """Address of an array's first element: a NumPy array's, or a device array's ``ptr``.

    Lowering needs only ``dtype``, ``strides`` and this address, so a leaf may hold either
    kind of array (``lazyarr.run.device.DeviceArray`` for GPU memory).
    """
    if isinstance(array, np.ndarray):
        return data_pointer(array)
    return array.ptr


@dataclass(slots=True)
class View:
    """A strided view of memory over the kernel's index space (byte strides)."""

    array: np.ndarray  # or a lazyarr.run.device.DeviceArray
    offset: int
    strides: tuple[int, ...]

    @property
    def address(self) -> int:
        return data_address(self.array) + self.offset


@dataclass(slots=True)
class Launch:
    kernel: Kernel
    shape: tuple[int, ...]
    inputs: list[View]
    outputs: list[View]
    scalars: list[np.generic] = field(default_factory=list)
    block_address: int = 0  # of the packed argument block, once packed for reuse
    scalar_nodes: list = field(default_factory=list)  # the SCALAR node of each scalar


class NeedsMaterialising(Exception):  # noqa: N818 (a signal to the scheduler, not an error)
    """The kernel cannot fuse these nodes; evaluate them into buffers first.

    ``reason``: why, when the evaluator cannot tell from the nodes themselves.
    """

    def __init__(self, nodes: list[Node], reason: str = "") -> None:
        super().__init__(f"{len(nodes)} node(s) must be evaluated first")
        self.nodes = nodes
        self.reason = reason


# An index map sends the kernel's index vector to a node's index vector: one entry per node
# dimension, (kernel dimension or None, step, start): node_index = start + step * index[dim].
IndexMap = tuple[tuple[int | None, int, int], ...]


def map_through(node: Node, m: IndexMap) -> IndexMap:
    """The index map of ``node.src[0]`` given the index map ``m`` of movement node ``node``."""
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


def _compose(m: IndexMap, entry: tuple[int | None, int, int]) -> tuple[int | None, int, int]:
    dim, step, start = entry
    if dim is None:
        return (None, 0, start)
    kdim, kstep, kstart = m[dim]
    if kdim is None:
        return (None, 0, start + step * kstart)
    return (kdim, step * kstep, start + step * kstart)


def reduce_source_map(node: Node, m: IndexMap, row_start: int) -> IndexMap:
    """Map of a REDUCE node's source: kept axes as ``m``, reduced axes on the row dims."""
    axes = node.arg[1]
    kept = iter(m)
    reduced = iter(range(row_start, row_start + len(axes)))
    return tuple((next(reduced), 1, 0) if k in axes else next(kept)
                 for k in range(node.src[0].ndim))


def _leaf_view(array: np.ndarray, m: IndexMap, ndim: int) -> View:
    strides = [0] * ndim
    offset = 0
    for (dim, step, start), stride in zip(m, array.strides, strict=True):
        offset += start * stride
        if dim is not None:
            strides[dim] += step * stride
    return View(array, offset, tuple(strides))


def _dims_used(m: IndexMap) -> set[int]:
    return {d for d, _, _ in m if d is not None}


class _Lowering:
    def __init__(self, shape: tuple[int, ...], row: tuple[int, ...] | None,
                 materialised: dict[int, np.ndarray]) -> None:
        self.outer = shape
        self.row = row  # None: not known yet (set by the first reduction met)
        self.materialised = materialised
        self.body: list[Instr] = []
        self.inputs: list[View] = []
        self.scalars: list[np.generic] = []
        self.scalar_nodes: list[Node] = []
        self.scalar_dtypes: list[np.dtype] = []
        self.memo: dict[tuple[int, IndexMap], int] = {}
        self.views: dict[tuple, int] = {}
        self.blocked: list[Node] = []
        self.reduce_nodes: dict[int, Node] = {}  # body index of each REDUCE -> its node

    @property
    def ndim(self) -> int:
        return len(self.outer) + len(self.row or ())

    def level_of(self, m: IndexMap) -> int:
        return int(any(d >= len(self.outer) for d in _dims_used(m)))

    def emit(self, instr: Instr) -> int:
        self.body.append(instr)
        return len(self.body) - 1

    def scalar(self, node: Node) -> int:
        self.scalars.append(node.arg)
        self.scalar_nodes.append(node)
        self.scalar_dtypes.append(node.dtype)
        return self.emit(Instr(Op.SCALAR, node.dtype, (), len(self.scalars) - 1))

    def load(self, array: np.ndarray, m: IndexMap) -> int:
        view = _leaf_view(array, m, self.ndim)
        level = self.level_of(m)
        # one parameter (and one load) per distinct piece of memory, so that an output
        # written in place over an input is read before it is written; and per level, as a
        # load inside the row loop is no value outside it (a stride-0 input read both ways)
        key = (view.address, view.strides, array.dtype, level)
        found = self.views.get(key)
        if found is None:
            self.inputs.append(view)
            found = self.emit(Instr(Op.LEAF, dtypes.native(array.dtype), (),
                                    len(self.inputs) - 1, level))
            self.views[key] = found
        return found

    def pad_views(self) -> None:
        """Give every input view the kernel's full rank.

        The row is known only once the first reduction is met, so inputs loaded before it
        have outer dimensions only; they do not vary along the row, so its strides are 0.
        """
        for view in self.inputs:
            view.strides += (0,) * (self.ndim - len(view.strides))

    def fusable_reduction(self, node: Node, m: IndexMap) -> bool:
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

    def children(self, node: Node, m: IndexMap) -> list[tuple[Node, IndexMap]]:
        if node.op is Op.REDUCE:
            return [(node.src[0], reduce_source_map(node, m, len(self.outer)))]
        if node.op in ELEMENTWISE:
            return [(s, m) for s in node.src]
        return [(node.src[0], map_through(node, m))]

    def leaf_or_none(self, node: Node, m: IndexMap) -> int | None:
        """Emit ``node`` if it needs no children; None if it does."""
        array = self.materialised.get(id(node))
        if array is not None:
            return self.load(array, m)
        if node.op is Op.LEAF:
            return self.load(node.arg.array, m)
        if node.op is Op.SCALAR:
            return self.scalar(node)
        if node.op in OPAQUE or (node.op is Op.REDUCE and not self.fusable_reduction(node, m)):
            self.blocked.append(node)
            return self.emit(Instr(Op.SCALAR, node.dtype))  # placeholder, never compiled
        return None

    def finish(self, node: Node, m: IndexMap, kids: list[int]) -> int:
        if node.op is Op.REDUCE:
            index = self.emit(Instr(Op.REDUCE, node.dtype, tuple(kids), node.arg[0], 0))
            self.reduce_nodes[index] = node
            return index
        if node.op in ELEMENTWISE:
            level = max((self.body[k].level for k in kids), default=0)
            # an elementwise op's argument (POWER_INT's exponent) shapes the code: it is part
            # of the instruction, so of the kernel's cache keys
            return self.emit(Instr(node.op, node.dtype, tuple(kids), node.arg, level))
        return kids[0]  # movement: the source's value, seen through the map

    def lower(self, root: Node, m: IndexMap) -> int:
        stack: list[tuple[Node, IndexMap, bool]] = [(root, m, False)]
        while stack:
            node, m, ready = stack.pop()
            key = (id(node), m)
            if key in self.memo:
                continue
            if ready:
                kids = [self.memo[(id(s), sm)] for s, sm in self.children(node, m)]
                self.memo[key] = self.finish(node, m, kids)
                continue
            value = self.leaf_or_none(node, m)
            if value is not None:
                self.memo[key] = value
                continue
            stack.append((node, m, True))
            stack.extend((s, sm, False) for s, sm in reversed(self.children(node, m)))
        return self.memo[(id(root), m)]


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
                    ) -> tuple[tuple[int, ...], int]:
    """Coalesce outer and row dimensions separately (they are different loops)."""
    n = len(outer)
    o_dims, o_strides = _coalesce(outer, [v.strides[:n] for v in views])
    if not row:
        for v, s in zip(views, o_strides, strict=True):
            v.strides = s
        return o_dims, 0
    r_dims, r_strides = _coalesce(row, [v.strides[n:] for v in views])
    for v, so, sr in zip(views, o_strides, r_strides, strict=True):
        v.strides = so + sr
    return o_dims + r_dims, len(r_dims)


def _aligned(array) -> bool:
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


def first_reduction(roots: list[Node], materialised: dict[int, np.ndarray]
                    ) -> tuple[Node, IndexMap] | None:
    """The first reduction met walking down from ``roots`` through fusable ops, with its map."""
    stack = [(r, tuple((d, 1, 0) for d in range(r.ndim))) for r in reversed(roots)]
    seen: set[tuple[int, IndexMap]] = set()
    while stack:
        node, m = stack.pop()
        if (id(node), m) in seen or id(node) in materialised or node.op in OPAQUE:
            continue
        seen.add((id(node), m))
        if node.op is Op.REDUCE:
            return node, m
        if node.op in ELEMENTWISE:
            stack.extend((s, m) for s in reversed(node.src))
        elif node.src:
            stack.append((node.src[0], map_through(node, m)))
    return None


def choose_row(roots: list[Node], materialised: dict[int, np.ndarray]
               ) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """Split the output shape into (outer, row).

    Row-wise kernels (softmax, layer norm) store every element of trailing dimensions that
    their reductions reduce: those dimensions become the row. Otherwise all output dimensions
    are outer, and a reduction met while lowering sets the row.
    """
    shape = roots[0].shape
    found = first_reduction(roots, materialised)
    if found is None:
        return shape, None
    node, m = found
    extents = tuple(node.src[0].shape[a] for a in node.arg[1])
    k = len(shape) - len(extents)
    if k < 0 or shape[k:] != extents:
        return shape, None
    used = _dims_used(m)
    outer_needed = {d for d in range(k) if shape[d] > 1}
    if used <= set(range(k)) and outer_needed <= used:
        return shape[:k], extents
    return shape, None


def lower_kernel(roots: list[Node], outs: list[np.ndarray],
                 materialised: dict[int, np.ndarray] | None = None,
                 split: bool = True) -> Launch:
    """Lower the fused graph of ``roots`` (one shape) writing into ``outs``.

    Raises :class:`NeedsMaterialising` naming nodes that must be evaluated into buffers first
    (opaque ops, and reductions that cannot fuse into this kernel). ``split=False``: the
    plan of a target other than the CPU, which never cuts a full reduction into partial rows
    nor streams its stores (those kernels are for the CPU backend only; they are made only
    for host arrays, but a GPU's kernel plan may be asked for with them).
    """
    materialised = materialised or {}
    outer, row = choose_row(roots, materialised)
    out_level = int(row is not None)
    low = _Lowering(outer, row, materialised)
    identity: IndexMap = tuple((d, 1, 0) for d in range(len(roots[0].shape)))
    values = [low.lower(r, identity) for r in roots]
    if low.blocked:
        raise NeedsMaterialising(list({id(n): n for n in low.blocked}.values()))
    row = low.row or ()
    low.pad_views()
    out_views = [_output_view(o, len(outer), len(row), out_level) for o in outs]
    views = low.inputs + out_views
    dims, row_ndim = _coalesce_split(outer, row, views)

    column = _column_friendly(low.body, low.inputs, dims, row_ndim, out_level)
    vec = len(dims) - row_ndim - 1 if column else len(dims) - 1  # the vectorised dim

    def param(v: View) -> ArrayParam:
        dt = v.array.dtype
        return ArrayParam(dtypes.native(dt), _layout(v.strides[vec], dt.itemsize, dims[vec]),
                          swapped=not dt.isnative, aligned=_aligned(v.array))

    kernel = Kernel(
        ndim=len(dims),
        inputs=tuple(param(v) for v in low.inputs),
        scalars=tuple(low.scalar_dtypes),
        body=tuple(low.body),
        outputs=tuple((val, param(v)) for val, v in zip(values, out_views, strict=True)),
        row_ndim=row_ndim,
        out_level=out_level if row_ndim else 0,
        column=column,
    )
    launch = Launch(kernel, dims, low.inputs, out_views, low.scalars,
                    scalar_nodes=low.scalar_nodes)
    if split and _worth_splitting(launch, low):
        return split_rows(launch)
    return stream_outputs(launch) if split else launch


# Big results are written with non-temporal ("streaming") stores on the CPU: they bypass the
# caches, so the core no longer reads every line it is about to overwrite (for a*b+c*d that
# read is a sixth of the memory traffic; for 2*a+3*b a quarter). Measured on 2 EPYC vCPUs with
# hand-written AVX2 C, float64 a*b+c*d into a preallocated output, one thread: 17.3 -> 14.0 ms
# at 10^7, 1.73 -> 1.15 ms at 10^6, no loss at 10^5. A smaller result probably stays in
# the cache (32 MiB L3 there) for whatever reads it next, which streaming would throw away:
# hence streaming from settings.stream_bytes of results (4 MiB; LAZYARR_STREAM_MB, 0: never).


def _in_place(launch: Launch) -> bool:
    return any(np.may_share_memory(o.array, i.array)
               for o in launch.outputs for i in launch.inputs)


def stream_outputs(launch: Launch) -> Launch:
    """``launch``, its kernel marked ``stream`` when its stores should be streaming ones: a
    1-D elementwise kernel whose contiguous outputs share one itemsize of 4 or 8 bytes (the
    32-byte groups hold 8 or 4 lanes) and hold at least ``settings.stream_bytes``. Kernels calling
    math routines are left alone: compute-bound, and their vector math comes from the loop
    vectoriser, which the grouped loop would bypass. Nor are updates in place (an output
    over an input): the line was just read, so there is no read to save, and a streaming
    store would evict it (measured: Adam float32 at 10^7 in place, 14 ms instead of 9)."""
    k, least = launch.kernel, settings.stream_bytes
    sizes = {p.dtype.itemsize for _, p in k.outputs}
    if (not least or k.ndim != 1 or k.row_ndim or k.column or k.split or len(sizes) != 1
            or not sizes <= {4, 8} or any(p.layout is not Layout.CONTIG for _, p in k.outputs)
            or launch.shape[0] * len(k.outputs) * sizes.pop() < least
            or any(needs_math(ins.op, ins.dtype) for ins in k.body) or _in_place(launch)):
        return launch
    launch.kernel = replace(k, stream=True)
    return launch


# A large full reduction is cut into about PARTS partial rows that threads can share (the
# outer loop is what they split, and a full reduction has one outer index). The cut depends
# only on the kernel and the shape, never on the thread count, so every thread count does the
# same arithmetic in the same order: the same bits. 64 partial rows keep 2-16 threads evenly
# loaded (threads.plan deals out a few chunks per thread) and cost 16 bytes of partial state
# each. A kernel is split from SPLIT_WORK units of work: the CPU backend's estimate
# (elements times cpu.element_cost) weighted by the bytes read per element over 8. That is
# 4x threads.MIN_WORK for float64 a.sum(): a reduction writes nothing per element, and
# a.sum() reads 8 bytes where 2*a+3*b, on which MIN_WORK was measured, moves 24. Measured on
# 2 EPYC vCPUs (best of 9, 2 threads against 1 at 2^20 elements): float64 sum(a*b) 0.47x,
# a.sum() 0.97x; float32 sum(a*b) 1.05x, a.sum() 1.5x (not split: 2^21 is its threshold);
# float32 sum(exp(a)) at 2^18: 0.77x. Never below SPLIT_MIN elements: a partial row holds
# at least 1024 (long vector loops).
PARTS = 64
SPLIT_MIN = 1 << 16
SPLIT_WORK = 1 << 20
# A full reduction that consumes another one of the same row (var: the mean, then the sum
# of squares) is split by evaluating the inner one first, as a kernel of its own. That takes
# the evaluator's general path, as repeated evaluations no longer take the fast path: about
# 1.4 ms more per evaluation. Measured for float64 var at 10^7: 10.0 ms on one thread
# instead of 8.6 (one fused kernel), 6.3 ms on two. Only from a size where a second core
# saves several times that.
NESTED_SPLIT_MIN = 1 << 23


def _worth_splitting(launch: Launch, low: _Lowering) -> bool:
    """Whether to split ``launch`` (see ``split_rows``).

    Raises :class:`NeedsMaterialising` for a large full reduction whose reductions nest,
    naming the inner ones: evaluated first, they leave a kernel that splits.
    """
    kernel, dims = launch.kernel, launch.shape
    if not kernel.row_ndim or kernel.out_level or dims[0] != 1 or dims[1] < 2:
        return False  # not a full reduction (dims[0] == 1: every outer dimension is 1)
    n = math.prod(dims[1:])
    if n < SPLIT_MIN or reports_errors(kernel.body):
        return False  # small; or the status word reports errors (a split kernel counts in it)
    if not all(isinstance(v.array, np.ndarray) for v in launch.inputs + launch.outputs):
        return False  # device memory: the GPU spreads a reduction its own way
    from lazyarr.backends.cpu import element_cost  # host arrays: the CPU backend runs it

    read = sum(v.array.dtype.itemsize for v in launch.inputs)  # bytes per element
    if n * element_cost(kernel) * read < SPLIT_WORK * 8:
        return False
    inner = _inner_reductions(kernel.body)
    if inner and n >= NESTED_SPLIT_MIN:
        raise NeedsMaterialising(
            [low.reduce_nodes[k] for k in inner],
            f"split for threads: a full reduction of {n} elements used by another one "
            "runs first, so that each splits into partial rows")
    return not inner


def split_rows(launch: Launch) -> Launch:
    """``launch`` of a full reduction (outer shape ``(1,)``) as a *split* kernel.

    The first row dimension ``r`` is cut into ``parts`` partial rows of ``q`` (a strided
    view: outer stride ``q`` times the row's), walked by the outer loop, and a tail of
    ``r - parts*q`` (a scalar argument) that the combining thread reduces itself. With
    ``r >= PARTS**2`` the tail holds fewer than PARTS of the ``r`` indices; with a short
    first dimension (rows of several dimensions) the parts are made longer so that the tail
    stays shorter than one part. Each reduction gets one more output: its partial state per
    partial row.
    """
    kernel, dims = launch.kernel, launch.shape
    r = dims[1]
    q = r // PARTS if r >= PARTS * PARTS else -(-r // PARTS)
    parts, tail = divmod(r, q)
    for v in launch.inputs + launch.outputs:
        v.strides = (q * v.strides[1], *v.strides[1:])
    reduces = [k for k, ins in enumerate(kernel.body) if ins.op is Op.REDUCE]
    partials = [View(np.empty((parts, 2), np.int64), 0, (16,) + (0,) * kernel.row_ndim)
                for _ in reduces]
    state = ArrayParam(np.dtype(np.int64), Layout.ZERO)  # two words per partial row
    kernel = replace(kernel, scalars=(*kernel.scalars, np.dtype(np.int64)),
                     outputs=(*kernel.outputs, *((n, state) for n in reduces)), split=True)
    return Launch(kernel, (parts, q, *dims[2:]), launch.inputs, launch.outputs + partials,
                  [*launch.scalars, np.int64(tail)])


def _inner_reductions(body: tuple[Instr, ...] | list[Instr]) -> list[int]:
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


_FOLDS = frozenset({ReduceKind.SUM, ReduceKind.PROD, ReduceKind.MIN, ReduceKind.MAX,
                    ReduceKind.ANY, ReduceKind.ALL})


def _column_friendly(body: list[Instr], inputs: list[View], dims: tuple[int, ...],
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
    if any(i.arg not in _FOLDS for i in reduces) or _inner_reductions(body):
        return False
    p, r = len(dims) - row_ndim - 1, len(dims) - 1
    rows = [v for v, ins in zip(inputs, _loads(body), strict=True) if ins.level]
    return bool(rows) and all(
        abs(v.strides[r]) > v.array.dtype.itemsize and v.strides[p] in (
            0, v.array.dtype.itemsize) for v in rows) and dims[p] > 1


def _loads(body: list[Instr]) -> list[Instr]:
    return [i for i in body if i.op is Op.LEAF]


def _output_view(out: np.ndarray, n_outer: int, n_row: int, out_level: int) -> View:
    strides = tuple(out.strides)
    if not out_level:
        strides = strides + (0,) * n_row  # one value per outer index
    return View(out, 0, strides)


def format_kernel(kernel: Kernel) -> str:
    """The kernel as readable loop pseudo-code."""
    outer = [f"i{d}" for d in range(kernel.outer_ndim)]
    row = [f"r{d}" for d in range(kernel.row_ndim)]
    head = ", ".join(outer)
    lines = [f"kernel over [{head}]" + (f" with rows [{', '.join(row)}]" if row else "")
             + "  (outer loop i0 split into [start, end) chunks)"]
    if kernel.split:
        lines.append("  a full reduction cut into partial rows: i0 walks the partial rows")
    if kernel.stream:
        lines.append("  outputs written by streaming stores (past the caches) in aligned "
                     "32-byte groups")
    for k, p in enumerate(kernel.inputs):
        lines.append(f"  in{k}: {p.describe()} ({p.layout.value} innermost)")
    for k, dt in enumerate(kernel.scalars):
        lines.append(f"  s{k}: {dt} scalar argument")
    lines.append(f"  for {head}:")
    every_row = ", ".join(outer + row)
    for n, ins in enumerate(kernel.body):
        idx = every_row if ins.level else head
        if ins.op is Op.LEAF:
            rhs = f"load in{ins.arg}[{idx}]"
        elif ins.op is Op.SCALAR:
            rhs = f"s{ins.arg}"
        elif ins.op is Op.REDUCE:
            rhs = f"{ins.arg.value} over [{', '.join(row)}] of v{ins.args[0]}"
        else:
            operands = [f"v{a}" for a in ins.args]
            if ins.arg is not None:
                operands.append(f"n={ins.arg}")
            rhs = f"{ins.op.value}(" + ", ".join(operands) + ")"
        indent = "      " if ins.level else "    "
        lines.append(f"{indent}v{n}: {ins.dtype} = {rhs}")
    idx = every_row if kernel.out_level else head
    if kernel.split:
        return "\n".join(lines + _split_lines(kernel))
    for k, (val, p) in enumerate(kernel.outputs):
        lines.append(f"    out{k}[{idx}] = v{val}   ({p.describe()}, {p.layout.value} "
                     "innermost)")
    return "\n".join(lines)


def _split_lines(kernel: Kernel) -> list[str]:
    """The outputs of a split kernel: partial states per i0, then the combining step."""
    reduces = sum(1 for i in kernel.body if i.op is Op.REDUCE)
    real = len(kernel.outputs) - reduces
    lines = []
    for k, (val, _) in enumerate(kernel.outputs[real:], real):
        lines.append(f"    out{k}[i0] = partial state of v{val}")
    tail = f"s{len(kernel.scalars) - 1}"
    lines.append(f"  then the last i0 to finish combines out{real}.. in i0 order, adds the "
                 f"{tail} tail rows and stores")
    for k, (val, p) in enumerate(kernel.outputs[:real]):
        lines.append(f"    out{k} = v{val}   ({p.describe()})")
    return lines
