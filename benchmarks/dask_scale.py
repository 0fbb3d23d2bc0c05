"""lazyarr expressions over Dask arrays against the same expressions in Dask with NumPy (issue 20).

Both engines get the same Dask arrays (the same chunks, already in memory: generated with
``da.random`` and persisted before any timing) and the same scheduler; what differs is the work
per chunk. Dask with NumPy runs every operator as its own NumPy call over the chunk (temporaries
included); lazyarr-on-Dask (``la.eval`` of an expression over ``la.asarray(dask_array)``) runs
one fused lazyarr kernel per chunk, and for a reduction one fused kernel per chunk whose partial
results Dask combines. The workloads are those of ``python -m lazyarr bench`` that make sense
over Dask (``lazyarr/cli/bench/workloads.py``; the same expression code runs with ``xp=dask.array``
and ``xp=lazyarr``), 1-D over ``--n`` float64 elements, and a row-wise softmax over a 2-D array
of the same size (rows of ``--cols``). Each time covers building the expression and
``.compute()`` (for an elementwise result that includes Dask joining the chunks into one NumPy
array; ``--persist`` times ``.persist()`` instead, which keeps the chunks); best of
``--repeat`` after one untimed run (lazyarr compiles its kernels there). Goals of the issue:
lazyarr at least 2x Dask with NumPy on memory-bound expressions, 5x on transcendental ones.

lazyarr runs each task on one thread by default (``--la-threads``): the scheduler's workers
already use every core, and NumPy's operators are single-threaded too.

``--disk GB`` adds a larger-than-memory run: a float64 file of that size, written in chunks with
``np.memmap`` in a temporary folder (``--tmpdir``; removed afterwards, also on error or Ctrl-C),
read as ``da.from_array`` of the mapped file, and reduced by ``mean(a)`` then
``sum((a - mean)**2)`` (two passes) and ``sum(exp(-a)*sin(a) + cos(a))`` (elementwise into a
reduction, one pass), once per engine, each engine in its own subprocess so that its peak
resident memory is its own; the issue's goal is under 2 GB. The peak is ``VmHWM`` on Linux:
``ru_maxrss`` (printed too) carries the peak of the parent process into a child over fork
and exec, so there it is at least this script's own peak. With the threads and synchronous
schedulers the whole computation runs in that process; with processes and distributed the
workers are other processes, not counted. By default what
``da.from_array`` gets is a small reader whose every read maps the file, copies its part out
and unmaps it again (:class:`MemmapChunks`). ``--shared-map`` passes the ``np.memmap`` itself,
which measures something else: Dask 2026.8's ``from_array`` copies any array with a ``.copy``
method, ``np.memmap`` included, into memory when the graph is built (the whole file: it fails
on a file larger than RAM), and pages of a mapping that stays open count as the process's
resident memory as long as the kernel keeps them cached. On a file smaller than RAM the second
engine may read pages the first left in the page cache: compare times for a file larger
than RAM.

    python benchmarks/dask_scale.py                            # 10^8 float64, threads
    python benchmarks/dask_scale.py --n 1e7 --chunk 1e6 --repeat 5
    python benchmarks/dask_scale.py --scheduler processes --workloads axpby,trig
    python benchmarks/dask_scale.py --disk 30 --skip-memory    # only the on-disk run, 30 GB
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import dask
import dask.array as da
import numpy as np

import lazyarr as la
from lazyarr.cli.bench.workloads import BY_KEY, Workload

DEFAULT_WORKLOADS = ("axpby", "abcd", "hypot", "where", "dot", "sqdist", "trig", "gelu",
                     "softmax")
TRANSCENDENTAL = ("trig", "gelu")
GOALS = {"memory-bound": 2.0, "transcendental": 5.0}
SCHEDULERS = ("threads", "processes", "synchronous", "distributed")
MB = 1 << 20


def kind_of(w: Workload) -> str:
    if w.memory_bound:
        return "memory-bound"
    if w.key in TRANSCENDENTAL:
        return "transcendental"
    return "rows (exp)"  # softmax: neither of the two classes, no goal


def maxrss_mb() -> float:
    """``ru_maxrss`` (KiB on Linux): on Linux it includes the peak of the parent process,
    which a child inherits over fork and exec."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_mb() -> float:
    """This process's own peak resident memory, in MiB: ``VmHWM`` where the system reports it
    (Linux: a new program starts from zero), else ``ru_maxrss``."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return maxrss_mb()


# -- scheduler ---------------------------------------------------------------------------------
@contextlib.contextmanager
def scheduler(name: str, workers: int | None) -> Iterator[None]:
    """Every compute in the body runs on scheduler ``name`` with ``workers`` workers."""
    if name == "threads":
        with dask.config.set(scheduler="threads", num_workers=workers):
            yield
    elif name == "synchronous":
        with dask.config.set(scheduler="synchronous"):
            yield
    elif name == "processes":
        from concurrent.futures import ProcessPoolExecutor

        # one pool for the whole run: otherwise every compute starts new processes, and
        # every lazyarr kernel is loaded again in each of them
        with ProcessPoolExecutor(workers) as pool, \
                dask.config.set(scheduler="processes", pool=pool):
            yield
    elif name == "distributed":
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=workers or dask.system.CPU_COUNT, threads_per_worker=1,
                          processes=True, dashboard_address=None) as cluster, \
                Client(cluster):
            yield
    else:
        raise ValueError(f"unknown scheduler {name!r}")


def settle(arrays: tuple[Any, ...]) -> tuple[Any, ...]:
    """Persisted arrays, computed (on distributed, persist returns before the work is done)."""
    out = dask.persist(*arrays)
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_client, wait

        get_client()
        wait(out)
    return out


# -- in-memory workloads -----------------------------------------------------------------------
class Inputs:
    """Persisted random Dask arrays, kept while the workloads that follow use them."""

    def __init__(self, n: int, chunk: int, cols: int) -> None:
        self.n, self.chunk, self.cols = n, chunk, cols
        self.held: dict[tuple, Any] = {}
        self.seed = 0

    def shape(self, w: Workload) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if w.matrix:
            rows = self.n // self.cols
            return (rows, self.cols), (max(1, self.chunk // self.cols), self.cols)
        return (self.n,), (self.chunk,)

    def get(self, w: Workload) -> list[Any]:
        shape, chunks = self.shape(w)
        keys = [(name, w.ranges.get(name, (0.0, 1.0)), shape) for name in w.inputs]
        for key in list(self.held):  # drop what this workload does not use: memory
            if key not in keys:
                del self.held[key]
        missing = [k for k in keys if k not in self.held]
        made = []
        for _name, (lo, hi), _ in missing:
            self.seed += 1
            x = da.random.default_rng(self.seed).random(shape, chunks=chunks)
            made.append(lo + (hi - lo) * x)
        for key, x in zip(missing, settle(tuple(made)), strict=True):
            self.held[key] = x
        return [self.held[k] for k in keys]


def dask_numpy(w: Workload, arrays: list[Any]) -> Any:
    return w.expr(da, *arrays)


def lazyarr_dask(w: Workload, arrays: list[Any]) -> Any:
    return la.eval(w.expr(la, *(la.asarray(x) for x in arrays)))


def finish(result: Any, persist: bool) -> Any:
    return settle((result,))[0] if persist else result.compute()


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = fn()  # untimed: lazyarr compiles (or loads) its kernels here
    best = float("inf")
    for _ in range(repeat):
        result = None  # free the previous result before the next run allocates its own
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def max_rel_diff(x: Any, y: Any, block: int = 1 << 22) -> float:
    """Largest |x - y| / max(|y|, 1) over results (NumPy, or persisted Dask arrays)."""
    if hasattr(x, "__dask_graph__"):
        return float(da.max(abs(x - y) / da.maximum(abs(y), 1)).compute())
    x, y = np.asarray(x).reshape(-1), np.asarray(y).reshape(-1)
    worst = 0.0
    for lo in range(0, max(x.size, 1), block):  # in blocks: no temporaries of the full size
        xs, ys = x[lo:lo + block], y[lo:lo + block]
        if xs.size:
            worst = max(worst, float(np.max(np.abs(xs - ys) / np.maximum(np.abs(ys), 1))))
    return worst


def run_memory(args: argparse.Namespace) -> None:
    n, chunk = int(args.n), int(args.chunk)
    inputs = Inputs(n, chunk, args.cols)
    sink = ".persist()" if args.persist else ".compute()"
    print(f"lazyarr on Dask vs Dask with NumPy: n={n:,} float64, chunks of {chunk:,} "
          f"({-(-n // chunk)} chunks; softmax: rows of {args.cols}), scheduler "
          f"{args.scheduler} ({args.workers or dask.system.CPU_COUNT} workers), lazyarr "
          f"{args.la_threads} thread(s) per task, {sink}, best of {args.repeat}")
    print(f"{'workload':<24}{'kind':<16}{'dask+numpy s':>13}{'lazyarr s':>11}{'ratio':>8}"
          f"{'goal':>6}  {'max rel diff':>12}")
    rows = []
    with scheduler(args.scheduler, args.workers):
        for key in args.workloads.split(","):
            w = BY_KEY[key]
            arrays = inputs.get(w)
            t_np, r_np = best_of(lambda w=w, a=arrays: finish(dask_numpy(w, a), args.persist),
                                 args.repeat)
            t_la, r_la = best_of(lambda w=w, a=arrays: finish(lazyarr_dask(w, a),
                                                              args.persist), args.repeat)
            diff = max_rel_diff(r_la, r_np)
            del r_np, r_la
            kind = kind_of(w)
            goal = GOALS.get(kind)
            ratio = t_np / t_la
            mark = "" if goal is None else (" met" if ratio >= goal else " MISSED")
            rows.append((w.name, kind, ratio, goal))
            print(f"{w.name:<24}{kind:<16}{t_np:>13.3f}{t_la:>11.3f}{ratio:>7.2f}x"
                  f"{'' if goal is None else f'{goal:.0f}x':>6}  {diff:>12.1e}{mark}",
                  flush=True)
    print("ratio: Dask-with-NumPy seconds / lazyarr-on-Dask seconds (above 1: lazyarr faster)")


# -- on disk -----------------------------------------------------------------------------------
class MemmapChunks:
    """A float64 file as ``da.from_array`` reads it: each read maps the file, copies the part
    asked for out and unmaps it, so no page of the file stays in this process's resident
    memory after its chunk is read."""

    def __init__(self, path: str, n: int) -> None:
        self.path, self.shape, self.dtype, self.ndim = path, (n,), np.dtype(np.float64), 1

    def __getitem__(self, index: Any) -> np.ndarray:
        mapped = np.memmap(self.path, self.dtype, "r", shape=self.shape)
        try:
            return np.array(mapped[index])
        finally:
            del mapped


def write_file(path: str, n: int, chunk: int) -> float:
    """A file of ``n`` float64 values in [-4, 4), written in chunks through ``np.memmap``."""
    rng = np.random.default_rng(20)
    t0 = time.perf_counter()
    np.memmap(path, np.float64, "w+", shape=(n,)).flush()  # the file at its full size
    for lo in range(0, n, chunk):
        count = min(chunk, n - lo)
        # one mapping per chunk, flushed and dropped: this process keeps no dirty pages
        part = np.memmap(path, np.float64, "r+", offset=lo * 8, shape=(count,))
        part[:] = rng.random(count) * 8 - 4
        part.flush()
        del part
    return time.perf_counter() - t0


DISK_WORKLOADS = ("mean(a)", "sum((a-mean)**2)", "sum(exp(-a)*sin(a)+cos(a))")


def disk_exprs(xp: Any, a: Any, mean: float | None) -> Any:
    if mean is None:
        return a.mean()
    return xp.sum((a - mean) ** 2), xp.sum(xp.exp(-a) * xp.sin(a) + xp.cos(a))


def disk_child(args: argparse.Namespace) -> None:
    """One engine over the file, in its own process; prints one JSON line."""
    n, chunk = int(args.n_disk), int(args.chunk)
    base = peak_mb()  # interpreter, NumPy, Dask and lazyarr imported
    src: Any = (np.memmap(args.path, np.float64, "r", shape=(n,)) if args.shared_map
                else MemmapChunks(args.path, n))
    a = da.from_array(src, chunks=chunk, name="disk-a")
    lazy = args.engine == "lazyarr"

    def run(x: Any, mean: float | None) -> Any:
        if lazy:
            out = disk_exprs(la, la.asarray(x), mean)
            return la.eval(*out) if isinstance(out, tuple) else la.eval(out)
        return disk_exprs(da, x, mean)

    with scheduler(args.scheduler, args.workers):
        # compile (lazyarr) on a small array first: the timed passes read the file once each
        small = da.from_array(np.linspace(-4, 4, 4 * 1024), chunks=1024)
        m = float(run(small, None).compute())
        for r in run(small, m):
            r.compute()
        warm = peak_mb()
        times, values = [], []
        t0 = time.perf_counter()
        mean = float(run(a, None).compute())
        times.append(time.perf_counter() - t0)
        values.append(mean)
        for r in run(a, mean):  # one compute each: one pass over the file each
            t0 = time.perf_counter()
            values.append(float(r.compute()))
            times.append(time.perf_counter() - t0)
    print(json.dumps({"engine": args.engine, "times": times, "values": values,
                      "base_mb": base, "warm_mb": warm, "peak_mb": peak_mb(),
                      "maxrss_mb": maxrss_mb()}))


def run_disk(args: argparse.Namespace) -> None:
    size = int(args.disk * 1e9) // 8 * 8
    n, chunk = size // 8, int(args.chunk)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    folder = tempfile.mkdtemp(prefix="lazyarr-dask-scale-", dir=args.tmpdir)
    try:
        free = shutil.disk_usage(folder).free
        if free < size + (1 << 30):
            raise SystemExit(f"--disk {args.disk:g}: {size / 1e9:.1f} GB needed and 1 GB to "
                             f"spare, {free / 1e9:.1f} GB free in {folder}")
        path = os.path.join(folder, "a.f64")
        print(f"\nOn disk: {n:,} float64 ({size / 1e9:.1f} GB, RAM {total / 1e9:.1f} GB"
              f"{': larger than RAM' if size > total else ': fits in RAM (page cache)'}), "
              f"chunks of {chunk:,}, scheduler {args.scheduler}, "
              f"{'one shared mapping' if args.shared_map else 'a mapping per chunk'}")
        seconds = write_file(path, n, chunk)
        print(f"written in {seconds:.1f} s ({size / 1e9 / seconds:.2f} GB/s)", flush=True)
        results = {}
        for engine in ("dask", "lazyarr"):
            cmd = [sys.executable, os.path.abspath(__file__), "--disk-child", engine,
                   "--path", path, "--n-disk", str(n), "--chunk", str(chunk),
                   "--scheduler", args.scheduler, "--la-threads", str(args.la_threads)]
            cmd += ["--workers", str(args.workers)] if args.workers else []
            cmd += ["--shared-map"] if args.shared_map else []
            done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
            if done.returncode != 0:
                raise SystemExit(f"{engine} run failed (exit status {done.returncode}; "
                                 "-9: killed, likely out of memory)")
            results[engine] = json.loads(done.stdout.strip().splitlines()[-1])
        d, z = results["dask"], results["lazyarr"]
        print(f"{'workload':<30}{'dask+numpy s':>13}{'lazyarr s':>11}{'ratio':>8}"
              f"{'GB/s la':>9}  {'rel diff':>9}")
        for k, name in enumerate(DISK_WORKLOADS):
            diff = abs(z["values"][k] - d["values"][k]) / max(abs(d["values"][k]), 1)
            print(f"{name:<30}{d['times'][k]:>13.2f}{z['times'][k]:>11.2f}"
                  f"{d['times'][k] / z['times'][k]:>7.2f}x{size / 1e9 / z['times'][k]:>9.2f}"
                  f"  {diff:>9.1e}")
        print(f"{'peak resident memory, MiB':<30}{d['peak_mb']:>13.0f}{z['peak_mb']:>11.0f}"
              f"   (goal: under 2 GB; after imports {d['base_mb']:.0f} / {z['base_mb']:.0f}, "
              f"after warm-up {d['warm_mb']:.0f} / {z['warm_mb']:.0f}; ru_maxrss "
              f"{d['maxrss_mb']:.0f} / {z['maxrss_mb']:.0f}, which include this script's peak)")
        if args.scheduler in ("processes", "distributed"):
            print("  (memory of the engine's process only: the workers are other processes)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=float, default=1e8, help="elements of each array")
    parser.add_argument("--chunk", type=float, default=1e7, help="elements of each chunk")
    parser.add_argument("--cols", type=int, default=1000, help="row length of softmax")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workloads", default=",".join(DEFAULT_WORKLOADS),
                        help=f"comma-separated, from {','.join(DEFAULT_WORKLOADS)}")
    parser.add_argument("--scheduler", choices=SCHEDULERS, default="threads")
    parser.add_argument("--workers", type=int, default=None,
                        help="scheduler workers (default: Dask's, one per CPU)")
    parser.add_argument("--la-threads", type=int, default=1,
                        help="lazyarr threads inside each task")
    parser.add_argument("--persist", action="store_true",
                        help="time .persist() (results stay chunks) instead of .compute()")
    parser.add_argument("--disk", type=float, default=None, metavar="GB",
                        help="also run over an on-disk array of this many GB")
    parser.add_argument("--tmpdir", default=None, help="where the --disk file goes")
    parser.add_argument("--shared-map", action="store_true",
                        help="--disk: read through one np.memmap that stays open")
    parser.add_argument("--skip-memory", action="store_true",
                        help="only the --disk run")
    # the subprocess of one engine in the --disk run
    parser.add_argument("--disk-child", choices=("dask", "lazyarr"), help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--n-disk", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    unknown = set(args.workloads.split(",")) - set(BY_KEY)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    # worker processes (processes, distributed) read it when they import lazyarr
    os.environ["LAZYARR_NUM_THREADS"] = str(args.la_threads)
    la.set_num_threads(args.la_threads)
    if args.disk_child:
        args.engine = args.disk_child
        disk_child(args)
        return
    if not args.skip_memory:
        run_memory(args)
    if args.disk is not None:
        run_disk(args)


if __name__ == "__main__":
    main()
