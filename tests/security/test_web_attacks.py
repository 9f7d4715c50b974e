"""Web attacks around SSO: open redirects, oversized and malformed bodies, login CSRF, session fixation, reflection."""

from __future__ import annotations

import base64
import io
import re
import resource
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
import tamper
from siege import MEMORY_LIMIT_KIB

from sp.extensions import db
from sp.models import SamlRequest
from sp.records import traces
from support.journeys import SP_BASE, start_login
from support.work import PEAK_MEMORY_LIMIT_BYTES, metered

# --- Open redirects through next / RelayState ------------------------------------------------------

REDIRECTS = [
    "https://evil.example/",
    "http://evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",
    "/%2f/evil.example",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "/\t/evil.example",
    "/%09/evil.example",
    "/\r\n//evil.example",
    "https:evil.example",
    "https:/evil.example",
    "//sp.example.com@evil.example",
    "/" + "a" * 3000,
    "evil.example",
    "",
]


def _is_ours(location: str) -> bool:
    parts = urlsplit(location)
    return not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith("//")


@pytest.mark.parametrize("target", REDIRECTS)
def test_idp_initiated_relay_state_never_redirects_off_site(siege, signed, target):
    outcome = siege.accepted(signed(), relay_state=target)
    assert outcome.location == "/", outcome.location


@pytest.mark.parametrize("target", REDIRECTS)
def test_sp_initiated_next_is_sanitised_before_it_is_stored(siege, signed, app, target):
    response = siege.client.get("/saml/acme/login", query_string={"next": target})
    assert response.status_code == 302
    relay_state = parse_qs(urlsplit(response.headers["Location"]).query)["RelayState"][0]
    assert relay_state == "/"
    with app.app_context():
        [stored] = db.session.scalars(db.select(SamlRequest.next_path))
    assert stored == "/"
    request_id = start_login(siege.client, "acme")  # a second login in the same browser
    outcome = siege.accepted(signed(in_response_to=request_id), relay_state=target)
    assert outcome.location == "/"


@pytest.mark.parametrize("target", REDIRECTS)
def test_the_login_screen_keeps_only_local_next_paths(client, acme, target):
    page = client.get("/login", query_string={"next": target})
    assert page.status_code == 200
    assert re.search(rb'name="next" value="/"', page.data), page.data
    found = client.post(
        "/login", data={"email": "alice@acme.example", "next": target, "csrf_token": client.csrf_token("/login")}
    )
    assert found.status_code == 303
    assert parse_qs(urlsplit(found.headers["Location"]).query).get("next") == ["/"]


def test_a_local_next_path_survives_the_whole_journey(siege, signed):
    response = siege.client.get("/saml/acme/login", query_string={"next": "/reports/q3?tab=2"})
    request_id = parse_qs(urlsplit(response.headers["Location"]).query)["SAMLRequest"][0]
    request_id = tamper.etree.fromstring(zlib.decompress(base64.b64decode(request_id), -15)).get("ID")
    assert (
        siege.accepted(signed(in_response_to=request_id), relay_state="https://evil.example").location
        == "/reports/q3?tab=2"
    )


def test_every_redirect_we_send_is_local(siege, signed):
    for target in REDIRECTS:
        assert _is_ours(
            siege.client.post(
                "/login",
                data={"email": "a@acme.example", "next": target, "csrf_token": siege.client.csrf_token("/login")},
            ).headers["Location"]
        )


# --- Bodies ------------------------------------------------------------------------------------------


class _CountingBody(io.BytesIO):
    """A request body that counts how many of its bytes the application read."""

    bytes_read = 0

    def read(self, size=-1):
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size=-1):
        line = super().readline(size)
        self.bytes_read += len(line)
        return line


