"""The CUDA driver API through ctypes: only the calls lazyarr needs.

Why ctypes and not NVIDIA's ``cuda-bindings`` package: the driver (``libcuda``) comes with the
GPU driver itself, so ctypes needs nothing installed beyond it, on every CUDA version; the
few dozen calls lazyarr makes have stable C signatures (the ``_v2`` entry points, unchanged
since CUDA 4); and a machine without a GPU never imports anything GPU-related. The cost is
that these signatures are written by hand here (checked against CUDA 13's ``cuda.h``).

Nothing is loaded at import: the library is opened on the first call that needs it. Every
``CUresult`` other than ``CUDA_SUCCESS`` becomes a :class:`CudaError` naming the call and the
driver's own message; ``CUDA_ERROR_OUT_OF_MEMORY`` is also a :class:`MemoryError`.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from dataclasses import dataclass
from typing import Any

from lazyarr import config

# CUresult values lazyarr looks at (cuda.h)
SUCCESS = 0
ERROR_OUT_OF_MEMORY = 2
ERROR_NO_DEVICE = 100
# CUdevice_attribute
ATTR_MAX_THREADS_PER_BLOCK = 1
ATTR_MULTIPROCESSOR_COUNT = 16
ATTR_CC_MAJOR = 75
ATTR_CC_MINOR = 76
# CUjit_option
JIT_INFO_LOG_BUFFER = 3
JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4
JIT_ERROR_LOG_BUFFER = 5
JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6
# CUpointer_attribute
POINTER_ATTRIBUTE_DEVICE_ORDINAL = 9

_LOG_SIZE = 16384
_c_size = ctypes.c_size_t
_ptr = ctypes.c_void_p
_dptr = ctypes.c_uint64  # CUdeviceptr is an unsigned 64-bit integer on 64-bit hosts
_int_p = ctypes.POINTER(ctypes.c_int)

# name -> argument types; every function returns a CUresult (int). Versioned names are the
# ones cuda.h maps the plain names to.
_SIGNATURES: dict[str, list[Any]] = {
    "cuInit": [ctypes.c_uint],
    "cuDriverGetVersion": [_int_p],
    "cuGetErrorName": [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)],
    "cuGetErrorString": [ctypes.c_int, ctypes.POINTER(ctypes.c_char_p)],
    "cuDeviceGetCount": [_int_p],
    "cuDeviceGet": [_int_p, ctypes.c_int],
    "cuDeviceGetName": [ctypes.c_char_p, ctypes.c_int, ctypes.c_int],
    "cuDeviceGetAttribute": [_int_p, ctypes.c_int, ctypes.c_int],
    "cuDevicePrimaryCtxRetain": [ctypes.POINTER(_ptr), ctypes.c_int],
    "cuDevicePrimaryCtxRelease_v2": [ctypes.c_int],
    "cuCtxSetCurrent": [_ptr],
    "cuCtxGetCurrent": [ctypes.POINTER(_ptr)],
    "cuCtxSynchronize": [],
    "cuMemGetInfo_v2": [ctypes.POINTER(_c_size), ctypes.POINTER(_c_size)],
    "cuMemAlloc_v2": [ctypes.POINTER(_dptr), _c_size],
    "cuMemFree_v2": [_dptr],
    "cuMemcpyHtoD_v2": [_dptr, _ptr, _c_size],
    "cuMemcpyDtoH_v2": [_ptr, _dptr, _c_size],
    "cuMemcpyDtoD_v2": [_dptr, _dptr, _c_size],
    "cuMemsetD8_v2": [_dptr, ctypes.c_ubyte, _c_size],
    "cuPointerGetAttribute": [_ptr, ctypes.c_int, _dptr],
    "cuModuleLoadDataEx": [ctypes.POINTER(_ptr), ctypes.c_char_p, ctypes.c_uint,
                           ctypes.POINTER(ctypes.c_int), ctypes.POINTER(_ptr)],
    "cuModuleUnload": [_ptr],
    "cuModuleGetFunction": [ctypes.POINTER(_ptr), _ptr, ctypes.c_char_p],
    "cuLaunchKernel": [_ptr, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, ctypes.c_uint,
                       ctypes.c_uint, ctypes.c_uint, ctypes.c_uint, _ptr,
                       ctypes.POINTER(_ptr), ctypes.POINTER(_ptr)],
    "cuStreamCreate": [ctypes.POINTER(_ptr), ctypes.c_uint],
    "cuStreamSynchronize": [_ptr],
    "cuStreamDestroy_v2": [_ptr],
    "cuEventCreate": [ctypes.POINTER(_ptr), ctypes.c_uint],
    "cuEventRecord": [_ptr, _ptr],
    "cuEventSynchronize": [_ptr],
    "cuEventDestroy_v2": [_ptr],
    "cuEventElapsedTime": [ctypes.POINTER(ctypes.c_float), _ptr, _ptr],
}
# entry points that newer drivers version; the older name is the fallback
_NEWER = {"cuEventElapsedTime": "cuEventElapsedTime_v2"}


class DriverNotFoundError(RuntimeError):
    """No CUDA driver library could be loaded (or it reports no device)."""


class CudaError(RuntimeError):
    """A driver call failed: ``call`` is its name, ``code`` the CUresult."""

    def __init__(self, call: str, code: int, name: str, message: str, log: str = "") -> None:
        text = f"{call} failed: {name} ({code}): {message}"
        if log:
            text += f"\n{log}"
        super().__init__(text)
        self.call, self.code, self.name, self.message, self.log = call, code, name, message, log


class CudaOutOfMemoryError(CudaError, MemoryError):
    """``CUDA_ERROR_OUT_OF_MEMORY``: catchable as ``MemoryError``."""


def _library_names() -> list[str]:
    override = config.libcuda_override()
    if override:
        return [override]
    if sys.platform == "win32":
        return ["nvcuda.dll"]
    return ["libcuda.so.1", "libcuda.so"]


class Driver:
    """The loaded library with typed entry points; ``call`` checks every result."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.fns: dict[str, Any] = {}
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(lib, _NEWER.get(name, name), None) or getattr(lib, name, None)
            if fn is None:
                continue  # reported when (if ever) it is called
            fn.argtypes, fn.restype = argtypes, ctypes.c_int
            self.fns[name] = fn

    def raw(self, name: str, *args: Any) -> int:
        fn = self.fns.get(name)
        if fn is None:
            raise DriverNotFoundError(f"the CUDA driver library has no {name}")
        return fn(*args)

    def call(self, name: str, *args: Any, log: str = "") -> None:
        code = self.raw(name, *args)
        if code != SUCCESS:
            raise self.error(name, code, log)

    def error(self, call: str, code: int, log: str = "") -> CudaError:
        name, message = self.describe(code)
        cls = CudaOutOfMemoryError if code == ERROR_OUT_OF_MEMORY else CudaError
        return cls(call, code, name, message, log)

    def describe(self, code: int) -> tuple[str, str]:
        """(name, message) of a CUresult, as the driver spells them."""
        texts = []
        for fn in ("cuGetErrorName", "cuGetErrorString"):
            out = ctypes.c_char_p()
            ok = fn in self.fns and self.fns[fn](code, ctypes.byref(out)) == SUCCESS
            texts.append(out.value.decode(errors="replace") if ok and out.value else "")
        return texts[0] or f"CUresult {code}", texts[1] or "unknown error"


