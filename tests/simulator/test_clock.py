"""The simulated clock: scaled time, and a loaded machine's stalls left out."""

from __future__ import annotations

import asyncio
import time

import pytest

from simulator.clock import MAX_STEP_S, SimClock


def stall(seconds: float) -> None:
    """Block the event loop, as a loaded machine does."""
    time.sleep(seconds)


async def test_a_stall_counts_in_full_without_keep_time() -> None:
    clock = SimClock(speed=20)
    before = clock.now()
    stall(0.1)
    assert clock.now() - before >= 2.0  # 0.1 s real at 20x


async def test_a_stall_is_left_out_while_keeping_time() -> None:
    clock = SimClock(speed=20)
    keeper = asyncio.create_task(clock.keep_time())
    await asyncio.sleep(0)
    before = clock.now()
    stall(0.1)
    after = clock.now()
    keeper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await keeper
    assert after - before == pytest.approx(MAX_STEP_S)
    # Once the keeper is gone, a long gap between readings is no stall: it counts.
    stall(0.1)
    assert clock.now() - after >= 2.0
