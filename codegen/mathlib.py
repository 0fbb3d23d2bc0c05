"""Branch-free, vectorisable elementary functions, emitted as LLVM IR.

LLVM's loop vectoriser will not widen calls to C's ``exp`` or ``sin`` (see DESIGN.md), so the
CPU target computes them here instead: Cody-Waite range reduction, a minimax polynomial
evaluated with ``llvm.fma``, and a reconstruction, with every special value (NaN, +-inf, +-0,
overflow, underflow, subnormals) chosen by ``select`` rather than by a branch. The code is
straight-line and type generic (:class:`Em`): the same emitters produce scalar code and vector
code on ``<n x T>``, lane for lane the same bits. The approach is the one SLEEF and NumPy's
SIMD loops take; the code is ours.

Two ways to use a function:

* out of line (the CPU, :func:`call_support`): each function is compiled once per process
  into a support module (:func:`support_module`: a scalar version and vector versions, libm
  for huge trigonometric arguments) that ``backends/cpu.py`` links before the kernels that
  call it. A kernel only declares the functions and calls the scalar one with LLVM's vector
  function ABI attribute naming the vector ones, so the loop vectoriser calls a vector
  version once per vector, and the kernel's IR stays small (fast to compile);
* inline (:func:`call`): an internal, always-inlined ``lazyarr.math.*`` function in the
  caller's module, for targets without libm or a support module (NVPTX); huge
  trigonometric arguments take an exact Payne-Hanek reduction there with ``reduce_huge``
  (what NVPTX asks for), else give NaN.

Accuracy (measured by ``benchmarks/ulp.py``, reported in ``docs/math.md``): at most 1 ULP from
the correctly rounded result for exp, log, sin, cos, tanh, exp2, log2, log10, cbrt and hypot,
at most 4 ULP for the rest.

Polynomial coefficients were fitted for this module with a discrete Remez exchange in mpmath
(50 digits), minimising the relative error of the reconstructed function over the reduced
interval, then rounded to the working precision one coefficient at a time (lowest order
first) with the remaining ones refitted. The comment above each table gives the fitted form,
the interval and the error of the polynomial alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

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


# -- constants: (float64 value, float32 value); splits hold more bits than one float ----------
LOG2E = (1.4426950408889634, 1.4426950216293335)
LN2_HI = (0.6931471805599453, 0.6931471824645996)
LN2_LO = (2.3190468138462996e-17, -1.9046542121259336e-09)
LN2_LO2 = 5.707708438416212e-34  # third part (float64 only): log of pow in double-double
TWO_OVER_PI = (0.6366197723675814, 0.6366197466850281)
# pi/2 as a sum of parts (float64: three, float32: four)
PIO2_PARTS = ((1.5707963267948966, 6.123233995736766e-17, -1.4973849048591698e-33),
              (1.5707963705062866, -4.371138828673793e-08, -1.7151245100058819e-15,
               1.056299898220315e-23))
PIO2_HI = (1.5707963267948966, 1.5707963705062866)
PIO2_LO = (6.123233995736766e-17, -4.371138828673793e-08)
PIO4_HI = (0.7853981633974483, 0.7853981852531433)
PIO4_LO = (3.061616997868383e-17, -2.1855694143368964e-08)
TAN_PI_8 = 0.41421356237309503
TAN_3PI_8 = 2.414213562373095
TANH_SPLIT = 0.5493061443340549  # atanh(1/2): above it 1 - tanh(|x|) <= 1/2

# -- polynomial tables (float64, float32) --------------------------------------------------
# exp(r) = 1 + r + r^2 P(r), |r| <= ln2/2: relative error 2^-63.3 (f64), 2^-28.2 (f32)
EXP_P = (
    (0.5, 0.16666666666666688, 0.041666666666666824, 0.00833333333331389,
     0.0013888888888778305, 0.00019841269903372622, 2.4801587557255594e-05,
     2.7557228735907945e-06, 2.755707084781041e-07, 2.5113886021107792e-08,
     2.0976271432426874e-09),
    (0.4999999403953552, 0.16666516661643982, 0.04166810214519501, 0.008369200862944126,
     0.001383906346745789),
)
# expm1(r) = r + r^2 P(r), |r| <= ln2/2, weighted for the relative error of expm1:
# 2^-57.5 (f64), 2^-31.0 (f32)
EXPM1_P = (
    (0.5000000000000001, 0.1666666666666667, 0.041666666666649296, 0.008333333333328675,
     0.0013888888897404478, 0.00019841269865026912, 2.4801570297641738e-05,
     2.75572670472829e-06, 2.757199800384999e-07, 2.510081524995366e-08,
     1.6326558212456953e-09),
    (0.5, 0.1666666567325592, 0.04166646674275398, 0.008333643898367882,
     0.0013935043243691325, 0.00019662633712869138),
)
# log(1+f) = 2s + s R(s^2), s = f/(2+f), R(z) = z P(z), z <= 0.0295 (|f| <= sqrt2 - 1):
# absolute error of R 2^-58.5 (f64), 2^-34.2 (f32)
LOG_P = (
    (0.6666666666666735, 0.3999999999940935, 0.28571428743686567, 0.2222219842896005,
     0.1818357235646329, 0.15313832108361836, 0.14798259536625033),
    (0.6666666269302368, 0.40000972151756287, 0.2849879264831543, 0.24278858304023743),
)
# 2 atanh(s) = 2s + 2s^3/3 + s^5 U(s^2) (pow's double-double log): s^5 error 2^-68.5
LOG_U64 = (0.40000000000003544, 0.28571428569567225, 0.222222226042658, 0.1818177769061512,
           0.15387039398129929, 0.13250731400969865, 0.13249097902030937)
# sin(r) = r + r^3 P(r^2): |r| <= pi/4, relative error 2^-63.2 (f64); |r| <= 0.7907 (pi/4
# plus the reduction's overshoot in float32), 2^-32.5 (f32)
SIN_P = (
    (-0.16666666666666666, 0.008333333333333042, -0.00019841269840962473,
     2.755731907398523e-06, -2.5052070923661838e-08, 1.60543116957069e-10,
     -7.389471346925176e-13),
    (-0.1666666716337204, 0.008333378471434116, -0.00019852562400046736,
     2.826345280482201e-06),
)
# cos(r) = 1 - r^2/2 + r^4 P(r^2), same intervals: relative error 2^-63.9 (f64), 2^-32.8
# (f32)
COS_P = (
    (0.041666666666666595, -0.0013888888888873338, 2.480158728899748e-05,
     -2.755731421529891e-07, 2.0875705114914543e-09, -1.135873276843821e-11),
    (0.04166664555668831, -0.0013887302484363317, 2.443097582727205e-05),
)
# tanh(x) = x + x^3 P(x^2), |x| <= atanh(1/2): relative error 2^-60.6 (f64), 2^-29.7 (f32)
TANH_P = (
    (-0.333333333333333, 0.1333333333332658, -0.05396825396373699, 0.021869488385181806,
     -0.00886323259049444, 0.003592091921503704, -0.0014555421594509242,
     0.00058844174430318, -0.0002333748481203008, 8.330726642664616e-05,
     -1.948934197578581e-05),
    (-0.33333316445350647, 0.13332544267177582, -0.0538475476205349, 0.02105071395635605,
     -0.00624284939840436),
)
# sinh(x) = x + x^3 P(x^2), |x| <= 1: relative error 2^-61.8 (f64), 2^-31.6 (f32)
SINH_P = (
    (0.16666666666666669, 0.008333333333332912, 0.00019841269841593408,
     2.7557319106758375e-06, 2.50521309982999e-08, 1.6056659214566334e-10,
     7.776598233072137e-13),
    (0.1666666716337204, 0.00833331048488617, 0.0001984289410756901, 2.782230239972705e-06),
)
# atan(t) = t + t^3 P(t^2), |t| <= tan(pi/8): relative error 2^-59.4 (f64), 2^-30.4 (f32)
ATAN_P = (
    (-0.333333333333332, 0.19999999999953666, -0.14285714280198614, 0.11111110783439337,
     -0.09090897755848229, 0.07692060178500282, -0.06663103714216098, 0.05847887842191648,
     -0.05039303428334558, 0.03806467589897596, -0.017907503614623364),
    (-0.33333316445350647, 0.19998528063297272, -0.14244391024112701, 0.10599168390035629,
     -0.060900524258613586),
)

# Largest |x| the trigonometric reduction handles (float64: q*pi/2 stays exact in the
# double-double reduction; float32: the float32 2/pi makes q off by one near half-integers,
# so |r| may pass pi/4 by 0.0053, which the float32 polynomials cover). Beyond it the CPU
# target calls libm for those lanes only (see _huge_fallback), NVPTX reduces them exactly
# (_payne_hanek); without either the result is NaN.
TRIG_LIMIT = (2.0 ** 40, 2.0 ** 17)


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


# -- exp family ------------------------------------------------------------------------------
def _exp_core(m: Em, x: ir.Value, lo: ir.Value | None = None, low: bool = False
              ) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(hi, t, n) with exp(x + lo) = 2**n * (1 + hi + t), |hi + t| < 0.42.

    ``x`` must already be clamped to a finite range. ``hi = x - n*ln2_hi`` is exact (FMA,
    and the result needs no more bits than x has), so the reduced argument carries the error
    of the small ``ln2_lo`` term only. ``low`` picks the float32 polynomial (float64 work
    whose result is rounded to float32 needs no more).
    """
    n, ni = m.round_int(x, LOG2E[0 if m.wide else 1])
    hi = m.fma(m.neg(n), m.k(LN2_HI), x)
    r_lo = m.mul(m.neg(n), m.k(LN2_LO))
    if lo is not None:
        r_lo = m.add(r_lo, lo)
    r = m.add(hi, r_lo)
    t = m.fma(m.mul(r, r), m.poly(r, EXP_P[1] if low else m.table(EXP_P)), r_lo)
    return hi, t, ni


