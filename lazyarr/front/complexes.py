"""Complex numbers (complex64, complex128) as pairs of real expressions.

A complex lazy value is always an ``Op.COMPLEX`` node whose two sources are its real and
imaginary parts: real nodes of one shape, float32 for complex64 and float64 for complex128.
No kernel ever sees a complex number. Each operation on complex values is written here as
real operations on the parts, with NumPy's own formulas (its umath loops), so ``z * w + 1j``
is two real expressions that the evaluator computes together, one kernel with two outputs,
and interleaves into the complex result (lazyarr/run/evaluate.py).

Type rules are NumPy's: each op asks its ufunc which loop NumPy 2 picks, with Python scalars
weak (NEP 50), so ``float32_array * 1j`` is complex64 and ``int8_array + 1j`` complex128.
What has no short real formula (products and extrema of reductions, matmul) is a host call of
NumPy on the evaluated complex value (:func:`host_call`). The elementary functions (exp,
log, sqrt, the trigonometric ones, power) are ``lazyarr/front/complex_math.py``'s, called
with the parts when that module has them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from lazyarr.front import build, hostcall
from lazyarr.ir import dtypes, ops
from lazyarr.ir.graph import Buffer, Node, Op, ReduceKind, is_dask_array, make

PARTS = dtypes.COMPLEX_PARTS  # complex dtype -> the dtype of its parts
_OF_PART = {p: c for c, p in PARTS.items()}
_COMPLEX = Op.COMPLEX
_BOOL = np.dtype(bool)
_NOT_YET = "complex operands are not supported by lazyarr yet"

Pair = tuple[Node, Node]  # (real part, imaginary part), real nodes of one shape and dtype


class Seen:
    """``any``: set once a complex node exists (only then does evaluation look for one)."""

    any = False


class WeakComplex:
    """A Python ``complex`` operand: weak as a Python float is (NEP 50), its dtype decided by
    the other operands."""

    __slots__ = ("value",)
    pytype = complex

    def __init__(self, value: complex) -> None:
        self.value = value


Operand = Node | build.Weak | WeakComplex


# -- making and taking apart -----------------------------------------------------------------
def pair(re: Node, im: Node) -> Node:
    """The complex node of parts ``re`` and ``im`` (float32 or float64, one shape)."""
    if re.dtype != im.dtype or re.shape != im.shape or re.dtype not in _OF_PART:
        raise AssertionError(f"complex parts differ: {re.dtype}{re.shape}, {im.dtype}{im.shape}")
    Seen.any = True
    return make(_COMPLEX, _OF_PART[re.dtype], re.shape, (re, im))


def is_complex(node: Node) -> bool:
    return node.op is _COMPLEX


def _zeros(dtype: np.dtype, shape: tuple[int, ...]) -> Node:
    return build.broadcast_to(build.scalar(0.0, dtype), shape)


def parts(node: Node, dtype: np.dtype | None = None) -> Pair:
    """``node``'s parts as complex ``dtype`` (its own for a complex node); a real node is
    promoted as NumPy casts it, its imaginary part +0."""
    if node.op is _COMPLEX:
        re, im = node.src
        if dtype is None or dtype == node.dtype:
            return re, im
        part = PARTS[dtype]
        return build.cast(re, part), build.cast(im, part)
    part = PARTS[dtype if dtype is not None else _complex_of(node.dtype)]
    return build.cast(node, part), _zeros(part, node.shape)


def _complex_of(dtype: np.dtype) -> np.dtype:
    return dtypes.check_front(np.result_type(dtype, np.complex64), "complex")


def scalar(value: Any, dtype: np.dtype) -> Node:
    """A complex constant of ``dtype``, as NumPy converts ``value`` to it."""
    z = complex(np.asarray(value, dtype=dtype)[()])
    part = PARTS[dtype]
    return pair(build.scalar(z.real, part), build.scalar(z.imag, part))


def leaf(array: Any) -> Node:
    """A captured complex array as the pair of its parts: for a NumPy array its ``.real``
    and ``.imag`` (strided views, read in place; big-endian arrays too, as any leaf), for a
    Dask array its (lazy) ``.real`` and ``.imag``, for a CUDA device array strided device
    views of the two parts (the same memory, no copy)."""
    dtypes.check_front(dtypes.native(np.dtype(array.dtype)), "asarray")
    if isinstance(array, np.ndarray) or is_dask_array(array):
        return pair(build.leaf(array.real), build.leaf(array.imag))
    from lazyarr.run.device import DeviceArray, is_device_array_like, wrap

    if not is_device_array_like(array):
        raise TypeError(f"asarray: complex {type(array).__name__} ({array.dtype}) is not "
                        "supported by lazyarr")
    device = wrap(array)
    part = PARTS[device.dtype]
    re, im = (DeviceArray(device.shape, part, device.strides, device.ptr + k * part.itemsize,
                          device.owner, device.device_id, device.readonly) for k in (0, 1))
    return pair(build.leaf(re), build.leaf(im))


def each(fn: Callable[..., Node | None], node: Node, *args: Any) -> Node | None:
    """``fn(part, *args)`` for both parts of ``node`` (a view, a gather): the complex result,
    or None where ``fn`` gives None."""
    re, im = node.src
    first = fn(re, *args)
    return None if first is None else pair(first, fn(im, *args))


def setitem(fn: Callable[[Node, Any, Any], Node], node: Node, index: Any, value: Any) -> Node:
    """``node[index] = value`` for a complex ``node`` (``fn``: ``views.setitem``): part by
    part, ``value`` converted to ``node``'s dtype as NumPy converts it."""
    v = value if isinstance(value, Node) else getattr(value, "_node", None)
    if v is None:
        v = build.leaf(np.asarray(value, dtype=node.dtype))
    (re, im), (vre, vim) = node.src, parts(v, node.dtype)
    return pair(fn(re, index, vre), fn(im, index, vim))


