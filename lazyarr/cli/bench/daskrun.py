"""Issue 20's section of the bench, at a small size: lazyarr over Dask arrays against the
same expressions in Dask with NumPy, same chunks, same threaded scheduler (as many Dask
workers as the run's threads; lazyarr one thread inside each task).

``benchmarks/dask_scale.py`` is the full version (10^8 elements, an on-disk array larger than
memory, peak memory); this one keeps the comparison in every run where Dask is installed
(``--workloads dask``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .timing import error_text, first_call, time_round_robin
from .workloads import Config

KEY = "dask"
CHUNKS = 4  # chunks per array


@dataclass(frozen=True)
class DaskWorkload:
    name: str
    kind: str  # "memory" or "math" (the goals at 10^8: 2x and 5x)
    expr: Callable[..., Any]  # expr(xp, a, b, c): xp is lazyarr or dask.array


WORKLOADS = (
    DaskWorkload("2*a + 3*b", "memory", lambda xp, a, b, c: 2 * a + 3 * b),
    DaskWorkload("sum((a-b)**2)", "memory", lambda xp, a, b, c: xp.sum((a - b) ** 2)),
    DaskWorkload("exp(-a)*sin(b)+cos(c)", "math",
                 lambda xp, a, b, c: xp.exp(-a) * xp.sin(b) + xp.cos(c)),
)


def run(la: Any, threads: int, cfg: Config) -> list[dict[str, Any]]:
    """Each workload at the run's largest size, both ways; [] where Dask is absent."""
    try:
        import dask
        import dask.array as da
    except ImportError:
        return []
    n = min(max(cfg.sizes), 10**6)  # a small size: the full one is dask_scale.py's
    rng = np.random.default_rng(20)
    host = [rng.standard_normal(n) for _ in range(3)]
    arrays = [da.from_array(h, chunks=max(1, n // CHUNKS)).persist() for h in host]
    lazy = [la.asarray(a) for a in arrays]
    previous = la.get_num_threads()
    la.set_num_threads(1)  # Dask's workers take the cores
    cells = []
    try:
        with dask.config.set(scheduler="threads", num_workers=threads):
            for w in WORKLOADS:
                cells.append(_cell(w, la, da, arrays, lazy, host, cfg))
    finally:
        la.set_num_threads(previous)
    return cells


def _cell(w: DaskWorkload, la: Any, da: Any, arrays: list, lazy: list, host: list,
          cfg: Config) -> dict[str, Any]:
    fns = {"dask": lambda: w.expr(da, *arrays).compute(),
           "lazyarr": lambda: la.eval(w.expr(la, *lazy)).compute()}
    want = w.expr(np, *host)
    cell: dict[str, Any] = {"name": w.name, "kind": w.kind, "n": host[0].size,
                            "ok": {}, "errors": {}, "first_call": {}}
    timed = {}
    for name, fn in fns.items():
        try:
            result, cell["first_call"][name] = first_call(fn)
        except Exception as exc:  # say so, go on
            cell["errors"][name] = error_text(exc)
            continue
        cell["ok"][name] = bool(np.allclose(result, want, rtol=1e-9, atol=1e-9))
        timed[name] = fn
    cell["times"] = time_round_robin(timed, cfg.repeat, cfg.min_sample_s)
    return cell


def report_lines(run: dict[str, Any]) -> list[str]:
    cells = run.get("dask") or []
    if not cells:
        return []
    lines = ["", f"== Dask (issue 20), float64, {run['threads']} worker thread(s): ms per "
                 "compute  |  dask+numpy ms / lazyarr ms ==",
             "   (a small size: per-task costs weigh; the issue's goals are for 10^8 "
             "elements, python benchmarks/dask_scale.py)",
             f"{'workload':<24}{'n':>10}{'dask':>10}{'lazyarr':>10}  |{'ratio':>8}"]
    for c in cells:
        t = c["times"]
        marks = {k: "" if c["ok"].get(k, True) else "!" for k in ("dask", "lazyarr")}
        ratio = t["dask"] / t["lazyarr"] if "dask" in t and "lazyarr" in t else None
        cols = [f"{1e3 * t[k]:.2f}{marks[k]}" if k in t else "err" for k in ("dask", "lazyarr")]
        lines.append(f"{c['name']:<24}{c['n']:>10}{cols[0]:>10}{cols[1]:>10}  |"
                     f"{'-' if ratio is None else f'{ratio:.2f}':>8}")
    return lines
