"""Building blocks for the daemon tests: a session with a host and guests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cmp.client import Client
from tests.conftest import ClientFactory


@dataclass
class Party:
    host: Client
    session: str
    code: str


async def make_party(connect: ClientFactory, host_token: str, name: str = "party") -> Party:
    host = await connect(host_token)
    created = await host.call("session_create", name=name)
    return Party(host, created["session"]["id"], created["session"]["invite_code"])


async def join(connect: ClientFactory, party: Party, name: str) -> Client:
    anonymous = await connect()
    joined = await anonymous.call("session_join", code=party.code, name=name)
    return await connect(joined["token"])


async def events(client: Client, count: int, timeout: float = 5) -> list[dict[str, Any]]:
    """The next ``count`` daemon events (client-side snapshot markers skipped)."""
    found: list[dict[str, Any]] = []
    while len(found) < count:
        event = await client.next_event(timeout)
        if event["type"] != "snapshot":
            found.append(event)
    return found


def fresh_view(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A snapshot in the shape SessionView keeps, for comparing the two."""
    return {
        "rev": snapshot["rev"],
        "members": {m["user"]: m for m in snapshot["members"]},
        "playlist": snapshot["playlist"],
        "pending": sorted(r["id"] for r in snapshot["requests"]),
        "playback": snapshot["playback"],
    }
