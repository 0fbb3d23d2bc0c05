"""precision="fast"'s faster approximations: the fast tanh (``Op.TANH_FAST``, mathlib's
``fasttanh``, docs/math.md "Fast tanh").

Its accuracy against mpmath on a sample (the bound docs/math.md gives), special values, that
the rewrite happens only in the fast mode, the interpreter's reference against the compiled
code, GELU against a float64 reference, gradients, and the PTX (assembled by ``ptxas`` when
it is installed).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from kernel_cases import benchmark

import lazyarr as la
from lazyarr.front import build
from lazyarr.front.build import excess_precision
from lazyarr.ir import ops
from lazyarr.ir.graph import Op, toposort

FLOATS = (np.float32, np.float64)
BOUND = 4  # ULP, docs/math.md (measured: 2.0 at most)


ulp = benchmark("ulp")


def fast_tanh(x: np.ndarray, backend: str | None = None) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(la.tanh(la.asarray(x)).eval(precision="fast", backend=backend))


def ops_of(nodes: list) -> set[Op]:
    return {n.op for n in toposort(nodes)}


def sample(dt: type, n: int, rng: np.random.Generator) -> np.ndarray:
    """ulp.py's tanh inputs, subnormals, the clamps, and where the reduction's n changes
    ((k + 1/2) ln2 / 2: the largest reduced arguments)."""
    tiny = np.finfo(dt).smallest_subnormal
    steps = [(k + 0.5) * math.log(2) / 2 for k in range(0, 60 if dt == np.float64 else 30)]
    return np.concatenate([
        ulp.gen_tanh(rng, n, dt)[0],
        ulp.log_uniform(rng, n // 8, math.log2(float(tiny)), -20, dt),
        ulp.around([10.0, 9.01, 20.0, 19.06, *steps], dt, 64),
        np.array([tiny, -tiny], dt)])


# -- accuracy ------------------------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: np.dtype(d).name)
def test_ulp_bound(dt: type) -> None:
    rng = np.random.default_rng(26)
    x = sample(dt, 200_000, rng)
    got = fast_tanh(x)
    err = ulp.ulp_error(got, ulp.reference("tanh", (x,), dt), dt)
    fn = ulp.FUNCTIONS["tanh"]
    # the worst points again with mpmath at 200 bits: the maximum is mpmath's
    for i in np.argsort(np.where(np.isfinite(err), -err, 0.0))[:16]:
        e = ulp.mp_ulp_error(fn, (x[i],), float(got[i]), dt)
        if not math.isnan(e):
            err[i] = e
    assert err.max() <= BOUND, (err.max(), x[np.argmax(err)])
    assert ulp.special_mismatches("tanh", (x,), got) == 0
    # not the accurate tanh by mistake: that one is within 1 ULP, this one is not as close
    assert err.max() > 1


@pytest.mark.parametrize("backend", ["cpu", "interp"])
@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: np.dtype(d).name)
def test_special_values(dt: type, backend: str) -> None:
    info = np.finfo(dt)
    x = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, info.max, -info.max,
                  info.smallest_subnormal, -info.smallest_subnormal, info.tiny, 1e-30, 50.0,
                  -50.0, 20.0, 10.0], dt)
    got = fast_tanh(x, backend)
    want = np.tanh(x)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    assert np.array_equal(got[ok], want[ok])  # these are exact: +-1, +-0, x itself
    assert np.array_equal(np.signbit(got[ok]), np.signbit(want[ok]))  # tanh(-0.0) = -0.0
    assert np.all(np.abs(got[ok]) <= 1)


@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: np.dtype(d).name)
def test_interp_and_cpu_agree(dt: type) -> None:
    """The interpreter's reference (NumPy's tanh, float32 rounded from float64) and the
    compiled fast tanh differ by at most the bound (plus the reference's own rounding)."""
    x = sample(dt, 20_000, np.random.default_rng(5))
    cpu, ref = fast_tanh(x), fast_tanh(x, "interp")
    err = ulp.ulp_error(cpu, ref.astype(np.longdouble if dt == np.float64 else np.float64), dt)
    assert err.max() <= BOUND + 0.5


# -- the rewrite -----------------------------------------------------------------------------
def test_only_the_fast_mode_uses_it() -> None:
    x = la.asarray(np.linspace(-3, 3, 100, dtype=np.float32))
    y = la.tanh(x) * 2
    assert Op.TANH in ops_of([y._node]) and Op.TANH_FAST not in ops_of([y._node])
    (fast,) = excess_precision([y._node])
    assert Op.TANH_FAST in ops_of([fast]) and Op.TANH not in ops_of([fast])
    assert excess_precision([y._node]) is excess_precision([y._node])  # memoised
    # the default evaluation compiles the accurate tanh; the fast one calls fasttanh
    assert "lazyarr_math_tanh_f32" in la.explain(y).llvm_opt
    fast_ir = la.explain(la.LazyArray(fast)).llvm_opt
    assert "lazyarr_math_fasttanh_f32" in fast_ir and "lazyarr_math_tanh_f32" not in fast_ir
    # and the values (times 2: exact): the accurate tanh by default, the fast one else
    exact = np.tanh(np.linspace(-3, 3, 100, dtype=np.float32).astype(np.float64))
    default = ulp.ulp_error(y.eval() / 2, exact, np.float32)
    fast_err = ulp.ulp_error(y.eval(precision="fast") / 2, exact, np.float32)
    assert default.max() <= 1 and fast_err.max() <= BOUND


def test_no_rewrite_of_other_dtypes_or_ops() -> None:
    # int input: tanh computes in float64, which the fast mode replaces too
    i = la.asarray(np.arange(-5, 5))
    assert Op.TANH_FAST in ops_of(excess_precision([la.tanh(i)._node]))
    # other functions keep their op
    x = la.asarray(np.linspace(-1, 1, 10))
    (fast,) = excess_precision([(la.sinh(x) + la.arctanh(x * 0.5))._node])
    assert Op.TANH_FAST not in ops_of([fast]) and {Op.SINH, Op.ARCTANH} <= ops_of([fast])


def test_float16_fast_mode() -> None:
    """float16 computes tanh in float32; the fast mode keeps float32 and uses the fast tanh,
    whose error is far below float16's ULP."""
    x = np.linspace(-6, 6, 4001).astype(np.float16)
    got = la.tanh(la.asarray(x)).eval(precision="fast")
    assert got.dtype == np.float16
    want = np.tanh(x.astype(np.float64))
    step = np.spacing(np.abs(want).astype(np.float16)).astype(np.float64)
    assert np.all(np.abs(got.astype(np.float64) - want) <= step)  # within one float16 ULP


# -- in use ------------------------------------------------------------------------------------
def _gelu(xp: ModuleType, x: object) -> object:
    return 0.5 * x * (1 + xp.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: np.dtype(d).name)
def test_gelu(dt: type) -> None:
    x = np.random.default_rng(1).standard_normal(100_000).astype(dt) * 3
    exact = _gelu(np, x.astype(np.float64 if dt == np.float32 else np.longdouble))
    fast = la.eval(_gelu(la, la.asarray(x)), precision="fast")
    default = la.eval(_gelu(la, la.asarray(x)))
    eps = float(np.finfo(dt).eps)
    # GELU cancels for negative x (1 + tanh near 0): an absolute part scaled by |x|
    tol = 8 * eps * (np.abs(exact) + np.abs(x)).astype(np.float64)
    for got in (fast, default):
        assert got.dtype == dt
        assert np.all(np.abs(got.astype(np.float64) - exact.astype(np.float64)) <= tol)
    assert not np.array_equal(fast, default)  # the fast mode did change something


def test_gradient() -> None:
    x = np.linspace(-4, 4, 1001)

    def loss(v: la.LazyArray) -> la.LazyArray:
        return la.sum(la.tanh(v) * 3)

    g = la.grad(loss)(la.asarray(x))
    want = 3 * (1 - np.tanh(x) ** 2)  # 1 - t*t cancels: an absolute tolerance
    np.testing.assert_allclose(g.eval(precision="fast"), want, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(g.eval(), want, rtol=1e-13, atol=1e-14)

    # through the fast op itself (a graph that already holds it): tanh's derivative
    def loss_fast(v: la.LazyArray) -> la.LazyArray:
        return la.sum(la.LazyArray(build.apply(Op.TANH_FAST, v)) * 3)

    assert ops.ROWS[Op.TANH_FAST].derivative is ops.ROWS[Op.TANH].derivative
    g = la.grad(loss_fast)(la.asarray(x))
    np.testing.assert_allclose(g.eval(), want, rtol=1e-13, atol=1e-14)


# -- the GPU target, compiled only -------------------------------------------------------------
@pytest.mark.parametrize("dt", FLOATS, ids=lambda d: np.dtype(d).name)
def test_ptx(dt: type, tmp_path: Path) -> None:
    from lazyarr.codegen import nvptx

    x = la.asarray(np.ones(64, dt))
    (node,) = excess_precision([(la.tanh(x) + 1)._node])
    (kernel,) = la.explain(la.LazyArray(node), target="cuda").kernel_objects
    module = str(nvptx.build_module(kernel, "k"))
    # inlined from mathlib, without libdevice, and not the accurate tanh
    suffix = "f32" if dt == np.float32 else "f64"
    assert f"lazyarr.math.fasttanh.{suffix}" in module
    assert f"lazyarr.math.tanh.{suffix}" not in module
    ptx = nvptx.emit_ptx(kernel, "lazyarr_kernel")
    assert ".entry lazyarr_kernel" in ptx and ".extern" not in ptx and "div.rn" in ptx
    if shutil.which("ptxas") is None:
        pytest.skip("ptxas is not on PATH: PTX was emitted but not assembled")
    path = tmp_path / "fasttanh.ptx"
    path.write_text(ptx)
    import subprocess

    proc = subprocess.run(["ptxas", "-arch=sm_90", "-o", str(tmp_path / "k.o"), str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
