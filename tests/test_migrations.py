"""`flask db upgrade` works on an empty database and from every earlier schema, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from sp.extensions import db
from support.journeys import make_app


def _revisions(app) -> list[str]:
    config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def _current(app) -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_upgrade_from_each_earlier_revision_and_back(tmp_path, settings_dir):
    app = make_app(f"sqlite:///{tmp_path / 'steps.sqlite3'}", settings_dir)
    with app.app_context():
        revisions = _revisions(app)
        assert _tables() == set()
        seen: set[str] = set()
        for revision in revisions:
            upgrade(revision=revision)
            assert _current(app) == revision
            # Each step leaves every table of the step before (nothing is lost on the way up).
            assert seen <= _tables()
            seen = _tables()
        upgrade()
        assert _current(app) == revisions[-1]
        assert _tables() == set(db.metadata.tables)
        downgrade(revision="base")
        assert _current(app) is None and _tables() == set()
        upgrade()
        assert _tables() == set(db.metadata.tables)
        db.engine.dispose()


def test_the_migrated_schema_matches_the_models(app):
    # The session fixture built this database with `upgrade()` alone.
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []
