"""A worker process holding many subscribed connections.

It opens ``--count`` connections (``--concurrency`` handshakes at a time),
sends ``{"op": "subscribe", "id": 1, "args": {"session": ...}}`` on each and
waits for the reply, then prints one JSON line ``{"ready": n, ...}``.  From
then on every frame that carries ``type`` and ``rev`` (an event) is stamped
with ``time.time_ns()`` on arrival.  On the stdin line ``report`` it prints,
per rev, how many connections received it and the first and last arrival
times, and the CPU time this process used since it was ready; on ``close``
(or end of input, or ``--max-life``) it closes everything and exits.

Two clients, both from the ``websockets`` library, without compression:

* ``asyncio``: ``websockets.asyncio.client.connect`` and one task per
  connection reading with ``async for``;
* ``sansio``: websockets' own ``ClientProtocol`` on a non-blocking socket
  read with ``recvmsg`` (no task, queue or future per frame), with the
  kernel's receive timestamps (``SO_TIMESTAMPNS``): besides the time a frame
  is read, it records when the frame reached the socket, which does not
  depend on how busy this process is.

The same code serves the daemon and the bare relay, so the client-side cost
is identical on both sides of a comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import resource
import socket
import struct
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import raise_nofile
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

__all__ = ["main"]

MAX_SIZE = 16 * 1024 * 1024
SUBSCRIBE_TIMEOUT = 60.0
#: Linux's SO_TIMESTAMPNS (also the SCM type of its control message); Python lacks it.
SO_TIMESTAMPNS = 35
RECV_BYTES = 256 * 1024
CMSG_BYTES = socket.CMSG_SPACE(16)


class Recorder:
    def __init__(self) -> None:
        #: rev -> [connections that got it, first and last read (ns), frame bytes,
        #: first and last arrival on the socket (ns; 0 when not known)]
        self.seen: dict[int, list[int]] = {}

    def record(self, now: int, message: str | bytes, *, wire_ns: int = 0) -> None:
        """Note an event read at ``now``; ``wire_ns``: when it reached the socket."""
        frame = json.loads(message)
        rev = frame.get("rev")
        if rev is None or "type" not in frame:
            return
        record = self.seen.get(rev)
        if record is None:
            self.seen[rev] = [1, now, now, len(message), wire_ns, wire_ns]
        else:
            record[0] += 1
            record[1] = min(record[1], now)
            record[2] = max(record[2], now)
            record[4] = min(record[4], wire_ns)
            record[5] = max(record[5], wire_ns)


def subscribe_frame(session: str) -> str:
    return json.dumps({"op": "subscribe", "id": 1, "args": {"session": session}})


def check_reply(reply: dict[str, Any]) -> None:
    if not reply.get("ok"):
        raise RuntimeError(f"subscribe refused: {reply.get('error')}")


# -- websockets' asyncio client ---------------------------------------------------


class AsyncioSubscriber:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.reader: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, url: str, headers: dict[str, str] | None, session: str
    ) -> AsyncioSubscriber:
        ws = await connect(
            url,
            additional_headers=headers,
            compression=None,
            ping_interval=None,
            open_timeout=60,
            max_size=MAX_SIZE,
        )
        await ws.send(subscribe_frame(session))
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("id") == 1:
                    break
        check_reply(reply)
        return cls(ws)

    def start(self, recorder: Recorder) -> None:
        async def read() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for message in self.ws:
                    recorder.record(time.time_ns(), message)

        self.reader = asyncio.create_task(read())

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
        await self.ws.close()


# -- websockets' sans-I/O protocol on a socket stamped by the kernel ----------------


class SansIoSubscriber:
    """websockets' ``ClientProtocol`` over a non-blocking socket read with ``recvmsg``.

    ``SO_TIMESTAMPNS`` makes the kernel stamp each read with the wall-clock
    time the data reached this socket, so the arrival time of a frame does not
    depend on when this (busy) process gets around to reading it.
    """

    def __init__(self, sock: socket.socket, url: str, headers: dict[str, str] | None) -> None:
        self.sock = sock
        self.protocol = ClientProtocol(parse_uri(url), max_size=MAX_SIZE)
        self.request = self.protocol.connect()
        for name, value in (headers or {}).items():
            self.request.headers[name] = value
        self.session = ""
        self.subscribed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.recorder: Recorder | None = None
        self.closed = False

    @classmethod
    async def open(cls, url: str, headers: dict[str, str] | None, session: str) -> SansIoSubscriber:
        uri = parse_uri(url)
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            await loop.sock_connect(sock, (uri.host, uri.port))
        except BaseException:
            sock.close()
            raise
        subscriber = cls(sock, url, headers)
        subscriber.session = session
        loop.add_reader(sock.fileno(), subscriber._readable)
        subscriber.protocol.send_request(subscriber.request)
        subscriber._flush()
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await subscriber.subscribed
        except BaseException:
            subscriber._shut()
            raise
        return subscriber

    def _readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(RECV_BYTES, CMSG_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fail(exc)
            self._shut()
            return
        app_ns = time.time_ns()
        wire_ns = app_ns
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                seconds, nanoseconds = struct.unpack_from("qq", raw)
                wire_ns = seconds * 1_000_000_000 + nanoseconds
        if not data:
            self.protocol.receive_eof()
            self._fail(ConnectionError("connection closed before subscribing"))
            self._shut()
            return
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self._text(app_ns, wire_ns, event.data)
            elif isinstance(event, Response):
                if self.protocol.handshake_exc is not None:
                    self._fail(self.protocol.handshake_exc)
                else:
                    self.protocol.send_text(subscribe_frame(self.session).encode())
        self._flush()

    def _text(self, app_ns: int, wire_ns: int, data: bytes | bytearray | memoryview) -> None:
        if self.recorder is not None:
            self.recorder.record(app_ns, bytes(data), wire_ns=wire_ns)
        elif not self.subscribed.done():
            reply = json.loads(bytes(data))
            if reply.get("id") == 1:
                try:
                    check_reply(reply)
                except RuntimeError as exc:
                    self._fail(exc)
                else:
                    self.subscribed.set_result(None)

    def _fail(self, exc: BaseException) -> None:
        if not self.subscribed.done():
            self.subscribed.set_exception(exc)

    def _flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            if self.closed:
                return
            if not chunk:
                with contextlib.suppress(OSError):
                    self.sock.shutdown(socket.SHUT_WR)
                continue
            try:
                sent = self.sock.send(chunk)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self._shut()
                return
            if sent < len(chunk):
                # Frames sent here are tiny (subscribe, pong, close): a full
                # send buffer means the server is not reading; give up on it.
                self._fail(ConnectionError("send buffer full"))
                self._shut()
                return

    def _shut(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()

    def start(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def close(self) -> None:
        if self.closed:
            return
        self.protocol.send_close()
        self._flush()
        await asyncio.sleep(0.2)
        self._shut()


# -- the worker ------------------------------------------------------------------------

Subscriber = AsyncioSubscriber | SansIoSubscriber
Opener = Callable[[str, dict[str, str] | None, str], Awaitable[Subscriber]]
CLIENTS: dict[str, Opener] = {"asyncio": AsyncioSubscriber.open, "sansio": SansIoSubscriber.open}


async def stdin_lines() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


def emit(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def amain(args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else None
    opener = CLIENTS[args.client]
    gate = asyncio.Semaphore(args.concurrency)

    async def open_one() -> Subscriber:
        async with gate:
            return await opener(args.url, headers, args.session)

    started = time.monotonic()
    async with asyncio.timeout(args.connect_timeout):
        results = await asyncio.gather(
            *(open_one() for _ in range(args.count)), return_exceptions=True
        )
    subscribers = [r for r in results if isinstance(r, AsyncioSubscriber | SansIoSubscriber)]
    failures = [repr(r) for r in results if isinstance(r, BaseException)]
    recorder = Recorder()
    for subscriber in subscribers:
        subscriber.start(recorder)
    # Everything alive now stays: keep the collector off it while measuring.
    gc.collect()
    gc.freeze()
    emit({
        "ready": len(subscribers),
        "failed": len(failures),
        "first_failure": failures[0] if failures else None,
        "connect_s": round(time.monotonic() - started, 3),
        "client": args.client,
    })  # fmt: skip
    cpu_at_ready = cpu_seconds()
    commands = await stdin_lines()
    deadline = time.monotonic() + args.max_life
    while time.monotonic() < deadline:
        try:
            line = await asyncio.wait_for(commands.readline(), deadline - time.monotonic())
        except TimeoutError:
            break
        if line.decode().strip() != "report":
            break
        emit({
            "revs": {str(rev): record for rev, record in recorder.seen.items()},
            "cpu_s": round(cpu_seconds() - cpu_at_ready, 3),
        })  # fmt: skip
        recorder.seen.clear()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.gather(*(s.close() for s in subscribers), return_exceptions=True)
    emit({"closed": len(subscribers)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--session", default="bench")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--client", choices=sorted(CLIENTS), default="asyncio")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--connect-timeout", type=float, default=180)
    parser.add_argument("--max-life", type=float, default=600, help="exit after this long")
    args = parser.parse_args()
    raise_nofile()
    asyncio.run(amain(args))


if __name__ == "__main__":
    main()
