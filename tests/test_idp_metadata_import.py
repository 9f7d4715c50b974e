"""Onboarding a customer's IdP: metadata from each vendor, every refusal, warnings, through the CLI and the API."""

from __future__ import annotations

import json
import re

import pytest

from sp import errors
from sp.models import AuditEvent, IdentityProvider, IdpMetadataVersion
from sp.saml import metadata as idp_metadata
from support import idp_samples as samples
from support.journeys import add_tenant, rows

API = "/api/ops/tenants/{slug}/idp"
XML = "application/samlmetadata+xml"


@pytest.fixture
def token(app) -> str:
    from sp import clock
    from sp.operators import tokens

    with app.app_context():
        return tokens.create("deploy-bot", clock.utcnow())[1]


def put(client, slug: str, body: bytes, token: str | None, content_type: str = XML, **params):
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.put(API.format(slug=slug), data=body, headers=headers, query_string=params)


def snapshot(app) -> tuple:
    """Everything an import may change, to prove a refusal changed none of it."""
    idps = [(i.entity_id, i.revision, i.metadata_xml, json.dumps(i.certificates)) for i in rows(app, IdentityProvider)]
    versions = [(v.number, v.state) for v in rows(app, IdpMetadataVersion)]
    return idps, versions, len(rows(app, AuditEvent))


# --- What we read from real-shaped metadata ---------------------------------------------


def test_okta_metadata_gives_both_bindings_both_name_id_formats_and_the_signing_certificate():
    metadata = idp_metadata.read(samples.okta())
    assert metadata.entity_id == "http://www.okta.com/exk1fxp0a1B2c3D4e5d7"
    assert set(metadata.sso) == {samples.POST, samples.REDIRECT}
    assert metadata.name_id_formats == ["urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified", samples.EMAIL]
    assert [c.subject for c in metadata.certificates] == ["CN=Okta signing"]
    assert metadata.want_authn_requests_signed is False and metadata.warnings == []


def test_entra_id_metadata_with_ws_federation_role_descriptors_first_is_read_from_the_idp_descriptor():
    metadata = idp_metadata.read(samples.entra())
    assert metadata.entity_id.startswith("https://sts.windows.net/")
    assert metadata.sso[samples.REDIRECT] == metadata.slo[samples.REDIRECT]
    assert len(metadata.certificates) == 1


def test_adfs_metadata_takes_the_idp_descriptor_and_never_the_encryption_certificate():
    signing, encryption = samples.cert("ADFS Signing"), samples.cert("ADFS Encryption")
    metadata = idp_metadata.read(samples.adfs(certs=(signing,), encryption_cert=encryption))
    assert [c.subject for c in metadata.certificates] == ["CN=ADFS Signing"]
    assert set(metadata.slo) == {samples.REDIRECT, samples.POST}
    assert "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" in metadata.name_id_formats


def test_shibboleth_metadata_ignores_extensions_artifact_and_soap_and_trusts_a_key_without_use():
    metadata = idp_metadata.read(samples.shibboleth())
    assert metadata.sso == {
        samples.POST: "https://idp.uni.example.edu/idp/profile/SAML2/POST/SSO",
        samples.REDIRECT: "https://idp.uni.example.edu/idp/profile/SAML2/Redirect/SSO",
    }
    assert samples.SOAP not in metadata.slo
    # use="signing" and no use at all are both signing keys; use="encryption" is not.
    assert [c.subject for c in metadata.certificates] == [
        "CN=idp.uni.example.edu backchannel",
        "CN=idp.uni.example.edu",
    ]


def test_google_metadata_keeps_its_valid_until():
    metadata = idp_metadata.read(samples.google())
    assert metadata.valid_until.isoformat() == "2031-05-01T12:00:00+00:00"
    assert metadata.name_id_formats == [samples.EMAIL]


def test_a_rollover_with_two_listed_certificates_trusts_both():
    old, new = samples.cert("Okta old"), samples.cert("Okta new")
    assert [c.subject for c in idp_metadata.read(samples.okta(certs=(old, new))).certificates] == [
        "CN=Okta old",
        "CN=Okta new",
    ]


# --- Aggregates --------------------------------------------------------------------------


def test_an_aggregate_holding_one_idp_among_service_providers_gives_that_idp():
    metadata = idp_metadata.read(
        samples.aggregate(samples.sp(), samples.okta(), samples.sp("https://other.example/sp"))
    )
    assert metadata.entity_id == "http://www.okta.com/exk1fxp0a1B2c3D4e5d7"
    assert metadata.from_aggregate and metadata.xml.startswith("<md:EntityDescriptor")


