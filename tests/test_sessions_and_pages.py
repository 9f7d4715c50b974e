"""Sessions, landing, the login screen and the small pages around them."""

from __future__ import annotations

import pytest

from sp import clock
from sp.extensions import db
from sp.models import User, UserSession
from sp.signin.redirects import safe_next
from sp.tenancy import sessions
from support.journeys import SP_BASE, post_acs, rows, start_login


def session_cookie(client) -> str | None:
    cookie = client.get_cookie("__Host-sp_session", domain="sp.example.com")
    return cookie.value if cookie else None


def test_each_login_gets_a_new_session_token_and_old_cookies_die_with_logout(client, app, acme, builder):
    assert post_acs(client, acme, builder.b64()).status_code == 303
    first = session_cookie(client)
    assert post_acs(client, acme, builder.b64()).status_code == 303
    second = session_cookie(client)
    assert first and second and first != second
    assert len(rows(app, UserSession)) == 2

    stolen = app.test_client()
    stolen.set_cookie("__Host-sp_session", second, domain="sp.example.com")
    assert stolen.get("/me").status_code == 200

    token = client.csrf_token("/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/me").status_code == 401
    # The server-side row is revoked: replaying the old cookie does not bring the session back.
    assert stolen.get("/me").status_code == 401


def test_the_session_cookie_is_httponly_lax_and_secure_on_https(client, acme, builder):
    response = post_acs(client, acme, builder.b64())
    header = response.headers["Set-Cookie"]
    assert header.startswith("__Host-sp_session=")
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" in header


def test_a_session_fixed_before_login_does_not_survive_it(client, acme, builder):
    with client.session_transaction(base_url=SP_BASE) as planted:
        planted["_user_id"] = "attacker-chosen"
        planted["planted"] = "yes"
    post_acs(client, acme, builder.b64())
    with client.session_transaction(base_url=SP_BASE) as after:
        assert "planted" not in after
        assert after["_user_id"] != "attacker-chosen"


def test_deactivating_a_user_ends_their_sessions_at_once(client, app, acme, builder):
    post_acs(client, acme, builder.b64())
    assert client.get("/me").status_code == 200
    with app.app_context():
        user = db.session.scalars(db.select(User)).one()
        user.active = False
        sessions.revoke_all(user.id, clock.utcnow())
        db.session.commit()
    assert client.get("/me").status_code == 401


def test_me_is_401_json_when_signed_out(client):
    response = client.get("/me")
    assert response.status_code == 401
    assert response.get_json()["error"] == "auth.required"


