"""Consume a SAML Response: the decisions of the Assertion Consumer Service.

Order matters. The raw document is checked and parsed once (sp.saml.xml) before anything could
hide or decrypt something; cheap structural checks then refuse dangerous signatures before any
transform runs; then the profile checks (sp.saml.response, stricter than python3-saml's) and the
policy (IdP-initiated allowed, request started in this browser); then the schema and the
signature against the tenant's certificates; only then do we touch the database, in one
transaction that inserts the replay key, consumes the request, provisions the user and opens the
session. Any refusal rolls all of it back.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app

from sp import errors
from sp.extensions import db
from sp.models import Tenant, User
from sp.records import audit, traces
from sp.records.traces import Attempt
from sp.saml import response, xml
from sp.saml.times import clock_difference
from sp.signin import outstanding, provisioning, replay, trust
from sp.signin.redirects import safe_next
from sp.tenancy import sessions, users

_BASE64 = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")
_CREATE_RETRIES = 3


@dataclass
class Login:
    """A completed login: who, which session, where to send them."""

    user: User
    signed_in: sessions.SignedIn
    next_path: str
    created: bool
    attempt: Attempt


def decode_form_value(value: str | None, limit: int) -> bytes:
    """Check SAMLResponse is present, not oversized, strict base64; return the decoded bytes."""
    if not value:
        raise errors.MalformedMessage("the request carries no SAMLResponse")
    if len(value) > limit * 4 // 3 + 4096:
        raise errors.MessageTooLarge(f"the SAMLResponse is larger than the {limit} bytes we accept")
    compact = "".join(value.split()).encode("ascii", "replace")
    if len(compact) % 4 or not _BASE64.match(compact):
        raise errors.MalformedMessage("the SAMLResponse is not valid base64")
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise errors.MalformedMessage("the SAMLResponse is not valid base64") from None
    if len(raw) > limit:
        raise errors.MessageTooLarge(f"the SAMLResponse is larger than the {limit} bytes we accept")
    return raw


def consume(
    tenant: Tenant,
    saml_response: str | None,
    relay_state: str | None,
    now: datetime,
    attempt: Attempt,
    *,
    started_here: Collection[str],
) -> Login:
    """Validate a posted Response for tenant and sign the user in.

    `started_here` holds the IDs of the AuthnRequests this browser sent (see sp.web.started): a
    response to any other request is refused (login CSRF).
    Raises an SPError subclass for every refusal; nothing is written to the database then.
    `attempt` is filled in as facts are learned, so the caller can trace a refusal.
    """
    config = current_app.config
    root = xml.parse_message(decode_form_value(saml_response, config["SAML_MAX_RESPONSE_BYTES"]))
    idp = trust.idp_of(tenant)
    idp_cfg = trust.idp_config(idp)
    expect = trust.expectations(tenant, idp)

    attempt.in_response_to = root.get("InResponseTo")
    attempt.clock_difference_seconds = clock_difference(root.get("IssueInstant"), now)
    attempt.flow = "sp" if attempt.in_response_to else "idp"
    assertion = response.check_structure(root)
    attempt.issuer = xml.text(assertion.find(xml.SAML + "Issuer"))
    facts = response.check_response(root, assertion, expect, now)
    if facts.in_response_to is None and not tenant.idp_initiated:
        raise errors.UnsolicitedRefused(
            "the IdP sent a sign-in this organisation did not ask for (IdP-initiated), and IdP-initiated "
            "sign-in is turned off for it; start from the SP's login page, or turn it on"
        )
    if facts.in_response_to is not None and facts.in_response_to not in started_here:
        raise errors.RequestOtherBrowser(
            "the response answers a sign-in request this browser did not start (or started too long ago): "
            "possible login CSRF, or the cookie was lost; start the sign-in again from this browser"
        )
    attempt.verifying_certificate = response.verify(root, assertion, idp_cfg.certificates)
    who = response.identity(assertion, expect.sp_entity_id)
    attempt.name_id, attempt.attributes = who.name_id, who.attributes

    lifetime = timedelta(seconds=config["SESSION_LIFETIME_SECONDS"])
    if facts.session_not_on_or_after is not None:
        lifetime = max(timedelta(0), min(lifetime, facts.session_not_on_or_after - now))

    for attempt_number in range(_CREATE_RETRIES):
        try:
            replay.remember(tenant, idp.entity_id, facts.assertion_id, facts.remember_until, now)
            if facts.in_response_to is not None:
                next_path = outstanding.consume(tenant, facts.in_response_to, now).next_path
            else:
                next_path = safe_next(relay_state)
            user, created = provisioning.provision(tenant, who, now)
            attempt.group_decision = f"{user.group.name}: {users.group_reason(user)}"
            signed_in = sessions.start(user, who.session_index, now, lifetime)
            if created:
                audit.record(
                    "user.created",
                    actor="idp",
                    tenant_id=tenant.id,
                    target=user.name_id,
                    now=now,
                    details={
                        "source": "jit",
                        "group": user.group.name,
                        "group_source": user.group_source,
                        "group_detail": user.group_detail,
                    },
                )
            audit.record(
                "user.login",
                actor="idp",
                tenant_id=tenant.id,
                target=user.name_id,
                now=now,
                details={"flow": attempt.flow},
            )
            attempt.user_id = user.id
            if not user.email:
                attempt.warnings.append(provisioning.missing_email_reason(who, tenant))
            # The success trace commits with the login itself: one transaction, and never one without the other.
            warnings = "".join(f"; but {warning}" for warning in attempt.warnings)
            traces.add(
                tenant.id,
                attempt,
                result="success",
                code="ok",
                now=now,
                reason=f"signed in as {user.name_id}{'; created just in time' if created else ''}{warnings}",
            )
            db.session.commit()
            return Login(user=user, signed_in=signed_in, next_path=next_path, created=created, attempt=attempt)
        except provisioning.UserCreationRace:
            db.session.rollback()
            if attempt_number == _CREATE_RETRIES - 1:
                raise errors.Busy(
                    f"{_CREATE_RETRIES} concurrent first logins of {who.name_id!r} kept colliding"
                ) from None
        except Exception:
            db.session.rollback()
            raise
    raise AssertionError("unreachable")


def sign_in(
    tenant: Tenant, saml_response: str | None, relay_state: str | None, now: datetime, *, started_here: Collection[str]
) -> Login:
    """Consume a Response and leave a login trace whatever happens.

    A successful login commits its trace with it; a refused one is traced in its own transaction
    after the login's has rolled back, and raises errors.Traced, which carries the trace's
    reference to the error page.
    """
    tenant_id, attempt = tenant.id, Attempt()
    try:
        return consume(tenant, saml_response, relay_state, now, attempt, started_here=started_here)
    except errors.SPError as error:
        trace = traces.record(tenant_id, attempt, result="refused", code=error.code, reason=error.reason, now=now)
        raise errors.Traced(error, trace.ref if trace else None) from error
    except Exception as error:
        trace = traces.record(
            tenant_id,
            attempt,
            result="error",
            code=errors.InternalError.code,
            now=now,
            reason=f"an error on our side ({type(error).__name__}); the SP's log has the details",
        )
        raise errors.Traced(
            errors.InternalError(f"{type(error).__name__} in the ACS"), trace.ref if trace else None
        ) from error
