"""Codegen tier for the CPU path: every generated module parses and verifies, and golden checks
of the IR features that carry performance or correctness (vector code, ``noalias``, guards
against LLVM's undefined behaviour where NumPy defines a result).

Nothing here runs a kernel, so a codegen bug shows as a failed check, never as a trap.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import llvmlite.binding as llvm
import numpy as np
import pytest
from kernel_cases import DTYPES, cast_cases, kernel_of
from kernel_cases import apply_op as _apply
from kernel_cases import operands as _operands
from kernel_cases import signatures as _signatures
from lazyarr.backends import cpu_jit
from lazyarr.codegen import cpu, mathlib
from lazyarr.codegen.scalar import EMITTERS
from llvmlite import ir

import lazyarr as la
from lazyarr import config
from lazyarr.ir import ops
from lazyarr.ir.graph import Op

INTS = [d for d in DTYPES if d.kind in "iu"]
FLOATS = [d for d in DTYPES if d.kind == "f"]
Build = Callable[[], list[la.LazyArray]]


def module_of(exprs: list[la.LazyArray]) -> ir.Module:
    """The CPU module as emitted (before LLVM parses or optimises it)."""
    return cpu.build_module(kernel_of(exprs), "k")


def instructions(module: ir.Module) -> Iterator[ir.Instruction]:
    for fn in module.functions:
        for block in fn.blocks:
            yield from block.instructions


# -- the case table ----------------------------------------------------------------------
def op_cases() -> dict[str, Build]:
    """Every op with an emitter over every dtype NumPy has a loop for."""
    cases: dict[str, Build] = {}
    for op in EMITTERS:
        for cid, dts in _signatures(op).items():
            if op is not Op.WHERE:
                try:
                    ops.resolve_loop(op, dts)
                except (TypeError, ValueError):
                    continue  # NumPy has no loop, or only one on a dtype lazyarr lacks
            cases[cid] = lambda op=op, dts=dts: [_apply(op, *_operands(op, dts))]
    return cases


def _layouts(dt: np.dtype) -> dict[str, Callable[[], tuple[Any, Any]]]:
    """Operand pairs that lower to different loop nests and layout classes."""
    def ones(*shape: int) -> np.ndarray:
        return np.ones(shape, dt)

    return {
        "contig": lambda: (ones(6), ones(6)),
        "strided": lambda: (ones(12)[::2], ones(18)[::3]),
        "reversed": lambda: (ones(6)[::-1], ones(6)),
        "bcast-row": lambda: (ones(3, 4), ones(4)),  # stride 0 on the outer loop only
        "bcast-col": lambda: (ones(3, 4), ones(3, 1)),  # stride 0 on the inner loop
        "scalar": lambda: (ones(6), dt.type(1)),
        "2d-transposed": lambda: (ones(4, 3).T, ones(3, 4)),
        "3d": lambda: (ones(2, 3, 4).transpose(2, 0, 1), ones(4, 2, 3)),
        "3d-strided-bcast": lambda: (ones(2, 3, 8)[:, :, ::2], ones(3, 1)),
    }


def layout_cases() -> dict[str, Build]:
    cases: dict[str, Build] = {}
    for dt in DTYPES:
        for name, make in _layouts(dt).items():
            cases[f"layout-{name}-add-{dt}"] = lambda make=make: [la.add(*make())]
            cases[f"layout-{name}-where-{dt}"] = \
                lambda make=make: [la.where(make()[0] > 0, *make())]
            if dt in (np.float64, np.int32):
                # two outputs in one kernel; an integer one with the power status word
                cases[f"layout-{name}-two-outputs-{dt}"] = \
                    lambda make=make: [la.subtract(*make()), la.power(*make())]
    return cases


def power_int_cases() -> dict[str, Build]:
    """x ** n by squaring (Op.POWER_INT: its exponent is part of the op, so it has no
    EMITTERS entry for op_cases to find), both float64 scalings (|n| above and below 484)."""
    return {f"power_int-{dt}-n{n}": lambda dt=dt, n=n: [la.asarray(np.ones(6, dt)) ** n]
            for dt in FLOATS for n in (0, 1, 3, -7, 485, -1022)}


CASES = op_cases() | cast_cases() | layout_cases() | power_int_cases()


@pytest.fixture(scope="module")
def host() -> tuple[str, str]:
    """The host triple and data layout the CPU backend compiles for."""
    jit = cpu_jit.jit()
    return jit.triple, jit.layout


# -- every module parses and verifies ----------------------------------------------------
def test_table_is_broad() -> None:
    assert len(CASES) > 800
    assert {c.split("-")[0] for c in CASES} >= {op.value for op in EMITTERS}


# C functions the JIT resolves (backends/cpu_jit.py adds each, and its float32 twin, as a symbol)
_JIT_SYMBOLS = {n + f for n in cpu_jit.LIBM_NAMES for f in ("", "f")}


def _support_definitions(symbol: str) -> dict[str, str]:
    """Name -> type of each function the support module ``symbol`` defines."""
    module = mathlib.support_module(symbol)
    return {fn.name: str(fn.function_type) for fn in module.functions if not fn.is_declaration}


@pytest.mark.parametrize("case", sorted(CASES))
def test_module_verifies(host: tuple[str, str], case: str) -> None:
    module = cpu.build_module(kernel_of(CASES[case]()), "k", *host)
    parsed = llvm.parse_assembly(str(module))
    parsed.verify()
    # a call the JIT cannot resolve would only fail when the kernel is loaded (MCJIT ends the
    # process then): libm, or a support module the backend loads first, which must define
    # every version the kernel declares, with the same type
    needs = cpu_jit.support_needs(str(module))
    defined: dict[str, str] = {}
    for symbol in needs:
        defined |= _support_definitions(symbol)
    for fn in module.functions:
        if fn.is_declaration and not fn.name.startswith("llvm."):
            assert fn.name in _JIT_SYMBOLS or defined.get(fn.name) == str(fn.function_type), \
                fn.name


def test_support_modules_verify(host: tuple[str, str]) -> None:
    for symbol in mathlib.SUPPORT_SYMBOLS:
        module = mathlib.support_module(symbol, *host)
        llvm.parse_assembly(str(module)).verify()
        for fn in module.functions:  # only libm (huge sin/cos/tan arguments) from outside
            if fn.is_declaration:
                assert fn.name.startswith("llvm.") or fn.name in _JIT_SYMBOLS, fn.name


def test_math_kernels_only_declare_their_math() -> None:
    """The point of the support modules: a kernel's IR stays small, whatever it calls."""
    x = la.asarray(np.linspace(0.5, 1.5, 100))
    heavy = module_of([la.exp(-x) * la.sin(x) + la.cos(x) * la.tanh(x) + x ** x])
    assert cpu_jit.support_needs(str(heavy)) == tuple(sorted(
        mathlib.support_symbol(f, mathlib.FORMATS["double"])
        for f in ("exp", "sincos", "tanh", "pow")))  # sin(x) and cos(x): one sincos
    assert {fn.name for fn in heavy.functions if not fn.is_declaration} == {"k", "k.inner"}
    assert sum(1 for _ in instructions(heavy)) < 60


