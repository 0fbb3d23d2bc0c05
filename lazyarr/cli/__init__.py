"""The command line (``python -m lazyarr``): demo, explain, bench."""
