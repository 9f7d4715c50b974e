"""XML for SAML: the namespaces, the one parser untrusted messages go through, and the schema.

A genuine SAML message is plain UTF-8 elements, attributes and text. The raw bytes are read
before any parser can hide something from us: DTDs (XXE, billion laughs), comments, processing
instructions and CDATA sections are refused, because canonicalisation leaves comments out of
a signature and each is a way to make two readers see different text. The document is then
parsed once; every later check, the signature verification and the reading of the identity
work on that one tree.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import onelogin.saml2
from lxml import etree

from sp import errors

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
    "mdui": "urn:oasis:names:tc:SAML:metadata:ui",
}
SAMLP = f"{{{NS['samlp']}}}"
SAML = f"{{{NS['saml']}}}"
DS = f"{{{NS['ds']}}}"
MD = f"{{{NS['md']}}}"
XENC = f"{{{NS['xenc']}}}"

_XML_DECLARATION = re.compile(rb"^<\?xml\s[^<>]*?\?>")
_DECLARED_ENCODING = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]*)[\"']")
_UTF8_NAMES = frozenset({b"utf-8", b"utf8", b"us-ascii", b"ascii"})
# Comments, PIs and CDATA are refused before parsing, so nothing needs removing here: a parser
# that silently dropped them would hide what the raw check is meant to see.
_MESSAGE_PARSER_OPTIONS: dict[str, Any] = dict(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
    remove_pis=False,
    strip_cdata=False,
)
_ENCRYPTED = (
    SAML + "EncryptedAssertion",
    SAML + "EncryptedID",
    SAML + "EncryptedAttribute",
    XENC + "EncryptedData",
    XENC + "EncryptedKey",
)

_SCHEMA_DIR = Path(onelogin.saml2.__file__).parent / "schemas"
PROTOCOL_SCHEMA = "saml-schema-protocol-2.0.xsd"
_SCHEMAS = threading.local()


def parse_message(xml: bytes) -> etree._Element:
    """Check a SAML message's raw bytes, parse them once and return the root element.

    Raises MalformedMessage (not UTF-8, not well-formed), ForbiddenMarkup (DTD, entity, comment,
    processing instruction, CDATA) or EncryptedAssertionUnsupported (an encrypted part, refused
    before anything could decrypt it with our key).
    """
    body = xml[3:] if xml.startswith(b"\xef\xbb\xbf") else xml
    if b"\x00" in body or body[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise errors.MalformedMessage("the message is not UTF-8 (it looks like UTF-16 or UTF-32)")
    declaration = _XML_DECLARATION.match(body)
    if declaration:
        encoding = _DECLARED_ENCODING.search(declaration.group(0))
        if encoding and encoding.group(1).lower() not in _UTF8_NAMES:
            raise errors.MalformedMessage(
                f"the message declares the encoding {encoding.group(1)[:40]!r}; only UTF-8 is accepted"
            )
        body = body[declaration.end() :]
    # In well-formed XML a raw '<' only opens markup: '<!' is a DTD, comment or CDATA, '<?' a PI.
    for marker, what in (
        (b"<!DOCTYPE", "a DTD"),
        (b"<!ENTITY", "an entity declaration"),
        (b"<!--", "a comment"),
        (b"<![CDATA[", "a CDATA section"),
        (b"<?", "a processing instruction"),
        (b"<!", "a declaration"),
    ):
        if marker in body:
            raise errors.ForbiddenMarkup(f"the message contains {what}, which no SAML message we read needs")
    try:
        root = etree.fromstring(xml, etree.XMLParser(**_MESSAGE_PARSER_OPTIONS))
    except (etree.XMLSyntaxError, ValueError) as error:
        raise errors.MalformedMessage(f"the message is not well-formed XML: {str(error)[:200]}") from None
    for element in root.iter(*_ENCRYPTED):
        raise errors.EncryptedAssertionUnsupported(
            f"the IdP encrypted part of the message ({etree.QName(element).localname}); encryption is not "
            "supported yet: turn assertion encryption off for this application in the IdP"
        )
    return root


def _compiled_schema(name: str) -> etree.XMLSchema:
    """The compiled XSD, once per thread (an lxml validator must not be shared between threads)."""
    cache: dict[str, etree.XMLSchema] = _SCHEMAS.__dict__.setdefault("schemas", {})
    schema = cache.get(name)
    if schema is None:
        schema = cache[name] = etree.XMLSchema(etree.parse(str(_SCHEMA_DIR / name)))
    return schema


def check_schema(root: etree._Element, name: str = PROTOCOL_SCHEMA) -> None:
    """Validate a message against python3-saml's copy of the SAML protocol schema, compiled once.

    python3-saml compiles the schema again for every message it validates; the schema never changes.
    Raises SchemaInvalid.
    """
    schema = _compiled_schema(name)
    if not schema.validate(root):
        # lxml-stubs 0.5.1 declare _ErrorLog without attributes; lxml's error logs have last_error.
        first = schema.error_log.last_error  # type: ignore[attr-defined]
        detail = f": {first.message[:200]}" if first is not None else ""
        raise errors.SchemaInvalid(f"the {etree.QName(root).localname} does not follow the SAML schema{detail}")


def text(element: etree._Element | None) -> str | None:
    """All the text inside element, stripped; None for no element."""
    if element is None:
        return None
    # lxml-stubs type itertext as str | bytes; lxml yields only str on Python 3.
    return "".join(cast(Iterator[str], element.itertext())).strip()


def localname(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else "?"
