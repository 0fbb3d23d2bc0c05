"""Complex values over Dask arrays and on CUDA devices, against NumPy and the CPU.

Dask: a complex Dask array is captured as its lazy ``.real`` and ``.imag``; a complex result
is a Dask array whose chunks are filled part by part by one task each (both parts computed
by one kernel), never as ``re + 1j * im`` (which turns an infinite part into NaN's). Host
calls (``prod``, ``matmul``, ``fft``) run NumPy once per call, as for real values.

CUDA: a complex device array is captured as two strided views of its memory; a complex
result is one kernel writing both parts interleaved into one device buffer, seen as complex
memory. The emulated device of ``test_cuda_nogpu.py`` (the CPU's bits for lazyarr's own
math) runs it end to end; ``ptxas -arch=sm_90`` assembles the PTX of the same kernels.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import test_cuda_nogpu
from test_complex import assert_close, randn, specials

import lazyarr as la
from lazyarr.front import complexes
from lazyarr.front.array import LazyArray
from lazyarr.ir.graph import Buffer

COMPLEX = ("complex64", "complex128")
# the emulated device: test_cuda_nogpu's fixtures, for this module
fake_libcuda = test_cuda_nogpu.fake_libcuda
emulated = test_cuda_nogpu.emulated


def numpy(fn: Callable[..., Any], *args: Any) -> Any:
    with np.errstate(all="ignore"):
        return fn(*args)


# -- Dask --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def da() -> Iterator[Any]:
    """dask.array, with ``Buffer.dask`` put back afterwards (a Dask leaf sets it for the
    process, after which every evaluation looks for Dask leaves)."""
    module = pytest.importorskip("dask.array")
    before = Buffer.dask
    yield module
    Buffer.dask = before


def _computed(result: Any, da: Any) -> np.ndarray:
    assert isinstance(result, da.Array)  # still lazy
    with np.errstate(all="ignore"):
        return result.compute(scheduler="sync")


# expressions of a complex z, a complex w and a real x (one namespace: np or la)
DASK_EXPRS: dict[str, Callable[[Any, Any, Any, Any], Any]] = {
    "arith": lambda m, z, w, x: z * w + 1j,
    "divide": lambda m, z, w, x: (z - w) / (z + 2),
    "mixed-real": lambda m, z, w, x: z * x - x / 2 + w,
    "conj-square": lambda m, z, w, x: m.conj(z) * m.square(w),
    "exp": lambda m, z, w, x: m.exp(z) * w,
    "where": lambda m, z, w, x: m.where(x > 0, z, w * 1j),
    "abs": lambda m, z, w, x: m.abs(z * w) + x,  # a real result of complex values
    "real-imag": lambda m, z, w, x: m.real(z) - m.imag(w),
}


@pytest.mark.parametrize("name", sorted(DASK_EXPRS))
@pytest.mark.parametrize("dtype", COMPLEX)
def test_dask_elementwise(da: Any, name: str, dtype: str, rng: np.random.Generator) -> None:
    z, w = randn(rng, (7, 9), dtype), randn(rng, (7, 9), dtype)
    x = rng.standard_normal((7, 9)).astype(np.float32)
    fn = DASK_EXPRS[name]
    dz, dw, dx = (da.from_array(a, chunks=c) for a, c in ((z, (3, 4)), (w, (2, 9)), (x, 5)))
    got = fn(la, la.asarray(dz), la.asarray(dw), la.asarray(dx)).eval()
    want = numpy(fn, np, z, w, x)
    # lazyarr's exp is its own (within a few ULPs of NumPy's); the rest NumPy's formulas,
    # whose parts cancel: ULPs of the operands' size (about 1) at least
    assert_close(_computed(got, da), want, ulps=8, scale=8.0)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_dask_results_are_the_numpy_leaves_bits(da: Any, dtype: str,
                                                rng: np.random.Generator) -> None:
    """Chunk by chunk, the same kernel as over NumPy arrays: the same bits."""
    z = randn(rng, (20, 11), dtype)
    w = randn(rng, (11,), dtype)
    cases = [(lambda a, b: a * b + 1j, 0), (lambda a, b: la.sqrt(a) / b, 0),
             (lambda a, b: a.T @ a, 64)]  # (BLAS's blocking may differ with the layout)
    for fn, ulps in cases:
        host = fn(la.asarray(z), la.asarray(w)).eval()
        dask = fn(la.asarray(da.from_array(z, chunks=(6, 5))),
                  la.asarray(da.from_array(w, chunks=4))).eval()
        assert_close(_computed(dask, da), host, ulps=ulps, scale=np.abs(host).max())


def test_dask_special_values_are_kept(da: Any) -> None:
    """Infinite and NaN parts pass through as NumPy has them: no ``re + 1j * im``."""
    for dtype in COMPLEX:
        z = specials(dtype)
        dz = la.asarray(da.from_array(z, chunks=17))
        assert_close(_computed(dz.eval(), da), z, ulps=0)
        assert_close(_computed((dz * 1).eval(), da), numpy(np.multiply, z, 1), ulps=0)
        assert_close(_computed(la.conj(dz).eval(), da), np.conj(z), ulps=0)
        assert_close(_computed((-dz).eval(), da), -z, ulps=0)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("dtype", COMPLEX)
def test_dask_reductions(da: Any, axis: Any, dtype: str, rng: np.random.Generator) -> None:
    z = randn(rng, (12, 10), dtype)
    dz = la.asarray(da.from_array(z, chunks=(5, 4)))
    for name in ("sum", "mean"):
        got = _computed(getattr(dz, name)(axis=axis).eval(), da)
        want = getattr(z, name)(axis=axis)
        assert_close(got, want, ulps=16, scale=np.abs(z).sum(axis=axis) / z.size * 10)
    got = _computed((dz * 2j).sum(axis=axis, keepdims=True).eval(), da)
    want = (z * 2j).sum(axis=axis, keepdims=True)
    assert_close(got, want, ulps=16, scale=np.abs(z).sum(axis=axis, keepdims=True) * 2)


@pytest.mark.parametrize("dtype", COMPLEX)
def test_dask_host_calls(da: Any, dtype: str, rng: np.random.Generator) -> None:
    """prod, matmul and fft: NumPy's, on the whole (evaluated) arrays."""
    z = randn(rng, (6, 8), dtype) * 0.7
    w = randn(rng, (8, 3), dtype)
    dz, dw = (la.asarray(da.from_array(a, chunks=3)) for a in (z, w))
    cases = [(dz.prod(axis=1), z.prod(axis=1)), (dz @ dw, z @ w),
             (la.fft.fft(dz, axis=0), np.fft.fft(z, axis=0)),
             (la.fft.ifft(dz * 2), np.fft.ifft(z * 2)),
             (la.matmul(dz, la.asarray(da.from_array(w.real.copy(), chunks=4))), z @ w.real)]
    for got, want in cases:
        value = _computed(got.eval(), da)
        assert_close(value, want, ulps=64, scale=np.abs(want).max())


