"""`flask ops ...`: things for the operators themselves (API tokens)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import clock, ops_tokens
from .common import refusals_exit_cleanly

ops_cli = AppGroup("ops", help="Operator credentials.")
token_cli = AppGroup("token", help="Ops API tokens (for PUT /api/ops/tenants/SLUG/idp and friends).")
ops_cli.add_command(token_cli)


@token_cli.command("create")
@click.argument("name")
@refusals_exit_cleanly
def token_create(name: str) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    _, token = ops_tokens.create(name, clock.utcnow())
    click.echo(token)
    click.echo(f"created token {name!r}; it is shown only now. Send it as 'Authorization: Bearer <token>'.", err=True)


@token_cli.command("list")
def token_list() -> None:
    """List API tokens (names and dates, never the tokens)."""
    for row in ops_tokens.all_tokens():
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.name:<30} created {row.created_at:%Y-%m-%d %H:%M}  last used {used:<16}  {state}")


@token_cli.command("revoke")
@click.argument("name")
@refusals_exit_cleanly
def token_revoke(name: str) -> None:
    """Revoke an API token at once."""
    ops_tokens.revoke(name, clock.utcnow())
    click.echo(f"revoked token {name!r}")