def real_roots(nodes: Sequence[Node]) -> list[Node]:
    """``nodes`` with each complex one replaced by its two parts (what a plan evaluates)."""
    out: list[Node] = []
    for n in nodes:
        out.extend(n.src if n.op is _COMPLEX else (n,))
    return out


# -- casts ----------------------------------------------------------------------------------------
def _truth(re: Node, im: Node) -> Node:
    """Whether a complex value is nonzero (NaN is): its bool."""
    return _a(Op.LOGICAL_OR, _a(Op.NOT_EQUAL, re, 0), _a(Op.NOT_EQUAL, im, 0))


def cast(node: Node, dtype: np.dtype) -> Node:
    """``node`` as ``dtype`` where either is complex: parts cast, a real value promoted with a
    zero imaginary part, a complex value made real by its real part (NumPy warns with a
    ComplexWarning there; lazyarr has the value and says nothing) or by its truth for bool."""
    if node.dtype == dtype:
        return node
    if dtype.kind == "c":
        dtypes.check_front(dtype, "astype")
        return pair(*parts(node, dtype))
    re, im = node.src
    if dtype.kind == "b":
        return _truth(re, im)
    return build.cast(re, dtype)


def astype(node: Node, dtype: Any) -> Node:
    return cast(node, dtypes.check_front(np.dtype(dtype), "astype"))


# -- operands and loops ---------------------------------------------------------------------------
def _operand(x: Any, where: str) -> Operand:
    if type(x) is complex:
        return WeakComplex(x)
    return build.operand(x, where)


def _strong(o: Operand) -> Node:
    if isinstance(o, WeakComplex):
        return scalar(o.value, np.dtype(np.complex128))
    if isinstance(o, build.Weak):
        return build.scalar(o.value, np.asarray(o.value).dtype)
    return o


def _type_of(o: Operand) -> np.dtype | type:
    return o.dtype if isinstance(o, Node) else o.pytype


_loop = ops.resolve_front_loop  # NumPy's loop for complex operand types, or its error


def _coerce(o: Operand, dtype: np.dtype, shape: tuple[int, ...]) -> Pair:
    """Operand ``o`` as complex ``dtype`` (its loop's), both parts broadcast to ``shape``."""
    if isinstance(o, Node):
        re, im = parts(o, dtype)
    else:  # a Python scalar becomes the loop's dtype, as NumPy converts it
        re, im = scalar(o.value, dtype).src
    return build.broadcast_to(re, shape), build.broadcast_to(im, shape)


def apply(op: Op, xs: tuple) -> Node:
    """Elementwise ``op`` on operands of which at least one is complex (``build.apply``
    sends those here), with NumPy's loop, broadcasting and values."""
    name = op.value
    operands = [_operand(x, name) for x in xs]
    if not any(isinstance(o, Node) for o in operands):
        operands = [_strong(o) for o in operands]
    loop = _loop(op, tuple(_type_of(o) for o in operands))
    shape = build.broadcast_shapes([o.shape if isinstance(o, Node) else () for o in operands],
                                   name)
    if all(dt.kind == "b" for dt in loop[:-1]):
        # NumPy's logical ops of a complex and a real operand take the bool loop: each
        # operand's truth (a complex one's: nonzero)
        truths = []
        for o in operands:
            if isinstance(o, build.Weak):
                truths.append(o.value)
            else:
                n = _strong(o)
                truths.append(_truth(*n.src) if n.op is _COMPLEX else build.cast(n, _BOOL))
        return build.apply(op, *truths)
    if any(dt.kind != "c" for dt in loop[:-1]):  # no ufunc has such a loop
        raise TypeError(f"{name} on {loop[:-1]}: {_NOT_YET}")
    args = [_coerce(o, dt, shape) for o, dt in zip(operands, loop, strict=False)]
    rule = _RULES.get(op)
    result = rule(*args) if rule is not None else _math(op, args)
    # NumPy's loop decides the result's dtype (complex_math may compute more widely)
    return result if result.dtype == loop[-1] else build.cast(result, loop[-1])


