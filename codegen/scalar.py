"""The scalar body of a kernel: "the value at one index", shared by every target.

A loop wrapper (``cpu.py`` or ``nvptx.py``) positions an IRBuilder inside its loop and hands
this module a way to load each input at the current index; :func:`emit_body` returns the
output values. Each op is one small emitter in ``EMITTERS``, registered with ``@emitter``:
integer and logic ops in ``scalar_arith.py``, float functions in ``scalar_float.py`` (the
math routines each op calls come from its row in ``lazyarr/ir/ops.py``). Where LLVM's
instruction has undefined behaviour that NumPy defines (division by zero, ``INT_MIN // -1``,
over-wide shifts, float to int of NaN), the emitter guards it with selects, so the result is
NumPy's and the code stays branch-free and vectorisable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir

from lazyarr.ir import ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import ArrayParam, Kernel

from . import half, mathlib

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
F16 = ir.HalfType()
F32 = ir.FloatType()
F64 = ir.DoubleType()


def value_type(dtype: np.dtype) -> ir.Type:
    """The LLVM type a value of ``dtype`` has while computing (bool is i1)."""
    if dtype.kind == "b":
        return I1
    if dtype.kind == "f":
        return {2: F16, 4: F32}.get(dtype.itemsize, F64)
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
    if prm.counter:  # an element index, whose pretend address is 8 times itself
        return b.lshr(b.ptrtoint(ptr, I64), I64(3))
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


def emitter(*which: Op) -> Callable[[Emitter], Emitter]:
    def register(fn: Emitter) -> Emitter:
        for op in which:
            EMITTERS[op] = fn
        return fn

    return register


def const(dt: np.dtype, value: float | int | bool) -> ir.Constant:
    return ir.Constant(value_type(dt), value)


def sel(b: ir.IRBuilder, cond: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
    return b.select(cond, x, y)


def is_float(dt: np.dtype) -> bool:
    return dt.kind == "f"


def is_nan(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return b.fcmp_unordered("uno", x, x)


def compare(c: Ctx, dt: np.dtype, pred: str, x: ir.Value, y: ir.Value) -> ir.Value:
    """Ordered compare for floats, signed or unsigned compare for integers."""
    if is_float(dt):
        return c.b.fcmp_ordered(pred, x, y)
    if dt.kind == "i":
        return c.b.icmp_signed(pred, x, y)
    return c.b.icmp_unsigned(pred, x, y)


def truthy(c: Ctx, dt: np.dtype, x: ir.Value) -> ir.Value:
    if dt.kind == "b":
        return x
    if is_float(dt):
        return c.b.fcmp_unordered("!=", x, const(dt, 0.0))  # NaN is truthy
    return c.b.icmp_unsigned("!=", x, const(dt, 0))


PREDICATES = {
    Op.LESS: "<", Op.LESS_EQUAL: "<=", Op.GREATER: ">", Op.GREATER_EQUAL: ">=",
    Op.EQUAL: "==", Op.NOT_EQUAL: "!=",
}


def mixed_sign_compare(c: Ctx, op: Op, dts: Sequence[np.dtype], a: Sequence[ir.Value]
                       ) -> ir.Value:
    """NumPy 2 compares int64 with uint64 exactly (its loops take one of each).

    A negative signed operand is below every unsigned value; otherwise both are non-negative
    and an unsigned compare of the (equally wide) bits is exact.
    """
    pred = PREDICATES[op]
    signed_first = dts[0].kind == "i"
    neg = c.b.icmp_signed("<", a[0] if signed_first else a[1], ir.Constant(a[0].type, 0))
    # with the signed operand negative, "x < y" holds when x is the signed one
    below = {"<": True, "<=": True, ">": False, ">=": False, "==": False, "!=": True}
    above = {"<": False, "<=": False, ">": True, ">=": True, "==": False, "!=": True}
    known = (below if signed_first else above)[pred]
    return sel(c.b, neg, ir.Constant(I1, known), c.b.icmp_unsigned(pred, *a))


# -- math routines (from the op rows) -----------------------------------------------------------
# LLVM does not vectorise libm calls, so on the CPU float ops call lazyarr's own branch-free
# functions (codegen/mathlib.py) where it has them, compiled once per process as scalar and
# vector functions (mathlib.support_module; the loop vectoriser picks the vector ones). Set
# False to get the libm / LLVM-intrinsic path back (tests compare the two; clear the CPU
# backend's kernel cache after changing it). On NVPTX the libm call is emitted and
# nvptx.use_mathlib points it at mathlib's inlined function.
USE_MATHLIB = True
# op -> its mathlib function, for the ops whose row names one that mathlib has
MATHLIB_OPS = {op: row.math.mathlib for op, row in ops.ROWS.items()
               if row.math is not None and row.math.mathlib in mathlib.FUNCTIONS}


def math_call(c: Ctx, routine: ops.MathCall, args: Sequence[ir.Value]) -> ir.Value:
    """Call a row's math routine on float operands: mathlib's on the CPU where it has one,
    else the C routine the way the row says (a call, an LLVM intrinsic, ``frem``)."""
    if USE_MATHLIB and c.target == "cpu" and routine.mathlib in mathlib.FUNCTIONS:
        return mathlib.call_support(c.b, routine.mathlib, args)
    if routine.form is ops.Form.FREM:
        return c.b.frem(*args)
    if routine.form is ops.Form.INTRINSIC:
        return c.call(routine.libm, args[0].type, *args)
    return c.libm(routine.libm, args[0].type, *args)


def row_math(op: Op) -> ops.MathCall:
    """The math routine of ``op``'s row (rows that name one)."""
    routine = ops.ROWS[op].math
    assert routine is not None, op
    return routine