_driver: Driver | None = None
_load_error: str | None = None
# reentrant: opening a context loads the driver first when nothing has yet
_lock = threading.RLock()


def driver() -> Driver:
    """The driver, loaded and initialised on first use; :class:`DriverNotFoundError` if absent."""
    global _driver, _load_error
    if _driver is not None:
        return _driver
    with _lock:
        if _driver is None and _load_error is None:
            _driver, _load_error = _load()
    if _driver is None:
        raise DriverNotFoundError(_load_error or "no CUDA driver")
    return _driver


def _load() -> tuple[Driver | None, str | None]:
    tried = []
    for name in _library_names():
        try:
            lib = ctypes.CDLL(name)
        except OSError as exc:
            tried.append(f"{name}: {exc}")
            continue
        drv = Driver(lib)
        try:
            drv.call("cuInit", 0)
        except CudaError as exc:
            return None, f"the CUDA driver ({name}) did not initialise: {exc}"
        return drv, None
    return None, ("no CUDA driver was found (the NVIDIA driver's libcuda could not be "
                  "loaded: " + "; ".join(tried) + ")")


def reset_for_tests() -> None:
    """Forget the loaded driver and every context (tests point LAZYARR_LIBCUDA elsewhere)."""
    global _driver, _load_error
    with _lock:
        _driver, _load_error = None, None
        _contexts.clear()