_CALLS: list[int] = []


def _counted_fft(z: np.ndarray) -> np.ndarray:
    _CALLS.append(1)
    return np.fft.fft(z)


def test_dask_host_call_with_complex_result_runs_once(da: Any) -> None:
    """Both parts of a complex host result come from one call of the NumPy function."""
    z = np.exp(1j * np.arange(8.0))
    node = complexes.host_value("counted", _counted_fft, [la.asarray(da.from_array(
        z, chunks=3))._node], ((8,), np.dtype(np.complex128)))
    _CALLS.clear()
    value = _computed(LazyArray(node).eval(), da)
    assert len(_CALLS) == 1
    assert_close(value, np.fft.fft(z), ulps=0)


def test_dask_mixed_with_numpy_and_several_results(da: Any, rng: np.random.Generator) -> None:
    z = randn(rng, (5, 6), "complex128")
    h = randn(rng, (6,), "complex64")  # a NumPy leaf in the same expression
    dz = la.asarray(da.from_array(z, chunks=2))
    a, b, c = la.eval(dz * la.asarray(h), abs(dz), dz.sum())
    assert_close(_computed(a, da), z * h, ulps=4, scale=np.abs(z * h))
    np.testing.assert_allclose(_computed(b, da), np.abs(z), rtol=1e-15)
    assert_close(_computed(c, da), z.sum(), ulps=16, scale=np.abs(z).sum())
    assert a.dtype == np.complex128 and _computed(a, da).dtype == np.complex128


def test_dask_refusals(da: Any) -> None:
    dz = la.asarray(da.ones(4, dtype=np.complex64, chunks=2))
    assert dz.dtype == np.complex64
    with pytest.raises(ValueError, match="out= is not supported"):
        (dz * 2).eval(out=np.empty(4, np.complex64))
    with pytest.raises(ValueError, match="Dask"):
        (dz * 2).eval(target="cuda")


