"""Admin console pages: adapt requests to the users, tenants, traces and audit services.

Every lookup goes through the signed-in admin's tenant id, never an id from the request alone.
A refused change re-renders its page with the reason and a 4xx status; nothing is half-written.
"""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from sp import clock, errors
from sp.extensions import db
from sp.models import User, UserGroup
from sp.records import audit, traces
from sp.signin import trust
from sp.tenancy import group_policy, groups, tenants, users
from sp.web import console
from sp.web.admin.blueprint import bp


def _tenant_id() -> int:
    return current_user.user.tenant_id


def _actor() -> str:
    return f"user:{current_user.user.id}"


def _by() -> str:
    user = current_user.user
    return user.email or user.name_id


def _user_or_404(user_id: int) -> User:
    user = users.get(_tenant_id(), user_id)
    if user is None:
        abort(404)
    return user


def _groups() -> list[UserGroup]:
    return groups.of_tenant(_tenant_id())


def _group_or_404(group_id: int | None) -> UserGroup:
    group = groups.get(_tenant_id(), group_id)
    if group is None:
        abort(404)
    return group


def _refused(error: errors.SPError) -> str:
    """Undo whatever the refused change touched; return the reason for the page."""
    db.session.rollback()
    return error.reason


# --- Overview ---------------------------------------------------------------------------


@bp.get("/")
def overview():
    """The tenant at a glance: its IdP and certificates, users, last logins and recent failures."""
    tenant_id = _tenant_id()
    counts = users.counts(tenant_id)
    return render_template(
        "admin/overview.html",
        tenant=g.admin_tenant,
        idp=g.admin_tenant.identity_provider,
        active_users=counts.get(True, 0),
        inactive_users=counts.get(False, 0),
        last=traces.last_times([tenant_id]).get(tenant_id, {}),
        failures=traces.search(tenant_id=tenant_id, result="refused", limit=5),
        metadata_url=trust.entity_id(g.admin_tenant.slug),
    )


# --- Users ------------------------------------------------------------------------------


@bp.get("/users", endpoint="users")
def users_list():
    """Search the tenant's users by name, email or NameID, group and status."""
    groups = _groups()
    group_id = request.args.get("group", type=int)
    status = request.args.get("status", "")
    text = request.args.get("q", "")
    page = console.page_from(request.args)
    rows = users.search(
        _tenant_id(),
        text=text,
        group_id=group_id if any(g_.id == group_id for g_ in groups) else None,
        active={"active": True, "inactive": False}.get(status),
        limit=page.fetch,
        offset=page.offset,
    )
    shown, more = page.cut(rows)
    return render_template(
        "admin/users.html",
        users=shown,
        more=more,
        page=page,
        groups=groups,
        q=text,
        group_id=group_id,
        status=status,
        group_reason=users.group_reason,
    )


def _user_page(user: User, error: str | None = None, status: int = 200):
    events = audit.search(audit.Filters(tenant_id=_tenant_id(), target_is=user.name_id[:512]), limit=10)
    return render_template(
        "admin/user.html",
        user=user,
        groups=_groups(),
        error=error,
        group_reason=users.group_reason,
        notice=group_policy.admin_notice(g.admin_tenant),
        recent=traces.search(tenant_id=_tenant_id(), user_id=user.id, limit=10),
        events=events,
        labels=audit.labels(events),
        is_self=user.id == current_user.user.id,
    ), status


@bp.get("/users/<int:user_id>")
def user_detail(user_id: int):
    """One user: group and why, source, last login, recent login traces and audit events."""
    return _user_page(_user_or_404(user_id))


