"""The kernel plan of an evaluation, for ``lazyarr.explain``: which graph nodes fuse into which
kernel, what is materialised between kernels, and why.

The steps are the scheduler's own plan (:func:`lazyarr.plan.schedule.schedule`), so the plan
shown is the plan that runs. Each kernel step is lowered here against stand-in buffers (never
written) for its outputs and the materialised results it reads, to get its launch (strides,
sizes) for the traffic figures; nothing is computed or compiled.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lazyarr.ir.graph import MOVEMENT, Node, Op, toposort
from lazyarr.ir.loop import Kernel, Launch
from lazyarr.plan.lower import stand_in
from lazyarr.plan.schedule import FusionBreak, Plan, Step, StepKind, schedule

_SOURCES = (Op.LEAF, Op.SCALAR, Op.COUNTER)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A fused kernel, or an opaque op run on materialised inputs."""

    kind: str  # "kernel" or "opaque"
    number: int  # kernels are numbered 0, 1, ...; opaque steps too, separately
    roots: tuple[Node, ...]  # what the step computes
    nodes: tuple[Node, ...]  # graph nodes fused into it (sources first)
    brk: FusionBreak | None  # why its result is materialised for later steps
    kernel: Kernel | None = None  # the kernel the evaluator compiles
    launch: Launch | None = None  # stand-in launch: sizes and strides for traffic
    reads: tuple[Node, ...] = ()  # results of earlier steps this kernel reads as inputs

    @property
    def reason(self) -> str:
        return "" if self.brk is None else self.brk.text

    @property
    def fused_ops(self) -> list[Node]:
        return [n for n in self.nodes if n.op not in _SOURCES and n.op not in MOVEMENT]


def _planned(step: Step, number: int, values: dict[int, Any], cpu: bool) -> PlannedStep:
    if step.kind is StepKind.OPAQUE:
        return PlannedStep("opaque", number, step.roots, step.roots, step.brk)
    from lazyarr.run.runtime import lower_step

    launch = lower_step(step, [stand_in(r.shape, r.dtype) for r in step.roots], values, cpu)
    read = {id(n) for n in step.reads}
    nodes = toposort(step.roots, lambda n: id(n) in read and n not in step.roots)
    return PlannedStep("kernel", number, step.roots, tuple(nodes), step.brk, launch.kernel,
                       launch, step.reads)


def build_plan(roots: list[Node], split: bool = True) -> list[PlannedStep]:
    """The kernel and opaque steps evaluating ``roots`` takes. ``split=False``: the plan of
    the CUDA target, which never cuts a full reduction into partial rows (``cpu_passes``)
    even when the leaves are host arrays: it copies them to the device and spreads the
    reduction its own way."""
    plan: Plan = schedule(roots, cpu=split)
    values: dict[int, Any] = {}
    steps: list[PlannedStep] = []
    counts = {StepKind.KERNEL: 0, StepKind.OPAQUE: 0}
    for step in plan.steps:
        if step.kind in counts:
            steps.append(_planned(step, counts[step.kind], values, split))
            counts[step.kind] += 1
        for r in step.roots:
            values.setdefault(id(r), stand_in(r.shape, r.dtype))
    return steps


def _loop_text(step: PlannedStep) -> str:
    kernel, shape = step.kernel, step.launch.shape
    outer = "x".join(map(str, shape[:kernel.outer_ndim])) or "1"
    if not kernel.row_ndim:
        return f"a {kernel.ndim}-D loop over {outer} elements"
    row = "x".join(map(str, shape[kernel.outer_ndim:]))
    kinds = ", ".join(sorted({i.arg.value for i in kernel.body if i.op is Op.REDUCE}))
    if kernel.split:
        return _split_text(step, kinds)
    scans = ", ".join(sorted({f"cumulative {i.arg.value}" for i in kernel.body
                              if i.op is Op.SCAN}))
    does = " and ".join(part for part in (kinds and f"reduces ({kinds})",
                                          scans and f"scans ({scans}) in row order") if part)
    writes = "writes every row element" if kernel.out_level else "writes one value per row"
    if kernel.out_level and len({r.ndim for r in step.roots}) > 1:
        writes += " (and one value per row of the outputs of the outer shape)"
    if kernel.column:
        writes += ("; the rows lie down the columns of memory, so it walks memory in order "
                   "with one accumulator per row (tiles of adjacent rows)")
    return f"a loop over {outer} rows of {row} elements; per row it {does} and {writes}"


def _split_text(step: PlannedStep, kinds: str) -> str:
    """What a split full reduction (``loopir.split_rows``) does: its outer loop walks partial
    rows, so "a loop over 64 rows" would read as 64 separate results."""
    kernel, launch = step.kernel, step.launch
    parts, inner = launch.shape[0], math.prod(launch.shape[2:])
    per_part = launch.shape[1] * inner
    tail = int(launch.scalars[-1]) * inner  # elements after the last partial row
    values = len(kernel.outputs) - sum(1 for i in kernel.body if i.op is Op.REDUCE)
    text = (f"a full reduction ({kinds}) of {parts * per_part + tail} elements cut into "
            f"{parts} partial rows of {per_part} elements that threads share (the same cut "
            "for any thread count); the last partial row to finish combines the partial "
            "results in a fixed order")
    if tail:
        text += f", folds in the {tail}-element tail"
    written = "one value" if values == 1 else f"{values} values"
    return f"{text} and writes {written}: the same bits for any thread count"


