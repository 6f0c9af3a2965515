"""Helpers for daemon tests: raw connections, a ready-made session, waiting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from cmp.client import Client
from cmp.core.view import SessionView

__all__ = [
    "RawConnection",
    "World",
    "assert_view_matches",
    "build_world",
    "raw_connection",
    "wait_until",
]

#: How long a test waits for something that should happen at once.
WAIT_S = 5.0


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    timeout: float = WAIT_S,
    interval: float = 0.01,
    what: str = "condition",
) -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


def _not_json(constant: str) -> Any:
    raise AssertionError(f"the daemon sent {constant}, which is not JSON")


class RawConnection:
    """A plain WebSocket connection that reads every frame itself."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []

    async def send(self, text: str | bytes) -> None:
        await self.ws.send(text)

    async def frame(self, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next frame, decoded."""
        message = await asyncio.wait_for(self.ws.recv(), timeout)
        decoded = json.loads(message, parse_constant=_not_json)
        assert isinstance(decoded, dict), decoded
        return decoded

    async def reply(self, timeout: float = WAIT_S) -> dict[str, Any]:
        """The next reply; events read on the way are kept in :attr:`events`."""
        while True:
            frame = await self.frame(timeout)
            if "type" in frame:
                self.events.append(frame)
                continue
            return frame

    async def request(self, op: str, request_id: int | str = 1, **args: Any) -> dict[str, Any]:
        await self.send(json.dumps({"op": op, "id": request_id, "args": args}))
        reply = await self.reply()
        assert reply["id"] == request_id, reply
        return reply

    async def error(self, text: str | bytes) -> dict[str, Any]:
        """Send a raw frame and return the error of its (failed) reply."""
        await self.send(text)
        reply = await self.reply()
        assert reply["ok"] is False, reply
        error: dict[str, Any] = reply["error"]
        assert isinstance(error.get("message"), str) and error["message"], reply
        return {**error, "id": reply["id"]}


@asynccontextmanager
async def raw_connection(url: str, token: str | None = None) -> AsyncIterator[RawConnection]:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    async with connect(
        url, additional_headers=headers, compression=None, open_timeout=WAIT_S, proxy=None
    ) as ws:
        yield RawConnection(ws)


@dataclass
class World:
    """A session with a host, a guest, two items and a pending guest request."""

    host: Client
    guest: Client
    session: str
    invite_code: str
    host_user: int
    guest_user: int
    guest_token: str
    items: list[int] = field(default_factory=list)
    request: int = 0

    async def snapshot(self) -> dict[str, Any]:
        return await self.host.call("session_get", session=self.session)


async def build_world(connect: Callable[..., Awaitable[Client]], host_token: str) -> World:
    host = await connect(host_token)
    created = await host.call("session_create", name="friday")
    session = created["session"]["id"]
    code = created["session"]["invite_code"]
    joined = await (await connect()).call("session_join", code=code, name="gus")
    guest = await connect(joined["token"])
    world = World(
        host=host,
        guest=guest,
        session=session,
        invite_code=code,
        host_user=created["session"]["host"],
        guest_user=joined["user"],
        guest_token=joined["token"],
    )
    for n, duration in ((1, 180_000), (2, 240_000)):
        added = await host.call(
            "playlist_add",
            session=session,
            uri=f"file:///music/{n}.flac",
            title=f"song {n}",
            duration_ms=duration,
        )
        world.items.append(added["item"]["id"])
    asked = await guest.call(
        "request_playlist_change", session=session, action="add", uri="file:///music/3.flac"
    )
    world.request = asked["request"]["id"]
    return world


def assert_view_matches(view: SessionView, snapshot: dict[str, Any]) -> None:
    """A view kept by events equals a fresh snapshot of the same session."""
    assert view.rev == snapshot["rev"]
    assert view.playlist == snapshot["playlist"]
    assert sorted(view.pending(), key=lambda r: r["id"]) == snapshot["requests"]
    assert view.members == {member["user"]: member for member in snapshot["members"]}
    assert view.playback == snapshot["playback"]
    assert {k: v for k, v in view.session.items() if k != "invite_code"} == {
        k: v for k, v in snapshot["session"].items() if k != "invite_code"
    }
