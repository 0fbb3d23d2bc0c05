"""Issue 16's sections of the bench: random numbers and dropout (``--workloads random``), int8
quantisation (``--workloads quant``), at 10^7 float32 elements.

Random: ``uniform`` and ``normal`` against NumPy's ``Generator`` (PCG64) and ``jax.random``
(jitted, threefry), dropout against NumPy's mask-and-multiply and PyTorch's ``dropout``.
Quantisation: ``quantize`` and ``dequantize`` against NumPy and PyTorch's
``quantize_per_tensor`` / ``dequantize``, and as a share of the memory bandwidth: bytes moved
per second against the STREAM triad timed in the same rounds (``measure.triad_fns``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .measure import Context, reference_triad, triad_fns
from .timing import error_text, first_call, time_round_robin
from .workloads import Config

RANDOM, QUANT = "random", "quant"
KEYS = (RANDOM, QUANT)
N = 10**7
P = 0.1  # dropout probability
SCALE, ZERO = 0.05, 3  # quantisation parameters (int8)


def run(ctx: Context, cfg: Config) -> dict[str, Any]:
    """The sections asked for by ``cfg.workloads``, each a list of cells."""
    out: dict[str, Any] = {}
    n = min(N, max(cfg.sizes)) if cfg.quick else N
    if RANDOM in cfg.workloads:
        out[RANDOM] = [cell(name, fns, check, ctx, cfg, n)
                       for name, fns, check in _random_cells(ctx, n)]
    if QUANT in cfg.workloads:
        out[QUANT] = [cell(name, fns, check, ctx, cfg, n, moved)
                      for name, fns, check, moved in _quant_cells(ctx, n)]
    return out


Fns = dict[str, Callable[[], Any]]
Check = Callable[[Any], bool]


def _jax() -> Any:
    try:
        import jax
    except ImportError:
        return None
    return jax


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        return None
    return torch


def _random_cells(ctx: Context, n: int) -> list[tuple[str, Fns, Check]]:
    la, rng = ctx.la, np.random.default_rng(0)
    k = la.random.key(0)
    f32 = np.float32
    x = rng.standard_normal(n).astype(f32)
    jax, torch = _jax(), _torch()
    uniform: Fns = {
        "lazyarr": lambda: la.random.uniform(k, (n,), f32).eval(),
        "numpy": lambda: rng.random(n, dtype=f32)}
    normal: Fns = {
        "lazyarr": lambda: la.random.normal(k, (n,), f32).eval(),
        "numpy": lambda: rng.standard_normal(n, dtype=f32)}
    dropout: Fns = {
        "lazyarr": lambda: la.nn.dropout(x, P, k).eval(),
        "numpy": lambda: x * ((rng.random(n, dtype=f32) >= P) * f32(1 / (1 - P)))}
    if jax is not None:
        jk = jax.random.key(0)
        ju = jax.jit(lambda key: jax.random.uniform(key, (n,), "float32"))
        jn = jax.jit(lambda key: jax.random.normal(key, (n,), "float32"))
        uniform["jax.jit"] = lambda: ju(jk).block_until_ready()
        normal["jax.jit"] = lambda: jn(jk).block_until_ready()
    if torch is not None:
        tx = torch.from_numpy(x)
        dropout["torch"] = lambda: torch.nn.functional.dropout(tx, P)
    return [
        ("uniform float32", uniform,
         lambda r: bool(np.min(r) >= 0 and np.max(r) < 1 and abs(np.mean(r) - 0.5) < 0.01)),
        ("normal float32", normal,
         lambda r: bool(abs(np.mean(r)) < 0.01 and abs(np.var(r) - 1) < 0.01)),
        (f"dropout p={P} float32", dropout,
         lambda r: bool(abs(np.mean(np.asarray(r) == 0) - P) < 0.01)),
    ]


def _quant_cells(ctx: Context, n: int) -> list[tuple[str, Fns, Check, int]]:
    la, torch = ctx.la, _torch()
    x = np.random.default_rng(1).standard_normal(n).astype(np.float32)
    want_q = np.clip(np.rint(x * np.float32(1 / SCALE)) + ZERO, -128, 127).astype(np.int8)
    q_out, d_out = np.empty(n, np.int8), np.empty(n, np.float32)
    quantize: Fns = {
        "lazyarr": lambda: la.quantize(x, SCALE, ZERO).eval(),
        "lazyarr out=": lambda: la.quantize(x, SCALE, ZERO).eval(out=q_out),
        "numpy": lambda: np.clip(np.rint(x / np.float32(SCALE)) + ZERO, -128,
                                 127).astype(np.int8)}
    dequantize: Fns = {
        "lazyarr": lambda: la.dequantize(want_q, SCALE, ZERO).eval(),
        "lazyarr out=": lambda: la.dequantize(want_q, SCALE, ZERO).eval(out=d_out),
        "numpy": lambda: (want_q.astype(np.float32) - ZERO) * np.float32(SCALE)}
    tq = None
    if torch is not None:
        tx = torch.from_numpy(x)
        tq = torch.quantize_per_tensor(tx, SCALE, ZERO, torch.qint8)
        quantize["torch"] = lambda: torch.quantize_per_tensor(tx, SCALE, ZERO, torch.qint8)
        dequantize["torch"] = lambda: tq.dequantize()

    def close_q(r: Any) -> bool:
        got = r.int_repr().numpy() if hasattr(r, "int_repr") else np.asarray(r)
        return bool(np.abs(got.astype(int) - want_q).max() <= 1)  # ties may round apart

    def close_d(r: Any) -> bool:  # torch dequantises its own quantised tensor
        got = r.numpy() if hasattr(r, "numpy") else np.asarray(r)
        q = tq.int_repr().numpy() if hasattr(r, "numpy") else want_q
        return bool(np.allclose(got, (q.astype(np.float32) - ZERO) * SCALE))

    return [("quantize float32 -> int8", quantize, close_q, 5 * n),
            ("dequantize int8 -> float32", dequantize, close_d, 5 * n)]


def cell(name: str, fns: Fns, check: Check, ctx: Context, cfg: Config, n: int,
         moved: int | None = None) -> dict[str, Any]:
    """One workload timed round-robin over its implementations, after a checked first call;
    with ``moved`` (bytes per call), the float64 triad is timed in the same rounds."""
    cell: dict[str, Any] = {"name": name, "n": n, "ok": {}, "errors": {}, "first_call": {}}
    timed: Fns = {}
    for impl, fn in fns.items():
        try:
            result, cell["first_call"][impl] = first_call(fn)
            cell["ok"][impl] = check(result)
        except Exception as exc:  # say so, go on
            cell["errors"][impl] = error_text(exc)
            continue
        timed[impl] = fn
    triads = {}
    if moved is not None:  # the bandwidth reference, timed in the same rounds
        triads = {f"triad: {k}": f for k, f in triad_fns(ctx, cfg.triad_size, "float64").items()}
        for f in triads.values():
            f()
    times = time_round_robin(timed | triads, cfg.repeat, cfg.min_sample_s)
    cell["times"] = {k: t for k, t in times.items() if k in timed}
    if moved is not None:
        gbps = {k[len("triad: "):]: 24 * cfg.triad_size / times[k] / 1e9 for k in triads}
        ref = reference_triad(gbps)
        cell["bytes"] = moved
        cell["triad"] = {"impl": ref, "gbps": gbps[ref]}
    return cell


def report_lines(run: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for key, title in ((RANDOM, "random numbers and dropout (issue 16)"),
                       (QUANT, "int8 quantisation (issue 16)")):
        lines += section_lines(run.get(key) or [], title, run["threads"])
    return lines


def section_lines(cells: list[dict[str, Any]], title: str, threads: int) -> list[str]:
    """A table of cells from :func:`cell`, ms per call; cells that counted their bytes get
    lazyarr out='s GB/s against the triad of the same rounds."""
    if not cells:
        return []
    impls = sorted({i for c in cells for i in c["times"]}, key=_order)
    bandwidth = any("bytes" in c for c in cells)
    lines = ["", f"== {title}, {threads} thread(s): ms per call "
                 "(! = result failed its check) =="]
    head = f"{'workload':<28}{'n':>10}" + "".join(f"{i:>14}" for i in impls)
    if bandwidth:
        head += f"{'GB/s':>8}{'triad':>7}{'%':>5}"
    lines.append(head)
    for c in cells:
        t = c["times"]
        cols = [f"{1e3 * t[i]:.2f}{'' if c['ok'].get(i, True) else '!'}" if i in t
                else "-" for i in impls]
        line = f"{c['name']:<28}{c['n']:>10}" + "".join(f"{x:>14}" for x in cols)
        if "bytes" in c and "lazyarr out=" in t:
            gbps = c["bytes"] / t["lazyarr out="] / 1e9
            line += f"{gbps:>8.1f}{c['triad']['gbps']:>7.1f}" \
                    f"{100 * gbps / c['triad']['gbps']:>5.0f}"
        lines.append(line)
        lines += [f"   {c['name']}: {impl} failed: {err}" for impl, err in c["errors"].items()]
    if bandwidth:
        lines.append("   GB/s: bytes read + written per second by lazyarr out=; triad: the "
                     "STREAM triad timed in the same rounds")
    return lines


def _order(impl: str) -> tuple[int, str]:
    return (0 if impl.startswith("lazyarr") else 1, impl)
