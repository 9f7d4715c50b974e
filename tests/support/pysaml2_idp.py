"""An independent SAML 2.0 IdP for tests, built on pysaml2.

pysaml2 builds the XML and signs it by running Debian's ``xmlsec1`` binary, so the
SP under test consumes messages from an implementation this project did not write.
"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest
from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    # pysaml2 7.5.5 (saml2/cryptography/symmetric.py) reads
    # cryptography.hazmat.primitives.ciphers.modes.CFB at import time.
    warnings.filterwarnings(
        "ignore",
        message="CFB has been moved",
        category=CryptographyDeprecationWarning,
        module=r"saml2\.cryptography\.symmetric",
    )
    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md, samlp, xmldsig
    from saml2.attribute_converter import AttributeConverter
    from saml2.authn_context import PASSWORDPROTECTEDTRANSPORT
    from saml2.config import IdPConfig
    from saml2.metadata import entity_descriptor, metadata_tostring_fix
    from saml2.s_utils import do_ava, factory
    from saml2.saml import NAME_FORMAT_BASIC, NAME_FORMAT_URI, Attribute, NameID
    from saml2.server import Server
    from saml2.validate import valid_instance

from .keys import cert_body

__all__ = ["XMLSEC1", "Pysaml2IdP", "requires_xmlsec1"]

XMLSEC1: str | None = shutil.which("xmlsec1")
"""Path of the xmlsec1 binary pysaml2 signs with, or None when it is not installed."""

requires_xmlsec1 = pytest.mark.skipif(XMLSEC1 is None, reason="pysaml2 needs Debian's xmlsec1: apt-get install xmlsec1")

SIGN_ALGS: dict[str, str] = {
    "rsa-sha1": xmldsig.SIG_RSA_SHA1,
    "rsa-sha256": xmldsig.SIG_RSA_SHA256,
    "rsa-sha384": xmldsig.SIG_RSA_SHA384,
    "rsa-sha512": xmldsig.SIG_RSA_SHA512,
}
DIGEST_ALGS: dict[str, str] = {
    "sha1": xmldsig.DIGEST_SHA1,
    "sha256": xmldsig.DIGEST_SHA256,
    "sha384": xmldsig.DIGEST_SHA384,
    "sha512": xmldsig.DIGEST_SHA512,
}
_BINDINGS: dict[str, str] = {"redirect": BINDING_HTTP_REDIRECT, "post": BINDING_HTTP_POST}
_LIFETIME_MINUTES = 5


def _name_format(name: str) -> str:
    """``uri`` NameFormat for URL/URN-like attribute names, ``basic`` otherwise."""
    return NAME_FORMAT_URI if ":" in name else NAME_FORMAT_BASIC


class _VerbatimAttributes(AttributeConverter):
    """Attribute converter that emits every attribute under its given name.

    pysaml2's stock converters rename known attributes (``email`` becomes an OID)
    and give all of them one NameFormat; this one keeps names and values as given.
    """

    def __init__(self) -> None:
        super().__init__(NAME_FORMAT_URI)  # must equal the policy's name_form

    def to_(self, attrvals: Mapping[str, Any]) -> list[Attribute]:
        """One Attribute per key, one AttributeValue per value."""
        return [
            factory(Attribute, name=name, name_format=_name_format(name), attribute_value=do_ava(list(values)))
            for name, values in attrvals.items()
        ]


class _Server(Server):
    """pysaml2's IdP server, able to use a caller-chosen AuthnStatement SessionIndex."""

    session_index: str | None = None

    def setup_assertion(self, *args: Any, **kwargs: Any) -> Any:
        """Build the assertion as pysaml2 does, then apply ``session_index`` if set."""
        assertion = super().setup_assertion(*args, **kwargs)
        if self.session_index is not None:
            for statement in assertion.authn_statement:
                statement.session_index = self.session_index
        return assertion


def _to_text(message: Any) -> str:
    """pysaml2 returns a str, bytes or an unsigned Response object: make it a str."""
    if isinstance(message, str):
        return message
    if isinstance(message, bytes):
        return message.decode("utf-8")
    return str(message.to_string().decode("utf-8"))


