"""``x ** n`` for an integer n: lazyarr's repeated squaring, its accuracy and its speed.

``x ** 3`` (any integral scalar exponent |n| <= ``canon.POWER_INT_MAX`` on a float array) is
computed by unrolled repeated squaring (``codegen/mathlib.py``, ``int_power``) instead of a
general ``pow`` per element: correctly rounded, except n = 3, which is ``x*x*x`` in the working
precision (within 2 ULP). This script measures:

* accuracy (``--accuracy``): ``x ** n`` through the public API for float32 and float64 and
  every n of ``EXPONENTS``, on random inputs (log-uniform over the whole range of finite
  results, uniform near 1, normal data, log-uniform over every float) and hard ones (the
  neighbours of the bases whose n-th power is the largest float, the overflow threshold,
  the smallest normal, the smallest subnormal and the rounding-to-zero threshold; subnormal
  bases; every special value). Every finite nonzero base is checked against mpmath at 160
  bits: the error of a finite result is ``|result - exact| / ulp(exact)`` in the format
  (subnormal results in units of the smallest subnormal), and results that must be
  special (+-inf beyond the overflow threshold, +-0 below half the smallest subnormal) must
  be exactly that, sign included. Zeros, infinities and NaN bases are compared with
  ``np.power`` exactly (class and sign). NumPy's own error on the same points is shown too.
  ``--exponents 3`` measures n = 3 alone (``x*x*x``; the summary keeps it apart from the
  correctly rounded n);
* speed (default): GELU as users write it, ``0.5*x*(1 + tanh(c1*(x + c2*x**3)))``, at
  2*10**6 elements in float32 and float64 with one and two threads (each in a process
  pinned to that many CPUs), into a preallocated ``out=`` and fresh: lazyarr after (x**3
  by squaring), before (the rewrite turned off by ``canon.POWER_INT_MAX = -1``, so x**3 is
  the general pow it was before), written ``x*x*x``, NumPy, and ``jax.jit`` when installed;
  medians of ``--reps`` runs;
* cost by n (``--per-n``): ns per element of ``x ** n`` by squaring and by the general pow,
  and the compile time of the squaring kernel, for growing n.

    python benchmarks/int_power.py                       # speed, 1 and 2 threads
    python benchmarks/int_power.py --accuracy            # 100,000 random points per case
    python benchmarks/int_power.py --accuracy --points 1000000
    python benchmarks/int_power.py --accuracy --exponents 3 --dtypes float32 --points 10000000
    python benchmarks/int_power.py --per-n
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

import lazyarr as la
from lazyarr.cli.bench import cpu_model
from lazyarr.front import canon

EXPONENTS = (-1022, -1000, -485, -100, -32, -31, -16, *range(-8, -1), 0, 1, *range(3, 17),
             31, 32, 33, 63, 64, 100, 255, 485, 1000, 1022)
DTYPES = ("float32", "float64")
GELU_C1 = math.sqrt(2 / math.pi)
GELU_C2 = 0.044715


# -- accuracy ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Fmt:
    """A binary format's limits: precision (with the hidden bit), smallest and largest
    normal exponent."""

    p: int
    emin: int
    emax: int

    @staticmethod
    def of(dt: np.dtype) -> Fmt:
        info = np.finfo(dt)
        return Fmt(info.nmant + 1, info.minexp, info.maxexp - 1)


def around(values: list[float], dt: np.dtype, ulps: int) -> np.ndarray:
    """Each finite value, its neighbours up to ``ulps`` steps either side, with both signs."""
    with np.errstate(over="ignore"):
        v = np.abs(np.asarray([x for x in values if math.isfinite(x) and x != 0], dtype=dt))
    ity = np.int32 if dt == np.float32 else np.int64
    steps = np.arange(-ulps, ulps + 1, dtype=ity)
    mag = np.maximum(v.view(ity)[:, None] + steps[None, :], 1).ravel().view(dt)
    mag = mag[np.isfinite(mag)]
    return np.concatenate([mag, -mag])


def hard_bases(n: int, dt: np.dtype) -> np.ndarray:
    """Bases whose n-th power lands at the edges of the format (both signs)."""
    import mpmath

    f = Fmt.of(dt)
    if n == 0:
        return np.empty(0, dt)
    with mpmath.workprec(200):
        edges = [mpmath.ldexp(2 - mpmath.ldexp(1, 1 - f.p), f.emax),  # the largest float
                 mpmath.ldexp(2 - mpmath.ldexp(1, -f.p), f.emax),  # the overflow threshold
                 mpmath.ldexp(1, f.emax), mpmath.ldexp(1, f.emin),  # smallest normal
                 mpmath.ldexp(1, f.emin - 1),  # subnormal results begin to lose bits
                 mpmath.ldexp(1, f.emin - f.p + 1),  # smallest subnormal
                 mpmath.ldexp(1, f.emin - f.p),  # rounds to zero at and below
                 mpmath.ldexp(3, f.emin - f.p - 1)]
        roots = [float(mpmath.root(t, abs(n)) if n > 0 else 1 / mpmath.root(t, abs(n)))
                 for t in edges]
    return around(roots, dt, 64)


def special_bases(dt: np.dtype) -> np.ndarray:
    info = np.finfo(dt)
    vals = [0.0, np.inf, np.nan, 1.0, float(info.max), float(info.tiny),
            float(info.smallest_subnormal), 2.0, 0.5]
    return np.array(vals + [-v for v in vals], dtype=dt)


def random_bases(rng: np.random.Generator, points: int, n: int, dt: np.dtype) -> np.ndarray:
    """Log-uniform magnitudes over the bases of finite nonzero results (and a little
    beyond), uniform near 1, normal data, log-uniform over every float; random signs."""
    f = Fmt.of(dt)
    lo, hi = (f.emin - f.p - 2) / max(abs(n), 1), (f.emax + 2) / max(abs(n), 1)
    if n < 0:
        lo, hi = -hi, -lo
    q = points // 4
    with np.errstate(over="ignore"):  # a little beyond the largest float: inf, a special
        parts = [np.exp2(rng.uniform(lo, hi, points - 3 * q)), rng.uniform(0.5, 2.0, q),
                 rng.standard_normal(q) * 3,
                 np.exp2(rng.uniform(f.emin - f.p + 1, f.emax + 1, q))]
        x = np.concatenate(parts).astype(dt)
    return x * rng.choice(np.array([-1, 1], dtype=dt), x.size)


def subnormal_bases(rng: np.random.Generator, dt: np.dtype, count: int = 2000) -> np.ndarray:
    f = Fmt.of(dt)
    x = np.exp2(rng.uniform(f.emin - f.p + 1, f.emin, count)).astype(dt)
    return x * rng.choice(np.array([-1, 1], dtype=dt), count)


@dataclass
class CaseResult:
    dtype: str
    n: int
    points: int
    max_ulp: float  # finite normal results
    misrounded: int  # normal results more than half an ULP off (not correctly rounded)
    max_ulp_subnormal: float  # finite subnormal results (ulp: the smallest subnormal)
    worst_base: float
    mismatches: int  # wrong class: inf or 0 where the exact result is finite, or the reverse
    specials_mismatched: int  # zero, inf and NaN bases against np.power
    numpy_max_ulp: float
    seconds: float


def ulp_errors(x: np.ndarray, got: np.ndarray, n: int, dt: np.dtype
               ) -> tuple[float, int, float, float, int, float]:
    """(max ULP of normal results, how many were not correctly rounded, max ULP of
    subnormal results, the worst base, class mismatches, NumPy's max ULP) over finite
    nonzero bases ``x`` with results ``got``, against mpmath."""
    import mpmath

    f = Fmt.of(dt)
    with np.errstate(all="ignore"):
        ref = np.power(x, dt.type(n)).tolist()
    mpf, ldexp = mpmath.mpf, mpmath.ldexp
    worst = worst_sub = worst_np = 0.0
    worst_x, bad, misrounded = 0.0, 0, 0
    with mpmath.workprec(160):
        threshold = ldexp(2 - ldexp(1, -f.p), f.emax)  # the overflow threshold
        zero_below = ldexp(1, f.emin - f.p)  # at or below: rounds to zero
        for xi, gi, ri in zip(x.tolist(), got.tolist(), ref, strict=True):
            e = mpf(xi) ** n
            ae = abs(e)
            if ae >= threshold:
                bad += not (math.isinf(gi) and (gi < 0) == (e < 0))
                continue
            if ae <= zero_below and gi == 0:
                bad += math.copysign(1.0, gi) != (-1.0 if e < 0 else 1.0)
                continue
            if not math.isfinite(gi):
                bad += 1
                continue
            man, exp = e.man_exp
            top = exp + int(man).bit_length() - 1  # floor(log2 |e|)
            unit = max(top, f.emin) - f.p + 1
            err = float(ldexp(abs(mpf(gi) - e), -unit))
            if math.isfinite(ri):
                worst_np = max(worst_np, float(ldexp(abs(mpf(ri) - e), -unit)))
            if top < f.emin:
                worst_sub = max(worst_sub, err)
                continue
            misrounded += err > 0.5
            if err > worst:
                worst, worst_x = err, xi
    return worst, misrounded, worst_sub, worst_x, bad, worst_np


def same_class(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Elementwise: equal values, both NaN, or equal zeros with equal signs."""
    return ((got == want) & (np.signbit(got) == np.signbit(want))) | (np.isnan(got)
                                                                       & np.isnan(want))


def accuracy_case(dtype: str, n: int, points: int, seed: int) -> CaseResult:
    start = time.perf_counter()
    dt = np.dtype(dtype)
    rng = np.random.default_rng([seed, abs(n), n < 0, dt.itemsize])
    x = np.concatenate([random_bases(rng, points, n, dt), hard_bases(n, dt),
                        subnormal_bases(rng, dt), special_bases(dt)])
    got = (la.asarray(x) ** n).eval()
    finite = np.isfinite(x) & (x != 0)
    with np.errstate(all="ignore"):
        want = np.power(x[~finite], dt.type(n))
    specials_bad = int((~same_class(got[~finite], want)).sum())
    worst, misrounded, worst_sub, worst_x, bad, worst_np = ulp_errors(x[finite], got[finite],
                                                                     n, dt)
    return CaseResult(dtype, n, int(x.size), worst, misrounded, worst_sub, worst_x, bad,
                      specials_bad, worst_np, time.perf_counter() - start)


def _accuracy_worker(args: tuple[str, int, int, int]) -> CaseResult:
    return accuracy_case(*args)


def run_accuracy(points: int, dtypes: list[str], exponents: list[int], jobs: int,
                 seed: int) -> list[CaseResult]:
    cases = [(dt, n, points, seed) for dt in dtypes for n in exponents]
    print(f"{'dtype':8} {'n':>6} {'points':>9} {'max ULP':>8} {'>0.5':>5} {'subnormal':>9} "
          f"{'at base':>24} {'class':>5} {'special':>7} {'NumPy':>7} {'s':>6}", flush=True)
    results = []
    with ProcessPoolExecutor(jobs) as pool:
        for r in pool.map(_accuracy_worker, cases):
            results.append(r)
            print(f"{r.dtype:8} {r.n:>6} {r.points:>9} {r.max_ulp:>8.4f} {r.misrounded:>5} "
                  f"{r.max_ulp_subnormal:>9.4f} {r.worst_base!r:>24} {r.mismatches:>5} "
                  f"{r.specials_mismatched:>7} {r.numpy_max_ulp:>7.3f} {r.seconds:>6.1f}",
                  flush=True)
    return results


def summarise(results: list[CaseResult]) -> None:
    # n = 3 (x*x*x, within 2 ULP) apart from the correctly rounded exponents
    groups = {"-1022..-31": lambda n: n <= -31, "-16..-2": lambda n: -16 <= n <= -2,
              "3": lambda n: n == 3, "4..16": lambda n: 4 <= n <= 16,
              "31..1022": lambda n: n >= 31, "0, 1": lambda n: n in (0, 1)}
    print("\nsummary: max ULP (normal results / subnormal results), class mismatches")
    for dt in DTYPES:
        for name, test in groups.items():
            rs = [r for r in results if r.dtype == dt and test(r.n)]
            if rs:
                print(f"  {dt} n in {name:>10}: {max(r.max_ulp for r in rs):.4f} / "
                      f"{max(r.max_ulp_subnormal for r in rs):.4f}, "
                      f"{sum(r.misrounded for r in rs)} normal results not correctly "
                      f"rounded, {sum(r.mismatches + r.specials_mismatched for r in rs)} "
                      "class mismatches, "
                      f"{sum(r.points for r in rs):,} points; NumPy "
                      f"{max(r.numpy_max_ulp for r in rs):.3f}")


# -- speed ---------------------------------------------------------------------------------
def median_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def gelu(m: Any, x: Any, cube: Callable[[Any], Any]) -> Any:
    return 0.5 * x * (1 + m.tanh(GELU_C1 * (x + GELU_C2 * cube(x))))


def _lazy_variants(xn: np.ndarray) -> dict[str, Callable[[], Any]]:
    """name -> a function building the lazy GELU over ``xn`` (new nodes each call, so the
    rewrite setting in force when it is called applies)."""
    return {"x**3": lambda: gelu(la, la.asarray(xn), lambda x: x ** 3),
            "x**3 before": lambda: gelu(la, la.asarray(xn), lambda x: x ** 3),
            "x*x*x": lambda: gelu(la, la.asarray(xn), lambda x: x * x * x)}


def speed_child(threads: int, size: int, reps: int) -> dict[str, Any]:
    """Times in ms of every variant, in this process (pinned to ``threads`` CPUs)."""
    la.set_num_threads(threads)
    rng = np.random.default_rng(0)
    rows: dict[str, Any] = {}
    jax = import_jax()
    for dtype in DTYPES:
        xn = rng.standard_normal(size).astype(dtype)
        out = np.empty_like(xn)
        for name, build in _lazy_variants(xn).items():
            saved = canon.POWER_INT_MAX
            if name.endswith("before"):
                canon.POWER_INT_MAX = -1  # x**3 stays the general pow, as before the rewrite
            try:
                expr = build()
            finally:
                canon.POWER_INT_MAX = saved
            assert ("power_int" in la.explain(expr).graph) == (name == "x**3"), name
            rows[f"{dtype} lazyarr {name} out="] = median_ms(
                lambda e=expr, o=out: e.eval(out=o), reps)
            rows[f"{dtype} lazyarr {name} fresh"] = median_ms(expr.eval, reps)
        with np.errstate(all="ignore"):
            rows[f"{dtype} numpy x**3 fresh"] = median_ms(
                lambda v=xn: gelu(np, v, lambda x: x ** 3), reps)
        if jax is not None:
            fn = jax.jit(lambda x: gelu(jax.numpy, x, lambda y: y ** 3))
            xj = jax.device_put(xn)
            rows[f"{dtype} jax x**3 fresh"] = median_ms(
                lambda f=fn, v=xj: f(v).block_until_ready(), reps)
    rows["jax"] = None if jax is None else jax.__version__
    return rows


def import_jax() -> Any:
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)  # else float64 silently computes float32
    return jax


