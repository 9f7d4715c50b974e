"""Ops API endpoints: adapt HTTP to idp_config, the same service the CLI and the console use."""

from __future__ import annotations

from flask import g, jsonify, request

from .. import clock, errors, idp_config, tenancy
from ..saml.idp_metadata import MetadataTooLarge
from . import bp

METADATA_TYPES = {"application/samlmetadata+xml", "application/xml", "text/xml"}


class UnsupportedMediaType(errors.SPError):
    status = 415
    code = "api.unsupported_media_type"
    message = "Send the metadata XML as the body, with Content-Type application/samlmetadata+xml or application/xml."


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes", "on")


@bp.put("/tenants/<slug>/idp")
def put_idp(slug: str):
    """Import IdP metadata from the body (`?dry_run=1`: only the diff; `?entity_id=` picks from an aggregate)."""
    tenant = tenancy.find(slug)
    if request.mimetype not in METADATA_TYPES:
        raise UnsupportedMediaType(f"the body's Content-Type is {request.mimetype or 'missing'}")
    limit = idp_config.max_bytes()
    if request.content_length is not None and request.content_length > limit:
        raise MetadataTooLarge(f"the metadata is {request.content_length:,} bytes; the limit is {limit:,}")
    request.max_content_length = limit
    outcome = idp_config.import_metadata(
        tenant, request.stream, entity_id=request.args.get("entity_id") or None, origin="api", actor=g.api_actor,
        now=clock.utcnow(), dry_run=_flag("dry_run"),
    )
    return jsonify(outcome.as_dict())


@bp.get("/tenants/<slug>/idp")
def get_idp(slug: str):
    """The tenant's IdP status: certificates with expiry, URL refresh, warnings."""
    return jsonify(idp_config.tenant_status(tenancy.find(slug), clock.utcnow()))


@bp.post("/tenants/<slug>/idp/rollback")
def rollback_idp(slug: str):
    """Go back to the previous metadata version."""
    version, change = idp_config.rollback(tenancy.find(slug), actor=g.api_actor, now=clock.utcnow())
    return jsonify({"result": "rolled_back", "tenant": slug, "version": version.number, "diff": change,
                    "changes": idp_config.describe(change)})
