"""Protocol attacks: replay, InResponseTo games, unsolicited responses, audience, Destination/Recipient, time, status.

Most of these messages are genuinely signed by the test IdP yet wrong (an IdP answering another
SP, a message captured earlier...): the signature alone must never be enough.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tamper
from siege import set_tenant
from sqlalchemy import update
from tamper import NS

from sp.extensions import db
from sp.models import SamlRequest, User
from support.journeys import SP_BASE, start_login

ACS = f"{SP_BASE}/saml/acme/acs"
ENTITY = f"{SP_BASE}/saml/acme/metadata"
OTHER_SP = "https://other-sp.example/saml/metadata"
OTHER_ACS = "https://other-sp.example/saml/acs"


# --- Replay --------------------------------------------------------------------------------------


def test_a_replay_in_the_same_process_is_refused_whichever_browser_sends_it(siege, signed, app):
    genuine = signed()
    siege.accepted(genuine)
    siege.refused(genuine, "saml.replay")
    siege.refused(genuine, "saml.replay", client=app.test_client())


def test_a_replay_to_another_instance_is_refused(siege, signed, instance):
    genuine = signed()
    siege.accepted(genuine)
    other = instance()
    siege_there = type(siege)(other, other.test_client(), siege.builder)
    siege_there.refused(genuine, "saml.replay")


def test_a_replay_from_another_process_is_refused(siege, signed, app):
    genuine = signed()
    siege.accepted(genuine)
    before = siege.state()
    script = textwrap.dedent("""
        import base64, json, sys
        sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
        from sp import create_app
        config = json.loads(sys.argv[2])
        app = create_app(config)
        answer = app.test_client().post("/saml/acme/acs", base_url=config["SP_BASE_URL"],
                                        data={"SAMLResponse": sys.argv[3]}, headers={"Accept": "application/json"})
        print(json.dumps({"status": answer.status_code, "body": answer.get_json()}))
    """)
    keys = ("SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "SP_BASE_URL", "SAML_SETTINGS_DIR")
    config = {key: app.config[key] for key in keys} | {"TESTING": True, "RATELIMIT_ENABLED": False}
    root = str(Path(__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", script, root, json.dumps(config), tamper.b64(genuine)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert (answer["status"], answer["body"]["error"]) == (400, "saml.replay"), done.stderr[-2000:]
    assert siege.state() == before


def test_a_login_refused_after_every_check_still_leaves_the_replay_cache_untouched(siege, signed, app):
    # The last refusal (a deactivated user) happens after the replay key was inserted: it must roll back.
    siege.accepted(signed(assertion_id="_first"))
    with app.app_context():
        db.session.execute(update(User).values(active=False))
        db.session.commit()
    siege.client.post("/logout", data={"csrf_token": siege.client.csrf_token("/login")})
    again = signed(assertion_id="_second")
    siege.refused(again, "user.deactivated", status=403)
    with app.app_context():
        db.session.execute(update(User).values(active=True))
        db.session.commit()
    siege.accepted(again)


# --- InResponseTo --------------------------------------------------------------------------------


def test_an_answer_to_a_request_nobody_sent_is_refused(siege, signed):
    start_login(siege.client, "acme")
    genuine = signed(in_response_to="_never_sent")
    siege.refused(genuine, "saml.request_other_browser")


def test_an_answer_to_a_request_already_answered_is_refused_and_writes_nothing(siege, signed):
    request_id = start_login(siege.client, "acme")
    siege.accepted(signed(in_response_to=request_id))
    siege.refused(signed(in_response_to=request_id), "saml.request_reused")


def test_an_answer_to_an_expired_request_is_refused(siege, signed, app):
    request_id = start_login(siege.client, "acme")
    with app.app_context():
        db.session.execute(update(SamlRequest).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
        db.session.commit()
    siege.refused(signed(in_response_to=request_id), "saml.request_expired")


def test_an_answer_to_another_tenants_request_is_refused(siege, signed, app, builder):
    from support.journeys import add_tenant

    add_tenant(app, "globex", builder.metadata())
    globex_request = start_login(siege.client, "globex")
    siege.refused(signed(in_response_to=globex_request), "saml.request_unknown")
    siege.accepted(signed(in_response_to=start_login(siege.client, "acme")))


def test_subject_confirmation_answering_another_request_is_refused(siege, signed):
    request_id = start_login(siege.client, "acme")
    siege.refused(
        signed(in_response_to=request_id, confirmation_in_response_to="_other"), "saml.in_response_to_mismatch"
    )
    siege.refused(signed(in_response_to=request_id, confirmation_in_response_to=None), "saml.in_response_to_mismatch")
    siege.accepted(signed(in_response_to=request_id))


def test_an_unsolicited_response_is_refused_when_idp_initiated_login_is_off(siege, signed, app):
    set_tenant(app, "acme", idp_initiated=False)
    siege.refused(signed(), "saml.unsolicited_refused")
    siege.accepted(signed(in_response_to=start_login(siege.client, "acme")))


def test_an_unsolicited_assertion_cannot_be_passed_off_as_an_answer_by_adding_in_response_to(siege, signed, app):
    # Only the assertion is signed, so the Response's InResponseTo is the attacker's to set; the
    # signed SubjectConfirmationData (which has none) must agree with it.
    set_tenant(app, "acme", idp_initiated=False)
    request_id = start_login(siege.client, "acme")
    unsolicited = signed(sign_response=False)
    unsolicited.set("InResponseTo", request_id)
    siege.refused(unsolicited, "saml.in_response_to_mismatch")
    siege.accepted(signed(sign_response=False, in_response_to=request_id))


# --- Audience ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "audiences,code",
    [
        (None, "saml.audience_missing"),
        ([[]], "saml.audience_mismatch"),
        ([[OTHER_SP]], "saml.audience_mismatch"),
        ([[ENTITY], [OTHER_SP]], "saml.audience_mismatch"),
        ([[ENTITY + "/"]], "saml.audience_mismatch"),
        ([[ENTITY.upper()]], "saml.audience_mismatch"),
    ],
    ids=["missing", "empty", "another_sp", "second_restriction_not_us", "trailing_slash", "case"],
)
def test_an_audience_that_does_not_name_us_is_refused(siege, signed, audiences, code):
    siege.refused(signed(audiences=audiences), code)
    siege.accepted(signed())


def test_one_of_several_audiences_is_accepted_only_when_the_response_is_addressed_to_us(siege, signed):
    shared = [[OTHER_SP, ENTITY]]
    # Issued for the other SP (which lists us too), and replayed to us by it:
    siege.refused(signed(audiences=shared, destination=OTHER_ACS, recipient=OTHER_ACS), "saml.destination_mismatch")
    forwarded = signed(audiences=shared, destination=OTHER_ACS, recipient=OTHER_ACS, sign_response=False)
    forwarded.set("Destination", ACS)  # unsigned when only the assertion is signed
    siege.refused(forwarded, "saml.recipient_mismatch")
    siege.accepted(signed(audiences=shared))


# --- Destination and Recipient -------------------------------------------------------------------

TRICKS = {
    "suffix": ACS + "/../../other/acs",
    "prefix_match": ACS + "x",
    "query": ACS + "?next=/",
    "substring": "https://evil.example/?" + ACS,
    "other_tenant": f"{SP_BASE}/saml/acmex/acs",
    "scheme": ACS.replace("https://", "http://"),
    "case": ACS.upper(),
    "whitespace": " " + ACS,
}


@pytest.mark.parametrize("trick", list(TRICKS))
def test_a_destination_that_is_not_exactly_our_acs_is_refused(siege, signed, trick):
    siege.refused(signed(destination=TRICKS[trick]), "saml.destination_mismatch")
    siege.accepted(signed())


@pytest.mark.parametrize("trick", list(TRICKS))
def test_a_recipient_that_is_not_exactly_our_acs_is_refused(siege, signed, trick):
    siege.refused(signed(recipient=TRICKS[trick]), "saml.recipient_mismatch")
    siege.accepted(signed())


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_or_empty_destination_is_refused(siege, signed, value):
    siege.refused(signed(destination=value), "saml.destination_missing")


@pytest.mark.parametrize("value", [None, ""])
def test_a_missing_or_empty_recipient_is_refused(siege, signed, value):
    siege.refused(signed(recipient=value), "saml.recipient_missing")


def test_a_destination_changed_after_signing_is_refused(siege, signed):
    genuine = signed(sign_assertion=False)
    evil = tamper.clone(genuine)
    evil.set("Destination", ACS + "?")
    siege.attack(genuine, evil, "saml.destination_mismatch")


# --- Time ----------------------------------------------------------------------------------------


def _ago(**delta) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def test_an_expired_assertion_is_refused(siege, signed):
    siege.refused(signed(now=_ago(minutes=8), lifetime=timedelta(minutes=5)), "saml.expired")
    siege.accepted(signed(now=_ago(minutes=4), lifetime=timedelta(minutes=5)))


def test_an_assertion_not_valid_yet_is_refused(siege, signed):
    genuine = signed()
    evil = tamper.clone(genuine)
    conditions = tamper.assertion(evil).find("saml:Conditions", NS)
    conditions.set("NotBefore", (datetime.now(UTC) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    siege.attack(genuine, evil, "saml.not_yet_valid")


def test_an_assertion_issued_in_the_future_is_refused(siege, signed):
    siege.refused(signed(clock_offset=timedelta(minutes=10)), "saml.issue_instant")
    siege.accepted(signed(clock_offset=timedelta(seconds=60)))  # within the tenant's clock skew


def test_an_assertion_without_any_not_on_or_after_is_refused(siege, signed):
    siege.refused(signed(confirmation_not_on_or_after=False), "saml.not_on_or_after_missing")
    siege.refused(
        signed(confirmation_not_on_or_after=False, conditions_not_on_or_after=False), "saml.not_on_or_after_missing"
    )


def test_an_ancient_assertion_with_a_long_lifetime_is_refused(siege, signed):
    siege.refused(signed(now=_ago(days=1), lifetime=timedelta(days=2)), "saml.issue_instant")
    siege.refused(signed(now=_ago(minutes=15), lifetime=timedelta(hours=1)), "saml.issue_instant")


@pytest.mark.parametrize(
    "value",
    [
        "2024-13-45T10:00:00Z",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "2030-01-01T00:00:00+01:00",
        "tomorrow",
        "2030-02-30T00:00:00Z",
    ],
)
@pytest.mark.parametrize("where", ["IssueInstant", "NotOnOrAfter", "SessionNotOnOrAfter"])
def test_a_nonsense_date_is_a_clean_refusal_never_a_crash(siege, signed, value, where):
    genuine = signed()
    evil = tamper.clone(genuine)
    element = {
        "IssueInstant": tamper.assertion(evil),
        "NotOnOrAfter": tamper.assertion(evil).find("saml:Conditions", NS),
        "SessionNotOnOrAfter": tamper.assertion(evil).find("saml:AuthnStatement", NS),
    }[where]
    element.set(where, value)
    siege.attack(genuine, evil, "saml.schema_invalid")


# --- Status, subject, sizes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status",
    [
        "urn:oasis:names:tc:SAML:2.0:status:Requester",
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "urn:example:made-up",
    ],
)
def test_a_response_whose_status_is_not_success_is_refused(siege, signed, status):
    siege.refused(signed(status=status), "saml.status_not_success")


@pytest.mark.parametrize("name_id", ["", "   ", "\n\t"])
def test_an_empty_name_id_is_refused(siege, signed, name_id):
    siege.refused(signed(name_id=name_id), "saml.name_id_missing")


def test_values_longer_than_we_store_are_refused_not_truncated_or_crashed(siege, signed):
    siege.refused(signed(name_id="a" * 600 + "@acme.example"), "saml.value_too_long")
    siege.refused(signed(session_index="_" + "s" * 300), "saml.value_too_long")
    siege.refused(signed(name_id_format="urn:" + "f" * 300), "saml.value_too_long")
    siege.accepted(signed(name_id="b" * 400 + "@acme.example"), "b" * 400 + "@acme.example")


@pytest.mark.parametrize("who", ["assertion", "response"])
def test_a_genuinely_signed_response_naming_another_issuer_is_refused(siege, signed, who):
    if who == "assertion":
        message = signed(issuer="https://idp.globex.example/saml", response_issuer=siege.builder.entity_id)
    else:
        message = signed(response_issuer="https://idp.globex.example/saml")
    siege.refused(message, "saml.issuer_mismatch")