def device_count() -> int:
    n = ctypes.c_int(0)
    driver().call("cuDeviceGetCount", ctypes.byref(n))
    return n.value


def is_available() -> bool:
    """Whether a driver loads and reports at least one device (never raises)."""
    try:
        return device_count() > 0
    except (DriverNotFoundError, CudaError):
        return False


def why_unavailable() -> str:
    """The reason :func:`is_available` is False, for error messages."""
    try:
        if device_count() == 0:
            return "the CUDA driver reports no device"
    except (DriverNotFoundError, CudaError) as exc:
        return str(exc)
    return ""


# -- contexts --------------------------------------------------------------------------------
@dataclass(slots=True)
class Context:
    """A device's primary context (the one the CUDA runtime, CuPy and PyTorch share)."""

    ordinal: int
    device: int  # CUdevice handle
    handle: int  # CUcontext
    name: str
    sm_count: int
    compute_capability: tuple[int, int]
    max_threads: int

    def activate(self) -> None:
        """Make this context current on the calling thread (contexts are per thread)."""
        driver().call("cuCtxSetCurrent", _ptr(self.handle))

    @property
    def arch(self) -> str:
        major, minor = self.compute_capability
        return f"sm_{major}{minor}"


_contexts: dict[int, Context] = {}


def context(ordinal: int = 0) -> Context:
    """The primary context of device ``ordinal``, retained once and made current."""
    ctx = _contexts.get(ordinal)
    if ctx is None:
        with _lock:
            ctx = _contexts.get(ordinal) or _open_context(ordinal)
            _contexts[ordinal] = ctx
    ctx.activate()
    return ctx


def _attribute(drv: Driver, dev: int, attr: int) -> int:
    value = ctypes.c_int(0)
    drv.call("cuDeviceGetAttribute", ctypes.byref(value), attr, dev)
    return value.value


def _open_context(ordinal: int) -> Context:
    drv = driver()
    count = device_count()
    if not 0 <= ordinal < count:
        raise ValueError(f"CUDA device {ordinal} does not exist ({count} device(s) found)")
    dev = ctypes.c_int(0)
    drv.call("cuDeviceGet", ctypes.byref(dev), ordinal)
    name = ctypes.create_string_buffer(256)
    drv.call("cuDeviceGetName", name, len(name), dev.value)
    handle = _ptr()
    drv.call("cuDevicePrimaryCtxRetain", ctypes.byref(handle), dev.value)
    return Context(
        ordinal, dev.value, handle.value or 0, name.value.decode(errors="replace"),
        _attribute(drv, dev.value, ATTR_MULTIPROCESSOR_COUNT),
        (_attribute(drv, dev.value, ATTR_CC_MAJOR), _attribute(drv, dev.value, ATTR_CC_MINOR)),
        _attribute(drv, dev.value, ATTR_MAX_THREADS_PER_BLOCK))


def synchronize() -> None:
    driver().call("cuCtxSynchronize")


# -- memory ------------------------------------------------------------------------------
def mem_alloc(nbytes: int) -> int:
    ptr = _dptr(0)
    driver().call("cuMemAlloc_v2", ctypes.byref(ptr), max(int(nbytes), 1))
    return ptr.value


def mem_free(ptr: int) -> None:
    driver().call("cuMemFree_v2", _dptr(ptr))


def mem_info() -> tuple[int, int]:
    """(free, total) bytes on the current context's device."""
    free, total = _c_size(0), _c_size(0)
    driver().call("cuMemGetInfo_v2", ctypes.byref(free), ctypes.byref(total))
    return free.value, total.value


