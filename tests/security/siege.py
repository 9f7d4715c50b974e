"""The attack harness (fixtures in conftest.py): post a hostile message, then prove it changed nothing and was refused for the right reason.

`siege.refused(...)` posts one message and asserts: the expected 4xx status and stable error
code, no new session (the browser is who it was before), no user/group/session/replay/request/
audit row created or changed, and bounded work: no decompression produced more than the
message cap (+1 byte), no parse built more elements than its input spells out (no entity was
expanded into markup), and bounded peak memory. `siege.accepted(...)` is the positive control:
the same message left untouched must sign the user in, and its signature must have reached
xmlsec. Posting the attack *before* its control also proves the rejected message did not write
the replay cache: otherwise the control would be a replay.

Time is never asserted (the suite must not depend on the machine's speed; `make bench` measures
it). Every request is metered instead (support.work.metered): `Outcome.work` says how many
xmlsec verifications ran, what zlib inflated and what lxml parsed, so a test proves a guard by
the work it avoids, e.g. `outcome.work.xmlsec_verifications == 0`.
"""

from __future__ import annotations

import base64
import re
import resource
from dataclasses import dataclass

from lxml import etree
from sqlalchemy import select

from sp.extensions import db
from sp.models import AuditEvent, ReplayEntry, SamlRequest, User, UserGroup, UserSession
from support.work import Work, metered

# Growth of the process's peak RSS one request may cause (a billion-laughs expansion would be GBs).
MEMORY_LIMIT_KIB = 64 * 1024
_CODE_IN_PAGE = re.compile(rb"Error code: <code>([a-z0-9_.]+)</code>")


@dataclass
class Outcome:
    status: int
    code: str | None
    work: Work
    rss_growth_kib: int
    location: str | None


def assert_bounded_work(outcome: Outcome, max_message_bytes: int) -> None:
    """What any refusal may cost: nothing inflated past the cap, no entity expanded into markup, bounded memory."""
    work = outcome.work
    assert work.largest_inflation <= max_message_bytes + 1, (
        f"a decompression produced {work.largest_inflation} bytes; the cap is {max_message_bytes}"
    )
    assert not work.amplified_parses(), f"a parse built more elements than its input holds: {work.amplified_parses()}"
    assert outcome.rss_growth_kib < MEMORY_LIMIT_KIB, f"peak memory grew by {outcome.rss_growth_kib} KiB"


def assert_verified(outcome: Outcome) -> None:
    """The positive control reached xmlsec: the guard a refusal proves it skipped is really on the path."""
    assert outcome.work.xmlsec_verifications >= 1, "an accepted message was never verified by xmlsec"


class Siege:
    """Posts messages to a tenant's ACS and checks what they did (see the module docstring)."""

    def __init__(self, app, client, builder) -> None:
        self.app, self.client, self.builder = app, client, builder

    def state(self) -> dict:
        """Everything a login could write, in a comparable form."""
        with self.app.app_context():
            users = db.session.execute(
                select(
                    User.id,
                    User.tenant_id,
                    User.name_id,
                    User.email,
                    User.display_name,
                    User.group_id,
                    User.group_source,
                    User.active,
                    User.last_login_at,
                ).order_by(User.id)
            ).all()
            return {
                "users": [tuple(row) for row in users],
                "groups": [
                    tuple(r) for r in db.session.execute(select(UserGroup.id, UserGroup.name).order_by(UserGroup.id))
                ],
                "sessions": db.session.scalar(select(db.func.count()).select_from(UserSession)),
                "replay": sorted(db.session.scalars(select(ReplayEntry.key))),
                "requests": sorted(tuple(r) for r in db.session.execute(select(SamlRequest.id, SamlRequest.used_at))),
                "audit": db.session.scalar(select(db.func.count()).select_from(AuditEvent)),
            }

    def post(
        self, message, *, slug: str = "acme", relay_state: str | None = None, client=None, accept: str = "text/html"
    ) -> tuple[object, Outcome]:
        """POST message (lxml tree, XML bytes or a ready form value) to slug's ACS; meter the work it caused."""
        if isinstance(message, etree._Element):
            message = etree.tostring(message)
        value = base64.b64encode(message).decode() if isinstance(message, bytes) else message
        data = {"SAMLResponse": value}
        if relay_state is not None:
            data["RelayState"] = relay_state
        browser = client or self.client
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with metered() as work:
            response = browser.post(f"/saml/{slug}/acs", data=data, headers={"Accept": accept})
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        code = None
        if response.is_json:
            code = response.get_json().get("error")
        else:
            found = _CODE_IN_PAGE.search(response.data)
            code = found.group(1).decode() if found else None
        return response, Outcome(response.status_code, code, work, growth, response.headers.get("Location"))

    def refused(
        self, message, code: str, *, status: int = 400, slug: str = "acme", relay_state: str | None = None, client=None
    ) -> Outcome:
        """Assert message is refused with status and code, and that nothing changed."""
        browser = client or self.client
        who_before = browser.get("/me").get_json()
        before = self.state()
        response, outcome = self.post(message, slug=slug, relay_state=relay_state, client=browser)
        assert (outcome.status, outcome.code) == (status, code), response.data[:2000]
        assert_bounded_work(outcome, self.app.config["SAML_MAX_RESPONSE_BYTES"])
        assert self.state() == before, "a refused message changed the database"
        assert browser.get("/me").get_json() == who_before, "a refused message changed who the browser is signed in as"
        return outcome

    def accepted(
        self,
        message,
        name_id: str = "alice@acme.example",
        *,
        slug: str = "acme",
        relay_state: str | None = None,
        client=None,
    ) -> Outcome:
        """The positive control: message signs name_id in."""
        browser = client or self.client
        response, outcome = self.post(message, slug=slug, relay_state=relay_state, client=browser)
        assert outcome.status == 303, response.data[:2000]
        assert_verified(outcome)
        me = browser.get("/me")
        assert me.status_code == 200 and me.get_json()["name_id"] == name_id, me.data
        return outcome

    def attack(self, genuine, tampered, code: str, *, status: int = 400, **kwargs) -> Outcome:
        """Tampered is refused with code; then the untouched genuine message still signs Alice in."""
        outcome = self.refused(tampered, code, status=status, **kwargs)
        self.accepted(genuine, slug=kwargs.get("slug", "acme"), client=kwargs.get("client"))
        return outcome


