"""bfloat16 (ml_dtypes' dtype) as ml_dtypes defines it: a storage dtype whose every operation
computes in float32 and rounds its result to bfloat16, to nearest even (docs/float16.md).

Results are compared bit for bit with NumPy's ufuncs on ml_dtypes arrays, on both backends:
casts to and from every dtype over every bfloat16 value or values built around rounding ties,
arithmetic, comparisons and the functions ml_dtypes writes itself (maximum, nextafter,
spacing, sign), over every bfloat16 or random pairs of them. NaNs are compared as NaNs (a NaN
that an operation makes, such as ``0 / 0``, has the sign and payload of the float32 routine
that made it), except where one operand's bits are the result (maximum, minimum, where).
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

ml_dtypes = pytest.importorskip("ml_dtypes")

from kernel_cases import kernel_of  # noqa: E402
from lazyarr.codegen import nvptx  # noqa: E402
from lazyarr.codegen.nvptx import Variant  # noqa: E402
from narrow_bits import assert_assembles, assert_bits, assert_only_converts, isnan, ulps  # noqa: E402
from narrow_bits import numpy_quietly as numpy  # noqa: E402

import lazyarr as la  # noqa: E402
from lazyarr.ir.graph import Op, make  # noqa: E402
from lazyarr.ir.reference import cast_values  # noqa: E402
from lazyarr.run.runtime import single_launch  # noqa: E402

BACKENDS = ("interp", "cpu")
BF16 = np.dtype(ml_dtypes.bfloat16)
ALL = np.arange(1 << 16, dtype=np.uint16).view(BF16)  # every bfloat16, NaNs included
BIGGEST = float(np.uint32(0x7F7F0000).view(np.float32))
SPECIAL = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 3.0, -3.0, 7.0, 0.1, BIGGEST, -BIGGEST,
                    2.0 ** -133, -(2.0 ** -133), 2.0 ** -126, np.inf, -np.inf, np.nan], BF16)
OTHER_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                "uint64", "float16", "float32", "float64")


def pairs(n: int = 60_000, scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Random pairs of bfloat16 values (any bits, or normal values of ``scale``), then every
    pair of the special values."""
    rng = np.random.default_rng(26)
    if scale is None:
        a, b = rng.choice(ALL, n), rng.choice(ALL, n)
    else:
        a, b = ((rng.standard_normal(n) * scale).astype(BF16) for _ in range(2))
    return (np.concatenate([a, np.repeat(SPECIAL, len(SPECIAL))]),
            np.concatenate([b, np.tile(SPECIAL, len(SPECIAL))]))


