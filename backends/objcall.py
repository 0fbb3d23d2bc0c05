"""Small launches as builtin functions: a kernel call that costs what a NumPy ufunc call does.

A ctypes call costs ~0.4 us, asking NumPy for an array's address (``arr.ctypes.data``) over
a microsecond, ``np.empty`` ~0.3 us and checking an ``out=`` array's flags and strides
~0.25 us: together more than a kernel over a thousand elements. So a repeated small
evaluation calls a builtin function instead (a ``PyCFunction``, called by the interpreter
like ``len``): a compiled entry point, made once per process, bound to one launch's record.
It takes the output arrays as Python objects (or, for a launch with one fresh output, makes
it through NumPy's C API), writes their data pointers into the kernel's argument block (or
checks that the ``out=`` arrays already there are unchanged and writeable), runs the kernel
on the calling thread and returns the first output.

What this relies on is checked, not assumed: ``id`` of an object is its address; NumPy's
array struct (``PyArrayObject_fields``, public in ``ndarraytypes.h``) keeps the data
pointer, dimension count, strides and flags where ``lazyarr.ir.arraystruct.layout`` expects
them (compared with what NumPy reports for a few arrays); NumPy's C API table (``_ARRAY_API``,
``__multiarray_api.h``) holds ``PyArray_Type`` at slot 2 and ``PyArray_New`` at slot 93 (the
type compared with ``id(np.ndarray)``, the function called once through ctypes). Without
the layout, or on an interpreter without a GIL, nothing here is used and the fast path
calls kernels through ctypes; without the table, outputs come from ``np.empty``.

The builtin holds the GIL from start to end (it never runs Python code), so calls of one
launch never interleave: its argument block needs no lock.
"""

from __future__ import annotations

import ctypes
import hashlib
import sysconfig
from typing import Any

import numpy as np

from lazyarr.ir.arraystruct import LAYOUT, StructOffsets
from lazyarr.ir.loop import NEGATIVE_POWER

from . import stats

NAME = "lazyarr_call_launch"
METH_FASTCALL = 0x0080
# a record's words: kernel address, argument block address, extent of the outer loop, number
# of output slots, status word address, launch counter (stats.direct_hits); the interpreter's
# functions and objects the entry uses; for a launch that makes its one output: PyArray_New
# (else 0), the ndarray type, the output's dimension count and type number. Then the block
# slots that receive the outputs' data pointers, in argument order, and the output's shape.
# For ``out=`` arrays passed to be checked: their number, where their entries start, False.
(KERNEL, BLOCK, EXTENT, COUNT, STATUS, HITS, SET_ERROR, VALUE_ERROR, POWER_MESSAGE, INCREF,
 DECREF, NONE, TYPE_ERROR, COUNT_MESSAGE, NEW, NDARRAY, NDIM, TYPE_NUM, FIXED, CHECKS, FALSE,
 HEADER) = range(22)
WRITEABLE = 0x0400  # NPY_ARRAY_WRITEABLE
_TABLE_TYPE, _TABLE_NEW = 2, 93  # PyArray_Type, PyArray_New in NumPy's C API table

_POWER_MESSAGE = ctypes.create_string_buffer(NEGATIVE_POWER.encode())
_COUNT_MESSAGE = ctypes.create_string_buffer(b"lazyarr launch: wrong number of output arrays")


