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


def check(dtype: np.dtype, what: str) -> np.dtype:
    """Return ``dtype`` if lazyarr supports it, else raise a TypeError naming ``what``."""
    dtype = np.dtype(dtype)
    if dtype not in SUPPORTED:
        names = ", ".join(sorted(str(d) for d in SUPPORTED))
        raise TypeError(f"{what}: dtype {dtype} is not supported by lazyarr (supported: {names})")
    return dtype


def is_float(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


def is_signed(dtype: np.dtype) -> bool:
    return dtype.kind == "i"


def is_unsigned(dtype: np.dtype) -> bool:
    return dtype.kind == "u"


def is_bool(dtype: np.dtype) -> bool:
    return dtype.kind == "b"


def int_bounds(dtype: np.dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)
