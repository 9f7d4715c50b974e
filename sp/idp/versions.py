"""A tenant's IdP configuration: import, diff, apply, roll back, keep versions, report status.

The one service behind `flask idp ...`, the ops API and the ops console, which only adapt their
input to it. An import is parsed and checked (`sp.saml.idp_metadata`), compared with the
configuration in use (the diff ops review), and applied in one transaction that writes the new
version, the IdentityProvider row logins read and an audit event. Nothing is written when the
metadata is refused. Earlier versions are kept; a rollback reactivates the one before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from sp import errors
from sp.extensions import db
from sp.models import IdentityProvider, IdpMetadataSource, IdpMetadataVersion, Tenant
from sp.records import audit
from sp.saml import metadata as idp_metadata
from sp.saml.config import BINDING_POST, BINDING_REDIRECT
from sp.saml.metadata import Certificate, IdpMetadata

SOURCES = ("cli", "api", "console", "url")
ACTIVE, PREVIOUS, ROLLED_BACK = "active", "previous", "rolled_back"
# What decides who can sign in: a change in any of these is a new version.
TRUST_FACTS = ("entity_id", "sso", "slo", "certificates", "name_id_formats", "want_authn_requests_signed")
VALIDITY_WARNING = timedelta(days=7)


@dataclass
class Proposal:
    """Checked metadata for a tenant and what applying it would change; nothing is written yet."""

    tenant: Tenant
    metadata: IdpMetadata
    diff: dict[str, Any]
    warnings: list[str]
    # The IdentityProvider revision the diff was made against (0: no IdP yet).
    base_revision: int

    @property
    def changed(self) -> bool:
        return self.diff["changed"]


@dataclass
class Outcome:
    """What an import did: `applied`, `unchanged` (nothing to change) or `dry_run`."""

    result: str
    proposal: Proposal
    version: IdpMetadataVersion | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The outcome as JSON for the API and `--json`."""
        metadata = self.proposal.metadata
        idp = self.proposal.tenant.identity_provider
        return {
            "result": self.result,
            "tenant": self.proposal.tenant.slug,
            "entity_id": metadata.entity_id,
            "version": self.version.number if self.version else None,
            "revision": idp.revision if idp else 0,
            "sso": metadata.sso,
            "certificates": [_cert_view(c.as_dict()) for c in metadata.certificates],
            "diff": self.proposal.diff,
            "warnings": self.proposal.warnings,
            "notes": self.notes,
        }


# --- Reading and comparing ----------------------------------------------------------------


def max_bytes() -> int:
    return int(current_app.config.get("IDP_METADATA_MAX_BYTES") or idp_metadata.MAX_AGGREGATE_BYTES)


def propose(tenant: Tenant, source: bytes | IO[bytes], *, entity_id: str | None = None, now: datetime) -> Proposal:
    """Parse and check metadata for tenant and diff it against the configuration in use."""
    return proposal_for(tenant, idp_metadata.read(source, entity_id=entity_id, now=now, max_bytes=max_bytes()))


def proposal_for(tenant: Tenant, metadata: IdpMetadata) -> Proposal:
    """Diff already parsed metadata against the tenant's configuration; collect the warnings."""
    warnings = list(metadata.warnings)
    for other in other_tenants_with_entity_id(tenant, metadata.entity_id):
        warnings.append(f"the entity ID {metadata.entity_id!r} is already used by tenant {other!r}")
    active = active_version(tenant)
    idp = tenant.identity_provider
    return Proposal(
        tenant=tenant,
        metadata=metadata,
        warnings=warnings,
        diff=diff(active.summary if active else None, metadata.summary()),
        base_revision=idp.revision if idp else 0,
    )


def _endpoints(summary: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (service, binding): url
        for service, key in (("SSO", "sso"), ("SLO", "slo"))
        for binding, url in summary[key].items()
    }


