"""Read an IdP's SAML metadata into the few facts we trust: entity ID, endpoints, certificates.

Metadata comes from customers and federations, so it is parsed as hostile input: no DTD, no
entities, no network, a size cap. Real files are messy (WS-Federation RoleDescriptors before the
IdP descriptor in ADFS and Entra ID, Shibboleth Extensions, several certificates during a
rollover): we read what SAML 2.0 Web SSO needs and ignore the rest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cryptography import x509
from lxml import etree

from .. import errors

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
MAX_BYTES = 5 * 1024 * 1024


class MetadataRejected(errors.SPError):
    status = 400
    code = "metadata.invalid"
    message = "The IdP metadata was refused."


def _rejected(code: str, name: str) -> type[MetadataRejected]:
    return type(name, (MetadataRejected,), {"code": code})


MetadataMalformed = _rejected("metadata.malformed", "MetadataMalformed")
MetadataEmpty = _rejected("metadata.empty", "MetadataEmpty")
MetadataTooLarge = _rejected("metadata.too_large", "MetadataTooLarge")
MetadataForbiddenConstruct = _rejected("metadata.dtd_forbidden", "MetadataForbiddenConstruct")
MetadataNotIdp = _rejected("metadata.not_idp", "MetadataNotIdp")
MetadataAmbiguous = _rejected("metadata.ambiguous", "MetadataAmbiguous")
MetadataNoSso = _rejected("metadata.no_sso", "MetadataNoSso")
MetadataNoCertificate = _rejected("metadata.no_certificate", "MetadataNoCertificate")


@dataclass(frozen=True)
class Certificate:
    """A signing certificate from the metadata, with what ops need to see about it."""

    pem: str
    sha256: str
    not_after: datetime
    subject: str
    signature_hash: str | None

    def as_dict(self) -> dict[str, str]:
        return {
            "pem": self.pem,
            "sha256": self.sha256,
            "not_after": self.not_after.isoformat(),
            "subject": self.subject,
            "signature_hash": self.signature_hash or "",
        }


@dataclass
class IdpMetadata:
    """The facts we keep from an IdP's metadata."""

    entity_id: str
    sso: dict[str, str]
    slo: dict[str, str]
    certificates: list[Certificate]
    name_id_formats: list[str]
    want_authn_requests_signed: bool
    valid_until: datetime | None = None
    cache_duration: str | None = None
    warnings: list[str] = field(default_factory=list)


_PARSER_OPTIONS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
    remove_comments=True, remove_pis=True, huge_tree=False,
)


def parse_xml(data: bytes, max_bytes: int = MAX_BYTES) -> etree._Element:
    """Parse untrusted XML: refuse DTDs and entities outright, cap the size."""
    if not data or not data.strip():
        raise MetadataEmpty("the metadata file is empty")
    if len(data) > max_bytes:
        raise MetadataTooLarge(f"the metadata is {len(data)} bytes; the limit is {max_bytes}")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise MetadataForbiddenConstruct("the metadata contains a DTD or entity declaration, which we never accept")
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        raise MetadataMalformed(f"the metadata is not well-formed XML: {error.msg}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise MetadataForbiddenConstruct("the metadata contains a DTD, which we never accept")
    return root


def _idp_descriptor(entity: etree._Element) -> etree._Element | None:
    for descriptor in entity.iterchildren(f"{{{MD}}}IDPSSODescriptor"):
        if PROTOCOL in (descriptor.get("protocolSupportEnumeration") or "").split():
            return descriptor
    return None


def select_entity(root: etree._Element, entity_id: str | None) -> etree._Element:
    """Pick the IdP EntityDescriptor from a single entity or an EntitiesDescriptor aggregate."""
    tag = etree.QName(root)
    if tag.namespace != MD or tag.localname not in ("EntityDescriptor", "EntitiesDescriptor"):
        raise MetadataMalformed(f"the root element is {tag.localname}, not a SAML metadata EntityDescriptor")
    if tag.localname == "EntityDescriptor":
        if entity_id and root.get("entityID") != entity_id:
            raise MetadataNotIdp(f"the metadata describes {root.get('entityID')!r}, not {entity_id!r}")
        return root
    idps = [e for e in root.iter(f"{{{MD}}}EntityDescriptor") if _idp_descriptor(e) is not None]
    if entity_id:
        for entity in idps:
            if entity.get("entityID") == entity_id:
                return entity
        raise MetadataNotIdp(f"the aggregate holds no IdP with entity ID {entity_id!r}")
    if len(idps) == 1:
        return idps[0]
    if not idps:
        raise MetadataNotIdp("the aggregate holds no SAML 2.0 IdP")
    listed = ", ".join(e.get("entityID") or "?" for e in idps[:20])
    more = f" and {len(idps) - 20} more" if len(idps) > 20 else ""
    raise MetadataAmbiguous(f"the aggregate holds {len(idps)} IdPs; pick one with --entity-id: {listed}{more}")


def _certificate(text: str) -> Certificate:
    body = re.sub(r"\s+", "", text)
    try:
        der = base64.b64decode(body, validate=True)
        cert = x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError) as error:
        raise MetadataNoCertificate(f"a signing certificate in the metadata cannot be read: {error}") from None
    digest = hashlib.sha256(der).hexdigest().upper()
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    hash_algorithm = cert.signature_hash_algorithm
    return Certificate(
        pem=f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n",
        sha256=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        not_after=cert.not_valid_after_utc,
        subject=cert.subject.rfc4514_string(),
        signature_hash=hash_algorithm.name if hash_algorithm else None,
    )


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise MetadataMalformed(f"validUntil {value!r} is not a date-time") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)


