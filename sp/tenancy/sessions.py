"""Server-side sessions behind Flask-Login: a row per signed-in browser, revocable from anywhere.

The cookie carries a random token; the database keeps only its SHA-256. Flask-Login stores the
token as the 'user id', so revoking the row (logout, deactivation, later single logout and SCIM)
signs that browser out on its next request, whichever instance serves it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_login import UserMixin
from sqlalchemy import or_, select, update

from sp.database import rowcount
from sp.extensions import db
from sp.models import User, UserSession


@dataclass(eq=False)
class SignedIn(UserMixin):
    """The user Flask-Login sees: a User seen through one of their sessions."""

    user: User
    session: UserSession
    token: str

    def get_id(self) -> str:
        return self.token


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User, session_index: str | None, now: datetime, lifetime: timedelta) -> SignedIn:
    """Open a new session for user (always a new token: no session fixation); the caller commits."""
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=_hash(token),
        user_id=user.id,
        tenant_id=user.tenant_id,
        session_index=session_index,
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(row)
    return SignedIn(user=user, session=row, token=token)


def load(token: str, now: datetime) -> SignedIn | None:
    """The live session for token: not revoked, not expired, its user active; else None."""
    if not token or len(token) > 128:
        return None
    row = db.session.execute(
        select(UserSession, User)
        .join(User, User.id == UserSession.user_id)
        .where(UserSession.token_hash == _hash(token), UserSession.revoked_at.is_(None), UserSession.expires_at > now)
    ).first()
    if row is None or not row.User.active:
        return None
    return SignedIn(user=row.User, session=row.UserSession, token=token)


def revoke(token: str, now: datetime) -> None:
    """End one session; the caller commits."""
    db.session.execute(
        update(UserSession)
        .where(UserSession.token_hash == _hash(token), UserSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def revoke_all(user_id: int, now: datetime) -> int:
    """End every session of a user (deactivation); the caller commits. Returns how many."""
    return rowcount(
        db.session.execute(
            update(UserSession)
            .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    )


def revoke_for_logout(
    tenant_id: int, name_id: str, session_indexes: list[str], now: datetime
) -> tuple[User | None, list[int]]:
    """End the live sessions of the tenant's user with this NameID that a LogoutRequest names; the caller commits.

    With SessionIndexes, only the sessions opened by an assertion with one of them end, and the
    sessions whose assertion carried no SessionIndex (we cannot tell them apart, and leaving them
    would keep the user signed in after the IdP ended their session). Returns the user (None when
    the tenant has no such user) and the IDs of the sessions ended.
    """
    user = db.session.scalar(select(User).where(User.tenant_id == tenant_id, User.name_id == name_id))
    if user is None:
        return None, []
    query = select(UserSession.id).where(
        UserSession.user_id == user.id,
        UserSession.tenant_id == tenant_id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > now,
    )
    if session_indexes:
        query = query.where(or_(UserSession.session_index.in_(session_indexes), UserSession.session_index.is_(None)))
    ids = list(db.session.scalars(query))
    if ids:
        db.session.execute(
            update(UserSession).where(UserSession.id.in_(ids), UserSession.revoked_at.is_(None)).values(revoked_at=now)
        )
    return user, ids
