"""The replay cache: an assertion, or a LogoutRequest, is accepted once, across processes and instances.

The database's primary key makes the check atomic: two instances inserting the same key at
once cannot both succeed. The caller inserts inside the login transaction, so a login that is
refused later rolls the entry back: a rejected message never writes the cache.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from .. import errors
from ..extensions import db
from ..models import ReplayEntry, Tenant


def key(issuer: str, assertion_id: str) -> str:
    return hashlib.sha256(f"{issuer}\0{assertion_id}".encode()).hexdigest()


def remember(tenant: Tenant, issuer: str, assertion_id: str, until: datetime, now: datetime) -> None:
    """Insert the assertion's key, or raise Replay if it is already there."""
    db.session.add(ReplayEntry(key=key(issuer, assertion_id), tenant_id=tenant.id, created_at=now, expires_at=until))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.Replay(f"the assertion {assertion_id!r} was already used to sign in") from None


def logout_request_key(issuer: str, request_id: str) -> str:
    # A distinct prefix: an assertion and a LogoutRequest may carry the same ID without colliding.
    return hashlib.sha256(f"logout-request\0{issuer}\0{request_id}".encode()).hexdigest()


def remember_logout_request(tenant: Tenant, issuer: str, request_id: str, until: datetime, now: datetime) -> None:
    """Insert the LogoutRequest's key, or raise Replay if it is already there."""
    db.session.add(ReplayEntry(key=logout_request_key(issuer, request_id), tenant_id=tenant.id, created_at=now,
                               expires_at=until))
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.Replay(f"the LogoutRequest {request_id!r} was already received") from None


def purge(now: datetime) -> int:
    """Forget assertions that would be refused as expired anyway; returns how many."""
    return db.session.execute(delete(ReplayEntry).where(ReplayEntry.expires_at <= now)).rowcount
