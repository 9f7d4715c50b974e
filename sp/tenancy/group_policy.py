"""Group policy: which group a user holds, who decided it and why; one service for CLI and consoles.

The tenant names its role attribute(s), orders its mapping rules and chooses when they run
(`group_sync`): never (admins assign by hand), first-login (the rules pick at creation, admins
own it afterwards) or every-login (the directory is the source of truth). The pure evaluation is
in group_mapping; this module loads and validates rules, applies the outcome to users, and records
every change of group in the audit log with its reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from sp import errors
from sp.clock import utcnow
from sp.extensions import db
from sp.models import MappingRule, Tenant, User, UserGroup
from sp.records import audit
from sp.tenancy import group_mapping, groups, users

SYNC_POLICIES = ("never", "first-login", "every-login")
ON_NO_MATCH = ("default", "deny")
MAX_RULES = 100
MAX_ROLE_ATTRIBUTES = 10
MAX_ATTRIBUTE_NAME = 255
MAX_PRIORITY = 1_000_000
PRIORITY_STEP = 10


# --- Settings ---------------------------------------------------------------------------


def apply_settings(
    tenant: Tenant,
    *,
    role_attributes: Sequence[str] | None = None,
    group_sync: str | None = None,
    on_no_match: str | None = None,
) -> None:
    """Validate and set the tenant's group policy settings; the caller audits and commits."""
    if role_attributes is not None:
        names = list(dict.fromkeys(name.strip() for name in role_attributes))
        if any(not name or len(name) > MAX_ATTRIBUTE_NAME for name in names):
            raise errors.InvalidGroupPolicy(f"a role attribute name is 1 to {MAX_ATTRIBUTE_NAME} characters")
        if len(names) > MAX_ROLE_ATTRIBUTES:
            raise errors.InvalidGroupPolicy(f"a tenant names at most {MAX_ROLE_ATTRIBUTES} role attributes")
        if group_mapping.ROLE in names:
            raise errors.InvalidGroupPolicy(f"{group_mapping.ROLE!r} is not an attribute name")
        tenant.role_attributes = names
    if group_sync is not None:
        if group_sync not in SYNC_POLICIES:
            raise errors.InvalidGroupPolicy(f"group sync is one of {', '.join(SYNC_POLICIES)}, not {group_sync!r}")
        tenant.group_sync = group_sync
    if on_no_match is not None:
        if on_no_match not in ON_NO_MATCH:
            raise errors.InvalidGroupPolicy(f"on-no-match is one of {', '.join(ON_NO_MATCH)}, not {on_no_match!r}")
        tenant.on_no_match = on_no_match


def settings_snapshot(tenant: Tenant) -> dict:
    """The tenant's group policy settings as plain values, for audit diffs and JSON."""
    return {
        "role_attributes": list(tenant.role_attributes or []),
        "group_sync": tenant.group_sync,
        "on_no_match": tenant.on_no_match,
    }


def notes(tenant: Tenant) -> list[str]:
    """What an operator should know about the tenant's group policy as it stands."""
    found: list[str] = []
    existing = rules(tenant)
    has_rules = bool(existing)
    if tenant.group_sync == "never" and has_rules:
        found.append("group-sync is never: the mapping rules do not run until it is first-login or every-login")
    if tenant.group_sync == "never" and tenant.on_no_match == "deny":
        found.append("on-no-match deny has no effect while group-sync is never")
    if tenant.group_sync != "never" and tenant.on_no_match == "deny" and not has_rules:
        found.append("on-no-match is deny and there are no rules: every login that runs the rules is refused")
    if not tenant.role_attributes and any(r.attribute is None for r in existing):
        found.append(
            f"no role attribute is set: rules on {group_mapping.ROLE} match nothing (tenant set --role-attribute)"
        )
    return found


