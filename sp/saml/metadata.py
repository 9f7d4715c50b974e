"""Read an IdP's SAML metadata into the few facts we trust: entity ID, endpoints, certificates.

Metadata comes from customers and federations, so it is parsed as hostile input: no DTD, no
entities, no network, size caps. Real files are messy (WS-Federation RoleDescriptors before the
IdP descriptor in ADFS and Entra ID, Shibboleth Extensions and Artifact/SOAP endpoints, several
certificates during a rollover): we read what SAML 2.0 Web SSO needs and ignore the rest.

Federation aggregates are large (eduGAIN: about 10,000 entities), so the document is streamed
with `iterparse`: every EntityDescriptor is looked at when it ends and then thrown away, unless
it is the one we want. Memory stays at one entity plus the parser's buffer.
"""

from __future__ import annotations

import base64
import binascii
import copy
import io
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from sp import errors
from sp.saml import certificates
from sp.saml.config import BINDING_POST, BINDING_REDIRECT
from sp.saml.signature import CANONICALISATIONS, DIGEST_METHODS, SIGNATURE_METHODS, TRANSFORMS
from sp.saml.xml import DS, MD, NS

PROTOCOL = NS["samlp"]
ENTITY = f"{MD}EntityDescriptor"
ENTITIES = f"{MD}EntitiesDescriptor"
# One EntityDescriptor (and so a whole single-entity file) may not exceed this.
MAX_BYTES = 5 * 1024 * 1024
# A whole aggregate may not exceed this (eduGAIN is about 100 MB); the app config can change it.
MAX_AGGREGATE_BYTES = 256 * 1024 * 1024
MIN_RSA_BITS = 2048
EXPIRY_WARNING = timedelta(days=30)
# Sizes of the columns the facts are stored in: longer values are refused, not truncated.
MAX_ENTITY_ID = 1024
MAX_URL = 2048
_ENCODINGS = {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin1", "latin-1"}
_ENCODING_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


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

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Certificate:
        return cls(
            pem=data["pem"],
            sha256=data["sha256"],
            not_after=datetime.fromisoformat(data["not_after"]),
            subject=data["subject"],
            signature_hash=data.get("signature_hash") or None,
        )


@dataclass
class IdpMetadata:
    """The facts we keep from an IdP's metadata, and the XML they came from."""

    entity_id: str
    sso: dict[str, str]
    slo: dict[str, str]
    certificates: list[Certificate]
    name_id_formats: list[str]
    want_authn_requests_signed: bool
    valid_until: datetime | None = None
    cache_duration: str | None = None
    warnings: list[str] = field(default_factory=list)
    # The single-entity document as sent, or the picked EntityDescriptor of an aggregate.
    xml: str = ""
    from_aggregate: bool = False

    def summary(self) -> dict[str, Any]:
        """The facts as plain JSON values: what a stored version keeps and diffs compare."""
        return {
            "entity_id": self.entity_id,
            "sso": dict(self.sso),
            "slo": dict(self.slo),
            "certificates": [c.as_dict() for c in self.certificates],
            "name_id_formats": list(self.name_id_formats),
            "want_authn_requests_signed": self.want_authn_requests_signed,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "cache_duration": self.cache_duration,
        }


_PARSER_OPTIONS: dict[str, Any] = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    remove_comments=True,
    remove_pis=True,
    huge_tree=False,
)


