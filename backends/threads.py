"""A persistent pool of worker threads that split a kernel's outer loop into chunks.

A compiled kernel is ``fn(args, start, end)`` over ``[start, end)`` of its outermost loop
dimension, and ctypes releases the GIL while it runs, so plain Python threads run chunks in
parallel. A launch is cut into a few chunks per thread; the calling thread and the workers
claim them one at a time, so a worker that wakes up late (or a core busy with another
process) costs little: the caller simply runs more chunks itself.

Every outer index is computed by exactly one thread, in the same way whatever the thread
count, so results are bit-identical for any number of threads. For 1-D kernels the outer loop
is also the vectorised loop: chunk boundaries fall on multiples of ``ALIGN`` elements so that
the vector body and the scalar remainder cover the same elements whatever the split (vector
and scalar versions of a math function may differ in the last bit).

A full reduction (``a.sum()``) has one outer index, so lowering cuts a large one into a
fixed number of partial rows (``lazyarr.ir.loop.split_rows``), one outer index each: chunks of
partial rows are shared out here like any others, and the kernel itself combines them once
the last one is done, in an order that does not depend on which thread ran what.

Launches below ``MIN_WORK`` units of work (elements times an estimated per-element cost)
stay on the calling thread: handing chunks to a worker costs ~20 us here (measured), more
than such a kernel takes. Above it, what sharing costs depends on the machine: on this
project's 2-vCPU virtual machine a sleeping thread takes ~40 us to wake (a worker, or the
caller waiting for the interpreter's lock), and splitting made ``exp(-a)*sin(b)+cos(c)`` at
10^4 float32 elements 3.3x slower than one thread. So each kernel learns, per power of two of
work and thread count, whether sharing pays (:func:`run`): its first launches alternate
between the calling thread alone and the pool, timed, and the faster is kept.
"""

from __future__ import annotations

import itertools
import math
import os
import time
from collections.abc import Callable
from functools import cache
from typing import Any

from lazyarr.config import MAX_THREADS, settings

Kernel = Callable[[int, int, int], None]

# Work (elements times per-element cost, ir/loop.py element_cost) below which one thread runs
# a launch, and the least work per chunk. Measured on 2 Zen 3 cores, float64, kernel only:
# 2*a+3*b (cost 1) gains from a second thread from 2^18-2^19 elements (0.94x at 2^18,
# 1.12x at 2^19, 2x at 2^20); exp(-a)*sin(b)+cos(c) (cost 31) from 2^13 (1.07x; 1.45x at
# 2^14). 2^18 units sits at both crossovers.
MIN_WORK = 1 << 18
MIN_CHUNK = 1 << 15
CHUNKS_PER_THREAD = 4
ALIGN = 256  # outer-index alignment of chunk boundaries in 1-D kernels (a multiple of VF*UF)


def cgroup_cpus(root: str = "/sys/fs/cgroup") -> float | None:
    """The CPU quota of this process's cgroup (v2 ``cpu.max``, else v1 CFS files), in CPUs;
    None when there is none. In a container ``root`` is the container's own cgroup."""
    try:
        with open(os.path.join(root, "cpu.max")) as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open(os.path.join(root, "cpu", "cpu.cfs_quota_us")) as f:
            quota_us = int(f.read())
        with open(os.path.join(root, "cpu", "cpu.cfs_period_us")) as f:
            period_us = int(f.read())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


@cache
def available_cpus() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cpus = os.cpu_count() or 1
    quota = cgroup_cpus()
    if quota is not None:
        cpus = min(cpus, max(1, math.ceil(quota)))
    return max(1, cpus)


def get_num_threads() -> int:
    """Threads a large kernel runs on: ``set_num_threads``, ``LAZYARR_NUM_THREADS``, or the
    CPUs this process may use (affinity mask and cgroup quota)."""
    return settings.num_threads or available_cpus()


