"""``la.explain``: stages and answers; the ``explain`` command line; LAZYARR_DEBUG output."""

import builtins
import re
import subprocess
import sys

import numpy as np
import pytest

import lazyarr as la
from lazyarr import config
from lazyarr.__main__ import main
from lazyarr.cli.explain import ExpressionError, parse_expression


def flat(text):
    """Text with its line wrapping undone, for phrase checks."""
    return " ".join(text.split())


@pytest.fixture
def ab():
    rng = np.random.default_rng(0)
    return la.asarray(rng.random(1000)), la.asarray(rng.random(1000).astype(np.float32))


# -- stages -------------------------------------------------------------------------------------
def test_every_stage_is_there(ab):
    a, b = ab
    ex = la.explain(2 * a + la.exp(-b))
    assert "leaf a : float64[1000]" in ex.graph and "leaf b : float32[1000]" in ex.graph
    assert "exp : float32[1000]" in ex.graph and ex.graph.endswith("return %8")
    assert "canon.py" in flat(ex.canonical) and "power" in flat(ex.canonical)
    assert "1 fused kernel for 1 output" in flat(ex.kernel_plan)
    assert "fusion breaks: none" in flat(ex.kernel_plan)
    assert "load in0" in ex.loops and ex.loops in ex.kernels
    assert "define" in ex.llvm and "ret void" in ex.llvm_opt and ex.asm.strip()
    text = str(ex)
    for title in ("answers", "expression graph", "canonical form", "kernel plan", "loop IR",
                  "LLVM IR (generated)", "LLVM IR (after O3)", "assembly"):
        assert f"== {title} ==" in text
    assert "<details" in ex._repr_html_() and "kernel plan" in ex._repr_html_()


def test_answers_bytes_ops_and_vector_width(ab):
    a, b = ab
    ex = la.explain(2 * a + la.exp(-b))
    assert ex.bytes_read == 1000 * (8 + 4) and ex.bytes_written == 1000 * 8
    assert ex.bytes_per_element == (12.0, 8.0)
    arith = ex.reports[0].arithmetic
    assert arith.math_calls == {"exp": 1} and arith.casts == 1
    assert arith.ops == {"multiply": 1, "negative": 1, "add": 1}
    assert ex.ops_per_element == 5
    # every x86-64 and AArch64 CPU has at least 128-bit vectors: two doubles
    assert ex.vectorised and ex.vector_width >= 2
    assert f"<{ex.vector_width} x" in ex.llvm_opt
    assert "vectorised: yes" in flat(ex.summary) and "memory per call" in flat(ex.summary)
    facts = ex.reports[0].vectorisation
    # exp runs through lazyarr's vector math; its scalar form only serves the loop remainder
    assert facts.scalar_calls == () and any("exp" in s for s in facts.vector_calls)
    assert all(s.startswith("lazyarr_math_") for s in facts.remainder_calls)
    assert "exp" not in " ".join(facts.other_calls)


def test_plain_arithmetic_has_no_math_calls(ab):
    a, _ = ab
    report = la.explain(a * a + 1).reports[0]
    assert report.vectorisation.scalar_calls == ()
    assert report.arithmetic.math_calls == {}


def test_broadcast_input_is_counted_once():
    x = la.asarray(np.ones((100, 10)))
    row = la.asarray(np.ones(10, np.float32))
    ex = la.explain(x * row)
    assert ex.bytes_read == 100 * 10 * 8 + 10 * 4


def test_cache_hit_or_fresh_compile(ab, monkeypatch):
    monkeypatch.setattr(config.settings, "disk_cache", False)
    a, _ = ab
    la.clear_cache()
    first = la.explain(a * 3 - 1)
    assert first.cache_hit is False and first.compile_seconds > 0
    assert "fresh compile" in flat(first.summary)
    again = la.explain(a * 7 - 2)  # other scalars, same kernel
    assert again.cache_hit is True and "cache hit" in flat(again.summary)