def _cert_view(cert: dict[str, str]) -> dict[str, str]:
    return {"sha256": cert["sha256"], "subject": cert["subject"], "not_after": cert["not_after"]}


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """What changes from one summary to the other: entity ID, endpoints, certificates, the rest."""
    empty: dict[str, Any] = {
        "entity_id": None,
        "sso": {},
        "slo": {},
        "certificates": [],
        "name_id_formats": [],
        "want_authn_requests_signed": False,
        "valid_until": None,
    }
    old = before or empty
    old_endpoints, new_endpoints = _endpoints(old), _endpoints(after)

    def endpoint(key: tuple[str, str], url: str) -> dict[str, str]:
        return {"service": key[0], "binding": key[1].rsplit(":", 1)[-1], "url": url}

    old_certs = {c["sha256"]: c for c in old["certificates"]}
    new_certs = {c["sha256"]: c for c in after["certificates"]}
    return {
        "changed": before is None or any(old.get(k) != after.get(k) for k in TRUST_FACTS),
        "first_import": before is None,
        "entity_id": {"from": old["entity_id"], "to": after["entity_id"]}
        if old["entity_id"] != after["entity_id"]
        else None,
        "endpoints": {
            "added": [endpoint(k, u) for k, u in new_endpoints.items() if old_endpoints.get(k) != u],
            "removed": [endpoint(k, u) for k, u in old_endpoints.items() if new_endpoints.get(k) != u],
        },
        "certificates": {
            "added": [_cert_view(c) for s, c in new_certs.items() if s not in old_certs],
            "removed": [_cert_view(c) for s, c in old_certs.items() if s not in new_certs],
            "kept": [_cert_view(c) for s, c in new_certs.items() if s in old_certs],
        },
        "name_id_formats": {
            "added": [f for f in after["name_id_formats"] if f not in old["name_id_formats"]],
            "removed": [f for f in old["name_id_formats"] if f not in after["name_id_formats"]],
        },
        "want_authn_requests_signed": (
            {"from": old["want_authn_requests_signed"], "to": after["want_authn_requests_signed"]}
            if old["want_authn_requests_signed"] != after["want_authn_requests_signed"]
            else None
        ),
        "valid_until": (
            {"from": old.get("valid_until"), "to": after.get("valid_until")}
            if old.get("valid_until") != after.get("valid_until")
            else None
        ),
    }


def describe(change: dict[str, Any]) -> list[str]:
    """The diff as lines for a terminal or a page: '+' added, '-' removed, '=' kept."""
    lines: list[str] = []
    if change["entity_id"]:
        before = change["entity_id"]["from"]
        lines.append(
            f"entity ID: {before} -> {change['entity_id']['to']}"
            if before
            else f"entity ID: {change['entity_id']['to']}"
        )
    for sign, key in (("-", "removed"), ("+", "added")):
        for e in change["endpoints"][key]:
            lines.append(f"{sign} {e['service']} {e['binding']} {e['url']}")
    for sign, key in (("-", "removed"), ("+", "added"), ("=", "kept")):
        for c in change["certificates"][key]:
            lines.append(f"{sign} signing certificate {c['sha256']} ({c['subject']}, expires {c['not_after'][:10]})")
    for sign, key in (("-", "removed"), ("+", "added")):
        for name_id_format in change["name_id_formats"][key]:
            lines.append(f"{sign} NameID format {name_id_format}")
    if change["want_authn_requests_signed"]:
        flag = change["want_authn_requests_signed"]
        lines.append(f"WantAuthnRequestsSigned: {str(flag['from']).lower()} -> {str(flag['to']).lower()}")
    if change["valid_until"] and not change["first_import"]:
        lines.append(f"validUntil: {change['valid_until']['from'] or '-'} -> {change['valid_until']['to'] or '-'}")
    if not change["changed"]:
        lines.append("no change to the configuration in use")
    return lines


# --- Applying -----------------------------------------------------------------------------


def active_version(tenant: Tenant) -> IdpMetadataVersion | None:
    return db.session.scalar(
        select(IdpMetadataVersion).where(IdpMetadataVersion.tenant_id == tenant.id, IdpMetadataVersion.state == ACTIVE)
    )


def versions(tenant: Tenant) -> list[IdpMetadataVersion]:
    """The tenant's metadata versions, newest first."""
    return list(
        db.session.scalars(
            select(IdpMetadataVersion)
            .where(IdpMetadataVersion.tenant_id == tenant.id)
            .order_by(IdpMetadataVersion.number.desc())
        )
    )


def _lock(tenant: Tenant, expected_revision: int | None) -> int:
    """Serialise changes to one tenant's IdP (row lock on PostgreSQL); return the current revision."""
    db.session.execute(select(Tenant.id).where(Tenant.id == tenant.id).with_for_update())
    db.session.refresh(tenant, ["identity_provider"])
    current = tenant.identity_provider.revision if tenant.identity_provider else 0
    if expected_revision is not None and expected_revision != current:
        raise errors.VersionConflict(
            f"the IdP configuration of {tenant.slug!r} is at revision {current}, not {expected_revision}; "
            "someone changed it meanwhile: review the diff again"
        )
    return current


