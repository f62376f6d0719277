"""``producer``: migrate the database, load raw data, enqueue windows, watch progress."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from greenhouse_queue import queue
from greenhouse_queue.cli import USAGE_ERROR, UsageError, positive_int, run_command
from greenhouse_queue.db import connect, database_url
from greenhouse_queue.durations import format_duration
from greenhouse_queue.producer import status as status_report
from greenhouse_queue.producer.windows import parse_date, parse_window, windows
from greenhouse_queue.schema import require_current

PROGRAM = "producer"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_command(PROGRAM, lambda: args.handler(args))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROGRAM, description=__doc__)
    commands = top.add_subparsers(dest="command", required=True)

    migrate = commands.add_parser("migrate", help="apply the migrations (alembic upgrade head)")
    migrate.set_defaults(handler=run_migrate)

    load = commands.add_parser("load", help="load raw exports, weather and spot prices")
    load.add_argument("paths", nargs="+", type=Path, help="files to load")
    load.add_argument("--format", dest="fmt", help="force a format instead of detecting it")
    load.add_argument("--skip-bad-rows", action="store_true", help="load good rows, report bad")
    load.add_argument("--tz", help="time zone of the file's timestamps (default: the format's)")
    load.add_argument("--location", help="weather location for Open-Meteo files")
    load.add_argument(
        "--replace",
        action="store_true",
        help="the files' values overwrite stored ones (a corrected export); counts the changes",
    )
    load.set_defaults(handler=run_load)

    sources = commands.add_parser("sources", help="the loaded files, newest first")
    sources.add_argument("--limit", type=positive_int, default=50, help="how many to list")
    sources.set_defaults(handler=run_sources)

    enqueue = commands.add_parser("enqueue", help="put one job per window into the queue")
    enqueue.add_argument("--from", dest="first", required=True, type=_arg(parse_date, "--from"))
    enqueue.add_argument("--to", dest="last", required=True, type=_arg(parse_date, "--to"))
    enqueue.add_argument("--window", default="1d", type=_arg(parse_window), help="1d, 6h, 7d, ...")
    enqueue.add_argument("--priority", type=int, default=0, help="lower runs first (default 0)")
    enqueue.add_argument("--max-attempts", type=positive_int, default=5)
    enqueue.set_defaults(handler=run_enqueue)

    for name, handler, text in (
        ("cancel", run_cancel, "cancel queued jobs inside a date range"),
        ("retry", run_retry, "queue failed jobs inside a date range again"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--from", dest="first", required=True, type=_arg(parse_date, "--from"))
        sub.add_argument("--to", dest="last", required=True, type=_arg(parse_date, "--to"))
        sub.set_defaults(handler=handler)

    status = commands.add_parser("status", help="counts by status, progress and failures")
    status.add_argument("--failures", type=int, default=10, help="how many failures to list")
    status.set_defaults(handler=run_status)
    return top


def _arg(parse: Callable[..., Any], *extra: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text, *extra)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


def _connect() -> Any:
    conn = connect(database_url())
    require_current(conn)
    return conn


def run_migrate(args: argparse.Namespace) -> int:
    from greenhouse_queue.schema import upgrade

    upgrade(database_url())  # starts the embedded server first when DATABASE_URL is unset
    print("database migrated to head")
    return 0


def run_load(args: argparse.Namespace) -> int:
    from greenhouse_queue.producer.load import LoadError, load_files

    with _connect() as conn:
        try:
            reports = load_files(
                conn,
                args.paths,
                fmt=args.fmt,
                skip_bad_rows=args.skip_bad_rows,
                tz=args.tz,
                location=args.location,
                replace=args.replace,
            )
        except LoadError as error:
            print(f"{PROGRAM}: error: {error}", file=sys.stderr)
            return 1
    for report in reports:
        print(report)
    return 0


def run_sources(args: argparse.Namespace) -> int:
    from greenhouse_queue.producer.provenance import render_sources

    with _connect() as conn:
        print(render_sources(conn, limit=args.limit))
    return 0


def run_enqueue(args: argparse.Namespace) -> int:
    if args.first > args.last:
        print(
            f"{PROGRAM}: error: --from {args.first} is after --to {args.last}: "
            "the range must not run backwards",
            file=sys.stderr,
        )
        return USAGE_ERROR
    wanted = windows(args.first, args.last, args.window)
    with _connect() as conn:
        try:
            result = queue.enqueue(
                conn, wanted, priority=args.priority, max_attempts=args.max_attempts
            )
        except queue.OverlappingWindows as error:
            print(f"{PROGRAM}: error: {error}", file=sys.stderr)
            return 1
    print(
        f"enqueued {result.added} new jobs, {result.already_present} already present "
        f"({len(wanted)} windows of {format_duration(args.window)} "
        f"from {args.first} to {args.last})"
    )
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    start, end = _span(args)
    with _connect() as conn:
        print(f"cancelled {queue.cancel(conn, start, end)} queued jobs")
    return 0


def run_retry(args: argparse.Namespace) -> int:
    start, end = _span(args)
    with _connect() as conn:
        print(f"queued {queue.retry_failed(conn, start, end)} failed jobs again")
    return 0


def _span(args: argparse.Namespace) -> tuple[Any, Any]:
    try:
        days = windows(args.first, args.last, parse_window("1d"))
    except ValueError as error:  # --from after --to
        raise UsageError(str(error)) from None
    return days[0][0], days[-1][1]


def run_status(args: argparse.Namespace) -> int:
    with _connect() as conn:
        print(status_report.render(conn, failures=args.failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
