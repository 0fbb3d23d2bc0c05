"""Fresh-input dispatch: operators on new nodes take a lean path (lazyarr/front/array.py), and
a new graph of a known structure runs through its template's shared launch
(lazyarr/run/fastpath.py). Both must give exactly what the general path gives."""

import gc
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyarr as la
from lazyarr.front import array as lazy
from lazyarr.front import build
from lazyarr.ir.graph import Op
from lazyarr.run import fastpath, rebind


@pytest.fixture(autouse=True)
def fresh():
    la.clear_cache()
    yield
    la.clear_cache()


def _values(dtype, seed: int, shape=(6,)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) > 0.5
    return (rng.random(shape) * 20 - 10).astype(dtype) if np.dtype(dtype).kind != "u" \
        else (rng.random(shape) * 20).astype(dtype)


class _Spy:
    """Counts calls of build._apply (the general path of an operator)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = build._apply

        def spy(*args):
            self.calls += 1
            return real(*args)

        monkeypatch.setattr(build, "_apply", spy)


def _same(p, q) -> bool:
    """One expression: the same node, or nodes of equal fields over the same expressions (the
    lean path's signed nodes are not interned: lazyarr.ir.graph.node2)."""
    return p is q or (p.op is q.op and p.dtype == q.dtype and p.shape == q.shape and
                      p.arg is None and q.arg is None and len(p.src) == len(q.src) and
                      all(map(_same, p.src, q.src)))


PAIRS = [(np.float64, np.float64), (np.float32, np.float32), (np.float32, np.float64),
         (np.int32, np.int64), (np.uint8, np.int8), (np.int64, np.float64), (np.bool_, np.bool_),
         (np.uint16, np.uint16)]
BINARY = ["add", "subtract", "multiply", "maximum", "less", "equal", "true_divide"]


@pytest.mark.parametrize(("dt1", "dt2"), PAIRS)
@pytest.mark.parametrize("name", BINARY)
def test_lean_binary_operations_are_the_general_paths_nodes(dt1, dt2, name, monkeypatch):
    op = {"true_divide": Op.TRUE_DIVIDE}.get(name, Op[name.upper()])
    fn = getattr(la, name)
    with np.errstate(all="ignore"):
        try:
            want = getattr(np, name)(_values(dt1, 0), _values(dt2, 1))
        except TypeError:  # NumPy has no loop (bool subtract): lazyarr raises as it does
            with pytest.raises(TypeError):
                fn(la.asarray(_values(dt1, 0)), la.asarray(_values(dt2, 1)))
            return
    fn(la.asarray(_values(dt1, 0)), la.asarray(_values(dt2, 1)))  # resolves NumPy's loop
    spy = _Spy(monkeypatch)
    for seed in range(2, 5):  # new arrays: every node new
        x, y = la.asarray(_values(dt1, seed)), la.asarray(_values(dt2, seed + 1))
        got = fn(x, y)
        with np.errstate(all="ignore"):
            want = getattr(np, name)(_values(dt1, seed), _values(dt2, seed + 1))
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got.eval(), want)
        monkeypatch.undo()
        assert _same(build.apply(op, x, y), got._node)  # the general path's node
        spy = _Spy(monkeypatch)
    lean = lazy._lean_get((op, np.dtype(dt1), np.dtype(dt2)))
    if lean is not lazy._REFUSED:  # operands cast (mixed dtypes) take the general path
        assert spy.calls == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("scalar", [2, 3.5, -1, 1e300, -7.25, 10**30])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "truediv", "gt"])
