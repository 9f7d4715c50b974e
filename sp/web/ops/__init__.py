"""The ops console (/ops): our operators' view of every tenant, trace and audit event.

Operators sign in with local accounts (`flask --app wsgi ops create-user NAME`), kept under a
session key of their own: an operator is not a tenant user and gets no tenant session.
"""

from sp.web.ops import metadata, views  # noqa: F401  (their routes attach themselves to bp)
from sp.web.ops.blueprint import bp

__all__ = ["bp"]
