"""Timing primitives shared by every measurement of the worker."""

from __future__ import annotations

import gc
import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any


# -- timing ------------------------------------------------------------------------------------
def _per_call(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def time_round_robin(fns: dict[str, Callable[[], Any]], repeat: int,
                     min_sample_s: float) -> dict[str, float]:
    """Median seconds per call of each function. Samples are taken in turns (one sample of
    each, then the next round), so a burst of load from elsewhere hits every function alike;
    each sample repeats the call until it lasts ``min_sample_s`` (timer resolution, jitter)."""
    number = {}
    for name, fn in fns.items():  # each function has been called once already
        # the best of a few calls: a one-off cost in a second call (lazyarr's fast path sets
        # itself up then) must not make every sample a handful of calls
        per_call = min(_per_call(fn, 1) for _ in range(5))
        number[name] = max(1, min(10**6, math.ceil(min_sample_s / max(per_call, 1e-9))))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    gc_was_on = gc.isenabled()
    gc.disable()  # a collection inside one sample would be charged to whoever ran then
    try:
        for _ in range(repeat):
            for name, fn in fns.items():
                samples[name].append(_per_call(fn, number[name]))
    finally:
        if gc_was_on:
            gc.enable()
    return {name: statistics.median(s) for name, s in samples.items()}


def first_call(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:300]


def usable_cpus() -> list[int]:
    """The CPUs this process may run on (all of them where there is no affinity call)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))
