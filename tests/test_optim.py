"""lazyarr.optim: PyTorch's update formulas (against torch.optim when it is installed, and
against NumPy references written here), one kernel per parameter, in place, no temporaries,
and learning rates that never recompile."""

from __future__ import annotations

import tracemalloc
import weakref
from typing import Any

import numpy as np
import pytest
from conftest import kernels_run

import lazyarr as la
import lazyarr.optim as optim

STEPS = 100
SHAPES = [(13, 7), (31,)]


# -- NumPy references: torch.optim's single-tensor formulas, written out ------------------------

def ref_sgd(p, g, st, step, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
            nesterov=False, maximize=False):
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    if momentum != 0:
        if "momentum_buffer" not in st:
            st["momentum_buffer"] = g.copy()
        else:
            st["momentum_buffer"] = st["momentum_buffer"] * momentum + (1 - dampening) * g
        g = g + momentum * st["momentum_buffer"] if nesterov else st["momentum_buffer"]
    return p - lr * g


def ref_adam(p, g, st, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
             amsgrad=False, maximize=False, decoupled=False):
    b1, b2 = betas
    g = -g if maximize else g
    if weight_decay != 0:
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
    m = st.get("exp_avg", np.zeros_like(p))
    v = st.get("exp_avg_sq", np.zeros_like(p))
    st["exp_avg"] = m = m + (1 - b1) * (g - m)
    st["exp_avg_sq"] = v = v * b2 + (1 - b2) * g * g
    if amsgrad:
        st["max_exp_avg_sq"] = v = np.maximum(st.get("max_exp_avg_sq", np.zeros_like(p)), v)
    denom = np.sqrt(v) / np.sqrt(1 - b2 ** step) + eps
    return p - lr / (1 - b1 ** step) * m / denom


def ref_adamw(p, g, st, step, weight_decay=1e-2, **kw):
    return ref_adam(p, g, st, step, weight_decay=weight_decay, decoupled=True, **kw)


def ref_rmsprop(p, g, st, step, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    sq = st["square_avg"] = st.get("square_avg", np.zeros_like(p)) * alpha + (1 - alpha) * g * g
    if centered:
        ga = st.get("grad_avg", np.zeros_like(p))
        ga = st["grad_avg"] = ga + (1 - alpha) * (g - ga)
        avg = np.sqrt(sq - ga * ga) + eps
    else:
        avg = np.sqrt(sq) + eps
    if momentum > 0:
        buf = st["momentum_buffer"] = st.get("momentum_buffer", np.zeros_like(p)) * momentum \
            + g / avg
        return p - lr * buf
    return p - lr * g / avg


def ref_adagrad(p, g, st, step, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                initial_accumulator_value=0.0, eps=1e-10, maximize=False):
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    s = st.get("sum", np.full_like(p, initial_accumulator_value))
    s = st["sum"] = s + g * g
    return p - lr / (1 + (step - 1) * lr_decay) * g / (np.sqrt(s) + eps)


def ref_lion(p, g, st, step, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False):
    # the Lion paper's Algorithm 2 (optax.lion): the sign of an interpolation, then the EMA
    b1, b2 = betas
    g = -g if maximize else g
    m = st.get("exp_avg", np.zeros_like(p))
    new_p = p - lr * (np.sign(b1 * m + (1 - b1) * g) + weight_decay * p)
    st["exp_avg"] = b2 * m + (1 - b2) * g
    return new_p


OPTIMIZERS = {
    "sgd": (optim.SGD, ref_sgd, "SGD"),
    "adam": (optim.Adam, ref_adam, "Adam"),
    "adamw": (optim.AdamW, ref_adamw, "AdamW"),
    "rmsprop": (optim.RMSprop, ref_rmsprop, "RMSprop"),
    "adagrad": (optim.Adagrad, ref_adagrad, "Adagrad"),
    "lion": (optim.Lion, ref_lion, None),
}

CASES: list[tuple[str, dict[str, Any]]] = [
    ("sgd", {"lr": 0.05}),
    ("sgd", {"lr": 0.05, "weight_decay": 0.1}),
    ("sgd", {"lr": 0.02, "momentum": 0.9}),
    ("sgd", {"lr": 0.02, "momentum": 0.9, "dampening": 0.3, "weight_decay": 0.05}),
    ("sgd", {"lr": 0.02, "momentum": 0.8, "nesterov": True}),
    ("sgd", {"lr": 0.02, "momentum": 0.8, "nesterov": True, "maximize": True,
             "weight_decay": 0.01}),
    ("adam", {}),
    ("adam", {"lr": 0.02, "betas": (0.8, 0.95), "eps": 1e-6, "weight_decay": 0.1}),
    ("adam", {"lr": 0.02, "amsgrad": True}),
    ("adam", {"lr": 0.02, "amsgrad": True, "maximize": True, "weight_decay": 0.05}),
    ("adamw", {}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.3, "amsgrad": True}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.0, "maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.005, "alpha": 0.9, "weight_decay": 0.1}),
    ("rmsprop", {"lr": 0.005, "momentum": 0.9}),
    ("rmsprop", {"lr": 0.005, "centered": True, "eps": 1e-3}),
    ("rmsprop", {"lr": 0.005, "momentum": 0.5, "centered": True, "maximize": True,
                 "eps": 1e-3}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.1,
                 "initial_accumulator_value": 0.5}),
    ("adagrad", {"lr": 0.1, "eps": 1e-6, "maximize": True}),
    ("lion", {}),
    ("lion", {"lr": 1e-3, "betas": (0.95, 0.98), "weight_decay": 0.5}),
    ("lion", {"lr": 1e-3, "maximize": True}),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'defaults'}"
       for name, kw in CASES]


