"""The follower: keeps a player on a session's shared timeline.

It estimates the daemon's clock (:mod:`cmp.core.clocksync`), follows the
session's events through the client's :class:`~cmp.core.view.SessionView`,
turns the timeline into an instruction (:func:`cmp.core.follow.plan`) and
corrects the player every tick (:class:`cmp.core.sync.SyncPolicy`).  The
player is anything with the :class:`~cmp.follower.player.Player` methods.

Times: ``local`` is this machine's monotonic clock in milliseconds (the
event loop's clock); ``daemon`` is the daemon's clock, from the estimate.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cmp.core.clocksync import ClockEstimator, Probe
from cmp.core.follow import Plan, plan
from cmp.core.models import PlaybackInfo
from cmp.core.sync import Decision, SyncPolicy

from .media import resolve

if TYPE_CHECKING:
    from cmp.client import Client

    from .player import Player

__all__ = ["Follower", "FollowerSettings", "StartAt", "monotonic_ms"]

log = logging.getLogger(__name__)


def monotonic_ms() -> float:
    return time.monotonic() * 1000


@dataclass
class FollowerSettings:
    media_roots: Sequence[Path] = ()
    #: This machine's output latency: sound leaves the speaker this late.
    latency_ms: float = 0.0
    tick_ms: float = 50.0
    #: Clock probes at connect, and how often to probe again.
    burst: int = 8
    refresh_s: float = 10.0
    policy: SyncPolicy = field(default_factory=SyncPolicy)
    #: How this follower appears to hosts, and how often it reports.
    name: str = field(default_factory=socket.gethostname)
    report_s: float = 1.0


class Cancellable(Protocol):
    def cancel(self) -> None: ...


#: Run ``action`` at a local instant, then ``done`` on the event loop.
StartAt = Callable[[float, Callable[[], None], Callable[[], None]], Cancellable]


class _Starter:
    """Unpauses the player at a precise instant, from a thread of its own.

    The event loop wakes up to a millisecond late; this sleeps until just
    before the instant and spins the rest of the way.
    """

    SPIN_MS = 2.0

    def __init__(
        self, at_local_ms: float, action: Callable[[], None], done: Callable[[], None]
    ) -> None:
        self._cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._done = done
        self._thread = threading.Thread(
            target=self._run, args=(at_local_ms, action), name="cmp-starter", daemon=True
        )
        self._thread.start()

    def _run(self, at_ms: float, action: Callable[[], None]) -> None:
        wait_s = (at_ms - self.SPIN_MS - monotonic_ms()) / 1000
        if wait_s > 0 and self._cancel.wait(wait_s):
            return
        while monotonic_ms() < at_ms:
            if self._cancel.is_set():
                return
        if not self._cancel.is_set():
            action()
            self._loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self._cancel.is_set():
            self._done()

    def cancel(self) -> None:
        self._cancel.set()


class Follower:
    def __init__(
        self,
        client: Client,
        session: str,
        player: Player,
        settings: FollowerSettings | None = None,
        *,
        now_ms: Callable[[], float] = monotonic_ms,
        start_at: StartAt | None = None,
    ) -> None:
        self.client = client
        self.session = session
        self.player = player
        self.settings = settings or FollowerSettings()
        self.now_ms = now_ms
        self.clock = ClockEstimator()
        self.policy = self.settings.policy
        #: What the player holds and does, as this follower told it.
        self.item: int | None = None
        self.playing = False
        self.missing: set[int] = set()
        self.last: Decision | None = None
        #: The item and position the player was last told to wait at, paused.
        self._waiting_at: tuple[int, float] | None = None
        self._start_at: StartAt = start_at or _Starter
        self._starter: Cancellable | None = None

    # -- the clock ---------------------------------------------------------------

    async def probe(self, count: int = 1) -> None:
        for _ in range(count):
            t0 = self.now_ms()
            result = await self.client.call("time")
            t3 = self.now_ms()
            self.clock.add(Probe(t0, float(result["recv_ms"]), float(result["send_ms"]), t3))

    def daemon_now(self) -> float:
        estimate = self.clock.estimate
        if estimate is None:
            raise RuntimeError("no clock estimate yet: probe first")
        return estimate.to_daemon(self.now_ms())

    def to_local(self, daemon_ms: float) -> float:
        estimate = self.clock.estimate
        assert estimate is not None
        return estimate.to_local(daemon_ms)

    # -- following ---------------------------------------------------------------

    async def run(self) -> None:
        """Follow until cancelled; the player keeps the last timeline meanwhile."""
        await self.probe(self.settings.burst)
        await self.client.subscribe(self.session)
        self.apply()
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._events(), name="cmp-follow-events")
            tasks.create_task(self._ticks(), name="cmp-follow-ticks")
            tasks.create_task(self._refresh(), name="cmp-follow-clock")
            tasks.create_task(self._report(), name="cmp-follow-report")

    async def _events(self) -> None:
        async for event in self.client.events():
            if event.get("session") == self.session and event["type"] in (
                "snapshot",
                "playback_state",
                "playlist_update",
            ):
                self.apply()

    async def _ticks(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_ms / 1000)
            try:
                self.tick()
            except Exception:
                log.exception("correction tick failed")

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.settings.refresh_s)
            try:
                await self.probe(2)
            except Exception as exc:  # the daemon is away: keep the last estimate
                log.debug("clock probe failed: %s", exc)

    async def _report(self) -> None:
        while True:
            await asyncio.sleep(self.settings.report_s)
            report = {k: v for k, v in self.status().items() if v is not None}
            try:
                await self.client.call(
                    "follower_report", session=self.session, name=self.settings.name, **report
                )
            except Exception as exc:  # reports are best effort
                log.debug("report failed: %s", exc)

    def _timeline(self) -> tuple[PlaybackInfo, dict[int, dict[str, Any]]] | None:
        view = self.client.views.get(self.session)
        if view is None:
            return None
        items = {item["id"]: item for item in view.playlist}
        return PlaybackInfo.model_validate(view.playback), items

    def apply(self) -> None:
        """Bring the player to what the timeline says now."""
        found = self._timeline()
        if found is None:
            return
        state, items = found
        todo = plan(state, self.daemon_now())
        self._cancel_start()
        if todo.action == "stop" or todo.item not in items:
            self._stop()
            return
        assert todo.item is not None
        latency = self.settings.latency_ms
        # Sound leaves the speaker ``latency`` late. Playing now, the player must
        # be that far ahead; waiting, it waits at the position itself and starts
        # that much early instead (counting both would double it).
        target = todo.position_ms + (latency if todo.action == "play" else 0.0)
        loaded = self._ensure(todo.item, items[todo.item]["uri"], target)
        if loaded is None:
            return
        if todo.action == "play":
            if not loaded and not self.playing:
                self.player.seek(target)
            self._start()
        else:
            # Already waiting there (an event that moved nothing): leave the player
            # be; pausing and seeking again would reload an item still loading.
            if not loaded and self._waiting_at != (todo.item, max(0.0, target)):
                self._pause_at(target)
            if todo.action == "start_at":
                assert todo.start_at_ms is not None
                at_local = self.to_local(todo.start_at_ms) - latency
                self._starter = self._start_at(at_local, self._play_now, self._started)
        self.policy.reset()

    def _ensure(self, item: int, uri: str, position_ms: float) -> bool | None:
        """Load ``item`` paused at ``position_ms`` unless it is there already.

        True when it was loaded now, False when it was there, None when its
        media is not on this machine.
        """
        if item == self.item:
            return False
        media = resolve(uri, self.settings.media_roots)
        if media is None:
            if item not in self.missing:
                log.warning("item %s: %s is not on this machine; skipping it here", item, uri)
            self.missing.add(item)
            self._stop()
            return None
        self.player.load(media, start_ms=max(0.0, position_ms), paused=True)
        self.item, self.playing = item, False
        self._waiting_at = (item, max(0.0, position_ms))
        return True

    def _pause_at(self, position_ms: float) -> None:
        self.player.pause()
        self.playing = False
        self.player.seek(max(0.0, position_ms))
        self._waiting_at = None if self.item is None else (self.item, max(0.0, position_ms))

    def _play_now(self) -> None:
        """The scheduled start (on the starter's thread): no longer waiting."""
        self._waiting_at = None
        self.player.play()

    def _start(self) -> None:
        self.player.play()
        self.playing, self._waiting_at = True, None

    def _started(self) -> None:
        self.playing, self._waiting_at = True, None

    def _stop(self) -> None:
        if self.item is not None:
            self.player.stop()
        self.item, self.playing, self._waiting_at = None, False, None

    def _cancel_start(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            self._starter = None

    def ended(self, item: int | None, reason: str) -> None:
        """The player reports the end of an item (from its event callback)."""
        if reason == "error" and item is not None:
            log.warning("item %s could not be played here; skipping it", item)
            self.missing.add(item)
        if item == self.item:
            self.item, self.playing, self._waiting_at = None, False, None

    def tick(self) -> Decision | None:
        """Compare the player with the timeline once and correct it."""
        if not self.playing or self.item is None:
            return None
        found = self._timeline()
        if found is None:
            return None
        todo: Plan = plan(found[0], self.daemon_now())
        if todo.action != "play" or todo.item != self.item:
            return None
        actual = self.player.position_ms()
        if actual is None:
            return None
        expected = todo.position_ms + self.settings.latency_ms
        decision = self.policy.decide(expected_ms=expected, actual_ms=actual, now_ms=self.now_ms())
        if decision.seek_to_ms is not None:
            self.player.seek(decision.seek_to_ms)
        if self.last is None or abs(decision.speed - self.last.speed) > 1e-5:
            self.player.set_speed(decision.speed)
        self.last = decision
        return decision

    def status(self) -> dict[str, Any]:
        """A summary for logs and reports: item, state, error, clock."""
        estimate = self.clock.estimate
        state = "stopped" if self.item is None else ("playing" if self.playing else "paused")
        if self.last is not None and self.playing:
            state = self.last.state
        return {
            "item": self.item,
            "state": state,
            "error_ms": None if self.last is None else round(self.last.error_ms, 3),
            "speed": None if self.last is None else round(self.last.speed, 5),
            "offset_ms": None if estimate is None else round(estimate.offset_ms, 3),
            "rtt_ms": None if estimate is None else round(estimate.delay_ms, 3),
            "missing": sorted(self.missing),
        }
