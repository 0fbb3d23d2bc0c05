"""NumPy-named functions that build lazy expressions."""

from __future__ import annotations

import inspect
import math
import operator
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from lazyarr.front import array as lazy
from lazyarr.front import build, complexes, opaque, reductions, views
from lazyarr.front.array import _ARRAY_FUNCTIONS, LazyArray
from lazyarr.ir import dtypes
from lazyarr.ir.graph import Buffer, Node, Op, fresh_leaf, is_dask_array
from lazyarr.ir.ops import ALIASES, BY_UFUNC, ROWS

_NO_COPY = "Unable to avoid copy while creating an array as requested."
# dtypes a NumPy array is captured in as it is (native byte order; not complex: a pair)
_PLAIN = dtypes.SUPPORTED
_KDL_CPU = 1  # DLPack's device type of host memory


def asarray(obj: Any, dtype: Any = None, device: str | None = None, *,
            copy: bool | None = None) -> LazyArray:
    """Wrap ``obj`` as a lazy leaf. NumPy arrays are captured by reference, never copied
    (unless ``copy=True``, or a ``dtype`` asks for other values).

    CUDA arrays (``__cuda_array_interface__`` or ``__dlpack__``: CuPy, PyTorch, Numba,
    lazyarr's own ``DeviceArray``) are captured by reference too; ``device="cuda"`` copies
    host data to the GPU once.

    ``copy``: True copies now (a NumPy array is copied and the copy captured; a lazy array
    becomes a new lazy array of the same expression, which ``x[k] = v`` on either leaves
    apart); False never copies and raises ValueError where a copy would be needed (another
    dtype, a list or a scalar, another device); None copies only where needed.
    """
    if type(obj) is np.ndarray and dtype is None and device is None and copy is None:
        dt = obj.dtype  # a layer's new batch: what the rest makes of it, in a straight line
        if dt in _PLAIN:
            return LazyArray(fresh_leaf(dt, obj.shape, Buffer(obj)))
    if isinstance(obj, LazyArray):
        result = obj if device is None else obj.to_device(device)
        if dtype is not None and np.dtype(dtype) != result.dtype:
            result = result.astype(dtype)
        if copy is False and result._node is not obj._node:  # moved or cast: copied
            raise ValueError(_NO_COPY)
        return lazy.twin(result) if copy and result is obj else result
    if is_dask_array(obj):
        from lazyarr.run import daskeval  # Dask support, loaded only for a Dask array

        if device is not None:
            raise ValueError("asarray: a Dask array is evaluated chunk by chunk on the host; "
                             "device= does not apply")
        if copy is False and dtype is not None and np.dtype(dtype) != obj.dtype:
            raise ValueError(_NO_COPY)
        daskeval.check_leaf(obj)  # (a Dask array is never written: no copy to make)
        result = LazyArray(build.leaf(obj))
        return result if dtype is None else result.astype(np.dtype(dtype))
    if device is not None or not isinstance(obj, np.ndarray):
        from lazyarr.run.device import is_device_array_like, leaf_array  # GPU support

        if copy is False and device not in (None, "cpu") and not is_device_array_like(obj):
            raise ValueError(_NO_COPY)  # host data, asked for on the device
        found = leaf_array(obj, dtype, device)
        if found is not None:
            if copy is False and dtype is not None and \
                    dtypes.native(np.dtype(dtype)) != found.dtype:
                raise ValueError(_NO_COPY)
            if copy and is_device_array_like(obj):
                found = found.copy()
            result = LazyArray(build.leaf(found))
            # device memory is native: ">f8" asks for float64 values, as for a host leaf
            return result if dtype is None else result.astype(dtypes.native(np.dtype(dtype)))
    # NumPy decides what needs a copy, and refuses copy=False where one would be
    arr = np.asarray(obj, dtype=dtype, copy=copy)
    return LazyArray(build.leaf(arr))


def array(obj: Any, dtype: Any = None, copy: bool = True) -> LazyArray:
    """Like :func:`asarray`, but copies NumPy input unless ``copy=False``."""
    if isinstance(obj, LazyArray):
        return asarray(np.array(obj.eval(), dtype=dtype)) if copy else asarray(obj, dtype)
    arr = np.array(obj, dtype=dtype, copy=copy)
    return LazyArray(build.leaf(arr))


