"""NumPy-named functions that build lazy expressions."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import build, dtypes
from .array import _ARRAY_FUNCTIONS, LazyArray
from .graph import Op
from .ops import SPECS


def asarray(obj: Any, dtype: Any = None) -> LazyArray:
    """Wrap ``obj`` as a lazy leaf. NumPy arrays are captured by reference, never copied."""
    if isinstance(obj, LazyArray):
        return obj if dtype is None else obj.astype(dtype)
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
        if len(args) != spec.nin:
            raise TypeError(f"{spec.name}() takes {spec.nin} arguments ({len(args)} given)")
        return LazyArray(build.apply(op, *args))

    fn.__name__ = fn.__qualname__ = spec.name
    fn.__doc__ = f"Lazy ``numpy.{spec.ufunc.__name__}``: same types, broadcasting and values."
    return fn


def where(condition: Any, x: Any, y: Any) -> LazyArray:
    """Lazy ``numpy.where(condition, x, y)`` (the three-argument form)."""
    return LazyArray(build.where(condition, x, y))


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> LazyArray:
    """Lazy ``numpy.clip``: NaN propagates; with ``a_min > a_max`` the result is ``a_max``."""
    if a_min is None and a_max is None:
        return asarray(a)
    if a_min is None:
        return LazyArray(build.apply(Op.MINIMUM, a, a_max))
    if a_max is None:
        return LazyArray(build.apply(Op.MAXIMUM, a, a_min))
    return LazyArray(build.apply(Op.CLIP, a, a_min, a_max))


def astype(x: Any, dtype: Any) -> LazyArray:
    return asarray(x).astype(dtype)


def transpose(x: Any, axes: Any = None) -> LazyArray:
    x = asarray(x)
    return x.T if axes is None else x.transpose(tuple(axes))


UFUNC_FUNCTIONS = {spec.name: _ufunc_function(op) for op, spec in SPECS.items()
                   if op is not Op.CLIP}
UFUNC_FUNCTIONS.update({
    "abs": UFUNC_FUNCTIONS["absolute"], "divide": UFUNC_FUNCTIONS["true_divide"],
    "mod": UFUNC_FUNCTIONS["remainder"], "pow": UFUNC_FUNCTIONS["power"],
})

_ARRAY_FUNCTIONS.update({np.where: where, np.clip: clip, np.transpose: transpose})


def supported_dtypes() -> list[np.dtype]:
    return sorted(dtypes.SUPPORTED, key=lambda d: (d.kind, d.itemsize))
