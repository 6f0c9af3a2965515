"""Bad input gets an error with a stable code, changes nothing, and the daemon
keeps serving everyone else."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cmp.client import Client
from cmp.core.errors import AuthError, CmpError
from daemon.app import Daemon
from daemon.config import Settings
from tests.conftest import ClientFactory
from tests.fakes import FakeClock

from .helpers import RawConnection, World, build_world, raw_connection

MiB = 2**20


@pytest.fixture
async def world(connect: ClientFactory, host_token: str) -> World:
    return await build_world(connect, host_token)


@pytest.fixture
async def watcher(connect: ClientFactory, host_token: str, world: World) -> Client:
    """Another client of the host's, subscribed to the session."""
    client = await connect(host_token)
    await client.subscribe(world.session)
    first = await client.next_event(timeout=5)
    assert first["type"] == "snapshot"
    return client


@asynccontextmanager
async def changes_nothing(world: World, watcher: Client) -> AsyncIterator[dict[str, Any]]:
    """The block changes nothing, and afterwards the daemon still serves others:
    the next change gets the very next rev and reaches the subscriber."""
    before = await world.snapshot()
    yield before
    after = await world.snapshot()
    assert after == before
    added = await world.host.call(
        "playlist_add", session=world.session, uri="file:///music/after.flac"
    )
    assert added["rev"] == before["rev"] + 1
    event = await watcher.next_event(timeout=5)
    assert event["type"] == "playlist_update"
    assert event["rev"] == before["rev"] + 1
    assert event["data"]["item"]["uri"] == "file:///music/after.flac"


async def expect_error(call: Any, code: str) -> CmpError:
    with pytest.raises(CmpError) as caught:
        await call
    assert caught.value.code == code, caught.value
    assert caught.value.message
    return caught.value


def _frame(**fields: Any) -> Callable[[str], str]:
    def make(session: str) -> str:
        value = json.loads(json.dumps(fields).replace("SESSION", session))
        return json.dumps(value)

    return make


# -- malformed frames ----------------------------------------------------------------

