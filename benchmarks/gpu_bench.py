"""lazyarr's CUDA kernels against the device's copy bandwidth and its peers, in one run.

For each workload and dtype: lazyarr (``kernel``: the one compiled launch with a prepared
argument block, as CuPy and torch.compile reuse theirs; ``eval``: ``expr.eval()`` from Python
each call), CuPy (plain and ``cupy.fuse``), PyTorch (eager and ``torch.compile``) and
``jax.jit``, each where installed and able to run it. Effective bandwidth = (bytes of each
input read once + bytes of each output written once) / median time. lazyarr, CuPy and PyTorch
are timed with CUDA events around ``--repeat`` back-to-back calls (``--rounds`` medians);
JAX has no event API, so it is timed by the host clock with the device idle before and
``block_until_ready`` after the calls. The ceiling is ``cuMemcpyDtoD`` of the largest
workload's bytes, counting bytes read plus written.

Every result is checked against NumPy in float64 on the inputs' values (sampled elements or
rows; all of a reduction; the full output for NaN and inf), and lazyarr's is computed into
memory filled with NaN bytes first, so an element it fails to write cannot pass. Also
measured: the launch overhead of a cached kernel (microseconds per ``eval`` of a small
expression on device arrays) and, for the elementwise workloads, whether the GPU's bits are
the CPU backend's (lazyarr's own math is the same IR on both).

    python benchmarks/gpu_bench.py                       # the issue's sizes: 10**8, 8192x4096
    python benchmarks/gpu_bench.py -n 10**7 --only axpy,gelu --dtypes float32
    python benchmarks/gpu_bench.py --json out.json --table out.md

Needs an NVIDIA GPU (exit status 2 without one); a failed lazyarr check gives exit status 1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lazyarr.backends import cuda, cuda_driver, cuda_memory

import lazyarr as la

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # its sibling scripts
import gpu_overhead

# JAX takes 75% of the GPU's memory at start unless told not to, which would starve the others
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

EPS = 1e-5  # layer norm's epsilon (PyTorch's default)
SAMPLE = 1 << 20  # elements checked against NumPy per elementwise result
SAMPLE_ROWS = 32  # rows checked per row-kernel result
BITS_PREFIX = 1 << 22  # elements compared bit for bit with the CPU backend


# -- workloads ---------------------------------------------------------------------------------
def _gelu(m: Any, x: Any) -> Any:
    return 0.5 * x * (1 + m.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))


def _softmax(m: Any, x: Any) -> Any:
    e = m.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _layer_norm(m: Any, x: Any, w: Any, b: Any) -> Any:
    mu = x.mean(axis=-1, keepdims=True)
    d = x - mu
    return d / m.sqrt((d * d).mean(axis=-1, keepdims=True) + EPS) * w + b


@dataclass(frozen=True)
class Workload:
    """One benchmark: ``generic(m, *xs)`` over a NumPy-like namespace ``m`` (NumPy, CuPy,
    jax.numpy, and lazyarr unless ``lazy`` says otherwise; PyTorch too unless ``torch``)."""

    name: str
    kind: str  # "elementwise", "reduction" (to a scalar) or "rows" (over the last axis)
    inputs: int  # big inputs; a rows workload may add per-column parameters
    generic: Callable[..., Any]
    lazy: Callable[..., Any] | None = None  # (*lazyarr arrays) -> lazy expression
    torch: Callable[..., Any] | None = None  # (torch, *tensors) -> tensor
    params: int = 0  # per-column parameter vectors of a rows workload (weight, bias)
    fusable: bool = True  # whether cupy.fuse can express it


def workloads() -> list[Workload]:
    return [
        Workload("2a+3b", "elementwise", 2, lambda m, a, b: 2 * a + 3 * b),
        Workload("ab+cd", "elementwise", 4, lambda m, a, b, c, d: a * b + c * d),
        Workload("exp_sin_cos", "elementwise", 3,
                 lambda m, a, b, c: m.exp(-a) * m.sin(b) + m.cos(c)),
        Workload("gelu", "elementwise", 1, _gelu),
        Workload("sum(ab)", "reduction", 2, lambda m, a, b: m.sum(a * b)),
        Workload("softmax", "rows", 1, _softmax, lazy=lambda x: la.nn.softmax(x, axis=-1),
                 torch=lambda t, x: t.softmax(x, dim=-1), fusable=False),
        Workload("layer_norm", "rows", 1, _layer_norm,
                 lazy=lambda x, w, b: la.nn.layer_norm(x, x.shape[-1:], w, b, eps=EPS),
                 torch=lambda t, x, w, b: t.nn.functional.layer_norm(
                     x, x.shape[-1:], w, b, eps=EPS),
                 params=2, fusable=False),
    ]


# -- inputs and NumPy's answers ----------------------------------------------------------------
@dataclass
class Case:
    """One workload at one dtype: host inputs, bytes moved, and how results are checked."""

    work: Workload
    dtype: np.dtype
    hosts: list[np.ndarray]  # in ``dtype``
    nbytes: int  # inputs read once + output written once
    picks: np.ndarray  # flat indices (elementwise) or row numbers (rows) checked
    reference: np.ndarray  # float64 NumPy on the inputs' values, at ``picks``
    scale: float = 1.0  # a reduction's sum of |terms|, the measure of its rounding error

    def sample(self, out: np.ndarray) -> np.ndarray:
        if self.work.kind == "reduction":
            return np.asarray(out, dtype=np.float64).reshape(())
        if self.work.kind == "rows":
            return np.asarray(out[self.picks], dtype=np.float64)
        return np.asarray(out.reshape(-1)[self.picks], dtype=np.float64)

    def check(self, out: Any) -> tuple[bool, float, str]:
        """(passed, error, why not): the error is |out - ref| / sum|terms| for the scalar
        of a reduction and ||out - ref|| / ||ref|| (norm over the sample) otherwise, where
        every sampled element must also lie within 10x the tolerance of the rms of ref."""
        out = np.asarray(out)
        expected_shape = () if self.work.kind == "reduction" else self.hosts[0].shape
        if out.shape != expected_shape or out.dtype != self.dtype:
            return False, math.inf, f"got {out.dtype}{list(out.shape)}"
        if not np.isfinite(out).all():
            return False, math.inf, f"{np.count_nonzero(~np.isfinite(out))} non-finite"
        got = self.sample(out)
        # float32: PyTorch's CPU sin and cos measured 4e-5 here (a GPU's may differ): a peer is
        # not failed for that; an unwritten or misplaced element is off by far more
        tol = 1e-4 if self.dtype == np.float32 else 1e-12
        if self.work.kind == "reduction":
            err = float(abs(got - self.reference) / self.scale)
            return err <= tol, err, "" if err <= tol else f"error {err:.2e} > {tol:.0e}"
        err = float(np.linalg.norm(got - self.reference) / np.linalg.norm(self.reference))
        # one wrong element among a million hardly moves the norm: each element too, against
        # the typical magnitude (a value near 0 may be off by rounding the others')
        rms = float(np.sqrt(np.mean(self.reference**2)))
        worst = float(np.max(np.abs(got - self.reference))) / rms
        if err > tol:
            return False, err, f"error {err:.2e} > {tol:.0e}"
        if worst > 10 * tol:
            return False, err, f"an element off by {worst:.2e} of the rms > {10 * tol:.0e}"
        return True, err, ""


def make_case(work: Workload, dtype: np.dtype, inputs: Inputs) -> Case:
    rng = np.random.default_rng(1)
    hosts = inputs.get(work, dtype)
    scale = 1.0

    def up(a: np.ndarray) -> np.ndarray:  # the values in float64 (only what is checked)
        return a.astype(np.float64)

    if work.kind == "rows":
        picks = np.sort(rng.choice(len(hosts[0]), min(SAMPLE_ROWS, len(hosts[0])),
                                   replace=False))
        reference = work.generic(np, up(hosts[0][picks]), *map(up, hosts[1:]))
        out_elems = hosts[0].size
    elif work.kind == "reduction":
        picks = np.zeros(0, np.int64)
        whole = [up(h) for h in hosts]
        reference = work.generic(np, *whole)
        scale = float(work.generic(np, *map(np.abs, whole)))
        out_elems = 1
    else:
        picks = np.sort(rng.choice(hosts[0].size, min(SAMPLE, hosts[0].size), replace=False))
        reference = work.generic(np, *(up(h[picks]) for h in hosts))
        out_elems = hosts[0].size
    read = sum(h.nbytes for h in hosts)
    return Case(work, np.dtype(dtype), hosts, read + out_elems * np.dtype(dtype).itemsize,
                picks, np.asarray(reference, dtype=np.float64), scale)


@dataclass
class Inputs:
    """Random normal inputs, drawn once in float64 (at 10**8 elements a draw takes a
    second) and cast once per dtype, so workloads share them and each library copies each
    to the device once."""

    n: int
    rows: tuple[int, int]
    pool: list[np.ndarray] = field(default_factory=list)
    made: dict[tuple[int, str, str], np.ndarray] = field(default_factory=dict)

    def draw(self, count: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        size = max(self.n, math.prod(self.rows))
        self.pool = [rng.standard_normal(size) for _ in range(count)]

    def array(self, k: int, what: str, dtype: np.dtype) -> np.ndarray:
        key = (k, what, np.dtype(dtype).name)
        if key not in self.made:
            source = self.pool[k]
            shaped = {"flat": source[:self.n], "rows": source[:math.prod(self.rows)].reshape(
                self.rows), "param": source[:self.rows[1]]}[what]
            self.made[key] = shaped.astype(dtype)
        return self.made[key]

    def get(self, work: Workload, dtype: np.dtype) -> list[np.ndarray]:
        if work.kind != "rows":
            return [self.array(k, "flat", dtype) for k in range(work.inputs)]
        return ([self.array(k, "rows", dtype) for k in range(work.inputs)]
                + [self.array(work.inputs + k, "param", dtype) for k in range(work.params)])

    def forget(self, dtype: np.dtype) -> None:
        for key in [k for k in self.made if k[2] == np.dtype(dtype).name]:
            del self.made[key]


# -- timing ------------------------------------------------------------------------------------
@dataclass
class Clock:
    """``ms(call, repeat)``: one round's time per call. Events where the library has them."""

    new_event: Callable[[], Any] | None  # records on the legacy default stream
    elapsed: Callable[[Any, Any], float] | None  # ms between two events
    wait: Callable[[Any], None]  # blocks until a call's result is ready (the host clock's)

    def ms(self, call: Callable[[], Any], repeat: int) -> float:
        if self.new_event is None or self.elapsed is None:
            self.wait(call())
            t0 = time.perf_counter()
            for _ in range(repeat - 1):
                call()
            self.wait(call())
            return (time.perf_counter() - t0) * 1e3 / repeat
        start, end = self.new_event(), self.new_event()
        start.record()
        for _ in range(repeat):
            call()
        end.record()
        end.synchronize()
        return self.elapsed(start, end) / repeat


