"""``python -m lazyarr bench``: a tiny quick run writes JSON of the documented structure.

Timings are not checked (they depend on the machine); the structure, the result checks
against NumPy and the presence of every section are.
"""

import argparse
import json

import numpy as np
import pytest

from lazyarr.__main__ import main
from lazyarr.cli import bench
from lazyarr.cli.bench import backward, command, daskrun, latency, numba_kernels, workloads
from lazyarr.cli.bench.measure import Context
from lazyarr.ir.dtypes import parse

CELL_KEYS = {"workload", "name", "dtype", "n", "shape", "memory_bound", "bytes", "times",
             "first_call", "ok", "errors"}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    # no peers: the run must not depend on what else is installed, and stays a few seconds
    rc = main(["bench", "--quick", "--sizes", "1000", "--dtypes", "float64", "--peers", "none",
               "--matrix", "16x32", "--triad-size", "100000", "--repeat", "1",
               "--json", str(path), "--no-plot"])
    assert rc == 0
    return path


@pytest.fixture(scope="module")
def doc(saved):
    return json.loads(saved.read_text())


def test_header(doc):
    assert doc["schema"] == bench.SCHEMA
    assert doc["command"].startswith("python -m lazyarr bench --quick")
    assert doc["date"][:2] == "20"
    for key in ("cpu", "logical_cpus", "usable_cpus", "python", "numpy", "llvmlite", "lazyarr"):
        assert key in doc["machine"]
    assert doc["config"]["sizes"] == [1000] and doc["config"]["threads"] == [1]
    assert doc["peers"] == {}


def test_run_and_triad(doc):
    (run,) = doc["runs"]
    assert run["threads"] == 1 and len(run["affinity"]) == 1
    assert run["impls"] == ["numpy", "lazyarr:out", "lazyarr"]
    triad = run["triad"]
    assert triad["n"] == 100000 and triad["bytes"] == 3 * 8 * 100000
    assert triad["reference"] in triad["impls"] and not triad["reference"].startswith("numpy")
    assert triad["gbps"] > 0


def test_every_workload_measured_and_correct(doc):
    results = doc["runs"][0]["results"]
    assert [r["workload"] for r in results] == [w.key for w in bench.WORKLOADS]
    for r in results:
        assert CELL_KEYS <= set(r) <= CELL_KEYS | {"triad"}, r["workload"]
        if r["memory_bound"]:  # timed next to a triad of its own size and dtype
            assert r["triad"]["gbps"] > 0 and r["triad"]["impl"].startswith("lazyarr")
        assert r["dtype"] == "float64" and r["bytes"] > 0
        assert set(r["times"]) == {"numpy", "lazyarr:out", "lazyarr"}, r["errors"]
        assert all(t > 0 for t in r["times"].values())
        assert all(r["ok"].values()), (r["workload"], r["ok"])
        assert r["shape"] == ([16, 32] if bench.BY_KEY[r["workload"]].matrix else [1000])


def test_overhead_and_compile_sections(doc):
    rows = {(r["n"], r["impl"]) for r in doc["overhead"]}
    assert {(n, i) for n in (1, 1000) for i in ("numpy", "lazyarr", "lazyarr:out")} <= rows
    comp = doc["compile"]
    assert comp["lazyarr"]["median_first_eval_s"] > 0
    assert len(comp["lazyarr"]["compile_s"]) == 3
    assert comp["peers"] == {}
    cases = comp["fresh_process"]
    assert set(cases) == {"lazyarr, disk cache cold", "lazyarr, disk cache warm"}
    for case in cases.values():
        assert "error" not in case, case
        assert case["import_plus_first_eval_s"] > 0
    assert cases["lazyarr, disk cache warm"]["runs"][0]["disk"]["loads"] >= 1


def test_report_has_every_table(doc):
    text = bench.report(doc)
    for title in ("STREAM triad", "ms per call", "speed-up over NumPy", "effective bandwidth",
                  "first call minus warm call", "per-call overhead", "compile latency"):
        assert title in text


