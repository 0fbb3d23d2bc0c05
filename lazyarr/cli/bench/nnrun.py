"""Issue 15's layer section of the bench (``--workloads nn``): ``lazyarr.nn`` activations,
normalisations and losses, forward and forward+backward, float32 at (4096, 1024) and
(256, 1024), against PyTorch eager (``torch.nn.functional`` and autograd) and ``jax.jit``; and
an AdamW step over 10^7 float32 parameters, as a share of the STREAM triad timed in the same
rounds, against ``torch.optim.AdamW`` (``foreach``).

lazyarr runs each workload as a layer author writes it under ``@la.fuse`` (traced once, then
replayed with the arrays): the forward pass, or ``la.vjp``'s value and input gradient for a
cotangent ``g``. JAX jits the same. Results are checked against PyTorch's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .measure import Context, reference_triad, triad_fns
from .timing import error_text, first_call, time_round_robin
from .workloads import Config

KEY = "nn"
SHAPES = ((4096, 1024), (256, 1024))
IMPLS = ("lazyarr", "torch", "jax.jit")
ADAM_N = 10**7


@dataclass(frozen=True)
class Layer:
    name: str
    kind: str  # activation, normalisation, loss
    la: Callable[..., Any]  # (la, x, t): lazyarr
    torch: Callable[..., Any]  # (torch.nn.functional, x, t)
    jax: Callable[..., Any]  # (jax, x, t)
    loss: bool = False  # a scalar: its backward needs no cotangent


def _jnorm(jax: Any, x: Any) -> Any:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + 1e-5)


LAYERS = (
    Layer("relu", "activation", lambda la, x, t: la.nn.relu(x),
          lambda fn, x, t: fn.relu(x), lambda j, x, t: j.nn.relu(x)),
    Layer("gelu", "activation", lambda la, x, t: la.nn.gelu(x),
          lambda fn, x, t: fn.gelu(x), lambda j, x, t: j.nn.gelu(x, approximate=False)),
    Layer("gelu tanh", "activation", lambda la, x, t: la.nn.gelu(x, approximate="tanh"),
          lambda fn, x, t: fn.gelu(x, approximate="tanh"),
          lambda j, x, t: j.nn.gelu(x, approximate=True)),
    Layer("silu", "activation", lambda la, x, t: la.nn.silu(x),
          lambda fn, x, t: fn.silu(x), lambda j, x, t: j.nn.silu(x)),
    Layer("softplus", "activation", lambda la, x, t: la.nn.softplus(x),
          lambda fn, x, t: fn.softplus(x), lambda j, x, t: j.nn.softplus(x)),
    Layer("mish", "activation", lambda la, x, t: la.nn.mish(x),
          lambda fn, x, t: fn.mish(x), lambda j, x, t: x * j.numpy.tanh(j.nn.softplus(x))),
    Layer("hardswish", "activation", lambda la, x, t: la.nn.hardswish(x),
          lambda fn, x, t: fn.hardswish(x), lambda j, x, t: j.nn.hard_swish(x)),
    Layer("sigmoid", "activation", lambda la, x, t: la.nn.sigmoid(x),
          lambda fn, x, t: fn.sigmoid(x), lambda j, x, t: j.nn.sigmoid(x)),
    Layer("layer_norm", "normalisation",
          lambda la, x, t: la.nn.layer_norm(x, x.shape[-1:]),
          lambda fn, x, t: fn.layer_norm(x, x.shape[-1:]), lambda j, x, t: _jnorm(j, x)),
    Layer("rms_norm", "normalisation",
          lambda la, x, t: la.nn.rms_norm(x, x.shape[-1:], eps=1e-6),
          lambda fn, x, t: fn.rms_norm(x, x.shape[-1:], eps=1e-6),
          lambda j, x, t: x * j.lax.rsqrt((x * x).mean(-1, keepdims=True) + 1e-6)),
    Layer("softmax", "normalisation", lambda la, x, t: la.nn.softmax(x, axis=-1),
          lambda fn, x, t: fn.softmax(x, dim=-1), lambda j, x, t: j.nn.softmax(x, axis=-1)),
    Layer("log_softmax", "normalisation", lambda la, x, t: la.nn.log_softmax(x, axis=-1),
          lambda fn, x, t: fn.log_softmax(x, dim=-1),
          lambda j, x, t: j.nn.log_softmax(x, axis=-1)),
    Layer("cross_entropy", "loss", lambda la, x, t: la.nn.cross_entropy(x, t),
          lambda fn, x, t: fn.cross_entropy(x, t),
          lambda j, x, t: -j.numpy.mean(j.numpy.take_along_axis(
              j.nn.log_softmax(x, axis=-1), t[:, None], axis=-1)), loss=True),
    Layer("mse_loss", "loss", lambda la, x, t: la.nn.mse_loss(x, t),
          lambda fn, x, t: fn.mse_loss(x, t), lambda j, x, t: j.numpy.mean((x - t) ** 2),
          loss=True),
    Layer("bce_with_logits", "loss",
          lambda la, x, t: la.nn.binary_cross_entropy_with_logits(x, t),
          lambda fn, x, t: fn.binary_cross_entropy_with_logits(x, t),
          lambda j, x, t: j.numpy.mean(j.nn.softplus(x) - x * t), loss=True),
)


def _target(layer: Layer, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    if layer.name == "cross_entropy":
        return rng.integers(0, shape[1], shape[0])
    if layer.name == "bce_with_logits":
        return rng.random(shape).astype(np.float32)
    return rng.standard_normal(shape).astype(np.float32)


def _lazyarr(la: Any, layer: Layer, backward: bool) -> Callable[..., Any]:
    if not backward:
        return la.fuse(lambda x, t, g: layer.la(la, x, t))

    def both(x: Any, t: Any, g: Any) -> Any:
        out, back = la.vjp(lambda v: layer.la(la, v, t), x)
        return out, back(1.0 if layer.loss else g)[0]

    return la.fuse(both)


def _torch(torch: Any, layer: Layer, backward: bool) -> Callable[..., Any]:
    functional = torch.nn.functional

    def call(x: Any, t: Any, g: Any) -> Any:
        if not backward:
            with torch.no_grad():
                return layer.torch(functional, x, t)
        x = x.detach().requires_grad_()
        out = layer.torch(functional, x, t)
        (dx,) = torch.autograd.grad(out, x, None if layer.loss else g)
        return out.detach(), dx

    return call


def _jax(jax: Any, layer: Layer, backward: bool) -> Callable[..., Any]:
    if not backward:
        fn = jax.jit(lambda x, t, g: layer.jax(jax, x, t))
    else:
        def both(x: Any, t: Any, g: Any) -> Any:
            out, back = jax.vjp(lambda v: layer.jax(jax, v, t), x)
            return out, back(jax.numpy.ones_like(out) if layer.loss else g)[0]
        fn = jax.jit(both)
    return lambda x, t, g: jax.block_until_ready(fn(x, t, g))


def _close(got: Any, want: Any) -> bool:
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    return all(np.allclose(np.asarray(a, np.float64), np.asarray(b.numpy() if hasattr(
        b, "numpy") else b, np.float64), rtol=2e-4, atol=2e-5) for a, b in zip(
        got, want, strict=True))


def _cell(ctx: Context, cfg: Config, layer: Layer, shape: tuple[int, ...],
          backward: bool) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 2).astype(np.float32)
    t = _target(layer, shape, rng)
    g = rng.standard_normal(shape).astype(np.float32)
    cell: dict[str, Any] = {"name": layer.name, "kind": layer.kind, "shape": list(shape),
                            "backward": backward, "ok": {}, "errors": {}, "first_call": {}}
    calls: dict[str, Callable[[], Any]] = {}
    torch, jax = ctx.peers.get("torch"), ctx.peers.get("jax")
    fns: dict[str, tuple[Callable[..., Any], tuple]] = {
        "lazyarr": (_lazyarr(ctx.la, layer, backward), (x, t, g))}
    if torch is not None:
        args = (torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(g))
        fns["torch"] = (_torch(torch, layer, backward), args)
    if jax is not None:
        args = tuple(jax.device_put(a) for a in (x, t, g))
        fns["jax.jit"] = (_jax(jax, layer, backward), args)
    reference = None
    for impl, (fn, args) in fns.items():
        try:
            result, cell["first_call"][impl] = first_call(lambda f=fn, a=args: f(*a))
        except Exception as exc:  # a peer that cannot run this: say so, go on
            cell["errors"][impl] = error_text(exc)
            continue
        if impl == "torch":
            reference = result
        calls[impl] = lambda f=fn, a=args: f(*a)
        cell.setdefault("results", {})[impl] = result
    results = cell.pop("results", {})
    if reference is not None:
        cell["ok"] = {impl: _close(r, reference) for impl, r in results.items()}
    cell["times"] = time_round_robin(calls, cfg.repeat, cfg.min_sample_s)
    return cell


def _adam_cell(ctx: Context, cfg: Config) -> dict[str, Any]:
    """One AdamW step over ADAM_N float32 parameters (reads p, g, m, v; writes p, m, v)."""
    la, torch = ctx.la, ctx.peers.get("torch")
    n = min(ADAM_N, max(cfg.sizes)) if cfg.quick else ADAM_N
    rng = np.random.default_rng(3)
    p, g = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    opt = la.optim.AdamW([p], lr=1e-3)
    fns: dict[str, Callable[[], Any]] = {"lazyarr": lambda: opt.step([g])}
    if torch is not None:
        tp = torch.from_numpy(p.copy()).requires_grad_()
        tp.grad = torch.from_numpy(g)
        topt = torch.optim.AdamW([tp], lr=1e-3, foreach=True)
        fns["torch"] = topt.step
    triads = {f"triad: {k}": f for k, f in triad_fns(ctx, cfg.triad_size, "float64").items()}
    for f in (*fns.values(), *triads.values()):
        f()
    times = time_round_robin(fns | triads, cfg.repeat, cfg.min_sample_s)
    gbps = {k[len("triad: "):]: 24 * cfg.triad_size / times[k] / 1e9 for k in triads}
    ref = reference_triad(gbps)
    return {"n": n, "bytes": 7 * 4 * n, "times": {k: times[k] for k in fns},
            "triad": {"impl": ref, "gbps": gbps[ref]}}


def run(ctx: Context, cfg: Config) -> dict[str, Any]:
    shapes = [tuple(cfg.matrix), SHAPES[1]] if not cfg.quick else [tuple(cfg.matrix)]
    cells = [_cell(ctx, cfg, layer, shape, backward) for shape in dict.fromkeys(shapes)
             for layer in LAYERS for backward in (False, True)]
    return {"cells": cells, "adamw": _adam_cell(ctx, cfg)}


def report_lines(run: dict[str, Any]) -> list[str]:
    found = run.get(KEY)
    if not found:
        return []
    lines = ["", f"== layers (issue 15), float32, {run['threads']} thread(s): ms per call "
                 "(lazyarr under @la.fuse)  |  peer ms / lazyarr ms (> 1: lazyarr faster) ==",
             f"{'layer':<18}{'pass':>9}{'shape':>11}" + "".join(f"{i:>10}" for i in IMPLS)
             + "  |" + "".join(f"{'vs ' + i:>12}" for i in IMPLS[1:])]
    for c in found["cells"]:
        t = c["times"]
        cols = [f"{1e3 * t[i]:.3f}{'' if c['ok'].get(i, True) else '!'}" if i in t else "-"
                for i in IMPLS]
        vs = [f"{t[i] / t['lazyarr']:.2f}" if i in t and "lazyarr" in t else "-"
              for i in IMPLS[1:]]
        lines.append(f"{c['name']:<18}{'fwd+bwd' if c['backward'] else 'fwd':>9}"
                     f"{'x'.join(map(str, c['shape'])):>11}" + "".join(f"{x:>10}" for x in cols)
                     + "  |" + "".join(f"{x:>12}" for x in vs))
    a = found["adamw"]
    t = a["times"]
    gbps = a["bytes"] / t["lazyarr"] / 1e9
    lines += [f"AdamW step, {a['n']} float32: lazyarr {1e3 * t['lazyarr']:.2f} ms ({gbps:.1f} GB/s "
              f"read+written, {100 * gbps / a['triad']['gbps']:.0f}% of the triad's "
              f"{a['triad']['gbps']:.1f} GB/s)"
              + (f", torch.optim.AdamW(foreach) {1e3 * t['torch']:.2f} ms" if "torch" in t
                 else "")]
    return lines
