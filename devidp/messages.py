"""Building the SAML messages the IdP sends: responses, logout responses and metadata."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from lxml import etree

from .config import Settings
from .keys import Credentials
from .protocol import (
    ATTRNAME_BASIC,
    AUTHN_PASSWORD_PROTECTED,
    BINDING_POST,
    BINDING_REDIRECT,
    CM_BEARER,
    NAMEID_EMAIL,
    NS_DS,
    NS_MD,
    NS_SAML,
    NS_SAMLP,
    STATUS_SUCCESS,
)
from .signing import sign_element
from .users import DemoUser

#: How long an assertion may be presented, and how much clock skew we allow before "now".
ASSERTION_LIFETIME = dt.timedelta(minutes=5)
CLOCK_SKEW = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class Audience:
    """Where a response goes: the SP tenant, its ACS URL and the request answered (if any)."""

    sp_entity_id: str
    acs_url: str
    in_response_to: str | None = None


def new_id() -> str:
    """A fresh ``xs:ID`` value (must not start with a digit)."""
    return f"_{uuid.uuid4().hex}"


def saml_instant(moment: dt.datetime) -> str:
    """Format a moment as a SAML ``dateTime`` in UTC with second precision."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: etree._Element, ns: str, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    """Append a child element ``{ns}tag`` with attributes and optional text."""
    child = etree.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    child.text = text
    return child


def _status(parent: etree._Element, codes: tuple[str, ...]) -> None:
    """Append ``samlp:Status`` with nested status codes (top-level first)."""
    holder = _sub(parent, NS_SAMLP, "Status")
    for code in codes:
        holder = _sub(holder, NS_SAMLP, "StatusCode", Value=code)


def _response_root(
    tag: str, settings: Settings, destination: str, in_response_to: str | None, now: dt.datetime
) -> etree._Element:
    """A protocol message root (``samlp:Response`` or ``samlp:LogoutResponse``) with its Issuer."""
    attrs = {"ID": new_id(), "Version": "2.0", "IssueInstant": saml_instant(now), "Destination": destination}
    if in_response_to is not None:
        attrs["InResponseTo"] = in_response_to
    root = etree.Element(f"{{{NS_SAMLP}}}{tag}", attrs, nsmap={"samlp": NS_SAMLP, "saml": NS_SAML})
    _sub(root, NS_SAML, "Issuer", settings.entity_id)
    return root


def _assertion(parent: etree._Element, settings: Settings, user: DemoUser, audience: Audience, now: dt.datetime) -> str:
    """Append the ``saml:Assertion`` about ``user`` for ``audience``; return its ID."""
    assertion_id = new_id()
    expires = saml_instant(now + ASSERTION_LIFETIME)
    assertion = _sub(parent, NS_SAML, "Assertion", ID=assertion_id, Version="2.0", IssueInstant=saml_instant(now))
    _sub(assertion, NS_SAML, "Issuer", settings.entity_id)

    subject = _sub(assertion, NS_SAML, "Subject")
    _sub(subject, NS_SAML, "NameID", user.email, Format=NAMEID_EMAIL)
    confirmation = _sub(subject, NS_SAML, "SubjectConfirmation", Method=CM_BEARER)
    data_attrs = {"NotOnOrAfter": expires, "Recipient": audience.acs_url}
    if audience.in_response_to is not None:
        data_attrs["InResponseTo"] = audience.in_response_to
    _sub(confirmation, NS_SAML, "SubjectConfirmationData", **data_attrs)

    conditions = _sub(assertion, NS_SAML, "Conditions", NotBefore=saml_instant(now - CLOCK_SKEW), NotOnOrAfter=expires)
    _sub(_sub(conditions, NS_SAML, "AudienceRestriction"), NS_SAML, "Audience", audience.sp_entity_id)

    authn = _sub(assertion, NS_SAML, "AuthnStatement", AuthnInstant=saml_instant(now), SessionIndex=new_id())
    _sub(_sub(authn, NS_SAML, "AuthnContext"), NS_SAML, "AuthnContextClassRef", AUTHN_PASSWORD_PROTECTED)

    attributes = user.attributes()
    if attributes:
        statement = _sub(assertion, NS_SAML, "AttributeStatement")
        for name, values in attributes.items():
            attribute = _sub(statement, NS_SAML, "Attribute", Name=name, NameFormat=ATTRNAME_BASIC)
            for value in values:
                _sub(attribute, NS_SAML, "AttributeValue", value)
    return assertion_id


def build_login_response(
    settings: Settings, credentials: Credentials, user: DemoUser, audience: Audience, now: dt.datetime | None = None
) -> bytes:
    """A successful ``samlp:Response`` with a signed assertion, itself signed; serialised."""
    now = now or dt.datetime.now(dt.UTC)
    root = _response_root("Response", settings, audience.acs_url, audience.in_response_to, now)
    _status(root, (STATUS_SUCCESS,))
    assertion_id = _assertion(root, settings, user, audience, now)
    root = sign_element(root, assertion_id, credentials)
    root = sign_element(root, root.get("ID"), credentials)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_status_response(
    settings: Settings, credentials: Credentials, audience: Audience, codes: tuple[str, ...]
) -> bytes:
    """A signed ``samlp:Response`` without assertion, reporting a non-success status."""
    now = dt.datetime.now(dt.UTC)
    root = _response_root("Response", settings, audience.acs_url, audience.in_response_to, now)
    _status(root, codes)
    root = sign_element(root, root.get("ID"), credentials)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_logout_response(settings: Settings, destination: str, in_response_to: str) -> bytes:
    """A successful ``samlp:LogoutResponse`` (signed at the binding level by the caller)."""
    root = _response_root("LogoutResponse", settings, destination, in_response_to, dt.datetime.now(dt.UTC))
    _status(root, (STATUS_SUCCESS,))
    return etree.tostring(root, encoding="UTF-8")


def build_metadata(settings: Settings, credentials: Credentials) -> bytes:
    """The IdP's ``md:EntityDescriptor``."""
    root = etree.Element(
        f"{{{NS_MD}}}EntityDescriptor", {"entityID": settings.entity_id}, nsmap={"md": NS_MD, "ds": NS_DS}
    )
    idp = _sub(
        root,
        NS_MD,
        "IDPSSODescriptor",
        protocolSupportEnumeration=NS_SAMLP,
        WantAuthnRequestsSigned="false",
    )
    key_info = _sub(_sub(idp, NS_MD, "KeyDescriptor", use="signing"), NS_DS, "KeyInfo")
    _sub(_sub(key_info, NS_DS, "X509Data"), NS_DS, "X509Certificate", credentials.certificate_b64)
    _sub(idp, NS_MD, "SingleLogoutService", Binding=BINDING_REDIRECT, Location=settings.slo_url)
    _sub(idp, NS_MD, "NameIDFormat", NAMEID_EMAIL)
    for binding in (BINDING_REDIRECT, BINDING_POST):
        _sub(idp, NS_MD, "SingleSignOnService", Binding=binding, Location=settings.sso_url)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
