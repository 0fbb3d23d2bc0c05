"""A persistent pool of worker threads that split a kernel's outer loop into chunks.

A compiled kernel is ``fn(args, start, end)`` over ``[start, end)`` of its outermost loop
dimension, and ctypes releases the GIL while it runs, so plain Python threads run chunks in
parallel. The calling thread runs the first chunk itself and waits for the others.

Every outer index is computed by exactly one thread, in the same way whatever the thread
count, so results are bit-identical for any number of threads. For 1-D kernels the outer loop
is also the vectorised loop: chunk boundaries fall on multiples of ``ALIGN`` elements so that
the vector body and the scalar remainder cover the same elements whatever the split (vector
and scalar versions of a math function may differ in the last bit).

Problems below ``MIN_WORK`` elements stay on the calling thread: waking a worker costs tens
of microseconds, more than such a kernel takes (measured; see ``MIN_WORK``).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from functools import cache
from typing import Any

from lazyarr.config import settings

Kernel = Callable[[int, int, int], None]

# Elements of work (the whole index space of a launch) below which one thread runs it all,
# and the least work worth giving to each thread. Measured on 2 Zen 3 cores: two threads
# first win at about 2^16 float64 elements for transcendental kernels and at about 2^18
# for memory-bound ones; 2^17 costs at most a few microseconds either way.
MIN_WORK = 1 << 17
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
    Results do not depend on it: every output element is computed the same way."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"set_num_threads: n must be a positive integer, got {n!r}")
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


def plan(extent: int, work: int, threads: int) -> list[tuple[int, int]]:
    """The chunks one launch is split into (a single chunk: run on the calling thread)."""
    if threads <= 1 or work < MIN_WORK or extent <= 1:
        return [(0, extent)]
    align = ALIGN if work == extent else 1  # work == extent: a 1-D (vectorised) outer loop
    parts = min(threads, work // (MIN_WORK // 2), -(-extent // align))
    return chunks(extent, parts, align)


class _Pool:
    """Worker threads that take ``(fn, address, start, end, done)`` tasks from one queue."""

    def __init__(self) -> None:
        import queue
        import threading

        self._threading = threading
        self._queue_type = queue.SimpleQueue
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
        while True:
            task = self.tasks.get()
            if task is None:
                return
            fn, address, start, end, done = task
            try:
                fn(address, start, end)
            except BaseException as exc:  # handed to the caller, never lost in a thread
                done.put(exc)
            else:
                done.put(None)

    def run(self, fn: Kernel, address: int, parts: list[tuple[int, int]]) -> None:
        done = self._queue_type()
        # grow and post under the lock: a concurrent shrink then queues its stop signals
        # after these tasks (the queue is FIFO), so some worker is always left to run them
        with self.lock:
            self._grow(len(parts) - 1)
            for start, end in parts[1:]:
                self.tasks.put((fn, address, start, end, done))
        errors: list[BaseException] = []
        try:
            fn(address, *parts[0])
        finally:
            # wait for every worker even if interrupted: they use the caller's buffers
            errors += _wait_all(done, len(parts) - 1)
        if errors:
            raise errors[0]


def _wait_all(done: Any, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    while count:
        try:
            result = done.get()
        except KeyboardInterrupt as exc:  # keep waiting, then re-raise
            errors.append(exc)
            continue
        count -= 1
        if result is not None:
            errors.append(result)
    return errors


_pool: _Pool | None = None


def _forget_pool() -> None:
    """In a forked child the workers do not exist: start a new pool on first use."""
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run(fn: Kernel, address: int, extent: int, work: int) -> None:
    """Run ``fn`` over ``[0, extent)`` of its outer loop; ``work``: elements in all."""
    global _pool
    parts = plan(extent, work, get_num_threads())
    if len(parts) == 1:
        fn(address, 0, extent)
        return
    if _pool is None:
        _pool = _Pool()
    _pool.run(fn, address, parts)
