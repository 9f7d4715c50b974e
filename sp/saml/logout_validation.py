"""The checks we add on top of python3-saml for LogoutRequests and LogoutResponses.

python3-saml 1.16.0 verifies a logout message's query signature and checks its schema, but
accepts a missing Issuer and a missing Destination, checks Destination as a prefix, allows no
clock skew on NotOnOrAfter and never looks at IssueInstant, so a LogoutRequest captured a year
ago is as good as a fresh one. These checks run on the parsed, not yet trusted, message and only
ever refuse; acceptance still needs the signature (see `toolkit.verify_logout_signature`).
Every function takes `now`, so tests can freeze time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lxml import etree

from .. import errors
from .validation import MAX_NAME_ID, MAX_NAME_ID_FORMAT, MAX_SESSION_INDEX, SAML, SAMLP, STATUS_SUCCESS, parse_saml_time

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
    return "" if element is None else "".join(element.itertext()).strip()


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
        raise errors.IssuerMismatch(f"the {kind} must name exactly one Issuer (this tenant's IdP, {expect.idp_entity_id!r})")
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
    return LogoutRequestFacts(
        request_id=root.get("ID"),
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
    if code is None or not code.get("Value"):
        raise errors.SchemaInvalid("the LogoutResponse has no Status")
    message = _text(root.find(f"{SAMLP}Status/{SAMLP}StatusMessage"))
    return LogoutResponseFacts(
        response_id=root.get("ID"),
        in_response_to=in_response_to,
        issue_instant=instant,
        status=code.get("Value"),
        sub_statuses=[nested.get("Value") or "" for nested in code.iter(SAMLP + "StatusCode") if nested is not code],
        status_message=message[:200] or None,
    )
