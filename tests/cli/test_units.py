"""The CLI's pure parts: reading times, printing durations, exit codes, file metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer

from cmp.cli.failures import ExitStatus, exit_status, report
from cmp.cli.output import duration
from cmp.cli.playback import expected_position, next_item
from cmp.cli.playlist import item_args, local_file, local_metadata
from cmp.cli.units import parse_clock, parse_offset, parse_ttl
from cmp.core import timeline
from cmp.core.errors import CODES, CmpError, error_from_wire
from cmp.core.models import PlaybackInfo

from .helpers import write_wav


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("0", 0),
        ("90", 90_000),
        ("90.5", 90_500),
        ("0.25", 250),
        ("1:30", 90_000),
        ("01:05", 65_000),
        ("1:02:03", 3_723_000),
        ("1:00:00.5", 3_600_500),
        (" 3:05 ", 185_000),
        ("120:00", 7_200_000),
    ],
)
def test_parse_clock(text: str, ms: int) -> None:
    assert parse_clock(text) == ms


@pytest.mark.parametrize(
    "text", ["", ":", "1:", ":30", "1:75", "1:60", "1:2:3:4", "1.5:30", "abc", "-5", "1e3", "٣"]
)
def test_parse_clock_refuses(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not a time"):
        parse_clock(text)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("90", (0, 90_000)),
        ("1:30", (0, 90_000)),
        ("+10", (1, 10_000)),
        ("-5", (-1, 5_000)),
        ("+1:00", (1, 60_000)),
        ("-0.5", (-1, 500)),
        (" -5 ", (-1, 5_000)),
    ],
)
def test_parse_offset(text: str, offset: tuple[int, int]) -> None:
    assert parse_offset(text) == offset


@pytest.mark.parametrize("text", ["", " ", "+", "-", "+-5", "--5", "+x"])
def test_parse_offset_refuses(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_offset(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("3600", 3600),
        ("90s", 90),
        ("30m", 1800),
        ("12h", 43_200),
        ("7d", 604_800),
        ("2w", 1_209_600),
        (" 7 d ", 604_800),
        ("7D", 604_800),
    ],
)
def test_parse_ttl(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "d", "7y", "1.5h", "-1d", "7dd", "soon"])
def test_parse_ttl_refuses(text: str) -> None:
    with pytest.raises(typer.BadParameter, match="is not a duration"):
        parse_ttl(text)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "?"),
        (0, "0:00"),
        (999, "0:00"),
        (1_000, "0:01"),
        (65_000, "1:05"),
        (185_000, "3:05"),
        (3_599_999, "59:59"),
        (3_600_000, "1:00:00"),
        (3_723_000, "1:02:03"),
        (36_000_000, "10:00:00"),
    ],
)
def test_duration(ms: int | None, text: str) -> None:
    assert duration(ms) == text


#: The exit status documented for each code the daemon or the client may report.
DOCUMENTED = {
    "bad_json": ExitStatus.ERROR,
    "bad_frame": ExitStatus.ERROR,
    "unknown_op": ExitStatus.ERROR,
    "frame_too_large": ExitStatus.ERROR,
    "invalid_args": ExitStatus.USAGE,
    "unauthenticated": ExitStatus.AUTH,
    "token_invalid": ExitStatus.AUTH,
    "token_expired": ExitStatus.AUTH,
    "token_revoked": ExitStatus.AUTH,
    "invalid_invite": ExitStatus.AUTH,
    "forbidden": ExitStatus.AUTH,
    "not_found": ExitStatus.NOT_FOUND,
    "conflict": ExitStatus.CONFLICT,
    "session_ended": ExitStatus.CONFLICT,
    "rate_limited": ExitStatus.ERROR,
    "internal": ExitStatus.ERROR,
    "unreachable": ExitStatus.UNREACHABLE,
    "connection_lost": ExitStatus.UNREACHABLE,
    "timeout": ExitStatus.UNREACHABLE,
}


def test_every_code_has_a_documented_exit_status() -> None:
    assert set(DOCUMENTED) == set(CODES)


@pytest.mark.parametrize("code", sorted(CODES))
def test_exit_status(code: str) -> None:
    error = error_from_wire({"code": code, "message": "m"})
    assert exit_status(error) is DOCUMENTED[code]


@pytest.mark.parametrize(
    ("code", "status"),
    [("usage", ExitStatus.USAGE), ("config", ExitStatus.ERROR), ("unheard_of", ExitStatus.ERROR)],
)
def test_exit_status_of_client_codes(code: str, status: ExitStatus) -> None:
    assert exit_status(CmpError("m", code=code)) is status


def test_exit_status_values() -> None:
    assert [int(s) for s in ExitStatus] == [0, 1, 2, 3, 4, 5, 6, 130]


def test_report_prints_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    error = CmpError("cannot reach\nthe daemon", code="unreachable", details={"url": "ws://x"})
    assert report(error, as_json=False) is ExitStatus.UNREACHABLE
    out, err = capsys.readouterr()
    assert (out, err) == ("", "cmpc: cannot reach the daemon [unreachable]\n")


def test_report_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    error = CmpError("item 9 not found", code="not_found", details={"item": 9})
    assert report(error, as_json=True) is ExitStatus.NOT_FOUND
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "ok": False,
        "error": {"code": "not_found", "message": "item 9 not found", "details": {"item": 9}},
        "exit_code": 4,
    }
    assert err == "cmpc: item 9 not found [not_found]\n"


def _playback(**changes: Any) -> dict[str, Any]:
    playback = {
        "item": 1,
        "status": "playing",
        "position_ms": 60_000,
        "anchor_at_ms": 1_000_000,
        "repeat": "off",
    }
    playback.update(changes)
    return playback


@pytest.mark.parametrize(
    "playback",
    [
        _playback(),
        _playback(status="paused"),
        _playback(status="stopped", item=None, position_ms=0),
    ],
    ids=["playing", "paused", "stopped"],
)
@pytest.mark.parametrize("now", [0, 999_999, 1_000_000, 1_000_001, 1_002_000, 9_000_000])
def test_expected_position_is_the_timeline_s(playback: dict[str, Any], now: int) -> None:
    model = PlaybackInfo.model_validate(playback)
    assert expected_position(playback, now) == timeline.position_at(model, now)


def test_expected_position_runs_from_the_anchor() -> None:
    assert expected_position(_playback(), 1_002_000) == 62_000
    assert expected_position(_playback(), 999_000) == 60_000  # waits for the anchor


PLAYLIST = [{"id": 1, "uri": "a"}, {"id": 2, "uri": "b"}, {"id": 3, "uri": "c"}]


@pytest.mark.parametrize(
    ("item", "repeat", "expected"),
    [
        (1, "off", 2),
        (3, "off", None),
        (3, "all", 1),
        (2, "one", 2),
        (None, "all", None),
        (99, "all", None),
    ],
)
def test_next_item(item: int | None, repeat: str, expected: int | None) -> None:
    upcoming = next_item(_playback(item=item, repeat=repeat), PLAYLIST)
    assert (upcoming["id"] if upcoming else None) == expected


def test_a_local_wav_gets_its_duration_and_a_title(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "Quiet Song.wav", seconds=1.5)
    assert local_metadata(wav) == (None, 1500)
    assert item_args(str(wav), None, None) == {
        "uri": wav.as_uri(),
        "title": "Quiet Song",
        "duration_ms": 1500,
    }
    # Given values win over what the file says.
    assert item_args(wav.as_uri(), "Mine", "2:00") == {
        "uri": wav.as_uri(),
        "title": "Mine",
        "duration_ms": 120_000,
    }


def test_a_relative_path_becomes_an_absolute_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_wav(tmp_path / "a b.wav", seconds=1)
    monkeypatch.chdir(tmp_path)
    args = item_args("a b.wav", None, None)
    assert args["uri"] == (tmp_path / "a b.wav").as_uri()
    assert "%20" in args["uri"]
    assert local_file(args["uri"]) == tmp_path / "a b.wav"


def test_a_file_that_is_not_audio_keeps_its_name(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not audio")
    assert local_metadata(notes) == (None, None)
    assert item_args(str(notes), None, None) == {"uri": notes.as_uri(), "title": "notes"}


@pytest.mark.parametrize(
    "uri",
    [
        "https://example.org/a.ogg",
        "file:///no/such/file.flac",
        "file://otherhost/music/a.flac",
        "/no/such/file.flac",
    ],
)
def test_other_uris_pass_as_they_are(uri: str) -> None:
    assert local_file(uri) is None
    assert item_args(uri, None, "1:00") == {"uri": uri, "duration_ms": 60_000}


def test_follower_lines_show_sync_health() -> None:
    from cmp.cli.playback import follower_line

    report = {
        "name": "kitchen",
        "state": "syncing",
        "error_ms": -2.25,
        "speed": 1.0045,
        "rtt_ms": 0.84,
        "missing": [4, 9],
    }
    assert follower_line(report) == (
        "kitchen: syncing, -2.2 ms, speed 1.0045, rtt 0.8 ms, missing items 4, 9"
    )
    assert follower_line({"name": "den", "state": "stopped"}) == "den: stopped"


def test_the_watch_view_lists_followers() -> None:
    from collections import deque

    from rich.console import Console

    from cmp.cli.watch_view import render
    from cmp.core.view import SessionView

    view = SessionView(
        session={"id": "s1", "name": "party"},
        rev=3,
        playback={
            "item": None,
            "status": "stopped",
            "position_ms": 0,
            "anchor_at_ms": 0,
            "repeat": "off",
        },
        followers={"c1": {"id": "c1", "name": "kitchen", "state": "in_sync", "error_ms": 0.3}},
    )
    console = Console(width=100, record=True)
    console.print(render(view, deque(), 0))
    text = console.export_text()
    assert "followers:" in text
    assert "kitchen: in_sync, +0.3 ms" in text


def test_the_watch_view_marks_listeners() -> None:
    from collections import deque

    from rich.console import Console

    from cmp.cli.watch_view import describe, render
    from cmp.core.view import SessionView

    def member(user: int, name: str, role: str) -> dict[str, Any]:
        return {"user": user, "name": name, "role": role, "left_at_ms": None}

    members = [member(2, "hana", "host"), member(3, "gus", "guest"), member(5, "den", "listener")]
    view = SessionView(
        session={"id": "s1", "name": "party"},
        rev=3,
        members={m["user"]: m for m in members},
        playback={
            "item": None,
            "status": "stopped",
            "position_ms": 0,
            "anchor_at_ms": 0,
            "repeat": "off",
        },
    )
    console = Console(width=100, record=True)
    console.print(render(view, deque(), 0))
    assert "members: hana, gus, den (listener)" in console.export_text()
    joined = {"type": "member_update", "data": {"action": "join", "member": members[2]}}
    assert describe(joined, view) == "den (listener) join"
