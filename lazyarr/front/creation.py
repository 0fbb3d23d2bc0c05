"""The array API standard's creation functions, as lazy arrays computed inside the kernel.

Nothing here allocates or fills memory when it is called. ``zeros``, ``ones``, ``full`` and
``empty`` are a scalar broadcast to the shape (a kernel argument); ``arange``, ``linspace``,
``eye``, ``tril`` and ``triu`` are arithmetic on each element's index (``Op.COUNTER``, which
the kernel computes from its loop indices and never reads from memory): ``la.arange(n) * 2 + x``
is one kernel that reads ``x`` only, and ``la.tril(a @ b)`` masks the product in the kernel
that writes it. ``eye``, ``tril`` and ``triu`` compare a row index with a column index, each
an index along one axis broadcast to the other, so no element's position is divided out of
its flat index.

Values, dtypes and exceptions are NumPy 2's (``arange`` and ``linspace`` compute each element
with NumPy's own formula, so their results are NumPy's bit for bit); signatures are the
standard's (``dtype`` and ``device`` are keyword-only). Evaluated, every result is a new,
writable, C-contiguous NumPy array.

Devices: ``device=None`` or ``"cpu"`` gives a lazy array on the host. ``"cuda"`` evaluates
the array on the GPU at once and returns it as a lazy array over that device memory (a
creation function has no input to say where it should run later); expressions over it run on
the GPU. The ``*_like`` functions put their result where ``x`` lives unless told otherwise.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from lazyarr.front import build, views
from lazyarr.front.array import LazyArray
from lazyarr.front.build import check_device
from lazyarr.front.functions import asarray
from lazyarr.ir import dtypes
from lazyarr.ir.graph import MOVEMENT, SOURCES, Buffer, Node, Op, make
from lazyarr.ir.reference import cast_values

_U64 = np.dtype(np.uint64)
_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)
_BOOL = np.dtype(np.bool_)
_MAX_DIMS = 64  # NumPy's
_INTP_MAX = int(np.iinfo(np.intp).max)


# -- devices ---------------------------------------------------------------------------------
def device_of(x: Any) -> str:
    """Where ``x`` lives: "cuda" for a lazy array over device memory or a CUDA array (the
    CUDA array interface, DLPack), else "cpu"."""
    if isinstance(x, LazyArray):
        if not Buffer.foreign:  # no device array was ever captured: the common case, free
            return "cpu"
        from lazyarr.run.device import leaf_places

        return "cuda" if leaf_places([x._node])[1] else "cpu"
    if isinstance(x, np.ndarray | np.generic) or (
            not hasattr(x, "__dlpack__") and not hasattr(x, "__cuda_array_interface__")):
        return "cpu"
    from lazyarr.run.device import is_device_array_like

    return "cuda" if is_device_array_like(x) else "cpu"


def place(x: LazyArray, device: Any) -> LazyArray:
    """``x`` on ``device``: itself where it already is (or for None), else evaluated there
    and captured as a new lazy leaf (a host array, or device memory)."""
    where = check_device(device, "device")
    if where is None or device_of(x) == where:
        return x
    result = x.eval(target=where)
    return LazyArray(build.leaf(result))


# -- shapes, dtypes, fill values --------------------------------------------------------------
def _shape(shape: Any) -> tuple[int, ...]:
    """NumPy's reading of a shape argument, with its exception types."""
    if isinstance(shape, tuple | list | np.ndarray):
        dims = tuple(operator.index(n) for n in shape)
    else:
        dims = (operator.index(shape),)
    if len(dims) > _MAX_DIMS:
        raise ValueError(f"maximum supported dimension for an ndarray is currently {_MAX_DIMS}, "
                         f"found {len(dims)}")
    if any(n < 0 for n in dims):
        raise ValueError("negative dimensions are not allowed")
    return dims


def _check_size(dims: tuple[int, ...], dt: np.dtype) -> None:
    # the array must be one NumPy could allocate when it is evaluated: the error is NumPy's,
    # raised where the expression is written
    if math.prod(dims) * dt.itemsize > _INTP_MAX:
        raise ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger than "
                         "the maximum possible size.")


