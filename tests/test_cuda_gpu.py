"""The CUDA backend on a real GPU (marked ``gpu``; skipped where no driver and device are).

* The differential suites (``test_differential.py``, and the tests of ``test_reductions.py``
  that take a ``backend``) run again here with target="cuda": their module-level ``la`` is
  swapped for a shim whose ``eval`` evaluates on the GPU and copies the result back, and
  their backend list is just "cuda". Ops the GPU cannot compile here (no libdevice found)
  are skipped with the refusal's message, not failed.
* lazyarr's own math (``mathlib``) on the device: NumPy's special values and the differential
  bound, the CPU target's bits (the same IR; NaN payloads aside), huge trigonometric
  arguments against mpmath.
* The emulated device's tests (``test_cuda_nogpu.py``: every layout of the elementwise
  kernels, the variants each launch gets, reductions and row kernels with each strategy,
  split reductions, views, joins and reshapes on the device, gradients, random numbers,
  ``benchmarks/gpu_bench.py`` at small sizes) on the device, its launches recorded.
* Interchange round trips with CuPy, PyTorch and Numba, each when installed.
* The caching allocator, out-of-memory errors, and a context that survives a failed launch.

Run on a GPU machine with ``python -m pytest tests/test_cuda_gpu.py -m gpu`` (or all of
``benchmarks/gpu_check.sh``). ``--emulate-gpu`` runs it here on the emulated device of
``test_cuda_nogpu.py`` instead: a dry run of the suite's own logic (about 9 minutes on two
cores), which is what a lent device's few minutes should not be spent on.
"""

from __future__ import annotations

import inspect
import os
import sys
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_cuda_nogpu
import test_differential
import test_reductions
from lazyarr.backends import cuda_driver, cuda_memory
from test_cuda_nogpu import (
    MATH_DTYPES,
    MATHLIB_BINARY,
    MATHLIB_UNARY,
    _math_expr,
    _math_operands,
    _trig_limit,
    split_early,  # noqa: F401  (a fixture of the emulator's tests run here)
)

import lazyarr as la

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not cuda_driver.is_available(),
                       reason=f"no usable CUDA GPU: {cuda_driver.why_unavailable()}"),
]


class _OnCuda:
    """``lazyarr`` as the differential suites use it, with ``eval`` on the GPU."""

    def __getattr__(self, name: str) -> Any:
        return getattr(la, name)

    @staticmethod
    def eval(*exprs: Any, backend: str | None = None, out: Any = None,
             target: str | None = None) -> Any:
        from lazyarr.codegen.nvptx import UnsupportedOnTarget

        if out is not None:
            pytest.skip("out= is not supported on the CUDA target yet")
        try:
            result = la.eval(*exprs, target="cuda")
        except UnsupportedOnTarget as exc:
            pytest.skip(str(exc))
        if isinstance(result, tuple):
            return tuple(np.asarray(r) for r in result)
        return np.asarray(result)


@pytest.fixture(autouse=True)
def _suites_on_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (test_differential, test_reductions):
        monkeypatch.setattr(module, "la", _OnCuda())
    monkeypatch.setattr(test_differential, "BACKENDS", ("cuda",))


@pytest.fixture
def backend() -> str:
    """Overrides conftest's backend fixture: every suite test here runs on CUDA."""
    return "cuda"


# every test of the differential suite, and the reduction tests that take a backend
globals().update({name: fn for name, fn in vars(test_differential).items()
                  if name.startswith("test_") and callable(fn)})
globals().update({f"test_reductions_{name[5:]}": fn
                  for name, fn in vars(test_reductions).items()
                  if name.startswith("test_") and callable(fn)
                  and "backend" in inspect.signature(fn).parameters})


# -- the emulator's tests, on the device ------------------------------------------------------
class _Recorder:
    """The driver's runner, noting each launch's (variant, grid, block) as the emulator does:
    the emulated device's tests assert on them."""

    def __init__(self) -> None:
        from lazyarr.backends import cuda

        self.inner = cuda.runner()  # the driver's (or, with --emulate-gpu, the emulator)
        self.launches: list[tuple[Any, int, int]] = []

    def function(self, key: Any) -> Any:
        return key, self.inner.function(key)

    def launch(self, function: Any, grid: int, block: int, words: Any) -> None:
        key, fn = function
        self.launches.append((key.variant, grid, block))
        self.inner.launch(fn, grid, block, words)


