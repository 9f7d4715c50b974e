"""Attacks on the single logout service: forged, tampered, replayed, oversized and misdirected logout messages.

The SLS takes a GET from anybody and ends sessions, so a forged LogoutRequest is a way to sign
anyone out (denial of service) and a forged LogoutResponse a way to lie to a user about their
sign-out. Every attack starts from a genuine message signed by the tenant's IdP and is tampered
with *without* re-signing (or is signed, genuinely, yet wrong), and is paired with its positive
control: the untouched message, sent after the attack, signs the victim out (which also proves
the refused one did not write the replay cache).
"""

from __future__ import annotations

import base64
import html
import re
import zlib
from datetime import timedelta
from urllib.parse import quote_plus

import pytest
from lxml import etree

from sp.extensions import db
from sp.models import SamlRequest
from support.journeys import SP_BASE, add_tenant, post_acs, start_login
from support.keys import make_key_pair
from support.logout_builder import LogoutBuilder, deflate, read_redirect
from support.saml_builder import ResponseBuilder
from support.work import PEAK_MEMORY_LIMIT_BYTES, metered

SAML = "{urn:oasis:names:tc:SAML:2.0:assertion}"
SAMLP = "{urn:oasis:names:tc:SAML:2.0:protocol}"
SLS = f"{SP_BASE}/saml/acme/sls"


@pytest.fixture(scope="module")
def attacker_keys() -> tuple[bytes, bytes]:
    return make_key_pair("Mallory's IdP")


def with_param(query: str, name: str, value: str | None) -> str:
    """The query with one parameter replaced (None: removed), its signature left as it was."""
    parts = [part for part in query.split("&") if not part.startswith(name + "=")]
    if value is not None:
        parts.append(f"{name}={quote_plus(value)}")
    return "&".join(parts)


def param(query: str, name: str) -> str:
    return next(part.split("=", 1)[1] for part in query.split("&") if part.startswith(name + "="))


def signed_as_given(logouts: LogoutBuilder, xml: bytes, **kwargs) -> str:
    """A message the IdP's own key signed as it is: only our checks stand between it and the victim."""
    return logouts.query(xml, **kwargs)


# --- Signature presence and trust ---------------------------------------------------------------


def test_an_unsigned_logout_request_is_refused(logout_siege, logouts):
    xml = logouts.xml()
    logout_siege.attack(logouts.query(xml), logouts.query(xml, sig_alg=None), "saml.signature_missing")


def test_a_signature_without_its_sig_alg_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    logout_siege.attack(genuine, with_param(genuine, "SigAlg", None), "saml.signature_missing")


def test_a_request_signed_by_an_attackers_key_is_refused(logout_siege, logouts, attacker_keys):
    xml = logouts.xml()
    logout_siege.attack(logouts.query(xml), logouts.query(xml, key_pem=attacker_keys[0]), "saml.signature_invalid")


def test_a_request_signed_by_another_tenants_idp_is_refused(logout_siege, logouts, app, attacker_keys):
    other = ResponseBuilder(*attacker_keys, entity_id="https://idp.beta.example", sp_base=SP_BASE, slug="beta")
    add_tenant(app, "beta", other.metadata(slo=("redirect",)))
    xml = logouts.xml()
    logout_siege.attack(logouts.query(xml), logouts.query(xml, key_pem=other.key_pem), "saml.signature_invalid")