def median_ms(clock: Clock, call: Callable[[], Any], repeat: int, rounds: int) -> float:
    clock.wait(call())  # compile, allocate, warm caches
    return statistics.median(clock.ms(call, repeat) for _ in range(rounds))


def _lazy_clock() -> Clock:
    return Clock(cuda_driver.Event, lambda s, e: s.elapsed_ms(e),
                 lambda _: cuda_driver.synchronize())


# -- the libraries -----------------------------------------------------------------------------
class Column:
    """One library's way of running a workload: ``prepare`` returns a call that computes the
    result on the device (None where the library cannot express the workload)."""

    name = ""

    def available(self) -> str | None:
        """None when usable, else why not."""
        return None

    def clock(self) -> Clock:
        raise NotImplementedError

    def put(self, host: np.ndarray) -> Any:
        raise NotImplementedError

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any] | None:
        raise NotImplementedError

    def fetch(self, result: Any) -> np.ndarray:
        return np.asarray(result)

    def release(self) -> None:
        """Return cached device memory between dtypes."""


class LazyEval(Column):
    """``expr.eval()`` each call: lowering, packing, the caching allocator, the launch."""

    name = "lazyarr eval"

    def clock(self) -> Clock:
        return _lazy_clock()

    def put(self, host: np.ndarray) -> Any:
        return la.asarray(host, device="cuda")

    def expression(self, case: Case, xs: list[Any]) -> la.LazyArray:
        w = case.work
        return w.lazy(*xs) if w.lazy else w.generic(la, *xs)

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any]:
        expr = self.expression(case, xs)
        return expr.eval

    def fetch(self, result: Any) -> np.ndarray:
        return result.to_numpy()

    def release(self) -> None:
        la.clear_cache()  # the operators' memo holds lazy arrays over the device inputs
        cuda_memory.empty_cache()


