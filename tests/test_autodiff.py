"""Autodiff: the API in JAX's and TensorFlow's conventions, its errors, and what fuses.

The per-op gradient checks (every rule against central differences and JAX) are
``tests/test_autodiff_ops.py``; this file checks the transforms themselves, the kernel counts
the issue asks for, and the scheduling that makes them (per-row outputs joining a row-wise
kernel, row statistics planned together, views of materialised results).
"""

from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

import lazyarr as la
from lazyarr.front.autodiff import NonScalarOutputError

RNG = np.random.default_rng(14)


def _kernels(*exprs: la.LazyArray) -> int:
    return len(la.explain(*exprs).kernel_objects)


def _gelu_tanh(t: la.LazyArray) -> la.LazyArray:
    return 0.5 * t * (1 + la.tanh(math.sqrt(2 / math.pi) * (t + 0.044715 * t**3)))


def _gelu_erf(t: la.LazyArray) -> la.LazyArray:
    return 0.5 * t * (1 + la.erf(t / math.sqrt(2)))


def _gelu_tanh_slope(x: np.ndarray) -> np.ndarray:
    k = math.sqrt(2 / math.pi)
    inner = k * (x + 0.044715 * x**3)
    t = np.tanh(inner)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)


def _layer_norm(t: la.LazyArray, gamma: la.LazyArray, beta: la.LazyArray) -> la.LazyArray:
    mu = t.mean(axis=-1, keepdims=True)
    var = ((t - mu) ** 2).mean(axis=-1, keepdims=True)
    return (t - mu) / la.sqrt(var + 1e-5) * gamma + beta


def _layer_norm_backward(x: np.ndarray, gamma: np.ndarray, g: np.ndarray
                         ) -> tuple[np.ndarray, ...]:
    """The textbook formulas, in float64."""
    x, gamma, g = (a.astype(np.float64) for a in (x, gamma, g))
    mu = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + 1e-5)
    xhat = (x - mu) * rstd
    gx = g * gamma
    dx = rstd * (gx - gx.mean(-1, keepdims=True) - xhat * (gx * xhat).mean(-1, keepdims=True))
    return dx, (g * xhat).sum(0), g.sum(0)


def _cross_entropy(labels: np.ndarray, classes: int):
    def loss(z: la.LazyArray) -> la.LazyArray:
        picked = la.where(la.asarray(np.arange(classes)) == la.asarray(labels)[:, None], z, 0.0)
        return la.logsumexp(z, axis=1) - la.sum(picked, axis=1)

    return loss


# -- the transforms ----------------------------------------------------------------------
def test_grad_of_a_scalar_function() -> None:
    x = RNG.standard_normal(7)
    g = la.grad(lambda t: la.sum(la.sin(t) * t))(x)
    assert isinstance(g, la.LazyArray) and g.shape == x.shape and g.dtype == x.dtype
    np.testing.assert_allclose(g.eval(), np.cos(x) * x + np.sin(x), rtol=1e-13, atol=1e-15)


def test_value_and_grad_argnums_and_aux() -> None:
    x, y = RNG.standard_normal(5), RNG.standard_normal(5)

    def f(a: la.LazyArray, b: la.LazyArray, scale: float) -> tuple[la.LazyArray, str]:
        return la.sum(a * b) * scale, "aux"

    (value, aux), (ga, gb) = la.value_and_grad(f, argnums=(0, 1), has_aux=True)(x, y, 3.0)
    assert aux == "aux"
    v, da, db = la.eval(value, ga, gb)
    assert v == pytest.approx(3 * np.sum(x * y))
    np.testing.assert_allclose(da, 3 * y, rtol=1e-14)
    np.testing.assert_allclose(db, 3 * x, rtol=1e-14)
    grads, aux = la.grad(f, argnums=1, has_aux=True)(x, y, 2.0)
    np.testing.assert_allclose(grads.eval(), 2 * x, rtol=1e-14)
    assert la.grad(f, argnums=-2, has_aux=True)(x, y, 1.0)[0].shape == (5,)


def test_pytrees_of_tuples_lists_and_dicts() -> None:
    params = {"w": RNG.standard_normal(3), "bs": [np.ones(2), (np.full(2, 2.0),)]}

    def f(p: dict) -> la.LazyArray:
        return la.sum(p["w"] ** 2) + la.sum(p["bs"][0] * p["bs"][1][0])

    g = la.grad(f)(params)
    assert set(g) == {"w", "bs"} and isinstance(g["bs"], list) and isinstance(g["bs"][1], tuple)
    np.testing.assert_allclose(g["w"].eval(), 2 * params["w"])
    np.testing.assert_array_equal(g["bs"][0].eval(), np.full(2, 2.0))
    np.testing.assert_array_equal(g["bs"][1][0].eval(), np.ones(2))


