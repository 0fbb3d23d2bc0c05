"""``python -m lazyarr explain EXPR``: parse an expression safely and explain its compilation.

The expression is parsed with :mod:`ast` and walked by a small interpreter that accepts only
a whitelist of node types (numbers, names, arithmetic, comparisons, calls of lazyarr
functions). It is never passed to ``eval``/``exec``, so ``__import__('os')``, attribute access,
lambdas, subscripts and the like are rejected before anything runs.
"""

from __future__ import annotations

import ast
import operator
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

MAX_LENGTH = 2000  # characters: an explain command line, not a program
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_EXTRA_FUNCTIONS = ("where", "clip")
# reductions, when this lazyarr has them; their keyword arguments must be constants
_REDUCTIONS = ("sum", "prod", "mean", "max", "min", "argmax", "argmin", "any", "all")
_KEYWORDS = frozenset({"axis", "keepdims"})

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.BitAnd: operator.and_, ast.BitOr: operator.or_,
    ast.BitXor: operator.xor, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
}
_UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert,
}
_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}
# Python-number arithmetic is done by Python; keep it from building huge integers
_MAX_CONSTANT_BITS = 4096


class ExpressionError(ValueError):
    """The expression uses a name or construct the explain command does not accept."""

    def __init__(self, message: str, text: str = "", node: ast.AST | None = None) -> None:
        col = getattr(node, "col_offset", None)
        if text and col is not None and "\n" not in text:
            message = f"{message}\n  {text}\n  {' ' * col}^"
        super().__init__(message)


def lazyarr_functions() -> dict[str, Callable[..., Any]]:
    """The functions an expression may call: lazyarr's ufuncs, where, clip, reductions."""
    import lazyarr as la

    names = [*la.UFUNC_FUNCTIONS, *_EXTRA_FUNCTIONS, *_REDUCTIONS]
    return {n: getattr(la, n) for n in names if callable(getattr(la, n, None))}


@dataclass
class Parsed:
    expr: Any  # a LazyArray (or a Python number for a constant expression)
    inputs: dict[str, Any] = field(default_factory=dict)  # name -> LazyArray


