"""erf and erfc from lazyarr's own math library (``codegen/mathlib_erf.py``).

The functions are reached through a loop calling mathlib's out-of-line function by name
(``benchmarks/ulp.py``'s ``mathlib_kernel``: the vector versions for the loop, the scalar
one for its remainder), so these tests do not depend on an op routing to them. Checked:
ULP bounds against mpmath (200 bits) on random points over the whole range and its hard
parts (tiny and subnormal arguments, the split at 3/4, the pieces' edges, erfc's underflow
region), float32 on every float32 of its hard ranges against the float64 functions, that
float32 computes in float32, special values, symmetries, vector code in the optimised CPU IR
and PTX without libdevice or libm.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import mpmath
import numpy as np
import pytest
from lazyarr.codegen import mathlib, mathlib_erf
from test_mathlib import ulp

FLOATS = (np.float32, np.float64)
NAMES = ("erf", "erfc")
BOUND = 4.0  # ULP, docs/math.md (measured: under 1.1 for float64, 1.85 for float32)
EXAMPLES = int(os.environ.get("LAZYARR_TEST_EXAMPLES") or 2000)
MP = {"erf": mpmath.erf, "erfc": mpmath.erfc}


def _ids(dt: type) -> str:
    return np.dtype(dt).name


def evaluate(name: str, x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    ulp.mathlib_kernel(name, x.dtype.type)(x, out)
    return out


def mp_ulps(name: str, x: np.ndarray, got: np.ndarray) -> np.ndarray:
    """|got - exact| / ulp(exact), exact by mpmath at 200 bits (0 where both are 0)."""
    info = np.finfo(x.dtype)
    out = np.empty(len(x))
    with mpmath.workprec(200):
        for i, (xi, gi) in enumerate(zip(x.tolist(), got.tolist(), strict=True)):
            exact = MP[name](mpmath.mpf(xi))
            if exact == 0:
                out[i] = 0.0 if gi == 0 else np.inf
                continue
            e = max(int(mpmath.floor(mpmath.log(abs(exact), 2))), info.minexp)
            out[i] = float(abs(mpmath.mpf(gi) - exact) / mpmath.ldexp(1, e - info.nmant))
    return out


# -- accuracy --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_screen(name: str, dtype: type) -> None:
    """benchmarks/ulp.py's measurement: 300,000 points, a long double screen, the worst 16
    recomputed with mpmath; no special value differs."""
    result = ulp.measure(ulp.FUNCTIONS[name], dtype, 300_000, np.random.default_rng(5), 16)
    assert result.max_ulp <= BOUND, (result.max_ulp, result.worst)
    assert result.special_bad == 0


def _hard(rng: np.random.Generator, dt: type) -> np.ndarray:
    """Points where the method changes or the result is delicate, each against mpmath."""
    top = 27.3 if dt == np.float64 else 10.2
    under = 26.5 if dt == np.float64 else 9.2  # erfc reaches the subnormal range near here
    parts = [rng.uniform(0.7, 1.3, EXAMPLES), rng.uniform(1.3, 6, EXAMPLES),
             rng.uniform(under - 1, top, EXAMPLES),
             np.exp2(rng.uniform(np.log2(float(np.finfo(dt).smallest_subnormal)), -1, EXAMPLES))]
    x = np.concatenate(parts)
    return np.concatenate([x, -x]).astype(dt)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_against_mpmath(name: str, dtype: type) -> None:
    x = _hard(np.random.default_rng(21), dtype)
    err = mp_ulps(name, x, evaluate(name, x))
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND, (err[worst], float(x[worst]))


def _float32_run(lo: float, hi: float, step: int = 1) -> np.ndarray:
    """Every ``step``-th float32 from ``lo`` to ``hi`` (both positive), and their negatives."""
    ends = np.array([lo, hi], np.float32).view(np.int32)
    x = np.arange(ends[0], ends[1] + 1, step, dtype=np.int32).view(np.float32)
    return np.concatenate([x, -x])


def _ulps_from_wide(got: np.ndarray, wide: np.ndarray) -> np.ndarray:
    """|got - wide| in float32 ULPs of ``wide`` (a float64 value: the subnormal ULP below
    2^-126, and 0 where both are 0)."""
    e = np.floor(np.log2(np.maximum(np.abs(wide), 2.0 ** -149)))
    err = np.abs(got.astype(np.float64) - wide) / np.exp2(np.maximum(e, -126) - 23)
    return np.where((got == 0) & (wide == 0), 0.0, err)


# measured on every float32 (below 2^-10 every 16th) against scipy.special's float64 and the
# worst confirmed with mpmath: erf 1.17 at 0.75046, erfc 1.85 at 0.83510 (docs/math.md)
FLOAT32_MEASURED = {"erf": 1.2, "erfc": 1.9}


@pytest.mark.parametrize("name", NAMES)
def test_float32_on_every_float32_of_its_hard_ranges(name: str) -> None:
    """float32 against the float64 functions (within about an ULP of float64, 2^-29 ULP of
    float32): every float32 around the split at 3/4, where erf reaches 1 (3.92: its tail is
    clamped at 4) and where erfc turns subnormal (from 9.2: the scaling by 2^(n + 64)) and
    zero (10.13, clamped at 10.2), and every 256th float32 from 2^-30 to 11."""
    x = np.concatenate([_float32_run(0.74, 0.76), _float32_run(3.85, 4.1),
                        _float32_run(9.1, 10.3), _float32_run(2.0 ** -30, 11.0, 256)])
    err = _ulps_from_wide(evaluate(name, x), evaluate(name, x.astype(np.float64)))
    worst = int(np.argmax(err))
    assert err[worst] <= FLOAT32_MEASURED[name], (err[worst], float(x[worst]))


@pytest.mark.parametrize("name", NAMES)
def test_float32_computes_in_float32(name: str) -> None:
    """float32 erf and erfc have their own float32 code: no float64 anywhere in their
    support module (the float64 algorithm rounded at the end was three times slower)."""
    symbol = mathlib.support_symbol(name, mathlib.FORMATS["float"])
    text = str(mathlib.support_module(symbol))
    assert "double" not in text and "fpext" not in text and "fptrunc" not in text


# -- special values and symmetries -----------------------------------------------------------
def _bits(a: np.ndarray) -> np.ndarray:
    return a.view(f"u{a.dtype.itemsize}")


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_special_values(dtype: type) -> None:
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0], dtype)
    erf, erfc = evaluate("erf", x), evaluate("erfc", x)
    assert np.isnan(erf[:2]).all() and np.isnan(erfc[:2]).all()
    np.testing.assert_array_equal(_bits(erf[2:]), _bits(np.array([1, -1, 0.0, -0.0], dtype)))
    np.testing.assert_array_equal(erfc[2:], np.array([0, 2, 1, 1], dtype))
    big = np.array([np.finfo(dtype).max, 1e4, 100, 40], dtype)
    assert (evaluate("erf", big) == 1).all() and (evaluate("erf", -big) == -1).all()
    assert (evaluate("erfc", big) == 0).all() and (evaluate("erfc", -big) == 2).all()


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_tiny_arguments(dtype: type) -> None:
    """erf(x) ~ 2x/sqrt(pi), rounded once, down to the smallest subnormal (no underflow to
    0); the sign of zero kept."""
    info = np.finfo(dtype)
    x = np.array([info.smallest_subnormal, 3 * info.smallest_subnormal, info.tiny, 1e-30,
                  float(info.eps) ** 2, float(info.eps)], dtype)
    x = np.concatenate([x, -x])
    got = evaluate("erf", x)
    assert (np.sign(got) == np.sign(x)).all()
    assert mp_ulps("erf", x, got).max() <= 1
    erfc = evaluate("erfc", x)
    assert (erfc[np.abs(x) < info.eps / 4] == 1).all()
    assert mp_ulps("erfc", x, erfc).max() <= 1


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_erfc_underflow(dtype: type) -> None:
    """Subnormal results, then exact zeros, and no NaN on the way (float64 from 26.5)."""
    lo, hi = (26.4, 28.0) if dtype == np.float64 else (9.1, 10.6)
    x = np.linspace(lo, hi, 20001).astype(dtype)
    got = evaluate("erfc", x)
    assert np.isfinite(got).all() and (got >= 0).all()
    assert (np.diff(got) <= 0).all()  # monotone through the subnormal range
    assert (got[x > (27.23 if dtype == np.float64 else 10.13)] == 0).all()
    sub = (got > 0) & (got < np.finfo(dtype).tiny)
    assert sub.any()
    err = mp_ulps("erfc", x[::20], got[::20])
    assert err.max() <= BOUND


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_symmetries(dtype: type) -> None:
    """erf is odd bit for bit; erfc(-x) = 2 - erfc(x) within an ULP of erfc(-x) (each is
    rounded once on its own)."""
    x = np.random.default_rng(4).uniform(0, 8, 5000).astype(dtype)
    np.testing.assert_array_equal(_bits(evaluate("erf", -x)), _bits(-evaluate("erf", x)))
    neg = evaluate("erfc", -x)
    two_minus = 2 - evaluate("erfc", x).astype(np.float64)
    assert (np.abs(neg - two_minus) <= np.spacing(neg)).all()


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_scalar_and_vector_versions_agree_bit_for_bit(name: str, dtype: type) -> None:
    x = np.concatenate([np.random.default_rng(6).uniform(-30, 30, 97),
                        ulp.specials(dtype).astype(np.float64)]).astype(dtype)
    together = evaluate(name, x)
    alone = np.concatenate([evaluate(name, x[k:k + 1]) for k in range(len(x))])
    np.testing.assert_array_equal(_bits(together), _bits(alone))


# -- code ------------------------------------------------------------------------------------
def test_registered() -> None:
    for name in NAMES:
        assert mathlib.FUNCTIONS[name] == mathlib_erf.FUNCTIONS[name]
        for fmt in mathlib.FORMATS.values():
            assert mathlib.support_symbol(name, fmt) in mathlib.SUPPORT_SYMBOLS
        assert mathlib_erf.C_NAMES[name] == name


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_loop_calls_vector_versions(name: str, dtype: type) -> None:
    """The loop's vector body calls a vector version at the loop width, nothing from libm."""
    from lazyarr.backends import cpu

    text, _ = ulp.mathlib_loop(name, dtype)
    opt = str(cpu.jit().optimise(text))
    body = opt[opt.find("vector.body"):]
    body = body[:body.find("middle.block")]
    suffix = "f64" if dtype == np.float64 else "f32"
    ty = "double" if dtype == np.float64 else "float"
    width = mathlib.lanes(name, mathlib.FORMATS[ty], cpu.jit().register_bits)
    assert f"call <{width} x {ty}> @_ZGV_LLVM_N{width}v_lazyarr_math_{name}_{suffix}(" in body
    assert not re.search(rf"@\"?{name}f?\"?\(", opt)


