"""NumPy-named functions that build lazy expressions."""

from __future__ import annotations

from typing import Any

import numpy as np

from lazyarr.front import array as lazy
from lazyarr.front import build, opaque, reductions, views
from lazyarr.front.array import _ARRAY_FUNCTIONS, LazyArray
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Node, Op
from lazyarr.ir.ops import SPECS


def asarray(obj: Any, dtype: Any = None, device: str | None = None) -> LazyArray:
    """Wrap ``obj`` as a lazy leaf. NumPy arrays are captured by reference, never copied.

    CUDA arrays (``__cuda_array_interface__`` or ``__dlpack__``: CuPy, PyTorch, Numba,
    lazyarr's own ``DeviceArray``) are captured by reference too; ``device="cuda"`` copies
    host data to the GPU once.
    """
    if isinstance(obj, LazyArray):
        if device is not None:
            raise ValueError("asarray(lazy, device=...): use .eval(target=...) to move results")
        return obj if dtype is None else obj.astype(dtype)
    if device is not None or not isinstance(obj, np.ndarray):
        from lazyarr.run.device import leaf_array  # GPU support, loaded only when it can matter

        found = leaf_array(obj, dtype, device)
        if found is not None:
            lazy = LazyArray(build.leaf(found))
            # device memory is native: ">f8" asks for float64 values, as for a host leaf
            return lazy if dtype is None else lazy.astype(dtypes.native(np.dtype(dtype)))
    arr = np.asarray(obj) if dtype is None else np.asarray(obj, dtype=dtype)
    return LazyArray(build.leaf(arr))


def array(obj: Any, dtype: Any = None, copy: bool = True) -> LazyArray:
    """Like :func:`asarray`, but copies NumPy input unless ``copy=False``."""
    if isinstance(obj, LazyArray):
        return asarray(obj.eval(), dtype) if copy else asarray(obj, dtype)
    arr = np.array(obj, dtype=dtype, copy=copy)
    return LazyArray(build.leaf(arr))


def _ufunc_function(op: Op):
    spec = SPECS[op]

    def fn(*args: Any) -> LazyArray:
        if len(args) == 1 and type(args[0]) is LazyArray and spec.nin == 1:
            key = (op, args[0]._node)
            found = lazy.wrapper_get(key)
            return found if found is not None else \
                lazy.operation(key, lambda: build.apply(op, *args))
        if len(args) != spec.nin:
            raise TypeError(f"{spec.name}() takes {spec.nin} arguments ({len(args)} given)")
        return LazyArray(build.apply(op, *args))

    fn.__name__ = fn.__qualname__ = spec.name
    fn.__doc__ = f"Lazy ``numpy.{spec.ufunc.__name__}``: same types, broadcasting and values."
    return fn


def where(condition: Any, x: Any, y: Any) -> LazyArray:
    """Lazy ``numpy.where(condition, x, y)`` (the three-argument form)."""
    key = (Op.WHERE, *[build.key_part(v) for v in (condition, x, y)])
    if None in key:
        return LazyArray(build.where(condition, x, y))
    hit = lazy.wrapper_get(key)
    return hit if hit is not None else lazy.operation(key, lambda: build.where(condition, x, y))


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> LazyArray:
    """Lazy ``numpy.clip``: NaN propagates; with ``a_min > a_max`` the result is ``a_max``.

    As in NumPy, a Python int bound at or beyond an integer array's range is dropped (it
    cannot clip anything) instead of raising OverflowError.
    """
    x = asarray(a)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        if type(a_min) is int and a_min <= info.min:
            a_min = None
        if type(a_max) is int and a_max >= info.max:
            a_max = None
    if a_min is None and a_max is None:
        return LazyArray(build.apply(Op.POSITIVE, x))
    if a_min is None:
        return LazyArray(build.apply(Op.MINIMUM, x, a_max))
    if a_max is None:
        return LazyArray(build.apply(Op.MAXIMUM, x, a_min))
    return LazyArray(build.apply(Op.CLIP, x, a_min, a_max))


