"""Counter-based random numbers (lazyarr.random, la.nn.dropout): the Philox known answers, the
kernels against the NumPy reference bit for bit (through views, on every thread count), the
samplers' distributions by fixed-seed statistical tests, and that they fuse."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lazyarr as la
from lazyarr.ir import philox
from lazyarr.ir.loop import COUNTER_MEMORY
from lazyarr.random import to_unit

R = la.random

# Random123's kat_vectors (examples/kat_vectors of the Random123 distribution): counter words,
# key words, the four output words of Philox4x32-10
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_known_answers(counter: tuple, key: tuple, expected: tuple) -> None:
    assert philox.block(counter, key) == expected
    words = philox.philox4x32(counter, key)
    assert tuple(int(w) for w in words) == expected


def test_kernel_known_answer() -> None:
    """The kernel's block for index 0 under key 0 is the first known answer."""
    got = R.bits(R.key(0), (1,), np.uint64).eval()
    assert int(got[0]) == 0x6627E8D5 << 32 | 0xE169C58D
    assert int(R.bits(R.key(0), (), np.uint32).eval()) == 0x6627E8D5


@pytest.mark.parametrize("seed", [0, 1, 2**63 + 12345, 2**64 - 1])
def test_kernel_words_are_the_reference(seed: int) -> None:
    """Every word of the kernel's Philox equals the NumPy reference, for indices on both
    sides of 2**32 (a slice of a sampler over 2**33 elements computes only its own)."""
    k = R.key(seed)
    for start in (0, 2**32 - 3):
        idx = np.arange(start, start + 70, dtype=np.uint64)
        ref = philox.words(idx, k.bits)
        big = R.bits(k, (2**33,), np.uint64)[start:start + 70].eval()
        np.testing.assert_array_equal(big >> np.uint64(32), ref[0])
        np.testing.assert_array_equal(big & np.uint64(0xFFFFFFFF), ref[1])


SAMPLERS: dict[str, Callable[[R.Key, tuple], la.LazyArray]] = {
    "bits32": lambda k, s: R.bits(k, s),
    "bits64": lambda k, s: R.bits(k, s, np.uint64),
    "bits8": lambda k, s: R.bits(k, s, np.uint8),
    "uniform32": lambda k, s: R.uniform(k, s, np.float32),
    "uniform64": lambda k, s: R.uniform(k, s),
    "uniform_range": lambda k, s: R.uniform(k, s, np.float32, -3.0, 0.5),
    "normal32": lambda k, s: R.normal(k, s, np.float32),
    "normal64": lambda k, s: R.normal(k, s),
    "bernoulli": lambda k, s: R.bernoulli(k, 0.3, s),
    "randint": lambda k, s: R.randint(k, s, -7, 1000),
    "randint8": lambda k, s: R.randint(k, s, -128, 128, np.int8),
    "exponential": lambda k, s: R.exponential(k, s, np.float32),
    "gumbel": lambda k, s: R.gumbel(k, s),
    "truncated": lambda k, s: R.truncated_normal(k, -1.5, 2.0, s),
}
EXACT = {"bits32", "bits64", "bits8", "uniform32", "uniform64", "uniform_range", "bernoulli",
         "randint", "randint8"}


def _same(got: np.ndarray, want: np.ndarray, exact: bool) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if exact or got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want)
    else:  # math routines: lazyarr's own on the CPU, NumPy's in the interpreter
        np.testing.assert_allclose(got, want, rtol=1e-5 if got.dtype == np.float32 else 1e-12,
                                   atol=1e-6)


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("shape", [(), (0,), (7,), (5, 0, 3), (13, 17), (2, 3, 41)])
def test_samplers_match_the_interpreter(name: str, shape: tuple) -> None:
    expr = SAMPLERS[name](R.key(7), shape)
    got, want = expr.eval(), expr.eval(backend="interp")
    assert got.shape == shape
    _same(got, want, name in EXACT)


