"""The regular time grid that stages 1-4 pass along: sites x signals x buckets."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Grid:
    """Per-site, per-signal values on a regular UTC time grid.

    Arrays are shaped (sites, signals, buckets). ``value`` is NaN where a bucket
    holds no usable value. Weather and spot-price columns are ordinary signals
    here, already joined onto each site's rows.
    """

    sites: tuple[str, ...]
    signals: tuple[str, ...]
    start: np.datetime64  # first bucket, UTC, datetime64[s]
    step: np.timedelta64  # bucket width, timedelta64[s]
    value: np.ndarray  # float64 (S, K, T), NaN = empty
    count: np.ndarray  # int32 (S, K, T), raw samples in the bucket
    coverage: np.ndarray  # float64 (S, K, T), count / expected samples, 0..1
    filled: np.ndarray  # bool (S, K, T), True where stage 2 interpolated

    @property
    def n_buckets(self) -> int:
        return int(self.value.shape[2])

    @property
    def times(self) -> np.ndarray:
        """Bucket start times, datetime64[s], UTC."""
        return self.start + self.step * np.arange(self.n_buckets)

    @property
    def step_hours(self) -> float:
        return float(self.step / np.timedelta64(1, "h"))

    def signal_index(self, name: str) -> int | None:
        return self.signals.index(name) if name in self.signals else None

    def with_values(self, value: np.ndarray, filled: np.ndarray) -> Grid:
        return replace(self, value=value, filled=filled)