def admin_notice(tenant: Tenant) -> str | None:
    """What an admin changing a user's group by hand must be told, if anything."""
    if tenant.group_sync == "every-login":
        return (
            "Groups follow the directory at every sign-in (group sync: every-login): "
            "a change made here lasts until the user's next sign-in."
        )
    return None


# --- Rules ------------------------------------------------------------------------------


def rules(tenant: Tenant) -> list[MappingRule]:
    """The tenant's rules in the order they are tried."""
    return list(
        db.session.scalars(
            select(MappingRule).where(MappingRule.tenant_id == tenant.id).order_by(MappingRule.priority, MappingRule.id)
        )
    )


def as_rule(row: MappingRule) -> group_mapping.Rule:
    return group_mapping.Rule(
        id=row.id,
        priority=row.priority,
        attribute=row.attribute,
        match=row.match,
        value=row.value,
        group_id=row.group_id,
    )


def add_rule(
    tenant: Tenant,
    attribute: str,
    value: str,
    group: str,
    *,
    match: str = "equals",
    priority: int | None = None,
    actor: str = "cli",
    now: datetime | None = None,
) -> MappingRule:
    """Add a mapping rule after checking the pattern is safe to run; `@role` means the role attribute(s)."""
    attribute = attribute.strip()
    if not attribute or len(attribute) > MAX_ATTRIBUTE_NAME:
        raise errors.InvalidGroupPolicy(
            f"the attribute name is 1 to {MAX_ATTRIBUTE_NAME} characters ({group_mapping.ROLE} for the role attribute)",
            field="attribute",
        )
    value = value.strip()
    try:
        group_mapping.check_pattern(match, value)
    except group_mapping.PatternError as error:
        field = "value" if match in group_mapping.MATCH_KINDS else "match"
        raise errors.InvalidGroupPolicy(f"refused pattern {value[:80]!r}: {error}", field=field) from None
    if priority is not None and not 0 <= priority <= MAX_PRIORITY:
        raise errors.InvalidGroupPolicy(f"the priority is between 0 and {MAX_PRIORITY}", field="priority")
    target = groups.named(tenant, group)
    existing = rules(tenant)
    if len(existing) >= MAX_RULES:
        raise errors.InvalidGroupPolicy(
            f"tenant {tenant.slug!r} already has {MAX_RULES} rules, the most we run at a login"
        )
    if priority is None:
        priority = min(MAX_PRIORITY, max((r.priority for r in existing), default=0) + PRIORITY_STEP)
    now = now or utcnow()
    row = MappingRule(
        tenant_id=tenant.id,
        priority=priority,
        match=match,
        value=value,
        group_id=target.id,
        attribute=None if attribute == group_mapping.ROLE else attribute,
        created_at=now,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "mapping.rule_added",
        actor=actor,
        tenant_id=tenant.id,
        target=f"rule #{row.id}",
        now=now,
        details=rule_json(row),
    )
    db.session.commit()
    return row


def remove_rule(tenant: Tenant, rule_id: int, *, actor: str = "cli", now: datetime | None = None) -> MappingRule:
    """Remove one of the tenant's rules."""
    row = db.session.get(MappingRule, rule_id)
    if row is None or row.tenant_id != tenant.id:
        raise errors.GroupPolicyNotFound(f"tenant {tenant.slug!r} has no rule #{rule_id}")
    details = rule_json(row)
    db.session.delete(row)
    audit.record(
        "mapping.rule_removed", actor=actor, tenant_id=tenant.id, target=f"rule #{rule_id}", now=now, details=details
    )
    db.session.commit()
    return row


def rule_json(row: MappingRule) -> dict:
    """A rule as plain values (what `mapping list --json` prints)."""
    return {
        "id": row.id,
        "priority": row.priority,
        "attribute": row.attribute or group_mapping.ROLE,
        "match": row.match,
        "value": row.value,
        "group": row.group.name if row.group else None,
    }


# --- Evaluation -------------------------------------------------------------------------


