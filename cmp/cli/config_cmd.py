"""Identity and configuration: ``login``, ``logout``, ``config show|init|set``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cmp.core.errors import CmpError

from .context import DEFAULT_SERVER, CliState, state
from .output import emit
from .profiles import KEYS

__all__ = ["register"]

config_app = typer.Typer(
    help="Show or edit the config file and its profiles.", no_args_is_help=True
)


def _mask(values: dict[str, Any]) -> dict[str, Any]:
    masked = dict(values)
    if masked.get("token"):
        token = str(masked["token"])
        masked["token"] = f"{token[:6]}…{token[-4:]}" if len(token) > 12 else "…"
    return masked


@config_app.command("show")
def show(
    ctx: typer.Context,
    reveal: Annotated[bool, typer.Option("--reveal", help="Show tokens in full.")] = False,
) -> None:
    """Show the config file, the active profile and what each setting resolves to."""
    cli = state(ctx)
    config = cli.config
    profiles = {
        name: (values if reveal else _mask(values)) for name, values in config.profiles().items()
    }
    effective = {
        "server": cli.server,
        "token": cli.token,
        "session": cli.session_flag or cli.profile.get("session"),
    }
    shown = effective if reveal else _mask(effective)
    document = {
        "path": str(config.path),
        "default_profile": config.default_profile,
        "active_profile": cli.profile.name,
        "profiles": profiles,
        "effective": shown,
    }

    def human() -> None:
        typer.echo(
            f"config file: {config.path}{'' if config.path.exists() else ' (not created yet)'}"
        )
        typer.echo(f"active profile: {cli.profile.name} (default: {config.default_profile})")
        for key, value in shown.items():
            typer.echo(f"  {key} = {value if value is not None else '(unset)'}")
        for name, values in profiles.items():
            typer.echo(f"[profiles.{name}]")
            for key, value in values.items():
                typer.echo(f"  {key} = {value}")

    emit(cli.json, document, human)


@config_app.command("init")
def init(
    ctx: typer.Context,
    server: Annotated[
        str | None,
        typer.Option(
            help=f"Daemon URL for the profile [default: --server, CMP_SERVER or {DEFAULT_SERVER}].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create the config file with a profile for SERVER (keeps what is there)."""
    cli = state(ctx)
    config = cli.config
    name = cli.profile.name
    if not config.profile(name).values:
        config.update(name, server=server or cli.server)
    config.data.setdefault("default_profile", name)
    cli.save_config()
    emit(
        cli.json,
        {"path": str(config.path), "profile": name},
        lambda: typer.echo(f"wrote {config.path}"),
    )


@config_app.command("set")
def set_(
    ctx: typer.Context,
    key: Annotated[str, typer.Argument(help=f"One of: {', '.join(KEYS)}, default_profile.")],
    value: Annotated[str, typer.Argument(help="The value; an empty string removes the key.")],
) -> None:
    """Set a key in the active profile (or the default profile's name)."""
    cli = state(ctx)
    config = cli.config
    if key == "default_profile":
        if value:
            config.data["default_profile"] = value
        else:
            config.data.pop("default_profile", None)
    elif key in KEYS:
        config.update(cli.profile.name, **{key: value or None})
    else:
        raise typer.BadParameter(f"unknown key {key!r}; known: {', '.join(KEYS)}, default_profile")
    cli.save_config()
    emit(cli.json, {"profile": cli.profile.name, "key": key}, lambda: typer.echo(f"set {key}"))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")

    @app.command(rich_help_panel="Identity")
    def login(
        ctx: typer.Context,
        server: Annotated[
            str | None,
            typer.Option(
                help="Daemon URL, e.g. ws://host:7700 [default: the global --server].",
                show_default=False,
            ),
        ] = None,
        token: Annotated[
            str | None,
            typer.Option(
                help="Your token (from your admin, or admin.token) [default: the global --token].",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """Check a token against a daemon and save both in the profile."""
        cli = state(ctx)
        server = server or cli.server
        token = (token or cli.token_flag or "").strip()
        if not token:
            cli.fail(CmpError("login needs a token: pass --token TOKEN", code="usage"))
        checker = CliState(server_flag=server, token_flag=token, json=cli.json, timeout=cli.timeout)
        who: dict[str, Any] = checker.run(lambda c: c.call("auth", token=token), token=False)
        config = cli.config
        config.update(
            cli.profile.name,
            server=server,
            token=token,
            name=who["name"] or None,
            # A guest token is good for one session: make it the profile's.
            **({"session": who["session"]} if who.get("session") else {}),
        )
        cli.save_config()
        document = {"profile": cli.profile.name, **who}
        emit(
            cli.json,
            document,
            lambda: typer.echo(
                f"logged in as {who['name']} ({who['role']}); saved to profile {cli.profile.name!r}"
            ),
        )

    @app.command(rich_help_panel="Identity")
    def logout(ctx: typer.Context) -> None:
        """Forget the profile's token (and session)."""
        cli = state(ctx)
        config = cli.config
        config.update(cli.profile.name, token=None, session=None)
        cli.save_config()
        emit(
            cli.json,
            {"profile": cli.profile.name},
            lambda: typer.echo(f"logged out of {cli.profile.name!r}"),
        )