def memcpy_htod(dst: int, src: int, nbytes: int) -> None:
    if nbytes:
        driver().call("cuMemcpyHtoD_v2", _dptr(dst), _ptr(src), nbytes)


def memcpy_dtoh(dst: int, src: int, nbytes: int) -> None:
    if nbytes:
        driver().call("cuMemcpyDtoH_v2", _ptr(dst), _dptr(src), nbytes)


def memcpy_dtod(dst: int, src: int, nbytes: int) -> None:
    if nbytes:
        driver().call("cuMemcpyDtoD_v2", _dptr(dst), _dptr(src), nbytes)


def memset_d8(dst: int, value: int, nbytes: int) -> None:
    if nbytes:
        driver().call("cuMemsetD8_v2", _dptr(dst), value, nbytes)


def pointer_device(ptr: int) -> int:
    """The ordinal of the device that owns device pointer ``ptr``."""
    ordinal = ctypes.c_int(0)
    driver().call("cuPointerGetAttribute", ctypes.byref(ordinal),
                  POINTER_ATTRIBUTE_DEVICE_ORDINAL, _dptr(ptr))
    return ordinal.value


# -- modules and launches ------------------------------------------------------------------
def module_load(image: bytes) -> int:
    """Load PTX (JIT-compiled by the driver for this device); the JIT's log on failure."""
    drv = driver()
    error_log = ctypes.create_string_buffer(_LOG_SIZE)
    info_log = ctypes.create_string_buffer(_LOG_SIZE)
    opts = (ctypes.c_int * 4)(JIT_ERROR_LOG_BUFFER, JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                              JIT_INFO_LOG_BUFFER, JIT_INFO_LOG_BUFFER_SIZE_BYTES)
    # sizes travel in the pointer-sized value slots, as cuda.h documents
    vals = (_ptr * 4)(ctypes.cast(error_log, _ptr), _ptr(_LOG_SIZE),
                      ctypes.cast(info_log, _ptr), _ptr(_LOG_SIZE))
    module = _ptr()
    text = image if image.endswith(b"\0") else image + b"\0"
    code = drv.raw("cuModuleLoadDataEx", ctypes.byref(module), text, 4, opts, vals)
    if code != SUCCESS:
        log = error_log.value.decode(errors="replace").strip()
        raise drv.error("cuModuleLoadDataEx", code, f"JIT log: {log}" if log else "")
    return module.value or 0


def module_unload(module: int) -> None:
    driver().call("cuModuleUnload", _ptr(module))


def module_function(module: int, name: str) -> int:
    fn = _ptr()
    driver().call("cuModuleGetFunction", ctypes.byref(fn), _ptr(module), name.encode())
    return fn.value or 0


def launch(function: int, grid: int, block: int, params: Any, shared: int = 0,
           stream: int = 0) -> None:
    """``cuLaunchKernel`` on a 1-D grid; ``params`` is a ctypes array of argument pointers."""
    driver().call("cuLaunchKernel", _ptr(function), grid, 1, 1, block, 1, 1, shared,
                  _ptr(stream), params, None)


# -- streams and events (timing) -------------------------------------------------------------
def stream_synchronize(stream: int = 0) -> None:
    driver().call("cuStreamSynchronize", _ptr(stream))


class Event:
    """A CUDA event for timing work on a stream (``elapsed_ms`` between two of them)."""

    def __init__(self) -> None:
        handle = _ptr()
        driver().call("cuEventCreate", ctypes.byref(handle), 0)
        self.handle = handle.value

    def record(self, stream: int = 0) -> None:
        driver().call("cuEventRecord", _ptr(self.handle), _ptr(stream))

    def synchronize(self) -> None:
        driver().call("cuEventSynchronize", _ptr(self.handle))

    def elapsed_ms(self, end: Event) -> float:
        ms = ctypes.c_float(0.0)
        driver().call("cuEventElapsedTime", ctypes.byref(ms), _ptr(self.handle),
                      _ptr(end.handle))
        return ms.value

    def __del__(self) -> None:
        drv = _driver
        if drv is not None and self.__dict__.get("handle"):
            drv.raw("cuEventDestroy_v2", _ptr(self.handle))
