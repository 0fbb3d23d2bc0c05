"""Streaming (non-temporal) stores for big 1-D results (cpu_passes.stream_outputs, codegen/cpu.py).

``settings.stream_bytes`` is lowered to 1 in most tests so that small arrays take the grouped
loop: its peel, its groups and its tail are then all exercised over every alignment and length.
"""

from __future__ import annotations

import itertools
import platform

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kernel_cases import kernel_of
from lazyarr.backends import cpu

import lazyarr as la
from lazyarr import config
from lazyarr.ir.loop import pack_args
from lazyarr.run.runtime import single_launch

DTYPES = ["float32", "float64", "int32", "int64"]
X86 = platform.machine().lower() in ("x86_64", "amd64")


@pytest.fixture
def streaming(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config.settings, "stream_bytes", 1)
    la.clear_cache()
    yield
    la.clear_cache()


def _values(n: int, dt: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dt.startswith("int"):
        return rng.integers(-1000, 1000, n).astype(dt)
    return rng.standard_normal(n).astype(dt)


def _unaligned(n: int, dt: str, shift: int) -> np.ndarray:
    """``n`` elements of ``dt`` starting ``shift`` bytes past a 64-byte boundary."""
    item = np.dtype(dt).itemsize
    raw = np.empty(n * item + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + shift
    return raw[start:start + n * item].view(dt)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("n", [0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1001])
@pytest.mark.parametrize("shift", [0, 1, 2, 3, 5])
def test_out_at_every_alignment_and_length(streaming: None, dt: str, n: int, shift: int) -> None:
    item = np.dtype(dt).itemsize
    a, b = _values(n, dt, 1), _values(n, dt, 2)
    out = _unaligned(n, dt, shift * item)
    x, y = la.asarray(a), la.asarray(b)
    expr = x * y + 3 * x
    assert n == 0 or kernel_of([expr]).stream  # zero-size: no kernel at all
    got = la.eval(expr, out=out)
    assert got is out
    np.testing.assert_array_equal(out, a * b + 3 * a)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_fresh_results_and_misaligned_inputs(streaming: None, dt: str) -> None:
    n = 1003
    a = _unaligned(n, dt, np.dtype(dt).itemsize)
    a[...] = _values(n, dt)
    b = _values(n + 1, dt)[1:]
    r = (la.sqrt(la.abs(la.asarray(a))) - la.asarray(b) / 2).eval()
    np.testing.assert_array_equal(r, np.sqrt(np.abs(a)) - b / 2)
    assert r.dtype == np.dtype(dt) and r.shape == (n,)


def test_special_values_pass_through(streaming: None) -> None:
    a = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e308, -1e-320, 5.0] * 5)
    r = (la.asarray(a) * 1.0 + 0.0).eval()
    np.testing.assert_array_equal(r, a * 1.0 + 0.0)
    assert np.array_equal(np.signbit(r), np.signbit(a * 1.0 + 0.0))


def test_any_chunking_gives_the_whole_result(streaming: None) -> None:
    """Threads run ``[start, end)`` chunks: every chunk aligns its own groups."""
    n = 203
    a, b = _values(n, "float64", 1), _values(n, "float64", 2)
    out = np.full(n, -1.0)
    x, y = la.asarray(a), la.asarray(b)
    launch = single_launch([(x * y - y)._node], [out])
    assert launch.kernel.stream
    fn = cpu.compiled(launch.kernel).function
    block, status = pack_args(launch)
    rng = np.random.default_rng(5)
    for _ in range(20):
        out[:] = -1.0
        cuts = np.sort(rng.integers(0, n + 1, rng.integers(0, 8)))
        edges = [0, *cuts.tolist(), n]
        for lo, hi in itertools.pairwise(edges):
            fn(block.ctypes.data, lo, hi)
        np.testing.assert_array_equal(out, a * b - b)
    assert status[0] == 0


def test_two_outputs_aligned_alike_and_not(streaming: None) -> None:
    n = 101
    a = _values(n, "float64")
    x = la.asarray(a)
    for shift in (0, 8, 16):  # 8 and 16: the second output is never 32-byte aligned with the first
        o1, o2 = _unaligned(n, "float64", 0), _unaligned(n, "float64", shift)
        la.eval(x + 1, x * x, out=(o1, o2))
        np.testing.assert_array_equal(o1, a + 1)
        np.testing.assert_array_equal(o2, a * a)


def test_output_not_aligned_to_its_itemsize(streaming: None) -> None:
    n = 77
    a = _values(n, "float64")
    out = _unaligned(n, "float64", 3)
    assert not out.flags.aligned
    la.eval(la.asarray(a) * 2, out=out)
    np.testing.assert_array_equal(out, a * 2)


