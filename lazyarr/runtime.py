"""Running compiled kernels: output allocation, overlap safety and argument packing."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .graph import MOVEMENT, Node, Op, toposort
from .loopir import Launch, View, args_words, lower_kernel
from .schedule import schedule


def pack_args(launch: Launch) -> tuple[np.ndarray, np.ndarray]:
    """The argument block of ``launch`` and the status word the kernel may set."""
    nd = launch.kernel.ndim
    words = np.zeros(args_words(launch.kernel), dtype=np.int64)
    words[:nd] = launch.shape
    pos = nd
    for v in launch.inputs + launch.outputs:
        words[pos] = v.address
        words[pos + 1:pos + 1 + nd] = v.strides
        pos += 1 + nd
    raw = words.view(np.uint8)
    for s in launch.scalars:
        bits = s.tobytes()
        raw[8 * pos:8 * pos + len(bits)] = np.frombuffer(bits, dtype=np.uint8)
        pos += 1
    status = np.zeros(1, dtype=np.int32)
    words[pos] = status.ctypes.data
    return words, status


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


def _unsafe_outputs(launch: Launch) -> list[int]:
    """Outputs that overlap an input other than element for element."""
    bad = []
    for k, out in enumerate(launch.outputs):
        for inp in launch.inputs:
            if _overlaps(out, inp, launch.shape) and not _same_elements(out, inp):
                bad.append(k)
                break
    return bad


def _check_outputs_disjoint(launch: Launch) -> None:
    outs = launch.outputs
    for i in range(len(outs)):
        for j in range(i + 1, len(outs)):
            if _overlaps(outs[i], outs[j], launch.shape):
                raise ValueError("lazyarr.eval: output arrays overlap in memory")


def _is_view_of_leaf(node: Node) -> bool:
    return all(n.op in MOVEMENT or n.op is Op.LEAF for n in toposort([node]))


def evaluate_compiled(roots: list[Node], outs: list[np.ndarray | None],
                      run: Callable[[Launch], None]) -> list[np.ndarray]:
    """Evaluate ``roots`` with one compiled kernel per output shape."""
    results: list[np.ndarray | None] = list(outs)
    for group in schedule(roots):
        todo = []
        for k in group.members:
            if results[k] is None and _is_view_of_leaf(roots[k]):
                from lazyarr.backends.interp import run as interpret

                results[k] = interpret([roots[k]])[0]  # zero-copy, like np.asarray
            else:
                todo.append(k)
                if results[k] is None:
                    results[k] = np.empty(roots[k].shape, roots[k].dtype)
        if todo and 0 not in group.shape:
            _run_group([roots[k] for k in todo], [results[k] for k in todo], run)
    return results


def _run_group(roots: list[Node], outs: list[np.ndarray],
               run: Callable[[Launch], None]) -> None:
    launch = lower_kernel(roots, outs)
    _check_outputs_disjoint(launch)
    unsafe = _unsafe_outputs(launch)
    if not unsafe:
        run(launch)
        return
    # NumPy's rule for overlapping in- and outputs: behave as if the inputs were copied first
    temps = [np.empty(o.shape, o.dtype) if k in unsafe else o for k, o in enumerate(outs)]
    run(lower_kernel(roots, temps))
    for k in unsafe:
        np.copyto(outs[k], temps[k])
