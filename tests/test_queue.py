"""The queue's contract, exercised through greenhouse_queue.queue against a real PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from greenhouse_queue import queue
from greenhouse_queue.producer.windows import windows
from greenhouse_queue.queue import Backoff, Job, Outcome

DAY = timedelta(days=1)
LEASE = 30.0


def days(first: str, last: str) -> list[tuple[datetime, datetime]]:
    return windows(date.fromisoformat(first), date.fromisoformat(last), DAY)


def claim(conn: psycopg.Connection, worker: str, batch: int = 1, lease: float = LEASE) -> list[Job]:
    return queue.claim(conn, worker=worker, batch=batch, lease_seconds=lease, device="cpu")


def nothing(_conn: psycopg.Connection, _ids: set[int]) -> None:
    pass


def statuses(conn: psycopg.Connection) -> dict[str, int]:
    with conn.transaction():
        return dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY 1").fetchall())


def expire_leases(conn: psycopg.Connection) -> None:
    """What the passing of a lease looks like to the database."""
    with conn.transaction():
        conn.execute(
            "UPDATE jobs SET lease_expires_at = now() - interval '1 second' "
            "WHERE status = 'running'"
        )


def test_enqueue_is_idempotent_and_counts_what_was_already_there(
    conn: psycopg.Connection,
) -> None:
    first = queue.enqueue(conn, days("2015-09-07", "2015-09-13"))
    second = queue.enqueue(conn, days("2015-09-07", "2015-09-20"))
    assert (first.added, first.already_present) == (7, 0)
    assert (second.added, second.already_present) == (7, 7)
    assert statuses(conn) == {"queued": 14}


def test_a_done_window_is_not_enqueued_again_but_a_failed_one_is(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-08"), max_attempts=1)
    done, failed = claim(conn, "w1", batch=2)
    queue.complete(conn, worker="w1", outcomes=[Outcome(done)], write_results=nothing)
    queue.record_failure(
        conn, worker="w1", job=failed, stage="features", error="boom", backoff_seconds=0
    )
    again = queue.enqueue(conn, days("2015-09-07", "2015-09-08"))
    assert (again.added, again.already_present) == (1, 1)


def test_claim_takes_priority_then_run_after_then_id(conn: psycopg.Connection) -> None:
    queue.enqueue(conn, days("2015-09-01", "2015-09-02"), priority=5)
    queue.enqueue(conn, days("2015-09-10", "2015-09-10"), priority=0)
    order = [claim(conn, "w")[0].window_start.date().isoformat() for _ in range(3)]
    assert order == ["2015-09-10", "2015-09-01", "2015-09-02"]


def test_claim_respects_batch_size_and_never_hands_a_job_out_twice(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2015-09-01", "2015-09-10"))
    first = claim(conn, "a", batch=4)
    second = claim(conn, "b", batch=4)
    third = claim(conn, "c", batch=4)
    ids = [job.id for job in first + second + third]
    assert [len(first), len(second), len(third)] == [4, 4, 2]
    assert len(set(ids)) == 10
    assert claim(conn, "d", batch=4) == []


def test_a_job_whose_lease_expired_is_claimed_again_by_another_worker(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"))
    (crashed,) = claim(conn, "dead-worker")
    assert claim(conn, "rescuer") == []  # the lease still holds
    expire_leases(conn)
    (rescued,) = claim(conn, "rescuer")
    assert rescued.id == crashed.id
    assert rescued.attempt == crashed.attempt + 1


def test_a_short_lease_lapses_by_itself(conn: psycopg.Connection) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"))
    (job,) = claim(conn, "dead-worker", lease=0.2)
    time.sleep(0.4)
    (again,) = claim(conn, "rescuer")
    assert again.id == job.id


def test_heartbeats_keep_the_lease_alive(conn: psycopg.Connection) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"))
    (job,) = claim(conn, "alive", lease=0.5)
    for _ in range(4):
        time.sleep(0.2)
        assert queue.heartbeat(conn, worker="alive", jobs=[job], lease_seconds=0.5) == {job.id}
    assert claim(conn, "other") == []


def test_a_stale_worker_can_neither_complete_nor_heartbeat_nor_fail_a_reclaimed_job(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"))
    (zombie_job,) = claim(conn, "zombie")
    expire_leases(conn)
    (fresh_job,) = claim(conn, "fresh")
    written: list[set[int]] = []

    owned = queue.complete(
        conn,
        worker="zombie",
        outcomes=[Outcome(zombie_job)],
        write_results=lambda _c, ids: written.append(ids),
    )
    assert owned == set() and written == []
    assert queue.heartbeat(conn, worker="zombie", jobs=[zombie_job], lease_seconds=LEASE) == set()
    status = queue.record_failure(
        conn, worker="zombie", job=zombie_job, stage="features", error="late", backoff_seconds=0
    )
    assert status is None

    owned = queue.complete(
        conn,
        worker="fresh",
        outcomes=[Outcome(fresh_job)],
        write_results=lambda _c, ids: written.append(ids),
    )
    assert owned == {fresh_job.id} and written == [{fresh_job.id}]
    assert statuses(conn) == {"done": 1}


def test_results_are_written_in_the_transaction_that_marks_the_job_done(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"))
    (job,) = claim(conn, "w")

    def write_then_fail(c: psycopg.Connection, ids: set[int]) -> None:
        c.execute(
            "INSERT INTO features (job_id, site, window_start, window_end, signal, feature, value)"
            " VALUES (%s, 's', now(), now() + interval '1 day', 'x', 'mean', 1)",
            (job.id,),
        )
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        queue.complete(conn, worker="w", outcomes=[Outcome(job)], write_results=write_then_fail)
    with conn.transaction():
        assert conn.execute("SELECT count(*) FROM features").fetchone() == (0,)
    assert statuses(conn) == {"running": 1}


def test_a_failing_job_is_retried_with_backoff_then_marked_failed_with_its_stage(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"), max_attempts=2)
    (job,) = claim(conn, "w")
    status = queue.record_failure(
        conn, worker="w", job=job, stage="features", error="ValueError: bad", backoff_seconds=60
    )
    assert status == "queued"
    assert claim(conn, "w") == []  # waiting out its backoff
    with conn.transaction():
        conn.execute("UPDATE jobs SET run_after = now()")
    (again,) = claim(conn, "w")
    status = queue.record_failure(
        conn, worker="w", job=again, stage="eras", error="ValueError: worse", backoff_seconds=0
    )
    assert status == "failed"
    with conn.transaction():
        row = conn.execute("SELECT status, attempts, error_stage, last_error FROM jobs").fetchone()
    assert row == ("failed", 2, "eras", "ValueError: worse")


def test_a_lease_that_expires_on_the_last_attempt_fails_the_job(conn: psycopg.Connection) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"), max_attempts=1)
    claim(conn, "dead-worker")
    expire_leases(conn)
    assert claim(conn, "rescuer") == []
    with conn.transaction():
        row = conn.execute("SELECT status, error_stage, last_error FROM jobs").fetchone()
    assert row[0:2] == ("failed", "lease")
    assert "dead-worker stopped heartbeating" in row[2]


def test_release_gives_jobs_back_without_counting_the_attempt(conn: psycopg.Connection) -> None:
    queue.enqueue(conn, days("2015-09-07", "2015-09-07"))
    (job,) = claim(conn, "w")
    assert queue.release(conn, worker="w", jobs=[job]) == {job.id}
    (again,) = claim(conn, "w")
    assert again.attempt == 1


def test_outstanding_counts_due_retrying_and_running_jobs(conn: psycopg.Connection) -> None:
    assert queue.outstanding(conn) == 0
    queue.enqueue(conn, days("2015-09-07", "2015-09-08"))
    (job,) = claim(conn, "w")
    assert queue.outstanding(conn) == 2
    queue.complete(conn, worker="w", outcomes=[Outcome(job)], write_results=nothing)
    assert queue.outstanding(conn) == 1


def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    backoff = Backoff(base_seconds=2, cap_seconds=60)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (10, 60)]:
        delays = [backoff.seconds(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_windows_are_half_open_utc_days() -> None:
    (start, end), *_ = days("2015-09-07", "2015-09-07")
    assert (start, end) == (datetime(2015, 9, 7, tzinfo=UTC), datetime(2015, 9, 8, tzinfo=UTC))


def test_windows_of_another_width_over_live_jobs_are_refused_naming_them(
    conn: psycopg.Connection,
) -> None:
    # Before: 6 h windows over days enqueued as 1 d were added, and overlapped them.
    queue.enqueue(conn, days("2016-01-18", "2016-01-19"))
    quarters = windows(date(2016, 1, 19), date(2016, 1, 20), timedelta(hours=6))
    with pytest.raises(queue.OverlappingWindows) as refused:
        queue.enqueue(conn, quarters)
    message = str(refused.value)
    assert "[2016-01-19 00:00, 2016-01-19 06:00) overlaps job 2 [2016-01-19 00:00," in message
    assert "(queued)" in message and "Nothing was enqueued" in message
    assert statuses(conn) == {"queued": 2}  # not even the quarters of the free day
    again = queue.enqueue(conn, days("2016-01-18", "2016-01-20"))  # identical: idempotent
    assert (again.added, again.already_present) == (1, 2)
    with pytest.raises(psycopg.errors.ExclusionViolation), conn.transaction():
        conn.execute(
            "INSERT INTO jobs (window_start, window_end) VALUES"
            " ('2016-01-18 12:00Z', '2016-01-19 12:00Z')"
        )


def test_a_failed_window_that_a_live_one_now_overlaps_stays_failed_on_retry(
    conn: psycopg.Connection,
) -> None:
    queue.enqueue(conn, days("2016-01-18", "2016-01-18"), max_attempts=1)
    (job,) = claim(conn, "w1")
    queue.record_failure(conn, worker="w1", job=job, stage="read", error="x", backoff_seconds=0)
    quarters = windows(date(2016, 1, 18), date(2016, 1, 18), timedelta(hours=6))
    assert queue.enqueue(conn, quarters).added == 4  # a failed window is not live
    start = datetime(2016, 1, 18, tzinfo=UTC)
    assert queue.retry_failed(conn, start, start + DAY) == 0
    assert statuses(conn) == {"failed": 1, "queued": 4}