def test_an_aggregate_with_several_idps_and_no_entity_id_is_refused_listing_them(app, runner, tmp_path):
    add_tenant(app, "initech", None)
    path = tmp_path / "federation.xml"
    path.write_bytes(samples.aggregate(samples.okta(), samples.sp(), samples.google(), samples.shibboleth()))
    result = runner.invoke(args=["idp", "import", "initech", str(path)])
    assert result.exit_code == 1
    assert "the aggregate holds 3 IdPs; pick one with --entity-id" in result.output
    for entity_id in (
        "http://www.okta.com/exk1fxp0a1B2c3D4e5d7",
        "https://accounts.google.com/o/saml2?idpid=C01a2b3c4",
        "https://idp.uni.example.edu/idp/shibboleth",
    ):
        assert entity_id in result.output
    assert rows(app, IdentityProvider) == []

    picked = runner.invoke(
        args=["idp", "import", "initech", str(path), "--entity-id", "https://idp.uni.example.edu/idp/shibboleth"]
    )
    assert picked.exit_code == 0, picked.output
    [idp] = rows(app, IdentityProvider)
    assert idp.entity_id == "https://idp.uni.example.edu/idp/shibboleth"
    assert idp.metadata_xml.startswith("<EntityDescriptor") and "okta" not in idp.metadata_xml


def test_the_aggregate_validity_applies_to_the_entity_picked_from_it():
    metadata = idp_metadata.read(
        samples.aggregate(
            samples.okta(),
            samples.google(valid_until="2031-05-01T12:00:00Z"),
            valid_until="2030-01-01T00:00:00Z",
            cache_duration="PT4H",
        ),
        entity_id="https://accounts.google.com/o/saml2?idpid=C01a2b3c4",
    )
    assert metadata.valid_until.isoformat() == "2030-01-01T00:00:00+00:00"  # the earlier of the two
    assert metadata.cache_duration == "PT4H"


@pytest.mark.parametrize(
    "entity_id,reason",
    [
        ("https://app.partner.example/saml/metadata", "is not a SAML 2.0 IdP"),
        ("https://nobody.example/idp", "holds no entity with entity ID"),
    ],
)
def test_an_entity_id_naming_a_service_provider_or_nothing_in_the_aggregate_is_refused(entity_id, reason):
    with pytest.raises(errors.MetadataNotIdp, match=reason):
        idp_metadata.read(samples.aggregate(samples.okta(), samples.sp()), entity_id=entity_id)


def test_a_single_entity_file_that_is_not_the_requested_entity_is_refused():
    with pytest.raises(errors.MetadataNotIdp, match="not 'https://elsewhere.example/idp'"):
        idp_metadata.read(samples.okta(), entity_id="https://elsewhere.example/idp")


# --- Refusals: a clear reason, and the configuration in use stays -------------------------


def _okta_with(replace: dict[str, str]) -> bytes:
    xml = samples.okta().decode()
    for old, new in replace.items():
        assert old in xml
        xml = xml.replace(old, new)
    return xml.encode()


def _unusable_key(**knobs) -> bytes:
    return samples.okta(certs=(samples.cert("Weak", **knobs),))


