"""Signing people in for the console tests: tenant users through the ACS, operators through /ops."""

from __future__ import annotations

import re

from sp import clock
from sp.extensions import db
from sp.operators import accounts
from sp.tenancy import groups, tenants, users

from .journeys import post_acs

OPS_PASSWORD = "correct horse battery staple"


def sign_in(client, builder, email: str, **changes) -> None:
    """Sign email in to the builder's tenant with an IdP-initiated response."""
    landed = post_acs(client, builder.slug, builder.b64(name_id=email, attributes={"email": [email]}, **changes))
    assert landed.status_code == 303, landed.data


def make_group(app, slug: str, name: str, permissions: list[str]) -> int:
    with app.app_context():
        return groups.add(tenants.find(slug), name, permissions).id


def put_in_group(app, slug: str, email: str, group: str) -> int:
    """Move an existing user to a group (as the CLI would); returns the user's id."""
    with app.app_context():
        tenant = tenants.find(slug)
        user = users.by_name_id(tenant.id, email)
        users.change_group(user, groups.named_or_none(tenant, group), actor="cli", by="cli", now=clock.utcnow())
        return user.id


def sign_in_admin(app, client, builder, email: str) -> int:
    """Sign email in to the builder's tenant as a member of its 'Admins' group; returns the user's id."""
    sign_in(client, builder, email)
    with app.app_context():
        if groups.named_or_none(tenants.find(builder.slug), "Admins") is None:
            groups.add(tenants.find(builder.slug), "Admins", ["admin"])
    return put_in_group(app, builder.slug, email, "Admins")


def user_id(app, slug: str, email: str) -> int:
    with app.app_context():
        return users.by_name_id(tenants.find(slug).id, email).id


def create_operator(app, name: str = "sam", *, with_totp: bool = False) -> str | None:
    """Create an operator with OPS_PASSWORD; returns their TOTP secret, if any."""
    with app.app_context():
        _, secret = accounts.create(name, OPS_PASSWORD, with_totp=with_totp, now=clock.utcnow())
        db.session.remove()
        return secret


def ops_sign_in(client, name: str = "sam", password: str = OPS_PASSWORD, code: str = ""):
    token = client.csrf_token("/ops/sign-in")
    return client.post("/ops/sign-in", data={"name": name, "password": password, "code": code, "csrf_token": token})


def ref_on(page: bytes) -> str:
    """The trace reference an error page shows."""
    match = re.search(rb"Reference: <code>([a-z0-9]+)</code>", page)
    assert match, page
    return match.group(1).decode()
