"""Listeners: session-bound tokens that the host issues for followers (speakers),
which may play the session and report durations but not ask for changes."""

from __future__ import annotations

from typing import Any

import pytest

from cmp.client import Client
from cmp.core.errors import AuthError, CmpError, Conflict, Forbidden, InvalidArgs, NotFound
from cmp.core.schema import JoinResult
from tests.conftest import ClientFactory
from tests.daemon.flows import Party, events, join, make_party
from tests.fakes import FakeClock

REPORT = {"name": "shop-left", "state": "in_sync", "error_ms": 0.5, "speed": 1.0}


async def let_in(connect: ClientFactory, party: Party, name: str) -> tuple[Client, dict[str, Any]]:
    """A listener the host let in, connected with its token."""
    issued = await party.host.call("session_listener", session=party.session, name=name)
    return await connect(issued["token"]), issued


async def drain(client: Client) -> list[dict[str, Any]]:
    """What a client has received so far (``time`` needs no token, so this works
    after a revocation too: once it returns, the reader has seen every earlier frame)."""
    await client.call("time")
    return client.received_events()


async def test_the_host_lets_a_listener_in(
    connect: ClientFactory, host_token: str, clock: FakeClock
) -> None:
    party = await make_party(connect, host_token)
    await party.host.subscribe(party.session)
    before = (await party.host.call("session_get", session=party.session))["rev"]

    listener, issued = await let_in(connect, party, "shop-left")
    JoinResult.model_validate(issued)
    assert (issued["role"], issued["name"], issued["session"]) == (
        "listener",
        "shop-left",
        party.session,
    )
    assert (issued["session_name"], issued["rev"]) == ("party", before + 1)
    (joined,) = await events(party.host, 1)
    assert (joined["type"], joined["rev"]) == ("member_update", before + 1)
    assert joined["data"]["action"] == "join"
    assert (joined["data"]["member"]["role"], joined["data"]["member"]["user"]) == (
        "listener",
        issued["user"],
    )

    who = await listener.call("auth", token=issued["token"])
    assert (who["role"], who["session"], who["user"]) == ("listener", party.session, issued["user"])
    # A speaker runs for weeks: 30 days unless asked otherwise.
    assert issued["expires_at_ms"] == (clock.now_ms() // 1000 + 30 * 86_400) * 1000
    shorter = await party.host.call(
        "session_listener", session=party.session, name="shop-right", ttl_s=7 * 86_400
    )  # a shorter one, asked for
    assert issued["expires_at_ms"] - shorter["expires_at_ms"] == 23 * 86_400_000


async def test_a_listener_reads_and_follows(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    listener, issued = await let_in(connect, party, "shop-left")

    snapshot = await listener.call("session_get", session=party.session)
    assert snapshot["session"]["invite_code"] is None  # the invite code is the host's
    assert snapshot["followers"] == []
    assert [(m["name"], m["role"]) for m in snapshot["members"]] == [
        ("hana", "host"),
        ("shop-left", "listener"),
    ]
    assert snapshot["members"][1]["user"] == issued["user"]
    listed = (await listener.call("session_list"))["sessions"]
    assert [(s["id"], s["role"], s["invite_code"]) for s in listed] == [
        (party.session, "listener", None)
    ]
    assert (await listener.call("request_list", session=party.session)) == {"requests": []}
    assert (await listener.call("time", client_send_ms=5.0))["client_send_ms"] == 5.0

    view = await listener.subscribe(party.session)
    assert view.rev == snapshot["rev"]
    added = await party.host.call("playlist_add", session=party.session, uri="a.ogg")
    (event,) = await events(listener, 1)
    assert (event["type"], event["rev"]) == ("playlist_update", added["rev"])
    await listener.call("unsubscribe", session=party.session)

    # Another session is out of reach: the token is bound to this one.
    other = await make_party(connect, host_token, "other")
    with pytest.raises(Forbidden):
        await listener.call("session_get", session=other.session)
    with pytest.raises(Forbidden):
        await listener.call("follower_report", session=other.session, **REPORT)


async def test_reports_reach_hosts_not_guests_nor_listeners(
    connect: ClientFactory, host_token: str
) -> None:
    party = await make_party(connect, host_token)
    guest = await join(connect, party, "gus")
    speaker, _issued = await let_in(connect, party, "shop-left")
    other_speaker, _other = await let_in(connect, party, "shop-right")
    for client in (party.host, guest, other_speaker):
        await client.subscribe(party.session)

    reply = await speaker.call("follower_report", session=party.session, **REPORT)
    (status,) = await events(party.host, 1)
    assert (status["type"], status["data"]["id"]) == ("follower_status", reply["id"])
    assert (status["data"]["name"], status["data"]["state"]) == ("shop-left", "in_sync")
    snapshot = await party.host.call("session_get", session=party.session)
    assert [f["id"] for f in snapshot["followers"]] == [reply["id"]]
    # Neither a guest nor another listener sees followers, as events or in snapshots.
    for client in (guest, other_speaker):
        assert (await client.call("session_get", session=party.session))["followers"] == []
        assert [e["type"] for e in await drain(client) if e["type"] != "snapshot"] == []


async def test_a_listener_reports_durations(
    connect: ClientFactory, host_token: str, clock: FakeClock
) -> None:
    party = await make_party(connect, host_token)
    a = (await party.host.call("playlist_add", session=party.session, uri="a.ogg"))["item"]["id"]
    b = (await party.host.call("playlist_add", session=party.session, uri="b.ogg"))["item"]["id"]
    await party.host.subscribe(party.session)
    guest = await join(connect, party, "gus")
    speaker, _issued = await let_in(connect, party, "shop-left")
    assert [e["type"] for e in await events(party.host, 2)] == ["member_update"] * 2
    await party.host.call("playback_command", session=party.session, action="play")
    assert (await events(party.host, 1))[0]["type"] == "playback_state"

    # A guest still may not: it could end every item at once.
    with pytest.raises(Forbidden) as refused:
        await guest.call("item_duration", session=party.session, item=a, duration_ms=1)
    assert refused.value.details == {"role": "guest"}

    reported = await speaker.call("item_duration", session=party.session, item=a, duration_ms=4_000)
    assert (reported["changed"], reported["item"]["duration_ms"]) == (True, 4_000)
    (update,) = await events(party.host, 1)
    assert (update["type"], update["rev"]) == ("playlist_update", reported["rev"])
    assert update["data"] == {"action": "update", "item": reported["item"]}
    # The daemon now knows when the item ends, and advances.
    clock.advance(4_000)
    (advanced,) = await events(party.host, 1)
    assert (advanced["type"], advanced["data"]["item"]) == ("playback_state", b)
    again = await speaker.call("item_duration", session=party.session, item=a, duration_ms=9)
    assert (again["changed"], again["item"]["duration_ms"]) == (False, 4_000)
    with pytest.raises(NotFound):
        await speaker.call("item_duration", session=party.session, item=999_999, duration_ms=9)


async def test_a_listener_only_listens(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    guest = await join(connect, party, "gus")
    item = (await party.host.call("playlist_add", session=party.session, uri="a.ogg"))["item"]
    asked = await guest.call(
        "request_playlist_change", session=party.session, action="remove", item=item["id"]
    )
    speaker, issued = await let_in(connect, party, "shop-left")
    before = await party.host.call("session_get", session=party.session)
    s = party.session
    calls: list[tuple[str, dict[str, Any]]] = [
        ("request_playlist_change", {"session": s, "action": "add", "uri": "x.ogg"}),
        ("request_withdraw", {"session": s, "request": asked["request"]["id"]}),
        ("playlist_add", {"session": s, "uri": "x.ogg"}),
        ("playlist_remove", {"session": s, "item": item["id"]}),
        ("playlist_move", {"session": s, "item": item["id"], "position": 0}),
        ("playlist_clear", {"session": s}),
        ("playback_command", {"session": s, "action": "play"}),
        ("playback_command", {"session": s, "action": "skip_next"}),
        ("playback_repeat", {"session": s, "mode": "all"}),
        ("request_approve", {"session": s, "request": asked["request"]["id"]}),
        ("request_reject", {"session": s, "request": asked["request"]["id"]}),
        ("session_listener", {"session": s, "name": "another"}),
        ("session_kick", {"session": s, "user": issued["user"]}),
        ("session_rotate_invite", {"session": s}),
        ("session_end", {"session": s}),
        ("session_create", {"name": "mine"}),
        ("token_issue", {"name": "mallory"}),
        ("token_list", {}),
    ]
    for op, args in calls:
        with pytest.raises(Forbidden) as refused:
            await speaker.call(op, **args)
        assert refused.value.details == {"role": "listener"}, op
        assert f"{op} needs one of the roles" in refused.value.message
    assert await party.host.call("session_get", session=s) == before


async def test_only_the_host_lets_listeners_in(
    connect: ClientFactory, host_token: str, admin_token: str
) -> None:
    party = await make_party(connect, host_token)
    guest = await join(connect, party, "gus")
    with pytest.raises(Forbidden) as by_guest:
        await guest.call("session_listener", session=party.session, name="mine")
    assert by_guest.value.details == {"role": "guest"}
    admin = await connect(admin_token)
    olga = await connect((await admin.call("token_issue", name="olga"))["token"])
    with pytest.raises(Forbidden):
        await olga.call("session_listener", session=party.session, name="mine")
    # An admin may act as the host of any session.
    by_admin = await admin.call("session_listener", session=party.session, name="ops")
    assert (by_admin["role"], by_admin["session"]) == ("listener", party.session)
    members = (await party.host.call("session_get", session=party.session))["members"]
    assert [m["name"] for m in members] == ["hana", "gus", "ops"]

    with pytest.raises(NotFound):
        await party.host.call("session_listener", session="nosuchsession", name="x")
    for bad in ({"name": ""}, {"name": "x" * 65}, {"name": "x", "ttl_s": 59}, {}):
        with pytest.raises(InvalidArgs):
            await party.host.call("session_listener", session=party.session, **bad)

    await party.host.call("session_end", session=party.session)
    with pytest.raises(Conflict) as ended:
        await party.host.call("session_listener", session=party.session, name="late")
    assert ended.value.code == "session_ended"


async def test_kicking_a_listener_revokes_its_token(
    connect: ClientFactory, host_token: str, admin_token: str
) -> None:
    party = await make_party(connect, host_token)
    speaker, issued = await let_in(connect, party, "shop-left")
    await speaker.subscribe(party.session)
    reply = await speaker.call("follower_report", session=party.session, **REPORT)
    await party.host.subscribe(party.session)
    assert [f["id"] for f in party.host.views[party.session].followers.values()] == [reply["id"]]

    kicked = await party.host.call("session_kick", session=party.session, user=issued["user"])
    member_update, gone = await events(party.host, 2)
    assert (member_update["type"], member_update["rev"]) == ("member_update", kicked["rev"])
    assert member_update["data"]["member"]["kicked"] is True
    # Its follower is gone at once, not when its connection closes.
    assert (gone["type"], gone["rev"]) == ("follower_status", kicked["rev"])
    assert (gone["data"]["id"], gone["data"]["state"]) == (reply["id"], "gone")
    assert (await party.host.call("session_get", session=party.session))["followers"] == []

    for op, args in [
        ("session_get", {}),
        ("follower_report", REPORT),
        ("item_duration", {"item": 1, "duration_ms": 1}),
    ]:
        with pytest.raises(AuthError) as revoked:
            await speaker.call(op, session=party.session, **args)
        assert revoked.value.code == "token_revoked"
    # The kick is the last thing it heard.
    heard = [e for e in await drain(speaker) if e["type"] != "snapshot"]
    assert heard[-1]["type"] == "member_update"
    assert all(e["rev"] <= kicked["rev"] for e in heard)
    admin = await connect(admin_token)
    tokens = {t["jti"]: t for t in (await admin.call("token_list"))["tokens"]}
    assert tokens[issued["jti"]]["revoked_at_ms"] is not None
    assert (tokens[issued["jti"]]["role"], tokens[issued["jti"]]["session"]) == (
        "listener",
        party.session,
    )


async def test_a_listener_leaves(connect: ClientFactory, host_token: str) -> None:
    party = await make_party(connect, host_token)
    speaker, _issued = await let_in(connect, party, "shop-left")
    left = await speaker.call("session_leave", session=party.session)
    assert left["left"] is True
    with pytest.raises(AuthError) as revoked:
        await speaker.call("session_list")
    assert revoked.value.code == "token_revoked"
    members = (await party.host.call("session_get", session=party.session))["members"]
    assert (members[-1]["role"], members[-1]["left_at_ms"] is not None) == ("listener", True)


async def test_token_issue_refuses_a_listener(connect: ClientFactory, admin_token: str) -> None:
    admin = await connect(admin_token)
    host_token = (await admin.call("token_issue", name="hana"))["token"]
    party = await make_party(connect, host_token)
    _speaker, issued = await let_in(connect, party, "shop-left")
    with pytest.raises(Conflict) as refused:
        await admin.call("token_issue", user=issued["user"])
    assert "session_listener" in refused.value.message
    with pytest.raises(CmpError) as no_role:
        await admin.call("token_issue", role="listener", name="speaker")
    assert no_role.value.code == "invalid_args"
