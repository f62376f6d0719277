"""The claim reads the partial indexes, so it stays fast however many jobs are finished.

The plan is pinned with EXPLAIN on a table where a sequential scan is not an option for
the planner (enable_seqscan off), after ANALYZE, so the check does not depend on the
planner's cost estimates for a small table.
"""

from __future__ import annotations

from typing import Any

import psycopg

from greenhouse_queue.queries import query

CLAIM_PARAMS = {"worker": "plan-test", "batch": 8, "lease_seconds": 30, "device": "cpu"}


def fill(conn: psycopg.Connection, *, queued: int, done: int, running: int) -> None:
    conn.execute(
        """
        INSERT INTO jobs (window_start, window_end, status, finished_at, worker, lease_expires_at)
        SELECT timestamptz '2000-01-01' + make_interval(hours => g),
               timestamptz '2000-01-01' + make_interval(hours => g + 1),
               s.status,
               CASE WHEN s.status = 'done' THEN now() END,
               CASE WHEN s.status = 'running' THEN 'elsewhere' END,
               CASE WHEN s.status = 'running' THEN now() - interval '1 minute' END
        FROM generate_series(0, %(total)s - 1) AS g
        CROSS JOIN LATERAL (
            SELECT CASE WHEN g < %(done)s THEN 'done'
                        WHEN g < %(done)s + %(running)s THEN 'running'
                        ELSE 'queued' END AS status
        ) AS s
        """,
        {"total": queued + done + running, "done": done, "running": running},
    )
    conn.execute("ANALYZE jobs")


def claim_plan(conn: psycopg.Connection) -> dict[str, Any]:
    with conn.transaction(force_rollback=True):
        conn.execute("SET LOCAL enable_seqscan = off")
        (plan,) = conn.execute(
            "EXPLAIN (FORMAT JSON) " + query("queue", "claim"), CLAIM_PARAMS
        ).fetchone()
    return plan[0]["Plan"]


def subplan(node: dict[str, Any], name: str) -> dict[str, Any]:
    """The plan node of the CTE called ``name``."""
    if node.get("Subplan Name") == f"CTE {name}":
        return node
    for child in node.get("Plans", []):
        found = subplan(child, name)
        if found:
            return found
    return {}


def scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(node type, index name) of every scan under ``node``."""
    found = []
    if "Scan" in node["Node Type"]:
        found.append((node["Node Type"], node.get("Index Name")))
    for child in node.get("Plans", []):
        found.extend(scans(child))
    return found


def test_claim_reads_queued_jobs_through_the_partial_index(conn: psycopg.Connection) -> None:
    fill(conn, queued=300, done=3000, running=0)
    conn.commit()

    queued = subplan(claim_plan(conn), "queued")

    assert queued, "the claim has no CTE named 'queued'"
    assert ("Index Scan", "jobs_queued_idx") in scans(queued), scans(queued)
    assert all(index is not None for _, index in scans(queued)), scans(queued)


def test_claim_reads_lapsed_leases_through_the_running_index(conn: psycopg.Connection) -> None:
    fill(conn, queued=300, done=3000, running=50)
    conn.commit()

    expired = subplan(claim_plan(conn), "expired")

    assert expired, "the claim has no CTE named 'expired'"
    assert ("Index Scan", "jobs_running_lease_idx") in scans(expired), scans(expired)


def test_the_claim_plan_claims_what_it_shows(conn: psycopg.Connection) -> None:
    """The statement explained above is the one that claims: it runs and takes the first
    queued jobs in order."""
    fill(conn, queued=20, done=100, running=0)
    conn.commit()

    with conn.transaction():
        rows = conn.execute(query("queue", "claim"), CLAIM_PARAMS).fetchall()

    assert [row[0] for row in rows] == list(range(101, 109))
