"""Arrays in the other byte order (big-endian on x86: FITS files, network formats) and
misaligned arrays, read and written in place.

A leaf of a byte-swapped array has the native dtype (``>f8`` computes as float64, as in
NumPy's ufuncs); the kernel loads each element as an integer and swaps its bytes, and stores
into a swapped ``out=`` the same way. Every result is compared with NumPy's: values (NaN,
infinities and signed zeros included), dtype and shape, on both backends.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from kernel_cases import kernel_of
from lazyarr.backends import cpu
from lazyarr.codegen import nvptx
from lazyarr.codegen.nvptx import Variant

import lazyarr as la
from lazyarr.config import settings
from lazyarr.ir import dtypes
from lazyarr.ir.loop import Kernel
from lazyarr.run.runtime import single_launch as lower_kernel

DTYPES = sorted(dtypes.SUPPORTED, key=lambda d: (d.kind, d.itemsize))
N = 67  # a vectorised main loop and a remainder for every dtype


def swapped(x: np.ndarray) -> np.ndarray:
    """``x``'s values in the non-native byte order (one-byte dtypes have none)."""
    return x.astype(x.dtype.newbyteorder("S"))


def misaligned(x: np.ndarray) -> np.ndarray:
    """A writeable copy of ``x`` whose elements start one byte past an aligned address."""
    raw = np.zeros(x.nbytes + 1, np.uint8)
    out = np.ndarray(x.shape, x.dtype, buffer=raw, offset=1)
    out[...] = x
    return out


def check(got: np.ndarray, expected: np.ndarray) -> None:
    """NumPy's values (NaN where NumPy has NaN, the sign of zeros), dtype and shape."""
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == expected.dtype and got.dtype.isnative, (got.dtype, expected.dtype)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    if got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def values(dt: np.dtype, n: int = N, seed: int = 0) -> np.ndarray:
    """``n`` values of ``dt`` in native order, the extremes of the type among them."""
    rng = np.random.default_rng(seed)
    if dt.kind == "b":
        return rng.random(n) < 0.5
    if dt.kind == "f":
        x = rng.standard_normal(n).astype(dt) * 100
        x[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, np.finfo(dt).max]
        return x
    info = np.iinfo(dt)
    x = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    x[:2] = [info.min, info.max]
    return x


def elementwise(a, b) -> list:
    """A few ops that NumPy and lazyarr define alike for every dtype of ``a`` and ``b``."""
    if a.dtype.kind == "b":
        return [a & b, a | b, a ^ b, ~a, la.logical_not(a) if isinstance(a, la.LazyArray)
                else np.logical_not(a)]
    mx = la.maximum if isinstance(a, la.LazyArray) else np.maximum
    return [a + b, a * b, a - b, mx(a, b), a > b, abs(a)]


# -- the lazy graph -------------------------------------------------------------------------
def test_a_swapped_leaf_computes_in_the_native_dtype():
    x = np.arange(5, dtype=">f8")
    lazy = la.asarray(x)
    assert lazy.dtype == np.float64 and lazy.dtype.isnative
    assert (lazy * 2).dtype == (x * 2).dtype == np.float64
    assert (la.asarray(np.arange(3, dtype=">i2")) * 2).dtype == np.int16
    assert "float64" in repr(lazy) and ">f8" not in repr(lazy * 2)


def test_unsupported_dtypes_name_their_byte_order():
    with pytest.raises(TypeError, match=r">f16 \(float128, big-endian\) is not supported"):
        la.asarray(np.zeros(3, ">f16"))
    with pytest.raises(TypeError, match=r"dtype float128 is not supported"):
        la.asarray(np.zeros(3, "f16"))  # a native dtype: no byte order to speak of


def test_big_endian_complex_and_float16_are_read_and_written_in_place():
    z = (np.arange(3.0) + 1j * np.arange(3.0, 6.0)).astype(">c16")
    np.testing.assert_array_equal((la.asarray(z) * 2).eval(), z * 2)
    h = np.arange(3.0).astype(">f2")
    np.testing.assert_array_equal((la.asarray(h) + 1).eval(), h + 1)
    out = np.zeros(3, ">c16")
    la.eval(la.asarray(np.arange(3.0)), out=out)
    np.testing.assert_array_equal(out, np.arange(3.0))


