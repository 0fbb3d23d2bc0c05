"""The evaluator: one function runs a plan on any backend, through :class:`Backend`.

A backend allocates, makes views of inputs, compiles a loop-IR kernel into a program and
launches it, and runs opaque ops; it never builds graph nodes. The evaluator walks the plan
(``lazyarr/plan/schedule.py``) in order: it lowers each kernel step against its output
buffers (the CPU's policies are passes over the launch), keeps materialised results for the
steps that read them, and applies NumPy's rule for outputs that overlap inputs.

On a backend whose memory NumPy cannot reach (``host`` False: CUDA), the evaluator also turns
data movement into launch records: views of leaves are :class:`View` records it hands to
``view_of``, and copies (overlapping outputs, reshapes of strided arrays, concatenate and
stack) are copy kernels it lowers and launches. So a backend only allocates, compiles and
launches; it needs nothing of the planner.
"""

from __future__ import annotations

import math
from typing import Any, Protocol

import numpy as np

from lazyarr.ir.graph import Node, Op
from lazyarr.ir.loop import Kernel, Launch, View, c_ordered, c_strides, is_memory
from lazyarr.ir.reference import opaque_value
from lazyarr.plan import cpu_passes
from lazyarr.plan.lower import copy_launch, leaf_view, lower, rebind, view_base
from lazyarr.plan.schedule import Plan, Step, StepKind, schedule
from lazyarr.run import outputs


class Backend(Protocol):
    """What the evaluator needs of a target."""

    name: str
    # results are NumPy arrays (lazyarr's result pool allocates them), and NumPy makes views
    # of leaves, copies and opaque ops (``view``, ``copy``, ``run_opaque``); False: the
    # evaluator makes those from ``view_of`` and copy launches, and only matmul is opaque
    host: bool
    cpu_policies: bool  # plan and lower with the CPU's passes (partial rows, streaming)
    lowers: bool  # False: kernel steps are evaluated node by node (the NumPy reference)

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> Any: ...

    def view(self, node: Node, known: dict[int, Any]) -> Any:
        """A view of a leaf (movement ops over one LEAF) or of a materialised result
        (``known``: those by node id), without a copy (host backends)."""

    def view_of(self, view: View, shape: tuple[int, ...]) -> Any:
        """The array ``view`` describes over ``shape``, sharing its array's memory (backends
        whose memory is not the host's)."""

    def compile(self, kernel: Kernel) -> Any: ...

    def launch(self, program: Any, launch: Launch) -> None: ...

    def run_opaque(self, node: Node, args: list[Any]) -> Any: ...

    def run_nodes(self, roots: tuple[Node, ...], known: dict[int, Any]) -> list[Any]:
        """Values of ``roots`` computed node by node (``known``: materialised results);
        only for backends that do not lower."""

    def copy(self, source: Any, target: Any) -> None:
        """``target[...] = source``, cast to ``target``'s dtype (host backends)."""


def _extent(v: View, shape: tuple[int, ...]) -> tuple[int, int]:
    lo = hi = v.address
    for n, s in zip(shape, v.strides, strict=True):
        lo += min(0, (n - 1) * s)
        hi += max(0, (n - 1) * s)
    return lo, hi + v.array.dtype.itemsize


def _overlaps(a: View, b: View, shape: tuple[int, ...]) -> bool:
    (alo, ahi), (blo, bhi) = _extent(a, shape), _extent(b, shape)
    return alo < bhi and blo < ahi


def _same_elements(a: View, b: View) -> bool:
    return (a.address, a.strides, a.array.dtype) == (b.address, b.strides, b.array.dtype)


def unsafe_outputs(launch: Launch) -> list[int]:
    """Outputs that overlap an input other than element for element."""
    bad = []
    for k, out in enumerate(launch.outputs):
        for inp in launch.inputs:
            if is_memory(inp.array) and _overlaps(out, inp, launch.shape) \
                    and not _same_elements(out, inp):
                bad.append(k)
                break
    return bad


