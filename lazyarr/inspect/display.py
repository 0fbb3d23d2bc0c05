"""Notebook display of unevaluated expressions: an HTML card and the scalar body as LaTeX.

Nothing here evaluates or compiles: it reads node metadata (op, dtype, shape) only. The graph
picture is SVG drawn by Graphviz when its ``dot`` program is installed, and a text tree
otherwise. Input arrays are named a, b, c, ... in order of first use, the same names in the
tree, the SVG, the LaTeX and ``lazyarr.explain``.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

from lazyarr.ir import ops
from lazyarr.ir.graph import MOVEMENT, Node, Op, toposort

Names = dict[int, str]

_MAX_TREE_LINES = 40
_MAX_SVG_NODES = 120
_MAX_LATEX_TERMS = 400
_DOT_TIMEOUT_S = 10


# -- naming ------------------------------------------------------------------------------------
def leaf_names(roots: Sequence[Node], given: Names | None = None) -> Names:
    """Names for the leaves under ``roots``: ``given`` ones first, then a, b, c, ..."""
    names: Names = dict(given or {})
    taken = set(names.values())
    letters = (chr(c) for c in range(ord("a"), ord("z") + 1))
    fallback = (f"x{k}" for k in range(10**9))
    for node in toposort(list(roots)):
        if node.op is Op.LEAF and id(node) not in names:
            name = next((c for c in letters if c not in taken), None) or next(fallback)
            names[id(node)] = name
            taken.add(name)
    return names


def _dims(node: Node) -> str:
    return "x".join(map(str, node.shape)) or "scalar"


def _scalar_text(node: Node) -> str:
    return repr(node.arg.item())


def _is_broadcast_scalar(node: Node) -> bool:
    return node.op is Op.BROADCAST and node.src[0].op is Op.SCALAR


def node_label(node: Node, names: Names) -> str:
    """A short label: the input's name, a scalar's value, or the op, with dtype and shape."""
    if node.op is Op.LEAF:
        return f"{names.get(id(node), 'input')} : {node.dtype}[{_dims(node)}]"
    if node.op is Op.SCALAR:
        return f"{_scalar_text(node)} : {node.dtype}"
    if _is_broadcast_scalar(node):
        return f"{_scalar_text(node.src[0])} : {node.dtype} (broadcast)"
    return f"{op_text(node)} : {node.dtype}[{_dims(node)}]"


def op_text(node: Node) -> str:
    """The op with the argument that matters to a reader (cast target, reduced axes)."""
    if node.op is Op.CAST:
        return f"cast to {node.dtype}"
    if node.op is Op.REDUCE:
        axes = node.arg[1]
        return f"{node.arg[0].value} over ax{'es' if len(axes) > 1 else 'is'} " \
            + ", ".join(map(str, axes))
    if node.op is Op.SCAN:
        return f"cumulative {node.arg.value} along axis {node.ndim - 1}"
    if node.op is Op.POWER_INT:
        return f"power_int n={node.arg}"
    arg = _arg_text(node.arg)
    if node.op in (Op.BROADCAST, Op.VIEW) or node.arg is None or arg == node.op.value:
        return node.op.value  # the shape says what a broadcast or slice did
    return f"{node.op.value} {arg}"


def _arg_text(arg: Any) -> str:
    if isinstance(arg, tuple):
        return "(" + ", ".join(_arg_text(a) for a in arg) + ")"
    return str(getattr(arg, "value", arg))


def _children(node: Node) -> tuple[Node, ...]:
    return () if _is_broadcast_scalar(node) else node.src


# -- text tree -----------------------------------------------------------------------------
def text_tree(roots: Sequence[Node], names: Names | None = None,
              max_lines: int = _MAX_TREE_LINES) -> str:
    """The expression as an indented tree, outputs at the top; shared nodes are drawn once."""
    names = leaf_names(roots, names)
    parents: dict[int, int] = {}
    for node in toposort(list(roots)):
        for s in _children(node):
            parents[id(s)] = parents.get(id(s), 0) + 1
    shared: dict[int, int] = {}
    lines: list[str] = []

    def walk(node: Node, lead: str, branch: str) -> None:
        label = node_label(node, names)
        if id(node) in shared:
            lines.append(f"{lead}{branch}{label}  [#{shared[id(node)]}, shown above]")
            return
        if parents.get(id(node), 0) > 1 and node.src:
            shared[id(node)] = len(shared) + 1
            label += f"  [#{shared[id(node)]}]"
        lines.append(f"{lead}{branch}{label}")
        kids = _children(node)
        inner = lead + ("" if not branch else ("│  " if branch == "├─ " else "   "))
        for k, child in enumerate(kids):
            walk(child, inner, "└─ " if k == len(kids) - 1 else "├─ ")

    for k, root in enumerate(roots):
        if len(roots) > 1:
            lines.append(f"output {k}:")
        walk(root, "", "")
    if len(lines) > max_lines:
        hidden = len(lines) - max_lines
        lines = [*lines[:max_lines], f"... ({hidden} more lines)"]
    return "\n".join(lines)


# -- Graphviz ------------------------------------------------------------------------------
def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_node(node: Node, names: Names, is_output: bool) -> str:
    if node.op is Op.LEAF:
        label = f"{names[id(node)]}\n{node.dtype}[{_dims(node)}]"
        style = 'shape=ellipse, style=filled, fillcolor="#dbeafe"'
    elif node.op is Op.SCALAR or _is_broadcast_scalar(node):
        value = node if node.op is Op.SCALAR else node.src[0]
        label = f"{_scalar_text(value)}\n{node.dtype}"
        style = 'shape=plaintext'
    else:
        label = f"{op_text(node)}\n{node.dtype}[{_dims(node)}]"
        style = 'shape=box, style="rounded,filled", fillcolor="#f3f4f6"'
        if node.op in MOVEMENT:
            style = 'shape=box, style="rounded,dashed"'
    if is_output:
        style += ", penwidth=2"
    return f"  n{id(node)} [label={_dot_quote(label)}, {style}];"


def dot_source(roots: Sequence[Node], names: Names | None = None) -> str:
    """The graph in Graphviz's language: inputs at the top, outputs (bold) at the bottom."""
    names = leaf_names(roots, names)
    outputs = {id(r) for r in roots}
    lines = ["digraph lazyarr {", '  graph [rankdir=TB, bgcolor="transparent", nodesep=0.25, '
             'ranksep=0.3];', '  node [fontname="Helvetica", fontsize=10, height=0.3];',
             '  edge [arrowsize=0.6, color="#6b7280"];']
    order = toposort(list(roots))
    # a scalar is drawn inside its broadcast node; it needs a node of its own only if used
    used = {id(s) for n in order for s in _children(n)} | outputs
    for node in order:
        if node.op is Op.SCALAR and id(node) not in used:
            continue
        lines.append(_dot_node(node, names, id(node) in outputs))
        lines.extend(f"  n{id(s)} -> n{id(node)};" for s in _children(node))
    lines.append("}")
    return "\n".join(lines)


