"""The op table: one row per elementwise op, holding every fact about it.

Each row names the NumPy ufunc that is both the reference implementation (the interpreter
backend calls it) and the source of type rules: lazyarr asks the ufunc itself which inner loop
NumPy 2 would pick (``ufunc.resolve_dtypes``), so type promotion, weak Python scalars (NEP 50)
and "no loop for these types" errors match NumPy by construction. The row also says which math
routine float loops call (lazyarr's own ``codegen/mathlib`` function, the C libm name, which
libdevice provides as ``__nv_<name>``) and what it costs, how the op is displayed, and which
targets compile it. A composite op (``expand``) is rewritten into other ops as it is built.

Scalar emitters (LLVM code) stay in ``codegen/scalar*.py`` keyed by Op: this layer must not
import llvmlite. ``docs/ops.md`` says how to add an op.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lazyarr.ir import derivatives as d
from lazyarr.ir import dtypes, philox
from lazyarr.ir.graph import Node, Op, make, scalar_value

# What one math-routine call costs per element, in plain-arithmetic units (measured:
# exp(-a)*sin(b)+cos(c) ~25 ns per float64 element on one Zen 3 core, 2*a+3*b ~1 ns). The CPU
# backend weighs elements by it to decide whether threads pay off.
CALL_COST = 10


class Form(enum.Enum):
    """How codegen calls a row's C routine when lazyarr's own math does not replace it."""

    CALL = "call"  # a call of the C function (``name`` / ``namef``)
    INTRINSIC = "intrinsic"  # LLVM's ``llvm.<name>`` intrinsic, which becomes the C call
    FREM = "frem"  # LLVM's ``frem`` instruction: C's fmod on the CPU, __nv_fmod on NVPTX
    USES = "uses"  # the op's emitter calls the routines of the ops in ``uses``


@dataclass(frozen=True, slots=True)
class MathCall:
    """The math routine an op calls on float loops (its other loops compute inline)."""

    libm: str = ""  # C name (float32 appends "f"); libdevice's is __nv_<libm>[f]
    mathlib: str = ""  # lazyarr's vectorised function of that name (codegen/mathlib FUNCTIONS)
    form: Form = Form.CALL
    uses: tuple[Op, ...] = ()  # Form.USES: whose routines
    cost: int = CALL_COST


# Display builders take the sympy module (imported by display only when asked) and operands.
SympyForm = str | Callable[..., Any] | None
Reference = Callable[..., np.ndarray]


@dataclass(frozen=True, slots=True)
class OpRow:
    """Everything lazyarr knows about one op.

    ``ufunc``: NumPy's ufunc (dtype rule via ``resolve_dtypes``, and the interpreter's
    implementation unless ``reference`` is given); for ``nout == 2`` the op is the ufunc's
    output number ``output``. ``intrinsic``: an LLVM intrinsic every target lowers to
    instructions (sqrt, fabs, floor, ...). ``math``: the routine float loops call. ``text`` and
    ``latex``: templates over the operands ``{0}, {1}``; ``sympy``: a sympy function name or a
    builder ``(sp, *operands)`` used for LaTeX instead. ``unsupported``: target -> why it
    cannot compile the op at all. ``expand``: the op as other ops, applied as it is built
    (such an op never reaches a kernel). ``public``: a ``lazyarr`` function of the op's name.
    ``derivative``: the op's vector-Jacobian product (``lazyarr/ir/derivatives.py``); None
    for an op with no float result or none lazyarr can differentiate (nextafter).
    """

    op: Op
    ufunc: Any
    nin: int
    nout: int = 1
    output: int = 0
    intrinsic: str = ""
    math: MathCall | None = None
    math_kinds: str = "f"
    text: str = ""
    latex: str = ""
    sympy: SympyForm = None
    unsupported: tuple[tuple[str, str], ...] = ()
    reference: Reference | None = None
    expand: Callable[[Node], Node] | None = None
    public: bool = True
    derivative: d.Rule | None = None
    # what one element costs beyond plain arithmetic, for an op that is many instructions
    # inline (PHILOX: ten rounds of multiplies), in the units of MathCall.cost
    cost: int = 0

    @property
    def name(self) -> str:
        return self.op.value

    @property
    def function(self) -> str:
        """The NumPy (and lazyarr) function name: the ufunc's, for every output."""
        return getattr(self.ufunc, "__name__", self.name)

    def calls(self, loop_dtype: np.dtype) -> MathCall | None:
        """The math routine the op calls on ``loop_dtype``, if any."""
        return self.math if self.math is not None and loop_dtype.kind in self.math_kinds \
            else None

    def plain(self, args: list[str]) -> str:
        """The op applied to operand texts, in plain text."""
        if self.text:
            return self.text.format(*args)
        return f"{self.name}({', '.join(args)})"

    def evaluate(self, node: Node, args: list[np.ndarray]) -> np.ndarray:
        """The op's value with NumPy (what the interpreter backend computes)."""
        if self.reference is not None:
            return self.reference(node, *args)
        result = self.ufunc(*args)
        return result[self.output] if self.nout > 1 else result


