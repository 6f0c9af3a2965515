"""Bare websockets servers the daemon is measured against.

``relay``: a connection that sends ``{"op": "subscribe", "id": ...}`` gets
``{"id": ..., "ok": true}`` and joins the subscribers; a connection to the
path ``/host`` has each of its frames relayed verbatim to every subscriber
with ``websockets.asyncio.server.broadcast``.  Used for fan-out and for idle
memory per connection.

``sqlite``: every frame ``{"op", "id", "args": {"session", "uri"}}`` is one
INSERT and one COMMIT through aiosqlite on a WAL file with
``synchronous=NORMAL`` (one transaction at a time), answered with
``{"id": ..., "ok": true, "result": {"item": rowid}}``.

Both use the daemon's transport settings: compression off, 1 MiB frames,
20 s pings.  Run: ``python baseline_server.py relay|sqlite --port P [--db FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path

import aiosqlite
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

__all__ = ["main"]

SERVE_OPTIONS = {"compression": None, "max_size": 1024 * 1024, "ping_interval": 20.0}


async def relay(port: int, stop: asyncio.Event) -> None:
    subscribers: set[ServerConnection] = set()

    async def handle(ws: ServerConnection) -> None:
        assert ws.request is not None
        is_host = ws.request.path == "/host"
        try:
            async for message in ws:
                if is_host:
                    broadcast(subscribers, message)
                    continue
                frame = json.loads(message)
                subscribers.add(ws)
                await ws.send(json.dumps({"id": frame.get("id"), "ok": True, "result": {}}))
        except ConnectionClosed:
            pass
        finally:
            subscribers.discard(ws)

    async with serve(handle, "127.0.0.1", port, **SERVE_OPTIONS):  # type: ignore[arg-type]
        await stop.wait()


async def sqlite(port: int, db_path: Path, stop: asyncio.Event) -> None:
    async with aiosqlite.connect(db_path) as db:
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute(
            "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " session TEXT NOT NULL, uri TEXT NOT NULL, added_at_ms INTEGER NOT NULL)"
        )
        await db.commit()
        lock = asyncio.Lock()

        async def handle(ws: ServerConnection) -> None:
            try:
                async for message in ws:
                    frame = json.loads(message)
                    args = frame["args"]
                    async with lock:
                        cursor = await db.execute(
                            "INSERT INTO items (session, uri, added_at_ms) VALUES (?, ?, ?)",
                            (args["session"], args["uri"], time.time_ns() // 1_000_000),
                        )
                        await db.commit()
                    reply = {"id": frame["id"], "ok": True, "result": {"item": cursor.lastrowid}}
                    await ws.send(json.dumps(reply))
            except ConnectionClosed:
                pass

        async with serve(handle, "127.0.0.1", port, **SERVE_OPTIONS):  # type: ignore[arg-type]
            await stop.wait()


async def amain(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if args.kind == "relay":
        await relay(args.port, stop)
    else:
        await sqlite(args.port, Path(args.db), stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=("relay", "sqlite"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", default="baseline.db")
    asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    main()