def test_computing_in_a_swapped_dtype_is_refused_with_the_way_out():
    x = la.asarray(np.arange(3.0))
    with pytest.raises(TypeError, match=r">f8 is float64 in big-endian byte order.*float64"):
        x.astype(">f8")
    with pytest.raises(TypeError, match="big-endian"):
        la.sum(x, dtype=">f8")


# -- elementwise, against NumPy ---------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_every_dtype_swapped(backend, dt):
    a, b = swapped(values(dt, seed=1)), swapped(values(dt, seed=2))
    got = la.eval(*elementwise(la.asarray(a), la.asarray(b)), backend=backend)
    with np.errstate(all="ignore"):
        expected = elementwise(a, b)
    for g, e in zip(got, expected, strict=True):
        check(g, e)


@pytest.mark.parametrize("dt", [np.dtype(np.float64), np.dtype(np.int32)], ids=str)
def test_swapped_and_native_operands_mixed(backend, dt):
    a = swapped(values(dt, seed=3))
    b = values(dt, seed=4)
    f = values(np.dtype(np.float32), seed=5)
    with np.errstate(all="ignore"):
        for got, expected in [
            (la.asarray(a) + la.asarray(b), a + b),
            (la.asarray(b) * la.asarray(a), b * a),
            (la.asarray(a) * la.asarray(swapped(f)) + la.asarray(f), a * swapped(f) + f),
            (la.where(la.asarray(a) > la.asarray(b), la.asarray(a), 2.5),
             np.where(a > b, a, 2.5)),
        ]:
            check(la.eval(got, backend=backend), expected)


def test_the_same_memory_in_both_byte_orders_is_two_inputs(backend):
    x = np.linspace(-3, 3, N)
    other = x.view(x.dtype.newbyteorder("S"))  # the same bytes, read the other way round
    check(la.eval(la.asarray(x) + la.asarray(other), backend=backend), x + other)


@pytest.mark.parametrize("view", ["step", "reversed", "transposed", "2d-step", "broadcast"])
def test_views_of_swapped_arrays(backend, view):
    base = swapped(np.arange(12 * 10, dtype=np.float64).reshape(12, 10) - 50.5)
    x = {"step": base[::2], "reversed": base[::-1, ::-1], "transposed": base.T,
         "2d-step": base[1::3, ::-2], "broadcast": base[:1]}[view]
    other = np.linspace(0, 1, x.shape[-1])
    check(la.eval(la.asarray(x) * 3 - la.asarray(other), backend=backend), x * 3 - other)
    # and a view taken of the lazy array (a movement op folded into the strides)
    lazy = la.asarray(base)[::-2, 1::3].T
    check(la.eval(lazy + 1, backend=backend), base[::-2, 1::3].T + 1)


@pytest.mark.parametrize("shape", [(), (0,), (3, 0), (1,)])
def test_zero_d_and_empty(backend, shape):
    x = swapped(np.full(shape, 2.5))
    check(la.eval(la.asarray(x) * 2 + 1, backend=backend), x * 2 + 1)
    check(la.eval(la.asarray(x), backend=backend), np.asarray(x, np.float64))


# -- reductions ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["sum", "max", "argmax", "mean"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_reductions_of_swapped_input(backend, name, axis):
    x = swapped(values(np.dtype(np.float64), 40 * 30, seed=6).reshape(40, 30))
    x[x != x] = 1.0  # NaN everywhere would hide the rest
    got = la.eval(getattr(la, name)(la.asarray(x), axis=axis), backend=backend)
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(x, axis=axis)
    if name in ("sum", "mean") and backend == "cpu":
        # the compiled sums are blocked and compensated, not NumPy's pairwise ones: close to
        # NumPy's, and the same bits as for the same values in native order
        np.testing.assert_allclose(got, expected, rtol=1e-14)
        native = getattr(la, name)(la.asarray(x.astype(np.float64)), axis=axis).eval()
        expected = np.asarray(native)
    check(got, expected)


def test_row_kernels_and_integer_sums_of_swapped_input(backend):
    x = swapped(np.random.default_rng(7).standard_normal((16, 33)))
    t = la.asarray(x)
    e = la.exp(t - la.max(t, axis=1, keepdims=True))
    got = la.eval(e / la.sum(e, axis=1, keepdims=True), backend=backend)
    ex = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(got, ex / ex.sum(axis=1, keepdims=True), rtol=1e-14)
    ints = swapped(np.arange(-500, 500, dtype=np.int32).reshape(10, 100))
    check(la.eval(la.sum(la.asarray(ints), axis=1), backend=backend), ints.sum(axis=1))
    check(la.eval(la.argmax(la.asarray(ints)), backend=backend), np.argmax(ints))


