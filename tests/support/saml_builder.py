"""Our own fast test IdP: builds SAML Responses with every knob a test needs, signed with xmlsec.

pysaml2 (pysaml2_idp.py) is the independent implementation for end-to-end flows; this builder
is for the many cases that need a response shaped *wrong* yet validly signed (no audience, a
prefix Destination, SHA-1...), which an honest IdP library will not produce.
"""

from __future__ import annotations

import base64
import secrets
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import xmlsec
from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NSMAP = {"samlp": SAMLP, "saml": SAML}

SIGN_ALGS = {
    "rsa-sha256": xmlsec.constants.TransformRsaSha256,
    "rsa-sha1": xmlsec.constants.TransformRsaSha1,
    "rsa-sha512": xmlsec.constants.TransformRsaSha512,
}
DIGEST_ALGS = {
    "sha256": xmlsec.constants.TransformSha256,
    "sha1": xmlsec.constants.TransformSha1,
    "sha512": xmlsec.constants.TransformSha512,
}
_MISSING = object()


SLO_URLS = {"redirect": "https://idp.example.test/slo/redirect", "post": "https://idp.example.test/slo/post"}
SLO_BINDINGS = {"redirect": "HTTP-Redirect", "post": "HTTP-POST"}


def saml_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id() -> str:
    return "_" + uuid.uuid4().hex


@dataclass
class ResponseSpec:
    """Everything about a Response; `None` for an optional field means 'leave it out'."""

    issuer: str
    destination: str | None
    recipient: str | None
    audiences: list[list[str]] | None
    name_id: str = "alice@acme.example"
    name_id_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    attributes: dict[str, list[str]] | None = None
    friendly_names: dict[str, str] | None = None  # attribute Name -> the FriendlyName to send with it
    in_response_to: str | None = None
    confirmation_in_response_to: object = _MISSING  # _MISSING: same as in_response_to
    now: datetime | None = None
    clock_offset: timedelta = timedelta(0)  # the IdP's clock minus ours
    lifetime: timedelta = timedelta(minutes=5)
    confirmation_not_on_or_after: bool = True
    conditions_not_on_or_after: bool = True
    status: str = "urn:oasis:names:tc:SAML:2.0:status:Success"
    session_index: str | None = "_session1"
    response_id: str = field(default_factory=_id)
    assertion_id: str = field(default_factory=_id)
    response_issuer: object = _MISSING  # _MISSING: same as issuer; None: no Issuer on the Response
    sign_assertion: bool = True
    sign_response: bool = True
    sign_alg: str = "rsa-sha256"
    digest_alg: str = "sha256"
    # Okta-style InclusiveNamespaces PrefixList on the exc-c14n transform, e.g. ["xs"].
    inclusive_prefixes: list[str] | None = None


