"""On-disk cache of compiled kernels: object code, content-addressed and verified before use.

An entry is the object code LLVM emitted for one kernel (after a line naming the math support
modules it calls, see ``backends/cpu.py``) or for one math support module
(``codegen/mathlib.py``), stored under a SHA-256 of everything that determines that code: a
stable text of the :class:`~lazyarr.loopir.Kernel` or of the support module's name (built
here field by field, never a ``repr`` of arbitrary objects), the lazyarr version, a fingerprint
of the code generator's source files (so editing the code generator never reuses stale
code), and the LLVM version, target triple, host CPU name and CPU features.

File layout: a fixed header (magic, key digest, payload length, SHA-256 of the payload), then
the payload. Entries are never unpickled; a file whose header or checksum does not match is
ignored (the kernel is recompiled and the entry replaced). Writers write a private temporary
file in the cache directory and ``os.replace`` it over the entry, so concurrent writers and
readers only ever see whole entries. The directory is private to the user (mode 0700) and
entries owned by another user are ignored: object code is executed, so nobody else may
supply it.

The location is ``LAZYARR_CACHE_DIR`` or the user cache directory (``$XDG_CACHE_HOME/lazyarr``
or ``~/.cache/lazyarr``); ``LAZYARR_DISK_CACHE=0`` or :func:`set_disk_cache` turns it off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import struct
from typing import Any, NamedTuple

import numpy as np

from lazyarr.config import settings

MAGIC = b"LZKOBJ01"  # bump the last digits when the file layout changes
HEADER = struct.Struct("<8s32sQ32s")  # magic, key digest, payload length, payload SHA-256
SUFFIX = ".lzo"
# Source files whose content decides the machine code of a kernel (package, file pattern):
# the code generator and what it imports from lazyarr. Generous on purpose: a needless
# recompile costs milliseconds, a stale entry would be wrong code.
_CODE_FILES = (("lazyarr.codegen", "*.py"), ("lazyarr", "loopir.py"), ("lazyarr", "graph.py"),
               ("lazyarr", "ops.py"), ("lazyarr", "dtypes.py"), ("lazyarr.backends", "cpu.py"))


class DiskCacheInfo(NamedTuple):
    loads: int  # entries found, verified and handed to the JIT
    stores: int  # entries written
    rejected: int  # entries found but corrupt, truncated or not ours (then recompiled)
    errors: int  # I/O errors (unwritable directory, ...): the cache is skipped, never fatal


_counts = {"loads": 0, "stores": 0, "rejected": 0, "errors": 0}


def info() -> DiskCacheInfo:
    return DiskCacheInfo(**_counts)


def set_disk_cache(enabled: bool = True, directory: str | os.PathLike | None = None) -> None:
    """Turn the on-disk kernel cache on or off and, with ``directory``, move it.

    The same as ``LAZYARR_DISK_CACHE=0|1`` and ``LAZYARR_CACHE_DIR`` at start-up.
    """
    settings.disk_cache = bool(enabled)
    if directory is not None:
        settings.cache_dir = os.path.abspath(os.path.expanduser(os.fspath(directory)))


def enabled() -> bool:
    return settings.disk_cache


# -- keys ------------------------------------------------------------------------------------
class NotCacheable(Exception):  # noqa: N818 (a signal: skip the disk cache for this kernel)
    """The kernel holds a value with no stable text; it is compiled, not cached on disk."""


def stable_text(value: Any) -> str:
    """A text of ``value`` that is the same in every process and differs when values differ.

    Handles the types a Kernel is made of; anything else raises :class:`NotCacheable`
    rather than trusting a ``repr`` that may hide what matters or include an address.
    """
    if value is None or isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, enum.Enum):
        return f"{type(value).__qualname__}.{value.name}={stable_text(value.value)}"
    if isinstance(value, np.dtype):
        if value.fields is not None or value.subdtype is not None:
            raise NotCacheable(f"structured dtype {value}")
        return f"dtype({value.str})"
    if isinstance(value, tuple | list):
        return "(" + ",".join(stable_text(v) for v in value) + ")"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        inner = ",".join(f"{f.name}={stable_text(getattr(value, f.name))}"
                         for f in dataclasses.fields(value))
        return f"{type(value).__qualname__}({inner})"
    raise NotCacheable(f"no stable text for {type(value).__name__}")


def _sha256(data: bytes) -> Any:
    import hashlib  # not at import: lazyarr's import stays lean

    return hashlib.sha256(data)


_fingerprint: str | None = None


def code_fingerprint() -> str:
    """SHA-256 of the code generator's source files (computed once per process)."""
    global _fingerprint
    if _fingerprint is None:
        import importlib
        from pathlib import Path

        h = _sha256(b"")
        for package, pattern in _CODE_FILES:
            for folder in importlib.import_module(package).__path__:
                for path in sorted(Path(folder).glob(pattern)):
                    h.update(f"{package}/{path.name}\0".encode())
                    h.update(path.read_bytes())
        _fingerprint = h.hexdigest()
    return _fingerprint


