"""What the worker loop tells an onlooker: the only hooks metrics need in the worker.

The worker calls these three methods at the three moments that change a job: a claim, a
fenced completion, a recorded failure. :class:`NoObserver` is the default (metrics off);
:class:`greenhouse_queue.consumer.metrics.PrometheusObserver` counts for ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from greenhouse_queue.consumer.pipeline import JobResult
from greenhouse_queue.queue import Job


class WorkerObserver(Protocol):
    def claimed(self, jobs: Sequence[Job]) -> None:
        """``jobs`` were claimed by this worker (each one is an attempt)."""

    def completed(self, results: Sequence[JobResult], owned: set[int]) -> None:
        """The jobs in ``owned`` were marked done with their results."""

    def failed(self, job: Job, stage: str, status: str | None) -> None:
        """An attempt of ``job`` failed in ``stage``; ``status`` is the job's new status
        (``queued`` to retry, ``failed`` for good, None if it was no longer ours)."""


class NoObserver:
    """Metrics off: every hook does nothing."""

    def claimed(self, jobs: Sequence[Job]) -> None:
        pass

    def completed(self, results: Sequence[JobResult], owned: set[int]) -> None:
        pass

    def failed(self, job: Job, stage: str, status: str | None) -> None:
        pass
