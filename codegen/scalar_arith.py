"""Scalar emitters of arithmetic, integer, bitwise, comparison, logic and selection ops.

Registered in ``scalar.EMITTERS`` on import (``scalar.py`` imports this module last). Integer
code never reaches LLVM's undefined behaviour: divisors that would trap are replaced before the
division and the result selected afterwards, shifts are clamped, absolute values are taken as
unsigned.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from llvmlite import ir

from lazyarr.ir.graph import Op

from .scalar import (
    EMITTERS,
    I1,
    PREDICATES,
    Ctx,
    Emitter,
    compare,
    const,
    emitter,
    is_float,
    is_nan,
    math_call,
    row_math,
    sel,
    truthy,
)


# -- arithmetic --------------------------------------------------------------------------
@emitter(Op.ADD)
def _add(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if dt.kind == "b":
        return c.b.or_(*a)
    return c.b.fadd(*a) if is_float(dt) else c.b.add(*a)


@emitter(Op.SUBTRACT)
def _sub(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.fsub(*a) if is_float(dt) else c.b.sub(*a)


@emitter(Op.MULTIPLY)
def _mul(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if dt.kind == "b":
        return c.b.and_(*a)
    return c.b.fmul(*a) if is_float(dt) else c.b.mul(*a)


@emitter(Op.SQUARE)
def _square(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _mul(c, dt, (a[0], a[0]))


@emitter(Op.TRUE_DIVIDE)
def _div(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.fdiv(*a)


def _safe_divisor(c: Ctx, dt: np.dtype, y: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(divisor that cannot trap, y == 0, y == -1): division by 0 and MIN // -1 are UB."""
    b = c.b
    zero = b.icmp_signed("==", y, const(dt, 0))
    if dt.kind != "i":
        return sel(b, zero, const(dt, 1), y), zero, ir.Constant(I1, 0)
    minus1 = b.icmp_signed("==", y, const(dt, -1))
    return sel(b, b.or_(zero, minus1), const(dt, 1), y), zero, minus1