class LazyKernel(LazyEval):
    """The compiled kernel(s) alone, launched with an argument block packed once."""

    name = "lazyarr kernel"

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any]:
        return kernel_call(self.expression(case, xs))


def kernel_call(expr: la.LazyArray) -> Callable[[], Any]:
    """A call that launches ``expr``'s one fused kernel into one preallocated output with an
    argument block packed once (a split reduction: its two launches through ``cuda.run``);
    ValueError where the plan needs several kernels."""
    from lazyarr.run.runtime import single_launch

    node = expr._node
    out = cuda_memory.DeviceArray.empty(node.shape, node.dtype)
    launch = single_launch([node], [out], cpu=False)
    ready = cuda.ready(launch)
    if ready is None:
        def call() -> Any:
            cuda.run(launch)
            return out
    else:
        words = ready.words.copy()
        words[ready.slot] = out.ptr

        def call() -> Any:
            ready.runner.launch(ready.fn, ready.grid, ready.block, words)
            return out

    call.out = out  # type: ignore[attr-defined]
    return call


def poison(call: Callable[[], Any]) -> None:
    """Fill the memory lazyarr's next result can land in with NaN bytes: a kernel that
    skips an element must not pass on the bits an earlier call left there."""
    cuda_driver.synchronize()
    cuda_memory.allocator.fill_cached(0xFF)
    out = getattr(call, "out", None)
    if out is not None:
        cuda_driver.memset_d8(out.ptr, 0xFF, out.nbytes)