@bp.post("/users/<int:user_id>/group")
def user_group(user_id: int):
    """Move the user to another group of this tenant."""
    user = _user_or_404(user_id)
    group = _group_or_404(request.form.get("group_id", type=int))
    try:
        changed = users.change_group(user, group, actor=_actor(), by=_by(), now=clock.utcnow())
    except errors.SPError as error:
        return _user_page(user, _refused(error), error.status)
    flash(f"{user.email or user.name_id} is now in {group.name}." if changed else "No change: already in that group.")
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/deactivate")
def user_deactivate(user_id: int):
    """Deactivate the user; their sessions end at once."""
    user = _user_or_404(user_id)
    try:
        ended = users.deactivate(user, actor=_actor(), now=clock.utcnow())
    except errors.SPError as error:
        return _user_page(user, _refused(error), error.status)
    flash(f"{user.email or user.name_id} is deactivated; {ended} session(s) ended.")
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/reactivate")
def user_reactivate(user_id: int):
    """Let a deactivated user sign in again."""
    user = _user_or_404(user_id)
    users.reactivate(user, actor=_actor(), now=clock.utcnow())
    flash(f"{user.email or user.name_id} can sign in again.")
    return redirect(url_for("admin.user_detail", user_id=user.id), code=303)


# --- Groups -----------------------------------------------------------------------------


def _groups_page(error: str | None = None, status: int = 200, form: dict | None = None):
    members = groups.member_counts(_tenant_id())
    rule_counts = {row["name"]: row["rules"] for row in groups.listing(g.admin_tenant)}
    return render_template(
        "admin/groups.html",
        groups=_groups(),
        members=members,
        tenant=g.admin_tenant,
        error=error,
        form=form or {},
        rule_counts=rule_counts,
    ), status


@bp.get("/groups", endpoint="groups")
def groups_page():
    """The tenant's groups, their permissions and members, and the default group."""
    return _groups_page()


@bp.post("/groups")
def group_create():
    """Create a group."""
    name, permissions = request.form.get("name", ""), request.form.get("permissions", "")
    try:
        group = groups.add(g.admin_tenant, name, _split(permissions), actor=_actor())
    except errors.SPError as error:
        return _groups_page(_refused(error), error.status, {"name": name, "permissions": permissions})
    flash(f"Group {group.name} created.")
    return redirect(url_for("admin.groups"), code=303)


@bp.post("/groups/<int:group_id>")
def group_update(group_id: int):
    """Replace a group's permissions."""
    group = _group_or_404(group_id)
    permissions = _split(request.form.get("permissions", ""))
    try:
        if group.id == current_user.user.group_id and "admin" not in permissions:
            raise errors.UserChangeRefused(
                "this is your own group: removing 'admin' would lock you out of this console"
            )
        changed = groups.set_permissions(group, permissions, actor=_actor())
    except errors.SPError as error:
        return _groups_page(_refused(error), error.status)
    flash(f"Permissions of {group.name} saved." if changed else f"No change to {group.name}.")
    return redirect(url_for("admin.groups"), code=303)


@bp.post("/groups/default")
def group_default():
    """Make a group the one new users join."""
    group = _group_or_404(request.form.get("group_id", type=int))
    tenants.update_settings(g.admin_tenant, default_group=group.name, actor=_actor())
    flash(f"New users now join {group.name}.")
    return redirect(url_for("admin.groups"), code=303)


@bp.post("/groups/delete")
def group_delete():
    """Delete a group; its members move to the default group only when the admin says so."""
    group = _group_or_404(request.form.get("group_id", type=int))
    move = request.form.get("move_users") == "on"
    try:
        if group.id == current_user.user.group_id:
            raise errors.UserChangeRefused("this is your own group: deleting it would lock you out of this console")
        moved = groups.delete(g.admin_tenant, group.name, move_users_to_default=move, actor=_actor())
    except errors.SPError as error:
        return _groups_page(_refused(error), error.status)
    default = g.admin_tenant.default_group.name
    flash(f"Group {group.name} deleted" + (f"; {moved} user(s) moved to {default}." if moved else "."))
    return redirect(url_for("admin.groups"), code=303)


def _split(text: str) -> list[str]:
    return [part for part in text.replace(",", " ").split() if part]


# --- SSO settings -----------------------------------------------------------------------