_PTX_SCRIPT = """
import llvmlite.binding as llvm
from llvmlite import ir
from lazyarr.codegen import mathlib
llvm.initialize_all_targets()
llvm.initialize_all_asmprinters()
tm = llvm.Target.from_triple("nvptx64-nvidia-cuda").create_target_machine(cpu="sm_80", opt=3)
m = ir.Module()
m.triple, m.data_layout = "nvptx64-nvidia-cuda", str(tm.target_data)
for ty in (mathlib.F32, mathlib.F64):
    for name in ("erf", "erfc"):
        f = ir.Function(m, ir.FunctionType(ty, [ty]), f"k_{name}_{ty}")
        b = ir.IRBuilder(f.append_basic_block("e"))
        b.ret(mathlib.call(b, name, list(f.args)))
text = str(m)
assert "@erf" not in text and "__nv_" not in text, text
mod = llvm.parse_assembly(text)
mod.verify()
pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
pb.getModulePassManager().run(mod, pb)
ptx = tm.emit_assembly(mod)
assert "call." not in ptx and ".extern" not in ptx, ptx
print("ok")
"""


def test_ptx_without_libdevice_or_libm() -> None:
    """Inlined for NVPTX: no call of any kind is left (no libm, no libdevice). In a child
    process: an LLVM fatal error in NVPTX lowering would end this one."""
    done = subprocess.run([sys.executable, "-c", _PTX_SCRIPT], capture_output=True, text=True,
                          timeout=300, check=False)
    if "No available targets" in done.stderr:
        pytest.skip("LLVM built without NVPTX")
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
