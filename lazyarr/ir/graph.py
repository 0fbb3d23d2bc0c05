"""The expression graph: immutable, interned nodes.

Nodes are built through :func:`make`, which hash-conses them: structurally equal nodes are
the same object, so common subexpressions are shared for free and identity is a cheap,
correct equality. ``Node`` compares by identity; only ``LazyArray.__eq__`` builds a
comparison. The one exception: the front end's lean operators make *signed* nodes over new
arrays (:func:`node2`), which carry their structure instead of being interned (see "signed
nodes" below); two equal expressions written that way are two nodes of equal values.
"""

from __future__ import annotations

import enum
import itertools
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np


class Op(enum.Enum):
    # members are singletons: identity hashing is exact, and C-level (Enum's own hashes the
    # name in Python, a measurable part of an operator's memo probe)
    __hash__ = object.__hash__

    # sources
    LEAF = "leaf"  # a NumPy array, read in place
    SCALAR = "scalar"  # a scalar passed to the kernel at run time
    # the C-order index of each element of its shape (uint64), computed by the kernel from
    # its loop indices and never stored: the counter of counter-based random numbers
    COUNTER = "counter"
    # movement (views): change the index map, never the data
    BROADCAST = "broadcast"
    PERMUTE = "permute"
    VIEW = "view"  # slices, integer indices, new axes: arg is a ViewMap
    # reduction over axes; arg is (ReduceKind, axes of the source)
    REDUCE = "reduce"
    # inclusive scan along the LAST axis (cumulative sum or product; same shape as the
    # source, whose dtype it has); arg is ReduceKind.SUM or ReduceKind.PROD
    SCAN = "scan"
    # opaque: evaluated by NumPy on materialised inputs, a fusion barrier
    MATMUL = "matmul"
    RESHAPE = "reshape"  # a reshape that no strided view can express: copies
    CONCATENATE = "concatenate"  # arg: axis
    STACK = "stack"  # arg: axis
    TAKE = "take"  # numpy.take(x, indices, axis=arg): a gather (embeddings, x[index_array])
    # take's transpose: zeros of the source's shape, each slice of g added at its index
    # (numpy.add.at); arg is (axis, the source's extent along it)
    SCATTER_ADD = "scatter_add"
    # a NumPy function of the evaluated inputs (sort, unique, linalg, fft): arg is a HostCall
    HOST = "host"
    # elementwise
    CAST = "cast"
    WHERE = "where"
    ADD = "add"
    SUBTRACT = "subtract"
    MULTIPLY = "multiply"
    TRUE_DIVIDE = "true_divide"
    FLOOR_DIVIDE = "floor_divide"
    REMAINDER = "remainder"
    POWER = "power"
    # x ** n for a float x and an integer constant n (arg), which the kernel's code unrolls;
    # made by canonicalisation from POWER with an integral scalar exponent (lazyarr/front/canon.py)
    POWER_INT = "power_int"
    NEGATIVE = "negative"
    POSITIVE = "positive"
    ABSOLUTE = "absolute"
    INVERT = "invert"
    LESS = "less"
    LESS_EQUAL = "less_equal"
    GREATER = "greater"
    GREATER_EQUAL = "greater_equal"
    EQUAL = "equal"
    NOT_EQUAL = "not_equal"
    BITWISE_AND = "bitwise_and"
    BITWISE_OR = "bitwise_or"
    BITWISE_XOR = "bitwise_xor"
    LEFT_SHIFT = "left_shift"
    RIGHT_SHIFT = "right_shift"
    EXP = "exp"
    EXPM1 = "expm1"
    EXP2 = "exp2"
    LOG = "log"
    LOG1P = "log1p"
    LOG2 = "log2"
    LOG10 = "log10"
    SQRT = "sqrt"
    CBRT = "cbrt"
    SQUARE = "square"
    RECIPROCAL = "reciprocal"
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    ARCSIN = "arcsin"
    ARCCOS = "arccos"
    ARCTAN = "arctan"
    ARCTAN2 = "arctan2"
    SINH = "sinh"
    COSH = "cosh"
    TANH = "tanh"
    # precision="fast"'s tanh (front/build.py excess_precision): within 4 ULP, not 1
    TANH_FAST = "tanh_fast"
    ARCSINH = "arcsinh"
    ARCCOSH = "arccosh"
    ARCTANH = "arctanh"
    HYPOT = "hypot"
    FLOOR = "floor"
    CEIL = "ceil"
    TRUNC = "trunc"
    RINT = "rint"
    SIGN = "sign"
    MAXIMUM = "maximum"
    MINIMUM = "minimum"
    FMAX = "fmax"
    FMIN = "fmin"
    CLIP = "clip"
    LOGADDEXP = "logaddexp"
    ISNAN = "isnan"
    ISINF = "isinf"
    ISFINITE = "isfinite"
    SIGNBIT = "signbit"
    COPYSIGN = "copysign"
    LOGICAL_AND = "logical_and"
    LOGICAL_OR = "logical_or"
    LOGICAL_NOT = "logical_not"
    LOGICAL_XOR = "logical_xor"
    FABS = "fabs"
    FMOD = "fmod"
    LDEXP = "ldexp"
    # the two outputs of numpy.frexp and numpy.modf: two ops over the same operand, which
    # the scheduler puts in one kernel when both are evaluated together
    FREXP_MANTISSA = "frexp_mantissa"
    FREXP_EXPONENT = "frexp_exponent"
    MODF_FRACTION = "modf_fraction"
    MODF_INTEGRAL = "modf_integral"
    NEXTAFTER = "nextafter"
    SPACING = "spacing"
    DEG2RAD = "deg2rad"
    RAD2DEG = "rad2deg"
    HEAVISIDE = "heaviside"
    FLOAT_POWER = "float_power"
    GCD = "gcd"
    LCM = "lcm"
    LOGADDEXP2 = "logaddexp2"
    BITWISE_COUNT = "bitwise_count"
    CONJUGATE = "conjugate"
    ERF = "erf"
    ERFC = "erfc"
    # x itself, through which no gradient flows (la.stop_gradient: JAX's, PyTorch's detach)
    STOP_GRADIENT = "stop_gradient"
    FMA = "fma"  # x * y + z rounded once (C's fma): PyTorch's quantisation computes with it
    # word ``arg`` (0-3) of Philox4x32-10 of (counter, key), both uint64 (lazyarr/random.py)
    PHILOX = "philox"
    # a complex value (complex64/complex128) as its two parts, src = (real, imag): real nodes
    # of one shape and the part's dtype (float32/float64). Made and taken apart by the front
    # end (lazyarr/front/complexes.py); never a source of a real op, so no kernel sees one
    COMPLEX = "complex"


