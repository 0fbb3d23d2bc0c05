"""On-disk cache of compiled kernels: object code, content-addressed and verified before use.

An entry is the object code LLVM emitted for one kernel (after a line naming the math support
modules it calls, see ``backends/cpu.py``) or for one math support module
(``codegen/mathlib.py``), stored under a SHA-256 of everything that determines that code: a
stable text of the :class:`~lazyarr.ir.loop.Kernel` or of the support module's name (built
here field by field, never a ``repr`` of arbitrary objects), the lazyarr version, a fingerprint
of the code generator's source files (so editing the code generator never reuses stale
code), and the LLVM version, target triple, host CPU name and CPU features.

File layout: a fixed header (magic, key digest, payload length, SHA-256 of the payload), then
the payload. Entries are never unpickled; a file whose header or checksum does not match is
ignored (the kernel is recompiled and the entry replaced). Writers write a private temporary
file in the cache directory and ``os.replace`` it over the entry, so concurrent writers and
readers only ever see whole entries.

Object code is executed, so nobody else may supply it. The folder is made private (mode 0700);
an existing one is used only when it belongs to this user and neither group nor others may
write to it (as OpenSSH and pip treat such folders), else the disk cache is off for it and one
:class:`UnsafeCacheDirWarning` says why. An entry is read only when it is a regular file of
this user's: a symlink is not followed, and a FIFO, device, socket or folder at an entry's name
is neither waited on nor read (it counts as rejected; the kernel is compiled and stored over it
where ``os.replace`` can: a folder there stays, and the store fails).

The location is ``LAZYARR_CACHE_DIR`` or the user cache directory (``$XDG_CACHE_HOME/lazyarr``
or ``~/.cache/lazyarr``); ``LAZYARR_DISK_CACHE=0`` or :func:`set_disk_cache` turns it off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import os
import stat
import struct
import threading
import warnings
from typing import Any, NamedTuple

import numpy as np

from lazyarr.config import settings

MAGIC = b"LZKOBJ01"  # bump the last digits when the file layout changes
HEADER = struct.Struct("<8s32sQ32s")  # magic, key digest, payload length, payload SHA-256
SUFFIX = ".lzo"
# Source files whose content decides the machine code of a kernel (package, file pattern):
# the code generator and what it imports from lazyarr. Generous on purpose: a needless
# recompile costs milliseconds, a stale entry would be wrong code.
# The CPU backend's part: the JIT (per-kernel attributes, O3 options), the target CPU, the
# kernel entries' format.
_CODE_FILES = (("lazyarr.codegen", "*.py"), ("lazyarr.ir", "*.py"), ("lazyarr.backends", "cpu.py"),
               ("lazyarr.backends", "cpu_jit.py"), ("lazyarr.backends", "cpu_target.py"),
               ("lazyarr", "config.py"))


class DiskCacheInfo(NamedTuple):
    loads: int  # entries found, verified and handed to the JIT
    stores: int  # entries written
    rejected: int  # entries found but corrupt, truncated, not ours or not a regular file
    errors: int  # I/O errors (unwritable directory, ...): the cache is skipped, never fatal
    # (a folder refused as unsafe counts nothing: the disk cache is off for it, as if disabled)


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
    with _folder_lock:
        _folders.clear()  # check folders again: one refused may have been fixed (chmod 700)


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


# -- the folder ----------------------------------------------------------------------------
class UnsafeCacheDirWarning(RuntimeWarning):
    """The cache folder is not this user's alone: the disk cache is off for it.

    A RuntimeWarning (a problem of the environment, not of the calling code) of its own class,
    so that it can be filtered by itself or turned into an error with ``-W error``.
    """


# settings.cache_dir as set (it changes: set_disk_cache, tests) -> the real path of the checked
# folder, used for every entry from then on; None: refused. Checked once per path, so a kernel
# pays a dict lookup.
_folders: dict[str, str | None] = {}
_warned: set[str] = set()  # real paths already warned about: once per process per folder
_folder_lock = threading.Lock()  # one check, and at most one warning, per folder


def _folder(create: bool) -> str | None:
    """The folder to read entries from and write them to, or None when it is refused.

    Raises OSError when it is missing (FileNotFoundError; made when ``create``) or cannot be
    made or examined; nothing is remembered then, so the next call tries again.
    """
    configured = settings.cache_dir
    if configured in _folders:
        return _folders[configured]
    with _folder_lock:
        if configured not in _folders:
            _folders[configured] = _check(configured, create)
        return _folders[configured]


def _check(configured: str, create: bool) -> str | None:
    """The real path of the folder when only this user may write to it, else None (warned).

    A symlink to the folder is followed and its target checked: whoever may re-point a link
    may as well replace a folder in the same place. The real path is kept, so re-pointing the
    link later does not move this process's cache. Parent folders are not checked: one that
    others may write to lets them swap the folder after the check, but refusing those would
    refuse shared group folders and containers' 777 mounts that hold a private home; checking
    soundly would need every entry opened relative to a descriptor of the checked folder.
    """
    if create:
        _make_private(configured)
    real = os.path.realpath(configured)
    st = os.lstat(real)  # FileNotFoundError: not made yet (the first store makes it)
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, "the disk cache folder is not a folder", real)
    problem = _unsafe(real, st)
    if problem is not None:
        _warn(configured, real, problem)
        return None
    return real


def _make_private(folder: str) -> None:
    """Make the folder with mode 0700, unless something is there already.

    An existing folder is checked, never chmod-ed: while others could write to it, it may
    already hold their code. Parents are made as any tool makes them (the umask's mode).
    """
    if os.path.lexists(folder):
        return
    os.makedirs(os.path.dirname(os.path.abspath(folder)), exist_ok=True)
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        return  # another process was first: checked like any existing folder
    os.chmod(folder, 0o700)  # mkdir's mode is cut by the umask (0o277 would leave it read-only)


def _uid() -> int | None:
    """The user this process creates files as (the effective uid); None: no POSIX owners."""
    return os.geteuid() if hasattr(os, "geteuid") else None


def _unsafe(real: str, st: os.stat_result) -> str | None:
    """Why this folder may hold code written by someone else, and the fix (None: only this
    user may write to it)."""
    if _uid() is None:
        return None  # Windows: st_mode does not show its ACLs; a user's profile is private
    if st.st_uid != _uid():
        return (f"owned by uid {st.st_uid}, not by this user (uid {_uid()}); "
                "use a folder of your own")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        import shlex

        return (f"writable by group or others (mode {stat.filemode(st.st_mode)}, "
                f"{stat.S_IMODE(st.st_mode):04o}); fix it with `chmod 700 {shlex.quote(real)}` "
                "or use another folder")
    return None


def _warn(configured: str, real: str, problem: str) -> None:
    if real in _warned:
        return
    _warned.add(real)  # first: with warnings as errors, the raise must not repeat either
    where = real if real == configured else f"{configured} (a link to {real})"
    warnings.warn(f"lazyarr: not using the disk cache of compiled kernels in {where}: it is "
                  f"{problem} (LAZYARR_CACHE_DIR or la.set_disk_cache(True, folder)). Another "
                  "user could plant object code there that this process would run; kernels "
                  "are compiled in memory instead.", UnsafeCacheDirWarning, stacklevel=2)


# -- entries ---------------------------------------------------------------------------------
def entry_path(key: bytes) -> str:
    return os.path.join(settings.cache_dir, key.hex() + SUFFIX)


def _entry(folder: str, key: bytes) -> str:
    return os.path.join(folder, key.hex() + SUFFIX)


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


# A symlink is not followed; opening a FIFO does not wait for a writer (the lstat before keeps
# non-files from being opened at all: this closes the race); a terminal does not become ours.
# Flags a platform lacks are left out.
_READ_FLAGS = (os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
               | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0))


def _own_file(st: os.stat_result) -> bool:
    """A regular file of this user's: nothing else can be an entry."""
    return stat.S_ISREG(st.st_mode) and _uid() in (None, st.st_uid)


def _read_own(path: str) -> bytes | None:
    """The content of the entry at ``path``; None when it is not a regular file of this user's.

    Raises OSError (FileNotFoundError: no entry). O_NONBLOCK does not matter to a regular
    file's reads, so it is left set.
    """
    if not _own_file(os.lstat(path)):
        return None  # not even opened: opening a device may have effects
    with open(os.open(path, _READ_FLAGS), "rb") as f:
        if not _own_file(os.fstat(f.fileno())):
            return None  # replaced between the lstat and the open
        return f.read()


def load(key: bytes) -> bytes | None:
    """The verified object code stored under ``key``, or None (absent, corrupt, unreadable,
    not a regular file of this user's, or the folder is refused)."""
    try:
        folder = _folder(create=False)
        if folder is None:
            return None  # refused (and warned about once): as if the disk cache were off
        data = _read_own(_entry(folder, key))
    except FileNotFoundError:
        return None
    except OSError:
        _counts["errors"] += 1
        return None
    payload = None if data is None else _verified(data, key)
    if payload is None:
        _counts["rejected"] += 1
        return None
    _counts["loads"] += 1
    return payload


def store(key: bytes, payload: bytes) -> bool:
    """Write an entry atomically; False (and nothing left behind) when that fails or the
    folder is refused.

    ``os.replace`` renames over whatever has the entry's name: a symlink is replaced itself
    (nothing is written where it points), so is a FIFO; a folder makes it fail.
    """
    import tempfile

    header = HEADER.pack(MAGIC, key, len(payload), _sha256(payload).digest())
    tmp = None
    try:
        folder = _folder(create=True)
        if folder is None:
            return False  # refused (and warned about once): as if the disk cache were off
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(header + payload)
        # no fsync: after a crash a torn entry fails verification and is rebuilt, and
        # fsync would cost milliseconds on every compile
        os.replace(tmp, _entry(folder, key))
    except OSError as e:
        _counts["errors"] += 1
        if tmp is None and isinstance(e, FileNotFoundError):
            _folders.pop(settings.cache_dir, None)  # deleted since checked: make it again
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
