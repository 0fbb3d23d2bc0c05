"""Branch-free, vectorisable elementary functions, emitted as LLVM IR.

LLVM's loop vectoriser will not widen calls to C's ``exp`` or ``sin`` (see DESIGN.md), so the
CPU target computes them here instead: Cody-Waite range reduction, a minimax polynomial
evaluated with ``llvm.fma``, and a reconstruction, with every special value (NaN, +-inf, +-0,
overflow, underflow, subnormals) chosen by ``select`` rather than by a branch. The code is
straight-line and type generic (:class:`Em`): the same emitters produce scalar code and vector
code on ``<n x T>``, lane for lane the same bits. The approach is the one SLEEF and NumPy's
SIMD loops take; the code is ours.

Two ways to use a function:

* out of line (the CPU, :func:`call_support`): each function is compiled once per process
  into a support module (:func:`support_module`: a scalar version and vector versions, libm
  for huge trigonometric arguments) that ``backends/cpu_jit.py`` links before the kernels that
  call it. A kernel only declares the functions and calls the scalar one with LLVM's vector
  function ABI attribute naming the vector ones, so the loop vectoriser calls a vector
  version once per vector, and the kernel's IR stays small (fast to compile);
* inline (:func:`call`): an internal, always-inlined ``lazyarr.math.*`` function in the
  caller's module, for targets without libm or a support module (NVPTX); huge
  trigonometric arguments take an exact Payne-Hanek reduction there with ``reduce_huge``
  (what NVPTX asks for), else give NaN.

Accuracy (measured by ``benchmarks/ulp.py``, reported in ``docs/math.md``): at most 1 ULP from
the correctly rounded result for exp, log, sin, cos, tanh, exp2, log2, log10, cbrt and hypot,
at most 4 ULP for the rest (fasttanh, ``precision="fast"``'s tanh: 2.1).

Polynomial coefficients were fitted for this module with a discrete Remez exchange in mpmath
(50 digits), minimising the relative error of the reconstructed function over the reduced
interval, then rounded to the working precision one coefficient at a time (lowest order
first) with the remaining ones refitted. The comment above each table gives the fitted form,
the interval and the error of the polynomial alone.

The functions live in family modules; this one holds the registry (:data:`FUNCTIONS`) and
the two ways of emitting a call:

* ``mathlib_core``: the formats, the emitter :class:`Em`, error-free transformations;
* ``mathlib_exp``: exp, expm1, tanh, fasttanh, sinh, cosh, log, log1p, exp2, log2, log10;
* ``mathlib_trig``: sin, cos, tan, sincos, arctan, and huge trigonometric arguments;
* ``mathlib_pow``: pow, integer powers, cbrt, hypot;
* ``mathlib_inverse``: arcsin, arccos, arctan2, arcsinh, arccosh, arctanh;
* ``mathlib_erf``: erf, erfc.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from llvmlite import ir

from . import mathlib_erf, mathlib_inverse
from .mathlib_core import F32, F64, FORMATS, I1, I32, I64, PTR, Em, Format, _lanes, format_of
from .mathlib_exp import (
    _cosh,
    _exp,
    _exp2,
    _expm1,
    _log,
    _log1p,
    _log2,
    _log10,
    _sinh,
    _tanh,
    _tanh_fast,
)
from .mathlib_pow import INT_POWER_MAX, _cbrt, _hypot, _pow, int_power
from .mathlib_trig import (
    PH_TABLE_WORDS,
    TRIG_LIMIT,
    _arctan,
    _cos,
    _sin,
    _sincos,
    _tan,
    two_over_pi_words,
)

# what other modules and tests import from here (the functions' home is the family modules)
__all__ = [
    "CPU_USE", "F32", "F64", "FORMATS", "FUNCTIONS", "I1", "I32", "I64", "INLINE_SYMBOLS",
    "INT_POWER_MAX", "PAIRS", "PH_TABLE_WORDS", "PTR", "REGISTER_BITS", "SUPPORT_PREFIX",
    "SUPPORT_SYMBOLS", "TRIG_LIMIT", "Em", "Format", "Use", "call", "call_support",
    "format_of", "function", "int_power", "lanes", "loop_width", "mathlib_erf",
    "mathlib_inverse", "register_bits", "set_register_bits", "support_module",
    "support_symbol", "two_over_pi_words", "vector_symbol", "vector_widths",
]

# -- the function table ------------------------------------------------------------------------
Body = Callable[..., ir.Value]
FUNCTIONS: dict[str, tuple[int, Body]] = {
    "exp": (1, _exp), "expm1": (1, _expm1), "log": (1, _log), "log1p": (1, _log1p),
    "sin": (1, _sin), "cos": (1, _cos), "tan": (1, _tan), "tanh": (1, _tanh),
    "sinh": (1, _sinh), "cosh": (1, _cosh), "arctan": (1, _arctan), "pow": (2, _pow),
    "exp2": (1, _exp2), "log2": (1, _log2), "log10": (1, _log10), "cbrt": (1, _cbrt),
    "hypot": (2, _hypot),
    # precision="fast"'s tanh (Op.TANH_FAST), within 2.1 ULP; no underscore in the name: the
    # CPU JIT reads support symbols as lazyarr_math_<letters and digits>_<f32|f64>
    "fasttanh": (1, _tanh_fast),
}
# arcsin, arccos, arctan2, arcsinh, arccosh, arctanh (mathlib_inverse.py); erf, erfc
FUNCTIONS.update(mathlib_inverse.FUNCTIONS)
FUNCTIONS.update(mathlib_erf.FUNCTIONS)
# Support-only functions with several results, returned as a struct: a kernel needing both
# sin(x) and cos(x) calls sincos(x) (inlined, LLVM shared their reduction; calls cannot).
PAIRS: dict[str, tuple[int, Body]] = {"sincos": (1, _sincos)}
_TRIG = frozenset({"sin", "cos", "tan", "sincos"})


def _table(name: str) -> tuple[int, Body]:
    return FUNCTIONS[name] if name in FUNCTIONS else PAIRS[name]


def _emit(m: Em, name: str, args: Sequence[ir.Value], libm_fallback: bool,
          reduce_huge: bool = False) -> ir.Value | list[ir.Value]:
    body = _table(name)[1]
    if reduce_huge and name in _TRIG:
        return body(m, *args, reduce_huge=True)
    return body(m, *args, True) if libm_fallback and name in _TRIG else body(m, *args)


# -- inline: the whole function in the caller's module (targets without libm) -----------------
def function(module: ir.Module, name: str, ty: ir.Type, reduce_huge: bool = False
             ) -> ir.Function:
    """The module's internal, always-inlined ``lazyarr.math.<name>.<f32|f64>``, defined on
    first use. sin/cos/tan give NaN beyond ``TRIG_LIMIT`` (there is no libm to ask), unless
    ``reduce_huge``: then such arguments take the Payne-Hanek reduction (``_payne_hanek``,
    under a branch), and every finite argument gets a result (NVPTX uses this)."""
    fmt = format_of(ty)
    exact = reduce_huge and name in _TRIG
    full = f"lazyarr.math.{name}.{fmt.suffix}{'.ph' if exact else ''}"
    fn = module.globals.get(full)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(ty, [ty] * FUNCTIONS[name][0]), full)
    fn.linkage = "internal"
    for attr in ("alwaysinline", "nounwind"):
        fn.attributes.add(attr)
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    b.ret(_emit(Em(b, fmt), name, fn.args, libm_fallback=False, reduce_huge=exact))
    return fn


def call(builder: ir.IRBuilder, name: str, args: Sequence[ir.Value],
         reduce_huge: bool = False) -> ir.Value:
    """Emit ``name(*args)`` (float or double scalars) inline at the builder's position."""
    fn = function(builder.module, name, args[0].type, reduce_huge)
    return builder.call(fn, list(args))


