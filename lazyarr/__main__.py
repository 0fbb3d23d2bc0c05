"""Command line: ``python -m lazyarr demo`` times fused evaluation against NumPy."""

from __future__ import annotations

import argparse
import sys

from . import demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lazyarr")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="fused evaluation against NumPy, with timings")
    d.add_argument("--size", type=int, default=10_000_000, help="elements per array")
    d.add_argument("--repeat", type=int, default=7, help="timed runs per workload (median)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return demo.run(args.size, args.repeat)
    return 2


if __name__ == "__main__":
    sys.exit(main())
