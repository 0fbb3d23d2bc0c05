"""The CUDA backend without a GPU: PTX, device-array protocols, and an emulated device.

Three tiers, none needing an NVIDIA driver:

1. PTX: every kernel of a table (the elementwise table of ``test_ptx.py`` with the vector and
   32-bit-index variants, lazyarr's own math (``mathlib``) without libdevice, the other math
   through libdevice, reductions and row kernels with both row strategies) is emitted in
   child processes (LLVM's NVPTX backend aborts the process on an op it cannot lower) and
   assembled by ``ptxas -arch=sm_90``; golden checks for the bounds guard, 16-byte vector
   loads, warp shuffles, calls to undefined functions, and FMA contraction.
2. Protocols: ``__cuda_array_interface__`` and DLPack capsules of DeviceArrays built on fake
   pointers; what happens without a driver.
3. An emulated device: a stand-in ``libcuda`` (compiled from C here; device memory is host
   memory) under the real ctypes layer, and a runner that compiles each kernel's LLVM IR for
   the CPU, with the thread-index registers, ``bar.sync`` and ``shfl.sync`` replaced by CPU
   code, and runs every GPU thread (a whole block as concurrent OS threads where the kernel
   uses barriers). The backend, allocator, front-end hooks and the kernels' logic (vector
   groups and tails, unravelling, block reductions, row kernels) then run end to end and are
   compared with NumPy. mathlib's functions are the same IR on both targets, so here the
   emulated GPU must give the CPU target's bits. What this cannot check: NVPTX code
   generation itself (ptxas checks its output), libdevice's math (the emulator calls the
   host's libm) and the real driver.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for the child process

import test_ptx  # the elementwise case table and ptxas helpers
from kernel_cases import benchmark, run_children
from lazyarr.backends import cuda_memory, dlpack
from lazyarr.codegen import mathlib, nvptx, nvptx_kernel
from lazyarr.codegen.nvptx import Variant
from test_differential import TRANSCENDENTAL, assert_same, ulp_distance

import lazyarr as la
from lazyarr.ir.loop import Kernel

LIBDEVICE = nvptx.find_libdevice()
Case = Callable[[], tuple[list[Kernel], Variant | None, bool]]  # kernels, variant, libdevice


# -- the PTX case table ---------------------------------------------------------------------------
def _kernels(exprs: list[la.LazyArray]) -> list[Kernel]:
    return la.explain(*exprs).kernel_objects


# ops whose bodies differ most in what the vector loop must carry (bools as bytes, integer
# guards, the power loop's blocks, mixed types): all dtypes of these, and every layout case
_VARIANT_OPS = ("add", "where", "power", "floor_divide", "sign", "logical_and", "left_shift",
                "maximum", "less", "cast")


def _variant_cases() -> dict[str, Case]:
    """Much of test_ptx's elementwise table again, with the launch-time variants it does not
    use: the vector loop for one-dimensional kernels, 32-bit index division for the others."""
    v = Variant(vector=True, narrow=True)
    return {f"variant:{cid}": lambda make=make: (_kernels(make()), v, False)
            for cid, make in test_ptx.PTX_CASES.items()
            if cid.startswith(("layout-", *(f"{op}-" for op in _VARIANT_OPS)))}


def _math_cases() -> dict[str, Case]:
    """Float ops refused without libdevice, with libdevice (skipped when it is absent)."""
    return {f"libdevice:{cid}": lambda make=make: (_kernels(make()), Variant(vector=True), True)
            for cid, (_, _, make) in test_ptx.REFUSED_CASES.items()
            if cid.endswith(("-float32", "-float64"))}


# the ops the GPU computes with lazyarr's own math (sqrt is one instruction on both targets;
# logaddexp is built from mathlib's exp and log1p on both)
MATHLIB_UNARY = ("exp", "expm1", "log", "log1p", "sin", "cos", "tan", "tanh", "sinh", "cosh",
                 "arctan", "sqrt", "exp2", "log2", "log10", "cbrt")
MATHLIB_BINARY = ("power", "logaddexp", "hypot")
# codegen/mathlib_inverse.py's functions
MATHLIB_UNARY += ("arcsin", "arccos", "arcsinh", "arccosh", "arctanh")
MATHLIB_BINARY += ("arctan2",)
MATH_DTYPES = ("float32", "float64")


def _math_expr(name: str, *operands: la.LazyArray) -> la.LazyArray:
    fn = getattr(la, name)
    return fn(*operands) if name in MATHLIB_BINARY else fn(operands[0])


def _mathlib_cases() -> dict[str, Case]:
    """Every mathlib function on both float types: without libdevice, and with it (where it
    is found: mathlib must win, so the PTX is the same); plus a kernel that needs both."""
    cases: dict[str, Case] = {}
    for name in MATHLIB_UNARY + MATHLIB_BINARY:
        for dt in MATH_DTYPES:
            def make(name: str = name, dt: str = dt) -> list[Kernel]:
                x = la.asarray(np.ones(8, dt))
                return _kernels([_math_expr(name, x, x)])

            for prefix, math in (("mathlib", False), ("libdevice-mathlib", True)):
                cases[f"{prefix}:{name}-{dt}"] = lambda make=make, math=math: (
                    make(), Variant(vector=True), math)
    for dt in MATH_DTYPES:
        cases[f"libdevice:exp-and-exp2-{dt}"] = lambda dt=dt: (_kernels(
            [la.exp(la.asarray(np.ones(8, dt))) + la.exp2(la.asarray(np.ones(8, dt)))]),
            None, True)
    return cases


_KINDS = ("sum", "prod", "min", "max", "argmin", "argmax", "any", "all")
_RED_DTYPES = ("float32", "float64", "int32", "uint8", "bool")
_AXES: dict[str, tuple[tuple[int, ...], Any]] = {
    "rows": ((4, 80), 1), "cols": ((80, 4), 0), "all": ((300,), None), "3d": ((3, 4, 70), (0, 2)),
}


def _reduction(kind: str, dt: str, axes: str) -> la.LazyArray | None:
    shape, axis = _AXES[axes]
    if kind.startswith("arg") and isinstance(axis, tuple):
        return None  # argmin/argmax take one axis
    return getattr(la.asarray(np.ones(shape, dt)), kind)(axis=axis)


def test_split_kernels_are_only_for_independent_folds() -> None:
    from lazyarr.codegen.nvptx_rows import splittable

    x = la.asarray(np.ones((4, 80)))
    assert splittable(_kernels([x.sum(axis=1) * 2 + x.max(axis=1)])[0])
    assert not splittable(_kernels([x.argmax(axis=1)])[0])
    assert not splittable(_kernels([x.var(axis=1)])[0])  # reduces x - mean: nested
    (column,) = _kernels([x.sum(axis=0)])
    assert not splittable(column)
    with pytest.raises(ValueError, match="cannot be split"):
        nvptx.build_module(_kernels([x.var(axis=1)])[0], "k", Variant(strategy="split"))


def _row_exprs(dt: str) -> dict[str, Callable[[], la.LazyArray]]:
    def x() -> la.LazyArray:
        return la.asarray(np.ones((4, 80), dt))

    def softmax() -> la.LazyArray:
        e = la.exp(x() - x().max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def layernorm() -> la.LazyArray:
        a = x()
        return (a - a.mean(axis=1, keepdims=True)) / la.sqrt(a.var(axis=1, keepdims=True) + 1e-5)

    return {"softmax": softmax, "layernorm": layernorm,
            "logsumexp": lambda: la.logsumexp(x(), axis=1), "std": lambda: x().std(axis=1),
            "centred": lambda: x() - x().mean(axis=1, keepdims=True)}


def _row_cases() -> dict[str, Case]:
    cases: dict[str, Case] = {}
    for strategy in ("block", "thread"):
        v = Variant(narrow=True, strategy=strategy)
        for kind in _KINDS:
            for dt in _RED_DTYPES:
                for axes in _AXES:
                    if _reduction(kind, dt, axes) is not None:
                        cases[f"{strategy}:{kind}-{dt}-{axes}"] = \
                            lambda kind=kind, dt=dt, axes=axes, v=v: (
                                _kernels([_reduction(kind, dt, axes)]), v, False)
        for dt in ("float32", "float64"):
            for name, make in _row_exprs(dt).items():  # exp and log: mathlib, no libdevice
                cases[f"{strategy}:{name}-{dt}"] = lambda make=make, v=v: (
                    _kernels([make()]), v, False)
        cases[f"{strategy}:sum-wide"] = lambda strategy=strategy: (
            _kernels([_reduction("sum", "float32", "3d")]), Variant(strategy=strategy), False)
    for strategy in ("split", "combine"):  # the two kernels of a split reduction
        v = Variant(narrow=True, strategy=strategy)
        for kind in ("sum", "prod", "min", "max", "any", "all", "mean"):
            for dt in _RED_DTYPES:
                for axes in ("rows", "all", "3d"):
                    cases[f"{strategy}:{kind}-{dt}-{axes}"] = \
                        lambda kind=kind, dt=dt, axes=axes, v=v: (
                            _kernels([_reduction(kind, dt, axes)]), v, False)
    return cases


CASES: dict[str, Case] = _variant_cases() | _row_cases() | _math_cases() | _mathlib_cases()


def _needs_libdevice(cid: str) -> bool:
    return cid.startswith(("libdevice:", "libdevice-mathlib:"))


_IR_FMA = re.compile(r"^\s.*\bcall\b.*@llvm\.fma\.", re.M)


# -- the child process ---------------------------------------------------------------------------
def _emit_main(outdir: Path) -> None:
    """Emit PTX for the ids in ``outdir/todo.json`` (one JSON line before and after each)."""
    todo = json.loads((outdir / "todo.json").read_text())
    with open(outdir / "results.jsonl", "a") as log:
        for cid in todo:
            log.write(json.dumps({"id": cid, "status": "started"}) + "\n")
            log.flush()
            record: dict[str, Any] = {"id": cid}
            try:
                kernels, variant, math = CASES[cid]()
                paths, fma_calls = [], []
                for n, kernel in enumerate(kernels):
                    mod = nvptx.optimised_module(kernel, "lazyarr_kernel", variant,
                                                 LIBDEVICE if math else None)
                    if "mathlib:" in cid:  # for test_mathlib_ptx_is_not_contracted
                        fma_calls.append(len(_IR_FMA.findall(str(mod))))
                    ptx = nvptx._target_machine().emit_assembly(mod)
                    path = outdir / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', cid)}.{n}.ptx"
                    path.write_text(ptx)
                    paths.append(str(path))
            except nvptx.UnsupportedOnTarget as exc:
                record |= {"status": "refused", "detail": str(exc)}
            except Exception as exc:  # reported per case by the parent
                record |= {"status": "error", "detail": repr(exc)}
            else:
                record |= {"status": "ok", "paths": paths, "fma_calls": fma_calls}
            log.write(json.dumps(record) + "\n")
            log.flush()


def _assemble(workdir: Path, records: list[dict[str, Any]]) -> None:
    """Set ``rec["ptxas"]``: kernels without module-level symbols of their own go through
    one ptxas run (entries renamed apart, as in test_ptx.py); the rest, or a failing batch,
    one file at a time."""
    alone, batch = [], []
    for rec in records:
        texts = [Path(p).read_text() for p in rec["paths"]]
        plain = not any(re.search(r"^\.(func|global|const)\b", t, re.M) for t in texts)
        (batch if plain else alone).append(rec)
    if batch:
        whole = test_ptx.batch_file(workdir, [p for rec in batch for p in rec["paths"]])
        if whole is not None and test_ptx._ptxas(whole) is None:
            for rec in batch:
                rec["ptxas"] = None
        else:
            alone += batch
    for rec in alone:
        complaints = [test_ptx._ptxas(Path(p)) for p in rec["paths"]]
        rec["ptxas"] = next((c for c in complaints if c), None)


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    ids = sorted(c for c in CASES if LIBDEVICE or not _needs_libdevice(c))
    n = max(2, min(os.cpu_count() or 1, 8))
    return run_children(__file__, tmp_path_factory.mktemp("cuda-ptx"), ids, n, _assemble,
                        timeout=600)


def _ptx(emitted: dict[str, dict[str, Any]], case: str) -> list[str]:
    rec = emitted.get(case)
    if rec is None:
        pytest.skip("needs libdevice (not found on this machine)")
    assert rec["status"] == "ok", f"{case}: {rec['status']}: {rec.get('detail')}"
    return [Path(p).read_text() for p in rec["paths"]]


_CALL = re.compile(r"^\s*call(?:\.uni)?\s+(?:\([^)]*\),\s*)?(\w+)", re.M)
_FUNC = re.compile(r"\.func\s+(?:\([^)]*\)\s*)?(\w+)")


def test_table_is_broad() -> None:
    assert len(CASES) > 600
    assert sum(c.startswith("block:") for c in CASES) > 150


@pytest.mark.parametrize("case", sorted(CASES))
def test_ptx_kernel(emitted: dict[str, dict[str, Any]], case: str) -> None:
    for ptx in _ptx(emitted, case):
        assert re.search(r"^\.visible \.entry lazyarr_kernel\(", ptx, re.M)
        # every loop over threads, blocks or groups is guarded by its bound: compare, branch
        assert re.search(r"^\s*setp(\.\w+)+\s+%p\d+", ptx, re.M)
        assert re.search(r"^\s*@!?%p\d+ bra\b", ptx, re.M)
        # nothing left to link on the GPU: calls only to functions defined in this module
        assert ".extern" not in ptx
        defined = set(_FUNC.findall(ptx))
        assert set(_CALL.findall(ptx)) <= defined, case
    complaint = emitted[case].get("ptxas")
    assert complaint is None, f"ptxas -arch=sm_90 rejects {case}: {complaint}"


def test_vector_variant_loads_16_bytes(emitted: dict[str, dict[str, Any]]) -> None:
    (ptx,) = _ptx(emitted, "variant:layout-contig-add-float32")
    assert re.search(r"^\s*ld\.global(\.nc)?\.v4\.(f32|b32)\s", ptx, re.M)
    assert re.search(r"^\s*st\.global\.v4\.(f32|b32)\s", ptx, re.M)
    # and a scalar tail for the last size % 4 elements
    assert re.search(r"^\s*ld\.global(\.nc)?\.(f32|b32)\s", ptx, re.M)
    # strided inputs are gathered one by one; the contiguous output is still stored in fours
    (strided,) = _ptx(emitted, "variant:layout-strided-add-float32")
    assert not re.search(r"^\s*ld\.global(\.nc)?\.v4", strided, re.M)
    assert re.search(r"^\s*st\.global\.v4\.(f32|b32)\s", strided, re.M)
    (two_d,) = _ptx(emitted, "variant:layout-bcast-row-add-float32")
    assert ".v4." not in two_d  # two dimensions: the scalar grid-stride loop
    (f64,) = _ptx(emitted, "variant:layout-contig-add-float64")
    assert re.search(r"^\s*ld\.global(\.nc)?\.v2\.(f64|b64)\s", f64, re.M)


def test_index_arithmetic_is_64_bit_unless_narrow(emitted: dict[str, dict[str, Any]]) -> None:
    (wide,) = _ptx(emitted, "block:sum-wide")
    assert re.search(r"^\s*(div|rem)\.u64\s", wide, re.M)
    (narrow,) = _ptx(emitted, "block:sum-float32-3d")
    assert not re.search(r"^\s*(div|rem)\.u64\s", narrow, re.M)
    assert re.search(r"^\s*(div|rem)\.u32\s", narrow, re.M)
    # the grid-stride loop bound is compared in 64 bits either way
    assert re.search(r"^\s*setp\.\w+\.[su]64\s", narrow, re.M)


def test_block_reductions_use_shuffles_and_barriers(emitted: dict[str, dict[str, Any]]) -> None:
    for case in ("block:sum-float32-rows", "block:argmax-float64-rows", "block:softmax-float32"):
        for ptx in _ptx(emitted, case):
            assert "shfl.sync.bfly.b32" in ptx, case
            assert re.search(r"^\s*bar\.sync\s+0;", ptx, re.M), case
            assert ".shared" in ptx, case
            assert not re.search(r"^\s*(atom|red)\.", ptx, re.M), case  # no atomics
    (thread,) = _ptx(emitted, "thread:sum-float32-cols")
    assert "shfl" not in thread and "bar.sync" not in thread


def test_libdevice_math_is_inlined(emitted: dict[str, dict[str, Any]]) -> None:
    if not LIBDEVICE:
        pytest.skip("libdevice not found")
    (ptx,) = _ptx(emitted, "libdevice:exp-float32")
    assert "__nv_" not in ptx  # linked, internalised and inlined
    assert re.search(r"ex2\.approx", ptx)  # what libdevice's expf is built from


_FLOAT_OP = re.compile(r"^\s*(?:add|sub|mul|div|fma|mad|sqrt|rcp|ex2|lg2|sin|cos|tanh)"
                       r"((?:\.\w+)*)\.f(?:32|64)\s", re.M)


@pytest.mark.parametrize("dt", MATH_DTYPES)
@pytest.mark.parametrize("name", MATHLIB_UNARY + MATHLIB_BINARY)
def test_mathlib_ptx_is_not_contracted(emitted: dict[str, dict[str, Any]], name: str,
                                       dt: str) -> None:
    """mathlib's code reaches the GPU as written: inlined (no calls at all, so no libm and no
    libdevice), every float operation correctly rounded, and no FMA the IR did not ask for."""
    rec = emitted[f"mathlib:{name}-{dt}"]
    (ptx,) = _ptx(emitted, f"mathlib:{name}-{dt}")
    assert not re.search(r"^\s*call", ptx, re.M) and "__nv_" not in ptx
    modifiers = _FLOAT_OP.findall(ptx)
    assert modifiers
    # .rn on every add/sub/mul: without a rounding modifier ptxas may fuse a mul and an add
    # into an FMA itself; no flush-to-zero and no approximate instructions
    assert all(".rn" in mods and ".ftz" not in mods for mods in modifiers), set(modifiers)
    assert "approx" not in ptx and ".ftz" not in ptx
    # NVPTX contracts nothing on its own (TargetOptions' FPOpFusion::Standard): each fma.rn
    # is one llvm.fma of mathlib's IR
    assert len(re.findall(r"^\s*fma\.rn\.f(?:32|64)\s", ptx, re.M)) == rec["fma_calls"][0]
    if name in ("sin", "cos", "tan"):  # Payne-Hanek's table of 2/pi
        assert re.search(r"^\.global \.align 8 \.b8 \S*two_over_pi\[160\]", ptx, re.M)


@pytest.mark.parametrize("dt", MATH_DTYPES)
@pytest.mark.parametrize("name", MATHLIB_UNARY + MATHLIB_BINARY)
def test_mathlib_is_preferred_to_libdevice(emitted: dict[str, dict[str, Any]], name: str,
                                           dt: str) -> None:
    # with libdevice found, the PTX of mathlib's functions is exactly the PTX without it
    assert _ptx(emitted, f"libdevice-mathlib:{name}-{dt}") == _ptx(emitted,
                                                                   f"mathlib:{name}-{dt}")


@pytest.mark.parametrize("dt", MATH_DTYPES)
def test_mathlib_and_libdevice_in_one_kernel(emitted: dict[str, dict[str, Any]],
                                             dt: str) -> None:
    (ptx,) = _ptx(emitted, f"libdevice:exp-and-exp2-{dt}")
    assert "__nv_" not in ptx and not re.search(r"^\s*call", ptx, re.M)


def test_two_over_pi_table() -> None:
    import mpmath

    words = mathlib.two_over_pi_words(mathlib.PH_TABLE_WORDS)
    bits = 64 * (len(words) - 1)
    with mpmath.workprec(bits + 128):
        exact = int(mpmath.floor(2 / mpmath.pi * mpmath.mpf(2) ** bits))
    assert sum(w << (64 * (len(words) - 1 - k)) for k, w in enumerate(words)) == exact
    assert words[0] == 0 and words[1] == 0xA2F9836E4E441529


def test_mathlib_ops_compile_without_libdevice() -> None:
    x = la.asarray(np.ones(4, np.float32))
    (kernel,) = _kernels([la.exp(x) * la.sin(x) + x ** 2.5])
    module = nvptx.build_module(kernel, "k")  # IR objects only: no LLVM
    declared = {f.name for f in module.functions if f.is_declaration}
    assert declared <= {"llvm.fma.f32", "llvm.fma.f64", "llvm.fabs.f32", "llvm.fabs.f64",
                        "llvm.copysign.f32", "llvm.trunc.f32", "llvm.trunc.f64",
                        "llvm.ctlz.i128"} | {n for n in declared if n.startswith("llvm.nvvm.")}
    defined = {f.name for f in module.functions if not f.is_declaration}
    assert {"lazyarr.math.exp.f32", "lazyarr.math.sin.f32.ph", "lazyarr.math.pow.f32"} <= defined
    # the same module whether libdevice is there or not
    assert str(nvptx.build_module(kernel, "k", libdevice=True)) == str(module)


def test_without_mathlib_math_needs_libdevice(monkeypatch: pytest.MonkeyPatch) -> None:
    (kernel,) = _kernels([la.exp(la.asarray(np.ones(4, np.float32)))])
    monkeypatch.setattr(nvptx, "USE_MATHLIB", False)
    with pytest.raises(nvptx.UnsupportedOnTarget, match="exp on float32"):
        nvptx.build_module(kernel, "k")
    module = nvptx.build_module(kernel, "k", libdevice=True)
    assert "llvm.exp.f32" in {f.name for f in module.functions if f.is_declaration}


# -- libdevice legalisation, in process (no LLVM) ------------------------------------------------
def test_legalise_math_renames_and_rewrites_frem() -> None:
    text = ('declare float @"llvm.exp.f32"(float %".1")\n'
            'declare double @"expm1"(double %".1")\n'
            '  %".5" = call float @"llvm.exp.f32"(float %".4")\n'
            '  %".6" = frem double %".2", %".3"\n')
    out = nvptx.legalise_math(text)
    assert '@__nv_expf(float %".4")' in out and "@__nv_expm1(" in out
    assert 'call double @__nv_fmod(double %".2", double %".3")' in out
    assert "declare double @__nv_fmod(double, double)" in out
    assert "frem" not in out and "llvm.exp" not in out


def test_math_refused_without_libdevice_and_allowed_with_it() -> None:
    x = la.asarray(np.ones(4, np.float32))
    (kernel,) = _kernels([la.exp2(x) % 2.0])  # exp2 is mathlib's now; float % is frem
    with pytest.raises(nvptx.UnsupportedOnTarget, match="remainder on float32"):
        nvptx.build_module(kernel, "k")
    module = nvptx.build_module(kernel, "k", libdevice=True)  # IR objects only: no LLVM
    assert "frem float" in str(module)  # renamed to libdevice's __nv_fmodf when linked
    assert "llvm.exp2.f32" not in {f.name for f in module.functions if f.is_declaration}


def test_reduction_kernels_are_no_longer_refused() -> None:
    (kernel,) = _kernels([la.asarray(np.ones((3, 5))).sum(axis=1)])
    assert kernel.row_ndim == 1
    nvptx.build_module(kernel, "k", Variant(strategy="block"))
    nvptx.build_module(kernel, "k", Variant(strategy="thread"))


@pytest.fixture
def split_early(monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """A host array whose full reductions the CPU cuts into partial rows (any work)."""
    from lazyarr.plan import cpu_passes

    monkeypatch.setattr(cpu_passes, "SPLIT_WORK", 0)
    return np.random.default_rng(5).standard_normal(cpu_passes.PARTS**2 * 17 + 63)


def test_cpu_split_kernels_are_refused(split_early: np.ndarray) -> None:
    from lazyarr.codegen.nvptx_rows import build_rows

    (kernel,) = _kernels([la.asarray(split_early).sum()])
    assert kernel.split
    for strategy in ("block", "thread", "split", "combine"):
        with pytest.raises(NotImplementedError, match="partial rows for CPU threads"):
            nvptx.build_module(kernel, "k", Variant(strategy=strategy))
    with pytest.raises(nvptx.UnsupportedOnTarget, match="cpu=False"):
        build_rows(kernel, "k", Variant(strategy="block"))


def test_cuda_explain_of_a_big_full_reduction_assembles(split_early: np.ndarray,
                                                        tmp_path: Path) -> None:
    x = la.asarray(split_early)
    for expr in (x.sum(), x.argmax(), x.mean()):
        ex = la.explain(expr, target="cuda")
        assert not any(k.split for k in ex.kernel_objects)
        assert "partial rows" not in ex.kernel_plan
        path = tmp_path / "reduction.ptx"
        path.write_text(ex.ptx)
        if shutil.which("ptxas"):
            complaint = test_ptx._ptxas(path)
            assert complaint is None, f"ptxas -arch=sm_90 rejects it: {complaint}"


# -- device arrays without a driver ----------------------------------------------------------------
FAKE = 0x7F00_0000_1000


def test_cuda_array_interface_is_version_3() -> None:
    a = cuda_memory.DeviceArray((3, 4), np.float32, None, FAKE)
    cai = a.__cuda_array_interface__
    assert cai == {"shape": (3, 4), "typestr": "<f4", "descr": [("", "<f4")],
                   "data": (FAKE, False), "strides": None, "version": 3, "stream": 1}
    t = a.view((4, 3), (4, 16))  # a transposed view: strides must be given
    assert t.__cuda_array_interface__["strides"] == (4, 16)
    assert not t.is_c_contiguous and a.is_c_contiguous
    empty = cuda_memory.DeviceArray((0, 3), np.int64, None, FAKE)
    assert empty.__cuda_array_interface__["data"] == (0, False)
    assert a.__dlpack_device__() == (2, 0) and a.device == "cuda:0"


def test_foreign_cuda_array_interface_is_wrapped_without_copy() -> None:
    class Foreign:
        __cuda_array_interface__ = {"shape": (5, 2), "typestr": "<i8", "data": (FAKE, True),
                                    "strides": (8, 40), "version": 3}

    obj = Foreign()
    wrapped = cuda_memory.wrap(obj)
    assert (wrapped.ptr, wrapped.shape, wrapped.strides, wrapped.dtype) == (
        FAKE, (5, 2), (8, 40), np.dtype(np.int64))
    assert wrapped.readonly and wrapped.owner is obj
    assert cuda_memory.is_device_array_like(obj)
    assert not cuda_memory.is_device_array_like(np.ones(2))
    with pytest.raises(NotImplementedError, match="masked"):
        cuda_memory.wrap(type("M", (), {"__cuda_array_interface__": {
            **Foreign.__cuda_array_interface__, "mask": object()}})())


@pytest.mark.parametrize("versioned", [False, True])
@pytest.mark.parametrize("dt", ["float32", "int16", "uint64", "bool"])
def test_dlpack_round_trip(versioned: bool, dt: str) -> None:
    item = np.dtype(dt).itemsize
    a = cuda_memory.DeviceArray((2, 3), dt, None, FAKE).view((3, 2), (item, 3 * item), 8)
    capsule = a.__dlpack__(max_version=(1, 0) if versioned else None)
    name = "dltensor_versioned" if versioned else "dltensor"
    assert f'"{name}"' in repr(capsule)
    b = cuda_memory.consume_dlpack(capsule)
    assert f'"used_{name}"' in repr(capsule)  # consumed, as the protocol requires
    assert (b.ptr, b.shape, b.strides, b.dtype, b.device_id) == (
        FAKE + 8, a.shape, a.strides, a.dtype, 0)
    with pytest.raises(TypeError, match="unconsumed"):
        cuda_memory.consume_dlpack(capsule)


def test_dlpack_deleter_runs_once_whoever_ends_it() -> None:
    a = cuda_memory.DeviceArray((4,), np.float32, None, FAKE)
    before = len(dlpack._exports)
    capsule = a.__dlpack__()
    assert len(dlpack._exports) == before + 1
    del capsule  # never consumed: the capsule's destructor calls the deleter
    gc.collect()
    assert len(dlpack._exports) == before
    b = cuda_memory.consume_dlpack(a.__dlpack__(max_version=(1, 0)))
    assert len(dlpack._exports) == before + 1
    del b  # consumed: the consumer's owner calls the deleter
    gc.collect()
    assert len(dlpack._exports) == before


def test_dlpack_refuses_other_devices() -> None:
    a = cuda_memory.DeviceArray((4,), np.float32, None, FAKE)
    with pytest.raises(BufferError):
        a.__dlpack__(dl_device=(1, 0))


def test_size_classes() -> None:
    assert cuda_memory.size_class(1) == 512 and cuda_memory.size_class(512) == 512
    assert cuda_memory.size_class(513) == 1024
    assert cuda_memory.size_class(3 << 20) == 4 << 20


# -- without a driver ---------------------------------------------------------------------------
@pytest.fixture
def no_driver(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    from lazyarr.backends import cuda_driver

    monkeypatch.setenv("LAZYARR_LIBCUDA", str(tmp_path / "no-libcuda.so"))
    cuda_driver.reset_for_tests()
    yield
    cuda_driver.reset_for_tests()


def test_no_driver_is_a_clear_runtime_error(no_driver: None) -> None:
    from lazyarr import backends

    assert "cuda" not in backends.available()
    assert set(backends.available()) >= {"cpu", "interp"}
    with pytest.raises(RuntimeError, match="no CUDA driver was found"):
        la.asarray(np.ones(3), device="cuda")
    with pytest.raises(RuntimeError, match="no CUDA driver was found"):
        la.eval(la.asarray(np.ones(3)) + 1, target="cuda")
    # the CPU is unaffected, and an explicit cpu target is the same as no target
    np.testing.assert_array_equal(la.eval(la.asarray(np.ones(3)) + 1, target="cpu"), 2.0)


def test_import_loads_nothing_gpu_related() -> None:
    code = ("import sys, numpy as np, lazyarr as la; la.eval(la.asarray(np.ones(3)) * 2); "
            "print(sorted(m for m in sys.modules if 'cuda' in m or "
            "m in ('lazyarr.run.device', 'lazyarr.backends.dlpack')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_unknown_target_and_conflicting_backend() -> None:
    x = la.asarray(np.ones(3))
    with pytest.raises(ValueError, match="unknown target"):
        la.eval(x, target="tpu")
    with pytest.raises(ValueError, match="does not run on"):
        la.eval(x, target="cuda", backend="cpu")


# -- the emulated device -------------------------------------------------------------------------
_FAKE_LIBCUDA = r"""
/* A stand-in for libcuda: device memory is host memory, and nothing runs on a GPU. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
typedef int CUresult;
static size_t limit = (size_t)1 << 32, used = 0;
static int inited = 0, launches = 0;
static const char *names[] = {"CUDA_SUCCESS", "CUDA_ERROR_INVALID_VALUE",
                              "CUDA_ERROR_OUT_OF_MEMORY"};
static const char *texts[] = {"no error", "invalid argument", "out of memory"};
CUresult cuInit(unsigned f) { inited = 1; return 0; }
CUresult cuGetErrorName(CUresult e, const char **s) {
  if (e == 218) { *s = "CUDA_ERROR_INVALID_PTX"; return 0; }
  if (e < 0 || e > 2) return 1; *s = names[e]; return 0; }
CUresult cuGetErrorString(CUresult e, const char **s) {
  if (e == 218) { *s = "a PTX JIT compilation failed"; return 0; }
  if (e < 0 || e > 2) return 1; *s = texts[e]; return 0; }
CUresult cuDeviceGetCount(int *n) { if (!inited) return 3; *n = 1; return 0; }
CUresult cuDeviceGet(int *d, int o) { if (o != 0) return 101; *d = 0; return 0; }
CUresult cuDeviceGetName(char *name, int len, int d) { snprintf(name, len, "Fake GPU"); return 0; }
CUresult cuDeviceGetAttribute(int *v, int a, int d) {
  switch (a) { case 1: *v = 1024; return 0; case 16: *v = 2; return 0;
               case 75: *v = 9; return 0; case 76: *v = 0; return 0; }
  return 1; }
CUresult cuDevicePrimaryCtxRetain(void **c, int d) { *c = (void *)0x1234; return 0; }
CUresult cuCtxSetCurrent(void *c) { return c == (void *)0x1234 ? 0 : 1; }
CUresult cuCtxSynchronize(void) { return 0; }
CUresult cuMemGetInfo_v2(size_t *f, size_t *t) { *f = limit - used; *t = limit; return 0; }
/* 256 bytes in front of each block hold its size; blocks are 256-byte aligned, like cuda's */
CUresult cuMemAlloc_v2(uint64_t *p, size_t n) {
  if (n == 0) return 1;
  if (used + n > limit) return 2;
  char *m = aligned_alloc(256, 256 + (n + 255) / 256 * 256);
  if (!m) return 2;
  *(size_t *)m = n; used += n; *p = (uint64_t)(uintptr_t)(m + 256); return 0; }
