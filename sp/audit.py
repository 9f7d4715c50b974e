"""The audit log: append-only, written in the same transaction as the change it records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .clock import utcnow
from .extensions import db
from .models import AuditEvent


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
        tenant_id=tenant_id, time=now or utcnow(), actor=actor[:255], action=action,
        target=target[:512] if target else None, details=details or {},
    )
    db.session.add(event)
    return event
