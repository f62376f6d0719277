"""Stage 4: PELT changepoints (exact, never worse than ruptures) and era detection."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
import ruptures as rpt

from greenhouse_queue.consumer.stages.eras import default_min_size, detect_changepoints, pelt_l2
from greenhouse_queue.consumer.stages.grid import Grid
from tests.conftest import migrate

HOUR = np.timedelta64(3600, "s")
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def penalised_l2(x: np.ndarray, bkps: list[int], penalty: float) -> float:
    """The one yardstick for both sides: direct variance per segment + penalty per segment."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    starts = [0, *bkps[:-1]]
    cost = sum(
        float(((x[a:b] - x[a:b].mean(axis=0)) ** 2).sum())
        for a, b in zip(starts, bkps, strict=True)
    )
    return cost + penalty * len(bkps)


def brute_force(x: np.ndarray, penalty: float, min_size: int) -> float:
    """Optimal partitioning without pruning, O(n²): the definition of the optimum."""
    n = len(x)
    best = np.full(n + 1, np.inf)
    best[0] = 0.0
    for end in range(min_size, n + 1):
        for start in [0, *range(min_size, end - min_size + 1)]:
            seg = x[start:end]
            c = best[start] + float(((seg - seg.mean(axis=0)) ** 2).sum()) + penalty
            best[end] = min(best[end], c)
    return float(best[n])


def ruptures_bkps(x: np.ndarray, penalty: float, min_size: int) -> list[int]:
    return rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(x).predict(pen=penalty)


def realish(n: int, seed: int, shifts: int = 3) -> np.ndarray:
    """Hourly greenhouse-like climate: day/night cycle, AR(1) noise, a few regime shifts."""
    rng = np.random.default_rng(seed)
    hours = np.arange(n)
    day = np.sin(2 * np.pi * (hours % 24) / 24)
    level = np.zeros((n, 3))
    for at in np.sort(rng.choice(np.arange(24, n - 24), size=shifts, replace=False)):
        level[at:] += rng.normal(0, 1.5, size=3)
    noise = np.zeros((n, 3))
    for i in range(1, n):
        noise[i] = 0.8 * noise[i - 1] + rng.normal(0, 0.3, size=3)
    base = np.array([20.0, 800.0, 75.0])
    scale = np.array([1.5, 150.0, 6.0])
    x = base + scale * (level + np.outer(day, [1.0, -0.5, -0.8]) + noise)
    return (x - x.mean(axis=0)) / x.std(axis=0)


SYNTHETIC = {
    "steps_1d": lambda rng: np.repeat(rng.normal(0, 2, 6), 40) + rng.normal(0, 1, 240),
    "random_walk": lambda rng: np.cumsum(rng.normal(0, 1, 200)),
    "heavy_tails_3d": lambda rng: (
        np.repeat(rng.normal(0, 1, (5, 3)), 50, axis=0) + rng.standard_t(2, (250, 3))
    ),
    "constant": lambda rng: np.zeros(120),
    "trend": lambda rng: np.linspace(0, 5, 150) + rng.normal(0, 0.3, 150),
}


@pytest.mark.parametrize("seed", range(40))
def test_pelt_is_the_exact_optimum_on_small_inputs(seed):
    rng = np.random.default_rng(seed)
    n, min_size = int(rng.integers(6, 40)), int(rng.integers(1, 6))
    x = np.cumsum(rng.normal(size=(n, 2)), axis=0) + rng.normal(size=(n, 2))
    penalty = float(rng.uniform(0.5, 15))
    bkps = pelt_l2(x, penalty, min_size)
    assert bkps[-1] == n
    assert all(b - a >= min_size for a, b in zip([0, *bkps[:-1]], bkps, strict=True))
    assert penalised_l2(x, bkps, penalty) == pytest.approx(brute_force(x, penalty, min_size))


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
@pytest.mark.parametrize("min_size", [2, 5, 24])
def test_never_worse_than_ruptures_on_synthetic_signals(name, min_size):
    x = SYNTHETIC[name](np.random.default_rng(11))
    for penalty in (1.0, 10.0, 3 * 2 * np.log(len(x))):
        ours = penalised_l2(x, pelt_l2(x, penalty, min_size), penalty)
        theirs = penalised_l2(x, ruptures_bkps(x, penalty, min_size), penalty)
        assert ours <= theirs + 1e-9 * max(1.0, abs(theirs))