CUresult cuMemFree_v2(uint64_t p) {
  char *m = (char *)(uintptr_t)p - 256; used -= *(size_t *)m; free(m); return 0; }
CUresult cuMemcpyHtoD_v2(uint64_t d, const void *s, size_t n) {
  memcpy((void *)(uintptr_t)d, s, n); return 0; }
CUresult cuMemcpyDtoH_v2(void *d, uint64_t s, size_t n) {
  memcpy(d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemcpyDtoD_v2(uint64_t d, uint64_t s, size_t n) {
  memmove((void *)(uintptr_t)d, (void *)(uintptr_t)s, n); return 0; }
CUresult cuMemsetD8_v2(uint64_t d, unsigned char v, size_t n) {
  memset((void *)(uintptr_t)d, v, n); return 0; }
CUresult cuPointerGetAttribute(void *out, int a, uint64_t p) {
  if (a != 9) return 1; *(int *)out = 0; return 0; }
CUresult cuModuleLoadDataEx(void **m, const char *img, unsigned n, int *opts, void **vals) {
  if (strstr(img, "bad ptx")) {
    for (unsigned k = 0; k < n; k++)
      if (opts[k] == 5) strcpy((char *)vals[k], "ptxas fatal: bad ptx here");
    return 218; }
  *m = (void *)0x5678; return 0; }
CUresult cuModuleGetFunction(void **f, void *m, const char *name) { *f = (void *)0x9abc; return 0; }
CUresult cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                        unsigned by, unsigned bz, unsigned sh, void *st, void **params,
                        void **extra) {
  if (bx > 1024 || gx == 0) return 1; launches++; return 0; }
CUresult cuStreamSynchronize(void *s) { return 0; }
CUresult cuEventCreate(void **e, unsigned f) { *e = malloc(8); return 0; }
CUresult cuEventRecord(void *e, void *s) { return 0; }
CUresult cuEventSynchronize(void *e) { return 0; }
CUresult cuEventDestroy_v2(void *e) { free(e); return 0; }
CUresult cuEventElapsedTime(float *ms, void *a, void *b) { *ms = 1.5f; return 0; }
int fake_launches(void) { return launches; }
void fake_set_limit(size_t n) { limit = n; }
size_t fake_used(void) { return used; }
"""

_SREG = {"tid.x": "%emu.tid", "ctaid.x": "%emu.ctaid", "ntid.x": "%emu.ntid",
         "nctaid.x": "%emu.nctaid"}

# A spin barrier over the threads of one block and a butterfly exchange built on it: all
# threads of the block run concurrently (one OS thread each) while a kernel uses them.
_EMU_RUNTIME = r"""
@emu.count = global i32 0
@emu.gen = global i32 0
@emu.xchg = global [1024 x i32] zeroinitializer
declare i32 @sched_yield()
define void @emu.barrier(i32 %n) {
entry:
  %gen = load atomic i32, ptr @emu.gen seq_cst, align 4
  %old = atomicrmw add ptr @emu.count, i32 1 seq_cst
  %n1 = sub i32 %n, 1
  %last = icmp eq i32 %old, %n1
  br i1 %last, label %release, label %wait
release:
  store atomic i32 0, ptr @emu.count seq_cst, align 4
  %g = atomicrmw add ptr @emu.gen, i32 1 seq_cst
  ret void
wait:
  %now = load atomic i32, ptr @emu.gen seq_cst, align 4
  %same = icmp eq i32 %now, %gen
  br i1 %same, label %spin, label %done
spin:
  %y = call i32 @sched_yield()
  br label %wait
done:
  ret void
}
define i32 @emu.shfl(i32 %tid, i32 %n, i32 %v, i32 %m) {
  %slot = getelementptr [1024 x i32], ptr @emu.xchg, i32 0, i32 %tid
  store atomic i32 %v, ptr %slot seq_cst, align 4
  call void @emu.barrier(i32 %n)
  %other = xor i32 %tid, %m
  %oslot = getelementptr [1024 x i32], ptr @emu.xchg, i32 0, i32 %other
  %w = load atomic i32, ptr %oslot seq_cst, align 4
  call void @emu.barrier(i32 %n)
  ret i32 %w
}
"""


def cpu_text(text: str, nwords: int) -> str:
    """A GPU kernel module rewritten to run one GPU thread per call on the CPU."""
    text = text.replace("addrspace(1)", "").replace("addrspace(3)", "")
    text = text.replace('define ptx_kernel void @"lazyarr_kernel"(',
                        'define void @"lazyarr_kernel"(i32 %emu.tid, i32 %emu.ctaid, '
                        'i32 %emu.ntid, i32 %emu.nctaid, ')
    for reg, var in _SREG.items():
        text = text.replace(f'call i32 @"llvm.nvvm.read.ptx.sreg.{reg}"()', f"add i32 {var}, 0")
    text = text.replace('call void @"llvm.nvvm.barrier0"()',
                        "call void @emu.barrier(i32 %emu.ntid)")
    text = re.sub(r'call i32 @"llvm\.nvvm\.shfl\.sync\.bfly\.i32"\(i32 -1, (i32 \S+), '
                  r"(i32 \S+), i32 31\)",
                  r"call i32 @emu.shfl(i32 %emu.tid, i32 %emu.ntid, \1, \2)", text)
    text = re.sub(r'^declare .*@"llvm\.nvvm\..*$', "", text, flags=re.M)
    # the parser turns this annotation into the ptx_kernel calling convention, which the
    # host's code generator would then apply to a function called with the C convention
    text = re.sub(r"^!nvvm\.annotations.*$", "", text, flags=re.M)
    words = ", ".join(f"i64 %w{k}" for k in range(nwords))
    loads = "\n".join(f"  %p{k} = getelementptr i64, ptr %words, i64 {k}\n"
                      f"  %w{k} = load i64, ptr %p{k}" for k in range(nwords))
    return text + _EMU_RUNTIME + f"""
define void @emu.thread(i32 %t, i32 %c, i32 %n, i32 %g, ptr %words) {{
{loads}
  call void @"lazyarr_kernel"(i32 %t, i32 %c, i32 %n, i32 %g, {words})
  ret void
}}
define void @emu.grid(i32 %g, i32 %n, ptr %words) {{
entry:
  br label %blocks
blocks:
  %c = phi i32 [0, %entry], [%c1, %next]
  br label %threads
threads:
  %t = phi i32 [0, %blocks], [%t1, %threads]
  call void @emu.thread(i32 %t, i32 %c, i32 %n, i32 %g, ptr %words)
  %t1 = add i32 %t, 1
  %tdone = icmp eq i32 %t1, %n
  br i1 %tdone, label %next, label %threads
next:
  %c1 = add i32 %c, 1
  %cdone = icmp eq i32 %c1, %g
  br i1 %cdone, label %out, label %blocks
out:
  ret void
}}
"""


_THREAD_FN = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, ctypes.c_int32,
                              ctypes.c_int32, ctypes.c_void_p)
_GRID_FN = ctypes.CFUNCTYPE(None, ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p)


class Emulator:
    """A ``backends.cuda.Runner`` that runs each GPU thread of a kernel on the CPU."""

    def __init__(self) -> None:
        from lazyarr.backends import cpu

        self.jit = cpu.jit()  # the CPU backend's target machine, with libm symbols
        self.keep: list[Any] = []
        self.cache: dict[Any, Any] = {}
        self.launches: list[tuple[Variant, int, int]] = []

    def function(self, key: Any) -> Any:
        found = self.cache.get(key)
        if found is None:
            import llvmlite.binding as llvm

            # libdevice=True only lifts the math refusals: the host's libm stands in for it
            module = nvptx.build_module(key.kernel, "lazyarr_kernel", key.variant, True)
            nwords = nvptx_kernel.param_count(key.kernel, key.variant)
            mod = llvm.parse_assembly(cpu_text(str(module), nwords))
            mod.triple, mod.data_layout = self.jit.triple, self.jit.layout
            mod.verify()
            pto = llvm.create_pipeline_tuning_options(speed_level=1)
            pb = llvm.create_pass_builder(self.jit.tm, pto)
            pb.getModulePassManager().run(mod, pb)
            # an engine owns (and frees) its target machine: each gets its own, for the CPU
            # the CPU backend compiles for (LAZYARR_CPU's or the host's)
            tm = self.jit.target_machine(opt=1)
            engine = llvm.create_mcjit_compiler(mod, tm)
            engine.finalize_object()
            self.keep.append((engine, mod))
            found = self.cache[key] = (key, _THREAD_FN(engine.get_function_address(
                "emu.thread")), _GRID_FN(engine.get_function_address("emu.grid")))
        return found

    @property
    def functions(self) -> dict[tuple[int, Any], int]:
        """The driver runner's table, as the GPU suite reads it: by (the stand-in's context,
        key), the stand-in's function handle."""
        return {(0x1234, key): 0x9ABC for key in self.cache}

    def launch(self, function: Any, grid: int, block: int, words: np.ndarray) -> None:
        key, thread, grid_fn = function
        self.launches.append((key.variant, grid, block))
        address = words.ctypes.data
        if key.variant.strategy not in ("block", "split", "combine"):
            grid_fn(grid, block, address)  # no barriers: threads one after another
            return
        for c in range(grid):
            threads = [threading.Thread(target=thread, args=(t, c, block, grid, address))
                       for t in range(block)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()


def build_fake_libcuda(folder: Path) -> str | None:
    """The stand-in libcuda compiled into ``folder``; None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        return None
    (folder / "fakecuda.c").write_text(_FAKE_LIBCUDA)
    lib = folder / "libfakecuda.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(lib), str(folder / "fakecuda.c")],
                   check=True, capture_output=True)
    return str(lib)


@pytest.fixture(scope="module")
def fake_libcuda(tmp_path_factory: pytest.TempPathFactory) -> str:
    lib = build_fake_libcuda(tmp_path_factory.mktemp("fakecuda"))
    if lib is None:
        pytest.skip("no C compiler to build the stand-in libcuda")
    return lib


def emulate_for_the_session(folder: Path) -> None:
    """``pytest --emulate-gpu`` (tests/conftest.py): the stand-in driver and the emulator
    for the whole run, so that the GPU suite (``-m gpu``) runs here as on a device: a dry
    run of its tests' logic before a real GPU's run. Kernels run on the CPU, so timing and
    NVPTX code generation are not checked."""
    from lazyarr.backends import cuda, cuda_driver

    lib = build_fake_libcuda(folder)
    if lib is None:
        raise pytest.UsageError("--emulate-gpu needs a C compiler (cc, gcc or clang)")
    os.environ["LAZYARR_LIBCUDA"] = lib
    cuda_driver.reset_for_tests()
    cuda.set_runner(Emulator())


@pytest.fixture(scope="module")
def emulated(fake_libcuda: str):
    """The stand-in driver and the CPU emulator in place of the GPU, for this module."""
    from lazyarr.backends import cuda, cuda_driver

    from lazyarr.ir import graph

    patch = pytest.MonkeyPatch()
    patch.setenv("LAZYARR_LIBCUDA", fake_libcuda)
    patch.setattr(graph.Buffer, "foreign", graph.Buffer.foreign)  # restored afterwards
    cuda_driver.reset_for_tests()
    emulator = Emulator()
    old = cuda.set_runner(emulator)
    yield emulator
    gc.collect()
    cuda_memory.allocator.empty_cache()
    cuda._Status.arrays.clear()
    cuda.set_runner(old)
    cuda.clear_cache()
    cuda_driver.reset_for_tests()
    patch.undo()


def fake(emulated: Emulator) -> ctypes.CDLL:
    from lazyarr.backends import cuda_driver

    return cuda_driver.driver().lib


def _gpu(expr: la.LazyArray) -> np.ndarray:
    result = la.eval(expr, target="cuda")
    assert isinstance(result, cuda_memory.DeviceArray)
    return result.to_numpy()


def _assert_like(got: np.ndarray, expected: np.ndarray, rtol: float = 0.0) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if rtol and expected.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    else:
        np.testing.assert_array_equal(got, expected)


def test_emulated_driver_basics(emulated: Emulator) -> None:
    from lazyarr.backends import cuda_driver

    from lazyarr import backends

    assert "cuda" in backends.available()
    ctx = cuda_driver.context()
    assert (ctx.name, ctx.arch, ctx.sm_count) == ("Fake GPU", "sm_90", 2)
    host = np.arange(12, dtype=np.int16).reshape(3, 4)
    a = cuda_memory.DeviceArray.from_numpy(host)
    np.testing.assert_array_equal(a.to_numpy(), host)
    np.testing.assert_array_equal(np.asarray(a.view((4, 3), (2, 8))), host.T)
    with pytest.raises(ValueError, match="without a copy"):
        np.asarray(a, copy=False)
    with pytest.raises(cuda_driver.CudaError, match=r"cuModuleLoadDataEx failed: "
                       r"CUDA_ERROR_INVALID_PTX \(218\).*\n.*bad ptx here"):
        cuda_driver.module_load(b"bad ptx")
    start, end = cuda_driver.Event(), cuda_driver.Event()
    start.record()
    end.record()
    end.synchronize()
    assert start.elapsed_ms(end) == 1.5


def test_out_of_memory_is_memory_error_after_emptying_the_cache(emulated: Emulator) -> None:
    from lazyarr.backends import cuda_driver

    lib = fake(emulated)
    lib.fake_used.restype = ctypes.c_size_t
    gc.collect()
    cuda_memory.allocator.empty_cache()
    base = lib.fake_used()
    lib.fake_set_limit(ctypes.c_size_t(base + (8 << 20)))
    try:
        a = cuda_memory.DeviceArray.empty((1 << 20,), np.float32)  # 4 MiB
        del a  # cached, not freed
        assert cuda_memory.allocator.stats()["cached"] >= 4 << 20
        b = cuda_memory.DeviceArray.empty((3 << 19,), np.float32)  # 6 MiB: only after emptying
        assert cuda_memory.allocator.stats()["cached"] == 0
        with pytest.raises(MemoryError, match="CUDA_ERROR_OUT_OF_MEMORY"):
            cuda_memory.DeviceArray.empty((1 << 21,), np.float32)
        with pytest.raises(cuda_driver.CudaOutOfMemoryError):
            cuda_driver.mem_alloc(64 << 20)
        del b
    finally:
        lib.fake_set_limit(ctypes.c_size_t(1 << 32))


def test_allocator_reuses_blocks(emulated: Emulator) -> None:
    x = la.asarray(np.ones(1000, np.float32), device="cuda")
    expr = x * 2 + 1
    _gpu(expr)
    before = cuda_memory.allocator.stats()["driver_allocs"]
    for _ in range(5):
        _gpu(expr)
    assert cuda_memory.allocator.stats()["driver_allocs"] == before
    lib = fake(emulated)
    lib.fake_used.restype = ctypes.c_size_t
    used = lib.fake_used()
    gc.collect()
    cuda_memory.empty_cache()
    assert lib.fake_used() < used


def test_results_stay_on_the_device(emulated: Emulator) -> None:
    h = np.linspace(-2, 2, 1001).astype(np.float32)
    x = la.asarray(h, device="cuda")
    r = (la.exp(-x) * x + 1).eval()
    assert isinstance(r, cuda_memory.DeviceArray) and r.device == "cuda:0"
    np.testing.assert_allclose(r.to_numpy(), np.exp(-h) * h + 1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(la.asarray(r) * 2), 2 * (np.exp(-h) * h + 1),
                               rtol=1e-6, atol=2e-6)
    assert la.asarray(r)._node.arg.array is r  # captured by reference
    assert emulated.launches[-1][0].vector  # aligned and contiguous: the vector variant


def test_mixing_host_and_device_is_a_type_error(emulated: Emulator) -> None:
    h = np.ones(8, np.float32)
    x = la.asarray(h, device="cuda")
    mixed = x + la.asarray(h)
    with pytest.raises(TypeError, match=r"mixes host .*NumPy.* and CUDA device"):
        mixed.eval()
    np.testing.assert_array_equal(la.eval(mixed, target="cuda").to_numpy(), 2 * h)
    np.testing.assert_array_equal(la.eval(mixed, target="cpu"), 2 * h)
    with pytest.raises(TypeError, match="copy it to the host"):
        la.asarray(x._node.arg.array, device="cpu")
    with pytest.raises(NotImplementedError, match="out="):
        la.eval(x + 1, out=np.empty(8, np.float32), target="cuda")


def test_foreign_cuda_arrays_are_zero_copy(emulated: Emulator) -> None:
    owner = cuda_memory.DeviceArray.from_numpy(np.arange(6, dtype=np.float64))

    class Foreign:  # what CuPy or Numba would hand over
        __cuda_array_interface__ = owner.__cuda_array_interface__

    class DLForeign:  # what PyTorch would hand over
        def __dlpack_device__(self) -> tuple[int, int]:
            return (2, 0)

        def __dlpack__(self, stream: Any = None, max_version: Any = None) -> Any:
            assert stream == 1  # lazyarr works on the legacy default stream
            return owner.__dlpack__(stream=stream, max_version=max_version)

    for obj in (Foreign(), DLForeign()):
        x = la.asarray(obj)
        assert x._node.arg.array.ptr == owner.ptr
        np.testing.assert_array_equal(_gpu(x * 2), np.arange(6) * 2.0)


def test_integer_power_error_is_read_back(emulated: Emulator) -> None:
    x = la.asarray(np.array([2, 3, 4], np.int32), device="cuda")
    np.testing.assert_array_equal(_gpu(x ** 2), [4, 9, 16])
    with pytest.raises(ValueError, match="negative integer powers"):
        la.eval(x ** la.asarray(np.array([1, -1, 2], np.int32), device="cuda"))
    np.testing.assert_array_equal(_gpu(x ** 3), [8, 27, 64])  # the status word was reset


_EW = {
    "add": lambda a, b: a + b, "sub-mul": lambda a, b: a * b - a, "div": lambda a, b: a / b,
    "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b, "min": np.minimum,
    "where": lambda a, b: np.where(a > b, a, b), "cmp": lambda a, b: a < b,
    "cast": lambda a, b: (a + b).astype(np.float32),
}
_EW_LA = {"min": la.minimum, "where": lambda a, b: la.where(a > b, a, b),
          "cast": lambda a, b: (a + b).astype(np.float32)}


def _layout_operands(kind: str, dt: str, rng: np.random.Generator
                     ) -> tuple[np.ndarray, np.ndarray]:
    def r(*shape: int) -> np.ndarray:
        vals = rng.integers(-50, 50, shape) if dt[0] in "iu" else rng.standard_normal(shape)
        if dt[0] == "u":
            vals = np.abs(vals) + 1
        return vals.astype(dt)

    return {
        "contig": lambda: (r(1003), r(1003)),  # vector groups and a tail of 3
        "offset": lambda: (r(1004)[1:], r(1003)),  # misaligned: the scalar variant
        "strided": lambda: (r(2006)[::2], r(1003)),
        "bcast": lambda: (r(37, 29), r(29)),
        "3d": lambda: (r(5, 6, 7).transpose(2, 0, 1), r(7, 5, 1)),
        "scalar": lambda: (r(1003), r(1)[0]),
    }[kind]()


@pytest.mark.parametrize("dt", ["float32", "float64", "int32", "uint8", "int64"])
@pytest.mark.parametrize("kind", ["contig", "offset", "strided", "bcast", "3d", "scalar"])
@pytest.mark.parametrize("name", sorted(_EW))
def test_emulated_elementwise(emulated: Emulator, name: str, kind: str, dt: str) -> None:
    rng = np.random.default_rng(7)
    a, b = _layout_operands(kind, dt, rng)  # zeros included: x // 0 is defined (0)
    with np.errstate(all="ignore"):
        expected = np.asarray(_EW[name](a, b))
    fn = _EW_LA.get(name, _EW[name])
    lazy_b = la.asarray(b) if np.ndim(b) else b
    got = _gpu(fn(la.asarray(a), lazy_b))
    _assert_like(got, expected)


def test_emulated_variants_follow_the_launch(emulated: Emulator) -> None:
    h = np.ones(1004, np.float32)
    _gpu(la.asarray(h) + 1)
    assert emulated.launches[-1][0] == Variant(vector=True, narrow=True)
    on_device = cuda_memory.DeviceArray.from_numpy(h)
    _gpu(la.asarray(on_device.view((1003,), (4,), 4)) + 1)  # 4 bytes past an aligned start
    assert emulated.launches[-1][0] == Variant(vector=False, narrow=True)
    _gpu(la.asarray(np.ones((6, 200), np.float32)).sum(axis=1))
    assert emulated.launches[-1][0].strategy == "block"
    _gpu(la.asarray(np.ones((6, 20), np.float32)).sum(axis=1))
    assert emulated.launches[-1][0].strategy == "thread"  # short rows
    _gpu(la.asarray(np.ones((200, 6), np.float32)).sum(axis=0))
    assert emulated.launches[-1][0].strategy == "thread"  # columns: coalesced per thread


def test_wide_index_spaces_get_64_bit_division() -> None:
    from lazyarr.backends import cuda

    from lazyarr.ir.loop import Launch, View

    (kernel,) = _kernels([la.asarray(np.ones((3, 4))) + 1])
    fake_view = cuda_memory.DeviceArray((1,), np.float64, None, FAKE)
    for shape, narrow in (((3, 4), True), ((1 << 16, 1 << 15), False)):
        launch = Launch(kernel, shape, [View(fake_view, 0, (8 * shape[1], 8))],
                        [View(fake_view, 0, (8 * shape[1], 8))])
        assert cuda.choose_variant(launch).narrow is narrow


def _reduction_data(dt: str, shape: tuple[int, ...], rng: np.random.Generator,
                    nans: bool) -> np.ndarray:
    if dt == "bool":
        return rng.random(shape) < 0.3
    if dt[0] in "iu":
        return rng.integers(0 if dt[0] == "u" else -9, 9, shape).astype(dt)
    vals = rng.standard_normal(shape).astype(dt)
    if nans:
        vals.ravel()[rng.choice(vals.size, 3, replace=False)] = np.nan
    vals.ravel()[:5] = vals.ravel()[5]  # ties: the first index must win
    return vals


@pytest.mark.parametrize("strategy", ["block", "thread"])
@pytest.mark.parametrize("axes", ["rows", "cols", "all", "3d"])
@pytest.mark.parametrize("dt", ["float32", "float64", "int32", "uint8", "bool"])
@pytest.mark.parametrize("kind", _KINDS)
def test_emulated_reductions(emulated: Emulator, monkeypatch: pytest.MonkeyPatch, kind: str,
                             dt: str, axes: str, strategy: str) -> None:
    from lazyarr.backends import cuda

    shape, axis = _AXES[axes]
    if kind.startswith("arg") and isinstance(axis, tuple):
        pytest.skip("argmin/argmax take one axis")
    if kind == "prod" and dt != "bool":
        shape = tuple(min(n, 12) for n in shape)  # keep products finite and exact
    monkeypatch.setattr(cuda, "SHORT_ROW", 0 if strategy == "block" else 1 << 30)
    for nans in (False, True) if dt.startswith("float") else (False,):
        h = _reduction_data(dt, shape, np.random.default_rng(3), nans)
        expected = np.asarray(getattr(h, kind)(axis=axis))
        got = _gpu(getattr(la.asarray(h), kind)(axis=axis))
        if kind in ("sum", "prod") and dt.startswith("float"):
            _assert_rounding_only(got, expected, h, kind, axis)
        else:
            _assert_like(got, expected)
        if axes != "cols":  # column folds always take a thread per column
            assert emulated.launches[-1][0].strategy == strategy


def _assert_rounding_only(got: np.ndarray, expected: np.ndarray, h: np.ndarray, kind: str,
                          axis: Any) -> None:
    """A float sum, mean or product in another order: within the first-order rounding
    bound."""
    assert got.dtype == expected.dtype and got.shape == expected.shape
    nan = np.isnan(expected)
    assert (np.isnan(got) == nan).all()
    n = h.size // max(expected.size, 1)
    eps = np.finfo(h.dtype).eps
    exact = getattr(h.astype(np.float64), kind)(axis=axis)
    magnitude = np.abs(h.astype(np.float64))
    scale = {"sum": magnitude.sum(axis=axis), "mean": magnitude.mean(axis=axis)}.get(
        kind, np.abs(exact))
    bound = (n + 16) * eps * scale
    assert (np.abs(got[~nan] - exact[~nan]) <= bound[~nan]).all(), (got, exact)


@pytest.mark.parametrize("strategy", ["block", "thread"])
@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_emulated_row_kernels(emulated: Emulator, monkeypatch: pytest.MonkeyPatch, dt: str,
                              strategy: str) -> None:
    from lazyarr.backends import cuda

    monkeypatch.setattr(cuda, "SHORT_ROW", 0 if strategy == "block" else 1 << 30)
    h = np.random.default_rng(5).standard_normal((7, 333)).astype(dt)
    x = la.asarray(h, device="cuda")
    rtol = 2e-5 if dt == "float32" else 1e-12
    e = la.exp(x - x.max(axis=1, keepdims=True))
    ee = np.exp(h - h.max(axis=1, keepdims=True))
    _assert_like(_gpu(e / e.sum(axis=1, keepdims=True)), ee / ee.sum(axis=1, keepdims=True),
                 rtol)
    assert emulated.launches[-1][0].strategy == strategy
    ln = (x - x.mean(axis=1, keepdims=True)) / la.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    ref = (h - h.mean(axis=1, keepdims=True)) / np.sqrt(h.var(axis=1, keepdims=True) + 1e-5)
    _assert_like(_gpu(ln), ref.astype(dt), rtol * 10)
    _assert_like(_gpu(la.logsumexp(x, axis=1)),
                 np.log(np.exp(h).sum(axis=1)).astype(dt), rtol * 10)


@pytest.mark.parametrize(("shape", "axis"), [((1000,), None), ((3, 700), 1),
                                           ((7, 3, 90), (0, 2))], ids=str)
@pytest.mark.parametrize(("kind", "dt"), [
    ("sum", "float32"), ("sum", "int32"), ("max", "float32"), ("min", "int32"),
    ("all", "bool"), ("any", "float64"), ("prod", "int32"), ("mean", "float64")])
def test_emulated_split_reductions(emulated: Emulator, monkeypatch: pytest.MonkeyPatch,
                                   kind: str, dt: str, shape: tuple[int, ...],
                                   axis: Any) -> None:
    from lazyarr.backends import cuda

    monkeypatch.setattr(cuda, "SPLIT_ROW", 256)
    monkeypatch.setattr(cuda, "SPLIT_CHUNK", 256)
    h = _reduction_data(dt, shape, np.random.default_rng(11), dt.startswith("float"))
    expected = np.asarray(getattr(h, kind)(axis=axis))
    got = _gpu(getattr(la.asarray(h), kind)(axis=axis))
    if kind in ("sum", "mean") and dt.startswith("float"):
        _assert_rounding_only(got, expected, h, "sum" if kind == "sum" else "mean", axis)
    else:
        _assert_like(got, expected)
    assert [v.strategy for v, _, _ in emulated.launches[-2:]] == ["split", "combine"]


def test_emulated_host_full_reductions_are_not_cut_for_cpu_threads(
        emulated: Emulator, split_early: np.ndarray) -> None:
    # host leaves that the CPU would split: target="cuda" copies them and lowers without
    # partial rows (the emulator builds through nvptx.build_module, which refuses them)
    x = la.asarray(split_early)
    assert [k.split for k in la.explain(x.sum()).kernel_objects] == [True]
    got = la.eval(x.sum(), target="cuda").to_numpy()
    _assert_rounding_only(got, np.asarray(split_early.sum()), split_early, "sum", None)
    assert [v.strategy for v, _, _ in emulated.launches[-2:]] == ["split", "combine"]
    _assert_like(la.eval(x.argmax(), target="cuda").to_numpy(),
                 np.asarray(split_early.argmax()))


def test_emulated_reductions_are_deterministic(emulated: Emulator) -> None:
    h = np.random.default_rng(9).standard_normal((3, 5000)).astype(np.float32)
    x = la.asarray(h, device="cuda")
    first = _gpu(x.sum(axis=1))
    for _ in range(2):
        assert _gpu(x.sum(axis=1)).tobytes() == first.tobytes()


def test_emulated_data_movement_built_by_the_evaluator(emulated: Emulator) -> None:
    """Reshapes, joins and leaf views on the device are copy launches and views the evaluator
    builds (the backend imports nothing of the planner): every layout, dtype mix and empty
    piece as NumPy has it."""
    a = np.arange(24, dtype=np.float64).reshape(4, 6)
    b = np.arange(8, dtype=np.int8).reshape(4, 2)
    e = np.zeros((4, 0), np.float32)
    x, y, z = (la.asarray(v, device="cuda") for v in (a, b, e))
    _assert_like(_gpu(la.concatenate([x, y, z], axis=1)), np.concatenate([a, b, e], axis=1))
    _assert_like(_gpu(la.concatenate([x[::-1, 1::2], y], axis=-1)),
                 np.concatenate([a[::-1, 1::2], b], axis=-1))
    _assert_like(_gpu(la.stack([x[:, :2], y], axis=2)), np.stack([a[:, :2], b], axis=2))
    _assert_like(_gpu(la.stack([x[0, 0], y[1, 1]])), np.stack([a[0, 0], b[1, 1]]))
    _assert_like(_gpu(x.reshape(3, 8)), a.reshape(3, 8))  # C-ordered: a view, no copy
    _assert_like(_gpu(x[:, 1:].reshape(20)), a[:, 1:].reshape(20))  # strided: copied first
    _assert_like(_gpu(x[1:3, ::-2].T), a[1:3, ::-2].T)
    _assert_like(_gpu(z.reshape(0, 4)), e.reshape(0, 4))


def test_emulated_opaque_ops_on_the_device(emulated: Emulator) -> None:
    a = np.arange(24, dtype=np.float32).reshape(4, 6)
    b = np.arange(12, dtype=np.int32).reshape(2, 6)
    x, y = la.asarray(a, device="cuda"), la.asarray(b, device="cuda")
    _assert_like(_gpu(la.concatenate([x, y], axis=0) * 2),
                 np.concatenate([a, b], axis=0) * 2)
    _assert_like(_gpu(la.stack([x[:2], y], axis=1) + 1), np.stack([a[:2], b], axis=1) + 1)
    _assert_like(_gpu(x.T.reshape(24) + 0), a.T.reshape(24) + 0)
    _assert_like(_gpu(x[:, ::2]), a[:, ::2])  # a view of a leaf: copied by a kernel
    assert la.eval(x) is x._node.arg.array  # a leaf itself: no copy at all
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(NotImplementedError, match="needs CuPy"):
            la.eval(x @ x.T)



# -- mathlib on the emulated device --------------------------------------------------------------
def _trig_limit(dt: np.dtype) -> float:
    return mathlib.TRIG_LIMIT[0 if dt == np.float64 else 1]


def _specials(dt: np.dtype) -> list[float]:
    f = np.finfo(dt)
    return [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, -2.0, float(f.tiny),
            -float(f.tiny), float(f.smallest_subnormal), -float(f.smallest_subnormal),
            float(f.max), -float(f.max)]


# float64's hardest argument for the reduction: the nearest to a multiple of pi/2 (about
# 2**-61 away). glibc's cos is 14 ULP off there (-4.68716592425462e-19; the exact value is
# -4.68716592425462761e-19), so it is checked against mpmath only.
HARDEST_F64 = 6381956970095103 * 2.0 ** 797


def _huge(dt: np.dtype) -> list[float]:
    """Trigonometric arguments beyond mathlib's Cody-Waite reduction (Payne-Hanek on the
    GPU, libm on the CPU)."""
    limit = _trig_limit(dt)
    vals = [1e22, 3e38, np.nextafter(limit, np.inf), 2 * limit, 1e9, 7.5e15, 2.0 ** 60]
    if dt == np.float64:
        vals += [1e300, 2.0 ** 1000, 1.7e308]
    return [v for x in vals for v in (x, -x)]


_DOMAIN = {  # where each function's result is neither trivially 0, 1, inf nor NaN
    "exp": lambda rng, dt, n: rng.uniform(-1.05, 1.05, n) * np.log(float(np.finfo(dt).max)),
    "log1p": lambda rng, dt, n: rng.uniform(-1, 2, n),
    "sin": lambda rng, dt, n: np.concatenate([rng.uniform(-1e5, 1e5, n // 2),
                                              rng.integers(-10**6, 10**6, n - n // 2)
                                              * (np.pi / 2)]),
    "tanh": lambda rng, dt, n: rng.uniform(-25, 25, n),
    "exp2": lambda rng, dt, n: rng.uniform(-1.1, 1.05, n) * np.log2(float(np.finfo(dt).max)),
}
_DOMAIN_OF = {"expm1": "exp", "sinh": "exp", "cosh": "exp", "cos": "sin", "tan": "sin",
              "arctan": "tanh", "log": "log1p", "sqrt": "log1p", "log2": "log1p",
              "log10": "log1p", "cbrt": "tanh"}
_DOMAIN["arcsin"] = lambda rng, dt, n: rng.uniform(-1, 1, n)
_DOMAIN["arccosh"] = lambda rng, dt, n: 1 + np.exp2(rng.uniform(-50, 10, n))
_DOMAIN_OF.update({"arccos": "arcsin", "arctanh": "arcsin", "arcsinh": "tanh"})
_DOMAIN["erf"] = lambda rng, dt, n: rng.uniform(-11, 11, n)  # through erfc's underflow
_DOMAIN_OF["erfc"] = "erf"


def _unary_operand(name: str, dt: np.dtype, rng: np.random.Generator, n: int = 1003
                   ) -> np.ndarray:
    f = np.finfo(dt)
    lo, hi = np.log10(float(f.smallest_subnormal)), np.log10(float(f.max))
    parts = [_specials(dt), _huge(dt), rng.standard_normal(200) * 3,
             rng.choice([-1.0, 1.0], 300) * 10.0 ** rng.uniform(lo, hi, 300),
             _DOMAIN[_DOMAIN_OF.get(name, name)](rng, dt, 300)]
    with np.errstate(over="ignore"):
        x = np.concatenate([np.asarray(p, np.float64) for p in parts]).astype(dt)
    return np.concatenate([x, rng.standard_normal(n - x.size).astype(dt)])  # a tail of 3


def _binary_operands(name: str, dt: np.dtype, rng: np.random.Generator, n: int = 1003
                     ) -> tuple[np.ndarray, np.ndarray]:
    sp = np.array([*_specials(dt), 3.0, -3.0, 0.25], dt)
    x, y = (a.ravel() for a in np.meshgrid(sp, sp))  # every pair of special values
    m = n - x.size
    if name == "power":
        xs = rng.choice([-1.0, 1.0], m) * 10.0 ** rng.uniform(-3, 3, m)
        ys = np.where(rng.random(m) < 0.3, rng.integers(-40, 40, m), rng.uniform(-30, 30, m))
    else:
        xs, ys = rng.uniform(-100, 100, m), rng.uniform(-100, 100, m)
    return np.concatenate([x, xs.astype(dt)]), np.concatenate([y, ys.astype(dt)])


def _math_operands(name: str, dt: str) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(zlib.crc32(f"{name}-{dt}".encode()))
    if name in MATHLIB_BINARY:
        return _binary_operands(name, np.dtype(dt), rng)
    return (_unary_operand(name, np.dtype(dt), rng),)


@pytest.mark.parametrize("dt", MATH_DTYPES)
@pytest.mark.parametrize("name", MATHLIB_UNARY + MATHLIB_BINARY)
def test_emulated_mathlib_matches_numpy(emulated: Emulator, name: str, dt: str) -> None:
    args = _math_operands(name, dt)
    got = _gpu(_math_expr(name, *map(la.asarray, args)))
    with np.errstate(all="ignore"):
        expected = getattr(np, name)(*args)
    # NaN, infinities and signed zeros exactly; finite values within the differential bound
    assert_same(got, expected, 0 if name == "sqrt" else TRANSCENDENTAL, what=f"{name} {dt}")
    assert emulated.launches[-1][0].vector  # four-lane groups and the scalar tail


@pytest.mark.parametrize("dt", MATH_DTYPES)
# erf and erfc too (NumPy has none to compare with above)
@pytest.mark.parametrize("name", MATHLIB_UNARY + MATHLIB_BINARY + ("erf", "erfc"))
def test_emulated_mathlib_is_the_cpus_bits(emulated: Emulator, name: str, dt: str) -> None:
    """The GPU kernel inlines the IR the CPU calls out of line: the same bits, NaNs included,
    except arguments beyond mathlib's trigonometric reduction (Payne-Hanek on the GPU, the
    C library on the CPU: each within a few tenths of an ULP, so at most 2 apart)."""
    args = _math_operands(name, dt)
    expr = _math_expr(name, *map(la.asarray, args))
    gpu, cpu = _gpu(expr), np.asarray(la.eval(expr, target="cpu"))
    bits = f"u{np.dtype(dt).itemsize}"
    huge = np.zeros(gpu.shape, bool)
    if name in ("sin", "cos", "tan"):
        a = np.abs(args[0])
        huge = (a > _trig_limit(np.dtype(dt))) & np.isfinite(a)
        assert huge.sum() >= 10
        assert ulp_distance(gpu[huge], cpu[huge]).max() <= 2
    same = gpu.view(bits) == cpu.view(bits)
    assert same[~huge].all(), (args[0][~huge & ~same][:5], gpu[~huge & ~same][:5],
                               cpu[~huge & ~same][:5])


@pytest.mark.parametrize("dt", MATH_DTYPES)
@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_emulated_huge_trigonometric_arguments(emulated: Emulator, name: str, dt: str) -> None:
    """Payne-Hanek on the GPU against mpmath: log-uniform arguments up to the format's
    maximum, and the hardest one of float64."""
    import mpmath

    rng = np.random.default_rng(23)
    top = np.log2(float(np.finfo(dt).max))
    x = (rng.choice([-1.0, 1.0], 203) * 2.0 ** rng.uniform(17, top, 203)).astype(dt)
    if dt == "float64":
        x[:2] = HARDEST_F64, -HARDEST_F64
    got = _gpu(getattr(la, name)(la.asarray(x)))
    with mpmath.workprec(1200):  # enough bits of pi for the largest argument
        exact = [getattr(mpmath, name)(mpmath.mpf(float(v))) for v in x]
        err = [float(abs(mpmath.mpf(float(g)) - e)) / float(np.spacing(np.abs(np.dtype(dt).type(
               float(e))))) for g, e in zip(got, exact, strict=True)]
    # measured on many more arguments: sin and cos 0.69 ULP at most, tan 2.04
    assert max(err) <= (2.5 if name == "tan" else 1.0), max(err)

@pytest.mark.parametrize("dt", MATH_DTYPES)
def test_emulated_fused_math_is_the_cpus_bits(emulated: Emulator, dt: str) -> None:
    # sin and cos of one array (one sincos call on the CPU), exp, and GELU with x**3
    rng = np.random.default_rng(17)
    a, b = (rng.standard_normal(1003).astype(dt) * 4 for _ in range(2))
    x, y = la.asarray(a), la.asarray(b)
    for expr in (la.exp(-x) * la.sin(y) + la.cos(y),
                 0.5 * x * (1 + la.tanh(0.7978845608 * (x + 0.044715 * x ** 3)))):
        gpu, cpu = _gpu(expr), np.asarray(la.eval(expr, target="cpu"))
        assert gpu.dtype == np.dtype(dt) and gpu.tobytes() == cpu.tobytes()


def test_emulated_gradients(emulated: Emulator) -> None:
    """Backward graphs on the device: a row-wise kernel, a slice's gradient embedded in zeros
    by joins, a concatenate's gradient sliced back (matrix products need CuPy)."""
    rng = np.random.default_rng(14)
    h = rng.standard_normal((6, 40)).astype(np.float32)
    s = rng.standard_normal(40).astype(np.float32)

    def loss(t: la.LazyArray, v: la.LazyArray) -> la.LazyArray:
        normed = (t - t.mean(axis=1, keepdims=True)) / la.sqrt(t.var(axis=1, keepdims=True)
                                                               + 1e-5)
        act = la.tanh(normed * v)
        joined = la.concatenate([act[1:, ::3], act[:2, ::-3] * 2], axis=0)
        return la.sum(joined ** 2) + la.logsumexp(act * 3)

    host = la.grad(loss, argnums=(0, 1))(h, s)
    device = la.grad(loss, argnums=(0, 1))(la.asarray(h, device="cuda"),
                                           la.asarray(s, device="cuda"))
    for got, want in zip(device, host, strict=True):
        _assert_like(_gpu(got), want.eval(), 2e-4)


