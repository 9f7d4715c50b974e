"""Single logout: the dev IdP answers a LogoutRequest with a signed LogoutResponse."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from onelogin.saml2.auth import OneLogin_Saml2_Auth

if TYPE_CHECKING:
    from conftest import SamlKit


def _logout_request(kit: SamlKit, request_id: str, issuer: str) -> bytes:
    return (
        f'<samlp:LogoutRequest xmlns:samlp="{kit.ns["samlp"]}" xmlns:saml="{kit.ns["saml"]}"'
        f' ID="{request_id}" Version="2.0" IssueInstant="2030-01-01T00:00:00Z" Destination="{kit.idp_base}/slo">'
        f"<saml:Issuer>{issuer}</saml:Issuer>"
        '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@demo.example</saml:NameID>'
        "</samlp:LogoutRequest>"
    ).encode()


def test_logout_round_trip(kit: SamlKit) -> None:
    xml = _logout_request(kit, "_logout-1", kit.sp_entity_id("acme"))
    response = kit.client.get("/slo", query_string={"SAMLRequest": kit.deflate(xml), "RelayState": "/bye"})
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{kit.sp_base}/saml/acme/sls"
    get_data = dict(parse_qsl(location.query))
    assert set(get_data) == {"SAMLResponse", "RelayState", "SigAlg", "Signature"}
    assert get_data["RelayState"] == "/bye"
    assert b'InResponseTo="_logout-1"' in kit.inflate(get_data["SAMLResponse"])

    settings = kit.sp_settings("acme", wantMessagesSigned=True)
    request_data = kit.request_data("/saml/acme/sls", get_data)
    auth = OneLogin_Saml2_Auth(request_data, settings)
    auth.process_slo(keep_local_session=True, request_id="_logout-1")
    assert auth.get_errors() == [], auth.get_last_error_reason()

    get_data["RelayState"] = "/elsewhere"
    tampered = OneLogin_Saml2_Auth(kit.request_data("/saml/acme/sls", get_data), settings)
    tampered.process_slo(keep_local_session=True, request_id="_logout-1")
    assert tampered.get_errors()


def test_logout_from_unknown_sp_is_refused(kit: SamlKit) -> None:
    xml = _logout_request(kit, "_logout-2", "https://evil.example/saml/demo/metadata")
    response = kit.client.get("/slo", query_string={"SAMLRequest": kit.deflate(xml)})
    assert response.status_code == 400
    assert kit.client.get("/slo").status_code == 400
