"""Gradients of every differentiable op, checked against central differences and JAX.

The elementwise cases are enumerated from the op table (``lazyarr.ir.ops.ROWS``): every op whose
row has a derivative rule other than ``ZERO`` needs an entry in ``CASES`` (its domain, and where
its kinks are), so an op that gains a rule is checked here without further work, and one added
without a domain fails ``test_elementwise_grad``. Each gradient is evaluated with the NumPy
interpreter and with the compiled CPU backend, in float64 and float32, and compared with a
float64 central difference of ``sum(f(x) * w)`` (``w`` a fixed random weight, so a rule that is
wrong by a factor or a sign cannot hide behind a plain sum).

Inputs are drawn as float32-representable float64 values, so one numeric gradient serves both
dtypes: the float32 gradient is compared with the float64 numeric one, with looser tolerances.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import lazyarr as la
from lazyarr.front import build
from lazyarr.ir import derivatives
from lazyarr.ir.graph import Op
from lazyarr.ir.ops import ROWS

BACKENDS = ("interp", "cpu")
FLOATS = (np.float64, np.float32)
# How close a sample may come to a kink of its op, in the units of the case's kink function
# (far more than any step): a central difference across a kink measures neither side's slope.
MARGIN = 0.05


# -- the checker ----------------------------------------------------------------------------
def _f32(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32 and held in float64: the same values in both dtypes."""
    return np.asarray(x, np.float64).astype(np.float32).astype(np.float64)


def _loss_value(f: Callable[..., Any], args: Sequence[np.ndarray], w: np.ndarray) -> float:
    out = la.eval(f(*[la.asarray(a) for a in args]), backend="interp")
    return float(np.sum(np.asarray(out, np.float64) * w))


