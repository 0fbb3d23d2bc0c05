"""The array API standard's ``fft`` extension (``la.fft``) against ``numpy.fft``.

``fftfreq``/``rfftfreq`` (computed from the element index in one kernel) and
``fftshift``/``ifftshift`` (rolls: views joined by concatenate) are lazy and compared with
NumPy on both backends. The ten transforms are host calls of ``numpy.fft`` (complex values
are pairs of real expressions around them), compared with NumPy on both backends too.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.exceptions import AxisError

import lazyarr as la
from lazyarr import fft

BACKENDS = ["cpu", "interp"]
RNG = np.random.default_rng(5)
STANDARD_NAMES = {"fft", "ifft", "fftn", "ifftn", "rfft", "irfft", "rfftn", "irfftn", "hfft",
                  "ihfft", "fftfreq", "rfftfreq", "fftshift", "ifftshift"}
ONE_AXIS = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"]
N_AXES = ["fftn", "ifftn", "rfftn", "irfftn"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def test_the_namespace_is_the_standards() -> None:
    assert set(fft.__all__) == STANDARD_NAMES
    assert all(callable(getattr(fft, name)) for name in STANDARD_NAMES)


# -- frequencies -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fftfreq", "rfftfreq"])
@pytest.mark.parametrize("n", [1, 2, 3, 8, 9, 100])
@pytest.mark.parametrize("d", [1.0, 0.25, 3, -0.1])
def test_frequencies_match_numpy(name: str, n: int, d: float, backend: str) -> None:
    want = getattr(np.fft, name)(n, d)
    got = getattr(fft, name)(n, d=d).eval(backend=backend)
    assert got.dtype == want.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)  # the same integer times the same factor


@pytest.mark.parametrize("name", ["fftfreq", "rfftfreq"])
def test_frequencies_in_float32(name: str, backend: str) -> None:
    for n in (5, 64):
        got = getattr(fft, name)(n, d=0.1, dtype=la.float32 if hasattr(la, "float32")
                                 else np.float32).eval(backend=backend)
        want = getattr(np.fft, name)(n, 0.1).astype(np.float32)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_frequencies_are_one_kernel_that_reads_nothing() -> None:
    expr = fft.fftfreq(16, d=0.5) * 2 * np.pi + fft.rfftfreq(30)[:16]
    plan = la.explain(expr)
    assert len(plan.kernel_objects) == 1
    np.testing.assert_allclose(expr.eval(),
                               np.fft.fftfreq(16, 0.5) * 2 * np.pi + np.fft.rfftfreq(30)[:16])


def test_frequency_errors() -> None:
    for name in ("fftfreq", "rfftfreq"):
        ours, theirs = getattr(fft, name), getattr(np.fft, name)
        for n, error in ((2.0, ValueError), (0, ZeroDivisionError)):
            with pytest.raises(error):
                theirs(n)
            with pytest.raises(error):
                ours(n)
        with pytest.raises(TypeError):
            ours(4, dtype=np.int32)
        with pytest.raises(TypeError):
            ours(4, dtype=np.float16)
        with pytest.raises(ValueError):
            ours(4, device="gpu0")
    with pytest.raises(ValueError):
        np.fft.fftfreq(-3)
    with pytest.raises(ValueError):
        fft.fftfreq(-3)
    assert fft.rfftfreq(-3).eval().shape == np.fft.rfftfreq(-3).shape == (0,)


# -- shifts ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fftshift", "ifftshift"])
@pytest.mark.parametrize("shape", [(7,), (8,), (5, 6), (3, 1, 4), (0, 3), ()])
@pytest.mark.parametrize("axes", [None, 0, -1, (0, -1), (-1, 0, -1), [0]])
@pytest.mark.parametrize("dtype", ["float64", "int16", "bool"])
def test_shifts_match_numpy(name: str, shape: tuple[int, ...], axes, dtype: str,
                            backend: str) -> None:
    if not shape and axes is not None:
        return  # no axis to name
    x = (RNG.standard_normal(shape) * 10).astype(dtype)
    # NumPy's roll of a 0-d array fails (zip of no axes); nothing moves, so x is the answer
    want = getattr(np.fft, name)(x, axes=axes) if shape else x
    for source in (x, la.asarray(x) + np.zeros((), dtype)):
        got = getattr(fft, name)(source, axes=axes).eval(backend=backend)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


def test_shift_inverts_and_fuses() -> None:
    x = RNG.standard_normal((5, 8))
    lazy = la.asarray(x)
    back = fft.ifftshift(fft.fftshift(lazy * 2)) / 2
    np.testing.assert_allclose(back.eval(), x)
    one = np.ones((1, 1))  # nothing moves, yet the result is a new array, as NumPy's
    assert not np.shares_memory(fft.fftshift(one).eval(), one)
    expr = la.exp(fft.fftshift(lazy, axes=1)) + 1  # views into concatenate, then one kernel
    np.testing.assert_allclose(expr.eval(), np.exp(np.fft.fftshift(x, axes=1)) + 1)
    assert len(la.explain(expr).kernel_objects) == 1


def test_shift_axis_errors() -> None:
    x = np.ones((3, 4))
    for axes in (2, (0, -3)):
        with pytest.raises(IndexError):
            np.fft.fftshift(x, axes=axes)
        with pytest.raises(IndexError):  # numpy's AxisError is an IndexError too
            fft.fftshift(x, axes=axes)
    with pytest.raises(AxisError):
        fft.ifftshift(x, axes=5)


# -- transforms: host calls of numpy.fft on complex (or real) inputs ----------------------------
def _input(name: str, dtype: str, shape: tuple[int, ...] = (4, 6)) -> np.ndarray:
    x = RNG.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * RNG.standard_normal(shape)
    return x.astype(dtype)


@pytest.mark.parametrize("name", ONE_AXIS + N_AXES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "complex64", "complex128"])
def test_transforms_are_numpys(name: str, dtype: str, backend: str) -> None:
    if name in ("rfft", "rfftn", "ihfft") and dtype.startswith("complex"):
        with pytest.raises(TypeError, match="real-valued"):
            getattr(fft, name)(la.asarray(_input(name, dtype)))
        return
    x = _input(name, dtype)
    for norm in ("backward", "ortho", "forward"):
        want = getattr(np.fft, name)(x, norm=norm)
        got = getattr(fft, name)(la.asarray(x), norm=norm)
        assert (got.dtype, got.shape) == (want.dtype, want.shape)
        tol = 1e-5 if want.dtype in (np.complex64, np.float32) else 1e-12
        np.testing.assert_allclose(got.eval(backend=backend), want, rtol=tol, atol=tol)


def test_transforms_fuse_around_the_host_step() -> None:
    x = RNG.standard_normal((8, 16))
    expr = la.abs(fft.rfft(la.asarray(x) * 2.0, axis=-1)) ** 2 + 1.0
    np.testing.assert_allclose(expr.eval(), np.abs(np.fft.rfft(x * 2.0)) ** 2 + 1.0,
                               rtol=1e-12)
    kinds = [s.kind for s in la.explain(expr).plan]
    # the prologue, NumPy's transform (one call, its two results: the parts), one kernel
    assert kinds == ["kernel", "opaque", "opaque", "kernel"]


@pytest.mark.parametrize("name", ONE_AXIS)
@pytest.mark.parametrize("shape", [(8,), (5,), (3, 6), (2, 5, 4)])
@pytest.mark.parametrize("n", [None, 1, 4, 7, 16])
@pytest.mark.parametrize("axis", [-1, 0])
def test_one_axis_shapes_and_calls_are_numpys(name: str, shape: tuple[int, ...], n, axis
                                              ) -> None:
    """Each transform's shape and the NumPy call its host node makes, against NumPy run
    directly."""
    x = RNG.standard_normal(shape)
    if name in ("irfft", "hfft") and n is None and x.shape[axis] == 1:
        return  # NumPy's own error: 0 output points
    want = getattr(np.fft, name)(x, n=n, axis=axis)
    got_shape, n_used, axis_used = fft._shape_1d(name, x.shape, n, axis)
    assert got_shape == want.shape
    np.testing.assert_array_equal(fft._run_1d(x, name, n_used, axis_used, "backward"), want)


@pytest.mark.parametrize("name", N_AXES)
@pytest.mark.parametrize(("shape", "s", "axes"), [
    ((4, 6), None, None), ((4, 6), (3, 8), (0, 1)), ((2, 5, 4), None, (0, 2)),
    ((2, 5, 4), (6,), (1,)), ((3, 4), (-1, 5), (-1, 0)), ((2, 3, 4), None, (-2,)),
])
def test_n_axes_shapes_and_calls_are_numpys(name: str, shape, s, axes) -> None:
    x = RNG.standard_normal(shape)
    want = getattr(np.fft, name)(x, s=s, axes=axes)
    got_shape, sizes, axes_used = fft._shape_nd(name, x.shape, s, axes)
    assert got_shape == want.shape
    np.testing.assert_allclose(fft._run_nd(x, name, sizes, axes_used, "ortho"),
                               getattr(np.fft, name)(x, s=s, axes=axes, norm="ortho"))


def test_transform_dtypes_and_argument_checks_are_numpys() -> None:
    """Result dtypes are NumPy's, and bad lengths, axes and norms raise NumPy's exceptions."""
    for name in ONE_AXIS + N_AXES:
        for dtype in (np.float32, np.float64, np.int16):
            want = getattr(np.fft, name)(np.ones((2, 4), dtype)).dtype
            assert fft._result_dtype(name, np.dtype(dtype)) == want, (name, dtype)
    for n in (0, -2):
        with pytest.raises(ValueError):
            np.fft.fft(np.ones(4), n=n)
        with pytest.raises(ValueError):
            fft._shape_1d("fft", (4,), n, -1)
    with pytest.raises(ValueError):
        fft._shape_nd("fftn", (4, 4), (2, 2), (0,))
    with pytest.raises(ValueError):
        fft._check_norm("sideways")
    with pytest.raises(AxisError):
        fft._shape_1d("fft", (4,), None, 1)
