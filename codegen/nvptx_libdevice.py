"""NVIDIA's libdevice for the CUDA target: the math lazyarr's own library lacks.

With libdevice bitcode (``emit_ptx(..., libdevice=path)``) the module's libm calls, math
intrinsics and ``frem`` are renamed to libdevice's ``__nv_*`` functions in the IR text
(:func:`legalise_math`), and libdevice is linked in, only the functions used, and internalised
(:func:`link_libdevice`); ``nvptx.py`` then optimises and checks what is left.
"""

from __future__ import annotations

import re
import threading

from lazyarr.ir import ops


def called_names(routine: ops.MathCall) -> tuple[str, str]:
    """The (float64, float32) names under which an emitter calls ``routine`` in a module."""
    if routine.form is ops.Form.INTRINSIC:
        return f"llvm.{routine.libm}.f64", f"llvm.{routine.libm}.f32"
    return routine.libm, routine.libm + "f"  # a C call; frem is C's fmod to libdevice


def routines() -> list[ops.MathCall]:
    """Every routine the op rows call by a C or intrinsic name."""
    return [row.math for row in ops.ROWS.values() if row.math is not None and row.math.libm]


def _libdevice_names() -> dict[str, str]:
    # libdevice provides every routine of the rows as __nv_<C name>[f]; LLVM math intrinsics
    # NVPTX cannot lower (DESIGN.md) are renamed to it too
    names = {}
    for r in routines():
        for name, suffix in zip(called_names(r), ("", "f"), strict=True):
            names[name] = names[r.libm + suffix] = f"__nv_{r.libm}{suffix}"
    return names


LIBDEVICE_NAMES = _libdevice_names()

_FREM = re.compile(r"^(\s*%\S+ = )frem ((?:[a-z]+ )*)(float|double) (\S+), (\S+)\s*$", re.M)
_DECLARE = re.compile(r"^declare .*$", re.M)


def legalise_math(text: str) -> str:
    """Rename libm calls and math intrinsics to libdevice's, and ``frem`` to its fmod."""
    fmod = {"float": "__nv_fmodf", "double": "__nv_fmod"}
    used: set[str] = set()

    def frem(m: re.Match[str]) -> str:
        ty = m.group(3)
        used.add(ty)
        return f"{m.group(1)}call {ty} @{fmod[ty]}({ty} {m.group(4)}, {ty} {m.group(5)})"

    text = _FREM.sub(frem, text)
    pattern = re.compile(r'@"?(' + "|".join(map(re.escape, sorted(
        LIBDEVICE_NAMES, key=len, reverse=True))) + r')"?(?=[\s(])')
    text = pattern.sub(lambda m: "@" + LIBDEVICE_NAMES[m.group(1)], text)
    lines, seen = [], set()
    for line in text.splitlines():
        if _DECLARE.match(line):
            if line in seen:
                continue  # two source names mapped to one libdevice function
            seen.add(line)
        lines.append(line)
    for ty in sorted(used):
        decl = f"declare {ty} @{fmod[ty]}({ty}, {ty})"
        if decl not in seen:
            lines.append(decl)
    return "\n".join(lines) + "\n"


def uses_libdevice(text: str) -> bool:
    return "@__nv_" in text


_libdevice_lock = threading.Lock()
# (libdevice path, the __nv_ declarations a kernel needs) -> bitcode of a small module holding
# just those functions and what they call: parsing all of libdevice (~0.1 s) happens once per
# distinct set of math functions, not once per kernel
_math_modules: dict[tuple[str, frozenset[str]], bytes] = {}
_NV_DECLARE = re.compile(r"^declare [^@]*@__nv_\w+\([^)]*\)$", re.M)


def _math_module(path: str, declarations: frozenset[str], triple: str, layout: str):
    import llvmlite.binding as llvm

    key = (path, declarations)
    bitcode = _math_modules.get(key)
    if bitcode is None:
        with open(path, "rb") as f:
            lib = llvm.parse_bitcode(f.read())
        lib.triple, lib.data_layout = triple, layout
        # linkonce_odr: the linker copies a definition only where something refers to it
        for fn in lib.functions:
            if not fn.is_declaration:
                fn.linkage = llvm.Linkage.linkonce_odr
        stub = llvm.parse_assembly("\n".join(sorted(declarations)))
        stub.triple, stub.data_layout = triple, layout
        stub.link_in(lib)
        bitcode = _math_modules[key] = stub.as_bitcode()
    return llvm.parse_bitcode(bitcode)


def link_libdevice(mod, text: str, path: str, kernel_name: str) -> None:
    """Link the libdevice functions the kernel calls, then make them internal."""
    import llvmlite.binding as llvm

    declarations = frozenset(_NV_DECLARE.findall(text))
    with _libdevice_lock:
        mod.link_in(_math_module(path, declarations, mod.triple, mod.data_layout))
    for fn in mod.functions:
        if not fn.is_declaration and fn.name != kernel_name:
            fn.linkage = llvm.Linkage.internal
