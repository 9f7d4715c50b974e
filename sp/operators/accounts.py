"""Operator accounts: argon2id password hashes, lock-out after repeated failures, optional TOTP.

Operators are our staff, never tenant users (tenant users have no password at all).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sp import errors
from sp.extensions import db
from sp.models import OpsUser
from sp.operators import totp
from sp.records import audit

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024


@lru_cache(maxsize=4)
def _hasher_for(parameters: tuple[tuple[str, int], ...]) -> PasswordHasher:
    options: dict[str, Any] = dict(parameters)
    return PasswordHasher(**options)


def hasher() -> PasswordHasher:
    """argon2id, by default with the library's parameters (RFC 9106's second recommended profile).

    OPS_ARGON2_PARAMETERS (time_cost, memory_cost, parallelism) may change them; hashes made
    with other parameters are upgraded at the next successful sign-in.
    """
    parameters = current_app.config.get("OPS_ARGON2_PARAMETERS") or {}
    return _hasher_for(tuple(sorted(parameters.items())))


def _dummy_hash() -> str:
    return _dummy_hash_for(hasher())


@lru_cache(maxsize=4)
def _dummy_hash_for(chosen: PasswordHasher) -> str:
    return chosen.hash("an unknown operator's password is still checked, so timing tells nothing")


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise errors.AccountRefused(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def create(
    name: str, password: str, *, with_totp: bool, now: datetime, actor: str = "cli"
) -> tuple[OpsUser, str | None]:
    """Create an operator; returns the account and its new TOTP secret (None without one)."""
    if not NAME.match(name):
        raise errors.AccountRefused(
            f"{name[:80]!r} is not an operator name: lowercase letters, digits and . _ -, up to 64"
        )
    check_password(password)
    secret = totp.new_secret() if with_totp else None
    user = OpsUser(
        name=name,
        password_hash=hasher().hash(password),
        totp_secret=secret,
        failed_attempts=0,
        active=True,
        created_at=now,
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.AccountRefused(f"an operator named {name!r} already exists") from None
    audit.record("ops.user_created", actor=actor, target=f"ops:{name}", now=now, details={"totp": with_totp})
    db.session.commit()
    return user, secret


def get(user_id: int) -> OpsUser | None:
    return db.session.get(OpsUser, user_id)


def named(name: str) -> OpsUser | None:
    return db.session.scalar(select(OpsUser).where(OpsUser.name == name[:64]))


def unlock(user: OpsUser, *, now: datetime, actor: str = "cli") -> None:
    user.failed_attempts, user.locked_until = 0, None
    audit.record("ops.user_unlocked", actor=actor, target=f"ops:{user.name}", now=now)
    db.session.commit()


def session_stamp(user: OpsUser) -> str:
    """Changes when the password or second factor changes, ending the operator's console sessions."""
    return hashlib.sha256(f"{user.password_hash}|{user.totp_secret}".encode()).hexdigest()[:32]


def _refuse(name: str, why: str, client: str | None, now: datetime) -> errors.SignInRefused:
    audit.record(
        "ops.sign_in_refused",
        actor="anonymous",
        target=f"ops:{name[:64]}",
        now=now,
        details={"why": why, "client": client},
    )
    db.session.commit()
    return errors.SignInRefused(f"operator sign-in refused for {name[:64]!r}: {why}")


def authenticate(
    name: str,
    password: str,
    code: str,
    *,
    now: datetime,
    client: str | None,
    max_failures: int,
    lockout: timedelta,
) -> OpsUser:
    """Check an operator's password (and code, if they have TOTP); lock the account after max_failures.

    Every refusal looks the same to the caller (SignInRefused) and is audited with its real reason.
    """
    user = named(name)
    locked = user is not None and user.locked_until is not None and user.locked_until > now
    if user is None or not user.active or locked:
        # The same work as a real check: timing tells no one which names exist or are locked.
        with contextlib.suppress(VerificationError):
            hasher().verify(_dummy_hash(), password)
        why = (
            f"locked until {user.locked_until:%H:%M} UTC" if locked and user is not None else "no such active operator"
        )
        raise _refuse(name, why, client, now)
    password_ok: bool
    try:
        password_ok = hasher().verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        password_ok = False
    step = None
    if password_ok and user.totp_secret:
        step = totp.matching_step(user.totp_secret, code, now, user.totp_last_step)
    if not password_ok or (user.totp_secret and step is None):
        user.failed_attempts = (user.failed_attempts or 0) + 1
        why = "wrong password" if not password_ok else "wrong or reused one-time code"
        if user.failed_attempts >= max_failures:
            user.failed_attempts, user.locked_until = 0, now + lockout
            audit.record(
                "ops.locked_out",
                actor="system",
                target=f"ops:{user.name}",
                now=now,
                details={"until": user.locked_until.isoformat(), "client": client},
            )
        raise _refuse(name, why, client, now)
    if hasher().check_needs_rehash(user.password_hash):
        user.password_hash = hasher().hash(password)
    user.failed_attempts, user.locked_until, user.last_sign_in_at = 0, None, now
    if step is not None:
        user.totp_last_step = step
    audit.record(
        "ops.signed_in",
        actor=f"ops:{user.name}",
        target=f"ops:{user.name}",
        now=now,
        details={"client": client, "second_factor": bool(user.totp_secret)},
    )
    db.session.commit()
    return user