class CupyPlain(Column):
    name = "CuPy"

    def available(self) -> str | None:
        try:
            import cupy

            cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # not installed, or no device it can use
            return f"{type(exc).__name__}: {exc}"
        return None

    def clock(self) -> Clock:
        import cupy

        return Clock(cupy.cuda.Event, cupy.cuda.get_elapsed_time,
                     lambda _: cupy.cuda.Device().synchronize())

    def put(self, host: np.ndarray) -> Any:
        import cupy

        return cupy.asarray(host)

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any] | None:
        import cupy

        return lambda: case.work.generic(cupy, *xs)

    def fetch(self, result: Any) -> np.ndarray:
        import cupy

        return cupy.asnumpy(result)

    def release(self) -> None:
        import cupy

        cupy.get_default_memory_pool().free_all_blocks()


class CupyFuse(CupyPlain):
    name = "cupy.fuse"

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any] | None:
        import cupy

        if not case.work.fusable:
            return None
        generic = case.work.generic
        fused = cupy.fuse(kernel_name=f"bench_{len(xs)}")(lambda *a: generic(cupy, *a))
        return lambda: fused(*xs)


class TorchEager(Column):
    name = "torch eager"

    def available(self) -> str | None:
        try:
            import torch
        except ImportError as exc:
            return f"ImportError: {exc}"
        return None if torch.cuda.is_available() else "PyTorch without CUDA"

    def clock(self) -> Clock:
        import torch

        return Clock(lambda: torch.cuda.Event(enable_timing=True),
                     lambda s, e: s.elapsed_time(e), lambda _: torch.cuda.synchronize())

    def put(self, host: np.ndarray) -> Any:
        import torch

        return torch.from_numpy(host).cuda()

    def function(self, case: Case) -> Callable[..., Any]:
        import torch

        w = case.work
        if w.torch is not None:
            return lambda *a: w.torch(torch, *a)
        return lambda *a: w.generic(torch, *a)

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any] | None:
        fn = self.function(case)
        return lambda: fn(*xs)

    def fetch(self, result: Any) -> np.ndarray:
        return result.cpu().numpy()

    def release(self) -> None:
        import torch

        torch.cuda.empty_cache()


class TorchCompile(TorchEager):
    name = "torch.compile"

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any] | None:
        import torch

        compiled = torch.compile(self.function(case), dynamic=False)
        return lambda: compiled(*xs)


