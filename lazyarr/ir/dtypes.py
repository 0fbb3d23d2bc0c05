"""The dtypes lazyarr supports and the checks that keep others out at build time."""

from __future__ import annotations

import numpy as np

SUPPORTED = frozenset(
    np.dtype(t)
    for t in (
        "bool", "int8", "int16", "int32", "int64",
        "uint8", "uint16", "uint32", "uint64", "float16", "float32", "float64",
    )
)
# float16 is a storage dtype, as in NumPy: values are loaded and stored as halves, and every
# operation on them computes in float32 and rounds its result to float16
# (lazyarr/front/build.py rewrites each such op as it is built; docs/float16.md)
FLOAT16 = np.dtype(np.float16)
FLOAT32 = np.dtype(np.float32)


def native(dtype: np.dtype) -> np.dtype:
    """``dtype`` in this machine's byte order (one-byte types have none: unchanged)."""
    return dtype if dtype.isnative else dtype.newbyteorder("=")


def check(dtype: np.dtype, what: str) -> np.dtype:
    """Return ``dtype`` if lazyarr computes in it, else raise a TypeError naming ``what``.

    Values are computed in native byte order only: a big-endian ``float64`` is refused here
    (``astype``, ``dtype=``), while arrays in memory take :func:`check_array`.
    """
    dtype = np.dtype(dtype)
    if dtype in SUPPORTED:
        return dtype
    if native(dtype) in SUPPORTED:
        raise TypeError(
            f"{what}: dtype {dtype} is {native(dtype)} in {_order(dtype)} byte order; lazyarr "
            f"computes in native byte order: ask for {native(dtype)} (arrays in either byte "
            "order are read, and written with out=, in place)")
    raise TypeError(_unsupported(dtype, what, "supported"))


def check_array(dtype: np.dtype, what: str) -> np.dtype:
    """The dtype lazyarr computes in for an array of ``dtype`` that kernels read or write in
    place: the same one in native byte order (the kernel swaps bytes as it loads and stores),
    else a TypeError naming ``what``."""
    dtype = np.dtype(dtype)
    if dtype in SUPPORTED:
        return dtype
    if native(dtype) in SUPPORTED:
        return native(dtype)
    raise TypeError(_unsupported(dtype, what, "supported, in either byte order"))


def _order(dtype: np.dtype) -> str:
    return "big-endian" if dtype.byteorder == ">" else "little-endian"


def _unsupported(dtype: np.dtype, what: str, listing: str) -> str:
    names = ", ".join(sorted(str(d) for d in SUPPORTED))
    # a non-native dtype is named with its byte order spelled out, so that ">f2" is not
    # taken for a supported dtype it resembles
    named = str(dtype) if dtype.isnative else f"{dtype} ({native(dtype)}, {_order(dtype)})"
    return f"{what}: dtype {named} is not supported by lazyarr ({listing}: {names})"


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def int_bounds(dtype: np.dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


# complex64 and complex128 are values of the front end only: each is a pair of real
# expressions (lazyarr/front/complexes.py), so no kernel computes in them and ``check``, which
# guards what kernels compute, refuses them; ``check_front`` takes them
COMPLEX_PARTS = {np.dtype(np.complex64): np.dtype(np.float32),
                 np.dtype(np.complex128): np.dtype(np.float64)}


def check_front(dtype: np.dtype, what: str) -> np.dtype:
    """:func:`check` for a dtype the front end makes values of (``astype``, ``asarray``,
    result dtypes): complex64 and complex128 are taken too."""
    dtype = np.dtype(dtype)
    if dtype in COMPLEX_PARTS:
        return dtype
    if dtype.kind == "c" and native(dtype) in COMPLEX_PARTS:
        raise TypeError(
            f"{what}: dtype {dtype} is {native(dtype)} in {_order(dtype)} byte order; lazyarr "
            f"computes in native byte order: ask for {native(dtype)}")
    return check(dtype, what)