def _math(op: Op, args: list[Pair]) -> Node:
    """An elementary function from ``complex_math`` (its name is the op's), if it has it."""
    fn = None
    if op in _MATH:
        try:
            from lazyarr.front import complex_math  # written alongside; may not exist yet
        except ImportError:
            complex_math = None
        # float_power is power in complex128 (its loop, which the operands were cast to)
        fn = getattr(complex_math, "power" if op is Op.FLOAT_POWER else op.value, None)
    if fn is None:
        raise TypeError(f"{op.value} of complex values is not supported by lazyarr yet")
    from lazyarr.front.array import LazyArray  # (array imports the front end)

    re, im = fn(*[LazyArray(p) for a in args for p in a])
    return pair(getattr(re, "_node", re), getattr(im, "_node", im))


_MATH = frozenset({
    Op.EXP, Op.EXP2, Op.LOG, Op.LOG2, Op.LOG10, Op.LOG1P, Op.EXPM1, Op.SQRT, Op.SIN, Op.COS,
    Op.TAN, Op.SINH, Op.COSH, Op.TANH, Op.ARCSIN, Op.ARCCOS, Op.ARCTAN, Op.ARCSINH,
    Op.ARCCOSH, Op.ARCTANH, Op.POWER, Op.FLOAT_POWER,
})


# -- the ops on parts: NumPy's formulas (numpy/_core/src/umath/loops.c.src) ----------------------
def _a(op: Op, *xs: Any) -> Node:
    return build.apply(op, *xs)


def _const(value: float, like: Node) -> Node:
    return build.broadcast_to(build.scalar(value, like.dtype), like.shape)


def _where(c: Node, x: Node, y: Node) -> Node:
    return build.where(c, x, y)


def _add(a: Pair, b: Pair) -> Node:
    return pair(_a(Op.ADD, a[0], b[0]), _a(Op.ADD, a[1], b[1]))


def _subtract(a: Pair, b: Pair) -> Node:
    return pair(_a(Op.SUBTRACT, a[0], b[0]), _a(Op.SUBTRACT, a[1], b[1]))


def _multiply(a: Pair, b: Pair) -> Node:
    (ar, ai), (br, bi) = a, b
    return pair(_a(Op.SUBTRACT, _a(Op.MULTIPLY, ar, br), _a(Op.MULTIPLY, ai, bi)),
                _a(Op.ADD, _a(Op.MULTIPLY, ar, bi), _a(Op.MULTIPLY, ai, br)))


def _divide(a: Pair, b: Pair) -> Node:
    """Smith's algorithm, NumPy's: divide by the larger part of ``b`` first; a zero ``b``
    gives ``a / |0|`` part by part (infinities and NaN, as NumPy)."""
    (ar, ai), (br, bi) = a, b
    abs_r, abs_i = _a(Op.FABS, br), _a(Op.FABS, bi)
    # |br| >= |bi|
    rat = _a(Op.TRUE_DIVIDE, bi, br)
    scl = _a(Op.TRUE_DIVIDE, 1.0, _a(Op.ADD, br, _a(Op.MULTIPLY, bi, rat)))
    re1 = _a(Op.MULTIPLY, _a(Op.ADD, ar, _a(Op.MULTIPLY, ai, rat)), scl)
    im1 = _a(Op.MULTIPLY, _a(Op.SUBTRACT, ai, _a(Op.MULTIPLY, ar, rat)), scl)
    # both zero
    zero = _a(Op.LOGICAL_AND, _a(Op.EQUAL, abs_r, 0), _a(Op.EQUAL, abs_i, 0))
    re0, im0 = _a(Op.TRUE_DIVIDE, ar, abs_r), _a(Op.TRUE_DIVIDE, ai, abs_r)
    # |br| < |bi| (or a NaN)
    rat2 = _a(Op.TRUE_DIVIDE, br, bi)
    scl2 = _a(Op.TRUE_DIVIDE, 1.0, _a(Op.ADD, bi, _a(Op.MULTIPLY, br, rat2)))
    re2 = _a(Op.MULTIPLY, _a(Op.ADD, _a(Op.MULTIPLY, ar, rat2), ai), scl2)
    im2 = _a(Op.MULTIPLY, _a(Op.SUBTRACT, _a(Op.MULTIPLY, ai, rat2), ar), scl2)
    first = _a(Op.GREATER_EQUAL, abs_r, abs_i)
    return pair(_where(first, _where(zero, re0, re1), re2),
                _where(first, _where(zero, im0, im1), im2))


