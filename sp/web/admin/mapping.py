"""Admin console: the tenant's group mapping rules and their live preview, through sp.group_policy.

The rules, their validation and their evaluation live in group_policy (the CLI's service too);
these views only turn forms into its calls and its answers and refusals into pages.
"""

from __future__ import annotations

import re

from flask import abort, flash, g, redirect, render_template, request, url_for

from sp import clock, errors
from sp.records import traces
from sp.tenancy import group_mapping, group_policy
from sp.web.admin.blueprint import bp
from sp.web.admin.views import _actor, _group_or_404, _groups, _refused, _tenant_id

MAX_PREVIEW_CHARS = 64 * 1024
RULE_FIELDS = ("attribute", "match", "value", "group_id", "priority")
PRIORITY = re.compile(r"^[0-9]{1,7}$")


def attribute_lines(attributes: dict[str, list[str]]) -> str:
    """Attributes as the preview box takes them: one NAME=VALUE per line."""
    return "\n".join(f"{name}={value}" for name, values in attributes.items() for value in values)


def _mapping_page(
    *,
    status: int = 200,
    rule_form: dict | None = None,
    field_errors: dict | None = None,
    rule_error: str | None = None,
    preview=None,
    preview_form: dict | None = None,
    preview_error: str | None = None,
    picked=None,
):
    tenant = g.admin_tenant
    return render_template(
        "admin/mapping.html",
        tenant=tenant,
        rules=group_policy.rules(tenant),
        groups=_groups(),
        notes=group_policy.notes(tenant),
        notice=group_policy.admin_notice(tenant),
        match_kinds=group_mapping.MATCH_KINDS,
        role=group_mapping.ROLE,
        rule_form=rule_form
        or {"attribute": group_mapping.ROLE, "match": "equals", "value": "", "group_id": "", "priority": ""},
        field_errors=field_errors or {},
        rule_error=rule_error,
        recent=traces.with_attributes(_tenant_id()),
        preview=preview,
        picked=picked,
        preview_form=preview_form or {"attributes": "", "trace": ""},
        preview_error=preview_error,
    ), status


@bp.get("/mapping")
def mapping():
    """The mapping rules in the order they are tried, a form to add one, and the preview."""
    return _mapping_page()


@bp.post("/mapping/rules")
def mapping_add():
    """Add a rule; a refusal is shown next to the field it is about."""
    form = {key: request.form.get(key, "").strip() for key in RULE_FIELDS}
    if not form["group_id"]:
        return _mapping_page(status=400, rule_form=form, field_errors={"group_id": "choose the group the rule gives"})
    group = _group_or_404(request.form.get("group_id", type=int))
    priority = None
    if form["priority"]:
        if not PRIORITY.match(form["priority"]):
            message = f"the priority is a whole number, 0 to {group_policy.MAX_PRIORITY}"
            return _mapping_page(status=400, rule_form=form, field_errors={"priority": message})
        priority = int(form["priority"])
    try:
        rule = group_policy.add_rule(
            g.admin_tenant,
            form["attribute"],
            form["value"],
            group.name,
            match=form["match"],
            priority=priority,
            actor=_actor(),
            now=clock.utcnow(),
        )
    except errors.SPError as error:
        reason, field = _refused(error), getattr(error, "field", None)
        return _mapping_page(
            status=error.status,
            rule_form=form,
            field_errors={field: reason} if field else None,
            rule_error=None if field else reason,
        )
    added = group_policy.rule_json(rule)
    flash(f"Rule #{rule.id} added: {added['attribute']} {added['match']} {added['value']} → {group.name}.")
    return redirect(url_for("admin.mapping"), code=303)


@bp.post("/mapping/rules/<int:rule_id>/remove")
def mapping_remove(rule_id: int):
    """Remove a rule (another tenant's rule id is not found: 404)."""
    group_policy.remove_rule(g.admin_tenant, rule_id, actor=_actor(), now=clock.utcnow())
    flash(f"Rule #{rule_id} removed.")
    return redirect(url_for("admin.mapping"), code=303)


@bp.post("/mapping/preview")
def mapping_preview():
    """Which group some attributes, or a recent sign-in's, would get, and which rule fires."""
    form = {"attributes": request.form.get("attributes", ""), "trace": request.form.get("trace", "").strip()}
    picked = None
    if form["trace"]:
        picked = traces.find(form["trace"], tenant_id=_tenant_id())
        if picked is None:
            abort(404)
        attributes = picked.attributes or {}
        form = {"attributes": attribute_lines(attributes), "trace": ""}
    elif len(form["attributes"]) > MAX_PREVIEW_CHARS:
        return _mapping_page(
            status=413,
            preview_form=form,
            preview_error=f"that is more than {MAX_PREVIEW_CHARS // 1024} KiB of attributes",
        )
    else:
        try:
            attributes = group_policy.parse_attribute_pairs(
                line.rstrip("\r") for line in form["attributes"].split("\n") if line.strip()
            )
        except errors.SPError as error:
            return _mapping_page(status=error.status, preview_form=form, preview_error=_refused(error))
        if not attributes:
            return _mapping_page(
                status=400,
                preview_form=form,
                preview_error="type at least one NAME=VALUE line, or pick a recent sign-in",
            )
    return _mapping_page(preview=group_policy.preview(g.admin_tenant, attributes), preview_form=form, picked=picked)