_RECORDER: list[_Recorder] = []  # one for the process: the modules it loaded stay loaded


@pytest.fixture
def emulated() -> Any:
    """The emulated device's fixture, for its tests run here: the real device, recorded."""
    from lazyarr.backends import cuda

    if not _RECORDER:
        _RECORDER.append(_Recorder())
    old = cuda.set_runner(_RECORDER[0])
    yield _RECORDER[0]
    cuda.set_runner(old)


def _on_device(fn: Any) -> bool:
    """The emulator's tests that mean the same on a GPU: not those of the stand-in driver
    (its memory limit and counters) nor the emulated CPU bits with NaN payloads (on a GPU
    every NaN it computes is canonical: test_mathlib_on_the_gpu_is_the_cpus_bits)."""
    if "emulated" not in inspect.signature(fn).parameters:
        return False
    source = inspect.getsource(fn)
    return "fake(" not in source and "Fake GPU" not in source and \
        fn.__name__ != "test_emulated_mathlib_is_the_cpus_bits"


globals().update({"test_on_device_" + name.removeprefix("test_").removeprefix("emulated_"): fn
                  for name, fn in vars(test_cuda_nogpu).items()
                  if name.startswith("test_") and callable(fn) and _on_device(fn)})


# -- lazyarr's own device arrays ---------------------------------------------------------------
def test_round_trip_and_results_on_device() -> None:
    h = np.random.default_rng(0).standard_normal(1 << 20).astype(np.float32)
    x = la.asarray(h, device="cuda")
    r = (la.exp(-x) * x + 1).eval()
    assert isinstance(r, cuda_memory.DeviceArray) and r.device == "cuda:0"
    np.testing.assert_allclose(r.to_numpy(), np.exp(-h) * h + 1, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(r), r.to_numpy())


def test_allocator_reuses_device_memory() -> None:
    x = la.asarray(np.ones(1 << 16, np.float32), device="cuda")
    (x * 2).eval()
    before = cuda_memory.allocator.stats()["driver_allocs"]
    for _ in range(10):
        (x * 2).eval()
    assert cuda_memory.allocator.stats()["driver_allocs"] == before
    assert cuda_memory.allocator.stats()["cached"] > 0
    # (not the driver's free memory: other test processes share the device)
    cuda_memory.empty_cache()
    assert cuda_memory.allocator.stats()["cached"] == 0


def test_out_of_memory_is_memory_error() -> None:
    _, total = cuda_driver.mem_info()
    with pytest.raises(MemoryError, match="CUDA_ERROR_OUT_OF_MEMORY"):
        cuda_memory.DeviceArray.empty((2 * total,), np.uint8)
    (la.asarray(np.ones(4), device="cuda") + 1).eval()  # and the context still works


def test_context_survives_a_failed_launch() -> None:
    from lazyarr.backends import cuda

    x = la.asarray(np.ones(1000, np.float32), device="cuda")
    (x + 1).eval()
    fn = next(iter(cuda.runner().functions.values()))
    with pytest.raises(cuda_driver.CudaError, match="cuLaunchKernel"):
        cuda_driver.launch(fn, 1, 4096, None)  # more threads than a block may have
    np.testing.assert_array_equal((x + 1).eval().to_numpy(), 2.0)


def test_integer_power_error_and_recovery() -> None:
    x = la.asarray(np.array([2, 3], np.int64), device="cuda")
    with pytest.raises(ValueError, match="negative integer powers"):
        (x ** la.asarray(np.array([1, -1], np.int64), device="cuda")).eval()
    np.testing.assert_array_equal((x ** 2).eval().to_numpy(), [4, 9])


def test_large_float32_uses_vector_loads_and_matches() -> None:
    from lazyarr.backends import cuda

    n = (1 << 24) + 3  # a tail after the groups of four
    h = np.arange(n, dtype=np.float32)
    x = la.asarray(h, device="cuda")
    np.testing.assert_array_equal((x * 2 + 1).eval().to_numpy(), h * 2 + 1)
    assert any(k.variant.vector for (_, k) in cuda.runner().functions)


