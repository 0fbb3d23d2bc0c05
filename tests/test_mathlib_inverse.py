"""arcsin, arccos, arctan2, arcsinh, arccosh and arctanh from lazyarr's own math library
(``codegen/mathlib_inverse.py``) through the public API.

Accuracy against mpmath (200 bits) on random points over each domain and its hard ranges
(near +-1, near 1 for arccosh, tiny and huge arguments, subnormals; ``LAZYARR_TEST_EXAMPLES``
points per function, dtype and range, 1000 without it), special values exactly as NumPy
(signs of zeros included, arctan2's whole table of zeros and infinities), vector calls in
the optimised CPU IR, and PTX without libdevice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import mpmath
import numpy as np
import pytest
from kernel_cases import evaluate_function as evaluate
from lazyarr.codegen import mathlib, nvptx, scalar

import lazyarr as la
from lazyarr.ir.graph import Op

FLOATS = (np.float32, np.float64)
UNARY = ("arcsin", "arccos", "arcsinh", "arccosh", "arctanh")
NAMES = (*UNARY, "arctan2")
BOUND = 4.0  # ULP, docs/math.md (measured: under 1.5)
EXAMPLES = int(os.environ.get("LAZYARR_TEST_EXAMPLES") or 1000)
MP: dict[str, Callable[..., mpmath.mpf]] = {
    "arcsin": mpmath.asin, "arccos": mpmath.acos, "arctan2": mpmath.atan2,
    "arcsinh": mpmath.asinh, "arccosh": mpmath.acosh, "arctanh": mpmath.atanh}
C_NAMES = {"arcsin": "asin", "arccos": "acos", "arctan2": "atan2", "arcsinh": "asinh",
           "arccosh": "acosh", "arctanh": "atanh"}


# -- inputs ----------------------------------------------------------------------------------
def _log_uniform(rng: np.random.Generator, lo: float, hi: float, dt: type,
                 signed: bool = True) -> np.ndarray:
    x = np.exp2(rng.uniform(lo, hi, EXAMPLES))
    if signed:
        x = x * rng.choice([-1.0, 1.0], EXAMPLES)
    with np.errstate(over="ignore"):
        return x.astype(dt)


def _near_one(rng: np.random.Generator, dt: type) -> np.ndarray:
    """1 - d, d log-uniform from half an epsilon to 1/2: arcsin/arccos/arctanh's hard end."""
    eps = float(np.finfo(dt).eps)
    return (1 - _log_uniform(rng, np.log2(eps) - 1, -1, np.float64, False)).astype(dt)


def inputs(name: str, dt: type, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    info = np.finfo(dt)
    small, big = float(info.minexp - info.nmant), float(info.maxexp)
    if name in ("arcsin", "arccos", "arctanh"):
        near = _near_one(rng, dt)
        return (np.concatenate([rng.uniform(-1, 1, EXAMPLES).astype(dt),
                                _log_uniform(rng, small, 0, dt), near, -near]),)
    if name == "arcsinh":
        return (np.concatenate([rng.uniform(-4, 4, EXAMPLES).astype(dt),
                                _log_uniform(rng, small, big, dt)]),)
    if name == "arccosh":
        eps = float(np.finfo(dt).eps)
        near = (1 + _log_uniform(rng, np.log2(eps) - 1, 3, np.float64, False)).astype(dt)
        return (np.concatenate([near, _log_uniform(rng, 0, big, dt, False)]),)
    # arctan2: magnitudes over the whole range, ratios near each reduction boundary
    y = _log_uniform(rng, small, big, dt)
    x = _log_uniform(rng, small, big, dt)
    base = rng.standard_normal(EXAMPLES).astype(dt)
    ratio = rng.choice([0.41421356, 1.0, 2.41421356], EXAMPLES) * rng.uniform(0.97, 1.03,
                                                                             EXAMPLES)
    near = (base * ratio * rng.choice([-1.0, 1.0], EXAMPLES)).astype(dt)
    return np.concatenate([y, near]), np.concatenate([x, base])


def ulp_errors(name: str, args: tuple[np.ndarray, ...], got: np.ndarray, dt: type
               ) -> np.ndarray:
    """|got - exact| / ulp(exact), exact from mpmath at 200 bits; 0 where exact is outside
    the format (NaN, infinite) and got is the same special (checked elsewhere)."""
    info = np.finfo(dt)
    out = np.zeros(len(got))
    with mpmath.workprec(200):
        for i in range(len(got)):
            try:
                exact = MP[name](*[mpmath.mpf(float(a[i])) for a in args])
            except (ValueError, ZeroDivisionError):
                out[i] = 0.0 if np.isnan(got[i]) else np.inf
                continue
            if isinstance(exact, mpmath.mpc) or not mpmath.isfinite(exact):
                out[i] = 0.0 if not np.isfinite(got[i]) else np.inf
                continue
            if exact == 0:
                out[i] = 0.0 if got[i] == 0 else np.inf
                continue
            e = max(int(mpmath.floor(mpmath.log(abs(exact), 2))), info.minexp)
            ulp = mpmath.ldexp(1, e - info.nmant)
            out[i] = float(abs(mpmath.mpf(float(got[i])) - exact) / ulp)
    return out


# -- accuracy --------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_bound(name: str, dtype: type) -> None:
    args = inputs(name, dtype, np.random.default_rng(11))
    got = evaluate(name, *args)
    err = ulp_errors(name, args, got, dtype)
    worst = int(np.argmax(err))
    assert err[worst] <= BOUND, (err[worst], [float(a[worst]) for a in args])


# -- special values --------------------------------------------------------------------------
def specials(dt: type) -> np.ndarray:
    info = np.finfo(dt)
    one = dt(1)
    return np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0,
                     info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
                     info.max, -info.max, np.nextafter(one, dt(2)), np.nextafter(one, dt(0)),
                     -np.nextafter(one, dt(2)), -np.nextafter(one, dt(0))], dtype=dt)


