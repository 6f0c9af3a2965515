"""Global options and what they resolve to: flag > env > profile > default.

The root callback stores a :class:`CliState` on ``ctx.obj``; every command
reads the server, token and session from it and runs its coroutine through
:meth:`CliState.run`, the one place where errors become exit codes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, TypeVar

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
    """The global options (flags and env, as Typer parsed them) and the config file."""

    server_flag: str | None = None
    token_flag: str | None = None
    session_flag: str | None = None
    profile_flag: str | None = None
    json: bool = False
    timeout: float = 10.0
    _config: ConfigFile | None = field(default=None, repr=False)

    @property
    def config(self) -> ConfigFile:
        config = self._config
        if config is None:
            path = config_path()
            try:
                config = self._config = ConfigFile(path)
            except ValueError as exc:
                self.fail(CmpError(str(exc), code="config"))
            except OSError as exc:
                self.fail(CmpError(f"cannot read {path}: {exc.strerror or exc}", code="config"))
        return config

    def save_config(self) -> None:
        """Write the config file back, or exit saying why it cannot be written."""
        config = self.config
        try:
            config.save()
        except OSError as exc:
            self.fail(CmpError(f"cannot write {config.path}: {exc.strerror or exc}", code="config"))

    @property
    def profile(self) -> Profile:
        return self.config.profile(self.profile_flag)

    @property
    def server(self) -> str:
        return self.server_flag or self.profile.get("server") or DEFAULT_SERVER

    @property
    def token(self) -> str | None:
        token = self.token_flag or self.profile.get("token")
        # A token pasted with its line break still works; JWTs hold no spaces.
        return (token.strip() or None) if token else None

    def session(self, explicit: str | None = None) -> str:
        """The session to act on, or a usage error telling how to pick one."""
        session = explicit or self.session_flag or self.profile.get("session")
        if not session:
            self.fail(
                CmpError(
                    "no session: pass --session, set CMP_SESSION, or run "
                    "'cmpc session create' or 'cmpc session join' first",
                    code="usage",
                )
            )
        return session

    def fail(self, error: CmpError) -> NoReturn:
        """Report ``error`` and exit with its status."""
        raise typer.Exit(report(error, as_json=self.json))

    def run(
        self,
        work: Callable[[Client], Awaitable[T]],
        *,
        token: bool = True,
        reconnect: bool = False,
    ) -> T:
        """Connect, run ``work(client)``, close; map errors to exit codes.

        With ``reconnect``, the client reconnects and resumes its
        subscriptions when the connection drops (for ``watch``).
        """
        import asyncio

        if not self.server.startswith(("ws://", "wss://")):
            self.fail(
                CmpError(
                    f"the server must be a ws:// or wss:// URL, not {self.server!r}",
                    code="usage",
                )
            )

        async def main() -> T:
            from cmp.client import Client

            client = Client(
                self.server,
                token=self.token if token else None,
                timeout=self.timeout,
                reconnect=reconnect,
            )
            await client.connect()
            try:
                return await work(client)
            finally:
                await client.close()

        try:
            return asyncio.run(main())
        except CmpError as exc:
            self.fail(exc)
        except KeyboardInterrupt:
            raise typer.Exit(ExitStatus.INTERRUPTED) from None


def state(ctx: typer.Context) -> CliState:
    obj = ctx.find_root().obj
    if not isinstance(obj, CliState):
        obj = CliState()
        ctx.find_root().obj = obj
    return obj