def test_narrow_and_complex_sections(doc):
    """Issue 19's workloads ran at the quick size, lazyarr's results passed their checks
    against NumPy in float64 (NumPy's own bfloat16 layer norm may not: it sums in bfloat16),
    and the elementwise cells were held against the triad."""
    run = doc["runs"][0]
    names = [c["name"] for c in run["narrow"]]
    assert names[:4] == ["x*2+y float32", "layer norm float32", "x*2+y float16",
                         "layer norm float16"]
    assert [c["name"] for c in run["complex"]] == [
        f"{w} {t}" for t in ("complex64", "complex128")
        for w in ("exp(1j*w*t)*a", "abs(x*conj(y))")]
    for cell in run["narrow"] + run["complex"]:
        assert not cell["errors"], cell["errors"]
        assert {k: v for k, v in cell["ok"].items() if k.startswith("lazyarr")} and all(
            v for k, v in cell["ok"].items() if k.startswith("lazyarr")), cell
        assert cell["times"]["lazyarr"] > 0 and cell["times"]["numpy"] > 0
        if cell["name"].startswith("x*2+y"):
            dt = parse(cell["name"].split()[1])  # ("bfloat16": NumPy's once ml_dtypes is in)
            assert cell["bytes"] == 3 * cell["n"] * dt.itemsize
            assert cell["triad"]["gbps"] > 0
    text = bench.report(doc)
    assert "float16 and bfloat16 (issue 19)" in text and "complex numbers (issue 19)" in text


def test_tables_again_from_saved_json(saved, capsys):
    capsys.readouterr()
    assert main(["bench", "--from-json", str(saved), "--no-plot"]) == 0
    text = capsys.readouterr().out
    assert "speed-up over NumPy" in text and "issue 4 goals" in text


def test_ten_op_expressions_differ():
    trials = [bench.ten_ops(seed) for seed in range(7)]
    assert all(len(ops) == 10 for ops in trials)
    assert len({bench.ops_text(ops, {k: k for k in "abc"}) for ops in trials}) == 7


def test_sizes_argument():
    assert command._int_list("1e3,10**4,100") == [1000, 10000, 100]


@pytest.mark.parametrize("seed", range(len(numba_kernels.TEN_OP_KERNELS)))
def test_numba_ten_op_kernels_are_the_trials(seed):
    """Numba's compile-latency kernels, written out, compute the trials' expressions (run
    here as plain Python, so Numba need not be installed)."""
    rng = np.random.default_rng(seed)
    a, b, c = (rng.uniform(0.5, 1.5, 50) for _ in range(3))
    with np.errstate(all="ignore"):  # exp of exp may overflow: both must give the same inf
        want = latency.apply_ops(bench.ten_ops(seed), np, a, b, c)
        got = numba_kernels.TEN_OP_KERNELS[seed](a, b, c)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def command_args(argv):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return parser.parse_args(argv)


def test_enough_numba_kernels_for_a_full_run():
    full = command.config_from(command_args([]))
    assert full.compile_trials <= len(numba_kernels.TEN_OP_KERNELS)


def test_fresh_process_scripts_are_files():
    for script in (latency.FRESH_LAZYARR, latency.FRESH_NUMBA):
        assert script.is_file(), script
    assert (latency.FRESH_NUMBA.parent / "numba_kernel.py").is_file()


# -- the backward workloads (issue 14) ---------------------------------------------------------
BACKWARD_KEYS = [w.key for w in backward.BACKWARD]
BACKWARD_IMPLS = ["numpy", "lazyarr", "lazyarr:out", "jax", "torch", "torch.compile"]


def test_default_run_has_the_backward_cells(doc):
    """The fixture's run (every workload, no peers): each backward workload at --matrix and
    at the largest size, float32, checked against NumPy in float64."""
    run = doc["runs"][0]
    assert run["backward_impls"] == ["numpy", "lazyarr:out", "lazyarr"]
    cells = [(r["workload"], tuple(r["shape"])) for r in run["backward"]]
    assert cells == [("gelu_bwd", (16, 32)), ("gelu_bwd", (1000,)), ("ln_bwd", (16, 32)),
                     ("ln_bwd", (1, 1000)), ("xent", (16, 32)), ("xent", (1, 1000)),
                     ("gelu_adam", (16, 32)), ("gelu_adam", (1000,))]
    for r in run["backward"]:
        assert r["dtype"] == "float32" and r["bytes"] > 0
        assert set(r["times"]) == set(run["backward_impls"]), r["errors"]
        assert all(r["ok"].values()), (r["workload"], r["ok"])
    text = bench.report(doc)
    assert "backward (issue 14), float32, 1 thread(s)" in text
    assert "n/a   [1 thr] goal 14 backward >= jax.jit" in text  # no JAX in this run


