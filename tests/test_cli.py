"""The `flask --app wsgi ...` commands ops scripts depend on."""

from __future__ import annotations

import json

from sp.models import AuditEvent
from support.journeys import post_acs, rows


def invoke(runner, *args, input=None):
    return runner.invoke(args=list(args), input=input)


def test_ops_onboard_a_tenant_from_the_command_line(runner, app, builder, tmp_path):
    created = invoke(runner, "tenant", "create", "acme", "--name", "Acme Inc", "--domain", "acme.example")
    assert created.exit_code == 0, created.output
    assert "default group: No access" in created.output

    metadata = tmp_path / "idp.xml"
    metadata.write_bytes(builder.metadata())
    imported = invoke(runner, "idp", "import", "acme", str(metadata))
    assert imported.exit_code == 0, imported.output
    assert "entity ID: https://idp.acme.example/saml" in imported.output
    assert "SSO HTTP-Redirect: https://idp.example.test/sso/redirect" in imported.output
    assert "signing certificate SHA-256 " in imported.output and " expires " in imported.output

    listed = json.loads(invoke(runner, "tenant", "list", "--json").output)
    assert listed == [
        {
            "slug": "acme",
            "name": "Acme Inc",
            "domains": ["acme.example"],
            "idp_initiated": True,
            "single_logout": True,
            "single_logout_active": False,
            "clock_skew_seconds": 120,
            "default_group": "No access",
            "email_attribute": None,
            "name_attribute": None,
            "role_attributes": [],
            "group_sync": "never",
            "on_no_match": "default",
            "idp_entity_id": "https://idp.acme.example/saml",
        }
    ]
    actions = [e.action for e in rows(app, AuditEvent)]
    assert actions == ["tenant.created", "idp.metadata_imported"]


def test_idp_import_reads_stdin(runner, app, builder):
    invoke(runner, "tenant", "create", "acme", "--name", "Acme")
    result = invoke(runner, "idp", "import", "acme", "-", input=builder.metadata())
    assert result.exit_code == 0, result.output


def test_a_refused_import_exits_non_zero_with_one_line_and_no_traceback(runner, app, tmp_path):
    invoke(runner, "tenant", "create", "acme", "--name", "Acme")
    for content, words in [
        (b"", "empty"),
        (b"<not-xml", "not well-formed"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><x/>', "DTD"),
        (
            b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example">'
            b'<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/>'
            b"</md:EntityDescriptor>",
            "service provider",
        ),
    ]:
        path = tmp_path / "bad.xml"
        path.write_bytes(content)
        result = invoke(runner, "idp", "import", "acme", str(path))
        assert result.exit_code == 1, result.output
        assert words in result.output
        assert "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1


def test_tenant_set_changes_what_running_instances_do(runner, app, acme, builder):
    result = invoke(runner, "tenant", "set", "acme", "--idp-initiated", "off", "--clock-skew", "30")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output)
    assert settings["idp_initiated"] is False and settings["clock_skew_seconds"] == 30
    # The running app (no restart) now refuses IdP-initiated logins for acme.
    refused = post_acs(app.test_client(), acme, builder.b64())
    assert refused.status_code == 400 and b"saml.unsolicited_refused" in refused.data
    assert invoke(runner, "tenant", "set", "acme", "--clock-skew", "900").exit_code == 1


def test_groups_and_default_group(runner, app, acme, builder):
    made = invoke(runner, "group", "create", "acme", "Analysts", "--permission", "reports:read")
    assert made.exit_code == 0, made.output
    assert invoke(runner, "group", "create", "acme", "Analysts").exit_code == 1
    assert invoke(runner, "tenant", "set", "acme", "--default-group", "Nope").exit_code == 1
    assert invoke(runner, "tenant", "set", "acme", "--default-group", "Analysts").exit_code == 0
    post_acs(app.test_client(), acme, builder.b64())
    users = json.loads(invoke(runner, "user", "list", "acme", "--json").output)
    assert users == [
        {
            "name_id": "alice@acme.example",
            "email": "alice@acme.example",
            "display_name": "Alice Example",
            "group": "Analysts",
            "group_source": "default",
            "group_detail": None,
            "active": True,
            "source": "jit",
        }
    ]


def test_a_tenant_created_with_a_named_default_group(runner):
    result = invoke(runner, "tenant", "create", "initech", "--name", "Initech", "--default-group", "Viewers")
    assert "default group: Viewers" in result.output


def test_conflicting_tenants_and_bad_slugs_are_refused(runner, acme):
    assert invoke(runner, "tenant", "create", "acme", "--name", "Again").exit_code == 1
    assert invoke(runner, "tenant", "create", "other", "--name", "O", "--domain", "acme.example").exit_code == 1
    assert invoke(runner, "tenant", "create", "Bad_Slug", "--name", "B").exit_code == 1
    assert invoke(runner, "user", "list", "nobody", "--json").exit_code == 1


def test_purge_forgets_only_expired_state(runner, app, acme, builder):
    post_acs(app.test_client(), acme, builder.b64())
    result = invoke(runner, "saml", "purge")
    assert (
        result.exit_code == 0
        and "purged 0 expired requests, 0 expired replay entries and 0 old login traces" in result.output
    )


def test_the_email_and_name_attributes_are_per_tenant_settings(runner, app, acme, builder):
    result = invoke(
        runner,
        "tenant",
        "set",
        "acme",
        "--email-attribute",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "--name-attribute",
        "cn",
    )
    assert result.exit_code == 0, result.output
    post_acs(
        app.test_client(),
        acme,
        builder.b64(
            name_id="u-4711",
            name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            attributes={
                "urn:oid:0.9.2342.19200300.100.1.3": ["dana@acme.example"],
                "cn": ["Dana Scully"],
                "email": ["ignored@acme.example"],
                "displayName": ["Ignored"],
            },
        ),
    )
    [user] = json.loads(invoke(runner, "user", "list", "acme", "--json").output)
    assert (user["email"], user["display_name"]) == ("dana@acme.example", "Dana Scully")
    back = json.loads(invoke(runner, "tenant", "set", "acme", "--email-attribute", "", "--name-attribute", "").output)
    assert back["email_attribute"] is None and back["name_attribute"] is None