def from_dlpack(x: Any, /, *, device: Any = None, copy: bool | None = None) -> LazyArray:
    """A lazy array of ``x``'s memory through DLPack (``x.__dlpack__``): a PyTorch CPU
    tensor, a JAX array, a NumPy array are captured without a copy (``np.from_dlpack``);
    CUDA memory (``__dlpack_device__`` says so) is captured on the device, as ``asarray``
    captures it. ``copy`` and ``device`` as in :func:`asarray`."""
    if isinstance(x, LazyArray):
        return asarray(x, device=device, copy=copy)
    place = x.__dlpack_device__()[0] if hasattr(x, "__dlpack_device__") else _KDL_CPU
    to_host = device is not None and str(device) == "cpu"
    if place != _KDL_CPU:  # device memory: the device path's capture
        if not to_host:
            return asarray(x, device=device, copy=copy)
        if copy is False:
            raise ValueError(_NO_COPY)
        return asarray(x).to_device("cpu")
    if device is not None and not to_host:
        if copy is False:
            raise ValueError(_NO_COPY)
        return asarray(np.from_dlpack(x), device=device)
    return LazyArray(build.leaf(np.from_dlpack(x, copy=copy)))


def _positional(n: int) -> inspect.Signature:
    """The signature the standard writes for a function of ``n`` arrays: ``(x, /)`` or
    ``(x1, x2, /)`` (what ``inspect.signature`` shows instead of ``*args``)."""
    names = ["x"] if n == 1 else [f"x{k + 1}" for k in range(n)]
    return inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_ONLY)
                              for name in names])


def _ufunc_function(op: Op):
    row = ROWS[op]

    # two lazy arrays, or a lazy array and a Python scalar: the operator's way (its memo
    # probes, its lean path for new nodes), which is apply's
    binary = lazy.binary(op)[0] if row.nin == 2 else None

    def fn(*args: Any) -> LazyArray:
        if len(args) == 1 and type(args[0]) is LazyArray and row.nin == 1:
            node = args[0]._node
            key = (op, node)
            found = lazy.wrapper_get(key)
            if found is not None:  # held elsewhere: a twin (array.py, "A lazy array is mutable")
                return found if lazy.getrefcount(found) <= lazy.ALONE else lazy.twin(found)
            lean = lazy.lean_unary(op, node, key)
            return lazy.operation(key, lambda: build.apply(op, *args)) if lean is None else lean
        if binary is not None and len(args) == 2 and type(args[0]) is LazyArray:
            result = binary(*args)
            if result is not NotImplemented:
                return result
        if len(args) != row.nin:
            raise TypeError(f"{row.name}() takes {row.nin} arguments ({len(args)} given)")
        return LazyArray(build.apply(op, *args))

    fn.__name__ = fn.__qualname__ = row.name
    fn.__signature__ = _positional(row.nin)  # type: ignore[attr-defined]
    fn.__doc__ = f"Lazy ``numpy.{row.function}``: same types, broadcasting and values."
    return fn


def _outputs_function(ufunc: np.ufunc, outputs: tuple[Op, ...]):
    """A function of a two-output ufunc: a tuple of lazy arrays, one op each over the same
    operands (evaluated together, ``la.eval(*result)``, they are one kernel)."""
    nin = ROWS[outputs[0]].nin

    def fn(*args: Any) -> tuple[LazyArray, ...]:
        if len(args) != nin:
            raise TypeError(f"{ufunc.__name__}() takes {nin} arguments ({len(args)} given)")
        return tuple(LazyArray(build.apply(op, *args)) for op in outputs)

    fn.__name__ = fn.__qualname__ = ufunc.__name__
    fn.__signature__ = _positional(nin)  # type: ignore[attr-defined]
    fn.__doc__ = (f"Lazy ``numpy.{ufunc.__name__}``: a tuple of {len(outputs)} lazy arrays with "
                  "its types, broadcasting and values.")
    return fn


def ufunc_call(ufunc: np.ufunc, inputs: tuple, out: Any = None) -> Any:
    """``ufunc(*inputs)`` (``LazyArray.__array_ufunc__``, for ufuncs in ``BY_UFUNC``): lazy
    arrays (a tuple for two outputs), or with ``out`` the filled arrays."""
    results = [LazyArray(build.apply(op, *inputs)) for op in BY_UFUNC[ufunc]]
    if out is None:
        return results[0] if len(results) == 1 else tuple(results)
    targets = list(out) if isinstance(out, tuple) else [out]
    if len(results) == 1:
        results[0].eval(out=targets[0])
        return targets[0]
    from lazyarr.run.evaluate import evaluate  # the outputs together: one kernel

    return tuple(evaluate([r._node for r in results], out=targets))


