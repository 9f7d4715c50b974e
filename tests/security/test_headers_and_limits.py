"""Security headers on every kind of response, and the per-IP rate limits on login and ACS."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import tamper

REDIS_SERVER = shutil.which("redis-server")
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def _responses(client, signed):
    """One response of every kind the SP gives: page, redirect, JSON, static, 4xx pages and JSON errors."""
    yield "login page", client.get("/login")
    yield "redirect to the IdP", client.get("/saml/acme/login")
    yield "metadata", client.get("/saml/acme/metadata")
    yield "static file", client.get("/static/app.css")
    yield "401 JSON", client.get("/me")
    yield "404 page", client.get("/nowhere")
    yield "404 tenant", client.get("/saml/nobody/login")
    yield "405", client.get("/saml/acme/acs")
    yield "400 SAML refusal", client.post("/saml/acme/acs", data={"SAMLResponse": "!!"})
    yield (
        "400 SAML refusal as JSON",
        client.post("/saml/acme/acs", data={"SAMLResponse": "!!"}, headers={"Accept": "application/json"}),
    )
    yield "413", client.post("/saml/acme/acs", data={"SAMLResponse": "A" * (1024 * 1024 + 1)})
    yield "400 CSRF", client.post("/login", data={"email": "a@acme.example"})
    yield "303 after login", client.post("/saml/acme/acs", data={"SAMLResponse": tamper.b64(signed())})
    yield "dashboard", client.get("/")


def test_every_response_forbids_framing_sniffing_and_inline_script(client, acme, signed):
    for what, response in _responses(client, signed):
        csp = response.headers.get("Content-Security-Policy", "")
        directives = dict((part.strip().split(" ", 1) + [""])[:2] for part in csp.split(";") if part.strip())
        assert directives.get("frame-ancestors") == "'none'", what
        assert "unsafe-inline" not in directives.get("script-src", "unsafe-inline"), what
        assert directives.get("default-src") == "'self'", what
        assert response.headers.get("X-Content-Type-Options") == "nosniff", what
        assert response.headers.get("X-Frame-Options") == "DENY", what
        assert response.headers.get("Strict-Transport-Security", "").startswith("max-age="), what
        response.close()


def test_no_hsts_when_the_sp_is_served_over_plain_http(instance):
    http = instance(SP_BASE_URL="http://127.0.0.1:5000")
    response = http.test_client().get("/login", base_url="http://127.0.0.1:5000")
    assert "Strict-Transport-Security" not in response.headers
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_template_carries_inline_script_or_event_handlers():
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), template
        assert not re.search(r"\son[a-z]+\s*=", text, re.IGNORECASE), template
        assert "javascript:" not in text.lower(), template


# --- Rate limits ---------------------------------------------------------------------------------


def _limited(instance, **overrides):
    # A window opens at a client's first request and lasts an hour: however slow the machine, a
    # test's few requests fall in one window (with "per minute", a minute's stall would reset the count).
    return instance(RATELIMIT_ENABLED=True, RATELIMIT_ACS="3 per hour", RATELIMIT_LOGIN="3 per hour", **overrides)


def _acs(client, ip="203.0.113.7", **headers):
    return client.post("/saml/acme/acs", data={"SAMLResponse": "!!"}, environ_base={"REMOTE_ADDR": ip}, headers=headers)


def test_the_acs_answers_429_with_a_clean_page_after_the_limit(instance, acme):
    client = _limited(instance).test_client()
    assert [_acs(client).status_code for _ in range(3)] == [400, 400, 400]
    refused = _acs(client)
    assert refused.status_code == 429
    assert b"Error code: <code>request.rate_limited</code>" in refused.data
    assert b"3 per 1 hour" not in refused.data
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-Frame-Options"] == "DENY"
    as_json = _acs(client, Accept="application/json")
    assert (as_json.status_code, as_json.get_json()["error"]) == (429, "request.rate_limited")


def test_limits_are_per_client_ip(instance, acme):
    client = _limited(instance).test_client()
    for _ in range(3):
        _acs(client, ip="203.0.113.7")
    assert _acs(client, ip="203.0.113.7").status_code == 429
    assert _acs(client, ip="198.51.100.9").status_code == 400


def test_x_forwarded_for_counts_only_behind_trusted_proxies(instance, acme):
    direct = _limited(instance).test_client()
    for n in range(4):  # a client cannot dodge the limit by claiming another address
        answer = _acs(direct, **{"X-Forwarded-For": f"192.0.2.{n}"})
    assert answer.status_code == 429
    proxied = _limited(instance, TRUSTED_PROXIES=1).test_client()
    for _ in range(3):
        _acs(proxied, ip="10.0.0.1", **{"X-Forwarded-For": "192.0.2.1"})
    assert _acs(proxied, ip="10.0.0.1", **{"X-Forwarded-For": "192.0.2.1"}).status_code == 429
    assert _acs(proxied, ip="10.0.0.1", **{"X-Forwarded-For": "192.0.2.2"}).status_code == 400


def test_starting_a_login_is_limited_and_so_is_posting_the_login_form_but_not_viewing_it(instance, acme):
    client = _limited(instance).test_client()
    assert [client.get("/saml/acme/login").status_code for _ in range(4)] == [302, 302, 302, 429]
    token = client.csrf_token("/login")
    posted = [
        client.post("/login", data={"email": "a@acme.example", "csrf_token": token}).status_code for _ in range(4)
    ]
    assert posted == [303, 303, 303, 429]
    assert client.get("/login").status_code == 200


def test_the_limits_can_be_switched_off(instance, acme):
    client = instance(RATELIMIT_ENABLED=False, RATELIMIT_ACS="1 per minute").test_client()
    assert {_acs(client).status_code for _ in range(5)} == {400}


def test_an_unreachable_shared_storage_falls_back_to_counting_in_memory(instance, acme, tmp_path):
    client = _limited(instance, RATELIMIT_STORAGE_URI=f"redis+unix://{tmp_path}/nobody.sock").test_client()
    assert [_acs(client).status_code for _ in range(4)] == [400, 400, 400, 429]


def _answers(redis, socket: Path) -> bool:
    if not socket.exists():
        return False
    try:
        with redis.Redis(unix_socket_path=str(socket), socket_timeout=5) as connection:
            return bool(connection.ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="module")
def redis_socket(tmp_path_factory):
    folder = tmp_path_factory.mktemp("redis")
    socket = folder / "redis.sock"
    server = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            "0",
            "--unixsocket",
            str(socket),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Wait until redis answers, not merely until its socket file exists: until then the limiter would
    # silently count in memory. No speed is assumed; the deadline only stops a server that never starts.
    import redis

    deadline = time.monotonic() + 120
    while not _answers(redis, socket):
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"redis-server did not start answering (exit status {server.wait()})")
        time.sleep(0.05)
    yield f"redis+unix://{socket}"
    server.terminate()
    server.wait(timeout=10)


@pytest.mark.skipif(
    REDIS_SERVER is None, reason="the shared-storage test needs redis-server: apt-get install redis-server"
)
def test_instances_sharing_a_redis_storage_share_their_counts(instance, acme, redis_socket):
    prefix = f"test{time.monotonic_ns()}"
    one = _limited(instance, RATELIMIT_STORAGE_URI=redis_socket, RATELIMIT_KEY_PREFIX=prefix).test_client()
    two = _limited(instance, RATELIMIT_STORAGE_URI=redis_socket, RATELIMIT_KEY_PREFIX=prefix).test_client()
    assert [_acs(one).status_code, _acs(two).status_code, _acs(one).status_code] == [400, 400, 400]
    assert _acs(two).status_code == 429
