"""Resume by rev: a subscriber that lost its connection gets exactly the events it
missed, in order, each once, or a fresh snapshot when the log no longer reaches back."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cmp.client import Client, backoff
from cmp.core.view import SessionView
from daemon.app import Daemon
from daemon.config import Settings
from tests.conftest import ClientFactory
from tests.fakes import FakeClock

from .helpers import (
    WAIT_S,
    RawConnection,
    World,
    assert_view_matches,
    build_world,
    raw_connection,
    wait_until,
)

FAST = backoff(initial=0.01, factor=2.0, maximum=0.1)


@pytest.fixture
async def world(connect: ClientFactory, host_token: str) -> World:
    return await build_world(connect, host_token)


async def churn(url: str, host: Client, guest: Client, session: str, rounds: int) -> int:
    """Every kind of change, ``rounds`` times over; returns the session's rev after."""
    code = (await host.call("session_get", session=session))["session"]["invite_code"]
    async with Client(url, timeout=WAIT_S) as anonymous:
        for n in range(rounds):
            added = await host.call(
                "playlist_add", session=session, uri=f"file:///churn/{n}.flac", title=f"churn {n}"
            )
            item = added["item"]["id"]
            await host.call("item_duration", session=session, item=item, duration_ms=120_000)
            await host.call("playlist_move", session=session, item=item, position=0)
            asked = await guest.call(
                "request_playlist_change", session=session, action="add", uri=f"file:///g/{n}"
            )
            await host.call("request_approve", session=session, request=asked["request"]["id"])
            asked = await guest.call(
                "request_playlist_change", session=session, action="remove", item=item
            )
            await host.call("request_reject", session=session, request=asked["request"]["id"])
            if n == 0:
                await host.call("playback_command", session=session, action="play")
            await host.call(
                "playback_command", session=session, action="seek", position_ms=1_000 * (n + 1)
            )
            await host.call("playback_repeat", session=session, mode=("all", "one", "off")[n % 3])
            joined = await anonymous.call("session_join", code=code, name=f"v{n}")
            async with Client(url, token=joined["token"], timeout=WAIT_S) as visitor:
                await visitor.call("session_leave", session=session)
            await host.call("playlist_remove", session=session, item=item)
        await host.call("playback_command", session=session, action="pause")
    snapshot = await host.call("session_get", session=session)
    return int(snapshot["rev"])


async def read_events(raw: RawConnection, count: int) -> list[dict[str, Any]]:
    frames = [await raw.frame() for _ in range(count)]
    assert all("type" in frame for frame in frames), frames
    return frames


async def collect(client: Client, until: dict[str, int]) -> list[dict[str, Any]]:
    """Events from ``client`` until each session in ``until`` reached its rev."""
    seen: list[dict[str, Any]] = []
    reached = {session: -1 for session in until}
    while any(reached[s] < rev for s, rev in until.items()):
        event = await client.next_event(timeout=WAIT_S)
        seen.append(event)
        reached[event["session"]] = max(reached[event["session"]], event["rev"])
    return seen


def assert_consecutive(events: list[dict[str, Any]], after: int, last: int) -> None:
    assert [event["rev"] for event in events] == list(range(after + 1, last + 1))
    assert all(event["type"] != "snapshot" for event in events)


# -- the daemon's side: subscribe with since_rev ----------------------------------------


async def test_since_rev_replays_exactly_the_missed_events(
    world: World, host_token: str, daemon: Daemon
) -> None:
    async with raw_connection(daemon.url, host_token) as raw:
        reply = await raw.request("subscribe", 1, session=world.session)
        assert reply["result"]["mode"] == "snapshot"
        snapshot = reply["result"]["snapshot"]
        seen = snapshot["rev"]
        assert reply["result"]["rev"] == seen
    # Disconnected while the host and guests make changes.
    rev = await churn(daemon.url, world.host, world.guest, world.session, rounds=3)
    assert rev - seen > 30

    async with raw_connection(daemon.url, host_token) as raw:
        reply = await raw.request("subscribe", 2, session=world.session, since_rev=seen)
        assert reply["result"] == {
            "session": world.session,
            "rev": rev,
            "mode": "events",
            "missed": rev - seen,
        }
        missed = await read_events(raw, rev - seen)
        assert_consecutive(missed, seen, rev)
        assert {e["type"] for e in missed} == {
            "playlist_update",
            "request_update",
            "playback_state",
            "member_update",
        }
        assert all(event["session"] == world.session for event in missed)

        view = SessionView.from_snapshot(snapshot)
        for event in missed:
            view.apply(event)
        assert_view_matches(view, await world.snapshot())

        # Nothing more is owed: the next frame is the next live change.
        added = await world.host.call("playlist_add", session=world.session, uri="file:///next")
        event = await raw.frame()
        assert (event["type"], event["rev"]) == ("playlist_update", rev + 1)
        assert added["rev"] == rev + 1


