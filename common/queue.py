"""The job queue: the only module that writes job state.

Producers enqueue windows; consumers claim, heartbeat, complete or fail them. Every
state change a worker makes is fenced on (id, attempts, worker), so a worker that
lost its claim (a zombie that woke up after its lease was taken over) changes nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from greenhouse_queue.queries import query


@dataclass(frozen=True)
class Job:
    id: int
    window_start: datetime
    window_end: datetime
    attempt: int
    max_attempts: int
    # From the claim, for the metrics: when the job became due (run_after, or the lapsed
    # lease it was taken over from), when it was claimed, and whether its lease had lapsed.
    due_at: datetime | None = field(default=None, compare=False)
    claimed_at: datetime | None = field(default=None, compare=False)
    lapsed: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Outcome:
    """What a worker learned from one job: timings per stage and notes for users."""

    job: Job
    stage_seconds: dict[str, float] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)
    feature_set: str | None = None
    feature_values: int = 0


@dataclass(frozen=True)
class EnqueueResult:
    added: int
    already_present: int


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped: base * 2^(attempt-1), at most cap."""

    base_seconds: float = 5.0
    cap_seconds: float = 300.0

    def seconds(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** max(0, attempt - 1))
        # Full jitter keeps retried jobs of a bad batch from coming back in lockstep.
        return ceiling * (0.5 + 0.5 * (rng or random).random())


@contextmanager
def _one_statement(conn: psycopg.Connection) -> Iterator[None]:
    """Commits a single statement: by itself on an autocommit connection (one round
    trip, as consumers connect), in a transaction block otherwise."""
    if conn.autocommit:
        yield
    else:
        with conn.transaction():
            yield


class OverlappingWindows(Exception):
    """An enqueue was refused: a requested window overlaps a live job's window of another
    width (jobs_no_overlap). Nothing was enqueued; the message names the windows."""


def enqueue(
    conn: psycopg.Connection,
    windows: Sequence[tuple[datetime, datetime]],
    *,
    priority: int = 0,
    max_attempts: int = 5,
) -> EnqueueResult:
    """Enqueues ``windows``; identical live windows are already present, overlapping
    ones refuse the whole call (OverlappingWindows)."""
    span = {"starts": [start for start, _ in windows], "ends": [end for _, end in windows]}
    try:
        with _one_statement(conn):
            added = conn.execute(
                query("queue", "enqueue"),
                {**span, "priority": priority, "max_attempts": max_attempts},
            ).fetchall()
    except psycopg.errors.ExclusionViolation:
        raise OverlappingWindows(_overlaps(conn, span)) from None
    return EnqueueResult(added=len(added), already_present=len(windows) - len(added))


def _overlaps(conn: psycopg.Connection, span: dict[str, list[datetime]]) -> str:
    shown = 5
    rows = conn.execute(query("queue", "overlapping_windows"), {**span, "limit": shown + 1})
    found = rows.fetchall()
    pairs = "; ".join(
        f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) overlaps job {job} "
        f"[{job_start:%Y-%m-%d %H:%M}, {job_end:%Y-%m-%d %H:%M}) ({status})"
        for start, end, job, job_start, job_end, status in found[:shown]
    )
    more = ", and more" if len(found) > shown else ""
    return (
        f"windows overlap live jobs of another width: {pairs}{more}. Nothing was enqueued: "
        "use the live jobs' --window, or cancel the queued ones first (producer cancel)"
    )


def claim(
    conn: psycopg.Connection, *, worker: str, batch: int, lease_seconds: float, device: str
) -> list[Job]:
    """Claims up to ``batch`` runnable jobs for ``worker`` (one short transaction)."""
    with _one_statement(conn):
        rows = conn.execute(
            query("queue", "claim"),
            {"worker": worker, "batch": batch, "lease_seconds": lease_seconds, "device": device},
        ).fetchall()
    return sorted((Job(*row) for row in rows), key=lambda job: job.window_start)


