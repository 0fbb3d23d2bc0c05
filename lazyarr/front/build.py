"""Building nodes: operand coercion, broadcasting, casts and type resolution.

Everything here runs when an expression is written, so a bad expression fails at that line
with NumPy's exception type, not later at evaluation.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from lazyarr.front.canon import RULES, canonicalise
from lazyarr.ir import dtypes, ops
from lazyarr.ir.graph import Buffer, Node, Op, Origin, make, remember, scalar_value, toposort
from lazyarr.ir.reference import cast_values

_WEAK_TYPES = (int, float)


class Weak:
    """A Python int or float operand, whose dtype the other operands decide (NEP 50)."""

    __slots__ = ("value",)

    def __init__(self, value: int | float) -> None:
        self.value = value

    @property
    def pytype(self) -> type:
        return float if isinstance(self.value, float) else int


Operand = Node | Weak


class UnsupportedOperand(TypeError):  # noqa: N818 (a TypeError, named for what it is)
    """An operand of a type lazyarr does not take (operators then return NotImplemented)."""


def check_device(device: Any, what: str) -> str | None:
    """``device`` as lazyarr names it (None, "cpu" or "cuda"), else a ValueError."""
    if device is None:
        return None
    if isinstance(device, str):
        if device == "cpu":
            return "cpu"
        if device in ("cuda", "cuda:0"):
            return "cuda"
    raise ValueError(f"{what}: unknown device {device!r}; lazyarr's devices are 'cpu' and "
                     "'cuda'")


def leaf(array: np.ndarray, origin: Origin | None = None) -> Node:
    if array.dtype.kind == "c":  # a pair of real leaves: its .real and .imag
        return _complexes().leaf(array)
    # a big-endian array computes as its native dtype: kernels swap bytes as they load
    dt = dtypes.check_array(array.dtype, "asarray")
    return make(Op.LEAF, dt, tuple(array.shape), (), Buffer(array, origin))


def scalar(value: Any, dtype: np.dtype) -> Node:
    return make(Op.SCALAR, dtype, (), (), scalar_value(dtype, value))


def operand(x: Any, where: str) -> Operand:
    """Turn anything an operator may meet into a node or a weak scalar."""
    if isinstance(x, Node):
        return x
    node = getattr(x, "_node", None)
    if node is not None:
        return node
    if isinstance(x, bool | np.bool_):
        return scalar(bool(x), np.dtype(bool))
    if isinstance(x, np.generic):
        if x.dtype.kind == "c":
            return _complexes().scalar(x, x.dtype)
        return scalar(x, dtypes.check(x.dtype, where))
    if isinstance(x, _WEAK_TYPES):
        return Weak(x)
    if isinstance(x, np.ndarray):
        return leaf(x)
    if isinstance(x, numbers.Complex):  # strong here: apply and where take it weak
        return _complexes().scalar(complex(x), np.dtype(np.complex128))
    if isinstance(x, list | tuple):
        return leaf(np.asarray(x))
    raise UnsupportedOperand(f"{where}: unsupported operand type {type(x).__name__}")


def operand_node(x: Any, where: str) -> Node:
    """Like :func:`operand`, but a Python scalar becomes a node of NumPy's default dtype."""
    o = operand(x, where)
    return scalar(o.value, np.asarray(o.value).dtype) if isinstance(o, Weak) else o


def broadcast_shapes(shapes: list[tuple[int, ...]], where: str) -> tuple[int, ...]:
    first = shapes[0]
    if all(s == first for s in shapes):  # the common case, without NumPy's call
        return first
    # in Python rather than np.broadcast_shapes, which stops at 32 dimensions (kernels take 64)
    ndim = max(len(s) for s in shapes)
    result = [1] * ndim
    for shape in shapes:
        for k, n in enumerate(shape, ndim - len(shape)):
            if n != 1 and result[k] != n:
                if result[k] != 1:
                    listed = " ".join(str(s) for s in shapes)
                    raise ValueError(f"{where}: operands could not be broadcast together "
                                     f"with shapes {listed}")
                result[k] = n
    return tuple(result)


def broadcast_to(node: Node, shape: tuple[int, ...]) -> Node:
    if node.shape == shape:
        return node
    if node.op is Op.COMPLEX:
        return _complexes().each(broadcast_to, node, shape)
    return make(Op.BROADCAST, node.dtype, shape, (node,))