def _policy_form(tenant, sent: dict | None = None) -> dict:
    """The group policy fields as the form shows them: what was sent, else what is stored."""
    stored = {
        "role_attributes": "\n".join(tenant.role_attributes or []),
        "group_sync": tenant.group_sync,
        "on_no_match": tenant.on_no_match,
    }
    return {key: value if (value := (sent or {}).get(key)) is not None else stored[key] for key in stored}


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _settings_page(error: str | None = None, status: int = 200, form: dict | None = None):
    tenant = g.admin_tenant
    values = form or {
        "idp_initiated": tenant.idp_initiated,
        "clock_skew": str(tenant.clock_skew_seconds),
        "domains": "\n".join(d.domain for d in tenant.domains),
        "email_attribute": tenant.email_attribute or "",
        **_policy_form(tenant),
    }
    return render_template(
        "admin/settings.html",
        tenant=tenant,
        idp=tenant.identity_provider,
        form=values,
        error=error,
        sync_policies=group_policy.SYNC_POLICIES,
        max_skew=tenants.MAX_CLOCK_SKEW,
        metadata_url=trust.entity_id(tenant.slug),
        acs_url=trust.acs_url(tenant.slug),
    ), status


@bp.get("/settings")
def settings():
    """The tenant's SSO settings and its IdP's certificates with their expiry."""
    return _settings_page()


@bp.post("/settings")
def settings_save():
    """Save IdP-initiated sign-in, clock skew, email domains, the email attribute and the group policy.

    A group policy field left out of the form leaves that setting as it is.
    """
    sent = {key: request.form.get(key) for key in ("role_attributes", "group_sync", "on_no_match")}
    form = {
        "idp_initiated": request.form.get("idp_initiated") == "on",
        "clock_skew": request.form.get("clock_skew", "").strip(),
        "domains": request.form.get("domains", ""),
        "email_attribute": request.form.get("email_attribute", ""),
        **_policy_form(g.admin_tenant, sent),
    }
    try:
        if not form["clock_skew"].isdigit():
            raise errors.InvalidSetting(f"the clock skew is a whole number of seconds, 0 to {tenants.MAX_CLOCK_SKEW}")
        tenants.update_settings(
            g.admin_tenant,
            idp_initiated=form["idp_initiated"],
            clock_skew=int(form["clock_skew"][:6]),
            domains=_split(form["domains"]),
            email_attribute=form["email_attribute"],
            role_attributes=None if sent["role_attributes"] is None else _lines(sent["role_attributes"]),
            group_sync=sent["group_sync"],
            on_no_match=sent["on_no_match"],
            actor=_actor(),
        )
    except errors.SPError as error:
        return _settings_page(_refused(error), error.status, form)
    flash("SSO settings saved.")
    return redirect(url_for("admin.settings"), code=303)


# --- Login traces -----------------------------------------------------------------------


@bp.get("/traces", endpoint="traces")
def traces_list():
    """The tenant's login traces, newest first; a reference jumps straight to its trace."""
    shown = console.trace_filters(request.args)
    if shown["ref"]:
        trace = traces.find(shown["ref"], tenant_id=_tenant_id())
        if trace is not None:
            return redirect(url_for("admin.trace", ref=trace.ref), code=303)
    page = console.page_from(request.args)
    rows, more = console.search_traces(shown, _tenant_id(), page)
    status = 404 if shown["ref"] else 200
    return render_template(
        "admin/traces.html", traces=rows, more=more, page=page, filters=shown, not_found=bool(shown["ref"])
    ), status


@bp.get("/traces/<ref>")
def trace(ref: str):
    """One login attempt: what the IdP sent, what we checked, and what to fix."""
    found = traces.find(ref, tenant_id=_tenant_id())
    if found is None:
        abort(404)
    return render_template("admin/trace.html", trace=found)


# --- Audit log --------------------------------------------------------------------------


@bp.get("/audit", endpoint="audit")
def audit_log():
    """The tenant's audit events, filtered, newest first."""
    filters, shown = console.audit_filters(request.args, _tenant_id())
    page = console.page_from(request.args)
    rows, more = page.cut(audit.search(filters, limit=page.fetch, offset=page.offset))
    return render_template(
        "admin/audit.html",
        events=rows,
        more=more,
        page=page,
        filters=shown,
        actions=audit.actions(_tenant_id()),
        labels=audit.labels(rows),
    )


@bp.get("/audit/export.jsonl")
def audit_export():
    """The filtered audit log as JSON lines."""
    filters, _ = console.audit_filters(request.args, _tenant_id())
    return console.jsonl_download(audit.export(filters), f"{g.admin_tenant.slug}-audit.jsonl")
