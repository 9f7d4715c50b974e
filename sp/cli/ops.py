"""`flask ops ...`: our operators' accounts (and other operator tooling)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import clock
from ..ops import accounts, totp
from .common import fail, refusals_exit_cleanly

ops_cli = AppGroup("ops", help="Operator accounts for the ops console (/ops).")


@ops_cli.command("create-user")
@click.argument("name")
@click.option("--totp", "with_totp", is_flag=True, help="Require a one-time code from an authenticator app too.")
@click.password_option(help="The password (prompted for, twice, when not given).",
                       prompt_required=True, confirmation_prompt=True)
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
