"""Shared fixtures: a real daemon on port 0 over a fresh SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from cmp.client import Client
from daemon.app import Daemon
from daemon.config import Settings
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(host="127.0.0.1", port=0, state_dir=tmp_path / "state", lead_ms=200)


@pytest.fixture
async def daemon(settings: Settings, clock: FakeClock) -> AsyncIterator[Daemon]:
    async with Daemon(settings, clock=clock) as running:
        yield running


@pytest.fixture
def admin_token(daemon: Daemon) -> str:
    assert daemon.admin_token_file is not None
    return daemon.admin_token_file.read_text().strip()


ClientFactory = Callable[..., Awaitable[Client]]


@pytest.fixture
async def connect(daemon: Daemon) -> AsyncIterator[ClientFactory]:
    """Open real WebSocket clients to the daemon; all closed at the end."""
    opened: list[Client] = []

    async def open_client(token: str | None = None, **kwargs: Any) -> Client:
        client = Client(daemon.url, token=token, timeout=10, **kwargs)
        await client.connect()
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.close()


@pytest.fixture
async def host_token(connect: ClientFactory, admin_token: str) -> str:
    admin = await connect(admin_token)
    issued = await admin.call("token_issue", role="host", name="hana")
    return str(issued["token"])


def with_settings(settings: Settings, **changes: Any) -> Settings:
    return replace(settings, **changes)
