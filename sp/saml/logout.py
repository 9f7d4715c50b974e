"""LogoutRequests and LogoutResponses from a tenant's IdP: our checks, then python3-saml's.

python3-saml 1.16.0 verifies a logout message's query signature and checks its schema, but
accepts a missing Issuer and a missing Destination, checks Destination as a prefix, allows no
clock skew on NotOnOrAfter and never looks at IssueInstant, so a LogoutRequest captured a year
ago is as good as a fresh one. `check_logout_request` and `check_logout_response` run on the
parsed, not yet trusted, message and only ever refuse; acceptance still needs `verify_logout`.
Every function takes `now`, so tests can freeze time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as VE
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from sp import errors
from sp.saml import certificates, signature
from sp.saml.config import IdpConfig, SpConfig, request_data, settings_for
from sp.saml.messages import LOGOUT_REQUEST
from sp.saml.response import MAX_NAME_ID, MAX_NAME_ID_FORMAT, MAX_SESSION_INDEX, STATUS_SUCCESS
from sp.saml.times import parse_saml_time
from sp.saml.xml import DS, SAML, SAMLP, text

# The query-signature algorithms we verify: RSA with SHA-256 or stronger. python3-saml verifies any
# other URI as RSA-SHA256 and takes SHA-1 when SigAlg is absent, so we refuse everything else first.
REDIRECT_SIGNATURE_ALGORITHMS = frozenset({C.RSA_SHA256, C.RSA_SHA384, C.RSA_SHA512})
# An xs:ID as we are willing to echo it in InResponseTo (an NCName; no quotes, no markup).
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,255}$")
# More SessionIndexes than any IdP sends for one principal.
MAX_SESSION_INDEXES = 20
STATUS_PARTIAL_LOGOUT = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"


@dataclass(frozen=True)
class LogoutExpectations:
    """What a logout message for this tenant must say, all derived from SP_BASE_URL and the tenant."""

    sls_url: str
    idp_entity_id: str
    clock_skew: timedelta
    max_age: timedelta


@dataclass
class LogoutRequestFacts:
    """What the checks learned about a (still unverified) LogoutRequest."""

    request_id: str
    issue_instant: datetime
    name_id: str
    name_id_format: str | None
    session_indexes: list[str]
    # Until when the replay cache must remember the request's ID.
    remember_until: datetime


@dataclass
class LogoutResponseFacts:
    """What the checks learned about a (still unverified) LogoutResponse."""

    response_id: str
    in_response_to: str
    issue_instant: datetime
    status: str
    sub_statuses: list[str] = field(default_factory=list)
    status_message: str | None = None

    @property
    def success(self) -> bool:
        return self.status == STATUS_SUCCESS

    @property
    def partial(self) -> bool:
        return STATUS_PARTIAL_LOGOUT in self.sub_statuses


def _text(element: etree._Element | None) -> str:
    return text(element) or ""


def _check_header(root: etree._Element, kind: str, expect: LogoutExpectations, now: datetime) -> datetime:
    """Root element, version, ID, Issuer, Destination and IssueInstant; returns the IssueInstant."""
    if root.tag != SAMLP + kind:
        raise errors.MalformedMessage(f"the message is a {etree.QName(root).localname}, not a samlp:{kind}")
    if root.get("Version") != "2.0":
        raise errors.SchemaInvalid(f"the {kind} is not SAML version 2.0")
    if not _ID.match(root.get("ID") or ""):
        raise errors.SchemaInvalid(f"the {kind} has no ID, or one we will not echo (not a plain xs:ID)")
    issuers = root.findall(SAML + "Issuer")
    if len(issuers) != 1:
        raise errors.IssuerMismatch(
            f"the {kind} must name exactly one Issuer (this tenant's IdP, {expect.idp_entity_id!r})"
        )
    if _text(issuers[0]) != expect.idp_entity_id:
        raise errors.IssuerMismatch(
            f"the {kind} was issued by {_text(issuers[0])[:200]!r} but this tenant's IdP is {expect.idp_entity_id!r}"
        )
    destination = root.get("Destination")
    if destination is None or not destination.strip():
        # SAML bindings 3.4.5.2: a signed message must name where it was sent.
        raise errors.DestinationMissing(f"the {kind} has no Destination; the IdP must send it ({expect.sls_url})")
    if destination != expect.sls_url:
        raise errors.DestinationMismatch(
            f"the IdP sent the {kind} to {destination[:300]} but this tenant's single logout URL is {expect.sls_url}"
        )
    instant = parse_saml_time(root.get("IssueInstant"))
    if instant is None:
        raise errors.IssueInstantInvalid(f"the {kind} has no IssueInstant")
    skew = expect.clock_skew
    if instant > now + skew:
        raise errors.IssueInstantInvalid(
            f"the {kind} was issued {(instant - now).total_seconds():.0f} s in the future: the IdP's clock is ahead "
            f"of ours by more than the {skew.total_seconds():.0f} s the tenant allows"
        )
    if instant < now - expect.max_age - skew:
        raise errors.IssueInstantInvalid(
            f"the {kind} was issued {(now - instant).total_seconds():.0f} s ago; we accept logout messages up to "
            f"{expect.max_age.total_seconds():.0f} s old (a stale or replayed message, or the IdP's clock is behind)"
        )
    return instant


def check_logout_request(root: etree._Element, expect: LogoutExpectations, now: datetime) -> LogoutRequestFacts:
    """Check a LogoutRequest from the tenant's IdP: header, times, the NameID and SessionIndexes.

    Raises a SamlRejected subclass naming the first problem found.
    """
    instant = _check_header(root, "LogoutRequest", expect, now)
    not_on_or_after = parse_saml_time(root.get("NotOnOrAfter"))
    if not_on_or_after is not None and now >= not_on_or_after + expect.clock_skew:
        raise errors.Expired(
            f"the LogoutRequest expired {(now - not_on_or_after).total_seconds():.0f} s ago (NotOnOrAfter)"
        )
    name_ids = root.findall(SAML + "NameID")
    if len(name_ids) != 1 or not _text(name_ids[0]):
        raise errors.NameIdMissing("the LogoutRequest names no principal by a NameID (we read no BaseID)")
    name_id, name_id_format = _text(name_ids[0]), name_ids[0].get("Format")
    if len(name_id) > MAX_NAME_ID or len(name_id_format or "") > MAX_NAME_ID_FORMAT:
        raise errors.ValueTooLong(
            f"the NameID is longer than {MAX_NAME_ID} characters, or its Format longer than {MAX_NAME_ID_FORMAT}"
        )
    indexes = [_text(element) for element in root.findall(SAMLP + "SessionIndex")]
    if len(indexes) > MAX_SESSION_INDEXES or any(len(index) > MAX_SESSION_INDEX for index in indexes):
        raise errors.ValueTooLong(
            f"more than {MAX_SESSION_INDEXES} SessionIndexes, or one longer than {MAX_SESSION_INDEX} characters"
        )
    request_id = root.get("ID")
    assert request_id is not None  # _check_header refused a LogoutRequest without an ID
    return LogoutRequestFacts(
        request_id=request_id,
        issue_instant=instant,
        name_id=name_id,
        name_id_format=name_id_format,
        session_indexes=[index for index in dict.fromkeys(indexes) if index],
        # Past IssueInstant + max age + skew the request is refused as too old anyway.
        remember_until=max(instant + expect.max_age + expect.clock_skew, now + expect.clock_skew),
    )


def check_logout_response(root: etree._Element, expect: LogoutExpectations, now: datetime) -> LogoutResponseFacts:
    """Check a LogoutResponse from the tenant's IdP: header, InResponseTo and status (read, not judged)."""
    instant = _check_header(root, "LogoutResponse", expect, now)
    in_response_to = root.get("InResponseTo")
    if not in_response_to:
        raise errors.RequestUnknown("the LogoutResponse answers no request (it has no InResponseTo)")
    code = root.find(f"{SAMLP}Status/{SAMLP}StatusCode")
    status = code.get("Value") if code is not None else None
    if code is None or not status:
        raise errors.SchemaInvalid("the LogoutResponse has no Status")
    message = _text(root.find(f"{SAMLP}Status/{SAMLP}StatusMessage"))
    response_id = root.get("ID")
    assert response_id is not None  # _check_header refused a LogoutResponse without an ID
    return LogoutResponseFacts(
        response_id=response_id,
        in_response_to=in_response_to,
        issue_instant=instant,
        status=status,
        sub_statuses=[nested.get("Value") or "" for nested in code.iter(SAMLP + "StatusCode") if nested is not code],
        status_message=message[:200] or None,
    )


