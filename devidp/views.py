"""HTTP endpoints of the development IdP."""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from .config import Settings
from .keys import Credentials
from .messages import Audience, build_login_response, build_logout_response, build_metadata, build_status_response
from .protocol import (
    STATUS_NO_PASSIVE,
    STATUS_RESPONDER,
    SamlRequestError,
    check_relay_state,
    decode_post_message,
    decode_redirect_message,
    encode_redirect_message,
    parse_authn_request,
    parse_logout_request,
)
from .signing import signed_redirect_query
from .users import DEMO_USERS, DemoUser, authenticate

log = logging.getLogger(__name__)

bp = Blueprint("devidp", __name__)

#: How long a login form for an SP-initiated request stays usable.
PENDING_MAX_AGE_SECONDS = 600
_PENDING_SALT = "devidp.pending-authn-request"
_LOGIN_FAILED = "Unknown user or wrong password."

_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@dataclass(frozen=True)
class IdpState:
    """What one app instance needs at request time."""

    settings: Settings
    credentials: Credentials


def _state() -> IdpState:
    """The :class:`IdpState` of the current app."""
    state: IdpState = current_app.extensions["devidp"]
    return state


def _pending_serializer() -> URLSafeTimedSerializer:
    """Signs the pending AuthnRequest carried in the login form's hidden field."""
    return URLSafeTimedSerializer(current_app.secret_key, salt=_PENDING_SALT)


@bp.after_app_request
def _add_security_headers(response: Response) -> Response:
    """Keep pages out of frames and caches and allow only our own script and style."""
    for name, value in _SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_errorhandler(SamlRequestError)
def _bad_saml_request(error: SamlRequestError) -> tuple[str, int]:
    """Explain a refused SAML message."""
    log.info("refused request: %s", error)
    return render_template("error.html", code=400, title="Bad SAML request", message=str(error)), 400


@bp.app_errorhandler(HTTPException)
def _http_error(error: HTTPException) -> tuple[str, int]:
    """Render HTTP errors (404, 405, 413, ...) as a readable page."""
    code = error.code or 500
    return render_template("error.html", code=code, title=error.name, message=error.description), code


def _post_to_sp(audience: Audience, saml_response: bytes, relay_state: str | None) -> str:
    """The page that POSTs ``saml_response`` to the ACS (HTTP-POST binding)."""
    return render_template(
        "post.html",
        acs_url=audience.acs_url,
        saml_response=base64.b64encode(saml_response).decode("ascii"),
        relay_state=relay_state,
    )


def _sign_in(user: DemoUser, audience: Audience, relay_state: str | None) -> str:
    """Issue a signed response for ``user`` and hand it to the browser."""
    state = _state()
    log.info("signing %s in to %s", user.email, audience.sp_entity_id)
    saml_response = build_login_response(state.settings, state.credentials, user, audience)
    return _post_to_sp(audience, saml_response, relay_state)


def _login_page(pending: str, slug: str, error: str | None = None, username: str = "") -> str:
    """The sign-in form for an SP-initiated request."""
    return render_template("login.html", pending=pending, slug=slug, error=error, username=username, users=DEMO_USERS)


@bp.get("/")
def index() -> str:
    """A small start page."""
    return render_template("index.html", settings=_state().settings)


@bp.get("/metadata")
def metadata() -> Response:
    """The IdP's SAML metadata."""
    state = _state()
    return Response(build_metadata(state.settings, state.credentials), mimetype="application/samlmetadata+xml")


@bp.route("/sso", methods=["GET", "POST"])
def sso() -> str:
    """Receive an AuthnRequest (HTTP-Redirect or HTTP-POST binding) and show the sign-in form."""
    state = _state()
    settings, credentials = state.settings, state.credentials
    params = request.args if request.method == "GET" else request.form
    encoded = params.get("SAMLRequest")
    if not encoded:
        raise SamlRequestError("No SAMLRequest was sent. Start signing in from the app instead.")
    xml = decode_redirect_message(encoded) if request.method == "GET" else decode_post_message(encoded)
    authn_request = parse_authn_request(xml, settings)
    relay_state = check_relay_state(params.get("RelayState"))
    audience = Audience(authn_request.sp_entity_id, authn_request.acs_url, authn_request.id)

    if authn_request.is_passive:
        # There are no IdP sessions here, so a passive request can never succeed.
        status = build_status_response(settings, credentials, audience, (STATUS_RESPONDER, STATUS_NO_PASSIVE))
        return _post_to_sp(audience, status, relay_state)

    pending = _pending_serializer().dumps(
        {
            "slug": authn_request.slug,
            "sp": audience.sp_entity_id,
            "acs": audience.acs_url,
            "irt": audience.in_response_to,
            "rs": relay_state,
        }
    )
    return _login_page(pending, authn_request.slug)


@bp.post("/login")
def login() -> str | tuple[str, int]:
    """Check the credentials for a pending AuthnRequest and answer the SP."""
    pending_token = request.form.get("pending", "")
    try:
        pending: dict[str, Any] = _pending_serializer().loads(pending_token, max_age=PENDING_MAX_AGE_SECONDS)
    except SignatureExpired as exc:
        raise SamlRequestError("This sign-in form has expired. Start signing in from the app again.") from exc
    except BadSignature as exc:
        raise SamlRequestError(
            "This sign-in form is invalid (was the IdP restarted?). Start again from the app."
        ) from exc

    username = request.form.get("username", "")
    user = authenticate(username, request.form.get("password", ""))
    if user is None:
        return _login_page(pending_token, pending["slug"], error=_LOGIN_FAILED, username=username), 401
    return _sign_in(user, Audience(pending["sp"], pending["acs"], pending["irt"]), pending["rs"])


@bp.route("/portal", methods=["GET", "POST"])
def portal() -> str | tuple[str, int]:
    """IdP-initiated sign-in: pick a user and a tenant, get an unsolicited response."""
    settings = _state().settings
    if request.method == "GET":
        return render_template("portal.html", tenants=settings.tenants, users=DEMO_USERS, error=None, username="")

    slug = request.form.get("tenant", "")
    if slug not in settings.tenants:
        raise SamlRequestError(f"Unknown tenant {slug!r}.")
    relay_state = check_relay_state(request.form.get("relay_state", "").strip())
    username = request.form.get("username", "")
    user = authenticate(username, request.form.get("password", ""))
    if user is None:
        page = render_template(
            "portal.html", tenants=settings.tenants, users=DEMO_USERS, error=_LOGIN_FAILED, username=username
        )
        return page, 401
    return _sign_in(user, Audience(settings.sp_entity_id(slug), settings.sp_acs_url(slug)), relay_state)


@bp.get("/slo")
def slo() -> BaseResponse:
    """Answer a LogoutRequest (HTTP-Redirect binding) with a signed Success LogoutResponse.

    The dev IdP keeps no sessions, so there is nothing to end here.
    """
    state = _state()
    settings, credentials = state.settings, state.credentials
    encoded = request.args.get("SAMLRequest")
    if not encoded:
        raise SamlRequestError("No SAMLRequest was sent.")
    logout_request = parse_logout_request(decode_redirect_message(encoded), settings)
    relay_state = check_relay_state(request.args.get("RelayState"))
    destination = settings.sp_sls_url(logout_request.slug)
    xml = build_logout_response(settings, destination, logout_request.id)
    params = [("SAMLResponse", encode_redirect_message(xml))]
    if relay_state is not None:
        params.append(("RelayState", relay_state))
    return redirect(f"{destination}?{signed_redirect_query(params, credentials)}", code=302)
