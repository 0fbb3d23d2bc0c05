"""``LAZYARR_DEBUG=1..4``: what the compiler does, printed to stderr as kernels compile.

1: one line per compile (or load from the disk cache) and the kernel's expression;
2: + the loop IR and its answers (vector width, bytes and ops per element);
3: + LLVM IR before and after O3; 4: + assembly.
The level is read only from :data:`lazyarr.config.settings` (the one place that reads the
environment), at each compile, so tests and notebooks can change it at run time.

The CPU backend does not import this module: it announces compiles to the listeners of
``lazyarr.backends.stats``, and importing this module (``import lazyarr`` does) registers
:func:`on_compile` there. Code facts are imported only when a report is written, so that the
registration costs ``import lazyarr`` next to nothing.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any, TextIO

from lazyarr.backends import stats
from lazyarr.config import settings
from lazyarr.ir.graph import Op
from lazyarr.ir.loop import Kernel, format_kernel


def kernel_expression(kernel: Kernel) -> str:
    """The kernel body as nested calls; a value used more than once gets its own line."""
    uses = Counter(a for ins in kernel.body for a in ins.args)
    uses.update(v for v, _ in kernel.outputs)
    text: dict[int, str] = {}
    lines: list[str] = []
    for n, ins in enumerate(kernel.body):
        if ins.op is Op.LEAF:
            expr = f"in{ins.arg}"
        elif ins.op is Op.SCALAR:
            expr = f"s{ins.arg}"
        else:
            name = str(ins.dtype) if ins.op is Op.CAST else ins.op.value
            if ins.op is Op.REDUCE:
                name = f"{ins.arg.value}_over_row"
            elif ins.op is Op.SCAN:
                name = f"cumulative_{ins.arg.value}_along_row"
            expr = f"{name}({', '.join(text[a] for a in ins.args)})"
        if uses[n] > 1 and ins.op not in (Op.LEAF, Op.SCALAR):
            lines.append(f"v{n} = {expr}")
            expr = f"v{n}"
        text[n] = expr
    lines += [f"out{k} = {text[v]}" for k, (v, _) in enumerate(kernel.outputs)]
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _answers(kernel: Kernel, compiled: Any) -> str:
    from lazyarr.inspect import codefacts

    ops = codefacts.arithmetic(kernel)
    vec = codefacts.vectorisation(compiled.llvm_opt)
    itemsizes = [p.dtype.itemsize for p in kernel.inputs]
    written = [p.dtype.itemsize for _, p in kernel.outputs]
    return (f"vectorised: {vec.describe()}\n"
            f"bytes per element (contiguous inputs): read {sum(itemsizes)}, "
            f"write {sum(written)}\n"
            f"arithmetic: {ops.describe()}")


def report(kernel: Kernel, compiled: Any, level: int, stream: TextIO) -> None:
    """Write what ``level`` asks for about one freshly compiled kernel to ``stream``."""
    from lazyarr.inspect import codefacts

    name = getattr(compiled, "name", None) or codefacts.kernel_name(compiled.llvm)
    how = "loaded from the disk cache" if getattr(compiled, "source", "") == "disk" \
        else "compiled"
    head = (f"[lazyarr] {how} {name} in {compiled.seconds * 1e3:.1f} ms: "
            f"{kernel.ndim}-D loop, {len(kernel.inputs)} input(s), "
            f"{len(kernel.outputs)} output(s)")
    parts = [head, _indent(kernel_expression(kernel))]
    if level >= 2:
        parts += ["  loop IR:", _indent(format_kernel(kernel)),
                  _indent(_answers(kernel, compiled))]
    if level >= 3:
        parts += ["  LLVM IR (generated):", _indent(compiled.llvm),
                  "  LLVM IR (after O3):", _indent(compiled.llvm_opt)]
    if level >= 4:
        from lazyarr.backends.cpu import jit

        parts += ["  assembly:", _indent(jit().assembly(compiled.llvm))]
    stream.write("\n".join(parts) + "\n")
    stream.flush()


def on_compile(kernel: Kernel, compiled: Any) -> None:
    """Hears of each kernel the CPU backend compiles or loads from its disk cache (not of
    in-memory cache hits); silent unless LAZYARR_DEBUG > 0."""
    if settings.debug > 0:
        report(kernel, compiled, settings.debug, sys.stderr)


stats.listen(on_compile)
