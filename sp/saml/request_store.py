"""Outstanding AuthnRequests, kept server-side so any instance can finish a login.

The IdP's cross-site POST to the ACS arrives without our SameSite=Lax cookie, and the POST may
reach another instance than the one that sent the user away: the database is the shared state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update

from .. import errors
from ..extensions import db
from ..models import SamlRequest, Tenant


def remember(tenant: Tenant, request_id: str, next_path: str, now: datetime, ttl: timedelta) -> None:
    """Record that we sent request_id for tenant; the caller commits."""
    db.session.add(
        SamlRequest(id=request_id, tenant_id=tenant.id, next_path=next_path, created_at=now, expires_at=now + ttl)
    )


def consume(tenant: Tenant, request_id: str, now: datetime) -> SamlRequest:
    """Mark request_id answered, atomically: exactly one Response can ever consume it.

    Raises RequestUnknown (never sent, or sent for another tenant), RequestReused or RequestExpired.
    """
    claimed = db.session.execute(
        update(SamlRequest)
        .where(
            SamlRequest.id == request_id,
            SamlRequest.tenant_id == tenant.id,
            SamlRequest.used_at.is_(None),
            SamlRequest.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    record = db.session.get(SamlRequest, request_id, populate_existing=True)
    if claimed == 1 and record is not None:
        return record
    if record is None or record.tenant_id != tenant.id:
        raise errors.RequestUnknown(
            "the response answers a sign-in request this organisation never sent (InResponseTo is unknown)"
        )
    if record.used_at is not None:
        raise errors.RequestReused("the response answers a sign-in request that was already answered")
    raise errors.RequestExpired("the response answers a sign-in request that expired; start the sign-in again")


def purge(now: datetime) -> int:
    """Delete requests that can no longer be answered; returns how many."""
    return db.session.execute(delete(SamlRequest).where(SamlRequest.expires_at <= now)).rowcount
