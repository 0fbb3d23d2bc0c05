"""The pool of big results (lazyarr/run/outputs.py): blocks are reused only when no array made
from them is alive, and the pool stays within its size."""

import threading

import numpy as np
import pytest

import lazyarr as la
from lazyarr.config import settings
from lazyarr.run import outputs

pytestmark = pytest.mark.skipif(not outputs._COUNTS_EXACT, reason="needs exact refcounts")


@pytest.fixture
def small_pool(monkeypatch):
    """Pool results from 4 kB on, at most 64 kB of blocks. (Launches too small to share
    never meet a pooled size; here they are made to take the threaded path too.)"""
    from lazyarr.backends import threads

    monkeypatch.setattr(outputs, "POOL_MIN", 4096)
    monkeypatch.setattr(settings, "pool_bytes", 65536)
    monkeypatch.setattr(threads, "MIN_WORK", 1)
    la.clear_cache()
    yield
    la.clear_cache()


def test_a_block_is_reused_only_when_every_array_from_it_died(small_pool):
    x = np.arange(1024.0)
    e = la.asarray(x) * 2
    first = e.eval()
    block = id(first.base)  # by id: a reference here would keep the block in use
    assert any(id(b) == block for b in outputs._blocks)
    second = e.eval()  # first is alive: a new block
    assert id(second.base) != block
    view = first[::3]
    del first
    third = e.eval()  # a view of first is alive: still not its block
    assert id(third.base) != block
    np.testing.assert_array_equal(view, (x * 2)[::3])
    del view, second, third
    again = e.eval()
    assert id(again.base) == block  # free again, pages already mapped
    np.testing.assert_array_equal(again, x * 2)


def test_results_of_another_size_or_dtype_get_their_own_blocks(small_pool):
    a = la.asarray(np.arange(1024.0))
    r64 = (a + 1).eval()
    r32 = (a.astype(np.float32) + 1).eval()
    r_big = (la.asarray(np.arange(2048.0)) + 1).eval()
    assert len({id(r.base) for r in (r64, r32, r_big)}) == 3
    assert r32.dtype == np.float32 and r32.shape == (1024,)
    np.testing.assert_array_equal(r64, np.arange(1024.0) + 1)


def test_the_pool_keeps_at_most_its_size(small_pool):
    a = la.asarray(np.arange(1024.0))
    kept = [(a + k).eval() for k in range(1, 20)]  # 19 live 8 kB results
    assert outputs.pooled_bytes() <= settings.pool_bytes
    for k, r in enumerate(kept, 1):
        np.testing.assert_array_equal(r, np.arange(1024.0) + k)


def test_no_pool_when_its_size_is_zero(small_pool, monkeypatch):
    monkeypatch.setattr(settings, "pool_bytes", 0)
    r = (la.asarray(np.arange(1024.0)) + 1).eval()
    assert r.flags.owndata and outputs.pooled_bytes() == 0


def test_concurrent_evaluations_never_share_a_block(small_pool):
    x = la.asarray(np.arange(1024.0))
    exprs = [x + k for k in range(4)]
    seen: list[tuple[int, np.ndarray]] = []
    wrong: list[int] = []

    def work(k: int) -> None:
        for _ in range(200):
            r = exprs[k].eval()
            seen.append((k, r))
            if len(seen) > 8:
                seen.pop(0)
            if not np.array_equal(r, np.arange(1024.0) + k):
                wrong.append(k)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not wrong
    for k, r in list(seen):
        np.testing.assert_array_equal(r, np.arange(1024.0) + k)


def test_a_later_step_reads_an_out_array_as_it_was():
    """Several steps into ``out=`` arrays that are also inputs: a step after the one writing
    an output reads the input as it was (NumPy's rule: as if the inputs were copied)."""
    a = np.arange(12.0).reshape(3, 4)
    before = a.copy()
    c = np.zeros(4)
    x = la.asarray(a)
    la.eval(x - la.max(x, axis=1, keepdims=True), la.sum(x, axis=0), out=(a, c))
    np.testing.assert_array_equal(a, before - before.max(axis=1, keepdims=True))
    np.testing.assert_array_equal(c, before.sum(axis=0))
    # an update in place whose inputs are read only before it is written keeps writing there
    p = np.linspace(0, 1, 8)
    want = p - p.mean()
    la.eval(la.asarray(p) - la.asarray(p).mean(), out=p)
    np.testing.assert_allclose(p, want, rtol=1e-15)
