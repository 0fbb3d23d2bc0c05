"""``lazyarr.explain``: every stage between an expression and the machine code it runs.

An :class:`Explanation` holds the stages as text attributes (``graph``, ``canonical``,
``kernels``, ``loops``, ``llvm``, ``llvm_opt``, ``asm``, ``ptx``) and answers the questions
users ask of an array compiler: did it vectorise, how many bytes does each kernel move, how
much arithmetic per element, was the kernel cached. Stages are computed when first asked for;
nothing compiles until a code stage or an answer needs it.
"""

from __future__ import annotations

import html
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from lazyarr.front import canon
from lazyarr.inspect import codefacts, display
from lazyarr.inspect.codefacts import Arithmetic, Traffic, Vectorisation, format_bytes
from lazyarr.inspect.kernelplan import PlannedStep, PlanText, build_plan
from lazyarr.inspect.stages import CompileInfo, stages_for
from lazyarr.ir.graph import MOVEMENT, Node, Op, describe, toposort
from lazyarr.ir.loop import COUNTER_MEMORY, Kernel, format_kernel

_SOURCES = (Op.LEAF, Op.SCALAR, Op.COUNTER)
_WIDTH = 96  # columns of the answers text
_PRE_STYLE = ("font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px;"
              "line-height:1.3;overflow-x:auto;white-space:pre;margin:2px 0 8px 0")

# key -> (title, attribute): every stage an Explanation can show, in pipeline order
STAGES = {
    "answers": ("answers", "summary"), "graph": ("expression graph", "graph"),
    "canonical": ("canonical form", "canonical"), "plan": ("kernel plan", "kernel_plan"),
    "loops": ("loop IR", "loops"), "llvm": ("LLVM IR (generated)", "llvm"),
    "llvm_opt": ("LLVM IR (after O3)", "llvm_opt"), "asm": ("assembly", "asm"),
    "ptx": ("PTX", "ptx"),
}


@dataclass(frozen=True, slots=True)
class KernelReport:
    """The answers for one kernel."""

    index: int
    vectorisation: Vectorisation | None  # None on the GPU: one element per thread
    traffic: Traffic
    arithmetic: Arithmetic
    compile: CompileInfo | None  # None: the target cannot compile this kernel ...
    problem: str | None = None  # ... and this says why


