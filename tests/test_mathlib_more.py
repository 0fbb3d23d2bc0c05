"""exp2, log2, log10, cbrt and hypot from lazyarr's own math library (``codegen/mathlib.py``).

Special values exactly as NumPy, the exact cases (2**k, log2 of powers of two, log10 of
powers of ten, exact cubes, Pythagorean triples at every scale), the error against mpmath
on random points over the whole range and the hard ranges (``LAZYARR_TEST_EXAMPLES`` points
per function and dtype, 2000 by default; at most 1 ULP), vector code on the CPU and PTX
without libdevice.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib

import mpmath
import numpy as np
import pytest
from kernel_cases import check_specials, kernel_of
from kernel_cases import evaluate_function as evaluate
from kernel_cases import same_specials as _same_specials
from lazyarr.backends import cpu
from lazyarr.codegen import mathlib, nvptx

import lazyarr as la
from lazyarr.ir.graph import Op

FLOATS = (np.float32, np.float64)
UNARY = ("exp2", "log2", "log10", "cbrt")
NAMES = (*UNARY, "hypot")
OPS = {"exp2": Op.EXP2, "log2": Op.LOG2, "log10": Op.LOG10, "cbrt": Op.CBRT, "hypot": Op.HYPOT}
EXAMPLES = int(os.environ.get("LAZYARR_TEST_EXAMPLES") or 2000)
BOUND = 1.0  # ULP from the correctly rounded result (docs/math.md: measured at most 0.78)


def _cbrt(x: mpmath.mpf) -> mpmath.mpf:
    return mpmath.sign(x) * mpmath.cbrt(abs(x))  # the real root


MP = {"exp2": lambda x: mpmath.power(2, x), "log2": lambda x: mpmath.log(x, 2),
      "log10": mpmath.log10, "cbrt": _cbrt, "hypot": mpmath.hypot}


def _ids(dtype: type) -> str:
    return np.dtype(dtype).name


# -- special values, exactly as NumPy --------------------------------------------------------
def _specials(dtype: type) -> np.ndarray:
    info = np.finfo(dtype)
    big, small = float(info.maxexp), float(info.minexp - info.nmant)  # 1024 / -1074
    values = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0,
              info.tiny, -info.tiny, info.smallest_subnormal, -info.smallest_subnormal,
              info.max, -info.max, big, big - 1, -big, small, small - 1, small - 2, 1e-30,
              -1e-30, 1e30, -1e30, 10.0, 1000.0, -8.0]
    with np.errstate(over="ignore"):
        return np.array(values, dtype=dtype)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", UNARY)
def test_unary_special_values(name: str, dtype: type) -> None:
    check_specials(name, _specials(dtype), rtol=2 * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_hypot_special_values(dtype: type) -> None:
    """Every pair of specials: hypot(+-inf, NaN) = +inf (C99), NaN otherwise passes, zeros,
    and the largest and smallest magnitudes without overflow or underflow."""
    sx, sy = (a.ravel() for a in np.meshgrid(_specials(dtype), _specials(dtype)))
    got = evaluate("hypot", sx, sy)
    with np.errstate(all="ignore"):
        want = np.hypot(sx, sy)
    ok = _same_specials(got, want)
    assert ok.all(), list(zip(sx[~ok], sy[~ok], got[~ok], want[~ok], strict=True))
    finite = np.isfinite(want) & (want != 0)
    np.testing.assert_allclose(got[finite], want[finite], rtol=2 * np.finfo(dtype).eps)
    inf, nan = dtype(np.inf), dtype(np.nan)
    assert evaluate("hypot", np.array([inf, nan, -inf], dtype),
                    np.array([nan, -inf, nan], dtype)).tolist() == [np.inf] * 3


# -- exact cases -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_exact_powers_of_two(dtype: type) -> None:
    info = np.finfo(dtype)
    k = np.arange(info.minexp - info.nmant, info.maxexp)  # every finite power of two
    x = np.ldexp(np.ones(k.size), k).astype(dtype)
    assert np.array_equal(evaluate("exp2", k.astype(dtype)), x)
    assert np.array_equal(evaluate("log2", x), k.astype(dtype))
    # beyond: overflow to inf, and 2**(emin - mant - 1) rounds (to even) to 0
    edge = np.array([info.maxexp, info.minexp - info.nmant - 1], dtype)
    assert evaluate("exp2", edge).tolist() == [np.inf, 0.0]


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_exact_powers_of_ten(dtype: type) -> None:
    k = np.arange(0, 23 if dtype == np.float64 else 11)  # 10**k exact in the format
    got = evaluate("log10", (10.0 ** k).astype(dtype))
    assert np.array_equal(got, k.astype(dtype)), got
    assert evaluate("log10", np.array([1000.0], dtype))[0] == 3  # what NumPy users expect


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_exact_cubes(dtype: type) -> None:
    lim = 2 ** 17 if dtype == np.float64 else 2 ** 8
    c = np.arange(-lim, lim + 1, 7 if dtype == np.float64 else 1).astype(np.float64)
    info = np.finfo(dtype)
    # scaled by 2**(3j) across the range, subnormal cubes included
    j = np.arange((info.minexp - info.nmant) // 3 + 6, info.maxexp // 3 - 6, 25)
    roots = (c[:, None] * np.ldexp(1.0, j)[None, :]).ravel()
    cubes = (c[:, None] ** 3 * np.ldexp(1.0, 3 * j)[None, :]).ravel()
    keep = (np.abs(cubes) >= float(info.smallest_subnormal)) & (np.abs(cubes) <= float(info.max))
    roots, cubes = roots[keep].astype(dtype), cubes[keep].astype(dtype)
    assert np.array_equal(cubes.astype(np.float64), (roots.astype(np.float64)) ** 3)  # exact
    got = evaluate("cbrt", cubes)
    assert np.array_equal(got, roots), (cubes[got != roots][:5], got[got != roots][:5])


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_exact_pythagorean_triples(dtype: type) -> None:
    info = np.finfo(dtype)
    trip = np.array([[3, 4, 5], [5, 12, 13], [8, 15, 17], [20, 21, 29], [0, 7, 7]], np.float64)
    scales = np.ldexp(1.0, np.arange(info.minexp - info.nmant, info.maxexp - 5))
    exact = [(trip[:, None, i] * scales[None, :]).ravel() for i in range(3)]
    with np.errstate(over="ignore"):
        x, y, h = (e.astype(dtype) for e in exact)
    # where all three are representable (subnormal x, y lose bits; h may overflow)
    keep = np.logical_and.reduce([v.astype(np.float64) == e for v, e in zip((x, y, h), exact,
                                                                           strict=True)])
    x, y, h = x[keep], y[keep], h[keep]
    assert x.size > 100
    assert np.array_equal(evaluate("hypot", x, y), h)
    assert np.array_equal(evaluate("hypot", -y, x), h)
    # no overflow or underflow in between: the largest and smallest magnitudes
    m, s = info.max, info.smallest_subnormal
    got = evaluate("hypot", np.array([m, m / 2, s, s * 3], dtype), np.array([0, m / 2, s, s * 4],
                                                                             dtype))
    with np.errstate(all="ignore"):
        want = np.hypot(np.array([m, m / 2, s, s * 3], dtype), np.array([0, m / 2, s, s * 4],
                                                                       dtype))
    assert np.array_equal(got, want) and np.isfinite(got).all() and (got > 0).all()


# -- accuracy against mpmath -----------------------------------------------------------------
def _points(name: str, dtype: type, n: int) -> tuple[np.ndarray, ...]:
    """Log-uniform magnitudes over the whole range and the hard ranges of each function."""
    rng = np.random.default_rng(zlib.crc32(f"{name}-{np.dtype(dtype).name}".encode()))
    info = np.finfo(dtype)
    lo, hi = float(info.minexp - info.nmant), float(info.maxexp)

    def logu(m: int, a: float = lo, b: float = hi) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.exp2(rng.uniform(a, b, m)).astype(dtype)

    q = n // 4
    if name == "exp2":  # whole range, subnormal results, the overflow edge, near zero
        x = np.concatenate([rng.uniform(lo - 1, hi, q), rng.uniform(lo, info.minexp, q),
                            rng.uniform(hi - 2, hi, q), rng.uniform(-1, 1, n - 3 * q)])
        return (x.astype(dtype) * np.array(1, dtype),)
    if name in ("log2", "log10"):  # whole range, subnormals, around 1
        x = np.concatenate([logu(2 * q), logu(q, lo, info.minexp),
                            (1 + rng.uniform(-0.3, 0.3, n - 3 * q)).astype(dtype)])
        return (x,)
    if name == "cbrt":
        x = np.concatenate([logu(2 * q), logu(q, lo, info.minexp), rng.uniform(-9, 9, n - 3 * q)
                            .astype(dtype)])
        return (x * rng.choice(np.array([-1, 1], dtype), n),)
    # hypot: any two magnitudes, close magnitudes, near overflow and in the subnormals
    x = np.concatenate([logu(q), logu(q), logu(q, hi - 2, hi), logu(n - 3 * q, lo, info.minexp)])
    ratio = np.concatenate([logu(q), np.exp2(rng.uniform(-40, 40, q)),
                            np.exp2(rng.uniform(-2, 0, n - 2 * q))])
    with np.errstate(over="ignore", under="ignore"):
        y = np.where(np.arange(n) < q, logu(n), x * ratio.astype(dtype)).astype(dtype)
    return x * rng.choice(np.array([-1, 1], dtype), n), y


def _mp_ulp(name: str, args: tuple[float, ...], got: float, dtype: type) -> float:
    info = np.finfo(dtype)
    with mpmath.workprec(200):
        exact = MP[name](*[mpmath.mpf(a) for a in args])
        if exact == 0:
            return 0.0 if got == 0 else float("inf")
        e = max(int(mpmath.floor(mpmath.log(abs(exact), 2))), info.minexp)
        ulp = mpmath.ldexp(1, e - info.nmant)
        if not np.isfinite(got):  # overflow: right iff the exact value rounds to inf
            return 0.0 if abs(exact) >= info.max + ulp / 2 else float("inf")
        return float(abs(mpmath.mpf(float(got)) - exact) / ulp)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_against_mpmath(name: str, dtype: type) -> None:
    args = _points(name, dtype, EXAMPLES)
    got = evaluate(name, *args)
    ok = np.logical_and.reduce([np.isfinite(a) for a in args])
    if name.startswith("log"):
        ok &= args[0] > 0
    errs = [(_mp_ulp(name, tuple(float(a[i]) for a in args), float(got[i]), dtype), i)
            for i in np.nonzero(ok)[0]]
    worst, i = max(errs)
    assert worst <= BOUND, (worst, [a[i] for a in args], got[i])
    assert len(errs) >= EXAMPLES // 2


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_ulp_screen(name: str, dtype: type) -> None:
    """benchmarks/ulp.py's measurement (its generators include the edge sets)."""
    from test_mathlib import ulp

    result = ulp.measure(ulp.FUNCTIONS[name], dtype, 100_000, np.random.default_rng(3), 16)
    assert result.max_ulp <= BOUND, (result.max_ulp, result.worst)
    assert result.special_bad == 0


