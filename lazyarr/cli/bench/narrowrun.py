"""Issue 19's sections of the bench: narrow floats (``--workloads narrow``) and complex numbers
(``--workloads complex``), at 10^7 elements, against NumPy and ``jax.jit``.

Narrow floats: ``x*2 + y`` and a layer norm of rows of 1024 in float16 and, when ml_dtypes is
installed, bfloat16, with float32 as the yardstick: storage is the point, so the elementwise
cells count their bytes and are held against the STREAM triad of the same rounds, and
lazyarr's ``precision="fast"`` gets its own column. Complex: ``exp(1j*w*t) * a``
(a modulated signal) and ``abs(x * conj(y))`` (the magnitude of a cross spectrum), in
complex64 and complex128. Every result is checked against a float64/complex128 NumPy reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .measure import Context
from .randomrun import Check, Fns, cell, section_lines
from .workloads import Config

NARROW, COMPLEX = "narrow", "complex"
KEYS = (NARROW, COMPLEX)
N = 10**7
ROW = 1024  # layer-norm row length
EPS = 1e-5
OMEGA = 0.37  # the complex workload's angular frequency


def run(ctx: Context, cfg: Config) -> dict[str, Any]:
    out: dict[str, Any] = {}
    n = min(N, max(cfg.sizes)) if cfg.quick else N
    n = max(ROW, n // ROW * ROW)  # whole rows for the layer norm
    if NARROW in cfg.workloads:
        out[NARROW] = [cell(name, fns, check, ctx, cfg, n, moved)
                       for name, fns, check, moved in _narrow_cells(ctx, n)]
    if COMPLEX in cfg.workloads:
        out[COMPLEX] = [cell(name, fns, check, ctx, cfg, n)
                        for name, fns, check in _complex_cells(ctx, n)]
    return out


def report_lines(run: dict[str, Any]) -> list[str]:
    return (section_lines(run.get(NARROW) or [], "float16 and bfloat16 (issue 19)",
                          run["threads"])
            + section_lines(run.get(COMPLEX) or [], "complex numbers (issue 19)",
                            run["threads"]))


def _narrow_dtypes() -> list[Any]:
    """float32 (the yardstick), float16, and bfloat16 where ml_dtypes is installed."""
    found: list[Any] = [np.dtype(np.float32), np.dtype(np.float16)]
    try:
        import ml_dtypes
    except ImportError:
        return found
    return [*found, np.dtype(ml_dtypes.bfloat16)]


def _fast(la: Any, expr: Any, out: Any = None) -> Any:
    return la.eval(expr, out=out, precision="fast")


def _close(want: np.ndarray, rtol: float, atol: float) -> Check:
    def check(r: Any) -> bool:
        got = np.asarray(r).astype(np.float64)
        return bool(got.shape == want.shape and np.allclose(got, want, rtol=rtol, atol=atol))
    return check


def _narrow_cells(ctx: Context, n: int) -> list[tuple[str, Fns, Check, int | None]]:
    la, jax = ctx.la, ctx.peers.get("jax")
    rng = np.random.default_rng(3)
    x64, y64 = rng.standard_normal(n), rng.standard_normal(n)
    cells: list[tuple[str, Fns, Check, int | None]] = []
    for dt in _narrow_dtypes():
        x, y = x64.astype(dt), y64.astype(dt)
        ulp = float(np.finfo(np.float32).eps if dt == np.float32 else 2.0 ** -(
            np.finfo(dt).nmant))  # float16: 2^-10, bfloat16: 2^-7
        out = np.empty(n, dt)
        # wrapped inside the timed calls (a microsecond), so that a dtype lazyarr refuses is
        # that cell's error, not the section's
        triad: Fns = {"lazyarr": lambda x=x, y=y: (la.asarray(x) * 2 + y).eval(),
                      "lazyarr out=": lambda x=x, y=y, o=out: la.eval(la.asarray(x) * 2 + y,
                                                                      out=o),
                      "numpy": lambda x=x, y=y: x * 2 + y}
        if dt != np.float32:
            triad["lazyarr fast"] = lambda x=x, y=y, o=out: _fast(la, la.asarray(x) * 2 + y, o)
        want = x.astype(np.float64) * 2 + y.astype(np.float64)
        rows = (n // ROW, ROW)
        xr = x.reshape(rows)
        norm: Fns = {"lazyarr": lambda xr=xr: la.nn.layer_norm(xr, (ROW,), eps=EPS).eval(),
                     "numpy": lambda xr=xr: _np_norm(xr)}
        if dt != np.float32:
            norm["lazyarr fast"] = lambda xr=xr: _fast(la, la.nn.layer_norm(xr, (ROW,),
                                                                             eps=EPS))
        if jax is not None:
            jx, jy, jxr = (jax.device_put(v) for v in (x, y, xr))
            jt = jax.jit(lambda a, b: a * 2 + b)
            jn = jax.jit(lambda a: _jax_norm(jax, a))
            triad["jax.jit"] = lambda jt=jt, jx=jx, jy=jy: jt(jx, jy).block_until_ready()
            norm["jax.jit"] = lambda jn=jn, jxr=jxr: jn(jxr).block_until_ready()
        name = np.dtype(dt).name
        cells.append((f"x*2+y {name}", triad, _close(want, 4 * ulp, 4 * ulp),
                      3 * n * np.dtype(dt).itemsize))
        want_norm = _np_norm(xr.astype(np.float64))
        cells.append((f"layer norm {name}", norm, _close(want_norm, 8 * ulp, 16 * ulp), None))
    return cells


def _np_norm(x: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(x.var(axis=-1, keepdims=True) + x.dtype.type(EPS))


def _jax_norm(jax: Any, x: Any) -> Any:
    jnp = jax.numpy
    mu = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mu) / jnp.sqrt(jnp.var(x, axis=-1, keepdims=True) + EPS)


def _complex_cells(ctx: Context, n: int) -> list[tuple[str, Fns, Check]]:
    la, jax = ctx.la, ctx.peers.get("jax")
    rng = np.random.default_rng(4)
    t64 = np.linspace(0.0, 1000.0, n)
    parts = rng.standard_normal((4, n))
    cells: list[tuple[str, Fns, Check]] = []
    for ct in (np.dtype(np.complex64), np.dtype(np.complex128)):
        rt = np.finfo(ct).dtype
        t = t64.astype(rt)
        a = (parts[0] + 1j * parts[1]).astype(ct)
        y = (parts[2] + 1j * parts[3]).astype(ct)
        tol = 64 * float(np.finfo(rt).eps)
        mod: Fns = {"lazyarr": lambda t=t, a=a: (la.exp(1j * OMEGA * la.asarray(t)) * a).eval(),
                    "numpy": lambda t=t, a=a: np.exp(1j * OMEGA * t) * a}
        spec: Fns = {"lazyarr": lambda a=a, y=y: la.abs(la.asarray(a) * la.conj(y)).eval(),
                     "numpy": lambda a=a, y=y: np.abs(a * np.conj(y))}
        if jax is not None:
            jt, ja, jy = (jax.device_put(v) for v in (t, a, y))
            jm = jax.jit(lambda tt, aa: jax.numpy.exp(1j * OMEGA * tt) * aa)
            js = jax.jit(lambda aa, yy: jax.numpy.abs(aa * jax.numpy.conj(yy)))
            mod["jax.jit"] = lambda jm=jm, jt=jt, ja=ja: jm(jt, ja).block_until_ready()
            spec["jax.jit"] = lambda js=js, ja=ja, jy=jy: js(ja, jy).block_until_ready()
        # the phase w*t reaches 370 rad, so its rounding in complex64 moves the result by
        # about 1e-4: inside the absolute tolerance
        want_mod = np.exp(1j * OMEGA * t.astype(np.float64)) * a.astype(np.complex128)
        want_spec = np.abs(a.astype(np.complex128) * np.conj(y.astype(np.complex128)))
        cells.append((f"exp(1j*w*t)*a {ct.name}", mod, _complex_close(want_mod, tol)))
        cells.append((f"abs(x*conj(y)) {ct.name}", spec, _complex_close(want_spec, tol)))
    return cells


def _complex_close(want: np.ndarray, tol: float) -> Callable[[Any], bool]:
    def check(r: Any) -> bool:
        got = np.asarray(r)
        return bool(got.shape == want.shape
                    and np.allclose(got, want, rtol=tol, atol=tol * 1000))
    return check
