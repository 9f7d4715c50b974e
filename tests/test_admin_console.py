"""A tenant admin runs SSO for their organisation at /admin: users, groups, settings, traces, audit."""

from __future__ import annotations

import json

import pytest

from sp.models import AuditEvent, User, UserGroup, UserSession
from support.consoles import make_group, ref_on, sign_in, sign_in_admin, user_id
from support.journeys import post_acs, rows


@pytest.fixture
def admin(app, client, acme, builder) -> int:
    """alice@acme.example, signed in to `client` as an admin of acme."""
    make_group(app, acme, "Engineering", ["reports:read"])
    return sign_in_admin(app, client, builder, "alice@acme.example")


@pytest.fixture
def bob(app, acme, builder) -> int:
    """bob@acme.example, who signed in once (in another browser) and is in the default group."""
    other = app.test_client()
    sign_in(other, builder, "bob@acme.example")
    return user_id(app, acme, "bob@acme.example")


def post_form(client, path: str, data: dict, page: str | None = None):
    """Submit a form on page (default: path) with the page's CSRF token, as a browser would."""
    return client.post(path, data={**data, "csrf_token": client.csrf_token(page or path)})


def table(page: bytes) -> bytes:
    """The first table body of a page (the header names whoever is signed in)."""
    return page.split(b"<tbody>", 1)[1].split(b"</tbody>", 1)[0]


def tenant_facts(app, slug: str = "acme") -> dict:
    with app.app_context():
        from sp.tenancy import tenants

        tenant = tenants.find(slug)
        return {
            "idp_initiated": tenant.idp_initiated,
            "clock_skew": tenant.clock_skew_seconds,
            "email_attribute": tenant.email_attribute,
            "domains": [d.domain for d in tenant.domains],
            "default_group_id": tenant.default_group_id,
        }


def user_facts(app, user_id: int) -> dict:
    with app.app_context():
        from sp.extensions import db

        user = db.session.get(User, user_id)
        return {
            "active": user.active,
            "group": user.group.name,
            "group_source": user.group_source,
            "group_detail": user.group_detail,
        }


def audit_actions(app) -> list[str]:
    return [e.action for e in sorted(rows(app, AuditEvent), key=lambda e: e.id)]


# --- Who may come in --------------------------------------------------------------------


def test_signed_out_visitors_are_sent_to_sign_in(client, acme):
    response = client.get("/admin/users")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=/admin/users")


def test_a_user_without_the_admin_permission_is_refused(client, app, acme, builder):
    sign_in(client, builder, "bob@acme.example")
    assert client.get("/admin/").status_code == 403
    assert b"Administration" not in client.get("/").data


def test_an_admin_sees_the_console_link_and_the_overview(client, admin):
    assert b'href="/admin/"' in client.get("/").data
    overview = client.get("/admin/")
    assert overview.status_code == 200
    assert b"https://idp.acme.example/saml" in overview.data and b"days left" in overview.data


def test_forms_without_the_csrf_token_are_refused(client, app, admin, bob):
    refused = client.post(f"/admin/users/{bob}/deactivate")
    assert refused.status_code == 400 and b"request.csrf" in refused.data
    assert all(u.active for u in rows(app, User))


# --- Users ------------------------------------------------------------------------------


def test_users_are_found_by_email_group_and_status(client, admin, bob):
    everyone = client.get("/admin/users").data
    assert b"alice@acme.example" in everyone and b"bob@acme.example" in everyone
    found = table(client.get("/admin/users?q=BOB").data)
    assert b"bob@acme.example" in found and b"alice@acme.example" not in found
    admins_id = next(g.id for g in rows(client.application, UserGroup) if g.name == "Admins")
    in_admins = table(client.get(f"/admin/users?group={admins_id}").data)
    assert b"alice@acme.example" in in_admins and b"bob@acme.example" not in in_admins
    assert b"bob@acme.example" not in client.get("/admin/users?status=inactive").data


def test_the_user_page_says_how_the_group_was_assigned_and_where_the_user_came_from(client, admin, bob):
    page = client.get(f"/admin/users/{bob}").data.decode()
    assert "No access" in page and "the default group for new users" in page
    assert "just-in-time at first sign-in" in page and "signed in as bob@acme.example" in page