def check_outputs_disjoint(launch: Launch) -> None:
    outs = launch.outputs
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            if _overlaps(outs[i], outs[j], launch.shape):
                raise ValueError("lazyarr.eval: output arrays overlap in memory")


def lower_step(step: Step, outs: list[Any], values: dict[int, Any], cpu: bool) -> Launch:
    """The launch of kernel step ``step`` writing ``outs`` (``values``: materialised results
    by node id); with ``cpu``, after the CPU's passes."""
    launch = lower(rebind(step.trace, values) if step.reads else step.trace, outs)
    return cpu_passes.apply(launch) if cpu else launch


class _Run:
    def __init__(self, plan: Plan, outs: list[Any], backend: Backend) -> None:
        self.plan, self.backend = plan, backend
        self.results: list[Any] = list(outs)
        self.given = [o is not None for o in outs]
        self.values: dict[int, Any] = {}  # id of a materialised node -> its buffer
        self.calls: dict = {}  # host calls' whole results, for their several outputs
        self.empty = outputs.empty if backend.host else backend.empty
        # out= arrays that a later step reads (as an input's memory): written there, they
        # would change what that step reads; filled from a temporary after the last step
        self.later = _read_later(plan, outs) if backend.host and len(plan.steps) > 1 else {}

    def buffers(self, step: Step) -> list[Any]:
        """Where each root of ``step`` goes: the caller's array, or a new one."""
        bufs = []
        for root, k in zip(step.roots, step.outputs, strict=True):
            buf = self.results[k] if k is not None and self.given[k] and k not in self.later \
                else None
            bufs.append(self.empty(root.shape, root.dtype) if buf is None else buf)
        return bufs

    def keep(self, step: Step, values: list[Any]) -> None:
        for root, k, value in zip(step.roots, step.outputs, values, strict=True):
            if k is None:
                self.values[id(root)] = value
            else:
                self.results[k] = value

    def step(self, step: Step) -> None:
        backend = self.backend
        if step.kind is StepKind.VIEW:
            self.keep(step, [self.view(step.roots[0])])
        elif step.kind is StepKind.OPAQUE:
            node = step.roots[0]
            value = self.opaque(node, [self.values[id(s)] for s in node.src])
            self.values[id(node)] = value
            self.keep(step, [value])
        elif step.kind is StepKind.EMPTY:
            self.keep(step, self.buffers(step))
        elif backend.lowers:
            self.keep(step, self.kernel(step))
        else:
            self.keep(step, self.nodes(step))

    def kernel(self, step: Step) -> list[Any]:
        bufs = self.buffers(step)
        backend, cpu = self.backend, self.backend.cpu_policies
        launch = lower_step(step, bufs, self.values, cpu)
        # outputs allocated here are memory of their own: only the caller's can overlap
        given = any(k is not None and self.given[k] for k in step.outputs)
        if given:
            check_outputs_disjoint(launch)
        unsafe = unsafe_outputs(launch) if given else []
        if not unsafe:
            backend.launch(backend.compile(launch.kernel), launch)
            return bufs
        # NumPy's rule for overlapping in- and outputs: behave as if the inputs were copied
        temps = [self.empty(b.shape, b.dtype) if k in unsafe else b for k, b in enumerate(bufs)]
        launch = lower_step(step, temps, self.values, cpu)
        backend.launch(backend.compile(launch.kernel), launch)
        for k in unsafe:
            self.copy(temps[k], bufs[k])
        return bufs

    def nodes(self, step: Step) -> list[Any]:
        values = self.backend.run_nodes(step.roots, self.values)
        bufs = [self.results[k] if k is not None and self.given[k] else None
                for k in step.outputs]
        for value, buf in zip(values, bufs, strict=True):
            if buf is not None:
                self.copy(value, buf)
        return [v if b is None else b for v, b in zip(values, bufs, strict=True)]

    # -- data movement: NumPy's on the host, copy launches elsewhere ----------------------------
    def view(self, node: Node) -> Any:
        if self.backend.host:
            return self.backend.view(node, self.values)
        base = view_base(node)
        array = None if base.op is Op.LEAF else self.values[id(base)]
        return self.backend.view_of(leaf_view(node, array), node.shape)

    def copy(self, source: Any, target: Any) -> None:
        if self.backend.host:
            self.backend.copy(source, target)
        elif math.prod(target.shape):
            launch = copy_launch(source, target)
            self.backend.launch(self.backend.compile(launch.kernel), launch)

    def opaque(self, node: Node, args: list[Any]) -> Any:
        if node.op is Op.HOST and self.backend.host:
            return opaque_value(node, args, self.calls)  # (of the node's dtype already)
        if self.backend.host or node.op not in (Op.RESHAPE, Op.CONCATENATE, Op.STACK):
            return self.backend.run_opaque(node, args)
        if node.op is Op.RESHAPE:
            return self.reshape(node, args[0])
        return self.join(node, args)

    def reshape(self, node: Node, source: Any) -> Any:
        """A reshape as a view of C-ordered memory: of ``source`` itself when it is C-ordered,
        else of a dense copy."""
        item = source.dtype.itemsize
        if not c_ordered(source.shape, source.strides, item):
            dense = self.empty(source.shape, source.dtype)
            self.copy(source, dense)
            source = dense
        return self.backend.view_of(View(source, 0, c_strides(node.shape, item)), node.shape)

    def join(self, node: Node, args: list[Any]) -> Any:
        """Concatenate or stack: each input copied into its slice of the result."""
        out = self.empty(node.shape, node.dtype)
        strides = c_strides(node.shape, node.dtype.itemsize)
        axis, start = node.arg, 0
        for a in args:
            if node.op is Op.STACK:  # the new axis is dropped: a slice of width one
                shape, slice_strides, width = a.shape, strides[:axis] + strides[axis + 1:], 1
            else:
                shape, slice_strides, width = a.shape, strides, a.shape[axis]
            part = View(out, start * strides[axis], slice_strides)
            self.copy(a, self.backend.view_of(part, shape))
            start += width
        return out

    def run(self) -> list[Any]:
        for step in self.plan.steps:
            self.step(step)
        for k, target in self.later.items():  # NumPy's rule: as if the inputs were copied
            self.copy(self.results[k], target)
            self.results[k] = target
        # an output that is a result materialised for other steps too (an opaque op)
        return [self.values[id(r)] if v is None else v
                for r, v in zip(self.plan.roots, self.results, strict=True)]


