"""Benchmark 8: where the completion transaction spends its time. Runs the real stages for
``--batches`` batches of ``--batch`` one-day jobs of a drained database, in process, and
completes each with the real writer, timing every statement and COPY of the transaction
(client time: the server's work plus the round trip) and the Python that encodes them.

    python -m bench.completion --loaded-database-url URL [--batch 8] [--batches 10]
                               [--first 2015-11-01] [--feature-set default]

The jobs' windows lose their stored outputs first, so each batch writes as a first run
does. The database must be at head and hold the data and its jobs (e.g. after
``bench.end_to_end --loaded-database-url URL``); its outputs for those windows are
rewritten.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

import psycopg

from bench import common
from greenhouse_queue import queue
from greenhouse_queue.consumer import results
from greenhouse_queue.consumer.pipeline import PipelineConfig, run_batch

WORKER = "bench-completion"
CLEAR = (
    "DELETE FROM feature_vectors WHERE window_start >= %(first)s AND window_start < %(last)s",
    "DELETE FROM resampled WHERE time >= %(first)s AND time < %(last)s",
    "DELETE FROM changepoints WHERE time >= %(first)s AND time < %(last)s",
)
REQUEUE = (
    "UPDATE jobs SET status = 'queued', attempts = 0, run_after = now()"
    " WHERE window_start >= %(first)s AND window_start < %(last)s"
)
WINDOWS = (
    "SELECT min(window_start), max(window_end) FROM (SELECT window_start, window_end FROM jobs"
    " WHERE window_start >= %(first)s ORDER BY window_start LIMIT %(jobs)s) AS j"
)


class TimedConnection(psycopg.Connection):
    """Adds up the time of every statement while ``timing`` is on, by its first words."""

    seconds: Counter[str]
    timing = False

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return super().execute(statement, *args, **kwargs)
        finally:
            if self.timing:
                self.seconds["server: " + " ".join(str(statement).split())[:48]] += (
                    time.perf_counter() - began
                )


def timed_copy(seconds: Counter[str]) -> Any:
    """results._copy_stream, with the encoding and the COPY timed apart."""
    copy_stream = results._copy_stream

    def timed(conn: psycopg.Connection, name: str, chunks: Iterable[bytes]) -> None:
        began = time.perf_counter()
        chunks = list(chunks)
        seconds[f"python: encode {name}"] += time.perf_counter() - began
        began = time.perf_counter()
        copy_stream(conn, name, chunks)
        seconds[f"server: {name}"] += time.perf_counter() - began

    return timed


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--loaded-database-url", required=True)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--first", type=date.fromisoformat, default=date(2015, 11, 1))
    p.add_argument("--feature-set", default="default")
    args = p.parse_args(argv)

    seconds: Counter[str] = Counter()
    results._copy_stream = timed_copy(seconds)
    config = PipelineConfig(feature_set=args.feature_set)
    completion, values = 0.0, 0
    with TimedConnection.connect(args.loaded_database_url, autocommit=True) as conn:
        conn.seconds = seconds
        span = {"first": args.first, "jobs": args.batch * args.batches}
        first, last = conn.execute(WINDOWS, span).fetchone()
        for statement in (*CLEAR, REQUEUE):
            conn.execute(statement, {"first": first, "last": last})
        conn.execute("VACUUM ANALYZE feature_vectors, resampled, changepoints")
        for _ in range(args.batches):
            jobs = queue.claim(conn, worker=WORKER, batch=args.batch, lease_seconds=600,
                               device="cpu")  # fmt: skip
            batch = run_batch(conn, jobs, config)
            values += sum(len(result.features) for result in batch)
            conn.timing = True
            began = time.perf_counter()
            queue.complete(
                conn,
                worker=WORKER,
                outcomes=[queue.Outcome(job, feature_set=args.feature_set) for job in jobs],
                write_results=lambda c, owned, batch=batch: results.write(c, batch, owned),
            )
            completion += time.perf_counter() - began
            conn.timing = False
    seconds["python: the rest (feature vectors, layouts, batching)"] = completion - sum(
        seconds.values()
    )
    record = {
        "benchmark": "completion",
        "batch": args.batch,
        "batches": args.batches,
        "feature_set": args.feature_set,
        "feature_values": values,
        "completion_seconds": completion,
        "parts": dict(seconds.most_common()),
        "machine": common.machine(),
    }
    path = common.write_json("completion", record, args.out)
    print(
        f"Completion of {args.batches} batches of {args.batch} jobs ({values:,} feature values, "
        f"set {args.feature_set!r}): {completion:.2f} s"
    )
    print(common.table(["part", "seconds", "share"],
                       [[part, s, f"{100 * s / completion:.0f} %"]
                        for part, s in seconds.most_common()]))  # fmt: skip
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
