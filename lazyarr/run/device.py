"""Arrays in GPU memory: :class:`DeviceArray`, its caching allocator, and interchange.

A ``DeviceArray`` is only metadata (shape, dtype, byte strides, device pointer) plus an
``owner`` that keeps the memory alive: a block of lazyarr's caching allocator, or the foreign
object (CuPy, PyTorch, Numba array) it was taken from without a copy. It speaks both
interchange protocols, ``__cuda_array_interface__`` (version 3) and ``__dlpack__``, in both
directions.

Importing this module loads nothing GPU-related: the driver is opened by the first call that
moves data or allocates (see ``lazyarr.backends.cuda_driver``). Construction from a pointer
and the two protocol exports need no driver, so they are tested on machines without a GPU.

Streams: lazyarr runs all its work on the legacy default stream (stream handle 0). Exports
say so (``"stream": 1`` in the CUDA array interface), and imports that name another stream
synchronise it before lazyarr reads the memory.
"""

from __future__ import annotations

import ctypes
import math
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np

CUDA = "cuda"
_LEGACY_STREAM = 1  # how both protocols spell the legacy default stream
_KDL_CUDA = 2  # DLPack's DLDeviceType for CUDA device memory


def _driver():
    from lazyarr.backends import cuda_driver

    return cuda_driver


def require_driver() -> None:
    """Raise a clear RuntimeError when no CUDA driver (or device) is usable here."""
    drv = _driver()
    if not drv.is_available():
        raise RuntimeError(f"device='cuda' needs an NVIDIA GPU: {drv.why_unavailable()}")


# -- the caching allocator ---------------------------------------------------------------------
_SMALL = 1 << 20  # below this, sizes round up to 512 bytes; above, to 2 MiB