# -- NumPy functions that are compositions of ops -------------------------------------------------
def _power_of_ten(n: int) -> float:
    """NumPy's ``power_of_ten`` (the factor of ``round``): exact to 1e8, then multiplied up
    by 10 in floating point, so its rounding is NumPy's."""
    if n < 9:
        return float(10**n)
    value = 1e9
    for _ in range(n - 9):
        value *= 10.0
        if value == np.inf:
            break
    return value


def round_(a: Any, decimals: Any = 0, out: Any = None) -> Any:
    """Lazy ``numpy.round``: ``rint(x * 10**d) / 10**d`` in the array's dtype (``x / 10**-d``
    first for negative ``d``), ties to even; integers are kept for ``d >= 0`` and otherwise
    computed in float64 and cast back (wrapping as NumPy's cast does, in range of int64)."""
    x = asarray(a)
    decimals = operator.index(decimals)
    if x.dtype.kind == "c":  # NumPy rounds each part on its own
        re, im = (round_(LazyArray(p), decimals) for p in x._node.src)
        result = LazyArray(complexes.pair(re._node, im._node))
        return result if out is None else result.eval(out=out)
    if x.dtype.kind in "iu" and decimals >= 0:
        result = x
    elif decimals == 0:
        result = UFUNC_FUNCTIONS["rint"](x)
    elif x.dtype.kind == "b":
        raise TypeError("round: cannot cast the float64 result to bool (NumPy's same_kind rule)")
    else:
        f = _power_of_ten(abs(decimals))
        y = x.astype(np.float64) if x.dtype.kind in "iu" else x
        rint = UFUNC_FUNCTIONS["rint"]
        y = rint(y * f) / f if decimals > 0 else rint(y / f) * f
        result = y.astype(np.int64).astype(x.dtype) if x.dtype.kind in "iu" else y
    return result if out is None else result.eval(out=out)


def isclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08,
            equal_nan: bool = False) -> LazyArray:
    """Lazy ``numpy.isclose``: ``|a - b| <= atol + rtol * |b|`` for finite ``b``, or
    ``a == b``; NaNs are close to each other only with ``equal_nan``."""
    x = a if isinstance(a, int | float) else asarray(a)
    y = b if isinstance(b, int | float) else asarray(b)
    if isinstance(y, LazyArray):  # inexact, so that abs(INT_MIN) cannot overflow
        y = y.astype(np.result_type(y.dtype, 1.0))
    elif isinstance(y, int):
        y = float(y)
    absolute, isfinite, isnan = (UFUNC_FUNCTIONS[n] for n in ("absolute", "isfinite", "isnan"))
    result = UFUNC_FUNCTIONS["less_equal"](absolute(x - y), atol + rtol * absolute(y))
    result = (result & isfinite(y)) | UFUNC_FUNCTIONS["equal"](x, y)
    if equal_nan:
        result = result | (isnan(x) & isnan(y))
    return result


def nan_to_num(x: Any, copy: bool = True, nan: Any = 0.0, posinf: Any = None,
               neginf: Any = None) -> LazyArray:
    """Lazy ``numpy.nan_to_num`` (``copy`` is irrelevant: lazy arrays are never written):
    NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (default: the
    dtype's largest and smallest finite values) in float arrays; other arrays as they are."""
    x = asarray(x)
    if x.dtype.kind == "c":  # NumPy's: each part on its own
        re, im = (nan_to_num(LazyArray(p), copy, nan, posinf, neginf) for p in x._node.src)
        return LazyArray(complexes.pair(re._node, im._node))
    if x.dtype.kind != "f":
        return x
    info = np.finfo(x.dtype)
    values = [asarray(info.max if posinf is None else posinf),
              asarray(info.min if neginf is None else neginf), asarray(nan)]
    big, small, nan_value = (v.astype(x.dtype) for v in values)
    result = where(UFUNC_FUNCTIONS["isnan"](x), nan_value, x)
    result = where(x == np.inf, big, result)
    return where(x == -np.inf, small, result)


def sinc(x: Any) -> LazyArray:
    """Lazy ``numpy.sinc``: ``sin(pi x) / (pi x)``, with the dtype's epsilon for ``pi x``
    where it is 0 (so the result there is 1)."""
    y = math.pi * asarray(x)
    y = where(y, y, np.finfo(y.dtype).eps)
    return UFUNC_FUNCTIONS["sin"](y) / y


