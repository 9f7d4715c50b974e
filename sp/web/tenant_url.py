"""The tenant of a request comes from its URL, once; never from the Host header or the Issuer."""

from __future__ import annotations

from flask import Blueprint, g

from sp.tenancy import tenants


def resolve_from_url(blueprint: Blueprint) -> None:
    """Make every route of blueprint take its tenant from the <slug> URL part, as g.tenant."""

    @blueprint.url_value_preprocessor
    def pull_tenant(endpoint: str | None, values: dict | None) -> None:
        if values is not None and "slug" in values:
            g.tenant = tenants.find(values.pop("slug"))

    @blueprint.url_defaults
    def add_tenant(endpoint: str, values: dict) -> None:
        if "slug" not in values and "tenant" in g:
            values["slug"] = g.tenant.slug