def test_a_body_over_the_request_size_limit_is_refused_before_it_is_read(siege, signed, app):
    outcome = siege.refused("A" * (1024 * 1024 + 4), "http.413", status=413)
    assert outcome.work.parses == [] and outcome.work.xmlsec_verifications == 0
    # The same body again, counting what the application reads of it: nothing, the Content-Length sufficed.
    body = _CountingBody(b"SAMLResponse=" + b"A" * (1024 * 1024 + 4))
    assert len(body.getvalue()) > app.config["MAX_CONTENT_LENGTH"]
    response = siege.client.post(
        "/saml/acme/acs",
        input_stream=body,
        content_length=len(body.getvalue()),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413 and b"http.413" in response.data
    assert body.bytes_read == 0
    siege.accepted(signed())


def test_a_saml_response_over_its_own_limit_is_refused(siege, signed):
    genuine = signed()
    padded = tamper.clone(genuine)
    tamper.extensions(padded).append(tamper.etree.Element("{urn:x}pad"))
    tamper.extensions(padded)[0].text = "x" * (300 * 1024)
    siege.attack(genuine, padded, "saml.too_large", status=413)


def test_an_oversized_login_form_is_refused(client, acme):
    response = client.post("/login", data={"email": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413


BAD_BASE64 = {
    "not_base64": "!!!not base64!!!",
    "bad_length": "abc",
    "bad_padding": "YWJj=",
    "url_safe_alphabet": base64.urlsafe_b64encode(b"<samlp:Response>\xfb\xff</samlp:Response>").decode(),
    "non_ascii": "PHNhbWxwOlJlc3BvbnNlLz4=\u00e4",
    "percent_encoded": "PHNhbWxwOlJlc3BvbnNlLz4%3D",
    "only_whitespace": " \n\t ",
    "empty": "",
    "binary_payload": base64.b64encode(bytes(range(256))).decode(),
    "not_xml": base64.b64encode(b"hello, this is not XML").decode(),
    "empty_document": base64.b64encode(b"").decode() or "====",
    "deflated_response": "",  # filled below: a Redirect-binding (deflated) message posted to the POST binding
    "another_message_kind": base64.b64encode(
        b'<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_1" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"/>'
    ).decode(),
}


@pytest.mark.parametrize("case", list(BAD_BASE64))
def test_a_saml_response_that_is_not_base64_of_a_response_is_refused(siege, signed, case):
    genuine = signed()
    value = BAD_BASE64[case]
    if case == "deflated_response":
        compressor = zlib.compressobj(wbits=-15)
        value = base64.b64encode(compressor.compress(tamper.xml(genuine)) + compressor.flush()).decode()
    siege.attack(genuine, value, "saml.malformed")


def test_a_post_without_saml_response_is_refused(siege):
    before = siege.state()
    for data in ({}, {"SAMLRequest": "abc"}, {"samlresponse": tamper.b64(b"<x/>")}):
        response = siege.client.post("/saml/acme/acs", data=data)
        assert response.status_code == 400 and b"saml.malformed" in response.data
    assert siege.state() == before


def test_the_sp_accepts_no_redirect_binding_message_so_nothing_is_ever_inflated(siege):
    compressor = zlib.compressobj(level=9, wbits=-15)
    bomb = compressor.compress(b"<a>" + b" " * (64 * 1024 * 1024)) + compressor.flush()
    with metered(trace_memory=True) as work:
        response = siege.client.get("/saml/acme/acs", query_string={"SAMLResponse": base64.b64encode(bomb).decode()})
    assert response.status_code == 405 and b"http.405" in response.data
    assert not work.fed(bomb), "some of the bomb was handed to zlib"
    assert work.parses == [] and work.xmlsec_verifications == 0
    assert work.peak_python_bytes < PEAK_MEMORY_LIMIT_BYTES


def test_the_dev_idp_refuses_a_deflate_bomb_in_bounded_memory(tmp_path, monkeypatch):
    from devidp import create_app as create_devidp
    from devidp.protocol import MAX_XML_BYTES

    for name in ("BASE_URL", "SP_BASE_URL", "TENANTS", "KEY_DIR", "SECRET_KEY", "PORT"):
        monkeypatch.delenv(f"DEVIDP_{name}", raising=False)
    idp = create_devidp(
        {
            "BASE_URL": "http://127.0.0.1:5001",
            "SP_BASE_URL": "http://127.0.0.1:5000",
            "KEY_DIR": tmp_path / "keys",
            "TENANTS": ["acme"],
            "TESTING": True,
        }
    )
    compressor = zlib.compressobj(level=9, wbits=-15)
    bomb = compressor.compress(b"<samlp:AuthnRequest " + b" " * (64 * 1024 * 1024)) + compressor.flush()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with metered(trace_memory=True) as work:
        response = idp.test_client().get("/sso", query_string={"SAMLRequest": base64.b64encode(bomb).decode()})
    assert response.status_code == 400
    # The bomb reached the inflater, which stopped one byte past the cap: 64 MiB were never produced.
    assert work.fed(bomb)
    assert work.largest_inflation <= MAX_XML_BYTES + 1
    assert work.peak_python_bytes < PEAK_MEMORY_LIMIT_BYTES
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < MEMORY_LIMIT_KIB


# --- Login CSRF --------------------------------------------------------------------------------------


def test_the_login_form_needs_its_csrf_token(client, acme):
    response = client.post("/login", data={"email": "alice@acme.example"})
    assert response.status_code == 400 and b"request.csrf" in response.data


def test_a_response_to_a_login_started_in_the_attackers_browser_cannot_sign_the_victim_in(siege, signed, app):
    attacker = app.test_client()
    attackers_request = start_login(attacker, "acme")
    attackers_response = signed(in_response_to=attackers_request, name_id=tamper.EVIL_NAME_ID)
    # The attacker's page makes the victim's browser post it:
    siege.refused(attackers_response, "saml.request_other_browser")
    # In the browser that started the login, the very same response works.
    siege.accepted(attackers_response, tamper.EVIL_NAME_ID, client=attacker)


def test_a_forged_or_foreign_started_requests_cookie_is_worthless(siege, signed, app):
    from sp.web import started

    request_id = start_login(app.test_client(), "acme")
    with app.test_request_context(base_url=SP_BASE):
        name = started.cookie_name()
        from itsdangerous import URLSafeTimedSerializer

        forged = URLSafeTimedSerializer("not-our-secret", salt="sp.saml.started-requests").dumps([request_id])
    siege.client.set_cookie(name, forged, domain="sp.example.com")
    siege.refused(signed(in_response_to=request_id), "saml.request_other_browser")


def test_the_started_requests_cookie_reaches_the_cross_site_post_and_nothing_else(client, acme):
    response = client.get("/saml/acme/login")
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if "sp_saml_started" in value)
    assert cookie.startswith("__Host-sp_saml_started=")
    for attribute in ("Secure", "HttpOnly", "SameSite=None", "Path=/"):
        assert attribute in cookie, cookie
    assert "Domain=" not in cookie


def test_over_plain_http_the_started_requests_cookie_is_lax(instance, acme):
    http = instance(SP_BASE_URL="http://127.0.0.1:5000")
    response = http.test_client().get("/saml/acme/login", base_url="http://127.0.0.1:5000")
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if "sp_saml_started" in value)
    assert cookie.startswith("sp_saml_started=") and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_sign_out_needs_its_csrf_token(siege, signed):
    siege.accepted(signed())
    response = siege.client.post("/logout")
    assert response.status_code == 400 and b"request.csrf" in response.data
    assert siege.client.get("/me").status_code == 200


# --- Session fixation --------------------------------------------------------------------------------

SESSION = "__Host-sp_session"  # SP_BASE is https in the tests


def _session_cookie(browser) -> str | None:
    cookie = browser.get_cookie(SESSION, domain="sp.example.com")
    return cookie.value if cookie else None


def test_a_session_cookie_planted_before_login_is_replaced_and_stays_anonymous(siege, signed, app):
    attacker = app.test_client()
    attacker.get("/login")  # an anonymous session (CSRF token) the attacker knows
    planted = _session_cookie(attacker)
    assert planted
    siege.client.set_cookie(SESSION, planted, domain="sp.example.com")
    siege.accepted(signed())
    assert _session_cookie(siege.client) not in (None, planted)
    assert attacker.get("/me").status_code == 401  # the attacker's copy did not become Alice's session


def test_an_attackers_own_signed_in_cookie_planted_in_a_victims_browser_is_replaced_at_login(siege, signed, app):
    attacker = app.test_client()
    siege.accepted(signed(name_id=tamper.EVIL_NAME_ID, attributes={}), tamper.EVIL_NAME_ID, client=attacker)
    siege.client.set_cookie(SESSION, _session_cookie(attacker), domain="sp.example.com")
    siege.accepted(signed())
    assert attacker.get("/me").get_json()["name_id"] == tamper.EVIL_NAME_ID
    assert siege.client.get("/me").get_json()["name_id"] == "alice@acme.example"


def test_a_session_cookie_copied_before_sign_out_is_dead_after_it(siege, signed):
    siege.accepted(signed())
    stolen = _session_cookie(siege.client)
    siege.client.post("/logout", data={"csrf_token": siege.client.csrf_token("/")})
    siege.client.set_cookie(SESSION, stolen, domain="sp.example.com")
    assert siege.client.get("/me").status_code == 401


# --- Reflection: error pages never echo what the attacker sent --------------------------------------

MARKER = '"><script>alert("zq7x")</script>'


def _probes(signed):
    marker_xml = (
        f'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="{"zq7x"}" Destination="zq7x"/>'
    )
    return [
        ("get", "/saml/zq7x%22%3E%3Cscript%3E/login", {}),
        ("get", "/zq7x<script>", {}),
        ("post", "/saml/acme/acs", {"data": {"SAMLResponse": MARKER}}),
        ("post", "/saml/acme/acs", {"data": {"SAMLResponse": base64.b64encode(marker_xml.encode()).decode()}}),
        (
            "post",
            "/saml/acme/acs",
            {
                "data": {
                    "SAMLResponse": tamper.b64(signed(destination="https://zq7x.example/<script>")),
                    "RelayState": MARKER,
                }
            },
        ),
        (
            "post",
            "/saml/acme/acs",
            {"data": {"SAMLResponse": tamper.b64(signed(name_id="zq7x<script>", status="urn:zq7x"))}},
        ),
        ("post", "/login", {"data": {"email": MARKER}}),
        ("get", "/me", {"headers": {"Accept": "application/json", "X-Zq7x": MARKER}}),
        ("delete", "/saml/acme/acs", {}),
    ]


@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_error_pages_never_echo_attacker_input(client, acme, signed, accept):
    for method, path, kwargs in _probes(signed):
        headers = {"Accept": accept} | kwargs.pop("headers", {})
        response = getattr(client, method)(path, headers=headers, **kwargs)
        assert 400 <= response.status_code < 500, (path, response.status_code)
        assert b"zq7x" not in response.data.lower(), (path, response.data[:500])
        assert b"<script>" not in response.data


def test_the_login_screen_echoes_the_typed_email_only_escaped(client, acme):
    response = client.post("/login", data={"email": MARKER, "csrf_token": client.csrf_token("/login")})
    assert response.status_code == 404
    assert b"<script>" not in response.data


def test_refusal_reasons_are_logged_on_one_line_whatever_the_attacker_puts_in_them(siege, signed, caplog):
    siege.refused(signed(destination="https://evil.example/\nERROR forged log line"), "saml.destination_mismatch")
    [record] = [r for r in caplog.records if "saml.destination_mismatch" in r.getMessage()]
    assert "\n" not in record.getMessage() and "\\n" in record.getMessage()


@pytest.mark.parametrize(
    "message,code",
    [
        ("!!", "saml.malformed"),
        (tamper.b64(b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>"), "saml.forbidden_markup"),
        (
            tamper.b64(
                b'<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" Version="2.0"><samlp:Status>'
                b'<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status></samlp:Response>'
            ),
            "saml.assertion_count",
        ),
    ],
)
def test_a_json_client_gets_the_code_and_the_generic_message_and_nothing_else(client, acme, message, code):
    response = client.post("/saml/acme/acs", data={"SAMLResponse": message}, headers={"Accept": "application/json"})
    assert response.status_code == 400
    body = response.get_json()
    # Only the code, the generic message and the login trace's reference: never the reason.
    assert set(body) == {"error", "message", "ref"}
    assert body["error"] == code and traces.normalise_ref(body["ref"]) == body["ref"]
    assert body["message"] == (
        "Your sign-in could not be completed. Please try again from the start, or contact your administrator."
    )
