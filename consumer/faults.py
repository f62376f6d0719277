"""Test-only fault injection for the chaos suite; does nothing unless its variables are set.

``CONSUMER_STAGE_DELAY=features:4``
    Sleep 4 s at the start of stage ``features`` in every batch, after logging
    ``fault injection: jobs [ids] paused in stage features``: a window in which the
    chaos tests kill (SIGKILL) or pause (SIGSTOP) a worker in the middle of stage 3.
``CONSUMER_FAULT_INJECT=features:2015-09-10T06:00:00+00:00``
    Raise ``InjectedFault`` in stage ``features`` of any batch that holds the job whose
    window starts then: a poison window, retried with backoff and then failed.

Stage names are those of consumer.pipeline.run_batch: read, aggregate, fill_gaps,
features, eras.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from greenhouse_queue.queue import Job

DELAY_ENV = "CONSUMER_STAGE_DELAY"
INJECT_ENV = "CONSUMER_FAULT_INJECT"
log = logging.getLogger("consumer.faults")


class InjectedFault(RuntimeError):
    """Raised on purpose by CONSUMER_FAULT_INJECT."""


def stage_hook(jobs: Sequence[Job]) -> Callable[[str], None] | None:
    """The hook run_batch calls at the start of each stage, or None when no fault is set."""
    delay = _split(DELAY_ENV)
    poison = _split(INJECT_ENV)
    if delay is None and poison is None:
        return None
    ids = ", ".join(str(job.id) for job in jobs)
    poisoned = poison is not None and any(
        job.window_start == datetime.fromisoformat(poison[1]) for job in jobs
    )

    def hook(stage: str) -> None:
        if delay is not None and stage == delay[0]:
            log.warning("fault injection: jobs [%s] paused in stage %s", ids, stage)
            time.sleep(float(delay[1]))
        if poisoned and poison is not None and stage == poison[0]:
            raise InjectedFault(f"injected fault for the window starting {poison[1]}")

    return hook


def _split(name: str) -> tuple[str, str] | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    stage, sep, value = raw.partition(":")
    if not sep or not value:
        raise ValueError(f"{name}={raw!r}: expected STAGE:VALUE")
    return stage, value
