"""Helpers shared by the codegen-tier tests: the table of kernels every op and dtype makes,
a child-process runner for emissions that may abort the process (NVPTX), and the benchmark
scripts the tests use as modules."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

import lazyarr as la
from lazyarr.front import build
from lazyarr.ir import dtypes, ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import Kernel

DTYPES = sorted(dtypes.SUPPORTED, key=lambda d: (d.kind, d.itemsize))



def benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module, loaded once per process (tests share it)."""
    key = f"lazyarr_bench_{name}"
    if key not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(key, path)
        assert spec and spec.loader
        sys.modules[key] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[key])
    return sys.modules[key]


def numpy_loop(ufunc: np.ufunc, args: Sequence[Any]) -> tuple[np.dtype, ...]:
    """The dtypes of the inner loop NumPy picks for ``ufunc(*args)`` (empty if it has none)."""
    def signature(x: Any) -> Any:
        if isinstance(x, bool):
            return np.dtype(bool)
        return type(x) if isinstance(x, int | float) else np.asarray(x).dtype

    try:
        return tuple(ufunc.resolve_dtypes((*map(signature, args), None)))
    except (TypeError, ValueError):
        return ()


def evaluate_function(name: str, *args: np.ndarray) -> np.ndarray:
    """``la.<name>(*args)`` evaluated (NumPy's floating-point warnings off)."""
    with np.errstate(all="ignore"):
        return np.asarray(getattr(la, name)(*[la.asarray(a) for a in args]).eval())


def same_specials(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Per element: False where NumPy's result is NaN, +-inf or +-0 and ours differs."""
    special = np.isnan(want) | np.isinf(want) | (want == 0)
    same = (np.isnan(want) & np.isnan(got)) | ((got == want) & (np.signbit(got) ==
                                                                np.signbit(want)))
    return ~special | same


def check_specials(name: str, x: np.ndarray, rtol: float) -> None:
    """``la.<name>(x)`` against NumPy: its dtype, every NaN, infinity and signed zero
    exactly, and the ordinary results within ``rtol``."""
    got = evaluate_function(name, x)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(x)
    assert got.dtype == want.dtype
    ok = same_specials(got, want)
    assert ok.all(), list(zip(x[~ok], got[~ok], want[~ok], strict=True))
    finite = np.isfinite(want) & (want != 0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol)


def kernel_of(exprs: list[la.LazyArray]) -> Kernel:
    """The one fused kernel that evaluates ``exprs``."""
    (kernel,) = la.explain(*exprs).kernel_objects
    return kernel

def apply_op(op: Op, *args: Any) -> la.LazyArray:
    if op is Op.WHERE:
        return la.where(*args)
    if op is Op.CLIP:
        return la.clip(*args)
    row = ops.ROWS[op]
    if not row.public:  # internal (fma, precision="fast"'s tanh): no la function of its own
        return la.LazyArray(build.apply(op, *args))
    result = getattr(la, row.function)(*args)
    return result[row.output] if row.nout > 1 else result  # one output of frexp


def nin(op: Op) -> int:
    return 3 if op is Op.WHERE else ops.SPECS[op].nin


def operands(op: Op, dts: tuple[np.dtype, ...]) -> list[np.ndarray]:
    """Contiguous, strided, then broadcast (stride 0) operands: every layout class appears."""
    made = [np.ones(6, dts[0]), np.ones(12, dts[1 % len(dts)])[::2], np.ones(1, dts[-1])]
    if op is Op.WHERE:
        made[0] = np.ones(6, bool)
    return made[:nin(op)]


def signatures(op: Op) -> dict[str, tuple[np.dtype, ...]]:
    """Operand dtypes to try, by case id: each dtype for every operand, and for binary ops each
    mixed pair that NumPy's loop takes as given (``int64 < uint64``: no common type)."""
    sigs = {f"{op.value}-{dt}": (dt,) * nin(op) for dt in DTYPES}
    if nin(op) == 2:
        for a in DTYPES:
            for b in DTYPES:
                try:
                    if a != b and ops.resolve_loop(op, (a, b))[:2] == (a, b):
                        sigs[f"{op.value}-{a}-{b}"] = (a, b)
                except (TypeError, ValueError):
                    pass
    return sigs


def cast_cases() -> dict[str, Callable[[], list[la.LazyArray]]]:
    """One kernel per cast between two different supported dtypes."""
    return {
        f"cast-{src}-to-{dst}": lambda src=src, dst=dst: [la.asarray(np.ones(6, src)).astype(dst)]
        for src in DTYPES for dst in DTYPES if src != dst
    }


def run_child(script: str, workdir: Path, ids: list[str], timeout: int = 300
              ) -> dict[str, dict[str, Any]]:
    """Run ``script`` (a test file run as a program) on ``ids`` in child processes,
    restarting after each crash; one record per id."""
    results: dict[str, dict[str, Any]] = {}
    todo = list(ids)
    while todo:
        (workdir / "todo.json").write_text(json.dumps(todo))
        proc = subprocess.run([sys.executable, script, str(workdir)], capture_output=True,
                              text=True, timeout=timeout, check=False)
        started = None
        for line in (workdir / "results.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if rec["status"] == "started":
                started = rec["id"]
            else:
                results[rec["id"]], started = rec, None
        if proc.returncode != 0:
            detail = f"exit status {proc.returncode}: {proc.stderr[-2000:]}"
            if started is None:  # died outside any case: nothing more to learn by retrying
                results |= {c: {"status": "crashed", "detail": detail}
                            for c in todo if c not in results}
                break
            results[started] = {"status": "crashed", "detail": detail}
        todo = [c for c in todo if c not in results]
    return results


def run_children(script: str, root: Path, ids: list[str], workers: int,
                 assemble: Callable[[Path, list[dict[str, Any]]], None],
                 timeout: int = 300) -> dict[str, dict[str, Any]]:
    """``ids`` split round-robin over ``workers`` children of :func:`run_child`, each in its
    own folder under ``root``; ``assemble(folder, ok_records)`` then runs in each when
    ``ptxas`` is installed."""
    def one(workdir: Path, part: list[str]) -> dict[str, dict[str, Any]]:
        workdir.mkdir()
        results = run_child(script, workdir, part, timeout)
        if shutil.which("ptxas"):
            assemble(workdir, [r for r in results.values() if r["status"] == "ok"])
        return results

    results: dict[str, dict[str, Any]] = {}
    with ThreadPoolExecutor(workers) as pool:
        for part in pool.map(one, [root / f"w{k}" for k in range(workers)],
                             [ids[k::workers] for k in range(workers)]):
            results |= part
    return results
