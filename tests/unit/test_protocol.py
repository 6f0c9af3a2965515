"""Envelope parsing and argument validation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cmp.core.errors import CmpError, InvalidArgs, ProtocolError, error_from_wire
from cmp.core.ops import OPS, PlaybackCommandArgs, RequestChangeArgs
from cmp.core.protocol import (
    Event,
    encode_error,
    encode_event,
    encode_result,
    parse_message,
    parse_request,
    peek_id,
)


def parse(text: str | bytes) -> Any:
    return parse_request(parse_message(text))


def test_valid_request() -> None:
    request = parse(json.dumps({"op": "session_get", "id": 7, "args": {"session": "abcd1234"}}))
    assert request.op is OPS["session_get"]
    assert request.id == 7
    assert request.args.session == "abcd1234"


def test_args_default_to_empty() -> None:
    assert parse('{"op": "session_list", "id": "a"}').id == "a"


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        ("[1, 2]", "bad_frame"),
        ('{"op": "time"}', "bad_frame"),
        ('{"op": "time", "id": true}', "bad_frame"),
        ('{"op": "time", "id": ""}', "bad_frame"),
        ('{"op": "time", "id": {"a": 1}}', "bad_frame"),
        ('{"id": 1}', "bad_frame"),
        ('{"op": 5, "id": 1}', "bad_frame"),
        ('{"op": "nope", "id": 1}', "unknown_op"),
        ('{"op": "time", "id": 1, "extra": 1}', "bad_frame"),
        ('{"op": "time", "id": 1, "args": []}', "bad_frame"),
    ],
)
def test_bad_frames(frame: str | bytes, code: str) -> None:
    with pytest.raises(ProtocolError) as info:
        parse(frame)
    assert info.value.code == code


def test_oversized_frame() -> None:
    with pytest.raises(ProtocolError) as info:
        parse_message("x" * 2000, max_bytes=1000)
    assert info.value.code == "frame_too_large"
    assert info.value.details == {"limit": 1000, "size": 2000}


@pytest.mark.parametrize(
    "args",
    [
        {"session": "abcd1234", "uri": 5},  # wrong type
        {"session": "abcd1234"},  # missing uri
        {"session": "abcd1234", "uri": "x", "bogus": 1},  # extra field
        {"session": "ABC!", "uri": "x"},  # bad session id
        {"session": "abcd1234", "uri": "x", "duration_ms": "100"},  # strict: no coercion
        {"session": "abcd1234", "uri": "x", "duration_ms": 0},
        {"session": "abcd1234", "uri": ""},
    ],
)
def test_invalid_args(args: dict[str, Any]) -> None:
    frame = json.dumps({"op": "playlist_add", "id": 1, "args": args})
    with pytest.raises(InvalidArgs) as info:
        parse(frame)
    assert info.value.code == "invalid_args"
    assert info.value.details["errors"]


@pytest.mark.parametrize(
    "args",
    [
        {"action": "add"},
        {"action": "add", "uri": "x", "item": 3},
        {"action": "remove"},
        {"action": "move", "item": 3},
        {"action": "remove", "item": 3, "position": 1},
    ],
)
def test_request_change_fields_must_fit_the_action(args: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RequestChangeArgs.model_validate({"session": "abcd1234", **args})


@pytest.mark.parametrize(
    "args",
    [
        {"action": "seek"},
        {"action": "pause", "position_ms": 5},
        {"action": "skip_next", "item": 1},
    ],
)
def test_playback_command_fields_must_fit_the_action(args: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PlaybackCommandArgs.model_validate({"session": "abcd1234", **args})


def test_encoders_round_trip() -> None:
    assert json.loads(encode_result(3, {"a": 1})) == {"id": 3, "ok": True, "result": {"a": 1}}
    error = CmpError("gone", code="not_found", details={"item": 4})
    wire = json.loads(encode_error("x", error))
    assert wire == {
        "id": "x",
        "ok": False,
        "error": {"code": "not_found", "message": "gone", "details": {"item": 4}},
    }
    rebuilt = error_from_wire(wire["error"])
    assert (type(rebuilt).__name__, rebuilt.code, rebuilt.details) == (
        "NotFound",
        "not_found",
        {"item": 4},
    )
    event = json.loads(encode_event(Event("playback_state", "abcd", 9, {"x": 1})))
    assert event == {"type": "playback_state", "session": "abcd", "rev": 9, "data": {"x": 1}}


def test_peek_id() -> None:
    assert peek_id({"id": 5}) == 5
    assert peek_id({"id": True}) is None
    assert peek_id("x") is None
