"""What each memo layer buys: per-call cost with one layer switched off at a time.

lazyarr keeps several caches above the interning of nodes (which is not optional for the
general path's nodes: equal expressions must be the same node). Each one stays only while a
figure here shows it pays:

- ``executors``: the fast path (``run/fastpath.py``), root node -> compiled launch with its
  argument block packed; off, a repeated evaluation schedules, lowers and packs again.
- ``ready``: the executor remembered on the lazy array itself (``LazyArray._ready``); off, a
  repeated ``.eval()`` finds it through ``fastpath.lookup``.
- ``wrappers``: the lazy arrays operators returned (``fastpath.wrappers``); off, writing an
  operator again makes a new ``LazyArray`` around the memoised node, or (over arrays, where
  the lean operators make signed nodes, which are not interned) a new node, which is
  evaluated through its template instead of its executor.
- ``operator memo``: ``front/build.py``'s ``memo`` (op and operand ids -> node); off, every
  operator broadcasts, resolves dtypes and canonicalises again before interning finds the node.
- ``plans``: the plan of an expression that needs several kernels (``fastpath.plan_of``);
  off, each evaluation plans again.
- ``templates``: launch templates for new arrays (``run/rebind.py``); off, an expression over a
  new array is lowered again.

    python benchmarks/memo_layers.py              # 10^3 elements, one thread
    python benchmarks/memo_layers.py --size 100000
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import numpy as np
from new_arrays import per_call  # this folder is on the path of a script run from it

import lazyarr as la
from lazyarr.front import array, build
from lazyarr.run import fastpath, rebind


@contextlib.contextmanager
def _patched(obj: object, **attrs: object) -> Iterator[None]:
    old = {k: getattr(obj, k) for k in attrs}
    for k, v in attrs.items():
        setattr(obj, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(obj, k, v)


@contextlib.contextmanager
def layer_off(name: str) -> Iterator[None]:
    """Run the body with one memo layer switched off (``"none"``: all on)."""
    la.clear_cache()
    if name == "none":
        yield
    elif name == "executors":
        with _patched(fastpath, run=lambda nodes, outs=None: None,
                      build=lambda nodes, roots, outs=None: None,
                      ready=lambda node, out: None):
            yield
    elif name == "ready":
        with _patched(fastpath, ready=lambda node, out: None):
            yield
    elif name == "wrappers":
        with _patched(array, wrapper_get=lambda key: None), \
                _patched(fastpath, keep_wrapper=lambda key, wrapper: None):
            yield
    elif name == "operator memo":
        with _patched(build, _memo_key=lambda op, xs: None,
                      memoised=lambda key, parts, make: make()), \
                _patched(array, _memo_get=lambda key: None):
            yield
    elif name == "plans":
        with _patched(fastpath, plan_of=lambda nodes, roots=None, into=False: None):
            yield
    elif name == "templates":
        with _patched(rebind, LIMIT=0):
            yield
    else:
        raise ValueError(f"unknown layer {name!r}")
    la.clear_cache()


def workloads(n: int) -> dict[str, Callable[[int], object]]:
    rng = np.random.default_rng(0)
    an, bn = rng.random(n), rng.random(n)
    a, b = la.asarray(an), la.asarray(bn)
    m = la.asarray(rng.random((100, n // 100)))
    fresh = [rng.random(n) for _ in range(16)]

    def ten_ops(x: la.LazyArray, y: la.LazyArray) -> la.LazyArray:
        return ((x * 2.0 + y) * (x - 1.0) + y * y - x / 3.0) * 0.5 + 1.0

    return {
        "a*2 + b, repeated": lambda i: (a * 2.0 + b).eval(),
        "10 ops, repeated": lambda i: ten_ops(a, b).eval(),
        "a.sum(), repeated": lambda i: a.sum().eval(),
        "m - m.sum(0), repeated": lambda i: (m - m.sum(axis=0)).eval(),
        "10 ops, new array": lambda i: ten_ops(la.asarray(fresh[i % 16]), b).eval(),
    }


LAYERS = ("none", "executors", "ready", "wrappers", "operator memo", "plans", "templates")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=1e3)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    la.set_num_threads(1)
    n = int(args.size)
    jobs = workloads(n)
    print(f"microseconds per call, n={n}, one thread; columns: the layer switched off")
    print(f"{'workload':<24}" + "".join(f"{name:>14}" for name in LAYERS))
    for label, step in jobs.items():
        cells = []
        for name in LAYERS:
            with layer_off(name):
                cells.append(per_call({label: step}, args.calls, args.rounds)[label])
        print(f"{label:<24}" + "".join(f"{c:>14.2f}" for c in cells))


if __name__ == "__main__":
    main()
