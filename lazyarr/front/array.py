"""``LazyArray``: NumPy-style operators that build an expression graph instead of computing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from lazyarr.config import NUMPY_PRECISION, fast_precision, settings
from lazyarr.front import build, opaque, reductions, views
from lazyarr.front.canon import RULES
from lazyarr.ir import graph, ops
from lazyarr.ir.graph import Buffer, Node, Op, ReduceKind, describe, toposort
from lazyarr.run import fastpath
from lazyarr.run.evaluate import evaluate

_ARRAY_FUNCTIONS: dict[Any, Any] = {}


_API_VERSIONS = ("2021.12", "2022.12", "2023.12", "2024.12")
_KDL_CPU = 1  # DLPack's device type of host memory


def _no_gradient(shape: tuple[int, ...], picked: tuple[int, ...]) -> Callable[[Node], Node]:
    def refuse(_: Node) -> Node:
        raise NotImplementedError(
            f"grad: indexing a {shape} array with a boolean scalar (into {picked}) is "
            "evaluated eagerly and has no gradient; use expand_dims instead")

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
    def device(self) -> str:
        """Where the arrays this expression reads live: ``"cpu"``, or the CUDA device
        (``"cuda:0"``) when every captured array is in device memory."""
        found = _device_array(self._node)
        return "cpu" if found is None else found.device

    @property
    def T(self) -> LazyArray:  # noqa: N802 (NumPy's name)
        """The axes reversed, for any number of them as in NumPy (the standard asks for 2-d
        arrays only; ``permute_dims`` and ``mT`` are the portable spellings)."""
        return LazyArray(views.permute_dims(self._node))

    @property
    def mT(self) -> LazyArray:  # noqa: N802 (NumPy's name)
        return LazyArray(views.matrix_transpose(self._node))

    @property
    def real(self) -> LazyArray:
        """The real part (of a real array, the array itself), as ``ndarray.real``."""
        from lazyarr.front.functions import real  # (functions imports this module)

        return real(self)

    @property
    def imag(self) -> LazyArray:
        """The imaginary part (of a real array, zeros), as ``ndarray.imag``."""
        from lazyarr.front.functions import imag

        return imag(self)

    def conj(self) -> LazyArray:
        return LazyArray(build.apply(Op.CONJUGATE, self))

    conjugate = conj

    def transpose(self, *axes: Any) -> LazyArray:
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], tuple | list)):
            axes = axes[0]
        return LazyArray(views.permute_dims(self._node, tuple(axes) if axes else None))

    # -- indexing: views (zero-copy), gathers, functional updates ---------------------------
    def __getitem__(self, index: Any) -> LazyArray:
        lazy = _lazy_index(index)
        if lazy is None and views.is_basic_index(index):
            return LazyArray(views.getitem(self._node, index))
        # integer and boolean arrays: one lazy gather (a boolean mask is evaluated, as the
        # result's size depends on it)
        node = views.gather(self._node, index if lazy is None else lazy)
        if node is None:  # a boolean scalar in the index: NumPy's own, eagerly
            picked = np.asarray(self.eval()[_materialise(index)])
            node = build.leaf(picked, (self._node, _no_gradient(self.shape, picked.shape)))
        return LazyArray(node)

    def __setitem__(self, index: Any, value: Any) -> None:
        """``x[index] = value`` rebinds ``x`` to a new lazy expression (``where`` of the
        selection, the value and the old ``x``): no memory is written, neither a captured
        NumPy array nor anything else; other arrays, even equal expressions, are unchanged.
        Casting and broadcasting are NumPy's ``__setitem__``'s."""
        lazy = _lazy_index(index)
        self._rebind(views.setitem(self._node, index if lazy is None else lazy, value))

    def _rebind(self, node: Node) -> None:
        # the operators' kept lazy arrays may include this one: none may be handed out again
        fastpath.wrappers.clear()
        self._node = node
        self._ready = None

    def __iter__(self) -> Iterator[LazyArray]:
        if not self.shape:
            raise TypeError("iteration over a 0-d array")
        return (self[k] for k in range(self.shape[0]))

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
             target: str | None = None, precision: str | None = None) -> np.ndarray:
        """The value: a NumPy array, or a ``DeviceArray`` when evaluated on CUDA.
        ``precision``: "numpy" or "fast" for float16 and bfloat16 (``lazyarr.set_precision``)."""
        if backend is None and target is None and precision is None and \
                settings.precision is NUMPY_PRECISION:
            ready = self._ready
            # fastpath.active() written out: the call would cost 7% of the shortest path
            if settings.backend == "cpu" and not Buffer.foreign:
                if ready is not None:  # a builtin launch ready for this array: the shortest
                    if out is None:
                        if ready.one is not None:
                            return ready.one()
                    elif ready.outs is not None and ready.direct(out) is out:  # out checked
                        return out
                elif out is None and self._node.sid:
                    # a new expression of the lean operators (a layer's new batch): its
                    # structure is signed as written, so a launch lowered before answers
                    # without a walk
                    result = fastpath.run_signed(self._node)
                    if result is not None:
                        return result
            elif Buffer.foreign and out is None and ready is not None and \
                    getattr(ready, "on_device", False):
                return ready.one()  # a device launch ready for this array (run.device.ready)
        if precision is not None or settings.precision is not NUMPY_PRECISION:
            nodes = [self._node]
            if fast_precision(precision):
                nodes = build.excess_precision(nodes)
            return evaluate(nodes, None if out is None else [out], backend, target)[0]
        result = evaluate([self._node], None if out is None else [out], backend, target)[0]
        if backend is None and target is None:
            seen = self._ready
            # measured: 0.3 us of a 0.9 us repeated evaluation (benchmarks/memo_layers.py)
            self._ready = fastpath.ready(self._node, out) if fastpath.active() else None
            if self._ready is None and out is None and Buffer.foreign and \
                    not isinstance(result, np.ndarray):
                from lazyarr.run import device

                self._ready = device.after_eval(seen, self._node, result)
        return result

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        result = np.asarray(self.eval())  # a device result is copied to the host
        if dtype is not None and np.dtype(dtype) != result.dtype:
            return result.astype(dtype)
        return result

    # -- Python scalars: the value is computed (the standard lets lazy arrays refuse) ------
    def __bool__(self) -> bool:
        """NumPy's rule: any array of one element (the standard asks only for 0-d ones)."""
        if self.size != 1:
            if not self.size:
                raise ValueError("The truth value of an empty array is ambiguous. Use "
                                 "`array.size > 0` to check that an array is not empty.")
            raise ValueError(
                "The truth value of an array with more than one element is ambiguous. "
                "Use a.any() or a.all()"
            )
        return bool(np.asarray(self.eval()).reshape(()))

    def __float__(self) -> float:
        return float(_single(self))

    def __int__(self) -> int:
        return int(_single(self))

    def __complex__(self) -> complex:
        return complex(_single(self))

    def __index__(self) -> int:
        if self.ndim or self.dtype.kind not in "iu":
            raise TypeError("only integer scalar arrays can be converted to a scalar index")
        return int(_single(self))

    # -- the array API standard's protocols ------------------------------------------------
    def __array_namespace__(self, /, *, api_version: str | None = None) -> Any:
        """The ``lazyarr`` module: the array API standard's namespace (2024.12; earlier
        versions are its subsets)."""
        if api_version is not None and api_version not in _API_VERSIONS:
            raise ValueError(f"api_version {api_version!r} is not supported; lazyarr "
                             f"implements {', '.join(_API_VERSIONS)}")
        # the package is loaded before any of its modules: read, not imported (the front
        # end sits below the package root)
        return sys.modules["lazyarr"]

    def to_device(self, device: Any, /, *, stream: Any = None) -> LazyArray:
        """This expression over copies of its arrays on ``device`` ("cpu" or "cuda"); the
        array itself when it is there already. The copies are made now, on the default
        stream (``stream`` must be None)."""
        if stream is not None:
            raise ValueError("to_device: lazyarr copies on the default stream; pass "
                             "stream=None")
        where = build.check_device(device, "to_device")
        if where is None:
            raise ValueError("to_device: unknown device None; lazyarr's devices are 'cpu' "
                             "and 'cuda'")
        to_cuda = where == "cuda"
        if to_cuda == (self.device != "cpu"):
            return self
        from lazyarr.run import device as place  # GPU support, loaded when it can matter

        if to_cuda:
            place.require_driver()
        return LazyArray(place.move_leaves([self._node], to_device=to_cuda)[0])

    def __dlpack_device__(self) -> tuple[int, int]:
        found = _device_array(self._node)
        return (_KDL_CPU, 0) if found is None else found.__dlpack_device__()

    def __dlpack__(self, /, *, stream: Any = None, max_version: tuple[int, int] | None = None,
                   dl_device: Any = None, copy: bool | None = None) -> Any:
        """The evaluated result's DLPack capsule (NumPy's, or the device array's): the
        consumer shares the memory of the result, which is the captured array itself for
        an array that is only a (view of a) captured array."""
        result = self.eval()
        given = {"stream": stream, "max_version": max_version, "dl_device": dl_device,
                 "copy": copy}
        # NumPy before 2.1 takes only stream=: pass what was given
        return result.__dlpack__(**{k: v for k, v in given.items() if v is not None})

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


