"""The `flask --app wsgi ...` commands ops scripts depend on. Names are a public interface."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click
from flask import Flask
from flask.cli import AppGroup

from . import clock, errors, tenancy, tenants
from .saml import idp_metadata, replay, request_store
from .extensions import db


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def refusals_exit_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refusal into a one-line message and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except errors.SPError as error:
            db.session.rollback()
            _fail(error.reason)

    return wrapper


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


tenant_cli = AppGroup("tenant", help="Create, change and list tenants.")
group_cli = AppGroup("group", help="Manage a tenant's user groups.")
idp_cli = AppGroup("idp", help="Import and inspect tenants' IdP metadata.")
user_cli = AppGroup("user", help="Inspect a tenant's users.")
saml_cli = AppGroup("saml", help="SAML housekeeping.")


@tenant_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The organisation's display name.")
@click.option("--domain", "domains", multiple=True, help="An email domain of the organisation (repeatable).")
@click.option("--default-group", default=None, help='Name of the default group (default: "No access").')
@refusals_exit_cleanly
def tenant_create(slug: str, name: str, domains: tuple[str, ...], default_group: str | None) -> None:
    """Create a tenant and its default group."""
    tenant = tenants.create_tenant(slug, name, list(domains), default_group)
    click.echo(f"created tenant {tenant.slug} ({tenant.name}); default group: {tenant.default_group.name}")


@tenant_cli.command("set")
@click.argument("slug")
@click.option("--idp-initiated", type=click.Choice(["on", "off"]), default=None, help="Accept unsolicited responses.")
@click.option("--default-group", default=None, help="The group new users join.")
@click.option("--clock-skew", type=int, default=None, help="Seconds of clock difference tolerated (0-300).")
@click.option("--domain", "domains", multiple=True, help="Replace the email domains (repeatable).")
@refusals_exit_cleanly
def tenant_set(slug: str, idp_initiated: str | None, default_group: str | None, clock_skew: int | None,
               domains: tuple[str, ...]) -> None:
    """Change a tenant's SSO settings (running instances pick them up at once)."""
    tenant = tenancy.find(slug)
    tenants.update_settings(
        tenant, idp_initiated=_on_off(idp_initiated), default_group=default_group, clock_skew=clock_skew,
        domains=list(domains) if domains else None,
    )
    click.echo(json.dumps(_tenant_json(tenant), indent=2))


def _tenant_json(tenant) -> dict[str, Any]:
    idp = tenant.identity_provider
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "domains": [d.domain for d in tenant.domains],
        "idp_initiated": tenant.idp_initiated,
        "clock_skew_seconds": tenant.clock_skew_seconds,
        "default_group": tenant.default_group.name if tenant.default_group else None,
        "idp_entity_id": idp.entity_id if idp else None,
    }


@tenant_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tenant_list(as_json: bool) -> None:
    """List tenants."""
    rows = [_tenant_json(t) for t in tenants.all_tenants()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['slug']:<20} {row['name']:<30} idp={row['idp_entity_id'] or '-'} "
                   f"domains={','.join(row['domains']) or '-'}")


@group_cli.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--permission", "permissions", multiple=True, help="A permission of the group (repeatable).")
@refusals_exit_cleanly
def group_create(slug: str, name: str, permissions: tuple[str, ...]) -> None:
    """Create a user group in a tenant."""
    group = tenants.create_group(tenancy.find(slug), name, list(permissions))
    click.echo(f"created group {group.name!r} with permissions: {', '.join(group.permissions) or '(none)'}")


@idp_cli.command("import")
@click.argument("slug")
@click.argument("source", type=click.File("rb"))
@click.option("--entity-id", default=None, help="The IdP to pick from an EntitiesDescriptor aggregate.")
@refusals_exit_cleanly
def idp_import(slug: str, source, entity_id: str | None) -> None:
    """Import the tenant's IdP metadata from FILE ('-' for stdin)."""
    tenant = tenancy.find(slug)
    data = source.read(idp_metadata.MAX_BYTES + 1)
    now = clock.utcnow()
    metadata = idp_metadata.read(data, entity_id=entity_id, now=now)
    for other in tenants.other_tenants_with_entity_id(tenant, metadata.entity_id):
        metadata.warnings.append(f"the entity ID is already used by tenant {other!r}")
    tenants.apply_idp_metadata(tenant, metadata, data.decode("utf-8", "replace"), now)
    click.echo(f"entity ID: {metadata.entity_id}")
    for binding, url in metadata.sso.items():
        click.echo(f"SSO {binding.rsplit(':', 1)[-1]}: {url}")
    for cert in metadata.certificates:
        click.echo(f"signing certificate SHA-256 {cert.sha256} expires {cert.not_after:%Y-%m-%d}")
    for warning in metadata.warnings:
        click.echo(f"warning: {warning}", err=True)


@user_cli.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def user_list(slug: str, as_json: bool) -> None:
    """List a tenant's users."""
    rows = [
        {
            "name_id": u.name_id,
            "email": u.email,
            "display_name": u.display_name,
            "group": u.group.name,
            "active": u.active,
            "source": u.source,
        }
        for u in tenants.users(tenancy.find(slug))
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        click.echo(f"{row['name_id']:<40} {row['group']:<20} {'active' if row['active'] else 'inactive'}")


@saml_cli.command("purge")
def saml_purge() -> None:
    """Delete expired AuthnRequest state and replay-cache entries (safe to run from cron)."""
    now = clock.utcnow()
    requests_gone, replays_gone = request_store.purge(now), replay.purge(now)
    db.session.commit()
    click.echo(f"purged {requests_gone} expired requests and {replays_gone} expired replay entries")


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    for group in (tenant_cli, group_cli, idp_cli, user_cli, saml_cli):
        app.cli.add_command(group)
