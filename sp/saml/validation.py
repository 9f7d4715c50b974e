"""The checks we add on top of python3-saml, on the parsed (not yet trusted) Response.

python3-saml 1.16.0 in strict mode still accepts: a Destination that merely starts with our ACS,
a Recipient that merely contains it, no AudienceRestriction at all, no NotOnOrAfter anywhere,
signatures whose transforms it runs before checking anything (XSLT, XPath), a fixed 300 s clock
drift, and no replay protection. Its parser silently drops comments and processing instructions
(unsigned markup an attacker may add), and its constructor decrypts an EncryptedAssertion with
our private key before anything is checked. This module refuses all of those. It runs *before*
the signature is verified, so everything here is cheap and only ever refuses: acceptance still
requires python3-saml's signature verification afterwards (see `toolkit.verify`).

Every function takes `now`, so tests can freeze time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from lxml import etree

from .. import errors

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}
SAMLP = "{%s}" % NS["samlp"]
SAML = "{%s}" % NS["saml"]
DS = "{%s}" % NS["ds"]

STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

SIGNATURE_METHODS = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
DIGEST_METHODS = frozenset({
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})
CANONICALISATIONS = frozenset({
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/2006/12/xml-c14n11",
})
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
# Only these transforms may run: no XPath, XSLT, base64 or XPointer (a pre-authentication DoS).
TRANSFORMS = CANONICALISATIONS | {ENVELOPED}
XENC = "http://www.w3.org/2001/04/xmlenc#"

_SAML_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")
# Years outside this range are nonsense in a SAML message and would overflow date arithmetic.
_YEARS = range(1970, 9000)
# The widest values our database columns hold (User.name_id, name_id_format, UserSession.session_index).
MAX_NAME_ID = 512
MAX_NAME_ID_FORMAT = 255
MAX_SESSION_INDEX = 255
_XML_DECLARATION = re.compile(rb"^<\?xml\s[^<>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]*)[\"']")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
_DOCUMENT_PARSER_OPTIONS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
    remove_comments=False, remove_pis=False, strip_cdata=False,
)


@dataclass(frozen=True)
class Expectations:
    """What a Response for this tenant must say, all derived from SP_BASE_URL and the tenant."""

    sp_entity_id: str
    acs_url: str
    idp_entity_id: str
    clock_skew: timedelta
    max_age: timedelta


@dataclass
class AssertionFacts:
    """What the checks learned about the (still unverified) Response."""

    response_id: str
    assertion_id: str
    in_response_to: str | None
    issue_instant: datetime
    # Until when the replay cache must remember this assertion.
    remember_until: datetime
    session_not_on_or_after: datetime | None = None
    notes: list[str] = field(default_factory=list)


def parse_saml_time(value: str | None) -> datetime | None:
    """Parse a SAML dateTime (UTC, 'Z' suffix, any fraction of a second); None when absent."""
    if value is None:
        return None
    match = _SAML_TIME.match(value.strip())
    if not match:
        raise errors.SchemaInvalid(f"the time value {value[:64]!r} is not a UTC xs:dateTime")
    whole, fraction = match.groups()
    try:
        stamp = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    except ValueError:
        raise errors.SchemaInvalid(f"the time value {value[:64]!r} is not a real date and time") from None
    if stamp.year not in _YEARS:
        raise errors.SchemaInvalid(f"the time value {value[:64]!r} is out of range")
    if fraction:
        stamp += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    return stamp


def _describe_offset(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def check_document(xml: bytes) -> None:
    """Check the raw XML before any parser that hides things from us (python3-saml's) sees it.

    A genuine SAML message is plain UTF-8 elements, attributes and text. DTDs (XXE, billion laughs),
    comments, processing instructions and CDATA sections are refused: canonicalisation leaves
    comments out of the signature, python3-saml's parser drops comments and processing
    instructions before verifying, and each is a way to make two readers see different text.
    Encrypted parts are refused here, before python3-saml would decrypt them with our key.

    Raises MalformedMessage, ForbiddenMarkup or EncryptedAssertionUnsupported.
    """
    body = xml[3:] if xml.startswith(b"\xef\xbb\xbf") else xml
    if b"\x00" in body or body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise errors.MalformedMessage("the message is not UTF-8 (it looks like UTF-16 or UTF-32)")
    declaration = _XML_DECLARATION.match(body)
    if declaration:
        encoding = _DECLARED_ENCODING.search(declaration.group(0))
        if encoding and encoding.group(1).lower() not in _UTF8_NAMES:
            raise errors.MalformedMessage(f"the message declares the encoding {encoding.group(1)[:40]!r}; only UTF-8 is accepted")
        body = body[declaration.end():]
    # In well-formed XML a raw '<' only opens markup: '<!' is a DTD, comment or CDATA, '<?' a PI.
    for marker, what in ((b"<!DOCTYPE", "a DTD"), (b"<!ENTITY", "an entity declaration"), (b"<!--", "a comment"),
                         (b"<![CDATA[", "a CDATA section"), (b"<?", "a processing instruction"), (b"<!", "a declaration")):
        if marker in body:
            raise errors.ForbiddenMarkup(f"the message contains {what}, which no SAML message we read needs")
    try:
        root = etree.fromstring(xml, etree.XMLParser(**_DOCUMENT_PARSER_OPTIONS))
    except (etree.XMLSyntaxError, ValueError) as error:
        raise errors.MalformedMessage(f"the message is not well-formed XML: {str(error)[:200]}") from None
    for element in root.iter(SAML + "EncryptedAssertion", SAML + "EncryptedID", SAML + "EncryptedAttribute",
                             "{%s}EncryptedData" % XENC, "{%s}EncryptedKey" % XENC):
        raise errors.EncryptedAssertionUnsupported(
            f"the IdP encrypted part of the message ({etree.QName(element).localname}); encryption is not "
            "supported yet: turn assertion encryption off for this application in the IdP"
        )


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

    _check_unique_ids(root)
    _check_nothing_outside(root, assertion)

    signatures = list(root.iter(DS + "Signature"))
    if not signatures:
        raise errors.SignatureMissing("neither the Response nor the Assertion is signed; the IdP must sign them")
    if len(signatures) > 2:
        raise errors.SignatureStructure(f"{len(signatures)} signatures; at most one on the Response and one on the Assertion")
    for signature in signatures:
        _check_signature_shape(signature, root, assertion)
    return assertion


def _check_unique_ids(root: etree._Element) -> None:
    """No two elements may carry the same ID: the element a Reference finds must be the one we read."""
    seen_ids: set[str] = set()
    for element in root.iter(tag=etree.Element):
        value = element.get("ID")
        if value is None:
            continue
        if value in seen_ids:
            raise errors.DuplicateId(f"two elements carry the ID {value!r}")
        seen_ids.add(value)


def check_message_signature(root: etree._Element) -> None:
    """Check the signature of a POST-binding message that is not a Response (a LogoutRequest or LogoutResponse).

    Exactly one, enveloped on the message itself, of the shape a Response's signature must have;
    and no duplicate IDs, so the element the Reference finds is the one we read.
    Raises SignatureMissing, SignatureStructure, WeakAlgorithm or DuplicateId.
    """
    _check_unique_ids(root)
    signatures = list(root.iter(DS + "Signature"))
    if not signatures:
        raise errors.SignatureMissing(f"the {etree.QName(root).localname} is not signed; the IdP must sign it")
    if len(signatures) > 1:
        raise errors.SignatureStructure(f"{len(signatures)} signatures; exactly one, on the message, is allowed")
    _check_signature_shape(signatures[0], root, root)


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


def _check_signature_shape(signature: etree._Element, root: etree._Element, assertion: etree._Element) -> None:
    parent = signature.getparent()
    if parent is not root and parent is not assertion:
        raise errors.SignatureStructure("a signature sits somewhere other than on the Response or the Assertion")
    signed_info = signature.findall(DS + "SignedInfo")
    if len(signed_info) != 1:
        raise errors.SignatureStructure("a signature without exactly one SignedInfo")
    signed_info = signed_info[0]
    references = signed_info.findall(DS + "Reference")
    if len(references) != 1:
        raise errors.SignatureStructure(f"a signature with {len(references)} References; exactly one is allowed")
    target_id = parent.get("ID")
    if not target_id or references[0].get("URI") != "#" + target_id:
        raise errors.SignatureStructure("a signature whose Reference does not point at the element that carries it")
    if signature.find(DS + "Object") is not None:
        raise errors.SignatureStructure("a signature carrying ds:Object content")
    key_info = signature.find(DS + "KeyInfo")
    if key_info is not None and key_info.find(DS + "RetrievalMethod") is not None:
        raise errors.SignatureStructure("a signature whose KeyInfo uses RetrievalMethod")

    c14n = signed_info.find(DS + "CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALISATIONS:
        raise errors.SignatureStructure("a signature with a canonicalisation method we do not allow")
    _check_c14n_parameters(c14n)
    method = signed_info.find(DS + "SignatureMethod")
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in SIGNATURE_METHODS:
        raise errors.WeakAlgorithm(
            f"the signature uses {algorithm or 'no algorithm'}; we accept RSA or ECDSA with SHA-256 or stronger"
        )
    transforms = references[0].find(DS + "Transforms")
    algorithms: list[str | None] = []
    for transform in (transforms if transforms is not None else ()):
        if not isinstance(transform.tag, str):
            continue
        if transform.tag != DS + "Transform" or transform.get("Algorithm") not in TRANSFORMS:
            raise errors.SignatureStructure(
                f"a signature transform we refuse to run: {str(transform.get('Algorithm'))[:100]!r} "
                "(only enveloped-signature and canonicalisation are allowed)"
            )
        _check_c14n_parameters(transform)
        algorithms.append(transform.get("Algorithm"))
    # An enveloped signature needs exactly the enveloped transform, then at most one canonicalisation.
    if ENVELOPED not in algorithms or len(algorithms) > 2 or len(set(algorithms)) != len(algorithms):
        raise errors.SignatureStructure(
            f"a signature with {len(algorithms)} transforms; expected enveloped-signature and at most one canonicalisation"
        )
    digest = references[0].find(DS + "DigestMethod")
    digest_algorithm = digest.get("Algorithm") if digest is not None else None
    if digest_algorithm not in DIGEST_METHODS:
        raise errors.WeakAlgorithm(f"the signature digests with {digest_algorithm or 'nothing'}; SHA-256 or stronger is required")


def _check_c14n_parameters(method: etree._Element) -> None:
    """Allow no parameters but exclusive canonicalisation's InclusiveNamespaces PrefixList (Okta sends it)."""
    children = [child for child in method if isinstance(child.tag, str)]
    if not children:
        return
    only = children[0]
    if (len(children) > 1 or method.get("Algorithm") != EXC_C14N or only.tag != "{%s}InclusiveNamespaces" % EXC_C14N
            or len(only) or set(only.attrib) - {"PrefixList"}):
        raise errors.SignatureStructure("a signature transform or canonicalisation with parameters we do not allow")


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    return "".join(element.itertext()).strip()


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
    if len(name_ids) != 1 or not _text(name_ids[0]):
        raise errors.NameIdMissing("the assertion's Subject has no NameID, or an empty one")
    if len(_text(name_ids[0])) > MAX_NAME_ID or len(name_ids[0].get("Format") or "") > MAX_NAME_ID_FORMAT:
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
        response_id=root.get("ID") or "",
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
    message = _text(root.find("samlp:Status/samlp:StatusMessage", NS))
    said = f": {message[:200]}" if message else ""
    raise errors.StatusNotSuccess(f"the IdP refused the sign-in with status {value}{detail}{said}")


def _check_issuers(root: etree._Element, assertion: etree._Element, idp_entity_id: str) -> None:
    response_issuers = root.findall(SAML + "Issuer")
    if len(response_issuers) > 1:
        raise errors.IssuerMismatch("the Response names more than one Issuer")
    for issuer in response_issuers:
        if _text(issuer) != idp_entity_id:
            raise errors.IssuerMismatch(
                f"the Response was issued by {_text(issuer)!r} but this tenant's IdP is {idp_entity_id!r}"
            )
    assertion_issuer = _text(assertion.find(SAML + "Issuer"))
    if assertion_issuer != idp_entity_id:
        raise errors.IssuerMismatch(
            f"the assertion was issued by {assertion_issuer!r} but this tenant's IdP is {idp_entity_id!r}"
        )


def _check_issue_instants(root: etree._Element, assertion: etree._Element, expect: Expectations, now: datetime) -> datetime:
    assertion_instant = None
    for element, what in ((root, "Response"), (assertion, "assertion")):
        instant = parse_saml_time(element.get("IssueInstant"))
        if instant is None:
            raise errors.IssueInstantInvalid(f"the {what} has no IssueInstant")
        if instant > now + expect.clock_skew:
            raise errors.IssueInstantInvalid(
                f"the {what} was issued in the future: the IdP's clock is "
                f"{_describe_offset((instant - now).total_seconds())} ahead of ours "
                f"(the tenant allows {expect.clock_skew.total_seconds():.0f} s of clock skew)"
            )
        if instant < now - expect.max_age - expect.clock_skew:
            raise errors.IssueInstantInvalid(
                f"the {what} was issued {_describe_offset((now - instant).total_seconds())} ago; we accept "
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
                    f"the assertion expired {_describe_offset((now - not_on_or_after).total_seconds())} ago "
                    "(SubjectConfirmationData NotOnOrAfter); if the user did not wait, the IdP's clock is behind ours"
                )
            not_before = parse_saml_time(data.get("NotBefore"))
            if not_before is not None and now + skew < not_before:
                raise errors.NotYetValid(
                    f"the assertion is not valid for another {_describe_offset((not_before - now).total_seconds())}: "
                    "the IdP's clock is ahead of ours"
                )
            return not_on_or_after
        except errors.SamlRejected as rejection:
            problem = problem or rejection
    assert problem is not None
    raise problem


def _check_conditions(assertion: etree._Element, expect: Expectations, now: datetime) -> datetime | None:
    skew = expect.clock_skew
    conditions = assertion.findall(SAML + "Conditions")
    if len(conditions) != 1:
        raise errors.AudienceMissing("the assertion has no Conditions, so no AudienceRestriction")
    conditions = conditions[0]
    not_before = parse_saml_time(conditions.get("NotBefore"))
    if not_before is not None and now + skew < not_before:
        raise errors.NotYetValid(
            f"the assertion becomes valid only in {_describe_offset((not_before - now).total_seconds())}: "
            f"the IdP's clock is ahead of ours by more than the {skew.total_seconds():.0f} s the tenant allows"
        )
    not_on_or_after = parse_saml_time(conditions.get("NotOnOrAfter"))
    if not_on_or_after is not None and now >= not_on_or_after + skew:
        raise errors.Expired(
            f"the assertion expired {_describe_offset((now - not_on_or_after).total_seconds())} ago "
            "(Conditions NotOnOrAfter)"
        )
    restrictions = conditions.findall(SAML + "AudienceRestriction")
    if not restrictions:
        raise errors.AudienceMissing(
            f"the assertion has no AudienceRestriction; the IdP must name {expect.sp_entity_id} as the audience"
        )
    for restriction in restrictions:
        audiences = [_text(a) for a in restriction.findall(SAML + "Audience")]
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
        raise errors.AuthnStatementInvalid(f"the assertion has {len(statements)} AuthnStatements; exactly one is required")
    if len(statements[0].get("SessionIndex") or "") > MAX_SESSION_INDEX:
        raise errors.ValueTooLong(f"the SessionIndex is longer than {MAX_SESSION_INDEX} characters")
    session_until = parse_saml_time(statements[0].get("SessionNotOnOrAfter"))
    if session_until is not None and now >= session_until + skew:
        raise errors.Expired("the IdP session in the assertion has ended (SessionNotOnOrAfter)")
    return session_until
