"""``cmpc token``: issue, list and revoke tokens (admin)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from .context import state
from .output import clock_time, emit, table
from .units import parse_ttl

__all__ = ["app"]

app = typer.Typer(help="Issue, list and revoke tokens (admin only).", no_args_is_help=True)


@app.command("issue")
def issue(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option(help="Who the token is for (a new user).")] = None,
    role: Annotated[Literal["host", "admin"], typer.Option(help="host or admin.")] = "host",
    ttl: Annotated[str, typer.Option(help="Lifetime: 3600, 30m, 12h, 7d, 2w.")] = "30d",
    user: Annotated[
        int | None,
        typer.Option(help="A new token for this existing user id (see 'token list')."),
    ] = None,
) -> None:
    """Issue a host (or admin) token and print it.

    --name makes a new user; --user gives an existing host a fresh token, so
    that they keep hosting their sessions when their old token expires.
    """
    if (name is None) == (user is None):
        raise typer.BadParameter("give --name (a new user) or --user (an existing one)")
    ttl_s = parse_ttl(ttl)
    cli = state(ctx)
    who: dict[str, Any] = {"name": name} if user is None else {"user": user}
    issued: dict[str, Any] = cli.run(lambda c: c.call("token_issue", role=role, ttl_s=ttl_s, **who))

    def human() -> None:
        typer.echo(issued["token"])
        typer.echo(
            f"{issued['role']} token for {issued['name']} (id {issued['jti']}), "
            f"expires {clock_time(issued['expires_at_ms'])}",
            err=True,
        )

    emit(cli.json, issued, human)


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """List every token with its state."""
    cli = state(ctx)
    found: dict[str, Any] = cli.run(lambda c: c.call("token_list"))

    def human() -> None:
        rows = [
            (
                t["jti"],
                t["name"],
                t["role"],
                t["session"] or "",
                clock_time(t["expires_at_ms"]),
                "revoked" if t["revoked_at_ms"] else "",
            )
            for t in found["tokens"]
        ]
        table(None, ["id", "name", "role", "session", "expires", "state"], rows)

    emit(cli.json, found, human)


@app.command("revoke")
def revoke(
    ctx: typer.Context, token_id: Annotated[str, typer.Argument(help="The token's id.")]
) -> None:
    """Revoke a token: it stops working at once."""
    cli = state(ctx)
    result: dict[str, Any] = cli.run(lambda c: c.call("token_revoke", jti=token_id))
    already = " (it was already)" if result.get("already_revoked") else ""
    emit(cli.json, result, lambda: typer.echo(f"revoked {token_id}{already}"))
