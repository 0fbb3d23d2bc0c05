"""The trigonometric family of :mod:`mathlib`: sin, cos, tan (and sincos, both from one
reduction), arctan, and the two ways past the reduction's limit: libm for those lanes (CPU
support modules) or an exact Payne-Hanek reduction (inlined code, NVPTX)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

from llvmlite import ir

from .mathlib_core import F32, I1, I32, I64, Em, Format

# -- constants: (float64 value, float32 value); splits hold more bits than one float ----------
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

# -- polynomial tables (float64, float32) --------------------------------------------------
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
