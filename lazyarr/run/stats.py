"""Counters of the kernel cache, reported by ``lazyarr.cache_info()``."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CacheInfo(NamedTuple):
    hits: int  # evaluations that found their kernel compiled
    misses: int  # evaluations that did not
    compiles: int  # LLVM compilations run
    compile_seconds: float  # total time spent in them


counts = {"hits": 0, "misses": 0, "compiles": 0, "compile_seconds": 0.0}
# hits counted by compiled code (the builtins of lazyarr.backends.objcall add to it directly)
direct_hits = np.zeros(1, dtype=np.int64)


def hit() -> None:
    counts["hits"] += 1


def undo_hit() -> None:
    """Take back a hit counted by a lookup that is not itself an evaluation."""
    counts["hits"] -= 1


def miss() -> None:
    counts["misses"] += 1


def compiled(seconds: float) -> None:
    counts["compiles"] += 1
    counts["compile_seconds"] += seconds


def info() -> CacheInfo:
    return CacheInfo(**{**counts, "hits": counts["hits"] + int(direct_hits[0])})


def reset() -> None:
    counts.update(hits=0, misses=0, compiles=0, compile_seconds=0.0)
    direct_hits[0] = 0
