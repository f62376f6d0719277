"""The real data set, loaded once per benchmark: every file under ../shared/data."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg

from bench.common import REPO

DEFAULT_DATA = REPO.parent / "shared" / "data"
SUFFIXES = {".csv", ".json"}
# The range users enqueue (see ../shared/data/README.md).
FIRST_DAY, LAST_DAY = date(2013, 12, 1), date(2016, 9, 8)


def data_files(root: Path = DEFAULT_DATA) -> list[Path]:
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no .csv or .json files under {root}: pass --data")
    return files


def load(url: str, root: Path = DEFAULT_DATA) -> dict[str, Any]:
    """Loads every file with the producer's loader; returns seconds and row counts."""
    from greenhouse_queue.producer.load import load_files

    files = data_files(root)
    began = time.perf_counter()
    with psycopg.connect(url) as conn:
        load_files(conn, files)
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
        counts = {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("readings", "weather", "spot_prices")
        }
    return {
        "files": [str(p.relative_to(root)) for p in files],
        "load_seconds": time.perf_counter() - began,
        "rows": counts,
        "raw_rows": sum(counts.values()),
    }
