"""The chaos suite's tools: real consumer processes, a clean reference run, the checks.

Every scenario runs ``consumer run --drain`` subprocesses against a real PostgreSQL
holding the shipped sample, with short leases so that recovery takes seconds, and ends
with the same three checks (``assert_recovered``): every window is done, no feature row
is missing or duplicated, and the feature table equals, value for value, the one a
clean single-consumer run of the same windows produced in a database of its own.

Measured figures (recovery times, throughput) are collected in ``REPORT`` and printed
at the end of the run, under "chaos suite".
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from greenhouse_queue import embedded
from tests.conftest import (
    CONSUMER,
    PRODUCER,
    REPO,
    create_database,
    drop_database,
    migrate,
    private_server,
    sample_files,
)

# Short timings: a dead worker's jobs come back within LEASE seconds.
LEASE = 3.0
TIMING_ENV = {
    "LEASE_SECONDS": str(LEASE),
    "HEARTBEAT_SECONDS": "0.5",
    "POLL_SECONDS": "0.3",
    "RETRY_BASE_SECONDS": "0.1",
    "RETRY_MAX_SECONDS": "0.5",
}
REPORT: list[str] = []

FEATURES = """
SELECT site, window_start, window_end, signal, feature, value
FROM features
ORDER BY site, window_start, window_end, signal, feature
"""


# -- consumer processes ---------------------------------------------------------------


@dataclass
class Consumer:
    """One ``consumer run --drain`` process, its output going to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        """Waits until the log matches ``pattern``; fails if the process exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            if self.process.poll() is not None:
                pytest.fail(
                    f"{self.name} exited ({self.process.returncode}) before "
                    f"logging {pattern!r}:\n{self.log()[-3000:]}"
                )
            time.sleep(0.05)
        pytest.fail(f"{self.name} did not log {pattern!r} within {timeout}s:\n{self.log()[-3000:]}")

    def send(self, signum: int) -> None:
        self.process.send_signal(signum)

    def kill(self) -> None:
        """kill -9: no handler, no release, no goodbye."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait(self, timeout: float = 120.0) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{self.name} still running after {timeout}s:\n{self.log()[-3000:]}")

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(10)


class Consumers:
    """Starts consumers for one scenario and kills whatever is left at its end."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list[Consumer] = []

    def start(
        self,
        url: str,
        name: str,
        *,
        batch: int = 4,
        env: dict[str, str] | None = None,
    ) -> Consumer:
        log_path = self.log_dir / f"{name}.log"
        environment = {
            **_clean_environment(),
            **TIMING_ENV,
            "DATABASE_URL": url,
            "PYTHONUNBUFFERED": "1",
            "CONSUMER_HEALTH_FILE": str(self.log_dir / f"{name}.alive"),
            **(env or {}),
        }
        with open(log_path, "wb") as output:
            process = subprocess.Popen(
                [
                    *CONSUMER,
                    "run",
                    "--drain",
                    "--device",
                    "cpu",
                    "--worker",
                    name,
                    "--batch",
                    str(batch),
                ],
                cwd=REPO,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        consumer = Consumer(name, process, log_path)
        self.started.append(consumer)
        return consumer

    def stop_all(self) -> None:
        for consumer in self.started:
            consumer.stop()


def _clean_environment() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("CONSUMER_STAGE_DELAY", "CONSUMER_FAULT_INJECT", "WORKER_NAME", "LOG_LEVEL"):
        env.pop(name, None)
    return env


@pytest.fixture
def consumers(tmp_path: Path) -> Iterator[Consumers]:
    started = Consumers(tmp_path)
    yield started
    started.stop_all()


# -- windows, the queue, the reference ---------------------------------------------------


@dataclass(frozen=True)
class Windows:
    """What a scenario enqueues: ``producer enqueue --from --to --window``."""

    first: date
    last: date
    width: str = "1d"

    def args(self) -> list[str]:
        return [
            "--from",
            self.first.isoformat(),
            "--to",
            self.last.isoformat(),
            "--window",
            self.width,
        ]


def sample_start(url: str) -> date:
    """The first whole UTC day of greenhouse readings in the sample."""
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT min(time) FROM readings").fetchone()
    assert row and row[0], "the sample holds no readings"
    return row[0].date() + timedelta(days=1)


def enqueue(url: str, windows: Windows, *extra: str) -> int:
    result = subprocess.run(
        [*PRODUCER, "enqueue", *windows.args(), *extra],
        cwd=REPO,
        env={**_clean_environment(), "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM jobs").fetchone()
    return int(row[0]) if row else 0


def feature_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(FEATURES).fetchall()


def statuses(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())


def wait_until_all_done(url: str, jobs: int, timeout: float = 90.0) -> float:
    """Polls until ``jobs`` jobs are done; returns the monotonic time it happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if statuses(url).get("done", 0) >= jobs:
            return time.monotonic()
        time.sleep(0.1)
    pytest.fail(f"not all {jobs} jobs done after {timeout}s: {statuses(url)}")


