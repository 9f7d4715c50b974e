"""Which sign-ins this browser started: a response may only finish a login in the browser that began it.

Without this, anyone can start a login, get their own IdP's answer and make a victim's browser
post it to our ACS: the victim ends up signed in as the attacker (login CSRF). The request IDs
a browser started ride in a signed cookie. It must reach the ACS on the IdP's cross-site POST,
so over https it is SameSite=None (and Secure, and __Host-); over plain http (local development,
where the IdP is on the same site) it is Lax, which browsers would refuse as None without Secure.
"""

from __future__ import annotations

from typing import TypeVar

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

_R = TypeVar("_R", bound=Response)

_SALT = "sp.saml.started-requests"
# A few tabs may start sign-ins at once; only the most recent ones need finishing.
KEEP = 5


def _https() -> bool:
    return current_app.config["SP_BASE_URL"].startswith("https://")


def cookie_name() -> str:
    return "__Host-sp_saml_started" if _https() else "sp_saml_started"


def _serializer() -> URLSafeTimedSerializer:
    key = current_app.secret_key
    assert key is not None  # sp.config always sets SECRET_KEY
    return URLSafeTimedSerializer(key, salt=_SALT)


def ids() -> frozenset[str]:
    """The request IDs the current browser started and that have not expired; empty if none or forged."""
    return frozenset(_recent())


def remember(response: _R, request_id: str) -> _R:
    """Add request_id to the browser's cookie (keeping the most recent few)."""
    recent = [item for item in _recent() if item != request_id][-(KEEP - 1) :] + [request_id]
    https = _https()
    response.set_cookie(
        cookie_name(),
        _serializer().dumps(recent),
        max_age=current_app.config["SAML_REQUEST_TTL_SECONDS"],
        path="/",
        secure=https,
        httponly=True,
        samesite="None" if https else "Lax",
    )
    return response


def _recent() -> list[str]:
    value = request.cookies.get(cookie_name())
    if not value or len(value) > 4096:
        return []
    try:
        found = _serializer().loads(value, max_age=current_app.config["SAML_REQUEST_TTL_SECONDS"])
    except BadSignature:
        return []
    return [item for item in found if isinstance(item, str)] if isinstance(found, list) else []