def test_a_large_full_reduction_of_swapped_input_splits_and_matches():
    x = swapped(np.random.default_rng(8).standard_normal(1 << 20))
    (kernel,) = la.explain(la.sum(la.asarray(x))).kernel_objects
    assert kernel.split and kernel.inputs[0].swapped
    np.testing.assert_allclose(la.sum(la.asarray(x)).eval(), x.sum(), rtol=1e-12)
    assert la.sum(la.asarray(x)).eval() == la.sum(la.asarray(x.astype(np.float64))).eval()


@pytest.mark.parametrize("axis", [0, 1])  # down columns (a column kernel) and along rows
def test_reductions_into_a_swapped_out(backend, axis):
    x = swapped(np.arange(60.0 * 70).reshape(60, 70))
    out = swapped(np.zeros(x.shape[1 - axis]))
    if backend == "interp":
        la.eval(la.sum(la.asarray(x), axis=axis), out=out, backend="interp")
    else:
        assert la.sum(la.asarray(x), axis=axis, out=out) is out
        assert kernel_of([la.sum(la.asarray(x), axis=axis)]).column == (axis == 0)
    check(out.astype(np.float64), x.sum(axis=axis))
    assert not out.dtype.isnative


# -- out= in the other byte order ----------------------------------------------------------------
@pytest.mark.parametrize("dt", DTYPES, ids=str)
def test_swapped_out(backend, dt):
    a = values(dt, seed=9)
    out = swapped(np.zeros(N, dt))
    expr = la.asarray(a) if dt.kind == "b" else la.asarray(a) + la.asarray(a)
    with np.errstate(all="ignore"):
        expected = a if dt.kind == "b" else a + a
    assert la.eval(expr, out=out, backend=backend) is out
    assert out.dtype == swapped(np.zeros(1, dt)).dtype
    check(out.astype(dt), expected)


def test_swapped_out_strided_and_cast(backend):
    a = np.linspace(-5, 5, 40)
    out = swapped(np.zeros((40, 3), np.float32))
    la.eval(la.asarray(a) * 2, out=out[:, 1], backend=backend)
    check(out[:, 1].astype(np.float32), (a * 2).astype(np.float32))
    assert not out[:, [0, 2]].any()  # the other columns untouched
    ints = swapped(np.zeros(40, np.int64))[::-1]
    la.eval(la.asarray(np.arange(40, dtype=np.int16)) * 3, out=ints, backend=backend)
    check(ints.astype(np.int64), np.arange(40, dtype=np.int64) * 3)


def test_in_place_into_the_swapped_input(backend):
    x = swapped(np.linspace(-1, 1, N))
    keep = x.astype(np.float64)
    assert la.eval(la.asarray(x) * 2 + 1, out=x, backend=backend) is x
    check(x.astype(np.float64), keep * 2 + 1)
    # out= overlapping its input other than element for element: as if copied first
    y = swapped(np.arange(10.0))
    la.eval(la.asarray(y)[::-1] + 0.5, out=y, backend=backend)
    check(y.astype(np.float64), np.arange(10.0)[::-1] + 0.5)


def test_swapped_out_over_the_same_bytes_read_natively(backend):
    x = np.linspace(1, 2, 16)
    other = x.view(x.dtype.newbyteorder("S"))
    la.eval(la.asarray(x) * 2, out=other, backend=backend)  # overlaps: as if copied first
    check(other.astype(np.float64), np.linspace(1, 2, 16) * 2)


def test_streamed_stores_into_a_swapped_out(monkeypatch):
    monkeypatch.setattr(settings, "stream_bytes", 4096)
    a = np.random.default_rng(10).standard_normal(5000)
    out = swapped(np.zeros(5000))
    launch = lower_kernel([(la.asarray(a) * 2 + 1)._node], [out])
    assert launch.kernel.stream and launch.kernel.outputs[0][1].swapped
    la.eval(la.asarray(a) * 2 + 1, out=out)
    check(out.astype(np.float64), a * 2 + 1)
    for k in (0, 1, 3, 5):  # outputs that reach a 32-byte boundary at other indices
        o = swapped(np.zeros(5000 + k))[k:]
        la.eval(la.asarray(a) * 2 + 1, out=o)
        check(o.astype(np.float64), a * 2 + 1)


