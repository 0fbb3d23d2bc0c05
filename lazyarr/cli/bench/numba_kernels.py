"""The fused loops a Numba user writes, as ordinary functions that Numba jits in the worker.

Numba is optional and never imported here: the worker passes the module in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .workloads import WORKLOADS

# -- the workloads' kernels --------------------------------------------------------------------
# ``prange`` is ``range`` until numba_kernels() rebinds it: Numba reads globals when it
# compiles, so the same source gives the serial (njit) and parallel (parallel=True) kernels.
prange = range


def nb_axpby(a: Any, b: Any, k2: Any, k3: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = k2 * a[i] + k3 * b[i]
    return out


def nb_abcd(a: Any, b: Any, c: Any, d: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = a[i] * b[i] + c[i] * d[i]
    return out


def nb_hypot(a: Any, b: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = np.sqrt(a[i] * a[i] + b[i] * b[i])
    return out


def nb_where(a: Any, b: Any, c: Any, half: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = a[i] * b[i] if a[i] > half else b[i] - c[i]
    return out


def nb_adam(p: Any, m: Any, v: Any, g: Any, b1: Any, omb1: Any, b2: Any, omb2: Any, lr: Any,
            bc1: Any, bc2: Any, eps: Any) -> None:
    for i in prange(p.size):
        mi = b1 * m[i] + omb1 * g[i]
        vi = b2 * v[i] + omb2 * g[i] * g[i]
        m[i] = mi
        v[i] = vi
        p[i] -= lr * (mi / bc1) / (np.sqrt(vi / bc2) + eps)


def nb_dot(a: Any, b: Any) -> Any:
    acc = 0.0
    for i in prange(a.size):
        acc += a[i] * b[i]
    return acc


def nb_sqdist(a: Any, b: Any) -> Any:
    acc = 0.0
    for i in prange(a.size):
        d = a[i] - b[i]
        acc += d * d
    return acc


def nb_trig(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = np.exp(-a[i]) * np.sin(b[i]) + np.cos(c[i])
    return out


def nb_gelu(a: Any, h: Any, one: Any, k: Any, q: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        x = a[i]
        out[i] = h * x * (one + np.tanh(k * (x + q * (x * x * x))))
    return out


def nb_softmax(x: Any) -> Any:
    out = np.empty_like(x)
    for i in prange(x.shape[0]):
        top = x[i, 0]
        for j in range(1, x.shape[1]):
            top = max(top, x[i, j])
        total = 0.0
        for j in range(x.shape[1]):
            e = np.exp(x[i, j] - top)
            out[i, j] = e
            total += e
        scale = 1.0 / total
        for j in range(x.shape[1]):
            out[i, j] *= scale
    return out


def nb_layernorm(x: Any, g: Any, b: Any, eps: Any) -> Any:
    out = np.empty_like(x)
    n = x.shape[1]
    for i in prange(x.shape[0]):
        total = 0.0
        for j in range(n):
            total += x[i, j]
        mean = total / n
        sq = 0.0
        for j in range(n):
            d = x[i, j] - mean
            sq += d * d
        scale = 1.0 / np.sqrt(sq / n + eps)
        for j in range(n):
            out[i, j] = (x[i, j] - mean) * scale * g[j] + b[j]
    return out


def nb_relu_matmul(x: Any, w: Any, bias: Any) -> Any:
    y = x @ w
    for i in prange(y.shape[0]):
        for j in range(y.shape[1]):
            t = y[i, j] + bias[j]
            y[i, j] = t if t > 0 else 0
    return y


def nb_triad(a: Any, b: Any, c: Any, s: float) -> None:
    for i in prange(a.size):
        a[i] = b[i] + s * c[i]


def nb_abc(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in prange(a.size):
        out[i] = a[i] + b[i] * c[i]
    return out


_NUMBA_NAMES = [w.numba for w in WORKLOADS if w.numba] + ["nb_triad", "nb_abc"]


def numba_kernels(numba: Any, parallel: bool) -> dict[str, Any]:
    """The kernels above, jitted (compiled on first call, for the argument types of that call)."""
    globals()["prange"] = numba.prange
    return {name: numba.njit(parallel=parallel)(globals()[name]) for name in _NUMBA_NAMES}


# -- the compile-latency expressions -----------------------------------------------------------
# latency.ten_ops(seed) for seed 0, 1, ..., written out as a Numba user would write each: a new
# structure per trial, so each first call is a real compile. tests/test_bench.py checks that
# TEN_OP_KERNELS[seed] computes ten_ops(seed).
def ten_op_0(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = np.tanh(x)
        x = np.sin(x)
        x = x - b[i]
        x = x - a[i]
        x = x * c[i]
        x = x - b[i]
        x = x + c[i]
        x = x + c[i]
        x = np.tanh(x)
        x = x / c[i]
        out[i] = x
    return out


def ten_op_1(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = x - a[i]
        x = np.abs(x)
        x = np.exp(x)
        x = np.abs(x)
        x = x / c[i]
        x = x + c[i]
        x = x / b[i]
        x = x - c[i]
        x = x + b[i]
        x = x + a[i]
        out[i] = x
    return out


def ten_op_2(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = x + c[i]
        x = np.sin(x)
        x = x / c[i]
        x = x / c[i]
        x = x * c[i]
        x = np.abs(x)
        x = x * a[i]
        x = np.exp(x)
        x = x * b[i]
        x = x * b[i]
        out[i] = x
    return out


def ten_op_3(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = x / b[i]
        x = x - a[i]
        x = x / c[i]
        x = x / b[i]
        x = np.sin(x)
        x = x - c[i]
        x = np.sin(x)
        x = x / c[i]
        x = np.exp(x)
        x = x + a[i]
        out[i] = x
    return out


def ten_op_4(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = np.exp(x)
        x = x / c[i]
        x = x * a[i]
        x = np.sin(x)
        x = x * b[i]
        x = np.sin(x)
        x = x + b[i]
        x = x - a[i]
        x = x * b[i]
        x = x - a[i]
        out[i] = x
    return out


def ten_op_5(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = x + a[i]
        x = x + b[i]
        x = x / a[i]
        x = x / c[i]
        x = np.exp(x)
        x = np.sin(x)
        x = x + c[i]
        x = x - b[i]
        x = x * a[i]
        x = np.abs(x)
        out[i] = x
    return out


def ten_op_6(a: Any, b: Any, c: Any) -> Any:
    out = np.empty_like(a)
    for i in range(a.size):
        x = a[i]
        x = x * b[i]
        x = np.exp(x)
        x = x * b[i]
        x = x - c[i]
        x = x / c[i]
        x = x + a[i]
        x = x * c[i]
        x = np.exp(x)
        x = x / b[i]
        x = np.exp(x)
        out[i] = x
    return out


TEN_OP_KERNELS = (ten_op_0, ten_op_1, ten_op_2, ten_op_3, ten_op_4, ten_op_5, ten_op_6)
