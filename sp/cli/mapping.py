"""`flask mapping ...`: a tenant's attribute-to-group mapping rules, and a preview of them."""

from __future__ import annotations

import json

import click
from flask.cli import AppGroup

from sp.cli.common import refusals_exit_cleanly
from sp.tenancy import group_mapping, group_policy, tenants

mapping_cli = AppGroup("mapping", help="Map directory attributes to user groups.")


def _print_notes(tenant) -> None:
    for note in group_policy.notes(tenant):
        click.echo(f"note: {note}", err=True)


@mapping_cli.command("add")
@click.argument("slug")
@click.argument("attribute")
@click.argument("value")
@click.argument("group")
@click.option(
    "--match",
    "match",
    type=click.Choice(group_mapping.MATCH_KINDS),
    default="equals",
    show_default=True,
    help="equals / iequals (case-insensitive) / contains / regex (RE2, must match the whole value).",
)
@click.option("--priority", type=int, default=None, help="Lower runs first (default: after the last rule).")
@refusals_exit_cleanly
def mapping_add(slug: str, attribute: str, value: str, group: str, match: str, priority: int | None) -> None:
    """Add a rule: when ATTRIBUTE (@role: the role attribute) matches VALUE, the user's group is GROUP."""
    tenant = tenants.find(slug)
    rule = group_policy.add_rule(tenant, attribute, value, group, match=match, priority=priority)
    click.echo(
        f"added rule #{rule.id} (priority {rule.priority}): "
        f"{rule.attribute or group_mapping.ROLE} {rule.match} {rule.value!r} -> {rule.group.name}"
    )
    _print_notes(tenant)


@mapping_cli.command("list")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def mapping_list(slug: str, as_json: bool) -> None:
    """List the tenant's rules in the order they are tried."""
    tenant = tenants.find(slug)
    rows = [group_policy.rule_json(r) for r in group_policy.rules(tenant)]
    if as_json:
        click.echo(json.dumps({**group_policy.settings_snapshot(tenant), "rules": rows}, indent=2))
        return
    click.echo(
        f"role attribute(s): {', '.join(tenant.role_attributes or []) or '-'}; "
        f"group sync: {tenant.group_sync}; on no match: {tenant.on_no_match}"
    )
    for row in rows:
        click.echo(
            f"#{row['id']:<5} priority={row['priority']:<6} {row['attribute']} {row['match']} "
            f"{row['value']!r} -> {row['group']}"
        )
    if not rows:
        click.echo("no rules")
    _print_notes(tenant)


@mapping_cli.command("remove")
@click.argument("slug")
@click.argument("rule_id", type=int)
@refusals_exit_cleanly
def mapping_remove(slug: str, rule_id: int) -> None:
    """Remove a rule by its number."""
    group_policy.remove_rule(tenants.find(slug), rule_id)
    click.echo(f"removed rule #{rule_id}")


@mapping_cli.command("test")
@click.argument("slug")
@click.option(
    "--attr",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="An attribute value the IdP would send (repeat a name for several values).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@refusals_exit_cleanly
def mapping_test(slug: str, pairs: tuple[str, ...], as_json: bool) -> None:
    """Show which group these attributes give and which rule fires, as if the rules were live."""
    tenant = tenants.find(slug)
    result = group_policy.preview(tenant, group_policy.parse_attribute_pairs(pairs))
    if as_json:
        click.echo(json.dumps(result.as_json(), indent=2))
        return
    if result.refused:
        click.echo("group: none, the login would be refused (on-no-match deny)")
    else:
        click.echo(f"group: {result.group}" + ("" if result.decision.rule else " (the default group)"))
    rule = result.decision.rule
    if rule is not None:
        click.echo(f"rule: {rule.describe()} (priority {rule.priority})")
        click.echo(f"matched: {result.decision.matched_attribute}={result.decision.matched_value!r}")
    else:
        click.echo("rule: none")
        click.echo(f"why: {result.explanation}")
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
