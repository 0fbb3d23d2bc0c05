"""Golden texts of the compilation stages, in the style of llvmlite's own IR tests.

For eleven small kernels, the loop IR (``lazyarr.ir.loop.format_kernel``), the CPU module as
emitted, before LLVM parses or optimises it (``codegen/cpu.py build_module``), and for two of
them the NVPTX module (``codegen/nvptx.py build_module``) are compared with the texts stored in
``tests/golden/`` (one file per kernel and stage). A change to lowering or code generation
that alters generated code shows up here as a diff to review, even where every value stays
right.

After an intended change, regenerate the files and review ``git diff tests/golden``::

    LAZYARR_REGEN_GOLDEN=1 python -m pytest -q tests/test_golden.py

The texts do not depend on the host: modules are built with an empty target triple and data
layout (so no CPU name, CPU features or streaming stores enter them), inputs are small enough
that no policy depending on size applies, and ``normalise`` below drops the module's header
lines. Vector widths that the emitter asks for come from the math library's own table, not
from the host.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from lazyarr.codegen import cpu, nvptx

import lazyarr as la
from lazyarr.ir.loop import Kernel, format_kernel

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = "LAZYARR_REGEN_GOLDEN=1 python -m pytest -q tests/test_golden.py"
Build = Callable[[], list[la.LazyArray]]


# -- the one adapter to lowering -----------------------------------------------------------
def lowered(exprs: list[la.LazyArray]) -> tuple[Kernel, str]:
    """The one fused kernel that evaluates ``exprs`` and its loop IR text, reached through
    ``la.explain`` (the public path). The only function here that knows how lowering is
    called: when lowering moves, change it alone."""
    (kernel,) = la.explain(*exprs).kernel_objects
    return kernel, format_kernel(kernel)


# -- the kernels ---------------------------------------------------------------------------
def _array(shape: tuple[int, ...], dtype: str, seed: int = 0) -> la.LazyArray:
    values = np.random.default_rng(seed).uniform(-2.0, 2.0, shape)
    return la.asarray(values.astype(dtype))


def _f64(shape: tuple[int, ...] = (4, 8), seed: int = 0) -> la.LazyArray:
    return _array(shape, "float64", seed)


def _binary_f64() -> list[la.LazyArray]:
    return [_f64(seed=1) + _f64(seed=2)]


def _mixed_casts() -> list[la.LazyArray]:
    # int32 + float32 computes in float64 (NumPy's promotion): both inputs are cast
    return [_array((16,), "int32") + _array((16,), "float32", 1)]


def _broadcast_scalar() -> list[la.LazyArray]:
    return [_array((16,), "float32") * 2.5 + 1]  # weak Python scalars stay float32


def _strided_view() -> list[la.LazyArray]:
    a = _f64((6, 10))
    return [a[::2, ::-3] * _f64((4, 3), 1).T]


def _where() -> list[la.LazyArray]:
    a, b = _f64(seed=1), _f64(seed=2)
    return [la.where(a > b, a, -b)]


def _exp() -> list[la.LazyArray]:
    return [la.exp(_f64((16,)))]


def _power_int() -> list[la.LazyArray]:
    # x*x*x for n = 3; the double-word chain for other n
    x = _f64((16,))
    return [x ** 3, x ** 5]


def _sum_full() -> list[la.LazyArray]:
    return [_f64().sum()]


def _row_max_shift() -> list[la.LazyArray]:
    x = _f64()
    return [x - x.max(axis=-1, keepdims=True)]


def _two_outputs() -> list[la.LazyArray]:
    a, b = _f64(seed=1), _f64(seed=2)
    return [a + b, a * b]


def _big_endian() -> list[la.LazyArray]:
    values = np.random.default_rng(0).uniform(-2.0, 2.0, 16).astype(">f8")
    return [la.asarray(values) * 2.0]


CASES: dict[str, Build] = {
    "binary_f64": _binary_f64,
    "mixed_int32_float32": _mixed_casts,
    "broadcast_scalar": _broadcast_scalar,
    "strided_view": _strided_view,
    "where_compare": _where,
    "exp": _exp,
    "power_int": _power_int,
    "sum_full": _sum_full,
    "row_max_shift": _row_max_shift,
    "two_outputs": _two_outputs,
    "big_endian": _big_endian,
}
NVPTX_CASES = ("binary_f64", "row_max_shift")


# -- texts ---------------------------------------------------------------------------------
_HEADER = re.compile(r'^(; ModuleID = .*|target triple = .*|target datalayout = .*)$')


def normalise(text: str) -> str:
    """Drop the module's name, triple and data layout lines (the name is the test's choice;
    triple and layout are empty, and would name the host otherwise) and trailing spaces."""
    lines = [ln.rstrip() for ln in text.splitlines() if not _HEADER.match(ln.strip())]
    return "\n".join(lines).strip() + "\n"


def stage_text(case: str, stage: str) -> str:
    kernel, loop_text = lowered(CASES[case]())
    if stage == "loop":
        return normalise(loop_text)
    if stage == "cpu":
        # math calls sized for 256-bit registers, whatever this host's (the table's widths)
        return normalise(str(cpu.build_module(kernel, "golden", register_bits=256)))
    return normalise(str(nvptx.build_module(kernel, "golden")))


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("LAZYARR_REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text)
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.name}; create it with: {REGEN}")
    want = path.read_text()
    if text != want:
        diff = "".join(difflib.unified_diff(want.splitlines(keepends=True),
                                            text.splitlines(keepends=True),
                                            f"tests/golden/{name}", "generated now"))
        pytest.fail(f"{name} differs from the stored text:\n{diff}\n"
                    f"if the change is intended, regenerate with: {REGEN}", pytrace=False)


STAGES = [(case, "loop", "txt") for case in CASES] + [(case, "cpu", "ll") for case in CASES] \
    + [(case, "nvptx", "ll") for case in NVPTX_CASES]


@pytest.mark.parametrize(("case", "stage", "ext"), STAGES,
                         ids=[f"{c}.{s}" for c, s, _ in STAGES])
def test_golden(case: str, stage: str, ext: str) -> None:
    check_golden(f"{case}.{stage}.{ext}", stage_text(case, stage))


def test_no_stray_golden_files() -> None:
    """Every stored file belongs to a case (a renamed case leaves no stale text behind)."""
    expected = {f"{case}.{stage}.{ext}" for case, stage, ext in STAGES}
    stored = {p.name for p in GOLDEN.glob("*.*") if p.name != "README.md"}
    assert stored <= expected, sorted(stored - expected)


def test_texts_name_no_host() -> None:
    for case in CASES:
        text = stage_text(case, "cpu")
        for word in ("target-cpu", "target-features", "x86", "aarch64", "avx"):
            assert word not in text, (case, word)
