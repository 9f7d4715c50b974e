"""Who the user is: find or create them just in time, and refresh what the IdP tells us."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from sp import errors
from sp.extensions import db
from sp.models import Tenant, User
from sp.saml.response import Identity
from sp.tenancy import group_policy

# Where the common IdPs put the email and the name when the tenant names no attribute.
# Okta and Google: email / firstName / lastName; Entra ID and ADFS: the claim URIs;
# Shibboleth: the eduPerson / inetOrgPerson OIDs.
EMAIL_ATTRIBUTES = (
    "email",
    "mail",
    "Email",
    "emailAddress",
    "EmailAddress",
    "user.email",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
    "urn:oid:0.9.2342.19200300.100.1.3",
)
DISPLAY_NAME_ATTRIBUTES = (
    "displayName",
    "displayname",
    "DisplayName",
    "http://schemas.microsoft.com/identity/claims/displayname",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "cn",
    "urn:oid:2.5.4.3",
    "name",
)
GIVEN_NAME_ATTRIBUTES = (
    "givenName",
    "firstName",
    "first_name",
    "given_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
    "urn:oid:2.5.4.42",
)
SURNAME_ATTRIBUTES = (
    "sn",
    "surname",
    "lastName",
    "last_name",
    "family_name",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
    "urn:oid:2.5.4.4",
)
EMAIL_NAME_ID_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"


class UserCreationRace(Exception):
    """Another login created the same user first; the caller retries its transaction."""


def _first(attributes: dict[str, list[str]], names: tuple[str, ...]) -> str | None:
    for name in names:
        for value in attributes.get(name, ()):
            if value.strip():
                return value.strip()
    return None


def email_of(identity: Identity, tenant: Tenant) -> str | None:
    """The user's email from the tenant's attribute, the usual ones, or an email-shaped NameID."""
    names = (tenant.email_attribute,) if tenant.email_attribute else EMAIL_ATTRIBUTES
    email = _first(identity.attributes, names)
    if email is None and (identity.name_id_format == EMAIL_NAME_ID_FORMAT or "@" in identity.name_id):
        email = identity.name_id
    return email[:320] if email else None


def display_name_of(identity: Identity, tenant: Tenant) -> str | None:
    """The user's display name, or 'given surname' when the IdP sends only those."""
    if tenant.name_attribute:
        name = _first(identity.attributes, (tenant.name_attribute,))
    else:
        name = _first(identity.attributes, DISPLAY_NAME_ATTRIBUTES)
        if name is None:
            parts = [
                _first(identity.attributes, GIVEN_NAME_ATTRIBUTES),
                _first(identity.attributes, SURNAME_ATTRIBUTES),
            ]
            name = " ".join(p for p in parts if p) or None
    return name[:255] if name else None


def _sent(identity: Identity) -> str:
    """What the IdP sent, briefly: the NameID and a few attributes with their first values."""
    parts = [f"NameID {identity.name_id[:80]!r}"]
    items = list(identity.attributes.items())
    for name, values in items[:8]:
        shown = ", ".join(repr(v[:60]) for v in values[:2]) + (", …" if len(values) > 2 else "")
        parts.append(f"{name[:80]}=[{shown}]")
    if len(items) > 8:
        parts.append(f"and {len(items) - 8} more attributes")
    elif not items:
        parts.append("no attributes")
    return "; ".join(parts)


def missing_email_reason(identity: Identity, tenant: Tenant) -> str:
    """Say that no email came, what did come, and where to fix it (a note for the login trace)."""
    if tenant.email_attribute:
        return (
            f"no {tenant.email_attribute!r} attribute (this tenant's email attribute); the IdP sent: "
            f"{_sent(identity)}. Release the user's email under that name, or change the tenant's email attribute"
        )
    return (
        f"no email attribute; the IdP sent: {_sent(identity)}. Release the user's email as an attribute "
        "named 'email' (or set the tenant's email attribute), or send an email-address NameID"
    )


def provision(tenant: Tenant, identity: Identity, now: datetime) -> tuple[User, bool]:
    """Find the user by (tenant, NameID) or create them; (user, created).

    A new user joins the default group unless the tenant's group policy picks another one
    (sp/group_policy.py), which may also move an existing user at every login.
    A user without an email is fine (a bare NameID is a valid login); the caller notes it in
    the login trace (missing_email_reason).
    Raises UserDeactivated for a deactivated user, NoGroupMatched when the group policy refuses
    the login, and UserCreationRace when a concurrent login created the same user first (the
    caller retries; the retry finds them).
    """
    user = db.session.scalar(select(User).where(User.tenant_id == tenant.id, User.name_id == identity.name_id))
    created = user is None
    if user is None:
        if tenant.default_group_id is None:
            raise errors.IdpNotConfigured(f"tenant {tenant.slug!r} has no default group")
        user = User(
            tenant_id=tenant.id,
            name_id=identity.name_id,
            group_id=tenant.default_group_id,
            group_source="default",
            group_detail=None,
            source="jit",
            active=True,
            created_at=now,
        )
        db.session.add(user)
    elif not user.active:
        raise errors.UserDeactivated(f"user {identity.name_id!r} is deactivated in this organisation")
    user.name_id_format = identity.name_id_format
    user.email = email_of(identity, tenant) or user.email
    user.display_name = display_name_of(identity, tenant) or user.display_name
    user.last_login_at = now
    if created:
        try:
            db.session.flush()
        except IntegrityError:
            raise UserCreationRace(identity.name_id) from None
    # After the flush: the rules are read with a query, whose autoflush must not meet the race.
    group_policy.assign_on_login(tenant, user, created, identity.attributes, now)
    return user, created
