"""Facts about one compiled kernel, read from its loop IR, its launch and its generated code.

These answer what users ask of an array compiler: did the loop vectorise (and how wide), which
math-library calls remain in the machine code, how many bytes a call reads and writes, and how
much arithmetic each element costs. Everything here is plain text analysis: nothing compiles.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from lazyarr.ir import ops
from lazyarr.ir.graph import MOVEMENT, Node, Op, toposort
from lazyarr.ir.loop import Kernel, Launch, View, is_memory

_VECTOR_TYPE = re.compile(r"<(\d+) x (double|float|half|i\d+)>")
_TYPE_BITS = {"double": 64, "float": 32, "half": 16}
# a symbol loaded into a register (MCJIT's large code model) or called directly
_ASM_SYMBOL = re.compile(r"(?:movabsq\s+\$|call[lq]?\s+)([A-Za-z_][\w.]*)")
_SIMD_REGISTERS = (("zmm", 512), ("ymm", 256))
# C math functions (and their float versions) a kernel may call, one call per element: the
# routines of the op rows
_LIBM = re.compile("(" + "|".join(sorted(ops.libm_names(), key=len, reverse=True)) + ")f?")


@dataclass(frozen=True, slots=True)
class Vectorisation:
    """What the optimised IR and the assembly say about SIMD code."""

    loop_vectorised: bool  # LLVM's loop vectoriser marked a loop as vectorised
    lanes: dict[str, int]  # element type -> widest vector of it, e.g. {"double": 4}
    register_bits: int  # widest SIMD register in the assembly (0 if unknown)
    scalar_calls: tuple[str, ...]  # C math functions called (one call per element)
    vector_calls: tuple[str, ...]  # vector math functions (one call per vector)
    other_calls: tuple[str, ...] = ()  # anything else the machine code calls (memset, ...)
    # lazyarr's own math called one element at a time: the loop's remainder after the vectors
    remainder_calls: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        """The widest vector, in elements (1: scalar code)."""
        return max(self.lanes.values(), default=1)

    def describe(self) -> str:
        return self._vectors() + self._calls()

    def _vectors(self) -> str:
        if not self.lanes:
            return "no: scalar code (one element per instruction)"
        kinds = ", ".join(f"<{n} x {t}>" for t, n in sorted(self.lanes.items()))
        bits = max(n * _bits(t) for t, n in self.lanes.items())
        text = f"yes: {kinds} ({bits}-bit vectors"
        if self.register_bits:
            text += f", {self.register_bits}-bit registers in the assembly"
        text += ")"
        if not self.loop_vectorised:
            text += "; straight-line SIMD only, the loop itself was not vectorised"
        return text

    def _calls(self) -> str:
        text = ""
        names = ", ".join(self.scalar_calls)
        if self.scalar_calls and self.lanes:
            text += (f"; but {names} is called once per element (scalar math library: the "
                     "vector is split into lanes around each call)")
        elif self.scalar_calls:
            text += f"; {names} is called once per element (scalar math library)"
        if self.vector_calls:
            text += f"; vector math calls: {', '.join(self.vector_calls)}"
        if self.remainder_calls:
            text += (f"; the remainder after the last whole vector calls "
                     f"{', '.join(self.remainder_calls)} one element at a time")
        if self.other_calls:
            text += f"; also calls {', '.join(self.other_calls)}"
        return text


def _bits(type_name: str) -> int:
    return _TYPE_BITS.get(type_name) or int(type_name[1:])


def vectorisation(llvm_opt: str, asm: str = "") -> Vectorisation:
    """Read vector types from optimised LLVM IR and registers and calls from the assembly."""
    lanes: dict[str, int] = {}
    for line in llvm_opt[llvm_opt.find("define "):].splitlines():
        # shuffle masks (<4 x i32>) and i1 predicates are not data the loop computes on
        if "shufflevector" in line or "insertelement" in line or line.startswith("declare"):
            continue
        for count, type_name in _VECTOR_TYPE.findall(line):
            if type_name != "i1":
                lanes[type_name] = max(lanes.get(type_name, 0), int(count))
    register_bits = next((bits for reg, bits in _SIMD_REGISTERS if f"%{reg}" in asm), 0)
    if not register_bits and "%xmm" in asm and lanes:
        register_bits = 128
    called = sorted({s for s in _ASM_SYMBOL.findall(asm) if not s.startswith(".")})
    vector_calls = tuple(s for s in called if s.startswith("_ZGV"))
    scalar_calls = tuple(s for s in called if _LIBM.fullmatch(s))
    remainder = tuple(s for s in called if s.startswith("lazyarr_math_"))
    other = tuple(s for s in called
                  if s not in vector_calls and s not in scalar_calls and s not in remainder)
    return Vectorisation("llvm.loop.isvectorized" in llvm_opt, lanes, register_bits,
                         scalar_calls, vector_calls, other, remainder)


@dataclass(frozen=True, slots=True)
class Traffic:
    """Memory traffic of one kernel call: each input read once, each output written once."""

    elements: int  # iterations of the fused loop (elements of the output)
    reads: tuple[tuple[str, int], ...]  # (input, bytes) per input array
    writes: tuple[tuple[str, int], ...]  # (output, bytes) per output array

    @property
    def bytes_read(self) -> int:
        return sum(n for _, n in self.reads)

    @property
    def bytes_written(self) -> int:
        return sum(n for _, n in self.writes)

    def per_element(self) -> tuple[float, float]:
        n = max(self.elements, 1)
        return self.bytes_read / n, self.bytes_written / n


def _distinct_bytes(view: View, shape: tuple[int, ...]) -> int:
    """Bytes a strided view touches: broadcast (stride-0) dimensions are read once."""
    if not is_memory(view.array):
        return 0  # an element index: computed, not read
    n = view.array.dtype.itemsize
    for extent, stride in zip(shape, view.strides, strict=True):
        if stride:
            n *= extent
    return n


def traffic(launch: Launch) -> Traffic:
    elements = 1
    for n in launch.shape:
        elements *= n
    reads = tuple((f"in{k}", _distinct_bytes(v, launch.shape))
                  for k, v in enumerate(launch.inputs))
    writes = tuple((f"out{k}", _distinct_bytes(v, launch.shape))
                   for k, v in enumerate(launch.outputs))
    return Traffic(elements, reads, writes)


def _underlying(node: Node) -> Node:
    while node.op in MOVEMENT or node.op is Op.CAST:
        node = node.src[0]
    return node


def numpy_traffic(roots: list[Node]) -> tuple[int, int]:
    """(passes, bytes) NumPy would need evaluating ``roots`` one operation at a time.

    An estimate: every elementwise op is one pass that reads its operands in full and writes a
    temporary; casts happen inside the consuming ufunc's loop and cost no pass of their own.
    """
    passes = moved = 0
    for node in toposort(roots):
        if node.op in MOVEMENT or node.op in (Op.LEAF, Op.SCALAR, Op.CAST, Op.COUNTER):
            continue
        passes += 1
        moved += node.size * node.dtype.itemsize
        for src in map(_underlying, node.src):
            if src.op is not Op.SCALAR:
                moved += src.size * src.dtype.itemsize
    return passes, moved


def is_math_call(op: Op, dtype) -> bool:
    """Whether ``op`` on ``dtype`` is computed by a math-library routine, not instructions."""
    return ops.needs_math(op, dtype)


@dataclass(frozen=True, slots=True)
class Arithmetic:
    """Operations per element of the fused loop, by kind."""

    ops: dict[str, int]  # instructions and comparisons, by op name
    math_calls: dict[str, int]  # math-library routines (exp, sin, float %, ...)
    casts: int  # dtype conversions

    @property
    def total(self) -> int:
        return sum(self.ops.values()) + sum(self.math_calls.values()) + self.casts

    def describe(self) -> str:
        def listing(counts: dict[str, int]) -> str:
            return ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(counts.items()))

        parts = [f"{sum(self.ops.values())} arithmetic/logic ({listing(self.ops) or '-'})"]
        if self.math_calls:
            parts.append(f"{sum(self.math_calls.values())} math-library "
                         f"({listing(self.math_calls)})")
        if self.casts:
            parts.append(f"{self.casts} cast{'s' if self.casts != 1 else ''}")
        return f"{self.total} per element: " + "; ".join(parts)


def arithmetic(kernel: Kernel) -> Arithmetic:
    plain: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    casts = 0
    for ins in kernel.body:
        if ins.op in (Op.LEAF, Op.SCALAR):
            continue
        if ins.op is Op.CAST:
            casts += 1
        elif is_math_call(ins.op, kernel.body[ins.args[-1]].dtype):
            calls[ins.op.value] += 1
        elif ins.op is Op.REDUCE:
            plain[f"{ins.arg.value}-reduce"] += 1  # one accumulate per row element
        elif ins.op is Op.SCAN:
            plain[f"{ins.arg.value}-scan"] += 1  # one add or multiply per row element
        else:
            plain[ins.op.value] += 1
    return Arithmetic(dict(plain), dict(calls), casts)


def kernel_name(llvm_text: str) -> str:
    """The name of the function a kernel module defines."""
    # the exported function comes last (after the always-inlined ``.inner`` body)
    found = re.findall(r'define [^@]*@"?([\w.]+)"?\(', llvm_text)
    return found[-1] if found else "kernel"


def format_bytes(n: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:g} B"
