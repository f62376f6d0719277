"""Scenarios 1 and 2: consumers killed with SIGKILL, once mid-stage and then again and again."""

from __future__ import annotations

import random
import signal
import statistics
import time
from datetime import timedelta

import psycopg
import pytest

from tests.chaos.conftest import (
    LEASE,
    Consumers,
    ReferenceRuns,
    Windows,
    assert_recovered,
    enqueue,
    report,
    sample_start,
    statuses,
    wait_until_all_done,
)

pytestmark = pytest.mark.chaos


def test_sigkill_in_stage_3_hands_the_batch_to_another_consumer_within_a_lease(
    sample_db_url: str, consumers: Consumers, reference: ReferenceRuns
) -> None:
    first = sample_start(sample_db_url)
    windows = Windows(first, first + timedelta(days=3))
    expected = reference(windows)
    jobs = enqueue(sample_db_url, windows)

    # A claims the whole batch and is held in stage 3 (features) long enough to die there.
    victim = consumers.start(
        sample_db_url, "victim", batch=8, env={"CONSUMER_STAGE_DELAY": "features:60"}
    )
    victim.wait_for_log(r"paused in stage features")
    rescuer = consumers.start(sample_db_url, "rescuer", batch=8)
    rescuer.wait_for_log(r"worker rescuer started")
    with psycopg.connect(sample_db_url) as conn:
        held = conn.execute(
            "SELECT count(*) FROM jobs WHERE status = 'running' AND worker = 'victim'"
        ).fetchone()
    assert held == (jobs,), "the victim holds every job when it dies"

    victim.kill()
    killed_at = time.monotonic()
    done_at = wait_until_all_done(sample_db_url, jobs, timeout=60)
    assert rescuer.wait(60) == 0
    recovery = done_at - killed_at

    with psycopg.connect(sample_db_url) as conn:
        rows = conn.execute("SELECT DISTINCT worker, attempts FROM jobs").fetchall()
    assert rows == [("rescuer", 2)], "the rescuer finished every job, on their second attempt"
    assert_recovered(sample_db_url, expected)
    report(
        f"1 SIGKILL in stage 3: {jobs} jobs back and done {recovery:.1f}s after the kill "
        f"(lease {LEASE:g}s; bound: lease + poll + one batch)"
    )


def test_repeated_kills_and_restarts_lose_and_duplicate_nothing(
    sample_db_url: str, consumers: Consumers, reference: ReferenceRuns
) -> None:
    first = sample_start(sample_db_url)
    windows = Windows(first, first + timedelta(days=REPEATED_DAYS - 1), width="1h")
    expected = reference(windows)
    # Generous attempts: a job may be held by several of the consumers killed below.
    jobs = enqueue(sample_db_url, windows, "--max-attempts", "25")
    rng = random.Random(20151007)
    began = time.monotonic()
    serial = 0

    def start() -> object:
        nonlocal serial
        serial += 1
        return consumers.start(sample_db_url, f"c{serial}", batch=4)

    running = [start() for _ in range(3)]
    kills: list[tuple[float, list[int]]] = []
    while len(kills) < KILLS and statuses(sample_db_url).get("done", 0) < jobs:
        time.sleep(rng.uniform(1.0, 3.0))
        victim = rng.choice([c for c in running if c.alive()] or running)
        with psycopg.connect(sample_db_url) as conn:
            held = [
                job_id
                for (job_id,) in conn.execute(
                    "SELECT id FROM jobs WHERE status = 'running' AND worker = %s",
                    [victim.name],
                )
            ]
        victim.send(signal.SIGKILL)
        victim.process.wait(10)
        kills.append((time.time(), held))
        running.remove(victim)
        running.append(start())

    wait_until_all_done(sample_db_url, jobs, timeout=120)
    for consumer in running:
        assert consumer.wait(60) == 0, consumer.log()[-3000:]
    elapsed = time.monotonic() - began

    recoveries = []
    with psycopg.connect(sample_db_url) as conn:
        for killed_at, held in kills:
            if held:
                row = conn.execute(
                    "SELECT extract(epoch FROM max(finished_at)) FROM jobs WHERE id = ANY(%s)",
                    [held],
                ).fetchone()
                recoveries.append(float(row[0]) - killed_at)
        retried = conn.execute("SELECT count(*) FROM jobs WHERE attempts > 1").fetchone()
    assert_recovered(sample_db_url, expected)
    assert kills, "the scenario killed nobody"
    summary = (
        f"max {max(recoveries):.1f}s, median {statistics.median(recoveries):.1f}s"
        if recoveries
        else "no kill caught a batch"
    )
    report(
        f"2 repeated kills: {len(kills)} SIGKILLs while 3 consumers drained {jobs} jobs in "
        f"{elapsed:.0f}s; {retried[0] if retried else 0} jobs ran again; a killed consumer's "
        f"jobs done again after: {summary}"
    )


REPEATED_DAYS = 10  # 1h windows: 240 jobs
KILLS = 6
