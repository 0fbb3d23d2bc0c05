"""CUDA backend: loop-IR kernels compiled to PTX, loaded and launched through the driver API.

Compilation: a :class:`~lazyarr.ir.loop.Kernel` plus the launch-time :class:`Variant`
(vector loads when the arrays are aligned for them, 32-bit index division when the index
space is small, the row strategy) is the cache key, as on the CPU: sizes, pointers, strides
and scalar values are kernel parameters, never baked in. PTX is cached in memory and in the
on-disk cache (``diskcache.py``; the key includes the target architecture, libdevice and
``nvptx.USE_MATHLIB``), and each PTX is loaded once per CUDA context (``cuModuleLoadDataEx``
JIT-compiles it for the device).

Launch: the argument block (``loop.pack_args``, the CPU's layout) is passed as the
kernel's by-value parameters, one 64-bit word each. The driver copies parameters at launch
into the constant bank, so nothing is copied to the device first and the block can be reused
at once. Kernels that can fail (integer power with a negative exponent) get a device status
word, reset before and read back after the launch; all other launches are asynchronous on
the legacy default stream, and results stay on the device as :class:`DeviceArray`.

Data movement: views of leaves, copies, reshapes of strided arrays, concatenate and stack are
launch records the evaluator (``lazyarr.run.runtime``) builds from the plan and hands over:
views through :meth:`CudaBackend.view_of`, copies as copy kernels through ``launch``. The one
opaque op run here is matmul: with CuPy when it is importable (on the same primary context and
stream), else NotImplementedError: no silent round trip through host memory.
"""

from __future__ import annotations

import ctypes
import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lazyarr.ir.graph import Node, Op
from lazyarr.ir.loop import NEGATIVE_POWER, Kernel, Launch, Layout, View, is_memory, pack_args
from lazyarr.ir.reference import opaque_value

from . import cuda_driver as drv
from . import stats
from .cuda_memory import DeviceArray, from_cuda_array_interface

THREADS = 256  # threads per block for elementwise and thread-per-row kernels
BLOCKS_PER_SM = 8  # grid-stride loops: enough blocks to fill every SM, no more
SHORT_ROW = 64  # rows shorter than this get a thread each instead of a block
SPLIT_ROW = 1 << 16  # rows at least this long, when there are few, are split across blocks
SPLIT_CHUNK = 1 << 13  # and each block of the split gets at least this many elements


@dataclass(frozen=True, slots=True)
class Key:
    kernel: Kernel
    variant: Any  # nvptx.Variant
    arch: str
    libdevice: str | None


class Runner(Protocol):
    """Compiles and launches; the real one drives the GPU (tests substitute an emulator)."""

    def function(self, key: Key) -> Any: ...

    def launch(self, function: Any, grid: int, block: int, words: np.ndarray) -> None: ...


# -- compiling ---------------------------------------------------------------------------------
_ptx: dict[Key, str] = {}
_lock = threading.RLock()
_libdevice: list[str | None] = []  # found once per process


def libdevice() -> str | None:
    if not _libdevice:
        from lazyarr.codegen.nvptx import find_libdevice

        _libdevice.append(find_libdevice())
    return _libdevice[0]


def ptx(key: Key) -> str:
    """PTX for ``key``: from memory, the disk cache, or LLVM (counted in ``cache_info``)."""
    found = _ptx.get(key)
    if found is not None:
        return found
    with _lock:
        found = _ptx.get(key) or _ptx_from_disk(key)
        if found is None:
            from lazyarr.codegen.nvptx import emit_ptx

            t0 = time.perf_counter()
            found = emit_ptx(key.kernel, "lazyarr_kernel", key.variant, key.libdevice, key.arch)
            stats.compiled(time.perf_counter() - t0)
            _ptx_to_disk(key, found)
        _ptx[key] = found
    return found


def _disk_key(key: Key) -> bytes | None:
    from . import diskcache

    if not diskcache.enabled():
        return None
    try:
        digest = diskcache.kernel_digest(key.kernel)
    except diskcache.NotCacheable:
        return None
    import llvmlite.binding as llvm
    from lazyarr.codegen import nvptx

    lib = _file_digest(key.libdevice) if key.libdevice else "none"
    # the math switch decides between mathlib and libdevice for the same kernel
    host = (f"ptx; llvm {'.'.join(map(str, llvm.llvm_version_info))}; arch {key.arch}; "
            f"variant {key.variant}; libdevice {lib}; mathlib {nvptx.USE_MATHLIB}")
    return diskcache.entry_key(digest, host)


