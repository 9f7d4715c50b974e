"""The operator's console session: a key of its own in the signed session cookie.

It names the operator and a stamp of their credentials, and expires; changing the password or
the second factor, deactivating or locking the account ends it on the next request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app, session

from sp import clock
from sp.clock import as_utc
from sp.models import OpsUser
from sp.operators import accounts
from sp.operators.accounts import session_stamp

SESSION_KEY = "ops"


def start(user: OpsUser, now: datetime) -> None:
    session[SESSION_KEY] = {"id": user.id, "stamp": session_stamp(user), "since": now.isoformat()}


def end() -> None:
    session.pop(SESSION_KEY, None)


def current_operator() -> OpsUser | None:
    """The signed-in operator, or None (and the stale key dropped)."""
    data = session.get(SESSION_KEY)
    if not isinstance(data, dict):
        return None
    now = clock.utcnow()
    try:
        since = as_utc(datetime.fromisoformat(data["since"]))
        user = accounts.get(int(data["id"]))
    except (KeyError, TypeError, ValueError):
        user, since = None, now
    lifetime = timedelta(seconds=current_app.config["OPS_SESSION_LIFETIME_SECONDS"])
    if (
        user is None
        or not user.active
        or data.get("stamp") != session_stamp(user)
        or since + lifetime <= now
        or (user.locked_until is not None and user.locked_until > now)
    ):
        end()
        return None
    return user
