"""The array object of the array API standard: namespace, device, DLPack, Python scalars,
operators (reflected and in place), ``asarray``'s ``copy`` and ``from_dlpack``, and lazy arrays
that operators hand out again (never shared between two names)."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pytest

import lazyarr as la
from lazyarr.front.functions import from_dlpack
from lazyarr.run import fastpath

RNG = np.random.default_rng(5)


# -- namespace and device ----------------------------------------------------------------------
def test_array_namespace() -> None:
    a = la.asarray(np.arange(3.0))
    assert a.__array_namespace__() is la
    for version in ("2021.12", "2022.12", "2023.12", "2024.12"):
        assert a.__array_namespace__(api_version=version) is la
    for bad in ("2020.10", "2025.12", "latest"):
        with pytest.raises(ValueError, match="not supported"):
            a.__array_namespace__(api_version=bad)


def test_device_and_to_device() -> None:
    a = la.asarray(np.arange(3.0)) * 2
    assert a.device == "cpu"
    assert a.to_device("cpu") is a
    assert a.to_device(a.device) is a
    with pytest.raises(ValueError, match="unknown device"):
        a.to_device("tpu")
    with pytest.raises(ValueError, match="stream"):
        a.to_device("cpu", stream=1)


def test_device_of_device_arrays(monkeypatch: pytest.MonkeyPatch) -> None:
    """Arrays in (stand-in) device memory: no driver is needed to ask where they live."""
    from lazyarr.backends import cuda_memory

    from lazyarr.ir import graph

    monkeypatch.setattr(graph.Buffer, "foreign", graph.Buffer.foreign)  # restored afterwards
    fake = cuda_memory.DeviceArray((3,), np.float32, None, 0x7F00_0000_1000)
    a = la.asarray(fake)
    assert (a * 2).device == "cuda:0" and a.__dlpack_device__() == (2, 0)
    assert a.to_device("cuda") is a
    assert (la.asarray(np.ones(3, np.float32)) * 2).device == "cpu"
    with pytest.raises(TypeError, match="mixes host"):
        _ = (a + np.ones(3, np.float32)).device


# -- DLPack ------------------------------------------------------------------------------------
def test_dlpack_through_numpy() -> None:
    x = np.arange(6.0).reshape(2, 3)
    a = la.asarray(x) * 2 + 1
    assert a.__dlpack_device__() == (1, 0)
    np.testing.assert_array_equal(np.from_dlpack(a), x * 2 + 1)
    leaf = la.asarray(x)
    assert np.shares_memory(np.from_dlpack(leaf), x)  # the result is the captured array
    assert not np.shares_memory(np.from_dlpack(leaf, copy=True), x)


def test_dlpack_into_torch_shares_the_result() -> None:
    torch = pytest.importorskip("torch")
    x = np.arange(6.0, dtype=np.float32)
    t = torch.from_dlpack(la.asarray(x)[::2])
    assert t.dtype == torch.float32 and t.tolist() == [0.0, 2.0, 4.0]
    assert np.shares_memory(t.numpy(), x)  # zero-copy: a view of the captured array
    e = torch.from_dlpack(la.exp(la.asarray(x)))
    np.testing.assert_allclose(e.numpy(), np.exp(x), rtol=1e-6)


def test_from_dlpack_captures_without_copying() -> None:
    torch = pytest.importorskip("torch")
    t = torch.arange(5, dtype=torch.float32)
    a = from_dlpack(t)
    assert isinstance(a, la.LazyArray) and a.dtype == np.float32
    assert np.shares_memory(a.eval(), t.numpy())
    copied = from_dlpack(t, copy=True)
    assert not np.shares_memory(copied.eval(), t.numpy())
    np.testing.assert_array_equal((a * 2).eval(), np.arange(5.0) * 2)


def test_from_dlpack_of_numpy_and_lazy_arrays() -> None:
    x = np.arange(4.0)
    assert np.shares_memory(from_dlpack(x).eval(), x)
    lazy = la.asarray(x) + 1
    assert from_dlpack(lazy) is lazy
    assert from_dlpack(lazy, copy=True) is not lazy
    np.testing.assert_array_equal(from_dlpack(x, device="cpu").eval(), x)


# -- Python scalars -----------------------------------------------------------------------------
CONVERSIONS = [bool, int, float, complex, operator.index]


@pytest.mark.parametrize(("value", "want"), [
    (np.array(1.5), [True, 1, 1.5, 1.5 + 0j, TypeError]),
    (np.array(-0.0), [False, 0, -0.0, complex(-0.0), TypeError]),
    (np.array(3, np.int8), [True, 3, 3.0, 3 + 0j, 3]),
    (np.array(2**63 + 1, np.uint64), [True, 2**63 + 1, float(2**63 + 1), None, 2**63 + 1]),
    (np.array(True), [True, 1, 1.0, 1 + 0j, TypeError]),
    (np.array(np.nan), [True, ValueError, None, None, TypeError]),
    (np.array(-np.inf), [True, OverflowError, -np.inf, complex(-np.inf), TypeError]),
    (np.array([2.0]), [True, TypeError, TypeError, TypeError, TypeError]),
    (np.array([[0]]), [False, TypeError, TypeError, TypeError, TypeError]),
    (np.array([]), [ValueError, TypeError, TypeError, TypeError, TypeError]),
    (np.array([1, 2]), [ValueError, TypeError, TypeError, TypeError, TypeError]),
], ids=repr)
def test_python_scalars(value: np.ndarray, want: list) -> None:
    """The standard's rules (0-d arrays; ``__index__`` for integers only), which are NumPy
    2.4's; ``bool`` takes any one-element array, as NumPy's does."""
    lazy = la.asarray(value)
    for convert, expected in zip(CONVERSIONS, want, strict=True):
        if expected is None:
            continue
        if isinstance(expected, type):
            with pytest.raises(expected):
                convert(lazy)
        else:
            got = convert(lazy)
            assert type(got) is type(expected) and got == expected
            if isinstance(got, float):
                assert np.signbit(got) == np.signbit(expected)
    nan = float(la.asarray(np.array(np.nan)))
    assert nan != nan
    assert np.isnan(complex(la.asarray(np.array(np.nan))).real)


def test_iteration_and_transposes() -> None:
    x = np.arange(24).reshape(2, 3, 4)
    items = list(la.asarray(x[0, 0]))
    assert [i.shape for i in items] == [()] * 4 and [int(i) for i in items] == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="0-d"):
        iter(la.asarray(np.array(1)))
    np.testing.assert_array_equal(la.asarray(x).T.eval(), x.T)  # NumPy's T: all axes
    np.testing.assert_array_equal(la.asarray(x).mT.eval(), x.mT)
    with pytest.raises(ValueError):
        _ = la.asarray(np.arange(3)).mT


# -- operators ----------------------------------------------------------------------------------
BINARY = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
          "lshift", "rshift", "lt", "le", "gt", "ge", "eq", "ne"]
INTEGER_ONLY = {"and", "or", "xor", "lshift", "rshift"}


def _operands(name: str, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    x = RNG.integers(1, 6, (3, 4)).astype(dtype)
    y = RNG.integers(1, 4, (4,)).astype(dtype)
    return x, y


@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dtype", ["int32", "float32", "float64"])
def test_binary_operators_and_reflected_forms(name: str, dtype: str, backend: str) -> None:
    if name in INTEGER_ONLY and dtype != "int32":
        pytest.skip("bitwise operators take integers")
    x, y = _operands(name, dtype)
    a = la.asarray(x)
    method = f"__{name}__"
    cases = [(getattr(a, method)(la.asarray(y)), getattr(x, method)(y)),
             (getattr(a, method)(y), getattr(x, method)(y)),
             (getattr(a, method)(2), getattr(x, method)(2))]
    if not name.endswith(("t", "e", "q")) or name in ("mul", "sub"):
        reflected = f"__r{name}__"
        cases += [(getattr(a, reflected)(3), getattr(x, reflected)(3)),
                  (getattr(la.asarray(y), reflected)(x), getattr(y, reflected)(x))]
    if dtype != "int32":
        cases.append((getattr(a, method)(2.0), getattr(x, method)(2.0)))  # NEP 50: stays
    for lazy, want in cases:
        assert isinstance(lazy, la.LazyArray)
        got = lazy.eval(backend=backend)
        assert got.dtype == want.dtype, name
        np.testing.assert_allclose(got, want, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["int8", "uint16", "float32", "bool"])
def test_unary_operators(dtype: str, backend: str) -> None:
    x = (RNG.standard_normal(7) * 50).astype(dtype)
    a = la.asarray(x)
    cases = {"__abs__": abs, "__invert__": operator.invert, "__neg__": operator.neg,
             "__pos__": operator.pos}
    for method, fn in cases.items():
        try:
            want = fn(x)
        except TypeError:
            with pytest.raises(TypeError):
                getattr(a, method)()
            continue
        got = getattr(a, method)().eval(backend=backend)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def test_matmul_both_ways() -> None:
    x, w = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    np.testing.assert_allclose((la.asarray(x) @ w).eval(), x @ w, rtol=1e-13)
    np.testing.assert_allclose((x @ la.asarray(w)).eval(), x @ w, rtol=1e-13)
    assert isinstance(x @ la.asarray(w), la.LazyArray)


def test_python_scalar_out_of_range_is_numpys_error() -> None:
    with pytest.raises(OverflowError):
        np.arange(3, dtype=np.int8) + 300
    with pytest.raises(OverflowError):
        la.asarray(np.arange(3, dtype=np.int8)) + 300


# -- in-place operators: the name is rebound, memory never written ------------------------------
IN_PLACE = ["add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
            "lshift", "rshift"]


@pytest.mark.parametrize("name", IN_PLACE)
@pytest.mark.parametrize(("dtype", "other_dtype"), [("int16", "int8"), ("float32", "float64"),
                                                    ("int64", "int64")])
def test_in_place_operators_match_numpy(name: str, dtype: str, other_dtype: str,
                                        backend: str) -> None:
    if name in INTEGER_ONLY and dtype[0] == "f":
        pytest.skip("bitwise operators take integers")
    x = RNG.integers(1, 9, (3, 4)).astype(dtype)
    y = RNG.integers(1, 3, (4,)).astype(other_dtype)
    method = f"__i{name}__"
    want = x.copy()
    try:
        want = getattr(want, method)(y)
    except TypeError as exc:  # NumPy's casting rule refuses it: so does lazyarr
        with pytest.raises(TypeError, match="same_kind"):
            getattr(la.asarray(x), method)(y)
        assert "same_kind" in str(exc)
        return
    captured = x.copy()
    a = la.asarray(captured)
    alias = a
    result = getattr(a, method)(la.asarray(y))
    assert result is a and alias is a  # one object, as in NumPy
    got = a.eval(backend=backend)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(captured, x)  # never written


def test_in_place_operator_errors() -> None:
    a = la.asarray(np.arange(3))
    with pytest.raises(TypeError, match="same_kind"):
        a += 1.5  # int64 += float: NumPy's UFuncTypeError, a TypeError
    with pytest.raises(TypeError, match="same_kind"):
        a /= 2
    with pytest.raises(ValueError, match="non-broadcastable output"):
        a += np.ones((2, 3), np.int64)
    np.testing.assert_array_equal(a.eval(), [0, 1, 2])  # unchanged by the failures
    m = la.asarray(np.eye(2))
    m @= np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(m.eval(), [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError):
        m @= np.ones((2, 3))


def test_in_place_wraps_like_numpy() -> None:
    x = np.array([100, -100], np.int8)
    a = la.asarray(x)
    a += np.array([100, -100], np.int64)  # computed in int64, cast back: wraps
    want = x.copy()
    want += np.array([100, -100], np.int64)
    np.testing.assert_array_equal(a.eval(), want)


# -- asarray's copy ---------------------------------------------------------------------------
def test_asarray_copy_of_numpy_input() -> None:
    x = np.arange(5.0)
    assert np.shares_memory(la.asarray(x).eval(), x)
    assert np.shares_memory(la.asarray(x, copy=False).eval(), x)
    copied = la.asarray(x, copy=True)
    assert not np.shares_memory(copied.eval(), x)
    x[0] = 100.0
    assert copied.eval()[0] == 0.0  # copied when asarray ran
    cast = la.asarray(x, dtype=np.float32)
    assert cast.dtype == np.float32
    for obj, kwargs in [(x, {"dtype": np.float32}), ([1, 2], {}), (3.0, {})]:
        with pytest.raises(ValueError, match="copy"):
            la.asarray(obj, copy=False, **kwargs)
    assert la.asarray([1, 2], copy=True).dtype == np.int64
    assert la.asarray(True).dtype == np.dtype(bool)


def test_asarray_copy_of_lazy_input() -> None:
    a = la.asarray(np.arange(4.0)) * 2
    assert la.asarray(a) is a and la.asarray(a, copy=False) is a
    c = la.asarray(a, copy=True)
    assert c is not a
    c[0] = 50.0
    np.testing.assert_array_equal(a.eval(), [0.0, 2.0, 4.0, 6.0])
    np.testing.assert_array_equal(c.eval(), [50.0, 2.0, 4.0, 6.0])
    assert la.asarray(a, dtype=np.float32).dtype == np.float32
    assert la.asarray(a, dtype=np.float64, copy=False).dtype == np.float64
    with pytest.raises(ValueError, match="copy"):
        la.asarray(a, dtype=np.float32, copy=False)
    assert la.asarray(a, device="cpu") is a
    t = la.array(la.asarray(np.arange(3.0)))  # array() copies, as NumPy's does
    src = np.arange(3.0)
    t2 = la.array(la.asarray(src))
    src[0] = 9.0
    assert t2.eval()[0] == 0.0 and t.eval()[0] == 0.0


# -- lazy arrays operators hand out again ------------------------------------------------------
def _writers(a: Any, b: Any) -> dict[str, Any]:
    return {
        "binary": lambda: a * 2.0 + b,
        "reflected": lambda: 2.0 - a,
        "unary": lambda: -a,
        "function": lambda: la.sqrt(a),
        "where": lambda: la.where(a > 1, a, b),
        "sum": lambda: a.sum(axis=0),
        "mean": lambda: a.mean(),
    }


@pytest.mark.parametrize("kind", list(_writers(None, None)))
def test_an_update_never_reaches_an_equal_expression(kind: str) -> None:
    a, b = la.asarray(np.arange(4.0) + 1), la.asarray(np.ones(4))
    write = _writers(a, b)[kind]
    y = write()
    z = write()
    assert y is not z  # y is held: z is another array of the same expression
    want = z.eval().copy()
    if y.ndim:
        y[...] = -1.0
    else:
        y += 100.0
    np.testing.assert_array_equal(z.eval(), want)
    np.testing.assert_array_equal(write().eval(), want)  # and so is anything written later
    assert not np.array_equal(y.eval(), want)


def test_loops_still_get_the_kept_lazy_array() -> None:
    a, b = la.asarray(np.arange(3.0)), la.asarray(np.ones(3))
    la.clear_cache()
    (a * 2.0 + b).eval()
    kept = id(a * 2.0 + b)  # dropped by us, kept (alive) by the operators' table
    for _ in range(3):
        assert id(a * 2.0 + b) == kept  # nobody else holds it: the same object
        (a * 2.0 + b).eval()
    held = a * 2.0 + b
    assert id(held) == kept
    twin = a * 2.0 + b
    assert twin is not held and twin._node is held._node
    assert twin._ready is held._ready  # the ready launch comes along


def test_in_place_update_of_a_kept_lazy_array() -> None:
    a = la.asarray(np.arange(3.0))
    y = a * 2.0
    y += 1.0
    np.testing.assert_array_equal((a * 2.0).eval(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(y.eval(), [1.0, 3.0, 5.0])
    assert len(fastpath.wrappers) <= fastpath.WRAPPERS


def test_found_by_the_conformance_suite() -> None:
    """Cases the array API test suite found: a 0-d masked assignment, an empty mask, asarray
    of a lazy array with its own dtype and copy=False, the standard's signatures."""
    import inspect

    x = la.asarray(1.0)
    x[la.asarray(True)] = 2.0
    y = la.asarray(1.0)
    y[la.asarray(False)] = 2.0
    assert (float(x), float(y)) == (2.0, 1.0)
    assert la.ones((1,))[la.zeros((0,), dtype=la.bool)].shape == (0,)
    assert la.ones((2, 3))[la.zeros((2, 0), dtype=la.bool)].shape == (0,)
    with pytest.raises(IndexError):
        la.ones((2, 3))[la.zeros((0, 2), dtype=la.bool)]  # NumPy's rule: only 0 is free
    a = la.asarray([1], dtype=la.uint8)
    b = la.asarray(a, dtype=la.uint8, copy=False)
    a[0] = 0
    assert int(b[0]) == 0  # the same array, as NumPy's shared memory
    assert str(inspect.signature(la.add)) == "(x1, x2, /)"
    assert str(inspect.signature(la.sin)) == "(x, /)"
    assert "axis" in inspect.signature(la.all).parameters
