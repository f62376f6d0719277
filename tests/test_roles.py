"""Least-privilege roles (migration 0003): each role can do its job and nothing else.

Each test logs in as a fresh LOGIN user that is a member of producer_role or
consumer_role, so what it may do comes from the migration's grants alone.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import pytest
from psycopg import errors, sql

from greenhouse_queue import queue
from greenhouse_queue.consumer import copy_binary
from greenhouse_queue.consumer.stages.times import utc_seconds
from greenhouse_queue.db import mask_url
from greenhouse_queue.queries import query
from tests.chaos.conftest import sample_start
from tests.conftest import CONSUMER, PRODUCER, REPO, with_database

PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def role_urls(db_url: str) -> Iterator[dict[str, str]]:
    """URLs that log in to the test database as a producer_role and a consumer_role member."""
    users = {role: f"{role.split('_')[0]}_{uuid.uuid4().hex[:8]}" for role in ROLES}
    with psycopg.connect(db_url, autocommit=True) as admin:
        for role, user in users.items():
            admin.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {} IN ROLE {}").format(
                    sql.Identifier(user), sql.Literal(PASSWORD), sql.Identifier(role)
                )
            )
    yield {
        role: psycopg.conninfo.make_conninfo(db_url, user=user, password=PASSWORD)
        for role, user in users.items()
    }
    with psycopg.connect(db_url, autocommit=True) as admin:
        for user in users.values():
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(user)))


ROLES = ("producer_role", "consumer_role")
DAY = datetime(2015, 9, 7, tzinfo=UTC)
END = DAY + timedelta(days=1)


def test_the_roles_are_group_roles_without_special_powers(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT rolname, rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls "
        "FROM pg_roles WHERE rolname = ANY(%s) ORDER BY rolname",
        [list(ROLES)],
    ).fetchall()
    assert rows == [
        ("consumer_role", False, False, False, False, False),
        ("producer_role", False, False, False, False, False),
    ]


def test_the_producer_loads_raw_data_enqueues_cancels_retries_and_reads(
    role_urls: dict[str, str],
) -> None:
    with psycopg.connect(role_urls["producer_role"]) as conn:
        with conn.transaction():
            conn.execute(
                query("load", "insert_site"),
                {"site": "knudjepsen-afd3", "location": "knudjepsen", "price_area": "DK1"},
            )
            conn.execute(
                "INSERT INTO readings (site, time, signal, value) VALUES (%s, %s, %s, %s)",
                ["knudjepsen-afd3", DAY, "air_temp_c", 21.5],
            )
            conn.execute(
                "INSERT INTO weather (location, time, signal, value) VALUES (%s, %s, %s, %s)",
                ["knudjepsen", DAY, "outside_temp_c", 12.0],
            )
            conn.execute(
                "INSERT INTO spot_prices (price_area, hour_utc, price_dkk_mwh, price_eur_mwh) "
                "VALUES (%s, %s, %s, %s)",
                ["DK1", DAY, 300.0, 40.0],
            )
        windows = [(DAY + timedelta(days=i), DAY + timedelta(days=i + 1)) for i in range(3)]
        assert queue.enqueue(conn, windows, max_attempts=1).added == 3
        assert queue.cancel(conn, DAY, DAY + timedelta(days=1)) == 1
        with conn.transaction():
            conn.execute(query("queue", "status_counts")).fetchall()
            conn.execute(query("queue", "feature_counts")).fetchall()
            conn.execute("SELECT * FROM features, feature_vectors, feature_layouts LIMIT 1")
            (wide,) = conn.execute(
                "SELECT features_wide_query(%s, %s)", [["air_temp_c"], ["mean"]]
            ).fetchone()
            conn.execute(wide).fetchall()
        with psycopg.connect(role_urls["consumer_role"]) as consumer:
            (job,) = queue.claim(consumer, worker="w", batch=1, lease_seconds=30, device="cpu")
            failed = queue.record_failure(
                consumer, worker="w", job=job, stage="features", error="boom", backoff_seconds=0
            )
            assert failed == "failed"
        assert queue.retry_failed(conn, DAY, DAY + timedelta(days=3)) == 1


def test_the_producer_records_sources_settles_conflicts_and_replaces_values(
    role_urls: dict[str, str],
) -> None:
    from greenhouse_queue.producer.load import load_files
    from greenhouse_queue.producer.provenance import rejected_signals, render_sources
    from tests.test_provenance import CLIMATE, EXTRA

    with psycopg.connect(role_urls["producer_role"]) as conn:
        conflicting = load_files(conn, [CLIMATE, EXTRA])[1]
        replaced = load_files(conn, [EXTRA], replace=True)[0]
        assert (conflicting.conflicts, replaced.rows_changed) == (227, 227)
        with conn.transaction():
            assert "NO3NO4.extra.csv" in render_sources(conn)
            assert "co2_ppm at knudjepsen-afd3" in "\n".join(rejected_signals(conn))


def test_the_consumer_claims_heartbeats_completes_and_writes_outputs(
    role_urls: dict[str, str], db_url: str
) -> None:
    with psycopg.connect(db_url) as admin:
        queue.enqueue(admin, [(DAY, DAY + timedelta(days=1))])
    with psycopg.connect(role_urls["consumer_role"]) as conn:
        with conn.transaction():
            conn.execute("SELECT * FROM readings, weather, spot_prices, sites LIMIT 1")
        (job,) = queue.claim(conn, worker="w", batch=1, lease_seconds=30, device="cpu")
        assert queue.heartbeat(conn, worker="w", jobs=[job], lease_seconds=30) == {job.id}

        def write(c: psycopg.Connection, owned: set[int]) -> None:
            c.execute(query("results", "create_staging"))
            window = {"first": DAY, "last": END, "starts": [DAY], "ends": [END]}
            c.execute(
                query("results", "delete_feature_vectors"), {**window, "sites": ["knudjepsen-afd3"]}
            )
            wanted = {"features": ["mean"], "slack": 0}
            assert c.execute(query("results", "find_feature_layout"), wanted).fetchone() is None
            c.execute(query("results", "lock_feature_layouts"))
            (layout,) = c.execute(query("results", "add_feature_layout"), wanted).fetchone()
            with c.cursor().copy(query("results", "copy_feature_vectors")) as copy:
                copy.write(copy_binary.HEADER)
                copy.write(
                    copy_binary.varied_rows(
                        [
                            ("int8", [job.id]),
                            ("text", ["knudjepsen-afd3"]),
                            ("timestamptz", copy_binary.timestamptz(np.array([utc_seconds(DAY)]))),
                            ("timestamptz", copy_binary.timestamptz(np.array([utc_seconds(END)]))),
                            ("text", ["air_temp_c"]),
                            ("int4", [layout]),
                            ("float8[]", [[21.5]]),
                        ]
                    )
                )
                copy.write(copy_binary.TRAILER)
            c.execute(query("results", "upsert_resampled"))
            c.execute(query("results", "delete_changepoints"), {"ids": sorted(owned)})
            c.execute(query("results", "insert_changepoints"))

        owned = queue.complete(conn, worker="w", outcomes=[queue.Outcome(job)], write_results=write)
        assert owned == {job.id}
        with conn.transaction():
            assert conn.execute("SELECT count(*) FROM features").fetchone() == (1,)


FORBIDDEN = {
    "producer_role": [
        "UPDATE jobs SET worker = 'me', lease_expires_at = now()",
        "DELETE FROM jobs",
        "INSERT INTO feature_vectors (job_id, site, window_start, window_end, signal, layout, vals)"
        " VALUES (1, 's', now(), now(), 'x', 1, '{1}')",
        "DELETE FROM feature_vectors",
        "INSERT INTO feature_layouts (layout, position, feature) VALUES (1, 1, 'x')",
        "SELECT features_wide_view('sneaky', '{air_temp_c}', '{mean}')",
        "UPDATE readings SET time = now()",  # value and source_id only: conflicts, --replace
        "DELETE FROM readings",
        "DELETE FROM sources",
        "UPDATE source_signals SET rejected = 0",
        "DROP TABLE jobs",
        "ALTER TABLE jobs ADD COLUMN sneaky int",
        "TRUNCATE readings",
        "CREATE TABLE public.sneaky (i int)",
        "UPDATE alembic_version SET version_num = 'x'",
    ],
    "consumer_role": [
        "INSERT INTO jobs (window_start, window_end) VALUES (now(), now() + interval '1 h')",
        "DELETE FROM jobs",
        "INSERT INTO readings (site, time, signal, value) VALUES ('s', now(), 'x', 1)",
        "UPDATE readings SET value = 0",
        "DELETE FROM weather",
        "INSERT INTO sites (site, location) VALUES ('s', 'l')",
        "INSERT INTO sources (name, sha256, size, format) VALUES ('f', 'x', 1, 'elspot')",
        "DELETE FROM conflicts",
        "DROP VIEW features",
        "CREATE OR REPLACE VIEW features AS SELECT 1 AS sneaky",
        "DROP TABLE feature_vectors",
        "ALTER TABLE feature_vectors ADD COLUMN sneaky int",
        "UPDATE feature_vectors SET vals = '{}'",
        "UPDATE feature_layouts SET feature = 'x'",
        "DELETE FROM feature_layouts",
        "ALTER TABLE jobs DROP CONSTRAINT jobs_pkey",
        "TRUNCATE feature_vectors",
        "SELECT features_wide_view('sneaky', '{air_temp_c}', '{mean}')",
        "CREATE TABLE public.sneaky (i int)",
        "UPDATE alembic_version SET version_num = 'x'",
    ],
}


@pytest.mark.parametrize(
    ("role", "statement"),
    [(role, statement) for role, statements in FORBIDDEN.items() for statement in statements],
)
def test_each_role_is_refused_outside_its_job(
    role_urls: dict[str, str], role: str, statement: str
) -> None:
    with psycopg.connect(role_urls[role]) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def test_the_clis_run_as_the_roles_and_never_print_the_password(
    role_urls: dict[str, str], sample_db_url: str
) -> None:
    """End to end: the producer enqueues and the consumer drains, as least-privilege
    users whose URLs carry a password; no output shows it, the masked URL is logged."""
    sample_db = psycopg.conninfo.conninfo_to_dict(sample_db_url)["dbname"]
    urls = {role: _as_url(with_database(url, str(sample_db))) for role, url in role_urls.items()}
    # role_urls made the users; they are cluster-wide, so they work in the sample database.
    env = {**os.environ, "LEASE_SECONDS": "3", "HEARTBEAT_SECONDS": "1", "POLL_SECONDS": "0.5"}
    env.pop("CONSUMER_STAGE_DELAY", None)
    env.pop("CONSUMER_FAULT_INJECT", None)
    first = sample_start(sample_db_url)

    producer = subprocess.run(
        [
            *PRODUCER,
            "enqueue",
            "--from",
            str(first),
            "--to",
            str(first),
        ],
        env={**env, "DATABASE_URL": urls["producer_role"]},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert producer.returncode == 0, producer.stderr
    consumer = subprocess.run(
        [
            *CONSUMER,
            "run",
            "--drain",
            "--device",
            "cpu",
        ],
        env={**env, "DATABASE_URL": urls["consumer_role"]},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert consumer.returncode == 0, consumer.stderr
    output = producer.stdout + producer.stderr + consumer.stdout + consumer.stderr
    assert PASSWORD not in output
    assert ":***@" in consumer.stderr  # the worker's start line names the masked URL
    with psycopg.connect(sample_db_url) as conn:
        statuses = conn.execute("SELECT DISTINCT status FROM jobs").fetchall()
        features = conn.execute("SELECT count(*) FROM features").fetchone()
    assert statuses == [("done",)]
    assert features is not None and features[0] > 0


def _as_url(conninfo: str) -> str:
    """A postgresql:// URL (with the password in it) for a key=value conninfo."""
    p = psycopg.conninfo.conninfo_to_dict(conninfo)
    return (
        f"postgresql://{p['user']}:{p['password']}@{p.get('host', '127.0.0.1')}:"
        f"{p.get('port', 5432)}/{p['dbname']}"
    )


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://app:hunter2@db:5432/gh", "postgresql://app:***@db:5432/gh"),
        ("postgres://app:p%40ss:w0rd@db/gh", "postgres://app:***@db/gh"),
        ("postgresql://app@db/gh", "postgresql://app@db/gh"),
        ("host=db user=app password=hunter2 dbname=gh", "host=db user=app password=*** dbname=gh"),
        ("password='two words' host=db", "password=*** host=db"),
        (
            "cannot connect to postgresql://u:pw@h/d: connection refused",
            "cannot connect to postgresql://u:***@h/d: connection refused",
        ),
    ],
)
def test_mask_url_hides_every_password(text: str, masked: str) -> None:
    assert mask_url(text) == masked


def test_consumers_refresh_the_shared_gauges_and_producers_read_the_queue(
    role_urls: dict[str, str], db_url: str
) -> None:
    from greenhouse_queue.consumer.metrics import SharedGauges
    from greenhouse_queue.producer import snapshot

    with psycopg.connect(db_url) as admin:
        queue.enqueue(admin, [(DAY, DAY + timedelta(days=1))])
    families = list(SharedGauges(role_urls["consumer_role"], refresh_seconds=0).collect())
    queued = [s for f in families for s in f.samples if s.labels.get("state") == "queued"]
    assert [s.value for s in queued] == [1.0]
    with psycopg.connect(role_urls["producer_role"]) as conn:
        assert snapshot.take(conn).counts.queued == 1
        conn.execute(query("observe", "read_gauges")).fetchone()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(query("observe", "refresh_gauges"), {"max_age": 0})
