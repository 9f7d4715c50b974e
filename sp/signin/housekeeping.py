"""Forget what can no longer matter: expired requests, expired replay-cache entries, old login traces."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sp.extensions import db
from sp.records import traces
from sp.signin import outstanding, replay


@dataclass(frozen=True)
class Purged:
    requests: int
    replay_entries: int
    traces: int


def purge(now: datetime, trace_retention_days: int) -> Purged:
    """Delete expired outstanding requests and replay entries, and traces past their retention; commits."""
    done = Purged(outstanding.purge(now), replay.purge(now), traces.purge(now, trace_retention_days))
    db.session.commit()
    return done


def purge_traces(now: datetime, trace_retention_days: int) -> int:
    """Delete traces past their retention; commits. Returns how many."""
    gone = traces.purge(now, trace_retention_days)
    db.session.commit()
    return gone
