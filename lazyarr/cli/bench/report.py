"""The text report of a run: tables per thread count and dtype, and issue 4's goals."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import backward, daskrun, fuserun, narrowrun, nnrun, randomrun
from .measure import STREAMING_TRIAD
from .workloads import BY_KEY, SHORT


# -- the report --------------------------------------------------------------------------------
def size_label(result: dict[str, Any]) -> str:
    if len(result["shape"]) > 1:
        return "x".join(map(str, result["shape"]))
    n = result["n"]
    exp = round(math.log10(n)) if n > 0 else 0
    return f"1e{exp}" if 10**exp == n else str(n)


def _cell(result: dict[str, Any], impl: str, value: float | None,
          fmt: str | Callable[[float], str]) -> str:
    """One table entry: the value, ``!`` after it when the result differs from NumPy's,
    ``err`` when the implementation failed, ``-`` when it did not run."""
    if impl in result["errors"]:
        return "err"
    if value is None:
        return "-"
    text = fmt(value) if callable(fmt) else f"{value:{fmt}}"
    return text + ("" if result["ok"].get(impl, True) else "!")


def _ms(t: float) -> str:
    return f"{t * 1e3:.4f}" if t < 1e-3 else f"{t * 1e3:.3f}" if t < 1 else f"{t * 1e3:.1f}"


def table_times(run: dict[str, Any], dtype: str) -> list[str]:
    impls = run["impls"]
    head = f"{'workload':<22}{'size':>10}" + "".join(f"{SHORT[i]:>10}" for i in impls)
    lines = [head]
    for r in (r for r in run["results"] if r["dtype"] == dtype):
        cells = [_cell(r, impl, r["times"].get(impl), _ms) for impl in impls]
        lines.append(f"{r['name']:<22}{size_label(r):>10}" + "".join(f"{c:>10}" for c in cells))
    return lines


def ordinary_lazyarr(result: dict[str, Any]) -> str:
    """lazyarr's form to hold against the peers: a fresh result, except for workloads that
    update state in place (Adam), where every peer updates in place too."""
    w = BY_KEY.get(result["workload"])
    return "lazyarr:out" if w is not None and w.inplace else "lazyarr"


def table_ratios(run: dict[str, Any], dtype: str) -> list[str]:
    impls = [i for i in run["impls"] if i != "numpy"]
    peers = [i for i in run["impls"] if i not in ("numpy", "lazyarr", "lazyarr:out")]
    head = (f"{'workload':<22}{'size':>10}" + "".join(f"{SHORT[i]:>9}" for i in impls)
            + "  |" + "".join(f"{'vs ' + SHORT[p]:>11}" for p in peers))
    lines = [head]
    for r in (r for r in run["results"] if r["dtype"] == dtype):
        t = r["times"]
        base = t.get("numpy")
        speed = [_cell(r, i, base / t[i] if base and i in t else None, ".2f") for i in impls]
        la = t.get(ordinary_lazyarr(r))
        versus = [_cell(r, p, t[p] / la if la and p in t else None, ".2f") for p in peers]
        lines.append(f"{r['name']:<22}{size_label(r):>10}" + "".join(f"{c:>9}" for c in speed)
                     + "  |" + "".join(f"{c:>11}" for c in versus))
    return lines


def _streaming_triad(r: dict[str, Any], run: dict[str, Any]) -> float | None:
    """GB/s of lazyarr's streaming triad timed with ``r`` (else the run's); None in JSON
    files written before it was measured."""
    if "triad" in r:
        return r["triad"].get("streaming_gbps")
    return run["triad"]["impls"].get(STREAMING_TRIAD, {}).get("gbps")


def table_bandwidth(run: dict[str, Any]) -> list[str]:
    """Effective GB/s of every non-matmul workload at its largest size; for memory-bound ones
    also % of the triad timed in the same rounds (the run's triad line where there is none)."""
    impls = run["impls"]
    head = (f"{'workload':<22}{'dtype':>8}{'size':>10}{'MB':>7}{'triad':>7}{'stream':>7}"
            + "".join(f"{SHORT[i]:>9}" for i in impls) + f"{'la:out%':>9}{'la%':>6}")
    lines = [head]
    largest = max((r["n"] for r in run["results"] if len(r["shape"]) == 1), default=0)
    for r in run["results"]:
        if r["workload"] == "relu_matmul" or (len(r["shape"]) == 1 and r["n"] != largest):
            continue
        gbps = {i: r["bytes"] / t / 1e9 for i, t in r["times"].items()}
        cells = [_cell(r, i, gbps.get(i), ".1f") for i in impls]
        ref = r.get("triad", run["triad"])["gbps"] if r["memory_bound"] else None
        pct = [_cell(r, i, 100 * gbps[i] / ref if ref and i in gbps else None, ".0f")
               for i in ("lazyarr:out", "lazyarr")]
        mark = "*" if r["memory_bound"] else " "
        triad_text = f"{ref:.1f}" if ref else "-"
        streamed = _streaming_triad(r, run) if ref else None
        stream_text = f"{streamed:.1f}" if streamed else "-"
        lines.append(f"{r['name'] + mark:<22}{r['dtype']:>8}{size_label(r):>10}"
                     f"{r['bytes'] / 1e6:>7.0f}{triad_text:>7}{stream_text:>7}"
                     + "".join(f"{c:>9}" for c in cells) + f"{pct[0]:>9}{pct[1]:>6}")
    return lines


def table_first_calls(run: dict[str, Any]) -> list[str]:
    """First call minus the median call at the smallest size: the compile (lazyarr's disk
    cache off; its two variants share one kernel, so the larger of the two is shown). JAX
    compiles again for every new shape; Numba and lazyarr once per dtype."""
    impls = [i for i in run["impls"] if i not in ("numpy", "lazyarr:out")]
    lines = [f"{'workload':<22}{'dtype':>8}" + "".join(f"{SHORT[i]:>9}" for i in impls)]
    seen = set()
    for r in run["results"]:
        if (r["workload"], r["dtype"]) in seen:
            continue
        seen.add((r["workload"], r["dtype"]))
        extra = {i: 1e3 * (r["first_call"][i] - t) for i, t in r["times"].items()}
        if "lazyarr:out" in extra:
            extra["lazyarr"] = max(extra["lazyarr:out"], extra.get("lazyarr", 0.0))
        cells = [_cell(r, i, extra.get(i), ".1f") for i in impls]
        lines.append(f"{r['name']:<22}{r['dtype']:>8}" + "".join(f"{c:>9}" for c in cells))
    return lines


def table_overhead(rows: list[dict[str, Any]]) -> list[str]:
    lines = [f"{'implementation':<22}{'n':>6}{'us/call':>10}{'- numpy us':>12}"]
    for r in rows:
        lines.append(f"{r['impl']:<22}{r['n']:>6}{r['seconds'] * 1e6:>10.2f}"
                     f"{r['minus_numpy'] * 1e6:>12.2f}")
    return lines


def table_compile(comp: dict[str, Any]) -> list[str]:
    lz = comp["lazyarr"]
    lines = [f"new 10-op expression, e.g. {comp['expression_example']}",
             f"  lazyarr first eval (LLVM loaded, caches missed): "
             f"{lz['median_first_eval_s'] * 1e3:.1f} ms (compile {lz['median_compile_s'] * 1e3:.1f}"
             f" ms); disk-cache hit eval: {lz['median_disk_hit_eval_s'] * 1e3:.2f} ms"]
    for name, p in comp["peers"].items():
        lines.append(f"  {name} first call minus warm call: {p['median_compile_s'] * 1e3:.1f} ms")
    lines.append(f"fresh process (medians): {'import':>10}{'1st eval':>10}{'sum':>10}  ms "
                 "(import numpy excluded)")
    for name, p in comp["fresh_process"].items():
        if "error" in p:
            lines.append(f"  {name:<30} error: {p['error']}")
            continue
        lines.append(f"  {name:<30}{p['import_s'] * 1e3:>8.1f}{p['first_eval_s'] * 1e3:>10.1f}"
                     f"{p['import_plus_first_eval_s'] * 1e3:>10.1f}")
    return lines


def report(doc: dict[str, Any]) -> str:
    m = doc["machine"]
    peers = ", ".join(f"{k} {v.get('version') or 'absent'}" for k, v in doc["peers"].items())
    commit = f" (commit {m['lazyarr_commit']})" if m.get("lazyarr_commit") else ""
    out = [f"lazyarr {m['lazyarr']}{commit} bench, {doc['date']}",
           f"command: {doc['command']}",
           f"machine: {m['cpu']} ({' '.join(m['simd'])}), {m['usable_cpus']} usable of "
           f"{m['logical_cpus']} CPUs; Python {m['python']}, NumPy {m['numpy']}, llvmlite "
           f"{m['llvmlite']} (LLVM {m['llvm']}); {peers or 'no peers'}",
           "times: median of round-robin samples; ! = result differs from NumPy's, err = failed,"
           " - = not run"]
    for run in doc["runs"]:
        out += _run_report(run)
    if doc.get("overhead"):
        out += ["", "== per-call overhead, a + b*c, float64 (graph building included) =="]
        out += table_overhead(doc["overhead"])
    if doc.get("compile"):
        out += ["", "== compile latency ==", *table_compile(doc["compile"])]
    if any(run["results"] for run in doc["runs"]):
        out += ["", "== issue 4 goals (set at n=1e7), as measured in this run ==",
                *goal_lines(doc)]
    if any(run.get("backward") for run in doc["runs"]):
        out += ["", "== issue 14 goal (backward, float32), as measured in this run ==",
                *backward.goal_lines(doc)]

    return "\n".join(out)


# -- issue 4's goals, checked against this run -------------------------------------------------
def _verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else "PASS" if ok else "FAIL"


def _largest(run: dict[str, Any]) -> list[dict[str, Any]]:
    sizes = [r["n"] for r in run["results"] if len(r["shape"]) == 1]
    return [r for r in run["results"] if len(r["shape"]) == 1 and r["n"] == max(sizes)]


def _bandwidth_goals(run: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """Goal 1: out= at >= 90% of the triad; fresh result >= Numba's and >= 2x numexpr."""
    rows = [r for r in _largest(run) if r["memory_bound"] and "lazyarr:out" in r["times"]]
    pct = {f"{r['name']} {r['dtype']}": r["bytes"] / r["times"]["lazyarr:out"] / 1e9
           / r.get("triad", run["triad"])["gbps"] for r in rows}
    worst = min(pct, key=pct.get) if pct else None
    out = [(f"1 out= >= 90% of triad: worst {worst} {100 * pct[worst]:.0f}%" if worst
            else "1 out= >= 90% of triad", min(pct.values()) >= 0.9 if pct else None)]
    for peer, factor in (("numba", 1.0), ("numexpr", 2.0)):
        ratios = {}
        for r in rows:  # Numba: its faster form at this thread count, serial or parallel
            t = min((v for k, v in r["times"].items() if k.startswith(peer)), default=None)
            if t is not None and ordinary_lazyarr(r) in r["times"]:
                ratios[f"{r['name']} {r['dtype']}"] = t / r["times"][ordinary_lazyarr(r)]
        worst = min(ratios, key=ratios.get) if ratios else None
        out.append((f"1 fresh result (Adam: out=) >= {factor:g}x {peer}: worst {worst} "
                    f"{ratios[worst]:.2f}x" if worst else f"1 fresh result vs {peer}",
                    min(ratios.values()) >= factor if ratios else None))
    return out


def _math_goals(run: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """Goal 2: GELU, exp-sin-cos, softmax at least as fast as JAX; float32 faster than NumPy."""
    rows = [r for r in run["results"] if r["workload"] in ("gelu", "trig", "softmax")
            and (r["workload"] == "softmax" or r in _largest(run)) and "lazyarr" in r["times"]]
    out = []
    for peer, dtypes in (("jax", ("float32", "float64")), ("numpy", ("float32",))):
        ratios = {f"{r['name']} {r['dtype']}": r["times"][peer] / r["times"]["lazyarr"]
                  for r in rows if peer in r["times"] and r["dtype"] in dtypes}
        worst = min(ratios, key=ratios.get) if ratios else None
        out.append((f"2 math >= {peer}: worst {worst} {ratios[worst]:.2f}x" if worst
                    else f"2 math >= {peer}", min(ratios.values()) >= 1 if ratios else None))
    return out


def _dispatch_goals(doc: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """Goal 4: <= 3 us above NumPy at one element; >= NumPy at 1e3 for every workload."""
    rows = {(r["n"], r["impl"]): r for r in doc.get("overhead") or []}
    extra = rows.get((1, "lazyarr"), {}).get("minus_numpy")
    out = [(f"4 a + b*c at 1 element: {extra * 1e6:.1f} us above NumPy (<= 3)" if extra
            is not None else "4 per-call overhead", None if extra is None else extra <= 3e-6)]
    small = [r for r in doc["runs"][0]["results"]
             if r["n"] == 1000 and ordinary_lazyarr(r) in r["times"]]
    ratios = {f"{r['name']} {r['dtype']}": r["times"]["numpy"] / r["times"][ordinary_lazyarr(r)]
              for r in small}
    worst = min(ratios, key=ratios.get) if ratios else None
    out.append((f"4 >= NumPy at 1e3: worst {worst} {ratios[worst]:.2f}x" if worst
                else "4 >= NumPy at 1e3", min(ratios.values()) >= 1 if ratios else None))
    return out


def _compile_goals(doc: dict[str, Any]) -> list[tuple[str, bool | None]]:
    """Goal 5: 30 ms compile; 150 ms import + first eval from the disk cache; 2 ms hit."""
    comp = doc.get("compile")
    if not comp:
        return [("5 compile latency", None)]
    first = comp["lazyarr"]["median_first_eval_s"]
    hit = comp["lazyarr"]["median_disk_hit_eval_s"]
    warm = comp["fresh_process"].get("lazyarr, disk cache warm", {})
    total = warm.get("import_plus_first_eval_s")
    return [(f"5 new 10-op expression: {first * 1e3:.1f} ms (<= 30)", first <= 0.030),
            (f"5 disk-cache hit: {hit * 1e3:.2f} ms (<= 2)", hit <= 0.002),
            (f"5 fresh process, import + first eval from disk: {total * 1e3:.0f} ms (<= 150)"
             if total else "5 fresh process", None if total is None else total <= 0.150)]


def goal_lines(doc: dict[str, Any]) -> list[str]:
    out = []
    for run in doc["runs"]:
        checks = _bandwidth_goals(run) + _math_goals(run)
        largest = _largest(run)
        where = f"{run['threads']} thr, n={size_label(largest[0])}" if largest else ""
        out += [f"{_verdict(ok)}  [{where}] goal {text}" for text, ok in checks]
    checks = _dispatch_goals(doc) + _compile_goals(doc)
    out += [f"{_verdict(ok)}  goal {text}" for text, ok in checks]
    return out


def _run_report(run: dict[str, Any]) -> list[str]:
    n = run["threads"]
    tri = run.get("triad")
    load = ""
    if "load_average_start" in run:
        load = (f", load average {run['load_average_start'][0]:.1f} at start, "
                f"{run['load_average_end'][0]:.1f} at end")
    out = ["", f"#### {n} thread{'s' if n > 1 else ''} (CPUs {run['affinity']}{load}) ####"]
    if tri:  # not measured in a run of backward workloads only
        out += [f"STREAM triad a = b + s*c, float64, n={tri['n']:.0e}: reference "
                f"{tri['gbps']:.1f} GB/s from {tri['reference']}"]
        out += [f"  {name}: {v['gbps']:.1f} GB/s ({v['seconds'] * 1e3:.2f} ms)"
                for name, v in tri["impls"].items()]
    for dtype in dict.fromkeys(r["dtype"] for r in run["results"]):
        out += ["", f"== {dtype}, {n} thread(s): ms per call ==", *table_times(run, dtype)]
        out += ["", f"== {dtype}, {n} thread(s): speed-up over NumPy (numpy ms / ms)  |  "
                    "lazyarr vs peer (peer ms / la ms, la:out for Adam; > 1: lazyarr "
                    "faster) =="]
        out += table_ratios(run, dtype)
    if run.get("backward"):
        out += backward.report_lines(run)
    out += daskrun.report_lines(run)
    out += randomrun.report_lines(run)
    out += narrowrun.report_lines(run)
    out += fuserun.report_lines(run)
    out += nnrun.report_lines(run)
    if not run["results"]:
        return out
    out += ["", f"== effective bandwidth, GB/s (inputs read once + outputs written once, "
                f"1 GB = 1e9 B), {n} thread(s); * memory-bound: % of the triad (GB/s, "
                "same dtype and size, timed in the same rounds; ordinary stores, as STREAM "
                "counts them; stream: lazyarr's streaming-store triad, for scale) =="]
    out += table_bandwidth(run)
    out += ["", "== first call minus warm call, ms (compile; smallest size) =="]
    out += table_first_calls(run)
    return out