def test_the_dashboard_sends_signed_out_users_to_the_login_screen(client):
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(
    "target,landing",
    [
        ("/reports?q=1", "/reports?q=1"),
        ("https://evil.example/", "/"),
        ("//evil.example/", "/"),
        ("/\\evil.example/", "/"),
        ("\\\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("http:/evil.example", "/"),
        (" /reports", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_relay_state_lands_only_on_local_paths(client, acme, builder, target, landing):
    response = post_acs(client, acme, builder.b64(), relay_state=target)
    assert response.status_code == 303
    assert response.headers["Location"] == landing
    assert safe_next(target) == landing


def test_sp_initiated_login_lands_on_the_stored_target_not_the_relay_state(client, acme, builder):
    request_id = start_login(client, acme, "/deep/link")
    response = post_acs(client, acme, builder.b64(in_response_to=request_id), relay_state="/elsewhere")
    assert response.headers["Location"] == "/deep/link"


def test_an_unsafe_next_on_the_login_url_is_not_even_stored(client, app, acme):
    start_login(client, acme, "https://evil.example")
    from sp.models import SamlRequest

    assert [r.next_path for r in rows(app, SamlRequest)] == ["/"]


def test_the_login_screen_finds_the_organisation_by_email_domain_or_name(client, acme):
    token = client.csrf_token()
    by_email = client.post("/login", data={"email": "Someone@ACME.example", "csrf_token": token})
    assert by_email.status_code == 303 and by_email.headers["Location"].startswith("/saml/acme/login")
    by_name = client.post("/login", data={"organisation": "acme", "csrf_token": token})
    assert by_name.headers["Location"].startswith("/saml/acme/login")
    unknown = client.post("/login", data={"email": "a@unknown.example", "csrf_token": token})
    assert unknown.status_code == 404 and b"could not find an organisation" in unknown.data


def test_the_login_form_needs_its_csrf_token(client, acme):
    response = client.post("/login", data={"email": "a@acme.example"})
    assert response.status_code == 400 and b"request.csrf" in response.data


def test_a_tenant_without_idp_says_so_plainly(client, app):
    from support.journeys import add_tenant

    add_tenant(app, "newco", None)
    response = client.get("/saml/newco/login")
    assert response.status_code == 409 and b"not set up" in response.data


def test_post_only_idps_get_an_auto_submitting_form_without_inline_script(client, app, builder):
    from support.journeys import add_tenant

    add_tenant(app, "acme", builder.metadata(post_only=True))
    page = client.get("/saml/acme/login?next=/x")
    assert page.status_code == 200
    assert b'action="https://idp.example.test/sso/post"' in page.data
    assert b'name="SAMLRequest"' in page.data and b'name="RelayState" value="/x"' in page.data
    assert b"<script>" not in page.data and b"autosubmit.js" in page.data
    assert "form-action 'self' https://idp.example.test" in page.headers["Content-Security-Policy"]
    import base64

    from lxml import etree

    value = page.data.split(b'name="SAMLRequest" value="')[1].split(b'"')[0]
    request = etree.fromstring(base64.b64decode(value))
    assert request.find("{http://www.w3.org/2000/09/xmldsig#}Signature") is not None
    assert request.get("Destination") == "https://idp.example.test/sso/post"


def test_entity_ids_come_from_the_configuration_not_the_host_header(client, acme):
    response = client.get("/saml/acme/metadata", headers={"Host": "evil.example"})
    assert response.status_code == 200
    assert b'entityID="https://sp.example.com/saml/acme/metadata"' in response.data
    assert b"evil.example" not in response.data
    assert b'Location="https://sp.example.com/saml/acme/acs"' in response.data


def test_healthz(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_security_headers_are_on_every_page(client):
    response = client.get("/login")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_authn_request_names_our_configured_acs_whatever_the_host_header(client, acme):
    import base64
    import zlib
    from urllib.parse import parse_qs, urlsplit

    from lxml import etree

    response = client.get("/saml/acme/login", headers={"Host": "evil.example"})
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
    assert request.get("AssertionConsumerServiceURL") == f"{SP_BASE}/saml/acme/acs"
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}Issuer") == f"{SP_BASE}/saml/acme/metadata"


def test_the_login_page_lets_its_form_redirect_to_the_idp(client, acme):
    # Browsers enforce form-action on the redirects after a submission: 'self' alone would stop
    # the journey at the IdP's door.
    for response in (
        client.get("/login"),
        client.post("/login", data={"organisation": "acme", "csrf_token": client.csrf_token()}),
    ):
        assert "form-action 'self' https:" in response.headers["Content-Security-Policy"]
    assert "form-action 'self';" in client.get("/healthz").headers["Content-Security-Policy"]


@pytest.mark.parametrize("post_only", [False, True])
def test_an_idp_endpoint_url_with_a_query_string_gives_a_well_formed_authn_request(client, app, builder, post_only):
    # python3-saml pastes the SSO URL into its XML unescaped: an '&' would break the AuthnRequest.
    import base64
    import zlib
    from urllib.parse import parse_qs, urlsplit

    from lxml import etree

    from support.journeys import add_tenant

    endpoint = "https://idp.example.test/sso/post" if post_only else "https://idp.example.test/sso/redirect"
    metadata = builder.metadata(post_only=post_only).replace(endpoint.encode(), f"{endpoint}?app=sp&amp;x=1".encode())
    add_tenant(app, "acme", metadata)
    response = client.get("/saml/acme/login")
    if post_only:
        assert f'action="{endpoint}?app=sp&amp;x=1"'.encode() in response.data
        value = response.data.split(b'name="SAMLRequest" value="')[1].split(b'"')[0]
        request = etree.fromstring(base64.b64decode(value))
    else:
        location = urlsplit(response.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == endpoint
        query = parse_qs(location.query)
        assert (query["app"], query["x"]) == (["sp"], ["1"])
        request = etree.fromstring(zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15))
    assert request.get("Destination") == f"{endpoint}?app=sp&x=1"