# --- Parsing and verifying with python3-saml ------------------------------------------------

# python3-saml's validation codes, translated to our error classes.
_TRANSLATION: dict[int, type[errors.SamlRejected]] = {
    VE.UNSUPPORTED_SAML_VERSION: errors.SchemaInvalid,
    VE.MISSING_ID: errors.SchemaInvalid,
    VE.MISSING_STATUS: errors.SchemaInvalid,
    VE.MISSING_STATUS_CODE: errors.SchemaInvalid,
    VE.INVALID_XML_FORMAT: errors.SchemaInvalid,
    VE.STATUS_CODE_IS_NOT_SUCCESS: errors.StatusNotSuccess,
    VE.WRONG_INRESPONSETO: errors.RequestUnknown,
    VE.RESPONSE_EXPIRED: errors.Expired,
    VE.WRONG_DESTINATION: errors.DestinationMismatch,
    VE.EMPTY_DESTINATION: errors.DestinationMissing,
    VE.WRONG_ISSUER: errors.IssuerMismatch,
    VE.NO_SIGNED_MESSAGE: errors.SignatureMissing,
    VE.NO_SIGNATURE_FOUND: errors.SignatureMissing,
    VE.INVALID_SIGNATURE: errors.SignatureInvalid,
    VE.NO_NAMEID: errors.NameIdMissing,
    VE.EMPTY_NAMEID: errors.NameIdMissing,
    VE.DEPRECATED_SIGNATURE_METHOD: errors.WeakAlgorithm,
    VE.DEPRECATED_DIGEST_METHOD: errors.WeakAlgorithm,
}


