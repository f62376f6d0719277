"""How a consumer connects to PostgreSQL.

Autocommit, so that each queue statement is one round trip and one commit; the stage
reads and the completion open explicit transactions. ``synchronous_commit`` is off by
default for these sessions: a commit then returns before its WAL reaches the disk, and a
server crash may forget the last fraction of a second of commits. For this queue that is
safe, because every job-state change commits together with everything it implies: a
forgotten claim makes the later completion fail its fencing check, a forgotten
completion (results included) leaves the job running until its lease lapses and another
worker runs it again. Nothing is half-written; a job may run twice, never zero times.
Set CONSUMER_SYNCHRONOUS_COMMIT=on to wait for the disk on every commit instead.
"""

from __future__ import annotations

import os

import psycopg

from greenhouse_queue.queries import query

SYNCHRONOUS_COMMIT_ENV = "CONSUMER_SYNCHRONOUS_COMMIT"
SYNCHRONOUS_COMMIT_VALUES = ("on", "off", "local", "remote_write", "remote_apply")


def synchronous_commit() -> str:
    value = os.environ.get(SYNCHRONOUS_COMMIT_ENV, "off").strip().lower() or "off"
    if value not in SYNCHRONOUS_COMMIT_VALUES:
        allowed = ", ".join(SYNCHRONOUS_COMMIT_VALUES)
        raise ValueError(f"{SYNCHRONOUS_COMMIT_ENV}={value!r} is not one of {allowed}")
    return value


def open_session(url: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True, connect_timeout=5)
    conn.execute(query("session", "set_synchronous_commit"), {"value": synchronous_commit()})
    return conn
