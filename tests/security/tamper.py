"""Tamper with genuine signed Responses, never re-signing them: what an attacker in the middle can do.

Every function takes a signed lxml tree (from `ResponseBuilder.build_tree`) and returns a new
tree or bytes; the original is never modified, so a test can post the tampered message first and
the untouched original afterwards as its positive control.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac

from lxml import etree

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"samlp": SAMLP, "saml": SAML, "ds": DS}

EVIL_NAME_ID = "mallory@acme.example"


def clone(root: etree._Element) -> etree._Element:
    """A fresh copy, re-parsed: xmlsec's templates leave some nodes without a namespace pointer."""
    return etree.fromstring(etree.tostring(root))


def b64(message: etree._Element | bytes) -> str:
    data = message if isinstance(message, bytes) else etree.tostring(message)
    return base64.b64encode(data).decode()


def xml(root: etree._Element) -> bytes:
    return etree.tostring(root)


def assertion(root: etree._Element) -> etree._Element:
    return root.find(f"{{{SAML}}}Assertion")


def signature(element: etree._Element) -> etree._Element | None:
    return element.find(f"{{{DS}}}Signature")


def name_id(element: etree._Element) -> etree._Element:
    return element.find(".//saml:Subject/saml:NameID", NS)


def strip_signature(element: etree._Element) -> etree._Element:
    """Remove element's own enveloped signature; returns element."""
    found = signature(element)
    if found is not None:
        element.remove(found)
    return element


def evil_assertion(original: etree._Element, *, new_id: str = "_evil", strip: bool = True) -> etree._Element:
    """A copy of the assertion naming Mallory, with a new ID and (by default) no signature."""
    evil = clone(original)
    evil.set("ID", new_id)
    if strip:
        strip_signature(evil)
    name_id(evil).text = EVIL_NAME_ID
    for value in evil.iterfind(".//saml:AttributeValue", NS):
        value.text = EVIL_NAME_ID
    return evil


def rename_identity(root: etree._Element, to: str = EVIL_NAME_ID) -> etree._Element:
    """Change the NameID (and attribute values) in place after signing."""
    name_id(assertion(root)).text = to
    for value in assertion(root).iterfind(".//saml:AttributeValue", NS):
        value.text = to
    return root


def extensions(root: etree._Element) -> etree._Element:
    """The Response's samlp:Extensions, created in its schema place (after Issuer and Signature)."""
    found = root.find(f"{{{SAMLP}}}Extensions")
    if found is not None:
        return found
    created = etree.Element(f"{{{SAMLP}}}Extensions")
    status = root.find(f"{{{SAMLP}}}Status")
    status.addprevious(created)
    return created


def ds_object(sig: etree._Element) -> etree._Element:
    obj = etree.SubElement(sig, f"{{{DS}}}Object")
    return obj


def reference(sig: etree._Element) -> etree._Element:
    return sig.find("ds:SignedInfo/ds:Reference", NS)


def set_transforms(
    sig: etree._Element, algorithms: list[str], parameters: dict[str, etree._Element] | None = None
) -> None:
    """Replace the Reference's transforms (the digest no longer matters: this is refused first)."""
    ref = reference(sig)
    transforms = ref.find(f"{{{DS}}}Transforms")
    for child in list(transforms):
        transforms.remove(child)
    for algorithm in algorithms:
        transform = etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=algorithm)
        if parameters and algorithm in parameters:
            transform.append(copy.deepcopy(parameters[algorithm]))


def hmac_resign(sig: etree._Element, key: bytes) -> None:
    """Turn an RSA signature into HMAC-SHA256 keyed with key (the classic public-key-as-secret trick)."""
    signed_info = sig.find(f"{{{DS}}}SignedInfo")
    signed_info.find(f"{{{DS}}}SignatureMethod").set("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
    canonical = etree.tostring(signed_info, method="c14n", exclusive=True)
    value = hmac.new(key, canonical, hashlib.sha256).digest()
    sig.find(f"{{{DS}}}SignatureValue").text = base64.b64encode(value).decode()


def with_prolog(root: etree._Element, prolog: bytes) -> bytes:
    """The message with something (a DOCTYPE, say) put before its root element."""
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + prolog + etree.tostring(root)


def replace_text(message: bytes, old: str, new: str) -> bytes:
    """Edit the serialised message (for markup lxml would not let us build)."""
    assert old.encode() in message, f"{old!r} not in the message"
    return message.replace(old.encode(), new.encode(), 1)