def test_unconnected_inputs_get_zeros() -> None:
    g = la.grad(lambda a, b: la.sum(a * 2), argnums=(0, 1))(np.ones(3), np.ones((2, 2)))
    np.testing.assert_array_equal(g[1].eval(), np.zeros((2, 2)))
    (dx,) = la.gradients(la.asarray(np.ones(3)).sum(), [la.asarray(np.ones(4))])
    np.testing.assert_array_equal(dx.eval(), np.zeros(4))


def test_vjp_with_a_pytree_output_and_integer_outputs() -> None:
    x = RNG.standard_normal(4).astype(np.float32)
    out, vjp_fn = la.vjp(lambda t: {"y": la.exp(t), "n": (t > 0).astype(np.int32)}, x)
    assert out["y"].dtype == np.float32
    (ct,) = vjp_fn({"y": np.ones(4, np.float32), "n": np.zeros(4, np.int32)})
    assert ct.dtype == np.float32
    np.testing.assert_allclose(ct.eval(), np.exp(x), rtol=1e-6)
    with pytest.raises(ValueError, match="cotangent of shape"):
        vjp_fn({"y": np.ones(3, np.float32), "n": np.zeros(4, np.int32)})
    with pytest.raises(ValueError, match="expected cotangents for 2 outputs"):
        vjp_fn([np.ones(4, np.float32)])


def test_jvp_is_the_transpose_of_vjp() -> None:
    x, t = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    w = RNG.standard_normal((4, 2))

    def f(a: la.LazyArray) -> la.LazyArray:
        return la.tanh(a @ w).sum(axis=0)

    out, tangent = la.jvp(f, (x,), (t,))
    h = np.tanh(x @ w)
    np.testing.assert_allclose(out.eval(), h.sum(0), rtol=1e-13)
    np.testing.assert_allclose(tangent.eval(), ((1 - h * h) * (t @ w)).sum(0), rtol=1e-12)
    with pytest.raises(ValueError, match="primals but"):
        la.jvp(f, (x,), (t, t))
    with pytest.raises(TypeError, match="tuples or lists"):
        la.jvp(f, x, t)


def test_second_derivatives() -> None:
    d2 = la.grad(la.grad(lambda u: la.sin(u) * u))(0.7)
    assert d2.eval() == pytest.approx(2 * math.cos(0.7) - 0.7 * math.sin(0.7), rel=1e-13)
    # jvp of vjp: the Hessian-vector product of sum(x**3)
    x, v = RNG.standard_normal(5), RNG.standard_normal(5)
    _, hv = la.jvp(lambda t: la.grad(lambda u: la.sum(u**3))(t), (x,), (v,))
    np.testing.assert_allclose(hv.eval(), 6 * x * v, rtol=1e-13)
    d3 = la.grad(la.grad(la.grad(la.exp)))(0.3)
    assert d3.eval() == pytest.approx(math.exp(0.3), rel=1e-14)


def test_gradients_graph_style() -> None:
    x = la.asarray(RNG.standard_normal(4))
    h = la.exp(x)
    y = la.sum(h * x)
    dx, dh = la.gradients(y, [x, h])
    hv = np.exp(x.eval())
    # total derivatives: through h and directly (tf.gradients' convention)
    np.testing.assert_allclose(dx.eval(), hv * x.eval() + hv, rtol=1e-14)
    np.testing.assert_allclose(dh.eval(), x.eval(), rtol=1e-14)
    ys = [la.sin(x), la.cos(x)]
    (g,) = la.gradients(ys, x, grad_ys=[np.ones(4), np.full(4, 2.0)])
    np.testing.assert_allclose(g.eval(), np.cos(x.eval()) - 2 * np.sin(x.eval()), rtol=1e-14)


def test_views_of_captured_arrays_reach_the_array() -> None:
    """Views of a leaf are NumPy views, new leaves: their gradient must come back."""
    m = RNG.standard_normal((4, 6))
    weights = RNG.standard_normal((2, 3))

    def f(t: la.LazyArray) -> la.LazyArray:
        return la.sum(t[1:3, ::-2] * weights) + t[3, 0] * 5 + la.sum(t.T.reshape(2, 12)[1])

    want = np.zeros_like(m)
    want[1:3, ::-2] += weights
    want[3, 0] += 5
    want[:, 3:] += 1  # row 1 of t.T's 2x12 reshape: rows 3-5 of t.T, columns 3-5 of t
    np.testing.assert_allclose(la.grad(f)(m).eval(), want, rtol=1e-15)
    flips = la.grad(lambda t: la.sum(la.flip(t, 0)[0] * 2 + la.expand_dims(t, 0)[0, 1]))(m)
    want = np.zeros_like(m)
    want[-1] += 2
    want[1] += 1
    np.testing.assert_allclose(flips.eval(), want)


