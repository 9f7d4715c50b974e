"""Single logout as a person does it in Chromium: Sign out here, on through the dev IdP, and back."""

from __future__ import annotations

from playwright.sync_api import expect

from sp.extensions import db
from sp.models import LoginTrace
from sp.records import traces

from .conftest import PASSWORD


def test_sign_out_goes_through_the_dev_idp_and_lands_signed_out_everywhere(new_page, stack, screenshot):
    page = new_page()
    page.goto(stack.url("/login"))
    page.get_by_label("Work email").fill("carol@demo.example")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Username (email)").fill("carol@demo.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Carol Contractor")

    visited = []
    page.on("request", lambda request: visited.append(request.url) if request.is_navigation_request() else None)
    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(stack.url("/login"))
    expect(page.get_by_role("status")).to_have_text("You are signed out (also at your organisation's sign-in).")
    screenshot(page, "signed-out-everywhere")
    # Through the IdP's single logout endpoint and our SLS, not a local shortcut.
    assert any(url.startswith(stack.idp_base + "/slo?SAMLRequest=") for url in visited), visited
    assert any(url.startswith(stack.url("/saml/demo/sls?SAMLResponse=")) for url in visited), visited
    response = page.request.get(stack.url("/me"))
    assert response.status == 401
    with stack.sp.app_context():
        latest = db.session.scalars(db.select(LoginTrace).order_by(LoginTrace.id.desc())).first()
        assert (latest.kind, latest.flow, latest.result) == ("logout", "sp", "success"), traces.as_json(latest)
        db.session.remove()
