"""`flask idp ...`: a tenant's IdP metadata: import, roll back, status, refresh from a URL."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask.cli import AppGroup

from sp import clock
from sp.cli.common import fail, refusals_exit_cleanly
from sp.idp import refresh, versions
from sp.tenancy import tenants

idp_cli = AppGroup("idp", help="Import, roll back and watch tenants' IdP metadata.")


def _print_outcome(outcome: versions.Outcome, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), indent=2))
        return
    metadata = outcome.proposal.metadata
    click.echo(f"entity ID: {metadata.entity_id}")
    for binding, url in metadata.sso.items():
        click.echo(f"SSO {binding.rsplit(':', 1)[-1]}: {url}")
    for cert in metadata.certificates:
        click.echo(f"signing certificate SHA-256 {cert.sha256} expires {cert.not_after:%Y-%m-%d}")
    click.echo("changes:")
    for line in versions.describe(outcome.proposal.diff):
        click.echo(f"  {line}")
    for warning in outcome.proposal.warnings:
        click.echo(f"warning: {warning}", err=True)
    for note in outcome.notes:
        click.echo(f"note: {note}", err=True)
    if outcome.result == "dry_run":
        click.echo(
            "dry run: nothing was changed"
            + ("; run again without --dry-run to apply" if outcome.proposal.changed else "")
        )
    elif outcome.result == "applied":
        assert outcome.version is not None  # an import is applied as a new version
        click.echo(f"applied as version {outcome.version.number}")
    else:
        click.echo("unchanged: this is the configuration already in use")


@idp_cli.command("import")
@click.argument("slug")
@click.argument("source", metavar="[FILE]", type=click.File("rb"), required=False)
@click.option("--url", default=None, help="Fetch the metadata from URL, and keep refreshing it from there.")
@click.option(
    "--verify-cert",
    type=click.File("r"),
    default=None,
    help="With --url: PEM certificate(s) the metadata signature must verify with.",
)
@click.option("--entity-id", default=None, help="The IdP to pick from an EntitiesDescriptor aggregate.")
@click.option("--dry-run", is_flag=True, help="Check and show the diff; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@refusals_exit_cleanly
def idp_import(
    slug: str, source, url: str | None, verify_cert, entity_id: str | None, dry_run: bool, as_json: bool
) -> None:
    """Import the tenant's IdP metadata from FILE ('-' for stdin) or --url."""
    if (source is None) == (url is None):
        fail("give either a FILE ('-' for stdin) or --url, not both")
    if verify_cert is not None and url is None:
        fail("--verify-cert needs --url: it pins the certificate that signs the fetched metadata")
    tenant = tenants.find(slug)
    now = clock.utcnow()
    if url is not None:
        outcome = refresh.import_from_url(
            tenant,
            url,
            pinned_pem=verify_cert.read() if verify_cert else None,
            entity_id=entity_id,
            actor="cli",
            now=now,
            dry_run=dry_run,
        )
    else:
        outcome = versions.import_metadata(
            tenant, source, entity_id=entity_id, origin="cli", actor="cli", now=now, dry_run=dry_run
        )
    _print_outcome(outcome, as_json)


@idp_cli.command("rollback")
@click.argument("slug")
@refusals_exit_cleanly
def idp_rollback(slug: str) -> None:
    """Go back to the tenant's previous IdP metadata version."""
    version, change = versions.rollback(tenants.find(slug), actor="cli", now=clock.utcnow())
    for line in versions.describe(change):
        click.echo(f"  {line}")
    click.echo(
        f"restored version {version.number} (imported {version.created_at:%Y-%m-%d %H:%M} UTC by {version.actor})"
    )


@idp_cli.command("versions")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def idp_versions(slug: str, as_json: bool) -> None:
    """List the tenant's IdP metadata versions, newest first."""
    rows: list[dict[str, Any]] = [
        {
            "version": v.number,
            "state": v.state,
            "entity_id": v.entity_id,
            "source": v.source,
            "actor": v.actor,
            "created_at": v.created_at.isoformat(),
            "certificates": [c["sha256"] for c in v.summary["certificates"]],
        }
        for v in versions.versions(tenants.find(slug))
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(
            f"{row['version']:>4} {row['state']:<12} {row['created_at'][:16]} {row['source']:<8} "
            f"{row['actor']:<20} {row['entity_id']}"
        )


def _print_status(row: dict[str, Any]) -> None:
    click.echo(
        f"{row['tenant']}: "
        + (f"{row['entity_id']} (version {row['version']}, from {row['source']})" if row["configured"] else "no IdP")
    )
    for cert in row["certificates"]:
        click.echo(
            f"  certificate {cert['sha256'][:23]}... {cert['subject']} expires {cert['not_after'][:10]} "
            f"({cert['days_left']} days)"
        )
    if row["url"]:
        url = row["url"]
        click.echo(
            f"  refreshed from {url['url']}{' (signature pinned)' if url['signature_pinned'] else ''}: "
            f"last {url['last_result'] or '-'} at {(url['last_fetch_at'] or '-')[:16]}, "
            f"next {url['next_refresh_at'][:16]}"
        )
    for warning in row["warnings"]:
        click.echo(f"  warning: {warning}")


@idp_cli.command("status")
@click.argument("slug", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def idp_status(slug: str | None, as_json: bool) -> None:
    """Show each tenant's IdP certificates with expiry, the URL refresh, and warnings."""
    rows = versions.status(clock.utcnow(), [tenants.find(slug)] if slug else None)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        _print_status(row)


@idp_cli.command("refresh")
@click.argument("slug", required=False)
@click.option("--all", "all_due", is_flag=True, help="Every tenant whose metadata is due (for cron or a timer).")
@click.option("--force", is_flag=True, help="With --all: refresh every URL-fed tenant, due or not.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def idp_refresh_command(slug: str | None, all_due: bool, force: bool, as_json: bool) -> None:
    """Fetch metadata again from its URL; exits 1 when any refresh failed (the old config stays)."""
    if bool(slug) == all_due:
        fail("give a tenant SLUG or --all")
    now = clock.utcnow()
    if slug:
        results = [refresh.refresh(tenants.find(slug), now, actor="cli")]
    else:
        results = refresh.refresh_due(now, force=force)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        if not results:
            click.echo("no tenant's metadata is due for a refresh")
        for result in results:
            click.echo(f"{result.tenant}: {result.result}: {result.message}", err=result.result == "failed")
            for line in result.changes:
                click.echo(f"  {line}")
            for warning in result.warnings:
                click.echo(f"  warning: {warning}")
    if any(r.result == "failed" for r in results):
        sys.exit(1)


@idp_cli.command("unlink-url")
@click.argument("slug")
@refusals_exit_cleanly
def idp_unlink_url(slug: str) -> None:
    """Stop refreshing the tenant's metadata from its URL; the configuration in use stays."""
    url = refresh.unlink(tenants.find(slug), actor="cli", now=clock.utcnow())
    click.echo(f"no longer refreshing from {url}")
