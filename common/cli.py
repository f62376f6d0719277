"""What both command-line tools share: turning known failures into one clear line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from greenhouse_queue.db import DatabaseUnavailable, mask_url
from greenhouse_queue.schema import SchemaMismatch

USAGE_ERROR = 2
RUNTIME_ERROR = 1
DATABASE_URL_HELP = (
    "Every command connects to DATABASE_URL (a libpq URL such as "
    "postgresql://user:password@host:5432/dbname). When it is unset, an embedded "
    "PostgreSQL server is started (and reused) under ~/.local/state/greenhouse-queue; "
    "`producer db url` prints its URL."
)


class UsageError(ValueError):
    """A bad option value: the message says which option and what it should be."""


def run_command(program: str, command: Callable[[], int]) -> int:
    """Runs a subcommand; known failures print ``program: error: ...`` and exit non-zero."""
    try:
        return command()
    except UsageError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (DatabaseUnavailable, SchemaMismatch, FileNotFoundError, PermissionError) as error:
        print(f"{program}: error: {mask_url(str(error))}", file=sys.stderr)
        return RUNTIME_ERROR
    except KeyboardInterrupt:
        return 130


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value