def test_lean_scalar_operations_match_numpy_both_ways(dtype, scalar, name, monkeypatch):
    op = {"sub": Op.SUBTRACT, "mul": Op.MULTIPLY, "truediv": Op.TRUE_DIVIDE,
          "gt": Op.GREATER}.get(name, Op.ADD)
    fn = getattr(operator, name)  # the operators (NumPy's ufuncs come through their protocol)
    x0 = la.asarray(_values(dtype, 0))
    fn(x0, scalar), fn(scalar, x0)  # resolves the loops
    spy = _Spy(monkeypatch)
    for seed in range(1, 4):
        xn = _values(dtype, seed)
        x = la.asarray(xn)
        with np.errstate(all="ignore"):  # NumPy's own warnings (float32 overflows)
            pairs = ((fn(x, scalar), fn(xn, scalar)), (fn(scalar, x), fn(scalar, xn)))
            for got, want in pairs:
                assert got.dtype == want.dtype
                np.testing.assert_array_equal(got.eval(), want)
    assert spy.calls == 0  # every one of them took the lean path
    monkeypatch.undo()
    assert _same(build.apply(op, x, scalar), fn(x, scalar)._node)


def test_lean_unary_operations_and_functions(monkeypatch):
    x0 = la.asarray(_values(np.float32, 0))
    _ = -x0, abs(x0), la.exp(x0), la.sqrt(x0)
    spy = _Spy(monkeypatch)
    xn = _values(np.float32, 1)
    x = la.asarray(xn)
    with np.errstate(invalid="ignore"):
        for got, want in ((-x, -xn), (abs(x), abs(xn)), (la.sqrt(x), np.sqrt(xn))):
            assert got.dtype == want.dtype
            np.testing.assert_array_equal(got.eval(), want)
    np.testing.assert_allclose(la.exp(x).eval(), np.exp(xn), rtol=1e-6)
    assert spy.calls == 0


def test_lean_broadcasting_and_its_errors():
    a, b = np.arange(12.0).reshape(3, 4), np.arange(4.0)
    for _ in range(3):  # the general path, then the kept shape pair
        np.testing.assert_array_equal((la.asarray(a) * la.asarray(b)).eval(), a * b)
        np.testing.assert_array_equal((la.asarray(b) - la.asarray(a)).eval(), b - a)
    for _ in range(2):  # NumPy's error, from the general path, every time
        with pytest.raises(ValueError, match="could not be broadcast"):
            la.asarray(np.ones(3)) + la.asarray(np.ones(4))


def test_cases_the_lean_path_leaves_to_the_general_one():
    """Rewritten ops, narrow and complex dtypes, integer arrays with Python ints (out of
    range: NumPy's OverflowError; comparisons folded) and 0.0 keep NumPy's answers."""
    for _ in range(2):
        x = np.linspace(-2, 2, 7)
        np.testing.assert_array_equal((la.asarray(x) ** 2).eval(), x ** 2)
        h = x.astype(np.float16)
        np.testing.assert_array_equal((la.asarray(h) * la.asarray(h)).eval(), h * h)
        c = x + 1j * x[::-1]
        np.testing.assert_allclose((la.asarray(c) * la.asarray(c)).eval(), c * c)
        u = np.arange(5, dtype=np.uint8)
        with pytest.raises(OverflowError):
            la.asarray(u) + 300
        np.testing.assert_array_equal((la.asarray(u) < 300).eval(), u < 300)
        z = np.array([-0.0, 1.0])
        assert np.signbit((la.asarray(z) + -0.0).eval()[0])
        assert not np.signbit((la.asarray(z) + 0.0).eval()[0])


