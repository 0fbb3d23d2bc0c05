"""The same expression over other arrays: reuse a lowered launch instead of lowering again.

A layer's forward pass, or a notebook cell run on new data, writes the same expression over
new arrays each time: every node is new, so neither the operator memo nor the fast path's
executors find anything, and lowering the graph again costs a few hundred microseconds,
far more than the kernel at small sizes. But lowering depends only on the graph's structure
(ops, dtypes, shapes, each leaf's strides, which nodes are shared), never on the data: the
kernel, its loop shape and every input's offset and strides come out the same. So a fresh
evaluation that lowers its graph also records a :class:`Template`, filed under the graph's
:func:`structure`, and the next graph of that structure is rebound to it: each input view is
its leaf's array at the recorded offset and strides, each scalar its node's value.

A graph the front end's lean operators wrote over new arrays carries its structure already
(signed nodes, ``lazyarr/ir/graph.py``): its key is its root's signature number with the
pattern of which of its tree's reads are one node (:func:`signed_key`), built without a walk,
and its template says where in the root's reads its leaves and scalars are. Such a key names
the expression as a function of its distinct leaves and scalars, which is all a rebound
launch depends on; the tests hold that a template of one sharing pattern never serves
another (``tests/test_dispatch.py``).

Only what the fast path evaluates is rebound: one kernel, not split into partial rows, every
leaf a host array read through its own view (a leaf whose memory another leaf's view stood for
cannot be told apart by structure); into fresh results, or into ``out=`` arrays laid out as
the template's outputs were (an optimizer's update in place of new gradients: the fast path
checks again that they overlap no input but element for element).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from lazyarr.ir.graph import Node, Op
from lazyarr.ir.loop import COUNTER_MEMORY, Kernel, Launch, View

LIMIT = 64  # templates kept, newest last
_LEAF, _SCALAR = Op.LEAF, Op.SCALAR  # enum attribute lookups are slow in a loop
_COUNTER = -1  # a template input that is a COUNTER node's element index, not a leaf


@dataclass(frozen=True, slots=True)
class Template:
    kernel: Kernel
    fn: Any  # the compiled kernel
    dims: tuple[int, ...]
    # leaf index (or _COUNTER), byte offset, strides
    inputs: tuple[tuple[int, int, tuple[int, ...]], ...]
    outputs: tuple[tuple[int, tuple[int, ...]], ...]  # byte offset, strides
    scalars: tuple[int, ...]  # the index of each launch scalar among the graph's scalars
    # the fast path's shared launches of this template (``fastpath.run_fresh``): by the
    # graph's scalar nodes, a builtin bound to an argument block holding their values
    runners: dict = field(default_factory=dict, compare=False)
    # filed under a signed root's key: its leaves and its scalar nodes, each a tuple in the
    # order of ``Structure``, picked from the root's ``ins`` (see ``picked``)
    leaves: Callable[[tuple], tuple[Node, ...]] | None = field(default=None, compare=False)
    scalar_nodes: Callable[[tuple], tuple[Node, ...]] | None = field(default=None,
                                                                     compare=False)


@dataclass(slots=True)
class Structure:
    """A graph's structure (``key``) and, in the order it names them, its leaves' arrays and
    its scalar nodes; for a signed root, where in its ``ins`` each is first read."""
    key: tuple
    arrays: list[np.ndarray]
    scalars: list[Node]
    reads: tuple[tuple[int, ...], tuple[int, ...]] | None = None


_templates: dict[tuple, Template] = {}
# the CUDA target's, apart: its kernels are lowered without the CPU's passes, and its
# launches choose their code variant from the arrays at each launch (``fn`` is None)
DEVICE: dict[tuple, Template] = {}


class _NotRebindableError(Exception):
    pass


def structure(roots: tuple[Node, ...]) -> Structure | None:
    """Nodes in post-order, each by op, dtype, shape and its sources' positions (a leaf by
    its array's dtype, strides and alignment, a scalar by its dtype alone); None for graphs
    that cannot be rebound (a leaf that is not a NumPy array, or a graph too deep for the
    recursive walk, which is the fastest for the small graphs this serves). A key with an
    unhashable op argument is found nowhere and filed nowhere (:func:`find`, :func:`record`).

    Every evaluation of a new graph walks it here (0.3 us a node: written for speed). The
    records lie in one flat tuple, a node's number of sources before their positions (each
    record's length follows from what precedes it, so equal keys are equal structures):
    one tuple per node and one per node's sources cost 20% more, with the collector's
    passes over them. Nodes are their own keys in ``position`` (they hash by identity)."""
    position: dict[Node, int] = {}
    records: list[Any] = []
    arrays: list[np.ndarray] = []
    scalars: list[Node] = []
    seen, add = position.get, records.extend

    def visit(node: Node) -> int:  # of a node not seen yet (callers look first: no call)
        op = node.op
        if op is _LEAF:
            array = node.arg.array
            if type(array) is not np.ndarray:
                raise _NotRebindableError
            arrays.append(array)
            # the array's own dtype (its byte order) and alignment choose the kernel's
            # loads, which the node (native dtype) does not tell
            add((op, array.dtype, node.shape, array.strides, array.flags.aligned))
        elif op is _SCALAR:
            scalars.append(node)
            add((op, node.dtype))
        else:
            src = node.src
            n = len(src)
            if n == 2:
                a, b = src
                pa = seen(a)
                if pa is None:
                    pa = visit(a)
                pb = seen(b)
                if pb is None:
                    pb = visit(b)
                add((op, node.dtype, node.shape, node.arg, 2, pa, pb))
            elif n == 1:
                a = src[0]
                pa = seen(a)
                if pa is None:
                    pa = visit(a)
                add((op, node.dtype, node.shape, node.arg, 1, pa))
            else:
                add((op, node.dtype, node.shape, node.arg, n,
                     *[position[s] if s in position else visit(s) for s in src]))
        p = position[node] = len(position)
        return p

    try:
        if len(roots) == 1:
            outs: tuple[int, ...] = (visit(roots[0]),)
        else:
            outs = tuple([position[r] if r in position else visit(r) for r in roots])
    except (_NotRebindableError, RecursionError):
        return None
    finally:
        # visit refers to itself: a cycle that would keep every leaf array it saw alive
        # until the garbage collector runs (a finished Dask chunk, a layer's activations)
        visit = None  # clears the closure's cell
    return Structure((tuple(records), outs), arrays, scalars)


def signed_key(root: Node) -> tuple[int, tuple[int, ...]]:
    """A signed root's (``graph.sign``) key, without a walk: its signature number and, for
    each read of its tree, the first read of the same node. It meets no key of
    :func:`structure` (an int where those have a tuple)."""
    ins = root.ins
    return root.sid, tuple(map(ins.index, ins))  # nodes compare by identity


def signed(root: Node) -> Structure:
    """The structure of a signed root: :func:`signed_key`, its distinct leaves' arrays and
    scalar nodes in the order of their first reads, and where those are."""
    ins = root.ins
    key = signed_key(root)
    leaves, scalars, arrays, nodes = [], [], [], []
    for i, first in enumerate(key[1]):
        if first == i:
            node = ins[i]
            if node.op is _LEAF:
                leaves.append(i)
                arrays.append(node.arg.array)
            else:
                scalars.append(i)
                nodes.append(node)
    return Structure(key, arrays, nodes, (tuple(leaves), tuple(scalars)))


def picked(at: tuple[int, ...]) -> Callable[[tuple], tuple]:
    """The items of a tuple at ``at``, as a tuple."""
    if len(at) > 1:
        return itemgetter(*at)
    if at:
        i = at[0]
        return lambda items: (items[i],)
    return lambda _: ()


def of(roots: tuple[Node, ...]) -> Structure | None:
    """The structure of ``roots``: :func:`signed` for one signed root, else :func:`structure`."""
    if len(roots) == 1:
        root = roots[0]
        if root.sid and root.ins is not None:
            return signed(root)
    return structure(roots)


def find_signed(root: Node) -> Template | None:
    """The template filed under a signed root's key."""
    return _templates.get(signed_key(root))


