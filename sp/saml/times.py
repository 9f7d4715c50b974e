"""SAML times: xs:dateTime in UTC, read strictly; and clock differences in plain words."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sp import errors

_SAML_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z$")
# Years outside this range are nonsense in a SAML message and would overflow date arithmetic.
_YEARS = range(1970, 9000)


def parse_saml_time(value: str | None) -> datetime | None:
    """Parse a SAML dateTime (UTC, 'Z' suffix, any fraction of a second); None when absent.

    Raises SchemaInvalid for anything else.
    """
    if value is None:
        return None
    match = _SAML_TIME.match(value.strip())
    if not match:
        raise errors.SchemaInvalid(f"the time value {value[:64]!r} is not a UTC xs:dateTime")
    whole, fraction = match.groups()
    try:
        stamp = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise errors.SchemaInvalid(f"the time value {value[:64]!r} is not a real date and time") from None
    if stamp.year not in _YEARS:
        raise errors.SchemaInvalid(f"the time value {value[:64]!r} is out of range")
    if fraction:
        stamp += timedelta(microseconds=int(fraction[:6].ljust(6, "0")))
    return stamp


def describe_offset(seconds: float) -> str:
    """A duration as people say it: '45 seconds', '10 minutes'."""
    seconds = abs(seconds)
    if seconds >= 120:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds:.0f} seconds"


def clock_difference(issue_instant: str | None, now: datetime) -> float | None:
    """A message's IssueInstant minus our clock, in seconds (positive: the IdP is ahead); None if unreadable."""
    try:
        instant = parse_saml_time(issue_instant)
    except errors.SPError:
        return None
    return None if instant is None else round((instant - now).total_seconds(), 1)
