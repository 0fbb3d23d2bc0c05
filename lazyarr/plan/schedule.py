"""The plan: the steps that evaluate the requested roots, decided before anything runs.

Elementwise ops, views and reductions over the kernel's row fuse completely, so every output
of one shape lands in one kernel. Where a kernel cannot fuse a node (an opaque op, a
reduction over other dimensions, a nested full reduction the CPU splits), that node is
planned first as a step of its own, whose result is materialised for the kernel to read: a
fusion break, recorded with its reason. The rules are the ones lowering applies
(:func:`lazyarr.plan.lower.trace` reports what it cannot fuse): no step is discovered
while running.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any

from lazyarr.ir.graph import MOVEMENT, OPAQUE, Node, Op
from lazyarr.ir.loop import c_strides, on_host
from lazyarr.plan import cpu_passes
from lazyarr.plan.lower import Trace, choose_row, inner_reductions, trace, view_base


class StepKind(enum.Enum):
    KERNEL = "kernel"  # a fused, compiled loop
    OPAQUE = "opaque"  # matmul (BLAS), a reshape copy, concatenate, stack: NumPy or the device
    VIEW = "view"  # an output that is a view of an input: no copy, no kernel
    EMPTY = "empty"  # outputs with no elements: allocated, nothing runs


class BreakReason(enum.Enum):
    """Why a step's result is materialised instead of fused into its consumer."""

    OPAQUE_OP = "opaque op"  # the node itself cannot fuse (BLAS, a copying reshape, ...)
    OPAQUE_INPUT = "opaque input"  # it feeds an opaque op, which reads whole arrays
    REDUCTION_BOUNDARY = "reduction boundary"  # reduced over other axes than the kernel's row
    SCAN_BOUNDARY = "scan boundary"  # a scan its consumer does not walk along its own row
    SPLIT_ROWS = "split rows"  # a nested full reduction: the inner one first, so both split


@dataclass(frozen=True, slots=True)
class FusionBreak:
    reason: BreakReason
    text: str


@dataclass(frozen=True, slots=True)
class Step:
    """One step. ``outputs[k]``: the requested output that ``roots[k]`` fills, or None for a
    result materialised for later steps (``brk`` says why). ``reads``: materialised results
    of earlier steps a kernel reads. ``trace``: the kernel's walk of the graph, which
    lowering finishes (rebound to the real buffers of what it reads)."""

    kind: StepKind
    roots: tuple[Node, ...]
    outputs: tuple[int | None, ...]
    brk: FusionBreak | None = None
    reads: tuple[Node, ...] = ()
    trace: Trace | None = None

    @property
    def reason(self) -> str:
        """Why the result is materialised ("" for final outputs)."""
        return "" if self.brk is None else self.brk.text


@dataclass(frozen=True, slots=True)
class Plan:
    roots: tuple[Node, ...]
    steps: tuple[Step, ...]

    def single_kernel(self) -> Step | None:
        """The step when the plan is one kernel computing every root and nothing else."""
        if len(self.steps) == 1 and self.steps[0].kind is StepKind.KERNEL:
            step = self.steps[0]
            if step.outputs == tuple(range(len(self.roots))) and not step.reads:
                return step
        return None

    @property
    def kernels(self) -> list[Step]:
        return [s for s in self.steps if s.kind is StepKind.KERNEL]


def is_view_of_leaf(node: Node) -> bool:
    return view_base(node).op is Op.LEAF


def break_for(node: Node) -> FusionBreak:
    """Why ``node`` cannot fuse into the kernel that consumes it."""
    if node.op is Op.MATMUL:
        return FusionBreak(BreakReason.OPAQUE_OP, "opaque op: matrix product (BLAS)")
    if node.op is Op.RESHAPE:
        return FusionBreak(BreakReason.OPAQUE_OP, "reshape that no strided view can "
                           "express: evaluated into a buffer")
    if node.op is Op.HOST:
        return FusionBreak(BreakReason.OPAQUE_OP, f"opaque op: {node.arg.name} (NumPy)")
    if node.op in OPAQUE:
        return FusionBreak(BreakReason.OPAQUE_OP, f"opaque op: {node.op.value}")
    if node.op is Op.SCAN:
        return FusionBreak(BreakReason.SCAN_BOUNDARY, "scan boundary: its consumer's kernel "
                           "does not store the result along the scanned axis as its row, in "
                           "order (another axis last, a reversed or broadcast view, or a "
                           "reduction of the row folds it)")
    return FusionBreak(BreakReason.REDUCTION_BOUNDARY, "reduction boundary: the result is "
                       "used over other axes than the ones its consumer's kernel walks row "
                       "by row")