@pytest.mark.parametrize("name", ["bits32", "uniform64", "normal32", "randint"])
def test_views_of_a_sampler_are_views_of_its_values(name: str) -> None:
    """A view of a sampler is that view of its materialised values: the counter moves
    through the view's strides."""
    expr = SAMPLERS[name](R.key(11), (6, 9, 4))
    full = expr.eval()
    views: list[Callable] = [
        lambda a: a[1::2, ::-3, 2], lambda a: a.T, lambda a: a.reshape(9, 24)[::4],
        lambda a: a[None, 3], lambda a: a.transpose(2, 0, 1)[:, 4:, 1:8:3],
    ]
    for view in views:
        _same(view(expr).eval(), view(full), exact=True)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=3), st.data())
def test_random_view_chains(shape: list[int], data: st.DataObject) -> None:
    """Hypothesis: a chain of slices, transposes and broadcasts of a sampler, fused with
    arithmetic, equals the same chain on its values (and the interpreter's result)."""
    expr = R.uniform(R.key(3), tuple(shape), np.float32)
    values = expr.eval()
    lazy, ref = expr, values
    for _ in range(data.draw(st.integers(0, 3))):
        kind = data.draw(st.sampled_from(["slice", "T", "bcast", "flip"]))
        if kind == "slice" and lazy.ndim:
            axis = data.draw(st.integers(0, lazy.ndim - 1))
            step = data.draw(st.sampled_from([1, 2, -1, 3]))
            index = (slice(None),) * axis + (slice(None, None, step),)
            lazy, ref = lazy[index], ref[index]
        elif kind == "T":
            lazy, ref = lazy.T, ref.T
        elif kind == "bcast":
            lazy, ref = la.broadcast_to(lazy, (2, *lazy.shape)), np.broadcast_to(ref, (2,
                                                                                     *ref.shape))
        else:
            lazy, ref = la.flip(lazy), np.flip(ref)
    got = (lazy * 2 + 1).eval()
    np.testing.assert_array_equal(got, ref * np.float32(2) + np.float32(1))
    np.testing.assert_array_equal((lazy * 2 + 1).eval(backend="interp"), got)


@pytest.mark.parametrize("name", ["normal32", "uniform64", "randint", "truncated"])
def test_same_bits_for_any_thread_count(name: str) -> None:
    expr = SAMPLERS[name](R.key(5), (300_001,))
    drop = la.nn.dropout(np.linspace(-1, 1, 200_003, dtype=np.float32), 0.2, R.key(5))
    before = la.get_num_threads()
    try:
        results = []
        for n in (1, 2, 5):
            la.set_num_threads(n)
            results.append((expr.eval(), drop.eval()))
    finally:
        la.set_num_threads(before)
    for r, d in results[1:]:
        np.testing.assert_array_equal(r, results[0][0])
        np.testing.assert_array_equal(d, results[0][1])


def test_unit_conversion_bounds() -> None:
    """The largest words give the largest float below 1 (never 1.0); shift 1 gives (0, 1]."""
    top = la.asarray(np.array([0xFFFFFFFF, 0, 0x100, 0xFF], np.uint32))
    f32 = to_unit((top,), np.dtype(np.float32)).eval()
    np.testing.assert_array_equal(f32, np.array([1 - 2.0**-24, 0, 2.0**-24, 0], np.float32))
    f64 = to_unit((top, top), np.dtype(np.float64)).eval()
    assert f64[0] == 1 - 2.0**-53 and f64[1] == 0
    np.testing.assert_array_equal(to_unit((top,), np.dtype(np.float32), 1.0).eval()[:2],
                                  np.array([1.0, 2.0**-24], np.float32))


def test_float32_uniform_granularity_and_range() -> None:
    u = R.uniform(R.key(99), (1 << 20,), np.float32).eval()
    scaled = u.astype(np.float64) * 2**24
    assert np.array_equal(scaled, np.floor(scaled))  # multiples of 2**-24
    assert u.min() >= 0 and u.max() < 1
    assert u.min() < 1e-5 and u.max() > 1 - 1e-5
    assert len(np.unique(u)) > 0.96 * u.size  # 2**20 draws of 2**24 values: few repeats


# -- distributions: Kolmogorov-Smirnov at a fixed significance, with fixed seeds --------------
N = 200_000
KS_CRIT = 1.949 / math.sqrt(N)  # alpha = 0.001
_erf = np.vectorize(math.erf)


def _phi(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + _erf(x / math.sqrt(2)))


