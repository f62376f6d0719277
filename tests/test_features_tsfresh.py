"""Every feature tsfresh also computes agrees with tsfresh itself on real windows.

The windows come from the shipped sample of the real greenhouse data (``sample/``), read
with the project's own loader and averaged to hourly buckets. tsfresh's calculators run on
each window's valid values in time order, exactly the values stage 3 defines its
features on. Agreement is to a relative error of at most 1e-9 (see assert_matches_tsfresh
for the two near-zero cases measured against the window's scale).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from greenhouse_queue.consumer.stages.features import TSFRESH_FEATURES, extract_features
from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.windows import WindowSpec
from greenhouse_queue.producer.load import read_file
from tests.test_features import assert_matches_tsfresh

SAMPLE = Path(__file__).resolve().parents[1] / "sample"
MAX_WINDOWS = 1500  # site-signal windows compared; tsfresh is slow (~20k values/s)


def hourly_grid(paths: list[Path]) -> Grid:
    """Hourly means of the readings and weather in ``paths`` (weather joined per site)."""
    readings, weather = [], []
    for path in paths:
        tables = read_file(path)
        readings.append(tables["readings"])
        weather.append(tables["weather"])
    read = pd.concat(readings, ignore_index=True)
    assert len(read), f"no greenhouse readings in {paths}"
    wx = pd.concat(weather, ignore_index=True)
    hour = lambda t: t.dt.floor("h").dt.tz_convert(None)  # noqa: E731
    read = read.assign(time=hour(read["time"]))
    means = read.groupby(["site", "signal", "time"])["value"].agg(["mean", "count"])
    if len(wx):  # a weather station's signals become every site's signals
        wx = wx.assign(time=hour(wx["time"]))
        w = wx.groupby(["signal", "time"])["value"].agg(["mean", "count"])
        means = pd.concat(
            [means] + [pd.concat({s: w}, names=["site"]) for s in read["site"].unique()]
        )
    sites = tuple(sorted(means.index.unique("site")))
    signals = tuple(sorted(means.index.unique("signal")))
    times = pd.date_range(
        means.index.unique("time").min(), means.index.unique("time").max(), freq="h"
    )
    full = pd.MultiIndex.from_product([sites, signals, times], names=["site", "signal", "time"])
    means = means.reindex(full)
    shape = (len(sites), len(signals), len(times))
    count = means["count"].fillna(0).to_numpy().reshape(shape)
    expected = np.maximum(count.max(axis=2, keepdims=True), 1)  # samples in a full hour
    return Grid(
        sites=sites,
        signals=signals,
        start=np.datetime64(times[0].to_datetime64(), "s"),
        step=np.timedelta64(3600, "s"),
        value=means["mean"].to_numpy().reshape(shape),
        count=count.astype(np.int32),
        coverage=np.nan_to_num(count / expected),
        filled=np.zeros(shape, dtype=bool),
    )


def compare_with_tsfresh(grid: Grid, spec: WindowSpec, max_windows: int = MAX_WINDOWS) -> int:
    """Extract features for the whole grid and check them against tsfresh window by window."""
    owned = [(grid.start, grid.start + grid.step * grid.n_buckets)]
    rows = extract_features(grid, spec, owned)
    frame = pd.DataFrame(
        {
            "site": rows.site,
            "signal": rows.signal,
            "ws": rows.window_start,
            "feature": rows.feature,
            "value": rows.value,
        }
    )
    frame = frame[frame["feature"].isin(TSFRESH_FEATURES)]
    groups = frame.groupby(["site", "signal", "ws"])
    keys = sorted(groups.groups)
    picked = [
        keys[i] for i in np.linspace(0, len(keys) - 1, min(max_windows, len(keys))).astype(int)
    ]
    length = int(spec.width.total_seconds() // 3600)
    compared = 0
    for site, signal, ws in picked:
        i0 = int((np.datetime64(ws, "s") - grid.start) / grid.step)
        x = grid.value[grid.sites.index(site), grid.signals.index(signal), i0 : i0 + length]
        x = np.ascontiguousarray(x[~np.isnan(x)])
        group = groups.get_group((site, signal, ws))
        compared += assert_matches_tsfresh(
            dict(zip(group["feature"], group["value"], strict=True)), x
        )
    return compared


def sample_files() -> list[Path]:
    files = sorted(
        p for p in SAMPLE.rglob("*") if p.is_file() and p.suffix.lower() in {".csv", ".json"}
    )
    assert files, f"the shipped sample is missing: no data files under {SAMPLE}"
    return files


def test_every_tsfresh_feature_agrees_with_tsfresh_on_the_shipped_sample():
    grid = hourly_grid(sample_files())  # price files add nothing: no readings or weather
    compared = compare_with_tsfresh(grid, WindowSpec())
    assert compared >= 1000, compared  # enough real windows to mean something
