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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lazyarr.backends import cpu, stats
from lazyarr.backends.stats import counts
from lazyarr.config import settings
from lazyarr.ir.arraystruct import data_pointer
from lazyarr.ir.graph import OPAQUE, Buffer, Node, Op
from lazyarr.ir.loop import NEGATIVE_POWER, Launch, pack_args
from lazyarr.plan import cpu_passes
from lazyarr.plan.lower import lower, view_base
from lazyarr.plan.schedule import Plan, is_view_of_leaf, schedule
from lazyarr.run import outputs, rebind
from lazyarr.run.runtime import check_outputs_disjoint, unsafe_outputs

_LEAF, _BROADCAST = Op.LEAF, Op.BROADCAST  # enum attribute lookups are slow in hot code
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
# Python scalars as operands of new operations (lazyarr/front/array.py, the lean path): by
# (dtype, type, value, shape), the scalar node broadcast to the shape. They hold no array.
scalars: dict[tuple, Node] = {}


def keep_wrapper(key: tuple, wrapper: Any) -> None:
    wrappers[key] = wrapper
    if len(wrappers) > WRAPPERS:
        trim_wrappers()


def trim_wrappers() -> None:
    """Drop the oldest kept wrapper (the table went past ``WRAPPERS``)."""
    try:  # noqa: SIM105 (contextlib.suppress costs 0.4 us more on every new operation)
        del wrappers[next(iter(wrappers))]
    except (KeyError, RuntimeError, StopIteration):
        pass  # another thread trimmed it meanwhile


# The one lookup: id of the first expression -> executors of the expressions it leads (fresh
# results, or ``out=`` arrays). Entries leave when that node dies. An entry of NO_KERNEL says
# the expressions need more than one kernel: the general path's, without planning again.
_executors: dict[int, list[Executor]] = {}


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
        """Whether this executor evaluates ``roots`` into ``outs`` (the same arrays: whether
        they are unchanged is checked as it runs)."""
        if [r() for r in self.roots] != list(roots):  # nodes compare by identity
            return False
        if self.outs is None or outs is None:
            return self.outs is outs
        return list(map(id, outs)) == list(map(id, self.outs))

    def run_into(self, outs: tuple[np.ndarray, ...]) -> list[np.ndarray] | None:
        """Run into ``outs`` (this executor's ``out=`` arrays) if they are unchanged and
        writeable, else None without running (its builtin checks that itself)."""
        if self.direct is not None:
            return list(outs) if self.direct(*outs) is not False else None
        return self() if self.same_outs(outs) else None

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
    first = roots[0]
    shape = first.shape
    if len(roots) == 1:  # the common case without a generator: 0.3 us of every new graph
        return first.op not in OPAQUE and view_base(first).op is not _LEAF and 0 not in shape
    return all(r.shape == shape and r.op not in OPAQUE and not is_view_of_leaf(r)
               for r in roots) and 0 not in shape


def _strides(arrays: tuple[np.ndarray, ...] | list[np.ndarray]) -> tuple[tuple[int, ...], ...]:
    return tuple([x.strides for x in arrays])


