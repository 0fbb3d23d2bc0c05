"""The thread pool: chunking, thread-count settings, and bit-identical results for any count."""

import itertools
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from lazyarr.backends import threads

import lazyarr as la
from lazyarr import config
from lazyarr.ir import ops
from lazyarr.ir.loop import element_cost
from lazyarr.plan import cpu_passes
from lazyarr.run.runtime import single_launch as lower_kernel


@pytest.fixture
def counted_plans(monkeypatch):
    """Every plan the pool makes while the test runs (to see that work really was split)."""
    plans = []
    real = threads.plan

    def spy(extent, work, n, align=1):
        parts = real(extent, work, n, align)
        plans.append(parts)
        return parts

    monkeypatch.setattr(threads, "plan", spy)
    return plans


def with_threads(n, fn):
    before = config.settings.num_threads
    la.set_num_threads(n)
    try:
        return fn()
    finally:
        config.settings.num_threads = before


def same_bits(x: np.ndarray, y: np.ndarray) -> None:
    assert x.dtype == y.dtype and x.shape == y.shape
    assert x.tobytes() == y.tobytes()


# -- chunking --------------------------------------------------------------------------------
@pytest.mark.parametrize("extent", [1, 2, 255, 256, 257, 1000, 10**6 + 3])
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
@pytest.mark.parametrize("align", [1, 256])
def test_chunks_cover_the_range_once_on_aligned_boundaries(extent, parts, align):
    pieces = threads.chunks(extent, parts, align)
    assert pieces[0][0] == 0 and pieces[-1][1] == extent
    assert all(lo < hi for lo, hi in pieces)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    assert all(lo % align == 0 for lo, _ in pieces)
    assert len(pieces) <= parts


def test_small_problems_stay_on_the_calling_thread():
    assert threads.plan(10**6, threads.MIN_WORK - 1, 8) == [(0, 10**6)]
    assert threads.plan(1, 10**8, 8) == [(0, 1)]  # one outer index: nothing to split
    assert threads.plan(10**7, 10**7, 1) == [(0, 10**7)]
    per_thread = threads.CHUNKS_PER_THREAD
    assert len(threads.plan(10**7, 10**7, 2, 256)) == 2 * per_thread
    assert len(threads.plan(2000, 2000 * 3000, 4)) == 4 * per_thread  # rows: all elements
    # no chunk smaller than MIN_CHUNK units of work
    least = threads.MIN_WORK // threads.MIN_CHUNK
    assert len(threads.plan(10**6, threads.MIN_WORK, 64)) == least


def test_chunks_are_aligned_for_one_dimensional_kernels():
    one_d = threads.plan(10**6 + 1, 10**6 + 1, 3, threads.ALIGN)
    assert all(lo % threads.ALIGN == 0 for lo, _ in one_d)
    rows = threads.plan(1200, 1200 * 1000, 3)
    assert [hi - lo for lo, hi in rows] == [100] * 12


def test_cost_weights_math_calls():
    a = la.asarray(np.ones(10))
    cheap = lower_kernel([(2 * a + 1)._node], [np.empty(10)]).kernel
    dear = lower_kernel([(la.exp(a) * la.sin(a))._node], [np.empty(10)]).kernel
    assert element_cost(cheap) == 1
    assert element_cost(dear) == 1 + 2 * ops.CALL_COST


# -- settings --------------------------------------------------------------------------------
def test_set_and_get_num_threads():
    assert la.get_num_threads() >= 1
    assert with_threads(3, la.get_num_threads) == 3
    assert with_threads(config.MAX_THREADS, la.get_num_threads) == config.MAX_THREADS
    before = la.get_num_threads()
    for bad in (0, -1, 1.5, "2", True, config.MAX_THREADS + 1, 1000):
        with pytest.raises(ValueError, match=f"integer from 1 to {config.MAX_THREADS}"):
            la.set_num_threads(bad)
    assert la.get_num_threads() == before  # a refused count changes nothing


def test_default_is_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.setattr(config.settings, "num_threads", 0)
    assert la.get_num_threads() == threads.available_cpus()
    assert threads.available_cpus() <= len(os.sched_getaffinity(0))


