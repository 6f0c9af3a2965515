"""Playback over the wire: anchors in daemon time, auto-advance, repeat.

The daemon runs on a FakeClock: the tests move time by hand and wait for
the events the scheduler sends.
"""

from __future__ import annotations

from typing import Any

import pytest

from cmp.core.errors import Conflict, Forbidden, InvalidArgs
from daemon.config import Settings
from tests.conftest import ClientFactory
from tests.daemon.flows import Party, events, join, make_party
from tests.fakes import FakeClock


async def party_with_items(
    connect: ClientFactory, host_token: str, *durations: int | None
) -> tuple[Party, list[int]]:
    party = await make_party(connect, host_token)
    ids = []
    for index, duration in enumerate(durations):
        args: dict[str, Any] = {"session": party.session, "uri": f"{index}.ogg"}
        if duration is not None:
            args["duration_ms"] = duration
        ids.append((await party.host.call("playlist_add", **args))["item"]["id"])
    await party.host.subscribe(party.session)
    await party.host.next_event(5)  # the snapshot marker
    return party, ids


async def command(party: Party, action: str, **args: Any) -> dict[str, Any]:
    result = await party.host.call("playback_command", session=party.session, action=action, **args)
    playback: dict[str, Any] = result["playback"]
    return playback


async def next_state(party: Party) -> dict[str, Any]:
    (event,) = await events(party.host, 1)
    assert event["type"] == "playback_state"
    data: dict[str, Any] = event["data"]
    return data


async def test_commands_anchor_at_now_plus_lead(
    connect: ClientFactory, host_token: str, clock: FakeClock, settings: Settings
) -> None:
    party, (a, b) = await party_with_items(connect, host_token, 60_000, 60_000)
    lead = settings.lead_ms

    played = await command(party, "play")
    assert played == {
        "item": a,
        "status": "playing",
        "position_ms": 0,
        "anchor_at_ms": clock.now_ms() + lead,
        "repeat": "off",
    }
    assert await next_state(party) == played

    clock.advance(lead + 5_000)
    paused = await command(party, "pause")
    assert (paused["status"], paused["position_ms"]) == ("paused", 5_000)
    assert await next_state(party) == paused

    sought = await command(party, "seek", position_ms=30_000)
    assert (sought["status"], sought["position_ms"], sought["anchor_at_ms"]) == (
        "paused",
        30_000,
        clock.now_ms(),
    )
    resumed = await command(party, "play")
    assert (resumed["position_ms"], resumed["anchor_at_ms"]) == (30_000, clock.now_ms() + lead)

    skipped = await command(party, "skip_next")
    assert (skipped["item"], skipped["position_ms"]) == (b, 0)
    clock.advance(1_000)
    back = await command(party, "skip_prev")
    assert (back["item"], back["anchor_at_ms"]) == (a, clock.now_ms() + lead)
    revs = [e["rev"] for e in await events(party.host, 4)]
    assert revs == list(range(revs[0], revs[0] + 4))


async def test_play_while_playing_sends_nothing(connect: ClientFactory, host_token: str) -> None:
    party, _ = await party_with_items(connect, host_token, 60_000)
    first = await command(party, "play")
    await next_state(party)
    again = await party.host.call("playback_command", session=party.session, action="play")
    assert again["playback"] == first
    rev = (await party.host.call("session_get", session=party.session))["rev"]
    assert again["rev"] == rev


async def test_auto_advance_is_gapless_and_stops_at_the_end(
    connect: ClientFactory, host_token: str, clock: FakeClock, settings: Settings
) -> None:
    party, (_a, b) = await party_with_items(connect, host_token, 10_000, 20_000)
    started = await command(party, "play")
    await next_state(party)
    end_of_a = started["anchor_at_ms"] + 10_000

    clock.advance(end_of_a - settings.lead_ms - clock.now_ms())
    second = await next_state(party)
    assert second == {**started, "item": b, "anchor_at_ms": end_of_a}

    clock.advance(20_000)
    stopped = await next_state(party)
    assert (stopped["item"], stopped["status"]) == (None, "stopped")


@pytest.mark.parametrize(("mode", "expected"), [("all", 0), ("one", 1)])
async def test_repeat(
    connect: ClientFactory, host_token: str, clock: FakeClock, mode: str, expected: int
) -> None:
    party, ids = await party_with_items(connect, host_token, 1_000, 1_000)
    await party.host.call("playback_repeat", session=party.session, mode=mode)
    assert (await next_state(party))["repeat"] == mode
    await command(party, "play", item=ids[1])
    await next_state(party)
    clock.advance(1_500)
    after = await next_state(party)
    assert (after["item"], after["status"], after["repeat"]) == (ids[expected], "playing", mode)


async def test_unknown_duration_waits_for_a_report(
    connect: ClientFactory, host_token: str, clock: FakeClock
) -> None:
    party, (a, b) = await party_with_items(connect, host_token, None, 5_000)
    guest = await join(connect, party, "gus")
    assert (await events(party.host, 1))[0]["type"] == "member_update"
    await command(party, "play")
    await next_state(party)
    clock.advance(3_600_000)  # an hour: nothing to advance without a duration
    # Only the host may set a duration: a guest could otherwise end the item at once.
    with pytest.raises(Forbidden):
        await guest.call("item_duration", session=party.session, item=a, duration_ms=1)
    reported = await party.host.call(
        "item_duration", session=party.session, item=a, duration_ms=4_000
    )
    assert reported["changed"] is True
    (update,) = await events(party.host, 1)
    assert update["data"] == {"action": "update", "item": reported["item"]}
    # Long past its end: the next item starts after the lead.
    after = await next_state(party)
    assert (after["item"], after["anchor_at_ms"]) == (b, clock.now_ms() + 200)
    again = await party.host.call("item_duration", session=party.session, item=a, duration_ms=1)
    assert again["changed"] is False


async def test_removing_the_playing_item(connect: ClientFactory, host_token: str) -> None:
    party, (a, b) = await party_with_items(connect, host_token, 60_000, 60_000)
    await command(party, "play")
    await next_state(party)
    await party.host.call("playlist_remove", session=party.session, item=a)
    removed, state = await events(party.host, 2)
    assert removed["data"] == {"action": "remove", "item_id": a}
    assert (state["data"]["item"], state["rev"]) == (b, removed["rev"] + 1)
    await party.host.call("playlist_clear", session=party.session)
    _cleared, stopped = await events(party.host, 2)
    assert stopped["data"]["status"] == "stopped"


async def test_playback_errors(connect: ClientFactory, host_token: str) -> None:
    party, _ids = await party_with_items(connect, host_token, 10_000)
    guest = await join(connect, party, "gus")
    with pytest.raises(Forbidden):
        await guest.call("playback_command", session=party.session, action="play")
    with pytest.raises(Conflict):
        await command(party, "seek", position_ms=0)
    await command(party, "play")
    with pytest.raises(InvalidArgs):
        await command(party, "seek", position_ms=10_000)
    empty = await make_party(connect, host_token, "empty")
    with pytest.raises(Conflict):
        await empty.host.call("playback_command", session=empty.session, action="play")
