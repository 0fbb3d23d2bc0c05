"""Zero-copy views against NumPy: on leaves and on expressions, chained, and as outputs."""

import tracemalloc

import numpy as np
import pytest

import lazyarr as la
from lazyarr.inspect.kernelplan import build_plan as plan

INDICES = [
    (1,), (-1,), (slice(None, None, 2),), (slice(None, None, -1),), (slice(5, 1, -2),),
    (Ellipsis, 1), (None, 2), (1, None, slice(1, 3)), (slice(None), None), (Ellipsis, None),
    (slice(2, 2),), (2, -1, 0), (slice(None), slice(None, None, -3), 1), (np.int64(1), Ellipsis),
]


def base(rng, dtype="float64"):
    return (rng.random((6, 5, 4)) * 10).astype(dtype)


@pytest.mark.parametrize("index", INDICES, ids=str)
@pytest.mark.parametrize("on", ["leaf", "expression"])
def test_basic_indexing(rng, index, on, backend):
    x = base(rng)
    a = la.asarray(x)
    lazy, ref = (a[index], x[index]) if on == "leaf" else ((a * 2 + 1)[index], (x * 2 + 1)[index])
    got = la.eval(lazy, backend=backend)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("index", [(7,), (0, 0, 0, 0), (Ellipsis, Ellipsis), (-7,)], ids=str)
def test_bad_indices_raise_like_numpy(rng, index):
    x = base(rng)
    with pytest.raises(IndexError):
        x[index]
    for lazy in (la.asarray(x), la.asarray(x) + 1):
        with pytest.raises(IndexError):
            lazy[index]


def test_advanced_indexing_matches_numpy(rng):
    x = base(rng)
    a = la.asarray(x) * 2
    mask = x > 5
    np.testing.assert_array_equal(a[mask].eval(), (x * 2)[mask])
    np.testing.assert_array_equal(a[[0, 2]].eval(), (x * 2)[[0, 2]])


OPERATIONS = {
    "T": (lambda a: a.T, lambda x: x.T),
    "mT": (lambda a: a.mT, lambda x: x.mT),
    "transpose": (lambda a: a.transpose(1, 0, 2), lambda x: x.transpose(1, 0, 2)),
    "permute_dims": (lambda a: la.permute_dims(a, (2, 0, 1)),
                     lambda x: np.permute_dims(x, (2, 0, 1))),
    "swapaxes": (lambda a: a.swapaxes(0, -1), lambda x: x.swapaxes(0, -1)),
    "moveaxis": (lambda a: la.moveaxis(a, 0, -1), lambda x: np.moveaxis(x, 0, -1)),
    "moveaxis2": (lambda a: la.moveaxis(a, (0, 1), (2, 0)),
                  lambda x: np.moveaxis(x, (0, 1), (2, 0))),
    "flip": (lambda a: la.flip(a, 1), lambda x: np.flip(x, 1)),
    "flip_all": (lambda a: la.flip(a), lambda x: np.flip(x)),
    "expand_dims": (lambda a: la.expand_dims(a, (0, -1)), lambda x: np.expand_dims(x, (0, -1))),
    "squeeze": (lambda a: la.expand_dims(a, 1).squeeze(1), lambda x: x),
    "broadcast_to": (lambda a: la.broadcast_to(a, (2, 6, 5, 4)),
                     lambda x: np.broadcast_to(x, (2, 6, 5, 4))),
    "reshape": (lambda a: a.reshape(30, 4), lambda x: x.reshape(30, 4)),
    "reshape_-1": (lambda a: a.reshape(-1, 2, 5), lambda x: x.reshape(-1, 2, 5)),
    "ravel": (lambda a: a.ravel(), lambda x: x.ravel()),
    "reshape_T": (lambda a: a.T.reshape(20, 6), lambda x: x.T.reshape(20, 6)),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
@pytest.mark.parametrize("on", ["leaf", "expression", "strided"])
def test_view_operations(rng, name, on, backend):
    lazy_op, numpy_op = OPERATIONS[name]
    x = base(rng)
    if on == "leaf":
        lazy, ref = lazy_op(la.asarray(x)), numpy_op(x)
    elif on == "expression":
        lazy, ref = lazy_op(la.exp(la.asarray(x) / 10) - 1), numpy_op(np.exp(x / 10) - 1)
    else:
        big = base(rng).repeat(2, axis=0)[::-2]
        lazy, ref = lazy_op(la.asarray(big) * 3), numpy_op(big * 3)
    got = la.eval(lazy, backend=backend)
    assert got.shape == ref.shape and got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=1e-15)


def test_views_of_leaves_are_zero_copy(rng):
    x = base(rng)
    a = la.asarray(x)
    for lazy in (a.T, a[::2, 1], la.expand_dims(a, 0), a.reshape(30, 4), la.flip(a, 0), a.mT):
        assert np.shares_memory(np.asarray(lazy), x)


