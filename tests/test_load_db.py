"""Loading into PostgreSQL: counts, sites, idempotent re-loads, overlaps, refused files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from greenhouse_queue.producer.load import FileReport, LoadError, load_files, read_file

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SAMPLE_FILES = sorted(p for p in SAMPLE.rglob("*") if p.suffix in {".csv", ".json"})
TABLES = ("readings", "weather", "spot_prices", "sites")


def counts(conn: psycopg.Connection) -> dict[str, int]:
    count = sql.SQL("SELECT count(*) FROM {}")
    return {t: conn.execute(count.format(sql.Identifier(t))).fetchone()[0] for t in TABLES}


def parsed_rows(path: Path) -> int:
    frames = read_file(path)
    prices = frames["spot_prices"]
    hours = len(prices[["price_area", "time"]].drop_duplicates())
    return len(frames["readings"]) + len(frames["weather"]) + hours


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_each_sample_file_loads_every_nonempty_cell(conn, path):
    (report,) = load_files(conn, [path])
    assert isinstance(report, FileReport)
    loaded = counts(conn)
    assert report.rows_loaded == parsed_rows(path)
    assert report.rows_loaded == loaded["readings"] + loaded["weather"] + loaded["spot_prices"]
    assert report.rows_already_present == 0
    assert report.time_first is not None and report.time_first <= report.time_last
    assert str(report).startswith(path.name)


def test_load_whole_sample_reports_sites_signals_and_span(conn):
    reports = load_files(conn, SAMPLE_FILES)
    by_name = {r.path.name: r for r in reports}
    lamps = by_name["NO3-NO4_belysningsgrp.csv"]
    assert lamps.format == "knudjepsen"
    assert lamps.sites == ["knudjepsen-afd3", "knudjepsen-afd4"]
    assert "lamp_grp4_on" in lamps.signals
    climate = by_name["NO3_LAMPEGRP_1.csv"]
    assert climate.locations == ["knudjepsen"]
    assert climate.time_first == datetime(2016, 1, 17, 23, tzinfo=UTC)
    cell = by_name["output-2014-04-01-00-00.csv"]
    assert any("unnamed_col12" in u for u in cell.unknown_columns)
    sites = conn.execute("SELECT site, location, price_area FROM sites ORDER BY site").fetchall()
    assert sites == [
        ("aarslev-celle5", "aarslev-celle5", "DK1"),
        ("knudjepsen-afd3", "knudjepsen", "DK1"),
        ("knudjepsen-afd4", "knudjepsen", "DK1"),
    ]
    value = conn.execute(
        "SELECT value FROM readings WHERE site = 'knudjepsen-afd4' AND signal = 'rh_percent' "
        "AND time = '2016-01-18 00:00+01'"
    ).fetchone()
    assert value == (77.98,)  # sample/knudjepsen/NO3NO4.extra.csv line 4, column 7: 77,98


def test_reloading_changes_nothing_and_says_so(conn):
    first = load_files(conn, SAMPLE_FILES)
    before = counts(conn)
    again = load_files(conn, SAMPLE_FILES)
    assert counts(conn) == before
    assert sum(r.rows_loaded for r in again) == 0
    assert [r.identical_to[0] for r in again] == [r.source for r in first]
    assert all("nothing to do, byte-identical to source" in str(r) for r in again)
    sources = conn.execute("SELECT count(*) FROM sources").fetchone()[0]
    assert sources == len(SAMPLE_FILES)  # the no-op loads recorded nothing


def test_overlapping_export_adds_only_new_rows(conn, tmp_path):
    lines = (SAMPLE / "prices/Elspotprices-DK1.csv").read_bytes().splitlines(keepends=True)
    header, body = lines[0], lines[1:]
    older = tmp_path / "older.csv"
    newer = tmp_path / "newer.csv"
    older.write_bytes(header + b"".join(body[100:]))  # newest first: drop the newest 100
    newer.write_bytes(header + b"".join(body[:150]))  # overlaps the older by 50 hours
    (a,) = load_files(conn, [older])
    (b,) = load_files(conn, [newer])
    assert (a.rows_loaded, a.rows_already_present) == (len(body) - 100, 0)
    assert (b.rows_loaded, b.rows_already_present) == (100, 50)
    assert counts(conn)["spot_prices"] == len(body)


CELL_FILES = sorted((SAMPLE / "aarslev/celle5").glob("*.csv"))
WEATHER_JSON = SAMPLE / "aarslev/weather/temperature_sunradiation_mar_apr_may_2014.json"


@pytest.mark.parametrize("weather_first", [False, True], ids=["cell-first", "weather-first"])
def test_aarslev_cell_outside_columns_and_weather_station_are_both_stored(conn, weather_first):
    # Both report outside weather for the same two weeks; neither may shadow the other.
    paths = [WEATHER_JSON, *CELL_FILES] if weather_first else [*CELL_FILES, WEATHER_JSON]
    reports = {r.path.name: r for r in load_files(conn, paths)}
    station = reports[WEATHER_JSON.name]
    assert station.locations == ["aarslev-station"]
    assert station.rows_already_present == 0
    assert station.rows_loaded == parsed_rows(WEATHER_JSON)
    for path in CELL_FILES:
        assert reports[path.name].locations == ["aarslev-celle5"]
        assert reports[path.name].rows_already_present == 0
        assert reports[path.name].rows_loaded == parsed_rows(path)
    shared = conn.execute(
        "SELECT count(*) FROM weather AS c JOIN weather AS s USING (signal, time) "
        "WHERE c.location = 'aarslev-celle5' AND s.location = 'aarslev-station'"
    ).fetchone()[0]
    assert shared > 1000  # the same (signal, time) is stored once per location
    sites = conn.execute("SELECT site, location FROM sites").fetchall()
    assert sites == [("aarslev-celle5", "aarslev-celle5")]


def test_aarslev_weather_json_and_hourly_csv_are_both_stored(conn, tmp_path):
    # winter2014.csv's hourly actuals differ from the JSON's 10-minute readings at full hours.
    epoch = 1389787200000  # 2014-01-15 12:00 UTC+1 wall clock, winter: 11:00 UTC
    series = [
        {"uuid": "t", "Readings": [[epoch, 1.25]]},
        {"uuid": "r", "Readings": [[epoch, 150.0]]},
    ]
    json_path = tmp_path / "temperature_sunradiation_jan_2014.json"
    json_path.write_text(json.dumps(series))
    csv_path = tmp_path / "winter2014.csv"
    csv_path.write_text(
        "timestamp;temperature;sun_radiation;actual_temperature;actual_radiation\n"
        f"{epoch};1.0;140.0;1.2;148.5\n"
    )
    json_report, csv_report = load_files(conn, [json_path, csv_path])
    assert json_report.rows_already_present == csv_report.rows_already_present == 0
    assert (json_report.rows_loaded, csv_report.rows_loaded) == (2, 4)
    temps = conn.execute(
        "SELECT location, value FROM weather WHERE signal = 'outside_temp_c' ORDER BY 1"
    ).fetchall()
    assert temps == [("aarslev-hourly", 1.2), ("aarslev-station", 1.25)]


def test_site_pointed_at_the_weather_station_stays_there_on_reload(conn):
    load_files(conn, [*CELL_FILES, WEATHER_JSON])
    conn.execute("UPDATE sites SET location = 'aarslev-station' WHERE site = 'aarslev-celle5'")
    load_files(conn, CELL_FILES)
    location = conn.execute("SELECT location FROM sites WHERE site = 'aarslev-celle5'").fetchone()
    assert location == ("aarslev-station",)


def test_fixture_formats_load(conn):
    paths = sorted(p for p in FIXTURES.glob("*") if p.suffix in {".csv", ".json"})
    reports = load_files(conn, paths, location="odense")
    assert all(r.rows_loaded > 0 for r in reports)
    areas = conn.execute("SELECT DISTINCT price_area FROM spot_prices ORDER BY 1").fetchall()
    assert areas == [("DK1",), ("DK2",)]
    null_dkk = conn.execute(
        "SELECT price_dkk_mwh, price_eur_mwh FROM spot_prices "
        "WHERE price_area = 'DK2' AND hour_utc = '2023-01-01 00:00Z'"
    ).fetchone()
    assert null_dkk == (None, 163.389999)
    locations = conn.execute("SELECT DISTINCT location FROM weather ORDER BY 1").fetchall()
    assert locations == [("aarslev-celle5",), ("aarslev-celle6",), ("odense",)]


def bad_copy(tmp_path: Path, line_no: int, replacement: bytes) -> Path:
    """The sample's NO3NO4.extra.csv with one line (1-based) replaced."""
    lines = (SAMPLE / "knudjepsen/NO3NO4.extra.csv").read_bytes().splitlines(keepends=True)
    lines[line_no - 1] = replacement
    path = tmp_path / "bad.csv"
    path.write_bytes(b"".join(lines))
    return path


