"""What one ``eval`` of a small expression on device arrays costs from Python.

Microseconds per evaluation of ``2*x + y`` over ``-n`` float32 device elements, best of 5
rounds: a held expression evaluated again, and a new expression over other arrays each
time (64 pairs, more than the operators' memo keeps: a layer's next batch).

    python benchmarks/gpu_overhead.py              # on the GPU
    python benchmarks/gpu_overhead.py --emulate    # on the emulated device of the tests:
                                                   # driver calls cost next to nothing and
                                                   # kernels run on the CPU, so this is the
                                                   # Python side alone

``--emulate`` needs a C compiler and the repository's tests folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

PAIRS = 64  # the operators' memo keeps 64 lazy arrays (fastpath.WRAPPERS), two per `2*x + y`


def emulate() -> None:
    """The stand-in driver and the CPU emulator of ``tests/test_cuda_nogpu.py``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import test_cuda_nogpu

    test_cuda_nogpu.emulate_for_the_session(Path(tempfile.mkdtemp(prefix="lazyarr-fake-")))


def best_us(fn: Callable[[], Any], calls: int, rounds: int = 5,
            wait: Callable[[Any], None] | None = None) -> float:
    """Microseconds per call of ``fn``, the best of ``rounds`` rounds of ``calls``, each
    round ended by ``wait`` on the last result (by default: the device drained)."""
    if wait is None:
        from lazyarr.backends import cuda_driver

        def wait(_: Any) -> None:
            cuda_driver.synchronize()

    for _ in range(2):  # the first evaluations plan, lower and compile
        fn()
    wait(fn())
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls - 1):
            fn()
        wait(fn())
        best = min(best, (time.perf_counter() - start) / calls * 1e6)
    return best


def expressions(x: np.ndarray, y: np.ndarray) -> tuple[Any, Callable[[], Any]]:
    """``2*x + y`` over device copies of ``x`` and ``y``: one lazy array to evaluate again
    (a held expression), and a call that writes and evaluates a new expression over other
    copies each time (``PAIRS`` of them, more than the operators' memo keeps, so none is
    the lazy array of an earlier call: a layer's next batch)."""
    import lazyarr as la

    pairs = [(la.asarray(x, device="cuda"), la.asarray(y, device="cuda"))
             for _ in range(PAIRS)]
    held = 2 * pairs[0][0] + pairs[0][1]
    turn = iter(range(1 << 62))

    def new() -> Any:
        a, b = pairs[next(turn) % PAIRS]
        return (2 * a + b).eval()

    return held, new


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=1000, help="elements of each array")
    p.add_argument("--calls", type=int, default=2000, help="evaluations per round")
    p.add_argument("--emulate", action="store_true", help="on the emulated device")
    args = p.parse_args(argv)
    if args.emulate:
        emulate()
    from lazyarr.backends import cuda_driver

    if not cuda_driver.is_available():
        print(f"no usable CUDA GPU: {cuda_driver.why_unavailable()}", file=sys.stderr)
        return 2
    h = np.random.default_rng(0).standard_normal(args.n).astype(np.float32)
    held, new = expressions(h, h)
    where = "emulated device" if args.emulate else cuda_driver.context().name
    print(f"2*x + y, {args.n} float32 elements, {where}:")
    print(f"  held expression: {best_us(held.eval, args.calls):.1f} us per eval")
    print(f"  new expression:  {best_us(new, max(args.calls // 4, 1)):.1f} us per eval")
    return 0


if __name__ == "__main__":
    sys.exit(main())