class ResponseBuilder:
    """A test IdP with its own key: `build(spec)` returns XML, `b64(spec)` the form value."""

    def __init__(self, key_pem: bytes, cert_pem: bytes, entity_id: str, sp_base: str, slug: str) -> None:
        self.key_pem, self.cert_pem, self.entity_id = key_pem, cert_pem, entity_id
        self.sp_base, self.slug = sp_base, slug

    @property
    def acs_url(self) -> str:
        return f"{self.sp_base}/saml/{self.slug}/acs"

    @property
    def sp_entity_id(self) -> str:
        return f"{self.sp_base}/saml/{self.slug}/metadata"

    def spec(self, **changes) -> ResponseSpec:
        """A correct Response for our SP, with the given fields changed."""
        base = ResponseSpec(
            issuer=self.entity_id,
            destination=self.acs_url,
            recipient=self.acs_url,
            audiences=[[self.sp_entity_id]],
            attributes={"email": ["alice@acme.example"], "displayName": ["Alice Example"]},
        )
        return replace(base, **changes)

    def build(self, spec: ResponseSpec | None = None, **changes) -> bytes:
        spec = spec or self.spec(**changes)
        return etree.tostring(self.build_tree(spec))

    def b64(self, spec: ResponseSpec | None = None, **changes) -> str:
        return base64.b64encode(self.build(spec, **changes)).decode()

    def build_tree(self, spec: ResponseSpec) -> etree._Element:
        now = (spec.now or datetime.now(UTC)) + spec.clock_offset
        until = now + spec.lifetime
        response = etree.Element(f"{{{SAMLP}}}Response", nsmap=NSMAP)
        response.set("ID", spec.response_id)
        response.set("Version", "2.0")
        response.set("IssueInstant", saml_time(now))
        if spec.destination is not None:
            response.set("Destination", spec.destination)
        if spec.in_response_to is not None:
            response.set("InResponseTo", spec.in_response_to)
        response_issuer = spec.issuer if spec.response_issuer is _MISSING else spec.response_issuer
        if response_issuer is not None:
            etree.SubElement(response, f"{{{SAML}}}Issuer").text = response_issuer
        status = etree.SubElement(response, f"{{{SAMLP}}}Status")
        etree.SubElement(status, f"{{{SAMLP}}}StatusCode").set("Value", spec.status)

        assertion = etree.SubElement(response, f"{{{SAML}}}Assertion")
        assertion.set("ID", spec.assertion_id)
        assertion.set("Version", "2.0")
        assertion.set("IssueInstant", saml_time(now))
        etree.SubElement(assertion, f"{{{SAML}}}Issuer").text = spec.issuer
        subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
        name_id = etree.SubElement(subject, f"{{{SAML}}}NameID")
        name_id.set("Format", spec.name_id_format)
        name_id.text = spec.name_id
        confirmation = etree.SubElement(subject, f"{{{SAML}}}SubjectConfirmation")
        confirmation.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
        data = etree.SubElement(confirmation, f"{{{SAML}}}SubjectConfirmationData")
        confirmation_irt = (
            spec.in_response_to if spec.confirmation_in_response_to is _MISSING else spec.confirmation_in_response_to
        )
        if confirmation_irt is not None:
            data.set("InResponseTo", confirmation_irt)
        if spec.confirmation_not_on_or_after:
            data.set("NotOnOrAfter", saml_time(until))
        if spec.recipient is not None:
            data.set("Recipient", spec.recipient)

        conditions = etree.SubElement(assertion, f"{{{SAML}}}Conditions")
        conditions.set("NotBefore", saml_time(now - timedelta(seconds=30)))
        if spec.conditions_not_on_or_after:
            conditions.set("NotOnOrAfter", saml_time(until))
        for audiences in spec.audiences or []:
            restriction = etree.SubElement(conditions, f"{{{SAML}}}AudienceRestriction")
            for audience in audiences:
                etree.SubElement(restriction, f"{{{SAML}}}Audience").text = audience

        statement = etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement")
        statement.set("AuthnInstant", saml_time(now))
        if spec.session_index:
            statement.set("SessionIndex", spec.session_index)
        context = etree.SubElement(statement, f"{{{SAML}}}AuthnContext")
        etree.SubElement(
            context, f"{{{SAML}}}AuthnContextClassRef"
        ).text = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
        if spec.attributes:
            attribute_statement = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
            for name, values in spec.attributes.items():
                attribute = etree.SubElement(attribute_statement, f"{{{SAML}}}Attribute")
                attribute.set("Name", name)
                if spec.friendly_names and name in spec.friendly_names:
                    attribute.set("FriendlyName", spec.friendly_names[name])
                for value in values:
                    etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value

        if spec.sign_assertion:
            self.sign(assertion, spec.sign_alg, spec.digest_alg, inclusive_prefixes=spec.inclusive_prefixes)
        if spec.sign_response:
            self.sign(response, spec.sign_alg, spec.digest_alg, inclusive_prefixes=spec.inclusive_prefixes)
        return response

    def sign(
        self,
        element: etree._Element,
        sign_alg: str = "rsa-sha256",
        digest_alg: str = "sha256",
        key_pem: bytes | None = None,
        cert_pem: bytes | None = None,
        inclusive_prefixes: list[str] | None = None,
    ) -> etree._Element:
        """Add an enveloped signature right after element's Issuer (where the schema wants it)."""
        signature = xmlsec.template.create(element, xmlsec.constants.TransformExclC14N, SIGN_ALGS[sign_alg])
        issuer = element.find(f"{{{SAML}}}Issuer")
        if issuer is not None:
            issuer.addnext(signature)
        else:
            element.insert(0, signature)
        reference = xmlsec.template.add_reference(signature, DIGEST_ALGS[digest_alg], uri="#" + element.get("ID"))
        xmlsec.template.add_transform(reference, xmlsec.constants.TransformEnveloped)
        c14n = xmlsec.template.add_transform(reference, xmlsec.constants.TransformExclC14N)
        if inclusive_prefixes:
            xmlsec.template.transform_add_c14n_inclusive_namespaces(c14n, inclusive_prefixes)
        key_info = xmlsec.template.ensure_key_info(signature)
        xmlsec.template.add_x509_data(key_info)
        key = xmlsec.Key.from_memory(key_pem or self.key_pem, xmlsec.constants.KeyDataFormatPem)
        key.load_cert_from_memory(cert_pem or self.cert_pem, xmlsec.constants.KeyDataFormatPem)
        context = xmlsec.SignatureContext()
        context.key = key
        xmlsec.tree.add_ids(element.getroottree().getroot(), ["ID"])
        context.sign(signature)
        return signature

    def metadata(self, *, post_only: bool = False, extra_certs: list[bytes] = (), slo: tuple[str, ...] = ()) -> bytes:
        """IdP metadata for this builder (our own, for fast tests); slo: SingleLogoutService bindings ("redirect", "post")."""

        def body(pem: bytes) -> str:
            return "".join(line for line in pem.decode().splitlines() if not line.startswith("-----"))

        keys = "".join(
            f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body(pem)}'
            "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
            for pem in [self.cert_pem, *extra_certs]
        )
        slo_services = "".join(
            f'<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:{SLO_BINDINGS[binding]}" '
            f'Location="{SLO_URLS[binding]}"/>'
            for binding in slo
        )
        redirect = (
            ""
            if post_only
            else (
                '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
                'Location="https://idp.example.test/sso/redirect"/>'
            )
        )
        return (
            f'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{self.entity_id}">'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
            f"{keys}"
            f"{slo_services}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
            f"{redirect}"
            '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
            'Location="https://idp.example.test/sso/post"/>'
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        ).encode()


def random_id() -> str:
    return "_" + secrets.token_hex(16)
