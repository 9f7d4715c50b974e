"""The tenant admin console (/admin): one tenant's users, groups, SSO settings, traces and audit log.

Only for signed-in users whose group has the `admin` permission, and only ever about their own
tenant: every query is scoped to `current_user.user.tenant_id`, so another tenant's ids in a URL
or a form find nothing (404).
"""

from sp.web.admin import mapping, views  # noqa: F401  (their routes attach themselves to bp)
from sp.web.admin.blueprint import bp

__all__ = ["bp"]