def _ks(sample: np.ndarray, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    x = np.sort(sample.astype(np.float64))
    f = cdf(x)
    i = np.arange(1, x.size + 1)
    return float(max((i / x.size - f).max(), (f - (i - 1) / x.size).max()))


A, B = -1.5, 2.0
DISTRIBUTIONS = {
    "uniform32": (lambda x: np.clip(x, 0, 1), 0.5, 1 / 12),
    "uniform64": (lambda x: np.clip(x, 0, 1), 0.5, 1 / 12),
    "uniform_range": (lambda x: np.clip((x + 3) / 3.5, 0, 1), -1.25, 3.5**2 / 12),
    "normal32": (_phi, 0.0, 1.0),
    "normal64": (_phi, 0.0, 1.0),
    "exponential": (lambda x: 1 - np.exp(-x), 1.0, 1.0),
    "gumbel": (lambda x: np.exp(-np.exp(-x)), 0.5772156649015329, math.pi**2 / 6),
    "truncated": (lambda x: (_phi(x) - _phi(np.float64(A))) / (_phi(np.float64(B))
                                                               - _phi(np.float64(A))),
                  None, None),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
@pytest.mark.parametrize("seed", [0, 12345])
def test_distribution(name: str, seed: int) -> None:
    cdf, mean, var = DISTRIBUTIONS[name]
    sample = SAMPLERS[name](R.key(seed), (N,)).eval()
    assert np.isfinite(sample).all()
    assert _ks(sample, cdf) < KS_CRIT
    if mean is not None:  # within 5 standard errors
        assert abs(sample.mean() - mean) < 5 * math.sqrt(var / N)
        assert abs(sample.var() / var - 1) < 0.03


def test_ks_detects_a_wrong_distribution() -> None:
    """The statistical check can fail: a normal sample is not uniform, a shifted one not
    normal."""
    normal = R.normal(R.key(1), (N,)).eval()
    assert _ks(normal, lambda x: np.clip(x, 0, 1)) > KS_CRIT
    assert _ks(normal + 0.02, _phi) > KS_CRIT


@pytest.mark.parametrize("lower, upper", [(-1.5, 2.0), (3.0, 3.5), (-8.0, -6.0), (-0.1, 0.1),
                                          (5.0, np.inf), (-np.inf, -4.0)])
def test_truncated_normal_tails(lower: float, upper: float) -> None:
    """Inside the bounds, and distributed as the truncated normal even far in a tail (the
    sampler inverts erfc, which keeps its relative accuracy there)."""
    import mpmath

    x = R.truncated_normal(R.key(8), lower, upper, (20_000,)).eval()
    assert ((x > lower) & (x < upper)).all()

    def cdf(v: np.ndarray) -> np.ndarray:  # via the upper tail, exact to float64 with mpmath
        def q(t: float) -> mpmath.mpf:
            return mpmath.erfc(mpmath.mpf(t) / mpmath.sqrt(2)) / 2
        qa, qb = q(lower), q(upper)
        return np.array([float((qa - q(t)) / (qa - qb)) for t in v])

    assert _ks(x[:4000], cdf) < 1.949 / math.sqrt(4000)


def test_bernoulli_and_randint_frequencies() -> None:
    b = R.bernoulli(R.key(2), 0.3, (N,)).eval()
    assert b.dtype == np.bool_ and abs(b.mean() - 0.3) < 5 * math.sqrt(0.21 / N)
    p = np.linspace(0, 1, 11)
    rows = R.bernoulli(R.key(2), np.broadcast_to(p, (20_000, 11))).eval()
    np.testing.assert_allclose(rows.mean(axis=0), p, atol=0.015)
    assert not rows[:, 0].any() and rows[:, -1].all()
    r = R.randint(R.key(4), (N,), -3, 7).eval()
    assert r.dtype == np.int64 and r.min() == -3 and r.max() == 6
    counts = np.bincount(r + 3, minlength=10)
    chi2 = ((counts - N / 10) ** 2 / (N / 10)).sum()
    assert chi2 < 27.9  # 9 degrees of freedom, alpha = 0.001
    full = R.randint(R.key(4), (4000,), 0, 256, np.uint8).eval()
    assert full.dtype == np.uint8 and full.min() == 0 and full.max() == 255
    wide = R.randint(R.key(4), (1000,), -2**63, 2**63).eval()
    assert (wide < 0).any() and (wide > 0).any()


def test_randint_with_array_bounds() -> None:
    lo = np.array([0, -5, 10, 3])
    hi = np.array([1, 5, 20, 3])  # the last range is empty: minval
    r = R.randint(R.key(6), (5000, 4), lo, hi).eval()
    assert ((r >= lo) | (lo == hi)).all() and ((r < hi) | (lo == hi)).all()
    assert (r[:, 0] == 0).all() and (r[:, 3] == 3).all()
    assert len(np.unique(r[:, 2])) == 10


# -- keys -------------------------------------------------------------------------------------
def test_keys() -> None:
    k = R.key(42)
    assert R.key(42) == k and R.key(42 + 2**64) == k and R.key(-1) == R.key(2**64 - 1)
    a, b = R.split(k)
    assert len({a, b, k}) == 3 and R.split(k) == (a, b)
    assert R.split(k, 3)[:2] == (a, b) and R.split(k, 0) == ()
    assert R.fold_in(k, 1) != R.fold_in(k, 2) and R.fold_in(k, 1) == R.fold_in(k, 1)
    assert R.fold_in(k, 0) not in (a, b)  # split and fold_in derive in different domains
    assert R.wrap_key_data(R.key_data(k)) == k
    assert R.key_data(R.key(5)).tolist() == [5, 0]
    x, y = (R.uniform(kk, (1000,)).eval() for kk in (a, b))
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.15
    assert R.uniform(k, (10,))._node is R.uniform(k, (10,))._node  # the same key: numbers


def test_new_keys_compile_nothing() -> None:
    x = la.asarray(np.ones(1000, np.float32))
    la.nn.dropout(x, 0.5, R.key(0)).eval()
    compiles = la.cache_info().compiles
    for s in range(1, 6):
        la.nn.dropout(x, 0.1 * s, R.key(s)).eval()
        R.normal(R.key(s), (1000,), np.float32).eval()
    R.normal(R.key(0), (1000,), np.float32).eval()
    assert la.cache_info().compiles <= compiles + 1  # normal's one kernel, dropout's none


def test_errors() -> None:
    k = R.key(0)
    with pytest.raises(TypeError, match="key"):
        R.uniform(0, (3,))
    with pytest.raises(TypeError, match="integer seed"):
        R.key(1.5)
    with pytest.raises(ValueError, match="negative"):
        R.normal(k, (2, -1))
    with pytest.raises(TypeError, match="shape"):
        R.normal(k, (2.5,))
    with pytest.raises(TypeError, match="float32 or float64"):
        R.uniform(k, (3,), np.int32)
    with pytest.raises(ValueError, match="minval < maxval"):
        R.uniform(k, (3,), minval=1.0, maxval=1.0)
    with pytest.raises(ValueError, match="0 <= p <= 1"):
        R.bernoulli(k, 1.5, (3,))
    with pytest.raises(ValueError, match="minval < maxval"):
        R.randint(k, (3,), 5, 5)
    with pytest.raises(ValueError):
        R.randint(k, (3,), 0, 300, np.int8)
    with pytest.raises(TypeError, match="integers"):
        R.randint(k, (3,), 0, 3, np.float32)
    with pytest.raises(TypeError, match="unsigned"):
        R.bits(k, (3,), np.int32)
    with pytest.raises(ValueError, match="lower < upper"):
        R.truncated_normal(k, 2.0, 1.0, (3,))
    with pytest.raises(ValueError):
        R.truncated_normal(k, np.zeros(3), 1.0, (4,))
    with pytest.raises(ValueError):
        R.split(k, -1)
    with pytest.raises(ValueError):
        R.wrap_key_data([1, 2, 3])


# -- dropout ----------------------------------------------------------------------------------
def test_dropout_values() -> None:
    x = np.random.default_rng(0).standard_normal(100_000).astype(np.float32)
    k = R.key(17)
    y = la.nn.dropout(x, 0.3, k).eval()
    kept = y != 0
    assert y.dtype == np.float32 and abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_array_equal(y[kept], x[kept] * np.float32(1 / 0.7))
    assert np.array_equal(la.nn.dropout(x, 0.3, k).eval(), y)  # the key decides the mask
    assert not np.array_equal(la.nn.dropout(x, 0.3, R.key(18)).eval(), y)
    assert la.nn.dropout(x, 0.3, k, training=False).eval() is not None
    np.testing.assert_array_equal(la.nn.dropout(x, 0.3, k, training=False).eval(), x)
    np.testing.assert_array_equal(la.nn.dropout(x, 0.0, None).eval(), x)
    np.testing.assert_array_equal(la.nn.dropout(x, 1.0, k).eval(), np.zeros_like(x))
    special = np.array([np.nan, np.inf, -np.inf, -0.0] * 4, np.float32)
    z = la.nn.dropout(special, 0.5, k).eval()
    assert np.isnan(z[0::4]).all()  # NaN * 0 is NaN, as PyTorch's mask multiply gives
    assert (np.isnan(z[1:3]) | np.isinf(z[1:3])).all()
    assert la.nn.dropout(np.ones((3, 0)), 0.5, k).eval().shape == (3, 0)
    assert la.nn.dropout(np.float64(2.0), 0.5, k).eval().shape == ()


def test_dropout_is_one_kernel_reading_x_only() -> None:
    x = la.asarray(np.ones((256, 1024), np.float32))
    expr = la.nn.dropout(x * 2 + 1, 0.1, R.key(1))
    steps = la.explain(expr).kernel_steps
    assert len(steps) == 1
    reads = [v for v in steps[0].launch.inputs if v.array is not COUNTER_MEMORY]
    assert len(reads) == 1 and reads[0].array.nbytes == 256 * 1024 * 4


def test_dropout_allocates_no_mask() -> None:
    x = np.ones(2_000_000, np.float32)
    k = R.key(3)
    la.nn.dropout(x, 0.5, k).eval()  # compiled before measuring
    tracemalloc.start()
    try:
        la.nn.dropout(x, 0.5, R.key(4)).eval()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.nbytes * 1.25  # the result, and no array of the data's size besides it


def test_dropout_gradient_regenerates_the_mask() -> None:
    x = np.random.default_rng(1).standard_normal((64, 33))
    k = R.key(21)
    mask = la.nn.dropout(np.ones_like(x), 0.4, k).eval()
    g = la.grad(lambda t: (la.nn.dropout(t, 0.4, k) * 3).sum())(x)
    np.testing.assert_allclose(g, 3 * mask, rtol=1e-15)
    loss = lambda t: la.sum(la.tanh(la.nn.dropout(t, 0.4, k)) ** 2)  # noqa: E731
    g2 = la.grad(loss)(x)
    eps = 1e-6
    probe = np.zeros_like(x)
    probe[3, 5] = eps
    numeric = (loss(x + probe).eval() - loss(x - probe).eval()) / (2 * eps)
    assert abs(g2[3, 5] - numeric) < 1e-6


def test_dropout_errors() -> None:
    k = R.key(0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        la.nn.dropout(np.ones(3), 1.5, k)
    with pytest.raises(TypeError, match="float"):
        la.nn.dropout(np.ones(3, np.int32), 0.5, k)
    with pytest.raises(TypeError, match="key"):
        la.nn.dropout(np.ones(3), 0.5)


def test_random_over_dask() -> None:
    """Over a Dask array each chunk draws its part of the index: the same numbers."""
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.arange(6000, dtype=np.float32).reshape(60, 100), chunks=(25, 40))
    k = R.key(10)
    got = np.asarray(la.nn.dropout(la.asarray(x), 0.5, k).eval())
    np.testing.assert_array_equal(got, la.nn.dropout(x.compute(), 0.5, k).eval())


def test_torch_dropout_statistics_agree() -> None:
    """PyTorch draws other masks (its own generator) but the same distribution: keep rate and
    scale."""
    torch = pytest.importorskip("torch")
    x = np.full(200_000, 2.0, np.float32)
    ours = la.nn.dropout(x, 0.25, R.key(0)).eval()
    theirs = torch.nn.functional.dropout(torch.from_numpy(x), 0.25).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs))
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < 0.01
