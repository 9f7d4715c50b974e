"""SP-initiated single logout: signing out here ends the session at once, then at the IdP, whose answer lands the user."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import xmlsec
from lxml import etree

import devidp
from sp.models import AuditEvent, LoginTrace, SamlRequest, UserSession
from support.journeys import SP_BASE, add_tenant, post_acs, rows
from support.logout_builder import LogoutBuilder, read_redirect
from support.saml_builder import SLO_URLS

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
DEV_IDP = "https://idp.dev.example"
EVERYWHERE = b"You are signed out (also at your organisation&#39;s sign-in)."


def sign_out(browser):
    return browser.post("/logout", data={"csrf_token": browser.csrf_token("/")})


def link_to_idp(page) -> str:
    """Where the sign-out page sends the browser on (the link, and the meta refresh, say the same)."""
    text = page.data.decode()
    link = html.unescape(re.search(r'<a href="([^"]+)" id="continue-sign-out"', text).group(1))
    refresh = html.unescape(re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', text).group(1))
    assert link == refresh
    return link


def logout_traces(app) -> list[LoginTrace]:
    return [t for t in rows(app, LoginTrace) if t.kind == "logout"]


# --- End to end with the bundled development IdP -----------------------------------------------------


@pytest.fixture
def dev_idp(tmp_path, monkeypatch):
    for name in ("BASE_URL", "SP_BASE_URL", "TENANTS", "KEY_DIR", "SECRET_KEY", "PORT"):
        monkeypatch.delenv(f"DEVIDP_{name}", raising=False)
    idp = devidp.create_app(
        {
            "BASE_URL": DEV_IDP,
            "SP_BASE_URL": SP_BASE,
            "KEY_DIR": tmp_path / "devidp",
            "TENANTS": ["acme"],
            "TESTING": True,
        }
    )
    return idp.test_client()


def sign_in_at_dev_idp(browser, idp, username="alice@demo.example"):
    to_idp = browser.get("/saml/acme/login?next=/")
    login_page = idp.get(to_idp.headers["Location"].removeprefix(DEV_IDP))
    pending = re.search(rb'name="pending" value="([^"]+)"', login_page.data).group(1).decode()
    answer = idp.post("/login", data={"pending": pending, "username": username, "password": "demo"})
    saml_response = re.search(rb'name="SAMLResponse" value="([^"]+)"', answer.data).group(1).decode()
    assert post_acs(browser, "acme", saml_response, relay_state="/").status_code == 303
    assert browser.get("/me").get_json()["name_id"] == username


def test_signing_out_ends_the_session_here_at_once_then_at_the_dev_idp_whose_answer_lands_the_user(
    app, client, dev_idp
):
    add_tenant(app, "acme", dev_idp.get("/metadata").data)
    sign_in_at_dev_idp(client, dev_idp)
    cookie = client.get_cookie("__Host-sp_session", domain="sp.example.com").value

    page = sign_out(client)
    # Signed out here before the browser even leaves: a copy of the old cookie is dead too.
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert client.get("/me").status_code == 401
    copy = app.test_client()
    copy.set_cookie("__Host-sp_session", cookie, domain="sp.example.com")
    assert copy.get("/me").status_code == 401
    assert "form-action 'self';" in page.headers["Content-Security-Policy"]

    to_idp = link_to_idp(page)
    assert to_idp.startswith(f"{DEV_IDP}/slo?")
    back = dev_idp.get(to_idp.removeprefix(DEV_IDP))
    assert back.status_code == 302 and back.headers["Location"].startswith(f"{SP_BASE}/saml/acme/sls?SAMLResponse=")
    landed = client.get(back.headers["Location"].removeprefix(SP_BASE))
    assert landed.status_code == 303 and landed.headers["Location"] == "/login"
    assert EVERYWHERE in client.get("/login").data

    [request] = rows(app, SamlRequest)[1:]  # after the AuthnRequest of the sign-in
    assert (request.kind, request.used_at is not None) == ("logout", True)
    [trace] = logout_traces(app)
    assert (trace.flow, trace.result, trace.code) == ("sp", "success", "ok")
    [event] = [e for e in rows(app, AuditEvent) if e.action == "user.logout"]
    assert event.actor.startswith("user:") and event.details == {"flow": "sp"}
    # The answer is consumed: the same LogoutResponse again is refused.
    again = client.get(back.headers["Location"].removeprefix(SP_BASE))
    assert again.status_code == 400 and b"saml.request_reused" in again.data


# --- What we send ----------------------------------------------------------------------------------


@pytest.fixture
def acme_slo(app, builder):
    add_tenant(app, "acme", builder.metadata(slo=("redirect",)), domains=["acme.example"])
    return LogoutBuilder(builder)


def test_the_logout_request_is_signed_and_names_the_user_and_the_session(app, client, builder, acme_slo, settings_dir):
    odd_index = 'a<b&c"d'  # markup python3-saml would paste unescaped
    assert post_acs(client, "acme", builder.b64(session_index=odd_index)).status_code == 303
    url, request, params = read_redirect(link_to_idp(sign_out(client)), (Path(settings_dir) / "sp.crt").read_bytes())
    assert url == SLO_URLS["redirect"]
    assert params["SigAlg"] == "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" and params["RelayState"] == "/login"
    assert request.tag == SAMLP + "LogoutRequest" and request.get("Destination") == SLO_URLS["redirect"]
    assert request.findtext(SAML + "Issuer") == f"{SP_BASE}/saml/acme/metadata"
    name_id = request.find(SAML + "NameID")
    assert (name_id.text, name_id.get("Format")) == (
        "alice@acme.example",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    )
    assert [e.text for e in request.findall(SAMLP + "SessionIndex")] == [odd_index]
    [stored] = [r for r in rows(app, SamlRequest) if r.kind == "logout"]
    assert stored.id == request.get("ID") and stored.used_at is None


def test_an_idp_slo_url_with_a_query_string_is_kept_as_it_is(app, client, builder):
    odd = "https://idp.example.test/slo?tenant=acme&amp;x=1"
    add_tenant(app, "acme", builder.metadata(slo=("redirect",)).replace(SLO_URLS["redirect"].encode(), odd.encode()))
    assert post_acs(client, "acme", builder.b64()).status_code == 303
    to_idp = link_to_idp(sign_out(client))
    assert to_idp.startswith("https://idp.example.test/slo?tenant=acme&x=1&SAMLRequest=")
    _, request, _ = read_redirect(to_idp)
    assert request.get("Destination") == "https://idp.example.test/slo?tenant=acme&x=1"


def test_an_idp_that_takes_logout_only_by_http_post_gets_a_signed_form(app, client, builder, settings_dir):
    add_tenant(app, "acme", builder.metadata(slo=("post",)))
    assert post_acs(client, "acme", builder.b64(session_index="_s9")).status_code == 303
    page = sign_out(client)
    assert page.status_code == 200
    assert "form-action 'self' https://idp.example.test;" in page.headers["Content-Security-Policy"]
    text = page.data.decode()
    assert f'action="{SLO_URLS["post"]}"' in text and "Continue signing out" in text
    request = etree.fromstring(base64.b64decode(re.search(r'name="SAMLRequest" value="([^"]+)"', text).group(1)))
    assert request.findtext(SAMLP + "SessionIndex") == "_s9"
    xmlsec.tree.add_ids(request, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = xmlsec.Key.from_memory(
        (Path(settings_dir) / "sp.crt").read_bytes(), xmlsec.constants.KeyDataFormatCertPem
    )
    context.verify(request.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    assert client.get("/me").status_code == 401


# --- Local only ----------------------------------------------------------------------------------------


def test_with_single_logout_turned_off_sign_out_stays_local(app, client, builder, acme_slo, runner):
    result = runner.invoke(args=["tenant", "set", "acme", "--single-logout", "off"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)
    assert (settings["single_logout"], settings["single_logout_active"]) == (False, False)
    assert post_acs(client, "acme", builder.b64()).status_code == 303
    signed_out = sign_out(client)
    assert signed_out.status_code == 303 and signed_out.headers["Location"] == "/login"
    assert b"You are signed out." in client.get("/login").data
    assert client.get("/me").status_code == 401
    assert [r.kind for r in rows(app, SamlRequest)] == []
    [changed] = [e for e in rows(app, AuditEvent) if e.action == "tenant.settings_changed"]
    assert changed.details == {"single_logout": {"from": True, "to": False}}


def test_an_idp_without_a_single_logout_service_means_a_local_sign_out(app, client, builder, acme):
    assert post_acs(client, "acme", builder.b64()).status_code == 303
    signed_out = sign_out(client)
    assert signed_out.status_code == 303 and client.get("/me").status_code == 401


def test_a_failure_to_reach_the_idp_never_keeps_anyone_signed_in(app, client, builder, acme_slo, monkeypatch):
    from sp.saml import messages

    assert post_acs(client, "acme", builder.b64()).status_code == 303

    def broken(*args, **kwargs):
        raise RuntimeError("the IdP's configuration cannot be used")

    monkeypatch.setattr(messages, "logout_request", broken)
    signed_out = sign_out(client)
    assert signed_out.status_code == 303 and signed_out.headers["Location"] == "/login"
    assert client.get("/me").status_code == 401
    assert all(s.revoked_at is not None for s in rows(app, UserSession))


def test_a_user_who_never_comes_back_from_the_idp_is_signed_out_anyway(app, client, builder, acme_slo):
    assert post_acs(client, "acme", builder.b64()).status_code == 303
    sign_out(client)  # ...and the IdP's SLO page hangs forever
    assert client.get("/me").status_code == 401
    assert all(s.revoked_at is not None for s in rows(app, UserSession))


# --- The IdP's answer -----------------------------------------------------------------------------------


def _signed_out_with_request(client, builder) -> str:
    assert post_acs(client, "acme", builder.b64()).status_code == 303
    return read_redirect(link_to_idp(sign_out(client)))[1].get("ID")


@pytest.mark.parametrize(
    "status,sub_status,result",
    [
        ("urn:oasis:names:tc:SAML:2.0:status:Responder", None, "refused"),
        ("urn:oasis:names:tc:SAML:2.0:status:Success", "urn:oasis:names:tc:SAML:2.0:status:PartialLogout", "success"),
    ],
)
def test_an_idp_that_could_not_sign_the_user_out_everywhere_says_so_and_the_user_is_told(
    app, client, builder, acme_slo, status, sub_status, result
):
    request_id = _signed_out_with_request(client, builder)
    answer = acme_slo.xml(in_response_to=request_id, status=status, sub_status=sub_status)
    landed = acme_slo.get(client, acme_slo.query(answer, kind="SAMLResponse", relay_state="/login"))
    assert landed.status_code == 303 and landed.headers["Location"] == "/login"
    page = client.get("/login").data
    assert b"You are signed out here, but your organisation" in page and EVERYWHERE not in page
    [trace] = logout_traces(app)
    assert trace.result == result
    if result == "refused":
        assert trace.code == "saml.status_not_success" and "Responder" in trace.reason


def test_the_relay_state_the_idp_returns_is_never_followed(app, client, builder, acme_slo):
    request_id = _signed_out_with_request(client, builder)
    answer = acme_slo.xml(in_response_to=request_id)
    landed = acme_slo.get(client, acme_slo.query(answer, kind="SAMLResponse", relay_state="https://evil.example/"))
    assert landed.headers["Location"] == "/login"
    assert urlsplit(landed.headers["Location"]).netloc == ""