BAD_LINE = 3000  # far enough in that earlier blocks could already have been written


@pytest.mark.parametrize(
    ("replacement", "reason"),
    [
        (b'"28-01-2016 01:00:00";4,3;12,3,4;0;0;4,1;76,28;0;0\r\n', "12,3,4"),
        (b'"28-13-2016 01:00:00";4,3;74;0;0;4,1;76,28;0;0\r\n', "timestamp"),
        (b'"28-01-2016 01:00:00",4,3,74,0,0,4,1,76,28,0,0\r\n', "delimiter"),
        (b'"28-01-2016 01:00:00";4,3;74\r\n', "truncated"),
    ],
)
def test_refused_file_leaves_nothing_behind(conn, tmp_path, replacement, reason):
    path = bad_copy(tmp_path, BAD_LINE, replacement)
    with pytest.raises(LoadError) as err:
        load_files(conn, [path])
    assert err.value.line == BAD_LINE
    assert f"{path}:{BAD_LINE}:" in str(err.value)
    assert reason in str(err.value)
    assert counts(conn) == dict.fromkeys(TABLES, 0)


def test_truncated_file_is_refused_and_leaves_nothing(conn, tmp_path):
    data = (SAMPLE / "knudjepsen/NO3_LAMPEGRP_1.csv").read_bytes()
    path = tmp_path / "cut.csv"
    path.write_bytes(data[: len(data) // 2 + 7])
    with pytest.raises(LoadError, match="truncated"):
        load_files(conn, [path])
    assert counts(conn) == dict.fromkeys(TABLES, 0)


def test_earlier_files_stay_committed_when_a_later_one_is_refused(conn, tmp_path):
    good = SAMPLE / "prices/Elspotprices-DK1.csv"
    bad = bad_copy(tmp_path, BAD_LINE, b'"x";1\r\n')
    with pytest.raises(LoadError) as err:
        load_files(conn, [good, bad])
    assert [r.path for r in err.value.reports] == [good]
    conn.rollback()
    assert counts(conn)["spot_prices"] == 336
    assert counts(conn)["readings"] == 0


def test_missing_file_refuses_the_whole_call(conn, tmp_path):
    with pytest.raises(LoadError, match="file not found"):
        load_files(conn, [SAMPLE / "prices/Elspotprices-DK1.csv", tmp_path / "gone.csv"])
    assert counts(conn) == dict.fromkeys(TABLES, 0)


def test_unknown_format_is_refused(conn, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("just;some;text\n")
    with pytest.raises(LoadError, match="unknown format"):
        load_files(conn, [path])
    assert counts(conn) == dict.fromkeys(TABLES, 0)


def test_skip_bad_rows_loads_the_good_rows(conn, tmp_path):
    path = bad_copy(tmp_path, BAD_LINE, b'"28-01-2016 01:00:00";4,3;12,3,4;0;0;4,1;76,28;0;0\r\n')
    (report,) = load_files(conn, [path], skip_bad_rows=True)
    assert [line for line, _ in report.bad_rows] == [BAD_LINE]
    assert "12,3,4" in report.bad_rows[0][1]
    whole = parsed_rows(SAMPLE / "knudjepsen/NO3NO4.extra.csv")
    assert report.rows_loaded == whole - 8  # the bad line's eight cells
    assert f"line {BAD_LINE}" in str(report)
