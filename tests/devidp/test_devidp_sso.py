"""Single sign-on through the dev IdP, checked with python3-saml in strict mode."""

from __future__ import annotations

import base64
import re
import zlib
from typing import TYPE_CHECKING

import pytest
from lxml import etree
from onelogin.saml2.response import OneLogin_Saml2_Response

if TYPE_CHECKING:
    from conftest import SamlKit

ALICE_ATTRIBUTES = {
    "email": ["alice@demo.example"],
    "displayName": ["Alice Admin"],
    "givenName": ["Alice"],
    "surname": ["Admin"],
    "groups": ["sp-admins", "engineering"],
}


def _validated(kit: SamlKit, saml_response: str, request_id: str | None, slug: str = "demo") -> OneLogin_Saml2_Response:
    """Validate like our SP (strict, signed message and assertion required) and return the response."""
    settings = kit.sp_settings(slug, wantAssertionsSigned=True, wantMessagesSigned=True)
    response = OneLogin_Saml2_Response(settings, saml_response)
    request_data = kit.request_data(f"/saml/{slug}/acs")
    assert response.is_valid(request_data, request_id=request_id, raise_exceptions=True)
    return response


def test_sp_initiated_round_trip(kit: SamlKit) -> None:
    xml = kit.authn_request(request_id="_sp-request-1")
    final = kit.sign_in(xml, "alice@demo.example", relay_state="/after/login?x=1")
    page = kit.page(final)
    assert page.inline_scripts == 0
    assert page.script_sources == ["/static/autosubmit.js"]
    assert '<noscript><button type="submit">Continue</button></noscript>' in final.get_data(as_text=True)
    assert page.forms[0].fields["RelayState"] == "/after/login?x=1"
    assert final.headers["Cache-Control"] == "no-store"

    response = _validated(kit, kit.saml_response(final), request_id="_sp-request-1")
    assert response.get_nameid() == "alice@demo.example"
    assert response.get_nameid_format() == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert response.get_attributes() == ALICE_ATTRIBUTES
    assert response.get_session_index()


def test_response_structure(kit: SamlKit) -> None:
    final = kit.sign_in(kit.authn_request(request_id="_sp-request-2"), "alice@demo.example")
    root = etree.fromstring(base64.b64decode(kit.saml_response(final)))
    ns = kit.ns
    assert root.get("InResponseTo") == "_sp-request-2"
    assert re.fullmatch(r"_[0-9a-f]{32}", root.get("ID") or "")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", root.get("IssueInstant") or "")
    # The schema order: Issuer, then Signature, in both the Response and the Assertion.
    assert [etree.QName(child).localname for child in root] == ["Issuer", "Signature", "Status", "Assertion"]
    (assertion,) = root.findall("saml:Assertion", ns)
    assert [etree.QName(child).localname for child in assertion][:3] == ["Issuer", "Signature", "Subject"]
    references = root.xpath(
        "./ds:Signature//ds:Reference/@URI | ./saml:Assertion/ds:Signature//ds:Reference/@URI", namespaces=ns
    )
    assert references == [f"#{root.get('ID')}", f"#{assertion.get('ID')}"]
    assert root.xpath("string(.//ds:SignatureMethod/@Algorithm)", namespaces=ns).endswith("rsa-sha256")
    confirmation = assertion.find(".//saml:SubjectConfirmationData", ns)
    assert confirmation.get("InResponseTo") == "_sp-request-2"
    assert confirmation.get("Recipient") == kit.sp_acs_url()
    assert assertion.findtext(".//saml:AuthnContextClassRef", namespaces=ns).endswith("PasswordProtectedTransport")


def test_post_binding_and_derived_acs(kit: SamlKit) -> None:
    xml = kit.authn_request(request_id="_post-1", issuer=kit.sp_entity_id("acme"), acs_url=None)
    login_page = kit.client.post("/sso", data={"SAMLRequest": base64.b64encode(xml).decode()})
    assert login_page.status_code == 200
    (form,) = kit.page(login_page).forms
    final = kit.client.post(form.action, data={**form.fields, "username": "Carol@Demo.Example", "password": "demo"})
    assert "RelayState" not in kit.page(final).forms[0].fields

    response = _validated(kit, kit.saml_response(final, kit.sp_acs_url("acme")), request_id="_post-1", slug="acme")
    assert response.get_attributes() == {
        "email": ["carol@demo.example"],
        "displayName": ["Carol Contractor"],
        "groups": ["contractors"],
    }


