"""lazyarr's vectorised math (``codegen/mathlib.py``) through the public API on the CPU.

Accuracy in ULP against a correctly rounded reference (``benchmarks/ulp.py`` does the
measuring: a wider-format screen, the worst points recomputed with mpmath), special values
exactly as NumPy (NaN, +-inf, signed zeros), vector code in the optimised IR, and the switch
back to the libm path.
"""

from __future__ import annotations

import ctypes
import re
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from kernel_cases import benchmark, check_specials
from kernel_cases import evaluate_function as evaluate
from kernel_cases import same_specials as _same_specials
from lazyarr.backends import cpu
from lazyarr.codegen import mathlib, scalar

import lazyarr as la

FLOATS = (np.float32, np.float64)
UNARY = ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sinh", "cosh",
         "arctan")


ulp = benchmark("ulp")


@pytest.fixture
def libm_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The pre-mathlib code path (libm calls and LLVM intrinsics), freshly compiled."""
    monkeypatch.setattr(scalar, "USE_MATHLIB", False)
    la.clear_cache()
    yield
    la.clear_cache()


# -- accuracy ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(ulp.FUNCTIONS))
def test_ulp_bound(name: str, dtype: type) -> None:
    result = ulp.measure(ulp.FUNCTIONS[name], dtype, 400_000, np.random.default_rng(7), 16)
    bound = ulp.BOUND.get(name, 4)
    assert result.max_ulp <= bound, (result.max_ulp, result.worst)
    assert result.special_bad == 0


def test_ulp_measure_is_sharp() -> None:
    """The measuring code itself: one ULP off everywhere reads as one ULP."""
    import mpmath

    x = np.linspace(0.1, 3.0, 1000)
    exact = np.exp(x.astype(np.longdouble))
    # one ULP above the correctly rounded value (mpmath's, as NumPy's own exp need not be
    # correctly rounded: its AVX-512 version is not), so between 0.5 and 1.5 ULP off
    with mpmath.workprec(200):
        rounded = np.array([float(mpmath.exp(mpmath.mpf(float(v)))) for v in x])
    got = np.nextafter(rounded, np.inf)
    err = ulp.ulp_error(got, exact, np.float64)
    assert 0.4 < err.max() <= 1.5 and err.min() >= 0.5


# -- special values, exactly as NumPy ----------------------------------------------------------
def _specials(dtype: type) -> np.ndarray:
    info = np.finfo(dtype)
    values = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, 1e-30, -1e-30,
              info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
              info.max, -info.max, 700.0, -700.0, 710.0, -710.0, 746.0, -746.0, 89.0, -89.0,
              104.0, -104.0, 1e10, -1e10, 1e30, -1e30]
    with np.errstate(over="ignore"):
        return np.array(values, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values(name: str, dtype: type) -> None:
    check_specials(name, _specials(dtype), rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_pow_special_values(dtype: type) -> None:
    """C99 pow's special cases: every pair of specials, negative bases, zeros and infinities."""
    values = np.concatenate([_specials(dtype), np.array([3.0, -3.0, 2.5, -2.5, 0.25], dtype)])
    x, y = (a.ravel() for a in np.meshgrid(values, values))
    got = evaluate("power", x, y)
    with np.errstate(all="ignore"):
        want = np.power(x, y)
    ok = _same_specials(got, want)
    assert ok.all(), list(zip(x[~ok], y[~ok], got[~ok], want[~ok], strict=True))[:10]
    finite = np.isfinite(want) & (want != 0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=8 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_pow_exact_results(dtype: type) -> None:
    """Representable results come out exactly (integer powers of small integers)."""
    x, y = (a.ravel().astype(dtype) for a in np.meshgrid(np.arange(-12, 13), np.arange(0, 9)))
    want = np.power(x.astype(np.float64), y.astype(np.float64))
    exact = np.abs(want) < 2.0 ** (np.finfo(dtype).nmant + 1)
    np.testing.assert_array_equal(evaluate("power", x, y)[exact], want[exact].astype(dtype))


def _libm_values(name: str, x: np.ndarray) -> np.ndarray:
    """``name`` of each element by the C library lazyarr calls (NumPy may use its own SIMD
    versions instead, whose bits differ between machines)."""
    from lazyarr.backends import cpu_jit

    full = name if x.dtype == np.float64 else name + "f"
    fn = getattr(cpu_jit.libm(), full)
    ctype = ctypes.c_double if x.dtype == np.float64 else ctypes.c_float
    fn.restype, fn.argtypes = ctype, [ctype]
    return np.array([fn(v) for v in x.tolist()], dtype=x.dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_huge_trig_arguments_match_libm(name: str, dtype: type) -> None:
    """Beyond the reduction's range the lanes go to libm: libm's values exactly."""
    limit = mathlib.TRIG_LIMIT[0 if dtype == np.float64 else 1]
    rng = np.random.default_rng(3)
    big = np.exp2(rng.uniform(np.log2(limit) + 0.01, np.log2(np.finfo(dtype).max), 200))
    x = np.concatenate([big, -big, rng.uniform(-3, 3, 200)]).astype(dtype)
    rng.shuffle(x)  # huge and ordinary lanes mixed within vectors
    got = evaluate(name, x)
    want = _libm_values(name, x)
    huge = np.abs(x) > limit
    np.testing.assert_array_equal(got[huge], want[huge])
    np.testing.assert_allclose(got[~huge], want[~huge], rtol=8 * np.finfo(dtype).eps)


# -- vector code ---------------------------------------------------------------------------
_LIBM_CALL = re.compile(r"call [\w<> ]+ @\"?(exp|expm1|log|log1p|sin|cos|tan|tanh|sinh|cosh|"
                        r"atan|pow)f?\"?\(")


def _loop(opt: str) -> str:
    """The vectorised loop of optimised IR."""
    loop = opt[opt.find("vector.body"):]
    return loop[:loop.find("middle.block")]


def test_exp_kernel_calls_vector_math() -> None:
    a = la.asarray(np.linspace(0.0, 1.0, 1000))
    b = la.asarray(np.linspace(1.0, 2.0, 1000))
    opt = la.explain(2 * a + la.exp(-b)).llvm_opt
    assert "llvm.loop.isvectorized" in opt
    width = mathlib.lanes("exp", mathlib.FORMATS["double"], cpu.jit().register_bits)
    # one call of the out-of-line vector exp per vector, at the width the loop asked for
    assert re.search(rf"call <{width} x double> @_ZGV_LLVM_N{width}v_lazyarr_math_exp_f64\(",
                     _loop(opt))
    assert re.search(rf"fmul <{width} x double>", _loop(opt))
    assert not _LIBM_CALL.search(opt) and not re.search(r"@llvm\.exp\.", opt)


def _support_ir(symbol: str) -> str:
    """A support module's IR after the JIT's O3 pipeline."""
    from lazyarr.backends import cpu

    jit = cpu.jit()
    return str(jit.optimise(str(mathlib.support_module(symbol, jit.triple, jit.layout))))


def _function(opt: str, name: str) -> str:
    start = opt.index(f"@{name}(")
    return opt[start:opt.index("\n}\n", start)]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", sorted(mathlib.FUNCTIONS))
def test_support_functions_are_vector_code(name: str, dtype: type) -> None:
    """Every vector version is straight vector FMA code; libm appears only on the cold
    path of sin/cos/tan (huge arguments)."""
    fmt = mathlib.FORMATS["double" if dtype == np.float64 else "float"]
    opt = _support_ir(mathlib.support_symbol(name, fmt))
    # float32 pow, log2, log10, cbrt and hypot work in float64
    in_f64 = name in ("pow", "log2", "log10", "cbrt", "hypot")
    inner = "double" if in_f64 or dtype == np.float64 else "float"
    for width in mathlib.vector_widths(name, fmt, cpu.jit().register_bits):
        body = _function(opt, mathlib.vector_symbol(name, fmt, width))
        assert re.search(rf"@llvm\.fma\.v{width}f{64 if inner == 'double' else 32}", body)
        assert not _LIBM_CALL.search(body), (name, width)
        calls = re.findall(r"call [^@]*@\"?([\w.]+)", body)
        assert all(c.startswith("llvm.") or c.endswith(".lanes") for c in calls), calls
        assert any(c.endswith(".lanes") for c in calls) == (name in ("sin", "cos", "tan"))


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", [*UNARY, "power"])
def test_every_function_vectorises(name: str, dtype: type) -> None:
    args = [la.asarray(np.linspace(0.5, 1.5, 1000, dtype=dtype))] * (2 if name == "power" else 1)
    opt = la.explain(getattr(la, name)(*args)).llvm_opt
    ty = "double" if dtype == np.float64 else "float"
    symbol = mathlib.support_symbol("pow" if name == "power" else name,
                                    mathlib.FORMATS[ty])
    width = mathlib.lanes(*mathlib.SUPPORT_SYMBOLS[symbol], cpu.jit().register_bits)
    assert "llvm.loop.isvectorized" in opt
    loop = _loop(opt)
    assert f"call <{width} x {ty}> @_ZGV_LLVM_N{width}{'v' * len(args)}_{symbol}(" in loop
    assert not _LIBM_CALL.search(loop), name


def test_float32_and_float64_math_in_one_loop() -> None:
    """The loop takes the narrower width; the float32 functions have a version for it."""
    x = la.asarray(np.linspace(0.5, 1.5, 1000, dtype=np.float32))
    y = la.asarray(np.linspace(0.5, 1.5, 1000))
    opt = _loop(la.explain(la.exp(x) + la.sin(y)).llvm_opt)
    bits = cpu.jit().register_bits
    width = min(mathlib.lanes("exp", mathlib.FORMATS["float"], bits),
                mathlib.lanes("sin", mathlib.FORMATS["double"], bits))
    assert f"call <{width} x float> @_ZGV_LLVM_N{width}v_lazyarr_math_exp_f32(" in opt
    assert f"call <{width} x double> @_ZGV_LLVM_N{width}v_lazyarr_math_sin_f64(" in opt


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_reductions_call_vector_math_at_the_loop_width(dtype: type) -> None:
    """Row loops (codegen/rows.py) ask for the same width as element loops."""
    x = la.asarray(np.linspace(0.5, 1.5, 4000, dtype=dtype).reshape(4, 1000))
    opt = la.explain(la.exp(x).sum(axis=1)).llvm_opt
    suffix = "f64" if dtype == np.float64 else "f32"
    width = mathlib.lanes("exp", mathlib.FORMATS["double" if suffix == "f64" else "float"],
                          cpu.jit().register_bits)
    assert f"@_ZGV_LLVM_N{width}v_lazyarr_math_exp_{suffix}(" in opt


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", [*UNARY, "power"])
def test_scalar_and_vector_versions_agree_bit_for_bit(name: str, dtype: type) -> None:
    """The vector loop and its scalar remainder call different versions of a function: an
    element gives the same bits wherever it falls (here: in a long array, or alone)."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(40) * 3, _specials(dtype)]).astype(dtype)
    args = [x, np.abs(x[::-1]) + dtype(0.5)] if name == "power" else [x]
    together = evaluate(name, *args)
    alone = np.concatenate([evaluate(name, *[a[k:k + 1] for a in args])
                            for k in range(len(x))])
    np.testing.assert_array_equal(together.view(f"u{dtype(0).itemsize}"),
                                  alone.view(f"u{dtype(0).itemsize}"))


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_sin_and_cos_of_one_value_share_a_call(dtype: type) -> None:
    """Both in one kernel: one sincos call per vector, each result the bits sin and cos
    give alone (huge arguments too)."""
    limit = mathlib.TRIG_LIMIT[0 if dtype == np.float64 else 1]
    rng = np.random.default_rng(9)
    x = np.concatenate([rng.uniform(-10, 10, 500), rng.uniform(2, 40, 20) * limit,
                        _specials(dtype)]).astype(dtype)
    a = la.asarray(x)
    opt = la.explain(la.sin(a), la.cos(a)).llvm_opt
    loop = _loop(opt)
    step = re.search(r"%index\.next = add (?:nuw )?(?:nsw )?i64 %index, (\d+)", loop)
    assert step, loop
    if not scalar.SINCOS_VECTORISES:  # LLVM 20: sin and cos, each vectorised on its own
        for name in ("sin", "cos"):
            lanes = re.findall(rf"call <(\d+) x \w+> @_ZGV_LLVM_N(\d+)v_lazyarr_math_{name}"
                               r"_f(?:32|64)\(", loop)
            assert sum(int(n) for n, _ in lanes) == int(step.group(1)), loop
        assert "sincos" not in opt
    else:
        # one sincos lane per element: the calls' lanes add up to the elements one trip of
        # the vector loop does (the vectoriser may interleave: two calls a trip, AVX-512)
        lanes = re.findall(r"call \{ <(\d+) x \w+>, <\d+ x \w+> \} @_ZGV_LLVM_N(\d+)v_"
                           r"lazyarr_math_sincos_f(?:32|64)\(", loop)
        assert lanes, loop
        assert all(n == w for n, w in lanes)
        assert sum(int(n) for n, _ in lanes) == int(step.group(1))
        assert "math_sin_f" not in opt and "math_cos_f" not in opt
    s, c = la.eval(la.sin(a), la.cos(a))
    bits = f"u{dtype(0).itemsize}"
    np.testing.assert_array_equal(s.view(bits), evaluate("sin", x).view(bits))
    np.testing.assert_array_equal(c.view(bits), evaluate("cos", x).view(bits))


def test_libm_path_is_still_available(libm_path: None) -> None:
    a = la.asarray(np.linspace(0.0, 1.0, 1000))
    opt = la.explain(2 * a + la.exp(-a)).llvm_opt
    assert "@exp" in opt or "@llvm.exp" in opt


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_mathlib_and_libm_agree(dtype: type, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(11)
    x = rng.uniform(-20, 20, 5000).astype(dtype)
    y = rng.uniform(0.01, 5, 5000).astype(dtype)
    exprs = {"exp": (x,), "sin": (x,), "cos": (x,), "tanh": (x,), "log": (y,),
             "arctan": (x,), "power": (y, x)}
    ours = {name: evaluate(name, *args) for name, args in exprs.items()}
    monkeypatch.setattr(scalar, "USE_MATHLIB", False)
    la.clear_cache()
    try:
        for name, args in exprs.items():
            theirs = evaluate(name, *args)
            np.testing.assert_allclose(ours[name], theirs, rtol=8 * np.finfo(dtype).eps,
                                       atol=np.finfo(dtype).tiny, err_msg=name)
    finally:
        la.clear_cache()


_PTX_SCRIPT = """
import llvmlite.binding as llvm
from llvmlite import ir
from lazyarr.codegen import mathlib
llvm.initialize_all_targets()
llvm.initialize_all_asmprinters()
tm = llvm.Target.from_triple("nvptx64-nvidia-cuda").create_target_machine(cpu="sm_80", opt=3)
for ty in (mathlib.F32, mathlib.F64):
    m = ir.Module()
    m.triple, m.data_layout = "nvptx64-nvidia-cuda", str(tm.target_data)
    for name, (nargs, _) in mathlib.FUNCTIONS.items():
        f = ir.Function(m, ir.FunctionType(ty, [ty] * nargs), "k_" + name)
        b = ir.IRBuilder(f.append_basic_block("e"))
        b.ret(mathlib.call(b, name, list(f.args)))
    mod = llvm.parse_assembly(str(m))
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    ptx = tm.emit_assembly(mod)
    assert "call." not in ptx, ptx  # no libm (NVPTX has none) and nothing left uninlined
print("ok")
"""


def test_functions_emit_ptx_without_libm() -> None:
    """Target independence: every function lowers to PTX with no calls (in a subprocess,
    since an LLVM fatal error in NVPTX lowering would abort this process)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], capture_output=True, text=True,
                          timeout=120)
    if "No available targets" in done.stderr:
        pytest.skip("LLVM built without NVPTX")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
