"""Execution backends (installed as ``lazyarr.backends``).

Each backend module exposes ``evaluate(roots, outs) -> list[numpy.ndarray]``. The registry
names them; ``available()`` says which can run on this machine.
"""

if __name__ != "lazyarr.backends":
    raise ImportError("import this package as lazyarr.backends, not as a top-level package")

import importlib
from types import ModuleType

REGISTRY = {"cpu": "lazyarr.backends.cpu", "interp": "lazyarr.backends.interp"}


def get(name: str) -> ModuleType:
    try:
        return importlib.import_module(REGISTRY[name])
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {sorted(REGISTRY)}") from None


def available() -> list[str]:
    """Backends that can run here (both CPU backends need only NumPy and llvmlite)."""
    return sorted(REGISTRY)
