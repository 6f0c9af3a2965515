"""The stage the follower tests play on: a real daemon on port 0, a host connected
to it with a session of generated tones, and followers on real libmpv (``ao=null``).

The daemon runs on the system clock: mpv plays in real time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cmp.client import Client
from cmp.core.view import SessionView
from cmp.follower.loop import Follower, FollowerSettings
from daemon.app import Daemon
from daemon.config import Settings
from tests.follower.media import sine_wav

__all__ = ["LEAD_MS", "Stage", "add_items", "admin_token", "following", "settings", "stage"]

#: The daemon's lead: how far ahead every start is anchored.
LEAD_MS = 300


@contextlib.asynccontextmanager
async def following(
    url: str, token: str, session: str, roots: list[Path], *, spare: bool = True
) -> AsyncIterator[Follower]:
    """A follower on real libmpv, with a spare player unless ``spare`` is false."""
    from cmp.follower.mpv_player import MpvPlayer

    client = Client(url, token=token, reconnect=True)
    await client.connect()
    loop = asyncio.get_running_loop()
    players = [MpvPlayer(options={"ao": "null"}, loop=loop) for _ in range(2 if spare else 1)]
    follower = Follower(
        client,
        session,
        players[0],
        FollowerSettings(media_roots=roots, report_s=0.2),
        spare=players[1] if spare else None,
    )
    task = asyncio.create_task(follower.run())
    try:
        yield follower
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        for player in players:
            player.close()
        await client.close()


@dataclass
class Stage:
    daemon: Daemon
    token: str
    host: Client
    session: str
    view: SessionView
    media: Path
    items: list[int]

    async def command(self, action: str, **args: Any) -> dict[str, Any]:
        return await self.host.call("playback_command", session=self.session, action=action, **args)

    async def repeat(self, mode: str) -> None:
        await self.host.call("playback_repeat", session=self.session, mode=mode)

    def follow(
        self, roots: list[Path] | None = None
    ) -> contextlib.AbstractAsyncContextManager[Follower]:
        return following(self.daemon.url, self.token, self.session, roots or [self.media])


def tones(folder: Path, lengths_ms: Mapping[str, int]) -> None:
    """A sine tone of each length in ``folder``, each at its own pitch."""
    folder.mkdir(exist_ok=True)
    for n, (name, length) in enumerate(lengths_ms.items()):
        sine_wav(folder / name, seconds=length / 1000, frequency=330.0 + 110.0 * n)


async def add_items(
    host: Client, session: str, lengths_ms: Mapping[str, int], *, durations: bool = True
) -> list[int]:
    """Add the tones by name; with their lengths unless ``durations`` is false."""
    items = []
    for name, length in lengths_ms.items():
        known = {"duration_ms": length} if durations else {}
        added = await host.call("playlist_add", session=session, uri=name, **known)
        items.append(added["item"]["id"])
    return items


def settings(tmp_path: Path, port: int = 0) -> Settings:
    return Settings(port=port, state_dir=tmp_path / "state", lead_ms=LEAD_MS)


def admin_token(daemon: Daemon) -> str:
    assert daemon.admin_token_file is not None
    return daemon.admin_token_file.read_text().strip()


@contextlib.asynccontextmanager
async def stage(
    tmp_path: Path, lengths_ms: Mapping[str, int], *, durations: bool = True
) -> AsyncIterator[Stage]:
    """A daemon, its admin as the host of a session subscribed to, and the tones of
    ``lengths_ms`` (name: ms) generated in ``tmp_path/music`` and added in order."""
    media = tmp_path / "music"
    tones(media, lengths_ms)
    async with Daemon(settings(tmp_path)) as daemon:
        token = admin_token(daemon)
        async with Client(daemon.url, token=token) as host:
            session = (await host.call("session_create", name="stage"))["session"]["id"]
            view = await host.subscribe(session)
            items = await add_items(host, session, lengths_ms, durations=durations)
            yield Stage(daemon, token, host, session, view, media, items)
