"""lazyarr.quantization: values against a NumPy reference and PyTorch's bits, fusion, errors,
and calibration against PyTorch's observers."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

import lazyarr as la
from lazyarr import quantization as lq
from lazyarr.inspect.explanation import Explanation
from lazyarr.quantization import MinMax, dequantize, minmax_params, quantize

F32, F64 = np.float32, np.float64
RANGES = {np.int8: (-128, 127), np.uint8: (0, 255), np.int32: (-(2**31), 2**31 - 1)}
ZERO_POINTS = {np.int8: (-128, -7, 0, 5, 127), np.uint8: (0, 7, 128, 200, 255),
               np.int32: (-(2**31), -5, 0, 1000, 2**31 - 1)}
SCALES = (0.1, 0.0213, 1 / 3, 0.00731, 3e-5, 1.0)
SPECIAL = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -1e30, 3e38, -3e38, 2.1e9,
                    -2.2e9, 2147483520.0, 2147483648.0, 1e-45], F32)


# -- a NumPy reference of PyTorch's formulas (docs/quantization.md) ---------------------------
def _even(v: np.float32) -> bool:
    return not int(np.asarray(v, F32).view(np.uint32)) & 1


def _round_f32(v: Fraction) -> np.float32:
    """The float32 nearest the exact ``v``, ties to even (``float(v)`` then ``float32`` can
    round twice)."""
    c = F32(float(v))
    near = [np.nextafter(c, F32(-np.inf)), c, np.nextafter(c, F32(np.inf))]
    return min(near, key=lambda f: (abs(Fraction(float(f)) - v), not _even(f)))


def fma32(x: np.ndarray, inverse: np.float32, z: int) -> np.ndarray:
    """float32(x * inverse + z) rounded once. The float64 sum is redone exactly where it
    is halfway between two float32 values (the only place rounding it again can err)."""
    with np.errstate(all="ignore"):
        s = x.astype(F64) * F64(inverse) + z
        t = s.astype(F32)
        side = np.where(s > t, F32(np.inf), F32(-np.inf)).astype(F32)
        other = np.nextafter(t, side)
        halfway = np.isfinite(t) & (s != t) & (s == (t.astype(F64) + other.astype(F64)) / 2)
    flat = t.reshape(-1)
    for i in np.flatnonzero(halfway):
        exact = Fraction(float(x.reshape(-1)[i])) * Fraction(float(inverse)) + z
        flat[i] = _round_f32(exact)
    return t


def ref_quantize(x, scale, zero_point, dtype, axis=None) -> np.ndarray:
    x = np.asarray(x).astype(F32)
    lo, hi = RANGES[dtype]
    with np.errstate(all="ignore"):
        if axis is None:
            inverse = F32(1) / F32(scale)
            if dtype is np.int32:
                t, nan_q = x * inverse + F32(zero_point), lo
            else:  # 8-bit: fma, and NaN to the top of the range
                t, nan_q = fma32(x, inverse, zero_point), hi
        else:
            shape = [1] * x.ndim
            shape[axis] = -1
            inverse = (F32(1) / np.asarray(scale, F64).astype(F32)).reshape(shape)
            t = x * inverse + np.asarray(zero_point).astype(F32).reshape(shape)
            nan_q = lo if dtype is np.int32 else 0
        v = np.rint(t).astype(F64)
        return np.where(np.isnan(v), nan_q, np.clip(np.nan_to_num(v), lo, hi)).astype(dtype)


def ref_dequantize(q, scale, zero_point, axis=None) -> np.ndarray:
    q = np.asarray(q)
    if axis is None:
        diff = (q.astype(np.int64) - zero_point).astype(np.int32)  # wraps, as PyTorch's
        return diff.astype(F32) * F32(scale)
    shape = [1] * q.ndim
    shape[axis] = -1
    z = np.asarray(zero_point).astype(F32).reshape(shape)
    s = np.asarray(scale, F64).reshape(shape)
    return ((q.astype(F32) - z).astype(F64) * s).astype(F32)


def same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    bytes_of = [np.ascontiguousarray(v).view(np.uint8) for v in (a, b)]
    np.testing.assert_array_equal(*bytes_of)


def data(rng: np.random.Generator, scale: float, n: int = 3000) -> np.ndarray:
    """Ties (k + 0.5) * scale, random values over and past the range, and special values."""
    k = rng.integers(-300, 300, n).astype(F32)
    ties = ((k + F32(0.5)) * F32(scale)).astype(F32)
    spread = (rng.standard_normal(n) * 150 * scale).astype(F32)
    return np.concatenate([ties, spread, SPECIAL])


# -- per tensor ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_per_tensor_matches_reference(dtype):
    rng = np.random.default_rng(1)
    for scale in SCALES:
        x = data(rng, scale)
        for z in ZERO_POINTS[dtype]:
            q = quantize(x, scale, z, dtype)
            assert isinstance(q, la.LazyArray) and q.dtype == dtype
            same_bits(q.eval(), ref_quantize(x, scale, z, dtype))


def test_backends_agree(backend):
    rng = np.random.default_rng(18)
    x = data(rng, 0.03, 500)
    for dtype, z in ((np.int8, 0), (np.int8, -3), (np.uint8, 200), (np.int32, 7)):
        got = la.eval(quantize(x, 0.03, z, dtype), backend=backend)
        same_bits(got, ref_quantize(x, 0.03, z, dtype))
        same_bits(la.eval(dequantize(got, 0.03, z), backend=backend), ref_dequantize(got, 0.03, z))
    xc = x[:999].reshape(3, 333)
    s, zs = np.array([0.01, 0.02, 0.3]), np.array([0, 100, 255])
    got = la.eval(quantize(xc, s, zs, np.uint8, axis=0), backend=backend)
    same_bits(got, ref_quantize(xc, s, zs, np.uint8, axis=0))
    same_bits(la.eval(dequantize(got, s, zs, axis=0), backend=backend),
              ref_dequantize(got, s, zs, axis=0))


def test_reference_knows_the_rounding():
    # zero point added before rounding, ties to even, NaN and saturation per path
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, np.nan, np.inf, -np.inf, -0.0], F32)
    np.testing.assert_array_equal(quantize(x, 1.0, 5).eval(), [6, 6, 8, 4, 2, 127, 127, -128, 5])
    np.testing.assert_array_equal(quantize(x, 1.0, 0, np.uint8).eval(),
                                  [0, 2, 2, 0, 0, 255, 255, 0, 0])
    np.testing.assert_array_equal(quantize(x, 1.0, -5, np.int32).eval(),
                                  [-4, -4, -2, -6, -8, -(2**31), 2**31 - 1, -(2**31), -5])
    q = quantize(x.reshape(1, -1), [1.0], [5], axis=0).eval()
    np.testing.assert_array_equal(q[0], [6, 6, 8, 4, 2, 0, 127, -128, 5])


def test_fma_is_not_two_roundings():
    # x * (1/s) rounded before adding the zero point gives another result for these ties
    scale, z = 0.0213, -7
    k = np.arange(-120, 120, dtype=F32)
    x = ((k + F32(0.5)) * F32(scale)).astype(F32)
    inverse = F32(1) / F32(scale)
    two_roundings = np.rint(x * inverse + F32(z))
    q = quantize(x, scale, z).eval()
    assert (q != two_roundings).any()
    same_bits(q, ref_quantize(x, scale, z, np.int8))


# Found by searching products of 24-bit significands whose sum with the zero point, rounded to
# float64, lands on a float32 halfway point: rounding that sum again to float32 misses the fma.
# (x bits, scale bits, zero point, PyTorch 2.13's uint8 result on x86-64)
DOUBLE_ROUNDING = [
    (0xC066202D, 0x3F838007, 195, 191), (0xC0792FA5, 0x3F8E644A, 195, 191),
    (0xBF62BF39, 0x3FE2C01C, 193, 193), (0xBF01DF22, 0x3F81DFA4, 129, 129),
    (0xBFFC4E8F, 0x407C4F8B, 129, 129), (0xBF3862A2, 0x3FB861EA, 130, 129),
    (0x3F3862A2, 0x3FB861EA, 128, 129), (0x3F62BF39, 0x3FE2C01C, 191, 191),
]


def _bits(b: int) -> np.float32:
    return np.array([b], np.uint32).view(F32)[0]


def test_double_rounding_cases():
    for xb, sb, z, expected in DOUBLE_ROUNDING:
        x, scale = np.full(5, _bits(xb)), float(_bits(sb))
        sloppy = np.rint(F32(x[0].astype(F64) * F64(F32(1) / F32(scale)) + z))
        assert sloppy != expected  # the case is one where rounding twice errs
        np.testing.assert_array_equal(quantize(x, scale, z, np.uint8).eval(), expected)
        np.testing.assert_array_equal(ref_quantize(x, scale, z, np.uint8), expected)


def test_float64_input_rounds_through_float32():
    rng = np.random.default_rng(2)
    x = rng.standard_normal(2000) * 3
    for dtype in (np.int8, np.uint8, np.int32):
        z = ZERO_POINTS[dtype][2]
        same_bits(quantize(x, 0.02, z, dtype).eval(), ref_quantize(x.astype(F32), 0.02, z, dtype))


def test_layouts():
    rng = np.random.default_rng(3)
    base = data(rng, 0.05, 1500)[:3000].reshape(60, 50)
    cases = [base[::2, 1::3], base.T, np.broadcast_to(base[0], (7, 50)), np.float32(0.775),
             np.zeros((0, 4), F32), np.array(np.nan, F32)]
    for x in cases:
        for dtype, z in ((np.int8, 3), (np.uint8, 131), (np.int32, -9)):
            got = quantize(x, 0.05, z, dtype).eval()
            assert got.shape == np.shape(x)
            same_bits(np.asarray(got), ref_quantize(x, 0.05, z, dtype))
            if np.ndim(x) == 2:
                s = np.linspace(0.01, 0.1, x.shape[1])
                zs = np.arange(x.shape[1]) % 50
                same_bits(quantize(x, s, zs, dtype, axis=1).eval(),
                          ref_quantize(x, s, zs, dtype, axis=1))


def test_lazy_input_and_no_recompile():
    x = np.random.default_rng(4).standard_normal(512).astype(F32)
    lazy = la.exp(la.asarray(x)) - 1.0
    expected = ref_quantize(np.exp(x) - F32(1), 0.01, 17, np.uint8)
    same_bits(quantize(lazy, 0.01, 17, np.uint8).eval(), expected)
    before = la.cache_info().compiles
    # runtime arguments, one kernel (a value equal to another scalar of the expression, such
    # as z = 1 here with "- 1.0", interns to it: a kernel of another structure, compiled once)
    for scale, z in ((0.02, 3), (0.013, 200), (0.25, 5)):
        same_bits(quantize(lazy, scale, z, np.uint8).eval(),
                  ref_quantize(np.exp(x) - F32(1), scale, z, np.uint8))
    assert la.cache_info().compiles == before


# -- per channel ------------------------------------------------------------------------------
CHANNEL_CASES = [((24, 37), 0), ((5, 30, 9), 1), ((7, 33), -1), ((4, 3, 40), 2)]


def channel_case(rng, shape, axis, dtype):
    n = shape[axis]
    scale = rng.uniform(0.001, 0.2, n)
    lo, hi = RANGES[dtype]
    z = rng.integers(max(lo, -1000), min(hi, 1000) + 1, n)
    along = [1] * len(shape)
    along[axis] = -1
    k = rng.integers(-300, 300, shape).astype(F32)
    x = ((k + F32(0.5)) * scale.reshape(along).astype(F32)).astype(F32)
    flat = x.reshape(-1)
    flat[::97], flat[1::101], flat[2::103], flat[3::89] = np.nan, np.inf, -np.inf, 1e20
    return x, scale, z


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_per_channel_matches_reference(dtype):
    rng = np.random.default_rng(5)
    for shape, axis in CHANNEL_CASES:
        x, scale, z = channel_case(rng, shape, axis, dtype)
        expected = ref_quantize(x, scale, z, dtype, axis=axis % len(shape))
        same_bits(quantize(x, scale, z, dtype, axis=axis).eval(), expected)
        # float32 scales, lists, lazy arrays: the same values
        same_bits(quantize(x, scale.astype(F32).astype(F64), list(z), dtype, axis).eval(),
                  ref_quantize(x, scale.astype(F32), z, dtype, axis % len(shape)))
        lazy = quantize(la.asarray(x), la.asarray(scale), la.asarray(z), dtype, axis)
        same_bits(lazy.eval(), expected)


def test_per_channel_float64_and_scalar_parameters():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((6, 11))
    scale = rng.uniform(0.01, 0.1, 11)
    same_bits(quantize(x, scale, 4, axis=1).eval(),
              ref_quantize(x.astype(F32), scale, np.full(11, 4), np.int8, axis=1))
    same_bits(quantize(x, 0.05, np.arange(6), np.uint8, axis=0).eval(),
              ref_quantize(x.astype(F32), np.full(6, 0.05), np.arange(6), np.uint8, axis=0))


# -- dequantize and the round trip ----------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_dequantize_matches_reference(dtype):
    rng = np.random.default_rng(7)
    lo, hi = RANGES[dtype]
    q = rng.integers(lo, hi, (40, 25), endpoint=True).astype(dtype)
    for scale in SCALES:
        for z in ZERO_POINTS[dtype]:
            got = dequantize(q, scale, z).eval()
            assert got.dtype == F32
            same_bits(got, ref_dequantize(q, scale, z))
    for axis in (0, 1, -1):
        n = q.shape[axis]
        s = rng.uniform(1e-4, 0.3, n)
        z = rng.integers(lo, hi, n, endpoint=True)
        expected = ref_dequantize(q, s, z, axis % 2)
        same_bits(dequantize(q, s, z, axis).eval(), expected)
        same_bits(dequantize(la.asarray(q), la.asarray(s), la.asarray(z), axis).eval(), expected)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
def test_round_trip_within_half_a_step(dtype):
    rng = np.random.default_rng(8)
    lo, hi = RANGES[dtype]
    scale, z = 0.037, (lo + hi + 1) // 2 - 3
    x = rng.uniform((lo - z) * scale, (hi - z) * scale, 5000).astype(F32)
    back = dequantize(quantize(x, scale, z, dtype), scale, z).eval()
    assert np.all(np.abs(back - x) <= scale / 2 * (1 + 1e-6) + 1e-7)
    s = rng.uniform(0.01, 0.05, 3)
    xc = (rng.uniform(-1, 1, (3, 400)) * (hi - lo) / 2 * s[:, None]).astype(F32)
    zc = np.full(3, z)
    xc = np.clip(xc, ((lo - z) * s)[:, None], ((hi - z) * s)[:, None]).astype(F32)
    back = dequantize(quantize(xc, s, zc, dtype, axis=0), s, zc, axis=0).eval()
    assert np.all(np.abs(back - xc) <= (s / 2 * (1 + 1e-6))[:, None] + 1e-7)


# -- fusion --------------------------------------------------------------------------------------
def test_quantize_fuses_after_a_matmul():
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((16, 8)).astype(F32), rng.standard_normal((8, 5)).astype(F32)
    b = rng.standard_normal(5).astype(F32)
    for dtype, z in ((np.int8, 0), (np.int8, 3), (np.uint8, 140), (np.int32, 7)):
        q = quantize(la.maximum(la.asarray(x) @ w + b, 0), 0.02, z, dtype)
        plan = la.explain(q).plan
        assert [s.kind for s in plan] == ["opaque", "kernel"]
        assert plan[0].roots[0].op.value == "matmul"
        same_bits(q.eval(), ref_quantize(np.maximum(x @ w + b, 0), 0.02, z, dtype))
    s, zs = np.linspace(0.01, 0.03, 5), np.arange(5)
    q = quantize(la.maximum(la.asarray(x) @ w + b, 0), s, zs, axis=1)
    assert [s.kind for s in la.explain(q).plan] == ["opaque", "kernel"]


def test_dequantize_fuses_reading_the_int8_array():
    rng = np.random.default_rng(10)
    q = rng.integers(-128, 128, (32, 6)).astype(np.int8)
    g, b = rng.standard_normal(6).astype(F32), rng.standard_normal(6).astype(F32)
    for expr, expected in (
            (dequantize(q, 0.05, 3) * g + b, ref_dequantize(q, 0.05, 3) * g + b),
            (dequantize(q, np.full(6, 0.05), np.arange(6), axis=1) * g + b,
             ref_dequantize(q, np.full(6, 0.05), np.arange(6), 1) * g + b)):
        steps = la.explain(expr).plan
        assert [s.kind for s in steps] == ["kernel"]
        assert np.dtype(np.int8) in [v.array.dtype for v in steps[0].launch.inputs]
        np.testing.assert_array_equal(expr.eval(), expected)


# -- argument errors -----------------------------------------------------------------------------
def test_errors():
    x = np.ones((3, 4), F32)
    for bad in (0.0, -1.0, np.nan, np.inf, 1e-40, 1e39):
        with pytest.raises(ValueError, match="quantize: scale"):
            quantize(x, bad, 0)
        with pytest.raises(ValueError, match="dequantize: scale"):
            dequantize(x.astype(np.int8), bad, 0)
    for dtype, z in ((np.int8, 128), (np.int8, -129), (np.uint8, -1), (np.uint8, 256),
                     (np.int32, 2**31), (np.int8, 2**70)):
        with pytest.raises(ValueError, match="quantize: zero_point"):
            quantize(x, 0.1, z, dtype)
    for dtype in (np.int16, np.float32, np.uint32, "bool", "nonsense"):
        with pytest.raises(TypeError, match="quantize: dtype"):
            quantize(x, 0.1, 0, dtype)
    with pytest.raises(TypeError, match="quantize: x"):
        quantize(np.ones(3, np.int32), 0.1, 0)
    with pytest.raises(TypeError, match="dequantize: q"):
        dequantize(x, 0.1, 0)
    with pytest.raises(TypeError, match="zero_point"):
        quantize(x, 0.1, 1.0)
    with pytest.raises(TypeError, match="scale"):
        quantize(x, np.ones(4), 0)  # per-channel values need axis=
    with pytest.raises(ValueError, match="quantize: scale has shape"):
        quantize(x, np.ones(3), np.zeros(4, int), axis=1)
    with pytest.raises(ValueError, match="quantize: zero_point has shape"):
        quantize(x, np.ones(4), np.zeros(3, int), axis=1)
    with pytest.raises(ValueError, match="dequantize: scale has shape"):
        dequantize(la.asarray(x.astype(np.uint8)), la.asarray(np.ones(3)), 0, axis=-1)
    with pytest.raises(ValueError, match="quantize: scale"):
        quantize(x, np.array([0.1, 0.2, -0.1, 0.3]), np.zeros(4, int), axis=1)
    with pytest.raises(ValueError, match="quantize: zero_point"):
        quantize(x, np.ones(3), np.array([0, 300, 0]), np.uint8, axis=0)
    with pytest.raises(TypeError, match="quantize: zero_point"):
        quantize(x, np.ones(3), np.zeros(3), axis=0)
    for axis in (2, -3):
        with pytest.raises(np.exceptions.AxisError):
            quantize(x, np.ones(3), np.zeros(3, int), axis=axis)
    with pytest.raises(np.exceptions.AxisError):
        quantize(np.float32(1), 0.1, 0, axis=0)


# -- calibration ----------------------------------------------------------------------------------
def test_minmax_params_by_hand():
    x = np.array([-1.0, 3.0], F32)
    assert minmax_params(x) == (F32(4) / F32(255), -64)
    assert minmax_params(x, np.uint8) == (F32(4) / F32(255), 64)
    assert minmax_params(x, symmetric=True) == (F32(3) / F32(127.5), 0)
    assert minmax_params(x, np.uint8, symmetric=True) == (F32(3) / F32(127.5), 128)
    # the zero point's rounding: ties to even
    assert minmax_params(np.array([-1.5, 253.5])) == (1.0, -126)
    assert minmax_params(np.array([-2.5, 252.5]), np.uint8) == (1.0, 2)
    eps = np.finfo(F32).eps
    assert minmax_params(np.zeros(5)) == (eps, -128)
    assert minmax_params(np.full(5, 2.5, F32)) == (F32(2.5) / F32(255), -128)
    assert minmax_params(np.full(5, -2.5, F32), np.uint8) == (F32(2.5) / F32(255), 255)
    # int32: the zero point clamped; PyTorch's float-to-int32 conversion overflows here
    assert minmax_params(np.array([-1000.0, 1.0]), np.int32) == (F32(1001) / F32(2**32),
                                                                 2143193088)
    scale, zp = minmax_params(x)
    assert type(scale) is np.float32 and type(zp) is int
    s, z = minmax_params(np.array([[-1.0, 0.0], [3.0, 1.0]]), axis=1)
    assert s.dtype == F32 and z.dtype == np.int64
    np.testing.assert_array_equal(s, [F32(4) / F32(255), F32(1) / F32(255)])
    np.testing.assert_array_equal(z, [-64, -128])


def test_minmax_is_one_fused_reduction(monkeypatch):
    seen = []

    def spy(nodes, *args):
        seen.append(Explanation(list(nodes)))
        return real(nodes, *args)

    real = lq.evaluate
    monkeypatch.setattr(lq, "evaluate", spy)
    x = la.asarray(np.random.default_rng(11).standard_normal((8, 5, 3)))
    minmax_params(la.exp(x) - 1.0)
    minmax_params(x, axis=1)
    calibrator = MinMax(axis=-1)
    calibrator.observe(x)
    calibrator.observe(x * 2.0)
    assert len(seen) == 4
    assert all([s.kind for s in e.plan] == ["kernel"] for e in seen)


def test_calibration_errors():
    with pytest.raises(ValueError, match="minmax_params: x is empty"):
        minmax_params(np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"minmax_params: .*not finite"):
        minmax_params(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="not finite"):
        minmax_params(np.array([1.0, np.inf]), axis=0)
    with pytest.raises(TypeError, match="minmax_params: dtype"):
        minmax_params(np.ones(3), np.float32)
    with pytest.raises(np.exceptions.AxisError):
        minmax_params(np.ones(3), axis=1)
    calibrator = MinMax(np.uint8, axis=0)
    with pytest.raises(ValueError, match=r"MinMax\.params: no data"):
        calibrator.params()
    calibrator.observe(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"MinMax\.observe"):
        calibrator.observe(np.ones((4, 2)))
    calibrator.observe(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match=r"MinMax\.params"):
        calibrator.params()


def test_running_minmax():
    rng = np.random.default_rng(12)
    batches = [rng.standard_normal((4, 6)) * k for k in (1, 3, 0.5)] + [np.zeros((0, 6))]
    calibrator = MinMax(np.uint8, axis=1)
    for b in batches:
        calibrator.observe(b)
    everything = np.concatenate(batches)
    s, z = calibrator.params()
    es, ez = minmax_params(everything, np.uint8, axis=1)
    np.testing.assert_array_equal(s, es)
    np.testing.assert_array_equal(z, ez)
    calibrator.reset()
    calibrator.observe(batches[0])
    np.testing.assert_array_equal(calibrator.params()[0], minmax_params(batches[0], np.uint8,
                                                                        axis=1)[0])


# -- PyTorch's own bits ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    warnings.filterwarnings("ignore", message=".*quantiz.*deprecated", category=UserWarning)
    return torch


def qtype(torch, dtype):
    return {np.int8: torch.qint8, np.uint8: torch.quint8, np.int32: torch.qint32}[dtype]


def t_quantize(torch, x, scale, z, dtype, axis=None):
    t = torch.from_numpy(np.ascontiguousarray(x, F32))
    if axis is None:
        q = torch.quantize_per_tensor(t, float(scale), int(z), qtype(torch, dtype))
    else:
        q = torch.quantize_per_channel(t, torch.from_numpy(np.asarray(scale, F64)),
                                       torch.from_numpy(np.asarray(z, np.int64)), axis,
                                       qtype(torch, dtype))
    return q


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_torch_per_tensor(torch, dtype):
    rng = np.random.default_rng(13)
    for scale in SCALES:
        x = data(rng, scale)
        for z in ZERO_POINTS[dtype]:
            q = t_quantize(torch, x, scale, z, dtype)
            got = quantize(x, scale, z, dtype).eval()
            same_bits(got, q.int_repr().numpy())
            same_bits(dequantize(got, scale, z).eval(), q.dequantize().numpy())
    x = rng.standard_normal((30, 20))  # float64: torch quantizes x.float()
    same_bits(quantize(x[::3, ::2], 0.01, 3, dtype).eval(),
              t_quantize(torch, x[::3, ::2].astype(F32), 0.01, 3, dtype).int_repr().numpy())


def test_torch_double_rounding_cases(torch):
    for xb, sb, z, expected in DOUBLE_ROUNDING:
        x = np.full(40, _bits(xb))  # long enough for PyTorch's vector loop and its tail
        q = t_quantize(torch, x, float(_bits(sb)), z, np.uint8).int_repr().numpy()
        np.testing.assert_array_equal(q, expected)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_torch_per_channel(torch, dtype):
    rng = np.random.default_rng(14)
    for shape, axis in CHANNEL_CASES:
        x, scale, z = channel_case(rng, shape, axis, dtype)
        ax = axis % len(shape)
        q = t_quantize(torch, x, scale, z, dtype, ax)
        got = quantize(x, scale, z, dtype, axis=axis).eval()
        same_bits(got, q.int_repr().numpy())
        same_bits(dequantize(got, scale, z, axis=axis).eval(), q.dequantize().numpy())


def test_torch_int32_dequantize_wraps(torch):
    rng = np.random.default_rng(15)
    q = rng.integers(-(2**31), 2**31, 3000).astype(np.int32)
    for z in (2**30 + 1, -(2**31) + 5, 123456789):
        t = torch._make_per_tensor_quantized_tensor(torch.from_numpy(q), 0.37, z)
        same_bits(dequantize(q, 0.37, z).eval(), t.dequantize().numpy())


CALIBRATION_DATA = {
    "normal": lambda rng: rng.standard_normal((6, 5, 4)) * 3 + 0.5,
    "zeros": lambda rng: np.zeros((6, 5, 4)),
    "constant": lambda rng: np.full((6, 5, 4), 2.5),
    "negative constant": lambda rng: np.full((6, 5, 4), -0.75),
    "positive": lambda rng: rng.uniform(1, 3, (6, 5, 4)),
    "negative": lambda rng: rng.uniform(-3, -1, (6, 5, 4)),
    "float32": lambda rng: rng.standard_normal((6, 5, 4)).astype(F32) * F32(1e-3),
}


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
@pytest.mark.parametrize("symmetric", [False, True])
def test_torch_observers(torch, dtype, symmetric):
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

    rng = np.random.default_rng(16)
    for name, make in CALIBRATION_DATA.items():
        x = make(rng)
        scheme = torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine
        observer = MinMaxObserver(dtype=qtype(torch, dtype), qscheme=scheme)
        observer(torch.from_numpy(x))
        ts, tz = observer.calculate_qparams()
        assert minmax_params(x, dtype, symmetric) == (F32(ts.item()), int(tz.item())), name
        for axis in (0, 1, -1):
            scheme = torch.per_channel_symmetric if symmetric else torch.per_channel_affine
            observer = PerChannelMinMaxObserver(axis % 3, qtype(torch, dtype), scheme)
            observer(torch.from_numpy(x))
            ts, tz = observer.calculate_qparams()
            s, z = minmax_params(x, dtype, symmetric, axis)
            np.testing.assert_array_equal(s, ts.numpy(), err_msg=name)
            np.testing.assert_array_equal(z, tz.numpy(), err_msg=name)


def test_torch_running_observers(torch):
    from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver

    rng = np.random.default_rng(17)
    batches = [rng.standard_normal((5, 7)) * k + k for k in (1.0, 4.0, 0.25)]
    batches.insert(1, np.zeros((0, 7)))
    for axis in (None, 1):
        for dtype, symmetric in ((np.int8, False), (np.uint8, True), (np.uint8, False)):
            if axis is None:
                observer = MinMaxObserver(dtype=qtype(torch, dtype), qscheme=(
                    torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine))
            else:
                observer = PerChannelMinMaxObserver(axis, qtype(torch, dtype), (
                    torch.per_channel_symmetric if symmetric else torch.per_channel_affine))
            calibrator = MinMax(dtype, symmetric, axis)
            for b in batches:
                observer(torch.from_numpy(b))
                calibrator.observe(b)
                if not b.size:
                    continue
                ts, tz = observer.calculate_qparams()
                s, z = calibrator.params()
                np.testing.assert_array_equal(np.ravel(s), ts.numpy())
                np.testing.assert_array_equal(np.ravel(z), tz.numpy())


# -- the FMA op quantize computes with -------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_fma_rounds_once(dtype: type, backend: str) -> None:
    """``fma(x, y, z)`` on both backends equals x*y + z computed exactly and rounded once
    (rational arithmetic), including sums halfway between two floats after one rounding."""
    from fractions import Fraction

    from lazyarr.front.build import apply
    from lazyarr.ir.graph import Op

    rng = np.random.default_rng(9)
    x = rng.standard_normal(300).astype(dtype)
    y = rng.standard_normal(300).astype(dtype)
    z = rng.standard_normal(300).astype(dtype)
    # products just off a halfway point of z's spacing: naive rounding twice goes wrong
    eps = np.finfo(dtype).eps
    x[:3] = dtype(1 + eps), dtype(1 - eps / 2), dtype(-1 - eps)
    y[:3] = dtype(1 + eps), dtype(1 + eps), dtype(1 + eps)
    z[:3] = dtype(-1), dtype(-1), dtype(1)
    x[3:7] = [np.inf, np.nan, 0.0, -0.0]
    got = la.LazyArray(apply(Op.FMA, la.asarray(x), la.asarray(y), la.asarray(z))).eval(
        backend=backend)
    assert got.dtype == dtype
    for a, b, c, r in zip(x, y, z, got, strict=True):
        if not (np.isfinite(a) and np.isfinite(b) and np.isfinite(c)):
            want = np.asarray(a * b + c, dtype)
            assert np.isnan(r) == np.isnan(want) and (np.isnan(r) or r == want)
            continue
        exact = Fraction(float(a)) * Fraction(float(b)) + Fraction(float(c))
        below = dtype(float(exact))
        candidates = [below, np.nextafter(below, dtype(np.inf)), np.nextafter(below,
                                                                             dtype(-np.inf))]
        best = min(abs(Fraction(float(v)) - exact) for v in candidates)
        assert abs(Fraction(float(r)) - exact) == best, (a, b, c, r)