class _Stand:
    """A materialised result before it exists, as a trace sees it: a C-ordered buffer of its
    dtype at an address of its own (cheaper than any NumPy stand-in)."""

    __slots__ = ("dtype", "ptr", "strides")

    def __init__(self, node: Node, ptr: int) -> None:
        self.dtype, self.ptr = node.dtype, ptr
        self.strides = c_strides(node.shape, node.dtype.itemsize)


class _Scheduler:
    def __init__(self, cpu: bool, given: frozenset[int]) -> None:
        self.cpu = cpu  # plan with the CPU's policies (partial rows for large reductions)
        self.given = given  # outputs written into the caller's arrays
        self.steps: list[Step] = []
        self.materialised: dict[int, Any] = {}  # id of a planned node -> its stand-in
        self.stands = 0

    def stand(self, node: Node) -> None:
        """Record ``node`` as materialised, with a stand-in at an address of its own (a
        trace tells inputs apart by address and offset: 2**40 apart, no two views of
        different stand-ins meet)."""
        self.materialised[id(node)] = _Stand(node, -(self.stands + 1) << 40)
        self.stands += 1

    def group(self, roots: tuple[Node, ...], outputs: tuple[int | None, ...],
              brk: FusionBreak | None) -> None:
        """Plan ``roots``: one kernel per shape, plus whatever cannot fuse."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for k, r in enumerate(roots):
            by_shape.setdefault(r.shape, []).append(k)
        if self.cpu and len(by_shape) > 1:
            by_shape = self.join_rows(roots, by_shape)
        for shape, members in by_shape.items():
            todo: list[int] = []
            for k in members:
                root, out = roots[k], outputs[k]
                if out in self.given:
                    todo.append(k)  # written into the caller's array by a kernel
                elif out is None and id(root) in self.materialised:
                    continue  # an input of two opaque ops, planned for the first
                elif is_view_of_leaf(root) or self.view_of_result(root):
                    self.steps.append(Step(StepKind.VIEW, (root,), (out,)))
                elif self.view_of_scan(root):
                    self.materialise(view_base(root), None)
                    self.steps.append(Step(StepKind.VIEW, (root,), (out,)))
                elif root.op in OPAQUE:
                    self.materialise(root, brk, out)
                else:
                    todo.append(k)
            if not todo:
                continue
            group = tuple(roots[k] for k in todo)
            where = tuple(outputs[k] for k in todo)
            if 0 in shape:
                self.steps.append(Step(StepKind.EMPTY, group, where, brk))
            else:
                self.kernel(group, where, brk)

    def view_of_result(self, node: Node) -> bool:
        """Whether ``node`` is movement ops over a result planned into a buffer (a transpose
        of an activation that a matrix product reads): a view of that buffer, no copy."""
        return node.op in MOVEMENT and id(view_base(node)) in self.materialised

    def view_of_scan(self, node: Node) -> bool:
        """Whether ``node`` is movement ops over a scan that cannot be the row of ``node``'s
        own kernel (``cumulative_sum(x, axis=0)`` is a scan along the last axis between two
        transposes): the scan's kernel writes a buffer, and ``node`` is a view of it rather
        than a copy made by a second kernel."""
        return node.op in MOVEMENT and view_base(node).op is Op.SCAN and \
            choose_row((node,), self.materialised)[1] is None

    def join_rows(self, roots: tuple[Node, ...], by_shape: dict[tuple[int, ...], list[int]]
                  ) -> dict[tuple[int, ...], list[int]]:
        """Roots of a row-wise kernel's outer shape join that kernel when it computes them
        as they are (no other break): the loss and the gradient of softmax cross-entropy are
        one pass over each row. A row-wise kernel's outer dimensions come first, so such a
        root is one value per row, which the kernel stores with stride 0 along the row."""
        for shape in sorted(by_shape, key=len, reverse=True):
            members = by_shape.get(shape)
            if not members or 0 in shape:
                continue
            group = tuple(roots[k] for k in members)
            outer, row = choose_row(group, self.materialised)
            if row is None or outer not in by_shape or outer == shape:
                continue
            joined = group + tuple(roots[k] for k in by_shape[outer])
            alone = trace(group, self.materialised)
            if set(map(id, trace(joined, self.materialised).blocked)) <= \
                    set(map(id, alone.blocked)):
                by_shape[shape] = members + by_shape.pop(outer)
        return by_shape

    def materialise(self, node: Node, brk: FusionBreak | None, out: int | None = None
                    ) -> None:
        """Plan ``node`` into a buffer that later kernels read (and that is output ``out``,
        when one is named: the evaluator takes an output left unwritten from there)."""
        if id(node) in self.materialised:
            return
        brk = brk or break_for(node)
        if node.op in OPAQUE:
            feeds = FusionBreak(BreakReason.OPAQUE_INPUT, f"input of {node.op.value}")
            # views last: the result one views may be planned for the others (a backward
            # pass's activation, whose transpose a matrix product reads)
            for part in ([s for s in node.src if s.op not in MOVEMENT],
                         [s for s in node.src if s.op in MOVEMENT]):
                if part:
                    self.group(tuple(part), (None,) * len(part), feeds)
                    self.keep_inputs(part)
            self.steps.append(Step(StepKind.OPAQUE, (node,), (out,), brk))
        else:
            self.group((node,), (None,), brk)
        self.stand(node)

    def materialise_all(self, nodes: list[Node] | tuple[Node, ...]) -> None:
        """Plan ``nodes`` into buffers: reductions over the same rows in one kernel (the
        statistics of a layer norm's rows, the second one using the first, are one pass over
        each row), the rest one by one."""
        alike: dict[tuple, list[Node]] = {}  # reductions of one source shape over one row
        for node in nodes:
            if node.op is not Op.REDUCE or id(node) in self.materialised:
                self.materialise(node, None)
            else:
                key = (node.shape, node.src[0].shape, node.arg[1])
                alike.setdefault(key, []).append(node)
        for group in alike.values():
            if len(group) == 1:
                self.materialise(group[0], None)
                continue
            self.group(tuple(group), (None,) * len(group), break_for(group[0]))
            for node in group:
                self.stand(node)

    def keep_inputs(self, nodes: list[Node]) -> None:
        """Record an opaque op's inputs as materialised: another opaque op reading one of
        them reads the same buffer instead of computing it again."""
        for node in nodes:
            if id(node) not in self.materialised and node.op is not Op.SCALAR \
                    and not is_view_of_leaf(node):
                self.stand(node)

    def kernel(self, roots: tuple[Node, ...], outputs: tuple[int | None, ...],
               brk: FusionBreak | None) -> None:
        while True:
            tr = trace(roots, self.materialised)
            if tr.blocked:
                self.materialise_all(tr.blocked)
                continue
            inner = self.split_first(tr)
            if not inner:
                break
            text = (f"split for threads: a full reduction of {math.prod(tr.row)} elements "
                    "used by another one runs first, so that each splits into partial rows")
            for node in inner:
                self.materialise(node, FusionBreak(BreakReason.SPLIT_ROWS, text))
        self.steps.append(Step(StepKind.KERNEL, roots, outputs, brk, tr.reads, tr))

    def split_first(self, tr: Trace) -> list[Node]:
        """The inner reductions to evaluate first (the CPU's nested full reductions)."""
        if not self.cpu or any(not (on_host(v.array) or isinstance(v.array, _Stand))
                               for v in tr.inputs):
            return []
        if cpu_passes.split_choice(tr) is not cpu_passes.Split.INNER_FIRST:
            return []
        nodes = dict(tr.reduce_nodes)
        return [nodes[k] for k in inner_reductions(tr.body)]


def schedule(roots: list[Node] | tuple[Node, ...], cpu: bool = True,
             given: frozenset[int] = frozenset()) -> Plan:
    """The plan evaluating ``roots`` into outputs 0, 1, ... ``cpu``: with the CPU's
    policies (a nested full reduction of host arrays is split by running its inner
    reductions first); False for the GPU, which spreads a reduction its own way. ``given``:
    outputs the caller supplies arrays for (``out=``), which a kernel always writes."""
    sched = _Scheduler(cpu, given)
    roots = tuple(roots)
    sched.group(roots, tuple(range(len(roots))), None)
    return Plan(roots, tuple(sched.steps))