def size_class(nbytes: int) -> int:
    """The size a request is rounded up to, so that nearby sizes share cached blocks."""
    step = 512 if nbytes < _SMALL else 2 << 20
    return max(step, -(-nbytes // step) * step)


class Block:
    """One allocation; returned to the allocator's free list when the last user lets go."""

    __slots__ = ("__weakref__", "device", "ptr", "size")

    def __init__(self, ptr: int, size: int, device: int) -> None:
        self.ptr, self.size, self.device = ptr, size, device


class CachingAllocator:
    """Size-class free lists over ``cuMemAlloc``: repeated evaluations reuse their buffers.

    A dead block goes back to its free list (no driver call, so this is safe in finalizers
    and at interpreter exit); :meth:`empty_cache` hands cached blocks back to the driver, as
    does an allocation that fails for lack of memory before it is retried once.
    """

    def __init__(self) -> None:
        self._free: dict[tuple[int, int], list[int]] = {}
        self._lock = threading.Lock()
        self.in_use = 0  # bytes handed out and alive
        self.cached = 0  # bytes on free lists
        self.driver_allocs = 0  # cuMemAlloc calls made (tests check reuse with it)

    def malloc(self, nbytes: int, device: int = 0) -> Block:
        size = size_class(nbytes)
        with self._lock:
            free = self._free.get((device, size))
            ptr = free.pop() if free else None
            if ptr is not None:
                self.cached -= size
        if ptr is None:
            ptr = self._fresh(size, device)
        with self._lock:
            self.in_use += size
        block = Block(ptr, size, device)
        weakref.finalize(block, self._release, ptr, size, device).atexit = False
        return block

    def _fresh(self, size: int, device: int) -> int:
        drv = _driver()
        drv.context(device)
        try:
            ptr = drv.mem_alloc(size)
        except MemoryError:
            self.empty_cache()
            ptr = drv.mem_alloc(size)  # a second failure propagates as MemoryError
        with self._lock:
            self.driver_allocs += 1
        return ptr

    def _release(self, ptr: int, size: int, device: int) -> None:
        with self._lock:
            self._free.setdefault((device, size), []).append(ptr)
            self.in_use -= size
            self.cached += size

    def empty_cache(self) -> None:
        """Free every cached (unused) block with the driver."""
        with self._lock:
            free, self._free, self.cached = self._free, {}, 0
        drv = _driver()
        for (device, _), ptrs in free.items():
            drv.context(device)
            for ptr in ptrs:
                drv.mem_free(ptr)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"in_use": self.in_use, "cached": self.cached,
                    "driver_allocs": self.driver_allocs}


allocator = CachingAllocator()


def empty_cache() -> None:
    """Return lazyarr's cached GPU memory to the driver."""
    allocator.empty_cache()


# -- the device array ------------------------------------------------------------------------
def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


class DeviceArray:
    """An array in CUDA device memory (``ptr`` is a device address, strides are in bytes)."""

    __slots__ = ("__weakref__", "device_id", "dtype", "owner", "ptr", "readonly", "shape",
                 "strides")

    def __init__(self, shape: Iterable[int], dtype: Any, strides: Iterable[int] | None,
                 ptr: int, owner: Any = None, device_id: int = 0,
                 readonly: bool = False) -> None:
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.strides = (c_strides(self.shape, self.dtype.itemsize) if strides is None
                        else tuple(int(s) for s in strides))
        if len(self.strides) != len(self.shape):
            raise ValueError(f"strides {self.strides} do not match shape {self.shape}")
        self.ptr, self.owner = int(ptr), owner
        self.device_id, self.readonly = int(device_id), bool(readonly)

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def empty(cls, shape: Iterable[int], dtype: Any, device_id: int = 0) -> DeviceArray:
        shape = tuple(shape)
        dt = np.dtype(dtype)
        block = allocator.malloc(math.prod(shape) * dt.itemsize, device_id)
        return cls(shape, dt, None, block.ptr, block, device_id)

    @classmethod
    def from_numpy(cls, array: np.ndarray, device_id: int = 0) -> DeviceArray:
        """Copy a host array to the device (C order, native byte order: GPU kernels and
        every protocol consumer read native elements)."""
        host = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
        out = cls.empty(host.shape, host.dtype, device_id)
        _driver().memcpy_htod(out.ptr, host.ctypes.data, host.nbytes)
        return out

    # -- metadata --------------------------------------------------------------------------
    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def device(self) -> str:
        return f"{CUDA}:{self.device_id}"

    @property
    def is_c_contiguous(self) -> bool:
        return self.size <= 1 or all(
            n == 1 or s == c for n, s, c in zip(
                self.shape, self.strides, c_strides(self.shape, self.itemsize), strict=True))

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype}, device={self.device!r})"

    def extent(self) -> tuple[int, int]:
        """Byte range [lo, hi) relative to ``ptr`` that the elements occupy."""
        if self.size == 0:
            return 0, 0
        lo = sum(min(0, (n - 1) * s) for n, s in zip(self.shape, self.strides, strict=True))
        hi = sum(max(0, (n - 1) * s) for n, s in zip(self.shape, self.strides, strict=True))
        return lo, hi + self.itemsize

    def view(self, shape: Iterable[int], strides: Iterable[int], offset: int = 0
             ) -> DeviceArray:
        """A view of the same memory (offset in bytes); keeps this array's memory alive."""
        return DeviceArray(shape, self.dtype, strides, self.ptr + offset, self.owner,
                           self.device_id, self.readonly)

    # -- copies back to the host -------------------------------------------------------------
    def to_numpy(self) -> np.ndarray:
        """A host copy (C order when this array is C-contiguous, else the same strides)."""
        drv = _driver()
        drv.context(self.device_id)
        if self.is_c_contiguous:
            out = np.empty(self.shape, self.dtype)
            drv.memcpy_dtoh(out.ctypes.data, self.ptr, self.nbytes)
            return out
        lo, hi = self.extent()
        raw = np.empty(hi - lo, np.uint8)
        drv.memcpy_dtoh(raw.ctypes.data, self.ptr + lo, hi - lo)
        base = raw[-lo:] if lo else raw
        view = np.lib.stride_tricks.as_strided(base.view(self.dtype), self.shape, self.strides)
        return np.array(view)

    def get(self) -> np.ndarray:  # CuPy's name
        return self.to_numpy()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("a CUDA array cannot be seen by NumPy without a copy to the host")
        host = self.to_numpy()
        return host if dtype is None else host.astype(dtype, copy=False)

    # -- interchange: CUDA array interface -------------------------------------------------
    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        contiguous = self.is_c_contiguous
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "descr": [("", self.dtype.str)],
            "data": (self.ptr if self.size else 0, self.readonly),
            "strides": None if contiguous else self.strides,
            "version": 3,
            "stream": _LEGACY_STREAM,
        }

    # -- interchange: DLPack -----------------------------------------------------------------
    def __dlpack_device__(self) -> tuple[int, int]:
        return (_KDL_CUDA, self.device_id)

    def __dlpack__(self, *, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: tuple[int, int] | None = None, copy: bool | None = None) -> Any:
        if dl_device is not None and tuple(dl_device) != self.__dlpack_device__():
            raise BufferError(f"lazyarr cannot export a {self.device} array to {dl_device}")
        if stream not in (None, -1, _LEGACY_STREAM):
            # the consumer reads on another stream: let lazyarr's queued work finish first
            _driver().stream_synchronize(0)
        source = self.copy() if copy else self
        versioned = max_version is not None and tuple(max_version) >= (1, 0)
        return export_dlpack(source, versioned, copied=bool(copy))

    def copy(self) -> DeviceArray:
        """A C-contiguous device copy (device to device for contiguous arrays)."""
        if not self.is_c_contiguous:
            return DeviceArray.from_numpy(self.to_numpy(), self.device_id)
        out = DeviceArray.empty(self.shape, self.dtype, self.device_id)
        _driver().memcpy_dtod(out.ptr, self.ptr, self.nbytes)
        return out


