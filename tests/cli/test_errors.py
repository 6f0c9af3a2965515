"""Each failure gives its documented exit code and one line on stderr, never a traceback.

With ``--json`` a failure also prints ``{"ok": false, "error": {...}, "exit_code": N}``
on stdout.  Most cases run in process (``Cmpc.invoke``), which is quick; a few run
the installed program to see exactly what a user sees.
"""

from __future__ import annotations

import gc
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from cmp.cli import app

from .helpers import Cmpc, Result, RunningDaemon, closed_port
from .shapes import assert_error


@dataclass(frozen=True)
class World:
    daemon: RunningDaemon
    admin: Cmpc
    host: Cmpc
    guest: Cmpc
    session: str
    item: int
    invite: str


@pytest.fixture(scope="module")
def world(cmpd: RunningDaemon, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """An admin, a host with a session holding one 3-minute item, and a guest."""
    home = tmp_path_factory.mktemp("errors")
    admin = Cmpc(home / "admin.toml")
    admin.invoke("login", "--server", cmpd.url, "--token", cmpd.admin_token)
    host = Cmpc(home / "host.toml")
    issued = admin.invoke("--json", "token", "issue", "--name", "hana").doc
    host.invoke("login", "--server", cmpd.url, "--token", issued["token"])
    created = host.invoke("--json", "session", "create", "errors").doc
    added = host.invoke(
        "--json", "playlist", "add", "https://example.org/a.ogg", "--duration", "3:00"
    )
    guest = Cmpc(home / "guest.toml")
    invite = created["session"]["invite_code"]
    guest.invoke("--server", cmpd.url, "session", "join", invite, "--name", "gus")
    yield World(
        daemon=cmpd,
        admin=admin,
        host=host,
        guest=guest,
        session=created["session"]["id"],
        item=added.doc["added"][0]["item"]["id"],
        invite=invite,
    )


def assert_failure(result: Result, *, exit_code: int, code: str) -> None:
    assert result.code == exit_code, str(result)
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("cmpc: "), line
    assert line.endswith(f"[{code}]"), line
    if "--json" in result.args:
        assert_error(result.doc, code=code, exit_code=exit_code)
    else:
        assert result.stdout == ""


def fail(user: Cmpc, *args: str, exit_code: int, code: str) -> Result:
    """Run in process with --json; check the failure."""
    result = user.invoke("--json", *args, expect=None)
    assert_failure(result, exit_code=exit_code, code=code)
    return result


def expired_token(state_dir: Path) -> str:
    """A token signed with the daemon's own key, an hour past its expiry."""
    secret = bytes.fromhex((state_dir / "secret.key").read_text().strip())
    now = int(time.time())
    claims = {"sub": "1", "role": "host", "jti": "expired", "iat": now - 7200, "exp": now - 3600}
    return jwt.encode(claims, secret, algorithm="HS256")


# -- what a user sees: the installed program ------------------------------------


@pytest.mark.parametrize("json_", [False, True], ids=["human", "json"])
def test_bad_token_as_seen_by_a_user(world: World, json_: bool) -> None:
    flags = ("--json",) if json_ else ()
    result = world.host(*flags, "--token", "garbage", "status", expect=None)
    assert_failure(result, exit_code=3, code="token_invalid")


def test_forbidden_as_seen_by_a_user(world: World) -> None:
    result = world.guest("--json", "play", expect=None)
    assert_failure(result, exit_code=3, code="forbidden")
    assert result.doc["error"]["details"] == {"role": "guest"}


def test_not_found_as_seen_by_a_user(world: World) -> None:
    result = world.host("--json", "playlist", "remove", "999999", expect=None)
    assert_failure(result, exit_code=4, code="not_found")
    assert result.doc["error"]["details"] == {"item": 999999}


@pytest.mark.parametrize("json_", [False, True], ids=["human", "json"])
def test_daemon_down(tmp_path: Path, json_: bool) -> None:
    url = f"ws://127.0.0.1:{closed_port()}"
    flags = ("--json",) if json_ else ()
    args = ("--server", url, "--token", "t", "--session", "abcd1234", "status")
    result = Cmpc(tmp_path / "me.toml")(*flags, *args, expect=None)
    assert_failure(result, exit_code=6, code="unreachable")
    assert url in result.stderr
    if json_:
        assert url in result.doc["error"]["message"]


def test_no_session_as_seen_by_a_user(tmp_path: Path) -> None:
    result = Cmpc(tmp_path / "me.toml")("--json", "status", expect=None)
    assert_failure(result, exit_code=2, code="usage")


# -- auth: 3 ---------------------------------------------------------------------


def test_expired_token(world: World) -> None:
    token = expired_token(world.daemon.state_dir)
    fail(world.host, "--token", token, "status", exit_code=3, code="token_expired")


def test_a_token_signed_by_someone_else(world: World) -> None:
    now = int(time.time())
    claims = {"sub": "1", "role": "admin", "jti": "forged", "iat": now, "exp": now + 3600}
    token = jwt.encode(claims, b"\0" * 32, algorithm="HS256")
    fail(world.admin, "--token", token, "token", "list", exit_code=3, code="token_invalid")


@pytest.mark.parametrize(
    "args",
    [
        ("play",),
        ("pause",),
        ("seek", "10"),
        ("next",),
        ("repeat", "all"),
        ("playlist", "add", "https://example.org/x.ogg"),
        ("playlist", "clear"),
        ("request", "approve", "1"),
        ("session", "kick", "hana"),
        ("session", "end"),
        ("session", "invite", "--rotate"),
        ("session", "invite"),
        ("token", "list"),
    ],
    ids=" ".join,
)
def test_guest_calling_a_host_command(world: World, args: tuple[str, ...]) -> None:
    fail(world.guest, *args, exit_code=3, code="forbidden")


def test_host_issuing_tokens(world: World) -> None:
    fail(world.host, "token", "issue", "--name", "x", exit_code=3, code="forbidden")


def test_no_token(world: World, tmp_path: Path) -> None:
    nobody = Cmpc(tmp_path / "nobody.toml")
    args = ("--server", world.daemon.url, "--session", world.session, "status")
    fail(nobody, *args, exit_code=3, code="unauthenticated")


def test_wrong_invite_code(world: World, tmp_path: Path) -> None:
    stranger = Cmpc(tmp_path / "stranger.toml")
    args = ("--server", world.daemon.url, "session", "join", "AAAAA-AAAAA", "--name", "x")
    fail(stranger, *args, exit_code=3, code="invalid_invite")
    assert not stranger.config.exists()


def test_a_kicked_guest(world: World, tmp_path: Path) -> None:
    kim = Cmpc(tmp_path / "kim.toml")
    kim.invoke("--server", world.daemon.url, "session", "join", world.invite, "--name", "kim")
    world.host.invoke("session", "kick", "kim")
    fail(kim, "status", exit_code=3, code="token_revoked")


# -- not found: 4 ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("--session", "nosuchsession", "status"),
        ("--session", "nosuchsession", "playlist", "list"),
        ("--session", "nosuchsession", "watch"),
        ("playlist", "remove", "999999"),
        ("playlist", "move", "999999", "0"),
        ("play", "999999"),
        ("request", "approve", "999999"),
        ("request", "reject", "999999"),
        ("session", "kick", "nobody"),
        ("session", "kick", "999999"),
    ],
    ids=" ".join,
)
def test_unknown_things(world: World, args: tuple[str, ...]) -> None:
    fail(world.host, *args, exit_code=4, code="not_found")