@dataclass
class Reference:
    rows: list[tuple]
    jobs: int
    seconds: float  # wall time of the clean single-consumer drain, process start to exit


class ReferenceRuns:
    """Clean single-consumer runs, one per window set, cached for the session."""

    def __init__(self, server_url: str, sample_template: str, log_dir: Path) -> None:
        self.server_url = server_url
        self.sample_template = sample_template
        self.log_dir = log_dir
        self.cache: dict[Windows, Reference] = {}

    def __call__(self, windows: Windows) -> Reference:
        if windows not in self.cache:
            url = create_database(self.server_url, template=self.sample_template)
            try:
                jobs = enqueue(url, windows)
                runner = Consumers(self.log_dir)
                began = time.monotonic()
                consumer = runner.start(url, f"reference-{uuid.uuid4().hex[:6]}", batch=8)
                assert consumer.wait(300) == 0, consumer.log()[-3000:]
                seconds = time.monotonic() - began
                assert statuses(url) == {"done": jobs}, consumer.log()[-3000:]
                self.cache[windows] = Reference(feature_rows(url), jobs, seconds)
            finally:
                drop_database(self.server_url, url)
        return self.cache[windows]


@pytest.fixture(scope="session")
def reference(
    server_url: str, sample_template: str, tmp_path_factory: pytest.TempPathFactory
) -> ReferenceRuns:
    return ReferenceRuns(server_url, sample_template, tmp_path_factory.mktemp("reference"))


def assert_recovered(
    url: str,
    expected: Reference,
    *,
    failed_windows: list[tuple] | None = None,
) -> None:
    """The checks every scenario ends with.

    ``failed_windows`` [(start, end)] are windows expected to end ``failed`` (the poison
    scenario); their feature rows are expected to be absent, every other one present.
    """
    failed_windows = failed_windows or []
    with psycopg.connect(url) as conn:
        by_status = dict(
            conn.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall()
        )
        duplicated = conn.execute(
            "SELECT count(*) - count(DISTINCT (site, window_start, window_end, signal, feature))"
            " FROM features"
        ).fetchone()
    wanted_status = {"done": expected.jobs - len(failed_windows)}
    if failed_windows:
        wanted_status["failed"] = len(failed_windows)
    assert by_status == wanted_status, "every window must be done"
    assert duplicated == (0,), "no feature row may be duplicated"

    def kept(row: tuple) -> bool:
        return not any(start <= row[1] < end for start, end in failed_windows)

    wanted = [row for row in expected.rows if kept(row)]
    actual = feature_rows(url)
    missing = set(wanted) - set(actual)
    extra = set(actual) - set(wanted)
    assert not missing, f"{len(missing)} feature rows missing, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} feature rows not in the reference, e.g. {sorted(extra)[:3]}"
    assert actual == wanted, "the feature table must equal the clean run's, value for value"


def report(line: str) -> None:
    REPORT.append(line)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("chaos suite")
        for line in REPORT:
            terminalreporter.write_line(line)


# -- a PostgreSQL server of its own, for the restart scenario -------------------------


@dataclass
class OwnServer:
    data_dir: Path
    url: str  # the scenario's database on it, migrated, with the sample loaded

    def restart(self) -> float:
        """Restarts PostgreSQL in place (pg_ctl restart -m fast); returns the seconds it took."""
        began = time.monotonic()
        embedded.restart(self.data_dir, mode="fast")
        return time.monotonic() - began


@pytest.fixture
def own_server() -> Iterator[OwnServer]:
    """An embedded server in a folder of its own, so restarting it disturbs no other test."""
    with private_server() as (data_dir, admin_url):
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute("CREATE DATABASE chaos")
        url = psycopg.conninfo.make_conninfo(admin_url, dbname="chaos")
        migrate(url)
        from greenhouse_queue.producer.load import load_files

        with psycopg.connect(url) as conn:
            load_files(conn, sample_files())
        yield OwnServer(data_dir, url)
