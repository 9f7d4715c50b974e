"""XML signatures on SAML messages: the shapes we accept, and verification with xmlsec.

The shape is checked first and cheaply, before any transform runs: exactly one Reference,
pointing at the element that carries the signature, no transform but enveloped-signature and
one canonicalisation (no XPath, XSLT or XPointer: a pre-authentication DoS), no SHA-1, no
ds:Object, no RetrievalMethod. IDs must be unique, so the element a Reference finds is the one
we read. Verification then runs xmlsec on the same parsed tree, with each trusted certificate's
key loaded once per process, and only the transforms the shape check allowed enabled.
"""

from __future__ import annotations

from functools import lru_cache

import xmlsec
from lxml import etree

from sp import errors
from sp.saml import certificates
from sp.saml.xml import DS, SAML, SAMLP, localname

SIGNATURE_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
    }
)
DIGEST_METHODS = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#sha384",
        "http://www.w3.org/2001/04/xmlenc#sha512",
    }
)
CANONICALISATIONS = frozenset(
    {
        "http://www.w3.org/2001/10/xml-exc-c14n#",
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
        "http://www.w3.org/2006/12/xml-c14n11",
    }
)
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
# Only these transforms may run: no XPath, XSLT, base64 or XPointer.
TRANSFORMS = CANONICALISATIONS | {ENVELOPED}
# The same sets as xmlsec names them: xmlsec refuses anything else even if a check above were missed.
# xmlsec.constants holds the very objects xmlsec.Transform.RSA_SHA256 and the like name; its stubs
# type them, where the stubs make xmlsec.Transform a class without those attributes.
_XMLSEC_SIGNATURE = (
    xmlsec.constants.TransformRsaSha256,
    xmlsec.constants.TransformRsaSha384,
    xmlsec.constants.TransformRsaSha512,
    xmlsec.constants.TransformEcdsaSha256,
    xmlsec.constants.TransformEcdsaSha384,
    xmlsec.constants.TransformEcdsaSha512,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformInclC14N,
    xmlsec.constants.TransformInclC14N11,
)
_XMLSEC_REFERENCE = (
    xmlsec.constants.TransformEnveloped,
    xmlsec.constants.TransformExclC14N,
    xmlsec.constants.TransformInclC14N,
    xmlsec.constants.TransformInclC14N11,
    xmlsec.constants.TransformSha256,
    xmlsec.constants.TransformSha384,
    xmlsec.constants.TransformSha512,
)

# The elements whose enveloped signature we read a signer from.
SIGNED_TAGS = (SAMLP + "Response", SAML + "Assertion", SAMLP + "LogoutRequest", SAMLP + "LogoutResponse")
# A KeyInfo may list a chain; the first few are all a reason needs.
_MAX_KEY_INFO_CERTS = 4


# --- Shape -----------------------------------------------------------------------------------


def check_unique_ids(root: etree._Element) -> None:
    """No two elements may carry the same ID: the element a Reference finds must be the one we read."""
    seen: set[str] = set()
    for element in root.iter(tag=etree.Element):
        value = element.get("ID")
        if value is None:
            continue
        if value in seen:
            raise errors.DuplicateId(f"two elements carry the ID {value!r}")
        seen.add(value)


def check_shape(signature: etree._Element, allowed_parents: tuple[etree._Element, ...]) -> None:
    """Refuse a signature we will not run: placement, references, transforms, algorithms.

    Raises SignatureStructure or WeakAlgorithm.
    """
    parent = signature.getparent()
    if parent is None or not any(parent is allowed for allowed in allowed_parents):
        raise errors.SignatureStructure("a signature sits somewhere other than on the Response or the Assertion")
    signed_info = signature.findall(DS + "SignedInfo")
    if len(signed_info) != 1:
        raise errors.SignatureStructure("a signature without exactly one SignedInfo")
    info = signed_info[0]
    references = info.findall(DS + "Reference")
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

    c14n = info.find(DS + "CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALISATIONS:
        raise errors.SignatureStructure("a signature with a canonicalisation method we do not allow")
    _check_c14n_parameters(c14n)
    method = info.find(DS + "SignatureMethod")
    algorithm = method.get("Algorithm") if method is not None else None
    if algorithm not in SIGNATURE_METHODS:
        raise errors.WeakAlgorithm(
            f"the signature uses {algorithm or 'no algorithm'}; we accept RSA or ECDSA with SHA-256 or stronger"
        )
    transforms = references[0].find(DS + "Transforms")
    algorithms: list[str | None] = []
    for transform in transforms if transforms is not None else ():
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
            f"a signature with {len(algorithms)} transforms; expected enveloped-signature and at most one "
            "canonicalisation"
        )
    digest = references[0].find(DS + "DigestMethod")
    digest_algorithm = digest.get("Algorithm") if digest is not None else None
    if digest_algorithm not in DIGEST_METHODS:
        raise errors.WeakAlgorithm(
            f"the signature digests with {digest_algorithm or 'nothing'}; SHA-256 or stronger is required"
        )


