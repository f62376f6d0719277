"""Stage 2: conservative linear gap filling with a flag; and the physical-limits table
that stage 1 applies to every raw sample."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from greenhouse_queue.consumer.stages.gapfill import fill_gaps
from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.limits import LIMITS, Limit, bounds, like_pattern, limit_for

NAN = np.nan
HOUR = np.timedelta64(3600, "s")


def grid_of(rows: dict[str, list[float]], step: np.timedelta64 = HOUR, sites: int = 1) -> Grid:
    """A grid with the given per-signal series, repeated for `sites` sites."""
    value = np.array([list(rows.values())] * sites, dtype=np.float64)
    shape = value.shape
    return Grid(
        sites=tuple(f"site{i}" for i in range(sites)),
        signals=tuple(rows),
        start=np.datetime64("2024-01-01T00:00:00", "s"),
        step=step,
        value=value,
        count=np.where(np.isfinite(value), 12, 0).astype(np.int32),
        coverage=np.where(np.isfinite(value), 1.0, 0.0),
        filled=np.zeros(shape, dtype=bool),
    )


def series(grid: Grid, signal: str = "air_temp_c", site: int = 0) -> np.ndarray:
    return grid.value[site, grid.signal_index(signal)]


def test_gap_of_exactly_max_gap_is_filled_linearly():
    g = fill_gaps(grid_of({"air_temp_c": [20, NAN, NAN, 23]}), max_gap=timedelta(hours=2))
    np.testing.assert_allclose(series(g), [20, 21, 22, 23])
    assert g.filled[0, 0].tolist() == [False, True, True, False]


def test_gap_one_bucket_longer_than_max_gap_stays_entirely_empty():
    g = fill_gaps(grid_of({"air_temp_c": [20, NAN, NAN, NAN, 24]}), max_gap=timedelta(hours=2))
    # pandas' interpolate(limit=2) would fill the first two of these three
    assert np.isnan(series(g)[1:4]).all()
    assert not g.filled.any()


def test_max_gap_is_measured_in_time_not_buckets():
    quarter = np.timedelta64(900, "s")
    eight = [10.0] + [NAN] * 8 + [19.0]
    nine = [10.0] + [NAN] * 9 + [20.0]
    g8 = fill_gaps(grid_of({"air_temp_c": eight}, step=quarter), max_gap=timedelta(hours=2))
    g9 = fill_gaps(grid_of({"air_temp_c": nine}, step=quarter), max_gap=timedelta(hours=2))
    np.testing.assert_allclose(series(g8), np.arange(10.0, 20.0))
    assert np.isnan(series(g9)[1:10]).all()


def test_leading_and_trailing_gaps_are_never_filled():
    g = fill_gaps(grid_of({"air_temp_c": [NAN, 20, 21, NAN]}), max_gap=timedelta(hours=2))
    assert np.isnan(series(g)[[0, 3]]).all()
    assert g.filled[0, 0].tolist() == [False, False, False, False]
    empty = fill_gaps(grid_of({"air_temp_c": [NAN, NAN, NAN]}))
    assert np.isnan(series(empty)).all()


def test_a_bucket_the_limits_emptied_is_filled_like_any_short_gap():
    # stage 1 gave the bucket no value: 2 samples outside the limits, 10 inside
    g0 = replace(grid_of({"air_temp_c": [20, NAN, 22]}), rejected=np.array([[[0, 2, 0]]]))
    g0.count[0, 0, 1] = 10
    g = fill_gaps(g0)
    np.testing.assert_allclose(series(g), [20, 21, 22])
    assert g.filled[0, 0].tolist() == [False, True, False]
    assert g.rejected[0, 0].tolist() == [0, 2, 0]  # the reason stays on record


def test_stage_two_no_longer_judges_values_the_limits_are_stage_ones():
    g = fill_gaps(grid_of({"air_temp_c": [20, -1000, 22]}), max_gap=timedelta(0))
    np.testing.assert_array_equal(series(g), [20, -1000, 22])


def test_filled_flag_marks_exactly_the_interpolated_buckets_and_keeps_counts():
    g0 = grid_of(
        {
            "air_temp_c": [20, NAN, 22, NAN, NAN, NAN, 26],
            "co2_ppm": [400, NAN, 600, 700, 800, NAN, NAN],
        }
    )
    g = fill_gaps(g0)
    assert g.filled[0].tolist() == [
        [False, True, False, False, False, False, False],
        [False, True, False, False, False, False, False],
    ]
    np.testing.assert_array_equal(g.count, g0.count)  # filled buckets still hold 0 samples
    np.testing.assert_array_equal(g.coverage, g0.coverage)


def test_running_stage_two_twice_changes_nothing():
    once = fill_gaps(grid_of({"air_temp_c": [20, NAN, 22, NAN, NAN, NAN, 26]}))
    twice = fill_gaps(once)
    np.testing.assert_array_equal(twice.value, once.value)
    np.testing.assert_array_equal(twice.filled, once.filled)


def test_vectorised_over_sites_and_signals_matches_one_series_at_a_time():
    rng = np.random.default_rng(7)
    value = rng.normal(20, 3, size=(3, 4, 200))
    value[rng.random(value.shape) < 0.3] = NAN
    value[1, 2, 50:60] = NAN
    signals = ("air_temp_c", "rh_percent", "vpd_kpa", "other")
    g0 = Grid(
        ("a", "b", "c"),
        signals,
        np.datetime64("2024-01-01T00:00:00", "s"),
        HOUR,
        value,
        np.zeros(value.shape, np.int32),
        np.zeros(value.shape),
        np.zeros(value.shape, bool),
    )
    g = fill_gaps(g0)
    for s in range(3):
        for k, name in enumerate(signals):
            one = grid_of({name: value[s, k].tolist()})
            np.testing.assert_array_equal(fill_gaps(one).value[0, 0], g.value[s, k])


def test_matches_xarray_max_gap_semantics_shifted_by_one_step():
    """xarray measures a gap from the last value before it to the first after it.

    For v below, `xr.DataArray(v, coords=hourly).interpolate_na("time", max_gap=...)`
    gives the literal rows here (checked with xarray 2026.9). Ours counts only the
    empty time, so our max_gap=2h equals xarray's max_gap=3h.
    """
    v = [NAN, 1, NAN, 3, NAN, NAN, 6, NAN, NAN, NAN, 10, NAN, 12, NAN]
    xarray_2h = [NAN, 1, 2, 3, NAN, NAN, 6, NAN, NAN, NAN, 10, 11, 12, NAN]
    xarray_3h = [NAN, 1, 2, 3, 4, 5, 6, NAN, NAN, NAN, 10, 11, 12, NAN]
    xarray_4h = [NAN, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, NAN]
    g = grid_of({"mystery_signal": v})
    np.testing.assert_array_equal(
        series(fill_gaps(g, timedelta(hours=1)), "mystery_signal"), xarray_2h
    )
    np.testing.assert_array_equal(
        series(fill_gaps(g, timedelta(hours=2)), "mystery_signal"), xarray_3h
    )
    np.testing.assert_array_equal(
        series(fill_gaps(g, timedelta(hours=3)), "mystery_signal"), xarray_4h
    )


def test_negative_max_gap_is_rejected():
    with pytest.raises(ValueError):
        fill_gaps(grid_of({"air_temp_c": [1, NAN, 2]}), max_gap=timedelta(hours=-1))


CANONICAL = [
    "air_temp_c", "co2_ppm", "rh_percent", "radiation_w_m2", "pipe_temp_1_c", "pipe_temp_2_c",
    "vent_lee_percent", "vent_wind_percent", "curtain_1_percent", "curtain_2_percent",
    "lamp_grp1_on", "lamp_grp2_on", "vpd_kpa", "humidity_deficit_g_m3", "heating_setpoint_c",
    "light_intensity_umol", "outside_temp_c", "outside_radiation_w_m2", "outside_rh_percent",
    "spot_price_dk1_eur_mwh", "spot_price_dk2_eur_mwh",
]  # fmt: skip


@pytest.mark.parametrize("signal", CANONICAL)
def test_every_canonical_signal_has_a_physical_limit(signal):
    rule = limit_for(signal)
    assert rule is not None and rule.low < rule.high


def test_limits_reject_sensor_faults_not_greenhouse_weather():
    def inside(signal: str, value: float) -> bool:
        rule = limit_for(signal)
        return rule.low <= value <= rule.high

    # what real greenhouses do: a closed glasshouse in sun, crop CO2 drawdown, fog
    assert inside("air_temp_c", 55.0) and inside("air_temp_c", -15.0)
    assert inside("co2_ppm", 188.6)  # Aarslev cell 5, 2014-06-04 (tests/test_limits_real.py)
    assert inside("rh_percent", 100.5) and inside("radiation_w_m2", -2.0)
    assert inside("pipe_temp_1_c", 110.0)
    # what sensors and loggers do when they fail
    assert not inside("light_intensity_umol", -214748000)  # Aarslev error code
    assert not inside("outside_temp_c", -214748000)
    assert not inside("co2_ppm", 0.0)  # KnudJepsen's unconnected CO2 sensor
    assert not inside("rh_percent", 0.0)  # Aarslev logger dropout rows
    assert limit_for("no_such_signal") is None
    low, high = bounds(["no_such_signal"])
    assert low[0] == -np.inf and high[0] == np.inf


def _disjoint(a: str, b: str) -> bool:
    """Two one-star patterns match no common name if prefixes or suffixes clash."""
    (pa, sa), (pb, sb) = a.split("*"), b.split("*")
    prefix_clash = not (pa.startswith(pb) or pb.startswith(pa))
    suffix_clash = not (sa.endswith(sb) or sb.endswith(sa))
    return prefix_clash or suffix_clash


def test_patterns_never_overlap_so_sql_and_python_pick_the_same_rule():
    patterns = [r.signal for r in LIMITS if r.is_pattern]
    assert all(p.count("*") == 1 for p in patterns)
    for i, a in enumerate(patterns):
        for b in patterns[i + 1 :]:
            assert _disjoint(a, b), (a, b)
    names = [r.signal for r in LIMITS]
    assert len(names) == len(set(names))


def test_like_pattern_escapes_underscores():
    assert like_pattern(Limit("pipe_temp_*_c", 0, 1, "")) == "pipe\\_temp\\_%\\_c"
