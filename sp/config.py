"""Configuration: layered defaults, then the environment, then test overrides.

Every setting ops tune is an environment variable of the same name, listed once in SETTINGS with
its default; the README's configuration table documents each (a test checks it lists them all).
A value that cannot be read stops the app at start with one line naming the variable.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent

DEFAULT_SP_BASE_URL = "http://127.0.0.1:5000"


class ConfigError(ValueError):
    """A setting's value cannot be used; the message names the variable."""


def _flag(value: str) -> bool:
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("use on/off (or 1/0, true/false, yes/no)")


def _positive_int(value: str) -> int:
    number = int(value.strip())
    if number <= 0:
        raise ValueError("must be a whole number above 0")
    return number


def _count(value: str) -> int:
    number = int(value.strip())
    if number < 0:
        raise ValueError("must be a whole number, 0 or more")
    return number


def _positive_float(value: str) -> float:
    number = float(value.strip())
    if not number > 0:
        raise ValueError("must be a number above 0")
    return number


def _text(value: str) -> str:
    return value.strip()


@dataclass(frozen=True)
class Setting:
    """One environment variable: its default (None: computed at start) and how to read it."""

    name: str
    default: Any
    parse: Callable[[str], Any] = _text


SETTINGS: tuple[Setting, ...] = (
    Setting("SP_BASE_URL", DEFAULT_SP_BASE_URL),
    Setting("SAML_SETTINGS_DIR", str(ROOT / "saml_settings")),
    Setting("SAML_SIGN_METADATA", False, _flag),
    Setting("SAML_PUBLISH_ENCRYPTION_CERT", False, _flag),
    # How long an AuthnRequest or LogoutRequest we sent stays answerable (the outstanding-request TTL).
    Setting("SAML_REQUEST_TTL_SECONDS", 600, _positive_int),
    # Oldest IssueInstant we accept (before clock skew); it also bounds the replay cache's memory.
    Setting("SAML_MAX_ASSERTION_AGE_SECONDS", 600, _positive_int),
    Setting("SAML_MAX_RESPONSE_BYTES", 256 * 1024, _positive_int),
    # Largest LogoutRequest/LogoutResponse we read, after inflating (a real one is a few KiB).
    Setting("SAML_MAX_LOGOUT_BYTES", 64 * 1024, _positive_int),
    Setting("SESSION_LIFETIME_SECONDS", 8 * 3600, _positive_int),
    Setting("MAX_CONTENT_LENGTH", 1024 * 1024, _positive_int),
    # IdP metadata: the largest aggregate we stream through (eduGAIN is about 100 MB).
    Setting("IDP_METADATA_MAX_BYTES", 256 * 1024 * 1024, _positive_int),
    # What the ops console takes as an upload or a paste: one IdP's metadata (aggregates: CLI or URL).
    Setting("OPS_METADATA_MAX_BYTES", 1024 * 1024, _positive_int),
    # Metadata URLs: private/loopback addresses are refused unless this is set.
    Setting("METADATA_FETCH_ALLOW_PRIVATE", False, _flag),
    Setting("METADATA_FETCH_TIMEOUT_SECONDS", 30.0, _positive_float),
    # Login traces older than this are purged (`flask saml purge` / `flask trace purge`).
    Setting("TRACE_RETENTION_DAYS", 30, _positive_int),
    # Operators: how long a console session lasts, and the lock-out after failed sign-ins.
    Setting("OPS_SESSION_LIFETIME_SECONDS", 8 * 3600, _positive_int),
    Setting("OPS_MAX_FAILED_SIGN_INS", 5, _positive_int),
    Setting("OPS_LOCKOUT_SECONDS", 15 * 60, _positive_int),
    # Rate limits per client IP (sp/web/rate_limits.py); memory:// counts per process, redis:// is shared.
    Setting("RATELIMIT_ENABLED", True, _flag),
    Setting("RATELIMIT_STORAGE_URI", "memory://"),
    Setting("RATELIMIT_LOGIN", "300 per minute"),
    Setting("RATELIMIT_ACS", "300 per minute"),
    # How many reverse proxies in front of us append to X-Forwarded-For (0: trust none of it).
    Setting("TRUSTED_PROXIES", 0, _count),
)
# Read from the environment too, but defaulted at start from the instance folder.
COMPUTED = ("DATABASE_URL", "SECRET_KEY")


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
        raise ConfigError(f"SP_BASE_URL must be an absolute http(s) URL, got {url!r}")
    return url.rstrip("/")


def database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Every setting in SETTINGS that env sets, read and checked; ConfigError names a bad one."""
    found: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = env.get(setting.name)
        if raw is None or raw.strip() == "":
            continue
        try:
            found[setting.name] = setting.parse(raw)
        except ValueError as error:
            raise ConfigError(f"{setting.name}={raw[:80]!r} cannot be used: {error}") from None
    return found


def load(app: Flask, test_config: dict | None) -> None:
    """Fill app.config from defaults, the environment and test overrides, in that order."""
    instance_path = Path(app.instance_path)
    env = os.environ
    config = app.config
    for setting in SETTINGS:
        config[setting.name] = setting.default
    config.update(from_environment(env))
    config["SQLALCHEMY_DATABASE_URI"] = env.get("DATABASE_URL") or f"sqlite:///{instance_path / 'sp.sqlite3'}"
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_pre_ping": True})
    config["RATELIMIT_KEY_PREFIX"] = "sp"
    config["RATELIMIT_HEADERS_ENABLED"] = True
    config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = True
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
