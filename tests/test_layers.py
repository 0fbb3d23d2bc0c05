"""The stages import one another in one direction only, checked on the source.

Every module of lazyarr (``lazyarr/``, ``codegen/`` as ``lazyarr.codegen``, ``backends/`` as
``lazyarr.backends``) is parsed with ``ast`` and each of its imports, those inside functions
included, is checked against ``ALLOWED``: a module may import its own layer and the layers
its row names, nothing else. Why each edge exists:

* ``config``: the one reader of the environment; it imports no other part of lazyarr.
* ``ir`` -> config: the graph, the op table (with the NumPy reference values of casts and
  opaque ops) and the loop IR records (with the argument packer and the NumPy array-struct
  reader it needs) are what every other stage speaks; they import nothing above them.
* ``codegen`` -> ir, config: emits LLVM IR and PTX from loop IR and the op table; it never
  compiles or runs what it emits.
* ``backends`` -> ir, config, codegen: compile, launch and memory (device arrays, DLPack,
  caches, cache counters). They receive kernels, launch records and nodes to read, never
  build graphs, plans or launches of their own, and tell the layers above of compiles
  through listeners (``backends/stats.py``) instead of importing them.
* ``plan`` -> ir, config: the scheduler, lowering and the CPU passes turn graphs into loop
  IR; which backend runs them is not their business.
* ``front`` -> ir, config, run, inspect: builds graphs. ``LazyArray.eval`` and
  ``asarray(device=...)`` are the user's door into the evaluator, and an array's ``repr``
  into the display, so the front end calls into ``run`` and ``inspect`` (``inspect`` only
  from function bodies, so that it loads on first use).
* ``run`` -> ir, config, plan, front, backends: the evaluator plans a graph, lowers its steps
  (copy launches and leaf views included) and hands launch records to a backend; the front
  end builds the leaves of graphs moved between host and device and the casts of ``out=``.
* ``lib`` (``lazyarr.random``, ``lazyarr.nn``, ``lazyarr.optim``, ``lazyarr.quantization``)
  -> ir, config, front, run, lib: libraries written with lazyarr's own functions (samplers,
  layers, optimizers, quantisers), which evaluate through ``run`` where they must (the
  optimizers' updates in place, calibration's statistics). Nothing below them imports them.
* ``inspect`` -> everything but cli: explain, display and debug read every stage's output.
* ``api`` (the package root, ``lazyarr/__init__.py``) -> everything but cli: the public
  names, gathered from every stage.
* ``cli`` (``lazyarr.cli`` and ``python -m lazyarr``) -> everything; nothing imports it.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# where each top-level package's source lives (pyproject's package-dir)
SOURCES = {"lazyarr": ROOT / "lazyarr", "lazyarr.codegen": ROOT / "codegen",
           "lazyarr.backends": ROOT / "backends"}

EVERYTHING_BUT_CLI = frozenset({"config", "ir", "codegen", "backends", "plan", "front", "run",
                                "lib", "inspect", "api"})
LIB = frozenset({"random", "nn", "optim", "quantization", "linalg", "fft"})  # lazyarr.<name>
ALLOWED: dict[str, frozenset[str]] = {
    "config": frozenset(),
    "ir": frozenset({"config"}),
    "codegen": frozenset({"ir", "config"}),
    "backends": frozenset({"ir", "config", "codegen"}),
    "plan": frozenset({"ir", "config"}),
    "front": frozenset({"ir", "config", "run", "inspect"}),
    "run": frozenset({"ir", "config", "plan", "front", "backends"}),
    "lib": frozenset({"ir", "config", "front", "run", "lib"}),
    "inspect": EVERYTHING_BUT_CLI,
    "api": EVERYTHING_BUT_CLI,
    "cli": EVERYTHING_BUT_CLI | {"cli"},
}
# edges allowed only from function bodies: loaded when first used, not with the importer
DEFERRED_ONLY = frozenset({("front", "inspect")})
# single imports allowed against the table, each with its reason
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("lazyarr.backends.diskcache", "lazyarr"):
        "the package version is part of every disk cache key; the root package is always "
        "loaded before any of its modules, so this reads a value and loads nothing",
}
# graph-building functions of lazyarr.ir.graph that the code generators and backends must not
# call (they read nodes; they never make them)
NODE_BUILDERS = frozenset({"make", "remember"})


def _module_files() -> dict[str, Path]:
    """Module name -> source file, for every module lazyarr installs."""
    found = {}
    for package, folder in SOURCES.items():
        for path in sorted(folder.rglob("*.py")):
            rel = path.relative_to(folder).with_suffix("")
            if package == "lazyarr" and rel.parts[0] in ("codegen", "backends"):
                continue  # not installed from here (a stray copy would be another package)
            parts = [p for p in rel.parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


MODULES = _module_files()


def layer(module: str) -> str:
    """The layer of an installed module name."""
    parts = module.split(".")
    if module == "lazyarr":
        return "api"
    if parts[1] == "__main__":
        return "cli"
    if parts[1] in LIB:
        return "lib"
    if parts[1] in ALLOWED:
        return parts[1]
    raise AssertionError(f"{module} is in no layer: add its stage to ALLOWED in {__file__}")


@dataclass(frozen=True)
class Edge:
    source: str  # importing module
    target: str  # imported lazyarr module (or package)
    line: int
    deferred: bool  # inside a function body
    names: tuple[str, ...]  # names taken with ``from target import ...``


def _is_package(module: str) -> bool:
    return MODULES.get(module, Path()).name == "__init__.py"


def _absolute(source: str, node: ast.ImportFrom) -> str:
    """The module a ``from`` import names, relative imports resolved against ``source``."""
    if not node.level:
        return node.module or ""
    base = source.split(".")
    if not _is_package(source):
        base = base[:-1]
    base = base[:len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _walk(tree: ast.AST, deferred: bool = False):
    """Import statements with whether each is inside a function body."""
    for child in ast.iter_child_nodes(tree):
        inside = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, inside
        yield from _walk(child, inside)


def edges(source: str) -> list[Edge]:
    """The lazyarr modules ``source`` imports: for ``from pkg import name`` the module
    ``pkg.name`` when that is one, else ``pkg`` itself."""
    found = []
    for node, deferred in _walk(ast.parse(MODULES[source].read_text())):
        if isinstance(node, ast.Import):
            targets = [(a.name, ()) for a in node.names]
        else:
            module = _absolute(source, node)
            modules = [(f"{module}.{a.name}", ()) for a in node.names
                       if f"{module}.{a.name}" in MODULES]
            rest = tuple(a.name for a in node.names if f"{module}.{a.name}" not in MODULES)
            targets = modules + ([(module, rest)] if rest else [])
        found += [Edge(source, t, node.lineno, deferred, names) for t, names in targets
                  if t.split(".")[0] == "lazyarr"]
    return found


ALL_EDGES = [e for m in sorted(MODULES) for e in edges(m)]


def test_the_walk_sees_every_stage() -> None:
    assert {layer(m) for m in MODULES} == set(ALLOWED)
    assert len(ALL_EDGES) > 100, "the walk found too few imports: is the parse broken?"
    inner = [e for e in ALL_EDGES if e.deferred]
    assert inner, "no import inside a function was found"


def test_every_import_follows_the_layers() -> None:
    bad = []
    for e in ALL_EDGES:
        if e.target not in MODULES:
            bad.append(f"{e.source}:{e.line} imports {e.target}, which does not exist")
            continue
        src, dst = layer(e.source), layer(e.target)
        if src == dst or (e.source, e.target) in EXCEPTIONS:
            continue
        if dst not in ALLOWED[src]:
            bad.append(f"{e.source}:{e.line} ({src}) imports {e.target} ({dst})")
        elif (src, dst) in DEFERRED_ONLY and not e.deferred:
            bad.append(f"{e.source}:{e.line} ({src}) imports {e.target} ({dst}) at module "
                       "level: only inside functions")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_exceptions_are_still_needed() -> None:
    """An exception that no import uses any more is deleted, not kept as a loophole."""
    used = {(e.source, e.target) for e in ALL_EDGES}
    assert set(EXCEPTIONS) <= used, set(EXCEPTIONS) - used


def test_nothing_imports_the_command_line() -> None:
    bad = [f"{e.source}:{e.line}" for e in ALL_EDGES
           if layer(e.target) == "cli" and layer(e.source) != "cli"]
    assert not bad


@pytest.mark.parametrize("stage", ["codegen", "backends"])
def test_code_generators_and_backends_build_no_nodes(stage: str) -> None:
    bad = [f"{e.source}:{e.line} takes {sorted(NODE_BUILDERS & set(e.names))}"
           for e in ALL_EDGES if layer(e.source) == stage and e.target == "lazyarr.ir.graph"
           and NODE_BUILDERS & set(e.names)]
    assert not bad


def test_relative_and_from_imports_resolve() -> None:
    """The resolution the checks rely on: a relative sibling, a module taken by ``from``."""
    by_source = {}
    for e in ALL_EDGES:
        by_source.setdefault(e.source, set()).add(e.target)
    assert "lazyarr.backends.cuda_driver" in by_source["lazyarr.backends.cuda"]
    assert "lazyarr.config" in by_source["lazyarr.codegen.nvptx"]  # from lazyarr import config


def _loaded_by(code: str, prefix: str) -> list[str]:
    """Modules named ``prefix...`` that a fresh interpreter has loaded after ``code``."""
    script = (f"import sys\n{code}\n"
              f"print(sorted(m for m in sys.modules if m.startswith({prefix!r})))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True, cwd=ROOT)
    return list(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


def test_import_lazyarr_loads_no_llvm() -> None:
    """``import lazyarr`` stays light: llvmlite (50-110 ms) loads with the first compile."""
    assert _loaded_by("import lazyarr", "llvmlite") == []


def test_import_lazyarr_loads_no_code_generator() -> None:
    assert _loaded_by("import lazyarr", "lazyarr.codegen") == []
