"""Notebook display of unevaluated arrays: HTML card and LaTeX, without evaluating anything."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import lazyarr as la
from lazyarr.inspect import display


@pytest.fixture
def ab():
    return la.asarray(np.ones(1000)), la.asarray(np.ones(1000, np.float32))


@pytest.fixture
def no_evaluation(monkeypatch):
    """Fail the test if anything evaluates or compiles; check the cache counters after."""
    import lazyarr.run.evaluate

    def refuse(*args, **kwargs):
        raise AssertionError("display evaluated an expression")

    monkeypatch.setattr(lazyarr.run.evaluate, "evaluate", refuse)
    before = la.cache_info()
    yield
    assert la.cache_info() == before


def test_card_shows_shape_dtype_and_graph(ab, no_evaluation):
    a, b = ab
    e = 2 * a + la.exp(-b)
    card = e._repr_html_()
    assert "float64" in card and "(1000,)" in card and "unevaluated" in card
    assert "5 ops on 2 inputs" in card
    assert "e^{- b}" in card  # the math, typeset by the notebook's MathJax


def test_card_falls_back_to_a_text_tree(ab, no_evaluation, monkeypatch):
    monkeypatch.setattr(display.shutil, "which", lambda name: None)
    a, b = ab
    card = (2 * a + la.exp(-b))._repr_html_()
    assert "<pre" in card and "<svg" not in card
    assert "└─ exp : float32[1000]" in card and "a : float64[1000]" in card


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz dot is not installed")
def test_card_draws_svg_with_graphviz(ab, no_evaluation):
    a, b = ab
    card = (2 * a + la.exp(-b))._repr_html_()
    assert "<svg" in card and "</svg>" in card and "<pre" not in card
    assert ">exp<" in card and ">a<" in card


def test_graphviz_failure_falls_back(ab, monkeypatch):
    monkeypatch.setattr(display.shutil, "which", lambda name: "/nonexistent/dot")
    assert "<pre" in display.graph_html([(ab[0] + 1)._node])


def test_latex_of_the_scalar_body(ab, no_evaluation):
    a, b = ab
    assert (2 * a + la.exp(-b))._repr_latex_() == r"$\displaystyle 2 a + e^{- b}$"
    assert "a - a" in (a - a)._repr_latex_()  # sympy must not simplify (NaN - NaN is NaN)
    assert r"\frac{a}{a}" in (a / a)._repr_latex_()
    assert r"\sqrt{a}" in la.sqrt(a)._repr_latex_()
    assert r"\begin{cases}" in la.where(a > 0.5, a, 0.0)._repr_latex_()
    assert "0.044715" in (a * 0.044715)._repr_latex_()
    assert r"\operatorname{int32}" in a.astype("int32")._repr_latex_()


def test_latex_forms_come_from_the_op_rows(ab, no_evaluation):
    a, b = ab
    n = la.asarray(np.ones(3, np.int64))
    assert (a % b)._repr_latex_() == r"$\displaystyle a \bmod b$"
    assert r"a \cdot 2^{3}" in la.ldexp(a, 3)._repr_latex_()
    assert r"\operatorname{erf}" in la.erf(a)._repr_latex_()
    assert r"\left|{a}\right|" in la.fabs(a)._repr_latex_()
    assert r"\operatorname{gcd}\left(a, 3\right)" in la.gcd(n, 3)._repr_latex_()
    assert r"\operatorname{popcount}" in la.bitwise_count(n)._repr_latex_()
    assert "^{3}" in (a ** 3)._repr_latex_()  # power_int: the exponent is in the node
    # a composite op shows what it is made of
    assert "0.017453292519943295 a" in la.deg2rad(a)._repr_latex_()


def test_plain_formula(ab):
    a, b = ab
    assert display.plain_formula((2 * a + la.exp(-b))._node) == "(2.0 * a) + float64(exp(-b))"
    assert display.plain_formula((a ** 3 % 2)._node) == "(a ** 3) % 2.0"
    assert display.plain_formula(la.fmod(a, la.where(a > 1, a, 1.0))._node) == \
        "fmod(a, where(a > 1.0, a, 1.0))"
    assert display.plain_formula(la.frexp(b)[1]._node) == "frexp_exponent(a)"  # b: the only leaf


@pytest.mark.skipif(not hasattr(la, "sum"), reason="reductions not in this lazyarr yet")
def test_latex_and_tree_of_reductions(no_evaluation):
    x = la.asarray(np.ones((3, 4)))
    e = la.exp(x - x.max(axis=1, keepdims=True))
    assert r"\max_{\text{axis } 1}" in e._repr_latex_()
    assert "max over axis 1" in display.text_tree([e._node])


def test_shared_nodes_drawn_once_in_the_tree(ab):
    a, _ = ab
    e = la.exp(a) * la.exp(a) + la.exp(a)
    tree = display.text_tree([e._node])
    assert tree.count("exp : float64") == 3 and "[#1]" in tree and "shown above" in tree


def test_big_expressions_stay_small(ab, no_evaluation):
    a, _ = ab
    e = a
    for k in range(300):
        e = e * 1.0001 + k
    assert "too large to typeset" in e._repr_latex_()
    assert "more lines" in display.text_tree([e._node])
    assert len(e._repr_html_()) < 20_000


def test_leaf_names_follow_first_use(ab):
    # display cannot know Python variable names: inputs are a, b, ... in order of first use
    a, b = ab
    names = display.leaf_names([(b * 2 + a)._node])
    assert names[id(b._node)] == "a" and names[id(a._node)] == "b"
    given = display.leaf_names([(b * 2 + a)._node], {id(a._node): "x"})
    assert given[id(a._node)] == "x" and given[id(b._node)] == "a"


def test_display_does_not_import_sympy_until_asked():
    code = ("import sys, numpy as np, lazyarr as la, lazyarr.inspect.display as d; "
            "x = la.asarray(np.ones(3)); d.text_tree([(x + 1)._node]); "
            "print('sympy' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr
