"""Rule tables for elementwise ops, one row per op.

Each row names the NumPy ufunc that is both the reference implementation (the interpreter
backend calls it) and the source of type rules: lazyarr asks the ufunc itself which inner loop
NumPy 2 would pick (``ufunc.resolve_dtypes``), so type promotion, weak Python scalars (NEP 50)
and "no loop for these types" errors match NumPy by construction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lazyarr.ir import dtypes
from lazyarr.ir.graph import Op

# Ops that need math routines. The GPU has no libm: there they compile only through
# lazyarr's own math library or NVIDIA's libdevice (codegen/nvptx.refusal says which); the
# rest are refused before LLVM sees the module (LLVM would abort).
LIBM = frozenset({
    Op.EXP, Op.EXPM1, Op.EXP2, Op.LOG, Op.LOG1P, Op.LOG2, Op.LOG10, Op.CBRT,
    Op.SIN, Op.COS, Op.TAN, Op.ARCSIN, Op.ARCCOS, Op.ARCTAN, Op.ARCTAN2,
    Op.SINH, Op.COSH, Op.TANH, Op.ARCSINH, Op.ARCCOSH, Op.ARCTANH, Op.HYPOT,
    Op.LOGADDEXP,
})


@dataclass(frozen=True, slots=True)
class OpSpec:
    op: Op
    ufunc: np.ufunc
    nin: int
    # float POWER, REMAINDER and FLOOR_DIVIDE need libm on floats only
    float_libm: bool = False

    @property
    def name(self) -> str:
        return self.op.value


def _clip_ufunc() -> np.ufunc:
    # NumPy 2 implements np.clip with this ufunc; its loops and promotion are the reference.
    return np._core.umath.clip


_UFUNCS: dict[Op, np.ufunc] = {
    Op.ADD: np.add, Op.SUBTRACT: np.subtract, Op.MULTIPLY: np.multiply,
    Op.TRUE_DIVIDE: np.true_divide, Op.FLOOR_DIVIDE: np.floor_divide,
    Op.REMAINDER: np.remainder, Op.POWER: np.power, Op.NEGATIVE: np.negative,
    Op.POSITIVE: np.positive, Op.ABSOLUTE: np.absolute, Op.INVERT: np.invert,
    Op.LESS: np.less, Op.LESS_EQUAL: np.less_equal, Op.GREATER: np.greater,
    Op.GREATER_EQUAL: np.greater_equal, Op.EQUAL: np.equal, Op.NOT_EQUAL: np.not_equal,
    Op.BITWISE_AND: np.bitwise_and, Op.BITWISE_OR: np.bitwise_or,
    Op.BITWISE_XOR: np.bitwise_xor, Op.LEFT_SHIFT: np.left_shift,
    Op.RIGHT_SHIFT: np.right_shift, Op.EXP: np.exp, Op.EXPM1: np.expm1, Op.EXP2: np.exp2,
    Op.LOG: np.log, Op.LOG1P: np.log1p, Op.LOG2: np.log2, Op.LOG10: np.log10,
    Op.SQRT: np.sqrt, Op.CBRT: np.cbrt, Op.SQUARE: np.square, Op.RECIPROCAL: np.reciprocal,
    Op.SIN: np.sin, Op.COS: np.cos, Op.TAN: np.tan, Op.ARCSIN: np.arcsin,
    Op.ARCCOS: np.arccos, Op.ARCTAN: np.arctan, Op.ARCTAN2: np.arctan2, Op.SINH: np.sinh,
    Op.COSH: np.cosh, Op.TANH: np.tanh, Op.ARCSINH: np.arcsinh, Op.ARCCOSH: np.arccosh,
    Op.ARCTANH: np.arctanh, Op.HYPOT: np.hypot, Op.FLOOR: np.floor, Op.CEIL: np.ceil,
    Op.TRUNC: np.trunc, Op.RINT: np.rint, Op.SIGN: np.sign, Op.MAXIMUM: np.maximum,
    Op.MINIMUM: np.minimum, Op.FMAX: np.fmax, Op.FMIN: np.fmin, Op.CLIP: _clip_ufunc(),
    Op.LOGADDEXP: np.logaddexp, Op.ISNAN: np.isnan, Op.ISINF: np.isinf,
    Op.ISFINITE: np.isfinite, Op.SIGNBIT: np.signbit, Op.COPYSIGN: np.copysign,
    Op.LOGICAL_AND: np.logical_and, Op.LOGICAL_OR: np.logical_or,
    Op.LOGICAL_NOT: np.logical_not, Op.LOGICAL_XOR: np.logical_xor,
}

_FLOAT_LIBM = frozenset({Op.POWER, Op.REMAINDER, Op.FLOOR_DIVIDE})

# Op.POWER_INT has no row: canonicalisation makes it from a float POWER whose types NumPy
# already resolved (never a function users call), and it calls no math routine
# (needs_math is False: repeated squaring inlined on every target).
SPECS: dict[Op, OpSpec] = {
    op: OpSpec(op, uf, uf.nin, op in _FLOAT_LIBM) for op, uf in _UFUNCS.items()
}
BY_UFUNC: dict[np.ufunc, Op] = {uf: op for op, uf in _UFUNCS.items()}
BY_UFUNC[np.divide] = Op.TRUE_DIVIDE
BY_UFUNC[np.abs] = Op.ABSOLUTE

COMPARISONS = frozenset({
    Op.LESS, Op.LESS_EQUAL, Op.GREATER, Op.GREATER_EQUAL, Op.EQUAL, Op.NOT_EQUAL,
})

# A weak operand is a Python scalar whose dtype NumPy decides from the other operands (NEP 50).
WeakType = type[int] | type[float]

_LOOPS: dict[tuple, tuple[np.dtype, ...] | Exception] = {}


def resolve_loop(op: Op, operands: tuple[np.dtype | WeakType, ...]) -> tuple[np.dtype, ...]:
    """The (inputs..., output) dtypes of NumPy's inner loop for ``op`` on these operands.

    Raises the exception NumPy raises when it has no loop, and TypeError for loops whose
    dtypes lazyarr does not support.
    """
    key = (op, operands)
    found = _LOOPS.get(key)
    if found is None:
        found = _resolve_uncached(op, operands)
        _LOOPS[key] = found
    if isinstance(found, Exception):
        raise type(found)(*found.args)
    return found


def cached_loop(op: Op, operands: tuple[np.dtype, ...]) -> tuple[np.dtype, ...] | None:
    """The loop of an earlier ``resolve_loop`` call, if it succeeded; else None."""
    found = _LOOPS.get((op, operands))
    return None if found is None or isinstance(found, Exception) else found


def _resolve_uncached(op: Op, operands: tuple) -> tuple[np.dtype, ...] | Exception:
    spec = SPECS[op]
    try:
        loop = spec.ufunc.resolve_dtypes((*operands, None))
        for dt in loop:
            dtypes.check(dt, f"{spec.name} on {_names(operands)}")
    except (TypeError, ValueError) as exc:
        return exc
    return tuple(loop)


def _names(operands: tuple) -> str:
    return "(" + ", ".join(o.__name__ if isinstance(o, type) else str(o) for o in operands) + ")"


def needs_math(op: Op, loop_dtype: np.dtype) -> bool:
    """Whether ``op`` on ``loop_dtype`` calls a math routine (libm on the CPU)."""
    spec = SPECS.get(op)
    return op in LIBM or bool(spec and spec.float_libm and loop_dtype.kind == "f")


def target_support(op: Op, loop_dtype: np.dtype, target: str) -> str | None:
    """None if ``target`` can lower ``op`` on ``loop_dtype``, else the reason it cannot."""
    if target != "nvptx":
        return None
    if needs_math(op, loop_dtype):
        return (f"{op.value} on {loop_dtype} needs math routines that the CUDA target takes "
                "from NVIDIA's libdevice, which was not found (LAZYARR_LIBDEVICE, CUDA_HOME)")
    return None
