"""``consumer``: claim jobs and run the four stages on them, on the GPU when there is one."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta
from pathlib import Path

from greenhouse_queue.cli import DATABASE_URL_HELP, UsageError, positive_int, run_command
from greenhouse_queue.consumer.pipeline import PipelineConfig
from greenhouse_queue.consumer.session import synchronous_commit
from greenhouse_queue.consumer.stages.eras import PENALTY_FACTOR
from greenhouse_queue.consumer.stages.features import DEFAULT_FEATURE_SET, FEATURE_SETS
from greenhouse_queue.consumer.stages.windows import WindowSpec
from greenhouse_queue.consumer.worker import Worker, WorkerConfig, health_check
from greenhouse_queue.consumer.xp import DEVICES, array_module
from greenhouse_queue.db import connect, database_url
from greenhouse_queue.durations import parse_duration
from greenhouse_queue.log import setup as setup_logging
from greenhouse_queue.queries import query
from greenhouse_queue.queue import Backoff
from greenhouse_queue.schema import require_current
from greenhouse_queue.settings import QueueTiming, default_worker_name, env_float, env_int

PROGRAM = "consumer"
DEFAULT_HEALTH_FILE = "/tmp/consumer-alive"


def main(argv: list[str] | None = None) -> int:
    # Inside run_command: the parser's defaults read the environment (CONSUMER_BATCH).
    return run_command(PROGRAM, lambda: _dispatch(parser().parse_args(argv)))


def _dispatch(args: argparse.Namespace) -> int:
    return int(args.handler(args))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Claim jobs and run the four stages on them, on the GPU when there is one.",
        epilog=DATABASE_URL_HELP,
    )
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run",
        help="claim and process jobs",
        description="Claim and process jobs until stopped.",
        epilog=DATABASE_URL_HELP,
    )
    run.add_argument(
        "--drain",
        action="store_true",
        help="exit 0 once nothing is runnable, waiting for retries and running jobs "
        "(default: off, wait for new jobs)",
    )
    run.add_argument(
        "--batch",
        type=positive_int,
        default=env_int("CONSUMER_BATCH", 8),
        metavar="N",
        help="jobs claimed at once and computed as one batch (CONSUMER_BATCH, default 8)",
    )
    run.add_argument(
        "--device",
        choices=DEVICES,
        default=os.environ.get("CONSUMER_DEVICE", "auto"),
        help="auto uses CuPy when it finds a GPU (CONSUMER_DEVICE, default auto)",
    )
    run.add_argument(
        "--worker",
        default=None,
        metavar="NAME",
        help="name recorded on claimed jobs (WORKER_NAME, default host:pid)",
    )
    run.add_argument(
        "--lease",
        type=float,
        default=None,
        metavar="SECONDS",
        help="how long a claim lives without a heartbeat (LEASE_SECONDS, default 30)",
    )
    run.add_argument(
        "--heartbeat",
        type=float,
        default=None,
        metavar="SECONDS",
        help="lease renewal interval, at most half the lease (HEARTBEAT_SECONDS, default 10)",
    )
    durations = "a count and a unit m, h or d"
    run.add_argument(
        "--resolution",
        default="1h",
        metavar="DURATION",
        help=f"stage 1 grid step, {durations} (default 1h)",
    )
    run.add_argument(
        "--max-gap",
        default="2h",
        metavar="DURATION",
        help=f"longest gap stage 2 interpolates, {durations} (default 2h)",
    )
    run.add_argument(
        "--window-width",
        default="24h",
        metavar="DURATION",
        help=f"feature window width, {durations} (default 24h)",
    )
    run.add_argument(
        "--window-step",
        default="6h",
        metavar="DURATION",
        help=f"feature window step, {durations} (default 6h)",
    )
    run.add_argument(
        "--min-valid",
        type=positive_int,
        default=12,
        metavar="N",
        help="valid buckets a window needs for per-signal features (default 12)",
    )
    run.add_argument(
        "--era-lookback",
        default="7d",
        metavar="DURATION",
        help=f"history before the job's window that stage 4 segments, {durations} (default 7d)",
    )
    run.add_argument(
        "--era-penalty-factor",
        type=float,
        default=PENALTY_FACTOR,
        metavar="X",
        help=f"PELT penalty = X * (d + 1) * ln n (default {PENALTY_FACTOR})",
    )
    run.add_argument(
        "--feature-set",
        default=os.environ.get("FEATURE_SET", DEFAULT_FEATURE_SET),
        metavar="NAME",
        help=f"named feature set: {', '.join(FEATURE_SETS)} "
        f"(FEATURE_SET, default {DEFAULT_FEATURE_SET})",
    )
    run.add_argument(
        "--metrics-port",
        type=positive_int,
        default=env_int("METRICS_PORT", 0) or None,
        metavar="PORT",
        help="serve Prometheus metrics on http://0.0.0.0:PORT/metrics (METRICS_PORT, default off)",
    )
    run.set_defaults(handler=run_worker)

    health = commands.add_parser(
        "health",
        help="exit 0 if this host's worker loop is alive",
        description="Exit 0 if this host's worker loop reported recently and the database "
        "answers (the containers' HEALTHCHECK).",
        epilog=DATABASE_URL_HELP,
    )
    health.add_argument(
        "--max-age",
        type=float,
        default=None,
        metavar="SECONDS",
        help="oldest acceptable loop report (default 30, or 3 x the longer of "
        "POLL_SECONDS and HEARTBEAT_SECONDS if that is more)",
    )
    health.set_defaults(handler=run_health)
    return top


def _duration(text: str, option: str) -> timedelta:
    try:
        return parse_duration(text, option)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _timing(args: argparse.Namespace) -> QueueTiming:
    env = QueueTiming.from_env()
    timing = QueueTiming(
        lease_seconds=args.lease or env.lease_seconds,
        heartbeat_seconds=args.heartbeat or env.heartbeat_seconds,
        poll_seconds=env.poll_seconds,
    )
    try:
        timing.validate()
    except ValueError as error:
        raise UsageError(str(error)) from None
    return timing


def _pipeline(args: argparse.Namespace) -> PipelineConfig:
    try:
        windows = WindowSpec(
            width=_duration(args.window_width, "--window-width"),
            step=_duration(args.window_step, "--window-step"),
            min_valid=args.min_valid,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.feature_set not in FEATURE_SETS:  # argparse does not check a default from the env
        raise UsageError(
            f"--feature-set {args.feature_set!r} is not a feature set; "
            f"choose one of {', '.join(FEATURE_SETS)}"
        )
    return PipelineConfig(
        resolution=_duration(args.resolution, "--resolution"),
        max_gap=_duration(args.max_gap, "--max-gap"),
        windows=windows,
        era_lookback=_duration(args.era_lookback, "--era-lookback"),
        era_penalty_factor=args.era_penalty_factor,
        feature_set=args.feature_set,
    )


def run_worker(args: argparse.Namespace) -> int:
    log = setup_logging(PROGRAM)
    timing, pipeline = _timing(args), _pipeline(args)
    try:
        xp, device = array_module(args.device)
        synchronous_commit()
    except (RuntimeError, ValueError) as error:
        raise UsageError(str(error)) from None
    url = database_url()
    with connect(url) as conn:
        require_current(conn)
    config = WorkerConfig(
        url=url,
        name=args.worker or default_worker_name(),
        batch=args.batch,
        drain=args.drain,
        timing=timing,
        retry=Backoff(
            base_seconds=env_float("RETRY_BASE_SECONDS", 5.0),
            cap_seconds=env_float("RETRY_MAX_SECONDS", 300.0),
        ),
        pipeline=pipeline,
        health_file=Path(os.environ.get("CONSUMER_HEALTH_FILE", DEFAULT_HEALTH_FILE)),
    )
    observer = None
    if args.metrics_port:
        from greenhouse_queue.consumer import metrics

        observer = metrics.start(
            args.metrics_port, url, device, env_float("METRICS_REFRESH_SECONDS", 15.0)
        )
    worker = Worker(config, xp, device, observer)
    worker.install_signal_handlers()
    log.debug("configuration: %s", config)
    return worker.run()


def run_health(args: argparse.Namespace) -> int:
    timing = QueueTiming.from_env()
    max_age = args.max_age or max(30.0, 3 * max(timing.poll_seconds, timing.heartbeat_seconds))
    problem = health_check(
        Path(os.environ.get("CONSUMER_HEALTH_FILE", DEFAULT_HEALTH_FILE)), max_age
    )
    if problem is None:
        with connect(database_url(announce=False), timeout=5) as conn:
            conn.execute(query("session", "ping"))
        print("healthy")
        return 0
    print(f"unhealthy: {problem}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