def _problem(seed: int, dtype: Any, shapes=SHAPES, steps=STEPS):
    """Initial parameters and the gradients of every step (the same for every optimizer)."""
    rng = np.random.default_rng(seed)
    params = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return params, grads


def _run_ours(name, kw, params, grads):
    cls = OPTIMIZERS[name][0]
    ps = [p.copy() for p in params]
    opt = cls(ps, **kw)
    for gs in grads:
        opt.step(gs)
    return ps, opt


def _run_reference(name, kw, params, grads):
    ref = OPTIMIZERS[name][1]
    ps = [p.copy() for p in params]
    states: list[dict] = [{} for _ in ps]
    for step, gs in enumerate(grads, 1):
        ps = [ref(p, g, st, step, **kw) for p, g, st in zip(ps, gs, states, strict=True)]
    return ps, states


def _check(got, want, rtol, atol):
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)
        # and as one relative error over the whole array
        assert np.linalg.norm(a - b) <= rtol * np.linalg.norm(b)


# -- against torch.optim ----------------------------------------------------------------------

def _run_torch(name, kw, params, grads):
    torch = pytest.importorskip("torch")
    cls = getattr(torch.optim, OPTIMIZERS[name][2])
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt = cls(ts, **kw, foreach=False)
    for gs in grads:
        for t, g in zip(ts, gs, strict=True):
            t.grad = torch.from_numpy(g.copy())
        opt.step()
    return [t.detach().numpy() for t in ts], opt


TORCH_CASES = [(c, i) for c, i in zip(CASES, IDS, strict=True) if OPTIMIZERS[c[0]][2]]