def cast(node: Node, dtype: np.dtype) -> Node:
    if node.dtype == dtype:
        return node
    if dtype.kind == "c" or node.op is Op.COMPLEX:
        return _complexes().cast(node, dtype)
    if node.op is Op.SCALAR:
        return scalar(cast_values(np.asarray(node.arg), dtype)[()], dtype)
    if node.op is Op.BROADCAST:
        return broadcast_to(cast(node.src[0], dtype), node.shape)
    return make(Op.CAST, dtype, node.shape, (node,))


def _pytype_or_dtype(o: Operand) -> np.dtype | type:
    return o.pytype if isinstance(o, Weak) else o.dtype


def _strong(o: Operand) -> Node:
    """A weak scalar with nothing to take a dtype from gets NumPy's default for its type."""
    if isinstance(o, Weak):
        return scalar(o.value, np.asarray(o.value).dtype)
    return o


def coerce(o: Operand, dtype: np.dtype, shape: tuple[int, ...]) -> Node:
    node = _weak_scalar(o.value, dtype) if isinstance(o, Weak) else cast(o, dtype)
    return broadcast_to(node, shape)


def _weak_scalar(value: int | float, dtype: np.dtype) -> Node:
    # NumPy hands a Python int to a bool loop through a C long, so outside int64 it raises
    # (np.logical_and(2**63, x)) where a plain bool conversion would give True
    if dtype.kind == "b" and isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        raise OverflowError("Python int too large to convert to C long")
    return scalar(value, dtype)


_INT64_MIN, _INT64_MAX = dtypes.int_bounds(np.dtype(np.int64))
_UINT64_MAX = dtypes.int_bounds(np.dtype(np.uint64))[1]


def _fast_apply(op: Op, nodes: list[Node]) -> Node | None:
    """``apply`` for nodes of one shape (most of what operators build), in a straight line:
    the general path's generality costs microseconds per operator."""
    shape = nodes[0].shape
    for n in nodes:
        if n.shape != shape:
            return None
    dts = tuple([n.dtype for n in nodes])
    loop = ops.cached_loop(op, dts)
    if loop is None or not _NARROW.isdisjoint(loop):  # float16, bfloat16: _in_float32
        return None
    if loop[:-1] != dts:
        nodes = [n if n.dtype == dt else cast(n, dt) for n, dt in zip(nodes, loop, strict=False)]
    node = make(op, loop[-1], shape, tuple(nodes))
    return canonicalise(node) if op in RULES else node


# (op, operand keys) -> the node ``apply`` built from them, while it lives. Interning already
# makes the result unique; this skips the work of finding it again, which is most of the
# cost of writing an expression that was written before (a loop body, a layer's forward).
memo: dict[tuple, weakref.ref] = {}


def _memo_key(op: Op, xs: tuple) -> tuple[tuple, list[Node]] | None:
    """The memo key of ``op`` on ``xs`` and the nodes among them; None when an operand
    has no exact key (NumPy scalars, arrays, -0.0 which equals 0.0)."""
    key: list = [op]
    nodes = []
    for x in xs:
        part = key_part(x)
        if type(part) is Node:
            key.append(id(part))
            nodes.append(part)
        elif part is None:
            return None
        else:
            key.append(part)
    return tuple(key), nodes


def key_part(x: Any) -> Any:
    """The node of a lazy operand, (type, value) of a Python scalar, else None."""
    t = type(x)
    if t is Node:
        return x
    if t is int or t is bool or (t is float and x != 0.0):
        return t, x
    return getattr(x, "_node", None)


def _holds(node: Node, part: Node) -> bool:
    """Whether ``node`` keeps ``part`` alive within the depth ``apply`` wraps an operand
    (``broadcast(cast(x))``)."""
    if node is part:
        return True
    for a in node.src:
        if a is part:
            return True
        for b in a.src:
            if b is part or part in b.src:
                return True
    return False


def _reaches(node: Node, part: Node) -> bool:
    """Whether ``part`` is anywhere in ``node``'s graph (compositions such as ``var``)."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if n is part:
            return True
        if id(n) not in seen:
            seen.add(id(n))
            stack.extend(n.src)
    return False


def apply(op: Op, *xs: Any) -> Node:
    """Build the node for elementwise ``op`` applied to ``xs`` with NumPy's rules."""
    return _memoised(op, xs, _apply)


