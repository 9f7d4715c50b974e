"""`flask trace ...`: read login traces from a shell, and purge old ones."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from sp import clock
from sp.cli.common import fail, refusals_exit_cleanly
from sp.records import traces
from sp.signin import housekeeping
from sp.tenancy import tenants

trace_cli = AppGroup("trace", help="Read login traces (every ACS and SLS attempt) and purge old ones.")


def _line(row: dict) -> str:
    return (
        f"{row['ref']}  {row['time'][:19].replace('T', ' ')}  {row['kind']:<6} {row['flow']:<4} {row['result']:<8} "
        f"{row['code']:<28} {row['name_id'] or '-'}"
    )


@trace_cli.command("list")
@click.argument("slug")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def trace_list(slug: str, limit: int, as_json: bool) -> None:
    """List a tenant's login traces, newest first."""
    tenant = tenants.find(slug)
    rows = [traces.as_json(t, tenant.slug) for t in traces.search(tenant_id=tenant.id, limit=limit)]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        click.echo(_line(row))


@trace_cli.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def trace_show(ref: str, as_json: bool) -> None:
    """Show one trace by the reference the user's error page gave."""
    found = traces.find(ref)
    if found is None:
        fail(f"no login trace has the reference {ref[:40]!r}")
    row = traces.as_json(found)
    if as_json:
        click.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    for key in (
        "ref",
        "tenant",
        "time",
        "kind",
        "flow",
        "result",
        "code",
        "reason",
        "idp_entity_id",
        "name_id",
        "clock_difference_seconds",
        "verifying_certificate",
        "group_decision",
    ):
        click.echo(f"{key + ':':<26} {row[key] if row[key] is not None else '-'}")
    click.echo("attributes:")
    for name, values in row["attributes"].items():
        click.echo(f"  {name}: {', '.join(values)}")


@trace_cli.command("purge")
def trace_purge() -> None:
    """Delete traces older than TRACE_RETENTION_DAYS (also done by `flask saml purge`)."""
    days = current_app.config["TRACE_RETENTION_DAYS"]
    gone = housekeeping.purge_traces(clock.utcnow(), days)
    click.echo(f"purged {gone} login traces older than {days} days")