# -- misaligned arrays ----------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["native", "swapped"])
def test_misaligned_inputs_and_outputs(backend, order):
    x = np.linspace(-7, 7, N)
    x = misaligned(x if order == "native" else swapped(x))
    i = misaligned(np.arange(N, dtype=np.int32))
    assert not x.flags.aligned and not i.flags.aligned
    check(la.eval(la.asarray(x) * la.asarray(i) + 1, backend=backend), x * i + 1)
    check(la.eval(la.sum(la.asarray(x)[:60].reshape(6, 10), axis=1), backend=backend),
          x[:60].reshape(6, 10).sum(axis=1))
    out = misaligned(np.zeros(N) if order == "native" else swapped(np.zeros(N)))
    la.eval(la.asarray(x) - 2, out=out, backend=backend)
    check(out.astype(np.float64), x - 2)


def test_misaligned_read_only_buffer(backend):
    buf = b"\0" + np.arange(9.0).astype(">f8").tobytes()
    x = np.frombuffer(buf, ">f8", offset=1)
    assert not x.flags.aligned and not x.flags.writeable
    check(la.eval(la.asarray(x) * 2, backend=backend), x * 2)


def test_misaligned_arrays_get_alignment_one_and_aligned_ones_keep_theirs():
    x = misaligned(np.arange(N, dtype=np.float64))
    kernel = kernel_of([la.asarray(x) + la.asarray(np.ones(N))])
    assert [p.aligned for p in kernel.inputs] == [False, True]
    assert "unaligned" in la.explain(la.asarray(x) + 1).loops
    ir = cpu.jit().ir(kernel, "k")
    assert "align 1" in ir
    assert "align 1" not in cpu.jit().ir(kernel_of([la.asarray(np.ones(N)) * 2]), "k")


# -- the generated code ----------------------------------------------------------------------------
def test_swapped_loads_and_stores_are_bswaps_and_native_ones_are_not():
    x, n = swapped(np.linspace(0, 1, N)), np.linspace(0, 1, N)
    kernel = kernel_of([la.asarray(x) + la.asarray(n)])
    assert [p.swapped for p in kernel.inputs] == [True, False]
    assert [i.dtype for i in kernel.body if i.op.value == "leaf"] == [np.float64] * 2
    ir = la.explain(la.asarray(x) + la.asarray(n)).llvm
    assert "llvm.bswap.i64" in ir and "bitcast i64" in ir
    assert "bswap" not in la.explain(la.asarray(n) * 2).llvm
    assert "bswap" not in la.explain(la.asarray(swapped(np.ones(3, np.int8))) * 2).llvm
    out_kernel = lower_kernel([(la.asarray(n) * 2)._node], [swapped(np.zeros(N))]).kernel
    assert out_kernel.outputs[0][1].swapped
    assert "llvm.bswap.i64" in cpu.jit().ir(out_kernel, "k")
    loops = la.explain(la.asarray(x) + la.asarray(n)).loops
    assert "in0: float64, byte-swapped" in loops and "in1: float64 (" in loops


def test_swapped_kernels_are_other_cache_entries():
    x = np.linspace(0, 1, N)
    native = kernel_of([la.asarray(x) * 2])
    other = kernel_of([la.asarray(swapped(x)) * 2])
    assert native != other and hash(native) != hash(other)
    from lazyarr.backends.diskcache import stable_text

    assert stable_text(native) != stable_text(other)


@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    not cpu.jit().triple.startswith("x86_64"), reason="x86-64 codegen facts")
@pytest.mark.parametrize("dt", ["f8", "f4", "i4", "u2"])
def test_swapped_kernels_still_vectorise(dt):
    x = swapped(np.arange(1000, dtype=dt))
    ex = la.explain(la.asarray(x) * 3 + la.asarray(x))
    assert ex.vectorised and ex.vector_width >= 2, ex.summary