def graph_svg(roots: Sequence[Node], names: Names | None = None) -> str | None:
    """The graph as inline SVG, or None when Graphviz is missing, fails or the graph is big."""
    dot = shutil.which("dot")
    if dot is None or len(toposort(list(roots))) > _MAX_SVG_NODES:
        return None
    try:
        done = subprocess.run([dot, "-Tsvg"], input=dot_source(roots, names),
                              capture_output=True, text=True, timeout=_DOT_TIMEOUT_S,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    start = done.stdout.find("<svg")
    return done.stdout[start:] if done.returncode == 0 and start >= 0 else None


def graph_html(roots: Sequence[Node], names: Names | None = None) -> str:
    """SVG when Graphviz can draw it, else the text tree in a <pre> block."""
    svg = graph_svg(roots, names)
    if svg is not None:
        return f'<div class="lazyarr-graph">{svg}</div>'
    return ('<pre class="lazyarr-graph" style="font-family:ui-monospace,Menlo,Consolas,'
            'monospace;line-height:1.25;margin:4px 0">'
            f"{html.escape(text_tree(roots, names))}</pre>")


# -- LaTeX ---------------------------------------------------------------------------------
def _number(sp: Any, value: Any) -> Any:
    if isinstance(value, bool):
        return sp.true if value else sp.false
    if isinstance(value, int):
        return sp.Integer(value)
    if value != value:  # NaN
        return sp.nan
    if value in (float("inf"), float("-inf")):
        return sp.oo if value > 0 else -sp.oo
    if value == int(value) and abs(value) < 1e15:
        return sp.Integer(int(value))
    return sp.Float(repr(value))  # the shortest repr's digits: 0.044715, not 0.0447150000


def _named(sp: Any, name: str, template: str | None = None) -> Any:
    """A sympy function that never evaluates and prints as ``template`` or ``name(args)``."""

    def _latex(self: Any, printer: Any) -> str:
        args = [_wrapped(sp, printer, a) if template else printer._print(a) for a in self.args]
        if template:
            return template.format(*args)
        op_name = name.replace("_", r"\_")
        return rf"\operatorname{{{op_name}}}\left({', '.join(args)}\right)"

    return type(f"lazyarr_{name}", (sp.Function,), {"_latex": _latex})


def _wrapped(sp: Any, printer: Any, arg: Any) -> str:
    text = printer._print(arg)
    if arg.is_Atom or isinstance(arg, sp.Function):
        return text
    return rf"\left({text}\right)"


def _cast(sp: Any, node: Node, x: Any) -> Any:
    src = node.src[0].dtype
    if node.dtype.kind == "b" and src.kind != "b":
        return sp.Ne(x, 0, evaluate=False)
    if node.dtype.kind in "iu" and src.kind == "f":
        return _named(sp, str(node.dtype))(x)  # a float to integer cast truncates: show it
    return x  # widening casts do not change the value


def sympy_expr(node: Node, names: Names | None = None) -> Any:
    """The scalar body of ``node`` as an unevaluated sympy expression (leaves as symbols)."""
    import sympy as sp

    names = leaf_names([node], names)
    done: dict[int, Any] = {}
    for n in toposort([node]):
        args = [done[id(s)] for s in n.src]
        done[id(n)] = _to_sympy(sp, n, args, names)
    return done[id(node)]


def _to_sympy(sp: Any, node: Node, args: list[Any], names: Names) -> Any:
    if node.op is Op.LEAF:
        return sp.Symbol(names[id(node)])
    if node.op is Op.SCALAR:
        return _number(sp, node.arg.item())
    if node.op in MOVEMENT:
        return args[0]  # views move elements around; the value at an index is unchanged
    if node.op is Op.CAST:
        return _cast(sp, node, args[0])
    if node.op is Op.REDUCE:
        return _reduction(sp, node, args[0])
    if node.op is Op.SCAN:
        return _scan(sp, node, args[0])
    return _op_form(sp, node, args)


def _op_form(sp: Any, node: Node, args: list[Any]) -> Any:
    """The op's usual notation from its row: a sympy function or builder (every one
    unevaluated: sympy would otherwise rewrite x - x to 0, wrong for NaN and inf), else its
    LaTeX template, else its name as an operator."""
    row = ops.ROWS.get(node.op)
    form = None if row is None else row.sympy
    # POWER_INT's exponent is in the node, not a source
    operands = [*args, node.arg] if node.op is Op.POWER_INT else args
    try:
        if isinstance(form, str):
            return getattr(sp, form)(*operands, evaluate=False)
        if form is not None:
            return form(sp, *operands)
    except (TypeError, ValueError):
        pass  # e.g. a where() whose condition sympy does not accept as a boolean
    return _named(sp, node.op.value, (row.latex if row else "") or None)(*args)


def plain_formula(node: Node, names: Names | None = None) -> str:
    """The scalar body in plain text from the rows' text forms (``2 * a + exp(-b)``);
    movement ops are transparent and every compound operand is parenthesised."""
    names = leaf_names([node], names)
    done: dict[int, str] = {}
    for n in toposort([node]):
        args = [done[id(s)] for s in n.src]
        done[id(n)] = _plain(n, args, names)
    return _bare(done[id(node)])


def _bare(text: str) -> str:
    """``text`` without the parentheses around all of it, if it has them."""
    if not (text.startswith("(") and text.endswith(")")):
        return text
    depth = 0
    for k, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and k < len(text) - 1:
            return text  # "(a) + (b)": the first parenthesis closes early
    return text[1:-1]


def _plain(node: Node, args: list[str], names: Names) -> str:
    if node.op is Op.LEAF:
        return names[id(node)]
    if node.op is Op.SCALAR:
        return _scalar_text(node)
    if node.op in MOVEMENT:
        return args[0]
    if node.op is Op.CAST:
        return f"{node.dtype}({_bare(args[0])})"
    if node.op is Op.REDUCE:
        return f"{node.arg[0].value}({_bare(args[0])}, axis={node.arg[1]})"
    if node.op is Op.SCAN:
        return f"cumulative_{node.arg.value}({_bare(args[0])}, axis={node.ndim - 1})"
    row = ops.ROWS.get(node.op)
    if row is None or not row.text or row.text.endswith(")"):  # a function call
        return f"{node.op.value}({', '.join(map(_bare, args))})" if row is None else \
            row.plain([_bare(a) for a in args])
    return "(" + row.plain(args).replace("** n", f"** {node.arg}") + ")"


_REDUCE_SYMBOLS = {"sum": r"\sum", "prod": r"\prod", "max": r"\max", "min": r"\min",
                   "any": r"\bigvee", "all": r"\bigwedge"}


def _reduction(sp: Any, node: Node, x: Any) -> Any:
    """``sum over axes (1,)`` as a big operator with the axes underneath."""
    kind, axes = node.arg[0].value, ", ".join(map(str, node.arg[1]))
    symbol = _REDUCE_SYMBOLS.get(kind, rf"\operatorname{{{kind}}}")

    def _latex(self: Any, printer: Any) -> str:
        return rf"{symbol}_{{\text{{axis }} {axes}}} {_wrapped(sp, printer, self.args[0])}"

    return type(f"lazyarr_{kind}", (sp.Function,), {"_latex": _latex})(x)


def _scan(sp: Any, node: Node, x: Any) -> Any:
    """A cumulative sum or product as ``cumsum_{axis k}(x)``."""
    kind, axis = node.arg.value, node.ndim - 1
    name = {"sum": "cumsum", "prod": "cumprod"}.get(kind, f"cum{kind}")

    def _latex(self: Any, printer: Any) -> str:
        return (rf"\operatorname{{{name}}}_{{\text{{axis }} {axis}}} "
                f"{_wrapped(sp, printer, self.args[0])}")

    return type(f"lazyarr_{name}", (sp.Function,), {"_latex": _latex})(x)


def _tree_size(node: Node) -> int:
    size: dict[int, int] = {}
    for n in toposort([node]):
        size[id(n)] = 1 + sum(size[id(s)] for s in n.src)
    return size[id(node)]


def latex_body(node: Node, names: Names | None = None) -> str:
    """LaTeX of the scalar body (no delimiters), or a short note when it is too large."""
    terms = _tree_size(node)
    if terms > _MAX_LATEX_TERMS:
        return rf"\text{{(an expression of {terms} terms: too large to typeset)}}"
    import sympy as sp

    return sp.latex(sympy_expr(node, names), order="none")


def latex(node: Node) -> str:
    """``_repr_latex_`` of a LazyArray: the value at one index, in math notation."""
    return rf"$\displaystyle {latex_body(node)}$"


# -- the card ------------------------------------------------------------------------------
def _counts(roots: Iterable[Node]) -> tuple[int, int]:
    order = toposort(list(roots))
    ops = sum(1 for n in order if n.op not in MOVEMENT and n.op not in (Op.LEAF, Op.SCALAR))
    return ops, sum(1 for n in order if n.op is Op.LEAF)


def html_card(node: Node) -> str:
    """``_repr_html_`` of a LazyArray: shape, dtype, the graph and the math; never evaluates."""
    n_ops, n_inputs = _counts([node])
    names = leaf_names([node])
    try:
        math = (f'<div class="lazyarr-math" style="margin:4px 0">'
                f"\\(\\displaystyle {html.escape(latex_body(node, names))}\\)</div>")
    except Exception:  # a display must never raise; the graph alone says enough
        math = ""
    head = (f"<b>LazyArray</b> <code>{node.dtype}</code> shape <code>{node.shape}</code>"
            f" &middot; <i>unevaluated</i> &middot; {n_ops} op{'s' if n_ops != 1 else ''}"
            f" on {n_inputs} input{'s' if n_inputs != 1 else ''}")
    foot = ("<code>.eval()</code> computes it in one fused loop; "
            "<code>la.explain(x)</code> shows the generated code")
    return ('<div class="lazyarr-card" style="border:1px solid #d1d5db;border-radius:6px;'
            'padding:6px 10px;display:inline-block;font-family:sans-serif;font-size:13px">'
            f"<div>{head}</div>{graph_html([node], names)}{math}"
            f'<div style="color:#6b7280;font-size:11px">{foot}</div></div>')