def test_views_of_expressions() -> None:
    x = RNG.standard_normal((5, 4))

    def f(t: la.LazyArray) -> la.LazyArray:
        e = la.exp(t)
        return la.sum(e[::2, 1:] * 3) + la.sum(e[:, None, 2]) + la.sum(la.moveaxis(e, 0, 1)[0])

    want = np.zeros_like(x)
    want[::2, 1:] += 3
    want[:, 2] += 1
    want[:, 0] += 1
    np.testing.assert_allclose(la.grad(f)(x).eval(), want * np.exp(x), rtol=1e-14)


@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_joins_and_products(backend: str) -> None:
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal((4, 3))

    def f(s: la.LazyArray, t: la.LazyArray) -> la.LazyArray:
        joined = la.concatenate([s, t * 2], axis=0)
        stacked = la.stack([s, t[:2]], axis=1)
        return la.sum(joined @ joined.T) + la.sum(stacked * np.arange(3.0))

    ga, gb = la.grad(f, argnums=(0, 1))(a, b)
    j = np.concatenate([a, 2 * b])
    total = np.broadcast_to(2 * j.sum(0), j.shape)  # sum(j @ j.T) = sum of squared column sums
    want_a = total[:2] + np.arange(3.0)
    want_b = 2 * total[2:]
    want_b[:2] += np.arange(3.0)
    got_a, got_b = la.eval(ga, gb, backend=backend)
    np.testing.assert_allclose(got_a, want_a, rtol=1e-13)
    np.testing.assert_allclose(got_b, want_b, rtol=1e-13)


# -- errors ----------------------------------------------------------------------------------
def test_non_scalar_output_is_a_value_error_and_a_type_error() -> None:
    with pytest.raises(NonScalarOutputError, match=r"shape \(3,\)") as info:
        la.grad(lambda t: t * 2)(np.ones(3))
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)
    with pytest.raises(ValueError, match="grad_ys"):
        la.gradients(la.asarray(np.ones(3)) * 2, la.asarray(np.ones(3)))


def test_integer_inputs_and_outputs_are_refused() -> None:
    with pytest.raises(TypeError, match="float inputs"):
        la.grad(lambda t: la.sum(t))(np.arange(3))
    with pytest.raises(TypeError, match="float output"):
        la.grad(lambda t: la.sum(t > 0))(np.ones(3))
    with pytest.raises(TypeError, match="pair"):
        la.grad(lambda t: la.sum(t), has_aux=True)(np.ones(3))
    with pytest.raises(ValueError, match="argnums"):
        la.grad(lambda t: la.sum(t), argnums=2)(np.ones(3))


def test_an_op_without_a_rule_says_which() -> None:
    with pytest.raises(NotImplementedError, match="nextafter"):
        la.grad(lambda t: la.sum(la.nextafter(t, 2.0)))(np.ones(3))


def test_advanced_indexing_gradients() -> None:
    x = np.arange(5.0)
    picked = la.asarray(x)[np.array([1, 3])]
    np.testing.assert_array_equal(picked.eval(), [1.0, 3.0])
    # a mask is evaluated for its count; the gather of x stays lazy and differentiable
    g = la.grad(lambda t: la.sum(t[t > 2] * 3.0))(x)
    np.testing.assert_array_equal(np.asarray(g), [0.0, 0.0, 0.0, 3.0, 3.0])
    g = la.grad(lambda t: la.sum(t[np.array([1, 1, 4])]))(x)
    np.testing.assert_array_equal(np.asarray(g), [0.0, 2.0, 0.0, 0.0, 1.0])
    with pytest.raises(NotImplementedError, match="boolean scalar"):
        la.grad(lambda t: la.sum(t[True]))(x)  # a boolean scalar index: NumPy's, eagerly


def test_integer_paths_carry_no_gradient() -> None:
    x = np.array([0.5, 1.5, 2.5])
    g = la.grad(lambda t: la.sum(t * t.astype(np.int64) + la.floor(t)))(x)
    np.testing.assert_array_equal(g.eval(), np.floor(x))


