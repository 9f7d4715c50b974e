"""The one module that calls python3-saml.

Everything python3-saml does for us goes through here: building its settings (cached per SP
and IdP configuration), AuthnRequests for both bindings, SP metadata, parsing a Response and
verifying it in strict mode, and single logout (LogoutRequests and LogoutResponses, both ways,
both bindings). Its errors are translated to ours, so no other module sees them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from pathlib import Path
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

import onelogin.saml2
from cryptography import x509
from lxml import etree
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.authn_request import OneLogin_Saml2_Authn_Request
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as VE
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser
from onelogin.saml2.logout_request import OneLogin_Saml2_Logout_Request
from onelogin.saml2.logout_response import OneLogin_Saml2_Logout_Response
from onelogin.saml2.metadata import OneLogin_Saml2_Metadata
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from .. import errors

BINDING_REDIRECT = C.BINDING_HTTP_REDIRECT
BINDING_POST = C.BINDING_HTTP_POST
STATUS_SUCCESS = C.STATUS_SUCCESS
STATUS_REQUESTER = C.STATUS_REQUESTER
STATUS_RESPONDER = C.STATUS_RESPONDER
# The query-signature algorithms we verify: RSA with SHA-256 or stronger. python3-saml verifies any
# other URI as RSA-SHA256 and takes SHA-1 when SigAlg is absent, so we refuse everything else first.
REDIRECT_SIGNATURE_ALGORITHMS = frozenset({C.RSA_SHA256, C.RSA_SHA384, C.RSA_SHA512})


_SCHEMAS = threading.local()
_SCHEMA_DIR = Path(onelogin.saml2.__file__).parent / "schemas"


def _compiled_schema(name: str) -> etree.XMLSchema:
    """The compiled XSD, once per thread (lxml validators must not be shared between threads)."""
    cache: dict[str, etree.XMLSchema] = _SCHEMAS.__dict__.setdefault("schemas", {})
    schema = cache.get(name)
    if schema is None:
        schema = cache[name] = etree.XMLSchema(etree.parse(str(_SCHEMA_DIR / name)))
    return schema


def _validate_xml_cached(xml, schema, debug=False):
    """python3-saml's OneLogin_Saml2_XML.validate_xml, same contract, without recompiling the XSD.

    python3-saml parses and compiles saml-schema-protocol-2.0.xsd on every validated message,
    which is most of its time per Response. The schema never changes, so it is compiled once.
    """
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception:
        return "unloaded_xml"
    return xml if _compiled_schema(schema).validate(xml) else "invalid_xml"


OneLogin_Saml2_XML.validate_xml = staticmethod(_validate_xml_cached)


@dataclass(frozen=True)
class SpConfig:
    """Our side for one tenant: endpoints from SP_BASE_URL and the SP key pair."""

    entity_id: str
    acs_url: str
    key_pem: str
    cert_pem: str
    next_cert_pem: str | None = None
    sign_metadata: bool = False
    # Off while we refuse encrypted assertions: an IdP that sees the key would start encrypting.
    publish_encryption_cert: bool = False
    # Published only once single logout is served at that URL.
    sls_url: str | None = None


@dataclass(frozen=True)
class IdpConfig:
    """The tenant's IdP as we trust it: entity ID, where to send users, its signing certificates."""

    entity_id: str
    sso_url: str
    sso_binding: str
    slo_url: str | None
    certificates: tuple[str, ...]
    want_authn_requests_signed: bool = False
    # The binding of slo_url: HTTP-Redirect when the IdP offers it, else HTTP-POST.
    slo_binding: str | None = None


@dataclass(frozen=True)
class OutgoingRequest:
    """An AuthnRequest or LogoutRequest ready to send: by redirect to `url`, or by POSTing `fields` to `url`."""

    request_id: str
    binding: str
    url: str
    fields: dict[str, str] | None = None


@dataclass(frozen=True)
class OutgoingResponse:
    """A LogoutResponse ready to send: by redirect to `url`, or by POSTing `fields` to `url`."""

    binding: str
    url: str
    fields: dict[str, str] | None = None


