"""The queue at one moment: what `producer status --watch` draws and `--json` prints.

All facts are read in one read-only transaction, so they agree with each other. The JSON
form is documented by docs/status.schema.json; its ``schema_version`` changes only when a
field is removed or changes meaning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from greenhouse_queue.queries import query

SCHEMA_VERSION = 1
RATE_SECONDS = 60  # jobs/min and values/s are measured over the last minute
STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class Counts:
    queued: int
    running: int
    done: int
    failed: int
    cancelled: int
    retrying: int  # queued jobs that failed before and wait out a backoff

    @property
    def total(self) -> int:
        return self.queued + self.running + self.done + self.failed + self.cancelled

    @property
    def wanted(self) -> int:
        """Jobs whose results are wanted: all but the cancelled ones. A failed job stays
        wanted (retry brings it back), so it keeps progress below 100 %."""
        return self.total - self.cancelled

    @property
    def fraction(self) -> float | None:
        return self.done / self.wanted if self.wanted else None


@dataclass(frozen=True)
class WorkerLine:
    name: str
    device: str | None
    jobs_held: int
    lease_left_seconds: float | None
    heartbeat_age_seconds: float | None


@dataclass(frozen=True)
class Failure:
    job_id: int
    window_start: datetime
    window_end: datetime
    attempts: int
    max_attempts: int
    stage: str | None
    error: str | None
    finished_at: datetime | None


@dataclass(frozen=True)
class Snapshot:
    taken_at: datetime
    counts: Counts
    feature_values: int  # written by done jobs (jobs.feature_values)
    jobs_per_minute: float
    feature_values_per_second: float
    oldest_due_age_seconds: float | None
    workers: list[WorkerLine]
    failures: list[Failure]

    @property
    def eta_seconds(self) -> float | None:
        """Queued and running jobs at the last minute's rate; None while nothing finishes."""
        left = self.counts.queued + self.counts.running
        if left == 0:
            return 0.0
        if self.jobs_per_minute <= 0:
            return None
        return 60.0 * left / self.jobs_per_minute


def take(conn: psycopg.Connection, *, failures: int = 10) -> Snapshot:
    """Reads every fact in one transaction (REPEATABLE READ: one consistent view)."""
    with conn.transaction():
        conn.execute(query("observe", "consistent_read"))
        counts = conn.execute(query("observe", "job_counts")).fetchone()
        jobs, values = conn.execute(
            query("observe", "recent_rates"), {"seconds": RATE_SECONDS}
        ).fetchone()
        (oldest,) = conn.execute(query("observe", "oldest_due_age")).fetchone()
        workers = conn.execute(
            query("observe", "live_workers"), {"seconds": RATE_SECONDS}
        ).fetchall()
        failed = conn.execute(query("observe", "latest_failures"), {"limit": failures}).fetchall()
    return Snapshot(
        taken_at=datetime.now(UTC),
        counts=Counts(*(int(n) for n in counts[:6])),
        feature_values=int(counts[6]),
        jobs_per_minute=float(jobs) * 60.0 / RATE_SECONDS,
        feature_values_per_second=float(values) / RATE_SECONDS,
        oldest_due_age_seconds=oldest,
        workers=[WorkerLine(*row) for row in workers],
        failures=[Failure(*row) for row in failed],
    )


def to_json(snapshot: Snapshot) -> dict[str, Any]:
    """The documented JSON form (docs/status.schema.json)."""
    counts = snapshot.counts
    return {
        "schema_version": SCHEMA_VERSION,
        "taken_at": snapshot.taken_at.isoformat(),
        "jobs": {
            **{state: getattr(counts, state) for state in STATES},
            "total": counts.total,
            "retrying": counts.retrying,
        },
        "progress": {"done": counts.done, "wanted": counts.wanted, "fraction": counts.fraction},
        "rates": {
            "window_seconds": RATE_SECONDS,
            "jobs_per_minute": snapshot.jobs_per_minute,
            "feature_values_per_second": snapshot.feature_values_per_second,
        },
        "eta_seconds": snapshot.eta_seconds,
        "oldest_due_job_age_seconds": snapshot.oldest_due_age_seconds,
        "feature_values": snapshot.feature_values,
        "workers": [asdict(worker) for worker in snapshot.workers],
        "failures": [
            {
                **asdict(failure),
                "window_start": failure.window_start.isoformat(),
                "window_end": failure.window_end.isoformat(),
                "finished_at": failure.finished_at.isoformat() if failure.finished_at else None,
            }
            for failure in snapshot.failures
        ],
    }
