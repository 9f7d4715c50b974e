"""The login form's submission ends at the tenant's IdP, and browsers hold every redirect to form-action."""

from __future__ import annotations


def test_the_login_page_lets_its_form_end_at_an_https_idp_and_other_pages_stay_self_only(client, acme):
    login_csp = client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self' https:;" in login_csp and "http:" not in login_csp
    assert "script-src 'self';" in login_csp
    refused = client.post("/login", data={"email": "x@unknown.example", "csrf_token": client.csrf_token()})
    assert refused.status_code == 404 and "form-action 'self' https:;" in refused.headers["Content-Security-Policy"]
    assert "form-action 'self';" in client.get("/ops/sign-in").headers["Content-Security-Policy"]
