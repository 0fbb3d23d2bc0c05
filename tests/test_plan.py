"""The plan IR: steps and fusion breaks decided before anything is lowered or run."""

import dataclasses

import numpy as np
import pytest

import lazyarr as la
from lazyarr.ir.loop import ArgLayout, Launch, View, pack_args
from lazyarr.plan import cpu_passes, lower
from lazyarr.plan.schedule import BreakReason, FusionBreak, Plan, Step, StepKind, schedule
from lazyarr.run.runtime import single_launch


def kinds(plan: Plan) -> list[str]:
    return [s.kind.value for s in plan.steps]


def test_plan_records_are_frozen():
    a = la.asarray(np.ones((3, 4)))
    plan = schedule([(a - a.max(axis=0, keepdims=True))._node])
    for record in (plan, *plan.steps, plan.steps[0].brk):
        assert dataclasses.is_dataclass(record) and not hasattr(record, "__dict__")
        field = dataclasses.fields(record)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, field, None)


def test_elementwise_is_one_kernel_and_nothing_else():
    a = la.asarray(np.arange(6.0))
    plan = schedule([(2 * a + la.exp(-a))._node])
    step = plan.single_kernel()
    assert kinds(plan) == ["kernel"] and step is plan.steps[0]
    assert step.outputs == (0,) and step.brk is None and step.reason == ""
    assert step.trace is not None and not step.trace.blocked


def test_reduction_boundary_is_data():
    a = la.asarray(np.ones((3, 4)))
    plan = schedule([(a - a.max(axis=0, keepdims=True))._node])
    assert kinds(plan) == ["kernel", "kernel"] and plan.single_kernel() is None
    first, second = plan.steps
    assert first.outputs == (None,) and second.outputs == (0,)
    assert first.brk.reason is BreakReason.REDUCTION_BOUNDARY
    assert "reduction boundary" in first.reason
    assert second.reads == first.roots and second.trace.sources[1] is first.roots[0]


def test_opaque_op_and_its_inputs():
    a = la.asarray(np.ones((3, 4)))
    plan = schedule([((a * 2) @ a.T + 1)._node])
    assert kinds(plan) == ["kernel", "view", "opaque", "kernel"]  # inputs by shape
    feed, opaque = plan.steps[0], plan.steps[2]
    assert feed.brk == FusionBreak(BreakReason.OPAQUE_INPUT, "input of matmul")
    assert opaque.brk.reason is BreakReason.OPAQUE_OP and "BLAS" in opaque.reason
    assert plan.steps[3].reads == opaque.roots


def test_views_of_inputs_and_empty_outputs_run_nothing():
    a = la.asarray(np.ones((3, 4)))
    e = la.asarray(np.ones((0, 4)))
    plan = schedule([a.T._node, (e + 1)._node, (a + 1)._node])
    assert kinds(plan) == ["view", "empty", "kernel"]
    assert [s.outputs for s in plan.steps] == [(0,), (1,), (2,)]
    # an output written into the caller's array always gets a kernel (a copy)
    assert kinds(schedule([a.T._node], given=frozenset({0}))) == ["kernel"]


def test_nested_full_reduction_is_split_by_planning(monkeypatch):
    monkeypatch.setattr(cpu_passes, "SPLIT_WORK", 0)
    monkeypatch.setattr(cpu_passes, "NESTED_SPLIT_MIN", cpu_passes.SPLIT_MIN)
    x = np.random.default_rng(1).standard_normal(cpu_passes.SPLIT_MIN + 5)
    plan = schedule([la.asarray(x).var()._node])
    assert kinds(plan) == ["kernel", "kernel"]
    assert plan.steps[0].brk.reason is BreakReason.SPLIT_ROWS
    assert "split for threads" in plan.steps[0].reason
    # the GPU spreads reductions its own way: one kernel
    assert kinds(schedule([la.asarray(x).var()._node], cpu=False)) == ["kernel"]
    np.testing.assert_allclose(la.asarray(x).var().eval(), x.var())