def _negative(a: Pair) -> Node:
    return pair(_a(Op.NEGATIVE, a[0]), _a(Op.NEGATIVE, a[1]))


def _positive(a: Pair) -> Node:
    return pair(*a)


def _conjugate(a: Pair) -> Node:
    return pair(a[0], _a(Op.NEGATIVE, a[1]))


def _stop_gradient(a: Pair) -> Node:
    return pair(_a(Op.STOP_GRADIENT, a[0]), _a(Op.STOP_GRADIENT, a[1]))


def _rint(a: Pair) -> Node:
    return pair(_a(Op.RINT, a[0]), _a(Op.RINT, a[1]))


def _square(a: Pair) -> Node:
    r, i = a
    return pair(_a(Op.SUBTRACT, _a(Op.MULTIPLY, r, r), _a(Op.MULTIPLY, i, i)),
                _a(Op.ADD, _a(Op.MULTIPLY, r, i), _a(Op.MULTIPLY, i, r)))


def _reciprocal(a: Pair) -> Node:
    r, i = a
    first = _a(Op.LESS_EQUAL, _a(Op.FABS, i), _a(Op.FABS, r))
    rat = _a(Op.TRUE_DIVIDE, i, r)  # |i| <= |r|
    d = _a(Op.ADD, r, _a(Op.MULTIPLY, i, rat))
    re1, im1 = _a(Op.TRUE_DIVIDE, 1.0, d), _a(Op.TRUE_DIVIDE, _a(Op.NEGATIVE, rat), d)
    rat2 = _a(Op.TRUE_DIVIDE, r, i)
    d2 = _a(Op.ADD, _a(Op.MULTIPLY, r, rat2), i)
    re2, im2 = _a(Op.TRUE_DIVIDE, rat2, d2), _a(Op.TRUE_DIVIDE, -1.0, d2)
    return pair(_where(first, re1, re2), _where(first, im1, im2))


def _absolute(a: Pair) -> Node:
    return _a(Op.HYPOT, *a)


def _sign(a: Pair) -> Node:
    """NumPy 2's ``z / |z|``: 0 at 0, NaN for NaN, the direction of an infinite part."""
    r, i = a
    size = _a(Op.HYPOT, r, i)
    nan, zero, one = _const(np.nan, r), _const(0.0, r), _const(1.0, r)
    unit_r = _where(_a(Op.GREATER, r, 0), one, _const(-1.0, r))
    unit_i = _where(_a(Op.GREATER, i, 0), one, _const(-1.0, r))
    inf_r, both_inf = _a(Op.ISINF, r), _a(Op.LOGICAL_AND, _a(Op.ISINF, r), _a(Op.ISINF, i))
    big_r = _where(inf_r, _where(both_inf, nan, unit_r), zero)
    big_i = _where(inf_r, _where(both_inf, nan, zero), unit_i)
    is_zero = _a(Op.EQUAL, size, 0)
    finite_r = _where(is_zero, zero, _a(Op.TRUE_DIVIDE, r, size))
    finite_i = _where(is_zero, zero, _a(Op.TRUE_DIVIDE, i, size))
    is_nan, is_inf = _a(Op.ISNAN, size), _a(Op.ISINF, size)
    return pair(_where(is_nan, nan, _where(is_inf, big_r, finite_r)),
                _where(is_nan, nan, _where(is_inf, big_i, finite_i)))


def _isnan(a: Pair) -> Node:
    return _a(Op.LOGICAL_OR, _a(Op.ISNAN, a[0]), _a(Op.ISNAN, a[1]))


def _isinf(a: Pair) -> Node:
    return _a(Op.LOGICAL_OR, _a(Op.ISINF, a[0]), _a(Op.ISINF, a[1]))


def _isfinite(a: Pair) -> Node:
    return _a(Op.LOGICAL_AND, _a(Op.ISFINITE, a[0]), _a(Op.ISFINITE, a[1]))


def _equal(a: Pair, b: Pair) -> Node:
    return _a(Op.LOGICAL_AND, _a(Op.EQUAL, a[0], b[0]), _a(Op.EQUAL, a[1], b[1]))


def _not_equal(a: Pair, b: Pair) -> Node:
    return _a(Op.LOGICAL_OR, _a(Op.NOT_EQUAL, a[0], b[0]), _a(Op.NOT_EQUAL, a[1], b[1]))


