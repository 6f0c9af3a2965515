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
import functools
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from cmp.core import timeline
from cmp.core.clocksync import ClockEstimator, Probe, Slew
from cmp.core.errors import AuthError
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
    #: Clock probes at connect; then one every ``warmup_every_s`` for ``warmup``
    #: probes (a link whose delay varies needs many to find its fastest, most even
    #: trips); then ``refresh`` probes every ``refresh_s``.
    burst: int = 16
    warmup: int = 60
    warmup_every_s: float = 0.5
    refresh: int = 2
    refresh_s: float = 10.0
    policy: SyncPolicy = field(default_factory=SyncPolicy)
    #: How this follower appears to hosts, and how often it reports.
    name: str = field(default_factory=socket.gethostname)
    report_s: float = 1.0
    #: With a spare player: load the item that comes next this long before the
    #: current one ends, so that a slow source (a URL) is ready when it starts.
    preload_s: float = 10.0


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class StartAt(Protocol):
    """Run ``action`` at a local instant (which ``refine`` may move shortly before),
    then ``done`` on the event loop."""

    def __call__(
        self,
        at_local_ms: float,
        action: Callable[[], None],
        done: Callable[[], None],
        refine: Callable[[float], float] | None = None,
    ) -> Cancellable: ...


class _Starter:
    """Unpauses the player at a precise instant, from a thread of its own.

    The event loop wakes up to a millisecond late; this sleeps until just
    before the instant and spins the rest of the way.  ``REFINE_MS`` before
    it, ``refine`` may move the instant (to where the prepared sound lines up).
    """

    SPIN_MS = 2.0
    REFINE_MS = 30.0

    def __init__(
        self,
        at_local_ms: float,
        action: Callable[[], None],
        done: Callable[[], None],
        refine: Callable[[float], float] | None = None,
    ) -> None:
        self._cancel = threading.Event()
        self._loop = asyncio.get_running_loop()
        self._done = done
        self._thread = threading.Thread(
            target=self._run, args=(at_local_ms, action, refine), name="cmp-starter", daemon=True
        )
        self._thread.start()

    def _sleep_until(self, at_ms: float) -> bool:
        """Sleep until ``at_ms``; False when cancelled meanwhile."""
        wait_s = (at_ms - monotonic_ms()) / 1000
        return not (wait_s > 0 and self._cancel.wait(wait_s))

    def _run(
        self, at_ms: float, action: Callable[[], None], refine: Callable[[float], float] | None
    ) -> None:
        if refine is not None:
            if not self._sleep_until(at_ms - self.REFINE_MS):
                return
            try:
                at_ms = refine(at_ms)
            except Exception:
                log.exception("cannot refine a start; keeping its instant")
        if not self._sleep_until(at_ms - self.SPIN_MS):
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


@dataclass(frozen=True)
class _Cue:
    """An item waiting, paused at ``position_ms`` on ``player``, to start at ``at_local_ms``."""

    item: int
    position_ms: float
    at_local_ms: float
    player: Player

    def same_line(self, item: int, position_ms: float, at_local_ms: float) -> bool:
        """Whether starting ``item`` at ``position_ms`` at ``at_local_ms`` is this start."""
        drift = (self.position_ms - self.at_local_ms) - (position_ms - at_local_ms)
        return item == self.item and abs(drift) < _SAME_LINE_MS


@dataclass(frozen=True)
class _Track:
    """A playlist item as :mod:`cmp.core.timeline` needs it."""

    id: int
    duration_ms: int | None


#: A position read taking longer than this (ms) says little about when it was true.
_READ_MS = 0.5

#: A prepared player whose sound starts further than this from its position is
#: not lined up by moving the instant (it is still loading, or something is off).
_LINE_UP_MAX_MS = 25.0

#: Two starts whose positions differ by less than this at the same instant are one.
_SAME_LINE_MS = 1.0


