"""lazyarr.nn's layer functions: forward values and gradients against PyTorch's
``torch.nn.functional`` (float64 and float32; skipped without torch), NumPy-only checks that
run everywhere, kernel counts, and argument errors."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import lazyarr as la
from lazyarr import nn

RNG = np.random.default_rng(15)
TOL = {"float64": (1e-10, 1e-12), "float32": (1e-5, 1e-6)}


def _normal(*shape: int, scale: float = 1.0) -> np.ndarray:
    return RNG.standard_normal(shape) * scale


def _steps(*exprs: Any) -> tuple[int, int]:
    """(fused kernels, opaque steps) of the plan that evaluates ``exprs`` together."""
    plan = la.explain(*exprs).plan
    kernels = sum(s.kind == "kernel" for s in plan)
    return kernels, len(plan) - kernels


# -- against PyTorch --------------------------------------------------------------------------
@dataclass
class Case:
    """``ours(*arrays)`` against ``theirs(*tensors)``; float arrays at ``diff`` are
    differentiated (the others, integer targets and masks, are closed over)."""

    name: str
    ours: Callable[..., Any]
    theirs: Callable[..., Any]
    arrays: tuple[np.ndarray, ...]
    diff: tuple[int, ...] = (0,)
    scale: float = 1.0  # of the values, for atol
    grad_rtol: dict[str, float] = field(default_factory=dict)  # where PyTorch is looser


def _activation_input() -> np.ndarray:
    # both sides of every kink (0, +-3, +-1...) and of softplus's threshold, never on one
    x = _normal(6, 40, scale=3.0)
    x[0, :8] = [-30.0, -21.5, -6.5, -2.9, 2.9, 6.5, 21.5, 30.0]
    return x


@functools.cache
def _cases() -> list[Case]:
    import torch
    import torch.nn.functional as F  # noqa: N812 (PyTorch's own abbreviation)

    x = _activation_input()
    cases = [Case(name, getattr(nn, name), getattr(F, name), (x,), scale=3.0)
             for name in ("relu", "relu6", "selu", "silu", "mish", "sigmoid", "hardswish",
                          "softsign", "tanhshrink")]
    # PyTorch's hardsigmoid_backward multiplies by the float constant 1.0f / 6.0f, also for
    # double: its float64 gradient is 1/6 to float32's precision
    cases.append(Case("hardsigmoid", nn.hardsigmoid, F.hardsigmoid, (x,), scale=3.0,
                      grad_rtol={"float64": 1e-7}))
    cases += [
        Case("leaky_relu", lambda a: nn.leaky_relu(a, 0.2), lambda a: F.leaky_relu(a, 0.2),
             (x,), scale=3.0),
        Case("elu", lambda a: nn.elu(a, 1.3), lambda a: F.elu(a, 1.3), (x,), scale=3.0),
        # PyTorch's celu_backward rounds 1 / alpha to float: 1e-7 off in float64 here
        Case("celu", lambda a: nn.celu(a, 0.7), lambda a: F.celu(a, 0.7), (x,), scale=3.0,
             grad_rtol={"float64": 1e-6}),
        Case("gelu", nn.gelu, F.gelu, (x,), scale=3.0),
        Case("gelu_tanh", lambda a: nn.gelu(a, approximate="tanh"),
             lambda a: F.gelu(a, approximate="tanh"), (x,), scale=3.0),
        Case("log_sigmoid", nn.log_sigmoid, F.logsigmoid, (x,), scale=3.0),
        Case("softplus", nn.softplus, F.softplus, (x,), scale=3.0),
        Case("softplus_beta", lambda a: nn.softplus(a, beta=2.0, threshold=5.0),
             lambda a: F.softplus(a, beta=2.0, threshold=5.0), (x,), scale=3.0),
        Case("hardtanh", lambda a: nn.hardtanh(a, -0.5, 2.0),
             lambda a: F.hardtanh(a, -0.5, 2.0), (x,), scale=3.0),
        Case("glu", nn.glu, F.glu, (x,), scale=3.0),
        Case("glu_axis0", lambda a: nn.glu(a, axis=0), lambda a: F.glu(a, dim=0), (x,),
             scale=3.0),
    ]
    s = _normal(5, 7, 9, scale=2.0)
    mask = RNG.random(s.shape) > 0.3
    mask[..., 0] = True  # no row masked out entirely (PyTorch's reference is NaN there)
    keep = torch.from_numpy(mask)
    for axis in (-1, 1, 0):
        cases += [
            Case(f"softmax{axis}", functools.partial(nn.softmax, axis=axis),
                 functools.partial(F.softmax, dim=axis), (s,)),
            Case(f"log_softmax{axis}", functools.partial(nn.log_softmax, axis=axis),
                 functools.partial(F.log_softmax, dim=axis), (s,), scale=4.0),
        ]
    cases += [
        Case("softmax_where", lambda a: nn.softmax(a, where=mask),
             lambda a: F.softmax(a.masked_fill(~keep, -math.inf), dim=-1), (s,)),
        Case("log_softmax_where",
             lambda a: la.where(mask, nn.log_softmax(a, where=mask), 0.0),
             lambda a: F.log_softmax(a.masked_fill(~keep, -math.inf), -1).masked_fill(~keep, 0),
             (s,), scale=4.0),
        Case("logsumexp", nn.logsumexp, lambda a: torch.logsumexp(a, -1), (s,), scale=4.0),
        Case("logsumexp_axes", lambda a: nn.logsumexp(a, (0, 2), keepdims=True),
             lambda a: torch.logsumexp(a, (0, 2), keepdim=True), (s,), scale=4.0),
    ]
    h = _normal(4, 6, 8, scale=2.0) + 1.0
    w8, b8, w68 = _normal(8), _normal(8), _normal(6, 8)
    cases += [
        Case("layer_norm", lambda a, w, b: nn.layer_norm(a, 8, w, b, eps=1e-5),
             lambda a, w, b: F.layer_norm(a, (8,), w, b, eps=1e-5), (h, w8, b8), (0, 1, 2)),
        Case("layer_norm_2d", lambda a, w: nn.layer_norm(a, (6, 8), w),
             lambda a, w: F.layer_norm(a, (6, 8), w), (h, w68), (0, 1)),
        Case("rms_norm", lambda a, w: nn.rms_norm(a, 8, w),
             lambda a, w: F.rms_norm(a, (8,), w), (h, w8), (0, 1)),
        Case("rms_norm_eps", lambda a: nn.rms_norm(a, (6, 8), eps=0.1),
             lambda a: F.rms_norm(a, (6, 8), eps=0.1), (h,)),
    ]
    img = _normal(4, 6, 3, 5) * 1.5 + 0.5
    w6, b6 = _normal(6), _normal(6)
    rm, rv = _normal(6), RNG.random(6) + 0.5
    cases += [
        Case("batch_norm_train",
             lambda a, w, b: nn.batch_norm(a, None, None, w, b, training=True),
             lambda a, w, b: F.batch_norm(a, None, None, w, b, training=True),
             (img, w6, b6), (0, 1, 2)),
        Case("batch_norm_2d",
             lambda a: nn.batch_norm(a, None, None, training=True, eps=0.01),
             lambda a: F.batch_norm(a, None, None, training=True, eps=0.01),
             (img[:, :, 0, 0],)),
        Case("batch_norm_eval",
             lambda a, w, b: nn.batch_norm(a, rm.astype(a.dtype), rv.astype(a.dtype), w, b),
             lambda a, w, b: F.batch_norm(a, torch.from_numpy(rm).to(a.dtype),
                                          torch.from_numpy(rv).to(a.dtype), w, b),
             (img, w6, b6), (0, 1, 2)),
        Case("group_norm", lambda a, w, b: nn.group_norm(a, 3, w, b),
             lambda a, w, b: F.group_norm(a, 3, w, b), (img, w6, b6), (0, 1, 2)),
        Case("group_norm_one", lambda a: nn.group_norm(a[:, :, 0], 1, eps=0.1),
             lambda a: F.group_norm(a[:, :, 0], 1, eps=0.1), (img,)),
    ]
    y, t = _normal(8, 5), _normal(8, 5)
    for red in ("none", "mean", "sum"):
        cases += [
            Case(f"mse_{red}", functools.partial(nn.mse_loss, reduction=red),
                 functools.partial(F.mse_loss, reduction=red), (y, t), (0, 1)),
            Case(f"l1_{red}", functools.partial(nn.l1_loss, reduction=red),
                 functools.partial(F.l1_loss, reduction=red), (y, t), (0, 1)),
            Case(f"smooth_l1_{red}", functools.partial(nn.smooth_l1_loss, reduction=red,
                                                       beta=0.5),
                 functools.partial(F.smooth_l1_loss, reduction=red, beta=0.5), (y, t), (0, 1)),
            Case(f"huber_{red}", functools.partial(nn.huber_loss, reduction=red, delta=0.7),
                 functools.partial(F.huber_loss, reduction=red, delta=0.7), (y, t), (0, 1)),
        ]
    p, q, wp = RNG.uniform(0.02, 0.98, (8, 5)), RNG.random((8, 5)), RNG.random(5) + 0.5
    cases += [
        Case("bce", nn.binary_cross_entropy, F.binary_cross_entropy, (p, q)),
        Case("bce_weight_sum",
             lambda a, b: nn.binary_cross_entropy(a, b, wp.astype(a.dtype), reduction="sum"),
             lambda a, b: F.binary_cross_entropy(a, b, torch.from_numpy(wp).to(a.dtype),
                                                 reduction="sum"), (p, q)),
        Case("bce_logits", nn.binary_cross_entropy_with_logits,
             F.binary_cross_entropy_with_logits, (y * 4, q), (0, 1)),
        Case("bce_logits_weights",
             lambda a, b, w, pw: nn.binary_cross_entropy_with_logits(
                 a, b, w, reduction="none", pos_weight=pw),
             lambda a, b, w, pw: F.binary_cross_entropy_with_logits(
                 a, b, w, reduction="none", pos_weight=pw),
             (y * 4, q, RNG.random(5), RNG.random(5) * 3), (0, 1)),
    ]
    logits, labels = _normal(8, 5, scale=3.0), RNG.integers(0, 5, 8)
    labels[[2, 5]] = -100
    wc = RNG.random(5) + 0.2
    for red in ("none", "mean", "sum"):
        for smoothing in (0.0, 0.15):
            cases.append(Case(
                f"cross_entropy_{red}_{smoothing}",
                lambda a, w, r=red, s=smoothing: nn.cross_entropy(
                    a, labels, w, reduction=r, label_smoothing=s),
                lambda a, w, r=red, s=smoothing: F.cross_entropy(
                    a, torch.from_numpy(labels), w, reduction=r, label_smoothing=s),
                (logits, wc), (0,), scale=3.0))
    probs = RNG.dirichlet(np.ones(5), 8)
    seq, seq_labels = _normal(3, 5, 4, scale=2.0), RNG.integers(0, 5, (3, 4))
    seq_labels[0, 1] = 2
    classes = np.clip(labels, 0, None)
    cases += [
        Case("cross_entropy_plain", lambda a: nn.cross_entropy(a, labels),
             lambda a: F.cross_entropy(a, torch.from_numpy(labels)), (logits,), scale=3.0),
        Case("cross_entropy_ignore_class",
             lambda a: nn.cross_entropy(a, classes, ignore_index=3, label_smoothing=0.2),
             lambda a: F.cross_entropy(a, torch.from_numpy(classes), ignore_index=3,
                                       label_smoothing=0.2), (logits,), scale=3.0),
        Case("cross_entropy_probs",
             lambda a, b, w: nn.cross_entropy(a, b, w, label_smoothing=0.1),
             lambda a, b, w: F.cross_entropy(a, b, w, label_smoothing=0.1),
             (logits, probs, wc), (0, 1), scale=3.0),
        Case("cross_entropy_probs_sum", lambda a, b: nn.cross_entropy(a, b, reduction="sum"),
             lambda a, b: F.cross_entropy(a, b, reduction="sum"), (logits, probs), (0, 1),
             scale=3.0),
        Case("cross_entropy_seq",
             lambda a: nn.cross_entropy(a, seq_labels, reduction="none", label_smoothing=0.1),
             lambda a: F.cross_entropy(a, torch.from_numpy(seq_labels), reduction="none",
                                       label_smoothing=0.1), (seq,), scale=3.0),
        Case("cross_entropy_one_row", lambda a: nn.cross_entropy(a[0], labels[0]),
             lambda a: F.cross_entropy(a[0], torch.tensor(labels[0])), (logits,), scale=3.0),
        Case("nll_loss", lambda a, w: nn.nll_loss(a, labels, w),
             lambda a, w: F.nll_loss(a, torch.from_numpy(labels), w), (logits, wc)),
        Case("nll_loss_seq_sum", lambda a: nn.nll_loss(a, seq_labels, reduction="sum"),
             lambda a: F.nll_loss(a, torch.from_numpy(seq_labels), reduction="sum"), (seq,)),
    ]
    logq = np.log(probs)
    for red in ("none", "mean", "sum", "batchmean"):
        cases += [
            Case(f"kl_div_{red}", functools.partial(nn.kl_div, reduction=red),
                 functools.partial(F.kl_div, reduction=red), (logits, probs), (0, 1)),
            Case(f"kl_div_log_{red}",
                 functools.partial(nn.kl_div, reduction=red, log_target=True),
                 functools.partial(F.kl_div, reduction=red, log_target=True), (logits, logq),
                 (0, 1)),
        ]
    xs, wl, bl = _normal(3, 4, 6), _normal(5, 6), _normal(5)
    idx = np.array([[0, 3, 3], [6, 1, 0]])
    qa, ka, va = _normal(2, 3, 4, 8), _normal(2, 3, 6, 8), _normal(2, 3, 6, 5)
    bool_mask = RNG.random((4, 6)) > 0.4
    bool_mask[:, 0] = True
    additive = _normal(2, 1, 4, 6)
    cases += [
        Case("linear", nn.linear, F.linear, (xs, wl, bl), (0, 1, 2)),
        Case("linear_gelu", lambda a, w, b: nn.linear(a, w, b, activation="gelu"),
             lambda a, w, b: F.gelu(F.linear(a, w, b)), (xs, wl, bl), (0, 1, 2)),
        Case("linear_callable",
             lambda a, w: nn.linear(a, w, activation=functools.partial(nn.softplus, beta=2)),
             lambda a, w: F.softplus(F.linear(a, w), beta=2), (xs, wl), (0, 1)),
        Case("embedding", lambda w: nn.embedding(idx, w),
             lambda w: F.embedding(torch.from_numpy(idx), w), (_normal(7, 4),)),
        Case("embedding_padding", lambda w: nn.embedding(idx, w, padding_idx=-7),
             lambda w: F.embedding(torch.from_numpy(idx), w, padding_idx=0),
             (_normal(7, 4),)),
        Case("sdpa", nn.scaled_dot_product_attention, F.scaled_dot_product_attention,
             (qa, ka, va), (0, 1, 2)),
        Case("sdpa_bool_mask",
             lambda a, b, c: nn.scaled_dot_product_attention(a, b, c, attn_mask=bool_mask),
             lambda a, b, c: F.scaled_dot_product_attention(
                 a, b, c, attn_mask=torch.from_numpy(bool_mask)), (qa, ka, va), (0, 1, 2)),
        Case("sdpa_additive",
             lambda a, b, c, m: nn.scaled_dot_product_attention(a, b, c, m, scale=0.2),
             lambda a, b, c, m: F.scaled_dot_product_attention(a, b, c, m, scale=0.2),
             (qa, ka, va, additive), (0, 1, 2, 3)),
        Case("sdpa_causal",
             lambda a, b, c: nn.scaled_dot_product_attention(a, b, c, is_causal=True),
             lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True),
             (qa, ka[:, :, :4], va[:, :, :4]), (0, 1, 2)),
    ]
    return cases


def _case_ids() -> list[str]:
    try:
        return [c.name for c in _cases()]
    except ImportError:
        return ["no-torch"]


CASE_IDS = _case_ids()


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # kl_div's
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", CASE_IDS)
def test_forward_and_gradient_match_pytorch(name: str, dtype: str) -> None:
    torch = pytest.importorskip("torch")
    case = next(c for c in _cases() if c.name == name)
    rtol, atol = TOL[dtype]
    atol *= case.scale
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in case.arrays]

    def ours(*diffed: Any) -> Any:
        full = list(arrays)
        for i, v in zip(case.diff, diffed, strict=True):
            full[i] = v
        return case.ours(*full)

    out, pullback = la.vjp(ours, *(arrays[i] for i in case.diff))
    cotangent = np.random.default_rng(len(name)).standard_normal(out.shape).astype(dtype)
    got, *grads = la.eval(out, *pullback(cotangent))
    assert got.dtype == np.dtype(dtype), got.dtype

    tensors = [torch.from_numpy(a.copy()).requires_grad_(i in case.diff)
               for i, a in enumerate(arrays)]
    want = case.theirs(*tensors)
    want.backward(torch.from_numpy(cotangent))
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=rtol, atol=atol)
    for i, g in zip(case.diff, grads, strict=True):
        np.testing.assert_allclose(g, tensors[i].grad.numpy(),
                                   rtol=case.grad_rtol.get(dtype, rtol), atol=atol,
                                   err_msg=f"gradient of argument {i}")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_extreme_inputs_stay_finite_like_pytorch(dtype: str) -> None:
    """The branch a where leaves out sees finite values: no NaN from 0 * inf in gradients."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F  # noqa: N812

    x = np.array([-1000.0, -100.0, -20.5, -1e-30, 0.0, 1e-30, 20.5, 100.0, 1000.0], dtype)
    # PyTorch's float32 sigmoid gradient y (1 - y) is 0 at 20.5 where ours is 1.25e-9
    atol = 1e-30 if dtype == "float64" else 1e-8
    names = ("sigmoid", "silu", "softplus", "mish", "elu", "selu", "celu", "gelu")
    for name in names:
        ours = getattr(nn, name)
        theirs = getattr(F, name)
        got, grad = la.eval(ours(x), la.grad(lambda a, f=ours: f(a).sum())(x))
        t = torch.from_numpy(x.copy()).requires_grad_(True)
        want = theirs(t)
        want.sum().backward()
        assert np.isfinite(grad).all(), name
        np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-5, atol=1e-30,
                                   err_msg=name)
        np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-5, atol=atol, err_msg=name)


