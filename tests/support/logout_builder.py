"""Our test IdP's logout messages: LogoutRequests and LogoutResponses with every knob a test needs.

Signed the way an IdP signs them: for HTTP-Redirect over the query string (RSA over
`SAMLRequest=...&RelayState=...&SigAlg=...`, SAML bindings 3.4.4.1), for HTTP-POST with an
enveloped XML signature (xmlsec, through ResponseBuilder.sign). pysaml2 (pysaml2_idp.py) is the
independent implementation; this one can also sign things wrong on purpose.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from lxml import etree

from .saml_builder import NSMAP, SAML, SAMLP, ResponseBuilder, random_id, saml_time

SIG_ALGS = {
    "rsa-sha256": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", hashes.SHA256),
    "rsa-sha512": ("http://www.w3.org/2001/04/xmldsig-more#rsa-sha512", hashes.SHA512),
    "rsa-sha1": ("http://www.w3.org/2000/09/xmldsig#rsa-sha1", hashes.SHA1),
}
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


@dataclass
class LogoutSpec:
    """A LogoutRequest (or, with in_response_to, a LogoutResponse); None leaves an optional part out."""

    issuer: str | None
    destination: str | None
    name_id: str | None = "alice@acme.example"
    name_id_format: str | None = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    session_indexes: list[str] = field(default_factory=list)
    message_id: str = field(default_factory=random_id)
    now: datetime | None = None
    clock_offset: timedelta = timedelta(0)  # the IdP's clock minus ours
    not_on_or_after: timedelta | None = timedelta(minutes=5)  # after IssueInstant
    in_response_to: str | None = None  # LogoutResponse only
    status: str = SUCCESS
    sub_status: str | None = None


def deflate(xml: bytes) -> str:
    compressor = zlib.compressobj(wbits=-15)
    return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()


def inflate(encoded: str) -> bytes:
    return zlib.decompress(base64.b64decode(encoded), -15)


class LogoutBuilder:
    """The test IdP of `ResponseBuilder`, speaking single logout to tenant `slug`."""

    def __init__(self, idp: ResponseBuilder) -> None:
        self.idp = idp

    @property
    def sls_url(self) -> str:
        return f"{self.idp.sp_base}/saml/{self.idp.slug}/sls"

    @property
    def path(self) -> str:
        return f"/saml/{self.idp.slug}/sls"

    def spec(self, **changes) -> LogoutSpec:
        return replace(LogoutSpec(issuer=self.idp.entity_id, destination=self.sls_url), **changes)

    def tree(self, spec: LogoutSpec | None = None, **changes) -> etree._Element:
        spec = spec or self.spec(**changes)
        now = (spec.now or datetime.now(UTC)) + spec.clock_offset
        kind = "LogoutResponse" if spec.in_response_to else "LogoutRequest"
        root = etree.Element(f"{{{SAMLP}}}{kind}", nsmap=NSMAP)
        root.set("ID", spec.message_id)
        root.set("Version", "2.0")
        root.set("IssueInstant", saml_time(now))
        if spec.destination is not None:
            root.set("Destination", spec.destination)
        if spec.issuer is not None:
            etree.SubElement(root, f"{{{SAML}}}Issuer").text = spec.issuer
        if kind == "LogoutResponse":
            root.set("InResponseTo", spec.in_response_to)
            status = etree.SubElement(root, f"{{{SAMLP}}}Status")
            code = etree.SubElement(status, f"{{{SAMLP}}}StatusCode", Value=spec.status)
            if spec.sub_status:
                etree.SubElement(code, f"{{{SAMLP}}}StatusCode", Value=spec.sub_status)
            return root
        if spec.not_on_or_after is not None:
            root.set("NotOnOrAfter", saml_time(now + spec.not_on_or_after))
        if spec.name_id is not None:
            name_id = etree.SubElement(root, f"{{{SAML}}}NameID")
            if spec.name_id_format:
                name_id.set("Format", spec.name_id_format)
            name_id.text = spec.name_id
        for index in spec.session_indexes:
            etree.SubElement(root, f"{{{SAMLP}}}SessionIndex").text = index
        return root

    def xml(self, spec: LogoutSpec | None = None, **changes) -> bytes:
        return etree.tostring(self.tree(spec, **changes))

    # --- HTTP-Redirect ---------------------------------------------------------------------------

    def query(
        self,
        message: bytes | etree._Element,
        *,
        kind: str = "SAMLRequest",
        relay_state: str | None = None,
        sig_alg: str | None = "rsa-sha256",
        key_pem: bytes | None = None,
        encoded: str | None = None,
        lowercase: bool = False,
    ) -> str:
        """The query string of a Redirect-binding message, signed over its own encoding (None: unsigned)."""
        if isinstance(message, etree._Element):
            message = etree.tostring(message)

        def enc(value: str) -> str:
            quoted = quote_plus(value)
            return _lower_hex(quoted) if lowercase else quoted

        parts = [f"{kind}={enc(encoded if encoded is not None else deflate(message))}"]
        if relay_state is not None:
            parts.append(f"RelayState={enc(relay_state)}")
        if sig_alg is None:
            return "&".join(parts)
        uri, digest = SIG_ALGS[sig_alg]
        parts.append(f"SigAlg={enc(uri)}")
        signed = "&".join(parts).encode()
        key = serialization.load_pem_private_key(key_pem or self.idp.key_pem, password=None)
        signature = base64.b64encode(key.sign(signed, PKCS1v15(), digest())).decode()
        return f"{signed.decode()}&Signature={enc(signature)}"

    def get(self, client, query: str, **kwargs):
        return client.get(f"{self.path}?{query}", **kwargs)

    # --- HTTP-POST -------------------------------------------------------------------------------

    def signed_tree(
        self, spec: LogoutSpec | None = None, *, sign_alg: str = "rsa-sha256", digest_alg: str = "sha256", **changes
    ) -> etree._Element:
        """The message with an enveloped XML signature (the HTTP-POST binding), re-parsed as received."""
        root = self.tree(spec, **changes)
        self.idp.sign(root, sign_alg, digest_alg)
        return etree.fromstring(etree.tostring(root))

    def post(
        self,
        client,
        message: bytes | etree._Element,
        *,
        kind: str = "SAMLRequest",
        relay_state: str | None = None,
        **kwargs,
    ):
        if isinstance(message, etree._Element):
            message = etree.tostring(message)
        data = {kind: base64.b64encode(message).decode()}
        if relay_state is not None:
            data["RelayState"] = relay_state
        return client.post(self.path, data=data, **kwargs)


def _lower_hex(text: str) -> str:
    """Percent-escapes in lowercase hex, as AD FS writes them."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "%":
            out.append(text[i : i + 3].lower())
            i += 3
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def read_redirect(location: str, signer_cert_pem: bytes | None = None) -> tuple[str, etree._Element, dict[str, str]]:
    """(the URL without its query, the inflated message, the decoded parameters) of a Redirect-binding message.

    With signer_cert_pem, first check the query signature the way an IdP does: RSA over the raw
    `SAMLx=...&RelayState=...&SigAlg=...` parts, as sent.
    """
    from urllib.parse import parse_qsl, urlsplit

    from cryptography import x509

    parts = urlsplit(location)
    params = dict(parse_qsl(parts.query, strict_parsing=True))
    kind = "SAMLRequest" if "SAMLRequest" in params else "SAMLResponse"
    if signer_cert_pem is not None:
        raw = dict(part.split("=", 1) for part in parts.query.split("&"))
        signed = "&".join(f"{name}={raw[name]}" for name in (kind, "RelayState", "SigAlg") if name in raw)
        algorithm = dict(SIG_ALGS.values())[params["SigAlg"]]
        public_key = x509.load_pem_x509_certificate(signer_cert_pem).public_key()
        public_key.verify(base64.b64decode(params["Signature"]), signed.encode(), PKCS1v15(), algorithm())
    return f"{parts.scheme}://{parts.netloc}{parts.path}", etree.fromstring(inflate(params[kind])), params