def test_negative_integer_power_still_raises(streaming: None) -> None:
    a = np.arange(1, 50, dtype=np.int64)
    e = np.ones(49, np.int64)
    e[30] = -1
    with pytest.raises(ValueError, match="negative"):
        (la.asarray(a) ** la.asarray(e)).eval()


def test_which_kernels_stream(streaming: None) -> None:
    f64 = la.asarray(_values(64, "float64"))
    m = la.asarray(_values(64, "float64").reshape(8, 8))
    assert kernel_of([m * 2 + 1]).stream  # contiguous 2-D: one dimension after coalescing
    assert not kernel_of([m.T * 2 + 1]).stream  # a transposed input: two loop dimensions
    assert not kernel_of([la.exp(f64)]).stream  # math routines: left to the loop vectoriser
    assert not kernel_of([f64 > 0]).stream  # bool results: 1-byte lanes
    assert not kernel_of([la.asarray(_values(64, "int32").astype(np.int16)) + 1]).stream
    assert not kernel_of([(m * 2).sum(axis=1)]).stream  # reductions
    # outputs of two itemsizes
    assert not kernel_of([f64 + 1, (f64 * 2).astype(np.float32)]).stream


def test_only_big_results_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    la.clear_cache()
    least = config.settings.stream_bytes
    assert least == 4 << 20  # the documented default
    big = la.asarray(np.ones(least // 8))
    small = la.asarray(np.ones(least // 8 - 1))
    assert kernel_of([big * 2]).stream
    assert not kernel_of([small * 2]).stream
    assert "streaming stores" in la.explain(big * 2).loops
    r = (big * 2 + 1).eval()
    assert r.shape == big.shape and (r == 3).all()
    monkeypatch.setattr(config.settings, "stream_bytes", 0)  # LAZYARR_STREAM_MB=0: never
    assert not kernel_of([big * 3]).stream


def test_updates_in_place_do_not_stream(streaming: None) -> None:
    p, g = _values(1000, "float64"), _values(1000, "float64", 4)
    x, y = la.asarray(p), la.asarray(g)
    launch = single_launch([(x - 0.5 * y)._node], [p])
    assert not launch.kernel.stream
    assert single_launch([(x - 0.5 * y)._node], [np.empty_like(p)]).kernel.stream
    want = p - 0.5 * g
    la.eval(x - 0.5 * y, out=p)
    np.testing.assert_array_equal(p, want)


def test_stream_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYARR_STREAM_MB", "16")
    assert config._read().stream_bytes == 16 << 20
    monkeypatch.setenv("LAZYARR_STREAM_MB", "-1")
    with pytest.raises(ValueError, match="LAZYARR_STREAM_MB"):
        config._read()


@pytest.mark.skipif(not X86, reason="streaming stores are emitted for x86-64 only")
def test_assembly_has_streaming_stores_and_a_fence(streaming: None) -> None:
    asm = la.explain(la.asarray(np.ones(64)) * 2).asm
    assert "vmovntp" in asm or "movntp" in asm
    assert "sfence" in asm
    plain = la.explain(la.exp(la.asarray(np.ones(64)))).asm
    assert "movnt" not in plain


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 300), shift=st.integers(0, 7), dt=st.sampled_from(DTYPES),
       scale=st.sampled_from([2, -1, 3]))
def test_property_streamed_equals_numpy(n: int, shift: int, dt: str, scale: int) -> None:
    before = config.settings.stream_bytes
    config.settings.stream_bytes = 1
    la.clear_cache()  # kernels of these shapes made before without streaming
    try:
        a, b = _values(n, dt, 7), _values(n, dt, 8)
        out = _unaligned(n, dt, shift * np.dtype(dt).itemsize)
        la.eval(la.asarray(a) - la.asarray(b) * scale, out=out)
        np.testing.assert_array_equal(out, a - b * scale)
    finally:
        config.settings.stream_bytes = before


def test_explain_streams_whatever_its_stand_ins_cover() -> None:
    """explain lowers with stand-in outputs over one element of memory whose claimed extent
    may cover an input: that is not an update in place (it made this test flaky on CI)."""
    from lazyarr.plan import cpu_passes
    from lazyarr.plan.lower import lower
    from lazyarr.plan.schedule import schedule

    big = np.ones(config.settings.stream_bytes // 8)
    (step,) = [s for s in schedule([(la.asarray(big) * 2)._node], cpu=True).steps if s.trace]
    over_input = big.view()
    over_input.flags.writeable = False  # what a stand-in is: read-only, never written
    assert cpu_passes.apply(lower(step.trace, [over_input])).kernel.stream
    assert not cpu_passes.apply(lower(step.trace, [big])).kernel.stream  # a real update
