"""Packaging: pyproject's package list, the wheel's contents, the disk cache's fingerprint and
the core's import graph.

A sub-package missing from ``[tool.setuptools] packages`` is silently left out of the wheel
while an editable install still finds it, and a module that shapes generated code but is
missing from the disk cache's fingerprint would let a stale kernel be loaded: neither shows in
any other test.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from lazyarr.backends import diskcache

ROOT = Path(__file__).resolve().parents[1]
# source folders that hold packages, and the dotted name each is installed under
SOURCE_ROOTS = {"lazyarr": "lazyarr", "codegen": "lazyarr.codegen", "backends": "lazyarr.backends"}


def _setuptools_table() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_folders() -> dict[str, Path]:
    """Every folder with an ``__init__.py`` under the source roots, by its installed name."""
    found = {}
    for folder, dotted in SOURCE_ROOTS.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(ROOT / folder).parts
            found[".".join((dotted, *rel))] = init.parent
    return found


def mapped_folder(package: str, package_dir: dict[str, str]) -> Path:
    """Where setuptools looks for ``package``: the longest mapped prefix, else the root."""
    parts = package.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in package_dir:
            return ROOT / package_dir[prefix] / Path(*parts[cut:])
    return ROOT / Path(*parts)


def test_every_package_is_listed_and_mapped() -> None:
    table = _setuptools_table()
    listed, package_dir = table["packages"], table.get("package-dir", {})
    found = package_folders()
    assert sorted(found) == sorted(listed), "pyproject.toml's packages differ from the folders"
    for package in listed:
        assert mapped_folder(package, package_dir) == found[package], package


def _build_wheel(out: Path) -> Path:
    """A wheel of a copy of the sources (a build writes build/ and egg-info next to them).
    First with the environment's setuptools; if that cannot build (none, or too old for
    pyproject's license expression), with pip's build isolation, which needs an index."""
    src = out / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in SOURCE_ROOTS:
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    errors = []
    for isolation in (["--no-build-isolation"], []):
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                               *isolation, "-w", str(out / "wheel"), str(src)],
                              capture_output=True, text=True, timeout=300)
        if done.returncode == 0:
            return next((out / "wheel").glob("lazyarr-*.whl"))
        errors.append((done.stdout + done.stderr).strip().splitlines()[-3:])
    pytest.skip(f"cannot build a wheel here (no usable setuptools, no index): {errors}")


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    with zipfile.ZipFile(_build_wheel(tmp_path_factory.mktemp("wheel"))) as whl:
        return set(whl.namelist())


def test_wheel_holds_every_module(wheel_names: set[str]) -> None:
    missing = []
    for package, folder in package_folders().items():
        inside = Path(*package.split("."))
        missing += [str(inside / py.name) for py in sorted(folder.glob("*.py"))
                    if (inside / py.name).as_posix() not in wheel_names]
    assert not missing, f"modules left out of the wheel: {missing}"


def test_wheel_holds_nothing_unmapped(wheel_names: set[str]) -> None:
    tops = {name.split("/")[0] for name in wheel_names if not name.startswith("lazyarr-")}
    assert tops == {"lazyarr"}, "codegen/backends must install as lazyarr.codegen/.backends"


# -- the disk cache's source fingerprint ---------------------------------------------------
def _fingerprinted() -> list[Path]:
    files = []
    for package, pattern in diskcache._CODE_FILES:
        for folder in importlib.import_module(package).__path__:
            files += [p.resolve() for p in Path(folder).glob(pattern)]
    return files


def test_every_fingerprint_entry_matches_a_file() -> None:
    for package, pattern in diskcache._CODE_FILES:
        folders = importlib.import_module(package).__path__
        assert any(any(Path(f).glob(pattern)) for f in folders), (package, pattern)


def _lazyarr_imports(path: Path) -> set[str]:
    """Absolute lazyarr modules imported anywhere in ``path`` (function bodies too): for
    ``from lazyarr.x import y`` the module ``lazyarr.x.y`` when that is one, else
    ``lazyarr.x``."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("lazyarr")}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and (
                node.module.split(".")[0] == "lazyarr"):
            names |= {_module_of(node.module, alias.name) for alias in node.names}
    return names


def _module_of(module: str, name: str) -> str:
    """The module ``from module import name`` reads: a submodule called ``name``, if any."""
    spec = importlib.util.find_spec(module)
    is_package = spec is not None and spec.submodule_search_locations is not None
    if is_package and importlib.util.find_spec(f"{module}.{name}") is not None:
        return f"{module}.{name}"
    return module


def test_fingerprint_covers_what_codegen_imports() -> None:
    covered = set(_fingerprinted())
    codegen = Path(importlib.import_module("lazyarr.codegen").__path__[0])
    imported = set()
    for path in sorted(codegen.glob("*.py")):
        imported |= _lazyarr_imports(path)
    assert imported, "the walk found no import of lazyarr in codegen/"
    uncovered = sorted(m for m in imported
                       if Path(importlib.util.find_spec(m).origin).resolve() not in covered)
    assert not uncovered, f"backends/diskcache.py _CODE_FILES misses {uncovered}"


# -- the core's import graph ---------------------------------------------------------------
def test_core_never_imports_the_command_line() -> None:
    """Importing lazyarr, evaluating and explaining an expression load nothing of
    lazyarr.cli (the benchmark harness, with its peers, is not part of the library)."""
    script = ("import sys, numpy as np, lazyarr as la\n"
              "a = la.asarray(np.arange(6.0))\n"
              "(la.exp(a) * 2 + a.sum()).eval()\n"
              "str(la.explain(a * 2))\n"
              "print(sorted(m for m in sys.modules if m.startswith('lazyarr.cli')))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, check=True, cwd=ROOT)
    assert done.stdout.strip().splitlines()[-1] == "[]"
