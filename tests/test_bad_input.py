"""Bad input is refused clearly and loses nothing.

One row per bad input, across both CLIs and the loaders: the exit code, a message that
names the problem, and a database left exactly as it was (every table's content hash).
The database already holds raw data and jobs, so "unchanged" means something.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import CONSUMER, PRODUCER, REPO, SAMPLE

PRICES = SAMPLE / "prices" / "Elspotprices-DK1.csv"
KNUDJEPSEN = SAMPLE / "knudjepsen" / "NO3_LAMPEGRP_1.csv"
USAGE, RUNTIME = 2, 1


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    code: int
    message: str  # a regular expression the output must match
    env: dict[str, str] = field(default_factory=dict)
    database: str = "sample"  # sample | unmigrated | newer | unreachable


def files(tmp: Path) -> dict[str, str]:
    """Bad files, made from the shipped sample."""
    lines = PRICES.read_text().splitlines()
    made = {
        "missing": tmp / "no-such-file.csv",
        "directory": tmp / "a-directory",
        "empty": tmp / "empty.csv",
        "unknown": tmp / "unknown.csv",
        "binary": tmp / "binary.csv",
        "truncated": tmp / "truncated.csv",
        "non_numeric": tmp / "non-numeric.csv",
        "infinite": tmp / "infinite.csv",
        "unreadable": tmp / "unreadable.csv",
    }
    made["directory"].mkdir()
    made["empty"].write_text("")
    made["unknown"].write_text("a,b\n1,2\n")
    made["binary"].write_bytes(b"\xff\xfe\x00\x01binary\x00\x00")
    made["truncated"].write_bytes(KNUDJEPSEN.read_bytes()[:3000])
    head, first, second = lines[0], lines[1], lines[2]
    cells = second.split(";")
    cells[3] = "abc"
    made["non_numeric"].write_text("\n".join([head, first, ";".join(cells)]) + "\n")
    cells[3] = "1e999"  # overflows to infinity
    made["infinite"].write_text("\n".join([head, first, ";".join(cells)]) + "\n")
    shutil.copy(PRICES, made["unreadable"])
    made["unreadable"].chmod(0)
    return {key: str(path) for key, path in made.items()}


def cases(f: dict[str, str]) -> list[Case]:
    enqueue = [*PRODUCER, "enqueue"]
    run = [*CONSUMER, "run", "--drain"]
    load = [*PRODUCER, "load"]
    return [
        Case("from after to", [*enqueue, "--from", "2016-01-20", "--to", "2016-01-19"], USAGE,
             r"--from 2016-01-20 is after --to 2016-01-19"),
        Case("malformed date", [*enqueue, "--from", "2016-13-01", "--to", "2016-12-31"], USAGE,
             r"--from '2016-13-01' is not a date"),
        Case("date in another format", [*enqueue, "--from", "18/01/2016", "--to", "2016-01-19"],
             USAGE, r"is not a date: use YYYY-MM-DD"),
        Case("zero window", [*enqueue, "--from", "2016-01-18", "--to", "2016-01-19",
                             "--window", "0h"], USAGE, r"--window '0h' must be longer than zero"),
        Case("negative window", [*enqueue, "--from", "2016-01-18", "--to", "2016-01-19",
                                 "--window=-6h"], USAGE, r"--window '-6h' is not a duration"),
        Case("window that does not divide a week",
             [*enqueue, "--from", "2016-01-18", "--to", "2016-01-19", "--window", "5h"], USAGE,
             r"--window '5h' must divide a week"),
        Case("zero attempts", [*enqueue, "--from", "2016-01-18", "--to", "2016-01-19",
                               "--max-attempts", "0"], USAGE, r"--max-attempts: must be at least"),
        Case("cancel backwards", [*PRODUCER, "cancel", "--from", "2016-01-20", "--to",
                                  "2016-01-19"], USAGE, r"--from 2016-01-20 is after --to"),
        Case("retry with a word for a date", [*PRODUCER, "retry", "--from", "yesterday", "--to",
                                              "2016-01-19"], USAGE, r"'yesterday' is not a date"),
        Case("batch 0", [*run, "--batch", "0"], USAGE, r"--batch: must be at least 1, not 0"),
        Case("negative batch", [*run, "--batch=-4"], USAGE, r"--batch: must be at least 1"),
        Case("unknown device", [*run, "--device", "tpu"], USAGE,
             r"--device: invalid choice: 'tpu'"),
        Case("heartbeat slower than half the lease", [*run, "--lease", "2", "--heartbeat", "5"],
             USAGE, r"heartbeat \(5s\) must be at most half the lease \(2s\)"),
        Case("zero feature window", [*run, "--window-width", "0h"], USAGE,
             r"--window-width '0h' must be longer than zero"),
        Case("bad duration", [*run, "--era-lookback", "7x"], USAGE,
             r"--era-lookback '7x' is not a duration"),
        Case("lease variable not a number", run, USAGE,
             r"LEASE_SECONDS='soon' is not a number", env={"LEASE_SECONDS": "soon"}),
        Case("batch variable not a number", run, USAGE,
             r"CONSUMER_BATCH='many' is not an integer", env={"CONSUMER_BATCH": "many"}),
        Case("missing file", [*load, f["missing"]], RUNTIME, r"no-such-file.csv: file not found"),
        Case("a directory", [*load, f["directory"]], RUNTIME, r"a-directory: not a regular file"),
        Case("unreadable file", [*load, f["unreadable"]], RUNTIME,
             r"(?i)unreadable\.csv.*(permission denied|cannot read)|permission denied.*unreadable"),
        Case("empty file", [*load, f["empty"]], RUNTIME, r"empty.csv: the file is empty"),
        Case("unknown format", [*load, f["unknown"]], RUNTIME, r"unknown.csv:1: unknown format"),
        Case("binary file", [*load, f["binary"]], RUNTIME, r"binary.csv:1: unknown format"),
        Case("wrong format forced", [*load, "--format", "elspot", str(KNUDJEPSEN)], RUNTIME,
             r"NO3_LAMPEGRP_1.csv:1: the header lacks HourUTC"),
        Case("unknown format name", [*load, "--format", "xlsx", str(PRICES)], RUNTIME,
             r"unknown format 'xlsx': choose one of"),
        Case("truncated file", [*load, f["truncated"]], RUNTIME,
             r"truncated.csv:\d+: .*truncated"),
        Case("non-numeric value", [*load, f["non_numeric"]], RUNTIME,
             r"non-numeric.csv:3: cannot parse number 'abc'"),
        Case("number that is not finite", [*load, f["infinite"]], RUNTIME,
             r"infinite.csv:3: '1e999' is not a finite number"),
        Case("windows overlapping live jobs of another width",
             [*enqueue, "--from", "2016-01-19", "--to", "2016-01-19", "--window", "6h"], RUNTIME,
             r"\[2016-01-19 00:00, 2016-01-19 06:00\) overlaps job \d+ "
             r"\[2016-01-19 00:00, 2016-01-20 00:00\) \(queued\).*Nothing was enqueued"),
        Case("unknown time zone", [*load, "--tz", "Mars/Olympus", str(PRICES)], RUNTIME,
             r"unknown time zone 'Mars/Olympus'"),
        Case("bad file before a good one", [*load, f["non_numeric"], str(PRICES)], RUNTIME,
             r"non-numeric.csv:3: cannot parse number"),
        Case("wrong DATABASE_URL (producer)",
             [*enqueue, "--from", "2016-01-18", "--to", "2016-01-19"], RUNTIME,
             r"cannot connect to postgresql://app:\*\*\*@127\.0\.0\.1:1/gh",
             database="unreachable"),
        Case("wrong DATABASE_URL (consumer)", run, RUNTIME,
             r"cannot connect to postgresql://app:\*\*\*@127\.0\.0\.1:1/gh",
             database="unreachable"),
        Case("database without migrations (producer)", [*load, str(PRICES)], RUNTIME,
             r"no schema yet: run the migrations", database="unmigrated"),
        Case("database without migrations (consumer)", run, RUNTIME,
             r"no schema yet: run the migrations", database="unmigrated"),
        Case("database at a newer migration", [*PRODUCER, "status"], RUNTIME,
             r"migration 9999_from_the_future, which this code does not know.*upgrade this code",
             database="newer"),
        Case("consumer against a newer migration", run, RUNTIME,
             r"which this code does not know", database="newer"),
    ]  # fmt: skip


def snapshot(url: str) -> dict[str, str]:
    """Every table's row count and content hash: equal snapshots, unchanged database."""
    with psycopg.connect(url) as conn:
        tables = [
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        ]
        state = {}
        for table in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text),"
                    " '')) FROM {} AS t"
                ).format(sql.Identifier(table))
            ).fetchone()
            state[table] = f"{row[0]}:{row[1]}" if row else ""
    return state


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return files(tmp_path_factory.mktemp("bad-input"))


