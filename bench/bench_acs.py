"""Logins per second through our full ACS versus python3-saml's stock process_response().

Both sides get the same signed responses, in alternating rounds. Ours does everything a real
login does: strict base64, one parse, our structural and profile checks, the schema, the
signature (xmlsec, keys loaded once), the replay cache, JIT provisioning or the user's update,
the session row, the audit events, the login trace and the commit, through the Flask view. The
stock side is what the python3-saml README suggests per request: build OneLogin_Saml2_Auth from
a settings dict and call process_response(); it writes nothing anywhere, and it runs in a
process of its own that never imports our code (bench/stock_worker.py), so it is the library
exactly as installed. "protocol core" is our sp.saml pipeline alone (no database, no Flask view).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from flask_migrate import upgrade  # noqa: E402

from sp import clock  # noqa: E402
from sp.extensions import db  # noqa: E402
from support.journeys import SP_BASE, add_tenant, make_app  # noqa: E402
from support.keys import cert_body, make_key_pair  # noqa: E402
from support.saml_builder import ResponseBuilder  # noqa: E402

RESPONSES = 400
ROUNDS = 5
USERS = 50


def stock_settings(cert_pem: bytes) -> dict:
    return {
        "strict": True,
        "sp": {
            "entityId": f"{SP_BASE}/saml/acme/metadata",
            "assertionConsumerService": {
                "url": f"{SP_BASE}/saml/acme/acs",
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
            },
        },
        "idp": {
            "entityId": "https://idp.acme.example/saml",
            "singleSignOnService": {
                "url": "https://idp.example.test/sso/redirect",
                "binding": "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect",
            },
            "x509cert": cert_body(cert_pem),
        },
        "security": {"rejectDeprecatedAlgorithm": True, "wantXMLValidation": True},
    }


def run_stock(messages: list[str], settings: dict) -> float:
    """The stock rate, measured inside a fresh process that imports python3-saml and nothing of ours."""
    job = {
        "settings": settings,
        "messages": messages,
        "http_host": SP_BASE.split("://", 1)[1],
        "script_name": "/saml/acme/acs",
    }
    done = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("stock_worker.py"))],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the stock worker failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)["per_second"]


def run_core(app, messages: list[str]) -> float:
    """Our protocol core alone: decode, parse, check structure and profile, schema, signature, identity."""
    from sp.saml import response, xml
    from sp.signin import acs, trust
    from sp.tenancy import tenants

    with app.test_request_context():
        tenant = tenants.find("acme")
        idp = trust.idp_config(tenant.identity_provider)
        expect = trust.expectations(tenant, tenant.identity_provider)
        limit = app.config["SAML_MAX_RESPONSE_BYTES"]
        now = clock.utcnow()
        start = time.perf_counter()
        for message in messages:
            root = xml.parse_message(acs.decode_form_value(message, limit))
            assertion = response.check_structure(root)
            response.check_response(root, assertion, expect, now)
            response.verify(root, assertion, idp.certificates)
            response.identity(assertion, expect.sp_entity_id)
        return len(messages) / (time.perf_counter() - start)


def run_ours(app, messages: list[str]) -> float:
    client = app.test_client()
    # Encode the form bodies up front: a browser does that, not our server.
    bodies = [urlencode({"SAMLResponse": message}).encode() for message in messages]
    start = time.perf_counter()
    for body in bodies:
        response = client.post("/saml/acme/acs", data=body, content_type="application/x-www-form-urlencoded")
        if response.status_code != 303:
            raise SystemExit(f"our ACS refused a benchmark response: {response.status_code} {response.data[:300]!r}")
    return len(messages) / (time.perf_counter() - start)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-acs-"))
    key_pem, cert_pem = make_key_pair("Bench IdP")
    builder = ResponseBuilder(
        key_pem, cert_pem, entity_id="https://idp.acme.example/saml", sp_base=SP_BASE, slug="acme"
    )
    app = make_app(f"sqlite:///{folder / 'bench.sqlite3'}", str(folder / "keys"))
    with app.app_context():
        upgrade()
    add_tenant(app, "acme", builder.metadata())
    settings = stock_settings(cert_pem)

    def batch() -> list[str]:
        return [
            builder.b64(
                name_id=f"user{i % USERS}@acme.example",
                attributes={"email": [f"user{i % USERS}@acme.example"], "displayName": [f"User {i}"]},
            )
            for i in range(RESPONSES)
        ]

    warm = batch()
    run_stock(warm[:20], settings)
    run_ours(app, warm[:20])
    stock_rates, core_rates, our_rates = [], [], []
    for _ in range(ROUNDS):
        messages = batch()  # fresh assertion IDs: ours must not see replays
        stock_rates.append(run_stock(messages, settings))
        core_rates.append(run_core(app, messages))
        our_rates.append(run_ours(app, messages))
    stock, ours = statistics.median(stock_rates), statistics.median(our_rates)
    core = statistics.median(core_rates)
    print(f"ACS benchmark: {RESPONSES} signed responses x {ROUNDS} rounds, SQLite, one core each side")
    print(
        f"  python3-saml stock process_response(): {stock:8.0f} responses/s  (rounds: {', '.join(f'{r:.0f}' for r in stock_rates)})"
    )
    print(f"  our protocol core alone (sp.saml, no DB):  {core:8.0f} responses/s  (part of ours)")
    print(
        f"  our full ACS (checks + DB + session):  {ours:8.0f} logins/s     (rounds: {', '.join(f'{r:.0f}' for r in our_rates)})"
    )
    print(f"  ratio ours/stock: {ours / stock:.2f}x  (target >= 2.5x)")
    with app.app_context():
        db.engine.dispose()


if __name__ == "__main__":
    main()
