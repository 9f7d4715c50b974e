"""Time-based one-time passwords (RFC 6238), the optional second factor of operators, with pyotp.

HMAC-SHA-1, 30-second steps and 6 digits: what every authenticator app speaks. (SHA-1 is fine
inside HMAC; it is refused only where collisions matter, in XML signatures.) pyotp computes the
codes; what it does not do is refuse a code used before, so we keep the last time step used
and accept only a newer one.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp

STEP_SECONDS = 30
DIGITS = 6
# Accept the code of the previous and the next step too: phones drift.
WINDOW = 1
ISSUER = "SAML SP ops"


def new_secret() -> str:
    """A random 160-bit secret, base32 as authenticator apps expect it."""
    return pyotp.random_base32(length=32)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def code_at(secret: str, step: int) -> str:
    """The code for one time step."""
    return _totp(secret).generate_otp(step)


def step_of(now: datetime) -> int:
    return _totp("A" * 16).timecode(now)


def matching_step(secret: str, code: str, now: datetime, last_used: int | None) -> int | None:
    """The time step whose code this is, if it is current and newer than the last one used."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = step_of(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if (last_used is None or step > last_used) and hmac.compare_digest(code_at(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, name: str, issuer: str = ISSUER) -> str:
    """The otpauth:// URI an authenticator app imports (as a QR code or typed in)."""
    return _totp(secret).provisioning_uri(name=name, issuer_name=issuer)
