"""A restarted daemon, even one killed with SIGKILL, finds everything it acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cmp.client import Client
from daemon.app import Daemon
from daemon.config import Settings
from tests.fakes import FakeClock

from .helpers import WAIT_S, raw_connection, wait_until

REPO = Path(__file__).resolve().parents[2]


def _admin_token(daemon: Daemon) -> str:
    assert daemon.admin_token_file is not None
    return daemon.admin_token_file.read_text().strip()


async def _populate(url: str, admin_token: str) -> dict[str, Any]:
    """A session with some of everything; returns the tokens and ids used."""
    async with Client(url, token=admin_token, timeout=WAIT_S) as admin:
        host_token = (await admin.call("token_issue", name="hana"))["token"]
    async with (
        Client(url, token=host_token, timeout=WAIT_S) as host,
        Client(url, timeout=WAIT_S) as anonymous,
    ):
        created = await host.call("session_create", name="friday")
        session = created["session"]["id"]
        code = created["session"]["invite_code"]
        # The host follows the session from the start, to compare the event log later.
        await host.subscribe(session)

        async def add(uri: str, **args: Any) -> int:
            added = await host.call("playlist_add", session=session, uri=uri, **args)
            return int(added["item"]["id"])

        a = await add("file:///a.flac", title="A", duration_ms=180_000)
        b = await add("file:///b.ogg")
        c = await add("file:///c.mp3", title="C", duration_ms=200_000, position=0)
        guest = await anonymous.call("session_join", code=code, name="gus")
        leaver = await anonymous.call("session_join", code=code, name="lou")
        async with (
            Client(url, token=guest["token"], timeout=WAIT_S) as gus,
            Client(url, token=leaver["token"], timeout=WAIT_S) as lou,
        ):

            async def ask(**args: Any) -> int:
                asked = await gus.call("request_playlist_change", session=session, **args)
                return int(asked["request"]["id"])

            approved = await ask(
                action="add", uri="file:///d.flac", title="D", duration_ms=90_000, position=1
            )
            rejected = await ask(action="remove", item=c)
            pending = [
                await ask(action="add", uri="file:///e.flac"),
                await ask(action="move", item=a, position=0),
            ]
            await lou.call("session_leave", session=session)
        await host.call("request_approve", session=session, request=approved)
        await host.call("request_reject", session=session, request=rejected, reason="no")
        await host.call("playlist_move", session=session, item=b, position=0)
        await host.call("playback_repeat", session=session, mode="all")
        await host.call(
            "playback_command", session=session, action="play", item=c, position_ms=5_000
        )
        last = await host.call(
            "playback_command", session=session, action="seek", position_ms=7_500
        )
        # Every event so far, as the host's subscription received them.
        live: list[dict[str, Any]] = []
        while not live or live[-1]["rev"] < last["rev"]:
            event = await host.next_event(timeout=WAIT_S)
            if event["type"] != "snapshot":
                live.append(event)
        final = await host.call("session_get", session=session)
        d = final["playlist"][2]["id"]
    return {
        "host_token": host_token,
        "guest_token": guest["token"],
        "host_user": created["session"]["host"],
        "guest_user": guest["user"],
        "session": session,
        "items": {"a": a, "b": b, "c": c, "d": d},
        "pending": pending,
        "live_events": live,
        "rev": last["rev"],
    }


async def _state(url: str, tokens: dict[str, str], session: str) -> dict[str, Any]:
    """Everything the clients can see of the daemon's state."""
    async with (
        Client(url, token=tokens["admin"], timeout=WAIT_S) as admin,
        Client(url, token=tokens["host"], timeout=WAIT_S) as host,
        Client(url, token=tokens["guest"], timeout=WAIT_S) as guest,
    ):
        return {
            "host_snapshot": await host.call("session_get", session=session),
            "guest_snapshot": await guest.call("session_get", session=session),
            "host_sessions": await host.call("session_list"),
            "guest_sessions": await guest.call("session_list"),
            "requests": await host.call("request_list", session=session),
            "tokens": await admin.call("token_list"),
        }


