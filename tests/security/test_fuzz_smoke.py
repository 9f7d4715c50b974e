"""A few examples of each fuzz target on every test run; `make fuzz` runs them for minutes (fuzz_long.py)."""

from __future__ import annotations

import fuzzing

EXAMPLES = 15


def test_random_bytes_never_break_the_acs(siege):
    fuzzing.acs_random_bytes(siege, EXAMPLES)


def test_random_saml_shaped_xml_never_breaks_the_acs(siege):
    fuzzing.acs_random_xml(siege, EXAMPLES)


def test_mutated_genuine_responses_never_break_the_acs(siege, signed):
    fuzzing.acs_mutated_genuine(siege, signed, EXAMPLES)


def test_random_bytes_never_break_the_sls(logout_siege):
    fuzzing.sls_random_bytes(logout_siege, EXAMPLES)


def test_random_saml_shaped_logout_messages_never_break_the_sls(logout_siege):
    fuzzing.sls_random_xml(logout_siege, EXAMPLES)


def test_mutated_genuine_logout_requests_never_break_the_sls(logout_siege):
    fuzzing.sls_mutated_genuine(logout_siege, EXAMPLES)


def test_random_input_never_breaks_the_metadata_importer():
    fuzzing.metadata_random(EXAMPLES)


def test_mutated_genuine_metadata_never_breaks_the_metadata_importer(builder):
    fuzzing.metadata_mutated_genuine(builder.metadata(extra_certs=[builder.cert_pem]), EXAMPLES)
