"""An operator uploads or pastes a tenant's IdP metadata in /ops, reviews the diff, applies or rolls back."""

from __future__ import annotations

import base64
import io
import re

import pytest

from sp import clock
from sp.idp import versions
from sp.models import AuditEvent, IdentityProvider, IdpMetadataVersion
from sp.tenancy import tenants
from support import idp_samples as samples
from support.consoles import create_operator, ops_sign_in
from support.journeys import add_tenant, rows

TENANT = "/ops/tenants/initech"
OLD, NEW = samples.cert("Okta old"), samples.cert("Okta new")
REPLACEMENT = samples.okta(certs=(OLD, NEW))


@pytest.fixture
def initech(app) -> str:
    """Tenant 'initech' trusting Okta with one certificate (version 1)."""
    add_tenant(app, "initech", samples.okta(certs=(OLD,)))
    return "initech"


@pytest.fixture
def operator(app, client) -> str:
    create_operator(app, "sam")
    assert ops_sign_in(client).status_code == 303
    return "sam"


def token(client) -> str:
    return client.csrf_token(TENANT)


def review(client, *, file: bytes | None = None, xml: str = "", entity_id: str = "", csrf: bool = True):
    """Submit the upload form as a browser does: multipart, with a file part even when none is chosen."""
    data = {
        "xml": xml,
        "entity_id": entity_id,
        "file": (io.BytesIO(file or b""), "metadata.xml" if file is not None else ""),
    }
    if csrf:
        data["csrf_token"] = token(client)
    return client.post(TENANT + "/idp/review", data=data, content_type="multipart/form-data")


def apply_form(page: bytes) -> dict:
    """The hidden fields of the review page's Apply form."""
    html = page.decode()
    form = html.split('action="/ops/tenants/initech/idp/apply"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', form))


def config(app) -> tuple[int, list[str], int]:
    """The revision in use, its certificate subjects and how many versions are kept."""
    [idp] = rows(app, IdentityProvider)
    return idp.revision, sorted(c["subject"] for c in idp.certificates), len(rows(app, IdpMetadataVersion))


def imports(app) -> list[AuditEvent]:
    return [e for e in rows(app, AuditEvent) if e.action == "idp.metadata_imported"]


# --- The tenant page --------------------------------------------------------------------


def test_the_tenant_page_shows_certificate_status_versions_the_upload_form_and_our_links(
    client, app, initech, operator
):
    page = client.get(TENANT).data.decode()
    [idp] = rows(app, IdentityProvider)
    assert idp.certificates[0]["sha256"] in page and "CN=Okta old" in page and "days left" in page
    assert 'enctype="multipart/form-data"' in page and '<label for="file">Metadata file</label>' in page
    assert '<label for="xml">or paste the XML</label>' in page
    assert "Up to 1,048,576 bytes" in page
    assert re.search(r"<td>1</td>\s*<td><span class=\"badge ok\">active</span>", page)
    assert 'href="/saml/initech/metadata?download=1"' in page and 'href="/saml/initech/setup"' in page
    assert "Roll back" not in page  # only one version: nothing to go back to


def test_certificate_warnings_from_the_idp_status_are_on_the_tenant_page(client, app, operator):
    add_tenant(app, "initech", samples.okta(certs=(samples.cert("Okta expiring", days=10),)))
    page = client.get(TENANT).data.decode()
    assert "expires in 10 days" in page
    assert page.count('class="warning-text"') == 1


# --- Review, then apply -----------------------------------------------------------------


def test_an_uploaded_file_shows_the_diff_and_changes_nothing(client, app, initech, operator):
    before = config(app)
    shown = review(client, file=REPLACEMENT)
    assert shown.status_code == 200
    page = shown.data.decode()
    assert "<h1>Review the IdP metadata for Initech Corp</h1>" in page
    assert re.search(
        r'<span class="badge ok">Added</span></td>\s*<td class="fingerprint"><code>[0-9a-f:]+</code></td>\s*<td>CN=Okta new',
        page,
        re.I,
    )
    assert re.search(
        r'<span class="badge ">Kept</span></td>\s*<td class="fingerprint"><code>[0-9a-f:]+</code></td>\s*<td>CN=Okta old',
        page,
        re.I,
    )
    assert "days left" in page and "No endpoint changes." in page
    assert "+ signing certificate" in page  # the CLI's text diff, folded away
    fields = apply_form(shown.data)
    assert base64.b64decode(fields["metadata"]) == REPLACEMENT and fields["expected_revision"] == "1"
    assert config(app) == before and len(imports(app)) == 1


def test_pasted_xml_shows_the_diff_of_a_new_entity_id_and_endpoints(client, app, initech, operator):
    page = review(client, xml="\n  " + samples.entra().decode() + "\n").data.decode()
    assert (
        "<del><code>http://www.okta.com/exk1fxp0a1B2c3D4e5d7</code></del> → <ins><code>https://sts.windows.net/" in page
    )
    assert re.search(
        r'badge bad">Removed</span></td><td>SSO</td><td>HTTP-POST</td><td class="wrap-anywhere"><code>https://acme.okta.com/',
        page,
    )
    assert re.search(
        r'badge ok">Added</span></td><td>SLO</td><td>HTTP-Redirect</td><td class="wrap-anywhere"><code>https://login.microsoftonline.com/',
        page,
    )
    assert 'Removed</span></td>\n        <td class="fingerprint">' in page


