"""The schema: migrations go up and down, and the queue's indexes exist."""

from __future__ import annotations

import psycopg

from greenhouse_queue.schema import downgrade
from tests.conftest import migrate


def table_names(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_upgrade_creates_the_queue_and_input_tables(db_url: str) -> None:
    assert {"jobs", "features", "readings", "weather", "spot_prices", "sites"} <= table_names(
        db_url
    )


def test_downgrade_to_base_removes_everything_and_upgrade_restores_it(db_url: str) -> None:
    downgrade(db_url, "base")
    assert table_names(db_url) == {"alembic_version"}
    migrate(db_url)
    assert "jobs" in table_names(db_url)


def test_live_statuses_have_partial_indexes(conn: psycopg.Connection) -> None:
    predicates = dict(
        conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'jobs'"
        ).fetchall()
    )
    assert "WHERE (status = 'queued'::text)" in predicates["jobs_queued_idx"]
    assert "WHERE (status = 'running'::text)" in predicates["jobs_running_lease_idx"]
