"""The login flows and the consoles, as a person does them in Chromium, against the real stack."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from sp import clock
from sp.extensions import db
from sp.idp import versions
from sp.operators import accounts
from sp.tenancy import group_policy, groups, tenants, users

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
        tenant = tenants.find("demo")
        user = users.by_name_id(tenant.id, email)
        users.change_group(user, groups.named_or_none(tenant, "Admins"), actor="cli", by="cli", now=clock.utcnow())
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
            tenants.update_settings(tenants.find("demo"), idp_initiated=True)
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


def ops_signed_in(new_page, stack: Stack, name: str) -> Page:
    with stack.sp.app_context():
        accounts.create(name, OPS_PASSWORD, with_totp=False, now=clock.utcnow())
        db.session.remove()
    page = new_page()
    page.goto(stack.url("/ops/sign-in"))
    page.get_by_label("Operator name").fill(name)
    page.get_by_label("Password").fill(OPS_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tenants")
    return page


def test_an_operator_uploads_metadata_reviews_the_diff_and_applies_it(new_page, stack, screenshot, tmp_path):
    from support import idp_samples as samples

    old, new = samples.cert("Initech Okta 2025"), samples.cert("Initech Okta 2026")
    with stack.sp.app_context():
        tenant = tenants.create_tenant("initech", "Initech", ["initech.example"])
        versions.import_metadata(tenant, samples.okta(certs=(old,)), origin="cli", actor="cli", now=clock.utcnow())
        db.session.remove()
    upload = tmp_path / "initech-okta.xml"
    upload.write_bytes(samples.okta(certs=(old, new)))

    page = ops_signed_in(new_page, stack, "oscar")
    page.get_by_role("link", name="Initech").click()
    expect(page.get_by_role("heading", level=2, name="Replace the IdP metadata")).to_be_visible()
    page.get_by_label("Metadata file").set_input_files(str(upload))
    page.get_by_role("button", name="Review changes").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Review the IdP metadata for Initech")
    added = page.get_by_role("row", name=re.compile("Added .* CN=Initech Okta 2026"))
    expect(added).to_contain_text("days left")
    expect(page.get_by_role("row", name=re.compile("Kept .* CN=Initech Okta 2025"))).to_be_visible()
    screenshot(page, "ops-metadata-diff")
    page.get_by_role("button", name="Apply this metadata").click()

    expect(page.get_by_role("status")).to_contain_text("Applied: version 2 of the IdP metadata")
    certificates = page.get_by_role("table", name="The IdP's signing certificates")
    expect(certificates).to_contain_text("CN=Initech Okta 2026")
    expect(page.get_by_role("button", name="Roll back to version 1")).to_be_visible()
    screenshot(page, "ops-metadata-applied")


def test_an_admin_adds_a_mapping_rule_and_previews_attributes_and_a_recent_sign_in(new_page, stack, screenshot):
    page = signed_in_admin(new_page, stack, "alice@demo.example")  # the dev IdP sends her groups sp-admins, engineering
    page.goto(stack.url("/admin/"))
    page.get_by_role("navigation", name="Administration").get_by_role("link", name="Group mapping").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Group mapping")

    page.get_by_label("Attribute", exact=True).fill("groups")
    page.get_by_label("Value", exact=True).fill("engineering")
    page.get_by_label("Gives the group").select_option(label="Engineering")
    page.get_by_role("button", name="Add rule").click()
    try:
        expect(page.get_by_role("status")).to_contain_text("added: groups equals engineering → Engineering.")
        expect(page.get_by_role("row", name=re.compile("groups equals engineering Engineering"))).to_be_visible()

        page.get_by_label("Attributes", exact=True).fill("groups=contractors\ngroups=engineering")
        page.get_by_role("button", name="Preview").click()
        result = page.locator(".result")
        expect(result.get_by_role("definition").first).to_have_text("Engineering")
        expect(result).to_contain_text("groups equals engineering")
        expect(result).to_contain_text("groups='engineering'")

        page.get_by_label("or pick a recent sign-in").select_option(index=1)
        page.get_by_role("button", name="Preview").click()
        expect(result).to_contain_text("Attributes sent at the sign-in of alice@demo.example")
        expect(result.get_by_role("definition").first).to_have_text("Engineering")
        expect(page.get_by_label("Attributes", exact=True)).to_contain_text("groups=sp-admins")
        screenshot(page, "admin-mapping-preview")
    finally:
        with stack.sp.app_context():
            tenant = tenants.find("demo")
            for rule in group_policy.rules(tenant):
                group_policy.remove_rule(tenant, rule.id)
            db.session.remove()
