"""Stage 3 specification: windows, per-signal, sparse-data and greenhouse features."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from tsfresh.feature_extraction import feature_calculators as fc

from greenhouse_queue.consumer.stages.features import (
    SPARSE_FEATURES,
    TSFRESH_FEATURES,
    FeatureRows,
    extract_features,
)
from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.windows import WindowSpec, window_starts
from greenhouse_queue.consumer.xp import _cupy_with_device, array_module, to_host

H = np.timedelta64(3600, "s")
T0 = np.datetime64("2016-01-01T00:00:00", "s")


def make_grid(values: dict[str, np.ndarray], sites=("site-a",), start=T0, filled=None) -> Grid:
    """A one-hour grid; ``values[signal]`` is (T,) or (S, T); coverage 1 where valid."""
    signals = tuple(values)
    arrs = [
        np.broadcast_to(np.asarray(v, float), (len(sites), np.shape(v)[-1]))
        for v in values.values()
    ]
    value = np.stack(arrs, axis=1).copy()
    valid = ~np.isnan(value)
    return Grid(
        sites=tuple(sites),
        signals=signals,
        start=start,
        step=H,
        value=value,
        count=valid.astype(np.int32) * 12,
        coverage=valid.astype(float),
        filled=np.zeros_like(valid) if filled is None else filled,
    )


def as_dict(rows: FeatureRows) -> dict[tuple, float]:
    return {
        (s, str(ws), sig, f): v
        for s, ws, sig, f, v in zip(
            rows.site, rows.window_start, rows.signal, rows.feature, rows.value, strict=True
        )
    }


def owned_day(start=T0, days=1):
    return [(start, start + np.timedelta64(days, "D"))]


# --------------------------------------------------------------------------- windows


def test_window_starts_are_step_multiples_inside_any_owned_range():
    spec = WindowSpec()
    owned = [
        (np.datetime64("2016-01-01T03:00:00"), np.datetime64("2016-01-01T13:00:00")),
        (np.datetime64("2016-01-03T00:00:00"), np.datetime64("2016-01-03T06:00:00")),
        (np.datetime64("2016-01-01T06:00:00"), np.datetime64("2016-01-01T07:00:00")),  # overlap
    ]
    got = window_starts(owned, spec).astype(str).tolist()
    assert got == ["2016-01-01T06:00:00", "2016-01-01T12:00:00", "2016-01-03T00:00:00"]


def test_window_spec_is_configurable_and_validated():
    spec = WindowSpec(width=timedelta(hours=12), step=timedelta(hours=12), min_valid=3)
    starts = window_starts(owned_day(), spec)
    assert starts.astype(str).tolist() == ["2016-01-01T00:00:00", "2016-01-01T12:00:00"]
    with pytest.raises(ValueError):
        WindowSpec(min_valid=0)


def test_windows_cover_start_plus_width_and_read_past_the_grid_end_as_missing():
    x = np.arange(30.0)  # 30 hours of data: the window at 12:00 sees only 18 of 24
    rows = extract_features(make_grid({"air_temp_c": x}), WindowSpec(), owned_day())
    got = as_dict(rows)
    key = ("site-a", "2016-01-01T12:00:00", "air_temp_c")
    assert got[(*key, "mean")] == pytest.approx(np.mean(x[12:30]))
    assert got[(*key, "coverage")] == pytest.approx(18 / 24)
    assert got[(*key, "longest_gap_hours")] == 6.0
    first = ("site-a", "2016-01-01T00:00:00", "air_temp_c")
    assert got[(*first, "maximum")] == 23.0  # [ws, ws + 24 h) excludes hour 24
    assert set(rows.window_end - rows.window_start) == {np.timedelta64(86400, "s")}


# --------------------------------------------------------------------------- per signal


def tsfresh_reference(x: np.ndarray) -> dict[str, float]:
    """tsfresh's own calculators on the compacted valid values."""
    ref = {
        "mean": fc.mean(x),
        "median": fc.median(x),
        "standard_deviation": fc.standard_deviation(x),
        "variance": fc.variance(x),
        "minimum": fc.minimum(x),
        "maximum": fc.maximum(x),
        **{f"quantile__q_{q}": fc.quantile(x, q) for q in (0.05, 0.25, 0.75, 0.95)},
        "skewness": fc.skewness(x),
        "kurtosis": fc.kurtosis(x),
        "abs_energy": fc.abs_energy(x),
        "absolute_sum_of_changes": fc.absolute_sum_of_changes(x),
        "mean_change": fc.mean_change(x),
        "mean_abs_change": fc.mean_abs_change(x),
        "count_above_mean": fc.count_above_mean(x),
        "count_below_mean": fc.count_below_mean(x),
        "longest_strike_above_mean": fc.longest_strike_above_mean(x),
        "longest_strike_below_mean": fc.longest_strike_below_mean(x),
        "autocorrelation__lag_1": fc.autocorrelation(x, 1),
        "cid_ce__normalize_True": fc.cid_ce(x, True),
        "number_crossing_m__m_mean": fc.number_crossing_m(x, np.mean(x)),
    }
    for key, value in fc.linear_trend(x, [{"attr": "slope"}, {"attr": "intercept"}]):
        ref[f"linear_trend__{key}"] = value
    assert set(ref) == set(TSFRESH_FEATURES)
    return {k: float(v) for k, v in ref.items()}