# Security settings that are not ours to loosen per tenant.
_SECURITY = {
    "authnRequestsSigned": True,
    "logoutRequestSigned": True,
    "logoutResponseSigned": True,
    "signMetadata": False,
    "wantMessagesSigned": False,
    "wantAssertionsSigned": False,
    "wantAssertionsEncrypted": False,
    "wantNameId": True,
    "wantNameIdEncrypted": False,
    # Many IdPs send a bare NameID and no attributes at all; that is a valid login.
    "wantAttributeStatement": False,
    "allowRepeatAttributeName": True,
    "rejectDeprecatedAlgorithm": True,
    "requestedAuthnContext": False,
    "signatureAlgorithm": C.RSA_SHA256,
    "digestAlgorithm": C.SHA256,
    "wantXMLValidation": True,
}


def _xml_safe(url: str) -> str:
    """A URL as it must appear in an XML attribute (python3-saml pastes endpoint URLs unescaped)."""
    return xml_escape(url, {'"': "&quot;"})


def _settings_dict(sp: SpConfig, idp: IdpConfig | None) -> dict[str, Any]:
    sp_part: dict[str, Any] = {
        "entityId": sp.entity_id,
        "assertionConsumerService": {"url": sp.acs_url, "binding": BINDING_POST},
        "NameIDFormat": C.NAMEID_UNSPECIFIED,
        "x509cert": sp.cert_pem,
        "privateKey": sp.key_pem,
    }
    if sp.sls_url:
        sp_part["singleLogoutService"] = {"url": sp.sls_url, "binding": BINDING_REDIRECT}
    if sp.next_cert_pem:
        sp_part["x509certNew"] = sp.next_cert_pem
    settings: dict[str, Any] = {"strict": True, "debug": False, "sp": sp_part, "security": dict(_SECURITY)}
    if idp is not None:
        idp_part: dict[str, Any] = {
            "entityId": idp.entity_id,
            # python3-saml pastes these URLs into its XML templates (Destination="...") unescaped.
            "singleSignOnService": {"url": _xml_safe(idp.sso_url), "binding": idp.sso_binding},
            "x509certMulti": {"signing": list(idp.certificates)},
        }
        if idp.slo_url:
            idp_part["singleLogoutService"] = {"url": _xml_safe(idp.slo_url), "binding": idp.slo_binding or BINDING_REDIRECT}
        settings["idp"] = idp_part
    return settings


@lru_cache(maxsize=1024)
def settings_for(sp: SpConfig, idp: IdpConfig | None) -> OneLogin_Saml2_Settings:
    """Build (once per distinct configuration) python3-saml's settings object."""
    return OneLogin_Saml2_Settings(_settings_dict(sp, idp), sp_validation_only=idp is None)


def _request_data(url: str) -> dict[str, Any]:
    """python3-saml's view of 'the current request', built from our configured URL, never the Host header."""
    parts = urlsplit(url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        # host[:port] in http_host: python3-saml 1.16 deprecates server_port.
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": {},
        "post_data": {},
    }


def authn_request(sp: SpConfig, idp: IdpConfig, relay_state: str) -> OutgoingRequest:
    """Build a signed AuthnRequest for the IdP's binding: a redirect URL, or a POST form."""
    settings = settings_for(sp, idp)
    if idp.sso_binding == BINDING_REDIRECT:
        auth = OneLogin_Saml2_Auth(_request_data(sp.acs_url), old_settings=settings)
        url = _with_raw_url(auth.login(return_to=relay_state, set_nameid_policy=False), idp.sso_url)
        return OutgoingRequest(auth.get_last_request_id(), BINDING_REDIRECT, url)
    # python3-saml only builds the Redirect binding; for HTTP-POST we sign the XML itself.
    request = OneLogin_Saml2_Authn_Request(settings, set_nameid_policy=False)
    signed = OneLogin_Saml2_Utils.add_sign(
        request.get_xml(), sp.key_pem, sp.cert_pem,
        sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256,
    )
    fields = {"SAMLRequest": OneLogin_Saml2_Utils.b64encode(signed), "RelayState": relay_state}
    return OutgoingRequest(request.get_id(), BINDING_POST, idp.sso_url, fields)


