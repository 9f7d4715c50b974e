"""What we hand the customer's IdP administrator: our SP metadata and the per-tenant setup page."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from support import idp_samples as samples
from support.journeys import SP_BASE, add_tenant
from support.keys import cert_body

NS = {"md": "urn:oasis:names:tc:SAML:2.0:metadata", "ds": "http://www.w3.org/2000/09/xmldsig#"}
ENTITY = f"{SP_BASE}/saml/initech/metadata"


def metadata_of(client, slug: str = "initech") -> etree._Element:
    response = client.get(f"/saml/{slug}/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    return etree.fromstring(response.data)


def key_uses(root: etree._Element) -> list[tuple[str, str]]:
    """(use, certificate body) for each KeyDescriptor of the SPSSODescriptor."""
    return [
        (key.get("use"), key.findtext(".//ds:X509Certificate", namespaces=NS).replace("\n", ""))
        for key in root.findall("md:SPSSODescriptor/md:KeyDescriptor", NS)
    ]


def sp_cert_body(folder: str, name: str = "sp.crt") -> str:
    return cert_body((Path(folder) / name).read_bytes())


@pytest.fixture
def app_with(app):
    """Make another app on the same database with extra configuration; `app` cleans the data up."""
    from sp import create_app
    from sp.extensions import db

    made = []

    def make(**config):
        base = {
            k: app.config[k]
            for k in ("TESTING", "SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "SP_BASE_URL", "SAML_SETTINGS_DIR")
        }
        made.append(create_app({**base, **config}))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_sp_metadata_has_entity_id_acs_name_id_format_and_the_signing_certificate(app, client, settings_dir):
    add_tenant(app, "initech", None)
    root = metadata_of(client)
    assert root.get("entityID") == ENTITY
    descriptor = root.find("md:SPSSODescriptor", NS)
    assert descriptor.get("AuthnRequestsSigned") == "true"
    [acs] = descriptor.findall("md:AssertionConsumerService", NS)
    assert (acs.get("Binding"), acs.get("Location")) == (
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        f"{SP_BASE}/saml/initech/acs",
    )
    assert (
        descriptor.findtext("md:NameIDFormat", namespaces=NS) == "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    )
    assert key_uses(root) == [("signing", sp_cert_body(settings_dir))]
    # Single logout by HTTP-Redirect; no encryption key while encrypted assertions are refused.
    [sls] = descriptor.findall("md:SingleLogoutService", NS)
    assert (sls.get("Binding"), sls.get("Location")) == (
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
        f"{SP_BASE}/saml/initech/sls",
    )
    assert root.find("ds:Signature", NS) is None


def test_the_metadata_can_be_downloaded_as_a_file(app, client):
    add_tenant(app, "initech", None)
    response = client.get("/saml/initech/metadata?download=1")
    assert response.headers["Content-Disposition"] == 'attachment; filename="initech-sp-metadata.xml"'


def test_the_encryption_certificate_is_published_only_when_switched_on(app_with):
    app = app_with(SAML_PUBLISH_ENCRYPTION_CERT=True)
    add_tenant(app, "initech", None)
    assert sorted(use for use, _ in key_uses(metadata_of(app.test_client()))) == ["encryption", "signing"]
    assert b"publishes an encryption certificate" in app.test_client().get("/saml/initech/setup").data


def test_the_next_certificate_is_published_next_to_the_current_one_ahead_of_a_rollover(
    app_with, tmp_path, settings_dir
):
    folder = tmp_path / "keys"
    shutil.copytree(settings_dir, folder)
    next_cert = samples.cert("SP next certificate")
    (folder / "sp-next.crt").write_bytes(next_cert)
    app = app_with(SAML_SETTINGS_DIR=str(folder))
    add_tenant(app, "initech", None)
    assert key_uses(metadata_of(app.test_client())) == [
        ("signing", sp_cert_body(settings_dir)),
        ("signing", cert_body(next_cert)),
    ]


def test_signed_sp_metadata_verifies_with_our_certificate(app_with, settings_dir):
    app = app_with(SAML_SIGN_METADATA=True)
    add_tenant(app, "initech", None)
    root = metadata_of(app.test_client())
    assert len(root.findall("ds:Signature", NS)) == 1
    pem = (Path(settings_dir) / "sp.crt").read_text()
    assert OneLogin_Saml2_Utils.validate_metadata_sign(etree.tostring(root), cert=pem, raise_exceptions=True)


def test_single_logout_is_published_exactly_where_the_app_serves_it(app, client):
    from sp.signin import trust

    add_tenant(app, "initech", None)
    [sls] = metadata_of(client).findall("md:SPSSODescriptor/md:SingleLogoutService", NS)
    with app.test_request_context(base_url=SP_BASE):
        served = SP_BASE + app.url_map.bind("sp.example.com").build("saml.sls", {"slug": "initech"})
        assert trust.sls_url("initech") == served == sls.get("Location") == f"{SP_BASE}/saml/initech/sls"
    assert client.get("/saml/initech/sls").status_code != 404
    assert f"{SP_BASE}/saml/initech/sls".encode() in client.get("/saml/initech/setup").data


# --- The setup page ----------------------------------------------------------------------


def test_the_setup_page_gives_the_idp_admin_every_value_and_the_steps_for_each_idp(app, client):
    add_tenant(app, "initech", samples.okta())
    page = client.get("/saml/initech/setup")
    assert page.status_code == 200
    html = page.data.decode()
    assert "Set up single sign-on for Initech Corp" in html
    for value in (
        ENTITY,
        f"{SP_BASE}/saml/initech/acs",
        f"{SP_BASE}/saml/initech/login",
        f"{SP_BASE}/saml/initech/sls",
        "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    ):
        assert value in html
    # Single logout, where each IdP takes it (Google has none).
    assert "Enable Single Logout" in html and "SAML Logout" in html and "no SAML single logout" in html
    for idp in ("Okta", "Microsoft Entra ID", "AD FS", "Google Workspace"):
        assert f"<summary>{idp}" in html
    # The attributes we read, straight from the provisioning code.
    for name in (
        "email",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "displayName",
        "givenName",
        "sn",
    ):
        assert f"<code>{name}</code>" in html
    assert "Leave assertion encryption" in html
    # Public page: nothing about the IdP we trust or the users.
    assert "okta.com" not in html


def test_the_setup_page_lists_a_tenants_own_attribute_names(app, client):
    from sp.extensions import db
    from sp.tenancy import tenants

    add_tenant(app, "initech", None)
    with app.app_context():
        tenant = tenants.find("initech")
        tenant.email_attribute, tenant.name_attribute = "corpMail", "corpName"
        db.session.commit()
    html = client.get("/saml/initech/setup").data.decode()
    assert "<code>corpMail</code>" in html and "<code>corpName</code>" in html
    assert "<code>givenName</code>" not in html


@pytest.mark.parametrize("path", ["/saml/nosuch/setup", "/saml/NOPE/setup"])
def test_the_setup_page_of_an_unknown_tenant_is_a_404(client, path):
    assert client.get(path).status_code == 404
