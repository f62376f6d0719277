"""Prometheus metrics: a real consumer serves /metrics, and what it counts agrees with
the jobs table; the database gauges are shared between consumers, not recomputed by each.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from greenhouse_queue.consumer.metrics import SharedGauges
from tests.conftest import CONSUMER, PRODUCER, REPO

PREFIX = "greenhouse_queue"
Samples = dict[tuple[str, frozenset], float]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode("utf-8")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(f"{PREFIX}_{name}", frozenset(labels.items()))]


def run(env: dict[str, str], *argv: str) -> None:
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def wait_until_settled(url: str, timeout: float = 180) -> None:
    """Until no job is queued or running (the consumer keeps running and serving)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute(
            "SELECT count(*) FROM jobs WHERE status IN ('queued', 'running')"
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the consumer did not finish the jobs"
            time.sleep(0.2)


@pytest.fixture
def consumer_with_metrics(cli_env: dict[str, str], sample_db_url: str) -> Iterator[tuple[str, int]]:
    """A real consumer with METRICS_PORT set, after it processed three windows, took over a
    job whose lease lapsed, and failed a poison window for good in stage features."""
    env = {**cli_env, "DATABASE_URL": sample_db_url}
    run(env, *PRODUCER, "enqueue", "--from", "2016-01-20", "--to", "2016-01-22")
    run(
        env,
        *PRODUCER,
        "enqueue",
        "--from",
        "2016-01-25",
        "--to",
        "2016-01-25",
        "--max-attempts",
        "1",
    )
    with psycopg.connect(sample_db_url) as conn:
        conn.execute(
            "INSERT INTO jobs (window_start, window_end, status, attempts, worker, device,"
            " started_at, heartbeat_at, lease_expires_at) VALUES ('2016-01-23', '2016-01-24',"
            " 'running', 1, 'ghost', 'cpu', now() - interval '2 minutes',"
            " now() - interval '2 minutes', now() - interval '1 minute')"
        )
    port = free_port()
    process = subprocess.Popen(
        [*CONSUMER, "run", "--worker", "metered"],
        cwd=REPO,
        env={
            **env,
            "METRICS_PORT": str(port),
            "METRICS_REFRESH_SECONDS": "0",  # every scrape reads the database
            "CONSUMER_FAULT_INJECT": "features:2016-01-25T00:00:00+00:00",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_settled(sample_db_url)
        yield sample_db_url, port
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def test_a_consumer_serves_counters_that_agree_with_the_jobs_table(
    consumer_with_metrics: tuple[str, int],
) -> None:
    url, port = consumer_with_metrics

    samples = scrape(port)

    with psycopg.connect(url) as conn:
        done, failed_in_features, attempts, values = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'done'),"
            " count(*) FILTER (WHERE status = 'failed' AND error_stage = 'features'),"
            " sum(attempts), sum(feature_values) FILTER (WHERE status = 'done') FROM jobs"
        ).fetchone()
        (features_seconds,) = conn.execute(
            "SELECT sum((stage_seconds ->> 'features')::float) FROM jobs WHERE status = 'done'"
        ).fetchone()
        by_state = dict(conn.execute("SELECT status, count(*) FROM jobs GROUP BY 1").fetchall())
    assert done == 4 and failed_in_features == 1  # three windows and the lapsed one
    assert value(samples, "jobs_completed_total", device="cpu") == done
    assert value(samples, "jobs_failed_total", stage="features") == failed_in_features
    assert value(samples, "job_attempts_failed_total", stage="features") == 1
    assert value(samples, "jobs_failed_total", stage="eras") == 0
    # Every claim is an attempt; the ghost's first attempt was not this consumer's.
    assert value(samples, "job_attempts_total", device="cpu") == attempts - 1
    assert value(samples, "lease_lapses_total") == 1
    assert value(samples, "feature_values_written_total", device="cpu") == values
    assert value(samples, "stage_duration_seconds_count", stage="features") == done
    assert value(samples, "stage_duration_seconds_sum", stage="features") == pytest.approx(
        features_seconds, rel=1e-6
    )
    assert value(samples, "queue_wait_seconds_count") == attempts - 1
    for state in ("queued", "running", "done", "failed", "cancelled"):
        assert value(samples, "jobs", state=state) == by_state.get(state, 0)
    assert value(samples, "oldest_due_job_age_seconds") == 0  # nothing is due


def gauges(collector: SharedGauges) -> dict[str, float]:
    return {
        sample.labels.get("state", sample.name): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


def refreshed_at(url: str) -> float:
    """When the shared gauges were last computed, in Unix seconds (-inf: never)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT extract(epoch FROM refreshed_at) FROM queue_gauges").fetchone()[
            0
        ]


def test_consumers_share_one_refresh_of_the_database_gauges(drained_db_url: str) -> None:
    first, second = (SharedGauges(drained_db_url, refresh_seconds=3600) for _ in range(2))
    CollectorRegistry().register(first)  # registering must not reach the database
    assert refreshed_at(drained_db_url) == float("-inf")  # never computed

    seen = gauges(first)
    computed_at = refreshed_at(drained_db_url)
    with psycopg.connect(drained_db_url) as conn:
        done = conn.execute("SELECT count(*) FROM jobs WHERE status = 'done'").fetchone()[0]
        conn.execute(
            "INSERT INTO jobs (window_start, window_end) VALUES ('2017-01-01', '2017-01-02')"
        )

    assert seen["done"] == done and seen["queued"] == 0
    # Another consumer within the interval reads the shared row: no new count.
    assert gauges(second)["queued"] == 0
    assert refreshed_at(drained_db_url) == computed_at
    # One whose interval is over recomputes it, for everyone.
    assert gauges(SharedGauges(drained_db_url, refresh_seconds=0))["queued"] == 1
    assert refreshed_at(drained_db_url) > computed_at


def test_metrics_are_off_unless_metrics_port_is_set() -> None:
    from greenhouse_queue.consumer.cli import parser

    env = dict(os.environ)
    os.environ.pop("METRICS_PORT", None)
    try:
        args = parser().parse_args(["run"])
    finally:
        os.environ.clear()
        os.environ.update(env)
    assert args.metrics_port is None