class ReduceKind(enum.Enum):
    __hash__ = object.__hash__  # as Op's

    SUM = "sum"
    PROD = "prod"
    MIN = "min"
    MAX = "max"
    ARGMIN = "argmin"
    ARGMAX = "argmax"
    ANY = "any"
    ALL = "all"


# Enum's own __hash__ hashes the member's name in Python; members are singletons, so the
# identity hash is equivalent and these are dictionary keys on every hot path.
Op.__hash__ = object.__hash__  # type: ignore[method-assign]
ReduceKind.__hash__ = object.__hash__  # type: ignore[method-assign]

SOURCES = frozenset({Op.LEAF, Op.SCALAR, Op.COUNTER})
MOVEMENT = frozenset({Op.BROADCAST, Op.PERMUTE, Op.VIEW})
OPAQUE = frozenset({Op.MATMUL, Op.RESHAPE, Op.CONCATENATE, Op.STACK, Op.TAKE, Op.SCATTER_ADD,
                    Op.HOST})
ELEMENTWISE = frozenset(Op) - SOURCES - MOVEMENT - OPAQUE - {Op.REDUCE, Op.SCAN, Op.COMPLEX}



@dataclass(frozen=True, slots=True)
class HostCall:
    """What an ``Op.HOST`` node computes: ``fn(*inputs, *params)`` run by NumPy on evaluated
    inputs, or item ``output`` of the tuple it returns (a function with several results is one
    node per result). ``fn`` must be a pure function of module scope and ``params`` hashable:
    the pair is part of the node's identity, as an op's argument is."""

    name: str
    fn: Callable[..., Any]
    params: tuple = ()
    output: int | None = None