async def test_restart_keeps_sessions_playlists_requests_and_timeline(
    settings: Settings, clock: FakeClock
) -> None:
    async with Daemon(settings, clock=clock) as first:
        admin_token = _admin_token(first)
        admin_file = first.admin_token_file
        assert admin_file is not None
        admin_stat = admin_file.stat()
        made = await _populate(first.url, admin_token)
        tokens = {"admin": admin_token, "host": made["host_token"], "guest": made["guest_token"]}
        before = await _state(first.url, tokens, made["session"])

    snapshot = before["host_snapshot"]
    assert snapshot["rev"] == made["rev"]
    items, host_user, guest_user = made["items"], made["host_user"], made["guest_user"]
    assert [
        (i["id"], i["uri"], i["title"], i["duration_ms"], i["added_by"])
        for i in snapshot["playlist"]
    ] == [
        (items["b"], "file:///b.ogg", None, None, host_user),
        (items["c"], "file:///c.mp3", "C", 200_000, host_user),
        (items["d"], "file:///d.flac", "D", 90_000, guest_user),
        (items["a"], "file:///a.flac", "A", 180_000, host_user),
    ]
    assert [r["id"] for r in snapshot["requests"]] == made["pending"]
    assert {m["name"]: m["left_at_ms"] is not None for m in snapshot["members"]} == {
        "hana": False,
        "gus": False,
        "lou": True,
    }
    playback = snapshot["playback"]
    assert (playback["item"], playback["status"], playback["repeat"]) == (
        items["c"],
        "playing",
        "all",
    )
    assert playback["position_ms"] == 7_500
    assert playback["anchor_at_ms"] == clock.now_ms() + settings.lead_ms

    async with Daemon(settings, clock=clock) as second:
        # The admin token file is the one written on the first start.
        assert second.admin_token_file == admin_file
        assert admin_file.read_text().strip() == admin_token
        after_stat = admin_file.stat()
        assert (after_stat.st_ino, after_stat.st_mtime_ns) == (
            admin_stat.st_ino,
            admin_stat.st_mtime_ns,
        )
        # The old tokens still work, and every view of the state is unchanged.
        after = await _state(second.url, tokens, made["session"])
        assert after == before

        async with Client(second.url, token=made["host_token"], timeout=WAIT_S) as host:
            # The event log survived: resuming from the session's first rev replays it.
            view = await host.subscribe(made["session"])
            assert view.rev == made["rev"]
            assert (await host.next_event(timeout=WAIT_S))["type"] == "snapshot"
            async with raw_connection(second.url, made["host_token"]) as raw:
                reply = await raw.request("subscribe", 1, session=made["session"], since_rev=1)
                assert reply["result"]["mode"] == "events"
                assert reply["result"]["missed"] == made["rev"] - 1
                replayed = [await raw.frame() for _ in range(made["rev"] - 1)]
            assert replayed == made["live_events"]
            assert [e["rev"] for e in replayed] == list(range(2, made["rev"] + 1))

            # rev continues where it stopped.
            added = await host.call("playlist_add", session=made["session"], uri="file:///g.flac")
            assert added["rev"] == made["rev"] + 1
            event = await host.next_event(timeout=WAIT_S)
            assert (event["type"], event["rev"]) == ("playlist_update", made["rev"] + 1)
            # And the pending requests can still be decided.
            decided = await host.call(
                "request_approve", session=made["session"], request=made["pending"][0]
            )
            assert decided["request"]["state"] == "approved"


