"""Scenarios 3 and 4: a consumer's connection terminated mid-transaction; PostgreSQL restarted."""

from __future__ import annotations

import time
from datetime import timedelta

import psycopg
import pytest

from tests.chaos.conftest import (
    Consumers,
    OwnServer,
    ReferenceRuns,
    Windows,
    assert_recovered,
    enqueue,
    report,
    sample_start,
    statuses,
    wait_until_all_done,
)

pytestmark = pytest.mark.chaos

BLOCKED = """
SELECT pid, backend_xid IS NOT NULL AS wrote
FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid()
  AND wait_event_type = 'Lock' AND query ILIKE %(query)s
"""


def terminate_when_blocked(url: str, query_like: str, timeout: float = 60) -> tuple[int, bool]:
    """Waits for a consumer backend blocked in ``query_like``, terminates it:
    (pid, whether its transaction had already written)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(BLOCKED, {"query": query_like}).fetchone()
            if row:
                conn.execute("SELECT pg_terminate_backend(%s)", [row[0]])
                return int(row[0]), bool(row[1])
            time.sleep(0.05)
    pytest.fail(f"no consumer blocked in {query_like!r} within {timeout}s")


def test_a_terminated_connection_is_reopened_and_the_work_goes_on(
    sample_db_url: str, consumers: Consumers, reference: ReferenceRuns
) -> None:
    first = sample_start(sample_db_url)
    windows = Windows(first, first + timedelta(days=3))
    expected = reference(windows)
    jobs = enqueue(sample_db_url, windows)

    # Two sessions hold locks that stop the consumer inside its transactions: readings
    # (stage 1's read) and feature_vectors (the completion transaction, after it marked the
    # jobs done). Each time it blocks there, its backend is terminated.
    reads = psycopg.connect(sample_db_url)
    writes = psycopg.connect(sample_db_url)
    try:
        reads.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
        writes.execute("LOCK TABLE feature_vectors IN EXCLUSIVE MODE")
        consumer = consumers.start(sample_db_url, "survivor", batch=8)

        terminate_when_blocked(sample_db_url, "%readings%")
        read_killed = time.monotonic()
        reads.rollback()
        consumer.wait_for_log(r"database unavailable during read")

        _, wrote = terminate_when_blocked(sample_db_url, "%DELETE FROM feature_vectors%")
        write_killed = time.monotonic()
        assert wrote, "the completion transaction had written when it was cut"
        assert statuses(sample_db_url) == {"running": jobs}, "its writes were rolled back"
        writes.rollback()
        consumer.wait_for_log(r"database unavailable during write")
    finally:
        reads.close()
        writes.close()

    done_at = wait_until_all_done(sample_db_url, jobs, timeout=60)
    assert consumer.wait(60) == 0, consumer.log()[-3000:]
    assert consumer.log().count("claimed ") == 1, "the same claim carried on after both cuts"
    assert_recovered(sample_db_url, expected)
    report(
        f"3 lost connection: cut in the read and in the completion transaction; the consumer "
        f"reconnected and finished {done_at - write_killed:.1f}s after the second cut "
        f"({done_at - read_killed:.1f}s after the first, including the lock waits)"
    )


def test_three_consumers_ride_out_a_database_restart(
    own_server: OwnServer, consumers: Consumers, reference: ReferenceRuns
) -> None:
    url = own_server.url
    first = sample_start(url)
    windows = Windows(first, first + timedelta(days=RESTART_DAYS - 1), width="1h")
    expected = reference(windows)
    jobs = enqueue(url, windows)
    # A slow stage keeps every consumer inside a batch when the server goes away.
    slow = {"CONSUMER_STAGE_DELAY": "features:0.3"}
    running = [consumers.start(url, f"r{i}", batch=4, env=slow) for i in range(1, 4)]
    for consumer in running:
        consumer.wait_for_log(r"paused in stage features")

    downtimes, recoveries = [], []
    for _ in range(2):
        done_before = statuses(url).get("done", 0)
        downtimes.append(own_server.restart())
        restarted = time.monotonic()
        while statuses(url).get("done", 0) <= done_before:
            assert time.monotonic() - restarted < 60, "no job finished after the restart"
            time.sleep(0.1)
        recoveries.append(time.monotonic() - restarted)
    wait_until_all_done(url, jobs, timeout=120)

    for consumer in running:
        assert consumer.wait(60) == 0, consumer.log()[-3000:]
        log = consumer.log()
        assert "database unavailable" in log or "heartbeat failed" in log, consumer.name
        assert "nothing runnable is left" in log, "it exited because the work was done"
    assert_recovered(url, expected)
    report(
        f"4 database restart x2 under 3 consumers ({jobs} jobs): restart took "
        f"{max(downtimes):.1f}s, first job done {max(recoveries):.1f}s after the server was back"
    )


RESTART_DAYS = 4  # 1h windows: 96 jobs
