"""The audit log is append-only and filterable by tenant, action, actor, target and day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sp.extensions import db
from sp.models import AuditEvent
from sp.records import audit

DAY = datetime(2026, 3, 14, 12, 0, tzinfo=UTC)


@pytest.fixture
def events(app, acme):
    with app.app_context():
        audit.record("user.login", actor="idp", target="alice@acme.example", now=DAY)
        audit.record("user.group_changed", actor="user:1", target="bob@acme.example", now=DAY + timedelta(days=1))
        audit.record("ops.signed_in", actor="ops:sam", target="ops:sam", now=DAY + timedelta(days=2))
        db.session.commit()


def test_written_events_cannot_be_changed_or_deleted(app, events):
    with app.app_context():
        event = db.session.scalars(db.select(AuditEvent)).first()
        event.actor = "someone else"
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.commit()
        db.session.rollback()
        db.session.delete(db.session.scalars(db.select(AuditEvent)).first())
        with pytest.raises(RuntimeError, match="append-only"):
            db.session.commit()


@pytest.mark.parametrize(
    "filters,expected",
    [
        (audit.Filters(action="user."), ["user.group_changed", "user.login"]),
        (audit.Filters(action="user.login"), ["user.login"]),
        (audit.Filters(actor="ops:sam"), ["ops.signed_in"]),
        (audit.Filters(target="BOB@"), ["user.group_changed"]),
        (audit.Filters(target_is="bob@acme.example"), ["user.group_changed"]),
        (audit.Filters(target_is="bob@acme"), []),
        (
            audit.Filters(since=DAY + timedelta(hours=12), until=DAY + timedelta(days=1, hours=12)),
            ["user.group_changed"],
        ),
        (audit.Filters(action="user%"), []),
    ],
)
def test_filters_narrow_the_log_newest_first(app, events, filters, expected):
    with app.app_context():
        found = [
            e.action for e in audit.search(filters) if e.action != "tenant.created" and not e.action.startswith("idp.")
        ]
    assert found == expected
