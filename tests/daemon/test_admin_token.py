"""``cmpd admin-token``: a way back in when admin.token is lost."""

from __future__ import annotations

import asyncio

from typer.testing import CliRunner

from cmp.client import Client
from daemon.app import Daemon
from daemon.cli import app
from daemon.config import Settings
from tests.fakes import FakeClock


def issue(settings: Settings) -> str:
    result = CliRunner().invoke(
        app, ["admin-token", "--state-dir", str(settings.state_dir), "--name", "ops"]
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


async def test_new_admin_token_works_beside_the_first(settings: Settings) -> None:
    async with Daemon(settings, clock=FakeClock()) as daemon:
        assert daemon.admin_token_file is not None
        first = daemon.admin_token_file.read_text().strip()
    token = await asyncio.to_thread(issue, settings)
    assert token != first
    async with Daemon(settings) as daemon, Client(daemon.url, token=token) as admin:
        who = await admin.call("auth", token=token)
        assert (who["role"], who["name"]) == ("admin", "ops")
        tokens = await admin.call("token_list")
        assert [t["name"] for t in tokens["tokens"]] == ["admin", "ops"]
        # The first token was not touched.
        assert daemon.admin_token_file is not None
        assert daemon.admin_token_file.read_text().strip() == first


def test_an_unusable_database_is_one_clear_line(settings: Settings) -> None:
    result = CliRunner().invoke(
        app, ["admin-token", "--state-dir", str(settings.state_dir), "--db", "nosuch://u:pw@x/db"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("cmpd: cannot use database URL nosuch://u:***@x/db")
    assert result.exception is None or isinstance(result.exception, SystemExit)