FRAMES = [
    pytest.param(lambda s: '{"op": "session_get", "id": 1,', "bad_json", None, id="not-json"),
    pytest.param(lambda s: "hello", "bad_json", None, id="bare-word"),
    pytest.param(lambda s: '["session_get", 1]', "bad_frame", None, id="array"),
    pytest.param(lambda s: '"session_get"', "bad_frame", None, id="string"),
    pytest.param(lambda s: "42", "bad_frame", None, id="number"),
    pytest.param(lambda s: "null", "bad_frame", None, id="null"),
    pytest.param(
        _frame(op="playlist_add", args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        None,
        id="missing-id",
    ),
    pytest.param(
        _frame(op="playlist_add", id=[1], args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        None,
        id="id-a-list",
    ),
    pytest.param(
        _frame(op="playlist_add", id=True, args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        None,
        id="id-a-bool",
    ),
    pytest.param(
        _frame(op="playlist_add", id="", args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        None,
        id="id-empty",
    ),
    pytest.param(
        _frame(op="playlist_add", id=2**60, args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        None,
        id="id-too-big",
    ),
    pytest.param(
        _frame(op="playlist_add", id=1.0, args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        None,
        id="id-a-float",
    ),
    pytest.param(lambda s: "[" * 20_000 + "]" * 20_000, "bad_json", None, id="nested-array"),
    pytest.param(
        lambda s: '{"op": "time", "id": 1, "args": ' + '{"a":' * 10_000 + "1" + "}" * 10_001,
        "bad_json",
        None,
        id="nested-args",
    ),
    pytest.param(
        lambda s: '{"op": "time", "id": 7, "args": {"client_send_ms": NaN}}',
        "bad_json",
        None,
        id="nan",
    ),
    pytest.param(
        lambda s: '{"op": "time", "id": 7, "args": {"client_send_ms": -Infinity}}',
        "bad_json",
        None,
        id="infinity",
    ),
    pytest.param(
        _frame(id=7, args={"session": "SESSION", "uri": "file:///x"}),
        "bad_frame",
        7,
        id="missing-op",
    ),
    pytest.param(
        _frame(op=12, id=7, args={"session": "SESSION"}),
        "bad_frame",
        7,
        id="op-a-number",
    ),
    pytest.param(
        _frame(op="playlist_explode", id="x7", args={"session": "SESSION"}),
        "unknown_op",
        "x7",
        id="unknown-op",
    ),
    pytest.param(
        _frame(op="playlist_add", id=7, args={"session": "SESSION", "uri": "file:///x"}, v=2),
        "bad_frame",
        7,
        id="unknown-envelope-field",
    ),
    pytest.param(
        _frame(op="playlist_add", id=7, args=["SESSION", "file:///x"]),
        "bad_frame",
        7,
        id="args-a-list",
    ),
    pytest.param(
        _frame(op="playlist_add", id=7, args="file:///x"),
        "bad_frame",
        7,
        id="args-a-string",
    ),
    pytest.param(_frame(op="playlist_add", id=7, args=None), "bad_frame", 7, id="args-null"),
]


@pytest.mark.parametrize(("make", "code", "reply_id"), FRAMES)
async def test_malformed_frame(
    world: World,
    watcher: Client,
    host_token: str,
    daemon: Daemon,
    make: Callable[[str], str],
    code: str,
    reply_id: Any,
) -> None:
    async with changes_nothing(world, watcher), raw_connection(daemon.url, host_token) as raw:
        error = await raw.error(make(world.session))
        assert error["code"] == code
        assert error["id"] == reply_id
        # The connection stays usable.
        reply = await raw.request("session_get", 8, session=world.session)
        assert reply["ok"] is True
        assert raw.events == []


async def test_binary_frame_that_is_not_json(
    world: World, watcher: Client, host_token: str, daemon: Daemon
) -> None:
    async with changes_nothing(world, watcher), raw_connection(daemon.url, host_token) as raw:
        error = await raw.error(b"\xff\xfe\x00garbage")
        assert error["code"] == "bad_json"
        assert (await raw.request("time", 2))["ok"] is True


# -- arguments -----------------------------------------------------------------------

ARGS = [
    pytest.param(
        "playback_command",
        {"action": "seek", "position_ms": "1000"},
        "position_ms",
        id="position-a-string",
    ),
    pytest.param(
        "playback_command",
        {"action": "seek", "position_ms": 1000.5},
        "position_ms",
        id="position-a-float",
    ),
    pytest.param(
        "playback_command",
        {"action": "seek", "position_ms": -5},
        "position_ms",
        id="position-negative",
    ),
    pytest.param("playback_command", {"action": "rewind"}, "action", id="unknown-action"),
    pytest.param("playback_command", {"action": "seek"}, "args", id="seek-without-position"),
    pytest.param("playback_command", {"action": "pause", "item": 1}, "args", id="pause-with-item"),
    pytest.param("playback_command", {}, "action", id="missing-action"),
    pytest.param(
        "playlist_add",
        {"uri": "file:///x", "duration_ms": "3:00"},
        "duration_ms",
        id="duration-a-string",
    ),
    pytest.param(
        "playlist_add",
        {"uri": "file:///x", "duration_ms": True},
        "duration_ms",
        id="duration-a-bool",
    ),
    pytest.param("playlist_add", {"uri": 17}, "uri", id="uri-a-number"),
    pytest.param("playlist_add", {"uri": ""}, "uri", id="uri-empty"),
    pytest.param("playlist_add", {"title": "no uri"}, "uri", id="missing-uri"),
    pytest.param("playlist_add", {"uri": "file:///x", "colour": "red"}, "colour", id="extra-arg"),
    pytest.param("playlist_move", {"item": 1}, "position", id="move-without-position"),
    pytest.param("playlist_remove", {"item": 0}, "item", id="item-zero"),
    pytest.param("playlist_remove", {"item": "1"}, "item", id="item-a-string"),
    pytest.param("request_reject", {"request": 1, "reason": ""}, "reason", id="reason-empty"),
    pytest.param("playback_repeat", {"mode": "sometimes"}, "mode", id="repeat-mode"),
    pytest.param("playlist_add", {"uri": "file:///\ud800.flac"}, "uri", id="lone-surrogate"),
    pytest.param("session_listener", {}, "name", id="listener-without-name"),
    pytest.param("session_listener", {"name": ""}, "name", id="listener-name-empty"),
    pytest.param("session_listener", {"name": "x" * 65}, "name", id="listener-name-too-long"),
    pytest.param("session_listener", {"name": "x", "ttl_s": 59}, "ttl_s", id="listener-ttl-short"),
    pytest.param(
        "session_listener", {"name": "x", "ttl_s": 366 * 86_400}, "ttl_s", id="listener-ttl-long"
    ),
    pytest.param("item_duration", {"item": 1, "duration_ms": 0}, "duration_ms", id="duration-0"),
    pytest.param("subscribe", {"since_rev": -1}, "since_rev", id="since-rev-negative"),
    pytest.param("subscribe", {"since_rev": "3"}, "since_rev", id="since-rev-a-string"),
]


@pytest.mark.parametrize(("op", "args", "field"), ARGS)
async def test_invalid_args(
    world: World, watcher: Client, op: str, args: dict[str, Any], field: str
) -> None:
    async with changes_nothing(world, watcher):
        error = await expect_error(
            world.host.call(op, session=world.session, **args), "invalid_args"
        )
        fields = [problem["field"] for problem in error.details["errors"]]
        assert field in fields, error.details
        for problem in error.details["errors"]:
            assert problem["problem"]


@pytest.mark.parametrize("session", ["", "UPPER", "../etc", "a b c d", "x" * 40, 12345], ids=repr)
async def test_malformed_session_id(world: World, watcher: Client, session: Any) -> None:
    async with changes_nothing(world, watcher):
        error = await expect_error(
            world.host.call("playlist_add", session=session, uri="file:///x"), "invalid_args"
        )
        assert [p["field"] for p in error.details["errors"]] == ["session"]


async def test_missing_session_arg(world: World, watcher: Client) -> None:
    async with changes_nothing(world, watcher):
        error = await expect_error(world.host.call("playlist_clear"), "invalid_args")
        assert [p["field"] for p in error.details["errors"]] == ["session"]


async def test_guest_request_with_fields_that_do_not_fit(world: World, watcher: Client) -> None:
    async with changes_nothing(world, watcher):
        await expect_error(
            world.guest.call("request_playlist_change", session=world.session, action="add"),
            "invalid_args",
        )
        await expect_error(
            world.guest.call(
                "request_playlist_change",
                session=world.session,
                action="remove",
                item=world.items[0],
                uri="file:///x",
            ),
            "invalid_args",
        )


# -- sizes -----------------------------------------------------------------------------


async def test_frame_over_max_frame_bytes(
    world: World, watcher: Client, host_token: str, daemon: Daemon
) -> None:
    limit = daemon.settings.max_frame_bytes
    frame = json.dumps(
        {
            "op": "playlist_add",
            "id": 3,
            "args": {"session": world.session, "uri": "file:///" + "x" * limit},
        }
    )
    assert limit < len(frame) < daemon.settings.max_message_bytes
    async with changes_nothing(world, watcher), raw_connection(daemon.url, host_token) as raw:
        error = await raw.error(frame)
        assert error["code"] == "frame_too_large"
        assert error["details"]["limit"] == limit
        # Still open and serving.
        assert (await raw.request("session_get", 4, session=world.session))["ok"] is True


async def test_frame_over_max_message_bytes_closes_the_connection(
    world: World, watcher: Client, host_token: str, daemon: Daemon
) -> None:
    size = daemon.settings.max_message_bytes + 1
    async with changes_nothing(world, watcher), raw_connection(daemon.url, host_token) as raw:
        await raw.send(json.dumps({"op": "time", "id": 1, "args": {}, "pad": "x" * size}))
        with pytest.raises(ConnectionClosed) as caught:
            await raw.frame()
        assert caught.value.rcvd is not None
        assert caught.value.rcvd.code == 1009


async def test_small_limits_from_settings(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    small = replace(
        settings, state_dir=tmp_path / "small", max_frame_bytes=1024, max_message_bytes=4096
    )
    async with Daemon(small, clock=clock) as daemon:
        admin_token = daemon.admin_token_file.read_text().strip()  # type: ignore[union-attr]
        async with raw_connection(daemon.url, admin_token) as raw:
            error = await raw.error(json.dumps({"op": "time", "id": 1, "pad": "x" * 2000}))
            assert error["code"] == "frame_too_large"
            assert (await raw.request("time", 2))["ok"] is True
            await raw.send("x" * 5000)
            with pytest.raises(ConnectionClosed) as caught:
                await raw.frame()
            assert caught.value.rcvd is not None
            assert caught.value.rcvd.code == 1009
        async with raw_connection(daemon.url, admin_token) as other:
            assert (await other.request("token_list", 1))["ok"] is True


# -- authentication --------------------------------------------------------------------


async def test_op_without_token(world: World, watcher: Client, daemon: Daemon) -> None:
    async with changes_nothing(world, watcher), raw_connection(daemon.url) as raw:
        for n, (op, args) in enumerate(
            [
                ("session_get", {"session": world.session}),
                ("playlist_add", {"session": world.session, "uri": "file:///x"}),
                ("playback_command", {"session": world.session, "action": "play"}),
                ("subscribe", {"session": world.session}),
                ("token_issue", {"name": "mallory"}),
                ("session_create", {"name": "mine"}),
            ]
        ):
            reply = await raw.request(op, n, **args)
            assert reply["ok"] is False
            assert reply["error"]["code"] == "unauthenticated", reply
        # Ops that need no token still work on that connection.
        assert (await raw.request("time", 100))["ok"] is True
        assert raw.events == []


async def test_auth_op_with_bad_tokens_then_a_good_one(
    world: World, watcher: Client, host_token: str, daemon: Daemon
) -> None:
    async with changes_nothing(world, watcher), raw_connection(daemon.url) as raw:
        reply = await raw.request("auth", 1, token="not-a-jwt")
        assert reply["error"]["code"] == "token_invalid"
        reply = await raw.request("session_get", 2, session=world.session)
        assert reply["error"]["code"] == "unauthenticated"
        reply = await raw.request("auth", 3, token=host_token)
        assert reply["ok"] is True
        assert (await raw.request("session_get", 4, session=world.session))["ok"] is True


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        jwt.encode(
            {"sub": "1", "role": "admin", "jti": "x", "exp": 4_000_000_000},
            b"not the daemon's secret, not the daemon's secret",
            algorithm="HS256",
        ),
    ],
    ids=["garbage", "three-parts", "foreign-signature"],
)
async def test_garbage_token_in_header_is_refused(
    world: World, watcher: Client, daemon: Daemon, token: str
) -> None:
    async with changes_nothing(world, watcher):
        with pytest.raises(AuthError) as caught:
            await Client(daemon.url, token=token, timeout=5).connect()
        assert caught.value.code == "token_invalid"


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
async def test_malformed_authorization_header_gets_401(
    world: World, watcher: Client, daemon: Daemon, header: str
) -> None:
    async with changes_nothing(world, watcher):
        with pytest.raises(InvalidStatus) as caught:
            async with ws_connect(
                daemon.url, additional_headers={"Authorization": header}, compression=None
            ):
                pass
        response = caught.value.response
        assert response.status_code == 401
        assert json.loads(response.body)["error"]["code"] == "token_invalid"


async def test_expired_token(
    world: World,
    watcher: Client,
    connect: ClientFactory,
    admin_token: str,
    clock: FakeClock,
    daemon: Daemon,
) -> None:
    admin = await connect(admin_token)
    issued = await admin.call("token_issue", role="host", name="tess", ttl_s=60)
    tess = await connect(issued["token"])
    created = await tess.call("session_create", name="short-lived")
    own = created["session"]["id"]
    await tess.call("playlist_add", session=own, uri="file:///a.flac")
    own_before = await admin.call("session_get", session=own)

    clock.advance(61_000)
    async with changes_nothing(world, watcher):
        await expect_error(tess.call("session_list"), "token_expired")
        await expect_error(
            tess.call("playlist_add", session=own, uri="file:///b.flac"), "token_expired"
        )
        await expect_error(tess.call("subscribe", session=own), "token_expired")
        with pytest.raises(AuthError) as caught:
            await Client(daemon.url, token=issued["token"], timeout=5).connect()
        assert caught.value.code == "token_expired"
        async with raw_connection(daemon.url) as raw:
            reply = await raw.request("auth", 1, token=issued["token"])
            assert reply["error"]["code"] == "token_expired"
    assert await admin.call("session_get", session=own) == own_before


async def test_revoked_token(
    world: World, watcher: Client, connect: ClientFactory, admin_token: str, daemon: Daemon
) -> None:
    admin = await connect(admin_token)
    issued = await admin.call("token_issue", role="host", name="rita")
    rita = await connect(issued["token"])
    own = (await rita.call("session_create", name="rita's"))["session"]["id"]
    own_before = await admin.call("session_get", session=own)
    revoked = await admin.call("token_revoke", jti=issued["jti"])
    assert revoked["revoked"] is True

    async with changes_nothing(world, watcher):
        await expect_error(rita.call("session_get", session=own), "token_revoked")
        await expect_error(
            rita.call("playlist_add", session=own, uri="file:///x.flac"), "token_revoked"
        )
        await expect_error(rita.call("session_end", session=own), "token_revoked")
        with pytest.raises(AuthError) as caught:
            await Client(daemon.url, token=issued["token"], timeout=5).connect()
        assert caught.value.code == "token_revoked"
    assert await admin.call("session_get", session=own) == own_before


async def events_before_reply(raw: RawConnection) -> list[dict[str, Any]]:
    """Events the connection still had coming: those read before the reply to a new
    request (frames on one connection leave in order), or before it was closed."""
    events: list[dict[str, Any]] = []
    try:
        await raw.send(json.dumps({"op": "time", "id": "sentinel", "args": {}}))
        while True:
            frame = await raw.frame()
            if "type" not in frame and frame["id"] == "sentinel":
                break
            events.append(frame)
    except ConnectionClosed:
        pass  # closing the connection is a fine way to cut it off too
    return events


async def test_revoked_token_stops_its_subscriptions(
    world: World, watcher: Client, connect: ClientFactory, admin_token: str, daemon: Daemon
) -> None:
    admin = await connect(admin_token)
    joined = await (await connect()).call("session_join", code=world.invite_code, name="rob")
    assert (await watcher.next_event(timeout=5))["type"] == "member_update"
    async with raw_connection(daemon.url, joined["token"]) as raw:
        assert (await raw.request("subscribe", 1, session=world.session))["ok"] is True
        await admin.call("token_revoke", jti=joined["jti"])
        # The next change is published before the host hears back about it.
        await world.host.call("playlist_add", session=world.session, uri="file:///secret.flac")
        assert (await watcher.next_event(timeout=5))["type"] == "playlist_update"
        assert await events_before_reply(raw) == []


async def test_expired_token_stops_its_subscriptions(
    world: World, watcher: Client, connect: ClientFactory, clock: FakeClock, daemon: Daemon
) -> None:
    anonymous = await connect()
    joined = await anonymous.call("session_join", code=world.invite_code, name="bea", ttl_s=60)
    assert (await watcher.next_event(timeout=5))["type"] == "member_update"
    async with raw_connection(daemon.url, joined["token"]) as raw:
        assert (await raw.request("subscribe", 1, session=world.session))["ok"] is True
        # Well past the expiry, and any periodic check the daemon makes.
        clock.advance(10 * 60_000)
        await world.host.call("playlist_add", session=world.session, uri="file:///later.flac")
        assert (await watcher.next_event(timeout=5))["type"] == "playlist_update"
        assert await events_before_reply(raw) == []


# -- roles and sessions ----------------------------------------------------------------


async def test_guest_without_permission(world: World, watcher: Client) -> None:
    s = world.session
    async with changes_nothing(world, watcher):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("playlist_add", {"session": s, "uri": "file:///x.flac"}),
            ("playlist_remove", {"session": s, "item": world.items[0]}),
            ("playlist_move", {"session": s, "item": world.items[0], "position": 1}),
            ("playlist_clear", {"session": s}),
            ("playback_command", {"session": s, "action": "play"}),
            ("playback_command", {"session": s, "action": "skip_next"}),
            ("playback_repeat", {"session": s, "mode": "all"}),
            ("request_approve", {"session": s, "request": world.request}),
            ("request_reject", {"session": s, "request": world.request}),
            ("session_kick", {"session": s, "user": world.host_user}),
            ("session_listener", {"session": s, "name": "guest's speaker"}),
            ("item_duration", {"session": s, "item": world.items[0], "duration_ms": 1}),
            ("session_rotate_invite", {"session": s}),
            ("session_end", {"session": s}),
            ("session_create", {"name": "guest's own"}),
            ("token_issue", {"name": "mallory"}),
            ("token_list", {}),
        ]
        for op, args in calls:
            await expect_error(world.guest.call(op, **args), "forbidden")


async def test_host_cannot_manage_tokens(
    world: World, watcher: Client, connect: ClientFactory, admin_token: str
) -> None:
    admin = await connect(admin_token)
    tokens_before = await admin.call("token_list")
    async with changes_nothing(world, watcher):
        await expect_error(world.host.call("token_issue", role="host", name="x"), "forbidden")
        await expect_error(world.host.call("token_issue", role="admin", name="x"), "forbidden")
        await expect_error(world.host.call("token_list"), "forbidden")
        jti = tokens_before["tokens"][0]["jti"]
        await expect_error(world.host.call("token_revoke", jti=jti), "forbidden")
    assert await admin.call("token_list") == tokens_before


async def test_guest_touching_another_session(
    world: World, watcher: Client, connect: ClientFactory, admin_token: str
) -> None:
    other = (await world.host.call("session_create", name="other"))["session"]
    added = await world.host.call("playlist_add", session=other["id"], uri="file:///o.flac")
    other_item = added["item"]["id"]
    other_before = await world.host.call("session_get", session=other["id"])
    async with changes_nothing(world, watcher):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("session_get", {}),
            ("subscribe", {}),
            ("request_list", {}),
            ("request_playlist_change", {"action": "add", "uri": "file:///x.flac"}),
            ("request_playlist_change", {"action": "remove", "item": other_item}),
            ("session_leave", {}),
        ]
        for op, args in calls:
            await expect_error(world.guest.call(op, session=other["id"], **args), "forbidden")
        # The item of another session is not found through the guest's own session.
        await expect_error(
            world.guest.call(
                "request_playlist_change", session=world.session, action="remove", item=other_item
            ),
            "not_found",
        )
        # Nor can the host reach it through this session.
        await expect_error(
            world.host.call("playlist_remove", session=world.session, item=other_item),
            "not_found",
        )
        sessions = await world.guest.call("session_list")
        assert [s["id"] for s in sessions["sessions"]] == [world.session]
    assert await world.host.call("session_get", session=other["id"]) == other_before


async def test_host_of_another_session(
    world: World, watcher: Client, connect: ClientFactory, admin_token: str
) -> None:
    admin = await connect(admin_token)
    issued = await admin.call("token_issue", role="host", name="olga")
    olga = await connect(issued["token"])
    async with changes_nothing(world, watcher):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("session_get", {}),
            ("subscribe", {}),
            ("playlist_add", {"uri": "file:///x.flac"}),
            ("playlist_clear", {}),
            ("playback_command", {"action": "play"}),
            ("request_approve", {"request": world.request}),
            ("session_listener", {"name": "olga's speaker"}),
            ("item_duration", {"item": world.items[0], "duration_ms": 1}),
            ("session_end", {}),
        ]
        for op, args in calls:
            await expect_error(olga.call(op, session=world.session, **args), "forbidden")


async def test_guest_withdrawing_someone_elses_request(
    world: World, watcher: Client, connect: ClientFactory
) -> None:
    joined = await (await connect()).call("session_join", code=world.invite_code, name="hal")
    # The join is a change of its own (rev + 1) that the watcher sees first.
    event = await watcher.next_event(timeout=5)
    assert event["type"] == "member_update"
    hal = await connect(joined["token"])
    async with changes_nothing(world, watcher):
        await expect_error(
            hal.call("request_withdraw", session=world.session, request=world.request),
            "forbidden",
        )


# -- unknown things and conflicts ------------------------------------------------------


async def test_unknown_session_item_and_request(
    world: World, watcher: Client, connect: ClientFactory, admin_token: str
) -> None:
    s = world.session
    admin = await connect(admin_token)
    async with changes_nothing(world, watcher):
        calls: list[tuple[str, dict[str, Any]]] = [
            ("session_get", {"session": "nosuchsession"}),
            ("playlist_add", {"session": "nosuchsession", "uri": "file:///x.flac"}),
            ("session_listener", {"session": "nosuchsession", "name": "speaker"}),
            ("subscribe", {"session": "nosuchsession"}),
            ("playlist_remove", {"session": s, "item": 999_999}),
            ("playlist_move", {"session": s, "item": 999_999, "position": 0}),
            ("item_duration", {"session": s, "item": 999_999, "duration_ms": 1000}),
            ("playback_command", {"session": s, "action": "play", "item": 999_999}),
            ("request_approve", {"session": s, "request": 999_999}),
            ("request_reject", {"session": s, "request": 999_999}),
            ("session_kick", {"session": s, "user": 999_999}),
        ]
        for op, args in calls:
            await expect_error(world.host.call(op, **args), "not_found")
        await expect_error(admin.call("token_revoke", jti="no-such-token"), "not_found")
        await expect_error(
            world.guest.call("request_withdraw", session=s, request=999_999), "not_found"
        )


async def test_deciding_a_decided_request(world: World, watcher: Client) -> None:
    s = world.session
    await world.host.call("request_reject", session=s, request=world.request, reason="no")
    event = await watcher.next_event(timeout=5)
    assert event["type"] == "request_update"
    assert event["data"]["state"] == "rejected"
    async with changes_nothing(world, watcher):
        for client, op in [
            (world.host, "request_approve"),
            (world.host, "request_reject"),
            (world.guest, "request_withdraw"),
        ]:
            error = await expect_error(
                client.call(op, session=s, request=world.request), "conflict"
            )
            assert error.details["state"] == "rejected"


async def test_host_cannot_leave_or_be_kicked(world: World, watcher: Client) -> None:
    async with changes_nothing(world, watcher):
        await expect_error(world.host.call("session_leave", session=world.session), "conflict")
        await expect_error(
            world.host.call("session_kick", session=world.session, user=world.host_user),
            "forbidden",
        )


async def test_changes_to_an_ended_session(world: World, connect: ClientFactory) -> None:
    other = (await world.host.call("session_create", name="done"))["session"]
    added = await world.host.call("playlist_add", session=other["id"], uri="file:///y.flac")
    let_in = await world.host.call("session_listener", session=other["id"], name="speaker")
    listener = await connect(let_in["token"])
    await world.host.call("session_end", session=other["id"])
    before = await world.host.call("session_get", session=other["id"])
    await expect_error(
        world.host.call("playlist_add", session=other["id"], uri="file:///x.flac"),
        "session_ended",
    )
    await expect_error(
        world.host.call("session_listener", session=other["id"], name="late"), "session_ended"
    )
    await expect_error(
        listener.call(
            "item_duration", session=other["id"], item=added["item"]["id"], duration_ms=1000
        ),
        "session_ended",
    )
    await expect_error(
        world.host.call("playback_command", session=other["id"], action="play"), "session_ended"
    )
    await expect_error(
        (await connect()).call("session_join", code=other["invite_code"], name="late"),
        "invalid_invite",
    )
    assert await world.host.call("session_get", session=other["id"]) == before


# -- invite codes ----------------------------------------------------------------------


async def test_invalid_invite_code(world: World, watcher: Client, connect: ClientFactory) -> None:
    rotated = await world.host.call("session_rotate_invite", session=world.session)
    assert (await watcher.next_event(timeout=5))["type"] == "session_update"
    anonymous = await connect()
    async with changes_nothing(world, watcher):
        for code in ("ZZZZZZZZZZ", "abcd", world.invite_code, world.invite_code.lower()):
            assert code.upper() != rotated["invite_code"]
            await expect_error(
                anonymous.call("session_join", code=code, name="eve"), "invalid_invite"
            )


async def test_join_rate_limit(
    world: World, watcher: Client, connect: ClientFactory, clock: FakeClock, daemon: Daemon
) -> None:
    allowed = daemon.settings.join_failures_per_min
    anonymous = await connect()
    async with changes_nothing(world, watcher):
        for n in range(allowed):
            await expect_error(
                anonymous.call("session_join", code=f"WRONGCODE{n % 10}", name="eve"),
                "invalid_invite",
            )
        await expect_error(
            anonymous.call("session_join", code="WRONGCODEX", name="eve"), "rate_limited"
        )
        # Even the right code is refused from this address for now, on any connection.
        await expect_error(
            (await connect()).call("session_join", code=world.invite_code, name="eve"),
            "rate_limited",
        )
    # A minute later the address may try again.
    clock.advance(60_000)
    joined = await anonymous.call("session_join", code=world.invite_code, name="eve")
    assert joined["role"] == "guest"
    assert joined["session"] == world.session


# -- request rate limits ---------------------------------------------------------------


@asynccontextmanager
async def tight_daemon(
    settings: Settings, clock: FakeClock, tmp_path: Path, **limits: Any
) -> AsyncIterator[tuple[Daemon, str]]:
    """A daemon of its own with the given limits, and its admin token."""
    async with Daemon(replace(settings, state_dir=tmp_path / "tight", **limits), clock=clock) as d:
        assert d.admin_token_file is not None
        yield d, d.admin_token_file.read_text().strip()


async def test_request_rate_limit_per_connection(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with tight_daemon(settings, clock, tmp_path, rate_burst=5, rate_per_s=1.0) as (
        daemon,
        admin_token,
    ):
        async with Client(daemon.url, token=admin_token, timeout=5) as admin:
            host_token = (await admin.call("token_issue", name="hana"))["token"]
        async with (
            Client(daemon.url, token=host_token, timeout=5) as host,
            Client(daemon.url, token=host_token, timeout=5) as other,
        ):
            session = (await host.call("session_create", name="busy"))["session"]["id"]
            await other.subscribe(session)
            assert (await other.next_event(timeout=5))["type"] == "snapshot"
            for n in range(4):
                await host.call("playlist_add", session=session, uri=f"file:///{n}.flac")
            for _ in range(4):
                assert (await other.next_event(timeout=5))["type"] == "playlist_update"
            before = await other.call("session_get", session=session)
            error = await expect_error(
                host.call("playlist_add", session=session, uri="file:///too-many.flac"),
                "rate_limited",
            )
            assert "slow down" in error.message
            await expect_error(host.call("time"), "rate_limited")
            # Another connection is served, and nothing changed.
            assert await other.call("session_get", session=session) == before
            # A second later the connection has one request again.
            clock.advance(1_000)
            added = await host.call("playlist_add", session=session, uri="file:///later.flac")
            assert added["rev"] == before["rev"] + 1
            event = await other.next_event(timeout=5)
            assert (event["type"], event["rev"]) == ("playlist_update", before["rev"] + 1)
            await expect_error(host.call("time"), "rate_limited")


async def test_rate_limited_reply_carries_the_request_id(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with (
        tight_daemon(settings, clock, tmp_path, rate_burst=3, rate_per_s=1.0) as (daemon, token),
        raw_connection(daemon.url, token) as raw,
    ):
        for n in range(3):
            assert (await raw.request("time", n))["ok"] is True
        error = await raw.error(json.dumps({"op": "time", "id": "fourth", "args": {}}))
        assert error["code"] == "rate_limited"
        assert error["id"] == "fourth"


async def test_bad_frames_count_against_the_rate_limit(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with (
        tight_daemon(settings, clock, tmp_path, rate_burst=3, rate_per_s=1.0) as (daemon, token),
        raw_connection(daemon.url, token) as raw,
        raw_connection(daemon.url, token) as other,
    ):
        for _ in range(2):
            assert (await raw.error("garbage"))["code"] == "bad_json"
        oversized = json.dumps(
            {"op": "time", "id": 1, "pad": "x" * daemon.settings.max_frame_bytes}
        )
        assert (await raw.error(oversized))["code"] == "frame_too_large"
        for text in ("garbage", oversized, json.dumps({"op": "time", "id": 2, "args": {}})):
            assert (await raw.error(text))["code"] == "rate_limited"
        # Other connections are not affected.
        assert (await other.request("time", 1))["ok"] is True


async def test_request_rate_limit_per_user(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with tight_daemon(settings, clock, tmp_path, user_rate_burst=6, user_rate_per_s=1.0) as (
        daemon,
        admin_token,
    ):
        async with Client(daemon.url, token=admin_token, timeout=5) as admin:
            issued = [(await admin.call("token_issue", name=n))["token"] for n in ("a", "b")]
        async with (
            Client(daemon.url, token=issued[0], timeout=5) as first,
            Client(daemon.url, token=issued[0], timeout=5) as second,
            Client(daemon.url, token=issued[1], timeout=5) as someone_else,
        ):
            for _ in range(3):
                await first.call("session_list")
                await second.call("session_list")
            await expect_error(first.call("session_list"), "rate_limited")
            await expect_error(second.call("session_list"), "rate_limited")
            assert (await someone_else.call("session_list"))["sessions"] == []
