"""The one place that reads environment variables.

Every tunable of lazyarr is read here once, at import, into a plain settings object; the rest
of the code asks this module and never touches ``os.environ`` itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

BACKENDS = ("cpu", "interp")


@dataclass(slots=True)
class Settings:
    backend: str = "cpu"
    debug: int = 0
    num_threads: int = 0  # 0: decided by the backend


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def _read() -> Settings:
    backend = os.environ.get("LAZYARR_BACKEND", "cpu").strip() or "cpu"
    if backend not in BACKENDS:
        raise ValueError(f"LAZYARR_BACKEND must be one of {BACKENDS}, got {backend!r}")
    return Settings(
        backend=backend,
        debug=_int_env("LAZYARR_DEBUG", 0),
        num_threads=_int_env("LAZYARR_NUM_THREADS", 0),
    )


settings = _read()
