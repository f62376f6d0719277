"""Physical limits on the real exports: they reject what sensors and loggers do when they
fail, never what a greenhouse does, and a bucket that lost samples to them says how many
and has no value of its own (stage 1, docs/stages.md "Physical limits")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from greenhouse_queue.consumer.inputs import read_inputs
from greenhouse_queue.consumer.stages.aggregate import aggregate
from greenhouse_queue.consumer.stages.gapfill import fill_gaps
from greenhouse_queue.limits import limit_for
from greenhouse_queue.producer.load import load_files, read_file

REAL = Path(__file__).resolve().parent / "fixtures" / "real" / "aarslev"
HOUR = timedelta(hours=1)


def grid_of_day(conn, path: Path, day: datetime):
    load_files(conn, [path])
    conn.commit()
    with conn.transaction():
        inputs = read_inputs(conn, day, day + timedelta(days=1), HOUR)
    return aggregate(inputs, day, day + timedelta(days=1), HOUR)


def hourly_raw(path: Path, signal: str) -> dict[np.datetime64, np.ndarray]:
    """The file's raw samples of ``signal`` per UTC hour."""
    readings = read_file(path)["readings"]
    rows = readings[readings.signal == signal]
    hours = rows.time.dt.floor("h").dt.tz_localize(None).to_numpy("datetime64[s]")
    return {h: rows.value.to_numpy()[hours == h] for h in np.unique(hours)}


def test_a_crop_drawing_co2_below_outdoor_air_is_climate_not_a_fault(conn):
    # Aarslev cell 5 on 2014-06-04: the crop draws CO2 down to 188.6 ppm in the afternoon.
    # Before: every sample under 200 ppm was removed and the hour kept the mean of the
    # others, too high and unflagged.
    path = REAL / "output-2014-06-01-00-00.csv"
    day = datetime(2014, 6, 4, tzinfo=UTC)
    grid = grid_of_day(conn, path, day)
    s, k = grid.sites.index("aarslev-celle5"), grid.signal_index("co2_ppm")
    raw = hourly_raw(path, "co2_ppm")
    low = [h for h, samples in raw.items() if samples.min() < 200]
    assert len(low) >= 4 and min(raw[h].min() for h in low) < 190
    for t, hour in enumerate(grid.times):
        if hour in raw:
            # every sample, none dropped (SQL sums exactly: the last digit may differ)
            assert grid.value[s, k, t] == pytest.approx(raw[hour].mean(), rel=1e-14)
            assert (grid.count[s, k, t], grid.rejected[s, k, t]) == (len(raw[hour]), 0)


def test_error_codes_and_dropout_rows_are_rejected_counted_and_leave_no_partial_mean(conn):
    # Aarslev cell 5 on 2014-03-05 from 21:00 local time: the logger writes rows of zeros
    # (0 % humidity among them) for hours, and at 21:10 the light sensor logs -214748000.
    path = REAL / "output-2014-03-01-00-00.csv"
    day = datetime(2014, 3, 4, 23, tzinfo=UTC)  # the local day
    grid = grid_of_day(conn, path, day)
    s = grid.sites.index("aarslev-celle5")
    light, rh = grid.signal_index("light_intensity_umol"), grid.signal_index("rh_percent")
    t = int(np.flatnonzero(grid.times == np.datetime64("2014-03-05T20:00", "s"))[0])
    # before: the error code was dropped silently and the hour kept the mean of the rest
    assert grid.rejected[s, light, t] == 1 and grid.count[s, light, t] == 5
    assert np.isnan(grid.value[s, light, t])
    assert grid.rejected[s, rh, t] == 6 and np.isnan(grid.value[s, rh, t])
    before, after = grid.value[s, light, t - 1], grid.value[s, light, t + 1]
    assert np.isfinite(before) and np.isfinite(after)
    filled = fill_gaps(grid)  # an emptied bucket is a gap like any other, and flagged
    assert filled.filled[s, light, t]
    assert filled.value[s, light, t] == (before + after) / 2


def test_the_grid_counts_rejections_exactly_where_the_limits_say(conn):
    path = REAL / "output-2014-03-01-00-00.csv"
    day = datetime(2014, 3, 4, 23, tzinfo=UTC)
    grid = grid_of_day(conn, path, day)
    s = grid.sites.index("aarslev-celle5")
    seen = {}
    for signal in ("air_temp_c", "rh_percent", "co2_ppm", "light_intensity_umol"):
        rule, k = limit_for(signal), grid.signal_index(signal)
        raw = hourly_raw(path, signal)
        expected = [
            int(((raw[h] < rule.low) | (raw[h] > rule.high)).sum()) if h in raw else 0
            for h in grid.times
        ]
        assert grid.rejected[s, k].tolist() == expected
        seen[signal] = sum(expected)
    # the logger's zero rows: 0 °C air is possible in an unheated house, 0 % RH and 0 ppm
    # CO2 are not; the light sensor's error code is not a light level
    assert seen["air_temp_c"] == 0
    assert seen["rh_percent"] > 0 and seen["co2_ppm"] > 0 and seen["light_intensity_umol"] == 1