# -- vector code on the CPU ------------------------------------------------------------------
_LIBM_CALL = re.compile(r"call [\w<> ]+ @\"?(exp2|log2|log10|cbrt|hypot|exp|log1p)f?\"?\(")


def _loop(opt: str) -> str:
    loop = opt[opt.find("vector.body"):]
    return loop[:loop.find("middle.block")]


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_vectorises(name: str, dtype: type) -> None:
    x = la.asarray(np.linspace(0.5, 1.5, 1000, dtype=dtype))
    args = (x, x) if name == "hypot" else (x,)
    report = la.explain(getattr(la, name)(*args))
    assert report.vectorised and report.vector_width > 1
    assert "called once per element" not in str(report)
    ty = "double" if dtype == np.float64 else "float"
    width = mathlib.lanes(name, mathlib.FORMATS[ty], cpu.jit().register_bits)
    symbol = mathlib.support_symbol(name, mathlib.FORMATS[ty])
    opt = report.llvm_opt
    loop = _loop(opt)
    assert f"call <{width} x {ty}> @_ZGV_LLVM_N{width}{'v' * len(args)}_{symbol}(" in loop
    assert not _LIBM_CALL.search(opt), name
    assert not re.search(rf"@llvm\.{name}\.", opt)


@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
def test_logaddexp_vectorises(dtype: type) -> None:
    """logaddexp is built from mathlib's exp and log1p: no libm call left."""
    a = la.asarray(np.linspace(-3, 3, 1000, dtype=dtype))
    b = la.asarray(np.linspace(2, -1, 1000, dtype=dtype))
    report = la.explain(la.logaddexp(a, b))
    assert report.vectorised and "called once per element" not in str(report)
    assert not _LIBM_CALL.search(report.llvm_opt) and "@llvm.exp." not in report.llvm_opt
    with np.errstate(all="ignore"):
        want = np.logaddexp(np.asarray(a.eval()), np.asarray(b.eval()))
    np.testing.assert_allclose(np.asarray(la.logaddexp(a, b).eval()), want,
                               rtol=4 * np.finfo(dtype).eps)