def test_an_admin_moves_a_user_to_another_group_and_the_audit_log_says_who(client, app, admin, bob):
    engineering = next(g for g in rows(app, UserGroup) if g.name == "Engineering")
    moved = post_form(client, f"/admin/users/{bob}/group", {"group_id": engineering.id}, f"/admin/users/{bob}")
    assert moved.status_code == 303
    assert b"bob@acme.example is now in Engineering." in client.get(moved.headers["Location"]).data

    assert user_facts(app, bob) == {
        "active": True,
        "group": "Engineering",
        "group_source": "admin",
        "group_detail": "admin:alice@acme.example",
    }
    event = [e for e in rows(app, AuditEvent) if e.action == "user.group_changed"][-1]
    assert (event.actor, event.target) == (f"user:{admin}", "bob@acme.example")
    assert event.details == {
        "from": "No access",
        "to": "Engineering",
        "from_source": "default",
        "source": "admin",
        "detail": "admin:alice@acme.example",
    }


def test_deactivation_ends_the_users_sessions_at_once_and_reactivation_lets_them_back(
    client, app, acme, builder, admin
):
    bobs_browser = app.test_client()
    sign_in(bobs_browser, builder, "bob@acme.example")
    assert bobs_browser.get("/me").status_code == 200
    bob = user_id(app, acme, "bob@acme.example")

    done = post_form(client, f"/admin/users/{bob}/deactivate", {}, f"/admin/users/{bob}")
    assert done.status_code == 303
    assert b"1 session(s) ended" in client.get(done.headers["Location"]).data
    assert bobs_browser.get("/me").status_code == 401
    assert all(s.revoked_at is not None for s in rows(app, UserSession) if s.user_id == bob)
    assert ref_on(post_acs(bobs_browser, acme, builder.b64(name_id="bob@acme.example")).data)

    post_form(client, f"/admin/users/{bob}/reactivate", {}, f"/admin/users/{bob}")
    sign_in(bobs_browser, builder, "bob@acme.example")
    assert bobs_browser.get("/me").status_code == 200
    actions = audit_actions(app)
    assert actions.index("user.deactivated") < actions.index("user.reactivated") < len(actions) - 1
    deactivated = next(e for e in rows(app, AuditEvent) if e.action == "user.deactivated")
    assert deactivated.details == {"sessions_ended": 1, "email": "bob@acme.example"}


def test_an_admin_cannot_deactivate_themselves_or_change_their_own_group(client, app, admin):
    engineering = next(g for g in rows(app, UserGroup) if g.name == "Engineering")
    refused = post_form(client, f"/admin/users/{admin}/deactivate", {}, f"/admin/users/{admin}")
    assert refused.status_code == 409 and b"cannot deactivate your own account" in refused.data
    refused = post_form(client, f"/admin/users/{admin}/group", {"group_id": engineering.id}, f"/admin/users/{admin}")
    assert refused.status_code == 409
    assert user_facts(app, admin)["active"] and user_facts(app, admin)["group"] == "Admins"


def test_unknown_users_and_groups_are_not_found(client, admin, bob):
    assert client.get("/admin/users/999999").status_code == 404
    assert (
        post_form(client, f"/admin/users/{bob}/group", {"group_id": "999999"}, f"/admin/users/{bob}").status_code == 404
    )
    assert post_form(client, f"/admin/users/{bob}/group", {"group_id": "x"}, f"/admin/users/{bob}").status_code == 404


# --- Groups -----------------------------------------------------------------------------


def test_an_admin_creates_a_group_edits_its_permissions_and_makes_it_the_default(client, app, admin):
    created = post_form(client, "/admin/groups", {"name": "Analysts", "permissions": "reports:read, reports:export"})
    assert created.status_code == 303
    analysts = next(g for g in rows(app, UserGroup) if g.name == "Analysts")
    assert analysts.permissions == ["reports:export", "reports:read"]

    post_form(client, f"/admin/groups/{analysts.id}", {"permissions": "reports:read"}, "/admin/groups")
    post_form(client, "/admin/groups/default", {"group_id": analysts.id}, "/admin/groups")
    analysts = next(g for g in rows(app, UserGroup) if g.name == "Analysts")
    assert analysts.permissions == ["reports:read"] and tenant_facts(app)["default_group_id"] == analysts.id
    assert audit_actions(app)[-3:] == ["group.created", "group.permissions_changed", "tenant.settings_changed"]


