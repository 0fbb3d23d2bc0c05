"""Repeated small evaluations as builtin functions (lazyarr/backends/objcall.py), and the lazy
arrays operators keep for expressions written again (fastpath.wrappers)."""

import gc
import sys
import weakref

import numpy as np
import pytest
from lazyarr.backends import objcall

import lazyarr as la
from lazyarr.run import fastpath

pytestmark = pytest.mark.skipif(not objcall.entry(), reason="no builtin entry on this build")

DTYPES = ["bool", "int8", "uint16", "int32", "int64", "float32", "float64"]
SHAPES = [(), (1,), (7,), (3, 5), (2, 3, 4)]


def _executor(expr: la.LazyArray) -> fastpath.Executor:
    return fastpath.lookup((expr._node,), None)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_builtin_results_match_numpy(dtype, shape):
    rng = np.random.default_rng(7)
    x = (rng.random(shape) * 50).astype(dtype)
    a = la.asarray(x)
    cases = [(a * 3 + 1, x * 3 + 1)]
    if shape:  # reductions, full (a 0-d result) and over one axis
        cases += [(a.sum(), x.sum()), (a.max(axis=0), x.max(axis=0))]
    for expr, want in cases:
        results = [expr.eval() for _ in range(4)]
        ex = _executor(expr)
        assert ex.direct is not None and ex.one is ex.direct  # made by the builtin
        for r in results:
            assert type(r) is np.ndarray and r.dtype == want.dtype and r.shape == want.shape
            assert r.flags.c_contiguous and r.flags.writeable and r.flags.owndata
            np.testing.assert_array_equal(r, want)
        assert len({id(r) for r in results}) == len(results)


def test_builtin_refuses_a_wrong_number_of_outputs():
    e = la.asarray(np.arange(4.0)) + 2
    for _ in range(2):
        e.eval()
    ex = _executor(e)
    with pytest.raises(TypeError, match="wrong number of output arrays"):
        ex.direct(np.empty(4), np.empty(4))
    out = np.empty(4)
    assert ex.direct(out) is out  # the launch's own calling form still works
    np.testing.assert_array_equal(out, np.arange(4.0) + 2)


def test_builtin_results_are_released_and_references_balance():
    x = np.arange(6.0)
    e = la.asarray(x) * 2
    into = la.asarray(x) - 1
    o = np.empty(6)
    for _ in range(3):
        e.eval()
        into.eval(out=o)
    r = e.eval()
    assert sys.getrefcount(r) == 2  # the name here and getrefcount's argument: no more
    ref = weakref.ref(r)
    del r
    assert ref() is None
    before = sys.getrefcount(o)
    for _ in range(3000):  # a reference gained or lost per call would show as 3000
        assert into.eval(out=o) is o  # returned by compiled code
    assert fastpath.lookup((into._node,), (o,)).direct is not None
    assert sys.getrefcount(o) == before
    for _ in range(3):  # two fresh outputs passed in, the first one returned and dropped
        pair = la.eval(e, into)
    assert fastpath.lookup((e._node, into._node), None).direct is not None
    refs = [weakref.ref(r) for r in pair]
    assert [sys.getrefcount(r) for r in pair] == [3, 3]  # the tuple, the name r, the argument
    del pair
    assert [r() for r in refs] == [None, None]


def test_builtin_launches_count_as_cache_hits():
    e = la.asarray(np.arange(3.0)) + 5
    e.eval()
    e.eval()
    before = la.cache_info().hits
    for _ in range(10):
        e.eval()
    assert la.cache_info().hits - before == 10


def test_outputs_from_np_empty_when_numpy_api_table_is_not_used(monkeypatch):
    monkeypatch.setattr(objcall, "_new_array", 0)
    fastpath.clear()
    x = np.arange(5, dtype=np.int16)
    e = la.asarray(x) * 3
    results = [e.eval() for _ in range(3)]
    ex = _executor(e)
    assert ex.direct is not None and ex.one is not ex.direct
    for r in results:
        np.testing.assert_array_equal(r, x * 3)
        assert r.dtype == np.int16
    fastpath.clear()


