"""Wiring the daemon together: start the parts in order, stop them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from types import TracebackType

from .auth import TokenSigner, load_or_create_secret
from .clock import Clock, SystemClock
from .config import Settings
from .hub import Hub
from .scheduler import Scheduler
from .server import Server
from .service import Service
from .store.db import Store
from .systemd import Notifier

__all__ = ["Daemon"]

log = logging.getLogger(__name__)

SWEEP_EVERY_MS = 30_000


class Daemon:
    """A running cmpd: ``async with Daemon(settings) as daemon: ...``."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.admin_token_file: Path | None = None
        self._store: Store | None = None
        self._server: Server | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def url(self) -> str:
        assert self._server is not None, "daemon not started"
        return self._server.url

    @property
    def server(self) -> Server:
        assert self._server is not None, "daemon not started"
        return self._server

    async def start(self) -> None:
        state_dir = self.settings.state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._store = store = Store(self.settings.db_url)
        try:
            await store.migrate()
            signer = TokenSigner(load_or_create_secret(state_dir))
            hub = Hub()
            service = Service(
                store=store, signer=signer, hub=hub, clock=self.clock, settings=self.settings
            )
            self.admin_token_file = await service.bootstrap_admin()
            scheduler = Scheduler(service, self.clock)
            self._server = Server(
                service=service, hub=hub, clock=self.clock, settings=self.settings
            )
            await self._server.start()
            self._tasks.append(asyncio.create_task(scheduler.run(), name="cmpd-scheduler"))
            self._tasks.append(asyncio.create_task(self._sweep(hub), name="cmpd-sweep"))
        except BaseException:
            await self.stop()
            raise

    async def _sweep(self, hub: Hub) -> None:
        """Every so often, stop sending events to connections whose token expired."""
        while True:
            await self.clock.sleep_until(self.clock.now_ms() + SWEEP_EVERY_MS)
            dropped = hub.drop_expired(self.clock.now_ms())
            if dropped:
                log.info("unsubscribed %d connections with expired tokens", dropped)

    async def issue_admin_token(self, name: str, ttl_s: int) -> str:
        """Open the state and database (no server) and issue an admin token."""
        state_dir = self.settings.state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = Store(self.settings.db_url)
        try:
            await store.migrate()
            signer = TokenSigner(load_or_create_secret(state_dir))
            service = Service(
                store=store, signer=signer, hub=Hub(), clock=self.clock, settings=self.settings
            )
            return await service.issue_admin_token(name, ttl_s)
        finally:
            await store.close()

    async def stop(self) -> None:
        for task in reversed(self._tasks):
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._server is not None:
            await self._server.stop()
            self._server = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def __aenter__(self) -> Daemon:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self, *, on_ready: object = None) -> None:
        """Run until SIGTERM or SIGINT, talking to systemd when it is there."""
        notifier = Notifier()
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await self.start()
        watchdog = asyncio.create_task(notifier.watchdog(), name="cmpd-watchdog")
        try:
            notifier.notify("READY=1", f"STATUS=serving on {self.url}")
            if callable(on_ready):
                on_ready(self)
            await stop.wait()
            log.info("stopping")
            notifier.notify("STOPPING=1")
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self.stop()
