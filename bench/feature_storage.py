"""Benchmark 7: how feature vectors are stored. The same vectors go into one table per
storage option (inline and uncompressed as migration 0006 sets it, pglz or lz4 compressed
TOAST, uncompressed out-of-line TOAST); each reports bytes on disk per stored value
(indexes and TOAST included), the COPY time, and three reads: the long view over all of
it, one site, signal and feature over all windows, and 40 columns of one signal as the wide
form reads them.

    python -m bench.feature_storage --source-database-url URL [--tsfresh-windows N]

The vectors come from ``feature_vectors`` in the source database (say after
``bench.end_to_end --loaded-database-url URL --feature-set efficient``), or, with
``--tsfresh-windows N``, from tsfresh's EfficientFCParameters on N real 24-hour windows of
the source database's ``resampled`` grid, replicated ``--replicate`` times under new keys
(a stand-in for the efficient set where stage 3 does not compute it). The tables live in a
fresh database (``--database-prefix``) dropped at the end.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql

from bench import common
from greenhouse_queue.consumer import copy_binary

# name -> (table storage parameters, column storage, compression)
OPTIONS = {
    "inline (0006)": ("toast_tuple_target = 8160", "MAIN", "pglz"),
    "toast pglz": ("toast_tuple_target = 2032", "EXTENDED", "pglz"),
    "toast lz4": ("toast_tuple_target = 2032", "EXTENDED", "lz4"),
    "toast uncompressed": ("toast_tuple_target = 2032", "EXTERNAL", "pglz"),
}
COLUMNS = "job_id, site, window_start, window_end, signal, layout, vals"
TABLE = """
CREATE TABLE {} (
    window_start timestamptz NOT NULL, window_end timestamptz NOT NULL, job_id bigint NOT NULL,
    layout integer NOT NULL, site text NOT NULL, signal text NOT NULL,
    vals double precision[] NOT NULL,
    PRIMARY KEY (site, window_start, window_end, signal)
) WITH ({})
"""
LONG_SCAN = """
SELECT count(*) FROM {} AS v
CROSS JOIN LATERAL unnest(v.vals) WITH ORDINALITY AS u(value, position)
JOIN feature_layouts AS l ON l.layout = v.layout AND l.position = u.position
WHERE u.value IS NOT NULL
"""
POINT = """
SELECT v.window_start, u.value FROM {} AS v
CROSS JOIN LATERAL unnest(v.vals) WITH ORDINALITY AS u(value, position)
JOIN feature_layouts AS l ON l.layout = v.layout AND l.position = u.position
WHERE u.value IS NOT NULL AND v.site = %(site)s AND v.signal = %(signal)s
  AND l.feature = %(feature)s
