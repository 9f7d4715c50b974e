"""Metadata by URL: import, scheduled refresh, pinned signatures, and failures that keep the last good config.

A real HTTP server on 127.0.0.1 serves the metadata; the tests allow loopback fetches, as the
configuration must for anything but public addresses.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sp import clock
from sp.models import AuditEvent, IdentityProvider, IdpMetadataSource, IdpMetadataVersion
from support import idp_samples as samples
from support.journeys import add_tenant, rows

OKTA = "http://www.okta.com/exk1fxp0a1B2c3D4e5d7"
GOOGLE = "https://accounts.google.com/o/saml2?idpid=C01a2b3c4"


class MetadataServer:
    """A local HTTP server: `serve(path, body, ...)` decides what each path answers."""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes, float, bool]] = {}
        self.hits: list[str] = []
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                status, headers, body, delay, length = routes.get(self.path, (404, {}, b"not here", 0.0, True))
                time.sleep(delay)
                self.send_response(status)
                for name, value in {"Content-Type": "application/samlmetadata+xml", **headers}.items():
                    self.send_header(name, value)
                if length:  # without it, HTTP/1.0: the body ends when the connection closes
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(
        self,
        path: str,
        body: bytes,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        length: bool = True,
    ) -> str:
        self.routes[path] = (status, headers or {}, body, delay, length)
        return self.url(path)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server():
    running = MetadataServer()
    yield running
    running.close()


@pytest.fixture
def fetching(app):
    """The app, allowed to fetch from loopback (tests only), with a short timeout."""
    app.config.update(METADATA_FETCH_ALLOW_PRIVATE=True, METADATA_FETCH_TIMEOUT_SECONDS=1.5)
    return app


def idp_row(app) -> IdentityProvider:
    [idp] = rows(app, IdentityProvider)
    return idp


def source_row(app) -> IdpMetadataSource:
    [source] = rows(app, IdpMetadataSource)
    return source


def refresh(app, slug="initech", now=None):
    from sp.idp import refresh
    from sp.tenancy import tenants

    with app.app_context():
        return refresh.refresh(tenants.find(slug), now or clock.utcnow())


def test_importing_from_a_url_applies_it_and_schedules_a_refresh_by_its_cache_duration(fetching, runner, server):
    add_tenant(fetching, "initech", None)
    url = server.serve("/okta.xml", samples.aggregate(samples.okta(), cache_duration="PT2H"))
    preview = runner.invoke(args=["idp", "import", "initech", "--url", url, "--dry-run"])
    assert preview.exit_code == 0 and "dry run: nothing was changed" in preview.stdout
    assert rows(fetching, IdentityProvider) == [] and rows(fetching, IdpMetadataSource) == []
    before = clock.utcnow()
    result = runner.invoke(args=["idp", "import", "initech", "--url", url])
    assert result.exit_code == 0, result.output
    assert "applied as version 1" in result.stdout
    assert "no certificate pinned" in result.stderr
    assert idp_row(fetching).entity_id == OKTA
    source = source_row(fetching)
    assert (source.url, source.last_result, source.pinned_certs) == (url, "updated", None)
    assert timedelta(hours=2) <= source.next_refresh_at - before <= timedelta(hours=2, minutes=1)
    [version] = rows(fetching, IdpMetadataVersion)
    assert version.source == "url"


def test_the_refresh_interval_is_bounded_and_comes_before_valid_until(fetching, server):
    from sp.idp import refresh
    from sp.saml import metadata as idp_metadata

    now = clock.utcnow()
    for cache, valid_days, expected in (
        (None, None, timedelta(hours=6)),  # nothing said: every 6 hours
        ("PT1M", None, timedelta(minutes=10)),  # never more often than every 10 minutes
        ("P30D", None, timedelta(hours=24)),  # never less often than daily
        ("PT12H", 0.25, timedelta(hours=3)),  # half the remaining validity when that is sooner
    ):
        body = samples.aggregate(
            samples.okta(),
            cache_duration=cache,
            valid_until=(now + timedelta(days=valid_days)).strftime("%Y-%m-%dT%H:%M:%SZ") if valid_days else None,
        )
        metadata = idp_metadata.read(body, now=now)
        assert abs(refresh.next_refresh(metadata, now) - now - expected) < timedelta(seconds=2), cache


def test_a_refresh_applies_a_new_certificate_the_moment_the_idp_publishes_it(fetching, runner, server):
    add_tenant(fetching, "initech", None)
    url = server.serve("/rollover.xml", samples.okta(certs=(samples.cert("Okta old"),)))
    runner.invoke(args=["idp", "import", "initech", "--url", url])
    server.serve("/rollover.xml", samples.okta(certs=(samples.cert("Okta old"), samples.cert("Okta new"))))

    result = runner.invoke(args=["idp", "refresh", "initech"])
    assert result.exit_code == 0, result.output
    assert "initech: updated: applied version 2" in result.stdout
    assert "+ signing certificate" in result.stdout
    assert [c["subject"] for c in idp_row(fetching).certificates] == ["CN=Okta old", "CN=Okta new"]
    unchanged = runner.invoke(args=["idp", "refresh", "initech"])
    assert "initech: unchanged: no change" in unchanged.stdout
    assert len(rows(fetching, IdpMetadataVersion)) == 2


@pytest.mark.parametrize(
    "trouble,reason",
    [
        ("server error", "answered HTTP 500"),
        ("not metadata", "not well-formed XML"),
        ("now SP metadata", "service provider's metadata"),
        ("too slow", "took longer than"),
        ("too large by its Content-Length", "larger than the 500 bytes we accept (Content-Length"),
        ("too large as it streams", "larger than the 500 bytes we accept"),
        ("compressed", "we ask for and accept only identity"),
        ("expired", "expired on 2020-01-01"),
    ],
)
def test_a_failed_refresh_keeps_the_last_good_configuration_and_says_so(fetching, runner, server, trouble, reason):
    add_tenant(fetching, "initech", None)
    path = f"/flaky-{abs(hash(trouble))}.xml"
    url = server.serve(path, samples.okta())
    assert runner.invoke(args=["idp", "import", "initech", "--url", url]).exit_code == 0
    good = idp_row(fetching)
    if trouble == "server error":
        server.serve(path, b"oops", status=500)
    elif trouble == "not metadata":
        server.serve(path, b"<html><body>Maintenance</body>")
    elif trouble == "now SP metadata":
        server.serve(path, samples.sp())
    elif trouble == "too slow":
        server.serve(path, samples.okta(), delay=2.5)
    elif trouble.startswith("too large"):
        fetching.config["IDP_METADATA_MAX_BYTES"] = 500
        server.serve(path, samples.okta(), length=trouble.endswith("Content-Length"))
    elif trouble == "compressed":
        server.serve(path, samples.okta(), headers={"Content-Encoding": "gzip"})
    else:
        server.serve(path, samples.aggregate(samples.okta(), valid_until="2020-01-01T00:00:00Z"))

    result = runner.invoke(args=["idp", "refresh", "initech"])
    assert result.exit_code == 1
    assert "initech: failed:" in result.stderr and reason in result.stderr
    assert "(the configuration in use is kept)" in result.stderr
    kept = idp_row(fetching)
    assert (kept.entity_id, kept.revision, kept.certificates) == (good.entity_id, good.revision, good.certificates)
    source = source_row(fetching)
    assert source.last_result == "failed" and reason in source.last_error and source.consecutive_failures == 1
    assert any(e.action == "idp.metadata_refresh_failed" for e in rows(fetching, AuditEvent))
    [status] = json.loads(runner.invoke(args=["idp", "status", "initech", "--json"]).stdout)
    assert any(w.startswith("the last metadata refresh failed") for w in status["warnings"])


def test_refresh_all_fetches_only_what_is_due_and_backs_off_after_failures(fetching, server):
    from sp.idp import refresh
    from sp.tenancy import tenants

    add_tenant(fetching, "initech", None)
    add_tenant(fetching, "hooli", None)
    with fetching.app_context():
        now = clock.utcnow()
        refresh.import_from_url(
            tenants.find("initech"), server.serve("/due-a.xml", samples.okta()), actor="cli", now=now
        )
        refresh.import_from_url(
            tenants.find("hooli"), server.serve("/due-b.xml", samples.google()), actor="cli", now=now
        )
        assert refresh.refresh_due(now + timedelta(hours=1)) == []
        server.serve("/due-a.xml", b"broken", status=503)
        results = refresh.refresh_due(now + timedelta(hours=7))
        assert [(r.tenant, r.result) for r in results] == [("hooli", "unchanged"), ("initech", "failed")]
        # A failed source is tried again sooner (10 minutes, doubling), not after the full interval.
        later = now + timedelta(hours=7, minutes=11)
        assert [r.tenant for r in refresh.refresh_due(later)] == ["initech"]
        assert [r.tenant for r in refresh.refresh_due(later, force=True)] == ["hooli", "initech"]
    failing = [s for s in rows(fetching, IdpMetadataSource) if s.last_result == "failed"]
    assert [s.consecutive_failures for s in failing] == [3]


def test_status_warns_when_the_refresh_is_overdue_or_the_metadata_expires_soon(fetching, server):
    from sp.idp import refresh, versions
    from sp.tenancy import tenants

    add_tenant(fetching, "initech", None)
    soon = (clock.utcnow() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with fetching.app_context():
        tenant = tenants.find("initech")
        url = server.serve("/status.xml", samples.aggregate(samples.okta(), valid_until=soon))
        refresh.import_from_url(tenant, url, actor="cli", now=clock.utcnow())
        fresh = versions.tenant_status(tenant, clock.utcnow())
        later = versions.tenant_status(tenant, clock.utcnow() + timedelta(days=2))
    assert fresh["url"]["url"] == url and fresh["url"]["last_result"] == "updated"
    assert any("the metadata in use expires on" in w for w in fresh["warnings"])
    assert not any("overdue" in w for w in fresh["warnings"])
    assert any("the metadata refresh is overdue" in w for w in later["warnings"])


def test_refresh_all_from_the_cli_exits_1_when_any_refresh_failed(fetching, runner, server):
    add_tenant(fetching, "initech", None)
    runner.invoke(args=["idp", "import", "initech", "--url", server.serve("/cron.xml", samples.okta())])
    assert "no tenant's metadata is due" in runner.invoke(args=["idp", "refresh", "--all"]).stdout
    server.serve("/cron.xml", b"", status=502)
    forced = runner.invoke(args=["idp", "refresh", "--all", "--force"])
    assert forced.exit_code == 1 and "answered HTTP 502" in forced.stderr
    assert runner.invoke(args=["idp", "refresh"]).exit_code == 1  # neither a SLUG nor --all


# --- Pinned signatures ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def federation_key():
    return samples.make_cert("Federation metadata signer")


def test_signed_metadata_is_verified_with_the_pinned_certificate(fetching, runner, server, federation_key, tmp_path):
    key_pem, cert_pem = federation_key
    add_tenant(fetching, "initech", None)
    signed = samples.sign(samples.aggregate(samples.okta(), samples.google(), samples.sp()), key_pem, cert_pem)
    url = server.serve("/signed.xml", signed)
    pin = tmp_path / "federation.pem"
    pin.write_bytes(samples.cert("Previous federation signer") + cert_pem)  # a bundle: any of them may sign

    result = runner.invoke(
        args=["idp", "import", "initech", "--url", url, "--verify-cert", str(pin), "--entity-id", GOOGLE]
    )
    assert result.exit_code == 0, result.output
    assert "no certificate pinned" not in result.output
    assert idp_row(fetching).entity_id == GOOGLE
    assert source_row(fetching).pinned_certs.count("BEGIN CERTIFICATE") == 2

    # Someone swaps an endpoint after signing: the refresh refuses it and keeps the signed config.
    server.serve(
        "/signed.xml", signed.replace(b"https://accounts.google.com/o/saml2/idp", b"https://evil.example/sso", 1)
    )
    tampered = runner.invoke(args=["idp", "refresh", "initech"])
    assert tampered.exit_code == 1 and "does not verify with the pinned certificate" in tampered.stderr
    assert idp_row(fetching).sso_redirect_url.startswith("https://accounts.google.com/")


@pytest.mark.parametrize(
    "problem,reason",
    [
        ("unsigned", "exactly one signature on its root element; found 0"),
        ("signed by someone else", "does not verify with the pinned certificate"),
        ("signed with SHA-1", "SHA-1 or an algorithm we do not accept"),
        ("a signature over one entity only", "does not cover the whole document"),
    ],
)
def test_metadata_that_does_not_verify_with_the_pinned_certificate_is_refused(
    fetching, runner, server, federation_key, tmp_path, problem, reason
):
    import xmlsec
    from lxml import etree

    key_pem, cert_pem = federation_key
    add_tenant(fetching, "initech", samples.okta())
    body = samples.aggregate(samples.google(), id_attr="_federation")
    if problem == "signed by someone else":
        body = samples.sign(body, *samples.make_cert("Impostor"))
    elif problem == "signed with SHA-1":
        body = samples.sign(
            body, key_pem, cert_pem, algorithm=xmlsec.constants.TransformRsaSha1, digest=xmlsec.constants.TransformSha1
        )
    elif problem == "a signature over one entity only":
        signed = samples.sign(body, key_pem, cert_pem)
        root = etree.fromstring(signed)
        entity = root.find("{urn:oasis:names:tc:SAML:2.0:metadata}EntityDescriptor")
        entity.set("ID", "_google")
        root.find("{http://www.w3.org/2000/09/xmldsig#}Signature").find(
            "{http://www.w3.org/2000/09/xmldsig#}SignedInfo"
        ).find("{http://www.w3.org/2000/09/xmldsig#}Reference").set("URI", "#_google")
        body = etree.tostring(root)
    pin = tmp_path / "pin.pem"
    pin.write_bytes(cert_pem)
    result = runner.invoke(
        args=[
            "idp",
            "import",
            "initech",
            "--url",
            server.serve(f"/{abs(hash(problem))}.xml", body),
            "--verify-cert",
            str(pin),
        ]
    )
    assert result.exit_code == 1 and reason in result.output
    assert idp_row(fetching).entity_id == OKTA and rows(fetching, IdpMetadataSource) == []


def test_a_pinned_certificate_file_without_a_certificate_is_refused(fetching, runner, server, tmp_path):
    add_tenant(fetching, "initech", None)
    pin = tmp_path / "pin.pem"
    pin.write_text("not a certificate")
    result = runner.invoke(
        args=["idp", "import", "initech", "--url", server.serve("/x.xml", samples.okta()), "--verify-cert", str(pin)]
    )
    assert result.exit_code == 1 and "holds no PEM certificate" in result.output
    assert rows(fetching, IdentityProvider) == []


# --- Where we refuse to fetch from ----------------------------------------------------------


def test_loopback_and_private_addresses_are_refused_unless_the_configuration_allows_them(app, runner, server):
    add_tenant(app, "initech", None)
    url = server.serve("/internal.xml", samples.okta())
    for target in (url, url.replace("127.0.0.1", "localhost")):
        result = runner.invoke(args=["idp", "import", "initech", "--url", target])
        assert result.exit_code == 1
        assert "a private, loopback, link-local or reserved address" in result.output
    assert server.hits.count("/internal.xml") == 0
    assert rows(app, IdentityProvider) == []


@pytest.mark.parametrize(
    "address,allowed_with_private",
    [
        ("10.1.2.3", True),
        ("192.168.0.10", True),
        ("169.254.169.254", True),
        ("::1", True),
        ("fd00::1", True),
        ("::ffff:127.0.0.1", True),
        ("64:ff9b::a00:1", True),
        ("100.64.0.1", True),
        ("240.0.0.1", True),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
        ("ff02::1", False),
    ],
)
def test_every_kind_of_internal_address_is_refused(address, allowed_with_private):
    import ipaddress

    from sp.idp.fetch import _refusal

    assert _refusal(ipaddress.ip_address(address), allow_private=False) is not None
    assert (_refusal(ipaddress.ip_address(address), allow_private=True) is None) is allowed_with_private
    assert _refusal(ipaddress.ip_address("93.184.215.14"), allow_private=False) is None


@pytest.mark.parametrize(
    "url,reason",
    [
        ("file:///etc/passwd", "is not an http(s) URL"),
        ("ftp://idp.example/metadata", "is not an http(s) URL"),
        ("https://user:secret@idp.example/metadata", "carries credentials"),
        ("https:///metadata", "is not an http(s) URL"),
    ],
)
def test_urls_we_never_fetch_are_refused(app, runner, url, reason):
    add_tenant(app, "initech", None)
    result = runner.invoke(args=["idp", "import", "initech", "--url", url])
    assert result.exit_code == 1 and reason in result.output


def test_redirects_are_followed_but_checked_again(fetching, app, runner, server):
    add_tenant(fetching, "initech", None)
    target = server.serve("/moved-here.xml", samples.okta())
    server.serve("/old-place.xml", b"", status=301, headers={"Location": "/moved-here.xml"})
    server.serve("/loop.xml", b"", status=302, headers={"Location": "/loop.xml"})
    server.serve("/to-file.xml", b"", status=302, headers={"Location": "file:///etc/passwd"})
    assert runner.invoke(args=["idp", "import", "initech", "--url", server.url("/old-place.xml")]).exit_code == 0
    assert target and idp_row(fetching).entity_id == OKTA
    looping = runner.invoke(args=["idp", "import", "initech", "--url", server.url("/loop.xml")])
    assert looping.exit_code == 1 and "redirects more than 3 times" in looping.output
    to_file = runner.invoke(args=["idp", "import", "initech", "--url", server.url("/to-file.xml")])
    assert to_file.exit_code == 1 and "is not an http(s) URL" in to_file.output


@pytest.mark.parametrize(
    "current,location,outcome",
    [
        ("https://idp.example/md", "/v2/md", "https://idp.example/v2/md"),
        ("http://idp.example/md", "https://idp.example/md", "https://idp.example/md"),
        ("https://idp.example/md", "http://idp.example/md", "redirects from https to plain http"),
        ("https://idp.example/md", None, "redirects without a Location"),
        ("https://idp.example/md", "gopher://idp.example/md", "is not an http(s) URL"),
    ],
)
def test_a_redirect_is_followed_only_to_an_http_url_and_never_down_from_https(current, location, outcome):
    from sp import errors
    from sp.idp.fetch import redirect_target

    if outcome.startswith("https://"):
        assert redirect_target(current, location) == outcome
    else:
        with pytest.raises(errors.SPError, match=re.escape(outcome)):
            redirect_target(current, location)


def test_an_https_server_whose_certificate_does_not_verify_is_refused(fetching, runner, tmp_path):
    key_pem, cert_pem = samples.make_cert("127.0.0.1")
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    tls = MetadataServer(tls=(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")))
    try:
        add_tenant(fetching, "initech", None)
        result = runner.invoke(args=["idp", "import", "initech", "--url", tls.serve("/md.xml", samples.okta())])
    finally:
        tls.close()
    assert result.exit_code == 1 and "TLS with 127.0.0.1 failed" in result.output
    assert rows(fetching, IdentityProvider) == []


def test_unlinking_the_url_stops_the_refresh_and_keeps_the_configuration(fetching, runner, server, tmp_path):
    add_tenant(fetching, "initech", None)
    runner.invoke(args=["idp", "import", "initech", "--url", server.serve("/linked.xml", samples.okta())])
    path = tmp_path / "google.xml"
    path.write_bytes(samples.google())
    manual = runner.invoke(args=["idp", "import", "initech", str(path)])
    assert "the next refresh replaces this import" in manual.stderr
    result = runner.invoke(args=["idp", "unlink-url", "initech"])
    assert result.exit_code == 0 and "no longer refreshing" in result.stdout
    assert rows(fetching, IdpMetadataSource) == [] and idp_row(fetching).entity_id == GOOGLE
    again = runner.invoke(args=["idp", "refresh", "initech"])
    assert again.exit_code == 1 and "has no metadata URL" in again.output
