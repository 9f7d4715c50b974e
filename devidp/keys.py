"""The IdP's signing key and self-signed certificate, created on first start."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

log = logging.getLogger(__name__)

KEY_FILE = "idp-key.pem"
CERT_FILE = "idp-cert.pem"
CERT_VALIDITY = dt.timedelta(days=3650)
COMMON_NAME = "Development IdP"


@dataclass(frozen=True)
class Credentials:
    """A private key and the matching certificate the IdP signs with."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def certificate_pem(self) -> str:
        """The certificate in PEM form."""
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def certificate_b64(self) -> str:
        """The certificate as single-line base64 DER, as used in ``ds:X509Certificate``."""
        return base64.b64encode(self.certificate.public_bytes(serialization.Encoding.DER)).decode("ascii")


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` via a temporary file so readers never see a partial file."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _issue_certificate(private_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """Create a self-signed signing certificate for ``private_key``."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(private_key, hashes.SHA256())
    )


def _load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """Read an unencrypted PEM RSA private key."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"devidp: {path} is not an RSA private key")
    return key


def load_or_create_credentials(key_dir: Path) -> Credentials:
    """Load the key pair from ``key_dir``, creating whatever is missing.

    * key and certificate present: both are loaded and must match;
    * nothing present: a new RSA-2048 key and a 10-year self-signed certificate are written;
    * only the key present: a new certificate is issued for it;
    * only the certificate present: an error, since it is useless without its key.
    """
    key_path, cert_path = key_dir / KEY_FILE, key_dir / CERT_FILE
    if cert_path.exists() and not key_path.exists():
        raise RuntimeError(
            f"devidp: {cert_path} exists but {key_path} does not; delete the certificate or restore the key"
        )
    key_dir.mkdir(parents=True, exist_ok=True)

    if key_path.exists():
        private_key = _load_private_key(key_path)
    else:
        log.info("generating a new signing key in %s", key_dir)
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_atomically(key_path, pem, 0o600)

    if cert_path.exists():
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
        if certificate.public_key() != private_key.public_key():
            raise RuntimeError(f"devidp: {cert_path} does not match {key_path}; delete both to start afresh")
    else:
        certificate = _issue_certificate(private_key)
        _write_atomically(cert_path, certificate.public_bytes(serialization.Encoding.PEM), 0o644)

    return Credentials(private_key=private_key, certificate=certificate)