def test_cache_hit_from_the_disk_cache(ab, monkeypatch, tmp_path):
    monkeypatch.setattr(config.settings, "disk_cache", True)
    monkeypatch.setattr(config.settings, "cache_dir", str(tmp_path))
    a, _ = ab
    la.clear_cache()
    assert la.explain(a * 5 + 4).cache_hit is False  # compiled, and stored on disk
    la.clear_cache()  # forget the kernels in memory: the next lookup loads the object file
    again = la.explain(a * 6 + 3)
    assert again.cache_hit is True and "on-disk cache" in flat(again.summary)


def test_cuda_target_shows_ptx_and_refuses_libm(ab):
    a, b = ab
    ex = la.explain(2 * a + 1, target="cuda")
    assert ".entry" in ex.asm and ex.asm == ex.ptx
    assert "nvptx64" in ex.llvm and "ptx_kernel" in ex.llvm_opt
    assert not ex.vectorised and ex.cache_hit is None and "PTX emitted" in flat(ex.summary)
    # exp is lazyarr's own math there (mathlib, inlined); float % needs libdevice
    assert ".entry" in la.explain(la.exp(b), target="cuda").ptx
    bad = la.explain(b % 1.5, target="cuda")
    with pytest.raises(NotImplementedError, match="remainder"):
        _ = bad.ptx
    text = str(bad)  # str never raises: the stage says why it is missing
    assert "not available for target cuda" in text and "memory per call" in text


def test_unknown_target(ab):
    with pytest.raises(ValueError, match="target"):
        la.explain(ab[0], target="tpu")


# -- the kernel plan and its fusion breaks --------------------------------------------------
def test_outputs_of_two_shapes_are_two_kernels():
    x = la.asarray(np.ones((3, 4)))
    ex = la.explain(x * 2, x.T * 3, x)
    assert len(ex.kernel_objects) == 2
    assert "one kernel walks one index space" in flat(ex.kernel_plan)
    assert "output 2 = %0 is a view of an input" in flat(ex.kernel_plan)


@pytest.mark.skipif(not hasattr(la, "sum"), reason="reductions not in this lazyarr yet")
def test_reduction_boundary_and_row_kernel():
    x = la.asarray(np.random.default_rng(1).random((4, 6)))
    centred = la.explain(x - x.mean(axis=0))
    assert len(centred.kernel_objects) == 2
    assert "reduction boundary" in flat(centred.kernel_plan)
    assert "reads the materialised result(s)" in flat(centred.kernel_plan)
    e = la.exp(x - x.max(axis=1, keepdims=True))
    softmax = la.explain(e / e.sum(axis=1, keepdims=True))
    assert len(softmax.kernel_objects) == 1
    plan = flat(softmax.kernel_plan)
    assert "rows of 6 elements" in plan and "(max, sum)" in plan


@pytest.fixture
def split_early(monkeypatch):
    """Split full reductions from cpu_passes.SPLIT_MIN elements, whatever the work estimate."""
    from lazyarr.plan import cpu_passes

    monkeypatch.setattr(cpu_passes, "SPLIT_WORK", 0)
    # 64 partial rows of 1088 elements and a tail of 63
    return la.asarray(np.ones(cpu_passes.PARTS**2 * 17 + 63))


def test_split_full_reduction_plan_says_partial_rows(split_early):
    x = split_early
    ex = la.explain(x.sum())
    assert [k.split for k in ex.kernel_objects] == [True]
    plan = flat(ex.kernel_plan)
    assert ("runs as a full reduction (sum) of 69695 elements cut into 64 partial rows of "
            "1088 elements that threads share") in plan
    assert "combines the partial results in a fixed order" in plan
    assert "folds in the 63-element tail and writes one value" in plan
    assert "loop over 64 rows" not in plan
    # the CPU's split kernel has no PTX: explain for target cuda shows the GPU's kernels
    with pytest.raises(NotImplementedError, match="partial rows"):
        _ = ex.ptx
    both = flat(la.explain(x.argmax(), x.max()).kernel_plan)
    assert "full reduction (argmax, max)" in both and "writes 2 values" in both
    rows = flat(la.explain(la.asarray(np.ones((2, 70000))).sum(axis=1)).kernel_plan)
    assert "a loop over 2 rows of 70000 elements; per row it reduces (sum)" in rows


