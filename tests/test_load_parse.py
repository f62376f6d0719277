"""The loader's parsing, without a database: formats, signals, times, values, errors."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from greenhouse_queue.producer.load import FORMATS, LoadError, detect_format, read_file
from greenhouse_queue.producer.load.numbers import NumberError, parse_number
from greenhouse_queue.producer.load.timezones import LocalClock, parse_tz

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
KJ = SAMPLE / "knudjepsen"
CELL = SAMPLE / "aarslev/celle5"
JSON_WEATHER = SAMPLE / "aarslev/weather/temperature_sunradiation_mar_apr_may_2014.json"
PRICES = SAMPLE / "prices/Elspotprices-DK1.csv"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def value(frame, key_col: str, key: str, time: datetime, signal: str) -> float:
    rows = frame[(frame[key_col] == key) & (frame.time == time) & (frame.signal == signal)]
    assert len(rows) == 1, f"{key} {time} {signal}: {len(rows)} rows"
    return float(rows.value.iloc[0])


# --- numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20,3", 20.3),
        ("20.3", 20.3),
        ("9,22917e-008", 9.22917e-08),
        ("1.05938e-007", 1.05938e-07),
        ('"4,5"', 4.5),
        ("-3", -3.0),
        (" 7 ", 7.0),
        ("", None),
        ("  ", None),
    ],
)
def test_numbers_with_commas_points_exponents_and_empty_cells(text, expected):
    assert parse_number(text) == pytest.approx(expected) if expected else parse_number(text) is None


@pytest.mark.parametrize("text", ["12,3,4", "1.234,5", "abc", "1e", "nan", "inf", "--1"])
def test_numbers_that_are_not_numbers_are_refused(text):
    with pytest.raises(NumberError):
        parse_number(text)


def test_empty_cell_is_absent_not_zero():
    assert parse_number("") is None
    assert parse_number("0") == 0.0


# --- time zones ------------------------------------------------------------------------


def test_fixed_offset_keeps_one_hour_all_year():
    clock = LocalClock(parse_tz("+01:00"))
    assert clock.to_utc(datetime(2016, 7, 1, 12)) == utc(2016, 7, 1, 11)
    assert clock.to_utc(datetime(2016, 3, 27, 2, 30)) == utc(2016, 3, 27, 1, 30)


def test_copenhagen_clock_changes():
    clock = LocalClock(parse_tz("Europe/Copenhagen"))
    assert clock.to_utc(datetime(2014, 1, 10, 12)) == utc(2014, 1, 10, 11)
    assert clock.to_utc(datetime(2014, 7, 10, 12)) == utc(2014, 7, 10, 10)
    with pytest.raises(ValueError, match="does not exist"):
        clock.to_utc(datetime(2014, 3, 30, 2, 30))
    # The repeated autumn hour: first pass summer time, second pass winter time.
    assert clock.to_utc(datetime(2014, 10, 26, 2, 30)) == utc(2014, 10, 26, 0, 30)
    assert clock.to_utc(datetime(2014, 10, 26, 2, 30)) == utc(2014, 10, 26, 1, 30)


@pytest.mark.parametrize("name", ["UTC", "+01:00", "UTC+1", "-0130", "Europe/Copenhagen"])
def test_time_zone_spellings(name):
    assert parse_tz(name) is not None


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_tz("Mars/Olympus")


# --- format detection ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (KJ / "NO3_LAMPEGRP_1.csv", "knudjepsen"),
        (KJ / "NO3NO4.extra.csv", "knudjepsen"),
        (KJ / "NO3-NO4_belysningsgrp.csv", "knudjepsen"),
        (CELL / "output-2014-04-01-00-00.csv", "aarslev-cell"),
        (JSON_WEATHER, "aarslev-weather"),
        (PRICES, "elspot"),
        (FIXTURES / "elspot.csv", "elspot"),
        (FIXTURES / "elspot.json", "elspot"),
        (FIXTURES / "openmeteo.json", "open-meteo"),
        (FIXTURES / "openmeteo.csv", "open-meteo"),
        (FIXTURES / "aarslev_mixed.csv", "aarslev-cell"),
    ],
)
def test_format_is_detected_from_content(path, fmt, tmp_path):
    renamed = tmp_path / "export.dat"  # the name plays no part
    renamed.write_bytes(path.read_bytes())
    assert detect_format(renamed) == fmt
    assert fmt in FORMATS


# --- KnudJepsen --------------------------------------------------------------------------


def test_knudjepsen_sites_signals_and_cells():
    frames = read_file(KJ / "NO3_LAMPEGRP_1.csv")
    readings, weather = frames["readings"], frames["weather"]
    assert set(readings.site) == {"knudjepsen-afd3"}
    assert set(readings.signal) == {
        "air_temp_c",
        "co2_ppm",
        "curtain_1_percent",
        "curtain_2_percent",
        "lamp_grp1_on",
        "humidity_deficit_g_m3",
        "pipe_temp_1_c",
        "pipe_temp_2_c",
    }
    assert set(weather.location) == {"knudjepsen"}
    assert set(weather.signal) == {"outside_temp_c", "outside_radiation_w_m2"}
    # First data line: "18-01-2016 00:00:00";19,5;-0,3;0;...  (UTC+1 -> 23:00 UTC)
    with (KJ / "NO3_LAMPEGRP_1.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    first = rows[3]
    assert first[0] == "18-01-2016 00:00:00"
    t = utc(2016, 1, 17, 23)
    assert value(readings, "site", "knudjepsen-afd3", t, "air_temp_c") == float(
        first[1].replace(",", ".")
    )
    assert value(weather, "location", "knudjepsen", t, "outside_temp_c") == float(
        first[2].replace(",", ".")
    )
    assert value(readings, "site", "knudjepsen-afd3", t, "pipe_temp_2_c") == float(
        first[10].replace(",", ".")
    )


def test_knudjepsen_hand_checked_cells():
    # Copied by hand from sample/knudjepsen/NO3NO4.extra.csv, line 4:
    # "18-01-2016 00:00:00";4,8;74;0;0;4,2;77,98;0;0
    frames = read_file(KJ / "NO3NO4.extra.csv")
    readings = frames["readings"]
    t = utc(2016, 1, 17, 23)
    assert set(readings.site) == {"knudjepsen-afd3", "knudjepsen-afd4"}
    line = (KJ / "NO3NO4.extra.csv").read_bytes().splitlines()[3].decode()
    cells = [c.replace(",", ".") for c in line.split(";")[1:]]
    assert value(readings, "site", "knudjepsen-afd3", t, "humidity_deficit_g_m3") == float(cells[0])
    assert value(readings, "site", "knudjepsen-afd3", t, "rh_percent") == float(cells[1])
    assert value(readings, "site", "knudjepsen-afd4", t, "vent_lee_percent") == float(cells[6])
    assert value(readings, "site", "knudjepsen-afd4", t, "vent_wind_percent") == float(cells[7])


def test_knudjepsen_lamp_groups_per_compartment():
    readings = read_file(KJ / "NO3-NO4_belysningsgrp.csv")["readings"]
    signals = readings.groupby("site").signal.unique().map(set).to_dict()
    assert signals == {
        "knudjepsen-afd3": {"lamp_grp1_on", "lamp_grp2_on", "lamp_grp3_on", "lamp_grp4_on"},
        "knudjepsen-afd4": {"lamp_grp1_on", "lamp_grp2_on"},
    }
    assert set(readings.value) == {0.0, 1.0}  # the lamps switch in the sample


def test_knudjepsen_time_zone_is_configurable():
    default = read_file(KJ / "NO3NO4.extra.csv")["readings"].time.min()
    as_utc = read_file(KJ / "NO3NO4.extra.csv", tz="UTC")["readings"].time.min()
    assert default == utc(2016, 1, 17, 23)
    assert as_utc == utc(2016, 1, 18, 0)


# --- Aarslev cell ------------------------------------------------------------------------


def test_aarslev_cell_sites_signals_and_unknown_columns():
    frames = read_file(CELL / "output-2014-04-01-00-00.csv")
    readings, weather = frames["readings"], frames["weather"]
    assert set(readings.site) == {"aarslev-celle5"}
    assert {"air_temp_c", "heating_setpoint_c", "co2_ppm", "pipe_temp_1_c", "vpd_kpa"} <= set(
        readings.signal
    )
    assert "outside_temp_c" not in set(readings.signal)  # outside station -> weather
    assert set(weather.location) == {"aarslev-celle5"}  # the cell's own outside sensors
    assert set(weather.signal) == {"outside_temp_c", "outside_radiation_w_m2"}
    unknown = readings.attrs["unknown_columns"]
    assert len(unknown) == 2 and all("unnamed_col" in u for u in unknown)
    assert {"unnamed_col12", "unnamed_col13"} <= set(readings.signal)  # loaded, not dropped


def test_aarslev_cell_mixed_decimals_exponents_quotes_empty_cells_crlf():
    path = FIXTURES / "aarslev_mixed.csv"
    assert b"\r\n" in path.read_bytes()
    frames = read_file(path)
    readings, weather = frames["readings"], frames["weather"]
    t1 = utc(2014, 3, 30, 0, 50)  # 01:50 CET
    t2 = utc(2014, 3, 30, 1, 0)  # 03:00 CEST, right after the clock jumped
    assert value(readings, "site", "aarslev-celle5", t1, "air_temp_c") == 20.5
    assert value(readings, "site", "aarslev-celle5", t1, "vpd_kpa") == pytest.approx(1.025)
    assert value(readings, "site", "aarslev-celle5", t1, "co2_ppm") == pytest.approx(9.22917e-8)
    outside = "aarslev-celle5"
    assert value(weather, "location", outside, t1, "outside_temp_c") == pytest.approx(4.17952)
    assert value(weather, "location", outside, t2, "outside_radiation_w_m2") == 12.5
    assert value(readings, "site", "aarslev-celle5", t2, "air_temp_c") == pytest.approx(21.1669)
    at_t2 = readings[readings.time == t2]
    assert "co2_ppm" not in set(at_t2.signal)  # "" is an absent reading, not a zero
    assert "vpd_kpa" not in set(at_t2.signal)
    assert len(readings) + len(weather) == 10  # the all-empty row adds nothing


def test_aarslev_cell_summer_time():
    readings = read_file(CELL / "output-2014-04-01-00-00.csv")["readings"]
    assert readings.time.min() == utc(2014, 3, 31, 22)  # 2014-04-01 00:00 CEST


# --- Aarslev weather ---------------------------------------------------------------------


def test_aarslev_weather_json_series_are_told_apart_by_their_values():
    weather = read_file(JSON_WEATHER)["weather"]
    assert set(weather.signal) == {"outside_temp_c", "outside_radiation_w_m2"}
    temp = weather[weather.signal == "outside_temp_c"].value
    rad = weather[weather.signal == "outside_radiation_w_m2"].value
    assert temp.max() < 30 and rad.max() > 200
    data = json.loads(JSON_WEATHER.read_text())
    epoch, raw = data[0]["Readings"][0]
    # Epochs encode Copenhagen wall time as UTC+1; in winter that equals UTC.
    first = datetime.fromtimestamp(epoch / 1000, UTC)
    assert first.month == 3 and first.day == 23
    signal = (
        "outside_radiation_w_m2"
        if max(r[1] for r in data[0]["Readings"]) > 60
        else ("outside_temp_c")
    )
    assert value(weather, "location", "aarslev-station", first, signal) == raw
    # Not the location of the cell export's outside columns ("aarslev-celle5"): both are kept.
    assert set(weather.location) == {"aarslev-station"}


def test_aarslev_weather_json_summer_epochs_move_one_hour_back(tmp_path):
    noon_wall_as_utc1 = datetime(2014, 6, 1, 12, tzinfo=UTC).timestamp() * 1000 - 3600_000
    series = [
        {"uuid": "a", "Readings": [[noon_wall_as_utc1, 800.0]]},
        {"uuid": "b", "Readings": [[noon_wall_as_utc1, 21.0]]},
    ]
    path = tmp_path / "w.json"
    path.write_text(json.dumps(series))
    weather = read_file(path)["weather"]
    assert set(weather.time) == {utc(2014, 6, 1, 10)}  # 12:00 CEST
    assert read_file(path, tz="+01:00")["weather"].time.iloc[0] == utc(2014, 6, 1, 11)


def test_aarslev_weather_csv_forecasts_and_actuals(tmp_path):
    path = tmp_path / "winter.csv"
    path.write_text(
        "timestamp;temperature;sun_radiation;actual_temperature;actual_radiation\n"
        "1387666800000;4.880;0.000;5.200;;\n".replace(";;\n", ";\n")
        + "1387670400000;4.730;0.000;5.098;12.5\n"
    )
    weather = read_file(path)["weather"]
    t = utc(2013, 12, 21, 23)
    station = "aarslev-hourly"  # not the JSON's "aarslev-station": the values differ
    assert value(weather, "location", station, t, "forecast_temp_c") == 4.88
    assert value(weather, "location", station, t, "outside_temp_c") == 5.2
    assert (
        value(weather, "location", station, utc(2013, 12, 22, 0), "outside_radiation_w_m2") == 12.5
    )
    assert len(weather) == 7
    assert set(weather.location) == {station}


# --- Elspot ---------------------------------------------------------------------------


def test_elspot_real_export():
    prices = read_file(PRICES)["spot_prices"]
    # First data line of the sample: newest hour first.
    line = PRICES.read_text().splitlines()[1].split(";")
    t = datetime.fromisoformat(line[0]).replace(tzinfo=UTC)
    assert value(prices, "price_area", "DK1", t, "price_dkk_mwh") == float(
        line[3].replace(",", ".")
    )
    assert value(prices, "price_area", "DK1", t, "price_eur_mwh") == float(
        line[4].replace(",", ".")
    )
    assert len(prices) == 2 * 336


def test_elspot_csv_fixture_two_areas_and_an_empty_price():
    prices = read_file(FIXTURES / "elspot.csv")["spot_prices"]
    assert set(prices.price_area) == {"DK1", "DK2"}
    t = utc(2023, 1, 1, 0)
    assert value(prices, "price_area", "DK1", t, "price_dkk_mwh") == 1215.01001
    dk2 = prices[(prices.price_area == "DK2") & (prices.time == t)]
    assert set(dk2.signal) == {"price_eur_mwh"}


def test_elspot_json_fixture():
    prices = read_file(FIXTURES / "elspot.json")["spot_prices"]
    assert value(prices, "price_area", "DK1", utc(2023, 1, 1, 2), "price_dkk_mwh") == 1000.5
    assert value(prices, "price_area", "DK1", utc(2023, 1, 1, 0), "price_eur_mwh") == 163.389999
    assert len(prices) == 5


# --- Open-Meteo -----------------------------------------------------------------------


def test_openmeteo_json_units_zone_and_unknown_variables():
    weather = read_file(FIXTURES / "openmeteo.json", location="odense")["weather"]
    assert set(weather.location) == {"odense"}
    t = utc(2016, 1, 17, 23)  # 2016-01-18T00:00 in Europe/Copenhagen
    assert value(weather, "location", "odense", t, "outside_temp_c") == -3.2
    assert value(weather, "location", "odense", t, "wind_speed_m_s") == pytest.approx(
        5.0
    )  # 18 km/h
    assert value(weather, "location", "odense", t, "pressure_hpa") == 1012.3
    assert value(weather, "location", "odense", t, "cloud_cover_percent") == 100
    assert value(weather, "location", "odense", t, "dew_point_2m_c") == -4.3
    assert any("dew_point_2m" in u for u in weather.attrs["unknown_columns"])
    t3 = utc(2016, 1, 18, 1)
    assert "outside_temp_c" not in set(weather[weather.time == t3].signal)  # null: absent
    assert len(weather) == 4 * 8 - 1


def test_openmeteo_csv_old_names_nan_and_default_location():
    weather = read_file(FIXTURES / "openmeteo.csv")["weather"]
    assert set(weather.location) == {"open-meteo"}
    t = utc(2014, 3, 24, 1)  # GMT
    assert value(weather, "location", "open-meteo", t, "wind_speed_m_s") == 5.5  # m/s as given
    assert value(weather, "location", "open-meteo", t, "precipitation_mm") == 0.2
    assert "cloud_cover_percent" not in set(weather[weather.time == t].signal)
    assert value(weather, "location", "open-meteo", utc(2014, 3, 24), "cloud_cover_percent") == 100
    assert len(weather) == 3 * 8 - 2
    assert any("soil_temperature_0cm" in u for u in weather.attrs["unknown_columns"])


# --- round trips: non-empty cells in == rows out ---------------------------------------


def nonempty_cells(path: Path, delimiter: str, header_rows: int, first_value: int) -> int:
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter=delimiter))[header_rows:]
    return sum(1 for row in rows for cell in row[first_value:] if cell.strip())


@pytest.mark.parametrize(
    ("path", "header_rows", "first_value"),
    [
        (KJ / "NO3_LAMPEGRP_1.csv", 3, 1),
        (KJ / "NO3NO4.extra.csv", 3, 1),
        (KJ / "NO3-NO4_belysningsgrp.csv", 3, 1),
        (CELL / "output-2014-03-01-00-00.csv", 1, 2),
        (CELL / "output-2014-04-01-00-00.csv", 1, 2),
        (FIXTURES / "aarslev_mixed.csv", 1, 2),
    ],
)
def test_every_nonempty_cell_becomes_one_row(path, header_rows, first_value):
    frames = read_file(path)
    assert len(frames["readings"]) + len(frames["weather"]) == nonempty_cells(
        path, ";", header_rows, first_value
    )


def test_every_json_reading_becomes_one_row():
    data = json.loads(JSON_WEATHER.read_text())
    expected = sum(1 for s in data for r in s["Readings"] if r[1] is not None)
    assert len(read_file(JSON_WEATHER)["weather"]) == expected


# --- bad input -------------------------------------------------------------------------


def kj_file(tmp_path: Path, body: str, newline: str = "\r\n") -> Path:
    header = (KJ / "NO3NO4.extra.csv").read_text(encoding="utf-8").splitlines()[:3]
    path = tmp_path / "bad.csv"
    path.write_text(newline.join([*header, *body.splitlines()]) + newline, encoding="utf-8")
    return path


GOOD = '"18-01-2016 00:00:00";4,3;74,79;0;0;4,1;76,28;0;0'


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (GOOD + '\n"18-01-2016 00:05:00";4,3;12,3,4;0;0;4,1;76,28;0;0', 5, "12,3,4"),
        (GOOD + '\n"32-01-2016 00:05:00";4,3;74;0;0;4,1;76,28;0;0', 5, "timestamp"),
        (GOOD + '\n"18-01-2016 00:05:00";4,3;74,79', 5, "truncated"),
        (GOOD + '\n"18-01-2016 00:05:00";4,3;74,79;0;0;4,1;"76,', 5, "truncated"),
    ],
)
def test_bad_rows_name_file_line_and_reason(tmp_path, body, line, reason):
    path = kj_file(tmp_path, body)
    with pytest.raises(LoadError) as err:
        read_file(path)
    assert err.value.line == line
    assert str(path) in str(err.value)
    assert f":{line}:" in str(err.value)
    assert reason in str(err.value)


def test_skip_bad_rows_keeps_good_rows_and_reports_bad_ones(tmp_path):
    body = "\n".join(
        [
            GOOD,
            '"18-01-2016 00:05:00";4,3;12,3,4;0;0;4,1;76,28;0;0',
            '"18-01-2016 00:10:00";4,4;75;0;0;4,2;77;0;0',
            "not a time;1;2;3;4;5;6;7;8",
        ]
    )
    frames = read_file(kj_file(tmp_path, body), skip_bad_rows=True)
    readings = frames["readings"]
    assert len(readings) == 16
    assert [line for line, _ in readings.attrs["bad_rows"]] == [5, 7]


def test_wrong_delimiter_is_refused(tmp_path):
    path = tmp_path / "commas.csv"
    path.write_text((KJ / "NO3NO4.extra.csv").read_text(encoding="utf-8").replace(";", ","))
    with pytest.raises(LoadError, match="wrong delimiter") as err:
        read_file(path, fmt="knudjepsen")
    assert err.value.line == 1


def test_wrong_delimiter_in_data_rows_is_refused(tmp_path):
    path = kj_file(tmp_path, GOOD.replace(";", ","))
    with pytest.raises(LoadError, match="wrong delimiter"):
        read_file(path)


def test_truncated_json_is_refused(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text(JSON_WEATHER.read_text()[:5000])
    with pytest.raises(LoadError, match="invalid JSON") as err:
        read_file(path)
    assert err.value.line == 1


def test_header_only_file_is_refused(tmp_path):
    path = kj_file(tmp_path, "")
    with pytest.raises(LoadError, match="no data rows"):
        read_file(path)


def test_unknown_format_is_refused(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a;b;c\n1;2;3\n")
    with pytest.raises(LoadError, match="unknown format") as err:
        read_file(path)
    assert "--format" in str(err.value)


def test_unknown_format_name_is_refused():
    with pytest.raises(LoadError, match="unknown format 'excel'"):
        read_file(PRICES, fmt="excel")


def test_missing_file_is_refused(tmp_path):
    with pytest.raises(LoadError, match="file not found"):
        read_file(tmp_path / "nope.csv")


def test_nonexistent_local_time_is_refused(tmp_path):
    path = tmp_path / "gap.csv"
    header = (CELL / "output-2014-03-01-00-00.csv").read_text(encoding="utf-8").splitlines()[0]
    row = '2014-03-30;02:10:00;"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1";"1"'
    path.write_text(f"{header}\r\n{row}\r\n", encoding="utf-8")
    with pytest.raises(LoadError, match="does not exist") as err:
        read_file(path)
    assert err.value.line == 2
