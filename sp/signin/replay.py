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

from sp import errors
from sp.database import rowcount
from sp.extensions import db
from sp.models import ReplayEntry, Tenant

ASSERTION = "assertion"
LOGOUT_REQUEST = "logout-request"
_USED = {
    ASSERTION: "the assertion {id!r} was already used to sign in",
    LOGOUT_REQUEST: "the LogoutRequest {id!r} was already received",
}


def key(issuer: str, message_id: str, kind: str = ASSERTION) -> str:
    """The cache key: bounded length whatever the IdP sends; an assertion and a LogoutRequest never collide."""
    prefix = "" if kind == ASSERTION else f"{kind}\0"
    return hashlib.sha256(f"{prefix}{issuer}\0{message_id}".encode()).hexdigest()


def remember(
    tenant: Tenant, issuer: str, message_id: str, until: datetime, now: datetime, kind: str = ASSERTION
) -> None:
    """Insert the message's key, or raise Replay if it is already there; the caller commits."""
    db.session.add(
        ReplayEntry(key=key(issuer, message_id, kind), tenant_id=tenant.id, created_at=now, expires_at=until)
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.Replay(_USED[kind].format(id=message_id)) from None


def purge(now: datetime) -> int:
    """Forget messages that would be refused as expired anyway; returns how many."""
    return rowcount(db.session.execute(delete(ReplayEntry).where(ReplayEntry.expires_at <= now)))