@pytest.mark.parametrize("seed", range(4))
def test_never_worse_than_ruptures_on_realish_climate(seed):
    x = realish(24 * 8, seed)
    for penalty, min_size in ((3 * 4 * np.log(len(x)), 24), (5.0, 6), (20.0, 12)):
        ours = penalised_l2(x, pelt_l2(x, penalty, min_size), penalty)
        theirs = penalised_l2(x, ruptures_bkps(x, penalty, min_size), penalty)
        assert ours <= theirs + 1e-9 * max(1.0, abs(theirs))


def test_strictly_better_than_ruptures_where_its_min_size_pruning_misses_the_optimum():
    # Found by random search: ruptures drops candidate 8 at step 15 although 15
    # cannot end a segment before 22 (min_size 7), and ends at a worse segmentation.
    x = np.array(
        [
            *[-0.61, 1.19, 0.55, -0.12, -0.04, 0.87, 1.63, 1.0, 3.31, -0.68, 4.02, 4.97, 3.76],
            *[4.08, 2.37, -0.94, 0.19, 2.16, 3.45, 1.85, 7.54, 0.28, 3.15, 3.85, 0.17, -1.64],
        ]
    )
    penalty, min_size = 0.35311427972838494, 7
    ours = pelt_l2(x, penalty, min_size)
    theirs = ruptures_bkps(x, penalty, min_size)
    assert ours == [8, 15, 26] and theirs == [10, 19, 26]
    assert penalised_l2(x, ours, penalty) < penalised_l2(x, theirs, penalty) - 1.0
    assert penalised_l2(x, ours, penalty) == pytest.approx(brute_force(x, penalty, min_size))