def test_cuda_explain_of_a_big_full_reduction_is_not_split(split_early):
    x = split_early
    ex = la.explain(x.sum(), target="cuda")
    assert [k.split for k in ex.kernel_objects] == [False]
    plan = flat(ex.kernel_plan)
    assert "a loop over 1 rows of 69695 elements; per row it reduces (sum)" in plan
    assert "partial rows" not in plan and "partial rows" not in ex.loops
    assert ".entry" in ex.ptx  # emit_ptx verifies the module before LLVM compiles it
    assert "not available" not in str(ex)


@pytest.mark.skipif(not hasattr(la, "matmul"), reason="matmul not in this lazyarr yet")
def test_opaque_op_is_a_barrier():
    x = la.asarray(np.ones((3, 3)))
    ex = la.explain(la.matmul(x, x) + 1)
    assert "opaque step 0" in flat(ex.kernel_plan) and "matrix product" in flat(ex.kernel_plan)


def test_shared_subexpressions_in_canonical_form(ab):
    a, _ = ab
    e = la.exp(a) * 2 + la.exp(a)
    assert "exp, used 2 times" in flat(la.explain(e).canonical)


# -- the command line -----------------------------------------------------------------------
def _inputs():
    made = {}

    def make(name):
        made[name] = la.asarray(np.ones(4))
        return made[name]

    return make, made


@pytest.mark.parametrize("text", [
    "2*a + exp(-b)", "where(a > 0.5, a, 0)", "-a ** 2 + 1e-3", "abs(a) // 3 % 2",
    "logical_not(a < b)", "~(a > b)", "clip(a, 0, 1)", "2 ** 10 * a",
])
def test_parser_accepts_whitelisted_expressions(text):
    make, made = _inputs()
    parsed = parse_expression(text, make)
    assert isinstance(parsed.expr, la.LazyArray)
    assert set(parsed.inputs) == set(made)


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os')", "unknown function '__import__'"),
    ("__import__('os').system('true')", "attribute access"),
    ("a.real", "attribute access"),
    ("lambda: 1", "lambda"),
    ("foo(a)", "unknown function 'foo'"),
    ("a[0]", "indexing"),
    ("a < b < c", "chained comparisons"),
    ("not a", "not is not supported"),
    ("a and b", "and/or"),
    ("a if b else c", "if/else"),
    ("exp", "exp is a function"),
    ("'text'", "not a number"),
    ("_a + 1", "not allowed"),
    ("a @ b", "@"),
    ("[a, b]", "List"),
    ("exp(*a)", "*args"),
    ("exp(a, out=b)", "keyword argument"),
    ("9 ** 9 ** 9", "constant too large"),
    ("1 << 100000", "constant too large"),
    ("1 / 0", "constant arithmetic failed"),
    ("a +", "not a valid expression"),
    ("x" * 3000, "longer than"),
])
def test_parser_rejects_everything_else(text, message):
    make, _ = _inputs()
    with pytest.raises(ExpressionError, match=re.escape(message)):
        parse_expression(text, make)


