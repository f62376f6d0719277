"""The regular time grid that stages 1-4 pass along: sites x signals x buckets."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

# Weather (outside_*) and spot prices (spot_price_*) are joined onto every site's rows:
# context for a site's own climate signals, not evidence that the site logged anything.
CONTEXT_PREFIXES = ("outside_", "spot_price_")


def is_context_signal(signal: str) -> bool:
    return signal.startswith(CONTEXT_PREFIXES)


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
    # int32 (S, K, T), raw samples outside the physical limits; a bucket with any has no
    # value of its own (None: nothing was rejected)
    rejected: np.ndarray | None = None

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

    @property
    def own_signal_mask(self) -> np.ndarray:
        """bool (K,): True for the site's own signals, False for joined context."""
        return np.array([not is_context_signal(name) for name in self.signals], dtype=bool)

    @property
    def rejected_counts(self) -> np.ndarray:
        """``rejected``, as zeros where no sample was rejected."""
        if self.rejected is None:
            return np.zeros(self.value.shape, dtype=np.int32)
        return self.rejected

    def with_values(self, value: np.ndarray, filled: np.ndarray) -> Grid:
        return replace(self, value=value, filled=filled)