# -- out of line: one support module per function, compiled once per process (CPU) -------------
# A kernel that inlined these doubled or tripled its IR (the vector loop and the scalar
# remainder each hold a copy), and LLVM's time grew with it: 40-80 ms for a ten-op kernel
# with three functions. So on the CPU each function is compiled once, into a support module
# (backends/cpu_jit.py loads it, and keeps its object code in the disk cache), with a scalar
# version and vector versions of it. A kernel only declares them and calls the scalar one,
# with a ``vector-function-abi-variant`` attribute (LLVM's vector function ABI) naming the
# vector versions: the loop vectoriser then calls the vector version once per vector.
SUPPORT_PREFIX = "lazyarr_math_"


@dataclass(frozen=True, slots=True)
class Use:
    """How CPU kernels use one function: how many vector registers of arguments one call of
    its vector version takes, where the math registers are 256 bits (``ymm``: AVX2, and
    every target without AVX-512, counted in 256-bit units) and where they are 512 bits
    (``zmm``, for float64 and float32: AVX-512 targets, :data:`REGISTER_BITS`); or
    ``inline`` in the kernel instead of called (not for sin, cos, tan: their huge arguments
    need the support module's libm path)."""

    ymm: int = 4
    zmm: tuple[int, int] = (2, 2)
    inline: bool = False

    def registers(self, bits: int, fmt: Format) -> int:
        return self.zmm[0 if fmt.ty == F64 else 1] if bits == 512 else self.ymm


