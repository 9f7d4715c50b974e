"""User administration: find users, change their group, deactivate and reactivate them.

The one service behind the admin console, the ops console and the CLI. Every change is
audited in the same transaction, with who made it and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select

from sp import errors
from sp.extensions import db
from sp.models import Tenant, User, UserGroup
from sp.records import audit
from sp.tenancy import sessions

# How a user came to hold their group, in words for the consoles and the login trace.
GROUP_SOURCES = {
    "default": "the default group for new users",
    "rule": "a mapping rule",
    "admin": "an administrator",
    "provisioning": "provisioning",
}


def group_reason(user: User) -> str:
    """Why the user holds their group, e.g. 'set by an administrator (admin:alice@acme.example)'."""
    words = GROUP_SOURCES.get(user.group_source, user.group_source)
    detail = f" ({user.group_detail})" if user.group_detail else ""
    return f"{words}{detail}" if user.group_source == "default" else f"set by {words}{detail}"


def search(
    tenant_id: int,
    *,
    text: str = "",
    group_id: int | None = None,
    active: bool | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[User]:
    """A tenant's users whose NameID, email or name contains text, by most recent login."""
    query = select(User).where(User.tenant_id == tenant_id)
    text = text.strip().lower()[:320]
    if text:
        query = query.where(
            or_(
                func.lower(User.name_id).contains(text, autoescape=True),
                func.lower(User.email).contains(text, autoescape=True),
                func.lower(User.display_name).contains(text, autoescape=True),
            )
        )
    if group_id is not None:
        query = query.where(User.group_id == group_id)
    if active is not None:
        query = query.where(User.active == active)
    query = query.order_by(User.last_login_at.desc().nulls_last(), User.id).limit(limit).offset(offset)
    return list(db.session.scalars(query))


def get(tenant_id: int, user_id: int) -> User | None:
    """The tenant's user with this id; None for another tenant's user."""
    return db.session.scalar(select(User).where(User.tenant_id == tenant_id, User.id == user_id))


def by_name_id(tenant_id: int, name_id: str) -> User | None:
    return db.session.scalar(select(User).where(User.tenant_id == tenant_id, User.name_id == name_id))


def named(tenant: Tenant, name_id: str) -> User:
    """The tenant's user with this NameID, or GroupPolicyNotFound."""
    user = by_name_id(tenant.id, name_id)
    if user is None:
        raise errors.GroupPolicyNotFound(f"tenant {tenant.slug!r} has no user {name_id!r}")
    return user


def all_of(tenant: Tenant) -> list[User]:
    """Every user of the tenant, oldest first."""
    return list(db.session.scalars(select(User).where(User.tenant_id == tenant.id).order_by(User.id)))


def counts(tenant_id: int | None = None) -> dict:
    """{True: active users, False: deactivated ones} of a tenant; or {tenant id: users} of every tenant."""
    if tenant_id is None:
        return dict(db.session.execute(select(User.tenant_id, func.count()).group_by(User.tenant_id)).all())
    return dict(
        db.session.execute(
            select(User.active, func.count()).where(User.tenant_id == tenant_id).group_by(User.active)
        ).all()
    )


def assign_group(
    tenant: Tenant,
    user: User,
    group_id: int,
    source: str,
    detail: str | None,
    *,
    actor: str,
    now: datetime,
    record: bool = True,
) -> bool:
    """Give user the group with its why; audit the change unless nothing changed. True if it changed."""
    detail = detail[:255] if detail else None
    if (user.group_id, user.group_source, user.group_detail) == (group_id, source, detail):
        return False
    before = db.session.get(UserGroup, user.group_id) if user.group_id else None
    after = db.session.get(UserGroup, group_id)
    if record:
        audit.record(
            "user.group_changed",
            actor=actor,
            tenant_id=tenant.id,
            target=user.name_id,
            now=now,
            details={
                "from": before.name if before else None,
                "to": after.name if after else None,
                "from_source": user.group_source,
                "source": source,
                "detail": detail,
            },
        )
    user.group_id, user.group_source, user.group_detail = group_id, source, detail
    return True


def _label(user: User) -> str:
    return user.email or user.name_id


def change_group(user: User, group: UserGroup, *, actor: str, by: str | None, now: datetime) -> bool:
    """Move user to group as an administrator's decision; False if they were already in it.

    `actor` is the audit actor ("user:7", "ops:sam", "cli"); `by` a readable name of who did it.
    """
    if group.tenant_id != user.tenant_id:
        raise errors.UserChangeRefused("the group belongs to another organisation")
    if actor == f"user:{user.id}":
        raise errors.UserChangeRefused("you cannot change your own group; ask another administrator")
    if group.id == user.group_id:
        return False
    assign_group(user.tenant, user, group.id, "admin", f"admin:{by or actor}", actor=actor, now=now)
    db.session.commit()
    return True


def deactivate(user: User, *, actor: str, now: datetime) -> int:
    """Deactivate user and end all their sessions at once; returns how many sessions ended."""
    if actor == f"user:{user.id}":
        raise errors.UserChangeRefused("you cannot deactivate your own account; ask another administrator")
    if not user.active:
        return 0
    user.active = False
    ended = sessions.revoke_all(user.id, now)
    audit.record(
        "user.deactivated",
        actor=actor,
        tenant_id=user.tenant_id,
        target=user.name_id,
        now=now,
        details={"sessions_ended": ended, "email": _label(user)},
    )
    db.session.commit()
    return ended


def reactivate(user: User, *, actor: str, now: datetime) -> bool:
    """Let a deactivated user sign in again; False if they were active."""
    if user.active:
        return False
    user.active = True
    audit.record(
        "user.reactivated",
        actor=actor,
        tenant_id=user.tenant_id,
        target=user.name_id,
        now=now,
        details={"email": _label(user)},
    )
    db.session.commit()
    return True