def _memoised(op: Op, xs: tuple, build: Callable[[Op, tuple, list[Node] | None], Node]
              ) -> Node:
    """``build(op, xs, nodes)``, or the node it built last time for the same operands
    while that node lives (``nodes``: the lazy operands, None when ``xs`` has no key)."""
    found = _memo_key(op, xs)
    if found is None:
        return build(op, xs, None)
    key, nodes = found
    ref = memo.get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    return memoised(key, nodes, lambda: build(op, xs, nodes))


def memoised(key: tuple, parts: list[Node], build: Callable[[], Node]) -> Node:
    """The node ``build()`` made for ``key`` while it lives, else a new one. ``key`` names
    nodes by id: ``parts`` are those nodes."""
    ref = memo.get(key)
    node = None if ref is None else ref()
    if node is None:
        node = build()
        # an id in the key is only safe while its node lives; a result that does not hold
        # its operands (a folded comparison) could outlive them and meet a new node there.
        # A complex operand never is: its parts are held, not it (and no walk finds it)
        if all(p.op is not Op.COMPLEX and (_holds(node, p) or _reaches(node, p))
               for p in parts):
            remember(memo, key, node)
    return node


def _apply(op: Op, xs: tuple, nodes: list[Node] | None) -> Node:
    if nodes is not None and len(nodes) == len(xs):
        fast = _fast_apply(op, nodes)
        if fast is not None:
            return fast
    if _complex_operand(xs):
        return _complexes().apply(op, xs)
    name = op._value_
    operands = [operand(x, name) for x in xs]
    if all(isinstance(o, Weak) for o in operands):
        operands = [_strong(o) for o in operands]
    # NumPy picks the loop before it broadcasts: with both wrong, the TypeError wins
    loop = ops.resolve_loop(op, tuple(_pytype_or_dtype(o) for o in operands))
    if op not in ops.COMPARISONS:  # NumPy converts a Python int (OverflowError) first too
        operands = [_weak_scalar(o.value, dt) if isinstance(o, Weak) else o
                    for o, dt in zip(operands, loop, strict=False)]
    shape = broadcast_shapes([() if isinstance(o, Weak) else o.shape for o in operands], name)
    if op in ops.COMPARISONS:
        folded = _fold_out_of_range_comparison(op, operands, shape)
        if folded is not None:
            return folded
    if not _NARROW.isdisjoint(loop):
        return _in_float32(op, operands, loop, shape)
    srcs = tuple(coerce(o, dt, shape) for o, dt in zip(operands, loop, strict=False))
    return canonicalise(make(op, loop[-1], shape, srcs))


_F16, _F32 = dtypes.FLOAT16, dtypes.FLOAT32
_NARROW = dtypes.NARROW  # float16, and bfloat16 once seen (the set grows in place)


def _in_float32(op: Op, operands: list[Operand], loop: tuple[np.dtype, ...],
                shape: tuple[int, ...]) -> Node:
    """``op`` on NumPy's float16 loop (or ml_dtypes' bfloat16 one) as it computes: each
    narrow operand (after NumPy's conversion to the narrow dtype, so ``uint8`` values are
    halves first) widened to float32, the op in float32, and a narrow result rounded from it
    (comparisons and other non-float results are the float32 op's). No kernel computes in
    float16 or bfloat16: their values are only loaded, stored, converted and selected."""
    narrow = next(dt for dt in loop if dt in _NARROW)
    half = narrow == _F16
    if op in _HALF_PICKS and loop[-1] == narrow:
        x, *bounds = (coerce(o, dt, shape) for o, dt in zip(operands, loop, strict=False))
        fmt = _HALF if half else _BFLOAT
        if op is Op.CLIP:  # NumPy's float16 clip: minimum(maximum(x, low), high)
            return _narrow_pick(Op.MINIMUM, _narrow_pick(Op.MAXIMUM, x, bounds[0], fmt),
                                bounds[1], fmt)
        return _narrow_pick(op, x, bounds[0], fmt)
    srcs = tuple(cast(coerce(o, dt, shape), _F32 if dt == narrow else dt)
                 for o, dt in zip(operands, loop, strict=False))
    if op is Op.NEXTAFTER:  # float32's neighbour would round back to x: the narrow one's
        return cast(_narrow_nextafter(*srcs, _HALF if half else _BFLOAT), narrow)
    if op is Op.SPACING:
        return cast(_half_spacing(srcs[0]) if half else _bfloat_spacing(srcs[0], narrow),
                    narrow)
    out = loop[-1]
    node = canonicalise(make(op, _F32 if out == narrow else out, shape, srcs))
    if op is Op.SIGN and not half:  # ml_dtypes' sign is x itself where x is 0 or NaN
        x = coerce(operands[0], narrow, shape)
        nonzero = apply(Op.LOGICAL_OR, apply(Op.GREATER, srcs[0], 0.0),
                        apply(Op.LESS, srcs[0], 0.0))
        return make(Op.WHERE, narrow, shape, (nonzero, cast(node, narrow), x))
    return cast(node, out)


