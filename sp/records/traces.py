"""Login traces: one row per ACS attempt (and per single logout attempt), so support can see exactly why.

A successful login commits its trace in the same transaction; a refused one is traced in a
transaction of its own after the login's has rolled back: it writes nothing else, but always
leaves its trace. It keeps the facts a reason refers to, capped, and never a cookie, a key or
the raw message.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import SQLAlchemyError

from sp.database import rowcount
from sp.extensions import db
from sp.models import LoginTrace, Tenant

log = logging.getLogger("sp.traces")

# No 0/o or 1/i/l: a reference is read out over the phone.
REF_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
REF_LENGTH = 10
_REF = re.compile(f"^[{REF_ALPHABET}]{{{REF_LENGTH}}}$")
RESULTS = ("success", "refused", "error")

# What an IdP may make us store per attempt (it can send megabytes of attributes).
MAX_ATTRIBUTES = 40
MAX_VALUES = 10
MAX_TEXT = 256
MAX_REASON = 2000


@dataclass
class Attempt:
    """What we learned about one ACS or SLS attempt, kept for its trace even when it fails."""

    flow: str = "unknown"  # "sp" (answers our request) or "idp" (unsolicited, or the IdP's own logout)
    issuer: str | None = None
    name_id: str | None = None
    attributes: dict[str, list[str]] = field(default_factory=dict)
    in_response_to: str | None = None
    # The message's IssueInstant minus our clock: positive when the IdP's clock is ahead.
    clock_difference_seconds: float | None = None
    verifying_certificate: str | None = None
    group_decision: str | None = None
    user_id: int | None = None
    # Things a successful login should still tell the admin (e.g. no email attribute).
    warnings: list[str] = field(default_factory=list)


def new_ref() -> str:
    return "".join(secrets.choice(REF_ALPHABET) for _ in range(REF_LENGTH))


def normalise_ref(text: str | None) -> str | None:
    """A reference as typed ('7K3M-9QX2 AB') in canonical form, or None if it cannot be one."""
    value = re.sub(r"[\s-]", "", text or "").lower()[:64]
    return value if _REF.match(value) else None


def _cap(value: str | None, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    return value if len(value) <= limit else value[: limit - 1] + "…"


def capped_attributes(attributes: dict[str, list[str]]) -> dict[str, list[str]]:
    """At most MAX_ATTRIBUTES names with MAX_VALUES values each, every text at most MAX_TEXT."""
    capped: dict[str, list[str]] = {}
    for name, values in list(attributes.items())[:MAX_ATTRIBUTES]:
        capped[_cap(name) or ""] = [_cap(str(v)) or "" for v in list(values)[:MAX_VALUES]]
    return capped


def add(
    tenant_id: int, attempt: Attempt, *, result: str, code: str, reason: str, now: datetime, kind: str = "login"
) -> LoginTrace:
    """Add a trace to the current transaction (a successful login commits it with the login)."""
    trace = _build(tenant_id, attempt, result=result, code=code, reason=reason, now=now, kind=kind)
    db.session.add(trace)
    return trace


def record(
    tenant_id: int, attempt: Attempt, *, result: str, code: str, reason: str, now: datetime, kind: str = "login"
) -> LoginTrace | None:
    """Write one trace in its own transaction (kind "login": an ACS attempt, "logout": an SLS one).

    Anything the caller left uncommitted is rolled back first: nothing of a refused attempt may
    ride along with its trace. A failure to write is logged, never raised.

    The caller's own error must reach the user even when the database cannot take the trace.
    """
    db.session.rollback()
    trace = _build(tenant_id, attempt, result=result, code=code, reason=reason, now=now, kind=kind)
    try:
        db.session.add(trace)
        db.session.commit()
    except SQLAlchemyError:
        db.session.rollback()
        log.exception("could not write the login trace for tenant %s (%s)", tenant_id, code)
        return None
    log.info("%s trace %s tenant=%s result=%s code=%s", kind, trace.ref, tenant_id, result, code)
    return trace


def _build(
    tenant_id: int, attempt: Attempt, *, result: str, code: str, reason: str, now: datetime, kind: str
) -> LoginTrace:
    return LoginTrace(
        ref=new_ref(),
        tenant_id=tenant_id,
        time=now,
        kind=kind,
        flow=attempt.flow,
        result=result,
        code=code[:64],
        reason=_cap(reason, MAX_REASON) or "",
        idp_entity_id=_cap(attempt.issuer, 1024),
        name_id=_cap(attempt.name_id, 512),
        attributes=capped_attributes(attempt.attributes),
        clock_difference_seconds=attempt.clock_difference_seconds,
        verifying_certificate=attempt.verifying_certificate,
        group_decision=_cap(attempt.group_decision, 512),
        user_id=attempt.user_id,
    )


def search(
    *,
    tenant_id: int | None = None,
    result: str | None = None,
    code: str | None = None,
    name_id: str | None = None,
    user_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[LoginTrace]:
    """Traces newest first, filtered; tenant_id None means every tenant (ops only)."""
    query = select(LoginTrace)
    if tenant_id is not None:
        query = query.where(LoginTrace.tenant_id == tenant_id)
    if result in RESULTS:
        query = query.where(LoginTrace.result == result)
    if code:
        query = query.where(LoginTrace.code == code[:64])
    if name_id:
        query = query.where(func.lower(LoginTrace.name_id).contains(name_id.lower()[:512], autoescape=True))
    if user_id is not None:
        query = query.where(LoginTrace.user_id == user_id)
    query = query.order_by(LoginTrace.time.desc(), LoginTrace.id.desc()).limit(limit).offset(offset)
    return list(db.session.scalars(query))


def with_attributes(tenant_id: int, limit: int = 10, scan: int = 100) -> list[LoginTrace]:
    """The tenant's latest traces that kept attributes (to try mapping rules on), newest first."""
    return [trace for trace in search(tenant_id=tenant_id, limit=scan) if trace.attributes][:limit]