# -- references where the ufunc is not lazyarr's rule ------------------------------------------
def _reciprocal(node: Node, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "iu":
        return np.reciprocal(x)
    # lazyarr's integer rule: 1 // x, and 0 for x == 0 (NumPy's value there is platform-defined)
    result = np.where(x == 1, x.dtype.type(1), x.dtype.type(0))
    if x.dtype.kind == "i":  # unsigned types have no -1 (building one raises OverflowError)
        result = np.where(x == -1, x.dtype.type(-1), result)
    return result


def _power(node: Node, x: np.ndarray, e: np.ndarray) -> np.ndarray:
    """``x ** e``; floats with C's pow at ``e == 0.5``, whatever the exponent's strides.

    NumPy's float power loop computes ``x ** 0.5`` as ``sqrt(x)`` when the exponent's inner
    stride is 0 (a 0-d or broadcast array), which differs from pow at -inf (NaN, not inf) and
    -0.0 (-0.0, not 0.0). Scalar exponents are rewritten to sqrt as they are built
    (``lazyarr/front/canon.py``); an array exponent means pow on every backend.
    """
    result = np.power(x, e)
    if node.dtype.kind != "f":
        return result
    fix = (e == 0.5) & ((x == -np.inf) | ((x == 0) & np.signbit(x)))
    if not fix.any():
        return result
    return np.where(fix, np.where(x == 0, 0.0, np.inf).astype(result.dtype), result)


def _power_int(node: Node, x: np.ndarray) -> np.ndarray:
    # what the user compares with: NumPy's power with the exponent as its loop saw it (the
    # compiled backends square instead, within 1 ULP of the exact result, 2 for n = 3)
    return np.power(x, node.dtype.type(node.arg))


def _tanh_fast_reference(node: Node, x: np.ndarray) -> np.ndarray:
    # the exact function, float32 rounded once from float64 (the fast op approximates it)
    if x.dtype == np.float32:
        return np.tanh(x.astype(np.float64)).astype(np.float32)
    return np.tanh(x)


def _erf_reference(name: str) -> Reference:
    """C's erf/erfc (``math``) element by element, float32 computed in float64 then rounded
    once. Not scipy.special: its erfc is ~20 ULP off in the tail (erfc(5.9)), glibc's is
    within an ULP of mpmath there."""
    fn = np.vectorize(getattr(math, name), otypes=[np.float64])

    def reference(node: Node, x: np.ndarray) -> np.ndarray:
        wide = x.astype(np.float64)
        return (fn(wide) if wide.size else wide).astype(x.dtype)

    return reference


class _RealFunction:
    """The dtype rule of a float function NumPy lacks (erf, erfc), as SciPy's ufuncs have it:
    loops ``d->d`` then ``f->f``, so float32 stays float32 and the rest computes in float64."""

    nin, nout = 1, 1

    def __init__(self, name: str) -> None:
        self.__name__ = name

    def resolve_dtypes(self, operands: tuple) -> tuple[np.dtype, np.dtype]:
        x = operands[0]
        if isinstance(x, np.dtype) and x.kind not in "biuf" and not dtypes.is_bfloat16(x):
            raise TypeError(f"ufunc '{self.__name__}' not supported for the input types")
        dt = np.dtype(np.float32) if x == np.dtype(np.float32) else np.dtype(np.float64)
        return dt, dt


class _Fma:
    """The dtype rule of fma(x, y, z): ``x * y + z``'s by NumPy's rules, floats only."""

    nin, nout, __name__ = 3, 1, "fma"

    def resolve_dtypes(self, operands: tuple) -> tuple[np.dtype, ...]:
        product = np.multiply.resolve_dtypes((operands[0], operands[1], None))[-1]
        dt = np.add.resolve_dtypes((product, operands[2], None))[-1]
        if dt.kind != "f":
            raise TypeError(f"ufunc 'fma' not supported for the input types {operands[:3]}")
        return dt, dt, dt, dt


def _fma_reference(node: Node, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``x * y + z`` rounded once. float32: the product is exact in float64 and the sum's
    rounding error is known exactly (TwoSum), which settles the one case where rounding the
    float64 sum to float32 would round twice (a float64 sum exactly halfway between two
    float32 values). float64: exact rational arithmetic, element by element."""
    x, y, z = np.broadcast_arrays(x, y, z)
    if node.dtype == np.float32:
        p = x.astype(np.float64) * y.astype(np.float64)
        z64 = z.astype(np.float64)
        s = p + z64
        bz = s - p
        err = (p - (s - bz)) + (z64 - bz)  # s + err == p + z exactly (Knuth's TwoSum)
        r = s.astype(np.float32)
        r64 = r.astype(np.float64)
        side = np.where(s > r64, np.float32(np.inf), np.float32(-np.inf))
        half = np.abs(np.nextafter(r, side).astype(np.float64) - r64) / 2
        tie = np.isfinite(s) & (s != r64) & (np.abs(s - r64) == half) & (err != 0)
        # a tie rounded the even way; the exact value lies off it on err's side
        keep = (r64 > s) == (err > 0)
        up = np.where(err > 0, np.float32(np.inf), np.float32(-np.inf))
        return np.where(tie & ~keep, np.nextafter(r, up), r)
    from fractions import Fraction

    def one(a: float, b: float, c: float) -> float:
        if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
            return a * b + c
        exact = Fraction(a) * Fraction(b) + Fraction(c)
        if not exact:
            return a * b + c  # a zero keeps IEEE's sign rule
        try:
            return float(exact)
        except OverflowError:  # beyond the largest float: rounds to an infinity
            return math.inf if exact > 0 else -math.inf

    return np.vectorize(one, otypes=[node.dtype])(x, y, z) if x.size else \
        np.empty(x.shape, node.dtype)


class _Philox:
    """The dtype rule of PHILOX: a uint64 counter and a uint64 key give a uint32 word."""

    nin, nout, __name__ = 2, 1, "philox"

    def resolve_dtypes(self, operands: tuple) -> tuple[np.dtype, ...]:
        u64 = np.dtype(np.uint64)
        if any(o != u64 for o in operands[:2]):
            raise TypeError(f"philox takes uint64 counters and keys, not {operands[:2]}")
        return u64, u64, np.dtype(np.uint32)


def _philox_reference(node: Node, counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    return np.broadcast_to(philox.words(counter, key)[node.arg], node.shape)


# -- expansions: composite ops as other ops, on operands already of the loop's dtype --------
def _const(value: Any, like: Node) -> Node:
    c = make(Op.SCALAR, like.dtype, (), (), scalar_value(like.dtype, value))
    return make(Op.BROADCAST, like.dtype, like.shape, (c,)) if like.shape else c


def _node(op: Op, *srcs: Node, dtype: np.dtype | None = None) -> Node:
    # the last operand has the result's dtype (a where's value, not its condition)
    return make(op, srcs[-1].dtype if dtype is None else dtype, srcs[0].shape, srcs)


def _deg2rad(node: Node) -> Node:
    (x,) = node.src  # NumPy multiplies by pi/180 rounded to the dtype
    return _node(Op.MULTIPLY, x, _const(math.pi / 180, x))


def _rad2deg(node: Node) -> Node:
    (x,) = node.src  # NumPy's constant is 180/pi computed in the dtype
    t = x.dtype.type
    return _node(Op.MULTIPLY, x, _const(t(180) / t(math.pi), x))


def _heaviside(node: Node) -> Node:
    x, h = node.src
    bool_ = np.dtype(bool)
    at_zero = _node(Op.WHERE, _node(Op.EQUAL, x, _const(0, x), dtype=bool_), h, x)  # NaN: x
    above = _node(Op.WHERE, _node(Op.GREATER, x, _const(0, x), dtype=bool_), _const(1, x),
                  at_zero)
    return _node(Op.WHERE, _node(Op.LESS, x, _const(0, x), dtype=bool_), _const(0, x), above)


def _float_power(node: Node) -> Node:
    # C's pow on float64 operands: not canonicalised (NumPy's float_power has no sqrt or
    # squaring fast paths, so x ** 0.5 is pow there)
    return _node(Op.POWER, *node.src)


def _modf_integral(node: Node) -> Node:
    return _node(Op.TRUNC, node.src[0])


def _modf_fraction(node: Node) -> Node:
    """C's modf: x - trunc(x) (exact), 0 for infinities, with the sign of x (-2.0 -> -0.0)."""
    (x,) = node.src
    inf = _node(Op.ISINF, x, dtype=np.dtype(bool))
    frac = _node(Op.WHERE, inf, _const(0, x), _node(Op.SUBTRACT, x, _node(Op.TRUNC, x)))
    return _node(Op.COPYSIGN, frac, x)


def _spacing(node: Node) -> Node:
    """NumPy's spacing: the gap to the next float away from zero, positive at -0.0, NaN for
    infinities (next(inf) - inf); ``x + 0.0`` makes -0.0 into +0.0."""
    (x,) = node.src
    y = _node(Op.ADD, x, _const(0.0, x))
    away = _node(Op.COPYSIGN, _const(math.inf, x), y)
    return _node(Op.SUBTRACT, _node(Op.NEXTAFTER, y, away), y)


def _identity(node: Node) -> Node:
    return node.src[0]  # conjugate of a real value


# -- display builders ---------------------------------------------------------------------------
def _neg(sp: Any, x: Any) -> Any:
    return sp.Mul(-1, x, evaluate=False)


def _sp_sub(sp: Any, x: Any, y: Any) -> Any:
    return sp.Add(x, _neg(sp, y), evaluate=False)


def _sp_mul(sp: Any, x: Any, y: Any) -> Any:
    # numbers first (2 a, not a 2): IEEE multiplication commutes, so this is exact
    return sp.Mul(*((y, x) if y.is_Number else (x, y)), evaluate=False)


def _sp_div(sp: Any, x: Any, y: Any) -> Any:
    return sp.Mul(x, sp.Pow(y, -1, evaluate=False), evaluate=False)


def _sp_power(exponent: Any) -> Callable[..., Any]:
    return lambda sp, x: sp.Pow(x, exponent(sp), evaluate=False)


def _sp_clip(sp: Any, x: Any, lo: Any, hi: Any) -> Any:
    return sp.Min(sp.Max(x, lo, evaluate=False), hi, evaluate=False)


def _sp_where(sp: Any, c: Any, x: Any, y: Any) -> Any:
    return sp.Piecewise((x, c), (y, True), evaluate=False)


def _clip_ufunc() -> np.ufunc:
    # NumPy 2 implements np.clip with this ufunc; its loops and promotion are the reference.
    return np._core.umath.clip


# -- the table ------------------------------------------------------------------------------------
def _call(libm: str, mathlib: str = "", form: Form = Form.CALL) -> MathCall:
    return MathCall(libm, mathlib, form)


# float fmod, % and //: no mathlib version, so CUDA needs libdevice (target_support says so)
_FMOD = MathCall("fmod", form=Form.FREM)


def _rows() -> list[OpRow]:
    r = OpRow
    return [
        # arithmetic
        r(Op.ADD, np.add, 2, text="{0} + {1}", sympy="Add", derivative=d.add),
        r(Op.SUBTRACT, np.subtract, 2, text="{0} - {1}", sympy=_sp_sub, derivative=d.subtract),
        r(Op.MULTIPLY, np.multiply, 2, text="{0} * {1}", sympy=_sp_mul, derivative=d.multiply),
        r(Op.TRUE_DIVIDE, np.true_divide, 2, text="{0} / {1}", sympy=_sp_div,
          derivative=d.true_divide),
        r(Op.FLOOR_DIVIDE, np.floor_divide, 2, math=_FMOD, text="{0} // {1}",
          sympy=lambda sp, x, y: sp.floor(_sp_div(sp, x, y), evaluate=False), derivative=d.ZERO),
        r(Op.REMAINDER, np.remainder, 2, math=_FMOD, text="{0} % {1}",
          latex=r"{0} \bmod {1}", derivative=d.remainder),
        r(Op.FMOD, np.fmod, 2, math=_FMOD, derivative=d.fmod),
        r(Op.POWER, np.power, 2, math=_call("pow", "pow", Form.INTRINSIC), text="{0} ** {1}",
          sympy="Pow", reference=_power, derivative=d.power),
        # made by canonicalisation (lazyarr/front/canon.py) with n in node.arg; unrolled
        # squarings on every target, no math routine
        r(Op.POWER_INT, np.power, 1, text="{0} ** n", public=False, reference=_power_int,
          sympy=lambda sp, x, n: sp.Pow(x, sp.Integer(n), evaluate=False), derivative=d.power_int),
        r(Op.FLOAT_POWER, np.float_power, 2, expand=_float_power, sympy="Pow"),
        r(Op.NEGATIVE, np.negative, 1, text="-{0}", sympy=_neg, derivative=d.negative),
        r(Op.POSITIVE, np.positive, 1, text="+{0}", sympy=lambda sp, x: x, derivative=d.positive),
        r(Op.ABSOLUTE, np.absolute, 1, text="abs({0})", sympy="Abs", derivative=d.absolute),
        r(Op.FABS, np.fabs, 1, intrinsic="fabs", sympy="Abs", derivative=d.absolute),
        r(Op.SQUARE, np.square, 1, sympy=_sp_power(lambda sp: 2), derivative=d.square),
        r(Op.RECIPROCAL, np.reciprocal, 1, sympy=_sp_power(lambda sp: -1),
          reference=_reciprocal, derivative=d.reciprocal),
        r(Op.SIGN, np.sign, 1, sympy="sign", derivative=d.ZERO),
        r(Op.GCD, np.gcd, 2),
        r(Op.LCM, np.lcm, 2),
        # bits
        r(Op.INVERT, np.invert, 1, text="~{0}", latex=r"\sim {0}"),
        r(Op.BITWISE_AND, np.bitwise_and, 2, text="{0} & {1}",
          latex=r"{0} \mathbin{{\&}} {1}"),
        r(Op.BITWISE_OR, np.bitwise_or, 2, text="{0} | {1}", latex=r"{0} \mathbin{{|}} {1}"),
        r(Op.BITWISE_XOR, np.bitwise_xor, 2, text="{0} ^ {1}", latex=r"{0} \oplus {1}"),
        r(Op.LEFT_SHIFT, np.left_shift, 2, text="{0} << {1}", latex=r"{0} \ll {1}"),
        r(Op.RIGHT_SHIFT, np.right_shift, 2, text="{0} >> {1}", latex=r"{0} \gg {1}"),
        r(Op.BITWISE_COUNT, np.bitwise_count, 1, latex=r"\operatorname{{popcount}}({0})"),
        # comparisons and logic
        r(Op.LESS, np.less, 2, text="{0} < {1}", sympy="Lt"),
        r(Op.LESS_EQUAL, np.less_equal, 2, text="{0} <= {1}", sympy="Le"),
        r(Op.GREATER, np.greater, 2, text="{0} > {1}", sympy="Gt"),
        r(Op.GREATER_EQUAL, np.greater_equal, 2, text="{0} >= {1}", sympy="Ge"),
        r(Op.EQUAL, np.equal, 2, text="{0} == {1}", sympy="Eq"),
        r(Op.NOT_EQUAL, np.not_equal, 2, text="{0} != {1}", sympy="Ne"),
        r(Op.LOGICAL_AND, np.logical_and, 2, latex=r"{0} \land {1}"),
        r(Op.LOGICAL_OR, np.logical_or, 2, latex=r"{0} \lor {1}"),
        r(Op.LOGICAL_NOT, np.logical_not, 1, latex=r"\lnot {0}"),
        r(Op.LOGICAL_XOR, np.logical_xor, 2, latex=r"{0} \veebar {1}"),
        r(Op.WHERE, None, 3, text="where({0}, {1}, {2})", sympy=_sp_where, public=False,
          reference=lambda node, c, x, y: np.where(c, x, y), derivative=d.where),
        r(Op.CAST, None, 1, public=False,
          derivative=d.cast),  # display and codegen read the two dtypes
        # exponentials and logarithms
        r(Op.EXP, np.exp, 1, math=_call("exp", "exp", Form.INTRINSIC), sympy="exp",
          derivative=d.exp),
        r(Op.EXPM1, np.expm1, 1, math=_call("expm1", "expm1"), derivative=d.expm1),
        r(Op.EXP2, np.exp2, 1, math=_call("exp2", "exp2", Form.INTRINSIC),
          sympy=lambda sp, x: sp.Pow(2, x, evaluate=False), derivative=d.exp2),
        r(Op.LOG, np.log, 1, math=_call("log", "log", Form.INTRINSIC), sympy="log",
          derivative=d.log),
        r(Op.LOG1P, np.log1p, 1, math=_call("log1p", "log1p"), derivative=d.log1p),
        r(Op.LOG2, np.log2, 1, math=_call("log2", "log2", Form.INTRINSIC), derivative=d.log2),
        r(Op.LOG10, np.log10, 1, math=_call("log10", "log10", Form.INTRINSIC), derivative=d.log10),
        r(Op.LOGADDEXP, np.logaddexp, 2,
          math=MathCall(form=Form.USES, uses=(Op.EXP, Op.LOG1P), cost=2 * CALL_COST),
          derivative=d.logaddexp),
        r(Op.LOGADDEXP2, np.logaddexp2, 2,
          math=MathCall(form=Form.USES, uses=(Op.EXP2, Op.LOG1P), cost=2 * CALL_COST),
          derivative=d.logaddexp2),
        r(Op.SQRT, np.sqrt, 1, intrinsic="sqrt", sympy=_sp_power(lambda sp: sp.S.Half),
          derivative=d.sqrt),
        r(Op.CBRT, np.cbrt, 1, math=_call("cbrt", "cbrt"),
          sympy=_sp_power(lambda sp: sp.Rational(1, 3)), derivative=d.cbrt),
        # trigonometric and hyperbolic
        r(Op.SIN, np.sin, 1, math=_call("sin", "sin", Form.INTRINSIC), sympy="sin",
          derivative=d.sin),
        r(Op.COS, np.cos, 1, math=_call("cos", "cos", Form.INTRINSIC), sympy="cos",
          derivative=d.cos),
        r(Op.TAN, np.tan, 1, math=_call("tan", "tan"), sympy="tan", derivative=d.tan),
        r(Op.ARCSIN, np.arcsin, 1, math=_call("asin", "arcsin"), sympy="asin", derivative=d.arcsin),
        r(Op.ARCCOS, np.arccos, 1, math=_call("acos", "arccos"), sympy="acos", derivative=d.arccos),
        r(Op.ARCTAN, np.arctan, 1, math=_call("atan", "arctan"), sympy="atan", derivative=d.arctan),
        r(Op.ARCTAN2, np.arctan2, 2, math=_call("atan2", "arctan2"), sympy="atan2",
          derivative=d.arctan2),
        r(Op.HYPOT, np.hypot, 2, math=_call("hypot", "hypot"), derivative=d.hypot),
        r(Op.SINH, np.sinh, 1, math=_call("sinh", "sinh"), sympy="sinh", derivative=d.sinh),
        r(Op.COSH, np.cosh, 1, math=_call("cosh", "cosh"), sympy="cosh", derivative=d.cosh),
        r(Op.TANH, np.tanh, 1, math=_call("tanh", "tanh"), sympy="tanh", derivative=d.tanh),
        # precision="fast"'s tanh (front/build.py excess_precision; mathlib's fasttanh, 2.1
        # ULP). Called as the llvm.tanh intrinsic, so that NVPTX tells it from tanh's C call
        # (nvptx.MATHLIB_NAMES) and libm's tanh computes it where mathlib is off
        r(Op.TANH_FAST, np.tanh, 1, math=_call("tanh", "fasttanh", Form.INTRINSIC),
          sympy="tanh", public=False, reference=_tanh_fast_reference, derivative=d.tanh),
        r(Op.ARCSINH, np.arcsinh, 1, math=_call("asinh", "arcsinh"), sympy="asinh",
          derivative=d.arcsinh),
        r(Op.ARCCOSH, np.arccosh, 1, math=_call("acosh", "arccosh"), sympy="acosh",
          derivative=d.arccosh),
        r(Op.ARCTANH, np.arctanh, 1, math=_call("atanh", "arctanh"), sympy="atanh",
          derivative=d.arctanh),
        r(Op.DEG2RAD, np.deg2rad, 1, expand=_deg2rad),
        r(Op.RAD2DEG, np.rad2deg, 1, expand=_rad2deg),
        r(Op.ERF, _RealFunction("erf"), 1, math=_call("erf", "erf"), sympy="erf",
          reference=_erf_reference("erf"), derivative=d.erf),
        r(Op.ERFC, _RealFunction("erfc"), 1, math=_call("erfc", "erfc"), sympy="erfc",
          reference=_erf_reference("erfc"), derivative=d.erfc),
        # rounding and the float format
        r(Op.FLOOR, np.floor, 1, intrinsic="floor", sympy="floor", derivative=d.ZERO),
        r(Op.CEIL, np.ceil, 1, intrinsic="ceil", sympy="ceiling", derivative=d.ZERO),
        r(Op.TRUNC, np.trunc, 1, intrinsic="trunc", derivative=d.ZERO),
        r(Op.RINT, np.rint, 1, intrinsic="rint", derivative=d.ZERO),
        r(Op.COPYSIGN, np.copysign, 2, intrinsic="copysign", derivative=d.copysign),
        r(Op.LDEXP, np.ldexp, 2, latex=r"{0} \cdot 2^{{{1}}}", derivative=d.ldexp),
        r(Op.FREXP_MANTISSA, np.frexp, 1, nout=2, output=0, derivative=d.frexp_mantissa),
        r(Op.FREXP_EXPONENT, np.frexp, 1, nout=2, output=1),
        r(Op.MODF_FRACTION, np.modf, 1, nout=2, output=0, expand=_modf_fraction),
        r(Op.MODF_INTEGRAL, np.modf, 1, nout=2, output=1, expand=_modf_integral),
        r(Op.NEXTAFTER, np.nextafter, 2),
        r(Op.SPACING, np.spacing, 1, expand=_spacing),
        r(Op.ISNAN, np.isnan, 1),
        r(Op.ISINF, np.isinf, 1),
        r(Op.ISFINITE, np.isfinite, 1),
        r(Op.SIGNBIT, np.signbit, 1),
        r(Op.HEAVISIDE, np.heaviside, 2, expand=_heaviside),
        r(Op.CONJUGATE, np.conjugate, 1, expand=_identity, text="{0}",
          latex=r"\overline{{{0}}}"),
        # selection
        r(Op.MAXIMUM, np.maximum, 2, sympy="Max", derivative=d.maximum),
        r(Op.MINIMUM, np.minimum, 2, sympy="Min", derivative=d.minimum),
        r(Op.FMAX, np.fmax, 2, sympy="Max", derivative=d.fmax),
        r(Op.FMIN, np.fmin, 2, sympy="Min", derivative=d.fmin),
        r(Op.CLIP, _clip_ufunc(), 3, sympy=_sp_clip, public=False,
          derivative=d.clip),  # la.clip drops bounds
        r(Op.STOP_GRADIENT, np.positive, 1, text="stop_gradient({0})", sympy=lambda sp, x: x,
          public=False, derivative=d.stop_gradient),
        r(Op.FMA, _Fma(), 3, intrinsic="fma", text="fma({0}, {1}, {2})", public=False,
          reference=_fma_reference, derivative=d.fma),
        # counter-based random bits (lazyarr/random.py): word node.arg of a Philox block
        r(Op.PHILOX, _Philox(), 2, text="philox[n]({0}, {1})", public=False,
          reference=_philox_reference, cost=4 * CALL_COST),
        # a fusion barrier run by NumPy (lazyarr/ir/reference.py); here for its display
        r(Op.MATMUL, np.matmul, 2, latex=r"{0} \mathbin{{@}} {1}", public=False),
    ]


ROWS: dict[Op, OpRow] = {row.op: row for row in _rows()}
SPECS = ROWS  # the name earlier code and tests use

# NumPy ufunc -> the ops of its outputs. divmod is floor_divide and remainder: NumPy computes
# all three with the same npy_divmod, so their bits agree.
BY_UFUNC: dict[Any, tuple[Op, ...]] = {}
for _row in ROWS.values():
    if _row.public and isinstance(_row.ufunc, np.ufunc):
        BY_UFUNC[_row.ufunc] = (*BY_UFUNC.get(_row.ufunc, ()), _row.op)
BY_UFUNC.update({np.radians: (Op.DEG2RAD,), np.degrees: (Op.RAD2DEG,),
                 np.divmod: (Op.FLOOR_DIVIDE, Op.REMAINDER)})
# other lazyarr/NumPy names of the same function
ALIASES = {"abs": Op.ABSOLUTE, "divide": Op.TRUE_DIVIDE, "mod": Op.REMAINDER, "pow": Op.POWER,
           "radians": Op.DEG2RAD, "degrees": Op.RAD2DEG, "conj": Op.CONJUGATE}

COMPARISONS = frozenset({
    Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL, Op.EQUAL, Op.NOT_EQUAL,
})
# ops whose float loops call a math routine (codegen/rows.py recomputes none of them)
LIBM = frozenset(op for op, row in ROWS.items() if row.math is not None)

# A weak operand is a Python scalar whose dtype NumPy decides from the other operands (NEP 50).
WeakType = type[int] | type[float]

_LOOPS: dict[tuple, tuple[np.dtype, ...] | Exception] = {}


def resolve_loop(op: Op, operands: tuple[np.dtype | WeakType, ...]) -> tuple[np.dtype, ...]:
    """The (inputs..., output) dtypes of NumPy's inner loop for ``op`` on these operands
    (for an op that is one output of a two-output ufunc, that output).

    Raises the exception NumPy raises when it has no loop, and TypeError for loops whose
    dtypes lazyarr does not support.
    """
    key = (op, operands)
    found = _LOOPS.get(key)
    if found is None:
        found = _resolve_uncached(op, operands)
        _LOOPS[key] = found
    if isinstance(found, Exception):
        raise type(found)(*found.args)
    return found


def cached_loop(op: Op, operands: tuple[np.dtype, ...]) -> tuple[np.dtype, ...] | None:
    """The loop of an earlier ``resolve_loop`` call, if it succeeded; else None."""
    found = _LOOPS.get((op, operands))
    return None if found is None or isinstance(found, Exception) else found


def _resolve_uncached(op: Op, operands: tuple, front: bool = False
                      ) -> tuple[np.dtype, ...] | Exception:
    row = ROWS.get(op)
    check = dtypes.check_front if front else dtypes.check
    try:
        # internal ops (fma) have no NumPy loop for complex operands
        if row is None or (front and not isinstance(row.ufunc, np.ufunc)):
            raise TypeError(f"{op.value}: complex operands are not supported by lazyarr yet")
        loop = row.ufunc.resolve_dtypes((*operands, *[None] * row.nout))
        mine = (*loop[:row.nin], loop[row.nin + row.output])
        for dt in mine:
            check(dt, f"{row.name} on {_names(operands)}")
    except (TypeError, ValueError) as exc:
        return exc
    return tuple(mine)


_FRONT_LOOPS: dict[tuple, tuple[np.dtype, ...] | Exception] = {}


def resolve_front_loop(op: Op, operands: tuple) -> tuple[np.dtype, ...]:
    """:func:`resolve_loop` for the front end's complex values, whose loops (complex dtypes)
    no kernel computes in: the front end splits them into real parts."""
    key = (op, operands)
    found = _FRONT_LOOPS.get(key)
    if found is None:
        found = _resolve_uncached(op, operands, front=True)
        _FRONT_LOOPS[key] = found
    if isinstance(found, Exception):
        raise type(found)(*found.args)
    return found


def _names(operands: tuple) -> str:
    return "(" + ", ".join(o.__name__ if isinstance(o, type) else str(o) for o in operands) + ")"


# -- questions the stages ask --------------------------------------------------------------------
def needs_math(op: Op, loop_dtype: np.dtype) -> bool:
    """Whether ``op`` on ``loop_dtype`` calls a math routine (libm on the CPU)."""
    row = ROWS.get(op)
    return row is not None and row.calls(loop_dtype) is not None


def call_cost(op: Op, loop_dtype: np.dtype) -> int:
    """What ``op`` costs per element beyond plain arithmetic (its math routine's cost)."""
    row = ROWS.get(op)
    if row is None:
        return 0
    call = row.calls(loop_dtype)
    return row.cost if call is None else call.cost


def compute_bound(op: Op, loop_dtype: np.dtype) -> bool:
    """Whether ``op`` costs as much as a math routine per element: a kernel computing it is
    limited by arithmetic, not memory (no streaming stores; the widest vectors)."""
    return call_cost(op, loop_dtype) >= CALL_COST


def mathlib_names(op: Op) -> tuple[str, ...]:
    """The functions of lazyarr's math library that ``op``'s float loops call ("" entries:
    a routine it lacks)."""
    call = ROWS[op].math
    if call is None:
        return ()
    if call.form is Form.USES:
        return tuple(n for u in call.uses for n in mathlib_names(u))
    return (call.mathlib,)


def libm_names() -> frozenset[str]:
    """C names of every routine the rows call, and of the intrinsics they use, which may
    become calls too (float32's: the name with "f" appended)."""
    names = {row.math.libm for row in ROWS.values() if row.math is not None and row.math.libm}
    return frozenset(names | {row.intrinsic for row in ROWS.values() if row.intrinsic})


def target_support(op: Op, loop_dtype: np.dtype, target: str, *, libdevice: bool = False,
                   mathlib: frozenset[str] | Any = frozenset()) -> str | None:
    """None if ``target`` ("cpu" or "cuda") can lower ``op`` on ``loop_dtype``, else why not.

    The CPU calls libm. NVPTX has none: an op's math compiles there from lazyarr's own
    ``mathlib`` (the names given, when every routine it calls is one) or from NVIDIA's
    libdevice (``libdevice``: found); float ``frem`` (fmod) has no mathlib version.
    """
    row = ROWS[op]
    for where, reason in row.unsupported:
        if where == target:
            return f"{op.value}: {reason}"
    call = row.calls(loop_dtype)
    if target != "cuda" or call is None or libdevice:
        return None
    names = mathlib_names(op)
    if names and all(n and n in mathlib for n in names):
        return None
    what = "frem (C's fmod)" if call.form is Form.FREM else "math routines"
    return (f"{op.value} on {loop_dtype} needs {what} that the CUDA target takes from NVIDIA's "
            "libdevice, which was not found (LAZYARR_LIBDEVICE, CUDA_HOME)")