# -- golden checks -----------------------------------------------------------------------
def _axpby() -> Any:
    a = la.asarray(np.arange(1000.0))
    b = la.asarray(np.arange(1000.0))
    return la.explain(2 * a + 3 * b)


def test_contiguous_float64_vectorises() -> None:
    opt = _axpby().llvm_opt
    # 2 wide is SSE2, all a named CPU such as x86-64-v2 (LAZYARR_CPU) may have
    assert re.search(r"<(2|4|8|16) x double>", opt), "loop not vectorised"
    # noalias pointers make the overlap check unnecessary: no run-time memcheck block
    assert "vector.memcheck" not in opt


def test_contiguous_float64_uses_simd_registers() -> None:
    asm = _axpby().asm
    assert re.search(r"\bv?(fmadd\w*|mul|add)pd\b", asm), "no packed double arithmetic"
    # wider registers only where the CPU compiled for is known to have them: the host's
    if config.settings.cpu or not llvm.get_host_cpu_features().get("avx2", False):
        return
    assert re.search(r"%[yz]mm\d+", asm), "no 256/512-bit registers"


def test_inner_array_pointers_are_noalias() -> None:
    text = _axpby().llvm
    inner = re.search(r"^define internal void @\"[\w.]+\.inner\"\((.*)\)", text, re.M)
    assert inner, "no inner function"
    params = inner.group(1).split(", ")
    pointers = [p for p in params if p.startswith("ptr")]
    # two inputs and one output are noalias; the status word (last pointer) may alias
    assert [p.startswith("ptr noalias") for p in pointers] == [True, True, True, False]
    assert "alwaysinline" in text[inner.end():].split("\n", 1)[0]


def _compared_with(cond: ir.Value, value: ir.Value) -> set[tuple[str, int]]:
    """The (predicate, constant) pairs ``cond`` tests ``value`` against, through and/or."""
    if isinstance(cond, ir.ICMPInstr):
        lhs, rhs = cond.operands
        return {(cond.op, rhs.constant)} if lhs is value and isinstance(rhs, ir.Constant) \
            else set()
    if isinstance(cond, ir.Instruction) and cond.opname in ("or", "and"):
        return set().union(*(_compared_with(c, value) for c in cond.operands))
    return set()