"""
WIDE = "SELECT v.site, v.window_start, {} FROM {} AS v WHERE v.signal = %(signal)s"


def tsfresh_vectors(url: str, windows: int, replicate: int) -> dict[str, Any]:
    """Vectors of tsfresh's EfficientFCParameters on ``windows`` random 24-hour windows of
    ``resampled``, each copied ``replicate`` times a year apart."""
    from tsfresh import extract_features
    from tsfresh.feature_extraction import EfficientFCParameters

    with psycopg.connect(url) as conn:
        keys = conn.execute(
            "SELECT site, signal, window_start FROM feature_vectors WHERE signal <> 'greenhouse'"
            " ORDER BY md5(site || signal || window_start::text) LIMIT %s",
            [windows],
        ).fetchall()
        frames = []
        for i, (site, signal, start) in enumerate(keys):
            rows = conn.execute(
                "SELECT time, value FROM resampled WHERE site = %s AND signal = %s"
                " AND time >= %s AND time < %s + interval '24 hours' AND value IS NOT NULL"
                " ORDER BY time",
                [site, signal, start, start],
            ).fetchall()
            if len(rows) >= 2:
                frames.append(pd.DataFrame({"id": i, "time": [r[0] for r in rows],
                                            "value": [r[1] for r in rows]}))  # fmt: skip
    began = time.perf_counter()
    table = extract_features(
        pd.concat(frames), column_id="id", column_sort="time", column_value="value",
        default_fc_parameters=EfficientFCParameters(), n_jobs=0, disable_progressbar=True,
    )  # fmt: skip
    seconds = time.perf_counter() - began
    values = np.array(table.to_numpy(dtype=float), copy=True)
    values[~np.isfinite(values)] = np.nan  # absent, as stage 3 leaves it
    ids = table.index.to_numpy()
    n = len(ids) * replicate
    shift = np.repeat(np.arange(replicate), len(ids)) * np.timedelta64(366, "D")
    starts = np.array([np.datetime64(keys[i][2].replace(tzinfo=None), "s") for i in ids])
    return {
        "layout": [name.split("__", 1)[1] for name in table.columns],
        "site": np.tile(np.array([keys[i][0] for i in ids], dtype=object), replicate),
        "signal": np.tile(np.array([keys[i][1] for i in ids], dtype=object), replicate),
        "window_start": np.tile(starts, replicate) + shift,
        "values": np.tile(values, (replicate, 1)),
        "job_id": np.ones(n, dtype=np.int64),
        "tsfresh_seconds": seconds,
    }


def stored_vectors(url: str) -> dict[str, Any]:
    """The vectors of ``feature_vectors``, each in the layout of the source's first vector
    layout (the bench measures storage, not layouts)."""
    with psycopg.connect(url) as conn:
        (layout,) = conn.execute("SELECT min(layout) FROM feature_vectors").fetchone()
        names = [
            name
            for (name,) in conn.execute(
                "SELECT feature FROM feature_layouts WHERE layout = %s ORDER BY position",
                [layout],
            )
        ]
        rows = conn.execute(
            "SELECT job_id, site, window_start, signal, vals FROM feature_vectors"
            " WHERE layout = %s",
            [layout],
        ).fetchall()
    return {
        "layout": names,
        "job_id": np.array([r[0] for r in rows], dtype=np.int64),
        "site": np.array([r[1] for r in rows], dtype=object),
        "window_start": np.array(
            [np.datetime64(r[2].replace(tzinfo=None), "s") for r in rows], dtype="datetime64[s]"
        ),
        "signal": np.array([r[3] for r in rows], dtype=object),
        "values": np.array([[np.nan if v is None else v for v in r[4]] for r in rows]),
    }


def copy_body(vectors: dict[str, Any]) -> bytes:
    starts = vectors["window_start"]
    return copy_binary.varied_rows(
        [
            ("int8", vectors["job_id"]),
            ("text", vectors["site"]),
            ("timestamptz", copy_binary.timestamptz(starts)),
            ("timestamptz", copy_binary.timestamptz(starts + np.timedelta64(86400, "s"))),
            ("text", vectors["signal"]),
            ("int4", np.ones(len(starts), dtype=np.int32)),
            ("float8[]", vectors["values"]),
        ]
    )


def measure(conn: psycopg.Connection, vectors: dict[str, Any], body: bytes) -> list[dict]:
    values = int(np.count_nonzero(~np.isnan(vectors["values"])))
    point = {"site": vectors["site"][0], "signal": vectors["signal"][0], "feature": "mean"}
    middle = max(1, len(vectors["layout"]) // 2 - 20)  # subscripts cost more further in
    wide_columns = sql.SQL(", ").join(
        sql.SQL("v.vals[{}]").format(sql.Literal(p))
        for p in range(middle, min(middle + 40, len(vectors["layout"]) + 1))
    )
    figures = []
    for number, (name, (parameters, storage, compression)) in enumerate(OPTIONS.items()):
        table = sql.Identifier(f"vectors_{number}")
        conn.execute(sql.SQL(TABLE).format(table, sql.SQL(parameters)))
        conn.execute(
            sql.SQL("ALTER TABLE {} ALTER COLUMN vals SET STORAGE {}, ALTER COLUMN vals SET "
                    "COMPRESSION {}").format(table, sql.SQL(storage), sql.SQL(compression))
        )  # fmt: skip
        began = time.perf_counter()
        with (
            conn.transaction(),
            conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(table, sql.SQL(COLUMNS))
            ) as copy,
        ):
            for block in (copy_binary.HEADER, body, copy_binary.TRAILER):
                copy.write(block)
        copy_seconds = time.perf_counter() - began
        conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))
        total, heap, index = conn.execute(
            "SELECT pg_total_relation_size(%(t)s::regclass), pg_relation_size(%(t)s::regclass),"
            " pg_indexes_size(%(t)s::regclass)",
            {"t": f"vectors_{number}"},
        ).fetchone()
        reads = {}
        for read, statement, params in (
            ("long_scan", sql.SQL(LONG_SCAN).format(table), None),
            ("point", sql.SQL(POINT).format(table), point),
            ("wide_40", sql.SQL(WIDE).format(wide_columns, table), {"signal": point["signal"]}),
        ):
            began = time.perf_counter()
            conn.execute(statement, params).fetchall()
            reads[read] = time.perf_counter() - began
        figures.append(
            {
                "storage": name,
                "bytes_per_value": total / values,
                "heap_bytes_per_value": heap / values,
                "index_bytes_per_value": index / values,
                "toast_bytes_per_value": (total - heap - index) / values,
                "copy_seconds": copy_seconds,
                **{f"{read}_seconds": seconds for read, seconds in reads.items()},
            }
        )
        print(f"  {name}: {total / values:.2f} bytes/value", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--source-database-url", required=True, help="holds feature_vectors")
    p.add_argument("--tsfresh-windows", type=int, default=0)
    p.add_argument("--replicate", type=int, default=10)
    p.add_argument("--database-prefix", default="bench_storage")
    args = p.parse_args(argv)

    if args.tsfresh_windows:
        vectors = tsfresh_vectors(args.source_database_url, args.tsfresh_windows, args.replicate)
    else:
        vectors = stored_vectors(args.source_database_url)
    values = int(np.count_nonzero(~np.isnan(vectors["values"])))
    n, width = vectors["values"].shape
    print(f"{n:,} vectors of {width} positions, {values:,} values ({values / n:.0f} per vector)")
    body = copy_body(vectors)
    record: dict[str, Any] = {
        "benchmark": "feature_storage",
        "source": "tsfresh EfficientFCParameters" if args.tsfresh_windows else "feature_vectors",
        "vectors": n,
        "positions": width,
        "values": values,
        "tsfresh_seconds": vectors.get("tsfresh_seconds"),
    }
    with common.server(args.database_url) as server_url:
        record["machine"] = common.machine(server_url)
        url = common.fresh_database(server_url, args.database_prefix, migrate=False)
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    "CREATE TABLE feature_layouts (layout integer, position integer, feature text,"
                    " PRIMARY KEY (layout, position))"
                )
                conn.execute(
                    "INSERT INTO feature_layouts SELECT 1, p, f"
                    " FROM unnest(%s::text[]) WITH ORDINALITY AS u(f, p)",
                    [vectors["layout"]],
                )
                record["options"] = measure(conn, vectors, body)
        finally:
            common.drop_database(server_url, url)
    path = common.write_json("feature_storage", record, args.out)
    headers = ["storage", "B/value", "heap", "index", "TOAST", "COPY s", "long scan s"]
    keys = ["bytes_per_value", "heap_bytes_per_value", "index_bytes_per_value"]
    keys += ["toast_bytes_per_value", "copy_seconds", "long_scan_seconds"]
    rows = [[o["storage"], *(o[k] for k in keys), o["point_seconds"], o["wide_40_seconds"]]
            for o in record["options"]]  # fmt: skip
    print()
    print(common.table([*headers, "point s", "wide 40 s"], rows))
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
