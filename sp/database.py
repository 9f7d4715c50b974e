"""Database connection tuning that the models should not need to know about."""

from __future__ import annotations

from typing import Any, cast

from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Engine, Result

from sp.extensions import db


def _tune_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed while one instance writes; busy_timeout makes writers queue
    # instead of failing at once when several processes log users in together.
    cursor.execute("PRAGMA journal_mode=WAL")
    # In WAL mode NORMAL never corrupts the database; it may lose the last commits on power loss.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def init_app(app: Flask) -> None:
    """Install per-connection settings on the app's engine."""
    with app.app_context():
        engine: Engine = db.engine
        if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _tune_sqlite):
            event.listen(engine, "connect", _tune_sqlite)


def ping() -> bool:
    """True when the database answers a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        db.session.rollback()
        return False
    return True


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE matched.

    Session.execute is typed to return a Result, but for a DML statement it is a CursorResult,
    the class that carries rowcount.
    """
    return cast(CursorResult[Any], result).rowcount
