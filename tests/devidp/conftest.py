"""Fixtures for the development IdP tests.

Helpers live on the :class:`SamlKit` fixture (``kit``) rather than in an importable
module, so the tests work whatever import mode pytest uses and whatever other
``conftest.py`` files the repository has.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from werkzeug.test import TestResponse

from devidp import create_app

IDP_BASE = "http://127.0.0.1:5001"
SP_BASE = "http://127.0.0.1:5000"
NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
}


@dataclass
class Form:
    """A form found in an HTML page: where it posts and its named inputs."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """What the tests look at in one of the IdP's HTML pages."""

    forms: list[Form] = field(default_factory=list)
    script_sources: list[str] = field(default_factory=list)
    inline_scripts: int = 0


class _PageParser(HTMLParser):
    """Collects forms, ``<input>`` name/value pairs and scripts (enough for our templates)."""

    def __init__(self) -> None:
        super().__init__()
        self.page = Page()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.page.forms.append(Form(action=values.get("action") or ""))
        elif tag == "input" and self.page.forms and values.get("name"):
            self.page.forms[-1].fields[values["name"] or ""] = values.get("value") or ""
        elif tag == "script" and values.get("src"):
            self.page.script_sources.append(values["src"] or "")
        elif tag == "script":
            self.page.inline_scripts += 1


class SamlKit:
    """Plays our SP against the dev IdP: builds requests, drives forms, configures python3-saml."""

    idp_base = IDP_BASE
    sp_base = SP_BASE
    ns = NS

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    @staticmethod
    def sp_entity_id(slug: str = "demo") -> str:
        """Our SP's entity ID for a tenant."""
        return f"{SP_BASE}/saml/{slug}/metadata"

    @staticmethod
    def sp_acs_url(slug: str = "demo") -> str:
        """Our SP's ACS URL for a tenant."""
        return f"{SP_BASE}/saml/{slug}/acs"

    def authn_request(
        self,
        request_id: str = "_req0123456789abcdef",
        issuer: str | None = None,
        acs_url: str | None = "",
        extra_attributes: str = "",
        prolog: str = "",
    ) -> bytes:
        """An AuthnRequest as our SP sends it; ``acs_url=""`` means the demo ACS, ``None`` none."""
        issuer = self.sp_entity_id() if issuer is None else issuer
        acs_url = self.sp_acs_url() if acs_url == "" else acs_url
        acs = f' AssertionConsumerServiceURL="{acs_url}"' if acs_url is not None else ""
        return (
            f'{prolog}<samlp:AuthnRequest xmlns:samlp="{NS["samlp"]}" xmlns:saml="{NS["saml"]}"'
            f' ID="{request_id}" Version="2.0" IssueInstant="2030-01-01T00:00:00Z"'
            f' Destination="{IDP_BASE}/sso"{acs}'
            f' ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"{extra_attributes}>'
            f"<saml:Issuer>{issuer}</saml:Issuer>"
            '<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" AllowCreate="true"/>'
            "</samlp:AuthnRequest>"
        ).encode()

    @staticmethod
    def deflate(xml: bytes) -> str:
        """HTTP-Redirect binding encoding: base64 of raw DEFLATE."""
        compressor = zlib.compressobj(wbits=-15)
        return base64.b64encode(compressor.compress(xml) + compressor.flush()).decode()

    @staticmethod
    def inflate(encoded: str) -> bytes:
        """Undo :meth:`deflate`."""
        return zlib.decompress(base64.b64decode(encoded), wbits=-15)

    @staticmethod
    def page(response: TestResponse) -> Page:
        """Parse an HTML response of the IdP."""
        parser = _PageParser()
        parser.feed(response.get_data(as_text=True))
        parser.close()
        return parser.page

    def sign_in(
        self, xml: bytes, username: str, password: str = "demo", relay_state: str | None = None
    ) -> TestResponse:
        """Send ``xml`` via the Redirect binding and submit the login form; return the final page."""
        query: dict[str, str] = {"SAMLRequest": self.deflate(xml)}
        if relay_state is not None:
            query["RelayState"] = relay_state
        login_page = self.client.get("/sso", query_string=query)
        assert login_page.status_code == 200, login_page.get_data(as_text=True)
        (form,) = self.page(login_page).forms
        return self.client.post(form.action, data={**form.fields, "username": username, "password": password})

    def saml_response(self, response: TestResponse, acs_url: str | None = None) -> str:
        """The base64 ``SAMLResponse`` from an auto-submit page (checking where it posts)."""
        assert response.status_code == 200, response.get_data(as_text=True)
        (form,) = self.page(response).forms
        assert form.action == (acs_url or self.sp_acs_url())
        return form.fields["SAMLResponse"]

    def idp_cert(self) -> str:
        """The signing certificate (base64 DER) as published in the IdP's metadata."""
        root = etree.fromstring(self.client.get("/metadata").data)
        cert = root.findtext(".//md:KeyDescriptor[@use='signing']//ds:X509Certificate", namespaces=NS)
        assert cert
        return cert.strip()

    def sp_settings(self, slug: str = "demo", **security: Any) -> OneLogin_Saml2_Settings:
        """Strict python3-saml settings for one tenant of our SP, trusting the dev IdP's metadata."""
        return OneLogin_Saml2_Settings(
            {
                "strict": True,
                "sp": {
                    "entityId": self.sp_entity_id(slug),
                    "assertionConsumerService": {"url": self.sp_acs_url(slug)},
                    "singleLogoutService": {"url": f"{SP_BASE}/saml/{slug}/sls"},
                },
                "idp": {
                    "entityId": f"{IDP_BASE}/metadata",
                    "singleSignOnService": {"url": f"{IDP_BASE}/sso"},
                    "singleLogoutService": {"url": f"{IDP_BASE}/slo"},
                    "x509cert": self.idp_cert(),
                },
                "security": {"wantAttributeStatement": False, "rejectDeprecatedAlgorithm": True, **security},
            }
        )

    @staticmethod
    def request_data(path: str, get_data: dict[str, str] | None = None) -> dict[str, Any]:
        """python3-saml request data for a request our SP receives at ``path``.

        The port goes into ``http_host``: python3-saml 1.16 deprecates ``server_port``
        with a DeprecationWarning, which ``-W error`` turns into a validation failure.
        """
        return {
            "https": "off",
            "http_host": "127.0.0.1:5000",
            "script_name": path,
            "get_data": get_data or {},
            "post_data": {},
        }


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Flask:
    """A dev IdP for tenants ``demo`` and ``acme`` with its keys under ``tmp_path``."""
    for name in ("BASE_URL", "SP_BASE_URL", "TENANTS", "KEY_DIR", "SECRET_KEY", "PORT"):
        monkeypatch.delenv(f"DEVIDP_{name}", raising=False)
    return create_app(
        {
            "BASE_URL": IDP_BASE,
            "SP_BASE_URL": SP_BASE,
            "KEY_DIR": tmp_path / "keys",
            "TENANTS": ["demo", "acme"],
            "TESTING": True,
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client for :func:`app`."""
    return app.test_client()


@pytest.fixture
def kit(client: FlaskClient) -> SamlKit:
    """SAML helpers bound to :func:`client`."""
    return SamlKit(client)