def test_emulated_random_numbers_are_the_cpus_bits(emulated: Emulator) -> None:
    """Philox in the kernel: the device draws the CPU's numbers bit for bit, through views of
    the samplers, their float conversions and lazyarr's own math (normal: log, cos), and
    fused with a device array (dropout)."""
    k = la.random.key(2024)
    u = la.random.uniform(k, (37, 29), np.float32)
    x = rng_array = np.random.default_rng(5).standard_normal((37, 29)).astype(np.float32)
    cases = [u, u.T[::2, 3:], la.random.uniform(k, (5, 7), np.float64, -2.0, 3.0),
             la.random.normal(k, (301,), np.float32), la.random.normal(k, (64,)),
             la.random.bits(k, (33,), np.uint64), la.random.randint(k, (40,), -5, 9),
             la.random.bernoulli(k, 0.3, (50,)),
             la.nn.dropout(la.asarray(rng_array, device="cuda"), 0.25, k)]
    for expr in cases[:-1]:
        _assert_like(_gpu(expr), expr.eval())
    _assert_like(_gpu(cases[-1]), la.nn.dropout(x, 0.25, k).eval())


def test_emulated_fuse_runs_on_device_arrays(emulated: Emulator) -> None:
    """``@la.fuse`` with device arrays: the function runs and its result stays on the device,
    the CPU's bits."""
    f = la.fuse(lambda a, b: la.tanh(a * 2.0) + b)
    a = np.random.default_rng(3).standard_normal(100).astype(np.float32)
    b = np.ones(100, np.float32)
    for _ in range(2):
        got = f(la.asarray(a, device="cuda")._node.arg.array,
                la.asarray(b, device="cuda")._node.arg.array)
        assert isinstance(got, cuda_memory.DeviceArray)
        _assert_like(got.to_numpy(), f(a, b))