@pytest.mark.parametrize("evaluate", [False, True])
def test_batch_norm_running_statistics_match_pytorch(evaluate: bool) -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F  # noqa: N812

    x, w, b = _normal(5, 3, 4, 2) + 2.0, _normal(3), _normal(3)
    rm, rv = _normal(3), RNG.random(3) + 0.5
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    want = F.batch_norm(torch.from_numpy(x), trm, trv, torch.from_numpy(w), torch.from_numpy(b),
                        training=True, momentum=0.3, eps=1e-3)
    y = nn.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3, eps=1e-3,
                      evaluate=evaluate)
    assert isinstance(y, np.ndarray) == evaluate
    # updated when called, before the lazy result is evaluated
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-12)  # unbiased variance
    np.testing.assert_allclose(np.asarray(y), want.numpy(), rtol=1e-10, atol=1e-12)


# -- NumPy-only checks (no torch) --------------------------------------------------------------
def test_softmax_rows_sum_to_one_and_masks() -> None:
    x = _normal(6, 9, scale=30.0)
    for axis in (0, 1, -1):
        s = nn.softmax(x, axis=axis).eval()
        np.testing.assert_allclose(s.sum(axis=axis), 1.0, rtol=1e-12)
        np.testing.assert_allclose(nn.log_softmax(x, axis).eval(), np.log(s), rtol=1e-9,
                                   atol=1e-12)
    mask = RNG.random(x.shape) > 0.5
    mask[2] = False  # a row with nothing to attend to
    mask[3, :] = True
    s, ls = nn.softmax(x, where=mask).eval(), nn.log_softmax(x, where=mask).eval()
    assert (s[~mask] == 0).all() and (ls[~mask] == -np.inf).all()
    np.testing.assert_allclose(s[[0, 1, 3, 4, 5]].sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(s[3], nn.softmax(x[3]).eval(), rtol=1e-14)
    g = la.grad(lambda a: (nn.softmax(a, where=mask) * x).sum())(x).eval()
    assert np.isfinite(g).all() and (g[~mask] == 0).all()
    x32 = x.astype(np.float32)
    assert nn.softmax(x32).eval().dtype == np.float32


def test_activations_against_numpy() -> None:
    x = _normal(1000, scale=4.0)
    np.testing.assert_array_equal(nn.relu(x).eval(), np.maximum(x, 0))
    np.testing.assert_array_equal(nn.relu6(x).eval(), np.clip(x, 0, 6))
    np.testing.assert_allclose(nn.sigmoid(x).eval(), 1 / (1 + np.exp(-x)), rtol=1e-14)
    np.testing.assert_allclose(nn.softplus(x).eval(), np.logaddexp(0, x), rtol=1e-14)
    np.testing.assert_allclose(nn.log_sigmoid(x).eval(), -np.logaddexp(0, -x), rtol=1e-14)
    np.testing.assert_allclose(nn.hardswish(x).eval(), x * np.clip(x + 3, 0, 6) / 6,
                               rtol=1e-15, atol=1e-15)
    assert np.isnan(nn.relu(np.array([np.nan])).eval()).all()
    # the gradient of relu at 0 is 0, of hardtanh at its bounds 0 (PyTorch's)
    kinks = np.array([0.0, -1.0, 1.0])
    np.testing.assert_array_equal(la.grad(lambda a: nn.relu(a).sum())(kinks).eval(), [0, 0, 1])
    np.testing.assert_array_equal(la.grad(lambda a: nn.hardtanh(a).sum())(kinks).eval(),
                                  [1, 0, 0])


def test_layer_norm_has_zero_mean_and_unit_variance() -> None:
    x = _normal(16, 64, scale=5.0) + 3.0
    y = nn.layer_norm(x, 64, eps=0.0).eval()
    np.testing.assert_allclose(y.mean(axis=-1), 0.0, atol=1e-13)
    np.testing.assert_allclose(y.var(axis=-1), 1.0, rtol=1e-12)
    w, b = _normal(64), _normal(64)
    want = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5) * w + b
    np.testing.assert_allclose(nn.layer_norm(x, (64,), w, b).eval(), want, rtol=1e-10,
                               atol=1e-12)
    r = nn.rms_norm(x, 64, eps=0.0).eval()
    np.testing.assert_allclose((r * r).mean(axis=-1), 1.0, rtol=1e-12)