def _check_prolog(head: bytes) -> None:
    """Refuse documents whose bytes a DTD scan could not read: not UTF-8-compatible XML."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text.startswith(b"<"):
        raise errors.MetadataMalformed(
            "the file is not XML (or not in UTF-8): it must start with '<'; save it as UTF-8"
        )
    declared = _ENCODING_DECL.match(text)
    if declared and declared.group(1).decode("ascii").lower() not in _ENCODINGS:
        raise errors.MetadataMalformed(
            f"the XML declares the encoding {declared.group(1).decode()!r}; save it as UTF-8"
        )


class _GuardedReader:
    """A file-like wrapper for iterparse: caps sizes and refuses DTDs while the bytes stream past."""

    _OVERLAP = len(b"<!DOCTYPE") - 1

    def __init__(self, source: IO[bytes], max_bytes: int, keep_bytes: int) -> None:
        self.source, self.max_bytes, self.keep_bytes = source, max_bytes, keep_bytes
        self.total = 0
        self.chunk_started_at = 0
        self.head = b""
        self.kept: bytearray | None = bytearray()
        self.entity_started_at: int | None = None
        self._tail = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self.source.read(size if size and size > 0 else 65536)
        if not chunk:
            return b""
        self.chunk_started_at = self.total
        self.total += len(chunk)
        if self.total > self.max_bytes:
            raise errors.MetadataTooLarge(f"the metadata is larger than the {self.max_bytes:,} bytes we accept")
        if len(self.head) < 1024:
            self.head += chunk[: 1024 - len(self.head)]
            if self.head.strip(b"\xef\xbb\xbf \t\r\n"):
                _check_prolog(self.head)
        window = self._tail + chunk
        if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
            raise errors.MetadataForbiddenConstruct(
                "the metadata contains a DTD or entity declaration, which we never accept"
            )
        self._tail = window[-self._OVERLAP :]
        if self.kept is not None:
            self.kept += chunk
            if len(self.kept) > self.keep_bytes:
                self.kept = None
        if self.entity_started_at is not None and self.total - self.entity_started_at > MAX_BYTES:
            raise errors.MetadataTooLarge(f"an EntityDescriptor is larger than the {MAX_BYTES:,} bytes we accept")
        return chunk


def _idp_descriptor(entity: etree._Element) -> etree._Element | None:
    for descriptor in entity.iterchildren(f"{MD}IDPSSODescriptor"):
        if PROTOCOL in (descriptor.get("protocolSupportEnumeration") or "").split():
            return descriptor
    return None


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise errors.MetadataMalformed(f"validUntil {value!r} is not a date-time") from None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


_DURATION = re.compile(
    r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(value: str | None) -> timedelta | None:
    """An xs:duration such as PT6H or P1D as a timedelta (a year is 365 days, a month 30); None if unreadable."""
    stripped = (value or "").strip()
    match = _DURATION.match(stripped)
    if not match or stripped in ("P", "PT") or stripped.endswith("T"):
        return None
    years, months, weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return timedelta(days=years * 365 + months * 30 + weeks * 7 + days, hours=hours, minutes=minutes, seconds=seconds)


@dataclass
class _Picked:
    entity: etree._Element
    valid_until: datetime | None
    cache_duration: str | None
    original: bytes | None


def _validity(entity: etree._Element) -> tuple[datetime | None, str | None]:
    """The earliest validUntil and shortest cacheDuration of the entity and the aggregates around it."""
    stamps: list[datetime] = []
    durations: list[str] = []
    for element in (entity, *entity.iterancestors(ENTITIES)):
        stamp = _parse_time(element.get("validUntil"))
        if stamp is not None:
            stamps.append(stamp)
        duration = element.get("cacheDuration")
        if duration:
            durations.append(duration.strip())
    readable = [(length, d) for d in durations if (length := parse_duration(d)) is not None]
    shortest = min(readable, key=lambda pair: pair[0])[1] if readable else (durations[0] if durations else None)
    return (min(stamps) if stamps else None), shortest


def _pick(reader: _GuardedReader, entity_id: str | None) -> _Picked:
    """Stream the document and keep the one IdP EntityDescriptor we want; refuse anything else."""
    events = etree.iterparse(reader, events=("start", "end"), tag=(ENTITY, ENTITIES), **_PARSER_OPTIONS)
    root: etree._Element | None = None
    chosen: _Picked | None = None
    chosen_is_idp = False
    idps: list[str] = []
    try:
        for event, element in events:
            if root is None:
                root = _check_root(element.getroottree().getroot())
            if event == "start":
                if element.tag == ENTITY and reader.entity_started_at is None:
                    # The start tag is in the chunk read last: count from its beginning (at most a chunk early).
                    reader.entity_started_at = reader.chunk_started_at
                continue
            if element.tag == ENTITIES:
                continue
            reader.entity_started_at = None
            found_id = element.get("entityID")
            is_idp = _idp_descriptor(element) is not None
            if is_idp:
                idps.append(found_id or "?")
            wanted = found_id == entity_id if entity_id is not None else is_idp
            if wanted and chosen is None:
                valid_until, cache_duration = _validity(element)
                kept = element if element is root else copy.deepcopy(element)
                chosen, chosen_is_idp = _Picked(kept, valid_until, cache_duration, None), is_idp
            if element is not root:
                # Forget what we passed: this keeps memory flat on a 10,000-entity aggregate.
                element.clear(keep_tail=False)
                parent = element.getparent()
                while element.getprevious() is not None:
                    del parent[0]
        if root is None:
            root = _check_root(events.root)
    except etree.XMLSyntaxError as error:
        if not reader.head.strip(b"\xef\xbb\xbf \t\r\n"):
            raise errors.MetadataEmpty("the metadata file is empty") from None
        raise errors.MetadataMalformed(f"the metadata is not well-formed XML: {error.msg}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise errors.MetadataForbiddenConstruct("the metadata contains a DTD, which we never accept")

    if root.tag == ENTITY:
        if entity_id is not None and root.get("entityID") != entity_id:
            raise errors.MetadataNotIdp(f"the metadata describes {root.get('entityID')!r}, not {entity_id!r}")
        if chosen is None or not chosen_is_idp:
            if root.find(f"{MD}SPSSODescriptor") is not None:
                raise errors.MetadataNotIdp("this is a service provider's metadata (SPSSODescriptor), not an IdP's")
            raise errors.MetadataNotIdp("the metadata has no IDPSSODescriptor supporting SAML 2.0")
        chosen.original = bytes(reader.kept) if reader.kept is not None else None
        return chosen
    if entity_id is not None:
        if chosen is None:
            raise errors.MetadataNotIdp(f"the aggregate holds no entity with entity ID {entity_id!r}")
        if not chosen_is_idp:
            raise errors.MetadataNotIdp(f"{entity_id!r} in the aggregate is not a SAML 2.0 IdP (a service provider?)")
        return chosen
    if not idps:
        raise errors.MetadataNotIdp("the aggregate holds no SAML 2.0 IdP")
    if len(idps) > 1:
        listed = ", ".join(idps[:20])
        more = f" and {len(idps) - 20} more" if len(idps) > 20 else ""
        raise errors.MetadataAmbiguous(
            f"the aggregate holds {len(idps)} IdPs; pick one with --entity-id: {listed}{more}"
        )
    assert chosen is not None  # the aggregate's only IdP was wanted, so chosen, when it passed
    return chosen


def _check_root(root: etree._Element | None) -> etree._Element:
    if root is None:
        raise errors.MetadataMalformed("the metadata holds no XML element")
    if root.tag not in (ENTITY, ENTITIES):
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        raise errors.MetadataMalformed(
            f"the root element is {name}, not a SAML metadata EntityDescriptor or EntitiesDescriptor"
        )
    return root


def _certificate(text: str) -> Certificate | str:
    """The certificate in a ds:X509Certificate, or why it cannot be used to verify signatures."""
    body = re.sub(r"\s+", "", text)
    try:
        der = base64.b64decode(body, validate=True)
        cert = x509.load_der_x509_certificate(der)
        public_key = cert.public_key()
    except (binascii.Error, ValueError) as error:
        return f"a signing certificate cannot be read ({error})"
    sha256 = certificates.fingerprint(der)
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            return f"certificate {sha256[:23]}... has a {public_key.key_size}-bit RSA key; at least {MIN_RSA_BITS} bits are required"
    elif not isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"certificate {sha256[:23]}... has a {type(public_key).__name__} key; only RSA and EC keys are supported"
    hash_algorithm = cert.signature_hash_algorithm
    return Certificate(
        pem=certificates.pem_from_base64(body),
        sha256=sha256,
        not_after=cert.not_valid_after_utc,
        subject=cert.subject.rfc4514_string(),
        signature_hash=hash_algorithm.name if hash_algorithm else None,
    )


def certificate_warnings(certificates: list[Certificate], now: datetime) -> list[str]:
    """Expired, expiring within 30 days, or SHA-1-signed certificates, in words ops can act on."""
    warnings = []
    for cert in certificates:
        short = f"certificate {cert.sha256[:23]}..."
        if cert.not_after <= now:
            warnings.append(f"{short} expired on {cert.not_after:%Y-%m-%d}")
        elif cert.not_after - now < EXPIRY_WARNING:
            warnings.append(f"{short} expires in {(cert.not_after - now).days} days ({cert.not_after:%Y-%m-%d})")
        if cert.signature_hash == "sha1":
            warnings.append(f"{short} is signed with SHA-1")
    return warnings


def _extract(picked: _Picked, now: datetime) -> IdpMetadata:
    entity = picked.entity
    descriptor = _idp_descriptor(entity)
    if descriptor is None:  # _pick keeps only an entity with one
        raise errors.MetadataNotIdp("the metadata has no IDPSSODescriptor supporting SAML 2.0")
    found_id = (entity.get("entityID") or "").strip()
    if not found_id:
        raise errors.MetadataMalformed("the EntityDescriptor has no entityID")
    if len(found_id) > MAX_ENTITY_ID:
        raise errors.MetadataMalformed(
            f"the entityID is {len(found_id)} characters long; at most {MAX_ENTITY_ID} are accepted"
        )

    def endpoints(tag: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for endpoint in descriptor.iterchildren(f"{MD}{tag}"):
            binding, location = endpoint.get("Binding") or "", (endpoint.get("Location") or "").strip()
            if binding in (BINDING_REDIRECT, BINDING_POST) and location and binding not in found:
                if not location.startswith(("https://", "http://")):
                    raise errors.MetadataMalformed(f"the {tag} location {location!r} is not an http(s) URL")
                if len(location) > MAX_URL:
                    raise errors.MetadataMalformed(f"a {tag} location is longer than {MAX_URL} characters")
                found[binding] = location
        return found

    sso = endpoints("SingleSignOnService")
    if not sso:
        raise errors.MetadataNoSso("the IdP lists no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding")
    certificates: list[Certificate] = []
    unusable: list[str] = []
    for key in descriptor.iterchildren(f"{MD}KeyDescriptor"):
        if key.get("use") not in (None, "signing"):
            continue
        for node in key.iter(f"{DS}X509Certificate"):
            cert = _certificate(node.text or "")
            if isinstance(cert, str):
                unusable.append(cert)
            elif cert.sha256 not in {c.sha256 for c in certificates}:
                certificates.append(cert)
    if not certificates:
        why = f": {'; '.join(unusable)}" if unusable else ""
        raise errors.MetadataNoCertificate(
            f"the IdP lists no usable signing certificate, so its responses could not be verified{why}"
        )

    formats = [(n.text or "").strip() for n in descriptor.iterchildren(f"{MD}NameIDFormat")]
    result = IdpMetadata(
        entity_id=found_id,
        sso=sso,
        slo=endpoints("SingleLogoutService"),
        certificates=certificates,
        name_id_formats=list(dict.fromkeys(f for f in formats if f)),
        want_authn_requests_signed=descriptor.get("WantAuthnRequestsSigned") in ("true", "1"),
        valid_until=picked.valid_until,
        cache_duration=picked.cache_duration,
    )
    result.warnings.extend(f"ignored: {reason}" for reason in unusable)
    result.warnings.extend(certificate_warnings(certificates, now))
    if result.valid_until is not None and result.valid_until <= now:
        result.warnings.append(f"the metadata's validUntil ({result.valid_until:%Y-%m-%d %H:%M} UTC) has passed")
    if result.cache_duration is not None and parse_duration(result.cache_duration) is None:
        result.warnings.append(f"cacheDuration {result.cache_duration!r} is not an xs:duration; ignored")
    if picked.original is not None:
        try:
            result.xml = picked.original.decode("utf-8")
        except UnicodeDecodeError:
            result.xml = etree.tostring(entity, encoding="unicode")
    else:
        result.xml = etree.tostring(entity, encoding="unicode")
        result.from_aggregate = True
    return result


def read(
    source: bytes | IO[bytes],
    entity_id: str | None = None,
    now: datetime | None = None,
    max_bytes: int = MAX_AGGREGATE_BYTES,
) -> IdpMetadata:
    """Parse IdP metadata (bytes or a binary stream); raise a errors.MetadataRejected subclass ops can act on.

    A single EntityDescriptor must describe an IdP (and be `entity_id` when given). From an
    EntitiesDescriptor aggregate we take the IdP named `entity_id`, or its only IdP.
    """
    now = now or datetime.now(UTC)
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    reader = _GuardedReader(stream, max_bytes=max_bytes, keep_bytes=MAX_BYTES)
    picked = _pick(reader, entity_id.strip() if entity_id else None)
    return _extract(picked, now)


def parse_xml(data: bytes, max_bytes: int = MAX_AGGREGATE_BYTES) -> etree._Element:
    """Parse a whole untrusted document (for signature checks): no DTDs or entities, size-capped."""
    if not data or not data.strip():
        raise errors.MetadataEmpty("the metadata file is empty")
    if len(data) > max_bytes:
        raise errors.MetadataTooLarge(f"the metadata is {len(data):,} bytes; the limit is {max_bytes:,}")
    _check_prolog(data[:1024])
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise errors.MetadataForbiddenConstruct(
            "the metadata contains a DTD or entity declaration, which we never accept"
        )
    try:
        root = etree.fromstring(data, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError as error:
        raise errors.MetadataMalformed(f"the metadata is not well-formed XML: {error.msg}") from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise errors.MetadataForbiddenConstruct("the metadata contains a DTD, which we never accept")
    return _check_root(root)


def check_signature_shape(root: etree._Element) -> etree._Element:
    """Check the document carries one enveloped signature over its whole root; return it.

    Verifying only proves what the Reference covers, so it must be the root, with no transform
    but enveloped-signature and canonicalisation, and no SHA-1.
    """
    signatures = root.findall(f"{DS}Signature")
    if len(signatures) != 1:
        raise errors.MetadataSignatureInvalid(
            f"the metadata must carry exactly one signature on its root element; found {len(signatures)}"
        )
    signature = signatures[0]
    signed_info = signature.find(f"{DS}SignedInfo")
    references = signed_info.findall(f"{DS}Reference") if signed_info is not None else []
    if signed_info is None or len(references) != 1:
        raise errors.MetadataSignatureInvalid("the metadata signature must have exactly one Reference")
    uri = references[0].get("URI")
    root_id = root.get("ID")
    if uri != "" and (not root_id or uri != "#" + root_id):
        raise errors.MetadataSignatureInvalid("the metadata signature does not cover the whole document")
    c14n = signed_info.find(f"{DS}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALISATIONS:
        raise errors.MetadataSignatureInvalid("the metadata signature uses a canonicalisation method we do not allow")
    method = signed_info.find(f"{DS}SignatureMethod")
    digest = references[0].find(f"{DS}DigestMethod")
    if (
        method is None
        or method.get("Algorithm") not in SIGNATURE_METHODS
        or digest is None
        or digest.get("Algorithm") not in DIGEST_METHODS
    ):
        raise errors.MetadataSignatureInvalid("the metadata is signed with SHA-1 or an algorithm we do not accept")
    for transform in references[0].iterfind(f"{DS}Transforms/{DS}Transform"):
        if transform.get("Algorithm") not in TRANSFORMS or len(transform):
            raise errors.MetadataSignatureInvalid(
                f"the metadata signature uses a transform we refuse: {transform.get('Algorithm')!r}"
            )
    if signature.find(f"{DS}Object") is not None:
        raise errors.MetadataSignatureInvalid("the metadata signature carries ds:Object content")
    return signature


def signature_verifies(root: etree._Element, pinned: list[str]) -> bool:
    """True when the metadata's root signature verifies with one of the pinned PEM certificates.

    The signature's shape (one, over the whole root, no SHA-1) is checked before this, in
    check_signature_shape; here python3-saml and xmlsec only check the cryptography.
    """
    return any(OneLogin_Saml2_Utils.validate_metadata_sign(root, cert=pem) for pem in pinned)