@pytest.mark.parametrize("change", ["name_id", "session_index", "relay_state", "sig_alg"])
def test_a_request_changed_after_signing_is_refused(logout_siege, logouts, change):
    xml = logouts.xml(message_id="_genuine")
    genuine = logouts.query(xml, relay_state="state")
    if change == "name_id":
        tampered = with_param(
            genuine, "SAMLRequest", deflate(logouts.xml(message_id="_genuine", name_id="bob@acme.example"))
        )
    elif change == "session_index":
        tampered = with_param(
            genuine, "SAMLRequest", deflate(logouts.xml(message_id="_genuine", session_indexes=["_s1"]))
        )
    elif change == "relay_state":
        tampered = with_param(genuine, "RelayState", "https://evil.example/")
    else:
        tampered = with_param(genuine, "SigAlg", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512")
    logout_siege.attack(genuine, tampered, "saml.signature_invalid")


@pytest.mark.parametrize(
    "algorithm",
    [
        "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
        "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "urn:evil:none",
    ],
)
def test_weak_or_unknown_query_signature_algorithms_are_refused_before_anything_is_verified(
    logout_siege, logouts, algorithm
):
    genuine = logouts.query(logouts.xml())
    outcome = logout_siege.attack(genuine, with_param(genuine, "SigAlg", algorithm), "saml.weak_algorithm")
    # Refused before xmlsec ran; the positive control, in attack(), did reach xmlsec.
    assert outcome.work.xmlsec_verifications == 0, "xmlsec ran before the refusal"


def test_a_genuinely_sha1_signed_request_is_refused(logout_siege, logouts):
    xml = logouts.xml()
    logout_siege.attack(logouts.query(xml), logouts.query(xml, sig_alg="rsa-sha1"), "saml.weak_algorithm")


def test_a_signature_that_is_not_base64_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    logout_siege.attack(genuine, with_param(genuine, "Signature", "!!not base64!!"), "saml.malformed")


# --- Parameter games: what is signed must be what we read -----------------------------------------


def test_a_second_saml_request_after_the_signed_one_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    evil = "SAMLRequest=" + quote_plus(deflate(logouts.xml(name_id="bob@acme.example")))
    logout_siege.attack(genuine, f"{genuine}&{evil}", "saml.malformed")


def test_a_second_saml_request_before_the_signed_one_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    evil = "SAMLRequest=" + quote_plus(deflate(logouts.xml(name_id="bob@acme.example")))
    logout_siege.attack(genuine, f"{evil}&{genuine}", "saml.malformed")


def test_a_percent_encoded_parameter_name_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    evil = "SAML%52equest=" + quote_plus(deflate(logouts.xml(name_id="bob@acme.example")))
    logout_siege.attack(genuine, f"{genuine}&{evil}", "saml.malformed")


def test_a_request_and_a_response_at_once_are_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    logout_siege.attack(genuine, f"{genuine}&SAMLResponse={param(genuine, 'SAMLRequest')}", "saml.malformed")


def test_a_parameter_without_its_equals_sign_is_refused(logout_siege, logouts):
    # python3-saml would leave "RelayState" out of the signed string; we would read it as empty.
    genuine = logouts.query(logouts.xml())
    logout_siege.attack(genuine, f"{genuine}&RelayState", "saml.malformed")


def test_a_signature_longer_than_any_key_makes_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    logout_siege.attack(genuine, with_param(genuine, "Signature", "A" * 4100), "saml.malformed")


def test_a_relay_state_longer_than_we_echo_is_refused(logout_siege, logouts):
    xml = logouts.xml()
    logout_siege.attack(logouts.query(xml), logouts.query(xml, relay_state="r" * 2049), "saml.malformed")


# --- Bytes and parsers ---------------------------------------------------------------------------

BAD_BASE64 = ["!!!", "abc", "YWJj=", "PHNhbWxwOg%3D%3D%C3%A4", "%00", ""]


@pytest.mark.parametrize("value", BAD_BASE64)
def test_a_saml_request_that_is_not_base64_is_refused(logout_siege, logouts, value):
    genuine = logouts.query(logouts.xml())
    tampered = "&".join(p for p in genuine.split("&") if not p.startswith("SAMLRequest=")) + f"&SAMLRequest={value}"
    logout_siege.attack(genuine, tampered, "saml.malformed")


@pytest.mark.parametrize("case", ["not_deflated", "truncated", "trailing_bytes", "zlib_header", "empty"])
def test_a_saml_request_that_is_not_one_raw_deflate_stream_is_refused(logout_siege, logouts, case):
    xml = logouts.xml()
    deflated = base64.b64decode(deflate(xml))
    value = {
        "not_deflated": xml,
        "truncated": deflated[:-8],
        "trailing_bytes": deflated + b"junk",
        "zlib_header": zlib.compress(xml),
        "empty": b"",
    }[case]
    tampered = logouts.query(xml, encoded=base64.b64encode(value).decode())
    logout_siege.attack(logouts.query(xml), tampered, "saml.malformed")


def test_a_deflate_bomb_is_refused_without_inflating_it(logout_siege, logouts, app):
    compressor = zlib.compressobj(level=9, wbits=-15)
    bomb = compressor.compress(b"<samlp:LogoutRequest " + b" " * (64 * 1024 * 1024)) + compressor.flush()
    assert len(bomb) < 128 * 1024
    xml = logouts.xml()
    tampered = logouts.query(xml, encoded=base64.b64encode(bomb).decode())
    with metered(trace_memory=True) as memory:
        outcome = logout_siege.refused(tampered, "saml.too_large", status=413)
    # The bomb reached the inflater, which stopped one byte past the cap: 64 MiB were never produced.
    assert outcome.work.fed(bomb)
    assert outcome.work.largest_inflation <= app.config["SAML_MAX_LOGOUT_BYTES"] + 1
    assert memory.peak_python_bytes < PEAK_MEMORY_LIMIT_BYTES
    assert outcome.work.parses == [] and outcome.work.xmlsec_verifications == 0  # refused before parsing or xmlsec
    logout_siege.accepted(logouts.query(xml))


def test_a_query_string_longer_than_any_logout_message_is_refused(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    logout_siege.attack(genuine, genuine + "&x=" + "a" * (300 * 1024), "saml.too_large", status=413)


def _markup(logouts: LogoutBuilder, old: str, new: str, prolog: bytes = b"") -> bytes:
    xml = logouts.xml(message_id="_m")
    assert old.encode() in xml
    return prolog + xml.replace(old.encode(), new.encode(), 1)


@pytest.mark.parametrize(
    "case,code",
    [
        ("dtd", "saml.forbidden_markup"),
        ("external_entity", "saml.forbidden_markup"),
        ("billion_laughs", "saml.forbidden_markup"),
        ("comment_in_name_id", "saml.forbidden_markup"),
        ("processing_instruction", "saml.forbidden_markup"),
        ("cdata", "saml.forbidden_markup"),
        ("utf16", "saml.malformed"),
        ("latin1_declared", "saml.malformed"),
        ("encrypted_id", "saml.encrypted_unsupported"),
        ("not_xml", "saml.malformed"),
    ],
)
def test_markup_no_logout_request_needs_is_refused_even_when_the_idp_signed_it(logout_siege, logouts, case, code):
    name_id = (
        '<saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">alice@acme.example</saml:NameID>'
    )
    evil = {
        "dtd": lambda: _markup(logouts, "", "", b"<!DOCTYPE x [<!ELEMENT x ANY>]>"),
        "external_entity": lambda: _markup(
            logouts, "alice@acme.example", "&xxe;", b'<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        ),
        "billion_laughs": lambda: _markup(
            logouts,
            "alice@acme.example",
            "&l9;",
            b'<!DOCTYPE x [<!ENTITY l0 "lol">'
            + b"".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">'.encode() for i in range(1, 10))
            + b"]>",
        ),
        "comment_in_name_id": lambda: _markup(logouts, "alice@acme.example", "alice@acme.example<!---->.evil"),
        "processing_instruction": lambda: _markup(logouts, "alice@acme.example", "alice<?pi x?>@acme.example"),
        "cdata": lambda: _markup(logouts, "alice@acme.example", "<![CDATA[alice@acme.example]]>"),
        "utf16": lambda: logouts.xml().decode().encode("utf-16"),
        "latin1_declared": lambda: b'<?xml version="1.0" encoding="ISO-8859-1"?>' + logouts.xml(),
        "encrypted_id": lambda: _markup(
            logouts,
            name_id,
            '<saml:EncryptedID><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#"/></saml:EncryptedID>',
        ),
        "not_xml": lambda: b"this is not XML",
    }[case]()
    logout_siege.attack(logouts.query(logouts.xml()), signed_as_given(logouts, evil), code)


def test_a_message_that_is_not_a_logout_message_is_refused(logout_siege, logouts, builder):
    response = builder.build()
    logout_siege.attack(logouts.query(logouts.xml()), signed_as_given(logouts, response), "saml.malformed")


# --- The protocol: who, for whom, when, how often -----------------------------------------------


@pytest.mark.parametrize(
    "issuer,code",
    [
        ("https://idp.evil.example/saml", "saml.issuer_mismatch"),
        (None, "saml.issuer_mismatch"),
    ],
)
def test_a_request_from_another_issuer_is_refused_even_when_signed_with_the_tenants_key(
    logout_siege, logouts, issuer, code
):
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(logouts.xml(issuer=issuer)), code)


def test_a_request_naming_two_issuers_is_refused(logout_siege, logouts):
    xml = logouts.xml().replace(
        b"</saml:Issuer>", b"</saml:Issuer><saml:Issuer>https://idp.evil.example</saml:Issuer>", 1
    )
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(xml), "saml.issuer_mismatch")


@pytest.mark.parametrize(
    "destination,code",
    [
        (None, "saml.destination_missing"),
        (SLS + "/extra", "saml.destination_mismatch"),
        (SLS + "?x=1", "saml.destination_mismatch"),
        (f"{SP_BASE}/saml/beta/sls", "saml.destination_mismatch"),
        (f"{SP_BASE}/saml/acme/acs", "saml.destination_mismatch"),
        ("https://other-sp.example/sls", "saml.destination_mismatch"),
    ],
)
def test_a_request_meant_for_somewhere_else_is_refused(logout_siege, logouts, destination, code):
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(logouts.xml(destination=destination)), code)


