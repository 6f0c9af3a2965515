"""SessionView: applying events to a snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from cmp.core.view import RevisionGap, SessionView, move_in_list


def item(item_id: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "uri": f"{item_id}.ogg",
        "title": None,
        "duration_ms": None,
        "added_by": 1,
        "added_at_ms": 0,
    }


def snapshot() -> dict[str, Any]:
    return {
        "session": {"id": "s1", "name": "x", "host": 1, "created_at_ms": 0, "ended_at_ms": None},
        "members": [],
        "playlist": [item(1), item(2)],
        "requests": [],
        "playback": {
            "item": None,
            "status": "stopped",
            "position_ms": 0,
            "anchor_at_ms": 0,
            "repeat": "off",
        },
        "rev": 5,
    }


def event(rev: int, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "session": "s1", "rev": rev, "data": data}


def test_playlist_events() -> None:
    view = SessionView.from_snapshot(snapshot())
    view.apply(event(6, "playlist_update", {"action": "add", "item": item(3), "position": 0}))
    view.apply(event(7, "playlist_update", {"action": "move", "item_id": 3, "position": 2}))
    view.apply(event(8, "playlist_update", {"action": "remove", "item_id": 1}))
    assert [i["id"] for i in view.playlist] == [2, 3]
    updated = {**item(2), "duration_ms": 1000}
    view.apply(event(9, "playlist_update", {"action": "update", "item": updated}))
    assert view.playlist[0]["duration_ms"] == 1000
    view.apply(event(10, "playlist_update", {"action": "clear"}))
    assert view.playlist == []
    assert view.rev == 10


def test_old_events_are_ignored_and_gaps_detected() -> None:
    view = SessionView.from_snapshot(snapshot())
    view.apply(event(5, "playlist_update", {"action": "clear"}))
    assert len(view.playlist) == 2
    with pytest.raises(RevisionGap) as info:
        view.apply(event(7, "playlist_update", {"action": "clear"}))
    assert (info.value.expected, info.value.got) == (6, 7)
    assert view.rev == 5


def test_requests_members_and_playback() -> None:
    view = SessionView.from_snapshot(snapshot())
    request = {"id": 4, "state": "pending"}
    view.apply(event(6, "request_update", request))
    assert view.pending() == [request]
    view.apply(event(7, "request_update", {"id": 4, "state": "approved"}))
    assert view.pending() == []
    member = {
        "user": 9,
        "name": "g",
        "role": "guest",
        "joined_at_ms": 0,
        "left_at_ms": None,
        "kicked": False,
    }
    view.apply(event(8, "member_update", {"action": "join", "member": member}))
    assert view.members[9]["name"] == "g"
    playback = {
        "item": 1,
        "status": "playing",
        "position_ms": 0,
        "anchor_at_ms": 10,
        "repeat": "off",
    }
    view.apply(event(9, "playback_state", playback))
    assert view.playback == playback


@pytest.mark.parametrize(
    ("index", "position", "expected"),
    [(0, 2, [1, 2, 0]), (2, 0, [2, 0, 1]), (1, 1, [0, 1, 2]), (0, 99, [1, 2, 0])],
)
def test_move_in_list(index: int, position: int, expected: list[int]) -> None:
    items = [0, 1, 2]
    move_in_list(items, index, position)
    assert items == expected
