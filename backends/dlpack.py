"""DLPack capsules, built and read with ctypes: the C side of ``__dlpack__``.

The structs of ``dlpack.h`` (v1.x; the unversioned ``DLManagedTensor`` is what pre-1.0
consumers take). This module knows memory only as a pointer, shape, byte strides, dtype and
device; ``cuda_memory.DeviceArray`` builds on it in both directions. Function pointers are
stored as plain addresses and called through one ctypes type, because both deleter signatures
take a single pointer.
"""

from __future__ import annotations

import ctypes
from typing import Any, NamedTuple

import numpy as np

KDL_CUDA = 2  # DLPack's DLDeviceType for CUDA device memory


class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
        ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64),
    ]


class _DLManagedTensor(ctypes.Structure):
    _fields_ = [("dl_tensor", _DLTensor), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p)]


class _DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class _DLManagedTensorVersioned(ctypes.Structure):
    _fields_ = [("version", _DLPackVersion), ("manager_ctx", ctypes.c_void_p),
                ("deleter", ctypes.c_void_p), ("flags", ctypes.c_uint64),
                ("dl_tensor", _DLTensor)]


_DL_CODES = {"i": 0, "u": 1, "f": 2, "b": 6}  # kDLInt, kDLUInt, kDLFloat, kDLBool
_DL_KINDS = {0: "int", 1: "uint", 2: "float"}
_FLAG_READ_ONLY, _FLAG_IS_COPIED = 1, 2
# capsule names: bytes constants that live as long as the module, as the C API requires
_NAME, _USED = b"dltensor", b"used_dltensor"
_NAME_V, _USED_V = b"dltensor_versioned", b"used_dltensor_versioned"

_DELETER_T = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# a private handle on the interpreter's C API, so that setting argtypes here cannot clash with
# other code that uses ctypes.pythonapi's shared function objects
_api = ctypes.PyDLL("python", handle=ctypes.pythonapi._handle)
_api.PyCapsule_New.restype = ctypes.py_object
_api.PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_api.PyCapsule_IsValid.restype = ctypes.c_int
_api.PyCapsule_IsValid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_api.PyCapsule_GetPointer.restype = ctypes.c_void_p
_api.PyCapsule_GetPointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_api.PyCapsule_SetName.restype = ctypes.c_int
_api.PyCapsule_SetName.argtypes = [ctypes.c_void_p, ctypes.c_char_p]

# address of each exported struct -> what must outlive it (struct, shape and strides arrays,
# and the exported array, which keeps the device memory alive)
_exports: dict[int, tuple[Any, ...]] = {}


def _delete_export(managed: int | None) -> None:
    """The DLPack deleter: the consumer is done with the tensor (any thread, GIL held)."""
    exports = _exports
    if exports is not None:  # None while the interpreter shuts down
        exports.pop(managed or 0, None)


def _capsule_destructor(capsule: int | None) -> None:
    # the capsule is being freed: if nobody consumed it (it still has its original name),
    # the producer's deleter must run. The capsule arrives as a raw address: wrapping an
    # object whose reference count has reached zero would resurrect it.
    if _api is None:  # the interpreter is shutting down: nothing left to release
        return
    for name in (_NAME, _NAME_V):
        if _api.PyCapsule_IsValid(capsule, name):
            _delete_export(_api.PyCapsule_GetPointer(capsule, name))


_DELETER = _DELETER_T(_delete_export)
_DESTRUCTOR = _DELETER_T(_capsule_destructor)
# A capsule or a consumer may call these after this module has been torn down at exit: one
# leaked reference each keeps the machine code of the callbacks alive for the whole process.
for _callback in (_DELETER, _DESTRUCTOR):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(_callback))


def _dl_dtype(dtype: np.dtype) -> _DLDataType:
    code = _DL_CODES.get(dtype.kind)
    if code is None:
        raise BufferError(f"DLPack export of {dtype} is not supported")
    return _DLDataType(code, 8 * dtype.itemsize, 1)


