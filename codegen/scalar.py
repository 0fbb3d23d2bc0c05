"""The scalar body of a kernel: "the value at one index", shared by every target.

A loop wrapper (``cpu.py`` or ``nvptx.py``) positions an IRBuilder inside its loop and hands
this module a way to load each input at the current index; :func:`emit_body` returns the
output values. Each op is one small emitter in ``EMITTERS``. Where LLVM's instruction has
undefined behaviour that NumPy defines (division by zero, ``INT_MIN // -1``, over-wide shifts,
float to int of NaN), the emitter guards it with selects, so the result is NumPy's and the
code stays branch-free and vectorisable.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from llvmlite import ir

from lazyarr.ir.graph import Op
from lazyarr.ir.loop import ArrayParam, Kernel

from . import mathlib

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F32 = ir.FloatType()
F64 = ir.DoubleType()


def value_type(dtype: np.dtype) -> ir.Type:
    """The LLVM type a value of ``dtype`` has while computing (bool is i1)."""
    if dtype.kind == "b":
        return I1
    if dtype.kind == "f":
        return F32 if dtype.itemsize == 4 else F64
    return ir.IntType(8 * dtype.itemsize)


def memory_type(dtype: np.dtype) -> ir.Type:
    """The LLVM type of ``dtype`` in memory (bool is a byte)."""
    return I8 if dtype.kind == "b" else value_type(dtype)


def from_memory(b: ir.IRBuilder, v: ir.Value, dtype: np.dtype) -> ir.Value:
    # any non-zero byte is True, as NumPy reads bools
    return b.icmp_unsigned("!=", v, I8(0)) if dtype.kind == "b" else v


def to_memory(b: ir.IRBuilder, v: ir.Value, dtype: np.dtype) -> ir.Value:
    return b.zext(v, I8) if dtype.kind == "b" else v


# -- elements of array parameters ------------------------------------------------------------
def stored_type(prm: ArrayParam) -> ir.Type:
    """The LLVM type an element of ``prm`` is loaded and stored as: its memory type, or for
    a byte-swapped array the integer of its size (``llvm.bswap`` takes integers only)."""
    return ir.IntType(8 * prm.dtype.itemsize) if prm.swapped else memory_type(prm.dtype)


def alignment(prm: ArrayParam) -> int | None:
    """The alignment to promise LLVM: the type's own (None) unless the array is unaligned."""
    return None if prm.aligned else 1


def from_stored(b: ir.IRBuilder, raw: ir.Value, prm: ArrayParam) -> ir.Value:
    """The value of an element whose bits, as loaded (``stored_type``), are ``raw``."""
    if prm.swapped:
        raw = b.bswap(raw)
        if raw.type != memory_type(prm.dtype):
            raw = b.bitcast(raw, memory_type(prm.dtype))
    return from_memory(b, raw, prm.dtype)


def to_stored(b: ir.IRBuilder, v: ir.Value, prm: ArrayParam) -> ir.Value:
    """``v`` as the bits to store (``stored_type``) in an element of ``prm``."""
    v = to_memory(b, v, prm.dtype)
    if not prm.swapped:
        return v
    bits = stored_type(prm)
    return b.bswap(v if v.type == bits else b.bitcast(v, bits))


def load_param(b: ir.IRBuilder, ptr: ir.Value, prm: ArrayParam) -> ir.Value:
    """The element of ``prm`` at ``ptr``, as a value of its dtype."""
    return from_stored(b, b.load(ptr, typ=stored_type(prm), align=alignment(prm)), prm)


def store_param(b: ir.IRBuilder, v: ir.Value, ptr: ir.Value, prm: ArrayParam) -> None:
    """Store value ``v`` in the element of ``prm`` at ``ptr``."""
    b.store(to_stored(b, v, prm), ptr, align=alignment(prm))


