"""A tenant's user groups: the one service that creates, changes, lists and deletes them.

The CLI, the admin console and the ops console all call these functions; every change is
audited in the same transaction.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sp import errors
from sp.clock import utcnow
from sp.extensions import db
from sp.models import MappingRule, Tenant, User, UserGroup
from sp.records import audit
from sp.tenancy import users

DEFAULT_GROUP_NAME = "No access"
MAX_NAME = 100
_PERMISSION = re.compile(r"^[a-z0-9][a-z0-9._:-]{0,63}$")


def of_tenant(tenant_id: int) -> list[UserGroup]:
    """The tenant's groups by name."""
    return list(db.session.scalars(select(UserGroup).where(UserGroup.tenant_id == tenant_id).order_by(UserGroup.name)))


def get(tenant_id: int, group_id: int | None) -> UserGroup | None:
    """The tenant's group with this id; None for another tenant's group."""
    if group_id is None:
        return None
    return db.session.scalar(select(UserGroup).where(UserGroup.tenant_id == tenant_id, UserGroup.id == group_id))


def named_or_none(tenant: Tenant, name: str) -> UserGroup | None:
    return db.session.scalar(select(UserGroup).where(UserGroup.tenant_id == tenant.id, UserGroup.name == name.strip()))


def named(tenant: Tenant, name: str) -> UserGroup:
    """The tenant's group called name, or GroupPolicyNotFound listing the groups there are."""
    group = named_or_none(tenant, name)
    if group is None:
        names = ", ".join(g.name for g in of_tenant(tenant.id))
        raise errors.GroupPolicyNotFound(f"tenant {tenant.slug!r} has no group {name!r} (groups: {names})")
    return group


def clean_permissions(permissions: list[str]) -> list[str]:
    """Sorted, de-duplicated permission names like 'admin' or 'reports:read'; InvalidSetting otherwise."""
    cleaned = sorted({p.strip() for p in permissions if p.strip()})
    for permission in cleaned:
        if not _PERMISSION.match(permission):
            raise errors.InvalidSetting(
                f"{permission[:80]!r} is not a permission name: lowercase letters, digits and . _ : -, up to 64"
            )
    return cleaned


def add(
    tenant: Tenant, name: str, permissions: list[str] | tuple[str, ...] = (), *, actor: str = "cli", commit: bool = True
) -> UserGroup:
    """Create a group in tenant with the given permissions."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise errors.InvalidSetting(f"a group name is 1 to {MAX_NAME} characters")
    group = UserGroup(tenant_id=tenant.id, name=name, permissions=clean_permissions(list(permissions)))
    db.session.add(group)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.TenantConflict(f"tenant {tenant.slug!r} already has a group {name!r}") from None
    audit.record(
        "group.created", actor=actor, tenant_id=tenant.id, target=name, details={"permissions": group.permissions}
    )
    if commit:
        db.session.commit()
    return group


def set_permissions(group: UserGroup, permissions: list[str], *, actor: str = "cli") -> bool:
    """Replace a group's permissions; False when nothing changed."""
    cleaned = clean_permissions(permissions)
    before = sorted(group.permissions or [])
    if cleaned == before:
        return False
    group.permissions = cleaned
    audit.record(
        "group.permissions_changed",
        actor=actor,
        tenant_id=group.tenant_id,
        target=group.name,
        details={"from": before, "to": cleaned},
    )
    db.session.commit()
    return True


def member_counts(tenant_id: int) -> dict[int, int]:
    """{group id: how many users hold it}."""
    return dict(
        db.session.execute(
            select(User.group_id, func.count()).where(User.tenant_id == tenant_id).group_by(User.group_id)
        ).all()
    )


def listing(tenant: Tenant) -> list[dict]:
    """The tenant's groups with their permissions, member and rule counts, default one flagged."""
    members = member_counts(tenant.id)
    mapped = dict(
        db.session.execute(
            select(MappingRule.group_id, func.count())
            .where(MappingRule.tenant_id == tenant.id)
            .group_by(MappingRule.group_id)
        ).all()
    )
    return [
        {
            "name": g.name,
            "permissions": list(g.permissions or []),
            "default": g.id == tenant.default_group_id,
            "users": members.get(g.id, 0),
            "rules": mapped.get(g.id, 0),
        }
        for g in of_tenant(tenant.id)
    ]


def delete(
    tenant: Tenant, name: str, *, move_users_to_default: bool = False, actor: str = "cli", now: datetime | None = None
) -> int:
    """Delete a group; its users move to the default group (recorded) only if asked. Returns how many moved."""
    group = named(tenant, name)
    now = now or utcnow()
    if group.id == tenant.default_group_id:
        raise errors.GroupPolicyConflict(
            f"{group.name!r} is the default group of tenant {tenant.slug!r}; make another group the default first"
        )
    rule_ids = list(db.session.scalars(select(MappingRule.id).where(MappingRule.group_id == group.id)))
    if rule_ids:
        listed = ", ".join(f"#{i}" for i in rule_ids)
        one = len(rule_ids) == 1
        which = f"mapping rule {listed} gives" if one else f"mapping rules {listed} give"
        raise errors.GroupPolicyConflict(f"{which} group {group.name!r}; remove {'it' if one else 'them'} first")
    holders = list(db.session.scalars(select(User).where(User.group_id == group.id).order_by(User.id)))
    if holders and not move_users_to_default:
        default = tenant.default_group
        assert default is not None  # every tenant is created with its default group
        raise errors.GroupPolicyConflict(
            f"{len(holders)} {'user holds' if len(holders) == 1 else 'users hold'} group {group.name!r}; "
            f"delete it moving them to the default group {default.name!r}, or move them first"
        )
    assert tenant.default_group_id is not None
    for user in holders:
        users.assign_group(
            tenant,
            user,
            tenant.default_group_id,
            "default",
            f"group {group.name!r} deleted by {actor}",
            actor=actor,
            now=now,
        )
    db.session.flush()
    db.session.delete(group)
    audit.record(
        "group.deleted",
        actor=actor,
        tenant_id=tenant.id,
        target=group.name,
        now=now,
        details={"permissions": list(group.permissions or []), "users_moved": len(holders)},
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise errors.GroupPolicyConflict(f"group {name!r} gained a user or rule meanwhile; try again") from None
    return len(holders)
