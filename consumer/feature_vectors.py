"""Long feature rows (one per value) turned into dense vectors (one per site, window and
signal), the shape ``feature_vectors`` stores: a vector's positions are named by a layout,
and a value a window does not have is NaN here and a NULL element in the database."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

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


def vectors(rows: FeatureRows, job_id: np.ndarray) -> FeatureVectors:
    """One vector per (site, window_start, window_end, signal) of ``rows``, its layout the
    features of ``rows`` in order of first appearance; ``job_id`` gives each row's job.
    Rows that repeat a key and feature (two owners of one window in a batch) collapse."""
    column, names = pd.factorize(rows.feature)
    # Stage 3 lists a vector's values together: compare neighbours (cheap, and identical
    # objects compare at once) to find runs of one key, then merge runs that share a key.
    keys = (rows.site, rows.window_start, rows.window_end, rows.signal)
    changes = np.zeros(len(rows), dtype=bool)
    changes[:1] = True
    for part in keys:
        changes[1:] |= part[1:] != part[:-1]
    run_first = np.flatnonzero(changes)
    run_key = np.zeros(len(run_first), dtype=np.int64)
    for part in keys:  # sorted labels: the combined key sorts as the tuple does
        codes, labels = pd.factorize(part[run_first], sort=True)
        run_key = run_key * len(labels) + codes
    unique_keys, vector_of_run = np.unique(run_key, return_inverse=True)
    row = np.repeat(vector_of_run, np.diff(np.append(run_first, len(rows))))
    values = np.full((len(unique_keys), len(names)), np.nan)
    values[row, column] = rows.value
    first = np.zeros(len(unique_keys), dtype=np.intp)
    first[vector_of_run] = run_first  # one long row of each vector: they share the key
    return FeatureVectors(
        layout=tuple(str(name) for name in names),
        job_id=np.asarray(job_id, dtype=np.int64)[first],
        site=rows.site[first],
        window_start=rows.window_start[first],
        window_end=rows.window_end[first],
        signal=rows.signal[first],
        values=values,
    )


def in_layout(batch: FeatureVectors, layout: Sequence[str]) -> FeatureVectors:
    """``batch`` with its columns moved to the positions ``layout`` gives its features;
    ``layout`` must name every one of them."""
    position = pd.Index(layout).get_indexer(batch.layout)
    if (position < 0).any():
        missing = [name for name, p in zip(batch.layout, position, strict=True) if p < 0]
        raise ValueError(f"layout lacks features {missing[:5]} ({len(missing)} in all)")
    values = np.full((len(batch), len(layout)), np.nan)
    values[:, position] = batch.values
    return replace(batch, layout=tuple(layout), values=values)
