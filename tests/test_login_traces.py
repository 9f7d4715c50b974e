"""Every ACS attempt leaves a login trace that says, in plain words, what to fix."""

from __future__ import annotations

import json
from datetime import timedelta

from sp import clock
from sp.extensions import db
from sp.models import AuditEvent, LoginTrace, ReplayEntry, User, UserSession
from sp.records import traces
from support.consoles import ref_on, sign_in
from support.journeys import add_tenant, post_acs, rows, start_login
from support.keys import make_key_pair
from support.saml_builder import ResponseBuilder


def only_trace(app) -> LoginTrace:
    [trace] = rows(app, LoginTrace)
    return trace


def test_a_successful_sp_initiated_login_leaves_a_trace_with_what_the_idp_sent(client, app, acme, builder):
    request_id = start_login(client, acme)
    landed = post_acs(
        client,
        acme,
        builder.b64(
            in_response_to=request_id,
            clock_offset=timedelta(seconds=-4),
            attributes={"email": ["alice@acme.example"], "dept": ["R&D", "Ops"]},
        ),
    )
    assert landed.status_code == 303

    trace = only_trace(app)
    assert (trace.flow, trace.result, trace.code) == ("sp", "success", "ok")
    assert trace.reason == "signed in as alice@acme.example; created just in time"
    assert trace.idp_entity_id == builder.entity_id and trace.name_id == "alice@acme.example"
    assert trace.attributes == {"email": ["alice@acme.example"], "dept": ["R&D", "Ops"]}
    assert -6 <= trace.clock_difference_seconds <= -3
    assert trace.verifying_certificate == only_certificate_fingerprint(app)
    assert trace.group_decision == "No access: the default group for new users"
    [user] = rows(app, User)
    assert trace.user_id == user.id and len(trace.ref) == traces.REF_LENGTH


def only_certificate_fingerprint(app) -> str:
    from sp.models import IdentityProvider

    [idp] = rows(app, IdentityProvider)
    [cert] = idp.certificates
    return cert["sha256"]


def test_a_refused_login_leaves_its_trace_and_nothing_else_and_the_error_page_shows_the_reference(
    client, app, acme, builder
):
    refused = post_acs(client, acme, builder.b64(destination="https://sp.example.com/saml/other/acs"))
    assert refused.status_code == 400

    trace = only_trace(app)
    assert ref_on(refused.data) == trace.ref
    assert (trace.flow, trace.result, trace.code) == ("idp", "refused", "saml.destination_mismatch")
    assert trace.reason == (
        "the IdP sent the response to https://sp.example.com/saml/other/acs but this tenant's ACS "
        "is https://sp.example.com/saml/acme/acs"
    )
    assert trace.name_id is None and trace.attributes == {}  # never read from an unverified message
    assert rows(app, User) == [] and rows(app, ReplayEntry) == [] and rows(app, UserSession) == []
    assert [e.action for e in rows(app, AuditEvent)] == ["tenant.created", "idp.metadata_imported"]


def test_the_json_error_carries_the_reference(client, app, acme, builder):
    refused = client.post(
        f"/saml/{acme}/acs", data={"SAMLResponse": "not base64!"}, headers={"Accept": "application/json"}
    )
    assert refused.status_code == 400
    body = refused.get_json()
    assert body["error"] == "saml.malformed" and body["ref"] == only_trace(app).ref
    assert only_trace(app).flow == "unknown"


def test_a_response_signed_with_a_certificate_missing_from_the_metadata_names_both_fingerprints(
    client, app, acme, builder
):
    rogue_key, rogue_cert = make_key_pair("Rolled-over IdP key")
    rogue = ResponseBuilder(rogue_key, rogue_cert, entity_id=builder.entity_id, sp_base=builder.sp_base, slug=acme)
    refused = post_acs(client, acme, rogue.b64())
    assert refused.status_code == 400

    trace = only_trace(app)
    assert trace.code == "saml.signature_invalid"
    from sp.saml.certificates import pem_fingerprint

    rogue_fp, trusted_fp = pem_fingerprint(rogue_cert.decode()), only_certificate_fingerprint(app)
    assert trace.reason.startswith(
        f"the response was signed by a certificate that is not in the uploaded metadata: fingerprint {rogue_fp}, "
        f"the metadata lists {trusted_fp} (expires "
    )
    assert "upload its current metadata" in trace.reason
    assert trace.verifying_certificate is None


def test_a_response_changed_after_signing_says_so(client, app, acme, builder):
    xml = builder.build().replace(b"alice@acme.example</saml:NameID>", b"mallory@acme.example</saml:NameID>")
    import base64

    refused = post_acs(client, acme, base64.b64encode(xml).decode())
    assert refused.status_code == 400
    reason = only_trace(app).reason
    assert "does not verify with the certificate it names" in reason and "changed after it was signed" in reason


def test_an_idp_clock_seven_minutes_ahead_is_reported_as_such(client, app, acme, builder):
    post_acs(client, acme, builder.b64(clock_offset=timedelta(minutes=7)))
    trace = only_trace(app)
    assert trace.code == "saml.issue_instant"
    assert "the IdP's clock is 7 minutes ahead of ours" in trace.reason
    assert 415 <= trace.clock_difference_seconds <= 425


