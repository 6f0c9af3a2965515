"""Followers' reports: relayed to hosts, kept in memory, gone when they go."""

from __future__ import annotations

import pytest

from cmp.core.errors import Forbidden, InvalidArgs
from tests.conftest import ClientFactory
from tests.daemon.flows import events, join, make_party

REPORT = {
    "name": "kitchen",
    "state": "in_sync",
    "error_ms": -0.4,
    "speed": 1.0002,
    "offset_ms": 3.25,
    "rtt_ms": 0.8,
    "missing": [7],
}


async def test_reports_reach_hosts_not_guests(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    await party.host.subscribe(party.session)
    watcher = await join(connect, party, "gus")
    await watcher.subscribe(party.session)
    follower = await join(connect, party, "kitchen")
    joins = await events(party.host, 2)
    assert [e["type"] for e in joins] == ["member_update", "member_update"]
    rev = (await party.host.call("session_get", session=party.session))["rev"]

    reply = await follower.call("follower_report", session=party.session, **REPORT)
    (status,) = await events(party.host, 1)
    assert status["type"] == "follower_status"
    assert status["rev"] == rev  # a report is not a change: rev stays
    assert status["data"] == {
        **REPORT,
        "item": None,
        "id": reply["id"],
        "user": status["data"]["user"],
        "at_ms": status["data"]["at_ms"],
    }
    view = party.host.views[party.session]
    assert view.rev == rev
    assert view.followers[reply["id"]]["name"] == "kitchen"

    snapshot = await party.host.call("session_get", session=party.session)
    assert [f["id"] for f in snapshot["followers"]] == [reply["id"]]
    assert snapshot["rev"] == rev
    assert (await watcher.call("session_get", session=party.session))["followers"] == []

    await follower.close()
    (gone,) = await events(party.host, 1)
    assert (gone["type"], gone["data"]["state"], gone["data"]["id"]) == (
        "follower_status",
        "gone",
        reply["id"],
    )
    assert view.followers == {}
    assert (await party.host.call("session_get", session=party.session))["followers"] == []
    # The guest subscriber saw none of it: its next event is the next real change.
    await party.host.call("playlist_add", session=party.session, uri="a.ogg")
    seen = [e["type"] for e in await events(watcher, 2)]
    assert seen == ["member_update", "playlist_update"]  # kitchen's join, then the add


@pytest.mark.parametrize(
    "bad",
    [
        {"state": "dancing"},
        {"error_ms": "3"},
        {"speed": 0},
        {"rtt_ms": -1.0},
        {"missing": list(range(1, 102))},
    ],
)
async def test_bad_reports_are_refused(
    connect: ClientFactory, host_token: str, bad: dict[str, object]
) -> None:
    party = await make_party(connect, host_token)
    follower = await join(connect, party, "kitchen")
    with pytest.raises(InvalidArgs):
        await follower.call("follower_report", session=party.session, **{**REPORT, **bad})
    assert (await party.host.call("session_get", session=party.session))["followers"] == []


async def test_only_members_report(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    other = await make_party(connect, host_token, "other")
    stranger = await join(connect, other, "olga")
    with pytest.raises(Forbidden):
        await stranger.call("follower_report", session=party.session, **REPORT)
