"""Evaluation: one evaluator for every backend, the fast path, outputs, devices."""