class _Interpreter:
    """Walks a whitelisted AST, building lazy expressions; anything else is an error."""

    def __init__(self, text: str, make_input: Callable[[str], Any],
                 allowed_inputs: set[str] | None) -> None:
        self.text = text
        self.make_input = make_input
        self.allowed = allowed_inputs
        self.functions = lazyarr_functions()
        self.inputs: dict[str, Any] = {}

    def fail(self, message: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(message, self.text, node)

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, f"visit_{type(node).__name__}", None)
        if method is None:
            raise self.fail(f"{_construct(node)} is not allowed in an expression "
                            "(only numbers, names, operators, comparisons and calls of "
                            "lazyarr functions)", node)
        return method(node)

    def visit_Expression(self, node: ast.Expression) -> Any:  # noqa: N802 (ast's names)
        return self.visit(node.body)

    def visit_Constant(self, node: ast.Constant) -> Any:  # noqa: N802
        if type(node.value) not in (int, float, bool):
            raise self.fail(f"constant {node.value!r} is not a number", node)
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:  # noqa: N802
        name = node.id
        if name in self.functions:
            raise self.fail(f"{name} is a function: call it, as in {name}(a)", node)
        if not _NAME.match(name):
            raise self.fail(f"name {name!r} is not allowed (input names start with a "
                            "letter)", node)
        if self.allowed is not None and name not in self.allowed:
            known = ", ".join(sorted(self.allowed)) or "none"
            raise self.fail(f"unknown name {name!r} (inputs: {known})", node)
        if name not in self.inputs:
            self.inputs[name] = self.make_input(name)
        return self.inputs[name]

    def visit_BinOp(self, node: ast.BinOp) -> Any:  # noqa: N802
        fn = _BINARY.get(type(node.op))
        if fn is None:
            raise self.fail(f"operator {_construct(node.op)} is not supported", node)
        left, right = self.visit(node.left), self.visit(node.right)
        if _is_number(left) and _is_number(right):
            return self._constant(fn, node, left, right)
        return fn(left, right)

    def _constant(self, fn: Callable[..., Any], node: ast.AST, *args: Any) -> Any:
        """Arithmetic on two Python numbers, refusing results too big to be a number."""
        if fn in (operator.pow, operator.lshift) and any(
                isinstance(a, int) and abs(a) > _MAX_CONSTANT_BITS for a in args[1:]):
            raise self.fail("constant too large", node)
        try:
            value = fn(*args)
        except (ArithmeticError, ValueError) as exc:
            raise self.fail(f"constant arithmetic failed: {exc}", node) from None
        if isinstance(value, int) and value.bit_length() > _MAX_CONSTANT_BITS:
            raise self.fail("constant too large", node)
        return value

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:  # noqa: N802
        fn = _UNARY.get(type(node.op))
        if fn is None:
            raise self.fail(f"{_construct(node.op)} is not supported (for arrays use "
                            "logical_not(x) or ~x)", node)
        operand = self.visit(node.operand)
        return self._constant(fn, node, operand) if _is_number(operand) else fn(operand)

    def visit_Compare(self, node: ast.Compare) -> Any:  # noqa: N802
        if len(node.ops) != 1:
            raise self.fail("chained comparisons (a < b < c) are not supported: use "
                            "logical_and(a < b, b < c)", node)
        fn = _COMPARE.get(type(node.ops[0]))
        if fn is None:
            raise self.fail(f"comparison {_construct(node.ops[0])} is not supported", node)
        return fn(self.visit(node.left), self.visit(node.comparators[0]))

    def visit_Call(self, node: ast.Call) -> Any:  # noqa: N802
        if not isinstance(node.func, ast.Name):
            raise self.fail(f"only lazyarr functions can be called, not {_construct(node.func)}",
                            node)
        fn = self.functions.get(node.func.id)
        if fn is None:
            raise self.fail(f"unknown function {node.func.id!r}", node)
        args = []
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.fail("*args is not supported", a)
            args.append(self.visit(a))
        return fn(*args, **self._keywords(node, node.func.id))

    def _keywords(self, node: ast.Call, function: str) -> dict[str, Any]:
        out = {}
        for kw in node.keywords:
            if kw.arg not in _KEYWORDS or function not in _REDUCTIONS:
                raise self.fail(f"keyword argument {kw.arg!r} is not supported here", kw)
            out[kw.arg] = self._literal(kw.value)
        return out

    def _literal(self, node: ast.AST) -> Any:
        """A keyword value: a constant, a negative constant or a tuple of them."""
        if isinstance(node, ast.Tuple):
            return tuple(self._literal(e) for e in node.elts)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self._literal(node.operand)
        if isinstance(node, ast.Constant) and type(node.value) in (int, bool, type(None)):
            return node.value
        raise self.fail("keyword values must be integers, booleans, None or tuples", node)


def _construct(node: ast.AST) -> str:
    return {ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.Subscript:
            "indexing", ast.BoolOp: "and/or", ast.Not: "not", ast.IfExp: "if/else",
            ast.MatMult: "@"}.get(type(node), type(node).__name__)


def _is_number(x: Any) -> bool:
    return type(x) in (int, float, bool)


