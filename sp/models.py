"""Database models: what the SP stores. Decisions live in the service modules."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql import true

from sp.clock import as_utc, utcnow
from sp.extensions import db

if TYPE_CHECKING:
    # db.Model is a class Flask-SQLAlchemy builds at run time, which mypy cannot take as a base
    # class: to the type checker the models derive from SQLAlchemy's typed declarative base.
    from sqlalchemy.orm import DeclarativeBase as Model
else:
    Model = db.Model


class UTCDateTime(TypeDecorator):
    """A timezone-aware UTC datetime on every database (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        # SQLite stores text: keep it naive UTC so comparisons in SQL stay lexical and correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Tenant(Model):
    """One customer company: its IdP, users, groups and SSO settings."""

    __tablename__ = "tenant"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    idp_initiated: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    clock_skew_seconds: Mapped[int] = mapped_column(Integer, default=120, server_default="120")
    # Sign-out also ends the IdP session (a LogoutRequest), when the IdP has a SingleLogoutService.
    single_logout: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Attribute names to read the email / display name from; None means the built-in list.
    email_attribute: Mapped[str | None] = mapped_column(String(255))
    name_attribute: Mapped[str | None] = mapped_column(String(255))
    # Group policy (sp/group_policy.py): the attribute(s) carrying roles, when the mapping rules
    # run (never | first-login | every-login) and what happens when none matches (default | deny).
    role_attributes: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    group_sync: Mapped[str] = mapped_column(String(16), default="never", server_default="never")
    on_no_match: Mapped[str] = mapped_column(String(16), default="default", server_default="default")
    default_group_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_group.id", use_alter=True, name="fk_tenant_default_group_id_user_group")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    default_group: Mapped[UserGroup | None] = relationship(foreign_keys=[default_group_id], post_update=True)
    domains: Mapped[list[TenantDomain]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", order_by="TenantDomain.domain"
    )
    identity_provider: Mapped[IdentityProvider | None] = relationship(back_populates="tenant", uselist=False)


class TenantDomain(Model):
    """An email domain that routes a typed address to its tenant on the login screen."""

    __tablename__ = "tenant_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(253), unique=True)

    tenant: Mapped[Tenant] = relationship(back_populates="domains")


class UserGroup(Model):
    """A tenant's group of users, with the permissions its members get."""

    __tablename__ = "user_group"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    permissions: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MappingRule(Model):
    """When an attribute value matches `value`, the user's group is `group`; lowest priority first."""

    __tablename__ = "mapping_rule"
    __table_args__ = (
        CheckConstraint("match IN ('equals', 'iequals', 'contains', 'regex')", name="match_kind"),
        Index("ix_mapping_rule_tenant_id_priority", "tenant_id", "priority", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    priority: Mapped[int] = mapped_column(Integer)
    # None: the tenant's role attribute(s); otherwise the attribute Name or FriendlyName to read.
    attribute: Mapped[str | None] = mapped_column(String(255))
    match: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(String(512))
    group_id: Mapped[int] = mapped_column(ForeignKey("user_group.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    group: Mapped[UserGroup] = relationship()


class IdentityProvider(Model):
    """The tenant's IdP as parsed from its metadata; `revision` changes with every import."""

    __tablename__ = "identity_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), unique=True)
    entity_id: Mapped[str] = mapped_column(String(1024), index=True)
    sso_redirect_url: Mapped[str | None] = mapped_column(String(2048))
    sso_post_url: Mapped[str | None] = mapped_column(String(2048))
    slo_redirect_url: Mapped[str | None] = mapped_column(String(2048))
    slo_post_url: Mapped[str | None] = mapped_column(String(2048))
    want_authn_requests_signed: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"pem": ..., "sha256": "AB:CD:...", "not_after": ISO-8601, "subject": ...}, ...]
    certificates: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    name_id_formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    metadata_xml: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="identity_provider")


class User(Model):
    """A tenant's user, keyed by the NameID its IdP asserts; never has a password."""

    __tablename__ = "user"
    __table_args__ = (UniqueConstraint("tenant_id", "name_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name_id: Mapped[str] = mapped_column(String(512))
    name_id_format: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(255))
    group_id: Mapped[int] = mapped_column(ForeignKey("user_group.id"), index=True)
    # Why the user holds their group: default | rule | admin | provisioning, and a detail.
    group_source: Mapped[str] = mapped_column(String(20), default="default")
    group_detail: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(16), default="jit")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship()
    group: Mapped[UserGroup] = relationship()


class SamlRequest(Model):
    """An AuthnRequest or LogoutRequest we sent and may still receive an answer to (server-side state)."""

    __tablename__ = "saml_request"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    # authn | logout: a LogoutResponse can never consume an AuthnRequest, nor a Response a LogoutRequest.
    kind: Mapped[str] = mapped_column(String(8), default="authn", server_default="authn")
    next_path: Mapped[str] = mapped_column(String(2048), default="/")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ReplayEntry(Model):
    """An assertion we accepted; its key may be inserted only once while it is valid."""

    __tablename__ = "saml_replay"

    # sha256(issuer NUL assertion ID): bounded length whatever the IdP sends.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UserSession(Model):
    """A signed-in browser session; revoking the row signs the browser out everywhere."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the token in the cookie: a database leak does not hand out sessions.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    session_index: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()


Index("ix_user_session_tenant_id", UserSession.tenant_id)


class AuditEvent(Model):
    """An append-only record of something that changed who can do what, and who or what did it."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None for events that concern no single tenant (an operator signing in, say).
    tenant_id: Mapped[int | None] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Who: "user:<id>", "ops:<name>", "token:<ops API token name>", "cli", "idp" (a login), "system".
    actor: Mapped[str] = mapped_column(String(255))
    # What, as a stable dotted name: user.login, user.created, user.group_changed, tenant.settings_changed...
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IdpMetadataVersion(Model):
    """One imported version of a tenant's IdP metadata; the active one is what IdentityProvider holds."""

    __tablename__ = "idp_metadata_version"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    # 1, 2, 3... per tenant; the IdP's revision is the number of its active version.
    number: Mapped[int] = mapped_column(Integer)
    # active (in use) | previous (a rollback target) | rolled_back (undone by a rollback)
    state: Mapped[str] = mapped_column(String(16))
    entity_id: Mapped[str] = mapped_column(String(1024))
    xml: Mapped[str] = mapped_column(Text)
    # IdpMetadata.summary(): the facts applied, so a rollback never re-parses old XML.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)
    # cli | api | console | url
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class IdpMetadataSource(Model):
    """Where a tenant's IdP metadata is fetched from, and how the last fetches went."""

    __tablename__ = "idp_metadata_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    # The IdP to pick when the URL serves an aggregate.
    entity_id: Mapped[str | None] = mapped_column(String(1024))
    # PEM certificate(s) the metadata signature must verify with; None: signature not checked.
    pinned_certs: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_fetch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # updated | unchanged | failed
    last_result: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # validUntil of the last good document: past it, the config is stale.
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_refresh_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginTrace(Model):
    """One ACS or SLS attempt, successful or refused: what support needs to see why, and no secrets.

    Never a session cookie, a key or the raw message: only the facts a reason refers to.
    """

    __tablename__ = "login_trace"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The short reference the user's error page shows.
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    time: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # login (an ACS attempt) | logout (a message at the single logout service)
    kind: Mapped[str] = mapped_column(String(8), default="login", server_default="login")
    flow: Mapped[str] = mapped_column(String(8))  # sp | idp | unknown
    result: Mapped[str] = mapped_column(String(8))  # success | refused | error
    code: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    idp_entity_id: Mapped[str | None] = mapped_column(String(1024))
    name_id: Mapped[str | None] = mapped_column(String(512))
    # {name: [values]}, capped in number and length (see sp/traces.py).
    attributes: Mapped[dict[str, list[str]]] = mapped_column(JSON, default=dict)
    # The IdP's IssueInstant minus our clock at arrival: positive means the IdP is ahead.
    clock_difference_seconds: Mapped[float | None] = mapped_column(Float)
    verifying_certificate: Mapped[str | None] = mapped_column(String(95))
    group_decision: Mapped[str | None] = mapped_column(String(512))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)

    tenant: Mapped[Tenant] = relationship()


class OpsApiToken(Model):
    """A bearer token for the ops API; only its SHA-256 is stored, the token is shown once."""

    __tablename__ = "ops_api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index("ix_login_trace_tenant_id_time", LoginTrace.tenant_id, LoginTrace.time)


class OpsUser(Model):
    """One of our operators: a local account with a password (tenant users never have one)."""

    __tablename__ = "ops_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Base32 TOTP secret when the second factor is on; the last time step used, against replay.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
