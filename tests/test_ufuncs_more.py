"""The op table's consistency, and the NumPy functions added with it.

Single-output ufuncs among them (fmod, ldexp, nextafter, spacing, deg2rad, rad2deg, heaviside,
float_power, gcd, lcm, logaddexp2, fabs, bitwise_count, conjugate) are also in
tests/test_differential.py's tables, which run them over every dtype, layout and edge value.
Here: the two-output ufuncs (frexp, modf, divmod: one kernel for both outputs), erf/erfc, the
compositions that are not ufuncs (round, isclose, nan_to_num, sinc, real, imag), targeted
special values, exception types, NumPy dispatch, and the table itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from lazyarr.codegen import mathlib, nvptx, scalar
from test_differential import TRANSCENDENTAL, assert_same

import lazyarr as la
from lazyarr.ir import ops
from lazyarr.ir.graph import ELEMENTWISE, Op
from lazyarr.ir.loop import Instr, Kernel, element_cost

BACKENDS = ("cpu", "interp")
FLOATS = ("float32", "float64")


def specials(dt: str) -> np.ndarray:
    """Edge values of a float dtype, with ordinary ones."""
    info = np.finfo(dt)
    return np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, 3.75, 1e-3, -1e5, np.inf, -np.inf,
                     np.nan, info.max, -info.max, info.tiny, info.smallest_subnormal,
                     -info.smallest_subnormal, 7.0, 1e30], dtype=dt)


def evaluated(build: Callable[..., Any], *args: Any, backend: str) -> tuple[np.ndarray, ...]:
    """``build(*lazy args)`` (an array or a tuple) evaluated together on ``backend``."""
    result = build(*[la.asarray(a) if isinstance(a, np.ndarray) else a for a in args])
    exprs = result if isinstance(result, tuple) else (result,)
    with np.errstate(all="ignore"):
        values = la.eval(*exprs, backend=backend)
    return values if isinstance(values, tuple) else (values,)


def expected(fn: Callable[..., Any], *args: Any) -> tuple[np.ndarray, ...]:
    with np.errstate(all="ignore"):
        result = fn(*args)
    return tuple(map(np.asarray, result if isinstance(result, tuple) else (result,)))


def same(build: Callable[..., Any], reference: Callable[..., Any], *args: Any,
         ulps: int = 0) -> None:
    """lazyarr and NumPy agree on every backend: dtype, shape, values, NaN, signed zeros."""
    want = expected(reference, *args)
    for backend in BACKENDS:
        got = evaluated(build, *args, backend=backend)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            assert_same(np.asarray(g), w, ulps, what=f"{backend}")


def kernel_count(*exprs: la.LazyArray) -> int:
    return len(la.explain(*exprs).kernel_objects)


# -- the table ---------------------------------------------------------------------------------
def test_every_elementwise_op_has_a_row() -> None:
    assert set(ELEMENTWISE) <= set(ops.ROWS)
    assert set(ops.ROWS) - set(ELEMENTWISE) == {Op.MATMUL}  # a row for its display only
    for op, row in ops.ROWS.items():
        assert row.op is op and (row.derivative is None or callable(row.derivative))
        assert row.nout in (1, 2) and 0 <= row.output < row.nout


def _in_kernels(row: ops.OpRow) -> bool:
    """Whether the op can reach a kernel body (and so needs a scalar emitter)."""
    return row.expand is None and row.op not in (Op.CAST, Op.MATMUL)


def test_rows_and_emitters_agree() -> None:
    # every op a target compiles has an emitter (or an expansion), and every emitter a row
    for op, row in ops.ROWS.items():
        assert scalar.has_emitter(op) == _in_kernels(row), op
    for op in [*scalar.EMITTERS, *scalar.ARG_EMITTERS]:
        assert op in ops.ROWS and ops.ROWS[op].expand is None


def test_math_facts_are_consistent() -> None:
    for op, row in ops.ROWS.items():
        routine = row.math
        if routine is None:
            assert op not in scalar.MATHLIB_OPS and not ops.needs_math(op, np.dtype("f8"))
            continue
        assert ops.needs_math(op, np.dtype("float64")) and not ops.needs_math(op, np.dtype("i8"))
        assert ops.call_cost(op, np.dtype("float32")) == routine.cost > 0
        if routine.form is ops.Form.USES:
            assert routine.uses and all(ops.ROWS[u].math for u in routine.uses)
        else:
            assert routine.libm and (routine.form is not ops.Form.FREM or not routine.mathlib)
        if routine.mathlib in mathlib.FUNCTIONS:
            assert scalar.MATHLIB_OPS[op] == routine.mathlib
    assert ops.ROWS[Op.POWER_INT].math is None  # squarings inlined on every target


def test_cpu_cost_reads_the_rows() -> None:
    f8, i8 = np.dtype("float64"), np.dtype("int64")

    def kernel(op: Op, dt: np.dtype) -> Kernel:
        body = (Instr(Op.LEAF, dt, (), 0), Instr(Op.LEAF, dt, (), 1), Instr(op, dt, (0, 1)))
        return Kernel(1, (), (), body, ())

    # float power calls pow; integer power is inline arithmetic (the old table said both call)
    assert element_cost(kernel(Op.POWER, f8)) == 1 + ops.CALL_COST
    assert element_cost(kernel(Op.POWER, i8)) == 1
    assert element_cost(kernel(Op.FMOD, f8)) == 1 + ops.CALL_COST
    assert element_cost(kernel(Op.LOGADDEXP2, f8)) == 1 + 2 * ops.CALL_COST
    assert element_cost(kernel(Op.GCD, i8)) == 1


def test_cuda_support_from_the_rows() -> None:
    f4 = np.dtype("float32")
    for op, row in ops.ROWS.items():
        names = ops.mathlib_names(op)
        own = bool(names) and all(n in mathlib.FUNCTIONS for n in names)
        reason = nvptx.refusal(op, f4)
        assert (reason is None) == (row.math is None or own), op
        assert nvptx.refusal(op, f4, libdevice=True) is None
    # float fmod needs frem, which NVPTX takes from libdevice; integer fmod needs nothing
    assert "frem" in nvptx.refusal(Op.FMOD, f4)
    assert nvptx.refusal(Op.FMOD, np.dtype("int32")) is None
    for op in (Op.LDEXP, Op.FREXP_MANTISSA, Op.NEXTAFTER, Op.GCD, Op.BITWISE_COUNT):
        assert nvptx.refusal(op, f4) is None  # bit manipulation: no math library
    assert nvptx.LIBDEVICE_NAMES["erff"] == "__nv_erff"


def test_public_rows_are_functions() -> None:
    for op, row in ops.ROWS.items():
        if row.public and row.nout == 1:
            assert getattr(la, row.name).__name__ == row.name
        if row.public and isinstance(row.ufunc, np.ufunc):
            assert op in ops.BY_UFUNC[row.ufunc]
    for name in ("radians", "degrees", "conj", "frexp", "modf", "divmod", "round", "around",
                 "isclose", "nan_to_num", "sinc", "real", "imag", "erf", "erfc"):
        assert callable(getattr(la, name))


def test_composite_ops_never_reach_the_graph() -> None:
    x = la.asarray(np.ones(4))
    for fn in (la.deg2rad, la.rad2deg, la.spacing, la.conjugate, la.heaviside):
        args = (x, 0.5) if fn is la.heaviside else (x,)
        row = ops.ROWS.get(fn(*args)._node.op)
        assert row is None or row.expand is None
    assert la.float_power(x, x)._node.op is Op.POWER
    assert la.conj(x)._node is x._node


# -- two outputs ------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
def test_frexp(dt: str) -> None:
    x = specials(dt)
    same(la.frexp, np.frexp, x)
    same(la.frexp, np.frexp, x[::-2])
    same(la.frexp, np.frexp, x.reshape(1, -1).repeat(2, 0).T)
    mantissa, exponent = la.frexp(la.asarray(x))
    assert exponent.dtype == np.int32 and mantissa.dtype == np.dtype(dt)


@pytest.mark.parametrize("dt", FLOATS)
def test_modf(dt: str) -> None:
    x = specials(dt)
    same(la.modf, np.modf, x)
    same(la.modf, np.modf, np.array(-2.0, dt))  # 0-d: (-0.0, -2.0)


@pytest.mark.parametrize(("a", "b"), [
    (np.array([5.0, -5.0, 1.0, np.inf, -0.0, np.nan, 7.5]), np.array([3.0, 3.0, 0.0, 2.0, 3.0,
                                                                       1.0, -2.0])),
    (np.array([7, -7, 0, -128, 5], np.int8), np.array([2, 2, 0, -1, 0], np.int8)),
    (np.arange(12, dtype=np.uint16).reshape(3, 4), np.array([1, 2, 0, 5], np.uint16)),
])
def test_divmod(a: np.ndarray, b: np.ndarray) -> None:
    same(la.divmod, np.divmod, a, b)
    same(lambda x, y: divmod(x, y), np.divmod, a, b)  # the builtin, through __divmod__


@pytest.mark.parametrize("fn", ["frexp", "modf", "divmod"])
def test_two_outputs_are_one_kernel(fn: str) -> None:
    x = la.asarray(np.linspace(-3, 3, 101))
    args = (x, 0.7) if fn == "divmod" else (x,)
    first, second = getattr(la, fn)(*args)
    assert kernel_count(first, second) == 1


def test_two_outputs_through_numpy() -> None:
    x = np.array([1.5, -0.25, 8.0, 0.0])
    lazy = la.asarray(x)
    for fn in (np.frexp, np.modf):
        result = fn(lazy)
        assert isinstance(result, tuple) and all(isinstance(r, la.LazyArray) for r in result)
        for g, w in zip(la.eval(*result), fn(x), strict=True):
            np.testing.assert_array_equal(g, w)
    q, r = np.divmod(lazy, 0.75)
    assert isinstance(q, la.LazyArray)
    np.testing.assert_array_equal(la.eval(q, r)[1], np.divmod(x, 0.75)[1])
    outs = (np.empty(4), np.empty(4, np.int32))
    assert np.frexp(lazy, out=outs) == outs
    np.testing.assert_array_equal(outs[1], np.frexp(x)[1])


def test_two_outputs_of_empty_and_wrong_input() -> None:
    same(la.frexp, np.frexp, np.empty((0, 3)))
    same(la.modf, np.modf, np.array([3, -2], np.int32))  # computed in float64
    same(la.frexp, np.frexp, np.array([3, -2, 0], np.int8))  # NumPy computes in float16
    with pytest.raises(TypeError):
        la.frexp(la.asarray(np.ones(3)), la.asarray(np.ones(3)))


# -- the float format ------------------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
def test_ldexp_extremes(dt: str) -> None:
    x = specials(dt)
    for n in (0, 1, -1, 127, -126, -149, 1023, -1074, -1075, 2000, -3000, 2**40, -(2**40)):
        same(la.ldexp, np.ldexp, x, np.int64(n))
    n = np.array([1, -1, 60, -60, 1100, -1100, 5, -2000, 3, 0, 7, 8, -9, 10, 11, 12, 13, 14,
                  -15], np.int32)
    same(la.ldexp, np.ldexp, x, n)
    same(la.ldexp, np.ldexp, x[:, None], n[:4])  # broadcast


def test_ldexp_exponent_types() -> None:
    x = la.asarray(np.ones(3))
    assert la.ldexp(x, np.uint32(2)).dtype == np.float64  # int64 loop
    assert la.ldexp(3, 2).dtype == np.float64
    for bad in (2.0, np.uint64(2), np.ones(3)):
        with pytest.raises(TypeError):
            la.ldexp(x, bad)


@pytest.mark.parametrize("dt", FLOATS)
def test_nextafter_and_spacing_at_the_edges(dt: str) -> None:
    x = specials(dt)
    info = np.finfo(dt)
    for toward in (0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, float(info.max)):
        same(la.nextafter, np.nextafter, x, np.array(toward, dt))
    same(la.spacing, np.spacing, x)
    same(la.spacing, np.spacing, np.array(-0.0, dt))  # NumPy: the positive smallest subnormal


def _mp(name: str, x: np.ndarray) -> np.ndarray:
    """erf/erfc correctly rounded to x's dtype (mpmath at 80 digits)."""
    mpmath = pytest.importorskip("mpmath")
    fn = getattr(mpmath, name)
    with mpmath.workdps(80):
        # mpmath has no -0.0: erf(-0.0) is -0.0 in C and NumPy's world; beyond |x| = 30 the
        # values are the limits (erfc(30) < 1e-392 rounds to 0), which mpmath without gmpy2
        # cannot reach for huge x (an int too large for a float inside its erfc)
        exact = [v if math.isnan(v) or (v == 0 and name == "erf") else
                 _erf_limit(name, v) if abs(v) > 30 else
                 float(fn(mpmath.mpf(float(v)))) for v in x]
    return np.array(exact).astype(x.dtype)  # float64 first: double rounding at most 1 ULP


