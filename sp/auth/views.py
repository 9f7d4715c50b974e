"""Pages around signing in: adapt requests to tenancy, sessions and the SAML login."""

from __future__ import annotations

from flask import current_app, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from sqlalchemy import select, text

from .. import clock, errors, tenancy
from ..extensions import db, login_manager
from ..models import TenantDomain
from ..redirects import safe_next
from ..security_headers import csp
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


def _login_page(status: int = 200, **values):
    """The login form. Its POST ends, through our redirects, at the tenant's IdP, and browsers
    apply form-action to every redirect of a form submission: allow any https origin (and http
    when we run on http, in development) as the final target."""
    page = make_response(render_template("login.html", **values), status)
    schemes = "https:" if current_app.config["SP_BASE_URL"].startswith("https://") else "http: https:"
    page.headers["Content-Security-Policy"] = csp(f"'self' {schemes}")
    return page


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Find the user's organisation by email domain (or its name) and start SAML login."""
    next_path = safe_next(request.values.get("next"))
    if request.method == "GET":
        return _login_page(next=next_path, email="", organisation="")
    email = (request.form.get("email") or "").strip()
    organisation = (request.form.get("organisation") or "").strip().lower()
    try:
        if organisation:
            tenant = tenancy.find(organisation)
        else:
            tenant = _tenant_for_email(email)
    except (errors.TenantNotFound, errors.UnknownEmailDomain) as error:
        return _login_page(error.status, next=next_path, email=email, organisation=organisation, error=error.message)
    return redirect(url_for("saml.login", slug=tenant.slug, next=next_path), code=303)


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
    """End this browser's session (the row is revoked, not just the cookie)."""
    if current_user.is_authenticated:
        sessions.revoke(current_user.token, clock.utcnow())
        db.session.commit()
    logout_user()
    flash("You are signed out.")
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