def astype(x: Any, dtype: Any) -> LazyArray:
    return asarray(x).astype(dtype)


def transpose(x: Any, axes: Any = None) -> LazyArray:
    return LazyArray(views.permute_dims(_n(x), None if axes is None else tuple(axes)))


permute_dims = transpose


def _n(x: Any) -> Node:
    return asarray(x)._node


def _lazy(fn):
    """A NumPy-named function of one array returning a lazy array (method-style wrappers)."""

    method = getattr(LazyArray, fn)

    def wrapper(x: Any, *args: Any, **kwargs: Any) -> Any:
        return method(x if type(x) is LazyArray else asarray(x), *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = fn
    wrapper.__doc__ = f"Lazy ``numpy.{fn}``."
    return wrapper


METHOD_FUNCTIONS = {name: _lazy(name) for name in (
    "sum", "prod", "min", "max", "mean", "var", "std", "argmin", "argmax", "any", "all",
    "reshape", "ravel", "squeeze", "swapaxes",
)}
METHOD_FUNCTIONS.update(amin=METHOD_FUNCTIONS["min"], amax=METHOD_FUNCTIONS["max"])


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> LazyArray:
    """``log(sum(exp(x), axis))`` computed stably (SciPy's ``logsumexp`` without weights)."""
    return LazyArray(reductions.logsumexp(_n(x), axis, keepdims))


def expand_dims(x: Any, axis: Any) -> LazyArray:
    return LazyArray(views.expand_dims(_n(x), axis))


def moveaxis(x: Any, source: Any, destination: Any) -> LazyArray:
    return LazyArray(views.moveaxis(_n(x), source, destination))


def flip(x: Any, axis: Any = None) -> LazyArray:
    return LazyArray(views.flip(_n(x), axis))


def broadcast_to(x: Any, shape: Any) -> LazyArray:
    return LazyArray(views.broadcast_to(_n(x), shape))


def matrix_transpose(x: Any) -> LazyArray:
    return LazyArray(views.matrix_transpose(_n(x)))


def matmul(a: Any, b: Any) -> LazyArray:
    return LazyArray(opaque.matmul(_n(a), _n(b)))


def dot(a: Any, b: Any) -> LazyArray:
    return LazyArray(opaque.dot(_n(a), _n(b)))


def concatenate(arrays: Any, axis: int | None = 0) -> LazyArray:
    return LazyArray(opaque.concatenate([_n(a) for a in arrays], axis))


def stack(arrays: Any, axis: int = 0) -> LazyArray:
    return LazyArray(opaque.stack([_n(a) for a in arrays], axis))


UFUNC_FUNCTIONS = {spec.name: _ufunc_function(op) for op, spec in SPECS.items()
                   if op is not Op.CLIP}
UFUNC_FUNCTIONS.update({
    "abs": UFUNC_FUNCTIONS["absolute"], "divide": UFUNC_FUNCTIONS["true_divide"],
    "mod": UFUNC_FUNCTIONS["remainder"], "pow": UFUNC_FUNCTIONS["power"],
})

_ARRAY_FUNCTIONS.update({
    np.where: where, np.clip: clip, np.transpose: transpose, np.permute_dims: transpose,
    np.expand_dims: expand_dims, np.moveaxis: moveaxis, np.flip: flip,
    np.broadcast_to: broadcast_to, np.matrix_transpose: matrix_transpose, np.dot: dot,
    np.concatenate: concatenate, np.stack: stack,
})
_ARRAY_FUNCTIONS.update({getattr(np, name): fn for name, fn in METHOD_FUNCTIONS.items()})


def supported_dtypes() -> list[np.dtype]:
    return sorted(dtypes.SUPPORTED, key=lambda d: (d.kind, d.itemsize))
