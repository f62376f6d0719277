"""Migration 0006 moves the long feature rows into vectors and back without losing a value.

Real rows: the stages run on the shipped sample and the real writer stores them (two
feature layouts, as after a re-run with another set); a few hand-made rows add the awkward
cases (a tsfresh name with quotes, -0.0, the smallest subnormal, huge values).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import psycopg

from greenhouse_queue.schema import alembic_config, downgrade, upgrade
from tests.test_feature_storage import FIRST_DAY, LONG, complete, only, run_days, with_features

# (job_id, site, feature, value); one job per (site, window, signal), as the writer leaves
# them, since a vector keeps one job_id (the latest, see the migration).
ODD_ROWS = [
    (1, "knudjepsen-afd3", 'fft_coefficient__attr_"abs"__coeff_3', -0.0),
    (1, "knudjepsen-afd3", "ratio_beyond_r_sigma__r_0.5", 5e-324),
    (3, "aarslev-celle5 ø", "maximum", 1.7976931348623157e308),
    (3, "aarslev-celle5 ø", "minimum", -1.7976931348623157e308),
]


def below_0006() -> str:
    """The revision migration 0006 follows (it is chained to whatever head it met)."""
    from alembic.script import ScriptDirectory

    down = ScriptDirectory.from_config(alembic_config()).get_revision("0006").down_revision
    assert isinstance(down, str)
    return down


def exact(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with each value as its exact bits (so -0.0 differs from 0.0)."""
    return [(*row[:-1], float(row[-1]).hex()) for row in rows]


def privileges(conn: psycopg.Connection, table: str) -> set[tuple[str, str]]:
    return set(
        conn.execute(
            "SELECT grantee, privilege_type FROM information_schema.role_table_grants"
            " WHERE table_name = %s AND grantee IN ('producer_role', 'consumer_role')",
            [table],
        ).fetchall()
    )


def test_feature_rows_migrate_into_vectors_and_back_value_for_value(sample_db_url: str) -> None:
    with psycopg.connect(sample_db_url, autocommit=True) as conn:
        long_grants = {
            ("producer_role", "SELECT"),
            *(("consumer_role", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")),
        }
        complete(conn, run_days(conn, FIRST_DAY, 3))
        # One day again with another set: a second layout, as migrations will meet.
        rerun = run_days(conn, FIRST_DAY + timedelta(days=1), 1)
        keep, renamed = ["mean", "median"], {"mean": "sum_values", "median": "root_mean_square"}
        complete(
            conn,
            [
                with_features(r, only(r.features, np.isin(r.features.feature, keep), renamed))
                for r in rerun
            ],
        )
        assert conn.execute("SELECT count(DISTINCT layout) FROM feature_vectors").fetchone() == (2,)
        dense = conn.execute(LONG).fetchall()
        assert len(dense) > 1000

    downgrade(sample_db_url, below_0006())
    with psycopg.connect(sample_db_url, autocommit=True) as conn:
        kinds = conn.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN"
            " ('features', 'feature_vectors', 'feature_layouts')"
        ).fetchall()
        assert kinds == [("features", "r")]
        assert exact(conn.execute(LONG).fetchall()) == exact(dense)
        assert privileges(conn, "features") == long_grants
        conn.execute(
            "INSERT INTO features (job_id, site, window_start, window_end, signal, feature, value)"
            " SELECT r.job_id, r.site, %s, %s, 'air_temp_c', r.feature, r.value"
            " FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::float8[])"
            "      AS r(job_id, site, feature, value)",
            [
                FIRST_DAY - timedelta(days=30),
                FIRST_DAY - timedelta(days=29),
                *(list(column) for column in zip(*ODD_ROWS, strict=True)),
            ],
        )
        long = conn.execute(LONG).fetchall()
        assert len(long) == len(dense) + len(ODD_ROWS)

    upgrade(sample_db_url)
    with psycopg.connect(sample_db_url, autocommit=True) as conn:
        assert exact(conn.execute(LONG).fetchall()) == exact(long)
        assert conn.execute("SELECT count(DISTINCT layout) FROM feature_layouts").fetchone() == (1,)
        vectors = conn.execute("SELECT count(*) FROM feature_vectors").fetchone()[0]
        assert vectors < len(long) / 10

    downgrade(sample_db_url, below_0006())
    with psycopg.connect(sample_db_url, autocommit=True) as conn:
        assert exact(conn.execute(LONG).fetchall()) == exact(long)
    upgrade(sample_db_url)


def test_an_empty_features_table_migrates_to_an_empty_view(db_url: str) -> None:
    downgrade(db_url, below_0006())
    upgrade(db_url)
    with psycopg.connect(db_url) as conn:
        assert conn.execute("SELECT count(*) FROM features").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM feature_layouts").fetchone() == (0,)
