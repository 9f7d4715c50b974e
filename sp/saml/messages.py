"""The messages we send: AuthnRequests, LogoutRequests, LogoutResponses, and our SP metadata.

python3-saml builds and signs them; we check what it built before it leaves (well-formed,
addressed to the endpoint we meant, carrying the values we gave), because it pastes some
values into its XML templates unescaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape as xml_escape

from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
from onelogin.saml2.metadata import OneLogin_Saml2_Metadata
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from sp import errors
from sp.saml.config import BINDING_POST, BINDING_REDIRECT, IdpConfig, SpConfig, request_data, settings_for, xml_safe
from sp.saml.xml import NS

LOGOUT_REQUEST = "LogoutRequest"
LOGOUT_RESPONSE = "LogoutResponse"


@dataclass(frozen=True)
class OutgoingRequest:
    """An AuthnRequest or LogoutRequest ready to send: by redirect to `url`, or by POSTing `fields` to `url`."""

    request_id: str
    binding: str
    url: str
    fields: dict[str, str] | None = None


@dataclass(frozen=True)
class OutgoingResponse:
    """A LogoutResponse ready to send: by redirect to `url`, or by POSTing `fields` to `url`."""

    binding: str
    url: str
    fields: dict[str, str] | None = None


def _sign(xml: str, sp: SpConfig) -> str:
    return OneLogin_Saml2_Utils.add_sign(
        xml, sp.key_pem, sp.cert_pem, sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256
    )


def _with_raw_url(url: str, idp_url: str) -> str:
    """python3-saml's redirect URL, starting with the IdP's URL as it is rather than XML-escaped."""
    escaped = xml_safe(idp_url)
    if not url.startswith(escaped):
        raise RuntimeError("python3-saml's redirect does not start with the IdP's endpoint URL")
    return idp_url + url[len(escaped) :]


def _check_built(xml: str | bytes, kind: str, destination: str, texts: dict[str, str | None]) -> None:
    """Refuse to send a message python3-saml built wrong: well-formed, addressed to `destination`, carrying `texts`."""
    root = etree.fromstring(
        xml.encode() if isinstance(xml, str) else xml,
        etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False),
    )
    if root.tag != f"{{{C.NS_SAMLP}}}{kind}" or root.get("Destination") != destination:
        raise RuntimeError(f"python3-saml built a {kind} for {root.get('Destination')!r}, not {destination!r}")
    for tag, expected in texts.items():
        found = root.find(tag, NS)
        if expected is not None and (found is None or found.text != expected):
            raise RuntimeError(f"python3-saml built a {kind} whose {tag} is not the value given")


def authn_request(sp: SpConfig, idp: IdpConfig, relay_state: str) -> OutgoingRequest:
    """Build a signed AuthnRequest for the IdP's binding: a redirect URL, or a POST form."""
    settings = settings_for(sp, idp)
    if idp.sso_binding == BINDING_REDIRECT:
        auth = OneLogin_Saml2_Auth(request_data(sp.acs_url), old_settings=settings)
        url = _with_raw_url(auth.login(return_to=relay_state, set_nameid_policy=False), idp.sso_url)
        return OutgoingRequest(auth.get_last_request_id(), BINDING_REDIRECT, url)
    # python3-saml only builds the Redirect binding; for HTTP-POST we sign the XML itself.
    request = OneLogin_Saml2_Authn_Request(settings, set_nameid_policy=False)
    fields = {"SAMLRequest": OneLogin_Saml2_Utils.b64encode(_sign(request.get_xml(), sp)), "RelayState": relay_state}
    return OutgoingRequest(request.get_id(), BINDING_POST, idp.sso_url, fields)