def _int_divmod(c: Ctx, dt: np.dtype, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """Python's floor division and modulo; x // 0 == 0 and x % 0 == 0 as in NumPy."""
    b = c.b
    safe, zero, minus1 = _safe_divisor(c, dt, y)
    if dt.kind != "i":
        q, r = b.udiv(x, safe), b.urem(x, safe)
        return sel(b, zero, const(dt, 0), q), sel(b, zero, const(dt, 0), r)
    q, r = b.sdiv(x, safe), b.srem(x, safe)
    # round toward -inf: a non-zero remainder whose sign differs from the divisor's
    fix = b.and_(b.icmp_signed("!=", r, const(dt, 0)),
                 b.icmp_signed("<", b.xor(r, y), const(dt, 0)))
    q = b.sub(q, b.zext(fix, q.type))
    r = sel(b, fix, b.add(r, y), r)
    q = sel(b, minus1, b.sub(const(dt, 0), x), q)  # wraps for MIN, like NumPy
    q = sel(b, zero, const(dt, 0), q)
    r = sel(b, b.or_(zero, minus1), const(dt, 0), r)
    return q, r


def _float_divmod(c: Ctx, dt: np.dtype, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
    """NumPy's ``npy_divmod`` for floats, branch-free."""
    b = c.b
    zero, one = const(dt, 0.0), const(dt, 1.0)
    mod = b.frem(x, y)
    div = b.fdiv(b.fsub(x, mod), y)
    mod_nz = b.fcmp_unordered("!=", mod, zero)
    flip = b.and_(mod_nz, b.icmp_unsigned(
        "!=", b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)))
    mod = sel(b, flip, b.fadd(mod, y), mod)
    div = sel(b, flip, b.fsub(div, one), div)
    mod = sel(b, mod_nz, mod, c.call("copysign", mod.type, zero, y))
    floordiv = c.call("floor", div.type, div)
    up = b.fcmp_ordered(">", b.fsub(div, floordiv), const(dt, 0.5))
    floordiv = sel(b, up, b.fadd(floordiv, one), floordiv)
    div_nz = b.fcmp_unordered("!=", div, zero)
    floordiv = sel(b, div_nz, floordiv, c.call("copysign", div.type, zero, b.fdiv(x, y)))
    y_zero = b.fcmp_ordered("==", y, zero)
    return sel(b, y_zero, b.fdiv(x, y), floordiv), sel(b, y_zero, b.frem(x, y), mod)


@emitter(Op.FLOOR_DIVIDE)
def _floordiv(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return (_float_divmod if is_float(dt) else _int_divmod)(c, dt, *a)[0]


@emitter(Op.REMAINDER)
def _remainder(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return (_float_divmod if is_float(dt) else _int_divmod)(c, dt, *a)[1]


@emitter(Op.POWER)
def _power(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if is_float(dt):
        return math_call(c, row_math(Op.POWER), a)
    x, e = a
    if dt.kind == "i":
        negative = c.b.icmp_signed("<", e, const(dt, 0))
        c.fail_if(negative)  # NumPy raises ValueError: integers to negative powers
    return _int_power_loop(c, dt, x, e)


def _int_power_loop(c: Ctx, dt: np.dtype, x: ir.Value, e: ir.Value) -> ir.Value:
    """Square-and-multiply while exponent bits remain; wraps like NumPy.

    A loop rather than one unrolled step per bit: 64 unrolled steps cost ~0.5 s of LLVM time
    per int64 kernel, and small exponents (the usual case) finish after a few rounds. The
    exponent is shifted logically, so any bit pattern ends within the bit width.
    """
    b = c.b
    entry = b.block
    body = b.append_basic_block("ipow.body")
    done = b.append_basic_block("ipow.done")
    b.branch(body)
    b.position_at_end(body)
    result = b.phi(x.type)
    base = b.phi(x.type)
    rest = b.phi(x.type)
    odd = b.trunc(rest, I1)
    new_result = sel(b, odd, b.mul(result, base), result)
    new_base = b.mul(base, base)
    new_rest = b.lshr(rest, const(dt, 1))
    for phi, start, nxt in ((result, const(dt, 1), new_result), (base, x, new_base),
                            (rest, e, new_rest)):
        phi.add_incoming(start, entry)
        phi.add_incoming(nxt, body)
    b.cbranch(b.icmp_unsigned("!=", new_rest, const(dt, 0)), body, done)
    b.position_at_end(done)
    return new_result


@emitter(Op.NEGATIVE)
def _negative(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.fneg(a[0]) if is_float(dt) else c.b.sub(const(dt, 0), a[0])


@emitter(Op.POSITIVE, Op.STOP_GRADIENT)
def _positive(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return a[0]


@emitter(Op.ABSOLUTE)
def _absolute(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if is_float(dt):
        return c.call("fabs", a[0].type, a[0])
    if dt.kind != "i":
        return a[0]
    neg = c.b.icmp_signed("<", a[0], const(dt, 0))
    return sel(c.b, neg, c.b.sub(const(dt, 0), a[0]), a[0])


@emitter(Op.RECIPROCAL)
def _reciprocal(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if is_float(dt):
        return c.b.fdiv(const(dt, 1.0), a[0])
    # 1 // x for |x| > 1 is 0; lazyarr defines reciprocal(0) as 0 for integers too
    b = c.b
    one = b.icmp_signed("==", a[0], const(dt, 1))
    if dt.kind != "i":
        return b.zext(one, a[0].type)
    minus1 = b.icmp_signed("==", a[0], const(dt, -1))
    return sel(b, one, const(dt, 1), sel(b, minus1, const(dt, -1), const(dt, 0)))


# -- bitwise -----------------------------------------------------------------------------
@emitter(Op.INVERT)
def _invert(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.xor(a[0], ir.Constant(a[0].type, -1))


@emitter(Op.BITWISE_AND)
def _and(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.and_(*a)


@emitter(Op.BITWISE_OR)
def _or(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.or_(*a)


@emitter(Op.BITWISE_XOR)
def _xor(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.xor(*a)


def _shift_in_range(c: Ctx, dt: np.dtype, n: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(0 <= n < bits, n or 0): LLVM shifts by >= the bit width are poison."""
    ok = c.b.icmp_unsigned("<", n, const(dt, 8 * dt.itemsize))
    return ok, sel(c.b, ok, n, const(dt, 0))


@emitter(Op.LEFT_SHIFT)
def _lshift(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    ok, n = _shift_in_range(c, dt, a[1])
    return sel(c.b, ok, c.b.shl(a[0], n), const(dt, 0))


@emitter(Op.RIGHT_SHIFT)
def _rshift(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    ok, n = _shift_in_range(c, dt, a[1])
    if dt.kind == "i":
        return c.b.ashr(a[0], sel(c.b, ok, n, const(dt, 8 * dt.itemsize - 1)))
    return sel(c.b, ok, c.b.lshr(a[0], n), const(dt, 0))


# -- comparisons and logic ---------------------------------------------------------------
def _comparison(pred: str) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        if is_float(dt) and pred == "!=":
            return c.b.fcmp_unordered("!=", *a)  # NaN != x is True
        return compare(c, dt, pred, *a)

    return emit


for _op, _pred in PREDICATES.items():
    EMITTERS[_op] = _comparison(_pred)


@emitter(Op.LOGICAL_AND)
def _land(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.and_(truthy(c, dt, a[0]), truthy(c, dt, a[1]))


@emitter(Op.LOGICAL_OR)
def _lor(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.or_(truthy(c, dt, a[0]), truthy(c, dt, a[1]))


@emitter(Op.LOGICAL_XOR)
def _lxor(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.xor(truthy(c, dt, a[0]), truthy(c, dt, a[1]))


@emitter(Op.LOGICAL_NOT)
def _lnot(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.not_(truthy(c, dt, a[0]))


@emitter(Op.WHERE)
def _where(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.select(*a)


# -- min / max ---------------------------------------------------------------------------
def _maximum(c: Ctx, dt: np.dtype, x: ir.Value, y: ir.Value) -> ir.Value:
    if dt.kind == "b":
        return c.b.or_(x, y)
    pick = sel(c.b, compare(c, dt, ">", x, y), x, y)
    return sel(c.b, is_nan(c.b, x), x, pick) if is_float(dt) else pick


def _minimum(c: Ctx, dt: np.dtype, x: ir.Value, y: ir.Value) -> ir.Value:
    if dt.kind == "b":
        return c.b.and_(x, y)
    pick = sel(c.b, compare(c, dt, "<", x, y), x, y)
    return sel(c.b, is_nan(c.b, x), x, pick) if is_float(dt) else pick


@emitter(Op.MAXIMUM)
def _max(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _maximum(c, dt, *a)


@emitter(Op.MINIMUM)
def _min(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _minimum(c, dt, *a)


@emitter(Op.FMAX)
def _fmax(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not is_float(dt):
        return _maximum(c, dt, *a)
    x, y = a
    keep = c.b.or_(c.b.fcmp_ordered(">=", x, y), is_nan(c.b, y))
    return sel(c.b, keep, x, y)


@emitter(Op.FMIN)
def _fmin(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not is_float(dt):
        return _minimum(c, dt, *a)
    x, y = a
    keep = c.b.or_(c.b.fcmp_ordered("<=", x, y), is_nan(c.b, y))
    return sel(c.b, keep, x, y)


@emitter(Op.CLIP)
def _clip(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _minimum(c, dt, _maximum(c, dt, a[0], a[1]), a[2])




# -- integer functions -------------------------------------------------------------------------
@emitter(Op.FMOD)
def _fmod(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    """C's fmod: the remainder of truncating division, with the dividend's sign. For
    integers, ``x fmod 0`` is 0 as in NumPy (and ``MIN fmod -1`` is 0: the divisor 1)."""
    if is_float(dt):
        return math_call(c, row_math(Op.FMOD), a)
    x, y = a
    safe, zero, _ = _safe_divisor(c, dt, y)
    r = c.b.srem(x, safe) if dt.kind == "i" else c.b.urem(x, safe)
    return sel(c.b, zero, const(dt, 0), r)


def _unsigned_abs(c: Ctx, dt: np.dtype, x: ir.Value) -> ir.Value:
    """|x| as unsigned bits: MIN wraps to itself, which read unsigned is exactly |MIN|."""
    if dt.kind != "i":
        return x
    return sel(c.b, c.b.icmp_signed("<", x, const(dt, 0)), c.b.sub(const(dt, 0), x), x)


def _gcd(c: Ctx, x: ir.Value, y: ir.Value) -> ir.Value:
    """Euclid's algorithm on unsigned values (a loop: at most ~1.44 * bits rounds). The
    remainder is taken only by a non-zero divisor."""
    b = c.b
    entry = b.block
    head = b.append_basic_block("gcd.head")
    body = b.append_basic_block("gcd.body")
    done = b.append_basic_block("gcd.done")
    b.branch(head)
    b.position_at_end(head)
    u = b.phi(x.type)
    v = b.phi(x.type)
    b.cbranch(b.icmp_unsigned("!=", v, ir.Constant(x.type, 0)), body, done)
    b.position_at_end(body)
    r = b.urem(u, v)
    b.branch(head)
    u.add_incoming(x, entry)
    u.add_incoming(v, body)
    v.add_incoming(y, entry)
    v.add_incoming(r, body)
    b.position_at_end(done)
    return u


@emitter(Op.GCD)
def _gcd_op(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    # NumPy's npy_gcd: gcd of the absolute values; gcd(MIN, 0) is |MIN|, which wraps to MIN
    return _gcd(c, _unsigned_abs(c, dt, a[0]), _unsigned_abs(c, dt, a[1]))


@emitter(Op.LCM)
def _lcm(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    """NumPy's lcm: ``|x| / gcd * |y|`` in unsigned arithmetic of the type's width (so it
    wraps on overflow, and may read negative), 0 when the gcd is 0."""
    b = c.b
    x, y = (_unsigned_abs(c, dt, v) for v in a)
    g = _gcd(c, x, y)
    g_zero = b.icmp_unsigned("==", g, const(dt, 0))
    quotient = b.udiv(x, sel(b, g_zero, const(dt, 1), g))
    return sel(b, g_zero, const(dt, 0), b.mul(quotient, y))


@emitter(Op.BITWISE_COUNT)
def _bitwise_count(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    """Set bits of |x| (NumPy counts signed integers by absolute value), as uint8.

    The classic SWAR count in plain instructions, which LLVM turns into ``ctpop`` (a
    population-count instruction where the target has one): no intrinsic to declare.
    """
    b = c.b
    x = _unsigned_abs(c, dt, a[0])
    bits = 8 * dt.itemsize

    def k(byte: int) -> ir.Constant:
        return ir.Constant(x.type, int.from_bytes(bytes([byte]) * dt.itemsize, "little"))

    def shr(v: ir.Value, n: int) -> ir.Value:
        return b.lshr(v, ir.Constant(x.type, n))

    v = b.sub(x, b.and_(shr(x, 1), k(0x55)))
    v = b.add(b.and_(v, k(0x33)), b.and_(shr(v, 2), k(0x33)))
    v = b.and_(b.add(v, shr(v, 4)), k(0x0F))
    if bits > 8:  # the bytes' counts summed into the top byte
        v = shr(b.mul(v, k(0x01)), bits - 8)
        v = b.trunc(v, ir.IntType(8))
    return v
