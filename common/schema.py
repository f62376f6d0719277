"""Refuses to run against a database whose schema is not the one this code knows."""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import psycopg

from common.sql import query

REPO = Path(__file__).resolve().parent.parent


class SchemaMismatch(RuntimeError):
    """The database is not migrated to the revision this code expects."""


@cache
def known_revisions() -> tuple[str, list[str]]:
    """(head, every revision from base to head) of migrations/."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(Config(str(REPO / "alembic.ini")))
    revisions = [script.revision for script in scripts.walk_revisions()]
    return scripts.get_current_head() or "", revisions


def require_current(conn: psycopg.Connection) -> None:
    head, revisions = known_revisions()
    with conn.transaction():
        exists = conn.execute(query("session", "alembic_version_exists")).fetchone()
        current = (
            conn.execute(query("session", "alembic_version")).fetchone()
            if exists and exists[0]
            else None
        )
    if current is None:
        raise SchemaMismatch(
            "the database has no schema yet: run the migrations first "
            "(`alembic upgrade head` from the repository root, or `producer migrate`)"
        )
    if current[0] == head:
        return
    if current[0] in revisions:
        raise SchemaMismatch(
            f"the database is at migration {current[0]}, older than this code's {head}: "
            "run `alembic upgrade head` (or `producer migrate`)"
        )
    raise SchemaMismatch(
        f"the database is at migration {current[0]}, which this code does not know "
        f"(newest known: {head}); it was migrated by a newer version: upgrade this code"
    )


def upgrade(url: str, target: str = "head") -> None:
    """Runs ``alembic upgrade target`` against ``url`` in a process of its own, as a user
    would, so that this process's DATABASE_URL is left alone."""
    result = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", target],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"alembic upgrade {target} failed:\n{result.stderr}")
