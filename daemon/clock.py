"""The daemon's clock, injected everywhere time matters.

Timeline anchors, token expiry, rate limits and auto-advance all read the
clock through this interface, so tests drive time by hand.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

__all__ = ["Clock", "SystemClock"]


class Clock(Protocol):
    def now_ms(self) -> int:
        """Wall-clock milliseconds since the epoch."""
        ...

    def precise_ms(self) -> float:
        """The same clock with sub-millisecond precision (for clock probes)."""
        ...

    async def sleep_until(self, deadline_ms: int) -> None: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def precise_ms(self) -> float:
        return time.time_ns() / 1_000_000

    async def sleep_until(self, deadline_ms: int) -> None:
        delay = (deadline_ms - self.precise_ms()) / 1000
        if delay > 0:
            await asyncio.sleep(delay)
