"""Keeps the leases of the batch in hand alive, from a thread and a connection of its own.

The thread lives as long as the worker: a batch only hands it the jobs to renew. A job
whose renewal finds it no longer ours (another worker reclaimed it after our lease
lapsed) is marked lost, and the worker discards its results.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg

from greenhouse_queue import queue
from greenhouse_queue.consumer.session import open_session
from greenhouse_queue.queue import Job, describe
from greenhouse_queue.settings import QueueTiming

log = logging.getLogger("consumer")


class LeaseKeeper:
    def __init__(
        self, url: str, worker: str, timing: QueueTiming, on_beat: Callable[[], None]
    ) -> None:
        self.url = url
        self.worker = worker
        self.timing = timing
        self.on_beat = on_beat
        self.lost: set[int] = set()
        self._jobs: list[Job] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._close()

    @contextmanager
    def holding(self, jobs: list[Job]) -> Iterator[set[int]]:
        """Renews ``jobs`` while the block runs; yields the ids found lost so far."""
        with self._lock:
            self._jobs, self.lost = list(jobs), set()
        try:
            yield self.lost
        finally:
            with self._lock:
                self._jobs = []

    def _run(self) -> None:
        while not self._stop.wait(self.timing.heartbeat_seconds):
            self.on_beat()
            with self._lock:
                held = [job for job in self._jobs if job.id not in self.lost]
            if held:
                self._renew(held)

    def _renew(self, held: list[Job]) -> None:
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = open_session(self.url)
            kept = queue.heartbeat(
                self._conn, worker=self.worker, jobs=held, lease_seconds=self.timing.lease_seconds
            )
        except psycopg.Error as error:
            log.warning("heartbeat failed (%s); retrying", type(error).__name__)
            self._close()
            return
        with self._lock:
            for job in held:
                if job.id not in kept and job in self._jobs:
                    self.lost.add(job.id)
                    log.warning("%s: lease lost to another worker", describe(job))

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
