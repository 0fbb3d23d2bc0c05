"""An AdamW step on one big float32 parameter: lazyarr.optim against torch.optim.AdamW.

lazyarr's step is one kernel that reads the parameter, its gradient and both moments once and
writes the parameter and the moments back in place: 28 bytes an element in float32 (4 reads, 3
writes). Its rate in bytes moved per second is compared with a triad, ``a = b + 3*c`` in
float64 into a preallocated ``a`` (24 bytes an element), timed in the same run: the ratio says
how close to streaming speed the update runs. torch.optim.AdamW runs with ``foreach=True``
(multi-tensor) and ``foreach=False`` (single-tensor) on the same data, if torch is installed.
A second table gives the fixed cost of a step: many small parameters, per parameter.

    python benchmarks/optim_step.py                  # 10^7 elements, best of 7 steps
    python benchmarks/optim_step.py --n 1e6 --rounds 20
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import lazyarr as la
import lazyarr.optim as optim


def best_seconds(step: Callable[[], object], rounds: int) -> float:
    step()  # compiles, faults the pages in
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - start)
    return best


def line(name: str, seconds: float, nbytes: float, triad_rate: float | None = None) -> None:
    rate = nbytes / seconds / 1e9
    ratio = "" if triad_rate is None else f"  {rate / triad_rate:5.2f} of the triad's rate"
    print(f"  {name:<34} {seconds * 1e3:9.3f} ms  {rate:6.1f} GB/s{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1e7", help="elements of the parameter")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--small", type=int, default=64, help="small parameters (table 2)")
    args = parser.parse_args()
    n = int(float(args.n))
    rng = np.random.default_rng(0)
    print(f"n = {n:.0e}, lazyarr threads: {la.get_num_threads()}")

    # the triad, float64: reads b and c, writes a
    a, b, c = np.zeros(n), rng.random(n), rng.random(n)
    lb, lc = la.asarray(b), la.asarray(c)
    t_triad = best_seconds(lambda: la.eval(lb + 3.0 * lc, out=a), args.rounds)
    triad_rate = 24 * n / t_triad / 1e9
    print("triad a = b + 3*c (float64, out=a), 24 bytes/element:")
    line("lazyarr", t_triad, 24 * n)

    # AdamW, float32: reads p, g, m, v, writes p, m, v
    p0 = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    print("AdamW step (float32, in place), 28 bytes/element:")
    p = p0.copy()
    opt = optim.AdamW([p], lr=1e-3)
    t_la = best_seconds(lambda: opt.step([g]), args.rounds)
    line("lazyarr.optim.AdamW", t_la, 28 * n, triad_rate)
    try:
        import torch
    except ImportError:
        print("  (torch not installed)")
    else:
        print(f"  torch {torch.__version__}, threads: {torch.get_num_threads()}")
        for foreach in (True, False):
            tp = torch.tensor(p0.copy(), requires_grad=True)
            tp.grad = torch.from_numpy(g)
            topt = torch.optim.AdamW([tp], lr=1e-3, foreach=foreach)
            t = best_seconds(topt.step, args.rounds)
            line(f"torch AdamW foreach={foreach}", t, 28 * n, triad_rate)

    # the fixed cost: many small parameters (Python, planning and launch per parameter)
    k, size = args.small, 1000
    params = [rng.standard_normal(size).astype(np.float32) for _ in range(k)]
    grads = [rng.standard_normal(size).astype(np.float32) for _ in range(k)]
    opt = optim.AdamW(params, lr=1e-3)
    t_small = best_seconds(lambda: opt.step(grads), args.rounds)
    print(f"AdamW step over {k} parameters of {size} float32, per parameter:")
    print(f"  {'lazyarr.optim.AdamW':<34} {t_small / k * 1e6:9.1f} us")
    # other gradient arrays than the last step's (two sets in turn): built and planned again
    other = [[g.copy() for g in grads], grads]
    turn = [0]

    def fresh() -> None:
        turn[0] ^= 1
        opt.step(other[turn[0]])

    t_fresh = best_seconds(fresh, args.rounds)
    print(f"  {'lazyarr, new gradient arrays':<34} {t_fresh / k * 1e6:9.1f} us")
    try:
        import torch
    except ImportError:
        return
    for foreach in (True, False):
        ts = [torch.tensor(q, requires_grad=True) for q in params]
        for t, gr in zip(ts, grads, strict=True):
            t.grad = torch.from_numpy(gr)
        topt = torch.optim.AdamW(ts, lr=1e-3, foreach=foreach)
        t = best_seconds(topt.step, args.rounds)
        print(f"  {f'torch AdamW foreach={foreach}':<34} {t / k * 1e6:9.1f} us")


if __name__ == "__main__":
    main()