# -- fusion: the kernel counts the issue asks for -----------------------------------------
@pytest.mark.parametrize("gelu", [_gelu_tanh, _gelu_erf], ids=["tanh", "erf"])
def test_gelu_backward_is_one_kernel(gelu) -> None:
    x = RNG.standard_normal((4096, 1024)).astype(np.float32)
    g = RNG.standard_normal((4096, 1024)).astype(np.float32)
    _, vjp_fn = la.vjp(gelu, x)
    (dx,) = vjp_fn(g)
    plan = la.explain(dx)
    (kernel,) = plan.kernel_objects
    assert len(kernel.inputs) == 2 and len(kernel.outputs) == 1  # reads x and g, writes dx
    if gelu is _gelu_tanh:
        np.testing.assert_allclose(dx.eval()[:64], (g * _gelu_tanh_slope(x))[:64],
                                   rtol=2e-5, atol=2e-6)


def test_layer_norm_backward_kernels_and_values() -> None:
    x = RNG.standard_normal((64, 256)).astype(np.float32)
    gamma = RNG.standard_normal(256).astype(np.float32)
    beta = RNG.standard_normal(256).astype(np.float32)
    g = RNG.standard_normal((64, 256)).astype(np.float32)
    _, vjp_fn = la.vjp(_layer_norm, x, gamma, beta)
    dx, dgamma, dbeta = vjp_fn(g)
    (row_kernel,) = la.explain(dx).kernel_objects
    assert row_kernel.row_ndim and row_kernel.out_level  # a row-wise kernel
    assert _kernels(dx, dgamma, dbeta) <= 3
    for got, want in zip(la.eval(dx, dgamma, dbeta), _layer_norm_backward(x, gamma, g),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


def test_softmax_cross_entropy_is_one_row_kernel() -> None:
    batch, classes = 64, 100
    z = (RNG.standard_normal((batch, classes)) * 1e4).astype(np.float32)
    labels = RNG.integers(0, classes, batch)
    loss, vjp_fn = la.vjp(_cross_entropy(labels, classes), z)
    (dz,) = vjp_fn(np.full(batch, 1 / batch, np.float32))
    (kernel,) = la.explain(loss, dz).kernel_objects
    assert kernel.row_ndim and kernel.out_level
    got_loss, got_dz = la.eval(loss, dz)
    assert np.isfinite(got_loss).all() and np.isfinite(got_dz).all()
    zz = z.astype(np.float64)
    lse = np.log(np.exp(zz - zz.max(1, keepdims=True)).sum(1)) + zz.max(1)
    np.testing.assert_allclose(got_loss, lse - zz[np.arange(batch), labels], rtol=1e-5)
    softmax = np.exp(zz - lse[:, None])
    softmax[np.arange(batch), labels] -= 1
    np.testing.assert_allclose(got_dz, softmax / batch, atol=1e-7)


def test_mlp_value_and_grad_explains_its_kernels() -> None:
    x = RNG.standard_normal((64, 32)).astype(np.float32)
    y = RNG.standard_normal((64, 8)).astype(np.float32)
    params = {"w1": RNG.standard_normal((32, 16)).astype(np.float32),
              "b1": np.zeros(16, np.float32),
              "w2": RNG.standard_normal((16, 8)).astype(np.float32),
              "b2": np.zeros(8, np.float32)}

    def loss(p: dict) -> la.LazyArray:
        h = la.tanh(la.asarray(x) @ p["w1"] + p["b1"])
        return la.mean((h @ p["w2"] + p["b2"] - y) ** 2)

    value, grads = la.value_and_grad(loss)(params)
    plan = la.explain(value, *grads.values())
    steps = plan.kernel_plan
    # 5 products (2 forward, 3 backward; the input's gradient is not asked for), no
    # activation computed twice, no transposed copy of one
    assert steps.count("matmul runs in NumPy") == 5
    assert "permute" not in steps and len(plan.kernel_objects) <= 6
    assert "because: input of matmul" in steps
    h = np.tanh(x @ params["w1"])
    d_out = 2 * (h @ params["w2"] - y) / y.size
    d_h = d_out @ params["w2"].T * (1 - h * h)
    got = la.eval(value, grads["b1"], grads["b2"], grads["w1"], grads["w2"])
    want = [np.mean((h @ params["w2"] - y) ** 2), d_h.sum(0), d_out.sum(0), x.T @ d_h,
            h.T @ d_out]
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# -- the scheduling it relies on, for any expression -------------------------------------------
@pytest.mark.parametrize("backend", ["cpu", "interp"])
@pytest.mark.parametrize("shape", [(3, 5), (1, 7), (6, 1), (2, 3, 4), (4, 33)])
def test_per_row_results_join_a_row_wise_kernel(backend: str, shape: tuple[int, ...]) -> None:
    x = RNG.standard_normal(shape)
    a = la.asarray(x)
    top = a.max(axis=-1)
    shifted = a - a.max(axis=-1, keepdims=True)
    total = la.sum(la.exp(shifted), axis=-1)
    if backend == "cpu":
        assert _kernels(top, shifted, total) == 1
    got = la.eval(top, shifted, total, backend=backend)
    np.testing.assert_array_equal(got[0], x.max(-1))
    np.testing.assert_array_equal(got[1], x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(got[2], np.exp(x - x.max(-1, keepdims=True)).sum(-1),
                               rtol=1e-14)


def test_per_row_results_into_strided_outputs() -> None:
    x = RNG.standard_normal((5, 8)).astype(np.float32)
    a = la.asarray(x)
    row_out = np.zeros((5, 2), np.float32)[:, 1]  # strided
    elem_out = np.zeros((8, 5), np.float32).T  # transposed
    la.eval(a.sum(axis=1), a - a.mean(axis=1, keepdims=True), out=(row_out, elem_out))
    np.testing.assert_allclose(row_out, x.sum(1), rtol=1e-6)
    np.testing.assert_allclose(elem_out, x - x.mean(1, keepdims=True), atol=1e-6)


def test_row_statistics_are_one_kernel() -> None:
    x = la.asarray(RNG.standard_normal((16, 32)))
    mu = x.mean(axis=1, keepdims=True)
    rstd = 1 / la.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + 1e-5)
    column = la.sum((x - mu) * rstd, axis=0)  # reads both statistics down the columns
    assert _kernels(column) == 2
    xv = x.eval()
    want = ((xv - xv.mean(1, keepdims=True)) / np.sqrt(xv.var(1, keepdims=True) + 1e-5)).sum(0)
    np.testing.assert_allclose(column.eval(), want, rtol=1e-10, atol=1e-12)


def test_a_transposed_result_is_read_in_place_by_a_product() -> None:
    x = la.asarray(RNG.standard_normal((8, 4)))
    w = RNG.standard_normal((4, 3))
    h = la.tanh(x @ w)
    out = (h.T @ (h @ w.T)).eval()
    hv = np.tanh(x.eval() @ w)
    np.testing.assert_allclose(out, hv.T @ (hv @ w.T), rtol=1e-13)
    assert "permute" not in la.explain(h.T @ (h @ w.T)).kernel_plan


# -- display -----------------------------------------------------------------------------------
def test_a_gradient_displays_and_explains() -> None:
    pytest.importorskip("sympy")
    x = la.asarray(np.linspace(0.1, 1.0, 5))
    g = la.grad(lambda t: la.sum(la.sin(t) * t))(x)
    latex = g._repr_latex_()
    assert r"\sin" in latex and r"\cos" in latex and "1 " not in latex
    text = la.explain(g).kernel_plan
    assert "1 fused kernel" in text


def test_a_repeated_step_reuses_its_graph_and_holds_no_array() -> None:
    x = RNG.standard_normal(100)
    g = np.ones(100)
    first = la.vjp(la.sin, x)[1](g)[0]
    again = la.vjp(la.sin, x)[1](g)[0]
    assert again._node is first._node  # same leaves, same backward graph
    assert la.vjp(la.sin, x.copy())[1](g)[0]._node is not first._node
    big = np.ones(10**5)
    ref = weakref.ref(big)
    grad = la.grad(lambda t: la.sum(t * 2))(big)
    del grad, big
    for _ in range(10):  # the fast path's recent expressions move on
        la.asarray(np.ones(3)).sum().eval()
    gc.collect()
    assert ref() is None


def test_stop_gradient() -> None:
    """``la.stop_gradient(x)`` is ``x``, a constant to ``la.grad`` (JAX's stop_gradient):
    softmax and logsumexp take their maximum out through it, so its ties cost nothing."""
    x = np.array([1.0, 3.0, 3.0, -2.0])
    np.testing.assert_array_equal(la.stop_gradient(x).eval(), x)
    g = la.grad(lambda t: la.sum(t * la.stop_gradient(t)))(x)
    np.testing.assert_array_equal(g, x)  # d/dt of t * c is c
    assert la.stop_gradient(np.arange(3)).dtype == np.int64
    # tied maxima: logsumexp's gradient is the softmax, unchanged by where the max lies
    s = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    np.testing.assert_allclose(la.grad(lambda t: la.logsumexp(t))(x), s, rtol=1e-15)
    hess = la.grad(lambda t: la.sum(la.grad(lambda u: la.logsumexp(u))(t) ** 2))(x)
    np.testing.assert_allclose(hess, 2 * s * (s - (s * s).sum()), rtol=1e-12, atol=1e-15)
