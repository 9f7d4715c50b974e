"""The ops console (/ops): our operators' view of every tenant, trace and audit event.

Operators sign in with local accounts (`flask --app wsgi ops create-user NAME`), kept under a
session key of their own: an operator is not a tenant user and gets no tenant session.
"""

from flask import Blueprint, g, redirect, request, url_for

from sp.web.ops.session import current_operator

bp = Blueprint("ops", __name__, url_prefix="/ops")

# The console's sections in menu order, (endpoint, label); other features append theirs.
NAV: list[tuple[str, str]] = [
    ("ops.tenants", "Tenants"),
    ("ops.traces", "Login traces"),
    ("ops.audit", "Audit log"),
]
PUBLIC_ENDPOINTS = {"ops.sign_in"}


@bp.before_request
def require_operator():
    """Every page but the sign-in form needs a signed-in operator."""
    g.operator = current_operator()
    if g.operator is None and request.endpoint not in PUBLIC_ENDPOINTS:
        wanted = request.full_path if request.query_string else request.path
        return redirect(url_for("ops.sign_in", next=wanted))
    return None


@bp.context_processor
def navigation() -> dict:
    if g.get("operator") is None:
        return {}
    return {"console_nav": NAV, "console_label": "Operations"}
