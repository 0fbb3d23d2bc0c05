"""float16 as NumPy has it: a storage dtype whose every operation computes in float32 and
rounds its result to float16 (docs/float16.md).

Results are compared bit for bit with NumPy's on both backends: casts to and from every
dtype (overflow to inf, subnormal halves, ties, NaN), arithmetic, comparisons and the
functions whose float16 loops NumPy writes itself (maximum, nextafter, spacing, ...) over
every float16 value or random pairs of them. Transcendental functions are NumPy's float32
functions rounded to float16 in both libraries, so one ULP of float16 apart at most. Signalling
NaN halves are the one exception to bit equality: F16C's conversions quieten them, NumPy's
keep them, so NaNs are compared as NaNs.
"""

from __future__ import annotations

import math
import os
import platform
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from kernel_cases import kernel_of
from lazyarr.codegen import nvptx
from lazyarr.codegen.nvptx import Variant
from narrow_bits import assert_assembles, assert_bits, assert_only_converts, ulps
from narrow_bits import numpy_quietly as numpy

import lazyarr as la
from lazyarr.ir.graph import Op, make
from lazyarr.run.runtime import single_launch

BACKENDS = ("interp", "cpu")
F16 = np.dtype(np.float16)
ALL = np.arange(1 << 16, dtype=np.uint16).view(np.float16)  # every float16, NaNs included
SIGNALLING = np.isnan(ALL) & (ALL.view(np.uint16) & 0x0200 == 0)
HALVES = ALL[~SIGNALLING]  # every float16 but the signalling NaNs
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, 65504.0, -65504.0, 2.0 ** -24,
                    -(2.0 ** -24), 2.0 ** -14, np.inf, -np.inf, np.nan], F16)
OTHER_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float32", "float64")


