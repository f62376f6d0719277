"""Benchmark 3: stage 3 (features) throughput on the real data, in feature values per
second: NumPy batch against tsfresh on the same windows, one core against two, and
batch sizes of 1, 8, 64 and 512 one-day jobs.

    python -m bench.features [--batches 1 8 64 512] [--tsfresh-windows 300]

The grid is built once from the whole ../shared/data (stages 1 and 2, as the consumer
builds it); only extract_features is timed. tsfresh runs its public extract_features on
one core (n_jobs=0) with the same calculators and parameters on each window's valid
values, which is what stage 3's tsfresh-named features are defined on.
"""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bench import common, data

common.single_threaded_blas()

from greenhouse_queue.consumer.pipeline import PipelineConfig  # noqa: E402
from greenhouse_queue.consumer.stages.features import extract_features, tsfresh_features  # noqa: E402
from greenhouse_queue.consumer.stages.windows import bucket_index, samples_per_window, window_starts  # noqa: E402

TSFRESH_PARAMETERS: dict[str, Any] = {
    "mean": None,
    "median": None,
    "standard_deviation": None,
    "variance": None,
    "minimum": None,
    "maximum": None,
    "quantile": [{"q": q} for q in (0.05, 0.25, 0.75, 0.95)],
    "skewness": None,
    "kurtosis": None,
    "abs_energy": None,
    "absolute_sum_of_changes": None,
    "mean_change": None,
    "mean_abs_change": None,
    "count_above_mean": None,
    "count_below_mean": None,
    "longest_strike_above_mean": None,
    "longest_strike_below_mean": None,
    "linear_trend": [{"attr": "slope"}, {"attr": "intercept"}],
    "autocorrelation": [{"lag": 1}],
    "cid_ce": [{"normalize": True}],
    # tsfresh's m is one number for all windows; ours is each window's mean. Same cost.
    "number_crossing_m": [{"m": 0}],
}


def build_grid(url: str, config: PipelineConfig) -> tuple[Any, dict[str, str], float]:
    """Stages 1 and 2 over the whole enqueue range, as one grid."""
    import psycopg

    from greenhouse_queue.consumer.inputs import read_inputs
    from greenhouse_queue.consumer.stages.aggregate import aggregate
    from greenhouse_queue.consumer.stages.gapfill import fill_gaps

    margin = config.max_gap + config.resolution
    start = datetime.combine(data.FIRST_DAY, datetime.min.time(), UTC) - margin
    end = (
        datetime.combine(data.LAST_DAY, datetime.min.time(), UTC)
        + timedelta(days=1)
        + config.windows.width
        + margin
    )
    began = time.perf_counter()
    with psycopg.connect(url) as conn, conn.transaction():
        inputs = read_inputs(conn, start, end, config.resolution)
    grid = fill_gaps(aggregate(inputs, start, end, config.resolution), config.max_gap)
    return grid, inputs.price_area, time.perf_counter() - began


def days() -> list[tuple[np.datetime64, np.datetime64]]:
    first = np.datetime64(data.FIRST_DAY.isoformat(), "s")
    n = (data.LAST_DAY - data.FIRST_DAY).days + 1
    day = np.timedelta64(86400, "s")
    return [(first + i * day, first + (i + 1) * day) for i in range(n)]


def run_batches(grid: Any, config: PipelineConfig, price_area: dict, batches: list) -> tuple:
    values = 0
    began = time.perf_counter()
    for owned in batches:
        values += len(extract_features(grid, config.windows, owned, price_area=price_area))
    return values, time.perf_counter() - began


def chunk(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --------------------------------------------------------------------------- cores

_SHARED: dict[str, Any] = {}


def _worker(part: list, go: Any, out: Any) -> None:
    go.wait()
    began = time.perf_counter()
    values, _ = run_batches(_SHARED["grid"], _SHARED["config"], _SHARED["area"], part)
    out.put((values, began, time.perf_counter()))


def parallel(processes: int, batches: list) -> dict[str, float]:
    """``processes`` forked workers share the batches; wall time from go to the last."""
    ctx = mp.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(batches[i::processes], go, out)) for i in range(processes)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)
    t0 = time.perf_counter()
    go.set()
    reports = [out.get() for _ in procs]
    for p in procs:
        p.join()
    seconds = max(r[2] for r in reports) - t0
    values = sum(r[0] for r in reports)
    return {"values": values, "seconds": seconds, "values_per_second": values / seconds}


