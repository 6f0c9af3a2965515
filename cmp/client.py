"""The async client every cmp program uses to talk to a daemon.

``Client`` does request/reply by id with timeouts, keeps a
:class:`~cmp.core.view.SessionView` of each subscribed session, and hands
events to the program through :meth:`Client.events`.  With
``reconnect=True`` it reconnects with backoff (websockets' own reconnecting
``connect``) and resubscribes from the last ``rev`` it saw, so no event is
missed or seen twice.

Besides the daemon's events, the stream carries one event of the client's
own: ``{"type": "snapshot", "session", "rev", "data": <snapshot>}`` whenever
the view was replaced wholesale (first subscribe, or a resume the daemon's
log could not serve).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Generator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.client import process_exception as default_process_exception
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI, WebSocketException

from .core.errors import AuthError, CmpError, Unavailable, error_from_wire
from .core.protocol import EPHEMERAL_EVENTS
from .core.view import RevisionGap, SessionView

__all__ = ["Client", "backoff"]

log = logging.getLogger(__name__)


def _unreachable(message: str, **kwargs: Any) -> Unavailable:
    return Unavailable(message, code="unreachable", **kwargs)


def _lost(message: str) -> Unavailable:
    return Unavailable(message, code="connection_lost")


def backoff(
    initial: float = 0.2, factor: float = 2.0, maximum: float = 10.0
) -> Callable[[], Generator[float]]:
    """Reconnect delays: ``initial``, then times ``factor``, capped at ``maximum``."""

    def delays() -> Generator[float]:
        delay = initial
        while True:
            yield delay
            delay = min(delay * factor, maximum)

    return delays


def _fatal(exc: Exception) -> Exception | None:
    """Retry while the daemon is down or restarting; give up on a 4xx."""
    if isinstance(exc, InvalidStatus) and exc.response.status_code >= 500:
        return None
    return default_process_exception(exc)


def _auth_error(exc: InvalidStatus) -> CmpError:
    try:
        body = json.loads(exc.response.body or b"{}")
        return error_from_wire(body["error"])
    except (ValueError, KeyError, TypeError):
        return AuthError(f"the daemon refused the connection ({exc.response.status_code})")


class Client:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        reconnect: bool = False,
        reconnect_delays: Callable[[], Generator[float]] | None = None,
        max_events: int = 10_000,
        open_timeout: float = 10.0,
    ) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.reconnect = reconnect
        self._delays = reconnect_delays or backoff()
        self._open_timeout = open_timeout
        self.views: dict[str, SessionView] = {}
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._on_result: dict[int, Callable[[dict[str, Any]], None]] = {}
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue(max_events)
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._fatal: CmpError | None = None
        self._runner: asyncio.Task[None] | None = None
        self._resync: set[asyncio.Task[None]] = set()
        self.events_dropped = 0
        self.reconnects = 0

    # -- connecting --------------------------------------------------------------

    def _connect_kwargs(self) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        return {
            "additional_headers": headers,
            "compression": None,
            "open_timeout": self._open_timeout,
            "max_size": 16 * 2**20,
            "proxy": None,
        }

    async def connect(self) -> Client:
        """Open the connection; raise :class:`~cmp.core.errors.Unavailable` or an auth error."""
        if self.reconnect:
            self._runner = asyncio.create_task(self._run_reconnecting(), name="cmp-client")
            waiter = asyncio.create_task(self._connected.wait())
            await asyncio.wait(
                {waiter, self._runner},
                timeout=self._open_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            if self._fatal is not None:
                raise self._fatal
            if not self._connected.is_set():
                await self.close()
                raise _unreachable(
                    f"cannot reach the daemon at {self.url}", details={"url": self.url}
                )
            return self
        try:
            ws = await connect(self.url, **self._connect_kwargs())
        except InvalidStatus as exc:
            raise _auth_error(exc) from None
        except (OSError, TimeoutError, InvalidURI, WebSocketException) as exc:
            raise _unreachable(
                f"cannot reach the daemon at {self.url}: {exc}", details={"url": self.url}
            ) from None
        self._attach(ws)
        self._runner = asyncio.create_task(self._read_once(ws), name="cmp-client")
        return self

    def _attach(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._connected.set()

    def _detach(self, reason: str) -> None:
        self._ws = None
        self._connected.clear()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(_lost(f"connection to {self.url} lost: {reason}"))

    async def _read_once(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                self._dispatch(message)
        except ConnectionClosed:
            pass
        finally:
            self._detach("closed")

    async def _run_reconnecting(self) -> None:
        try:
            async for ws in connect(
                self.url,
                process_exception=_fatal,
                reconnect_delays=self._delays,
                **self._connect_kwargs(),
            ):
                self._attach(ws)
                if self.views:
                    self._spawn(self._resubscribe_all())
                try:
                    async for message in ws:
                        self._dispatch(message)
                except ConnectionClosed:
                    pass
                self._detach("closed")
                self.reconnects += 1
                log.info("connection to %s lost; reconnecting", self.url)
        except InvalidStatus as exc:
            self._fatal = _auth_error(exc)
        except (InvalidURI, WebSocketException, OSError) as exc:
            self._fatal = _unreachable(f"cannot reach the daemon at {self.url}: {exc}")
        finally:
            self._detach("client closed")

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._resync.add(task)
        task.add_done_callback(self._resync.discard)

    async def close(self) -> None:
        # Take the connection first: stopping the reader forgets it.
        ws = self._ws
        for task in list(self._resync):
            task.cancel()
        if self._runner is not None:
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._runner
            self._runner = None
        if ws is not None:
            await ws.close()
        self._detach("client closed")

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- requests ----------------------------------------------------------------

    async def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one request and wait for its reply; raise the daemon's error."""
        return await self._call(op, args)

    async def _call(
        self,
        op: str,
        args: dict[str, Any],
        *,
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> dict[str, Any]:
        if self._fatal is not None:
            raise self._fatal
        if self._ws is None and self.reconnect:
            try:
                async with asyncio.timeout(self.timeout):
                    await self._connected.wait()
            except TimeoutError:
                raise _unreachable(f"no connection to {self.url}") from None
        ws = self._ws
        if ws is None:
            raise _lost(f"not connected to {self.url}")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        if on_result is not None:
            self._on_result[request_id] = on_result
        frame = json.dumps({"op": op, "id": request_id, "args": args}, separators=(",", ":"))
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a
        # cancellation that arrives as the reply does, and the caller runs on.
        try:
            async with asyncio.timeout(self.timeout):
                await ws.send(frame)
                return await future
        except ConnectionClosed:
            raise _lost(f"connection to {self.url} lost") from None
        except TimeoutError:
            raise Unavailable(
                f"no reply to {op} within {self.timeout:g} s", code="timeout"
            ) from None
        finally:
            self._pending.pop(request_id, None)
            self._on_result.pop(request_id, None)

    async def time_probe(
        self, now: Callable[[], float] = time.time
    ) -> tuple[float, float, float, float]:
        """One NTP-style probe: (client send, daemon receive, daemon send, client receive), ms."""
        sent = now() * 1000
        result = await self.call("time", client_send_ms=sent)
        received = now() * 1000
        return sent, float(result["recv_ms"]), float(result["send_ms"]), received

    # -- subscriptions and events -------------------------------------------------

    async def subscribe(self, session: str) -> SessionView:
        """Follow a session; returns its view, kept current as events arrive.

        Subscribing again (as after a reconnect) resumes from the view's rev.
        """
        args: dict[str, Any] = {"session": session}
        if session in self.views:
            args["since_rev"] = self.views[session].rev

        def install(result: dict[str, Any]) -> None:
            # Runs as the reply is read, before any event behind it.
            if result.get("mode") == "snapshot":
                snapshot = result["snapshot"]
                self.views[session] = SessionView.from_snapshot(snapshot)
                self._push(
                    {
                        "type": "snapshot",
                        "session": session,
                        "rev": snapshot["rev"],
                        "data": snapshot,
                    }
                )

        await self._call("subscribe", args, on_result=install)
        return self.views[session]

    async def unsubscribe(self, session: str) -> None:
        self.views.pop(session, None)
        await self.call("unsubscribe", session=session)

    async def _resubscribe_all(self) -> None:
        for session in list(self.views):
            try:
                await self.subscribe(session)
            except CmpError as exc:
                log.warning("could not resubscribe to %s: %s", session, exc.message)

    def _dispatch(self, message: str | bytes) -> None:
        try:
            frame = json.loads(message)
        except ValueError:
            log.warning("ignoring a frame that is not JSON")
            return
        if not isinstance(frame, dict):
            return
        if "type" in frame:
            try:
                self._on_event(frame)
            except Exception:
                # A malformed event must not end the client: start the view over.
                log.exception("could not apply an event; resubscribing")
                session = frame.get("session")
                if isinstance(session, str) and session in self.views:
                    del self.views[session]
                    self._spawn(self.subscribe(session))
            return
        request_id = frame.get("id")
        if not isinstance(request_id, int):
            if frame.get("ok") is False:
                log.warning("daemon error: %s", frame.get("error"))
            return
        future = self._pending.pop(request_id, None)
        if future is None or future.done():
            return
        if frame.get("ok"):
            result = frame.get("result") or {}
            hook = self._on_result.pop(request_id, None)
            if hook is not None:
                hook(result)
            future.set_result(result)
        else:
            future.set_exception(error_from_wire(frame.get("error") or {}))

    def _on_event(self, event: dict[str, Any]) -> None:
        view = self.views.get(event.get("session", ""))
        if view is not None and event.get("type") in EPHEMERAL_EVENTS:
            view.apply(event)
        elif view is not None:
            if event["rev"] <= view.rev:
                return  # already seen (resume overlap)
            try:
                view.apply(event)
            except RevisionGap:
                log.info("missed events in %s; resuming from rev %s", event["session"], view.rev)
                self._spawn(self.subscribe(event["session"]))
                return
        self._push(event)

    def _push(self, event: dict[str, Any]) -> None:
        if self._events.full():
            self._events.get_nowait()
            self.events_dropped += 1
        self._events.put_nowait(event)

    async def next_event(self, timeout: float | None = None) -> dict[str, Any]:
        """The next event; raises when the connection is gone for good.

        ``TimeoutError`` after ``timeout`` seconds without one; the error that
        ended the client (a refused token, an unreachable daemon, or without
        reconnect a closed connection) once nothing is left to read.
        """
        if not self._events.empty():
            return self._events.get_nowait()
        self._raise_if_over()
        getter = asyncio.ensure_future(self._events.get())
        waits: set[asyncio.Future[Any]] = {getter}
        if self._runner is not None:
            waits.add(self._runner)
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        self._raise_if_over()
        raise TimeoutError

    def _raise_if_over(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self._runner is not None and self._runner.done():
            raise _lost(f"connection to {self.url} closed")

    def received_events(self) -> list[dict[str, Any]]:
        """Take every event received so far, without waiting for more."""
        found = []
        while not self._events.empty():
            found.append(self._events.get_nowait())
        return found

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self.next_event()