def test_no_exceptions_steer_the_schedule():
    """Nothing in planning or lowering raises to change the schedule any more."""
    import lazyarr.ir.loop as loop
    import lazyarr.plan.lower as lowering
    import lazyarr.run.fastpath as fastpath
    import lazyarr.run.runtime as runtime

    for module in (loop, lowering, runtime, fastpath):
        assert not hasattr(module, "NeedsMaterialising")
    a = la.asarray(np.ones((3, 4)))
    tr = lower.trace(((a - a.max(axis=0, keepdims=True))._node,), {})
    assert tr.blocked  # the trace reports what it cannot fuse ...
    with pytest.raises(AssertionError):
        lower.lower(tr, [np.empty((3, 4))])  # ... and lowering it is a planning bug


def test_cpu_passes_return_new_records(monkeypatch):
    monkeypatch.setattr(cpu_passes, "SPLIT_WORK", 0)
    a = la.asarray(np.ones(cpu_passes.SPLIT_MIN * 2))
    step = schedule([a.sum()._node]).single_kernel()
    plain = lower.lower(step.trace, [np.empty(())])
    split = cpu_passes.apply(plain)
    assert split is not plain and split.kernel.split and not plain.kernel.split
    assert split.shape[0] == cpu_passes.PARTS and plain.shape == (1, cpu_passes.SPLIT_MIN * 2)


def test_argument_block_record():
    a = la.asarray(np.ones((3, 4)))
    launch = single_launch([(a * 2.5 + a.T.T)._node], [np.empty((3, 4))])
    k = launch.kernel
    at = k.args
    assert at == ArgLayout(k.ndim, len(k.inputs), len(k.outputs), len(k.scalars))
    block, status = pack_args(launch)
    assert len(block) == at.words == at.status + 1
    assert list(block[at.SHAPE:at.SHAPE + k.ndim]) == list(launch.shape)
    views = launch.inputs + launch.outputs
    for j, v in enumerate(views):
        assert block[at.address(j)] == v.address
        assert tuple(block[at.strides(j):at.strides(j) + k.ndim]) == v.strides
    assert block[at.output(0)] == launch.outputs[0].address
    assert block[at.scalar(0)] == np.float64(2.5).view(np.int64)
    assert block[at.status] == status.ctypes.data


