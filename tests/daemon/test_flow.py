"""The host/guest flow over real WebSocket connections to a real daemon."""

from __future__ import annotations

import asyncio
import urllib.request
from typing import Any

import pytest

from cmp.client import Client
from cmp.core.errors import AuthError, Conflict, Forbidden, InvalidArgs, NotFound
from cmp.core.models import Snapshot
from daemon.app import Daemon
from tests.conftest import ClientFactory
from tests.daemon.flows import events, fresh_view, join, make_party
from tests.fakes import FakeClock


async def test_create_join_request_approve(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    watcher = await connect(host_token)
    await watcher.subscribe(party.session)
    guest = await join(connect, party, "gus")
    await guest.subscribe(party.session)

    asked = await guest.call(
        "request_playlist_change",
        session=party.session,
        action="add",
        uri="https://radio.example/a.ogg",
        title="A",
        duration_ms=180_000,
    )
    request_id = asked["request"]["id"]
    assert asked["request"]["state"] == "pending"
    approved = await party.host.call("request_approve", session=party.session, request=request_id)
    assert approved["request"]["state"] == "approved"

    # The watcher saw the guest join; the guest subscribed just after.
    expected = ["member_update", "request_update", "request_update", "playlist_update"]
    for subscriber, kinds in ((watcher, expected), (guest, expected[1:])):
        seen = await events(subscriber, len(kinds))
        assert [e["type"] for e in seen] == kinds
        revs = [e["rev"] for e in seen]
        assert revs == list(range(revs[0], revs[0] + len(kinds)))
        assert seen[-1]["data"]["item"]["uri"] == "https://radio.example/a.ogg"
        assert seen[-1]["data"]["item"]["added_by"] == asked["request"]["guest"]

    snapshot = await party.host.call("session_get", session=party.session)
    Snapshot.model_validate(snapshot)
    assert [item["title"] for item in snapshot["playlist"]] == ["A"]
    assert snapshot["requests"] == []  # only pending ones are in a snapshot
    view = watcher.views[party.session]
    assert fresh_view(snapshot) == {
        "rev": view.rev,
        "members": view.members,
        "playlist": view.playlist,
        "pending": sorted(r["id"] for r in view.pending()),
        "playback": view.playback,
    }


async def test_reject_and_withdraw(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    guest = await join(connect, party, "gus")
    other = await join(connect, party, "olga")
    add = {"session": party.session, "action": "add", "uri": "b.ogg"}
    first = (await guest.call("request_playlist_change", **add))["request"]["id"]
    second = (await guest.call("request_playlist_change", **add))["request"]["id"]

    rejected = await party.host.call(
        "request_reject", session=party.session, request=first, reason="not tonight"
    )
    assert (rejected["request"]["state"], rejected["request"]["reason"]) == (
        "rejected",
        "not tonight",
    )
    with pytest.raises(Forbidden):
        await other.call("request_withdraw", session=party.session, request=second)
    withdrawn = await guest.call("request_withdraw", session=party.session, request=second)
    assert withdrawn["request"]["state"] == "withdrawn"
    with pytest.raises(Conflict):
        await party.host.call("request_approve", session=party.session, request=second)

    listed = await guest.call("request_list", session=party.session)
    assert [r["state"] for r in listed["requests"]] == ["rejected", "withdrawn"]
    assert (await guest.call("request_list", session=party.session, state="pending")) == {
        "requests": []
    }
    snapshot = await party.host.call("session_get", session=party.session)
    assert snapshot["playlist"] == []


async def test_guest_remove_and_move_requests(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    ids = []
    for name in ("a", "b", "c"):
        added = await party.host.call("playlist_add", session=party.session, uri=f"{name}.ogg")
        ids.append(added["item"]["id"])
    guest = await join(connect, party, "gus")
    move = await guest.call(
        "request_playlist_change", session=party.session, action="move", item=ids[2], position=0
    )
    remove = await guest.call(
        "request_playlist_change", session=party.session, action="remove", item=ids[1]
    )
    for asked in (move, remove):
        await party.host.call(
            "request_approve", session=party.session, request=asked["request"]["id"]
        )
    snapshot = await guest.call("session_get", session=party.session)
    assert [item["id"] for item in snapshot["playlist"]] == [ids[2], ids[0]]
    assert "invite_code" not in snapshot["session"] or snapshot["session"]["invite_code"] is None


async def test_host_playlist_edits(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    s = party.session
    a = (await party.host.call("playlist_add", session=s, uri="a.ogg"))["item"]["id"]
    b = (await party.host.call("playlist_add", session=s, uri="b.ogg", position=0))["item"]["id"]
    c = (await party.host.call("playlist_add", session=s, uri="c.ogg", position=1))["item"]["id"]
    order = lambda snap: [item["id"] for item in snap["playlist"]]  # noqa: E731
    assert order(await party.host.call("session_get", session=s)) == [b, c, a]
    moved = await party.host.call("playlist_move", session=s, item=b, position=99)
    assert moved["position"] == 2
    assert order(await party.host.call("session_get", session=s)) == [c, a, b]
    await party.host.call("playlist_remove", session=s, item=a)
    assert order(await party.host.call("session_get", session=s)) == [c, b]
    await party.host.call("playlist_clear", session=s)
    assert order(await party.host.call("session_get", session=s)) == []


async def test_members_leave_kick_and_invites(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    guest = await join(connect, party, "gus")
    leaver = await join(connect, party, "lea")
    await guest.subscribe(party.session)

    await leaver.call("session_leave", session=party.session)
    with pytest.raises(AuthError) as left:
        await leaver.call("session_get", session=party.session)
    assert left.value.code == "token_revoked"

    members = (await party.host.call("session_get", session=party.session))["members"]
    gus = next(m["user"] for m in members if m["name"] == "gus")
    await party.host.call("session_kick", session=party.session, user=gus)
    with pytest.raises(AuthError):
        await guest.call("session_get", session=party.session)

    with pytest.raises(Conflict):
        await party.host.call("session_leave", session=party.session)

    rotated = await party.host.call("session_rotate_invite", session=party.session)
    assert rotated["invite_code"] != party.code
    anonymous = await connect()
    with pytest.raises(AuthError) as stale:
        await anonymous.call("session_join", code=party.code, name="late")
    assert stale.value.code == "invalid_invite"
    spaced = rotated["invite_code"].lower()
    joined = await anonymous.call("session_join", code=f"{spaced[:5]}-{spaced[5:]}", name="late")
    assert joined["session"] == party.session


async def test_session_list_and_end(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token, "first")
    await party.host.call("session_create", name="second")
    guest = await join(connect, party, "gus")
    listed = await party.host.call("session_list")
    assert sorted(s["name"] for s in listed["sessions"]) == ["first", "second"]
    assert all(s["role"] == "host" and s["invite_code"] for s in listed["sessions"])
    guest_list = (await guest.call("session_list"))["sessions"]
    assert [(s["name"], s["role"], s["invite_code"]) for s in guest_list] == [
        ("first", "guest", None)
    ]

    ended = await party.host.call("session_end", session=party.session)
    assert ended["ended_at_ms"] > 0
    with pytest.raises(Conflict) as info:
        await party.host.call("playlist_add", session=party.session, uri="x.ogg")
    assert info.value.code == "session_ended"
    anonymous = await connect()
    with pytest.raises(AuthError):
        await anonymous.call("session_join", code=party.code, name="late")


async def test_tokens_issue_list_revoke(connect: ClientFactory, admin_token: str) -> None:
    admin = await connect(admin_token)
    issued = await admin.call("token_issue", role="host", name="hana", ttl_s=3600)
    host = await connect(issued["token"])
    assert (await host.call("auth", token=issued["token"]))["role"] == "host"
    tokens = (await admin.call("token_list"))["tokens"]
    assert [t["name"] for t in tokens] == ["admin", "hana"]
    await admin.call("token_revoke", jti=issued["jti"])
    with pytest.raises(AuthError) as info:
        await host.call("session_list")
    assert info.value.code == "token_revoked"
    again = await admin.call("token_revoke", jti=issued["jti"])
    assert again["already_revoked"] is True


async def test_auth_op_on_an_anonymous_connection(connect: ClientFactory, host_token: str) -> None:
    client = await connect()
    with pytest.raises(AuthError) as info:
        await client.call("session_list")
    assert info.value.code == "unauthenticated"
    who = await client.call("auth", token=host_token)
    assert (who["role"], who["name"]) == ("host", "hana")
    assert (await client.call("session_list")) == {"sessions": []}


async def test_time_op_echoes_and_stamps(connect: ClientFactory, daemon: Daemon) -> None:
    client = await connect()
    result = await client.call("time", client_send_ms=123.5)
    assert result["client_send_ms"] == 123.5
    assert result["recv_ms"] <= result["send_ms"]
    assert result["recv_ms"] == pytest.approx(daemon.clock.precise_ms())


async def test_healthz_and_metrics(daemon: Daemon, connect: ClientFactory) -> None:
    await connect()
    base = daemon.url.replace("ws://", "http://")
    assert await asyncio.to_thread(http_get, f"{base}/healthz") == "ok\n"
    text = await asyncio.to_thread(http_get, f"{base}/metrics")
    assert "cmpd_connections 1" in text
    assert "cmpd_up 1" in text


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


async def test_removed_guests_stop_hearing_events(connect: ClientFactory, host_token: str) -> None:
    """Kick, leave, and a re-auth before either: no event reaches them afterwards."""
    party = await make_party(connect, host_token)
    kicked = await join(connect, party, "kim")
    leaver = await join(connect, party, "lea")
    switcher = await join(connect, party, "sam")
    other = await make_party(connect, host_token, "elsewhere")
    elsewhere = await join(connect, other, "olga")
    for guest in (kicked, leaver, switcher):
        await guest.subscribe(party.session)
    # sam authenticates again as someone else: the old subscription must not survive.
    assert elsewhere.token is not None
    await switcher.call("auth", token=elsewhere.token)
    members = (await party.host.call("session_get", session=party.session))["members"]
    kim = next(m["user"] for m in members if m["name"] == "kim")
    await party.host.call("session_kick", session=party.session, user=kim)
    await leaver.call("session_leave", session=party.session)
    marker = await party.host.call("playlist_add", session=party.session, uri="after.ogg")

    # kim hears of the kick itself, lea of nothing after leaving, sam of nothing.
    seen_by_kim = await drain(kicked)
    assert [e["type"] for e in seen_by_kim if e["type"] != "snapshot"][-1] == "member_update"
    for guest in (kicked, leaver, switcher):
        assert all(e.get("rev", 0) < marker["rev"] for e in await drain(guest))


async def drain(client: Client) -> list[dict[str, Any]]:
    """What a client has received so far (its reader has run: a call just returned)."""
    await client.call("time")
    return client.received_events()


async def test_a_host_whose_token_expired_gets_a_new_one(
    connect: ClientFactory, admin_token: str, clock: FakeClock
) -> None:
    admin = await connect(admin_token)
    first = await admin.call("token_issue", role="host", name="hana", ttl_s=60)
    host = await connect(first["token"])
    session = (await host.call("session_create", name="long party"))["session"]["id"]
    clock.advance(61_000)
    with pytest.raises(AuthError) as expired:
        await host.call("session_get", session=session)
    assert expired.value.code == "token_expired"

    renewed = await admin.call("token_issue", user=first["user"], ttl_s=3600)
    assert (renewed["user"], renewed["name"], renewed["role"]) == (first["user"], "hana", "host")
    again = await connect(renewed["token"])
    added = await again.call("playlist_add", session=session, uri="still-mine.ogg")
    assert added["item"]["added_by"] == first["user"]

    with pytest.raises(InvalidArgs):
        await admin.call("token_issue", name="x", user=first["user"])
    with pytest.raises(NotFound):
        await admin.call("token_issue", user=999_999)