# Registers per call, per function: ``benchmarks/vector_width.py --variants now,x1,x2,x4``
# (docs/benchmarks.md, "Math routines: registers per call", has the figures). One vector of
# a function is one long chain of dependent FMAs: inlined, LLVM interleaved the chains of a
# loop's several functions, but a call runs one function at a time, so several registers
# per call give the core independent chains again, and load each constant once for all of
# them (on Zen 3, one AVX2 register per call was 15-40% slower than inlined math, four as
# fast or faster; ymm was not measured again). On AVX-512, four zmm per call are 5-28%
# faster than two for the functions given (4, ...) below; the others gain nothing, or lose
# to spills of a long body with many live values (erf, erfc, arccos in float64: 15-25%
# slower at four). sincos is sin and cos with twice the live values: not measured, two.
# A loop calling several functions takes the fewest lanes among them (:func:`loop_width`).
CPU_USE: dict[str, Use] = {
    "exp": Use(zmm=(4, 4)), "expm1": Use(zmm=(4, 4)), "exp2": Use(zmm=(4, 4)),
    "log": Use(zmm=(4, 4)), "log1p": Use(zmm=(2, 4)),
    "log2": Use(), "log10": Use(),
    "sin": Use(zmm=(4, 4)), "cos": Use(zmm=(4, 4)), "tan": Use(zmm=(4, 4)), "sincos": Use(),
    "tanh": Use(zmm=(4, 4)), "sinh": Use(zmm=(4, 4)), "cosh": Use(zmm=(4, 4)),
    "fasttanh": Use(zmm=(4, 4)),  # 3-15% faster than (2, 2): 10^6 elements, one thread
    "arctan": Use(zmm=(4, 4)), "pow": Use(zmm=(4, 4)), "cbrt": Use(), "hypot": Use(),
    "arcsin": Use(), "arccos": Use(), "arctan2": Use(),
    "arcsinh": Use(zmm=(2, 4)), "arccosh": Use(), "arctanh": Use(zmm=(4, 4)),
    "erf": Use(zmm=(2, 4)), "erfc": Use(zmm=(2, 4)),
}
# The width of the math registers where a module does not say (set_register_bits): 256, or
# what this process's CPU JIT set (backends/cpu_jit.py: 512 on AVX-512 targets), so that a
# module built outside the CPU backend calls the vector versions its support modules have.
REGISTER_BITS = 256
_BITS_ATTRIBUTE = "lazyarr_register_bits"


