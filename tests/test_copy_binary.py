"""Binary COPY rows built with numpy read back exactly as written."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import psycopg

from greenhouse_queue.consumer import copy_binary


def test_uniform_rows_round_trip_through_copy(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TEMP TABLE t (a int8, b text, c timestamptz, d float8, e int4, f bool, g text)"
    )
    stamps = np.array(["2016-01-18T00:00:00", "2016-03-27T02:30:00"], dtype="datetime64[s]")
    blocks = [
        copy_binary.HEADER,
        copy_binary.uniform_rows(
            2,
            [
                ("int8", 7),
                ("text", "knudjepsen-afd3 ø"),
                ("timestamptz", copy_binary.timestamptz(stamps)),
                ("float8", np.array([1.5, -0.25])),
                ("int4", np.array([12, 0])),
                ("bool", np.array([True, False])),
                ("text", ""),
            ],
        ),
        copy_binary.uniform_rows(
            1,
            [
                ("int8", 8),
                ("text", "x"),
                ("timestamptz", None),
                ("float8", None),
                ("int4", 3),
                ("bool", True),
                ("text", None),
            ],
        ),
        copy_binary.TRAILER,
    ]
    with conn.cursor() as cursor, cursor.copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
        for block in blocks:
            copy.write(block)
    rows = conn.execute("SELECT * FROM t ORDER BY a, c").fetchall()
    assert rows == [
        (7, "knudjepsen-afd3 ø", datetime(2016, 1, 18, tzinfo=UTC), 1.5, 12, True, ""),
        (7, "knudjepsen-afd3 ø", datetime(2016, 3, 27, 2, 30, tzinfo=UTC), -0.25, 0, False, ""),
        (8, "x", None, None, 3, True, None),
    ]
