"""Repeated evaluations of one expression: skip scheduling, lowering and argument packing.

Nodes are interned, so writing the same expression over the same arrays again gives the same
root node, as long as that node is still alive. The last few evaluated roots are kept alive
here (``RECENT`` of them), and each root maps to an :class:`Executor`: the compiled kernel
and its argument block, packed once. A repeated evaluation then allocates its outputs,
writes them into the block and calls the kernel.

Keeping roots alive keeps their captured arrays alive until ``RECENT`` other expressions have
been evaluated (or ``lazyarr.clear_cache()``): the price of the fast path. The lazy arrays
operators returned (``wrappers``) are kept on the same terms.

Small launches (run on the calling thread) become builtin functions
(:mod:`lazyarr.backends.objcall`) from their second call: the interpreter calls compiled
code that makes the output, fills in its address and runs the kernel.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from lazyarr.backends import cpu
from lazyarr.config import settings
from lazyarr.ir.graph import OPAQUE, Buffer, Node, remember
from lazyarr.ir.loop import NEGATIVE_POWER, Launch, pack_args
from lazyarr.plan import cpu_passes
from lazyarr.plan.lower import lower
from lazyarr.plan.schedule import is_view_of_leaf, schedule
from lazyarr.run import outputs, rebind, stats
from lazyarr.run.arraystruct import data_pointer
from lazyarr.run.runtime import check_outputs_disjoint, unsafe_outputs
from lazyarr.run.stats import counts

RECENT = 8
PER_ROOT = 4  # executors kept per root (fresh results, and a few ``out=`` targets)

# the last RECENT distinct expressions evaluated, oldest first: id of the first root -> roots.
# Distinct, not the last RECENT calls: a loop evaluating one expression many times must not
# push out the expression evaluated just before it.
_recent: dict[int, tuple[Node, ...]] = {}
_newest: list[Node | None] = [None]  # first root of the newest entry (a cheap "still newest")


def _keep(roots: tuple[Node, ...]) -> None:
    first = roots[0]
    if _newest[0] is first:
        return
    key = id(first)  # safe: an entry holds its roots, so the id is not reused meanwhile
    _recent.pop(key, None)
    _recent[key] = roots
    _newest[0] = first
    if len(_recent) > RECENT:
        del _recent[next(iter(_recent))]
        wrappers.clear()  # they may belong to the expression that left


# The lazy arrays that memoised operations returned, by memo key (see array.wrapper_get),
# at most WRAPPERS of them, and none older than the last expression that left ``_recent``:
# a loop body's operators find theirs, and what they hold is released about as soon as the
# fast path releases its roots.
WRAPPERS = 64
wrappers: dict[tuple, Any] = {}


def keep_wrapper(key: tuple, wrapper: Any) -> None:
    wrappers[key] = wrapper
    if len(wrappers) > WRAPPERS:
        try:  # noqa: SIM105 (contextlib.suppress costs 0.4 us more on every new operation)
            del wrappers[next(iter(wrappers))]
        except (KeyError, RuntimeError, StopIteration):
            pass  # another thread trimmed it meanwhile


# id of the first root -> its executors; entries leave when that root dies
_executors: dict[int, list[Executor]] = {}
_singles: dict[int, Executor] = {}  # the same, for one root evaluated to a fresh result
_singles_get = _singles.get
# id of the first of expressions last evaluated into ``out=`` arrays -> (weak references to
# the expressions, executor); the executor's roots are them fitted to ``out`` (cast, broadcast)
_into: dict[int, tuple[tuple[weakref.ref, ...], Executor]] = {}


@dataclass(slots=True, eq=False)
class Executor:
    # weak: a strong reference would keep the roots, and every array they read, alive
    roots: tuple[weakref.ref, ...]
    results: tuple[tuple[tuple[int, ...], np.dtype], ...]  # shape and dtype of each output
    launch: Launch  # keeps the captured arrays of the argument block alive
    fn: Any  # ctypes kernel
    block: np.ndarray
    status: Any  # ctypes view of the status word the kernel sets on error
    out_slots: list[int]
    call: Callable[[object, int, int], None]
    # ``out=`` arrays, fixed in the block, and their strides then (``arr.shape = ...``
    # and ``arr.strides = ...`` change an array in place: identity alone is not enough)
    outs: tuple[np.ndarray, ...] | None = None
    out_strides: tuple[tuple[int, ...], ...] = ()
    # for small launches (run on the calling thread): a builtin that runs the kernel
    # (:mod:`lazyarr.backends.objcall`), called with the fresh outputs or the ``out=``
    # arrays (which it checks as ``same_outs`` does)
    direct: Any = None
    # and for one fresh output: a call of no arguments returning that output
    one: Callable[[], np.ndarray] | None = None
    # a small launch not yet direct: it goes direct on its second call (so that a one-off
    # evaluation never waits for the objcall entry point)
    pending: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    address: int = 0  # of ``block``

    def matches(self, roots: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None) -> bool:
        if [r() for r in self.roots] != list(roots):  # nodes compare by identity
            return False
        if self.outs is None or outs is None:
            return self.outs is outs
        return self.same_outs(outs)

    def same_outs(self, outs: tuple[np.ndarray, ...] | list[np.ndarray]) -> bool:
        """``outs`` are this executor's ``out=`` arrays, unchanged and writeable."""
        return list(map(id, outs)) == list(map(id, self.outs)) and \
            _strides(outs) == self.out_strides and all(o.flags.writeable for o in outs)

    def __call__(self, made: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Run the launch. ``made``: the outputs ``_build`` lowered against (fresh ones it
        allocated, or the ``out=`` arrays)."""
        fresh = self.outs is None
        if made is not None:
            outs = made
        elif fresh:
            outs = [outputs.empty(shape, dtype) for shape, dtype in self.results]
        else:
            outs = list(self.outs)
        if self.direct is not None:  # holds the GIL throughout: no lock; counts its hits
            self._direct(outs)
        else:
            self._through_ctypes(outs, fresh)
        return outs

    def _direct(self, outs: list[np.ndarray]) -> None:
        if self.direct(*outs) is False:  # callers checked them: another thread changed them
            raise ValueError("eval: an out= array changed while it was being evaluated into")

    def _through_ctypes(self, outs: list[np.ndarray], fresh: bool) -> None:
        with self.lock:  # one argument block; ctypes lets other threads run meanwhile
            if self.pending:
                _go_direct(self)
            if self.direct is not None:
                self._direct(outs)
                return
            for slot, out in zip(self.out_slots, outs if fresh else (), strict=False):
                self.block[slot] = data_pointer(out)
            self.call(self.fn, self.address, self.launch.shape[0])
            if self.status[0]:
                self.status[0] = 0
                raise ValueError(NEGATIVE_POWER)
        counts["hits"] += 1


def _fusable(roots: tuple[Node, ...]) -> bool:
    shape = roots[0].shape
    return all(r.shape == shape and r.op not in OPAQUE and not is_view_of_leaf(r)
               for r in roots) and 0 not in shape


def _strides(arrays: tuple[np.ndarray, ...] | list[np.ndarray]) -> tuple[tuple[int, ...], ...]:
    return tuple([x.strides for x in arrays])


def _build(roots: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None
           ) -> tuple[Executor, list[np.ndarray]] | None:
    """An executor for ``roots`` and the outputs lowered against (``outs``, or fresh ones
    that its first call fills)."""
    if not _fusable(roots):
        return None
    targets = list(outs) if outs is not None else \
        [outputs.empty(r.shape, r.dtype) for r in roots]
    found = rebind.structure(roots) if outs is None else None
    template = None if found is None else rebind.find(found)
    if template is not None:  # the same graph over other arrays: lowered before
        launch = rebind.launch_of(template, found, targets)
        return _executor(roots, outs, launch, template.fn), targets
    step = schedule(roots, given=frozenset() if outs is None else frozenset(
        range(len(roots)))).single_kernel()
    if step is None:
        # several steps: the general path's, every time; do not plan again to find out
        if len(roots) == 1:
            remember(_multi_kernel, id(roots[0]), roots[0])
        return None
    launch = cpu_passes.apply(lower(step.trace, targets))
    if outs is not None:
        check_outputs_disjoint(launch)
        if unsafe_outputs(launch):
            return None  # overlapping in- and outputs need a temporary: the general path
    fn = cpu.compiled(launch.kernel).function
    stats.undo_hit()  # the executor's own call counts this evaluation
    if found is not None:
        rebind.record(found, launch, fn)
    return _executor(roots, outs, launch, fn), targets


def _executor(roots: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None, launch: Launch,
              fn: Any) -> Executor:
    block, status = pack_args(launch)
    if outs is None:
        # fresh outputs are written into the block on every call: holding the first ones
        # would keep the caller's first result (and its pooled block) alive with the
        # executor. What follows them (a split reduction's partial states) is scratch
        # memory the block points to: kept.
        launch = replace(launch, outputs=launch.outputs[len(roots):])
    slots = [launch.kernel.args.output(j) for j in range(len(roots))]
    return Executor(tuple(weakref.ref(r) for r in roots),
                    tuple((r.shape, r.dtype) for r in roots), launch, fn, block,
                    (ctypes.c_int32 * 1).from_buffer(status), slots, cpu.call, outs,
                    () if outs is None else _strides(outs), address=data_pointer(block))


def _go_direct(ex: Executor) -> None:
    from lazyarr.backends import objcall

    ex.pending = False
    if not objcall.entry():
        return
    if ex.outs is not None:  # ``out=`` arrays are in the block already: checked, not fixed
        ex.direct = objcall.bind(ex.fn, ex.address, ex.launch.shape[0],
                                 ctypes.addressof(ex.status), [], fixed=ex.outs)
        return
    make = ex.results[0] if len(ex.results) == 1 else None
    direct = ex.direct = objcall.bind(ex.fn, ex.address, ex.launch.shape[0],
                                      ctypes.addressof(ex.status), ex.out_slots, make)
    if make is not None:
        ex.one = direct if objcall.makes_outputs() else lambda: direct(np.empty(*make))


# one-root expressions whose plan has several steps, by id
_multi_kernel: dict[int, weakref.ref] = {}


def _known_multi_kernel(root: Node) -> bool:
    ref = _multi_kernel.get(id(root))
    return ref is not None and ref() is root


def _lookup(roots: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None) -> Executor | None:
    known = _executors.get(id(roots[0]))
    if known is not None:
        for ex in known:
            if ex.matches(roots, outs):
                return ex
    return None


def _remember(ex: Executor, root: Node) -> None:
    key = id(root)
    known = _executors.get(key)
    if known is None or known[0].roots[0]() is not root:
        known = _executors[key] = []
    # the list leaves with its root (ids are reused once an object dies); every executor
    # carries the callback, as evicted ones take theirs with them
    # (callbacks bind what they use: they may run while the interpreter tears modules down)
    ex.roots = (weakref.ref(root, lambda _, k=key, lst=known, f=_forget: f(k, lst)),
                *ex.roots[1:])
    known.insert(0, ex)
    del known[PER_ROOT:]
    if ex.outs is None and len(ex.roots) == 1:
        _singles[key] = ex


def _forget(key: int, known: list[Executor], executors: dict = _executors,
            singles: dict = _singles) -> None:
    if executors.get(key) is known:
        del executors[key]
        singles.pop(key, None)


def try_run(roots: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None = None
             ) -> list[np.ndarray] | None:
    """Results through the fast path, or None when it does not apply."""
    ex = _lookup(roots, outs)
    if ex is None:
        if len(roots) == 1 and _known_multi_kernel(roots[0]):
            return None
        built = _build(roots, outs)
        if built is None:
            return None
        ex, targets = built
        _remember(ex, roots[0])
        _keep(roots)
        results = ex(targets)
        ex.pending = cpu.runs_inline(ex.fn, ex.launch)
        return results
    _keep(roots)
    return ex()


def single(lazy: Any) -> np.ndarray | None:
    """A ``LazyArray`` evaluated with a fresh result when its node was evaluated that way
    before (what ``LazyArray.eval()`` tries first), else None. A builtin launch is handed to
    the array for its next time (``_ready``)."""
    node = lazy._node
    ex = _singles_get(id(node))
    if ex is None or ex.roots[0]() is not node or settings.backend != "cpu" or Buffer.foreign:
        return None
    if _newest[0] is not node:
        _keep((node,))
    one = ex.one
    if one is None:
        return ex()[0]
    lazy._ready = ex
    return one()


def into(nodes: tuple[Node, ...] | list[Node], outs: tuple | list) -> list[np.ndarray] | None:
    """``nodes`` evaluated into ``outs`` when they were last evaluated into the same arrays
    (same shapes and strides, still writeable), else None."""
    entry = _into.get(id(nodes[0]))
    if entry is None or settings.backend != "cpu" or Buffer.foreign:
        return None
    refs, ex = entry
    if [r() for r in refs] != list(nodes) or not _run_into(ex, outs):
        return None
    # the expressions, not the fitted roots: the entry holds the executor itself
    _keep(tuple(nodes))
    return list(outs)


def _run_into(ex: Executor, outs: tuple | list) -> bool:
    """Run ``ex`` if ``outs`` are its ``out=`` arrays, unchanged and writeable (its builtin
    checks that itself, else ``same_outs``); False, without running, if not."""
    if ex.direct is not None:
        return ex.direct(*outs) is not False
    if not ex.same_outs(outs):
        return False
    ex()
    return True


def repeated(exprs: tuple, outs: tuple | list | None) -> list[np.ndarray] | None:
    """``LazyArray`` expressions evaluated as before (fresh results, or into the same
    ``outs``), else None: ``lazyarr.eval``'s own shortcut."""
    try:
        nodes = tuple([e._node for e in exprs])
    except AttributeError:
        return None
    if outs is not None:
        for o in outs:
            if type(o) is not np.ndarray:
                return None
        return into(nodes, outs)
    ex = _lookup(nodes, None)
    if ex is None or settings.backend != "cpu" or Buffer.foreign:
        return None
    _keep(nodes)
    return ex()


def single_into(lazy: Any, out: Any) -> np.ndarray | None:
    """:func:`into` for one ``LazyArray``, in a straight line (which hands a builtin launch
    to the array as :func:`single` does)."""
    node = lazy._node
    entry = _into.get(id(node))
    if entry is None or type(out) is not np.ndarray or settings.backend != "cpu" or \
            Buffer.foreign:
        return None
    refs, ex = entry
    if len(refs) != 1 or refs[0]() is not node or not _run_into(ex, (out,)):
        return None
    if _newest[0] is not node:
        _keep((node,))
    if ex.direct is not None:
        lazy._ready = ex
    return out


def link_into(nodes: list[Node], fitted: list[Node], outs: list[np.ndarray]) -> None:
    """Remember the executor that evaluated ``nodes`` (as ``fitted``) into ``outs``."""
    ex = _lookup(tuple(fitted), tuple(outs))
    if ex is None:
        return
    key = id(nodes[0])
    refs = (weakref.ref(nodes[0], lambda ref, k=key, f=_drop_into: f(k, ref)),
            *map(weakref.ref, nodes[1:]))
    _into[key] = (refs, ex)


def _drop_into(key: int, ref: weakref.ref, into: dict = _into) -> None:
    entry = into.get(key)
    if entry is not None and entry[0][0] is ref:
        del into[key]


def clear() -> None:
    rebind.clear()
    _recent.clear()
    wrappers.clear()
    _newest[0] = None
    _executors.clear()
    _singles.clear()
    _into.clear()
    _multi_kernel.clear()