def _build(nodes: tuple[Node, ...], roots: tuple[Node, ...],
           outs: tuple[np.ndarray, ...] | None) -> tuple[Executor, list[np.ndarray]] | None:
    """An executor for ``nodes`` (evaluated as ``roots``, fitted to ``outs``) and the outputs
    lowered against (``outs``, or fresh ones that its first call fills)."""
    if not _fusable(roots):
        return None
    # templates store into native, aligned outputs (as fresh ones are): out= arrays of another
    # byte order or alignment are lowered for themselves
    plain = outs is None or all(o.dtype.isnative and o.flags.aligned for o in outs)
    found = rebind.of(roots) if plain else None
    template = None if found is None else rebind.find(found)
    targets = None if template is None else _targets(roots, outs)
    # (fresh outputs must fit too: a template lowered for out= arrays of another layout
    # would write them through its strides)
    if targets is not None and rebind.fits(template, targets):
        # the same graph over other arrays: lowered before
        launch = rebind.launch_of(template, found, targets)
        if outs is not None:  # an update in place: the new arrays may overlap otherwise
            check_outputs_disjoint(launch)
            if unsafe_outputs(launch):
                return None
        return _executor(nodes, outs, launch, template.fn), targets
    plan = schedule(roots, given=frozenset() if outs is None else frozenset(range(len(roots))))
    step = plan.single_kernel()
    if step is None:
        # several steps: the general path's, every time; it runs this plan (planned once)
        keep_plan(nodes, outs is not None, plan)
        return None
    if targets is None:
        targets = _targets(roots, outs)
    launch = cpu_passes.apply(lower(step.trace, targets))
    if outs is not None:
        check_outputs_disjoint(launch)
        if unsafe_outputs(launch):
            return None  # overlapping in- and outputs need a temporary: the general path
    fn = cpu.compiled(launch.kernel).function
    stats.undo_hit()  # the executor's own call counts this evaluation
    if found is not None:
        rebind.record(found, launch, fn)
    return _executor(nodes, outs, launch, fn), targets


def _targets(roots: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None) -> list[np.ndarray]:
    """What a new executor lowers against: ``outs``, or fresh outputs its first call fills."""
    return list(outs) if outs is not None else [outputs.empty(r.shape, r.dtype) for r in roots]


