"""``producer status``: a plain-text picture of the queue."""

from __future__ import annotations

import psycopg

from greenhouse_queue.producer.provenance import rejected_signals
from greenhouse_queue.producer.snapshot import STATES, Counts
from greenhouse_queue.queries import query


def render(conn: psycopg.Connection, *, failures: int = 10) -> str:
    with conn.transaction():
        counts = conn.execute(query("queue", "status_counts")).fetchall()
        failed = conn.execute(query("queue", "failures"), {"limit": failures}).fetchall()
        running = conn.execute(query("queue", "running"), {"limit": 20}).fetchall()
        features = conn.execute(query("queue", "feature_counts")).fetchone()
        rejected = rejected_signals(conn)
    lines = [_counts(counts)]
    if running:
        lines.append("running:")
        lines += [
            f"  job {job_id} {start:%Y-%m-%d %H:%M} on {worker} ({device}), attempt {attempt}, "
            f"lease {lease_left}s left"
            for job_id, start, worker, device, attempt, lease_left in running
        ]
    if failed:
        lines.append("failures:")
        lines += [
            f"  job {job_id} [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}) after "
            f"{attempts}/{max_attempts} attempts, in {stage}: {error}"
            for job_id, start, end, attempts, max_attempts, stage, error in failed
        ]
    if features:
        values, sites, site_windows = features
        lines.append(f"features: {values} values for {site_windows} site-windows at {sites} sites")
    return "\n".join(lines + rejected)


def _counts(rows: list[tuple]) -> str:
    by_status = {status: jobs for status, jobs, _, _ in rows}
    counts = Counts(**{state: by_status.get(state, 0) for state in STATES}, retrying=0)
    if counts.total == 0:
        return "no jobs: enqueue some with `producer enqueue --from YYYY-MM-DD --to YYYY-MM-DD`"
    parts = ", ".join(f"{state} {by_status.get(state, 0)}" for state in STATES)
    # Failed jobs are not progress: done over every job but the cancelled ones.
    progress = f"{counts.done}/{counts.wanted}"
    percent = "n/a" if counts.fraction is None else f"{100 * counts.fraction:.1f} %"
    return f"jobs: {counts.total} ({parts}); progress {progress} = {percent}"