def numeric_grad(f: Callable[..., Any], args: Sequence[np.ndarray], argnum: int,
                 w: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """d sum(f(*args) * w) / d args[argnum] by central differences in float64, the step
    ``step * max(1, |x|)`` per element; ``f`` is evaluated with the NumPy interpreter."""
    args = [np.array(a, np.float64) for a in args]
    x = args[argnum]
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        h = step * max(1.0, abs(x[i]))
        ends = []
        for s in (h, -h):
            moved = x.copy()
            moved[i] += s
            ends.append((moved[i], _loss_value(
                f, [moved if k == argnum else a for k, a in enumerate(args)], w)))
        (x_hi, f_hi), (x_lo, f_lo) = ends
        grad[i] = (f_hi - f_lo) / (x_hi - x_lo)  # the step as represented, not 2h
    return grad


def _as_list(x: Any) -> list[Any]:
    return list(x) if isinstance(x, tuple | list) else [x]


def _dense(x: np.ndarray) -> np.ndarray:
    return np.array(x, order="C")  # not ascontiguousarray: it makes a 0-d array 1-d


def _strided(x: np.ndarray) -> np.ndarray:
    """``x`` as every other element of a bigger array, in every dimension."""
    big = np.full(tuple(2 * n for n in x.shape), np.nan, x.dtype)
    view = big[tuple(slice(None, None, 2) for _ in x.shape)]
    view[...] = x
    return view


def _transposed(x: np.ndarray) -> np.ndarray:
    """``x`` in Fortran order: the transpose of a C-ordered array."""
    return np.array(x.T, order="C").T


def check_grad(f: Callable[..., Any], values: Sequence[np.ndarray], *,
               argnums: Sequence[int] | None = None,
               layout: Callable[[np.ndarray], np.ndarray] = _dense,
               dtypes: Sequence[Any] = FLOATS, backends: Sequence[str] = BACKENDS,
               step: float = 1e-6, rtol64: float = 2e-6, rtol32: float = 2e-4,
               seed: int = 0) -> None:
    """``la.grad`` of ``sum(f(*args) * w)`` with respect to ``argnums`` (default: every
    argument) against :func:`numeric_grad`, for each dtype and backend.

    ``values`` are float64 arrays of float32-representable values; each dtype's arguments are
    ``layout`` of them in that dtype. Tolerances are relative, with an absolute part scaled by
    the gradient's largest element (unbroadcast sums can cancel).
    """
    values = [_f32(v) for v in values]
    nums = tuple(range(len(values))) if argnums is None else tuple(argnums)
    out = la.eval(f(*[la.asarray(v) for v in values]), backend="interp")
    w = _f32(np.random.default_rng(seed).standard_normal(np.shape(out)))
    wanted = [numeric_grad(f, values, k, w, step) for k in nums]
    for dtype in dtypes:
        args = [layout(v.astype(dtype)) for v in values]
        w_t = w.astype(dtype)
        grads = la.grad(lambda *ts, w_t=w_t: la.sum(f(*ts) * w_t), argnums=nums)(*args)
        rtol = rtol64 if dtype == np.float64 else rtol32
        for backend in backends:
            got = _as_list(la.eval(*grads, backend=backend))
            for k, g, want in zip(nums, got, wanted, strict=True):
                what = f"d/d arg{k}, {np.dtype(dtype).name}, backend={backend}"
                assert g.shape == values[k].shape, what
                assert g.dtype == dtype, what
                scale = float(np.max(np.abs(want), initial=1.0))
                np.testing.assert_allclose(g, want, rtol=rtol, atol=rtol * scale, err_msg=what)


def _ops_in(x: Any) -> set[Op]:
    seen: set[int] = set()
    stack, found = [x._node], set()
    while stack:
        node = stack.pop()
        if id(node) not in seen:
            seen.add(id(node))
            found.add(node.op)
            stack.extend(node.src)
    return found


# -- domains of the elementwise ops ----------------------------------------------------------
@dataclass(frozen=True)
class U:
    """Uniform samples on [lo, hi]; ``signed``: |x| on [lo, hi] with a random sign."""

    lo: float
    hi: float
    signed: bool = False

    def sample(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        x = rng.uniform(self.lo, self.hi, shape)
        return x * rng.choice([-1.0, 1.0], shape) if self.signed else x


Kink = Callable[..., np.ndarray]  # operands -> distance to the op's nearest kink


def _to_integer(q: np.ndarray) -> np.ndarray:
    return np.abs(q - np.round(q))


def _apart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(x - y)


@dataclass(frozen=True)
class Case:
    """How to check one op: operand domains, the call (default ``la.<function>``, output
    ``row.output``), its kinks, the central difference's relative step and the float32
    tolerance. ``expanded``: the op is rewritten into others as it is built, so it never
    appears in the graph."""

    op: Op
    args: tuple[U, ...]
    call: Callable[..., Any] | None = None
    kink: Kink | None = None
    step: float = 1e-6
    rtol32: float = 2e-4
    expanded: bool = False

    def function(self) -> Callable[..., Any]:
        if self.call is not None:
            return self.call
        row = ROWS[self.op]
        fn = getattr(la, row.function)
        return (lambda *a: fn(*a)[row.output]) if row.nout > 1 else fn


ANY = U(-2.0, 2.0)
POS = U(0.2, 2.5)
NONZERO = U(0.2, 2.0, signed=True)
_E = np.array(3, np.int32)  # ldexp's integer exponent: no gradient, a constant

CASES: dict[str, Case] = {
    "add": Case(Op.ADD, (ANY, ANY)),
    "subtract": Case(Op.SUBTRACT, (ANY, ANY)),
    "multiply": Case(Op.MULTIPLY, (ANY, ANY)),
    "true_divide": Case(Op.TRUE_DIVIDE, (ANY, U(0.5, 2.0, signed=True))),
    "remainder": Case(Op.REMAINDER, (U(-3.0, 3.0), U(0.5, 1.5, signed=True)),
                      kink=lambda x, y: _to_integer(x / y)),
    "fmod": Case(Op.FMOD, (U(-3.0, 3.0), U(0.5, 1.5, signed=True)),
                 kink=lambda x, y: _to_integer(x / y)),
    "power": Case(Op.POWER, (POS, ANY)),
    "power_int_3": Case(Op.POWER_INT, (ANY,), call=lambda x: x ** 3),
    "power_int_-2": Case(Op.POWER_INT, (NONZERO,), call=lambda x: x ** -2),
    "power_int_5": Case(Op.POWER_INT, (ANY,), call=lambda x: x ** 5),
    "negative": Case(Op.NEGATIVE, (ANY,)),
    "positive": Case(Op.POSITIVE, (ANY,)),
    "absolute": Case(Op.ABSOLUTE, (NONZERO,)),
    "fabs": Case(Op.FABS, (NONZERO,)),
    "square": Case(Op.SQUARE, (ANY,)),
    "reciprocal": Case(Op.RECIPROCAL, (U(0.3, 2.0, signed=True),)),
    "where": Case(Op.WHERE, (NONZERO, ANY), call=lambda x, y: la.where(x > 0, x, y)),
    "exp": Case(Op.EXP, (ANY,)),
    "expm1": Case(Op.EXPM1, (ANY,)),
    "exp2": Case(Op.EXP2, (ANY,)),
    "log": Case(Op.LOG, (POS,)),
    "log1p": Case(Op.LOG1P, (U(-0.6, 2.0),)),
    "log2": Case(Op.LOG2, (POS,)),
    "log10": Case(Op.LOG10, (POS,)),
    "logaddexp": Case(Op.LOGADDEXP, (ANY, ANY)),
    "logaddexp2": Case(Op.LOGADDEXP2, (ANY, ANY)),
    "sqrt": Case(Op.SQRT, (POS,)),
    "cbrt": Case(Op.CBRT, (U(0.2, 3.0, signed=True),)),
    "sin": Case(Op.SIN, (U(-3.0, 3.0),)),
    "cos": Case(Op.COS, (U(-3.0, 3.0),)),
    "tan": Case(Op.TAN, (U(-1.2, 1.2),)),
    "arcsin": Case(Op.ARCSIN, (U(-0.9, 0.9),)),
    "arccos": Case(Op.ARCCOS, (U(-0.9, 0.9),)),
    "arctan": Case(Op.ARCTAN, (U(-3.0, 3.0),)),
    # the branch cut is y == 0 for x < 0
    "arctan2": Case(Op.ARCTAN2, (NONZERO, ANY)),
    "hypot": Case(Op.HYPOT, (NONZERO, ANY)),
    "sinh": Case(Op.SINH, (ANY,)),
    "cosh": Case(Op.COSH, (ANY,)),
    "tanh": Case(Op.TANH, (ANY,)),
    "arcsinh": Case(Op.ARCSINH, (U(-3.0, 3.0),)),
    "arccosh": Case(Op.ARCCOSH, (U(1.1, 3.0),)),
    "arctanh": Case(Op.ARCTANH, (U(-0.9, 0.9),)),
    "erf": Case(Op.ERF, (ANY,)),
    "erfc": Case(Op.ERFC, (ANY,)),
    # flat in the sign operand; a kink in x at 0
    "copysign": Case(Op.COPYSIGN, (NONZERO, NONZERO)),
    "ldexp": Case(Op.LDEXP, (ANY,), call=lambda x: la.ldexp(x, _E)),
    # linear between powers of two, with a jump at each
    "frexp_mantissa": Case(Op.FREXP_MANTISSA, (U(0.1, 5.0, signed=True),),
                           kink=lambda x: _to_integer(np.log2(np.abs(x)))),
    "maximum": Case(Op.MAXIMUM, (ANY, ANY), kink=_apart),
    "minimum": Case(Op.MINIMUM, (ANY, ANY), kink=_apart),
    "fmax": Case(Op.FMAX, (ANY, ANY), kink=_apart),
    "fmin": Case(Op.FMIN, (ANY, ANY), kink=_apart),
    # an internal op (quantisation's fused multiply-add): built through build.apply
    "fma": Case(Op.FMA, (ANY, ANY, ANY),
                call=lambda x, y, z: la.LazyArray(build.apply(Op.FMA, x, y, z))),
    # precision="fast"'s tanh (internal, tanh's rule): built through build.apply
    "tanh_fast": Case(Op.TANH_FAST, (ANY,),
                      call=lambda x: la.LazyArray(build.apply(Op.TANH_FAST, x))),
    "clip": Case(Op.CLIP, (ANY, U(-1.0, -0.3), U(0.3, 1.0)), call=la.clip,
                 kink=lambda x, lo, hi: np.minimum(_apart(x, lo), _apart(x, hi))),
    # ops rewritten into others as they are built: differentiable through their expansion
    "deg2rad": Case(Op.DEG2RAD, (U(-90.0, 90.0),), expanded=True),
    "rad2deg": Case(Op.RAD2DEG, (ANY,), expanded=True),
    "float_power": Case(Op.FLOAT_POWER, (POS, ANY), expanded=True),
    "modf_fraction": Case(Op.MODF_FRACTION, (U(-3.0, 3.0),), kink=_to_integer, expanded=True),
    "conjugate": Case(Op.CONJUGATE, (ANY,), expanded=True),
}

# Ops with a rule that the elementwise checker cannot take: a cast's value is a rounding, so
# its numeric derivative is a staircase; test_astype checks it exactly.
ELSEWHERE = {Op.CAST: "test_astype",
             # no gradient by definition: its numeric derivative is 1 (tests/test_autodiff.py)
             Op.STOP_GRADIENT: "test_stop_gradient"}

RULE_OPS = [op for op, row in ROWS.items()
            if row.derivative is not None and row.derivative is not derivatives.ZERO]
ZERO_OPS = [op for op, row in ROWS.items() if row.derivative is derivatives.ZERO]
_COVERED = {c.op for c in CASES.values()} | set(ELSEWHERE)
# a rule op with no case still gets a test id, which fails and says what is missing
CASE_IDS = [*CASES, *(op.value for op in RULE_OPS if op not in _COVERED)]

BCAST_SHAPES = ((3, 1), (4,), (1, 4))
LAYOUTS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable[[int], list]]] = {
    "dense": (_dense, lambda n: [(3, 4)] * n),
    "bcast": (_dense, lambda n: list(BCAST_SHAPES[:n])),
    "strided": (_strided, lambda n: [(3, 4)] * n),
    "transposed": (_transposed, lambda n: [(3, 4)] * n),
    "0d": (_dense, lambda n: [()] * n),
    "empty": (_dense, lambda n: [(0, 4)] * n),
}