def _single(x: LazyArray) -> Any:
    if x.ndim:
        raise TypeError("only 0-dimensional arrays can be converted to Python scalars")
    return np.asarray(x.eval())[()]


def _device_array(node: Node) -> Any:
    """A device array the expression reads (all it reads are on that device), or None for
    an expression over host arrays."""
    if not Buffer.foreign:  # no device memory was ever captured
        return None
    from lazyarr.run.device import DeviceArray, leaf_places  # GPU support

    host, dev = leaf_places([node])
    if dev and host:
        raise TypeError("this expression mixes host (NumPy) arrays and CUDA device arrays: "
                        "it has no single device")
    if not dev:
        return None
    return next(n.arg.array for n in toposort([node])
                if n.op is Op.LEAF and isinstance(n.arg.array, DeviceArray))


def _lazy_index(index: Any) -> Any:
    """``index`` with its lazy arrays as nodes (lazy indices, read without evaluating
    them), or None when it has none."""
    if type(index) is LazyArray:
        return index._node
    if type(index) is tuple and LazyArray in map(type, index):
        return tuple(i._node if type(i) is LazyArray else i for i in index)
    return None


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
            return found if getrefcount(found) <= ALONE else twin(found)
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
    if found is not None:
        return found if getrefcount(found) <= ALONE else twin(found)
    return operation(key, lambda: build.memoised((name, id(node), *key[2:]), [node], make_node))


