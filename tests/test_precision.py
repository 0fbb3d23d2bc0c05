"""``precision="fast"``: float16 and bfloat16 expressions keep float32 between the operations
of one evaluation and round only what is stored (docs/float16.md); ``"numpy"`` (the default)
rounds after every operation, NumPy's bits.

Fast results are checked against the exact value (float64, rounded once to the narrow
dtype), numpy-mode results against NumPy bit for bit, and the setting, its environment
variable and the ``eval`` arguments for the values they take and refuse.
"""

from __future__ import annotations

import numpy as np
import pytest

import lazyarr as la
from lazyarr import config
from lazyarr.front.build import excess_precision
from lazyarr.ir.graph import Op, toposort

F16 = np.dtype(np.float16)


@pytest.fixture(autouse=True)
def _numpy_mode():
    """Every test starts and ends in the default mode, whatever it sets."""
    config.set_precision("numpy")
    yield
    config.set_precision("numpy")


def ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Distance in steps of the 2-byte float (monotonic integer order of the bits)."""
    def order(x: np.ndarray) -> np.ndarray:
        i = x.view(np.int16).astype(np.int32)
        return np.where(i < 0, -32768 - i, i)
    return np.abs(order(got) - order(want))


def _data(seed: int, shape: tuple[int, ...] = (300, 200)) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def six_ops(x, y):
    return (x * 2 + y) * x - y / 3 + 1


def layer_norm(x, g, b):
    d = x - x.mean(axis=-1, keepdims=True)
    return d / ((d * d).mean(axis=-1, keepdims=True) + 1e-5) ** 0.5 * g + b


def _cases(dtype: np.dtype) -> list[tuple[str, la.LazyArray, np.ndarray]]:
    """(name, lazy expression on ``dtype`` data, its exact value in float64)."""
    x, y, g, b = (_data(s, shape) for s, shape in ((1, (300, 200)), (2, (300, 200)),
                                                   (3, (200,)), (4, (200,))))
    lazy = [la.asarray(a.astype(dtype)) for a in (x, y, g, b)]
    exact = [a.astype(dtype).astype(np.float64) for a in (x, y, g, b)]
    return [("six ops", six_ops(lazy[0], lazy[1]), six_ops(exact[0], exact[1])),
            ("layer norm", layer_norm(lazy[0], lazy[2], lazy[3]),
             layer_norm(exact[0], exact[2], exact[3]))]


# bound in ULPs of the result: six ops round once from float32 values whose own error is a
# few float32 ULPs, 2**13 times finer than float16's; layer norm's mean, variance and
# reciprocal square root are float32 sums and functions, and the result rounds once
FAST_BOUND = {"six ops": 1, "layer norm": 4}


@pytest.mark.parametrize("backend", ["cpu", "interp"])
def test_fast_results_are_within_a_few_ulps_of_the_exact_value(backend: str) -> None:
    for name, expr, exact in _cases(F16):
        want = exact.astype(F16)
        fast = la.eval(expr, precision="fast", backend=backend)
        numpy_mode = la.eval(expr, backend=backend)
        assert fast.dtype == F16 and fast.shape == want.shape
        ok = np.isfinite(want)
        assert ulps(fast[ok], want[ok]).max() <= FAST_BOUND[name], name
        # and rounding after every operation is far worse here (cancellation near zero)
        assert ulps(numpy_mode[ok], want[ok]).max() > 10 * FAST_BOUND[name], name


def test_numpy_mode_is_numpys_bits_and_the_default() -> None:
    x, y = (_data(s).astype(F16) for s in (5, 6))
    expr = six_ops(la.asarray(x), la.asarray(y))
    want = six_ops(x, y).view(np.uint16)
    for got in (expr.eval(), expr.eval(precision="numpy"), la.eval(expr, precision="numpy"),
                la.eval(expr)):
        np.testing.assert_array_equal(got.view(np.uint16), want)
    assert config.settings.precision == "numpy"


def test_bfloat16_fast_mode() -> None:
    ml_dtypes = pytest.importorskip("ml_dtypes")
    bf16 = np.dtype(ml_dtypes.bfloat16)
    for name, expr, exact in _cases(bf16):
        want = exact.astype(bf16)
        fast = expr.eval(precision="fast")
        assert fast.dtype == bf16
        ok = np.isfinite(exact)
        assert ulps(fast[ok], want[ok]).max() <= FAST_BOUND[name], name
    x, y = (_data(s).astype(bf16) for s in (7, 8))  # numpy mode: ml_dtypes' bits
    np.testing.assert_array_equal(six_ops(la.asarray(x), la.asarray(y)).eval().view(np.uint16),
                                  six_ops(x, y).view(np.uint16))


def test_roots_keep_their_dtype_and_are_rounded() -> None:
    """Several results: each is rounded where stored, even one that another uses."""
    x, y = (la.asarray(_data(s).astype(F16)) for s in (9, 10))
    inner = x * y
    outer = inner * x - y
    a, b = la.eval(inner, outer, precision="fast")
    assert a.dtype == b.dtype == F16
    # inner is the float32 product (exact: 11 + 11 bits) rounded once to float16
    xs, ys = (_data(s).astype(F16).astype(np.float64) for s in (9, 10))
    np.testing.assert_array_equal(a.view(np.uint16), (xs * ys).astype(F16).view(np.uint16))
    np.testing.assert_array_equal(b.view(np.uint16), outer.eval(precision="fast").view(np.uint16))
    # the graph's roots are the same nodes; only what lies between them lost its round trips
    rewritten = excess_precision([outer._node])
    assert rewritten[0].dtype == F16 and rewritten[0].shape == outer.shape
    casts = [n for n in toposort(rewritten) if n.op is Op.CAST]
    assert len(casts) < len([n for n in toposort([outer._node]) if n.op is Op.CAST])


def test_loaded_values_and_other_dtypes_are_left_alone() -> None:
    """Rounding an input's values (a float32 array cast to float16) is kept, and graphs
    without narrow values come back as they are."""
    f = _data(11).astype(np.float32)
    expr = la.asarray(f).astype(F16) * 3
    np.testing.assert_array_equal(expr.eval(precision="fast").view(np.uint16),
                                  (f.astype(F16) * np.float16(3)).view(np.uint16))
    plain = la.exp(la.asarray(f)) * 2
    assert excess_precision([plain._node])[0] is plain._node
    roots = [expr._node]
    assert excess_precision(roots) is excess_precision(roots)  # memoised while they live


def test_the_setting_applies_to_every_eval() -> None:
    x, y = (la.asarray(_data(s).astype(F16)) for s in (12, 13))
    expr = six_ops(x, y)
    numpy_bits = expr.eval().view(np.uint16).copy()
    expr.eval()  # a second evaluation: its launch is kept for the next one
    fast_bits = expr.eval(precision="fast").view(np.uint16).copy()
    assert not np.array_equal(numpy_bits, fast_bits)
    la.set_precision("fast")
    assert config.settings.precision == "fast"
    for got in (expr.eval(), la.eval(expr), np.asarray(expr), la.eval(expr, expr * 1)[0]):
        np.testing.assert_array_equal(got.view(np.uint16), fast_bits)
    np.testing.assert_array_equal(expr.eval(precision="numpy").view(np.uint16), numpy_bits)
    la.set_precision("numpy")
    np.testing.assert_array_equal(expr.eval().view(np.uint16), numpy_bits)


def test_invalid_precisions_are_refused() -> None:
    x = la.asarray(np.ones(3, F16))
    for call in (lambda: la.set_precision("exact"), lambda: x.eval(precision="float32"),
                 lambda: la.eval(x, precision="Fast"), lambda: la.set_precision(None)):
        with pytest.raises(ValueError, match="'numpy', 'fast'"):
            call()
    assert config.settings.precision == "numpy"


@pytest.mark.parametrize(("raw", "want"), [("", "numpy"), ("numpy", "numpy"),
                                          (" FAST ", "fast"), ("fast", "fast")])
def test_environment_variable(monkeypatch: pytest.MonkeyPatch, raw: str, want: str) -> None:
    monkeypatch.setenv("LAZYARR_PRECISION", raw)
    assert config._read().precision == want


def test_environment_variable_refuses_other_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYARR_PRECISION", "half")
    with pytest.raises(ValueError, match="LAZYARR_PRECISION must be one of 'numpy', 'fast'"):
        config._read()
