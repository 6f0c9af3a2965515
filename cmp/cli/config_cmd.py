"""Identity and configuration: ``login``, ``logout``, ``config show|init|set``."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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
    server: Annotated[str, typer.Option(help="Daemon URL for the profile.")] = DEFAULT_SERVER,
) -> None:
    """Create the config file with a profile for SERVER (keeps what is there)."""
    cli = state(ctx)
    config = cli.config
    name = cli.profile.name
    if not config.profile(name).values:
        config.update(name, server=server)
    config.data.setdefault("default_profile", name)
    config.save()
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
        config.data["default_profile"] = value
    elif key in KEYS:
        config.update(cli.profile.name, **{key: value or None})
    else:
        raise typer.BadParameter(f"unknown key {key!r}; known: {', '.join(KEYS)}, default_profile")
    config.save()
    emit(cli.json, {"profile": cli.profile.name, "key": key}, lambda: typer.echo(f"set {key}"))


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")

    @app.command(rich_help_panel="Identity")
    def login(
        ctx: typer.Context,
        server: Annotated[str, typer.Option(help="Daemon URL, e.g. ws://host:7700.")],
        token: Annotated[str, typer.Option(help="Your token (from your admin, or admin.token).")],
    ) -> None:
        """Check a token against a daemon and save both in the profile."""
        cli = state(ctx)
        checker = CliState(server_flag=server, token_flag=token, json=cli.json, timeout=cli.timeout)
        who: dict[str, Any] = checker.run(lambda c: c.call("auth", token=token), token=False)
        config = cli.config
        config.update(cli.profile.name, server=server, token=token, name=who["name"] or None)
        config.save()
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
        config.save()
        emit(
            cli.json,
            {"profile": cli.profile.name},
            lambda: typer.echo(f"logged out of {cli.profile.name!r}"),
        )
