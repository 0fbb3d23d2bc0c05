"""The array API standard's ``fft`` extension (2024.12), as lazy arrays.

* ``fftfreq`` and ``rfftfreq`` are computed from each element's index inside the kernel
  (nothing is read), so ``la.fft.fftfreq(n) * 2 * pi`` is one kernel that writes ``n``
  values. Their values are ``numpy.fft``'s (integer frequencies times ``1 / (n * d)`` in
  float64), then cast to ``dtype``.
* ``fftshift`` and ``ifftshift`` are ``roll`` by half of each axis: two slices (views)
  joined by a concatenation per axis that moves, as ``numpy.roll`` does.
* The ten transforms (``fft ifft fftn ifftn rfft irfft rfftn irfftn hfft ihfft``) take or
  return complex arrays, and lazyarr has no complex dtype yet: calling one raises a
  ``TypeError`` saying so, whatever its input. Each is already written as a host call of
  its ``numpy.fft`` function (``_NUMPY``, pocketfft on the evaluated input, with the result's
  shape and dtype worked out when the expression is written), which runs as soon as
  ``complex64``/``complex128`` are among lazyarr's dtypes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from lazyarr.front.array import LazyArray
from lazyarr.front.functions import asarray, where
from lazyarr.front.hostcall import host_value
from lazyarr.front.standard import roll
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Op, make

__all__ = [
    "fft", "fftfreq", "fftn", "fftshift", "hfft", "ifft", "ifftn", "ifftshift", "ihfft",
    "irfft", "irfftn", "rfft", "rfftfreq", "rfftn",
]

# the transforms' NumPy functions, each called with the standard's keywords
_NUMPY: dict[str, Callable[..., np.ndarray]] = {
    name: getattr(np.fft, name)
    for name in ("fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft",
                 "ihfft")
}
_REAL_INPUT = frozenset({"rfft", "rfftn", "ihfft"})  # the standard: a real float input
_REAL_OUTPUT = frozenset({"irfft", "irfftn", "hfft"})  # complex in, real out, n = 2 * (m - 1)
_HALF = frozenset({"rfft", "rfftn", "ihfft"})  # the (last) axis keeps n // 2 + 1 values
_NORMS = ("backward", "ortho", "forward")
_F32, _F64, _U64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.uint64)


# -- the transforms ----------------------------------------------------------------------------
def _result_dtype(name: str, dtype: np.dtype) -> np.dtype:
    """The dtype of transform ``name`` of a ``dtype`` input (NumPy 2's: float32 and complex64
    stay single precision)."""
    if name in _REAL_INPUT and dtype.kind == "c":
        raise TypeError(f"fft.{name}: the input must be real-valued floating-point, not "
                        f"{dtype}")
    if name in _REAL_OUTPUT:
        result = np.result_type(np.empty(0, dtype).real.dtype, 1.0)
    else:
        result = np.result_type(dtype, 1j)
    return dtypes.check_front(result, f"fft.{name}")


def _check_norm(norm: str) -> None:
    if norm not in _NORMS:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or '
                         '"forward".')


def _points(n: Any) -> int:
    n = operator.index(n)
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return n


def _shape_1d(name: str, shape: tuple[int, ...], n: int | None, axis: int
              ) -> tuple[tuple[int, ...], int, int]:
    """Result shape, transform length and axis of a one-axis transform (NumPy's rules)."""
    axis = normalize_axis_index(axis, len(shape))
    m = shape[axis]
    n = _points((2 * (m - 1) if name in _REAL_OUTPUT else m) if n is None else n)
    size = n // 2 + 1 if name in _HALF else n
    return (*shape[:axis], size, *shape[axis + 1:]), n, axis


def _shape_nd(name: str, shape: tuple[int, ...], s: Sequence[int] | None,
              axes: Sequence[int] | None
              ) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """Result shape, lengths and axes of an n-axis transform (NumPy's ``_cook_nd_args``)."""
    if axes is None:
        axes = range(len(shape)) if s is None else range(-len(s), 0)
    axes = tuple(normalize_axis_index(a, len(shape)) for a in axes)
    if s is None:
        sizes = [shape[a] for a in axes]
        if name in _REAL_OUTPUT and axes:
            sizes[-1] = 2 * (shape[axes[-1]] - 1)
    else:
        if len(s) != len(axes):
            raise ValueError("Shape and axes have different lengths.")
        sizes = [shape[a] if k == -1 else k for k, a in zip(s, axes, strict=True)]
    sizes = [_points(k) for k in sizes]
    out = list(shape)
    for k, a in reversed(list(zip(sizes, axes, strict=True))):
        out[a] = k
    if name in _HALF and axes:
        out[axes[-1]] = sizes[-1] // 2 + 1
    return tuple(out), tuple(sizes), axes


def _run_1d(x: np.ndarray, name: str, n: int, axis: int, norm: str) -> np.ndarray:
    return _NUMPY[name](x, n=n, axis=axis, norm=norm)


def _run_nd(x: np.ndarray, name: str, s: tuple[int, ...], axes: tuple[int, ...],
            norm: str) -> np.ndarray:
    return _NUMPY[name](x, s=s, axes=axes, norm=norm)


def _one_axis(name: str, x: Any, n: int | None, axis: int, norm: str) -> LazyArray:
    a = asarray(x)
    dt = _result_dtype(name, a.dtype)
    _check_norm(norm)
    shape, n, axis = _shape_1d(name, a.shape, n, axis)
    return LazyArray(host_value(f"fft.{name}", _run_1d, [a._node], (shape, dt),
                                (name, n, axis, norm)))


def _n_axes(name: str, x: Any, s: Sequence[int] | None, axes: Sequence[int] | None,
            norm: str) -> LazyArray:
    a = asarray(x)
    dt = _result_dtype(name, a.dtype)
    _check_norm(norm)
    shape, sizes, axes = _shape_nd(name, a.shape, s, axes)
    return LazyArray(host_value(f"fft.{name}", _run_nd, [a._node], (shape, dt),
                                (name, sizes, axes, norm)))


def fft(x: Any, /, *, n: int | None = None, axis: int = -1,
        norm: str = "backward") -> LazyArray:
    """One-dimensional discrete Fourier transform (``numpy.fft.fft``). Needs complex dtypes:
    a TypeError until lazyarr has them."""
    return _one_axis("fft", x, n, axis, norm)


def ifft(x: Any, /, *, n: int | None = None, axis: int = -1,
         norm: str = "backward") -> LazyArray:
    """Inverse of :func:`fft` (``numpy.fft.ifft``). Needs complex dtypes (a TypeError)."""
    return _one_axis("ifft", x, n, axis, norm)


def fftn(x: Any, /, *, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
         norm: str = "backward") -> LazyArray:
    """N-dimensional discrete Fourier transform (``numpy.fft.fftn``). Needs complex dtypes
    (a TypeError)."""
    return _n_axes("fftn", x, s, axes, norm)


def ifftn(x: Any, /, *, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str = "backward") -> LazyArray:
    """Inverse of :func:`fftn` (``numpy.fft.ifftn``). Needs complex dtypes (a TypeError)."""
    return _n_axes("ifftn", x, s, axes, norm)


def rfft(x: Any, /, *, n: int | None = None, axis: int = -1,
         norm: str = "backward") -> LazyArray:
    """Transform of a real input, the ``n // 2 + 1`` non-negative frequencies
    (``numpy.fft.rfft``). Its result is complex: a TypeError until lazyarr has complex
    dtypes."""
    return _one_axis("rfft", x, n, axis, norm)


def irfft(x: Any, /, *, n: int | None = None, axis: int = -1,
          norm: str = "backward") -> LazyArray:
    """Inverse of :func:`rfft`, real ``n`` values from complex input (``numpy.fft.irfft``).
    Its input is complex: a TypeError until lazyarr has complex dtypes."""
    return _one_axis("irfft", x, n, axis, norm)


def rfftn(x: Any, /, *, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
          norm: str = "backward") -> LazyArray:
    """N-dimensional :func:`rfft` (``numpy.fft.rfftn``). Needs complex dtypes (a
    TypeError)."""
    return _n_axes("rfftn", x, s, axes, norm)


def irfftn(x: Any, /, *, s: Sequence[int] | None = None, axes: Sequence[int] | None = None,
           norm: str = "backward") -> LazyArray:
    """Inverse of :func:`rfftn` (``numpy.fft.irfftn``). Needs complex dtypes (a
    TypeError)."""
    return _n_axes("irfftn", x, s, axes, norm)


def hfft(x: Any, /, *, n: int | None = None, axis: int = -1,
         norm: str = "backward") -> LazyArray:
    """Transform of a Hermitian-symmetric signal, real output (``numpy.fft.hfft``). Its
    input is complex: a TypeError until lazyarr has complex dtypes."""
    return _one_axis("hfft", x, n, axis, norm)


def ihfft(x: Any, /, *, n: int | None = None, axis: int = -1,
          norm: str = "backward") -> LazyArray:
    """Inverse of :func:`hfft` (``numpy.fft.ihfft``). Its result is complex: a TypeError
    until lazyarr has complex dtypes."""
    return _one_axis("ihfft", x, n, axis, norm)


# -- sample frequencies ----------------------------------------------------------------------
def _freq_dtype(name: str, dtype: Any) -> np.dtype:
    if dtype is None:
        return _F64  # the default real floating-point dtype
    dt = np.dtype(dtype)
    if dt in (_F32, _F64):
        return dt
    if dt.kind in "fc":
        dtypes.check(dt, name)  # lazyarr's TypeError for float16 and complex
    raise TypeError(f"{name}: dtype must be a real floating-point dtype, not {dt}")


def _check_device(name: str, device: Any) -> None:
    if device not in (None, "cpu"):
        raise ValueError(f"{name}: device must be None or 'cpu', not {device!r}")


def _frequencies(name: str, n: Any, d: Any, dtype: Any, device: Any) -> LazyArray:
    """NumPy's integer frequencies times ``1 / (n * d)``, from a counter of the indices."""
    if not isinstance(n, int | np.integer):
        raise ValueError("n should be an integer")  # NumPy's words and type
    dt = _freq_dtype(name, dtype)
    _check_device(name, device)
    n = int(n)
    val = 1.0 / (n * d)  # first, as NumPy: n = 0 is a ZeroDivisionError
    full = name == "fftfreq"
    size = n if full else max(n // 2 + 1, 0)
    if size < 0:
        raise ValueError("negative dimensions are not allowed")
    k = LazyArray(make(Op.COUNTER, _U64, (size,))).astype(np.int64)
    if full:  # the second half counts up from -(n // 2)
        k = where(k < (n - 1) // 2 + 1, k, k - n)
    result = k * val
    return result if result.dtype == dt else result.astype(dt)


def fftfreq(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None
            ) -> LazyArray:
    """Sample frequencies of an ``n``-point transform, ``[0, 1, ..., -(n // 2), ..., -1] /
    (d * n)`` (``numpy.fft.fftfreq``), in ``dtype`` (float64 by default)."""
    return _frequencies("fftfreq", n, d, dtype, device)


def rfftfreq(n: int, /, *, d: float = 1.0, dtype: Any = None, device: Any = None
             ) -> LazyArray:
    """Sample frequencies of :func:`rfft`, ``[0, 1, ..., n // 2] / (d * n)``
    (``numpy.fft.rfftfreq``), in ``dtype`` (float64 by default)."""
    return _frequencies("rfftfreq", n, d, dtype, device)


# -- shifts ------------------------------------------------------------------------------------
def _shift(x: Any, axes: Any, sign: int) -> LazyArray:
    """``roll`` of each axis in ``axes`` by half its length (times ``sign``): NumPy's."""
    a = asarray(x)
    if axes is None:
        axes = tuple(range(a.ndim))
    elif np.ndim(axes) == 0:
        axes = (operator.index(axes),)
    axes = tuple(normalize_axis_index(axis, a.ndim) for axis in axes)
    return roll(a, tuple(sign * (a.shape[d] // 2) for d in axes), axis=axes)


def fftshift(x: Any, /, *, axes: int | Sequence[int] | None = None) -> LazyArray:
    """The zero frequency moved to the middle of each axis in ``axes`` (all by default):
    ``numpy.fft.fftshift``, a roll by half of each axis."""
    return _shift(x, axes, 1)


def ifftshift(x: Any, /, *, axes: int | Sequence[int] | None = None) -> LazyArray:
    """Inverse of :func:`fftshift` (they differ for odd lengths): ``numpy.fft.ifftshift``."""
    return _shift(x, axes, -1)