class Ctx:
    """What an emitter needs: the builder, the module (for declarations) and the target."""

    def __init__(self, builder: ir.IRBuilder, target: str, status: ir.Value | None) -> None:
        self.b = builder
        self.module: ir.Module = builder.module
        self.target = target
        self.status = status

    def intrinsic(self, name: str, ty: ir.Type, nargs: int = 1) -> ir.Function:
        full = f"{name}.{'f32' if ty == F32 else 'f64'}"
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * nargs), full)
        return fn

    def call(self, name: str, ty: ir.Type, *args: ir.Value) -> ir.Value:
        return self.b.call(self.intrinsic(f"llvm.{name}", ty, len(args)), list(args))

    def libm(self, name: str, ty: ir.Type, *args: ir.Value) -> ir.Value:
        """Call C's ``name`` (``namef`` for float32)."""
        full = name + ("f" if ty == F32 else "")
        fn = self.module.globals.get(full)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ty, [ty] * len(args)), full)
        return self.b.call(fn, list(args))

    def fail_if(self, cond: ir.Value) -> None:
        """Record a run-time error (raised in Python after the kernel returns)."""
        with self.b.if_then(cond, likely=False):
            self.b.store(I32(1), self.status)


Emitter = Callable[[Ctx, np.dtype, Sequence[ir.Value]], ir.Value]
EMITTERS: dict[Op, Emitter] = {}


def emitter(*ops: Op) -> Callable[[Emitter], Emitter]:
    def register(fn: Emitter) -> Emitter:
        for op in ops:
            EMITTERS[op] = fn
        return fn

    return register


def const(dt: np.dtype, value: float | int | bool) -> ir.Constant:
    return ir.Constant(value_type(dt), value)


