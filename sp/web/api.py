"""The ops API under /api/ops: for automation, authorised by ops API tokens, answered in JSON.

It adapts HTTP to sp.idp.versions, the same service the CLI and the ops console use.
"""

from __future__ import annotations

import logging

from flask import Blueprint, g, jsonify, request

from sp import clock, errors
from sp.extensions import csrf, db
from sp.idp import versions
from sp.operators import tokens
from sp.tenancy import tenants
from sp.web.errors import render_error

log = logging.getLogger("sp.api")
bp = Blueprint("api", __name__, url_prefix="/api/ops")
# Bearer tokens, not cookies: a cross-site page cannot send them, so CSRF tokens add nothing.
csrf.exempt(bp)

METADATA_TYPES = {"application/samlmetadata+xml", "application/xml", "text/xml"}


@bp.before_request
def require_token() -> None:
    """Every API call needs a live ops API token; its name is the audit actor."""
    token = tokens.authenticate(request.headers.get("Authorization"), clock.utcnow())
    g.api_actor = f"token:{token.name}"


@bp.errorhandler(errors.ApiAuthRequired)
def unauthorised(error: errors.ApiAuthRequired):
    db.session.rollback()
    body, status = render_error(error)
    body.headers["WWW-Authenticate"] = 'Bearer realm="ops"'
    return body, status


@bp.errorhandler(errors.SPError)
def refused(error: errors.SPError):
    """Refusals go to an authenticated operator: say what to fix (`reason`), not only the code."""
    db.session.rollback()
    log.log(error.log_level, "%s %s: %s", request.path, error.code, error.reason)
    return jsonify({"error": error.code, "message": error.message, "reason": error.reason}), error.status


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes", "on")


@bp.put("/tenants/<slug>/idp")
def put_idp(slug: str):
    """Import IdP metadata from the body (`?dry_run=1`: only the diff; `?entity_id=` picks from an aggregate)."""
    tenant = tenants.find(slug)
    if request.mimetype not in METADATA_TYPES:
        raise errors.UnsupportedMediaType(f"the body's Content-Type is {request.mimetype or 'missing'}")
    limit = versions.max_bytes()
    if request.content_length is not None and request.content_length > limit:
        raise errors.MetadataTooLarge(f"the metadata is {request.content_length:,} bytes; the limit is {limit:,}")
    request.max_content_length = limit
    outcome = versions.import_metadata(
        tenant,
        request.stream,
        entity_id=request.args.get("entity_id") or None,
        origin="api",
        actor=g.api_actor,
        now=clock.utcnow(),
        dry_run=_flag("dry_run"),
    )
    return jsonify(outcome.as_dict())


@bp.get("/tenants/<slug>/idp")
def get_idp(slug: str):
    """The tenant's IdP status: certificates with expiry, URL refresh, warnings."""
    return jsonify(versions.tenant_status(tenants.find(slug), clock.utcnow()))


@bp.post("/tenants/<slug>/idp/rollback")
def rollback_idp(slug: str):
    """Go back to the previous metadata version."""
    version, change = versions.rollback(tenants.find(slug), actor=g.api_actor, now=clock.utcnow())
    return jsonify(
        {
            "result": "rolled_back",
            "tenant": slug,
            "version": version.number,
            "diff": change,
            "changes": versions.describe(change),
        }
    )
