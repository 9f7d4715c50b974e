"""Tenant isolation: nothing meant for, or signed by, tenant B's IdP may act on tenant A.

acme (A) and globex (B) each trust their own IdP; a third tenant, initech, trusts the very same
IdP as acme (two subsidiaries of one company), the hardest case: same issuer, same key.
"""

from __future__ import annotations

import pytest
import tamper
from sqlalchemy import select

from sp.extensions import db
from sp.models import User
from support.journeys import SP_BASE, add_tenant, start_login
from support.keys import make_key_pair
from support.saml_builder import ResponseBuilder

GLOBEX_IDP = "https://idp.globex.example/saml"


@pytest.fixture(scope="module")
def globex_keys():
    return make_key_pair("Globex IdP")


@pytest.fixture
def globex(app, globex_keys):
    """Tenant globex with its own IdP; returns that IdP (a builder addressing globex's ACS)."""
    idp = ResponseBuilder(*globex_keys, entity_id=GLOBEX_IDP, sp_base=SP_BASE, slug="globex")
    add_tenant(app, "globex", idp.metadata())
    return idp


@pytest.fixture
def initech(app, builder):
    """Tenant initech trusting acme's IdP; returns acme's IdP addressing initech's ACS."""
    add_tenant(app, "initech", builder.metadata())
    return ResponseBuilder(
        builder.key_pem, builder.cert_pem, entity_id=builder.entity_id, sp_base=SP_BASE, slug="initech"
    )


def _tree(idp, **changes):
    return tamper.clone(idp.build_tree(idp.spec(**changes)))


def test_a_response_from_globexs_idp_posted_to_acme_is_refused(siege, globex):
    genuine_for_globex = _tree(globex)
    siege.refused(genuine_for_globex, "saml.issuer_mismatch")
    siege.accepted(genuine_for_globex, slug="globex")  # it was a good response, for globex


def test_globexs_idp_signing_a_response_that_names_acmes_idp_and_acs_is_refused(siege, globex, builder):
    impostor = ResponseBuilder(
        globex.key_pem, globex.cert_pem, entity_id=builder.entity_id, sp_base=SP_BASE, slug="acme"
    )
    siege.refused(_tree(impostor), "saml.signature_invalid")


def test_globexs_response_readdressed_to_acme_after_signing_is_refused(siege, globex, builder):
    genuine = _tree(globex, sign_response=False)
    evil = tamper.clone(genuine)
    evil.set("Destination", f"{SP_BASE}/saml/acme/acs")
    evil.find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").text = builder.entity_id
    siege.refused(evil, "saml.issuer_mismatch")
    tamper.assertion(evil).find("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer").text = builder.entity_id
    siege.refused(evil, "saml.recipient_mismatch")


def test_a_response_for_initech_from_the_shared_idp_is_refused_at_acme(siege, initech):
    for_initech = _tree(initech)
    siege.refused(for_initech, "saml.destination_mismatch")
    readdressed = _tree(initech, sign_response=False)
    readdressed.set("Destination", f"{SP_BASE}/saml/acme/acs")
    siege.refused(readdressed, "saml.recipient_mismatch")
    siege.accepted(for_initech, slug="initech")


def test_the_shared_idp_cannot_send_initechs_audience_to_acme(siege, initech):
    siege.refused(
        _tree(initech, destination=f"{SP_BASE}/saml/acme/acs", recipient=f"{SP_BASE}/saml/acme/acs"),
        "saml.audience_mismatch",
    )


def test_an_answer_to_globexs_request_is_refused_at_acme(siege, signed, globex):
    globex_request = start_login(siege.client, "globex")
    siege.refused(signed(in_response_to=globex_request), "saml.request_unknown")
    siege.accepted(_tree(globex, in_response_to=globex_request), slug="globex")


def test_an_answer_to_acmes_request_is_refused_at_the_tenant_sharing_its_idp(siege, initech):
    acme_request = start_login(siege.client, "acme")
    siege.refused(_tree(initech, in_response_to=acme_request), "saml.request_unknown", slug="initech")


def test_a_replayed_acme_assertion_cannot_sign_in_at_the_tenant_sharing_its_idp(siege, signed, initech):
    genuine = signed()
    siege.accepted(genuine)
    siege.refused(genuine, "saml.destination_mismatch", slug="initech")


def test_the_same_name_id_in_two_tenants_is_two_users_and_one_login_leaves_the_other_alone(siege, signed, initech, app):
    siege.accepted(signed(attributes={"email": ["alice@acme.example"], "displayName": ["Alice at Acme"]}))
    other_browser = app.test_client()
    siege.accepted(
        _tree(initech, attributes={"email": ["alice@acme.example"], "displayName": ["Alice at Initech"]}),
        slug="initech",
        client=other_browser,
    )
    with app.app_context():
        users = {(u.tenant.slug, u.display_name) for u in db.session.scalars(select(User))}
    assert users == {("acme", "Alice at Acme"), ("initech", "Alice at Initech")}
    assert siege.client.get("/me").get_json()["tenant"] == "acme"
    assert other_browser.get("/me").get_json()["tenant"] == "initech"
