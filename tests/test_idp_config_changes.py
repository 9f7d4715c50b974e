"""Replacing, rolling back and watching a tenant's IdP: diffs, versions, certificate rollover, status, API tokens."""

from __future__ import annotations

import json

import pytest

from sp import errors
from sp.models import AuditEvent, IdentityProvider, IdpMetadataVersion, OpsApiToken, User
from support import idp_samples as samples
from support.journeys import IDP_ENTITY_ID, SP_BASE, add_tenant, post_acs, rows
from support.keys import make_key_pair
from support.saml_builder import ResponseBuilder

API = "/api/ops/tenants/{slug}/idp"
XML = "application/samlmetadata+xml"
OKTA = "http://www.okta.com/exk1fxp0a1B2c3D4e5d7"


@pytest.fixture
def token(app) -> str:
    from sp import clock
    from sp.operators import tokens

    with app.app_context():
        return tokens.create("deploy-bot", clock.utcnow())[1]


def put(client, slug: str, body: bytes, token: str | None, **params):
    headers = {"Content-Type": XML}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.put(API.format(slug=slug), data=body, headers=headers, query_string=params)


def active(app) -> IdentityProvider:
    """The one tenant's IdP configuration, as logins read it."""
    [idp] = rows(app, IdentityProvider)
    return idp


def idp_builder(name: str, slug: str = "initech") -> ResponseBuilder:
    return ResponseBuilder(*make_key_pair(name), entity_id=IDP_ENTITY_ID, sp_base=SP_BASE, slug=slug)


# --- Three ways in, one service ------------------------------------------------------------