def pinned_child(script: str, threads: int, args: list[str]) -> dict[str, Any]:
    """``script --speed-child threads *args --cpus ...`` run in a process held to ``threads``
    CPUs (JAX on its CPU backend, BLAS threads to match); the JSON its last line prints."""
    cpus = sorted(os.sched_getaffinity(0))[:threads] if hasattr(os, "sched_getaffinity") else []
    env = dict(os.environ, JAX_PLATFORMS="cpu", OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    done = subprocess.run([sys.executable, script, "--speed-child", str(threads), *args,
                           "--cpus", ",".join(map(str, cpus))],
                          env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_speed(threads: list[int], size: int, reps: int) -> None:
    print(f"GELU at {size:,} elements, median of {reps} runs (ms); machine: {cpu_model()}")
    for t in threads:
        rows = pinned_child(__file__, t, ["--size", str(size), "--reps", str(reps)])
        print(f"\n{t} thread(s) (jax {rows.pop('jax')}):")
        for dtype in DTYPES:
            base = rows[f"{dtype} lazyarr x**3 out="]
            for key, ms in rows.items():
                if key.startswith(dtype):
                    print(f"  {key[len(dtype) + 1:]:28} {dtype}: {ms:8.2f} ms  "
                          f"({ms / base:5.2f}x lazyarr x**3 out=)")


# -- cost by n -----------------------------------------------------------------------------
def run_per_n(size: int, reps: int, exponents: list[int], dtypes: list[str]) -> None:
    """ns per element of x**n (one thread, in cache) by squaring and by the general pow, and
    the squaring kernel's compile time (disk cache off, best of 3 fresh compiles)."""
    la.set_num_threads(1)
    la.set_disk_cache(False)
    print(f"x ** n at {size:,} elements, one thread, into out=, median of {reps} runs")
    print(f"{'dtype':8} {'n':>6} {'squaring ns':>12} {'pow ns':>8} {'ratio':>6} "
          f"{'compile ms':>11}")
    rng = np.random.default_rng(1)
    for dtype in dtypes:
        xn = (rng.uniform(0.5, 2.0, size) * rng.choice([-1, 1], size)).astype(dtype)
        out = np.empty_like(xn)
        for n in exponents:
            ns = {}
            for label, limit in (("squaring", canon.POWER_INT_MAX), ("pow", -1)):
                saved, canon.POWER_INT_MAX = canon.POWER_INT_MAX, limit
                try:
                    expr = la.asarray(xn) ** n
                finally:
                    canon.POWER_INT_MAX = saved
                ns[label] = median_ms(lambda e=expr, o=out: e.eval(out=o), reps) * 1e6 / size
            compile_ms = []
            for _ in range(3):
                la.clear_cache()
                start = time.perf_counter()
                (la.asarray(xn[:64]) ** n).eval()
                compile_ms.append((time.perf_counter() - start) * 1e3)
            print(f"{dtype:8} {n:>6} {ns['squaring']:>12.3f} {ns['pow']:>8.3f} "
                  f"{ns['pow'] / ns['squaring']:>6.2f} {min(compile_ms):>11.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accuracy", action="store_true", help="ULP against mpmath")
    parser.add_argument("--per-n", action="store_true", help="cost and compile time by n")
    parser.add_argument("--points", type=int, default=100_000,
                        help="random bases per (dtype, n) for --accuracy")
    parser.add_argument("--exponents", default=",".join(map(str, EXPONENTS)))
    parser.add_argument("--dtypes", default=",".join(DTYPES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", help="write the --accuracy results to this file")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--reps", type=int, default=41)
    parser.add_argument("--speed-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cpus", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.speed_child:
        if args.cpus and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
        print(json.dumps(speed_child(args.speed_child, args.size, args.reps)))
        return
    exponents = [int(n) for n in args.exponents.split(",")]
    if args.accuracy:
        results = run_accuracy(args.points, args.dtypes.split(","), exponents, args.jobs,
                               args.seed)
        summarise(results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump([asdict(r) for r in results], f, indent=1)
    elif args.per_n:
        run_per_n(min(args.size, 1 << 16), args.reps, exponents, args.dtypes.split(","))
    else:
        run_speed([int(t) for t in args.threads.split(",")], args.size, args.reps)


if __name__ == "__main__":
    main()