def _gpu_kernels() -> list[tuple[Kernel, Variant]]:
    """Kernels with swapped (and an unaligned) input and output, in every GPU variant."""
    x = swapped(np.linspace(0, 1, 64))
    i = misaligned(swapped(np.arange(64, dtype=np.int32)))
    flat = lower_kernel([(la.sqrt(la.asarray(x)) * la.asarray(i))._node],
                        [swapped(np.zeros(64))], cpu=False).kernel
    rows = lower_kernel([la.sum(la.asarray(x).reshape(8, 8), axis=1)._node],
                        [swapped(np.zeros(8))], cpu=False).kernel
    wise = la.asarray(x).reshape(8, 8)
    softmax = lower_kernel([(wise - la.max(wise, axis=1, keepdims=True))._node],
                           [swapped(np.zeros((8, 8)))], cpu=False).kernel
    return [(flat, Variant()), (flat, Variant(vector=True)), (flat, Variant(narrow=True))] + [
        (rows, Variant(strategy=s)) for s in ("block", "thread", "split", "combine")] + [
        (softmax, Variant(strategy=s)) for s in ("block", "thread")]


def test_swapped_kernels_for_the_gpu_emit_and_assemble(tmp_path):
    for k, (kernel, variant) in enumerate(_gpu_kernels()):
        assert kernel.outputs[0][1].swapped
        ptx = nvptx.emit_ptx(kernel, f"k{k}", variant)
        assert "prmt.b32" in ptx, variant  # the byte swaps
        if shutil.which("ptxas") is None:
            continue
        path = tmp_path / f"k{k}.ptx"
        path.write_text(ptx)
        proc = subprocess.run(["ptxas", "-arch=sm_90", "-o", str(tmp_path / "k.o"), str(path)],
                              capture_output=True, text=True)
        assert proc.returncode == 0, (variant, proc.stderr)


# -- repeated evaluations: the fast path, builtin launches and rebinding ----------------------
def test_repeated_evaluation_reads_the_swapped_array_again():
    x = swapped(np.linspace(0, 1, N))
    e = la.asarray(x) * 2 + 1
    for step in range(4):
        x[:] = np.linspace(0, 1, N) + step  # written between evaluations: read again
        check(e.eval(), x * 2 + 1)
        check(la.eval(e), x * 2 + 1)


def test_repeated_evaluation_into_a_swapped_out():
    x = swapped(np.linspace(0, 1, N))
    out = swapped(np.zeros(N))
    e = la.asarray(x) * 3
    for step in range(4):
        x[:] = np.linspace(0, 1, N) - step
        assert la.eval(e, out=out) is out
        check(out.astype(np.float64), x * 3)
    misplaced = misaligned(swapped(np.zeros(N)))
    for _ in range(3):
        la.eval(e, out=misplaced)
        check(misplaced.astype(np.float64), x * 3)


@pytest.mark.parametrize("first, then", [("native", "swapped"), ("swapped", "native"),
                                         ("aligned", "misaligned"), ("misaligned", "aligned")])
def test_new_arrays_of_another_byte_order_or_alignment_are_not_rebound(first, then):
    def make(kind: str, k: int) -> np.ndarray:
        x = np.linspace(-1, 1, N) + k
        return {"native": x, "aligned": x, "swapped": swapped(x),
                "misaligned": misaligned(x)}[kind]

    la.clear_cache()
    for k, kind in enumerate([first, first, then, then, first]):
        x = make(kind, k)  # a new array each time: same graph structure, new nodes
        check((la.asarray(x) * 2 - 1).eval(), x * 2 - 1)


def test_device_copies_are_native(monkeypatch):
    """Moving a swapped host array to the device copies native elements (the driver's copy
    is replaced by a host-memory stand-in)."""
    from lazyarr.backends import cuda_memory

    class FakeDriver:
        memory: dict[int, bytes] = {}

        def memcpy_htod(self, dst, src, nbytes):
            import ctypes

            self.memory[dst] = ctypes.string_at(src, nbytes)

    fake = FakeDriver()
    monkeypatch.setattr(cuda_memory, "_driver", lambda: fake)
    monkeypatch.setattr(cuda_memory.allocator, "malloc",
                        lambda nbytes, device_id=0: cuda_memory.Block(4096, nbytes, device_id))
    x = swapped(np.linspace(0, 1, 5))
    moved = cuda_memory.DeviceArray.from_numpy(x)
    assert moved.dtype == np.float64 and moved.dtype.isnative
    np.testing.assert_array_equal(np.frombuffer(fake.memory[4096], np.float64), x)