def test_unknown_token(world: World) -> None:
    fail(world.admin, "token", "revoke", "no-such-jti", exit_code=4, code="not_found")


@pytest.mark.parametrize(
    "args", [("request", "remove", "999999"), ("request", "withdraw", "999999")], ids=" ".join
)
def test_guest_asking_about_unknown_things(world: World, args: tuple[str, ...]) -> None:
    fail(world.guest, *args, exit_code=4, code="not_found")


# -- conflict: 5 -----------------------------------------------------------------


def test_deciding_twice(world: World) -> None:
    asked = world.guest.invoke("--json", "request", "add", "https://example.org/b.ogg").doc
    request = str(asked["request"]["id"])
    world.host.invoke("request", "reject", request)
    fail(world.host, "request", "approve", request, exit_code=5, code="conflict")
    fail(world.host, "request", "reject", request, exit_code=5, code="conflict")
    fail(world.guest, "request", "withdraw", request, exit_code=5, code="conflict")


def test_the_host_cannot_leave(world: World) -> None:
    fail(world.host, "session", "leave", exit_code=5, code="conflict")


def test_seeking_while_stopped(world: World) -> None:
    world.host.invoke("play", str(world.item))
    skipped = world.host.invoke("--json", "next").doc
    assert skipped["playback"]["status"] == "stopped"  # past the only item
    fail(world.host, "seek", "10", exit_code=5, code="conflict")
    fail(world.host, "seek", "+10", exit_code=5, code="conflict")