def parse_expression(text: str, make_input: Callable[[str], Any],
                     allowed_inputs: set[str] | None = None) -> Parsed:
    """Build the lazy expression ``text`` describes; each new name becomes
    ``make_input(name)``. Raises :class:`ExpressionError` for anything not whitelisted."""
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        where = f"\n  {text.strip()}\n  {' ' * max((exc.offset or 1) - 1, 0)}^" \
            if "\n" not in text.strip() else ""
        raise ExpressionError(f"not a valid expression: {exc.msg}{where}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError("expression nested too deeply") from None
    interp = _Interpreter(text.strip(), make_input, allowed_inputs)
    try:
        expr = interp.visit(tree)
    except RecursionError:
        raise ExpressionError("expression nested too deeply") from None
    return Parsed(expr, interp.inputs)


def random_input(shape: tuple[int, ...], dtype: np.dtype, seed: int) -> np.ndarray:
    """Input data for an explanation: values only matter if the expression is evaluated."""
    rng = np.random.default_rng(seed)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(1, 100, size=shape).astype(dtype)
    return rng.random(shape).astype(dtype)


def add_arguments(parser: Any) -> None:
    parser.add_argument("expression", help='e.g. "2*a + exp(-b)"; each name is an input')
    parser.add_argument("--shape", default="1000",
                        help="shape of every input, e.g. 1000 or 100x200 (default 1000)")
    parser.add_argument("--dtype", default="float64",
                        help="dtype of every input (default float64)")
    parser.add_argument("--target", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--show", default="all",
                        help="comma-separated stages: answers, graph, canonical, plan, loops, "
                        "llvm, llvm_opt, asm, ptx (default all)")
    parser.add_argument("--inputs", default=None,
                        help="comma-separated input names; other names are an error")


def _shape(text: str) -> tuple[int, ...]:
    parts = [p for p in re.split(r"[x,\s]+", text.strip()) if p]
    if not parts or not all(p.isdigit() for p in parts):
        raise ExpressionError(f"--shape {text!r}: use sizes like 1000 or 100x200")
    return tuple(int(p) for p in parts)


def _dtype(text: str) -> np.dtype:
    import lazyarr as la

    try:
        dt = np.dtype(text)
    except TypeError:
        raise ExpressionError(f"--dtype {text!r} is not a dtype") from None
    if dt not in la.supported_dtypes():
        raise ExpressionError(f"--dtype {text}: lazyarr does not support it")
    return dt


def _sections(text: str) -> list[str] | None:
    """The stage keys --show asks for; None for the default set."""
    from lazyarr.inspect.explanation import STAGES

    wanted = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in wanted if s not in STAGES and s != "all"]
    if bad or not wanted:
        raise ExpressionError(f"--show: unknown section(s) {', '.join(bad) or '(none)'}; "
                              f"choose from all, {', '.join(STAGES)}")
    return None if "all" in wanted else wanted


def run_explain(args: Any, out: Any = None, err: Any = None) -> int:
    """The ``explain`` subcommand: 0 on success, 2 for a bad expression or option, 1 when a
    stage shown cannot be produced for the target (e.g. PTX for exp)."""
    import lazyarr as la
    from lazyarr.inspect.explanation import Explanation

    out, err = out or sys.stdout, err or sys.stderr
    try:
        shape, dtype, sections = _shape(args.shape), _dtype(args.dtype), _sections(args.show)
        allowed = None if args.inputs is None else {
            n.strip() for n in args.inputs.split(",") if n.strip()}
        seeds = iter(range(10**6))
        parsed = parse_expression(
            args.expression, lambda name: la.asarray(random_input(shape, dtype, next(seeds))),
            allowed)
        expr = la.asarray(parsed.expr)
    except (ExpressionError, TypeError, ValueError, OverflowError) as exc:
        # ExpressionError for the whitelist; the others are NumPy's own rules, raised by
        # lazyarr where the expression is built (e.g. float << int)
        err.write(f"error: {exc}\n")
        return 2
    names = {id(v._node): k for k, v in parsed.inputs.items()}
    explanation = Explanation([expr._node], args.target, names)
    text = "\n\n".join(f"== {title} ==\n\n{body}"
                         for title, body in explanation.sections(sections))
    out.write(text + "\n")
    return 1 if explanation.unavailable else 0  # e.g. PTX asked for an op CUDA cannot do
