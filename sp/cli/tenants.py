"""`flask tenant ...`, `flask group ...` and `flask user ...`."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import AppGroup

from .. import clock, tenancy, tenants, users
from .common import fail, on_off, refusals_exit_cleanly

tenant_cli = AppGroup("tenant", help="Create, change and list tenants.")
group_cli = AppGroup("group", help="Manage a tenant's user groups.")
user_cli = AppGroup("user", help="Inspect a tenant's users.")


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
        tenant, idp_initiated=on_off(idp_initiated), default_group=default_group, clock_skew=clock_skew,
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


@user_cli.command("set-group")
@click.argument("slug")
@click.argument("name_id")
@click.argument("group")
@refusals_exit_cleanly
def user_set_group(slug: str, name_id: str, group: str) -> None:
    """Move a user (by NameID) to a group, as an administrator would; e.g. to name the first tenant admin."""
    tenant = tenancy.find(slug)
    target = tenants.group_named(tenant, group)
    user = users.by_name_id(tenant.id, name_id)
    if target is None or user is None:
        fail(f"tenant {slug!r} has no {'group ' + repr(group) if target is None else 'user ' + repr(name_id)}")
    changed = users.change_group(user, target, actor="cli", by="cli", now=clock.utcnow())
    click.echo(f"{user.name_id} is {'now' if changed else 'already'} in group {target.name!r}")
