"""Benchmark 2: claim at depth. With 1,000,000 queued jobs (and optionally as many
finished ones), claim one job and complete it, 500 times: p50 and p99 of the claim
alone and of claim + fenced completion, plus the claim's EXPLAIN (ANALYZE, BUFFERS).

Claims run on a consumer session (consumer.session.open_session: autocommit, so the
claim is one statement and one commit), once with synchronous_commit off (the consumer's
default) and once on (CONSUMER_SYNCHRONOUS_COMMIT=on: every commit waits for the WAL
flush).

    python -m bench.claim_depth [--queued 1000000] [--done 0] [--claims 500]
        [--synchronous-commit off on]

The target: claim p99 under 5 ms, and the queued branch of the claim reads the partial
index jobs_queued_idx (tests/test_claim_plan.py pins that plan).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg

from bench import common
from greenhouse_queue import queue
from greenhouse_queue.consumer.session import SYNCHRONOUS_COMMIT_ENV, open_session
from greenhouse_queue.queries import query

FILL = """
INSERT INTO jobs (window_start, window_end, status, finished_at)
SELECT timestamptz '1990-01-01' + make_interval(hours => g),
       timestamptz '1990-01-01' + make_interval(hours => g + 1),
       %(status)s,
       CASE WHEN %(status)s = 'done' THEN now() END
FROM generate_series(%(first)s::int, %(last)s::int) AS g
"""


def fill(url: str, queued: int, done: int) -> float:
    """Inserts ``done`` finished and ``queued`` queued jobs; returns the seconds it took."""
    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        if done:
            conn.execute(FILL, {"status": "done", "first": 0, "last": done - 1})
        conn.execute(FILL, {"status": "queued", "first": done, "last": done + queued - 1})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE jobs")
    return time.perf_counter() - began


def explain(conn: psycopg.Connection) -> dict[str, Any]:
    """The claim's plan with real timings; rolled back, so nothing is claimed."""
    params = {"worker": "explain", "batch": 1, "lease_seconds": 30, "device": "cpu"}
    with conn.transaction(force_rollback=True):
        (plan,) = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + query("queue", "claim"), params
        ).fetchone()
    return plan[0] if isinstance(plan, list) else json.loads(plan)[0]


def index_names(node: dict[str, Any]) -> set[str]:
    found = {node["Index Name"]} if "Index Name" in node else set()
    for child in node.get("Plans", []):
        found |= index_names(child)
    return found


@contextmanager
def consumer_session(url: str, synchronous_commit: str) -> Iterator[psycopg.Connection]:
    """A session opened as `consumer run` opens it, with CONSUMER_SYNCHRONOUS_COMMIT set."""
    before = os.environ.get(SYNCHRONOUS_COMMIT_ENV)
    os.environ[SYNCHRONOUS_COMMIT_ENV] = synchronous_commit
    try:
        conn = open_session(url)
    finally:
        if before is None:
            os.environ.pop(SYNCHRONOUS_COMMIT_ENV, None)
        else:
            os.environ[SYNCHRONOUS_COMMIT_ENV] = before
    with conn:
        setting = conn.execute("SHOW synchronous_commit").fetchone()[0]
        if setting != synchronous_commit:
            raise RuntimeError(
                f"session has synchronous_commit={setting}, not {synchronous_commit}"
            )
        yield conn


