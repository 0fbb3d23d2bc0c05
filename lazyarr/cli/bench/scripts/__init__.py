"""Scripts the benchmark runs by path in fresh processes (import plus first evaluation).

They are files rather than ``python -c`` strings so that they are ordinary, checked code; run
by path, not with ``-m``, so that nothing of lazyarr is imported before the clock starts.
"""
