"""A SAML Response to our ACS: the checks python3-saml does not make, verification, and the identity.

python3-saml 1.16.0 in strict mode still accepts: a Destination that merely starts with our ACS,
a Recipient that merely contains it, no AudienceRestriction at all, no NotOnOrAfter anywhere,
signatures whose transforms it runs before checking anything (XSLT, XPath), a fixed 300 s clock
drift, and no replay protection; its parser silently drops comments and processing instructions,
and its constructor decrypts an EncryptedAssertion with our private key before anything is
checked. So the pipeline is ours, built on the same pieces (xmlsec, the SAML schema that
python3-saml ships), on one parsed tree:

1. `sp.saml.xml.parse_message`: the raw bytes, then one parse.
2. `check_structure`: the message's shape and its signatures' shapes; returns the one assertion.
3. `check_response`: status, issuers, destination, times, subject confirmation and audience;
   returns the facts the caller's policy needs (InResponseTo, until when to remember it).
4. `verify`: the schema, then every signature against the tenant's trusted certificates.
5. `identity`: who the verified assertion says the user is.

Steps 2 and 3 only ever refuse; acceptance needs step 4. Every function takes `now`, so tests
can freeze time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from lxml import etree

from sp import errors
from sp.saml import signature, xml
from sp.saml.times import describe_offset, parse_saml_time
from sp.saml.xml import DS, NS, SAML, SAMLP, text

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
# The widest values our database columns hold (User.name_id, name_id_format, UserSession.session_index).
MAX_NAME_ID = 512
MAX_NAME_ID_FORMAT = 255
MAX_SESSION_INDEX = 255


@dataclass(frozen=True)
class Expectations:
    """What a Response for this tenant must say, all derived from SP_BASE_URL and the tenant."""

    sp_entity_id: str
    acs_url: str
    idp_entity_id: str
    clock_skew: timedelta
    max_age: timedelta


@dataclass(frozen=True)
class AssertionFacts:
    """What the checks learned about the (still unverified) Response."""

    assertion_id: str
    in_response_to: str | None
    issue_instant: datetime
    # Until when the replay cache must remember this assertion.
    remember_until: datetime
    session_not_on_or_after: datetime | None = None


@dataclass(frozen=True)
class Identity:
    """Who the verified assertion says the user is."""

    name_id: str
    name_id_format: str | None
    session_index: str | None
    attributes: dict[str, list[str]]


def check_structure(root: etree._Element) -> etree._Element:
    """Check the message's shape and signatures' shapes; return the one assertion.

    Raises MalformedMessage, AssertionCount, EncryptedAssertionUnsupported, DuplicateId,
    ContentOutsideAssertion, SignatureMissing, SignatureStructure or WeakAlgorithm.
    """
    if root.tag != SAMLP + "Response":
        raise errors.MalformedMessage(f"the message is a {etree.QName(root).localname}, not a samlp:Response")
    if root.get("Version") != "2.0":
        raise errors.SchemaInvalid("the Response is not SAML version 2.0")
    # An IdP's error answer usually has no assertion: report its status, not the missing assertion.
    _check_status(root)
    if any(True for _ in root.iter(SAML + "EncryptedAssertion")):
        raise errors.EncryptedAssertionUnsupported(
            "the IdP encrypted the assertion; turn assertion encryption off for this application in the IdP"
        )
    all_assertions = list(root.iter(SAML + "Assertion"))
    direct = root.findall(SAML + "Assertion")
    if len(all_assertions) != 1 or len(direct) != 1:
        raise errors.AssertionCount(
            f"the Response must carry exactly one assertion directly inside it; found {len(all_assertions)} "
            f"in all, {len(direct)} directly inside"
        )
    assertion = direct[0]

    signature.check_unique_ids(root)
    _check_nothing_outside(root, assertion)

    signatures = list(root.iter(DS + "Signature"))
    if not signatures:
        raise errors.SignatureMissing("neither the Response nor the Assertion is signed; the IdP must sign them")
    if len(signatures) > 2:
        raise errors.SignatureStructure(
            f"{len(signatures)} signatures; at most one on the Response and one on the Assertion"
        )
    for found in signatures:
        signature.check_shape(found, (root, assertion))
    if any(len(element.findall(DS + "Signature")) > 1 for element in (root, assertion)):
        raise errors.SignatureStructure(
            "two signatures on one element; at most one on the Response and one on the Assertion"
        )
    return assertion


def _check_nothing_outside(root: etree._Element, assertion: etree._Element) -> None:
    """Refuse assertion content (NameID, attributes, statements...) anywhere but in the one assertion.

    When only the assertion is signed the rest of the Response is not: identity placed there is
    the attacker's, and a reader that looks for it by a loose path would find it.
    """
    for child in root.iterchildren(tag=etree.Element):
        if child is assertion:
            continue
        for element in child.iter(SAML + "*"):
            if element is child and element.tag == SAML + "Issuer":
                continue
            raise errors.ContentOutsideAssertion(
                f"a saml:{etree.QName(element).localname} sits outside the assertion (in "
                f"{etree.QName(child).localname}), where no signature covers it"
            )


def check_response(
    root: etree._Element, assertion: etree._Element, expect: Expectations, now: datetime
) -> AssertionFacts:
    """Check status, issuers, destination, times, subject confirmation and audience.

    Raises a SamlRejected subclass naming the first problem found, with a reason that says
    what to fix.
    """
    skew = expect.clock_skew
    _check_issuers(root, assertion, expect.idp_entity_id)

    destination = root.get("Destination")
    if destination is None or not destination.strip():
        raise errors.DestinationMissing(
            f"the Response has no Destination; the IdP must send it (this tenant's ACS is {expect.acs_url})"
        )
    if destination != expect.acs_url:
        raise errors.DestinationMismatch(
            f"the IdP sent the response to {destination} but this tenant's ACS is {expect.acs_url}"
        )

    in_response_to = root.get("InResponseTo")
    issue_instant = _check_issue_instants(root, assertion, expect, now)

    subject = assertion.find(SAML + "Subject")
    if subject is None:
        raise errors.NameIdMissing("the assertion has no Subject")
    name_ids = subject.findall(SAML + "NameID")
    if subject.find(SAML + "EncryptedID") is not None:
        raise errors.EncryptedAssertionUnsupported("the IdP encrypted the NameID; turn NameID encryption off")
    name_id = text(name_ids[0]) if len(name_ids) == 1 else None
    if not name_id:
        raise errors.NameIdMissing("the assertion's Subject has no NameID, or an empty one")
    if len(name_id) > MAX_NAME_ID or len(name_ids[0].get("Format") or "") > MAX_NAME_ID_FORMAT:
        raise errors.ValueTooLong(
            f"the NameID is longer than {MAX_NAME_ID} characters, or its Format longer than {MAX_NAME_ID_FORMAT}"
        )

    confirmation_until = _check_subject_confirmation(subject, in_response_to, expect, now)
    conditions_until = _check_conditions(assertion, expect, now)
    session_until = _check_authn_statement(assertion, skew, now)

    latest = max(d for d in (confirmation_until, conditions_until) if d is not None)
    # Past issue + max_age the assertion is refused as too old anyway: no need to remember it longer.
    remember_until = min(latest, issue_instant + expect.max_age) + skew
    return AssertionFacts(
        assertion_id=assertion.get("ID") or "",
        in_response_to=in_response_to,
        issue_instant=issue_instant,
        remember_until=max(remember_until, now + skew),
        session_not_on_or_after=session_until,
    )


def _check_status(root: etree._Element) -> None:
    code = root.find("samlp:Status/samlp:StatusCode", NS)
    if code is None:
        raise errors.SchemaInvalid("the Response has no Status")
    value = code.get("Value")
    if value == STATUS_SUCCESS:
        return
    second = code.find("samlp:StatusCode", NS)
    detail = f" ({second.get('Value')})" if second is not None else ""
    message = text(root.find("samlp:Status/samlp:StatusMessage", NS))
    said = f": {message[:200]}" if message else ""
    raise errors.StatusNotSuccess(f"the IdP refused the sign-in with status {value}{detail}{said}")


def _check_issuers(root: etree._Element, assertion: etree._Element, idp_entity_id: str) -> None:
    response_issuers = root.findall(SAML + "Issuer")
    if len(response_issuers) > 1:
        raise errors.IssuerMismatch("the Response names more than one Issuer")
    for issuer in response_issuers:
        if text(issuer) != idp_entity_id:
            raise errors.IssuerMismatch(
                f"the Response was issued by {text(issuer)!r} but this tenant's IdP is {idp_entity_id!r}"
            )
    assertion_issuer = text(assertion.find(SAML + "Issuer"))
    if assertion_issuer != idp_entity_id:
        raise errors.IssuerMismatch(
            f"the assertion was issued by {assertion_issuer!r} but this tenant's IdP is {idp_entity_id!r}"
        )


def _check_issue_instants(
    root: etree._Element, assertion: etree._Element, expect: Expectations, now: datetime
) -> datetime:
    assertion_instant = None
    for element, what in ((root, "Response"), (assertion, "assertion")):
        instant = parse_saml_time(element.get("IssueInstant"))
        if instant is None:
            raise errors.IssueInstantInvalid(f"the {what} has no IssueInstant")
        if instant > now + expect.clock_skew:
            raise errors.IssueInstantInvalid(
                f"the {what} was issued in the future: the IdP's clock is "
                f"{describe_offset((instant - now).total_seconds())} ahead of ours "
                f"(the tenant allows {expect.clock_skew.total_seconds():.0f} s of clock skew)"
            )
        if instant < now - expect.max_age - expect.clock_skew:
            raise errors.IssueInstantInvalid(
                f"the {what} was issued {describe_offset((now - instant).total_seconds())} ago; we accept "
                f"assertions up to {expect.max_age.total_seconds():.0f} s old (check the IdP's clock, or a stale or replayed message)"
            )
        assertion_instant = instant
    assert assertion_instant is not None
    return assertion_instant


def _check_subject_confirmation(
    subject: etree._Element, in_response_to: str | None, expect: Expectations, now: datetime
) -> datetime:
    skew = expect.clock_skew
    bearers = [sc for sc in subject.findall(SAML + "SubjectConfirmation") if sc.get("Method") == CM_BEARER]
    if not bearers:
        raise errors.SubjectConfirmationInvalid("the assertion has no bearer SubjectConfirmation")
    problem: errors.SamlRejected | None = None
    for confirmation in bearers:
        data = confirmation.find(SAML + "SubjectConfirmationData")
        try:
            if data is None:
                raise errors.RecipientMissing("the bearer SubjectConfirmation has no SubjectConfirmationData")
            recipient = data.get("Recipient")
            if not recipient:
                raise errors.RecipientMissing("the bearer SubjectConfirmationData has no Recipient")
            if recipient != expect.acs_url:
                raise errors.RecipientMismatch(
                    f"the assertion is meant for {recipient} but this tenant's ACS is {expect.acs_url}"
                )
            confirmation_irt = data.get("InResponseTo")
            # Both ways: when only the assertion is signed, the Response's InResponseTo is the
            # attacker's to add, and would turn an unsolicited assertion into a solicited one.
            if confirmation_irt != in_response_to:
                raise errors.InResponseToMismatch(
                    "the SubjectConfirmationData and the Response disagree on which request they answer "
                    f"(Response: {str(in_response_to)[:80]!r}, SubjectConfirmationData: {str(confirmation_irt)[:80]!r})"
                )
            not_on_or_after = parse_saml_time(data.get("NotOnOrAfter"))
            if not_on_or_after is None:
                raise errors.NotOnOrAfterMissing("the bearer SubjectConfirmationData has no NotOnOrAfter")
            if now >= not_on_or_after + skew:
                raise errors.Expired(
                    f"the assertion expired {describe_offset((now - not_on_or_after).total_seconds())} ago "
                    "(SubjectConfirmationData NotOnOrAfter); if the user did not wait, the IdP's clock is behind ours"
                )
            not_before = parse_saml_time(data.get("NotBefore"))
            if not_before is not None and now + skew < not_before:
                raise errors.NotYetValid(
                    f"the assertion is not valid for another {describe_offset((not_before - now).total_seconds())}: "
                    "the IdP's clock is ahead of ours"
                )
            return not_on_or_after
        except errors.SamlRejected as rejection:
            problem = problem or rejection
    assert problem is not None
    raise problem


def _check_conditions(assertion: etree._Element, expect: Expectations, now: datetime) -> datetime | None:
    skew = expect.clock_skew
    found = assertion.findall(SAML + "Conditions")
    if len(found) != 1:
        raise errors.AudienceMissing("the assertion has no Conditions, so no AudienceRestriction")
    conditions = found[0]
    not_before = parse_saml_time(conditions.get("NotBefore"))
    if not_before is not None and now + skew < not_before:
        raise errors.NotYetValid(
            f"the assertion becomes valid only in {describe_offset((not_before - now).total_seconds())}: "
            f"the IdP's clock is ahead of ours by more than the {skew.total_seconds():.0f} s the tenant allows"
        )
    not_on_or_after = parse_saml_time(conditions.get("NotOnOrAfter"))
    if not_on_or_after is not None and now >= not_on_or_after + skew:
        raise errors.Expired(
            f"the assertion expired {describe_offset((now - not_on_or_after).total_seconds())} ago "
            "(Conditions NotOnOrAfter)"
        )
    restrictions = conditions.findall(SAML + "AudienceRestriction")
    if not restrictions:
        raise errors.AudienceMissing(
            f"the assertion has no AudienceRestriction; the IdP must name {expect.sp_entity_id} as the audience"
        )
    for restriction in restrictions:
        audiences = [text(a) for a in restriction.findall(SAML + "Audience")]
        if expect.sp_entity_id not in audiences:
            raise errors.AudienceMismatch(
                f"the assertion is meant for {', '.join(repr(a) for a in audiences) or 'no audience'} "
                f"but this tenant's entity ID is {expect.sp_entity_id}"
            )
    for child in conditions:
        if isinstance(child.tag, str) and child.tag == SAML + "Condition":
            raise errors.AudienceMismatch("the assertion carries a custom Condition we cannot evaluate")
    return not_on_or_after


def _check_authn_statement(assertion: etree._Element, skew: timedelta, now: datetime) -> datetime | None:
    statements = assertion.findall(SAML + "AuthnStatement")
    if len(statements) != 1:
        raise errors.AuthnStatementInvalid(
            f"the assertion has {len(statements)} AuthnStatements; exactly one is required"
        )
    if len(statements[0].get("SessionIndex") or "") > MAX_SESSION_INDEX:
        raise errors.ValueTooLong(f"the SessionIndex is longer than {MAX_SESSION_INDEX} characters")
    session_until = parse_saml_time(statements[0].get("SessionNotOnOrAfter"))
    if session_until is not None and now >= session_until + skew:
        raise errors.Expired("the IdP session in the assertion has ended (SessionNotOnOrAfter)")
    return session_until


# --- Verification and identity ---------------------------------------------------------------


def verify(root: etree._Element, assertion: etree._Element, trusted: tuple[str, ...]) -> str:
    """Validate the schema, then verify every signature on the Response and the assertion.

    `root` and `assertion` passed check_structure, so each signature has an allowed shape and
    its Reference points at the element carrying it. Returns the fingerprint of the trusted
    certificate that verified (the Response's signature, when both are signed).
    Raises SchemaInvalid, SignatureMissing or SignatureInvalid.
    """
    xml.check_schema(root)
    verified: str | None = None
    for element in (root, assertion):
        found = element.find(DS + "Signature")
        if found is not None:
            value = signature.verify_enveloped(root, found, trusted)
            verified = verified or value
    if verified is None:
        raise errors.SignatureMissing("neither the Response nor the Assertion is signed; the IdP must sign them")
    return verified


def _value_text(element: etree._Element) -> str:
    """An element's own text (before any child), stripped, as python3-saml reads attribute values."""
    return (element.text or "").strip()


def identity(assertion: etree._Element, sp_entity_id: str) -> Identity:
    """Read NameID, SessionIndex and attributes (by Name and by FriendlyName) from a verified assertion.

    Raises NameIdMissing, or NameQualifierMismatch when the NameID is qualified for another SP.
    """
    name_ids = assertion.findall(f"{SAML}Subject/{SAML}NameID")
    name_id = _value_text(name_ids[0]) if name_ids else ""
    if not name_id:
        raise errors.NameIdMissing("the assertion's NameID is empty")
    qualifier = name_ids[0].get("SPNameQualifier")
    if qualifier and qualifier != sp_entity_id:
        raise errors.NameQualifierMismatch(
            f"the NameID is qualified for the service provider {qualifier[:200]!r}, not {sp_entity_id}"
        )
    attributes: dict[str, list[str]] = {}
    nodes = assertion.findall(f"{SAML}AttributeStatement/{SAML}Attribute")
    for key in ("Name", "FriendlyName"):
        for node in nodes:
            name = node.get(key)
            if not name:
                continue
            values = attributes.setdefault(name, [])
            for value_node in node.iterchildren(SAML + "AttributeValue"):
                texts = [_value_text(value_node)]
                texts += [_value_text(nested) for nested in value_node.iterchildren(SAML + "NameID")]
                values.extend(value for value in texts if value and value not in values)
    statement = assertion.find(f"{SAML}AuthnStatement[@SessionIndex]")
    return Identity(
        name_id=name_id,
        name_id_format=name_ids[0].get("Format"),
        session_index=statement.get("SessionIndex") if statement is not None else None,
        attributes=attributes,
    )
