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
# bfloat16 is ml_dtypes' dtype, stored and computed as float16 is (every op in float32,
# rounded to bfloat16 after each). ml_dtypes is an optional extra and costs about half a
# second to import, so lazyarr never imports it before a bfloat16 is asked for: an array
# of it can only exist once its user has imported ml_dtypes, and ``la.bfloat16`` (or
# :func:`bfloat16`) imports it then. NumPy files it under kind "V" (a user dtype), so it is
# told by its scalar type, and kept out of SUPPORTED, which lists the built-in dtypes
# (tests and the namespace iterate it).
BF16_EXTRA = "pip install lazyarr[bf16]"
NARROW = {FLOAT16}  # the storage-only float dtypes; bfloat16 joins on first sight


def bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16 dtype, imported now; an ImportError naming the extra without it."""
    try:
        import ml_dtypes
    except ImportError as exc:
        raise ImportError(f"bfloat16 needs the ml_dtypes package: {BF16_EXTRA}") from exc
    dt = np.dtype(ml_dtypes.bfloat16)
    NARROW.add(dt)
    return dt


def is_bfloat16(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is ml_dtypes' bfloat16 (in either byte order)."""
    if dtype.kind != "V" or dtype.itemsize != 2:
        return False
    t = dtype.type
    if t.__name__ == "bfloat16" and t.__module__ == "ml_dtypes":
        NARROW.add(native(dtype))
        return True
    return False


def is_narrow(dtype: np.dtype) -> bool:
    """float16 or bfloat16 (native): stored narrow, every operation computed in float32. The
    set answers the hot paths (front/build.py reads it directly); a bfloat16 not seen yet
    joins it here."""
    return dtype in NARROW or (is_bfloat16(dtype) and dtype.isnative)


def parse(dtype: object) -> np.dtype:
    """``np.dtype(dtype)``, where the name "bfloat16" imports ml_dtypes first (NumPy knows
    that name only once ml_dtypes is imported): an ImportError naming the extra without it."""
    if isinstance(dtype, str) and dtype == "bfloat16":
        return bfloat16()
    return np.dtype(dtype)


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
    if native(dtype) in SUPPORTED or (is_bfloat16(dtype) and not dtype.isnative):
        raise TypeError(
            f"{what}: dtype {dtype} is {native(dtype)} in {_order(dtype)} byte order; lazyarr "
            f"computes in native byte order: ask for {native(dtype)} (arrays in either byte "
            "order are read, and written with out=, in place)")
    if is_bfloat16(dtype):
        return dtype
    raise TypeError(_unsupported(dtype, what, "supported"))


def check_array(dtype: np.dtype, what: str) -> np.dtype:
    """The dtype lazyarr computes in for an array of ``dtype`` that kernels read or write in
    place: the same one in native byte order (the kernel swaps bytes as it loads and stores),
    else a TypeError naming ``what``."""
    dtype = np.dtype(dtype)
    if dtype in SUPPORTED:
        return dtype
    if native(dtype) in SUPPORTED or is_bfloat16(dtype):
        return native(dtype)
    raise TypeError(_unsupported(dtype, what, "supported, in either byte order"))


def _order(dtype: np.dtype) -> str:
    return "big-endian" if dtype.byteorder == ">" else "little-endian"


def _unsupported(dtype: np.dtype, what: str, listing: str) -> str:
    names = ", ".join(sorted(str(d) for d in SUPPORTED)) + f", bfloat16 ({BF16_EXTRA})"
    # a non-native dtype is named with its byte order spelled out, so that ">f2" is not
    # taken for a supported dtype it resembles
    named = str(dtype) if dtype.isnative else f"{dtype} ({native(dtype)}, {_order(dtype)})"
    return f"{what}: dtype {named} is not supported by lazyarr ({listing}: {names})"


def is_float(dtype: np.dtype) -> bool:
    """A real float dtype: NumPy's (kind "f") or ml_dtypes' bfloat16 (kind "V")."""
    return dtype.kind == "f" or is_bfloat16(dtype)


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