def set_num_threads(n: int) -> None:
    """Run large kernels on ``n`` threads (the calling thread included); 1 turns threads off.
    Results do not depend on it: every output element is computed the same way. At most
    ``MAX_THREADS`` (256)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_THREADS:
        raise ValueError(f"set_num_threads: n must be an integer from 1 to {MAX_THREADS}, "
                         f"got {n!r}")
    settings.num_threads = n
    if _pool is not None:
        _pool.shrink(n - 1)


def chunks(extent: int, parts: int, align: int) -> list[tuple[int, int]]:
    """``[0, extent)`` as ``parts`` contiguous pieces of near-equal size whose inner
    boundaries are multiples of ``align``; empty pieces are dropped."""
    bounds = [0]
    for k in range(1, parts):
        edge = (extent * k // parts) // align * align
        bounds.append(max(edge, bounds[-1]))
    bounds.append(extent)
    return [(lo, hi) for lo, hi in itertools.pairwise(bounds) if hi > lo]


def plan(extent: int, work: int, threads: int, align: int = 1) -> list[tuple[int, int]]:
    """The chunks one launch is split into (a single chunk: run on the calling thread).

    ``work`` is the launch's estimated cost in elementwise-operation units. There are a few
    chunks per thread, so a thread that starts late (a worker still waking up, or a core
    busy with another process) takes fewer of them instead of holding everyone up.
    """
    if threads <= 1 or work < MIN_WORK or extent <= 1:
        return [(0, extent)]
    parts = min(CHUNKS_PER_THREAD * threads, work // MIN_CHUNK, -(-extent // align))
    return chunks(extent, max(parts, 1), align)


class _Job:
    """One launch split into chunks that the caller and the workers claim one at a time."""

    __slots__ = ("address", "errors", "finished", "fn", "left", "lock", "next", "parts")

    def __init__(self, fn: Kernel, address: int, parts: list[tuple[int, int]],
                 threading: Any) -> None:
        self.fn, self.address, self.parts = fn, address, parts
        self.next = 0  # the next chunk to claim
        self.left = len(parts)  # chunks not yet finished (or skipped)
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()
        self.finished = threading.Lock()
        self.finished.acquire()  # released when the last chunk is done

    def _claim(self) -> int | None:
        with self.lock:
            k = self.next
            if k >= len(self.parts):
                return None
            self.next = k + 1
            return k

    def _done(self, count: int) -> None:
        with self.lock:
            self.left -= count
            last = count and self.left == 0
        if last:
            self.finished.release()

    def work(self) -> None:
        """Run chunks until none is left (a worker that wakes up late finds none)."""
        while (k := self._claim()) is not None:
            try:
                self.fn(self.address, *self.parts[k])
            except BaseException as exc:  # handed to the caller, never lost in a thread
                self.errors.append(exc)
            finally:
                self._done(1)

    def cancel(self) -> None:
        """Start no more chunks; those never started count as done."""
        with self.lock:
            skipped = len(self.parts) - self.next
            self.next = len(self.parts)
        self._done(skipped)

    def wait(self) -> None:
        """Until every chunk has finished: workers use the caller's buffers."""
        interrupted: BaseException | None = None
        while True:
            try:
                self.finished.acquire()
                break
            except KeyboardInterrupt as exc:  # keep waiting, then re-raise
                interrupted = exc
        if interrupted is not None:
            raise interrupted