def test_speed_sanity_prefix_sums_versus_ruptures(capsys):
    """Prints timings only (no assertion on time): run with -s to see them."""
    rng = np.random.default_rng(3)
    for n in (500, 2000):
        x = np.repeat(rng.normal(0, 1, (10, 3)), n // 10, axis=0) + rng.normal(0, 1, (n, 3))
        penalty = 3 * 4 * np.log(n)
        t = time.perf_counter()
        ours = pelt_l2(x, penalty, 24)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        theirs = ruptures_bkps(x, penalty, 24)
        t_theirs = time.perf_counter() - t
        with capsys.disabled():
            print(
                f"\nPELT l2 n={n} d=3 min_size=24: ours {t_ours:.3f} s, ruptures {t_theirs:.3f} s"
            )
        assert penalised_l2(x, ours, penalty) <= penalised_l2(x, theirs, penalty) + 1e-6


# --- detect_changepoints on a Grid -------------------------------------------------


def climate_grid(days: int, shift_at_hour: int | None, sites: tuple[str, ...] = ("a",)) -> Grid:
    """Hourly grid from T0 - 7 d: air temperature, CO2, RH with a day cycle and one shift."""
    n = 24 * days
    rng = np.random.default_rng(5)
    hours = np.arange(n)
    day = np.sin(2 * np.pi * (hours % 24) / 24)
    step = np.zeros(n) if shift_at_hour is None else (hours >= shift_at_hour).astype(float)
    air = 20 + 2 * day + 4 * step + rng.normal(0, 0.3, n)
    co2 = 700 - 100 * day - 250 * step + rng.normal(0, 20, n)
    rh = 80 - 5 * day + 8 * step + rng.normal(0, 1, n)
    value = np.broadcast_to(np.stack([air, co2, rh]), (len(sites), 3, n)).copy()
    return Grid(
        sites=sites,
        signals=("air_temp_c", "co2_ppm", "rh_percent"),
        start=np.datetime64(int((T0 - timedelta(days=7)).timestamp()), "s"),
        step=HOUR,
        value=value,
        count=np.full(value.shape, 12, np.int32),
        coverage=np.ones(value.shape),
        filled=np.zeros(value.shape, bool),
    )


def test_a_regime_shift_inside_the_window_is_found_at_its_hour():
    # grid: 7 d look-back, 2 d window, 1 d after; shift at 06:00 on day 1 of the window
    g = climate_grid(10, shift_at_hour=24 * 8 + 6)
    r = detect_changepoints(g, T0, T0 + timedelta(days=2))
    assert [(c.site, c.time) for c in r.changepoints] == [("a", T0 + timedelta(days=1, hours=6))]
    cp = r.changepoints[0]
    assert cp.signals == ("air_temp_c", "co2_ppm", "rh_percent")
    assert cp.cost_gain > r.penalty["a"]
    assert r.notes == {}


def test_a_shift_late_in_the_window_is_seen_thanks_to_the_data_after_it():
    g = climate_grid(10, shift_at_hour=24 * 8 + 20)  # 4 h before the window ends
    r = detect_changepoints(g, T0, T0 + timedelta(days=2))
    assert [c.time for c in r.changepoints] == [T0 + timedelta(days=1, hours=20)]
    blind = detect_changepoints(g, T0, T0 + timedelta(days=2), lookahead=timedelta(0))
    assert blind.changepoints == ()


def test_changepoints_in_the_look_back_belong_to_an_earlier_job():
    g = climate_grid(10, shift_at_hour=24 * 3)  # inside the look-back only
    r = detect_changepoints(g, T0, T0 + timedelta(days=2))
    assert r.changepoints == ()
    earlier = detect_changepoints(g, T0 - timedelta(days=5), T0 - timedelta(days=3))
    assert [c.time for c in earlier.changepoints] == [T0 - timedelta(days=4)]


def test_a_steady_climate_has_no_changepoints_and_no_note():
    r = detect_changepoints(climate_grid(10, shift_at_hour=None), T0, T0 + timedelta(days=2))
    assert r.changepoints == () and r.notes == {}


def test_signals_without_enough_coverage_are_left_out():
    g = climate_grid(10, shift_at_hour=24 * 8 + 6)
    g.value[0, 1, :] = np.nan  # CO2 never measured (as at KnudJepsen)
    g.value[0, 2, 1::3] = np.nan  # RH two thirds covered: still used, rows skipped
    r = detect_changepoints(g, T0, T0 + timedelta(days=2))
    assert r.signals["a"] == ("air_temp_c", "rh_percent")
    assert [c.time for c in r.changepoints] == [T0 + timedelta(days=1, hours=6)]


def test_sparse_sites_get_a_note_and_no_invented_eras_and_silent_sites_no_note():
    g = climate_grid(10, shift_at_hour=24 * 8 + 6, sites=("dense", "sparse", "empty", "dark"))
    g.value[1, 1, :] = np.nan  # no CO2
    g.value[1, 0, 140:] = np.nan  # air temperature in the first 140 of 240 hours,
    g.value[1, 2, :110] = np.nan  # RH in the last 130: both >= 50 %, but 30 h jointly
    g.value[2, :, :] = np.nan
    g.value[3, :, 24 * 7 :] = np.nan  # data only in the look-back
    r = detect_changepoints(g, T0, T0 + timedelta(days=2))
    assert {c.site for c in r.changepoints} == {"dense"}
    assert set(r.notes) == {"sparse", "dark"}  # "empty" logged nothing: nothing to explain
    assert "only 30 of 240" in r.notes["sparse"] and "48" in r.notes["sparse"]
    assert "own window" in r.notes["dark"]


def test_a_grid_without_regime_signals_is_noted():
    g = climate_grid(10, shift_at_hour=None)
    g = Grid(g.sites, ("x", "y", "z"), g.start, g.step, g.value, g.count, g.coverage, g.filled)
    r = detect_changepoints(g, T0, T0 + timedelta(days=2))
    assert r.changepoints == () and "none of" in r.notes["a"]


def test_default_min_size_is_one_day_of_buckets():
    assert default_min_size(HOUR) == 24
    assert default_min_size(np.timedelta64(15, "m")) == 96
    assert default_min_size(np.timedelta64(1, "D")) == 2


# --- the changepoints table and the eras view (migration 0002) -----------------------


def put_resampled(conn, site: str, start: datetime, values: dict[str, list[float]], job: int):
    with conn.cursor() as cur:
        for signal, series in values.items():
            cur.executemany(
                "INSERT INTO resampled (site, time, signal, value, count, coverage, filled, job_id)"
                " VALUES (%s, %s, %s, %s, 12, 1.0, false, %s)",
                [(site, start + timedelta(hours=i), signal, v, job) for i, v in enumerate(series)],
            )


def put_changepoint(conn, site: str, at: datetime, job: int) -> None:
    conn.execute(
        "INSERT INTO changepoints (site, time, cost_gain, signals, job_id)"
        " VALUES (%s, %s, 99.0, %s, %s)",
        (site, at, ["air_temp_c", "rh_percent"], job),
    )


def test_eras_view_chains_changepoints_across_job_boundaries(conn):
    # two daily jobs wrote the grid; each found one changepoint in its own day
    put_resampled(conn, "a", T0, {"air_temp_c": [20.0] * 6 + [24.0] * 30 + [18.0] * 12}, 1)
    put_resampled(conn, "a", T0, {"rh_percent": [70.0] * 48, "co2_ppm": [400.0] * 48}, 1)
    put_changepoint(conn, "a", T0 + timedelta(hours=6), job=1)
    put_changepoint(conn, "a", T0 + timedelta(hours=36), job=2)
    put_resampled(conn, "quiet", T0, {"air_temp_c": [15.0, 17.0]}, 1)
    eras = conn.execute(
        "SELECT site, era_start, era_end, duration, mean_air_temp_c, mean_co2_ppm,"
        " mean_rh_percent FROM eras ORDER BY site, era_start"
    ).fetchall()
    h = timedelta(hours=1)
    assert eras == [
        ("a", T0, T0 + 6 * h, 6 * h, 20.0, 400.0, 70.0),  # first era: from the first data
        ("a", T0 + 6 * h, T0 + 36 * h, 30 * h, 24.0, 400.0, 70.0),
        ("a", T0 + 36 * h, None, None, 18.0, 400.0, 70.0),  # last era: still open
        ("quiet", T0, None, None, 16.0, None, None),  # data, no changepoint: one open era
    ]


def test_a_changepoint_on_the_first_bucket_does_not_make_an_empty_first_era(conn):
    put_resampled(conn, "a", T0, {"air_temp_c": [20.0, 22.0]}, 1)
    put_changepoint(conn, "a", T0, job=1)
    eras = conn.execute("SELECT site, era_start, era_end FROM eras").fetchall()
    assert eras == [("a", T0, None)]


def test_one_changepoint_per_site_and_time(conn):
    put_changepoint(conn, "a", T0, job=1)
    with pytest.raises(psycopg.errors.UniqueViolation):
        put_changepoint(conn, "a", T0, job=2)


def test_migration_0002_downgrades_cleanly(empty_db_url):
    migrate(empty_db_url, "head")
    alembic(empty_db_url, "downgrade", "0001")
    with psycopg.connect(empty_db_url) as c:
        names = {
            r[0]
            for r in c.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert {"readings", "jobs"} <= names
    assert not {"resampled", "changepoints", "eras"} & names
    migrate(empty_db_url, "head")  # and up again


def alembic(url: str, *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alembic", *args],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
