"""Peak memory (max RSS) of `producer export` over all of ../shared/data, long and wide.

    .venv/bin/python -m bench.export_memory --database-url postgresql://postgres@127.0.0.1:5432/postgres

Loads the data into a fresh database, drains every window with two consumers (as
bench/end_to_end.py does), then runs each export in a subprocess of its own and reads the
child's peak RSS from getrusage (each export runs in a fresh process, so the peak is its
own). The issue asks for under 500 MB. ``--loaded-database-url`` reuses a database where
the features exist already (nothing is loaded, enqueued or dropped).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import common, data
from bench.end_to_end import drain

SHAPES = (("long", "parquet"), ("wide", "parquet"), ("long", "csv"), ("wide", "csv"))
LIMIT_MB = 500


def measure(url: str, shape: str, fmt: str, folder: Path) -> dict[str, Any]:
    """One export in a fresh process: its wall time, peak RSS and output size."""
    out = folder / f"features-{shape}.{fmt}"
    code = "from greenhouse_queue.producer.cli import main; raise SystemExit(main())"
    argv = [sys.executable, "-c", code, "export", "--out", str(out), f"--{shape}"]
    began = time.perf_counter()
    process = subprocess.Popen(argv, env={**os.environ, "DATABASE_URL": url})
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"export --{shape} to {fmt} failed with exit code {process.returncode}")
    return {
        "shape": shape,
        "format": fmt,
        "wall_seconds": time.perf_counter() - began,
        "max_rss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
        "file_mb": out.stat().st_size / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=data.DEFAULT_DATA)
    p.add_argument("--loaded-database-url", help="a database whose features exist already")
    args = p.parse_args(argv)

    record: dict[str, Any] = {"benchmark": "export_memory", "limit_mb": LIMIT_MB, "runs": []}
    with common.server(args.database_url) as server_url:
        record["machine"] = common.machine(server_url)
        url, created = args.loaded_database_url, None
        if url is None:
            url = created = common.fresh_database(server_url, "bench_export")
            record["load"] = data.load(url, args.data)
            record["drain"] = drain(url, consumers=2, batch=32)
        try:
            with psycopg.connect(url) as conn:
                (record["feature_rows"],) = conn.execute("SELECT count(*) FROM features").fetchone()
            print(f"  {record['feature_rows']:,} feature rows", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                for shape, fmt in SHAPES:
                    run = measure(url, shape, fmt, Path(tmp))
                    record["runs"].append(run)
                    print(
                        f"  {shape:<4} {fmt:<7} {run['wall_seconds']:6.1f}s  "
                        f"max RSS {run['max_rss_mb']:6.0f} MB  file {run['file_mb']:6.1f} MB",
                        flush=True,
                    )
        finally:
            if created is not None:
                common.drop_database(server_url, created)
    record["self_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    path = common.write_json("export_memory", record, args.out)
    print(f"  written to {path}")
    return 0 if all(run["max_rss_mb"] < LIMIT_MB for run in record["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
