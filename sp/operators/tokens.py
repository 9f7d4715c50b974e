"""Ops API tokens: created by `flask ops token create`, shown once, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sp import errors
from sp.extensions import db
from sp.models import OpsApiToken
from sp.records import audit

# A recognisable prefix lets secret scanners and log filters spot a leaked token.
PREFIX = "spops_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create(name: str, now: datetime, *, actor: str = "cli") -> tuple[OpsApiToken, str]:
    """Create a token; return the row and the token itself, which is never stored or shown again."""
    if not _NAME.match(name or ""):
        raise errors.TokenNameInvalid(f"{name!r} is not a valid token name")
    token = PREFIX + secrets.token_urlsafe(32)
    row = OpsApiToken(name=name, token_hash=_digest(token), created_at=now)
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.TokenNameTaken(f"a token named {name!r} already exists; revoke it or pick another name") from None
    audit.record("ops.token_created", actor=actor, target=name, now=now)
    db.session.commit()
    return row, token


def revoke(name: str, now: datetime, *, actor: str = "cli") -> OpsApiToken:
    """Revoke a token at once; it stays listed, revoked."""
    row = db.session.scalar(select(OpsApiToken).where(OpsApiToken.name == name))
    if row is None:
        raise errors.TokenNotFound(f"no token named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = now
        audit.record("ops.token_revoked", actor=actor, target=name, now=now)
        db.session.commit()
    return row


def all_tokens() -> list[OpsApiToken]:
    return list(db.session.scalars(select(OpsApiToken).order_by(OpsApiToken.name)))


def authenticate(authorization: str | None, now: datetime) -> OpsApiToken:
    """The live token named by an `Authorization: Bearer` header, or ApiAuthRequired."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token.startswith(PREFIX) or len(token) > 200:
        raise errors.ApiAuthRequired("no bearer token in the Authorization header")
    digest = _digest(token)
    row = db.session.scalar(select(OpsApiToken).where(OpsApiToken.token_hash == digest))
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        raise errors.ApiAuthRequired("unknown or revoked ops API token")
    row.last_used_at = now
    db.session.commit()
    return row
