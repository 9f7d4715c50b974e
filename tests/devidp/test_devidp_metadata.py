"""IdP metadata, key handling, configuration and the plain pages."""

from __future__ import annotations

import base64
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from lxml import etree

from devidp import create_app
from devidp.config import load_settings

if TYPE_CHECKING:
    from conftest import SamlKit

REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def test_metadata(kit: SamlKit, tmp_path: Path) -> None:
    response = kit.client.get("/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    root = etree.fromstring(response.data)
    ns = kit.ns
    assert root.tag == f"{{{ns['md']}}}EntityDescriptor"
    assert root.get("entityID") == "http://127.0.0.1:5001/metadata"
    (idp,) = root.findall("md:IDPSSODescriptor", ns)
    assert idp.get("protocolSupportEnumeration") == "urn:oasis:names:tc:SAML:2.0:protocol"
    assert idp.findtext("md:NameIDFormat", namespaces=ns) == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    sso = {el.get("Binding"): el.get("Location") for el in idp.findall("md:SingleSignOnService", ns)}
    assert sso == {REDIRECT: "http://127.0.0.1:5001/sso", POST: "http://127.0.0.1:5001/sso"}
    slo = {el.get("Binding"): el.get("Location") for el in idp.findall("md:SingleLogoutService", ns)}
    assert slo == {REDIRECT: "http://127.0.0.1:5001/slo"}

    published = x509.load_der_x509_certificate(base64.b64decode(kit.idp_cert()))
    on_disk = x509.load_pem_x509_certificate((tmp_path / "keys" / "idp-cert.pem").read_bytes())
    assert published == on_disk
    assert published.subject.rfc4514_string() == "CN=Development IdP"
    validity = published.not_valid_after_utc - published.not_valid_before_utc
    assert validity.days >= 3650


def test_keys_are_created_once_and_reused(tmp_path: Path, kit: SamlKit) -> None:
    key_path = tmp_path / "keys" / "idp-key.pem"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    first_cert = kit.idp_cert()
    again = create_app({"KEY_DIR": tmp_path / "keys", "TESTING": True}).test_client()
    root = etree.fromstring(again.get("/metadata").data)
    assert root.findtext(".//ds:X509Certificate", namespaces=kit.ns) == first_cert
    assert sorted(path.name for path in (tmp_path / "keys").iterdir()) == ["idp-cert.pem", "idp-key.pem"]


def test_missing_key_is_an_error(tmp_path: Path) -> None:
    create_app({"KEY_DIR": tmp_path})
    (tmp_path / "idp-key.pem").unlink()
    with pytest.raises(RuntimeError, match="idp-key.pem"):
        create_app({"KEY_DIR": tmp_path})


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DEVIDP_BASE_URL", "http://idp.test:8001/")
    monkeypatch.setenv("DEVIDP_SP_BASE_URL", "http://sp.test:8000")
    monkeypatch.setenv("DEVIDP_TENANTS", " demo, acme ,demo")
    settings = load_settings({"KEY_DIR": tmp_path})
    assert settings.entity_id == "http://idp.test:8001/metadata"
    assert settings.tenants == ("demo", "acme")
    assert settings.slug_for_sp_entity_id("http://sp.test:8000/saml/acme/metadata") == "acme"
    assert load_settings({"TENANTS": ["x"], "KEY_DIR": tmp_path}).tenants == ("x",)
    with pytest.raises(ValueError, match="TENANTS"):
        load_settings({"TENANTS": "demo,no/slash"})
    with pytest.raises(ValueError, match="BASE_URL"):
        load_settings({"BASE_URL": "ftp://nope"})


def test_index_and_errors(kit: SamlKit) -> None:
    index = kit.client.get("/")
    assert index.status_code == 200
    body = index.get_data(as_text=True)
    assert 'href="/portal"' in body and 'href="/metadata"' in body
    assert "script-src 'self'" in index.headers["Content-Security-Policy"]
    assert kit.client.get("/nowhere").status_code == 404
    assert kit.client.get("/login").status_code == 405


def test_login_page_is_accessible(kit: SamlKit) -> None:
    page = kit.client.get("/sso", query_string={"SAMLRequest": kit.deflate(kit.authn_request())})
    body = page.get_data(as_text=True)
    assert "<h1>Development IdP — sign in</h1>" in body
    assert '<label for="username">' in body and '<label for="password">' in body
    assert "password <code>demo</code>" in body
    for email in ("alice@demo.example", "bob@demo.example", "carol@demo.example"):
        assert email in body
