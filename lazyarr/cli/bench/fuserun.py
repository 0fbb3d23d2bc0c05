"""Issue 15's ``@la.fuse`` section of the bench (``--workloads fuse``): a ten-op function
called with new NumPy arrays every call, against NumPy evaluating the same ten ops, one NumPy
ufunc call, and lazyarr without ``fuse`` (the graph built every call)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .workloads import Config

KEY = "fuse"
SIZES = (1, 1000, 100_000)
CALLS = 500  # distinct input pairs, each used once per loop


def ten_ops(xp: Any, x: Any, y: Any) -> Any:
    return xp.sqrt(x * x + y * y) * 0.5 + xp.maximum(x, y) - xp.minimum(x, 0.25) * y \
        + x / (y + 2.0)


def run(la: Any, cfg: Config) -> list[dict[str, Any]]:
    fused = la.fuse(lambda x, y: ten_ops(la, x, y))
    cells = []
    for n in SIZES:
        rng = np.random.default_rng(n)
        pairs = [(rng.random(n), rng.random(n)) for _ in range(CALLS // 10 if n > 10**4
                                                               else CALLS)]
        fns: dict[str, Callable[[Any, Any], Any]] = {
            "la.fuse": fused,
            "numpy (10 ops)": lambda x, y: ten_ops(np, x, y),
            "numpy (1 ufunc)": np.add,
            "lazyarr (no fuse)": lambda x, y: la.eval(ten_ops(la, la.asarray(x), la.asarray(y))),
        }
        want = ten_ops(np, *pairs[0])
        ok = {k: bool(np.allclose(np.asarray(f(*pairs[0])), want, rtol=1e-12))
              for k, f in fns.items() if k != "numpy (1 ufunc)"}
        best = {}
        for name, f in fns.items():
            for x, y in pairs[:3]:
                f(x, y)
            samples = []
            for _ in range(max(3, cfg.repeat // 2)):
                t0 = time.perf_counter()
                for x, y in pairs:
                    f(x, y)
                samples.append((time.perf_counter() - t0) / len(pairs))
            best[name] = min(samples)
        cells.append({"n": n, "times": best, "ok": ok})
    return cells


def report_lines(run: dict[str, Any]) -> list[str]:
    cells = run.get(KEY) or []
    if not cells:
        return []
    impls = list(cells[0]["times"])
    lines = ["", f"== @la.fuse (issue 15), float64, new arrays every call, {run['threads']} "
                 "thread(s): us per call (best loop) ==",
             f"{'n':>8}" + "".join(f"{i:>20}" for i in impls)]
    for c in cells:
        cols = [f"{1e6 * c['times'][i]:.2f}{'' if c['ok'].get(i, True) else '!'}"
                for i in impls]
        lines.append(f"{c['n']:>8}" + "".join(f"{x:>20}" for x in cols))
    return lines
