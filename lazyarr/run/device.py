"""Where an evaluation runs: host or CUDA device, and moving leaves between them.

The device memory itself (``DeviceArray``, its allocator, DLPack and the CUDA array interface)
belongs to the CUDA backend, in ``lazyarr.backends.cuda_memory``. What stays here needs the
graph: which leaves live where, copies of a graph with its leaves moved (new leaves are built
by the front end), the choice of backend for an evaluation, and the array ``asarray`` captures
for a ``device=`` request.

Importing this module opens no driver: ``cuda_memory`` loads the driver library on its first
call that moves data or allocates.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from lazyarr.backends.cuda_memory import (
    CUDA,
    DeviceArray,
    is_device_array_like,
    require_driver,
    wrap,
)
from lazyarr.config import settings
from lazyarr.front.build import check_device, leaf
from lazyarr.ir.graph import Buffer, Op, make, toposort


def cuda_available() -> bool:
    """Whether an NVIDIA driver loads and reports a device (ctypes; never raises or prints)."""
    from lazyarr.backends import cuda_driver

    return cuda_driver.is_available()


# -- where a graph's leaves live, and moving them --------------------------------------------------
def leaf_places(roots: Iterable[Any]) -> tuple[bool, bool]:
    """(has host leaves, has device leaves) of the graph under ``roots`` (Nodes)."""
    host = device = False
    for node in toposort(list(roots)):
        if node.op is Op.LEAF:
            if isinstance(node.arg.array, DeviceArray):
                device = True
            else:
                host = True
    return host, device


def move_leaves(roots: list[Any], to_device: bool) -> list[Any]:
    """The graph with every leaf copied to the device (or to the host), once per buffer."""
    new: dict[int, Any] = {}
    copies: dict[int, Any] = {}
    for node in toposort(roots):
        if node.op is Op.LEAF:
            array = node.arg.array
            if isinstance(array, DeviceArray) != to_device:
                key = id(node.arg)
                if key not in copies:
                    copies[key] = (DeviceArray.from_numpy(array) if to_device
                                   else array.to_numpy())
                new[id(node)] = leaf(copies[key])
                continue
        src = tuple(new[id(s)] for s in node.src)
        if all(a is b for a, b in zip(src, node.src, strict=True)):
            new[id(node)] = node
        else:
            new[id(node)] = make(node.op, node.dtype, node.shape, src, node.arg)
    return [new[id(r)] for r in roots]


# -- choosing where an evaluation runs ------------------------------------------------------------
_TARGETS = ("cpu", CUDA)


def route(nodes: list[Any], backend: str | None, target: str | None, out: Any = None
          ) -> tuple[str | None, list[Any]]:
    """(backend name, roots) for an evaluation, moving leaves only when asked to.

    Without ``target`` (or ``backend``), the leaves decide: all on the device runs on CUDA,
    all on the host runs on the default backend, and a mix is a TypeError. An explicit
    choice is the request for a transfer: ``target="cuda"`` copies host leaves to the device,
    ``target="cpu"`` copies device leaves back (each captured array once).
    """
    name = _resolve(backend, target)
    host, dev = leaf_places(nodes)
    if name is None:
        if host and dev:
            raise TypeError(
                "this expression mixes host (NumPy) arrays and CUDA device arrays; lazyarr "
                "does not copy silently: evaluate with target='cuda' to copy the host arrays "
                "to the device, or target='cpu' to copy the device arrays to the host")
        return (CUDA if dev else None), nodes
    if name == CUDA:
        require_driver()
        if out is not None and any(o is not None for o in out):
            raise NotImplementedError("out= is not supported on the CUDA target yet")
        return name, move_leaves(nodes, to_device=True) if host else nodes
    return name, move_leaves(nodes, to_device=False) if dev else nodes


def on_cuda(nodes: list[Any], backend: str | None, target: str | None) -> bool:
    """Whether :func:`route` would run ``nodes`` on CUDA (a target or backend naming it,
    else leaves all on the device), without moving leaves or refusing a mix."""
    name = _resolve(backend, target)
    if name is not None:
        return name == CUDA
    if not Buffer.foreign:  # no device array captured in this process: nothing to walk
        return False
    host, dev = leaf_places(nodes)
    return dev and not host


def _resolve(backend: str | None, target: str | None) -> str | None:
    if target is None:
        return backend
    if target not in _TARGETS:
        raise ValueError(f"unknown target {target!r}; use one of {_TARGETS}")
    if backend is not None and (backend == CUDA) != (target == CUDA):
        raise ValueError(f"backend={backend!r} does not run on target={target!r}")
    if target == CUDA:
        return CUDA
    return backend or settings.backend


# -- a held expression evaluated again ------------------------------------------------------------
class _State:
    """What ``LazyArray._ready`` holds between evaluations on the device before a ready
    launch: none yet (SEEN once) or none possible (UNREADY)."""

    on_device = False  # (a ready launch's is True)


SEEN, UNREADY = _State(), _State()


def after_eval(previous: Any, node: Any, result: Any) -> Any:
    """``LazyArray._ready`` after ``node`` was evaluated on the device into ``result``:
    SEEN after the first evaluation, the ready launch after the second (not the first:
    making one may plan again, which would double the cost of an expression evaluated once,
    a new batch's), and UNREADY where none can be made, so that it is not tried again."""
    if previous is SEEN:
        return ready(node, result) or UNREADY
    return UNREADY if previous is UNREADY else SEEN


def ready(node: Any, result: Any) -> Any:
    """The CUDA backend's ready launch for ``node``, just evaluated on its own into the fresh
    device array ``result``: ``ready(...).one()`` evaluates it again (``LazyArray.eval``
    keeps it). None where a repeat needs the general path: several kernels, or results of
    earlier steps read (a plan is rebuilt for those; a launch over host memory is refused)."""
    from lazyarr.backends import cuda
    from lazyarr.run import rebind

    if node.op is Op.LEAF or not isinstance(result, DeviceArray) or \
            result.shape != node.shape or \
            result.dtype != node.dtype or not result.is_c_contiguous:
        return None
    found = rebind.signed(node) if node.sid and node.ins is not None else None
    launch = _launch(node, result, found)
    return None if launch is None else cuda.ready(launch)


def _launch(node: Any, out: DeviceArray, found: Any) -> Any:
    """The launch of ``node`` alone into ``out`` when it is one kernel over its leaves: the
    template of its structure (``found``, for a signed node) rebound, or lowered and filed
    as one; else None."""
    from lazyarr.plan.schedule import schedule
    from lazyarr.run import rebind
    from lazyarr.run.runtime import lower_step

    if found is not None:
        template = rebind.DEVICE.get(found.key)
        if template is not None:
            return rebind.launch_of(template, found, [out])
    step = schedule([node], False, frozenset()).single_kernel()
    if step is None or step.reads:
        return None
    launch = lower_step(step, [out], {}, False)
    if found is not None:
        rebind.record(found, launch, None, rebind.DEVICE)
    return launch


def run_signed(node: Any) -> DeviceArray | None:
    """``node`` evaluated into a new device array through the launch of its structure (a
    new expression of the lean operators over device arrays: a layer's next batch); None
    where that is not one kernel over its leaves (the general path then plans it)."""
    from lazyarr.backends import cuda
    from lazyarr.run import rebind

    for read in node.ins:
        if read.op is Op.LEAF and type(read.arg.array) is not DeviceArray:
            return None  # host memory: the general path's (a mix is refused there)
    if node.sid in _UNFIT:
        return None
    out = DeviceArray.empty(node.shape, node.dtype)
    launch = _launch(node, out, rebind.signed(node))
    if launch is None:
        _UNFIT.add(node.sid)
        return None
    cuda.run(launch)
    return out


# signature numbers whose expressions are not one kernel (numbers are never reused)
_UNFIT: set[int] = set()


def leaf_array(obj: Any, dtype: Any, device: str | None) -> DeviceArray | None:
    """The device array ``asarray(obj, dtype, device)`` captures, or None for a host leaf."""
    check_device(device, "asarray")
    on_device = is_device_array_like(obj)
    if device == "cpu":
        if on_device:
            raise TypeError("asarray(device='cpu') of a CUDA array: copy it to the host "
                            "explicitly (np.asarray or .to_numpy())")
        return None
    if on_device:
        return wrap(obj)
    if device is None:
        return None
    require_driver()
    host = np.asarray(obj) if dtype is None else np.asarray(obj, dtype=dtype)
    return DeviceArray.from_numpy(host)