def wrap(node: Node) -> LazyArray:
    return LazyArray(node)


# Writing an operation again (a loop body) returns the lazy array it returned before, kept
# in fastpath.wrappers, without making one (a third of an operator's cost). Their keys are
# apply's memo keys with nodes in place of node ids (hashing a node is cheaper than asking
# for its id, and a key holds nothing its wrapper does not).
# A lazy array is mutable (x[k] = v and x += y rebind its node), so a kept one is handed
# out again only while nobody else holds it: a found wrapper with more references than
# ALONE (the table's, the finder's name, getrefcount's argument) goes to someone else as a
# twin, a new LazyArray of the same node. A loop writing an expression and dropping it
# keeps getting the same object; ``y = A*2 + B; z = A*2 + B`` are two arrays, and
# ``y[0] = 5`` leaves ``z`` as it was (and _rebind empties the table, so that a changed
# array is never found there).
wrapper_get = fastpath.wrappers.get
_memo_get = build.memo.get
getrefcount = sys.getrefcount


def _alone() -> int:
    """``getrefcount`` of a kept wrapper nobody else holds, as the finders see it (the
    interpreter's counting differs between versions: measured, not assumed)."""
    table = {0: LazyArray(None)}  # type: ignore[arg-type]
    found = table.get(0)
    return getrefcount(found)


