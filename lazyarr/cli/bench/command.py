"""``python -m lazyarr bench``'s arguments, the run across worker processes, and the plot."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from . import backward, daskrun, fuserun, narrowrun, nnrun, randomrun
from .report import report
from .timing import usable_cpus
from .worker import machine, spawn_worker
from .workloads import (
    BY_KEY,
    MATRIX,
    PEERS,
    QUICK_MATRIX,
    QUICK_SIZES,
    SCHEMA,
    SHORT,
    SIZES,
    Config,
)


# -- plot --------------------------------------------------------------------------------------
def plot(doc: dict[str, Any], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    panels = [(run, dtype) for run in doc["runs"]
              for dtype in dict.fromkeys(r["dtype"] for r in run["results"])]
    keys = list(dict.fromkeys(r["workload"] for run in doc["runs"] for r in run["results"]
                              if len(r["shape"]) == 1))
    if not keys or not panels:
        return False
    per_row = 3
    rows_each = -(-len(keys) // per_row)  # a block of rows per (thread count, dtype)
    fig, axes = plt.subplots(rows_each * len(panels), per_row, squeeze=False,
                             figsize=(4.2 * per_row, 2.9 * rows_each * len(panels)))
    for block, (run, dtype) in enumerate(panels):
        for k, key in enumerate(keys):
            ax = axes[block * rows_each + k // per_row][k % per_row]
            _plot_panel(ax, run, dtype, key)
        for k in range(len(keys), rows_each * per_row):
            axes[block * rows_each + k // per_row][k % per_row].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.25 / fig.get_figheight()))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def _plot_panel(ax: Any, run: dict[str, Any], dtype: str, key: str) -> None:
    rows = [r for r in run["results"] if r["workload"] == key and r["dtype"] == dtype]
    for impl in run["impls"]:
        points = [(r["n"], r["times"][impl] * 1e3) for r in rows if impl in r["times"]]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", ms=3, label=SHORT[impl])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title(f"{rows[0]['name'] if rows else key}, {dtype}, {run['threads']} thr",
                 fontsize=8)
    ax.set_xlabel("elements", fontsize=7)
    ax.set_ylabel("ms", fontsize=7)
    ax.tick_params(labelsize=7)


# -- command line ------------------------------------------------------------------------------
def _int_list(text: str) -> list[int]:
    values = []
    for part in text.split(","):
        value = float(part.strip().replace("10**", "1e"))
        if value != int(value) or value < 1:
            raise argparse.ArgumentTypeError(f"not a positive integer: {part!r}")
        values.append(int(value))
    return values


def _matrix(text: str) -> tuple[int, int]:
    rows, cols = (int(x) for x in text.lower().split("x"))
    return rows, cols


def _names(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [] if text.strip() in ("", "none") else [x.strip() for x in text.split(",")]
        bad = [x for x in names if x not in allowed]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(allowed)}")
        return names
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", type=_int_list, default=None,
                        help="elements per array, e.g. 1e3,1e5 (default 1e3..1e7; quick 1e3,1e5)")
    parser.add_argument("--dtypes", type=_names(("float32", "float64")), default=None,
                        help="default float32,float64 (quick: float64)")
    parser.add_argument("--threads", type=_int_list, default=[1],
                        help="thread counts, one worker process each, e.g. 1,2 (default 1)")
    parser.add_argument("--peers", type=_names(PEERS), default=list(PEERS),
                        help="peers to try if installed (default numexpr,numba,jax,torch; "
                             "torch: backward workloads only; 'none')")
    every = (*BY_KEY, *backward.BY_KEY, daskrun.KEY, *randomrun.KEYS, *narrowrun.KEYS,
             fuserun.KEY, nnrun.KEY)
    parser.add_argument("--workloads", type=_names(every), default=list(every),
                        help=f"subset of {','.join(BY_KEY)}; backward (float32, at --matrix "
                             f"and the largest size): {','.join(backward.BY_KEY)}; "
                             "dask: lazyarr over Dask arrays against Dask with NumPy; "
                             "random, quant: random numbers, dropout, int8 quantisation; "
                             "narrow, complex: float16/bfloat16 and complex workloads; "
                             "fuse: @la.fuse calls with new arrays; nn: la.nn layers and "
                             "AdamW against PyTorch and JAX")
    parser.add_argument("--matrix", type=_matrix, default=None,
                        help="rows x cols of the row-wise workloads (default 4096x1024)")
    parser.add_argument("--triad-size", type=int, default=None,
                        help="float64 elements per triad array (default 1e7; quick 4e6)")
    parser.add_argument("--repeat", type=int, default=None, help="samples per timing (median)")
    parser.add_argument("--quick", action="store_true",
                        help="a CI-sized run: small sizes, fewer samples")
    parser.add_argument("--json", default="bench-results/bench.json", help="results file")
    parser.add_argument("--plot", default=None,
                        help="plot file, when matplotlib is importable (default "
                             "bench-results/bench.png; none with --quick unless given)")
    parser.add_argument("--no-plot", action="store_true", help="skip the plot")
    parser.add_argument("--from-json", metavar="PATH",
                        help="run nothing: print the tables (and plot) of a saved run")


def config_from(args: argparse.Namespace) -> Config:
    quick = args.quick
    return Config(
        sizes=args.sizes or list(QUICK_SIZES if quick else SIZES),
        dtypes=args.dtypes or (["float64"] if quick else ["float32", "float64"]),
        threads=args.threads, peers=args.peers, workloads=args.workloads,
        matrix=args.matrix or (QUICK_MATRIX if quick else MATRIX),
        triad_size=args.triad_size or (4 * 10**6 if quick else 10**7),
        repeat=args.repeat or (3 if quick else 7),
        min_sample_s=0.002 if quick else 0.01,
        compile_trials=3 if quick else 7,
        process_repeat=1 if quick else 3,
        quick=quick,
    )


def show(doc: dict[str, Any], json_path: str, plot_path: str | None) -> None:
    print(report(doc))
    print(f"\nJSON: {json_path}")
    if plot_path and plot(doc, plot_path):
        print(f"plot: {plot_path}")


def run(args: argparse.Namespace, argv: Sequence[str] | None = None) -> int:
    plot_path = None if args.no_plot else (
        args.plot or (None if args.quick else "bench-results/bench.png"))
    if args.from_json:  # tables and plot again, from a finished run
        with open(args.from_json) as f:
            show(json.load(f), args.from_json, plot_path)
        return 0
    cfg = config_from(args)
    usable = len(usable_cpus())
    if max(cfg.threads) > usable:
        print(f"warning: {max(cfg.threads)} threads on {usable} usable CPUs", file=sys.stderr)
    command = " ".join(["python -m lazyarr", *(argv or ["bench"])])
    doc: dict[str, Any] = {
        "schema": SCHEMA, "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(), "config": asdict(cfg), "runs": []}
    with tempfile.TemporaryDirectory(prefix="lazyarr-bench-") as folder:
        for k, threads in enumerate(cfg.threads):
            doc["runs"].append(spawn_worker(cfg, threads, extras=k == 0, folder=folder))
    first = doc["runs"][0]
    doc["peers"] = first["peers"]
    doc["overhead"] = first.pop("overhead", None)
    doc["compile"] = first.pop("compile", None)
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(doc, f, indent=1)
    show(doc, args.json, plot_path)
    return 0
