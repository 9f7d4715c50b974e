"""The SAML 2.0 service provider: create_app is the table of contents."""

from __future__ import annotations

from flask import Flask

from sp import cli, config, database
from sp.extensions import csrf, db, login_manager, migrate
from sp.web import admin, api, auth, ops, rate_limits, saml, security_headers, templating
from sp.web import errors as web_errors


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, CLI and error handlers."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(config.ROOT / "templates"),
        static_folder=str(config.ROOT / "static"),
    )
    config.load(app, test_config)

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    csrf.init_app(app)

    for blueprint in (auth.bp, saml.bp, api.bp, admin.bp, ops.bp):
        app.register_blueprint(blueprint)

    cli.register(app)
    web_errors.register(app)
    rate_limits.init_app(app)
    security_headers.init_app(app)
    templating.init_app(app)
    return app
