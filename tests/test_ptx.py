"""Compile-only tests of the NVPTX (CUDA) path: PTX for a broad table of kernels, no GPU needed.

LLVM's NVPTX backend aborts the whole process (an uncatchable fatal error) on an op it cannot
lower, so the table is emitted in a child process: this file run as a script. A crash then
fails the test of the case that caused it instead of killing pytest, and the parent restarts
the child after it to report every such case at once. ``ptxas`` checks each result when it is
on PATH. Refusals (ops the GPU path cannot lower yet) are tested in-process, because they must
happen before LLVM sees the module.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kernel_cases import apply_op as _apply
from kernel_cases import cast_cases, kernel_of, run_children
from kernel_cases import operands as _operands
from kernel_cases import signatures as _signatures
from lazyarr.codegen import nvptx
from lazyarr.codegen.scalar import EMITTERS, F64
from llvmlite import ir

import lazyarr as la
from lazyarr.ir import ops
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import ArrayParam, Instr, Kernel, Layout

Build = Callable[[], list[la.LazyArray]]


# -- the case table ----------------------------------------------------------------------
def op_cases() -> dict[str, tuple[Op, np.dtype, Build]]:
    """Every op with an emitter over every dtype NumPy has a loop for: id -> (op, loop dtype)."""
    cases = {}
    for op in EMITTERS:
        for cid, dts in _signatures(op).items():
            if op is Op.WHERE:
                loop_dtype = dts[-1]
            else:
                try:
                    loop_dtype = ops.resolve_loop(op, dts)[-2]
                except (TypeError, ValueError):
                    continue  # NumPy has no loop, or only one on a dtype lazyarr lacks
            cases[cid] = (op, loop_dtype, lambda op=op, dts=dts: [_apply(op, *_operands(op, dts))])
    return cases


def _layouts(dt: np.dtype) -> dict[str, Callable[[], tuple[Any, Any]]]:
    """Operand pairs that lower to different kernel ranks and layout classes."""
    def ones(*shape: int) -> np.ndarray:
        return np.ones(shape, dt)

    return {
        "contig": lambda: (ones(6), ones(6)),
        "strided": lambda: (ones(12)[::2], ones(18)[::3]),
        "reversed": lambda: (ones(6)[::-1], ones(6)),
        "bcast-row": lambda: (ones(3, 4), ones(4)),
        "bcast-col": lambda: (ones(3, 4), ones(3, 1)),
        "scalar": lambda: (ones(6), dt.type(1)),
        "3d": lambda: (ones(2, 3, 4).transpose(2, 0, 1), ones(4, 2, 3)),
        "3d-bcast": lambda: (ones(2, 3, 4)[:, :, ::2], ones(3, 1)),
    }


def layout_cases() -> dict[str, Build]:
    """Each layout with a few ops: the GPU wrapper differs by rank, the body by dtype only."""
    cases: dict[str, Build] = {}
    for dt in map(np.dtype, ("float64", "float32", "int64", "uint8", "bool")):
        binary = ["add", *{"i": ["floor_divide"], "u": ["floor_divide", "power"]}.get(dt.kind, [])]
        for name, make in _layouts(dt).items():
            for fn in binary:
                cases[f"layout-{name}-{fn}-{dt}"] = \
                    lambda fn=fn, make=make: [getattr(la, fn)(*make())]
            cases[f"layout-{name}-where-{dt}"] = \
                lambda make=make: [la.where(make()[0] > 0, *make())]
            if dt == np.float64:
                # two outputs of one shape share one kernel (and one grid-stride loop)
                cases[f"layout-{name}-two-outputs-{dt}"] = \
                    lambda make=make: [la.add(*make()), la.multiply(*make())]
    return cases


def power_int_cases() -> dict[str, Build]:
    """x ** n by squaring (Op.POWER_INT: its exponent is part of the op, so it has no
    EMITTERS entry for op_cases to find); float64 declares llvm.fma."""
    return {f"power_int-{dt}-n{n}": lambda dt=dt, n=n: [la.asarray(np.ones(6, dt)) ** n]
            for dt in ("float32", "float64") for n in (3, -7, 1000)}


def random_cases() -> dict[str, Build]:
    """Philox in the kernel (Op.PHILOX, an arg emitter): integer multiplies to PTX, the
    counter as an address computed from the thread's indices, and normal's mathlib calls."""
    k = la.random.key(3)
    return {
        "random-dropout": lambda: [la.nn.dropout(la.asarray(np.ones(64, np.float32)), 0.3, k)],
        "random-normal32": lambda: [la.random.normal(k, (9, 8), np.float32).T],
        "random-bits64": lambda: [la.random.bits(k, (40,), np.uint64)[::3]],
        "random-uniform64": lambda: [la.random.uniform(k, (5, 6), np.float64, -1.0, 2.0)],
    }


def _split() -> tuple[dict[str, Build], dict[str, tuple[Op, np.dtype, Build]]]:
    """(cases the GPU path must compile, op cases it must refuse) by ``nvptx.refusal``
    (without libdevice: mathlib's functions compile, the rest of the math is refused)."""
    ok: dict[str, Build] = {}
    refused = {}
    for cid, (op, loop_dtype, make) in op_cases().items():
        if nvptx.refusal(op, loop_dtype):
            refused[cid] = (op, loop_dtype, make)
        else:
            ok[cid] = make
    return ok | cast_cases() | layout_cases() | power_int_cases() | random_cases(), refused


PTX_CASES, REFUSED_CASES = _split()


# -- the child process -------------------------------------------------------------------
def _emit_main(outdir: Path) -> None:
    """Emit PTX for the case ids in ``outdir/todo.json``, logging each before and after.

    One JSON line per event in ``results.jsonl``, flushed, so that when LLVM aborts the
    process the parent knows which case did it ("started" without a result).
    """
    todo = json.loads((outdir / "todo.json").read_text())
    with open(outdir / "results.jsonl", "a") as log:
        for cid in todo:
            log.write(json.dumps({"id": cid, "status": "started"}) + "\n")
            log.flush()
            record: dict[str, Any] = {"id": cid}
            try:
                kernel = kernel_of(PTX_CASES[cid]())
                module = nvptx.build_module(kernel, "lazyarr_kernel")
                ptx = nvptx.emit_ptx(kernel)
            except nvptx.UnsupportedOnTarget as exc:
                record |= {"status": "refused", "detail": str(exc)}
            except Exception as exc:  # reported per case by the parent
                record |= {"status": "error", "detail": repr(exc)}
            else:
                path = outdir / f"{cid}.ptx"
                path.write_text(ptx)
                record |= {"status": "ok", "path": str(path), "declared": sorted(
                    f.name for f in module.functions if f.is_declaration)}
            log.write(json.dumps(record) + "\n")
            log.flush()


def _ptxas(path: Path) -> str | None:
    """None if ptxas accepts the file, else its complaint."""
    proc = subprocess.run(["ptxas", "-arch=sm_90", "-o", os.devnull, str(path)],
                          capture_output=True, text=True, check=False)
    return None if proc.returncode == 0 else proc.stderr or f"exit status {proc.returncode}"


_HEADER_END = re.compile(r"^\.address_size \d+\n", re.M)


def batch_file(workdir: Path, paths: list[str]) -> Path | None:
    """The PTX files as one module (one header, entries renamed apart), or None when their
    headers (.version/.target) differ."""
    heads, bodies = set(), []
    for k, path in enumerate(paths):
        text = Path(path).read_text()
        end = _HEADER_END.search(text).end()
        heads.add(text[:end])
        bodies.append(text[end:].replace("lazyarr_kernel", f"kernel_{k}"))
    if len(heads) != 1:
        return None
    batch = workdir / "batch.ptx"
    batch.write_text(heads.pop() + "".join(bodies))
    return batch


def _assemble(workdir: Path, records: list[dict[str, Any]]) -> None:
    """Set ``rec["ptxas"]`` for each record: all in one ptxas run, or one by one on failure.

    ptxas spends most of a small file's time starting up, so the kernels go into one module;
    only a failing batch pays for per-file runs, which name the culprit.
    """
    batch = batch_file(workdir, [rec["path"] for rec in records])
    if batch is not None and _ptxas(batch) is None:
        for rec in records:
            rec["ptxas"] = None
        return
    for rec in records:
        rec["ptxas"] = _ptxas(Path(rec["path"]))


@pytest.fixture(scope="module")
def emitted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every PTX case emitted (and assembled), split round-robin over one child per core."""
    n = max(1, min(os.cpu_count() or 1, 4))
    return run_children(__file__, tmp_path_factory.mktemp("ptx"), sorted(PTX_CASES), n,
                        _assemble)


def _ptx(emitted: dict[str, dict[str, Any]], case: str) -> str:
    rec = emitted[case]
    assert rec["status"] == "ok", f"{case}: {rec['status']}: {rec.get('detail')}"
    return Path(rec["path"]).read_text()


# -- tests -------------------------------------------------------------------------------
def test_table_is_broad() -> None:
    # a silently empty table (a renamed function, a resolver change) would pass everything
    assert len(PTX_CASES) > 500
    # every libm op has a mathlib version now: float % and // (libdevice's fmod) are left
    assert {op for op, _, _ in REFUSED_CASES.values()} >= {Op.REMAINDER, Op.FLOOR_DIVIDE}
    assert {"arcsin-float32", "arctan2-float64", "arccosh-float32"} <= set(PTX_CASES)
    # mathlib's functions compile without libdevice
    assert {"exp-float32", "sin-float64", "power-float32", "logaddexp-float64", "exp2-float32",
            "log10-float64", "cbrt-float32", "hypot-float64", "erf-float32", "erf-float64",
            "erfc-float32", "erfc-float64"} <= set(PTX_CASES)
    assert "power_int-float64-n3" in PTX_CASES  # repeated squaring needs no libdevice either


@pytest.mark.parametrize("case", sorted(PTX_CASES))
def test_ptx_kernel(emitted: dict[str, dict[str, Any]], case: str) -> None:
    ptx = _ptx(emitted, case)
    assert re.search(r"^\.visible \.entry lazyarr_kernel\(", ptx, re.M)
    # the grid-stride loop's bounds guard: compare the flat index, branch on the predicate
    assert re.search(r"^\s*setp(\.\w+)+\s+%p\d+", ptx, re.M)
    assert re.search(r"^\s*@!?%p\d+ bra\b", ptx, re.M)
    # nothing to link against on the GPU: no libm, no calls at all
    assert not re.search(r"^\s*call", ptx, re.M)
    assert ".extern" not in ptx
    complaint = emitted[case].get("ptxas")  # absent when ptxas is not on PATH
    assert complaint is None, f"ptxas -arch=sm_90 rejects {case}: {complaint}"


_TRIVIAL_PTX = """.version 7.8
.target sm_90
.address_size 64
.visible .entry trivial(.param .u64 out)
{
    .reg .b64 %rd<2>;
    ld.param.u64 %rd1, [out];
    cvta.to.global.u64 %rd1, %rd1;
    st.global.u32 [%rd1], 1;
    ret;
}
"""


def test_ptxas_verdicts_mean_something(tmp_path: Path) -> None:
    """test_ptx_kernel takes ptxas's verdict where ptxas is on PATH (skipped here when it is
    not, so a run says that PTX went unassembled). Where it is, that verdict must mean
    something: ptxas names its release, assembles a trivial sm_90 kernel, and refuses one
    with an instruction that does not exist (a stand-in that accepts everything would pass
    every kernel)."""
    if not shutil.which("ptxas"):
        pytest.skip("ptxas is not on PATH: PTX was emitted and inspected but not assembled")
    version = subprocess.run(["ptxas", "--version"], capture_output=True, text=True,
                             check=False, timeout=60)
    assert version.returncode == 0 and re.search(r"release \d+\.\d+", version.stdout), (
        version.stdout + version.stderr)
    good, bad = tmp_path / "good.ptx", tmp_path / "bad.ptx"
    good.write_text(_TRIVIAL_PTX)
    bad.write_text(_TRIVIAL_PTX.replace("st.global.u32", "st.global.nonsense.u32"))
    assert _ptxas(good) is None
    complaint = _ptxas(bad)
    assert complaint and "nonsense" in complaint, complaint


def test_every_allowed_intrinsic_is_exercised(emitted: dict[str, dict[str, Any]]) -> None:
    # nvptx._LOWERED is a promise that each intrinsic lowers; the table must back it
    declared = {n for r in emitted.values() if r["status"] == "ok" for n in r["declared"]}
    assert declared >= nvptx._LOWERED, sorted(nvptx._LOWERED - declared)
    for prefix in nvptx._LOWERED_PREFIXES:
        assert any(n.startswith(prefix) for n in declared), prefix


def test_integer_power_reports_through_status(emitted: dict[str, dict[str, Any]]) -> None:
    # x ** negative sets the status word inside an `if` block: a conditional store of 1
    ptx = _ptx(emitted, "power-int32")
    # LLVM 22 stores the immediate; LLVM 20 (llvmlite 0.46) moves it to a register first
    one = re.search(r"^\s*mov\.b32\s+(%r\d+), 1;", ptx, re.M)
    value = "1" if one is None else f"(1|{re.escape(one.group(1))})"
    assert re.search(rf"^\s*st(\.global)?\.[bu]32\s+\[%rd\d+\], {value};", ptx, re.M)


@pytest.mark.parametrize("case", sorted(REFUSED_CASES))
def test_refused_before_llvm(case: str) -> None:
    op, loop_dtype, make = REFUSED_CASES[case]
    if loop_dtype == np.float16:  # float16 ops compute in float32 (stored as half)
        loop_dtype = np.dtype(np.float32)
    # build_module only builds llvmlite.ir objects: safe in-process even if the rule broke
    with pytest.raises(nvptx.UnsupportedOnTarget, match=f"CUDA: {op.value} on {loop_dtype}"):
        nvptx.build_module(kernel_of(make()), "k")


@pytest.mark.parametrize("fn", ["arcsin", "arctan2"])
def test_libm_ops_raise_not_implemented(monkeypatch: pytest.MonkeyPatch, fn: str) -> None:
    import llvmlite.binding as llvm

    def llvm_must_not_run(*args: Any) -> None:
        raise AssertionError("the module reached LLVM, which would abort the process")

    # through the public path; if the refusal ever regressed, LLVM still never sees the module
    monkeypatch.setattr(llvm, "parse_assembly", llvm_must_not_run)
    monkeypatch.setattr(nvptx, "USE_MATHLIB", False)  # else mathlib computes these
    x = la.asarray(np.ones(4, np.float32))
    args = (x, x) if ops.SPECS[Op(fn)].nin == 2 else (x,)
    with pytest.raises(NotImplementedError, match=f"cannot compile for CUDA: {fn} on float32"):
        nvptx.emit_ptx(kernel_of([getattr(la, fn)(*args)]))


@pytest.mark.parametrize("dt", ["float32", "float64"])
@pytest.mark.parametrize("fn", ["remainder", "floor_divide"])
def test_float_ops_without_exact_lowering_are_refused(fn: str, dt: str) -> None:
    # float % and // emit frem, which NVPTX lowers inexactly (libdevice's fmod is exact)
    x = la.asarray(np.ones(4, dt))
    with pytest.raises(nvptx.UnsupportedOnTarget, match=f"{fn} on {dt}"):
        nvptx.build_module(kernel_of([getattr(la, fn)(x, x)]), "k")


def test_ops_without_an_emitter_are_refused() -> None:
    # e.g. a reduction: the grid-stride wrapper has no row loop; refuse by name, not KeyError
    missing = [op for op in Op if op.value == "reduce"]
    if not missing:
        pytest.skip("this lazyarr has no reduce op")
    f64 = np.dtype(np.float64)
    param = ArrayParam(f64, Layout.CONTIG)
    kernel = Kernel(1, (param,), (), (Instr(Op.LEAF, f64, (), 0), Instr(missing[0], f64, (0,))),
                    ((1, param),))
    with pytest.raises(nvptx.UnsupportedOnTarget, match="reduce kernels are not supported"):
        nvptx.build_module(kernel, "k")


def _raw_module(emit: Callable[[ir.IRBuilder, ir.Value], ir.Value]) -> ir.Module:
    module = ir.Module()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.PointerType()]), "k")
    b = ir.IRBuilder(fn.append_basic_block())
    b.store(emit(b, b.load(fn.args[0], typ=F64)), fn.args[0])
    b.ret_void()
    return module


def test_module_check_refuses_libm_calls_and_frem() -> None:
    # what check_supported does not catch (a new emitter, a missing table rule) must still
    # stop before LLVM
    def call_exp(b: ir.IRBuilder, x: ir.Value) -> ir.Value:
        exp = ir.Function(b.module, ir.FunctionType(F64, [F64]), "llvm.exp.f64")
        return b.call(exp, [x])

    with pytest.raises(nvptx.UnsupportedOnTarget, match=r"llvm\.exp\.f64"):
        nvptx.check_module(_raw_module(call_exp))
    with pytest.raises(nvptx.UnsupportedOnTarget, match="frem"):
        nvptx.check_module(_raw_module(lambda b, x: b.frem(x, x)))
    nvptx.check_module(_raw_module(lambda b, x: b.fadd(x, x)))


def test_emit_ptx_is_deterministic_and_targets_sm_90() -> None:
    a = la.asarray(np.ones(8))
    kernel = kernel_of([2 * a + 1])
    first = nvptx.emit_ptx(kernel)
    assert nvptx.emit_ptx(kernel) == first
    # an equal kernel built again from scratch gives the same text: safe to cache by content
    assert nvptx.emit_ptx(kernel_of([2 * la.asarray(np.zeros(8)) + 1])) == first
    assert re.search(r"^\.target sm_90\b", first, re.M)
    assert re.search(r"^\.address_size 64\b", first, re.M)
    assert nvptx._target_machine().triple == nvptx.TRIPLE


if __name__ == "__main__":
    _emit_main(Path(sys.argv[1]))