# -- accepting foreign arrays --------------------------------------------------------------------
def is_device_array_like(obj: Any) -> bool:
    """Whether ``obj`` is a CUDA array lazyarr can wrap without a copy."""
    if isinstance(obj, DeviceArray | np.ndarray):
        return isinstance(obj, DeviceArray)
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    probe = getattr(obj, "__dlpack_device__", None)
    if probe is None:
        return False
    try:
        return probe()[0] == _KDL_CUDA
    except Exception:  # a foreign object's probe may fail in any way
        return False


def from_cuda_array_interface(obj: Any) -> DeviceArray:
    """Wrap ``obj`` (anything with ``__cuda_array_interface__``) without copying."""
    cai = obj.__cuda_array_interface__
    if cai.get("mask") is not None:
        raise NotImplementedError("masked CUDA arrays are not supported")
    dtype = np.dtype(cai["typestr"])
    if not dtype.isnative:
        raise TypeError(f"non-native byte order {cai['typestr']!r} is not supported")
    ptr, readonly = cai["data"]
    stream = cai.get("stream")
    if stream is not None and stream != _LEGACY_STREAM:
        _driver().stream_synchronize(int(stream))  # the producer's work must be done first
    return DeviceArray(cai["shape"], dtype, cai.get("strides"), ptr or 0, obj,
                       _pointer_device(ptr), readonly)


def _pointer_device(ptr: int) -> int:
    if not ptr:
        return 0
    drv = _driver()
    try:
        return drv.pointer_device(ptr)
    except (drv.DriverNotFoundError, drv.CudaError):
        return 0  # a fake pointer in a test, or memory the driver does not track


def from_dlpack(obj: Any) -> DeviceArray:
    """Wrap a DLPack producer whose data lives in CUDA memory, without copying."""
    kind, _ = obj.__dlpack_device__()
    if kind != _KDL_CUDA:
        raise TypeError(f"DLPack device type {kind} is not CUDA device memory")
    try:
        capsule = obj.__dlpack__(stream=_LEGACY_STREAM, max_version=(1, 0))
    except TypeError:  # producers from before DLPack 1.0 take no max_version
        capsule = obj.__dlpack__(stream=_LEGACY_STREAM)
    return consume_dlpack(capsule)


def wrap(obj: Any) -> DeviceArray:
    """A DeviceArray for any CUDA array (ours, or foreign through either protocol)."""
    if isinstance(obj, DeviceArray):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return from_cuda_array_interface(obj)
    return from_dlpack(obj)


# -- where a graph's leaves live, and moving them --------------------------------------------------
def leaf_places(roots: Iterable[Any]) -> tuple[bool, bool]:
    """(has host leaves, has device leaves) of the graph under ``roots`` (Nodes)."""
    from lazyarr.ir.graph import Op, toposort

    host = device = False
    for node in toposort(list(roots)):
        if node.op is Op.LEAF:
            if isinstance(node.arg.array, DeviceArray):
                device = True
            else:
                host = True
    return host, device


def move_leaves(roots: list[Any], to_device: bool) -> list[Any]:
    """The graph with every leaf copied to the device (or to the host), once per buffer."""
    from lazyarr.front.build import leaf
    from lazyarr.ir.graph import Op, make, toposort

    new: dict[int, Any] = {}
    copies: dict[int, Any] = {}
    for node in toposort(roots):
        if node.op is Op.LEAF:
            array = node.arg.array
            if isinstance(array, DeviceArray) != to_device:
                key = id(node.arg)
                if key not in copies:
                    copies[key] = (DeviceArray.from_numpy(array) if to_device
                                   else array.to_numpy())
                new[id(node)] = leaf(copies[key])
                continue
        src = tuple(new[id(s)] for s in node.src)
        if all(a is b for a, b in zip(src, node.src, strict=True)):
            new[id(node)] = node
        else:
            new[id(node)] = make(node.op, node.dtype, node.shape, src, node.arg)
    return [new[id(r)] for r in roots]