def sample(case: Case, shapes: Sequence[tuple[int, ...]], seed: int) -> list[np.ndarray]:
    """Operands from the case's domains, float32-representable, at least MARGIN from a
    kink."""
    rng = np.random.default_rng(seed)
    for _ in range(200):
        xs = [_f32(u.sample(rng, s)) for u, s in zip(case.args, shapes, strict=True)]
        if case.kink is None:
            return xs
        dist = case.kink(*np.broadcast_arrays(*xs))
        if np.all(dist >= MARGIN):
            return xs
    raise AssertionError(f"no sample of {case.op.value} clear of its kinks")


def test_every_rule_op_has_a_case() -> None:
    missing = [op.value for op in RULE_OPS if op not in _COVERED]
    assert not missing, f"ops with a derivative rule but no domain in CASES: {missing}"
    stale = [k for k, c in CASES.items()
             if c.op not in RULE_OPS and not (c.expanded and ROWS[c.op].expand is not None)]
    assert not stale, f"CASES entries for ops without a rule: {stale}"


def _elementwise_params() -> list[Any]:
    params = []
    for name in CASE_IDS:
        unary = name in CASES and len(CASES[name].args) == 1
        params += [pytest.param(name, layout, id=f"{name}-{layout}") for layout in LAYOUTS
                   if not (unary and layout == "bcast")]
    return params


@pytest.mark.parametrize("name,layout", _elementwise_params())
def test_elementwise_grad(name: str, layout: str) -> None:
    case = CASES.get(name)
    if case is None:
        pytest.fail(f"{name} has a derivative rule but no domain entry in CASES")
    n = len(case.args)
    arrange, shapes = LAYOUTS[layout]
    f = case.function()
    values = sample(case, shapes(n), seed=sum(map(ord, name)))
    if not case.expanded:
        built = f(*[la.asarray(v) for v in values])
        assert case.op in _ops_in(built), f"{name} does not build a {case.op.value} node"
    check_grad(f, values, layout=arrange, step=case.step, rtol32=case.rtol32)


@pytest.mark.parametrize("name", list(CASES))
def test_elementwise_second_derivative(name: str) -> None:
    """Rules are lazy expressions of ops with rules, so each can be differentiated again: the
    gradient of a weighted sum of the first derivatives, against its central difference."""
    case = CASES[name]
    f = case.function()
    nums = tuple(range(len(case.args)))

    def slope(*ts: Any) -> Any:
        grads = la.grad(lambda *ss: la.sum(f(*ss)), argnums=nums)(*ts)
        return sum(g * (k + 1.5) for k, g in enumerate(grads))

    values = sample(case, [(2, 3)] * len(nums), seed=5)
    check_grad(slope, values, step=1e-5, rtol64=1e-5, rtol32=2e-3)


@pytest.mark.parametrize("name", list(CASES))
def test_elementwise_grad_large_strided(name: str) -> None:
    """Arrays big enough for the compiled kernels' vector loops, threads and blocked sums
    (unbroadcasting over 515 and 37 elements), strided: the CPU backend against the NumPy
    interpreter (a central difference per element would be too slow)."""
    case = CASES[name]
    n = len(case.args)
    shapes = [(37, 1), (1, 515), (37, 515)][:n] if n > 1 else [(37, 515)]
    rng = np.random.default_rng(2)
    values = [_f32(u.sample(rng, s)) for u, s in zip(case.args, shapes, strict=True)]
    f = case.function()
    w = _f32(rng.standard_normal(np.broadcast_shapes(*shapes)))
    for dtype in FLOATS:
        w_t = w.astype(dtype)
        grads = la.grad(lambda *ts, w_t=w_t: la.sum(f(*ts) * w_t), argnums=tuple(range(n)))(
            *[_strided(v.astype(dtype)) for v in values])
        rtol = 1e-9 if dtype == np.float64 else 2e-4
        for k, want, got in zip(range(n), _as_list(la.eval(*grads, backend="interp")),
                                _as_list(la.eval(*grads)), strict=True):
            assert got.shape == want.shape == shapes[k] and got.dtype == dtype
            scale = float(np.max(np.abs(want), initial=1.0))
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale,
                                       err_msg=f"d/d arg{k}, {np.dtype(dtype).name}")