def test_cgroup_quota_files(tmp_path):
    assert threads.cgroup_cpus(str(tmp_path)) is None  # no cgroup files: no quota
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.cgroup_cpus(str(tmp_path)) is None
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.cgroup_cpus(str(tmp_path)) == 1.5
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert threads.cgroup_cpus(str(v1)) is None
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    assert threads.cgroup_cpus(str(v1)) == 3.0


def test_environment_variable_sets_the_thread_count():
    env = dict(os.environ, LAZYARR_NUM_THREADS="3")
    code = "import lazyarr as la; print(la.get_num_threads())"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"
    for bad in ("-2", "1000"):
        env["LAZYARR_NUM_THREADS"] = bad
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode != 0 and "LAZYARR_NUM_THREADS must be 0" in done.stderr


# -- results do not depend on the thread count -----------------------------------------------
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_elementwise_is_bit_identical_for_any_thread_count(dtype, counted_plans):
    rng = np.random.default_rng(7)
    n = 10**6 + 77  # not a multiple of any chunk or vector width
    a, b, c = (la.asarray((rng.random(n) * 8 - 4).astype(dtype)) for _ in range(3))

    def expr():
        return (la.exp(-a) * la.sin(b) + la.cos(c) * la.tanh(a) - b / (c + 1)).eval()

    one = with_threads(1, expr)
    assert all(len(p) == 1 for p in counted_plans)
    for n_threads in (2, 3, 5):
        counted_plans.clear()
        same_bits(with_threads(n_threads, expr), one)
        assert max(len(p) for p in counted_plans) >= n_threads


@pytest.mark.parametrize("axis", [1, 0])
def test_row_and_column_reductions_are_bit_identical(axis, counted_plans):
    x = la.asarray(np.random.default_rng(3).random((2000, 3000), dtype=np.float32))
    one = with_threads(1, lambda: x.sum(axis=axis).eval())
    counted_plans.clear()
    two = with_threads(2, lambda: x.sum(axis=axis).eval())
    assert max(len(p) for p in counted_plans) >= 2
    same_bits(two, one)
    same_bits(with_threads(3, lambda: x.sum(axis=axis).eval()), one)
    np.testing.assert_allclose(one, np.asarray(x.eval(), np.float64).sum(axis=axis),
                               rtol=1e-5)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32"])
def test_full_reductions_are_split_and_bit_identical(dtype, counted_plans, monkeypatch):
    """A full reduction has one outer index; it is cut into partial rows (the same cut for
    every thread count), so it uses every thread and still gives the same bits."""
    monkeypatch.setattr(cpu_passes, "NESTED_SPLIT_MIN", cpu_passes.SPLIT_MIN)  # var splits
    rng = np.random.default_rng(12)
    n = 2 * cpu_passes.SPLIT_WORK + 77  # split at the default thresholds, float32 too
    an, bn = ((rng.standard_normal(n) * 100).astype(dtype) for _ in range(2))
    a, b = la.asarray(an), la.asarray(bn)
    cube = la.asarray(rng.random((40, 90, 600)).astype(dtype).transpose(2, 0, 1))
    exprs = [(la.sum(a * b),), (((a - b) ** 2).mean(),), (a.max(),), (a.argmin(),),
             (b.argmax(),), (a.var(),), (cube.sum(),), (cube.argmax(),),
             (a.sum(), (a * b).min())]  # the last: one kernel, two outputs

    def evaluate():
        return [r for e in exprs for r in (la.eval(*e) if len(e) > 1 else [la.eval(*e)])]

    one = with_threads(1, evaluate)
    for n_threads in (2, 3, 5):
        counted_plans.clear()
        for got, ref in zip(with_threads(n_threads, evaluate), one, strict=True):
            same_bits(got, ref)
        assert min(len(p) for p in counted_plans) >= n_threads  # every kernel was shared
    np.testing.assert_allclose(one[0], np.sum(an.astype(np.float64) * bn), rtol=1e-5)


def test_fused_row_kernel_is_bit_identical():
    x = la.asarray(np.random.default_rng(5).random((1500, 999)))
    softmax = lambda: (la.exp(x - x.max(axis=1, keepdims=True))  # noqa: E731
                       / la.exp(x - x.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True))
    same_bits(with_threads(2, lambda: softmax().eval()), with_threads(1, lambda: softmax().eval()))


