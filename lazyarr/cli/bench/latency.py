"""Compile latency: new 10-op expressions in this process, for lazyarr and the peers, and
import plus first evaluation in fresh processes (the scripts in :mod:`.scripts`)."""

from __future__ import annotations

import json
import operator
import os
import random
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .measure import Context
from .numba_kernels import TEN_OP_KERNELS
from .timing import error_text, first_call
from .workloads import Config

_BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv}
_UNARY = ("exp", "sin", "tanh", "abs")


def ten_ops(seed: int) -> list[tuple[str, str]]:
    """A 10-operation expression of a, b, c (7 binary, 3 unary), its structure varying with
    ``seed`` so that every trial misses the kernel cache."""
    rng = random.Random(seed)
    kinds = ["binary"] * 7 + ["unary"] * 3
    rng.shuffle(kinds)
    return [(rng.choice("+-*/"), rng.choice("abc")) if kind == "binary"
            else (rng.choice(_UNARY), "") for kind in kinds]


def apply_ops(ops: list[tuple[str, str]], xp: Any, a: Any, b: Any, c: Any) -> Any:
    env, x = {"a": a, "b": b, "c": c}, a
    for op, arg in ops:
        x = _BINARY[op](x, env[arg]) if op in _BINARY else getattr(xp, op)(x)
    return x


def ops_text(ops: list[tuple[str, str]], names: dict[str, str], prefix: str = "") -> str:
    x = names["a"]
    for op, arg in ops:
        x = f"({x} {op} {names[arg]})" if op in _BINARY else f"{prefix}{op}({x})"
    return x


def compile_latency(ctx: Context, cfg: Config) -> dict[str, Any]:
    """Fresh compiles of new 10-op expressions once LLVM is loaded (in-memory cache cleared,
    disk cache off), the disk-cache hit, peers' first-call compiles of the same expressions,
    and, in fresh processes, import plus first evaluation."""
    trials = [ten_ops(seed) for seed in range(cfg.compile_trials)]
    return {
        "expression_example": ops_text(trials[0], {k: k for k in "abc"}),
        "lazyarr": _lazyarr_compiles(ctx, trials),
        "peers": _peer_compiles(ctx, trials),
        "fresh_process": _fresh_processes(ctx, cfg),
    }


def _lazyarr_compiles(ctx: Context, trials: list[list[tuple[str, str]]]) -> dict[str, Any]:
    from lazyarr.backends import diskcache

    la = ctx.la
    a, b, c = (la.asarray(np.linspace(0.1, 1.0, 1000)) for _ in range(3))
    la.set_disk_cache(False)
    (a * 2.0).eval()  # loads LLVM, which is a one-off cost measured in the fresh processes
    first, compile_s, hit, disk_hit = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="lazyarr-bench-") as folder:
        for ops in trials:
            la.clear_cache()
            la.set_disk_cache(False)
            _, t = first_call(lambda ops=ops: apply_ops(ops, la, a, b, c).eval())
            first.append(t)
            compile_s.append(la.cache_info().compile_seconds)
            hit.append(min(first_call(lambda ops=ops: apply_ops(ops, la, a, b, c).eval())[1]
                           for _ in range(3)))
            la.set_disk_cache(True, folder)  # the same kernel again, now through the disk
            la.clear_cache()
            apply_ops(ops, la, a, b, c).eval()  # compiles and stores
            la.clear_cache()
            loads = diskcache.info().loads
            disk_hit.append(first_call(lambda ops=ops: apply_ops(ops, la, a, b, c).eval())[1])
            if diskcache.info().loads != loads + 1:
                disk_hit[-1] = float("nan")  # not served from disk: do not report it as such
        la.set_disk_cache(False)
    return {"first_eval_s": first, "compile_s": compile_s, "cached_eval_s": hit,
            "disk_hit_eval_s": disk_hit, "median_first_eval_s": statistics.median(first),
            "median_compile_s": statistics.median(compile_s),
            "median_disk_hit_eval_s": statistics.median(disk_hit)}


