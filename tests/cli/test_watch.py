"""``cmpc watch``: the JSON stream of a scripted flow, Ctrl-C, and the terminal view."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from .conftest import UserFactory
from .helpers import CMPC, WAIT_S, Cmpc, RunningDaemon
from .shapes import SNAPSHOT


@asynccontextmanager
async def watching(user: Cmpc, *args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``cmpc ARGS... watch`` as a subprocess; killed if the test leaves it running."""
    process = await asyncio.create_subprocess_exec(
        *CMPC,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=user.environment(),
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), WAIT_S)
    assert line, "watch ended early"
    event = json.loads(line)
    assert isinstance(event, dict)
    return event


async def test_json_lines_follow_a_scripted_flow(
    cmpd: RunningDaemon, host: Cmpc, user: UserFactory
) -> None:
    session = (await host.run_async("--json", "session", "show")).doc["session"]
    expected = [
        ("playlist_update", "add"),
        ("playlist_update", "add"),
        ("playback_state", "playing"),
        ("playback_state", "paused"),
        ("member_update", "join"),
        ("request_update", "pending"),
        ("request_update", "approved"),
        ("playlist_update", "add"),
        ("playback_state", "paused"),  # repeat all
        ("playback_state", "stopped"),
        ("session_update", "end"),
    ]
    async with watching(host, "--json", "watch", "--count", str(len(expected))) as watch:
        snapshot = await read_line(watch)
        assert (snapshot["type"], snapshot["session"], snapshot["rev"]) == (
            "snapshot",
            session["id"],
            1,
        )
        assert set(snapshot["data"]) == SNAPSHOT

        # Subscribed: everything from here on is an event.
        await host.run_async("playlist", "add", "https://example.org/a.ogg", "--duration", "3:00")
        await host.run_async("playlist", "add", "https://example.org/b.ogg", "--duration", "3:00")
        await host.run_async("play")
        await host.run_async("pause")
        guest = user("gus")
        await guest.run_async(
            "--server", cmpd.url, "session", "join", session["invite_code"], "--name", "gus"
        )
        asked = (await guest.run_async("--json", "request", "add", "https://example.org/c.ogg")).doc
        await host.run_async("request", "approve", str(asked["request"]["id"]))
        await host.run_async("repeat", "all")
        await host.run_async("session", "end")

        events = [await read_line(watch) for _ in expected]
        assert await asyncio.wait_for(watch.wait(), WAIT_S) == 0

    def what(event: dict[str, Any]) -> tuple[str, str]:
        field = {"playback_state": "status", "request_update": "state"}.get(event["type"], "action")
        return event["type"], event["data"][field]

    assert [what(event) for event in events] == expected
    assert [event["rev"] for event in events] == list(range(2, 2 + len(expected)))
    assert {event["session"] for event in events} == {session["id"]}
    assert events[4]["data"]["member"]["name"] == "gus"
    assert events[7]["data"]["item"]["uri"] == "https://example.org/c.ogg"
    assert events[8]["data"]["repeat"] == "all"


async def test_ctrl_c_exits_with_130(host: Cmpc) -> None:
    async with watching(host, "--json", "watch") as watch:
        assert (await read_line(watch))["type"] == "snapshot"
        watch.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(watch.communicate(), WAIT_S)
        assert watch.returncode == 130
        assert b"Traceback" not in err


async def test_the_terminal_view_draws_the_session(cmpd: RunningDaemon, host: Cmpc) -> None:
    async with watching(host, "watch", "--count", "1") as watch:
        # The first change after the view subscribed ends it: keep changing
        # things until it has (nothing says from outside when it subscribed).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        finished = asyncio.ensure_future(watch.communicate())
        while not finished.done():
            assert loop.time() < deadline, "watch never saw a change"
            await host.run_async(
                "playlist", "add", "https://example.org/a.ogg", "--title", "Song A"
            )
            await asyncio.wait({finished}, timeout=0.2)
        out, err = finished.result()
    assert watch.returncode == 0, err
    text = out.decode()
    assert "test session" in text
    assert "Song A" in text
