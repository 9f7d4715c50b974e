"""`flask tenant ...`, `flask group ...` and `flask user ...`."""

from __future__ import annotations

import json
from typing import Any

import click
from flask.cli import AppGroup

from sp import clock, errors
from sp.cli.common import fail, on_off, refusals_exit_cleanly
from sp.tenancy import group_policy, groups, tenants, users

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
    assert tenant.default_group is not None  # create_tenant made it
    click.echo(f"created tenant {tenant.slug} ({tenant.name}); default group: {tenant.default_group.name}")


@tenant_cli.command("set")
@click.argument("slug")
@click.option("--idp-initiated", type=click.Choice(["on", "off"]), default=None, help="Accept unsolicited responses.")
@click.option(
    "--single-logout",
    type=click.Choice(["on", "off"]),
    default=None,
    help="Sign-out also ends the session at the IdP (when its metadata lists a SingleLogoutService).",
)
@click.option("--default-group", default=None, help="The group new users join.")
@click.option("--clock-skew", type=int, default=None, help="Seconds of clock difference tolerated (0-300).")
@click.option("--domain", "domains", multiple=True, help="Replace the email domains (repeatable).")
@click.option(
    "--role-attribute",
    "role_attributes",
    multiple=True,
    help="Replace the attribute(s) carrying the user's roles, by Name or FriendlyName (repeatable).",
)
@click.option("--no-role-attribute", is_flag=True, help="Clear the role attributes.")
@click.option(
    "--group-sync",
    type=click.Choice(group_policy.SYNC_POLICIES),
    default=None,
    help="When the mapping rules pick the group: never, at the user's first login, or at every login.",
)
@click.option(
    "--on-no-match",
    type=click.Choice(group_policy.ON_NO_MATCH),
    default=None,
    help="When no rule matches: the default group, or refuse the login.",
)
@click.option(
    "--email-attribute",
    default=None,
    help="The attribute carrying the user's email ('' for the usual names: email, mail, the claim URIs...).",
)
@click.option(
    "--name-attribute",
    default=None,
    help="The attribute carrying the display name ('' for the usual names: displayName, given + surname...).",
)
@refusals_exit_cleanly
def tenant_set(
    slug: str,
    idp_initiated: str | None,
    single_logout: str | None,
    default_group: str | None,
    clock_skew: int | None,
    domains: tuple[str, ...],
    role_attributes: tuple[str, ...],
    no_role_attribute: bool,
    group_sync: str | None,
    on_no_match: str | None,
    email_attribute: str | None,
    name_attribute: str | None,
) -> None:
    """Change a tenant's SSO settings (running instances pick them up at once)."""
    tenant = tenants.find(slug)
    if no_role_attribute and role_attributes:
        raise errors.InvalidGroupPolicy("give --role-attribute or --no-role-attribute, not both")
    tenants.update_settings(
        tenant,
        idp_initiated=on_off(idp_initiated),
        default_group=default_group,
        clock_skew=clock_skew,
        domains=list(domains) if domains else None,
        role_attributes=[] if no_role_attribute else (list(role_attributes) if role_attributes else None),
        group_sync=group_sync,
        on_no_match=on_no_match,
        email_attribute=email_attribute,
        name_attribute=name_attribute,
        single_logout=on_off(single_logout),
    )
    click.echo(json.dumps(_tenant_json(tenant), indent=2))
    for note in group_policy.notes(tenant):
        click.echo(f"note: {note}", err=True)


def _tenant_json(tenant) -> dict[str, Any]:
    idp = tenant.identity_provider
    return {
        "slug": tenant.slug,
        "name": tenant.name,
        "domains": [d.domain for d in tenant.domains],
        "idp_initiated": tenant.idp_initiated,
        "single_logout": tenant.single_logout,
        # What sign-out does: the setting, and whether the IdP's metadata lists somewhere to send it.
        "single_logout_active": bool(tenant.single_logout and idp and (idp.slo_redirect_url or idp.slo_post_url)),
        "clock_skew_seconds": tenant.clock_skew_seconds,
        "default_group": tenant.default_group.name if tenant.default_group else None,
        "email_attribute": tenant.email_attribute,
        "name_attribute": tenant.name_attribute,
        **group_policy.settings_snapshot(tenant),
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
        click.echo(
            f"{row['slug']:<20} {row['name']:<30} idp={row['idp_entity_id'] or '-'} "
            f"domains={','.join(row['domains']) or '-'}"
        )


@group_cli.command("create")
@click.argument("slug")
@click.argument("name")
@click.option("--permission", "permissions", multiple=True, help="A permission of the group (repeatable).")
@refusals_exit_cleanly
def group_create(slug: str, name: str, permissions: tuple[str, ...]) -> None:
    """Create a user group in a tenant."""
    group = groups.add(tenants.find(slug), name, list(permissions))
    click.echo(f"created group {group.name!r} with permissions: {', '.join(group.permissions) or '(none)'}")


@group_cli.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def group_list(slug: str, as_json: bool) -> None:
    """List a tenant's groups: permissions, how many users hold each and how many rules give it."""
    rows = groups.listing(tenants.find(slug))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        flag = " (default)" if row["default"] else ""
        click.echo(
            f"{row['name'] + flag:<30} users={row['users']:<5} rules={row['rules']:<4} "
            f"permissions={','.join(row['permissions']) or '-'}"
        )


@group_cli.command("delete")
@click.argument("slug")
@click.argument("name")
@click.option("--move-users-to-default", is_flag=True, help="Move the group's users to the default group.")
@refusals_exit_cleanly
def group_delete(slug: str, name: str, move_users_to_default: bool) -> None:
    """Delete a group; refused while users hold it, unless they may move to the default group."""
    tenant = tenants.find(slug)
    moved = groups.delete(tenant, name, move_users_to_default=move_users_to_default)
    message = f"deleted group {name!r}"
    if moved:
        default = tenant.default_group
        assert default is not None  # every tenant is created with its default group
        message += f"; moved {moved} user(s) to {default.name!r}"
    click.echo(message)


@user_cli.command("set-group")
@click.argument("slug")
@click.argument("name_id")
@click.argument("group")
@click.option("--by", "admin", default="cli", show_default=True, help="The admin making the change, as recorded.")
@refusals_exit_cleanly
def user_set_group(slug: str, name_id: str, group: str, admin: str) -> None:
    """Move a user to a group by hand (recorded as an admin assignment), e.g. to name the first tenant admin."""
    tenant = tenants.find(slug)
    user = users.named(tenant, name_id)
    target = groups.named_or_none(tenant, group)
    if target is None:
        fail(f"tenant {slug!r} has no group {group!r}")
        return
    changed = users.change_group(user, target, actor="cli", by=admin, now=clock.utcnow())
    click.echo(f"{user.name_id}: group {user.group.name!r}" + ("" if changed else " (unchanged)"))
    notice = group_policy.admin_notice(tenant)
    if notice:
        click.echo(f"note: {notice}", err=True)


@user_cli.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def user_list(slug: str, as_json: bool) -> None:
    """List a tenant's users."""
    rows: list[dict[str, Any]] = [
        {
            "name_id": u.name_id,
            "email": u.email,
            "display_name": u.display_name,
            "group": u.group.name,
            "group_source": u.group_source,
            "group_detail": u.group_detail,
            "active": u.active,
            "source": u.source,
        }
        for u in users.all_of(tenants.find(slug))
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        why = row["group_source"] + (f" ({row['group_detail']})" if row["group_detail"] else "")
        click.echo(f"{row['name_id']:<40} {row['group']:<20} {'active' if row['active'] else 'inactive':<8} {why}")