def sp_metadata(sp: SpConfig) -> str:
    """Our SP metadata for one tenant: signing (and, when published, encryption) certificates,
    the next certificate ahead of a rollover, signed when the SP is configured to sign it."""
    settings = settings_for(sp, None)
    metadata = OneLogin_Saml2_Metadata.builder(
        settings.get_sp_data(), authnsign=True, wsign=False,
        contacts=settings.get_contacts(), organization=settings.get_organization(),
    )
    # python3-saml puts each certificate first, so the current one ends up above the next one.
    for cert in (sp.next_cert_pem, sp.cert_pem):
        if cert:
            metadata = OneLogin_Saml2_Metadata.add_x509_key_descriptors(metadata, cert, sp.publish_encryption_cert)
    problems = settings.validate_metadata(metadata)
    if problems:
        raise RuntimeError(f"SP metadata failed python3-saml's own validation: {problems}")
    if sp.sign_metadata:
        metadata = OneLogin_Saml2_Metadata.sign_metadata(
            metadata, sp.key_pem, sp.cert_pem, sign_algorithm=C.RSA_SHA256, digest_algorithm=C.SHA256
        )
    return metadata if isinstance(metadata, str) else metadata.decode("utf-8")


def parse_idp_metadata_stock(xml: str, entity_id: str | None) -> dict[str, Any]:
    """python3-saml's own IdP metadata parser (whole DOM): the benchmark's yardstick, not used to import."""
    idp = OneLogin_Saml2_IdPMetadataParser.parse(xml, entity_id=entity_id)["idp"]
    return {"entity_id": idp["entityId"], "sso": idp["singleSignOnService"]}


def metadata_signature_verifies(root: etree._Element, certificates: list[str]) -> bool:
    """True when the metadata's root signature verifies with one of the pinned PEM certificates.

    The signature's shape (one, over the whole root, no SHA-1) is checked before this, in
    idp_metadata.check_signature_shape; here xmlsec only checks the cryptography.
    """
    for pem in certificates:
        if OneLogin_Saml2_Utils.validate_metadata_sign(root, cert=pem):
            return True
    return False


def parse_response(sp: SpConfig, idp: IdpConfig, saml_response: str) -> OneLogin_Saml2_Response:
    """Decode and parse a base64 Response (no DTDs, no entities, comments dropped)."""
    try:
        return OneLogin_Saml2_Response(settings_for(sp, idp), saml_response)
    except Exception as error:  # python3-saml raises bare exceptions from its parser and decoder
        raise errors.MalformedMessage(f"the SAMLResponse is not a well-formed XML document: {type(error).__name__}") from None


# python3-saml's validation codes, translated to our error classes.
_TRANSLATION: dict[int, type[errors.SamlRejected]] = {
    VE.UNSUPPORTED_SAML_VERSION: errors.SchemaInvalid,
    VE.MISSING_ID: errors.SchemaInvalid,
    VE.MISSING_STATUS: errors.SchemaInvalid,
    VE.MISSING_STATUS_CODE: errors.SchemaInvalid,
    VE.INVALID_XML_FORMAT: errors.SchemaInvalid,
    VE.WRONG_NUMBER_OF_ASSERTIONS: errors.AssertionCount,
    VE.STATUS_CODE_IS_NOT_SUCCESS: errors.StatusNotSuccess,
    VE.WRONG_SIGNED_ELEMENT: errors.SignatureStructure,
    VE.ID_NOT_FOUND_IN_SIGNED_ELEMENT: errors.SignatureStructure,
    VE.INVALID_SIGNED_ELEMENT: errors.SignatureStructure,
    VE.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: errors.SignatureStructure,
    VE.UNEXPECTED_SIGNED_ELEMENTS: errors.SignatureStructure,
    VE.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: errors.SignatureStructure,
    VE.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: errors.SignatureStructure,
    VE.WRONG_NUMBER_OF_SIGNATURES: errors.SignatureStructure,
    VE.DUPLICATED_ID_IN_SIGNED_ELEMENTS: errors.DuplicateId,
    VE.WRONG_INRESPONSETO: errors.RequestUnknown,
    VE.MISSING_CONDITIONS: errors.AudienceMissing,
    VE.ASSERTION_TOO_EARLY: errors.NotYetValid,
    VE.ASSERTION_EXPIRED: errors.Expired,
    VE.SESSION_EXPIRED: errors.Expired,
    VE.RESPONSE_EXPIRED: errors.Expired,
    VE.WRONG_NUMBER_OF_AUTHSTATEMENTS: errors.AuthnStatementInvalid,
    VE.ENCRYPTED_ATTRIBUTES: errors.EncryptedAssertionUnsupported,
    VE.NO_ENCRYPTED_ASSERTION: errors.EncryptedAssertionUnsupported,
    VE.WRONG_DESTINATION: errors.DestinationMismatch,
    VE.EMPTY_DESTINATION: errors.DestinationMissing,
    VE.WRONG_AUDIENCE: errors.AudienceMismatch,
    VE.ISSUER_MULTIPLE_IN_RESPONSE: errors.IssuerMismatch,
    VE.ISSUER_NOT_FOUND_IN_ASSERTION: errors.IssuerMismatch,
    VE.WRONG_ISSUER: errors.IssuerMismatch,
    VE.WRONG_SUBJECTCONFIRMATION: errors.SubjectConfirmationInvalid,
    VE.NO_SIGNED_MESSAGE: errors.SignatureMissing,
    VE.NO_SIGNED_ASSERTION: errors.SignatureMissing,
    VE.NO_SIGNATURE_FOUND: errors.SignatureMissing,
    VE.INVALID_SIGNATURE: errors.SignatureInvalid,
    VE.NO_NAMEID: errors.NameIdMissing,
    VE.EMPTY_NAMEID: errors.NameIdMissing,
    VE.DEPRECATED_SIGNATURE_METHOD: errors.WeakAlgorithm,
    VE.DEPRECATED_DIGEST_METHOD: errors.WeakAlgorithm,
}