async def test_since_rev_equal_to_the_current_rev(
    world: World, host_token: str, daemon: Daemon
) -> None:
    rev = (await world.snapshot())["rev"]
    async with raw_connection(daemon.url, host_token) as raw:
        reply = await raw.request("subscribe", 1, session=world.session, since_rev=rev)
        assert reply["result"] == {
            "session": world.session,
            "rev": rev,
            "mode": "events",
            "missed": 0,
        }
        await world.host.call("playback_repeat", session=world.session, mode="one")
        event = await raw.frame()
        assert (event["type"], event["rev"]) == ("playback_state", rev + 1)
        assert event["data"]["repeat"] == "one"


async def test_since_rev_ahead_of_the_daemon_gets_a_snapshot(
    world: World, host_token: str, daemon: Daemon
) -> None:
    snapshot = await world.snapshot()
    async with raw_connection(daemon.url, host_token) as raw:
        reply = await raw.request(
            "subscribe", 1, session=world.session, since_rev=snapshot["rev"] + 5
        )
        assert reply["result"]["mode"] == "snapshot"
        assert reply["result"]["snapshot"] == snapshot


async def test_since_rev_older_than_the_log_gets_a_snapshot(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    keep = 10
    small = replace(settings, state_dir=tmp_path / "small", event_log_keep=keep)
    async with Daemon(small, clock=clock) as daemon:
        admin_token = daemon.admin_token_file.read_text().strip()  # type: ignore[union-attr]
        async with Client(daemon.url, token=admin_token, timeout=WAIT_S) as admin:
            host_token = (await admin.call("token_issue", name="hana"))["token"]
        async with Client(daemon.url, token=host_token, timeout=WAIT_S) as host:
            session = (await host.call("session_create", name="long"))["session"]["id"]
            for n in range(130):
                added = await host.call("playlist_add", session=session, uri=f"file:///{n}")
            rev = added["rev"]
            assert rev == 131
            snapshot = await host.call("session_get", session=session)

            async with raw_connection(daemon.url, host_token) as raw:
                # Pruned: a snapshot instead of a partial replay.
                for since in (0, 1, 50):
                    reply = await raw.request("subscribe", since, session=session, since_rev=since)
                    assert reply["result"]["mode"] == "snapshot", since
                    assert reply["result"]["rev"] == rev
                    assert reply["result"]["snapshot"] == snapshot
                # The last ``keep`` events are always there.
                reply = await raw.request(
                    "subscribe", "recent", session=session, since_rev=rev - keep
                )
                assert reply["result"]["mode"] == "events"
                assert reply["result"]["missed"] == keep
                missed = await read_events(raw, keep)
                assert_consecutive(missed, rev - keep, rev)
                assert [e["data"]["item"]["uri"] for e in missed] == [
                    f"file:///{n}" for n in range(130 - keep, 130)
                ]


async def test_resubscribing_on_the_same_connection_does_not_repeat_events(
    world: World, host_token: str, daemon: Daemon
) -> None:
    rev = (await world.snapshot())["rev"]
    async with raw_connection(daemon.url, host_token) as raw:
        await raw.request("subscribe", 1, session=world.session, since_rev=rev)
        await world.host.call("playback_repeat", session=world.session, mode="all")
        assert (await raw.frame())["rev"] == rev + 1
        reply = await raw.request("subscribe", 2, session=world.session, since_rev=rev + 1)
        assert reply["result"]["missed"] == 0
        await world.host.call("playback_repeat", session=world.session, mode="off")
        event = await raw.frame()
        assert event["rev"] == rev + 2
        # Subscribed once, even though it asked twice: the next frame is the next change.
        await world.host.call("playback_repeat", session=world.session, mode="one")
        assert (await raw.frame())["rev"] == rev + 3


# -- the client's side: reconnect and resume ---------------------------------------------


async def test_client_resumes_after_the_daemon_drops_it(
    world: World, daemon: Daemon, host_token: str
) -> None:
    async with Client(
        daemon.url,
        token=world.guest_token,
        timeout=WAIT_S,
        reconnect=True,
        reconnect_delays=FAST,
    ) as follower:
        view = await follower.subscribe(world.session)
        first = await follower.next_event(timeout=WAIT_S)
        assert first["type"] == "snapshot"
        seen = view.rev

        ours = [
            c
            for c in daemon.server.connections
            if c.caller is not None
            and c.caller.user == world.guest_user
            and world.session in c.subscriptions
        ]
        assert len(ours) == 1
        await ours[0].ws.close()
        # Changes made while the follower reconnects, some before it has resubscribed.
        rev = await churn(daemon.url, world.host, world.guest, world.session, rounds=2)

        events = await collect(follower, {world.session: rev})
        assert_consecutive(events, seen, rev)
        assert follower.reconnects == 1
        assert follower.views[world.session] is view
        assert_view_matches(view, await world.snapshot())
        # And it follows live changes on the new connection.
        await world.host.call("playback_repeat", session=world.session, mode="all")
        event = await follower.next_event(timeout=WAIT_S)
        assert (event["type"], event["rev"]) == ("playback_state", rev + 1)


@pytest.mark.parametrize(("keep", "rounds", "mode"), [(10_000, 2, "events"), (10, 9, "snapshot")])
async def test_client_resumes_across_a_daemon_restart(
    settings: Settings, clock: FakeClock, tmp_path: Path, keep: int, rounds: int, mode: str
) -> None:
    """The follower is cut off while another daemon on the same database takes the
    changes; when its daemon is back on the same port it catches up."""
    settings = replace(settings, event_log_keep=keep)
    first = Daemon(settings, clock=clock)
    await first.start()
    try:
        port = first.server.port
        admin_token = first.admin_token_file.read_text().strip()  # type: ignore[union-attr]
        async with Client(first.url, token=admin_token, timeout=WAIT_S) as admin:
            host_token = (await admin.call("token_issue", name="hana"))["token"]
        async with Client(first.url, token=host_token, timeout=WAIT_S) as host:
            sessions = [
                (await host.call("session_create", name=name))["session"]["id"]
                for name in ("one", "two")
            ]
            for session in sessions:
                await host.call(
                    "playlist_add", session=session, uri="file:///x", duration_ms=600_000
                )
        follower = Client(
            first.url, token=host_token, timeout=WAIT_S, reconnect=True, reconnect_delays=FAST
        )
        await follower.connect()
    except BaseException:
        await first.stop()
        raise
    try:
        for session in sessions:
            await follower.subscribe(session)
        start = {s: follower.views[s].rev for s in sessions}
        assert [e["type"] for e in await collect(follower, start)] == ["snapshot", "snapshot"]

        await first.stop()
        await wait_until(lambda: follower.reconnects == 1, what="the follower to notice")

        # Meanwhile another daemon on the same database takes the changes.
        async with Daemon(settings, clock=clock) as other:
            assert other.server.port != port
            async with Client(other.url, token=host_token, timeout=WAIT_S) as host:
                found = await host.call("session_get", session=sessions[0])
                joined = await host.call(
                    "session_join", code=found["session"]["invite_code"], name="gus"
                )
                async with Client(other.url, token=joined["token"], timeout=WAIT_S) as guest:
                    final = {
                        sessions[0]: await churn(other.url, host, guest, sessions[0], rounds),
                    }
                for n in range(5):
                    added = await host.call("playlist_add", session=sessions[1], uri=f"file:///{n}")
                final[sessions[1]] = added["rev"]
                snapshots = {s: await host.call("session_get", session=s) for s in sessions}
        assert follower.views[sessions[0]].rev == start[sessions[0]]

        async with Daemon(replace(settings, port=port), clock=clock) as back:
            events = await collect(follower, final)
            for session in sessions:
                own = [e for e in events if e["session"] == session]
                if mode == "events" or session == sessions[1]:
                    assert_consecutive(own, start[session], final[session])
                else:
                    assert [(e["type"], e["rev"]) for e in own] == [("snapshot", final[session])]
                    assert own[0]["data"] == snapshots[session]
                assert_view_matches(follower.views[session], snapshots[session])

            # Live again, on the daemon that came back.
            async with Client(back.url, token=host_token, timeout=WAIT_S) as host:
                for session in sessions:
                    await host.call("playback_repeat", session=session, mode="all")
                    event = await follower.next_event(timeout=WAIT_S)
                    assert (event["session"], event["rev"]) == (session, final[session] + 1)
            assert follower.reconnects == 1
    finally:
        await follower.close()
        await first.stop()