def _erf_limit(name: str, v: float) -> float:
    if name == "erf":
        return math.copysign(1.0, v)
    return 0.0 if v > 0 else 2.0


@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_matches_reference(dt: str, name: str) -> None:
    x = np.concatenate([specials(dt), np.linspace(-6, 27, 331, dtype=dt)])
    want = _mp(name, x)
    for backend in BACKENDS:
        got = evaluated(getattr(la, name), x, backend=backend)[0]
        assert_same(got, want, TRANSCENDENTAL, what=f"{backend} {name} {dt}")
    same(getattr(la, name), lambda v: _mp(name, v), x[::-3],
         ulps=TRANSCENDENTAL)


def test_erf_dtypes() -> None:
    # SciPy's loops, d before f: only float32 stays float32
    for dt, want in (("int16", "float64"), ("bool", "float64"), ("uint8", "float64"),
                     ("float32", "float32")):
        assert la.erf(la.asarray(np.ones(2, dt))).dtype == want
    assert la.erfc(0.5).dtype == np.float64
    got = la.erf(la.asarray(np.arange(-3, 4, dtype=np.int16))).eval()
    np.testing.assert_allclose(got, [math.erf(v) for v in range(-3, 4)], rtol=1e-15)
    assert la.erf(la.asarray(np.empty((2, 0)))).eval().shape == (2, 0)