@pytest.mark.parametrize("op", ZERO_OPS, ids=lambda op: op.value)
def test_piecewise_constant_ops_have_zero_gradients(op: Op) -> None:
    row = ROWS[op]
    rng = np.random.default_rng(3)
    values = [_f32(U(0.3, 3.0, signed=True).sample(rng, (3, 4))) for _ in range(row.nin)]
    fn = getattr(la, row.function)
    nums = tuple(range(row.nin))
    for dtype in FLOATS:
        args = [v.astype(dtype) for v in values]
        assert op in _ops_in(fn(*args))
        grads = la.grad(lambda *ts: la.sum(fn(*ts) * 1.5), argnums=nums)(*args)
        for backend in BACKENDS:
            for g in _as_list(la.eval(*grads, backend=backend)):
                assert g.dtype == dtype and g.shape == (3, 4)
                assert np.all(g == 0), (op.value, backend, g)


@pytest.mark.parametrize("n", [0, 1, 2, 3, -1, -3])
def test_integer_powers(n: int) -> None:
    """x ** n for small n (0 has no slope; 2 and -1 are built as square and reciprocal)."""
    check_grad(lambda x: x ** n, [U(0.3, 2.0, signed=True).sample(np.random.default_rng(abs(n)),
                                                                   (5,))])


def test_power_at_origin() -> None:
    """x ** y is 1 for y == 0, so flat in x there, and has no slope in y at x == 0 (JAX's
    slope in x at (0, 0) is NaN)."""
    x, y = np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 2.0])
    gx, gy = la.grad(lambda a, b: la.sum(a ** b), argnums=(0, 1))(x, y)
    for backend in BACKENDS:
        got_x, got_y = la.eval(gx, gy, backend=backend)
        np.testing.assert_array_equal(got_x, [0.0, 1.0, 0.0])
        np.testing.assert_array_equal(got_y, [0.0, 0.0, 0.0])