_digests: dict[str, str] = {}


def _file_digest(path: str) -> str:
    if path not in _digests:
        with open(path, "rb") as f:
            _digests[path] = hashlib.sha256(f.read()).hexdigest()
    return _digests[path]


def _ptx_from_disk(key: Key) -> str | None:
    from . import diskcache

    dk = _disk_key(key)
    data = diskcache.load(dk) if dk is not None else None
    return data.decode() if data is not None else None


def _ptx_to_disk(key: Key, text: str) -> None:
    from . import diskcache

    dk = _disk_key(key)
    if dk is not None:
        diskcache.store(dk, text.encode())


class DriverRunner:
    """PTX loaded per context through the driver; launches on the legacy default stream."""

    def __init__(self) -> None:
        self.functions: dict[tuple[int, Key], int] = {}

    def function(self, key: Key) -> int:
        ctx = drv.context()
        fn = self.functions.get((ctx.handle, key))
        if fn is None:
            with _lock:
                module = drv.module_load(ptx(key).encode())
                fn = self.functions[(ctx.handle, key)] = drv.module_function(
                    module, "lazyarr_kernel")
        return fn

    def launch(self, function: int, grid: int, block: int, words: np.ndarray) -> None:
        base = words.ctypes.data
        params = (ctypes.c_void_p * len(words))(*(base + 8 * k for k in range(len(words))))
        drv.launch(function, grid, block, params)  # copies the parameters before returning


_runner: Runner | None = None


def runner() -> Runner:
    global _runner
    if _runner is None:
        _runner = DriverRunner()
    return _runner


def set_runner(new: Runner | None) -> Runner | None:
    """Swap the runner (tests emulate kernels on the CPU); returns the previous one."""
    global _runner
    old, _runner = _runner, new
    return old


def clear_cache() -> None:
    _ptx.clear()
    _known.clear()
    if isinstance(_runner, DriverRunner):
        _runner.functions.clear()


# -- launching -----------------------------------------------------------------------------------
def arch() -> str:
    """The PTX target for the current device (sm_XY); sm_90 without a device."""
    try:
        return drv.context().arch
    except drv.DriverNotFoundError:
        return "sm_90"


def sm_count() -> int:
    try:
        return drv.context().sm_count
    except drv.DriverNotFoundError:
        return 1


def choose_variant(launch: Launch) -> Any:
    """The code variant for this launch: alignment, index width and row strategy."""
    from lazyarr.codegen.nvptx_kernel import Variant, vector_alignment

    k = launch.kernel
    narrow = math.prod(launch.shape) < 2**31
    if not k.row_ndim:
        params = list(k.inputs) + [o for _, o in k.outputs]
        views = launch.inputs + launch.outputs
        contiguous = [(v, p) for v, p in zip(views, params, strict=True)
                      if p.layout is Layout.CONTIG]
        vector = k.ndim == 1 and bool(contiguous) and all(
            v.address % vector_alignment(p.dtype.itemsize) == 0 for v, p in contiguous)
        return Variant(vector, narrow, "flat")
    from lazyarr.codegen.nvptx_rows import splittable

    row = math.prod(launch.shape[k.outer_ndim:])
    outer = math.prod(launch.shape[:k.outer_ndim])
    if k.column or row < SHORT_ROW:
        strategy = "thread"
    elif row >= SPLIT_ROW and outer < 2 * sm_count() and splittable(k):
        strategy = "split"  # few long rows: one block each would leave SMs idle
    else:
        strategy = "block"
    return Variant(False, narrow, strategy)