_HALF_PICKS = frozenset({Op.MAXIMUM, Op.MINIMUM, Op.FMAX, Op.FMIN, Op.CLIP})


@dataclass(frozen=True, slots=True)
class _Narrow:
    """What the narrow-float rules below need of a format, its values held in float32."""

    digits: int  # significand bits, the implicit one included
    emin: int  # frexp's exponent of the smallest normal value
    biggest: float
    tiny: float  # the smallest subnormal
    second: bool  # ties (equal values, equal zeros) give the second operand: ml_dtypes' rule


_HALF = _Narrow(11, -13, 65504.0, 2.0 ** -24, second=False)  # NumPy's float16 loops
_BFLOAT = _Narrow(8, -125, float(np.uint32(0x7F7F0000).view(np.float32)), 2.0 ** -133,
                  second=True)


def _narrow_pick(op: Op, x: Node, y: Node, fmt: _Narrow) -> Node:
    """The narrow loops' ``maximum``/``minimum`` (``fmax``/``fmin``): ``x`` where it is the
    larger (smaller) or ``x`` (``y``) is NaN, else ``y``; equal values give the first operand
    in NumPy's float16 loops, the second in ml_dtypes' (as float32's loops). One operand's
    bits either way, so NaN payloads are kept."""
    big = op in (Op.MAXIMUM, Op.FMAX)
    keeps = (Op.GREATER if big else Op.LESS) if fmt.second else \
        (Op.GREATER_EQUAL if big else Op.LESS_EQUAL)
    nan = apply(Op.ISNAN, x if op in (Op.MAXIMUM, Op.MINIMUM) else y)
    return make(Op.WHERE, x.dtype, x.shape, (apply(Op.LOGICAL_OR, apply(keeps, x, y), nan),
                                             x, y))


def _narrow_nextafter(x: Node, y: Node, fmt: _Narrow) -> Node:
    """The narrow loops' ``nextafter`` of narrow values ``x`` and ``y`` held in float32: ``x``
    moved by the gap between narrow values next to it (exact in float32; past the largest
    value it rounds to inf when narrowed), the tie's operand where ``x == y`` (so of zeros
    the first in float16, the second in bfloat16), NaN where either is."""
    mag = apply(Op.ABSOLUTE, x)
    frac, e = apply(Op.FREXP_MANTISSA, mag), apply(Op.FREXP_EXPONENT, mag)  # |x| = frac*2**e
    # the gap above |x|: 2**(e - digits) among normal values, the smallest subnormal among
    # subnormal ones; below a normal power of two (frac 0.5) the gap is half that
    up = apply(Op.LDEXP, np.float32(1),
               apply(Op.SUBTRACT, apply(Op.MAXIMUM, e, fmt.emin), fmt.digits))
    power = apply(Op.LOGICAL_AND, apply(Op.EQUAL, frac, 0.5), apply(Op.GREATER, e, fmt.emin))
    rising = apply(Op.GREATER, y, x)
    inward = apply(Op.LOGICAL_XOR, rising, apply(Op.GREATER, x, 0.0))  # toward zero
    gap = where(apply(Op.LOGICAL_AND, inward, power), apply(Op.MULTIPLY, up, 0.5), up)
    moved = where(rising, apply(Op.ADD, x, gap), apply(Op.SUBTRACT, x, gap))
    moved = apply(Op.COPYSIGN, moved, x)  # the smallest subnormal moved inward is -0.0
    moved = where(apply(Op.ISINF, x), apply(Op.COPYSIGN, fmt.biggest, x), moved)  # inward
    moved = where(apply(Op.EQUAL, x, 0.0), apply(Op.COPYSIGN, fmt.tiny, y), moved)
    moved = where(apply(Op.EQUAL, x, y), y if fmt.second else x, moved)
    nan = apply(Op.LOGICAL_OR, apply(Op.ISNAN, x), apply(Op.ISNAN, y))
    return where(nan, np.float32(np.nan), moved)


