"""The CPU's policies, as named passes over a lowered launch: each returns a new record.

``split_rows``: a large full reduction has a single outer index, so the threads that split
the outer loop would have nothing to share: it is cut into a fixed number of partial rows
instead, whose last one to finish combines them (``codegen/partial_rows.py``).
``stream_outputs``: big 1-D results are written with non-temporal stores.
:func:`apply` runs them in order; the scheduler asks :func:`split_choice` of a trace before
lowering, as a nested full reduction is split by planning its inner reductions first.
"""

from __future__ import annotations

import enum
import math
from dataclasses import replace

import numpy as np

from lazyarr.config import settings
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import (
    ArrayParam,
    Instr,
    Launch,
    Layout,
    StoreMode,
    View,
    body_cost,
    compute_bound,
    is_memory,
    on_host,
    reports_errors,
)
from lazyarr.plan.lower import Trace, inner_reductions

# A large full reduction is cut into about PARTS partial rows that threads can share (the
# outer loop is what they split, and a full reduction has one outer index). The cut depends
# only on the kernel and the shape, never on the thread count, so every thread count does the
# same arithmetic in the same order: the same bits. 64 partial rows keep 2-16 threads evenly
# loaded (threads.plan deals out a few chunks per thread) and cost 16 bytes of partial state
# each. A kernel is split from SPLIT_WORK units of work: elements times body_cost,
# weighted by the bytes read per element over 8. That is 4x threads.MIN_WORK for float64
# a.sum(): a reduction writes nothing per element, and a.sum() reads 8 bytes where 2*a+3*b,
# on which MIN_WORK was measured, moves 24. Measured on 2 EPYC vCPUs (best of 9, 2 threads
# against 1 at 2^20 elements): float64 sum(a*b) 0.47x, a.sum() 0.97x; float32 sum(a*b)
# 1.05x, a.sum() 1.5x (not split: 2^21 is its threshold); float32 sum(exp(a)) at 2^18:
# 0.77x. Never below SPLIT_MIN elements: a partial row holds at least 1024 (long vector
# loops).
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


class Split(enum.Enum):
    NO = "no"
    ROWS = "split into partial rows"
    INNER_FIRST = "evaluate the inner reductions first, then split"


def _split(outer: tuple[int, ...], row: tuple[int, ...], out_level: int,
           body: tuple[Instr, ...], read_bytes: int) -> Split:
    n = math.prod(row)
    if not row or out_level or math.prod(outer) != 1 or n < 2:
        return Split.NO  # not a full reduction
    if n < SPLIT_MIN or reports_errors(body):
        return Split.NO  # small; or the status word reports errors (a split kernel counts in it)
    if n * body_cost(body) * read_bytes < SPLIT_WORK * 8:
        return Split.NO
    if not inner_reductions(body):
        return Split.ROWS
    return Split.INNER_FIRST if n >= NESTED_SPLIT_MIN else Split.NO


def split_choice(tr: Trace) -> Split:
    """What the CPU does with the kernel of ``tr`` (host arrays: the CPU backend runs it)."""
    return _split(tr.outer, tr.row, tr.out_level, tr.body,
                  sum(v.array.dtype.itemsize for v in tr.inputs if is_memory(v.array)))


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

    def cut(v: View) -> View:
        return View(v.array, v.offset, (q * v.strides[1], *v.strides[1:]))

    reduces = [k for k, ins in enumerate(kernel.body) if ins.op is Op.REDUCE]
    partials = tuple(View(np.empty((parts, 2), np.int64), 0, (16,) + (0,) * kernel.row_ndim)
                     for _ in reduces)
    state = ArrayParam(np.dtype(np.int64), Layout.ZERO)  # two words per partial row
    kernel = replace(kernel, scalars=(*kernel.scalars, np.dtype(np.int64)),
                     outputs=(*kernel.outputs, *((n, state) for n in reduces)), split=True)
    return Launch(kernel, (parts, q, *dims[2:]), tuple(map(cut, launch.inputs)),
                  (*map(cut, launch.outputs), *partials), (*launch.scalars, np.int64(tail)),
                  launch.scalar_nodes)


# Big results are written with non-temporal ("streaming") stores on the CPU: they bypass the
# caches, so the core no longer reads every line it is about to overwrite (for a*b+c*d that
# read is a sixth of the memory traffic; for 2*a+3*b a quarter). Measured on 2 EPYC vCPUs with
# hand-written AVX2 C, float64 a*b+c*d into a preallocated output, one thread: 17.3 -> 14.0 ms
# at 10^7, 1.73 -> 1.15 ms at 10^6, no loss at 10^5. A smaller result probably stays in
# the cache (32 MiB L3 there) for whatever reads it next, which streaming would throw away:
# hence streaming from settings.stream_bytes of results (4 MiB; LAZYARR_STREAM_MB, 0: never).
def _in_place(launch: Launch) -> bool:
    """Whether an output lies over an input. A read-only output is one of explain's stand-ins
    (``lower.stand_in``, never written): its extent is claimed, not owned, and may happen to
    cover an input's memory."""
    return any(o.array.flags.writeable and is_memory(i.array)
               and np.may_share_memory(o.array, i.array)
               for o in launch.outputs for i in launch.inputs)


def stream_outputs(launch: Launch) -> Launch:
    """``launch``, its kernel storing with ``StoreMode.STREAM`` when it should: a 1-D
    elementwise kernel whose contiguous outputs share one itemsize of 4 or 8 bytes (the
    32-byte groups hold 8 or 4 lanes) and hold at least ``settings.stream_bytes``. Kernels
    calling math routines are left alone: compute-bound, and their vector math comes from the
    loop vectoriser, which the grouped loop would bypass. Nor are updates in place (an output
    over an input): the line was just read, so there is no read to save, and a streaming
    store would evict it (measured: Adam float32 at 10^7 in place, 14 ms instead of 9)."""
    k, least = launch.kernel, settings.stream_bytes
    sizes = {p.dtype.itemsize for _, p in k.outputs}
    if (not least or k.ndim != 1 or k.row_ndim or k.column or k.split or len(sizes) != 1
            or not sizes <= {4, 8} or any(p.layout is not Layout.CONTIG for _, p in k.outputs)
            or launch.shape[0] * len(k.outputs) * sizes.pop() < least
            or compute_bound(k.body) or _in_place(launch)):
        return launch
    return replace(launch, kernel=replace(k, store=StoreMode.STREAM))


def _host(launch: Launch) -> bool:
    return all(on_host(v.array) for v in (*launch.inputs, *launch.outputs))


def apply(launch: Launch) -> Launch:
    """The CPU's passes over a launch of host arrays: a large full reduction is split into
    partial rows, a big 1-D result streamed (device arrays: the GPU has its own ways)."""
    if not _host(launch):
        return launch
    k, dims = launch.kernel, launch.shape
    read = sum(v.array.dtype.itemsize for v in launch.inputs if is_memory(v.array))
    choice = _split(dims[:k.outer_ndim], dims[k.outer_ndim:], k.out_level if k.row_ndim
                    else 0, k.body, read) if k.row_ndim else Split.NO
    if choice is Split.ROWS:
        return split_rows(launch)
    return stream_outputs(launch)