def _ordered(real_op: Op, imag_op: Op) -> Callable[[Pair, Pair], Node]:
    """NumPy's lexicographic order (CLT, CLE, CGT, CGE): the real parts decide where neither
    imaginary part is NaN; equal real parts leave it to the imaginary parts."""

    def compare(a: Pair, b: Pair) -> Node:
        (ar, ai), (br, bi) = a, b
        no_nan = _a(Op.LOGICAL_NOT, _a(Op.LOGICAL_OR, _a(Op.ISNAN, ai), _a(Op.ISNAN, bi)))
        by_real = _a(Op.LOGICAL_AND, _a(real_op, ar, br), no_nan)
        by_imag = _a(Op.LOGICAL_AND, _a(Op.EQUAL, ar, br), _a(imag_op, ai, bi))
        return _a(Op.LOGICAL_OR, by_real, by_imag)

    return compare


_LESS = _ordered(Op.LESS, Op.LESS)
_LESS_EQUAL = _ordered(Op.LESS, Op.LESS_EQUAL)
_GREATER = _ordered(Op.GREATER, Op.GREATER)
_GREATER_EQUAL = _ordered(Op.GREATER, Op.GREATER_EQUAL)


def _selection(order: Callable[[Pair, Pair], Node], nan_side: int
               ) -> Callable[[Pair, Pair], Node]:
    """maximum/minimum (``nan_side`` 0: a NaN in the first operand wins) and fmax/fmin
    (1: a NaN in the second loses): the first operand where it is NaN or ordered first."""

    def select(a: Pair, b: Pair) -> Node:
        side = (a, b)[nan_side]
        nan = _a(Op.LOGICAL_OR, _a(Op.ISNAN, side[0]), _a(Op.ISNAN, side[1]))
        first = _a(Op.LOGICAL_OR, nan, order(a, b))
        return pair(_where(first, a[0], b[0]), _where(first, a[1], b[1]))

    return select


def _logical(op: Op) -> Callable[..., Node]:
    def logical(*args: Pair) -> Node:
        return _a(op, *[_truth(*a) for a in args])

    return logical


_RULES: dict[Op, Callable[..., Node]] = {
    Op.ADD: _add, Op.SUBTRACT: _subtract, Op.MULTIPLY: _multiply, Op.TRUE_DIVIDE: _divide,
    Op.NEGATIVE: _negative, Op.POSITIVE: _positive, Op.CONJUGATE: _conjugate,
    Op.STOP_GRADIENT: _stop_gradient, Op.RINT: _rint, Op.SQUARE: _square,
    Op.RECIPROCAL: _reciprocal, Op.ABSOLUTE: _absolute, Op.SIGN: _sign,
    Op.ISNAN: _isnan, Op.ISINF: _isinf, Op.ISFINITE: _isfinite,
    Op.EQUAL: _equal, Op.NOT_EQUAL: _not_equal, Op.LESS: _LESS, Op.LESS_EQUAL: _LESS_EQUAL,
    Op.GREATER: _GREATER, Op.GREATER_EQUAL: _GREATER_EQUAL,
    Op.MAXIMUM: _selection(_GREATER_EQUAL, 0), Op.MINIMUM: _selection(_LESS_EQUAL, 0),
    Op.FMAX: _selection(_GREATER_EQUAL, 1), Op.FMIN: _selection(_LESS_EQUAL, 1),
    Op.LOGICAL_AND: _logical(Op.LOGICAL_AND), Op.LOGICAL_OR: _logical(Op.LOGICAL_OR),
    Op.LOGICAL_XOR: _logical(Op.LOGICAL_XOR), Op.LOGICAL_NOT: _logical(Op.LOGICAL_NOT),
}


# -- where, real, imag, angle ----------------------------------------------------------------------
def where(cond: Any, x: Any, y: Any) -> Node:
    """``numpy.where`` where the condition or a value is complex."""
    c, a, b = (_operand(v, "where") for v in (cond, x, y))
    c = _strong(c)
    if c.op is _COMPLEX:
        c = _truth(*c.src)
    values = [o.dtype if isinstance(o, Node) else o.value for o in (a, b)]
    dt = dtypes.check_front(np.result_type(*values), "where")
    if dt.kind != "c":  # only the condition was complex
        return build.where(c, x, y)
    shape = build.broadcast_shapes([o.shape if isinstance(o, Node) else () for o in (c, a, b)],
                                   "where")
    c = build.broadcast_to(build.cast(c, _BOOL), shape)
    (ar, ai), (br, bi) = _coerce(a, dt, shape), _coerce(b, dt, shape)
    return pair(build.where(c, ar, br), build.where(c, ai, bi))


def real(node: Node) -> Node:
    return node.src[0]


def imag(node: Node) -> Node:
    return node.src[1]