def test_bad_group_input_is_refused_and_changes_nothing(client, app, admin):
    before = {(g.name, tuple(g.permissions)) for g in rows(app, UserGroup)}
    assert post_form(client, "/admin/groups", {"name": "Admins", "permissions": ""}).status_code == 409
    assert post_form(client, "/admin/groups", {"name": "X", "permissions": "Not A Permission!"}).status_code == 400
    assert post_form(client, "/admin/groups", {"name": "", "permissions": ""}).status_code == 400
    own = next(g for g in rows(app, UserGroup) if g.name == "Admins")
    locked_out = post_form(client, f"/admin/groups/{own.id}", {"permissions": "reports:read"}, "/admin/groups")
    assert locked_out.status_code == 409 and b"lock you out" in locked_out.data
    assert {(g.name, tuple(g.permissions)) for g in rows(app, UserGroup)} == before


# --- SSO settings -----------------------------------------------------------------------


def test_the_settings_page_shows_the_idps_certificates_with_their_expiry(client, app, admin):
    page = client.get("/admin/settings").data.decode()
    from sp.models import IdentityProvider

    [idp] = rows(app, IdentityProvider)
    assert idp.certificates[0]["sha256"] in page and "days left" in page
    assert "https://sp.example.com/saml/acme/acs" in page and "/saml/acme/metadata?download=1" in page
    assert 'name="idp_initiated" type="checkbox" checked' in page


def test_an_admin_changes_the_sso_settings_and_the_change_is_audited(client, app, admin):
    saved = post_form(
        client,
        "/admin/settings",
        {
            "clock_skew": "60",
            "domains": "acme.example\nacme.co.uk",
            "email_attribute": "mail",
        },
    )
    assert saved.status_code == 303
    facts = tenant_facts(app)
    assert (facts["idp_initiated"], facts["clock_skew"], facts["email_attribute"]) == (False, 60, "mail")
    assert facts["domains"] == ["acme.co.uk", "acme.example"]
    event = [e for e in rows(app, AuditEvent) if e.action == "tenant.settings_changed"][-1]
    assert event.actor == f"user:{admin}"
    assert event.details["idp_initiated"] == {"from": True, "to": False}
    assert event.details["domains"] == {"from": ["acme.example"], "to": ["acme.co.uk", "acme.example"]}


@pytest.mark.parametrize(
    "form,words",
    [
        ({"clock_skew": "301", "domains": "acme.example"}, b"between 0 and 300"),
        ({"clock_skew": "-1", "domains": "acme.example"}, b"whole number"),
        ({"clock_skew": "ninety", "domains": "acme.example"}, b"whole number"),
        ({"clock_skew": "60", "domains": "not a domain"}, b"is not a domain name"),
    ],
)
def test_bad_settings_are_refused_and_nothing_is_saved(client, app, admin, form, words):
    refused = post_form(client, "/admin/settings", {"idp_initiated": "on", **form})
    assert refused.status_code == 400 and words in refused.data
    facts = tenant_facts(app)
    assert (facts["idp_initiated"], facts["clock_skew"], facts["domains"]) == (True, 120, ["acme.example"])


def test_a_domain_of_another_tenant_is_refused(client, app, admin, builder):
    from support.journeys import add_tenant

    add_tenant(app, "beta", None, domains=["beta.example"])
    refused = post_form(
        client, "/admin/settings", {"idp_initiated": "on", "clock_skew": "120", "domains": "beta.example"}
    )
    assert refused.status_code == 409
    assert tenant_facts(app)["domains"] == ["acme.example"]


# --- Traces and audit -------------------------------------------------------------------


