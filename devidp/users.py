"""The demo users the development IdP can sign in. Add entries to :data:`DEMO_USERS` to extend."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

#: The one password every demo user has. This is a development tool, not an identity store.
DEMO_PASSWORD = "demo"


@dataclass(frozen=True)
class DemoUser:
    """A demo identity and the SAML attributes released for it.

    Optional fields that are ``None`` are left out of the assertion entirely,
    so SPs can be tested against users that lack an attribute.
    """

    email: str
    display_name: str
    given_name: str | None = None
    surname: str | None = None
    groups: tuple[str, ...] | None = None

    def attributes(self) -> dict[str, list[str]]:
        """SAML attributes by name; every value is a list (``groups`` is multi-valued)."""
        candidates: dict[str, list[str] | None] = {
            "email": [self.email],
            "displayName": [self.display_name],
            "givenName": [self.given_name] if self.given_name is not None else None,
            "surname": [self.surname] if self.surname is not None else None,
            "groups": list(self.groups) if self.groups is not None else None,
        }
        return {name: values for name, values in candidates.items() if values is not None}


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser(
        email="alice@demo.example",
        display_name="Alice Admin",
        given_name="Alice",
        surname="Admin",
        groups=("sp-admins", "engineering"),
    ),
    DemoUser(
        email="bob@demo.example",
        display_name="Bob Builder",
        given_name="Bob",
        surname="Builder",
    ),
    DemoUser(
        email="carol@demo.example",
        display_name="Carol Contractor",
        groups=("contractors",),
    ),
)


def authenticate(username: str, password: str) -> DemoUser | None:
    """Return the demo user for ``username`` (an email, case-insensitive) if ``password`` is right."""
    wanted = username.strip().lower()
    user = next((candidate for candidate in DEMO_USERS if candidate.email == wanted), None)
    password_ok = hmac.compare_digest(password.encode("utf-8"), DEMO_PASSWORD.encode("utf-8"))
    return user if user is not None and password_ok else None