def _wrap(line: str, width: int = 96) -> str:
    """Wrap a long line, continuing four columns deeper than it starts."""
    indent = " " * (len(line) - len(line.lstrip()))
    return textwrap.fill(line, width, initial_indent="", subsequent_indent=indent + "    ",
                         drop_whitespace=True) if len(line) > width else line


def _ranges(numbers: list[int]) -> str:
    """[0, 1, 2, 5] -> '%0-%2, %5'."""
    parts: list[tuple[int, int]] = []
    for n in sorted(numbers):
        if parts and parts[-1][1] == n - 1:
            parts[-1] = (parts[-1][0], n)
        else:
            parts.append((n, n))
    return ", ".join(f"%{a}" if a == b else f"%{a}-%{b}" for a, b in parts)


class PlanText:
    """Renders a plan with the graph's node numbers (``%k``)."""

    def __init__(self, roots: list[Node], steps: list[PlannedStep],
                 number: Callable[[Node], int]) -> None:
        self.roots, self.steps, self.number = roots, steps, number

    def name(self, node: Node) -> str:
        return f"%{self.number(node)}"

    def lines(self) -> list[str]:
        kernels = [s for s in self.steps if s.kind == "kernel"]
        opaque = len(self.steps) - len(kernels)
        head = (f"{len(kernels)} fused kernel{'s' if len(kernels) != 1 else ''} for "
                f"{len(self.roots)} output{'s' if len(self.roots) != 1 else ''}")
        if opaque:
            head += f", {opaque} opaque op(s) run by NumPy"
        lines = [head]
        for step in self.steps:
            lines += self.kernel_lines(step) if step.kind == "kernel" else self.opaque_lines(step)
        lines += self.output_lines() + self.break_lines()
        return [_wrap(line) for line in lines]

    def _computes(self, step: PlannedStep) -> str:
        outputs = {id(r): k for k, r in enumerate(self.roots)}
        parts = []
        for r in step.roots:
            where = f"output {outputs[id(r)]} = " if id(r) in outputs and not step.reason else ""
            parts.append(f"{where}{self.name(r)} {r.op.value}")
        return ", ".join(parts)

    def kernel_lines(self, step: PlannedStep) -> list[str]:
        launch = step.launch
        views = [n for n in step.nodes if n.op in MOVEMENT]
        lines = [f"kernel {step.number}: computes {self._computes(step)}",
                 f"  runs as {_loop_text(step)}",
                 f"  fuses {_ranges([self.number(n) for n in step.nodes])}: "
                 f"{len(step.fused_ops)} ops, {len(launch.inputs)} input array(s) read once, "
                 f"{len(launch.scalars)} scalar argument(s), {len(views)} view(s) folded "
                 "into strided reads, no intermediate arrays"]
        if step.reads:
            lines.append("  reads the materialised result(s) "
                         + ", ".join(f"{self.name(n)} {n.op.value}" for n in step.reads)
                         + " of an earlier step")
        if step.reason:
            lines.append(f"  its result is materialised because: {step.reason}")
        again = self._recomputed(step)
        if again:
            lines.append(f"  recomputed here (also in an earlier kernel): {_ranges(again)}")
        return lines

    def opaque_lines(self, step: PlannedStep) -> list[str]:
        node = step.roots[0]
        return [f"opaque step {step.number}: {self.name(node)} {node.op.value} runs in NumPy "
                "on materialised inputs", f"  a fusion barrier: {step.reason}"]

    def _recomputed(self, step: PlannedStep) -> list[int]:
        earlier = {id(n) for s in self.steps[:self.steps.index(step)]
                   if s.kind == "kernel" for n in s.fused_ops}
        return [self.number(n) for n in step.fused_ops if id(n) in earlier]

    def output_lines(self) -> list[str]:
        lines = []
        for k, root in enumerate(self.roots):
            if all(n.op in MOVEMENT or n.op is Op.LEAF for n in toposort([root])):
                lines.append(f"output {k} = {self.name(root)} is a view of an input: returned "
                             "as a NumPy view, no kernel runs")
            elif 0 in root.shape:
                lines.append(f"output {k} = {self.name(root)} has no elements: no kernel runs")
        return lines

    def break_lines(self) -> list[str]:
        breaks = [s for s in self.steps if s.reason]
        kernels = [s for s in self.steps if s.kind == "kernel"]
        if not breaks:
            lines = ["fusion breaks: none: everything fused into the kernel(s) above"]
            if len(kernels) > 1:
                lines.append("  (several kernels: one kernel walks one index space, so outputs "
                             "of different shapes get kernels of their own)")
            return lines
        lines = ["fusion breaks (each materialises an array that a later step reads):"]
        for s in breaks:
            what = "kernel" if s.kind == "kernel" else "opaque step"
            roots = ", ".join(f"{self.name(r)} {r.op.value}" for r in s.roots)
            lines.append(f"  {what} {s.number} ({roots}): {s.reason}")
        return lines
