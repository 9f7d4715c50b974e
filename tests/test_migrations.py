"""`flask db upgrade` works on an empty database and from every earlier schema, and matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from sp.extensions import db
from support.journeys import make_app


def _revisions(app) -> list[str]:
    config = app.extensions["migrate"].migrate.get_config()
    script = ScriptDirectory.from_config(config)
    return [r.revision for r in reversed(list(script.walk_revisions()))]


def test_upgrade_from_each_earlier_revision_and_back(tmp_path, settings_dir):
    app = make_app(f"sqlite:///{tmp_path / 'steps.sqlite3'}", settings_dir)
    with app.app_context():
        revisions = _revisions(app)
        for revision in revisions:
            upgrade(revision=revision)
        upgrade()
        downgrade(revision="base")
        upgrade()
        db.engine.dispose()


def test_the_migrated_schema_matches_the_models(app):
    # The session fixture built this database with `upgrade()` alone.
    with app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, db.metadata)
    assert differences == []