def test_batch_and_group_norm_against_numpy() -> None:
    x = _normal(4, 6, 5, 3, scale=2.0) + 1.0
    rm, rv = np.zeros(6), np.ones(6)
    y = nn.batch_norm(x, rm, rv, training=True, momentum=0.25).eval()
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-13)
    np.testing.assert_allclose(rm, 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv, 0.75 + 0.25 * var * 60 / 59, rtol=1e-12)
    y = nn.batch_norm(x, rm, rv).eval()  # inference: the running statistics
    want = (x - rm[:, None, None]) / np.sqrt(rv[:, None, None] + 1e-5)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-13)
    g = nn.group_norm(x, 2, eps=0.0).eval().reshape(4, 2, -1)
    np.testing.assert_allclose(g.mean(-1), 0.0, atol=1e-13)
    np.testing.assert_allclose(g.var(-1), 1.0, rtol=1e-12)


def test_losses_against_numpy() -> None:
    x, t = _normal(10, 4), _normal(10, 4)
    d = x - t
    assert math.isclose(float(nn.mse_loss(x, t).eval()), float((d * d).mean()), rel_tol=1e-13)
    assert math.isclose(float(nn.l1_loss(x, t, "sum").eval()), float(np.abs(d).sum()),
                        rel_tol=1e-13)
    np.testing.assert_allclose(nn.huber_loss(x, t, "none", delta=0.5).eval(),
                               np.where(np.abs(d) < 0.5, 0.5 * d * d,
                                        0.5 * (np.abs(d) - 0.25)), rtol=1e-14)
    # cross_entropy with integer targets, ignore_index and weights against its formula
    z, labels = _normal(12, 7, scale=3.0), RNG.integers(0, 7, 12)
    labels[4] = -100
    w = RNG.random(7) + 0.5
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    keep = labels != -100
    picked = logp[np.arange(12)[keep], labels[keep]]
    per_row = np.zeros(12)
    per_row[keep] = -w[labels[keep]] * picked
    np.testing.assert_allclose(nn.cross_entropy(z, labels, w, reduction="none").eval(),
                               per_row, rtol=1e-12, atol=1e-15)
    want = per_row.sum() / w[labels[keep]].sum()
    assert math.isclose(float(nn.cross_entropy(z, labels, w).eval()), want, rel_tol=1e-12)
    # logits far apart overflow nothing
    big = np.array([[1e4, -1e4, 0.0]])
    assert float(nn.cross_entropy(big, np.array([1])).eval()) == 2e4
    # binary cross-entropy with logits against the probability form
    p = RNG.random((10, 4))
    np.testing.assert_allclose(
        nn.binary_cross_entropy_with_logits(x, p, reduction="none").eval(),
        nn.binary_cross_entropy(nn.sigmoid(x), p, reduction="none").eval(), rtol=1e-12)


