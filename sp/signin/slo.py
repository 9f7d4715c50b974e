"""Single logout: the decisions of the single logout service (SLS) and of signing out.

Two ways in:

- IdP-initiated: the tenant's IdP sends a LogoutRequest to the SLS. It is checked the way the
  ACS checks a Response: sizes and bounded inflating first (bindings), the raw document before
  python3-saml's parser sees it, the message's shape and profile (Issuer, Destination, times,
  NameID), the signature through python3-saml in strict mode; only then, in one transaction, its
  ID goes into the replay cache and the sessions it names end. The IdP gets a signed
  LogoutResponse: Success, or Responder when we could not end the sessions.
- SP-initiated: the user signs out here. Their session ends at once and for good, whatever the
  IdP does later; then, when the tenant does single logout and its IdP has an SLO endpoint, a
  signed LogoutRequest goes to the IdP, and its LogoutResponse must come back to the SLS answering
  that request, in the browser that sent it, once.

Every SLS attempt leaves a trace (kind "logout"); a refusal writes nothing else.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy.exc import SQLAlchemyError

from sp import errors
from sp.extensions import db
from sp.models import Tenant
from sp.records import audit, traces
from sp.records.traces import Attempt
from sp.saml import bindings, logout, messages, signature, xml
from sp.saml.config import BINDING_POST, STATUS_RESPONDER, STATUS_SUCCESS, IdpConfig, SpConfig
from sp.saml.messages import OutgoingRequest, OutgoingResponse
from sp.saml.times import clock_difference
from sp.signin import outstanding, replay, trust
from sp.tenancy import sessions

log = logging.getLogger("sp.saml.slo")

SIGNED_OUT = "You are signed out."
SIGNED_OUT_EVERYWHERE = "You are signed out (also at your organisation's sign-in)."
SIGNED_OUT_HERE_ONLY = (
    "You are signed out here, but your organisation's sign-in could not confirm it signed you "
    "out there too. Close your browser to be sure."
)
# What a refused sign-out message shows: never what it carried (the code and reference say the rest).
_REFUSED = {
    "SAMLRequest": (
        "We could not sign you out",
        "The sign-out request from your organisation's sign-in page could not be completed. "
        "If you meant to sign out, use Sign out in the app, or contact your administrator.",
    ),
    "SAMLResponse": (
        "Sign-out not confirmed",
        "We could not confirm the sign-out at your organisation's sign-in page. "
        "Close your browser to be sure you are signed out everywhere.",
    ),
}
# Where a LogoutResponse sends the user back to (we never follow the RelayState the IdP returns).
LANDING = "/login"


@dataclass
class Outcome:
    """What the SLS did, and what its trace says; the view turns it into HTTP."""

    reason: str
    # A signed LogoutResponse for the IdP (the answer to its LogoutRequest), or None.
    answer: OutgoingResponse | None = None
    # For the login page, when the user lands there instead.
    notice: str | None = None
    ended_session_ids: list[int] = field(default_factory=list)
    result: str = "success"
    code: str = "ok"


def _check_query_signature(incoming: bindings.Incoming) -> None:
    """A Redirect-binding message must be signed with RSA and SHA-256 or stronger; refused before xmlsec runs."""
    if not incoming.signature or not incoming.sig_alg:
        raise errors.SignatureMissing(
            "the message carries no query signature (Signature and SigAlg); the IdP must sign its logout messages"
        )
    if incoming.sig_alg not in logout.REDIRECT_SIGNATURE_ALGORITHMS:
        raise errors.WeakAlgorithm(
            f"the query signature uses {incoming.sig_alg[:100]!r}; we accept RSA with SHA-256 or stronger"
        )
    bindings.strict_base64(incoming.signature, "Signature")


def consume(
    tenant: Tenant, incoming: bindings.Incoming, now: datetime, attempt: Attempt, *, started_here: Collection[str]
) -> Outcome:
    """Check a message the SLS received and act on it.

    `started_here` holds the IDs of the requests this browser sent (see `started`): a
    LogoutResponse to any other request is refused. Raises an SPError subclass for every refusal;
    nothing is written then. `attempt` is filled in as facts are learned, for the trace.
    """
    idp = trust.idp_of(tenant)
    idp_cfg = trust.idp_config(idp)
    if incoming.binding == bindings.POST and idp_cfg.slo_binding != BINDING_POST:
        raise errors.BindingUnsupported(
            "the IdP posted a logout message (HTTP-POST); we take them by HTTP-Redirect, as our metadata says, "
            "and by HTTP-POST only from an IdP whose metadata lists SingleLogoutService for HTTP-POST alone"
        )
    if incoming.binding == bindings.REDIRECT:
        _check_query_signature(incoming)
    root = xml.parse_message(incoming.xml)
    sp = trust.sp_config(tenant)
    kind = messages.LOGOUT_REQUEST if incoming.kind == "SAMLRequest" else messages.LOGOUT_RESPONSE
    message = logout.parse_logout(sp, idp_cfg, kind, root)
    attempt.clock_difference_seconds = clock_difference(root.get("IssueInstant"), now)
    attempt.issuer = xml.text(root.find(xml.SAML + "Issuer"))
    if incoming.binding == bindings.POST:
        signature.check_message_signature(root)
    expect = trust.logout_expectations(tenant, idp)
    verify: dict[str, Any] = dict(parameters=incoming.parameters(), query_string=incoming.query_string)

    if kind == messages.LOGOUT_REQUEST:
        facts = logout.check_logout_request(root, expect, now)
        attempt.name_id = facts.name_id
        attempt.verifying_certificate = logout.verify_logout(message, sp, idp_cfg, **verify)
        return _end_sessions(tenant, sp, idp_cfg, facts, incoming.relay_state, now, attempt)

    answer = logout.check_logout_response(root, expect, now)
    if answer.in_response_to not in started_here:
        raise errors.RequestOtherBrowser(
            "the LogoutResponse answers a sign-out this browser did not start (or started too long ago)"
        )
    attempt.verifying_certificate = logout.verify_logout(
        message, sp, idp_cfg, request_id=answer.in_response_to, **verify
    )
    try:
        outstanding.consume(tenant, answer.in_response_to, now, kind=outstanding.LOGOUT)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    if not answer.success:
        # Verified: the IdP itself says it failed. The user was signed out here before leaving.
        said = f": {answer.status_message}" if answer.status_message else ""
        return Outcome(
            notice=SIGNED_OUT_HERE_ONLY,
            result="refused",
            code=errors.StatusNotSuccess.code,
            reason=f"the IdP answered the sign-out with status {answer.status} "
            f"({', '.join(answer.sub_statuses) or 'no detail'}){said}; the user is signed out here only",
        )
    if answer.partial:
        return Outcome(
            notice=SIGNED_OUT_HERE_ONLY, reason="the IdP signed the user out, but only partly (PartialLogout)"
        )
    return Outcome(notice=SIGNED_OUT_EVERYWHERE, reason="the IdP confirmed the sign-out")


def _end_sessions(
    tenant: Tenant,
    sp: SpConfig,
    idp: IdpConfig,
    facts: logout.LogoutRequestFacts,
    relay_state: str | None,
    now: datetime,
    attempt: Attempt,
) -> Outcome:
    """Remember the request (once only), end the sessions it names, and answer the IdP."""
    try:
        replay.remember(tenant, idp.entity_id, facts.request_id, facts.remember_until, now, kind=replay.LOGOUT_REQUEST)
        user, ended = sessions.revoke_for_logout(tenant.id, facts.name_id, facts.session_indexes, now)
        if ended:
            audit.record(
                "user.logout",
                actor="idp",
                tenant_id=tenant.id,
                target=facts.name_id,
                now=now,
                details={"flow": "idp", "sessions": len(ended), "session_indexes": facts.session_indexes},
            )
        db.session.commit()
        attempt.user_id = user.id if user else None
        outcome = Outcome(
            ended_session_ids=ended, reason=f"the IdP signed {facts.name_id} out: {len(ended)} session(s) ended"
        )
        status = STATUS_SUCCESS
    except SQLAlchemyError:
        # Verified, yet not done: tell the IdP so (Responder) rather than claim a logout we did not make.
        db.session.rollback()
        log.exception("could not end the sessions a LogoutRequest for tenant %s names", tenant.slug)
        outcome = Outcome(
            result="error",
            code="internal",
            reason="the sessions could not be ended (a database error); the IdP was told so (Responder)",
        )
        status = STATUS_RESPONDER
    if idp.slo_url is None:
        # Nowhere to answer: the IdP's metadata lists no SingleLogoutService. The logout still counts.
        outcome.notice = SIGNED_OUT
        outcome.reason += "; no answer sent: the IdP's metadata lists no SingleLogoutService"
        return outcome
    outcome.answer = messages.logout_response(
        sp, idp, in_response_to=facts.request_id, status=status, relay_state=relay_state
    )
    return outcome


def receive(
    tenant: Tenant,
    now: datetime,
    *,
    query_string: bytes | None = None,
    form: Mapping[str, list[str]] | None = None,
    started_here: Collection[str] = (),
) -> Outcome:
    """Consume a message sent to the SLS (query_string: HTTP-Redirect; form: HTTP-POST) and trace it, whatever happens.

    A refusal carries the trace's reference, and a sign-out (not sign-in) message, to the error page.
    """
    tenant_id, attempt, incoming = tenant.id, Attempt(), None
    try:
        limit = current_app.config["SAML_MAX_LOGOUT_BYTES"]
        if form is not None:
            incoming = bindings.read_post(form, limit)
        else:
            incoming = bindings.read_redirect(query_string or b"", limit)
        attempt.flow = "idp" if incoming.kind == "SAMLRequest" else "sp"
        done = consume(tenant, incoming, now, attempt, started_here=started_here)
    except errors.SPError as error:
        trace = traces.record(
            tenant_id, attempt, result="refused", code=error.code, reason=error.reason, now=now, kind="logout"
        )
        title = message = None
        if isinstance(error, errors.SamlRejected):
            title, message = _REFUSED[incoming.kind if incoming else "SAMLRequest"]
        raise errors.Traced(error, trace.ref if trace else None, title=title, message=message) from error
    except Exception as error:
        trace = traces.record(
            tenant_id,
            attempt,
            result="error",
            code=errors.InternalError.code,
            now=now,
            kind="logout",
            reason=f"an error on our side ({type(error).__name__}); the SP's log has the details",
        )
        raise errors.Traced(
            errors.InternalError(f"{type(error).__name__} in the SLS"), trace.ref if trace else None
        ) from error
    traces.record(tenant_id, attempt, result=done.result, code=done.code, reason=done.reason, now=now, kind="logout")
    return done


def sign_out(signed_in: sessions.SignedIn, now: datetime) -> OutgoingRequest | None:
    """End this browser's session at once; then, when the tenant does single logout, a LogoutRequest for its IdP.

    The session is revoked and committed before anything else is tried, so an IdP that fails or
    never answers cannot keep anyone signed in. Returns None when the sign-out is local only.
    """
    user, row = signed_in.user, signed_in.session
    sessions.revoke(signed_in.token, now)
    audit.record(
        "user.logout",
        actor=f"user:{user.id}",
        tenant_id=user.tenant_id,
        target=user.name_id,
        now=now,
        details={"flow": "sp"},
    )
    db.session.commit()
    tenant = user.tenant
    idp = tenant.identity_provider
    if not tenant.single_logout or idp is None or trust.slo_endpoint(idp)[0] is None:
        return None
    try:
        outgoing = messages.logout_request(
            trust.sp_config(tenant),
            trust.idp_config(idp),
            name_id=user.name_id,
            name_id_format=user.name_id_format,
            session_index=row.session_index,
            relay_state=LANDING,
        )
        ttl = timedelta(seconds=current_app.config["SAML_REQUEST_TTL_SECONDS"])
        outstanding.remember(tenant, outgoing.request_id, LANDING, now, ttl, kind=outstanding.LOGOUT)
        db.session.commit()
    except Exception:
        # The user is signed out here already; the IdP round trip is a courtesy we could not start.
        db.session.rollback()
        log.exception("could not start single logout at the IdP of tenant %s", tenant.slug)
        return None
    return outgoing
