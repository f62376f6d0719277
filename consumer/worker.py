"""The consumer loop: claim a batch, keep its leases alive, run the stages, complete.

Transactions stay short: the stages run outside any transaction, and the results are
written in the one transaction that marks the jobs done. A lost connection or a
restarted server is waited out with backoff; it never ends the process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import psycopg

from greenhouse_queue import queue
from greenhouse_queue.consumer import faults
from greenhouse_queue.consumer import results as result_writer
from greenhouse_queue.consumer.heartbeat import LeaseKeeper
from greenhouse_queue.consumer.observer import NoObserver, WorkerObserver
from greenhouse_queue.consumer.pipeline import JobResult, PipelineConfig, StageError, run_batch
from greenhouse_queue.consumer.session import open_session
from greenhouse_queue.db import mask_url
from greenhouse_queue.queries import query
from greenhouse_queue.queue import Backoff, Job, Outcome, describe
from greenhouse_queue.settings import QueueTiming

log = logging.getLogger("consumer")
T = TypeVar("T")
RECONNECT_BACKOFF = Backoff(base_seconds=0.2, cap_seconds=5.0)


@dataclass
class WorkerConfig:
    url: str
    name: str
    batch: int = 8
    drain: bool = False
    timing: QueueTiming = field(default_factory=QueueTiming)
    retry: Backoff = field(default_factory=Backoff)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    health_file: Path | None = None


class Worker:
    def __init__(
        self,
        config: WorkerConfig,
        xp: ModuleType,
        device: str,
        observer: WorkerObserver | None = None,
    ) -> None:
        self.config = config
        self.xp = xp
        self.device = device
        self.observer = observer or NoObserver()
        self.stopping = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._listener: psycopg.Connection | None = None
        self.leases = LeaseKeeper(config.url, config.name, config.timing, self._touch_health)

    # -- lifecycle -----------------------------------------------------------------

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info(
            "%s received: finishing the current batch, then exiting", signal.Signals(signum).name
        )
        self.stopping.set()

    def run(self) -> int:
        log.info(
            "worker %s started on %s (batch %d, lease %gs, heartbeat %gs, database %s)",
            self.config.name,
            self.device,
            self.config.batch,
            self.config.timing.lease_seconds,
            self.config.timing.heartbeat_seconds,
            mask_url(self.config.url),
        )
        processed = 0
        self.leases.start()
        while not self.stopping.is_set():
            self._touch_health()
            jobs = self._with_reconnect("claim", self._claim)
            if jobs:
                processed += self._process(jobs)
                continue
            if self.config.drain and self._with_reconnect("drain check", self._nothing_left):
                log.info(
                    "worker %s: nothing runnable is left; %d jobs done", self.config.name, processed
                )
                break
            self._wait_for_work()
        self.leases.stop()
        self._close()
        log.info("worker %s stopped", self.config.name)
        return 0

    # -- claiming and waiting --------------------------------------------------------

    def _claim(self, conn: psycopg.Connection) -> list[Job]:
        return queue.claim(
            conn,
            worker=self.config.name,
            batch=self.config.batch,
            lease_seconds=self.config.timing.lease_seconds,
            device=self.device,
        )

    def _nothing_left(self, conn: psycopg.Connection) -> bool:
        return queue.outstanding(conn) == 0

    def _wait_for_work(self) -> None:
        """Sleeps until NOTIFY jobs_queued, a stop signal or the poll interval."""
        timeout = self.config.timing.poll_seconds
        if self.config.drain:
            timeout = min(timeout, 0.5)  # others' jobs may finish or lapse at any moment
        deadline = time.monotonic() + timeout
        while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
            # Short slices: a signal handler cannot interrupt a wait inside psycopg.
            if self._notified_within(min(left, 0.5)):
                return

    def _notified_within(self, seconds: float) -> bool:
        try:
            listener = self._listen_connection()
            return any(True for _ in listener.notifies(timeout=seconds, stop_after=1))
        except psycopg.Error as error:
            # LISTEN is an optimisation (and impossible behind transaction pooling).
            log.debug("LISTEN unavailable (%s); polling", error)
            self._drop_listener()
            self.stopping.wait(seconds)
            return False

    def _listen_connection(self) -> psycopg.Connection:
        if self._listener is None or self._listener.closed:
            self._listener = psycopg.connect(self.config.url, autocommit=True, connect_timeout=5)
            self._listener.execute(query("session", "listen_jobs_queued"))
        return self._listener

    # -- one batch ---------------------------------------------------------------------

    def _process(self, jobs: list[Job]) -> int:
        names = ", ".join(str(job.id) for job in jobs)
        log.info("claimed %d jobs [%s] on %s", len(jobs), names, self.device)
        self.observer.claimed(jobs)
        with self.leases.holding(jobs) as lost:
            return self._run_and_complete(jobs, lost)

    def _run_and_complete(self, jobs: list[Job], lost: set[int]) -> int:
        try:
            return self._attempt(jobs, lost)
        except StageError as error:
            if len(jobs) > 1:
                # Find the poison window(s): every other job of the batch still finishes.
                log.warning(
                    "batch [%s] failed in %s; retrying its jobs one by one",
                    ", ".join(str(job.id) for job in jobs),
                    error.stage,
                )
                return sum(self._run_and_complete([job], lost) for job in jobs)
            self._record_failure(jobs[0], error)
            return 0

    def _attempt(self, jobs: list[Job], lost: set[int]) -> int:
        """Runs the stages for ``jobs`` and completes those still ours; raises StageError."""
        began = time.perf_counter()
        hook = faults.stage_hook(jobs)
        results = self._with_reconnect(
            "read",
            lambda conn: run_batch(conn, jobs, self.config.pipeline, self.xp, stage_hook=hook),
        )
        live = [result for result in results if result.job.id not in lost]
        owned = self._with_reconnect("write", lambda conn: self._complete(conn, live))
        self.observer.completed(live, owned)
        self._log_outcomes(results, owned, time.perf_counter() - began)
        return len(owned)

    def _complete(self, conn: psycopg.Connection, results: Sequence[JobResult]) -> set[int]:
        feature_set = self.config.pipeline.feature_set
        outcomes = [
            Outcome(r.job, r.stage_seconds, r.notes, feature_set, len(r.features)) for r in results
        ]
        try:
            return queue.complete(
                conn,
                worker=self.config.name,
                outcomes=outcomes,
                write_results=lambda c, owned: result_writer.write(c, results, owned),
            )
        except psycopg.OperationalError:
            raise  # reconnect and write again: completion is fenced, so retrying is safe
        except Exception as error:
            raise StageError("write", error) from error

    def _log_outcomes(self, results: Sequence[JobResult], owned: set[int], seconds: float) -> None:
        for result in results:
            if result.job.id not in owned:
                log.warning(
                    "%s was taken over by another worker; its results were discarded",
                    describe(result.job),
                )
                continue
            stages = " ".join(
                f"{name}={value:.3f}s"
                for name, value in result.stage_seconds.items()
                if name != "batch_jobs"
            )
            log.info(
                "%s done on %s in %.2fs: %d features, stages %s",
                describe(result.job),
                self.device,
                seconds,
                len(result.features.value),
                stages,
            )

    def _record_failure(self, job: Job, error: StageError) -> None:
        log.error(
            "%s failed in stage %s: %s\n%s",
            describe(job),
            error.stage,
            error,
            "".join(traceback.format_exception(error.__cause__ or error)),
        )
        delay = self.config.retry.seconds(job.attempt)
        status = self._with_reconnect(
            "record failure",
            lambda conn: queue.record_failure(
                conn,
                worker=self.config.name,
                job=job,
                stage=error.stage,
                error=str(error),
                backoff_seconds=delay,
            ),
        )
        self.observer.failed(job, error.stage, status)
        if status == "queued":
            log.info("%s will be retried in %.1fs", describe(job), delay)
        elif status == "failed":
            log.error("%s failed for good after %d attempts", describe(job), job.attempt)

    # -- connections -------------------------------------------------------------------

    def _with_reconnect(self, what: str, action: Callable[[psycopg.Connection], T]) -> T:
        """Runs ``action`` on the work connection, reconnecting with backoff until it runs."""
        attempt = 0
        while True:
            try:
                return action(self._connection())
            except psycopg.OperationalError as error:
                attempt += 1
                delay = RECONNECT_BACKOFF.seconds(attempt)
                log.warning(
                    "database unavailable during %s (%s); reconnecting in %.1fs",
                    what,
                    mask_url(str(error)).strip().splitlines()[0]
                    if str(error).strip()
                    else type(error).__name__,
                    delay,
                )
                self._drop_connection()
                time.sleep(delay)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = open_session(self.config.url)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self._listener = None

    def _close(self) -> None:
        self._drop_connection()
        self._drop_listener()

    def _touch_health(self) -> None:
        if self.config.health_file is not None:
            self.config.health_file.touch()


def health_check(health_file: Path, max_age_seconds: float) -> str | None:
    """None when the worker loop touched its file recently, else why not."""
    try:
        age = time.time() - os.stat(health_file).st_mtime
    except FileNotFoundError:
        return f"{health_file} does not exist: the worker loop has not started"
    if age > max_age_seconds:
        return f"the worker loop last reported {age:.0f}s ago (limit {max_age_seconds:.0f}s)"
    return None