# -- the GPU benchmark, on the emulated device ---------------------------------------------------
def test_emulated_gpu_bench_runs_checks_and_reports(emulated: Emulator, tmp_path: Path) -> None:
    """benchmarks/gpu_bench.py end to end at small sizes (the emulator's events say 1.5 ms
    per round, so its figures mean nothing): every workload and dtype gets lazyarr's two
    columns, checked against NumPy, and the GPU's bits are the CPU backend's."""
    bench = benchmark("gpu_bench")
    out_json, out_table = tmp_path / "bench.json", tmp_path / "bench.md"
    code = bench.main(["-n", "3000", "--rows", "6,200", "--repeat", "2", "--rounds", "1",
                       "--overhead-calls", "20", "--columns", "lazyarr kernel,lazyarr eval",
                       "--json", str(out_json), "--table", str(out_table)])
    report = json.loads(out_json.read_text())
    assert code == 0, report
    names = [w.name for w in bench.workloads()]
    assert [(r["workload"], r["dtype"]) for r in report["rows"]] == [
        (n, d) for d in ("float32", "float64") for n in names]
    for r in report["rows"]:
        assert r["cells"]["lazyarr eval"]["ok"] is True, r
        kernel = r["cells"]["lazyarr kernel"]
        assert kernel["ok"] is True or kernel["note"].startswith("ValueError"), r
        assert r["cells"]["lazyarr eval"]["error"] < (1e-5 if r["dtype"] == "float32"
                                                     else 1e-12)
    assert len(report["bits_vs_cpu"]) == 8
    assert all(v["different"] == 0 and v["compared"] == 3000
               for v in report["bits_vs_cpu"].values())
    assert set(report["launch_overhead_us"]) == {
        "lazyarr eval of a held expression", "lazyarr eval of a new expression",
        "lazyarr kernel alone"}
    assert "| gelu | float32 | 3000 |" in out_table.read_text()