class _Pool:
    """Worker threads that take :class:`_Job` objects from one queue."""

    def __init__(self) -> None:
        import queue
        import threading

        self._threading = threading
        self.tasks: Any = queue.SimpleQueue()
        self.workers: list[Any] = []
        self.lock = threading.Lock()

    def _grow(self, n: int) -> None:
        while len(self.workers) < n:
            t = self._threading.Thread(target=self._work, daemon=True,
                                       name=f"lazyarr-worker-{len(self.workers)}")
            t.start()
            self.workers.append(t)

    def shrink(self, n: int) -> None:
        """Let all but ``n`` workers exit (each ``None`` task stops one)."""
        with self.lock:
            while len(self.workers) > n:
                self.workers.pop()
                self.tasks.put(None)

    def _work(self) -> None:
        while (job := self.tasks.get()) is not None:
            job.work()

    def run(self, fn: Kernel, address: int, parts: list[tuple[int, int]],
            helpers: int) -> None:
        """Run ``parts`` on the calling thread and up to ``helpers`` workers."""
        job = _Job(fn, address, parts, self._threading)
        with self.lock:  # a concurrent shrink queues its stop signals after this job
            self._grow(helpers)
            for _ in range(helpers):
                self.tasks.put(job)
        try:
            job.work()
        except BaseException:  # interrupted between chunks
            job.cancel()
            raise
        finally:
            job.wait()
        if job.errors:
            raise job.errors[0]


_pool: _Pool | None = None


def _forget_pool() -> None:
    """In a forked child the workers do not exist: start a new pool on first use."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


# Whether sharing a launch pays, learnt per (kernel, bit length of its work, thread count):
# an entry is [kernel, True or False once decided, else the trial times so far: [alone,
# shared] (seconds)]. Kernels (ctypes functions) are unhashable: the key holds their id, and
# the entry the kernel itself, so that the id cannot pass to another kernel meanwhile.
# ADAPTIVE off: every launch that plan() splits is shared (tests of the pool itself).
ADAPTIVE = True
TRIALS = 2  # timed launches of each kind before deciding
_LEARNT_LIMIT = 4096  # entries before the table starts again (it holds kernels alive)
_learnt: dict[tuple[int, int, int], list[Any]] = {}


def run(fn: Kernel, address: int, extent: int, work: int, align: int = 1) -> None:
    """Run ``fn`` over ``[0, extent)`` of its outer loop. ``work``: estimated cost of the
    whole launch (elements times per-element cost); ``align``: of chunk boundaries."""
    if work < MIN_WORK:  # the common small case, decided before anything else
        fn(address, 0, extent)
        return
    threads = get_num_threads()
    parts = plan(extent, work, threads, align)
    if len(parts) == 1:
        fn(address, 0, extent)
        return
    if not ADAPTIVE:
        _share(fn, address, parts, threads)
        return
    key = (id(fn), work.bit_length(), threads)
    entry = _learnt.get(key)
    known = None if entry is None else entry[1]
    if known is True:
        _share(fn, address, parts, threads)
    elif known is False:
        fn(address, 0, extent)
    else:
        if entry is None:
            if len(_learnt) >= _LEARNT_LIMIT:
                _learnt.clear()
            known = [[], []]
            entry = _learnt[key] = [fn, known]
        _trial(entry, known, fn, address, extent, parts, threads)


def _share(fn: Kernel, address: int, parts: list[tuple[int, int]], threads: int) -> None:
    global _pool
    if _pool is None:
        _pool = _Pool()
    _pool.run(fn, address, parts, min(threads, len(parts)) - 1)


def _trial(entry: list[Any], trials: list[list[float]], fn: Kernel, address: int,
           extent: int, parts: list[tuple[int, int]], threads: int) -> None:
    """One timed launch, alone or shared (whichever has had fewer trials; alone first), and
    the verdict once both have had ``TRIALS``: shared only when clearly faster (5%), since
    a second thread also takes a core from whatever else runs. The best of each kind
    discounts a first launch's page faults. ``trials`` is the entry's list as the caller
    read it: another thread may set the verdict meanwhile (then both set one)."""
    alone, shared = trials
    start = time.perf_counter()
    if len(alone) <= len(shared):
        fn(address, 0, extent)
        alone.append(time.perf_counter() - start)
    else:
        _share(fn, address, parts, threads)
        shared.append(time.perf_counter() - start)
    if len(alone) >= TRIALS and len(shared) >= TRIALS:
        entry[1] = min(shared) < 0.95 * min(alone)


def forget_learnt() -> None:
    """Decide again, for every kernel, whether sharing pays (``la.clear_cache``)."""
    _learnt.clear()