def verify(response: OneLogin_Saml2_Response, sp: SpConfig, idp: IdpConfig, request_id: str | None) -> None:
    """Run python3-saml's strict validation, including the signature against every trusted cert.

    Raises the SamlRejected subclass matching python3-saml's reason; a bad signature says which
    certificate signed and which ones the metadata lists.
    """
    try:
        response.is_valid(_request_data(sp.acs_url), request_id=request_id, raise_exceptions=True)
    except VE as error:
        if error.code == VE.INVALID_SIGNATURE:
            raise errors.SignatureInvalid(signature_failure_reason(response.document, idp)) from None
        raise _TRANSLATION.get(error.code, errors.RejectedByToolkit)(f"python3-saml: {error}") from None
    except Exception as error:  # xmlsec and lxml raise their own types on hostile input
        raise errors.SignatureInvalid(f"the signature could not be verified ({type(error).__name__})") from None


# --- Which certificate signed -------------------------------------------------------------

_DS = "{http://www.w3.org/2000/09/xmldsig#}"
_SIGNED = (
    "{urn:oasis:names:tc:SAML:2.0:protocol}Response", "{urn:oasis:names:tc:SAML:2.0:assertion}Assertion",
    "{urn:oasis:names:tc:SAML:2.0:protocol}LogoutRequest", "{urn:oasis:names:tc:SAML:2.0:protocol}LogoutResponse",
)
# A KeyInfo may list a chain; the first few are all a reason needs.
_MAX_KEY_INFO_CERTS = 4


def fingerprint(der: bytes) -> str:
    """SHA-256 fingerprint as ops tools print it: AB:CD:..."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _pem_der(pem: str) -> bytes:
    return base64.b64decode("".join(line for line in pem.splitlines() if line and not line.startswith("-----")))


def key_info_fingerprints(document: etree._Element) -> list[str]:
    """Fingerprints of the certificates that the Response's and Assertion's signatures carry in KeyInfo.

    Only a hint of who signed (anyone can put any certificate there): we never trust it, we
    compare it with the metadata to tell ops what to fix.
    """
    found: list[str] = []
    for signature in document.iter(_DS + "Signature"):
        parent = signature.getparent()
        if parent is None or parent.tag not in _SIGNED:
            continue
        for node in signature.iterfind(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate"):
            try:
                der = base64.b64decode("".join((node.text or "").split()), validate=True)
            except (binascii.Error, ValueError):
                continue
            value = fingerprint(der)
            if value not in found and len(found) < _MAX_KEY_INFO_CERTS:
                found.append(value)
    return found


def _describe_metadata_certificate(pem: str) -> str:
    der = _pem_der(pem)
    try:
        expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return fingerprint(der)
    return f"{fingerprint(der)} (expires {expires:%Y-%m-%d})"


def signature_failure_reason(document: etree._Element, idp: IdpConfig) -> str:
    """Plain words for a signature that verifies with none of the metadata's certificates."""
    trusted = {fingerprint(_pem_der(pem)): pem for pem in idp.certificates}
    listed = ", ".join(_describe_metadata_certificate(pem) for pem in idp.certificates) or "none"
    named = key_info_fingerprints(document)
    if named and not any(value in trusted for value in named):
        return (
            f"the response was signed by a certificate that is not in the uploaded metadata: fingerprint "
            f"{', '.join(named)}, the metadata lists {listed}; if the IdP changed its signing certificate, "
            "upload its current metadata"
        )
    if named:
        return (
            f"the signature does not verify with the certificate it names (fingerprint {named[0]}, which the "
            "metadata lists): the message was changed after it was signed, or signed with another key"
        )
    return (
        f"the signature verifies with none of the certificates in the uploaded metadata ({listed}) and names "
        "no certificate; if the IdP changed its signing certificate, upload its current metadata"
    )