def test_gpu_bench_check_catches_wrong_results() -> None:
    bench = benchmark("gpu_bench")
    inputs = bench.Inputs(5000, (8, 300))
    inputs.draw(3)
    by_name = {w.name: w for w in bench.workloads()}
    for name in ("exp_sin_cos", "sum(ab)", "layer_norm"):
        for dt in (np.float32, np.float64):
            case = bench.make_case(by_name[name], np.dtype(dt), inputs)
            right = by_name[name].generic(np, *case.hosts).astype(dt)
            assert case.check(right)[0], (name, dt, case.check(right))
            wrong = right.copy()
            if wrong.ndim:  # one element of thousands: the norm hardly moves, the element
                wrong.reshape(-1)[case.picks[len(case.picks) // 2] * (
                    300 if name == "layer_norm" else 1)] += 1e-2 * np.abs(right).max()
            else:
                wrong = wrong + 1e-3 * case.scale
            assert not case.check(wrong)[0], (name, dt)
            unwritten = np.array(right)
            unwritten.reshape(-1)[-1] = np.nan
            assert case.check(unwritten)[2] == "1 non-finite"
            assert not case.check(right.astype(np.float16))[0]
    big = bench.Inputs(1 << 20, (8, 300))  # a million elements, all sampled
    big.draw(1)
    case = bench.make_case(by_name["gelu"], np.dtype(np.float32), big)
    wrong = by_name["gelu"].generic(np, case.hosts[0])  # (float32 throughout)
    wrong[12345] += 0.01 * np.abs(wrong).max()  # the norm moves by less than 1e-4
    assert case.check(wrong)[2].startswith("an element off by")