class JaxJit(Column):
    name = "jax.jit"

    def available(self) -> str | None:
        try:
            import jax
        except ImportError as exc:
            return f"ImportError: {exc}"
        jax.config.update("jax_enable_x64", True)  # float64 arrays stay float64
        if not any(d.platform == "gpu" for d in jax.devices()):
            return f"JAX without a GPU ({jax.devices()[0].platform})"
        return None

    def clock(self) -> Clock:
        import jax

        return Clock(None, None, jax.block_until_ready)

    def put(self, host: np.ndarray) -> Any:
        import jax

        return jax.device_put(host, jax.devices("gpu")[0])

    def prepare(self, case: Case, xs: list[Any]) -> Callable[[], Any] | None:
        import jax
        import jax.numpy as jnp

        w = case.work
        if w.name == "softmax":  # JAX's own, as PyTorch's column uses PyTorch's
            fn = jax.jit(lambda x: jax.nn.softmax(x, axis=-1))
        else:
            fn = jax.jit(lambda *a: w.generic(jnp, *a))
        return lambda: fn(*xs)


def columns() -> list[Column]:
    return [LazyKernel(), LazyEval(), CupyPlain(), CupyFuse(), TorchEager(), TorchCompile(),
            JaxJit()]


# -- one measurement ---------------------------------------------------------------------------
@dataclass
class Cell:
    ms: float | None = None
    gbps: float | None = None
    ok: bool | None = None
    error: float | None = None  # the check's relative error
    note: str = ""  # why there is no figure, or why the check failed


def measure(col: Column, case: Case, xs: list[Any], args: argparse.Namespace) -> Cell:
    try:
        call = col.prepare(case, xs)
        if call is None:
            return Cell(note="not expressible")
        ms = median_ms(col.clock(), call, args.repeat, args.rounds)
        if isinstance(col, LazyEval):
            poison(call)
        ok, err, why = case.check(col.fetch(call()))
    except Exception as exc:
        note = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if isinstance(col, LazyEval) and not isinstance(exc, ValueError):
            traceback.print_exc(file=sys.stderr)
        return Cell(note=note[:200])
    return Cell(ms, case.nbytes / (ms * 1e-3) / 1e9, ok, err, why)


@dataclass
class Row:
    workload: str
    dtype: str
    shape: list[int]
    megabytes: float
    cells: dict[str, Cell] = field(default_factory=dict)

    def best_peer(self) -> tuple[str, float] | None:
        peers = [(name, c.gbps) for name, c in self.cells.items()
                 if not name.startswith("lazyarr") and c.gbps is not None and c.ok]
        return max(peers, key=lambda p: p[1]) if peers else None


def run_cases(cols: list[Column], cases_by_dtype: Iterator[list[Case]],
              args: argparse.Namespace, started: float) -> list[Row]:
    rows: list[Row] = []
    for cases in cases_by_dtype:
        for col in cols:
            placed: dict[int, Any] = {}  # one device copy of each host input per library
            for case in cases:
                row = next((r for r in rows if r.workload == case.work.name
                            and r.dtype == case.dtype.name), None)
                if row is None:
                    row = Row(case.work.name, case.dtype.name, list(case.hosts[0].shape),
                              case.nbytes / 1e6)
                    rows.append(row)
                late = time.monotonic() - started > args.deadline
                if late and not col.name.startswith("lazyarr"):
                    row.cells[col.name] = Cell(note="skipped: past --deadline")
                    continue
                xs = [placed.setdefault(id(h), col.put(h)) for h in case.hosts]
                row.cells[col.name] = measure(col, case, xs, args)
                log(f"{case.work.name:12} {case.dtype.name:8} {col.name:15} "
                    f"{_cell_text(row.cells[col.name])}")
            placed.clear()
            col.release()
    return rows


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the extras: copy ceiling, launch overhead, bits against the CPU ---------------------------
def copy_gbps(nbytes: int, repeat: int, rounds: int) -> float:
    n = nbytes // 2  # read + written
    src = cuda_memory.DeviceArray.empty((n,), np.uint8)
    dst = cuda_memory.DeviceArray.empty((n,), np.uint8)
    cuda_driver.memset_d8(src.ptr, 1, n)
    ms = median_ms(_lazy_clock(), lambda: cuda_driver.memcpy_dtod(dst.ptr, src.ptr, n),
                   repeat, rounds)
    return 2 * n / (ms * 1e-3) / 1e9


