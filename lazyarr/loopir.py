"""Loop IR: one fused kernel as a flat, typed SSA body over an N-d index space.

``lower_kernel`` turns the graph of one kernel into a :class:`Kernel` (the cache key: structure,
dtypes and layout classes only) plus a :class:`Launch` (the run-time part: shape, buffers,
strides and scalar values). Movement ops (broadcast, permute) vanish here: each leaf is read
through one strided view of its buffer, found by composing the movement ops between the leaf
and the kernel's index space.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .graph import ELEMENTWISE, Node, Op


class Layout(enum.Enum):
    """How an array is addressed along the innermost loop dimension."""

    CONTIG = "contig"  # stride == itemsize: vectorisable loads and stores
    ZERO = "zero"  # stride 0: broadcast, loaded once per row
    STRIDED = "strided"  # any other stride, in bytes


@dataclass(frozen=True, slots=True)
class ArrayParam:
    dtype: np.dtype
    layout: Layout


@dataclass(frozen=True, slots=True)
class Instr:
    """One SSA value. ``op`` LEAF loads input ``arg``; SCALAR reads scalar parameter ``arg``."""

    op: Op
    dtype: np.dtype
    args: tuple[int, ...] = ()
    arg: int | None = None


@dataclass(frozen=True, slots=True)
class Kernel:
    ndim: int
    inputs: tuple[ArrayParam, ...]
    scalars: tuple[np.dtype, ...]
    body: tuple[Instr, ...]
    outputs: tuple[tuple[int, ArrayParam], ...]  # (body index, where to store it)

    @property
    def needs_status(self) -> bool:
        """Whether the kernel can report a run-time error (integer power < 0)."""
        return any(i.op is Op.POWER and i.dtype.kind == "i" for i in self.body)


def args_words(kernel: Kernel) -> int:
    """Length in 8-byte words of the argument block a compiled kernel reads.

    Layout: shape[ndim]; per array (inputs, then outputs): data pointer, byte strides[ndim];
    one word per scalar (its bits, little end first); then a pointer to an int32 status word.
    """
    arrays = len(kernel.inputs) + len(kernel.outputs)
    return kernel.ndim + arrays * (1 + kernel.ndim) + len(kernel.scalars) + 1


@dataclass(slots=True)
class View:
    """A strided view of memory over the kernel's index space (byte strides)."""

    array: np.ndarray
    offset: int
    strides: tuple[int, ...]

    @property
    def address(self) -> int:
        return self.array.ctypes.data + self.offset


@dataclass(slots=True)
class Launch:
    kernel: Kernel
    shape: tuple[int, ...]
    inputs: list[View]
    outputs: list[View]
    scalars: list[np.generic] = field(default_factory=list)


# An index map sends the kernel's index vector to a node's index vector: one entry per node
# dimension, (kernel dimension or None, step, start): node_index = start + step * index[dim].
IndexMap = tuple[tuple[int | None, int, int], ...]


def _map_through(node: Node, m: IndexMap) -> IndexMap:
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
    raise AssertionError(f"not a movement op: {node.op}")


def _leaf_view(array: np.ndarray, m: IndexMap, ndim: int) -> View:
    strides = [0] * ndim
    offset = 0
    for (dim, step, start), stride in zip(m, array.strides, strict=True):
        offset += start * stride
        if dim is not None:
            strides[dim] += step * stride
    return View(array, offset, tuple(strides))


