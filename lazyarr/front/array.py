"""``LazyArray``: NumPy-style operators that build an expression graph instead of computing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from lazyarr.config import settings
from lazyarr.front import build, opaque, reductions, views
from lazyarr.ir import ops
from lazyarr.ir.graph import Buffer, Node, Op, ReduceKind, describe
from lazyarr.run import fastpath
from lazyarr.run.evaluate import evaluate

_ARRAY_FUNCTIONS: dict[Any, Any] = {}


def _no_gradient(shape: tuple[int, ...], picked: tuple[int, ...]) -> Callable[[Node], Node]:
    def refuse(_: Node) -> Node:
        raise NotImplementedError(
            f"grad: advanced (integer or boolean array) indexing of a {shape} array into "
            f"{picked} is evaluated eagerly and has no gradient; select with la.where "
            "against an index comparison instead (docs/autodiff.md)")

    return refuse


class LazyArray:
    """An array expression, evaluated (fused and compiled) only when asked for.

    ``shape``, ``dtype``, ``ndim`` and ``size`` are known as soon as the expression is written;
    nothing is computed until :meth:`eval`, ``np.asarray`` or :func:`lazyarr.eval`.
    """

    # _ready: the fast path's executor of this array's last small repeated evaluation
    __slots__ = ("_node", "_ready")
    __hash__ = None  # like ndarray: == builds an array, so instances cannot be dict keys

    def __init__(self, node: Node) -> None:
        self._node = node
        self._ready = None

    # -- metadata, known without evaluating ---------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._node.shape

    @property
    def dtype(self) -> np.dtype:
        return self._node.dtype

    @property
    def ndim(self) -> int:
        return self._node.ndim

    @property
    def size(self) -> int:
        return self._node.size

    @property
    def T(self) -> LazyArray:  # noqa: N802 (NumPy's name)
        return LazyArray(views.permute_dims(self._node))

    @property
    def mT(self) -> LazyArray:  # noqa: N802 (NumPy's name)
        return LazyArray(views.matrix_transpose(self._node))

    def transpose(self, *axes: Any) -> LazyArray:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
            axes = axes[0]
        return LazyArray(views.permute_dims(self._node, tuple(axes) if axes else None))

    # -- views (zero-copy) -----------------------------------------------------------------
    def __getitem__(self, index: Any) -> LazyArray:
        if isinstance(index, LazyArray):
            index = index.eval()
        if views.is_basic_index(index):
            return LazyArray(views.getitem(self._node, index))
        taken = _take_index(index, self.ndim)
        if taken is not None:  # x[i] or x[:, i] with an integer array i: a lazy gather
            axis, indices = taken
            return LazyArray(opaque.take(self._node, build.leaf(indices), axis))
        # advanced (integer or boolean array) indexing copies in NumPy too: done eagerly, and
        # a gradient through it is refused rather than silently zero
        picked = np.asarray(self.eval()[index])
        return LazyArray(build.leaf(picked, (self._node, _no_gradient(self.shape, picked.shape))))

    def reshape(self, *shape: Any, order: str = "C") -> LazyArray:
        if order != "C":
            raise NotImplementedError("lazyarr reshapes in C order only")
        if len(shape) == 1:
            shape = shape[0]
        return LazyArray(views.reshape(self._node, shape))

    def ravel(self) -> LazyArray:
        return LazyArray(views.ravel(self._node))

    flatten = ravel

    def squeeze(self, axis: Any = None) -> LazyArray:
        return LazyArray(views.squeeze(self._node, axis))

    def swapaxes(self, axis1: int, axis2: int) -> LazyArray:
        return LazyArray(views.swapaxes(self._node, axis1, axis2))

    # -- reductions --------------------------------------------------------------------
    def sum(self, axis: Any = None, dtype: Any = None, out: Any = None,
            keepdims: bool = False) -> Any:
        return _finish(_reduced(ReduceKind.SUM, self._node, axis, keepdims, dtype), out)

    def prod(self, axis: Any = None, dtype: Any = None, out: Any = None,
             keepdims: bool = False) -> Any:
        return _finish(_reduced(ReduceKind.PROD, self._node, axis, keepdims, dtype), out)

    def min(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _finish(_reduced(ReduceKind.MIN, self._node, axis, keepdims), out)

    def max(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _finish(_reduced(ReduceKind.MAX, self._node, axis, keepdims), out)

    def any(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _finish(_reduced(ReduceKind.ANY, self._node, axis, keepdims), out)

    def all(self, axis: Any = None, out: Any = None, keepdims: bool = False) -> Any:
        return _finish(_reduced(ReduceKind.ALL, self._node, axis, keepdims), out)

    def argmin(self, axis: int | None = None, out: Any = None, *,
               keepdims: bool = False) -> Any:
        return _finish(LazyArray(reductions.arg(ReduceKind.ARGMIN, self._node, axis,
                                                   keepdims)), out)

    def argmax(self, axis: int | None = None, out: Any = None, *,
               keepdims: bool = False) -> Any:
        return _finish(LazyArray(reductions.arg(ReduceKind.ARGMAX, self._node, axis,
                                                   keepdims)), out)

    def mean(self, axis: Any = None, dtype: Any = None, out: Any = None,
             keepdims: bool = False) -> Any:
        node = self._node
        return _finish(_memo(("mean", keepdims, dtype), node, axis,
                             lambda: reductions.mean(node, axis, dtype, keepdims)), out)

    def var(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False) -> Any:
        node = self._node
        return _finish(_memo(("var", keepdims, dtype, ddof), node, axis,
                             lambda: reductions.var(node, axis, dtype, ddof, keepdims)), out)

    def std(self, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False) -> Any:
        node = self._node
        return _finish(_memo(("std", keepdims, dtype, ddof), node, axis,
                             lambda: reductions.std(node, axis, dtype, ddof, keepdims)), out)

    # -- matrix products (fusion barriers) -----------------------------------------------
    def __matmul__(self, other: Any) -> Any:
        try:
            return LazyArray(opaque.matmul(self._node, build.operand_node(other, "matmul")))
        except build.UnsupportedOperand:
            return NotImplemented

    def __rmatmul__(self, other: Any) -> Any:
        try:
            return LazyArray(opaque.matmul(build.operand_node(other, "matmul"), self._node))
        except build.UnsupportedOperand:
            return NotImplemented

    def dot(self, other: Any) -> LazyArray:
        return LazyArray(opaque.dot(self._node, build.operand_node(other, "dot")))

    def clip(self, min: Any = None, max: Any = None) -> LazyArray:
        from lazyarr.front.functions import clip

        return clip(self, min, max)

    def astype(self, dtype: Any) -> LazyArray:
        return LazyArray(build.astype(self._node, dtype))

    def round(self, decimals: int = 0, out: Any = None) -> Any:
        from lazyarr.front.functions import round_

        return round_(self, decimals, out)

    def __divmod__(self, other: Any) -> Any:
        return np.divmod(self, other)

    def __rdivmod__(self, other: Any) -> Any:
        return np.divmod(other, self)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"<LazyArray {describe(self._node)}>"

    def _repr_html_(self) -> str:
        from lazyarr.inspect.display import html_card

        return html_card(self._node)

    def _repr_latex_(self) -> str:
        from lazyarr.inspect.display import latex

        return latex(self._node)

    # -- evaluation --------------------------------------------------------------------
    def eval(self, *, out: np.ndarray | None = None, backend: str | None = None,
             target: str | None = None) -> np.ndarray:
        """The value: a NumPy array, or a ``DeviceArray`` when evaluated on CUDA."""
        ready = self._ready  # a builtin launch ready for this array: the shortest path
        # fastpath.active() written out: the call would cost 7% of this path
        if ready is not None and backend is None and target is None and \
                settings.backend == "cpu" and not Buffer.foreign:
            if out is None:
                if ready.one is not None:
                    return ready.one()
            elif ready.outs is not None and ready.direct(out) is out:  # out checked
                return out
        result = evaluate([self._node], None if out is None else [out], backend, target)[0]
        if backend is None and target is None:
            # measured: 0.3 us of a 0.9 us repeated evaluation (benchmarks/memo_layers.py)
            self._ready = fastpath.ready(self._node, out) if fastpath.active() else None
        return result

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        result = np.asarray(self.eval())  # a device result is copied to the host
        if dtype is not None and np.dtype(dtype) != result.dtype:
            return result.astype(dtype)
        return result

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                "The truth value of an array with more than one element is ambiguous. "
                "Use a.any() or a.all()"
            )
        return bool(np.asarray(self.eval()).reshape(()))

    def __float__(self) -> float:
        return float(_single(self, "float"))

    def __int__(self) -> int:
        return int(_single(self, "int"))

    def __index__(self) -> int:
        if self.dtype.kind not in "iub":
            raise TypeError("only integer arrays with one element can be converted to an index")
        return int(_single(self, "index"))

    # -- NumPy protocols ------------------------------------------------------------------
    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        op = ops.BY_UFUNC.get(ufunc)
        out = kwargs.pop("out", None)
        if method == "reduce" and ufunc in _UFUNC_REDUCE and len(inputs) == 1:
            kind = _UFUNC_REDUCE[ufunc]
            rest = dict(kwargs)  # NumPy runs what lazyarr does not take (initial=, where=)
            axis, keepdims = rest.pop("axis", 0), rest.pop("keepdims", False)
            dtype = rest.pop("dtype", None)
            if not rest:
                x = build.operand_node(inputs[0], ufunc.__name__)
                node = reductions.simple(kind, x, axis, keepdims, dtype)
                return _finish(LazyArray(node), out[0] if isinstance(out, tuple) else out)
        if ufunc is np.matmul and method == "__call__" and not kwargs and out is None:
            a, b = (build.operand_node(x, "matmul") for x in inputs)
            return LazyArray(opaque.matmul(a, b))
        if op is None or method != "__call__" or kwargs:
            return _eager_ufunc(ufunc, method, inputs, out, kwargs)
        from lazyarr.front.functions import ufunc_call  # (functions imports this module)

        return ufunc_call(ufunc, inputs, out)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        ours = _ARRAY_FUNCTIONS.get(func)
        if ours is not None:
            return ours(*args, **kwargs)
        # Anything lazyarr does not fuse runs in NumPy on the evaluated arrays.
        return func(*_materialise(args), **_materialise(kwargs))


_UFUNC_REDUCE = {
    np.add: ReduceKind.SUM, np.multiply: ReduceKind.PROD, np.minimum: ReduceKind.MIN,
    np.maximum: ReduceKind.MAX, np.logical_or: ReduceKind.ANY, np.logical_and: ReduceKind.ALL,
}


def _finish(result: LazyArray, out: Any) -> Any:
    """A lazy result, or with ``out=`` (NumPy's reduction signature) the filled array."""
    if out is None:
        return result
    result.eval(out=out)
    return out


def _single(x: LazyArray, what: str) -> Any:
    if x.size != 1:
        raise TypeError(f"only arrays with one element can be converted to Python {what}")
    return np.asarray(x.eval()).reshape(())[()]


def _materialise(obj: Any) -> Any:
    if isinstance(obj, LazyArray):
        return obj.eval()
    if isinstance(obj, list | tuple):
        return type(obj)(_materialise(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _materialise(v) for k, v in obj.items()}
    return obj


def _eager_ufunc(ufunc: np.ufunc, method: str, inputs: Any, out: Any, kwargs: Any) -> Any:
    if out is not None:
        kwargs["out"] = out
    return getattr(ufunc, method)(*_materialise(inputs), **kwargs)


def _reduced(kind: ReduceKind, node: Node, axis: Any, keepdims: bool, dtype: Any = None
             ) -> LazyArray:
    """``reductions.simple`` through :func:`_memo`, whose probe is inlined here."""
    if dtype is None and (axis is None or type(axis) is int) and type(keepdims) is bool:
        found = wrapper_get((kind, node, axis, keepdims))
        if found is not None:
            return found
    return _memo((kind, keepdims, dtype), node, axis,
                 lambda: reductions.simple(kind, node, axis, keepdims, dtype))


def _memo(args: tuple, node: Node, axis: Any, make_node: Callable[[], Node]) -> LazyArray:
    """``make_node()``, through apply's memo when the arguments have an exact key: an axis
    of None or an int, no dtype, plain Python keepdims and ddof (not -0.0 == 0.0 floats)."""
    name, keepdims, dtype, *rest = args
    if dtype is not None or not (axis is None or type(axis) is int) or \
            type(keepdims) is not bool or any(type(r) is not int for r in rest):
        return LazyArray(make_node())
    key = (name, node, axis, keepdims, *rest)
    found = wrapper_get(key)
    return found if found is not None else \
        operation(key, lambda: build.memoised((name, id(node), *key[2:]), [node], make_node))


def _take_index(index: Any, ndim: int) -> tuple[int, np.ndarray] | None:
    """(axis, indices) when ``index`` is one integer array after full slices (``x[i]``,
    ``x[:, i]``), which is ``numpy.take`` along that axis; else None."""
    items = index if isinstance(index, tuple) else (index,)
    *lead, last = items
    if not all(isinstance(s, slice) and s == slice(None) for s in lead) or len(lead) >= ndim:
        return None
    if isinstance(last, list):
        last = np.asarray(last)
        if last.dtype == np.float64 and last.size == 0:
            last = last.astype(np.intp)  # x[[]]: NumPy takes nothing
    if not isinstance(last, np.ndarray) or last.dtype.kind not in "iu" or last.ndim == 0:
        return None
    return len(lead), last


def wrap(node: Node) -> LazyArray:
    return LazyArray(node)


# Writing an operation again (a loop body) returns the lazy array it returned before, kept
# in fastpath.wrappers: the same object, immutable like every LazyArray, without making one
# (a third of an operator's cost). Their keys are apply's memo keys with nodes in place of
# node ids (hashing a node is cheaper than asking for its id, and a key holds nothing its
# wrapper does not).
wrapper_get = fastpath.wrappers.get
_memo_get = build.memo.get


def operation(key: tuple, make: Callable[[], Node]) -> LazyArray:
    """The lazy array of a memoised operation whose kept wrapper was not found: the memo's
    node, or ``make()``; kept when the memo holds it (so it keeps the nodes of ``key``)."""
    memo_key = tuple([id(k) if type(k) is Node else k for k in key])
    ref = _memo_get(memo_key)
    node = None if ref is None else ref()
    if node is None:
        node = make()
        ref = _memo_get(memo_key)
    result = LazyArray(node)
    if ref is not None and ref() is node:
        fastpath.keep_wrapper(key, result)
    return result


def _binary(op: Op):
    # the probes of apply's memo, inlined: the common cases (see build.key_part)
    def forward(self: LazyArray, other: Any) -> Any:
        t = type(other)
        if t is LazyArray:
            key = (op, self._node, other._node)
        elif (t is float and other != 0.0) or t is int or t is bool:
            key = (op, self._node, (t, other))
        else:
            key = None
        try:
            if key is None:
                return LazyArray(build.apply(op, self, other))
            found = wrapper_get(key)
            return found if found is not None else \
                operation(key, lambda: build.apply(op, self, other))
        except build.UnsupportedOperand:
            return NotImplemented

    def reflected(self: LazyArray, other: Any) -> Any:
        t = type(other)
        try:
            if not ((t is float and other != 0.0) or t is int or t is bool):
                return LazyArray(build.apply(op, other, self))
            key = (op, (t, other), self._node)
            found = wrapper_get(key)
            return found if found is not None else \
                operation(key, lambda: build.apply(op, other, self))
        except build.UnsupportedOperand:
            return NotImplemented

    return forward, reflected


def _unary(op: Op):
    def method(self: LazyArray) -> LazyArray:
        key = (op, self._node)
        found = wrapper_get(key)
        return found if found is not None else operation(key, lambda: build.apply(op, self))

    return method


for _name, _op in {
    "add": Op.ADD, "sub": Op.SUBTRACT, "mul": Op.MULTIPLY, "truediv": Op.TRUE_DIVIDE,
    "floordiv": Op.FLOOR_DIVIDE, "mod": Op.REMAINDER, "pow": Op.POWER,
    "and": Op.BITWISE_AND, "or": Op.BITWISE_OR, "xor": Op.BITWISE_XOR,
    "lshift": Op.LEFT_SHIFT, "rshift": Op.RIGHT_SHIFT,
}.items():
    _fwd, _rev = _binary(_op)
    setattr(LazyArray, f"__{_name}__", _fwd)
    setattr(LazyArray, f"__r{_name}__", _rev)

for _name, _op in {
    "lt": Op.LESS, "le": Op.LESS_EQUAL, "gt": Op.GREATER, "ge": Op.GREATER_EQUAL,
    "eq": Op.EQUAL, "ne": Op.NOT_EQUAL,
}.items():
    setattr(LazyArray, f"__{_name}__", _binary(_op)[0])

for _name, _op in {
    "neg": Op.NEGATIVE, "pos": Op.POSITIVE, "abs": Op.ABSOLUTE, "invert": Op.INVERT,
}.items():
    setattr(LazyArray, f"__{_name}__", _unary(_op))
