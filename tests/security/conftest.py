"""Fixtures for the adversarial suite; the harness itself is in siege.py."""

from __future__ import annotations

import pytest
from lxml import etree
from siege import LogoutSiege, Siege, another_instance

from sp.extensions import db


@pytest.fixture
def siege(app, client, builder, acme) -> Siege:
    return Siege(app, client, builder)


@pytest.fixture
def signed(builder):
    """A genuine signed Response tree for acme, with spec changes: signed(in_response_to=...)."""

    def make(**changes) -> etree._Element:
        # Re-parsed, as the SP would see it (xmlsec's template nodes lack namespace pointers).
        return etree.fromstring(etree.tostring(builder.build_tree(builder.spec(**changes))))

    return make


@pytest.fixture
def logouts(app, builder):
    """Tenant acme, whose IdP lists a SingleLogoutService (HTTP-Redirect); the IdP's logout messages."""
    from support.journeys import add_tenant
    from support.logout_builder import LogoutBuilder

    add_tenant(app, "acme", builder.metadata(slo=("redirect",)), domains=["acme.example"])
    return LogoutBuilder(builder)


@pytest.fixture
def logout_siege(app, builder, logouts) -> LogoutSiege:
    return LogoutSiege(app, logouts, builder)


@pytest.fixture
def instance(app):
    """Make further instances of the SP on the same database: instance(**config_overrides)."""
    made = []

    def make(**overrides):
        made.append(another_instance(app, **overrides))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
