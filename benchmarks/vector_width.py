"""256- against 512-bit vectors on an AVX-512 host, per kernel kind.

LLVM's x86 tuning for most AVX-512 cores carries ``prefer-256-bit``: the loop vectoriser
picks 256-bit vectors unless a function says ``"prefer-vector-width"="512"`` (what clang's
``-mprefer-vector-width=512`` sets). 512-bit types stay *legal* all the same (no
``"min-legal-vector-width"`` attribute), so a loop that is told its width keeps it: lazyarr's
loops calling out-of-line math ask for as many lanes as the function's row of
``codegen/mathlib.py`` ``CPU_USE`` says (registers per call: ymm, or zmm on such a host).

Every kernel below is compiled by one private JIT per variant (its own MCJIT engine, so the
math support modules of the variants, which share symbols, never meet) and the variants are
timed in turns on the same launch, best of ``--reps``:

* ``now``: what lazyarr compiles today (no attribute);
* ``256``: ``"prefer-vector-width"="256" "min-legal-vector-width"="256"`` on every function,
  kernels and math support modules alike: no zmm anywhere (the same attributes on both sides
  of a call keep its vector arguments in the same registers);
* ``512``: ``"prefer-vector-width"="512"`` on every function;
* ``x1``, ``x2``, ``x4`` (math kinds only): ``512`` with every function called with one, two
  or four of the JIT's math registers per call (on an AVX-512 host: zmm), whatever its row
  of ``CPU_USE`` says (``now`` is the table's choice); the choice per function in the table
  comes from these.

The attributes are added to the IR text just before LLVM parses it; nothing in the library
changes. Each variant's assembly is checked: the registers of the kernel (and, for math
kinds, of the vector math routine it calls) are counted, and its results must match ``now``.
Ratios are variant time / ``now`` time (below 1: faster than today), from the best of each,
and the median of the per-turn ratios, which the load of a shared machine disturbs less.

    python benchmarks/vector_width.py                          # everything, 1 thread
    python benchmarks/vector_width.py --kinds exp,axpy --sizes 1e6 --reps 9
    python benchmarks/vector_width.py --threads 2 --sizes 1e7
    python benchmarks/vector_width.py --offset 0               # 64-byte aligned arrays
    python benchmarks/vector_width.py --asm-only               # widths only, no timing
    python benchmarks/vector_width.py --kinds exp,erf --variants now,x1,x2,x4 --sizes 1e4
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from lazyarr.backends import cpu, cpu_jit
from lazyarr.codegen import mathlib

import lazyarr as la
from lazyarr.cli.bench import cpu_model
from lazyarr.ir.loop import Kernel, Launch, pack_args
from lazyarr.run.runtime import single_launch

ROW = 1000  # row length of the row kernels
SAMPLE_SECONDS = 0.002  # one sample repeats the launch for at least this long (short: fewer
# preemptions on a shared machine, and the best of many samples is kept)

# -- variants ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    attributes: str  # function attributes added to every definition ("" for none)
    registers: int | None = None  # math registers per call of every function (None: table)


VARIANTS = (
    Variant("now", ""),
    Variant("256", '"prefer-vector-width"="256" "min-legal-vector-width"="256"'),
    Variant("512", '"prefer-vector-width"="512"'),
    *(Variant(f"x{r}", '"prefer-vector-width"="512"', registers=r) for r in (1, 2, 4)),
)
_GROUP = 777  # attribute group number for the added attributes (llvmlite emits none)
_DEFINE = re.compile(r"^(define [^\n]*)\n\{", re.M)


def with_attributes(text: str, attributes: str) -> str:
    """IR ``text`` with ``attributes`` on every function it defines."""
    if not attributes:
        return text
    marked, count = _DEFINE.subn(rf"\1 #{_GROUP}\n{{", text)
    if not count or f"#{_GROUP} =" in text:
        raise ValueError("unexpected IR text: no definitions, or the group number is taken")
    return f"{marked}\nattributes #{_GROUP} = {{ {attributes} }}\n"


@contextlib.contextmanager
def math_use(registers: int | None = None, inline: bool = False) -> Iterator[None]:
    """mathlib's ``CPU_USE`` table with every function at ``registers`` per call (None: as
    it is), or inlined (but sin, cos, tan: they cannot be) with ``inline``."""
    if registers is None and not inline:
        yield
        return
    table = mathlib.CPU_USE
    mathlib.CPU_USE = {
        name: mathlib.Use(use.ymm if registers is None else registers,
                          use.zmm if registers is None else (registers, registers),
                          inline and name not in ("sin", "cos", "tan", "sincos"))
        for name, use in table.items()}
    try:
        yield
    finally:
        mathlib.CPU_USE = table


class VariantJit(cpu_jit.Jit):
    """lazyarr's CPU JIT (own engine, own support modules), with the variant's attributes
    added to every module it optimises: kernels and math support modules."""

    def __init__(self, variant: Variant, inline: bool = False) -> None:
        super().__init__()
        self.variant, self.inline = variant, inline

    def ir(self, kernel: Kernel, name: str) -> str:
        with math_use(self.variant.registers, self.inline):
            return super().ir(kernel, name)

    def _load_support(self, symbol: str) -> None:
        with math_use(self.variant.registers, self.inline):
            super()._load_support(symbol)

    def _o3(self, text: str, remarks: bool = False) -> Any:
        return super()._o3(with_attributes(text, self.variant.attributes), remarks)

    def support_assembly(self, symbol: str) -> str:
        """Assembly of the support module defining ``symbol`` (a vector version's name)."""
        scalar = symbol[symbol.index(mathlib.SUPPORT_PREFIX):]
        with math_use(self.variant.registers, self.inline):
            module = mathlib.support_module(scalar, self.triple, self.layout,
                                            self.register_bits)
        return self.tm.emit_assembly(self._o3(str(module)))


# -- kernel kinds -----------------------------------------------------------------------------
Build = Callable[[list[la.LazyArray]], la.LazyArray]
GELU_C1, GELU_C2 = math.sqrt(2 / math.pi), 0.044715


def _softmax(x: la.LazyArray) -> la.LazyArray:
    e = la.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True, slots=True)