def _assert_same_specials(want: np.ndarray, got: np.ndarray, where: np.ndarray,
                          what: str) -> None:
    same = (np.isnan(want) & np.isnan(got)) | ((want == got) &
                                                (np.signbit(want) == np.signbit(got)))
    bad = np.nonzero(where & ~same)[0]
    assert not len(bad), f"{what}: at {bad.tolist()} want {want[bad]} got {got[bad]}"


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", UNARY)
def test_specials_as_numpy(name: str, dtype: type) -> None:
    x = specials(dtype)
    with np.errstate(all="ignore"):
        want = getattr(np, name)(x)
    got = evaluate(name, x)
    special = np.isnan(want) | np.isinf(want) | (want == 0)
    _assert_same_specials(want, got, special, name)
    # the exact values the domain edges call for
    if name in ("arcsin", "arccos", "arctanh"):
        assert np.isnan(evaluate(name, np.array([1.5, -1.5, np.inf, -np.inf], dtype))).all()
    if name == "arctanh":
        assert evaluate(name, np.array([1.0, -1.0], dtype)).tolist() == [np.inf, -np.inf]
    if name == "arccosh":
        assert np.isnan(evaluate(name, np.array([0.5, -1.0, -np.inf, 0.0], dtype))).all()


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
def test_arctan2_table_as_numpy(dtype: type) -> None:
    """Every pair of special and ordinary values, bit for bit where an argument is +-0,
    +-inf or NaN (C99 Annex F: atan2(+-0, -0) = +-pi, atan2(+-inf, -inf) = +-3pi/4, ...)."""
    values = np.concatenate([specials(dtype), np.array([3.0, -3.0, 1e-3, -1e-3], dtype)])
    y, x = (v.ravel() for v in np.meshgrid(values, values))
    with np.errstate(all="ignore"):
        want = np.arctan2(y, x)
    got = evaluate("arctan2", y, x)
    edge = ~np.isfinite(x) | ~np.isfinite(y) | (x == 0) | (y == 0)
    _assert_same_specials(want, got, edge | np.isnan(want) | (want == 0), "arctan2")
    pi = dtype(np.pi)
    assert evaluate("arctan2", np.array([0.0, -0.0], dtype), np.array([-0.0, -0.0], dtype)
                    ).tolist() == [pi, -pi]


# -- code ------------------------------------------------------------------------------------
def test_registered() -> None:
    for name in NAMES:
        assert name in mathlib.FUNCTIONS
        for fmt in mathlib.FORMATS.values():
            assert mathlib.support_symbol(name, fmt) in mathlib.SUPPORT_SYMBOLS
        assert nvptx.MATHLIB_NAMES[C_NAMES[name]] == name
        assert nvptx.MATHLIB_NAMES[C_NAMES[name] + "f"] == name
        assert scalar.MATHLIB_OPS[Op(name)] == name


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_vectorised(name: str, dtype: type) -> None:
    x = la.asarray(np.linspace(0.1, 0.9, 1000).astype(dtype))
    ex = la.explain(getattr(la, name)(*((x, x) if name == "arctan2" else (x,))))
    assert ex.vectorised and ex.vector_width > 1
    called = set(re.findall(r'call [^@]*@"?([\w.]+)', ex.llvm_opt))
    suffix = "f64" if dtype == np.float64 else "f32"
    assert any(re.fullmatch(rf"_ZGV_LLVM_N\d+v+_lazyarr_math_{name}_{suffix}", c)
               for c in called), called
    assert not called & {C_NAMES[name], C_NAMES[name] + "f"}


@pytest.mark.parametrize("name", NAMES)
def test_ptx_without_libdevice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                               name: str) -> None:
    monkeypatch.setenv("LAZYARR_LIBDEVICE", str(tmp_path / "no-libdevice.10.bc"))
    assert nvptx.find_libdevice() is None
    for dt in ("float32", "float64"):
        assert nvptx.refusal(Op(name), np.dtype(dt)) is None
        x = la.asarray(np.ones(8, dt))
        (kernel,) = la.explain(getattr(la, name)(*((x, x) if name == "arctan2" else (x,)))
                               ).kernel_objects
        ptx = nvptx.emit_ptx(kernel)
        assert not re.search(r"^\s*call", ptx, re.M) and ".extern" not in ptx
        assert "__nv_" not in ptx
        if shutil.which("ptxas"):
            path = tmp_path / f"{name}-{dt}.ptx"
            path.write_text(ptx)
            proc = subprocess.run(["ptxas", "-arch=sm_90", "-o", os.devnull, str(path)],
                                  capture_output=True, text=True, timeout=120)
            assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", NAMES)
def test_matches_libm_path(monkeypatch: pytest.MonkeyPatch, name: str, dtype: type) -> None:
    """Within a few ULP of glibc's functions (the libm path) on ordinary arguments."""
    rng = np.random.default_rng(3)
    args = inputs(name, dtype, rng)
    ours = evaluate(name, *args)
    monkeypatch.setattr(scalar, "USE_MATHLIB", False)
    la.clear_cache()
    try:
        theirs = evaluate(name, *args)
    finally:
        monkeypatch.setattr(scalar, "USE_MATHLIB", True)
        la.clear_cache()
    both = np.isfinite(ours) & np.isfinite(theirs)
    assert (np.isnan(ours) == np.isnan(theirs)).all()
    spacing = np.abs(np.spacing(theirs[both]))
    assert (np.abs(ours[both] - theirs[both]) <= 6 * spacing).all()