def test_linear_and_embedding_against_numpy() -> None:
    x, w, b = _normal(5, 3), _normal(4, 3), _normal(4)
    np.testing.assert_allclose(nn.linear(x, w, b, activation="relu").eval(),
                               np.maximum(x @ w.T + b, 0), rtol=1e-14)
    table, idx = _normal(9, 2), np.array([[8, 0], [-1, 3]])
    np.testing.assert_array_equal(nn.embedding(idx, table).eval(), table[idx])
    g = la.grad(lambda t: (nn.embedding(idx, t, padding_idx=8) * 1.0).sum())(table).eval()
    np.testing.assert_array_equal(g[:, 0], [1, 0, 0, 1, 0, 0, 0, 0, 0])  # 8 twice: padding


def test_attention_against_numpy() -> None:
    q, k, v = _normal(3, 4), _normal(5, 4), _normal(5, 2)
    s = q @ k.T / 2.0
    w = np.exp(s - s.max(-1, keepdims=True))
    want = (w / w.sum(-1, keepdims=True)) @ v
    np.testing.assert_allclose(nn.scaled_dot_product_attention(q, k, v).eval(), want,
                               rtol=1e-12)
    out = nn.scaled_dot_product_attention(q, k, v, dropout_p=0.5, dropout_key=la.random.key(1))
    assert out.eval().shape == (3, 2)


