"""`flask idp ...`: a tenant's IdP metadata."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import clock, tenancy, tenants
from ..saml import idp_metadata
from .common import refusals_exit_cleanly

idp_cli = AppGroup("idp", help="Import and inspect tenants' IdP metadata.")


@idp_cli.command("import")
@click.argument("slug")
@click.argument("source", type=click.File("rb"))
@click.option("--entity-id", default=None, help="The IdP to pick from an EntitiesDescriptor aggregate.")
@refusals_exit_cleanly
def idp_import(slug: str, source, entity_id: str | None) -> None:
    """Import the tenant's IdP metadata from FILE ('-' for stdin)."""
    tenant = tenancy.find(slug)
    data = source.read(idp_metadata.MAX_BYTES + 1)
    now = clock.utcnow()
    metadata = idp_metadata.read(data, entity_id=entity_id, now=now)
    for other in tenants.other_tenants_with_entity_id(tenant, metadata.entity_id):
        metadata.warnings.append(f"the entity ID is already used by tenant {other!r}")
    tenants.apply_idp_metadata(tenant, metadata, data.decode("utf-8", "replace"), now)
    click.echo(f"entity ID: {metadata.entity_id}")
    for binding, url in metadata.sso.items():
        click.echo(f"SSO {binding.rsplit(':', 1)[-1]}: {url}")
    for cert in metadata.certificates:
        click.echo(f"signing certificate SHA-256 {cert.sha256} expires {cert.not_after:%Y-%m-%d}")
    for warning in metadata.warnings:
        click.echo(f"warning: {warning}", err=True)