def test_emulated_fill_cached_poisons_free_blocks(emulated: Emulator) -> None:
    a = cuda_memory.DeviceArray.from_numpy(np.zeros(1000, np.float32))
    ptr = a.ptr
    del a
    gc.collect()
    cuda_memory.allocator.fill_cached(0xFF)
    b = cuda_memory.DeviceArray.empty((1000,), np.float32)
    assert b.ptr == ptr and np.isnan(b.to_numpy()).all()


if __name__ == "__main__":  # a child process of the PTX tier (emitted)
    _emit_main(Path(sys.argv[1]))


# -- a held expression evaluated again on the device ---------------------------------------------
def test_emulated_held_expression_repeats_without_planning(
        emulated: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second ``eval`` of a held expression launches its kernel again (a fresh result
    each time, the inputs read again) without planning, lowering or packing; anything
    that changes the expression (``__setitem__``) drops it."""
    from lazyarr.plan import schedule as planner

    h = np.linspace(-3, 3, 1003).astype(np.float32)
    x, y = la.asarray(h, device="cuda"), la.asarray(h[::-1].copy(), device="cuda")
    e = la.exp(-x) * y + 1
    e.eval()
    assert not getattr(e._ready, "on_device", False)  # made ready from the second eval
    first = e.eval()
    assert getattr(e._ready, "on_device", False)
    monkeypatch.setattr(planner, "schedule", _refuse)
    before = la.cache_info().hits
    second = e.eval()
    assert la.cache_info().hits == before + 1
    assert second.ptr != first.ptr and emulated.launches[-1][0].vector
    _assert_like(second.to_numpy(), first.to_numpy())
    from lazyarr.backends import cuda_driver

    xs, zeros = x._node.arg.array, np.zeros(1003, np.float32)
    cuda_driver.memcpy_htod(xs.ptr, zeros.ctypes.data, xs.nbytes)
    _assert_like(e.eval().to_numpy(), h[::-1] + np.float32(1))  # captured by reference
    monkeypatch.undo()
    e[0] = 5.0
    assert e._ready is None
    got = e.eval().to_numpy()
    assert got[0] == 5.0 and (got[1:] == h[::-1][1:] + np.float32(1)).all()


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("planned again")


def test_emulated_what_is_not_made_ready_repeats_through_the_general_path(
        emulated: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from lazyarr.backends import cuda

    from lazyarr.run import device

    monkeypatch.setattr(cuda, "SPLIT_ROW", 256)
    monkeypatch.setattr(cuda, "SPLIT_CHUNK", 256)
    h = np.random.default_rng(4).standard_normal((2, 1000)).astype(np.float64)
    x = la.asarray(h, device="cuda")
    exprs = {
        "split reduction": x.sum(axis=1),
        "several kernels": x - x.sum(axis=0),
        "a leaf": x,
        "empty": x[:, :0] * 2,
    }
    for what, e in exprs.items():
        for _ in range(3):
            _assert_like(e.eval().to_numpy(), _host_value(what, h), 1e-12)
        assert e._ready is device.UNREADY, what
    assert la.eval(x) is x._node.arg.array and x.eval() is x._node.arg.array
    k = la.asarray(np.array([2, 3], np.int32), device="cuda")
    p = k ** la.asarray(np.array([1, -1], np.int32), device="cuda")  # a status word
    for _ in range(2):
        with pytest.raises(ValueError, match="negative integer powers"):
            p.eval()
    assert not getattr(p._ready, "on_device", False)


def _host_value(what: str, h: np.ndarray) -> np.ndarray:
    return {"split reduction": h.sum(axis=1), "several kernels": h - h.sum(axis=0),
            "a leaf": h, "empty": h[:, :0] * 2}[what]


def test_emulated_first_driver_call_may_be_a_context_or_an_allocation(
        emulated: Emulator) -> None:
    """Opening a context loads the driver when nothing has yet: that took the driver's
    lock twice and hung (an allocation was enough, before anything else touched CUDA)."""
    from lazyarr.backends import cuda_driver

    for first in (cuda_driver.context,
                  lambda: cuda_memory.DeviceArray.empty((10,), np.float32)):
        cuda_driver.reset_for_tests()
        done = threading.Event()
        worker = threading.Thread(target=lambda f=first, d=done: (f(), d.set()), daemon=True)
        worker.start()
        worker.join(30)
        assert done.is_set()


def test_emulated_new_expressions_reuse_the_launch_of_their_structure(
        emulated: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """A new expression of the lean operators over new device arrays (a layer's next batch)
    is launched through the template its structure filed: no planning after the first, and
    each gets its own arrays and scalars; another sharing pattern or layout is another
    structure."""
    from lazyarr.plan import schedule as planner
    from lazyarr.run import rebind

    rng = np.random.default_rng(12)

    def batch() -> tuple[np.ndarray, np.ndarray]:
        return (rng.standard_normal(1003).astype(np.float32),
                rng.standard_normal(1003).astype(np.float32))

    def on_device(*hs: np.ndarray) -> list[la.LazyArray]:
        return [la.asarray(h, device="cuda") for h in hs]

    def forms(x: Any, y: Any, s: float) -> list[Any]:
        m = la if isinstance(x, la.LazyArray) else np
        return [m.exp(-x) * y + s * x, x * x + y, x * y + y, (x - s) / (abs(y) + 1.0)]

    for _ in range(2):  # the first of each kind of operation takes the general path
        for e in forms(*on_device(*batch()), 2.5):
            e.eval()
    rebind.clear()
    for k in range(4):
        if k == 1:  # every structure has its template now
            monkeypatch.setattr(planner, "schedule", _refuse)
        a, b = batch()
        s = 0.5 + k
        for got, want in zip(forms(*on_device(a, b), s), forms(a, b, np.float32(s)),
                             strict=True):
            assert got._node.sid and got._node.ins is not None
            result = got.eval()
            assert isinstance(result, cuda_memory.DeviceArray)
            _assert_like(result.to_numpy(), want.astype(np.float32), 2e-6)
    assert len(rebind.DEVICE) == 4
    monkeypatch.undo()
    # a strided view of device memory is another layout: its own template, its own strides
    a, b = batch()
    wide = cuda_memory.DeviceArray.from_numpy(np.repeat(a, 2))
    x = la.asarray(wide.view((1003,), (8,)))
    (y,) = on_device(b)
    _assert_like((x * y + y).eval().to_numpy(), a * b + b, 2e-6)
    assert len(rebind.DEVICE) == 5
    mixed = x * la.asarray(b) + 1.0  # a host leaf: refused, as on the general path
    with pytest.raises(TypeError, match="mixes host"):
        mixed.eval()


def test_only_the_allocators_blocks_go_back_to_it() -> None:
    """A Block made by hand (a test's stand-in memory) is not the allocator's: when it dies,
    nothing is cached, so no driver is ever asked to free its address (that crashed the
    emulated driver once blocks released themselves)."""
    before = cuda_memory.allocator.stats()
    block = cuda_memory.Block(4096, 512, 0)
    del block
    gc.collect()
    assert cuda_memory.allocator.stats() == before
