"""The SAML blueprint: per-tenant login, ACS and metadata under /saml/<slug>/."""

from flask import Blueprint

from ..tenancy import resolve_from_url

bp = Blueprint("saml", __name__, url_prefix="/saml/<slug>")
resolve_from_url(bp)

from . import views  # noqa: E402,F401  (routes attach themselves to bp)