def verifying_certificate(document: etree._Element, idp: IdpConfig) -> str | None:
    """The fingerprint of the metadata certificate that verified a (verified) Response.

    python3-saml tries every metadata certificate and does not say which one matched. With a
    single certificate there is no doubt; with several we report the listed one the signature
    names in KeyInfo (the IdP's own claim, true for every IdP we know), and otherwise do not guess.
    """
    trusted = [fingerprint(_pem_der(pem)) for pem in idp.certificates]
    for value in key_info_fingerprints(document):
        if value in trusted:
            return value
    return trusted[0] if len(trusted) == 1 else None


@dataclass(frozen=True)
class Identity:
    """Who the verified assertion says the user is."""

    name_id: str
    name_id_format: str | None
    session_index: str | None
    attributes: dict[str, list[str]]


def identity(response: OneLogin_Saml2_Response) -> Identity:
    """Read NameID, SessionIndex and attributes (by Name and by FriendlyName) from a verified Response."""
    try:
        attributes: dict[str, list[str]] = {}
        for source in (response.get_attributes(), response.get_friendlyname_attributes()):
            for name, values in source.items():
                texts = [v for v in values if isinstance(v, str)]
                texts += [v["NameID"]["value"] for v in values if isinstance(v, dict) and v.get("NameID", {}).get("value")]
                attributes.setdefault(name, [])
                attributes[name].extend(t for t in texts if t not in attributes[name])
        name_id_data = response.get_nameid_data()
        name_id = name_id_data.get("Value")
        if not name_id:
            raise errors.NameIdMissing("the assertion's NameID is empty")
        return Identity(
            name_id=name_id.strip(),
            name_id_format=name_id_data.get("Format"),
            session_index=response.get_session_index(),
            attributes=attributes,
        )
    except VE as error:
        raise _TRANSLATION.get(error.code, errors.RejectedByToolkit)(f"python3-saml: {error}") from None


# --- Single logout ----------------------------------------------------------------------------

LOGOUT_REQUEST = "LogoutRequest"
LOGOUT_RESPONSE = "LogoutResponse"




@dataclass
class LogoutMessage:
    """A LogoutRequest or LogoutResponse as python3-saml parsed it: its object and its document."""

    kind: str  # LogoutRequest | LogoutResponse
    message: OneLogin_Saml2_Logout_Request | OneLogin_Saml2_Logout_Response
    document: etree._Element


def parse_logout(sp: SpConfig, idp: IdpConfig, kind: str, xml: bytes) -> LogoutMessage:
    """Parse a logout message (no DTDs, no entities) whose raw document already passed our checks.

    python3-saml inflates whatever it is handed, without a bound, so it is handed only what we
    deflated ourselves from the document bindings.inflate already capped and check_document read.
    """
    redeflated = OneLogin_Saml2_Utils.deflate_and_base64_encode(xml)
    try:
        if kind == LOGOUT_REQUEST:
            request = OneLogin_Saml2_Logout_Request(settings_for(sp, idp), redeflated)
            return LogoutMessage(kind, request, OneLogin_Saml2_XML.to_etree(request.get_xml()))
        response = OneLogin_Saml2_Logout_Response(settings_for(sp, idp), redeflated)
        return LogoutMessage(kind, response, response.document)
    except Exception as error:  # python3-saml raises bare exceptions from its parser
        raise errors.MalformedMessage(f"the {kind} is not a well-formed XML document: {type(error).__name__}") from None