def sp_metadata(sp: SpConfig) -> str:
    """Our SP metadata for one tenant: signing (and, when published, encryption) certificates,
    the next certificate ahead of a rollover, signed when the SP is configured to sign it."""
    settings = settings_for(sp, None)
    metadata = OneLogin_Saml2_Metadata.builder(
        settings.get_sp_data(),
        authnsign=True,
        wsign=False,
        contacts=settings.get_contacts(),
        organization=settings.get_organization(),
    )
    # python3-saml puts each certificate first, so the current one ends up above the next one.
    for cert in (sp.next_cert_pem, sp.cert_pem):
        if cert:
            metadata = OneLogin_Saml2_Metadata.add_x509_key_descriptors(metadata, cert, sp.publish_encryption_cert)
    problems = settings.validate_metadata(metadata)
    if problems:
        raise RuntimeError(f"SP metadata failed python3-saml's own validation: {problems}")
    if sp.sign_metadata:
        metadata = OneLogin_Saml2_Metadata.sign_metadata(
            metadata, sp.key_pem, sp.cert_pem, sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256
        )
    return metadata if isinstance(metadata, str) else metadata.decode("utf-8")


def logout_request(
    sp: SpConfig,
    idp: IdpConfig,
    *,
    name_id: str,
    name_id_format: str | None,
    session_index: str | None,
    relay_state: str,
) -> OutgoingRequest:
    """Build a signed LogoutRequest for the IdP's SLO binding: a redirect URL, or a POST form."""
    if not idp.slo_url:
        raise errors.IdpNotConfigured("the IdP metadata lists no SingleLogoutService")
    settings = settings_for(sp, idp)
    # python3-saml pastes the SessionIndex into its XML unescaped; the NameID it escapes itself.
    index = xml_escape(session_index) if session_index else None
    fields: dict[str, str] | None
    if idp.slo_binding != BINDING_POST:
        auth = OneLogin_Saml2_Auth(request_data(sp.sls_url or sp.acs_url), old_settings=settings)
        url = _with_raw_url(
            auth.logout(return_to=relay_state, name_id=name_id, session_index=index, name_id_format=name_id_format),
            idp.slo_url,
        )
        request_id, xml, fields = auth.get_last_request_id(), auth.get_last_request_xml(), None
    else:
        request = OneLogin_Saml2_Logout_Request(
            settings, name_id=name_id, session_index=index, name_id_format=name_id_format
        )
        request_id, xml, url = request.id, request.get_xml(), idp.slo_url
        fields = {"SAMLRequest": OneLogin_Saml2_Utils.b64encode(_sign(xml, sp)), "RelayState": relay_state}
    _check_built(xml, LOGOUT_REQUEST, idp.slo_url, {"saml:NameID": name_id, "samlp:SessionIndex": session_index})
    return OutgoingRequest(request_id, BINDING_POST if fields else BINDING_REDIRECT, url, fields)


def logout_response(
    sp: SpConfig, idp: IdpConfig, *, in_response_to: str, status: str, relay_state: str | None
) -> OutgoingResponse:
    """Build a signed LogoutResponse to a LogoutRequest, for the IdP's SLO binding.

    `in_response_to` must be the verified request's ID (an xs:ID): python3-saml pastes it into
    the XML unescaped.
    """
    if not idp.slo_url:
        raise errors.IdpNotConfigured("the IdP metadata lists no SingleLogoutService")
    settings = settings_for(sp, idp)
    builder = OneLogin_Saml2_Logout_Response(settings)
    builder.build(in_response_to, status)
    xml = builder.get_xml()
    _check_built(xml, LOGOUT_RESPONSE, idp.slo_url, {})
    parameters: dict[str, str] = {}
    if idp.slo_binding != BINDING_POST:
        parameters["SAMLResponse"] = builder.get_response()
        if relay_state is not None:
            parameters["RelayState"] = relay_state
        auth = OneLogin_Saml2_Auth(request_data(sp.sls_url or sp.acs_url), old_settings=settings)
        auth.add_response_signature(parameters, C.RSA_SHA256)
        return OutgoingResponse(BINDING_REDIRECT, OneLogin_Saml2_Utils.redirect(idp.slo_url, parameters))
    parameters["SAMLResponse"] = OneLogin_Saml2_Utils.b64encode(_sign(xml, sp))
    if relay_state is not None:
        parameters["RelayState"] = relay_state
    return OutgoingResponse(BINDING_POST, idp.slo_url, parameters)
