"""precision="fast"'s tanh (``Op.TANH_FAST``, mathlib's ``fasttanh``): accuracy and speed.

``tanh(a) = -expm1(-2a) / (2 + expm1(-2a))`` for ``a = |x|`` in one branch-free form (see
``codegen/mathlib_exp.py``, ``_tanh_fast``); the default ``tanh`` (within 1 ULP) stays for
``precision="numpy"``. This script measures:

* accuracy (``--accuracy``): ``la.tanh(x).eval(precision="fast")`` for float32 and float64 on
  benchmarks/ulp.py's tanh inputs (uniform in [-10, 10], log-uniform magnitudes down to the
  smallest normal, neighbourhoods of the split and clamp points, the specials), plus
  log-uniform subnormal and tiny magnitudes and the neighbourhoods of every point where the
  reduction's ``n`` changes; the exact value from a wider reference (long double, float64),
  the 32 worst points again with mpmath at 200 bits;
* speed (default): ``tanh(x)`` and GELU as users write it,
  ``0.5*x*(1 + tanh(c1*(x + c2*x**3)))``, at 10^5 and 10^6 elements in float32 and float64,
  with one and two threads (each in a process pinned to that many CPUs): lazyarr's default,
  lazyarr with ``precision="fast"`` (fresh results, and into ``out=``), and ``jax.jit`` (when
  installed), the variants alternating within each round, medians of ``--reps`` rounds.

    python benchmarks/fast_tanh.py --accuracy --points 10000000
    python benchmarks/fast_tanh.py --exhaustive         # every float32 input
    python benchmarks/fast_tanh.py                      # speed, 1 and 2 threads
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

# run as a script, this folder is on sys.path: its sibling scripts' helpers
from int_power import import_jax, pinned_child

import lazyarr as la

DTYPES = ("float32", "float64")
GELU_C1 = math.sqrt(2 / math.pi)
GELU_C2 = 0.044715


def ulp_module() -> ModuleType:
    import ulp  # benchmarks/ulp.py, this script's sibling

    return ulp


# -- accuracy ------------------------------------------------------------------------------
def inputs(ulp: ModuleType, dt: type, n: int, rng: np.random.Generator) -> np.ndarray:
    tiny = float(np.finfo(dt).smallest_subnormal)
    steps = [(k + 0.5) * math.log(2) / 2 for k in range(60 if dt == np.float64 else 30)]
    return np.concatenate([
        ulp.gen_tanh(rng, n, dt)[0],
        ulp.log_uniform(rng, n // 8, math.log2(tiny), -20, dt),
        ulp.around([10.0, 9.01, 20.0, 19.06, *steps], dt, 256)])


def run_accuracy(points: int, dtypes: list[str], seed: int) -> None:
    ulp = ulp_module()
    fn = ulp.FUNCTIONS["tanh"]
    rng = np.random.default_rng(seed)
    print(f"{'dtype':8} {'points':>11} {'max ULP':>8} {'mean ULP':>9} {'worst x':>24} "
          f"{'special mismatches':>19} {'seconds':>8}")
    for name in dtypes:
        dt = np.dtype(name).type
        start = time.perf_counter()
        x = inputs(ulp, dt, points, rng)
        got = np.empty_like(x)
        chunk = 1 << 22
        with np.errstate(all="ignore"):
            for i in range(0, x.size, chunk):  # one expression, refilled (as ulp.py does)
                got[i:i + chunk] = la.tanh(la.asarray(x[i:i + chunk])).eval(precision="fast")
        la.clear_cache()
        err = ulp.ulp_error(got, ulp.reference("tanh", (x,), dt), dt)
        for i in np.argsort(np.where(np.isfinite(err), -err, 0.0))[:32]:
            e = ulp.mp_ulp_error(fn, (x[i],), float(got[i]), dt)
            if not math.isnan(e):
                err[i] = e
        worst = int(np.argmax(err))
        print(f"{name:8} {x.size:>11,} {err[worst]:>8.3f} {err[np.isfinite(err)].mean():>9.3f} "
              f"{float(x[worst]):>24.17g} {ulp.special_mismatches('tanh', (x,), got):>19} "
              f"{time.perf_counter() - start:>8.1f}", flush=True)


def run_exhaustive(chunk: int = 1 << 22) -> None:
    """Every float32 input (2**32 bit patterns), the float64 reference; the worst with mpmath."""
    ulp = ulp_module()
    start = time.perf_counter()
    x = np.empty(chunk, np.float32)
    got = np.empty(chunk, np.float32)
    expr = la.tanh(la.asarray(x))  # one expression over one buffer refilled per chunk
    worst, worst_x, total, bad = -1.0, 0.0, 0.0, 0
    for first in range(0, 1 << 32, chunk):
        x.view(np.uint32)[:] = np.arange(first, first + chunk, dtype=np.uint64)
        with np.errstate(all="ignore"):
            expr.eval(out=got, precision="fast")
        err = ulp.ulp_error(got, ulp.reference("tanh", (x,), np.float32), np.float32)
        bad += ulp.special_mismatches("tanh", (x,), got)
        finite = np.isfinite(err)
        total += float(err[finite].sum())
        bad += int(np.count_nonzero(~finite))
        i = int(np.argmax(np.where(finite, err, -1.0)))
        if err[i] > worst:
            worst, worst_x = float(err[i]), float(x[i])
    got_worst = la.tanh(la.asarray(np.array([worst_x], np.float32))).eval(precision="fast")
    confirmed = ulp.mp_ulp_error(ulp.FUNCTIONS["tanh"], (worst_x,), float(got_worst[0]),
                                 np.float32)
    print(f"float32, all 2**32 inputs: max {confirmed:.3f} ULP (mpmath) at {worst_x!r}, "
          f"mean {total / (1 << 32):.3f}, {bad} mismatched specials or non-finite errors, "
          f"{time.perf_counter() - start:.0f} s")


# -- speed ---------------------------------------------------------------------------------
def gelu(m: Any, x: Any) -> Any:
    return 0.5 * x * (1 + m.tanh(GELU_C1 * (x + GELU_C2 * x**3)))


def alternating(fns: dict[str, Callable[[], Any]], reps: int) -> dict[str, float]:
    """Median ms of each function, the functions run in turn within each round."""
    for fn in fns.values():
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def speed_child(threads: int, sizes: list[int], reps: int) -> dict[str, Any]:
    la.set_num_threads(threads)
    jax = import_jax()
    rng = np.random.default_rng(0)
    rows: dict[str, Any] = {}
    for dtype in DTYPES:
        for size in sizes:
            xn = rng.standard_normal(size).astype(dtype)
            for what, f in (("tanh", lambda m, x: m.tanh(x)), ("gelu", gelu)):
                expr = f(la, la.asarray(xn))
                out = np.empty_like(xn)
                fns: dict[str, Callable[[], Any]] = {
                    "lazyarr": expr.eval,
                    "lazyarr fast": lambda e=expr: e.eval(precision="fast"),
                    "lazyarr fast out=": lambda e=expr, o=out: e.eval(out=o, precision="fast")}
                if jax is not None:
                    jf = jax.jit(lambda x, f=f: f(jax.numpy, x))
                    xj = jax.device_put(xn)
                    fns["jax"] = lambda jf=jf, xj=xj: jf(xj).block_until_ready()
                for key, ms in alternating(fns, reps).items():
                    rows[f"{what} {dtype} {size} {key}"] = ms
    rows["jax"] = None if jax is None else jax.__version__
    return rows


def run_speed(threads: list[int], sizes: list[int], reps: int) -> None:
    from lazyarr.cli.bench import cpu_model

    print(f"median of {reps} alternating rounds (ms); machine: {cpu_model()}")
    for t in threads:
        rows = pinned_child(__file__, t, ["--sizes", ",".join(map(str, sizes)),
                                          "--reps", str(reps)])
        print(f"\n{t} thread(s) (jax {rows.pop('jax')}):")
        print(f"  {'':22} {'lazyarr':>9} {'fast':>9} {'fast out=':>9} {'jax':>9} "
              f"{'fast/lazyarr':>13} {'jax/fast':>9}")
        for what in ("tanh", "gelu"):
            for dtype in DTYPES:
                for size in sizes:
                    key = f"{what} {dtype} {size}"
                    base, fast = rows[f"{key} lazyarr"], rows[f"{key} lazyarr fast"]
                    jx = rows.get(f"{key} jax")
                    jax_ms, ratio = ("-", "-") if jx is None else (f"{jx:.3f}", f"{jx / fast:.2f}")
                    into = rows[f"{key} lazyarr fast out="]
                    print(f"  {key:22} {base:9.3f} {fast:9.3f} {into:9.3f} {jax_ms:>9} "
                          f"{fast / base:13.2f} {ratio:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true", help="ULP against mpmath")
    parser.add_argument("--exhaustive", action="store_true", help="every float32 input")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--reps", type=int, default=41)
    parser.add_argument("--speed-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.speed_child:
        if args.cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
        print(json.dumps(speed_child(args.speed_child, sizes, args.reps)))
    elif args.exhaustive:
        run_exhaustive()
    elif args.accuracy:
        run_accuracy(args.points, args.dtypes.split(","), args.seed)
    else:
        run_speed([int(t) for t in args.threads.split(",")], sizes, args.reps)


if __name__ == "__main__":
    main()
