"""Benchmark 5: stage 3 on a GPU. Checks CuPy against NumPy feature by feature (relative
error at most 1e-6 in float64) on random batches and on real windows from the shipped
sample, times the feature kernels at growing batch sizes, and reports the achieved
memory bandwidth against the device's copy bandwidth measured in the same run.

    python -m bench.gpu [--max-gb 4] [--device auto|cpu|gpu]

One run takes under 5 minutes and prints its table last. Without a GPU (or CuPy) it
runs the same code on the CPU path (NumPy against NumPy) and says so.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import common
from greenhouse_queue.consumer.stages.features import sparse_features, tsfresh_features
from greenhouse_queue.consumer.xp import array_module, to_host

LENGTH = 24  # one-day windows on the hourly grid
MIN_VALID = 12


def random_batch(rows: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(20.0, 5.0, size=(rows, LENGTH)).cumsum(axis=1) / 4
    x[rng.random(x.shape) < 0.15] = np.nan
    return x


def real_batch() -> np.ndarray | None:
    """One-day windows of the shipped sample's readings, hourly means; None if unreadable."""
    try:
        from greenhouse_queue.producer.load import read_file

        sample = common.REPO / "sample"
        frames = [read_file(p)["readings"] for p in sorted(sample.rglob("*.csv"))]
        frames = [f for f in frames if len(f)]
        import pandas as pd

        raw = pd.concat(frames, ignore_index=True)
        raw = raw.assign(time=raw["time"].dt.floor("h"))
        hourly = raw.groupby(["site", "signal", "time"])["value"].mean().unstack("time")
        values = hourly.to_numpy()
        days = values.shape[1] // LENGTH
        return values[:, : days * LENGTH].reshape(-1, LENGTH)
    except Exception as error:  # the sample is optional for this benchmark
        print(f"  real batch unavailable ({type(error).__name__}: {error})")
        return None


def features(xp: Any, x: Any) -> dict[str, Any]:
    out = tsfresh_features(xp, x, MIN_VALID)
    zeros = xp.zeros(x.shape, dtype=bool)
    out.update(sparse_features(xp, x, zeros, xp.ones(x.shape), 1.0))
    return out


def parity(xp: Any, x: np.ndarray) -> dict[str, float]:
    """Worst relative error per feature of xp against NumPy on ``x``."""
    with np.errstate(all="ignore"):
        ref = features(np, x)
        dev = {k: to_host(v) for k, v in features(xp, xp.asarray(x)).items()}
    worst = {}
    for name, expected in ref.items():
        got = dev[name]
        both = ~np.isnan(expected) & ~np.isnan(got)
        if (np.isnan(expected) != np.isnan(got)).any():
            worst[name] = float("inf")
            continue
        scale = np.maximum(np.abs(expected[both]), 1e-12)
        worst[name] = float((np.abs(got[both] - expected[both]) / scale).max(initial=0.0))
    return worst


def sync(xp: Any) -> None:
    if xp is not np:
        xp.cuda.runtime.deviceSynchronize()


def copy_bandwidth(xp: Any, nbytes: int) -> float:
    """Device-to-device copy bandwidth (read + write bytes per second)."""
    a = xp.ones(nbytes // 8, dtype=xp.float64)
    b = xp.empty_like(a)
    b[...] = a
    sync(xp)
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        b[...] = a
        sync(xp)
        best = min(best, time.perf_counter() - began)
    return 2 * a.nbytes / best


def time_batch(xp: Any, rows: int, repeats: int) -> dict[str, float]:
    x = xp.asarray(random_batch(rows, seed=rows))
    with np.errstate(all="ignore"):
        features(xp, x)  # warm-up: kernels compiled, memory pool filled
        sync(xp)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            out = features(xp, x)
            sync(xp)
            times.append(time.perf_counter() - began)
    seconds = common.median(times)
    values = rows * len(out)
    return {
        "rows": rows,
        "input_gb": x.nbytes / 1e9,
        "seconds": seconds,
        "values_per_second": values / seconds,
        "input_bandwidth_gb_s": x.nbytes / seconds / 1e9,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "gpu"))
    p.add_argument("--max-gb", type=float, default=4.0, help="largest input batch (GPU)")
    p.add_argument("--cpu-max-gb", type=float, default=0.25, help="largest input batch (CPU)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    xp, device = array_module(args.device)
    on_gpu = xp is not np
    note = (
        f"GPU: {device}"
        if on_gpu
        else "NO GPU FOUND (or CuPy missing): running the CPU path, NumPy against NumPy"
    )
    print(f"  {note}", flush=True)
    record: dict[str, Any] = {
        "benchmark": "gpu",
        "machine": common.machine(),
        "device": device,
        "gpu": on_gpu,
    }
    if on_gpu:
        props = xp.cuda.runtime.getDeviceProperties(xp.cuda.Device().id)
        record["cuda"] = {
            "runtime": xp.cuda.runtime.runtimeGetVersion(),
            "memory_gb": props["totalGlobalMem"] / 1e9,
        }

    checks = {"random": random_batch(20_000, seed=1)}
    real = real_batch()
    if real is not None:
        checks["real"] = real
    record["parity"] = {name: parity(xp, x) for name, x in checks.items()}
    worst = {name: max(v.values()) for name, v in record["parity"].items()}

    copy_bw = copy_bandwidth(xp, 1 << 30 if on_gpu else 1 << 28)
    record["copy_bandwidth_gb_s"] = copy_bw / 1e9
    max_gb = args.max_gb if on_gpu else args.cpu_max_gb
    sizes, rows = [], 1024
    while rows * LENGTH * 8 <= max_gb * 1e9:
        sizes.append(rows)
        rows *= 8
    runs = []
    for rows in sizes:
        figures = time_batch(xp, rows, args.repeats)
        figures["vs_copy_bandwidth"] = figures["input_bandwidth_gb_s"] * 1e9 / copy_bw
        runs.append(figures)
        print(f"  {rows:>12,} windows: {figures['values_per_second']:14,.0f} values/s", flush=True)
    record["runs"] = runs
    path = common.write_json("gpu", record, args.out)

    print()
    print(note)
    print("Parity against NumPy (worst relative error over all features; target <= 1e-6):")
    for name, value in worst.items():
        verdict = "ok" if value <= 1e-6 else "FAILS"
        print(f"  {name:>6} batch ({len(checks[name]):,} windows): {value:.2e}  {verdict}")
    print(f"Copy bandwidth measured in this run: {copy_bw / 1e9:.1f} GB/s")
    print(
        common.table(
            ["windows", "input GB", "seconds", "values/s", "input GB/s", "x copy bw"],
            [
                [
                    r["rows"],
                    r["input_gb"],
                    r["seconds"],
                    r["values_per_second"],
                    r["input_bandwidth_gb_s"],
                    r["vs_copy_bandwidth"],
                ]
                for r in runs
            ],
        )
    )
    print(f"JSON: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