def test_an_ended_session(world: World, tmp_path: Path) -> None:
    issued = world.admin.invoke("--json", "token", "issue", "--name", "other").doc
    other = Cmpc(tmp_path / "other.toml")
    other.invoke("login", "--server", world.daemon.url, "--token", issued["token"])
    other.invoke("session", "create", "short-lived")
    other.invoke("session", "end")
    fail(other, "session", "end", exit_code=5, code="session_ended")
    fail(other, "playlist", "add", "https://example.org/c.ogg", exit_code=5, code="session_ended")


# -- usage: 2 --------------------------------------------------------------------


def test_the_daemon_rejecting_arguments(world: World) -> None:
    fail(world.host, "--session", "X!", "status", exit_code=2, code="invalid_args")


def test_seeking_past_the_end(world: World) -> None:
    world.host.invoke("play", str(world.item))
    try:
        result = fail(world.host, "seek", "3:00", exit_code=2, code="invalid_args")
        assert result.doc["error"]["details"]["duration_ms"] == 180_000
    finally:
        world.host.invoke("pause")


def test_ambiguous_member_name(world: World, tmp_path: Path) -> None:
    for n in range(2):
        twin = Cmpc(tmp_path / f"twin{n}.toml")
        twin.invoke("--server", world.daemon.url, "session", "join", world.invite, "--name", "twin")
    result = fail(world.host, "session", "kick", "twin", exit_code=2, code="invalid_args")
    assert "user id" in result.doc["error"]["message"]


runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (("seek", "1:3x"), "is not a time"),
        (("seek", "1:75"), "is not a time"),
        (("seek", ""), "is not a time"),
        (("repeat", "sometimes"), "sometimes"),
        (("token", "issue", "--name", "x", "--role", "guest"), "guest"),
        (("token", "issue", "--name", "x", "--ttl", "soon"), "is not a duration"),
        (("playlist", "add"), "Missing argument"),
        (("playlist", "add", "a", "b", "--title", "T"), "single URI"),
        (("playlist", "remove", "first"), "integer"),
        (("request", "add", "x", "--duration", "long"), "is not a time"),
        (("watch", "--count", "0"), "--count"),
        (("nosuchcommand",), "nosuchcommand"),
        (("status", "--nosuchoption"), "nosuchoption"),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_usage_errors(args: tuple[str, ...], complaint: str) -> None:
    result = runner.invoke(app, ["--session", "abcd1234", *args])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert complaint in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("json_", [False, True], ids=["human", "json"])
@pytest.mark.parametrize(
    "args",
    [("status",), ("playlist", "list"), ("request", "list"), ("watch",), ("seek", "+5")],
    ids=" ".join,
)
def test_no_session_configured(tmp_path: Path, args: tuple[str, ...], json_: bool) -> None:
    flags = ("--json",) if json_ else ()
    result = Cmpc(tmp_path / "me.toml").invoke(*flags, *args, expect=None)
    assert_failure(result, exit_code=2, code="usage")
    assert result.stderr.startswith("cmpc: no session: pass --session")


def test_not_a_websocket_url(tmp_path: Path) -> None:
    me = Cmpc(tmp_path / "me.toml")
    result = me.invoke("--server", "http://localhost:1", "session", "list", expect=None)
    assert_failure(result, exit_code=2, code="usage")
    assert "http://localhost:1" in result.stderr


def test_one_shot_commands_close_their_connection(cmpd: RunningDaemon) -> None:
    args = ["--server", cmpd.url, "--token", cmpd.admin_token, "--json", "session", "list"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        assert runner.invoke(app, args).exit_code == 0
        gc.collect()
    assert [str(w.message) for w in caught if w.category is ResourceWarning] == []