class Follower:
    """Keeps ``player`` on the session's timeline.

    With a ``spare`` player, every start (a skip, an auto-advance, a seek, a late
    join) is prepared on the spare while the current item plays on, and the two
    trade places at the scheduled instant: nothing is cut, nothing waits for a
    load.  Without one, the single player loads and waits paused.
    """

    def __init__(
        self,
        client: Client,
        session: str,
        player: Player,
        settings: FollowerSettings | None = None,
        *,
        spare: Player | None = None,
        now_ms: Callable[[], float] = monotonic_ms,
        start_at: StartAt | None = None,
    ) -> None:
        self.client = client
        self.session = session
        #: The player that holds the current item; ``spare`` prepares the next start.
        self.player = player
        self.spare = spare
        self.settings = settings or FollowerSettings()
        self.now_ms = now_ms
        self.clock = ClockEstimator()
        self.slew = Slew()
        self.policy = self.settings.policy
        #: What the player holds and does, as this follower told it.
        self.item: int | None = None
        self.playing = False
        self.missing: set[int] = set()
        self.last: Decision | None = None
        #: The last error of the sound itself against the timeline (ms; + is behind).
        self.error_ms: float | None = None
        #: The item and position the player was last told to wait at, paused.
        self._waiting_at: tuple[int, float] | None = None
        #: What the spare holds (item, position it was loaded at).
        self._spare_item: int | None = None
        self._start_at: StartAt = start_at or _Starter
        self._starter: Cancellable | None = None
        self._cue: _Cue | None = None
        #: Items whose unknown duration this follower has reported (or tried to).
        self._durations_told: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        for each in (player, spare):
            if each is not None:
                each.on_end = functools.partial(self._ended_on, each)

    @property
    def starting(self) -> bool:
        """A start is prepared and waits for its instant (the player may be switching)."""
        return self._cue is not None

    # -- the clock ---------------------------------------------------------------

    async def probe(self, count: int = 1) -> None:
        for _ in range(count):
            t0 = self.now_ms()
            result = await self.client.call("time")
            t3 = self.now_ms()
            self.clock.add(Probe(t0, float(result["recv_ms"]), float(result["send_ms"]), t3))

    def daemon_now(self) -> float:
        return self.to_daemon(self.now_ms())

    def to_daemon(self, local_ms: float) -> float:
        estimate = self.clock.estimate
        if estimate is None:
            raise RuntimeError("no clock estimate yet: probe first")
        target = estimate.to_daemon(local_ms) - local_ms
        return local_ms + self.slew.offset(target, local_ms)

    def to_local(self, daemon_ms: float) -> float:
        offset = self.slew.current_ms
        if offset is None:
            self.daemon_now()  # the first estimate: taken as it is
            offset = self.slew.current_ms
        assert offset is not None
        return daemon_ms - offset

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
        settings = self.settings
        rounds = 0
        while True:
            warming = rounds < settings.warmup
            await asyncio.sleep(settings.warmup_every_s if warming else settings.refresh_s)
            rounds += 1
            try:
                await self.probe(1 if warming else settings.refresh)
            except AuthError:
                raise  # revoked or expired: this follower may not play here any more
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
            except AuthError:
                raise  # revoked (a kick) or expired: stop playing, say why
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
        if todo.action == "stop" or todo.item not in items:
            self._stop()
            return
        assert todo.item is not None
        uri = items[todo.item]["uri"]
        latency = self.settings.latency_ms
        if todo.action == "play":
            if todo.item == self.item and self.playing and self._cue is None:
                return  # playing it already: the ticks keep it in step
            # Join the running timeline a moment from now, exactly: waiting paused
            # there (latency early, as any start) costs less than starting late.
            at_local = self.now_ms() + self.policy.lookahead_ms
            later = plan(state, self.to_daemon(at_local + latency))
            self._schedule(todo.item, uri, later.position_ms, at_local)
        elif todo.action == "start_at":
            assert todo.start_at_ms is not None
            # Sound leaves the speaker ``latency`` late: start that much early.
            at_local = self.to_local(todo.start_at_ms) - latency
            self._schedule(todo.item, uri, todo.position_ms, at_local)
        else:
            self._cancel_start()
            self._hold_at(todo.item, uri, max(0.0, todo.position_ms))
        self.policy.reset()

    def _schedule(self, item: int, uri: str, position_ms: float, at_local_ms: float) -> None:
        """Prepare ``item`` paused at ``position_ms`` and start it at ``at_local_ms``."""
        cue = self._cue
        if cue is not None and cue.same_line(item, position_ms, at_local_ms):
            return  # prepared already
        self._cancel_start()
        media = resolve(uri, self.settings.media_roots)
        if media is None:
            self._skip_missing(item, uri)
            return
        position = max(0.0, position_ms)
        if self.spare is not None and self.playing:
            # The current item plays on until the start; the spare prepares it.
            deck = self.spare
            if self._spare_item == item:
                deck.seek(position)
            else:
                deck.load(media, start_ms=position, paused=True)
                self._spare_item = item
            deck.set_speed(1.0)
        else:
            deck = self.player
            self._hold_at(item, uri, position, media)
        self._cue = _Cue(item, position, at_local_ms, deck)
        self._starter = self._start_at(
            at_local_ms, self._start_now, self._started, refine=self._line_up
        )

    def _hold_at(self, item: int, uri: str, position_ms: float, media: str | None = None) -> None:
        """Have the current player hold ``item`` paused at ``position_ms``.

        Already waiting there (an event that moved nothing) is left be: pausing
        and seeking again would reload an item still loading.
        """
        if self._ensure(item, uri, position_ms, media) is False and self._waiting_at != (
            item,
            position_ms,
        ):
            self._pause_at(position_ms)

    def _ensure(
        self, item: int, uri: str, position_ms: float, media: str | None = None
    ) -> bool | None:
        """Load ``item`` on the current player paused at ``position_ms`` unless it is there.

        True when it was loaded now, False when it was there, None when its
        media is not on this machine.
        """
        if item == self.item:
            return False
        media = media or resolve(uri, self.settings.media_roots)
        if media is None:
            self._skip_missing(item, uri)
            return None
        self.player.load(media, start_ms=max(0.0, position_ms), paused=True)
        self.item, self.playing = item, False
        self._waiting_at = (item, max(0.0, position_ms))
        return True

    def _skip_missing(self, item: int, uri: str) -> None:
        if item not in self.missing:
            log.warning("item %s: %s is not on this machine; skipping it here", item, uri)
        self.missing.add(item)
        self._stop()

    def _pause_at(self, position_ms: float) -> None:
        self.player.pause()
        self.player.set_speed(1.0)
        self.playing = False
        self.player.seek(max(0.0, position_ms))
        self._waiting_at = None if self.item is None else (self.item, max(0.0, position_ms))

    def _line_up(self, at_local_ms: float) -> float:
        """On the starter's thread, just before a start: the instant at which the
        prepared player's sound lines up with the timeline.  A player reports
        where its sound will start, which may be a little past the position
        asked for; it then starts that much later."""
        cue = self._cue
        if cue is None:
            return at_local_ms
        landed = cue.player.position_ms()
        if landed is None:
            return at_local_ms
        shift = landed - cue.position_ms
        if abs(shift) > _LINE_UP_MAX_MS:
            log.debug("a start landed %.1f ms off; not moving it", shift)
            return at_local_ms
        return at_local_ms + shift

    def _start_now(self) -> None:
        """The scheduled start, on the starter's thread: unpause, then silence the old."""
        cue = self._cue
        if cue is None:
            return
        cue.player.play()
        if cue.player is not self.player:
            self.player.pause()

    def _started(self) -> None:
        """On the event loop, after :meth:`_start_now`: the cued player is current."""
        cue, self._cue, self._starter = self._cue, None, None
        if cue is None:
            return
        if cue.player is not self.player:
            old = self.player
            self.player, self.spare = cue.player, old
            old.stop()
            self._spare_item = None
        self.item, self.playing, self._waiting_at = cue.item, True, None
        self.last = None  # the next tick sets the speed afresh

    def _stop(self) -> None:
        self._cancel_start()
        if self.item is not None:
            self.player.stop()
        self.item, self.playing, self._waiting_at = None, False, None

    def _cancel_start(self) -> None:
        if self._starter is not None:
            self._starter.cancel()
            self._starter = None
        cue, self._cue = self._cue, None
        if cue is not None and cue.player is self.player:
            # The current player was prepared for it, paused: it waits there now.
            self.playing = False

    def _ended_on(self, player: Player, reason: str) -> None:
        """A player's event callback: its item (the current one, or the spare's) ended."""
        current = player is self.player
        item = self.item if current else self._spare_item
        if reason == "error" and item is not None:
            log.warning("item %s could not be played here; skipping it", item)
            self.missing.add(item)
        if current:
            self.item, self.playing, self._waiting_at = None, False, None
        elif reason == "error" and item is not None:
            self._spare_item = None
            if self._cue is not None and self._cue.item == item:
                self._stop()

    def tick(self) -> Decision | None:
        """Compare the player with the timeline once and correct it."""
        if not self.playing or self.item is None or self._cue is not None:
            return None
        found = self._timeline()
        if found is None:
            return None
        state, items = found
        reading = self._read_position()
        if reading is None:
            return None
        local, actual = reading
        now = self.to_daemon(local)
        todo: Plan = plan(state, now)
        if todo.action != "play" or todo.item != self.item:
            return None
        self._preload_next(state, items, now)
        self._tell_duration(items[self.item])
        expected = todo.position_ms + self.settings.latency_ms
        self.error_ms = expected - actual
        # Judge where the sound is headed: speed changes already queued count.
        heading = actual + self.player.in_flight_ms()
        decision = self.policy.decide(expected_ms=expected, actual_ms=heading, now_ms=self.now_ms())
        if decision.seek_to_ms is not None and decision.resume_at_ms is not None:
            self._schedule(
                self.item, items[self.item]["uri"], decision.seek_to_ms, decision.resume_at_ms
            )
        elif self.last is None or abs(decision.speed - self.last.speed) > 1e-5:
            self.player.set_speed(decision.speed)
        self.last = decision
        return decision

    def _read_position(self) -> tuple[float, float] | None:
        """(local time, player position), read together: a read that another
        thread held up for more than ``_READ_MS`` is taken again."""
        for _ in range(3):
            before = self.now_ms()
            actual = self.player.position_ms()
            after = self.now_ms()
            if actual is None:
                return None
            if after - before <= _READ_MS:
                return (before + after) / 2, actual
        return None

    def _tell_duration(self, item: dict[str, Any]) -> None:
        """An item playing without a known duration: tell the daemon what mpv found,
        so that the session can advance at its end (once per item; hosts and
        listeners may, guests may not)."""
        if item.get("duration_ms") is not None or item["id"] in self._durations_told:
            return
        duration = self.player.duration_ms()
        if duration is None or duration < 1:
            return
        self._durations_told.add(item["id"])
        task = asyncio.get_running_loop().create_task(self._send_duration(item["id"], duration))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_duration(self, item: int, duration_ms: float) -> None:
        try:
            await self.client.call(
                "item_duration", session=self.session, item=item, duration_ms=round(duration_ms)
            )
            log.info("item %s: reported its duration, %.0f ms", item, duration_ms)
        except Exception as exc:  # a guest may not; the host can still set it
            log.info("item %s: its duration (%.0f ms) was not taken: %s", item, duration_ms, exc)

    def _preload_next(
        self, state: PlaybackInfo, items: dict[int, dict[str, Any]], now: float
    ) -> None:
        """Near the end of the playing item (at daemon time ``now``), load the one
        that follows on the idle spare."""
        if self.spare is None or self._cue is not None or self.item is None:
            return
        end = timeline.end_at(state, items[self.item].get("duration_ms"))
        if end is None or end - now > self.settings.preload_s * 1000:
            return
        tracks = [_Track(item["id"], item.get("duration_ms")) for item in items.values()]
        following = timeline.advance(state, tracks, round(now), 0)
        upcoming = following.item
        if upcoming is None or upcoming == self._spare_item or upcoming in self.missing:
            return
        media = resolve(items[upcoming]["uri"], self.settings.media_roots)
        if media is not None:
            log.debug("preloading item %s", upcoming)
            self.spare.load(media, start_ms=0.0, paused=True)
            self._spare_item = upcoming

    def status(self) -> dict[str, Any]:
        """A summary for logs and reports: item, state, error, clock."""
        estimate = self.clock.estimate
        state = "stopped" if self.item is None else ("playing" if self.playing else "paused")
        if self.last is not None and self.playing:
            state = self.last.state
            if state != "seeking" and self.error_ms is not None:
                # Judged on the sound itself, not on where it is headed.
                in_sync = abs(self.error_ms) <= self.policy.in_sync_ms
                state = "in_sync" if in_sync else "syncing"
        return {
            "item": self.item,
            "state": state,
            "error_ms": None if self.error_ms is None else round(self.error_ms, 3),
            "speed": None if self.last is None else round(self.last.speed, 5),
            "offset_ms": None if estimate is None else round(estimate.offset_ms, 3),
            "rtt_ms": None if estimate is None else round(estimate.delay_ms, 3),
            "missing": sorted(self.missing),
        }