# -- ops whose code depends on a constant argument ------------------------------------------
# The instruction's ``arg`` (loop.Instr) is part of the kernel's structure, unlike scalars,
# which are run-time arguments: these emitters receive it as a fourth argument.
ArgEmitter = Callable[[Ctx, np.dtype, Sequence[ir.Value], Any], ir.Value]
ARG_EMITTERS: dict[Op, ArgEmitter] = {}


def has_emitter(op: Op) -> bool:
    """Whether the scalar body can emit ``op`` (sources and casts aside)."""
    return op in EMITTERS or op in ARG_EMITTERS


# -- casts -------------------------------------------------------------------------------
def cast(c: Ctx, x: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """Convert like NumPy's astype; float to int saturates and maps NaN to 0."""
    b = c.b
    if src == dst:
        return x
    if half.is_bfloat16(dst):
        return half.to_bfloat(b, x, src)
    if half.is_bfloat16(src):  # every bfloat16 is exactly a float32: convert from that
        x, done = half.bfloat_to(b, x, dst)
        if done:
            return x
        src = half.F32_DTYPE
        if dst == src:
            return x
    if half.is_half(dst):
        return half.to_half(b, x, src)
    if half.is_half(src):  # every half is exactly a float32: convert from that
        x, src = b.fpext(x, F32), half.F32_DTYPE
        if dst == src:
            return x
    to = value_type(dst)
    if dst.kind == "b":
        return truthy(c, src, x)
    if src.kind == "b":
        return b.uitofp(x, to) if is_float(dst) else b.zext(x, to)
    if is_float(src) and is_float(dst):
        return b.fpext(x, to) if dst.itemsize > src.itemsize else b.fptrunc(x, to)
    if is_float(dst):
        return b.sitofp(x, to) if src.kind == "i" else b.uitofp(x, to)
    if is_float(src):
        return _float_to_int(c, x, dst)
    if dst.itemsize < src.itemsize:
        return b.trunc(x, to)
    if dst.itemsize > src.itemsize:
        return b.sext(x, to) if src.kind == "i" else b.zext(x, to)
    return x  # same width, other signedness: the same bits


def _float_to_int(c: Ctx, x: ir.Value, dst: np.dtype) -> ir.Value:
    """Truncate to ``dst``, saturating at its bounds, NaN to 0 (``llvm.fpto*i.sat``'s
    result). Written as compares and selects around a plain conversion of an in-range value:
    LLVM scalarises the saturating intrinsic on x86 (one conversion per element, measured 5-10x
    slower than a vector conversion at 10^7 float32), while this vectorises."""
    b = c.b
    bits = 8 * dst.itemsize
    lo = -(2 ** (bits - 1)) if dst.kind == "i" else 0
    top = 2 ** (bits - 1) if dst.kind == "i" else 2 ** bits  # the first value past the range
    # both bounds are powers of two (or 0): exact in either float type
    low, past = ir.Constant(x.type, float(lo)), ir.Constant(x.type, float(top))
    below, above = b.fcmp_ordered("<", x, low), b.fcmp_ordered(">=", x, past)
    inside = b.and_(b.fcmp_ordered(">=", x, low), b.fcmp_ordered("<", x, past))
    safe = b.select(inside, x, ir.Constant(x.type, 0.0))  # NaN and the rest: 0, then replaced
    # convert at 32 bits at least (the vector instructions' width), then narrow
    wide = ir.IntType(max(bits, 32))
    conv = b.fptosi(safe, wide) if dst.kind == "i" else b.fptoui(safe, wide)
    if wide.width != bits:
        conv = b.trunc(conv, value_type(dst))
    to = value_type(dst)
    return b.select(below, ir.Constant(to, lo), b.select(above, ir.Constant(to, top - 1), conv))


_SINCOS = {Op.SIN: (Op.COS, 0), Op.COS: (Op.SIN, 1)}  # the other one, and our result
# LLVM 20 (llvmlite 0.47 and older) does not vectorise calls that return a struct, so a
# sincos call would leave the loop scalar there: sin and cos then keep calls of their own
# (measured: llvmlite 0.47 scalar, 0.48 with LLVM 22 vectorised)
SINCOS_VECTORISES = llvm.llvm_version_info >= (22,)


def _sincos(c: Ctx, kernel: Kernel, n: int, arg: ir.Value) -> ir.Value | None:
    """sin or cos through one sincos call when the kernel needs both of the same value
    (the twin emits the same call, which LLVM merges with this one), else None."""
    ins = kernel.body[n]
    other, which = _SINCOS[ins.op]
    if not (USE_MATHLIB and SINCOS_VECTORISES and c.target == "cpu" and is_float(ins.dtype)):
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
    if ins.op is not Op.WHERE and any(map(half.is_narrow, (*dts, ins.dtype))):
        # the front end builds float16 and bfloat16 operations in float32 (front/build.py)
        raise NotImplementedError(f"{ins.op.value} computes in {ins.dtype}, which lazyarr's "
                                  "kernels do not: float16 and bfloat16 values are only "
                                  "converted")
    if ins.op in PREDICATES and {dts[0].kind, dts[-1].kind} == {"i", "u"}:
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


# the emitters register themselves in EMITTERS / ARG_EMITTERS (imported last: they use the
# helpers above)
from . import scalar_arith, scalar_float, scalar_random  # noqa: E402, F401
