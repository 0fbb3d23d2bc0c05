"""The one place that reads environment variables.

Every tunable of lazyarr is read here once, at import, into a plain settings object; the rest
of the code asks this module and never touches ``os.environ`` itself. Functions such as
``lazyarr.set_num_threads`` change these settings at run time (tests monkeypatch them). The
CUDA paths are read when first needed (``libcuda_override`` and the next two), as the driver
is opened lazily.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass

BACKENDS = ("cpu", "interp")
# The most threads lazyarr runs kernels on (numexpr has such a cap too, its MAX_THREADS): more
# than the CPUs only adds switching, and a typo such as 1000 would start that many OS threads.
MAX_THREADS = 256
# "numpy": float16 and bfloat16 results rounded after every operation, NumPy's bits; "fast":
# float32 kept between the operations of one evaluation, rounded where stored (XLA's default)
PRECISIONS = ("numpy", "fast")
NUMPY_PRECISION = PRECISIONS[0]  # settings.precision is this very string in NumPy's mode
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(slots=True)
class Settings:
    backend: str = "cpu"
    debug: int = 0
    num_threads: int = 0  # 0: the CPUs this process may use (see backends/threads.py)
    disk_cache: bool = True  # keep compiled object code on disk between processes
    cache_dir: str = ""  # where; "" until read (never empty after _read)
    pool_bytes: int = 256 << 20  # most memory the pool of big results keeps (run/outputs.py)
    # results from this size are written with streaming stores, 0: never (loopir.stream_outputs)
    stream_bytes: int = 4 << 20
    # the CPU kernels are compiled for (an LLVM name such as haswell or x86-64-v3), "": this
    # machine's own; checked against LLVM and this machine at the first compile
    # (backends/cpu_target.py), as LLVM is not imported before
    cpu: str = ""
    precision: str = "numpy"  # one of PRECISIONS (lazyarr.set_precision, LAZYARR_PRECISION)


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _bool_env(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be one of {_TRUE + _FALSE}, got {raw!r}")


def _cpu_env() -> str:
    """``LAZYARR_CPU``: an LLVM CPU name, lower-cased; "" for the host (unset, empty, "host")."""
    raw = os.environ.get("LAZYARR_CPU", "").strip().lower()
    if raw in ("", "host"):
        return ""
    # LLVM's CPU names are of these characters; anything else (a quote, a comma, a space)
    # could only be a mistake, and would be spliced into IR attributes and cache keys
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", raw):
        raise ValueError(f"LAZYARR_CPU must be an LLVM CPU name such as haswell or x86-64-v3, "
                         f"or host, got {raw!r}")
    return raw


def check_precision(value: object, what: str) -> str:
    """``value`` if it is one of :data:`PRECISIONS`, else a ValueError naming them."""
    if value in PRECISIONS:
        return PRECISIONS[PRECISIONS.index(value)]  # the tuple's own string: "is" compares
    raise ValueError(f"{what} must be one of {', '.join(map(repr, PRECISIONS))}, got {value!r}")


def fast_precision(precision: str | None) -> bool:
    """Whether an evaluation asked for with ``precision`` (None: the setting's) is "fast";
    a ValueError for a name not in :data:`PRECISIONS`."""
    chosen = settings.precision if precision is None else precision
    return check_precision(chosen, "precision") == "fast"


def set_precision(precision: str) -> None:
    """How float16 and bfloat16 expressions are evaluated from now on (``eval``'s
    ``precision=`` overrides it for one call): ``"numpy"`` (the default) rounds every
    operation's result as NumPy and ml_dtypes do, bit for bit; ``"fast"`` keeps float32
    between the operations of one evaluation and rounds only what is stored
    (docs/float16.md)."""
    settings.precision = check_precision(precision, "precision")


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/lazyarr``, else ``~/.cache/lazyarr`` (the XDG default)."""
    base = os.environ.get("XDG_CACHE_HOME", "").strip()
    if not base or not os.path.isabs(base):  # the XDG spec says to ignore relative paths
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "lazyarr")


# -- read when asked (tests set these between calls) -------------------------------------------
def libcuda_override() -> str:
    """``LAZYARR_LIBCUDA``: a CUDA driver library to open instead of the system's."""
    return os.environ.get("LAZYARR_LIBCUDA", "").strip()


def libdevice_override() -> str:
    """``LAZYARR_LIBDEVICE``: the path of NVIDIA's ``libdevice.10.bc``."""
    return os.environ.get("LAZYARR_LIBDEVICE", "").strip()


def cuda_toolkit_roots(base: str = "/usr/local") -> list[str]:
    """Where a CUDA toolkit may be: ``CUDA_HOME``, ``CUDA_PATH``, ``<base>/cuda``, then the
    versioned folders ``<base>/cuda-<version>``, newest first (a toolkit may be installed
    under its versioned name only, with no ``cuda`` link beside it)."""
    roots = [os.environ.get(v, "").strip() for v in ("CUDA_HOME", "CUDA_PATH")]
    return [r for r in roots if r] + [os.path.join(base, "cuda"), *_versioned(base)]


def _versioned(base: str) -> list[str]:
    found = []
    with contextlib.suppress(OSError):
        for name in os.listdir(base):
            match = re.fullmatch(r"cuda-(\d+(?:\.\d+)*)", name)
            if match:
                found.append((tuple(map(int, match[1].split("."))), os.path.join(base, name)))
    return [path for _, path in sorted(found, reverse=True)]


def _read() -> Settings:
    backend = os.environ.get("LAZYARR_BACKEND", "cpu").strip() or "cpu"
    if backend not in BACKENDS:
        raise ValueError(f"LAZYARR_BACKEND must be one of {BACKENDS}, got {backend!r}")
    threads = _int_env("LAZYARR_NUM_THREADS", 0)
    if not 0 <= threads <= MAX_THREADS:
        raise ValueError(f"LAZYARR_NUM_THREADS must be 0 (automatic) to {MAX_THREADS}, "
                         f"got {threads}")
    cache_dir = os.environ.get("LAZYARR_CACHE_DIR", "").strip()
    pool_mb = _int_env("LAZYARR_POOL_MB", 256)
    if pool_mb < 0:
        raise ValueError(f"LAZYARR_POOL_MB must be >= 0 (0: no pool), got {pool_mb}")
    stream_mb = _int_env("LAZYARR_STREAM_MB", 4)
    if stream_mb < 0:
        raise ValueError(f"LAZYARR_STREAM_MB must be >= 0 (0: never stream), got {stream_mb}")
    return Settings(
        backend=backend,
        debug=_int_env("LAZYARR_DEBUG", 0),
        num_threads=threads,
        disk_cache=_bool_env("LAZYARR_DISK_CACHE", True),
        cache_dir=os.path.expanduser(cache_dir) if cache_dir else default_cache_dir(),
        pool_bytes=pool_mb << 20,
        stream_bytes=stream_mb << 20,
        cpu=_cpu_env(),
        precision=check_precision(os.environ.get("LAZYARR_PRECISION", "").strip().lower()
                                  or "numpy", "LAZYARR_PRECISION"),
    )


settings = _read()
