import numpy as np
import pytest

import lazyarr as la

BACKENDS = ["interp", "cpu"]


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def kernels_run(fn):
    """Number of compiled kernels ``fn`` launched (each launch is one cache lookup)."""
    before = la.cache_info()
    fn()
    after = la.cache_info()
    return (after.hits + after.misses) - (before.hits + before.misses)
