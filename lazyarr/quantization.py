"""Integer quantisation with PyTorch's numerics, as lazy expressions that fuse.

``quantize`` and ``dequantize`` return lazy arrays built from lazyarr's ordinary ops, so they
fuse with what computes their input and what consumes their output: ``quantize(relu(x @ W +
b), s, z)`` is the matmul plus one kernel, ``dequantize(q, s, z) * g + b`` one kernel that reads
the int8 array. Their values are ``torch.quantize_per_tensor`` / ``quantize_per_channel``'s and
``Tensor.dequantize``'s bit for bit (PyTorch 2.13 on x86-64; docs/quantization.md says what was
measured, including the rounding differences between PyTorch's own code paths).

``minmax_params`` and :class:`MinMax` calibrate: they compute the scale and zero point that
``torch.ao.quantization.MinMaxObserver`` and ``PerChannelMinMaxObserver`` compute, from one fused
min/max reduction per batch.
"""

from __future__ import annotations

import numbers
import operator
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from lazyarr.front.array import LazyArray
from lazyarr.front.build import apply
from lazyarr.front.functions import UFUNC_FUNCTIONS, asarray, expand_dims, where
from lazyarr.ir.graph import Op
from lazyarr.run.evaluate import evaluate

__all__ = ["MinMax", "dequantize", "minmax_params", "quantize"]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_INT8, _UINT8, _INT32 = np.dtype(np.int8), np.dtype(np.uint8), np.dtype(np.int32)
_RANGES = {_INT8: (-128, 127), _UINT8: (0, 255), _INT32: (-(2**31), 2**31 - 1)}
_EPS = np.finfo(np.float32).eps  # the observers' smallest scale
_rint, _fmin, _isnan = (UFUNC_FUNCTIONS[n] for n in ("rint", "fmin", "isnan"))


