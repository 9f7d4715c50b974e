"""A tenant admin writes the group mapping rules at /admin/mapping and tries them before they go live."""

from __future__ import annotations

import re

import pytest

from sp.models import AuditEvent, LoginTrace, MappingRule, User, UserGroup
from sp.tenancy import group_policy, tenants
from support.consoles import make_group, sign_in, sign_in_admin, user_id
from support.journeys import IDP_ENTITY_ID, SP_BASE, add_tenant, post_acs, rows
from support.saml_builder import ResponseBuilder

PAGE = "/admin/mapping"


@pytest.fixture
def admin(app, client, acme, builder) -> int:
    """alice@acme.example, signed in to `client` as an admin of acme, which has an Engineering group."""
    make_group(app, acme, "Engineering", ["reports:read"])
    return sign_in_admin(app, client, builder, "alice@acme.example")


def group_id(app, name: str, slug: str = "acme") -> int:
    return next(g.id for g in rows(app, UserGroup) if g.name == name and g.tenant_id == tenant_id(app, slug))


def tenant_id(app, slug: str) -> int:
    with app.app_context():
        return tenants.find(slug).id


def add_rule(app, attribute: str, value: str, group: str, slug: str = "acme", **knobs) -> int:
    """A rule added as `flask mapping add` would."""
    with app.app_context():
        return group_policy.add_rule(tenants.find(slug), attribute, value, group, **knobs).id


def sign_in_with(app, idp, email: str, groups: list[str]) -> None:
    """email signs in (in a browser of their own) with their directory groups."""
    response = idp.b64(name_id=email, attributes={"email": [email], "groups": groups})
    assert post_acs(app.test_client(), idp.slug, response).status_code == 303


def set_policy(app, slug: str = "acme", **settings) -> None:
    with app.app_context():
        tenants.update_settings(tenants.find(slug), **settings)


def post_form(client, path: str, data: dict):
    return client.post(path, data={**data, "csrf_token": client.csrf_token(PAGE)})


def rule_form(app, **changes) -> dict:
    return {
        "attribute": "@role",
        "match": "equals",
        "value": "eng",
        "group_id": group_id(app, "Engineering"),
        "priority": "",
        **changes,
    }


def stored_rules(app) -> list[tuple]:
    return sorted((r.priority, r.attribute, r.match, r.value) for r in rows(app, MappingRule))


def field_error(page: str, field: str) -> str:
    """The message shown under a field, and that the field points at it."""
    match = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert match, page
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-error', page), page
    return match.group(1)


# --- The rules --------------------------------------------------------------------------


def test_the_page_lists_the_rules_in_the_order_they_are_tried(client, app, admin):
    set_policy(app, role_attributes=["groups"], group_sync="first-login")
    add_rule(app, "@role", "eng-.*", "Engineering", match="regex", priority=50)
    add_rule(app, "department", "Platform", "Engineering", match="iequals", priority=10)
    page = client.get(PAGE).data.decode()
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert body.index("<code>department</code>") < body.index("<code>@role</code>")
    assert "<code>eng-.*</code>" in body and "regex" in body and "iequals" in body
    assert "At the first sign-in" in page and "<code>groups</code>" in page
    assert "the default group, No access" in page
    assert 'href="/admin/mapping"' in client.get("/admin/groups").data.decode()


def test_an_admin_adds_a_rule_and_the_audit_log_says_who(client, app, admin):
    added = post_form(client, "/admin/mapping/rules", rule_form(app, attribute="groups", value="sp-eng", priority="20"))
    assert added.status_code == 303 and added.headers["Location"] == PAGE
    assert stored_rules(app) == [(20, "groups", "equals", "sp-eng")]
    page = client.get(PAGE).data.decode()
    assert "added: groups equals sp-eng → Engineering." in page
    [event] = [e for e in rows(app, AuditEvent) if e.action == "mapping.rule_added"]
    assert event.actor == f"user:{admin}" and event.details["group"] == "Engineering"