def _peer_compiles(ctx: Context, trials: list[list[tuple[str, str]]]) -> dict[str, Any]:
    """First call minus a warm call, per peer, of the same expressions as lazyarr's."""
    a, b, c = (np.linspace(0.1, 1.0, 1000) for _ in range(3))
    makers: dict[str, Callable[[int, list[tuple[str, str]]], Callable[[], Any]]] = {}
    if "numexpr" in ctx.peers:
        ne = ctx.peers["numexpr"]
        makers["numexpr"] = lambda _, ops: partial(
            ne.evaluate, ops_text(ops, {k: k for k in "abc"}), {"a": a, "b": b, "c": c})
    if "numba" in ctx.peers:
        njit = ctx.peers["numba"].njit
        makers["numba"] = lambda seed, _: partial(njit(TEN_OP_KERNELS[seed]), a, b, c)
    if "jax" in ctx.peers:
        makers["jax"] = lambda _, ops: _jax_from_ops(ctx.peers["jax"], ops, a, b, c)
    # Numba runs the trials that have a written-out kernel (numba_kernels.TEN_OP_KERNELS)
    limits = {"numba": len(TEN_OP_KERNELS)}
    out = {}
    for name, make in makers.items():
        costs = []
        for seed, ops in enumerate(trials[:limits.get(name)]):
            fn = make(seed, ops)
            _, t_first = first_call(fn)
            costs.append(t_first - min(first_call(fn)[1] for _ in range(3)))
        out[name] = {"compile_s": costs, "median_compile_s": statistics.median(costs)}
    return out


def _jax_from_ops(jax: Any, ops: list[tuple[str, str]], a: np.ndarray, b: np.ndarray,
                  c: np.ndarray) -> Callable[[], Any]:
    f = jax.jit(partial(apply_ops, ops, jax.numpy))
    return lambda: f(a, b, c).block_until_ready()


# The fresh-process measurements run these files as scripts (by path, not ``-m``, so that
# importing lazyarr is timed from a process that has not imported it yet).
_SCRIPTS = Path(__file__).resolve().parent / "scripts"
FRESH_LAZYARR = _SCRIPTS / "fresh_lazyarr.py"
FRESH_NUMBA = _SCRIPTS / "fresh_numba.py"


def _run_script(script: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, str(script), *args], env=env, capture_output=True,
                          text=True, timeout=300, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fresh_case(script: Path, folder_env: Callable[[str], dict[str, str]], warm: bool,
                repeat: int, *args: str) -> dict[str, Any]:
    """Median timings over ``repeat`` fresh processes; ``warm``: each after one process that
    filled the same (new) cache folder."""
    runs = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lazyarr-bench-") as folder:
            env = folder_env(folder)
            if warm:
                _run_script(script, env, folder, *args)
            runs.append(_run_script(script, env, folder, *args))
    summary = {k: statistics.median(r[k] for r in runs)
               for k in ("import_numpy_s", "import_s", "first_eval_s")}
    summary["import_plus_first_eval_s"] = statistics.median(
        r["import_s"] + r["first_eval_s"] for r in runs)
    return {**summary, "runs": runs}


def _fresh_processes(ctx: Context, cfg: Config) -> dict[str, Any]:
    base = dict(os.environ)

    def lazy_env(disk: bool) -> Callable[[str], dict[str, str]]:
        return lambda folder: {**base, "LAZYARR_CACHE_DIR": os.path.join(folder, "cache"),
                               "LAZYARR_DISK_CACHE": "1" if disk else "0"}

    cases = {
        "lazyarr, disk cache off": (FRESH_LAZYARR, lazy_env(False), False),
        "lazyarr, disk cache cold": (FRESH_LAZYARR, lazy_env(True), False),
        "lazyarr, disk cache warm": (FRESH_LAZYARR, lazy_env(True), True),
    }
    if cfg.quick:  # a second or more per process: a CI run keeps the two the goal is about
        del cases["lazyarr, disk cache off"]
    if "numba" in ctx.peers and not cfg.quick:  # seconds per process: not for a CI run
        def numba_env(folder: str) -> dict[str, str]:
            return {**base, "NUMBA_CACHE_DIR": os.path.join(folder, "numba-cache")}

        cases["numba, cache=True, cold"] = (FRESH_NUMBA, numba_env, False)
        cases["numba, cache=True, warm"] = (FRESH_NUMBA, numba_env, True)
    out = {}
    for name, (script, env, warm) in cases.items():
        try:
            out[name] = _fresh_case(script, env, warm, cfg.process_repeat)
        except (subprocess.SubprocessError, ValueError, OSError) as exc:
            out[name] = {"error": error_text(exc)}
    return out