def test_applying_the_reviewed_metadata_makes_it_the_configuration_in_use(client, app, initech, operator):
    fields = apply_form(review(client, file=REPLACEMENT).data)
    applied = client.post(TENANT + "/idp/apply", data=fields)
    assert applied.status_code == 303 and applied.headers["Location"] == TENANT
    assert config(app) == (2, ["CN=Okta new", "CN=Okta old"], 2)
    event = imports(app)[-1]
    assert event.actor == "ops:sam" and event.details["source"] == "console" and event.details["version"] == 2

    page = client.get(TENANT).data.decode()
    assert (
        "Applied: version 2 of the IdP metadata (http://www.okta.com/exk1fxp0a1B2c3D4e5d7) is in use for initech."
        in page
    )
    assert "CN=Okta new" in page and "Roll back to version 1" in page
    [version] = [v for v in rows(app, IdpMetadataVersion) if v.number == 2]
    assert (version.source, version.actor, version.state) == ("console", "ops:sam", "active")


def test_a_change_made_meanwhile_shows_the_fresh_diff_instead_of_applying(client, app, initech, operator):
    fields = apply_form(review(client, file=REPLACEMENT).data)
    with app.app_context():  # someone else replaces the certificate in the meantime
        versions.import_metadata(
            tenants.find("initech"), samples.okta(certs=(NEW,)), origin="cli", actor="cli", now=clock.utcnow()
        )
    conflict = client.post(TENANT + "/idp/apply", data=fields)
    assert conflict.status_code == 409
    page = conflict.data.decode()
    assert "The IdP configuration changed since this diff was made." in page and 'role="alert"' in page
    assert re.search(
        r'badge ok">Added</span></td>\s*<td class="fingerprint"><code>[0-9a-f:]+</code></td>\s*<td>CN=Okta old',
        page,
        re.I,
    )
    assert apply_form(conflict.data)["expected_revision"] == "2"
    assert config(app) == (2, ["CN=Okta new"], 2)

    assert client.post(TENANT + "/idp/apply", data=apply_form(conflict.data)).status_code == 303
    assert config(app) == (3, ["CN=Okta new", "CN=Okta old"], 3)


def test_metadata_already_in_use_is_shown_as_no_change_without_an_apply_button(client, app, initech, operator):
    page = review(client, file=samples.okta(certs=(OLD,))).data.decode()
    assert "applying it would change nothing" in page and "Apply this metadata" not in page
    assert config(app)[0] == 1


def test_the_first_import_of_a_new_tenant(client, app, operator):
    add_tenant(app, "initech", None)
    page = client.get(TENANT).data.decode()
    assert "no IdP metadata imported: nobody can sign in" in page and "Upload the IdP metadata" in page
    shown = review(client, file=samples.google())
    assert '<h2 id="summary-title">First import</h2>' in shown.data.decode()
    assert client.post(TENANT + "/idp/apply", data=apply_form(shown.data)).status_code == 303
    assert config(app) == (1, ["CN=Google"], 1)


# --- Refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,code,words",
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE md [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><md>&xxe;</md>',
            "metadata.dtd_forbidden",
            "DTD",
        ),
        (samples.sp(), "metadata.not_idp", "(SPSSODescriptor), not an IdP"),
        (samples.okta(certs=(samples.cert("Okta short", bits=1024),)), "metadata.no_certificate", "1024"),
        (b"<md:EntityDescriptor", "metadata.malformed", ""),
        (samples.aggregate(samples.okta(), samples.google()), "metadata.ambiguous", "--entity-id"),
    ],
)
def test_refused_metadata_shows_the_code_and_reason_and_changes_nothing(
    client, app, initech, operator, body, code, words
):
    before = config(app)
    refused = review(client, file=body)
    assert refused.status_code == 400
    page = refused.data.decode()
    alert = page.split('<div class="error" role="alert">', 1)[1].split("</div>", 1)[0]
    assert f"<code>{code}</code>" in alert and words in alert and "Nothing was changed." in alert
    assert config(app) == before and len(imports(app)) == 1


def test_an_aggregate_is_read_with_the_entity_id_given(client, app, initech, operator):
    body = samples.aggregate(samples.okta(certs=(OLD,)), samples.google())
    shown = review(client, file=body, entity_id="https://accounts.google.com/o/saml2?idpid=C01a2b3c4")
    assert shown.status_code == 200
    fields = apply_form(shown.data)
    assert fields["entity_id"] == "https://accounts.google.com/o/saml2?idpid=C01a2b3c4"
    assert client.post(TENANT + "/idp/apply", data=fields).status_code == 303
    assert config(app)[1] == ["CN=Google"]


