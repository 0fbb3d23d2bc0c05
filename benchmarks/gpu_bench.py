"""Effective memory bandwidth of lazyarr's CUDA kernels against a device-to-device copy,
CuPy (``cupy.fuse`` / ``ElementwiseKernel``) and ``torch.compile``, on one GPU in one run.

Effective bandwidth = (bytes of each input read once + bytes of each output written once) /
median time, timed with CUDA events around ``--repeat`` back-to-back calls. The copy's figure
is ``cuMemcpyDtoD`` of the same number of float32 elements (read + write). Two lazyarr
columns: ``launch`` times the compiled kernel alone (argument block packed once, as CuPy and
torch.compile reuse theirs), ``eval`` times ``expr.eval()`` from Python each call (lowering,
packing, allocation from the caching allocator, launch).

    python benchmarks/gpu_bench.py                 # 10**8 float32 elements, markdown table
    python benchmarks/gpu_bench.py -n 10000000 --repeat 50 --only axpy,gelu

Needs an NVIDIA GPU; CuPy and PyTorch are optional (their columns are then "-").
"""

from __future__ import annotations

import argparse
import datetime
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from lazyarr.backends import cuda, cuda_driver, cuda_memory

import lazyarr as la


@dataclass
class Workload:
    name: str
    inputs: int  # float32 arrays of n elements read
    outputs: int  # float32 arrays written (of n elements, unless `out_elems` says otherwise)
    lazy: Callable[..., Any]  # lazyarr arrays -> lazy expression
    cupy: str | None  # body of a cupy ElementwiseKernel over x0..xk -> y, or None
    torch: Callable[..., Any] | None  # torch tensors -> tensor
    rows: int = 0  # softmax: row length
    out_elems: Callable[[int], int] | None = None


def _gelu(m: Any, x: Any) -> Any:
    return 0.5 * x * (1 + m.tanh(0.7978845608 * (x + 0.044715 * x * x * x)))


def workloads() -> list[Workload]:
    return [
        Workload("axpy", 2, 1, lambda a, b: 2 * a + b, "y = 2 * x0 + x1",
                 lambda a, b: 2 * a + b),
        Workload("poly5", 5, 1, lambda a, b, c, d, e: a * b + c * d - e,
                 "y = x0 * x1 + x2 * x3 - x4", lambda a, b, c, d, e: a * b + c * d - e),
        Workload("exp_sin_cos", 3, 1, lambda a, b, c: la.exp(-a) * la.sin(b) + la.cos(c),
                 "y = expf(-x0) * sinf(x1) + cosf(x2)",
                 lambda a, b, c: (-a).exp() * b.sin() + c.cos()),
        Workload("gelu", 1, 1, lambda x: _gelu(la, x),
                 "y = 0.5f * x0 * (1 + tanhf(0.7978845608f * (x0 + 0.044715f * x0*x0*x0)))",
                 lambda x: _gelu(_TorchMath, x)),
        Workload("leaky_relu", 1, 1, lambda x: la.where(x > 0, x, 0.1 * x),
                 "y = x0 > 0 ? x0 : 0.1f * x0", lambda x: x.where(x > 0, 0.1 * x)),
        Workload("sum", 1, 1, lambda x: x.sum(), None, lambda x: x.sum(),
                 out_elems=lambda n: 1),
        Workload("softmax_1024", 1, 1, _softmax, None,
                 lambda x: x.softmax(dim=-1), rows=1024),
    ]


def _softmax(x: Any) -> Any:
    e = la.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


class _TorchMath:
    @staticmethod
    def tanh(x: Any) -> Any:
        return x.tanh()


# -- timing ---------------------------------------------------------------------------------
def time_ms(fn: Callable[[], Any], repeat: int, rounds: int = 5) -> float:
    """Median over ``rounds`` of (events around ``repeat`` calls) / repeat, in ms."""
    fn()  # compile, allocate, warm caches
    cuda_driver.synchronize()
    times = []
    for _ in range(rounds):
        start, end = cuda_driver.Event(), cuda_driver.Event()
        start.record()
        for _ in range(repeat):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_ms(end) / repeat)
    return statistics.median(times)


def gbps(nbytes: int, ms: float) -> float:
    return nbytes / (ms * 1e-3) / 1e9


def copy_ms(n: int, repeat: int) -> float:
    src = cuda_memory.DeviceArray.empty((n,), np.float32)
    dst = cuda_memory.DeviceArray.empty((n,), np.float32)
    return time_ms(lambda: cuda_driver.memcpy_dtod(dst.ptr, src.ptr, 4 * n), repeat)


