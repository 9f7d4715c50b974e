"""An operator sets up group policy with `flask tenant|mapping|group|user ...`."""

from __future__ import annotations

import json

import pytest

from sp import clock
from sp.extensions import db
from sp.models import AuditEvent, MappingRule, User, UserGroup
from sp.saml.response import Identity
from sp.signin import provisioning
from sp.tenancy import group_policy, groups, tenants
from support.journeys import add_tenant, rows


@pytest.fixture
def acme(app, runner):
    add_tenant(app, "acme", None)
    for name in ("Admins", "Engineering", "Contractors"):
        assert runner.invoke(args=["group", "create", "acme", name]).exit_code == 0
    return "acme"


def run(runner, *args: str, ok: bool = True):
    result = runner.invoke(args=list(args))
    assert (result.exit_code == 0) == ok, result.output
    return result


def refused(runner, *args: str) -> str:
    """Run a command that must be refused: exit status 1 and one line on stderr."""
    result = runner.invoke(args=list(args))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


def login(app, name_id: str, **attributes) -> User:
    with app.app_context():
        tenant = tenants.find("acme")
        user, _ = provisioning.provision(tenant, Identity(name_id, None, None, attributes), clock.utcnow())
        db.session.commit()
        return user.id


def group_of(app, name_id: str) -> tuple[str, str, str | None]:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.name_id == name_id))
        return user.group.name, user.group_source, user.group_detail


def test_tenant_set_names_role_attributes_and_the_policies(runner, acme):
    out = run(
        runner,
        "tenant",
        "set",
        "acme",
        "--role-attribute",
        "groups",
        "--role-attribute",
        "memberOf",
        "--group-sync",
        "every-login",
        "--on-no-match",
        "deny",
    ).stdout
    shown = json.loads(out)
    assert (shown["role_attributes"], shown["group_sync"], shown["on_no_match"]) == (
        ["groups", "memberOf"],
        "every-login",
        "deny",
    )
    assert json.loads(run(runner, "tenant", "set", "acme", "--no-role-attribute").stdout)["role_attributes"] == []
    assert "'always' is not one of" in run(runner, "tenant", "set", "acme", "--group-sync", "always", ok=False).output


def test_the_settings_change_is_audited(app, runner, acme):
    run(runner, "tenant", "set", "acme", "--role-attribute", "groups", "--group-sync", "first-login")
    [event] = [e for e in rows(app, AuditEvent) if e.action == "tenant.settings_changed"]
    assert event.details["group_sync"] == {"from": "never", "to": "first-login"}
    assert event.details["role_attributes"] == {"from": [], "to": ["groups"]}


@pytest.mark.parametrize(
    "args,why",
    [
        (["--role-attribute", " "], "role attribute name is 1 to"),
        (["--role-attribute", "x" * 256], "role attribute name is 1 to"),
        (["--role-attribute", "@role"], "not an attribute name"),
        (["--role-attribute", "a", "--no-role-attribute"], "not both"),
        ([arg for i in range(11) for arg in ("--role-attribute", f"a{i}")], "at most 10"),
    ],
)
def test_bad_role_attributes_are_refused_and_change_nothing(app, runner, acme, args, why):
    assert why in refused(runner, "tenant", "set", "acme", *args)
    with app.app_context():
        assert tenants.find("acme").role_attributes == []


def test_rules_are_added_listed_tested_and_removed(app, runner, acme):
    run(runner, "tenant", "set", "acme", "--role-attribute", "groups", "--group-sync", "first-login")
    added = run(runner, "mapping", "add", "acme", "groups", "sp-admins", "Admins").stdout
    assert added.startswith("added rule #") and "(priority 10)" in added
    run(runner, "mapping", "add", "acme", "@role", "eng-.*", "Engineering", "--match", "regex")
    run(
        runner,
        "mapping",
        "add",
        "acme",
        "groups",
        "CONTRACTORS",
        "Contractors",
        "--match",
        "iequals",
        "--priority",
        "5",
    )

    listed = json.loads(run(runner, "mapping", "list", "acme", "--json").stdout)
    assert [(r["priority"], r["attribute"], r["match"], r["group"]) for r in listed["rules"]] == [
        (5, "groups", "iequals", "Contractors"),
        (10, "groups", "equals", "Admins"),
        (20, "@role", "regex", "Engineering"),
    ]
    assert "priority=5" in run(runner, "mapping", "list", "acme").stdout

    tested = json.loads(
        run(
            runner, "mapping", "test", "acme", "--attr", "groups=eng-web", "--attr", "groups=sp-admins", "--json"
        ).stdout
    )
    admins_rule = listed["rules"][1]
    assert tested["group"] == "Admins" and tested["rule"]["id"] == admins_rule["id"]
    assert tested["matched"] == {"attribute": "groups", "value": "sp-admins"}
    text = run(runner, "mapping", "test", "acme", "--attr", "groups=contractors").stdout
    assert text.splitlines()[:2] == [
        "group: Contractors",
        f"rule: rule #{listed['rules'][0]['id']}: groups iequals CONTRACTORS (priority 5)",
    ]

    run(runner, "mapping", "remove", "acme", str(admins_rule["id"]))
    tested = json.loads(run(runner, "mapping", "test", "acme", "--attr", "groups=sp-admins", "--json").stdout)
    assert (tested["group"], tested["rule"], tested["reason"]) == ("No access", None, "no_match")
    assert [e.action for e in rows(app, AuditEvent) if e.action.startswith("mapping.")] == [
        "mapping.rule_added"
    ] * 3 + ["mapping.rule_removed"]


