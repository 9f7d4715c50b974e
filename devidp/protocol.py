"""SAML constants, binding codecs and defensive parsing of the requests SPs send us."""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass

from lxml import etree

from .config import Settings

NS_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
NS_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
NS_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
NS_DS = "http://www.w3.org/2000/09/xmldsig#"

BINDING_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_ENTITY = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
CM_BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
AUTHN_PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
ATTRNAME_BASIC = "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER = "urn:oasis:names:tc:SAML:2.0:status:Responder"
STATUS_NO_PASSIVE = "urn:oasis:names:tc:SAML:2.0:status:NoPassive"

#: Largest base64 parameter we look at, and largest XML document (also after inflating).
MAX_ENCODED_CHARS = 128 * 1024
MAX_XML_BYTES = 256 * 1024
#: RelayState is opaque to us; SAML says 80 bytes, real SPs send whole URLs.
MAX_RELAY_STATE_CHARS = 2048

#: An ``xs:ID`` value we are willing to echo back (restricted to a safe subset of NCName).
_ID_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,255}")
_WHITESPACE = re.compile(rb"\s+")


class SamlRequestError(ValueError):
    """A SAML message we refuse. The text is meant for the person at the browser."""


@dataclass(frozen=True)
class AuthnRequest:
    """The parts of an accepted ``samlp:AuthnRequest`` we act on."""

    id: str
    slug: str
    sp_entity_id: str
    acs_url: str
    is_passive: bool


@dataclass(frozen=True)
class LogoutRequest:
    """The parts of an accepted ``samlp:LogoutRequest`` we act on."""

    id: str
    slug: str
    sp_entity_id: str


def _b64decode(value: str) -> bytes:
    """Strictly decode base64, tolerating line breaks, within the size cap."""
    if len(value) > MAX_ENCODED_CHARS:
        raise SamlRequestError("The SAML message is too large.")
    compact = _WHITESPACE.sub(b"", value.encode("ascii", errors="replace"))
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SamlRequestError("The SAML message is not valid base64.") from exc


def _inflate(data: bytes) -> bytes:
    """Inflate raw DEFLATE data, refusing output beyond :data:`MAX_XML_BYTES` (deflate bombs)."""
    inflater = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
    try:
        output = inflater.decompress(data, MAX_XML_BYTES + 1)
    except zlib.error as exc:
        raise SamlRequestError("The SAML message is not valid raw DEFLATE data.") from exc
    if len(output) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise SamlRequestError("The SAML message is too large once inflated.")
    if not inflater.eof:
        raise SamlRequestError("The SAML message is truncated.")
    return output


def decode_redirect_message(value: str) -> bytes:
    """Decode a ``SAMLRequest`` from the HTTP-Redirect binding: base64 of raw DEFLATE."""
    return _inflate(_b64decode(value))


def decode_post_message(value: str) -> bytes:
    """Decode a ``SAMLRequest`` from the HTTP-POST binding: plain base64."""
    data = _b64decode(value)
    if len(data) > MAX_XML_BYTES:
        raise SamlRequestError("The SAML message is too large.")
    return data


def encode_redirect_message(xml: bytes) -> str:
    """Encode a message for the HTTP-Redirect binding."""
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode("ascii")


def check_relay_state(value: str | None) -> str | None:
    """Return ``RelayState`` unchanged, or refuse it when it is unreasonably long."""
    if value is not None and len(value) > MAX_RELAY_STATE_CHARS:
        raise SamlRequestError("The RelayState is too long.")
    return value or None


def parse_xml(data: bytes) -> etree._Element:
    """Parse untrusted XML without entities, DTDs or network access; refuse any DOCTYPE."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise SamlRequestError("The SAML message is not well-formed XML.") from exc
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise SamlRequestError("The SAML message contains a DOCTYPE, which SAML forbids.")
    return root


def _read_common(root: etree._Element, kind: str, settings: Settings, endpoint: str) -> tuple[str, str, str]:
    """Check the header shared by SAML requests; return ``(id, slug, issuer)``."""
    if root.tag != f"{{{NS_SAMLP}}}{kind}":
        raise SamlRequestError(f"Expected a samlp:{kind}.")
    if root.get("Version") != "2.0":
        raise SamlRequestError("Only SAML 2.0 requests are supported.")
    request_id = root.get("ID") or ""
    if not _ID_PATTERN.fullmatch(request_id):
        raise SamlRequestError("The request has no usable ID attribute.")
    destination = root.get("Destination")
    if destination is not None and destination != endpoint:
        raise SamlRequestError(f"The request is addressed to {destination!r}, but this endpoint is {endpoint!r}.")
    issuer_el = root.find(f"{{{NS_SAML}}}Issuer")
    issuer = (issuer_el.text or "").strip() if issuer_el is not None else ""
    if issuer_el is not None and issuer_el.get("Format", NAMEID_ENTITY) != NAMEID_ENTITY:
        raise SamlRequestError("The request's Issuer must be an entity ID.")
    slug = settings.slug_for_sp_entity_id(issuer)
    if slug is None:
        expected = settings.sp_entity_id("<tenant>")
        raise SamlRequestError(f"Unknown service provider {issuer!r}; expected an issuer like {expected!r}.")
    return request_id, slug, issuer


def parse_authn_request(xml: bytes, settings: Settings) -> AuthnRequest:
    """Parse and vet an AuthnRequest from one of our SP's tenants."""
    root = parse_xml(xml)
    request_id, slug, issuer = _read_common(root, "AuthnRequest", settings, settings.sso_url)
    expected_acs = settings.sp_acs_url(slug)
    acs = root.get("AssertionConsumerServiceURL")
    if acs is not None and acs != expected_acs:
        raise SamlRequestError(f"The AssertionConsumerServiceURL {acs!r} is not {expected_acs!r}.")
    binding = root.get("ProtocolBinding")
    if binding is not None and binding != BINDING_POST:
        raise SamlRequestError("Only the HTTP-POST binding is supported for responses.")
    return AuthnRequest(
        id=request_id,
        slug=slug,
        sp_entity_id=issuer,
        acs_url=expected_acs,
        is_passive=root.get("IsPassive") in ("true", "1"),
    )


def parse_logout_request(xml: bytes, settings: Settings) -> LogoutRequest:
    """Parse and vet a LogoutRequest from one of our SP's tenants."""
    root = parse_xml(xml)
    request_id, slug, issuer = _read_common(root, "LogoutRequest", settings, settings.slo_url)
    return LogoutRequest(id=request_id, slug=slug, sp_entity_id=issuer)
