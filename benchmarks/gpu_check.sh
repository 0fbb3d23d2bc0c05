#!/usr/bin/env bash
# The whole check of the CUDA backend on a lent GPU machine, in one call (docs/cuda.md):
#   1. install this working tree into the machine's Python, without dependencies (nothing
#      can be fetched there; the image has numpy, llvmlite, sympy, pytest, CuPy, PyTorch, JAX);
#      print the card, the driver and the versions;
#   2. the GPU suite (pytest -m gpu), JUnit XML and the log under $OUT;
#   3. benchmarks/gpu_bench.py, its JSON, table and log under $OUT.
# The summaries come last, since a reply carries the end of the output.
#
#   OUT=/tmp/out bash benchmarks/gpu_check.sh                # everything
#   STAGES=bench BENCH_ARGS="--only gelu" bash benchmarks/gpu_check.sh
#
# Time limits (seconds): TESTS_TIMEOUT (default 240), BENCH_TIMEOUT (default 210); the
# benchmark skips its peers' columns after BENCH_DEADLINE (default 150). TEST_ARGS adds
# pytest arguments (TEST_ARGS=--emulate-gpu: the test stage on the emulated device, here).
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
PY=${PYTHON:-python3}
STAGES=${STAGES:-tests,bench}
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX would take 75% of the GPU at start
mkdir -p "$OUT"
started=$(date +%s)

section() { echo; echo "== $* ($(($(date +%s) - started)) s)"; }

section "machine"
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem \
    --format=csv 2>&1 | tee "$OUT/nvidia-smi.txt"
nvidia-smi > "$OUT/nvidia-smi-full.txt" 2>&1
command -v ptxas > /dev/null && ptxas --version | tail -1
git log -1 --format='commit %h %s' 2>/dev/null

section "install"
if ! "$PY" -m pip install --no-deps --no-build-isolation -e . > "$OUT/install.log" 2>&1; then
    # (an old setuptools, say): put the two folders where pyproject's package-dir maps
    # them, in this copy of the tree, and import it from here
    tail -5 "$OUT/install.log"
    echo "pip could not install the tree; importing it through PYTHONPATH instead"
    ln -sfn "$PWD/backends" lazyarr/backends
    ln -sfn "$PWD/codegen" lazyarr/codegen
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" - <<'EOF' 2>&1 | tee "$OUT/versions.txt"
import importlib, platform
print("python", platform.python_version())
for name in ("numpy", "llvmlite", "sympy", "pytest", "hypothesis", "mpmath", "cupy", "torch",
             "jax", "triton", "numba"):
    try:
        print(name, importlib.import_module(name).__version__)
    except Exception as exc:
        print(name, "absent:", type(exc).__name__)
import llvmlite.binding as llvm
print("LLVM", ".".join(map(str, llvm.llvm_version_info)))
from lazyarr.backends import cuda, cuda_driver
print("lazyarr sees a GPU:", cuda_driver.is_available() or cuda_driver.why_unavailable())
if cuda_driver.is_available():
    ctx = cuda_driver.context()
    print("device:", ctx.name, ctx.arch, ctx.sm_count, "SMs")
print("libdevice:", cuda.libdevice())
EOF

tests_rc=skipped
if [[ $STAGES == *tests* ]]; then
    section "GPU tests"
    files=$(grep -l "pytest.mark.gpu" tests/test_*.py | tr '\n' ' ')
    plugins=()
    "$PY" -c "import xdist" 2> /dev/null && plugins+=(-n "${TEST_WORKERS:-8}")
    "$PY" -c "import pytest_timeout" 2> /dev/null && plugins+=(--timeout 120)
    # shellcheck disable=SC2086  # the file list and TEST_ARGS are meant to split
    timeout "${TESTS_TIMEOUT:-240}" "$PY" -m pytest -m gpu $files ${plugins[@]+"${plugins[@]}"} \
        ${TEST_ARGS:-} \
        -p no:cacheprovider -q --tb=short -rfE --continue-on-collection-errors \
        --junitxml="$OUT/gpu-tests.xml" > "$OUT/gpu-tests.log" 2>&1
    tests_rc=$?
    grep -E "^(FAILED|ERROR)" "$OUT/gpu-tests.log" | cut -c1-300 | head -40
fi

bench_rc=skipped
if [[ $STAGES == *bench* ]]; then
    section "benchmark"
    # shellcheck disable=SC2086  # BENCH_ARGS holds several arguments
    timeout "${BENCH_TIMEOUT:-210}" "$PY" benchmarks/gpu_bench.py \
        --deadline "${BENCH_DEADLINE:-150}" ${BENCH_ARGS:-} \
        --json "$OUT/gpu_bench.json" --table "$OUT/gpu_bench.md" \
        > "$OUT/gpu_bench.out" 2> "$OUT/gpu_bench.log"
    bench_rc=$?
    tail -15 "$OUT/gpu_bench.log"
    cat "$OUT/gpu_bench.md" 2> /dev/null || cat "$OUT/gpu_bench.out"
fi

section "summary"
[[ -f $OUT/gpu-tests.log ]] && tail -1 "$OUT/gpu-tests.log"
echo "tests exit status: $tests_rc; benchmark exit status: $bench_rc (124: timed out)"
[[ $tests_rc == 0 || $tests_rc == skipped ]] && [[ $bench_rc == 0 || $bench_rc == skipped ]]
