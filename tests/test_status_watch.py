"""`producer status`: plain, --json (documented schema) and --watch (a live view).

The facts are checked against the jobs table of a database where a real consumer ran;
the test sets times and leases it needs (finished within the last minute, a live
worker's lease) directly, so the expected rates and ages do not depend on the clock.
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import time

import jsonschema
import psycopg
import pytest

from greenhouse_queue.producer import snapshot
from greenhouse_queue.producer.watch import HOME_AND_CLEAR, watch
from tests.conftest import POISON_DAY, PRODUCER, REPO

SCHEMA = json.loads((REPO / "docs" / "status.schema.json").read_text(encoding="utf-8"))


def producer(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [*PRODUCER, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture
def busy_url(drained_db_url: str) -> str:
    """The drained sample, as if it were running now: its jobs finished 30 s ago, one
    worker holds a job with 20 s of lease left, and one job has been due for 90 s."""
    with psycopg.connect(drained_db_url) as conn:
        conn.execute(
            "UPDATE jobs SET finished_at = now() - interval '30 seconds',"
            " started_at = now() - interval '31 seconds' WHERE status IN ('done', 'failed')"
        )
        conn.execute(
            "INSERT INTO jobs (window_start, window_end, status, attempts, worker, device,"
            " started_at, heartbeat_at, lease_expires_at)"
            " VALUES ('2016-02-01', '2016-02-02', 'running', 1, 'w-live', 'cpu',"
            " now() - interval '5 seconds', now() - interval '2 seconds',"
            " now() + interval '20 seconds')"
        )
        conn.execute(
            "INSERT INTO jobs (window_start, window_end, run_after)"
            " VALUES ('2016-02-02', '2016-02-03', now() - interval '90 seconds')"
        )
    return drained_db_url


def table_facts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        counts = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY 1").fetchall())
        (values,) = conn.execute(
            "SELECT sum(feature_values) FROM jobs WHERE status = 'done'"
        ).fetchone()
    return {**counts, "feature_values": int(values)}


def test_plain_status_does_not_count_failed_jobs_as_progress(drained_db_url: str) -> None:
    facts = table_facts(drained_db_url)
    assert facts["failed"] == 1 and facts["done"] > 0

    result = producer(drained_db_url, "status")

    assert result.returncode == 0, result.stderr
    done, total = facts["done"], facts["done"] + facts["failed"]
    assert f"progress {done}/{total} = {100 * done / total:.1f} %" in result.stdout


def test_status_json_follows_the_documented_schema_and_the_jobs_table(busy_url: str) -> None:
    facts = table_facts(busy_url)

    result = producer(busy_url, "status", "--json")

    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    jsonschema.Draft202012Validator(
        SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(status)
    jobs = status["jobs"]
    assert {state: jobs[state] for state in ("queued", "running", "done", "failed")} == {
        "queued": 1,
        "running": 1,
        "done": facts["done"],
        "failed": 1,
    }
    assert status["progress"] == {
        "done": facts["done"],
        "wanted": jobs["total"],
        "fraction": pytest.approx(facts["done"] / jobs["total"]),
    }
    assert status["rates"]["jobs_per_minute"] == pytest.approx(facts["done"])
    assert status["rates"]["feature_values_per_second"] == pytest.approx(
        facts["feature_values"] / 60
    )
    assert status["eta_seconds"] == pytest.approx(60 * 2 / facts["done"])
    assert 90 <= status["oldest_due_job_age_seconds"] < 90 + 120
    (live,) = [w for w in status["workers"] if w["name"] == "w-live"]
    assert live["device"] == "cpu" and live["jobs_held"] == 1
    assert 0 < live["lease_left_seconds"] <= 20
    (failure,) = status["failures"]
    assert failure["stage"] == "features" and "injected fault" in failure["error"]
    assert failure["window_start"].startswith(POISON_DAY)


def test_the_schema_refuses_what_it_does_not_document() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    assert not validator.is_valid({"schema_version": 1})
    assert not validator.is_valid({"schema_version": 2})


def read_until(fd: int, wanted: int, timeout: float = 60) -> str:
    """Terminal output until ``wanted`` frames began (or the timeout)."""
    text, deadline = "", time.monotonic() + timeout
    while text.count(HOME_AND_CLEAR) < wanted and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                text += os.read(fd, 65536).decode("utf-8", "replace")
            except OSError:  # the program exited and closed the terminal
                break
    return text


def watch_on_a_terminal(url: str) -> tuple[int, subprocess.Popen[bytes]]:
    """`producer status --watch 0.2` on a pseudo-terminal: (its terminal's fd, the process)."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [*PRODUCER, "status", "--watch", "0.2"],
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": url},
        stdin=child,
        stdout=child,
        stderr=child,
    )
    os.close(child)
    return main, process


def test_watch_redraws_in_place_on_a_terminal_until_ctrl_c(busy_url: str) -> None:
    main, process = watch_on_a_terminal(busy_url)
    try:
        text = read_until(main, wanted=3)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert text.count(HOME_AND_CLEAR) >= 3, text
    frame = text.split(HOME_AND_CLEAR)[-2]  # a whole frame, between two redraws
    assert re.search(r"running 1, done \d+, failed 1", frame), frame
    assert "jobs/min" in frame and "feature values/s" in frame and "ETA" in frame
    assert re.search(r"oldest due job waiting \dm \d\ds", frame), frame
    assert re.search(r"w-live\s+cpu\s+1\s+1?\d\.\ds\s+\d+\.\ds ago", frame), frame
    assert "injected fault" in frame


def test_watch_into_a_pipe_prints_plain_frames_one_after_another(busy_url: str) -> None:
    out = io.StringIO()
    with psycopg.connect(busy_url) as conn:
        watch(lambda: snapshot.take(conn), 0.01, out, frames=2)
    text = out.getvalue()
    assert "\x1b" not in text
    assert text.count("greenhouse-queue ") == 2 and text.count("w-live") == 2


def test_status_rejects_a_watch_interval_that_is_not_positive(drained_db_url: str) -> None:
    result = producer(drained_db_url, "status", "--watch", "0")
    assert result.returncode == 2
    assert "--watch: must be above 0" in result.stderr and "Traceback" not in result.stderr


def test_a_watch_that_loses_the_database_ends_with_one_line(busy_url: str) -> None:
    main, process = watch_on_a_terminal(busy_url)
    try:
        read_until(main, wanted=1)
        with psycopg.connect(busy_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        assert process.wait(timeout=60) == 1
        text = read_until(main, wanted=10**6, timeout=2)
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert "producer: error: lost the database while watching" in text, text
    assert "Traceback" not in text
