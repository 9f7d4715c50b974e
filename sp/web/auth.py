"""Pages around signing in: the login screen, the dashboard, /me, logout and the health check."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user

from sp import clock, database, errors
from sp.extensions import login_manager
from sp.signin import slo
from sp.signin.redirects import safe_next
from sp.tenancy import sessions, tenants
from sp.web.saml import to_idp_for_sign_out
from sp.web.security_headers import csp_for_sign_in_forms

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(token: str) -> sessions.SignedIn | None:
    return sessions.load(token, clock.utcnow())


@login_manager.unauthorized_handler
def unauthorized():
    if request.path == "/me" or request.accept_mimetypes.best == "application/json":
        error = errors.AuthRequired()
        return jsonify({"error": error.code, "message": error.message}), error.status
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
        tenant = tenants.find(organisation) if organisation else tenants.for_email(email)
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


@bp.post("/logout")
def logout():
    """End this browser's session (the row is revoked, not just the cookie), then at the IdP too (single logout)."""
    outgoing = None
    if current_user.is_authenticated:
        outgoing = slo.sign_out(current_user._get_current_object(), clock.utcnow())
    logout_user()
    if outgoing is not None:
        return to_idp_for_sign_out(outgoing)
    flash(slo.SIGNED_OUT)
    return redirect(url_for("auth.login"), code=303)


@bp.get("/healthz")
def healthz():
    """Answer whether this instance can reach its database."""
    if not database.ping():
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok"})
