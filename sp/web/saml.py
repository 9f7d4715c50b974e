"""SAML endpoints under /saml/<slug>/: adapt HTTP to the sign-in and sign-out services."""

from __future__ import annotations

from typing import TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, Response, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response as BaseResponse

from sp import clock
from sp.extensions import csrf
from sp.saml.config import BINDING_REDIRECT
from sp.saml.messages import OutgoingRequest
from sp.signin import acs, slo, start, trust
from sp.web import started
from sp.web.security_headers import csp
from sp.web.tenant_url import resolve_from_url

_R = TypeVar("_R", bound=BaseResponse)

bp = Blueprint("saml", __name__, url_prefix="/saml/<slug>")
resolve_from_url(bp)


def no_store(response: _R) -> _R:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@bp.get("/login")
def login():
    """Send the user to the tenant's IdP with a signed AuthnRequest."""
    outgoing = start.begin(g.tenant, request.args.get("next"), clock.utcnow())
    if outgoing.binding == BINDING_REDIRECT:
        return no_store(started.remember(redirect(outgoing.url, code=302), outgoing.request_id))
    return no_store(started.remember(autopost(outgoing.url, outgoing.fields), outgoing.request_id))


def autopost(
    url: str, fields: dict[str, str] | None, *, heading: str | None = None, button: str | None = None
) -> Response:
    """The page that POSTs fields to the IdP (HTTP-POST binding); its CSP lets forms reach that origin only."""
    page = make_response(render_template("saml/autopost.html", url=url, fields=fields, heading=heading, button=button))
    target = urlsplit(url)
    page.headers["Content-Security-Policy"] = csp(f"'self' {target.scheme}://{target.netloc}")
    return page


def to_idp_for_sign_out(outgoing: OutgoingRequest) -> Response:
    """Send a signed-out browser on to the IdP with our LogoutRequest, remembering it started that request.

    This answers a form (Sign out), and browsers hold every redirect after a form submission to the
    page's form-action: a 200 page that moves on by itself (meta refresh, or the link) is not held.
    """
    if outgoing.binding == BINDING_REDIRECT:
        page = make_response(render_template("saml/signing_out.html", url=outgoing.url))
    else:
        page = autopost(
            outgoing.url,
            outgoing.fields,
            heading="Signing you out at your organisation's sign-in page…",
            button="Continue signing out",
        )
    return no_store(started.remember(page, outgoing.request_id))


@bp.post("/acs", endpoint="acs")
@csrf.exempt  # a cross-site POST from the IdP; the signature and the checks in acs protect it
def assertion_consumer():
    """Consume a Response (solicited or IdP-initiated) and sign the user in."""
    done = acs.sign_in(
        g.tenant,
        request.form.get("SAMLResponse"),
        request.form.get("RelayState"),
        clock.utcnow(),
        started_here=started.ids(),
    )
    session.clear()  # a new session at each login: nothing from before survives
    login_user(done.signed_in)
    session.permanent = False
    return no_store(redirect(done.next_path, code=303))


@bp.route("/sls", methods=["GET", "POST"], endpoint="sls")
@csrf.exempt  # the IdP's HTTP-POST binding is a cross-site POST; the signature and the checks in slo protect it
def single_logout():
    """Receive a LogoutRequest or LogoutResponse from the tenant's IdP (HTTP-Redirect, or HTTP-POST)."""
    this_session = current_user.session.id if current_user.is_authenticated else None
    if request.method == "POST":
        done = slo.receive(g.tenant, clock.utcnow(), form=request.form.to_dict(flat=False), started_here=started.ids())
    else:
        done = slo.receive(g.tenant, clock.utcnow(), query_string=request.query_string, started_here=started.ids())
    if this_session in done.ended_session_ids:
        logout_user()
    if done.answer is None:
        flash(done.notice or slo.SIGNED_OUT)
        return no_store(redirect(url_for("auth.login"), code=303))
    if done.answer.binding == BINDING_REDIRECT:
        return no_store(redirect(done.answer.url, code=302))
    return no_store(
        autopost(done.answer.url, done.answer.fields, heading="Signing you out…", button="Continue signing out")
    )


@bp.get("/metadata")
def metadata():
    """Serve our SP metadata for the customer's IdP administrator."""
    response = make_response(start.sp_metadata(g.tenant))
    response.headers["Content-Type"] = "application/samlmetadata+xml; charset=utf-8"
    if request.args.get("download"):
        response.headers["Content-Disposition"] = f'attachment; filename="{g.tenant.slug}-sp-metadata.xml"'
    return response


@bp.get("/setup")
def setup():
    """The page ops send to the customer's IdP administrator: what to enter where (public values only)."""
    return render_template("saml/setup.html", tenant=g.tenant, facts=trust.setup_facts(g.tenant))