async def test_auto_advance_resumes_after_a_restart(settings: Settings, clock: FakeClock) -> None:
    lead = settings.lead_ms
    async with Daemon(settings, clock=clock) as first:
        admin_token = _admin_token(first)
        async with Client(first.url, token=admin_token, timeout=WAIT_S) as admin:
            host_token = (await admin.call("token_issue", name="hana"))["token"]
        async with Client(first.url, token=host_token, timeout=WAIT_S) as host:
            session = (await host.call("session_create", name="s"))["session"]["id"]
            one = await host.call(
                "playlist_add", session=session, uri="file:///1", duration_ms=10_000
            )
            two = await host.call(
                "playlist_add", session=session, uri="file:///2", duration_ms=60_000
            )
            played = await host.call("playback_command", session=session, action="play")
    assert played["playback"]["item"] == one["item"]["id"]
    started = played["playback"]["anchor_at_ms"]

    # The daemon is down while the first item runs out.
    clock.advance(started + 10_000 - clock.now_ms() + 1_000)
    async with Daemon(settings, clock=clock) as second:
        async with raw_connection(second.url, host_token) as raw:
            reply = await raw.request("subscribe", 1, session=session, since_rev=played["rev"])
            assert reply["result"]["mode"] == "events"
            event = await raw.frame()
        assert event["type"] == "playback_state"
        assert event["rev"] == played["rev"] + 1
        assert event["data"]["item"] == two["item"]["id"]
        assert event["data"]["status"] == "playing"
        assert event["data"]["position_ms"] == 0
        # Late, so it starts a lead from now rather than in the past.
        assert event["data"]["anchor_at_ms"] == clock.now_ms() + lead


# -- SIGKILL ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _healthy(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        await writer.drain()
        status = await asyncio.wait_for(reader.readline(), WAIT_S)
        return status.split()[1:2] == [b"200"]
    except (OSError, IndexError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def cmpd(state_dir: Path, log: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """``cmpd run`` as a real process; yields it and its URL once /healthz answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMP_")}
    env.pop("DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "daemon",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--state-dir",
            str(state_dir),
            cwd=REPO,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:

        async def ready() -> bool:
            assert process.returncode is None, log.read_text()
            return await _healthy(port)

        await wait_until(ready, timeout=30, interval=0.05, what="cmpd to answer /healthz")
        yield process, f"ws://127.0.0.1:{port}"
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_acknowledged_changes_survive_sigkill(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    log = tmp_path / "cmpd.log"
    async with cmpd(state_dir, log) as (process, url):
        admin_token = (state_dir / "admin.token").read_text().strip()
        async with Client(url, token=admin_token, timeout=WAIT_S) as admin:
            host_token = (await admin.call("token_issue", name="hana"))["token"]
        async with Client(url, token=host_token, timeout=WAIT_S) as host:
            created = await host.call("session_create", name="doomed")
            session = created["session"]["id"]
            first = await host.call(
                "playlist_add",
                session=session,
                uri="file:///first.flac",
                title="first",
                duration_ms=1_000,
            )
            acked = await asyncio.gather(
                *(
                    host.call("playlist_add", session=session, uri=f"file:///{n:02}.flac")
                    for n in range(30)
                )
            )
            # Killed right after the last reply, before anything else can happen.
            process.send_signal(signal.SIGKILL)
            assert await process.wait() == -signal.SIGKILL
    last_rev = max(reply["rev"] for reply in acked)
    assert sorted(reply["rev"] for reply in acked) == list(
        range(first["rev"] + 1, first["rev"] + 31)
    )

    async with cmpd(state_dir, log) as (_, url):
        assert (state_dir / "admin.token").read_text().strip() == admin_token
        async with Client(url, token=host_token, timeout=WAIT_S) as host:
            snapshot = await host.call("session_get", session=session)
            assert snapshot["rev"] == last_rev
            playlist = snapshot["playlist"]
            assert len(playlist) == 31
            assert playlist[0] == first["item"]
            for reply in (first, *acked):
                assert playlist[reply["position"]] == reply["item"]
            async with raw_connection(url, host_token) as raw:
                reply = await raw.request("subscribe", 1, session=session, since_rev=0)
                assert reply["result"] == {
                    "session": session,
                    "rev": last_rev,
                    "mode": "events",
                    "missed": last_rev,
                }
                revs = [(await raw.frame())["rev"] for _ in range(last_rev)]
            assert revs == list(range(1, last_rev + 1))
            added = await host.call("playlist_add", session=session, uri="file:///after.flac")
            assert added["rev"] == last_rev + 1