# -- CUDA: the emulated device -------------------------------------------------------------------
def _device(a: np.ndarray) -> Any:
    return la.asarray(a, device="cuda")


def _on_gpu(expr: LazyArray) -> np.ndarray:
    from lazyarr.backends.cuda_memory import DeviceArray

    result = la.eval(expr, target="cuda")
    assert isinstance(result, DeviceArray) and result.dtype == expr.dtype
    assert result.shape == expr.shape and result.is_c_contiguous
    return result.to_numpy()


def _cpu(expr: LazyArray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(la.eval(expr, target="cpu"))


def test_device_complex_leaves_are_strided_views(emulated: Any) -> None:
    z = np.array([[1 + 2j, -3.5j], [np.inf, complex(np.nan, -0.0)]])
    x = _device(z)
    whole = x._node  # the pair of device leaves
    re, im = (p.arg.array for p in whole.src)
    assert re.dtype == im.dtype == np.float64 and re.strides == im.strides == (32, 16)
    assert im.ptr == re.ptr + 8
    assert_close(_on_gpu(x), z, ulps=0)  # the leaf itself, interleaved again
    assert_close(_on_gpu(x.T), z.T, ulps=0)
    assert_close(_on_gpu(x.real * 1), z.real, ulps=0)
    assert_close(_on_gpu(x.imag + 0), z.imag + 0, ulps=0)
    result = la.eval(x * 2)
    assert type(result).__name__ == "DeviceArray"  # device leaves: evaluated on the device
    assert_close(la.asarray(result).eval(target="cpu"), numpy(np.multiply, z, 2), ulps=0)


# expressions of complex z and w and real x, each evaluated on the device and on the CPU
DEVICE_EXPRS: dict[str, Callable[[Any, Any, Any], Any]] = {
    "arith": lambda z, w, x: z * w + 1j,
    "divide": lambda z, w, x: z / w - x,
    "reciprocal-sign": lambda z, w, x: la.reciprocal(z) + la.sign(w),
    "exp-log": lambda z, w, x: la.exp(z) * la.log(w),
    "sqrt-sin": lambda z, w, x: la.sqrt(z) + la.sin(w),
    "abs-angle": lambda z, w, x: abs(z) + la.angle(w) * x,
    "compare": lambda z, w, x: (z == w) | (z != z * x) | la.isnan(w),
    "where-broadcast": lambda z, w, x: la.where(x > 0, z, w[0]),
    "views": lambda z, w, x: z[::-2, 1:].T * w[::2, :-1].T,
    "sum-rows": lambda z, w, x: (z * w).sum(axis=1),
    "mean-all": lambda z, w, x: (z - w).mean(),
    "var": lambda z, w, x: z.var(axis=0),
}


@pytest.mark.parametrize("name", sorted(DEVICE_EXPRS))
@pytest.mark.parametrize("dtype", COMPLEX)
def test_emulated_complex_is_the_cpus_bits(emulated: Any, name: str, dtype: str,
                                           rng: np.random.Generator) -> None:
    """One kernel per shape writes both parts on the device: the CPU's values (lazyarr's own
    math on both; sums combine in a different order on the device, so they are close)."""
    z, w = randn(rng, (9, 70), dtype), randn(rng, (9, 70), dtype)
    x = rng.standard_normal((9, 70)).astype(np.float32)
    fn = DEVICE_EXPRS[name]
    got = _on_gpu(fn(_device(z), _device(w), _device(x)))
    cpu = _cpu(fn(la.asarray(z), la.asarray(w), la.asarray(x)))
    exact = not name.startswith(("sum", "mean", "var"))
    assert_close(got, cpu, ulps=0 if exact else 8, scale=None if exact else np.abs(cpu).max())


def test_emulated_special_values(emulated: Any) -> None:
    """Infinities, NaN and signed zeros in both parts survive the interleaving."""
    for dtype in COMPLEX:
        z = specials(dtype)
        w = z[::-1].copy()
        for fn in (lambda a, b: a, lambda a, b: a * b, lambda a, b: a / b, lambda a, b: -a,
                   lambda a, b: la.conj(b) + a, lambda a, b: la.exp(a)):
            got = _on_gpu(fn(_device(z), _device(w)))
            assert_close(got, _cpu(fn(la.asarray(z), la.asarray(w))), ulps=0)
        # NumPy's vectorised multiply fuses a product (FMA): ULPs of |z| |w| (docs/complex.md)
        size = np.nan_to_num(numpy(np.multiply, abs(z), abs(w)), nan=np.inf)
        assert_close(_on_gpu(_device(z) * _device(w)), numpy(np.multiply, z, w), ulps=4,
                     scale=size)


def test_emulated_host_arrays_copied_with_target(emulated: Any,
                                                 rng: np.random.Generator) -> None:
    z = randn(rng, (33,), "complex64")
    y = np.arange(33, dtype=np.int16)
    expr = la.asarray(z) * la.asarray(y) + 0.5j  # host leaves, copied when asked to
    assert_close(_on_gpu(expr), _cpu(expr), ulps=0)
    assert _on_gpu(expr).dtype == np.complex64
    several = la.eval(la.asarray(z) * 2, abs(la.asarray(z)), la.asarray(y) + 1, target="cuda")
    assert [r.dtype for r in several] == [np.complex64, np.float32, np.int16]
    assert_close(several[0].to_numpy(), z * 2, ulps=0)
    empty = _device(np.zeros((0, 3), np.complex128)) * 1j
    assert _on_gpu(empty).shape == (0, 3)
    assert_close(_on_gpu(_device(np.array(2 - 1j)) * 1j), np.array(1 + 2j), ulps=0)


def test_emulated_host_calls_and_foreign_arrays(emulated: Any,
                                                rng: np.random.Generator) -> None:
    from lazyarr.backends import cuda_memory

    z = randn(rng, (5, 4), "complex128")
    x = _device(z)
    # prod and fft are NumPy's on the host: through host memory, back on the device
    assert_close(_on_gpu(x.prod(axis=0)), z.prod(axis=0), ulps=0)
    assert_close(_on_gpu(la.fft.fft(x) * 2), np.fft.fft(z) * 2, ulps=0)
    owner = cuda_memory.DeviceArray.from_numpy(z)

    class Foreign:  # what CuPy would hand over: a complex CUDA array interface
        __cuda_array_interface__ = owner.__cuda_array_interface__

    y = la.asarray(Foreign())
    assert y._node.src[0].arg.array.ptr == owner.ptr  # no copy
    assert_close(_on_gpu(y * 1j), _cpu(la.asarray(z) * 1j), ulps=0)


def test_emulated_refusals(emulated: Any) -> None:
    x = _device(np.ones(4, np.complex64))
    with pytest.raises(NotImplementedError, match="out="):
        la.eval(x * 2, out=np.empty(4, np.complex64), target="cuda")
    with pytest.raises(TypeError, match="mixes host"):
        (x + la.asarray(np.ones(4, np.complex64))).eval()


# -- CUDA: PTX for sm_90 -------------------------------------------------------------------------
PTX_EXPRS: dict[str, Callable[[Any, Any], Any]] = {
    "arith": lambda z, w: z * w + 1j,
    "divide": lambda z, w: z / w,
    "exp": lambda z, w: la.exp(z),
    "sum": lambda z, w: (z * w).sum(axis=1),
    "strided": lambda z, w: z[:, ::2] * 2,
}


@pytest.mark.parametrize("name", sorted(PTX_EXPRS))
@pytest.mark.parametrize("dtype", COMPLEX)
def test_ptx_of_complex_kernels_assembles(name: str, dtype: str, tmp_path: Path) -> None:
    """The kernels a complex result runs on the device (both parts interleaved into one
    buffer) are PTX that ``ptxas -arch=sm_90`` accepts."""
    pytest.importorskip("llvmlite")
    import test_ptx
    from lazyarr.codegen import nvptx

    z = la.asarray(np.ones((4, 80), dtype))
    w = la.asarray(np.full((4, 80), 1j, dtype))
    node = PTX_EXPRS[name](z, w)._node
    kernels = la.explain(LazyArray(complexes.interleaved(node)), target="cuda").kernel_objects
    assert kernels and all(not k.split for k in kernels)
    paths = []
    for n, kernel in enumerate(kernels):
        ptx = nvptx.emit_ptx(kernel, "lazyarr_kernel")
        assert ".entry lazyarr_kernel" in ptx and ".extern" not in ptx
        paths.append(tmp_path / f"complex{n}.ptx")
        paths[-1].write_text(ptx)
    if not shutil.which("ptxas"):
        pytest.skip("ptxas is not on PATH: PTX was emitted but not assembled")
    for path in paths:
        complaint = test_ptx._ptxas(path)
        assert complaint is None, f"ptxas -arch=sm_90 rejects {name}: {complaint}"