def real(x: Any) -> LazyArray:
    """Lazy ``numpy.real``: the real part of a complex array, else the input itself."""
    node = _n(x)
    return LazyArray(complexes.real(node)) if node.op is Op.COMPLEX else asarray(x)


def imag(x: Any) -> LazyArray:
    """Lazy ``numpy.imag``: the imaginary part of a complex array, else zeros of the
    input's dtype and shape."""
    node = _n(x)
    if node.op is Op.COMPLEX:
        return LazyArray(complexes.imag(node))
    return LazyArray(build.broadcast_to(build.scalar(0, node.dtype), node.shape))


def angle(z: Any, deg: bool = False) -> LazyArray:
    """Lazy ``numpy.angle``: the argument of each complex value (``arctan2(imag, real)``),
    in radians or with ``deg`` in degrees."""
    return LazyArray(complexes.angle(_n(z), deg))


def where(condition: Any, x: Any, y: Any) -> LazyArray:
    """Lazy ``numpy.where(condition, x, y)`` (the three-argument form)."""
    key = (Op.WHERE, *[build.key_part(v) for v in (condition, x, y)])
    if None in key:
        return LazyArray(build.where(condition, x, y))
    hit = lazy.wrapper_get(key)
    if hit is not None:  # held elsewhere: a twin (array.py, "A lazy array is mutable")
        return hit if lazy.getrefcount(hit) <= lazy.ALONE else lazy.twin(hit)
    return lazy.operation(key, lambda: build.where(condition, x, y))


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> LazyArray:
    """Lazy ``numpy.clip``: NaN propagates; with ``a_min > a_max`` the result is ``a_max``.

    As in NumPy, a Python int bound at or beyond an integer array's range is dropped (it
    cannot clip anything) instead of raising OverflowError.
    """
    x = asarray(a)
    if x.dtype.kind in "iu":
        info = np.iinfo(x.dtype)
        if type(a_min) is int and a_min <= info.min:
            a_min = None
        if type(a_max) is int and a_max >= info.max:
            a_max = None
    if a_min is None and a_max is None:
        return LazyArray(build.apply(Op.POSITIVE, x))
    if a_min is None:
        return LazyArray(build.apply(Op.MINIMUM, x, a_max))
    if a_max is None:
        return LazyArray(build.apply(Op.MAXIMUM, x, a_min))
    return LazyArray(build.apply(Op.CLIP, x, a_min, a_max))


def astype(x: Any, dtype: Any) -> LazyArray:
    return asarray(x).astype(dtype)


def transpose(x: Any, axes: Any = None) -> LazyArray:
    return LazyArray(views.permute_dims(_n(x), None if axes is None else tuple(axes)))


permute_dims = transpose


def _n(x: Any) -> Node:
    return asarray(x)._node


def _lazy(fn):
    """A NumPy-named function of one array returning a lazy array (method-style wrappers)."""

    method = getattr(LazyArray, fn)

    def wrapper(x: Any, *args: Any, **kwargs: Any) -> Any:
        return method(x if type(x) is LazyArray else asarray(x), *args, **kwargs)

    wrapper.__name__ = wrapper.__qualname__ = fn
    # the method's parameters, with the array first and positional only
    params = list(inspect.signature(method).parameters.values())[1:]
    x = inspect.Parameter("x", inspect.Parameter.POSITIONAL_ONLY)
    wrapper.__signature__ = inspect.Signature([x, *params])  # type: ignore[attr-defined]
    wrapper.__doc__ = f"Lazy ``numpy.{fn}``."
    return wrapper


METHOD_FUNCTIONS = {name: _lazy(name) for name in (
    "sum", "prod", "min", "max", "mean", "var", "std", "argmin", "argmax", "any", "all",
    "reshape", "ravel", "squeeze", "swapaxes",
)}
METHOD_FUNCTIONS.update(amin=METHOD_FUNCTIONS["min"], amax=METHOD_FUNCTIONS["max"])


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> LazyArray:
    """``log(sum(exp(x), axis))`` computed stably (SciPy's ``logsumexp`` without weights)."""
    return LazyArray(reductions.logsumexp(_n(x), axis, keepdims))


def expand_dims(x: Any, axis: Any) -> LazyArray:
    return LazyArray(views.expand_dims(_n(x), axis))