# -- DLPack capsules, built with ctypes ----------------------------------------------------------
# The C structs of dlpack.h (v1.x; the unversioned DLManagedTensor is what pre-1.0 consumers
# take). Function pointers are stored as plain addresses and called through one ctypes type,
# because both deleter signatures take a single pointer.
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


def export_dlpack(array: DeviceArray, versioned: bool, copied: bool = False) -> Any:
    """A DLPack capsule for ``array`` (``dltensor_versioned`` when ``versioned``)."""
    item = array.itemsize
    if any(s % item for s in array.strides):
        raise BufferError("DLPack strides count elements: these byte strides are not "
                          "multiples of the item size")
    n = max(array.ndim, 1)
    shape = (ctypes.c_int64 * n)(*array.shape)
    strides = (ctypes.c_int64 * n)(*(s // item for s in array.strides))
    tensor = _DLTensor(array.ptr, _DLDevice(_KDL_CUDA, array.device_id), array.ndim,
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


def consume_dlpack(capsule: Any) -> DeviceArray:
    """Take the tensor out of a DLPack capsule (renaming it ``used_...``, as the protocol asks)."""
    address = id(capsule)  # CPython: the object's address; the caller holds a reference
    name, used, struct = _capsule_kind(address)
    managed_ptr = _api.PyCapsule_GetPointer(address, name)
    managed = ctypes.cast(managed_ptr, ctypes.POINTER(struct)).contents
    t = managed.dl_tensor
    flags = getattr(managed, "flags", 0)
    if t.device.device_type != _KDL_CUDA:
        raise TypeError(f"DLPack device type {t.device.device_type} is not CUDA device memory")
    dtype = _numpy_dtype(t.dtype)
    shape = tuple(t.shape[k] for k in range(t.ndim))
    strides = None if not t.strides else tuple(t.strides[k] * dtype.itemsize
                                                for k in range(t.ndim))
    owner = _DLPackOwner(managed_ptr, managed.deleter)
    _api.PyCapsule_SetName(address, used)  # from here on, the owner calls the deleter
    return DeviceArray(shape, dtype, strides, (t.data or 0) + t.byte_offset, owner,
                       t.device.device_id, bool(flags & _FLAG_READ_ONLY))


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


# -- choosing where an evaluation runs ------------------------------------------------------------
_TARGETS = ("cpu", CUDA)


def route(nodes: list[Any], backend: str | None, target: str | None, out: Any = None
          ) -> tuple[str | None, list[Any]]:
    """(backend name, roots) for an evaluation, moving leaves only when asked to.

    Without ``target`` (or ``backend``), the leaves decide: all on the device runs on CUDA,
    all on the host runs on the default backend, and a mix is a TypeError. An explicit
    choice is the request for a transfer: ``target="cuda"`` copies host leaves to the device,
    ``target="cpu"`` copies device leaves back (each captured array once).
    """
    name = _resolve(backend, target)
    host, dev = leaf_places(nodes)
    if name is None:
        if host and dev:
            raise TypeError(
                "this expression mixes host (NumPy) arrays and CUDA device arrays; lazyarr "
                "does not copy silently: evaluate with target='cuda' to copy the host arrays "
                "to the device, or target='cpu' to copy the device arrays to the host")
        return (CUDA if dev else None), nodes
    if name == CUDA:
        require_driver()
        if out is not None and any(o is not None for o in out):
            raise NotImplementedError("out= is not supported on the CUDA target yet")
        return name, move_leaves(nodes, to_device=True) if host else nodes
    return name, move_leaves(nodes, to_device=False) if dev else nodes


def _resolve(backend: str | None, target: str | None) -> str | None:
    if target is None:
        return backend
    if target not in _TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of {_TARGETS}")
    if backend is not None and (backend == CUDA) != (target == CUDA):
        raise ValueError(f"backend={backend!r} does not run on target={target!r}")
    if target == CUDA:
        return CUDA
    from lazyarr.config import settings

    return backend or settings.backend


def leaf_array(obj: Any, dtype: Any, device: str | None) -> DeviceArray | None:
    """The device array ``asarray(obj, dtype, device)`` captures, or None for a host leaf."""
    if device not in (None, "cpu", CUDA, f"{CUDA}:0"):
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'")
    on_device = is_device_array_like(obj)
    if device == "cpu":
        if on_device:
            raise TypeError("asarray(device='cpu') of a CUDA array: copy it to the host "
                            "explicitly (np.asarray or .to_numpy())")
        return None
    if on_device:
        return wrap(obj)
    if device is None:
        return None
    require_driver()
    host = np.asarray(obj) if dtype is None else np.asarray(obj, dtype=dtype)
    return DeviceArray.from_numpy(host)