def sel(b: ir.IRBuilder, cond: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(cond, x, y)


def _f(dt: np.dtype) -> bool:
    return dt.kind == "f"


def _is_nan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def _cmp(c: Ctx, dt: np.dtype, pred: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """Ordered compare for floats, signed or unsigned compare for integers."""
    if _f(dt):
        return c.b.fcmp_ordered(pred, x, y)
    if dt.kind == "i":
        return c.b.icmp_signed(pred, x, y)
    return c.b.icmp_unsigned(pred, x, y)


# -- arithmetic --------------------------------------------------------------------------
@emitter(Op.ADD)
def _add(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if dt.kind == "b":
        return c.b.or_(*a)
    return c.b.fadd(*a) if _f(dt) else c.b.add(*a)


@emitter(Op.SUBTRACT)
def _sub(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return c.b.fsub(*a) if _f(dt) else c.b.sub(*a)


@emitter(Op.MULTIPLY)
def _mul(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if dt.kind == "b":
        return c.b.and_(*a)
    return c.b.fmul(*a) if _f(dt) else c.b.mul(*a)


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
    return (_float_divmod if _f(dt) else _int_divmod)(c, dt, *a)[0]


@emitter(Op.REMAINDER)
def _remainder(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return (_float_divmod if _f(dt) else _int_divmod)(c, dt, *a)[1]


@emitter(Op.POWER)
def _power(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if _f(dt):
        return c.call("pow", a[0].type, *a)
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
    return c.b.fneg(a[0]) if _f(dt) else c.b.sub(const(dt, 0), a[0])


@emitter(Op.POSITIVE)
def _positive(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return a[0]


@emitter(Op.ABSOLUTE)
def _absolute(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if _f(dt):
        return c.call("fabs", a[0].type, a[0])
    if dt.kind != "i":
        return a[0]
    neg = c.b.icmp_signed("<", a[0], const(dt, 0))
    return sel(c.b, neg, c.b.sub(const(dt, 0), a[0]), a[0])


@emitter(Op.RECIPROCAL)
def _reciprocal(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if _f(dt):
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
        if _f(dt) and pred == "!=":
            return c.b.fcmp_unordered("!=", *a)  # NaN != x is True
        return _cmp(c, dt, pred, *a)

    return emit


_PREDICATES = {
    Op.LESS: "<", Op.LESS_EQUAL: "<=", Op.GREATER: ">", Op.GREATER_EQUAL: ">=",
    Op.EQUAL: "==", Op.NOT_EQUAL: "!=",
}
for _op, _pred in _PREDICATES.items():
    EMITTERS[_op] = _comparison(_pred)


def mixed_sign_compare(c: Ctx, op: Op, dts: Sequence[np.dtype], a: Sequence[ir.Value]
                       ) -> ir.Value:
    """NumPy 2 compares int64 with uint64 exactly (its loops take one of each).

    A negative signed operand is below every unsigned value; otherwise both are non-negative
    and an unsigned compare of the (equally wide) bits is exact.
    """
    pred = _PREDICATES[op]
    signed_first = dts[0].kind == "i"
    neg = c.b.icmp_signed("<", a[0] if signed_first else a[1], ir.Constant(a[0].type, 0))
    # with the signed operand negative, "x < y" holds when x is the signed one
    below = {"<": True, "<=": True, ">": False, ">=": False, "==": False, "!=": True}
    above = {"<": False, "<=": False, ">": True, ">=": True, "==": False, "!=": True}
    known = (below if signed_first else above)[pred]
    return sel(c.b, neg, ir.Constant(I1, known), c.b.icmp_unsigned(pred, *a))


def truthy(c: Ctx, dt: np.dtype, x: ir.Value) -> ir.Value:
    if dt.kind == "b":
        return x
    if _f(dt):
        return c.b.fcmp_unordered("!=", x, const(dt, 0.0))  # NaN is truthy
    return c.b.icmp_unsigned("!=", x, const(dt, 0))


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
    pick = sel(c.b, _cmp(c, dt, ">", x, y), x, y)
    return sel(c.b, _is_nan(c.b, x), x, pick) if _f(dt) else pick


def _minimum(c: Ctx, dt: np.dtype, x: ir.Value, y: ir.Value) -> ir.Value:
    if dt.kind == "b":
        return c.b.and_(x, y)
    pick = sel(c.b, _cmp(c, dt, "<", x, y), x, y)
    return sel(c.b, _is_nan(c.b, x), x, pick) if _f(dt) else pick


@emitter(Op.MAXIMUM)
def _max(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _maximum(c, dt, *a)


@emitter(Op.MINIMUM)
def _min(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _minimum(c, dt, *a)


@emitter(Op.FMAX)
def _fmax(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not _f(dt):
        return _maximum(c, dt, *a)
    x, y = a
    keep = c.b.or_(c.b.fcmp_ordered(">=", x, y), _is_nan(c.b, y))
    return sel(c.b, keep, x, y)


@emitter(Op.FMIN)
def _fmin(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not _f(dt):
        return _minimum(c, dt, *a)
    x, y = a
    keep = c.b.or_(c.b.fcmp_ordered("<=", x, y), _is_nan(c.b, y))
    return sel(c.b, keep, x, y)


@emitter(Op.CLIP)
def _clip(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    return _minimum(c, dt, _maximum(c, dt, a[0], a[1]), a[2])


# -- floating point ----------------------------------------------------------------------
def _intrinsic(name: str) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        return c.call(name, a[0].type, *a)

    return emit


def _libm(name: str) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        return c.libm(name, a[0].type, *a)

    return emit


def _rounding(name: str) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        return c.call(name, a[0].type, a[0]) if _f(dt) else a[0]

    return emit


for _op, _name in {
    Op.EXP: "exp", Op.EXP2: "exp2", Op.LOG: "log", Op.LOG2: "log2", Op.LOG10: "log10",
    Op.SQRT: "sqrt", Op.COPYSIGN: "copysign", Op.SIN: "sin", Op.COS: "cos",
}.items():
    EMITTERS[_op] = _intrinsic(_name)

for _op, _name in {
    Op.EXPM1: "expm1", Op.LOG1P: "log1p", Op.CBRT: "cbrt", Op.TAN: "tan",
    Op.ARCSIN: "asin", Op.ARCCOS: "acos", Op.ARCTAN: "atan", Op.ARCTAN2: "atan2",
    Op.SINH: "sinh", Op.COSH: "cosh", Op.TANH: "tanh", Op.ARCSINH: "asinh",
    Op.ARCCOSH: "acosh", Op.ARCTANH: "atanh", Op.HYPOT: "hypot",
}.items():
    EMITTERS[_op] = _libm(_name)

for _op, _name in {
    Op.FLOOR: "floor", Op.CEIL: "ceil", Op.TRUNC: "trunc", Op.RINT: "rint",
}.items():
    EMITTERS[_op] = _rounding(_name)

# -- vectorisable math (codegen/mathlib.py) -----------------------------------------------
# LLVM does not vectorise libm calls, so on the CPU these float ops call lazyarr's own
# branch-free functions instead, compiled once per process as scalar and vector functions
# (mathlib.support_module; the loop vectoriser picks the vector ones). Set False to get the
# libm / LLVM-intrinsic path back (tests compare the two; clear the CPU backend's kernel
# cache after changing it).
USE_MATHLIB = True
MATHLIB_OPS = {
    Op.EXP: "exp", Op.EXPM1: "expm1", Op.LOG: "log", Op.LOG1P: "log1p", Op.SIN: "sin",
    Op.COS: "cos", Op.TAN: "tan", Op.TANH: "tanh", Op.SINH: "sinh", Op.COSH: "cosh",
    Op.ARCTAN: "arctan", Op.POWER: "pow",
    Op.ARCSIN: "arcsin", Op.ARCCOS: "arccos", Op.ARCTAN2: "arctan2", Op.ARCSINH: "arcsinh",
    Op.ARCCOSH: "arccosh", Op.ARCTANH: "arctanh",  # codegen/mathlib_inverse.py
    Op.EXP2: "exp2", Op.LOG2: "log2", Op.LOG10: "log10", Op.CBRT: "cbrt", Op.HYPOT: "hypot",
}


def _with_mathlib(name: str, old: Emitter) -> Emitter:
    def emit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
        if USE_MATHLIB and c.target == "cpu" and _f(dt):
            return mathlib.call_support(c.b, name, a)
        return old(c, dt, a)

    return emit


for _op, _name in MATHLIB_OPS.items():
    EMITTERS[_op] = _with_mathlib(_name, EMITTERS[_op])


# -- ops whose code depends on a constant argument ------------------------------------------
# The instruction's ``arg`` (loopir.Instr) is part of the kernel's structure, unlike scalars,
# which are run-time arguments: these emitters receive it as a fourth argument.
ArgEmitter = Callable[[Ctx, np.dtype, Sequence[ir.Value], Any], ir.Value]
ARG_EMITTERS: dict[Op, ArgEmitter] = {}


def _power_int(c: Ctx, dt: np.dtype, a: Sequence[ir.Value], n: int) -> ir.Value:
    """``x ** n``, unrolled for the constant integer ``n`` (no libm: every target)."""
    return mathlib.int_power(mathlib.Em(c.b, mathlib.format_of(a[0].type)), a[0], n)


ARG_EMITTERS[Op.POWER_INT] = _power_int


def has_emitter(op: Op) -> bool:
    """Whether the scalar body can emit ``op`` (sources and casts aside)."""
    return op in EMITTERS or op in ARG_EMITTERS


@emitter(Op.LOGADDEXP)
def _logaddexp(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    """NumPy's ``npy_logaddexp``: exact for equal arguments (infinities too), NaN passes."""
    b = c.b
    x, y = a
    t = b.fsub(x, y)
    e = b.fneg(c.call("fabs", x.type, t))
    if USE_MATHLIB and c.target == "cpu":  # mathlib's exp and log1p, so the loop vectorises
        tail = mathlib.call_support(b, "log1p", [mathlib.call_support(b, "exp", [e])])
    else:  # NVPTX redirects these calls to mathlib's inlined functions (nvptx.use_mathlib)
        tail = c.libm("log1p", x.type, c.call("exp", x.type, e))
    r = sel(b, b.fcmp_ordered(">", t, const(dt, 0.0)), b.fadd(x, tail),
            sel(b, b.fcmp_ordered("<=", t, const(dt, 0.0)), b.fadd(y, tail), t))
    return sel(b, b.fcmp_ordered("==", x, y), b.fadd(x, const(dt, math.log(2.0))), r)


@emitter(Op.SIGN)
def _sign(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    b, x = c.b, a[0]
    if _f(dt):
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
    return _is_nan(c.b, a[0]) if _f(dt) else ir.Constant(I1, 0)


@emitter(Op.ISINF)
def _isinf(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not _f(dt):
        return ir.Constant(I1, 0)
    return c.b.fcmp_ordered("==", c.call("fabs", a[0].type, a[0]), const(dt, math.inf))


@emitter(Op.ISFINITE)
def _isfinite(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not _f(dt):
        return ir.Constant(I1, 1)
    return c.b.fcmp_ordered("<", c.call("fabs", a[0].type, a[0]), const(dt, math.inf))


@emitter(Op.SIGNBIT)
def _signbit(c: Ctx, dt: np.dtype, a: Sequence[ir.Value]) -> ir.Value:
    if not _f(dt):
        return c.b.icmp_signed("<", a[0], const(dt, 0)) if dt.kind == "i" else ir.Constant(I1, 0)
    bits = c.b.bitcast(a[0], ir.IntType(8 * dt.itemsize))
    return c.b.icmp_signed("<", bits, ir.Constant(bits.type, 0))


# -- casts -------------------------------------------------------------------------------
def cast(c: Ctx, x: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """Convert like NumPy's astype; float to int saturates and maps NaN to 0."""
    b = c.b
    if src == dst:
        return x
    to = value_type(dst)
    if dst.kind == "b":
        return truthy(c, src, x)
    if src.kind == "b":
        return b.uitofp(x, to) if _f(dst) else b.zext(x, to)
    if _f(src) and _f(dst):
        return b.fpext(x, to) if dst.itemsize > src.itemsize else b.fptrunc(x, to)
    if _f(dst):
        return b.sitofp(x, to) if src.kind == "i" else b.uitofp(x, to)
    if _f(src):
        kind = "fptosi" if dst.kind == "i" else "fptoui"
        name = f"llvm.{kind}.sat.i{8 * dst.itemsize}.{'f32' if x.type == F32 else 'f64'}"
        fn = c.module.globals.get(name) or ir.Function(c.module, ir.FunctionType(to, [x.type]),
                                                       name)
        return b.call(fn, [x])
    if dst.itemsize < src.itemsize:
        return b.trunc(x, to)
    if dst.itemsize > src.itemsize:
        return b.sext(x, to) if src.kind == "i" else b.zext(x, to)
    return x  # same width, other signedness: the same bits


_SINCOS = {Op.SIN: (Op.COS, 0), Op.COS: (Op.SIN, 1)}  # the other one, and our result


def _sincos(c: Ctx, kernel: Kernel, n: int, arg: ir.Value) -> ir.Value | None:
    """sin or cos through one sincos call when the kernel needs both of the same value
    (the twin emits the same call, which LLVM merges with this one), else None."""
    ins = kernel.body[n]
    other, which = _SINCOS[ins.op]
    if not (USE_MATHLIB and c.target == "cpu" and _f(ins.dtype)):
        return None
    if not any(i.op is other and i.args == ins.args for i in kernel.body):
        return None
    return c.b.extract_value(mathlib.call_support(c.b, "sincos", [arg]), which)


def emit_instr(c: Ctx, kernel: Kernel, n: int, vals: Mapping[int, ir.Value],
               load: Callable[[int], ir.Value], scalars: Sequence[ir.Value]) -> ir.Value:
    """Emit body instruction ``n`` (not a REDUCE) given the values of its arguments."""
    ins = kernel.body[n]
    if ins.op in _SINCOS:
        pair = _sincos(c, kernel, n, vals[ins.args[0]])
        if pair is not None:
            return pair
    if ins.op is Op.LEAF:
        return load(ins.arg)
    if ins.op is Op.SCALAR:
        return scalars[ins.arg]
    if ins.op is Op.CAST:
        return cast(c, vals[ins.args[0]], kernel.body[ins.args[0]].dtype, ins.dtype)
    dts = [kernel.body[a].dtype for a in ins.args]
    args = [vals[a] for a in ins.args]
    if ins.op in _PREDICATES and {dts[0].kind, dts[-1].kind} == {"i", "u"}:
        return mixed_sign_compare(c, ins.op, dts, args)
    with_arg = ARG_EMITTERS.get(ins.op)
    if with_arg is not None:
        return with_arg(c, dts[-1], args, ins.arg)
    return EMITTERS[ins.op](c, dts[-1], args)


def emit_body(builder: ir.IRBuilder, kernel: Kernel, target: str,
              load: Callable[[int], ir.Value], scalars: Sequence[ir.Value],
              status: ir.Value | None = None) -> list[ir.Value]:
    """Emit the whole body (a kernel without rows) at the builder's position."""
    c = Ctx(builder, target, status)
    vals: dict[int, ir.Value] = {}
    for n in range(len(kernel.body)):
        vals[n] = emit_instr(c, kernel, n, vals, load, scalars)
    return [vals[v] for v, _ in kernel.outputs]