def test_a_refused_paste_stays_in_the_form_to_fix(client, initech, operator):
    page = review(client, xml="<md:EntityDescriptor broken").data.decode()
    assert "<code>metadata.malformed</code>" in page
    assert "&lt;md:EntityDescriptor broken</textarea>" in page


@pytest.mark.parametrize(
    "file,xml,words",
    [
        (None, "", "choose a metadata file or paste the metadata XML"),
        (None, "   \n", "choose a metadata file or paste the metadata XML"),
        (REPLACEMENT, REPLACEMENT.decode(), "not both"),
    ],
)
def test_neither_or_both_a_file_and_a_paste_is_refused(client, app, initech, operator, file, xml, words):
    refused = review(client, file=file, xml=xml)
    assert refused.status_code == 400
    assert "<code>metadata.input</code>" in refused.data.decode() and words in refused.data.decode()
    assert config(app)[0] == 1


def test_metadata_over_the_console_limit_is_refused_with_what_to_do_instead(client, app, initech, operator):
    app.config["OPS_METADATA_MAX_BYTES"] = 4096
    big = REPLACEMENT + b"<!--" + b"x" * 5000 + b"-->"
    for refused in (review(client, file=big), review(client, xml=big.decode())):
        assert refused.status_code == 413
        page = refused.data.decode()
        assert "<code>metadata.too_large</code>" in page and "larger than the console takes (4,096 bytes" in page
        assert "flask --app wsgi idp import SLUG FILE --entity-id ENTITY_ID" in page
    # A body far over the limit is refused from its Content-Length, before it is read.
    huge = review(client, file=REPLACEMENT + b"<!--" + b"x" * 200_000 + b"-->")
    assert huge.status_code == 413 and "<code>metadata.too_large</code>" in huge.data.decode()
    assert config(app)[0] == 1


def test_the_apply_form_refuses_a_payload_that_did_not_come_back_intact(client, app, initech, operator):
    fields = apply_form(review(client, file=REPLACEMENT).data)
    for broken in (
        {**fields, "metadata": "not base64!"},
        {**fields, "metadata": ""},
        {k: v for k, v in fields.items() if k != "expected_revision"},
    ):
        refused = client.post(TENANT + "/idp/apply", data=broken)
        assert refused.status_code == 400 and "<code>metadata.input</code>" in refused.data.decode()
    tampered = {**fields, "metadata": base64.b64encode(samples.sp()).decode()}
    refused = client.post(TENANT + "/idp/apply", data=tampered)
    assert refused.status_code == 400 and "<code>metadata.not_idp</code>" in refused.data.decode()
    assert config(app)[0] == 1


def test_metadata_forms_without_the_csrf_token_are_refused(client, app, initech, operator):
    assert b"request.csrf" in review(client, file=REPLACEMENT, csrf=False).data
    fields = apply_form(review(client, file=REPLACEMENT).data)
    del fields["csrf_token"]
    refused = client.post(TENANT + "/idp/apply", data=fields)
    assert refused.status_code == 400 and b"request.csrf" in refused.data
    assert client.post(TENANT + "/idp/rollback").status_code == 400
    assert config(app)[0] == 1


def test_signed_out_visitors_cannot_review_or_apply(client, app, initech):
    for path in ("/idp/review", "/idp/apply"):
        response = client.post(TENANT + path, data={"metadata": base64.b64encode(REPLACEMENT).decode()})
        assert response.status_code == 302 and response.headers["Location"].startswith("/ops/sign-in")
    assert client.post(TENANT + "/idp/rollback").status_code == 400  # the app-wide CSRF check comes first
    assert config(app)[0] == 1


def test_an_unknown_tenant_is_not_found(client, operator):
    assert (
        client.post("/ops/tenants/nobody/idp/review", data={"csrf_token": client.csrf_token("/ops/")}).status_code
        == 404
    )


# --- Rollback ---------------------------------------------------------------------------


def test_rolling_back_reactivates_the_previous_version(client, app, initech, operator):
    client.post(TENANT + "/idp/apply", data=apply_form(review(client, file=REPLACEMENT).data))
    rolled = client.post(TENANT + "/idp/rollback", data={"csrf_token": token(client)})
    assert rolled.status_code == 303
    assert config(app) == (3, ["CN=Okta old"], 2)
    page = client.get(TENANT).data.decode()
    assert "Rolled back to version 1: - signing certificate" in page and "rolled back" in page
    [event] = [e for e in rows(app, AuditEvent) if e.action == "idp.metadata_rolled_back"]
    assert event.actor == "ops:sam" and event.details["to_version"] == 1


def test_rolling_back_without_an_earlier_version_is_refused_plainly(client, app, initech, operator):
    refused = client.post(TENANT + "/idp/rollback", data={"csrf_token": token(client)})
    assert refused.status_code == 409
    assert "<code>idp.no_earlier_version</code>" in refused.data.decode()
    assert config(app) == (1, ["CN=Okta old"], 1)
