"""Command line.

``python -m lazyarr demo`` times fused evaluation against NumPy; ``python -m lazyarr explain
"2*a + exp(-b)" --shape 1000 --dtype float32`` shows every compilation stage of an expression;
``python -m lazyarr bench`` measures lazyarr against NumPy and its peers (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import sys

from lazyarr.cli import bench, demo
from lazyarr.cli import explain as cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lazyarr")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="fused evaluation against NumPy, with timings")
    d.add_argument("--size", type=int, default=10_000_000, help="elements per array")
    d.add_argument("--repeat", type=int, default=7, help="timed runs per workload (median)")
    e = sub.add_parser("explain", help="every compilation stage of an expression",
                       description="Parse EXPRESSION safely (never eval'd) and show its graph, "
                                   "kernel plan, loop IR, LLVM IR and assembly or PTX.")
    cli.add_arguments(e)
    b = sub.add_parser("bench", help="lazyarr against NumPy, numexpr, Numba and JAX",
                       description="Time the workloads of issue 4 against NumPy and the "
                                   "installed peers; print tables, write JSON and a plot.")
    bench.add_arguments(b)
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.run(args.size, args.repeat)
    if args.command == "explain":
        return cli.run_explain(args)
    if args.command == "bench":
        return bench.run(args, sys.argv[1:] if argv is None else argv)
    return 2


if __name__ == "__main__":
    sys.exit(main())
