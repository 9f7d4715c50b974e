"""Self-test: pysaml2-made Responses pass (or fail) python3-saml 1.16.0 in strict mode."""

from __future__ import annotations

import base64
import pathlib
from typing import Any

import pytest
from lxml import etree
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from .keys import cert_body, make_key_pair
from .pysaml2_idp import Pysaml2IdP, requires_xmlsec1

pytestmark = requires_xmlsec1

IDP_ENTITY_ID = "https://idp.example/metadata"
SP = "https://sp.example.com/saml/acme/metadata"
ACS = "https://sp.example.com/saml/acme/acs"
REQUEST_DATA: dict[str, Any] = {
    "https": "on",
    "http_host": "sp.example.com",
    "script_name": "/saml/acme/acs",
    "get_data": {},
    "post_data": {},
}
MS_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
}


@pytest.fixture(scope="module")
def key_pair() -> tuple[bytes, bytes]:
    return make_key_pair("pysaml2 test idp")


@pytest.fixture(scope="module")
def idp(key_pair: tuple[bytes, bytes], tmp_path_factory: pytest.TempPathFactory) -> Pysaml2IdP:
    key_pem, cert_pem = key_pair
    return Pysaml2IdP(IDP_ENTITY_ID, key_pem, cert_pem, tmp_path_factory.mktemp("idp"))


def validate(
    xml: str, cert_pem: bytes, *, request_id: str | None = None, reject_deprecated: bool = True
) -> OneLogin_Saml2_Response:
    """Validate ``xml`` with python3-saml in strict mode; raise if it is refused."""
    settings = OneLogin_Saml2_Settings(
        {
            "strict": True,
            "sp": {
                "entityId": SP,
                "assertionConsumerService": {
                    "url": ACS,
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
                },
            },
            "idp": {
                "entityId": IDP_ENTITY_ID,
                "singleSignOnService": {
                    "url": "https://idp.example/sso",
                    "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
                },
                "x509cert": cert_body(cert_pem),
            },
            "security": {"wantAttributeStatement": False, "rejectDeprecatedAlgorithm": reject_deprecated},
        },
        sp_validation_only=True,
    )
    response = OneLogin_Saml2_Response(settings, base64.b64encode(xml.encode()).decode())
    assert response.is_valid(REQUEST_DATA, request_id=request_id, raise_exceptions=True)
    return response


def signed_elements(xml: str) -> set[str]:
    """Local names of the elements that carry an enveloped ds:Signature."""
    root = etree.fromstring(xml.encode())
    return {etree.QName(sig.getparent()).localname for sig in root.iter("{{{}}}Signature".format(NS["ds"]))}


@pytest.mark.parametrize(
    ("sign_response", "sign_assertion", "expected"),
    [
        (True, False, {"Response"}),
        (False, True, {"Assertion"}),
        (True, True, {"Response", "Assertion"}),
    ],
    ids=["response-only", "assertion-only", "both"],
)
def test_signing_modes_validate(
    idp: Pysaml2IdP, key_pair: tuple[bytes, bytes], sign_response: bool, sign_assertion: bool, expected: set[str]
) -> None:
    xml = idp.response(
        sp_entity_id=SP,
        acs_url=ACS,
        name_id="alice@example.com",
        attributes={"email": ["alice@example.com"]},
        in_response_to="ONELOGIN_req1",
        sign_response=sign_response,
        sign_assertion=sign_assertion,
    )
    assert signed_elements(xml) == expected
    response = validate(xml, key_pair[1], request_id="ONELOGIN_req1")
    assert response.get_nameid() == "alice@example.com"
    assert response.get_nameid_format() == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert response.get_attributes() == {"email": ["alice@example.com"]}


def test_required_elements(idp: Pysaml2IdP, key_pair: tuple[bytes, bytes]) -> None:
    xml = idp.response(
        sp_entity_id=SP, acs_url=ACS, name_id="alice@example.com", in_response_to="ONELOGIN_req2", session_index="s-42"
    )
    root = etree.fromstring(xml.encode())
    assert root.get("Destination") == ACS
    assert root.get("InResponseTo") == "ONELOGIN_req2"
    scd = root.find("saml:Assertion/saml:Subject/saml:SubjectConfirmation/saml:SubjectConfirmationData", NS)
    assert scd is not None
    assert scd.get("Recipient") == ACS
    assert scd.get("InResponseTo") == "ONELOGIN_req2"
    assert scd.get("NotOnOrAfter")
    conditions = root.find("saml:Assertion/saml:Conditions", NS)
    assert conditions is not None and conditions.get("NotOnOrAfter")
    assert conditions.findtext("saml:AudienceRestriction/saml:Audience", namespaces=NS) == SP
    response = validate(xml, key_pair[1], request_id="ONELOGIN_req2")
    assert response.get_session_index() == "s-42"
    with pytest.raises(OneLogin_Saml2_ValidationError, match="InResponseTo"):
        validate(xml, key_pair[1], request_id="ONELOGIN_other")