# -- fusion ----------------------------------------------------------------------------------
def test_fusion() -> None:
    x = _normal(64, 256).astype(np.float32)
    assert _steps(nn.softmax(x, axis=-1)) == (1, 0)
    assert _steps(nn.log_softmax(x, axis=-1, where=x > 0)) == (1, 0)
    assert _steps(nn.layer_norm(x, 256, _normal(256), _normal(256))) == (1, 0)
    assert _steps(nn.rms_norm(x, 256)) == (1, 0)
    w, b = _normal(128, 256).astype(np.float32), _normal(128).astype(np.float32)
    assert _steps(nn.linear(x, w, b, activation="gelu")) == (1, 1)  # the product, the rest
    labels = RNG.integers(0, 256, 64)
    assert _steps(nn.cross_entropy(x, labels, reduction="none", label_smoothing=0.1)) == (1, 0)
    # the loss of each row and its gradient, evaluated together: one row-wise kernel
    loss, pullback = la.vjp(lambda z: nn.cross_entropy(z, labels, reduction="none"), x)
    assert _steps(loss, *pullback(np.ones(64, np.float32))) == (1, 0)
    assert _steps(nn.cross_entropy(x, labels)) == (2, 0)  # the rows, then the mean
    q, k = _normal(2, 16, 8), _normal(2, 16, 8)
    assert _steps(nn.scaled_dot_product_attention(q, k, k, is_causal=True)) == (1, 2)
    img = _normal(8, 6, 5, 5)
    assert _steps(nn.batch_norm(img, None, None, training=True)) == (2, 0)
    assert _steps(nn.group_norm(img, 3)) == (2, 2)  # statistics, stack and gather, output
    assert _steps(la.grad(lambda a: nn.gelu(a, approximate="tanh").sum())(x)) == (1, 0)


