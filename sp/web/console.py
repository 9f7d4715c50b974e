"""What the admin and ops consoles share: paging, the trace and audit filters, the JSON-lines export."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from flask import Response, stream_with_context
from werkzeug.datastructures import MultiDict

from sp import errors
from sp.records import audit, traces

PAGE_SIZE = 50
MAX_PAGE = 1000


@dataclass(frozen=True)
class Page:
    number: int
    size: int = PAGE_SIZE

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def fetch(self) -> int:
        """Rows to ask for: one more than shown, to know whether there is a next page."""
        return self.size + 1

    def cut(self, rows: list) -> tuple[list, bool]:
        """The rows to show and whether an older page exists."""
        return rows[: self.size], len(rows) > self.size


def page_from(args: MultiDict) -> Page:
    number = args.get("page", 1, type=int) or 1
    return Page(min(max(number, 1), MAX_PAGE))


def _date(args: MultiDict, name: str) -> datetime | None:
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise errors.BadRequest(f"{name} must be a date like 2026-11-30, got {value[:40]!r}") from None
    return datetime.combine(day, time(0), tzinfo=UTC)


def audit_filters(args: MultiDict, tenant_id: int | None) -> tuple[audit.Filters, dict[str, str]]:
    """The audit filters from a query string (dates are whole UTC days, both ends included)."""
    until = _date(args, "until")
    filters = audit.Filters(
        tenant_id=tenant_id,
        action=(args.get("action") or "").strip() or None,
        actor=(args.get("actor") or "").strip() or None,
        target=(args.get("target") or "").strip() or None,
        since=_date(args, "since"),
        until=until + timedelta(days=1) if until else None,
    )
    shown = {key: (args.get(key) or "").strip() for key in ("action", "actor", "target", "since", "until")}
    return filters, shown


def trace_filters(args: MultiDict) -> dict[str, str]:
    """The trace filters from a query string, as typed (traces.search ignores unknown results)."""
    return {key: (args.get(key) or "").strip()[:512] for key in ("result", "code", "q", "ref")}


def search_traces(shown: dict[str, str], tenant_id: int | None, page: Page) -> tuple[list, bool]:
    """One page of traces matching the filters (tenant_id None: every tenant), and whether more exist."""
    rows = traces.search(
        tenant_id=tenant_id,
        result=shown["result"] or None,
        code=shown["code"] or None,
        name_id=shown["q"] or None,
        limit=page.fetch,
        offset=page.offset,
    )
    return page.cut(rows)


def jsonl_download(rows, filename: str) -> Response:
    """Stream dicts as JSON lines, as a download."""

    def lines():
        for row in rows:
            yield json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n"

    response = Response(stream_with_context(lines()), mimetype="application/jsonl")
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response