def test_the_reference_from_a_users_error_page_finds_the_trace(client, app, acme, builder, admin):
    ref = ref_on(post_acs(app.test_client(), acme, builder.b64(audiences=None)).data)
    found = client.get(f"/admin/traces?ref={ref.upper()}")
    assert found.status_code == 303 and found.headers["Location"] == f"/admin/traces/{ref}"
    page = client.get(found.headers["Location"]).data.decode()
    assert "saml.audience_missing" in page and "the IdP must name https://sp.example.com/saml/acme/metadata" in page
    assert client.get("/admin/traces?ref=zzzzzzzzzz").status_code == 404


def test_traces_are_filtered_by_result_and_user(client, app, acme, builder, admin, bob):
    post_acs(app.test_client(), acme, builder.b64(audiences=None, name_id="carol@acme.example"))
    refused = table(client.get("/admin/traces?result=refused").data)
    assert b"saml.audience_missing" in refused and b"signed in as" not in refused
    bobs = table(client.get("/admin/traces?q=bob").data)
    assert b"bob@acme.example" in bobs and b"alice@acme.example" not in bobs


def test_the_audit_log_is_filtered_and_exported_as_json_lines(client, app, admin, bob):
    page = client.get("/admin/audit?action=user.created").data.decode()
    assert "bob@acme.example" in page and "tenant.created" not in page.split("<tbody>")[1]
    exported = client.get("/admin/audit/export.jsonl?action=user.")
    assert exported.status_code == 200 and exported.headers["Content-Disposition"].endswith('acme-audit.jsonl"')
    events = [json.loads(line) for line in exported.data.decode().splitlines()]
    assert events and all(e["action"].startswith("user.") and e["tenant"] == "acme" for e in events)
    assert {"time", "actor", "action", "target", "details"} <= set(events[0])
    assert events == sorted(events, key=lambda e: e["time"], reverse=True)


def test_a_malformed_date_filter_is_a_clear_400(client, admin):
    refused = client.get("/admin/audit?since=yesterday")
    assert refused.status_code == 400 and b"request.invalid" in refused.data


def test_an_admin_deletes_a_group_moving_its_members_to_the_default_group(client, app, admin, bob):
    from support.consoles import put_in_group

    put_in_group(app, "acme", "bob@acme.example", "Engineering")
    engineering = next(g for g in rows(app, UserGroup) if g.name == "Engineering")
    kept = post_form(client, "/admin/groups/delete", {"group_id": engineering.id}, page="/admin/groups")
    assert kept.status_code == 409 and b"1 user holds group" in kept.data
    assert "Engineering" in [g.name for g in rows(app, UserGroup)]

    gone = post_form(
        client, "/admin/groups/delete", {"group_id": engineering.id, "move_users": "on"}, page="/admin/groups"
    )
    assert gone.status_code == 303
    assert "Engineering" not in [g.name for g in rows(app, UserGroup)]
    with app.app_context():
        from sp.extensions import db

        moved = db.session.scalar(db.select(User).where(User.name_id == "bob@acme.example"))
        assert (moved.group.name, moved.group_source) == ("No access", "default")
        assert moved.group_detail == f"group 'Engineering' deleted by user:{admin}"
    assert [e.action for e in rows(app, AuditEvent) if e.action == "group.deleted"] == ["group.deleted"]


def test_an_admin_cannot_delete_their_own_group_the_default_group_or_another_tenants(client, app, admin, builder):
    from support.journeys import add_tenant

    groups = {g.name: g for g in rows(app, UserGroup)}
    own = post_form(
        client, "/admin/groups/delete", {"group_id": groups["Admins"].id, "move_users": "on"}, page="/admin/groups"
    )
    assert own.status_code == 409 and b"your own group" in own.data
    default = post_form(client, "/admin/groups/delete", {"group_id": groups["No access"].id}, page="/admin/groups")
    assert default.status_code == 409 and b"is the default group" in default.data
    add_tenant(app, "initech", None)
    theirs = next(g for g in rows(app, UserGroup) if g.tenant_id != groups["Admins"].tenant_id)
    other = post_form(client, "/admin/groups/delete", {"group_id": theirs.id, "move_users": "on"}, page="/admin/groups")
    assert other.status_code == 404
    assert len(rows(app, UserGroup)) == len(groups) + 1
