"""Tenant administration: the one service behind the CLI and (later) the consoles."""

from __future__ import annotations

import re
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import audit, errors, group_policy, tenancy
from .extensions import db
from .models import Tenant, TenantDomain, User, UserGroup

DEFAULT_GROUP_NAME = "No access"
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
MAX_CLOCK_SKEW = 300
_PERMISSION = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


class TenantConflict(errors.SPError):
    status = 409
    code = "tenant.conflict"
    message = "That conflicts with an existing tenant, domain or group."


class InvalidSetting(errors.SPError):
    status = 400
    code = "tenant.invalid_setting"
    message = "That setting is not valid."


def normalise_domain(domain: str) -> str:
    value = domain.strip().lower().rstrip(".")
    if not _DOMAIN.match(value):
        raise InvalidSetting(f"{domain!r} is not a domain name")
    return value


def create_tenant(
    slug: str, name: str, domains: list[str] = (), default_group: str | None = None, *, actor: str = "cli"
) -> Tenant:
    """Create a tenant with its default group ("No access" unless named)."""
    if not tenancy.SLUG.match(slug):
        raise InvalidSetting(f"{slug!r} is not a valid slug: lowercase letters, digits and dashes, up to 63")
    if not name.strip():
        raise InvalidSetting("the tenant needs a name")
    tenant = Tenant(slug=slug, name=name.strip()[:200])
    tenant.domains = [TenantDomain(domain=normalise_domain(d)) for d in dict.fromkeys(domains)]
    db.session.add(tenant)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise TenantConflict(f"a tenant {slug!r} or one of the domains {', '.join(domains)} already exists") from None
    group = UserGroup(tenant_id=tenant.id, name=(default_group or DEFAULT_GROUP_NAME).strip()[:100], permissions=[])
    db.session.add(group)
    db.session.flush()
    tenant.default_group_id = group.id
    audit.record("tenant.created", actor=actor, tenant_id=tenant.id, target=slug,
                 details={"name": tenant.name, "domains": [d.domain for d in tenant.domains], "default_group": group.name})
    db.session.commit()
    return tenant


def group_named(tenant: Tenant, name: str) -> UserGroup | None:
    return db.session.scalar(select(UserGroup).where(UserGroup.tenant_id == tenant.id, UserGroup.name == name))


def clean_permissions(permissions: list[str]) -> list[str]:
    """Sorted, de-duplicated permission names like 'admin' or 'reports:read'; InvalidSetting otherwise."""
    cleaned = sorted({p.strip() for p in permissions if p.strip()})
    for permission in cleaned:
        if not _PERMISSION.match(permission):
            raise InvalidSetting(
                f"{permission[:80]!r} is not a permission name: lowercase letters, digits and . _ : -, up to 64"
            )
    return cleaned


def create_group(tenant: Tenant, name: str, permissions: list[str] = (), *, actor: str = "cli") -> UserGroup:
    """Create a group in tenant with the given permissions."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidSetting("a group name is 1 to 100 characters")
    group = UserGroup(tenant_id=tenant.id, name=name, permissions=clean_permissions(list(permissions)))
    db.session.add(group)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise TenantConflict(f"tenant {tenant.slug!r} already has a group {name!r}") from None
    audit.record("group.created", actor=actor, tenant_id=tenant.id, target=name, details={"permissions": group.permissions})
    db.session.commit()
    return group


def set_group_permissions(group: UserGroup, permissions: list[str], *, actor: str = "cli") -> bool:
    """Replace a group's permissions; False when nothing changed."""
    cleaned = clean_permissions(permissions)
    before = sorted(group.permissions or [])
    if cleaned == before:
        return False
    group.permissions = cleaned
    audit.record("group.permissions_changed", actor=actor, tenant_id=group.tenant_id, target=group.name,
                 details={"from": before, "to": cleaned})
    db.session.commit()
    return True


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
            raise InvalidSetting(f"the clock skew must be between 0 and {MAX_CLOCK_SKEW} seconds")
        tenant.clock_skew_seconds = clock_skew
    if default_group is not None:
        group = group_named(tenant, default_group)
        if group is None:
            raise InvalidSetting(f"tenant {tenant.slug!r} has no group {default_group!r}; create it first")
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
        raise TenantConflict("one of those domains belongs to another tenant") from None
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
        raise InvalidSetting("an attribute name is at most 255 printable characters")
    return value or None


def users(tenant: Tenant) -> list[User]:
    return list(db.session.scalars(select(User).where(User.tenant_id == tenant.id).order_by(User.id)))


def all_tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))