class _MethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef``."""
    _fields_ = [("name", ctypes.c_char_p), ("meth", ctypes.c_void_p), ("flags", ctypes.c_int),
                ("doc", ctypes.c_char_p)]


_entry: _MethodDef | None = None  # kept for the life of the process: builtins point to it
_layout: StructOffsets | None = None
_new_array = 0  # PyArray_New's address, 0 when the C API table did not check out
_process_words: list[int] = []  # set by entry(): see _words_of_the_process
_checked = False

_api = ctypes.pythonapi
_new_builtin = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.py_object,
                                 ctypes.c_void_p)(("PyCFunction_NewEx", _api))
_capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", _api))
_PyArrayNew = ctypes.PYFUNCTYPE(
    ctypes.py_object, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int,
    ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def array_new() -> int:
    """``PyArray_New``'s address from NumPy's C API table, after a trial call; 0 where the
    table is not the one expected."""
    try:
        table = _capsule_pointer(np._core.multiarray._ARRAY_API, None)
        words = (ctypes.c_void_p * (_TABLE_NEW + 1)).from_address(table)
        if words[_TABLE_TYPE] != id(np.ndarray):
            return 0
        dims = (ctypes.c_int64 * 2)(3, 5)
        probe = _PyArrayNew(words[_TABLE_NEW])(id(np.ndarray), 2, ctypes.addressof(dims),
                                               np.dtype(np.float32).num, None, None, 0, 0,
                                               None)
    except (AttributeError, ValueError, TypeError):
        return 0
    ok = type(probe) is np.ndarray and probe.shape == (3, 5) and \
        probe.dtype == np.float32 and probe.flags.c_contiguous and probe.flags.writeable
    return words[_TABLE_NEW] if ok else 0


class _Entry:
    """Builds ``PyObject *entry(PyObject *record, PyObject *const *args, Py_ssize_t nargs)``
    in addresses (i64) throughout: it moves words and calls what the record names."""

    def __init__(self, ir: Any, fn: Any, layout: StructOffsets) -> None:
        self.ir, self.fn, self.layout = ir, fn, layout
        self.i64, self.i32 = ir.IntType(64), ir.IntType(32)
        self.b = ir.IRBuilder(fn.append_basic_block("entry"))
        self.this, self.args, self.nargs = fn.args
        self.rec = self.word(self.b.add(self.this, self.i64(layout.data)))

    def block(self, name: str) -> Any:
        return self.fn.append_basic_block(name)

    def at(self, name: str) -> Any:
        """A new block, and the builder in it."""
        block = self.block(name)
        self.b.position_at_end(block)
        return block

    def word(self, address: Any, index: Any = 0, ty: Any = None) -> Any:
        """The ``ty`` (i64) word at ``address`` + 8 * ``index``."""
        b, i64 = self.b, self.i64
        step = i64(8 * index) if isinstance(index, int) else b.mul(index, i64(8))
        return b.load(b.inttoptr(b.add(address, step), (ty or i64).as_pointer()))

    def field(self, index: Any) -> Any:
        return self.word(self.rec, index)

    def member(self, array: Any, offset: int, ty: Any = None) -> Any:
        """A field of the array struct at ``array``."""
        return self.word(self.b.add(array, self.i64(offset)), 0, ty)

    def call(self, index: int, args: list, ret: Any = None) -> Any:
        """Call the function whose address is record word ``index``."""
        ir = self.ir
        ty = ir.FunctionType(ret or ir.VoidType(), [a.type for a in args])
        return self.b.call(self.b.inttoptr(self.field(index), ty.as_pointer()), args)

    def raise_error(self, error: int, message: int) -> None:
        self.call(SET_ERROR, [self.field(error), self.field(message)])
        self.b.ret(self.i64(0))

    def give(self, obj: Any) -> None:
        """Return a new reference to ``obj``."""
        self.call(INCREF, [obj])
        self.b.ret(obj)

    def store_data(self, array: Any, slot: Any) -> None:
        """Block word ``slot`` = the data pointer of ``array``."""
        b, i64 = self.b, self.i64
        b.store(self.member(array, self.layout.data),
                b.inttoptr(b.add(self.field(BLOCK), b.mul(slot, i64(8))), i64.as_pointer()))

    def counted_loop(self, name: str, count: Any, body: Any) -> Any:
        """``for (i = 0; i < count; i++) body(i)`` from the current block; ``body`` may
        branch away (it ends where the loop goes on). Returns the block the loop leaves.
        (Not ``codegen.common.counted_loop``: importing codegen costs 26 ms, and this module
        is built in every process that goes direct, disk cache or not.)"""
        b, i64 = self.b, self.i64
        before = b.block
        head = self.at(name)
        b.position_at_end(before)
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(i64)
        i.add_incoming(i64(0), before)
        body_block, leave = self.block(name + ".body"), self.block(name + ".end")
        b.cbranch(b.icmp_signed("<", i, count), body_block, leave)
        b.position_at_end(body_block)
        body(i)
        i.add_incoming(b.add(i, i64(1)), b.block)
        b.branch(head)
        b.position_at_end(leave)
        return leave

    def check_fixed(self, stale: Any) -> None:
        """The ``out=`` arrays passed are the launch's own, writeable, with the strides they
        had when it was bound; else to ``stale``. Entries: id, ndim, strides."""
        b, i64, i32 = self.b, self.i64, self.i32
        pos = b.alloca(i64)
        b.store(self.field(CHECKS), pos)

        def one(k: Any) -> None:
            at = b.load(pos)
            obj = self.word(self.args, k)
            fields = self.block("check.fields")
            b.cbranch(b.icmp_signed("==", obj, self.field(at)), fields, stale)
            b.position_at_end(fields)  # the executor holds this array: its fields are safe
            writeable = b.and_(self.member(obj, self.layout.flags, i32), i32(WRITEABLE))
            nd = b.sext(self.member(obj, self.layout.nd, i32), i64)
            same = b.and_(b.icmp_signed("!=", writeable, i32(0)),
                          b.icmp_signed("==", nd, self.field(b.add(at, i64(1)))))
            strides = self.block("check.strides")
            b.cbranch(same, strides, stale)
            b.position_at_end(strides)
            pointer = self.member(obj, self.layout.strides)

            def stride(j: Any) -> None:
                ok = self.block("check.stride.ok")
                want = self.field(b.add(at, b.add(j, i64(2))))
                b.cbranch(b.icmp_signed("==", self.word(pointer, j), want), ok, stale)
                b.position_at_end(ok)

            self.counted_loop("check.stride", nd, stride)
            b.store(b.add(at, b.add(nd, i64(2))), pos)

        self.counted_loop("check", self.field(FIXED), one)


def _module(triple: str, data_layout: str, layout: StructOffsets) -> Any:
    from llvmlite import ir

    mod = ir.Module(name=NAME)
    mod.triple, mod.data_layout = triple, data_layout
    i64 = ir.IntType(64)
    e = _Entry(ir, ir.Function(mod, ir.FunctionType(i64, [i64, i64, i64]), NAME), layout)
    b = e.b
    count, fixed = e.field(COUNT), e.field(FIXED)
    given, make, wrong, checked, stale = (e.block(n) for n in
                                          ("given", "make", "wrong", "checked", "stale"))
    # nargs == count + fixed: outputs to fix (and arrays to check); 0 when it makes one
    b.cbranch(b.icmp_signed("==", e.nargs, b.add(count, fixed)), checked, e.block("make?"))
    b.position_at_end(b.function.blocks[-1])
    b.cbranch(b.and_(b.icmp_signed("==", e.nargs, i64(0)),
                     b.icmp_signed("!=", e.field(NEW), i64(0))), make, wrong)
    b.position_at_end(wrong)
    e.raise_error(TYPE_ERROR, COUNT_MESSAGE)
    b.position_at_end(stale)
    e.give(e.field(FALSE))

    b.position_at_end(checked)
    e.check_fixed(stale)
    b.branch(given)
    b.position_at_end(given)  # block[slot i] = data pointer of args[i]
    looped = e.counted_loop("slots", count, lambda i: e.store_data(
        e.word(e.args, i), e.field(b.add(i, i64(HEADER)))))
    run = e.block("run")
    b.branch(run)

    b.position_at_end(make)  # the one output, made here: PyArray_New(ndarray, nd, dims, type)
    i32 = ir.IntType(32)
    dims = b.add(e.rec, b.mul(b.add(count, i64(HEADER)), i64(8)))
    made = e.call(NEW, [e.field(NDARRAY), b.trunc(e.field(NDIM), i32), dims,
                        b.trunc(e.field(TYPE_NUM), i32), i64(0), i64(0), i32(0), i32(0),
                        i64(0)], i64)
    ok = e.block("made")
    b.cbranch(b.icmp_signed("==", made, i64(0)), e.block("no memory"), ok)
    b.position_at_end(b.function.blocks[-1])
    b.ret(i64(0))  # PyArray_New set MemoryError
    b.position_at_end(ok)
    e.store_data(made, e.field(HEADER))
    b.branch(run)

    b.position_at_end(run)
    new = b.phi(i64)  # the array made here, or 0
    new.add_incoming(i64(0), looped)
    new.add_incoming(made, ok)
    _run(e, new)
    return mod


def _run(e: _Entry, new: Any) -> None:
    """Run the kernel; raise if it set its status, else count the hit and return the array
    made (``new``, when not 0), args[0], or None."""
    b, i64, i32 = e.b, e.i64, e.i32
    e.call(KERNEL, [e.field(BLOCK), i64(0), e.field(EXTENT)])
    status = b.inttoptr(e.field(STATUS), i32.as_pointer())
    failed, done = e.block("failed"), e.block("done")
    b.cbranch(b.icmp_signed("!=", b.load(status), i32(0)), failed, done)
    b.position_at_end(failed)
    b.store(i32(0), status)
    with b.if_then(b.icmp_signed("!=", new, i64(0))):
        e.call(DECREF, [new])
    e.raise_error(VALUE_ERROR, POWER_MESSAGE)

    b.position_at_end(done)
    hits = b.inttoptr(e.field(HITS), i64.as_pointer())
    b.store(b.add(b.load(hits), i64(1)), hits)
    made, given = e.block("return.made"), e.block("return.given")
    b.cbranch(b.icmp_signed("!=", new, i64(0)), made, given)
    b.position_at_end(made)
    b.ret(new)
    b.position_at_end(given)
    first, none = e.block("return.first"), e.block("return.none")
    b.cbranch(b.icmp_signed(">", e.nargs, i64(0)), first, none)
    b.position_at_end(first)  # args may be NULL when nargs is 0: no load before
    e.give(e.word(e.args))
    b.position_at_end(none)
    e.give(e.field(NONE))


def _address(obj: Any) -> int:
    return ctypes.cast(obj, ctypes.c_void_p).value


def bind(kernel: Any, block_address: int, extent: int, status_address: int,
         slots: list[int], make: tuple[tuple[int, ...], np.dtype] | None = None,
         fixed: tuple[np.ndarray, ...] = ()) -> Any:
    """A builtin running ``kernel`` on its argument block over ``[0, extent)``: called with
    one output array per slot in ``slots``, it returns the first of them, or raises
    ValueError when the kernel set its status word (and clears it). Each call that ran
    counts a cache hit. With ``make`` (shape and dtype of a launch's one output) it may also
    be called with no argument, and returns the output it made. With ``fixed``, the
    ``out=`` arrays already in the block (no ``slots`` then), it is called with those
    arrays: it returns the first, or False without running when one is not the same
    object, not writeable or has other strides than now. Only for launches small enough
    to run on the calling thread, after :func:`entry` returned True."""
    assert not (slots and fixed), "fresh outputs or out= arrays, not both"
    words = list(_process_words)
    words[KERNEL], words[BLOCK], words[EXTENT] = _address(kernel), block_address, extent
    words[COUNT], words[STATUS] = len(slots), status_address
    shape: tuple[int, ...] = ()
    if make is not None and _new_array and len(slots) == 1:
        shape, dtype = make
        words[NEW], words[NDIM], words[TYPE_NUM] = _new_array, len(shape), dtype.num
    checks: list[int] = []
    for out in fixed:  # the caller keeps them alive (ids stay theirs)
        checks += [id(out), out.ndim, *out.strides]
    words[FIXED] = len(fixed)
    words[CHECKS] = HEADER + len(slots) + len(shape)
    record = np.array(words + list(slots) + list(shape) + checks, dtype=np.int64)
    return _new_builtin(ctypes.addressof(_entry), record, None)  # it holds the record


def _words_of_the_process() -> list[int]:
    """A record's words that every launch of this process shares: the interpreter's
    functions and objects, the messages, the hit counter."""
    words = [0] * HEADER
    words[HITS] = stats.direct_hits.ctypes.data
    words[SET_ERROR] = _address(_api.PyErr_SetString)
    words[INCREF], words[DECREF] = _address(_api.Py_IncRef), _address(_api.Py_DecRef)
    words[VALUE_ERROR], words[POWER_MESSAGE] = id(ValueError), ctypes.addressof(_POWER_MESSAGE)
    words[TYPE_ERROR], words[COUNT_MESSAGE] = id(TypeError), ctypes.addressof(_COUNT_MESSAGE)
    words[NONE], words[NDARRAY], words[FALSE] = id(None), id(np.ndarray), id(False)
    return words


def makes_outputs() -> bool:
    """Whether builtins bound with ``make`` may be called without arguments."""
    return bool(_new_array)


def entry() -> bool:
    """Whether :func:`bind` may be used here: compiled on first use (the JIT is loaded by
    then), False where the array layout check failed or the interpreter has no GIL."""
    global _entry, _layout, _new_array, _checked
    if not _checked:
        from . import cpu_jit

        with cpu_jit.JIT_LOCK:
            if not _checked:
                _layout = LAYOUT
                if _layout is not None and not sysconfig.get_config_var("Py_GIL_DISABLED"):
                    _new_array = array_new()
                    _process_words[:] = _words_of_the_process()
                    address = _compile(cpu_jit.jit(), _layout)
                    _entry = _MethodDef(NAME.encode(), address, METH_FASTCALL, None)
                _checked = True
    return _entry is not None and _layout is not None


def _compile(jit: Any, offsets: StructOffsets) -> int:
    """The entry point's address, from the disk cache when it is there: the first code
    generation in a process costs ~15 ms, more than a whole warm start should."""
    from . import diskcache

    text = str(_module(jit.triple, jit.layout, offsets))
    key = None
    if diskcache.enabled():
        key = diskcache.entry_key(hashlib.sha256(text.encode()).hexdigest(), jit.host)

    def make() -> bytes:  # no optimisation pipeline: a handful of instructions
        mod = jit.llvm.parse_assembly(text)
        mod.verify()
        return jit.tm.emit_object(mod)

    return jit.link_cached(key, NAME, make)
