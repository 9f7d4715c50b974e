"""`flask ops ...`: our operators' accounts and the ops API tokens."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from sp import clock
from sp.cli.common import fail, refusals_exit_cleanly
from sp.operators import accounts, tokens, totp

ops_cli = AppGroup("ops", help="Operator accounts for the ops console (/ops) and ops API tokens.")
token_cli = AppGroup("token", help="Ops API tokens (for PUT /api/ops/tenants/SLUG/idp and friends).")
ops_cli.add_command(token_cli)


@token_cli.command("create")
@click.argument("name")
@refusals_exit_cleanly
def token_create(name: str) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    _, token = tokens.create(name, clock.utcnow())
    click.echo(token)
    click.echo(f"created token {name!r}; it is shown only now. Send it as 'Authorization: Bearer <token>'.", err=True)


@token_cli.command("list")
def token_list() -> None:
    """List API tokens (names and dates, never the tokens)."""
    for row in tokens.all_tokens():
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.name:<30} created {row.created_at:%Y-%m-%d %H:%M}  last used {used:<16}  {state}")


@token_cli.command("revoke")
@click.argument("name")
@refusals_exit_cleanly
def token_revoke(name: str) -> None:
    """Revoke an API token at once."""
    tokens.revoke(name, clock.utcnow())
    click.echo(f"revoked token {name!r}")


@ops_cli.command("create-user")
@click.argument("name")
@click.option("--totp", "with_totp", is_flag=True, help="Require a one-time code from an authenticator app too.")
@click.password_option(
    help="The password (prompted for, twice, when not given).", prompt_required=True, confirmation_prompt=True
)
@refusals_exit_cleanly
def create_user(name: str, with_totp: bool, password: str) -> None:
    """Create an operator who signs in to /ops with NAME and a password (12+ characters)."""
    user, secret = accounts.create(name, password, with_totp=with_totp, now=clock.utcnow())
    click.echo(f"created operator {user.name}")
    if secret:
        click.echo(f"TOTP secret: {secret}")
        click.echo(f"add it to an authenticator app: {totp.provisioning_uri(secret, user.name)}")


@ops_cli.command("unlock")
@click.argument("name")
@refusals_exit_cleanly
def unlock(name: str) -> None:
    """Unlock an operator locked out after repeated failed sign-ins."""
    user = accounts.named(name)
    if user is None:
        fail(f"no operator named {name!r}")
    accounts.unlock(user, now=clock.utcnow())
    click.echo(f"unlocked operator {user.name}")
