"""Connections: the server from DATABASE_URL, or the embedded one when it is unset."""

from __future__ import annotations

import os
import re
import sys

import psycopg

MASK = "***"
_PASSWORD_IN_URL = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)@", re.I)
_PASSWORD_IN_DSN = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)


class DatabaseUnavailable(RuntimeError):
    """The database could not be reached; the message says which one and what to try."""


def mask_url(text: str) -> str:
    """``text`` with any password in a URL or key=value DSN replaced by ***."""
    text = _PASSWORD_IN_URL.sub(lambda m: f"{m['head']}{MASK}@", text)
    return _PASSWORD_IN_DSN.sub(lambda m: f"{m['head']}{MASK}", text)


def database_url(*, announce: bool = True) -> str:
    """DATABASE_URL, or the URL of the embedded server (started on first use)."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from greenhouse_queue import embedded

    url = embedded.ensure_running()
    if announce:
        print(
            f"DATABASE_URL is not set: using the embedded PostgreSQL at {url}",
            f'  (psql "{url}"; export DATABASE_URL={url} to reuse it)',
            sep="\n",
            file=sys.stderr,
        )
    return url


def connect(url: str, *, autocommit: bool = False, timeout: float = 10) -> psycopg.Connection:
    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(timeout)))
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(
            f"cannot connect to {mask_url(url)}: {mask_url(str(error)).strip()}\n"
            "Check DATABASE_URL (host, port, user, database) and that the server is running."
        ) from error