def _executor(nodes: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None, launch: Launch,
              fn: Any) -> Executor:
    block, status = pack_args(launch)
    if outs is None:
        # fresh outputs are written into the block on every call: holding the first ones
        # would keep the caller's first result (and its pooled block) alive with the
        # executor. What follows them (a split reduction's partial states) is scratch
        # memory the block points to: kept.
        launch = Launch(launch.kernel, launch.shape, launch.inputs,  # (replace() costs 1 us)
                        launch.outputs[len(nodes):], launch.scalars, launch.scalar_nodes)
    layout = launch.kernel.args
    slots = [layout.output(j) for j in range(len(nodes))]
    return Executor(tuple(weakref.ref(n) for n in nodes),
                    tuple((n.shape, n.dtype) for n in nodes), launch, fn, block,
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


# the last RECENT distinct expressions whose plan has several steps, by (their ids, into
# ``out=`` arrays): (them, the plan), oldest first. The general path runs the plan instead of
# planning again (``benchmarks/memo_layers.py``, the "plans" column: planning is about a third
# of such an evaluation over 100x100; a backward pass's several outputs plan in
# milliseconds). A plan holds its expressions, so the table holds them (and the arrays they
# captured) on the terms of ``_recent``; an entry holds its nodes, so their ids are not
# reused while it exists.
_several: dict[tuple[tuple[int, ...], bool], tuple[tuple[Node, ...], Plan]] = {}


def keep_plan(nodes: tuple[Node, ...], into: bool, plan: Plan) -> None:
    key = (tuple(map(id, nodes)), into)
    _several.pop(key, None)
    _several[key] = (nodes, plan)
    if len(_several) > RECENT:
        del _several[next(iter(_several))]


def plan_of(nodes: tuple[Node, ...] | list[Node], roots: tuple[Node, ...] | None = None,
            into: bool = False) -> Plan | None:
    """The plan kept for ``nodes`` (expressions needing several steps) evaluated as
    ``roots`` (``nodes`` fitted to ``out=`` arrays, when ``into``; by default ``nodes``);
    else None. Another ``out=`` dtype or shape fits them to other roots: not this plan."""
    key = (tuple(map(id, nodes)), into)
    entry = _several.pop(key, None)
    if entry is None:
        return None
    _several[key] = entry  # the newest again: a loop's expression stays while others come
    plan = entry[1]
    return plan if plan.roots == tuple(nodes if roots is None else roots) else None


def active() -> bool:
    """Whether the fast path may answer: the CPU backend over host arrays (the one guard)."""
    return settings.backend == "cpu" and not Buffer.foreign


def lookup(nodes: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None) -> Executor | None:
    """The one lookup: the executor that evaluated ``nodes`` (into ``outs``) before."""
    known = _executors.get(id(nodes[0]))
    if known is not None:
        for ex in known:
            if ex.matches(nodes, outs):
                return ex
    return None


def run(nodes: tuple[Node, ...], outs: tuple[np.ndarray, ...] | None = None
        ) -> list[np.ndarray] | None:
    """``nodes`` evaluated (into ``outs``) by the executor that evaluated them before; None
    when there is none (the caller then evaluates through :func:`build` or the plan)."""
    ex = lookup(nodes, outs)
    if ex is None:
        return None
    _keep(nodes)
    return ex() if outs is None else ex.run_into(outs)


def build(nodes: tuple[Node, ...], roots: tuple[Node, ...],
          outs: tuple[np.ndarray, ...] | None = None) -> list[np.ndarray] | None:
    """Evaluate ``roots`` (``nodes`` fitted to ``outs``: cast and broadcast) through a new
    executor, kept for ``nodes`` (or, the first time, through its template's shared
    launch); None when that takes more than one kernel."""
    if outs is None:
        results = _run_fresh(nodes)
        if results is not None:
            return results
    if plan_of(nodes, roots, outs is not None) is not None:
        return None
    built = _build(nodes, roots, outs)
    if built is None:
        return None
    ex, targets = built
    _remember(ex, nodes[0])
    _keep(nodes)
    results = ex(targets)
    ex.pending = cpu.runs_inline(ex.fn, ex.launch)
    return results


# -- new graphs of a structure seen before ------------------------------------------------------
# A graph written over new arrays (a layer's new batch) finds no executor, but often the
# template of its structure (rebind.py). An executor of its own (its argument block packed,
# a builtin bound to it) cost 30 us, several times the kernel at small sizes, and pays only
# for a graph evaluated again. So the first evaluation of a small launch runs through a
# launch that every graph of the template shares, one per set of scalar values: an argument
# block and a builtin bound to it (objcall), called with the new graph's outputs and leaf
# arrays, whose data pointers it writes into the block as it runs. It holds the GIL from
# start to end, so calls never interleave. A graph evaluated again (still among the
# ``RECENT`` ones) gets its own executor.
RUNNERS = 16  # shared launches of one template (sets of scalar values)


@dataclass(slots=True, eq=False)
class _Shared:
    """A template's launch shared by its graphs with one set of scalar values (``bits``)."""

    call: Any  # the builtin: (outputs..., leaf arrays in ``order``...) -> first output
    bits: tuple[bytes, ...]
    order: tuple[int, ...] | None  # leaf index of each array argument; None: all in order
    block: np.ndarray  # the argument block and status word the builtin writes and reads
    status: np.ndarray


def _run_fresh(nodes: tuple[Node, ...]) -> list[np.ndarray] | None:
    """``nodes`` evaluated through their template's shared launch, the first time they are
    evaluated; None when they were before, have no template or it cannot be shared."""
    if _recent.get(id(nodes[0])) == nodes or not _fusable(nodes):
        return None  # (tuples of nodes compare their items by identity)
    found = rebind.of(nodes)
    template = None if found is None else rebind.find(found)
    if template is None:
        return None
    return _shared_run(nodes, template, tuple(found.scalars), found.arrays, lambda: found)


def run_signed(root: Node) -> np.ndarray | None:
    """``_run_fresh((root,))`` for a signed root (``graph.sign``), its structure read from
    its signature: its checks are written for what such a root can be (an elementwise node
    of the lean operators, or a leaf, a scalar or a broadcast of one, which the general
    path evaluates), its leaves and scalars picked where the template says they are."""
    if root.ins is None or root.op is _BROADCAST or 0 in root.shape or \
            _recent.get(id(root)) is not None:
        return None
    template = rebind.find_signed(root)
    if template is None or template.leaves is None:
        return None
    ins = root.ins
    results = _shared_run((root,), template, template.scalar_nodes(ins),
                          [n.arg.array for n in template.leaves(ins)],
                          lambda: rebind.signed(root))
    return None if results is None else results[0]


def _shared_run(nodes: tuple[Node, ...], template: rebind.Template, scalars: tuple[Node, ...],
                arrays: list[np.ndarray], found: Callable[[], rebind.Structure]
                ) -> list[np.ndarray] | None:
    """``nodes`` (of the structure ``found()`` describes, whose scalar nodes and leaves'
    arrays are ``scalars`` and ``arrays``) evaluated through the launch of ``template`` shared
    by the graphs with these scalars; None where it cannot be shared."""
    shared = template.runners.get(scalars)
    if shared is None:
        shared = _share(nodes, found(), template, scalars)
        if shared is None:
            return None
    if shared.order is not None:
        arrays = [arrays[j] for j in shared.order]
    results = [outputs.empty(n.shape, n.dtype) for n in nodes]
    shared.call(*results, *arrays)
    _keep(nodes)
    return results


def _share(nodes: tuple[Node, ...], found: rebind.Structure, template: rebind.Template,
           scalars: tuple[Node, ...]) -> _Shared | None:
    """The shared launch of ``template`` with the values of ``scalars`` (kept under them),
    made if needed; None where the launch is not small, reads or writes at an offset (the
    builtin writes data pointers only) or the builtins are not available here."""
    from lazyarr.backends import objcall

    runners = template.runners
    if len(runners) >= RUNNERS or not objcall.entry() or \
            any(offset for _, offset, _ in template.inputs):
        return None
    bits = tuple([n.arg.tobytes() for n in scalars])  # 0.0 and -0.0 apart, NaN found
    for shared in runners.values():  # (each made after the check below)
        if shared.bits == bits:
            runners[scalars] = shared
            return shared
    targets = _targets(nodes, None)
    if not rebind.fits(template, targets):  # lowered for out= arrays of another layout
        return None
    launch = rebind.launch_of(template, found, targets)
    if not cpu.runs_inline(template.fn, launch):
        return None
    block, status = pack_args(launch)
    layout = launch.kernel.args
    reads = [(k, j) for k, (j, _, _) in enumerate(template.inputs) if j >= 0]  # not counters
    slots = [layout.output(k) for k in range(len(nodes))] + \
        [layout.address(k) for k, _ in reads]
    order = tuple(j for _, j in reads)
    call = objcall.bind(template.fn, data_pointer(block), launch.shape[0],
                        data_pointer(status), slots)
    shared = runners[scalars] = _Shared(
        call, bits, None if order == tuple(range(len(found.arrays))) else order, block, status)
    return shared


def ready(node: Node, out: np.ndarray | None) -> Executor | None:
    """What a ``LazyArray`` keeps for its next ``eval`` (``_ready``): the executor of ``node``
    (into ``out``) once it is a builtin launch, else None."""
    ex = lookup((node,), None if out is None else (out,))
    if ex is None or ex.direct is None or (out is None and ex.one is None):
        return None
    return ex


def _remember(ex: Executor, first: Node) -> None:
    key = id(first)
    known = _executors.get(key)
    if known is None or known[0].roots[0]() is not first:
        known = _executors[key] = []
    # the list leaves with its node (ids are reused once an object dies); every executor
    # carries the callback, as evicted ones take theirs with them
    # (callbacks bind what they use: they may run while the interpreter tears modules down)
    ex.roots = (weakref.ref(first, lambda _, k=key, lst=known, f=_forget: f(k, lst)),
                *ex.roots[1:])
    known.insert(0, ex)
    del known[PER_ROOT:]


def _forget(key: int, known: list[Executor], executors: dict = _executors) -> None:
    if executors.get(key) is known:
        del executors[key]


def clear() -> None:
    rebind.clear()
    _recent.clear()
    wrappers.clear()
    scalars.clear()
    _newest[0] = None
    _executors.clear()
    _several.clear()
