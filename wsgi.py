"""WSGI entry point: `flask --app wsgi ...` and any WSGI server use `app`."""

from sp import create_app

app = create_app()
