"""One fresh process: import lazyarr, evaluate a new expression; print the timings as JSON."""

import json
import sys
import time


def main() -> None:
    t0 = time.perf_counter()
    import numpy as np

    t1 = time.perf_counter()
    import lazyarr as la

    t2 = time.perf_counter()
    llvm_on_import = any(m.startswith("llvmlite") for m in sys.modules)
    a, b, c = (la.asarray(np.linspace(0.1, 1.0, 1000)) for _ in range(3))
    (((a + b) * c - la.exp(a)) / (b + 2.0) * la.sin(c) + a * b).eval()
    t3 = time.perf_counter()
    try:
        from lazyarr.backends import diskcache

        disk = diskcache.info()._asdict()
    except Exception:  # an older lazyarr without the disk cache: report the rest
        disk = None
    print(json.dumps({"import_numpy_s": t1 - t0, "import_s": t2 - t1, "first_eval_s": t3 - t2,
                      "llvm_loaded_by_import": llvm_on_import, "disk": disk}))


if __name__ == "__main__":
    main()
