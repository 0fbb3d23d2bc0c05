"""Counter-based random numbers inside fused kernels, with explicit keys (JAX's style).

Each element of a sampler's result is a pure function of the key and the element's index in
C order: four 32-bit words of Philox4x32-10 (``lazyarr/ir/philox.py``) of the counter
``(index, 0)`` under the key, turned into the distribution by a few instructions. There is no
generator state and no array of random bits: ``x * (la.random.uniform(k, x.shape) > p)`` is one
kernel that reads ``x`` and writes the result, and its values are the same for any number of
threads, any chunking, and on the CPU and the GPU. A sampler is a lazy array like any other:
views and reshapes of it are the same view of its values.

Keys are values (:class:`Key`): the same key and shape give the same numbers, so derive a new
key for each use with :func:`split` or :func:`fold_in`. The key is a run-time argument of the
kernel: a new key never compiles anything.

The samplers' float conversions: float32 uniforms are multiples of 2**-24 in [0, 1) (the top 24
bits of one word), float64 ones multiples of 2**-53 (53 bits of two words).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from lazyarr.front.array import LazyArray, wrap
from lazyarr.front.build import scalar
from lazyarr.front.functions import UFUNC_FUNCTIONS, asarray, where
from lazyarr.ir import philox
from lazyarr.ir.graph import Node, Op, make
from lazyarr.ir.philox import Key

cos, erfc, exp, log, log1p, maximum, nextafter, sqrt = (
    UFUNC_FUNCTIONS[n] for n in ("cos", "erfc", "exp", "log", "log1p", "maximum", "nextafter",
                                 "sqrt"))
_U64 = np.dtype(np.uint64)
_U32 = np.dtype(np.uint32)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# the counter's third word: the numbers samplers draw, and the keys split and fold_in derive
_SPLIT, _FOLD = 1, 2


def key(seed: int) -> Key:
    """The key of an integer ``seed`` (any Python int: taken modulo 2**64)."""
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"key() takes an integer seed, not {type(seed).__name__}") from None
    return Key(seed % 2**64)


def key_data(k: Key) -> np.ndarray:
    """The key's two 32-bit words as a uint32 array (JAX's raw key layout)."""
    k = _key(k, "key_data")
    return np.array([k.bits & philox.MASK, k.bits >> 32], dtype=np.uint32)


def wrap_key_data(data: Any) -> Key:
    """The key whose words are ``data`` (two unsigned 32-bit integers, as key_data gives)."""
    words = np.asarray(data)
    if words.shape != (2,) or words.dtype.kind not in "iu" or \
            not ((words >= 0) & (words <= philox.MASK)).all():
        raise ValueError("wrap_key_data takes two integers in [0, 2**32)")
    return Key(int(words[0]) | int(words[1]) << 32)


def _key(k: Any, fn: str) -> Key:
    if not isinstance(k, Key):
        raise TypeError(f"{fn}() takes a key from lazyarr.random.key(seed), "
                        f"not {type(k).__name__}")
    return k


def _derive(k: Key, index: int, domain: int) -> Key:
    index %= 2**64
    w = philox.block((index & philox.MASK, index >> 32, domain, 0),
                     (k.bits & philox.MASK, k.bits >> 32))
    return Key(w[0] | w[1] << 32)


def split(k: Key, num: int = 2) -> tuple[Key, ...]:
    """``num`` new keys from ``k``, independent of it and of each other."""
    k = _key(k, "split")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"split() needs num >= 0, got {num}")
    return tuple(_derive(k, i, _SPLIT) for i in range(num))


def fold_in(k: Key, data: int) -> Key:
    """A new key from ``k`` and an integer (a step number, a layer index)."""
    return _derive(_key(k, "fold_in"), operator.index(data), _FOLD)


# -- the bits ------------------------------------------------------------------------------
def _shape(shape: Any, fn: str) -> tuple[int, ...]:
    try:
        dims = (operator.index(shape),) if np.ndim(shape) == 0 else \
            tuple(operator.index(n) for n in shape)
    except TypeError:
        raise TypeError(f"{fn}(): shape must be an integer or a tuple of integers, "
                        f"not {shape!r}") from None
    if any(n < 0 for n in dims):
        raise ValueError(f"{fn}(): negative dimensions are not allowed: {dims}")
    return dims


def _float_dtype(dtype: Any, fn: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in _FLOATS:
        raise TypeError(f"{fn}() draws float32 or float64, not {dt}")
    return dt


def _word(k: Key, shape: tuple[int, ...], word: int) -> LazyArray:
    """Word ``word`` of each element's Philox block, as a lazy uint32 array."""
    counter = make(Op.COUNTER, _U64, shape)
    key_node: Node = scalar(k.bits, _U64)
    if shape:
        key_node = make(Op.BROADCAST, _U64, shape, (key_node,))
    return wrap(make(Op.PHILOX, _U32, shape, (counter, key_node), word))