def test_quick_backward_only_run(tmp_path, capsys):
    """``--quick`` with only the backward workloads: quick sizes, no triad, per-call overhead
    or compile latency (they measure forward expressions), the backward table and goal."""
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--workloads", ",".join(BACKWARD_KEYS), "--peers", "none",
                 "--repeat", "1", "--json", str(path), "--no-plot"]) == 0
    text = capsys.readouterr().out
    doc = json.loads(path.read_text())
    (run,) = doc["runs"]
    assert run["results"] == [] and "triad" not in run
    assert doc["overhead"] is None and doc["compile"] is None
    rows, cols = workloads.QUICK_MATRIX
    big = max(workloads.QUICK_SIZES)
    assert {tuple(r["shape"]) for r in run["backward"]} == {(rows, cols), (big // 1000, 1000),
                                                           (big,)}
    assert all(all(r["ok"].values()) and len(r["times"]) == 3 for r in run["backward"])
    assert "issue 14 goal" in text and "issue 4 goals" not in text and "STREAM" not in text


@pytest.fixture
def backward_context(request):
    """A worker's context with only what ``impl`` needs; JAX in float64 mode, as in the
    worker (restored after)."""
    import lazyarr as la

    impl = request.param
    peers = {}
    if impl == "jax":
        jax = pytest.importorskip("jax")
        before = jax.config.read("jax_enable_x64")
        jax.config.update("jax_enable_x64", True)
        request.addfinalizer(lambda: jax.config.update("jax_enable_x64", before))
        peers["jax"] = jax
    elif impl.startswith("torch"):
        peers["torch"] = pytest.importorskip("torch")
    return impl, Context(la, 1, peers, {}, [])


@pytest.mark.parametrize("key", BACKWARD_KEYS)
@pytest.mark.parametrize("backward_context", BACKWARD_IMPLS, indirect=True)
def test_backward_workload_values(key, backward_context):
    """Every implementation computes the NumPy reference (float64) of two steps: the second
    step of Adam starts from the state the first one left."""
    impl, ctx = backward_context
    w = backward.BY_KEY[key]
    arrays = backward.make_inputs(w, (6, 40), np.random.default_rng(7))
    state = {k: a.copy() for k, a in arrays.items()}
    ctx.reference = backward.reference(w, arrays)  # lazyarr:out's arrays take its shapes
    fn = backward.PREPARE[impl](w, state, ctx)
    def widened():
        return {k: a.astype(np.float64) if a.dtype.kind == "f" else a for k, a in arrays.items()}

    wide = widened()
    for _ in range(2):
        if impl == "lazyarr":  # a fresh result: the state is left as it was
            wide = widened()
        want = w.numpy(*(wide[k] for k in w.inputs))
        got = workloads.as_tuple(fn())
        assert len(got) == len(want)
        for g, r in zip(got, want, strict=True):
            g = np.asarray(g)
            assert g.dtype == np.float32 and g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-6 * np.abs(r).max())
    if w.inplace and impl != "jax":  # JAX's state is its own (donated) buffers
        after = arrays if impl == "lazyarr" else wide  # the state after the steps
        for k in w.inplace:
            np.testing.assert_allclose(state[k], after[k], rtol=2e-5,
                                       atol=2e-6 * np.abs(after[k]).max())


def test_backward_shapes():
    cfg = command.config_from(command_args([]))
    assert cfg.matrix == (4096, 1024) and max(cfg.sizes) == 10**7
    assert backward.shapes(backward.BY_KEY["ln_bwd"], cfg) == [(4096, 1024), (10000, 1000)]
    assert backward.shapes(backward.BY_KEY["gelu_adam"], cfg) == [(4096, 1024), (10**7,)]
    quick = command.config_from(command_args(["--quick"]))
    assert backward.shapes(backward.BY_KEY["xent"], quick) == [(256, 1024), (100, 1000)]


def test_quick_dask_section(tmp_path, capsys):
    """``--workloads dask``: lazyarr over Dask arrays against Dask with NumPy, both checked
    against NumPy's value before timing."""
    pytest.importorskip("dask.array")
    path = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--workloads", "dask", "--peers", "none", "--repeat", "1",
                 "--json", str(path), "--no-plot"]) == 0
    text = capsys.readouterr().out
    (run,) = json.loads(path.read_text())["runs"]
    assert [c["name"] for c in run["dask"]] == [w.name for w in daskrun.WORKLOADS]
    for cell in run["dask"]:
        assert cell["ok"] == {"dask": True, "lazyarr": True} and not cell["errors"]
        assert set(cell["times"]) == {"dask", "lazyarr"}
        assert cell["n"] == max(workloads.QUICK_SIZES)
    assert "== Dask (issue 20)" in text and "dask_scale.py" in text
