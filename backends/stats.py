"""Counters of the kernel cache (``lazyarr.cache_info()``) and listeners to compiles.

The backends count here because they are the ones that look kernels up; the library's front
door and ``explain`` read the counts from here. Listeners are how the layers above hear of a
compile without a backend importing them: ``lazyarr.inspect.debug`` registers the
``LAZYARR_DEBUG`` reporter.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class CacheInfo(NamedTuple):
    hits: int  # evaluations that found their kernel compiled
    misses: int  # evaluations that did not
    compiles: int  # LLVM compilations run
    compile_seconds: float  # total time spent in them


counts = {"hits": 0, "misses": 0, "compiles": 0, "compile_seconds": 0.0}
# hits counted by compiled code (the builtins of lazyarr.backends.objcall add to it directly)
direct_hits = np.zeros(1, dtype=np.int64)

# called as listener(kernel, compiled) for each kernel compiled or loaded from the disk cache
# (not for in-memory hits); a listener decides for itself whether it has anything to say
CompileListener = Callable[[Any, Any], None]
compile_listeners: list[CompileListener] = []


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


def announce(kernel: Any, found: Any) -> None:
    """Tell every listener that ``kernel`` was just compiled (or loaded) as ``found``."""
    for listener in compile_listeners:
        listener(kernel, found)


def listen(listener: CompileListener) -> None:
    """Register ``listener`` for compiles (once: a second registration is ignored)."""
    if listener not in compile_listeners:
        compile_listeners.append(listener)


def info() -> CacheInfo:
    return CacheInfo(**{**counts, "hits": counts["hits"] + int(direct_hits[0])})


def reset() -> None:
    counts.update(hits=0, misses=0, compiles=0, compile_seconds=0.0)
    direct_hits[0] = 0