def test_idp_initiated_for_bob(kit: SamlKit) -> None:
    portal = kit.client.get("/portal")
    assert portal.status_code == 200
    assert "Open demo" in portal.get_data(as_text=True) and "Open acme" in portal.get_data(as_text=True)
    final = kit.client.post(
        "/portal", data={"username": "bob@demo.example", "password": "demo", "tenant": "acme", "relay_state": ""}
    )
    saml_response = kit.saml_response(final, kit.sp_acs_url("acme"))
    root = etree.fromstring(base64.b64decode(saml_response))
    assert "InResponseTo" not in root.attrib
    assert not root.xpath(".//@InResponseTo")

    response = _validated(kit, saml_response, request_id=None, slug="acme")
    assert response.get_nameid() == "bob@demo.example"
    assert response.get_attributes() == {
        "email": ["bob@demo.example"],
        "displayName": ["Bob Builder"],
        "givenName": ["Bob"],
        "surname": ["Builder"],
    }


def test_wrong_password_is_refused(kit: SamlKit) -> None:
    final = kit.sign_in(kit.authn_request(), "alice@demo.example", password="nope")
    assert final.status_code == 401
    body = final.get_data(as_text=True)
    assert "SAMLResponse" not in body
    assert "Unknown user or wrong password." in body
    # The re-rendered form still carries the pending request.
    assert kit.page(final).forms[0].fields["pending"]

    portal = kit.client.post("/portal", data={"username": "mallory@demo.example", "password": "demo", "tenant": "demo"})
    assert portal.status_code == 401
    assert "SAMLResponse" not in portal.get_data(as_text=True)


@pytest.mark.parametrize(
    ("issuer", "acs_url"),
    [
        ("https://evil.example/saml/demo/metadata", ""),
        ("http://127.0.0.1:5000/saml/demo/other", ""),
        ("http://127.0.0.1:5000/saml/a/b/metadata", ""),
        ("http://127.0.0.1:5000/saml/demo/metadata", "https://evil.example/saml/demo/acs"),
        ("http://127.0.0.1:5000/saml/demo/metadata", "http://127.0.0.1:5000/saml/acme/acs"),
    ],
)
def test_foreign_issuer_or_acs_is_refused(kit: SamlKit, issuer: str, acs_url: str) -> None:
    xml = kit.authn_request(issuer=issuer, acs_url=acs_url)
    response = kit.client.get("/sso", query_string={"SAMLRequest": kit.deflate(xml)})
    assert response.status_code == 400
    assert "SAMLResponse" not in response.get_data(as_text=True)


def test_doctype_is_refused(kit: SamlKit) -> None:
    prolog = '<!DOCTYPE samlp:AuthnRequest [<!ENTITY who "http://127.0.0.1:5000/saml/demo/metadata">]>'
    xml = kit.authn_request(issuer="&who;", prolog=prolog)
    response = kit.client.get("/sso", query_string={"SAMLRequest": kit.deflate(xml)})
    assert response.status_code == 400
    assert "DOCTYPE" in response.get_data(as_text=True)


def test_deflate_bomb_is_refused(kit: SamlKit) -> None:
    compressor = zlib.compressobj(level=9, wbits=-15)
    bomb = compressor.compress(kit.authn_request()[:-1] + b" " * (64 * 1024 * 1024)) + compressor.flush()
    response = kit.client.get("/sso", query_string={"SAMLRequest": base64.b64encode(bomb).decode()})
    assert response.status_code == 400
    assert "too large" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [{}, {"SAMLRequest": "not base64!"}, {"SAMLRequest": base64.b64encode(b"\x00garbage").decode()}],
)
def test_malformed_requests_are_refused(kit: SamlKit, query: dict[str, str]) -> None:
    assert kit.client.get("/sso", query_string=query).status_code == 400


def test_tampered_pending_request_is_refused(kit: SamlKit) -> None:
    login_page = kit.client.get("/sso", query_string={"SAMLRequest": kit.deflate(kit.authn_request())})
    (form,) = kit.page(login_page).forms
    tampered = {**form.fields, "pending": form.fields["pending"][:-2] + "xx"}
    tampered.update(username="alice@demo.example", password="demo")
    assert kit.client.post(form.action, data=tampered).status_code == 400


def test_passive_request_gets_no_passive_status(kit: SamlKit) -> None:
    xml = kit.authn_request(request_id="_passive-1", extra_attributes=' IsPassive="true"')
    page = kit.client.get("/sso", query_string={"SAMLRequest": kit.deflate(xml)})
    saml_response = kit.saml_response(page)
    response = OneLogin_Saml2_Response(kit.sp_settings(), saml_response)
    assert not response.is_valid(kit.request_data("/saml/demo/acs"), request_id="_passive-1")
    assert "NoPassive" in (response.get_error() or "")


def test_portal_refuses_unknown_tenant(kit: SamlKit) -> None:
    data = {"username": "alice@demo.example", "password": "demo", "tenant": "other"}
    response = kit.client.post("/portal", data=data)
    assert response.status_code == 400


def test_static_autosubmit_script(kit: SamlKit) -> None:
    script = kit.client.get("/static/autosubmit.js")
    assert script.status_code == 200
    assert "submit()" in script.get_data(as_text=True)
    script.close()
