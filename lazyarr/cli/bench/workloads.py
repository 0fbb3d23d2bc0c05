"""The workloads of issue 4 and the run's configuration.

One definition serves NumPy, lazyarr and JAX: ``expr(xp, *arrays)`` with ``xp`` the module.
numexpr gets strings and Numba hand-written fused loops (:mod:`.numba_kernels`); their float
constants are passed as scalars of the workload's dtype, because a Python float constant turns
a float32 numexpr expression into float64 and Numba float32 arithmetic into float64 arithmetic.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PEERS = ("numexpr", "numba", "jax", "torch")  # torch: the backward workloads only
SHORT = {"numpy": "numpy", "lazyarr:out": "la:out", "lazyarr": "la", "numexpr": "numexpr",
         "numba": "numba", "numba-par": "nb-par", "jax": "jax", "torch": "torch",
         "torch.compile": "t.comp"}
SIZES = (10**3, 10**4, 10**5, 10**6, 10**7)
QUICK_SIZES = (10**3, 10**5)
MATRIX = (4096, 1024)
QUICK_MATRIX = (256, 1024)
SCHEMA = 1

# Adam hyper-parameters, at step 10 (the bias corrections are then far from 1 and from 0).
B1, B2, LR, EPS, STEP = 0.9, 0.999, 1e-3, 1e-8, 10
BC1, BC2 = 1 - B1**STEP, 1 - B2**STEP
GELU_K = math.sqrt(2 / math.pi)


# -- configuration -----------------------------------------------------------------------------
@dataclass
class Config:
    sizes: list[int]
    dtypes: list[str]
    threads: list[int]
    peers: list[str]
    workloads: list[str]
    matrix: tuple[int, int]
    triad_size: int
    repeat: int
    min_sample_s: float  # each timing sample repeats the call until it lasts this long
    compile_trials: int
    process_repeat: int  # fresh-process measurements per case (median)
    quick: bool


# -- workloads ---------------------------------------------------------------------------------
def _axpby(xp: Any, a: Any, b: Any) -> Any:
    return 2 * a + 3 * b


def _abcd(xp: Any, a: Any, b: Any, c: Any, d: Any) -> Any:
    return a * b + c * d


def _hypot(xp: Any, a: Any, b: Any) -> Any:
    return xp.sqrt(a**2 + b**2)


def _where(xp: Any, a: Any, b: Any, c: Any) -> Any:
    return xp.where(a > 0.5, a * b, b - c)


def _adam(xp: Any, p: Any, m: Any, v: Any, g: Any) -> tuple[Any, Any, Any]:
    m2 = B1 * m + (1 - B1) * g
    v2 = B2 * v + (1 - B2) * g * g
    return p - LR * (m2 / BC1) / (xp.sqrt(v2 / BC2) + EPS), m2, v2


def _adam_numpy(p: Any, m: Any, v: Any, g: Any) -> tuple[Any, Any, Any]:
    """Adam as NumPy code updates its state: in place, operator by operator."""
    m *= B1
    m += (1 - B1) * g
    v *= B2
    v += (1 - B2) * g * g
    p -= LR * (m / BC1) / (np.sqrt(v / BC2) + EPS)
    return p, m, v


def _dot(xp: Any, a: Any, b: Any) -> Any:
    return xp.sum(a * b)


def _sqdist(xp: Any, a: Any, b: Any) -> Any:
    return xp.sum((a - b) ** 2)


def _trig(xp: Any, a: Any, b: Any, c: Any) -> Any:
    return xp.exp(-a) * xp.sin(b) + xp.cos(c)


def _gelu(xp: Any, a: Any) -> Any:
    # a*a*a rather than a**3: NumPy sends **3 to pow(), which would flatter every peer
    return 0.5 * a * (1 + xp.tanh(GELU_K * (a + 0.044715 * (a * a * a))))


def _softmax(xp: Any, x: Any) -> Any:
    e = xp.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _layernorm(xp: Any, x: Any, g: Any, b: Any) -> Any:
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / xp.sqrt(var + 1e-5) * g + b


def _relu_matmul(xp: Any, x: Any, w: Any, bias: Any) -> Any:
    return xp.maximum(x @ w + bias, 0)


@dataclass(frozen=True)
class Workload:
    key: str  # short name for --workloads
    name: str
    inputs: tuple[str, ...]  # argument order of expr, numexpr names, Numba kernel arguments
    expr: Callable[..., Any]
    numexpr: tuple[tuple[str | None, str], ...] | None  # (array updated in place or None, text)
    numba: str | None  # kernel function in this module
    consts: tuple[tuple[str, float], ...] = ()  # numexpr names / trailing Numba arguments
    memory_bound: bool = False
    matrix: bool = False  # shaped by --matrix instead of --sizes
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # default [0, 1)
    inplace: tuple[str, ...] = ()  # state arrays the workload updates
    numpy: Callable[..., Any] | None = None  # NumPy form when it differs from expr


WORKLOADS = (
    Workload("axpby", "2*a+3*b", ("a", "b"), _axpby, ((None, "k2*a + k3*b"),), "nb_axpby",
             (("k2", 2.0), ("k3", 3.0)), memory_bound=True),
    Workload("abcd", "a*b+c*d", ("a", "b", "c", "d"), _abcd, ((None, "a*b + c*d"),), "nb_abcd",
             memory_bound=True),
    Workload("hypot", "sqrt(a**2+b**2)", ("a", "b"), _hypot, ((None, "sqrt(a**2 + b**2)"),),
             "nb_hypot", memory_bound=True),
    Workload("where", "where(a>0.5,a*b,b-c)", ("a", "b", "c"), _where,
             ((None, "where(a > half, a*b, b - c)"),), "nb_where", (("half", 0.5),),
             memory_bound=True),
    Workload("adam", "adam (p,m,v in place)", ("p", "m", "v", "g"), _adam,
             (("m", "b1*m + omb1*g"), ("v", "b2*v + omb2*g*g"),
              ("p", "p - lr*(m/bc1)/(sqrt(v/bc2) + eps)")), "nb_adam",
             (("b1", B1), ("omb1", 1 - B1), ("b2", B2), ("omb2", 1 - B2), ("lr", LR),
              ("bc1", BC1), ("bc2", BC2), ("eps", EPS)),
             memory_bound=True, ranges={"g": (-0.5, 0.5), "m": (0.0, 0.1), "v": (0.0, 0.01)},
             inplace=("p", "m", "v"), numpy=_adam_numpy),
    Workload("dot", "sum(a*b)", ("a", "b"), _dot, ((None, "sum(a*b)"),), "nb_dot",
             memory_bound=True),
    Workload("sqdist", "sum((a-b)**2)", ("a", "b"), _sqdist, ((None, "sum((a - b)**2)"),),
             "nb_sqdist", memory_bound=True),
    Workload("trig", "exp(-a)*sin(b)+cos(c)", ("a", "b", "c"), _trig,
             ((None, "exp(-a)*sin(b) + cos(c)"),), "nb_trig",
             ranges={k: (-4.0, 4.0) for k in "abc"}),
    Workload("gelu", "gelu (tanh)", ("a",), _gelu,
             ((None, "h*a*(one + tanh(k*(a + q*(a*a*a))))"),), "nb_gelu",
             (("h", 0.5), ("one", 1.0), ("k", GELU_K), ("q", 0.044715)),
             ranges={"a": (-4.0, 4.0)}),
    Workload("softmax", "softmax rows", ("x",), _softmax, None, "nb_softmax", matrix=True,
             ranges={"x": (-4.0, 4.0)}),
    Workload("layernorm", "layernorm rows", ("x", "g", "b"), _layernorm, None, "nb_layernorm",
             (("eps", 1e-5),), matrix=True),
    Workload("relu_matmul", "relu(x@W+b)", ("x", "W", "b"), _relu_matmul, None,
             "nb_relu_matmul", matrix=True, ranges={"x": (-1.0, 1.0), "W": (-1.0, 1.0)}),
)
BY_KEY = {w.key: w for w in WORKLOADS}


def make_inputs(w: Workload, size: int, matrix: tuple[int, int], dtype: str,
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    rows, cols = matrix
    shapes = {"x": (rows, cols), "W": (cols, cols)}
    arrays = {}
    for name in w.inputs:
        shape = (shapes.get(name, (cols,)) if w.matrix else (size,))
        lo, hi = w.ranges.get(name, (0.0, 1.0))
        arrays[name] = (lo + (hi - lo) * rng.random(shape)).astype(dtype)
    if w.key == "layernorm":
        arrays["b"] -= 0.5
    return arrays


def as_tuple(result: Any) -> tuple[Any, ...]:
    return result if isinstance(result, tuple) else (result,)


def state_copy(w: Workload, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The arrays an implementation works on: its own copy of any state it updates."""
    return {k: (v.copy() if k in w.inplace else v) for k, v in arrays.items()}


def typed_consts(w: Workload, dtype: str) -> dict[str, Any]:
    return {name: np.dtype(dtype).type(value) for name, value in w.consts}