def _configure(tenant: Tenant, summary: dict[str, Any], xml: str, now: datetime) -> IdentityProvider:
    """Make the IdentityProvider row (what logins read) say what summary says; bump its revision."""
    idp = tenant.identity_provider
    if idp is None:
        idp = IdentityProvider(tenant_id=tenant.id, revision=0)
        db.session.add(idp)
        tenant.identity_provider = idp
    idp.entity_id = summary["entity_id"]
    idp.sso_redirect_url = summary["sso"].get(BINDING_REDIRECT)
    idp.sso_post_url = summary["sso"].get(BINDING_POST)
    idp.slo_redirect_url = summary["slo"].get(BINDING_REDIRECT)
    idp.slo_post_url = summary["slo"].get(BINDING_POST)
    idp.want_authn_requests_signed = summary["want_authn_requests_signed"]
    idp.certificates = summary["certificates"]
    idp.name_id_formats = summary["name_id_formats"]
    idp.metadata_xml = xml
    idp.revision = (idp.revision or 0) + 1
    idp.updated_at = now
    return idp


def stage(
    proposal: Proposal, *, source: str, actor: str, now: datetime, expected_revision: int | None = None
) -> IdpMetadataVersion | None:
    """Apply proposal in the current transaction without committing; None when nothing changes.

    Refuses with VersionConflict when the configuration moved since the diff was made.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown metadata source {source!r}")
    tenant = proposal.tenant
    current = _lock(tenant, expected_revision)
    if current != proposal.base_revision:
        raise errors.VersionConflict(f"the IdP configuration of {tenant.slug!r} changed while this import was checked")
    if not proposal.changed:
        return None
    active = active_version(tenant)
    if active is not None:
        active.state = PREVIOUS
    number = (
        db.session.scalar(select(func.max(IdpMetadataVersion.number)).where(IdpMetadataVersion.tenant_id == tenant.id))
        or 0
    ) + 1
    metadata = proposal.metadata
    version = IdpMetadataVersion(
        tenant_id=tenant.id,
        number=number,
        state=ACTIVE,
        entity_id=metadata.entity_id,
        xml=metadata.xml,
        summary=metadata.summary(),
        warnings=proposal.warnings,
        source=source,
        actor=actor[:255],
        created_at=now,
    )
    db.session.add(version)
    idp = _configure(tenant, version.summary, metadata.xml, now)
    audit.record(
        "idp.metadata_imported",
        actor=actor,
        tenant_id=tenant.id,
        target=metadata.entity_id,
        now=now,
        details={
            "version": number,
            "revision": idp.revision,
            "source": source,
            "certificates": [c.sha256 for c in metadata.certificates],
            "sso": metadata.sso,
            "changes": describe(proposal.diff),
            "warnings": proposal.warnings,
        },
    )
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        raise errors.VersionConflict(
            f"another change to {tenant.slug!r}'s IdP was applied at the same time; try again"
        ) from None
    return version


def import_metadata(
    tenant: Tenant,
    source: bytes | IO[bytes],
    *,
    entity_id: str | None = None,
    origin: str,
    actor: str,
    now: datetime,
    dry_run: bool = False,
    expected_revision: int | None = None,
) -> Outcome:
    """Check metadata and, unless dry_run or nothing changes, make it the tenant's IdP configuration."""
    proposal = propose(tenant, source, entity_id=entity_id, now=now)
    outcome = Outcome("dry_run", proposal)
    if origin != "url" and refreshed_from_url(tenant):
        outcome.notes.append(
            "this tenant's metadata is refreshed from a URL: the next refresh replaces this import unless the URL "
            "serves the same; `flask --app wsgi idp unlink-url` stops the refreshing"
        )
    if dry_run:
        if expected_revision is not None and expected_revision != proposal.base_revision:
            raise errors.VersionConflict(
                f"the IdP configuration of {tenant.slug!r} is at revision {proposal.base_revision}, "
                f"not {expected_revision}"
            )
        return outcome
    try:
        outcome.version = stage(proposal, source=origin, actor=actor, now=now, expected_revision=expected_revision)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    outcome.result = "applied" if outcome.version else "unchanged"
    return outcome


def refreshed_from_url(tenant: Tenant) -> bool:
    return db.session.scalar(select(IdpMetadataSource.id).where(IdpMetadataSource.tenant_id == tenant.id)) is not None


def rollback_target(tenant: Tenant) -> IdpMetadataVersion | None:
    """The version a rollback would reactivate: the newest one before the active one."""
    return db.session.scalar(
        select(IdpMetadataVersion)
        .where(IdpMetadataVersion.tenant_id == tenant.id, IdpMetadataVersion.state == PREVIOUS)
        .order_by(IdpMetadataVersion.number.desc())
        .limit(1)
    )