REFUSALS = {
    "malformed XML": (
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:IDPSSODescriptor>',
        "metadata.malformed",
        "not well-formed XML",
    ),
    "not metadata at all": (b"<html><body>Sign in</body></html>", "metadata.malformed", "the root element is html"),
    "XXE": (
        b'<?xml version="1.0"?><!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&xxe;"/>',
        "metadata.dtd_forbidden",
        "DTD or entity declaration",
    ),
    "billion laughs": (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        b"<lolz>&lol3;</lolz>",
        "metadata.dtd_forbidden",
        "DTD or entity declaration",
    ),
    "a DTD after 40 kB of comment": (
        b"<?xml version='1.0'?><!--" + b"x" * 40_000 + b"--><!DOCTYPE md SYSTEM "
        b'"http://attacker.example/x.dtd"><md:EntityDescriptor '
        b'xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>',
        "metadata.dtd_forbidden",
        "DTD",
    ),
    "UTF-16 hiding a DTD from a byte scan": (
        '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'.encode("utf-16"),
        "metadata.malformed",
        "save it as UTF-8",
    ),
    "an exotic declared encoding": (b'<?xml version="1.0" encoding="UTF-7"?><x/>', "metadata.malformed", "UTF-7"),
    "SP metadata": (samples.sp(), "metadata.not_idp", "service provider's metadata"),
    "no Redirect or POST SSO endpoint": (
        _okta_with(
            {
                f'<md:SingleSignOnService Binding="{samples.POST}"': '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"',
                f'<md:SingleSignOnService Binding="{samples.REDIRECT}"': f'<md:SingleSignOnService Binding="{samples.SOAP}"',
            }
        ),
        "metadata.no_sso",
        "no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding",
    ),
    "a javascript: SSO location": (
        _okta_with({"https://acme.okta.com/app/acme_cloud_1/exk1fxp0a1B2c3D4e5d7/sso/saml": "javascript:alert(1)"}),
        "metadata.malformed",
        "is not an http(s) URL",
    ),
    "an entity ID longer than we store": (
        _okta_with({"http://www.okta.com/exk1fxp0a1B2c3D4e5d7": "https://x.example/" + "a" * 1100}),
        "metadata.malformed",
        "at most 1024",
    ),
    "an SSO URL longer than we store": (
        _okta_with(
            {"https://acme.okta.com/app/acme_cloud_1/exk1fxp0a1B2c3D4e5d7/sso/saml": "https://x.example/" + "a" * 2100}
        ),
        "metadata.malformed",
        "longer than 2048",
    ),
    "no entityID": (
        _okta_with({'entityID="http://www.okta.com/exk1fxp0a1B2c3D4e5d7"': ""}),
        "metadata.malformed",
        "no entityID",
    ),
    "a validUntil that is not a date": (
        _okta_with({"<md:EntityDescriptor ": '<md:EntityDescriptor validUntil="soon" '}),
        "metadata.malformed",
        "validUntil 'soon' is not a date-time",
    ),
    "only an encryption certificate": (
        _okta_with({'use="signing"': 'use="encryption"'}),
        "metadata.no_certificate",
        "no usable signing certificate",
    ),
    "an unreadable certificate": (
        samples.okta(certs=(b"-----BEGIN CERTIFICATE-----\nTm90IGEgY2VydA==\n-----END CERTIFICATE-----",)),
        "metadata.no_certificate",
        "cannot be read",
    ),
    "a 1024-bit RSA key": (_unusable_key(bits=1024), "metadata.no_certificate", "1024-bit RSA key"),
    "a DSA key": (_unusable_key(dsa_key=True), "metadata.no_certificate", "only RSA and EC keys"),
    "an empty file": (b"", "metadata.empty", "empty"),
    "only whitespace": (b"  \n\t ", "metadata.empty", "empty"),
    "a single entity over 5 MB": (
        _okta_with(
            {
                "<md:IDPSSODescriptor": "<md:Extensions><x>"
                + "a" * 5_300_000
                + "</x></md:Extensions><md:IDPSSODescriptor"
            }
        ),
        "metadata.too_large",
        "an EntityDescriptor is larger than",
    ),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_metadata_says_why_and_leaves_the_configuration_in_use(app, client, token, case):
    body, code, reason = REFUSALS[case]
    add_tenant(app, "initech", samples.okta())
    before = snapshot(app)
    refused = put(client, "initech", body, token)
    assert 400 <= refused.status_code < 500
    assert refused.get_json()["error"] == code
    assert reason in refused.get_json()["reason"]
    with pytest.raises(errors.MetadataRejected, match=re.escape(reason)):
        idp_metadata.read(body)
    assert snapshot(app) == before


def test_an_aggregate_over_the_configured_cap_is_refused(app, client, token):
    app.config["IDP_METADATA_MAX_BYTES"] = 20_000
    add_tenant(app, "initech", None)
    body = samples.aggregate(*[samples.sp(f"https://sp{i}.example/sp") for i in range(20)], samples.okta())
    assert len(body) > 20_000
    refused = put(client, "initech", body, token)
    assert refused.status_code == 413 and refused.get_json()["error"] == "metadata.too_large"
    assert rows(app, IdentityProvider) == []


def test_a_refusal_on_the_command_line_is_one_line_and_exit_status_1(app, runner, tmp_path):
    add_tenant(app, "initech", samples.okta())
    before = snapshot(app)
    path = tmp_path / "sp.xml"
    path.write_bytes(samples.sp())
    result = runner.invoke(args=["idp", "import", "initech", str(path)])
    assert result.exit_code == 1
    assert result.output.strip() == "error: this is a service provider's metadata (SPSSODescriptor), not an IdP's"
    assert snapshot(app) == before


# --- Warnings: accepted, but ops are told --------------------------------------------------


def test_expiring_and_sha1_certificates_and_a_shared_entity_id_are_accepted_with_warnings(app, client, token):
    add_tenant(app, "hooli", samples.okta())
    add_tenant(app, "initech", None)
    expiring, sha1 = samples.cert("Expiring soon", days=10), samples.cert("Legacy SHA-1", sha1=True)
    accepted = put(client, "initech", samples.okta(certs=(expiring, sha1)), token)
    assert accepted.status_code == 200, accepted.data
    warnings = accepted.get_json()["warnings"]
    assert any("expires in 10 days" in w for w in warnings)
    assert any("is signed with SHA-1" in w for w in warnings)
    assert "the entity ID 'http://www.okta.com/exk1fxp0a1B2c3D4e5d7' is already used by tenant 'hooli'" in warnings
    assert accepted.get_json()["result"] == "applied"


def test_an_unusable_certificate_next_to_a_good_one_is_ignored_with_a_warning():
    metadata = idp_metadata.read(samples.okta(certs=(samples.cert("Weak", bits=1024), samples.cert("Good"))))
    assert [c.subject for c in metadata.certificates] == ["CN=Good"]
    assert any(w.startswith("ignored: ") and "1024-bit" in w for w in metadata.warnings)


def test_the_cli_prints_warnings_on_stderr_and_still_imports(app, runner, tmp_path):
    add_tenant(app, "initech", None)
    path = tmp_path / "okta.xml"
    path.write_bytes(samples.okta(certs=(samples.cert("Expiring soon", days=10),)))
    result = runner.invoke(args=["idp", "import", "initech", str(path)])
    assert result.exit_code == 0
    assert "warning: certificate" in result.stderr and "expires in 10 days" in result.stderr
    assert "applied as version 1" in result.stdout