def heartbeat(
    conn: psycopg.Connection, *, worker: str, jobs: Sequence[Job], lease_seconds: float
) -> set[int]:
    """Renews the leases; returns the ids this worker still holds."""
    if not jobs:
        return set()
    with _one_statement(conn):
        rows = conn.execute(
            query("queue", "heartbeat"),
            {**_held(jobs), "worker": worker, "lease_seconds": lease_seconds},
        ).fetchall()
    return {job_id for (job_id,) in rows}


def complete(
    conn: psycopg.Connection,
    *,
    worker: str,
    outcomes: Sequence[Outcome],
    write_results: Callable[[psycopg.Connection, set[int]], None],
) -> set[int]:
    """Marks jobs done and writes their results in one transaction.

    ``write_results(conn, ids)`` is called inside that transaction with the ids that
    passed the fencing check, and must write results for those jobs only. Returns them.
    """
    if not outcomes:
        return set()
    with conn.transaction():
        rows = conn.execute(
            query("queue", "complete"),
            {
                **_held([outcome.job for outcome in outcomes]),
                "worker": worker,
                "stage_seconds": [Jsonb(o.stage_seconds) for o in outcomes],
                "notes": [Jsonb(o.notes) if o.notes else None for o in outcomes],
                "feature_sets": [o.feature_set for o in outcomes],
                "feature_values": [o.feature_values for o in outcomes],
            },
        ).fetchall()
        owned = {job_id for (job_id,) in rows}
        if owned:
            write_results(conn, owned)
    return owned


def record_failure(
    conn: psycopg.Connection,
    *,
    worker: str,
    job: Job,
    stage: str,
    error: str,
    backoff_seconds: float,
    stage_seconds: dict[str, float] | None = None,
) -> str | None:
    """Records a failed attempt; returns the job's new status, or None if it was not ours."""
    with _one_statement(conn):
        row = conn.execute(
            query("queue", "record_failure"),
            {
                "id": job.id,
                "attempt": job.attempt,
                "worker": worker,
                "stage": stage,
                "error": error,
                "backoff_seconds": backoff_seconds,
                "stage_seconds": Jsonb(stage_seconds or {}),
            },
        ).fetchone()
    return None if row is None else str(row[0])


def release(conn: psycopg.Connection, *, worker: str, jobs: Sequence[Job]) -> set[int]:
    """Hands claimed jobs back to the queue without counting the attempt."""
    if not jobs:
        return set()
    with _one_statement(conn):
        rows = conn.execute(query("queue", "release"), {**_held(jobs), "worker": worker}).fetchall()
    return {job_id for (job_id,) in rows}


def outstanding(conn: psycopg.Connection) -> int:
    """Jobs a draining consumer must still wait for (see sql/queue.sql: outstanding)."""
    with _one_statement(conn):
        row = conn.execute(query("queue", "outstanding")).fetchone()
    return int(row[0]) if row else 0


def cancel(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    with _one_statement(conn):
        return len(conn.execute(query("queue", "cancel"), {"start": start, "end": end}).fetchall())


def retry_failed(conn: psycopg.Connection, start: datetime, end: datetime) -> int:
    with _one_statement(conn):
        rows = conn.execute(query("queue", "retry_failed"), {"start": start, "end": end})
        return len(rows.fetchall())


def _held(jobs: Sequence[Job]) -> dict[str, list[int]]:
    return {"ids": [job.id for job in jobs], "attempts": [job.attempt for job in jobs]}


def describe(job: Job) -> str:
    """How logs name a job: id, window and attempt."""
    return (
        f"job {job.id} [{job.window_start:%Y-%m-%d %H:%M}, {job.window_end:%Y-%m-%d %H:%M}) "
        f"attempt {job.attempt}/{job.max_attempts}"
    )


__all__ = [
    "Backoff",
    "EnqueueResult",
    "Job",
    "Outcome",
    "OverlappingWindows",
    "claim",
    "complete",
    "describe",
    "enqueue",
    "heartbeat",
    "outstanding",
    "record_failure",
    "release",
]
