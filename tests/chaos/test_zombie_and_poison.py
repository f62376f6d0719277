"""Scenarios 5 and 6: a paused worker that lost its claim wakes up; a window that always fails."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.chaos.conftest import (
    LEASE,
    Consumers,
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

# Row versions: a refused late commit must not create a new version of any of them.
ROW_VERSIONS = """
SELECT (SELECT array_agg(xmin::text ORDER BY id) FROM jobs),
       (SELECT array_agg(xmin::text ORDER BY site, window_start, window_end, signal)
        FROM feature_vectors),
       (SELECT count(*) FROM resampled), (SELECT count(*) FROM changepoints)
"""


def test_a_zombie_worker_finds_its_job_reclaimed_and_its_late_commit_is_refused(
    sample_db_url: str, consumers: Consumers, reference: ReferenceRuns
) -> None:
    first = sample_start(sample_db_url)
    windows = Windows(first, first + timedelta(days=1))
    expected = reference(windows)
    jobs = enqueue(sample_db_url, windows)

    zombie = consumers.start(
        sample_db_url, "zombie", batch=8, env={"CONSUMER_STAGE_DELAY": "features:3"}
    )
    zombie.wait_for_log(r"paused in stage features")
    zombie.send(signal.SIGSTOP)  # no heartbeats from here on
    paused_at = time.monotonic()
    rescuer = consumers.start(sample_db_url, "rescuer", batch=8)
    done_at = wait_until_all_done(sample_db_url, jobs, timeout=60)
    assert rescuer.wait(60) == 0
    with psycopg.connect(sample_db_url) as conn:
        before = conn.execute(ROW_VERSIONS).fetchone()

    zombie.send(signal.SIGCONT)  # it wakes up past its lease and finishes its batch
    assert zombie.wait(60) == 0, zombie.log()[-3000:]
    log = zombie.log()
    assert "was taken over by another worker; its results were discarded" in log
    assert " done on " not in log, "the zombie completed nothing"
    with psycopg.connect(sample_db_url) as conn:
        after = conn.execute(ROW_VERSIONS).fetchone()
        owners = conn.execute("SELECT DISTINCT worker, attempts FROM jobs").fetchall()
    assert after == before, "the refused commit left no trace: no new row version anywhere"
    assert owners == [("rescuer", 2)]
    assert_recovered(sample_db_url, expected)
    report(
        f"5 zombie (SIGSTOP past the {LEASE:g}s lease, then SIGCONT): its {jobs} jobs were "
        f"done by another worker {done_at - paused_at:.1f}s after the pause; the late "
        "commit was refused by the fencing check and changed no row"
    )


def test_a_poison_window_fails_after_max_attempts_and_every_other_window_finishes(
    sample_db_url: str, consumers: Consumers, reference: ReferenceRuns
) -> None:
    first = sample_start(sample_db_url)
    windows = Windows(first, first + timedelta(days=3))
    expected = reference(windows)
    jobs = enqueue(sample_db_url, windows, "--max-attempts", "3")
    poison = datetime.combine(first + timedelta(days=1), datetime.min.time(), UTC)
    fault = {"CONSUMER_FAULT_INJECT": f"features:{poison.isoformat()}"}

    began = time.monotonic()
    workers = [consumers.start(sample_db_url, f"p{i}", batch=4, env=fault) for i in (1, 2)]
    for worker in workers:
        assert worker.wait(90) == 0, worker.log()[-3000:]
    elapsed = time.monotonic() - began

    with psycopg.connect(sample_db_url) as conn:
        failed = conn.execute(
            "SELECT window_start, status, attempts, error_stage, last_error FROM jobs "
            "WHERE status <> 'done'"
        ).fetchall()
    assert len(failed) == 1
    window_start, status, attempts, stage, error = failed[0]
    assert (window_start, status, attempts, stage) == (poison, "failed", 3, "features")
    assert "InjectedFault" in error and poison.isoformat() in error
    logs = "".join(worker.log() for worker in workers)
    retries = logs.count("will be retried in")
    assert retries == 2, "two retries with backoff, then failed for good"
    assert "failed for good after 3 attempts" in logs
    assert statuses(sample_db_url) == {"done": jobs - 1, "failed": 1}
    assert_recovered(sample_db_url, expected, failed_windows=[(poison, poison + timedelta(days=1))])
    report(
        f"6 poison window: failed in stage features after 3 attempts ({retries} retries with "
        f"backoff); the other {jobs - 1} windows done; drained in {elapsed:.1f}s"
    )
