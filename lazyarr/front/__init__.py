"""The front end: arrays, functions, views and reductions that build graphs."""
