"""The same expression over a new array on every call: a layer's forward pass on new batches.

Each call wraps a new NumPy array (``la.asarray(x)``), writes ``x * w + b`` with two arrays
held across calls and evaluates it, so every node is new and the operator memo and the fast
path's executors find nothing. Timed per call, best of ``--rounds`` rounds, against NumPy's
``x * w + b``, with launch templates (``lazyarr/run/rebind.py``) on and off in the same run.

    python benchmarks/new_arrays.py                  # 1e3, 1e4, 1e5 elements
    python benchmarks/new_arrays.py --sizes 1000 --calls 4000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import lazyarr as la
from lazyarr.run import rebind


def per_call(step: Callable[[int], object], calls: int, rounds: int) -> float:
    step(0)
    step(1)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(calls):
            step(i)
        best = min(best, (time.perf_counter() - start) / calls)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"{'n':>8} {'numpy us':>10} {'lazyarr us':>11} {'no templates us':>16}")
    for n in (int(float(s)) for s in args.sizes.split(",")):
        rng = np.random.default_rng(0)
        xs = [rng.random(n) for _ in range(64)]
        wn, bn = rng.random(n), rng.random(n)
        w, b = la.asarray(wn), la.asarray(bn)

        def lazy(i: int, xs: list = xs, w: la.LazyArray = w, b: la.LazyArray = b) -> object:
            return (la.asarray(xs[i % 64]) * w + b).eval()

        def numpy(i: int, xs: list = xs, w: np.ndarray = wn, b: np.ndarray = bn) -> object:
            return xs[i % 64] * w + b

        calls = max(50, args.calls * 1000 // n)
        t_np = per_call(numpy, calls, args.rounds)
        t_la = per_call(lazy, calls, args.rounds)
        limit, rebind.LIMIT = rebind.LIMIT, 0  # every template dropped as soon as filed
        la.clear_cache()
        try:
            t_off = per_call(lazy, calls, args.rounds)
        finally:
            rebind.LIMIT = limit
        print(f"{n:>8} {t_np:>10.1f} {t_la:>11.1f} {t_off:>16.1f}", flush=True)


if __name__ == "__main__":
    main()
