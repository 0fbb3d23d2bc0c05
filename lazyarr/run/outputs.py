"""Fresh result arrays: NumPy's allocation, with a small pool for big ones.

A new 80 MB result costs the kernel as much as computing it: the operating system maps and
zeroes every page on first touch (~9 ms here for 10^7 float64, against ~17 ms for
``a*b + c*d`` itself). Code that evaluates the same big expression in a loop frees one
result as it asks for the next, so big results come from a pool of blocks that NumPy
allocated (with its huge-page advice): a block whose arrays have all died is handed out
again, its pages already mapped.

A block is free when nothing but the pool refers to it: every array made from it, and every
view of those, holds the block as its ``base``, so the block's reference count says whether
any is alive. (A pooled result therefore has ``base`` set and ``flags.owndata`` False,
like any view.) The pool holds at most ``settings.pool_bytes`` of blocks, in use or not;
older blocks are dropped from it (those in use live on as ordinary arrays).
"""

from __future__ import annotations

import math
import sys
import sysconfig
import threading

import numpy as np

from lazyarr.config import settings

POOL_MIN = 8 << 20  # below this, pages are few and NumPy's own allocator is as good

_blocks: list[np.ndarray] = []  # oldest first
_lock = threading.Lock()
# CPython with the GIL: reference counts are exact there
_COUNTS_EXACT = sys.implementation.name == "cpython" and not sysconfig.get_config_var(
    "Py_GIL_DISABLED")


def empty(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """An uninitialised array of ``shape`` and ``dtype`` for a result."""
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes < POOL_MIN or nbytes > settings.pool_bytes or not _COUNTS_EXACT:
        return np.empty(shape, dtype)
    with _lock:
        block = _free_block(nbytes)
        if block is None:
            block = np.empty(nbytes, np.uint8)
            _add(block)
        return block.view(dtype).reshape(shape)


def _free_block(nbytes: int) -> np.ndarray | None:
    for i in range(len(_blocks)):  # not enumerate: its cached tuple may hold a reference
        block = _blocks[i]
        # references: the list, ``block`` here and getrefcount's argument
        if block.nbytes == nbytes and sys.getrefcount(block) == 3:
            _blocks.append(_blocks.pop(i))  # most recently used last
            return block
    return None


def _add(block: np.ndarray) -> None:
    _blocks.append(block)
    total = sum(b.nbytes for b in _blocks)
    while total > settings.pool_bytes:
        total -= _blocks.pop(0).nbytes


def pooled_bytes() -> int:
    """Bytes of blocks the pool refers to (in use or free)."""
    return sum(b.nbytes for b in _blocks)


def clear() -> None:
    """Forget every block (those in use stay with their arrays)."""
    with _lock:
        _blocks.clear()
