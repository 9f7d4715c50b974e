"""Ops console pages: adapt requests to the tenants, traces, audit and operator-account services."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for

from sp import clock, errors
from sp.extensions import db
from sp.idp import versions
from sp.models import Tenant
from sp.operators import accounts
from sp.records import audit, traces
from sp.signin import trust
from sp.signin.redirects import safe_next
from sp.tenancy import tenants, users
from sp.web import console
from sp.web.ops import session
from sp.web.ops.blueprint import bp


def _actor() -> str:
    return f"ops:{g.operator.name}"


# --- Signing in and out -------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """Operators sign in with name, password and (if set up) a one-time code."""
    next_path = safe_next(request.values.get("next"), default=url_for("ops.tenants"))
    if request.method == "GET":
        if g.operator is not None:
            return redirect(next_path)
        return render_template("ops/sign_in.html", next=next_path, name="")
    name = (request.form.get("name") or "").strip().lower()
    config = current_app.config
    try:
        operator = accounts.authenticate(
            name,
            request.form.get("password") or "",
            request.form.get("code") or "",
            now=clock.utcnow(),
            client=request.remote_addr,
            max_failures=config["OPS_MAX_FAILED_SIGN_INS"],
            lockout=timedelta(seconds=config["OPS_LOCKOUT_SECONDS"]),
        )
    except errors.SignInRefused as error:
        return render_template("ops/sign_in.html", next=next_path, name=name, error=error.message), error.status
    session.start(operator, clock.utcnow())
    return redirect(next_path, code=303)


@bp.post("/sign-out")
def sign_out():
    session.end()
    flash("You are signed out of the ops console.")
    return redirect(url_for("ops.sign_in"), code=303)


# --- Tenants ----------------------------------------------------------------------------


@bp.get("/", endpoint="tenants")
def tenants_list():
    """Every tenant with its IdP, certificate expiry and last successful and failed login."""
    rows = tenants.all_tenants()
    user_counts = users.counts()
    return render_template("ops/tenants.html", tenants=rows, last=traces.last_times(), user_counts=user_counts)


def _new_tenant_page(form: dict, error: str | None = None, status: int = 200):
    return render_template("ops/tenant_new.html", form=form, error=error), status


@bp.get("/new-tenant")
def tenant_new():
    return _new_tenant_page({"slug": "", "name": "", "domains": "", "default_group": ""})


@bp.post("/new-tenant")
def tenant_create():
    """Create a tenant with its default group."""
    form = {key: request.form.get(key, "") for key in ("slug", "name", "domains", "default_group")}
    try:
        tenant = tenants.create_tenant(
            form["slug"].strip().lower(),
            form["name"],
            form["domains"].replace(",", " ").split(),
            form["default_group"].strip() or None,
            actor=_actor(),
        )
    except errors.SPError as error:
        db.session.rollback()
        return _new_tenant_page(form, error.reason, error.status)
    flash(f"Tenant {tenant.slug} created. Next: import its IdP metadata and send the customer our metadata.")
    return redirect(url_for("ops.tenant", slug=tenant.slug), code=303)


@bp.get("/tenants/<slug>")
def tenant(slug: str):
    """One tenant: settings, IdP and certificates, our metadata, recent traces and audit events."""
    return tenant_page(tenants.find(slug))


def tenant_page(found: Tenant, status: int = 200, **extra):
    """The tenant page; `extra` carries a refused metadata upload back to its form."""
    events = audit.search(audit.Filters(tenant_id=found.id), limit=10)
    return render_template(
        "ops/tenant.html",
        tenant=found,
        idp=found.identity_provider,
        last=traces.last_times([found.id]).get(found.id, {}),
        recent=traces.search(tenant_id=found.id, limit=10),
        events=events,
        labels=audit.labels(events),
        metadata_url=trust.entity_id(found.slug),
        acs_url=trust.acs_url(found.slug),
        user_count=sum(users.counts(found.id).values()),
        idp_status=versions.tenant_status(found, clock.utcnow()),
        versions=versions.versions(found)[:10],
        rollback_to=versions.rollback_target(found),
        max_upload=metadata_max_bytes(),
        **{"upload_form": {"entity_id": "", "xml": ""}, "refusal": None, **extra},
    ), status


def metadata_max_bytes() -> int:
    """The most metadata the console takes in one upload or paste."""
    return min(current_app.config["OPS_METADATA_MAX_BYTES"], versions.max_bytes())


# --- Traces and audit -------------------------------------------------------------------


def _tenant_filter() -> Tenant | None:
    slug = (request.args.get("tenant") or "").strip()
    return tenants.find(slug) if slug else None


@bp.get("/traces", endpoint="traces")
def traces_list():
    """Every tenant's login traces, newest first; a reference jumps straight to its trace."""
    shown = console.trace_filters(request.args)
    shown["tenant"] = (request.args.get("tenant") or "").strip()
    if shown["ref"]:
        found = traces.find(shown["ref"])
        if found is not None:
            return redirect(url_for("ops.trace", ref=found.ref), code=303)
    only = _tenant_filter()
    page = console.page_from(request.args)
    rows, more = console.search_traces(shown, only.id if only else None, page)
    return render_template(
        "ops/traces.html",
        traces=rows,
        more=more,
        page=page,
        filters=shown,
        tenants=tenants.all_tenants(),
        not_found=bool(shown["ref"]),
    ), 404 if shown["ref"] else 200


@bp.get("/traces/<ref>")
def trace(ref: str):
    found = traces.find(ref)
    if found is None:
        abort(404)
    return render_template("ops/trace.html", trace=found)


@bp.get("/audit", endpoint="audit")
def audit_log():
    """Every audit event, including operators' own, filtered."""
    only = _tenant_filter()
    filters, shown = console.audit_filters(request.args, only.id if only else None)
    shown["tenant"] = only.slug if only else ""
    page = console.page_from(request.args)
    rows, more = page.cut(audit.search(filters, limit=page.fetch, offset=page.offset))
    return render_template(
        "ops/audit.html",
        events=rows,
        more=more,
        page=page,
        filters=shown,
        actions=audit.actions(),
        tenants=tenants.all_tenants(),
        labels=audit.labels(rows),
    )


@bp.get("/audit/export.jsonl")
def audit_export():
    only = _tenant_filter()
    filters, _ = console.audit_filters(request.args, only.id if only else None)
    return console.jsonl_download(audit.export(filters), f"{only.slug if only else 'all'}-audit.jsonl")
