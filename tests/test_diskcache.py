"""The on-disk kernel cache: hits without compiles, verification, recovery, concurrent writers."""

import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from lazyarr.backends import cpu, diskcache

import lazyarr as la
from lazyarr import config


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A private, empty, enabled disk cache; nothing compiled in memory."""
    where = tmp_path / "kernels"
    # their math loaded (once per process) while the disk cache is still off: the counts
    # below are then the kernels' own, whichever test runs first
    cpu.jit().require(MATH)
    monkeypatch.setattr(config.settings, "cache_dir", str(where))
    monkeypatch.setattr(config.settings, "disk_cache", True)
    la.clear_cache()
    yield where
    la.clear_cache()


def support_entries() -> set[str]:
    """File names the math support modules are stored under."""
    from lazyarr.codegen import mathlib

    jit = cpu.jit()
    return {diskcache.entry_path(jit.support_key(s)).rsplit(os.sep, 1)[-1]
            for s in mathlib.SUPPORT_SYMBOLS}


def entries(where: Path) -> list[Path]:
    """The kernel entries (not the math support modules) in the cache folder."""
    if not where.exists():
        return []
    support = support_entries()
    return sorted(p for p in where.glob("*" + diskcache.SUFFIX) if p.name not in support)


# the math support modules the kernels of evaluate() call
MATH = ("lazyarr_math_exp_f64", "lazyarr_math_sin_f64")


def evaluate(seed: int = 0) -> np.ndarray:
    x = np.linspace(-2, 2, 1001) + seed
    a = la.asarray(x)
    got = (la.exp(-a) * 3 + la.sin(a) * seed).eval()
    np.testing.assert_allclose(got, np.exp(-x) * 3 + np.sin(x) * seed, rtol=1e-14)
    return got


def counts() -> tuple[int, int, int]:
    info = la.cache_info()
    return info.hits, info.misses, info.compiles


def child_env(where: Path) -> dict[str, str]:
    return dict(os.environ, LAZYARR_CACHE_DIR=str(where), LAZYARR_DISK_CACHE="1")


def run_child(code: str, where: Path) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=child_env(where),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_disk_hit_needs_no_compile(folder):
    before = diskcache.info()
    evaluate()
    assert counts() == (0, 1, 1) and len(entries(folder)) == 1
    assert diskcache.info().stores == before.stores + 1
    la.clear_cache()  # forget the kernel in memory: the next lookup goes to disk
    evaluate()
    assert counts() == (1, 0, 0)
    assert diskcache.info().loads == before.loads + 1
    evaluate()  # and now from memory
    assert counts() == (2, 0, 0)


def test_scalars_and_sizes_share_one_entry(folder):
    for seed in (2, 5, 7):  # (1 and 3 would give other kernels: x*1 folds, 3 is shared)
        evaluate(seed)
    assert len(entries(folder)) == 1


def test_kernels_loaded_from_disk_still_explain_themselves(folder):
    evaluate()
    la.clear_cache()
    a = la.asarray(np.linspace(-2, 2, 1001))
    ex = la.explain(la.exp(-a) * 3 + la.sin(a) * 5)
    assert counts()[2] == 0
    assert "define" in ex.llvm and "ret void" in ex.llvm_opt and ex.asm.strip()


@pytest.mark.parametrize("damage", ["flip", "half", "header", "empty", "magic", "length"])
def test_damaged_entries_are_ignored_recompiled_and_replaced(folder, damage):
    evaluate()
    (path,) = entries(folder)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-100] ^= 0x40  # in the object code: only the checksum notices
    elif damage == "half":
        data = data[:len(data) // 2]
    elif damage == "header":
        data = data[:diskcache.HEADER.size - 3]
    elif damage == "empty":
        data = bytearray()
    elif damage == "magic":
        data[:8] = b"NOTOURS!"
    elif damage == "length":
        data += b"\0" * 16
    path.write_bytes(bytes(data))
    rejected = diskcache.info().rejected
    la.clear_cache()
    evaluate()
    assert counts() == (0, 1, 1)
    assert diskcache.info().rejected == rejected + 1
    la.clear_cache()
    evaluate()  # the entry was replaced by a good one
    assert counts() == (1, 0, 0)


def test_an_entry_under_another_key_is_rejected(folder):
    evaluate(0)
    (path,) = entries(folder)
    a = la.asarray(np.arange(10.0))
    (a * 2).eval()  # another kernel, another entry
    other = next(p for p in entries(folder) if p != path)
    other.write_bytes(path.read_bytes())  # a valid entry, but for a different key
    la.clear_cache()
    np.testing.assert_array_equal((a * 2).eval(), np.arange(10.0) * 2)
    assert counts()[2] == 1


def test_key_covers_code_generator_and_host(folder, monkeypatch):
    digest = "0" * 64
    assert diskcache.entry_key(digest, "host A") != diskcache.entry_key(digest, "host B")
    evaluate()
    monkeypatch.setattr(diskcache, "_fingerprint", "an edited code generator")
    la.clear_cache()
    evaluate()
    assert counts()[2] == 1 and len(entries(folder)) == 2


def test_stable_text_refuses_unknown_values():
    assert diskcache.stable_text((np.dtype("float32"), 1.5, None)) == \
        "(dtype(<f4),0x1.8000000000000p+0,None)"
    with pytest.raises(diskcache.NotCacheable):
        diskcache.stable_text(object())


def test_off_means_no_files(folder):
    la.set_disk_cache(False)
    evaluate()
    la.clear_cache()
    evaluate()
    assert counts()[2] == 1 and not entries(folder)


def test_set_disk_cache_moves_the_folder(folder, tmp_path):
    la.set_disk_cache(True, tmp_path / "elsewhere")
    assert config.settings.cache_dir == str(tmp_path / "elsewhere")
    evaluate()
    assert len(entries(tmp_path / "elsewhere")) == 1


def test_an_unwritable_folder_is_not_fatal(folder, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(config.settings, "cache_dir", str(blocker / "cache"))
    errors = diskcache.info().errors
    evaluate()
    assert diskcache.info().errors > errors and counts()[2] == 1


def test_a_second_process_hits_the_cache_without_compiling(folder):
    evaluate()
    out = run_child("""
        import sys
        import numpy as np
        import lazyarr as la
        assert "llvmlite.binding" not in sys.modules  # import lazyarr stays lean
        x = np.linspace(-2, 2, 1001)
        a = la.asarray(x)
        got = (la.exp(-a) * 3 + la.sin(a) * 7).eval()
        assert np.allclose(got, np.exp(-x) * 3 + np.sin(x) * 7)
        info = la.cache_info()
        print(info.hits, info.misses, info.compiles)
    """, folder)
    assert out.split() == ["1", "0", "0"]


WRITER = """
    import sys
    import numpy as np
    import lazyarr as la
    x = la.asarray(np.arange(1000.0))
    exprs = [lambda k=k: (x * (k + 1) + x ** 2 - la.sqrt(x) * k) if k % 2 else
             (la.sin(x) + k) * la.exp(-x) for k in range(int(sys.argv[1]))]
    for _ in range(3):
        la.clear_cache()
        for make in exprs:
            make().eval()
    from lazyarr.backends import diskcache
    info = la.cache_info()
    print(info.compiles, diskcache.info().rejected)
