"""Settings of the development IdP: environment variables, overridable per app."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Tenant slugs as they appear in the SP's URLs (``/saml/<slug>/...``).
SLUG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")

DEFAULTS: dict[str, str] = {
    "BASE_URL": "http://127.0.0.1:5001",
    "SP_BASE_URL": "http://127.0.0.1:5000",
    "TENANTS": "demo",
    "KEY_DIR": "instance/devidp",
}

#: Keys read from ``DEVIDP_<KEY>`` environment variables.
SETTING_KEYS: tuple[str, ...] = ("BASE_URL", "SP_BASE_URL", "TENANTS", "KEY_DIR", "SECRET_KEY")


@dataclass(frozen=True)
class Settings:
    """Validated settings of one development IdP instance."""

    base_url: str
    sp_base_url: str
    tenants: tuple[str, ...]
    key_dir: Path
    secret_key: str | None

    @property
    def entity_id(self) -> str:
        """The IdP's entity ID, which is also the URL of its metadata."""
        return f"{self.base_url}/metadata"

    @property
    def sso_url(self) -> str:
        """The IdP's single sign-on endpoint (both bindings)."""
        return f"{self.base_url}/sso"

    @property
    def slo_url(self) -> str:
        """The IdP's single logout endpoint (HTTP-Redirect binding)."""
        return f"{self.base_url}/slo"

    def sp_entity_id(self, slug: str) -> str:
        """Entity ID of the SP for tenant ``slug``."""
        return f"{self.sp_base_url}/saml/{slug}/metadata"

    def sp_acs_url(self, slug: str) -> str:
        """Assertion Consumer Service URL of the SP for tenant ``slug``."""
        return f"{self.sp_base_url}/saml/{slug}/acs"

    def sp_sls_url(self, slug: str) -> str:
        """Single Logout Service URL of the SP for tenant ``slug``."""
        return f"{self.sp_base_url}/saml/{slug}/sls"

    def slug_for_sp_entity_id(self, entity_id: str) -> str | None:
        """Return the tenant slug encoded in an SP entity ID, or ``None`` if it is not one of ours."""
        prefix, suffix = f"{self.sp_base_url}/saml/", "/metadata"
        if not (entity_id.startswith(prefix) and entity_id.endswith(suffix)):
            return None
        slug = entity_id[len(prefix) : -len(suffix)]
        return slug if SLUG_PATTERN.fullmatch(slug) else None


def _clean_url(name: str, value: str) -> str:
    """Strip a trailing slash and check that ``value`` is an absolute http(s) URL."""
    value = value.strip().rstrip("/")
    if not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", value):
        raise ValueError(f"devidp: {name} must be an absolute http(s) URL without query, got {value!r}")
    return value


def _clean_tenants(value: str | Iterable[str]) -> tuple[str, ...]:
    """Turn a comma-separated string or an iterable of slugs into a tuple of valid slugs."""
    items = value.split(",") if isinstance(value, str) else list(value)
    slugs = tuple(dict.fromkeys(item.strip() for item in items if item.strip()))
    bad = [slug for slug in slugs if not SLUG_PATTERN.fullmatch(slug)]
    if bad or not slugs:
        raise ValueError(f"devidp: TENANTS must be a non-empty list of slugs, got {value!r}")
    return slugs


def load_settings(overrides: Mapping[str, Any] | None = None) -> Settings:
    """Build :class:`Settings` from ``DEVIDP_*`` environment variables and ``overrides``.

    ``overrides`` uses the same keys without the prefix (``BASE_URL``, ``TENANTS``, ...)
    and wins over the environment.
    """
    raw: dict[str, Any] = dict(DEFAULTS)
    for key in SETTING_KEYS:
        env_value = os.environ.get(f"DEVIDP_{key}")
        if env_value:
            raw[key] = env_value
    for key in SETTING_KEYS:
        if overrides is not None and overrides.get(key) is not None:
            raw[key] = overrides[key]
    return Settings(
        base_url=_clean_url("BASE_URL", str(raw["BASE_URL"])),
        sp_base_url=_clean_url("SP_BASE_URL", str(raw["SP_BASE_URL"])),
        tenants=_clean_tenants(raw["TENANTS"]),
        key_dir=Path(raw["KEY_DIR"]),
        secret_key=str(raw["SECRET_KEY"]) if raw.get("SECRET_KEY") else None,
    )
