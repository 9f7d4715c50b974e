"""Rate limits, per client IP, on what anyone can hammer without signing in: the login pages, the ACS and the SLS.

Each app gets its own Flask-Limiter (its state lives on the Limiter object, and tests build many
apps). Counters live in RATELIMIT_STORAGE_URI: `memory://` counts per process; point every
instance at the same `redis://...` to share them. If that storage is unreachable we count in
memory rather than refuse logins.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from sp.web.errors import RateLimited, render_error

log = logging.getLogger("sp.rate_limits")

# endpoint -> (config key holding its limit, methods it applies to)
LIMITED = {
    "auth.login": ("RATELIMIT_LOGIN", ["POST"]),
    "saml.login": ("RATELIMIT_LOGIN", None),
    "saml.acs": ("RATELIMIT_ACS", None),
    "saml.sls": ("RATELIMIT_ACS", None),
}


def _configured(setting: str) -> Callable[[], str]:
    """The limit in config[setting], read again at each request."""
    return lambda: current_app.config[setting]


def init_app(app: Flask) -> Limiter:
    """Attach a Limiter to app and limit the endpoints in LIMITED; call after the blueprints."""
    if app.config["TRUSTED_PROXIES"]:
        # The client IP is the one our own proxies saw, never what the client claims.
        # Wrapping wsgi_app is how Flask documents adding WSGI middleware; to mypy it replaces a method.
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"], x_proto=0, x_host=0
        )
    limiter = Limiter(key_func=get_remote_address, app=app)
    # The limits hold only a weak reference to their Limiter: the app keeps it alive.
    app.extensions["sp.limiter"] = limiter
    for endpoint, (setting, methods) in LIMITED.items():
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(_configured(setting), methods=methods)(view)

    @app.errorhandler(RateLimitExceeded)
    def too_many(error: RateLimitExceeded):
        log.warning("rate limit %s exceeded by %s", error.limit.limit, get_remote_address())
        return render_error(RateLimited(f"more than {error.limit.limit} from {get_remote_address()}"))

    return limiter
