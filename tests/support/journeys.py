"""What a test does as a user, a browser or an IdP would: shared by the test modules."""

from __future__ import annotations

import base64
import zlib
from urllib.parse import parse_qs, urlsplit

from flask.testing import FlaskClient
from lxml import etree

from sp import create_app
from sp.extensions import db

SP_BASE = "https://sp.example.com"
IDP_ENTITY_ID = "https://idp.acme.example/saml"


class Browser(FlaskClient):
    """A test client that talks to SP_BASE over https, as a real browser would."""

    def open(self, *args, **kwargs):
        kwargs.setdefault("base_url", SP_BASE)
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Referer", SP_BASE + "/")  # browsers send it on same-origin form posts
        kwargs["headers"] = headers
        return super().open(*args, **kwargs)

    def csrf_token(self, path: str = "/login") -> str:
        """The CSRF token from a form on path, as a browser would submit it."""
        page = self.get(path)
        return page.data.split(b'name="csrf_token" value="')[1].split(b'"')[0].decode()


def make_app(database: str, settings_dir: str, **overrides):
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database,
        "SECRET_KEY": "test-secret",
        "SP_BASE_URL": SP_BASE,
        "SAML_SETTINGS_DIR": settings_dir,
        # Cheap operator password hashes: the default argon2id costs ~0.1-0.4 s per sign-in.
        "OPS_ARGON2_PARAMETERS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        # Off except in the tests of the limits themselves (tests/security/test_rate_limits.py).
        "RATELIMIT_ENABLED": False,
    }
    config.update(overrides)
    app = create_app(config)
    app.test_client_class = Browser
    return app


def add_tenant(app, slug: str, metadata: bytes | None, domains=(), **settings):
    """Create a tenant (and import its IdP metadata) through the services the CLI uses."""
    from sp import clock
    from sp.idp import versions
    from sp.tenancy import tenants

    with app.app_context():
        tenant = tenants.create_tenant(slug, slug.title() + " Corp", list(domains))
        if settings:
            tenants.update_settings(tenant, **settings)
        if metadata is not None:
            versions.import_metadata(tenant, metadata, origin="cli", actor="cli", now=clock.utcnow())
        return tenant.id


def post_acs(client, slug: str, saml_response: str, relay_state: str | None = None):
    data = {"SAMLResponse": saml_response}
    if relay_state is not None:
        data["RelayState"] = relay_state
    return client.post(f"/saml/{slug}/acs", data=data)


def start_login(client, slug: str, next_path: str | None = None) -> str:
    """Begin SP-initiated login; return the ID of the AuthnRequest we were redirected with."""
    url = f"/saml/{slug}/login" + (f"?next={next_path}" if next_path else "")
    response = client.get(url)
    assert response.status_code == 302, response.data
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    return etree.fromstring(xml).get("ID")


def rows(app, model) -> list:
    with app.app_context():
        return list(db.session.scalars(db.select(model)))
