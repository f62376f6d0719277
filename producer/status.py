"""``producer status``: a plain-text picture of the queue."""

from __future__ import annotations

import psycopg

from greenhouse_queue.producer.provenance import rejected_signals
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
    total = sum(by_status.values())
    if total == 0:
        return "no jobs: enqueue some with `producer enqueue --from YYYY-MM-DD --to YYYY-MM-DD`"
    finished = by_status.get("done", 0) + by_status.get("failed", 0) + by_status.get("cancelled", 0)
    parts = ", ".join(
        f"{status} {by_status.get(status, 0)}"
        for status in ("queued", "running", "done", "failed", "cancelled")
    )
    return f"jobs: {total} ({parts}); progress {finished}/{total} = {100 * finished / total:.1f} %"
