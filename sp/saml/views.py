"""SAML endpoints: adapt HTTP to the services in acs, toolkit and request_store."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from flask import Response, current_app, g, make_response, redirect, render_template, request, session
from flask_login import login_user

from .. import clock
from ..extensions import csrf, db
from ..redirects import safe_next
from ..security_headers import csp
from . import acs, request_store, started, toolkit, trust
from . import bp


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/login")
def login():
    """Send the user to the tenant's IdP with a signed AuthnRequest."""
    tenant = g.tenant
    idp = trust.idp_of(tenant)
    next_path = safe_next(request.args.get("next"))
    now = clock.utcnow()
    outgoing = toolkit.authn_request(trust.sp_config(tenant), trust.idp_config(idp), relay_state=next_path)
    ttl = timedelta(seconds=current_app.config["SAML_REQUEST_TTL_SECONDS"])
    request_store.remember(tenant, outgoing.request_id, next_path, now, ttl)
    db.session.commit()
    if outgoing.binding == toolkit.BINDING_REDIRECT:
        return _no_store(started.remember(redirect(outgoing.url, code=302), outgoing.request_id))
    page = make_response(render_template("saml/autopost.html", url=outgoing.url, fields=outgoing.fields, idp=idp))
    target = urlsplit(outgoing.url)
    page.headers["Content-Security-Policy"] = csp(f"'self' {target.scheme}://{target.netloc}")
    return _no_store(started.remember(page, outgoing.request_id))


@bp.post("/acs", endpoint="acs")
@csrf.exempt  # a cross-site POST from the IdP; the signature and the checks in acs protect it
def assertion_consumer():
    """Consume a Response (solicited or IdP-initiated) and sign the user in."""
    done = acs.sign_in(g.tenant, request.form.get("SAMLResponse"), request.form.get("RelayState"), clock.utcnow(),
                       started_here=started.ids())
    session.clear()  # a new session at each login: nothing from before survives
    login_user(done.signed_in)
    session.permanent = False
    return _no_store(redirect(done.next_path, code=303))


@bp.get("/metadata")
def metadata():
    """Serve our SP metadata for the customer's IdP administrator."""
    xml = toolkit.sp_metadata(trust.sp_config(g.tenant))
    response = make_response(xml)
    response.headers["Content-Type"] = "application/samlmetadata+xml; charset=utf-8"
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{g.tenant.slug}-sp-metadata.xml"'
    return response


@bp.get("/setup")
def setup():
    """The page ops send to the customer's IdP administrator: what to enter where (public values only)."""
    return render_template("saml/setup.html", tenant=g.tenant, facts=trust.setup_facts(g.tenant))
