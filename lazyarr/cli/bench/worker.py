"""The worker (one process per thread count, pinned to its CPUs) and the machine's facts."""

from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from . import backward, daskrun, fuserun, narrowrun, nnrun, randomrun
from .latency import compile_latency
from .measure import Context, overhead, run_cell, triad
from .numba_kernels import numba_kernels
from .timing import error_text, usable_cpus
from .workloads import BY_KEY, Config


# -- the worker: one process per thread count --------------------------------------------------
def load_peers(names: Sequence[str], threads: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Import the peers that are installed, each set to ``threads`` threads."""
    modules, info = {}, {}
    for name in names:
        try:
            module = importlib.import_module(name)
        except Exception as exc:  # not installed, or broken: the benchmark goes on without it
            info[name] = {"version": None, "error": error_text(exc)}
            continue
        modules[name] = module
        info[name] = {"version": getattr(module, "__version__", "?")}
    if "numexpr" in modules:
        modules["numexpr"].set_num_threads(threads)
        info["numexpr"]["vml"] = bool(getattr(modules["numexpr"], "use_vml", False))
    if "numba" in modules:
        nb = modules["numba"]
        nb.set_num_threads(min(threads, nb.config.NUMBA_NUM_THREADS))
    if "jax" in modules:
        modules["jax"].config.update("jax_enable_x64", True)  # else float64 silently is float32
    if "torch" in modules:
        modules["torch"].set_num_threads(threads)
    return modules, info


def make_context(cfg: Config, threads: int) -> tuple[Context, dict[str, Any]]:
    import lazyarr as la

    la.set_num_threads(threads)
    la.set_disk_cache(False)  # first calls below are real compiles, as for Numba and JAX
    peers, info = load_peers(cfg.peers, threads)
    kernels: dict[bool, dict[str, Any]] = {}
    impls = ["numpy", "lazyarr:out", "lazyarr"]
    if "numexpr" in peers:
        impls.append("numexpr")
    if "numba" in peers:
        kernels[False] = numba_kernels(peers["numba"], parallel=False)
        impls.append("numba")
        if threads > 1:
            kernels[True] = numba_kernels(peers["numba"], parallel=True)
            impls.append("numba-par")
    if "jax" in peers:
        impls.append("jax")
    return Context(la, threads, peers, kernels, impls), info


def worker(cfg: Config, threads: int, extras: bool) -> dict[str, Any]:
    start = time.perf_counter()
    ctx, peer_info = make_context(cfg, threads)

    def log(text: str) -> None:
        print(f"[bench {time.perf_counter() - start:6.1f} s] {text}", file=sys.stderr,
              flush=True)
    forward = [BY_KEY[k] for k in cfg.workloads if k in BY_KEY]
    run: dict[str, Any] = {"threads": threads, "affinity": usable_cpus(),
                           "load_average_start": os.getloadavg(),
                           "lazyarr_threads": ctx.la.get_num_threads(), "peers": peer_info,
                           "impls": ctx.impls, "results": [],
                           "backward_impls": backward.impls(ctx), "backward": []}
    if forward:  # a run of backward workloads only has no use for the triad
        log(f"{threads} thread(s): triad")
        run["triad"] = triad(ctx, cfg)
    for dtype in cfg.dtypes:
        ctx.dtype = dtype
        for w in forward:
            for size in ([0] if w.matrix else cfg.sizes):
                log(f"{threads} thread(s): {dtype} {w.name} "
                    f"{'x'.join(map(str, cfg.matrix)) if w.matrix else size}")
                run["results"].append(run_cell(w, size, ctx, cfg))
                gc.collect()
    for b in (backward.BY_KEY[k] for k in cfg.workloads if k in backward.BY_KEY):
        for shape in backward.shapes(b, cfg):
            log(f"{threads} thread(s): {backward.DTYPE} {b.name} {'x'.join(map(str, shape))}")
            run["backward"].append(backward.run_cell(b, shape, ctx, cfg))
            gc.collect()
    if daskrun.KEY in cfg.workloads:
        log(f"{threads} thread(s): Dask")
        run["dask"] = daskrun.run(ctx.la, threads, cfg)
    if any(k in cfg.workloads for k in randomrun.KEYS):
        log(f"{threads} thread(s): random numbers, quantisation")
        run.update(randomrun.run(ctx, cfg))
    if any(k in cfg.workloads for k in narrowrun.KEYS):
        log(f"{threads} thread(s): float16, bfloat16, complex")
        run.update(narrowrun.run(ctx, cfg))
    if nnrun.KEY in cfg.workloads:
        log(f"{threads} thread(s): layers")
        run[nnrun.KEY] = nnrun.run(ctx, cfg)
    if fuserun.KEY in cfg.workloads:
        log(f"{threads} thread(s): @la.fuse calls")
        run[fuserun.KEY] = fuserun.run(ctx.la, cfg)
    run["load_average_end"] = os.getloadavg()  # a busy machine explains odd figures
    if extras and forward:  # per-call overhead and compile latency: of forward expressions
        log("per-call overhead")
        run["overhead"] = overhead(ctx, cfg)
        log("compile latency")
        run["compile"] = compile_latency(ctx, cfg)
    return run


def worker_main(config_path: str, out_path: str) -> int:
    with open(config_path) as f:
        spec = json.load(f)
    cfg = Config(**{**spec["config"], "matrix": tuple(spec["config"]["matrix"])})
    result = worker(cfg, spec["threads"], spec["extras"])
    with open(out_path, "w") as f:
        json.dump(result, f)
    return 0


# The worker's first statement pins it to its CPUs: on Linux affinity is per thread and is
# inherited by the threads created later, so it must come before NumPy starts its BLAS pool.
_BOOT = ("import os, sys; hasattr(os, 'sched_setaffinity') and "
         "os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(',')}); "
         "from lazyarr.cli.bench.worker import worker_main; "
         "sys.exit(worker_main(sys.argv[2], sys.argv[3]))")


def worker_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                 "NUMEXPR_NUM_THREADS", "NUMEXPR_MAX_THREADS", "NUMBA_NUM_THREADS",
                 "LAZYARR_NUM_THREADS"):
        env[name] = str(threads)
    env.setdefault("JAX_PLATFORMS", "cpu")  # no probing for accelerators
    return env


def spawn_worker(cfg: Config, threads: int, extras: bool, folder: str) -> dict[str, Any]:
    cpus = usable_cpus()[:threads]
    config_path = os.path.join(folder, f"config-{threads}.json")
    out_path = os.path.join(folder, f"result-{threads}.json")
    with open(config_path, "w") as f:
        json.dump({"config": asdict(cfg), "threads": threads, "extras": extras}, f)
    subprocess.run([sys.executable, "-c", _BOOT, ",".join(map(str, cpus)), config_path,
                    out_path], env=worker_env(threads), check=True)
    with open(out_path) as f:
        return json.load(f)


# -- machine -----------------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_simd() -> list[str]:
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return []
    return [x for x in ("sse4_2", "avx", "avx2", "fma", "avx512f") if x in flags]


def machine() -> dict[str, Any]:
    import llvmlite

    import lazyarr
    from lazyarr.backends.threads import available_cpus

    return {"cpu": cpu_model(), "simd": cpu_simd(), "logical_cpus": os.cpu_count(),
            "usable_cpus": available_cpus(), "os": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__,
            "llvmlite": llvmlite.__version__, "llvm": _llvm_version(),
            "lazyarr": lazyarr.__version__, "lazyarr_commit": _commit(lazyarr.__file__)}


def _commit(package_file: str) -> str | None:
    """The git commit lazyarr runs from ("+" when the working tree differs), if a checkout."""
    folder = os.path.dirname(os.path.abspath(package_file))
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=folder, text=True, capture_output=True, timeout=10,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+" if dirty else "")


def _llvm_version() -> str:
    try:
        from llvmlite import binding

        return ".".join(map(str, binding.llvm_version_info))
    except Exception:
        return "?"
