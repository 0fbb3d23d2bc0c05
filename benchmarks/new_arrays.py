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
    python benchmarks/new_arrays.py --parts          # where a call's time goes, its floor

``--parts`` splits a lazyarr call at each size: ``asarray`` of the new array, writing the
expression (graphs kept, so none is freed inside the clock), evaluating graphs written
before the clock, and within that finding the template by the root's signature
(``rebind.find_signed``: the key the lean operators build as they write) and, for
comparison, by walking the graph (``rebind.structure``: the key of graphs the general path
made); then the whole call. And the same four for a floor: a minimal front end of the same
design (slotted nodes carrying the signature, a dtype table, one shape check, a table of
scalar nodes, lazyarr's key and its real shared launch), without the operator memo,
broadcasting, NumPy's rules, errors or other dtypes: what any pure-Python front end of
this design costs at the least.
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


# -- the floor: a front end that does only what a signed new expression needs ------------------
# Slotted nodes carrying the signature lazyarr's lean operators compute (lazyarr/ir/graph.py,
# node2), the result dtype from a table, one shape check, Python floats through a table of
# scalar nodes; evaluation by lazyarr's own key (rebind.signed_key), its template's picks and
# its real shared launch. No operator memo, broadcasting, NumPy's rules learnt, errors or
# other dtypes: what any pure-Python front end of this design pays, at the least.
class _FloorNode:
    __slots__ = ("arg", "dtype", "ins", "op", "shape", "sid", "src")


class _FloorArray:
    __slots__ = ("_node",)

    def __init__(self, node: _FloorNode) -> None:
        self._node = node


_floor_sids: dict[tuple, int] = {}
_floor_scalars: dict[tuple, _FloorNode] = {}


def _floor_sid(key: tuple) -> int:
    sid = _floor_sids.get(key)
    if sid is None:
        sid = _floor_sids[key] = len(_floor_sids) + 1
    return sid


def _floor_node(op: str, dtype: np.dtype, shape: tuple[int, ...], src: tuple, arg: object,
                sid: int, ins: tuple | None) -> _FloorArray:
    node = _FloorNode()
    node.op, node.dtype, node.shape, node.src, node.arg, node.sid, node.ins = \
        op, dtype, shape, src, arg, sid, ins
    return _FloorArray(node)


def _floor_binary(op: str) -> Callable[[_FloorArray, object], _FloorArray]:
    def method(self: _FloorArray, other: object) -> _FloorArray:
        a = self._node
        if type(other) is _FloorArray:
            b = other._node
        else:
            b = _floor_scalars.get((a.dtype, other))
            if b is None:
                b = _floor_scalars[(a.dtype, other)] = _floor_node(
                    "scalar", a.dtype, (), (), a.dtype.type(other), 0, None)._node
                b.sid = _floor_sid(("scalar", a.dtype))
        dtype = _FLOOR_TYPES[(op, a.dtype, b.dtype)]
        if b.shape != a.shape and b.shape:
            raise ValueError("floor: one shape only")
        return _floor_node(op, dtype, a.shape, (a, b), None, _floor_sid((op, dtype, a.sid, b.sid)),
                           (a.ins or (a,)) + (b.ins or (b,)))

    return method


_FLOOR_TYPES = {(op, t, t): t for op in ("add", "sub", "mul") for t in (np.dtype(np.float64),)}
_FloorArray.__add__ = _floor_binary("add")  # type: ignore[attr-defined]
_FloorArray.__sub__ = _floor_binary("sub")  # type: ignore[attr-defined]
_FloorArray.__mul__ = _floor_binary("mul")  # type: ignore[attr-defined]


class _FloorNamespace:
    @staticmethod
    def exp(x: _FloorArray) -> _FloorArray:
        a = x._node
        return _floor_node("exp", a.dtype, a.shape, (a,), None, _floor_sid(("exp", a.sid)),
                           a.ins or (a,))

    @staticmethod
    def asarray(x: np.ndarray) -> _FloorArray:
        return _floor_node("leaf", x.dtype, x.shape, (), x,
                           _floor_sid(("leaf", x.dtype, x.shape, x.strides)), None)


def _floor_eval(e: _FloorArray, template: rebind.Template, call: Callable[..., object]
                ) -> np.ndarray:
    root = e._node
    ins = root.ins
    if template is not _floor_templates.get((root.sid, tuple(map(ins.index, ins)))):
        raise KeyError("floor: another structure")
    out = np.empty(root.shape, root.dtype)
    call(out, *[n.arg for n in template.leaves(ins)])
    return out


_floor_templates: dict[tuple, rebind.Template] = {}


def parts(expr: Callable[..., object], n: int, calls: int, rounds: int) -> list[str]:
    """Lines of where one call's time goes (see the module's docstring)."""
    rng = np.random.default_rng(0)
    xs = [rng.random(n) for _ in range(64)]
    wn, bn = rng.random(n), rng.random(n)
    w, b = la.asarray(wn), la.asarray(bn)

    def written(i: int) -> object:
        return expr(la.asarray(xs[i % 64]), w, b, la)

    for i in range(50):  # compiles, templates, the lean tables
        written(i).eval()

    def walk_find(e: object) -> object:
        found = rebind.structure((e._node,))  # type: ignore[attr-defined]
        return None if found is None else rebind.find(found)

    # the floor front end, evaluated by the real template's shared launch
    ns, e = _FloorNamespace(), written(0)
    template = rebind.find_signed(e._node)  # type: ignore[attr-defined]
    shared = template.runners[template.scalar_nodes(e._node.ins)]  # type: ignore[attr-defined]
    fw, fb = ns.asarray(wn), ns.asarray(bn)
    probe = expr(ns.asarray(xs[0]), fw, fb, ns)._node
    _floor_templates[(probe.sid, tuple(map(probe.ins.index, probe.ins)))] = template
    if not np.array_equal(_floor_eval(expr(ns.asarray(xs[1]), fw, fb, ns), template,
                                      shared.call), written(1).eval()):  # type: ignore
        raise AssertionError("floor: not the expression's value")

    def floor_written(i: int) -> object:
        return expr(ns.asarray(xs[i % 64]), fw, fb, ns)

    def floor_call(i: int) -> object:
        return _floor_eval(floor_written(i), template, shared.call)  # type: ignore[arg-type]

    timed = {
        "asarray": _best(lambda i: la.asarray(xs[i % 64]), int, calls, rounds),
        "write": _best(written, int, calls, rounds),
        "eval": _best(lambda e: e.eval(), written, calls, rounds),  # type: ignore[attr-defined]
        "key+find": _best(lambda e: rebind.find_signed(e._node), written, calls, rounds),
        "walk+find": _best(walk_find, written, calls, rounds),
        "call": _best(lambda i: written(i).eval(), int, calls, rounds),
        "floor asarray": _best(lambda i: ns.asarray(xs[i % 64]), int, calls, rounds),
        "floor write": _best(floor_written, int, calls, rounds),
        "floor eval": _best(lambda e: _floor_eval(e, template, shared.call),  # type: ignore
                            floor_written, calls, rounds),
        "floor call": _best(floor_call, int, calls, rounds),
    }
    return [f"  {name:>13} {us:8.2f} us" for name, us in timed.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--exprs", default="axpy,ten")
    parser.add_argument("--templates", action="store_true",
                        help="also time lazyarr with launch templates off")
    parser.add_argument("--parts", action="store_true",
                        help="where a lazyarr call's time goes, and its floor")
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