def test_a_rule_without_a_priority_goes_after_the_last_one(client, app, admin):
    add_rule(app, "@role", "first", "Engineering", priority=40)
    assert post_form(client, "/admin/mapping/rules", rule_form(app, value="second")).status_code == 303
    assert stored_rules(app) == [(40, None, "equals", "first"), (50, None, "equals", "second")]


@pytest.mark.parametrize(
    "changes,field,words",
    [
        ({"match": "regex", "value": "eng-(.*"}, "value", "not a valid RE2 regular expression"),
        ({"match": "regex", "value": "(a)\\1"}, "value", "not a valid RE2 regular expression"),
        ({"value": ""}, "value", "the pattern is empty"),
        ({"value": "x" * 513}, "value", "longer than 512 characters"),
        ({"match": "glob"}, "match", "unknown match kind"),
        ({"attribute": ""}, "attribute", "the attribute name is 1 to 255 characters"),
        ({"priority": "soon"}, "priority", "whole number"),
        ({"priority": "-5"}, "priority", "whole number"),
        ({"priority": "2000000"}, "priority", "between 0 and 1000000"),
        ({"group_id": ""}, "group_id", "choose the group"),
    ],
)
def test_a_bad_rule_is_refused_next_to_its_field_and_nothing_is_stored(client, app, admin, changes, field, words):
    form = rule_form(app, **changes)
    refused = post_form(client, "/admin/mapping/rules", form)
    assert refused.status_code == 400
    page = refused.data.decode()
    assert words in field_error(page, field)
    assert 'role="alert"' in page
    if field != "group_id":
        assert f'value="{form["value"]}"' in page or field == "value"  # what was typed stays in the form
    assert stored_rules(app) == []
    assert not [e for e in rows(app, AuditEvent) if e.action == "mapping.rule_added"]


def test_the_hundred_and_first_rule_is_refused_above_the_form(client, app, admin):
    for n in range(group_policy.MAX_RULES):
        add_rule(app, "@role", f"g{n}", "Engineering")
    refused = post_form(client, "/admin/mapping/rules", rule_form(app))
    assert refused.status_code == 400
    assert "already has 100 rules" in refused.data.decode()
    assert len(rows(app, MappingRule)) == group_policy.MAX_RULES


def test_an_admin_removes_a_rule(client, app, admin):
    rule = add_rule(app, "@role", "eng", "Engineering")
    removed = post_form(client, f"/admin/mapping/rules/{rule}/remove", {})
    assert removed.status_code == 303
    assert rows(app, MappingRule) == []
    [event] = [e for e in rows(app, AuditEvent) if e.action == "mapping.rule_removed"]
    assert event.actor == f"user:{admin}" and event.target == f"rule #{rule}"
    assert post_form(client, f"/admin/mapping/rules/{rule}/remove", {}).status_code == 404


def test_rule_forms_without_the_csrf_token_are_refused(client, app, admin):
    rule = add_rule(app, "@role", "eng", "Engineering")
    for path, data in (
        ("/admin/mapping/rules", rule_form(app, value="other")),
        (f"/admin/mapping/rules/{rule}/remove", {}),
        ("/admin/mapping/preview", {"attributes": "groups=eng"}),
    ):
        refused = client.post(path, data=data)
        assert refused.status_code == 400 and b"request.csrf" in refused.data
    assert stored_rules(app) == [(10, None, "equals", "eng")]


# --- The preview ------------------------------------------------------------------------


def result_of(page: str) -> str:
    assert '<h3 id="result-title">Result</h3>' in page, page
    return page.split('<h3 id="result-title">Result</h3>', 1)[1]


def test_the_preview_shows_the_group_the_rule_that_fired_and_why(client, app, admin):
    set_policy(app, role_attributes=["groups"])
    add_rule(app, "@role", "eng-.*", "Engineering", match="regex", priority=20)
    add_rule(app, "@role", "sp-admins", "Admins", priority=10)
    users_before = [(u.id, u.group_id) for u in rows(app, User)]
    events_before = len(rows(app, AuditEvent))

    shown = post_form(
        client, "/admin/mapping/preview", {"attributes": "groups=eng-web\r\ngroups=sp-admins\r\nemail=x@acme.example"}
    )
    assert shown.status_code == 200
    result = result_of(shown.data.decode())
    assert "<strong>Admins</strong>" in result
    assert re.search(r"rule #\d+: @role equals sp-admins", result)
    assert "matched groups=&#39;sp-admins&#39;" in result
    # Still under group sync never: the preview says the rules do not run yet, and changes nothing.
    assert "group-sync is never" in shown.data.decode()
    assert [(u.id, u.group_id) for u in rows(app, User)] == users_before
    assert len(rows(app, AuditEvent)) == events_before


