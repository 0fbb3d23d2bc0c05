"""Bit comparisons of 16-bit floats shared by the float16 and bfloat16 tests."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np


def isnan(x: np.ndarray) -> np.ndarray:
    """NaN test that also takes ml_dtypes' bfloat16 (kind "V": NumPy's isnan has no loop)."""
    return np.isnan(x.astype(np.float32)) if x.dtype.kind == "V" else np.isnan(x)


def assert_bits(got: np.ndarray, want: np.ndarray, what: str = "", nan_bits: bool = False
                ) -> None:
    """Same dtype, shape and bits; NaN where NaN, and with ``nan_bits`` the NaN's bits too
    (payloads of NaNs made from signalling ones may differ otherwise)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, (what, got.dtype, want.dtype)
    if want.dtype.kind not in "fV":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    bits = f"u{want.itemsize}"
    g, w = got.reshape(-1).view(bits), want.reshape(-1).view(bits)
    nan = isnan(want.reshape(-1))
    differ = g != w
    bad = (isnan(got.reshape(-1)) != nan) | (differ if nan_bits else ~nan & differ)
    assert not bad.any(), f"{what}: at {np.flatnonzero(bad)[:5]}: got {g[bad][:5]}, " \
                          f"want {w[bad][:5]}"


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in steps of a 16-bit float (monotonic integer order of the bits)."""
    def order(x: np.ndarray) -> np.ndarray:
        i = x.view(np.int16).astype(np.int32)
        return np.where(i < 0, -32768 - i, i)
    return np.abs(order(got) - order(want))


def numpy_quietly(fn: Callable[..., Any], *args: Any) -> Any:
    """NumPy's (or ml_dtypes') result of ``fn``, its warnings silenced; tuples as they are,
    anything else as an array."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fn(*args)
    return result if isinstance(result, tuple) else np.asarray(result)


def assert_only_converts(kernel: Any, dt: np.dtype) -> None:
    """A kernel's instructions on ``dt`` (a narrow float) load, convert or select it, and no
    other instruction reads it: every operation computes in float32."""
    from lazyarr.ir.graph import Op

    for ins in kernel.body:
        if ins.dtype == dt:
            assert ins.op in (Op.LEAF, Op.CAST, Op.WHERE), ins
        elif ins.op is not Op.CAST:
            assert all(kernel.body[a].dtype != dt for a in ins.args), ins


def assert_assembles(ptx: str, path: Any, what: Any) -> None:
    """``ptx`` (written to ``path``) assembles for sm_90 where ``ptxas`` is installed."""
    import os
    import shutil
    import subprocess

    if shutil.which("ptxas") is None:
        return
    path.write_text(ptx)
    proc = subprocess.run(["ptxas", "-arch=sm_90", "-o", os.devnull, str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (what, proc.stderr)