class Kind:
    group: str  # memory, math or reduction
    inputs: int
    build: Build
    rows: bool = False  # inputs of shape (n // ROW, ROW)
    positive: bool = False  # inputs in [0.5, 2) rather than [-2, 2)


KINDS: dict[str, Kind] = {
    "axpy": Kind("memory", 2, lambda v: v[0] * 2 + v[1]),
    "triad": Kind("memory", 3, lambda v: v[0] + v[1] * v[2]),
    "where": Kind("memory", 2, lambda v: la.where(v[0] > 0.5, v[0], v[1])),
    "exp": Kind("math", 1, lambda v: la.exp(v[0])),
    "sin": Kind("math", 1, lambda v: la.sin(v[0])),
    "tanh": Kind("math", 1, lambda v: la.tanh(v[0])),
    "gelu": Kind("math", 1, lambda v: 0.5 * v[0] * (1 + la.tanh(
        GELU_C1 * (v[0] + GELU_C2 * v[0] * v[0] * v[0])))),
    "log": Kind("math", 1, lambda v: la.log(v[0]), positive=True),
    "pow": Kind("math", 2, lambda v: v[0] ** v[1], positive=True),
    "arctan2": Kind("math", 2, lambda v: la.arctan2(v[0], v[1])),
    "erf": Kind("math", 1, lambda v: la.erf(v[0])),
    "hypot": Kind("math", 2, lambda v: la.hypot(v[0], v[1])),
    # the rest of mathlib's functions, one each (branch-free code: lanes outside a domain
    # cost what the others do)
    **{name: Kind("math", 1, lambda v, name=name: getattr(la, name)(v[0]),
                  positive=name in ("log1p", "log2", "log10", "arccosh"))
       for name in ("cos", "tan", "expm1", "log1p", "sinh", "cosh", "arctan", "exp2", "log2",
                    "log10", "cbrt", "arcsin", "arccos", "arcsinh", "arccosh", "arctanh",
                    "erfc")},
    "sum": Kind("reduction", 1, lambda v: v[0].sum()),
    "rowmax": Kind("reduction", 1, lambda v: v[0].max(axis=1), rows=True),
    "softmax": Kind("reduction", 1, lambda v: _softmax(v[0]), rows=True),
}