def assert_matches_tsfresh(ours: dict[str, float], x: np.ndarray, rtol: float = 1e-9) -> int:
    """Every tsfresh feature agrees to ``rtol``; NaN in tsfresh means absent in ours.

    A slope is compared relative to max(|slope|, range / (n - 1)) and an intercept
    relative to max(|intercept|, max|x|): when the true value is ~0 both sides hold only
    rounding noise, which must be small against the window's own scale."""
    ref = tsfresh_reference(x)
    compared = 0
    for name, want in ref.items():
        if np.isnan(want):
            assert name not in ours, (name, x)
            continue
        got = ours[name]
        scale = abs(want)
        if name == 'linear_trend__attr_"slope"':
            scale = max(scale, (x.max() - x.min()) / (len(x) - 1))
        elif name == 'linear_trend__attr_"intercept"':
            scale = max(scale, np.abs(x).max())
        assert abs(got - want) <= rtol * scale, (name, got, want, x)
        compared += 1
    return compared


def test_tsfresh_features_on_gappy_synthetic_windows_match_tsfresh():
    rng = np.random.default_rng(7)
    hours = 24 * 6
    signals = {
        "noise": rng.normal(20, 3, hours),
        "trend": np.linspace(-5, 40, hours) + rng.normal(0, 0.01, hours),
        "steps": np.repeat(rng.integers(0, 4, hours // 4), 4).astype(float),
        "tenths": np.round(rng.normal(0.3, 0.2, hours), 1),  # ties with the mean
        "constant": np.full(hours, 0.1),
    }
    for v in signals.values():
        v[rng.random(hours) < 0.2] = np.nan  # scattered gaps
    grid = make_grid(signals)
    rows = extract_features(grid, WindowSpec(), owned_day(days=5))
    got = as_dict(rows)
    compared = 0
    for k, name in enumerate(grid.signals):
        for ws in np.unique(rows.window_start):
            i0 = int((ws - T0) / H)
            x = grid.value[0, k, i0 : i0 + 24]
            x = np.ascontiguousarray(x[~np.isnan(x)])
            ours = {f: v for (_, w, s, f), v in got.items() if s == name and w == str(ws)}
            compared += assert_matches_tsfresh(ours, x)
    assert compared > 500


def test_feature_names_are_tsfresh_names_and_each_window_has_all_of_them():
    x = np.sin(np.arange(48.0))
    rows = extract_features(make_grid({"air_temp_c": x}), WindowSpec(), owned_day())
    first = rows.window_start == T0
    names = set(rows.feature[first & (rows.signal == "air_temp_c")])
    assert names == set(TSFRESH_FEATURES) | set(SPARSE_FEATURES)
    assert 'linear_trend__attr_"slope"' in names and "quantile__q_0.05" in names


def test_too_few_valid_values_leave_only_the_sparse_features():
    x = np.full(48, np.nan)
    x[:11] = np.arange(11.0)  # 11 < min_valid = 12 in the first window
    rows = extract_features(make_grid({"co2_ppm": x}), WindowSpec(), owned_day())
    first = rows.window_start == T0
    assert set(rows.feature[first]) == set(SPARSE_FEATURES)
    assert not (rows.window_start == T0 + 12 * H).any()  # nothing valid: no rows at all
    relaxed = extract_features(make_grid({"co2_ppm": x}), WindowSpec(min_valid=11), owned_day())
    assert "mean" in set(relaxed.feature[relaxed.window_start == T0])


def test_undefined_features_are_absent_never_placeholders():
    rows = extract_features(make_grid({"setpoint": np.full(48, 21.5)}), WindowSpec(), owned_day())
    got = {f: v for f, v in zip(rows.feature, rows.value, strict=True)}
    assert not np.isnan(rows.value).any()
    for undefined in ("skewness", "kurtosis", "autocorrelation__lag_1"):
        assert undefined not in set(rows.feature)
    assert got["standard_deviation"] == 0.0
    assert got["cid_ce__normalize_True"] == 0.0
    assert got['linear_trend__attr_"slope"'] == 0.0


def test_feature_rows_are_copy_ready_columns():
    rows = extract_features(
        make_grid({"air_temp_c": np.arange(48.0)}, sites=("s1", "s2")), WindowSpec(), owned_day()
    )
    n = len(rows)
    assert n > 0
    for col, dtype in [
        (rows.site, object),
        (rows.signal, object),
        (rows.feature, object),
        (rows.value, np.float64),
        (rows.window_start, np.dtype("datetime64[s]")),
        (rows.window_end, np.dtype("datetime64[s]")),
    ]:
        assert len(col) == n and col.dtype == dtype
    assert set(rows.site) == {"s1", "s2"}
    assert isinstance(rows.site[0], str)


# --------------------------------------------------------------------------- sparse data


def test_sparse_features_count_gaps_fill_and_coverage():
    x = np.arange(48.0)
    x[[2, 3, 4, 10, 20]] = np.nan  # gaps of 3, 1 and 1 hours in the first window
    grid = make_grid({"rh_percent": x})
    filled = grid.filled.copy()
    filled[0, 0, [5, 6]] = True  # stage 2 interpolated two valid hours
    coverage = grid.coverage.copy()
    coverage[0, 0, 0] = 0.5
    grid = Grid(**{**grid.__dict__, "filled": filled, "coverage": coverage})
    got = as_dict(extract_features(grid, WindowSpec(), owned_day()))
    key = ("site-a", str(T0), "rh_percent")
    assert got[(*key, "gap_count")] == 3
    assert got[(*key, "longest_gap_hours")] == 3.0
    assert got[(*key, "filled_fraction")] == pytest.approx(2 / 19)
    assert got[(*key, "coverage")] == pytest.approx((19 - 0.5) / 24)


# --------------------------------------------------------------------------- greenhouse


def greenhouse_grid(sites=("gh",)) -> Grid:
    hours = np.arange(48)
    day = (hours % 24 >= 6) & (hours % 24 < 18)  # light from 06 to 18 UTC
    air = np.where(day, 24.0, 16.0)
    return make_grid(
        {
            "air_temp_c": air,
            "outside_temp_c": air - 15.0,
            "light_intensity_umol": np.where(day, 500.0, 0.0),
            "lamp_grp1_on": np.where(hours % 24 < 6, 1.0, 0.0),  # lamps 00-06 UTC
            "lamp_grp2_on": np.full(48, np.nan),  # a group this site lacks
            "spot_price_dk1_eur_mwh": np.full(48, 30.0),
            "spot_price_dk2_eur_mwh": np.where(hours % 24 < 6, 80.0, 40.0),
            "rh_percent": np.where(day, 60.0, 95.0),
            "heating_setpoint_c": air - 1.0,
            "humidity_deficit_g_m3": np.where(day, 5.0, 1.0),
        },
        sites=sites,
    )


def test_greenhouse_features_follow_their_formulas():
    rows = extract_features(
        greenhouse_grid(("a", "b")), WindowSpec(), owned_day(), price_area={"b": "DK2"}
    )
    got = as_dict(rows)
    key = ("a", str(T0), "greenhouse")
    assert got[(*key, "inside_outside_temp_diff_mean")] == 15.0
    assert got[(*key, "inside_outside_temp_diff_std")] == 0.0
    assert got[(*key, "growing_degree_days_base10")] == pytest.approx((12 * 14 + 12 * 6) / 24)
    assert got[(*key, "daily_light_integral_mol_m2")] == pytest.approx(500 * 12 * 3600 / 1e6)
    assert got[(*key, "photoperiod_hours")] == 18.0  # 12 h of daylight + 6 h of lamps
    assert got[(*key, "lamp_on_hours")] == 6.0
    assert got[(*key, "lamp_energy_cost_eur_per_mw")] == pytest.approx(6 * 30.0)
    assert got[(*key, "peak_offpeak_price_ratio")] == pytest.approx(1.0)
    b = ("b", str(T0), "greenhouse")
    assert got[(*b, "lamp_energy_cost_eur_per_mw")] == pytest.approx(6 * 80.0)  # DK2 price
    # Peak is 08-20 Copenhagen time (07-19 UTC in winter): all 40; off-peak 6x80 + 6x40.
    assert got[(*b, "peak_offpeak_price_ratio")] == pytest.approx(40.0 / ((6 * 80 + 6 * 40) / 12))
    # VPD at 24 C / 60 % RH is 1.19 kPa (fine); at 16 C / 95 % RH 0.09 kPa (too humid).
    assert got[(*key, "vpd_stress_hours")] == 12.0
    assert got[(*key, "humidity_deficit_stress_hours")] == 12.0
    assert got[(*key, "corr_temp_rh")] == pytest.approx(-1.0)
    assert got[(*key, "corr_light_temp")] == pytest.approx(1.0)
    assert got[(*key, "corr_setpoint_temp")] == pytest.approx(1.0)


def test_greenhouse_features_without_their_signals_are_absent():
    rows = extract_features(make_grid({"air_temp_c": np.arange(48.0)}), WindowSpec(), owned_day())
    gh = set(rows.feature[rows.signal == "greenhouse"])
    assert gh == {"growing_degree_days_base10"}


# --------------------------------------------------------------------------- device


def test_array_module_cpu_and_auto_and_gpu():
    xp, label = array_module("cpu")
    assert xp is np and label == "cpu"
    gpu = _cupy_with_device()
    auto, auto_label = array_module("auto")
    if gpu is None:
        assert auto is np and auto_label == "cpu"
        with pytest.raises(RuntimeError, match=r"gpu.*extra|--device cpu"):
            array_module("gpu")
    else:
        assert auto is gpu[0] and auto_label.startswith("cuda:")
        assert array_module("gpu")[0] is gpu[0]
    with pytest.raises(ValueError):
        array_module("tpu")


def test_extract_features_runs_on_the_available_device_and_returns_host_columns():
    xp, _ = array_module("auto")
    grid = greenhouse_grid(("a", "b"))
    on_device = extract_features(grid, WindowSpec(), owned_day(), xp=xp)
    on_cpu = extract_features(grid, WindowSpec(), owned_day())
    assert type(on_device.value) is np.ndarray
    assert np.allclose(on_device.value, on_cpu.value, rtol=1e-12)
    assert (on_device.feature == on_cpu.feature).all()
    assert type(to_host(xp.asarray([1.0]))) is np.ndarray
