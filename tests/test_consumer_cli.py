"""``consumer run`` as users run it: real processes, a real database, the shipped sample."""

from __future__ import annotations

import re
import signal
import subprocess
import time

import psycopg
import pytest
from psycopg import sql

from tests.conftest import CONSUMER, PRODUCER, REPO, SAMPLE

KNUDJEPSEN_DAYS = ("2016-01-20", "2016-01-23")
# The UTC days the shipped sample covers, as the demo enqueues them.
SAMPLE_RANGES = re.findall(r"(\d{4}-\d\d-\d\d) (\d{4}-\d\d-\d\d)", (SAMPLE / "RANGES").read_text())


def producer(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PRODUCER, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def start_consumer(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CONSUMER, "run", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def wait_until_listening(url: str, timeout: float = 60) -> None:
    """Until a consumer's connection has run LISTEN: it then waits for work, its signal
    handlers installed (however slowly a loaded machine started it)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while not conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND query ILIKE 'LISTEN%%'"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the consumer never started waiting for work"
            time.sleep(0.1)


def jobs(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT status, attempts, worker, device, stage_seconds FROM jobs ORDER BY id"
        ).fetchall()


@pytest.fixture
def env(cli_env: dict[str, str], sample_db_url: str) -> dict[str, str]:
    return {**cli_env, "DATABASE_URL": sample_db_url}


def enqueue(env: dict[str, str], first: str, last: str, *extra: str) -> None:
    result = producer(env, "enqueue", "--from", first, "--to", last, *extra)
    assert result.returncode == 0, result.stderr


def test_drain_processes_every_window_then_exits_0(env: dict[str, str]) -> None:
    enqueue(env, *KNUDJEPSEN_DAYS)
    code, output = finish(start_consumer(env, "--drain", "--device", "cpu", "--batch", "2"))
    assert code == 0, output
    rows = jobs(env["DATABASE_URL"])
    assert [status for status, *_ in rows] == ["done"] * 4
    assert {device for *_, device, _ in rows} == {"cpu"}
    for *_, stage_seconds in rows:
        assert {"read", "aggregate", "fill_gaps", "features", "eras"} <= set(stage_seconds)
    assert "nothing runnable is left" in output
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        recorded = conn.execute(
            "SELECT j.feature_set, j.feature_values, (SELECT count(*) FROM features f"
            " WHERE f.job_id = j.id) FROM jobs j ORDER BY id"
        ).fetchall()
    assert {feature_set for feature_set, *_ in recorded} == {"default"}
    assert all(values == written > 0 for _, values, written in recorded), recorded


def test_an_unknown_feature_set_is_refused_before_any_claim(env: dict[str, str]) -> None:
    enqueue(env, *KNUDJEPSEN_DAYS)
    process = start_consumer({**env, "FEATURE_SET": "everything"}, "--drain", "--device", "cpu")
    code, output = finish(process)
    assert code == 2, output
    assert "--feature-set 'everything' is not a feature set" in output
    assert {status for status, *_ in jobs(env["DATABASE_URL"])} == {"queued"}


def test_a_drained_sample_has_for_every_site_a_grid_features_changepoints_and_eras(
    env: dict[str, str],
) -> None:
    for first, last in SAMPLE_RANGES:
        enqueue(env, first, last)
    code, output = finish(start_consumer(env, "--drain", "--batch", "8"), timeout=300)
    assert code == 0, output
    every_site = {"knudjepsen-afd3", "knudjepsen-afd4", "aarslev-celle5"}
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        for table in ("resampled", "features", "changepoints", "eras"):
            count = psql_sites(conn, table)
            assert set(count) == every_site, f"{table}: {count}"
        windows = dict(
            conn.execute(
                "SELECT site, count(DISTINCT window_start) FROM features GROUP BY site"
            ).fetchall()
        )
    assert all(n >= 50 for n in windows.values()), windows  # 4 windows a day, 14 days


def psql_sites(conn: psycopg.Connection, table: str) -> dict[str, int]:
    query = sql.SQL("SELECT site, count(*) FROM {} GROUP BY site").format(sql.Identifier(table))
    return dict(conn.execute(query).fetchall())


def test_racing_consumers_process_each_window_exactly_once(env: dict[str, str]) -> None:
    enqueue(env, *KNUDJEPSEN_DAYS, "--window", "6h")
    racers = [
        start_consumer(env, "--drain", "--batch", "1", "--worker", f"racer-{n}") for n in range(3)
    ]
    for racer in racers:
        code, output = finish(racer)
        assert code == 0, output
    rows = jobs(env["DATABASE_URL"])
    assert len(rows) == 16
    assert all(status == "done" and attempts == 1 for status, attempts, *_ in rows)
    assert len({worker for _, _, worker, *_ in rows}) > 1, "one consumer took every job"
    with psycopg.connect(env["DATABASE_URL"]) as conn:  # they raced to add the first layout
        (layouts, distinct) = conn.execute(
            "SELECT count(*), count(DISTINCT features) FROM ("
            " SELECT array_agg(feature ORDER BY position) AS features"
            " FROM feature_layouts GROUP BY layout) AS l"
        ).fetchone()
    assert layouts == distinct > 0, "two consumers added the same layout"


def test_rerunning_a_window_gives_the_same_rows_not_duplicates(env: dict[str, str]) -> None:
    enqueue(env, *KNUDJEPSEN_DAYS)
    assert finish(start_consumer(env, "--drain"))[0] == 0
    url = env["DATABASE_URL"]
    features = "SELECT site, window_start, signal, feature, value FROM features ORDER BY 1, 2, 3, 4"
    resampled = "SELECT site, time, signal, value, filled FROM resampled ORDER BY 1, 2, 3"
    with psycopg.connect(url) as conn:
        before = conn.execute(features).fetchall(), conn.execute(resampled).fetchall()
        # Rows an earlier run wrote but this one no longer produces (code, data or feature
        # set changed): vectors of a retired signal, in a layout of retired features.
        conn.execute(
            "INSERT INTO feature_layouts (layout, position, feature)"
            " VALUES (1000, 1, 'retired_feature'), (1000, 2, 'mean')"
        )
        retired = conn.execute(
            "INSERT INTO feature_vectors"
            " (job_id, site, window_start, window_end, signal, layout, vals)"
            " SELECT job_id, site, window_start, window_end, 'retired_signal', 1000, '{1, 2}'"
            " FROM feature_vectors WHERE signal = 'air_temp_c'"
        )
        assert retired.rowcount > 0
        stale = conn.execute(  # Afd 4 logs no air temperature of its own
            "INSERT INTO resampled (job_id, site, time, signal, value, count, coverage, filled)"
            " SELECT job_id, 'knudjepsen-afd4', time, signal, 1, 1, 1, false FROM resampled"
            " WHERE site = 'knudjepsen-afd3' AND signal = 'air_temp_c'"
        )
        assert stale.rowcount > 0
        conn.execute("UPDATE jobs SET status = 'failed'")
    retried = producer(env, "retry", "--from", KNUDJEPSEN_DAYS[0], "--to", KNUDJEPSEN_DAYS[1])
    assert retried.returncode == 0 and "queued 4 failed jobs again" in retried.stdout
    assert finish(start_consumer(env, "--drain"))[0] == 0
    with psycopg.connect(url) as conn:
        assert (conn.execute(features).fetchall(), conn.execute(resampled).fetchall()) == before


def test_sigterm_stops_a_waiting_consumer_with_exit_0(env: dict[str, str]) -> None:
    consumer = start_consumer(env, "--worker", "patient")
    wait_until_listening(env["DATABASE_URL"])
    consumer.send_signal(signal.SIGTERM)
    code, output = finish(consumer, timeout=30)
    assert code == 0, output
    assert "SIGTERM received" in output and "worker patient stopped" in output


def test_sigterm_mid_batch_finishes_the_batch_then_exits_0(env: dict[str, str]) -> None:
    enqueue(env, *KNUDJEPSEN_DAYS)
    slow = {**env, "CONSUMER_STAGE_DELAY": "features:2"}
    consumer = start_consumer(slow, "--batch", "4", "--worker", "busy")
    deadline = time.monotonic() + 60
    while not any(status == "running" for status, *_ in jobs(env["DATABASE_URL"])):
        assert time.monotonic() < deadline, "the consumer never claimed a job"
        time.sleep(0.1)
    consumer.send_signal(signal.SIGTERM)
    code, output = finish(consumer, timeout=60)
    assert code == 0, output
    assert [status for status, *_ in jobs(env["DATABASE_URL"])] == ["done"] * 4


def test_a_new_job_wakes_a_waiting_consumer_through_notify(env: dict[str, str]) -> None:
    slow_poll = {**env, "POLL_SECONDS": "30"}
    consumer = start_consumer(slow_poll, "--worker", "listener")
    try:
        wait_until_listening(env["DATABASE_URL"])
        enqueue(env, KNUDJEPSEN_DAYS[0], KNUDJEPSEN_DAYS[0])
        deadline = time.monotonic() + 20  # well inside the 30 s poll interval
        while jobs(env["DATABASE_URL"])[0][0] != "done":
            assert time.monotonic() < deadline, "NOTIFY did not wake the consumer"
            time.sleep(0.2)
    finally:
        consumer.send_signal(signal.SIGTERM)
        finish(consumer, timeout=30)
