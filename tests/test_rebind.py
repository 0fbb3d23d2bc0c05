"""The same expression over new arrays reuses the launch lowered for the first ones
(lazyarr/run/rebind.py): values must be those of the new arrays, whatever was shared before."""

import gc
import weakref

import numpy as np
import pytest

import lazyarr as la
from lazyarr.run import rebind


@pytest.fixture(autouse=True)
def fresh():
    la.clear_cache()
    yield
    la.clear_cache()


def _arrays(seed: int, shape=(7, 5), dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [(rng.random(shape) * 10 - 5).astype(dtype) for _ in range(3)]


def test_new_arrays_reuse_one_lowering_and_one_compile():
    x, y, _ = _arrays(9)
    la.asarray(x) * 2 + la.asarray(y)  # NumPy's loops for the lean operators: signed from here
    la.clear_cache()
    for seed in range(6):
        x, y, _ = _arrays(seed)
        got = (la.asarray(x) * 2 + la.asarray(y)).eval()
        np.testing.assert_array_equal(got, x * 2 + y)
    info = la.cache_info()
    assert (info.compiles, info.misses) == (1, 1)
    assert len(rebind._templates) == 1


@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.float64, np.uint8])
def test_scalars_are_the_new_graphs_own(dtype):
    x, _, _ = _arrays(1, dtype=dtype)
    a = la.asarray(x)
    for k, c in ((2, 1), (3, 5), (2, 2), (7, 2)):  # (2, 2): one scalar node, not two
        got = (a * k + c).eval()
        with np.errstate(over="ignore"):
            np.testing.assert_array_equal(got, x * dtype(k) + dtype(c))


def test_other_strides_and_views_are_other_structures():
    x, y, _ = _arrays(2, shape=(8, 6))
    for a, b in ((x, y), (x[:, ::2], y[:, :3]), (x.T[:3], y.T[2:5]), (x[::-1], y)):
        got = (la.asarray(a) - la.asarray(b)).eval()
        np.testing.assert_array_equal(got, a - b)
    for a in (x, y, x + 1):  # views of one leaf: offsets come from the structure
        lazy = la.asarray(a)
        np.testing.assert_array_equal((lazy[1:] - lazy[:-1]).eval(), a[1:] - a[:-1])


def test_leaves_sharing_memory_never_stand_for_each_other():
    x, y, z = _arrays(3)
    for a, b in ((x, x), (y, z), (z, z), (x, y)):
        got = (la.asarray(a) + la.asarray(b) * 3).eval()
        np.testing.assert_array_equal(got, a + b * 3)


def test_shared_subexpressions_and_reductions():
    for seed in range(3):
        x, y, _ = _arrays(seed)
        a, b = la.asarray(x), la.asarray(y)
        t = a * b
        got = (t + t.sum(axis=1, keepdims=True) - la.exp(b).max(axis=1, keepdims=True)).eval()
        want = x * y + (x * y).sum(axis=1, keepdims=True) - np.exp(y).max(axis=1, keepdims=True)
        np.testing.assert_allclose(got, want, rtol=1e-12)
        np.testing.assert_array_equal(la.where(a > b, a, -b).eval(), np.where(x > y, x, -y))


def test_rebuilt_structures_over_new_arrays_match_numpy():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    ops = st.sampled_from(["add", "subtract", "multiply", "maximum", "minimum"])
    step = st.tuples(ops, st.sampled_from([None, 0, 1, 2, -3, 0.5, -0.0]), st.booleans())

    @settings(max_examples=40, deadline=None)
    @given(steps=st.lists(step, min_size=1, max_size=5), seed=st.integers(0, 3))
    def check(steps, seed):
        for k in range(3):  # new arrays each time: the first lowers, the others rebind
            xn, yn, _ = _arrays(seed + 10 * k)
            v, w = la.asarray(xn), xn
            for op, scalar, reflected in steps:
                other = (la.asarray(yn), yn) if scalar is None else (scalar, scalar)
                v = getattr(la, op)(other[0], v) if reflected else getattr(la, op)(v, other[0])
                w = getattr(np, op)(other[1], w) if reflected else getattr(np, op)(w, other[1])
            got = v.eval()
            assert got.dtype == w.dtype
            np.testing.assert_array_equal(got, w)

    check()


