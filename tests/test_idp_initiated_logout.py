"""IdP-initiated single logout: the tenant's IdP ends sessions here with a signed LogoutRequest, and gets a signed answer."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from pathlib import Path

import pytest
import xmlsec
from lxml import etree
from sqlalchemy.exc import OperationalError

from sp.extensions import db
from sp.models import AuditEvent, LoginTrace, ReplayEntry, User, UserSession
from support.journeys import SP_BASE, add_tenant, post_acs, rows
from support.logout_builder import LogoutBuilder, read_redirect
from support.pysaml2_idp import Pysaml2IdP, requires_xmlsec1
from support.saml_builder import SLO_URLS, ResponseBuilder

SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ENTITY = f"{SP_BASE}/saml/acme/metadata"


@pytest.fixture
def logouts(app, builder) -> LogoutBuilder:
    """Tenant acme, whose IdP lists a SingleLogoutService (HTTP-Redirect); its logout messages."""
    add_tenant(app, "acme", builder.metadata(slo=("redirect",)), domains=["acme.example"])
    return LogoutBuilder(builder)


@pytest.fixture
def sp_cert(settings_dir) -> bytes:
    return (Path(settings_dir) / "sp.crt").read_bytes()


def sign_in(app, builder, name_id="alice@acme.example", session_index="_s1", slug="acme"):
    """A new browser, signed in to slug by an IdP-initiated login carrying session_index."""
    browser = app.test_client()
    landed = post_acs(
        browser, slug, builder.b64(name_id=name_id, session_index=session_index, attributes={"email": [name_id]})
    )
    assert landed.status_code == 303, landed.data
    return browser


def signed_in(browser) -> bool:
    return browser.get("/me").status_code == 200


def live_sessions(app) -> list[tuple[str, str | None]]:
    """(NameID, SessionIndex) of every session not revoked."""
    with app.app_context():
        found = db.session.execute(
            db.select(User.name_id, UserSession.session_index)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.revoked_at.is_(None))
        )
        return sorted(tuple(row) for row in found)


def logout_traces(app) -> list[LoginTrace]:
    return [t for t in rows(app, LoginTrace) if t.kind == "logout"]


# --- The journey ---------------------------------------------------------------------------------


def test_the_idp_signs_a_user_out_of_every_session_and_gets_a_signed_success(app, builder, logouts, sp_cert):
    laptop, phone = sign_in(app, builder, session_index="_laptop"), sign_in(app, builder, session_index="_phone")
    bob = sign_in(app, builder, name_id="bob@acme.example", session_index="_bob")

    request = logouts.xml(message_id="_logout-1")
    answer = logouts.get(laptop, logouts.query(request, relay_state="idp-state-42"))

    assert answer.status_code == 302 and answer.headers["Cache-Control"] == "no-store"
    url, response, params = read_redirect(answer.headers["Location"], sp_cert)
    assert url == SLO_URLS["redirect"]
    assert params["RelayState"] == "idp-state-42"
    assert params["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    assert response.tag == SAMLP + "LogoutResponse"
    assert (response.get("InResponseTo"), response.get("Destination")) == ("_logout-1", SLO_URLS["redirect"])
    assert response.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") == ENTITY
    assert response.find(f"{SAMLP}Status/{SAMLP}StatusCode").get("Value") == SUCCESS

    assert not signed_in(laptop) and not signed_in(phone)
    assert signed_in(bob)
    assert live_sessions(app) == [("bob@acme.example", "_bob")]
    [event] = [e for e in rows(app, AuditEvent) if e.action == "user.logout"]
    assert (event.actor, event.target) == ("idp", "alice@acme.example")
    assert event.details == {"flow": "idp", "sessions": 2, "session_indexes": []}
    [trace] = logout_traces(app)
    assert (trace.flow, trace.result, trace.code, trace.name_id) == ("idp", "success", "ok", "alice@acme.example")
    assert trace.reason == "the IdP signed alice@acme.example out: 2 session(s) ended"
    assert trace.verifying_certificate is not None and trace.idp_entity_id == builder.entity_id


def test_with_session_indexes_only_those_sessions_end(app, builder, logouts):
    laptop, phone, tablet = (sign_in(app, builder, session_index=index) for index in ("_laptop", "_phone", "_tablet"))
    answer = logouts.get(phone, logouts.query(logouts.xml(session_indexes=["_laptop", "_tablet"])))
    assert answer.status_code == 302
    assert (signed_in(laptop), signed_in(phone), signed_in(tablet)) == (False, True, False)
    assert live_sessions(app) == [("alice@acme.example", "_phone")]


def test_a_session_whose_assertion_carried_no_session_index_ends_with_any_session_index(app, builder, logouts):
    # We cannot tell which IdP session it belongs to; keeping it would keep the user signed in.
    unknown, other = sign_in(app, builder, session_index=None), sign_in(app, builder, session_index="_other")
    logouts.get(unknown, logouts.query(logouts.xml(session_indexes=["_gone"])))
    assert (signed_in(unknown), signed_in(other)) == (False, True)


def test_other_users_and_the_same_name_id_in_another_tenant_are_untouched(app, builder, logouts):
    add_tenant(app, "beta", builder.metadata(slo=("redirect",)))  # the very same IdP
    beta_builder = ResponseBuilder(builder.key_pem, builder.cert_pem, builder.entity_id, builder.sp_base, "beta")
    in_beta = sign_in(app, beta_builder, slug="beta")
    carol = sign_in(app, builder, name_id="carol@acme.example")
    in_acme = sign_in(app, builder)

    assert logouts.get(in_acme, logouts.query(logouts.xml())).status_code == 302
    assert (signed_in(in_acme), signed_in(in_beta), signed_in(carol)) == (False, True, True)


def test_a_name_id_with_no_session_here_is_a_success_that_ends_nothing(app, builder, logouts):
    bob = sign_in(app, builder, name_id="bob@acme.example")
    answer = logouts.get(app.test_client(), logouts.query(logouts.xml(name_id="nobody@acme.example")))
    _, response, _ = read_redirect(answer.headers["Location"])
    assert response.find(f"{SAMLP}Status/{SAMLP}StatusCode").get("Value") == SUCCESS
    assert signed_in(bob)
    assert not [e for e in rows(app, AuditEvent) if e.action == "user.logout"]


def test_an_idp_that_writes_lowercase_percent_escapes_verifies(app, builder, logouts):
    # AD FS signs its own encoding (%2f, not %2F): the signature is checked over the query as sent.
    alice = sign_in(app, builder)
    query = logouts.query(logouts.xml(), relay_state="/a b/c", lowercase=True)
    assert "%2f" in query
    assert logouts.get(alice, query).status_code == 302
    assert not signed_in(alice)


def test_a_sha512_query_signature_verifies(app, builder, logouts):
    alice = sign_in(app, builder)
    assert logouts.get(alice, logouts.query(logouts.xml(), sig_alg="rsa-sha512")).status_code == 302
    assert not signed_in(alice)


def test_a_request_within_the_clock_skew_is_accepted(app, builder, logouts):
    alice = sign_in(app, builder)
    # The IdP's clock is 100 s ahead: IssueInstant is in our future, within the tenant's 120 s.
    assert logouts.get(alice, logouts.query(logouts.xml(clock_offset=timedelta(seconds=100)))).status_code == 302
    assert not signed_in(alice)


# --- When we cannot answer, or cannot do it ----------------------------------------------------------


def test_an_idp_without_a_single_logout_service_still_signs_the_user_out_and_lands_them_on_the_login_page(app, builder):
    add_tenant(app, "acme", builder.metadata())
    logouts = LogoutBuilder(builder)
    alice = sign_in(app, builder)
    landed = logouts.get(alice, logouts.query(logouts.xml()))
    assert landed.status_code == 303 and landed.headers["Location"] == "/login"
    assert b"You are signed out." in alice.get("/login").data
    assert not signed_in(alice)
    [trace] = logout_traces(app)
    assert trace.reason.endswith("no answer sent: the IdP's metadata lists no SingleLogoutService")


def test_when_the_sessions_cannot_be_ended_the_idp_is_told_so_and_nothing_is_written(
    app, builder, logouts, monkeypatch
):
    from sp.tenancy import sessions

    alice = sign_in(app, builder)

    def database_down(*args, **kwargs):
        raise OperationalError("UPDATE user_session", {}, Exception("the database went away"))

    monkeypatch.setattr(sessions, "revoke_for_logout", database_down)
    replay_before = rows(app, ReplayEntry)
    answer = logouts.get(alice, logouts.query(logouts.xml()))
    assert answer.status_code == 302
    _, response, _ = read_redirect(answer.headers["Location"])
    assert (
        response.find(f"{SAMLP}Status/{SAMLP}StatusCode").get("Value") == "urn:oasis:names:tc:SAML:2.0:status:Responder"
    )
    assert signed_in(alice)
    assert [e.key for e in rows(app, ReplayEntry)] == [e.key for e in replay_before]  # the IdP may try again
    [trace] = logout_traces(app)
    assert (trace.result, trace.code) == ("error", "internal")


# --- HTTP-POST, for an IdP whose metadata lists SingleLogoutService only for HTTP-POST -------------


@pytest.fixture
def post_only(app, builder) -> LogoutBuilder:
    add_tenant(app, "acme", builder.metadata(slo=("post",)))
    return LogoutBuilder(builder)


def test_an_idp_that_speaks_only_http_post_posts_a_signed_request_and_gets_a_signed_form_back(
    app, builder, post_only, sp_cert
):
    alice = sign_in(app, builder)
    page = post_only.post(alice, post_only.signed_tree(message_id="_post-1"), relay_state="rs")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].count("form-action 'self' https://idp.example.test;") == 1
    html = page.data.decode()
    assert f'action="{SLO_URLS["post"]}"' in html
    encoded = re.search(r'name="SAMLResponse" value="([^"]+)"', html).group(1)
    assert re.search(r'name="RelayState" value="rs"', html)
    response = etree.fromstring(base64.b64decode(encoded))
    assert response.get("InResponseTo") == "_post-1" and response.get("Destination") == SLO_URLS["post"]
    # Signed with our key, enveloped, as the HTTP-POST binding wants.
    signature = response.find("{http://www.w3.org/2000/09/xmldsig#}Signature")
    xmlsec.tree.add_ids(response, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(sp_cert, xmlsec.constants.KeyDataFormatCertPem)
    context.verify(signature)
    assert not signed_in(alice)


def test_an_unsigned_posted_request_is_refused(app, builder, post_only):
    alice = sign_in(app, builder)
    refused = post_only.post(alice, post_only.xml())
    assert refused.status_code == 400 and b"saml.signature_missing" in refused.data
    assert signed_in(alice)


def test_a_posted_request_whose_xml_was_changed_after_signing_is_refused(app, builder, post_only):
    alice = sign_in(app, builder)
    tampered = post_only.signed_tree(name_id="bob@acme.example")
    tampered.find("{urn:oasis:names:tc:SAML:2.0:assertion}NameID").text = "alice@acme.example"
    refused = post_only.post(alice, tampered)
    assert refused.status_code == 400 and b"saml.signature_invalid" in refused.data
    assert signed_in(alice)


def test_a_posted_request_is_refused_when_the_idp_uses_http_redirect(app, builder, logouts):
    alice = sign_in(app, builder)
    refused = logouts.post(alice, logouts.signed_tree())
    assert refused.status_code == 400 and b"saml.binding_unsupported" in refused.data
    assert signed_in(alice)
    [trace] = logout_traces(app)
    assert (trace.result, trace.code) == ("refused", "saml.binding_unsupported")


# --- An independent implementation --------------------------------------------------------------------


@requires_xmlsec1
def test_a_logout_request_from_pysaml2_signs_the_user_out(app, tmp_path, idp_keys):
    idp = Pysaml2IdP("https://idp.globex.example/idp", *idp_keys, tmp_path / "pysaml2")
    metadata = idp.metadata_xml(sso_url="https://idp.globex.example/sso", slo_url="https://idp.globex.example/slo")
    add_tenant(app, "globex", metadata.encode())
    entity, acs = f"{SP_BASE}/saml/globex/metadata", f"{SP_BASE}/saml/globex/acs"
    browser, other = app.test_client(), app.test_client()
    for client, index in ((browser, "_pysaml2-1"), (other, "_pysaml2-2")):
        xml = idp.response(sp_entity_id=entity, acs_url=acs, name_id="wile@globex.example", session_index=index)
        assert post_acs(client, "globex", base64.b64encode(xml.encode()).decode()).status_code == 303

    url = idp.logout_request_url(
        sp_entity_id=entity,
        acs_url=acs,
        sls_url=f"{SP_BASE}/saml/globex/sls",
        name_id="wile@globex.example",
        session_indexes=["_pysaml2-1"],
        relay_state="rs",
    )
    answer = browser.get(url.removeprefix(SP_BASE))
    assert answer.status_code == 302, answer.data
    target, response, params = read_redirect(answer.headers["Location"])
    assert target == "https://idp.globex.example/slo" and params["RelayState"] == "rs"
    assert response.find(f"{SAMLP}Status/{SAMLP}StatusCode").get("Value") == SUCCESS
    assert (signed_in(browser), signed_in(other)) == (False, True)


def test_the_admin_console_shows_a_logout_trace_as_a_sign_out(app, builder, logouts):
    from support.consoles import sign_in_admin

    laptop = sign_in(app, builder, session_index="_laptop")
    logouts.get(laptop, logouts.query(logouts.xml(message_id="_logout-console")))
    [trace] = logout_traces(app)
    admin = app.test_client()
    sign_in_admin(app, admin, builder, "root@acme.example")
    listing = admin.get("/admin/traces")
    assert b"Sign-out, IdP-initiated" in listing.data
    page = admin.get(f"/admin/traces/{trace.ref}")
    assert b"Single logout, IdP-initiated (a LogoutRequest from the IdP)" in page.data
