"""The shared ground of lazyarr's math library (:mod:`mathlib` and its family modules): the
IEEE formats, the type-generic emitter :class:`Em` (scalar or ``<n x T>`` code, lane for lane
the same bits) and its error-free transformations.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llvmlite import ir

F32 = ir.FloatType()
F64 = ir.DoubleType()
I1 = ir.IntType(1)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()


@dataclass(frozen=True, slots=True)
class Format:
    """An IEEE binary format: the LLVM float type and its integer twin."""

    ty: ir.Type
    ity: ir.IntType
    mant: int  # stored mantissa bits
    bias: int
    suffix: str
    magic: float  # 1.5 * 2**mant: adding it rounds to an integer kept in the low bits
    sqrt_half_bits: int  # bit pattern of sqrt(1/2), the lower end of the log mantissa range


FORMATS = {
    "float": Format(F32, I32, 23, 127, "f32", 12582912.0, 0x3F3504F3),
    "double": Format(F64, I64, 52, 1023, "f64", 6755399441055744.0, 0x3FE6A09E667F3BCD),
}


def format_of(ty: ir.Type) -> Format:
    return FORMATS[str(ty)]


def _lanes(ty: ir.Type, width: int) -> ir.Type:
    return ty if width == 1 else ir.VectorType(ty, width)


class Em:
    """Emits type-generic float and integer arithmetic for one format at a builder, on
    scalars (``width`` 1) or on vectors of ``width`` lanes (every lane computes what the
    scalar code computes, bit for bit: the same operations, no fast-math)."""

    def __init__(self, b: ir.IRBuilder, fmt: Format, width: int = 1) -> None:
        self.b, self.f, self.width = b, fmt, width
        self.ty, self.ity, self.bool = (_lanes(t, width) for t in (fmt.ty, fmt.ity, I1))
        self.wide = fmt.ty == F64

    # -- values ----------------------------------------------------------------------------
    def _splat(self, ty: ir.Type, value: float | int) -> ir.Constant:
        return ir.Constant(ty, value if self.width == 1 else [value] * self.width)

    def k(self, value: float | tuple[float, float]) -> ir.Constant:
        """A float constant; a (float64, float32) pair picks this format's entry."""
        if isinstance(value, tuple):
            value = value[0 if self.wide else 1]
        return self._splat(self.ty, value)

    def i(self, value: int) -> ir.Constant:
        return self._splat(self.ity, value)

    def table(self, pair: tuple[tuple[float, ...], tuple[float, ...]]) -> tuple[float, ...]:
        return pair[0 if self.wide else 1]

    # -- arithmetic --------------------------------------------------------------------------
    def add(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.b.fadd(x, y)

    def sub(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.b.fsub(x, y)

    def mul(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.b.fmul(x, y)

    def div(self, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.b.fdiv(x, y)

    def neg(self, x: ir.Value) -> ir.Value:
        return self.b.fneg(x)

    def intrinsic(self, name: str, *args: ir.Value) -> ir.Value:
        module = self.b.module
        lanes = "" if self.width == 1 else f"v{self.width}"
        full = f"llvm.{name}.{lanes}{self.f.suffix}"
        fn = module.globals.get(full)
        if fn is None:
            fn = ir.Function(module, ir.FunctionType(self.ty, [self.ty] * len(args)), full)
        return self.b.call(fn, list(args))

    def fma(self, x: ir.Value, y: ir.Value, z: ir.Value) -> ir.Value:
        """x*y + z with one rounding (a hardware FMA on AVX2, NVPTX and every modern GPU)."""
        return self.intrinsic("fma", x, y, z)

    def abs(self, x: ir.Value) -> ir.Value:
        return self.intrinsic("fabs", x)

    def copysign(self, x: ir.Value, sign: ir.Value) -> ir.Value:
        return self.intrinsic("copysign", x, sign)

    def trunc(self, x: ir.Value) -> ir.Value:
        return self.intrinsic("trunc", x)

    def poly(self, x: ir.Value, coeffs: Sequence[float]) -> ir.Value:
        """Horner's rule with FMA: coeffs[0] + coeffs[1] x + ..."""
        acc = self.k(coeffs[-1])
        for c in reversed(coeffs[:-1]):
            acc = self.fma(acc, x, self.k(c))
        return acc

    # -- comparisons and selection -------------------------------------------------------
    def cmp(self, pred: str, x: ir.Value, y: ir.Value) -> ir.Value:
        """Ordered comparison: false when either side is NaN."""
        return self.b.fcmp_ordered(pred, x, y)

    def isnan(self, x: ir.Value) -> ir.Value:
        return self.b.fcmp_unordered("uno", x, x)

    def sel(self, cond: ir.Value, x: ir.Value, y: ir.Value) -> ir.Value:
        return self.b.select(cond, x, y)

    def clamp(self, x: ir.Value, lo: float, hi: float) -> ir.Value:
        """x limited to [lo, hi]; NaN becomes lo (so later integer conversions are defined)."""
        x = self.sel(self.cmp(">", x, self.k(lo)), x, self.k(lo))
        return self.sel(self.cmp("<", x, self.k(hi)), x, self.k(hi))

    # -- bits ------------------------------------------------------------------------------
    def bits(self, x: ir.Value) -> ir.Value:
        return self.b.bitcast(x, self.ity)

    def from_bits(self, n: ir.Value) -> ir.Value:
        return self.b.bitcast(n, self.ty)

    def flip_sign(self, x: ir.Value, sign_bits: ir.Value) -> ir.Value:
        """x with its sign bit xor-ed with the top bit of the integer ``sign_bits``."""
        mask = self.b.and_(sign_bits, self.i(-1 << (self.f.mant + self.exp_bits())))
        return self.from_bits(self.b.xor(self.bits(x), mask))

    def exp_bits(self) -> int:
        return 8 if not self.wide else 11

    def round_int(self, x: ir.Value, scale: float) -> tuple[ir.Value, ir.Value]:
        """(n, n as an integer) with n = x*scale rounded to nearest, for |n| < 2**(mant-1).

        Adding 1.5 * 2**mant rounds to an integer and leaves it in the low mantissa bits, so
        no float-to-int conversion is needed (AVX2 has none for 64-bit integers).
        """
        magic = self.k(self.f.magic)
        t = self.fma(x, self.k(scale), magic)
        return self.sub(t, magic), self.b.sub(self.bits(t), self.bits(magic))

    def int_to_float(self, n: ir.Value) -> ir.Value:
        """An integer |n| < 2**(mant-1) as a float, by the same magic-number trick."""
        magic = self.k(self.f.magic)
        return self.sub(self.from_bits(self.b.add(self.bits(magic), n)), magic)

    def pow2(self, n: ir.Value) -> ir.Value:
        """2**n for an integer n in the normal exponent range."""
        return self.from_bits(self.b.shl(self.b.add(n, self.i(self.f.bias)), self.i(self.f.mant)))

    def scale(self, x: ir.Value, n: ir.Value) -> ir.Value:
        """x * 2**n for |n| up to about 2*bias, rounding once (into subnormals or to inf)."""
        half = self.b.ashr(n, self.i(1))
        return self.mul(self.mul(x, self.pow2(half)), self.pow2(self.b.sub(n, half)))

    # -- error-free transformations ----------------------------------------------------------
    def two_sum(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        """(s, e) with s = fl(x + y) and s + e == x + y exactly (Knuth)."""
        s = self.add(x, y)
        yy = self.sub(s, x)
        e = self.add(self.sub(x, self.sub(s, yy)), self.sub(y, yy))
        return s, e

    def fast_two_sum(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        """Like two_sum for |x| >= |y| (Dekker), in three operations."""
        s = self.add(x, y)
        return s, self.sub(y, self.sub(s, x))

    def two_prod(self, x: ir.Value, y: ir.Value) -> tuple[ir.Value, ir.Value]:
        p = self.mul(x, y)
        return p, self.fma(x, y, self.neg(p))

    def dd_mul(self, x: tuple[ir.Value, ir.Value], y: tuple[ir.Value, ir.Value]
               ) -> tuple[ir.Value, ir.Value]:
        """Double-double product (not renormalised)."""
        p, e = self.two_prod(x[0], y[0])
        return p, self.fma(x[0], y[1], self.fma(x[1], y[0], e))
