"""The array API's data types, constants, inspection namespace and data type functions
(lazyarr/front/dtypefuncs.py): against NumPy where NumPy follows the standard, against the
standard's own rules where it does not (``can_cast``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import lazyarr as la

REAL = ["bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float32", "float64"]
NAMED = [*REAL, "complex64", "complex128"]
KINDS = ["bool", "signed integer", "unsigned integer", "integral", "real floating",
         "complex floating", "numeric"]
BACKENDS = ["cpu", "interp"]


# -- names ------------------------------------------------------------------------------------
def test_dtype_names_are_numpy_dtype_instances() -> None:
    for name in NAMED:
        dt = getattr(la, name)
        assert type(dt) is type(np.dtype(name)) and dt == np.dtype(name)
        assert {dt: name}[np.dtype(name)] == name  # hashes as NumPy's dtype
    assert la.bool == np.dtype(np.bool_) and la.bool is not bool
    assert la.asarray(np.ones(2, np.float32)).dtype == la.float32
    assert la.float32 != la.float64


def test_constants() -> None:
    assert la.e == math.e and la.pi == math.pi and type(la.e) is float
    assert la.inf == math.inf and math.isnan(la.nan) and type(la.nan) is float
    assert la.newaxis is None
    assert la.__array_api_version__ == "2024.12"
    x = la.asarray(np.arange(3))
    assert x[la.newaxis].shape == (1, 3)


# -- the inspection namespace -----------------------------------------------------------------
def test_info_capabilities_and_devices() -> None:
    info = la.__array_namespace_info__()
    caps = info.capabilities()
    assert caps == {"boolean indexing": True, "data-dependent shapes": True,
                    "max dimensions": 64}
    assert info.default_device() == "cpu"
    devices = info.devices()
    assert devices[0] == "cpu" and set(devices) <= {"cpu", "cuda"}
    for device in devices:  # each device must be a valid device= for creation functions
        assert la.zeros(2, device=device).shape == (2,)
    zeros = la.zeros((1,) * caps["max dimensions"])
    assert zeros.eval().ndim == 64


def test_info_devices_with_no_driver_is_quiet(capfd: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from lazyarr.backends import cuda_driver

    monkeypatch.setenv("LAZYARR_LIBCUDA", "lazyarr-no-such-libcuda.so")
    cuda_driver.reset_for_tests()
    try:
        assert la.__array_namespace_info__().devices() == ["cpu"]
    finally:
        monkeypatch.undo()
        cuda_driver.reset_for_tests()
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_info_default_dtypes() -> None:
    info = la.__array_namespace_info__()
    want = {"real floating": la.float64, "complex floating": la.complex128,
            "integral": la.int64, "indexing": la.int64}
    assert info.default_dtypes() == want
    assert info.default_dtypes(device="cpu") == want
    assert la.arange(3).dtype == want["integral"] and la.zeros(2).dtype == want["real floating"]
    with pytest.raises(ValueError):
        info.default_dtypes(device="tpu")


@pytest.mark.parametrize("kind", [None, *KINDS, ("bool", "real floating"),
                                  ("signed integer", "unsigned integer"), ()])
def test_info_dtypes(kind: Any) -> None:
    got = la.__array_namespace_info__().dtypes(kind=kind)
    want = {n: np.dtype(n) for n in NAMED if kind is None or np.isdtype(np.dtype(n), kind)}
    assert got == want and list(got) == [n for n in NAMED if n in want]  # canonical order


def test_info_dtypes_errors() -> None:
    info = la.__array_namespace_info__()
    assert info.dtypes(device="cpu") == info.dtypes()
    assert list(info.dtypes(kind="complex floating")) == ["complex64", "complex128"]
    assert "float16" not in info.dtypes()  # lazyarr computes in it, the standard names it not
    with pytest.raises(ValueError):
        info.dtypes(kind="floating")
    with pytest.raises(TypeError):
        info.dtypes(kind=np.float32)
    with pytest.raises(ValueError):
        info.dtypes(device="gpu")


# -- isdtype ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMED)
def test_isdtype_matches_numpy(name: str) -> None:
    dt = getattr(la, name)
    kinds: list[Any] = [*KINDS, *(getattr(la, n) for n in NAMED), ("bool", la.float32),
                        ("real floating", "complex floating"), (la.int8, la.uint8), ()]
    for kind in kinds:
        assert la.isdtype(dt, kind) == np.isdtype(np.dtype(name), kind), kind
    assert la.isdtype(np.dtype(name).type, "numeric") == np.isdtype(np.dtype(name), "numeric")


def test_isdtype_errors_are_numpys() -> None:
    for dtype, kind, want in [("float32", "numeric", TypeError),
                              (np.ones(2), "numeric", TypeError),
                              (la.float32, "floating", ValueError), (la.float32, 5, TypeError)]:
        with pytest.raises(want):
            np.isdtype(dtype, kind)
        with pytest.raises(want):
            la.isdtype(dtype, kind)
    with pytest.raises(TypeError):
        la.isdtype(la.asarray(np.ones(2)), "numeric")


# -- result_type ------------------------------------------------------------------------------
@pytest.mark.parametrize("first", REAL)
def test_result_type_of_dtypes_and_arrays_matches_numpy(first: str) -> None:
    for second in REAL:
        want = np.result_type(np.dtype(first), np.dtype(second))
        assert la.result_type(getattr(la, first), getattr(la, second)) == want
        lazy = la.asarray(np.zeros(2, second))
        assert la.result_type(np.dtype(first), lazy) == want
        assert la.result_type(np.zeros(3, first), lazy, la.bool) == \
            np.result_type(np.dtype(first), np.dtype(second), np.bool_)
        assert la.result_type(np.dtype(first).type, np.dtype(second)) == want
    assert la.result_type(getattr(la, first)) == np.dtype(first)


@pytest.mark.parametrize("name", REAL)
def test_result_type_with_python_scalars_is_nep50(name: str) -> None:
    dt = np.dtype(name)
    for scalar in [True, 0, 1, 1000, -1, 1.5, -0.0]:
        assert la.result_type(dt, scalar) == np.result_type(dt, scalar)
        assert la.result_type(scalar, la.asarray(np.zeros(1, dt))) == np.result_type(scalar, dt)
    assert la.result_type(la.int8, 1) == la.int8  # weak: the array's dtype decides
    assert la.result_type(la.float32, 1.0) == la.float32
    if dt.kind == "f":
        assert la.result_type(dt, 1j) == np.result_type(dt, 1j)  # a complex dtype is named


def test_result_type_errors() -> None:
    for args in [(), (1, 2.0), (True,)]:
        with pytest.raises(ValueError, match="at least one array or dtype"):
            la.result_type(*args)
    with pytest.raises(TypeError):
        la.result_type(np.dtype("S4"))
    assert la.result_type(np.float16) == np.float16  # not the standard's, but lazyarr's
    with pytest.raises(TypeError):
        la.result_type(la.float32, "float64")
    with pytest.raises(TypeError):
        la.result_type(np.zeros(2, "datetime64[s]"))


# -- can_cast ---------------------------------------------------------------------------------
def _standard_can_cast(src: np.dtype, dst: np.dtype) -> bool:
    """The standard's rule, written independently: within a kind, to a type holding every
    value of the source (bool only to bool; a real float to a complex of at least its
    precision)."""
    if src.kind == "b" or dst.kind == "b":
        return src == dst
    if src.kind in "iu" and dst.kind in "iu":
        s, d = np.iinfo(src), np.iinfo(dst)
        return d.min <= s.min and s.max <= d.max
    if src.kind in "fc" and dst.kind in "fc":
        if src.kind == "c" and dst.kind == "f":
            return False
        return np.finfo(src).bits <= np.finfo(dst).bits
    return False


@pytest.mark.parametrize("src", NAMED)
def test_can_cast_follows_the_standard(src: str) -> None:
    for dst in NAMED:
        want = _standard_can_cast(np.dtype(src), np.dtype(dst))
        assert la.can_cast(getattr(la, src), getattr(la, dst)) == want, (src, dst)
        if src in REAL:
            assert la.can_cast(la.asarray(np.zeros(2, src)), getattr(la, dst)) == want
            assert la.can_cast(np.zeros(2, src), getattr(la, dst)) == want


def test_can_cast_departs_from_numpy_where_the_standard_does() -> None:
    # NumPy's safe casting allows these; the standard's promotion rules do not
    for src, dst in [(la.int8, la.float32), (la.bool, la.int8), (la.int64, la.float64),
                     (la.uint8, la.float32)]:
        assert np.can_cast(src, dst) and not la.can_cast(src, dst)
    assert la.can_cast(la.uint8, la.int16) and not la.can_cast(la.uint64, la.int64)
    with pytest.raises(TypeError):
        la.can_cast(la.float32, np.zeros(2))
    with pytest.raises(TypeError):
        la.can_cast("int8", la.int16)


# -- finfo and iinfo --------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["float32", "float64", "complex64", "complex128"])
def test_finfo_matches_numpy(name: str) -> None:
    want = np.finfo(np.dtype(name))
    for arg in [getattr(la, name), *([la.asarray(np.ones(2, name))] if name in REAL else [])]:
        got = la.finfo(arg)
        assert (got.bits, got.eps, got.max, got.min, got.smallest_normal) == \
            (want.bits, want.eps, want.max, want.min, want.smallest_normal)
        assert got.dtype == want.dtype and got.dtype.kind == "f"
        assert all(type(v) is float for v in (got.eps, got.max, got.min, got.smallest_normal))
        assert type(got.bits) is int and got.tiny == got.smallest_normal


@pytest.mark.parametrize("name", [n for n in REAL if n[0] in "iu"])
def test_iinfo_matches_numpy(name: str) -> None:
    want = np.iinfo(np.dtype(name))
    for arg in [getattr(la, name), np.zeros(1, name), la.asarray(np.zeros(1, name)) + 1]:
        got = la.iinfo(arg)
        assert (got.bits, got.max, got.min, got.dtype) == (want.bits, want.max, want.min,
                                                           np.dtype(name))
        assert all(type(v) is int for v in (got.bits, got.max, got.min))


def test_finfo_iinfo_errors() -> None:
    for fn, arg in [(la.finfo, la.int32), (la.finfo, la.bool), (la.iinfo, la.float32),
                    (la.iinfo, la.bool)]:
        with pytest.raises(ValueError):
            fn(arg)
    with pytest.raises(TypeError):
        la.finfo(np.dtype("S4"))
    with pytest.raises(TypeError):
        la.iinfo("int8")
    # float16 is not the standard's, but lazyarr stores it: NumPy's limits
    half = la.finfo(np.float16)
    assert (half.bits, half.eps, half.max) == (16, float(np.finfo(np.float16).eps), 65504.0)


# -- astype -----------------------------------------------------------------------------------
_VALUES = np.array([0, 1, -1, 2.5, -2.5, 100.7, -128, 127, 255, 3e4, -0.0, 0.5])


def _sample(name: str) -> np.ndarray:
    return (_VALUES != 0) if name == "bool" else _VALUES.astype(name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("src", REAL)
def test_astype_matches_numpy(src: str, backend: str) -> None:
    x = _sample(src)
    with np.errstate(all="ignore"):
        for dst in REAL:
            want = x.astype(dst)
            if np.dtype(dst).kind in "iu" and x.dtype.kind == "f":
                info = np.iinfo(dst)
                keep = (x >= info.min) & (x <= info.max)  # others: lazyarr saturates
            else:
                keep = np.ones(x.shape, bool)
            got = la.eval(la.astype(x, getattr(la, dst)), backend=backend)
            assert got.dtype == want.dtype and got.flags.writeable
            np.testing.assert_array_equal(got[keep], want[keep])
            assert not np.shares_memory(got, x)


def test_astype_copy_and_identity() -> None:
    x = np.arange(4.0)
    lazy = la.asarray(x)
    assert la.astype(lazy, la.float64, copy=False) is lazy
    copied = la.astype(lazy, la.float64)
    assert copied is not lazy
    result = copied.eval()
    assert not np.shares_memory(result, x) and result.flags.c_contiguous
    np.testing.assert_array_equal(result, x)
    view = la.astype(lazy[::2], la.float64, copy=True).eval()  # a view of the leaf: copied too
    assert not np.shares_memory(view, x)
    expr = lazy * 2
    assert la.astype(expr, la.float64, copy=True)._node is expr._node  # new memory anyway
    np.testing.assert_array_equal(la.astype(x.tolist(), la.int8).eval(), x.astype(np.int8))


def test_astype_saturates_float_to_int() -> None:
    x = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 3.9, -3.9])
    np.testing.assert_array_equal(la.astype(x, la.int8).eval(), [0, 127, -128, 127, -128, 3, -3])
    np.testing.assert_array_equal(la.astype(x, la.uint16).eval(), [0, 65535, 0, 65535, 0, 3, 0])


def test_astype_errors_and_device() -> None:
    x = la.asarray(np.ones(3))
    assert la.astype(x, la.complex64).eval().dtype == np.complex64
    assert la.astype(x, np.float16).eval().dtype == np.float16
    with pytest.raises(TypeError):
        la.astype(x, np.clongdouble)
    with pytest.raises(ValueError):
        la.astype(x, la.float32, device="tpu")
    assert la.astype(x, la.float32, device="cpu").eval().dtype == np.float32
    assert la.astype(x, la.float64, copy=False, device="cpu") is x
    with pytest.raises(TypeError):
        la.astype(x, la.float32, False)  # copy is keyword-only
