"""Math routines compiled once and called by kernels, with per-function loop widths.

``codegen/mathlib.py``: each routine is a support module, compiled once per process (or
loaded from the disk cache) and called by kernels through LLVM's vector function ABI; its
``CPU_USE`` table says how many registers one call takes, per function. Expectations are
computed from the JIT's own register width, so these pass on any host (AVX-512 or not).
The disk-cache round trip in a second process is tests/test_diskcache.py's
``test_math_support_is_cached_on_disk_and_loaded_first``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from lazyarr.backends import cpu, cpu_jit
from lazyarr.codegen import mathlib
from llvmlite import ir

import lazyarr as la
from lazyarr.config import settings

F64, F32 = mathlib.FORMATS["double"], mathlib.FORMATS["float"]


def _bits() -> int:
    return cpu.jit().register_bits


def _vector_calls(text: str) -> set[str]:
    return set(re.findall(r"call [^@\n]*@\"?(_ZGV_LLVM_N\d+v+_lazyarr_math_\w+)", text))


def test_every_function_has_one_row() -> None:
    assert set(mathlib.CPU_USE) == {*mathlib.FUNCTIONS, *mathlib.PAIRS}
    for name, use in mathlib.CPU_USE.items():
        assert use.ymm in (1, 2, 4) and all(r in (1, 2, 4) for r in use.zmm), name
        # trigonometric functions need the support module's libm path for huge arguments
        assert not (use.inline and name in ("sin", "cos", "tan", "sincos")), name


@pytest.mark.parametrize("bits", [256, 512])
def test_every_loop_width_has_a_vector_version(bits: int) -> None:
    """A loop takes the fewest lanes among the functions it calls: every function has a
    version for each width at or below its own (else the call would be scalarised, or
    linked to nothing)."""
    widths = {mathlib.lanes(n, f, bits) for n in mathlib.CPU_USE for f in (F64, F32)}
    for name in mathlib.CPU_USE:
        for fmt in (F64, F32):
            own = mathlib.lanes(name, fmt, bits)
            versions = mathlib.vector_widths(name, fmt, bits)
            assert own in versions and max(versions) == own
            assert {w for w in widths if w <= own} <= set(versions), (name, fmt.suffix)


def test_kernels_call_the_routines_instead_of_inlining_them() -> None:
    """The kernel's IR declares the routines and its vector loop calls a vector version;
    the machine code calls it (by address: MCJIT's code model) and defines none of it."""
    x = la.asarray(np.linspace(0.1, 2.0, 1000))
    report = la.explain(la.exp(x) * 2 + la.tanh(x))
    assert 'declare double @"lazyarr_math_exp_f64"' in report.llvm or \
        "declare double @lazyarr_math_exp_f64" in report.llvm
    assert "lazyarr.math." not in report.llvm  # nothing inlined
    bits = _bits()
    width = min(mathlib.lanes("exp", F64, bits), mathlib.lanes("tanh", F64, bits))
    assert {f"_ZGV_LLVM_N{width}v_lazyarr_math_exp_f64",
            f"_ZGV_LLVM_N{width}v_lazyarr_math_tanh_f64"} <= _vector_calls(report.llvm_opt)
    asm = report.asm
    assert re.search(rf"_ZGV_LLVM_N{width}v_lazyarr_math_exp_f64", asm)
    assert not re.search(r"^_ZGV_LLVM_\w+:", asm, re.M)  # no routine defined in the kernel
    np.testing.assert_allclose(np.asarray((la.exp(x) * 2 + la.tanh(x)).eval()),
                               np.exp(x.eval()) * 2 + np.tanh(x.eval()), rtol=1e-14)


@pytest.mark.parametrize("name", ["exp", "erf", "hypot"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_loop_width_is_the_functions_row(name: str, dtype: str) -> None:
    x = la.asarray(np.linspace(0.5, 1.5, 1000, dtype=dtype))
    expr = la.hypot(x, x) if name == "hypot" else getattr(la, name)(x)
    fmt = F64 if dtype == "float64" else F32
    width = mathlib.lanes(name, fmt, _bits())
    symbol = mathlib.vector_symbol(name, fmt, width)
    assert symbol in _vector_calls(la.explain(expr).llvm_opt)


def test_support_modules_are_compiled_once_per_process(monkeypatch) -> None:
    """A new JIT (its own engine), disk cache off: three kernels calling exp and log build
    each routine's module once, and the kernels' object code resolves them."""
    monkeypatch.setattr(settings, "disk_cache", False)
    built: list[str] = []
    real = mathlib.support_module

    def counting(symbol: str, *args, **kwargs):
        built.append(symbol)
        return real(symbol, *args, **kwargs)

    monkeypatch.setattr(mathlib, "support_module", counting)
    jit = cpu_jit.Jit()
    x = np.linspace(0.5, 1.5, 1000)
    exprs = [la.exp(la.asarray(x)) + 1, la.log(la.asarray(x)) * la.exp(la.asarray(x)),
             la.log(la.asarray(x)) - 3]
    for k, expr in enumerate(exprs):
        (kernel,) = la.explain(expr).kernel_objects
        obj, _, _ = jit.compile(kernel, f"lazyarr_test_once_{k}")
        assert obj.needs  # the kernel names the routines it calls
        jit.load(obj, f"lazyarr_test_once_{k}", kernel)
    assert sorted(built) == ["lazyarr_math_exp_f64", "lazyarr_math_log_f64"]


def _loop_module(bits: int) -> str:
    """``out[i] = exp(x[i])`` with its math calls sized for ``bits``-bit registers."""
    from lazyarr.codegen import common

    jit = cpu.jit()
    module = ir.Module(name="sized")
    module.triple, module.data_layout = jit.triple, jit.layout
    mathlib.set_register_bits(module, bits)
    i64 = ir.IntType(64)
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [mathlib.PTR] * 2 + [i64]),
                     f"lazyarr_test_sized_{bits}")
    src, dst, n = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def body(i: ir.Value) -> None:
        x = b.load(b.gep(src, [i], source_etype=mathlib.F64), typ=mathlib.F64)
        b.store(mathlib.call_support(b, "exp", [x]), b.gep(dst, [i], source_etype=mathlib.F64))

    common.counted_loop(b, i64(0), n, i64(1), body, "i")
    b.ret_void()
    return str(module)


def test_ir_sized_for_other_registers_is_refused() -> None:
    """Linked, a call of a vector version the support modules lack would jump to address
    0: the JIT refuses such IR before optimising it."""
    jit = cpu.jit()
    assert jit.optimise(_loop_module(jit.register_bits))  # this JIT's size: accepted
    other = 256 if jit.register_bits == 512 else 512
    with pytest.raises(RuntimeError, match="sized for other registers"):
        jit.optimise(_loop_module(other))


def test_an_inlined_row_is_inlined_and_gives_the_same_bits(monkeypatch) -> None:
    """``inline`` in a row puts the routine in the kernel (no declaration of it), at the
    row's loop width, with the bits of the called version."""
    from lazyarr.backends import cpu as backend

    x = np.random.default_rng(1).standard_normal(1001) * 4
    called = np.asarray(la.expm1(la.asarray(x)).eval())
    rows = dict(mathlib.CPU_USE)
    rows["expm1"] = mathlib.Use(rows["expm1"].ymm, rows["expm1"].zmm, inline=True)
    monkeypatch.setattr(mathlib, "CPU_USE", rows)
    backend.clear_cache()
    monkeypatch.setattr(settings, "disk_cache", False)
    try:
        report = la.explain(la.expm1(la.asarray(x)))
        assert "lazyarr_math_expm1" not in report.llvm and "lazyarr.math.expm1.f64" in report.llvm
        width = mathlib.lanes("expm1", F64, _bits())
        assert f"llvm.loop.vectorize.width\", i32 {width}" in report.llvm
        inlined = np.asarray(la.expm1(la.asarray(x)).eval())
    finally:
        backend.clear_cache()
    np.testing.assert_array_equal(inlined.view(np.uint64), called.view(np.uint64))


def test_trigonometric_rows_cannot_be_inlined(monkeypatch) -> None:
    rows = dict(mathlib.CPU_USE)
    rows["sin"] = mathlib.Use(inline=True)
    monkeypatch.setattr(mathlib, "CPU_USE", rows)
    module = ir.Module()
    fn = ir.Function(module, ir.FunctionType(mathlib.F64, [mathlib.F64]), "f")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    with pytest.raises(ValueError, match="huge arguments"):
        mathlib.call_support(b, "sin", list(fn.args))