# -- argument checks ------------------------------------------------------------------------
def _qdtype(dtype: Any, fn: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{fn}: dtype must be int8, uint8 or int32, not {dtype!r}") from None
    if dt not in _RANGES:
        raise TypeError(f"{fn}: dtype must be int8, uint8 or int32, not {dt}")
    return dt


def _float_input(x: Any, fn: str) -> LazyArray:
    """``x`` as float32: PyTorch quantises float32 only, so wider floats round to it first."""
    a = asarray(x)
    if a.dtype.kind != "f":
        raise TypeError(f"{fn}: x must be a floating-point array, not {a.dtype}")
    return a.astype(_F32)


def _axis(axis: Any, ndim: int) -> int:
    return normalize_axis_index(operator.index(axis), ndim)


def _check_scales(values: np.ndarray, fn: str) -> None:
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError(f"{fn}: scale must be finite and > 0, got {_shown(values)}")
    # PyTorch multiplies by 1.0f / float(scale): both must exist in float32
    with np.errstate(over="ignore", divide="ignore"):
        single = values.astype(_F32)
        inverse = np.float32(1) / single
    if not (np.all(np.isfinite(single)) and np.all(np.isfinite(inverse))):
        raise ValueError(f"{fn}: scale {_shown(values)} has no finite float32 value and "
                         "reciprocal (float32 scales lie in about [3e-39, 3e38])")


def _check_zero_points(values: np.ndarray, dt: np.dtype, fn: str) -> None:
    lo, hi = _RANGES[dt]
    if values.size and not (values.min() >= lo and values.max() <= hi):
        raise ValueError(f"{fn}: zero_point {_shown(values)} is outside {dt}'s range "
                         f"[{lo}, {hi}]")


def _shown(values: np.ndarray) -> str:
    return str(values[()] if values.ndim == 0 else values.tolist())


def _is_number(value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, numbers.Real)


def _tensor_scale(scale: Any, fn: str) -> float:
    if not _is_number(scale):
        raise TypeError(f"{fn}: a per-tensor scale is a real number, not "
                        f"{type(scale).__name__} (per-channel scales need axis=)")
    value = float(scale)
    _check_scales(np.asarray(value), fn)
    return value


def _tensor_zero_point(zero_point: Any, dt: np.dtype, fn: str) -> int:
    integral = isinstance(zero_point, numbers.Integral) or (
        isinstance(zero_point, np.ndarray) and zero_point.dtype.kind in "iu")
    if not _is_number(zero_point) or not integral:
        raise TypeError(f"{fn}: a per-tensor zero_point is an integer, not "
                        f"{type(zero_point).__name__} (per-channel zero points need axis=)")
    value = int(zero_point)
    _check_zero_points(np.asarray(value), dt, fn)
    return value


def _channel_values(value: Any, n: int, kinds: str, what: str, fn: str) -> Any:
    """A per-channel parameter as a 1-d NumPy array or lazy array of length ``n`` (a scalar
    repeats for every channel)."""
    if isinstance(value, LazyArray):
        if value.dtype.kind not in kinds:
            raise TypeError(f"{fn}: {what} has dtype {value.dtype}")
        if value.ndim == 0:
            return value
        if value.shape != (n,):
            raise ValueError(f"{fn}: {what} has shape {value.shape}; x has {n} channels "
                             "along axis")
        return value
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{fn}: {what} is a bool")
    array = np.asarray(value)
    if array.dtype.kind not in kinds:
        raise TypeError(f"{fn}: {what} has dtype {array.dtype}")
    if array.ndim == 0:
        return np.full(n, array[()], dtype=array.dtype)
    if array.shape != (n,):
        raise ValueError(f"{fn}: {what} has shape {array.shape}; x has {n} channels along axis")
    return array


def _along(value: Any, ndim: int, axis: int) -> Any:
    """A per-channel vector shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    trailing = ndim - 1 - axis
    if not trailing or np.ndim(value) == 0:
        return value
    if isinstance(value, LazyArray):
        return expand_dims(value, tuple(range(1, 1 + trailing)))
    return value.reshape(value.shape + (1,) * trailing)


def _channel_params(scale: Any, zero_point: Any, dt: np.dtype, n: int,
                    fn: str) -> tuple[Any, Any]:
    """Checked per-channel scales (float64) and zero points (float32), NumPy or lazy."""
    s = _channel_values(scale, n, "iuf", "scale", fn)
    z = _channel_values(zero_point, n, "iu", "zero_point", fn)
    # lazy parameters are checked for shape and dtype only: their values are not known yet
    if isinstance(s, np.ndarray):
        s = s.astype(_F64)
        _check_scales(s, fn)
    else:
        s = s.astype(_F64)
    if isinstance(z, np.ndarray):
        _check_zero_points(z, dt, fn)
    return s, z.astype(_F32)  # PyTorch adds the zero point as a float


# -- quantize and dequantize ----------------------------------------------------------------
def quantize(x: Any, scale: Any, zero_point: Any, dtype: Any = np.int8,
             axis: int | None = None) -> LazyArray:
    """``x`` quantised to ``dtype`` (int8, uint8 or int32): a lazy array.

    Per tensor (``axis=None``, ``scale`` and ``zero_point`` numbers) this is
    ``torch.quantize_per_tensor(x, scale, zero_point, dtype).int_repr()``; with ``axis``,
    ``scale`` and ``zero_point`` are 1-d (NumPy or lazy arrays of length ``x.shape[axis]``,
    or numbers for every channel) and this is ``torch.quantize_per_channel(...)``'s result.
    The value is ``clamp(rint(x * (1.0f / float(scale)) + zero_point), qmin, qmax)`` computed
    in float32 with round half to even; ``x`` is rounded to float32 first. See
    docs/quantization.md for PyTorch's exact rounding of each case and for NaN.
    """
    dt = _qdtype(dtype, "quantize")
    xs = _float_input(x, "quantize")
    if axis is None:
        s = _tensor_scale(scale, "quantize")
        z = _tensor_zero_point(zero_point, dt, "quantize")
        return _quantize_tensor(xs, s, z, dt)
    ax = _axis(axis, xs.ndim)
    s, z = _channel_params(scale, zero_point, dt, xs.shape[ax], "quantize")
    inverse = _inverse(s)
    # per channel PyTorch does not fuse: a float32 product, the float zero point, rint
    t = xs * _along(inverse, xs.ndim, ax) + _along(z, xs.ndim, ax)
    return _to_int(_rint(t), dt, nan=_RANGES[dt][0] if dt == _INT32 else 0)


def _inverse(s: Any) -> Any:
    if isinstance(s, np.ndarray):
        return np.float32(1) / s.astype(_F32)
    return 1.0 / s.astype(_F32)


def _to_int(v: LazyArray, dt: np.dtype, nan: int) -> LazyArray:
    """Integral float values to ``dt``: lazyarr's cast saturates (as PyTorch's clamp does)
    and sends NaN to 0, which is PyTorch's 8-bit per-channel NaN; elsewhere NaN gives
    ``nan``."""
    q = v.astype(dt)
    return q if nan == 0 else where(_isnan(v), nan, q)


def _quantize_tensor(xs: LazyArray, scale: float, zero_point: int, dt: np.dtype) -> LazyArray:
    inverse = np.float32(1) / np.float32(scale)
    lo, hi = _RANGES[dt]
    if dt == _INT32:  # measured: a float32 product, then the zero point, then rint
        t = xs * inverse + np.float32(zero_point)
        return _to_int(_rint(t), dt, nan=lo)
    # 8 bits: PyTorch's kernel computes fma(x, inverse, zero_point) in float32, one rounding:
    # lazyarr's FMA op (the CPU's fused multiply-add instruction)
    t = LazyArray(apply(Op.FMA, xs, inverse, np.float32(zero_point)))
    # PyTorch's 8-bit per-tensor NaN is the top of the range; the cast saturates the rest
    return _fmin(_rint(t), np.float32(hi)).astype(dt)


def dequantize(q: Any, scale: Any, zero_point: Any, axis: int | None = None) -> LazyArray:
    """Float32 values of the quantised ``q`` (int8, uint8 or int32): ``(q - zero_point) *
    scale`` as ``Tensor.dequantize()`` computes it, a lazy array.

    Per tensor that is ``float32(q - zero_point) * float32(scale)`` (the difference in int32,
    which wraps for int32 as in PyTorch); per channel (``axis``) PyTorch multiplies in float64,
    ``float32(float64(float32(q) - float32(zero_point)) * scale)``.
    """
    qa = asarray(q)
    if qa.dtype not in _RANGES:
        raise TypeError(f"dequantize: q must be int8, uint8 or int32, not {qa.dtype}")
    if axis is None:
        s = _tensor_scale(scale, "dequantize")
        z = _tensor_zero_point(zero_point, qa.dtype, "dequantize")
        return (qa.astype(_INT32) - np.int32(z)).astype(_F32) * np.float32(s)
    ax = _axis(axis, qa.ndim)
    s, z = _channel_params(scale, zero_point, qa.dtype, qa.shape[ax], "dequantize")
    diff = qa.astype(_F32) - _along(z, qa.ndim, ax)
    return (diff.astype(_F64) * _along(s, qa.ndim, ax)).astype(_F32)


# -- calibration ----------------------------------------------------------------------------
def _min_max(x: Any, axis: int | None, fn: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The float32 min and max of ``x`` (per channel along ``axis``) from one fused reduction,
    or None for an empty ``x``."""
    a = asarray(x)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{fn}: x must be a real numeric array, not {a.dtype}")
    over = None
    if axis is not None:
        ax = _axis(axis, a.ndim)
        over = tuple(d for d in range(a.ndim) if d != ax)
    if a.size == 0:
        return None
    lo, hi = evaluate([a.min(axis=over)._node, a.max(axis=over)._node])
    # the observers cast x to float32 first; rounding is monotone, so the extremes agree
    return np.asarray(lo).astype(_F32), np.asarray(hi).astype(_F32)