# A view's map: one entry per source dimension, (result dimension or None, step, start):
# source_index = start + step * result_index[dim], or just start for a dimension indexed away.
ViewMap = tuple[tuple[int | None, int, int], ...]
# where a leaf that is a NumPy view of another leaf came from: (that leaf, the view applied to
# any node); see Buffer.origin
Origin = tuple["Node", Callable[["Node"], "Node"]]


def is_dask_array(obj: Any) -> bool:
    """Whether ``obj`` is a ``dask.array.Array``, without importing Dask."""
    return type(obj).__module__.startswith("dask.array") and hasattr(obj, "__dask_graph__")


class Buffer:
    """A NumPy array (or a ``lazyarr.backends.cuda_memory.DeviceArray``) captured by reference.

    lazyarr reads captured arrays when an expression is evaluated, not when it is built:
    writing to the array in between changes the result, exactly as it would for a NumPy view.
    Buffers compare by identity, so two captures of one array are two leaves.
    """

    __slots__ = ("__weakref__", "array", "origin")
    # set once any buffer holds device memory: only then does evaluation look where leaves live
    foreign = False
    # set once any buffer holds a Dask array: only then does evaluation look for Dask leaves
    dask = False

    def __init__(self, array: np.ndarray, origin: Origin | None = None) -> None:
        self.array = array
        # a view of another leaf, taken as NumPy's view when built (lazyarr/front/views.py):
        # the leaf it came from and the view as a function of a node, which gradients follow
        self.origin = origin
        if not isinstance(array, np.ndarray):
            if is_dask_array(array):
                Buffer.dask = True
            else:
                Buffer.foreign = True

    def __repr__(self) -> str:
        return f"Buffer({self.array.dtype}{list(self.array.shape)})"


class _NodeFields:
    """The storage of a :class:`Node`: its fields as slots (see ``_Born``), and its
    signature (``sid``, ``ins``: see :func:`sign`), which is not a field."""

    __slots__ = ("arg", "dtype", "ins", "op", "shape", "sid", "src")


@dataclass(frozen=True, eq=False)
class Node(_NodeFields):
    # no defaults: a dataclass default is a class attribute, which would hide the slot
    op: Op
    dtype: np.dtype
    shape: tuple[int, ...]
    src: tuple[Node, ...]
    arg: Any
    __slots__ = ("__weakref__",)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


class _Born(_NodeFields):
    """A node while its fields are set: plain slot stores, then its class becomes ``Node``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: 0.47 us
    a node against 0.33 us this way (``_new_node``, timeit), and nodes are made on every
    operator. The two classes share their layout (the slots live in ``_NodeFields``), which is
    what lets the interpreter change an object's class."""

    __slots__ = ("__weakref__",)

    def __init__(self, op: Op, dtype: np.dtype, shape: tuple[int, ...], src: tuple[Node, ...],
                 arg: Any) -> None:
        self.op = op
        self.dtype = dtype
        self.shape = shape
        self.src = src
        self.arg = arg
        self.sid = None
        self.ins = None


# structural key -> weak reference to the one node with it. A plain dict of weak references
# rather than a WeakValueDictionary, whose Python-level bookkeeping cost microseconds a node.
_INTERNED: dict[tuple, weakref.ref] = {}


