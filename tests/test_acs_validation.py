"""Every check the ACS adds on top of python3-saml, each with a test that fails when it is removed.

Each refused response is validly signed by the tenant's IdP key unless the test is about the
signature, so the refusal can only come from the check under test. A positive control shows the
same builder's unmodified response logs in.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from sp import clock
from sp.extensions import db
from sp.models import AuditEvent, ReplayEntry, SamlRequest, User, UserSession
from sp.signin import outstanding
from support.journeys import SP_BASE, add_tenant, post_acs, rows, start_login
from support.keys import make_key_pair
from support.saml_builder import ResponseBuilder

ACS = f"{SP_BASE}/saml/acme/acs"
ENTITY = f"{SP_BASE}/saml/acme/metadata"


def refused(app, response, code: str, status: int = 400) -> None:
    """Assert a clean refusal with this code that wrote nothing."""
    assert response.status_code == status, response.data
    assert code.encode() in response.data
    assert b"Traceback" not in response.data
    assert rows(app, User) == []
    assert rows(app, UserSession) == []
    assert rows(app, ReplayEntry) == []
    assert [e for e in rows(app, AuditEvent) if e.action.startswith("user.")] == []


def test_control_the_unmodified_response_logs_in(client, app, acme, builder):
    assert post_acs(client, acme, builder.b64()).status_code == 303
    assert len(rows(app, User)) == 1 and len(rows(app, ReplayEntry)) == 1


# --- Replay -------------------------------------------------------------------------------


def test_the_same_assertion_posted_twice_is_refused_the_second_time(client, app, acme, builder):
    message = builder.b64()
    assert post_acs(client, acme, message).status_code == 303
    again = post_acs(app.test_client(), acme, message)
    assert again.status_code == 400 and b"saml.replay" in again.data
    assert len(rows(app, UserSession)) == 1
    assert len(rows(app, ReplayEntry)) == 1


def test_a_refused_message_never_writes_the_replay_cache(client, app, acme, builder):
    spec = builder.spec(audiences=[["https://someone-else.example/sp"]])
    refused(app, post_acs(client, acme, builder.b64(spec)), "saml.audience_mismatch")
    # The same assertion ID, now correct, is still accepted: the refusal left no trace in the cache.
    fixed = builder.spec(assertion_id=spec.assertion_id)
    assert post_acs(client, acme, builder.b64(fixed)).status_code == 303


# --- InResponseTo and IdP-initiated -------------------------------------------------------


def test_an_answer_to_a_request_this_browser_never_started_is_refused(client, app, acme, builder):
    # Login CSRF: an attacker's own IdP answer, posted from the victim's browser, finishes nothing.
    refused(app, post_acs(client, acme, builder.b64(in_response_to="_never_sent")), "saml.request_other_browser")
    request_id = start_login(app.test_client(), acme)  # another browser started this one
    refused(app, post_acs(client, acme, builder.b64(in_response_to=request_id)), "saml.request_other_browser")


def test_an_answer_to_a_request_the_database_no_longer_knows_is_refused(client, app, acme, builder):
    request_id = start_login(client, acme)
    with app.app_context():
        outstanding.purge(clock.utcnow() + timedelta(days=1))
        db.session.commit()
    refused(app, post_acs(client, acme, builder.b64(in_response_to=request_id)), "saml.request_unknown")


def test_a_request_is_answered_once(client, app, acme, builder):
    request_id = start_login(client, acme, "/a")
    assert post_acs(client, acme, builder.b64(in_response_to=request_id)).status_code == 303
    second = post_acs(client, acme, builder.b64(in_response_to=request_id, name_id="mallory@acme.example"))
    assert second.status_code == 400 and b"saml.request_reused" in second.data
    assert [u.name_id for u in rows(app, User)] == ["alice@acme.example"]


def test_an_answer_to_another_tenants_request_is_refused(client, app, acme, builder, idp_keys):
    add_tenant(app, "initech", builder.metadata().replace(b"idp.acme.example", b"idp.initech.example"))
    initech_request = start_login(client, "initech")
    refused(app, post_acs(client, acme, builder.b64(in_response_to=initech_request)), "saml.request_unknown")


def test_an_answer_to_an_expired_request_is_refused(client, app, acme, builder):
    request_id = start_login(client, acme)
    with app.app_context():
        record = db.session.get(SamlRequest, request_id)
        record.expires_at = clock.utcnow() - timedelta(seconds=1)
        db.session.commit()
    refused(app, post_acs(client, acme, builder.b64(in_response_to=request_id)), "saml.request_expired")


def test_an_unsolicited_response_is_refused_when_the_tenant_turned_idp_initiated_off(client, app, builder):
    add_tenant(app, "acme", builder.metadata(), idp_initiated=False)
    refused(app, post_acs(client, "acme", builder.b64()), "saml.unsolicited_refused")
    # The same tenant still accepts answers to its own requests.
    request_id = start_login(client, "acme")
    assert post_acs(client, "acme", builder.b64(in_response_to=request_id)).status_code == 303


def test_a_subject_confirmation_answering_another_request_is_refused(client, app, acme, builder):
    request_id = start_login(client, acme)
    spec = builder.spec(in_response_to=request_id, confirmation_in_response_to="_other")
    refused(app, post_acs(client, acme, builder.b64(spec)), "saml.in_response_to_mismatch")


# --- Destination and Recipient ------------------------------------------------------------


@pytest.mark.parametrize(
    "destination,code",
    [
        (None, "saml.destination_missing"),
        ("", "saml.destination_missing"),
        (ACS + "/extra", "saml.destination_mismatch"),  # python3-saml accepts: a prefix match
        (ACS.replace("/acme/", "/acme2/"), "saml.destination_mismatch"),
        ("https://evil.example/saml/acme/acs", "saml.destination_mismatch"),
    ],
)
def test_destination_must_be_present_and_equal_to_the_tenants_acs(client, app, acme, builder, destination, code):
    refused(app, post_acs(client, acme, builder.b64(destination=destination)), code)


@pytest.mark.parametrize(
    "recipient,code",
    [
        (None, "saml.recipient_missing"),
        ("https://evil.example/?" + ACS, "saml.recipient_mismatch"),  # python3-saml accepts: a substring match
        (ACS + "x", "saml.recipient_mismatch"),
    ],
)
def test_recipient_must_be_present_and_equal_to_the_tenants_acs(client, app, acme, builder, recipient, code):
    refused(app, post_acs(client, acme, builder.b64(recipient=recipient)), code)


# --- Audience -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audiences,code",
    [
        (None, "saml.audience_missing"),  # python3-saml accepts no AudienceRestriction
        ([["https://other.example/sp"]], "saml.audience_mismatch"),
        ([[ENTITY], ["https://other.example/sp"]], "saml.audience_mismatch"),  # every restriction must name us
    ],
)
def test_every_audience_restriction_must_name_our_entity_id(client, app, acme, builder, audiences, code):
    refused(app, post_acs(client, acme, builder.b64(audiences=audiences)), code)


def test_an_audience_restriction_listing_us_among_others_is_accepted(client, acme, builder):
    assert post_acs(client, acme, builder.b64(audiences=[["https://other.example/sp", ENTITY]])).status_code == 303


# --- Time ---------------------------------------------------------------------------------


def test_a_subject_confirmation_without_not_on_or_after_is_refused(client, app, acme, builder):
    refused(
        app, post_acs(client, acme, builder.b64(confirmation_not_on_or_after=False)), "saml.not_on_or_after_missing"
    )


def test_an_expired_assertion_is_refused(client, app, acme, builder):
    spec = builder.spec(clock_offset=timedelta(minutes=-4), lifetime=timedelta(minutes=1))
    refused(app, post_acs(client, acme, builder.b64(spec)), "saml.expired")


def test_an_idp_clock_ahead_within_the_skew_is_accepted_and_beyond_it_refused(client, app, acme, builder):
    assert post_acs(client, acme, builder.b64(clock_offset=timedelta(seconds=100))).status_code == 303
    refused_response = post_acs(app.test_client(), acme, builder.b64(clock_offset=timedelta(seconds=200)))
    assert refused_response.status_code == 400 and b"saml.issue_instant" in refused_response.data


def test_the_clock_skew_is_a_per_tenant_setting(client, app, builder):
    add_tenant(app, "acme", builder.metadata(), clock_skew=10)
    refused(app, post_acs(client, "acme", builder.b64(clock_offset=timedelta(seconds=60))), "saml.issue_instant")


def test_an_ancient_issue_instant_is_refused_even_with_a_far_expiry(client, app, acme, builder):
    spec = builder.spec(clock_offset=timedelta(hours=-2), lifetime=timedelta(days=1))
    refused(app, post_acs(client, acme, builder.b64(spec)), "saml.issue_instant")


# --- Signature ----------------------------------------------------------------------------


def test_an_unsigned_response_is_refused(client, app, acme, builder):
    refused(
        app, post_acs(client, acme, builder.b64(sign_assertion=False, sign_response=False)), "saml.signature_missing"
    )


def test_sha1_signatures_are_refused(client, app, acme, builder):
    refused(app, post_acs(client, acme, builder.b64(sign_alg="rsa-sha1", digest_alg="sha1")), "saml.weak_algorithm")


def test_a_response_signed_by_a_key_not_in_the_metadata_is_refused(client, app, acme):
    stranger = ResponseBuilder(
        *make_key_pair("Stranger"), entity_id="https://idp.acme.example/saml", sp_base=SP_BASE, slug="acme"
    )
    refused(app, post_acs(client, acme, stranger.b64()), "saml.signature_invalid")


def test_content_changed_after_signing_is_refused(client, app, acme, builder):
    xml = builder.build(attributes={"email": ["alice@acme.example"], "role": ["user"]})
    tampered = xml.replace(b">user<", b">admin<")
    assert tampered != xml
    import base64

    refused(app, post_acs(client, acme, base64.b64encode(tampered).decode()), "saml.signature_invalid")


# --- Identity -----------------------------------------------------------------------------


def test_an_empty_name_id_is_refused(client, app, acme, builder):
    refused(app, post_acs(client, acme, builder.b64(name_id="")), "saml.name_id_missing")


def test_an_issuer_other_than_the_tenants_idp_is_refused(client, app, acme, builder):
    refused(app, post_acs(client, acme, builder.b64(issuer="https://idp.other.example")), "saml.issuer_mismatch")


def test_the_tenant_comes_from_the_url_not_the_issuer(client, app, acme, builder):
    # initech trusts a different IdP; acme's genuine response posted to initech's ACS acts on nobody.
    other = ResponseBuilder(
        *make_key_pair("Initech IdP"), entity_id="https://idp.initech.example", sp_base=SP_BASE, slug="initech"
    )
    add_tenant(app, "initech", other.metadata())
    refused(app, post_acs(client, "initech", builder.b64()), "saml.issuer_mismatch")
    # Even re-addressed to initech, acme's IdP is not initech's.
    spec = builder.spec(destination=other.acs_url, recipient=other.acs_url, audiences=[[other.sp_entity_id]])
    refused(app, post_acs(client, "initech", builder.b64(spec)), "saml.issuer_mismatch")


def test_a_non_success_status_is_refused_with_the_idps_reason(client, app, acme, builder):
    spec = builder.spec(status="urn:oasis:names:tc:SAML:2.0:status:Responder")
    refused(app, post_acs(client, acme, builder.b64(spec)), "saml.status_not_success")


def test_a_deactivated_user_is_refused(client, app, acme, builder):
    assert post_acs(client, acme, builder.b64()).status_code == 303
    from sp.extensions import db

    with app.app_context():
        user = db.session.scalars(db.select(User)).one()
        user.active = False
        db.session.commit()
    again = post_acs(app.test_client(), acme, builder.b64())
    assert again.status_code == 403 and b"user.deactivated" in again.data
    assert len(rows(app, UserSession)) == 1  # only the first login's session


# --- Malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value,code",
    [
        (None, "saml.malformed"),
        ("", "saml.malformed"),
        ("not base64!!", "saml.malformed"),
        ("PGZvbw", "saml.malformed"),  # base64 of '<foo' without padding
        ("bm90IHhtbCBhdCBhbGw=", "saml.malformed"),  # 'not xml at all'
        ("PGZvby8+", "saml.malformed"),  # '<foo/>': XML, not a SAML Response
    ],
)
def test_malformed_input_is_a_clean_400(client, app, acme, value, code):
    data = {} if value is None else {"SAMLResponse": value}
    refused(app, client.post(f"/saml/{acme}/acs", data=data), code)


def test_a_dtd_is_refused_before_anything_else(client, app, acme, builder):
    import base64

    xml = builder.build()
    doctype = b'<!DOCTYPE r [<!ENTITY x "boom">]>'
    hostile = xml.replace(b"<samlp:Response", doctype + b"<samlp:Response", 1)
    refused(app, post_acs(client, acme, base64.b64encode(hostile).decode()), "saml.forbidden_markup")


def test_an_oversized_response_is_refused(client, app, acme):
    app.config["SAML_MAX_RESPONSE_BYTES"] = 1000
    refused(app, post_acs(client, acme, "A" * 8000), "saml.too_large", status=413)


def test_errors_never_echo_the_input(client, app, acme, builder):
    spec = builder.spec(destination="https://evil.example/<script>alert(1)</script>")
    response = post_acs(client, acme, builder.b64(spec))
    assert response.status_code == 400
    assert b"<script>" not in response.data and b"evil.example" not in response.data


def test_an_unknown_tenant_is_a_404(client, builder):
    response = post_acs(client, "nobody", builder.b64())
    assert response.status_code == 404 and b"tenant.not_found" in response.data


def test_a_signed_response_that_breaks_the_saml_schema_is_refused(client, app, acme, builder):
    import base64

    from lxml import etree

    from support.saml_builder import SAML

    root = builder.build_tree(builder.spec(sign_assertion=False, sign_response=False))
    assertion = root.find(f"{{{SAML}}}Assertion")
    assertion.append(etree.Element(f"{{{SAML}}}NotInTheSchema"))
    builder.sign(assertion)
    builder.sign(root)
    hostile = base64.b64encode(etree.tostring(root)).decode()
    refused(app, post_acs(client, acme, hostile), "saml.schema_invalid")
