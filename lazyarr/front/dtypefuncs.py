"""The array API standard's data types, constants, inspection namespace and data type functions.

The namespace's dtypes are NumPy dtype instances (``lazyarr.float32 == np.dtype("float32")``),
so they compare equal to, and hash like, the dtypes of NumPy arrays and of lazy arrays.
The complex dtypes are pairs of real values to the engine (``lazyarr.front.complexes``);
float16, which the standard does not name, is stored as half and computed in float32.

Type promotion is NumPy 2's (NEP 50: Python scalars are weak). Where NumPy departs from the
standard the standard is followed, and each function's docstring says where.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from lazyarr.front import build
from lazyarr.front.array import LazyArray
from lazyarr.front.creation import check_device, device_of, fresh, place
from lazyarr.front.functions import asarray
from lazyarr.ir import dtypes as _dtypes

# the names below shadow builtins (bool above all) in this module: functions use these
_pybool, _pyint, _pyfloat, _pycomplex = builtins.bool, builtins.int, builtins.float, complex

__array_api_version__ = "2024.12"

# -- data types ------------------------------------------------------------------------------
bool = np.dtype(np.bool_)  # the standard's name: it shadows the builtin in this module
int8 = np.dtype(np.int8)
int16 = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
uint8 = np.dtype(np.uint8)
uint16 = np.dtype(np.uint16)
uint32 = np.dtype(np.uint32)
uint64 = np.dtype(np.uint64)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
complex64 = np.dtype(np.complex64)
complex128 = np.dtype(np.complex128)

# canonical name -> dtype, in the standard's order: what lazyarr computes in
_SUPPORTED = {str(d): d for d in (bool, int8, int16, int32, int64, uint8, uint16, uint32,
                                  uint64, float32, float64, complex64, complex128)}
_COMPLEX = {"complex64": complex64, "complex128": complex128}
# every dtype the namespace names (dtype functions answer for these, arrays exist of the first)
_NAMED = frozenset(_SUPPORTED.values()) | frozenset(_COMPLEX.values())

# -- constants -------------------------------------------------------------------------------
e = math.e
pi = math.pi
inf = math.inf
nan = math.nan
newaxis = None

# the standard's kind names (isdtype, info.dtypes) and the dtype kinds (numpy char) in each
_KINDS = {
    "bool": "b", "signed integer": "i", "unsigned integer": "u", "integral": "iu",
    "real floating": "f", "complex floating": "c", "numeric": "iufc",
}


# -- the inspection namespace ----------------------------------------------------------------
class Info:
    """What ``__array_namespace_info__()`` returns: the standard's inspection functions."""

    __slots__ = ()

    def capabilities(self) -> dict[str, Any]:
        """Boolean indexing and data-dependent shapes are supported (their size is known once
        the data they depend on is evaluated); arrays have at most 64 dimensions (NumPy's
        limit, which lazyarr's arrays are views of or become)."""
        return {"boolean indexing": True, "data-dependent shapes": True, "max dimensions": 64}

    def default_device(self) -> str:
        return "cpu"

    def devices(self) -> list[str]:
        """``["cpu"]``, and ``"cuda"`` where an NVIDIA driver loads and reports a device."""
        from lazyarr.run.device import cuda_available

        return ["cpu", "cuda"] if cuda_available() else ["cpu"]

    def default_dtypes(self, *, device: Any = None) -> dict[str, np.dtype]:
        """NumPy's defaults (the same on every device)."""
        check_device(device, "default_dtypes")
        return {"real floating": float64, "complex floating": complex128,
                "integral": int64, "indexing": int64}

    def dtypes(self, *, device: Any = None, kind: Any = None) -> dict[str, np.dtype]:
        """The dtypes lazyarr computes in, by canonical name, those of ``kind`` only when
        given (a kind name or a tuple of them)."""
        check_device(device, "dtypes")
        if kind is None:
            return dict(_SUPPORTED)
        chars = _kind_chars(kind)
        return {name: d for name, d in _SUPPORTED.items() if d.kind in chars}

    def __repr__(self) -> str:
        return "lazyarr.__array_namespace_info__()"


def _kind_chars(kind: Any) -> str:
    if isinstance(kind, tuple):
        return "".join(_kind_chars(k) for k in kind)
    if not isinstance(kind, str):
        raise TypeError(f"kind must be a string or a tuple of strings, not {type(kind).__name__}")
    try:
        return _KINDS[kind]
    except KeyError:
        raise ValueError(f"unknown dtype kind {kind!r}; the standard's kinds are "
                         f"{', '.join(map(repr, _KINDS))}") from None


