"""Long feature rows (one per value) turned into dense vectors (one per site, window and
signal), the shape ``feature_vectors`` stores: a vector's positions are named by a layout,
and a value a window does not have is NaN here and a NULL element in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from greenhouse_queue.consumer.stages.features import FeatureRows


@dataclass(frozen=True)
class FeatureVectors:
    """R vectors sorted by (site, window_start, window_end, signal); column j of ``values``
    holds feature ``layout[j]``."""

    layout: tuple[str, ...]
    job_id: np.ndarray  # int64 (R,)
    site: np.ndarray  # object (str) (R,)
    window_start: np.ndarray  # datetime64[s] (R,), UTC
    window_end: np.ndarray  # datetime64[s] (R,), UTC
    signal: np.ndarray  # object (str) (R,)
    values: np.ndarray  # float64 (R, len(layout)), NaN = absent

    def __len__(self) -> int:
        return len(self.job_id)


def feature_names(rows: FeatureRows) -> list[str]:
    """The features ``rows`` hold values of, in order of first appearance."""
    return [str(name) for name in pd.unique(rows.feature)]


def vectors(rows: FeatureRows, job_id: np.ndarray, layout: Sequence[str]) -> FeatureVectors:
    """One vector per (site, window_start, window_end, signal) of ``rows``; ``job_id`` gives
    each row's job, and ``layout`` must name every feature of ``rows``. Rows that repeat a
    key and feature (two owners of one window in a batch) collapse into one value."""
    column = pd.Index(layout).get_indexer(rows.feature)
    if (column < 0).any():
        missing = sorted({str(name) for name in rows.feature[column < 0]})
        raise ValueError(f"layout lacks features {missing[:5]} ({len(missing)} in all)")
    parts = [
        pd.factorize(part, sort=True)
        for part in (rows.site, rows.window_start, rows.window_end, rows.signal)
    ]
    key = np.zeros(len(rows), dtype=np.int64)
    for codes, labels in parts:  # sorted labels: the combined key sorts as the tuple does
        key = key * len(labels) + codes
    unique_keys, row = np.unique(key, return_inverse=True)
    values = np.full((len(unique_keys), len(layout)), np.nan)
    values[row, column] = rows.value
    first = np.zeros(len(unique_keys), dtype=np.intp)
    first[row] = np.arange(len(rows))  # one long row of each vector: they share the key
    return FeatureVectors(
        layout=tuple(layout),
        job_id=np.asarray(job_id, dtype=np.int64)[first],
        site=rows.site[first],
        window_start=rows.window_start[first],
        window_end=rows.window_end[first],
        signal=rows.signal[first],
        values=values,
    )
