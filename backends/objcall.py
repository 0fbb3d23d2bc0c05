"""Call a kernel with output arrays named by their Python objects, not their addresses.

Asking NumPy for an array's address (``arr.ctypes.data``) costs over a microsecond, more
than a one-element kernel. CPython's ``id`` of an object is its address, and NumPy's array
struct (``PyArrayObject_fields``, public in ``ndarraytypes.h``) starts with the data pointer
right after the object header. So the fast path writes ``id(out)`` into the argument block
and a small compiled entry point, made once per process, replaces each such word by the
data pointer it finds there before calling the kernel. The offset is not assumed: it is
checked against ``ctypes.data`` on a few arrays first, and without a match (another
interpreter or NumPy layout) nothing here is used.
"""

from __future__ import annotations

import ctypes
import hashlib
from typing import Any

import numpy as np

NAME = "lazyarr_call_objects"
# one argument, the address of a record of int64 words: kernel address, block address,
# extent, number of fix-ups, data-pointer offset, then the block slots to fix (a ctypes call
# costs ~0.2 us plus ~0.2 us per argument: one argument is cheapest)
_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
HEADER = 5

_entry: Any = None
_offset: int | None = None
_checked = False


def data_offset() -> int | None:
    """Where an ndarray keeps its data pointer, relative to ``id(array)``; None if the
    layout is not the one expected."""
    head = 2 * ctypes.sizeof(ctypes.c_void_p)  # reference count and type pointer
    probes = (np.empty(3), np.empty((2, 5), np.float32), np.zeros(7, np.int8)[2:])
    for arr in probes:
        if ctypes.c_void_p.from_address(id(arr) + head).value != arr.ctypes.data:
            return None
    return head


def _module(triple: str, layout: str) -> Any:
    from llvmlite import ir

    i64 = ir.IntType(64)
    mod = ir.Module(name=NAME)
    mod.triple, mod.data_layout = triple, layout
    fn = ir.Function(mod, ir.FunctionType(ir.VoidType(), [i64]), NAME)
    entry, loop, done = (fn.append_basic_block(n) for n in ("entry", "loop", "done"))
    b = ir.IRBuilder(entry)
    rec = b.inttoptr(fn.args[0], i64.as_pointer())
    kernel, block, extent, count, offset = (b.load(b.gep(rec, [i64(k)])) for k in range(5))
    words = b.inttoptr(block, i64.as_pointer())
    b.cbranch(b.icmp_signed(">", count, i64(0)), loop, done)
    b.position_at_end(loop)
    i = b.phi(i64)
    i.add_incoming(i64(0), entry)
    slot = b.gep(words, [b.load(b.gep(rec, [b.add(i, i64(HEADER))]))])
    obj = b.load(slot)
    b.store(b.load(b.inttoptr(b.add(obj, offset), i64.as_pointer())), slot)
    nxt = b.add(i, i64(1))
    i.add_incoming(nxt, loop)
    b.cbranch(b.icmp_signed("<", nxt, count), loop, done)
    b.position_at_end(done)
    byte_ptr = ir.IntType(8).as_pointer()
    target = b.inttoptr(kernel, ir.FunctionType(ir.VoidType(), [byte_ptr, i64, i64]).as_pointer())
    b.call(target, [b.inttoptr(block, byte_ptr), i64(0), extent])
    b.ret_void()
    return mod


def record(kernel: Any, block_address: int, extent: int, slots: list[int],
           offset: int) -> np.ndarray:
    """The argument record of one launch (keep it alive while it may be called)."""
    return np.array([ctypes.cast(kernel, ctypes.c_void_p).value, block_address, extent,
                     len(slots), offset, *slots], dtype=np.int64)


def entry() -> tuple[Any, int] | None:
    """The compiled entry point and the data-pointer offset, or None where the array
    layout check failed. Compiled on first use (the JIT is loaded by then)."""
    global _entry, _offset, _checked
    if not _checked:
        from . import cpu

        with cpu._lock:
            if not _checked:
                _offset = data_offset()
                if _offset is not None:
                    _entry = _compile(cpu.jit())
                _checked = True
    return None if _entry is None or _offset is None else (_entry, _offset)


def _compile(jit: Any) -> Any:
    """Load the entry point, from the disk cache when it is there: the first code generation
    in a process costs ~15 ms, more than a whole warm start should."""
    from . import diskcache

    text = str(_module(jit.triple, jit.layout))
    key = None
    if diskcache.enabled():
        key = diskcache.entry_key(hashlib.sha256(text.encode()).hexdigest(), jit.host)

    def make() -> bytes:  # no optimisation pipeline: a handful of instructions
        mod = jit.llvm.parse_assembly(text)
        mod.verify()
        return jit.tm.emit_object(mod)

    return _TYPE(jit.link_cached(key, NAME, make))
