"""Benchmark 1: queue overhead. Burn down N pre-enqueued no-op jobs with 1, 2 and 4
consumer processes, on ours, pgqueuer and procrastinate, on the same server, in one run.

Ours runs the real consumer loop (consumer.worker.Worker) on the real consumer sessions
(consumer.session.open_session: autocommit, synchronous_commit off unless
CONSUMER_SYNCHRONOUS_COMMIT says otherwise): the one-statement claim (with the
exhausted-lease sweep folded in), the worker's long-lived heartbeat thread and
connection, and fenced completion in one transaction, with only the stages and the
result writer replaced by no-ops. ``ours-bN`` runs as ``consumer run`` does by default
(synchronous_commit off); ``ours-bN-sync`` sets CONSUMER_SYNCHRONOUS_COMMIT=on, so every
commit waits for the disk, as pgqueuer's and procrastinate's do by default (the
server's synchronous_commit, on here). pgqueuer and procrastinate run their own worker
loops on an empty async task.

    python -m bench.queue_overhead [--jobs 2000] [--consumers 1 2 4] [--repeats 3]

Throughput counts from the moment every consumer is connected and ready until the last
one has exited with the queue drained (so the peers' buffered completions are in).
Claim latency is the time of one claim statement (one fetch for procrastinate).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from bench import common
from greenhouse_queue.consumer.session import SYNCHRONOUS_COMMIT_ENV

SYSTEMS = (
    "ours-b1",
    "ours-b8",
    "ours-b1-sync",
    "ours-b8-sync",
    "pgqueuer-b1",
    "pgqueuer-b10",
    "procrastinate",
)


def batch_of(system: str) -> int:
    """The batch size in a system's name: ours-b8-sync -> 8."""
    return int(system.split("-b", 1)[1].split("-")[0])


@dataclass(frozen=True)
class Run:
    system: str
    url: str
    consumers: int
    jobs: int


# --------------------------------------------------------------------------- setup


def prepare(system: str, url: str, jobs: int) -> None:
    """Empties the system's queue and enqueues ``jobs`` no-op jobs."""
    if system.startswith("ours"):
        _prepare_ours(url, jobs)
    elif system.startswith("pgqueuer"):
        asyncio.run(_prepare_pgqueuer(url, jobs))
    else:
        asyncio.run(_prepare_procrastinate(url, jobs))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _prepare_ours(url: str, jobs: int) -> None:
    from greenhouse_queue import queue

    origin = datetime(2000, 1, 1, tzinfo=UTC)
    windows = [(origin + timedelta(hours=i), origin + timedelta(hours=i + 1)) for i in range(jobs)]
    with psycopg.connect(url) as conn:
        with conn.transaction():
            conn.execute("TRUNCATE jobs RESTART IDENTITY")
        queue.enqueue(conn, windows)


async def _prepare_pgqueuer(url: str, jobs: int) -> None:
    from pgqueuer import PsycopgDriver, Queries

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        queries = Queries(PsycopgDriver(conn))
        if not await queries.schema_is_installed():
            await queries.install()
        await conn.execute("TRUNCATE pgqueuer, pgqueuer_log")
        await queries.enqueue(["noop"] * jobs, [None] * jobs, [0] * jobs)