FILE_KEYS = [
    "missing", "directory", "empty", "unknown", "binary", "truncated", "non_numeric", "infinite"
]  # fmt: skip
CASE_NAMES = [case.name for case in cases(dict.fromkeys([*FILE_KEYS, "unreadable"], ""))]


def test_the_table_is_long_enough() -> None:
    assert len(CASE_NAMES) >= 25 and len(set(CASE_NAMES)) == len(CASE_NAMES)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_is_refused_clearly_and_changes_nothing(
    name: str,
    bad_files: dict[str, str],
    db_url: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    case = next(c for c in cases(bad_files) if c.name == name)
    watched = request.getfixturevalue("empty_db_url") if case.database == "unmigrated" else db_url
    url = "postgresql://app:hunter2@127.0.0.1:1/gh" if case.database == "unreachable" else watched
    with psycopg.connect(db_url) as conn:
        # Something to lose: raw data and queued jobs.
        conn.execute(
            "INSERT INTO sites (site, location) VALUES ('knudjepsen-afd3', 'knudjepsen');"
            "INSERT INTO readings (site, time, signal, value) VALUES"
            " ('knudjepsen-afd3', '2016-01-18 00:00Z', 'air_temp_c', 21.5);"
            "INSERT INTO spot_prices (price_area, hour_utc, price_dkk_mwh, price_eur_mwh)"
            " VALUES ('DK1', '2016-01-31 22:00Z', 1.0, 2.0);"
            "INSERT INTO jobs (window_start, window_end) VALUES"
            " ('2016-01-18', '2016-01-19'), ('2016-01-19', '2016-01-20')"
        )
        if case.database == "newer":
            conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    before = snapshot(watched)
    argv = case.argv
    if case.name == "unreadable file" and os.geteuid() == 0:
        # root reads a mode-000 file anyway: that case runs as root without the capabilities
        # that bypass file permissions (another user could not reach the venv under /root).
        argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *argv]
    result = subprocess.run(
        argv,
        cwd=REPO,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "CONSUMER_HEALTH_FILE": str(tmp_path / "alive"),
            **case.env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == case.code, output
    assert re.search(case.message, output, re.S), output
    assert "Traceback" not in output, "a known problem is one clear line, not a traceback"
    assert "hunter2" not in output, "no password in any output"
    assert snapshot(watched) == before, "the database is unchanged"
