"""``cmpd``: the daemon's command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from .config import ConfigError, Settings, load_settings
from .store.db import StoreError

__all__ = ["app", "main"]

app = typer.Typer(
    name="cmpd",
    # Help texts mention [env VAR] and [default: ...]: print brackets as they are.
    rich_markup_mode=None,
    help="cmp's daemon: owns sessions, playlists and the shared timeline.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _root() -> None:
    """cmp's daemon: owns sessions, playlists and the shared timeline."""


def _settings(flags: dict[str, Any], config: Path | None) -> Settings:
    """The merged settings, or every problem on stderr and exit 2."""
    try:
        return load_settings(flags=flags, config_file=config)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"cmpd: config: {problem}", err=True)
        raise typer.Exit(2) from None


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"cmpd: {exc}", err=True)
    raise typer.Exit(1) from None


@app.command()
def run(
    host: Annotated[str | None, typer.Option(help="Address to listen on [env CMP_HOST].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on; 0 picks a free one [env CMP_PORT].")
    ] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(help="Where the database, secret and admin token live [env CMP_STATE_DIR]."),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy database URL [env DATABASE_URL]; default SQLite in the state dir."
        ),
    ] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file [env CMP_CONFIG].")] = None,
    lead_ms: Annotated[
        int | None, typer.Option(help="Delay before play/seek/skip take effect [env CMP_LEAD_MS].")
    ] = None,
    max_frame_bytes: Annotated[
        int | None, typer.Option(help="Largest request frame accepted [env CMP_MAX_FRAME_BYTES].")
    ] = None,
    log_level: Annotated[
        str | None, typer.Option(help="debug, info, warning or error [env CMP_LOG_LEVEL].")
    ] = None,
) -> None:
    """Run the daemon in the foreground until SIGTERM or Ctrl-C."""
    flags = {
        "host": host,
        "port": port,
        "state_dir": state_dir,
        "database_url": db,
        "lead_ms": lead_ms,
        "max_frame_bytes": max_frame_bytes,
        "log_level": log_level,
    }
    settings = _settings(flags, config)
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    if settings.log_level != "debug":
        # One line per connection opened or closed is noise in a journal.
        logging.getLogger("websockets").setLevel(logging.WARNING)
    else:
        logging.getLogger("aiosqlite").setLevel(logging.INFO)
    # The database, its WAL and the secret are for cmpd's eyes only.
    os.umask(0o077)
    from .app import Daemon

    def ready(daemon: Daemon) -> None:
        logging.getLogger("cmpd").info(
            "serving on %s; state in %s; admin token in %s",
            daemon.url,
            settings.state_dir,
            daemon.admin_token_file or "(not written: an admin exists already)",
        )

    try:
        asyncio.run(Daemon(settings).serve_forever(on_ready=ready))
    except (OSError, StoreError) as exc:
        _fail(exc)


@app.command("admin-token")
def admin_token(
    state_dir: Annotated[
        Path | None, typer.Option(help="The daemon's state dir [env CMP_STATE_DIR].")
    ] = None,
    db: Annotated[str | None, typer.Option(help="Database URL [env DATABASE_URL].")] = None,
    config: Annotated[Path | None, typer.Option(help="TOML config file [env CMP_CONFIG].")] = None,
    name: Annotated[str, typer.Option(help="Name recorded with the token.")] = "admin",
    ttl_days: Annotated[int, typer.Option(help="Lifetime in days.", min=1, max=3650)] = 365,
) -> None:
    """Print a new admin token (for when admin.token is lost, expired or revoked).

    Needs read and write access to the daemon's state directory and database;
    the daemon may keep running.
    """
    flags = {"state_dir": state_dir, "database_url": db}
    settings = _settings(flags, config)
    from .app import Daemon

    os.umask(0o077)
    try:
        token = asyncio.run(Daemon(settings).issue_admin_token(name, ttl_days * 86_400))
    except (OSError, StoreError) as exc:
        _fail(exc)
    typer.echo(token)


def main() -> None:
    app()
