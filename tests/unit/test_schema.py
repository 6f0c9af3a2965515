"""The machine-readable protocol schema: current, complete, and true to real frames."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from cmp.core.errors import CODES, InvalidArgs
from cmp.core.models import SessionInfo
from cmp.core.ops import OPS, PlaybackCommandArgs, RequestChangeArgs, validate_args
from cmp.core.protocol import EVENT_TYPES
from cmp.core.schema import (
    EVENT_DATA,
    OP_RESULTS,
    EventEnvelope,
    PublicSessionInfo,
    ReplyError,
    ReplyOk,
    RequestEnvelope,
    protocol_schema,
)

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "protocol.schema.json"

# Frames recorded from a running daemon (tokens shortened).
ITEM: dict[str, Any] = {
    "id": 2,
    "uri": "file:///music/b.flac",
    "title": None,
    "duration_ms": 240000,
    "added_by": 2,
    "added_at_ms": 1760000000000,
}
PLAYBACK: dict[str, Any] = {
    "item": 2,
    "status": "playing",
    "position_ms": 0,
    "anchor_at_ms": 1760000015250,
    "repeat": "all",
}
REQUEST: dict[str, Any] = {
    "id": 1,
    "session": "reo29nkivm",
    "guest": 3,
    "action": "add",
    "uri": "file:///music/d.mp3",
    "title": "Song D",
    "duration_ms": None,
    "item": None,
    "position": None,
    "state": "approved",
    "created_at_ms": 1760000000000,
    "decided_at_ms": 1760000000000,
    "decided_by": 2,
    "reason": None,
}
MEMBER: dict[str, Any] = {
    "user": 4,
    "name": "kim",
    "role": "guest",
    "joined_at_ms": 1760000215000,
    "left_at_ms": 1760000215000,
    "kicked": True,
}
SESSION: dict[str, Any] = {
    "id": "reo29nkivm",
    "name": "Friday night",
    "host": 2,
    "created_at_ms": 1760000000000,
    "ended_at_ms": None,
}
SNAPSHOT: dict[str, Any] = {
    "session": {**SESSION, "invite_code": "4752MUQN9P"},
    "members": [{**MEMBER, "left_at_ms": None, "kicked": False}],
    "playlist": [ITEM],
    "requests": [],
    "playback": PLAYBACK,
    "rev": 21,
}

EVENTS = [
    ("playback_state", PLAYBACK),
    ("playlist_update", {"action": "add", "item": ITEM, "position": 3}),
    ("playlist_update", {"action": "remove", "item_id": 1}),
    ("playlist_update", {"action": "move", "item_id": 3, "position": 2}),
    ("playlist_update", {"action": "update", "item": ITEM}),
    ("playlist_update", {"action": "clear"}),
    ("request_update", REQUEST),
    ("member_update", {"action": "kick", "member": MEMBER}),
    (
        "member_update",
        {"action": "join", "member": {**MEMBER, "role": "listener", "left_at_ms": None}},
    ),
    ("session_update", {"action": "invite_rotated", "session": SESSION}),
]

RESULTS = [
    ("time", {"recv_ms": 1760000000000.0, "send_ms": 1760000000000.5, "client_send_ms": None}),
    (
        "session_join",
        {
            "token": "eyJhbGciOi...",
            "jti": "ubkD6D-e9OyrN5-k",
            "user": 3,
            "role": "guest",
            "name": "gus",
            "session": "reo29nkivm",
            "expires_at_ms": 1760086400000,
            "session_name": "Friday night",
            "rev": 2,
        },
    ),
    (
        "session_listener",
        {
            "token": "eyJhbGciOi...",
            "jti": "4fdce4804ed9cfd7e5",
            "user": 5,
            "role": "listener",
            "name": "kitchen",
            "session": "reo29nkivm",
            "expires_at_ms": 1760604800000,
            "session_name": "Friday night",
            "rev": 9,
        },
    ),
    ("session_get", SNAPSHOT),
    ("session_list", {"sessions": [{**SNAPSHOT["session"], "role": "host", "rev": 21}]}),
    ("playlist_move", {"item_id": 3, "position": 2, "rev": 6}),
    ("item_duration", {"item": ITEM, "changed": False, "rev": 7}),
    ("request_approve", {"request": REQUEST, "rev": 12}),
    ("playback_command", {"playback": PLAYBACK, "rev": 20}),
    ("subscribe", {"session": "reo29nkivm", "rev": 2, "mode": "events", "missed": 1}),
    ("subscribe", {"session": "reo29nkivm", "rev": 21, "mode": "snapshot", "snapshot": SNAPSHOT}),
    ("token_revoke", {"jti": "8uOAEa2Dd_eEWLuC", "revoked": True, "already_revoked": True}),
]


def render() -> str:
    """Exactly what ``make schema`` writes."""
    return json.dumps(protocol_schema(), indent=2, sort_keys=True) + "\n"


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in refs(value)]
    return []


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA_FILE.exists(), f"{SCHEMA_FILE} is missing: run `make schema`"
    assert SCHEMA_FILE.read_text() == render(), (
        "docs/protocol.schema.json is stale: run `make schema` and commit the result"
    )


def test_regenerating_gives_identical_output() -> None:
    assert render() == render()


def test_every_op_event_and_error_is_described() -> None:
    schema = protocol_schema()
    assert set(schema["ops"]) == set(OPS) == set(OP_RESULTS)
    for name, op in OPS.items():
        entry = schema["ops"][name]
        assert entry["summary"] == op.summary != ""
        assert entry["roles"] == list(op.roles)
        assert set(entry["events"]) <= set(EVENT_TYPES)
        assert entry["args"]["title"] == op.args.__name__
    assert set(schema["events"]) == set(EVENT_TYPES) == set(EVENT_DATA)
    assert set(schema["errors"]) == set(CODES)
    assert set(schema["envelopes"]) == {"request", "reply_ok", "reply_error", "event"}


def test_what_a_listener_may_call() -> None:
    """Listeners play a session: they read and follow it and report, nothing more."""
    allowed = {name for name, op in OPS.items() if "listener" in op.roles or not op.roles}
    assert allowed == {
        "auth",
        "time",
        "session_join",
        "session_get",
        "session_list",
        "session_leave",
        "subscribe",
        "unsubscribe",
        "follower_report",
        "request_list",
        "item_duration",
    }
    assert "guest" not in OPS["item_duration"].roles


def test_every_reference_resolves() -> None:
    schema = protocol_schema()
    for ref in refs(schema):
        assert ref.startswith("#/$defs/"), ref
        assert ref.removeprefix("#/$defs/") in schema["$defs"], ref


def test_public_session_is_session_without_invite_code() -> None:
    assert set(PublicSessionInfo.model_fields) == set(SessionInfo.model_fields) - {"invite_code"}


@pytest.mark.parametrize(("kind", "data"), EVENTS, ids=[kind for kind, _ in EVENTS])
def test_real_events_fit_the_schema(kind: str, data: dict[str, Any]) -> None:
    event = EventEnvelope.model_validate(
        {"type": kind, "session": "reo29nkivm", "rev": 12, "data": data}
    )
    EVENT_DATA[event.type].model_validate(event.data)


@pytest.mark.parametrize(("op", "result"), RESULTS, ids=[op for op, _ in RESULTS])
def test_real_results_fit_the_schema(op: str, result: dict[str, Any]) -> None:
    reply = ReplyOk.model_validate({"id": 7, "ok": True, "result": result})
    OP_RESULTS[op].model_validate(reply.result)


@pytest.mark.parametrize(
    ("model", "value"),
    [
        (EVENT_DATA["playlist_update"], {"action": "shuffle"}),
        (EVENT_DATA["playlist_update"], {"action": "remove", "item": ITEM}),
        (EVENT_DATA["session_update"], {"action": "end", "session": SNAPSHOT["session"]}),
        (EVENT_DATA["member_update"], {"action": "ban", "member": MEMBER}),
        (OP_RESULTS["subscribe"], {"session": "reo29nkivm", "rev": 2, "mode": "events"}),
        (EventEnvelope, {"type": "chat", "session": "reo29nkivm", "rev": 1, "data": {}}),
        (RequestEnvelope, {"op": "time", "id": True}),
        (RequestEnvelope, {"op": "dance", "id": 1}),
        (ReplyError, {"id": 1, "ok": False, "error": {"code": "oops", "message": "?"}}),
    ],
)
def test_wrong_payloads_are_rejected(model: type[BaseModel], value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(value)


def test_real_error_reply_fits_the_schema() -> None:
    reply = ReplyError.model_validate(
        {
            "id": None,
            "ok": False,
            "error": {
                "code": "frame_too_large",
                "message": "frame of 70066 bytes exceeds the limit of 65536",
                "details": {"limit": 65536, "size": 70066},
            },
        }
    )
    assert reply.error.code == "frame_too_large"


@pytest.mark.parametrize(
    ("model", "args"),
    [
        (RequestChangeArgs, {"session": "abcd1234", "action": "add", "title": "no uri"}),
        (RequestChangeArgs, {"session": "abcd1234", "action": "remove", "item": 2, "uri": "x"}),
        (RequestChangeArgs, {"session": "abcd1234", "action": "move", "item": 2}),
        (PlaybackCommandArgs, {"session": "abcd1234", "action": "seek"}),
        (PlaybackCommandArgs, {"session": "abcd1234", "action": "pause", "position_ms": 5}),
    ],
)
def test_args_rules_beyond_the_json_schema(model: type[BaseModel], args: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(args)


def test_invalid_args_become_an_invalid_args_error() -> None:
    with pytest.raises(InvalidArgs) as caught:
        validate_args(OPS["request_playlist_change"], {"session": "abcd1234", "action": "add"})
    assert caught.value.code == "invalid_args"
    assert caught.value.details["errors"][0]["problem"].endswith("add needs uri")