def launch_overhead(cols: list[Column], calls: int = 2000, n: int = 1000) -> dict[str, float]:
    """Microseconds per call of ``2*a + b`` on ``n`` float32 device elements, host clock,
    the device drained at the end: what a small expression costs from Python."""
    rng = np.random.default_rng(2)
    hosts = [rng.standard_normal(n).astype(np.float32) for _ in range(2)]
    work = Workload("2a+b", "elementwise", 2, lambda m, a, b: 2 * a + b)
    case = Case(work, np.dtype(np.float32), hosts, 0, np.arange(n),
                2 * hosts[0].astype(np.float64) + hosts[1])
    result: dict[str, float] = {}
    held, new_expression = gpu_overhead.expressions(*hosts)
    variants = {"lazyarr eval of a held expression": held.eval,
                "lazyarr eval of a new expression": new_expression,
                "lazyarr kernel alone": kernel_call(held)}
    for col in cols:
        if col.name.startswith("lazyarr") or col.available() is not None:
            continue
        try:
            xs = [col.put(h) for h in hosts]
            call = col.prepare(case, xs)
            if call is not None:
                variants[col.name] = call
        except Exception as exc:
            log(f"launch overhead: {col.name}: {type(exc).__name__}: {exc}")
    for name, call in variants.items():
        clock = next((c.clock() for c in cols if name.startswith(c.name)), _lazy_clock())
        try:
            result[name] = gpu_overhead.best_us(call, calls, rounds=3, wait=clock.wait)
        except Exception as exc:
            log(f"launch overhead: {name}: {type(exc).__name__}: {exc}")
    return result


def bits_against_cpu(cases: list[Case]) -> dict[str, dict[str, int]]:
    """For elementwise workloads: elements of the first ``BITS_PREFIX`` where the GPU's
    result is not the CPU backend's bit for bit (NaN compared as NaN)."""
    found: dict[str, dict[str, int]] = {}
    for case in cases:
        if case.work.kind != "elementwise":
            continue
        prefix = [h[:BITS_PREFIX] for h in case.hosts]
        expr = case.work.generic(la, *map(la.asarray, prefix))
        gpu = la.eval(expr, target="cuda").to_numpy()
        cpu = np.asarray(la.eval(expr, target="cpu"))
        bits = f"u{case.dtype.itemsize}"
        differ = (gpu.view(bits) != cpu.view(bits)) & ~(np.isnan(gpu) & np.isnan(cpu))
        found[f"{case.work.name} {case.dtype.name}"] = {
            "compared": int(gpu.size), "different": int(np.count_nonzero(differ))}
    return found


# -- report ------------------------------------------------------------------------------------
def _cell_text(c: Cell, copy: float | None = None) -> str:
    if c.gbps is None:
        return "-" if c.note == "not expressible" else f"({c.note.split(':')[0]})"
    text = f"{c.gbps:.0f}"
    if copy:
        text += f" ({100 * c.gbps / copy:.0f}%)"
    return text + ("" if c.ok else " FAILED")


def table(report: dict[str, Any], rows: list[Row], names: list[str]) -> str:
    copy = report["copy_GBps"]
    lines = [f"# lazyarr CUDA benchmark: {report['device']}, {report['date']}", "",
             f"Device-to-device copy: {copy:.0f} GB/s (bytes read + written). Figures are "
             "GB/s of input bytes read once plus output bytes written once; lazyarr's "
             "kernel column also as % of the copy. `best peer` is the fastest checked peer; "
             "`lazyarr/best` compares lazyarr's kernel with it.", "",
             "| workload | dtype | shape | MB | " + " | ".join(names)
             + " | best peer | lazyarr/best |",
             "|---|---|---|---:|" + "---:|" * len(names) + "---|---:|"]
    for r in rows:
        cells = [_cell_text(r.cells[n], copy if n == "lazyarr kernel" else None)
                 if n in r.cells else "" for n in names]
        best = r.best_peer()
        mine = r.cells.get("lazyarr kernel")
        ratio = (f"{mine.gbps / best[1]:.2f}x" if best and mine and mine.gbps else "-")
        lines.append(f"| {r.workload} | {r.dtype} | {'x'.join(map(str, r.shape))} | "
                     f"{r.megabytes:.0f} | " + " | ".join(cells)
                     + f" | {best[0] if best else '-'} | {ratio} |")
    lines += ["", "Launch overhead, `2*a + b` on 1000 float32 device elements (us per call, "
              "host clock, best of 3 rounds; a new expression: over other arrays each "
              "call):", ""]
    lines += [f"- {name}: {us:.1f} us" for name, us in report["launch_overhead_us"].items()]
    lines += ["", f"GPU bits against the CPU backend (first {BITS_PREFIX} elements):", ""]
    lines += [f"- {name}: {v['different']} of {v['compared']} differ"
              for name, v in report["bits_vs_cpu"].items()]
    notes = [f"- {r.workload} {r.dtype}, {n}: {c.note}" for r in rows
             for n, c in r.cells.items() if c.note and c.note != "not expressible"]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def versions() -> dict[str, str]:
    found = {"python": platform.python_version(), "numpy": np.__version__}
    for name in ("llvmlite", "cupy", "torch", "jax", "jaxlib"):
        try:
            found[name] = __import__(name).__version__
        except Exception:
            found[name] = "absent"
    return found


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=size_arg, default=10**8,
                   help="elements per input of the elementwise workloads and sum")
    p.add_argument("--rows", default="8192,4096", help="shape of the row workloads' input")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--only", default="", help="comma-separated workload names")
    p.add_argument("--columns", default="", help="comma-separated column names (default all)")
    p.add_argument("--repeat", type=int, default=20, help="calls between two events")
    p.add_argument("--rounds", type=int, default=5, help="medians of this many rounds")
    p.add_argument("--deadline", type=float, default=300.0,
                   help="seconds after which the peers' columns are skipped")
    p.add_argument("--overhead-calls", type=int, default=2000,
                   help="calls per round of the launch-overhead measurement")
    p.add_argument("--json", default="", help="write the report here")
    p.add_argument("--table", default="", help="write the markdown table here")
    return p.parse_args(argv)


