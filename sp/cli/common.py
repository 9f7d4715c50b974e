"""Shared helpers of the `flask` commands: refusals become one line and exit status 1."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from sp import errors
from sp.extensions import db


def fail(message: str) -> NoReturn:
    """Print message as a one-line error and exit with status 1."""
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def refusals_exit_cleanly(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a refusal into a one-line message and exit status 1, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except errors.SPError as error:
            db.session.rollback()
            fail(error.reason)

    return wrapper


def on_off(value: str | None) -> bool | None:
    """'on' -> True, 'off' -> False, None -> None (option not given)."""
    return None if value is None else value == "on"
