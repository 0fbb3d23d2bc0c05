"""Issue 14's backward workloads, float32: lazyarr's reverse mode against ``jax.jit`` of
``jax.vjp`` and, when ``import torch`` works, PyTorch autograd, eager and ``torch.compile``.

``gelu_bwd``: dx of GELU (tanh form) for a cotangent g. ``ln_bwd``: dx, dgamma, dbeta of layer
norm over the last axis. ``xent``: softmax cross-entropy with integer labels, per-row loss and
dlogits of the mean loss (cotangent 1/B) in one call. ``gelu_adam``: GELU backward, then Adam
(constants of :mod:`.workloads`) updating the GELU input p with that gradient, p, m, v in
place; chosen over an Adam update of layer norm's gamma and beta, which would be a (cols,)
update beside a full backward: here both halves are as large, and fusing saves array passes.

Shapes: ``--matrix`` (4096x1024), and the largest of ``--sizes`` (1e7) as n elements or as
(n // 1000, 1000) rows. A lazyarr call builds the graph (``la.vjp``, ``vjp_fn``) and evaluates
it, as a training step does (``:out``: into preallocated arrays; gelu_adam: into p, m, v).
JAX jits the whole step, donating the state. torch runs the ops its users write (``F.gelu``,
``F.layer_norm``, ``F.cross_entropy``) and ``torch.autograd.grad``; torch.compile compiles the
forward (AOTAutograd: its backward too) and the Adam update. Results are checked against
NumPy's backward written out, in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from . import workloads as wl
from .measure import Context, same_result
from .timing import error_text, first_call, time_round_robin
from .workloads import SHORT, Config

DTYPE = "float32"
IMPLS = ("numpy", "lazyarr:out", "lazyarr", "jax", "torch", "torch.compile")
ROW = 1000  # columns of the row workloads at the --sizes case


# -- NumPy: the backward written out (the reference, in float64, and a timed column) ----------
def _gelu_grad_np(x: Any, g: Any) -> Any:
    t = np.tanh(wl.GELU_K * (x + 0.044715 * (x * x * x)))
    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * wl.GELU_K * (1 + 3 * 0.044715 * (x * x)))


def _ln_np(x: Any, gamma: Any, beta: Any, g: Any) -> tuple[Any, Any, Any]:
    xc = x - x.mean(axis=-1, keepdims=True)
    rstd = 1 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + 1e-5)
    xhat = xc * rstd
    dxhat = g * gamma
    dx = rstd * (dxhat - dxhat.mean(axis=-1, keepdims=True)
                 - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True))
    return dx, (g * xhat).sum(axis=0), g.sum(axis=0)


def _xent_np(z: Any, labels: Any) -> tuple[Any, Any]:
    rows = np.arange(len(z))
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    total = e.sum(axis=1, keepdims=True)
    dz = e / total
    dz[rows, labels] -= 1
    dz /= len(z)
    return np.log(total)[:, 0] + top[:, 0] - z[rows, labels], dz


def _gelu_adam_np(p: Any, m: Any, v: Any, g: Any) -> tuple[Any, Any, Any]:
    return wl._adam_numpy(p, m, v, _gelu_grad_np(p, g))


# -- the forward passes: lazyarr and JAX share one, torch runs its own fused ops ---------------
def _xent(xp: Any, z: Any, labels: Any) -> Any:
    classes = xp.asarray(np.arange(z.shape[1]))
    return xp.logsumexp(z, axis=1) - xp.sum(xp.where(classes == labels[:, None], z, 0.0), axis=1)


def _torch_gelu(nn_f: Any, x: Any) -> Any:
    return nn_f.gelu(x, approximate="tanh")


def _torch_adam(p: Any, m: Any, v: Any, g: Any) -> None:
    """Adam as torch.optim.Adam computes it, at this module's fixed step."""
    m.mul_(wl.B1).add_(g, alpha=1 - wl.B1)
    v.mul_(wl.B2).addcmul_(g, g, value=1 - wl.B2)
    p.addcdiv_(m, (v / wl.BC2).sqrt_().add_(wl.EPS), value=-wl.LR / wl.BC1)


