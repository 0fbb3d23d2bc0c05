"""The CPU the CPU backend compiles for: this machine's, or LAZYARR_CPU's when this machine
can run its code.

llvmlite does not expose a CPU's features, so what a named CPU has is asked of LLVM's inliner
(:func:`missing_features`, :func:`has_feature`). Everything here takes the ``llvm`` binding
module as an argument: importing this module loads no LLVM.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

_UNKNOWN_CPU = "is not a recognized processor"  # what LLVM prints, and then goes on without


def _llvm_stderr(fn: Callable[[], Any]) -> tuple[Any, str]:
    """``fn()`` and what was written to stderr meanwhile.

    LLVM reports to file descriptor 2 directly, not through Python, so the descriptor
    itself points at a temporary file for the call (one target machine: milliseconds, once
    per process, and only for LAZYARR_CPU). The caller writes back what is not LLVM's.
    """
    import tempfile  # only here: importing it costs milliseconds

    sys.stderr.flush()
    with tempfile.TemporaryFile() as caught:
        saved = os.dup(2)
        try:
            os.dup2(caught.fileno(), 2)
            result = fn()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        caught.seek(0)
        return result, caught.read().decode("utf-8", "replace")


# Which of the features this machine lacks a named CPU has, asked of LLVM itself (llvmlite
# does not expose a CPU's features): its inliner inlines a function into another only when
# the callee's subtarget features are a subset of the caller's (areInlineCompatible), and
# "target-cpu" and "target-features" attributes choose a function's subtarget. Caller and
# callees name the same CPU, so its tuning flags (some of which the comparison counts) are
# the same on both sides. The volatile store keeps each callee from being folded away.
_PROBE = """target triple = "{triple}"
@sink = global i32 0
{callees}
define void @caller() #0 {{
{calls}  ret void
}}
attributes #0 = {{ "target-cpu"="{cpu}" "target-features"="{features}" }}
{attributes}
"""
# Features LLVM emits only for their intrinsics, which generated code never calls (system,
# privileged and random-number instructions): hypervisors often hide some of them, and a
# CPU name must not be refused for those.
_UNUSED_FEATURES = frozenset((
    "clflushopt", "cldemote", "clwb", "enqcmd", "fsgsbase", "hreset", "invpcid", "kl", "lwp",
    "movdir64b", "movdiri", "mwaitx", "pconfig", "pku", "ptwrite", "rdpid", "rdpru", "rdrnd",
    "rdseed", "rtm", "serialize", "sgx", "shstk", "tsxldtrk", "uintr", "usermsr", "waitpkg",
    "wbnoinvd", "widekl", "xsave", "xsavec", "xsaveopt", "xsaves",
))


def _inlined(llvm: Any, tm: Any, triple: str, cpu: str, features: str,
             callees: list[str]) -> list[bool]:
    """Whether LLVM inlines a function of CPU ``cpu`` and features ``callees[k]`` into one of
    ``cpu`` and ``features``, for each k (all in one module, one O1 run)."""
    mod = llvm.parse_assembly(_PROBE.format(
        triple=triple, cpu=cpu, features=features,
        callees="\n".join(f"define internal void @f{k}() #{k + 1} {{\n"
                          f"  store volatile i32 {k}, ptr @sink\n  ret void\n}}"
                          for k in range(len(callees))),
        calls="".join(f"  call void @f{k}()\n" for k in range(len(callees))),
        attributes="\n".join(f'attributes #{k + 1} = {{ "target-cpu"="{cpu}" '
                             f'"target-features"="{f}" }}' for k, f in enumerate(callees))))
    mod.verify()
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=1))
    pb.getModulePassManager().run(mod, pb)
    text = str(mod)
    return [f"@f{k}(" not in text for k in range(len(callees))]


def missing_features(llvm: Any, tm: Any, triple: str, cpu: str,
                     host: dict[str, bool]) -> list[str]:
    """The features that LLVM's CPU ``cpu`` has and ``host`` (LLVM's report of a machine's
    features, name: present) says are absent, but those of ``_UNUSED_FEATURES``.

    Only features LLVM detects on a machine can be compared: the rest are tuning flags
    (ermsb, slow-*, ...) or have no detection, and are taken as present.
    """
    absent = sorted(f for f, on in host.items() if not on and f not in _UNUSED_FEATURES)
    if not absent:
        return []
    # the usual answer in one question: the CPU inlines into itself without those features
    # (turning off a feature it lacks changes nothing)
    if _inlined(llvm, tm, triple, cpu, ",".join(f"-{f}" for f in absent), [""])[0]:
        return []
    # which ones, for the message: the CPU plus the feature inlines into the CPU when it has
    # that feature already
    has = _inlined(llvm, tm, triple, cpu, "", [f"+{f}" for f in absent])
    return [f for f, h in zip(absent, has, strict=True) if h]


def has_feature(llvm: Any, tm: Any, triple: str, cpu: str, features: str, feature: str
                ) -> bool:
    """Whether code for ``cpu`` and ``features`` (a feature string; "" for the CPU's own) may
    use ``feature``: read from the string when it names the feature, else asked of LLVM's
    inliner, as in :func:`missing_features` (a CPU with the feature takes a callee that
    adds it)."""
    said = {f[1:]: f[0] == "+" for f in features.split(",") if f[:1] in "+-" and f[1:]}
    if feature in said:
        return said[feature]
    # feature names are per architecture: another's would only make LLVM complain
    return triple.startswith("x86_64") and _inlined(llvm, tm, triple, cpu, features,
                                                   [f"+{feature}"])[0]


def target_cpu(llvm: Any, target: Any, triple: str, name: str) -> tuple[str, str]:
    """The CPU name and feature string to compile for: this machine's when ``name`` is ""
    (LAZYARR_CPU unset or "host"), else ``name`` with the features LLVM gives that CPU.

    A name LLVM does not know is a ValueError (LLVM would say so on stderr and compile for a
    generic CPU), and so is a CPU with instructions this machine lacks (code for it could
    end the process with SIGILL here).
    """
    if not name:
        return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    tm, said = _llvm_stderr(lambda: target.create_target_machine(cpu=name, features="", opt=3))
    if _UNKNOWN_CPU in said:
        raise ValueError(f"LAZYARR_CPU={name}: LLVM does not know this CPU for {triple} "
                         f"(names as for clang's -march, e.g. haswell, skylake-avx512, "
                         f"x86-64-v3; or host)")
    if said:
        sys.stderr.write(said)  # not LLVM's complaint about the name: someone else's
    missing = missing_features(llvm, tm, triple, name, dict(llvm.get_host_cpu_features()))
    if missing:
        raise ValueError(f"LAZYARR_CPU={name}: this machine ({llvm.get_host_cpu_name()}) "
                         f"lacks {', '.join(missing)} of that CPU, so code compiled for it "
                         f"could end the process with an illegal instruction here")
    return name, ""
