"""X.509 certificates as SAML carries them: PEM and base64 DER, SHA-256 fingerprints, expiry."""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography import x509


def fingerprint(der: bytes) -> str:
    """SHA-256 fingerprint as ops tools print it: AB:CD:..."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def pem_to_der(pem: str) -> bytes:
    """The DER bytes of a PEM certificate."""
    return base64.b64decode("".join(line for line in pem.splitlines() if line and not line.startswith("-----")))


def pem_fingerprint(pem: str) -> str:
    return fingerprint(pem_to_der(pem))


def der_from_base64(text: str) -> bytes | None:
    """The DER bytes of a ds:X509Certificate's text, or None when it is not base64."""
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def pem_from_base64(body: str) -> str:
    """A PEM certificate from the base64 text of a ds:X509Certificate (whitespace removed)."""
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


def describe(pem: str) -> str:
    """'AB:CD:... (expires 2027-01-31)', or just the fingerprint when the certificate cannot be read."""
    der = pem_to_der(pem)
    try:
        expires = x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:
        return fingerprint(der)
    return f"{fingerprint(der)} (expires {expires:%Y-%m-%d})"