# --------------------------------------------------------------------------- tsfresh


def sample_windows(grid: Any, config: PipelineConfig, n: int) -> np.ndarray:
    """``n`` site-signal windows with enough valid values, evenly spread over the data."""
    spec = config.windows
    starts = window_starts(days(), spec)
    length = samples_per_window(grid, spec)
    idx = bucket_index(grid, starts, length)
    padded = np.concatenate([grid.value, np.full((*grid.value.shape[:2], 1), np.nan)], axis=2)
    rows = padded[:, :, idx].reshape(-1, length)
    rows = rows[(~np.isnan(rows)).sum(axis=1) >= spec.min_valid]
    pick = np.linspace(0, len(rows) - 1, min(n, len(rows))).astype(int)
    return np.ascontiguousarray(rows[pick])


def time_tsfresh(x: np.ndarray) -> dict[str, float]:
    import pandas as pd
    from tsfresh import extract_features as tsfresh_extract

    ids, times, values = [], [], []
    for i, row in enumerate(x):
        valid = row[~np.isnan(row)]
        ids.append(np.full(len(valid), i))
        times.append(np.arange(len(valid)))
        values.append(valid)
    frame = pd.DataFrame(
        {"id": np.concatenate(ids), "time": np.concatenate(times), "value": np.concatenate(values)}
    )
    began = time.perf_counter()
    result = tsfresh_extract(
        frame,
        column_id="id",
        column_sort="time",
        default_fc_parameters=TSFRESH_PARAMETERS,
        n_jobs=0,
        disable_progressbar=True,
    )
    seconds = time.perf_counter() - began
    values = int(result.notna().to_numpy().sum())
    return {"values": values, "seconds": seconds, "values_per_second": values / seconds}