def set_register_bits(module: ir.Module, bits: int) -> None:
    """Size the math calls of ``module``'s loops for ``bits``-bit registers (256 or 512)."""
    setattr(module, _BITS_ATTRIBUTE, bits)


def register_bits(module: ir.Module) -> int:
    return getattr(module, _BITS_ATTRIBUTE, REGISTER_BITS)


def _element_bits(fmt: Format) -> int:
    return 64 if fmt.ty == F64 else 32


def lanes(name: str, fmt: Format, bits: int) -> int:
    """The lanes one call of ``name`` computes in a loop calling nothing else: its table
    row's registers (``CPU_USE``) of ``bits`` bits."""
    return CPU_USE[name].registers(bits, fmt) * bits // _element_bits(fmt)


def vector_widths(name: str, fmt: Format, bits: int) -> tuple[int, ...]:
    """The vector versions a support module defines: every loop width a loop calling the
    function can ask for (its own lanes, or fewer: a loop calling several functions, of
    either format, takes the fewest), and one register's worth in case the vectoriser
    settles on its own width (it may narrow a loop it cannot widen that far). Each version
    costs compile time once per process (or once, with the disk cache)."""
    own = lanes(name, fmt, bits)
    others = {lanes(n, f, bits) for n, use in CPU_USE.items() if not use.inline
              for f in FORMATS.values()}
    return tuple(sorted({bits // _element_bits(fmt), *(w for w in others if w <= own)}))


def support_symbol(name: str, fmt: Format) -> str:
    """The scalar function's symbol: ``lazyarr_math_<name>_<f32|f64>``."""
    return f"{SUPPORT_PREFIX}{name}_{fmt.suffix}"


def vector_symbol(name: str, fmt: Format, width: int) -> str:
    """The vector version's symbol, mangled as LLVM's vector function ABI names variants."""
    return f"_ZGV_LLVM_N{width}{'v' * _table(name)[0]}_{support_symbol(name, fmt)}"


SUPPORT_SYMBOLS: dict[str, tuple[str, Format]] = {
    support_symbol(name, fmt): (name, fmt) for name in [*FUNCTIONS, *PAIRS]
    for fmt in FORMATS.values()}
# the CPU's inlined functions (``CPU_USE`` rows with ``inline``), by :func:`function`'s name
INLINE_SYMBOLS: dict[str, tuple[str, Format]] = {
    f"lazyarr.math.{name}.{fmt.suffix}": (name, fmt) for name in FUNCTIONS
    for fmt in FORMATS.values()}


def _signature(name: str, fmt: Format, width: int) -> ir.FunctionType:
    ty = _lanes(fmt.ty, width)
    result = ir.LiteralStructType([ty, ty]) if name in PAIRS else ty
    return ir.FunctionType(result, [ty] * _table(name)[0])


def support_module(symbol: str, triple: str = "", layout: str = "",
                   bits: int | None = None) -> ir.Module:
    """The support module defining ``symbol`` (a key of ``SUPPORT_SYMBOLS``) and its vector
    versions for ``bits``-bit math registers (None: ``REGISTER_BITS``), with libm for huge
    trigonometric arguments."""
    name, fmt = SUPPORT_SYMBOLS[symbol]
    module = ir.Module(name=symbol)
    module.triple, module.data_layout = triple, layout
    bits = REGISTER_BITS if bits is None else bits
    for width in (1, *vector_widths(name, fmt, bits)):
        fn = ir.Function(module, _signature(name, fmt, width),
                         symbol if width == 1 else vector_symbol(name, fmt, width))
        fn.attributes.add("nounwind")
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        result = _emit(Em(b, fmt, width), name, fn.args, libm_fallback=True)
        if isinstance(result, list):
            packed = ir.Constant(fn.function_type.return_type, None)
            for k, value in enumerate(result):
                packed = b.insert_value(packed, value, k)
            result = packed
        b.ret(result)
    return module


class _VariantAttributes(ir.instructions.CallInstrAttributes):
    """Call-site attributes with LLVM's vector-function ABI variant list (a string attribute,
    which llvmlite's attribute sets do not list)."""

    def __init__(self, variants: str) -> None:
        self._known = frozenset({f'"vector-function-abi-variant"="{variants}"'})
        super().__init__(self._known)


def _declare(module: ir.Module, symbol: str, fnty: ir.FunctionType) -> ir.Function:
    fn = ir.Function(module, fnty, symbol)
    # pure (huge arguments reach libm only where it sets no errno), so LLVM may vectorise,
    # hoist or drop the call
    for attr in ("nounwind", "readnone"):
        fn.attributes.add(attr)
    return fn


def _declare_support(module: ir.Module, name: str, fmt: Format) -> ir.Function:
    symbol = support_symbol(name, fmt)
    fn = module.globals.get(symbol)
    if fn is None:
        fn = _declare(module, symbol, _signature(name, fmt, 1))
        _keep_alive(module, [_declare(module, vector_symbol(name, fmt, w),
                                      _signature(name, fmt, w))
                             for w in vector_widths(name, fmt, register_bits(module))])
    return fn


def _keep_alive(module: ir.Module, fns: list[ir.Function]) -> None:
    """Add ``fns`` to @llvm.compiler.used: only an attribute string refers to them, and the
    vectoriser ignores a variant whose declaration is gone."""
    gv = module.globals.get("llvm.compiler.used")
    if gv is None:
        gv = ir.GlobalVariable(module, ir.ArrayType(PTR, 0), "llvm.compiler.used")
        gv.linkage = "appending"
        gv.section = "llvm.metadata"
        gv.initializer = ir.Constant(gv.value_type, [])
    items = list(gv.initializer.constant) + fns
    # the array grows in place: llvmlite prints the global from these two fields
    gv.value_type = ir.ArrayType(PTR, len(items))
    gv.initializer = ir.Constant(gv.value_type, items)


def call_support(builder: ir.IRBuilder, name: str, args: Sequence[ir.Value]) -> ir.Value:
    """Emit a call of the out-of-line ``name`` (float or double scalars; a struct of the
    results for ``PAIRS``): the loop vectoriser turns it into one call of a vector version
    per vector. A function whose ``CPU_USE`` row says ``inline`` is emitted inline."""
    if name in FUNCTIONS and CPU_USE[name].inline:
        if name in _TRIG:
            raise ValueError(f"{name} cannot be inlined on the CPU (huge arguments need libm)")
        return call(builder, name, args)
    fmt = format_of(args[0].type)
    call_ = builder.call(_declare_support(builder.module, name, fmt), list(args))
    # "<mangled name>(<symbol>)" per version: the two are one string here
    versions = [vector_symbol(name, fmt, w)
                for w in vector_widths(name, fmt, register_bits(builder.module))]
    call_.attributes = _VariantAttributes(",".join(f"{v}({v})" for v in versions))
    return call_


def loop_width(blocks: Sequence[ir.Block]) -> int | None:
    """The vector width to ask for in a loop made of ``blocks`` (None: the vectoriser
    chooses): the fewest lanes (:func:`lanes`) among the math functions it calls, called or
    inlined. None too when the loop calls a function with no vector version (libm's, such
    as fmod): the loop stays scalar either way, and LLVM prints a remark on stderr,
    whatever its options, for each loop it was asked to vectorise and could not."""
    names = [getattr(i.callee, "name", "") for block in blocks for i in block.instructions
             if isinstance(i, ir.CallInstr)]
    math = [SUPPORT_SYMBOLS.get(n) or INLINE_SYMBOLS.get(n) for n in names]
    if any(m is None and not n.startswith("llvm.") for n, m in zip(names, math, strict=True)):
        return None
    if not blocks:
        return None
    bits = register_bits(blocks[0].parent.module)
    return min((lanes(*m, bits) for m in math if m is not None), default=None)
