"""``lazyarr.explain``: every stage between an expression and the machine code it runs."""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .graph import Node, format_graph
from .loopir import Kernel, format_kernel, lower_kernel
from .schedule import schedule


class Explanation:
    """The graph, the fused kernel plan, LLVM IR (before and after O3), assembly and PTX.

    Each text is computed when first asked for; ``str()`` shows the graph, the kernels and the
    optimised LLVM IR.
    """

    def __init__(self, roots: list[Node]) -> None:
        self.roots = roots

    @cached_property
    def kernel_objects(self) -> list[Kernel]:
        kernels = []
        for group in schedule(self.roots):
            members = [self.roots[k] for k in group.members]
            outs = [np.empty(r.shape, r.dtype) for r in members]
            kernels.append(lower_kernel(members, outs).kernel)
        return kernels

    @property
    def graph(self) -> str:
        return format_graph(self.roots)

    @property
    def kernels(self) -> str:
        n = len(self.kernel_objects)
        head = f"{n} fused kernel{'s' if n != 1 else ''} (no intermediate arrays)"
        return "\n\n".join([head] + [format_kernel(k) for k in self.kernel_objects])

    def _modules(self, attr: str) -> str:
        from lazyarr.backends.cpu import compiled

        return "\n".join(getattr(compiled(k), attr) for k in self.kernel_objects)

    @property
    def llvm(self) -> str:
        return self._modules("llvm")

    @property
    def llvm_opt(self) -> str:
        return self._modules("llvm_opt")

    @property
    def asm(self) -> str:
        from lazyarr.backends.cpu import compiled, jit

        return "\n".join(jit().assembly(compiled(k).llvm) for k in self.kernel_objects)

    @property
    def ptx(self) -> str:
        from lazyarr.codegen.nvptx import emit_ptx

        return "\n".join(emit_ptx(k) for k in self.kernel_objects)

    def __str__(self) -> str:
        return "\n\n".join([
            "== expression graph ==", self.graph, "== kernel plan ==", self.kernels,
            "== LLVM IR (optimised) ==", self.llvm_opt,
        ])

    def __repr__(self) -> str:
        return f"<Explanation of {len(self.roots)} output(s), {len(self.kernel_objects)} kernel(s)>"