def test_graphs_too_deep_for_the_walk_are_evaluated_without_a_template():
    x = np.linspace(0, 1, 17)
    expr = la.asarray(x)
    for k in range(3000):  # deeper than the recursion limit of the structure walk
        expr = expr + float(k % 3)
    assert rebind.structure((expr._node,)) is None
    np.testing.assert_allclose(expr.eval(), x + sum(k % 3 for k in range(3000)))
    assert not rebind._templates


def test_the_first_fresh_result_is_not_kept_by_its_launch():
    x = np.arange(1000.0)
    e = la.asarray(x) * 3
    first = e.eval()
    assert first.base is None  # small: not from the pool
    gone = weakref.ref(first)
    second = e.eval()
    np.testing.assert_array_equal(second, x * 3)
    del first
    assert gone() is None


def test_the_structure_walk_leaves_no_reference_cycle() -> None:
    """A finished evaluation's arrays are freed by reference counting alone (the walk's
    nested function once referred to itself: a cycle holding every leaf it saw)."""
    (la.asarray(np.ones(10)) * 2).eval()
    gc.disable()
    try:
        x = np.ones(10**5)
        ref = weakref.ref(x)
        (la.asarray(x) * 2).eval()
        del x
        la.clear_cache()
        assert ref() is None
    finally:
        gc.enable()


def test_updates_in_place_over_new_arrays_reuse_the_template():
    """An optimizer's step: ``p -= lr * g`` into ``p`` with a new ``g`` each time is one
    lowering; an ``out=`` that overlaps an input otherwise than element for element, or one of
    another layout, still gets NumPy's answer."""
    p = np.linspace(0, 1, 1000)
    want = p.copy()
    la.eval(la.asarray(p) - 0.1 * la.asarray(np.ones(1000)), out=p)  # the first: lowered
    want -= 0.1
    before = len(rebind._templates)
    for step in range(5):
        g = np.full(1000, step, dtype=np.float64)
        assert la.eval(la.asarray(p) - 0.1 * la.asarray(g), out=p) is p
        want -= 0.1 * step
        np.testing.assert_array_equal(p, want)
    assert len(rebind._templates) == before  # reused, not filed again
    a = np.arange(10.0)
    la.eval(la.asarray(a[:-1]) - 0.1 * la.asarray(np.ones(9)), out=a[1:])  # shifted overlap
    np.testing.assert_array_equal(a, np.r_[0.0, np.arange(9.0) - 0.1])
    strided = np.zeros(2000)[::2]
    la.eval(la.asarray(want) - 0.1 * la.asarray(np.ones(1000)), out=strided)
    np.testing.assert_array_equal(strided, want - 0.1)


@pytest.mark.parametrize("layout", ["fortran", "strided", "reversed"])
def test_a_template_lowered_for_out_arrays_never_writes_fresh_results(layout):
    """A template filed by an evaluation into ``out=`` arrays of another layout than fresh
    results has their strides: fresh results of the same structure (the shared launch or an
    executor of their own) must not be written through them, and the other way round."""
    def out_array():
        if layout == "fortran":
            return np.asfortranarray(np.zeros((7, 5)))
        if layout == "strided":
            return np.zeros((7, 10))[:, ::2]
        return np.zeros((7, 5))[::-1]

    def expr(x, y):
        return la.asarray(x) * la.asarray(y) + 1.5

    for seed in range(2):  # the lean tables: these expressions are signed from here on
        x, y, _ = _arrays(seed)
        expr(x, y).eval()
    for first_into in (True, False):
        la.clear_cache()
        for seed in range(2, 8):
            x, y, _ = _arrays(seed)
            into = (seed % 3 == 0) == first_into
            if into:
                out = out_array()
                assert la.eval(expr(x, y), out=out) is out
                got = out
            else:
                e = expr(x, y)
                got = e.eval()
                np.testing.assert_array_equal(e.eval(), x * y + 1.5)  # its own executor
            np.testing.assert_array_equal(got, x * y + 1.5)
