"""`flask saml ...`: SAML housekeeping."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from sp import clock
from sp.signin import housekeeping

saml_cli = AppGroup("saml", help="SAML housekeeping.")


@saml_cli.command("purge")
def saml_purge() -> None:
    """Delete expired AuthnRequest state, replay-cache entries and old login traces (safe to run from cron)."""
    done = housekeeping.purge(clock.utcnow(), current_app.config["TRACE_RETENTION_DAYS"])
    click.echo(
        f"purged {done.requests} expired requests, {done.replay_entries} expired replay entries "
        f"and {done.traces} old login traces"
    )