def another_instance(app, **overrides):
    """A second app object on the same database and keys: another instance of the SP."""
    from sp import create_app
    from support.journeys import Browser

    keys = ("TESTING", "SQLALCHEMY_DATABASE_URI", "SECRET_KEY", "SP_BASE_URL", "SAML_SETTINGS_DIR", "RATELIMIT_ENABLED")
    other = create_app({key: app.config[key] for key in keys} | overrides)
    other.test_client_class = Browser
    return other


def set_tenant(app, slug: str, **settings) -> None:
    """Change a tenant's settings through the service the CLI uses."""
    from sp.tenancy import tenants

    with app.app_context():
        tenants.update_settings(tenants.find(slug), **settings)


class LogoutSiege:
    """Sends logout messages to a tenant's single logout service and checks what they did.

    `victim` is a browser signed in as alice (SessionIndex "_s1") before the attack. `refused(...)`
    asserts the status and stable code, that no session ended and nothing was written (sessions,
    replay cache, outstanding requests, audit log), that the victim is still signed in, and bounded
    work and memory (see Siege). `accepted(...)`, the positive control, asserts the untouched message
    reached xmlsec, signs the victim out and is answered at the IdP's SLO endpoint.
    """

    def __init__(self, app, logouts, builder) -> None:
        from support.journeys import post_acs

        self.app, self.logouts, self.builder = app, logouts, builder
        self.victim = app.test_client()
        landed = post_acs(self.victim, "acme", builder.b64(session_index="_s1"))
        assert landed.status_code == 303, landed.data

    def state(self) -> dict:
        with self.app.app_context():
            return {
                "sessions": sorted(
                    tuple(r) for r in db.session.execute(select(UserSession.id, UserSession.revoked_at))
                ),
                "replay": sorted(db.session.scalars(select(ReplayEntry.key))),
                "requests": sorted(tuple(r) for r in db.session.execute(select(SamlRequest.id, SamlRequest.used_at))),
                "audit": db.session.scalar(select(db.func.count()).select_from(AuditEvent)),
            }

    def send(
        self,
        query: str | None = None,
        *,
        form: dict | None = None,
        slug: str = "acme",
        client=None,
        accept: str = "text/html",
    ) -> tuple[object, Outcome]:
        """GET the SLS with query (HTTP-Redirect), or POST it form (HTTP-POST); meter the work it caused."""
        browser = client or self.victim
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with metered() as work:
            if form is not None:
                response = browser.post(f"/saml/{slug}/sls", data=form, headers={"Accept": accept})
            else:
                response = browser.get(f"/saml/{slug}/sls?{query}", headers={"Accept": accept})
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
        if response.is_json:
            code = response.get_json().get("error")
        else:
            found = _CODE_IN_PAGE.search(response.data)
            code = found.group(1).decode() if found else None
        return response, Outcome(response.status_code, code, work, growth, response.headers.get("Location"))

    def refused(
        self,
        query: str | None = None,
        code: str = "",
        *,
        form: dict | None = None,
        status: int = 400,
        slug: str = "acme",
        client=None,
    ) -> Outcome:
        before = self.state()
        response, outcome = self.send(query, form=form, slug=slug, client=client)
        assert (outcome.status, outcome.code) == (status, code), response.data[:2000]
        assert_bounded_work(outcome, self.app.config["SAML_MAX_LOGOUT_BYTES"])
        assert self.state() == before, "a refused logout message changed the database"
        assert self.victim.get("/me").status_code == 200, "a refused logout message signed the victim out"
        return outcome

    def accepted(self, query: str | None = None, *, form: dict | None = None) -> Outcome:
        response, outcome = self.send(query, form=form)
        if form is None:
            assert outcome.status == 302 and outcome.location.startswith("https://idp.example.test/slo/"), (
                response.data[:2000]
            )
        else:
            assert outcome.status == 200 and b'action="https://idp.example.test/slo/' in response.data, response.data[
                :2000
            ]
        assert_verified(outcome)
        assert self.victim.get("/me").status_code == 401, "the genuine logout message did not sign the victim out"
        return outcome

    def attack(self, genuine: str | dict, tampered: str | dict, code: str, *, status: int = 400) -> Outcome:
        """Tampered is refused with code; then the untouched genuine message still signs the victim out."""
        post = isinstance(genuine, dict)
        outcome = self.refused(None if post else tampered, code, form=tampered if post else None, status=status)
        self.accepted(None if post else genuine, form=genuine if post else None)
        return outcome
