"""Fixtures for cmpc's tests: one real daemon per run, a clean environment per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import Cmpc, RunningDaemon, running_daemon

UserFactory = Callable[[str], Cmpc]


@pytest.fixture(scope="session")
def cmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """A real ``cmpd`` subprocess on port 0, shared by the whole run.

    Tests share it safely because each one issues its own tokens and makes
    its own sessions.
    """
    with running_daemon(tmp_path_factory.mktemp("cmpd") / "state") as daemon:
        yield daemon


@pytest.fixture(autouse=True)
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own config file and none of cmp's variables.

    Returns the config file's path (``CMPC_CONFIG``), which does not exist yet.
    """
    for name in list(os.environ):
        if name.startswith("CMP"):
            monkeypatch.delenv(name)
    config = tmp_path / "cmpc" / "config.toml"
    monkeypatch.setenv("CMPC_CONFIG", str(config))
    return config


@pytest.fixture
def user(tmp_path: Path) -> UserFactory:
    """``user("gus")``: cmpc as a person with their own config file."""

    def make(name: str) -> Cmpc:
        return Cmpc(tmp_path / "users" / f"{name}.toml")

    return make


# The fixtures below set people up in process (quick); tests then run whatever they
# check as the installed program.


@pytest.fixture
def admin(user: UserFactory, cmpd: RunningDaemon) -> Cmpc:
    """The daemon's admin, logged in with the token from the state directory."""
    admin = user("admin")
    admin.invoke("login", "--server", cmpd.url, "--token", cmpd.admin_token)
    return admin


@pytest.fixture
def host(user: UserFactory, admin: Cmpc, cmpd: RunningDaemon) -> Cmpc:
    """A host with a fresh token, logged in, with a session of its own."""
    issued = admin.invoke("--json", "token", "issue", "--name", "hana").doc
    host = user("hana")
    host.invoke("login", "--server", cmpd.url, "--token", issued["token"])
    host.invoke("session", "create", "test session")
    return host
