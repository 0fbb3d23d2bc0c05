"""Every reduction with every ``dtype=`` NumPy knows, against NumPy.

NumPy's answer decides: where it raises, lazyarr raises the same exception type when the
expression is built; where its result has a dtype lazyarr computes, lazyarr's result has the
same dtype, shape and values; where it has one lazyarr cannot compute (complex, float16,
longdouble, object, ...), lazyarr raises a TypeError naming the reduction when the
expression is built, never a crash or a wrong number at evaluation.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pytest

import lazyarr as la
from lazyarr.ir.dtypes import COMPLEX_PARTS
from lazyarr.ir.dtypes import SUPPORTED as KERNEL_DTYPES

SUPPORTED = KERNEL_DTYPES | set(COMPLEX_PARTS)  # complex values: pairs of real ones

BACKENDS = ("cpu", "interp")
# small values: every product fits int8, every mean and variance is exact enough to compare
_DATA = np.array([[1, 2, 3], [3, 1, 2]])
INPUT_DTYPES = [np.dtype(t) for t in ("bool", "int8", "uint16", "int64", "float32", "float64")]
DTYPE_ARGS = [np.dtype(t) for t in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "longdouble", "complex64", "complex128", "clongdouble",
    "object", "U4", "S4", "V8", "M8[s]", "m8[s]")]


def _input(dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        return np.array([[True, True, False], [False, True, True]])
    return _DATA.astype(dtype)


# name -> (NumPy's call, lazyarr's calls: function, method, NumPy function on a lazy array)
Call = Callable[..., object]
REDUCTIONS: dict[str, tuple[Call, tuple[Call, ...]]] = {
    "sum": (np.sum, (la.sum, lambda x, **k: x.sum(**k), np.sum)),
    "prod": (np.prod, (la.prod, lambda x, **k: x.prod(**k), np.prod)),
    "mean": (np.mean, (la.mean, lambda x, **k: x.mean(**k), np.mean)),
    "var": (np.var, (la.var, lambda x, **k: x.var(**k))),
    "std": (np.std, (la.std, lambda x, **k: x.std(**k))),
    "var_ddof1": (lambda x, **k: np.var(x, ddof=1, **k), (lambda x, **k: la.var(x, ddof=1, **k),)),
    "add.reduce": (np.add.reduce, (np.add.reduce,)),
    "multiply.reduce": (np.multiply.reduce, (np.multiply.reduce,)),
}


def _builtin(exc: Exception) -> type[Exception]:
    """The builtin class of ``exc`` (NumPy raises private subclasses of TypeError)."""
    return next(c for c in type(exc).__mro__ if c.__module__ == "builtins")


def _refused(name: str, dtype_arg: np.dtype, expected: np.ndarray) -> bool:
    """Where lazyarr refuses what NumPy computes: a ``dtype=`` lazyarr has not (an object
    sum then divided is float64 in NumPy), or the root of an integer variance, which NumPy
    takes in float16 for 8-bit types."""
    if dtype_arg not in SUPPORTED or expected.dtype not in SUPPORTED:
        return True
    if name.startswith(("var", "std")) and dtype_arg.kind == "c":
        return True  # a complex dtype= for a variance: not (yet) lazyarr's
    return name == "std" and np.sqrt(np.ones(1, dtype_arg)).dtype not in SUPPORTED


def _numpy(call: Call, x: np.ndarray, kwargs: dict) -> np.ndarray | Exception:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            result = call(x, **kwargs)
    except Exception as exc:  # the reference: whatever NumPy raises, lazyarr must raise too
        return exc
    # an object reduction of all axes gives a plain Python number
    return np.asarray(result, dtype=None if hasattr(result, "dtype") else object)


@pytest.mark.parametrize("axis", [None, 1])
@pytest.mark.parametrize("dtype_arg", DTYPE_ARGS, ids=str)
@pytest.mark.parametrize("in_dtype", INPUT_DTYPES, ids=str)
@pytest.mark.parametrize("name", list(REDUCTIONS))
def test_reduction_dtype_argument_matches_numpy(name, in_dtype, dtype_arg, axis):
    ref_call, calls = REDUCTIONS[name]
    x = _input(in_dtype)
    kwargs = {"axis": axis, "dtype": dtype_arg}
    if name.endswith(".reduce") and axis is None:
        kwargs["axis"] = 0
    expected = _numpy(ref_call, x, kwargs)
    for call in calls:
        if isinstance(expected, Exception):
            with pytest.raises(_builtin(expected)):
                call(la.asarray(x), **kwargs)
            continue
        if _refused(name, dtype_arg, expected):
            with pytest.raises(TypeError, match=r"dtype="):
                call(la.asarray(x), **kwargs)
            continue
        lazy = call(la.asarray(x), **kwargs)
        for backend in BACKENDS:
            got = la.eval(lazy, backend=backend)
            assert got.dtype == expected.dtype, (backend, got.dtype, expected.dtype)
            assert got.shape == expected.shape, (backend, got.shape, expected.shape)
            if expected.dtype.kind in "fc":
                np.testing.assert_allclose(got, expected, rtol=1e-3 if expected.dtype ==
                                           np.float16 else 1e-6, atol=1e-6)
            else:
                np.testing.assert_array_equal(got, expected)


def test_unsupported_dtype_is_refused_at_build_time_naming_the_reduction():
    x = la.asarray(np.ones(4, np.float32))
    with pytest.raises(TypeError, match=r"sum\(dtype=timedelta64\[s\]\)"):
        la.sum(x, dtype="m8[s]")
    with pytest.raises(TypeError, match=r"prod\(dtype=timedelta64\[s\]\)"):
        x.prod(dtype="m8[s]")
    with pytest.raises(TypeError, match=r"mean\(dtype=timedelta64\[s\]\)"):
        np.mean(x, dtype="m8[s]")


@pytest.mark.parametrize("backend", BACKENDS)
def test_bool_sum_and_prod_are_logical_or_and_and(backend):
    rows = np.array([[True, True, False], [False, False, False], [True, True, True]])
    x = la.asarray(rows)
    got_sum = la.eval(la.sum(x, axis=1, dtype=bool), backend=backend)
    got_prod = la.eval(la.prod(x, axis=1, dtype=bool), backend=backend)
    np.testing.assert_array_equal(got_sum, [True, False, True])
    np.testing.assert_array_equal(got_prod, [False, False, True])
    assert la.eval(la.sum(la.asarray(rows[0]), dtype=bool), backend=backend)[()]


def test_ufunc_reduce_with_arguments_lazyarr_does_not_take_runs_in_numpy():
    a = np.arange(6.0).reshape(2, 3)
    got = np.add.reduce(la.asarray(a), axis=1, initial=5.0)
    np.testing.assert_array_equal(np.asarray(got), np.add.reduce(a, axis=1, initial=5.0))
