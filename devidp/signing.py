"""XML signatures (via signxml) and HTTP-Redirect binding signatures."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from lxml import etree
from signxml import XMLSigner, methods

from .keys import Credentials
from .protocol import NS_DS, NS_SAML

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


def _signer() -> XMLSigner:
    """A signer for enveloped RSA-SHA256 signatures with exclusive canonicalisation."""
    return XMLSigner(
        method=methods.enveloped,
        signature_algorithm="rsa-sha256",
        digest_algorithm="sha256",
        c14n_algorithm=EXC_C14N,
    )


def sign_element(root: etree._Element, element_id: str, credentials: Credentials) -> etree._Element:
    """Sign the element with ``ID=element_id`` inside the document ``root``.

    The signature goes right after that element's ``saml:Issuer``, where the SAML
    schema wants it: a ``<ds:Signature Id="placeholder"/>`` is put there and signxml
    fills it in. signxml works on a re-parsed copy, so the signed document is
    *returned* and ``root`` must not be used afterwards. Signatures already in the
    document (say, on a nested assertion) are covered as they are; the enveloped
    transform only removes the signature being created.
    """
    matches = root.xpath("//*[@ID=$id]", id=element_id)
    if len(matches) != 1:
        raise ValueError(f"expected exactly one element with ID {element_id!r}")
    issuer = matches[0].find(f"{{{NS_SAML}}}Issuer")
    if issuer is None:
        raise ValueError(f"element {element_id!r} has no saml:Issuer to place the signature after")
    issuer.addnext(etree.Element(f"{{{NS_DS}}}Signature", {"Id": "placeholder"}, nsmap={"ds": NS_DS}))
    return _signer().sign(
        root,
        key=credentials.private_key,
        cert=[credentials.certificate],
        reference_uri=f"#{element_id}",
    )


def signed_redirect_query(parameters: list[tuple[str, str]], credentials: Credentials) -> str:
    """Build an HTTP-Redirect query string signed with RSA-SHA256 (SAML bindings, 3.4.4.1).

    ``parameters`` must be ``SAMLRequest``/``SAMLResponse`` and optionally ``RelayState``,
    in that order; ``SigAlg`` and ``Signature`` are appended.
    """
    signed_part = "&".join(f"{name}={quote_plus(value)}" for name, value in [*parameters, ("SigAlg", RSA_SHA256)])
    signature = credentials.private_key.sign(signed_part.encode("ascii"), PKCS1v15(), hashes.SHA256())
    return f"{signed_part}&Signature={quote_plus(base64.b64encode(signature).decode('ascii'))}"