def measure(url: str, claims: int, batch: int, synchronous_commit: str) -> dict[str, Any]:
    claim_s: list[float] = []
    total_s: list[float] = []
    with consumer_session(url, synchronous_commit) as conn:
        for _ in range(claims):
            began = time.perf_counter()
            jobs = queue.claim(conn, worker="bench", batch=batch, lease_seconds=30, device="cpu")
            claimed = time.perf_counter()
            queue.complete(
                conn,
                worker="bench",
                outcomes=[queue.Outcome(job, {"noop": 0.0}) for job in jobs],
                write_results=lambda _c, _ids: None,
            )
            ended = time.perf_counter()
            if len(jobs) != batch:
                raise RuntimeError(f"claimed {len(jobs)} jobs, expected {batch}")
            claim_s.append(claimed - began)
            total_s.append(ended - began)
        plan = explain(conn)
    return {
        "batch": batch,
        "synchronous_commit": synchronous_commit,
        "claims": claims,
        "claim_p50_ms": common.percentile(claim_s, 50) * 1000,
        "claim_p99_ms": common.percentile(claim_s, 99) * 1000,
        "claim_max_ms": max(claim_s) * 1000,
        "claim_complete_p50_ms": common.percentile(total_s, 50) * 1000,
        "claim_complete_p99_ms": common.percentile(total_s, 99) * 1000,
        "indexes_used": sorted(index_names(plan["Plan"])),
        "plan_execution_ms": plan.get("Execution Time"),
        "plan": plan,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--queued", type=int, default=1_000_000)
    p.add_argument("--done", type=int, default=0, help="finished jobs to add below the queue")
    p.add_argument("--claims", type=int, default=500)
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument(
        "--synchronous-commit",
        nargs="+",
        default=["off", "on"],
        choices=["off", "on"],
        help="consumer session settings to measure (default: off, the consumer's, and on)",
    )
    args = p.parse_args(argv)

    with common.server(args.database_url) as server_url:
        url = common.fresh_database(server_url, "bench_depth")
        try:
            record: dict[str, Any] = {
                "benchmark": "claim_depth",
                "machine": common.machine(server_url),
                "queued": args.queued,
                "done": args.done,
                "fill_seconds": fill(url, args.queued, args.done),
                "runs": [],
            }
            for repeat in range(args.repeats):
                for batch in args.batches:
                    for sync in args.synchronous_commit:
                        figures = measure(url, args.claims, batch, sync)
                        record["runs"].append({"repeat": repeat, **figures})
                        print(
                            f"  run {repeat + 1}/{args.repeats} batch {batch} "
                            f"synchronous_commit {sync}: claim p50 "
                            f"{figures['claim_p50_ms']:.2f} ms, "
                            f"p99 {figures['claim_p99_ms']:.2f} ms",
                            flush=True,
                        )
        finally:
            common.drop_database(server_url, url)

    summary = []
    for batch in args.batches:
        for sync in args.synchronous_commit:
            mine = [
                r for r in record["runs"] if r["batch"] == batch and r["synchronous_commit"] == sync
            ]
            summary.append(
                {
                    "batch": batch,
                    "synchronous_commit": sync,
                    "plan_execution_ms": common.median([r["plan_execution_ms"] for r in mine]),
                    **{
                        key: common.median([r[key] for r in mine])
                        for key in (
                            "claim_p50_ms",
                            "claim_p99_ms",
                            "claim_complete_p50_ms",
                            "claim_complete_p99_ms",
                        )
                    },
                    "uses_jobs_queued_idx": all(
                        "jobs_queued_idx" in r["indexes_used"] for r in mine
                    ),
                }
            )
    record["summary"] = summary
    path = common.write_json("claim_depth", record, args.out)
    print()
    print(
        f"Claim at depth: {args.queued:,} queued + {args.done:,} done jobs, "
        f"{args.claims} claims per run, medians of {args.repeats} runs (target: p99 < 5 ms)"
    )
    print(
        common.table(
            [
                "batch",
                "sync commit",
                "claim p50 ms",
                "claim p99 ms",
                "+complete p50",
                "+complete p99",
                "plan ms",
                "jobs_queued_idx",
            ],
            [
                [
                    s["batch"],
                    s["synchronous_commit"],
                    s["claim_p50_ms"],
                    s["claim_p99_ms"],
                    s["claim_complete_p50_ms"],
                    s["claim_complete_p99_ms"],
                    s["plan_execution_ms"],
                    "yes" if s["uses_jobs_queued_idx"] else "NO",
                ]
                for s in summary
            ],
        )
    )
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
