"""lazyarr: lazy, fused NumPy-style array expressions compiled with LLVM.

Arithmetic on lazyarr arrays builds an expression graph; evaluation fuses the whole graph into
one compiled loop that reads each input once and allocates nothing but its results::

    import numpy as np, lazyarr as la
    a = la.asarray(np.random.rand(1000))
    r = (2 * a + la.exp(-a)).eval()      # one fused kernel -> numpy.ndarray
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lazyarr.backends import stats
from lazyarr.backends.diskcache import set_disk_cache
from lazyarr.backends.threads import get_num_threads, set_num_threads
from lazyarr.config import NUMPY_PRECISION as _NUMPY_PRECISION
from lazyarr.config import fast_precision as _fast_precision
from lazyarr.config import set_precision
from lazyarr.config import settings as _settings
from lazyarr.front.array import LazyArray
from lazyarr.front.build import excess_precision as _excess_precision
from lazyarr.front.functions import (
    METHOD_FUNCTIONS,
    UFUNC_FUNCTIONS,
    array,
    asarray,
    astype,
    broadcast_to,
    clip,
    concatenate,
    dot,
    expand_dims,
    flip,
    from_dlpack,
    imag,
    isclose,
    logsumexp,
    matmul,
    matrix_transpose,
    moveaxis,
    nan_to_num,
    permute_dims,
    real,
    round_,
    sinc,
    stack,
    stop_gradient,
    supported_dtypes,
    take,
    take_along_axis,
    transpose,
    where,
)
from lazyarr.front.transforms import grad, gradients, jvp, value_and_grad, vjp
from lazyarr.inspect import debug as _debug  # noqa: F401 (registers LAZYARR_DEBUG's reporter)
from lazyarr.ir.graph import Buffer, Node
from lazyarr.run import fastpath, outputs
from lazyarr.run.evaluate import evaluate

__version__ = "0.1.0"

# the submodules that name functions of their own (la.random.uniform, la.nn.dropout); imported
# after the functions above, which they build on
from lazyarr import fft, linalg, nn, optim, quantization, random
from lazyarr.quantization import dequantize, quantize
from lazyarr.run.fuse import fuse

globals().update(UFUNC_FUNCTIONS)
globals().update(METHOD_FUNCTIONS)
round = around = round_  # NumPy's names (the builtin round is not needed here)

# the array API standard's namespace (2024.12): modules that list their public names in __all__
from lazyarr.front import complexes, creation, dtypefuncs, scan, sorting, standard  # noqa: E402
from lazyarr.front.functions import angle  # noqa: E402

_STANDARD_MODULES = (creation, dtypefuncs, standard, scan, sorting)
for _module in _STANDARD_MODULES:
    globals().update({_name: getattr(_module, _name) for _name in _module.__all__})


def _node(x: Any) -> Node:
    return x._node if type(x) is LazyArray else asarray(x)._node


def eval(*exprs: Any, out: Any = None, backend: str | None = None,
         target: str | None = None, precision: str | None = None) -> Any:
    """Evaluate one or more expressions together: one kernel per output shape.

    Returns a NumPy array, or a tuple of them for several expressions. ``out`` (an array, or a
    tuple with one array or None per expression) receives the results in place; ``backend``
    is ``"cpu"`` (default) or ``"interp"``. ``target="cuda"`` runs on the GPU (host arrays
    are copied there) and returns ``lazyarr.backends.cuda_memory.DeviceArray`` results;
    ``target="cpu"`` copies device arrays back. Without a target, the arrays' location decides.
    ``precision`` ("numpy" or "fast", else ``set_precision``'s): how float16 and bfloat16
    are rounded, after every operation (NumPy's bits) or only where stored.
    """
    chosen = precision is not None or _settings.precision is not _NUMPY_PRECISION
    if len(exprs) == 1 and type(exprs[0]) is LazyArray and not chosen:
        # one expression: its own eval keeps a ready launch for the next time
        if out is None and backend is None and target is None:
            return exprs[0].eval()
        if out is None or type(out) is np.ndarray:
            return exprs[0].eval(out=out, backend=backend, target=target)
        if (type(out) is tuple or type(out) is list) and len(out) == 1:
            return exprs[0].eval(out=out[0], backend=backend, target=target)
    if not exprs:
        raise TypeError("eval() needs at least one expression")
    several = type(out) is tuple or type(out) is list
    outs = out if several else (None if out is None else [out])
    nodes = [_node(e) for e in exprs]
    if chosen and _fast_precision(precision):
        nodes = _excess_precision(nodes)
    results = evaluate(nodes, outs, backend, target)
    return results[0] if len(exprs) == 1 else tuple(results)


def explain(*exprs: Any, target: str = "cpu"):
    """Every stage of compiling ``exprs`` for ``target`` ("cpu" or "cuda"): graph, canonical
    form, kernel plan, loop IR, LLVM IR, assembly or PTX, and what they say (vectorised?
    bytes and ops per element, cache hit or fresh compile)."""
    from lazyarr.inspect.explanation import Explanation

    nodes = complexes.real_roots([_node(e) for e in exprs])  # a complex value: its parts
    if Buffer.dask:
        from lazyarr.run import daskeval

        if daskeval.has_dask_leaves(nodes):
            return daskeval.DaskPlan(nodes)
    return Explanation(nodes, target)


def __getattr__(name: str) -> Any:
    # ml_dtypes is imported on first use of la.bfloat16 only: it costs about half a second
    if name == "bfloat16":
        from lazyarr.ir import dtypes

        return dtypes.bfloat16()
    raise AttributeError(f"module 'lazyarr' has no attribute {name!r}")


def cache_info() -> stats.CacheInfo:
    """Kernel cache counters: ``hits``, ``misses``, ``compiles``, ``compile_seconds``."""
    return stats.info()


def clear_cache() -> None:
    """Forget compiled kernels and pooled result memory, and reset the counters."""
    from lazyarr.backends import cpu

    fastpath.clear()
    outputs.clear()
    cpu.clear_cache()
    stats.reset()


__all__ = [
    "LazyArray", "array", "asarray", "astype", "broadcast_to", "cache_info", "clear_cache",
    "clip", "concatenate", "dot", "eval", "expand_dims", "explain", "flip", "logsumexp",
    "matmul", "matrix_transpose", "moveaxis", "permute_dims", "stack", "stop_gradient",
    "supported_dtypes", "take", "take_along_axis", "from_dlpack", "transpose", "where",
    "get_num_threads", "set_num_threads", "set_disk_cache", "set_precision",
    "around", "imag", "isclose", "nan_to_num", "real", "round", "sinc",
    "grad", "gradients", "jvp", "value_and_grad", "vjp", "nn", "optim", "random",
    "quantization", "quantize", "dequantize", "fuse", "fft", "linalg", "angle",
    *sorted(UFUNC_FUNCTIONS), *sorted(METHOD_FUNCTIONS),
    *sorted({_name for _module in _STANDARD_MODULES for _name in _module.__all__}),
]
