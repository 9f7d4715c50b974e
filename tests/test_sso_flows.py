"""Both login flows end to end, with responses from pysaml2 (an IdP implementation we did not write)."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from lxml import etree

from sp.models import ReplayEntry, SamlRequest, User, UserSession
from support.journeys import SP_BASE, add_tenant, post_acs, rows, start_login
from support.pysaml2_idp import Pysaml2IdP, requires_xmlsec1

pytestmark = requires_xmlsec1

ACS = f"{SP_BASE}/saml/globex/acs"
ENTITY = f"{SP_BASE}/saml/globex/metadata"


@pytest.fixture(scope="module")
def pysaml2_idp(tmp_path_factory, idp_keys_module):
    return Pysaml2IdP("https://idp.globex.example/idp", *idp_keys_module, tmp_path_factory.mktemp("pysaml2"))


@pytest.fixture(scope="module")
def idp_keys_module():
    from support.keys import make_key_pair

    return make_key_pair("Globex pysaml2 IdP")


@pytest.fixture
def globex(app, pysaml2_idp):
    metadata = pysaml2_idp.metadata_xml(sso_url="https://idp.globex.example/sso").encode()
    add_tenant(app, "globex", metadata, domains=["globex.example"])
    return "globex"


def b64(xml: str) -> str:
    return base64.b64encode(xml.encode()).decode()


def test_sp_initiated_login_from_the_login_screen_creates_the_user_in_the_default_group(
    client, app, globex, pysaml2_idp
):
    # The employee types their work email on our login screen...
    token = client.csrf_token("/login?next=/reports/q3")
    found = client.post("/login", data={"email": "wile@globex.example", "next": "/reports/q3", "csrf_token": token})
    assert found.status_code == 303
    assert found.headers["Location"].startswith("/saml/globex/login")

    # ...is sent to their IdP with a signed AuthnRequest (HTTP-Redirect)...
    to_idp = client.get(found.headers["Location"])
    assert to_idp.status_code == 302
    location = urlsplit(to_idp.headers["Location"])
    assert location.netloc == "idp.globex.example"
    query = parse_qs(location.query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"] and query["Signature"]
    request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
    assert request.get("AssertionConsumerServiceURL") == ACS
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") == ENTITY

    # ...and comes back with pysaml2's signed answer.
    xml = pysaml2_idp.response(
        sp_entity_id=ENTITY,
        acs_url=ACS,
        name_id="wile@globex.example",
        in_response_to=request.get("ID"),
        attributes={"email": ["wile@globex.example"], "displayName": ["Wile E. Coyote"]},
    )
    landed = post_acs(client, "globex", b64(xml), relay_state="/reports/q3")
    assert landed.status_code == 303, landed.data
    assert landed.headers["Location"] == "/reports/q3"

    me = client.get("/me").get_json()
    assert me == {
        "tenant": "globex",
        "name_id": "wile@globex.example",
        "email": "wile@globex.example",
        "display_name": "Wile E. Coyote",
        "group": "No access",
        "permissions": [],
    }
    [user] = rows(app, User)
    assert (user.source, user.group_source) == ("jit", "default")
    [request_row] = rows(app, SamlRequest)
    assert request_row.used_at is not None


def test_idp_initiated_login_from_the_portal_lands_signed_in(client, app, globex, pysaml2_idp):
    xml = pysaml2_idp.response(
        sp_entity_id=ENTITY,
        acs_url=ACS,
        name_id="roadrunner@globex.example",
        attributes={"email": ["roadrunner@globex.example"]},
    )
    landed = post_acs(client, "globex", b64(xml), relay_state="/welcome")
    assert landed.status_code == 303, landed.data
    assert landed.headers["Location"] == "/welcome"
    assert client.get("/me").get_json()["email"] == "roadrunner@globex.example"
    dashboard = client.get("/")
    assert b"have access to anything yet." in dashboard.data


def test_a_response_with_only_a_name_id_and_no_attributes_is_a_valid_login(client, globex, pysaml2_idp):
    xml = pysaml2_idp.response(sp_entity_id=ENTITY, acs_url=ACS, name_id="bare@globex.example")
    assert b"AttributeStatement" not in xml.encode()
    landed = post_acs(client, "globex", b64(xml))
    assert landed.status_code == 303, landed.data
    me = client.get("/me").get_json()
    assert me["name_id"] == "bare@globex.example"
    assert me["email"] == "bare@globex.example"  # an email-format NameID stands in for the missing attribute


@pytest.mark.parametrize("sign_response,sign_assertion", [(True, False), (False, True), (True, True)])
def test_a_signature_on_the_response_or_the_assertion_is_enough(
    client, globex, pysaml2_idp, sign_response, sign_assertion
):
    xml = pysaml2_idp.response(
        sp_entity_id=ENTITY,
        acs_url=ACS,
        name_id="sig@globex.example",
        sign_response=sign_response,
        sign_assertion=sign_assertion,
    )
    assert post_acs(client, "globex", b64(xml)).status_code == 303


def test_an_unsigned_pysaml2_response_is_refused(client, app, globex, pysaml2_idp):
    xml = pysaml2_idp.response(
        sp_entity_id=ENTITY, acs_url=ACS, name_id="x@globex.example", sign_response=False, sign_assertion=False
    )
    refused = post_acs(client, "globex", b64(xml))
    assert refused.status_code == 400
    assert b"saml.signature_missing" in refused.data
    assert rows(app, User) == [] and rows(app, ReplayEntry) == []


def test_a_sha1_signed_pysaml2_response_is_refused(client, app, globex, pysaml2_idp):
    xml = pysaml2_idp.response(
        sp_entity_id=ENTITY, acs_url=ACS, name_id="x@globex.example", sign_alg="rsa-sha1", digest_alg="sha1"
    )
    refused = post_acs(client, "globex", b64(xml))
    assert refused.status_code == 400
    assert b"saml.weak_algorithm" in refused.data
    assert rows(app, User) == [] and rows(app, UserSession) == []


def test_pysaml2_answer_to_a_request_of_another_tenant_is_refused(client, app, globex, pysaml2_idp, acme):
    acme_request = start_login(client, acme)
    xml = pysaml2_idp.response(
        sp_entity_id=ENTITY, acs_url=ACS, name_id="x@globex.example", in_response_to=acme_request
    )
    refused = post_acs(client, "globex", b64(xml))
    assert refused.status_code == 400
    assert b"saml.request_unknown" in refused.data
    assert rows(app, User) == []
