"""Our operators run every tenant from /ops, signed in with local accounts of their own."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from sp import clock
from sp.models import AuditEvent, OpsUser, Tenant
from sp.operators import totp
from support.consoles import OPS_PASSWORD, create_operator, ops_sign_in, ref_on, sign_in, sign_in_admin
from support.journeys import post_acs, rows


@pytest.fixture
def operator(app, client) -> str:
    """Operator 'sam', signed in to `client`."""
    create_operator(app, "sam")
    assert ops_sign_in(client).status_code == 303
    return "sam"


def operator_row(app, name: str = "sam") -> OpsUser:
    return next(o for o in rows(app, OpsUser) if o.name == name)


# --- Accounts from the CLI --------------------------------------------------------------


def test_create_user_prompts_for_the_password_twice_and_stores_only_an_argon2id_hash(app, runner):
    app.config["OPS_ARGON2_PARAMETERS"] = None  # the production parameters
    result = runner.invoke(args=["ops", "create-user", "sam"], input=f"{OPS_PASSWORD}\n{OPS_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "created operator sam" in result.output
    stored = operator_row(app)
    assert stored.password_hash.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert OPS_PASSWORD not in stored.password_hash
    assert [e.action for e in rows(app, AuditEvent)] == ["ops.user_created"]


@pytest.mark.parametrize(
    "name,password,words",
    [
        ("sam", "short", "12 to 1024 characters"),
        ("Sam Smith", OPS_PASSWORD, "is not an operator name"),
    ],
)
def test_create_user_refuses_weak_passwords_and_odd_names_in_one_line(app, runner, name, password, words):
    result = runner.invoke(args=["ops", "create-user", name, "--password", password])
    assert result.exit_code == 1 and words in result.output and "Traceback" not in result.output
    assert rows(app, OpsUser) == []


def test_create_user_refuses_a_taken_name(app, runner):
    create_operator(app, "sam")
    result = runner.invoke(args=["ops", "create-user", "sam", "--password", OPS_PASSWORD])
    assert result.exit_code == 1 and "already exists" in result.output


def test_create_user_with_totp_prints_the_secret_for_an_authenticator_app(app, runner):
    result = runner.invoke(args=["ops", "create-user", "sam", "--totp", "--password", OPS_PASSWORD])
    assert result.exit_code == 0
    secret = operator_row(app).totp_secret
    assert secret and f"TOTP secret: {secret}" in result.output and "otpauth://totp/" in result.output


# --- Signing in -------------------------------------------------------------------------


def test_ops_pages_send_signed_out_visitors_to_the_ops_sign_in(client, app):
    response = client.get("/ops/traces?result=refused")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/ops/sign-in?next=/ops/traces")


def test_an_operator_signs_in_and_out_and_the_sign_in_is_audited(client, app):
    create_operator(app, "sam")
    signed_in = ops_sign_in(client)
    assert signed_in.status_code == 303 and signed_in.headers["Location"] == "/ops/"
    assert b"Operator sam" in client.get("/ops/").data
    event = [e for e in rows(app, AuditEvent) if e.action == "ops.signed_in"][-1]
    assert (event.actor, event.tenant_id) == ("ops:sam", None)
    assert operator_row(app).last_sign_in_at is not None

    token = client.csrf_token("/ops/")
    assert client.post("/ops/sign-out", data={"csrf_token": token}).status_code == 303
    assert client.get("/ops/").status_code == 302


def test_an_operator_is_not_a_tenant_user_and_a_tenant_admin_is_not_an_operator(client, app, acme, builder, operator):
    assert client.get("/me").status_code == 401
    assert client.get("/admin/").status_code == 302

    tenant_admin = app.test_client()
    sign_in_admin(app, tenant_admin, builder, "alice@acme.example")
    assert tenant_admin.get("/ops/").status_code == 302


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(client, app):
    create_operator(app, "sam")
    wrong = ops_sign_in(client, password="not the password!")
    unknown = ops_sign_in(client, name="nobody")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.data.count(b"Wrong name, password or code") == 1
    refused = [e for e in rows(app, AuditEvent) if e.action == "ops.sign_in_refused"]
    assert [e.details["why"] for e in refused] == ["wrong password", "no such active operator"]
    assert client.get("/ops/").status_code == 302


def test_five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password(client, app, runner):
    create_operator(app, "sam")
    for _ in range(5):
        assert ops_sign_in(client, password="guess guess guess").status_code == 401
    assert ops_sign_in(client).status_code == 401
    locked = operator_row(app)
    assert locked.locked_until is not None
    assert timedelta(minutes=14) < locked.locked_until - clock.utcnow() <= timedelta(minutes=15)
    assert "ops.locked_out" in [e.action for e in rows(app, AuditEvent)]

    assert runner.invoke(args=["ops", "unlock", "sam"]).exit_code == 0
    assert ops_sign_in(client).status_code == 303


def test_a_totp_account_needs_the_current_code_once(client, app):
    secret = create_operator(app, "sam", with_totp=True)
    step = totp.step_of(clock.utcnow())
    valid = {totp.code_at(secret, s) for s in range(step - 1, step + 3)}
    wrong = next(c for c in ("000000", "111111", "222222") if c not in valid)
    assert ops_sign_in(client).status_code == 401
    assert ops_sign_in(client, code=wrong).status_code == 401
    code = totp.code_at(secret, totp.step_of(clock.utcnow()))
    assert ops_sign_in(client, code=code).status_code == 303

    replayed = app.test_client()
    assert ops_sign_in(replayed, code=code).status_code == 401  # a used code is spent


def test_totp_codes_follow_rfc_6238():
    # RFC 6238 appendix B, SHA-1 seed "12345678901234567890", 59 s and 1111111109 s.
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, 59 // 30) == "287082"
    assert totp.code_at(secret, 1111111109 // 30) == "081804"


def test_changing_the_password_ends_existing_console_sessions(client, app, operator):
    from sp.extensions import db
    from sp.operators import accounts

    with app.app_context():
        user = db.session.get(OpsUser, operator_row(app).id)
        user.password_hash = accounts.hasher().hash("a brand new long password")
        db.session.commit()
    assert client.get("/ops/").status_code == 302


# --- Tenants ----------------------------------------------------------------------------


def test_the_tenant_list_shows_certificate_expiry_and_the_last_successful_and_failed_login(
    client, app, acme, builder, operator
):
    sign_in(app.test_client(), builder, "alice@acme.example")
    post_acs(app.test_client(), acme, builder.b64(audiences=None))
    page = client.get("/ops/").data.decode()
    row = page.split('href="/ops/tenants/acme"')[1].split("</tr>")[0]
    assert "idp.acme.example" in row and "days left" in row
    assert row.count(" UTC") == 2 and "/ops/traces?tenant=acme&amp;result=refused" in row


def test_an_operator_creates_a_tenant_and_gets_its_sp_metadata(client, app, operator):
    token = client.csrf_token("/ops/new-tenant")
    created = client.post(
        "/ops/new-tenant",
        data={
            "slug": "globex",
            "name": "Globex",
            "domains": "globex.example, globex.co.uk",
            "default_group": "",
            "csrf_token": token,
        },
    )
    assert created.status_code == 303 and created.headers["Location"] == "/ops/tenants/globex"
    page = client.get("/ops/tenants/globex").data.decode()
    assert "Globex" in page and "/saml/globex/metadata?download=1" in page and "No IdP metadata" in page
    [tenant] = rows(app, Tenant)
    event = next(e for e in rows(app, AuditEvent) if e.action == "tenant.created")
    assert (tenant.slug, event.actor) == ("globex", "ops:sam")
    metadata = client.get("/saml/globex/metadata?download=1")
    assert metadata.status_code == 200 and "globex-sp-metadata.xml" in metadata.headers["Content-Disposition"]


@pytest.mark.parametrize(
    "form,status,words",
    [
        ({"slug": "Bad Slug", "name": "X"}, 400, b"not a valid slug"),
        ({"slug": "acme", "name": "Again"}, 409, b"already exists"),
        ({"slug": "fine", "name": "Fine", "domains": "acme.example"}, 409, b"already exists"),
        ({"slug": "fine", "name": "  "}, 400, b"needs a name"),
    ],
)
def test_bad_tenant_input_is_refused_with_the_form_kept(client, app, acme, operator, form, status, words):
    data = {"domains": "", "default_group": "", **form, "csrf_token": client.csrf_token("/ops/new-tenant")}
    refused = client.post("/ops/new-tenant", data=data)
    assert refused.status_code == status and words in refused.data
    assert [t.slug for t in rows(app, Tenant)] == ["acme"]


def test_an_unknown_tenant_page_is_not_found(client, operator):
    assert client.get("/ops/tenants/nobody").status_code == 404


# --- Traces and audit across tenants ------------------------------------------------------


def test_an_operator_finds_any_tenants_trace_by_reference_and_filters_by_tenant(client, app, acme, builder, operator):
    ref = ref_on(post_acs(app.test_client(), acme, builder.b64(audiences=None)).data)
    found = client.get(f"/ops/traces?ref={ref}")
    assert found.status_code == 303
    page = client.get(found.headers["Location"]).data.decode()
    assert "saml.audience_missing" in page and "Acme Corp" in page
    assert ref in client.get("/ops/traces?tenant=acme").data.decode()
    assert client.get("/ops/traces?tenant=nobody").status_code == 404


def test_the_ops_audit_log_covers_every_tenant_and_the_operators_and_exports(client, app, acme, builder, operator):
    sign_in(app.test_client(), builder, "alice@acme.example")
    page = client.get("/ops/audit").data.decode()
    assert "ops.signed_in" in page and "user.login" in page
    exported = client.get("/ops/audit/export.jsonl?tenant=acme")
    lines = [json.loads(line) for line in exported.data.decode().splitlines()]
    assert exported.headers["Content-Disposition"].endswith('acme-audit.jsonl"')
    assert lines and {e["tenant"] for e in lines} == {"acme"}
    everything = [json.loads(line) for line in client.get("/ops/audit/export.jsonl").data.decode().splitlines()]
    assert any(e["action"] == "ops.signed_in" and e["tenant"] is None for e in everything)
