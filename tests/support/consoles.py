"""Signing people in for the console tests: tenant users through the ACS."""

from __future__ import annotations

import re

from .journeys import post_acs


def sign_in(client, builder, email: str, **changes) -> None:
    """Sign email in to the builder's tenant with an IdP-initiated response."""
    landed = post_acs(client, builder.slug, builder.b64(name_id=email, attributes={"email": [email]}, **changes))
    assert landed.status_code == 303, landed.data


def ref_on(page: bytes) -> str:
    """The trace reference an error page shows."""
    match = re.search(rb"Reference: <code>([a-z0-9]+)</code>", page)
    assert match, page
    return match.group(1).decode()