@dataclass(slots=True)
class Case:
    kind: str
    dtype: str
    n: int
    launch: Launch
    outputs: list[np.ndarray]
    programs: dict[str, Any] = field(default_factory=dict)  # variant -> ctypes function
    blocks: dict[str, Any] = field(default_factory=dict)  # variant -> packed arguments


def placed(array: np.ndarray, offset: int | None) -> np.ndarray:
    """``array``, or a copy at an address that is ``offset`` bytes past a multiple of 64.

    NumPy's big arrays come from mmap through malloc, 16 bytes past a page boundary: a zmm
    load or store of them always splits two cache lines, a ymm one every other time."""
    if offset is None:
        return array
    raw = np.empty(array.nbytes + 128, np.uint8)
    start = (offset - raw.ctypes.data) % 64
    out = raw[start:start + array.nbytes].view(array.dtype).reshape(array.shape)
    out[...] = array
    return out


def make_case(kind: str, dtype: str, n: int, rng: np.random.Generator,
              offset: int | None = None) -> Case:
    k = KINDS[kind]
    shape = (n // ROW, ROW) if k.rows else (n,)
    low = 0.5 if k.positive else -2.0
    arrays = [placed(rng.uniform(low, 2.0, shape).astype(dtype), offset)
              for _ in range(k.inputs)]
    expr = k.build([la.asarray(a) for a in arrays])
    outputs = [placed(np.empty(expr.shape, expr.dtype), offset)]
    return Case(kind, dtype, n, single_launch([expr._node], outputs), outputs)


# -- assembly ---------------------------------------------------------------------------------
_REGISTER = re.compile(r"%([xyz])mm\d+")
# MCJIT's code model calls through a register loaded with the address
_VECTOR_CALL = re.compile(r"\$(_ZGV_LLVM_N\d+v+_lazyarr_math_\w+)")


def registers(asm: str) -> dict[str, int]:
    """Mentions of xmm, ymm and zmm registers in ``asm``."""
    found = _REGISTER.findall(asm)
    return {r + "mm": found.count(r) for r in "xyz"}


def function_asm(asm: str, symbol: str) -> str:
    """The part of ``asm`` from ``symbol``'s label to its end marker."""
    start = asm.find(f"\n{symbol}:")
    end = asm.find(".Lfunc_end", start)
    return asm[start:end] if start >= 0 else ""


def widths(jit: VariantJit, kernel: Kernel, name: str) -> dict[str, Any]:
    """The registers of ``kernel``'s code and of the vector math routines it calls."""
    asm = jit.tm.emit_assembly(jit.optimise(jit.ir(kernel, name)))
    report: dict[str, Any] = {"kernel": registers(asm)}
    for symbol in sorted(set(_VECTOR_CALL.findall(asm))):
        report[symbol] = registers(function_asm(jit.support_assembly(symbol), symbol))
    return report


def short(regs: dict[str, int]) -> str:
    return "/".join(f"{regs[r]}" for r in ("xmm", "ymm", "zmm"))


# -- timing -----------------------------------------------------------------------------------
def run_once(case: Case, variant: str) -> None:
    args, _ = case.blocks[variant]
    launch = case.launch
    cpu.call(case.programs[variant], args.ctypes.data, launch.shape[0],
             math.prod(launch.shape))


def sample(case: Case, variant: str, repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        run_once(case, variant)
    return (time.perf_counter() - t0) / repeat


def prepare(case: Case, jits: dict[str, VariantJit], check: bool) -> dict[str, Any]:
    """Compile ``case`` for every variant, check its results; the widths report."""
    name = cpu._names(case.launch.kernel)[0]
    report = {}
    reference: list[np.ndarray] | None = None
    for v, jit in jits.items():
        obj, _, _ = jit.compile(case.launch.kernel, name)
        case.programs[v] = jit.load(obj, name, case.launch.kernel)
        case.blocks[v] = pack_args(case.launch)
        report[v] = widths(jit, case.launch.kernel, name)
        if check:
            run_once(case, v)
            got = [o.copy() for o in case.outputs]
            if reference is None:
                reference = got
            for r, g in zip(reference, got, strict=True):
                tol = 1e-5 if g.dtype == np.float32 else 1e-12
                if not np.allclose(r, g, rtol=tol, atol=tol, equal_nan=True):
                    raise AssertionError(f"{case.kind} {case.dtype} {case.n}: variant {v} "
                                         f"differs from {next(iter(jits))}")
    return report


def time_case(case: Case, variants: list[str], reps: int) -> dict[str, Any]:
    """Best and per-turn times of every variant, the variants taking turns."""
    for v in variants:
        run_once(case, v)  # warm: page faults, caches
    once = min(sample(case, variants[0], 1) for _ in range(3))
    repeat = max(1, int(SAMPLE_SECONDS / max(once, 1e-9)))
    turns: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(reps):
        order = variants if r % 2 == 0 else variants[::-1]  # neither always goes first
        for v in order:
            turns[v].append(sample(case, v, repeat))
    base = turns[variants[0]]
    return {v: {"best_s": min(ts), "ratio_best": min(ts) / min(base),
                "ratio_median": statistics.median(t / b for t, b in zip(ts, base,
                                                                       strict=True))}
            for v, ts in turns.items()}


# -- command line -----------------------------------------------------------------------------
def _csv(text: str) -> list[str]:
    return [s for s in text.split(",") if s]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--kinds", type=_csv, default=list(KINDS))
    p.add_argument("--dtypes", type=_csv, default=["float32", "float64"])
    p.add_argument("--sizes", type=_csv, default=["1e4", "1e6", "1e7"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=15)
    p.add_argument("--variants", type=_csv, default=[v.name for v in VARIANTS])
    p.add_argument("--offset", type=int, default=None,
                   help="put every array this many bytes past a 64-byte boundary "
                        "(default: where NumPy puts it)")
    p.add_argument("--asm-only", action="store_true", help="report widths, time nothing")
    p.add_argument("--json", help="also write the results here")
    a = p.parse_args(argv)
    unknown = set(a.kinds) - set(KINDS)
    if unknown:
        p.error(f"unknown kinds {sorted(unknown)}; known: {','.join(KINDS)}")
    la.set_disk_cache(False)  # the variants' code must not meet lazyarr's own entries
    la.set_num_threads(a.threads)
    chosen = [v for v in VARIANTS if v.name in a.variants]
    jits = {v.name: VariantJit(v) for v in chosen}
    print(f"# {cpu_model()}; LLVM cpu {jits[chosen[0].name].cpu}; threads {a.threads}; "
          f"load average {os.getloadavg()[0]:.1f}; best of {a.reps}; arrays at "
          f"{'NumPy addresses' if a.offset is None else f'64k+{a.offset} bytes'}", flush=True)
    print("# regs: xmm/ymm/zmm mentions in the kernel | in the vector math routine it calls")
    print("# ratio: time / time of 'now' (best of each; median of per-turn ratios)")
    rng = np.random.default_rng(0)
    results = []
    for kind in a.kinds:
        names = [v.name for v in chosen if v.registers is None or KINDS[kind].group == "math"]
        for dtype in a.dtypes:
            for n in (int(float(s)) for s in a.sizes):
                case = make_case(kind, dtype, n, rng, a.offset)
                use = {v: jits[v] for v in names}
                regs = prepare(case, use, check=True)
                timed = {} if a.asm_only else time_case(case, names, a.reps)
                results.append({"kind": kind, "group": KINDS[kind].group, "dtype": dtype,
                                "n": n, "threads": a.threads, "offset": a.offset,
                                "registers": regs,
                                "times": timed})
                _print_row(results[-1], names)
    print(f"# load average at end {os.getloadavg()[0]:.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


def _print_row(row: dict[str, Any], names: list[str]) -> None:
    cells = []
    for v in names:
        regs = row["registers"][v]
        math_regs = [short(r) for k, r in regs.items() if k != "kernel"]
        cell = f"{v}: regs {short(regs['kernel'])}" + (f" | {','.join(math_regs)}"
                                                       if math_regs else "")
        t = row["times"].get(v)
        if t:
            cell += (f" {t['best_s'] * 1e3:.3f} ms" if v == names[0]
                     else f" x{t['ratio_best']:.2f} (x{t['ratio_median']:.2f})")
        cells.append(cell)
    print(f"{row['kind']:8} {row['dtype']:7} {row['n']:>9,}  " + ";  ".join(cells), flush=True)


if __name__ == "__main__":
    sys.exit(main())
