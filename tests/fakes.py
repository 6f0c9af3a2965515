"""Test doubles for pure-logic and daemon tests: a clock advanced by hand."""

from __future__ import annotations

import asyncio
import time

__all__ = ["FakeClock"]


class FakeClock:
    """A daemon clock that only moves when a test calls :meth:`advance`."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._now = float(start_ms if start_ms is not None else time.time_ns() // 1_000_000)
        self._sleepers: list[tuple[int, asyncio.Future[None]]] = []

    def now_ms(self) -> int:
        return int(self._now)

    def precise_ms(self) -> float:
        return self._now

    async def sleep_until(self, deadline_ms: int) -> None:
        if deadline_ms <= self._now:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((deadline_ms, future))
        await future

    def advance(self, ms: float) -> None:
        self._now += ms
        waiting = []
        for deadline, future in self._sleepers:
            if future.done():
                continue
            if deadline <= self._now:
                future.set_result(None)
            else:
                waiting.append((deadline, future))
        self._sleepers = waiting