def test_a_login_without_any_email_succeeds_and_its_trace_says_what_the_idp_sent(client, app, acme, builder):
    # A bare NameID is a valid login; the admin still learns why the user has no email.
    landed = post_acs(
        client,
        acme,
        builder.b64(
            name_id="8f2a-77",
            name_id_format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            attributes={"givenName": ["Alice"], "groups": ["eng", "ops", "sales"]},
        ),
    )
    assert landed.status_code == 303
    trace = only_trace(app)
    assert trace.code == "ok"
    assert trace.reason.startswith(
        "signed in as 8f2a-77; created just in time; but no email attribute; the IdP sent: NameID '8f2a-77'; "
        "givenName=['Alice']; groups=['eng', 'ops', …]"
    )
    assert trace.name_id == "8f2a-77" and trace.attributes["groups"] == ["eng", "ops", "sales"]
    [user] = rows(app, User)
    assert user.email is None


def test_an_unsolicited_response_for_a_tenant_with_idp_initiated_off_is_traced(client, app, builder):
    add_tenant(app, "acme", builder.metadata(), idp_initiated=False)
    refused = post_acs(client, "acme", builder.b64())
    trace = only_trace(app)
    assert ref_on(refused.data) == trace.ref
    assert trace.code == "saml.unsolicited_refused" and "turned off" in trace.reason


def test_a_deactivated_user_is_refused_and_traced(client, app, acme, builder):
    sign_in(client, builder, "alice@acme.example")
    with app.app_context():
        from sp.tenancy import users

        user = users.by_name_id(rows(app, User)[0].tenant_id, "alice@acme.example")
        users.deactivate(user, actor="cli", now=clock.utcnow())
    post_acs(client, acme, builder.b64())
    latest = sorted(rows(app, LoginTrace), key=lambda t: t.time)[-1]
    assert (latest.result, latest.code) == ("refused", "user.deactivated")


def test_attributes_are_capped_before_they_are_stored(client, app, acme, builder):
    many = {f"a{i}": [f"v{j}" * 150 for j in range(12)] for i in range(45)}
    many["email"] = ["alice@acme.example"]
    assert post_acs(client, acme, builder.b64(attributes=many)).status_code == 303
    stored = only_trace(app).attributes
    assert len(stored) == traces.MAX_ATTRIBUTES
    assert all(len(values) <= traces.MAX_VALUES for values in stored.values())
    assert all(len(value) <= traces.MAX_TEXT for values in stored.values() for value in values)


def test_a_trace_keeps_no_message_cookie_or_key(client, app, acme, builder):
    request_id = start_login(client, acme)
    landed = post_acs(client, acme, builder.b64(in_response_to=request_id))
    cookie = landed.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    with app.app_context():
        stored = json.dumps(traces.as_json(only_trace(app)))
    assert cookie not in stored and "PRIVATE KEY" not in stored and "SignatureValue" not in stored


def test_references_are_found_however_they_are_typed_and_not_when_malformed(app, client, acme, builder):
    post_acs(client, acme, builder.b64(audiences=None))
    ref = only_trace(app).ref
    with app.app_context():
        assert traces.find(f" {ref[:5].upper()}-{ref[5:]} ").ref == ref
        assert traces.find("nope") is None and traces.find("") is None and traces.find("0" * 10) is None


def test_old_traces_are_purged_after_the_retention_period(app, client, acme, builder, runner):
    post_acs(client, acme, builder.b64(audiences=None))
    with app.app_context():
        assert traces.purge(clock.utcnow() + timedelta(days=29), 30) == 0
        assert traces.purge(clock.utcnow() + timedelta(days=31), 30) == 1
        db.session.commit()
    post_acs(client, acme, builder.b64(audiences=None))
    app.config["TRACE_RETENTION_DAYS"] = 0
    result = runner.invoke(args=["saml", "purge"])
    assert result.exit_code == 0 and "1 old login traces" in result.output
    assert rows(app, LoginTrace) == []


# --- The support CLI --------------------------------------------------------------------


def test_trace_list_prints_a_tenants_traces_newest_first_as_json(app, client, acme, builder, runner):
    sign_in(client, builder, "alice@acme.example")
    post_acs(client, acme, builder.b64(audiences=None))
    result = runner.invoke(args=["trace", "list", acme, "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [t["result"] for t in listed] == ["refused", "success"]
    assert {"ref", "tenant", "time", "flow", "result", "code", "reason"} <= set(listed[0])
    assert listed[0]["tenant"] == acme and listed[0]["code"] == "saml.audience_missing"

    limited = json.loads(runner.invoke(args=["trace", "list", acme, "--limit", "1", "--json"]).output)
    assert [t["ref"] for t in limited] == [listed[0]["ref"]]
    text = runner.invoke(args=["trace", "list", acme]).output
    assert listed[0]["ref"] in text and "saml.audience_missing" in text


def test_trace_show_finds_the_reference_from_the_error_page(app, client, acme, builder, runner):
    ref = ref_on(post_acs(client, acme, builder.b64(audiences=None)).data)
    shown = json.loads(runner.invoke(args=["trace", "show", ref.upper(), "--json"]).output)
    assert shown["ref"] == ref and shown["tenant"] == acme and shown["code"] == "saml.audience_missing"
    assert "AudienceRestriction" in shown["reason"]
    assert "reason:" in runner.invoke(args=["trace", "show", ref]).output


def test_trace_commands_refuse_unknown_tenants_and_references_in_one_line(runner, app):
    unknown_ref = runner.invoke(args=["trace", "show", "zzzzzzzzzz"])
    assert unknown_ref.exit_code == 1 and "no login trace" in unknown_ref.output
    unknown_tenant = runner.invoke(args=["trace", "list", "nobody"])
    assert unknown_tenant.exit_code == 1 and "Traceback" not in unknown_tenant.output