def _one_plus(m: Em, hi: ir.Value, t: ir.Value) -> ir.Value:
    """1 + hi + t rounded once: 1 + hi is split exactly, so only the final add rounds."""
    u, ue = m.fast_two_sum(m.k(1.0), hi)
    return m.add(u, m.add(ue, t))


def _exp(m: Em, x: ir.Value) -> ir.Value:
    # beyond these the result is 0 or inf whatever the rounding; clamping keeps n small
    xc = m.clamp(x, -746.0 if m.wide else -104.0, 710.0 if m.wide else 89.0)
    hi, t, n = _exp_core(m, xc)
    y = m.scale(_one_plus(m, hi, t), n)
    return m.sel(m.isnan(x), x, y)


def _expm1(m: Em, x: ir.Value) -> ir.Value:
    # below the lower clamp expm1 rounds to -1; above the upper it overflows
    xc = m.clamp(x, -40.0 if m.wide else -18.0, 710.0 if m.wide else 89.0)
    n, ni = m.round_int(xc, LOG2E[0 if m.wide else 1])
    hi = m.fma(m.neg(n), m.k(LN2_HI), xc)
    lo = m.mul(m.neg(n), m.k(LN2_LO))
    r = m.add(hi, lo)
    e = m.add(hi, m.fma(m.mul(r, r), m.poly(r, m.table(EXPM1_P)), lo))  # expm1(r)
    # 2^n (1 + e) - 1 = 2^n e + (2^n - 1): both terms exact while 2^n - 1 is, one rounding
    big = m.f.mant + 1
    two_n = m.pow2(m.b.select(m.b.icmp_signed("<", ni, m.i(big)), ni, m.i(big)))
    y = m.fma(two_n, e, m.sub(two_n, m.k(1.0)))
    y = m.sel(m.b.icmp_signed(">", ni, m.i(big)), m.scale(m.add(m.k(1.0), e), ni), y)
    y = m.sel(m.cmp("==", x, m.k(0.0)), x, y)  # keeps -0.0
    return m.sel(m.isnan(x), x, y)


def _tanh(m: Em, x: ir.Value) -> ir.Value:
    a = m.abs(x)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.poly(z, m.table(TANH_P)), a)
    # 1 - tanh(a) = 2 / (e^(2a) + 1); the denominator is kept as a double-word
    ac = m.clamp(a, 0.0, 20.0 if m.wide else 9.5)  # tanh rounds to 1 beyond
    hi, t, n = _exp_core(m, m.add(ac, ac))
    two_n = m.pow2(n)
    d_hi, d_lo = m.fast_two_sum(m.add(two_n, m.k(1.0)), m.mul(two_n, m.add(hi, t)))
    q = m.div(m.k(2.0), d_hi)
    rho = m.sub(m.fma(m.neg(q), d_hi, m.k(2.0)), m.mul(q, d_lo))  # 2 - q d, to first order
    q = m.fma(rho, m.mul(q, m.k(0.5)), q)  # one Newton step: q + rho / d
    large = m.sub(m.k(1.0), q)
    y = m.copysign(m.sel(m.cmp("<", a, m.k(TANH_SPLIT)), small, large), x)
    return m.sel(m.isnan(x), x, y)


def _half_exp(m: Em, a: ir.Value) -> ir.Value:
    """e^a / 2 for 0 <= a, overflowing exactly where cosh does (the halving is in 2**n)."""
    ac = m.clamp(a, 0.0, 711.0 if m.wide else 89.5)
    hi, t, n = _exp_core(m, ac)
    return m.scale(_one_plus(m, hi, t), m.b.sub(n, m.i(1)))


def _cosh(m: Em, x: ir.Value) -> ir.Value:
    e = _half_exp(m, m.abs(x))
    y = m.add(e, m.div(m.k(0.25), e))
    return m.sel(m.isnan(x), x, y)


def _sinh(m: Em, x: ir.Value) -> ir.Value:
    a = m.abs(x)
    z = m.mul(a, a)
    small = m.fma(m.mul(a, z), m.poly(z, m.table(SINH_P)), a)
    e = _half_exp(m, a)
    large = m.sub(e, m.div(m.k(0.25), e))
    y = m.copysign(m.sel(m.cmp("<", a, m.k(1.0)), small, large), x)
    return m.sel(m.isnan(x), x, y)