def test_the_cli_dry_run_shows_the_diff_and_changes_nothing(app, runner, tmp_path):
    add_tenant(app, "initech", samples.okta(certs=(samples.cert("Okta old"),)))
    path = tmp_path / "okta-new.xml"
    path.write_bytes(samples.okta(certs=(samples.cert("Okta old"), samples.cert("Okta new"))))
    before = active(app).revision

    result = runner.invoke(args=["idp", "import", "initech", str(path), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "+ signing certificate" in result.stdout and "CN=Okta new" in result.stdout
    assert "= signing certificate" in result.stdout and "CN=Okta old" in result.stdout
    assert "dry run: nothing was changed; run again without --dry-run to apply" in result.stdout
    assert active(app).revision == before and len(rows(app, IdpMetadataVersion)) == 1

    applied = runner.invoke(args=["idp", "import", "initech", str(path)])
    assert "applied as version 2" in applied.stdout
    assert [c["subject"] for c in active(app).certificates] == ["CN=Okta old", "CN=Okta new"]


def test_the_cli_reads_metadata_from_stdin(app, runner):
    add_tenant(app, "initech", None)
    result = runner.invoke(args=["idp", "import", "initech", "-"], input=samples.google())
    assert result.exit_code == 0, result.output
    assert active(app).entity_id == "https://accounts.google.com/o/saml2?idpid=C01a2b3c4"


def test_the_cli_refuses_a_file_and_a_url_together_and_neither(app, runner, tmp_path):
    add_tenant(app, "initech", None)
    path = tmp_path / "okta.xml"
    path.write_bytes(samples.okta())
    both = runner.invoke(args=["idp", "import", "initech", str(path), "--url", "https://idp.example/metadata"])
    neither = runner.invoke(args=["idp", "import", "initech"])
    pinned_without_url = runner.invoke(args=["idp", "import", "initech", str(path), "--verify-cert", str(path)])
    for result in (both, neither, pinned_without_url):
        assert result.exit_code == 1 and result.output.startswith("error: ")
    assert rows(app, IdentityProvider) == []


def test_replacing_metadata_shows_entity_id_endpoints_and_certificates_added_and_removed(app, client, token):
    add_tenant(app, "initech", samples.okta(certs=(samples.cert("Okta old"),)))
    preview = put(client, "initech", samples.entra(certs=(samples.cert("Entra"),)), token, dry_run="1")
    assert preview.status_code == 200
    body = preview.get_json()
    assert body["result"] == "dry_run" and body["version"] is None
    diff = body["diff"]
    assert diff["changed"] and not diff["first_import"]
    assert diff["entity_id"] == {"from": OKTA, "to": "https://sts.windows.net/0b9c2f57-1c2d-4e5f-8a9b-0c1d2e3f4a5b/"}
    assert {(e["service"], e["binding"]) for e in diff["endpoints"]["added"]} == {
        ("SSO", "HTTP-Redirect"),
        ("SSO", "HTTP-POST"),
        ("SLO", "HTTP-Redirect"),
    }
    assert {(e["service"], e["binding"]) for e in diff["endpoints"]["removed"]} == {
        ("SSO", "HTTP-Redirect"),
        ("SSO", "HTTP-POST"),
    }
    assert [c["subject"] for c in diff["certificates"]["added"]] == ["CN=Entra"]
    assert [c["subject"] for c in diff["certificates"]["removed"]] == ["CN=Okta old"]
    assert active(app).entity_id == OKTA and len(rows(app, IdpMetadataVersion)) == 1

    applied = put(client, "initech", samples.entra(certs=(samples.cert("Entra"),)), token)
    assert applied.get_json()["result"] == "applied" and applied.get_json()["version"] == 2
    assert active(app).entity_id.startswith("https://sts.windows.net/")
    [event] = [e for e in rows(app, AuditEvent) if e.action == "idp.metadata_imported" and e.details["version"] == 2]
    assert event.actor == "token:deploy-bot" and event.details["source"] == "api"
    assert any(line.startswith("- signing certificate") for line in event.details["changes"])


def test_importing_the_configuration_already_in_use_changes_nothing(app, client, token):
    add_tenant(app, "initech", samples.okta())
    again = put(client, "initech", samples.okta(), token)
    assert again.get_json()["result"] == "unchanged"
    assert again.get_json()["diff"]["changed"] is False
    assert len(rows(app, IdpMetadataVersion)) == 1 and active(app).revision == 1


def test_the_api_needs_a_live_token(app, client, token):
    from sp import clock
    from sp.operators import tokens

    add_tenant(app, "initech", None)
    for bad in (None, "spops_not-a-real-token", token + "x"):
        refused = put(client, "initech", samples.okta(), bad)
        assert refused.status_code == 401
        assert refused.get_json()["error"] == "api.unauthorised"
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    basic = client.put(
        API.format(slug="initech"),
        data=samples.okta(),
        headers={"Content-Type": XML, "Authorization": "Basic ZGVwbG95LWJvdDp4"},
    )
    assert basic.status_code == 401
    with app.app_context():
        tokens.revoke("deploy-bot", clock.utcnow())
    assert put(client, "initech", samples.okta(), token).status_code == 401
    assert rows(app, IdentityProvider) == []


def test_the_api_checks_the_token_before_saying_whether_a_tenant_exists(client, token):
    assert put(client, "nosuch", samples.okta(), None).status_code == 401
    missing = put(client, "nosuch", samples.okta(), token)
    assert missing.status_code == 404 and missing.get_json()["error"] == "tenant.not_found"


def test_the_api_wants_xml_and_records_the_token_use(app, client, token):
    add_tenant(app, "initech", None)
    as_form = client.put(
        API.format(slug="initech"), data={"metadata": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert as_form.status_code == 415 and as_form.get_json()["error"] == "api.unsupported_media_type"
    plain = put(client, "initech", samples.okta(), token)
    assert plain.status_code == 200
    [row] = rows(app, OpsApiToken)
    assert row.last_used_at is not None


def test_the_api_picks_from_an_aggregate_with_entity_id(app, client, token):
    add_tenant(app, "initech", None)
    body = samples.aggregate(samples.okta(), samples.google())
    ambiguous = put(client, "initech", body, token)
    assert ambiguous.status_code == 400 and ambiguous.get_json()["error"] == "metadata.ambiguous"
    assert OKTA in ambiguous.get_json()["reason"]
    picked = put(client, "initech", body, token, entity_id=OKTA)
    assert picked.status_code == 200 and active(app).entity_id == OKTA


def test_the_api_reports_status_and_rolls_back(app, client, token):
    add_tenant(app, "initech", samples.okta())
    put(client, "initech", samples.google(), token)
    auth = {"Authorization": f"Bearer {token}"}
    status = client.get(API.format(slug="initech"), headers=auth).get_json()
    assert status["entity_id"] == "https://accounts.google.com/o/saml2?idpid=C01a2b3c4" and status["version"] == 2
    back = client.post(API.format(slug="initech") + "/rollback", headers=auth)
    assert back.status_code == 200 and back.get_json()["version"] == 1
    assert active(app).entity_id == OKTA
    assert client.post(API.format(slug="initech") + "/rollback").status_code == 401


# --- Versions and rollback -----------------------------------------------------------------


def test_rollback_restores_the_previous_version_and_walks_back_one_step_at_a_time(app, runner, tmp_path):
    add_tenant(app, "initech", samples.okta())
    for name, xml in (("google", samples.google()), ("entra", samples.entra())):
        path = tmp_path / f"{name}.xml"
        path.write_bytes(xml)
        assert runner.invoke(args=["idp", "import", "initech", str(path)]).exit_code == 0
    assert active(app).entity_id.startswith("https://sts.windows.net/")

    first = runner.invoke(args=["idp", "rollback", "initech"])
    assert first.exit_code == 0 and "restored version 2" in first.stdout
    assert "entity ID: https://sts.windows.net/" in first.stdout
    assert active(app).entity_id == "https://accounts.google.com/o/saml2?idpid=C01a2b3c4"
    second = runner.invoke(args=["idp", "rollback", "initech"])
    assert "restored version 1" in second.stdout and active(app).entity_id == OKTA
    third = runner.invoke(args=["idp", "rollback", "initech"])
    assert third.exit_code == 1 and "no earlier IdP metadata version" in third.output
    assert active(app).entity_id == OKTA

    history = json.loads(runner.invoke(args=["idp", "versions", "initech", "--json"]).stdout)
    assert [(v["version"], v["state"]) for v in history] == [(3, "rolled_back"), (2, "rolled_back"), (1, "active")]
    assert {e.action for e in rows(app, AuditEvent)} >= {"idp.metadata_imported", "idp.metadata_rolled_back"}


def test_a_new_import_after_a_rollback_becomes_the_next_version(app, runner, tmp_path):
    add_tenant(app, "initech", samples.okta())
    path = tmp_path / "google.xml"
    path.write_bytes(samples.google())
    runner.invoke(args=["idp", "import", "initech", str(path)])
    runner.invoke(args=["idp", "rollback", "initech"])
    path.write_bytes(samples.entra())
    assert "applied as version 3" in runner.invoke(args=["idp", "import", "initech", str(path)]).stdout
    history = json.loads(runner.invoke(args=["idp", "versions", "initech", "--json"]).stdout)
    assert [(v["version"], v["state"]) for v in history] == [(3, "active"), (2, "rolled_back"), (1, "previous")]
    # Rolling back now returns to version 1, the configuration that was in use before 3.
    runner.invoke(args=["idp", "rollback", "initech"])
    assert active(app).entity_id == OKTA


def test_a_diff_made_before_someone_else_changed_the_idp_is_not_applied(app):
    from sp import clock
    from sp.idp import versions
    from sp.tenancy import tenants

    add_tenant(app, "initech", samples.okta())
    with app.app_context():
        tenant = tenants.find("initech")
        stale = versions.propose(tenant, samples.google(), now=clock.utcnow())
        versions.import_metadata(tenant, samples.entra(), origin="console", actor="ops:alice", now=clock.utcnow())
        with pytest.raises(errors.VersionConflict):
            versions.stage(stale, source="console", actor="ops:bob", now=clock.utcnow())
        with pytest.raises(errors.VersionConflict):
            versions.import_metadata(
                tenant, samples.google(), origin="console", actor="ops:bob", now=clock.utcnow(), expected_revision=1
            )
    assert active(app).entity_id.startswith("https://sts.windows.net/")
    assert len(rows(app, IdpMetadataVersion)) == 2


# --- Certificate rollover: every listed certificate is trusted -------------------------------


def test_a_login_signed_with_either_of_two_listed_certificates_succeeds(app, client, token):
    old, new, stranger = idp_builder("IdP old key"), idp_builder("IdP new key"), idp_builder("Not listed")
    add_tenant(app, "initech", old.metadata())
    refused = post_acs(client, "initech", new.b64(name_id="early@initech.example"))
    assert refused.status_code == 400 and b"saml.signature_invalid" in refused.data

    # The IdP publishes its next certificate next to the current one: both work at once.
    put(client, "initech", old.metadata(extra_certs=[new.cert_pem]), token)
    assert post_acs(client, "initech", old.b64(name_id="old@initech.example")).status_code == 303
    assert post_acs(client, "initech", new.b64(name_id="new@initech.example")).status_code == 303
    assert post_acs(client, "initech", stranger.b64(name_id="x@initech.example")).status_code == 400

    # The old certificate is retired: its signatures stop working.
    put(client, "initech", new.metadata(), token)
    assert post_acs(client, "initech", old.b64(name_id="late@initech.example")).status_code == 400
    assert sorted(u.name_id for u in rows(app, User)) == ["new@initech.example", "old@initech.example"]


# --- Status ----------------------------------------------------------------------------------


def test_status_lists_each_tenants_certificates_with_expiry_and_warnings(app, runner):
    add_tenant(app, "hooli", samples.okta(certs=(samples.cert("Okta current"), samples.cert("Okta retiring", days=12))))
    add_tenant(app, "initech", None)
    result = runner.invoke(args=["idp", "status", "--json"])
    assert result.exit_code == 0
    hooli, initech = json.loads(result.stdout)
    assert [c["subject"] for c in hooli["certificates"]] == ["CN=Okta current", "CN=Okta retiring"]
    assert hooli["certificates"][1]["days_left"] == 12
    assert any("expires in 12 days" in w for w in hooli["warnings"])
    assert hooli["version"] == 1 and hooli["source"] == "cli"
    assert initech["configured"] is False and initech["warnings"] == ["no IdP metadata imported: nobody can sign in"]

    text = runner.invoke(args=["idp", "status", "hooli"]).stdout
    assert "hooli: http://www.okta.com/exk1fxp0a1B2c3D4e5d7 (version 1, from cli)" in text
    assert "CN=Okta retiring expires" in text and "warning: certificate" in text


def test_status_warns_about_an_entity_id_two_tenants_share(app, runner):
    add_tenant(app, "hooli", samples.okta())
    add_tenant(app, "initech", samples.okta())
    [row] = json.loads(runner.invoke(args=["idp", "status", "initech", "--json"]).stdout)
    assert "the entity ID is also used by tenant 'hooli'" in row["warnings"]


def test_status_warns_about_expired_metadata(app, runner):
    add_tenant(app, "initech", samples.google(valid_until="2020-01-01T00:00:00Z"))
    [row] = json.loads(runner.invoke(args=["idp", "status", "initech", "--json"]).stdout)
    assert any("the metadata in use expired" in w for w in row["warnings"])


# --- Ops API tokens --------------------------------------------------------------------------


def test_a_token_is_printed_once_and_only_its_hash_is_stored(app, runner, client):
    created = runner.invoke(args=["ops", "token", "create", "terraform"])
    assert created.exit_code == 0
    token = created.stdout.strip()
    assert token.startswith("spops_") and len(token) > 40
    [row] = rows(app, OpsApiToken)
    assert token not in (row.token_hash, row.name) and len(row.token_hash) == 64
    assert "terraform" in runner.invoke(args=["ops", "token", "list"]).stdout
    assert token not in runner.invoke(args=["ops", "token", "list"]).stdout
    taken = runner.invoke(args=["ops", "token", "create", "terraform"])
    assert taken.exit_code == 1 and "already exists" in taken.output
    bad_name = runner.invoke(args=["ops", "token", "create", "has space"])
    assert bad_name.exit_code == 1

    add_tenant(app, "initech", None)
    assert put(client, "initech", samples.okta(), token).status_code == 200
    assert runner.invoke(args=["ops", "token", "revoke", "terraform"]).exit_code == 0
    assert put(client, "initech", samples.okta(), token).status_code == 401
    assert "revoked" in runner.invoke(args=["ops", "token", "list"]).stdout
