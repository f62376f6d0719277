"""Prometheus metrics of one consumer, served on ``/metrics`` at ``METRICS_PORT``.

Counters and histograms count what this consumer did (Prometheus sums them over
consumers). The gauges describe the whole queue and come from the database, through the
one shared row of ``queue_gauges`` (migration 0008): whichever consumer finds it older than
``METRICS_REFRESH_SECONDS`` recomputes it, so N consumers cost one count of ``jobs`` per
interval, and each consumer reads that row at most once per interval too.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence

import psycopg
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    ProcessCollector,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from greenhouse_queue.cli import UsageError
from greenhouse_queue.consumer.pipeline import JobResult
from greenhouse_queue.db import mask_url
from greenhouse_queue.queries import query
from greenhouse_queue.queue import Job

log = logging.getLogger("consumer.metrics")

PREFIX = "greenhouse_queue"
STATES = ("queued", "running", "done", "failed", "cancelled")
# Where a job's time goes (jobs.stage_seconds) and where an attempt can fail.
TIMED_STAGES = ("read", "aggregate", "fill_gaps", "features", "eras")
FAILING_STAGES = (*TIMED_STAGES, "write")
STAGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
WAIT_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class PrometheusObserver:
    """Counts what the worker loop reports (see consumer/observer.py)."""

    def __init__(self, registry: CollectorRegistry, device: str) -> None:
        self.device = device
        self.jobs_completed = Counter(
            f"{PREFIX}_jobs_completed",
            "Jobs this consumer marked done, with their results.",
            ["device"],
            registry=registry,
        )
        self.attempts = Counter(
            f"{PREFIX}_job_attempts",
            "Attempts this consumer started: jobs it claimed.",
            ["device"],
            registry=registry,
        )
        self.attempts_failed = Counter(
            f"{PREFIX}_job_attempts_failed",
            "Attempts that failed in a stage (the job is retried or fails for good).",
            ["stage"],
            registry=registry,
        )
        self.jobs_failed = Counter(
            f"{PREFIX}_jobs_failed",
            "Jobs that failed for good on this consumer's last attempt, by stage.",
            ["stage"],
            registry=registry,
        )
        self.lease_lapses = Counter(
            f"{PREFIX}_lease_lapses",
            "Jobs this consumer took over because their previous holder's lease lapsed.",
            registry=registry,
        )
        self.feature_values = Counter(
            f"{PREFIX}_feature_values_written",
            "Feature values written by the jobs this consumer completed.",
            ["device"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            f"{PREFIX}_stage_duration_seconds",
            "Seconds a completed job spent per stage (its share of its batch, as in "
            "jobs.stage_seconds).",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            f"{PREFIX}_queue_wait_seconds",
            "Seconds from when a job became due (run_after, or its lapsed lease) to its claim.",
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        # Known label values start at 0, so rates and alerts work before the first event.
        self.jobs_completed.labels(device)
        self.attempts.labels(device)
        self.feature_values.labels(device)
        for stage in FAILING_STAGES:
            self.attempts_failed.labels(stage)
            self.jobs_failed.labels(stage)
        for stage in TIMED_STAGES:
            self.stage_seconds.labels(stage)

    def claimed(self, jobs: Sequence[Job]) -> None:
        self.attempts.labels(self.device).inc(len(jobs))
        for job in jobs:
            if job.lapsed:
                self.lease_lapses.inc()
            if job.due_at is not None and job.claimed_at is not None:
                self.queue_wait.observe(max(0.0, (job.claimed_at - job.due_at).total_seconds()))

    def completed(self, results: Sequence[JobResult], owned: set[int]) -> None:
        for result in results:
            if result.job.id not in owned:
                continue
            self.jobs_completed.labels(self.device).inc()
            self.feature_values.labels(self.device).inc(len(result.features.value))
            for stage in TIMED_STAGES:
                if stage in result.stage_seconds:
                    self.stage_seconds.labels(stage).observe(result.stage_seconds[stage])

    def failed(self, job: Job, stage: str, status: str | None) -> None:
        if status is None:
            return  # no longer ours: the attempt belongs to whoever took the job over
        self.attempts_failed.labels(stage).inc()
        if status == "failed":
            self.jobs_failed.labels(stage).inc()


class SharedGauges(Collector):
    """Jobs by state and the oldest due job's age, from the shared ``queue_gauges`` row."""

    def __init__(self, url: str, refresh_seconds: float) -> None:
        self.url = url
        self.refresh_seconds = refresh_seconds
        self._lock = threading.Lock()  # scrapes may arrive concurrently
        self._read_at = float("-inf")
        self._row: tuple | None = None

    def describe(self) -> Iterator[Metric]:
        # Without describe(), registering would call collect() and reach the database.
        yield from self._families(None)

    def collect(self) -> Iterator[Metric]:
        yield from self._families(self._current())

    def _current(self) -> tuple | None:
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_seconds:
                try:
                    self._row = self._read()
                    self._read_at = time.monotonic()
                except psycopg.Error as error:
                    log.warning(
                        "metrics: cannot read the queue gauges (%s); serving the last values",
                        mask_url(str(error)).strip().splitlines()[0],
                    )
            return self._row

    def _read(self) -> tuple:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(query("observe", "refresh_gauges"), {"max_age": self.refresh_seconds})
            return conn.execute(query("observe", "read_gauges")).fetchone()

    @staticmethod
    def _families(row: tuple | None) -> Iterator[Metric]:
        jobs = GaugeMetricFamily(
            f"{PREFIX}_jobs",
            "Jobs per state in the database (shared by all consumers, refreshed at most "
            "every METRICS_REFRESH_SECONDS).",
            labels=["state"],
        )
        oldest = GaugeMetricFamily(
            f"{PREFIX}_oldest_due_job_age_seconds",
            "Seconds since the oldest runnable job became due; 0 when none is due.",
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_gauges_age_seconds",
            "How old the database gauges were when this consumer last read them.",
        )
        if row is not None:
            by_state, oldest_due, refreshed_age = row
            for state in STATES:
                jobs.add_metric([state], float(by_state.get(state, 0)))
            oldest.add_metric([], float(oldest_due or 0.0))
            age.add_metric([], float(refreshed_age))
        yield from (jobs, oldest, age)


def start(port: int, url: str, device: str, refresh_seconds: float) -> PrometheusObserver:
    """Serves /metrics on ``port`` (all interfaces) and returns the observer to feed it."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, resident memory, ...
    observer = PrometheusObserver(registry, device)
    registry.register(SharedGauges(url, refresh_seconds))
    try:
        start_http_server(port, registry=registry)
    except OSError as error:
        raise UsageError(
            f"METRICS_PORT {port}: cannot serve metrics there ({error.strerror}); "
            "choose a free port, or unset METRICS_PORT to switch metrics off"
        ) from None
    log.info("metrics on http://0.0.0.0:%d/metrics", port)
    return observer