_INFO = Info()


def __array_namespace_info__() -> Info:  # noqa: N807 (the standard's name)
    """The standard's inspection namespace: ``capabilities()``, ``default_device()``,
    ``devices()``, ``default_dtypes()``, ``dtypes()``."""
    return _INFO


# -- data type functions ---------------------------------------------------------------------
def _named(dtype: np.dtype, what: str) -> np.dtype:
    """``dtype`` (in native byte order) if the namespace names it, else a TypeError."""
    native = _dtypes.native(dtype)
    # float16 and bfloat16 are not the standard's, but lazyarr stores them, as NumPy does
    if native not in _NAMED and not _dtypes.is_narrow(native):
        raise TypeError(f"{what}: dtype {dtype} is not a data type of lazyarr's namespace "
                        f"({', '.join(_SUPPORTED)})")
    return native


def _as_dtype(x: Any, what: str, arrays: _pybool = False) -> np.dtype:
    """A dtype argument (a dtype instance or a NumPy scalar type such as ``np.float32``), or
    with ``arrays`` the dtype of an array (lazy, NumPy, or a NumPy scalar)."""
    if isinstance(x, np.dtype):
        return _named(x, what)
    if arrays and isinstance(x, LazyArray | np.ndarray | np.generic):
        return _named(x.dtype, what)
    if isinstance(x, type) and issubclass(x, np.generic):
        return _named(np.dtype(x), what)
    wanted = "a dtype or an array" if arrays else "a dtype"
    raise TypeError(f"{what}: expected {wanted}, got {type(x).__name__}")


def astype(x: Any, dtype: Any, /, *, copy: _pybool = True, device: Any = None) -> LazyArray:
    """``x`` cast to ``dtype`` (NumPy's casts; a float to an integer saturates and NaN becomes
    0, lazyarr's defined rule where NumPy's is platform-defined), lazily.

    ``copy=False`` with ``x`` already of ``dtype`` returns ``x`` itself; otherwise the result
    is a new array object whose value, when evaluated, is new memory (never ``x``'s buffer).
    ``device`` places the result ("cpu" or "cuda": a move evaluates ``x`` there)."""
    check_device(device, "astype")
    lazy = x if isinstance(x, LazyArray) else asarray(x)
    dt = _dtypes.check_front(_dtypes.parse(dtype), "astype")
    node = lazy._node
    if node.dtype == dt:
        if not copy and (device is None or device_of(lazy) == check_device(device, "astype")):
            return lazy
        node = fresh(node)  # a new array object, evaluated into new memory
    else:
        node = build.astype(node, dt)
    return place(LazyArray(node), device)


def can_cast(from_: Any, to: Any, /) -> _pybool:
    """Whether ``from_`` (a dtype or an array) casts to ``to`` by the standard's type
    promotion rules: within a kind only (bool, integers, real and complex floats), to a type
    that holds every value. NumPy's ``can_cast`` also allows integers to floats
    (``int8 -> float32``) and bool to numbers; the standard does not, and neither does this."""
    src = _as_dtype(from_, "can_cast", arrays=True)
    dst = _as_dtype(to, "can_cast")
    joined = _promote(src, dst)
    return joined is not None and joined == dst  # (np.dtype(None) is float64: None == float64)


def _promote(a: np.dtype, b: np.dtype) -> np.dtype | None:
    """The standard's promotion of two dtypes, None where it defines none (across kinds,
    and uint64 with a signed integer)."""
    if a == b:
        return a
    groups = ("b", "iu", "fc")
    ka, kb = _kind(a), _kind(b)
    if next(g for g in groups if ka in g) != next(g for g in groups if kb in g):
        return None
    if ka == "b":
        return a
    result = np.promote_types(a, b)
    return result if _kind(result) in ka + kb else None  # uint64 and intN: float64


def _kind(dt: np.dtype) -> str:
    """NumPy's kind character, "f" for ml_dtypes' bfloat16 (whose own is "V")."""
    return "f" if _dtypes.is_bfloat16(dt) else dt.kind