def _params(lo: np.ndarray, hi: np.ndarray, dt: np.dtype, symmetric: bool,
            fn: str) -> tuple[Any, Any]:
    """MinMaxObserver's ``_calculate_qparams``, in float32 as PyTorch computes it."""
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
        raise ValueError(f"{fn}: the data's minimum or maximum is not finite (NaN or inf)")
    qmin, qmax = _RANGES[dt]
    zero = np.float32(0)
    min_neg = np.minimum(lo, zero)
    max_pos = np.maximum(hi, zero)
    with np.errstate(over="ignore"):
        if symmetric:
            max_pos = np.maximum(-min_neg, max_pos)
            scale = np.maximum(max_pos / np.float32((qmax - qmin) / 2), _EPS)
            zp = np.full(scale.shape, 128 if dt == _UINT8 else 0, dtype=np.int64)
        else:
            scale = np.maximum((max_pos - min_neg) / np.float32(qmax - qmin), _EPS)
            zp = np.clip(qmin - np.rint(min_neg / scale).astype(np.int64), qmin, qmax)
    if not np.all(np.isfinite(scale)):
        raise ValueError(f"{fn}: the data's range overflows float32")
    if scale.ndim == 0:
        return np.float32(scale), int(zp)
    return scale.astype(_F32), zp


