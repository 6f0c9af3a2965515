"""``cmpc session listener``: the host lets a follower in with a listen-only token."""

from __future__ import annotations

import tomllib

from .conftest import UserFactory
from .helpers import Cmpc, RunningDaemon
from .shapes import ISSUED, assert_error, keys


def profile(user: Cmpc, name: str) -> dict[str, str]:
    values: dict[str, str] = tomllib.loads(user.config.read_text())["profiles"][name]
    return values


def test_a_listener_plays_and_only_listens(
    cmpd: RunningDaemon, host: Cmpc, user: UserFactory
) -> None:
    session = host.json("session", "show")["session"]["id"]

    # The token alone on stdout, what it is and how to use it on stderr.
    shown = host("session", "listener", "kitchen")
    token = shown.stdout.strip()
    assert shown.stdout == token + "\n"
    details, hint = shown.stderr.splitlines()
    assert details.startswith("listener kitchen (user ") and f"({session})" in details
    assert hint == (
        f"on the speaker: cmpc login --server {cmpd.url} --token TOKEN, then cmpc follow"
    )

    # On the speaker: log in with it; the session comes with the token.
    speaker = user("speaker")
    who = speaker.json("login", "--server", cmpd.url, "--token", token)
    assert (who["role"], who["name"], who["session"]) == ("listener", "kitchen", session)
    assert speaker.json("status")["session"] == session
    assert speaker.json("status")["followers"] == []  # hosts only
    listed = speaker.json("session", "list")["sessions"]
    assert [(s["id"], s["role"]) for s in listed] == [(session, "listener")]
    # It may not ask for anything, nor control playback.
    for args in (("request", "add", "https://example.org/x.ogg"), ("play",), ("session", "end")):
        assert_error(speaker("--json", *args, expect=3).doc, code="forbidden", exit_code=3)

    # --json prints the daemon's result; --ttl sets the lifetime.
    issued = host.json("session", "listener", "den", "--ttl", "7d")
    assert keys(issued) == ISSUED | {"session_name", "rev"}
    assert (issued["role"], issued["name"], issued["session"]) == ("listener", "den", session)
    # The default lifetime is 30 days (a speaker runs for weeks): 23 days more.
    default = host.json("session", "listener", "hall")["expires_at_ms"] - issued["expires_at_ms"]
    assert abs(default - 23 * 86_400_000) < 5_000
    members = host.json("session", "members")["members"]
    assert [(m["name"], m["role"]) for m in members] == [
        ("hana", "host"),
        ("kitchen", "listener"),
        ("den", "listener"),
        ("hall", "listener"),
    ]
    table = host("session", "members").stdout
    assert "kitchen" in table and "listener" in table

    # Kicked like a guest: its token stops working.
    host.json("session", "kick", "kitchen")
    assert_error(speaker("--json", "status", expect=3).doc, code="token_revoked", exit_code=3)


def test_saving_the_listener_in_a_profile(cmpd: RunningDaemon, host: Cmpc) -> None:
    session = host.json("session", "show")["session"]["id"]
    saved = host.invoke("session", "listener", "porch", "--save-profile", "porch")
    assert saved.stderr.splitlines()[-1] == (
        "saved to profile 'porch'; play here with: cmpc --profile porch follow"
    )
    values = profile(host, "porch")
    assert (values["server"], values["token"], values["session"]) == (
        cmpd.url,
        saved.stdout.strip(),
        session,
    )
    assert (values["name"], values["follow_name"]) == ("porch", "porch")
    who = host.json("--profile", "porch", "status")
    assert who["session"] == session
    # The host's own profile is untouched.
    assert host.json("session", "list")["sessions"][0]["role"] == "host"

    # Saving into the profile in use would replace the host's own token.
    refused = host.invoke("session", "listener", "x", "--save-profile", "default", expect=2)
    assert "--save-profile" in refused.stderr
    assert [m["name"] for m in host.json("session", "members")["members"]] == ["hana", "porch"]


def test_only_the_host_lets_listeners_in(
    host: Cmpc, user: UserFactory, cmpd: RunningDaemon
) -> None:
    code = host.json("session", "invite")["invite_code"]
    guest = user("gus")
    guest.invoke("--server", cmpd.url, "session", "join", code, "--name", "gus")
    result = guest("--json", "session", "listener", "mine", expect=3)
    assert_error(result.doc, code="forbidden", exit_code=3)
    assert "session_listener needs one of the roles admin, host" in result.doc["error"]["message"]
    assert_error(
        host("--json", "session", "listener", "x", "--ttl", "366d", expect=2).doc,
        code="invalid_args",
        exit_code=2,
    )