def _half_spacing(x: Node) -> Node:
    """NumPy's float16 ``spacing``: the gap from ``x`` to the next half toward +inf
    (positive for negative ``x`` too, unlike float32's), inf at 65504, NaN at +-inf."""
    above = cast(cast(_narrow_nextafter(x, scalar(np.inf, _F32), _HALF), _F16), _F32)
    return where(apply(Op.ISINF, x), np.float32(np.nan), apply(Op.SUBTRACT, above, x))


def _bfloat_spacing(x: Node, narrow: np.dtype) -> Node:
    """ml_dtypes' bfloat16 ``spacing``: ``nextafter(x, copysign(inf, x)) - x``, so with
    ``x``'s sign (-0.0's is the smallest negative subnormal), inf past the largest value and
    NaN at +-inf."""
    toward = apply(Op.COPYSIGN, np.float32(np.inf), x)
    above = cast(cast(_narrow_nextafter(x, toward, _BFLOAT), narrow), _F32)
    return apply(Op.SUBTRACT, above, x)


# -- precision="fast": XLA's choices ----------------------------------------------------------
# Each float16 or bfloat16 op is built as cast(op(cast(x, f32)...), narrow), so an op on the
# result of another reads cast(cast(v, narrow), f32). The fast mode drops such round trips
# where v is computed (not an input's values) before evaluation, as XLA's excess precision
# does: only what is stored (the roots, which keep their dtype) is rounded. An explicit
# astype between two computations goes too: the graph cannot tell it from the rewrite's.
# It also computes the functions XLA approximates faster with lazyarr's faster versions
# (docs/math.md, "Fast tanh"): float32 and float64 tanh within 2.1 ULP instead of 1.
_VIEWISH = frozenset({Op.VIEW, Op.BROADCAST, Op.PERMUTE})
_FASTER = {Op.TANH: Op.TANH_FAST}
_FASTER_DTYPES = frozenset({_F32, np.dtype(np.float64)})
_fast_memo: dict[tuple[int, ...], tuple[list[weakref.ref], list[Node]]] = {}


def excess_precision(roots: list[Node]) -> list[Node]:
    """``roots`` as ``precision="fast"`` evaluates them, XLA's choices: float32 kept between
    the operations of narrow floats (every float32 -> narrow -> float32 round trip of a
    computed value removed), and faster approximations where XLA uses them (float32 and
    float64 tanh: ``Op.TANH_FAST``). Roots keep their dtype and shape; memoised while they
    live."""
    key = tuple(map(id, roots))
    hit = _fast_memo.get(key)
    if hit is not None and all(r() is n for r, n in zip(hit[0], roots, strict=True)):
        return hit[1]
    done: dict[int, Node] = {}
    for node in toposort(roots):
        src = tuple(done[id(s)] for s in node.src)
        if node.op is Op.CAST and node.dtype == _F32:
            wide = _unrounded(src[0])
            if wide is not None:
                done[id(node)] = wide
                continue
        op = node.op
        if op in _FASTER and node.dtype in _FASTER_DTYPES:
            op = _FASTER[op]
        changed = op is not node.op or any(a is not b for a, b in zip(src, node.src,
                                                                        strict=True))
        done[id(node)] = make(op, node.dtype, node.shape, src, node.arg) if changed else node
    result = [done[id(r)] for r in roots]
    if len(_fast_memo) >= 256:  # a bound: the memo holds the rewritten graphs alive
        _fast_memo.clear()
    _fast_memo[key] = ([weakref.ref(r) for r in roots], result)
    return result


def _unrounded(node: Node) -> Node | None:
    """The float32 value that narrow ``node`` (possibly through views) rounds, when it is a
    computed one; else None."""
    if node.op in _VIEWISH:
        inner = _unrounded(node.src[0])
        return None if inner is None else make(node.op, _F32, node.shape, (inner,), node.arg)
    if node.op is not Op.CAST or node.dtype not in _NARROW:
        return None
    v = node.src[0]
    if v.dtype != _F32:
        return None
    loaded = v
    while loaded.op in _VIEWISH:
        loaded = loaded.src[0]
    return None if loaded.op in (Op.LEAF, Op.SCALAR) else v