def kernel_digest(kernel: Any) -> str:
    """Hex SHA-256 of the kernel's stable text (raises :class:`NotCacheable`)."""
    return _sha256(stable_text(kernel).encode()).hexdigest()


def entry_key(kernel_hex: str, host: str) -> bytes:
    """The digest an entry is stored under: kernel, lazyarr, code generator, LLVM and CPU."""
    from lazyarr import __version__

    text = "\n".join((MAGIC.decode(), f"lazyarr {__version__}",
                      f"code {code_fingerprint()}", host, f"kernel {kernel_hex}"))
    return _sha256(text.encode()).digest()


# -- entries ---------------------------------------------------------------------------------
def entry_path(key: bytes) -> str:
    return os.path.join(settings.cache_dir, key.hex() + SUFFIX)


def _verified(data: bytes, key: bytes) -> bytes | None:
    if len(data) < HEADER.size:
        return None
    magic, stored_key, length, checksum = HEADER.unpack_from(data)
    payload = data[HEADER.size:]
    if magic != MAGIC or stored_key != key or length != len(payload):
        return None
    if _sha256(payload).digest() != checksum:
        return None
    return payload


def _read_own(path: str) -> bytes:
    with open(path, "rb") as f:
        if hasattr(os, "getuid") and os.fstat(f.fileno()).st_uid != os.getuid():
            raise PermissionError(f"{path} belongs to another user")
        return f.read()


def load(key: bytes) -> bytes | None:
    """The verified object code stored under ``key``, or None (absent, corrupt, unreadable)."""
    path = entry_path(key)
    try:
        data = _read_own(path)
    except FileNotFoundError:
        return None
    except OSError:
        _counts["errors"] += 1
        return None
    payload = _verified(data, key)
    if payload is None:
        _counts["rejected"] += 1
        return None
    _counts["loads"] += 1
    return payload


def store(key: bytes, payload: bytes) -> bool:
    """Write an entry atomically; False (and nothing left behind) when that fails."""
    import tempfile

    folder = settings.cache_dir
    header = HEADER.pack(MAGIC, key, len(payload), _sha256(payload).digest())
    tmp = None
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(header + payload)
        # no fsync: after a crash a torn entry fails verification and is rebuilt, and
        # fsync would cost milliseconds on every compile
        os.replace(tmp, entry_path(key))
    except OSError:
        _counts["errors"] += 1
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        return False
    _counts["stores"] += 1
    return True


def clear() -> int:
    """Delete every entry (and stray temporary file) in the cache directory; how many."""
    removed = 0
    try:
        names = os.listdir(settings.cache_dir)
    except OSError:
        return 0
    for name in names:
        if name.endswith(SUFFIX):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(settings.cache_dir, name))
                removed += 1
    return removed
