"""Random expression trees through NumPy and both lazyarr backends (property-based).

Hypothesis grows a small tree of operations (depth <= 4): elementwise operators and functions
(arithmetic, comparisons, bitwise, ``maximum``/``fmin``/..., the math functions, ``where``,
``clip``, ``astype``), every reduction (``sum prod min max mean var std argmin argmax any all
logsumexp``, axis None/int/negative/tuple/(), ``keepdims``, ``dtype=``, ``ddof``, also as
``np.add.reduce(x, ...)``), ``x op reduce(f(x), axis, keepdims=True)`` (softmax-like rows),
and every view (slices with any step, integer indices down to 0-d, ``None``, ``...``, ``.T``,
``.mT``, ``transpose``, ``swapaxes``, ``moveaxis``, ``broadcast_to``, ``expand_dims``,
``squeeze``, ``flip``, ``reshape``, ``ravel``), over leaves of rank 0 to 3 (some long 1-d)
and every supported dtype (float16, complex64 and complex128 too), laid out contiguously,
strided, reversed, transposed, broadcast (stride 0) or in Fortran order, and Python scalars
(NEP 50 weak ints, floats, complex and bools, some out of range) or NumPy scalars.
Subexpressions and leaves are sometimes shared. The tree is grown node by node with NumPy's
value of each node known, so the parameters fit (axes in range, indices in bounds, shapes
that broadcast) most of the time and fail on purpose some of the time.

Each node applies itself to NumPy arrays (the reference, under ``np.errstate(all="ignore")``)
and to lazy arrays (through operators, ``la.*`` functions, methods, or NumPy's functions and
ufuncs on lazy arrays). ``la.eval(e)`` (the compiled "cpu" backend) and ``la.eval(e,
backend="interp")`` must give NumPy's shape, dtype and values; sometimes also ``la.eval(e, s)``
with a subexpression ``s`` (outputs sharing kernels), and ``la.eval(e)`` again after the
inputs were changed in place (captured arrays are read at evaluation; the repeated-evaluation
fast path). Where NumPy raises, building the lazy expression must raise an exception caught
by the same builtin classes (integer ``**`` with a negative exponent may instead raise at
evaluation: NumPy only finds it by looking at the values). A loop or result dtype lazyarr
does not support (``longdouble``) must be a TypeError at build time.

Values are compared with a bound per element that each node carries up from its operands:

- exact (bit for bit, including the sign of zero) where every operation on the way is exact
  or correctly rounded: integers, bools, ``+ - * / // %``, ``sqrt``, casts, views, where;
- transcendental functions (``exp``, ``sin``, ``**``, ``arctan2``, ...) add 4 ULP of their
  result; an op on operands that carry a bound gets (twice) the spread of its results over the
  corners of its operands' intervals, so a comparison, ``floor`` or ``astype(int)`` of an
  inexact value is only left unchecked where the interval straddles a threshold, and a zero
  computed from inexact operands has either sign;
- float sums and means add ``(n + 1) * eps * sum(|x|)`` (lazyarr's compensated sum and
  NumPy's pairwise sum each stay within that of the exact sum), products the same relative to
  ``prod(|x|)`` plus the subnormal rounding of partial products; ``var``/``std`` and
  ``logsumexp`` carry that through their formulas; ``argmin``/``argmax``/``any``/``all`` are
  unchecked only in rows that inexact values could decide either way;
- where a complex value is an operand or the result, each part is within one bound
  (componentwise): 0 for the ops lazyarr computes as NumPy does (``+ - conj``, comparisons,
  selections, casts), 4 ULPs of the operands' product (quotient) for ``* /`` (NumPy fuses a
  product with FMA), 16 ULPs of ``max(|value|, 1)`` for the elementary functions (so a
  part that cancels is checked against the size of the whole); bounds carry through linear
  ops and products, other ops of inexact or non-finite complex operands are not checked;
  sums and means add ``(n + 1) eps sum(|x|)``; complex ``var``, ``std``, ``logsumexp``
  and ``clip`` are not generated;
- NumPy leaves some signs arbitrary, so they are not checked: the zero from ``fmax``, ``fmin``
  and ``clip`` (NumPy's scalar and array paths disagree), from ``min``/``max`` over rows
  holding both zeros, and the sign of a NaN (``signbit``, ``copysign``: x86 makes -nan).

Documented deviations from NumPy (README, "Where lazyarr defines what NumPy leaves to the
platform") are built into the reference: float to integer casts (``astype``, ``sum(dtype=)``)
of NaN (0), infinities and out-of-range values (saturated), and integer ``reciprocal(0)`` (0).
NumPy's float ``**`` takes ``sqrt`` for a stride-0 exponent of 0.5 (different at -inf and -0.0);
lazyarr does so for a Python scalar exponent only, so the reference gives NumPy a full
exponent array. ``np.where(c, 2**63, 0)`` (two Python ints, one beyond int64: NumPy wraps it)
is not generated, as in test_differential.py.

A failure prints what differs, the expression, the inputs' dtypes, shapes, strides and values,
both results with the bound, and a standalone reproducer.

How many examples:

    pytest tests/test_random_expressions.py                                  # CI
    LAZYARR_TEST_EXAMPLES=2000 pytest tests/test_random_expressions.py -x    # random, 2000

Without ``LAZYARR_TEST_EXAMPLES`` the test runs ``CI_EXAMPLES`` derandomized examples (the
same ones on every run, no example database; about 35 s on 2 busy cores). With it, that many
random examples, different on every run; a failing example is kept in Hypothesis' database
(``.hypothesis/``) and tried first next time. Add ``--hypothesis-show-statistics`` to see the
outcomes (value or exception) of the examples that ran.
"""

from __future__ import annotations

import itertools
import math
import operator
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from kernel_cases import numpy_loop
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

import lazyarr as la

T = TypeVar("T")
Shape = tuple[int, ...]
# (operands' NumPy values, operands' bounds or None for scalars, NumPy's result) -> bound
Tol = Callable[[list[Any], list[Any], np.ndarray], np.ndarray]

CI_EXAMPLES = 3000
MAX_DEPTH = 4
MAX_SIZE = 300  # elements of a leaf, and of a broadcast
F64 = np.dtype(np.float64)
INF = math.inf
nan, inf = math.nan, math.inf  # the names the expressions' text uses

# simplest first: Hypothesis shrinks towards the start of a sampled_from list
DTYPES = tuple(np.dtype(t) for t in (
    "float64", "int64", "float32", "int32", "bool", "int8", "uint8", "int16", "uint16",
    "uint32", "uint64"))
HALF = np.dtype(np.float16)
COMPLEX_DTYPES = (np.dtype(np.complex64), np.dtype(np.complex128))
SUPPORTED = frozenset({*DTYPES, HALF, *COMPLEX_DTYPES})
UNSUPPORTED = (np.dtype(np.longdouble),)
COMPLEX_SCALARS = (1j, 0.5 - 2j, -1.5j, 2 + 0j, complex(inf, 1))
DIMS = (2, 3, 1, 4, 5, 2, 3, 1, 6, 0, 7, 2, 3, 1, 4, 5, 17)
LONG = (40, 67, 130, 259)  # vector lengths past the vectorised loops' widths

# -- the operations ---------------------------------------------------------------------
TRANSCENDENTAL = 4  # ULP; test_differential.py uses the same bound per function
UNARY_ULPS = {
    "negative": 0, "absolute": 0, "square": 0, "reciprocal": 0, "sqrt": 0, "floor": 0,
    "ceil": 0, "trunc": 0, "rint": 0, "sign": 0, "positive": 0, "isnan": 0, "isinf": 0,
    "isfinite": 0, "signbit": 0, "logical_not": 0, "invert": 0, "fabs": 0, "spacing": 0,
    "deg2rad": 0, "rad2deg": 0, "bitwise_count": 0, "conjugate": 0,
    **dict.fromkeys((
        "exp", "expm1", "exp2", "log", "log1p", "log2", "log10", "cbrt", "sin", "cos", "tan",
        "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh",
        "arctanh"), TRANSCENDENTAL),
}
ALL_UNARY = tuple(UNARY_ULPS)
UNARY_FOR_KIND = {
    "f": tuple(n for n in ALL_UNARY if n not in ("invert", "bitwise_count")),
    "i": ("negative", "absolute", "invert", "square", "sign", "reciprocal", "positive",
          "logical_not", "floor", "sqrt", "exp", "sin", "isnan", "cbrt", "bitwise_count"),
    "b": ("invert", "logical_not", "absolute", "square", "positive", "negative", "sign",
          "sqrt"),
}
UNARY_FOR_KIND["u"] = UNARY_FOR_KIND["i"]
UNARY_FOR_KIND["c"] = ("negative", "absolute", "square", "reciprocal", "conjugate", "sqrt",
                       "exp", "log", "sin", "tanh", "positive", "isnan", "isfinite", "sign",
                       "rint", "logical_not")
UNARY_OPERATORS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "negative": ("-{}", operator.neg), "positive": ("+{}", operator.pos),
    "invert": ("~{}", operator.invert), "absolute": ("abs({})", abs),
}