def pairs(n: int = 60_000) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs of halves, then every pair of the special values."""
    rng = np.random.default_rng(16)
    a, b = rng.choice(HALVES, n), rng.choice(HALVES, n)
    return (np.concatenate([a, np.repeat(SPECIAL, len(SPECIAL))]),
            np.concatenate([b, np.tile(SPECIAL, len(SPECIAL))]))


def lazy(fn: Callable[..., Any], backend: str, *args: Any) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(la.eval(fn(*(la.asarray(a) for a in args)), backend=backend))


# -- casts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dst", OTHER_DTYPES)
def test_every_half_casts_like_numpy(backend: str, dst: str) -> None:
    from lazyarr.ir.reference import cast_values  # NumPy's astype, float to int defined

    got = lazy(lambda x: x.astype(dst), backend, HALVES)
    assert_bits(got, cast_values(HALVES, np.dtype(dst)), f"float16 -> {dst}")


def _sources(dt: str) -> np.ndarray:
    """Values of ``dt`` that round every way to float16: neighbours and midpoints of halves,
    overflow, underflow to zero and subnormals, and random ones."""
    rng = np.random.default_rng(2)
    if dt == "bool":
        return np.array([True, False])
    if dt[0] in "iu":
        info = np.iinfo(dt)
        near = np.arange(max(int(info.min), -70_000), min(int(info.max), 70_000) + 1)
        drawn = rng.integers(info.min, info.max, 10_000, dtype=dt, endpoint=True)
        return np.concatenate([near.astype(dt), drawn, np.array([info.min, info.max], dt)])
    t = np.dtype(dt).type
    finite = HALVES[np.isfinite(HALVES)].astype(dt)
    with np.errstate(invalid="ignore"):
        around = [np.nextafter(finite, t(np.inf)), np.nextafter(finite, -t(np.inf)),
                  (finite[:-1] + finite[1:]) / 2]
    scaled = rng.standard_normal(20_000) * 2.0 ** rng.integers(-30, 18, 20_000)
    extremes = [np.finfo(dt).max, -np.finfo(dt).max, np.finfo(dt).smallest_subnormal, 65519.99,
                65520.0, 2.0 ** -25, 3 * 2.0 ** -26, np.inf, -np.inf, np.nan, -0.0]
    return np.concatenate([finite, *around, scaled.astype(dt), np.array(extremes, dt)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src", OTHER_DTYPES)
def test_casts_to_float16_round_like_numpy(backend: str, src: str) -> None:
    x = _sources(src)
    got = lazy(lambda v: v.astype(np.float16), backend, x)
    assert_bits(got, numpy(lambda v: v.astype(np.float16), x), f"{src} -> float16")


def test_quiet_nan_payloads_survive_the_round_trip() -> None:
    quiet = ALL[np.isnan(ALL) & ~SIGNALLING]
    back = la.asarray(quiet).astype(np.float32).astype(np.float16).eval()
    np.testing.assert_array_equal(back.view(np.uint16), quiet.view(np.uint16))


# -- elementwise ops: NumPy's bits ------------------------------------------------------------
UNARY_EXACT = ["negative", "positive", "absolute", "fabs", "square", "reciprocal", "sign",
               "sqrt", "floor", "ceil", "trunc", "rint", "spacing", "isnan", "isinf",
               "isfinite", "signbit", "logical_not", "deg2rad", "rad2deg"]
BINARY_EXACT = ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "fmod",
                "copysign", "heaviside", "maximum", "minimum", "fmax", "fmin",
                "nextafter", "less", "less_equal", "greater", "greater_equal", "equal",
                "not_equal", "logical_and", "logical_or", "logical_xor", "hypot"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", UNARY_EXACT)
def test_unary_ops_on_every_half(backend: str, name: str) -> None:
    got = lazy(getattr(la, name), backend, HALVES)
    assert_bits(got, numpy(getattr(np, name), HALVES), f"{name} on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", BINARY_EXACT)
def test_binary_ops_on_pairs_of_halves(backend: str, name: str) -> None:
    a, b = pairs()
    got = lazy(getattr(la, name), backend, a, b)
    assert_bits(got, numpy(getattr(np, name), a, b), f"{name} on {backend}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_clip_and_where_keep_one_operands_bits(backend: str) -> None:
    a, b = pairs()
    c = np.roll(b, 1)
    assert_bits(lazy(la.clip, backend, a, b, c), numpy(np.clip, a, b, c), "clip")
    assert_bits(lazy(lambda x, y: la.where(x > y, x, y), backend, a, b),
                np.where(a > b, a, b), "where")
    # a float16 scalar is a kernel argument of its own (a halfword in the argument block)
    got = lazy(lambda x: la.where(x > 0, x, np.float16(0.1)), backend, a)
    assert_bits(got, np.where(a > 0, a, np.float16(0.1)), "where with a float16 scalar")


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_output_functions(backend: str) -> None:
    x = HALVES
    for k in range(2):
        assert_bits(lazy(lambda v, k=k: la.frexp(v)[k], backend, x), numpy(np.frexp, x)[k])
        assert_bits(lazy(lambda v, k=k: la.modf(v)[k], backend, x), numpy(np.modf, x)[k])
    e = np.resize(np.arange(-30, 30, dtype=np.int32), x.shape)
    assert_bits(lazy(la.ldexp, backend, x, e), numpy(np.ldexp, x, e), "ldexp")


MATH = ["exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "cbrt", "sin", "cos", "tan",
        "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", [*MATH, "arctan2", "logaddexp", "logaddexp2", "power"])
def test_math_functions_within_one_ulp_of_numpy(backend: str, name: str) -> None:
    """NumPy's float16 functions are float32 functions rounded to float16; so are lazyarr's
    (its own float32 math on the CPU, NumPy's float32 loops in the interpreter), and two
    float32 results a few float32 ULPs apart may round to neighbouring halves (NumPy's
    float32 ``power`` loop, which the interpreter calls, is not its float16 one's powf)."""
    args = (HALVES,) if name in MATH else pairs()
    got = lazy(getattr(la, name), backend, *args)
    want = numpy(getattr(np, name), *args)
    assert got.dtype == want.dtype == F16
    nan = np.isnan(want)
    assert (np.isnan(got) == nan).all(), name
    assert ulps(got[~nan], want[~nan]).max() <= 1, name


# -- promotion: NEP 50 and NumPy's float16 loops ----------------------------------------------
H = np.array([1.5, -2.25, 65504.0, 0.1, -0.0, 3.0], F16)
PROMOTIONS: dict[str, Callable[[Any, Any], Any]] = {
    "f16 + 2.0 stays float16": lambda m, x: x + 2.0,
    "f16 + 2 stays float16": lambda m, x: x + 2,
    "f16 * 1e6 overflows the weak scalar": lambda m, x: x * 1e6,
    "f16 + float32 is float32": lambda m, x: x + m.asarray(np.arange(6, dtype=np.float32)),
    "f16 + float64 is float64": lambda m, x: x + m.asarray(np.linspace(0, 1, 6)),
    "f16 + int8 is float16": lambda m, x: x + m.asarray(np.arange(6, dtype=np.int8)),
    "f16 + uint8 is float16": lambda m, x: x + m.asarray(np.arange(6, dtype=np.uint8)),
    "f16 + int16 is float32": lambda m, x: x + m.asarray(np.arange(6, dtype=np.int16)),
    "f16 + int64 is float64": lambda m, x: x + m.asarray(np.arange(6)),
    "f16 * np.float16 scalar": lambda m, x: x * np.float16(3.3),
    "f16 * np.float32 scalar": lambda m, x: x * np.float32(3.3),
    "f16 * np.float64 scalar": lambda m, x: x * np.float64(3.3),
    "sin(uint8) is float16": lambda m, x: m.sin(m.asarray(np.array([0, 1, 7, 200, 255],
                                                                   np.uint8))),
    "sqrt(int8) is float16": lambda m, x: m.sqrt(m.asarray(np.array([0, 1, 7, -3, 127],
                                                                    np.int8))),
    "exp(bool) is float16": lambda m, x: m.exp(m.asarray(np.array([True, False]))),
    "x ** 2": lambda m, x: x ** 2,
    "x ** 3": lambda m, x: x ** 3,
    "x ** 0.5": lambda m, x: x ** 0.5,
    "x ** -1": lambda m, x: x ** -1,
    "x // 0.7": lambda m, x: x // 0.7,
    "x < 70000": lambda m, x: x < 70000,
    "x == 0.1": lambda m, x: x == 0.1,
    "round(x, 1)": lambda m, x: m.round(x, 1),
    "nan_to_num(x / 0)": lambda m, x: m.nan_to_num(x / 0),
    "isclose(x, 1.5)": lambda m, x: m.isclose(x, 1.5),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(PROMOTIONS))
def test_promotion_is_numpys(backend: str, case: str) -> None:
    fn = PROMOTIONS[case]
    want = numpy(lambda: fn(np, H))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = np.asarray(la.eval(fn(la, la.asarray(H)), backend=backend))
    assert_bits(got, want, case)


def test_what_numpy_refuses_is_refused() -> None:
    with pytest.raises(TypeError):
        la.asarray(H) & 1
    with pytest.raises(TypeError):
        la.bitwise_count(la.asarray(H))


# -- reductions and scans -----------------------------------------------------------------------
def _data(shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) + 0.25).astype(np.float16)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std"])
@pytest.mark.parametrize("shape, axis", [((20_000,), None), ((64, 300), 1), ((64, 300), -1),
                                         ((6, 7, 300), 2)])
def test_row_reductions_are_numpys_bits(backend: str, name: str, shape: tuple[int, ...],
                                        axis: int | None) -> None:
    """Along the contiguous axis NumPy sums a row in float32 and rounds once (mean divides in
    float32 too): lazyarr's float32 sums are more accurate than NumPy's pairwise ones, which
    rounding to float16 hides here (a rare exact tie could tell them apart)."""
    x = _data(shape)
    got = lazy(lambda v: getattr(la, name)(v, axis=axis), backend, x)
    assert_bits(got, numpy(getattr(np, name), x, axis), name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["sum", "prod", "var"])
def test_reductions_across_rows_are_more_accurate_than_numpys(backend: str, name: str) -> None:
    """Across rows NumPy adds row by row in float16, rounding each partial result; lazyarr
    accumulates in float32 and rounds once: within one ULP of the exact result rounded to
    float16, where NumPy's is many ULPs off. (NumPy's mean sums in float32: next test.)"""
    x = _data((400, 50))
    if name == "prod":
        x = (1 + x / 64).astype(np.float16)
    got = lazy(lambda v: getattr(la, name)(v, axis=0), backend, x)
    exact = getattr(np, name)(x.astype(np.float64), axis=0).astype(np.float16)
    want = numpy(getattr(np, name), x, 0)
    assert got.dtype == want.dtype == F16
    assert ulps(got, exact).max() <= 1
    assert ulps(want, exact).max() > 1  # NumPy's own rounding: the comparison means something


@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_across_rows_sums_in_float32(backend: str) -> None:
    x = _data((400, 50))
    got = lazy(lambda v: la.mean(v, axis=0), backend, x)
    want = numpy(np.mean, x, 0)
    assert got.dtype == want.dtype == F16
    assert ulps(got, want).max() <= 1  # float32 sums in other orders, rounded to float16


@pytest.mark.parametrize("backend", BACKENDS)
def test_extrema_and_their_indices_are_exact(backend: str) -> None:
    a, b = pairs(3000)
    x = np.stack([a[:3000], b[:3000]]).reshape(6, 1000)
    for name in ("max", "min", "argmax", "argmin"):
        for axis in (None, 0, 1):
            got = lazy(lambda v, n=name, ax=axis: getattr(la, n)(v, axis=ax), backend, x)
            assert_bits(got, numpy(getattr(np, name), x, axis), f"{name} axis={axis}")


def test_sum_of_many_halves_overflows_like_numpy() -> None:
    x = np.full(100_000, 1.5, F16)  # 150000 is beyond float16: inf, as NumPy's
    for name in ("sum", "var", "std", "mean"):
        assert_bits(la.asarray(x).__getattribute__(name)().eval(), numpy(getattr(np, name), x))


@pytest.mark.parametrize("backend", BACKENDS)
def test_scans_round_each_partial_result(backend: str) -> None:
    x = _data((5, 2000))
    assert_bits(lazy(lambda v: la.cumulative_sum(v, axis=1), backend, x),
                np.cumulative_sum(x, axis=1))
    y = (1 + x / 128).astype(F16)
    assert_bits(lazy(lambda v: la.cumulative_prod(v, axis=0), backend, y),
                np.cumulative_prod(y, axis=0))
    z = x.astype(np.float64)
    assert_bits(lazy(lambda v: la.cumulative_sum(v, axis=1, dtype=F16), backend, z),
                np.cumulative_sum(z, axis=1, dtype=F16))


# -- memory: views, strides, byte order, out= ---------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_views_strides_and_big_endian_inputs(backend: str) -> None:
    x = _data((64, 48))
    y = _data((48,), seed=4).astype(">f2")
    for a in (x, x.astype(">f2"), x[::-3, 1::2], x.astype(">f2")[::2, ::-1].T,
              np.asfortranarray(x)):
        b = y[: a.shape[-1]] if a.shape[-1] <= 48 else y
        assert_bits(lazy(lambda u, v: u * 2 + v, backend, a, b), a * 2 + b, str(a.dtype))


@pytest.mark.parametrize("order", ["<f2", ">f2"])
def test_out_arrays_of_float16_in_either_byte_order(order: str) -> None:
    x, y = _data((30, 40)), _data((40,), seed=5)
    out = np.empty((30, 40), order)
    la.eval(la.asarray(x) * la.asarray(y) - 1, out=out)
    np.testing.assert_array_equal(out.astype(F16).view(np.uint16), (x * y - 1).view(np.uint16))
    out = np.zeros((40, 60), order)
    la.eval(la.asarray(x.T).astype(np.float32) * 3, out=out[:, ::2])  # float32 into halves
    np.testing.assert_array_equal(out[:, ::2], (x.T.astype(np.float32) * 3).astype(F16))


# -- kernels ------------------------------------------------------------------------------------
def test_one_kernel_that_only_converts_halves() -> None:
    x, y = la.asarray(_data((1000,))), la.asarray(_data((1000,), 6))
    for expr in (la.exp(x) * 2 + y, la.sum(x * y), la.maximum(x, y), la.nextafter(x, y)):
        (kernel,) = la.explain(expr).kernel_objects
        assert_only_converts(kernel, F16)


def test_a_kernel_computing_in_float16_is_refused() -> None:
    """The front end builds float16 ops in float32; a float16 op built around it (here by
    hand) is refused by the code generator rather than computed in half precision."""
    x = la.asarray(np.ones(8, F16))._node
    node = make(Op.ADD, F16, x.shape, (x, x))
    with pytest.raises(NotImplementedError, match="float16"):
        la.eval(la.LazyArray(node))


def _gpu_kernels() -> list[tuple[Any, Variant]]:
    x = la.asarray(_data((64,)))
    flat = kernel_of([x * 2 + la.asarray(_data((64,), 7).astype(">f2")),
                      la.asarray(np.linspace(0, 1, 64)).astype(np.float16)])
    rows = single_launch([la.sum(x.reshape(8, 8), axis=1)._node], [np.zeros(8, F16)],
                         cpu=False).kernel
    return [(flat, Variant()), (flat, Variant(vector=True))] + [
        (rows, Variant(strategy=s)) for s in ("block", "thread", "split", "combine")]


def test_gpu_kernels_convert_with_ptx_instructions(tmp_path) -> None:
    for k, (kernel, variant) in enumerate(_gpu_kernels()):
        ptx = nvptx.emit_ptx(kernel, f"k{k}", variant)
        # a split reduction's partial rows only read halves, its combining step only writes
        if variant.strategy != "combine":
            assert "cvt.f32.f16" in ptx, variant
        if variant.strategy != "split":
            assert "cvt.rn.f16.f32" in ptx, variant
        assert_assembles(ptx, tmp_path / f"k{k}.ptx", variant)


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="an x86 CPU name")
def test_cpus_without_half_conversions_use_the_linked_runtime() -> None:
    """Sandy Bridge has no F16C: LLVM calls __extendhfsf2 and __truncsfhf2 there, which the
    CPU backend links (codegen/half.py), bit for bit NumPy's, signalling NaNs included."""
    script = (
        "import numpy as np, lazyarr as la\n"
        "h = np.arange(65536, dtype=np.uint16).view(np.float16)\n"
        "d = np.linspace(-7e4, 7e4, 100001)\n"
        "with np.errstate(all='ignore'):\n"
        "    want = [h.astype(np.float32), (h * np.float16(3)), d.astype(np.float16)]\n"
        "got = [la.asarray(h).astype(np.float32).eval(), (la.asarray(h) * 3).eval(),\n"
        "       la.asarray(d).astype(np.float16).eval()]\n"
        "for g, w in zip(got, want):\n"
        "    n = np.isnan(w)\n"
        "    assert (np.isnan(g) == n).all() and (g[~n] == w[~n]).all()\n"
        "    assert (np.signbit(g) == np.signbit(w)).all()\n"
        "assert (got[0].view(np.uint32) == want[0].view(np.uint32)).all()\n"
        "print('ok')\n")
    env = {**os.environ, "LAZYARR_CPU": "sandybridge"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, check=False, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_creation_and_astype_in_float16() -> None:
    assert_bits(la.zeros(3, dtype=np.float16).eval(), np.zeros(3, F16))
    assert_bits(la.full((2, 3), 0.1, dtype=np.float16).eval(), np.full((2, 3), 0.1, F16))
    assert_bits(la.linspace(0, 1, 101, dtype=np.float16).eval(),
                np.linspace(0, 1, 101, dtype=np.float16))
    assert_bits(la.asarray(np.float16(2.5)).eval(), np.asarray(np.float16(2.5)))
    total = la.prod(np.linspace(1, 2, 7), dtype=np.float16).eval()
    assert_bits(total, np.asarray(np.prod(np.linspace(1, 2, 7), dtype=np.float16)))
    assert math.isinf(la.asarray(np.array([1e6])).astype(np.float16).eval()[0])


def test_nn_layers_keep_float16():
    """la.nn's exact GELU (erfc, whose loop is float64's) and layer norm return float16, as
    PyTorch's do, within an ULP of float16 of the float64 result."""
    x = np.linspace(-4, 4, 1001).astype(np.float16)
    wide = x.astype(np.float64)
    erfc = np.vectorize(math.erfc)
    want = 0.5 * wide * erfc(-wide / math.sqrt(2))
    got = la.nn.gelu(x).eval()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=2**-10, atol=2**-24)
    rows = x[:1000].reshape(10, 100)
    norm = la.nn.layer_norm(rows, (100,)).eval()
    mu = rows.astype(np.float64).mean(-1, keepdims=True)
    ref = (rows - mu) / np.sqrt(rows.astype(np.float64).var(-1, keepdims=True) + 1e-5)
    assert norm.dtype == np.float16
    np.testing.assert_allclose(norm.astype(np.float64), ref, rtol=4 * 2**-10, atol=4 * 2**-10)