@pytest.mark.parametrize("dt", INTS, ids=str)
@pytest.mark.parametrize("fn", ["floor_divide", "remainder"])
def test_integer_division_guards_its_divisor(fn: str, dt: np.dtype) -> None:
    x = la.asarray(np.ones(6, dt))
    divisions = [i for i in instructions(module_of([getattr(la, fn)(x, x * x)]))
                 if i.opname in ("sdiv", "srem", "udiv", "urem")]
    assert divisions
    for div in divisions:
        assert div.opname[0] == ("s" if dt.kind == "i" else "u")
        divisor = div.operands[1]
        # the divisor is select(y == 0 [or y == -1], 1, y): never 0, never MIN / -1
        assert isinstance(divisor, ir.SelectInstr), f"bare {div.opname} by {divisor}"
        cond, safe, y = divisor.operands
        assert isinstance(safe, ir.Constant) and safe.constant == 1
        guards = _compared_with(cond, y)
        assert ("eq", 0) in guards
        if dt.kind == "i":
            assert ("eq", -1) in guards  # INT_MIN // -1 traps on x86


@pytest.mark.parametrize("dt", INTS, ids=str)
@pytest.mark.parametrize("fn", ["left_shift", "right_shift"])
def test_shift_amounts_are_guarded(fn: str, dt: np.dtype) -> None:
    x = la.asarray(np.ones(6, dt))
    bits = 8 * dt.itemsize
    shifts = [i for i in instructions(module_of([getattr(la, fn)(x, x * x)]))
              if i.opname in ("shl", "lshr", "ashr")]
    assert shifts
    for shift in shifts:
        amount = shift.operands[1]
        # a shift by >= the bit width (or a negative amount) is poison in LLVM
        assert isinstance(amount, ir.SelectInstr), f"bare {shift.opname} by {amount}"
        cond, n, fallback = amount.operands
        assert isinstance(cond, ir.ICMPInstr) and cond.op == "ult"
        raw, limit = cond.operands
        assert isinstance(limit, ir.Constant) and limit.constant == bits
        # the amount used when in range is the raw one (maybe behind the same guard again)
        if isinstance(n, ir.SelectInstr):
            assert n.operands[:2] == [cond, raw]
        else:
            assert n is raw
        assert isinstance(fallback, ir.Constant) and 0 <= fallback.constant < bits


@pytest.mark.parametrize("dst", INTS, ids=str)
@pytest.mark.parametrize("src", FLOATS, ids=str)
def test_float_to_int_casts_saturate(src: np.dtype, dst: np.dtype) -> None:
    """A plain fptosi/fptoui of NaN or an out-of-range value is poison: every conversion
    reads a value selected between the input, where it is in range, and 0.0 (its result is
    replaced by the bounds outside; ``scalar._float_to_int``), so LLVM can vectorise it."""
    module = module_of([la.asarray(np.ones(6, src)).astype(dst)])
    kind = "fptosi" if dst.kind == "i" else "fptoui"
    convs = [i for i in instructions(module) if i.opname in ("fptosi", "fptoui")]
    assert convs and all(i.opname == kind for i in convs)
    for conv in convs:
        guard = conv.operands[0]
        assert isinstance(guard, ir.SelectInstr), f"bare {conv.opname} of {guard}"
        cond, _, zero = guard.operands
        assert isinstance(zero, ir.Constant) and zero.constant == 0.0
        assert cond.opname == "and"  # lo <= x < past, both compares ordered (NaN: false)
    assert not any(isinstance(i, ir.CallInstr) and ".sat." in i.callee.name
                   for i in instructions(module))


@pytest.mark.parametrize("case", ["element-2d", "row-sum", "full-sum", "plain"])
def test_only_innermost_math_loops_ask_for_a_vector_width(case: str) -> None:
    """The width hint also lets LLVM reorder a loop's float reductions: it goes on the
    innermost loop that calls vector math, never on the loops around it (codegen/rows.py
    adds Kahan-compensated block sums in an outer loop, in a fixed order)."""
    x = la.asarray(np.ones((40, 300)))
    expr = {"element-2d": lambda: la.exp(x[:, ::2]) * 2.0,
            "row-sum": lambda: la.exp(x).sum(axis=1),
            "full-sum": lambda: la.sum(la.exp(x)),
            "plain": lambda: x * 2.0}[case]()
    text = str(module_of([expr]))
    hints = re.findall(r"!llvm\.loop (!\d+)", text)
    assert len(hints) == (case != "plain")
    if hints:  # the hinted latch closes a loop whose body calls exp (and holds no loop)
        latch = next(i for i in instructions(module_of([expr]))
                     if "llvm.loop" in i.metadata)
        body = latch.operands[1]
        assert any(isinstance(i, ir.CallInstr) and i.callee.name.startswith("lazyarr_math_exp")
                   for i in body.instructions)
