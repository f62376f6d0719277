"""Refuses to run against a database whose schema is not the one this code knows."""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING

import psycopg

from greenhouse_queue.queries import query

if TYPE_CHECKING:
    from alembic.config import Config


class SchemaMismatch(RuntimeError):
    """The database is not migrated to the revision this code expects."""


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration, pointing at the migrations shipped in this package, so that
    migrating works from an installed wheel as from a checkout. ``url`` overrides
    DATABASE_URL (see migrations/env.py)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("greenhouse_queue.migrations")))
    config.attributes["database_url"] = url
    return config


@cache
def known_revisions() -> tuple[str, list[str]]:
    """(head, every revision from base to head) of migrations/."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
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
            "the database has no schema yet: run the migrations first (`producer migrate`)"
        )
    if current[0] == head:
        return
    if current[0] in revisions:
        raise SchemaMismatch(
            f"the database is at migration {current[0]}, older than this code's {head}: "
            "run `producer migrate`"
        )
    raise SchemaMismatch(
        f"the database is at migration {current[0]}, which this code does not know "
        f"(newest known: {head}); it was migrated by a newer version: upgrade this code"
    )


def upgrade(url: str | None = None, target: str = "head") -> None:
    """``alembic upgrade target`` against ``url`` (default: DATABASE_URL or the embedded
    server)."""
    from alembic import command

    command.upgrade(alembic_config(url), target)


def downgrade(url: str | None = None, target: str = "base") -> None:
    """``alembic downgrade target`` against ``url``."""
    from alembic import command

    command.downgrade(alembic_config(url), target)