def lazy_launch_only(expr: Any) -> Callable[[], None]:
    """A call that launches ``expr``'s one fused kernel with a prepared argument block."""
    from lazyarr.ir.loop import pack_args
    from lazyarr.run.runtime import single_launch

    node = expr._node
    out = cuda_memory.DeviceArray.empty(node.shape, node.dtype)
    launch = single_launch([node], [out], cpu=False)  # raises for several kernels
    variant = cuda.choose_variant(launch)
    fn = cuda.runner().function(cuda.Key(launch.kernel, variant, cuda.arch(), cuda.libdevice()))
    words, _ = pack_args(launch)
    words[-1] = 0
    grid, block = cuda.grid_for(launch, variant, cuda.sm_count())
    run = cuda.runner()

    def call() -> None:
        run.launch(fn, grid, block, words)

    call.buffers = (launch, out)  # type: ignore[attr-defined]  # alive as long as the call
    return call


# -- peers ------------------------------------------------------------------------------------
def cupy_call(w: Workload, hosts: list[np.ndarray]) -> Callable[[], Any] | None:
    try:
        import cupy
    except ImportError:
        return None
    xs = [cupy.asarray(h) for h in hosts]
    if w.cupy is not None:
        params = ", ".join(f"float32 x{k}" for k in range(len(xs)))
        kernel = cupy.ElementwiseKernel(params, "float32 y", w.cupy, f"lazyarr_bench_{w.name}")
        return lambda: kernel(*xs)
    if w.name == "sum":
        fused = cupy.fuse()(lambda x: cupy.sum(x))
        return lambda: fused(xs[0])
    if w.rows:
        def softmax(x: Any) -> Any:
            e = cupy.exp(x - x.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)

        return lambda: softmax(xs[0])
    return None


def torch_call(w: Workload, hosts: list[np.ndarray]) -> Callable[[], Any] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available() or w.torch is None:
        return None
    xs = [torch.from_numpy(h).cuda() for h in hosts]
    compiled = torch.compile(w.torch)
    return lambda: compiled(*xs)


# -- the run ------------------------------------------------------------------------------------
def inputs(w: Workload, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = (n // w.rows, w.rows) if w.rows else (n,)
    return [rng.standard_normal(shape, dtype=np.float32) for _ in range(w.inputs)]


def run_workload(w: Workload, n: int, repeat: int) -> dict[str, Any]:
    hosts = inputs(w, n)
    arrays = [la.asarray(h, device="cuda") for h in hosts]
    expr = w.lazy(*arrays)
    elems = math.prod(hosts[0].shape)
    out = w.out_elems(elems) if w.out_elems else elems
    nbytes = 4 * (elems * w.inputs + out * w.outputs)
    row: dict[str, Any] = {"workload": w.name, "MB": nbytes / 1e6}
    try:
        row["launch"] = gbps(nbytes, time_ms(lazy_launch_only(expr), repeat))
    except Exception as exc:  # several kernels (or refused): report eval only
        row["launch"] = None
        row["note"] = type(exc).__name__
    row["eval"] = gbps(nbytes, time_ms(lambda: expr.eval(), repeat))
    for name, make in (("cupy", cupy_call), ("torch.compile", torch_call)):
        call = make(w, hosts)
        row[name] = gbps(nbytes, time_ms(call, repeat)) if call else None
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10**8, help="float32 elements per input")
    p.add_argument("--repeat", type=int, default=20, help="calls between two events")
    p.add_argument("--only", default="", help="comma-separated workload names")
    args = p.parse_args(argv)
    if not cuda_driver.is_available():
        print(f"no usable CUDA GPU: {cuda_driver.why_unavailable()}", file=sys.stderr)
        return 2
    ctx = cuda_driver.context()
    copy = gbps(8 * args.n, copy_ms(args.n, args.repeat))
    chosen = [w for w in workloads() if not args.only or w.name in args.only.split(",")]
    print(f"# lazyarr CUDA benchmark: {ctx.name} ({ctx.arch}, {ctx.sm_count} SMs), "
          f"{datetime.date.today()}, n = {args.n:,} float32")
    print(f"\ndevice-to-device copy: {copy:.0f} GB/s; libdevice: {cuda.libdevice() or 'absent'}\n")
    print("| workload | MB moved | lazyarr launch GB/s (% copy) | lazyarr eval GB/s | "
          "CuPy GB/s | torch.compile GB/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for w in chosen:
        r = run_workload(w, args.n, args.repeat)

        def cell(v: float | None, pct: bool = False) -> str:
            if v is None:
                return "-"
            return f"{v:.0f} ({100 * v / copy:.0f}%)" if pct else f"{v:.0f}"

        print(f"| {r['workload']} | {r['MB']:.0f} | {cell(r['launch'], True)} | "
              f"{cell(r['eval'])} | {cell(r['cupy'])} | {cell(r['torch.compile'])} |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
