"""Every refusal the SP can give: a class with a stable code, an HTTP status and plain words.

`code` is a class attribute, unique across the product (a test checks it) and listed in
docs/errors.md with what it means and what to do (a test checks that too): logs, traces, tests
and support scripts key on it. `message` is safe to show anyone; `reason`, given to the
constructor, says what to fix and may quote what the IdP sent, so it is only ever rendered
escaped. Nothing here knows about HTTP frameworks: the web layer (sp/web/errors.py) renders them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator


class SPError(Exception):
    """Base of every refusal: an HTTP status, a stable code, a safe message and a reason."""

    status = 400
    code = "error"
    message = "The request could not be completed."
    # WARNING: someone else's mistake or an attack; ERROR: ours or a misconfiguration.
    log_level = logging.WARNING
    # True on the bases of a family: never raised themselves, so their code is never emitted.
    abstract = True

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason or self.message)
        self.reason = reason or self.message

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # Only a class that says so itself is a base; its subclasses are concrete unless they say so too.
        cls.abstract = bool(cls.__dict__.get("abstract", False))


class Traced(Exception):
    """A refusal (or failure) of a sign-in or sign-out that left a login trace: the error and the trace's reference.

    The web layer shows the reference on the error page, so the user can quote it to support.
    `title` and `message` replace the error's own words on the page (a sign-out refused says so).
    """

    def __init__(
        self, error: SPError, ref: str | None, *, title: str | None = None, message: str | None = None
    ) -> None:
        super().__init__(error.reason)
        self.error, self.ref = error, ref
        self.title = title
        self.message = message or error.message


def concrete_classes(root: type[SPError] = SPError) -> Iterator[type[SPError]]:
    """Every error class that can be raised (not a family's base), depth first."""
    for cls in root.__subclasses__():
        if not cls.abstract:
            yield cls
        yield from concrete_classes(cls)


# --- Requests, tenants and sign-in pages --------------------------------------------------


class BadRequest(SPError):
    code = "request.invalid"
    message = "The request is not valid."


class Busy(SPError):
    status = 503
    code = "request.busy"
    message = "We could not complete that just now. Please try again."
    log_level = logging.ERROR


class InternalError(SPError):
    """Something failed on our side: the log has the traceback, the user a reference."""

    status = 500
    code = "internal"
    message = "Something went wrong on our side. Please try again."
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


class TenantConflict(SPError):
    status = 409
    code = "tenant.conflict"
    message = "That conflicts with an existing tenant, domain or group."


class InvalidSetting(SPError):
    code = "tenant.invalid_setting"
    message = "That setting is not valid."


# --- SAML messages ----------------------------------------------------------------------


class SamlRejected(SPError):
    """A SAML message we refuse. The user sees a generic message; the reason goes to the trace."""

    abstract = True
    code = "saml.rejected"
    message = "Your sign-in could not be completed. Please try again from the start, or contact your administrator."


class MalformedMessage(SamlRejected):
    """Not base64, not XML, or not the SAML message expected."""

    code = "saml.malformed"


class MessageTooLarge(SamlRejected):
    status = 413
    code = "saml.too_large"


class SchemaInvalid(SamlRejected):
    code = "saml.schema_invalid"


class StatusNotSuccess(SamlRejected):
    code = "saml.status_not_success"


class AssertionCount(SamlRejected):
    code = "saml.assertion_count"


class EncryptedAssertionUnsupported(SamlRejected):
    code = "saml.encrypted_unsupported"


class SignatureMissing(SamlRejected):
    code = "saml.signature_missing"


class SignatureInvalid(SamlRejected):
    code = "saml.signature_invalid"


class SignatureStructure(SamlRejected):
    """A signature of a shape we refuse: references, transforms, placement."""

    code = "saml.signature_structure"


class WeakAlgorithm(SamlRejected):
    code = "saml.weak_algorithm"


class DuplicateId(SamlRejected):
    code = "saml.duplicate_id"


class IssuerMismatch(SamlRejected):
    code = "saml.issuer_mismatch"


class DestinationMissing(SamlRejected):
    code = "saml.destination_missing"


class DestinationMismatch(SamlRejected):
    code = "saml.destination_mismatch"


class RecipientMissing(SamlRejected):
    code = "saml.recipient_missing"


class RecipientMismatch(SamlRejected):
    code = "saml.recipient_mismatch"


class SubjectConfirmationInvalid(SamlRejected):
    code = "saml.subject_confirmation"


class AudienceMissing(SamlRejected):
    code = "saml.audience_missing"


class AudienceMismatch(SamlRejected):
    code = "saml.audience_mismatch"


class NotOnOrAfterMissing(SamlRejected):
    code = "saml.not_on_or_after_missing"


class Expired(SamlRejected):
    code = "saml.expired"


class NotYetValid(SamlRejected):
    code = "saml.not_yet_valid"


class IssueInstantInvalid(SamlRejected):
    code = "saml.issue_instant"


class NameIdMissing(SamlRejected):
    code = "saml.name_id_missing"


class NameQualifierMismatch(SamlRejected):
    """The NameID's SPNameQualifier names another service provider."""

    code = "saml.sp_name_qualifier"


class AuthnStatementInvalid(SamlRejected):
    code = "saml.authn_statement"


class Replay(SamlRejected):
    code = "saml.replay"


class UnsolicitedRefused(SamlRejected):
    code = "saml.unsolicited_refused"


class RequestUnknown(SamlRejected):
    code = "saml.request_unknown"


class RequestReused(SamlRejected):
    code = "saml.request_reused"


class RequestExpired(SamlRejected):
    code = "saml.request_expired"


class InResponseToMismatch(SamlRejected):
    code = "saml.in_response_to_mismatch"


class ForbiddenMarkup(SamlRejected):
    """A DTD, entity, comment, processing instruction or CDATA section."""

    code = "saml.forbidden_markup"


class ContentOutsideAssertion(SamlRejected):
    code = "saml.content_outside_assertion"


class ValueTooLong(SamlRejected):
    code = "saml.value_too_long"


class RequestOtherBrowser(SamlRejected):
    code = "saml.request_other_browser"


class RejectedByToolkit(SamlRejected):
    """python3-saml refused a logout message for a reason we do not map."""

    code = "saml.invalid"


class BindingUnsupported(SamlRejected):
    """Not a binding the single logout service takes from this IdP."""

    code = "saml.binding_unsupported"


# --- Users, groups and the group policy ---------------------------------------------------


class UserDeactivated(SPError):
    status = 403
    code = "user.deactivated"
    message = "Your account has been deactivated. Please contact your administrator."


class UserChangeRefused(SPError):
    status = 409
    code = "user.change_refused"
    message = "That change to the user was refused."


class NoGroupMatched(SPError):
    """The tenant refuses sign-in when no mapping rule gives the user a group (on-no-match deny)."""

    status = 403
    code = "group.no_match"
    message = (
        "Your organisation has not given you access to this application. "
        "Please ask your administrator to add you to the right group in your directory."
    )


class InvalidGroupPolicy(SPError):
    code = "group_policy.invalid"
    message = "That group policy setting or mapping rule is not valid."

    def __init__(self, reason: str | None = None, *, field: str | None = None) -> None:
        super().__init__(reason)
        # The input the refusal is about ("attribute", "match", "value", "priority"), for forms.
        self.field = field


class GroupPolicyNotFound(SPError):
    status = 404
    code = "group_policy.not_found"
    message = "There is no such group, rule or user in this organisation."


class GroupPolicyConflict(SPError):
    status = 409
    code = "group_policy.conflict"
    message = "That change conflicts with the organisation's groups, rules or users."


class Forbidden(SPError):
    status = 403
    code = "auth.forbidden"
    message = "You do not have permission to see this page."


class AuthRequired(SPError):
    status = 401
    code = "auth.required"
    message = "Sign in first."


# --- IdP metadata and the IdP connection ----------------------------------------------------


class MetadataRejected(SPError):
    abstract = True
    code = "metadata.invalid"
    message = "The IdP metadata was refused."


class MetadataMalformed(MetadataRejected):
    code = "metadata.malformed"


class MetadataEmpty(MetadataRejected):
    code = "metadata.empty"


class MetadataTooLarge(MetadataRejected):
    status = 413
    code = "metadata.too_large"


class MetadataForbiddenConstruct(MetadataRejected):
    code = "metadata.dtd_forbidden"


class MetadataNotIdp(MetadataRejected):
    code = "metadata.not_idp"


class MetadataAmbiguous(MetadataRejected):
    code = "metadata.ambiguous"


class MetadataNoSso(MetadataRejected):
    code = "metadata.no_sso"


class MetadataNoCertificate(MetadataRejected):
    code = "metadata.no_certificate"


class MetadataSignatureInvalid(MetadataRejected):
    code = "metadata.signature_invalid"


class MetadataExpired(MetadataRejected):
    code = "metadata.expired"


class PinnedCertificateInvalid(SPError):
    code = "metadata.pinned_certificate_invalid"
    message = "The certificate to verify the metadata signature with cannot be read."


class FetchRefused(SPError):
    code = "metadata.fetch_refused"
    message = "That metadata URL is not allowed."


class FetchFailed(SPError):
    status = 502
    code = "metadata.fetch_failed"
    message = "The metadata could not be fetched."


class MetadataInputMissing(SPError):
    code = "metadata.input"
    message = "Choose a metadata file or paste the metadata XML."


class NoMetadataUrl(SPError):
    status = 404
    code = "idp.no_metadata_url"
    message = "This tenant's IdP metadata is not fetched from a URL."


class VersionConflict(SPError):
    status = 409
    code = "idp.version_conflict"
    message = "The IdP configuration changed since this diff was made. Review the new diff and apply again."


class NoEarlierVersion(SPError):
    status = 409
    code = "idp.no_earlier_version"
    message = "There is no earlier IdP configuration to go back to."


# --- Operators and the ops API ------------------------------------------------------------


class AccountRefused(SPError):
    code = "ops.account_refused"
    message = "That operator account change was refused."


class SignInRefused(SPError):
    status = 401
    code = "ops.sign_in_refused"
    message = (
        "Wrong name, password or code. After repeated failures the account is locked for a while; "
        "another operator can unlock it."
    )


class TokenNameInvalid(SPError):
    code = "ops.token_name_invalid"
    message = "A token name is 1 to 100 letters, digits, dots, dashes or underscores."


class TokenNameTaken(SPError):
    status = 409
    code = "ops.token_name_taken"
    message = "A token with that name already exists."


class TokenNotFound(SPError):
    status = 404
    code = "ops.token_not_found"
    message = "There is no token with that name."


class ApiAuthRequired(SPError):
    status = 401
    code = "api.unauthorised"
    message = "Send a valid ops API token: Authorization: Bearer <token>."


class UnsupportedMediaType(SPError):
    status = 415
    code = "api.unsupported_media_type"
    message = "Send the metadata XML as the body, with Content-Type application/samlmetadata+xml or application/xml."