def find(ref: str | None, tenant_id: int | None = None) -> LoginTrace | None:
    """The trace with this reference (in this tenant, when given), or None."""
    value = normalise_ref(ref)
    if value is None:
        return None
    query = select(LoginTrace).where(LoginTrace.ref == value)
    if tenant_id is not None:
        query = query.where(LoginTrace.tenant_id == tenant_id)
    return db.session.scalar(query)


def last_times(tenant_ids: list[int] | None = None) -> dict[int, dict[str, datetime]]:
    """{tenant_id: {"success": time, "failure": time}} of the latest sign-in (not sign-out) of each result."""
    succeeded = LoginTrace.result == "success"
    query = (
        select(LoginTrace.tenant_id, succeeded, func.max(LoginTrace.time))
        .where(LoginTrace.kind == "login")
        .group_by(LoginTrace.tenant_id, succeeded)
    )
    if tenant_ids is not None:
        query = query.where(LoginTrace.tenant_id.in_(tenant_ids))
    times: dict[int, dict[str, datetime]] = {}
    for tenant_id, ok, latest in db.session.execute(query):
        times.setdefault(tenant_id, {})["success" if ok else "failure"] = latest
    return times


def purge(now: datetime, retention_days: int) -> int:
    """Delete traces older than the retention period; the caller commits. Returns how many."""
    cutoff = now - timedelta(days=retention_days)
    return rowcount(db.session.execute(delete(LoginTrace).where(LoginTrace.time < cutoff)))


def as_json(trace: LoginTrace, tenant_slug: str | None = None) -> dict[str, Any]:
    """The trace as the CLI and exports print it."""
    return {
        "ref": trace.ref,
        "tenant": tenant_slug or db.session.scalar(select(Tenant.slug).where(Tenant.id == trace.tenant_id)),
        "time": trace.time.isoformat(),
        "kind": trace.kind,
        "flow": trace.flow,
        "result": trace.result,
        "code": trace.code,
        "reason": trace.reason,
        "idp_entity_id": trace.idp_entity_id,
        "name_id": trace.name_id,
        "attributes": trace.attributes,
        "clock_difference_seconds": trace.clock_difference_seconds,
        "verifying_certificate": trace.verifying_certificate,
        "group_decision": trace.group_decision,
    }
