"""Group policy at real logins: signed responses carrying (or not) a role attribute pick the group."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sp import clock
from sp.extensions import db
from sp.models import AuditEvent, ReplayEntry, Tenant, User, UserSession
from sp.saml.response import Identity
from sp.signin import provisioning
from sp.tenancy import group_policy, groups, tenants, users
from support.journeys import SP_BASE, add_tenant, post_acs, rows
from support.pysaml2_idp import Pysaml2IdP, requires_xmlsec1

ENTRA_GROUPS = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
ADMINS_OBJECT_ID = "5f2c3a1e-8d4b-4c7a-9e2f-0b1d6a7c8e9f"


def configure(app, slug: str, sync: str, rules=(), role=("groups",), on_no_match: str = "default") -> list[int]:
    """Give tenant slug groups Admins and Engineering, a group policy and rules; return the rule ids."""
    with app.app_context():
        tenant = tenants.find(slug)
        for name in ("Admins", "Engineering"):
            groups.add(tenant, name, ["admin"] if name == "Admins" else ["reports:read"])
        tenants.update_settings(tenant, role_attributes=list(role), group_sync=sync, on_no_match=on_no_match)
        return [group_policy.add_rule(tenant, *r[:3], match=r[3] if len(r) > 3 else "equals").id for r in rules]


def user_of(app, name_id: str) -> dict:
    with app.app_context():
        user = db.session.scalar(db.select(User).where(User.name_id == name_id))
        return (
            None
            if user is None
            else {"group": user.group.name, "source": user.group_source, "detail": user.group_detail}
        )


def events(app, action: str) -> list[dict]:
    return [e.details for e in rows(app, AuditEvent) if e.action == action]


def login(client, builder, groups=None, name_id: str = "alice@acme.example", **attributes):
    if groups is not None:
        attributes["groups"] = groups
    attributes.setdefault("email", [name_id])
    response = post_acs(client, "acme", builder.b64(name_id=name_id, attributes=attributes))
    return response


ADMINS_RULE = ("groups", "sp-admins", "Admins")


def test_a_signed_response_with_a_mapped_group_lands_the_new_user_in_that_group(client, app, acme, builder):
    [rule_id] = configure(app, acme, "first-login", [ADMINS_RULE])
    assert login(client, builder, ["engineering", "sp-admins"]).status_code == 303
    assert client.get("/me").get_json()["group"] == "Admins"
    assert user_of(app, "alice@acme.example") == {
        "group": "Admins",
        "source": "rule",
        "detail": f"rule #{rule_id}: groups equals sp-admins",
    }
    [created] = events(app, "user.created")
    assert created["group"] == "Admins" and created["group_detail"] == f"rule #{rule_id}: groups equals sp-admins"


def test_a_response_without_the_role_attribute_lands_in_the_default_group(client, app, acme, builder):
    configure(app, acme, "first-login", [ADMINS_RULE])
    assert login(client, builder).status_code == 303
    assert client.get("/me").get_json()["group"] == "No access"
    assert user_of(app, "alice@acme.example") == {
        "group": "No access",
        "source": "default",
        "detail": "the IdP sent no value for groups",
    }


def test_under_never_the_rules_do_not_run(client, app, acme, builder):
    configure(app, acme, "never", [ADMINS_RULE])
    assert login(client, builder, ["sp-admins"]).status_code == 303
    assert user_of(app, "alice@acme.example") == {"group": "No access", "source": "default", "detail": None}


def test_under_every_login_a_changed_directory_value_moves_the_user_on_the_next_login(client, app, acme, builder):
    admins, engineering = configure(
        app, acme, "every-login", [ADMINS_RULE, ("groups", "eng-.*", "Engineering", "regex")]
    )
    login(client, builder, ["sp-admins"])
    assert user_of(app, "alice@acme.example")["group"] == "Admins"

    assert login(client, builder, ["eng-platform"]).status_code == 303
    assert client.get("/me").get_json()["group"] == "Engineering"
    assert user_of(app, "alice@acme.example") == {
        "group": "Engineering",
        "source": "rule",
        "detail": f"rule #{engineering}: groups regex eng-.*",
    }
    [moved] = events(app, "user.group_changed")
    assert moved == {
        "from": "Admins",
        "to": "Engineering",
        "from_source": "rule",
        "source": "rule",
        "detail": f"rule #{engineering}: groups regex eng-.*",
    }

    login(client, builder, [])  # removed from every group in the directory
    assert user_of(app, "alice@acme.example")["group"] == "No access"


def test_under_every_login_an_admin_change_lasts_until_the_next_login(client, app, acme, builder):
    configure(app, acme, "every-login", [ADMINS_RULE])
    login(client, builder, ["sp-admins"])
    with app.app_context():
        tenant = tenants.find(acme)
        user = users.named(tenant, "alice@acme.example")
        engineering = groups.named_or_none(tenant, "Engineering")
        assert users.change_group(user, engineering, actor="user:7", by="bob@acme.example", now=clock.utcnow())
        assert "lasts until the user's next sign-in" in group_policy.admin_notice(tenant)
    assert user_of(app, "alice@acme.example") == {
        "group": "Engineering",
        "source": "admin",
        "detail": "admin:bob@acme.example",
    }

    login(client, builder, ["sp-admins"])
    assert user_of(app, "alice@acme.example")["group"] == "Admins"
    assert [(e["to"], e["source"]) for e in events(app, "user.group_changed")] == [
        ("Engineering", "admin"),
        ("Admins", "rule"),
    ]


def test_under_first_login_admins_own_the_group_after_creation(client, app, acme, builder):
    configure(app, acme, "first-login", [ADMINS_RULE])
    login(client, builder, ["sp-admins"])
    with app.app_context():
        tenant = tenants.find(acme)
        users.change_group(
            users.named(tenant, "alice@acme.example"),
            groups.named_or_none(tenant, "Engineering"),
            actor="cli",
            by=None,
            now=clock.utcnow(),
        )
        assert group_policy.admin_notice(tenant) is None
    login(client, builder, ["sp-admins"])
    assert user_of(app, "alice@acme.example") == {"group": "Engineering", "source": "admin", "detail": "admin:cli"}


def test_on_no_match_deny_refuses_the_login_and_creates_nothing(client, app, acme, builder, caplog):
    configure(app, acme, "first-login", [ADMINS_RULE], on_no_match="deny")
    with caplog.at_level(logging.WARNING, logger="sp.errors"):
        refused = login(client, builder, ["marketing"])
    assert refused.status_code == 403
    assert b"group.no_match" in refused.data and b"has not given you access" in refused.data
    assert rows(app, User) == [] and rows(app, ReplayEntry) == [] and rows(app, UserSession) == []
    # The admin's trace says which rule set refused and what the IdP sent.
    assert "no rule matched the values of groups" in caplog.text and "marketing" in caplog.text
    assert client.get("/me").status_code == 401


def test_on_no_match_deny_under_every_login_refuses_a_user_the_directory_dropped(client, app, acme, builder):
    configure(app, acme, "every-login", [ADMINS_RULE], on_no_match="deny")
    assert login(client, builder, ["sp-admins"]).status_code == 303
    assert login(client, builder, []).status_code == 403
    assert user_of(app, "alice@acme.example")["group"] == "Admins"  # the refused login changed nothing
    assert len(rows(app, UserSession)) == 1


def test_the_role_attribute_may_be_named_by_its_friendly_name(client, app, acme, builder):
    configure(
        app, acme, "first-login", [("@role", "cn=admins,ou=groups,dc=acme", "Admins", "iequals")], role=["isMemberOf"]
    )
    oid = "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"
    response = post_acs(
        client,
        "acme",
        builder.b64(attributes={oid: ["CN=Admins,OU=Groups,DC=acme"]}, friendly_names={oid: "isMemberOf"}),
    )
    assert response.status_code == 303
    assert client.get("/me").get_json()["group"] == "Admins"


def test_entra_id_group_object_ids_map_through_the_claim_uri(client, app, acme, builder):
    configure(app, acme, "first-login", [("@role", ADMINS_OBJECT_ID, "Admins")], role=[ENTRA_GROUPS])
    assert (
        login(client, builder, **{ENTRA_GROUPS: ["0d7a0c0e-1111-4f4f-8a8a-123456789abc", ADMINS_OBJECT_ID]}).status_code
        == 303
    )
    assert user_of(app, "alice@acme.example")["group"] == "Admins"


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sync=st.sampled_from(group_policy.SYNC_POLICIES),
    others=st.dictionaries(
        st.sampled_from(["email", "displayName", "department", "Groups"]),
        st.lists(st.sampled_from(["sp-admins", "x", ""]), max_size=3),
        max_size=3,
    ),
    number=st.integers(0, 10**9),
)
def test_no_role_attribute_means_the_default_group_under_every_sync_policy(app, sync, others, number):
    with app.app_context():
        if db.session.scalar(db.select(Tenant).where(Tenant.slug == "hyp")) is None:
            add_tenant(app, "hyp", None)
            configure(app, "hyp", "never", [ADMINS_RULE, ("@role", ".*", "Admins", "regex")])
        tenant = tenants.find("hyp")
        tenants.update_settings(tenant, group_sync=sync)
        identity = Identity(f"u{number}@hyp.example", None, None, others)
        now = clock.utcnow()
        user, created = provisioning.provision(tenant, identity, now)
        assert created and user.group_id == tenant.default_group_id
        # An admin moves them; only every-login, with nothing to go on, gives the default group back.
        engineering = groups.named(tenant, "Engineering").id
        user.group_id, user.group_source = engineering, "admin"
        again, _ = provisioning.provision(tenant, identity, now)
        assert again.group_id == (tenant.default_group_id if sync == "every-login" else engineering)
        db.session.rollback()


# --- With an IdP implementation we did not write -------------------------------------------


@pytest.fixture(scope="module")
def pysaml2_idp(tmp_path_factory):
    from support.keys import make_key_pair

    return Pysaml2IdP(
        "https://idp.globex.example/idp", *make_key_pair("Globex pysaml2 IdP"), tmp_path_factory.mktemp("p2")
    )


@requires_xmlsec1
def test_pysaml2_alice_with_directory_group_sp_admins_lands_in_admins(client, app, pysaml2_idp):
    import base64

    metadata = pysaml2_idp.metadata_xml(sso_url="https://idp.globex.example/sso").encode()
    add_tenant(app, "globex", metadata)
    [rule_id] = configure(app, "globex", "first-login", [ADMINS_RULE])
    xml = pysaml2_idp.response(
        sp_entity_id=f"{SP_BASE}/saml/globex/metadata",
        acs_url=f"{SP_BASE}/saml/globex/acs",
        name_id="alice@globex.example",
        attributes={"email": ["alice@globex.example"], "groups": ["sp-admins", "engineering"]},
    )
    landed = post_acs(client, "globex", base64.b64encode(xml.encode()).decode())
    assert landed.status_code == 303, landed.data
    me = client.get("/me").get_json()
    assert (me["group"], me["permissions"]) == ("Admins", ["admin"])
    assert user_of(app, "alice@globex.example")["detail"] == f"rule #{rule_id}: groups equals sp-admins"


# --- The demo stack (`make run`) ------------------------------------------------------------


def _dev_stack():
    path = Path(__file__).resolve().parent.parent / "scripts" / "dev_stack.py"
    spec = importlib.util.spec_from_file_location("dev_stack", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_demo_tenant_maps_alice_to_admins_and_bob_to_the_default_group(client, app, tmp_path):
    import devidp

    idp = devidp.create_app(
        {
            "BASE_URL": "http://127.0.0.1:5001",
            "SP_BASE_URL": SP_BASE,
            "KEY_DIR": tmp_path / "keys",
            "TENANTS": ["demo"],
            "TESTING": True,
        }
    ).test_client()
    dev_stack = _dev_stack()
    metadata = idp.get("/metadata").data
    dev_stack.seed(app, metadata)
    dev_stack.seed(app, metadata)  # idempotent: a second `make run` changes nothing
    with app.app_context():
        assert len(group_policy.rules(tenants.find("demo"))) == len(dev_stack.DEMO_RULES)

    for who, group in (("alice", "Admins"), ("bob", "No access")):
        page = idp.post(
            "/portal", data={"username": f"{who}@demo.example", "password": "demo", "tenant": "demo", "relay_state": ""}
        )
        saml_response = page.get_data(as_text=True).split('name="SAMLResponse" value="')[1].split('"')[0]
        assert post_acs(client, "demo", saml_response).status_code == 303
        assert client.get("/me").get_json()["group"] == group