@dataclass
class LogoutMessage:
    """A LogoutRequest or LogoutResponse as python3-saml parsed it: its object and its document."""

    kind: str  # LogoutRequest | LogoutResponse
    message: OneLogin_Saml2_Logout_Request | OneLogin_Saml2_Logout_Response
    document: etree._Element


def parse_logout(sp: SpConfig, idp: IdpConfig, kind: str, root: etree._Element) -> LogoutMessage:
    """Hand a logout message whose raw document passed `xml.parse_message` to python3-saml.

    python3-saml inflates whatever it is handed, without a bound, so it is handed only what we
    deflate ourselves from the document we already parsed (bindings.inflate capped its size).
    The document the checks and the signature work on is our parse, `root`.
    """
    redeflated = OneLogin_Saml2_Utils.deflate_and_base64_encode(etree.tostring(root))
    try:
        if kind == LOGOUT_REQUEST:
            return LogoutMessage(kind, OneLogin_Saml2_Logout_Request(settings_for(sp, idp), redeflated), root)
        return LogoutMessage(kind, OneLogin_Saml2_Logout_Response(settings_for(sp, idp), redeflated), root)
    except Exception as error:  # python3-saml raises bare exceptions from its parser
        raise errors.MalformedMessage(f"the {kind} is not a well-formed XML document: {type(error).__name__}") from None


def _logout_request_data(sp: SpConfig, parameters: dict[str, str], query_string: str | None) -> dict[str, Any]:
    data = request_data(sp.sls_url or sp.acs_url)
    data["get_data"] = dict(parameters)
    if query_string is not None:
        # Verify the signature over the query exactly as the IdP encoded it (AD FS writes lowercase
        # hex, others uppercase), not over python3-saml's re-encoding of the decoded values.
        data["query_string"] = query_string
        data["validate_signature_from_qs"] = True
    return data


def verify_logout(
    logout: LogoutMessage,
    sp: SpConfig,
    idp: IdpConfig,
    *,
    parameters: dict[str, str],
    query_string: str | None,
    request_id: str | None = None,
) -> str | None:
    """Verify a logout message's signature with the tenant's certificates, then python3-saml's strict checks.

    HTTP-Redirect (`query_string` given): the query signature, whose presence and algorithm the
    caller checked. HTTP-POST: the enveloped XML signature, whose shape the caller checked
    (signature.check_message_signature). `request_id` is the LogoutRequest a LogoutResponse answers.
    Returns the fingerprint of the certificate that verified, when it is known.
    """
    data = _logout_request_data(sp, parameters, query_string)
    verified: str | None
    if query_string is not None:
        auth = OneLogin_Saml2_Auth(data, old_settings=settings_for(sp, idp))
        if logout.kind == LOGOUT_REQUEST:
            ok = auth.validate_request_signature(data["get_data"])
        else:
            ok = auth.validate_response_signature(data["get_data"])
        if not ok:
            listed = ", ".join(certificates.describe(pem) for pem in idp.certificates) or "none"
            raise errors.SignatureInvalid(
                f"the {logout.kind}'s query signature verifies with none of the certificates in the uploaded "
                f"metadata ({listed}): the message was changed, or the IdP signs with a key the metadata does not list"
            )
        # A query signature names no certificate: with one in the metadata there is no doubt.
        verified = certificates.pem_fingerprint(idp.certificates[0]) if len(idp.certificates) == 1 else None
    else:
        found = logout.document.find(DS + "Signature")
        if found is None:
            raise errors.SignatureMissing(f"the {logout.kind} is not signed; the IdP must sign it")
        verified = signature.verify_enveloped(logout.document, found, idp.certificates, what=logout.kind)
    try:
        if logout.kind == LOGOUT_REQUEST:
            logout.message.is_valid(data, raise_exceptions=True)
        else:
            logout.message.is_valid(data, request_id=request_id, raise_exceptions=True)
    except VE as error:
        raise _TRANSLATION.get(error.code, errors.RejectedByToolkit)(f"python3-saml: {error}") from None
    except Exception as error:
        raise errors.RejectedByToolkit(f"python3-saml refused the {logout.kind} ({type(error).__name__})") from None
    return verified