def test_parser_never_evals(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    make, _ = _inputs()
    parse_expression("2*a + exp(-b)", make)
    with pytest.raises(ExpressionError):
        parse_expression("__import__('os')", make)


def test_parser_unknown_input_name_with_declared_inputs():
    make, _ = _inputs()
    with pytest.raises(ExpressionError, match="unknown name 'c'"):
        parse_expression("a + c", make, allowed_inputs={"a", "b"})


def test_cli_explains(capsys):
    assert main(["explain", "2*a + exp(-b)", "--shape", "100", "--dtype", "float32",
                 "--show", "answers,graph,plan"]) == 0
    out = capsys.readouterr().out
    assert "leaf a : float32[100]" in out and "leaf b : float32[100]" in out
    assert "== kernel plan ==" in out and "vectorised" in out and "== loop IR ==" not in out


def test_cli_errors_exit_2(capsys):
    assert main(["explain", "__import__('os').system('echo hi')"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "attribute access" in err
    assert main(["explain", "a + b", "--dtype", "complex128"]) == 2
    assert main(["explain", "a << 1.5", "--dtype", "int32"]) == 2  # NumPy's own type rule
    assert main(["explain", "a", "--show", "nonsense"]) == 2
    assert main(["explain", "a + b", "--shape", "ten"]) == 2


def test_cli_cuda_stage_missing_exits_1(capsys):
    assert main(["explain", "a % 1.5", "--target", "cuda", "--show", "ptx"]) == 1
    assert "not available for target cuda" in capsys.readouterr().out
    assert main(["explain", "a * 2 + 1", "--target", "cuda", "--show", "ptx"]) == 0
    assert ".entry" in capsys.readouterr().out


def test_cli_as_a_program():
    done = subprocess.run(
        [sys.executable, "-m", "lazyarr", "explain", "2*a + exp(-b)", "--shape", "1000",
         "--dtype", "float32", "--target", "cpu"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "== assembly ==" in done.stdout and "exp" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "lazyarr", "explain", "os.system('x')"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "attribute access" in bad.stderr


# -- LAZYARR_DEBUG ----------------------------------------------------------------------------
def _compile_fresh(level, monkeypatch, capsys):
    monkeypatch.setattr(config.settings, "debug", level)
    monkeypatch.setattr(config.settings, "disk_cache", False)  # compile, do not load
    la.clear_cache()
    capsys.readouterr()
    a = la.asarray(np.arange(8.0))
    (la.sqrt(a) * 2 + a).eval()
    return capsys.readouterr().err


def test_debug_levels(monkeypatch, capsys):
    assert _compile_fresh(0, monkeypatch, capsys) == ""
    one = _compile_fresh(1, monkeypatch, capsys)
    assert "[lazyarr] compiled lazyarr_kernel_" in one
    assert "out0 = add(multiply(sqrt(in0), s0), in0)" in one
    assert "loop IR" not in one
    two = _compile_fresh(2, monkeypatch, capsys)
    assert "loop IR" in two and "vectorised" in two and "LLVM IR" not in two
    three = _compile_fresh(3, monkeypatch, capsys)
    assert "LLVM IR (after O3)" in three and "define" in three and "assembly" not in three
    four = _compile_fresh(4, monkeypatch, capsys)
    assert "  assembly:" in four and ("ret" in four or "ymm" in four)


def test_debug_reports_disk_cache_loads(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(config.settings, "debug", 1)
    monkeypatch.setattr(config.settings, "disk_cache", True)
    monkeypatch.setattr(config.settings, "cache_dir", str(tmp_path))
    a = la.asarray(np.arange(8.0))
    for _ in range(2):
        la.clear_cache()
        (la.cbrt(a) - 1).eval()
    err = capsys.readouterr().err
    assert "[lazyarr] compiled lazyarr_kernel_" in err
    assert "[lazyarr] loaded from the disk cache lazyarr_kernel_" in err


def test_debug_is_silent_on_cache_hits(monkeypatch, capsys):
    _compile_fresh(1, monkeypatch, capsys)
    a = la.asarray(np.arange(8.0))
    (la.sqrt(a) * 3 + a).eval()  # same kernel: no compile, nothing printed
    assert capsys.readouterr().err == ""


def test_debug_level_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("LAZYARR_DEBUG", "3")
    assert config._read().debug == 3
    monkeypatch.setenv("LAZYARR_DEBUG", "loud")
    with pytest.raises(ValueError, match="LAZYARR_DEBUG"):
        config._read()


def test_kernel_expression_names_shared_values():
    from lazyarr.inspect.debug import kernel_expression

    a = la.asarray(np.ones(4))
    e = la.exp(a) * la.exp(a)
    text = kernel_expression(la.explain(e).kernel_objects[0])
    assert text.splitlines()[0].startswith("v") and "exp(in0)" in text

