"""Long feature rows become one vector per (site, window, signal), positions named by a layout."""

from __future__ import annotations

import numpy as np
import pytest

from greenhouse_queue.consumer.feature_vectors import in_layout, vectors
from greenhouse_queue.consumer.stages.features import FeatureRows

DAY = np.datetime64("2016-01-18T00:00:00", "s")
HOUR = np.timedelta64(3600, "s")
FIELDS = ("site", "window_start", "window_end", "signal", "feature", "value")


def long_rows(*rows: tuple[str, int, str, str, float]) -> FeatureRows:
    """FeatureRows from (site, window start hour, signal, feature, value), 24 h windows."""
    start = np.array([DAY + hour * HOUR for _, hour, *_ in rows], dtype="datetime64[s]")
    return FeatureRows(
        site=np.array([row[0] for row in rows], dtype=object),
        window_start=start,
        window_end=start + 24 * HOUR,
        signal=np.array([row[2] for row in rows], dtype=object),
        feature=np.array([row[3] for row in rows], dtype=object),
        value=np.array([row[4] for row in rows], dtype=np.float64),
    )


ROWS = long_rows(
    ("s2", 6, "air_temp_c", "mean", 21.0),
    ("s1", 0, "rh_percent", "mean", 80.0),
    ("s1", 0, "air_temp_c", "maximum", 25.0),
    ("s1", 0, "air_temp_c", "mean", 20.0),
    ("s2", 0, "greenhouse", "lamp_on_hours", 16.0),
    ("s1", 6, "air_temp_c", "mean", 19.5),
)


def test_a_batch_layout_lists_its_features_in_order_of_first_appearance() -> None:
    assert vectors(ROWS, np.zeros(len(ROWS))).layout == ("mean", "maximum", "lamp_on_hours")


def test_one_vector_per_site_window_and_signal_sorted_by_that_key() -> None:
    job_of_window = np.where(ROWS.window_start == DAY, 10, 11)  # a job owns whole windows
    got = in_layout(vectors(ROWS, job_of_window), ["maximum", "mean", "lamp_on_hours"])

    keys = list(zip(got.site, got.window_start, got.signal, strict=True))
    assert keys == [
        ("s1", DAY, "air_temp_c"),
        ("s1", DAY, "rh_percent"),
        ("s1", DAY + 6 * HOUR, "air_temp_c"),
        ("s2", DAY, "greenhouse"),
        ("s2", DAY + 6 * HOUR, "air_temp_c"),
    ]
    assert list(got.window_end - got.window_start) == [24 * HOUR] * 5
    nan = np.nan
    np.testing.assert_array_equal(
        got.values,
        [
            [25.0, 20.0, nan],
            [nan, 80.0, nan],
            [nan, 19.5, nan],
            [nan, nan, 16.0],
            [nan, 21.0, nan],
        ],
    )
    assert list(got.job_id) == [10, 10, 11, 10, 11]
    assert got.layout == ("maximum", "mean", "lamp_on_hours")


def test_a_vector_whose_values_are_not_together_is_still_one_vector() -> None:
    shuffled = np.random.default_rng(7).permutation(len(ROWS))
    rows = FeatureRows(**{name: getattr(ROWS, name)[shuffled] for name in FIELDS})

    got = in_layout(vectors(rows, np.zeros(len(rows))), ["maximum", "mean", "lamp_on_hours"])
    want = in_layout(vectors(ROWS, np.zeros(len(ROWS))), ["maximum", "mean", "lamp_on_hours"])

    np.testing.assert_array_equal(got.values, want.values)
    assert list(got.signal) == list(want.signal)


def test_a_layout_may_name_more_features_than_the_rows_have() -> None:
    layout = ["median", "mean", "maximum", "lamp_on_hours"]
    got = in_layout(vectors(ROWS, np.zeros(len(ROWS))), layout)

    assert np.isnan(got.values[:, 0]).all()
    assert np.count_nonzero(~np.isnan(got.values)) == len(ROWS)


def test_a_layout_missing_a_feature_of_the_rows_is_refused() -> None:
    with pytest.raises(ValueError, match=r"layout lacks features \['lamp_on_hours'\]"):
        in_layout(vectors(ROWS, np.zeros(len(ROWS))), ["mean", "maximum"])


def test_two_owners_of_one_window_in_a_batch_give_one_vector() -> None:
    twice = FeatureRows.concat([ROWS, ROWS])

    got = vectors(twice, np.zeros(len(twice)))

    assert len(got) == 5
    assert np.count_nonzero(~np.isnan(got.values)) == len(ROWS)