def test_strided_and_in_place_outputs_with_threads():
    base = np.random.default_rng(2).random((1000, 800))
    ref = base.copy()
    ref[:, ::2] = ref[:, ::2] * 2 + 1
    view = base[:, ::2]
    with_threads(2, lambda: la.eval(la.asarray(view) * 2 + 1, out=view))
    same_bits(base, ref)


def test_concurrent_callers_share_the_pool():
    rng = np.random.default_rng(11)
    xs = [rng.random(400_000) for _ in range(4)]
    results: dict[int, np.ndarray] = {}

    def work(k):
        results[k] = (la.asarray(xs[k]) * 3 + 1).eval()

    def run_all():
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    with_threads(2, run_all)
    for k in range(4):
        same_bits(results[k], xs[k] * 3 + 1)


def test_worker_errors_reach_the_caller(monkeypatch):
    monkeypatch.setattr(threads, "ADAPTIVE", False)  # every launch shared: workers run chunks

    def kernel(address, start, end):
        if start > 0:
            raise RuntimeError(f"chunk {start}")

    with pytest.raises(RuntimeError, match="chunk"):
        with_threads(2, lambda: threads.run(kernel, 0, 10**6, 10**6))
    seen = []
    with_threads(2, lambda: threads.run(lambda a, s, e: seen.append((s, e)), 0, 10**6, 10**6))
    assert sorted(seen)[0][0] == 0 and sorted(seen)[-1][1] == 10**6  # the pool still works


def test_shrinking_and_growing_the_pool():
    x = np.random.default_rng(4).random(10**6)
    for n in (3, 1, 2, 4, 2):
        same_bits(with_threads(n, lambda: (la.asarray(x) + 1).eval()), x + 1)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child():
    x = np.random.default_rng(9).random(10**6)
    with_threads(2, lambda: (la.asarray(x) - 1).eval())  # the parent's workers exist now
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process
        pid = os.fork()
    if pid == 0:  # pragma: no cover (child)
        try:
            ok = with_threads(2, lambda: (la.asarray(x) * 2).eval()).tobytes() == (x * 2).tobytes()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_results_are_allocated_by_numpy():
    """Outputs come from ``np.empty`` (NumPy asks the kernel for huge pages; NumPy's
    allocations are visible to tracemalloc), never from a private malloc."""
    x = la.asarray(np.random.default_rng(8).random(10**6))
    tracemalloc.start()
    try:
        result = with_threads(2, lambda: (x * 2 + 1).eval())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.flags.owndata and result.base is None
    assert peak >= result.nbytes


def _timed_kernel(alone_s: float, chunk_s: float, calls: list[tuple[int, int]]):
    """A kernel that takes ``alone_s`` over the whole range and ``chunk_s`` per chunk."""
    def kernel(address, start, end):
        calls.append((start, end))
        time.sleep(alone_s if (start, end) == (0, 10**6) else chunk_s)

    return kernel


@pytest.mark.parametrize("shared_faster", [True, False])
def test_sharing_is_learnt_per_kernel(shared_faster):
    """The first launches alternate between the calling thread alone and the pool, timed;
    then the faster way is kept for that kernel, size class and thread count."""
    calls: list[tuple[int, int]] = []
    alone_s, chunk_s = (0.02, 0.0005) if shared_faster else (0.001, 0.01)
    kernel = _timed_kernel(alone_s, chunk_s, calls)
    threads.forget_learnt()

    def launch():
        calls.clear()
        with_threads(2, lambda: threads.run(kernel, 0, 10**6, 10**6))
        return list(calls)

    trials = [launch() for _ in range(2 * threads.TRIALS)]
    assert [len(t) == 1 for t in trials] == [True, False] * threads.TRIALS  # alone first
    for _ in range(3):
        got = launch()
        assert (len(got) > 1) == shared_faster
        assert sorted(got)[0][0] == 0 and sorted(got)[-1][1] == 10**6
    # another thread count is learnt afresh
    calls.clear()
    with_threads(3, lambda: threads.run(kernel, 0, 10**6, 10**6))
    assert calls == [(0, 10**6)]
    threads.forget_learnt()