def _new_node(op: Op, dtype: np.dtype, shape: tuple[int, ...], src: tuple[Node, ...],
              arg: Any) -> Node:
    node = _Born(op, dtype, shape, src, arg)
    node.__class__ = Node
    return node  # type: ignore[return-value]


_SCALAR, _LEAF = Op.SCALAR, Op.LEAF  # enum attribute lookups cost ~0.1 us each in hot code


def _arg_key(op: Op, arg: Any) -> Any:
    if op is _SCALAR:
        # bytes, so that NaN interns and 0.0 / -0.0 stay apart
        return arg.tobytes()
    if op is _LEAF:
        return id(arg)
    return arg


_SWEEP_MIN = 4096
_limits: dict[int, int] = {}  # id of a table -> its size that triggers the next sweep


def remember(table: dict[Any, weakref.ref], key: Any, node: Node) -> None:
    """``table[key] = weakref.ref(node)``. Dead entries are not removed one by one (a
    callback per node costs more than the rest of making it) but swept when the table has
    doubled since the last sweep: amortised constant time, at most twice the live size."""
    table[key] = weakref.ref(node)  # without a callback, CPython shares one ref per node
    if len(table) > _limits.get(id(table), _SWEEP_MIN):
        _sweep(table)


def _sweep(table: dict[Any, weakref.ref], least: int = _SWEEP_MIN) -> None:
    for k in [k for k, r in table.items() if r() is None]:
        del table[k]
    _limits[id(table)] = max(least, 2 * len(table))


_intern_get, _ref, _INTERNED_ID = _INTERNED.get, weakref.ref, id(_INTERNED)
# The interning table is swept from a smaller size: each dead entry (its weak reference and
# key, both tracked by the cyclic collector) counts towards the collector's next pass until a
# sweep drops it, and a layer's new batch leaves one a node each call. From 4096 they set off
# a collection every few dozen calls, full ones among them (2.5 of 35 us a call of
# benchmarks/new_arrays.py's 10-op expression at 10^3); from 256, none.
_INTERNED_MIN = 256


def make(op: Op, dtype: np.dtype, shape: tuple[int, ...], src: tuple[Node, ...] = (),
         arg: Any = None) -> Node:
    """Return the unique node with these fields."""
    # one flat tuple (its length tells the sources from the argument's key, always last):
    # every new node keeps its key, and each object kept brings the collector's next pass
    # nearer (a nested tuple of ids cost 10% more per operator, gc included)
    key = (op, dtype, shape, *map(id, src), arg if arg is None else _arg_key(op, arg))
    ref = _intern_get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = _Born(op, dtype, shape, src, arg)
    node.__class__ = Node  # (_new_node, written out)
    # remember(_INTERNED, key, node), written out (every new node comes here), with the
    # interning table's own minimum
    _INTERNED[key] = _ref(node)
    if len(_INTERNED) > _limits.get(_INTERNED_ID, _INTERNED_MIN):
        _sweep(_INTERNED, _INTERNED_MIN)
    return node


def make2(op: Op, dtype: np.dtype, shape: tuple[int, ...], a: Node, b: Node) -> Node:
    """``make(op, dtype, shape, (a, b))`` for an elementwise op of two nodes, with no
    argument: the front end's lean operators (lazyarr/front/array.py) make these."""
    key = (op, dtype, shape, id(a), id(b), None)
    ref = _intern_get(key)
    if ref is not None:
        node = ref()
        if node is not None:
            return node
    node = _Born(op, dtype, shape, (a, b), None)
    node.__class__ = Node  # (_new_node, written out)
    _INTERNED[key] = _ref(node)
    if len(_INTERNED) > _limits.get(_INTERNED_ID, _INTERNED_MIN):
        _sweep(_INTERNED, _INTERNED_MIN)
    return node