class Explanation:
    """The graph, the canonical form, the kernel plan, loop IR, LLVM IR, assembly and PTX.

    ``target`` is ``"cpu"`` (LLVM for this machine; ``asm`` is x86/ARM assembly) or ``"cuda"``
    (``llvm`` is the NVPTX module, ``asm`` and ``ptx`` the PTX). ``names`` optionally maps
    ``id(leaf node)`` to the name an input is shown under; by default inputs are a, b, c, ...
    """

    def __init__(self, roots: list[Node], target: str = "cpu",
                 names: dict[int, str] | None = None) -> None:
        if not roots:
            raise TypeError("explain() needs at least one expression")
        self.roots = list(roots)
        self.target = target
        self._stages = stages_for(target)
        self.order = toposort(self.roots)
        self.ids = {id(n): k for k, n in enumerate(self.order)}
        self.names = display.leaf_names(self.roots, names)
        self.unavailable: set[str] = set()  # why shown stages could not be produced

    # -- the plan (no compiling) ---------------------------------------------------------
    @cached_property
    def plan(self) -> list[PlannedStep]:
        """Every step evaluation takes: fused kernels and opaque ops, in order."""
        # the CUDA target copies host leaves to the device and never cuts a full reduction
        # into the CPU's partial rows: its plan (and PTX) must come from unsplit kernels
        return build_plan(self.roots, split=self.target == "cpu")

    @property
    def kernel_steps(self) -> list[PlannedStep]:
        return [s for s in self.plan if s.kind == "kernel"]

    @property
    def kernel_objects(self) -> list[Kernel]:
        return [s.kernel for s in self.kernel_steps]

    # -- stage texts -----------------------------------------------------------------------
    def _name(self, node: Node) -> str:
        return f"%{self.ids[id(node)]}"

    def _line(self, node: Node) -> str:
        text = describe(node)
        if node.op is Op.LEAF:
            text = text.replace("leaf", f"leaf {self.names[id(node)]}", 1)
        srcs = ", ".join(self._name(s) for s in node.src)
        return f"{self._name(node)} = {text}" + (f" ({srcs})" if srcs else "")

    @property
    def graph(self) -> str:
        """The expression graph as numbered SSA lines with dtypes and shapes, sources first."""
        lines = [self._line(n) for n in self.order]
        lines.append("return " + ", ".join(self._name(r) for r in self.roots))
        return "\n".join(lines)

    @property
    def canonical(self) -> str:
        """The canonical form, and what canonicalisation did to reach it."""
        return "\n".join(self._canonical_lines())

    def _canonical_lines(self) -> list[str]:
        lines = [
            "lazyarr canonicalises each node as it is built (lazyarr/front/canon.py), so the graph",
            "above is already canonical: there is no separate pass to run. In effect:",
            "  - NumPy's implicit casts and broadcasts are explicit nodes "
            f"({self._count(Op.CAST)} cast, {self._count(Op.BROADCAST)} broadcast here);",
            "  - equal subexpressions are one node (interning), computed once;",
            "  - only rewrites that keep NaN, inf and -0.0, bit-exact but for integer powers",
            "    by squaring (within 1 ULP; docs/math.md):",
        ]
        for op, rule in canon.RULES.items():
            doc = (rule.__doc__ or rule.__name__).strip().splitlines()[0].replace("``", "")
            lines.append(f"      {op.value}: {doc}")
        shared = self._shared_nodes()
        if shared:
            lines.append("shared subexpressions in this graph (computed once per kernel):")
            lines += [f"  {self._name(n)} {n.op.value}, used {k} times" for n, k in shared]
        lines.append("views folded into one strided read per input at lowering:")
        lines += self._view_lines() or ["  (none: every input is read as it is laid out)"]
        return lines

    def _count(self, op: Op) -> int:
        return sum(1 for n in self.order if n.op is op)

    def _shared_nodes(self) -> list[tuple[Node, int]]:
        uses: dict[int, int] = {}
        for n in self.order:
            for s in n.src:
                uses[id(s)] = uses.get(id(s), 0) + 1
        return [(n, uses[id(n)]) for n in self.order
                if uses.get(id(n), 0) > 1 and n.op not in _SOURCES and n.op not in MOVEMENT]

    def _view_lines(self) -> list[str]:
        lines = []
        for p in self.kernel_steps:
            for k, view in enumerate(p.launch.inputs):
                strides = ", ".join(map(str, view.strides))
                what = "element index (computed, never read from memory)" \
                    if view.array is COUNTER_MEMORY else \
                    f"{view.array.dtype} buffer of shape {view.array.shape}"
                lines.append(f"  kernel {p.number} in{k}: {what}, byte strides ({strides}) "
                             f"over the loop {p.launch.shape}, offset {view.offset}")
        return lines

    @property
    def loops(self) -> str:
        """The loop IR of every kernel."""
        return "\n\n".join(f"kernel {p.number}: {format_kernel(p.kernel)}"
                           for p in self.kernel_steps)

    @property
    def kernel_plan(self) -> str:
        """Which nodes fused into which kernel, and why the graph was split where it was."""
        return "\n".join(PlanText(self.roots, self.plan, lambda n: self.ids[id(n)]).lines())

    @property
    def kernels(self) -> str:
        """The kernel plan followed by the loop IR of each kernel."""
        return "\n\n".join(t for t in (self.kernel_plan, self.loops) if t)

    def _per_kernel(self, stage: Callable[[Kernel], str]) -> str:
        return "\n".join(stage(k) for k in self.kernel_objects)

    @property
    def llvm(self) -> str:
        """LLVM IR as generated, before optimisation."""
        return self._per_kernel(self._stages.llvm)

    @property
    def llvm_opt(self) -> str:
        """LLVM IR after the O3 pipeline (what the vectoriser made of the loop)."""
        return self._per_kernel(self._stages.llvm_opt)

    @property
    def asm(self) -> str:
        """Machine assembly for the CPU target; PTX for the CUDA target."""
        return self._per_kernel(self._stages.asm)

    @property
    def ptx(self) -> str:
        """PTX for NVIDIA GPUs (sm_90), whatever the target; raises NotImplementedError for
        ops the GPU path cannot lower without libdevice (arcsin, exp2, ...), and for the CPU
        target's full reductions cut into partial rows (explain with target="cuda" for the
        GPU's kernels)."""
        from lazyarr.codegen.nvptx import emit_ptx

        return self._per_kernel(emit_ptx)

    # -- answers ---------------------------------------------------------------------------
    @cached_property
    def reports(self) -> list[KernelReport]:
        """Per kernel: vectorisation, memory traffic, arithmetic and compile facts."""
        return [self._report(p) for p in self.kernel_steps]

    def _report(self, p: PlannedStep) -> KernelReport:
        traffic, ops = codefacts.traffic(p.launch), codefacts.arithmetic(p.kernel)
        try:
            info = self._stages.compile_info(p.kernel)
        except NotImplementedError as exc:  # e.g. exp on CUDA: the plan still has answers
            return KernelReport(p.number, None, traffic, ops, None, str(exc))
        vec = None
        if self.target == "cpu":
            vec = codefacts.vectorisation(self._stages.llvm_opt(p.kernel),
                                          self._stages.asm(p.kernel))
        return KernelReport(p.number, vec, traffic, ops, info)

    @property
    def vectorised(self) -> bool:
        """Whether every kernel's loop runs on SIMD vectors (always False for CUDA)."""
        return bool(self.reports) and all(
            r.vectorisation is not None and r.vectorisation.lanes for r in self.reports)

    @property
    def vector_width(self) -> int:
        """The widest vector found in the optimised IR, in elements (1: scalar code)."""
        return max((r.vectorisation.width for r in self.reports if r.vectorisation), default=1)

    @property
    def bytes_read(self) -> int:
        """Bytes all kernels read per call (each input once; broadcast inputs once)."""
        return sum(r.traffic.bytes_read for r in self.reports)

    @property
    def bytes_written(self) -> int:
        return sum(r.traffic.bytes_written for r in self.reports)

    @property
    def bytes_per_element(self) -> tuple[float, float]:
        """(read, written) bytes per element of the loops, over all kernels."""
        n = max(sum(r.traffic.elements for r in self.reports), 1)
        return self.bytes_read / n, self.bytes_written / n

    @property
    def ops_per_element(self) -> int:
        """Operations per element (arithmetic, math calls and casts), summed over kernels."""
        return sum(r.arithmetic.total for r in self.reports)

    @property
    def cache_hit(self) -> bool | None:
        """True if every kernel was compiled before explain asked for it; None for CUDA."""
        hits = [r.compile.cache_hit if r.compile else None for r in self.reports]
        return None if any(h is None for h in hits) else all(hits)

    @property
    def compile_seconds(self) -> float:
        return sum(r.compile.seconds for r in self.reports if r.compile)

    @property
    def summary(self) -> str:
        """The answers, one block per kernel."""
        lines = [f"target {self.target}: {len(self.kernel_steps)} kernel(s)"]
        passes, numpy_bytes = codefacts.numpy_traffic(self.roots)
        for r in self.reports:
            lines += self._report_lines(r)
        moved = self.bytes_read + self.bytes_written
        if passes and numpy_bytes:
            lines.append(textwrap.fill(
                f"NumPy estimate: {passes} pass(es) over memory moving "
                f"{format_bytes(numpy_bytes)}; fused: {format_bytes(moved)} "
                f"({moved / numpy_bytes:.0%} of NumPy's traffic)", _WIDTH,
                subsequent_indent="    "))
        return "\n".join(lines)

    def _report_lines(self, r: KernelReport) -> list[str]:
        t = r.traffic
        per_read, per_written = t.per_element()
        inputs = ", ".join(f"{name} {format_bytes(n)}" for name, n in t.reads) or "no arrays"
        vec = ("n/a on the GPU (one element per thread, grid-stride loop)"
               if r.vectorisation is None else r.vectorisation.describe())
        if r.vectorisation is not None and any(k.endswith("-scan") for k in r.arithmetic.ops):
            vec += ("; a scan carries its running value from one row element to the next, in "
                    "order (NumPy's sequential sums and their bits): its loop stays scalar")
        if r.compile is None:
            vec, compiled = "unknown: not compiled", f"not possible: {r.problem}"
        else:
            compiled = r.compile.describe(self.target)
        items = [
            f"vectorised: {vec}",
            f"memory per element: reads {per_read:g} B, writes {per_written:g} B",
            f"memory per call ({t.elements:,} elements): reads {format_bytes(t.bytes_read)} "
            f"({inputs}), writes {format_bytes(t.bytes_written)}",
            f"arithmetic: {r.arithmetic.describe()}",
            f"compile: {compiled}",
        ]
        # wrapped to fit a terminal and a notebook cell; continuation lines indented
        return [f"kernel {r.index}:"] + [
            textwrap.fill(item, _WIDTH, initial_indent="  ", subsequent_indent="      ")
            for item in items]

    # -- rendering -------------------------------------------------------------------------
    def stage_keys(self) -> list[str]:
        """The stages ``str()`` shows: assembly for the CPU, PTX for CUDA."""
        skip = "ptx" if self.target == "cpu" else "asm"
        return [k for k in STAGES if k != skip]

    def section(self, key: str) -> tuple[str, str]:
        """(title, text) of one stage; a stage this target cannot produce says why."""
        title, attr = STAGES[key]
        return title, self._safely(lambda: getattr(self, attr))

    def sections(self, keys: list[str] | None = None) -> list[tuple[str, str]]:
        return [self.section(k) for k in (keys or self.stage_keys())]

    def _safely(self, make: Callable[[], str]) -> str:
        try:
            return make()
        except NotImplementedError as exc:
            self.unavailable.add(str(exc))
            return f"not available for target {self.target}: {exc}"

    def __str__(self) -> str:
        return "\n\n".join(f"== {title} ==\n\n{text}" for title, text in self.sections())

    def _repr_html_(self) -> str:
        parts = [f"<div class='lazyarr-explain' style='font-family:sans-serif;font-size:13px'>"
                 f"<b>lazyarr.explain</b> &middot; target <code>{self.target}</code> &middot; "
                 f"{len(self.kernel_steps)} kernel(s) for {len(self.roots)} output(s)",
                 display.graph_html(self.roots, self.names)]
        for k, (title, text) in enumerate(self.sections()):
            opened = " open" if k < 4 else ""
            parts.append(f"<details{opened}><summary><b>{html.escape(title)}</b></summary>"
                         f"<pre style='{_PRE_STYLE}'>{html.escape(text)}"
                         "</pre></details>")
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        return (f"<Explanation of {len(self.roots)} output(s), {len(self.kernel_steps)} kernel(s), "
                f"target {self.target}>")
