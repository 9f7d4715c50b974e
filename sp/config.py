"""Configuration: layered defaults, then the environment, then test overrides."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SP_BASE_URL = "http://127.0.0.1:5000"


def _instance_secret_key(instance_path: Path) -> str:
    """Return the development secret key kept under instance/, creating it once."""
    path = instance_path / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL: two processes starting at once must end up with the same key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def _normalise_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"SP_BASE_URL must be an absolute http(s) URL, got {url!r}")
    return url.rstrip("/")


def database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def load(app: Flask, test_config: dict | None) -> None:
    """Fill app.config from defaults, the environment and test overrides, in that order."""
    instance_path = Path(app.instance_path)
    env = os.environ
    config = app.config
    config.setdefault("SQLALCHEMY_DATABASE_URI", env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'sp.sqlite3'}")
    config.setdefault("SP_BASE_URL", env.get("SP_BASE_URL") or DEFAULT_SP_BASE_URL)
    config.setdefault("SAML_SETTINGS_DIR", env.get("SAML_SETTINGS_DIR") or str(ROOT / "saml_settings"))
    # How long an AuthnRequest we sent stays answerable.
    config.setdefault("SAML_REQUEST_TTL_SECONDS", 600)
    # Oldest IssueInstant we accept on an assertion (before clock skew).
    config.setdefault("SAML_MAX_ASSERTION_AGE_SECONDS", 600)
    config.setdefault("SAML_MAX_RESPONSE_BYTES", 256 * 1024)
    # Largest LogoutRequest/LogoutResponse we read, after inflating (a real one is a few KiB).
    config.setdefault("SAML_MAX_LOGOUT_BYTES", 64 * 1024)
    config.setdefault("SESSION_LIFETIME_SECONDS", 8 * 3600)
    # Flask's defaults already hold MAX_CONTENT_LENGTH (None: unlimited), so setdefault would keep that.
    if config.get("MAX_CONTENT_LENGTH") is None:
        config["MAX_CONTENT_LENGTH"] = int(env.get("MAX_CONTENT_LENGTH") or 1024 * 1024)
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    # IdP metadata: the largest aggregate we stream through (eduGAIN is about 100 MB).
    config.setdefault("IDP_METADATA_MAX_BYTES", int(env.get("IDP_METADATA_MAX_BYTES") or 256 * 1024 * 1024))
    # What the ops console takes as an upload or a paste: one IdP's metadata (aggregates: CLI or URL).
    config.setdefault("OPS_METADATA_MAX_BYTES", int(env.get("OPS_METADATA_MAX_BYTES") or 1024 * 1024))
    # Metadata URLs: private/loopback addresses are refused unless this is set.
    config.setdefault("METADATA_FETCH_ALLOW_PRIVATE", _flag(env.get("METADATA_FETCH_ALLOW_PRIVATE")))
    config.setdefault("METADATA_FETCH_TIMEOUT_SECONDS", float(env.get("METADATA_FETCH_TIMEOUT_SECONDS") or 30))
    # SP metadata: sign it; publish our certificate for encryption (off: we refuse encrypted assertions).
    config.setdefault("SAML_SIGN_METADATA", _flag(env.get("SAML_SIGN_METADATA")))
    config.setdefault("SAML_PUBLISH_ENCRYPTION_CERT", _flag(env.get("SAML_PUBLISH_ENCRYPTION_CERT")))
    # Login traces older than this are purged (`flask saml purge` / `flask trace purge`).
    config.setdefault("TRACE_RETENTION_DAYS", int(env.get("TRACE_RETENTION_DAYS") or 30))
    # Operators: how long a console session lasts, and the lock-out after failed sign-ins.
    config.setdefault("OPS_SESSION_LIFETIME_SECONDS", 8 * 3600)
    config.setdefault("OPS_MAX_FAILED_SIGN_INS", 5)
    config.setdefault("OPS_LOCKOUT_SECONDS", 15 * 60)
    # Rate limits per client IP (sp/rate_limits.py); memory:// counts per process, redis:// is shared.
    config.setdefault("RATELIMIT_ENABLED", env.get("RATELIMIT_ENABLED", "on").lower() not in ("0", "off", "false", "no"))
    config.setdefault("RATELIMIT_STORAGE_URI", env.get("RATELIMIT_STORAGE_URI") or "memory://")
    config.setdefault("RATELIMIT_LOGIN", env.get("RATELIMIT_LOGIN") or "300 per minute")
    config.setdefault("RATELIMIT_ACS", env.get("RATELIMIT_ACS") or "300 per minute")
    config.setdefault("RATELIMIT_KEY_PREFIX", "sp")
    config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    # How many reverse proxies in front of us append to X-Forwarded-For (0: trust none of it).
    config.setdefault("TRUSTED_PROXIES", int(env.get("TRUSTED_PROXIES") or 0))
    if test_config:
        config.update(test_config)
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = env.get("SECRET_KEY") or _instance_secret_key(instance_path)

    config["SQLALCHEMY_DATABASE_URI"] = database_url(config["SQLALCHEMY_DATABASE_URI"])
    config["SP_BASE_URL"] = _normalise_base_url(config["SP_BASE_URL"])
    https = config["SP_BASE_URL"].startswith("https://")
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    config["SESSION_COOKIE_SECURE"] = https
    config["SESSION_COOKIE_NAME"] = "__Host-sp_session" if https else "sp_session"
    config["REMEMBER_COOKIE_HTTPONLY"] = True
    config["REMEMBER_COOKIE_SECURE"] = https
    config["PREFERRED_URL_SCHEME"] = "https" if https else "http"
