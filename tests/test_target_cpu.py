"""``LAZYARR_CPU``: compiling for a named CPU instead of this machine's
(``backends/cpu_target.py``).

The setting is read once per process (``lazyarr/config.py``), so the end-to-end cases run in
child processes. Names are LLVM's x86 names; on other machines those cases are skipped.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lazyarr import config

X86 = platform.machine().lower() in ("x86_64", "amd64")
x86_only = pytest.mark.skipif(not X86, reason="the CPU names here are x86's")
# a CPU every x86-64 machine of the last fifteen years runs (SSE4.2 and POPCNT, no AVX)
BASELINE = "x86-64-v2"


def _child(script: str, cpu: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "LAZYARR_DISK_CACHE": "0", "LAZYARR_CPU": cpu, **env}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=full)


_EVAL = """
import numpy as np
import lazyarr as la
print((la.asarray(np.ones(3)) * 2).eval())
"""


def test_setting_reads_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw, cpu in (("", ""), (" host ", ""), ("HOST", ""), ("Haswell", "haswell"),
                     ("x86-64-v3", "x86-64-v3")):
        monkeypatch.setenv("LAZYARR_CPU", raw)
        assert config._read().cpu == cpu
    for bad in ("has well", "haswell,+avx512f", '"haswell"', "-mcpu=haswell"):
        monkeypatch.setenv("LAZYARR_CPU", bad)
        with pytest.raises(ValueError, match="LAZYARR_CPU must be an LLVM CPU name"):
            config._read()


def test_unknown_cpu_is_a_value_error() -> None:
    """LLVM itself only warns on stderr and compiles for a generic CPU."""
    done = _child(_EVAL, "notacpu")
    assert done.returncode != 0
    assert "ValueError: LAZYARR_CPU=notacpu: LLVM does not know this CPU" in done.stderr
    assert "not a recognized processor" not in done.stderr  # LLVM's own words: caught


@pytest.fixture(scope="module")
def llvm_target() -> tuple:
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    triple = llvm.get_process_triple()
    return llvm, llvm.Target.from_triple(triple), triple


@x86_only
def test_features_a_machine_lacks_are_found(llvm_target: tuple) -> None:
    """Against made-up machines: every feature LLVM reports here present, some taken away."""
    from lazyarr.backends import cpu_target

    llvm, target, triple = llvm_target
    everything = {f: True for f in llvm.get_host_cpu_features()}

    def missing(name: str, absent: list[str]) -> list[str]:
        tm = target.create_target_machine(cpu=name, features="")
        return cpu_target.missing_features(llvm, tm, triple, name,
                                           {**everything, **dict.fromkeys(absent, False)})

    no512 = [f for f in everything if f.startswith("avx512")]
    assert "avx512f" in missing("skylake-avx512", no512)
    assert missing("haswell", no512) == []
    assert missing("haswell", ["avx2", "sse4a"]) == ["avx2"]
    assert missing(BASELINE, ["sse4.2", "avx"]) == ["sse4.2"]
    # instructions only their intrinsics emit (hypervisors hide some) do not count
    assert missing("haswell", ["invpcid", "rdrnd", "fsgsbase"]) == []


@x86_only
def test_cpu_this_machine_cannot_run_is_refused(llvm_target: tuple) -> None:
    from lazyarr.backends import cpu_target

    llvm, target, triple = llvm_target
    host = dict(llvm.get_host_cpu_features())
    for name in ("diamondrapids", "znver5", "graniterapids", "znver4", "sapphirerapids",
                 "x86-64-v4"):
        tm = target.create_target_machine(cpu=name, features="")
        if cpu_target.missing_features(llvm, tm, triple, name, host):
            break
    else:
        pytest.skip("this machine runs code for each CPU tried")
    done = _child(_EVAL, name)
    assert done.returncode != 0
    assert f"ValueError: LAZYARR_CPU={name}: this machine" in done.stderr
    assert "illegal instruction" in done.stderr


_BITS = """
import hashlib
import numpy as np
import lazyarr as la
from lazyarr.backends import cpu
rng = np.random.default_rng(0)
parts = []
for dt in (np.float32, np.float64):
    x = la.asarray((rng.standard_normal(1003) * 3).astype(dt))
    y = la.asarray(rng.uniform(0.1, 3.0, 1003).astype(dt))
    for e in (2 * x + la.exp(-y), la.sin(x) * la.cos(x), y ** x, la.tanh(x) + la.log1p(y),
              la.arctan2(x, y) * x):
        parts.append(np.asarray(e.eval()).tobytes())
asm = la.explain(2 * x + la.exp(-y)).asm
print(cpu.jit().cpu)
print(hashlib.sha256(b"".join(parts)).hexdigest())
print("ymm" in asm or "zmm" in asm)
print(cpu.jit().host)
"""


@x86_only
def test_named_cpu_is_compiled_for() -> None:
    """Code for the baseline CPU uses no AVX register, and gives this machine's bits: the
    math is the same IR, FMA a correctly rounded libm call where the CPU has none."""
    host = _child(_BITS, "host")
    named = _child(_BITS, BASELINE)
    assert host.returncode == 0, host.stderr[-3000:]
    if "this machine" in named.stderr:
        pytest.skip(f"this machine cannot run {BASELINE} code")
    assert named.returncode == 0 and named.stderr == "", named.stderr[-3000:]
    h, n = host.stdout.splitlines(), named.stdout.splitlines()
    assert n[0] == BASELINE and h[0] != BASELINE
    assert n[1] == h[1]
    assert n[2] == "False"
    # the disk cache's key names the CPU it was compiled for
    assert h[3] != n[3] and f"cpu {BASELINE};" in n[3]


_STORE = """
import numpy as np
import lazyarr as la
from lazyarr.backends import diskcache
x = la.asarray(np.linspace(0.0, 1.0, 1000))
(la.exp(x) * 3 + 1).eval()
info = diskcache.info()
print(info.loads, info.stores)
"""


@x86_only
def test_disk_cache_keeps_cpus_apart(tmp_path: Path) -> None:
    """Code compiled for the host is never loaded for a named CPU, nor the other way."""
    env = {"LAZYARR_DISK_CACHE": "1", "LAZYARR_CACHE_DIR": str(tmp_path)}

    def counts(cpu: str) -> tuple[int, int]:
        done = _child(_STORE, cpu, **env)
        assert done.returncode == 0, done.stderr[-3000:]
        loads, stores = map(int, done.stdout.split())
        return loads, stores

    first = counts("host")
    assert first[0] == 0 and first[1] > 0  # the kernel and its exp support module
    probe = _child(_EVAL, BASELINE)
    if probe.returncode != 0:
        pytest.skip(f"this machine cannot run {BASELINE} code")
    assert counts(BASELINE) == (0, first[1])  # compiled again, not loaded
    assert counts("host") == (first[1], 0)
    assert counts(BASELINE) == (first[1], 0)
    assert np.unique([p.name for p in tmp_path.rglob("*.lzo")]).size == 2 * first[1]
