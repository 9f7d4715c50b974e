"""Pages around signing in: adapt requests to tenancy, sessions and the SAML login."""

from __future__ import annotations

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select, text

from .. import clock, errors, tenancy
from ..extensions import db, login_manager
from ..models import TenantDomain
from ..redirects import safe_next
from ..security_headers import csp_for_sign_in_forms
from . import bp, sessions


@login_manager.user_loader
def load_user(token: str) -> sessions.SignedIn | None:
    return sessions.load(token, clock.utcnow())


@login_manager.unauthorized_handler
def unauthorized():
    if request.path == "/me" or request.accept_mimetypes.best == "application/json":
        return jsonify({"error": "auth.required", "message": "Sign in first."}), 401
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def _me() -> dict:
    user = current_user.user
    return {
        "tenant": user.tenant.slug,
        "name_id": user.name_id,
        "email": user.email,
        "display_name": user.display_name,
        "group": user.group.name,
        "permissions": sorted(user.group.permissions or []),
    }


@bp.get("/")
@login_required
def dashboard():
    """Show who is signed in, their organisation, group and permissions."""
    user = current_user.user
    return render_template("dashboard.html", user=user, me=_me())


@bp.get("/me")
@login_required
def me():
    """Answer who is signed in, as JSON."""
    return jsonify(_me())


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Find the user's organisation by email domain (or its name) and start SAML login."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next=next_path, email="", organisation="")
    email = (request.form.get("email") or "").strip()
    organisation = (request.form.get("organisation") or "").strip().lower()
    try:
        if organisation:
            tenant = tenancy.find(organisation)
        else:
            tenant = _tenant_for_email(email)
    except (errors.TenantNotFound, errors.UnknownEmailDomain) as error:
        return render_template(
            "login.html", next=next_path, email=email, organisation=organisation, error=error.message
        ), error.status
    return redirect(url_for("saml.login", slug=tenant.slug, next=next_path), code=303)


@bp.after_request
def let_sign_in_forms_reach_the_idp(response):
    if request.endpoint == "auth.login":
        response.headers["Content-Security-Policy"] = csp_for_sign_in_forms()
    return response


def _tenant_for_email(email: str):
    if "@" not in email or len(email) > 320:
        raise errors.UnknownEmailDomain("not an email address")
    domain = email.rsplit("@", 1)[1].strip().lower().rstrip(".")
    row = db.session.scalar(select(TenantDomain).where(TenantDomain.domain == domain))
    if row is None:
        raise errors.UnknownEmailDomain(f"no tenant for domain {domain!r}")
    return row.tenant


@bp.post("/logout")
def logout():
    """End this browser's session (the row is revoked, not just the cookie), then at the IdP too (single logout)."""
    from ..saml import slo, views as saml_views  # here: sp.saml imports sp.auth (sessions) at import time

    outgoing = None
    if current_user.is_authenticated:
        outgoing = slo.sign_out(current_user._get_current_object(), clock.utcnow())
    logout_user()
    if outgoing is not None:
        return saml_views.to_idp_for_sign_out(outgoing)
    flash(slo.SIGNED_OUT)
    return redirect(url_for("auth.login"), code=303)


@bp.get("/healthz")
def healthz():
    """Answer whether this instance can reach its database."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok"})
