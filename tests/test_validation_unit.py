"""The Response checks (sp.saml.response) on their own, with a frozen clock: checks that python3-saml duplicates
are still ours to keep, so they are tested here without python3-saml behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sp import errors
from sp.saml import response
from sp.saml import xml as xml_core
from support.journeys import SP_BASE

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
EXPECT = response.Expectations(
    sp_entity_id=f"{SP_BASE}/saml/acme/metadata",
    acs_url=f"{SP_BASE}/saml/acme/acs",
    idp_entity_id="https://idp.acme.example/saml",
    clock_skew=timedelta(seconds=120),
    max_age=timedelta(minutes=10),
)


def check(builder, **changes):
    xml = builder.build(builder.spec(now=NOW, **changes))
    root = xml_core.parse_message(xml)
    assertion = response.check_structure(root)
    return response.check_response(root, assertion, EXPECT, NOW)


def test_a_correct_response_passes_with_the_clock_frozen_in_the_past(builder):
    facts = check(builder)
    assert facts.in_response_to is None
    # Remembered until the assertion would be refused anyway, plus the skew.
    assert facts.remember_until == NOW + timedelta(minutes=5) + timedelta(seconds=120)


@pytest.mark.parametrize(
    "changes,error",
    [
        ({"name_id": ""}, errors.NameIdMissing),
        ({"name_id": "   "}, errors.NameIdMissing),
        (
            {"issuer": "https://idp.other.example", "response_issuer": "https://idp.acme.example/saml"},
            errors.IssuerMismatch,
        ),
        ({"response_issuer": "https://idp.other.example"}, errors.IssuerMismatch),
        ({"clock_offset": timedelta(seconds=121)}, errors.IssueInstantInvalid),
        ({"clock_offset": timedelta(minutes=-20), "lifetime": timedelta(hours=1)}, errors.IssueInstantInvalid),
        ({"clock_offset": timedelta(minutes=-8), "lifetime": timedelta(minutes=5)}, errors.Expired),
        ({"status": "urn:oasis:names:tc:SAML:2.0:status:Requester"}, errors.StatusNotSuccess),
    ],
)
def test_refusals(builder, changes, error):
    with pytest.raises(error):
        check(builder, **changes)


def test_a_response_without_issuer_on_the_response_is_fine_when_the_assertion_names_the_idp(builder):
    assert check(builder, response_issuer=None).assertion_id


def test_saml_times_accept_fractions_and_refuse_offsets():
    assert response.parse_saml_time("2026-03-01T12:00:00.1234567Z") == NOW + timedelta(microseconds=123456)
    with pytest.raises(errors.SchemaInvalid):
        response.parse_saml_time("2026-03-01T12:00:00+01:00")
