"""Where the compile time of a new CPU kernel goes, phase by phase.

For each expression the kernel is compiled from scratch ``--reps`` times (under a new symbol
each time, so nothing is reused; LLVM itself caches nothing between compiles) and the best
time of every phase is reported:

* ``build``: Python builds the module with llvmlite.ir (``codegen/cpu.py``) and prints it;
* ``parse``: ``parse_assembly`` plus ``verify``;
* ``opt``: the O3 pass pipeline;
* ``emit``: ``emit_object`` (instruction selection, register allocation, the object file);
* ``load``: MCJIT links the object file and resolves its symbols;
* ``total``: the whole compile as ``la.cache_info().compile_seconds`` counts it.

LLVM is loaded, and each kernel compiled once (which also compiles the math support modules
it calls, once per process) before it is timed, so the numbers are what a new expression
costs in a warm process. The disk cache is off.

The run time of the compiled code matters as much (moving math out of line must not slow it
down): ``--runtime`` times ``exp(-a)*sin(b)+cos(c)`` and GELU instead, at ``--n`` elements,
into a preallocated ``out=``, on one thread, best of ``--reps``.

    python benchmarks/compile_time.py            # the default expression set, best of 5
    python benchmarks/compile_time.py --reps 9 --only gelu
    python benchmarks/compile_time.py --only arith --elements 10000000   # streaming kernels
    python benchmarks/compile_time.py --runtime --n 10000000 --reps 7
    python benchmarks/compile_time.py --support   # the once-per-process math modules
    python benchmarks/compile_time.py --ab        # math called against math inlined

``--ab`` compares the two ways a kernel can use lazyarr's math routines, in one run and in
turns (ABAB..., one private JIT engine each): ``call`` (what ``mathlib.CPU_USE`` says today:
the routines compiled once into support modules, kernels call their vector versions) and
``inline`` (every routine inlined into the kernel and optimised with it, but sin, cos and tan,
whose huge arguments need the support module's libm path). First the compile time of each
expression above (median and best of ``--reps`` fresh compiles, support modules already
loaded), then the run time of the kernels of ``--kinds`` (benchmarks/vector_width.py's) at
``--sizes``, ``--threads`` (ratio inline / call: above 1, calling is faster).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import lazyarr as la

Expr = Callable[[la.LazyArray, la.LazyArray, la.LazyArray], la.LazyArray]

EXPRESSIONS: dict[str, Expr] = {
    # ten arithmetic ops
    "arith": lambda a, b, c: (a * b + c) * 2.5 - a / (b + 1.5) + c * c - a * 0.25,
    # exp(-a)*sin(b)+cos(c) and a few more ops: ten in all
    "exp-sin-cos": lambda a, b, c: la.exp(-a) * la.sin(b) + la.cos(c) * a - b * c + 2.0 * a,
    # GELU, tanh form (x**3 is a general pow: the exponent is a run-time scalar)
    "gelu": lambda a, b, c: 0.5 * a * (1 + la.tanh(0.7978845608 * (a + 0.044715 * a ** 3))),
    # four different functions
    "log-tanh-exp": lambda a, b, c: la.log1p(a * a) + la.tanh(b) - la.exp(c) * a + la.arctan(b),
}
_symbols = itertools.count()


def _kernel(expr: Expr, dtype: type, n: int) -> Any:
    a, b, c = (la.asarray(np.linspace(0.1, 1.0, n, dtype=dtype) + k) for k in range(3))
    (kernel,) = la.explain(expr(a, b, c)).kernel_objects
    return kernel


def _phases(jit: Any, kernel: Any) -> dict[str, float]:
    """One fresh compile of ``kernel``, phase by phase (seconds)."""
    llvm = jit.llvm
    name = f"lazyarr_bench_{next(_symbols)}"
    t = [time.perf_counter()]
    text = jit.ir(kernel, name)
    t.append(time.perf_counter())
    mod = llvm.parse_assembly(text)
    mod.verify()
    t.append(time.perf_counter())
    pb = llvm.create_pass_builder(jit.tm, jit.pipeline_options(text))
    pb.getModulePassManager().run(mod, pb)
    t.append(time.perf_counter())
    obj = jit.tm.emit_object(mod)
    t.append(time.perf_counter())
    jit.load(_object(obj, text), name, kernel)
    t.append(time.perf_counter())
    steps = ("build", "parse", "opt", "emit", "load")
    times = {s: t[k + 1] - t[k] for k, s in enumerate(steps)}
    times["total"] = t[-1] - t[0]
    return times


def _object(code: bytes, text: str) -> Any:
    """What ``Jit.load`` takes: object code with its support needs (plain bytes before
    math moved out of line, so this script also runs on older trees for comparisons)."""
    try:
        from lazyarr.backends import cpu_jit as where
    except ImportError:  # trees from before the JIT had a module of its own
        from lazyarr.backends import cpu as where

    if not hasattr(where, "Object"):
        return code
    return where.Object(code, where.support_needs(text))


def _through_backend(kernel: Any) -> float:
    """The compile as the backend runs it (``cache_info().compile_seconds``)."""
    from lazyarr.backends import cpu

    cpu.clear_cache()
    before = la.cache_info().compile_seconds
    cpu.compiled(kernel)
    return la.cache_info().compile_seconds - before


def support(reps: int) -> None:
    """Compile time of each math support module (paid once per process, or once with the
    disk cache): build, O3 and object code, best of ``reps``."""
    from lazyarr.backends import cpu
    from lazyarr.codegen import mathlib

    jit = cpu.jit()
    print(f"best of {reps}, milliseconds")
    for symbol in mathlib.SUPPORT_SYMBOLS:
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            module = mathlib.support_module(symbol, jit.triple, jit.layout)
            jit.tm.emit_object(jit.optimise(str(module)))
            times.append(time.perf_counter() - t0)
        print(f"{symbol:26} {1e3 * min(times):7.1f}", flush=True)


RUNTIME: dict[str, Expr] = {
    "exp(-a)*sin(b)+cos(c)": lambda a, b, c: la.exp(-a) * la.sin(b) + la.cos(c),
    "gelu": EXPRESSIONS["gelu"],
}


def runtime(n: int, reps: int, dtypes: list[str]) -> None:
    la.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"n={n}, one thread, best of {reps}, milliseconds")
    for dtname in dtypes:
        dt = np.dtype(dtname).type
        a, b, c = (la.asarray(rng.standard_normal(n).astype(dt)) for _ in range(3))
        out = np.empty(n, dt)
        for name, expr in RUNTIME.items():
            expr(a, b, c).eval(out=out)  # compile outside the timing
            times = []
            for _ in range(reps):
                t0 = time.perf_counter()
                expr(a, b, c).eval(out=out)
                times.append(time.perf_counter() - t0)
            print(f"{dtname:8} {name:24} {1e3 * min(times):7.1f}", flush=True)


def _ab_compiles(jits: dict[str, Any], names: list[str], dtypes: list[str], reps: int) -> None:
    print(f"compile time, milliseconds: median (best) of {reps}, variants in turns")
    for dtname in dtypes:
        dt = np.dtype(dtname).type
        for name in names:
            kernel = _kernel(EXPRESSIONS[name], dt, 1000)
            times: dict[str, list[float]] = {v: [] for v in jits}
            for r in range(-1, reps):  # -1: untimed, loads the support modules it calls
                for v in (list(jits) if r % 2 == 0 else list(jits)[::-1]):
                    j, symbol = jits[v], f"lazyarr_ab_{next(_symbols)}"
                    t0 = time.perf_counter()
                    j.load(j.compile(kernel, symbol)[0], symbol, kernel)
                    if r >= 0:
                        times[v].append(time.perf_counter() - t0)
            cells = "  ".join(f"{v} {1e3 * statistics.median(t):6.1f} ({1e3 * min(t):5.1f})"
                              for v, t in times.items())
            print(f"{name:14} {dtname:8} {cells}", flush=True)


def ab(a: argparse.Namespace) -> None:
    """Math called against math inlined: compile time, then run time, in turns."""
    import vector_width as vw  # this folder's: benchmarks/vector_width.py

    jits = {"call": vw.VariantJit(vw.VARIANTS[0]), "inline": vw.VariantJit(vw.VARIANTS[0], True)}
    print(f"# {vw.cpu_model()}; LLVM cpu {jits['call'].cpu}; load average "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    _ab_compiles(jits, a.only.split(",") if a.only else list(EXPRESSIONS),
                 a.dtypes.split(","), a.reps)
    rng = np.random.default_rng(0)
    print(f"run time: best of {a.reps} turns, call in ms, inline / call (best; median of "
          f"per-turn ratios)", flush=True)
    for threads in (int(t) for t in a.threads.split(",")):
        la.set_num_threads(threads)
        for kind in a.kinds.split(","):
            for dtname in a.dtypes.split(","):
                cells = []
                for n in (int(float(x)) for x in a.sizes.split(",")):
                    case = vw.make_case(kind, dtname, n, rng)
                    vw.prepare(case, jits, check=True)
                    t = vw.time_case(case, list(jits), a.reps)
                    cells.append(f"{n:.0e} {t['call']['best_s'] * 1e3:8.4f} "
                                 f"x{t['inline']['ratio_best']:.2f} "
                                 f"(x{t['inline']['ratio_median']:.2f})")
                print(f"threads {threads} {kind:6} {dtname:8} " + "; ".join(cells),
                      flush=True)
    print(f"# load average at end {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--only", default="", help="comma-separated expression names")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--runtime", action="store_true", help="time the compiled code instead")
    p.add_argument("--n", type=int, default=10_000_000, help="elements for --runtime")
    p.add_argument("--support", action="store_true", help="time the math support modules")
    p.add_argument("--ab", action="store_true", help="math called against math inlined")
    p.add_argument("--kinds", default="exp,sin,tanh,gelu,erf,pow",
                   help="--ab: run-time kernels (benchmarks/vector_width.py's kinds)")
    p.add_argument("--sizes", default="1e3,1e5,1e7", help="--ab: run-time sizes")
    p.add_argument("--threads", default="1,2", help="--ab: thread counts")
    p.add_argument("--elements", type=int, default=1000,
                   help="array size the kernels are made for (from 4 MiB of output: "
                        "streaming stores)")
    a = p.parse_args(argv)
    la.set_disk_cache(False)
    if a.runtime:
        runtime(a.n, a.reps, a.dtypes.split(","))
        return 0
    if a.support:
        support(a.reps)
        return 0
    if a.ab:
        ab(a)
        return 0
    from lazyarr.backends import cpu

    jit = cpu.jit()
    names = a.only.split(",") if a.only else list(EXPRESSIONS)
    print(f"best of {a.reps}, milliseconds")
    print(f"{'expression':14} {'dtype':8} {'build':>6} {'parse':>6} {'opt':>6} {'emit':>6} "
          f"{'load':>6} {'total':>6} {'backend':>7}  IR KiB")
    for dtname in a.dtypes.split(","):
        dt = np.dtype(dtname).type
        for name in names:
            kernel = _kernel(EXPRESSIONS[name], dt, a.elements)
            _through_backend(kernel)  # untimed: loads LLVM and the math it calls
            runs = [_phases(jit, kernel) for _ in range(a.reps)]
            best = {k: 1e3 * min(r[k] for r in runs) for k in runs[0]}
            backend = 1e3 * min(_through_backend(kernel) for _ in range(a.reps))
            size = len(jit.ir(kernel, "k")) / 1024
            cols = " ".join(f"{best[k]:6.1f}" for k in ("build", "parse", "opt", "emit",
                                                         "load", "total"))
            print(f"{name:14} {dtname:8} {cols} {backend:7.1f}  {size:6.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
