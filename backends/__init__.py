"""Execution backends (installed as ``lazyarr.backends``): compile, launch and memory.

Each backend module exposes ``BACKEND``, an implementation of the evaluator's protocol
(``lazyarr.run.runtime.Backend``). The registry names them; ``available()`` says which can
run on this machine. Next to them: device memory (``cuda_memory``, ``dlpack``,
``cuda_driver``), the kernel caches' counters (``stats``), the disk cache and the thread pool.

These modules import only ``lazyarr.ir``, ``lazyarr.config``, ``lazyarr.codegen`` and each
other (``tests/test_layers.py`` checks it): the evaluator hands them kernels and launch
records, and they announce compiles to listeners rather than import the layers above.
"""

if __name__ != "lazyarr.backends":
    raise ImportError("import this package as lazyarr.backends, not as a top-level package")

import importlib
from types import ModuleType

REGISTRY = {"cpu": "lazyarr.backends.cpu", "interp": "lazyarr.backends.interp",
            "cuda": "lazyarr.backends.cuda"}


def get(name: str) -> ModuleType:
    try:
        return importlib.import_module(REGISTRY[name])
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {sorted(REGISTRY)}") from None


def available() -> list[str]:
    """Backends that can run here: both CPU backends (they need only NumPy and llvmlite),
    and "cuda" when the NVIDIA driver loads and reports a device."""
    from . import cuda_driver  # ctypes only; the driver library is opened here, not at import

    return sorted(n for n in REGISTRY if n != "cuda" or cuda_driver.is_available())