def test_launch_and_view_are_frozen():
    v = View(np.ones(3), 0, (8,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.strides = (0,)
    assert dataclasses.fields(Launch)[0].name == "kernel"


def test_copy_launch_casts_between_strided_arrays():
    src = np.arange(12, dtype=np.int32).reshape(3, 4)[:, ::2]
    dst = np.zeros((3, 2), np.float64)
    launch = lower.copy_launch(src, dst)
    from lazyarr.backends.cpu import BACKEND

    BACKEND.launch(BACKEND.compile(launch.kernel), launch)
    np.testing.assert_array_equal(dst, src)


@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_one_evaluator_runs_every_step_kind(backend):
    rng = np.random.default_rng(3)
    x, y = rng.random((4, 5)), rng.random((5, 4))
    a, b = la.asarray(x), la.asarray(y)
    outs = la.eval(a.T, (a @ b) - (a @ b).max(axis=0), la.asarray(np.ones((0, 2))) * 2,
                   la.concatenate([a, a]).sum(axis=1), backend=backend)
    np.testing.assert_array_equal(outs[0], x.T)
    np.testing.assert_allclose(outs[1], (x @ y) - (x @ y).max(axis=0))
    assert outs[2].shape == (0, 2)
    np.testing.assert_allclose(outs[3], np.concatenate([x, x]).sum(axis=1))


def test_step_kinds_are_an_enum():
    assert {k.value for k in StepKind} == {"kernel", "opaque", "view", "empty"}
    assert Step.__dataclass_params__.frozen


def test_a_repeated_expression_of_several_kernels_is_planned_once():
    from lazyarr.run import fastpath

    x = np.arange(12.0).reshape(3, 4)
    m = la.asarray(x)
    e = m - m.sum(axis=0)
    np.testing.assert_array_equal(e.eval(), x - x.sum(axis=0))
    plan = fastpath.plan_of((e._node,))
    assert plan is not None and len(plan.kernels) == 2
    x[:] = -x  # captured by reference: the kept plan reads the arrays' new values
    np.testing.assert_array_equal(e.eval(), x - x.sum(axis=0))
    assert fastpath.plan_of((e._node,)) is plan
    out = np.empty((3, 4))
    for _ in range(2):  # into out=: planned for that (once), not the fresh results' plan
        assert la.eval(e, out=out) is out
        np.testing.assert_array_equal(out, x - x.sum(axis=0))
    into = fastpath.plan_of((e._node,), (e._node,), into=True)
    assert into is not None and into is not plan
    narrow = np.empty((3, 4), np.float32)  # other roots (a cast): planned for them
    assert la.eval(e, out=narrow) is narrow
    np.testing.assert_array_equal(narrow, (x - x.sum(axis=0)).astype(np.float32))
    # one kept plan per expression and mode: the float32 one replaced the float64 one
    assert fastpath.plan_of((e._node,), (e._node,), into=True) is None


def test_results_planned_twice_keep_apart() -> None:
    """A reduction materialised on the way to a group that contains it again: each stand-in
    keeps its own address, so a kernel reading both reads two arrays (once read one twice)."""
    x = np.array([[0.0, 3.0], [1.0, 2.0]])
    v = np.array([[1.0, 10.0], [100.0, 1000.0]])
    t = la.asarray(x)
    m = t.sum(axis=0)
    b = la.broadcast_to(m, (2, 2))
    s = la.where(t == b.reshape(4).reshape(2, 2), v, 0.0).sum(axis=0)
    r = b + s * m
    want = x.sum(0) + np.where(x == np.broadcast_to(x.sum(0), (2, 2)), v, 0).sum(0) * x.sum(0)
    np.testing.assert_array_equal(r.eval(), np.broadcast_to(want, (2, 2)))
    np.testing.assert_array_equal(r.eval(backend="interp"), np.broadcast_to(want, (2, 2)))


def test_kept_plans_release_their_arrays():
    """Plans of several steps are kept for the last RECENT such expressions only: an array
    the program dropped is freed once RECENT others have been planned (it leaked before)."""
    import gc
    import weakref

    from lazyarr.run import fastpath

    fastpath.clear()
    first = np.random.default_rng(0).random((30, 40))
    gone = weakref.ref(first)
    for k in range(fastpath.RECENT + 3):
        x = la.asarray(first if k == 0 else np.random.default_rng(k).random((30, 40)))
        e = x - x.sum(axis=0)  # two kernels: a several-step plan
        np.testing.assert_allclose(e.eval(), np.asarray(x) - np.asarray(x).sum(axis=0))
        assert fastpath.plan_of((e._node,)) is not None
        if k == 0:
            del first
        del x, e
    fastpath.wrappers.clear()  # the operator memo's window (up to WRAPPERS lazy arrays)
    gc.collect()
    assert len(fastpath._several) == fastpath.RECENT and gone() is None


def test_a_kept_plan_stays_while_its_expression_is_evaluated_again():
    from lazyarr.run import fastpath

    fastpath.clear()
    h = np.arange(12.0).reshape(3, 4)
    held = la.asarray(h)
    e = held - held.sum(axis=0)
    e.eval()
    plan = fastpath.plan_of((e._node,))
    for k in range(3 * fastpath.RECENT):
        x = la.asarray(np.full((3, 4), float(k)))
        (x - x.sum(axis=0)).eval()
        e.eval()  # each hit makes it the newest again
    assert fastpath.plan_of((e._node,)) is plan
    assert len(fastpath._several) <= fastpath.RECENT
