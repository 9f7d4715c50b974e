"""Every refusal the SP can give: a class with a stable code, an HTTP status and plain words.

Views catch `SPError` once (see `register`). `code` is stable: logs, traces, tests and support
scripts key on it. `message` is safe to show anyone; `reason` says what to fix and may quote
what the IdP sent, so it is only ever rendered escaped.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from .extensions import db

log = logging.getLogger("sp.errors")


class SPError(Exception):
    """Base of every refusal: an HTTP status, a stable code, a safe message and a reason."""

    status = 400
    code = "error"
    message = "The request could not be completed."
    # WARNING: someone else's mistake or an attack; ERROR: ours or a misconfiguration.
    log_level = logging.WARNING
    # The login trace's reference, when the refusal left one (shown on the error page).
    ref: str | None = None
    # The error page's heading; None: the usual one for the status ("We could not sign you in").
    title: str | None = None

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.message)
        self.reason = reason or self.message


# --- Requests and tenants ---------------------------------------------------------------

class BadRequest(SPError):
    code = "request.invalid"
    message = "The request is not valid."


class Busy(SPError):
    status = 503
    code = "request.busy"
    message = "We could not complete that just now. Please try again."
    log_level = logging.ERROR


class TenantNotFound(SPError):
    status = 404
    code = "tenant.not_found"
    message = "There is no organisation at this address."


class IdpNotConfigured(SPError):
    status = 409
    code = "tenant.idp_missing"
    message = "Single sign-on is not set up for this organisation yet. Please contact your administrator."
    log_level = logging.ERROR


class UnknownEmailDomain(SPError):
    status = 404
    code = "login.unknown_domain"
    message = "We could not find an organisation for that email address. Try your organisation's name instead."


# --- SAML responses ---------------------------------------------------------------------

class SamlRejected(SPError):
    """A SAML message we refuse. The user sees a generic message; the reason goes to the trace."""

    status = 400
    code = "saml.rejected"
    message = "Your sign-in could not be completed. Please try again from the start, or contact your administrator."


def _saml(code: str, name: str, doc: str, status: int = 400) -> type[SamlRejected]:
    cls = type(name, (SamlRejected,), {"code": code, "status": status, "__doc__": doc})
    return cls


MalformedMessage = _saml("saml.malformed", "MalformedMessage", "Not base64, not XML, a DTD, or not a SAML Response.")
MessageTooLarge = _saml("saml.too_large", "MessageTooLarge", "The message exceeds the size we accept.", 413)
SchemaInvalid = _saml("saml.schema_invalid", "SchemaInvalid", "The message does not follow the SAML schema.")
StatusNotSuccess = _saml("saml.status_not_success", "StatusNotSuccess", "The IdP answered with an error status.")
AssertionCount = _saml("saml.assertion_count", "AssertionCount", "Not exactly one assertion, directly in the Response.")
EncryptedAssertionUnsupported = _saml(
    "saml.encrypted_unsupported", "EncryptedAssertionUnsupported", "Encrypted assertions are not accepted yet."
)
SignatureMissing = _saml("saml.signature_missing", "SignatureMissing", "Neither the Response nor the Assertion is signed.")
SignatureInvalid = _saml("saml.signature_invalid", "SignatureInvalid", "The signature does not verify with a trusted certificate.")
SignatureStructure = _saml(
    "saml.signature_structure", "SignatureStructure", "A signature of a shape we refuse: references, transforms, placement."
)
WeakAlgorithm = _saml("saml.weak_algorithm", "WeakAlgorithm", "SHA-1, HMAC or an unknown signature/digest algorithm.")
DuplicateId = _saml("saml.duplicate_id", "DuplicateId", "Two elements carry the same ID.")
IssuerMismatch = _saml("saml.issuer_mismatch", "IssuerMismatch", "The Issuer is not this tenant's IdP.")
DestinationMissing = _saml("saml.destination_missing", "DestinationMissing", "The Response has no Destination.")
DestinationMismatch = _saml("saml.destination_mismatch", "DestinationMismatch", "Destination is not this tenant's ACS.")
RecipientMissing = _saml("saml.recipient_missing", "RecipientMissing", "No bearer SubjectConfirmationData Recipient.")
RecipientMismatch = _saml("saml.recipient_mismatch", "RecipientMismatch", "Recipient is not this tenant's ACS.")
SubjectConfirmationInvalid = _saml(
    "saml.subject_confirmation", "SubjectConfirmationInvalid", "No usable bearer SubjectConfirmation."
)
AudienceMissing = _saml("saml.audience_missing", "AudienceMissing", "No AudienceRestriction.")
AudienceMismatch = _saml("saml.audience_mismatch", "AudienceMismatch", "An AudienceRestriction does not name us.")
NotOnOrAfterMissing = _saml("saml.not_on_or_after_missing", "NotOnOrAfterMissing", "The assertion has no expiry.")
Expired = _saml("saml.expired", "Expired", "The assertion has expired.")
NotYetValid = _saml("saml.not_yet_valid", "NotYetValid", "The assertion is not valid yet.")
IssueInstantInvalid = _saml("saml.issue_instant", "IssueInstantInvalid", "IssueInstant is too old, in the future or absent.")
NameIdMissing = _saml("saml.name_id_missing", "NameIdMissing", "No NameID, or an empty one.")
AuthnStatementInvalid = _saml("saml.authn_statement", "AuthnStatementInvalid", "Not exactly one AuthnStatement, or it expired.")
Replay = _saml("saml.replay", "Replay", "This assertion was already used.")
UnsolicitedRefused = _saml(
    "saml.unsolicited_refused", "UnsolicitedRefused", "An IdP-initiated response, and this tenant does not allow them."
)
RequestUnknown = _saml("saml.request_unknown", "RequestUnknown", "InResponseTo names no request of this tenant.")
RequestReused = _saml("saml.request_reused", "RequestReused", "InResponseTo names a request already answered.")
RequestExpired = _saml("saml.request_expired", "RequestExpired", "InResponseTo names a request that expired.")
InResponseToMismatch = _saml(
    "saml.in_response_to_mismatch", "InResponseToMismatch", "The Response and its SubjectConfirmation disagree on InResponseTo."
)
ForbiddenMarkup = _saml(
    "saml.forbidden_markup", "ForbiddenMarkup", "A DTD, entity, comment, processing instruction or CDATA section."
)
ContentOutsideAssertion = _saml(
    "saml.content_outside_assertion", "ContentOutsideAssertion", "Assertion content (NameID, attributes...) outside the assertion."
)
ValueTooLong = _saml("saml.value_too_long", "ValueTooLong", "A NameID, Format or SessionIndex longer than we store.")
RequestOtherBrowser = _saml(
    "saml.request_other_browser", "RequestOtherBrowser", "InResponseTo names a request this browser did not start."
)
RejectedByToolkit = _saml("saml.invalid", "RejectedByToolkit", "python3-saml refused the response for a reason we do not map.")


# --- Single logout (the SLS also raises the classes above: saml.malformed, saml.replay...) ---

BindingUnsupported = _saml(
    "saml.binding_unsupported", "BindingUnsupported",
    "Not a binding the single logout service takes from this IdP (POST when the IdP's SLO uses HTTP-Redirect).",
)


# --- Users ------------------------------------------------------------------------------

class UserDeactivated(SPError):
    status = 403
    code = "user.deactivated"
    message = "Your account has been deactivated. Please contact your administrator."


class NoGroupMatched(SPError):
    """The tenant refuses sign-in when no mapping rule gives the user a group (on-no-match deny)."""

    status = 403
    code = "group.no_match"
    message = ("Your organisation has not given you access to this application. "
               "Please ask your administrator to add you to the right group in your directory.")
class Forbidden(SPError):
    status = 403
    code = "auth.forbidden"
    message = "You do not have permission to see this page."


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json" and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]


def render_error(status: int, code: str, message: str, ref: str | None = None, title: str | None = None):
    """Answer an error as JSON or as a plain HTML page, by the Accept header."""
    if _wants_json() or request.path.startswith("/api/") or request.path == "/me":
        body = {"error": code, "message": message}
        if ref:
            body["ref"] = ref
        return jsonify(body), status
    return render_template("error.html", status=status, code=code, message=message, ref=ref, title=title), status


def one_line(text: str) -> str:
    """text with control and other unprintable characters escaped: attackers cannot forge log lines."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def register(app: Flask) -> None:
    """Install the handlers that turn every error into a clean 4xx/5xx page."""

    @app.errorhandler(SPError)
    def handle_sp_error(error: SPError):
        db.session.rollback()
        log.log(error.log_level, "%s %s: %s", one_line(request.path), error.code, one_line(error.reason))
        return render_error(error.status, error.code, error.message, error.ref, error.title)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError):
        db.session.rollback()
        log.warning("%s request.csrf: %s", one_line(request.path), error.description)
        return render_error(400, "request.csrf", "This form expired or was sent from another site. Go back, reload the page and try again.")

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        db.session.rollback()
        code = f"http.{error.code}"
        return render_error(error.code or 500, code, error.description or error.name)

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        db.session.rollback()
        log.exception("unhandled error on %s", one_line(request.path))
        return render_error(500, "internal", "Something went wrong on our side. Please try again.",
                            getattr(error, "ref", None))