def time_ours_tsfresh_set(x: np.ndarray, min_valid: int, min_seconds: float = 1.0) -> dict:
    """Our tsfresh-named kernel on the same windows, repeated for a measurable time."""
    loops, values, began = 0, 0, time.perf_counter()
    with np.errstate(all="ignore"):
        while True:
            out = tsfresh_features(np, x, min_valid)
            values += int(sum((~np.isnan(v)).sum() for v in out.values()))
            loops += 1
            if time.perf_counter() - began >= min_seconds:
                break
    seconds = time.perf_counter() - began
    return {
        "values": values,
        "seconds": seconds,
        "loops": loops,
        "values_per_second": values / seconds,
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = common.parser(__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=data.DEFAULT_DATA)
    p.add_argument(
        "--loaded-database-url",
        help="a database that already holds the loaded data (skips loading)",
    )
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 512])
    p.add_argument("--cores-batch", type=int, default=64, help="batch size for 1 vs 2 cores")
    p.add_argument("--tsfresh-windows", type=int, default=300)
    args = p.parse_args(argv)
    config = PipelineConfig()

    record: dict[str, Any] = {"benchmark": "features", "repeats": args.repeats}
    with common.server(args.database_url) as server_url:
        record["machine"] = common.machine(server_url)
        url = args.loaded_database_url
        created = None
        if url is None:
            url = created = common.fresh_database(server_url, "bench_features")
            record["load"] = data.load(url, args.data)
            print(f"  loaded {record['load']['raw_rows']:,} raw rows", flush=True)
        try:
            grid, area, grid_seconds = build_grid(url, config)
        finally:
            if created:
                common.drop_database(server_url, created)
    record["grid"] = {
        "shape": list(grid.value.shape),
        "sites": list(grid.sites),
        "signals": list(grid.signals),
        "stages_1_2_seconds": grid_seconds,
    }
    all_days = days()
    record["jobs"] = len(all_days)

    # Batch sizes, interleaved across repeats.
    runs = []
    for repeat in range(args.repeats):
        for size in args.batches:
            values, seconds = run_batches(grid, config, area, chunk(all_days, size))
            runs.append(
                {
                    "repeat": repeat,
                    "batch": size,
                    "values": values,
                    "seconds": seconds,
                    "values_per_second": values / seconds,
                }
            )
            print(
                f"  run {repeat + 1} batch {size:4d}: {values / seconds:12,.0f} values/s",
                flush=True,
            )
    record["batch_runs"] = runs

    # One core against two (separate processes, the grid shared by fork).
    _SHARED.update(grid=grid, config=config, area=area)
    batches = chunk(all_days, args.cores_batch)
    core_runs = []
    for repeat in range(args.repeats):
        for processes in (1, 2):
            figures = parallel(processes, batches)
            core_runs.append({"repeat": repeat, "processes": processes, **figures})
            print(
                f"  run {repeat + 1} {processes} process(es): "
                f"{figures['values_per_second']:12,.0f} values/s",
                flush=True,
            )
    record["core_runs"] = core_runs

    # tsfresh against ours on the same windows.
    x = sample_windows(grid, config, args.tsfresh_windows)
    ts_runs = []
    for repeat in range(args.repeats):
        theirs = time_tsfresh(x)
        ours = time_ours_tsfresh_set(x, config.windows.min_valid)
        ts_runs.append(
            {
                "repeat": repeat,
                "tsfresh": theirs,
                "ours": ours,
                "ratio": ours["values_per_second"] / theirs["values_per_second"],
            }
        )
        print(
            f"  run {repeat + 1} tsfresh {theirs['values_per_second']:10,.0f} values/s, "
            f"ours {ours['values_per_second']:12,.0f} values/s",
            flush=True,
        )
    record["tsfresh_runs"] = ts_runs
    record["tsfresh_windows"] = len(x)

    summary = summarise(record, args.batches)
    record["summary"] = summary
    path = common.write_json("features", record, args.out)
    print()
    print(
        f"Stage 3 on the real data: {len(all_days)} one-day jobs, grid {grid.value.shape}, "
        f"medians of {args.repeats} runs"
    )
    print(
        common.table(
            ["batch (jobs)", "values/s", "x batch 1"],
            [[b["batch"], b["values_per_second"], b["vs_batch_1"]] for b in summary["batches"]],
        )
    )
    print()
    c = summary["cores"]
    print(
        common.table(
            ["processes", "values/s", "x one core"],
            [[1, c["one"], 1.0], [2, c["two"], c["ratio"]]],
        )
    )
    print()
    t = summary["tsfresh"]
    print(
        common.table(
            ["on the same windows", "values/s", "x tsfresh"],
            [
                ["tsfresh extract_features (1 core)", t["tsfresh"], 1.0],
                ["ours, tsfresh-named set (1 core)", t["ours"], t["ratio"]],
                [
                    f"ours, all features, batch {summary['best_batch']} (1 core)",
                    summary["best_values_per_second"],
                    summary["best_vs_tsfresh"],
                ],
            ],
        )
    )
    print(f"JSON: {path}")
    return 0


def summarise(record: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    runs = record["batch_runs"]
    med = {
        s: common.median([r["values_per_second"] for r in runs if r["batch"] == s]) for s in sizes
    }
    first = sizes[0]
    ratios = {
        s: common.median(
            [
                r["values_per_second"] / q["values_per_second"]
                for r in runs
                if r["batch"] == s
                for q in runs
                if q["batch"] == first and q["repeat"] == r["repeat"]
            ]
        )
        for s in sizes
    }
    cores = record["core_runs"]
    one = [r for r in cores if r["processes"] == 1]
    two = {r["repeat"]: r for r in cores if r["processes"] == 2}
    ts = record["tsfresh_runs"]
    best = max(sizes, key=lambda s: med[s])
    tsfresh_vps = common.median([r["tsfresh"]["values_per_second"] for r in ts])
    return {
        "batches": [
            {"batch": s, "values_per_second": med[s], "vs_batch_1": ratios[s]} for s in sizes
        ],
        "cores": {
            "one": common.median([r["values_per_second"] for r in one]),
            "two": common.median([r["values_per_second"] for r in two.values()]),
            "ratio": common.median(
                [
                    two[r["repeat"]]["values_per_second"] / r["values_per_second"]
                    for r in one
                    if r["repeat"] in two
                ]
            ),
        },
        "tsfresh": {
            "tsfresh": tsfresh_vps,
            "ours": common.median([r["ours"]["values_per_second"] for r in ts]),
            "ratio": common.median([r["ratio"] for r in ts]),
        },
        "best_batch": best,
        "best_values_per_second": med[best],
        "best_vs_tsfresh": med[best] / tsfresh_vps,
    }


if __name__ == "__main__":
    raise SystemExit(main())
