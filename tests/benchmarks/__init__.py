"""Benchmarks (scripts/bench); not collected by the test run."""