def _dtype(dtype: Any, default: np.dtype, what: str) -> np.dtype:
    return default if dtype is None else dtypes.check_front(dtypes.parse(dtype), what)


def _scalar(value: Any, dt: np.dtype) -> Node:
    """``value`` as a constant of ``dt`` (a complex one is a pair of real constants)."""
    if dt.kind == "c":
        from lazyarr.front import complexes  # (loaded with complex values only)

        return complexes.scalar(value, dt)
    return build.scalar(value, dt)


def _broadcast(node: Node, dims: tuple[int, ...]) -> Node:
    return build.broadcast_to(node, dims)


def _fill_node(value: Any, dtype: Any, what: str) -> Node:
    """The scalar (or array) node ``full`` broadcasts: NumPy's dtype for ``value`` when
    ``dtype`` is None, else ``value`` converted as ``numpy.full`` converts it (an
    out-of-range Python int is an OverflowError; a float to an integer type follows lazyarr's
    cast rule: truncated, saturated, NaN to 0)."""
    if isinstance(value, LazyArray | np.ndarray | list | tuple):
        node = asarray(value)._node  # NumPy fills with any array that broadcasts: lazily too
        return node if dtype is None else build.cast(node, _dtype(dtype, node.dtype, what))
    if isinstance(value, complex | np.complexfloating) or (
            dtype is not None and np.dtype(dtype).kind == "c"):
        dt = _dtype(dtype, dtypes.check_front(np.asarray(value).dtype, what), what)
        return _scalar(value, dt)
    if dtype is None:
        dt = dtypes.check(np.asarray(value).dtype, what)  # bool, int64, float64, or NumPy's
        return build.scalar(value, dt)
    dt = _dtype(dtype, _F64, what)
    if dt.kind in "iu" and isinstance(value, float | np.floating):
        return build.scalar(cast_values(np.asarray(value, dtype=np.float64), dt)[()], dt)
    return build.scalar(np.full((), value, dtype=dt)[()], dt)