@pytest.mark.parametrize("case", [c for c, _ in TORCH_CASES], ids=[i for _, i in TORCH_CASES])
def test_100_float64_steps_match_torch(case):
    name, kw = case
    params, grads = _problem(1, np.float64)
    want, topt = _run_torch(name, kw, params, grads)
    got, opt = _run_ours(name, kw, params, grads)
    _check(got, want, rtol=1e-6, atol=1e-9)
    # the state too, under torch's names
    for k, t in enumerate(topt.param_groups[0]["params"]):
        for key, value in opt.state[k].items():
            np.testing.assert_allclose(value, topt.state[t][key].numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("case", [c for c, _ in TORCH_CASES][::3],
                         ids=[i for _, i in TORCH_CASES][::3])
def test_100_float32_steps_match_torch(case):
    name, kw = case
    params, grads = _problem(2, np.float32)
    want, _ = _run_torch(name, kw, params, grads)
    got, _ = _run_ours(name, kw, params, grads)
    assert all(p.dtype == np.float32 for p in got)
    _check(got, want, rtol=1e-4, atol=1e-4)


# -- against the NumPy references (no torch needed) ---------------------------------------------

@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_100_steps_match_the_numpy_reference(case):
    name, kw = case
    params, grads = _problem(3, np.float64)
    want, states = _run_reference(name, kw, params, grads)
    got, opt = _run_ours(name, kw, params, grads)
    _check(got, want, rtol=1e-9, atol=1e-12)
    for mine, theirs in zip(opt.state, states, strict=True):
        assert set(mine) == set(theirs)
        for key in mine:
            np.testing.assert_allclose(mine[key], theirs[key], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_float32_matches_the_numpy_reference_in_float32(name):
    kw = dict(CASES)[name] if name != "lion" else {"lr": 1e-3}
    params, grads = _problem(4, np.float32, steps=30)
    want, _ = _run_reference(name, kw, params, grads)
    got, _ = _run_ours(name, kw, params, grads)
    for a, b in zip(got, want, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_lion_first_step_is_the_sign_of_the_gradient():
    p = np.array([1.0, -2.0, 0.5, 3.0])
    g = np.array([0.3, -1e-12, 0.0, -7.0])
    optim.Lion([p], lr=0.25, weight_decay=0.0).step([g])
    np.testing.assert_array_equal(p, [0.75, -1.75, 0.5, 3.25])


def test_sgd_momentum_first_step_ignores_dampening():
    # torch: the buffer starts as the gradient itself
    p = np.array([1.0, 2.0])
    opt = optim.SGD([p], lr=0.5, momentum=0.9, dampening=0.5)
    opt.step([np.array([2.0, -4.0])])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], [2.0, -4.0])
    np.testing.assert_array_equal(p, [0.0, 4.0])
    opt.step([np.array([2.0, -4.0])])
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], [2.8, -5.6])


# -- in place, one kernel, no temporaries, no recompiles -----------------------------------------

@pytest.mark.parametrize("case", CASES[::2], ids=IDS[::2])
def test_parameters_and_state_are_updated_in_place(case):
    name, kw = case
    params, grads = _problem(5, np.float64, steps=2)
    ps = [p.copy() for p in params]
    opt = OPTIMIZERS[name][0](ps, **kw)
    ids = [id(p) for p in ps]
    state_ids = [{k: id(v) for k, v in st.items()} for st in opt.state]
    for gs in grads:
        opt.step(gs)
    assert [id(p) for p in opt.params] == ids
    assert [{k: id(v) for k, v in st.items()} for st in opt.state] == state_ids
    want, states = _run_reference(name, kw, params, grads)
    for p, w, p0 in zip(ps, want, params, strict=True):
        np.testing.assert_allclose(p, w, rtol=1e-12, atol=1e-15)
        assert not np.array_equal(p, p0)
    for st, ref_st in zip(opt.state, states, strict=True):
        for key, arr in st.items():
            np.testing.assert_allclose(arr, ref_st[key], rtol=1e-12, atol=1e-15)
    assert opt.steps == [2, 2]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_each_parameter_is_one_kernel(case):
    name, kw = case
    params, grads = _problem(6, np.float32, steps=1)
    opt = OPTIMIZERS[name][0]([p.copy() for p in params], **kw)
    for exprs in opt.expressions(grads[0]):
        assert exprs is not None and len(exprs) == 1 + len(opt.state_names)
        steps = la.explain(*exprs).kernel_steps
        assert [s.kind for s in steps] == ["kernel"]