# -- CUDA: PTX without libdevice -------------------------------------------------------------
@pytest.mark.parametrize("dtype", FLOATS, ids=_ids)
@pytest.mark.parametrize("name", NAMES)
def test_ptx_without_libdevice(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike,
                               name: str, dtype: type) -> None:
    monkeypatch.setenv("LAZYARR_LIBDEVICE", os.path.join(str(tmp_path), "nowhere.bc"))
    assert nvptx.find_libdevice() is None
    assert nvptx.refusal(OPS[name], np.dtype(dtype)) is None
    x = la.asarray(np.ones(8, dtype))
    kernel = kernel_of([getattr(la, name)(*((x, x) if name == "hypot" else (x,)))])
    module = nvptx.build_module(kernel, "k")  # IR objects only: nothing for LLVM to abort on
    declared = {f.name for f in module.functions if f.is_declaration}
    assert all(n.startswith(("llvm.fma.", "llvm.fabs.", "llvm.copysign.", "llvm.trunc.",
                             "llvm.sqrt.", "llvm.nvvm.")) for n in declared), declared
    ptx = nvptx.emit_ptx(kernel)
    assert "__nv_" not in ptx and not re.search(r"^\s*call", ptx, re.M)
    if shutil.which("ptxas"):  # assemble where the CUDA toolkit is installed
        path = os.path.join(str(tmp_path), "k.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        proc = subprocess.run(["ptxas", "-arch=sm_90", "-o", os.devnull, path],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
