"""A real stack for browser tests: the SP and the development IdP as HTTP servers, driven by Chromium.

Both run in background threads on free 127.0.0.1 ports, over a fresh SQLite database migrated
with `flask db upgrade`, seeded like `make run` seeds the demo tenant. Playwright drives Debian's
Chromium (never a browser of its own). Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade
from werkzeug.serving import BaseWSGIServer, make_server

import devidp
from sp import clock, create_app
from sp.extensions import db
from sp.idp import versions
from sp.tenancy import groups, tenants

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DEMO_GROUPS = {"Admins": ["admin", "reports:read", "reports:write"], "Engineering": ["reports:read"]}
PASSWORD = "demo"

requires_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="browser tests need Debian's chromium: apt-get install chromium libatomic1"
)


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(requires_chromium)


@dataclass
class Stack:
    """The running SP and dev IdP, and the SP app for direct service calls."""

    sp: Flask
    sp_base: str
    idp_base: str

    def url(self, path: str) -> str:
        return self.sp_base + path


def _serve(app: Flask | None) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name=f"server-{server.server_port}", daemon=True)
    return server, thread


@pytest.fixture(scope="session")
def stack(tmp_path_factory) -> Stack:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    folder = tmp_path_factory.mktemp("browser-stack")
    # Bind both ports first: each app must know the other's URL before it is built.
    sp_server, sp_thread = _serve(None)
    idp_server, idp_thread = _serve(None)
    sp_base, idp_base = f"http://127.0.0.1:{sp_server.server_port}", f"http://127.0.0.1:{idp_server.server_port}"

    sp = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'sp.sqlite3'}",
            "SECRET_KEY": "browser-tests",
            "SP_BASE_URL": sp_base,
            "SAML_SETTINGS_DIR": str(folder / "saml_settings"),
            "OPS_ARGON2_PARAMETERS": {"time_cost": 1, "memory_cost": 1024, "parallelism": 1},
        }
    )
    idp = devidp.create_app(
        {
            "BASE_URL": idp_base,
            "SP_BASE_URL": sp_base,
            "TENANTS": ["demo"],
            "KEY_DIR": str(folder / "devidp"),
            "SECRET_KEY": "browser-tests",
        }
    )
    with sp.app_context():
        upgrade()
        tenant = tenants.create_tenant("demo", "Demo Company", ["demo.example"])
        for name, permissions in DEMO_GROUPS.items():
            groups.add(tenant, name, permissions)
        metadata = idp.test_client().get("/metadata").data
        versions.import_metadata(tenant, metadata, origin="cli", actor="cli", now=clock.utcnow())
        db.session.remove()

    sp_server.app, idp_server.app = sp, idp
    sp_thread.start()
    idp_thread.start()
    yield Stack(sp=sp, sp_base=sp_base, idp_base=idp_base)
    for server, thread in ((sp_server, sp_thread), (idp_server, idp_thread)):
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    with sp.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser):
    """Open pages in fresh browser profiles (no shared cookies), closed after the test."""
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot():
    """Save a full-page screenshot as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