def test_no_attributes_means_no_attribute_statement(idp: Pysaml2IdP, key_pair: tuple[bytes, bytes]) -> None:
    for attributes in (None, {}):
        xml = idp.response(sp_entity_id=SP, acs_url=ACS, name_id="bob@example.com", attributes=attributes)
        assert etree.fromstring(xml.encode()).find(".//saml:AttributeStatement", NS) is None
        response = validate(xml, key_pair[1])
        assert response.get_nameid() == "bob@example.com"
        assert response.get_attributes() == {}
        assert response.get_session_index()


def test_multi_valued_and_uri_attributes(idp: Pysaml2IdP, key_pair: tuple[bytes, bytes]) -> None:
    attributes = {
        "email": ["carol@example.com"],
        "groups": ["admins", "staff", "ops"],
        MS_GROUPS: ["3f1c0d1e-aaaa-bbbb-cccc-000000000001", "3f1c0d1e-aaaa-bbbb-cccc-000000000002"],
    }
    xml = idp.response(
        sp_entity_id=SP, acs_url=ACS, name_id="carol@example.com", attributes=attributes, in_response_to="ONELOGIN_r3"
    )
    formats = {
        a.get("Name"): a.get("NameFormat") for a in etree.fromstring(xml.encode()).iterfind(".//saml:Attribute", NS)
    }
    assert formats == {
        "email": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        "groups": "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
        MS_GROUPS: "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
    }
    response = validate(xml, key_pair[1], request_id="ONELOGIN_r3")
    assert response.get_attributes() == attributes


def test_idp_initiated(idp: Pysaml2IdP, key_pair: tuple[bytes, bytes]) -> None:
    xml = idp.response(sp_entity_id=SP, acs_url=ACS, name_id="dave@example.com", attributes={"groups": ["x"]})
    assert "InResponseTo" not in xml
    response = validate(xml, key_pair[1])
    assert response.get_in_response_to() is None
    assert response.get_attributes() == {"groups": ["x"]}


def test_sha1_is_refused(idp: Pysaml2IdP, key_pair: tuple[bytes, bytes]) -> None:
    xml = idp.response(sp_entity_id=SP, acs_url=ACS, name_id="eve@example.com", sign_alg="rsa-sha1", digest_alg="sha1")
    root = etree.fromstring(xml.encode())
    assert {m.get("Algorithm") for m in root.iterfind(".//ds:SignatureMethod", NS)} == {
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
    }
    assert {m.get("Algorithm") for m in root.iterfind(".//ds:DigestMethod", NS)} == {
        "http://www.w3.org/2000/09/xmldsig#sha1"
    }
    with pytest.raises(OneLogin_Saml2_ValidationError, match="[Dd]eprecated"):
        validate(xml, key_pair[1])
    validate(xml, key_pair[1], reject_deprecated=False)  # the signature itself is sound


def test_other_key_is_refused(key_pair: tuple[bytes, bytes], tmp_path: pathlib.Path) -> None:
    other_key, other_cert = make_key_pair("impostor")
    impostor = Pysaml2IdP(IDP_ENTITY_ID, other_key, other_cert, tmp_path)
    xml = impostor.response(sp_entity_id=SP, acs_url=ACS, name_id="mallory@example.com")
    validate(xml, other_cert)
    with pytest.raises(OneLogin_Saml2_ValidationError, match="Signature validation failed"):
        validate(xml, key_pair[1])


def test_unknown_algorithm(idp: Pysaml2IdP) -> None:
    with pytest.raises(ValueError, match="rsa-md5"):
        idp.response(sp_entity_id=SP, acs_url=ACS, name_id="x@example.com", sign_alg="rsa-md5")


def test_metadata(idp: Pysaml2IdP, key_pair: tuple[bytes, bytes]) -> None:
    _, extra_cert = make_key_pair("next idp key")
    xml = idp.metadata_xml(sso_url="https://idp.example/sso/saml", extra_certs=[extra_cert])
    parsed = OneLogin_Saml2_IdPMetadataParser.parse(xml)["idp"]
    assert parsed["entityId"] == IDP_ENTITY_ID
    assert parsed["singleSignOnService"] == {
        "url": "https://idp.example/sso/saml",
        "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
    }
    assert parsed["x509certMulti"]["signing"] == [cert_body(key_pair[1]), cert_body(extra_cert)]
    post = OneLogin_Saml2_IdPMetadataParser.parse(
        xml, required_sso_binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
    )["idp"]
    assert post["singleSignOnService"]["url"] == "https://idp.example/sso/saml"

    only_post = OneLogin_Saml2_IdPMetadataParser.parse(idp.metadata_xml(bindings=("post",)))["idp"]
    assert "singleSignOnService" not in only_post
    assert only_post["x509cert"] == cert_body(key_pair[1])