@dataclass(frozen=True)
class finfo_object:  # noqa: N801 (the standard's type name)
    """Machine limits of a floating-point dtype (the standard's fields, Python floats)."""

    bits: _pyint
    eps: _pyfloat
    max: _pyfloat
    min: _pyfloat
    smallest_normal: _pyfloat
    dtype: np.dtype

    @property
    def tiny(self) -> _pyfloat:
        """NumPy's name for ``smallest_normal``."""
        return self.smallest_normal


@dataclass(frozen=True)
class iinfo_object:  # noqa: N801 (the standard's type name)
    """Limits of an integer dtype (the standard's fields, Python ints)."""

    bits: _pyint
    max: _pyint
    min: _pyint
    dtype: np.dtype


def finfo(type: Any, /) -> finfo_object:
    """Limits of a float dtype (or of an array's dtype); a complex dtype gives those of its
    components. An integer or bool dtype is a ValueError, as in NumPy."""
    narrow = _narrow_float(type)
    dt = _as_dtype(type, "finfo", arrays=True) if narrow is None else narrow
    if dt.kind not in "fc" and narrow is None:
        raise ValueError(f"finfo: data type {dt} is not inexact")
    if _dtypes.is_bfloat16(dt):  # NumPy's finfo does not know it; ml_dtypes' does
        import ml_dtypes

        info = ml_dtypes.finfo(dt)
    else:
        info = np.finfo(dt)
    return finfo_object(_pyint(info.bits), _pyfloat(info.eps), _pyfloat(info.max),
                        _pyfloat(info.min), _pyfloat(info.smallest_normal), np.dtype(info.dtype))


def _narrow_float(x: Any) -> np.dtype | None:
    """float16 or bfloat16 (a dtype, a scalar type or an array's dtype), which lazyarr
    stores but the standard's namespace does not name; None for anything else."""
    dt = x if isinstance(x, type | np.dtype) else getattr(x, "dtype", x)
    try:
        dt = _dtypes.native(np.dtype(dt))
    except TypeError:
        return None
    return dt if _dtypes.is_narrow(dt) else None


def iinfo(type: Any, /) -> iinfo_object:
    """Limits of an integer dtype (or of an array's dtype); others are a ValueError, as in
    NumPy."""
    dt = _as_dtype(type, "iinfo", arrays=True)
    if dt.kind not in "iu":
        raise ValueError(f"iinfo: invalid integer data type {dt}")
    info = np.iinfo(dt)
    return iinfo_object(_pyint(info.bits), _pyint(info.max), _pyint(info.min), dt)


def isdtype(dtype: Any, kind: Any) -> _pybool:
    """Whether ``dtype`` is ``kind``: a dtype, one of the standard's kind names ("bool",
    "signed integer", "unsigned integer", "integral", "real floating", "complex floating",
    "numeric") or a tuple of these. NumPy's ``isdtype``, with the same errors (TypeError for
    a ``dtype`` that is not one, ValueError for an unknown kind name)."""
    dt = _as_dtype(dtype, "isdtype")
    return _isdtype(dt, kind)


def _isdtype(dt: np.dtype, kind: Any) -> _pybool:
    if isinstance(kind, tuple):
        return any(_isdtype(dt, k) for k in kind)
    if isinstance(kind, str):
        return _kind(dt) in _kind_chars(kind)
    return dt == _as_dtype(kind, "isdtype")


def result_type(*arrays_and_dtypes: Any) -> np.dtype:
    """The dtype NumPy 2 gives for operands of these arrays, dtypes and Python scalars (which
    are weak: ``result_type(int8, 1) == int8``). At least one array or dtype is needed (a
    ValueError otherwise, as in NumPy, which the standard requires)."""
    args: list[Any] = []
    strong = False
    for x in arrays_and_dtypes:
        if isinstance(x, _pybool | _pyint | _pyfloat | _pycomplex):
            args.append(x)  # weak: NumPy 2's result_type takes Python scalars as NEP 50 says
        else:
            args.append(_as_dtype(x, "result_type", arrays=True))
            strong = True
    if not strong:
        raise ValueError("result_type: at least one array or dtype is required")
    return _named(np.result_type(*args), "result_type")


__all__ = [  # noqa: RUF022 (grouped as the standard's pages list them)
    "__array_api_version__", "__array_namespace_info__",
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64", "complex64", "complex128",
    "e", "pi", "inf", "nan", "newaxis",
    "astype", "can_cast", "finfo", "iinfo", "isdtype", "result_type",
]
