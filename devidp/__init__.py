"""A bundled SAML 2.0 *development* Identity Provider for signing in to our SP locally.

Not hardened for the internet: fixed demo users, one shared password, no sessions.
See ``devidp/README.md``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask

from .config import SETTING_KEYS, load_settings
from .keys import load_or_create_credentials
from .views import IdpState, bp

__all__ = ["create_app"]

#: Request bodies are small here: login forms and POST-binding AuthnRequests.
MAX_CONTENT_LENGTH = 1024 * 1024


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the development IdP app.

    ``config`` may hold the settings ``BASE_URL``, ``SP_BASE_URL``, ``TENANTS``
    (a list or a comma-separated string), ``KEY_DIR`` and ``SECRET_KEY``, which
    override the ``DEVIDP_*`` environment variables; any other keys (e.g.
    ``TESTING``) go to ``app.config`` unchanged.
    """
    settings = load_settings(config)
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_CONTENT_LENGTH
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.config.update({key: value for key, value in (config or {}).items() if key not in SETTING_KEYS})
    # Without a configured key, pending sign-in forms simply stop working after a restart.
    app.secret_key = settings.secret_key or secrets.token_urlsafe(32)
    app.extensions["devidp"] = IdpState(settings=settings, credentials=load_or_create_credentials(settings.key_dir))
    app.register_blueprint(bp)
    return app
