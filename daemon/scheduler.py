"""Auto-advance: moves each playing session on when its item runs out.

The service pokes the scheduler whenever a session's timeline changes; the
scheduler asks the service to advance a session at ``end - lead`` so that
followers hear of the next item ``lead`` ahead and start it gaplessly.
With several daemons on one database, each may try; the transaction in
:meth:`daemon.service.Service.advance` makes the second one a no-op.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from typing import Any

from .clock import Clock
from .service import Service
from .store import queries

__all__ = ["Scheduler"]

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, service: Service, clock: Clock) -> None:
        self._service = service
        self._clock = clock
        self._due: dict[str, int] = {}
        self._heap: list[tuple[int, str]] = []
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        service.on_timeline_change = self.poke

    def poke(self, session: str) -> None:
        """``session``'s timeline changed: look at it again."""
        self._dirty.add(session)
        self._wake.set()

    def due(self, session: str) -> int | None:
        return self._due.get(session)

    async def _load(self) -> None:
        async with self._service.store.read() as conn:
            for row in await queries.playing_sessions(conn):
                self._dirty.add(str(row.id))

    def _set(self, session: str, due: int | None) -> None:
        if due is None:
            self._due.pop(session, None)
            return
        self._due[session] = due
        heapq.heappush(self._heap, (due, session))

    async def _check(self, session: str) -> None:
        try:
            due = await self._service.advance_due(session)
            if due is not None and due <= self._clock.now_ms():
                due = await self._service.advance(session)
            self._set(session, due)
        except Exception:
            log.exception("auto-advance of session %s failed; retrying in 1 s", session)
            self._set(session, self._clock.now_ms() + 1000)

    async def run(self) -> None:
        await self._load()
        while True:
            self._wake.clear()
            while self._dirty:
                await self._check(self._dirty.pop())
            now = self._clock.now_ms()
            while self._heap and self._heap[0][0] <= now:
                due, session = heapq.heappop(self._heap)
                if self._due.get(session) == due:
                    await self._check(session)
            if self._dirty:
                continue
            await self._sleep()

    async def _sleep(self) -> None:
        """Until the earliest deadline, or until poked."""
        waits: set[asyncio.Future[Any]] = {asyncio.ensure_future(self._wake.wait())}
        if self._heap:
            waits.add(asyncio.ensure_future(self._clock.sleep_until(self._heap[0][0])))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
