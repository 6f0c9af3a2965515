"""Config file, profiles and precedence, in process through Typer's CliRunner."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import typer
from typer.testing import CliRunner

from cmp import __version__
from cmp.cli import app
from cmp.cli.context import DEFAULT_SERVER

from .helpers import Cmpc, RunningDaemon
from .shapes import keys

runner = CliRunner()


def invoke(*args: str, env: Mapping[str, str] | None = None, expect: int = 0) -> Any:
    result = runner.invoke(app, list(args), env=dict(env or {}))
    assert result.exit_code == expect, (result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result


def effective(*args: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What server, token and session resolve to, and which profile is active."""
    shown = json.loads(invoke(*args, "--json", "config", "show", "--reveal", env=env).stdout)
    return {"profile": shown["active_profile"], **shown["effective"]}


def write_config(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(data))


@pytest.fixture
def two_profiles(cli_env: Path) -> Path:
    write_config(
        cli_env,
        {
            "default_profile": "home",
            "profiles": {
                "home": {"server": "ws://home:7700", "token": "home-token", "session": "homes"},
                "work": {"server": "ws://work:7700", "token": "work-token", "session": "works"},
            },
        },
    )
    return cli_env


def test_defaults_without_a_config_file(cli_env: Path) -> None:
    assert effective() == {
        "profile": "default",
        "server": DEFAULT_SERVER,
        "token": None,
        "session": None,
    }
    assert not cli_env.exists()  # reading never writes


@pytest.mark.usefixtures("two_profiles")
def test_flag_beats_env_beats_profile() -> None:
    home = {"server": "ws://home:7700", "token": "home-token", "session": "homes"}
    assert effective() == {"profile": "home", **home}
    env = {"CMP_SERVER": "ws://env:1", "CMP_TOKEN": "env-token", "CMP_SESSION": "envs"}
    assert effective(env=env) == {
        "profile": "home",
        "server": "ws://env:1",
        "token": "env-token",
        "session": "envs",
    }
    flags = ("--server", "ws://flag:2", "--token", "flag-token", "--session", "flags")
    assert effective(*flags, env=env) == {
        "profile": "home",
        "server": "ws://flag:2",
        "token": "flag-token",
        "session": "flags",
    }
    # Each setting resolves on its own.
    assert effective("--session", "flags", env={"CMP_TOKEN": "env-token"}) == {
        "profile": "home",
        "server": "ws://home:7700",
        "token": "env-token",
        "session": "flags",
    }


@pytest.mark.usefixtures("two_profiles")
def test_profile_flag_beats_env_beats_default_profile() -> None:
    assert effective()["profile"] == "home"
    assert effective(env={"CMP_PROFILE": "work"})["server"] == "ws://work:7700"
    chosen = effective("--profile", "home", env={"CMP_PROFILE": "work"})
    assert (chosen["profile"], chosen["server"], chosen["token"]) == (
        "home",
        "ws://home:7700",
        "home-token",
    )
    # A profile that does not exist yet resolves to the defaults.
    assert effective("--profile", "new") == {
        "profile": "new",
        "server": DEFAULT_SERVER,
        "token": None,
        "session": None,
    }


@pytest.mark.usefixtures("two_profiles")
def test_show_masks_tokens_unless_revealed() -> None:
    masked = json.loads(invoke("--json", "config", "show").stdout)
    assert "home-token" not in json.dumps(masked)
    assert masked["effective"]["token"] != "home-token"
    revealed = json.loads(invoke("--json", "config", "show", "--reveal").stdout)
    assert revealed["profiles"]["work"]["token"] == "work-token"
    human = invoke("config", "show").stdout
    assert "active profile: home" in human
    assert "home-token" not in human


def test_init_then_set_writes_a_private_file(cli_env: Path) -> None:
    created = json.loads(invoke("--json", "config", "init", "--server", "ws://box:7700").stdout)
    assert created == {"path": str(cli_env), "profile": "default"}
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    assert tomllib.loads(cli_env.read_text()) == {
        "default_profile": "default",
        "profiles": {"default": {"server": "ws://box:7700"}},
    }
    # init keeps what is there
    invoke("config", "init", "--server", "ws://other:1")
    assert effective()["server"] == "ws://box:7700"

    invoke("config", "set", "token", "secret-token")
    invoke("--profile", "work", "config", "set", "server", "ws://work:7700")
    invoke("config", "set", "default_profile", "work")
    data = tomllib.loads(cli_env.read_text())
    assert data["default_profile"] == "work"
    assert data["profiles"]["default"]["token"] == "secret-token"
    assert effective()["server"] == "ws://work:7700"
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    # An empty value removes the key.
    invoke("config", "set", "default_profile", "")
    invoke("config", "set", "token", "")
    assert effective() == {
        "profile": "default",
        "server": "ws://box:7700",
        "token": None,
        "session": None,
    }


def test_init_takes_the_global_server(cli_env: Path) -> None:
    invoke("config", "init", env={"CMP_SERVER": "ws://env:9"})
    assert tomllib.loads(cli_env.read_text())["profiles"]["default"]["server"] == "ws://env:9"


def test_set_rejects_unknown_keys(cli_env: Path) -> None:
    result = invoke("config", "set", "colour", "blue", expect=2)
    assert "unknown key" in result.stderr
    assert not cli_env.exists()


def test_a_broken_config_file_is_one_line(cli_env: Path) -> None:
    cli_env.parent.mkdir(parents=True)
    cli_env.write_text("profiles = [\n")
    result = invoke("--json", "status", expect=1)
    assert str(cli_env) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert json.loads(result.stdout)["error"]["code"] == "config"