def read(data: bytes, entity_id: str | None = None, now: datetime | None = None) -> IdpMetadata:
    """Parse IdP metadata bytes; raise a MetadataRejected subclass ops can act on."""
    now = now or datetime.now(timezone.utc)
    root = parse_xml(data)
    entity = select_entity(root, entity_id)
    if entity.find(f"{{{MD}}}SPSSODescriptor") is not None and _idp_descriptor(entity) is None:
        raise MetadataNotIdp("this is a service provider's metadata (SPSSODescriptor), not an IdP's")
    descriptor = _idp_descriptor(entity)
    if descriptor is None:
        raise MetadataNotIdp("the metadata has no IDPSSODescriptor supporting SAML 2.0")
    found_id = (entity.get("entityID") or "").strip()
    if not found_id:
        raise MetadataMalformed("the EntityDescriptor has no entityID")

    def endpoints(tag: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for endpoint in descriptor.iterchildren(f"{{{MD}}}{tag}"):
            binding, location = endpoint.get("Binding"), (endpoint.get("Location") or "").strip()
            if binding in (BINDING_REDIRECT, BINDING_POST) and location and binding not in found:
                if not location.startswith(("https://", "http://")):
                    raise MetadataMalformed(f"the {tag} location {location!r} is not an http(s) URL")
                found[binding] = location
        return found

    sso = endpoints("SingleSignOnService")
    if not sso:
        raise MetadataNoSso("the IdP lists no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
    certificates: list[Certificate] = []
    for key in descriptor.iterchildren(f"{{{MD}}}KeyDescriptor"):
        if key.get("use") not in (None, "signing"):
            continue
        for node in key.iter(f"{{{DS}}}X509Certificate"):
            cert = _certificate(node.text or "")
            if cert.sha256 not in {c.sha256 for c in certificates}:
                certificates.append(cert)
    if not certificates:
        raise MetadataNoCertificate("the IdP lists no signing certificate, so its responses could not be verified")

    result = IdpMetadata(
        entity_id=found_id,
        sso=sso,
        slo=endpoints("SingleLogoutService"),
        certificates=certificates,
        name_id_formats=[(n.text or "").strip() for n in descriptor.iterchildren(f"{{{MD}}}NameIDFormat") if n.text],
        want_authn_requests_signed=descriptor.get("WantAuthnRequestsSigned") in ("true", "1"),
        valid_until=_parse_time(entity.get("validUntil") or root.get("validUntil")),
        cache_duration=entity.get("cacheDuration") or root.get("cacheDuration"),
    )
    for cert in certificates:
        days = (cert.not_after - now).days
        if cert.not_after <= now:
            result.warnings.append(f"certificate {cert.sha256[:23]}... expired on {cert.not_after:%Y-%m-%d}")
        elif days < 30:
            result.warnings.append(f"certificate {cert.sha256[:23]}... expires in {days} days ({cert.not_after:%Y-%m-%d})")
        if cert.signature_hash == "sha1":
            result.warnings.append(f"certificate {cert.sha256[:23]}... is signed with SHA-1")
    return result