def test_the_preview_without_the_role_attribute_gives_the_default_group_and_says_why(runner, acme):
    run(runner, "tenant", "set", "acme", "--role-attribute", "groups")
    run(runner, "mapping", "add", "acme", "groups", "sp-admins", "Admins")
    result = run(runner, "mapping", "test", "acme", "--attr", "email=a@acme.example")
    assert result.stdout.splitlines() == [
        "group: No access (the default group)",
        "rule: none",
        "why: the IdP sent no value for groups",
    ]
    assert "group-sync is never" in result.stderr  # the rules are not live yet, and the preview says so


def test_the_preview_says_when_the_login_would_be_refused(runner, acme):
    run(
        runner,
        "tenant",
        "set",
        "acme",
        "--role-attribute",
        "groups",
        "--group-sync",
        "every-login",
        "--on-no-match",
        "deny",
    )
    run(runner, "mapping", "add", "acme", "groups", "sp-admins", "Admins")
    tested = json.loads(run(runner, "mapping", "test", "acme", "--attr", "groups=marketing", "--json").stdout)
    assert (tested["group"], tested["refused"]) == (None, True)
    assert "would be refused" in run(runner, "mapping", "test", "acme", "--attr", "groups=marketing").stdout


@pytest.mark.parametrize(
    "args,why",
    [
        (["groups", "(sp-admins", "Admins", "--match", "regex"], "not a valid RE2 regular expression"),
        (["groups", "(?=sp).*", "Admins", "--match", "regex"], "not a valid RE2 regular expression"),
        (["groups", ".{1000}" * 10, "Admins", "--match", "regex"], "too large"),
        (["groups", "x" * 513, "Admins"], "longer than 512"),
        (["groups", "  ", "Admins"], "empty"),
        (["", "sp-admins", "Admins"], "attribute name is 1 to"),
        (
            ["groups", "sp-admins", "Nobody"],
            "has no group 'Nobody' (groups: Admins, Contractors, Engineering, No access)",
        ),
        (["groups", "sp-admins", "Admins", "--priority", "-1"], "priority is between"),
    ],
)
def test_bad_rules_are_refused_with_one_line_and_nothing_is_saved(app, runner, acme, args, why):
    assert why in refused(runner, "mapping", "add", "acme", *args)
    assert rows(app, MappingRule) == []


def test_an_unknown_match_kind_or_tenant_is_refused(runner, acme):
    assert (
        "'glob' is not one of"
        in run(runner, "mapping", "add", "acme", "groups", "x", "Admins", "--match", "glob", ok=False).output
    )
    assert "no tenant 'nope'" in refused(runner, "mapping", "list", "nope")
    assert "has no rule #999" in refused(runner, "mapping", "remove", "acme", "999")


def test_a_rule_of_another_tenant_cannot_be_removed(app, runner, acme):
    add_tenant(app, "globex", None)
    run(runner, "group", "create", "globex", "Admins")
    run(runner, "mapping", "add", "globex", "groups", "sp-admins", "Admins")
    [rule] = rows(app, MappingRule)
    assert "tenant 'acme' has no rule" in refused(runner, "mapping", "remove", "acme", str(rule.id))
    assert len(rows(app, MappingRule)) == 1


def test_a_tenant_has_at_most_so_many_rules(app, runner, acme):
    with app.app_context():
        tenant = tenants.find("acme")
        admins = groups.named(tenant, "Admins")
        db.session.add_all(
            MappingRule(tenant_id=tenant.id, priority=i, match="equals", value=f"g{i}", group_id=admins.id)
            for i in range(group_policy.MAX_RULES)
        )
        db.session.commit()
    assert "already has 100 rules" in refused(runner, "mapping", "add", "acme", "groups", "one-more", "Admins")


