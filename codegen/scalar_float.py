"""Scalar emitters of float functions: math routines, rounding, the float format.

Registered in ``scalar.EMITTERS`` on import (``scalar.py`` imports this module last). Ops
whose row (``lazyarr/ir/ops.py``) names an LLVM intrinsic or a math routine and that need no
code of their own get a generic emitter built from the row; the rest are written out here.
Bit-level ops (ldexp, frexp, nextafter) work on the float's integer bits, so they call no
math library on any target.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from llvmlite import ir

from lazyarr.ir import ops
from lazyarr.ir.graph import Op

from . import mathlib
from .scalar import (
    ARG_EMITTERS,
    EMITTERS,
    F64,
    I1,
    I32,
    Ctx,
    Emitter,
    const,
    emitter,
    is_float,
    is_nan,
    math_call,
    row_math,
    sel,
)


# -- generic emitters from the rows ----------------------------------------------------------
def _intrinsic(name: str) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        # rounding an integer (floor, ceil, trunc of NumPy's integer loops) keeps it
        return c.call(name, a[0].type, *a) if is_float(dt) else a[0]

    return emit


def _routine(routine: ops.MathCall) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        return math_call(c, routine, a)

    return emit


def _register_rows() -> None:
    for op, row in ops.ROWS.items():
        if op in EMITTERS or row.expand is not None:
            continue  # an emitter of its own, or never reaches a kernel
        if row.intrinsic:
            EMITTERS[op] = _intrinsic(row.intrinsic)
        elif row.math is not None and row.math.form in (ops.Form.CALL, ops.Form.INTRINSIC):
            EMITTERS[op] = _routine(row.math)


# -- logaddexp ----------------------------------------------------------------------------------
def _log_add(c: Ctx, dt: np.dtype, a: Sequence[ir.Value], base2: bool) -> ir.Value:
    """NumPy's ``npy_logaddexp`` (``npy_logaddexp2``): ``max + log1p(exp(-|x - y|))`` (base
    2: ``log2(1 + 2**-|x - y|)``), exact for equal arguments (infinities too), NaN passes."""
    b = c.b
    x, y = a
    t = b.fsub(x, y)
    e = b.fneg(c.call("fabs", x.type, t))
    power, log1p = row_math(Op.EXP2 if base2 else Op.EXP), row_math(Op.LOG1P)
    tail = math_call(c, log1p, [math_call(c, power, [e])])
    if base2:
        tail = b.fmul(tail, const(dt, 1 / math.log(2.0)))  # NumPy's NPY_LOG2E * log1p
    r = sel(b, b.fcmp_ordered(">", t, const(dt, 0.0)), b.fadd(x, tail),
            sel(b, b.fcmp_ordered("<=", t, const(dt, 0.0)), b.fadd(y, tail), t))
    same = b.fadd(x, const(dt, 1.0 if base2 else math.log(2.0)))
    return sel(b, b.fcmp_ordered("==", x, y), same, r)


@emitter(Op.LOGADDEXP)
def _logaddexp(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _log_add(c, dt, a, False)


@emitter(Op.LOGADDEXP2)
def _logaddexp2(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _log_add(c, dt, a, True)


@emitter(Op.SIGN)
def _sign(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    b, x = c.b, a[0]
    if is_float(dt):
        zero = const(dt, 0.0)
        is_zero = sel(b, b.fcmp_ordered("==", x, zero), zero, x)  # NaN stays NaN
        neg = sel(b, b.fcmp_ordered("<", x, zero), const(dt, -1.0), is_zero)
        return sel(b, b.fcmp_ordered(">", x, zero), const(dt, 1.0), neg)
    if dt.kind == "u":
        return b.zext(b.icmp_unsigned("!=", x, const(dt, 0)), x.type)
    pos = b.zext(b.icmp_signed(">", x, const(dt, 0)), x.type)
    return b.sub(pos, b.zext(b.icmp_signed("<", x, const(dt, 0)), x.type))


@emitter(Op.ISNAN)
def _isnan(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return is_nan(c.b, a[0]) if is_float(dt) else ir.Constant(I1, 0)


@emitter(Op.ISINF)
def _isinf(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not is_float(dt):
        return ir.Constant(I1, 0)
    return c.b.fcmp_ordered("==", c.call("fabs", a[0].type, a[0]), const(dt, math.inf))


@emitter(Op.ISFINITE)
def _isfinite(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not is_float(dt):
        return ir.Constant(I1, 1)
    return c.b.fcmp_ordered("<", c.call("fabs", a[0].type, a[0]), const(dt, math.inf))


@emitter(Op.SIGNBIT)
def _signbit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not is_float(dt):
        return c.b.icmp_signed("<", a[0], const(dt, 0)) if dt.kind == "i" else ir.Constant(I1, 0)
    bits = c.b.bitcast(a[0], ir.IntType(8 * dt.itemsize))
    return c.b.icmp_signed("<", bits, ir.Constant(bits.type, 0))


# -- the float format ------------------------------------------------------------------------
class _Format:
    """Bit layout of float32 or float64."""

    def __init__(self, ty: ir.Type) -> None:
        wide = ty == F64
        self.ty = ty
        self.ity = ir.IntType(64 if wide else 32)
        self.mant = 52 if wide else 23  # stored fraction bits
        self.bias = 1023 if wide else 127
        self.emax, self.emin = self.bias, 1 - self.bias

    def k(self, value: float) -> ir.Constant:
        return ir.Constant(self.ty, value)

    def i(self, value: int) -> ir.Constant:
        return ir.Constant(self.ity, value)


def _clamp(b: ir.IRBuilder, n: ir.Value, lo: int, hi: int) -> ir.Value:
    n = sel(b, b.icmp_signed("<", n, ir.Constant(n.type, lo)), ir.Constant(n.type, lo), n)
    return sel(b, b.icmp_signed(">", n, ir.Constant(n.type, hi)), ir.Constant(n.type, hi), n)


@emitter(Op.LDEXP)
def _ldexp(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    """``x * 2**n`` rounded once (musl's scalbn, branch-free): up to two scalings bring ``n``
    into the exponent range, the last factor is built from its bits. Scaling down first
    multiplies by 2**(emin + mant + 1), so a subnormal result is rounded only by the last
    multiplication. ``n`` beyond any finite result is clamped first (no overflow of ``n``)."""
    b = c.b
    x, n = a
    f = _Format(x.type)
    limit = 3 * f.bias  # past the whole range of results (|emin| + mant + emax < 3 * bias)
    n = _clamp(b, n, -limit, limit)
    n = b.trunc(n, I32) if n.type.width > 32 else n
    down = f.emin + f.mant + 1  # negative
    y = x
    for _ in range(2):
        up_step = b.icmp_signed(">", n, I32(f.emax))
        down_step = b.icmp_signed("<", n, I32(f.emin))
        y = b.fmul(y, sel(b, up_step, f.k(2.0**f.emax),
                          sel(b, down_step, f.k(2.0**down), f.k(1.0))))
        n = sel(b, up_step, b.sub(n, I32(f.emax)), sel(b, down_step, b.sub(n, I32(down)), n))
    n = _clamp(b, n, f.emin, f.emax)
    biased = b.add(n, I32(f.bias))
    biased = b.zext(biased, f.ity) if f.ity.width > 32 else biased
    return b.fmul(y, b.bitcast(b.shl(biased, f.i(f.mant)), f.ty))


def _frexp(c: Ctx, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(mantissa in [0.5, 1) with x's sign, exponent as int32); x itself and 0 for zeros,
    infinities and NaN. Subnormals are scaled into the normal range first."""
    b = c.b
    f = _Format(x.type)
    scale = f.mant + 2
    expmask = (1 << (f.ity.width - 1 - f.mant)) - 1
    biased = b.and_(b.lshr(b.bitcast(x, f.ity), f.i(f.mant)), f.i(expmask))
    subnormal = b.icmp_unsigned("==", biased, f.i(0))
    xs = sel(b, subnormal, b.fmul(x, f.k(2.0**scale)), x)
    bits = b.bitcast(xs, f.ity)
    e = b.and_(b.lshr(bits, f.i(f.mant)), f.i(expmask))
    e = b.sub(e, sel(b, subnormal, f.i(f.bias - 1 + scale), f.i(f.bias - 1)))
    mbits = b.or_(b.and_(bits, f.i(~(expmask << f.mant) & ((1 << f.ity.width) - 1))),
                  f.i((f.bias - 1) << f.mant))
    absx = c.call("fabs", x.type, x)
    ordinary = b.and_(b.fcmp_ordered("!=", x, f.k(0.0)), b.fcmp_ordered("<", absx, f.k(math.inf)))
    e = b.trunc(e, I32) if f.ity.width > 32 else e
    return sel(b, ordinary, b.bitcast(mbits, f.ty), x), sel(b, ordinary, e, I32(0))


@emitter(Op.FREXP_MANTISSA)
def _frexp_mantissa(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _frexp(c, a[0])[0]


@emitter(Op.FREXP_EXPONENT)
def _frexp_exponent(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _frexp(c, a[0])[1]  # the same instructions as the mantissa's: LLVM shares them


@emitter(Op.NEXTAFTER)
def _nextafter(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    """C's nextafter: the neighbour of x toward y, by one step of its bits; y when equal
    (nextafter(0.0, -0.0) is -0.0), the smallest subnormal with y's sign from zero."""
    b = c.b
    x, y = a
    f = _Format(x.type)
    bits = b.bitcast(x, f.ity)
    away = b.icmp_unsigned("==", b.fcmp_ordered("<", x, y), b.fcmp_ordered(">", x, f.k(0.0)))
    step = b.bitcast(b.add(bits, sel(b, away, f.i(1), f.i(-1))), f.ty)
    tiny = c.call("copysign", x.type, b.bitcast(f.i(1), f.ty), y)
    r = sel(b, b.fcmp_ordered("==", x, f.k(0.0)), tiny, step)
    r = sel(b, b.fcmp_ordered("==", x, y), y, r)
    return sel(b, b.fcmp_unordered("uno", x, y), b.fadd(x, y), r)


# -- ops whose code depends on a constant argument ------------------------------------------
def _power_int(c: Ctx, dt: np.dtype, a: Sequence[ir.Value], n: int) -> ir.Value:
    """``x ** n``, unrolled for the constant integer ``n`` (no libm: every target)."""
    return mathlib.int_power(mathlib.Em(c.b, mathlib.format_of(a[0].type)), a[0], n)


ARG_EMITTERS[Op.POWER_INT] = _power_int
_register_rows()
