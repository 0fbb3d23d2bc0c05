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
    python benchmarks/new_arrays.py --parts          # where a call's time goes, and floors

``--parts`` splits a lazyarr call at each size: ``asarray`` of the new array, writing the
expression (graphs kept, so none is freed inside the clock), evaluating graphs written
before the clock, and within that the structure walk (``rebind.structure``) and the walk
with the template lookup. Two floors for one operator: ``graph.make2`` of a new node (the
interning and the node, about all an operator of the lean path must do besides its wrapper),
and a plain Python class whose ``__mul__`` makes a slotted node and a wrapper and nothing else
(what any pure-Python operator costs on this interpreter).
"""

from __future__ import annotations

import argparse
import gc
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


def _best(step: Callable[[object], object], made: Callable[[int], object], calls: int,
          rounds: int) -> float:
    """Best time per call (us) of ``step`` over objects ``made`` before the clock (and freed
    after it, with the collector off in between)."""
    best = float("inf")
    for _ in range(rounds):
        objs = [made(i) for i in range(calls)]
        gc.disable()
        try:
            start = time.perf_counter()
            for obj in objs:
                step(obj)
            best = min(best, (time.perf_counter() - start) / calls)
        finally:
            gc.enable()
        del objs
    return best * 1e6


class _FloorNode:
    __slots__ = ("__weakref__", "arg", "dtype", "op", "shape", "src")


class _FloorArray:
    __slots__ = ("_node",)

    def __init__(self, node: _FloorNode) -> None:
        self._node = node

    def __mul__(self, other: _FloorArray) -> _FloorArray:
        node, a = _FloorNode(), self._node
        node.op, node.dtype, node.shape, node.src, node.arg = 1, a.dtype, a.shape, \
            (a, other._node), None
        return _FloorArray(node)


def parts(expr: Callable[..., object], n: int, calls: int, rounds: int) -> list[str]:
    """Lines of where one call's time goes (see the module's docstring)."""
    from lazyarr.ir import graph

    rng = np.random.default_rng(0)
    xs = [rng.random(n) for _ in range(64)]
    w, b = la.asarray(rng.random(n)), la.asarray(rng.random(n))

    def written(i: int) -> object:
        return expr(la.asarray(xs[i % 64]), w, b, la)

    for i in range(50):  # compiles, templates, the lean tables
        written(i).eval()

    def walk(e: object) -> object:
        return rebind.structure((e._node,))  # type: ignore[attr-defined]

    def walk_find(e: object) -> object:
        found = rebind.structure((e._node,))  # type: ignore[attr-defined]
        return None if found is None else rebind.find(found)

    wn, bn = w._node, b._node
    leaf = _FloorNode()
    leaf.dtype, leaf.shape = wn.dtype, wn.shape
    floor = _FloorArray(leaf)
    timed = {
        "asarray": _best(lambda i: la.asarray(xs[i % 64]), int, calls, rounds),
        "write": _best(written, int, calls, rounds),
        "eval": _best(lambda e: e.eval(), written, calls, rounds),  # type: ignore[attr-defined]
        "walk": _best(walk, written, calls, rounds),
        "walk+find": _best(walk_find, written, calls, rounds),
        "make2": _best(lambda _: graph.make2(graph.Op.MULTIPLY, wn.dtype, wn.shape, wn, bn),
                       int, calls, rounds),
        "floor op": _best(lambda _: floor * floor, int, calls, rounds),
    }
    return [f"  {name:>10} {us:8.2f} us" for name, us in timed.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--exprs", default="axpy,ten")
    parser.add_argument("--templates", action="store_true",
                        help="also time lazyarr with launch templates off")
    parser.add_argument("--parts", action="store_true",
                        help="where a lazyarr call's time goes, and two floors")
    args = parser.parse_args()
    if args.parts:
        for name in args.exprs.split(","):
            for n in (int(float(s)) for s in args.sizes.split(",")):
                print(f"{name} at {n} elements (best of {args.rounds} rounds)")
                print("\n".join(parts(EXPRESSIONS[name], n, args.calls, args.rounds)))
        return
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