def angle(node: Node, deg: bool = False) -> Node:
    """``numpy.angle``: ``arctan2(imag, real)`` (``arctan2(0, x)`` for a real ``x``), in
    degrees with ``deg``."""
    result = _a(Op.ARCTAN2, *reversed(node.src)) if node.op is _COMPLEX else \
        _a(Op.ARCTAN2, 0, node)
    return _a(Op.MULTIPLY, result, 180 / np.pi) if deg else result


# -- host calls: NumPy on evaluated complex values -------------------------------------------------
def _rebuilt(arrays: Sequence[np.ndarray], layout: tuple[bool, ...]) -> list[Any]:
    """The inputs of a host function: each complex one rebuilt from its two parts."""
    values: list[Any] = []
    k = 0
    for is_complex_input in layout:
        if is_complex_input:
            re, im = np.asarray(arrays[k]), np.asarray(arrays[k + 1])
            z = np.empty(re.shape, _OF_PART[re.dtype])
            z.real, z.imag = re, im
            values.append(z)
            k += 2
        else:
            values.append(arrays[k])
            k += 1
    return values


def _run_host(*args: Any) -> Any:
    """A host function of complex values (``host_call``'s): the inputs rebuilt, each complex
    result handed back as two contiguous parts."""
    *arrays, fn, layout, kinds, several, params = args
    result = fn(*_rebuilt(arrays, layout), *params)
    results = list(result) if several else [result]
    flat: list[Any] = []
    for r, kind in zip(results, kinds, strict=True):
        if kind.kind == "c":
            z = np.asarray(r, dtype=kind)
            flat += [z.real.copy(), z.imag.copy()]  # C-contiguous (0-d stays 0-d)
        else:
            flat.append(r)
    return flat[0] if len(flat) == 1 else tuple(flat)


def host_call(name: str, fn: Callable[..., Any], inputs: Sequence[Node],
              results: Sequence[hostcall.Result], params: tuple = ()) -> list[Node]:
    """:func:`lazyarr.front.hostcall.host_call` where inputs or results may be complex:
    complex inputs reach ``fn`` as NumPy complex arrays, complex results come back as lazy
    complex values."""
    flat = real_roots(inputs)
    layout = tuple(n.op is _COMPLEX for n in inputs)
    kinds = tuple(dtypes.check_front(np.dtype(dt), name) for _, dt in results)
    wanted: list[hostcall.Result] = []
    for (shape, _), kind in zip(results, kinds, strict=True):
        wanted += [(shape, PARTS[kind])] * 2 if kind.kind == "c" else [(shape, kind)]
    nodes = hostcall.host_call(name, _run_host, flat, wanted,
                               (fn, layout, kinds, len(results) > 1, tuple(params)))
    out, k = [], 0
    for kind in kinds:
        if kind.kind == "c":
            out.append(pair(nodes[k], nodes[k + 1]))
            k += 2
        else:
            out.append(nodes[k])
            k += 1
    return out


def host_value(name: str, fn: Callable[..., Any], inputs: Sequence[Node],
               result: hostcall.Result, params: tuple = ()) -> Node:
    return host_call(name, fn, inputs, [result], params)[0]


# -- matmul, dot, concatenate, stack -------------------------------------------------------------
def matmul(a: Node, b: Node, shape: tuple[int, ...], name: str) -> Node:
    """``numpy.matmul`` (or ``dot``, ``name``) with a complex operand: NumPy's, on the host."""
    ufunc_like = np.matmul if name == "matmul" else np.dot
    dt = dtypes.check_front(np.result_type(a.dtype, b.dtype), name)
    return host_value(name, ufunc_like, [cast(a, dt), cast(b, dt)], (shape, dt))


def joined(fn: Callable[[list[Node], Any], Node], nodes: Sequence[Node], axis: Any,
           name: str) -> Node:
    """``concatenate``/``stack`` (``fn``) with a complex array: of the parts."""
    dt = dtypes.check_front(np.result_type(*[n.dtype for n in nodes]), name)
    split = [parts(n, dt) for n in nodes]
    return pair(fn([p[0] for p in split], axis), fn([p[1] for p in split], axis))


# -- reductions ------------------------------------------------------------------------------
@functools.cache
def _reduced_dtype(name: str, dtype: np.dtype, dtype_arg: np.dtype | None) -> np.dtype:
    """NumPy's result dtype of reduction ``name`` (NumPy's error where it has none)."""
    kwargs = {} if dtype_arg is None else {"dtype": dtype_arg}
    where = name if dtype_arg is None else f"{name}(dtype={dtype_arg})"
    return dtypes.check_front(getattr(np, name)(np.ones(1, dtype), **kwargs).dtype, where)