@pytest.mark.parametrize(
    "changes,code",
    [
        ({"clock_offset": timedelta(minutes=-9), "not_on_or_after": timedelta(minutes=5)}, "saml.expired"),
        ({"clock_offset": timedelta(minutes=-13), "not_on_or_after": None}, "saml.issue_instant"),
        ({"clock_offset": timedelta(minutes=5)}, "saml.issue_instant"),
        ({"not_on_or_after": timedelta(seconds=-1)}, "saml.expired"),
    ],
)
def test_a_request_out_of_its_time_is_refused(logout_siege, logouts, changes, code):
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(logouts.xml(**changes)), code)


def test_a_replayed_request_is_refused_and_ends_no_later_session(logout_siege, logouts, app, builder):
    genuine = logouts.query(logouts.xml())
    logout_siege.accepted(genuine)
    # The victim signs in again; the captured request must not sign them out a second time.
    again = type(logout_siege)(app, logouts, builder)
    again.refused(genuine, "saml.replay")


def test_a_request_replayed_to_another_instance_is_refused(logout_siege, logouts, app, builder, instance):
    genuine = logouts.query(logouts.xml())
    logout_siege.accepted(genuine)
    other = instance()
    there = type(logout_siege)(other, logouts, builder)
    there.refused(genuine, "saml.replay")