def _fold_out_of_range_comparison(op: Op, operands: list[Operand],
                                  shape: tuple[int, ...]) -> Node | None:
    """NumPy 2 compares integer arrays with Python ints outside their range exactly.

    ``uint8_array < -1`` is all False and raises nothing, so the result is a constant.
    """
    if len(operands) != 2:
        return None
    a, b = operands
    flipped = isinstance(a, Weak)
    arr, weak = (b, a) if flipped else (a, b)
    if not (isinstance(weak, Weak) and weak.pytype is int and isinstance(arr, Node)):
        return None
    if arr.dtype.kind not in "iu":
        return None
    lo, hi = dtypes.int_bounds(arr.dtype)
    if lo <= weak.value <= hi:
        return None
    # every element of arr is < weak (weak above range) or > weak (below range)
    arr_less = weak.value > hi
    if flipped:
        op = _MIRROR[op]
    value = {
        Op.LESS: arr_less, Op.LESS_EQUAL: arr_less, Op.GREATER: not arr_less,
        Op.GREATER_EQUAL: not arr_less, Op.EQUAL: False, Op.NOT_EQUAL: True,
    }[op]
    return broadcast_to(scalar(value, np.dtype(bool)), shape)


_MIRROR = {
    Op.LESS: Op.GREATER, Op.GREATER: Op.LESS, Op.LESS_EQUAL: Op.GREATER_EQUAL,
    Op.GREATER_EQUAL: Op.LESS_EQUAL, Op.EQUAL: Op.EQUAL, Op.NOT_EQUAL: Op.NOT_EQUAL,
}


def where(cond: Any, x: Any, y: Any) -> Node:
    return _memoised(Op.WHERE, (cond, x, y), _where)


def _where(op: Op, xs: tuple, nodes: list[Node] | None) -> Node:
    if _complex_operand(xs):
        return _complexes().where(*xs)
    c, a, b = (operand(v, "where") for v in xs)
    c = _strong(c) if isinstance(c, Weak) else c
    values = [o.value if isinstance(o, Weak) else o.dtype for o in (a, b)]
    dt = dtypes.check(np.result_type(*values), "where")
    shape = broadcast_shapes([o.shape if isinstance(o, Node) else () for o in (c, a, b)],
                             "where")
    srcs = (broadcast_to(cast(c, np.dtype(bool)), shape),
            *(broadcast_to(_where_value(o.value, dt), shape) if isinstance(o, Weak)
              else coerce(o, dt, shape) for o in (a, b)))
    return make(Op.WHERE, dt, shape, srcs)


def _where_value(value: int | float, dtype: np.dtype) -> Node:
    """A Python scalar of ``where`` as NumPy converts it: not a ufunc operand, so an int
    out of the dtype's range wraps (C's conversion, from int64's minimum to uint64's
    maximum) instead of raising OverflowError."""
    if isinstance(value, int) and not isinstance(value, bool) and dtype.kind in "iu":
        if not _INT64_MIN <= value <= _UINT64_MAX:
            raise OverflowError("Python int too large to convert to C long")
        bits = 8 * dtype.itemsize
        value %= 1 << bits
        if dtype.kind == "i" and value >> (bits - 1):
            value -= 1 << bits
    with np.errstate(over="ignore"):  # a float beyond float32 is inf, as in NumPy
        return scalar(value, dtype)


def astype(node: Node, dtype: Any) -> Node:
    dt = dtypes.parse(dtype)  # "bfloat16" imports ml_dtypes (the name is NumPy's after)
    if dt.kind == "c" or node.op is Op.COMPLEX:
        return _complexes().astype(node, dt)
    return cast(node, dtypes.check(dt, "astype"))


def permute(node: Node, axes: tuple[int, ...]) -> Node:
    if axes == tuple(range(node.ndim)):
        return node
    if node.op is Op.COMPLEX:
        return _complexes().each(permute, node, axes)
    shape = tuple(node.shape[a] for a in axes)
    return make(Op.PERMUTE, node.dtype, shape, (node,), axes)


# -- complex values: pairs of real nodes, built by lazyarr/front/complexes.py ------------------
def _complexes() -> Any:
    from lazyarr.front import complexes  # (it builds on this module)

    return complexes


def _complex_operand(xs: tuple) -> bool:
    """Whether an operand is complex (a Python or NumPy complex, a complex array, node or
    lazy array): the operation is then complexes.py's."""
    for x in xs:
        t = type(x)
        if t is int or t is float or t is bool:
            continue
        if t is complex:
            return True
        dt = getattr(x, "dtype", None)  # nodes, lazy arrays, NumPy arrays and scalars
        if isinstance(dt, np.dtype) and dt.kind == "c":
            return True
        if (t is list or t is tuple) and np.asarray(x).dtype.kind == "c":
            return True
    return False
