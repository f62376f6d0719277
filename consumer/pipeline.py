"""Runs the four stages over a batch of claimed jobs: read, aggregate, fill, features, eras.

The stages are pure functions; this module is where they meet the database (one read
of the batch's span) and where each job's share of the results is cut out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import numpy as np
import psycopg

from greenhouse_queue.consumer.inputs import read_inputs
from greenhouse_queue.consumer.stages.aggregate import aggregate
from greenhouse_queue.consumer.stages.eras import (
    PENALTY_FACTOR,
    EraResult,
    Eras,
    EraSettings,
    era_reach,
)
from greenhouse_queue.consumer.stages.features import (
    DEFAULT_FEATURE_SET,
    FeatureRows,
    extract_features,
)
from greenhouse_queue.consumer.stages.gapfill import fill_gaps
from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.times import EPOCH, to_datetime, utc_seconds
from greenhouse_queue.consumer.stages.windows import WindowSpec, window_reach
from greenhouse_queue.queue import Job


@dataclass(frozen=True)
class PipelineConfig:
    resolution: timedelta = timedelta(hours=1)
    max_gap: timedelta = timedelta(hours=2)
    windows: WindowSpec = field(default_factory=WindowSpec)
    era_lookback: timedelta = timedelta(days=7)
    era_penalty_factor: float = PENALTY_FACTOR
    feature_set: str = DEFAULT_FEATURE_SET

    @property
    def eras(self) -> EraSettings:
        return EraSettings(lookback=self.era_lookback, penalty_factor=self.era_penalty_factor)

    def span(self, jobs: Sequence[Job]) -> tuple[datetime, datetime]:
        """What a batch reads: each job's window, what its eras read around it (their
        days, the day before, the look-back and look-ahead), the feature windows reaching
        past it, and a max_gap margin on both sides so that a bucket's gap filling never
        depends on where the batch happened to start or end."""
        margin = self.max_gap + self.resolution
        step = np.timedelta64(int(self.resolution.total_seconds()), "s")
        first = min(job.window_start for job in jobs)
        last = max(job.window_end for job in jobs)
        era_start, era_end = era_reach(first, last, self.eras, step)
        start = min(to_datetime(era_start), first) - margin
        end = max(to_datetime(era_end), last + self.windows.width) + margin
        # Buckets line up with the epoch whatever the batch, so a bucket's contents never
        # depend on which jobs happened to be claimed together.
        return start - (start - EPOCH) % self.resolution, end + (EPOCH - end) % self.resolution


class StageError(RuntimeError):
    """A stage raised; carries the stage's name for the job's error_stage."""

    def __init__(self, stage: str, cause: BaseException) -> None:
        super().__init__(f"{stage}: {type(cause).__name__}: {cause}")
        self.stage = stage


@dataclass
class JobResult:
    """One job's share of a batch: what it owns and how long each stage took."""

    job: Job
    grid: Grid
    features: FeatureRows
    eras: EraResult
    stage_seconds: dict[str, float]
    # the grid its features read, written to resampled: [window_start, last window's end)
    traced: tuple[np.datetime64, np.datetime64]

    @property
    def notes(self) -> dict[str, Any]:
        return {"eras": self.eras.notes} if self.eras.notes else {}


@dataclass
class BatchTimer:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        began = time.perf_counter()
        try:
            yield
        except psycopg.OperationalError:
            raise  # the database went away: the worker reconnects, the job is not at fault
        except Exception as error:
            raise StageError(name, error) from error
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began


def run_batch(
    conn: psycopg.Connection,
    jobs: Sequence[Job],
    config: PipelineConfig,
    xp: ModuleType = np,
    *,
    stage_hook: Callable[[str], None] | None = None,
) -> list[JobResult]:
    """Runs all four stages for ``jobs`` as one batch and returns each job's results."""
    timer = BatchTimer()
    hook = stage_hook or (lambda _stage: None)
    start, end = config.span(jobs)
    with timer.stage("read"):
        hook("read")
        with conn.transaction():
            inputs = read_inputs(conn, start, end, config.resolution)
    with timer.stage("aggregate"):
        hook("aggregate")
        grid = aggregate(inputs, start, end, config.resolution)
    with timer.stage("fill_gaps"):
        hook("fill_gaps")
        grid = fill_gaps(grid, config.max_gap)
    with timer.stage("features"):
        hook("features")
        owned = [(utc_seconds(job.window_start), utc_seconds(job.window_end)) for job in jobs]
        features = extract_features(
            grid,
            config.windows,
            owned,
            xp=xp,
            price_area=inputs.price_area,
            feature_set=config.feature_set,
        )
    results = []
    eras = Eras(grid, config.eras)
    for job in jobs:
        with timer.stage("eras"):
            hook("eras")
            found = eras.window(job.window_start, job.window_end)
        start, end = utc_seconds(job.window_start), utc_seconds(job.window_end)
        results.append(
            JobResult(
                job,
                grid,
                rows_within(features, job.window_start, job.window_end),
                found,
                {},
                window_reach(start, end, config.windows),
            )
        )
    per_job = {name: seconds / len(jobs) for name, seconds in timer.seconds.items()}
    for result in results:
        result.stage_seconds = {**per_job, "batch_jobs": len(jobs)}
    return results


def rows_within(rows: FeatureRows, start: datetime, end: datetime) -> FeatureRows:
    """The feature rows whose window starts inside [start, end): what one job owns."""
    keep = (rows.window_start >= utc_seconds(start)) & (rows.window_start < utc_seconds(end))
    return replace(rows, **{f.name: getattr(rows, f.name)[keep] for f in fields(rows)})
