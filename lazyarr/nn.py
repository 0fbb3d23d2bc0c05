"""Layer functions as lazy expressions that fuse with what surrounds them.

``dropout`` draws its mask inside the kernel that reads ``x`` (``lazyarr.random``): no mask
array is made, and its gradient draws the same mask again from the key instead of storing it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lazyarr.front.array import LazyArray
from lazyarr.front.functions import asarray, where
from lazyarr.random import Key, bernoulli


def dropout(x: Any, p: float = 0.5, key: Key | None = None, training: bool = True
            ) -> LazyArray:
    """Zero each element of ``x`` with probability ``p`` and scale the rest by
    ``1 / (1 - p)`` (PyTorch's ``dropout``: the expected value is ``x``). ``key`` chooses the
    mask: the same key gives the same mask. Without ``training``, or with ``p == 0``, ``x``
    itself. As in PyTorch, a NaN or infinity in a dropped element stays NaN (``x * 0``)."""
    x = asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"dropout() takes a float array, not {x.dtype}")
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) \
            or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0:
        return x
    if not isinstance(key, Key):
        raise TypeError("dropout() in training needs a key from lazyarr.random.key(seed)")
    scale = x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
    keep = bernoulli(key, 1.0 - float(p), x.shape)
    return x * where(keep, scale, x.dtype.type(0.0))


__all__ = ["dropout"]
