"""Where a user may be sent after signing in: only a path on this site."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

MAX_LENGTH = 2048


def _is_local_path(value: str) -> bool:
    if not value.startswith("/") or value.startswith("//") or "\\" in value:
        return False
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return False
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc


def safe_next(value: str | None, default: str = "/") -> str:
    """Return value if it is a local path (no scheme, host, '//', backslash or control char), else default.

    The decoded form is checked too, so '/%2F%2Fevil.example' and '/%5Cevil' are refused even if
    something downstream decodes them once.
    """
    if not value or len(value) > MAX_LENGTH:
        return default
    if _is_local_path(value) and _is_local_path(unquote(value)):
        return value
    return default