def size_arg(text: str) -> int:
    """``10**8``, ``1e8`` or ``100000000``: sizes are written as powers on command lines."""
    if "**" in text:
        base, power = text.split("**")
        return int(base) ** int(power)
    return int(float(text))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    started = time.monotonic()
    if not cuda_driver.is_available():
        log(f"no usable CUDA GPU: {cuda_driver.why_unavailable()}")
        return 2
    ctx = cuda_driver.context()
    rows_shape = tuple(int(s) for s in args.rows.split(","))
    chosen = [w for w in workloads() if not args.only or w.name in args.only.split(",")]
    cols = [c for c in columns() if not args.columns or c.name in args.columns.split(",")]
    unavailable = {c.name: why for c in cols if (why := c.available()) is not None}
    for name, why in unavailable.items():
        log(f"{name}: not measured ({why})")
    cols = [c for c in cols if c.name not in unavailable]
    dtypes = [np.dtype(d) for d in args.dtypes.split(",")]
    inputs = Inputs(args.n, rows_shape)
    inputs.draw(max(w.inputs + w.params for w in chosen))
    bits: dict[str, dict[str, int]] = {}

    def by_dtype() -> Iterator[list[Case]]:
        for dt in dtypes:
            cases = [make_case(w, dt, inputs) for w in chosen]
            yield cases
            bits.update(bits_against_cpu(cases))
            inputs.forget(dt)

    biggest = max(args.n * 5 * max(d.itemsize for d in dtypes),
                  2 * math.prod(rows_shape) * max(d.itemsize for d in dtypes))
    report: dict[str, Any] = {
        "device": f"{ctx.name} ({ctx.arch}, {ctx.sm_count} SMs)", "date": str(
            datetime.date.today()), "versions": versions(),
        "libdevice": cuda.libdevice() or "absent",
        "copy_GBps": copy_gbps(min(biggest, 2 << 30), args.repeat, args.rounds),
        "unavailable": unavailable}
    rows = run_cases(cols, by_dtype(), args, started)
    report["launch_overhead_us"] = launch_overhead(cols, args.overhead_calls)
    report["bits_vs_cpu"] = bits
    report["rows"] = [{"workload": r.workload, "dtype": r.dtype, "shape": r.shape,
                       "MB": r.megabytes, "cells": {n: vars(c) for n, c in r.cells.items()}}
                      for r in rows]
    text = table(report, rows, [c.name for c in cols])
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=str)
    if args.table:
        with open(args.table, "w") as f:
            f.write(text)
    # the kernel column may have no figure (a plan of several kernels); eval must have one
    failed = [r for r in rows for n, c in r.cells.items() if c.ok is False
              or (n == LazyEval.name and c.ok is None)]
    bits = [k for k, v in report["bits_vs_cpu"].items() if v["different"]]
    return 1 if failed or bits else 0


if __name__ == "__main__":
    sys.exit(main())