@pytest.mark.parametrize("name", ["sgd", "adamw", "rmsprop", "adagrad", "lion"])
def test_learning_rate_schedules_never_compile(name):
    kw = {"lr": 0.01, "momentum": 0.9} if name in ("sgd", "rmsprop") else {"lr": 0.01}
    params, grads = _problem(7, np.float64, shapes=[(5, 4), (9,), (3,)], steps=8)
    ps = [p.copy() for p in params]
    opt = OPTIMIZERS[name][0](ps, **kw)
    opt.step(grads[0])
    before = la.cache_info()
    schedule = [0.02, 0.0, 1.0, 0.5, 2.0, 1e-5, 0.3]
    for lr, gs in zip(schedule, grads[1:], strict=True):
        opt.lr = lr
        assert kernels_run(lambda gs=gs: opt.step(gs)) == len(ps)
    after = la.cache_info()
    assert (after.compiles, after.misses) == (before.compiles, before.misses)
    # and the schedule was followed
    ref = OPTIMIZERS[name][1]
    want = [p.copy() for p in params]
    states: list[dict] = [{} for _ in want]
    for step, (lr, gs) in enumerate(zip([0.01, *schedule], grads, strict=True), 1):
        want = [ref(p, g, st, step, **{**kw, "lr": lr})
                for p, g, st in zip(want, gs, states, strict=True)]
    _check(ps, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["sgd", "adamw", "rmsprop", "lion"])
def test_a_step_allocates_nothing_of_the_parameters_size(name):
    n = 10**6
    kw = {"momentum": 0.9} if name == "sgd" else \
        {"momentum": 0.9, "centered": True} if name == "rmsprop" else {}
    p = np.random.default_rng(8).standard_normal(n)
    g = np.random.default_rng(9).standard_normal(n)
    opt = OPTIMIZERS[name][0]([p], **kw)
    opt.step([g])  # compiles

    def lazy_grad():
        return la.grad(lambda w: la.sum(w * w) * 0.5)(p)  # w itself: reads p once

    opt.step([lazy_grad()])
    for grad in (g, lazy_grad()):
        tracemalloc.start()
        try:
            opt.step([grad])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < p.nbytes // 20, peak


def test_gradient_buffers_refilled_in_place_reuse_the_prepared_launch():
    # the same gradient arrays at every step (gradients evaluated with out=): each step runs
    # the launch lazyarr prepared for the last one, reading the arrays' new values
    params, grads = _problem(17, np.float32, steps=6)
    bufs = [np.empty_like(p) for p in params]
    ps = [p.copy() for p in params]
    opt = optim.Adam(ps, lr=0.01, amsgrad=True)
    opt.step(grads[0])
    before = la.cache_info()
    for gs in grads[1:]:
        for b, g in zip(bufs, gs, strict=True):
            b[...] = g
        assert kernels_run(lambda: opt.step(bufs)) == len(ps)
    assert all(fused is not None for fused in opt._fused)  # array gradients: fused updates
    assert la.cache_info().misses == before.misses
    want, _ = _run_reference("adam", {"lr": 0.01, "amsgrad": True}, params, grads)
    for a, b in zip(ps, want, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_fresh_gradients_are_not_kept_alive():
    params, grads = _problem(18, np.float64, steps=3)
    opt = optim.SGD([p.copy() for p in params], lr=0.1, momentum=0.9)
    refs = []
    for gs in grads:
        fresh = [g.copy() for g in gs]
        refs += [weakref.ref(g) for g in fresh]
        opt.step(fresh)
        del fresh
    la.clear_cache()  # lazyarr's fast path keeps its last few expressions (and their arrays)
    assert all(r() is None for r in refs)
    assert opt._built == [None, None]


# -- gradients as lazy expressions -------------------------------------------------------------

def test_a_lazy_gradient_fuses_into_the_update_kernel():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 5))
    p = rng.standard_normal((6, 5))
    want = p.copy()

    def loss(w):  # row-wise: logsumexp reads each row before the gradient is written
        return la.sum(la.logsumexp(w * la.asarray(x), axis=1))

    opt_ref = optim.AdamW([want], lr=0.1)
    opt = optim.AdamW([p], lr=0.1)
    for _ in range(5):
        assert len(la.explain(*opt.expressions([la.grad(loss)(p)])[0]).kernel_steps) == 1
        opt_ref.step([la.grad(loss)(want).eval()])  # the gradient first, into a new array
        assert kernels_run(lambda: opt.step([la.grad(loss)(p)])) == 1
    np.testing.assert_allclose(p, want, rtol=1e-12, atol=1e-14)


