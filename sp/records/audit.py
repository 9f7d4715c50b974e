"""The audit log: append-only, written in the same transaction as the change it records."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from sp.clock import utcnow
from sp.extensions import db
from sp.models import AuditEvent, Tenant, User


def record(
    action: str,
    *,
    actor: str,
    tenant_id: int | None = None,
    target: str | None = None,
    details: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> AuditEvent:
    """Add an audit event to the current transaction; the caller's commit makes it durable."""
    event = AuditEvent(
        tenant_id=tenant_id,
        time=now or utcnow(),
        actor=actor[:255],
        action=action,
        target=target[:512] if target else None,
        details=details or {},
    )
    db.session.add(event)
    return event


@sa_event.listens_for(Session, "before_flush")
def _append_only(session: Session, flush_context: Any, instances: Any) -> None:
    """Refuse, in every code path, to change or delete an audit event once written."""
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditEvent) and (obj in session.deleted or session.is_modified(obj)):
            raise RuntimeError("audit events are append-only")


@dataclass(frozen=True)
class Filters:
    """What a console or export narrows the log to; None means any."""

    tenant_id: int | None = None
    action: str | None = None  # exact, or a prefix ending in '.' ("user.")
    actor: str | None = None
    target: str | None = None  # substring
    target_is: str | None = None  # exact
    since: datetime | None = None
    until: datetime | None = None  # exclusive


def _query(filters: Filters):
    query = select(AuditEvent)
    if filters.tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == filters.tenant_id)
    if filters.action:
        if filters.action.endswith("."):
            query = query.where(AuditEvent.action.startswith(filters.action[:64], autoescape=True))
        else:
            query = query.where(AuditEvent.action == filters.action[:64])
    if filters.actor:
        query = query.where(AuditEvent.actor == filters.actor[:255])
    if filters.target:
        query = query.where(func.lower(AuditEvent.target).contains(filters.target.lower()[:512], autoescape=True))
    if filters.target_is:
        query = query.where(AuditEvent.target == filters.target_is[:512])
    if filters.since is not None:
        query = query.where(AuditEvent.time >= filters.since)
    if filters.until is not None:
        query = query.where(AuditEvent.time < filters.until)
    return query.order_by(AuditEvent.time.desc(), AuditEvent.id.desc())


def search(filters: Filters, *, limit: int = 50, offset: int = 0) -> list[AuditEvent]:
    """Matching events, newest first."""
    return list(db.session.scalars(_query(filters).limit(limit).offset(offset)))


def actions(tenant_id: int | None = None) -> list[str]:
    """The distinct actions recorded (in a tenant), for the consoles' filter."""
    query = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    if tenant_id is not None:
        query = query.where(AuditEvent.tenant_id == tenant_id)
    return list(db.session.scalars(query))


def as_json(event: AuditEvent, tenant_slug: str | None) -> dict[str, Any]:
    return {
        "time": event.time.isoformat(),
        "tenant": tenant_slug,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "details": event.details,
    }


def export(filters: Filters) -> Iterator[dict[str, Any]]:
    """Every matching event as a dict, newest first, streamed from the database."""
    query = _query(filters).add_columns(Tenant.slug).outerjoin(Tenant, Tenant.id == AuditEvent.tenant_id)
    for event, slug in db.session.execute(query.execution_options(yield_per=500)):
        yield as_json(event, slug)


def labels(events: list[AuditEvent]) -> dict[str, dict]:
    """Readable names for the actors ("user:12" -> their email) and tenants of some audit events."""
    user_ids = {int(e.actor[5:]) for e in events if e.actor.startswith("user:") and e.actor[5:].isdigit()}
    tenant_ids = {e.tenant_id for e in events if e.tenant_id is not None}
    actors: dict[str, str] = {}
    if user_ids:
        for user_id, email, name_id in db.session.execute(
            select(User.id, User.email, User.name_id).where(User.id.in_(user_ids))
        ):
            actors[f"user:{user_id}"] = email or name_id
    tenants = (
        dict(db.session.execute(select(Tenant.id, Tenant.slug).where(Tenant.id.in_(tenant_ids))).all())
        if tenant_ids
        else {}
    )
    return {"actors": actors, "tenants": tenants}