def test_without_a_matching_rule_the_preview_shows_the_default_group_or_the_refusal(client, app, admin):
    set_policy(app, role_attributes=["groups"], group_sync="every-login")
    add_rule(app, "@role", "sp-admins", "Admins")
    result = result_of(post_form(client, "/admin/mapping/preview", {"attributes": "groups=everyone"}).data.decode())
    assert "<strong>No access</strong>" in result and "no rule matched the values of groups" in result

    set_policy(app, on_no_match="deny")
    result = result_of(post_form(client, "/admin/mapping/preview", {"attributes": "department=Sales"}).data.decode())
    assert "sign-in refused" in result and "the IdP sent no value for groups" in result
    assert "the login would be refused" in result


@pytest.mark.parametrize(
    "text,status,words",
    [
        ("groups", 400, "&#39;groups&#39; is not NAME=VALUE"),
        ("=eng", 400, "is not NAME=VALUE"),
        ("\n  \n", 400, "type at least one NAME=VALUE line"),
        ("groups=" + "x" * 70_000, 413, "more than 64 KiB"),
    ],
)
def test_unreadable_preview_input_is_refused_in_the_form(client, admin, text, status, words):
    refused = post_form(client, "/admin/mapping/preview", {"attributes": text})
    assert refused.status_code == status
    page = refused.data.decode()
    assert words in page and 'id="result-title"' not in page
    assert 'aria-invalid="true"' in page


def test_the_preview_runs_on_a_recent_sign_ins_attributes(client, app, admin, builder):
    set_policy(app, role_attributes=["groups"])
    add_rule(app, "@role", "platform", "Engineering", match="contains")
    sign_in_with(app, builder, "bob@acme.example", ["team-platform", "all"])
    trace = next(t for t in rows(app, LoginTrace) if t.name_id == "bob@acme.example")

    page = client.get(PAGE).data.decode()
    assert f'<option value="{trace.ref}">' in page and "bob@acme.example · success" in page
    shown = post_form(client, "/admin/mapping/preview", {"attributes": "", "trace": trace.ref})
    assert shown.status_code == 200
    page = shown.data.decode()
    result = result_of(page)
    assert "<strong>Engineering</strong>" in result and "matched groups=&#39;team-platform&#39;" in result
    assert f'trace <a href="/admin/traces/{trace.ref}">' in result
    assert "groups=team-platform\ngroups=all" in page  # the box now holds them, to edit and try again

    trace_page = client.get(f"/admin/traces/{trace.ref}").data.decode()
    assert "Preview the group mapping with these attributes" in trace_page


def test_the_settings_page_sets_the_role_attributes_group_sync_and_on_no_match(client, app, admin):
    page = client.get("/admin/settings").data.decode()
    assert 'name="group_sync" type="radio" value="never" checked' in page
    saved = post_form(
        client,
        "/admin/settings",
        {
            "idp_initiated": "on",
            "clock_skew": "120",
            "domains": "acme.example",
            "role_attributes": "groups\r\n memberOf \r\n\r\n",
            "group_sync": "every-login",
            "on_no_match": "deny",
        },
    )
    assert saved.status_code == 303
    with app.app_context():
        assert group_policy.settings_snapshot(tenants.find("acme")) == {
            "role_attributes": ["groups", "memberOf"],
            "group_sync": "every-login",
            "on_no_match": "deny",
        }
    event = [e for e in rows(app, AuditEvent) if e.action == "tenant.settings_changed"][-1]
    assert event.actor == f"user:{admin}"
    assert event.details["group_sync"] == {"from": "never", "to": "every-login"}
    assert event.details["role_attributes"] == {"from": [], "to": ["groups", "memberOf"]}