def fresh_leaf(dtype: np.dtype, shape: tuple[int, ...], buffer: Buffer) -> Node:
    """``make(Op.LEAF, dtype, shape, (), buffer)`` for a buffer made just now: no node can
    have it already (a leaf's key is its buffer's identity), and none can look it up later
    but through that buffer, which only this node holds; so it skips the interning table
    (a layer's new batch each call: asarray of a new array). Signed as it is made (see
    below): the lean operators would sign it at once, at more cost."""
    node = _Born(_LEAF, dtype, shape, (), buffer)
    node.sid = _leaf_sid(buffer.array, shape)
    node.__class__ = Node
    return node  # type: ignore[return-value]


# -- signed nodes: the structure of a new expression, kept as it is written ----------------------
# A layer's forward pass over a new batch writes an expression whose every node is new, and
# its evaluation looks for the launch lowered for that structure before (lazyarr/run/rebind.py).
# Walking the graph for the structure key cost 6 of 30 us of a 10-op expression at 10^3
# elements, and interning its new nodes 5 more (benchmarks/new_arrays.py --parts). So the
# front end's lean operators make signed nodes instead (node1, node2): not interned, each
# carrying
#  - ``sid``: a number for the structure of its expression read as a tree (op, dtype and the
#    numbers of its sources; a leaf by its array's dtype, shape, strides and alignment, a
#    scalar by its dtype, a broadcast by its shape), the same for the same structure;
#  - ``ins``: the tree's leaves and scalars in order, each as often as the tree reads it
#    (None on a leaf or scalar: it is its own).
# The number with the pattern of which entries of ``ins`` are one node (rebind.signed) fixes
# the expression as a function of its distinct leaves and scalars: all that a launch rebound
# to other arrays depends on. Equal subtrees that are distinct nodes (interning would have
# made them one) are computed twice: the values are the same.
# sid 0: no signature (a node of the general path, or a tree reading more than INS_MAX
# leaves and scalars, which is interned as before): its evaluation walks it. None: not
# asked yet (sign answers and records it).
INS_MAX = 32
_SIDS_MAX = 1 << 14  # numbers kept (each key a few hundred bytes); then the table starts again
_sids: dict[tuple, int] = {}
_sid_get = _sids.get
_next_sid = itertools.count(1).__next__
_BROADCAST = Op.BROADCAST
_set = object.__setattr__  # nodes are frozen: a signature is set once, as a cache


def signature(key: tuple) -> int:
    """The number of the structure ``key`` names (op, dtype and source numbers, or what a
    source is)."""
    sid = _sid_get(key)
    if sid is None:
        if len(_sids) >= _SIDS_MAX:
            _sids.clear()  # numbers are never reused: keys of older nodes meet no new one
        sid = _sids[key] = _next_sid()
    return sid


def _leaf_sid(array: Any, shape: tuple[int, ...]) -> int:
    """The signature number of a leaf over ``array``: for a NumPy array by its own dtype (its
    byte order) and alignment, which choose the kernel's loads and the node's native dtype
    does not tell, and its strides; for an array type a backend registered (device memory:
    its kernels choose their loads at launch) by type, dtype, strides and device; 0 for
    other arrays."""
    kind = type(array)
    if kind is np.ndarray:
        key = (_LEAF, array.dtype, shape, array.strides, array.flags.aligned)
    elif kind in _SIGNED_ARRAYS:
        key = (_LEAF, kind, array.dtype, shape, array.strides, array.device_id)
    else:
        return 0
    return _sid_get(key) or signature(key)


# array types besides NumPy's whose leaves are signed (backends.cuda_memory's DeviceArray,
# with ``dtype``, ``strides`` and ``device_id``), registered by their backend
_SIGNED_ARRAYS: set[type] = set()


def sign_leaves_of(kind: type) -> None:
    """Sign leaves over arrays of ``kind`` too (see :func:`_leaf_sid`)."""
    _SIGNED_ARRAYS.add(kind)


