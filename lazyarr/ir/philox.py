"""Philox4x32-10 (Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3",
SC 2011) in NumPy: the reference the interpreter backend and the tests use, and how keys are
split and folded on the host. The kernels compute the same function in LLVM IR
(``codegen/scalar_random.py``).

A block is four 32-bit counter words and two 32-bit key words. lazyarr's counter is
``(index & 0xffffffff, index >> 32, domain, 0)`` with ``index`` a uint64 and ``domain`` 0 for
the numbers a sampler draws (other domains derive keys: ``lazyarr/random.py``); its key is a
uint64 whose low half is the first key word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

ROUNDS = 10
# the multipliers and the key schedule's Weyl increments (golden ratio, sqrt(3) - 1)
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox4x32(counter: tuple[np.ndarray, ...], key: tuple[np.ndarray, np.ndarray]
               ) -> tuple[np.ndarray, ...]:
    """The four output words of Philox4x32-10 for counter words ``c0..c3`` and key words
    ``k0, k1`` (arrays or scalars of integers below 2**32, broadcast together)."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = (np.asarray(k, dtype=np.uint64) for k in key)
    mask = np.uint64(MASK)
    for r in range(ROUNDS):
        if r:
            k0 = (k0 + np.uint64(W0)) & mask
            k1 = (k1 + np.uint64(W1)) & mask
        p0 = c0 * np.uint64(M0)  # both factors < 2**32: the product fits 64 bits
        p1 = c2 * np.uint64(M1)
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & mask,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & mask)
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def block(counter: tuple[int, int, int, int], key: tuple[int, int]) -> tuple[int, ...]:
    """``philox4x32`` of one block in Python integers (deriving keys: no arrays to make)."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for r in range(ROUNDS):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = c0 * M0, c2 * M1
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK
    return c0, c1, c2, c3


def words(index: Any, key: Any, domain: int = 0) -> tuple[np.ndarray, ...]:
    """lazyarr's four words for each element ``index`` under ``key`` (uint64 values or
    arrays, broadcast together)."""
    index, key = np.asarray(index, dtype=np.uint64), np.asarray(key, dtype=np.uint64)
    mask, half = np.uint64(MASK), np.uint64(32)
    return philox4x32((index & mask, index >> half, np.uint64(domain), np.uint64(0)),
                      (key & mask, key >> half))


@dataclass(frozen=True, slots=True)
class Key:
    """A random key (``lazyarr.random.key``): 64 bits, Philox's two 32-bit key words with the
    first in the low half. A value: the same key draws the same numbers."""

    bits: int

    def __post_init__(self) -> None:
        if not 0 <= self.bits < 2**64:
            raise ValueError(f"a key holds 64 bits, not {self.bits}")

    def __repr__(self) -> str:
        return f"Key(0x{self.bits:016x})"
