"""``@la.fuse``: traced once per signature, replayed with new arrays, always NumPy's values."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import lazyarr as la
from lazyarr.run import fuse as fuse_module

RNG = np.random.default_rng(12)


def _two(n: int = 50, dtype: str = "float64") -> tuple[np.ndarray, np.ndarray]:
    return RNG.standard_normal(n).astype(dtype), RNG.standard_normal(n).astype(dtype)


def gelu(x: la.LazyArray) -> la.LazyArray:
    return 0.5 * x * (1 + la.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def test_replays_one_kernel_with_new_arrays() -> None:
    def expr(a: la.LazyArray, b: la.LazyArray) -> la.LazyArray:
        return la.exp(-a) * b + a * 2.0

    f = la.fuse(expr)
    for n in (1, 7, 1000, 0):
        for _ in range(3):
            a, b = _two(n)
            got = f(a, b)
            assert type(got) is np.ndarray and got.dtype == np.float64
            # the bits of evaluating the expression; NumPy's exp may differ in the last bit
            np.testing.assert_array_equal(got, expr(la.asarray(a), la.asarray(b)).eval())
            np.testing.assert_allclose(got, np.exp(-a) * b + a * 2, rtol=1e-13, atol=1e-15)
    assert f.traces == 4  # once per shape (a new shape compiles nothing: see below)
    kinds = {key[1][0][1]: type(e).__name__ for key, e in f.entries.items()}
    assert kinds == {(1,): "_Kernel", (7,): "_Kernel", (1000,): "_Kernel", (0,): "_Steps"}


def test_a_new_shape_traces_but_never_compiles() -> None:
    f = la.fuse(lambda a: gelu(a) * 3.0)
    f(np.ones(10))
    compiles = la.cache_info().compiles
    for n in (11, 300, 5):
        np.testing.assert_array_equal(f(np.full(n, 0.5)),
                                      (gelu(la.asarray(np.full(n, 0.5))) * 3.0).eval())
    assert la.cache_info().compiles == compiles


def test_several_outputs_and_structures() -> None:
    def f(a: la.LazyArray, b: la.LazyArray) -> dict:
        return {"sum": a + b, "pair": (a * b, la.sqrt(la.abs(a)))}

    fused = la.fuse(f)
    for _ in range(2):
        a, b = _two()
        got = fused(a, b)
        np.testing.assert_array_equal(got["sum"], a + b)
        np.testing.assert_array_equal(got["pair"][0], a * b)
        np.testing.assert_array_equal(got["pair"][1], np.sqrt(np.abs(a)))


def test_reductions_matmul_and_views_replay_their_plan() -> None:
    def layer(x: la.LazyArray, w: la.LazyArray, b: la.LazyArray) -> la.LazyArray:
        h = la.maximum(x @ w + b, 0)
        return (h - h.mean(axis=1, keepdims=True)).T[::2]

    fused = la.fuse(layer)
    for _ in range(3):
        x, w, b = RNG.standard_normal((6, 5)), RNG.standard_normal((5, 4)), RNG.standard_normal(4)
        h = np.maximum(x @ w + b, 0)
        np.testing.assert_allclose(fused(x, w, b), (h - h.mean(axis=1, keepdims=True)).T[::2],
                                   rtol=1e-12, atol=1e-14)
    assert fused.traces == 1
    assert type(next(iter(fused.entries.values()))).__name__ == "_Steps"


def test_python_numbers_are_runtime_values() -> None:
    f = la.fuse(lambda a, s, k: a * s + k)
    a = np.arange(5.0)
    for s, k in ((2.0, 1), (0.5, -3), (1e300, 7), (-0.0, 0)):
        np.testing.assert_array_equal(f(a, s, k), a * s + k)
    assert f.traces == 1 + 2  # the trace, then once more per number to find its uses
    f32 = la.fuse(lambda a, s: a * s)
    x = np.ones(3, np.float32)
    for s in (0.1, 3.0):  # NEP 50: a Python float stays weak, rounded to float32
        got = f32(x, s)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, x * s)
    with pytest.raises(OverflowError):
        la.fuse(lambda a, k: a + k)(np.ones(2, np.int8), 300)


def test_numbers_that_shape_the_graph_are_part_of_the_signature() -> None:
    power = la.fuse(lambda a, n: a ** n)
    a = np.linspace(0.5, 2, 7)
    for n in (2, 3, -1, 2, 3):
        np.testing.assert_allclose(power(a, n), a ** n, rtol=1e-15)
    flag = la.fuse(lambda a, relu: la.maximum(a, 0) if relu else a * 1.0)
    np.testing.assert_array_equal(flag(a - 1, True), np.maximum(a - 1, 0))
    np.testing.assert_array_equal(flag(a - 1, False), a - 1)


def test_out_and_layouts() -> None:
    f = la.fuse(lambda a, b: a * b + 1)
    a, b = _two(40)
    out = np.empty(40)
    assert f(a, b, out=out) is out
    np.testing.assert_array_equal(out, a * b + 1)
    strided = np.empty(80)[::2]
    f(a, b, out=strided)
    np.testing.assert_array_equal(strided, a * b + 1)
    # other layouts: transposed, strided, big-endian, misaligned, 0-d
    m = RNG.standard_normal((6, 8))
    np.testing.assert_array_equal(f(m.T, m.T), m.T * m.T + 1)
    np.testing.assert_array_equal(f(m[:, ::3], m[:, ::3]), m[:, ::3] ** 2 + 1)
    big = m.astype(">f8")
    np.testing.assert_array_equal(f(big, m), m * m + 1)
    raw = np.zeros(8 * 10 + 1, np.uint8)[1:].view(np.float64)
    raw[:] = np.arange(10.0)
    assert not raw.flags.aligned
    np.testing.assert_array_equal(f(raw, raw), raw * raw + 1)
    np.testing.assert_array_equal(f(np.float64(3.0) * np.ones(()), np.ones(())), 4.0)


def test_one_array_twice_is_one_variable_only_then() -> None:
    f = la.fuse(lambda a, b: a - b)
    a, b = _two()
    np.testing.assert_array_equal(f(a, a), np.zeros_like(a))
    np.testing.assert_array_equal(f(a, b), a - b)  # not the trace of (a, a)
    np.testing.assert_array_equal(f(b, b), np.zeros_like(a))


GLOBAL_SCALE = 2.0
GLOBAL_ARRAY = np.arange(4.0)


def _uses_globals(a: la.LazyArray) -> la.LazyArray:
    return a * GLOBAL_SCALE + GLOBAL_ARRAY


def test_rebinding_a_global_retraces_and_in_place_changes_are_read() -> None:
    global GLOBAL_SCALE, GLOBAL_ARRAY
    f = la.fuse(_uses_globals)
    a = np.ones(4)
    saved = GLOBAL_SCALE, GLOBAL_ARRAY
    try:
        np.testing.assert_array_equal(f(a), 2.0 + np.arange(4.0))
        GLOBAL_SCALE = 3.0  # rebound: the trace is stale and is not used
        np.testing.assert_array_equal(f(a), 3.0 + np.arange(4.0))
        GLOBAL_ARRAY[:] = 10.0  # changed in place: read at the call, as lazyarr reads arrays
        np.testing.assert_array_equal(f(a), np.full(4, 13.0))
        GLOBAL_ARRAY = np.zeros(4)
        np.testing.assert_array_equal(f(a), np.full(4, 3.0))
        assert f.traces >= 3
    finally:
        GLOBAL_SCALE, GLOBAL_ARRAY = saved


def test_closure_variables_are_checked_too() -> None:
    scale = 2.0

    def f(a: la.LazyArray) -> la.LazyArray:
        return a * scale

    fused = la.fuse(f)
    np.testing.assert_array_equal(fused(np.ones(3)), np.full(3, 2.0))
    scale = 5.0  # read by f through its closure
    np.testing.assert_array_equal(fused(np.ones(3)), np.full(3, 5.0))


def test_functions_that_evaluate_run_again() -> None:
    def evaluates(a: la.LazyArray) -> la.LazyArray:
        return a - float(a.sum())  # a value of this call

    f = la.fuse(evaluates)
    for _ in range(2):
        a = RNG.standard_normal(5)
        np.testing.assert_allclose(f(a), a - a.sum(), rtol=1e-14)
    assert type(next(iter(f.entries.values()))).__name__ == "_Again"


def test_numpy_views_of_arguments_are_taken_again() -> None:
    """``a[1:]``, ``w.T`` of an argument fold into NumPy views when written: a replay takes
    the same view of the new array (one kernel, and a plan with a matrix product)."""
    views = la.fuse(lambda a: a[1:, ::-2].T * 2)
    linear = la.fuse(lambda x, w: la.maximum(x @ w.T, 0) + w[:, 0])
    for _ in range(3):
        a = RNG.standard_normal((5, 6))
        np.testing.assert_array_equal(views(a), a[1:, ::-2].T * 2)
        x, w = RNG.standard_normal((4, 3)), RNG.standard_normal((2, 3))
        np.testing.assert_allclose(linear(x, w), np.maximum(x @ w.T, 0) + w[:, 0], rtol=1e-14)
    assert {type(e).__name__ for e in views.entries.values()} == {"_Kernel"}
    assert {type(e).__name__ for e in linear.entries.values()} == {"_Steps"}
    assert views.traces == linear.traces == 1


def test_keys_are_runtime_values() -> None:
    """A random key argument is a run-time value (each step's key traces nothing), in
    one-kernel and several-step plans alike."""
    drop = la.fuse(lambda x, k: la.nn.dropout(x, 0.5, k))
    layer = la.fuse(lambda x, w, k: la.nn.dropout(x @ w, 0.5, k).sum(axis=0))
    x, w = RNG.standard_normal((8, 5)), RNG.standard_normal((5, 3))
    for s in range(4):
        k = la.random.key(s)
        np.testing.assert_array_equal(drop(x, k), la.nn.dropout(x, 0.5, k).eval())
        np.testing.assert_allclose(layer(x, w, k),
                                   la.nn.dropout(x @ w, 0.5, k).sum(axis=0).eval(), rtol=1e-14)
    assert drop.traces == layer.traces == 2  # the trace, and one to find the key's uses


def test_grad_of_fuse_and_fuse_of_grad() -> None:
    def loss(w: la.LazyArray) -> la.LazyArray:
        return la.sum(gelu(w) ** 2)

    w = RNG.standard_normal(30)
    want = la.grad(loss)(w).eval()
    np.testing.assert_allclose(la.grad(la.fuse(loss))(w).eval(), want, rtol=1e-14)
    fused_grad = la.fuse(la.grad(loss))
    for _ in range(3):
        w = RNG.standard_normal(30)
        np.testing.assert_allclose(fused_grad(w), la.grad(loss)(w).eval(), rtol=1e-14)


def test_errors_keep_their_types() -> None:
    with pytest.raises(TypeError):
        la.fuse(3)
    f = la.fuse(lambda a, b: a + b)
    with pytest.raises(ValueError):
        f(np.ones(3), np.ones(4))
    p = la.fuse(lambda a, b: a ** b)
    np.testing.assert_array_equal(p(np.array([2, 3]), np.array([2, 1])), [4, 3])
    with pytest.raises(ValueError, match="negative integer powers"):
        p(np.array([2, 3]), np.array([2, -1]))
    np.testing.assert_array_equal(p(np.array([2, 3]), np.array([0, 2])), [1, 9])


def test_threads_share_a_fused_function() -> None:
    f = la.fuse(lambda a, b: la.sin(a) * b)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(200):
                a, b = np.random.rand(64), np.random.rand(64)
                np.testing.assert_allclose(f(a, b), np.sin(a) * b, rtol=1e-12, atol=1e-15)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_lazy_arguments_run_the_function() -> None:
    f = la.fuse(lambda a: a * 2)
    lazy = la.asarray(np.arange(3.0)) + 1
    np.testing.assert_array_equal(f(lazy), [2.0, 4.0, 6.0])
    assert f.entries == {}


def test_key_matches_the_slow_signature() -> None:
    """The per-call key of positional arrays and numbers is the one tracing files."""
    a, b = _two()
    args = (a, 2.0, b, 3, a)
    leaves: list = []
    structure = fuse_module._flatten(args, leaves)
    assert fuse_module._quick_key(args) == fuse_module._signature(leaves, structure)


def test_replays_keep_no_call_arrays_alive() -> None:
    """After a call returns, neither kind of replay holds that call's arrays (a training
    loop's batches are freed), nor the traced ones."""
    import gc
    import weakref

    kernel = la.fuse(lambda a, b: a * b + 1)
    steps = la.fuse(lambda a, w: la.maximum(a @ w, 0).sum(axis=0))
    refs = []
    for _ in range(3):
        a, b, w = RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4)), RNG.standard_normal(
            (4, 3))
        kernel(a, b)
        steps(a, w)
        refs += [weakref.ref(x) for x in (a, b, w)]
        del a, b, w
    gc.collect()
    assert all(r() is None for r in refs)
