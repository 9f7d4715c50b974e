"""Turn a tenant's stored configuration into what the toolkit and the checks need."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import current_app

from sp import errors
from sp.models import IdentityProvider, Tenant
from sp.saml import keys
from sp.saml.config import BINDING_POST, BINDING_REDIRECT, IdpConfig, SpConfig
from sp.saml.logout import LogoutExpectations
from sp.saml.response import Expectations
from sp.signin import provisioning


def base_url() -> str:
    return current_app.config["SP_BASE_URL"]


def entity_id(slug: str) -> str:
    """Our entity ID for a tenant: built from SP_BASE_URL only, never from the Host header."""
    return f"{base_url()}/saml/{slug}/metadata"


def acs_url(slug: str) -> str:
    return f"{base_url()}/saml/{slug}/acs"


def sls_url(slug: str) -> str | None:
    """Our single logout URL, once the app serves one (a route named saml.sls); None until then."""
    if "saml.sls" not in current_app.view_functions:
        return None
    # Built from the route itself, so the metadata follows wherever SLO is mounted.
    return base_url() + current_app.url_map.bind("sp.invalid").build("saml.sls", {"slug": slug})


def setup_facts(tenant: Tenant) -> dict[str, Any]:
    """What a customer's IdP administrator enters in their IdP (all public), for the setup page."""

    def names(override: str | None, defaults: tuple[str, ...]) -> tuple[str, ...]:
        return (override,) if override else defaults

    return {
        "entity_id": entity_id(tenant.slug),
        "acs_url": acs_url(tenant.slug),
        "metadata_url": entity_id(tenant.slug),
        "sls_url": sls_url(tenant.slug),
        "login_url": f"{base_url()}/saml/{tenant.slug}/login",
        "name_id_format": provisioning.EMAIL_NAME_ID_FORMAT,
        "encryption_published": bool(current_app.config.get("SAML_PUBLISH_ENCRYPTION_CERT")),
        "attributes": [
            ("Email address (or an email-shaped NameID)", names(tenant.email_attribute, provisioning.EMAIL_ATTRIBUTES)),
            ("Display name", names(tenant.name_attribute, provisioning.DISPLAY_NAME_ATTRIBUTES)),
            (
                "Given name (when there is no display name)",
                () if tenant.name_attribute else provisioning.GIVEN_NAME_ATTRIBUTES,
            ),
            (
                "Surname (when there is no display name)",
                () if tenant.name_attribute else provisioning.SURNAME_ATTRIBUTES,
            ),
        ],
    }


def sp_config(tenant: Tenant) -> SpConfig:
    """Our side of the federation with this tenant."""
    pair = keys.load_or_create(current_app.config["SAML_SETTINGS_DIR"], base_url())
    return SpConfig(
        entity_id=entity_id(tenant.slug),
        acs_url=acs_url(tenant.slug),
        key_pem=pair.key_pem,
        cert_pem=pair.cert_pem,
        next_cert_pem=pair.next_cert_pem,
        sign_metadata=bool(current_app.config.get("SAML_SIGN_METADATA")),
        publish_encryption_cert=bool(current_app.config.get("SAML_PUBLISH_ENCRYPTION_CERT")),
        sls_url=sls_url(tenant.slug),
    )


def idp_of(tenant: Tenant) -> IdentityProvider:
    """The tenant's IdP, or IdpNotConfigured."""
    idp = tenant.identity_provider
    if idp is None:
        raise errors.IdpNotConfigured(f"tenant {tenant.slug!r} has no IdP metadata imported yet")
    return idp


def idp_config(idp: IdentityProvider) -> IdpConfig:
    """The IdP as the toolkit trusts it. Redirect binding is preferred when the IdP offers it."""
    if idp.sso_redirect_url:
        sso_url, binding = idp.sso_redirect_url, BINDING_REDIRECT
    elif idp.sso_post_url:
        sso_url, binding = idp.sso_post_url, BINDING_POST
    else:
        raise errors.IdpNotConfigured("the IdP metadata lists no usable SingleSignOnService")
    slo_url, slo_binding = slo_endpoint(idp)
    return IdpConfig(
        entity_id=idp.entity_id,
        sso_url=sso_url,
        sso_binding=binding,
        slo_url=slo_url,
        certificates=tuple(cert["pem"] for cert in idp.certificates),
        want_authn_requests_signed=idp.want_authn_requests_signed,
        slo_binding=slo_binding,
    )


def slo_endpoint(idp: IdentityProvider) -> tuple[str | None, str | None]:
    """Where we send the IdP logout messages, and by which binding: HTTP-Redirect when it offers it."""
    if idp.slo_redirect_url:
        return idp.slo_redirect_url, BINDING_REDIRECT
    if idp.slo_post_url:
        return idp.slo_post_url, BINDING_POST
    return None, None


def expectations(tenant: Tenant, idp: IdentityProvider) -> Expectations:
    """What a Response for this tenant must say."""
    return Expectations(
        sp_entity_id=entity_id(tenant.slug),
        acs_url=acs_url(tenant.slug),
        idp_entity_id=idp.entity_id,
        clock_skew=timedelta(seconds=tenant.clock_skew_seconds),
        max_age=timedelta(seconds=current_app.config["SAML_MAX_ASSERTION_AGE_SECONDS"]),
    )


def logout_expectations(tenant: Tenant, idp: IdentityProvider) -> LogoutExpectations:
    """What a LogoutRequest or LogoutResponse for this tenant must say."""
    sls = sls_url(tenant.slug)
    if sls is None:
        raise RuntimeError("single logout is not served by this app (no route named saml.sls)")
    return LogoutExpectations(
        sls_url=sls,
        idp_entity_id=idp.entity_id,
        clock_skew=timedelta(seconds=tenant.clock_skew_seconds),
        max_age=timedelta(seconds=current_app.config["SAML_MAX_ASSERTION_AGE_SECONDS"]),
    )
