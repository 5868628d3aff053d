"""Benchmarks: capacity and cost per order line, cold start, end-to-end throughput.

Run them with `python benchmarks/run.py [--quick] [--json]` (see README, "Benchmarks").
They measure; they never assert. The smoke test only checks that they run.
"""
