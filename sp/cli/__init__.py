"""The `flask --app wsgi ...` commands ops scripts depend on. Names are a public interface."""

from __future__ import annotations

from flask import Flask

from sp.cli.idp import idp_cli
from sp.cli.mapping import mapping_cli
from sp.cli.ops import ops_cli
from sp.cli.saml import saml_cli
from sp.cli.tenants import group_cli, tenant_cli, user_cli
from sp.cli.traces import trace_cli


def register(app: Flask) -> None:
    """Attach the command groups to the app's `flask` CLI."""
    for group in (tenant_cli, group_cli, idp_cli, user_cli, saml_cli, mapping_cli, trace_cli, ops_cli):
        app.cli.add_command(group)