# (function, arguments, each argument's gradient of sum(function(*arguments))): the documented
# conventions at ties and kinks (lazyarr/ir/derivatives.py), checked without JAX
CONVENTIONS: dict[str, tuple[Callable[..., Any], list[Any], list[Any]]] = {
    "maximum_tie_half": (la.maximum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]],
                         [[0.5, 1.0, 0.5], [0.5, 0.0, 0.5]]),
    "minimum_tie_half": (la.minimum, [[1.0, 2.0, 3.0], [1.0, 0.0, 3.0]],
                         [[0.5, 0.0, 0.5], [0.5, 1.0, 0.5]]),
    "fmax_tie_second": (la.fmax, [[1.0, 2.0, 3.0], [1.0, 0.0, 5.0]],
                        [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0]]),
    "fmin_tie_second": (la.fmin, [[1.0, 2.0, 3.0], [1.0, 0.0, 5.0]],
                        [[0.0, 0.0, 1.0], [1.0, 1.0, 0.0]]),
    "fmax_nan": (la.fmax, [[np.nan, 1.0], [2.0, np.nan]], [[0.0, 1.0], [1.0, 0.0]]),
    "abs_zero_plus_one": (la.abs, [[0.0, -0.0, -2.0, 2.0]], [[1.0, 1.0, -1.0, 1.0]]),
    "fabs_zero_plus_one": (la.fabs, [[0.0, -0.0, -2.0]], [[1.0, 1.0, -1.0]]),
    # minimum(maximum(x, lo), hi): a tie with a bound halves
    "clip_at_bounds": (la.clip, [[-0.5, 1.0, 0.2, -2.0, 3.0], -0.5, 1.0],
                       [[0.5, 0.5, 1.0, 0.0, 0.0], 1.5, 1.5]),
    "clip_lo_eq_hi": (la.clip, [[0.5], [0.5], [0.5]], [[0.25], [0.25], [0.5]]),
    "hypot_origin_zero": (la.hypot, [[0.0, 3.0], [0.0, 4.0]], [[0.0, 0.6], [0.0, 0.8]]),
    "where_picks": (lambda c, x, y: la.where(c > 0, x, y),
                    [[1.0, -1.0], [2.0, 3.0], [4.0, 5.0]], [[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
}


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_tie_and_kink_conventions(name: str) -> None:
    fn, args, want = CONVENTIONS[name]
    args = [np.asarray(a, np.float64) for a in args]
    nums = tuple(range(len(args)))
    for dtype in FLOATS:
        grads = la.grad(lambda *ts: la.sum(fn(*ts)), argnums=nums)(
            *[a.astype(dtype) for a in args])
        for backend in BACKENDS:
            for k, g, v in zip(nums, _as_list(la.eval(*grads, backend=backend)), want,
                               strict=True):
                assert g.dtype == dtype
                # relative only: a zero must be exactly zero
                np.testing.assert_allclose(g, np.asarray(v, np.float64), rtol=1e-6, atol=0,
                                           err_msg=f"d/d arg{k}, {backend}")


def test_copysign_slope_at_signed_zero() -> None:
    """copysign(x, y) = |x| sign(y): at x = +-0 the abs convention gives slope +sign(y)."""
    x, y = np.array([-0.0, 0.0, -0.0, 0.0]), np.array([1.0, 1.0, -1.0, -1.0])
    g = la.grad(lambda a: la.sum(la.copysign(a, y)))(x)
    for backend in BACKENDS:
        np.testing.assert_array_equal(la.eval(g, backend=backend), [1.0, 1.0, -1.0, -1.0],
                                      err_msg=backend)


@pytest.mark.parametrize("fn", [lambda t: la.nextafter(t, 2.0), la.spacing],
                         ids=["nextafter", "spacing"])
def test_op_without_rule_raises(fn: Callable[..., Any]) -> None:
    with pytest.raises(NotImplementedError, match="nextafter"):
        la.grad(lambda t: la.sum(fn(t)))(np.linspace(0.5, 1.0, 4))


# -- reductions --------------------------------------------------------------------------------
def _rng_values(shape: tuple[int, ...], u: U = ANY, seed: int = 7) -> np.ndarray:
    return u.sample(np.random.default_rng(seed), shape)


_ZEROS = np.array([[0.5, 1.5, -0.7, 1.2],  # no zero
                   [0.8, 0.0, -1.1, 0.9],  # one zero
                   [0.0, 1.3, 0.0, -0.6]])  # two zeros

REDUCTIONS: dict[str, tuple[Callable[..., Any], np.ndarray]] = {
    "sum_all": (lambda t: t.sum(), _rng_values((3, 4))),
    "sum_axis0": (lambda t: t.sum(axis=0), _rng_values((3, 4))),
    "sum_axes02": (lambda t: la.sum(t, axis=(0, 2)), _rng_values((2, 3, 4))),
    "sum_keepdims": (lambda t: t.sum(axis=-1, keepdims=True), _rng_values((3, 4))),
    "mean_all": (lambda t: t.mean(), _rng_values((3, 4))),
    "mean_axis1": (lambda t: t.mean(axis=1), _rng_values((2, 3, 4))),
    "prod_axis1": (lambda t: t.prod(axis=1), _rng_values((3, 4), U(0.5, 1.5, signed=True))),
    "prod_zeros_axis1": (lambda t: t.prod(axis=1), _ZEROS),
    "prod_zeros_axis0": (lambda t: t.prod(axis=0), _ZEROS.T),
    "prod_one_zero_all": (lambda t: t.prod(), _ZEROS[1]),
    "prod_two_zeros_all": (lambda t: t.prod(), _ZEROS[2]),
    "max_all": (lambda t: t.max(), _rng_values((3, 4))),
    "max_axis0": (lambda t: t.max(axis=0), _rng_values((3, 4))),
    "min_axis1": (lambda t: t.min(axis=1), _rng_values((3, 4))),
    "var_all": (lambda t: t.var(), _rng_values((3, 4))),
    "var_ddof1_axis0": (lambda t: t.var(axis=0, ddof=1), _rng_values((3, 4))),
    "std_axis1": (lambda t: t.std(axis=1), _rng_values((3, 4))),
    "std_ddof1_all": (lambda t: t.std(ddof=1), _rng_values((3, 4))),
    "logsumexp_all": (lambda t: la.logsumexp(t), _rng_values((3, 4))),
    "logsumexp_axis1": (lambda t: la.logsumexp(t, axis=1), _rng_values((3, 4))),
    "logsumexp_keepdims": (lambda t: la.logsumexp(t, axis=0, keepdims=True),
                           _rng_values((3, 4))),
    "sum_of_empty": (lambda t: t.sum(axis=0), np.zeros((0, 3))),
    "sum_of_0d": (lambda t: t.sum(), np.array(0.7)),
}


@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_grad(name: str) -> None:
    f, x = REDUCTIONS[name]
    check_grad(f, [x], rtol32=5e-4)


_TIES = np.array([[1.0, 3.0, 3.0, 0.0],
                  [2.0, 2.0, 2.0, 2.0],
                  [5.0, -1.0, 5.0, 5.0]])


@pytest.mark.parametrize("kind", ["max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1])
def test_max_min_ties_split_evenly(kind: str, axis: int | None) -> None:
    x = _TIES if kind == "max" else -_TIES
    out_shape = np.shape(getattr(x, kind)(axis=axis))
    w = np.arange(1.0, 1.0 + math.prod(out_shape)).reshape(out_shape)
    hit = x == getattr(x, kind)(axis=axis, keepdims=True)
    w_kept = w if axis is None else np.expand_dims(w, axis)
    want = np.where(hit, w_kept / hit.sum(axis=axis, keepdims=True), 0.0)
    for dtype in FLOATS:
        w_t = w.astype(dtype)
        g = la.grad(lambda t, w_t=w_t: la.sum(getattr(t, kind)(axis=axis) * w_t))(
            x.astype(dtype))
        for backend in BACKENDS:
            got = la.eval(g, backend=backend)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=backend)


def _second_order(f: Callable[..., Any], values: list[np.ndarray]) -> None:
    """The gradient of a weighted sum of the gradient of ``sum(sin(f(*args)) * w)`` (sin gives
    linear ``f`` curvature) against its central difference."""
    values = [_f32(v) for v in values]
    nums = tuple(range(len(values)))
    out = la.eval(f(*[la.asarray(v) for v in values]), backend="interp")
    w = _f32(np.random.default_rng(3).standard_normal(np.shape(out)))

    def slope(*ts: Any) -> Any:
        w_t = w.astype(ts[0].dtype)
        grads = la.grad(lambda *ss: la.sum(la.sin(f(*ss)) * w_t), argnums=nums)(*ts)
        return la.concatenate([g.reshape(-1) * (k + 1.5) for k, g in enumerate(grads)])

    check_grad(slope, values, step=1e-5, rtol64=1e-5, rtol32=3e-3)


@pytest.mark.parametrize("name", [n for n in REDUCTIONS
                                  if n not in ("sum_of_empty", "sum_of_0d")])
def test_reduction_second_derivative(name: str) -> None:
    f, x = REDUCTIONS[name]
    _second_order(f, [x])


def test_max_reduction_second_derivative_through_reshape() -> None:
    """The Hessian of a max over axis 0, its gradient read through a reshape (the CPU
    once read one of the two axis-0 reductions of its kernel for both: two stand-ins at
    one address in the scheduler)."""
    x = np.array([[0.0, 3.0], [1.0, 2.0]])
    v = np.array([1.0, 10.0, 100.0, 1000.0])

    def slope(t: Any) -> Any:
        return la.grad(lambda s: la.sum(la.sin(s.max(axis=0))))(t)

    h = la.grad(lambda t: la.sum(slope(t).reshape(-1) * v))(x)
    m = x.max(axis=0)
    want = np.where(x == m, -np.sin(m) * v.reshape(2, 2), 0.0)
    for backend in BACKENDS:
        np.testing.assert_allclose(la.eval(h, backend=backend), want, rtol=1e-12,
                                   err_msg=backend)


def test_prod_second_derivative_with_a_zero() -> None:
    """d/dx of d prod(x) / d x0 at x = (0, 2, 3) is (0, x2, x1) = (0, 3, 2)."""
    x = np.array([0.0, 2.0, 3.0])
    h = la.grad(lambda t: la.grad(lambda s: s.prod())(t)[0])(x)
    for backend in BACKENDS:
        np.testing.assert_allclose(la.eval(h, backend=backend), [0.0, 3.0, 2.0], rtol=1e-12,
                                   err_msg=backend)


# -- views and joins -------------------------------------------------------------------------
VIEWS: dict[str, tuple[Callable[..., Any], tuple[int, ...]]] = {
    "slice_step": (lambda t: t[1:5:2], (6, 5)),
    "reverse": (lambda t: t[::-1], (6, 5)),
    "negative_step": (lambda t: t[5:0:-2, 1:], (6, 5)),
    "int_index": (lambda t: t[2], (6, 5)),
    "int_index_last_axis": (lambda t: t[:, -1], (6, 5)),
    "int_and_slice": (lambda t: t[-1, 1:4], (6, 5)),
    "ellipsis": (lambda t: t[..., 1], (2, 3, 4)),
    "newaxis": (lambda t: t[:, None, ::2], (6, 5)),
    "transpose": (lambda t: t.T, (6, 5)),
    "transpose_3d": (lambda t: t.T, (2, 3, 4)),
    "broadcast_to": (lambda t: la.broadcast_to(t, (3, 6, 5)), (6, 5)),
    "broadcast_stretch": (lambda t: la.broadcast_to(t, (6, 4)), (6, 1)),
    "flip_axis": (lambda t: la.flip(t, 1), (6, 5)),
    "flip_all": (lambda t: la.flip(t), (6, 5)),
    "reshape": (lambda t: t.reshape(3, 10), (6, 5)),
    "reshape_flat": (lambda t: t.reshape(-1), (6, 5)),
    "expand_dims": (lambda t: la.expand_dims(t, 1), (6, 5)),
    "squeeze": (lambda t: t.squeeze(), (6, 1, 5)),
    "moveaxis": (lambda t: la.moveaxis(t, 0, -1), (2, 3, 4)),
    "chained": (lambda t: t[::2].T[1:], (6, 5)),
    "overlapping_reads": (lambda t: t[1:] * t[:-1], (6, 5)),
    "of_expr_slice": (lambda t: la.sin(t)[::2], (6, 5)),
    "of_expr_transpose_index": (lambda t: la.exp(t).T[1], (6, 5)),
    "of_expr_reverse_step": (lambda t: (t * t)[4::-3], (6, 5)),
    "of_expr_broadcast": (lambda t: la.broadcast_to(la.tanh(t), (2, 6, 5)), (6, 5)),
    "of_expr_reshape": (lambda t: la.cos(t).reshape(5, 6)[1:], (6, 5)),
    "of_expr_squeeze": (lambda t: la.sin(t).squeeze(1), (6, 1, 5)),
    "of_expr_moveaxis": (lambda t: la.moveaxis(la.sin(t), -1, 0)[1], (2, 3, 4)),
    "of_expr_flip": (lambda t: la.flip(la.exp(t), 0)[:, 2:], (6, 5)),
    "of_expr_expand_dims": (lambda t: la.expand_dims(t * t, (0, 2)), (6, 5)),
    "of_expr_int_index": (lambda t: la.sin(t)[3, ::-2], (6, 5)),
}


@pytest.mark.parametrize("name", list(VIEWS))
def test_view_grad(name: str) -> None:
    f, shape = VIEWS[name]
    check_grad(f, [_rng_values(shape)])


def test_view_of_strided_input() -> None:
    check_grad(lambda t: t[::-1, 1:].T, [_rng_values((3, 4))], layout=_strided)


JOINS: dict[str, tuple[Callable[..., Any], list[tuple[int, ...]]]] = {
    "concatenate_axis0": (lambda a, b, c: la.concatenate([a, b, c]), [(2, 3), (1, 3), (4, 3)]),
    "concatenate_axis1": (lambda a, b: la.concatenate([a, b], axis=1), [(3, 2), (3, 4)]),
    "concatenate_exprs": (lambda a, b: la.concatenate([la.sin(a), a * b, b], axis=-1),
                          [(3, 2), (3, 2)]),
    "stack_axis0": (lambda a, b: la.stack([a, b]), [(3, 4), (3, 4)]),
    "stack_axis1": (lambda a, b, c: la.stack([a, b, c], axis=1), [(3, 4)] * 3),
    "stack_last": (lambda a, b: la.stack([la.exp(a), b * a], axis=-1), [(3, 4), (3, 4)]),
    "stack_same_twice": (lambda a: la.stack([a, 2 * a]), [(3, 4)]),
}


@pytest.mark.parametrize("name", list(JOINS))
def test_join_grad(name: str) -> None:
    f, shapes = JOINS[name]
    check_grad(f, [_rng_values(s, seed=k) for k, s in enumerate(shapes)])


MATMULS: dict[str, tuple[Callable[..., Any], tuple[int, ...], tuple[int, ...]]] = {
    "matmul_2d": (la.matmul, (3, 4), (4, 5)),
    "operator_2d": (lambda a, b: a @ b, (3, 4), (4, 2)),
    "batched_3d": (la.matmul, (2, 3, 4), (2, 4, 5)),
    "batched_bcast": (la.matmul, (2, 3, 4), (4, 5)),
    "batched_bcast_4d": (la.matmul, (2, 1, 3, 4), (3, 4, 2)),
    "vec_mat": (la.matmul, (4,), (4, 5)),
    "mat_vec": (la.matmul, (3, 4), (4,)),
    "vec_vec": (la.matmul, (4,), (4,)),
    "vec_batched": (la.matmul, (4,), (2, 4, 3)),
    "batched_vec": (la.matmul, (2, 3, 4), (4,)),
    "matmul_of_exprs": (lambda a, b: la.matmul(la.tanh(a), b * b).T, (3, 4), (4, 5)),
    "dot_2d": (la.dot, (3, 4), (4, 5)),
    "dot_vec_vec": (la.dot, (4,), (4,)),
    "dot_mat_vec": (la.dot, (3, 4), (4,)),
    "dot_3d_2d": (la.dot, (2, 3, 4), (4, 5)),
    "dot_3d_3d": (la.dot, (2, 3, 4), (5, 4, 2)),
    "dot_vec_3d": (la.dot, (4,), (2, 4, 3)),
}


@pytest.mark.parametrize("name", list(MATMULS))
def test_matmul_grad(name: str) -> None:
    f, sa, sb = MATMULS[name]
    check_grad(f, [_rng_values(sa, seed=1), _rng_values(sb, seed=2)], rtol32=5e-4)


@pytest.mark.parametrize("name", ["view:of_expr_slice", "view:of_expr_moveaxis",
                                  "view:broadcast_stretch", "join:concatenate_exprs",
                                  "join:stack_last", "matmul:batched_bcast_4d",
                                  "matmul:vec_mat", "matmul:dot_3d_3d"])
def test_view_join_matmul_second_derivative(name: str) -> None:
    kind, key = name.split(":")
    if kind == "view":
        f, shape = VIEWS[key]
        values = [_rng_values(shape)]
    elif kind == "join":
        f, shapes = JOINS[key]
        values = [_rng_values(s, seed=k) for k, s in enumerate(shapes)]
    else:
        f, sa, sb = MATMULS[key]
        values = [_rng_values(sa, seed=1), _rng_values(sb, seed=2)]
    _second_order(f, values)


@pytest.mark.parametrize("src,dst", [(np.float64, np.float32), (np.float32, np.float64),
                                     (np.float64, np.float64)],
                         ids=["f64_to_f32", "f32_to_f64", "f64_to_f64"])
def test_astype(src: Any, dst: Any) -> None:
    """A cast's cotangent is the result's, cast back to the operand's dtype."""
    x = _rng_values((3, 4)).astype(src)
    w = _rng_values((3, 4), seed=9).astype(dst)
    g = la.grad(lambda t: la.sum(la.sin(t.astype(dst)) * w))(x)
    want = (np.cos(x.astype(dst)) * w).astype(src)
    for backend in BACKENDS:
        got = la.eval(g, backend=backend)
        assert got.dtype == src
        np.testing.assert_allclose(got, want, rtol=1e-5 if np.float32 in (src, dst) else 1e-12,
                                   err_msg=backend)


# -- JAX -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def jax() -> Any:
    jax = pytest.importorskip("jax")
    before = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    yield jax
    jax.config.update("jax_enable_x64", before)


_T = np.array([-1.5, -0.5, 0.0, 0.5, 1.0, 2.0])  # has a zero (kinks) and ties with _T2
_T2 = np.array([-1.5, 0.5, 0.0, -0.5, 1.0, 3.0])

# id -> (function of (namespace, *args) for la and jnp alike, arguments, argnums)
JAX_CASES: dict[str, tuple[Callable[..., Any], list[Any], tuple[int, ...]]] = {
    "maximum_ties": (lambda m, a, b: m.maximum(a, b), [_T, _T2], (0, 1)),
    "minimum_ties": (lambda m, a, b: m.minimum(a, b), [_T, _T2], (0, 1)),
    "maximum_all_tied": (lambda m, a, b: m.maximum(a, b), [_T, _T.copy()], (0, 1)),
    "fmax_ties": (lambda m, a, b: m.fmax(a, b), [_T, _T2], (0, 1)),
    "fmin_ties": (lambda m, a, b: m.fmin(a, b), [_T, _T2], (0, 1)),
    "abs_at_zero": (lambda m, a: m.abs(a), [_T], (0,)),
    "clip_at_bounds": (lambda m, a, lo, hi: m.clip(a, lo, hi),
                       [_T, np.array(-0.5), np.array(1.0)], (0, 1, 2)),
    "clip_array_bounds": (lambda m, a, lo, hi: m.clip(a, lo, hi),
                          [_T, np.full(6, -0.5), _T2], (0, 1, 2)),
    "where": (lambda m, a, b: m.where(a > 0, m.sin(a), b * b), [_T, _T2], (0, 1)),
    "max_reduction_ties": (lambda m, a: (a * a).max(axis=1), [_TIES - 2.5], (0,)),
    "min_reduction_ties": (lambda m, a: a.min(), [_TIES], (0,)),
    "prod_with_zeros": (lambda m, a: a.prod(axis=1), [_ZEROS], (0,)),
    # (0, 0) is left out: JAX's slope in x there is 0 * 0 ** -1 = NaN (test_power_at_origin)
    "power_at_zero_base": (lambda m, a, b: m.power(a, b),
                           [np.array([0.0, 0.0, 2.0, 0.5]), np.array([1.0, 2.5, 0.0, 3.0])],
                           (0, 1)),
    "var_std": (lambda m, a: a.var(axis=0, ddof=1) + a.std(axis=1)[:, None],
                [_rng_values((3, 3))], (0,)),
    "logsumexp": (lambda m, a: _logsumexp(m)(a, axis=1), [_rng_values((3, 4))], (0,)),
    "softmax_xent": (lambda m, a, b: -(b * (a - _logsumexp(m)(a, axis=-1, keepdims=True))),
                     [_rng_values((3, 4)), _rng_values((3, 4), U(0.0, 1.0))], (0, 1)),
    "mlp_layer": (lambda m, x, w: m.tanh(m.matmul(x, w)) * m.log1p(m.abs(x[:, :1])),
                  [_rng_values((3, 4)), _rng_values((4, 2), seed=3)], (0, 1)),
    "hypot_arctan2": (lambda m, a, b: m.hypot(a, b) + m.arctan2(a, b),
                      [_rng_values((5,), NONZERO), _rng_values((5,), seed=4)], (0, 1)),
    "remainder_copysign": (lambda m, a, b: m.remainder(a, b) * m.copysign(a, b),
                           [np.array([2.3, -1.7, 0.4]), np.array([0.7, 0.9, -1.3])], (0, 1)),
}


def _logsumexp(m: Any) -> Callable[..., Any]:
    if m is la:
        return la.logsumexp
    import jax.scipy.special

    return jax.scipy.special.logsumexp


@pytest.mark.parametrize("name", list(JAX_CASES))
def test_grad_matches_jax(jax: Any, name: str) -> None:
    import jax.numpy as jnp

    f, args, nums = JAX_CASES[name]
    w = _rng_values(np.shape(f(np, *args)), seed=11)

    def loss(m: Any) -> Callable[..., Any]:
        return lambda *ts: (f(m, *ts) * w).sum()

    want = jax.grad(loss(jnp), argnums=nums)(*[jnp.asarray(a) for a in args])
    grads = la.grad(loss(la), argnums=nums)(*args)
    for backend in BACKENDS:
        got = _as_list(la.eval(*grads, backend=backend))
        for k, g, v in zip(nums, got, want, strict=True):
            np.testing.assert_allclose(g, np.asarray(v), rtol=1e-12, atol=1e-12,
                                       err_msg=f"d/d arg{k}, backend={backend}")


# scalar functions of one variable, as (namespace, x) -> expression
SECOND: dict[str, Callable[..., Any]] = {
    "sin": lambda m, x: m.sin(x),
    "tanh": lambda m, x: m.tanh(x),
    "exp_sq": lambda m, x: m.exp(-x * x),
    "log": lambda m, x: m.log(x),
    "sqrt": lambda m, x: m.sqrt(x),
    "arctan": lambda m, x: m.arctan(x),
    "erf": lambda m, x: _erf(m)(x),
    "cube": lambda m, x: x ** 3,
    "sigmoid": lambda m, x: 1 / (1 + m.exp(-x)),
    "softplus": lambda m, x: m.logaddexp(x, 0.0),
    "arccosh": lambda m, x: m.arccosh(1 + x),
    "rational": lambda m, x: (x * x + 1) / (x + 2),
    "power": lambda m, x: m.power(x, 1.5) + m.power(1.3, x),
    "cbrt_cosh": lambda m, x: m.cbrt(m.cosh(x)),
    "abs_square": lambda m, x: m.abs(x) * x,
}


def _erf(m: Any) -> Callable[..., Any]:
    if m is la:
        return la.erf
    import jax.scipy.special

    return jax.scipy.special.erf


@pytest.mark.parametrize("name", list(SECOND))
def test_second_derivative_matches_jax(jax: Any, name: str) -> None:
    import jax.numpy as jnp

    f = SECOND[name]
    x = np.array([0.3, 0.7, 1.1, 1.9])
    want = jax.vmap(jax.grad(jax.grad(lambda s: f(jnp, s))))(jnp.asarray(x))
    d1 = la.grad(lambda s: la.sum(f(la, s)))  # elementwise: the sum's gradient is f'
    d2 = la.grad(lambda t: la.sum(d1(t)))(x)
    for backend in BACKENDS:
        np.testing.assert_allclose(la.eval(d2, backend=backend), np.asarray(want),
                                   rtol=1e-10, atol=1e-12, err_msg=backend)


def test_grad_of_grad_of_scalar_function_matches_jax(jax: Any) -> None:
    import jax.numpy as jnp

    def f(m: Any, x: Any) -> Any:
        return m.sin(x) * m.exp(x / 2) + x ** 4

    for x in (0.0, 0.8):
        want = jax.grad(jax.grad(jax.grad(lambda s: f(jnp, s))))(x)
        d3 = la.grad(la.grad(la.grad(lambda s: f(la, s))))(x)
        for backend in BACKENDS:
            np.testing.assert_allclose(la.eval(d3, backend=backend), float(want), rtol=1e-12,
                                       atol=1e-12)


# -- random compositions ---------------------------------------------------------------------
# (name, lazyarr function, NumPy function, kink: the input it must stay clear of, or None)
UNARY: list[tuple[str, Callable[..., Any], Callable[..., Any], float | None]] = [
    ("exp", la.exp, np.exp, None),
    ("tanh", la.tanh, np.tanh, None),
    ("sin", la.sin, np.sin, None),
    ("cos", la.cos, np.cos, None),
    ("arctan", la.arctan, np.arctan, None),
    ("erf", la.erf, np.vectorize(math.erf), None),
    ("log1p_abs", lambda t: la.log1p(la.abs(t)), lambda t: np.log1p(np.abs(t)), 0.0),
    ("sqrt_1p_sq", lambda t: la.sqrt(1 + t * t), lambda t: np.sqrt(1 + t * t), None),
    ("cube", lambda t: t ** 3, lambda t: t ** 3, None),
    ("sinh", la.sinh, np.sinh, None),
]
BINARY: list[tuple[str, Callable[..., Any], Callable[..., Any]]] = [
    ("add", la.add, np.add),
    ("subtract", la.subtract, np.subtract),
    ("multiply", la.multiply, np.multiply),
    ("logaddexp", la.logaddexp, np.logaddexp),
    ("hypot_1", lambda a, b: la.hypot(a, b + 3), lambda a, b: np.hypot(a, b + 3)),
    ("div_1p_sq", lambda a, b: a / (1 + b * b), lambda a, b: a / (1 + b * b)),
]


def _chain(ops: Sequence[int], x: Any, lazy: bool) -> tuple[Any, float]:
    """``ops`` (indices into UNARY) applied in turn; with the closest any input came to a
    kink (NumPy evaluation only)."""
    closest = math.inf
    for k in ops:
        _, lazy_fn, np_fn, kink = UNARY[k]
        if not lazy and kink is not None:
            closest = min(closest, float(np.min(np.abs(x - kink))))
        x = lazy_fn(x) if lazy else np_fn(x)
    return x, closest


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(left=st.lists(st.integers(0, len(UNARY) - 1), min_size=1, max_size=2),
       right=st.lists(st.integers(0, len(UNARY) - 1), max_size=1),
       outer=st.lists(st.integers(0, len(UNARY) - 1), max_size=1),
       binary=st.integers(0, len(BINARY) - 1), seed=st.integers(0, 2**32 - 1))
def test_random_compositions(left: list[int], right: list[int], outer: list[int], binary: int,
                             seed: int) -> None:
    """outer(binary(left(x), right(y))): 2-4 unary ops and one binary op."""
    assume(2 <= len(left) + len(right) + len(outer) <= 4)
    rng = np.random.default_rng(seed)
    x, y = _f32(rng.uniform(-1.5, 1.5, 5)), _f32(rng.uniform(-1.5, 1.5, 5))
    _, lazy_bin, np_bin = BINARY[binary]

    def f(a: Any, b: Any, lazy: bool) -> tuple[Any, float]:
        p, kp = _chain(left, a, lazy)
        q, kq = _chain(right, b, lazy)
        r, kr = _chain(outer, (lazy_bin if lazy else np_bin)(p, q), lazy)
        return r, min(kp, kq, kr)

    value, closest = f(x, y, lazy=False)
    assume(closest > 1e-3 and np.all(np.isfinite(value)) and np.max(np.abs(value)) < 1e6)
    check_grad(lambda a, b: f(a, b, lazy=True)[0], [x, y], dtypes=(np.float64,),
               backends=("cpu",), rtol64=1e-5, seed=seed % 1000)
