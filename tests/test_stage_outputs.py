"""What a drained queue leaves in the tables, on the shipped real sample: ``resampled`` is
exactly the grid the features were computed from, and the changepoints and eras are the
same whatever the job widths and whatever order the jobs ran in."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from pathlib import Path

import numpy as np
import psycopg
import pytest

from greenhouse_queue.consumer.stages.features import extract_features
from greenhouse_queue.consumer.stages.grid import Grid
from greenhouse_queue.consumer.stages.times import utc_seconds
from greenhouse_queue.consumer.stages.windows import WindowSpec
from greenhouse_queue.producer.load import load_files
from tests.conftest import CONSUMER, PRODUCER, run_cli

HOUR = np.timedelta64(3600, "s")
REAL = Path(__file__).resolve().parent / "fixtures" / "real"


def run(program: list[str], url: str, *args: str) -> str:
    done = run_cli(program, url, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def drain(url: str) -> None:
    run(CONSUMER, url, "run", "--drain", "--device", "cpu", "--batch", "4")


def grid_from_resampled(conn: psycopg.Connection) -> tuple[Grid, dict[str, str]]:
    """The stage 2 grid, rebuilt from the resampled table alone."""
    rows = conn.execute(
        "SELECT site, signal, time, value, coverage, filled FROM resampled ORDER BY 1, 2, 3"
    ).fetchall()
    sites = tuple(sorted({r[0] for r in rows}))
    signals = tuple(sorted({r[1] for r in rows}))
    times = np.array([utc_seconds(r[2]) for r in rows])
    start = times.min()
    shape = (len(sites), len(signals), int((times.max() - start) / HOUR) + 1)
    value, coverage = np.full(shape, np.nan), np.zeros(shape)
    filled = np.zeros(shape, dtype=bool)
    for (site, signal, _, v, cov, fill), t in zip(rows, times, strict=True):
        at = (sites.index(site), signals.index(signal), int((t - start) / HOUR))
        value[at] = np.nan if v is None else v
        coverage[at], filled[at] = cov, fill
    areas = dict(conn.execute("SELECT site, price_area FROM sites").fetchall())
    count = np.zeros(shape, np.int32)  # features do not read it
    return Grid(sites, signals, start, HOUR, value, count, coverage, filled), areas


def test_resampled_holds_the_grid_every_stored_feature_was_computed_from(sample_db_url):
    # Before: weather and price buckets were kept only where the site itself logged, and
    # a job kept only its own window, so the last day's windows read buckets no row held.
    run(PRODUCER, sample_db_url, "enqueue", "--from", "2016-01-20", "--to", "2016-01-23")
    drain(sample_db_url)
    with psycopg.connect(sample_db_url) as conn:
        grid, areas = grid_from_resampled(conn)
        jobs = conn.execute("SELECT window_start, window_end FROM jobs").fetchall()
        stored = conn.execute(
            "SELECT site, window_start, signal, feature, value FROM features"
        ).fetchall()
        dead_co2 = conn.execute(
            "SELECT count(*), count(value), min(rejected) FROM resampled"
            " WHERE site = 'knudjepsen-afd3' AND signal = 'co2_ppm'"
        ).fetchone()
    owned = [(utc_seconds(start), utc_seconds(end)) for start, end in jobs]
    again = extract_features(grid, WindowSpec(), owned, price_area=areas)
    recomputed = {
        (site, start, signal, feature): value
        for site, start, signal, feature, value in zip(
            again.site, again.window_start, again.signal, again.feature, again.value, strict=True
        )
    }
    assert len(recomputed) == len(stored) > 10_000
    kinds = {feature for *_, feature, _ in stored}
    rng = np.random.default_rng(11)
    for kind in sorted(kinds):  # random features of every kind, and then all of them
        rows = [row for row in stored if row[3] == kind]
        for i in rng.choice(len(rows), size=min(5, len(rows)), replace=False):
            site, start, signal, feature, value = rows[i]
            assert recomputed[(site, utc_seconds(start), signal, feature)] == value, rows[i]
    for site, start, signal, feature, value in stored:
        assert recomputed[(site, utc_seconds(start), signal, feature)] == value
    assert {"outside_temp_c", "spot_price_dk1_eur_mwh"} <= {row[2] for row in stored}
    # the README's CO2 query: a bucket with samples, all rejected, shows why it is empty
    assert dead_co2[0] == 24 * 4 + 18 and dead_co2[1] == 0 and dead_co2[2] == 12


def changepoints_and_eras(url: str) -> tuple[list[tuple], list[tuple]]:
    with psycopg.connect(url) as conn:
        points = conn.execute(
            "SELECT site, time, cost_gain FROM changepoints ORDER BY 1, 2"
        ).fetchall()
        eras = conn.execute(
            "SELECT site, era_start, era_end, mean_air_temp_c FROM eras ORDER BY 1, 2"
        ).fetchall()
    return points, eras


def reset(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE jobs, features, resampled, changepoints")


@pytest.fixture
def aarslev_url(sample_db_url: str) -> str:
    """The sample plus three more real days of Aarslev cell 5 (2014-04-07..09)."""
    with psycopg.connect(sample_db_url) as conn:
        load_files(conn, [REAL / "aarslev" / "output-2014-04-01-00-00.csv"])
    return sample_db_url


def test_eras_are_the_same_for_daily_and_weekly_jobs_in_any_order(aarslev_url):
    # Before: two daily jobs placed changepoints at 2014-04-07 22:00 and 2014-04-08 09:00,
    # an era of 11 hours, and weekly jobs found other changepoints.
    first, days = datetime(2014, 3, 31), 14  # two ISO weeks, Monday to Sunday
    for day in reversed(range(days)):  # the last day first: priorities run low to high
        date = (first + timedelta(days=day)).date().isoformat()
        run(PRODUCER, aarslev_url, "enqueue", "--from", date, "--to", date, "--priority", str(-day))
    drain(aarslev_url)
    daily = changepoints_and_eras(aarslev_url)
    reset(aarslev_url)
    last = (first + timedelta(days=days - 1)).date().isoformat()
    run(PRODUCER, aarslev_url, "enqueue", "--from", "2014-03-31", "--to", last, "--window", "7d")
    drain(aarslev_url)
    weekly = changepoints_and_eras(aarslev_url)
    assert daily == weekly
    points, eras = daily
    assert len(points) >= 3 and len(eras) == len(points) + 1
    for site in {site for site, _, _ in points}:  # no era between changepoints under a day
        times = [time for s, time, _ in points if s == site]
        assert all(b - a >= timedelta(days=1) for a, b in pairwise(times))