def test_a_new_graph_of_a_known_structure_plans_and_compiles_nothing(monkeypatch):
    rng = np.random.default_rng(0)
    wn, bn = rng.random(100), rng.random(100)
    w, b = la.asarray(wn), la.asarray(bn)

    def expr(a, w, b, xp):
        return ((a * w + b) * a - w) * 2.0 + xp.exp(a) - b * a + 1.0

    # the first writing takes the general path (it resolves NumPy's loops for the lean
    # tables) and files the template of its walk; the second is signed and files its own
    for _ in range(2):
        expr(la.asarray(rng.random(100)), w, b, la).eval()
    info, filed = la.cache_info(), len(rebind._templates)
    counted = {"schedule": 0, "lower": 0}
    for name in counted:
        real = getattr(fastpath, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            counted[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(fastpath, name, spy)
    for _ in range(5):
        xn = rng.random(100)
        e = expr(la.asarray(xn), w, b, la)
        assert e._node.sid  # signed as written: no walk
        np.testing.assert_allclose(e.eval(), expr(xn, wn, bn, np), rtol=1e-13)
        assert fastpath.lookup((e._node,), None) is None  # the shared launch, no executor
        np.testing.assert_allclose(e.eval(), expr(xn, wn, bn, np), rtol=1e-13)
        assert fastpath.lookup((e._node,), None) is not None  # evaluated again: its own
    assert counted == {"schedule": 0, "lower": 0}
    assert (la.cache_info().compiles, la.cache_info().misses) == (info.compiles, info.misses)
    assert len(rebind._templates) == filed


def test_shared_launches_keep_each_graphs_scalars():
    x = np.array([-0.0, 1.5, -2.0, 3.0])
    a = la.asarray(x)
    (a * 2.0 + 1.0).eval()  # the template
    for k, c in ((3.0, 5.0), (2.0, 1.0), (-1.5, 0.25), (3.0, 5.0), (7.0, np.nan)):
        got = (la.asarray(x.copy()) * k + c).eval()
        np.testing.assert_array_equal(got, x * k + c)
    for c in (0.0, -0.0, 0.0):  # bits, not values, tell launches apart
        got = (la.asarray(x.copy()) * 1.0 + c).eval()
        np.testing.assert_array_equal(np.signbit(got), np.signbit(x * 1.0 + c))


def test_shared_launch_raises_the_kernels_error():
    e = np.array([1, 2, 3], dtype=np.int64)
    (la.asarray(np.array([2, 3, 4])) ** la.asarray(e)).eval()
    with pytest.raises(ValueError, match="negative integer powers"):
        (la.asarray(np.array([2, 3, 4])) ** la.asarray(-e)).eval()
    np.testing.assert_array_equal(
        (la.asarray(np.array([2, 3, 4])) ** la.asarray(e)).eval(), [2, 9, 64])


def test_a_changed_lazy_array_is_never_handed_out_again():
    w = la.asarray(np.arange(4.0))
    for k in range(3):
        a = la.asarray(np.full(4, float(k)))
        y = a * w + 1.0
        z = a * w + 1.0
        y[0] = 5.0
        np.testing.assert_array_equal(y.eval(), [5.0, k + 1, 2 * k + 1, 3 * k + 1])
        np.testing.assert_array_equal(z.eval(), [1.0, k + 1, 2 * k + 1, 3 * k + 1])
        np.testing.assert_array_equal((a * w + 1.0).eval(), z.eval())


def test_structure_keys_tell_shared_nodes_and_roots_apart():
    def key(*roots):
        return rebind.structure(tuple(r._node for r in roots)).key

    x, y = np.arange(4.0), np.arange(4.0) + 1
    a, b = la.asarray(x), la.asarray(y)
    # the same structure over other arrays, and what differs only in sharing or arity
    assert key(a * b + 1.0) == key(la.asarray(x.copy()) * la.asarray(y) + 1.0)
    assert key(a * a) != key(a * b)
    assert key(la.exp(a) + b) != key(a + b) != key(la.where(a > b, a, b))
    # several roots: one inside another, one repeated
    s = a * b
    t = s + a
    assert key(t, s) != key(s, t) != key(t, t)
    c = la.asarray(x.copy())
    assert key(t, s) == key(c * b + c, c * b) != key(t, b * a)
    got = la.eval(t, s, t)
    for g, want in zip(got, (x * y + x, x * y, x * y + x), strict=True):
        np.testing.assert_array_equal(g, want)


def test_new_batches_keep_the_interning_table_small():
    # its dead entries count towards the cyclic collector's next pass until swept
    from lazyarr.ir import graph

    la.clear_cache()
    gc.collect()
    # a sweep sets the next one at twice the live entries: after other tests' large graphs
    # that can be far above the minimum, until the table is swept once more (then it drops)
    graph._sweep(graph._INTERNED, graph._INTERNED_MIN)
    # nodes other tests left alive (held by their arrays): the table may hold twice as many
    alive = sum(r() is not None for r in list(graph._INTERNED.values()))
    rng = np.random.default_rng(1)
    w, b = la.asarray(rng.random(50)), la.asarray(rng.random(50))
    largest = 0
    for _ in range(1000):
        a = la.asarray(rng.random(50))
        (((a * w + b) * a - w) * 2.0 + la.exp(a) - b * a + 1.0).eval()
        largest = max(largest, len(graph._INTERNED))
    assert largest <= 2 * alive + 1024, (largest, alive)  # from 4096 (before): 4091


# -- signed graphs (lazyarr.ir.graph.node2): launches rebound by signature -------------------
_LEAN_BINARY = (operator.add, operator.sub, operator.mul, operator.truediv)
_LEAN_UNARY = (operator.neg, abs, "exp", "sqrt")


def _trees(depth: int):
    """Expressions of the lean operators over leaf slots 0-2 and Python floats, as tuples."""
    slot = st.integers(0, 2)
    scalar = st.sampled_from([2.0, -0.5, 3.0]).map(lambda v: ("scalar", v))
    if depth == 0:
        return st.one_of(slot, scalar)
    sub = _trees(depth - 1)
    return st.one_of(
        slot,
        st.tuples(st.sampled_from(range(len(_LEAN_BINARY))), sub, sub),
        st.tuples(st.sampled_from(range(len(_LEAN_UNARY))).map(lambda k: ("unary", k)), sub))


def _written(tree, leaves, xp):
    if isinstance(tree, int):
        return leaves[tree]
    if tree[0] == "scalar":
        return tree[1]
    if isinstance(tree[0], tuple):  # ("unary", k), operand
        fn = _LEAN_UNARY[tree[0][1]]
        x = _written(tree[1], leaves, xp)
        return getattr(xp, fn)(x) if isinstance(fn, str) else fn(x)
    return _LEAN_BINARY[tree[0]](_written(tree[1], leaves, xp), _written(tree[2], leaves, xp))


def _reads_a_leaf(tree) -> bool:
    if isinstance(tree, int):
        return True
    return tree[0] != "scalar" and any(_reads_a_leaf(t) for t in tree[1:])


def _laid_out(values: np.ndarray, layout: str) -> np.ndarray:
    """``values`` in a new array of ``layout``: the signature of a leaf tells them apart."""
    if layout == "strided":
        wide = np.empty(2 * values.size)
        wide[::2] = values
        return wide[::2]
    if layout == "reversed":
        return values[::-1].copy()[::-1]
    if layout == "big-endian":
        return values.astype(">f8")
    if layout == "misaligned":
        raw = np.empty(values.nbytes + 1, np.uint8)[1:].view(np.float64)
        raw[...] = values
        return raw
    return values.copy()


_LAYOUTS = ("contiguous", "strided", "reversed", "big-endian", "misaligned")


def _out(layout: str | None) -> np.ndarray | None:
    """An ``out=`` array for a result of 9 float64 elements, or None (a fresh result)."""
    if layout is None:
        return None
    return {"strided": lambda: np.zeros(18)[::2], "reversed": lambda: np.zeros(9)[::-1],
            "contiguous": lambda: np.zeros(9)}[layout]()


@settings(max_examples=60, deadline=None, derandomize=True, database=None)
@given(tree=_trees(3).filter(lambda t: not isinstance(t, int) and _reads_a_leaf(t)),
       sharing=st.lists(st.integers(0, 2), min_size=3, max_size=3),
       layouts=st.lists(st.sampled_from(_LAYOUTS), min_size=3, max_size=3),
       into=st.lists(st.sampled_from([None, None, "strided", "reversed", "contiguous"]),
                     min_size=16, max_size=16))
def test_signed_graphs_rebind_only_to_their_own_structure(tree, sharing, layouts, into):
    """A tree written over three distinct leaves, with some slots reading one leaf (the slots
    mapped through ``sharing``), and over arrays laid out otherwise (one array in some slots,
    as distinct leaves); each evaluation into a fresh result or an ``out=`` array of the
    layout ``into`` says. Each, whatever was evaluated before it, gives the bits it gives
    with every cache cleared, and NumPy's values."""
    rng = np.random.default_rng(7)
    base = [rng.random(9) + 0.5 for _ in range(3)]
    bindings = [  # the arrays of each slot, and the slot whose leaf each slot reads
        ([base[k] for k in range(3)], (0, 1, 2)),
        ([base[k] for k in range(3)], tuple(sharing)),
        ([_laid_out(base[sharing[k]], layouts[k]) for k in range(3)], (0, 1, 2)),
    ]

    def value(arrays, reads, layout=None):
        leaves = [la.asarray(a) for a in arrays]
        out = _out(layout)
        got = _written(tree, [leaves[j] for j in reads], la).eval(out=out)
        assert out is None or got is out
        return got

    alone = []
    for arrays, reads in bindings:  # what each gives with nothing filed before it
        la.clear_cache()
        alone.append(value(arrays, reads))
    # each binding twice in a row (the first writing after a cleared cache takes the general
    # path; the second is signed and files its template), then the others over it
    steps = iter(into)
    for order in ((0, 0, 1, 1, 2, 2, 0, 1), (1, 1, 0, 0, 2, 2, 1, 0)):
        la.clear_cache()
        for k in order:
            arrays, reads = bindings[k]
            got = value(arrays, reads, next(steps))
            np.testing.assert_array_equal(got, alone[k])
            with np.errstate(all="ignore"):
                reference = _written(tree, [arrays[j] for j in reads], np)
            # NumPy's exp may differ in its last bit between hosts (its SIMD paths), and
            # sums of the trees' terms can cancel: a tolerance, not bits (a launch rebound
            # to the wrong arrays is off by far more); the bits are the check above
            np.testing.assert_allclose(got, reference, rtol=1e-11, atol=1e-12)


def test_a_tree_reading_more_than_ins_max_leaves_is_interned_and_walked():
    from lazyarr.ir import graph

    x = la.asarray(np.ones(4))
    y, depth = x, 0
    while graph.sign(y._node):  # y + y reads twice what y reads
        y, depth = y + y, depth + 1
    assert 2 ** (depth - 1) <= graph.INS_MAX < 2 ** depth
    assert graph.make(Op.ADD, y.dtype, y.shape, y._node.src) is y._node  # interned
    for _ in range(40):  # no tuple of 2^40 reads: the signature stopped
        y = y + y
    np.testing.assert_array_equal(y.eval(), np.full(4, 2.0 ** (40 + depth)))


def test_signature_numbers_are_never_reused_when_their_table_starts_again(monkeypatch):
    from lazyarr.ir import graph

    monkeypatch.setattr(graph, "_SIDS_MAX", 4)  # the table starts again every few numbers
    rng = np.random.default_rng(3)
    wn = rng.random(8)
    w = la.asarray(wn)
    exprs = {"axpy": lambda a, xp: a * w_of(xp) + 2.0,
             "shared": lambda a, xp: a - w_of(xp) * a,
             "exp": lambda a, xp: xp.exp(a) * w_of(xp)}

    def w_of(xp):
        return w if xp is la else wn

    named: dict[int, str] = {}  # each number names one structure, for good
    names = list(exprs)
    for _ in range(20):
        x = rng.random(8)
        for k in rng.permutation(len(names)):  # numbered in another order each time
            name, f = names[k], exprs[names[k]]
            e = f(la.asarray(x), la)
            if e._node.sid:
                assert named.setdefault(e._node.sid, name) == name
            np.testing.assert_allclose(e.eval(), f(x, np), rtol=1e-15)
    assert len(named) > len(exprs)  # the table did start again: the same ones, new numbers
