"""Vector width per kernel kind on AVX-512 targets (backends/cpu_jit.py ``Jit.vector_bits``).

Kernels calling a math routine prefer 512-bit vectors in every loop; memory-bound kernels
and plain reductions keep the CPU's choice (256 bits on the cores whose tuning prefers it).
Checked on the instructions of the compiled code, not on timings; the figures behind the
rule are in docs/benchmarks.md (benchmarks/vector_width.py). Targets without AVX-512 (this
file runs under LAZYARR_CPU=haswell in CI too) must get neither the attribute nor zmm code.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from lazyarr.backends import cpu

import lazyarr as la

ATTRIBUTE = '"prefer-vector-width"="512"'
N = 1000  # small: no streaming stores, whose grouped loop has its own fixed width


# fixtures, not skip marks: asking at collection would start LLVM in every test session
@pytest.fixture
def avx512() -> None:
    if not cpu.jit().avx512:
        pytest.skip("the target CPU has no AVX-512")


@pytest.fixture
def no_avx512() -> None:
    if cpu.jit().avx512:
        pytest.skip("the target CPU has AVX-512")


# packed floating-point loads, stores and arithmetic: what a vectorised loop body is made of
# (a kernel that only calls a math routine has no arithmetic of its own)
_PACKED = re.compile(r"^\s+(v(?:movu|add|sub|mul|div|max|min|fn?m(?:add|sub)\d*)p[sd])\s+(.*)$",
                     re.M)


def _widths(asm: str) -> dict[str, dict[str, int]]:
    """Per packed mnemonic, how many of its instructions use xmm, ymm, zmm."""
    found: dict[str, dict[str, int]] = {}
    for mnemonic, operands in _PACKED.findall(asm):
        count = found.setdefault(mnemonic, {"x": 0, "y": 0, "z": 0})
        for kind in set(re.findall(r"%([xyz])mm", operands)):
            count[kind] += 1
    return found


def _inputs(dtype: str) -> tuple[np.ndarray, np.ndarray]:
    return np.linspace(-3, 3, N, dtype=dtype), np.linspace(1, 2, N, dtype=dtype)


def _gelu(x, tanh):  # lazy arrays or NumPy's
    return 0.5 * x * (1 + tanh(0.79788456 * (x + 0.044715 * x * x * x)))


def _softmax(x, exp):
    x = x.reshape(10, N // 10)
    e = exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# kind -> (expression over (x, y, module)): the same code for lazyarr and NumPy
MATH = {
    "gelu": lambda x, y, m: _gelu(x, m.tanh),
    "softmax": lambda x, y, m: _softmax(x, m.exp),
    "pow": lambda x, y, m: y ** x,
}
PLAIN = {
    "axpy": lambda x, y, m: x * 2 + y,
    "sum": lambda x, y, m: y.sum(),
}
DTYPES = ["float32", "float64"]


def _lazy(kind: str, dtype: str) -> la.LazyArray:
    x, y = _inputs(dtype)
    return {**MATH, **PLAIN}[kind](la.asarray(x), la.asarray(y), la)


@pytest.mark.usefixtures("avx512")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", MATH)
def test_math_kernels_use_zmm(kind, dtype):
    explained = la.explain(_lazy(kind, dtype))
    assert ATTRIBUTE in explained.llvm
    widths = _widths(explained.asm)
    assert widths
    # every loop of the kernel mostly in zmm: a row kernel's max and divide loops too, not
    # only its exp loop (ymm is left to the vectorised remainders; the math routines
    # themselves are support modules, not in this text)
    for mnemonic, count in widths.items():
        assert count["z"] > count["y"], (mnemonic, count)


@pytest.mark.usefixtures("avx512")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", PLAIN)
def test_plain_kernels_keep_the_cpus_width(kind, dtype):
    explained = la.explain(_lazy(kind, dtype))
    assert "prefer-vector-width" not in explained.llvm
    # LLVM's tuning of Intel's AVX-512 cores prefers 256 bits (AMD's may differ): the
    # memory-bound loop stays in ymm there
    if kind == "axpy" and not cpu.jit().cpu.startswith("znver"):
        widths = _widths(explained.asm)
        assert sum(c["y"] for c in widths.values()) > 0
        assert sum(c["z"] for c in widths.values()) == 0


@pytest.mark.usefixtures("no_avx512")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [*MATH, *PLAIN])
def test_without_avx512_nothing_changes(kind, dtype):
    explained = la.explain(_lazy(kind, dtype))
    assert "prefer-vector-width" not in explained.llvm
    assert "%zmm" not in explained.asm


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [*MATH, *PLAIN])
def test_values_match_numpy(kind, dtype):
    x, y = _inputs(dtype)
    got = np.asarray(_lazy(kind, dtype).eval())
    want = np.asarray({**MATH, **PLAIN}[kind](x, y, np))
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 2e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_inputs_stay_in_the_vector_loop(dtype: str) -> None:
    """A strided input (a view ``x[::2]``, a complex number's part) is read by the vector
    loop. LLVM would version the loop on its stride being 1 (a unit stride is CONTIG in
    lazyarr's kernels, so that version never ran) and run every other stride in scalar code,
    math calls one element at a time: 10x the contiguous time for sin."""
    x = np.linspace(-3, 3, 4 * N, dtype=dtype)
    for expr in (la.sin(la.asarray(x[::2])), la.exp(la.asarray(x[::3]) * 2 + 1)):
        explained = la.explain(expr)
        assert explained.vectorised
        assert "ident.check" not in explained.llvm_opt  # no "stride == 1" version
        np.testing.assert_allclose(expr.eval(), (np.sin(x[::2]) if expr.shape == (2 * N,)
                                                 else np.exp(x[::3] * 2 + 1)),
                                   rtol=1e-5 if dtype == "float32" else 1e-13)
