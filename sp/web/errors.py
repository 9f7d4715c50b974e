"""Error handling for every page and API: each refusal becomes a clean 4xx/5xx in HTML or JSON.

Views raise `sp.errors` classes; nothing is caught view by view. The handlers roll the
database session back (nothing of a refused request is ever committed by accident), log at
the level the error's kind asks, and answer by the Accept header. Errors the framework raises
(404, 405, a malformed form, a stale CSRF token, a rate limit) get classes of their own here, so
they too have a stable code in docs/errors.md.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from sp import errors
from sp.extensions import db

log = logging.getLogger("sp.errors")


class CsrfRejected(errors.SPError):
    code = "request.csrf"
    message = "This form expired or was sent from another site. Go back, reload the page and try again."


class RateLimited(errors.SPError):
    status = 429
    code = "request.rate_limited"
    message = "Too many sign-in attempts from your network. Wait a minute and try again."


class HttpError(errors.SPError):
    """An error the web framework raised (no route, wrong method, a body it could not read)."""

    abstract = True
    code = "http.error"


class HttpBadRequest(HttpError):
    code = "http.400"
    message = "The request could not be understood."


class HttpUnauthorized(HttpError):
    status = 401
    code = "http.401"
    message = "Sign in first."


class HttpForbidden(HttpError):
    status = 403
    code = "http.403"
    message = "You do not have permission to see this page."


class HttpNotFound(HttpError):
    status = 404
    code = "http.404"
    message = "There is nothing at this address."


class HttpMethodNotAllowed(HttpError):
    status = 405
    code = "http.405"
    message = "This address does not take that kind of request."


class HttpConflict(HttpError):
    status = 409
    code = "http.409"
    message = "That conflicts with the current state; reload and try again."


class HttpGone(HttpError):
    status = 410
    code = "http.410"
    message = "This address is no longer valid."


class HttpPayloadTooLarge(HttpError):
    status = 413
    code = "http.413"
    message = "The request is larger than we accept."


class HttpUriTooLong(HttpError):
    status = 414
    code = "http.414"
    message = "The address is longer than we accept."


class HttpUnsupportedMediaType(HttpError):
    status = 415
    code = "http.415"
    message = "The request's content type is not one this address takes."


class HttpHeadersTooLarge(HttpError):
    status = 431
    code = "http.431"
    message = "The request's headers are larger than we accept."


class HttpServiceUnavailable(HttpError):
    status = 503
    code = "http.503"
    message = "The service is unavailable just now. Please try again."


_HTTP: dict[int, type[HttpError]] = {
    cls.status: cls
    for cls in (
        HttpBadRequest,
        HttpUnauthorized,
        HttpForbidden,
        HttpNotFound,
        HttpMethodNotAllowed,
        HttpConflict,
        HttpGone,
        HttpPayloadTooLarge,
        HttpUriTooLong,
        HttpUnsupportedMediaType,
        HttpHeadersTooLarge,
        HttpServiceUnavailable,
    )
}


def from_http(error: HTTPException) -> errors.SPError:
    """Our error class for a framework error; unknown 4xx are a bad request, unknown 5xx ours."""
    status = error.code or 500
    cls = _HTTP.get(status) or (HttpBadRequest if status < 500 else errors.InternalError)
    return cls(error.description or None)


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render_error(
    error: errors.SPError, ref: str | None = None, *, title: str | None = None, message: str | None = None
):
    """Answer an error as JSON or as a plain HTML page, by the Accept header (never its reason)."""
    shown = message or error.message
    if _wants_json() or request.path.startswith("/api/") or request.path == "/me":
        body = {"error": error.code, "message": shown}
        if ref:
            body["ref"] = ref
        return jsonify(body), error.status
    page = render_template("error.html", status=error.status, code=error.code, message=shown, ref=ref, title=title)
    return page, error.status


def one_line(text: str) -> str:
    """text with control and other unprintable characters escaped: attackers cannot forge log lines."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _log(error: errors.SPError, cause: BaseException | None = None) -> None:
    if isinstance(error, errors.InternalError):
        log.error("%s %s: %s", one_line(request.path), error.code, one_line(error.reason), exc_info=cause)
    else:
        log.log(error.log_level, "%s %s: %s", one_line(request.path), error.code, one_line(error.reason))


def register(app: Flask) -> None:
    """Install the handlers that turn every error into a clean 4xx/5xx page."""

    @app.errorhandler(errors.SPError)
    def handle_sp_error(error: errors.SPError):
        db.session.rollback()
        _log(error)
        return render_error(error)

    @app.errorhandler(errors.Traced)
    def handle_traced(traced: errors.Traced):
        db.session.rollback()
        _log(traced.error, traced.__cause__)
        return render_error(traced.error, traced.ref, title=traced.title, message=traced.message)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        db.session.rollback()
        refusal = CsrfRejected(error.description)
        _log(refusal)
        return render_error(refusal)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        db.session.rollback()
        return render_error(from_http(error))

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s", one_line(request.path))
        return render_error(errors.InternalError(f"unhandled {type(error).__name__}"))
