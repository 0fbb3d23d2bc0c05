"""The same expression over a new array on every call: a layer's forward pass on new batches.

Each call wraps a new NumPy array (``a = la.asarray(x)``), writes an expression of it and of
two lazy arrays held across calls (``w``, ``b``) and evaluates it, so every node is new and
the operator memo and the fast path's executors find nothing: what is measured is the
front end's cost of writing the expression and the evaluation of a graph whose structure
was seen before (``lazyarr/run/rebind.py``). Two expressions:

    axpy  x * w + b                                                       (2 ops)
    ten   ((a*w + b)*a - w)*2.0 + la.exp(a) - b*a + 1.0                   (10 ops)

Timed per call, best of ``--rounds`` rounds of ``--calls`` calls, the variants alternating
round by round (the machine's other load then falls on each alike), against NumPy's same
expression and ``la.fuse`` of the same function (which traces once and replays).

    python benchmarks/new_arrays.py                  # 1e3, 1e4, 1e5 elements
    python benchmarks/new_arrays.py --sizes 1000 --calls 4000 --rounds 7
    python benchmarks/new_arrays.py --templates      # also lazyarr with templates off
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import lazyarr as la
from lazyarr.run import rebind


def axpy(x: object, w: object, b: object, xp: object) -> object:
    return x * w + b


def ten(a: object, w: object, b: object, xp: object) -> object:
    return ((a * w + b) * a - w) * 2.0 + xp.exp(a) - b * a + 1.0


EXPRESSIONS = {"axpy": axpy, "ten": ten}


def per_call(steps: dict[str, Callable[[int], object]], calls: int, rounds: int
             ) -> dict[str, float]:
    """Best time per call (us) of each step, the steps timed in turn within each round."""
    best = dict.fromkeys(steps, float("inf"))
    for step in steps.values():  # compiles, templates, pools: before the clock
        step(0)
        step(1)
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for i in range(calls):
                step(i)
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return {name: t * 1e6 for name, t in best.items()}


def steps_for(expr: Callable[..., object], n: int) -> dict[str, Callable[[int], object]]:
    rng = np.random.default_rng(0)
    xs = [rng.random(n) for _ in range(64)]
    wn, bn = rng.random(n), rng.random(n)
    w, b = la.asarray(wn), la.asarray(bn)
    fused = la.fuse(lambda x, w, b: expr(x, w, b, la))

    def lazy(i: int) -> object:
        return expr(la.asarray(xs[i % 64]), w, b, la).eval()

    def numpy(i: int) -> object:
        return expr(xs[i % 64], wn, bn, np)

    def fuse(i: int) -> object:
        return fused(xs[i % 64], wn, bn)

    return {"numpy": numpy, "lazyarr": lazy, "la.fuse": fuse}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--exprs", default="axpy,ten")
    parser.add_argument("--templates", action="store_true",
                        help="also time lazyarr with launch templates off")
    args = parser.parse_args()
    extra = f" {'no templates us':>16}" if args.templates else ""
    print(f"{'expr':>5} {'n':>8} {'numpy us':>10} {'lazyarr us':>11} {'la.fuse us':>11}{extra}")
    for name in args.exprs.split(","):
        expr = EXPRESSIONS[name]
        for n in (int(float(s)) for s in args.sizes.split(",")):
            calls = max(50, args.calls * 1000 // n)
            steps = steps_for(expr, n)
            t = per_call(steps, calls, args.rounds)
            line = f"{name:>5} {n:>8} {t['numpy']:>10.1f} {t['lazyarr']:>11.1f} " \
                   f"{t['la.fuse']:>11.1f}"
            if args.templates:
                limit, rebind.LIMIT = rebind.LIMIT, 0  # every template dropped when filed
                la.clear_cache()
                try:
                    off = per_call({"off": steps["lazyarr"]}, calls, args.rounds)["off"]
                finally:
                    rebind.LIMIT = limit
                line += f" {off:>16.1f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