def test_erf_needs_no_libdevice_once_mathlib_has_it() -> None:
    if "erf" not in mathlib.FUNCTIONS:
        pytest.skip("codegen/mathlib has no erf yet: CUDA takes erf from libdevice")
    assert nvptx.refusal(Op.ERF, np.dtype("float32")) is None
    assert scalar.MATHLIB_OPS[Op.ERFC] == "erfc"


# -- integers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", ["int8", "int32", "int64", "uint8", "uint64"])
def test_gcd_lcm_at_the_edges(dt: str) -> None:
    info = np.iinfo(dt)
    edges = np.array(sorted({info.min, info.min + 1, info.max, 0, 1, 2, 6, 99, 100}),
                     dtype=dt)
    a, b = (g.ravel() for g in np.meshgrid(edges, edges))
    same(la.gcd, np.gcd, a, b)
    same(la.lcm, np.lcm, a, b)  # overflow wraps as NumPy's does


def test_integer_functions_refuse_floats() -> None:
    x = la.asarray(np.ones(3))
    for fn in (la.gcd, la.lcm):
        with pytest.raises(TypeError):
            fn(x, x)
    with pytest.raises(TypeError):
        la.bitwise_count(x)


def test_bitwise_count_uses_absolute_values() -> None:
    for dt in ("int8", "int16", "int64", "uint32", "bool"):
        x = np.array([0, 1, -1, -128, 127, 5], dtype=np.int64).astype(dt)
        same(la.bitwise_count, np.bitwise_count, x)


