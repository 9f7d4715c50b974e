"""`make run`: migrate the embedded database, seed the demo tenant, start the SP and the dev IdP.

The SP listens on 127.0.0.1:5000 and the development IdP on 127.0.0.1:5001. The demo tenant
'demo' (email domain demo.example) trusts the dev IdP; sign in as alice@demo.example, password
'demo', from http://127.0.0.1:5000/login.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402

import devidp  # noqa: E402
from sp import clock, create_app
from sp.errors import TenantNotFound  # noqa: E402
from sp.idp import versions
from sp.tenancy import group_policy, groups, tenants

DEMO_GROUPS = {
    "Admins": ["admin", "reports:read", "reports:write"],
    "Engineering": ["reports:read"],
}
# The dev IdP sends alice groups sp-admins and engineering, carol contractors, bob none: alice
# lands in Admins (the lower priority wins), bob and carol in the default group.
DEMO_RULES = (("groups", "sp-admins", "Admins", 10), ("groups", "engineering", "Engineering", 20))


def seed(app, metadata: bytes) -> None:
    """Create the demo tenant, its groups and mapping rules once; (re)import the dev IdP's metadata."""
    with app.app_context():
        try:
            tenant = tenants.find("demo")
        except TenantNotFound:
            tenant = tenants.create_tenant("demo", "Demo Company", ["demo.example"])
            for name, permissions in DEMO_GROUPS.items():
                groups.add(tenant, name, permissions)
            print("seeded tenant 'demo' (domain demo.example)")
        if not tenant.role_attributes and not group_policy.rules(tenant):
            tenants.update_settings(tenant, role_attributes=["groups"], group_sync="first-login")
            for attribute, value, group, priority in DEMO_RULES:
                group_policy.add_rule(tenant, attribute, value, group, priority=priority)
            print("mapped the dev IdP's 'groups' to demo's groups (group sync: first-login)")
        idp = tenant.identity_provider
        if idp is None or idp.metadata_xml != metadata.decode():
            versions.import_metadata(tenant, metadata, origin="cli", actor="cli", now=clock.utcnow())
            print("imported the development IdP's metadata into tenant 'demo'")


def main() -> None:
    os.chdir(ROOT)
    app = create_app()
    with app.app_context():
        upgrade(directory=str(ROOT / "migrations"))
    sp_base = app.config["SP_BASE_URL"]
    idp_env = {**os.environ, "DEVIDP_SP_BASE_URL": sp_base}
    idp_app = devidp.create_app({"SP_BASE_URL": sp_base})
    seed(app, idp_app.test_client().get("/metadata").data)

    idp = subprocess.Popen([sys.executable, "-m", "devidp"], env=idp_env)
    # `kill` (SIGTERM) must stop the IdP too, not orphan it on port 5001.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"\n  SP:              {sp_base}/login   (try alice@demo.example / demo)")
    print("  Development IdP: http://127.0.0.1:5001/portal   (IdP-initiated sign-in)\n")
    try:
        app.run(host="127.0.0.1", port=5000, debug=False, use_reloader=False)
    finally:
        idp.terminate()
        idp.wait(timeout=10)


if __name__ == "__main__":
    main()