# -- log family ------------------------------------------------------------------------------
def _split(m: Em, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(k, mant) with x = mant * 2**k, mant in [sqrt(1/2), sqrt(2)), for positive normal x."""
    ix = m.bits(x)
    d = m.b.sub(ix, m.i(m.f.sqrt_half_bits))
    k = m.b.ashr(d, m.i(m.f.mant))
    return k, m.from_bits(m.b.sub(ix, m.b.shl(k, m.i(m.f.mant))))


def _log_kernel(m: Em, k: ir.Value, f: ir.Value, low: bool = False) -> ir.Value:
    """k*ln2 + log(1 + f) for |f| <= sqrt(2) - 1 (fdlibm's arrangement of the sum).

    ``low`` picks the float32 polynomial, as for :func:`_exp_core`.
    """
    s = m.div(f, m.add(m.k(2.0), f))
    z = m.mul(s, s)
    r = m.mul(z, m.poly(z, LOG_P[1] if low else m.table(LOG_P)))
    hfsq = m.mul(m.mul(m.k(0.5), f), f)
    kf = m.int_to_float(k)
    inner = m.sub(m.sub(hfsq, m.fma(s, m.add(hfsq, r), m.mul(kf, m.k(LN2_LO)))), f)
    return m.fma(kf, m.k(LN2_HI), m.neg(inner))


def _log_specials(m: Em, x: ir.Value, y: ir.Value, zero: ir.Value) -> ir.Value:
    """log-like results at the domain edges: ``zero`` maps to -inf, below it NaN."""
    y = m.sel(m.cmp("==", x, zero), m.k(float("-inf")), y)
    y = m.sel(m.cmp("<", x, zero), m.k(float("nan")), y)
    y = m.sel(m.cmp("==", x, m.k(float("inf"))), x, y)
    return m.sel(m.isnan(x), x, y)


def _log(m: Em, x: ir.Value) -> ir.Value:
    # subnormals: scale into the normal range first
    tiny = m.cmp("<", x, m.k(2.0 ** (1 - m.f.bias)))
    xs = m.sel(tiny, m.mul(x, m.k(2.0 ** m.f.mant)), x)
    k, mant = _split(m, xs)
    k = m.b.sub(k, m.b.select(tiny, m.i(m.f.mant), m.i(0)))
    y = _log_kernel(m, k, m.sub(mant, m.k(1.0)))
    return _log_specials(m, x, y, m.k(0.0))


def _log1p(m: Em, x: ir.Value) -> ir.Value:
    u, c = m.two_sum(m.k(1.0), x)  # 1 + x == u + c exactly
    k, mant = _split(m, u)
    # the part of 1 + x that u lost, at the scale of the mantissa; negligible once k is big
    kc = m.b.select(m.b.icmp_signed("<", k, m.i(m.f.mant + 2)), k, m.i(m.f.mant + 2))
    c = m.mul(c, m.pow2(m.b.sub(m.i(0), kc)))
    c = m.sel(m.b.icmp_signed("<", k, m.i(m.f.mant + 2)), c, m.k(0.0))
    y = _log_kernel(m, k, m.add(m.sub(mant, m.k(1.0)), c))
    y = m.sel(m.cmp("==", x, m.k(0.0)), x, y)  # keeps -0.0
    return _log_specials(m, x, y, m.k(-1.0))


# -- trigonometric ---------------------------------------------------------------------------
def _reduce(m: Em, a: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(r_hi, r_lo, q) with a = q*pi/2 + r_hi + r_lo, for 0 <= a <= TRIG_LIMIT.

    ``a - q*C1`` is exact (FMA; the result needs no more bits than a has), and the rest of
    pi/2 is subtracted in double-word arithmetic, so the reduced argument keeps about twice
    the format's precision even where a is close to a multiple of pi/2.
    """
    parts = PIO2_PARTS[0 if m.wide else 1]
    q, qi = m.round_int(a, TWO_OVER_PI[0 if m.wide else 1])
    nq = m.neg(q)
    r1 = m.fma(nq, m.k(parts[0]), a)
    p, pe = m.two_prod(q, m.k(parts[1]))
    s, se = m.two_sum(r1, m.neg(p))
    lo = m.sub(se, pe)
    for part in parts[2:]:
        lo = m.fma(nq, m.k(part), lo)
    hi, lo = m.fast_two_sum(s, lo)
    return hi, lo, qi


def _sin_cos(m: Em, r: ir.Value, rl: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(sin, cos) of r + rl, |r| <= pi/4 (+ overshoot), rl tiny: well under 1 ULP."""
    z = m.mul(r, r)
    rz = m.mul(r, z)
    # sin(r + rl) = sin r + rl cos r, cos r ~ 1 - z/2
    sin = m.add(r, m.fma(rz, m.poly(z, m.table(SIN_P)), m.fma(m.mul(m.k(-0.5), z), rl, rl)))
    # cos: 1 - z/2 with its rounding error recovered (z/2 = hz + hz_err exactly)
    hz = m.mul(m.k(0.5), z)
    hz_err = m.fma(m.mul(m.k(0.5), r), r, m.neg(hz))
    w = m.sub(m.k(1.0), hz)
    corr = m.sub(m.sub(m.sub(m.k(1.0), w), hz), hz_err)
    tail = m.fma(m.mul(z, z), m.poly(z, m.table(COS_P)), m.neg(m.mul(r, rl)))
    cos = m.add(w, m.add(corr, tail))
    return sin, cos


def _trig(m: Em, x: ir.Value, kinds: Sequence[str], fallback: bool,
          reduce_huge: bool = False) -> list[ir.Value]:
    """sin, cos or tan of x (one per entry of ``kinds``, from one reduction): reduce |x|
    by pi/2, pick the quadrant's polynomial and sign.

    ``reduce_huge`` (scalar code only): arguments beyond ``TRIG_LIMIT`` are reduced exactly
    in integer arithmetic (:func:`_payne_hanek`) instead of giving NaN, for targets without
    libm."""
    a = m.abs(x)
    limit = TRIG_LIMIT[0 if m.wide else 1]
    # the libm lanes; not infinities: libm would set errno for them (NaN below is the same)
    huge = m.b.and_(m.cmp(">", a, m.k(limit)), m.cmp("<", a, m.k(float("inf"))))
    exact = [_huge_fallback(m, x, kind, huge) for kind in kinds] if fallback else None
    ok = m.cmp("<=", a, m.k(limit))  # false for inf and NaN
    r, rl, q = _reduce(m, m.sel(ok, a, m.k(0.0)))
    if reduce_huge:
        hr, hrl, hq = _huge_reduced(m, a, huge)
        r, rl, q = m.sel(huge, hr, r), m.sel(huge, hrl, rl), m.b.select(huge, hq, q)
        ok = m.b.or_(ok, huge)
    sin, cos = _sin_cos(m, r, rl)
    odd = m.b.trunc(q, m.bool)
    out = []
    for kind in kinds:
        if kind == "tan":
            y = m.div(m.sel(odd, m.neg(cos), sin), m.sel(odd, sin, cos))
        else:
            y = m.sel(odd, cos, sin) if kind == "sin" else m.sel(odd, sin, cos)
            # quadrants 2 and 3 (sin) or 1 and 2 (cos) are negative
            qs = q if kind == "sin" else m.b.add(q, m.i(1))
            y = m.flip_sign(y, m.b.shl(qs, m.i(m.f.mant + m.exp_bits() - 1)))
        if kind != "cos":  # odd functions: the sign of x (also gives sin(-0.0) == -0.0)
            y = m.flip_sign(y, m.bits(x))
        out.append(m.sel(ok, y, m.k(float("nan"))))
    return out if exact is None else [m.sel(huge, e, y) for e, y in zip(exact, out,
                                                                         strict=True)]


def _sin(m: Em, x: ir.Value, fallback: bool = False, reduce_huge: bool = False
         ) -> ir.Value:
    return _trig(m, x, ["sin"], fallback, reduce_huge)[0]


def _cos(m: Em, x: ir.Value, fallback: bool = False, reduce_huge: bool = False
         ) -> ir.Value:
    return _trig(m, x, ["cos"], fallback, reduce_huge)[0]


def _tan(m: Em, x: ir.Value, fallback: bool = False, reduce_huge: bool = False
         ) -> ir.Value:
    return _trig(m, x, ["tan"], fallback, reduce_huge)[0]


def _sincos(m: Em, x: ir.Value, fallback: bool = False, reduce_huge: bool = False
            ) -> list[ir.Value]:
    """sin and cos of the same x: one reduction, each result the bits of _sin and _cos."""
    return _trig(m, x, ["sin", "cos"], fallback, reduce_huge)


def _arctan(m: Em, x: ir.Value) -> ir.Value:
    """atan(|x|) = offset + atan(t) with |t| <= tan(pi/8), one division for all three ranges."""
    a = m.abs(x)
    big = m.cmp(">", a, m.k(TAN_3PI_8))
    mid = m.cmp(">", a, m.k(TAN_PI_8))
    one = m.k(1.0)
    num = m.sel(big, m.k(-1.0), m.sel(mid, m.sub(a, one), a))
    den = m.sel(big, a, m.sel(mid, m.add(a, one), one))
    t = m.div(num, den)
    zero = m.k(0.0)
    off_hi = m.sel(big, m.k(PIO2_HI), m.sel(mid, m.k(PIO4_HI), zero))
    off_lo = m.sel(big, m.k(PIO2_LO), m.sel(mid, m.k(PIO4_LO), zero))
    z = m.mul(t, t)
    tail = m.fma(m.mul(t, z), m.poly(z, m.table(ATAN_P)), off_lo)
    return m.copysign(m.add(off_hi, m.add(t, tail)), x)


# -- pow ---------------------------------------------------------------------------------
def _log_dd(m: Em, x: ir.Value) -> tuple[ir.Value, ir.Value]:
    """log(x) as a double-double for positive normal or subnormal float64 x (~2^-66 rel)."""
    tiny = m.cmp("<", x, m.k(2.0 ** -1022))
    xs = m.sel(tiny, m.mul(x, m.k(2.0 ** 52)), x)
    k, mant = _split(m, xs)
    kf = m.int_to_float(m.b.sub(k, m.b.select(tiny, m.i(52), m.i(0))))
    f = m.sub(mant, m.k(1.0))  # exact
    # s = f / (2 + f) as a double-double: the denominator exactly, then one correction
    d_hi, d_lo = m.fast_two_sum(m.k(2.0), f)
    s = m.div(f, d_hi)
    s_lo = m.div(m.sub(m.fma(m.neg(s), d_hi, f), m.mul(s, d_lo)), d_hi)
    # log(1 + f) = 2 atanh(s) = 2s + (2/3) s^3 + s^5 U(s^2)
    z = m.mul(s, s)
    s2 = m.two_prod(s, s)
    s2 = (s2[0], m.fma(m.add(s, s), s_lo, s2[1]))
    s3 = m.dd_mul(s2, (s, s_lo))
    t3 = m.dd_mul(s3, (m.k(2.0 / 3.0), m.k(3.700743415417188e-17)))  # 2/3 = hi + lo
    tail = m.mul(m.mul(s3[0], z), m.poly(z, LOG_U64))
    b_hi, b_lo = m.fast_two_sum(m.add(s, s), t3[0])
    b_lo = m.add(b_lo, m.add(m.add(s_lo, s_lo), m.add(t3[1], tail)))
    b_hi, b_lo = m.fast_two_sum(b_hi, b_lo)
    # + k ln2, ln2 in three parts
    a_hi, a_lo = m.two_prod(kf, m.k(LN2_HI))
    a_lo = m.fma(kf, m.k(LN2_LO), m.fma(kf, m.k(LN2_LO2), a_lo))
    h, e = m.two_sum(a_hi, b_hi)
    return m.fast_two_sum(h, m.add(e, m.add(a_lo, b_lo)))


def _pow_magnitude(m: Em, ax: ir.Value, y: ir.Value) -> ir.Value:
    """|x|**y = exp(y log|x|) for finite positive |x| and finite y, in double-double."""
    lh, ll = _log_dd(m, ax)
    ph, pl = m.two_prod(y, lh)
    pl = m.fma(y, ll, pl)
    hc = m.clamp(ph, -746.0, 710.0)
    hi, t, n = _exp_core(m, hc, m.sel(m.cmp("==", hc, ph), pl, m.k(0.0)))
    return m.scale(_one_plus(m, hi, t), n)


def _pow64(m: Em, x: ir.Value, y: ir.Value, dd: bool = True) -> ir.Value:
    """C99 pow (Annex F special cases) in float64: exp(y log|x|), then signs and specials.

    With ``dd`` the logarithm and the product carry double-double precision (float64
    results); without, plain float64 is ample (float32 results, rounded once at the end).
    """
    one, zero, inf = m.k(1.0), m.k(0.0), m.k(float("inf"))
    ax, ay = m.abs(x), m.abs(y)
    ax_ok = m.b.and_(m.cmp(">", ax, zero), m.cmp("<", ax, inf))
    y_ok = m.cmp("<", ay, inf)
    axs, ys = m.sel(ax_ok, ax, one), m.sel(y_ok, y, zero)
    if dd:
        mag = _pow_magnitude(m, axs, ys)
    else:  # float32 arguments: never subnormal in float64, and axs is positive and finite
        k, mant = _split(m, axs)
        # the float32 polynomials, evaluated in float64, are accurate enough here too
        t = m.mul(ys, _log_kernel(m, k, m.sub(mant, one), low=True))
        hi, lo, n = _exp_core(m, m.clamp(t, -746.0, 710.0), low=True)
        mag = m.scale(_one_plus(m, hi, lo), n)
    y_neg = m.cmp("<", y, zero)
    # |x| == 0 or inf, and |y| == inf: limits of exp(y log|x|)
    mag = m.sel(m.cmp("==", ax, zero), m.sel(y_neg, inf, zero), mag)
    mag = m.sel(m.cmp("==", ax, inf), m.sel(y_neg, zero, inf), mag)
    below_one = m.cmp("<", ax, one)
    y_inf = m.sel(m.b.icmp_unsigned("==", below_one, y_neg), inf, zero)
    y_inf = m.sel(m.cmp("==", ax, one), one, y_inf)  # pow(-1, +-inf) == 1
    mag = m.sel(y_ok, mag, y_inf)
    # sign and domain: a negative base needs an integer exponent; odd ones keep the sign
    y_int = m.cmp("==", m.trunc(y), y)
    half = m.mul(y, m.k(0.5))
    y_odd = m.b.and_(y_int, m.cmp("!=", m.trunc(half), half))
    x_neg = m.b.icmp_signed("<", m.bits(x), m.i(0))  # includes -0.0
    r = m.sel(m.b.and_(x_neg, y_odd), m.neg(mag), mag)
    bad = m.b.and_(m.b.and_(m.cmp("<", x, zero), ax_ok), m.b.not_(y_int))
    r = m.sel(m.b.and_(bad, y_ok), m.k(float("nan")), r)
    r = _nan_argument(m, x, y, r)
    return m.sel(m.b.or_(m.cmp("==", y, zero), m.cmp("==", x, one)), one, r)


def _nan_argument(m: Em, x: ir.Value, y: ir.Value, r: ir.Value) -> ir.Value:
    """``r``, or a NaN argument itself (x when both are), as the one-argument functions here
    return theirs. Not x + y, C's usual answer: with two NaNs it gives the bits of whichever
    operand instruction selection and register allocation put first (x86 keeps the first),
    so the same IR gave pow(-nan, nan) = -nan called out of line on the CPU and +nan inlined
    in the emulated GPU kernel, depending on the vector width and the CPU."""
    return m.sel(m.isnan(x), x, m.sel(m.isnan(y), y, r))


def _pow(m: Em, x: ir.Value, y: ir.Value) -> ir.Value:
    if m.wide:
        return _pow64(m, x, y)
    # float32: the float64 algorithm, rounded once at the end, is correct to ~0.5 ULP
    d = Em(m.b, FORMATS["double"], m.width)
    r = _pow64(d, m.b.fpext(x, d.ty), m.b.fpext(y, d.ty), dd=False)
    return m.b.fptrunc(r, m.ty)


# -- integer powers ------------------------------------------------------------------------
# x ** n for a constant integer n (graph.Op.POWER_INT), unrolled for that n and inlined into
# the kernel. Left-to-right binary powering: one squaring per bit of |n| after the leading
# one, and a multiplication by the base for each further 1 bit (multiplying by the base, a
# single word, is cheaper than by another power). Squaring in the working precision loses
# about one rounding per step and the relative error doubles with each squaring (float64
# x**16 by four squarings: 11 ULP off measured, about 15 at worst), hence:
#   * float32 works in float64 and rounds once at the end. The float64 error, at most about
#     |n| * 2**-53, is far below float32's half ULP (2**-24), and float64's range holds every
#     intermediate whose float32 result is neither 0 nor inf;
#   * float64 works in double-word arithmetic (hi + lo, products made error-free by FMA) on
#     the mantissa m in [1, 2) of |x| = m * 2**k, which keeps every intermediate in range;
#     k*n goes into the exponent at the end by two exact power-of-two factors, so the result
#     rounds once (twice for subnormal results: the double word, then the scaling).
# Largest |n| computed this way (canon.POWER_INT_MAX may not exceed it): m**|n| and its
# reciprocal must be normal floats, m**|n| < 2**|n| and 1/m**|n| > 2**-|n|, so |n| <= 1022.
INT_POWER_MAX = 1022
# Beyond this |n| the float64 result's double word r (in [1, 2**|n|] or [2**-|n|, 1]) is
# too wide for the halving in Em.scale to keep its first factor exact; it is normalised to
# [1, 2) first (four more instructions).
_INT_POWER_HALVING_MAX = 484


def int_power(m: Em, x: ir.Value, n: int) -> ir.Value:
    """``x ** n`` for a float (or vector of floats) ``x`` and a constant integer ``n``, with
    NumPy's ``np.power`` special values: NaN for NaN (but ``x ** 0 == 1``), and the signs and
    infinities of C's pow for zeros and infinities; overflow to inf, underflow to zero."""
    if abs(n) > INT_POWER_MAX:
        raise ValueError(f"integer power {n}: |n| > {INT_POWER_MAX} takes the general pow")
    if n == 0:
        return m.k(1.0)  # pow(x, 0) == 1 even for NaN
    if n == 1:
        return x
    if not m.wide:
        d = Em(m.b, FORMATS["double"], m.width)
        return m.b.fptrunc(_power_chain(d, m.b.fpext(x, d.ty), n), m.ty)
    if n in (-1, 2):  # one operation, correctly rounded
        return _power_chain(m, x, n)
    return _int_power64(m, x, n)


def _power_chain(m: Em, x: ir.Value, n: int) -> ir.Value:
    """``x ** n`` by plain squarings and multiplications, then one division for n < 0.
    Zeros, infinities and NaN come out as pow's by IEEE arithmetic alone."""
    y = x
    for bit in bin(abs(n))[3:]:
        y = m.mul(y, y)
        if bit == "1":
            y = m.mul(y, x)
    return m.div(m.k(1.0), y) if n < 0 else y


def _dd_chain(m: Em, base: ir.Value, n: int) -> tuple[ir.Value, ir.Value]:
    """``base ** n`` (n >= 2) as a double word (hi, lo), not renormalised: relative error
    about |n| * 2**-104 (the lo words grow with the squarings, to about |n| ulp of hi)."""
    hi, lo = base, None
    for bit in bin(n)[3:]:
        if lo is None:
            hi, lo = m.two_prod(hi, hi)
        else:  # (hi + lo)**2, dropping lo**2
            p, e = m.two_prod(hi, hi)
            hi, lo = p, m.fma(m.add(hi, hi), lo, e)
        if bit == "1":  # (hi + lo) * base
            p, e = m.two_prod(hi, base)
            hi, lo = p, m.fma(lo, base, e)
    return hi, lo


def _dd_reciprocal(m: Em, hi: ir.Value, lo: ir.Value) -> ir.Value:
    """1 / (hi + lo), rounded once: q = 1/hi and one Newton step, whose residual
    1 - q*hi is exact by FMA."""
    q = m.div(m.k(1.0), hi)
    e = m.fma(m.neg(q), lo, m.fma(m.neg(q), hi, m.k(1.0)))
    return m.fma(q, e, q)


def _int_power64(m: Em, x: ir.Value, n: int) -> ir.Value:
    """float64 ``x ** n`` for |n| >= 2 (other than 2): see the comment above INT_POWER_MAX.

    Zeros and subnormals have k = -1023 and m = 1.f, infinities and NaN k = 1024: k*n then
    saturates the scaling to 0 or inf, which is the exact result for zeros, infinities and
    subnormals (|x|**|n| < 2**-2044 for |n| >= 2); NaN is put back at the end.
    """
    b, bits_n = m.b, abs(n)
    mant_mask = (1 << m.f.mant) - 1
    bits = m.bits(x)
    k = b.sub(b.lshr(b.and_(bits, m.i((1 << 63) - 1)), m.i(m.f.mant)), m.i(m.f.bias))
    base = m.from_bits(b.or_(b.and_(bits, m.i(mant_mask)), m.i(m.f.bias << m.f.mant)))
    hi, lo = _dd_chain(m, base, bits_n)
    # r in [1, 2**|n|] for n > 0, in [2**-|n|, 1] for n < 0 (one rounding either way)
    r = _dd_reciprocal(m, hi, lo) if n < 0 else m.add(hi, lo)
    s = b.mul(k, m.i(n))
    if bits_n > _INT_POWER_HALVING_MAX:
        # r = f * 2**e with f in [1, 2): scale f by 2**(s + e) instead
        r_bits = m.bits(r)
        s = b.add(s, b.sub(b.lshr(r_bits, m.i(m.f.mant)), m.i(m.f.bias)))
        r = m.from_bits(b.or_(b.and_(r_bits, m.i(mant_mask)), m.i(m.f.bias << m.f.mant)))
        low, high = -1078, 1024
    else:
        # beyond these, r * 2**s is below 2**-1076 (rounds to 0) or at least 2**1024 (inf)
        low, high = (-1076 - bits_n, 1024) if n > 0 else (-1076, 1024 + bits_n)
        low -= low % 2
    s = b.select(b.icmp_signed("<", s, m.i(low)), m.i(low), s)
    s = b.select(b.icmp_signed(">", s, m.i(high)), m.i(high), s)
    # r * 2**s as Em.scale computes it (the first factor exact, the second rounds once), but
    # floor(s / 2) by a logical shift of s - low >= 0 (low is even): AVX2 has no 64-bit
    # arithmetic shift, and LLVM's substitute took six instructions
    half = b.add(b.lshr(b.sub(s, m.i(low)), m.i(1)), m.i(low // 2))
    y = m.mul(m.mul(r, m.pow2(half)), m.pow2(b.sub(s, half)))
    if n % 2:
        y = m.copysign(y, x)
    return m.sel(m.isnan(x), x, y)


# -- huge trigonometric arguments: libm for those lanes only --------------------------------
def _cconv(module: ir.Module) -> str:
    """The lane helper's calling convention: on x86-64 it preserves every register, so the
    vector function around it needs no spill code for a call it almost never makes."""
    return "preserve_allcc" if module.triple.startswith("x86_64") else ""


def _huge_fallback(m: Em, x: ir.Value, kind: str, huge: ir.Value) -> ir.Value:
    """libm's result where ``huge`` holds (rare lanes), else x: the caller selects with it.

    Only the out-of-line functions of :func:`support_module` use this, so a branch costs
    nothing in a kernel's loop: scalar code calls libm in it, vector code branches when
    any lane is huge, to a cold function that calls libm lane by lane.
    """
    b = m.b
    libm = _libm(b.module, kind, m.f)
    entry = b.block
    then = b.append_basic_block(f"{kind}.huge")
    done = b.append_basic_block(f"{kind}.done")
    if m.width == 1:
        any_huge = huge
    else:
        mask = ir.IntType(m.width)
        any_huge = b.icmp_unsigned("!=", b.bitcast(huge, mask), mask(0))
    b.cbranch(any_huge, then, done).set_weights([1, 1 << 20])
    b.position_at_end(then)
    if m.width == 1:
        exact = b.call(libm, [x])
    else:
        lanes = _huge_lanes(b.module, f"{b.function.name}.{kind}.lanes", libm, m.ty, m.bool)
        exact = b.call(lanes, [x, huge], cconv=_cconv(b.module))
    b.branch(done)
    b.position_at_end(done)
    out = b.phi(m.ty)
    out.add_incoming(exact, then)
    out.add_incoming(x, entry)
    return out


def _libm(module: ir.Module, kind: str, fmt: Format) -> ir.Function:
    name = kind + ("f" if fmt.ty == F32 else "")
    found = module.globals.get(name)
    return found or ir.Function(module, ir.FunctionType(fmt.ty, [fmt.ty]), name)


def _huge_lanes(module: ir.Module, name: str, libm: ir.Function, vty: ir.VectorType,
                mty: ir.VectorType) -> ir.Function:
    """The masked lanes of x through libm, one at a time (cold, size-optimised)."""
    fn = ir.Function(module, ir.FunctionType(vty, [vty, mty]), name)
    fn.linkage = "internal"
    fn.calling_convention = _cconv(module)  # it saves what libm clobbers, only when it runs
    for attr in ("noinline", "nounwind", "cold", "minsize", "optsize"):
        fn.attributes.add(attr)
    x, mask = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    entry = b.block
    loop = fn.append_basic_block("lane")
    call = fn.append_basic_block("call")
    nxt = fn.append_basic_block("next")
    done = fn.append_basic_block("done")
    b.branch(loop)
    b.position_at_end(loop)
    i = b.phi(I32)
    acc = b.phi(vty)
    b.cbranch(b.extract_element(mask, i), call, nxt)
    b.position_at_end(call)
    new = b.insert_element(acc, b.call(libm, [b.extract_element(x, i)]), i)
    b.branch(nxt)
    b.position_at_end(nxt)
    out = b.phi(vty)
    out.add_incoming(acc, loop)
    out.add_incoming(new, call)
    i_next = b.add(i, I32(1))
    i.add_incoming(I32(0), entry)
    i.add_incoming(i_next, nxt)
    acc.add_incoming(x, entry)
    acc.add_incoming(out, nxt)
    b.cbranch(b.icmp_unsigned("<", i_next, I32(vty.count)), loop, done)
    b.position_at_end(done)
    b.ret(out)
    return fn


# -- huge trigonometric arguments without libm: Payne-Hanek reduction -------------------------
# Where there is no libm (NVPTX), arguments beyond TRIG_LIMIT are reduced exactly: x = m 2^e
# with m an integer, so x * 2/pi mod 4 needs only the bits of 2/pi from 2^(1-e) on (the
# earlier ones contribute multiples of 4). A window of 192 of them times m gives the quadrant
# and 128 bits of the fraction, enough for the worst cancellation (float64's hardest argument
# is within 2**-61 quarter turns of a multiple of pi/2, leaving 66 good bits). Integer code,
# computed only for such lanes (a branch: scalar code only).
I128 = ir.IntType(128)
PH_WINDOW_WORDS = 3  # 64-bit words of 2/pi taken per argument
# a window starts at 2/pi's bit e - 1 (e >= -62 here), stored after 64 zero bits
PH_START = 62


@cache  # 0.2 ms: computed on first use, not when lazyarr is imported
def two_over_pi_words(count: int) -> tuple[int, ...]:
    """floor(2/pi * 2**(64 * (count - 1))) as ``count`` 64-bit words, most significant first
    (the first is 0: 2/pi < 1), from Machin's formula in integers with 64 guard bits.
    ``tests/test_cuda_nogpu.py`` checks the words against mpmath."""
    bits = 64 * (count - 1)
    one = 1 << (bits + 64)

    def arccot(n: int) -> int:  # atan(1/n) * one
        total = term = one // n
        k, sign = 3, -1
        while term:
            term //= n * n
            total += sign * (term // k)
            k, sign = k + 2, -sign
        return total

    pi = 4 * (4 * arccot(5) - arccot(239))
    value = (one << (bits + 1)) // pi
    return tuple((value >> (64 * (count - 1 - k))) & ((1 << 64) - 1) for k in range(count))


# float64's largest exponent puts the window's last word at index 19
PH_TABLE_WORDS = 20


def _two_over_pi_table(module: ir.Module) -> ir.GlobalVariable:
    name = "lazyarr.math.two_over_pi"
    gv = module.globals.get(name)
    if gv is None:
        words = two_over_pi_words(PH_TABLE_WORDS)
        ty = ir.ArrayType(I64, len(words))
        gv = ir.GlobalVariable(module, ty, name)
        gv.linkage = "internal"
        gv.global_constant = True
        gv.align = 8
        # as signed values: what LLVM's parser reads back as the same bits
        gv.initializer = ir.Constant(ty, [w - (1 << 64) if w >> 63 else w for w in words])
    return gv


def _window(b: ir.IRBuilder, table: ir.GlobalVariable, start: ir.Value, k: int) -> ir.Value:
    """Bits start + 64k .. start + 64k + 63 of the table, as an i64."""
    word = b.add(b.lshr(start, I64(6)), I64(k))

    def load(index: ir.Value) -> ir.Value:
        ptr = b.gep(table, [I32(0), index], inbounds=True, source_etype=table.value_type)
        return b.zext(b.load(ptr, typ=I64), I128)

    pair = b.or_(b.shl(load(word), I128(64)), load(b.add(word, I64(1))))
    shifted = b.shl(pair, b.zext(b.and_(start, I64(63)), I128))
    return b.trunc(b.lshr(shifted, I128(64)), I64)


def _quarter_turns(m: Em, a: ir.Value) -> tuple[ir.Value, ir.Value]:
    """(q, f) with a * 2/pi = q + f * 2**-128 (mod 4): q an i64, f a signed i128 (so the
    fraction lies in [-1/2, 1/2)), for finite a of exponent at least mant - 62 (here: a
    beyond TRIG_LIMIT). f is truncated, not rounded: it is low by less than 2**0.1."""
    b, fmt = m.b, m.f
    bits = m.bits(a) if m.wide else b.zext(m.bits(a), I64)
    mant = b.or_(b.and_(bits, I64((1 << fmt.mant) - 1)), I64(1 << fmt.mant))
    e = b.sub(b.lshr(bits, I64(fmt.mant)), I64(fmt.bias + fmt.mant))  # a = mant * 2**e
    start = b.add(e, I64(PH_START))
    table = _two_over_pi_table(b.module)
    wide_mant = b.zext(mant, I128)
    # mant * window = the product's words p0 (least significant) .. p2; its bits above 2**190
    # are whole quarter turns, of which only two bits matter
    words, carry = [], I128(0)
    for k in reversed(range(PH_WINDOW_WORDS)):
        t = b.add(b.mul(wide_mant, b.zext(_window(b, table, start, k), I128)), carry)
        words.append(b.trunc(t, I64))
        carry = b.lshr(t, I128(64))
    p0, p1, p2 = words
    frac = b.or_(b.or_(b.shl(b.zext(p2, I128), I128(66)), b.shl(b.zext(p1, I128), I128(2))),
                 b.lshr(b.zext(p0, I128), I128(62)))
    return b.lshr(p2, I64(62)), frac


def _payne_hanek(m: Em, a: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """(r_hi, r_lo, q) with a = q*pi/2 + r_hi + r_lo (mod 2pi), |r| <= pi/4, for any finite
    a beyond ``TRIG_LIMIT``: exact quadrant, r to about twice the format's precision."""
    b, prec = m.b, m.f.mant + 1
    q, frac = _quarter_turns(m, a)
    # a fraction of one half or more is one of the next quarter turn, less than one half
    neg = b.icmp_signed("<", frac, I128(0))
    q = b.add(q, b.zext(neg, I64))
    mag = b.select(neg, b.sub(I128(0), frac), frac)
    # normalise, then split into two floats of ``prec`` bits each (both conversions exact)
    lz = b.ctlz(mag, ir.Constant(I1, 0))
    lz = b.select(b.icmp_unsigned(">", lz, I128(127)), I128(127), lz)  # only for mag == 0
    norm = b.shl(mag, lz)
    hi_bits = b.trunc(b.lshr(norm, I128(128 - prec)), I64)
    lo_bits = b.and_(b.trunc(b.lshr(norm, I128(128 - 2 * prec)), I64), I64((1 << prec) - 1))
    shift = b.trunc(lz, m.ity)
    hi = m.scale(b.uitofp(hi_bits, m.ty), b.sub(m.i(-prec), shift))
    lo = m.scale(b.uitofp(lo_bits, m.ty), b.sub(m.i(-2 * prec), shift))
    hi, lo = m.sel(neg, m.neg(hi), hi), m.sel(neg, m.neg(lo), lo)
    # times pi/2 in double-word arithmetic
    p, pe = m.two_prod(hi, m.k(PIO2_HI))
    r_hi, r_lo = m.fast_two_sum(p, m.fma(hi, m.k(PIO2_LO), m.fma(lo, m.k(PIO2_HI), pe)))
    qi = q if m.wide else b.trunc(q, m.ity)
    return r_hi, r_lo, qi


def _huge_reduced(m: Em, a: ir.Value, huge: ir.Value) -> tuple[ir.Value, ir.Value, ir.Value]:
    """:func:`_payne_hanek` of a where ``huge`` holds (zeros elsewhere), behind a branch:
    ordinary arguments skip its ~100 integer instructions."""
    if m.width != 1:
        raise NotImplementedError("the Payne-Hanek reduction is emitted for scalars only")
    b = m.b
    entry = b.block
    then = b.append_basic_block("trig.huge")
    done = b.append_basic_block("trig.reduced")
    b.cbranch(huge, then, done).set_weights([1, 1 << 20])
    b.position_at_end(then)
    reduced = _payne_hanek(m, a)
    end = b.block
    b.branch(done)
    b.position_at_end(done)
    out = []
    for value, zero in zip(reduced, (m.k(0.0), m.k(0.0), m.i(0)), strict=True):
        phi = b.phi(value.type)
        phi.add_incoming(value, end)
        phi.add_incoming(zero, entry)
        out.append(phi)
    return out[0], out[1], out[2]


# -- exp2, log2, log10, cbrt, hypot ------------------------------------------------------------
# log2(e) and log10(e) as double words (hi + lo, |lo| <= ulp(hi)/2): the float64 log is a
# double word (_log_dd), and its product with these keeps ~2^-66 relative, so exact powers
# of 2 and 10 (log2(8) == 3, log10(1000) == 3) come out exact after the one final rounding
LOG2E_DD = (1.4426950408889634, 2.0355273740931033e-17)
LOG10E_DD = (0.4342944819032518, 1.098319650216765e-17)
LOG10E = 0.4342944819032518  # float32 results: the float64 log times this, rounded once
# cbrt(m) ~ P(m) on [1, 2], fitted as the tables above (Remez, relative error, weight
# 1/cbrt(m), basis m^0..m^4, coefficients rounded to float64 lowest order first): 2^-16.7.
# Only a first guess: one plain Newton step takes it to ~2^-33, one more with an FMA
# residual to ~2^-66, so the float64 result rounds once from a value far inside half an ULP
CBRT_P = (0.5069793925206802, 0.7181539317040019, -0.3006115904806954, 0.08609137943406044,
          -0.010603905049031722)
CBRT2 = (0.7937005259840998, 1.0, 1.2599210498948732)  # 2^(r/3), r = -1, 0, 1


def _exp2(m: Em, x: ir.Value) -> ir.Value:
    """2**x: x = k + r with k = round(x) and r = x - k exact (|r| <= 1/2; no reduction
    error, unlike exp), then 2**r = exp(r ln2) through exp's core with r ln2 a double word.
    Integers give r = 0, so 2**k exactly (subnormal results included)."""
    # beyond these the result is 0 or inf whatever the rounding; clamping keeps k small
    xc = m.clamp(x, -1080.0 if m.wide else -160.0, 1030.0 if m.wide else 130.0)
    k, ki = m.round_int(xc, 1.0)
    r = m.sub(xc, k)  # exact: k and xc share the binade's grid
    rh, rl = m.two_prod(r, m.k(LN2_HI))
    rl = m.fma(r, m.k(LN2_LO), rl)
    rh, rl = m.fast_two_sum(rh, rl)
    hi, t, n = _exp_core(m, rh, rl)
    y = m.scale(_one_plus(m, hi, t), m.b.add(n, ki))
    return m.sel(m.isnan(x), x, y)


def _log_scaled(m: Em, x: ir.Value, c: tuple[float, float], c32: float) -> ir.Value:
    """c * log(x) (c = log2(e) or log10(e)) with log's special values. float64: the
    double-word log times the double-word c, rounded once; float32: the float64 log times
    c in float64 (relative error ~2^-51), rounded once to float32."""
    if m.wide:
        lh, ll = _log_dd(m, x)
        ph, pl = m.dd_mul((lh, ll), (m.k(c[0]), m.k(c[1])))
        y = m.add(ph, pl)
    else:
        d = Em(m.b, FORMATS["double"], m.width)
        y = m.b.fptrunc(d.mul(_log(d, m.b.fpext(x, d.ty)), d.k(c32)), m.ty)
    return _log_specials(m, x, y, m.k(0.0))


def _log2(m: Em, x: ir.Value) -> ir.Value:
    return _log_scaled(m, x, LOG2E_DD, LOG2E[0])


def _log10(m: Em, x: ir.Value) -> ir.Value:
    return _log_scaled(m, x, LOG10E_DD, LOG10E)


def _cbrt64(m: Em, x: ir.Value) -> ir.Value:
    """cbrt(x) in float64: |x| = 2^(3q + r) * mant, r in {-1, 0, 1}; a polynomial guess for
    cbrt(mant) times 2^(r/3), two Newton steps on t^3 = 2^r mant, then 2^q (exact)."""
    b = m.b
    a = m.abs(x)
    # subnormals: scale by 2^54 (a multiple of 3, undone as 2^-18 in the result)
    tiny = m.cmp("<", a, m.k(2.0 ** -1022))
    a = m.sel(tiny, m.mul(a, m.k(2.0 ** 54)), a)
    bits = m.bits(a)
    e = b.sub(b.lshr(bits, m.i(52)), m.i(1023))
    mant = m.from_bits(b.or_(b.and_(bits, m.i((1 << 52) - 1)), m.i(1023 << 52)))  # [1, 2)
    # q = round(e / 3): e/3 is never within 1/6 of a half-integer, so 1/3 rounded is fine
    _, q = m.round_int(m.int_to_float(e), 1.0 / 3.0)
    r = b.sub(e, b.mul(q, m.i(3)))  # -1, 0 or 1
    y = m.mul(mant, m.pow2(r))  # exact: the value whose cube root is wanted, in [1/2, 4)
    is_lo, is_hi = b.icmp_signed("<", r, m.i(0)), b.icmp_signed(">", r, m.i(0))
    c = m.sel(is_lo, m.k(CBRT2[0]), m.sel(is_hi, m.k(CBRT2[2]), m.k(1.0)))
    t = m.mul(m.poly(mant, CBRT_P), c)  # ~2^-16.7 relative
    # Newton: t - (t^3 - y) / (3 t^2); the first in plain arithmetic (~2^-33)
    t2 = m.mul(t, t)
    t = m.sub(t, m.div(m.fma(t2, t, m.neg(y)), m.mul(m.k(3.0), t2)))
    # the second with the residual t^3 - y nearly exact: t*t as a double word, the product
    # by t and the subtraction of y in one FMA (the result is ~2^-33 y: its rounding error
    # is ~2^-86 y)
    h, hl = m.two_prod(t, t)
    res = m.fma(hl, t, m.fma(h, t, m.neg(y)))
    t = m.sub(t, m.div(res, m.mul(m.k(3.0), h)))
    qs = b.sub(q, b.select(tiny, m.i(18), m.i(0)))
    out = m.copysign(m.mul(t, m.pow2(qs)), x)
    # zeros, infinities and NaN are their own cube roots
    special = b.or_(m.cmp("==", x, m.k(0.0)), m.isnan(m.sub(x, x)))
    return m.sel(special, x, out)


def _cbrt(m: Em, x: ir.Value) -> ir.Value:
    if m.wide:
        return _cbrt64(m, x)
    # float32: the float64 result (within ~0.5 ULP of float64) rounded once more
    d = Em(m.b, FORMATS["double"], m.width)
    return m.b.fptrunc(_cbrt64(d, m.b.fpext(x, d.ty)), m.ty)


def _hypot64(m: Em, x: ir.Value, y: ir.Value) -> ir.Value:
    """sqrt(x^2 + y^2) in float64 without overflow or underflow: both scaled by 2^-e (e the
    larger one's exponent), the sum of squares as a double word (FMA), its square root
    corrected once, then 2^e (exact unless the result overflows)."""
    b = m.b
    ax, ay = m.abs(x), m.abs(y)
    big = m.sel(m.cmp(">", ax, ay), ax, ay)
    small = m.sel(m.cmp(">", ax, ay), ay, ax)
    e = b.sub(b.lshr(m.bits(big), m.i(52)), m.i(1023))
    # keep 2^-e and 2^e normal: big * 2^-e then lies in [2^-52, 4)
    e = b.select(b.icmp_signed("<", e, m.i(-1022)), m.i(-1022), e)
    e = b.select(b.icmp_signed(">", e, m.i(1022)), m.i(1022), e)
    down = m.pow2(b.sub(m.i(0), e))
    u, v = m.mul(big, down), m.mul(small, down)  # exact, or v negligible beside u
    uh, ul = m.two_prod(u, u)
    vh, vl = m.two_prod(v, v)
    sh, sl = m.fast_two_sum(uh, vh)
    sl = m.add(sl, m.add(ul, vl))
    # sqrt(sh + sl) = r + (sh - r^2 + sl) / (2r), the residual sh - r^2 exact by FMA
    r = m.intrinsic("sqrt", sh)
    corr = m.div(m.add(m.fma(m.neg(r), r, sh), sl), m.add(r, r))
    out = m.mul(m.add(r, corr), m.pow2(e))
    out = m.sel(m.cmp("==", big, m.k(0.0)), m.k(0.0), out)
    return _hypot_specials(m, x, y, ax, ay, out)


def _hypot_specials(m: Em, x: ir.Value, y: ir.Value, ax: ir.Value, ay: ir.Value,
                    out: ir.Value) -> ir.Value:
    """C99 (and NumPy): an infinite argument gives +inf even with a NaN; else NaN passes."""
    inf = m.k(float("inf"))
    out = _nan_argument(m, x, y, out)
    return m.sel(m.b.or_(m.cmp("==", ax, inf), m.cmp("==", ay, inf)), inf, out)


def _hypot(m: Em, x: ir.Value, y: ir.Value) -> ir.Value:
    if m.wide:
        return _hypot64(m, x, y)
    # float32: in float64 the squares are exact and cannot overflow or underflow; the sum
    # and the square root round once each, far below float32's half ULP (~0.5 ULP total)
    d = Em(m.b, FORMATS["double"], m.width)
    xd, yd = m.b.fpext(x, d.ty), m.b.fpext(y, d.ty)
    s = d.intrinsic("sqrt", d.fma(xd, xd, d.mul(yd, yd)))
    out = m.b.fptrunc(s, m.ty)
    return _hypot_specials(m, x, y, m.abs(x), m.abs(y), out)


# -- the function table ------------------------------------------------------------------------
Body = Callable[..., ir.Value]
FUNCTIONS: dict[str, tuple[int, Body]] = {
    "exp": (1, _exp), "expm1": (1, _expm1), "log": (1, _log), "log1p": (1, _log1p),
    "sin": (1, _sin), "cos": (1, _cos), "tan": (1, _tan), "tanh": (1, _tanh),
    "sinh": (1, _sinh), "cosh": (1, _cosh), "arctan": (1, _arctan), "pow": (2, _pow),
    "exp2": (1, _exp2), "log2": (1, _log2), "log10": (1, _log10), "cbrt": (1, _cbrt),
    "hypot": (2, _hypot),
}
# arcsin, arccos, arctan2, arcsinh, arccosh, arctanh: in mathlib_inverse.py, which uses the
# helpers above. Imported here, after them and before SUPPORT_SYMBOLS is built from this
# table; that module imports its helpers from here at its end, so either may load first.
from . import mathlib_inverse  # noqa: E402

FUNCTIONS.update(mathlib_inverse.FUNCTIONS)
# Support-only functions with several results, returned as a struct: a kernel needing both
# sin(x) and cos(x) calls sincos(x) (inlined, LLVM shared their reduction; calls cannot).
PAIRS: dict[str, tuple[int, Body]] = {"sincos": (1, _sincos)}
_TRIG = frozenset({"sin", "cos", "tan", "sincos"})


def _table(name: str) -> tuple[int, Body]:
    return FUNCTIONS[name] if name in FUNCTIONS else PAIRS[name]


def _emit(m: Em, name: str, args: Sequence[ir.Value], libm_fallback: bool,
          reduce_huge: bool = False) -> ir.Value | list[ir.Value]:
    body = _table(name)[1]
    if reduce_huge and name in _TRIG:
        return body(m, *args, reduce_huge=True)
    return body(m, *args, True) if libm_fallback and name in _TRIG else body(m, *args)


# -- inline: the whole function in the caller's module (targets without libm) -----------------
def function(module: ir.Module, name: str, ty: ir.Type, reduce_huge: bool = False
             ) -> ir.Function:
    """The module's internal, always-inlined ``lazyarr.math.<name>.<f32|f64>``, defined on
    first use. sin/cos/tan give NaN beyond ``TRIG_LIMIT`` (there is no libm to ask), unless
    ``reduce_huge``: then such arguments take the Payne-Hanek reduction (``_payne_hanek``,
    under a branch), and every finite argument gets a result (NVPTX uses this)."""
    fmt = format_of(ty)
    exact = reduce_huge and name in _TRIG
    full = f"lazyarr.math.{name}.{fmt.suffix}{'.ph' if exact else ''}"
    fn = module.globals.get(full)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * FUNCTIONS[name][0]), full)
    fn.linkage = "internal"
    for attr in ("alwaysinline", "nounwind"):
        fn.attributes.add(attr)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(_emit(Em(b, fmt), name, fn.args, libm_fallback=False, reduce_huge=exact))
    return fn


def call(builder: ir.IRBuilder, name: str, args: Sequence[ir.Value],
         reduce_huge: bool = False) -> ir.Value:
    """Emit ``name(*args)`` (float or double scalars) inline at the builder's position."""
    fn = function(builder.module, name, args[0].type, reduce_huge)
    return builder.call(fn, list(args))


# -- out of line: one support module per function, compiled once per process (CPU) -------------
# A kernel that inlined these doubled or tripled its IR (the vector loop and the scalar
# remainder each hold a copy), and LLVM's time grew with it: 40-80 ms for a ten-op kernel
# with three functions. So on the CPU each function is compiled once, into a support module
# (backends/cpu.py loads it, and keeps its object code in the disk cache), with a scalar
# version and vector versions of it. A kernel only declares them and calls the scalar one,
# with a ``vector-function-abi-variant`` attribute (LLVM's vector function ABI) naming the
# vector versions: the loop vectoriser then calls the vector version once per vector.
SUPPORT_PREFIX = "lazyarr_math_"
# The lanes a loop calling these computes per call (codegen/common.py's counted_loop asks
# the vectoriser for them). One AVX2 register holds 4 float64 or 8 float32, and one vector
# of a function is one long chain of dependent FMAs: inlined, LLVM interleaved the chains
# of a loop's several functions, but a call runs one function at a time. Four registers
# per call give the core four independent chains again, and load each constant once for
# all four (measured on Zen 3: one register per call was 15-40% slower than inlined math,
# four as fast or faster).
LOOP_WIDTHS = {"f64": 16, "f32": 32}
# Vector versions per format: the loop widths (float32 at 16 too, for loops that also call
# float64 functions: the narrower width wins), and one AVX2 register's worth in case the
# vectoriser settles on its own width after all (it may narrow a loop it cannot widen
# that far). Each version costs compile time once per process (or once, with the disk cache).
VECTOR_WIDTHS = {"f64": (4, 16), "f32": (8, 16, 32)}


def support_symbol(name: str, fmt: Format) -> str:
    """The scalar function's symbol: ``lazyarr_math_<name>_<f32|f64>``."""
    return f"{SUPPORT_PREFIX}{name}_{fmt.suffix}"


def vector_symbol(name: str, fmt: Format, width: int) -> str:
    """The vector version's symbol, mangled as LLVM's vector function ABI names variants."""
    return f"_ZGV_LLVM_N{width}{'v' * _table(name)[0]}_{support_symbol(name, fmt)}"


SUPPORT_SYMBOLS: dict[str, tuple[str, Format]] = {
    support_symbol(name, fmt): (name, fmt) for name in [*FUNCTIONS, *PAIRS]
    for fmt in FORMATS.values()}


def _signature(name: str, fmt: Format, width: int) -> ir.FunctionType:
    ty = _lanes(fmt.ty, width)
    result = ir.LiteralStructType([ty, ty]) if name in PAIRS else ty
    return ir.FunctionType(result, [ty] * _table(name)[0])


def support_module(symbol: str, triple: str = "", layout: str = "") -> ir.Module:
    """The support module defining ``symbol`` (a key of ``SUPPORT_SYMBOLS``) and its vector
    versions, with libm for huge trigonometric arguments."""
    name, fmt = SUPPORT_SYMBOLS[symbol]
    module = ir.Module(name=symbol)
    module.triple, module.data_layout = triple, layout
    for width in (1, *VECTOR_WIDTHS[fmt.suffix]):
        fn = ir.Function(module, _signature(name, fmt, width),
                         symbol if width == 1 else vector_symbol(name, fmt, width))
        fn.attributes.add("nounwind")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        result = _emit(Em(b, fmt, width), name, fn.args, libm_fallback=True)
        if isinstance(result, list):
            packed = ir.Constant(fn.function_type.return_type, None)
            for k, value in enumerate(result):
                packed = b.insert_value(packed, value, k)
            result = packed
        b.ret(result)
    return module


class _VariantAttributes(ir.instructions.CallInstrAttributes):
    """Call-site attributes with LLVM's vector-function ABI variant list (a string attribute,
    which llvmlite's attribute sets do not list)."""

    def __init__(self, variants: str) -> None:
        self._known = frozenset({f'"vector-function-abi-variant"="{variants}"'})
        super().__init__(self._known)


def _declare(module: ir.Module, symbol: str, fnty: ir.FunctionType) -> ir.Function:
    fn = ir.Function(module, fnty, symbol)
    # pure (huge arguments reach libm only where it sets no errno), so LLVM may vectorise,
    # hoist or drop the call
    for attr in ("nounwind", "readnone"):
        fn.attributes.add(attr)
    return fn


def _declare_support(module: ir.Module, name: str, fmt: Format) -> ir.Function:
    symbol = support_symbol(name, fmt)
    fn = module.globals.get(symbol)
    if fn is None:
        fn = _declare(module, symbol, _signature(name, fmt, 1))
        _keep_alive(module, [_declare(module, vector_symbol(name, fmt, w),
                                      _signature(name, fmt, w))
                             for w in VECTOR_WIDTHS[fmt.suffix]])
    return fn


def _keep_alive(module: ir.Module, fns: list[ir.Function]) -> None:
    """Add ``fns`` to @llvm.compiler.used: only an attribute string refers to them, and the
    vectoriser ignores a variant whose declaration is gone."""
    gv = module.globals.get("llvm.compiler.used")
    if gv is None:
        gv = ir.GlobalVariable(module, ir.ArrayType(PTR, 0), "llvm.compiler.used")
        gv.linkage = "appending"
        gv.section = "llvm.metadata"
        gv.initializer = ir.Constant(gv.value_type, [])
    items = list(gv.initializer.constant) + fns
    # the array grows in place: llvmlite prints the global from these two fields
    gv.value_type = ir.ArrayType(PTR, len(items))
    gv.initializer = ir.Constant(gv.value_type, items)


def call_support(builder: ir.IRBuilder, name: str, args: Sequence[ir.Value]) -> ir.Value:
    """Emit a call of the out-of-line ``name`` (float or double scalars; a struct of the
    results for ``PAIRS``): the loop vectoriser turns it into one call of a vector version
    per vector."""
    fmt = format_of(args[0].type)
    call = builder.call(_declare_support(builder.module, name, fmt), list(args))
    scalar = support_symbol(name, fmt)
    call.attributes = _VariantAttributes(",".join(
        f"_ZGV_LLVM_N{w}{'v' * len(args)}_{scalar}({vector_symbol(name, fmt, w)})"
        for w in VECTOR_WIDTHS[fmt.suffix]))
    return call


def loop_width(blocks: Sequence[ir.Block]) -> int | None:
    """The vector width to ask for in a loop made of ``blocks`` (None: the vectoriser
    chooses). None too when the loop calls a function with no vector version (libm's, such
    as fmod): the loop stays scalar either way, and LLVM prints a remark on stderr,
    whatever its options, for each loop it was asked to vectorise and could not."""
    names = [getattr(i.callee, "name", "") for block in blocks for i in block.instructions
             if isinstance(i, ir.CallInstr)]
    if any(n not in SUPPORT_SYMBOLS and not n.startswith("llvm.") for n in names):
        return None
    return min((LOOP_WIDTHS[SUPPORT_SYMBOLS[n][1].suffix] for n in names
                if n in SUPPORT_SYMBOLS), default=None)
