"""The replay cache: an assertion is accepted once, across processes and instances.

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


def purge(now: datetime) -> int:
    """Forget assertions that would be refused as expired anyway; returns how many."""
    return db.session.execute(delete(ReplayEntry).where(ReplayEntry.expires_at <= now)).rowcount