@pytest.mark.parametrize(
    "changes,code",
    [
        ({"name_id": None}, "saml.name_id_missing"),
        ({"name_id": "a" * 513 + "@acme.example"}, "saml.value_too_long"),
        ({"session_indexes": [f"_s{i}" for i in range(21)]}, "saml.value_too_long"),
        ({"session_indexes": ["_" + "s" * 255]}, "saml.value_too_long"),
        ({"message_id": '_a"b'}, "saml.schema_invalid"),
    ],
)
def test_a_request_whose_content_we_will_not_read_is_refused(logout_siege, logouts, changes, code):
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(logouts.xml(**changes)), code)


def test_a_request_that_is_not_saml_2_0_is_refused(logout_siege, logouts):
    xml = logouts.xml().replace(b'Version="2.0"', b'Version="1.1"')
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(xml), "saml.schema_invalid")


def test_a_request_python3_saml_finds_invalid_against_the_schema_is_refused(logout_siege, logouts):
    xml = logouts.xml().replace(b"</samlp:LogoutRequest>", b"<samlp:Evil/></samlp:LogoutRequest>")
    logout_siege.attack(logouts.query(logouts.xml()), logouts.query(xml), "saml.schema_invalid")


# --- Tenants ---------------------------------------------------------------------------------------


def test_a_request_for_an_unknown_tenant_is_a_404_that_ends_nothing(logout_siege, logouts):
    genuine = logouts.query(logouts.xml())
    for slug in ("nosuch", "NOPE", "a" * 70):
        logout_siege.refused(genuine, "tenant.not_found", status=404, slug=slug)
    logout_siege.accepted(genuine)


def test_a_tenant_without_an_idp_refuses_logout_messages(logout_siege, logouts, app):
    add_tenant(app, "empty", None)
    genuine = logouts.query(logouts.xml())
    logout_siege.refused(genuine, "tenant.idp_missing", status=409, slug="empty")
    logout_siege.accepted(genuine)


def test_a_request_another_tenants_idp_signed_for_that_tenant_is_refused_here(logout_siege, logouts, app, builder):
    # Same IdP, same key, two tenants: beta's LogoutRequest must not act on acme.
    add_tenant(app, "beta", builder.metadata(slo=("redirect",)))
    beta = LogoutBuilder(ResponseBuilder(builder.key_pem, builder.cert_pem, builder.entity_id, SP_BASE, "beta"))
    logout_siege.attack(logouts.query(logouts.xml()), beta.query(beta.xml()), "saml.destination_mismatch")


