"""Simulated time: real time for the development instance, faster for tests."""

from __future__ import annotations

import asyncio
import time

# On a fast clock a stall of the event loop (a loaded machine) of a few real
# milliseconds is hundreds of simulated ones in which nobody, Home Assistant
# included, could send audio: counting them would invent a pause no real call has.
# While `keep_time` reads the clock every few milliseconds, a longer gap between
# two readings can only be a stall, and counts as this much simulated time.
MAX_STEP_S = 0.3


class SimClock:
    """Every wait in the simulator goes through here, divided by `speed`."""

    def __init__(self, speed: float = 1.0) -> None:
        """speed=1 is real time; speed=50 makes a 5 s ring take 0.1 s."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.monotonic()
        self._last_real = self._start
        self._now = 0.0
        self._leave_out_stalls = False

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def now(self) -> float:
        """Simulated seconds since the clock was made, stalls left out."""
        real = time.monotonic()
        step = (real - self._last_real) * self.speed
        self._now += min(step, MAX_STEP_S) if self._leave_out_stalls else step
        self._last_real = real
        return self._now

    async def keep_time(self) -> None:
        """Read the clock often enough that only a stall leaves a long gap (runs until cancelled)."""
        self.now()
        self._leave_out_stalls = True
        try:
            while True:
                await asyncio.sleep(MAX_STEP_S / self.speed / 4)
                self.now()
        finally:
            self._leave_out_stalls = False

    def real(self, seconds: float) -> float:
        """Real seconds that `seconds` of simulated time take."""
        return seconds / self.speed
