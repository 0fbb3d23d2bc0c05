"""NumPy reference values of the ops the op table has no ufunc row for: casts, scans and
opaque ops.

These define what the ops mean, so they sit with the op table: the front end folds casts of
scalars with :func:`cast_values`, and the interpreter (``lazyarr.backends.interp``) evaluates
casts, scans and opaque ops with these functions, without either importing the other.
"""

from __future__ import annotations

import warnings

import numpy as np

from lazyarr.ir import dtypes
from lazyarr.ir.graph import Node, Op, ReduceKind


def cast_values(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """NumPy ``astype`` with lazyarr's fixed rule for float to integer casts.

    NumPy leaves NaN, infinities and out-of-range floats cast to integers platform-defined
    (and warns). lazyarr defines them: the value saturates to the integer type's range and
    NaN becomes 0. This is LLVM's ``fptosi.sat``/``fptoui.sat`` and the GPU's ``cvt.rzi``
    rule, so every backend agrees.
    """
    dtype = np.dtype(dtype)
    if not dtypes.is_float(values.dtype) or dtype.kind not in "iu":  # (bfloat16 too)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            # complex to real keeps the real part (NumPy's value) without its ComplexWarning
            warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
            return values.astype(dtype)
    lo, hi = dtypes.int_bounds(dtype)
    if values.dtype.itemsize < 4:  # exactly: bounds beyond float16's range would overflow
        values = values.astype(np.float32)
    with np.errstate(invalid="ignore"):
        fixed = np.where(np.isnan(values), 0, values)
        too_low = fixed <= lo
        too_high = fixed >= hi
        safe = np.where(too_low | too_high, 0, fixed).astype(dtype)
    return np.where(too_low, dtype.type(lo), np.where(too_high, dtype.type(hi), safe))


def opaque_value(node: Node, args: list[np.ndarray], cache: dict | None = None) -> np.ndarray:
    """The value of opaque ``node`` (matmul/dot, reshape, concatenate, stack, take and its
    transpose scatter_add, a host call) from its evaluated inputs: BLAS and NumPy.

    ``cache`` (one evaluation's) keeps the whole result of a host call with several results,
    so that its function runs once for all of them."""
    if node.op is Op.MATMUL:
        fn = np.matmul if node.arg == "matmul" else np.dot
        result = fn(*args)
    elif node.op is Op.RESHAPE:
        result = np.reshape(args[0], node.shape)
    elif node.op is Op.CONCATENATE:
        result = np.concatenate(args, axis=node.arg, dtype=node.dtype)
    elif node.op is Op.STACK:
        result = np.stack(args, axis=node.arg, dtype=node.dtype)
    elif node.op is Op.TAKE:
        result = np.take(args[0], args[1], axis=node.arg)
    elif node.op is Op.HOST:
        call = node.arg
        if call.output is None:
            result = call.fn(*args, *call.params)
        else:
            key = (call.fn, call.params, *map(id, args))
            whole = None if cache is None else cache.get(key)
            if whole is None:
                whole = call.fn(*args, *call.params)
                if cache is not None:
                    cache[key] = whole
            result = whole[call.output]
        if np.shape(result) != node.shape:
            raise RuntimeError(f"{call.name}: NumPy gave shape {np.shape(result)}, the lazy "
                               f"array has {node.shape} (its input changed since it was built?)")
    elif node.op is Op.SCATTER_ADD:
        axis, _ = node.arg
        result = np.zeros(node.shape, node.dtype)
        np.add.at(result, (slice(None),) * axis + (args[1],), args[0])
    else:
        raise ValueError(f"{node.op.value} is not an opaque op")
    return np.asarray(result, dtype=node.dtype)


def scan_value(node: Node, x: np.ndarray) -> np.ndarray:
    """The value of SCAN ``node``: NumPy's cumulative sum or product along the last axis, in
    the node's dtype. NumPy accumulates sequentially (``add.accumulate``: each element is the
    previous result plus the next value, rounded), as the compiled scan does: the same bits.
    A bool scan is logical or (sum) and and (prod), as NumPy's bool add and multiply."""
    fn = np.cumsum if node.arg is ReduceKind.SUM else np.cumprod
    return fn(x, axis=-1, dtype=node.dtype)