def test_batch_norm_training_evaluates_once() -> None:
    from conftest import kernels_run

    x = _normal(8, 4, 6, 6)
    rm, rv = np.zeros(4), np.ones(4)
    nn.batch_norm(x, rm, rv, training=True, evaluate=True)  # compiles
    # the statistics (one pass over x), the output, the C running values
    assert kernels_run(lambda: nn.batch_norm(x, rm, rv, training=True, evaluate=True)) == 3
    # lazily: the running update now, one kernel; then the statistics again and the output
    assert kernels_run(lambda: nn.batch_norm(x, rm, rv, training=True)) == 1
    y = nn.batch_norm(x, rm, rv, training=True)
    assert kernels_run(y.eval) == 2


# -- errors ------------------------------------------------------------------------------------
def test_errors_name_the_function() -> None:
    x = _normal(4, 6)
    with pytest.raises(TypeError, match="relu"):
        nn.relu(np.arange(4))
    with pytest.raises(ValueError, match=r"mse_loss.*reduction"):
        nn.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match=r"mse_loss.*size"):
        nn.mse_loss(x, x[:, :3])
    with pytest.raises(ValueError, match=r"gelu.*approximate"):
        nn.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match=r"glu.*even"):
        nn.glu(x[:, :5])
    with pytest.raises(np.exceptions.AxisError, match="softmax"):
        nn.softmax(x, axis=2)
    with pytest.raises(TypeError, match=r"softmax.*bool"):
        nn.softmax(x, where=x)
    with pytest.raises(ValueError, match=r"layer_norm.*normalized_shape"):
        nn.layer_norm(x, 4)
    with pytest.raises(ValueError, match=r"layer_norm.*weight"):
        nn.layer_norm(x, 6, weight=np.ones(5))
    with pytest.raises(ValueError, match=r"batch_norm.*more than 1 value"):
        nn.batch_norm(x[:1], None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm.*running"):
        nn.batch_norm(x, None, None)
    with pytest.raises(TypeError, match=r"batch_norm.*NumPy"):
        nn.batch_norm(x, la.asarray(np.zeros(6)), np.ones(6), training=True)
    with pytest.raises(ValueError, match=r"group_norm.*divisible"):
        nn.group_norm(x, 4)
    with pytest.raises(IndexError, match=r"cross_entropy.*out of bounds"):
        nn.cross_entropy(x, np.array([0, 1, 6, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy.*target"):
        nn.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(TypeError, match=r"nll_loss.*integer"):
        nn.nll_loss(x, np.zeros(4))
    with pytest.raises(ValueError, match=r"kl_div.*reduction"):
        nn.kl_div(x, x, reduction="batch")
    with pytest.raises(ValueError, match="linear"):
        nn.linear(x, np.ones((3, 5)))
    with pytest.raises(ValueError, match=r"linear.*activation"):
        nn.linear(x, np.ones((3, 6)), activation="swish")
    with pytest.raises(TypeError, match=r"embedding.*integer"):
        nn.embedding(np.zeros(3), x)
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention.*is_causal"):
        nn.scaled_dot_product_attention(x, x, x, attn_mask=np.ones((4, 4), bool),
                                        is_causal=True)
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        nn.scaled_dot_product_attention(x, x[:, :5], x)
