"""Fixtures: a real database (SQLite, or PostgreSQL with TEST_DATABASE_URL), real keys, real XML."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from flask_migrate import upgrade
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).parent))

from sp import create_app  # noqa: E402
from sp.config import database_url  # noqa: E402
from sp.extensions import db  # noqa: E402
from sp.saml import keys as sp_keys  # noqa: E402
from support.journeys import IDP_ENTITY_ID, SP_BASE, Browser, add_tenant, make_app  # noqa: E402
from support.keys import make_key_pair  # noqa: E402
from support.saml_builder import ResponseBuilder  # noqa: E402


def _truncate_all() -> None:
    engine = db.engine
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            connection.execute(text("PRAGMA foreign_keys=OFF"))
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
            connection.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture(scope="session")
def settings_dir(tmp_path_factory) -> str:
    """A directory with the SP key pair, generated once per test session."""
    folder = tmp_path_factory.mktemp("saml_settings")
    sp_keys.load_or_create(str(folder), SP_BASE)
    return str(folder)


@pytest.fixture(scope="session")
def database(tmp_path_factory, settings_dir) -> str:
    """The test database URL, migrated from empty with `flask db upgrade` once per session."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    url = database_url(url)
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t", "SAML_SETTINGS_DIR": settings_dir}
    )
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("DROP SCHEMA public CASCADE"))
                connection.execute(text("CREATE SCHEMA public"))
        upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def app(database, settings_dir):
    app = make_app(database, settings_dir)
    yield app
    with app.app_context():
        db.session.remove()
        _truncate_all()
        db.engine.dispose()


@pytest.fixture
def client(app) -> Browser:
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture(scope="session")
def idp_keys() -> tuple[bytes, bytes]:
    return make_key_pair("Acme Test IdP")


@pytest.fixture
def builder(idp_keys) -> ResponseBuilder:
    """Our fast test IdP for tenant 'acme'."""
    return ResponseBuilder(*idp_keys, entity_id=IDP_ENTITY_ID, sp_base=SP_BASE, slug="acme")


@pytest.fixture
def acme(app, builder):
    """Tenant 'acme' trusting the fast test IdP; returns its slug."""
    add_tenant(app, "acme", builder.metadata(), domains=["acme.example"])
    return "acme"
