"""A tenant admin never sees or changes another tenant's anything, even with its ids in hand."""

from __future__ import annotations

import pytest

from sp.models import AuditEvent, LoginTrace, UserGroup
from sp.tenancy import tenants, users
from support.consoles import make_group, sign_in, sign_in_admin, user_id
from support.journeys import IDP_ENTITY_ID, SP_BASE, add_tenant, post_acs, rows
from support.saml_builder import ResponseBuilder


@pytest.fixture
def beta(app, idp_keys):
    """Tenant 'beta' with its own IdP, a user who signed in and a refused login; returns their ids."""
    beta_idp = ResponseBuilder(*idp_keys, entity_id=IDP_ENTITY_ID.replace("acme", "beta"), sp_base=SP_BASE, slug="beta")
    add_tenant(app, "beta", beta_idp.metadata(), domains=["beta.example"])
    sign_in(app.test_client(), beta_idp, "victor@beta.example")
    post_acs(app.test_client(), "beta", beta_idp.b64(audiences=None, name_id="victor@beta.example"))
    make_group(app, "beta", "Beta admins", ["admin"])
    group = next(g for g in rows(app, UserGroup) if g.name == "Beta admins")
    trace = next(t for t in rows(app, LoginTrace) if t.result == "refused")
    return {"user": user_id(app, "beta", "victor@beta.example"), "group": group.id, "ref": trace.ref, "idp": beta_idp}


@pytest.fixture
def acme_admin(app, client, acme, builder) -> int:
    return sign_in_admin(app, client, builder, "alice@acme.example")


def token(client) -> str:
    return client.csrf_token("/admin/users")


def test_another_tenants_user_is_not_found_on_any_page_or_form(client, app, beta, acme_admin):
    victor = beta["user"]
    assert client.get(f"/admin/users/{victor}").status_code == 404
    for action in ("deactivate", "reactivate"):
        assert client.post(f"/admin/users/{victor}/{action}", data={"csrf_token": token(client)}).status_code == 404
    moved = client.post(f"/admin/users/{victor}/group", data={"group_id": beta["group"], "csrf_token": token(client)})
    assert moved.status_code == 404
    with app.app_context():
        victor_now = users.by_name_id(tenants.find("beta").id, "victor@beta.example")
        assert victor_now.active and victor_now.group.name == "No access"


def test_another_tenants_group_cannot_be_edited_or_made_default(client, app, beta, acme_admin):
    group = beta["group"]
    assert (
        client.post(
            f"/admin/groups/{group}", data={"permissions": "everything", "csrf_token": token(client)}
        ).status_code
        == 404
    )
    assert (
        client.post("/admin/groups/default", data={"group_id": group, "csrf_token": token(client)}).status_code == 404
    )
    beta_group = next(g for g in rows(app, UserGroup) if g.id == group)
    assert beta_group.permissions == ["admin"]
    with app.app_context():
        assert tenants.find("acme").default_group.name == "No access"
        assert tenants.find("beta").default_group.name == "No access"


def test_another_tenants_user_cannot_be_put_in_our_group_nor_ours_in_theirs(
    client, app, acme, builder, beta, acme_admin
):
    sign_in(app.test_client(), builder, "bob@acme.example")
    bob = user_id(app, acme, "bob@acme.example")
    moved = client.post(f"/admin/users/{bob}/group", data={"group_id": beta["group"], "csrf_token": token(client)})
    assert moved.status_code == 404
    with app.app_context():
        assert users.by_name_id(tenants.find("acme").id, "bob@acme.example").group.name == "No access"


def test_another_tenants_users_traces_and_audit_events_never_show(client, app, beta, acme_admin):
    def shown(path: str) -> bytes:
        page = client.get(path).data
        return page.split(b"<main", 1)[1].split(b"</form>")[-1]  # below the filter form, which echoes the query

    listed = shown("/admin/users") + shown("/admin/users?q=victor")
    assert b"victor" not in listed
    assert client.get(f"/admin/traces/{beta['ref']}").status_code == 404
    assert client.get(f"/admin/traces?ref={beta['ref']}").status_code == 404
    traces_page = shown("/admin/traces") + shown("/admin/traces?q=victor")
    assert b"victor" not in traces_page and beta["ref"].encode() not in traces_page
    audit_page = shown("/admin/audit") + shown("/admin/audit?target=beta") + shown("/admin/audit?target=victor")
    assert b"victor" not in audit_page and b"beta" not in audit_page
    exported = client.get("/admin/audit/export.jsonl").data
    assert b"victor" not in exported and b"beta" not in exported
    assert any(e.action == "user.created" and e.target == "victor@beta.example" for e in rows(app, AuditEvent))


def test_overview_and_settings_are_about_the_admins_own_tenant(client, beta, acme_admin):
    pages = client.get("/admin/").data + client.get("/admin/settings").data + client.get("/admin/groups").data
    assert b"idp.acme.example" in pages
    assert b"beta" not in pages.lower()


def test_an_admin_of_the_other_tenant_sees_only_theirs_too(app, beta, acme_admin):
    from support.consoles import put_in_group

    put_in_group(app, "beta", "victor@beta.example", "Beta admins")
    victor = app.test_client()
    sign_in(victor, beta["idp"], "victor@beta.example")
    users_page = victor.get("/admin/users").data
    assert b"victor@beta.example" in users_page and b"acme" not in users_page
    assert victor.get(f"/admin/users/{acme_admin}").status_code == 404
