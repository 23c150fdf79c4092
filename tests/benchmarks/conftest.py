"""Options of the realtime benchmark (pytest runs it in an environment of its own)."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    """--rt-* options of bench_realtime.py."""
    group = parser.getgroup("bench_realtime", "realtime benchmark")
    group.addoption(
        "--rt-quick",
        action="store_true",
        help="smoke run: N = 10 and 50, one 4 s window each",
    )
    group.addoption(
        "--rt-window", type=float, help="seconds measured per run of a step (10)"
    )
    group.addoption(
        "--rt-repeats", type=int, help="runs of each step, ours and the floor (3)"
    )
    group.addoption(
        "--rt-cps", type=float, help="calls placed (streams opened) per second (25)"
    )
    group.addoption("--rt-warmup", type=float, help="seconds of streaming before (2)")
    group.addoption(
        "--rt-steps", help="concurrent calls per step (10,50,100,150,200,250,300)"
    )
    group.addoption("--rt-engines", help="engines to measure (realtime,live)")
    group.addoption(
        "--rt-delta-ms", type=int, help="ms of audio in each OpenAI delta (100)"
    )
    group.addoption(
        "--rt-no-stop",
        action="store_true",
        help="run every step even after p99 passed one frame",
    )
    group.addoption(
        "--rt-keep-host-limit",
        action="store_true",
        help="keep HA's 100 connections per host (each OpenAI socket holds one)",
    )
    group.addoption("--rt-out", help="also write the JSON to this file")
    group.addoption(
        "--rt-profile", help="directory for a cProfile of each measured window"
    )