def moveaxis(x: Any, source: Any, destination: Any) -> LazyArray:
    return LazyArray(views.moveaxis(_n(x), source, destination))


def flip(x: Any, axis: Any = None) -> LazyArray:
    return LazyArray(views.flip(_n(x), axis))


def broadcast_to(x: Any, shape: Any) -> LazyArray:
    return LazyArray(views.broadcast_to(_n(x), shape))


def matrix_transpose(x: Any) -> LazyArray:
    return LazyArray(views.matrix_transpose(_n(x)))


def matmul(a: Any, b: Any) -> LazyArray:
    return LazyArray(opaque.matmul(_n(a), _n(b)))


def dot(a: Any, b: Any) -> LazyArray:
    return LazyArray(opaque.dot(_n(a), _n(b)))


def concatenate(arrays: Any, axis: int | None = 0) -> LazyArray:
    return LazyArray(opaque.concatenate([_n(a) for a in arrays], axis))


def stack(arrays: Any, axis: int = 0) -> LazyArray:
    return LazyArray(opaque.stack([_n(a) for a in arrays], axis))


def stop_gradient(x: Any) -> LazyArray:
    """``x``, through which ``la.grad`` passes no gradient (``jax.lax.stop_gradient``,
    PyTorch's ``detach``): a value treated as a constant."""
    node = _n(x)
    if node.dtype.kind not in "fc":
        return LazyArray(node)  # nothing flows through other dtypes anyway
    return LazyArray(build.apply(Op.STOP_GRADIENT, node))


def take(x: Any, indices: Any, axis: int | None = None) -> LazyArray:
    """``numpy.take``: the slices of ``x`` along ``axis`` at ``indices`` (negative ones count
    from the end), lazily; differentiable in ``x`` (its gradient adds back into place)."""
    return LazyArray(opaque.take(_n(x), _n(indices), axis))


def take_along_axis(x: Any, indices: Any, /, axis: int | None = -1) -> LazyArray:
    """``numpy.take_along_axis``: ``x`` at ``indices`` along ``axis`` (the other axes
    broadcast against each other), lazily, as one ``take`` at flat positions computed with
    the indices (lazy indices stay lazy; out-of-bounds ones are an IndexError, raised now
    for NumPy indices and when evaluated for lazy ones). ``axis=None`` reads ``x``
    flattened, as NumPy does. Differentiable in ``x``."""
    node = _n(x)
    idx = indices._node if isinstance(indices, LazyArray) else np.asarray(indices)
    if axis is None:
        node, axis = views.ravel(node), 0
    if idx.dtype.kind not in "iu":
        raise IndexError("`indices` must be an integer array")
    if idx.ndim != node.ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    ax = normalize_axis_index(axis, node.ndim)
    # NumPy's own construction: an arange per other axis, shaped to broadcast
    items = tuple(idx if d == ax else
                  np.arange(n).reshape([n if k == d else 1 for k in range(node.ndim)])
                  for d, n in enumerate(node.shape))
    return LazyArray(views.gather(node, items))


UFUNC_FUNCTIONS = {row.name: _ufunc_function(op) for op, row in ROWS.items()
                   if row.public and row.nout == 1}
UFUNC_FUNCTIONS.update({name: UFUNC_FUNCTIONS[op.value] for name, op in ALIASES.items()})
UFUNC_FUNCTIONS.update({uf.__name__: _outputs_function(uf, outs) for uf, outs in BY_UFUNC.items()
                        if len(outs) > 1})

_ARRAY_FUNCTIONS.update({
    np.where: where, np.clip: clip, np.transpose: transpose, np.permute_dims: transpose,
    np.expand_dims: expand_dims, np.moveaxis: moveaxis, np.flip: flip,
    np.broadcast_to: broadcast_to, np.matrix_transpose: matrix_transpose, np.dot: dot,
    np.concatenate: concatenate, np.stack: stack, np.take: take,
    np.take_along_axis: take_along_axis,
})
_ARRAY_FUNCTIONS.update({getattr(np, name): fn for name, fn in METHOD_FUNCTIONS.items()})
_ARRAY_FUNCTIONS.update({
    np.round: round_, np.around: round_, np.isclose: isclose, np.nan_to_num: nan_to_num,
    np.sinc: sinc, np.real: real, np.imag: imag, np.angle: angle,
})


def supported_dtypes() -> list[np.dtype]:
    return sorted(dtypes.SUPPORTED, key=lambda d: (d.kind, d.itemsize))
