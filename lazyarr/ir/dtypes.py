"""The dtypes lazyarr supports and the checks that keep others out at build time."""

from __future__ import annotations

import numpy as np

SUPPORTED = frozenset(
    np.dtype(t)
    for t in (
        "bool", "int8", "int16", "int32", "int64",
        "uint8", "uint16", "uint32", "uint64", "float32", "float64",
    )
)


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