# --- Forged LogoutResponses -------------------------------------------------------------------------


def _answer(logouts: LogoutBuilder, request_id: str, **changes) -> str:
    return logouts.query(logouts.xml(in_response_to=request_id, **changes), kind="SAMLResponse")


def test_a_logout_response_this_browser_did_not_ask_for_is_refused(logout_siege, logouts):
    logout_siege.refused(_answer(logouts, "_never-sent"), "saml.request_other_browser")
    logout_siege.accepted(logouts.query(logouts.xml()))


def test_a_logout_response_to_a_sign_in_request_is_refused(logout_siege, logouts):
    authn_request = start_login(logout_siege.victim, "acme")  # in this browser's started-requests cookie
    logout_siege.refused(_answer(logouts, authn_request), "saml.request_unknown")
    logout_siege.accepted(logouts.query(logouts.xml()))


def test_forged_answers_to_a_real_sign_out_are_refused_and_the_genuine_one_lands_once(
    logout_siege, logouts, app, builder
):
    bob = app.test_client()
    assert post_acs(bob, "acme", builder.b64(name_id="bob@acme.example", session_index="_b")).status_code == 303
    page = bob.post("/logout", data={"csrf_token": bob.csrf_token("/")}).data.decode()
    to_idp = html.unescape(re.search(r'<a href="([^"]+)" id="continue-sign-out"', page).group(1))
    request_id = read_redirect(to_idp)[1].get("ID")
    genuine = _answer(logouts, request_id)

    unsigned = logouts.query(logouts.xml(in_response_to=request_id), kind="SAMLResponse", sig_alg=None)
    logout_siege.refused(unsigned, "saml.signature_missing", client=bob)
    failed = deflate(logouts.xml(in_response_to=request_id, status="urn:oasis:names:tc:SAML:2.0:status:Requester"))
    logout_siege.refused(with_param(genuine, "SAMLResponse", failed), "saml.signature_invalid", client=bob)
    logout_siege.refused(genuine, "saml.request_other_browser")  # the victim's browser did not sign out
    landed = bob.get(f"/saml/acme/sls?{genuine}")
    assert landed.status_code == 303 and landed.headers["Location"] == "/login"
    with app.app_context():
        assert db.session.get(SamlRequest, request_id).used_at is not None
    logout_siege.refused(genuine, "saml.request_reused", client=bob)
    logout_siege.accepted(logouts.query(logouts.xml()))


# --- HTTP-POST binding: XML signatures ---------------------------------------------------------------


@pytest.fixture
def post_siege(app, builder):
    from siege import LogoutSiege

    add_tenant(app, "acme", builder.metadata(slo=("post",)))
    logouts = LogoutBuilder(builder)
    return LogoutSiege(app, logouts, builder), logouts


def _form(root: etree._Element) -> dict:
    return {"SAMLRequest": base64.b64encode(etree.tostring(root)).decode()}


def test_a_posted_request_with_its_signature_stripped_is_refused(post_siege):
    siege, logouts = post_siege
    genuine = logouts.signed_tree()
    stripped = etree.fromstring(etree.tostring(genuine))
    stripped.remove(stripped.find("{http://www.w3.org/2000/09/xmldsig#}Signature"))
    siege.attack(_form(genuine), _form(stripped), "saml.signature_missing")


def test_a_posted_request_wrapped_around_a_signed_one_is_refused(post_siege):
    siege, logouts = post_siege
    genuine = logouts.signed_tree(message_id="_genuine")
    evil = logouts.tree(message_id="_evil", name_id="bob@acme.example")
    extensions = etree.Element(SAMLP + "Extensions")
    evil.find(SAML + "Issuer").addnext(extensions)
    extensions.append(etree.fromstring(etree.tostring(genuine)))
    siege.attack(_form(genuine), _form(evil), "saml.signature_structure")


def test_a_posted_request_whose_signature_points_elsewhere_is_refused(post_siege):
    siege, logouts = post_siege
    genuine = logouts.signed_tree(message_id="_genuine")
    moved = etree.fromstring(etree.tostring(genuine))
    moved.set("ID", "_moved")
    siege.attack(_form(genuine), _form(moved), "saml.signature_structure")


