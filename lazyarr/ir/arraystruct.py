"""NumPy's array struct read directly, where its layout is the one checked here.

``arr.ctypes.data`` costs about 1.8 us (it builds a helper object each time); the data pointer
itself is one word of the array object, ``PyArrayObject_fields.data`` in NumPy's public
``ndarraytypes.h``, right after the object header. Reading that word costs 0.16 us.
:func:`layout` finds where the data pointer, dimension count, strides and flags are and
checks them against what NumPy reports for a few arrays; without a match every read goes
through NumPy's own attributes. (``backends/objcall.py`` builds on the same layout.)

It lives in ``ir`` because the loop IR's argument packer (``loop.pack_args``) reads data
pointers with it, and ir imports nothing above it; the backends and the fast path read it
from here too.
"""

from __future__ import annotations

import ctypes
from typing import NamedTuple

import numpy as np


class StructOffsets(NamedTuple):
    """Offsets of ``PyArrayObject_fields`` members from ``id(array)``."""
    data: int
    nd: int
    strides: int
    flags: int


def layout() -> StructOffsets | None:
    """Where an ndarray keeps its data pointer, dimension count, strides and flags (after the
    object header, one pointer-sized word each, ``nd`` padded, ``flags`` after ``base`` and
    ``descr``), checked on a few arrays; None if the layout is not that."""
    word = ctypes.sizeof(ctypes.c_void_p)
    found = StructOffsets(data=2 * word, nd=3 * word, strides=5 * word, flags=8 * word)
    read_only = np.arange(4.0)
    read_only.flags.writeable = False
    probes = (np.empty(3), np.empty((2, 5), np.float32), np.zeros((7, 3), np.int8)[2:, ::2],
              read_only)
    for arr in probes:
        base = id(arr)
        strides = ctypes.c_void_p.from_address(base + found.strides).value
        if ctypes.c_void_p.from_address(base + found.data).value != arr.ctypes.data or \
                ctypes.c_int.from_address(base + found.nd).value != arr.ndim or \
                tuple((ctypes.c_int64 * arr.ndim).from_address(strides)) != arr.strides or \
                ctypes.c_int.from_address(base + found.flags).value != arr.flags.num:
            return None
    return found


LAYOUT = layout()
_word_at = ctypes.c_void_p.from_address


def data_pointer(array: np.ndarray) -> int:
    """``array.ctypes.data``, faster."""
    if LAYOUT is None:
        return array.ctypes.data
    return _word_at(id(array) + LAYOUT.data).value or 0