def _step_reads(step: Step) -> list[Any]:
    """The host memory ``step`` reads that a caller may own: its kernel's inputs, or the
    leaves under an opaque op's or a view's operands."""
    if step.trace is not None:
        return [v.array for v in step.trace.inputs if isinstance(v.array, np.ndarray)]
    nodes = step.roots[0].src if step.kind is StepKind.OPAQUE else step.roots
    bases = [view_base(n) for n in nodes]
    return [b.arg.array for b in bases
            if b.op is Op.LEAF and isinstance(b.arg.array, np.ndarray)]


def _read_later(plan: Plan, outs: list[Any]) -> dict[int, Any]:
    """The ``out=`` arrays (by output) that a step after the one writing it reads."""
    found: dict[int, Any] = {}
    for i, step in enumerate(plan.steps):
        for k in step.outputs:
            out = None if k is None else outs[k]
            if not isinstance(out, np.ndarray) or k in found:
                continue
            if any(np.may_share_memory(out, a) for later in plan.steps[i + 1:]
                   for a in _step_reads(later)):
                found[k] = out
    return found


def run_plan(plan: Plan, outs: list[Any], backend: Backend) -> list[Any]:
    """Run ``plan`` on ``backend``; ``outs``: the caller's array or None for each root."""
    return _Run(plan, outs, backend).run()


def single_launch(roots: list[Node], outs: list[Any], cpu: bool = True) -> Launch:
    """The launch of ``roots`` written into ``outs`` when their plan is one kernel (tests,
    benchmarks and tools that drive a kernel themselves); ValueError when it is not."""
    step = schedule(roots, cpu, frozenset(range(len(roots)))).single_kernel()
    if step is None:
        raise ValueError("these expressions need more than one kernel")
    return lower_step(step, outs, {}, cpu)