def to_unit(words: tuple[LazyArray, ...], dt: np.dtype, shift: float = 0.0) -> LazyArray:
    """Floats from uniform uint32 ``words`` (one for float32, two for float64): the top 24 or
    53 bits as an integer, plus ``shift``, times 2**-24 or 2**-53. Shift 0 gives [0, 1), 1
    gives (0, 1], 0.5 gives (0, 1); every step exact."""
    if dt == np.float32:
        whole, ulp = (words[0] >> 8).astype(dt), 2.0**-24
    else:
        high = words[0].astype(_U64) << 21
        whole, ulp = (high | (words[1] >> 11).astype(_U64)).astype(dt), 2.0**-53
    return (whole + shift) * ulp if shift else whole * ulp


def _unit(k: Key, shape: tuple[int, ...], dt: np.dtype, first: int = 0,
          shift: float = 0.0) -> LazyArray:
    """Uniform floats from words ``first`` (and ``first + 1``) of each element's block."""
    count = 1 if dt == np.float32 else 2
    return to_unit(tuple(_word(k, shape, first + j) for j in range(count)), dt, shift)


def bits(k: Key, shape: Any = (), dtype: Any = np.uint32) -> LazyArray:
    """Uniformly random unsigned integers (uint8, uint16, uint32 or uint64)."""
    k, dims = _key(k, "bits"), _shape(shape, "bits")
    dt = np.dtype(dtype)
    if dt.kind != "u":
        raise TypeError(f"bits() makes unsigned integers, not {dt}")
    if dt == _U64:
        return (_word(k, dims, 0).astype(_U64) << 32) | _word(k, dims, 1).astype(_U64)
    word = _word(k, dims, 0)
    return word if dt == _U32 else (word >> (32 - 8 * dt.itemsize)).astype(dt)


# -- samplers ------------------------------------------------------------------------------
def uniform(k: Key, shape: Any = (), dtype: Any = np.float64, minval: Any = 0.0,
            maxval: Any = 1.0) -> LazyArray:
    """Uniform floats in ``[minval, maxval)`` (bounds broadcast against ``shape``)."""
    k, dims, dt = _key(k, "uniform"), _shape(shape, "uniform"), _float_dtype(dtype, "uniform")
    u = _unit(k, dims, dt)
    if _is_number(minval) and _is_number(maxval):
        lo, hi = dt.type(minval), dt.type(maxval)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"uniform() needs finite minval < maxval, got {minval}, {maxval}")
        if (lo, hi) == (0, 1):
            return u
        # rounding can carry lo + u * (hi - lo) up to hi: the largest float below it instead
        top = np.nextafter(hi, lo)
        return (u * (hi - lo) + lo).clip(lo, top)
    lo, hi = asarray(minval, dtype=dt), asarray(maxval, dtype=dt)
    r = u * (hi - lo) + lo
    return where(r < hi, r, nextafter(hi, lo))


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float | np.integer | np.floating) and not isinstance(x, bool)


def normal(k: Key, shape: Any = (), dtype: Any = np.float64) -> LazyArray:
    """Standard normal floats (Box-Muller: ``sqrt(-2 log u1) cos(2 pi u2)``, one per element,
    so |values| stay below 5.8 in float32 and 8.6 in float64)."""

    k, dims, dt = _key(k, "normal"), _shape(shape, "normal"), _float_dtype(dtype, "normal")
    u1 = _unit(k, dims, dt, 0, shift=1.0)  # (0, 1]: its log is finite
    u2 = _unit(k, dims, dt, 2 if dt == np.float64 else 1)
    return sqrt(log(u1) * -2.0) * cos(u2 * (2 * math.pi))


def bernoulli(k: Key, p: Any = 0.5, shape: Any = None) -> LazyArray:
    """Booleans, True with probability ``p`` (a number, or an array broadcast to ``shape``)."""
    k = _key(k, "bernoulli")
    if _is_number(p):
        prob = float(p)
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f"bernoulli() needs 0 <= p <= 1, got {p}")
        dims = () if shape is None else _shape(shape, "bernoulli")
        # a word below p * 2**32: probability p to within 2**-33, no float conversion
        return _word(k, dims, 0).astype(_U64) < round(prob * 2**32)
    prob_array = asarray(p)
    dt = prob_array.dtype if prob_array.dtype in _FLOATS else np.dtype(np.float64)
    dims = prob_array.shape if shape is None else _shape(shape, "bernoulli")
    return _unit(k, dims, dt) < prob_array


def randint(k: Key, shape: Any, minval: Any, maxval: Any, dtype: Any = np.int64
            ) -> LazyArray:
    """Integers in ``[minval, maxval)``: 64 random bits modulo the range's width (a bias
    below width / 2**64)."""
    k, dims = _key(k, "randint"), _shape(shape, "randint")
    dt = np.dtype(dtype)
    if dt.kind not in "iu":
        raise TypeError(f"randint() makes integers, not {dt}")
    info = np.iinfo(dt)
    raw = bits(k, dims, np.uint64)
    if _is_number(minval) and _is_number(maxval):
        lo, hi = operator.index(minval), operator.index(maxval)
        if not info.min <= lo < hi <= info.max + 1:
            raise ValueError(f"randint() needs {info.min} <= minval < maxval <= {info.max + 1} "
                             f"for {dt}, got {minval}, {maxval}")
        width = hi - lo
        offset = raw if width == 2**64 else raw % np.uint64(width)
        # the sum wraps modulo 2**64 and its low bits are the value in dt
        return (offset + np.uint64(lo % 2**64)).astype(dt)
    lo_a, hi_a = asarray(minval, dtype=dt), asarray(maxval, dtype=dt)
    width_a = hi_a.astype(_U64) - lo_a.astype(_U64)
    # an empty range (maxval <= minval) gives minval, as x % 0 is 0
    offset_a = where(hi_a > lo_a, raw % width_a, np.uint64(0))
    return (offset_a + lo_a.astype(_U64)).astype(dt)