def test_an_unreadable_config_file_is_one_line(tmp_path: Path) -> None:
    result = invoke("status", env={"CMPC_CONFIG": str(tmp_path)}, expect=1)
    assert result.stderr == f"cmpc: cannot read {tmp_path}: Is a directory [config]\n"


def test_an_unwritable_config_file_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    path = tmp_path / "file" / "config.toml"
    result = invoke("config", "init", env={"CMPC_CONFIG": str(path)}, expect=1)
    assert result.stderr.startswith(f"cmpc: cannot write {path}: ")
    assert len(result.stderr.splitlines()) == 1


# Logging in reaches the daemon (the flow test logs in through the installed program).


def test_login_saves_and_logout_forgets(cli_env: Path, cmpd: RunningDaemon) -> None:
    me = Cmpc(cli_env)
    who = me.invoke("--json", "login", "--server", cmpd.url, "--token", cmpd.admin_token).doc
    assert (who["role"], who["profile"]) == ("admin", "default")
    assert stat.S_IMODE(cli_env.stat().st_mode) == 0o600
    invoke("config", "set", "session", "abcd1234")
    saved = tomllib.loads(cli_env.read_text())["profiles"]["default"]
    assert (saved["server"], saved["token"]) == (cmpd.url, cmpd.admin_token)
    # The saved token works without flags.
    assert keys(me.invoke("--json", "session", "list").doc) == {"sessions"}

    assert json.loads(invoke("--json", "logout").stdout) == {"profile": "default"}
    after = tomllib.loads(cli_env.read_text())["profiles"]["default"]
    assert "token" not in after
    assert "session" not in after
    assert after["server"] == cmpd.url


def test_login_into_another_profile(cli_env: Path, cmpd: RunningDaemon) -> None:
    me = Cmpc(cli_env)
    me.invoke("--profile", "ops", "login", "--server", cmpd.url, "--token", cmpd.admin_token)
    data = tomllib.loads(cli_env.read_text())
    assert set(data["profiles"]) == {"ops"}
    assert effective("--profile", "ops")["token"] == cmpd.admin_token
    assert effective()["token"] is None


def test_login_takes_the_global_options(cli_env: Path, cmpd: RunningDaemon) -> None:
    me = Cmpc(cli_env, env={"CMP_SERVER": cmpd.url, "CMP_TOKEN": cmpd.admin_token})
    assert me.invoke("--json", "login").doc["role"] == "admin"
    saved = tomllib.loads(cli_env.read_text())["profiles"]["default"]
    assert (saved["server"], saved["token"]) == (cmpd.url, cmpd.admin_token)


def test_login_with_a_guest_token_takes_its_session(cli_env: Path, cmpd: RunningDaemon) -> None:
    admin = Cmpc(cli_env.with_name("admin.toml"))
    admin.invoke("login", "--server", cmpd.url, "--token", cmpd.admin_token)
    session = admin.invoke("--json", "session", "create", "guests").doc["session"]
    phone = Cmpc(cli_env.with_name("phone.toml"))
    args = ("--server", cmpd.url, "session", "join", session["invite_code"], "--name", "gus")
    joined = phone.invoke("--json", *args).doc
    # The same guest, on another machine
    who = Cmpc(cli_env).invoke("--json", "login", "--server", cmpd.url, "--token", joined["token"])
    assert (who.doc["role"], who.doc["session"]) == ("guest", session["id"])
    assert effective()["session"] == session["id"]


def test_login_refuses_a_bad_token_and_saves_nothing(cli_env: Path, cmpd: RunningDaemon) -> None:
    me = Cmpc(cli_env)
    result = me.invoke("login", "--server", cmpd.url, "--token", "not-a-token", expect=3)
    assert result.stderr.startswith("cmpc: ")
    assert "[token_invalid]" in result.stderr
    assert not cli_env.exists()


def test_login_needs_a_token(cli_env: Path) -> None:
    result = invoke("login", "--server", "ws://127.0.0.1:9", expect=2)
    assert result.stderr == "cmpc: login needs a token: pass --token TOKEN [usage]\n"
    assert not cli_env.exists()


def test_version() -> None:
    assert invoke("--version").stdout.strip() == f"cmpc {__version__}"


def _command_paths() -> Iterator[tuple[str, ...]]:
    root = typer.main.get_command(app)

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from walk(root, ())


COMMANDS = list(_command_paths())


def test_every_command_is_listed() -> None:
    names = {" ".join(path) for path in COMMANDS}
    expected = {
        "login",
        "logout",
        "config show",
        "config init",
        "config set",
        "token issue",
        "token list",
        "token revoke",
        "session create",
        "session join",
        "session listener",
        "session show",
        "session list",
        "session members",
        "session kick",
        "session invite",
        "session leave",
        "session end",
        "playlist add",
        "playlist list",
        "playlist remove",
        "playlist move",
        "playlist clear",
        "request add",
        "request remove",
        "request move",
        "request withdraw",
        "request list",
        "request approve",
        "request reject",
        "play",
        "pause",
        "toggle",
        "seek",
        "next",
        "prev",
        "repeat",
        "status",
        "watch",
    }
    assert expected <= names


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(path) or "cmpc")
def test_help(path: tuple[str, ...]) -> None:
    result = invoke(*path, "--help")
    assert "Usage:" in result.stdout
    assert result.stderr == ""
