"""The fused loop of fresh_lazyarr.py's expression, as a Numba user caches it (cache=True)."""

import numpy as np
from numba import njit


@njit(cache=True)
def kernel(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    for i in range(a.size):
        out[i] = ((a[i] + b[i]) * c[i] - np.exp(a[i])) / (b[i] + 2.0) * np.sin(c[i]) + a[i] * b[i]
    return out
