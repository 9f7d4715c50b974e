"""Time-based one-time passwords (RFC 6238), the optional second factor of operators.

HMAC-SHA-1, 30-second steps and 6 digits: what every authenticator app speaks. (SHA-1 is fine
inside HMAC; it is refused only where collisions matter, in XML signatures.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime
from urllib.parse import quote

STEP_SECONDS = 30
DIGITS = 6
# Accept the code of the previous and the next step too: phones drift.
WINDOW = 1


def new_secret() -> str:
    """A random 160-bit secret, base32 as authenticator apps expect it."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def code_at(secret: str, step: int) -> str:
    """The code for one time step."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    mac = hmac.new(key, step.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    value = int.from_bytes(mac[offset:offset + 4], "big") & 0x7FFFFFFF
    return f"{value % 10 ** DIGITS:0{DIGITS}d}"


def step_of(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


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


def provisioning_uri(secret: str, name: str, issuer: str = "SAML SP ops") -> str:
    """The otpauth:// URI an authenticator app imports (as a QR code or typed in)."""
    label = quote(f"{issuer}:{name}")
    return f"otpauth://totp/{label}?secret={secret}&issuer={quote(issuer)}&digits={DIGITS}&period={STEP_SECONDS}"