def export_dlpack(array: Any, versioned: bool, copied: bool = False) -> Any:
    """A DLPack capsule for ``array`` (``dltensor_versioned`` when ``versioned``): anything
    with ``ptr``, ``shape``, byte ``strides``, ``dtype``, ``device_id`` and ``readonly``
    (a ``cuda_memory.DeviceArray``); the capsule keeps ``array`` alive until it is deleted."""
    item = array.dtype.itemsize
    if any(s % item for s in array.strides):
        raise BufferError("DLPack strides count elements: these byte strides are not "
                          "multiples of the item size")
    ndim = len(array.shape)
    n = max(ndim, 1)
    shape = (ctypes.c_int64 * n)(*array.shape)
    strides = (ctypes.c_int64 * n)(*(s // item for s in array.strides))
    tensor = _DLTensor(array.ptr, _DLDevice(KDL_CUDA, array.device_id), ndim,
                       _dl_dtype(array.dtype), shape, strides, 0)
    deleter = ctypes.cast(_DELETER, ctypes.c_void_p).value
    if versioned:
        flags = (_FLAG_READ_ONLY if array.readonly else 0) | (_FLAG_IS_COPIED if copied else 0)
        managed: Any = _DLManagedTensorVersioned(_DLPackVersion(1, 0), None, deleter, flags,
                                                 tensor)
    else:
        managed = _DLManagedTensor(tensor, None, deleter)
    address = ctypes.addressof(managed)
    _exports[address] = (managed, shape, strides, array)
    destructor = ctypes.cast(_DESTRUCTOR, ctypes.c_void_p).value
    return _api.PyCapsule_New(address, _NAME_V if versioned else _NAME, destructor)


class _DLPackOwner:
    """Keeps a consumed DLPack tensor alive; calls the producer's deleter when collected."""

    __slots__ = ("deleter", "managed")

    def __init__(self, managed: int, deleter: int | None) -> None:
        # the callable is made now: module globals may be gone when __del__ runs at exit
        self.managed, self.deleter = managed, _DELETER_T(deleter) if deleter else None

    def __del__(self) -> None:
        if self.deleter is not None:
            self.deleter(self.managed)


class Tensor(NamedTuple):
    """What a consumed capsule describes; ``owner`` keeps the memory alive."""
    ptr: int
    shape: tuple[int, ...]
    dtype: np.dtype
    strides: tuple[int, ...] | None  # in bytes; None: C order
    device_id: int
    readonly: bool
    owner: Any


def consume_capsule(capsule: Any, device_type: int = KDL_CUDA) -> Tensor:
    """Take the tensor out of a DLPack capsule (renaming it ``used_...``, as the protocol
    asks); a TypeError, leaving the capsule unconsumed, when its memory is not on
    ``device_type``."""
    address = id(capsule)  # CPython: the object's address; the caller holds a reference
    name, used, struct = _capsule_kind(address)
    managed_ptr = _api.PyCapsule_GetPointer(address, name)
    managed = ctypes.cast(managed_ptr, ctypes.POINTER(struct)).contents
    t = managed.dl_tensor
    flags = getattr(managed, "flags", 0)
    if t.device.device_type != device_type:
        raise TypeError(f"DLPack device type {t.device.device_type} is not CUDA device memory")
    dtype = _numpy_dtype(t.dtype)
    shape = tuple(t.shape[k] for k in range(t.ndim))
    strides = None if not t.strides else tuple(t.strides[k] * dtype.itemsize
                                                for k in range(t.ndim))
    owner = _DLPackOwner(managed_ptr, managed.deleter)
    _api.PyCapsule_SetName(address, used)  # from here on, the owner calls the deleter
    return Tensor((t.data or 0) + t.byte_offset, shape, dtype, strides, t.device.device_id,
                  bool(flags & _FLAG_READ_ONLY), owner)


def _capsule_kind(address: int) -> tuple[bytes, bytes, Any]:
    """(name, name once consumed, struct type) of an unconsumed DLPack capsule."""
    for kind in ((_NAME_V, _USED_V, _DLManagedTensorVersioned),
                 (_NAME, _USED, _DLManagedTensor)):
        if _api.PyCapsule_IsValid(address, kind[0]):
            return kind
    raise TypeError("not an unconsumed DLPack capsule")


def _numpy_dtype(dt: _DLDataType) -> np.dtype:
    if dt.lanes != 1:
        raise TypeError("vector (multi-lane) DLPack dtypes are not supported")
    if dt.code == 6 or (dt.code == 1 and dt.bits == 1):  # kDLBool (also spelled as uint1)
        return np.dtype(bool)
    kind = _DL_KINDS.get(dt.code)
    if kind is None:
        raise TypeError(f"DLPack dtype code {dt.code} is not supported")
    return np.dtype(f"{kind}{dt.bits}")