"""


def test_concurrent_writers(folder):
    """Two processes compile and store the same kernels at the same time; a third finds
    every entry whole (nothing rejected, nothing recompiled) and no temporary files left."""
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(WRITER), "2"],
                              env=child_env(folder), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.split()[1] == "0"
    assert run_child(WRITER.replace("sys.argv[1]", "2"), folder).split() == ["0", "0"]
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


STORER = """
    import sys
    from lazyarr.backends import diskcache
    from lazyarr import config
    key = bytes(32)
    me = int(sys.argv[1])
    for k in range(300):
        payload = bytes([me]) * (200_000 + 4096 * (k % 7))
        assert diskcache.store(key, payload)
        got = diskcache.load(key)
        assert got is not None and len(set(got)) == 1
    print(diskcache.info().rejected)
"""


def test_atomic_replace_under_contention(folder):
    """Writers racing on one entry: every read sees one writer's whole payload."""
    procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(STORER), str(me)],
                              env=child_env(folder), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for me in (1, 2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.strip() == "0"


def test_symbols_are_named_by_content(folder):
    evaluate()
    names = {c.name for c in cpu._cache.values()}
    assert all(n.startswith("lazyarr_kernel_") and len(n) == len("lazyarr_kernel_") + 16
               for n in names)


# -- kernels calling the math support modules ---------------------------------------------
MATH_CHILD = """
    import sys
    import numpy as np
    import lazyarr as la
    from lazyarr.backends import diskcache
    x = np.linspace(-2, 2, 1001)
    a = la.asarray(x)
    got = (la.exp(-a) * 3 + la.sin(a) * 7).eval()
    assert np.allclose(got, np.exp(-x) * 3 + np.sin(x) * 7)
    d = diskcache.info()
    # a process that only loads builds no IR
    print(la.cache_info().compiles, d.loads, d.stores, d.rejected,
          "lazyarr.codegen.mathlib" in sys.modules)
"""


def test_math_support_is_cached_on_disk_and_loaded_first(folder):
    """A fresh process: the kernel and its math support modules come from disk, the support
    modules linked before the kernel that calls them, and nothing is compiled."""
    assert run_child(MATH_CHILD, folder).split() == ["1", "0", "3", "0", "True"]
    assert len(entries(folder)) == 1 and len(list(folder.glob("*" + diskcache.SUFFIX))) == 3
    assert run_child(MATH_CHILD, folder).split() == ["0", "3", "0", "0", "False"]


def test_a_damaged_support_entry_is_recompiled(folder):
    run_child(MATH_CHILD, folder)
    exp = diskcache.entry_path(cpu.jit().support_key("lazyarr_math_exp_f64"))
    data = bytearray(Path(exp).read_bytes())
    data[-100] ^= 0x40
    Path(exp).write_bytes(bytes(data))
    # the kernel still loads from disk; exp's module is rejected, compiled and replaced
    assert run_child(MATH_CHILD, folder).split() == ["0", "2", "1", "1", "True"]
    assert run_child(MATH_CHILD, folder).split() == ["0", "3", "0", "0", "False"]


def _rewrite_payload(path: Path, payload: bytes) -> None:
    """Store ``payload`` under the entry's own key: it passes verification."""
    assert diskcache.store(bytes.fromhex(path.name.removesuffix(diskcache.SUFFIX)), payload)


@pytest.mark.parametrize("needs", [None, b"needs:lazyarr_math_nosuch_f64",
                                   b"needs:../lazyarr_math_exp_f64"])
def test_an_entry_with_bad_needs_is_recompiled(folder, needs):
    """The line naming the support modules is checked before anything reaches the JIT: an
    entry without it, or naming a module that does not exist, is compiled again."""
    evaluate()
    (path,) = entries(folder)
    code = diskcache.load(bytes.fromhex(path.name.removesuffix(diskcache.SUFFIX)))
    assert code is not None and code.startswith(b"needs:lazyarr_math_exp_f64 ")
    code = code.partition(b"\n")[2]
    _rewrite_payload(path, code if needs is None else needs + b"\n" + code)
    la.clear_cache()
    evaluate()
    assert counts() == (0, 1, 1)
    la.clear_cache()
    evaluate()  # replaced by a good entry
    assert counts() == (1, 0, 0)


# -- what is at an entry's name, and whose folder it is ------------------------------------
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


def key_of(path: Path) -> bytes:
    return bytes.fromhex(path.name.removesuffix(diskcache.SUFFIX))


def finishes(fn, fifo: Path, seconds: float = 30.0) -> None:
    """Run ``fn`` in a thread and fail, rather than hang, when it waits on ``fifo``: then a
    writer opens the FIFO, so the reader sees its end and the thread lets go of the JIT."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as e:  # re-raised below, in the test's thread
            failed.append(e)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(seconds)
        pytest.fail(f"evaluation waited on the FIFO {fifo} for {seconds} s")
    if failed:
        raise failed[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_at_an_entry_is_not_waited_on(folder):
    evaluate()
    (path,) = entries(folder)
    path.unlink()
    os.mkfifo(path)
    rejected = diskcache.info().rejected
    la.clear_cache()
    finishes(evaluate, path)
    assert counts() == (0, 1, 1) and diskcache.info().rejected == rejected + 1
    assert stat.S_ISREG(path.lstat().st_mode)  # the new entry replaced the FIFO
    la.clear_cache()
    evaluate()
    assert counts() == (1, 0, 0)


def test_a_folder_at_an_entry_is_rejected_and_not_fatal(folder):
    evaluate()
    (path,) = entries(folder)
    path.unlink()
    path.mkdir()
    before = diskcache.info()
    la.clear_cache()
    evaluate()
    after = diskcache.info()
    assert counts() == (0, 1, 1)
    # not read (rejected); the store cannot rename over a folder (an error, not a crash)
    assert (after.rejected, after.errors, after.stores) == \
        (before.rejected + 1, before.errors + 1, before.stores)
    assert path.is_dir() and not diskcache.store(key_of(path), b"code")
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_a_symlink_at_an_entry_is_not_followed(folder, tmp_path):
    evaluate()
    (path,) = entries(folder)
    target = tmp_path / "elsewhere.lzo"
    path.rename(target)  # a whole, valid entry of ours: only the link stands in the way
    path.symlink_to(target)
    rejected = diskcache.info().rejected
    la.clear_cache()
    evaluate()
    assert counts() == (0, 1, 1) and diskcache.info().rejected == rejected + 1
    assert not path.is_symlink() and path.is_file()  # the store replaced the link itself


def test_a_store_replaces_a_symlink_and_writes_nothing_where_it_points(folder, tmp_path):
    folder.mkdir(mode=0o700)
    target = tmp_path / "not-the-cache"
    target.write_bytes(b"keep me")
    key = bytes(32)
    link = Path(diskcache.entry_path(key))
    link.symlink_to(target)
    assert diskcache.store(key, b"object code")
    assert target.read_bytes() == b"keep me"
    assert not link.is_symlink() and diskcache.load(key) == b"object code"


@pytest.mark.skipif(not ROOT, reason="needs root to give a file away")
def test_an_entry_of_another_user_is_rejected(folder):
    evaluate()
    (path,) = entries(folder)
    os.chown(path, NOBODY, NOBODY)
    rejected = diskcache.info().rejected
    la.clear_cache()
    evaluate()
    assert counts() == (0, 1, 1) and diskcache.info().rejected == rejected + 1
    assert path.stat().st_uid == os.geteuid()  # replaced by an entry of ours


def copy_of(folder: Path, where: Path) -> Path:
    """``where`` holding the valid entries evaluate() stores in ``folder``: what another user
    could plant in a folder they may write to."""
    evaluate()
    shutil.copytree(folder, where)
    return where


def assert_refused(where: Path, monkeypatch, why: str) -> None:
    """With the cache in ``where``: one warning naming it and why, correct results, and
    nothing loaded from, stored in or counted for that folder."""
    monkeypatch.setattr(config.settings, "cache_dir", str(where))
    files = sorted((p.name, p.stat().st_mtime_ns) for p in where.iterdir())
    before = diskcache.info()
    la.clear_cache()
    with pytest.warns(diskcache.UnsafeCacheDirWarning) as caught:
        evaluate()
    (warning,) = [w for w in caught if w.category is diskcache.UnsafeCacheDirWarning]
    assert re.search(re.escape(str(where)) + ".*" + why, str(warning.message))
    la.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warned once per folder: silent from now on
        evaluate()
    assert counts() == (0, 1, 1) and diskcache.info() == before
    assert sorted((p.name, p.stat().st_mtime_ns) for p in where.iterdir()) == files


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o1777], ids=oct)
def test_a_folder_others_may_write_to_is_not_used(folder, tmp_path, monkeypatch, mode):
    shared = copy_of(folder, tmp_path / "shared")
    shared.chmod(mode)
    assert_refused(shared, monkeypatch, f"{mode:04o}.*chmod 700")


@pytest.mark.skipif(not ROOT, reason="needs root to give a folder away")
def test_a_folder_of_another_user_is_not_used(folder, tmp_path, monkeypatch):
    theirs = copy_of(folder, tmp_path / "theirs")
    os.chown(theirs, NOBODY, NOBODY)  # mode 0700: only the owner matters
    assert_refused(theirs, monkeypatch, f"owned by uid {NOBODY}")


def test_a_link_to_a_folder_is_checked_where_it_points(folder, tmp_path, monkeypatch):
    shared = copy_of(folder, tmp_path / "shared")
    shared.chmod(0o777)
    link = tmp_path / "link"
    link.symlink_to(shared)
    assert_refused(link, monkeypatch, f"a link to {re.escape(str(shared))}.*chmod 700")


def test_a_link_to_a_private_folder_is_used_and_kept(folder, tmp_path, monkeypatch):
    (tmp_path / "other").mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    evaluate()  # stored in folder, by its own name
    monkeypatch.setattr(config.settings, "cache_dir", str(link))
    la.clear_cache()
    evaluate()
    assert counts() == (1, 0, 0)  # loaded through the link
    link.unlink()
    link.symlink_to(tmp_path / "other", target_is_directory=True)
    la.clear_cache()
    evaluate()  # the folder checked is the folder used: re-pointing the link does not move it
    assert counts() == (1, 0, 0) and not list((tmp_path / "other").iterdir())


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o277], ids=oct)
def test_a_new_folder_is_made_private(folder, tmp_path, monkeypatch, umask):
    where = tmp_path / "new" / "kernels"
    monkeypatch.setattr(config.settings, "cache_dir", str(where))
    stores = diskcache.info().stores
    old = os.umask(umask)
    try:
        evaluate()
    finally:
        os.umask(old)
    assert stat.S_IMODE(where.stat().st_mode) == 0o700
    assert len(entries(where)) == 1 and diskcache.info().stores == stores + 1


def test_the_folder_is_checked_once_per_path(folder, tmp_path, monkeypatch):
    checked = []
    check = diskcache._check

    def counted(configured: str, create: bool) -> str | None:
        checked.append(configured)
        return check(configured, create)

    monkeypatch.setattr(diskcache, "_check", counted)
    folder.mkdir(mode=0o700)
    for seed in (2, 4):
        evaluate(seed)
        la.clear_cache()
        evaluate(seed)  # from disk
    a = la.asarray(np.arange(5.0))
    np.testing.assert_array_equal((a * 2).eval(), np.arange(5.0) * 2)  # another kernel
    assert checked == [str(folder)]
    elsewhere = str(tmp_path / "elsewhere")
    monkeypatch.setattr(config.settings, "cache_dir", elsewhere)
    la.clear_cache()
    evaluate()
    evaluate()
    # missing, it is looked at by the load; the store makes it, and that check is kept
    assert checked[1:] == [elsewhere, elsewhere] and len(entries(tmp_path / "elsewhere")) == 1


def test_set_disk_cache_checks_a_fixed_folder_again(folder, tmp_path, monkeypatch):
    shared = copy_of(folder, tmp_path / "shared")
    shared.chmod(0o777)
    monkeypatch.setattr(config.settings, "cache_dir", str(shared))
    loads = diskcache.info().loads
    la.clear_cache()
    with pytest.warns(diskcache.UnsafeCacheDirWarning):
        evaluate()
    shared.chmod(0o700)
    la.set_disk_cache(True, shared)
    la.clear_cache()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        evaluate()
    assert counts() == (1, 0, 0) and diskcache.info().loads == loads + 1