def exponential(k: Key, shape: Any = (), dtype: Any = np.float64) -> LazyArray:
    """Exponential floats with rate 1: ``-log1p(-u)``, u uniform on [0, 1)."""

    k = _key(k, "exponential")
    dims, dt = _shape(shape, "exponential"), _float_dtype(dtype, "exponential")
    return -log1p(-_unit(k, dims, dt))


def gumbel(k: Key, shape: Any = (), dtype: Any = np.float64) -> LazyArray:
    """Standard Gumbel floats: ``-log(-log(u))``, u uniform on (0, 1)."""

    k, dims, dt = _key(k, "gumbel"), _shape(shape, "gumbel"), _float_dtype(dtype, "gumbel")
    return -log(-log(_unit(k, dims, dt, shift=0.5)))


def truncated_normal(k: Key, lower: Any, upper: Any, shape: Any = None,
                     dtype: Any = np.float64) -> LazyArray:
    """Standard normal floats conditioned on ``lower < x < upper`` (bounds broadcast), by
    inverting the normal CDF (through ``erfc``, accurate in either tail) in float64."""
    k = _key(k, "truncated_normal")
    dt = _float_dtype(dtype, "truncated_normal")
    lo, hi = asarray(lower, dtype=np.float64), asarray(upper, dtype=np.float64)
    if shape is None:
        dims = np.broadcast_shapes(lo.shape, hi.shape)
    else:
        dims = _shape(shape, "truncated_normal")
        np.broadcast_shapes(lo.shape, hi.shape, dims)  # the bounds must fit the shape
    if _is_number(lower) and _is_number(upper) and not float(lower) < float(upper):
        raise ValueError(f"truncated_normal() needs lower < upper, got {lower}, {upper}")
    x = _truncated_standard(k, dims, lo, hi).astype(dt)
    return x.clip(nextafter(lo.astype(dt), hi.astype(dt)),
                  nextafter(hi.astype(dt), lo.astype(dt)))


def _truncated_standard(k: Key, dims: tuple[int, ...], lo: LazyArray, hi: LazyArray
                        ) -> LazyArray:

    # sample the mirror image of an interval that lies mostly below zero: erfc is accurate
    # where it is small (the upper tail), its complement is not
    flip = (lo + hi) < 0
    a, b = where(flip, -hi, lo), where(flip, -lo, hi)
    root2 = math.sqrt(2.0)
    ta, tb = erfc(a / root2), erfc(b / root2)  # ta > tb
    t = tb + _unit(k, dims, np.dtype(np.float64), shift=1.0) * (ta - tb)  # (tb, ta]
    x = _erfcinv(t) * root2
    return where(flip, -x, x)


def _erfcinv(t: LazyArray) -> LazyArray:
    """The inverse of erfc on (0, 2), to float64 accuracy: Giles' single-precision
    approximation of erfinv (M. Giles, "Approximating the erfinv function", GPU Computing
    Gems Jade Edition, 2011) as the start, then two Newton steps on erfc itself."""

    upper = t <= 1.0
    s = maximum(where(upper, t, 2.0 - t), np.finfo(np.float64).tiny)  # (0, 1], x >= 0
    w = -log(s * (2.0 - s))
    central = _horner(w - 2.5, _GILES_CENTRAL)
    tail = _horner(sqrt(w) - 3.0, _GILES_TAIL)
    x = where(w < 5.0, central, tail) * (1.0 - s)
    half_root_pi = math.sqrt(math.pi) / 2
    for _ in range(2):  # erfc(x) = s; erfc'(x) = -2/sqrt(pi) exp(-x**2)
        x = x + (erfc(x) - s) * half_root_pi * exp(x * x)
    return where(upper, x, -x)


def _horner(w: LazyArray, coefficients: tuple[float, ...]) -> LazyArray:
    p = coefficients[0] + w * 0.0
    for c in coefficients[1:]:
        p = p * w + c
    return p


# Giles (2011), single precision, highest power first: w < 5 around w = 2.5, else in sqrt(w) - 3
_GILES_CENTRAL = (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
                  0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941)
_GILES_TAIL = (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
               0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682)

__all__ = ["Key", "bernoulli", "bits", "exponential", "fold_in", "gumbel", "key", "key_data",
           "normal", "randint", "split", "truncated_normal", "uniform", "wrap_key_data"]
