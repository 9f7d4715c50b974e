"""The login flows and the consoles, as a person does them in Chromium, against the real stack."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from sp import clock, tenancy, tenants, users
from sp.extensions import db
from sp.ops import accounts

from .conftest import PASSWORD, Stack

OPS_PASSWORD = "browser tests operator pass"


def portal_sign_in(page: Page, stack: Stack, email: str) -> None:
    """IdP-initiated: sign in at the dev IdP's portal and open the demo app."""
    page.goto(stack.idp_base + "/portal")
    page.get_by_label("Username (email)").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Open demo").click()


def make_admin(stack: Stack, email: str) -> None:
    """What `flask user set-group demo EMAIL Admins` does, for a user who signed in once."""
    with stack.sp.app_context():
        tenant = tenancy.find("demo")
        user = users.by_name_id(tenant.id, email)
        users.change_group(user, tenants.group_named(tenant, "Admins"), actor="cli", by="cli", now=clock.utcnow())
        db.session.remove()


def signed_in_admin(new_page, stack: Stack, email: str = "alice@demo.example") -> Page:
    page = new_page()
    portal_sign_in(page, stack, email)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome")
    make_admin(stack, email)
    return page


def test_sp_initiated_login_through_the_dev_idps_form(new_page, stack, screenshot):
    page = new_page()
    page.goto(stack.url("/login"))
    page.get_by_label("Work email").fill("bob@demo.example")
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Development IdP — sign in")
    expect(page.get_by_text("Signing in to tenant demo.")).to_be_visible()
    page.get_by_label("Username (email)").fill("bob@demo.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(stack.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Bob Builder")
    expect(page.get_by_text("You don't have access to anything yet.")).to_be_visible()
    screenshot(page, "sp-initiated-dashboard")


def test_idp_initiated_login_from_the_portal(new_page, stack, screenshot):
    page = new_page()
    page.goto(stack.idp_base + "/portal")
    screenshot(page, "idp-portal")
    portal_sign_in(page, stack, "carol@demo.example")
    expect(page).to_have_url(stack.url("/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Carol Contractor")


def test_an_admin_moves_a_user_to_another_group(new_page, stack, screenshot):
    portal_sign_in(new_page(), stack, "bob@demo.example")  # bob exists once he has signed in
    page = signed_in_admin(new_page, stack)
    page.goto(stack.url("/"))
    page.get_by_role("link", name="Administration").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Administration")
    screenshot(page, "admin-overview")

    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Users").click()
    page.get_by_label("Name, email or NameID").fill("bob")
    page.get_by_role("button", name="Search").click()
    screenshot(page, "admin-users")
    page.get_by_role("link", name="Bob Builder").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Bob Builder")

    page.get_by_label("Move to group").select_option(label="Engineering (reports:read)")
    page.get_by_role("button", name="Change group").click()
    expect(page.get_by_role("status")).to_have_text("bob@demo.example is now in Engineering.")
    expect(page.get_by_text("set by an administrator (admin:alice@demo.example)")).to_be_visible()
    screenshot(page, "admin-user-group-changed")

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("cell", name="user.group_changed").first).to_be_visible()


def test_a_failed_login_shows_a_reference_that_finds_its_trace(new_page, stack, screenshot):
    admin = signed_in_admin(new_page, stack, "alice@demo.example")
    admin.goto(stack.url("/admin/settings"))
    screenshot(admin, "admin-settings")
    admin.get_by_label("Allow IdP-initiated sign-in").uncheck()
    admin.get_by_role("button", name="Save settings").click()
    expect(admin.get_by_role("status")).to_have_text("SSO settings saved.")
    try:
        user = new_page()
        portal_sign_in(user, stack, "carol@demo.example")
        expect(user.get_by_role("heading", level=1)).to_have_text("We could not sign you in")
        screenshot(user, "login-refused-reference")
        ref = re.search(r"Reference: (\w+)", user.locator(".ref").inner_text()).group(1)

        admin.goto(stack.url("/admin/traces"))
        admin.get_by_label("Reference").fill(ref)
        admin.get_by_role("button", name="Search").click()
        expect(admin.get_by_role("heading", level=1)).to_have_text(f"Login trace {ref}")
        expect(admin.locator(".reason")).to_contain_text("IdP-initiated sign-in is turned off")
        expect(admin.get_by_text("IdP-initiated (unsolicited)")).to_be_visible()
        screenshot(admin, "admin-trace")
    finally:
        with stack.sp.app_context():
            tenants.update_settings(tenancy.find("demo"), idp_initiated=True)
            db.session.remove()


def test_an_operator_signs_in_and_creates_a_tenant(new_page, stack, screenshot):
    with stack.sp.app_context():
        accounts.create("olivia", OPS_PASSWORD, with_totp=False, now=clock.utcnow())
        db.session.remove()
    page = new_page()
    page.goto(stack.url("/ops/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Ops console")
    page.get_by_label("Operator name").fill("olivia")
    page.get_by_label("Password").fill(OPS_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Tenants")
    demo = page.get_by_role("row", name=re.compile("Demo Company"))
    expect(demo).to_contain_text("days left")
    screenshot(page, "ops-tenants")

    page.get_by_role("link", name="New tenant").click()
    page.get_by_label("Slug").fill("globex")
    page.get_by_label("Organisation name").fill("Globex Corporation")
    page.get_by_label("Email domains").fill("globex.example")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Globex Corporation")
    expect(page.get_by_role("link", name="Download SP metadata")).to_have_attribute(
        "href", "/saml/globex/metadata?download=1"
    )
    screenshot(page, "ops-tenant-created")
