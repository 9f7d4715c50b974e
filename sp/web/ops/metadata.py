"""Ops console: upload or paste a tenant's IdP metadata, review the diff, apply it, roll it back.

Everything goes through sp.idp_config, the service behind the CLI and the ops API, so the console
accepts and refuses exactly what they do; these views adapt the forms and render its answers.
The reviewed bytes travel back with the Apply button (base64, in the form) together with the
revision the diff was made against: if the configuration moved meanwhile, the fresh diff is shown.
"""

from __future__ import annotations

import base64
import binascii

from flask import flash, g, redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge

from sp import clock, errors
from sp.errors import MetadataInputMissing, MetadataTooLarge
from sp.extensions import csrf, db
from sp.idp import versions
from sp.models import Tenant
from sp.tenancy import tenants
from sp.web.ops.blueprint import bp
from sp.web.ops.views import metadata_max_bytes, tenant_page

# Room for the multipart framing and the other fields next to the metadata itself.
FORM_SLACK = 64 * 1024


def _actor() -> str:
    return f"ops:{g.operator.name}"


def _too_large(what: str) -> MetadataTooLarge:
    return MetadataTooLarge(
        f"{what} is larger than the console takes ({metadata_max_bytes():,} bytes; one IdP's metadata is "
        "usually well under 100 KB). Import a federation aggregate with "
        "`flask --app wsgi idp import SLUG FILE --entity-id ENTITY_ID` or from its URL."
    )


def _accept_form(limit: int) -> None:
    """Read this form with a limit of its own, then check its CSRF token.

    These views are exempt from the app-wide CSRF check only because that check would read the
    body first, under the default limits; the token is checked here, before anything else.
    """
    if request.content_length is not None and request.content_length > limit:
        raise _too_large("that upload")
    request.max_content_length = limit
    request.max_form_memory_size = limit
    try:
        csrf.protect()
    except RequestEntityTooLarge:
        raise _too_large("that upload") from None


def _metadata_from_form(form: dict) -> bytes:
    """The uploaded file or the pasted XML, whichever was given (not both)."""
    upload = request.files.get("file")
    has_file = upload is not None and bool(upload.filename)
    pasted = form["xml"].strip()
    if has_file and pasted:
        raise MetadataInputMissing("choose a file or paste the XML, not both")
    if not has_file and not pasted:
        raise MetadataInputMissing("choose a metadata file or paste the metadata XML")
    data = upload.stream.read(metadata_max_bytes() + 1) if has_file and upload is not None else pasted.encode("utf-8")
    if len(data) > metadata_max_bytes():
        raise _too_large("that metadata")
    return data


def _refused(tenant: Tenant, error: errors.SPError, form: dict | None = None):
    """The tenant page again, with the refusal's code and reason next to the upload form."""
    db.session.rollback()
    return tenant_page(tenant, error.status, refusal=error, upload_form=form or {"entity_id": "", "xml": ""})


def _review_page(
    tenant: Tenant,
    outcome: versions.Outcome,
    data: bytes,
    entity_id: str,
    *,
    conflict: str | None = None,
    status: int = 200,
):
    proposal = outcome.proposal
    return render_template(
        "ops/idp_review.html",
        tenant=tenant,
        outcome=outcome,
        diff=proposal.diff,
        metadata=proposal.metadata,
        warnings=proposal.warnings,
        notes=outcome.notes,
        lines=versions.describe(proposal.diff),
        payload=base64.b64encode(data).decode("ascii"),
        entity_id=entity_id,
        revision=proposal.base_revision,
        conflict=conflict,
    ), status


def _dry_run(tenant: Tenant, data: bytes, entity_id: str) -> versions.Outcome:
    return versions.import_metadata(
        tenant, data, entity_id=entity_id or None, origin="console", actor=_actor(), now=clock.utcnow(), dry_run=True
    )


@bp.post("/tenants/<slug>/idp/review")
@csrf.exempt
def idp_review(slug: str):
    """Check uploaded or pasted metadata and show what applying it would change; nothing is written."""
    tenant = tenants.find(slug)
    form = {"entity_id": "", "xml": ""}
    try:
        _accept_form(metadata_max_bytes() + FORM_SLACK)
        form = {"entity_id": request.form.get("entity_id", "").strip(), "xml": request.form.get("xml", "")}
        data = _metadata_from_form(form)
        outcome = _dry_run(tenant, data, form["entity_id"])
    except errors.SPError as error:
        return _refused(tenant, error, form)
    return _review_page(tenant, outcome, data, form["entity_id"])


@bp.post("/tenants/<slug>/idp/apply")
@csrf.exempt
def idp_apply(slug: str):
    """Apply reviewed metadata if the configuration is still the one the diff was made against."""
    tenant = tenants.find(slug)
    try:
        _accept_form(metadata_max_bytes() * 4 // 3 + FORM_SLACK)
        entity_id = request.form.get("entity_id", "").strip()
        expected = request.form.get("expected_revision", type=int)
        try:
            data = base64.b64decode(request.form.get("metadata", ""), validate=True)
        except binascii.Error:
            data = b""
        if not data or expected is None:
            raise MetadataInputMissing("the reviewed metadata did not come back with the form: upload it again")
        if len(data) > metadata_max_bytes():
            raise _too_large("that metadata")
        outcome = versions.import_metadata(
            tenant,
            data,
            entity_id=entity_id or None,
            origin="console",
            actor=_actor(),
            now=clock.utcnow(),
            expected_revision=expected,
        )
    except errors.VersionConflict as conflict:
        try:
            fresh = _dry_run(tenant, data, entity_id)
        except errors.SPError as error:
            return _refused(tenant, error)
        return _review_page(tenant, fresh, data, entity_id, conflict=conflict.message, status=conflict.status)
    except errors.SPError as error:
        return _refused(tenant, error)
    if outcome.version is None:
        flash("No change: that metadata is what is in use already.")
    else:
        flash(
            f"Applied: version {outcome.version.number} of the IdP metadata ({outcome.version.entity_id}) "
            f"is in use for {tenant.slug}."
        )
    return redirect(url_for("ops.tenant", slug=tenant.slug), code=303)


@bp.post("/tenants/<slug>/idp/rollback")
def idp_rollback(slug: str):
    """Make the version before the active one the configuration in use again."""
    tenant = tenants.find(slug)
    try:
        version, change = versions.rollback(tenant, actor=_actor(), now=clock.utcnow())
    except errors.SPError as error:
        return _refused(tenant, error)
    flash(f"Rolled back to version {version.number}: " + "; ".join(versions.describe(change)))
    return redirect(url_for("ops.tenant", slug=tenant.slug), code=303)