def test_mapping_test_refuses_an_attribute_without_a_value_separator(runner, acme):
    assert "is not NAME=VALUE" in refused(runner, "mapping", "test", "acme", "--attr", "groups")


def test_group_list_shows_members_rules_and_the_default(app, runner, acme):
    run(runner, "tenant", "set", "acme", "--role-attribute", "groups", "--group-sync", "first-login")
    run(runner, "mapping", "add", "acme", "groups", "sp-admins", "Admins")
    login(app, "alice@acme.example", groups=["sp-admins"])
    listed = {g["name"]: g for g in json.loads(run(runner, "group", "list", "acme", "--json").stdout)}
    assert (listed["Admins"]["users"], listed["Admins"]["rules"], listed["Admins"]["default"]) == (1, 1, False)
    assert listed["No access"]["default"] is True
    assert "No access (default)" in run(runner, "group", "list", "acme").stdout


def test_deleting_a_held_group_is_refused_unless_its_users_may_move_to_the_default(app, runner, acme):
    login(app, "carol@acme.example")
    run(runner, "user", "set-group", "acme", "carol@acme.example", "Contractors", "--by", "alice@acme.example")
    assert group_of(app, "carol@acme.example") == ("Contractors", "admin", "admin:alice@acme.example")

    assert "1 user holds group 'Contractors'" in refused(runner, "group", "delete", "acme", "Contractors")
    assert group_of(app, "carol@acme.example")[0] == "Contractors"

    out = run(runner, "group", "delete", "acme", "Contractors", "--move-users-to-default").stdout
    assert "moved 1 user(s) to 'No access'" in out
    assert group_of(app, "carol@acme.example") == ("No access", "default", "group 'Contractors' deleted by cli")
    assert "Contractors" not in [g.name for g in rows(app, UserGroup)]
    moved = [e.details for e in rows(app, AuditEvent) if e.action == "user.group_changed"][-1]
    assert (moved["from"], moved["to"], moved["source"]) == ("Contractors", "No access", "default")


def test_the_default_group_and_a_group_rules_give_cannot_be_deleted(app, runner, acme):
    assert "is the default group" in refused(runner, "group", "delete", "acme", "No access")
    run(runner, "mapping", "add", "acme", "groups", "sp-admins", "Admins")
    [rule] = rows(app, MappingRule)
    assert f"mapping rule #{rule.id} gives group 'Admins'" in refused(runner, "group", "delete", "acme", "Admins")
    run(runner, "group", "delete", "acme", "Engineering")
    assert sorted(g.name for g in rows(app, UserGroup)) == ["Admins", "Contractors", "No access"]


def test_user_set_group_warns_that_every_login_will_undo_it(app, runner, acme):
    run(runner, "tenant", "set", "acme", "--role-attribute", "groups", "--group-sync", "every-login")
    login(app, "bob@acme.example")
    result = run(runner, "user", "set-group", "acme", "bob@acme.example", "Engineering")
    assert "lasts until the user's next sign-in" in result.stderr
    assert "(unchanged)" in run(runner, "user", "set-group", "acme", "bob@acme.example", "Engineering").stdout
    assert "has no user 'nobody'" in refused(runner, "user", "set-group", "acme", "nobody", "Engineering")


def test_user_list_says_how_each_user_got_their_group(app, runner, acme):
    run(runner, "tenant", "set", "acme", "--role-attribute", "groups", "--group-sync", "first-login")
    run(runner, "mapping", "add", "acme", "groups", "sp-admins", "Admins")
    login(app, "alice@acme.example", groups=["sp-admins"])
    login(app, "bob@acme.example")
    users = {u["name_id"]: u for u in json.loads(run(runner, "user", "list", "acme", "--json").stdout)}
    assert users["alice@acme.example"]["group_source"] == "rule"
    assert users["alice@acme.example"]["group_detail"].endswith("groups equals sp-admins")
    assert (users["bob@acme.example"]["group_source"], users["bob@acme.example"]["group_detail"]) == (
        "default",
        "the IdP sent no value for groups",
    )
    assert "rule (rule #" in run(runner, "user", "list", "acme").stdout


def test_operator_notes_point_out_settings_that_do_nothing(app, runner, acme):
    result = run(runner, "tenant", "set", "acme", "--on-no-match", "deny")
    assert "on-no-match deny has no effect while group-sync is never" in result.stderr
    result = run(runner, "mapping", "add", "acme", "@role", "sp-admins", "Admins")
    assert "no role attribute is set" in result.stderr
    [rule] = rows(app, MappingRule)
    run(runner, "mapping", "remove", "acme", str(rule.id))
    result = run(runner, "tenant", "set", "acme", "--group-sync", "every-login")
    assert "there are no rules: every login that runs the rules is refused" in result.stderr
