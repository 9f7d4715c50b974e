"""`flask saml ...`: SAML housekeeping."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from sp import clock
from sp.cli.traces import purge_old
from sp.extensions import db
from sp.signin import outstanding, replay

saml_cli = AppGroup("saml", help="SAML housekeeping.")


@saml_cli.command("purge")
def saml_purge() -> None:
    """Delete expired AuthnRequest state, replay-cache entries and old login traces (safe to run from cron)."""
    now = clock.utcnow()
    requests_gone, replays_gone, traces_gone = outstanding.purge(now), replay.purge(now), purge_old(now)
    db.session.commit()
    click.echo(f"purged {requests_gone} expired requests, {replays_gone} expired replay entries "
               f"and {traces_gone} old login traces")