def test_reductions_are_deterministic_on_the_gpu() -> None:
    h = np.random.default_rng(1).standard_normal((64, 100_000)).astype(np.float32)
    x = la.asarray(h, device="cuda")
    first = x.sum(axis=1).eval().to_numpy()
    for _ in range(3):
        assert x.sum(axis=1).eval().to_numpy().tobytes() == first.tobytes()
    np.testing.assert_allclose(first, h.astype(np.float64).sum(axis=1), rtol=1e-4, atol=1e-2)


# -- mathlib on the device -----------------------------------------------------------------------
@pytest.mark.parametrize("dt", MATH_DTYPES)
@pytest.mark.parametrize("name", MATHLIB_UNARY + MATHLIB_BINARY)
def test_mathlib_on_the_gpu_is_the_cpus_bits(name: str, dt: str) -> None:
    """The GPU runs the IR the CPU runs, so it must give the CPU target's bits: this checks
    NVPTX code generation and the device's IEEE arithmetic (no contraction, no flushing of
    subnormals, correctly rounded division). Not compared: NaN payloads (a GPU makes every
    NaN it computes canonical), arguments beyond the trigonometric reduction (Payne-Hanek
    here, the C library on the CPU: at most 2 ULP apart) and logaddexp (libm on the CPU)."""
    args = _math_operands(name, dt)
    expr = _math_expr(name, *map(la.asarray, args))
    gpu = la.eval(expr, target="cuda").to_numpy()
    cpu = np.asarray(la.eval(expr, target="cpu"))
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(*args)
    bound = 0 if name == "sqrt" else test_differential.TRANSCENDENTAL
    test_differential.assert_same(gpu, expected, bound, what=f"{name} {dt}")
    if name == "logaddexp":
        return
    skip = np.isnan(cpu)
    if name in ("sin", "cos", "tan"):
        a = np.abs(args[0])
        huge = (a > _trig_limit(np.dtype(dt))) & np.isfinite(a)
        assert test_differential.ulp_distance(gpu[huge], cpu[huge]).max() <= 2
        skip |= huge
    assert (np.isnan(gpu) == np.isnan(cpu)).all()
    bits = f"u{np.dtype(dt).itemsize}"
    differ = gpu.view(bits) != cpu.view(bits)
    assert not (differ & ~skip).any(), (args[0][differ & ~skip][:5], gpu[differ & ~skip][:5])


# -- interchange -------------------------------------------------------------------------------
def test_cupy_round_trip() -> None:
    cupy = pytest.importorskip("cupy")
    c = cupy.arange(12, dtype=cupy.float32).reshape(3, 4)
    x = la.asarray(c)  # zero-copy through __cuda_array_interface__
    assert x._node.arg.array.ptr == c.data.ptr
    r = (x * 2).eval()
    back = cupy.asarray(r)  # and back, zero-copy
    assert back.data.ptr == r.ptr
    cupy.testing.assert_array_equal(back, c * 2)
    d = cupy.from_dlpack(r)
    cupy.testing.assert_array_equal(d, c * 2)


def test_torch_round_trip() -> None:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch without CUDA")
    t = torch.arange(12, dtype=torch.float32, device="cuda").reshape(3, 4)
    x = la.asarray(t)
    assert x._node.arg.array.ptr == t.data_ptr()
    r = (x.T + 1).eval()
    u = torch.from_dlpack(r)
    assert u.data_ptr() == r.ptr
    torch.testing.assert_close(u, t.T + 1)
    v = torch.as_tensor(r, device="cuda")  # through __cuda_array_interface__
    torch.testing.assert_close(v, t.T + 1)
    w = la.asarray(t.T)  # a strided view, through DLPack or the interface
    np.testing.assert_array_equal((w * 1).eval().to_numpy(), (t.T * 1).cpu().numpy())


def test_numba_round_trip() -> None:
    numba_cuda = pytest.importorskip("numba.cuda")
    if not numba_cuda.is_available():
        pytest.skip("Numba without CUDA")
    a = numba_cuda.to_device(np.arange(8, dtype=np.int32))
    r = (la.asarray(a) * 3).eval()
    np.testing.assert_array_equal(numba_cuda.as_cuda_array(r).copy_to_host(),
                                  np.arange(8) * 3)
