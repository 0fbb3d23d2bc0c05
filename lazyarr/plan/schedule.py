"""Scheduling: partition the requested outputs into kernels.

Elementwise ops and views fuse completely, so every output of one shape lands in one kernel
and no intermediate array is ever allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

from lazyarr.ir.graph import Node


@dataclass(frozen=True, slots=True)
class KernelGroup:
    """Outputs computed by one kernel (indices into the evaluation's output list)."""

    shape: tuple[int, ...]
    members: tuple[int, ...]


def schedule(roots: list[Node]) -> list[KernelGroup]:
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for k, r in enumerate(roots):
        by_shape.setdefault(r.shape, []).append(k)
    return [KernelGroup(shape, tuple(m)) for shape, m in by_shape.items()]