BINARY_GROUPS: dict[str, tuple[str, ...]] = {
    "arith": ("add", "multiply", "subtract", "true_divide", "floor_divide", "remainder",
              "power", "fmod"),
    "compare": ("less", "greater", "equal", "not_equal", "less_equal", "greater_equal"),
    "minmax": ("maximum", "minimum", "fmax", "fmin"),
    "bitwise": ("bitwise_and", "bitwise_or", "bitwise_xor", "left_shift", "right_shift", "gcd",
                "lcm"),
    "math": ("arctan2", "hypot", "logaddexp", "copysign", "power", "logaddexp2", "nextafter",
             "heaviside"),
    "logical": ("logical_and", "logical_or", "logical_xor"),
}
GROUPS_FOR_KIND = {
    "f": ("arith", "arith", "compare", "minmax", "math", "logical", "arith", "bitwise"),
    "i": ("arith", "bitwise", "arith", "compare", "minmax", "bitwise", "logical", "math"),
    "b": ("logical", "bitwise", "arith", "compare", "minmax"),
}
GROUPS_FOR_KIND["u"] = GROUPS_FOR_KIND["i"]
GROUPS_FOR_KIND["c"] = ("arith", "arith", "compare", "minmax", "logical", "arith", "math")
BINARY_ULPS = {name: TRANSCENDENTAL if name in ("power", "arctan2", "hypot", "logaddexp",
                                                "logaddexp2")
               else 0 for group in BINARY_GROUPS.values() for name in group}
BINARY_SYMBOLS = {
    "add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "floor_divide": "//",
    "remainder": "%", "power": "**", "bitwise_and": "&", "bitwise_or": "|",
    "bitwise_xor": "^", "left_shift": "<<", "right_shift": ">>", "less": "<",
    "less_equal": "<=", "greater": ">", "greater_equal": ">=", "equal": "==",
    "not_equal": "!=",
}
BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
    "//": operator.floordiv, "%": operator.mod, "**": operator.pow, "&": operator.and_,
    "|": operator.or_, "^": operator.xor, "<<": operator.lshift, ">>": operator.rshift,
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
    "==": operator.eq, "!=": operator.ne,
}
# NumPy's sign of a zero from these (and from clip) is arbitrary: its array loops and scalar
# paths disagree (np.clip(np.array([-1.0]), -0.0, 0.0) is -0.0, with array bounds 0.0)
SIGNLESS_ZERO = frozenset({"fmax", "fmin"})
# The sign of a NaN is not specified (x86 makes -nan, lazyarr's math library +nan): results
# that show it (the operand at this position) are not compared where that operand is NaN.
NAN_SIGN = {"signbit": 0, "copysign": 1}

# complex reductions: var, std and logsumexp are left out (their bounds are real formulas)
COMPLEX_REDUCTIONS = ("sum", "mean", "prod", "min", "max", "argmin", "argmax", "any", "all")
REDUCTIONS = ("sum", "max", "mean", "min", "prod", "any", "all", "argmax", "argmin", "var",
              "std", "logsumexp")
SUM_DTYPES = (*DTYPES, *UNSUPPORTED)
UFUNC_REDUCE = {"sum": "add", "prod": "multiply", "min": "minimum", "max": "maximum",
                "any": "logical_or", "all": "logical_and"}
VIEWS = ("index", "T", "reshape", "transpose", "flip", "broadcast_to", "expand_dims",
         "squeeze", "swapaxes", "moveaxis", "ravel", "index", "mT")
NODE_KINDS = ("binary", "unary", "reduce", "view", "binary", "reduce", "view", "where",
              "clip", "astype", "binary", "rowwise", "shared")

SMALL_INTS = (2, 1, 0, 3, -1, -2, 7, 5)
EDGE_INTS = (127, 128, 255, 256, -129, 300, 2**31, -(2**31) - 1, 2**32, 2**63 - 1, -(2**63),
             2**63, 2**64 - 1, 2**64)
FLOATS = (0.5, 2.0, -1.5, 1.0, 0.0, -0.0, 3.25, -7.0, 1e-3, 1e10, nan, inf, -inf)
SHIFTS = (1, 0, 2, 3, 7, 8, 15, 31, 63, 64, 70, -1)
EXPONENTS = (2, 0.5, 0, 3, 1, -1, 2.0, 1.5, -0.5, 0.0, -2, 64)


# -- the reference: NumPy, with lazyarr's documented rules --------------------------------
@contextmanager
def quiet() -> Iterator[None]:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Mean of empty slice", "Degrees of freedom <= 0"
        yield


def cast(a: np.ndarray, dt: np.dtype) -> np.ndarray:
    """``a.astype(dt)``, with lazyarr's rule for floats to integers: NaN -> 0, infinities and
    out-of-range values saturate (NumPy's result is the CPU's there)."""
    a = np.asarray(a)
    if a.dtype.kind == "c" and dt.kind in "iu":  # the real part, by the same rule
        return cast(a.real, dt)
    if a.dtype.kind != "f" or dt.kind not in "iu":
        return a.astype(dt)
    info = np.iinfo(dt)
    lo, hi = int(info.min), int(info.max)
    flat = [0 if math.isnan(v) else hi if v >= hi else lo if v <= lo else int(v)
            for v in a.ravel().tolist()]
    return np.array(flat, dtype=dt).reshape(a.shape)


def reciprocal(x: Any) -> np.ndarray:
    """``np.reciprocal``, with lazyarr's rule for integers: ``reciprocal(0) == 0``."""
    x = np.asarray(x)
    if x.dtype.kind not in "biu":
        return np.reciprocal(x)
    loop = np.reciprocal.resolve_dtypes((x.dtype, None))[0]
    xs = x.astype(loop)
    safe = np.where(xs == 0, np.ones_like(xs), xs)
    return np.where(xs == 0, np.zeros_like(xs), np.reciprocal(safe))


def power(x: Any, y: Any) -> np.ndarray:
    """``np.power``; an array exponent is first made a full contiguous array, so NumPy's
    float loop never sees a stride-0 exponent (it takes ``sqrt`` for 0.5 there, which
    differs from ``pow`` at -inf and -0.0; lazyarr does that for Python scalars only)."""
    if isinstance(y, np.ndarray):
        shape = np.broadcast_shapes(np.shape(x), y.shape)
        y = np.array(np.broadcast_to(y, shape))
    return np.power(x, y)


def logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> np.ndarray:
    """SciPy's stable ``logsumexp`` (no weights), step by step as lazyarr documents it."""
    axes = tuple(range(x.ndim)) if axis is None else normalize_axis_tuple(axis, x.ndim)
    top = np.max(x, axis=axes, keepdims=True)
    shift = np.where(np.isfinite(top), top, 0)
    total = np.sum(np.exp(x - shift), axis=axes, keepdims=keepdims)
    if not keepdims and axes:
        shift = np.squeeze(shift, axes)
    return np.log(total) + shift


REFERENCE: dict[str, Callable[..., Any]] = {"power": power, "reciprocal": reciprocal}


def reference(name: str) -> Callable[..., Any]:
    return REFERENCE.get(name) or getattr(np, name)


def quarter_turn(x: np.ndarray) -> np.ndarray:
    """Which quarter period of sin, cos and tan ``x`` is in: their extrema and poles lie on
    the boundaries, so corners of an interval inside one quarter bound the values."""
    return np.floor(np.asarray(x, F64) * (2 / math.pi))


# ops whose corners do not bound them across these boundaries (see ``pointwise``)
BRANCHES: dict[str, Callable[..., Any]] = {
    "remainder": np.floor_divide, "sin": quarter_turn, "cos": quarter_turn, "tan": quarter_turn,
}


# -- bounds on |lazyarr - NumPy|, element by element ---------------------------------------
def tiny(dt: np.dtype) -> float:
    """The bound of a zero whose sign is not known (the smallest subnormal)."""
    return float(np.finfo(dt).smallest_subnormal)


