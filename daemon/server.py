"""The WebSocket endpoint (the only module that imports ``websockets``).

One endpoint carries everything: JSON text frames in, replies and events
out.  The same port answers plain HTTP ``GET /healthz`` and ``/metrics``.
Frames to a client are written synchronously (``broadcast``), so a reply and
the events after it leave in the order the service produced them; a client
that does not read its events is disconnected once its unsent data passes
``write_buffer_limit``, and resumes by ``rev`` when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import ssl
import weakref
from collections.abc import Callable, Iterable
from http import HTTPStatus

from websockets.asyncio.server import Server as WsServer
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from cmp.core.errors import AuthError, CmpError, RateLimited
from cmp.core.protocol import encode_error, parse_message, parse_request, peek_id

from .auth import Caller
from .clock import Clock
from .config import Settings
from .hub import Hub, Peer
from .ratelimit import Bucket, KeyedBuckets
from .service import Service

__all__ = ["Connection", "Server"]

log = logging.getLogger(__name__)

SLOW_CONSUMER_CLOSE = 4008


class Connection:
    """A client connection as the service sees it (a :class:`~daemon.hub.Peer`)."""

    __slots__ = (
        "__weakref__",
        "bucket",
        "caller",
        "id",
        "limit",
        "on_slow",
        "remote",
        "reports",
        "subscriptions",
        "ws",
    )

    _ids = itertools.count(1)

    def __init__(
        self,
        ws: ServerConnection,
        remote: str,
        bucket: Bucket,
        on_slow: Callable[[Connection], None] = lambda connection: None,
        limit: int = 4 * 1024 * 1024,
    ) -> None:
        self.ws = ws
        self.on_slow = on_slow
        self.limit = limit
        self.remote = remote
        self.bucket = bucket
        self.id = f"c{next(self._ids)}"
        self.caller: Caller | None = None
        self.subscriptions: set[str] = set()
        self.reports: set[str] = set()

    def send(self, text: str) -> None:
        broadcast((self.ws,), text)
        transport = self.ws.transport
        if transport is not None and transport.get_write_buffer_size() > self.limit:
            self.on_slow(self)


class Server:
    def __init__(self, *, service: Service, hub: Hub, clock: Clock, settings: Settings) -> None:
        self.service = service
        self.hub = hub
        self.clock = clock
        self.settings = settings
        self.connections: set[Connection] = set()
        self.slow_consumers_dropped = 0
        self._user_buckets = KeyedBuckets(settings.user_rate_per_s, settings.user_rate_burst)
        self._header_callers: weakref.WeakKeyDictionary[ServerConnection, Caller] = (
            weakref.WeakKeyDictionary()
        )
        self._closing: set[asyncio.Task[None]] = set()
        self._server: WsServer | None = None
        hub.set_transport(self.send_many)

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        ssl_context = None
        if self.settings.tls_cert:
            ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ssl_context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        self._server = await serve(
            self._handle,
            self.settings.host,
            self.settings.port,
            compression=None,
            max_size=self.settings.max_message_bytes,
            ping_interval=self.settings.ping_interval_s,
            ping_timeout=self.settings.ping_interval_s,
            process_request=self._process_request,
            ssl=ssl_context,
        )

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        scheme = "wss" if self.settings.tls_cert else "ws"
        host = self.settings.host
        if ":" in host:
            host = f"[{host}]"
        return f"{scheme}://{host}:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
        for task in list(self._closing):
            task.cancel()

    # -- fan-out -----------------------------------------------------------------

    def send_many(self, peers: Iterable[Peer], text: str) -> None:
        connections = [peer for peer in peers if isinstance(peer, Connection)]
        broadcast((connection.ws for connection in connections), text)
        limit = self.settings.write_buffer_limit
        for connection in connections:
            transport = connection.ws.transport
            if transport is not None and transport.get_write_buffer_size() > limit:
                self._drop_slow(connection)

    def _drop_slow(self, connection: Connection) -> None:
        if connection.ws.state is not State.OPEN:
            return  # already closing
        self.slow_consumers_dropped += 1
        self.hub.drop(connection)
        log.warning("dropping %s: it does not read its events", connection.remote)
        task = asyncio.ensure_future(
            connection.ws.close(SLOW_CONSUMER_CLOSE, "too slow; reconnect and resume by rev")
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- HTTP and the handshake --------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            try:
                async with asyncio.timeout(5):
                    await self.service.store.ping()
            except Exception:
                return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "database unavailable\n")
            return connection.respond(HTTPStatus.OK, "ok\n")
        if path == "/metrics":
            response = connection.respond(HTTPStatus.OK, self.metrics())
            _content_type(response, "text/plain; version=0.0.4; charset=utf-8")
            return response
        authorization = request.headers.get("Authorization")
        if authorization is None:
            return None
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthError("Authorization must be 'Bearer <token>'", code="token_invalid")
            self._header_callers[connection] = await self.service.authenticate(token.strip())
        except CmpError as exc:
            body = json.dumps({"ok": False, "error": exc.to_wire()}) + "\n"
            response = connection.respond(HTTPStatus.UNAUTHORIZED, body)
            _content_type(response, "application/json")
            return response
        return None

    # -- one connection ----------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        remote = _remote(ws)
        bucket = Bucket(self.settings.rate_per_s, self.settings.rate_burst)
        connection = Connection(
            ws, remote, bucket, self._drop_slow, self.settings.write_buffer_limit
        )
        connection.caller = self._header_callers.pop(ws, None)
        self.connections.add(connection)
        try:
            async for message in ws:
                await self._receive(connection, message)
        except ConnectionClosed:
            pass
        finally:
            self.hub.drop(connection)
            self.connections.discard(connection)

    async def _receive(self, connection: Connection, message: str | bytes) -> None:
        received_ms = self.clock.precise_ms()
        frame = None
        # Every frame counts, even one that turns out to be garbage; a refused
        # frame is still decoded, if it can be, so that the refusal names its id.
        refusal = self._allow(connection)
        try:
            if refusal is not None:
                with contextlib.suppress(CmpError):
                    frame = parse_message(message, max_bytes=self.settings.max_frame_bytes)
                raise RateLimited(refusal)
            frame = parse_message(message, max_bytes=self.settings.max_frame_bytes)
            request = parse_request(frame)
        except CmpError as exc:
            self.service.errors_total[exc.code] += 1
            connection.send(encode_error(peek_id(frame), exc))
            return
        await self.service.call(connection, request, received_ms)

    def _allow(self, connection: Connection) -> str | None:
        """None if the frame is within the rate limits, else why it is not."""
        now = self.clock.now_ms()
        if not connection.bucket.take(now):
            return "too many requests on this connection; slow down"
        caller = connection.caller
        if caller is not None and not self._user_buckets.take(caller.user, now):
            return "too many requests from this user; slow down"
        return None

    # -- metrics -----------------------------------------------------------------

    def metrics(self) -> str:
        lines = [
            "# TYPE cmpd_up gauge",
            "cmpd_up 1",
            "# TYPE cmpd_connections gauge",
            f"cmpd_connections {len(self.connections)}",
            "# TYPE cmpd_subscriptions gauge",
            f"cmpd_subscriptions {self.hub.subscriber_count()}",
            "# TYPE cmpd_events_published_total counter",
            f"cmpd_events_published_total {self.hub.events_published}",
            "# TYPE cmpd_event_frames_sent_total counter",
            f"cmpd_event_frames_sent_total {self.hub.frames_sent}",
            "# TYPE cmpd_slow_consumers_dropped_total counter",
            f"cmpd_slow_consumers_dropped_total {self.slow_consumers_dropped}",
            "# TYPE cmpd_requests_total counter",
        ]
        for op, count in sorted(self.service.requests_total.items()):
            lines.append(f'cmpd_requests_total{{op="{op}"}} {count}')
        lines.append("# TYPE cmpd_errors_total counter")
        for code, count in sorted(self.service.errors_total.items()):
            lines.append(f'cmpd_errors_total{{code="{code}"}} {count}')
        return "\n".join(lines) + "\n"


def _content_type(response: Response, value: str) -> None:
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = value


def _remote(ws: ServerConnection) -> str:
    address = ws.remote_address
    if isinstance(address, tuple) and address:
        return str(address[0])
    return str(address)
