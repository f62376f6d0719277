"""Scenario 7: a long-open transaction holds back vacuum while the queue drains."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import psycopg
import pytest

from tests.chaos.conftest import (
    Consumers,
    ReferenceRuns,
    Windows,
    assert_recovered,
    enqueue,
    report,
    sample_start,
)

pytestmark = pytest.mark.chaos

HORIZON_DAYS = 3  # 1h windows: 72 jobs


def dead_not_removable(url: str) -> int:
    """VACUUM jobs now; how many dead row versions it had to keep."""
    notices: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.add_notice_handler(lambda notice: notices.append(notice.message_primary or ""))
        conn.execute("VACUUM (VERBOSE) jobs")
    found = re.search(r"(\d+) are dead but not yet removable", "\n".join(notices))
    assert found, f"VACUUM VERBOSE said: {notices}"
    return int(found[1])


def test_the_queue_keeps_working_behind_a_held_transaction_horizon(
    sample_db_url: str, consumers: Consumers, reference: ReferenceRuns
) -> None:
    first = sample_start(sample_db_url)
    windows = Windows(first, first + timedelta(days=HORIZON_DAYS - 1), width="1h")
    expected = reference(windows)  # its drain is the throughput baseline
    jobs = enqueue(sample_db_url, windows)

    holder = psycopg.connect(sample_db_url)
    try:
        # An open transaction with an xid and a snapshot: no row version deleted after
        # this point may be removed by vacuum until it ends.
        holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        holder.execute("SELECT pg_current_xact_id(), count(*) FROM jobs").fetchone()
        began = time.monotonic()
        consumer = consumers.start(sample_db_url, "behind-horizon", batch=8)
        assert consumer.wait(120) == 0, consumer.log()[-3000:]
        held_seconds = time.monotonic() - began
        kept = dead_not_removable(sample_db_url)
    finally:
        holder.close()
    assert kept > 0, "the open transaction really held back vacuum"
    assert dead_not_removable(sample_db_url) == 0, "once it ends, vacuum catches up"

    assert_recovered(sample_db_url, expected)
    baseline = expected.jobs / expected.seconds
    held = jobs / held_seconds
    report(
        f"7 held horizon: {jobs} jobs at {held:.1f} jobs/s behind an open transaction vs "
        f"{baseline:.1f} jobs/s in the clean run ({(held / baseline - 1) * 100:+.0f}%); "
        f"VACUUM had to keep {kept} dead job row versions"
    )