# -- round -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS)
@pytest.mark.parametrize("decimals", [0, 1, 2, 5, -1, -2, 30, 400, -400])
def test_round_floats(dt: str, decimals: int) -> None:
    x = np.concatenate([specials(dt), np.array([2.5, 3.5, -0.5, 1234.5678, 2.675, 0.125,
                                                15.0, -25.0], dtype=dt)])
    same(lambda v: la.round(v, decimals), lambda v: np.round(v, decimals), x)


@pytest.mark.parametrize("dt", ["int8", "uint8", "int32", "int64"])
@pytest.mark.parametrize("decimals", [0, 2, -1, -2])
def test_round_integers(dt: str, decimals: int) -> None:
    x = np.array([0, 5, 15, 25, -35, 44, 99, 100, 126], dtype=np.int64)
    x = x[x >= 0].astype(dt) if dt.startswith("u") else x.astype(dt)
    same(lambda v: la.round(v, decimals), lambda v: np.round(v, decimals), x)


def test_round_forms() -> None:
    x = np.array([[1.25, -2.75], [0.05, 3.5]])
    lazy = la.asarray(x)
    for got in (lazy.round(1), np.round(lazy, 1), np.around(lazy, 1), la.around(lazy, 1)):
        assert isinstance(got, la.LazyArray)
        np.testing.assert_array_equal(got.eval(), np.round(x, 1))
    out = np.empty_like(x)
    assert lazy.round(1, out=out) is out
    with pytest.raises(TypeError):
        la.round(lazy, 1.5)
    with pytest.raises(TypeError):  # NumPy: float64 cannot be cast back to bool
        la.round(la.asarray(np.ones(2, bool)), 1)


# -- isclose, nan_to_num, sinc, real, imag, conj -----------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"rtol": 0.1}, {"atol": 1.0}, {"equal_nan": True},
                                    {"rtol": 0.0, "atol": 0.0}])
