"""One fresh process: import Numba and numba_kernel.py (its cache in ``NUMBA_CACHE_DIR``),
call the kernel once; print the timings as JSON."""

import json
import time


def main() -> None:
    t0 = time.perf_counter()
    import numpy as np

    t1 = time.perf_counter()
    import numba  # noqa: F401 - imported first so that its cost is counted as import
    import numba_kernel  # this script's folder is sys.path[0]

    t2 = time.perf_counter()
    a = np.linspace(0.1, 1.0, 1000)
    numba_kernel.kernel(a, a, a)
    t3 = time.perf_counter()
    print(json.dumps({"import_numpy_s": t1 - t0, "import_s": t2 - t1, "first_eval_s": t3 - t2}))


if __name__ == "__main__":
    main()
