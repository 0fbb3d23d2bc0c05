"""float16 values in generated code: loaded and stored as LLVM ``half``, converted, never
computed on.

The front end builds every operation on float16 as the float32 operation between conversions
(``lazyarr/front/build.py``), as NumPy's float16 loops compute, so kernels only convert
halves: ``fpext`` to float32 (exact) and ``fptrunc`` from float32 (round to nearest even),
which x86's F16C (``vcvtph2ps``/``vcvtps2ph``), AArch64 and PTX (``cvt.f32.f16``,
``cvt.rn.f16.f32``) do in one vectorisable instruction. A scan of float16 (NumPy's cumulative
sum rounds each partial sum to float16) adds in float32 and rounds the same way.

Other sources go through float32 as NumPy's casts do: integers and bools convert to float32
first (exact for every integer below 65520; larger ones round to float32 values that are
infinite as halves either way). A float64 is rounded to float32 with round-to-odd and then
to the half: rounding twice to nearest could be wrong where the first rounding lands on a
tie, but a first rounding to odd with at least two more bits than the half keeps the
second one correct (Boldo and Melquiond, 2008), so the result is NumPy's direct double to
half conversion. (LLVM's own ``fptrunc double to half`` calls ``__truncdfhf2`` on x86, a
runtime function the JIT cannot count on, and it does not vectorise.)
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir

from lazyarr.ir.dtypes import is_bfloat16

F16 = ir.HalfType()
F32 = ir.FloatType()
I32 = ir.IntType(32)
I16 = ir.IntType(16)
F64 = ir.DoubleType()
F16_DTYPE = np.dtype(np.float16)
F32_DTYPE = np.dtype(np.float32)


def is_half(dtype: np.dtype) -> bool:
    return dtype.kind == "f" and dtype.itemsize == 2


def to_half(b: ir.IRBuilder, x: ir.Value, src: np.dtype) -> ir.Value:
    """``x`` (a value of ``src``) rounded to float16 as NumPy's ``astype`` rounds it."""
    if src.kind == "b":
        x = b.uitofp(x, F32)
    elif src.kind == "i":
        x = b.sitofp(x, F32)
    elif src.kind == "u":
        x = b.uitofp(x, F32)
    elif src.itemsize == 8:
        x = round_to_odd_float(b, x)
    elif is_half(src):
        return x
    return b.fptrunc(x, F16)