def _logout_request_data(sp: SpConfig, parameters: dict[str, str], query_string: str | None) -> dict[str, Any]:
    data = _request_data(sp.sls_url or sp.acs_url)
    data["get_data"] = dict(parameters)
    if query_string is not None:
        # Verify the signature over the query exactly as the IdP encoded it (AD FS writes lowercase
        # hex, others uppercase), not over python3-saml's re-encoding of the decoded values.
        data["query_string"] = query_string
        data["validate_signature_from_qs"] = True
    return data


def verify_logout(logout: LogoutMessage, sp: SpConfig, idp: IdpConfig, *, parameters: dict[str, str],
                  query_string: str | None, request_id: str | None = None) -> None:
    """Verify a logout message's signature with the tenant's certificates, then python3-saml's strict checks.

    HTTP-Redirect (`query_string` given): the query signature, whose presence and algorithm the
    caller checked. HTTP-POST: the enveloped XML signature, whose shape the caller checked
    (validation.check_message_signature). `request_id` is the LogoutRequest a LogoutResponse answers.
    """
    data = _logout_request_data(sp, parameters, query_string)
    if query_string is not None:
        auth = OneLogin_Saml2_Auth(data, old_settings=settings_for(sp, idp))
        if logout.kind == LOGOUT_REQUEST:
            verified = auth.validate_request_signature(data["get_data"])
        else:
            verified = auth.validate_response_signature(data["get_data"])
        if not verified:
            listed = ", ".join(_describe_metadata_certificate(pem) for pem in idp.certificates) or "none"
            raise errors.SignatureInvalid(
                f"the {logout.kind}'s query signature verifies with none of the certificates in the uploaded "
                f"metadata ({listed}): the message was changed, or the IdP signs with a key the metadata does not list"
            )
    else:
        try:
            OneLogin_Saml2_Utils.validate_sign(logout.document, multicerts=list(idp.certificates),
                                               xpath=f"/samlp:{logout.kind}/ds:Signature", raise_exceptions=True)
        except VE as error:
            if error.code == VE.INVALID_SIGNATURE:
                raise errors.SignatureInvalid(signature_failure_reason(logout.document, idp)) from None
            raise _TRANSLATION.get(error.code, errors.SignatureInvalid)(f"python3-saml: {error}") from None
        except Exception as error:  # xmlsec and lxml raise their own types on hostile input
            raise errors.SignatureInvalid(f"the signature could not be verified ({type(error).__name__})") from None
    try:
        if logout.kind == LOGOUT_REQUEST:
            logout.message.is_valid(data, raise_exceptions=True)
        else:
            logout.message.is_valid(data, request_id=request_id, raise_exceptions=True)
    except VE as error:
        raise _TRANSLATION.get(error.code, errors.RejectedByToolkit)(f"python3-saml: {error}") from None
    except Exception as error:
        raise errors.RejectedByToolkit(f"python3-saml refused the {logout.kind} ({type(error).__name__})") from None


def logout_verifying_certificate(logout: LogoutMessage, idp: IdpConfig, binding: str) -> str | None:
    """The fingerprint of the metadata certificate that verified a (verified) logout message, when known."""
    if binding == BINDING_POST:
        return verifying_certificate(logout.document, idp)
    # A query signature names no certificate: with one in the metadata there is no doubt.
    return fingerprint(_pem_der(idp.certificates[0])) if len(idp.certificates) == 1 else None