def rollback(tenant: Tenant, *, actor: str, now: datetime) -> tuple[IdpMetadataVersion, dict[str, Any]]:
    """Reactivate the version before the active one; return it and the diff that made."""
    try:
        _lock(tenant, None)
        active = active_version(tenant)
        earlier = rollback_target(tenant)
        if active is None or earlier is None:
            raise errors.NoEarlierVersion(f"tenant {tenant.slug!r} has no earlier IdP metadata version to roll back to")
        change = diff(active.summary, earlier.summary)
        active.state, earlier.state = ROLLED_BACK, ACTIVE
        idp = _configure(tenant, earlier.summary, earlier.xml, now)
        audit.record(
            "idp.metadata_rolled_back",
            actor=actor,
            tenant_id=tenant.id,
            target=earlier.entity_id,
            now=now,
            details={
                "from_version": active.number,
                "to_version": earlier.number,
                "revision": idp.revision,
                "changes": describe(change),
            },
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return earlier, change


def other_tenants_with_entity_id(tenant: Tenant, entity_id: str) -> list[str]:
    rows = db.session.scalars(
        select(Tenant.slug)
        .join(IdentityProvider)
        .where(IdentityProvider.entity_id == entity_id, Tenant.id != tenant.id)
    )
    return list(rows)


# --- Status -------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def tenant_status(tenant: Tenant, now: datetime) -> dict[str, Any]:
    """One tenant's IdP health: certificates with expiry, the URL refresh, and what needs attention."""
    idp = tenant.identity_provider
    source = db.session.scalar(select(IdpMetadataSource).where(IdpMetadataSource.tenant_id == tenant.id))
    active = active_version(tenant) if idp else None
    warnings: list[str] = []
    certificates = []
    if idp is None:
        warnings.append("no IdP metadata imported: nobody can sign in")
    else:
        certs = [Certificate.from_dict(c) for c in idp.certificates]
        for cert in certs:
            certificates.append(
                {
                    **_cert_view(cert.as_dict()),
                    "signature_hash": cert.signature_hash,
                    "days_left": (cert.not_after - now).days,
                    "warnings": idp_metadata.certificate_warnings([cert], now),
                }
            )
            warnings.extend(idp_metadata.certificate_warnings([cert], now))
        for other in other_tenants_with_entity_id(tenant, idp.entity_id):
            warnings.append(f"the entity ID is also used by tenant {other!r}")
    valid_until = source.valid_until if source else None
    if valid_until is None and active is not None and active.summary.get("valid_until"):
        valid_until = datetime.fromisoformat(active.summary["valid_until"])
    if valid_until is not None and idp is not None:
        if valid_until <= now:
            warnings.append(f"the metadata in use expired (validUntil {valid_until:%Y-%m-%d %H:%M} UTC)")
        elif valid_until - now < VALIDITY_WARNING:
            warnings.append(f"the metadata in use expires on {valid_until:%Y-%m-%d %H:%M} UTC (validUntil)")
    url = None
    if source is not None:
        url = {
            "url": source.url,
            "entity_id": source.entity_id,
            "signature_pinned": bool(source.pinned_certs),
            "last_fetch_at": _iso(source.last_fetch_at),
            "last_success_at": _iso(source.last_success_at),
            "last_result": source.last_result,
            "last_error": source.last_error,
            "consecutive_failures": source.consecutive_failures,
            "next_refresh_at": _iso(source.next_refresh_at),
        }
        if source.last_result == "failed":
            warnings.append(
                f"the last metadata refresh failed ({source.last_error}); the configuration from "
                f"{_iso(source.last_success_at) or 'the last import'} is still in use"
            )
        if source.next_refresh_at < now - timedelta(hours=1):
            warnings.append("the metadata refresh is overdue: is `flask --app wsgi idp refresh --all` scheduled?")
    return {
        "tenant": tenant.slug,
        "name": tenant.name,
        "configured": idp is not None,
        "entity_id": idp.entity_id if idp else None,
        "revision": idp.revision if idp else 0,
        "version": active.number if active else None,
        "source": active.source if active else None,
        "updated_at": _iso(idp.updated_at) if idp else None,
        "sso": {
            b.rsplit(":", 1)[-1]: u
            for b, u in ((BINDING_REDIRECT, idp.sso_redirect_url), (BINDING_POST, idp.sso_post_url))
            if u
        }
        if idp
        else {},
        "certificates": certificates,
        "metadata_valid_until": _iso(valid_until),
        "url": url,
        "warnings": warnings,
    }


def status(now: datetime, tenants: list[Tenant] | None = None) -> list[dict[str, Any]]:
    """IdP health of the given tenants, or of every tenant."""
    if tenants is None:
        tenants = list(db.session.scalars(select(Tenant).order_by(Tenant.slug)))
    return [tenant_status(t, now) for t in tenants]
