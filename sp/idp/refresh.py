"""Metadata by URL: import a tenant's IdP metadata from a URL and keep it current.

`refresh_due` is meant for a cron job or systemd timer (`flask --app wsgi idp refresh --all`).
Each source is fetched again when its metadata asks (cacheDuration, bounded, and before half of
the remaining validUntil), its signature verified when a certificate is pinned, and the result
applied through `idp_config` like any other import. Any failure keeps the last good
configuration and is recorded (status, audit log, log, the command's exit status), never silent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from flask import current_app
from sqlalchemy import select

from sp import errors
from sp.extensions import db
from sp.idp import fetch, versions
from sp.models import IdpMetadataSource, Tenant
from sp.records import audit
from sp.saml import metadata as idp_metadata
from sp.saml.metadata import IdpMetadata

log = logging.getLogger("sp.idp_refresh")

DEFAULT_INTERVAL = timedelta(hours=6)
MIN_INTERVAL = timedelta(minutes=10)
MAX_INTERVAL = timedelta(hours=24)
MAX_RETRY_DELAY = timedelta(hours=6)


@dataclass
class RefreshResult:
    """How one refresh went: `updated`, `unchanged` or `failed`."""

    tenant: str
    result: str
    message: str
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "result": self.result,
            "message": self.message,
            "changes": self.changes,
            "warnings": self.warnings,
        }


def read_pinned(pem: str) -> str:
    """Check pem holds one or more readable certificates; return it normalised."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode("ascii", "strict"))
    except (ValueError, UnicodeEncodeError):
        raise errors.PinnedCertificateInvalid(
            "the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ) from None
    return "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in certificates)


def _pems(bundle: str) -> list[str]:
    return [c.public_bytes(Encoding.PEM).decode("ascii") for c in x509.load_pem_x509_certificates(bundle.encode())]


def next_refresh(metadata: IdpMetadata, now: datetime) -> datetime:
    """When to fetch again: after cacheDuration (10 min to 24 h; 6 h if absent), and before validUntil."""
    interval = idp_metadata.parse_duration(metadata.cache_duration) or DEFAULT_INTERVAL
    interval = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
    if metadata.valid_until is not None:
        interval = min(interval, max((metadata.valid_until - now) / 2, MIN_INTERVAL))
    return now + interval


def _fetch(url: str, entity_id: str | None, pinned: str | None, now: datetime) -> IdpMetadata:
    """Fetch, verify the signature when pinned, parse and check; raise an SPError on any failure."""
    max_bytes = versions.max_bytes()
    policy = fetch.Policy.from_config(current_app.config, max_bytes)
    body: IO[bytes] = fetch.fetch(url, policy)
    with body:
        if pinned:
            data = body.read()
            root = idp_metadata.parse_xml(data, max_bytes)
            idp_metadata.check_signature_shape(root)
            if not idp_metadata.signature_verifies(root, _pems(pinned)):
                raise errors.MetadataSignatureInvalid(
                    "the metadata signature does not verify with the pinned certificate"
                )
            del root  # free the whole-document tree before the streaming pick
            metadata = idp_metadata.read(data, entity_id=entity_id, now=now, max_bytes=max_bytes)
        else:
            metadata = idp_metadata.read(body, entity_id=entity_id, now=now, max_bytes=max_bytes)
    if metadata.valid_until is not None and metadata.valid_until <= now:
        raise errors.MetadataExpired(
            f"the metadata at {url} expired on {metadata.valid_until:%Y-%m-%d %H:%M} UTC (validUntil); "
            "its publisher must refresh it"
        )
    return metadata


def _succeeded(source: IdpMetadataSource, metadata: IdpMetadata, result: str, now: datetime) -> None:
    source.last_fetch_at = source.last_success_at = now
    source.last_result, source.last_error, source.consecutive_failures = result, None, 0
    source.valid_until = metadata.valid_until
    source.next_refresh_at = next_refresh(metadata, now)


def import_from_url(
    tenant: Tenant,
    url: str,
    *,
    pinned_pem: str | None = None,
    entity_id: str | None = None,
    actor: str,
    now: datetime,
    dry_run: bool = False,
) -> versions.Outcome:
    """Fetch and check metadata from url; unless dry_run, apply it and keep refreshing from url."""
    url = url.strip()
    fetch.check_url(url)
    pinned = read_pinned(pinned_pem) if pinned_pem is not None else None
    metadata = _fetch(url, entity_id, pinned, now)
    outcome = versions.Outcome("dry_run", versions.proposal_for(tenant, metadata))
    if pinned is None:
        outcome.notes.append("no certificate pinned: the metadata signature is not verified (use --verify-cert)")
    if dry_run:
        return outcome
    try:
        outcome.version = versions.stage(outcome.proposal, source="url", actor=actor, now=now)
        source = db.session.scalar(select(IdpMetadataSource).where(IdpMetadataSource.tenant_id == tenant.id))
        if source is None:
            source = IdpMetadataSource(tenant_id=tenant.id, created_at=now)
            db.session.add(source)
        source.url, source.entity_id, source.pinned_certs = url, entity_id, pinned
        _succeeded(source, metadata, "updated" if outcome.version else "unchanged", now)
        audit.record(
            "idp.metadata_url_set",
            actor=actor,
            tenant_id=tenant.id,
            target=url,
            now=now,
            details={
                "entity_id": entity_id,
                "signature_pinned": pinned is not None,
                "next_refresh_at": source.next_refresh_at.isoformat(),
            },
        )
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    outcome.result = "applied" if outcome.version else "unchanged"
    return outcome


def unlink(tenant: Tenant, *, actor: str, now: datetime) -> str:
    """Stop refreshing tenant's metadata from its URL (the configuration in use stays); return the URL."""
    source = db.session.scalar(select(IdpMetadataSource).where(IdpMetadataSource.tenant_id == tenant.id))
    if source is None:
        raise errors.NoMetadataUrl(f"tenant {tenant.slug!r} has no metadata URL")
    url = source.url
    db.session.delete(source)
    audit.record("idp.metadata_url_removed", actor=actor, tenant_id=tenant.id, target=url, now=now)
    db.session.commit()
    return url


def refresh(tenant: Tenant, now: datetime, *, actor: str = "system") -> RefreshResult:
    """Fetch tenant's metadata URL again and apply what changed; on failure keep the configuration."""
    source = db.session.scalar(select(IdpMetadataSource).where(IdpMetadataSource.tenant_id == tenant.id))
    if source is None:
        raise errors.NoMetadataUrl(f"tenant {tenant.slug!r} has no metadata URL; import with --url first")
    slug, source_id, url = tenant.slug, source.id, source.url
    try:
        metadata = _fetch(url, source.entity_id, source.pinned_certs, now)
        proposal = versions.proposal_for(tenant, metadata)
        version = versions.stage(proposal, source="url", actor=actor, now=now)
        result = "updated" if version else "unchanged"
        _succeeded(source, metadata, result, now)
        db.session.commit()
    except errors.SPError as error:
        db.session.rollback()
        return _failed(slug, source_id, error.reason, actor, now)
    message = f"applied version {version.number}" if version else "no change"
    return RefreshResult(slug, result, message, versions.describe(proposal.diff) if version else [], proposal.warnings)


def _failed(slug: str, source_id: int, reason: str, actor: str, now: datetime) -> RefreshResult:
    """Record a failed refresh (retrying sooner, backing off); the configuration in use is untouched."""
    source = db.session.get(IdpMetadataSource, source_id)
    if source is None:
        # The URL was unlinked, or the tenant deleted, while we fetched: there is nothing left to record.
        log.warning("metadata refresh of tenant %s failed: %s (its metadata URL is gone)", slug, reason)
        return RefreshResult(slug, "failed", f"{reason} (the configuration in use is kept)")
    source.last_fetch_at, source.last_result, source.last_error = now, "failed", reason[:2000]
    source.consecutive_failures = (source.consecutive_failures or 0) + 1
    source.next_refresh_at = now + min(MIN_INTERVAL * 2 ** min(source.consecutive_failures - 1, 10), MAX_RETRY_DELAY)
    audit.record(
        "idp.metadata_refresh_failed",
        actor=actor,
        tenant_id=source.tenant_id,
        target=source.url,
        now=now,
        details={"error": reason[:2000], "consecutive_failures": source.consecutive_failures},
    )
    db.session.commit()
    log.warning("metadata refresh of tenant %s from %s failed: %s", slug, source.url, reason)
    return RefreshResult(slug, "failed", f"{reason} (the configuration in use is kept)")


def refresh_due(now: datetime, *, force: bool = False) -> list[RefreshResult]:
    """Refresh every tenant whose metadata is due (or every URL-fed tenant, with force)."""
    query = select(IdpMetadataSource.id, Tenant.slug).join(Tenant).order_by(Tenant.slug)
    if not force:
        query = query.where(IdpMetadataSource.next_refresh_at <= now)
    results = []
    for source_id, slug in db.session.execute(query).all():
        try:
            tenant = db.session.scalars(select(Tenant).where(Tenant.slug == slug)).one()
            results.append(refresh(tenant, now))
        except Exception as error:  # one tenant's surprise must not stop the others' refresh
            db.session.rollback()
            log.exception("metadata refresh of tenant %s crashed", slug)
            results.append(_failed(slug, source_id, f"internal error ({type(error).__name__})", "system", now))
    return results
