"""Host calls: NumPy functions of evaluated inputs as lazy nodes (``Op.HOST``).

Sorting, set functions, ``linalg`` and ``fft`` are not fused: NumPy (LAPACK, pocketfft)
computes them on materialised inputs. Their results are still lazy arrays, so what feeds them
is one fused kernel and what follows them fuses too. Shapes must be known when the expression
is written; a function whose result size depends on the data (``unique``, ``nonzero``)
evaluates what decides the size first, at build time, and says so in its docstring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lazyarr.ir import dtypes
from lazyarr.ir.graph import HostCall, Node, Op, make

Result = tuple[tuple[int, ...], Any]  # (shape, dtype) of one output


def host_call(name: str, fn: Callable[..., Any], inputs: Sequence[Node],
              results: Sequence[Result], params: tuple = ()) -> list[Node]:
    """One node per result of ``fn(*inputs, *params)``; ``results`` gives each one's shape
    and dtype. A single result is ``fn``'s return value itself, several are items of the
    tuple it returns. ``fn`` must be defined at module scope (it is part of the nodes' keys).
    Complex inputs reach ``fn`` as NumPy complex arrays and complex results come back as lazy
    complex values (``lazyarr.front.complexes`` splits them into parts)."""
    if any(n.op is Op.COMPLEX for n in inputs) or any(np.dtype(d).kind == "c"
                                                      for _, d in results):
        from lazyarr.front import complexes  # (it builds on this module)

        return complexes.host_call(name, fn, inputs, results, params)
    several = len(results) > 1
    nodes = []
    for k, (shape, dtype) in enumerate(results):
        dt = dtypes.check(np.dtype(dtype), name)
        call = HostCall(name, fn, tuple(params), k if several else None)
        nodes.append(make(Op.HOST, dt, tuple(int(s) for s in shape), tuple(inputs), call))
    return nodes


def host_value(name: str, fn: Callable[..., Any], inputs: Sequence[Node],
               result: Result, params: tuple = ()) -> Node:
    """:func:`host_call` of a function with one result."""
    return host_call(name, fn, inputs, [result], params)[0]
