"""``python -m lazyarr bench``: lazyarr against NumPy, numexpr, Numba and JAX, in one run.

For every thread count asked for, one fresh worker process (pinned to that many CPUs, with
every library's thread pool sized to match) times the workloads of issue 4 with each available
implementation, samples taken round-robin so machine noise hits all of them alike, and reports
medians. It also measures a STREAM-style triad (the bandwidth the memory-bound workloads are
held against), per-call overhead at tiny sizes and compile latency, in process and in fresh
processes. The parent process prints the tables, writes a JSON file and, when matplotlib is
importable, a plot.

numexpr, Numba and JAX are optional and imported only inside the worker, so the benchmark
runs, with fewer columns, without them. Compile and first-call costs are excluded from the
timings and reported on their own.

Modules: ``workloads`` (what is measured, the configuration), ``numba_kernels`` (the loops a
Numba user writes), ``timing``, ``measure`` (a cell, the triad, per-call overhead),
``latency`` (compile latency; ``scripts`` run in fresh processes), ``backward`` (issue 14's
backward workloads, against JAX and PyTorch), ``daskrun`` (issue 20's small Dask section),
``worker`` (the process per thread count, the machine's facts), ``report`` (tables and
goals), ``command`` (arguments, the run, the plot). No module of lazyarr's core imports
this package.
"""

from .command import add_arguments, run
from .latency import ops_text, ten_ops
from .report import report
from .worker import cpu_model, worker_main
from .workloads import BY_KEY, SCHEMA, WORKLOADS

__all__ = ["BY_KEY", "SCHEMA", "WORKLOADS", "add_arguments", "cpu_model", "ops_text", "report",
           "run", "ten_ops", "worker_main"]