def decide(tenant: Tenant, attributes: Mapping[str, Sequence[str]]) -> group_mapping.Decision:
    """What the tenant's rules make of these attributes, whatever the sync policy."""
    default_group_id = tenant.default_group_id
    assert default_group_id is not None  # every tenant is created with its default group
    return group_mapping.evaluate(
        attributes, [as_rule(r) for r in rules(tenant)], list(tenant.role_attributes or []), default_group_id
    )


@dataclass
class Preview:
    """The outcome of a set of attributes, for an admin trying rules before they go live."""

    decision: group_mapping.Decision
    group: str
    refused: bool
    explanation: str
    group_sync: str
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        rule = self.decision.rule
        return {
            "group": None if self.refused else self.group,
            "refused": self.refused,
            "reason": self.decision.reason,
            "rule": None
            if rule is None
            else {
                "id": rule.id,
                "priority": rule.priority,
                "attribute": rule.attribute or group_mapping.ROLE,
                "match": rule.match,
                "value": rule.value,
            },
            "matched": None
            if rule is None
            else {
                "attribute": self.decision.matched_attribute,
                "value": self.decision.matched_value,
            },
            "explanation": self.explanation,
            "group_sync": self.group_sync,
            "notes": self.notes,
        }


def parse_attribute_pairs(pairs: Iterable[str]) -> dict[str, list[str]]:
    """NAME=VALUE strings into an attribute dict; repeating a name gives it several values."""
    attributes: dict[str, list[str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise errors.InvalidGroupPolicy(f"{pair[:80]!r} is not NAME=VALUE")
        attributes.setdefault(name.strip(), []).append(value)
    return attributes


def preview(tenant: Tenant, attributes: Mapping[str, Sequence[str]]) -> Preview:
    """Which group these attributes would give, and which rule fires, as if the rules were live."""
    decision = decide(tenant, attributes)
    refused = decision.rule is None and tenant.on_no_match == "deny"
    group = db.session.get(UserGroup, decision.group_id)
    assert group is not None  # a rule's group or the default group: foreign keys keep both
    found = notes(tenant)
    if decision.capped:
        found.append(
            f"some values were ignored: longer than {group_mapping.MAX_VALUE_CHARS} characters, "
            f"or past {group_mapping.MAX_VALUES} values of one attribute"
        )
    explanation = group_mapping.explain(decision)
    if refused:
        explanation += "; on-no-match is deny, so the login would be refused"
    return Preview(decision, group.name, refused, explanation, tenant.group_sync, found)


# --- Assignment -------------------------------------------------------------------------


def _sample(attributes: Mapping[str, Sequence[str]], names: Sequence[str]) -> str:
    parts = []
    for name in names:
        values = [v[:80] for v in list(attributes.get(name, ()))[:10]]
        parts.append(f"{name}={values!r}")
    return "; ".join(parts) or "no attributes consulted"


def assign_on_login(
    tenant: Tenant, user: User, created: bool, attributes: Mapping[str, Sequence[str]], now: datetime
) -> group_mapping.Decision | None:
    """Apply the tenant's sync policy at a login; None when the rules did not run.

    Raises NoGroupMatched when no rule matches and the tenant refuses such logins; the caller's
    transaction then rolls back and nobody is created.
    """
    if tenant.group_sync not in ("first-login", "every-login") or (tenant.group_sync == "first-login" and not created):
        return None
    decision = decide(tenant, attributes)
    if decision.rule is None and tenant.on_no_match == "deny":
        raise errors.NoGroupMatched(
            f"tenant {tenant.slug!r} refuses sign-in when no mapping rule matches (on-no-match deny): "
            f"{group_mapping.explain(decision)}; sent: {_sample(attributes, decision.consulted)}"
        )
    if decision.rule is not None:
        source, detail = "rule", decision.rule.describe()
    else:
        source, detail = "default", group_mapping.explain(decision)
    users.assign_group(tenant, user, decision.group_id, source, detail, actor="idp", now=now, record=not created)
    return decision
