"""What stage 1 reads: one time span of bucketed readings and weather, hourly prices, and
the sites with their weather location and price area.

Built by ``consumer.inputs.read_inputs`` from the database (and, in the tests, by an
in-memory oracle from raw rows); consumed by ``aggregate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np


@dataclass(frozen=True)
class Buckets:
    """Per (key, signal, bucket): sum and count of the in-limit raw samples, and how many
    samples the physical limits rejected.

    `key` is a site for readings and a weather location for weather. `interval_s` holds
    each series' native sample interval per UTC day (the median spacing of that day's
    buckets, see `consumer.inputs.native_intervals`), keyed (key, signal, days since the
    epoch), for coverage.
    """

    key: np.ndarray  # object (str)
    signal: np.ndarray  # object (str)
    bucket: np.ndarray  # datetime64[s], bucket start
    total: np.ndarray  # float64, sum of the in-limit samples
    count: np.ndarray  # int64, in-limit samples
    rejected: np.ndarray  # int64, samples outside the limits (or not finite)
    interval_s: dict[tuple[str, str, int], float] = field(default_factory=dict)

    @staticmethod
    def empty() -> Buckets:
        return Buckets(
            np.empty(0, object),
            np.empty(0, object),
            np.empty(0, "datetime64[s]"),
            np.empty(0, np.float64),
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            {},
        )


@dataclass(frozen=True)
class Prices:
    """Hourly day-ahead prices, EUR/MWh, per price area (raw hours, not bucketed)."""

    area: np.ndarray  # object (str)
    hour: np.ndarray  # datetime64[s], hour start, UTC
    eur_mwh: np.ndarray  # float64

    @staticmethod
    def empty() -> Prices:
        return Prices(np.empty(0, object), np.empty(0, "datetime64[s]"), np.empty(0))


@dataclass(frozen=True)
class StageInputs:
    span_start: datetime
    span_end: datetime
    resolution: timedelta
    readings: Buckets
    weather: Buckets
    prices: Prices
    location: dict[str, str]  # site -> weather location
    price_area: dict[str, str]  # site -> spot-price area ('DK1', 'DK2')
