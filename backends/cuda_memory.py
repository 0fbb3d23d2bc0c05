"""Arrays in GPU memory: :class:`DeviceArray`, its caching allocator, and interchange.

A ``DeviceArray`` is only metadata (shape, dtype, byte strides, device pointer) plus an
``owner`` that keeps the memory alive: a block of lazyarr's caching allocator, or the foreign
object (CuPy, PyTorch, Numba array) it was taken from without a copy. It speaks both
interchange protocols, ``__cuda_array_interface__`` (version 3) and ``__dlpack__`` (the
capsules themselves: ``dlpack.py``), in both directions.

Importing this module loads nothing GPU-related: the driver is opened by the first call that
moves data or allocates (see ``cuda_driver``). Construction from a pointer and the two
protocol exports need no driver, so they are tested on machines without a GPU.

Streams: lazyarr runs all its work on the legacy default stream (stream handle 0). Exports
say so (``"stream": 1`` in the CUDA array interface), and imports that name another stream
synchronise it before lazyarr reads the memory.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

from lazyarr.ir.graph import sign_leaves_of
from lazyarr.ir.loop import c_ordered, c_strides

from . import cuda_driver
from .dlpack import KDL_CUDA, consume_capsule, export_dlpack

CUDA = "cuda"
_LEGACY_STREAM = 1  # how both protocols spell the legacy default stream


def _driver():
    return cuda_driver  # ctypes only: the driver library is opened by its first call


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

    __slots__ = ("__weakref__", "device", "pool", "ptr", "size")

    def __init__(self, ptr: int, size: int, device: int,
                 pool: CachingAllocator | None = None) -> None:
        self.ptr, self.size, self.device = ptr, size, device
        self.pool = pool  # the allocator it goes back to (None: not an allocator's block)

    def __del__(self) -> None:
        # (not weakref.finalize: registering one cost 2 us of an 8 us allocation)
        pool = self.pool
        if pool is None:
            return
        try:  # noqa: SIM105  (contextlib may be gone as well at exit)
            pool._release(self.ptr, self.size, self.device)
        except Exception:  # interpreter exit: the module may be half torn down
            pass


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
        return Block(ptr, size, device, self)

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

    def fill_cached(self, byte: int) -> None:
        """Set every byte of the cached blocks to ``byte`` (0xFF is a NaN in every float
        type), so that an output element a kernel fails to write shows up in a check. Call
        it with no other thread allocating and the device idle."""
        with self._lock:
            blocks = [(device, size, ptr) for (device, size), ptrs in self._free.items()
                      for ptr in ptrs]
        drv = _driver()
        for device, size, ptr in blocks:
            drv.context(device)
            drv.memset_d8(ptr, byte, size)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"in_use": self.in_use, "cached": self.cached,
                    "driver_allocs": self.driver_allocs}


allocator = CachingAllocator()


def empty_cache() -> None:
    """Return lazyarr's cached GPU memory to the driver."""
    allocator.empty_cache()


# -- the device array ------------------------------------------------------------------------
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
        shape = tuple(int(n) for n in shape)
        dt = np.dtype(dtype)
        return cls.fresh(shape, dt, c_strides(shape, dt.itemsize), device_id)

    @classmethod
    def fresh(cls, shape: tuple[int, ...], dtype: np.dtype, strides: tuple[int, ...],
              device_id: int = 0) -> DeviceArray:
        """A new C-ordered array from the allocator, its metadata taken as given (``shape``
        of ints, ``dtype`` a numpy dtype, ``strides`` its C strides): no checks, for
        launches that repeat (the constructor's checks were half of an allocation)."""
        block = allocator.malloc(math.prod(shape) * dtype.itemsize, device_id)
        out = cls.__new__(cls)
        out.shape, out.dtype, out.strides = shape, dtype, strides
        out.ptr, out.owner, out.device_id, out.readonly = block.ptr, block, device_id, False
        return out

    @classmethod
    def from_numpy(cls, array: np.ndarray, device_id: int = 0) -> DeviceArray:
        """Copy a host array to the device (C order, native byte order: GPU kernels and
        every protocol consumer read native elements)."""
        # (np.ascontiguousarray would make a 0-d array 1-d)
        host = np.asarray(array, dtype=array.dtype.newbyteorder("="), order="C")
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
        return c_ordered(self.shape, self.strides, self.itemsize)

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
        return (KDL_CUDA, self.device_id)

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
# a new expression over device arrays is signed as the lean operators write it, so that its
# evaluation finds the launch of its structure lowered before (lazyarr/run/device.py)
sign_leaves_of(DeviceArray)


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
        return probe()[0] == KDL_CUDA
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
    if kind != KDL_CUDA:
        raise TypeError(f"DLPack device type {kind} is not CUDA device memory")
    try:
        capsule = obj.__dlpack__(stream=_LEGACY_STREAM, max_version=(1, 0))
    except TypeError:  # producers from before DLPack 1.0 take no max_version
        capsule = obj.__dlpack__(stream=_LEGACY_STREAM)
    return consume_dlpack(capsule)


def consume_dlpack(capsule: Any) -> DeviceArray:
    """Wrap the CUDA tensor of an unconsumed DLPack capsule, taking it over."""
    t = consume_capsule(capsule, KDL_CUDA)
    return DeviceArray(t.shape, t.dtype, t.strides, t.ptr, t.owner, t.device_id, t.readonly)


def wrap(obj: Any) -> DeviceArray:
    """A DeviceArray for any CUDA array (ours, or foreign through either protocol)."""
    if isinstance(obj, DeviceArray):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        return from_cuda_array_interface(obj)
    return from_dlpack(obj)
