"""Running compiled kernels: output allocation, overlap safety and argument packing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lazyarr.front import opaque
from lazyarr.ir.graph import MOVEMENT, OPAQUE, Node, Op
from lazyarr.ir.loop import Kernel, Launch, NeedsMaterialising, View, args_words, lower_kernel
from lazyarr.plan.schedule import schedule
from lazyarr.run import outputs
from lazyarr.run.arraystruct import data_pointer

# what the status word the kernel sets means (integer power with a negative exponent)
NEGATIVE_POWER = "Integers to negative integer powers are not allowed."


def pack_args(launch: Launch) -> tuple[np.ndarray, np.ndarray]:
    """The argument block of ``launch`` and the status word the kernel may set."""
    words = list(launch.shape)  # built as a list: item by item, an array costs microseconds
    for v in launch.inputs + launch.outputs:
        words.append(v.address)
        words.extend(v.strides)
    for s in launch.scalars:  # its bits, little end first, in the low bytes of a word
        words.append(int.from_bytes(s.tobytes().ljust(8, b"\0"), "little", signed=True))
    status = np.zeros(1, dtype=np.int32)
    words.append(data_pointer(status))
    if len(words) != args_words(launch.kernel):
        raise AssertionError("argument block does not match the kernel's layout")
    return np.array(words, dtype=np.int64), status


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
            if _overlaps(out, inp, launch.shape) and not _same_elements(out, inp):
                bad.append(k)
                break
    return bad


def check_outputs_disjoint(launch: Launch) -> None:
    outs = launch.outputs
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            if _overlaps(outs[i], outs[j], launch.shape):
                raise ValueError("lazyarr.eval: output arrays overlap in memory")


def is_view_of_leaf(node: Node) -> bool:
    while node.op in MOVEMENT:  # each has one source
        node = node.src[0]
    return node.op is Op.LEAF


Run = Callable[[Launch], None]
Opaque = Callable[[Node, list[np.ndarray]], np.ndarray]


@dataclass(slots=True)
class Step:
    """One step of an evaluation: a fused kernel, or an opaque op run by NumPy."""

    kind: str  # "kernel" or "opaque"
    roots: list[Node]
    kernel: Kernel | None = None
    reason: str = ""  # why this step's result is materialised (a fusion break), if it is
    launch: Launch | None = None  # sizes, strides and buffers of a kernel step


@dataclass(slots=True)
class _Evaluation:
    run: Run
    opaque_run: Opaque = opaque.run
    materialised: dict[int, np.ndarray] = field(default_factory=dict)
    steps: list[Step] | None = None  # filled in when planning
    split: bool = True  # cut large full reductions into partial rows (loopir.split_rows)

    def record(self, step: Step) -> None:
        if self.steps is not None:
            self.steps.append(step)


def evaluate_compiled(roots: list[Node], outs: list[np.ndarray | None], run: Run
                      ) -> list[np.ndarray]:
    """Evaluate ``roots``: one compiled kernel per output shape, plus what cannot fuse."""
    return _evaluate(roots, outs, _Evaluation(run))


def plan(roots: list[Node], split: bool = True) -> list[Step]:
    """The steps evaluating ``roots`` would take, without computing anything.

    ``split=False``: the plan of a target that does not split full reductions into partial
    rows for CPU threads (the GPU): what a CPU evaluation of host arrays would run differs.
    """
    ev = _Evaluation(lambda launch: None, lambda node, args: np.empty(node.shape, node.dtype),
                     steps=[], split=split)
    _evaluate(roots, [None] * len(roots), ev)
    return ev.steps


def _evaluate(roots: list[Node], outs: list[np.ndarray | None], ev: _Evaluation,
              reason: str = "") -> list[np.ndarray]:
    results: list[np.ndarray | None] = list(outs)
    for group in schedule(roots):
        todo = []
        for k in group.members:
            if results[k] is None and is_view_of_leaf(roots[k]):
                from lazyarr.backends.interp import run as interpret

                results[k] = interpret([roots[k]])[0]  # zero-copy, like np.asarray
            elif results[k] is None and roots[k].op in OPAQUE:
                results[k] = _materialise(roots[k], ev, reason)
            else:
                todo.append(k)
                if results[k] is None:
                    results[k] = outputs.empty(roots[k].shape, roots[k].dtype)
        if todo and 0 not in group.shape:
            _run_group([roots[k] for k in todo], [results[k] for k in todo], ev, reason)
    return results


def break_reason(node: Node) -> str:
    """Why ``node`` cannot fuse into the kernel that consumes it."""
    if node.op is Op.MATMUL:
        return "opaque op: matrix product (BLAS)"
    if node.op is Op.RESHAPE:
        return "reshape that no strided view can express: evaluated into a buffer"
    if node.op in OPAQUE:
        return f"opaque op: {node.op.value}"
    return ("reduction boundary: the result is used over other axes than the ones its "
            "consumer's kernel walks row by row")


def _materialise(node: Node, ev: _Evaluation, reason: str) -> np.ndarray:
    """Evaluate ``node`` into a buffer that later kernels read as an input."""
    found = ev.materialised.get(id(node))
    if found is not None:
        return found
    if node.op in OPAQUE:
        args = _evaluate(list(node.src), [None] * len(node.src), ev,
                         f"input of {node.op.value}")
        value = ev.opaque_run(node, args)
        ev.record(Step("opaque", [node], reason=reason or break_reason(node)))
    else:
        value = _evaluate([node], [None], ev, reason or break_reason(node))[0]
    ev.materialised[id(node)] = value
    return value


def _lower(roots: list[Node], outs: list[np.ndarray], ev: _Evaluation) -> Launch:
    while True:
        try:
            return lower_kernel(roots, outs, ev.materialised, ev.split)
        except NeedsMaterialising as need:
            for node in need.nodes:
                _materialise(node, ev, need.reason or break_reason(node))


def _run_group(roots: list[Node], outs: list[np.ndarray], ev: _Evaluation,
               reason: str) -> None:
    launch = _lower(roots, outs, ev)
    ev.record(Step("kernel", roots, launch.kernel, reason, launch))
    check_outputs_disjoint(launch)
    unsafe = unsafe_outputs(launch)
    if not unsafe:
        ev.run(launch)
        return
    # NumPy's rule for overlapping in- and outputs: behave as if the inputs were copied first
    temps = [np.empty(o.shape, o.dtype) if k in unsafe else o for k, o in enumerate(outs)]
    ev.run(lower_kernel(roots, temps, ev.materialised, ev.split))
    for k in unsafe:
        np.copyto(outs[k], temps[k])