def _check_c14n_parameters(method: etree._Element) -> None:
    """Allow no parameters but exclusive canonicalisation's InclusiveNamespaces PrefixList (Okta sends it)."""
    children = [child for child in method if isinstance(child.tag, str)]
    if not children:
        return
    only = children[0]
    if (
        len(children) > 1
        or method.get("Algorithm") != EXC_C14N
        or only.tag != f"{{{EXC_C14N}}}InclusiveNamespaces"
        or len(only)
        or set(only.attrib) - {"PrefixList"}
    ):
        raise errors.SignatureStructure("a signature transform or canonicalisation with parameters we do not allow")


def check_message_signature(root: etree._Element) -> etree._Element:
    """Check the one enveloped signature of a POST-binding logout message; return it.

    Raises SignatureMissing, SignatureStructure, WeakAlgorithm or DuplicateId.
    """
    check_unique_ids(root)
    signatures = list(root.iter(DS + "Signature"))
    if not signatures:
        raise errors.SignatureMissing(f"the {localname(root)} is not signed; the IdP must sign it")
    if len(signatures) > 1:
        raise errors.SignatureStructure(f"{len(signatures)} signatures; exactly one, on the message, is allowed")
    check_shape(signatures[0], (root,))
    return signatures[0]


# --- Verification ------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _key(pem: str) -> xmlsec.Key:
    """The public key of a trusted certificate, read once (the context copies it for each use)."""
    # xmlsec.constants.KeyDataFormatCertPem is xmlsec.KeyFormat.CERT_PEM, which the stubs lack.
    return xmlsec.Key.from_memory(pem.encode("ascii"), xmlsec.constants.KeyDataFormatCertPem, None)


def _verifies(signature: etree._Element, pem: str) -> bool:
    context = xmlsec.SignatureContext()
    context.key = _key(pem)
    for transform in _XMLSEC_SIGNATURE:
        context.enable_signature_transform(transform)
    for transform in _XMLSEC_REFERENCE:
        context.enable_reference_transform(transform)
    try:
        context.verify(signature)
    except xmlsec.Error:
        return False
    return True


def verify(root: etree._Element, signature: etree._Element, trusted: tuple[str, ...]) -> str | None:
    """The fingerprint of the trusted certificate whose key verifies signature; None if none does.

    The certificate the signature names in KeyInfo is tried first (the usual case); KeyInfo is only
    a hint of who signed: every certificate tried is one the tenant trusts.
    """
    xmlsec.tree.add_ids(root, ["ID"])
    named = set(key_info_fingerprints(signature))
    by_fingerprint = {certificates.pem_fingerprint(pem): pem for pem in trusted}
    order = sorted(by_fingerprint, key=lambda value: value not in named)
    for value in order:
        try:
            if _verifies(signature, by_fingerprint[value]):
                return value
        except (xmlsec.Error, ValueError) as error:  # a certificate xmlsec cannot load, or hostile input
            raise errors.SignatureInvalid(f"the signature could not be verified ({type(error).__name__})") from None
    return None


def key_info_fingerprints(*signatures: etree._Element) -> list[str]:
    """Fingerprints of the certificates the signatures carry in KeyInfo (a hint, never trusted)."""
    found: list[str] = []
    for signature in signatures:
        for node in signature.iterfind(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate"):
            der = certificates.der_from_base64(node.text or "")
            if der is None:
                continue
            value = certificates.fingerprint(der)
            if value not in found and len(found) < _MAX_KEY_INFO_CERTS:
                found.append(value)
    return found


def signatures_of(document: etree._Element) -> list[etree._Element]:
    """The signatures enveloped in the message or its assertion (where a signer can be read from)."""
    found = []
    for signature in document.iter(DS + "Signature"):
        parent = signature.getparent()
        if parent is not None and parent.tag in SIGNED_TAGS:
            found.append(signature)
    return found


def failure_reason(document: etree._Element, trusted: tuple[str, ...], what: str = "response") -> str:
    """Plain words for a signature that verifies with none of the metadata's certificates."""
    listed = ", ".join(certificates.describe(pem) for pem in trusted) or "none"
    named = key_info_fingerprints(*signatures_of(document))
    fingerprints = {certificates.pem_fingerprint(pem) for pem in trusted}
    if named and not any(value in fingerprints for value in named):
        return (
            f"the {what} was signed by a certificate that is not in the uploaded metadata: fingerprint "
            f"{', '.join(named)}, the metadata lists {listed}; if the IdP changed its signing certificate, "
            "upload its current metadata"
        )
    if named:
        return (
            f"the signature does not verify with the certificate it names (fingerprint {named[0]}, which the "
            "metadata lists): the message was changed after it was signed, or signed with another key"
        )
    return (
        f"the signature verifies with none of the certificates in the uploaded metadata ({listed}) and names "
        "no certificate; if the IdP changed its signing certificate, upload its current metadata"
    )


def verify_enveloped(
    root: etree._Element, signature: etree._Element, trusted: tuple[str, ...], what: str = "response"
) -> str:
    """Verify one enveloped signature whose shape was checked; return the verifying certificate's fingerprint.

    Raises SignatureInvalid, saying which certificate signed and which the metadata lists.
    """
    verified = verify(root, signature, trusted)
    if verified is None:
        raise errors.SignatureInvalid(failure_reason(root, trusted, what))
    return verified