def test_a_posted_request_with_two_elements_of_one_id_is_refused(post_siege):
    siege, logouts = post_siege
    genuine = logouts.signed_tree(message_id="_genuine")
    twin = etree.fromstring(etree.tostring(genuine))
    extensions = etree.Element(SAMLP + "Extensions")
    twin.find("{http://www.w3.org/2000/09/xmldsig#}Signature").addnext(extensions)
    etree.SubElement(extensions, "{urn:x}x", ID="_genuine")
    siege.attack(_form(genuine), _form(twin), "saml.duplicate_id")


def test_a_posted_request_signed_with_sha1_is_refused(post_siege):
    siege, logouts = post_siege
    siege.attack(
        _form(logouts.signed_tree()),
        _form(logouts.signed_tree(sign_alg="rsa-sha1", digest_alg="sha1")),
        "saml.weak_algorithm",
    )


def test_a_posted_request_with_an_xslt_transform_is_refused_before_xmlsec_runs_it(post_siege):
    siege, logouts = post_siege
    genuine = logouts.signed_tree()
    evil = etree.fromstring(etree.tostring(genuine))
    transforms = evil.find(".//{http://www.w3.org/2000/09/xmldsig#}Transforms")
    etree.SubElement(
        transforms,
        "{http://www.w3.org/2000/09/xmldsig#}Transform",
        Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116",
    )
    outcome = siege.attack(_form(genuine), _form(evil), "saml.signature_structure")
    # Refused before xmlsec ran; the positive control, in attack(), did reach xmlsec.
    assert outcome.work.xmlsec_verifications == 0, "xmlsec ran before the refusal"


def test_a_posted_deflate_bomb_is_only_ever_base64(post_siege):
    siege, logouts = post_siege
    compressor = zlib.compressobj(level=9, wbits=-15)
    bomb = compressor.compress(b"<samlp:LogoutRequest " + b" " * (16 * 1024 * 1024)) + compressor.flush()
    outcome = siege.attack(
        _form(logouts.signed_tree()), {"SAMLRequest": base64.b64encode(bomb).decode()}, "saml.malformed"
    )
    # Decoded from base64 and refused as it is: no inflater ever saw any of it, nor did xmlsec.
    assert not outcome.work.fed(bomb)
    assert outcome.work.xmlsec_verifications == 0


# --- What the browser sees -------------------------------------------------------------------------


def test_refusals_show_a_sign_out_message_and_never_echo_what_was_sent(logout_siege, logouts):
    marker = '"><script>alert("zq7x")</script>'
    for query in (
        logouts.query(logouts.xml(name_id=marker)) + "&RelayState=" + quote_plus(marker),
        logouts.query(logouts.xml(destination="https://zq7x.example/<script>")),
        "SAMLRequest=" + quote_plus(marker),
    ):
        response, outcome = logout_siege.send(query)
        assert 400 <= outcome.status < 500
        assert b"zq7x" not in response.data and b"<script>" not in response.data
        assert b"We could not sign you out" in response.data


def test_a_json_client_gets_the_code_the_generic_message_and_the_reference(logout_siege, logouts):
    response, outcome = logout_siege.send(
        logouts.query(logouts.xml(issuer="https://idp.evil.example")), accept="application/json"
    )
    body = response.get_json()
    assert set(body) == {"error", "message", "ref"} and body["error"] == "saml.issuer_mismatch"
    assert body["message"].startswith(
        "The sign-out request from your organisation's sign-in page could not be completed."
    )


def test_a_sign_in_response_answering_a_logout_request_is_refused(logout_siege, logouts, app, builder):
    # The started-requests cookie holds sign-in and sign-out request IDs alike; the kinds never mix.
    from siege import Siege

    bob = app.test_client()
    assert post_acs(bob, "acme", builder.b64(name_id="bob@acme.example")).status_code == 303
    page = bob.post("/logout", data={"csrf_token": bob.csrf_token("/")}).data.decode()
    logout_request = read_redirect(
        html.unescape(re.search(r'<a href="([^"]+)" id="continue-sign-out"', page).group(1))
    )[1]
    answer = builder.build_tree(builder.spec(in_response_to=logout_request.get("ID"), name_id="bob@acme.example"))
    Siege(app, bob, builder).refused(answer, "saml.request_unknown")
