"""Tenants: find one, create one, change its SSO settings; the one service behind the CLI and the consoles."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from sp import errors
from sp.extensions import db
from sp.models import Tenant, TenantDomain, UserGroup
from sp.records import audit
from sp.tenancy import group_policy, groups

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_CLOCK_SKEW = 300
MAX_EMAIL = 320


def find(slug: str) -> Tenant:
    """The tenant with this slug, or TenantNotFound."""
    if not SLUG.match(slug or ""):
        raise errors.TenantNotFound(f"{slug!r} is not a valid tenant slug")
    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug).options(joinedload(Tenant.identity_provider)))
    if tenant is None:
        raise errors.TenantNotFound(f"no tenant {slug!r}")
    return tenant


def for_email(email: str) -> Tenant:
    """The tenant whose email domain this address is in, or UnknownEmailDomain."""
    if "@" not in email or len(email) > MAX_EMAIL:
        raise errors.UnknownEmailDomain("not an email address")
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    row = db.session.scalar(select(TenantDomain).where(TenantDomain.domain == domain))
    if row is None:
        raise errors.UnknownEmailDomain(f"no tenant for domain {domain!r}")
    return row.tenant


def normalise_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if not _DOMAIN.match(value):
        raise errors.InvalidSetting(f"{domain!r} is not a domain name")
    return value


def create_tenant(
    slug: str, name: str, domains: Sequence[str] = (), default_group: str | None = None, *, actor: str = "cli"
) -> Tenant:
    """Create a tenant with its default group ("No access" unless named)."""
    if not SLUG.match(slug):
        raise errors.InvalidSetting(f"{slug!r} is not a valid slug: lowercase letters, digits and dashes, up to 63")
    if not name.strip():
        raise errors.InvalidSetting("the tenant needs a name")
    tenant = Tenant(slug=slug, name=name.strip()[:200])
    tenant.domains = [TenantDomain(domain=normalise_domain(d)) for d in dict.fromkeys(domains)]
    db.session.add(tenant)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.TenantConflict(
            f"a tenant {slug!r} or one of the domains {', '.join(domains)} already exists"
        ) from None
    group = UserGroup(
        tenant_id=tenant.id, name=(default_group or groups.DEFAULT_GROUP_NAME).strip()[:100], permissions=[]
    )
    db.session.add(group)
    db.session.flush()
    tenant.default_group_id = group.id
    audit.record(
        "tenant.created",
        actor=actor,
        tenant_id=tenant.id,
        target=slug,
        details={"name": tenant.name, "domains": [d.domain for d in tenant.domains], "default_group": group.name},
    )
    db.session.commit()
    return tenant


def update_settings(
    tenant: Tenant,
    *,
    idp_initiated: bool | None = None,
    default_group: str | None = None,
    clock_skew: int | None = None,
    domains: list[str] | None = None,
    role_attributes: list[str] | None = None,
    group_sync: str | None = None,
    on_no_match: str | None = None,
    email_attribute: str | None = None,
    name_attribute: str | None = None,
    single_logout: bool | None = None,
    actor: str = "cli",
) -> Tenant:
    """Change a tenant's SSO settings; running instances see them on their next request.

    `email_attribute=""` (or `name_attribute=""`) goes back to the built-in list of the usual
    attribute names (sp/provisioning.py).
    """
    before = settings_snapshot(tenant)
    if email_attribute is not None:
        tenant.email_attribute = _attribute_name(email_attribute)
    if name_attribute is not None:
        tenant.name_attribute = _attribute_name(name_attribute)
    if idp_initiated is not None:
        tenant.idp_initiated = idp_initiated
    if single_logout is not None:
        tenant.single_logout = single_logout
    if clock_skew is not None:
        if not 0 <= clock_skew <= MAX_CLOCK_SKEW:
            raise errors.InvalidSetting(f"the clock skew must be between 0 and {MAX_CLOCK_SKEW} seconds")
        tenant.clock_skew_seconds = clock_skew
    if default_group is not None:
        group = groups.named_or_none(tenant, default_group)
        if group is None:
            raise errors.InvalidSetting(f"tenant {tenant.slug!r} has no group {default_group!r}; create it first")
        tenant.default_group_id = group.id
    group_policy.apply_settings(tenant, role_attributes=role_attributes, group_sync=group_sync, on_no_match=on_no_match)
    if domains is not None:
        # Keep the rows of domains that stay: a delete and re-insert of one domain in a single
        # flush would run the INSERT first and trip the unique constraint.
        kept = {d.domain: d for d in tenant.domains}
        wanted = dict.fromkeys(normalise_domain(d) for d in domains)
        tenant.domains = [kept.get(d) or TenantDomain(domain=d) for d in wanted]
    after = settings_snapshot(tenant)
    changed = {key: {"from": before[key], "to": after[key]} for key in after if before[key] != after[key]}
    if changed:
        audit.record("tenant.settings_changed", actor=actor, tenant_id=tenant.id, target=tenant.slug, details=changed)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise errors.TenantConflict("one of those domains belongs to another tenant") from None
    return tenant


def settings_snapshot(tenant: Tenant) -> dict:
    """The tenant's SSO settings as plain values, for audit diffs."""
    return {
        "idp_initiated": tenant.idp_initiated,
        "single_logout": tenant.single_logout,
        "clock_skew_seconds": tenant.clock_skew_seconds,
        "default_group_id": tenant.default_group_id,
        "domains": sorted(d.domain for d in tenant.domains),
        **group_policy.settings_snapshot(tenant),
        "email_attribute": tenant.email_attribute,
        "name_attribute": tenant.name_attribute,
    }


def _attribute_name(text: str) -> str | None:
    value = text.strip()
    if len(value) > 255 or any(ord(ch) < 0x20 for ch in value):
        raise errors.InvalidSetting("an attribute name is at most 255 printable characters")
    return value or None


def all_tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))
