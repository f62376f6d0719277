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


def test_varied_rows_round_trip_texts_of_any_length_and_arrays_with_null_elements(
    conn: psycopg.Connection,
) -> None:
    conn.execute("CREATE TEMP TABLE v (a int8, b text, c timestamptz, d int4, e float8[])")
    stamps = np.array(
        ["2016-01-18T00:00:00", "2016-01-18T06:00:00", "2014-03-30T01:00:00"],
        dtype="datetime64[s]",
    )
    values = np.array([[1.5, np.nan, -0.0], [np.nan, np.nan, np.nan], [2.0, 1e-300, 7.25]])
    body = copy_binary.varied_rows(
        [
            ("int8", np.array([1, 2, 3])),
            ("text", np.array(["knudjepsen-afd3", "", "aarslev-celle5 ø"], dtype=object)),
            ("timestamptz", copy_binary.timestamptz(stamps)),
            ("int4", np.array([7, 7, 8], dtype=np.int32)),
            ("float8[]", values),
        ]
    )
    with conn.cursor() as cursor, cursor.copy("COPY v FROM STDIN (FORMAT BINARY)") as copy:
        for block in (copy_binary.HEADER, body, copy_binary.TRAILER):
            copy.write(block)

    rows = conn.execute("SELECT * FROM v ORDER BY a").fetchall()
    assert rows == [
        (1, "knudjepsen-afd3", datetime(2016, 1, 18, tzinfo=UTC), 7, [1.5, None, -0.0]),
        (2, "", datetime(2016, 1, 18, 6, tzinfo=UTC), 7, [None, None, None]),
        (3, "aarslev-celle5 ø", datetime(2014, 3, 30, 1, tzinfo=UTC), 8, [2.0, 1e-300, 7.25]),
    ]
    # The server sees the NULL elements as NULLs (not NaN), in place.
    assert conn.execute("SELECT array_positions(e, NULL) FROM v ORDER BY a").fetchall() == [
        ([2],),
        ([1, 2, 3],),
        ([],),
    ]
