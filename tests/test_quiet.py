"""A library prints nothing unless asked: compiling kernels leaves stderr empty.

LLVM prints some diagnostics on stderr whatever its options say: its loop vectoriser, asked
for a vector width (``codegen/common.py`` asks in loops calling lazyarr's vector math), says
so when it cannot vectorise the loop, as in a loop that also calls a libm function with no
vector version (``atan2``, ``cbrt``, ``hypot``). Each case runs in a fresh process with the
disk cache off, as a disk hit skips LLVM. ``LAZYARR_DEBUG=2`` asks for the vectoriser's
remarks (``backends/cpu_jit.py``).
"""

from __future__ import annotations

import os
import subprocess
import sys

_SCRIPT = """
import numpy as np
import lazyarr as la
a = la.asarray(np.linspace(0.1, 1.0, 1000))
b = la.asarray(np.linspace(1.0, 2.0, 1000))
m = la.asarray(np.linspace(0.1, 1.0, 4000).reshape(4, 1000))
la.log(la.arctan2(a, b)).eval()
la.exp(la.cbrt(a)).eval()
(la.sin(a) + la.hypot(a, b)).eval()
la.exp(la.cbrt(m)).sum(axis=1).eval()  # a row loop: the same question in codegen/rows.py
(a % b).eval()  # fmod: the one libm call left, which no loop vectorises
print("ok")
"""


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "LAZYARR_DEBUG"}
    return subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True,
                          timeout=300, env={**clean, "LAZYARR_DISK_CACHE": "0", **env})


def test_compiling_prints_nothing() -> None:
    done = _run()
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
    assert done.stderr == ""


def test_vectoriser_remarks_only_when_debug_asks() -> None:
    one = _run(LAZYARR_DEBUG="1")
    assert one.returncode == 0, one.stderr[-3000:]
    assert "[lazyarr] compiled" in one.stderr and "remark" not in one.stderr
    two = _run(LAZYARR_DEBUG="2")
    assert two.returncode == 0, two.stderr[-3000:]
    assert "remark: " in two.stderr  # the vectoriser's word on the fmod loop