def _np_reduce(z: np.ndarray, name: str, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    return np.asarray(getattr(np, name)(z, axis=axes, keepdims=keepdims))


def _np_arg(z: np.ndarray, name: str, axis: int | None, keepdims: bool) -> np.ndarray:
    return np.asarray(getattr(np, name)(z, axis=axis, keepdims=keepdims))


def reduce(kind: ReduceKind, x: Node, axes: tuple[int, ...], keepdims: bool = False,
           dtype: np.dtype | None = None) -> Node:
    """``reductions.reduce`` where the array or ``dtype`` is complex: sums of the parts;
    products, extrema and their positions NumPy's, on the host."""
    from lazyarr.front import reductions, views

    shape = tuple(n for d, n in enumerate(x.shape) if d not in axes)
    if kind in (ReduceKind.ANY, ReduceKind.ALL):
        truth = cast(x, _BOOL) if x.op is _COMPLEX else x
        return reductions.reduce(kind, truth, axes, keepdims)
    if kind in (ReduceKind.ARGMIN, ReduceKind.ARGMAX):
        reductions._check_not_empty(kind, x, axes)
        axis = axes[0] if len(axes) == 1 else None  # all axes: NumPy's flat position
        node = host_value(f"{kind.value}", _np_arg, [x], (shape, np.intp),
                          (kind.value, axis, False))
        return views.expand_dims(node, axes) if keepdims and axes else node
    out = _reduced_dtype(kind.value, x.dtype, dtype)
    src = cast(x, out)
    if out.kind != "c":  # a real dtype= (NumPy took it): the real reduction
        return reductions.reduce(kind, src, axes, keepdims, out)
    if kind is ReduceKind.SUM:
        part = PARTS[out]
        re, im = parts(src)
        return pair(reductions.reduce(kind, re, axes, keepdims, part),
                    reductions.reduce(kind, im, axes, keepdims, part))
    if not axes:
        return src
    reductions._check_not_empty(kind, x, axes)
    kept = tuple(1 if d in axes else n for d, n in enumerate(x.shape)) if keepdims else shape
    return host_value(kind.value, _np_reduce, [src], (kept, out), (kind.value, axes, keepdims))


def mean(x: Node, axes: tuple[int, ...], dtype: Any, keepdims: bool) -> Node:
    """NumPy's mean where the array or ``dtype`` is complex: the sum divided by the count as
    NumPy divides it, an intp (so complex64 sums are divided in complex128, with the complex
    division's own rounding and special values)."""
    from lazyarr.front import reductions

    acc = x.dtype if dtype is None else dtypes.check_front(np.dtype(dtype),
                                                            f"mean(dtype={dtype})")
    if acc.kind != "c":
        return reductions.mean(cast(x, acc), axes, acc, keepdims)
    total = reductions.reduce(ReduceKind.SUM, cast(x, acc), axes, keepdims, acc)
    count = build.scalar(reductions._count(x, axes), np.dtype(np.intp))
    return cast(apply(Op.TRUE_DIVIDE, (total, count)), acc)


def var(x: Node, axes: tuple[int, ...], dtype: np.dtype | None, ddof: float,
        keepdims: bool) -> Node:
    """NumPy's variance of complex values: the mean of ``|x - mean|**2`` (real), each square
    as NumPy's ``re*re + im*im``."""
    from lazyarr.front import reductions

    acc = x.dtype if dtype is None else dtypes.check_front(dtype, f"var(dtype={dtype})")
    n = reductions._count(x, axes)
    mean = reductions.mean(x, axes, acc, keepdims=True)
    re, im = parts(apply(Op.SUBTRACT, (x, mean)))
    squares = _a(Op.ADD, _a(Op.MULTIPLY, re, re), _a(Op.MULTIPLY, im, im))
    part = PARTS[acc] if acc.kind == "c" else acc
    total = reductions.reduce(ReduceKind.SUM, squares, axes, keepdims, part)
    return build.cast(_a(Op.TRUE_DIVIDE, total, max(n - ddof, 0)), part)


# -- evaluation -----------------------------------------------------------------------------------
def _fill(target: np.ndarray | None, node: Node, re: Any, im: Any) -> np.ndarray:
    """The complex result of ``node`` from its evaluated parts (``im`` None: a real value),
    in ``target`` (an ``out=`` array, checked as NumPy checks one) or a new array."""
    if target is None:
        target = np.empty(node.shape, node.dtype)
    else:
        if not isinstance(target, np.ndarray):
            raise TypeError(f"out must be a numpy.ndarray, got {type(target).__name__}")
        if not target.flags.writeable:
            raise ValueError("output array is read-only")
        if not np.can_cast(node.dtype, target.dtype, casting="same_kind"):
            raise TypeError(f"Cannot cast ufunc output from {node.dtype!r} to "
                            f"{target.dtype!r} with casting rule 'same_kind'")
        try:
            ok = np.broadcast_shapes(node.shape, target.shape) == target.shape
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"non-broadcastable output operand with shape {target.shape} "
                             f"doesn't match the broadcast shape {node.shape}")
    if target.dtype.kind != "c":  # checked castable: a real node into a real array
        target[...] = re
        return target
    target.real[...] = re
    target.imag[...] = 0 if im is None else im
    return target