def _check_built(xml: str | bytes, kind: str, destination: str, texts: dict[str, str | None]) -> None:
    """Refuse to send a message python3-saml built wrong: well-formed, addressed to `destination`, carrying `texts`."""
    root = etree.fromstring(xml.encode() if isinstance(xml, str) else xml,
                            etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
    if root.tag != f"{{{C.NS_SAMLP}}}{kind}" or root.get("Destination") != destination:
        raise RuntimeError(f"python3-saml built a {kind} for {root.get('Destination')!r}, not {destination!r}")
    for tag, expected in texts.items():
        found = root.find(tag, {"samlp": C.NS_SAMLP, "saml": C.NS_SAML})
        if expected is not None and (found is None or found.text != expected):
            raise RuntimeError(f"python3-saml built a {kind} whose {tag} is not the value given")


def _with_raw_url(url: str, idp_url: str) -> str:
    """python3-saml's redirect URL, starting with the IdP's URL as it is rather than XML-escaped."""
    escaped = _xml_safe(idp_url)
    if not url.startswith(escaped):
        raise RuntimeError("python3-saml's redirect does not start with the IdP's endpoint URL")
    return idp_url + url[len(escaped):]


def logout_request(sp: SpConfig, idp: IdpConfig, *, name_id: str, name_id_format: str | None,
                   session_index: str | None, relay_state: str) -> OutgoingRequest:
    """Build a signed LogoutRequest for the IdP's SLO binding: a redirect URL, or a POST form."""
    if not idp.slo_url:
        raise errors.IdpNotConfigured("the IdP metadata lists no SingleLogoutService")
    settings = settings_for(sp, idp)
    # python3-saml pastes the SessionIndex into its XML unescaped; the NameID it escapes itself.
    index = xml_escape(session_index) if session_index else None
    if idp.slo_binding != BINDING_POST:
        auth = OneLogin_Saml2_Auth(_request_data(sp.sls_url or sp.acs_url), old_settings=settings)
        url = _with_raw_url(auth.logout(return_to=relay_state, name_id=name_id, session_index=index,
                                        name_id_format=name_id_format), idp.slo_url)
        request_id, xml, fields = auth.get_last_request_id(), auth.get_last_request_xml(), None
    else:
        request = OneLogin_Saml2_Logout_Request(settings, name_id=name_id, session_index=index,
                                                name_id_format=name_id_format)
        request_id, xml, url = request.id, request.get_xml(), idp.slo_url
        signed = OneLogin_Saml2_Utils.add_sign(xml, sp.key_pem, sp.cert_pem, sign_algorithm=C.RSA_SHA256,
                                               digest_algorithm=C.SHA256)
        fields = {"SAMLRequest": OneLogin_Saml2_Utils.b64encode(signed), "RelayState": relay_state}
    _check_built(xml, LOGOUT_REQUEST, idp.slo_url, {"saml:NameID": name_id, "samlp:SessionIndex": session_index})
    return OutgoingRequest(request_id, BINDING_POST if fields else BINDING_REDIRECT, url, fields)


def logout_response(sp: SpConfig, idp: IdpConfig, *, in_response_to: str, status: str,
                    relay_state: str | None) -> OutgoingResponse:
    """Build a signed LogoutResponse to a LogoutRequest, for the IdP's SLO binding.

    `in_response_to` must be the verified request's ID (an xs:ID): python3-saml pastes it into
    the XML unescaped.
    """
    if not idp.slo_url:
        raise errors.IdpNotConfigured("the IdP metadata lists no SingleLogoutService")
    settings = settings_for(sp, idp)
    builder = OneLogin_Saml2_Logout_Response(settings)
    builder.build(in_response_to, status)
    xml = builder.get_xml()
    _check_built(xml, LOGOUT_RESPONSE, idp.slo_url, {})
    parameters: dict[str, str] = {}
    if idp.slo_binding != BINDING_POST:
        parameters["SAMLResponse"] = builder.get_response()
        if relay_state is not None:
            parameters["RelayState"] = relay_state
        auth = OneLogin_Saml2_Auth(_request_data(sp.sls_url or sp.acs_url), old_settings=settings)
        auth.add_response_signature(parameters, C.RSA_SHA256)
        return OutgoingResponse(BINDING_REDIRECT, OneLogin_Saml2_Utils.redirect(idp.slo_url, parameters))
    signed = OneLogin_Saml2_Utils.add_sign(xml, sp.key_pem, sp.cert_pem, sign_algorithm=C.RSA_SHA256,
                                           digest_algorithm=C.SHA256)
    parameters["SAMLResponse"] = OneLogin_Saml2_Utils.b64encode(signed)
    if relay_state is not None:
        parameters["RelayState"] = relay_state
    return OutgoingResponse(BINDING_POST, idp.slo_url, parameters)
