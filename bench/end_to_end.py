"""Benchmark 4: end to end. Load the whole ../shared/data, enqueue its full date range
(one-day jobs), drain it with 1 and 2 consumer processes (the real `consumer run --drain`),
and compare with the I/O floor measured in the same run: COPY the raw rows out of
PostgreSQL plus COPY the stored feature vectors in (the bytes the drain had to write).

    python -m bench.end_to_end [--consumers 1 2] [--batch 8] [--repeats 3] [--profile]
                               [--feature-set default]

Each run also reports the feature storage: pg_total_relation_size of every relation
that stores features (vectors and layouts, indexes and TOAST included) per stored value.

Wall time counts from starting the consumer processes until the last has exited (so it
includes their start-up). CPU is user + system seconds per consumer; RSS is each
consumer's peak resident memory (getrusage ru_maxrss). --profile adds one more drain
with one consumer under pyinstrument and writes its report next to the JSON.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench import common, data

RESET = "TRUNCATE jobs, feature_vectors, feature_layouts, resampled, changepoints RESTART IDENTITY"
RAW = ("readings", "weather", "spot_prices")
# Every relation that stores feature values: the bytes per value count all of them.
FEATURE_STORAGE = ("feature_vectors", "feature_layouts")
# Issue 10's targets per feature set: values/s, x the I/O floor, bytes per stored value.
TARGETS = {
    "default": "targets: >= 150,000 values/s",
    "efficient": "targets: >= 300,000 values/s, <= 1.5x floor, <= 16 bytes per value",
}


def enqueue_all(url: str) -> int:
    from greenhouse_queue import queue
    from greenhouse_queue.producer.windows import windows

    with psycopg.connect(url) as conn:
        with conn.transaction():
            conn.execute(RESET)
        added = queue.enqueue(conn, windows(data.FIRST_DAY, data.LAST_DAY, timedelta(days=1)))
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE jobs")
    return added.added


def consumer_argv(batch: int, feature_set: str, profile: Path | None = None) -> list[str]:
    code = "from greenhouse_queue.consumer.cli import main; raise SystemExit(main())"
    run = ["run", "--drain", "--batch", str(batch), "--device", "cpu"]
    run += ["--feature-set", feature_set]
    if profile is None:
        return [sys.executable, "-c", code, *run]
    return [
        sys.executable, "-m", "pyinstrument", "-r", "text", "--show-all", "-o", str(profile),
        "-c", code, *run,
    ]  # fmt: skip


def drain(
    url: str, consumers: int, batch: int, feature_set: str, profile: Path | None = None
) -> dict[str, Any]:
    jobs = enqueue_all(url)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "LOG_LEVEL": "WARNING",
            "CONSUMER_HEALTH_FILE": str(Path(tmp) / "health"),
            "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1",
        }
        began = time.perf_counter()
        procs = [
            subprocess.Popen(
                consumer_argv(batch, feature_set, profile),
                cwd=common.REPO,
                env={**env, "CONSUMER_HEALTH_FILE": f"{tmp}/health{i}"},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i in range(consumers)
        ]
        usage = []
        for proc in procs:
            stderr = proc.stderr.read() if proc.stderr else b""
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                raise RuntimeError(f"consumer exited {proc.returncode}:\n{stderr.decode()[-3000:]}")
            usage.append(
                {
                    "cpu_seconds": rusage.ru_utime + rusage.ru_stime,
                    "max_rss_mb": rusage.ru_maxrss / 1024,
                }
            )
        wall = time.perf_counter() - began
    with psycopg.connect(url) as conn:
        values = int(conn.execute("SELECT count(*) FROM features").fetchone()[0])
        undone = int(conn.execute("SELECT count(*) FROM jobs WHERE status <> 'done'").fetchone()[0])
    if undone:
        raise RuntimeError(f"{undone} jobs were not done after the drain")
    storage = feature_storage(url)
    return {
        "jobs": jobs,
        "feature_set": feature_set,
        "feature_values": values,
        "storage": storage,
        "bytes_per_value": storage["bytes"] / values if values else float("nan"),
        "wall_seconds": wall,
        "feature_values_per_second": values / wall,
        "consumers": usage,
        "max_rss_mb": max(u["max_rss_mb"] for u in usage),
        "cpu_seconds": sum(u["cpu_seconds"] for u in usage),
    }


def feature_storage(url: str) -> dict[str, Any]:
    """Bytes on disk of every relation that stores features (after a VACUUM, so the free
    space map and visibility map count as they would in a settled table)."""
    with psycopg.connect(url, autocommit=True) as conn:
        sizes = {}
        for relation in FEATURE_STORAGE:
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(relation)))
            row = conn.execute("SELECT pg_total_relation_size(%s::regclass)", [relation])
            sizes[relation] = int(row.fetchone()[0])
        vectors = conn.execute(
            "SELECT count(*), pg_relation_size('feature_vectors'),"
            " pg_indexes_size('feature_vectors'),"
            " pg_total_relation_size('feature_vectors') - pg_relation_size('feature_vectors')"
            " - pg_indexes_size('feature_vectors') FROM feature_vectors"
        ).fetchone()
    rows, heap, indexes, toast_and_maps = (int(v) for v in vectors)
    return {
        "relations": sizes,
        "bytes": sum(sizes.values()),
        "vectors": rows,
        "vector_heap_bytes": heap,
        "vector_index_bytes": indexes,
        "vector_toast_and_map_bytes": toast_and_maps,
    }


def io_floor(url: str) -> dict[str, Any]:
    """COPY every raw row out (binary) plus COPY the feature vectors just written back in,
    into a copy of feature_vectors with the same key and storage settings, committed."""
    out_bytes = 0
    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        for table in RAW:
            statement = sql.SQL("COPY {} TO STDOUT (FORMAT BINARY)").format(sql.Identifier(table))
            with conn.cursor().copy(statement) as copy:
                for block in copy:
                    out_bytes += len(block)
        conn.rollback()
    copy_out = time.perf_counter() - began

    with psycopg.connect(url) as conn:
        blocks = []
        with conn.cursor().copy("COPY feature_vectors TO STDOUT (FORMAT BINARY)") as copy:
            blocks.extend(bytes(block) for block in copy)
        conn.execute("DROP TABLE IF EXISTS features_floor")
        conn.execute("CREATE TABLE features_floor (LIKE feature_vectors INCLUDING ALL)")
        (options,) = conn.execute(
            "SELECT coalesce(reloptions, '{}') FROM pg_class"
            " WHERE oid = 'feature_vectors'::regclass"
        ).fetchone()
        if options:  # LIKE copies column storage, not the table's storage parameters
            conn.execute(
                sql.SQL("ALTER TABLE features_floor SET ({})").format(
                    sql.SQL(", ").join(sql.SQL(option) for option in options)
                )
            )
        conn.commit()
        began = time.perf_counter()
        with conn.cursor().copy("COPY features_floor FROM STDIN (FORMAT BINARY)") as copy:
            for block in blocks:
                copy.write(block)
        conn.commit()
        copy_in = time.perf_counter() - began
        rows = int(conn.execute("SELECT count(*) FROM features_floor").fetchone()[0])
        conn.execute("DROP TABLE features_floor")
        conn.commit()
    return {
        "copy_out_seconds": copy_out,
        "copy_out_bytes": out_bytes,
        "copy_in_seconds": copy_in,
        "copy_in_rows": rows,
        "floor_seconds": copy_out + copy_in,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=data.DEFAULT_DATA)
    p.add_argument("--loaded-database-url", help="a database that already holds the data")
    p.add_argument("--consumers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--profile", action="store_true")
    p.add_argument("--feature-set", default="default", help="consumer run --feature-set")
    p.add_argument(
        "--database-prefix", default="bench_e2e", help="name prefix of the database it creates"
    )
    args = p.parse_args(argv)

    record: dict[str, Any] = {
        "benchmark": "end_to_end",
        "batch": args.batch,
        "feature_set": args.feature_set,
        "runs": [],
    }
    with common.server(args.database_url) as server_url:
        record["machine"] = common.machine(server_url)
        url, created = args.loaded_database_url, None
        if url is None:
            url = created = common.fresh_database(server_url, args.database_prefix)
            record["load"] = data.load(url, args.data)
            print(
                f"  loaded {record['load']['raw_rows']:,} raw rows in "
                f"{record['load']['load_seconds']:.1f}s",
                flush=True,
            )
        try:
            with psycopg.connect(url) as conn:
                record["raw_rows"] = sum(
                    int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608
                    for t in RAW
                )
            for repeat in range(args.repeats):
                for consumers in args.consumers:
                    figures = drain(url, consumers, args.batch, args.feature_set)
                    floor = io_floor(url)
                    figures.update(
                        repeat=repeat,
                        consumers_n=consumers,
                        floor=floor,
                        vs_floor=figures["wall_seconds"] / floor["floor_seconds"],
                    )
                    record["runs"].append(figures)
                    print(
                        f"  run {repeat + 1}/{args.repeats} x{consumers}: "
                        f"{figures['wall_seconds']:.1f}s, "
                        f"{figures['feature_values_per_second']:,.0f} values/s, "
                        f"max RSS {figures['max_rss_mb']:.0f} MB, floor "
                        f"{floor['floor_seconds']:.2f}s ({figures['vs_floor']:.2f}x), "
                        f"{figures['bytes_per_value']:.1f} bytes/value",
                        flush=True,
                    )
            if args.profile:
                stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                profile = common.OUT / f"end_to_end-profile-{stamp}.txt"
                common.OUT.mkdir(parents=True, exist_ok=True)
                record["profile_run"] = drain(url, 1, args.batch, args.feature_set, profile)
                record["profile"] = str(profile)
                print(f"  profile: {profile}", flush=True)
        finally:
            if created:
                common.drop_database(server_url, created)

    summary = []
    for n in args.consumers:
        mine = [r for r in record["runs"] if r["consumers_n"] == n]
        summary.append(
            {
                "consumers": n,
                "wall_seconds": common.median([r["wall_seconds"] for r in mine]),
                "feature_values": mine[0]["feature_values"],
                "feature_values_per_second": common.median(
                    [r["feature_values_per_second"] for r in mine]
                ),
                "cpu_seconds_per_consumer": common.median([r["cpu_seconds"] / n for r in mine]),
                "max_rss_mb": max(r["max_rss_mb"] for r in mine),
                "floor_seconds": common.median([r["floor"]["floor_seconds"] for r in mine]),
                "vs_floor": common.median([r["vs_floor"] for r in mine]),
                "bytes_per_value": common.median([r["bytes_per_value"] for r in mine]),
            }
        )
    record["summary"] = summary
    path = common.write_json("end_to_end", record, args.out)
    print()
    print(
        f"End to end: {record['raw_rows']:,} raw rows, {summary[0]['feature_values']:,} feature "
        f"values of set {args.feature_set!r}, batch {args.batch}, medians of {args.repeats} runs "
        f"({TARGETS.get(args.feature_set, 'no targets for this set')})"
    )
    print(
        common.table(
            [
                "consumers",
                "wall s",
                "values/s",
                "CPU s/consumer",
                "max RSS MB",
                "floor s",
                "x floor",
                "bytes/value",
            ],
            [
                [
                    s["consumers"],
                    s["wall_seconds"],
                    s["feature_values_per_second"],
                    s["cpu_seconds_per_consumer"],
                    s["max_rss_mb"],
                    s["floor_seconds"],
                    s["vs_floor"],
                    s["bytes_per_value"],
                ]
                for s in summary
            ],
        )
    )
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