def split_chunks(launch: Launch, sms: int) -> int:
    """Chunks per row for split reductions: about a full wave of blocks in all, and at
    least ``SPLIT_CHUNK`` elements each. Fixed by the sizes and the device, not by timing."""
    k = launch.kernel
    row = math.prod(launch.shape[k.outer_ndim:])
    outer = math.prod(launch.shape[:k.outer_ndim])
    want = -(-sms * BLOCKS_PER_SM // outer)
    return max(1, min(want, -(-row // SPLIT_CHUNK)))


def grid_for(launch: Launch, variant: Any, sms: int) -> tuple[int, int]:
    """(blocks, threads per block): grid-stride loops need at most one full wave."""
    from lazyarr.codegen.nvptx_rows import ROW_BLOCK

    k = launch.kernel
    cap = max(1, sms * BLOCKS_PER_SM)
    if variant.strategy == "block":
        return min(math.prod(launch.shape[:k.outer_ndim]), cap), ROW_BLOCK
    if variant.strategy == "thread":
        work = math.prod(launch.shape[:k.outer_ndim])
    else:
        work = math.prod(launch.shape) // (4 if variant.vector else 1)
    return max(1, min(-(-work // THREADS), cap)), THREADS


class _Status:
    """A device int32 per device that failing kernels set (one kernel at a time uses it)."""

    arrays: dict[int, DeviceArray] = {}

    @classmethod
    def get(cls, device: int) -> DeviceArray:
        found = cls.arrays.get(device)
        if found is None:
            found = cls.arrays[device] = DeviceArray.empty((1,), np.int32, device)
        return found


def run(launch: Launch) -> None:
    """Launch one lowered kernel over its whole index space."""
    variant = choose_variant(launch)
    _check_on_device(launch)
    words, _ = pack_args(launch)
    status = _Status.get(0) if launch.kernel.needs_status else None
    if status is not None:
        drv.memset_d8(status.ptr, 0, 4)
        words[-1] = status.ptr
    else:
        words[-1] = 0  # never written: only integer power stores to it
    if variant.strategy == "split":
        _run_split(launch, variant, words)
    else:
        grid, block = grid_for(launch, variant, sm_count())
        runner().launch(_function(launch.kernel, variant), grid, block, words)
    if status is not None and status.to_numpy()[0]:
        raise ValueError(NEGATIVE_POWER)


class Ready:
    """A held expression's one kernel, ready to run again: its inputs are captured device
    arrays, so a repeat allocates the result, writes its address into a copy of the packed
    argument block and launches, with no planning, lowering or packing."""

    __slots__ = ("block", "dtype", "fn", "grid", "runner", "shape", "slot", "strides",
                 "words")
    on_device = True  # (the CPU's ready executors have no such attribute)

    def __init__(self, launch: Launch, variant: Any) -> None:
        out = launch.outputs[0].array
        self.shape, self.dtype, self.strides = out.shape, out.dtype, out.strides
        self.words, _ = pack_args(launch)
        self.words[-1] = 0  # no status word: such kernels are not made ready
        self.slot = launch.kernel.args.output(0)  # the word of the output's address
        self.grid, self.block = grid_for(launch, variant, sm_count())
        self.runner = runner()  # the one its function belongs to (tests swap runners)
        self.fn = self.runner.function(Key(launch.kernel, variant, arch(), libdevice()))

    def one(self) -> DeviceArray:
        drv.context()  # current on this thread (contexts are per thread)
        out = DeviceArray.fresh(self.shape, self.dtype, self.strides)
        words = self.words.copy()  # two threads may repeat one expression at once
        words[self.slot] = out.ptr
        self.runner.launch(self.fn, self.grid, self.block, words)
        stats.hit()
        return out


def ready(launch: Launch) -> Ready | None:
    """``launch`` (one kernel over device arrays into a fresh C-ordered result) made ready to
    repeat; None where a repeat needs the general path: a split reduction (its workspace and
    second kernel), a status word to read back, an empty result, host memory."""
    variant = choose_variant(launch)
    (out,) = launch.outputs
    if variant.strategy == "split" or launch.kernel.needs_status or \
            not math.prod(launch.shape) or out.offset or \
            not all(isinstance(v.array, DeviceArray) for v in launch.inputs + launch.outputs):
        return None
    return Ready(launch, variant)


def _function(kernel: Kernel, variant: Any) -> Any:
    run = runner()
    known = _known.get((id(kernel), variant))
    if known is not None and known[0] is kernel and known[1] is run:
        # a kernel object launched before (a template's): no key to hash, which walks the
        # whole kernel (a third of a small launch)
        drv.context()  # current on this thread, as the runner's lookup would make it
        stats.hit()
        return known[2]
    key = Key(kernel, variant, arch(), libdevice())
    fn = run.function(key)
    if key in _seen:
        stats.hit()
    else:
        stats.miss()
        _seen.add(key)
    if len(_known) >= KNOWN:
        _known.clear()
    _known[(id(kernel), variant)] = (kernel, run, fn)  # holds the kernel: its id stays its
    return fn


KNOWN = 256  # kernel objects remembered with their functions
_known: dict[tuple[int, Any], tuple[Kernel, Any, Any]] = {}


def _run_split(launch: Launch, variant: Any, words: np.ndarray) -> None:
    """The split kernel (chunks of rows into partials), then the combine kernel."""
    from dataclasses import replace

    from lazyarr.codegen.nvptx_rows import ROW_BLOCK

    sms = sm_count()
    k = launch.kernel
    chunks = split_chunks(launch, sms)
    outer = math.prod(launch.shape[:k.outer_ndim])
    reduces = sum(ins.op is Op.REDUCE for ins in k.body)
    # 8 bytes per partial; the allocator keeps the block for the next split reduction, and
    # stream order keeps that one from overwriting it before this one's combine has run
    workspace = DeviceArray.empty((reduces * outer * chunks * 8,), np.uint8)
    extended = np.concatenate([words, np.array([workspace.ptr, chunks], dtype=np.int64)])
    cap = max(1, sms * BLOCKS_PER_SM)
    runner().launch(_function(k, variant), min(outer * chunks, cap), ROW_BLOCK, extended)
    combine = replace(variant, strategy="combine")
    runner().launch(_function(k, combine), min(outer, cap), ROW_BLOCK, extended)


_seen: set[Key] = set()


def _check_on_device(launch: Launch) -> None:
    # a host pointer in a GPU kernel is an illegal address, which ends the CUDA context
    for view in launch.inputs + launch.outputs:
        if not isinstance(view.array, DeviceArray) and is_memory(view.array):
            raise TypeError("the CUDA backend got a host (NumPy) array: lazyarr.eval moves "
                            "arrays to the device only when asked to (target='cuda')")


# -- the backend ---------------------------------------------------------------------------------
class CudaBackend:
    """Kernels on the GPU; results stay there as :class:`DeviceArray`."""

    name = "cuda"
    host = False
    cpu_policies = False  # a long row is spread over thread blocks at launch instead
    lowers = True

    def empty(self, shape: tuple[int, ...], dtype: Any) -> DeviceArray:
        return DeviceArray.empty(shape, dtype)

    def view_of(self, view: View, shape: tuple[int, ...]) -> DeviceArray:
        """The device memory ``view`` describes, zero-copy like NumPy's asarray (a whole
        array: itself)."""
        array = view.array
        if not isinstance(array, DeviceArray):
            raise TypeError("the CUDA backend got a host (NumPy) leaf: lazyarr.eval moves "
                            "leaves to the device only when asked to (target='cuda')")
        if view.offset == 0 and shape == array.shape and view.strides == array.strides:
            return array
        return array.view(shape, view.strides, view.offset)

    def compile(self, kernel: Kernel) -> Kernel:
        return kernel  # compiled at launch, per code variant (see ``choose_variant``)

    def launch(self, program: Kernel, launch: Launch) -> None:
        run(launch)

    def run_opaque(self, node: Node, args: list[DeviceArray]) -> DeviceArray:
        """Matmul, take and scatter_add (through CuPy), host calls (NumPy, through host
        memory); the evaluator makes reshapes and joins from copy launches."""
        if node.op is Op.HOST:  # NumPy's function: through host memory
            value = opaque_value(node, [a.to_numpy() for a in args])
            return DeviceArray.from_numpy(value)  # (C order, native, 0-d kept 0-d)
        if node.op not in (Op.MATMUL, Op.TAKE, Op.SCATTER_ADD):
            raise NotImplementedError(f"{node.op.value} runs as copy launches on the device")
        return _cupy_op(node, args)

    def run_nodes(self, roots: Any, known: dict[int, Any]) -> list[Any]:
        raise NotImplementedError("the CUDA backend lowers every kernel step")


BACKEND = CudaBackend()


def _cupy_op(node: Node, args: list[DeviceArray]) -> DeviceArray:
    try:
        import cupy
    except ImportError:
        raise NotImplementedError(
            f"{node.op.value} on the CUDA target needs CuPy (not installed); "
            "evaluate it with target='cpu'") from None
    drv.stream_synchronize(0)  # CuPy may use another stream: lazyarr's inputs first
    a, b = (cupy.asarray(x) for x in args)
    if node.op is Op.TAKE:
        result = cupy.take(a, b, axis=node.arg)
    elif node.op is Op.SCATTER_ADD:
        import cupyx

        result = cupy.zeros(node.shape, node.dtype)
        cupyx.scatter_add(result, (slice(None),) * node.arg[0] + (b,), a)
    else:
        result = (cupy.matmul if node.arg == "matmul" else cupy.dot)(a, b)
    result = result.astype(node.dtype)
    cupy.cuda.get_current_stream().synchronize()
    return from_cuda_array_interface(result)
