"""Global options and what they resolve to: flag > env > profile > default.

The root callback stores a :class:`CliState` on ``ctx.obj``; every command
reads the server, token and session from it and runs its coroutine through
:meth:`CliState.run`, the one place where errors become exit codes.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from cmp.core.errors import CmpError

from .failures import ExitStatus, report
from .profiles import ConfigFile, Profile, config_path

if TYPE_CHECKING:
    from cmp.client import Client

__all__ = ["DEFAULT_SERVER", "CliState", "state"]

DEFAULT_SERVER = "ws://127.0.0.1:7700"
T = TypeVar("T")


@dataclass
class CliState:
    server_flag: str | None = None
    token_flag: str | None = None
    session_flag: str | None = None
    profile_flag: str | None = None
    json: bool = False
    timeout: float = 10.0
    _config: ConfigFile | None = field(default=None, repr=False)

    @property
    def config(self) -> ConfigFile:
        if self._config is None:
            try:
                self._config = ConfigFile(config_path())
            except ValueError as exc:
                self.fail(CmpError(str(exc), code="config"))
        assert self._config is not None
        return self._config

    @property
    def profile(self) -> Profile:
        return self.config.profile(self.profile_flag)

    @property
    def server(self) -> str:
        return self.server_flag or self.profile.get("server") or DEFAULT_SERVER

    @property
    def token(self) -> str | None:
        return self.token_flag or self.profile.get("token")

    def session(self, explicit: str | None = None) -> str:
        """The session to act on, or a usage error telling how to pick one."""
        session = explicit or self.session_flag or self.profile.get("session")
        if not session:
            raise typer.BadParameter(
                "no session: pass --session, set CMP_SESSION, or run "
                "'cmpc session create' / 'cmpc session join' first"
            )
        return session

    def fail(self, error: CmpError) -> None:
        raise typer.Exit(report(error, as_json=self.json))

    def run(self, work: Callable[[Client], Awaitable[T]], *, token: bool = True) -> T:
        """Connect, run ``work(client)``, close; map errors to exit codes."""

        async def main() -> T:
            from cmp.client import Client

            client = Client(self.server, token=self.token if token else None, timeout=self.timeout)
            await client.connect()
            try:
                return await work(client)
            finally:
                await client.close()

        try:
            return asyncio.run(main())
        except CmpError as exc:
            self.fail(exc)
            raise AssertionError("unreachable") from None
        except KeyboardInterrupt:
            raise typer.Exit(ExitStatus.INTERRUPTED) from None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj


def env_default(name: str) -> Any:
    return os.environ.get(name) or None