def minmax_params(x: Any, dtype: Any = np.int8, symmetric: bool = False,
                  axis: int | None = None) -> tuple[Any, Any]:
    """``(scale, zero_point)`` for quantising ``x`` to ``dtype``, from its min and max.

    The values of ``torch.ao.quantization.MinMaxObserver`` (``axis=None``; a float32 scalar
    and an int) or ``PerChannelMinMaxObserver(ch_axis=axis)`` (a float32 and an int64 array)
    with ``qscheme`` per-tensor/per-channel affine, or symmetric when ``symmetric``. The min
    and max come from one fused reduction over ``x``.
    """
    dt = _qdtype(dtype, "minmax_params")
    found = _min_max(x, axis, "minmax_params")
    if found is None:
        raise ValueError("minmax_params: x is empty")
    return _params(*found, dt, bool(symmetric), "minmax_params")


class MinMax:
    """A running min/max calibrator: ``observe`` batches, then ``params()``.

    ``params()`` equals ``calculate_qparams()`` of a PyTorch ``MinMaxObserver`` (or
    ``PerChannelMinMaxObserver(ch_axis=axis)``) fed the same batches. Each ``observe`` runs
    one fused reduction over its batch, eagerly; empty batches are ignored, as PyTorch does.
    """

    def __init__(self, dtype: Any = np.int8, symmetric: bool = False,
                 axis: int | None = None) -> None:
        self.dtype = _qdtype(dtype, "MinMax")
        self.symmetric = bool(symmetric)
        self.axis = None if axis is None else operator.index(axis)
        self.min_val: np.ndarray | None = None  # float32, one per channel with an axis
        self.max_val: np.ndarray | None = None

    def observe(self, x: Any) -> None:
        found = _min_max(x, self.axis, "MinMax.observe")
        if found is None:
            return
        lo, hi = found
        if self.min_val is None:
            self.min_val, self.max_val = lo, hi
            return
        if lo.shape != self.min_val.shape:
            raise ValueError(f"MinMax.observe: x has {lo.size} channels, earlier batches "
                             f"had {self.min_val.size}")
        # np.minimum propagates NaN as torch.min does; params() then refuses
        self.min_val = np.minimum(self.min_val, lo)
        self.max_val = np.maximum(self.max_val, hi)

    def params(self) -> tuple[Any, Any]:
        if self.min_val is None or self.max_val is None:
            raise ValueError("MinMax.params: no data observed yet")
        return _params(self.min_val, self.max_val, self.dtype, self.symmetric, "MinMax.params")

    def reset(self) -> None:
        self.min_val = self.max_val = None

    def __repr__(self) -> str:
        return (f"MinMax(dtype={self.dtype}, symmetric={self.symmetric}, axis={self.axis}, "
                f"min_val={self.min_val}, max_val={self.max_val})")
