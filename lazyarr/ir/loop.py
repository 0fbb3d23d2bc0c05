"""Loop IR: one fused kernel as a flat, typed SSA body over an N-d index space.

The index space is ``outer + row``. Outer dimensions are iterated by the loop nest (the first
one split into ``[start, end)`` chunks); row dimensions exist only in kernels with reductions.
Every instruction has a level: 0 (once per outer index) or 1 (once per row element). A
REDUCE instruction is level 0 and consumes a level-1 value: it is a loop over the row. Outputs
are stored at level 0 (a reduction kernel: one value per outer index) or at level 1 (a
row-wise kernel such as softmax: every element of the row, after the row's reductions).

A :class:`Kernel` is the cache key (structure, dtypes and layout classes only); a
:class:`Launch` is the run-time part (shape, buffers, strides and scalar values). Both are
made by ``lazyarr/plan/lower.py`` and changed only by the passes of ``lazyarr/plan/``, which
return new records. :class:`ArgLayout` says where each argument sits in the block of words
a compiled kernel reads: the packer, both code generators and the fast path read it.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np

from lazyarr.ir import ops
from lazyarr.ir.arraystruct import data_pointer
from lazyarr.ir.graph import Node, Op


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
    # not memory: the element's value is its own address divided by 8, which the kernel has
    # already computed from the loop indices (a COUNTER node read through COUNTER_MEMORY)
    counter: bool = False

    def describe(self) -> str:
        """The dtype, with how its memory differs from plain native elements."""
        notes = [n for n, on in (("byte-swapped", self.swapped),
                                 ("unaligned", not self.aligned),
                                 ("element index, not memory", self.counter)) if on]
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


class StoreMode(enum.Enum):
    """How a kernel writes its outputs (a parameter of the one loop wrapper)."""

    PLAIN = "plain"
    # streaming (non-temporal) stores in aligned 32-byte groups: the CPU's big 1-D
    # elementwise kernels (``lazyarr/plan/cpu_passes.py``)
    STREAM = "stream"


StoreMode.__hash__ = object.__hash__  # type: ignore[method-assign]  # see graph.Op


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
    # a full reduction cut into partial rows (``cpu_passes.split_rows``): outer index i0 is
    # a partial row, the last of them to finish combines the partials and stores the outputs
    split: bool = False
    store: StoreMode = StoreMode.PLAIN

    @property
    def stream(self) -> bool:
        return self.store is StoreMode.STREAM

    @property
    def needs_status(self) -> bool:
        """Whether the kernel can report a run-time error (integer power < 0)."""
        return reports_errors(self.body)

    @property
    def outer_ndim(self) -> int:
        return self.ndim - self.row_ndim

    @property
    def args(self) -> ArgLayout:
        return ArgLayout(self.ndim, len(self.inputs), len(self.outputs), len(self.scalars))


def body_cost(body: tuple[Instr, ...]) -> int:
    """Estimated cost of one element of ``body`` in plain-arithmetic units (>= 1): plain
    arithmetic costs 1, each math routine what its op row says (``ops.call_cost``). The CPU
    weighs element counts by it to decide whether threads, or a split reduction, pay off."""
    # an op's loop runs in the dtype of its operands (a comparison's result is bool)
    return 1 + sum(ops.call_cost(ins.op, body[ins.args[-1]].dtype)
                   for ins in body if ins.args and ins.op is not Op.REDUCE)


def compute_bound(body: tuple[Instr, ...]) -> bool:
    """Whether ``body`` computes an op costing as much as a math routine per element (in its
    operands' dtype, as :func:`body_cost` counts): its kernels are limited by arithmetic, not
    memory (no streaming stores; the widest vectors)."""
    return any(ops.compute_bound(ins.op, body[ins.args[-1]].dtype)
               for ins in body if ins.args and ins.op is not Op.REDUCE)


def element_cost(kernel: Kernel) -> int:
    """:func:`body_cost` of ``kernel``'s body."""
    return body_cost(kernel.body)


def reports_errors(body: tuple[Instr, ...] | list[Instr]) -> bool:
    """Whether code for ``body`` can set the status word (integer power < 0)."""
    return any(i.op is Op.POWER and i.dtype.kind == "i" for i in body)


@dataclass(frozen=True, slots=True)
class ArgLayout:
    """The argument block a compiled kernel reads, in 8-byte words: the shape (``ndim``
    words); per array, inputs then outputs, its data address and ``ndim`` byte strides; one
    word per scalar (its bits, little end first); then the address of an int32 status word,
    which must be zero when the kernel is called (a split kernel counts its finished partial
    rows in it, and leaves it zero)."""

    ndim: int
    inputs: int
    outputs: int
    scalars: int

    SHAPE = 0  # the first shape word

    def address(self, array: int) -> int:
        """The word holding array ``array``'s address (inputs first, then outputs)."""
        return self.ndim + array * (1 + self.ndim)

    def strides(self, array: int) -> int:
        """The first of array ``array``'s ``ndim`` stride words."""
        return self.address(array) + 1

    def output(self, k: int) -> int:
        """The word holding output ``k``'s address."""
        return self.address(self.inputs + k)

    def scalar(self, k: int) -> int:
        return self.address(self.inputs + self.outputs) + k

    @property
    def status(self) -> int:
        return self.scalar(self.scalars)

    @property
    def words(self) -> int:
        return self.status + 1


# what the status word a kernel sets means (integer power with a negative exponent)
NEGATIVE_POWER = "Integers to negative integer powers are not allowed."


def pack_args(launch: Launch) -> tuple[np.ndarray, np.ndarray]:
    """The argument block of ``launch`` (laid out as ``launch.kernel.args`` says) and the
    status word the kernel may set."""
    words = list(launch.shape)  # built as a list: item by item, an array costs microseconds
    for v in launch.inputs + launch.outputs:
        words.append(v.address)
        words.extend(v.strides)
    for s in launch.scalars:  # its bits, little end first, in the low bytes of a word
        words.append(int.from_bytes(s.tobytes().ljust(8, b"\0"), "little", signed=True))
    status = np.zeros(1, dtype=np.int32)
    words.append(data_pointer(status))
    if len(words) != launch.kernel.args.words:
        raise AssertionError("argument block does not match the kernel's layout")
    return np.array(words, dtype=np.int64), status


class CounterMemory:
    """The pretend memory a COUNTER node is read from: uint64 elements at address 0, each
    holding its own index, so that an element's "address" is 8 times its value. Views,
    broadcasts, coalescing and the threads' chunks then move through a counter exactly as
    through an array, and the kernel's load of it is the address, never a memory access."""

    __slots__ = ()
    dtype = np.dtype(np.uint64)
    ptr = 0
    strides: tuple[int, ...] = ()

    def __repr__(self) -> str:
        return "COUNTER_MEMORY"


COUNTER_MEMORY = CounterMemory()


def is_memory(array) -> bool:
    """Whether ``array`` is real memory (not ``COUNTER_MEMORY``)."""
    return array is not COUNTER_MEMORY


def on_host(array) -> bool:
    """Whether a kernel reading ``array`` can run on the CPU (a NumPy array or a counter)."""
    return isinstance(array, np.ndarray) or array is COUNTER_MEMORY


def data_address(array) -> int:
    """Address of an array's first element: a NumPy array's, or a device array's ``ptr``.

    Lowering needs only ``dtype``, ``strides`` and this address, so a leaf may hold either
    kind of array (``lazyarr.backends.cuda_memory.DeviceArray`` for GPU memory).
    """
    if isinstance(array, np.ndarray):
        return data_pointer(array)
    return array.ptr


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """Byte strides of a C-ordered array of ``shape``."""
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def c_ordered(shape: tuple[int, ...], strides: tuple[int, ...], itemsize: int) -> bool:
    """Whether these are the strides of a C-ordered array (unit dimensions any stride)."""
    return math.prod(shape) <= 1 or all(
        n == 1 or s == c
        for n, s, c in zip(shape, strides, c_strides(shape, itemsize), strict=True))


@dataclass(frozen=True, slots=True)
class View:
    """A strided view of memory over the kernel's index space (byte strides)."""

    array: np.ndarray  # or a lazyarr.backends.cuda_memory.DeviceArray
    offset: int
    strides: tuple[int, ...]

    @property
    def address(self) -> int:
        return data_address(self.array) + self.offset


@dataclass(frozen=True, slots=True)
class Launch:
    kernel: Kernel
    shape: tuple[int, ...]
    inputs: tuple[View, ...]
    outputs: tuple[View, ...]
    scalars: tuple[np.generic, ...] = ()
    scalar_nodes: tuple[Node, ...] = ()  # the SCALAR node of each scalar


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
        elif ins.op is Op.SCAN:
            rhs = f"running {ins.arg.value} along [{', '.join(row)}] of v{ins.args[0]}"
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
