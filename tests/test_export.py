"""`producer export`: the file read back with pandas equals what SQL says, in both shapes,
with the filters, across chunk boundaries; bad usage is refused with one line."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from greenhouse_queue.producer.export import Selection, export
from tests.conftest import PRODUCER, REPO, run_without

KEY = ["site", "window_start", "window_end"]


def producer(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run(
        [*PRODUCER, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


ALL_ROWS = """
SELECT site, window_start, window_end, signal, feature, value FROM features
ORDER BY site, window_start, window_end, signal, feature
"""
FILTERED_ROWS = """
SELECT site, window_start, window_end, signal, feature, value FROM features
WHERE window_start >= '2016-01-21' AND window_start < '2016-01-23'
  AND site = 'knudjepsen-afd3' AND signal IN ('air_temp_c', 'rh_percent')
  AND feature IN ('mean', 'maximum')
ORDER BY site, window_start, window_end, signal, feature
"""


def sql_rows(url: str, statement: str = ALL_ROWS) -> pd.DataFrame:
    with psycopg.connect(url) as conn:
        rows = conn.execute(statement).fetchall()
    frame = pd.DataFrame(rows, columns=[*KEY, "signal", "feature", "value"])
    for column in ("window_start", "window_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for column in ("window_start", "window_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[us, UTC]")
    for column in frame.columns:
        if frame[column].dtype == object or str(frame[column].dtype).startswith("str"):
            frame[column] = frame[column].astype(object)
    return frame.reset_index(drop=True)


def test_long_parquet_reads_back_equal_to_the_features_relation(
    drained_db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "features.parquet"

    result = producer(drained_db_url, "export", "--out", str(out), "--long")

    assert result.returncode == 0, result.stderr
    expected = sql_rows(drained_db_url)
    assert len(expected) > 10_000
    pd.testing.assert_frame_equal(normalised(pd.read_parquet(out)), normalised(expected))


def wide_from_sql(long: pd.DataFrame) -> dict[tuple, float]:
    """Every (site, window, signal__feature) cell SQL holds."""
    return {
        (row.site, row.window_start, row.window_end, f"{row.signal}__{row.feature}"): row.value
        for row in long.itertuples(index=False)
    }


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_wide_has_one_row_per_site_and_window_and_a_tsfresh_named_column_per_feature(
    drained_db_url: str, tmp_path: Path, suffix: str
) -> None:
    out = tmp_path / f"wide.{suffix}"
    with psycopg.connect(drained_db_url) as conn:
        # A small odd chunk: windows are cut by chunk boundaries and must come out whole.
        summary = export(conn, out, fmt=suffix, wide=True, selection=Selection(), chunk_rows=997)
    wide = pd.read_parquet(out) if suffix == "parquet" else pd.read_csv(out)
    wide = normalised(wide)
    long = normalised(sql_rows(drained_db_url))

    cells = wide_from_sql(long)
    windows = long[KEY].drop_duplicates()
    assert len(wide) == len(windows) == summary.rows
    assert not wide.duplicated(KEY).any()
    assert "air_temp_c__mean" in wide and "greenhouse__lamp_on_hours" in wide
    assert "air_temp_c__quantile__q_0.95" in wide  # tsfresh's kind__feature__param names
    melted = wide.melt(id_vars=KEY, var_name="column", value_name="value").dropna()
    got = {
        (r.site, r.window_start, r.window_end, r.column): r.value
        for r in melted.itertuples(index=False)
    }
    assert got.keys() == cells.keys()
    if suffix == "parquet":
        assert got == cells
    else:  # CSV holds the shortest repr of each double: still exact
        assert all(got[key] == value for key, value in cells.items())


def test_filters_select_days_sites_signals_and_features(
    drained_db_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "some.csv"

    result = producer(
        drained_db_url,
        "export",
        "--out",
        str(out),
        "--from",
        "2016-01-21",
        "--to",
        "2016-01-22",
        "--site",
        "knudjepsen-afd3",
        "--signal",
        "air_temp_c",
        "--signal",
        "rh_percent",
        "--feature",
        "mean",
        "--feature",
        "maximum",
    )

    assert result.returncode == 0, result.stderr
    expected = sql_rows(drained_db_url, FILTERED_ROWS)
    assert len(expected) == 2 * 4 * 2 * 2  # 2 days x 4 windows x 2 signals x 2 features
    pd.testing.assert_frame_equal(normalised(pd.read_csv(out)), normalised(expected))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "features.txt"], "cannot tell the format from the suffix '.txt'"),
        (["--out", "f.csv", "--from", "2016-02-01", "--to", "2016-01-01"], "is after --to"),
        (["--out", "f.csv", "--from", "2016-13-01"], "--from '2016-13-01' is not a date"),
        (["--out", "f.csv", "--long", "--wide"], "not allowed with argument"),
    ],
)
def test_bad_usage_is_refused_with_one_line_and_no_file(
    drained_db_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    result = subprocess.run(
        [*PRODUCER, "export", *args],
        cwd=tmp_path,
        env={**os.environ, "DATABASE_URL": drained_db_url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []


def test_without_pyarrow_parquet_says_what_to_install(drained_db_url: str, tmp_path: Path) -> None:
    result = run_without(
        "pyarrow", ["export", "--out", str(tmp_path / "f.parquet")], drained_db_url
    )
    assert result.returncode == 2
    assert "pip install 'greenhouse-queue[parquet]'" in result.stderr
    assert "Traceback" not in result.stderr and list(tmp_path.iterdir()) == []