def to_float(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """The half ``x`` as a float32 (exact)."""
    return b.fpext(x, F32)


def round_to_odd_float(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """The double ``x`` rounded to float32 with round-to-odd: truncated toward zero, and the
    last bit set when that was inexact. NaN stays NaN; a double beyond float32's range is
    the largest finite float32 (odd, so it still rounds to an infinite half)."""
    near = b.fptrunc(x, F32)  # to nearest: one above |x| or at most |x|
    back = b.fpext(near, x.type)
    inexact = b.fcmp_unordered("une", back, x)  # NaN too: its payload only gains a bit
    # |near| > |x| with the same sign (or near == +-inf): the float below in magnitude is
    # the truncation, and sign-magnitude bits step down in magnitude by one
    sign_x = b.fcmp_ordered("olt", x, ir.Constant(x.type, 0.0))
    above = b.select(sign_x, b.fcmp_ordered("olt", back, x), b.fcmp_ordered("ogt", back, x))
    bits = b.bitcast(near, I32)
    bits = b.sub(bits, b.zext(above, I32))
    bits = b.or_(bits, b.zext(inexact, I32))
    return b.bitcast(bits, F32)


# -- the runtime functions LLVM calls where the CPU has no half conversions ---------------------
# On an x86 CPU without F16C (before 2012; LAZYARR_CPU=sandybridge), LLVM lowers ``fpext`` and
# ``fptrunc`` of halves to calls of compiler-rt's ``__extendhfsf2`` and ``__truncsfhf2``, which
# the JIT's process need not have (an unresolved call would end it). The CPU backend links
# these definitions into its engine before the first kernel that uses float16
# (backends/cpu.py), written with integer operations only, so that they call nothing.
RUNTIME_SYMBOLS = ("__extendhfsf2", "__truncsfhf2", "__truncdfhf2")


def runtime_module(triple: str = "", layout: str = "") -> ir.Module:
    """A module defining :data:`RUNTIME_SYMBOLS` (NumPy's conversions, NaN payloads kept)."""
    module = ir.Module(name="lazyarr_half_runtime")
    module.triple, module.data_layout = triple, layout
    for name, arg, ret, body in (("__extendhfsf2", F16, F32, _extend_bits),
                                 ("__truncsfhf2", F32, F16, _truncate_float),
                                 ("__truncdfhf2", F64, F16, _truncate_double)):
        fn = ir.Function(module, ir.FunctionType(ret, [arg]), name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        b.ret(body(b, fn.args[0]))
    return module


def _c(value: int) -> ir.Constant:
    return ir.Constant(I32, value)


def _extend_bits(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Half to float: the exponent and significand moved into place and scaled by 2**112
    (exact, subnormal halves included); infinities and NaNs keep their significand bits."""
    h = b.zext(b.bitcast(x, I16), I32)
    sign = b.shl(b.and_(h, _c(0x8000)), _c(16))
    body = b.and_(h, _c(0x7FFF))
    moved = b.shl(body, _c(13))
    scaled = b.bitcast(b.fmul(b.bitcast(moved, F32), ir.Constant(F32, 2.0 ** 112)), I32)
    special = b.or_(moved, _c(0x7F800000))
    bits = b.select(b.icmp_unsigned(">=", body, _c(0x7C00)), special, scaled)
    return b.bitcast(b.or_(bits, sign), F32)


def _truncate_float(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """Float to half, to nearest even (F. Giesen's branch-free form): subnormal results by
    a float addition that rounds them, normal ones by integer rounding of the significand;
    NaN as NumPy makes it (the top significand bits, 1 when those are 0)."""
    f = b.bitcast(x, I32)
    sign = b.lshr(b.and_(f, _c(0x80000000)), _c(16))
    mag = b.and_(f, _c(0x7FFFFFFF))
    nan_sig = b.lshr(b.and_(mag, _c(0x7FFFFF)), _c(13))
    nan = b.or_(_c(0x7C00), b.select(b.icmp_unsigned("==", nan_sig, _c(0)), _c(1), nan_sig))
    big = b.select(b.icmp_unsigned(">", mag, _c(0x7F800000)), nan, _c(0x7C00))
    magic = _c(126 << 23)  # 0.5: adding it rounds a float below 2**-14 to a multiple of 2**-24
    tiny = b.sub(b.bitcast(b.fadd(b.bitcast(mag, F32), b.bitcast(magic, F32)), I32), magic)
    odd = b.and_(b.lshr(mag, _c(13)), _c(1))
    normal = b.lshr(b.add(b.add(mag, _c(((15 - 127) << 23) + 0xFFF)), odd), _c(13))
    bits = b.select(b.icmp_unsigned(">=", mag, _c((127 + 16) << 23)), big,
                    b.select(b.icmp_unsigned("<", mag, _c(113 << 23)), tiny, normal))
    return b.bitcast(b.trunc(b.or_(bits, sign), I16), F16)


def _truncate_double(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    return _truncate_float(b, round_to_odd_float(b, x))


# -- bfloat16 (ml_dtypes): stored as i16, the top half of a float32 --------------------------
# LLVM's ``bfloat`` type would do, but its conversions lower to library calls on CPUs without
# AVX512-BF16, and PTX has no ``cvt`` from double or the integers to it: integer operations
# on the bits are exact, branch-free and vectorise everywhere.
I64 = ir.IntType(64)


def is_narrow(dtype: np.dtype) -> bool:
    """float16 or bfloat16: values kernels only load, store, convert and select."""
    return is_half(dtype) or is_bfloat16(dtype)


def bfloat_to_float(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """The bfloat16 bits ``x`` (i16) as a float32: the bits moved to the top (exact; NaN
    payloads kept, as ml_dtypes widens)."""
    return b.bitcast(b.shl(b.zext(x, I32), _c(16)), F32)


def float_to_bfloat(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
    """The float32 ``x`` rounded to bfloat16 bits (i16) to nearest even, as ml_dtypes rounds:
    an integer add of just under half the dropped part plus the kept part's last bit carries
    into the kept part exactly when the dropped part is above half, or half with an odd
    kept part; overflow carries into the exponent and gives infinity, subnormals round the
    same way. NaN is ml_dtypes' quiet NaN of the same sign (``0x7fc0``), payload dropped."""
    bits = b.bitcast(x, I32)
    odd = b.and_(b.lshr(bits, _c(16)), _c(1))
    rounded = b.lshr(b.add(bits, b.add(odd, _c(0x7FFF))), _c(16))
    nan = b.or_(b.and_(b.lshr(bits, _c(16)), _c(0x8000)), _c(0x7FC0))
    out = b.select(b.fcmp_unordered("uno", x, x), nan, rounded)
    return b.trunc(out, I16)


def to_bfloat(b: ir.IRBuilder, x: ir.Value, src: np.dtype) -> ir.Value:
    """``x`` (a value of ``src``) rounded to bfloat16 as ml_dtypes' ``astype`` rounds it: once,
    from the exact value. A float32 on the way must then hold it exactly or rounded to odd
    (with 24 bits, more than two beyond bfloat16's 8, a second rounding to nearest is then
    correct: Boldo and Melquiond)."""
    if is_bfloat16(src):
        return x
    if src.kind == "b":
        x = b.uitofp(x, F32)
    elif src.kind in "iu":
        x = _int_to_odd_float(b, x, src)
    elif is_half(src):
        x = b.fpext(x, F32)
    elif src.itemsize == 8:
        x = round_to_odd_float(b, x)
    return float_to_bfloat(b, x)


def _int_to_odd_float(b: ir.IRBuilder, x: ir.Value, src: np.dtype) -> ir.Value:
    """The integer ``x`` as a float32 rounded to odd. Up to 16 bits every value is exact; at
    32 bits through the (exact) double; at 64 the magnitude's bits below its top 24 are
    folded into one sticky bit, after which the conversion is exact."""
    width = 8 * src.itemsize
    signed = src.kind == "i"
    if width <= 16:
        return b.sitofp(x, F32) if signed else b.uitofp(x, F32)
    if width == 32:
        wide = b.sitofp(x, F64) if signed else b.uitofp(x, F64)
        return round_to_odd_float(b, wide)
    ty = x.type
    negative = b.icmp_signed("<", x, ir.Constant(ty, 0)) if signed else None
    # int64's minimum negates to itself, 2**63 read unsigned: right
    mag = b.select(negative, b.sub(ir.Constant(ty, 0), x), x) if signed else x
    zeros = b.ctlz(mag, ir.Constant(ir.IntType(1), 0))
    lost = b.sub(ir.Constant(ty, width - 24), zeros)  # the bits below the top 24
    lost = b.select(b.icmp_signed(">", lost, ir.Constant(ty, 0)), lost, ir.Constant(ty, 0))
    mask = b.sub(b.shl(ir.Constant(ty, 1), lost), ir.Constant(ty, 1))
    sticky = b.zext(b.icmp_unsigned("!=", b.and_(mag, mask), ir.Constant(ty, 0)), ty)
    kept = b.or_(b.and_(mag, b.not_(mask)), b.shl(sticky, lost))
    f = b.uitofp(kept, F32)  # at most 24 significant bits: exact
    return b.select(negative, b.fneg(f), f) if signed else f


def bfloat_to(b: ir.IRBuilder, x: ir.Value, dst: np.dtype) -> tuple[ir.Value, bool]:
    """The bfloat16 bits ``x`` toward ``dst``: a float16 result as ml_dtypes makes it (NaN
    its quiet NaN ``0x7e00`` of the sign, where F16C would keep payload bits) and True, else
    the float32 value to convert on from, and False."""
    f = bfloat_to_float(b, x)
    if not is_half(dst):
        return f, False
    sign = b.trunc(b.lshr(b.bitcast(f, I32), _c(16)), I16)
    nan = b.or_(b.and_(sign, ir.Constant(I16, 0x8000)), ir.Constant(I16, 0x7E00))
    half = b.fptrunc(f, F16)
    return b.select(b.fcmp_unordered("uno", f, f), b.bitcast(nan, F16), half), True