class Pysaml2IdP:
    """A test IdP whose SAML Responses and metadata are produced by pysaml2."""

    def __init__(self, entity_id: str, key_pem: bytes, cert_pem: bytes, workdir: pathlib.Path) -> None:
        """Write the key pair into ``workdir`` (created if needed) for pysaml2/xmlsec1."""
        self.entity_id = entity_id
        self.cert_pem = cert_pem
        self.workdir = pathlib.Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        tag = hashlib.sha256(entity_id.encode() + cert_pem).hexdigest()[:12]
        self.key_file = self.workdir / f"idp-{tag}-key.pem"
        self.cert_file = self.workdir / f"idp-{tag}-cert.pem"
        self.key_file.write_bytes(key_pem)
        self.key_file.chmod(0o600)
        self.cert_file.write_bytes(cert_pem)
        self._servers: dict[tuple[str, str], _Server] = {}

    @property
    def cert_body(self) -> str:
        """The signing certificate as one base64 line (python3-saml's ``x509cert``)."""
        return cert_body(self.cert_pem)

    def _config(
        self, sso_url: str, bindings: Iterable[str], metadata: Mapping[str, Any] | None, slo_url: str | None = None
    ) -> IdPConfig:
        """A pysaml2 IdP configuration, loaded from a dict."""
        if XMLSEC1 is None:
            raise RuntimeError("pysaml2 needs Debian's xmlsec1: apt-get install xmlsec1")
        conf: dict[str, Any] = {
            "entityid": self.entity_id,
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "xmlsec_binary": XMLSEC1,
            "crypto_backend": "xmlsec1",
            "delete_tmpfiles": True,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(sso_url, _BINDINGS[b]) for b in bindings],
                        **({"single_logout_service": [(slo_url, BINDING_HTTP_REDIRECT)]} if slo_url else {}),
                    },
                    "policy": {
                        "default": {
                            "lifetime": {"minutes": _LIFETIME_MINUTES},
                            "attribute_restrictions": None,
                            "name_form": NAME_FORMAT_URI,
                        },
                    },
                    "want_authn_requests_signed": False,
                },
            },
        }
        if metadata is not None:
            conf["metadata"] = dict(metadata)
        config = IdPConfig()
        config.load(conf)
        return config

    def metadata_xml(
        self,
        *,
        sso_url: str = "https://idp.example/sso",
        bindings: Sequence[str] = ("redirect", "post"),
        extra_certs: Sequence[bytes] = (),
        slo_url: str | None = None,
    ) -> str:
        """IdP metadata (EntityDescriptor/IDPSSODescriptor) listing the signing cert(s) and SSO endpoints.

        ``bindings`` are ``"redirect"`` and/or ``"post"``; ``extra_certs`` (PEM) are
        published as further signing KeyDescriptors, e.g. to model a key rollover;
        ``slo_url`` adds a SingleLogoutService (HTTP-Redirect).
        """
        config = self._config(sso_url, bindings, metadata=None, slo_url=slo_url)
        extra_files = []
        for cert in extra_certs:
            path = self.workdir / f"extra-{hashlib.sha256(cert).hexdigest()[:12]}-cert.pem"
            path.write_bytes(cert)
            extra_files.append(str(path))
        config.additional_cert_files = extra_files or None
        descriptor = entity_descriptor(config)
        valid_instance(descriptor)
        return _to_text(metadata_tostring_fix(descriptor, {"xs": "http://www.w3.org/2001/XMLSchema"}))

    def _server(self, sp_entity_id: str, acs_url: str) -> _Server:
        """The (cached) pysaml2 Server that knows the SP from generated inline metadata."""
        key = (sp_entity_id, acs_url)
        if key not in self._servers:
            sp_metadata = md.EntityDescriptor(
                entity_id=sp_entity_id,
                spsso_descriptor=[
                    md.SPSSODescriptor(
                        protocol_support_enumeration=samlp.NAMESPACE,
                        assertion_consumer_service=[
                            md.AssertionConsumerService(
                                binding=BINDING_HTTP_POST, location=acs_url, index="0", is_default="true"
                            )
                        ],
                    )
                ],
            )
            config = self._config(
                "https://idp.invalid/sso", ("redirect",), metadata={"inline": [_to_text(sp_metadata.to_string())]}
            )
            server = _Server(config=config)
            server.config.attribute_converters = [_VerbatimAttributes()]
            self._servers[key] = server
        return self._servers[key]

    def response(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        name_id: str,
        attributes: Mapping[str, Sequence[str]] | None = None,
        in_response_to: str | None = None,
        sign_response: bool = True,
        sign_assertion: bool = True,
        sign_alg: str = "rsa-sha256",
        digest_alg: str = "sha256",
        name_id_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
        session_index: str | None = None,
    ) -> str:
        """A SAML Response signed by pysaml2, as an XML string (not base64).

        ``sign_alg`` is one of ``SIGN_ALGS`` keys (e.g. ``"rsa-sha1"``), ``digest_alg``
        one of ``DIGEST_ALGS`` keys. No attributes means no AttributeStatement.
        """
        try:
            sign_uri, digest_uri = SIGN_ALGS[sign_alg], DIGEST_ALGS[digest_alg]
        except KeyError as exc:
            raise ValueError(f"unsupported algorithm {exc.args[0]!r}") from None
        server = self._server(sp_entity_id, acs_url)
        identity = {
            name: [values] if isinstance(values, str) else list(values) for name, values in (attributes or {}).items()
        }
        server.session_index = session_index
        try:
            message = server.create_authn_response(
                identity=identity,
                in_response_to=in_response_to,
                destination=acs_url,
                sp_entity_id=sp_entity_id,
                name_id=NameID(format=name_id_format, text=name_id),
                authn={"class_ref": PASSWORDPROTECTEDTRANSPORT, "authn_auth": self.entity_id},
                sign_response=sign_response,
                sign_assertion=sign_assertion,
                sign_alg=sign_uri,
                digest_alg=digest_uri,
            )
        finally:
            server.session_index = None
        return _to_text(message)

    def logout_request_url(
        self,
        *,
        sp_entity_id: str,
        acs_url: str,
        sls_url: str,
        name_id: str,
        session_indexes: Sequence[str] = (),
        relay_state: str = "",
        name_id_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    ) -> str:
        """A LogoutRequest from pysaml2 to the SP's SLS, as the URL of a signed HTTP-Redirect (RSA-SHA256)."""
        server = self._server(sp_entity_id, acs_url)
        _, request = server.create_logout_request(
            destination=sls_url,
            issuer_entity_id=sp_entity_id,
            name_id=NameID(format=name_id_format, text=name_id),
            session_indexes=list(session_indexes) or None,
            sign=False,
        )
        info = server.apply_binding(
            BINDING_HTTP_REDIRECT,
            str(request),
            destination=sls_url,
            relay_state=relay_state,
            sign=True,
            sigalg=SIGN_ALGS["rsa-sha256"],
        )
        return dict(info["headers"])["Location"]