class _Lowering:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.body: list[Instr] = []
        self.inputs: list[View] = []
        self.scalars: list[np.generic] = []
        self.scalar_dtypes: list[np.dtype] = []
        self.memo: dict[tuple[int, IndexMap], int] = {}
        self.scalar_memo: dict[int, int] = {}
        self.views: dict[tuple, int] = {}

    def emit(self, instr: Instr) -> int:
        self.body.append(instr)
        return len(self.body) - 1

    def source(self, node: Node, m: IndexMap) -> int:
        if node.op is Op.SCALAR:
            found = self.scalar_memo.get(id(node))
            if found is None:
                self.scalars.append(node.arg)
                self.scalar_dtypes.append(node.dtype)
                found = self.emit(Instr(Op.SCALAR, node.dtype, (), len(self.scalars) - 1))
                self.scalar_memo[id(node)] = found
            return found
        view = _leaf_view(node.arg.array, m, len(self.shape))
        # one parameter (and one load) per distinct piece of memory, so that an output
        # written in place over an input is read before it is written
        key = (view.address, view.strides, node.dtype)
        found = self.views.get(key)
        if found is None:
            self.inputs.append(view)
            found = self.emit(Instr(Op.LEAF, node.dtype, (), len(self.inputs) - 1))
            self.views[key] = found
        return found

    def lower(self, root: Node, m: IndexMap) -> int:
        stack: list[tuple[Node, IndexMap, bool]] = [(root, m, False)]
        while stack:
            node, m, ready = stack.pop()
            key = (id(node), m)
            if key in self.memo:
                continue
            if node.op in (Op.LEAF, Op.SCALAR):
                self.memo[key] = self.source(node, m)
            elif node.op not in ELEMENTWISE:
                inner = _map_through(node, m)
                src_key = (id(node.src[0]), inner)
                if src_key in self.memo:
                    self.memo[key] = self.memo[src_key]
                else:
                    stack += [(node, m, True), (node.src[0], inner, False)]
            elif ready:
                args = tuple(self.memo[(id(s), m)] for s in node.src)
                self.memo[key] = self.emit(Instr(node.op, node.dtype, args))
            else:
                stack.append((node, m, True))
                stack.extend((s, m, False) for s in reversed(node.src))
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


def _layout(stride: int, itemsize: int, extent: int) -> Layout:
    # with one element along the loop the stride is never used: share the contiguous kernel
    if stride == itemsize or extent == 1:
        return Layout.CONTIG
    return Layout.ZERO if stride == 0 else Layout.STRIDED


def lower_kernel(roots: list[Node], outs: list[np.ndarray]) -> Launch:
    """Lower the fused graph of ``roots`` (one shape) writing into ``outs``."""
    shape = roots[0].shape
    identity: IndexMap = tuple((d, 1, 0) for d in range(len(shape)))
    low = _Lowering(shape)
    values = [low.lower(r, identity) for r in roots]
    out_views = [View(o, 0, tuple(o.strides)) for o in outs]
    views = low.inputs + out_views
    dims, strides = _coalesce(shape, [v.strides for v in views])
    for v, s in zip(views, strides, strict=True):
        v.strides = s

    def param(v: View) -> ArrayParam:
        return ArrayParam(v.array.dtype,
                          _layout(v.strides[-1], v.array.dtype.itemsize, dims[-1]))

    kernel = Kernel(
        ndim=len(dims),
        inputs=tuple(param(v) for v in low.inputs),
        scalars=tuple(low.scalar_dtypes),
        body=tuple(low.body),
        outputs=tuple((val, param(v)) for val, v in zip(values, out_views, strict=True)),
    )
    return Launch(kernel, dims, low.inputs, out_views, low.scalars)


def format_kernel(kernel: Kernel) -> str:
    """The kernel as readable loop pseudo-code."""
    idx = ", ".join(f"i{d}" for d in range(kernel.ndim))
    lines = [f"kernel over [{idx}]  (outer loop i0 split into [start, end) chunks)"]
    for k, p in enumerate(kernel.inputs):
        lines.append(f"  in{k}: {p.dtype} ({p.layout.value} innermost)")
    for k, dt in enumerate(kernel.scalars):
        lines.append(f"  s{k}: {dt} scalar argument")
    lines.append(f"  for {idx}:")
    for n, ins in enumerate(kernel.body):
        if ins.op is Op.LEAF:
            rhs = f"load in{ins.arg}[{idx}]"
        elif ins.op is Op.SCALAR:
            rhs = f"s{ins.arg}"
        else:
            rhs = f"{ins.op.value}(" + ", ".join(f"v{a}" for a in ins.args) + ")"
        lines.append(f"    v{n}: {ins.dtype} = {rhs}")
    for k, (val, p) in enumerate(kernel.outputs):
        lines.append(f"    out{k}[{idx}] = v{val}   ({p.dtype}, {p.layout.value} innermost)")
    return "\n".join(lines)