def evaluate(nodes: Sequence[Node], out: Sequence[Any] | None, backend: str | None,
             target: str | None, run: Callable[..., list[Any]]) -> list[Any]:
    """``lazyarr.eval`` of expressions among which some are complex (or go into complex
    ``out=`` arrays): the real parts of all of them evaluated together by ``run`` (the
    evaluator: one kernel per shape), then each complex result put together from its parts."""
    outs = [None] * len(nodes) if out is None else list(out)
    if len(outs) != len(nodes):
        raise ValueError(f"eval: {len(nodes)} expressions but {len(outs)} outputs")
    if Buffer.dask:
        from lazyarr.run import daskeval

        if daskeval.has_dask_leaves(nodes):  # Dask arrays, complex chunks made per task
            if target not in (None, "cpu") or backend not in (None, "cpu"):
                raise ValueError("eval: expressions over Dask arrays run on Dask's workers, "
                                 "with the cpu backend")
            return daskeval.evaluate(list(nodes), out)
    from lazyarr.run.device import on_cuda

    if on_cuda(list(nodes), backend, target):
        return _device_evaluate(nodes, out, backend, target, run)
    flat: list[Node] = []
    flat_out: list[Any] = []
    for node, o in zip(nodes, outs, strict=True):
        if node.op is _COMPLEX:
            flat += node.src
            flat_out += [None, None]
        else:
            flat.append(node)
            into = isinstance(o, np.ndarray) and o.dtype.kind == "c"
            flat_out.append(None if into else o)
    if any(o is not None for o in flat_out):
        values = run(flat, flat_out, backend, target)
    else:
        values = run(flat, None, backend, target)
    results: list[Any] = []
    k = 0
    for node, o in zip(nodes, outs, strict=True):
        if node.op is _COMPLEX:
            results.append(_fill(o, node, values[k], values[k + 1]))
            k += 2
        else:
            complex_out = isinstance(o, np.ndarray) and o.dtype.kind == "c"
            results.append(_fill(o, node, values[k], None) if complex_out else values[k])
            k += 1
    return results


# -- complex values on a CUDA device --------------------------------------------------------
def interleaved(node: Node) -> Node:
    """The real ``(*shape, 2)`` array whose memory is complex ``node``'s (real and
    imaginary parts alternating): one kernel writes both parts, selecting by the parity of
    each element's index, so no value passes through arithmetic (infinities and NaN's
    stay as they are)."""
    from lazyarr.front import views

    re, im = node.src
    shape = (*node.shape, 2)
    index = make(Op.COUNTER, np.dtype(np.uint64), shape)  # the C-order element index
    even = _a(Op.EQUAL, _a(Op.BITWISE_AND, index, 1), 0)
    re, im = (build.broadcast_to(views.expand_dims(p, (node.ndim,)), shape) for p in (re, im))
    return build.where(even, re, im)


def _device_evaluate(nodes: Sequence[Node], out: Sequence[Any] | None, backend: str | None,
                     target: str | None, run: Callable[..., list[Any]]) -> list[Any]:
    """Complex results on the device: each is the real array :func:`interleaved` makes,
    evaluated with the others (one kernel where they fuse) and seen as complex memory."""
    from lazyarr.run.device import DeviceArray

    if out is not None and any(o is not None for o in out):
        raise NotImplementedError("out= is not supported on the CUDA target yet")
    roots = [interleaved(n) if n.op is _COMPLEX else n for n in nodes]
    values = run(roots, None, backend, target)
    results: list[Any] = []
    for node, value in zip(nodes, values, strict=True):
        if node.op is _COMPLEX:
            if not value.is_c_contiguous:  # (a view, where canonical forms made it one)
                value = value.copy()
            value = DeviceArray(node.shape, node.dtype, None, value.ptr, value.owner,
                                value.device_id)
        results.append(value)
    return results


__all__ = ["PARTS", "angle", "apply", "astype", "cast", "each", "evaluate", "host_call",
           "host_value", "imag", "interleaved", "is_complex", "joined", "leaf", "matmul",
           "mean", "pair", "parts", "real", "real_roots", "reduce", "scalar", "setitem", "var",
           "where"]
