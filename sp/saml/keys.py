"""The SP's key pair under saml_settings/: generated on first use, never committed."""

from __future__ import annotations

import datetime
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_FILE = "sp.key"
CERT_FILE = "sp.crt"
# Published in metadata ahead of a rollover when present; see the README.
NEXT_CERT_FILE = "sp-next.crt"


@dataclass(frozen=True)
class SpKeyPair:
    key_pem: str
    cert_pem: str
    next_cert_pem: str | None


def _generate(common_name: str) -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def _write_once(path: Path, data: bytes, mode: int) -> bool:
    """Create path with data unless it exists; True when this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    return True


@lru_cache(maxsize=8)
def load_or_create(directory: str, base_url: str) -> SpKeyPair:
    """Read the SP key pair from directory, generating it on first use (safe across processes)."""
    folder = Path(directory)
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    if not key_path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        key_pem, cert_pem = _generate(f"SAML SP {urlsplit(base_url).hostname}")
        # Whoever creates the key writes the certificate; the others wait for it below.
        if _write_once(key_path, key_pem, 0o600):
            partial = cert_path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(cert_pem)
            partial.replace(cert_path)
    deadline = time.monotonic() + 10
    while not cert_path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    next_path = folder / NEXT_CERT_FILE
    return SpKeyPair(
        key_pem=key_path.read_text(),
        cert_pem=cert_path.read_text(),
        next_cert_pem=next_path.read_text() if next_path.exists() else None,
    )
