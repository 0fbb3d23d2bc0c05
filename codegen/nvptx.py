"""NVIDIA GPU wrapper: the same scalar body inside a grid-stride loop, emitted as PTX.

``void name(i64 *args)``: every thread walks the flat index space with stride
``gridDim.x * blockDim.x`` and unravels its flat index into the kernel's dimensions, so any
grid size covers any problem size and the bounds guard is the loop condition itself.
"""

from __future__ import annotations

from llvmlite import ir

from lazyarr import ops
from lazyarr.graph import Op
from lazyarr.loopir import Kernel

from .common import ArgBlock, counted_loop
from .scalar import EMITTERS, I8, I32, I64, emit_body, from_memory, memory_type, to_memory

TRIPLE = "nvptx64-nvidia-cuda"
DATA_LAYOUT = "e-i64:64-i128:128-v16:16-v32:32-n16:32:64"


class UnsupportedOnTarget(NotImplementedError):  # noqa: N818 (public name, used elsewhere)
    """The kernel uses an op this target cannot lower (checked before LLVM sees it)."""


# The only functions a kernel module may declare. Each lowers to PTX instructions for f32 and
# f64 (tests/test_ptx.py emits and assembles every one). Any other declaration would be libm:
# NVPTX has none, and LLVM then aborts the whole process ("Cannot select: fpow", "no libcall
# available for flog2") or leaves a call that ptxas rejects.
_LOWERED = frozenset(
    f"llvm.{name}.{ty}"
    for name in ("sqrt", "fabs", "floor", "ceil", "trunc", "rint", "copysign")
    for ty in ("f32", "f64")
)
_LOWERED_PREFIXES = ("llvm.nvvm.read.ptx.sreg.", "llvm.fptosi.sat.", "llvm.fptoui.sat.")


def check_supported(kernel: Kernel) -> None:
    """Refuse, by the op tables, a kernel this wrapper cannot compile (before any LLVM)."""
    for ins in kernel.body:
        if ins.op in (Op.LEAF, Op.SCALAR, Op.CAST):
            continue
        if ins.op not in EMITTERS:
            # reductions (and any op without a scalar emitter) need a wrapper this grid-stride
            # loop is not; emit_body would fail with a bare KeyError
            raise UnsupportedOnTarget(
                f"cannot compile for CUDA: {ins.op.value} kernels are not supported on the "
                "CUDA target yet")
        loop_dtype = kernel.body[ins.args[-1]].dtype
        reason = ops.target_support(ins.op, loop_dtype, "nvptx")
        if reason:
            raise UnsupportedOnTarget(f"cannot compile for CUDA: {reason}")


def check_module(module: ir.Module) -> None:
    """Refuse a built module that LLVM's NVPTX backend would abort on or get wrong.

    A second line of defence behind :func:`check_supported`: it looks at what the emitters
    actually produced, so an emitter that starts calling a new libm function, or an op table
    row that forgets a rule, fails here with a Python exception instead of killing the process.
    """
    for fn in module.functions:
        if fn.is_declaration and fn.name not in _LOWERED \
                and not fn.name.startswith(_LOWERED_PREFIXES):
            raise UnsupportedOnTarget(
                f"cannot compile for CUDA: the kernel calls {fn.name}, a math routine the "
                "CUDA target does not have yet")
        for block in fn.blocks:
            for ins in block.instructions:
                # NVPTX does lower frem, but as x - trunc(x / y) * y: fmod(1e17, 3) comes out
                # 4.0 instead of 1.0, and an overflowing x / y gives -inf. NumPy's float % and
                # // need the exact remainder.
                if ins.opname == "frem":
                    raise UnsupportedOnTarget(
                        "cannot compile for CUDA: floating-point remainder (frem) has no "
                        "exact lowering on the CUDA target yet")


def _sreg(b: ir.IRBuilder, name: str) -> ir.Value:
    fn = b.module.globals.get(name) or ir.Function(b.module, ir.FunctionType(I32, []), name)
    return b.zext(b.call(fn, []), I64)


def build_module(kernel: Kernel, name: str) -> ir.Module:
    check_supported(kernel)
    module = ir.Module(name=name)
    module.triple, module.data_layout = TRIPLE, DATA_LAYOUT
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ir.PointerType()]), name)
    fn.args[0].add_attribute("noalias")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    blk = ArgBlock(b, fn.args[0], kernel)
    total = I64(1)
    for n in blk.shape:
        total = b.mul(total, n)
    tid = b.add(b.mul(_sreg(b, "llvm.nvvm.read.ptx.sreg.ctaid.x"),
                      _sreg(b, "llvm.nvvm.read.ptx.sreg.ntid.x")),
                _sreg(b, "llvm.nvvm.read.ptx.sreg.tid.x"))
    stride = b.mul(_sreg(b, "llvm.nvvm.read.ptx.sreg.nctaid.x"),
                   _sreg(b, "llvm.nvvm.read.ptx.sreg.ntid.x"))
    counted_loop(b, tid, total, stride, lambda flat: _element(b, blk, kernel, flat), "flat")
    b.ret_void()
    md = module.add_named_metadata("nvvm.annotations")
    md.add(module.add_metadata([fn, ir.MetaDataString(module, "kernel"), I32(1)]))
    check_module(module)
    return module


def _element(b: ir.IRBuilder, blk: ArgBlock, kernel: Kernel, flat: ir.Value) -> None:
    offsets = [I64(0)] * len(blk.ptrs)
    rest = flat
    for d in reversed(range(kernel.ndim)):
        idx = b.urem(rest, blk.shape[d]) if d else rest
        rest = b.udiv(rest, blk.shape[d]) if d else rest
        offsets = [b.add(o, b.mul(idx, s[d])) for o, s in zip(offsets, blk.strides, strict=True)]
    ptrs = [b.gep(p, [o], source_etype=I8) for p, o in zip(blk.ptrs, offsets, strict=True)]

    def load(k: int) -> ir.Value:
        dt = kernel.inputs[k].dtype
        return from_memory(b, b.load(ptrs[k], typ=memory_type(dt)), dt)

    values = emit_body(b, kernel, "nvptx", load, blk.scalars, blk.status)
    for k, (v, (_, prm)) in enumerate(zip(values, kernel.outputs, strict=True)):
        b.store(to_memory(b, v, prm.dtype), ptrs[len(kernel.inputs) + k])


_ptx_target = None


def _target_machine():
    global _ptx_target
    if _ptx_target is None:
        import llvmlite.binding as llvm

        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        target = llvm.Target.from_triple(TRIPLE)
        _ptx_target = target.create_target_machine(cpu="sm_90", opt=3)
    return _ptx_target


def emit_ptx(kernel: Kernel, name: str = "lazyarr_kernel") -> str:
    """PTX text for ``kernel`` (for sm_90); refuses unsupported ops before LLVM runs."""
    import llvmlite.binding as llvm

    mod = llvm.parse_assembly(str(build_module(kernel, name)))
    mod.verify()
    tm = _target_machine()
    # the target's own layout (LLVM 22 adds entries such as p6 and i256 to DATA_LAYOUT), so
    # the optimiser and the code generator agree on it
    mod.data_layout = str(tm.target_data)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    pb.getModulePassManager().run(mod, pb)
    return tm.emit_assembly(mod)