def test_chained_views_of_expressions_are_one_kernel(rng):
    a, b = la.asarray(rng.random((8, 6))), la.asarray(rng.random((8, 6)))
    c = la.asarray(rng.random((3, 4)))
    expr = (a + b)[::2, ::-2].T * c
    assert [s.kind for s in plan([expr._node])] == ["kernel"]
    an, bn, cn = (np.asarray(v) for v in (a, b, c))
    np.testing.assert_array_equal(expr.eval(), (an + bn)[::2, ::-2].T * cn)


def test_reshape_of_expression_pushes_down_without_copies(rng):
    a, b = la.asarray(rng.random((6, 4))), la.asarray(rng.random((6, 4)))
    expr = (a * b + 1).reshape(3, 8)
    assert [s.kind for s in plan([expr._node])] == ["kernel"]
    expr.eval()
    tracemalloc.start()
    result = expr.eval()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < result.nbytes + 10_000


def test_reshape_that_needs_a_copy_is_transparent(rng):
    x = rng.random((6, 4))
    a = la.asarray(x)
    expr = (a.T + 0).T.reshape(8, 3)  # a reshape of a transposed expression
    np.testing.assert_array_equal(expr.eval(), x.reshape(8, 3))
    expr = a.T.reshape(24)  # not a view of the leaf: copied when evaluated
    np.testing.assert_array_equal(expr.eval(), x.T.reshape(24))


@pytest.mark.parametrize("call,exc", [
    (lambda a: a.reshape(7, 3), ValueError), (lambda a: a.reshape(-1, -1), ValueError),
    (lambda a: a.squeeze(0), ValueError), (lambda a: la.broadcast_to(a, (3,)), ValueError),
    (lambda a: a.transpose(0, 0), ValueError), (lambda a: la.moveaxis(a, 0, 5), Exception),
    (lambda a: la.expand_dims(a, 4), Exception), (lambda a: a.swapaxes(0, 3), Exception),
])
def test_bad_views_raise(rng, call, exc):
    a = la.asarray(rng.random((6, 4)))
    for target in (a, a + 1):
        with pytest.raises(exc):
            call(target)


def test_eval_into_views_of_numpy_arrays(rng, backend):
    x = rng.random((4, 3))
    dest = np.zeros((4, 6))
    la.eval(la.asarray(x) * 2, out=dest[:, ::2], backend=backend)
    np.testing.assert_array_equal(dest[:, ::2], x * 2)
    np.testing.assert_array_equal(dest[:, 1::2], 0)
    dest = np.zeros((3, 4))
    la.eval(la.asarray(x).T + 1, out=dest.T.T, backend=backend)
    np.testing.assert_array_equal(dest, x.T + 1)


def test_matmul_is_a_barrier_with_fused_epilogue(rng, backend):
    x, w, b = rng.random((5, 4)), rng.random((4, 3)), rng.random(3)
    xl, wl = la.asarray(x), la.asarray(w)
    expr = la.maximum(xl @ wl + b, 0)
    assert [s.kind for s in plan([expr._node])] == ["opaque", "kernel"]
    np.testing.assert_allclose(la.eval(expr, backend=backend), np.maximum(x @ w + b, 0),
                               rtol=1e-14)
    pro = (xl * 2) @ wl
    assert [s.kind for s in plan([pro._node])] == ["kernel", "opaque"]
    np.testing.assert_allclose(la.eval(pro, backend=backend), (x * 2) @ w, rtol=1e-14)


@pytest.mark.parametrize("a_shape,b_shape", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                              ((2, 5, 3), (3, 4)), ((1, 2, 3), (4, 3, 2))])
def test_matmul_and_dot_shapes(rng, a_shape, b_shape, backend):
    x, y = rng.random(a_shape), rng.random(b_shape)
    got = la.eval(la.asarray(x) @ y, backend=backend)
    np.testing.assert_allclose(got, x @ y, rtol=1e-14)
    assert got.shape == (x @ y).shape
    np.testing.assert_allclose(la.eval(la.dot(x, y), backend=backend), np.dot(x, y),
                               rtol=1e-14)


def test_matmul_errors_like_numpy(rng):
    x, y = rng.random((2, 3)), rng.random((4, 2))
    with pytest.raises(ValueError):
        la.asarray(x) @ y
    with pytest.raises(ValueError):
        la.asarray(np.float64(1.0)) @ y


def test_concatenate_and_stack(rng, backend):
    x, y = rng.random((2, 3)), rng.random((4, 3)).astype(np.float32)
    a, b = la.asarray(x), la.asarray(y)
    np.testing.assert_array_equal(la.eval(la.concatenate([a, b * 2]), backend=backend),
                                  np.concatenate([x, y * 2]))
    np.testing.assert_array_equal(la.eval(la.concatenate([a.T, a.T], axis=1), backend=backend),
                                  np.concatenate([x.T, x.T], axis=1))
    np.testing.assert_array_equal(la.eval(la.stack([a, a + 1], axis=-1), backend=backend),
                                  np.stack([x, x + 1], axis=-1))
    with pytest.raises(ValueError):
        la.concatenate([a, la.asarray(rng.random((2, 4)))])
    with pytest.raises(ValueError):
        la.stack([a, b])
