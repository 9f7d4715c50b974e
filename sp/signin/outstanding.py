"""Outstanding AuthnRequests and LogoutRequests, kept server-side so any instance can finish them.

The IdP's cross-site POST to the ACS arrives without our SameSite=Lax cookie, and the POST may
reach another instance than the one that sent the user away: the database is the shared state.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, update

from sp import errors
from sp.database import rowcount
from sp.extensions import db
from sp.models import SamlRequest, Tenant

AUTHN = "authn"
LOGOUT = "logout"
_WHAT = {AUTHN: "sign-in request", LOGOUT: "sign-out request (LogoutRequest)"}


def remember(tenant: Tenant, request_id: str, next_path: str, now: datetime, ttl: timedelta, kind: str = AUTHN) -> None:
    """Record that we sent request_id (an AuthnRequest, or a LogoutRequest) for tenant; the caller commits."""
    db.session.add(
        SamlRequest(
            id=request_id, tenant_id=tenant.id, kind=kind, next_path=next_path, created_at=now, expires_at=now + ttl
        )
    )


def consume(tenant: Tenant, request_id: str, now: datetime, kind: str = AUTHN) -> SamlRequest:
    """Mark request_id answered, atomically: exactly one Response (or LogoutResponse) can ever consume it.

    Raises RequestUnknown (never sent, sent for another tenant, or a request of the other kind),
    RequestReused or RequestExpired.
    """
    what = _WHAT[kind]
    claimed = rowcount(
        db.session.execute(
            update(SamlRequest)
            .where(
                SamlRequest.id == request_id,
                SamlRequest.tenant_id == tenant.id,
                SamlRequest.kind == kind,
                SamlRequest.used_at.is_(None),
                SamlRequest.expires_at > now,
            )
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    record = db.session.get(SamlRequest, request_id, populate_existing=True)
    if claimed == 1 and record is not None:
        return record
    if record is None or record.tenant_id != tenant.id or record.kind != kind:
        raise errors.RequestUnknown(
            f"the response answers a {what} this organisation never sent (InResponseTo is unknown)"
        )
    if record.used_at is not None:
        raise errors.RequestReused(f"the response answers a {what} that was already answered")
    raise errors.RequestExpired(f"the response answers a {what} that expired; start again")


def purge(now: datetime) -> int:
    """Delete requests that can no longer be answered; returns how many."""
    return rowcount(db.session.execute(delete(SamlRequest).where(SamlRequest.expires_at <= now)))
