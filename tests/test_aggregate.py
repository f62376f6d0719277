"""Stage 1: raw rows onto the grid (mean, count, coverage), weather and prices joined;
and read_inputs, which buckets in SQL exactly as the in-memory builder does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import psycopg
import pytest

from greenhouse_queue.consumer.inputs import read_inputs
from greenhouse_queue.consumer.stages.aggregate import aggregate, n_buckets
from tests.oracles import inputs_from_frames

T0 = datetime(2016, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
NAN = np.nan
SITES = pd.DataFrame(
    {
        "site": ["knudjepsen-afd3", "knudjepsen-afd4", "aarslev-celle5"],
        "location": ["knudjepsen", "knudjepsen", "aarslev-celle5"],
        "price_area": ["DK1", "DK1", "DK2"],
    }
)


def rows(key: str, name: str, signal: str, start: datetime, every: timedelta, values) -> list:
    return [
        {key: name, "time": start + i * every, "signal": signal, "value": float(v)}
        for i, v in enumerate(values)
    ]


def at(grid, site: str, signal: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, k = grid.sites.index(site), grid.signal_index(signal)
    return grid.value[s, k], grid.count[s, k], grid.coverage[s, k]


def five_minute_readings() -> pd.DataFrame:
    five = timedelta(minutes=5)
    return pd.DataFrame(
        rows("site", "knudjepsen-afd3", "air_temp_c", T0, five, [20.0] * 12)
        # hour 2: half the samples, and an error code
        + rows("site", "knudjepsen-afd3", "air_temp_c", T0 + HOUR, five, [22.0] * 6 + [-300.0])
        + rows("site", "knudjepsen-afd3", "air_temp_c", T0 + 2 * HOUR, five, [21.0] * 10)
        + rows("site", "knudjepsen-afd3", "rh_percent", T0, five, [80.0] * 36)
        + rows("site", "knudjepsen-afd3", "mystery_signal", T0, five, [-1e6] * 12)
        + rows("site", "aarslev-celle5", "air_temp_c", T0, 2 * five, [18.0] * 18)
        + rows("site", "aarslev-celle5", "outside_temp_c", T0, 2 * five, [1.0] * 18)
    )


def weather_rows() -> pd.DataFrame:
    ten = timedelta(minutes=10)
    return pd.DataFrame(
        rows("location", "knudjepsen", "outside_temp_c", T0, ten, [5.0, 7.0] * 9)
        + rows("location", "knudjepsen", "wind_speed_m_s", T0, HOUR, [3.0, 4.0, 500.0])
        + rows("location", "aarslev-celle5", "outside_temp_c", T0, ten, [9.0] * 18)
    )


def price_rows() -> pd.DataFrame:
    hours = [T0 + i * HOUR for i in range(4)]
    return pd.DataFrame(
        {
            "price_area": ["DK1"] * 4 + ["DK2"] * 4,
            "hour_utc": hours + hours,
            "price_eur_mwh": [30.0, 40.0, 50.0, 60.0, 31.0, 41.0, 9999.0, 61.0],
        }
    )


def build(resolution=HOUR, end=T0 + 3 * HOUR, readings=None):
    inputs = inputs_from_frames(
        T0,
        end,
        resolution,
        readings=five_minute_readings() if readings is None else readings,
        sites=SITES,
        weather=weather_rows(),
        prices=price_rows(),
    )
    return inputs, aggregate(inputs, T0, end, resolution)


def test_mean_count_and_coverage_per_bucket_of_in_limit_samples():
    _, g = build()
    value, count, coverage = at(g, "knudjepsen-afd3", "air_temp_c")
    np.testing.assert_allclose(value, [20.0, NAN, 21.0])
    assert count.tolist() == [12, 6, 10]
    np.testing.assert_allclose(coverage, [1.0, 0.5, 10 / 12])
    value, count, coverage = at(g, "aarslev-celle5", "air_temp_c")  # 10-minute logger
    assert count.tolist() == [6, 6, 6]
    np.testing.assert_allclose(coverage, [1.0, 1.0, 1.0])


def test_a_bucket_that_lost_samples_to_the_limits_counts_them_and_has_no_value():
    # hour two: six samples of 22 °C and one error code of -300 °C
    _, g = build()
    s, k = g.sites.index("knudjepsen-afd3"), g.signal_index("air_temp_c")
    assert np.isnan(g.value[s, k, 1])  # not 22.0: the mean of what is left may be biased
    assert (g.count[s, k, 1], g.rejected[s, k, 1]) == (6, 1)
    assert g.rejected[s, k].tolist() == [0, 1, 0]


def test_unknown_signals_pass_through_unclipped():
    _, g = build()
    value, count, _ = at(g, "knudjepsen-afd3", "mystery_signal")
    assert value[0] == -1e6 and count[0] == 12


def test_grid_spans_the_request_and_drops_rows_outside_it():
    _, g = build(end=T0 + 2 * HOUR)
    assert g.n_buckets == 2 and g.start == np.datetime64("2016-03-01T00:00:00", "s")
    assert g.step == np.timedelta64(3600, "s")
    assert n_buckets(T0, T0 + timedelta(minutes=150), HOUR) == 3  # partial last bucket


def test_weather_joins_every_site_of_its_location_as_outside_signals():
    _, g = build()
    for site in ("knudjepsen-afd3", "knudjepsen-afd4"):
        value, count, coverage = at(g, site, "outside_temp_c")
        np.testing.assert_allclose(value, [6.0, 6.0, 6.0])
        assert count.tolist() == [6, 6, 6] and coverage.tolist() == [1.0, 1.0, 1.0]
    value, _, _ = at(g, "knudjepsen-afd4", "outside_wind_speed_m_s")  # prefixed on the grid
    assert value[:2].tolist() == [3.0, 4.0] and np.isnan(value[2])  # 500 m/s removed
    assert "wind_speed_m_s" not in g.signals


def test_a_sites_own_reading_wins_over_the_station_under_the_same_name():
    _, g = build()
    value, _, _ = at(g, "aarslev-celle5", "outside_temp_c")
    np.testing.assert_allclose(value, [1.0, 1.0, 1.0])  # its own logger, not the 9.0 station


def test_dk1_and_dk2_prices_are_separate_columns_on_every_site():
    inputs, g = build()
    for site in g.sites:
        dk1, _, _ = at(g, site, "spot_price_dk1_eur_mwh")
        dk2, _, _ = at(g, site, "spot_price_dk2_eur_mwh")
        np.testing.assert_allclose(dk1, [30.0, 40.0, 50.0])
        assert dk2[:2].tolist() == [31.0, 41.0] and np.isnan(dk2[2])  # 9999 is out of limits
    assert inputs.price_area == {
        "knudjepsen-afd3": "DK1",
        "knudjepsen-afd4": "DK1",
        "aarslev-celle5": "DK2",
    }


def test_prices_on_a_finer_grid_hold_for_their_hour_and_average_on_a_coarser_one():
    _, fine = build(resolution=timedelta(minutes=15), end=T0 + HOUR)
    value, count, coverage = at(fine, "knudjepsen-afd3", "spot_price_dk1_eur_mwh")
    assert value.tolist() == [30.0] * 4 and count.tolist() == [1] * 4
    assert coverage.tolist() == [1.0] * 4
    _, coarse = build(resolution=2 * HOUR, end=T0 + 4 * HOUR)
    value, count, coverage = at(coarse, "knudjepsen-afd3", "spot_price_dk1_eur_mwh")
    assert value.tolist() == [35.0, 55.0] and count.tolist() == [2, 2]


def test_sites_without_readings_still_get_rows_for_weather_and_prices():
    _, g = build()
    assert g.sites == ("aarslev-celle5", "knudjepsen-afd3", "knudjepsen-afd4")
    value, count, _ = at(g, "knudjepsen-afd4", "air_temp_c")
    assert np.isnan(value).all() and count.tolist() == [0, 0, 0]
    assert not g.filled.any()


# --- read_inputs: the same buckets from PostgreSQL ----------------------------------


def load(conn: psycopg.Connection, readings: pd.DataFrame) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO sites (site, location, price_area) VALUES (%s, %s, %s)",
            SITES.itertuples(index=False),
        )
        cur.executemany(
            "INSERT INTO readings (site, time, signal, value) VALUES (%s, %s, %s, %s)",
            readings[["site", "time", "signal", "value"]].itertuples(index=False),
        )
        w = weather_rows()
        cur.executemany(
            "INSERT INTO weather (location, time, signal, value) VALUES (%s, %s, %s, %s)",
            w[["location", "time", "signal", "value"]].itertuples(index=False),
        )
        cur.executemany(
            "INSERT INTO spot_prices (price_area, hour_utc, price_eur_mwh) VALUES (%s, %s, %s)",
            price_rows().itertuples(index=False),
        )
    conn.commit()


def assert_same_grid(a, b) -> None:
    assert a.sites == b.sites and a.signals == b.signals
    assert a.start == b.start and a.step == b.step
    np.testing.assert_allclose(a.value, b.value, equal_nan=True)
    np.testing.assert_array_equal(a.count, b.count)
    np.testing.assert_array_equal(a.rejected, b.rejected)
    np.testing.assert_allclose(a.coverage, b.coverage)


@pytest.mark.parametrize("resolution", [HOUR, timedelta(minutes=15), timedelta(hours=2)])
def test_read_inputs_buckets_in_sql_exactly_as_the_in_memory_builder(conn, resolution):
    readings = five_minute_readings()
    # a reading before the span and one at its end: neither belongs to it
    extra = rows("site", "knudjepsen-afd3", "air_temp_c", T0 - HOUR, HOUR, [99.0])
    extra += rows("site", "knudjepsen-afd3", "air_temp_c", T0 + 4 * HOUR, HOUR, [99.0])
    readings = pd.concat([readings, pd.DataFrame(extra)], ignore_index=True)
    load(conn, readings)
    end = T0 + 4 * HOUR
    from_db = read_inputs(conn, T0, end, resolution)
    in_memory = inputs_from_frames(
        T0,
        end,
        resolution,
        readings=readings,
        sites=SITES,
        weather=weather_rows(),
        prices=price_rows(),
    )
    assert from_db.price_area == in_memory.price_area
    assert from_db.location == in_memory.location
    assert from_db.readings.interval_s == in_memory.readings.interval_s
    assert from_db.weather.interval_s == in_memory.weather.interval_s
    assert_same_grid(
        aggregate(from_db, T0, end, resolution), aggregate(in_memory, T0, end, resolution)
    )


def test_read_inputs_of_an_empty_span_gives_an_empty_grid_with_every_site(conn):
    load(conn, five_minute_readings())
    span = (T0 + timedelta(days=30), T0 + timedelta(days=31))
    inputs = read_inputs(conn, *span, HOUR)
    g = aggregate(inputs, *span, HOUR)
    assert g.sites == ("aarslev-celle5", "knudjepsen-afd3", "knudjepsen-afd4")
    assert g.n_buckets == 24 and np.isnan(g.value).all()


def test_coverage_of_a_bucket_does_not_depend_on_the_span_it_is_read_in(conn):
    # A 5-minute logger: 9 full hours, then 3 hours in which it missed every other
    # sample. The day's interval is 300 s, from its buckets' spacing, so the evening's
    # 6 samples an hour are half coverage, also for a span that holds only the evening.
    five, ten = timedelta(minutes=5), timedelta(minutes=10)
    readings = pd.DataFrame(
        rows("site", "knudjepsen-afd3", "air_temp_c", T0, five, [20.0] * 12 * 9)
        + rows("site", "knudjepsen-afd3", "air_temp_c", T0 + 9 * HOUR, ten, [21.0] * 6 * 3)
    )
    load(conn, readings)
    day_number = int(np.datetime64(T0.replace(tzinfo=None), "D").astype(np.int64))
    for span in ((T0 + 9 * HOUR, T0 + 12 * HOUR), (T0, T0 + 12 * HOUR)):
        from_db = read_inputs(conn, *span, HOUR)
        in_memory = inputs_from_frames(*span, HOUR, readings=readings, sites=SITES)
        for inputs in (from_db, in_memory):
            assert inputs.readings.interval_s == {
                ("knudjepsen-afd3", "air_temp_c", day_number): 300.0
            }
            _, count, coverage = at(aggregate(inputs, *span, HOUR), "knudjepsen-afd3", "air_temp_c")
            assert count[-3:].tolist() == [6, 6, 6]
            np.testing.assert_allclose(coverage[-3:], [0.5, 0.5, 0.5])