def outward(a: np.ndarray, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a - e`` and ``a + e`` in ``a``'s float dtype, rounded away from ``a``."""
    a64 = a.astype(F64)
    lo, hi = (a64 - e).astype(a.dtype), (a64 + e).astype(a.dtype)
    lo = np.where(lo.astype(F64) > a64 - e, np.nextafter(lo, a.dtype.type(-INF)), lo)
    hi = np.where(hi.astype(F64) < a64 + e, np.nextafter(hi, a.dtype.type(INF)), hi)
    return lo, hi


def deviation(v: np.ndarray, value: np.ndarray) -> np.ndarray:
    """|v - value| as float64: 0 where equal (NaN equal to NaN), inf for any other NaN or
    any integer or bool difference."""
    v = np.broadcast_to(v, value.shape)
    if value.dtype.kind != "f":
        return np.where(v != value, INF, 0.0)
    same = (v == value) | (np.isnan(v) & np.isnan(value))
    d = np.abs(v.astype(F64) - value.astype(F64))
    return np.where(same, 0.0, np.where(np.isnan(d), INF, d))


def pointwise(fn: Callable[..., Any], ulps: int = 0, signless_zero: bool = False,
              nan_sign: int | None = None, branch: Callable[..., Any] | None = None) -> Tol:
    """The bound of an elementwise op: the spread of ``fn`` over the corners of its loose
    operands' intervals (doubled: a corner need not be the extreme), plus ``ulps`` of the
    result for an op that is not correctly rounded. ``nan_sign``: the operand whose NaNs
    make the result unknown (``signbit``, ``copysign`` show a NaN's sign). ``branch``: for
    an op that is not monotonic (``%``, ``sin``), which piece a point is on; where the
    corners are not all on the value's piece, the intervals may span an extremum or a
    whole tooth and the result is unknown."""

    def tol(args: list[Any], errs: list[Any], value: np.ndarray) -> np.ndarray:
        shape = value.shape
        err = np.zeros(shape)
        loose = [i for i, e in enumerate(errs) if e is not None and e.any()]
        if loose:
            dont_care = np.zeros(shape, bool)
            touched = np.zeros(shape, bool)
            choices: list[tuple[Any, ...]] = []
            for i, a in enumerate(args):
                if i in loose:
                    e = errs[i]
                    dont_care |= np.broadcast_to(np.isinf(e), shape)
                    touched |= np.broadcast_to(e > 0, shape)
                    if a.dtype.kind == "f":
                        choices.append(outward(a, np.where(np.isinf(e), 0.0, e)))
                        continue
                choices.append((a,))
            dev = np.zeros(shape)
            tooth = None if branch is None else np.asarray(branch(*args))
            try:
                for corner in itertools.product(*choices):
                    dev = np.maximum(dev, deviation(np.asarray(fn(*corner)), value))
                    if tooth is not None:
                        dont_care |= deviation(np.asarray(branch(*corner)), tooth) > 0
            except Exception:  # a corner NumPy refuses (a negative integer power)
                dev = np.full(shape, INF)
            err = 2 * dev
            if value.dtype.kind == "f":  # a zero computed from loose operands: either sign
                err = np.where(touched & (value == 0) & (err == 0), tiny(value.dtype), err)
            err = np.where(dont_care, INF, err)
        if nan_sign is not None:
            a = np.asarray(args[nan_sign])
            if a.dtype.kind == "f":
                err = np.where(np.broadcast_to(np.isnan(a), shape), INF, err)
        if value.dtype.kind != "f":
            return np.where(err > 0, INF, 0.0)
        if ulps:
            size = np.spacing(np.abs(value)).astype(F64)
            err = err + ulps * np.where(np.isfinite(value) & (value != 0), size, 0.0)
        if signless_zero:
            err = np.where(value == 0, np.maximum(err, tiny(value.dtype)), err)
        return err

    return tol


def view_tol(fn: Callable[[np.ndarray], np.ndarray]) -> Tol:
    """A view moves its operand's bounds with its elements."""
    def tol(args: list[Any], errs: list[Any], value: np.ndarray) -> np.ndarray:
        return fn(errs[0])

    tol.moves = True  # type: ignore[attr-defined]  (complex values too: see ``node``)
    return tol


# -- bounds where complex values are involved -------------------------------------------------
# ULPs of the size each op's parts are computed from: 0 where lazyarr computes NumPy's bits
COMPLEX_ULPS = {
    **dict.fromkeys(("negative", "positive", "conjugate", "add", "subtract", "equal",
                     "not_equal", "less", "less_equal", "greater", "greater_equal",
                     "maximum", "minimum", "fmax", "fmin", "logical_and", "logical_or",
                     "logical_xor", "logical_not", "isnan", "isinf", "isfinite", "rint",
                     None), 0),
    "absolute": 2, "multiply": 4, "square": 4, "true_divide": 4, "reciprocal": 4, "sign": 4,
}
LINEAR = frozenset({"negative", "positive", "conjugate", "add", "subtract", None})


def _numeric(a: Any) -> bool:
    return isinstance(a, np.ndarray | np.generic | int | float | complex)


def complex_pointwise(name: str | None) -> Tol:
    """The bound of an elementwise op with a complex operand or result, the same for both
    parts: ``ulps`` of the size the parts are computed from (the product of the operands'
    sizes for a product, the quotient's for a quotient, 16 ULPs of ``max(|value|, 1)`` for
    the elementary functions: componentwise, so a part that cancels is within ULPs of the
    whole), operand bounds carried through linear ops and products (elsewhere the element is
    not checked), and non-finite operands unchecked but for the exact ops."""
    ulps = COMPLEX_ULPS.get(name, 16)

    def tol(args: list[Any], errs: list[Any], value: np.ndarray) -> np.ndarray:
        shape = value.shape
        ops = [(np.broadcast_to(np.asarray(a), shape),
                None if e is None else np.broadcast_to(e, shape))
               for a, e in zip(args, errs, strict=True) if _numeric(a)]
        loose = np.zeros(shape, bool)
        nonfinite = np.zeros(shape, bool)
        carried = np.zeros(shape)
        for a, e in ops:
            if a.dtype.kind in "fc":
                nonfinite |= ~np.isfinite(a)
            if e is not None:
                loose |= e > 0
                carried = carried + e
        if value.dtype.kind not in "fc":  # a comparison or cast of inexact values
            return np.where(loose, INF, 0.0)
        part = value.real.dtype
        eps = float(np.finfo(part).eps)
        size = np.abs(value).astype(F64)
        mags = [np.abs(a).astype(F64) for a, _ in ops]
        if name in ("multiply", "square") and mags:
            size = np.maximum(size, math.prod(mags) if name == "multiply" else mags[0] ** 2)
        elif name in ("true_divide", "reciprocal"):
            size = np.maximum(size, 1.0 if name == "reciprocal" else mags[0]) / \
                np.maximum(mags[-1], float(np.finfo(part).tiny))
        elif name == "sign":
            size = np.ones(shape)
        elif ulps == 16:
            size = np.maximum(size, 1.0)
            if name == "power" and len(mags) == 2:  # exp(w log z): the error of w log z
                size = size * (1 + mags[1] * (1 + np.abs(np.log(np.maximum(mags[0], 1e-300)))))
        err = ulps * eps * size
        if name in LINEAR:
            err = err + carried + np.where(loose, eps * size, 0.0)
        elif name == "multiply" and len(ops) == 2:
            (_, ea), (_, eb) = ops
            ea = np.zeros(shape) if ea is None else ea
            eb = np.zeros(shape) if eb is None else eb
            err = err + mags[1] * ea + mags[0] * eb + ea * eb + np.where(loose, eps * size, 0)
        else:
            err = np.where(loose, INF, err)
        if ulps:
            err = np.where(nonfinite, INF, np.maximum(err, tiny(part)))  # either zero sign
        return np.where(np.isnan(err), INF, err)

    return tol


def complex_reduction_tol(kind: str, x: np.ndarray, e: np.ndarray, axes: tuple[int, ...],
                          value: np.ndarray) -> np.ndarray:
    """sum and mean of complex values: (n + 1) eps of the sum of magnitudes for each part;
    the others are NumPy's own on the evaluated values (or exact): unchecked only in rows
    with a bound."""
    loose = np.any(e > 0, axis=axes, keepdims=True)
    if kind not in ("sum", "mean") or value.dtype.kind not in "fc":
        return np.where(loose, INF, 0.0).reshape(value.shape)
    eps = float(np.finfo(value.real.dtype).eps)
    n = count(x.shape, axes)
    mag = np.where(np.isfinite(x), np.abs(x), 0.0).astype(F64)
    err = (n + 1) * eps * np.sum(mag, axis=axes, keepdims=True) + \
        np.sum(e, axis=axes, keepdims=True)
    v = np.abs(value).reshape(err.shape).astype(F64)
    if kind == "mean":  # the complex division by the count rounds again
        err = err / max(n, 1) + 4 * eps * v
    err = np.maximum(err, tiny(value.real.dtype))
    return np.where(np.isnan(err), INF, err).reshape(value.shape)


def count(shape: Shape, axes: Sequence[int]) -> int:
    return math.prod(shape[a] for a in axes)


def sum_tol(kind: str, x: np.ndarray, e: np.ndarray, axes: tuple[int, ...],
            value: np.ndarray) -> np.ndarray:
    """sum, prod, mean: (n + 1) eps of the sum (product) of magnitudes, plus the operands'
    bounds carried through."""
    loose = np.any(e > 0, axis=axes, keepdims=True)
    if value.dtype.kind != "f":
        return np.where(loose, INF, 0.0).reshape(value.shape)
    eps = float(np.finfo(value.dtype).eps)
    n = count(x.shape, axes)
    xf = x.astype(value.dtype).astype(F64)
    finite = np.isfinite(xf)
    if kind == "prod":
        mag = np.where(finite, np.abs(xf), 1.0)
        base = np.prod(mag, axis=axes, keepdims=True)
        err = (n + 1) * eps * base + (np.prod(mag + e, axis=axes, keepdims=True) - base)
        # a partial product in the subnormals is rounded to a multiple of the smallest one
        # (then scaled by the factors still to come): the order of the factors matters there
        err = err + (n + 1) * tiny(value.dtype) * \
            np.prod(np.maximum(mag, 1.0), axis=axes, keepdims=True)
        # with an infinity in the row, a partial product of the small factors that
        # underflows to 0 in some order makes NaN instead of an infinity (NumPy multiplies
        # in order, lazyarr in vector lanes): either is the product of some order
        least = np.prod(np.minimum(mag, 1.0), axis=axes, keepdims=True)
        inf_row = np.any(np.isinf(xf), axis=axes, keepdims=True)
        err = np.where(inf_row & (least < tiny(value.dtype)), INF, err)
    else:
        mag = np.where(finite, np.abs(xf), 0.0)
        err = (n + 1) * eps * np.sum(mag, axis=axes, keepdims=True) + \
            np.sum(e, axis=axes, keepdims=True)
    v = value.reshape(err.shape)
    if kind == "mean":
        err = err / max(n, 1)
        err = np.where(err > 0, err + eps * np.abs(v.astype(F64)), err)
    err = np.where(np.isnan(err), INF, err)
    err = np.where(loose & (v == 0) & (err == 0), tiny(value.dtype), err)
    return err.reshape(value.shape)


def extreme_tol(x: np.ndarray, e: np.ndarray, axes: tuple[int, ...],
                value: np.ndarray) -> np.ndarray:
    """min, max: the largest operand bound; a zero's sign is NumPy's whim when the row has
    both +0.0 and -0.0."""
    if value.dtype.kind != "f":
        return np.where(np.any(e > 0, axis=axes, keepdims=True), INF, 0.0).reshape(value.shape)
    err = np.max(e, axis=axes, keepdims=True)
    zero = x == 0
    both = np.any(zero & np.signbit(x), axis=axes, keepdims=True) & \
        np.any(zero & ~np.signbit(x), axis=axes, keepdims=True)
    v = value.reshape(err.shape)
    err = np.where((v == 0) & both, np.maximum(err, tiny(value.dtype)), err)
    return err.reshape(value.shape)


def truth_tol(kind: str, x: np.ndarray, e: np.ndarray, axes: tuple[int, ...],
              value: np.ndarray) -> np.ndarray:
    """any, all: known where some element surely decides, or all surely agree."""
    if x.dtype.kind == "f":
        yes = (np.isnan(x) & ~np.isinf(e)) | (np.abs(x.astype(F64)) > e)
        no = (x == 0) & (e <= tiny(x.dtype))
    else:
        yes, no = (x != 0) & (e == 0), (x == 0) & (e == 0)
    if kind == "all":
        yes, no = no, yes
    known = np.any(yes, axis=axes, keepdims=True) | np.all(no, axis=axes, keepdims=True)
    return np.where(known, 0.0, INF).reshape(value.shape)


def arg_tol(kind: str, x: np.ndarray, e: np.ndarray, axis: Any,
            value: np.ndarray) -> np.ndarray:
    """argmin, argmax: unknown in a row where another element may come within the bounds."""
    if not np.any(e > 0):
        return np.zeros(value.shape)
    if axis is None:
        xr, er = x.reshape(-1), e.reshape(-1)
    else:
        a = normalize_axis_index(axis, x.ndim)
        xr, er = np.moveaxis(x, a, -1), np.moveaxis(e, a, -1)
    unknown = np.any(np.isinf(er), axis=-1)
    if x.dtype.kind == "f":
        x64 = xr.astype(F64)
        slack = np.max(er, axis=-1, keepdims=True)
        if kind == "argmin":
            close = x64 - er <= np.min(x64, axis=-1, keepdims=True) + slack
        else:
            close = x64 + er >= np.max(x64, axis=-1, keepdims=True) - slack
        nans = np.any(np.isnan(x64), axis=-1)  # the first NaN wins, whatever the bounds
        unknown |= (np.sum(close, axis=-1) > 1) & ~nans
    else:
        unknown |= np.any(er > 0, axis=-1)
    return np.where(unknown, INF, 0.0).reshape(value.shape)


def var_tol(kind: str, x: np.ndarray, e: np.ndarray, axes: tuple[int, ...], ddof: float,
            value: np.ndarray) -> np.ndarray:
    """var, std: the two-pass formula's rounding (its mean and its sum of squares) and the
    operands' bounds carried through it."""
    eps = float(np.finfo(value.dtype).eps)
    n = count(x.shape, axes)
    d = max(n - ddof, 0)
    if n == 0:
        return np.zeros(value.shape)
    xf = x.astype(value.dtype).astype(F64)
    m = np.mean(xf, axis=axes, keepdims=True)
    c = xf - m
    dm = (n + 1) * eps * np.mean(np.abs(xf), axis=axes, keepdims=True) + eps * np.abs(m) + \
        np.mean(e, axis=axes, keepdims=True)
    dc = e + dm + eps * np.abs(c)
    total = np.sum(2 * np.abs(c) * dc + dc * dc + eps * c * c, axis=axes, keepdims=True) + \
        (n + 1) * eps * np.sum(c * c, axis=axes, keepdims=True)
    total = total + (n + 1) * tiny(value.dtype)  # squares rounded in the subnormals
    var = np.sum(c * c, axis=axes, keepdims=True) / d if d else np.full(total.shape, INF)
    err = total / d + eps * var if d else np.where(total > 0, INF, 0.0)
    if kind == "std":
        s = np.sqrt(var)
        err = np.maximum(np.sqrt(var + err) - s, s - np.sqrt(np.maximum(var - err, 0.0))) + \
            2 * eps * s
    finite = np.all(np.isfinite(xf), axis=axes, keepdims=True)
    err = np.where(finite, np.where(np.isnan(err), INF, err), 0.0)  # NaN/inf rows: exact
    err = np.where(np.any(np.isinf(e), axis=axes, keepdims=True), INF, err)
    return err.reshape(value.shape)


def logsumexp_tol(x: np.ndarray, e: np.ndarray, axes: tuple[int, ...],
                  value: np.ndarray) -> np.ndarray:
    """logsumexp is 1-Lipschitz in the largest operand bound; plus the rounding of n exps,
    their sum, the log and the final add."""
    if value.dtype.kind != "f":
        return np.zeros(value.shape)
    eps = float(np.finfo(value.dtype).eps)
    n = count(x.shape, axes)
    x64 = x.astype(F64)
    top = np.max(x64, axis=axes, keepdims=True)
    shift = np.where(np.isfinite(top), top, 0.0)
    lg = np.log(np.sum(np.exp(x64 - shift), axis=axes, keepdims=True))
    lg = np.where(np.isfinite(lg), lg, 0.0)
    err = np.max(e, axis=axes, keepdims=True) + \
        eps * ((n + 8) + 6 * np.abs(lg) + 2 * np.abs(shift))
    v = value.reshape(err.shape)
    loose = np.any(e > 0, axis=axes, keepdims=True)
    err = np.where(np.isfinite(v), err, np.where(loose, INF, 0.0))
    return err.reshape(value.shape)


def reduction_tol(kind: str, axis: Any, ddof: float) -> Tol:  # (complex: see node)
    def tol(args: list[Any], errs: list[Any], value: np.ndarray) -> np.ndarray:
        x, e = args[0], errs[0]
        if kind in ("argmin", "argmax") and x.dtype.kind != "c":
            return arg_tol(kind, x, e, None if x.ndim == 0 else axis, value)
        # NumPy's ufunc reductions of a 0-d array take axis 0 or -1 (reducing nothing)
        axes = tuple(range(x.ndim)) if axis is None else \
            normalize_axis_tuple(axis, x.ndim) if x.ndim else ()
        if x.dtype.kind == "c":
            return complex_reduction_tol(kind, x, e, axes, value)
        if kind in ("sum", "prod", "mean"):
            return sum_tol(kind, x, e, axes, value)
        if kind in ("min", "max"):
            return extreme_tol(x, e, axes, value)
        if kind in ("any", "all"):
            return truth_tol(kind, x, e, axes, value)
        if kind in ("var", "std"):
            return var_tol(kind, x, e, axes, ddof, value)
        return logsumexp_tol(x, e, axes, value)

    tol.reduces = True  # type: ignore[attr-defined]  (it has complex bounds of its own)
    return tol


# -- the tree -----------------------------------------------------------------------------
@dataclass(eq=False)
class Expr:
    """A node: its lazyarr text, operands (nodes, Python scalars, None), how lazyarr builds it
    from its operands' lazy arrays, and NumPy's value with its bound, or NumPy's exception."""

    text: str
    kids: tuple[Any, ...]
    la_fn: Callable[..., Any]
    value: np.ndarray | None
    err: np.ndarray | None
    error: Exception | None = None
    late: bool = False  # lazyarr may raise ``error`` at evaluation instead of at build
    also: tuple[type[Exception], ...] = ()  # other exceptions lazyarr may raise instead
    np_fn: Callable[..., Any] | None = None  # how NumPy computes it again (None: a leaf)
    tol: Tol | None = None


def node(text: str, kids: tuple[Any, ...], np_fn: Callable[..., Any],
         la_fn: Callable[..., Any], tol: Tol, late_ok: bool = False,
         ufunc: np.ufunc | None = None) -> Expr:
    """Apply ``np_fn`` to the operands' NumPy values: a node with NumPy's value and bound, or
    with the exception NumPy raised (lazyarr must raise it too). A ``ufunc`` whose loop
    computes in a dtype lazyarr lacks (float16: ``np.sqrt(int8)``, ``np.signbit(int8)``) must
    be a TypeError at build, whatever else NumPy says."""
    args = [k.value if isinstance(k, Expr) else k for k in kids]
    refused = ufunc is not None and not SUPPORTED.issuperset(numpy_loop(ufunc, args))
    try:
        with quiet():
            value = np.asarray(np_fn(*args))
    except Exception as exc:
        late = late_ok and isinstance(exc, ValueError) and "negative integer powers" in str(exc)
        return Expr(text, kids, la_fn, None, None, exc, late, (TypeError,) if refused else ())
    if refused or value.dtype not in SUPPORTED:
        return Expr(text, kids, la_fn, None, None, TypeError(
            f"NumPy computes {value.dtype} (loop {numpy_loop(ufunc, args) if ufunc else ''}), "
            "which lazyarr refuses"))
    errs = [k.err if isinstance(k, Expr) else None for k in kids]
    involved = value.dtype.kind == "c" or any(
        _numeric(a) and np.asarray(a).dtype.kind == "c" for a in args)
    if involved and not getattr(tol, "moves", False) and not getattr(tol, "reduces", False):
        tol = complex_pointwise(None if ufunc is None else ufunc.__name__)
    with quiet():
        err = np.array(np.broadcast_to(np.asarray(tol(args, errs, value), F64), value.shape))
    return Expr(text, kids, la_fn, value, err, np_fn=np_fn, tol=tol)


def recompute(e: Expr, memo: dict[int, tuple[np.ndarray, np.ndarray]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """NumPy's value and bound of a node again, after its leaves' arrays changed in place
    (raises what NumPy raises)."""
    if id(e) not in memo:
        if e.np_fn is None or e.tol is None:
            assert e.value is not None and e.err is not None
            memo[id(e)] = (e.value, e.err)
        else:
            found = [recompute(k, memo) if isinstance(k, Expr) else (k, None) for k in e.kids]
            args, errs = [f[0] for f in found], [f[1] for f in found]
            with quiet():
                value = np.asarray(e.np_fn(*args))
                err = np.array(np.broadcast_to(np.asarray(e.tol(args, errs, value), F64),
                                               value.shape))
            memo[id(e)] = (value, err)
    return memo[id(e)]


def scalar_text(v: Any) -> str:
    text = repr(v)
    return f"({text})" if text.startswith("-") else text


def text_of(x: Any) -> str:
    return x.text if isinstance(x, Expr) else scalar_text(x)


def kwargs_text(kw: dict[str, Any]) -> str:
    return "".join(f", {k}={v!r}" if not isinstance(v, np.dtype) else f", {k}='{v}'"
                   for k, v in kw.items())


def index_text(index: Any) -> str:
    def one(i: Any) -> str:
        if isinstance(i, slice):
            s = f"{'' if i.start is None else i.start}:{'' if i.stop is None else i.stop}"
            return s if i.step is None else f"{s}:{i.step}"
        return "..." if i is Ellipsis else repr(i)

    if not isinstance(index, tuple):
        return one(index)
    if len(index) == 1:
        return f"{one(index[0])},"
    return ", ".join(map(one, index)) if index else "()"


def fit(shape: Sequence[int], limit: int = MAX_SIZE) -> Shape:
    dims = list(shape)
    while math.prod(dims) > limit:
        k = int(np.argmax(dims))
        dims[k] = max(1, dims[k] // 2)
    return tuple(dims)


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class Gen:
    """Grows a random tree with Hypothesis' draws, computing NumPy's value node by node."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
        self.leaves: list[Expr] = []
        self.sources: list[str] = []  # Python that makes each leaf
        self.updates: list[str] = []  # Python that changes leaves in place (second evaluation)
        self.built: list[Expr] = []

    # -- drawing --------------------------------------------------------------------------
    # Hypothesis draws a small range's lowest value about half the time (sampled_from too);
    # 0..99 comes out nearly uniform, so choices among n < 100 are made from that.
    def below(self, n: int) -> int:
        """A nearly uniform integer in [0, n); shrinks towards 0."""
        if n > 100:
            return self.data.draw(st.integers(0, n - 1))
        return self.data.draw(st.integers(0, 99)) * n // 100

    def pick(self, options: Sequence[T]) -> T:
        return options[self.below(len(options))]

    def chance(self, percent: int) -> bool:
        """True with this probability; Hypothesis' simplest draw (0) gives the likelier
        answer, so shrinking goes towards the common case."""
        drawn = self.data.draw(st.integers(0, 99))
        return drawn < percent if percent >= 50 else drawn >= 100 - percent

    def integer(self, lo: int, hi: int) -> int:
        return lo + self.below(hi - lo + 1)

    def sample(self, options: Sequence[T], size: int) -> list[T]:
        """``size`` distinct options in random order."""
        rest, chosen = list(options), []
        for _ in range(size):
            chosen.append(rest.pop(self.below(len(rest))))
        return chosen

    def subset(self, options: Sequence[T]) -> list[T]:
        """A non-empty random subset in random order."""
        return self.sample(options, self.integer(1, len(options)))

    # -- leaves ---------------------------------------------------------------------------
    def shape(self, hint: Shape | None) -> Shape:
        if hint is not None and self.chance(80):
            keep = self.integer(0, len(hint))
            dims = [n if self.chance(75) else 1 for n in hint[len(hint) - keep:]]
            if len(dims) < 3 and self.chance(15):
                dims.insert(0, self.pick(DIMS))
            return fit(dims)
        if self.chance(10):
            return (self.pick(LONG),)
        return fit([self.pick(DIMS) for _ in range(self.pick((1, 2, 0, 3)))])

    def values(self, dt: np.dtype, shape: Shape) -> tuple[np.ndarray, str]:
        n, rng = math.prod(shape), self.rng
        if dt.kind == "c":  # the parts set apart (re + 1j * im would make NaN's of inf)
            part = np.dtype(dt.char.lower())
            (re, re_src), (im, im_src) = self.values(part, shape), self.values(part, shape)
            return (np.stack([re, im], -1).view(dt)[..., 0],
                    f"np.stack([{re_src}, {im_src}], -1).view('{dt}')[..., 0]")
        mode = self.pick(("small", "grid", "special", "wide"))
        if dt.kind == "b":
            v = rng.random(n) < self.pick((0.5, 0.0, 1.0, 0.1, 0.9))
        elif dt.kind == "f":
            if mode == "grid":  # quarters: ties for rint, floor, //, %, ==
                v = rng.integers(-8, 9, n) / 4
            elif mode == "wide":
                v = rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-3, 4, n)
            else:
                v = np.round(rng.uniform(-4, 4, n), int(rng.integers(0, 4)))
            if mode == "special":
                specials = np.array([nan, inf, -inf, -0.0, 0.0, 0.5, -2.5, 1e-300, 5e-324,
                                     1e30, -1e30])
                v = np.where(rng.random(n) < 0.3, rng.choice(specials, n), v)
            with np.errstate(over="ignore"):  # 1e30 is inf in float16
                v = v.astype(dt)
        else:
            info = np.iinfo(dt)
            lo, hi = int(info.min), int(info.max)
            if mode == "wide":
                v = rng.integers(lo, hi, n, endpoint=True, dtype=dt)
            else:
                v = rng.integers(max(lo, -10), min(hi, 10), n, endpoint=True).astype(dt)
            if mode == "special":
                edges = np.array([lo, hi, 0, 1, hi - 1] + ([-1, lo + 1] if lo else []), dt)
                v = np.where(rng.random(n) < 0.3, rng.choice(edges, n), v).astype(dt)
        v = v.reshape(shape)
        return v, f"np.array({v.ravel().tolist()!r}, dtype='{dt}').reshape({shape})"

    def array(self, dt: np.dtype, shape: Shape) -> tuple[np.ndarray, str]:
        """An array of this shape in a random layout, and Python source that makes it."""
        nd = len(shape)
        layout = self.pick(("contig", "strided", "reversed", "transposed", "broadcast",
                            "fortran"))
        if layout == "strided" and nd:
            steps = [self.pick((2, 1, 3)) for _ in shape]
            starts = [self.pick((0, 1)) for _ in shape]
            base, src = self.values(dt, tuple(n * s + o for n, s, o in
                                              zip(shape, steps, starts, strict=True)))
            index = tuple(slice(o, o + n * s, s) for n, s, o in
                          zip(shape, steps, starts, strict=True))
            arr, src = base[index], f"{src}[{index_text(index)}]"
        elif layout == "reversed" and nd:
            base, src = self.values(dt, shape)
            index = tuple(slice(None, None, -1) if self.chance(60) else slice(None)
                          for _ in shape)
            arr, src = base[index], f"{src}[{index_text(index)}]"
        elif layout == "transposed" and nd >= 2:
            order = self.sample(range(nd), nd)
            base_shape = [0] * nd
            for j, q in enumerate(order):
                base_shape[q] = shape[j]
            base, src = self.values(dt, tuple(base_shape))
            arr, src = base.transpose(order), f"{src}.transpose({tuple(order)})"
        elif layout == "broadcast" and nd:
            base_shape = tuple(1 if self.chance(50) else n for n in shape)
            base, src = self.values(dt, base_shape)
            arr, src = np.broadcast_to(base, shape), f"np.broadcast_to({src}, {shape})"
        elif layout == "fortran" and nd >= 2:
            base, src = self.values(dt, shape)
            arr, src = np.asfortranarray(base), f"np.asfortranarray({src})"
        else:
            arr, src = self.values(dt, shape)
        assert arr.shape == shape, (arr.shape, shape)
        return arr, src

    def leaf(self, hint: Shape | None) -> Expr:
        if self.leaves and self.chance(12):
            return self.pick(self.leaves)
        dt = self.pick(COMPLEX_DTYPES) if self.chance(8) else HALF if self.chance(4) else \
            self.pick(DTYPES)
        arr, src = self.array(dt, self.shape(hint))
        name = f"x{len(self.leaves)}"
        self.sources.append(f"a{name[1:]} = {src}\n{name} = la.asarray(a{name[1:]})")
        leaf = Expr(name, (), lambda: la.asarray(arr), arr, np.zeros(arr.shape))
        self.leaves.append(leaf)
        return leaf

    def scalar(self, name: str) -> Any:
        """A Python scalar (weak in NEP 50), sometimes a NumPy scalar (strong)."""
        if name in ("left_shift", "right_shift"):
            value: Any = self.pick(SHIFTS)
        elif name == "power":
            value = self.pick(EXPONENTS)
        else:
            kind = self.pick(("int", "bool") if name in BINARY_GROUPS["bitwise"] else
                             ("int", "float", "bool"))
            if kind == "int":
                value = self.pick(SMALL_INTS) if self.chance(80) else self.pick(EDGE_INTS)
            else:
                value = self.pick(FLOATS) if kind == "float" else self.pick((True, False))
            if self.chance(5):
                value = self.pick(COMPLEX_SCALARS)
        if self.chance(10):
            try:
                return self.pick(DTYPES).type(value)
            except (OverflowError, ValueError, TypeError):  # np.uint8(-1), np.int64(1j)
                pass
        return value

    # -- inner nodes ----------------------------------------------------------------------
    def tree(self) -> Expr:
        return self.expr(self.integer(1, MAX_DEPTH), None, root=True)

    def expr(self, depth: int, hint: Shape | None, root: bool = False) -> Expr:
        if depth <= 0 or (not root and self.chance(15)):
            return self.leaf(hint)
        kind = self.pick(NODE_KINDS if self.built else NODE_KINDS[:-1])
        if kind == "shared":  # a subexpression used twice
            return self.pick(self.built)
        made = getattr(self, f"node_{kind}")(depth - 1, hint)
        if made.error is None:
            self.built.append(made)
        return made

    def operand(self, depth: int, hint: Shape | None, name: str, percent: int = 30) -> Any:
        return self.scalar(name) if self.chance(percent) else self.expr(depth, hint)

    def style(self, *options: str) -> str:
        return self.pick(options)

    def node_unary(self, depth: int, hint: Shape | None) -> Expr:
        x = self.expr(depth, hint)
        if x.error:
            return x
        names = UNARY_FOR_KIND[x.value.dtype.kind] if self.chance(85) else ALL_UNARY
        return self.unary(self.pick(names), x)

    def unary(self, name: str, x: Expr) -> Expr:
        style = self.style("la", "op", "np") if name in UNARY_OPERATORS else \
            self.style("la", "np")
        if style == "op":
            form, la_fn = UNARY_OPERATORS[name]
            text = f"({form.format(x.text)})" if form[0] != "a" else form.format(x.text)
        else:
            text, la_fn = f"{style}.{name}({x.text})", getattr(la if style == "la" else np, name)
        fn = reference(name)
        return node(text, (x,), fn, la_fn,
                    pointwise(fn, UNARY_ULPS[name], nan_sign=NAN_SIGN.get(name),
                              branch=BRANCHES.get(name)),
                    ufunc=getattr(np, name))

    def node_binary(self, depth: int, hint: Shape | None) -> Expr:
        left = self.expr(depth, hint)
        if left.error:
            return left
        group = self.pick(GROUPS_FOR_KIND[left.value.dtype.kind])
        name = self.pick(BINARY_GROUPS[group])
        right = self.operand(depth, left.value.shape, name)
        if isinstance(right, Expr) and right.error:
            return right
        if isinstance(right, Expr) and group == "bitwise" and right.value.dtype.kind == "f" \
                and self.chance(80):  # mostly an integer operand: bitwise ops refuse floats
            right = self.astype(right, self.pick(DTYPES[1::2]))
            if right.error:
                return right
        if self.chance(25):
            left, right = right, left
        return self.binary(name, left, right)

    def binary(self, name: str, a: Any, b: Any) -> Expr:
        sym = BINARY_SYMBOLS.get(name)
        style = self.style("op", "la", "np") if sym else self.style("la", "np")
        if style == "op":
            text, la_fn = f"({text_of(a)} {sym} {text_of(b)})", BINARY_OPERATORS[sym]
        else:
            text = f"{style}.{name}({text_of(a)}, {text_of(b)})"
            la_fn = getattr(la if style == "la" else np, name)
        fn = reference(name)
        return node(text, (a, b), fn, la_fn,
                    pointwise(fn, BINARY_ULPS[name], name in SIGNLESS_ZERO, NAN_SIGN.get(name),
                              BRANCHES.get(name)),
                    late_ok=name == "power", ufunc=getattr(np, name))

    def node_where(self, depth: int, hint: Shape | None) -> Expr:
        cond = self.expr(depth, hint)
        if cond.error:
            return cond
        if cond.value.dtype != bool and self.chance(60):
            cond = self.binary(self.pick(BINARY_GROUPS["compare"]), cond,
                               self.pick((0, 0.5, 1, -1.5, 2)))
            if cond.error:
                return cond
        x = self.operand(depth, cond.value.shape, "where", 35)
        if isinstance(x, Expr) and x.error:
            return x
        y = self.operand(depth, cond.value.shape, "where", 35)
        if isinstance(y, Expr) and y.error:
            return y
        if all(type(v) in (int, bool) for v in (x, y)):
            # NumPy quirk: np.where(c, 2**63, 0) (or False) is int64 with 2**63 wrapped (2**64
            # raises); lazyarr does not copy that (test_differential.py keeps such pairs in
            # int64 too)
            x, y = (v if type(v) is bool else min(max(v, -(2**63)), 2**63 - 1) for v in (x, y))
        style = self.style("la", "np")
        text = f"{style}.where({cond.text}, {text_of(x)}, {text_of(y)})"
        la_fn = la.where if style == "la" else np.where
        return node(text, (cond, x, y), np.where, la_fn, pointwise(np.where))

    def node_clip(self, depth: int, hint: Shape | None) -> Expr:
        x = self.expr(depth, hint)
        if x.error:
            return x
        if x.value.dtype.kind == "c":  # NumPy orders complex values, lazyarr's clip refuses
            return x
        bounds: list[Any] = []
        for _ in range(2):
            what = self.pick(("scalar", "none", "scalar", "expr"))
            bound = None if what == "none" else self.scalar("clip") if what == "scalar" else \
                self.expr(depth - 1, x.value.shape)
            if isinstance(bound, Expr) and bound.error:
                return bound
            if np.asarray(bound.value if isinstance(bound, Expr) else bound).dtype.kind == "c":
                return x  # (complex bounds: as a complex operand)
            bounds.append(bound)
        lo, hi = bounds
        style = self.style("la", "method", "np")
        if style == "method":
            text = f"{x.text}.clip({text_of(lo)}, {text_of(hi)})"
            la_fn: Callable[..., Any] = lambda a, b, c: a.clip(b, c)  # noqa: E731
        else:
            text = f"{style}.clip({x.text}, {text_of(lo)}, {text_of(hi)})"
            la_fn = la.clip if style == "la" else np.clip
        return node(text, (x, lo, hi), np.clip, la_fn, pointwise(np.clip, signless_zero=True))

    def node_astype(self, depth: int, hint: Shape | None) -> Expr:
        x = self.expr(depth, hint)
        if x.error:
            return x
        return self.astype(x, self.pick(UNSUPPORTED) if self.chance(4) else self.pick(DTYPES))

    def astype(self, x: Expr, dt: np.dtype) -> Expr:
        if self.style("method", "la") == "method":
            text = f"{x.text}.astype('{dt}')"
            la_fn: Callable[..., Any] = lambda a: a.astype(dt)  # noqa: E731
        else:
            text, la_fn = f"la.astype({x.text}, '{dt}')", lambda a: la.astype(a, dt)

        def fn(a: Any) -> np.ndarray:
            return cast(a, dt)

        return node(text, (x,), fn, la_fn, pointwise(fn))

    def axis(self, kind: str, nd: int, slot: int | None) -> tuple[bool, Any]:
        """(given, axis): whether to pass ``axis=`` and its value."""
        if slot is not None and self.chance(60):
            return True, slot - nd if self.chance(40) else slot
        single = kind in ("argmin", "argmax")
        if nd == 0:  # NumPy's ufunc reductions take axis 0 and -1 here, mean and var do not
            how = self.pick(("default", "none", "zero", "none" if single else "empty"))
        elif single:
            how = self.pick(("int", "none", "default", "int", "int", "none", "default", "int",
                             "tuple", "bad"))
        else:
            how = self.pick(("int", "tuple", "none", "default", "int", "tuple", "empty", "int",
                             "tuple", "bad"))
        if how == "zero":
            return True, self.pick((0, -1))
        if how == "default":
            return False, None
        if how == "none":
            return True, None
        if how == "empty":
            return True, ()
        if how == "int" and nd:
            return True, self.integer(-nd, nd - 1)
        if how == "tuple" and nd:
            axes = self.subset(range(nd))
            return True, tuple(a - nd if self.chance(30) else a for a in axes)
        return True, self.pick((nd, -nd - 1, (0, 0), (0, -nd)))  # AxisError, ValueError

    def node_reduce(self, depth: int, hint: Shape | None) -> Expr:
        kind = self.pick(REDUCTIONS)
        child_hint, slot = None, None
        if hint is not None and len(hint) < 3 and self.chance(60):
            slot = self.integer(0, len(hint))
            child_hint = (*hint[:slot], self.pick(DIMS), *hint[slot:])
        x = self.expr(depth, child_hint)
        if x.error:
            return x
        nd = x.value.ndim
        given_axis, axis = self.axis(kind, nd, slot if child_hint and len(child_hint) == nd
                                     else None)
        kw: dict[str, Any] = {"axis": axis} if given_axis else {}
        if kind in ("sum", "prod") and self.chance(30):  # sum(bool, dtype=bool) is any()
            kw["dtype"] = np.dtype(bool) if x.value.dtype == bool and self.chance(50) else \
                self.pick(SUM_DTYPES)
        if kind in ("var", "std") and self.chance(40):
            kw["ddof"] = self.pick((1, 2, 0.5))
        if kind in ("mean", "var", "std") and self.chance(15):
            kw["dtype"] = self.pick((np.dtype("float32"), np.dtype("float64")))
        if self.chance(30):
            kw["keepdims"] = True
        return self.reduction(kind, x, kw)

    def reduction(self, kind: str, x: Expr, kw: dict[str, Any]) -> Expr:
        if x.value is not None and x.value.dtype.kind == "c":
            kind = kind if kind in COMPLEX_REDUCTIONS else "sum"
            kw = {k: v for k, v in kw.items() if k not in ("dtype", "ddof")}
        style = "la" if kind == "logsumexp" else \
            self.style("la", "method", "np", "reduce") if kind in UFUNC_REDUCE else \
            self.style("la", "method", "np")
        if style == "reduce":  # np.add.reduce(x, axis=0, ...): NumPy's default axis is 0
            ufunc = getattr(np, UFUNC_REDUCE[kind])
            text = f"np.{ufunc.__name__}.reduce({x.text}{kwargs_text(kw)})"

            def reduce_fn(a: Any) -> np.ndarray:
                dt = kw.get("dtype")
                return ufunc.reduce(a if dt is None or dt.kind not in "iu" else cast(a, dt),
                                    **kw)

            return node(text, (x,), reduce_fn, lambda a: ufunc.reduce(a, **kw),
                        reduction_tol(kind, kw.get("axis", 0), 0))
        if style == "method":
            text = f"{x.text}.{kind}({kwargs_text(kw)[2:]})"
            la_fn: Callable[..., Any] = lambda a: getattr(a, kind)(**kw)  # noqa: E731
        else:
            text = f"{style}.{kind}({x.text}{kwargs_text(kw)})"
            module = la if style == "la" else np
            la_fn = lambda a: getattr(module, kind)(a, **kw)  # noqa: E731

        def fn(a: np.ndarray) -> np.ndarray:
            dt = kw.get("dtype")
            if dt is not None:  # NumPy casts first, float to int by the CPU's rule
                a = cast(a, dt)
            if kind == "logsumexp":
                return logsumexp(a, **kw)
            return getattr(np, kind)(a, **kw)

        return node(text, (x,), fn, la_fn,
                    reduction_tol(kind, kw.get("axis"), kw.get("ddof", 0)))

    def node_rowwise(self, depth: int, hint: Shape | None) -> Expr:
        """``x op reduce(f(x), axis, keepdims=True)``: softmax and layer-norm shapes, which
        lazyarr runs row by row in one kernel."""
        x = self.expr(depth, hint)
        if x.error:
            return x
        inner = x
        if self.chance(40):
            inner = self.unary(self.pick(("exp", "square", "absolute", "negative")), x)
            if inner.error:
                return inner
        nd = x.value.ndim
        axis = None if nd == 0 or self.chance(15) else self.integer(-nd, nd - 1) \
            if self.chance(75) else tuple(self.subset(range(nd)))
        kind = self.pick(("max", "sum", "mean", "logsumexp", "min", "std", "var", "prod"))
        red = self.reduction(kind, inner, {"axis": axis, "keepdims": True})
        if red.error:
            return red
        name = self.pick(("subtract", "true_divide", "add", "multiply", "maximum", "greater"))
        return self.binary(name, inner if self.chance(50) else x, red)

    # -- views ----------------------------------------------------------------------------
    def index(self, shape: Shape) -> Any:
        if shape and 0 not in shape and self.chance(15):  # down to one element: x[1, -2]
            return tuple(self.integer(-n, n - 1) for n in shape)
        items: list[Any] = []
        for n in shape[:self.integer(0, len(shape))]:
            what = self.pick(("full", "int", "slice", "step"))
            if what == "full":
                items.append(slice(None))
            elif what == "int":
                in_range = n > 0 and not self.chance(4)
                items.append(self.integer(-n, n - 1) if in_range else self.pick((n, -n - 1)))
            elif what == "step":
                items.append(slice(None, None, self.pick((-1, 2, -2, 3))))
            else:
                items.append(slice(self.pick((None, 0, 1, -1, 2, -2)),
                                   self.pick((None, -1, 1, 2, 3, n, n + 2)),
                                   self.pick((None, 1, 2, -1, -2, 3, -3))))
        for _ in range(self.pick((0, 1, 0, 2))):
            items.insert(self.integer(0, len(items)), None)
        if self.chance(15):
            items.insert(self.integer(0, len(items)), Ellipsis)
        if len(items) == 1 and self.chance(50):
            return items[0]
        return tuple(items)

    def reshape_target(self, shape: Shape) -> Any:
        size = math.prod(shape)
        how = self.pick(("split", "flat", "minus", "split", "bad"))
        if how == "flat":
            return self.pick((-1, (size,)))
        if how == "bad":
            return self.pick(((size + 1,), (-1, -1), (2, -1) if size % 2 else (size + 2,)))
        if size == 0:
            dims = list(self.pick(((0,), (0, 3), (2, 0), (1, 0, 2), (3, 0, 1))))
        else:
            dims, rest = [], size
            for _ in range(self.pick((1, 2, 3, 0))):
                dims.append(self.pick(divisors(rest)))
                rest //= dims[-1]
            if rest != 1 or not dims or self.chance(30):
                dims.append(rest)
        if how == "minus" and dims:
            dims[self.integer(0, len(dims) - 1)] = -1
        return tuple(dims)

    def broadcast_target(self, shape: Shape) -> Shape:
        lead = tuple(self.pick((2, 1, 3)) for _ in range(self.pick((0, 1, 0, 2))))
        body = [self.pick((n, 2, 3)) if n == 1 else n for n in shape]
        if self.chance(8) and any(n > 1 for n in body):
            k = max(range(len(body)), key=lambda i: body[i])
            body[k] += 1  # does not broadcast: ValueError
        target = (*lead, *body)
        return target if math.prod(target) <= 2 * MAX_SIZE else tuple(body)

    def axes_arg(self, nd: int, allow_none: bool = True) -> Any:
        how = self.pick(("int", "tuple", "none") if allow_none else ("int", "tuple"))
        if how == "none" or nd == 0:
            return None if how == "none" else self.pick((0, -1))
        if how == "int":
            return self.integer(-nd, nd - 1)
        return tuple(self.subset(range(nd)))

    def node_view(self, depth: int, hint: Shape | None) -> Expr:
        kind = self.pick(VIEWS)
        child_hint = hint[::-1] if hint and kind == "T" else \
            hint if kind in ("flip", "index") else None
        x = self.expr(depth, child_hint)
        if x.error:
            return x
        shape, nd = x.value.shape, x.value.ndim
        if nd == 0 and kind in ("flip", "squeeze", "swapaxes", "moveaxis", "transpose") and \
                self.chance(85):  # most would be AxisErrors
            kind = self.pick(("index", "reshape", "expand_dims", "broadcast_to", "T"))
        t = x.text
        style = self.style("la", "np")
        mod = la if style == "la" else np
        fn: Callable[[np.ndarray], Any]
        la_fn: Callable[[Any], Any]
        if kind == "index":
            index = self.index(shape)
            text = f"{t}[{index_text(index)}]"
            fn = la_fn = lambda a: a[index]
        elif kind == "T":
            text, fn = f"{t}.T", (lambda a: a.T)
            la_fn = fn
        elif kind == "mT":  # ValueError below 2-d
            text, fn = f"{t}.mT", (lambda a: a.mT)
            la_fn = fn
        elif kind == "transpose":
            axes = None if self.chance(20) else \
                tuple(a - nd if self.chance(25) else a
                      for a in self.sample(range(nd), nd))
            if self.chance(5) and nd:
                axes = (0,) * nd if nd > 1 else (0, 0)  # repeated or wrong count: ValueError
            text = f"{style}.transpose({t}, {axes!r})"
            fn = lambda a: np.transpose(a, axes)  # noqa: E731
            la_fn = lambda a: mod.transpose(a, axes)  # noqa: E731
        elif kind == "reshape":
            target = self.reshape_target(shape)
            style = self.style("method", "la", "np")
            text = f"{t}.reshape({target!r})" if style == "method" else \
                f"{style}.reshape({t}, {target!r})"
            fn = lambda a: np.reshape(a, target)  # noqa: E731
            la_fn = (lambda a: a.reshape(target)) if style == "method" else \
                (lambda a: (la if style == "la" else np).reshape(a, target))
        elif kind == "ravel":
            text, fn = f"{style}.ravel({t})", np.ravel
            la_fn = lambda a: mod.ravel(a)  # noqa: E731
        elif kind == "flip":
            axis = self.axes_arg(nd)
            text = f"{style}.flip({t}, {axis!r})"
            fn = lambda a: np.flip(a, axis)  # noqa: E731
            la_fn = lambda a: mod.flip(a, axis)  # noqa: E731
        elif kind == "broadcast_to":
            target = self.broadcast_target(shape)
            text = f"{style}.broadcast_to({t}, {target!r})"
            fn = lambda a: np.broadcast_to(a, target)  # noqa: E731
            la_fn = lambda a: mod.broadcast_to(a, target)  # noqa: E731
        elif kind == "expand_dims":
            axis = self.integer(-nd - 1, nd) if self.chance(70) else \
                tuple(self.sample(range(nd + 2), self.integer(1, 2)))
            text = f"{style}.expand_dims({t}, {axis!r})"
            fn = lambda a: np.expand_dims(a, axis)  # noqa: E731
            la_fn = lambda a: mod.expand_dims(a, axis)  # noqa: E731
        elif kind == "squeeze":
            ones = [d for d, n in enumerate(shape) if n == 1]
            axis = None
            if ones and self.chance(60):
                chosen = self.subset(ones)
                axis = chosen[0] if len(chosen) == 1 and self.chance(50) else tuple(chosen)
            elif nd and self.chance(10):
                axis = self.integer(0, nd - 1)  # ValueError unless its size is 1
            text = f"{style}.squeeze({t}, {axis!r})"
            fn = lambda a: np.squeeze(a, axis)  # noqa: E731
            la_fn = lambda a: mod.squeeze(a, axis)  # noqa: E731
        elif kind == "swapaxes":
            a1, a2 = (self.integer(-nd, nd - 1) if nd else 0 for _ in range(2))
            text = f"{style}.swapaxes({t}, {a1}, {a2})"
            fn = lambda a: np.swapaxes(a, a1, a2)  # noqa: E731
            la_fn = lambda a: mod.swapaxes(a, a1, a2)  # noqa: E731
        else:
            src, dst = (self.integer(-nd, nd - 1) if nd else 0 for _ in range(2))
            text = f"{style}.moveaxis({t}, {src}, {dst})"
            fn = lambda a: np.moveaxis(a, src, dst)  # noqa: E731
            la_fn = lambda a: mod.moveaxis(a, src, dst)  # noqa: E731
        return node(text, (x,), fn, la_fn, view_tol(fn))


# -- checking -----------------------------------------------------------------------------
def same_kind(got: BaseException, want: BaseException) -> bool:
    """``got`` is caught by every builtin exception class that catches ``want``."""
    builtin = [c for c in type(want).__mro__
               if c.__module__ == "builtins" and c not in (BaseException, Exception, object)]
    return all(isinstance(got, c) for c in builtin)


def show(a: np.ndarray) -> str:
    return np.array2string(np.asarray(a), threshold=200, max_line_width=98, floatmode="unique")


def nodes_of(e: Expr, found: dict[int, Expr]) -> dict[int, Expr]:
    found[id(e)] = e
    for k in e.kids:
        if isinstance(k, Expr):
            nodes_of(k, found)
    return found


def leaves_of(e: Expr, found: dict[int, Expr]) -> dict[int, Expr]:
    return {k: n for k, n in nodes_of(e, found).items() if not n.kids}


def report(gen: Gen, root: Expr, what: str, extra: Sequence[str] = ()) -> str:
    lines = [what, f"expression: {root.text}",
             "inputs (after the update):" if gen.updates else "inputs:"]
    used = leaves_of(root, {})
    sources = [src for leaf, src in zip(gen.leaves, gen.sources, strict=True) if id(leaf) in used]
    for leaf in gen.leaves:
        if id(leaf) in used:
            a = leaf.value
            lines.append(f"  {leaf.text}: {a.dtype} {a.shape} strides {a.strides}: "
                         f"{show(a)}".replace("\n", "\n    "))
    code = ["import numpy as np", "import lazyarr as la", "from numpy import nan, inf",
            *sources, f"e = {root.text}", "print(la.eval(e))",
            "print(la.eval(e, backend='interp'))", *extra]
    if gen.updates:
        code += [*gen.updates, "print(la.eval(e))  # the same expression again"]
    lines.append("reproducer:")
    lines += [f"  {line}" for c in code for line in c.split("\n")]
    return "\n".join(lines)


def bad_elements(got: np.ndarray, want: np.ndarray, err: np.ndarray) -> np.ndarray:
    """Where ``got`` is outside the bound of ``want`` (inf: not compared)."""
    care = ~np.isinf(err)
    if want.dtype.kind == "c":  # each part within the bound
        return bad_elements(got.real, want.real, err) | bad_elements(got.imag, want.imag, err)
    if want.dtype.kind != "f":
        return care & (got != want)
    g, w = got.astype(F64), want.astype(F64)
    gn, wn = np.isnan(g), np.isnan(w)
    exact = (g == w) & (np.signbit(g) == np.signbit(w))
    close = (g == w) | (np.abs(g - w) <= err)
    ok = (gn & wn) | (~gn & ~wn & np.where(err == 0, exact, close))
    return care & ~ok


class BuildError(Exception):
    def __init__(self, expr: Expr, exc: Exception) -> None:
        super().__init__(expr.text)
        self.expr, self.exc = expr, exc


def to_lazy(e: Expr, memo: dict[int, Any]) -> Any:
    """The lazy array of a node NumPy computes (BuildError if lazyarr raises)."""
    if id(e) not in memo:
        kids = [to_lazy(k, memo) if isinstance(k, Expr) else k for k in e.kids]
        try:
            memo[id(e)] = e.la_fn(*kids)
        except Exception as exc:
            raise BuildError(e, exc) from exc
    return memo[id(e)]


def check(gen: Gen, root: Expr) -> None:
    memo: dict[int, Any] = {}
    try:
        kids = [to_lazy(k, memo) if isinstance(k, Expr) else k for k in root.kids]
    except BuildError as failed:
        sub = failed.expr
        assert sub.value is not None
        raise AssertionError(report(gen, sub, f"lazyarr raised {failed.exc!r} at build; NumPy "
                                              f"computes {sub.value.dtype} {sub.value.shape}")
                             ) from failed.exc
    if root.error is not None:
        want = root.error
        event(f"NumPy raises {type(want).__name__}")
        try:
            lazy = root.la_fn(*kids)
        except Exception as exc:
            assert same_kind(exc, want) or isinstance(exc, root.also), report(
                gen, root, f"lazyarr raised {exc!r} at build, NumPy raised {want!r}")
            return
        if not root.late:
            raise AssertionError(report(gen, root, f"lazyarr built {lazy!r}, NumPy raised "
                                                   f"{want!r}"))
        for backend in ("cpu", "interp"):
            try:
                got = la.eval(lazy, backend=backend)
            except Exception as exc:
                assert same_kind(exc, want), report(
                    gen, root, f"{backend}: lazyarr raised {exc!r}, NumPy raised {want!r}")
                continue
            raise AssertionError(report(gen, root, f"{backend}: lazyarr computed {show(got)}, "
                                                   f"NumPy raised {want!r}"))
        return
    want, err = root.value, root.err
    assert want is not None and err is not None
    event(f"value {want.dtype.kind} rank {want.ndim}")
    try:
        lazy = root.la_fn(*kids)
    except Exception as exc:
        raise AssertionError(report(gen, root, f"lazyarr raised {exc!r} at build; NumPy "
                                               f"computes {want.dtype} {want.shape}")) from exc
    assert type(lazy) is la.LazyArray, report(gen, root, f"not lazy: {type(lazy)}")
    assert (lazy.shape, lazy.dtype) == (want.shape, want.dtype), report(
        gen, root, f"lazyarr builds {lazy.dtype} {lazy.shape}, NumPy computes "
                   f"{want.dtype} {want.shape}")
    for backend in ("cpu", "interp"):
        compare(gen, root, [(lazy, want, err)], backend)
    # Several outputs evaluated together share kernels (one per shape): the root with one of
    # its subexpressions
    inner = [n for n in nodes_of(root, {}).values() if n.kids and n is not root]
    if inner and gen.chance(25):
        sub = gen.pick(inner)
        assert sub.value is not None and sub.err is not None
        compare(gen, root, [(lazy, want, err), (memo[id(sub)], sub.value, sub.err)], "cpu",
                f" (la.eval(e, s) with s = {sub.text})",
                [f"s = {sub.text}", "print(la.eval(e, s))"])
    # Captured arrays are read at evaluation: change the leaves in place and evaluate the
    # same lazy array again (the repeated-evaluation fast path, with its cached launch)
    leaves = [leaf for leaf in leaves_of(root, {}).values()
              if leaf.value is not None and leaf.value.flags.writeable and leaf.value.size]
    if not leaves or not gen.chance(30):
        return
    for leaf in leaves:
        assert leaf.value is not None
        new, src = gen.values(leaf.value.dtype, leaf.value.shape)
        leaf.value[...] = new
        gen.updates.append(f"a{leaf.text[1:]}[...] = {src}")
    try:
        want, err = recompute(root, {})
    except Exception:  # NumPy raises for the new values (a negative integer power)
        return
    compare(gen, root, [(lazy, want, err)], "cpu", " (evaluated again after the update)")


def compare(gen: Gen, root: Expr, outputs: list[tuple[Any, np.ndarray, np.ndarray]],
            backend: str, when: str = "", code: Sequence[str] = ()) -> None:
    """Evaluate the lazy arrays of ``outputs`` together with ``backend``; each must be its
    NumPy value within its bound."""
    lazies = [o[0] for o in outputs]
    try:
        got = la.eval(*lazies) if backend == "cpu" else la.eval(*lazies, backend=backend)
    except Exception as exc:
        raise AssertionError(report(gen, root, f"{backend}{when}: lazyarr raised {exc!r}",
                                    code)) from exc
    results = got if len(outputs) > 1 else (got,)
    for k, ((_, want, err), one) in enumerate(zip(outputs, results, strict=True)):
        what = f"{backend}{when}{f', output {k}' if len(outputs) > 1 else ''}"
        got_arr = np.asarray(one)
        assert isinstance(one, np.ndarray) and (got_arr.shape, got_arr.dtype) == \
            (want.shape, want.dtype), report(
            gen, root, f"{what}: lazyarr gives {type(one).__name__} {got_arr.dtype} "
                       f"{got_arr.shape}, NumPy {want.dtype} {want.shape}", code)
        with quiet():
            bad = bad_elements(got_arr, want, err)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise AssertionError(report(
                gen, root,
                f"{what}: {int(bad.sum())} of {want.size} elements differ; first at {where}: "
                f"lazyarr {got_arr[where]!r}, NumPy {want[where]!r}, bound {err[where]!r}\n"
                f"lazyarr: {show(got_arr)}\nNumPy:   {show(want)}\nbound:   {show(err)}", code))


def _settings() -> settings:
    wanted = os.environ.get("LAZYARR_TEST_EXAMPLES")
    common: dict[str, Any] = {
        "deadline": None,
        "phases": (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),  # no explain
        "report_multiple_bugs": False,
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                  HealthCheck.filter_too_much],
    }
    if wanted:
        return settings(max_examples=int(wanted), print_blob=True, **common)
    return settings(max_examples=CI_EXAMPLES, derandomize=True, database=None, **common)


@_settings()
@given(data=st.data())
def test_random_expression(data: st.DataObject) -> None:
    gen = Gen(data)
    check(gen, gen.tree())