def lazy(fn: Callable[..., Any], backend: str, *args: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = la.eval(*_tuple(fn(*(la.asarray(a) for a in args))), backend=backend)
    return result


def _tuple(x: Any) -> tuple:
    return x if isinstance(x, tuple) else (x,)


# -- casts ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dst", OTHER_DTYPES)
def test_every_bfloat16_casts_like_ml_dtypes(backend: str, dst: str) -> None:
    """Exact widenings (float32, float64), rounding to float16 (NaN is ml_dtypes' quiet NaN
    there), truthiness. To integers lazyarr's rule as for every float (saturating, NaN to 0),
    which is ml_dtypes' cast wherever that is defined (in range)."""
    dt = np.dtype(dst)
    got = lazy(lambda v: v.astype(dt), backend, ALL)
    if dt.kind in "iu":
        assert_bits(got, cast_values(ALL.astype(np.float32), dt), dst)
        lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
        with np.errstate(invalid="ignore"):
            wide = ALL.astype(np.float64)
            inside = (wide >= lo) & (wide < hi + 1.0)
        assert_bits(got[inside], numpy(lambda: ALL[inside].astype(dt)), dst)
    else:
        assert_bits(got, numpy(lambda: ALL.astype(dt)), dst, nan_bits=dt.kind == "f")


def _sources(dst: str) -> np.ndarray:
    """Values of ``dst`` that round to bfloat16 in every way: random bits or magnitudes, and
    for the wide types values a hair below, at and above the ties between bfloat16s (where
    rounding twice, through float32, would go wrong)."""
    rng = np.random.default_rng(7)
    dt = np.dtype(dst)
    if dt.kind == "b":
        return np.array([False, True])
    if dt.kind in "iu":
        width = 8 * dt.itemsize
        info = np.iinfo(dt)
        raw = rng.integers(0, 2 ** 63, 50_000, dtype=np.uint64)
        shift = rng.integers(0, width, 50_000).astype(np.uint64)
        values = [int(v) for v in raw >> np.uint64(64 - width) >> shift]
        top = width - (dt.kind == "i")
        for e in range(9, top):  # an 8-bit significand k at 2**e, plus half its step
            for k in rng.integers(128, 256, 40):
                values += [(int(k) << e) + (1 << (e - 1)) + d for d in (-1, 0, 1)]
        values += [-v for v in values] if dt.kind == "i" else []
        values += [info.min, info.max, 0, 1]
        return np.array([v for v in values if info.min <= v <= info.max], dt)
    if dt.itemsize == 2:
        return np.arange(1 << 16, dtype=np.uint16).view(np.float16)
    base = ALL.astype(dt)
    step = np.abs(np.spacing(ALL).astype(dt)) / 2
    if dt.itemsize == 4:
        raw = rng.integers(0, 2 ** 32, 100_000, dtype=np.uint32).view(np.float32)
        below = (base.view(np.uint32) + np.uint32(0x7FFF)).view(np.float32)
        above = (base.view(np.uint32) + np.uint32(0x8001)).view(np.float32)
        return np.concatenate([raw, base + step, below, above])
    raw = rng.integers(0, 2 ** 64, 100_000, dtype=np.uint64).view(np.float64)
    return np.concatenate([raw, base + step, base + step * (1 + 2.0 ** -40),
                           base + step * (1 - 2.0 ** -40), [1e-45, 1e-40, 3.5e38, -1e39]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src", OTHER_DTYPES)
def test_casts_to_bfloat16_round_once_like_ml_dtypes(backend: str, src: str) -> None:
    with np.errstate(all="ignore"):
        x = _sources(src)
    assert_bits(lazy(lambda v: v.astype(BF16), backend, x), numpy(lambda: x.astype(BF16)), src)


def test_nan_conversions_are_ml_dtypes_quiet_nans() -> None:
    """float32 NaNs (payload dropped) become 0x7fc0 with their sign; bfloat16 NaNs widen with
    their payload, and become float16's 0x7e00 with their sign."""
    f = np.array([0x7FC12345, 0xFFC12345, 0x7F800001], np.uint32).view(np.float32)
    got = la.asarray(f).astype(BF16).eval()
    np.testing.assert_array_equal(got.view(np.uint16), [0x7FC0, 0xFFC0, 0x7FC0])
    b = np.array([0x7FC1, 0xFF81], np.uint16).view(BF16)
    np.testing.assert_array_equal(la.asarray(b).astype(np.float32).eval().view(np.uint32),
                                  [0x7FC10000, 0xFF810000])
    np.testing.assert_array_equal(la.asarray(b).astype(np.float16).eval().view(np.uint16),
                                  [0x7E00, 0xFE00])


# -- elementwise ops ----------------------------------------------------------------------------
EXACT_UNARY = ("negative", "positive", "absolute", "fabs", "sign", "sqrt", "square",
               "reciprocal", "floor", "ceil", "trunc", "rint", "spacing", "isnan", "isinf",
               "isfinite", "signbit", "logical_not", "cbrt", "deg2rad", "rad2deg")
EXACT_BINARY = ("add", "subtract", "multiply", "divide", "floor_divide", "remainder", "fmod",
                "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",
                "logical_and", "logical_or", "logical_xor", "copysign", "heaviside", "hypot",
                "nextafter")
PICKS = ("maximum", "minimum", "fmax", "fmin")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", EXACT_UNARY)
def test_unary_ops_on_every_bfloat16(backend: str, name: str) -> None:
    fn = getattr(np, name)
    assert_bits(lazy(getattr(la, name), backend, ALL), numpy(fn, ALL), name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", EXACT_BINARY)
def test_binary_ops_on_pairs_of_bfloat16(backend: str, name: str) -> None:
    a, b = pairs()
    assert_bits(lazy(getattr(la, name), backend, a, b), numpy(getattr(np, name), a, b), name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", PICKS)
def test_maximum_and_minimum_keep_one_operands_bits(backend: str, name: str) -> None:
    """ml_dtypes picks an operand (of equal zeros the second, a NaN's payload kept)."""
    nans = np.array([0x7FC1, 0xFFC3, 0x7FC0], np.uint16).view(BF16)
    a, b = pairs(20_000)
    a, b = np.concatenate([a, nans, nans[::-1]]), np.concatenate([b, nans[::-1], nans])
    assert_bits(lazy(getattr(la, name), backend, a, b), numpy(getattr(np, name), a, b), name,
                nan_bits=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_where_and_sign_keep_bits(backend: str) -> None:
    a, b = pairs(5_000)
    assert_bits(lazy(lambda x, y: la.where(x > y, x, y), backend, a, b), np.where(a > b, a, b),
                nan_bits=True)
    # ml_dtypes' sign is x itself at zeros and NaNs: -0.0 stays -0.0, payloads stay
    edge = np.array([0x8000, 0x0000, 0x7FC1, 0xBF80, 0x0001], np.uint16).view(BF16)
    assert_bits(lazy(la.sign, backend, edge), numpy(np.sign, edge), nan_bits=True)


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_output_functions(backend: str) -> None:
    a, b = pairs(20_000)
    for name, args in (("divmod", (a, b)), ("frexp", (ALL,)), ("modf", (ALL,))):
        got, want = lazy(getattr(la, name), backend, *args), numpy(getattr(np, name), *args)
        for g, w in zip(got, want, strict=True):
            assert_bits(g, w, name)


MATH = ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
        "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", (*MATH, "arctan2", "logaddexp", "logaddexp2", "power",
                                  "float_power"))
def test_math_functions_within_one_ulp_of_ml_dtypes(backend: str, name: str) -> None:
    """ml_dtypes computes these as the C library's float32 function of the widened value,
    rounded to bfloat16; lazyarr as its own float32 function (NumPy's float32 loop in the
    interpreter), rounded the same way. Two float32 results an ULP or so of float32 apart
    can straddle a rounding boundary of bfloat16, 2**16 float32 ULPs wide: they then round
    to neighbouring bfloat16s, so one ULP of bfloat16 is the bound (almost every value is
    equal, which is checked too)."""
    fn = getattr(np, name)
    args = (ALL,) if fn.nin == 1 else pairs(scale=4.0)
    got, want = lazy(getattr(la, name), backend, *args), numpy(fn, *args)
    assert got.dtype == want.dtype == BF16
    nan = isnan(want)
    np.testing.assert_array_equal(isnan(got), nan, err_msg=name)
    distance = ulps(got[~nan], want[~nan])
    assert distance.max() <= 1, name
    assert (distance == 0).mean() > 0.999, name


# -- promotion (ml_dtypes': bfloat16 with int8, uint8, bool stays; with int16, float16 and
# float32 it is float32; with the 32- and 64-bit integers float64) -------------------------------
PROMOTION_CASES = {
    "bf16 + bf16": lambda x, m: x + x[::-1],
    "bf16 + float16": lambda x, m: x + m(np.float16),
    "bf16 * float32": lambda x, m: x * m(np.float32),
    "bf16 - float64": lambda x, m: x - m(np.float64),
    "bf16 + int8": lambda x, m: x + m(np.int8),
    "uint8 * bf16": lambda x, m: m(np.uint8) * x,
    "bf16 + int16": lambda x, m: x + m(np.int16),
    "bf16 + int32": lambda x, m: x + m(np.int32),
    "bf16 + int64": lambda x, m: x + m(np.int64),
    "bf16 + bool": lambda x, m: x + m(np.bool_),
    "bf16 + 2.5 (weak)": lambda x, m: x + 2.5,
    "3 * bf16 (weak)": lambda x, m: 3 * x,
    "bf16 + 1e39 (weak, inf)": lambda x, m: x + 1e39,
    "bf16 / np.float32(3)": lambda x, m: x / np.float32(3),
    "bf16 < float32": lambda x, m: x < m(np.float32),
    "bf16 == 0.1 (weak)": lambda x, m: x == 0.1,
    "bf16 >= int8": lambda x, m: x >= m(np.int8),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", list(PROMOTION_CASES))
def test_promotion_is_ml_dtypes(backend: str, case: str) -> None:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(500) * 5).astype(BF16)
    other = (rng.standard_normal(500) * 5)

    def make_numpy(dt: Any) -> np.ndarray:
        return other.astype(dt)

    def make_lazy(dt: Any) -> Any:
        return la.asarray(other.astype(dt))

    fn = PROMOTION_CASES[case]
    want = numpy(fn, x, make_numpy)
    got = la.eval(fn(la.asarray(x), make_lazy), backend=backend)
    assert_bits(got, want, case)


def test_what_ml_dtypes_refuses_is_refused() -> None:
    x = la.asarray(np.ones(4, BF16))
    with pytest.raises(TypeError):
        np.bitwise_and(np.ones(4, BF16), np.ones(4, BF16))
    with pytest.raises(TypeError):
        la.bitwise_and(x, x)
    with pytest.raises(TypeError):
        la.left_shift(x, 1)


# -- reductions and scans ---------------------------------------------------------------------
def _data(shape: tuple[int, ...], seed: int = 5, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(BF16)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_sums_accumulate_in_float32_and_round_once(backend: str, axis: int | None) -> None:
    """NumPy's add.reduce on ml_dtypes' loop rounds every partial sum to bfloat16; lazyarr
    sums in float32 (as NumPy's float16 sum) and rounds once: the float32 sum rounded."""
    x = _data((60, 70))
    want32 = np.sum(x.astype(np.float32), axis=axis)
    got = np.asarray(lazy(lambda v: la.sum(v, axis=axis), backend, x))
    assert got.dtype == BF16
    # float32 sums in different orders: within one bfloat16 step of the float32 total
    assert ulps(np.atleast_1d(got), np.atleast_1d(np.asarray(want32).astype(BF16))).max() <= 1
    ones = np.ones(10_000, BF16)
    assert float(np.sum(ones)) == 256.0  # NumPy's: 256 + 1 rounds back to 256
    assert float(la.sum(la.asarray(ones)).eval()) == 9984.0  # 10000 rounded to bfloat16


@pytest.mark.parametrize("backend", BACKENDS)
def test_mean_var_std_compute_in_float32(backend: str) -> None:
    x = _data((40, 50), seed=8)
    wide = x.astype(np.float64)
    for name in ("mean", "var", "std"):
        for axis in (None, 0, 1):
            got = np.asarray(lazy(lambda v, n=name, a=axis: getattr(la, n)(v, axis=a),
                                  backend, x))
            want = np.asarray(getattr(np, name)(wide, axis=axis))
            assert got.dtype == BF16, name
            # var's deviations are bfloat16 values as in NumPy's two-pass formula: a few
            # bfloat16 steps from the exact variance, not NumPy's ml_dtypes sum of them
            np.testing.assert_allclose(got.astype(np.float64), want, rtol=3e-2, atol=1e-2,
                                       err_msg=name)
    ones = la.asarray(np.ones(10_000, BF16))
    assert float(la.mean(ones).eval()) == 1.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_extrema_and_their_indices_are_exact(backend: str) -> None:
    x = _data((30, 40), seed=9)
    for name in ("max", "min", "argmax", "argmin"):
        for axis in (None, 0, 1):
            got = lazy(lambda v, n=name, a=axis: getattr(la, n)(v, axis=a), backend, x)
            assert_bits(np.asarray(got), numpy(lambda n=name, a=axis: getattr(np, n)(x, axis=a)),
                        name)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scans_round_each_partial_result(backend: str) -> None:
    x = _data((20, 30), seed=10, scale=1.5)
    x[0, 0] = -0.0
    for axis in (0, 1):
        assert_bits(lazy(lambda v, a=axis: la.cumulative_sum(v, axis=a), backend, x),
                    np.cumsum(x, axis=axis))
        assert_bits(lazy(lambda v, a=axis: la.cumulative_prod(v, axis=a), backend, x),
                    np.cumprod(x, axis=axis))


# -- memory: views, strides, byte order, out=, empty and 0-d -----------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_views_strides_and_big_endian_inputs(backend: str) -> None:
    big = BF16.newbyteorder(">")
    x = _data((64, 48))
    y = _data((48,), seed=4).astype(big)
    for a in (x, x.astype(big), x[::-3, 1::2], x.astype(big)[::2, ::-1].T,
              np.asfortranarray(x)):
        b = y[: a.shape[-1]]
        assert_bits(lazy(lambda u, v: u * 2 + v, backend, a, b), numpy(np.add, a * 2, b))


@pytest.mark.parametrize("order", ["<", ">"])
def test_out_arrays_of_bfloat16_in_either_byte_order(order: str) -> None:
    x, y = _data((30, 40)), _data((40,), seed=5)
    out = np.empty((30, 40), BF16.newbyteorder(order))
    la.eval(la.asarray(x) * la.asarray(y) - 1, out=out)
    np.testing.assert_array_equal(out.astype(BF16).view(np.uint16),
                                  (x * y - BF16.type(1)).view(np.uint16))
    with pytest.raises(TypeError, match="native byte order"):
        la.asarray(x).astype(BF16.newbyteorder(">" if sys.byteorder == "little" else "<"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_and_zero_dimensional(backend: str) -> None:
    e = np.zeros((0, 3), BF16)
    got = lazy(lambda v: v * 2 + 1, backend, e)
    assert got.dtype == BF16 and got.shape == (0, 3)
    assert_bits(lazy(lambda v: la.sum(v, axis=0), backend, e), np.zeros(3, BF16))
    z = np.array(-0.0, BF16)
    assert_bits(lazy(lambda v: v + 1.5, backend, z), numpy(lambda: z + 1.5))
    assert_bits(lazy(lambda v: la.sum(v), backend, z), numpy(np.sum, z))  # -0.0, as NumPy


def test_creation_scalars_and_names() -> None:
    assert la.bfloat16 == BF16
    assert_bits(la.asarray(np.arange(5.0)).astype("bfloat16").eval(),
                np.arange(5.0).astype(BF16))
    assert_bits(la.zeros(3, dtype=BF16).eval(), np.zeros(3, BF16))
    assert_bits(la.full((2, 3), 0.1, dtype=BF16).eval(), np.full((2, 3), 0.1, BF16))
    assert_bits(la.asarray(BF16.type(2.5)).eval(), np.asarray(BF16.type(2.5)))
    x = la.asarray(_data((10,)))
    assert_bits(la.where(x > 0, x, 1.0).eval(), np.where(_data((10,)) > 0, _data((10,)),
                                                         BF16.type(1)))
    assert_bits((x + BF16.type(0.5)).eval(), _data((10,)) + BF16.type(0.5))


def test_without_ml_dtypes_the_error_names_the_extra() -> None:
    """lazyarr never imports ml_dtypes itself before a bfloat16 is asked for (about half a
    second), and without it ``la.bfloat16`` says which extra to install."""
    script = (
        "import sys\n"
        "import lazyarr as la, numpy as np\n"
        "assert 'ml_dtypes' not in sys.modules\n"
        "(la.asarray(np.ones(3, np.float16)) * 2).eval()\n"
        "assert 'ml_dtypes' not in sys.modules\n"
        "sys.modules['ml_dtypes'] = None\n"
        "for ask in (lambda: la.bfloat16, lambda: la.asarray(np.ones(2)).astype('bfloat16')):\n"
        "    try:\n"
        "        ask()\n"
        "    except ImportError as exc:\n"
        "        assert 'pip install lazyarr[bf16]' in str(exc), exc\n"
        "    else:\n"
        "        raise AssertionError('no ImportError')\n"
        "print('ok')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=False, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


# -- kernels ------------------------------------------------------------------------------------
def test_one_kernel_that_only_converts_bfloat16() -> None:
    x, y = la.asarray(_data((1000,))), la.asarray(_data((1000,), 6))
    for expr in (la.exp(x) * 2 + y, la.sum(x * y), la.maximum(x, y), la.nextafter(x, y),
                 la.sign(x)):
        (kernel,) = la.explain(expr).kernel_objects
        assert_only_converts(kernel, BF16)


def test_a_kernel_computing_in_bfloat16_is_refused() -> None:
    x = la.asarray(np.ones(8, BF16))._node
    node = make(Op.ADD, BF16, x.shape, (x, x))
    with pytest.raises(NotImplementedError, match="bfloat16"):
        la.eval(la.LazyArray(node))


def test_gpu_kernels_assemble(tmp_path) -> None:
    """On CUDA the conversions are integer instructions (``shl.b32``; ``clz.b64`` for the
    64-bit integers), which ``ptxas`` assembles for sm_90 when it is installed."""
    x = la.asarray(_data((64,)))
    flat = kernel_of([x * 2 + la.asarray(_data((64,), 7).astype(BF16.newbyteorder(">"))),
                      la.asarray(np.arange(64)).astype(BF16),
                      la.asarray(np.linspace(0, 1, 64)).astype(BF16), x.astype(np.float16)])
    rows = single_launch([la.sum(x.reshape(8, 8), axis=1)._node], [np.zeros(8, BF16)],
                         cpu=False).kernel
    for k, (kernel, variant) in enumerate(
            [(flat, Variant()), (flat, Variant(vector=True))]
            + [(rows, Variant(strategy=s)) for s in ("block", "thread", "split", "combine")]):
        ptx = nvptx.emit_ptx(kernel, f"k{k}", variant)
        if variant.strategy != "combine":
            assert "shl.b32" in ptx, variant
        if variant.strategy == "flat":
            assert "clz.b64" in ptx, variant
        assert_assembles(ptx, tmp_path / f"k{k}.ptx", variant)


def test_finfo_and_dtype_names():
    """``finfo`` answers for bfloat16 (ml_dtypes' limits) and float16 (NumPy's), though the
    standard's namespace names neither; the name "bfloat16" works in ``dtype=`` and
    ``astype`` (NumPy knows it only once ml_dtypes is imported)."""
    for dt, info in ((BF16, ml_dtypes.finfo(BF16)), (np.dtype(np.float16), np.finfo(np.float16))):
        for arg in (dt, dt.type, la.asarray(np.zeros(2, dt))):
            got = la.finfo(arg)
            assert (got.bits, got.eps, got.max, got.smallest_normal, got.dtype) == (
                16, float(info.eps), float(info.max), float(info.smallest_normal), dt)
    assert la.zeros(3, dtype="bfloat16").eval().dtype == BF16
    assert la.asarray(np.arange(3.0)).astype("bfloat16").eval().dtype == BF16
    with pytest.raises(ValueError, match="not inexact"):
        la.finfo(la.int8)


def test_nn_layers_take_bfloat16():
    """la.nn's float checks take bfloat16 (ml_dtypes' kind is "V"): GELU and layer norm
    return bfloat16 within two units of bfloat16's last place of the float64 result."""
    x = np.linspace(-4, 4, 1001).astype(BF16)
    wide = x.astype(np.float64)
    erfc = np.vectorize(math.erfc)
    got = la.nn.gelu(x).eval()
    assert got.dtype == BF16 and la.erfc(x).eval().dtype == np.float64  # SciPy's rule
    np.testing.assert_allclose(got.astype(np.float64), 0.5 * wide * erfc(-wide / math.sqrt(2)),
                               rtol=2**-7, atol=2**-30)
    rows = x[:1000].reshape(10, 100)
    norm = la.nn.layer_norm(rows, (100,)).eval()
    r64 = rows.astype(np.float64)
    ref = (r64 - r64.mean(-1, keepdims=True)) / np.sqrt(r64.var(-1, keepdims=True) + 1e-5)
    assert norm.dtype == BF16
    np.testing.assert_allclose(norm.astype(np.float64), ref, rtol=4 * 2**-7, atol=4 * 2**-7)


def test_gradient_in_bfloat16():
    """la.grad takes bfloat16 inputs (JAX does): the gradient is bfloat16, within a few units
    of bfloat16's last place of the float64 derivative (each op rounds, as its values do)."""
    x = np.linspace(-2, 2, 9).astype(BF16)
    g = la.grad(lambda v: la.sum(la.tanh(v) * v))(x).eval()
    wide = x.astype(np.float64)
    want = np.tanh(wide) + wide * (1 - np.tanh(wide) ** 2)
    assert g.dtype == BF16
    np.testing.assert_allclose(g.astype(np.float64), want, rtol=4 * 2**-7, atol=2**-7)


def test_dtype_functions_know_narrow_floats():
    """result_type, can_cast and isdtype answer for bfloat16 and float16 as NumPy with
    ml_dtypes does (bfloat16 is a real float, kind "V" notwithstanding)."""
    f16, f32 = np.dtype(np.float16), np.dtype(np.float32)
    for args in ((BF16, f32), (BF16, 1.0), (f16, np.dtype(np.int8)), (BF16, f16), (f16, 2)):
        assert la.result_type(*args) == np.result_type(*args), args
    assert la.can_cast(BF16, f32) and la.can_cast(f16, f32)
    assert not la.can_cast(f32, BF16) and not la.can_cast(BF16, f16)
    assert la.isdtype(BF16, "real floating") and la.isdtype(BF16, "numeric")
    assert not la.isdtype(BF16, "integral") and la.isdtype(f16, "real floating")
