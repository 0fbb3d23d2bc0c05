"""Libraries that accept any array API namespace run on lazy arrays.

scikit-learn (``array_api_dispatch=True``) and SciPy find lazyarr through
``x.__array_namespace__()`` and call only standard functions; their results are lazy arrays
(or Python floats) equal to what they compute from NumPy arrays. Both read
``SCIPY_ARRAY_API=1`` when first imported, so each case runs in a fresh interpreter. Both
are optional: these tests are skipped where they are not installed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

_COMMON = """
import numpy as np, lazyarr as la
x = np.random.default_rng(0).standard_normal((40, 5))
def check(name, f, lazy_result=True):
    got = f(la.asarray(x))
    assert isinstance(got, la.LazyArray) == lazy_result, (name, type(got))
    np.testing.assert_allclose(np.asarray(got), f(x), rtol=1e-12, atol=1e-12)
    print(name, "ok")
"""

CASES = {
    "sklearn": ("sklearn", """
        import sklearn
        from sklearn.metrics import mean_squared_error, r2_score
        from sklearn.preprocessing import MinMaxScaler, StandardScaler
        with sklearn.config_context(array_api_dispatch=True):
            check("StandardScaler", lambda v: StandardScaler().fit_transform(v))
            check("MinMaxScaler", lambda v: MinMaxScaler().fit_transform(v))
            check("r2_score", lambda v: r2_score(v[:, 0], v[:, 1] * 0.5 + v[:, 0]), False)
            check("mean_squared_error", lambda v: mean_squared_error(v[:, 0], v[:, 1]), False)
    """),
    "scipy": ("scipy", """
        import scipy.special as sp, scipy.stats as st
        check("logsumexp", lambda v: sp.logsumexp(v, axis=0))
        check("softmax", lambda v: sp.softmax(v, axis=1))
        check("zscore", lambda v: st.zscore(v))
        check("skew", lambda v: st.skew(v))
        check("moment", lambda v: st.moment(v, 3))
    """),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_library_on_lazy_arrays(case: str) -> None:
    module, body = CASES[case]
    pytest.importorskip(module)
    if module == "sklearn":
        pytest.importorskip("array_api_compat")
    script = _COMMON + textwrap.dedent(body)
    env = {"SCIPY_ARRAY_API": "1", "PYTHONDONTWRITEBYTECODE": "1", "PATH": ""}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count(" ok") == body.count("check(")
