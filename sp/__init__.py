"""The SAML 2.0 service provider: create_app is the table of contents."""

from __future__ import annotations

from flask import Flask

from . import config, database, errors, rate_limits, security_headers, templating
from .extensions import csrf, db, login_manager, migrate


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, CLI and error handlers."""
    app = Flask(__name__, instance_relative_config=True, template_folder=str(config.ROOT / "templates"),
                static_folder=str(config.ROOT / "static"))
    config.load(app, test_config)

    db.init_app(app)
    database.init_app(app)
    migrate.init_app(app, db, directory=str(config.ROOT / "migrations"))
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    csrf.init_app(app)

    from .admin import bp as admin_bp
    from .api import bp as api_bp
    from .auth import bp as auth_bp
    from .ops import bp as ops_bp
    from .saml import bp as saml_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(saml_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(ops_bp)

    from . import cli

    cli.register(app)
    errors.register(app)
    rate_limits.init_app(app)
    security_headers.init_app(app)
    templating.init_app(app)
    return app
