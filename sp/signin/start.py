"""Start an SP-initiated sign-in: a signed AuthnRequest for the tenant's IdP, remembered server-side."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from sp.extensions import db
from sp.models import Tenant
from sp.saml import messages
from sp.saml.messages import OutgoingRequest
from sp.signin import outstanding, trust
from sp.signin.redirects import safe_next


def begin(tenant: Tenant, next_path: str | None, now: datetime) -> OutgoingRequest:
    """Build the AuthnRequest and record it (any instance may receive the answer); commits.

    `next_path` is where the user goes after signing in: kept only when it is a local path.
    Raises IdpNotConfigured when the tenant has no usable IdP.
    """
    target = safe_next(next_path)
    idp = trust.idp_of(tenant)
    outgoing = messages.authn_request(trust.sp_config(tenant), trust.idp_config(idp), relay_state=target)
    ttl = timedelta(seconds=current_app.config["SAML_REQUEST_TTL_SECONDS"])
    outstanding.remember(tenant, outgoing.request_id, target, now, ttl)
    db.session.commit()
    return outgoing


def sp_metadata(tenant: Tenant) -> str:
    """Our SP metadata for the tenant, as its IdP administrator imports it."""
    return messages.sp_metadata(trust.sp_config(tenant))
