"""The tenant admin console (/admin): one tenant's users, groups, SSO settings, traces and audit log.

Only for signed-in users whose group has the `admin` permission, and only ever about their own
tenant: every query is scoped to `current_user.user.tenant_id`, so another tenant's ids in a URL
or a form find nothing (404).
"""

from flask import Blueprint, g
from flask_login import current_user

from sp import errors
from sp.extensions import login_manager

ADMIN_PERMISSION = "admin"

bp = Blueprint("admin", __name__, url_prefix="/admin")

# The console's sections in menu order, (endpoint, label); other features append theirs.
NAV: list[tuple[str, str]] = [
    ("admin.overview", "Overview"),
    ("admin.users", "Users"),
    ("admin.groups", "Groups"),
    ("admin.mapping", "Group mapping"),
    ("admin.settings", "SSO settings"),
    ("admin.traces", "Login traces"),
    ("admin.audit", "Audit log"),
]


def is_tenant_admin(user) -> bool:
    return ADMIN_PERMISSION in (user.group.permissions or [])


@bp.before_request
def require_tenant_admin():
    """Signed-in tenant admins only; everyone else is sent to sign in, or refused."""
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not is_tenant_admin(current_user.user):
        raise errors.Forbidden(f"user {current_user.user.id} has no {ADMIN_PERMISSION!r} permission")
    g.admin_tenant = current_user.user.tenant
    return None


@bp.context_processor
def navigation() -> dict:
    return {"console_nav": NAV, "console_label": "Administration"}
