"""Per-target code texts for ``lazyarr.explain``: LLVM IR before and after O3, and assembly.

``CpuStages`` goes through the CPU backend's compile cache, so explaining an expression
compiles its kernels exactly once and reports whether they were already compiled.
``CudaStages`` builds the NVPTX module; its assembly is the PTX.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from lazyarr.backends import stats
from lazyarr.ir.loop import Kernel


@dataclass(frozen=True, slots=True)
class CompileInfo:
    cache_hit: bool | None  # None: the target has no cache (PTX is emitted on demand)
    seconds: float  # compile, disk load or PTX emission time of this kernel
    source: str = "compile"  # where the machine code came from: "compile" or "disk"

    def describe(self, target: str) -> str:
        ms = f"{self.seconds * 1e3:.1f} ms"
        if self.cache_hit is None:
            return f"PTX emitted in {ms} (not cached: nothing runs it on this machine)"
        if self.cache_hit and self.source == "disk":
            return (f"cache hit: machine code from the on-disk cache (loaded in {ms}), "
                    "LLVM did not run")
        if self.cache_hit:
            return f"cache hit: compiled earlier in this process ({ms} then), not recompiled"
        return f"fresh compile: {ms} (LLVM O3 and machine code for {target})"


class CpuStages:
    target = "cpu"

    def __init__(self) -> None:
        self._info: dict[Kernel, CompileInfo] = {}
        self._asm: dict[Kernel, str] = {}

    def _compiled(self, kernel: Kernel) -> Any:
        from lazyarr.backends.cpu import compiled

        before = stats.info().hits
        found = compiled(kernel)
        if kernel not in self._info:
            # a hit counted by this very lookup means someone compiled it before we asked
            self._info[kernel] = CompileInfo(stats.info().hits > before, found.seconds,
                                             getattr(found, "source", "compile"))
        return found

    def compile_info(self, kernel: Kernel) -> CompileInfo:
        self._compiled(kernel)
        return self._info[kernel]

    def llvm(self, kernel: Kernel) -> str:
        return self._compiled(kernel).llvm

    def llvm_opt(self, kernel: Kernel) -> str:
        return self._compiled(kernel).llvm_opt

    def asm(self, kernel: Kernel) -> str:
        if kernel not in self._asm:
            from lazyarr.backends.cpu import jit

            self._asm[kernel] = jit().assembly(self.llvm(kernel))
        return self._asm[kernel]


_nvptx_machine: Any = None


def _nvptx_target_machine() -> Any:
    global _nvptx_machine
    if _nvptx_machine is None:
        import llvmlite.binding as llvm

        from lazyarr.codegen import nvptx

        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        target = llvm.Target.from_triple(nvptx.TRIPLE)
        _nvptx_machine = target.create_target_machine(cpu="sm_90", opt=3)
    return _nvptx_machine


class CudaStages:
    target = "cuda"
    name = "lazyarr_kernel"

    def __init__(self) -> None:
        self._ptx: dict[Kernel, tuple[str, float]] = {}

    def llvm(self, kernel: Kernel) -> str:
        from lazyarr.codegen.nvptx import build_module

        return str(build_module(kernel, self.name))

    def llvm_opt(self, kernel: Kernel) -> str:
        import llvmlite.binding as llvm

        mod = llvm.parse_assembly(self.llvm(kernel))
        mod.verify()
        tm = _nvptx_target_machine()
        mod.data_layout = str(tm.target_data)
        pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
        pb.getModulePassManager().run(mod, pb)
        return str(mod)

    def ptx(self, kernel: Kernel) -> str:
        if kernel not in self._ptx:
            from lazyarr.codegen.nvptx import emit_ptx

            t0 = time.perf_counter()
            text = emit_ptx(kernel, self.name)
            self._ptx[kernel] = (text, time.perf_counter() - t0)
        return self._ptx[kernel][0]

    def asm(self, kernel: Kernel) -> str:
        return self.ptx(kernel)

    def compile_info(self, kernel: Kernel) -> CompileInfo:
        self.ptx(kernel)
        return CompileInfo(None, self._ptx[kernel][1])


def stages_for(target: str) -> CpuStages | CudaStages:
    if target == "cpu":
        return CpuStages()
    if target == "cuda":
        return CudaStages()
    raise ValueError(f"explain: unknown target {target!r}; use 'cpu' or 'cuda'")
