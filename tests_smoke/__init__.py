"""Smoke test: the real Home Assistant process with the simulator, as scripts/develop runs it."""
