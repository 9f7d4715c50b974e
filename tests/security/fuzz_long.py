"""`make fuzz`: every fuzz target for a share of FUZZ_SECONDS (default 90), in rounds of fresh random examples.

Not collected by `make test` (the file name does not start with test_); run it by path:
`FUZZ_SECONDS=300 .venv/bin/python -m pytest tests/security/fuzz_long.py`.
"""

from __future__ import annotations

import os
import time

import fuzzing
import pytest

TARGETS = 8
BUDGET = float(os.environ.get("FUZZ_SECONDS", "90")) / TARGETS
ROUND = 40


@pytest.fixture(autouse=True)
def report(request, capsys):
    started = time.monotonic()
    yield
    with capsys.disabled():
        examples = getattr(request.node, "examples", "?")
        print(f"\n{request.node.name}: {examples} examples in {time.monotonic() - started:.0f} s", end="")


def _for_a_while(run) -> int:
    deadline = time.monotonic() + BUDGET
    rounds = 0
    while time.monotonic() < deadline:
        run()
        rounds += 1
    return rounds * ROUND


def test_acs_random_bytes(request, siege):
    request.node.examples = _for_a_while(lambda: fuzzing.acs_random_bytes(siege, ROUND))


def test_acs_random_xml(request, siege):
    request.node.examples = _for_a_while(lambda: fuzzing.acs_random_xml(siege, ROUND))


def test_acs_mutated_genuine(request, siege, signed):
    request.node.examples = _for_a_while(lambda: fuzzing.acs_mutated_genuine(siege, signed, ROUND))


def test_sls_random_bytes(request, logout_siege):
    request.node.examples = _for_a_while(lambda: fuzzing.sls_random_bytes(logout_siege, ROUND))


def test_sls_random_xml(request, logout_siege):
    request.node.examples = _for_a_while(lambda: fuzzing.sls_random_xml(logout_siege, ROUND))


def test_sls_mutated_genuine(request, logout_siege):
    request.node.examples = _for_a_while(lambda: fuzzing.sls_mutated_genuine(logout_siege, ROUND))


def test_metadata_random(request):
    request.node.examples = _for_a_while(lambda: fuzzing.metadata_random(ROUND))


def test_metadata_mutated_genuine(request, builder):
    genuine = builder.metadata(extra_certs=[builder.cert_pem])
    request.node.examples = _for_a_while(lambda: fuzzing.metadata_mutated_genuine(genuine, ROUND))