def _procrastinate_app(url: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop")
    async def noop() -> None:
        return None

    return app


async def _prepare_procrastinate(url: str, jobs: int) -> None:
    app = _procrastinate_app(url)
    async with app.open_async():
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            installed = await (
                await conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")
            ).fetchone()
        if not installed[0]:
            await app.schema_manager.apply_schema_async()
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("TRUNCATE procrastinate_jobs RESTART IDENTITY CASCADE")
        await app.tasks["noop"].batch_defer_async(*({} for _ in range(jobs)))


def remaining(system: str, url: str) -> int:
    """Jobs not yet finished: 0 after a good run."""
    statement = {
        "ours": "SELECT count(*) FROM jobs WHERE status <> 'done'",
        "pgqueuer": "SELECT count(*) FROM pgqueuer",
        "procrastinate": "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'",
    }[system.split("-")[0]]
    with psycopg.connect(url, autocommit=True) as conn:
        return int(conn.execute(statement).fetchone()[0])


# --------------------------------------------------------------------------- consumers


def consumer(system: str, url: str, ready: Any, go: Any, results: Any) -> None:
    """One consumer process: set up, say ready, wait for go, drain, report."""
    logging.basicConfig(level=logging.WARNING)
    latencies: list[float] = []
    if system.startswith("ours"):
        # Read by consumer.session.open_session for the work and heartbeat connections.
        os.environ[SYNCHRONOUS_COMMIT_ENV] = "on" if system.endswith("-sync") else "off"
        work = _ours(url, batch_of(system), latencies)
    elif system.startswith("pgqueuer"):
        work = _pgqueuer(url, batch_of(system), latencies, ready, go)
    else:
        work = _procrastinate(url, latencies, ready, go)
    if system.startswith("ours"):
        ready.wait()
        go.wait()
        began = time.perf_counter()
        work()
    else:
        began = time.perf_counter()
        asyncio.run(work)
    results.put({"began": began, "ended": time.perf_counter(), "claims": latencies})


def _ours(url: str, batch: int, latencies: list[float]) -> Any:
    """The real Worker with no-op stages and a no-op result writer."""
    from greenhouse_queue import queue
    from greenhouse_queue.consumer import worker as worker_module
    from greenhouse_queue.settings import QueueTiming

    class NoOpResult:
        def __init__(self, job: queue.Job) -> None:
            self.job = job
            self.stage_seconds = {"noop": 0.0}
            self.notes: dict[str, Any] = {}
            self.features = _NoFeatures

    class NoOpWorker(worker_module.Worker):
        def _claim(self, conn: psycopg.Connection) -> list[queue.Job]:
            began = time.perf_counter()
            jobs = super()._claim(conn)
            if jobs:
                latencies.append(time.perf_counter() - began)
            return jobs

        def _complete(self, conn: psycopg.Connection, results: Any) -> set[int]:
            outcomes = [queue.Outcome(r.job, r.stage_seconds, r.notes) for r in results]
            return queue.complete(
                conn, worker=self.config.name, outcomes=outcomes, write_results=_write_nothing
            )

    worker_module.run_batch = lambda _conn, jobs, *_a, **_k: [NoOpResult(j) for j in jobs]
    config = worker_module.WorkerConfig(
        url=url,
        name=f"bench-{mp.current_process().pid}",
        batch=batch,
        drain=True,
        timing=QueueTiming(lease_seconds=30, heartbeat_seconds=10, poll_seconds=1),
    )
    import numpy

    w = NoOpWorker(config, numpy, "cpu")
    w._connection()  # connect before the clock starts, as the peers do
    return w.run


class _NoFeatures:
    value = ()


def _write_nothing(_conn: psycopg.Connection, _ids: set[int]) -> None:
    return None


async def _pgqueuer(url: str, batch: int, latencies: list[float], ready: Any, go: Any) -> None:
    from pgqueuer import Queries, QueueManager
    from pgqueuer.types import QueueExecutionMode

    driver, close = await _pgqueuer_driver(url)
    qm = QueueManager(Queries(driver))

    @qm.entrypoint("noop")
    async def noop(_job: object) -> None:
        return None

    dequeue = qm.queries.dequeue

    async def timed_dequeue(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        jobs = await dequeue(*args, **kwargs)
        if jobs:
            latencies.append(time.perf_counter() - began)
        return jobs

    qm.queries.dequeue = timed_dequeue  # type: ignore[method-assign]
    ready.wait()
    go.wait()
    await qm.run(
        mode=QueueExecutionMode.drain,
        batch_size=batch,
        dequeue_timeout=timedelta(seconds=1),
        log_aggregation_interval=timedelta(0),
    )
    await close()


async def _pgqueuer_driver(url: str) -> tuple[Any, Any]:
    """pgqueuer's asyncpg driver (its fastest, the one its docs lead with), else psycopg."""
    try:
        import asyncpg
    except ImportError:
        asyncpg = None
    if asyncpg is not None:
        from pgqueuer import AsyncpgDriver

        conn = await asyncpg.connect(url)
        return AsyncpgDriver(conn), conn.close
    from pgqueuer import PsycopgDriver

    pconn = await psycopg.AsyncConnection.connect(url, autocommit=True)
    return PsycopgDriver(pconn), pconn.close


async def _procrastinate(url: str, latencies: list[float], ready: Any, go: Any) -> None:
    app = _procrastinate_app(url)
    async with app.open_async():
        fetch = app.job_manager.fetch_job

        async def timed_fetch(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            job = await fetch(*args, **kwargs)
            if job is not None:
                latencies.append(time.perf_counter() - began)
            return job

        app.job_manager.fetch_job = timed_fetch  # type: ignore[method-assign]
        await app.job_manager.check_connection_async()  # the pool's first connection
        ready.wait()
        go.wait()
        await app.run_worker_async(
            wait=False, concurrency=1, listen_notify=False, install_signal_handlers=False
        )


# --------------------------------------------------------------------------- one run


def burn_down(run: Run) -> dict[str, Any]:
    prepare(run.system, run.url, run.jobs)
    ctx = mp.get_context("spawn")
    ready, go = ctx.Barrier(run.consumers + 1), ctx.Event()
    results = ctx.Queue()
    procs = [
        ctx.Process(target=consumer, args=(run.system, run.url, ready, go, results))
        for _ in range(run.consumers)
    ]
    for p in procs:
        p.start()
    ready.wait(timeout=120)
    t0 = time.perf_counter()
    go.set()
    reports = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    elapsed = max(r["ended"] for r in reports) - t0
    left = remaining(run.system, run.url)
    if left:
        raise RuntimeError(f"{run.system}: {left} jobs were left unfinished")
    claims = [c for r in reports for c in r["claims"]]
    return {
        "seconds": elapsed,
        "jobs_per_second": run.jobs / elapsed,
        "claims": len(claims),
        "claim_p50_ms": common.percentile(claims, 50) * 1000,
        "claim_p99_ms": common.percentile(claims, 99) * 1000,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2000)
    p.add_argument("--consumers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    args = p.parse_args(argv)

    with common.server(args.database_url) as server_url:
        urls = {
            "ours": common.fresh_database(server_url, "bench_ours"),
            "pgqueuer": common.fresh_database(server_url, "bench_pgqueuer", migrate=False),
            "procrastinate": common.fresh_database(
                server_url, "bench_procrastinate", migrate=False
            ),
        }
        record: dict[str, Any] = {
            "benchmark": "queue_overhead",
            "machine": common.machine(server_url),
            "jobs": args.jobs,
            "repeats": args.repeats,
            "runs": [],
        }
        try:
            # Repeats interleave the systems, so drift in the machine hits all of them.
            for repeat in range(args.repeats):
                for consumers in args.consumers:
                    for system in args.systems:
                        run = Run(system, urls[system.split("-")[0]], consumers, args.jobs)
                        figures = burn_down(run)
                        record["runs"].append(
                            {"system": system, "consumers": consumers, "repeat": repeat, **figures}
                        )
                        print(
                            f"  run {repeat + 1}/{args.repeats} {system:>14} x{consumers}: "
                            f"{figures['jobs_per_second']:8.0f} jobs/s, claim p50 "
                            f"{figures['claim_p50_ms']:.2f} ms, "
                            f"p99 {figures['claim_p99_ms']:.2f} ms",
                            flush=True,
                        )
        finally:
            for url in urls.values():
                common.drop_database(server_url, url)

    record["summary"] = summarise(record["runs"], args.systems, args.consumers)
    rows = [
        [
            s["system"],
            s["consumers"],
            s["jobs_per_second"],
            s["claim_p50_ms"],
            s["claim_p99_ms"],
            s.get("vs_pgqueuer", float("nan")),
            s.get("vs_procrastinate", float("nan")),
        ]
        for s in record["summary"]
    ]
    path = common.write_json("queue_overhead", record, args.out)
    print()
    print(f"Queue overhead: {args.jobs} no-op jobs, medians of {args.repeats} runs")
    print(
        common.table(
            [
                "system",
                "consumers",
                "jobs/s",
                "claim p50 ms",
                "claim p99 ms",
                "x pgqueuer",
                "x procrastinate",
            ],
            rows,
        )
    )
    print("x pgqueuer: against the faster pgqueuer batch size; medians of per-repeat ratios")
    print(f"JSON: {path}")
    return 0


def summarise(runs: list[dict[str, Any]], systems: list[str], consumers: list[int]) -> list[dict]:
    """Medians per (system, consumers), and ours against the peers as medians of the ratios
    measured within each repeat (the same minute on the same machine)."""
    out = []
    by = {(r["system"], r["consumers"], r["repeat"]): r for r in runs}
    repeats = sorted({r["repeat"] for r in runs})
    for n in consumers:
        for system in systems:
            mine = [by[(system, n, k)] for k in repeats if (system, n, k) in by]
            row: dict[str, Any] = {
                "system": system,
                "consumers": n,
                "jobs_per_second": common.median([r["jobs_per_second"] for r in mine]),
                "claim_p50_ms": common.median([r["claim_p50_ms"] for r in mine]),
                "claim_p99_ms": common.median([r["claim_p99_ms"] for r in mine]),
            }
            if system.startswith("ours"):
                for peer, names in (
                    ("pgqueuer", ("pgqueuer-b1", "pgqueuer-b10")),
                    ("procrastinate", ("procrastinate",)),
                ):
                    ratios = []
                    for k in repeats:
                        peers = [by[(p, n, k)]["jobs_per_second"] for p in names if (p, n, k) in by]
                        if peers and (system, n, k) in by:
                            ratios.append(by[(system, n, k)]["jobs_per_second"] / max(peers))
                    if ratios:
                        row[f"vs_{peer}"] = common.median(ratios)
            out.append(row)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