def find(found: Structure) -> Template | None:
    try:
        return _templates.get(found.key)
    except TypeError:  # an unhashable op argument
        return None


def record(found: Structure, launch: Launch, fn: Any,
           table: dict[tuple, Template] = _templates) -> None:
    """File ``launch`` (lowered from the graph ``found`` describes) as a template, in the
    CPU's ``table`` unless another is given."""
    if launch.kernel.split:
        return  # its partial rows are scratch memory of one launch
    index = {id(a): j for j, a in enumerate(found.arrays)}
    inputs = []
    for view in launch.inputs:
        j = _COUNTER if view.array is COUNTER_MEMORY else index.get(id(view.array))
        if j is None:
            return
        inputs.append((j, view.offset, view.strides))
    if len({j for j, _, _ in inputs} - {_COUNTER}) != len(found.arrays):
        return  # a leaf read through another leaf's view: aliasing, not structure
    where = {id(n): k for k, n in enumerate(found.scalars)}
    scalars = tuple(where[id(n)] for n in launch.scalar_nodes)
    outputs = tuple((v.offset, v.strides) for v in launch.outputs)
    try:
        table.pop(found.key, None)
    except TypeError:  # an unhashable op argument: no template
        return
    picks = (None, None) if found.reads is None else tuple(map(picked, found.reads))
    table[found.key] = Template(launch.kernel, fn, launch.shape, tuple(inputs), outputs,
                                scalars, leaves=picks[0], scalar_nodes=picks[1])
    if len(table) > LIMIT:
        del table[next(iter(table))]


def fits(template: Template, outs: tuple[np.ndarray, ...]) -> bool:
    """Whether output arrays (``out=`` ones, or fresh ones) are laid out as the outputs
    ``template`` was lowered for (NumPy arrays at offset 0 with the recorded strides)."""
    return all(type(o) is np.ndarray and offset == 0 and o.strides == strides
               for o, (offset, strides) in zip(outs, template.outputs, strict=True))


def launch_of(template: Template, found: Structure, results: list[np.ndarray]) -> Launch:
    """The launch of the graph ``found`` describes, writing ``results``."""
    inputs = tuple([View(COUNTER_MEMORY if j == _COUNTER else found.arrays[j], offset, strides)
                    for j, offset, strides in template.inputs])
    outputs = tuple([View(r, offset, strides)
                     for r, (offset, strides) in zip(results, template.outputs, strict=True)])
    nodes = tuple([found.scalars[k] for k in template.scalars])
    return Launch(template.kernel, template.dims, inputs, outputs,
                  tuple([n.arg for n in nodes]), nodes)


def clear() -> None:
    _templates.clear()
    DEVICE.clear()
