"""The ops API under /api/ops: for automation, authorised by ops API tokens, answered in JSON."""

import logging

from flask import Blueprint, g, jsonify, request

from .. import clock, errors, ops_tokens
from ..extensions import csrf, db

log = logging.getLogger("sp.api")
bp = Blueprint("api", __name__, url_prefix="/api/ops")
# Bearer tokens, not cookies: a cross-site page cannot send them, so CSRF tokens add nothing.
csrf.exempt(bp)


@bp.before_request
def require_token() -> None:
    """Every API call needs a live ops API token; its name is the audit actor."""
    token = ops_tokens.authenticate(request.headers.get("Authorization"), clock.utcnow())
    g.api_actor = f"token:{token.name}"
    db.session.commit()


@bp.errorhandler(ops_tokens.ApiAuthRequired)
def unauthorised(error: ops_tokens.ApiAuthRequired):
    db.session.rollback()
    body, status = errors.render_error(error.status, error.code, error.message)
    body.headers["WWW-Authenticate"] = 'Bearer realm="ops"'
    return body, status


@bp.errorhandler(errors.SPError)
def refused(error: errors.SPError):
    """Refusals go to an authenticated operator: say what to fix (`reason`), not only the code."""
    db.session.rollback()
    log.log(error.log_level, "%s %s: %s", request.path, error.code, error.reason)
    return jsonify({"error": error.code, "message": error.message, "reason": error.reason}), error.status


from . import views  # noqa: E402,F401  (routes attach themselves to bp)