def test_numpy_api_table_checks_out_here():
    assert objcall.array_new() != 0  # NumPy 2: PyArray_New at slot 93, PyArray_Type at 2


def test_operators_written_again_return_the_same_lazy_array():
    a, b = la.asarray(np.arange(3.0)), la.asarray(np.ones(3))

    def written() -> list:
        return [a * b, a + 1.5, 2 * a, -a, la.sqrt(a), a.sum(), a.mean(), la.where(a > 1, a, b)]

    first = written()
    ids = [id(x) for x in first]
    again = written()  # first still holds them: new objects of the same nodes (x[k] = v on
    assert all(x is not y and x._node is y._node for x, y in zip(first, again, strict=True))
    del first, again  # one name must not change the other)
    assert [id(x) for x in written()] == ids  # held by nobody else: the kept objects
    assert (a + 0.0) is not (a + -0.0)  # -0.0 == 0.0: never a key
    assert np.signbit((la.asarray(np.array([-0.0])) + -0.0).eval()[0])
    kept = a * b
    la.clear_cache()
    assert (a * b) is not kept


def test_kept_lazy_arrays_are_bounded_and_release_their_arrays():
    x = np.ones(4)
    ref = weakref.ref(x)
    la.asarray(x) * 2  # written, never evaluated
    del x
    gc.collect()
    assert ref() is not None  # kept for a loop that writes it again
    y = la.asarray(np.zeros(4))
    for k in range(fastpath.WRAPPERS):
        y + k  # built, never evaluated
    gc.collect()
    assert ref() is None
    assert len(fastpath.wrappers) <= fastpath.WRAPPERS


def test_out_arrays_are_checked_by_the_builtin():
    x = np.arange(6.0)
    e = la.asarray(x) + 1
    o = np.zeros(6)
    for _ in range(3):
        assert la.eval(e, out=o) is o
    assert fastpath.lookup((e._node,), (o,)).direct is not None
    o.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        la.eval(e, out=o)
    o.flags.writeable = True
    o[:] = 0
    o.shape = (2, 3)  # in place: other dimensions and strides, same object
    with pytest.raises(ValueError):
        la.eval(e, out=o)
    assert not o.any()
    o.shape = (6,)
    assert e.eval(out=o) is o
    np.testing.assert_array_equal(o, x + 1)
    other = np.zeros(6)
    assert la.eval(e, out=(other,)) is other
    np.testing.assert_array_equal(other, x + 1)


def test_several_out_arrays_are_checked_by_the_builtin():
    x = np.arange(4.0)
    a = la.asarray(x)
    o1, o2 = np.zeros(4), np.zeros(4)
    for _ in range(3):
        la.eval(a + 1, a * 2, out=(o1, o2))
    assert fastpath.lookup(((a + 1)._node, (a * 2)._node), (o1, o2)).direct is not None
    o2.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        la.eval(a + 1, a * 2, out=(o1, o2))
    o2.flags.writeable = True
    for first, second in ((o2, o1), (o1, o2)):
        la.eval(a + 1, a * 2, out=(first, second))
        np.testing.assert_array_equal(first, x + 1)
        np.testing.assert_array_equal(second, x * 2)


def test_an_evaluated_lazy_array_keeps_its_launch(monkeypatch):
    from lazyarr.config import settings

    x = np.arange(5.0)
    e = la.asarray(x) * 4
    results = [e.eval() for _ in range(3)] + [la.eval(e), la.eval(e, out=(None,))]
    assert e._ready is not None and e._ready.one is not None
    for r in results:
        np.testing.assert_array_equal(r, x * 4)
    assert len({id(r) for r in results}) == len(results)
    o, other = np.empty(5), np.empty(5)
    for target in (o, o, o, other, o):  # into one array, then another: each checked
        assert e.eval(out=target) is target
        np.testing.assert_array_equal(target, x * 4)
    assert e._ready.outs is not None  # the launch into o now
    np.testing.assert_array_equal(e.eval(), x * 4)
    monkeypatch.setattr(settings, "backend", "interp")  # another backend: no launch of ours
    before = la.cache_info().hits
    np.testing.assert_array_equal(e.eval(), x * 4)
    assert la.cache_info().hits == before
