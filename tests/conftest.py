import numpy as np
import pytest

import lazyarr as la

BACKENDS = ["interp", "cpu"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--emulate-gpu", action="store_true",
                     help="run the GPU tests (-m gpu) on the emulated device of "
                          "test_cuda_nogpu.py: a dry run of the suite before a real GPU's")


def pytest_configure(config: pytest.Config) -> None:
    if config.getoption("--emulate-gpu"):
        import tempfile
        from pathlib import Path

        from test_cuda_nogpu import emulate_for_the_session

        emulate_for_the_session(Path(tempfile.mkdtemp(prefix="lazyarr-fakecuda-")))


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


@pytest.fixture(autouse=True, scope="session")
def _private_kernel_cache(tmp_path_factory):
    """Point the on-disk kernel cache at a temporary folder (this process and the ones tests
    start), so the suite never touches the user's cache. It is off unless a test turns it on
    (tests/test_diskcache.py): tests that count compiles after ``clear_cache()`` mean
    in-process compiles, which a disk hit would skip."""
    from lazyarr import config

    folder = str(tmp_path_factory.mktemp("lazyarr-cache"))
    patch = pytest.MonkeyPatch()
    patch.setenv("LAZYARR_CACHE_DIR", folder)
    patch.setenv("LAZYARR_DISK_CACHE", "0")
    patch.setattr(config.settings, "cache_dir", folder)
    patch.setattr(config.settings, "disk_cache", False)
    yield folder
    patch.undo()
