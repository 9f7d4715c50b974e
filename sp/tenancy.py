"""The tenant of a request comes from its URL, once; never from the Host header or the Issuer."""

from __future__ import annotations

import re

from flask import Blueprint, g
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from . import errors
from .extensions import db
from .models import Tenant

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def find(slug: str) -> Tenant:
    """The tenant with this slug, or TenantNotFound."""
    if not SLUG.match(slug or ""):
        raise errors.TenantNotFound(f"{slug!r} is not a valid tenant slug")
    tenant = db.session.scalar(
        select(Tenant).where(Tenant.slug == slug).options(joinedload(Tenant.identity_provider))
    )
    if tenant is None:
        raise errors.TenantNotFound(f"no tenant {slug!r}")
    return tenant


def resolve_from_url(blueprint: Blueprint) -> None:
    """Make every route of blueprint take its tenant from the <slug> URL part, as g.tenant."""

    @blueprint.url_value_preprocessor
    def pull_tenant(endpoint: str | None, values: dict | None) -> None:
        if values is not None and "slug" in values:
            g.tenant = find(values.pop("slug"))

    @blueprint.url_defaults
    def add_tenant(endpoint: str, values: dict) -> None:
        if "slug" not in values and "tenant" in g:
            values["slug"] = g.tenant.slug
