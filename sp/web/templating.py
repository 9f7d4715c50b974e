"""Jinja filters and helpers the console pages share: times, clock differences, certificate expiry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, request, url_for

from sp.clock import as_utc, utcnow

SOON_DAYS = 30


def when(value: datetime | str | None) -> str:
    """'2026-11-30 07:35 UTC', or an em dash for never."""
    if not value:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return f"{as_utc(value):%Y-%m-%d %H:%M} UTC"


def clock_difference(seconds: float | None) -> str:
    """How far the IdP's clock is from ours, in plain words."""
    if seconds is None:
        return "unknown"
    size = abs(seconds)
    # A second or two is the time the browser took to carry the message, not a clock problem.
    if size < 3:
        return "in step"
    amount = f"{size / 60:.0f} minutes" if size >= 120 else f"{size:.0f} seconds"
    return f"the IdP's clock is {amount} {'ahead of' if seconds > 0 else 'behind'} ours"


def certificate_state(certificate: dict, now: datetime | None = None) -> dict:
    """{'state': 'expired' | 'soon' | 'ok', 'days': n, 'not_after': datetime} for an IdP certificate."""
    now = now or utcnow()
    not_after = as_utc(datetime.fromisoformat(certificate["not_after"]))
    days = (not_after - now).days
    state = "expired" if not_after <= now else "soon" if days < SOON_DAYS else "ok"
    return {"state": state, "days": days, "not_after": not_after}


def soonest_expiry(certificates: list[dict], now: datetime | None = None) -> dict | None:
    """The state of the certificate that expires first, or None without certificates."""
    states = [certificate_state(c, now) for c in certificates or []]
    return min(states, key=lambda s: s["not_after"]) if states else None


def page_url(number: int) -> str:
    """This page's URL with its filters kept and another page number."""
    endpoint = request.endpoint
    assert endpoint is not None  # only pages (routed requests) render a pager
    # The URL's own variables win over a query parameter of the same name (?slug=x on /<slug>/).
    args: dict[str, Any] = {**request.args.to_dict(), "page": str(number), **(request.view_args or {})}
    return url_for(endpoint, **args)


def init_app(app: Flask) -> None:
    app.add_template_filter(when)
    app.add_template_filter(clock_difference)
    app.add_template_global(certificate_state)
    app.add_template_global(soonest_expiry)
    app.add_template_global(page_url)