ALONE = _alone()


def twin(found: LazyArray) -> LazyArray:
    """A new lazy array of ``found``'s node, with its ready launch."""
    result = LazyArray(found._node)
    result._ready = found._ready
    return result


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


# -- the lean path: operations on new nodes (a layer's forward pass over a new batch) -------
# Written over a new array, every node of an expression is new: no kept wrapper, memo entry
# or interned node is found, and the general path (operand coercion, NumPy's loop resolved
# again, broadcasting, casts, rewrite rules, the memo's bookkeeping) cost 6 us an operator
# and 18 us with a Python scalar (benchmarks/new_arrays.py). Most operators meet the plain
# case: array operands that NumPy's loop takes as they are, in dtypes kernels compute in (no
# float16, bfloat16 or complex: those are rewritten as they are built), a float array with a
# Python scalar, of one shape or a shape pair broadcast before, and an op no rule rewrites.
# The node is then made directly, with the general path's fields; over signed operands (leaves
# of NumPy arrays and what the lean path made of them) it is signed and not interned
# (graph.node2), so that evaluating it finds its launch without walking the graph. The
# operator memo below still returns the same lazy array for the same operands (a repeated
# expression over held arrays keeps its executor). The dtype rule stays NumPy's: it is read
# from the loop the general path resolved (ops.cached_loop), so the first operation of each
# kind of operands takes the general path (with NumPy's errors), and later ones take this one.
_PLAIN = frozenset(np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float32", "float64"))
_REFUSED = object()  # a lean table's answer: this case takes the general path
# (op, operand dtypes or Python scalar types) -> the result dtype, or _REFUSED
_lean_dtypes: dict[tuple, Any] = {}
_lean_get = _lean_dtypes.get
# pairs of shapes -> their broadcast shape (pairs that broadcast, seen once)
_broadcast: dict[tuple[tuple[int, ...], tuple[int, ...]], tuple[int, ...]] = {}
_make, _node1, _node2, _BROADCAST = graph.make, graph.node1, graph.node2, Op.BROADCAST


def _learn(op: Op, operands: tuple) -> Any:
    """The lean table's entry for ``op`` on ``operands`` (dtypes; a Python ``float`` or
    ``int`` for a scalar, with one float array), once the general path has resolved its
    loop; None before (not kept: the general path resolves it, or raises NumPy's error)."""
    loop = ops.cached_loop(op, operands)
    if loop is None:
        return None
    arrays = [o for o in operands if type(o) is not type]
    plain = op not in RULES and _PLAIN.issuperset(loop) and all(
        dt == (o if type(o) is not type else arrays[0])
        for o, dt in zip(operands, loop, strict=False))
    if plain and len(arrays) < len(operands):  # a weak scalar: float arrays only (an int
        plain = len(arrays) == 1 and arrays[0].kind == "f"  # array may fold a comparison)
    found = _lean_dtypes[(op, *operands)] = loop[-1] if plain else _REFUSED
    return found


def _broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """The shape ``a`` and ``b`` broadcast to (kept), or None where they do not (the general
    path raises NumPy's error)."""
    try:
        shape = build.broadcast_shapes([a, b], "")
    except ValueError:
        return None
    if len(_broadcast) >= _LEAN_LIMIT:
        _broadcast.clear()
    _broadcast[(a, b)] = shape
    return shape


def _to(node: Node, shape: tuple[int, ...]) -> Node:
    return node if node.shape == shape else _make(_BROADCAST, node.dtype, shape, (node,))


_LEAN_LIMIT = 512  # entries of a lean cache before it starts again


def _weak(value: int | float, dtype: np.dtype, shape: tuple[int, ...]) -> Node:
    """A Python scalar as an operand of a ``dtype`` array of ``shape``: the scalar node of
    NumPy's conversion, broadcast. Kept (no arrays hang from it) by value's type and bits:
    the memo key of an operator, where 0.0 and -0.0 never meet (they are not keyed)."""
    key = (dtype, type(value), value, shape)
    node = _scalars_get(key)
    if node is None:
        node = _to(build.scalar(value, dtype), shape)
        if len(fastpath.scalars) >= _LEAN_LIMIT:
            fastpath.scalars.clear()
        fastpath.scalars[key] = node
    return node


def lean_unary(op: Op, a: Node, key: tuple) -> LazyArray | None:
    """``op(a)`` made directly (see above), kept as its wrapper; None: the general path's."""
    dt = _lean_get((op, a.dtype))
    if dt is None:
        dt = _learn(op, (a.dtype,))
    if dt is None or dt is _REFUSED:
        return None
    result = LazyArray(_node1(op, dt, a))
    keep_wrapper(key, result)
    return result


def _lean_scalar(op: Op, key: tuple, a: Node, value: int | float, reflected: bool
                 ) -> LazyArray | None:
    """``a op value`` (``value op a`` when ``reflected``) for a Python int or float made
    directly (see above), kept as its wrapper; None: the general path's."""
    t, adt = type(value), a.dtype
    dt = _lean_get((op, t, adt) if reflected else (op, adt, t))
    if dt is None:
        dt = _learn(op, (t, adt) if reflected else (adt, t))
    if dt is None or dt is _REFUSED:
        return None
    shape = a.shape
    weak = _weak(value, adt, shape)
    result = LazyArray(_node2(op, dt, shape, weak, a) if reflected else
                       _node2(op, dt, shape, a, weak))
    _wrappers[key] = result  # keep_wrapper(key, result), written out
    if len(_wrappers) > _WRAPPERS:
        fastpath.trim_wrappers()
    return result


keep_wrapper = fastpath.keep_wrapper
_scalars_get = fastpath.scalars.get  # (the table is cleared, never replaced)
_wrappers, _WRAPPERS = fastpath.wrappers, fastpath.WRAPPERS


def binary(op: Op):
    # the probes of apply's memo, inlined: the common cases (see build.key_part); then the
    # lean path for new nodes
    def forward(self: LazyArray, other: Any) -> Any:
        t = type(other)
        a = self._node
        if t is LazyArray:
            b = other._node
            key = (op, a, b)
            found = wrapper_get(key)
            if found is not None:
                return found if getrefcount(found) <= ALONE else twin(found)
            dt = _lean_get((op, a.dtype, b.dtype))
            if dt is None:
                dt = _learn(op, (a.dtype, b.dtype))
            if dt is not None and dt is not _REFUSED:
                shape = a.shape
                if shape != b.shape:
                    shape = _broadcast.get((shape, b.shape))
                    if shape is None:
                        shape = _broadcast_shape(a.shape, b.shape)
                    if shape is None:
                        return _general(key, op, self, other)
                    a, b = _to(a, shape), _to(b, shape)
                result = LazyArray(_node2(op, dt, shape, a, b))
                _wrappers[key] = result  # keep_wrapper(key, result), written out
                if len(_wrappers) > _WRAPPERS:
                    fastpath.trim_wrappers()
                return result
        elif (t is float and other != 0.0) or t is int or t is bool:
            key = (op, a, (t, other))
            found = wrapper_get(key)
            if found is not None:
                return found if getrefcount(found) <= ALONE else twin(found)
            if t is not bool:
                lean = _lean_scalar(op, key, a, other, False)
                if lean is not None:
                    return lean
        else:
            key = None
        return _general(key, op, self, other)

    def reflected(self: LazyArray, other: Any) -> Any:
        t = type(other)
        try:
            if not ((t is float and other != 0.0) or t is int or t is bool):
                return LazyArray(build.apply(op, other, self))
            a = self._node
            key = (op, (t, other), a)
            found = wrapper_get(key)
            if found is not None:
                return found if getrefcount(found) <= ALONE else twin(found)
            if t is not bool:
                lean = _lean_scalar(op, key, a, other, True)
                if lean is not None:
                    return lean
            return operation(key, lambda: build.apply(op, other, self))
        except build.UnsupportedOperand:
            return NotImplemented

    return forward, reflected


def _general(key: tuple | None, op: Op, x: LazyArray, y: Any) -> Any:
    """``x op y`` through apply (and its memo, when ``key``: apply's memo key)."""
    try:
        if key is None:
            return LazyArray(build.apply(op, x, y))
        return operation(key, lambda: build.apply(op, x, y))
    except build.UnsupportedOperand:
        return NotImplemented


def _unary(op: Op):
    def method(self: LazyArray) -> LazyArray:
        key = (op, self._node)
        found = wrapper_get(key)
        if found is not None:
            return found if getrefcount(found) <= ALONE else twin(found)
        lean = lean_unary(op, self._node, key)
        return operation(key, lambda: build.apply(op, self)) if lean is None else lean

    return method


def _in_place(forward: Callable[[LazyArray, Any], Any], ufunc: str):
    """``x op= y``: ``x`` rebound to ``x op y`` cast back to its dtype, under NumPy's rules
    for ``out=x`` (the result keeps x's shape; the cast is "same_kind"). Nothing is
    written: a captured array stays as it was, and so do other lazy arrays."""

    def method(self: LazyArray, other: Any) -> Any:
        result = forward(self, other)
        if result is NotImplemented:
            return NotImplemented
        if result.shape != self.shape:
            raise ValueError(f"non-broadcastable output operand with shape {self.shape} "
                             f"doesn't match the broadcast shape {result.shape}")
        if not np.can_cast(result.dtype, self.dtype, "same_kind"):
            raise TypeError(f"Cannot cast ufunc '{ufunc}' output from {result.dtype!r} to "
                            f"{self.dtype!r} with casting rule 'same_kind'")
        self._rebind(build.cast(result._node, self.dtype))
        return self

    return method


for _name, _op in {
    "add": Op.ADD, "sub": Op.SUBTRACT, "mul": Op.MULTIPLY, "truediv": Op.TRUE_DIVIDE,
    "floordiv": Op.FLOOR_DIVIDE, "mod": Op.REMAINDER, "pow": Op.POWER,
    "and": Op.BITWISE_AND, "or": Op.BITWISE_OR, "xor": Op.BITWISE_XOR,
    "lshift": Op.LEFT_SHIFT, "rshift": Op.RIGHT_SHIFT,
}.items():
    _fwd, _rev = binary(_op)
    setattr(LazyArray, f"__{_name}__", _fwd)
    setattr(LazyArray, f"__r{_name}__", _rev)
    setattr(LazyArray, f"__i{_name}__", _in_place(_fwd, ops.ROWS[_op].function))
LazyArray.__imatmul__ = _in_place(LazyArray.__matmul__, "matmul")  # type: ignore[method-assign]

for _name, _op in {
    "lt": Op.LESS, "le": Op.LESS_EQUAL, "gt": Op.GREATER, "ge": Op.GREATER_EQUAL,
    "eq": Op.EQUAL, "ne": Op.NOT_EQUAL,
}.items():
    setattr(LazyArray, f"__{_name}__", binary(_op)[0])

for _name, _op in {
    "neg": Op.NEGATIVE, "pos": Op.POSITIVE, "abs": Op.ABSOLUTE, "invert": Op.INVERT,
}.items():
    setattr(LazyArray, f"__{_name}__", _unary(_op))