def test_one_lazy_gradient_passed_at_every_step_follows_the_parameter():
    # built once, over the parameter itself: every step evaluates it at the current values
    rng = np.random.default_rng(19)
    target = rng.standard_normal(40)
    p = rng.standard_normal(40)
    q = p.copy()
    grad = la.grad(lambda w: 0.5 * la.sum((w - la.asarray(target)) ** 2))(p)
    opt, opt_ref = optim.RMSprop([p], lr=0.05), optim.RMSprop([q], lr=0.05)
    for _ in range(6):
        assert kernels_run(lambda: opt.step([grad])) == 1
        opt_ref.step([q - target])
    np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    assert np.abs(p - target).max() < np.abs(rng.standard_normal(40) - target).max()


def _mlp_loss(x, y):
    def loss(w):
        h = la.tanh(la.asarray(x) @ w[0])
        return la.mean((h @ w[1] - la.asarray(y)) ** 2)
    return loss


def test_lazy_gradients_that_read_other_parameters_see_them_before_the_step():
    # each layer's gradient reads the other layer's weights: they cannot be updated one after
    # the other unless the gradients are computed first
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
    w = [rng.standard_normal((3, 4)), rng.standard_normal((4, 2))]
    ws = [a.copy() for a in w]
    loss = _mlp_loss(x, y)
    opt = optim.Adam(w, lr=0.05)
    opt_ref = optim.Adam(ws, lr=0.05)
    for _ in range(10):
        opt.step(la.grad(loss)(w))
        opt_ref.step([g.eval() for g in la.grad(loss)(ws)])
    for a, b in zip(w, ws, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_parameters_given_as_each_others_gradients():
    p = [np.ones(3), np.full(3, 2.0)]
    optim.SGD(p, lr=0.5).step([p[1], p[0]])
    np.testing.assert_array_equal(p[0], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(p[1], [1.5, 1.5, 1.5])


def test_gradients_read_in_order_when_they_can_be():
    # grads[2] reads params[1] and grads[1] reads params[0]: updating 2, 1, 0 in that order
    # is right with no gradient computed ahead
    rng = np.random.default_rng(12)
    w = [rng.standard_normal(7) for _ in range(3)]
    ws = [a.copy() for a in w]
    opt, opt_ref = optim.SGD(w, lr=0.1), optim.SGD(ws, lr=0.1)
    for _ in range(3):
        grads = [la.asarray(w[0]), la.asarray(w[0]) - la.asarray(w[1]), la.asarray(w[1]) * 2]
        assert opt._order(grads) == [2, 1, 0]
        assert all(type(g) is la.LazyArray for g in grads)  # nothing computed ahead
        opt.step(grads)
        opt_ref.step([ws[0].copy(), ws[0] - ws[1], ws[1] * 2])
    for a, b in zip(w, ws, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14)


# -- functional forms ----------------------------------------------------------------------------

def test_functional_forms_return_new_arrays_and_leave_theirs_alone():
    rng = np.random.default_rng(13)
    p, g = rng.standard_normal(10), rng.standard_normal(10)
    m, v, vmax = rng.random(10), rng.random(10), rng.random(10) + 0.5
    keep = [a.copy() for a in (p, g, m, v, vmax)]
    new = optim.adam_update(p, g, m, v, vmax, step=3, lr=0.1, weight_decay=0.1)
    assert len(new) == 4 and all(type(a) is la.LazyArray for a in new)
    got = la.eval(*new)
    st = {"exp_avg": m, "exp_avg_sq": v, "max_exp_avg_sq": vmax}
    want = ref_adam(p, g, st, 3, lr=0.1, weight_decay=0.1, amsgrad=True)
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    for k, key in enumerate(("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), 1):
        np.testing.assert_allclose(got[k], st[key], rtol=1e-12)
    for a, b in zip((p, g, m, v, vmax), keep, strict=True):
        np.testing.assert_array_equal(a, b)

    pw, mw, vw = la.eval(*optim.adamw_update(p, g, m, v, step=1, lr=0.1))
    st = {"exp_avg": m, "exp_avg_sq": v}
    np.testing.assert_allclose(pw, ref_adamw(p, g, st, 1, lr=0.1), rtol=1e-12)
    np.testing.assert_allclose(mw, st["exp_avg"], rtol=1e-12)
    np.testing.assert_allclose(vw, st["exp_avg_sq"], rtol=1e-12)

    (new_p,) = optim.sgd_update(p, g, lr=0.1)  # no momentum: no state
    ps = new_p.eval()
    np.testing.assert_allclose(ps, p - 0.1 * g, rtol=1e-14)
    ps, buf = la.eval(*optim.sgd_update(p, g, lr=0.1, momentum=0.9, dampening=0.5))
    np.testing.assert_allclose(buf, g)  # torch's first step: the buffer is the gradient
    ps, buf = la.eval(*optim.sgd_update(p, g, m, lr=0.1, momentum=0.9, nesterov=True))
    np.testing.assert_allclose(buf, 0.9 * m + g, rtol=1e-14)
    np.testing.assert_allclose(ps, p - 0.1 * (g + 0.9 * buf), rtol=1e-14)

    ga0 = 0.1 * m  # below the root mean square: no NaN
    pr, sq, b, ga = la.eval(*optim.rmsprop_update(p, g, v, m, ga0, momentum=0.5))
    st = {"square_avg": v, "momentum_buffer": m, "grad_avg": ga0}
    np.testing.assert_allclose(pr, ref_rmsprop(p, g, st, 1, momentum=0.5, centered=True),
                               rtol=1e-12)
    np.testing.assert_allclose(sq, st["square_avg"], rtol=1e-12)
    np.testing.assert_allclose(b, st["momentum_buffer"], rtol=1e-12)
    np.testing.assert_allclose(ga, st["grad_avg"], rtol=1e-12)

    pa, s = la.eval(*optim.adagrad_update(p, g, v, step=4, lr_decay=0.5))
    st = {"sum": v}
    np.testing.assert_allclose(pa, ref_adagrad(p, g, st, 4, lr_decay=0.5), rtol=1e-12)
    np.testing.assert_allclose(s, st["sum"], rtol=1e-12)
    pl, ml = la.eval(*optim.lion_update(p, g, m, lr=0.1))
    st = {"exp_avg": m}
    np.testing.assert_allclose(pl, ref_lion(p, g, st, 1, lr=0.1), rtol=1e-12)
    np.testing.assert_allclose(ml, st["exp_avg"], rtol=1e-12)


def test_the_functional_form_in_place_is_the_step():
    rng = np.random.default_rng(14)
    p, g = rng.standard_normal(50).astype(np.float32), rng.standard_normal(50)
    m, v = np.zeros(50, np.float32), np.zeros(50, np.float32)
    q = p.copy()
    opt = optim.AdamW([q], lr=0.01)
    for step in (1, 2, 3):
        la.eval(*optim.adamw_update(p, g, m, v, step=step, lr=0.01), out=(p, m, v))
        opt.step([g])  # a float64 gradient for float32 parameters: cast in the kernel
    assert q.dtype == np.float32
    np.testing.assert_array_equal(p, q)
    np.testing.assert_array_equal(m, opt.state[0]["exp_avg"])


def test_strided_parameters_are_updated_where_they_are():
    rng = np.random.default_rng(20)
    big = rng.standard_normal((6, 10))
    keep = big.copy()
    p = big[::2, 1::3].T  # a strided view, transposed
    g = rng.standard_normal(p.shape)
    want = ref_adam(p.copy(), g, {}, 1, lr=0.1)
    opt = optim.Adam([p], lr=0.1)
    opt.step([g])
    np.testing.assert_allclose(big[::2, 1::3].T, want, rtol=1e-12)
    untouched = np.ones(big.shape, bool)
    untouched[::2, 1::3] = False
    np.testing.assert_array_equal(big[untouched], keep[untouched])


# -- the rest ------------------------------------------------------------------------------------

def test_a_missing_gradient_skips_its_parameter():
    params, grads = _problem(15, np.float64, steps=1)
    ps = [p.copy() for p in params]
    opt = optim.Adam(ps, lr=0.1)
    opt.step([grads[0][0], None])
    np.testing.assert_array_equal(ps[1], params[1])
    assert not opt.state[1]["exp_avg"].any() and opt.steps == [1, 0]
    assert not np.array_equal(ps[0], params[0])


def test_state_dict_round_trip_continues_the_same_run():
    params, grads = _problem(16, np.float64, steps=6)
    a = [p.copy() for p in params]
    opt_a = optim.RMSprop(a, lr=0.01, momentum=0.9, centered=True)
    for gs in grads[:3]:
        opt_a.step(gs)
    saved = opt_a.state_dict()
    b = [p.copy() for p in a]
    opt_b = optim.RMSprop(b, lr=0.5, momentum=0.9, centered=True)
    buffers = [dict(st) for st in opt_b.state]
    opt_b.load_state_dict(saved)
    assert opt_b.lr == 0.01 and opt_b.steps == [3, 3]
    assert all(st[k] is buf[k] for st, buf in zip(opt_b.state, buffers, strict=True)
               for k in st)
    for gs in grads[3:]:
        opt_a.step(gs)
        opt_b.step(gs)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    saved["state"][0]["exp_avg"] = saved["state"][0].pop("square_avg")
    with pytest.raises(ValueError, match="state 0 holds"):
        opt_b.load_state_dict(saved)
    with pytest.raises(ValueError, match="must match: momentum, centered"):
        optim.RMSprop([p.copy() for p in a], momentum=0.5).load_state_dict(
            opt_a.state_dict())


@pytest.mark.parametrize("make, message", [
    (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate: -0.1"),
    (lambda p: optim.SGD(p, lr=float("nan")), "Invalid learning rate: nan"),
    (lambda p: optim.SGD(p, momentum=-1.0), "Invalid momentum value: -1.0"),
    (lambda p: optim.SGD(p, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
    (lambda p: optim.SGD(p, nesterov=True), "Nesterov momentum requires a momentum"),
    (lambda p: optim.SGD(p, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "Invalid beta parameter at index 0: 1.0"),
    (lambda p: optim.AdamW(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
    (lambda p: optim.Adam(p, eps=-1e-8), "Invalid epsilon value: -1e-08"),
    (lambda p: optim.RMSprop(p, alpha=-0.5), "Invalid alpha value: -0.5"),
    (lambda p: optim.Adagrad(p, lr_decay=-1.0), "Invalid lr_decay value: -1.0"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1.0),
     "Invalid initial_accumulator_value value: -1.0"),
    (lambda p: optim.Lion(p, betas=(0.9, 1.5)), "Invalid beta parameter at index 1: 1.5"),
    (lambda p: optim.Adam([]), "empty parameter list"),
    (lambda p: optim.Adam([p[0], p[0][:3]]), "share memory"),
])
def test_bad_hyperparameters_raise_torchs_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make([np.zeros(5)])


def test_bad_learning_rate_assignment_and_bad_gradients():
    p = [np.zeros(5), np.zeros((2, 3))]
    opt = optim.Adam(p)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        opt.lr = -1.0
    assert opt.lr == 1e-3
    with pytest.raises(ValueError, match="1 gradients for 2 parameters"):
        opt.step([np.zeros(5)])
    with pytest.raises(ValueError, match=r"grads\[1\] has shape \(3, 2\)"):
        opt.step([np.zeros(5), np.zeros((3, 2))])
    with pytest.raises(ValueError, match="shape"):
        opt.step([np.zeros(5), la.asarray(np.zeros((2, 4)))])
    with pytest.raises(TypeError, match="float"):
        opt.step([np.zeros(5), np.zeros((2, 3), dtype=np.int64)])
    with pytest.raises(TypeError, match="float32 or float64"):
        optim.SGD([np.zeros(3, dtype=np.int32)])
    with pytest.raises(TypeError, match="NumPy arrays"):
        optim.SGD([[0.0, 1.0]])
    assert opt.steps == [0, 0] and not p[0].any()