@dataclass(frozen=True)
class Backward:
    key: str
    name: str
    inputs: tuple[str, ...]  # all arrays; "g" is the cotangent (else 1/B of the mean loss)
    forward_args: tuple[str, ...]  # arguments of the forward pass
    wrt: tuple[str, ...]  # of them, those differentiated
    forward: Callable[..., Any]  # (xp, *forward_args): lazyarr or JAX
    torch_forward: Callable[..., Any]  # (torch.nn.functional, *forward_args)
    numpy: Callable[..., tuple[Any, ...]]  # (*inputs): the backward written out
    rows: bool  # (rows, cols) workload; else elementwise
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # default [-1, 1)
    with_value: bool = False  # the forward's value is a result (the loss)
    inplace: tuple[str, ...] = ()  # Adam: the gradient of p updates p, m, v


BACKWARD = (
    Backward("gelu_bwd", "gelu backward", ("x", "g"), ("x",), ("x",), wl._gelu, _torch_gelu,
             lambda x, g: (_gelu_grad_np(x, g),), rows=False, ranges={"x": (-4.0, 4.0)}),
    Backward("ln_bwd", "layernorm backward", ("x", "gamma", "beta", "g"),
             ("x", "gamma", "beta"), ("x", "gamma", "beta"), wl._layernorm,
             lambda nn_f, x, g, b: nn_f.layer_norm(x, x.shape[-1:], g, b, 1e-5), _ln_np,
             rows=True, ranges={"gamma": (0.5, 1.5)}),
    Backward("xent", "softmax xent fwd+bwd", ("z", "labels"), ("z", "labels"), ("z",), _xent,
             lambda nn_f, z, labels: nn_f.cross_entropy(z, labels, reduction="none"), _xent_np,
             rows=True, ranges={"z": (-4.0, 4.0)}, with_value=True),
    Backward("gelu_adam", "gelu bwd + adam", ("p", "m", "v", "g"), ("p",), ("p",), wl._gelu,
             _torch_gelu, _gelu_adam_np, rows=False,
             ranges={"p": (-4.0, 4.0), "g": (-0.5, 0.5), "m": (0.0, 0.1), "v": (0.0, 0.01)},
             inplace=("p", "m", "v")),
)
BY_KEY = {w.key: w for w in BACKWARD}