@pytest.mark.parametrize(
    "changes,words",
    [
        ({"group_sync": "sometimes"}, "group sync is one of never, first-login, every-login"),
        ({"on_no_match": "shrug"}, "on-no-match is one of default, deny"),
        ({"role_attributes": "@role"}, "&#39;@role&#39; is not an attribute name"),
        ({"role_attributes": "\n".join(f"attr{n}" for n in range(11))}, "at most 10 role attributes"),
    ],
)
def test_a_bad_group_policy_setting_is_refused_and_nothing_is_saved(client, app, admin, changes, words):
    form = {
        "idp_initiated": "on",
        "clock_skew": "60",
        "domains": "acme.example",
        "role_attributes": "groups",
        "group_sync": "first-login",
        "on_no_match": "default",
        **changes,
    }
    refused = post_form(client, "/admin/settings", form)
    assert refused.status_code == 400 and words in refused.data.decode()
    with app.app_context():
        tenant = tenants.find("acme")
        assert group_policy.settings_snapshot(tenant) == {
            "role_attributes": [],
            "group_sync": "never",
            "on_no_match": "default",
        }
        assert tenant.clock_skew_seconds == 120


def test_under_every_login_the_user_page_says_a_manual_change_lasts_until_the_next_sign_in(client, app, admin, builder):
    sign_in(app.test_client(), builder, "bob@acme.example")
    bob = user_id(app, "acme", "bob@acme.example")
    assert "until the user&#39;s next sign-in" not in client.get(f"/admin/users/{bob}").data.decode()
    set_policy(app, group_sync="every-login")
    page = client.get(f"/admin/users/{bob}").data.decode()
    assert "a change made here lasts until the user&#39;s next sign-in" in page
    assert 'aria-describedby="group-notice"' in page
    assert "a change made here lasts" in client.get(PAGE).data.decode()


# --- Another tenant's rules -------------------------------------------------------------


@pytest.fixture
def beta(app, idp_keys) -> dict:
    """Tenant 'beta' with a rule, a group and a sign-in that kept attributes."""
    beta_idp = ResponseBuilder(*idp_keys, entity_id=IDP_ENTITY_ID.replace("acme", "beta"), sp_base=SP_BASE, slug="beta")
    add_tenant(app, "beta", beta_idp.metadata(), domains=["beta.example"], role_attributes=["groups"])
    make_group(app, "beta", "Beta admins", ["admin"])
    rule = add_rule(app, "@role", "beta-secret-group", "Beta admins", slug="beta")
    sign_in_with(app, beta_idp, "victor@beta.example", ["beta-secret-group"])
    trace = next(t for t in rows(app, LoginTrace) if t.name_id == "victor@beta.example")
    return {"rule": rule, "group": group_id(app, "Beta admins", "beta"), "ref": trace.ref}


def test_an_admin_never_reads_adds_to_or_removes_another_tenants_rules(client, app, admin, beta):
    page = client.get(PAGE).data.decode()
    assert "beta-secret-group" not in page and beta["ref"] not in page and "Beta admins" not in page

    assert post_form(client, f"/admin/mapping/rules/{beta['rule']}/remove", {}).status_code == 404
    assert post_form(client, "/admin/mapping/rules", rule_form(app, group_id=beta["group"])).status_code == 404
    assert post_form(client, "/admin/mapping/preview", {"attributes": "", "trace": beta["ref"]}).status_code == 404

    with app.app_context():
        assert [r.value for r in group_policy.rules(tenants.find("beta"))] == ["beta-secret-group"]
        assert group_policy.rules(tenants.find("acme")) == []
    assert [e.action for e in rows(app, AuditEvent) if e.action.startswith("mapping.")] == ["mapping.rule_added"]


def test_the_preview_never_uses_another_tenants_rules(client, app, admin, beta):
    set_policy(app, role_attributes=["groups"])
    result = result_of(post_form(client, PAGE + "/preview", {"attributes": "groups=beta-secret-group"}).data.decode())
    assert "<strong>No access</strong>" in result and "Beta admins" not in result