def test_isclose(kwargs: dict[str, Any]) -> None:
    a = np.array([1.0, 1.0 + 1e-9, np.nan, np.inf, -np.inf, 0.0, 1e-9, 2.0, np.nan])
    b = np.array([1.0, 1.0, np.nan, np.inf, np.inf, -0.0, 0.0, 2.1, 1.0])
    same(lambda x, y: la.isclose(x, y, **kwargs), lambda x, y: np.isclose(x, y, **kwargs), a, b)
    same(lambda x: la.isclose(x, 1.0, **kwargs), lambda x: np.isclose(x, 1.0, **kwargs), a)
    ints = np.array([np.iinfo(np.int64).min, 0, 5], np.int64)
    same(lambda x: la.isclose(x, x, **kwargs), lambda x: np.isclose(x, x, **kwargs), ints)
    same(lambda x: la.isclose(x, 5), lambda x: np.isclose(x, 5), ints)
    f4 = a.astype(np.float32)
    same(lambda x, y: la.isclose(x, y, **kwargs), lambda x, y: np.isclose(x, y, **kwargs),
         f4[:, None], f4[None, ::2])  # broadcast, float32


@pytest.mark.parametrize("dt", FLOATS)
def test_nan_to_num(dt: str) -> None:
    x = specials(dt)
    same(la.nan_to_num, np.nan_to_num, x)
    same(lambda v: la.nan_to_num(v, nan=-1.0, posinf=1e300, neginf=-7),
         lambda v: np.nan_to_num(v, nan=-1.0, posinf=1e300, neginf=-7), x)
    assert isinstance(np.nan_to_num(la.asarray(x)), la.LazyArray)
    ints = np.array([1, -2], np.int16)
    assert la.nan_to_num(ints).eval().dtype == np.int16


@pytest.mark.parametrize("dt", ["float32", "float64", "int32", "bool"])
def test_sinc(dt: str) -> None:
    x = np.array([0, 1, -1, 2, 3, 5, 0, 1, 0, 1, 0], dtype=dt) if dt == "bool" or \
        dt.startswith("int") else np.concatenate([specials(dt), np.linspace(-3, 3, 31, dtype=dt)])
    same(la.sinc, np.sinc, x, ulps=TRANSCENDENTAL)
    assert isinstance(np.sinc(la.asarray(x)), la.LazyArray)


@pytest.mark.parametrize("dt", ["float32", "int16", "uint8", "bool"])
def test_real_imag_conj(dt: str) -> None:
    x = np.array([[1, 0, 3], [0, 1, 1]], dtype=dt)
    for fn in ("real", "imag", "conj", "conjugate"):
        same(getattr(la, fn), getattr(np, fn), x)
        same(getattr(la, fn), getattr(np, fn), x.T[::-1])
        assert isinstance(getattr(np, fn)(la.asarray(x)), la.LazyArray)


def test_new_ufuncs_dispatch_lazily() -> None:
    x = la.asarray(np.linspace(0.5, 3, 7))
    n = la.asarray(np.arange(7, dtype=np.int64))
    for fn, args in ((np.fmod, (x, 0.7)), (np.ldexp, (x, n)), (np.nextafter, (x, 1.0)),
                     (np.spacing, (x,)), (np.deg2rad, (x,)), (np.radians, (x,)),
                     (np.rad2deg, (x,)), (np.degrees, (x,)), (np.heaviside, (x - 1, 0.5)),
                     (np.float_power, (x, 2.5)), (np.gcd, (n, 4)), (np.lcm, (n, 4)),
                     (np.logaddexp2, (x, x)), (np.fabs, (-x,)), (np.bitwise_count, (n,)),
                     (np.conjugate, (x,))):
        got = fn(*args)
        assert isinstance(got, la.LazyArray), fn
        plain = [np.asarray(a) if isinstance(a, la.LazyArray) else a for a in args]
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(np.asarray(got), fn(*plain), rtol=1e-13)


def test_float_power_is_pow_without_fast_paths() -> None:
    # NumPy's float_power has no sqrt fast path: (-inf) ** 0.5 is inf, not NaN
    x = np.array([-np.inf, -0.0, 4.0, 2.0])
    same(lambda v: la.float_power(v, 0.5), lambda v: np.float_power(v, 0.5), x)
    same(lambda v: la.float_power(v, 2), lambda v: np.float_power(v, 2), x.astype(np.float32))
    assert la.float_power(la.asarray(np.ones(2, np.int8)), 2).dtype == np.float64
    assert math.isnan(la.heaviside(la.asarray(np.array([np.nan])), 0.5).eval()[0])