def shapes(w: Backward, cfg: Config) -> list[tuple[int, ...]]:
    """``--matrix``, and the largest ``--sizes`` as n elements or rows of ``ROW``."""
    n = max(cfg.sizes)
    big = (max(n // ROW, 1), min(n, ROW)) if w.rows else (n,)
    return list(dict.fromkeys([tuple(cfg.matrix), big]))


def make_inputs(w: Backward, shape: tuple[int, ...],
                rng: np.random.Generator) -> dict[str, np.ndarray]:
    arrays = {}
    for name in w.inputs:
        if name == "labels":
            arrays[name] = rng.integers(0, shape[1], shape[0])
            continue
        lo, hi = w.ranges.get(name, (-1.0, 1.0))
        size = shape[-1:] if name in ("gamma", "beta") else shape
        arrays[name] = (lo + (hi - lo) * rng.random(size)).astype(DTYPE)
    return arrays


# -- one step, as each library's user writes it ------------------------------------------------
def step(w: Backward, xp: Any, vjp: Callable[..., Any], args: dict[str, Any]) -> tuple[Any, ...]:
    """The results of one step in lazyarr (``xp`` lazyarr, ``vjp`` la.vjp) or JAX."""
    def f(*primals: Any) -> Any:
        given = dict(zip(w.wrt, primals, strict=True))
        return w.forward(xp, *(given.get(k, args.get(k)) for k in w.forward_args))

    out, back = vjp(f, *(args[k] for k in w.wrt))
    if "g" in args:
        ct = args["g"]
    else:  # the mean loss's cotangent, broadcast from a scalar
        ct = xp.broadcast_to(xp.asarray(np.array(1 / out.shape[0], out.dtype)), out.shape)
    grads = tuple(back(ct))
    if w.inplace:
        return wl._adam(xp, args["p"], args["m"], args["v"], grads[0])
    return ((out,) if w.with_value else ()) + grads


class _JaxNumpy:
    """``jax.numpy`` with ``logsumexp``, which JAX keeps in ``jax.nn``."""

    def __init__(self, jax: Any) -> None:
        self._jnp, self.logsumexp = jax.numpy, jax.nn.logsumexp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._jnp, name)


def prep_numpy(w: Backward, arrays: dict[str, np.ndarray], ctx: Context) -> Callable[[], Any]:
    return partial(w.numpy, *(arrays[k] for k in w.inputs))


def prep_lazyarr(w: Backward, arrays: dict[str, np.ndarray], ctx: Context,
                 into_out: bool) -> Callable[[], Any]:
    la = ctx.la
    lazy = {k: la.asarray(a) for k, a in arrays.items()}
    out = None
    if into_out:
        out = (tuple(arrays[k] for k in w.inplace) if w.inplace else
               tuple(np.empty(np.shape(r), DTYPE) for r in ctx.reference))

    def call() -> Any:  # the graph is built on every call, as a training step does
        result = la.eval(*step(w, la, la.vjp, lazy), out=out)
        return out if into_out else result
    return call


def prep_jax(w: Backward, arrays: dict[str, np.ndarray], ctx: Context) -> Callable[[], Any]:
    jax = ctx.peers["jax"]
    xp = _JaxNumpy(jax)
    slots = [w.inputs.index(k) for k in w.inplace]
    # state donated, as a training step does: its buffers are reused (no fresh pages)
    fn = jax.jit(lambda *a: step(w, xp, jax.vjp, dict(zip(w.inputs, a, strict=True))),
                 donate_argnums=tuple(slots))
    args = [jax.device_put(arrays[k]) for k in w.inputs]

    def call() -> Any:
        result = jax.block_until_ready(fn(*args))
        for slot, value in zip(slots, result, strict=False):  # the next step's state
            args[slot] = value
        return result
    return call


def prep_torch(w: Backward, arrays: dict[str, np.ndarray], ctx: Context,
               compiled: bool) -> Callable[[], Any]:
    torch = ctx.peers["torch"]
    forward, update = partial(w.torch_forward, torch.nn.functional), _torch_adam
    if compiled:
        # in the inductor's cache key: a kernel built for one thread count is not reused
        torch._inductor.config.cpp.threads = ctx.threads
        forward, update = torch.compile(forward), torch.compile(update)
    t = {k: torch.from_numpy(a) for k, a in arrays.items()}
    primals = [t[k].requires_grad_() for k in w.wrt]
    args = [t[k] for k in w.forward_args]

    def call() -> Any:
        out = forward(*args)
        ct = t["g"] if "g" in t else torch.full_like(out, 1 / out.shape[0])
        grads = torch.autograd.grad(out, primals, ct)
        if w.inplace:
            with torch.no_grad():
                update(*(t[k] for k in w.inplace), grads[0])
            return tuple(t[k].detach() for k in w.inplace)
        return ((out.detach(),) if w.with_value else ()) + grads
    return call


PREPARE: dict[str, Callable[..., Callable[[], Any]]] = {
    "numpy": prep_numpy,
    "lazyarr:out": partial(prep_lazyarr, into_out=True),
    "lazyarr": partial(prep_lazyarr, into_out=False),
    "jax": prep_jax,
    "torch": partial(prep_torch, compiled=False),
    "torch.compile": partial(prep_torch, compiled=True),
}


def impls(ctx: Context) -> list[str]:
    have = {"numpy", "lazyarr:out", "lazyarr", *ctx.peers}
    return [i for i in IMPLS if i.split(".")[0] in have]


def reference(w: Backward, arrays: dict[str, np.ndarray]) -> tuple[Any, ...]:
    wide = {k: a.astype(np.float64) if a.dtype.kind == "f" else a for k, a in arrays.items()}
    return tuple(w.numpy(*(wide[k] for k in w.inputs)))


def run_cell(w: Backward, shape: tuple[int, ...], ctx: Context, cfg: Config) -> dict[str, Any]:
    """Every implementation of ``w`` at ``shape``: each called once (compiles; its result
    checked against NumPy's in float64), then timed round-robin."""
    arrays = make_inputs(w, shape, np.random.default_rng(math.prod(shape)))
    ctx.dtype, ctx.reference = DTYPE, reference(w, arrays)
    cell: dict[str, Any] = {"first_call": {}, "ok": {}, "errors": {}}
    fns = {}
    for impl in impls(ctx):
        try:
            state = {k: a.copy() if k in w.inplace else a for k, a in arrays.items()}
            fn = PREPARE[impl](w, state, ctx)
            result, cell["first_call"][impl] = first_call(fn)
        except Exception as exc:  # a peer that cannot run this workload: say so, go on
            cell["errors"][impl] = error_text(exc)
            continue
        cell["ok"][impl] = same_result(result, ctx.reference, DTYPE, w.rows)
        fns[impl] = fn
    bytes_moved = sum(a.nbytes for a in arrays.values())
    bytes_moved += sum(np.asarray(r, DTYPE).nbytes for r in ctx.reference)
    return {"workload": w.key, "name": w.name, "dtype": DTYPE, "n": math.prod(shape),
            "shape": list(shape), "bytes": bytes_moved,
            "times": time_round_robin(fns, cfg.repeat, cfg.min_sample_s), **cell}


# -- report: a table per thread count, and issue 14's goal -------------------------------------
def ordinary(r: dict[str, Any]) -> str:  # held against the peers; out= where they update
    return "lazyarr:out" if BY_KEY[r["workload"]].inplace else "lazyarr"


def report_lines(run: dict[str, Any]) -> list[str]:
    from .report import _cell as _entry  # report imports this module

    names = run["backward_impls"]
    peers = [i for i in names if i not in ("lazyarr", "lazyarr:out")]
    lines = ["", f"== backward (issue 14), float32, {run['threads']} thread(s): ms per call  |  "
                 "peer ms / la ms (la:out for Adam; > 1: lazyarr faster) ==",
             f"{'workload':<22}{'shape':>11}" + "".join(f"{SHORT[i]:>9}" for i in names)
             + "  |" + "".join(f"{'vs ' + SHORT[p]:>11}" for p in peers)]
    for r in run["backward"]:
        t, la = r["times"], r["times"].get(ordinary(r))
        ms = [_entry(r, i, 1e3 * t[i] if i in t else None, ".3f") for i in names]
        vs = [_entry(r, p, t[p] / la if la and p in t else None, ".2f") for p in peers]
        lines.append(f"{r['name']:<22}{'x'.join(map(str, r['shape'])):>11}"
                     + "".join(f"{c:>9}" for c in ms) + "  |" + "".join(f"{c:>11}" for c in vs))
    return lines


def goal_lines(doc: dict[str, Any]) -> list[str]:
    """Issue 14: lazyarr at least as fast as ``jax.jit`` on every backward workload."""
    out = []
    for run in doc["runs"]:
        ratios = {f"{r['name']} {'x'.join(map(str, r['shape']))}":
                  r["times"]["jax"] / r["times"][ordinary(r)] for r in run.get("backward", [])
                  if "jax" in r["times"] and ordinary(r) in r["times"]}
        worst = min(ratios, key=ratios.get) if ratios else None
        verdict = "n/a " if worst is None else "PASS" if ratios[worst] >= 1 else "FAIL"
        text = f"worst {worst} {ratios[worst]:.2f}x" if worst else "no jax timings"
        out.append(f"{verdict}  [{run['threads']} thr] goal 14 backward >= jax.jit: {text}")
    return out
