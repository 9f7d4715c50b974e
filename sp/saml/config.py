"""Both sides of one federation as plain values, and python3-saml's settings built from them.

`SpConfig` is our side for one tenant (endpoints from SP_BASE_URL, our key pair), `IdpConfig`
the tenant's IdP as we trust it. Both are frozen, so python3-saml's settings object is built
once per distinct configuration and reused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.settings import OneLogin_Saml2_Settings

BINDING_REDIRECT = C.BINDING_HTTP_REDIRECT
BINDING_POST = C.BINDING_HTTP_POST
STATUS_SUCCESS = C.STATUS_SUCCESS
STATUS_REQUESTER = C.STATUS_REQUESTER
STATUS_RESPONDER = C.STATUS_RESPONDER


@dataclass(frozen=True)
class SpConfig:
    """Our side for one tenant: endpoints from SP_BASE_URL and the SP key pair."""

    entity_id: str
    acs_url: str
    key_pem: str
    cert_pem: str
    next_cert_pem: str | None = None
    sign_metadata: bool = False
    # Off while we refuse encrypted assertions: an IdP that sees the key would start encrypting.
    publish_encryption_cert: bool = False
    # Published only once single logout is served at that URL.
    sls_url: str | None = None


@dataclass(frozen=True)
class IdpConfig:
    """The tenant's IdP as we trust it: entity ID, where to send users, its signing certificates."""

    entity_id: str
    sso_url: str
    sso_binding: str
    slo_url: str | None
    certificates: tuple[str, ...]
    want_authn_requests_signed: bool = False
    # The binding of slo_url: HTTP-Redirect when the IdP offers it, else HTTP-POST.
    slo_binding: str | None = None


# Security settings that are not ours to loosen per tenant.
_SECURITY = {
    "authnRequestsSigned": True,
    "logoutRequestSigned": True,
    "logoutResponseSigned": True,
    "signMetadata": False,
    "wantMessagesSigned": False,
    "wantAssertionsSigned": False,
    "wantAssertionsEncrypted": False,
    "wantNameId": True,
    "wantNameIdEncrypted": False,
    # Many IdPs send a bare NameID and no attributes at all; that is a valid login.
    "wantAttributeStatement": False,
    "allowRepeatAttributeName": True,
    "rejectDeprecatedAlgorithm": True,
    "requestedAuthnContext": False,
    "signatureAlgorithm": C.RSA_SHA256,
    "digestAlgorithm": C.SHA256,
    "wantXMLValidation": True,
}


def xml_safe(url: str) -> str:
    """A URL as it must appear in an XML attribute (python3-saml pastes endpoint URLs unescaped)."""
    return xml_escape(url, {'"': "&quot;"})


def _settings_dict(sp: SpConfig, idp: IdpConfig | None) -> dict[str, Any]:
    sp_part: dict[str, Any] = {
        "entityId": sp.entity_id,
        "assertionConsumerService": {"url": sp.acs_url, "binding": BINDING_POST},
        "NameIDFormat": C.NAMEID_UNSPECIFIED,
        "x509cert": sp.cert_pem,
        "privateKey": sp.key_pem,
    }
    if sp.sls_url:
        sp_part["singleLogoutService"] = {"url": sp.sls_url, "binding": BINDING_REDIRECT}
    if sp.next_cert_pem:
        sp_part["x509certNew"] = sp.next_cert_pem
    settings: dict[str, Any] = {"strict": True, "debug": False, "sp": sp_part, "security": dict(_SECURITY)}
    if idp is not None:
        idp_part: dict[str, Any] = {
            "entityId": idp.entity_id,
            # python3-saml pastes these URLs into its XML templates (Destination="...") unescaped.
            "singleSignOnService": {"url": xml_safe(idp.sso_url), "binding": idp.sso_binding},
            "x509certMulti": {"signing": list(idp.certificates)},
        }
        if idp.slo_url:
            idp_part["singleLogoutService"] = {
                "url": xml_safe(idp.slo_url),
                "binding": idp.slo_binding or BINDING_REDIRECT,
            }
        settings["idp"] = idp_part
    return settings


@lru_cache(maxsize=1024)
def settings_for(sp: SpConfig, idp: IdpConfig | None) -> OneLogin_Saml2_Settings:
    """python3-saml's settings object, built once per distinct configuration."""
    return OneLogin_Saml2_Settings(_settings_dict(sp, idp), sp_validation_only=idp is None)


def request_data(url: str) -> dict[str, Any]:
    """python3-saml's view of 'the current request', built from our configured URL, never the Host header."""
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        # host[:port] in http_host: python3-saml 1.16 deprecates server_port.
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
    }