def _like(x: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of ``x`` without evaluating it."""
    if isinstance(x, LazyArray):
        return x.shape, x.dtype
    if hasattr(x, "shape") and hasattr(x, "dtype"):  # NumPy and device arrays
        return tuple(x.shape), dtypes.native(np.dtype(x.dtype))
    a = np.asarray(x)
    return a.shape, a.dtype


def fresh(node: Node) -> Node:
    """``node``, made to evaluate into new memory: an array or a view of one evaluates to
    the captured buffer itself (or NumPy's view of it), so it gets a same-dtype cast, which
    the kernel compiles to a copy and which costs nothing inside a larger expression."""
    if node.op in SOURCES or node.op in MOVEMENT:
        return make(Op.CAST, node.dtype, node.shape, (node,))
    return node


# -- filled arrays ----------------------------------------------------------------------------
def full(shape: Any, fill_value: Any, *, dtype: Any = None, device: Any = None) -> LazyArray:
    """An array of ``shape`` filled with ``fill_value`` (``numpy.full``): its dtype is
    ``dtype``, else bool, int64 or float64 for a Python bool, int or float (a NumPy scalar
    keeps its own)."""
    check_device(device, "full")
    dims = _shape(shape)
    value = _fill_node(fill_value, dtype, "full")
    _check_size(dims, value.dtype)
    node = views.broadcast_to(value, dims)  # NumPy's error where an array value does not fit
    return place(LazyArray(node if value.op is Op.SCALAR else fresh(node)), device)


def zeros(shape: Any, *, dtype: Any = None, device: Any = None) -> LazyArray:
    """An array of zeros (float64 unless ``dtype`` says otherwise)."""
    return _constant(shape, 0, dtype, device, "zeros")


def ones(shape: Any, *, dtype: Any = None, device: Any = None) -> LazyArray:
    """An array of ones (float64 unless ``dtype`` says otherwise)."""
    return _constant(shape, 1, dtype, device, "ones")


def empty(shape: Any, *, dtype: Any = None, device: Any = None) -> LazyArray:
    """An array whose values are unspecified: lazyarr's are zeros, which cost the same to
    write as leaving memory uninitialised would cost to allocate."""
    return _constant(shape, 0, dtype, device, "empty")


def _constant(shape: Any, value: int, dtype: Any, device: Any, what: str) -> LazyArray:
    check_device(device, what)
    dims = _shape(shape)
    dt = _dtype(dtype, _F64, what)
    _check_size(dims, dt)
    return place(LazyArray(_broadcast(_scalar(value, dt), dims)), device)


def full_like(x: Any, /, fill_value: Any, *, dtype: Any = None, device: Any = None
              ) -> LazyArray:
    """``full`` with the shape of ``x``, and its dtype unless ``dtype`` is given
    (``fill_value`` converted as ``numpy.full_like`` converts it)."""
    shape, dt = _like(x)
    dt = _dtype(dtype, dtypes.check_front(dt, "full_like"), "full_like")
    return full(shape, fill_value, dtype=dt, device=_like_device(x, device, "full_like"))


def zeros_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> LazyArray:
    return _constant_like(x, 0, dtype, device, "zeros_like")


def ones_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> LazyArray:
    return _constant_like(x, 1, dtype, device, "ones_like")


def empty_like(x: Any, /, *, dtype: Any = None, device: Any = None) -> LazyArray:
    """Unspecified values (zeros, as for ``empty``) with the shape and dtype of ``x``."""
    return _constant_like(x, 0, dtype, device, "empty_like")


def _constant_like(x: Any, value: int, dtype: Any, device: Any, what: str) -> LazyArray:
    shape, dt = _like(x)
    dt = _dtype(dtype, dtypes.check_front(dt, what), what)
    return _constant(shape, value, dt, _like_device(x, device, what), what)


def _like_device(x: Any, device: Any, what: str) -> str | None:
    """The device a ``*_like`` result goes to: the one asked for, else that of ``x``."""
    where = check_device(device, what)
    if where is not None:
        return where
    return "cuda" if device_of(x) == "cuda" else None


# -- element indices --------------------------------------------------------------------------
def _counter(n: int) -> Node:
    """0, 1, ..., n - 1 (uint64), computed by the kernel from its loop index."""
    return make(Op.COUNTER, _U64, (n,))


def _index_along(axis: int, shape: tuple[int, ...], dtype: np.dtype = _U64) -> Node:
    """Each element's index along ``axis`` of ``shape``: a counter along that axis, viewed
    with length-one axes elsewhere and broadcast (no division of the flat index)."""
    node = build.cast(_counter(shape[axis]), dtype)
    others = tuple(d for d in range(len(shape)) if d != axis)
    if others:
        node = views.expand_dims(node, others)
    return build.broadcast_to(node, shape)


def _uint64(value: int) -> Node:
    return build.scalar(value % 2**64, _U64)


# -- arange -----------------------------------------------------------------------------------
def _number(x: Any, what: str) -> Any:
    """A scalar argument as NumPy takes it: a lazy one is evaluated (its value decides the
    shape), and complex numbers are refused."""
    if isinstance(x, LazyArray):
        x = np.asarray(x.eval())
        if x.ndim:
            raise TypeError(f"{what}: expected a scalar, got an array of shape {x.shape}")
        x = x[()]
    if isinstance(x, complex | np.complexfloating):
        raise TypeError(f"{what}: complex values are not supported by lazyarr")
    return x


def _arange_length(start: Any, stop: Any, step: Any) -> tuple[int, Any]:
    """NumPy's length of ``arange``, ``ceil((stop - start) / step)``, and its second value
    ``start + step``, computed with the arguments' own arithmetic (Python or NumPy scalars)
    and NumPy's errors (an OverflowError on the way is its ValueError)."""
    try:
        delta = stop - start
        nonzero = delta != 0
        quotient = delta / step
        value = float(quotient)
        if quotient == 0 and nonzero:  # the quotient underflowed: one element or none
            length = 0 if math.copysign(1.0, value) < 0 else 1
        else:
            if math.isnan(value):
                raise ValueError("arange: cannot compute length")
            length = math.ceil(value)  # an infinity is an OverflowError, as in NumPy
            if not -_INTP_MAX - 1 <= length <= _INTP_MAX:
                raise OverflowError
        second = start + step if length > 0 else None
    except OverflowError:
        raise ValueError("Maximum allowed size exceeded") from None
    return max(length, 0), second


def _setitem(dt: np.dtype, value: Any) -> np.generic:
    """``value`` stored into an array of ``dt`` as NumPy's ``arange`` stores its first two
    elements (the dtype's setitem): an integer type takes ``int(value)`` (floats truncated)
    and refuses one out of its range (OverflowError), a NumPy scalar of the dtype itself
    excepted; a float type takes ``float(value)``; bool takes its truth."""
    if dt.kind == "b":
        return np.bool_(bool(value))
    if isinstance(value, np.generic) and value.dtype == dt:
        return value
    if dt.kind == "f":
        with np.errstate(over="ignore"):  # a float beyond float32 is inf, as in NumPy
            return dt.type(float(value))
    number = value if isinstance(value, int) else int(value)  # NaN, inf: NumPy's errors
    lo, hi = dtypes.int_bounds(dt)
    if not lo <= number <= hi:
        raise OverflowError(f"Python integer {number} out of bounds for {dt}")
    return dt.type(number)


def _bits(x: np.generic) -> bytes:
    return np.asarray(x).tobytes()


def arange(start: Any, /, stop: Any = None, step: Any = 1, *, dtype: Any = None,
           device: Any = None) -> LazyArray:
    """``numpy.arange``: ``ceil((stop - start) / step)`` values (NumPy's length), element
    ``i`` computed in the kernel as NumPy computes it: ``start`` and ``start + step``
    converted to the dtype, then ``first + i * (second - first)`` in that dtype (integers
    wrap, as NumPy's do). The dtype is ``dtype``, else NumPy's: int64 for integers, float64
    when any argument is a float. A zero step is a ZeroDivisionError, as in NumPy."""
    check_device(device, "arange")
    start, stop, step = (_number(v, "arange") for v in (start, stop, step))
    if step is None:
        step = 1
    if dtype is None:  # NumPy: at least intp, promoted with each argument's dtype
        given = [v for v in (start, stop, step) if v is not None]
        dt = np.result_type(np.intp, *[np.asarray(v).dtype for v in given])
    else:
        dt = np.dtype(dtype)
    dt = dtypes.check(dt, "arange")
    if stop is None:
        start, stop = 0, start
    length, second = _arange_length(start, stop, step)
    _check_size((length,), dt)
    first = _setitem(dt, start) if length else None
    second = _setitem(dt, second) if length > 1 else None
    return place(LazyArray(_arange_node(dt, length, first, second)), device)


def _arange_node(dt: np.dtype, length: int, first: Any, second: Any) -> Node:
    if length <= 1:
        return _broadcast(build.scalar(first if length else 0, dt), (length,))
    index = _counter(length)
    if dt.kind == "b":
        if length > 2:
            raise TypeError("arange() is only supported for booleans when the result has at "
                            "most length 2.")
        return build.where(build.apply(Op.EQUAL, index, _uint64(0)),
                           build.scalar(first, dt), build.scalar(second, dt))
    if dt.kind in "iu":
        # NumPy's first + i * (second - first) in the dtype wraps: the same as in uint64,
        # truncated to the dtype's width
        step = (int(second) - int(first)) % 2**64
        node = index if step == 1 else build.apply(Op.MULTIPLY, index, _uint64(step))
        if int(first):
            node = build.apply(Op.ADD, node, _uint64(int(first)))
        return build.cast(node, dt)
    return _float_arange(dt, length, first, second, index)


def _float_arange(dt: np.dtype, length: int, first: np.generic, second: np.generic,
                  index: Node) -> Node:
    if dt == np.float16:  # NumPy fills a float16 range in float32 and rounds each value once
        return build.cast(_float_arange(np.dtype(np.float32), length, np.float32(first),
                                        np.float32(second), index), dt)
    with np.errstate(all="ignore"):
        delta = second - first
        zero, one = dt.type(0), dt.type(1)
        # the two ops the kernel does, skipped where they cannot change a bit: * 1 never
        # does, + 0.0 only turns -0.0 into 0.0, and i * delta is -0.0 only for a negative
        # delta
        scale = delta != 1
        shift = not (_bits(first) == _bits(zero) and not np.signbit(delta))
        at = [(k * delta if scale else k) for k in (zero, one)]
        at = [(v + first if shift else v) for v in at]
    node = build.cast(index, dt)
    if scale:
        node = build.apply(Op.MULTIPLY, node, build.scalar(delta, dt))
    if shift:
        node = build.apply(Op.ADD, node, build.scalar(first, dt))
    # NumPy stores the first two elements as given and computes the rest: the formula
    # gives them back but for rounding (1e20 + (1 - 1e20)) and signed zeros
    for k, want in ((1, second), (0, first)):
        if _bits(at[k]) != _bits(want) or length == 2:
            node = build.where(build.apply(Op.EQUAL, index, _uint64(k)),
                               build.scalar(want, dt), node)
    return node


# -- linspace ---------------------------------------------------------------------------------
def linspace(start: Any, stop: Any, /, num: Any, *, dtype: Any = None, device: Any = None,
             endpoint: bool = True) -> LazyArray:
    """``numpy.linspace``: ``num`` values from ``start`` to ``stop`` (included with
    ``endpoint``), computed as NumPy computes them: ``i * step + start`` in the inexact
    dtype of the arguments (float64 for Python numbers), with ``step = (stop - start) / div``
    (``(i / div) * (stop - start)`` where ``step`` underflows to 0), the last element
    exactly ``stop``; then cast to ``dtype`` (floored first for an integer dtype)."""
    check_device(device, "linspace")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"Number of samples, {num}, must be non-negative.")
    start, stop = (_number(v, "linspace") for v in (start, stop))
    dt = dtypes.check(np.result_type(start, stop, 0.0), "linspace")
    out = dt if dtype is None else dtypes.check(np.dtype(dtype), "linspace")
    div = num - 1 if endpoint else num
    with np.errstate(all="ignore"):  # the kernel computes NaN and inf as NumPy, silently
        first, last = dt.type(start), dt.type(stop)
        delta = last - first
        step = delta / div if div > 0 else None
    index = _counter(num)
    node = build.cast(index, dt)
    if step is None:
        node = build.apply(Op.MULTIPLY, node, build.scalar(delta, dt))
    elif step == 0:  # NumPy keeps subnormal steps from vanishing this way
        node = build.apply(Op.TRUE_DIVIDE, node, build.scalar(div, dt))
        node = build.apply(Op.MULTIPLY, node, build.scalar(delta, dt))
    else:
        node = build.apply(Op.MULTIPLY, node, build.scalar(step, dt))
    node = build.apply(Op.ADD, node, build.scalar(first, dt))
    if endpoint and num > 1:
        node = build.where(build.apply(Op.EQUAL, index, _uint64(num - 1)),
                           build.scalar(last, dt), node)
    if out.kind in "iu":
        node = build.apply(Op.FLOOR, node)
    return place(LazyArray(build.cast(node, out)), device)


# -- matrices ---------------------------------------------------------------------------------
def eye(n_rows: Any, n_cols: Any = None, /, *, k: Any = 0, dtype: Any = None,
        device: Any = None) -> LazyArray:
    """Ones on diagonal ``k`` (``column - row == k``) and zeros elsewhere (float64 unless
    ``dtype`` says otherwise), as ``numpy.eye``."""
    check_device(device, "eye")
    rows = operator.index(n_rows)
    cols = rows if n_cols is None else operator.index(n_cols)
    k = operator.index(k)
    dims = _shape((rows, cols))
    dt = _dtype(dtype, _F64, "eye")
    _check_size(dims, dt)
    if not -rows < k < cols:  # no element is on that diagonal
        return place(LazyArray(_broadcast(_scalar(0, dt), dims)), device)
    row, col = _index_along(0, dims), _index_along(1, dims)
    if k:  # column == row + k modulo 2**64: exact, a wrapped sum is above every column
        row = build.apply(Op.ADD, row, _uint64(k))
    on = build.apply(Op.EQUAL, col, row)
    return place(LazyArray(build.cast(on, dt)), device)


def tril(x: Any, /, *, k: Any = 0) -> LazyArray:
    """``x`` with the elements above diagonal ``k`` of its last two axes zeroed
    (``column - row > k``), as ``numpy.tril`` (a 1-d ``x`` is broadcast to a square)."""
    return _triangle(x, k, lower=True)


def triu(x: Any, /, *, k: Any = 0) -> LazyArray:
    """``x`` with the elements below diagonal ``k`` of its last two axes zeroed
    (``column - row < k``), as ``numpy.triu`` (a 1-d ``x`` is broadcast to a square)."""
    return _triangle(x, k, lower=False)


def _triangle(x: Any, k: Any, lower: bool) -> LazyArray:
    name = "tril" if lower else "triu"
    node = (x if isinstance(x, LazyArray) else asarray(x))._node
    k = operator.index(k)
    if node.ndim == 0:
        raise TypeError(f"{name}: the input must have at least one dimension, got a 0-d array")
    if node.ndim == 1:  # NumPy masks with a square of the vector's length
        node = views.broadcast_to(node, (node.shape[0], node.shape[0]))
    shape = node.shape
    rows, cols = shape[-2], shape[-1]
    k = min(max(k, -rows), cols)  # beyond these every element is in (or out): no overflow
    row, col = (_index_along(a, shape, _I64) for a in (node.ndim - 2, node.ndim - 1))
    shifted = build.apply(Op.ADD, row, build.scalar(k, _I64)) if k else row
    keep = build.apply(Op.LESS_EQUAL if lower else Op.GREATER_EQUAL, col, shifted)
    zero = _broadcast(build.scalar(0, node.dtype), shape)
    return LazyArray(build.where(keep, node, zero))


# -- meshgrid ---------------------------------------------------------------------------------
def meshgrid(*arrays: Any, indexing: str = "xy") -> list[LazyArray]:
    """Coordinate arrays (``numpy.meshgrid``, as a list, as the standard asks): array ``i``
    runs along axis ``i`` of the result (``indexing="ij"``), or with ``"xy"`` the first two
    swap places. Each result is a lazy broadcast of its input (raveled, as NumPy does), which
    evaluates to a new C-contiguous array."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    nodes = [views.ravel((a if isinstance(a, LazyArray) else asarray(a))._node)
             for a in arrays]
    axes = list(range(len(nodes)))
    if indexing == "xy" and len(nodes) > 1:
        axes[0], axes[1] = 1, 0
    shape = [0] * len(nodes)
    for node, axis in zip(nodes, axes, strict=True):
        shape[axis] = node.size
    dims = tuple(shape)
    grids = []
    for node, axis in zip(nodes, axes, strict=True):
        others = tuple(d for d in range(len(dims)) if d != axis)
        # expand_dims keeps an expression's node a view (a reshape of an index would copy)
        spread = views.expand_dims(node, others) if others else node
        grids.append(LazyArray(fresh(build.broadcast_to(spread, dims))))
    return grids


__all__ = [
    "arange", "empty", "empty_like", "eye", "full", "full_like", "linspace", "meshgrid",
    "ones", "ones_like", "tril", "triu", "zeros", "zeros_like",
]