def sign(node: Node) -> int:
    """``node``'s signature number, recorded on it; 0 for none. Leaves over NumPy arrays,
    scalars and broadcasts of signed nodes have one, other nodes when node1 or node2 made
    them."""
    sid = node.sid
    if sid is not None:
        return sid
    op = node.op
    sid = 0
    if op is _LEAF:
        sid = _leaf_sid(node.arg.array, node.shape)
    elif op is _SCALAR:
        sid = signature((op, node.dtype))
    elif op is _BROADCAST and node.arg is None:
        src = node.src[0]
        s = sign(src)
        if s:
            _set(node, "ins", src.ins or (src,))
            sid = signature((op, node.dtype, node.shape, s))
    _set(node, "sid", sid)
    return sid


def node2(op: Op, dtype: np.dtype, shape: tuple[int, ...], a: Node, b: Node) -> Node:
    """``make2``'s node for the lean operators, signed and not interned when ``a`` and ``b``
    are signed (see above)."""
    sa = a.sid
    if sa is None:
        sa = sign(a)
    sb = b.sid
    if sb is None:
        sb = sign(b)
    if sa and sb:
        ins = (a.ins or (a,)) + (b.ins or (b,))
        if len(ins) <= INS_MAX:
            key = (op, dtype, sa, sb)
            node = _Born(op, dtype, shape, (a, b), None)
            node.sid = _sid_get(key) or signature(key)
            node.ins = ins
            node.__class__ = Node
            return node  # type: ignore[return-value]
    return make2(op, dtype, shape, a, b)


def node1(op: Op, dtype: np.dtype, a: Node) -> Node:
    """``make(op, dtype, a.shape, (a,))`` for the lean operators, signed and not interned
    when ``a`` is signed (see above)."""
    sa = a.sid
    if sa is None:
        sa = sign(a)
    if not sa:
        return make(op, dtype, a.shape, (a,))
    key = (op, dtype, sa)
    node = _Born(op, dtype, a.shape, (a,), None)
    node.sid = _sid_get(key) or signature(key)
    node.ins = a.ins or (a,)
    node.__class__ = Node
    return node  # type: ignore[return-value]


def toposort(roots: list[Node] | tuple[Node, ...],
             stop: Callable[[Node], bool] | None = None,
             inputs: Callable[[Node], tuple[Node, ...]] | None = None) -> list[Node]:
    """Nodes reachable from ``roots``, each after all of its sources.

    ``stop(node)`` is asked once per node, when the walk first meets it: a node it accepts
    is left out and its sources are not walked. ``inputs(node)``: what to walk instead of
    ``node.src`` (autodiff also walks from a view leaf to the leaf it views).
    """
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        if stop is not None and stop(node):
            continue
        stack.append((node, True))
        stack.extend((s, False) for s in reversed(node.src if inputs is None else inputs(node))
                     if id(s) not in seen)
    return order


def describe(node: Node) -> str:
    """One line for a node: op, dtype, shape, and its argument where that helps."""
    dims = "x".join(map(str, node.shape)) or "scalar"
    extra = ""
    if node.op is Op.SCALAR:
        extra = f" {node.arg.item()!r}"
    elif node.op in (Op.PERMUTE, Op.CONCATENATE, Op.STACK):
        extra = f" axes={node.arg}"
    elif node.op is Op.REDUCE:
        extra = f" {node.arg[0].value} axes={node.arg[1]}"
    elif node.op is Op.HOST:
        extra = f" {node.arg.name}"
    elif node.op is Op.SCAN:
        extra = f" {node.arg.value} along the last axis"
    elif node.op in (Op.POWER_INT, Op.PHILOX):
        extra = f" n={node.arg}" if node.op is Op.POWER_INT else f" word={node.arg}"
    return f"{node.op.value}{extra} : {node.dtype}[{dims}]"


def scalar_value(dtype: np.dtype, value: Any) -> np.generic:
    """``value`` as a NumPy scalar of ``dtype`` (raises OverflowError as NumPy does for
    integers; a float beyond float16's or float32's range is an infinity, silently)."""
    with np.errstate(over="ignore"):
        return np.array(value, dtype=dtype)[()]
