"""Simulated time: real time for the development instance, faster for tests."""

from __future__ import annotations

import asyncio
import time


class SimClock:
    """Every wait in the simulator goes through here, divided by `speed`."""

    def __init__(self, speed: float = 1.0) -> None:
        """speed=1 is real time; speed=50 makes a 5 s ring take 0.1 s."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def now(self) -> float:
        """Simulated seconds since the clock was made."""
        return (time.monotonic() - self._start) * self.speed

    def real(self, seconds: float) -> float:
        """Real seconds that `seconds` of simulated time take."""
        return seconds / self.speed
