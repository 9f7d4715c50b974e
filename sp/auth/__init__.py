"""The login screen, the dashboard, /me and logout, plus the Flask-Login wiring."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import views  # noqa: E402,F401
