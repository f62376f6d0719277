"""How many feature values a code change alters on the full shared data, and where.

    python -m bench.feature_changes dump --database-url URL --out new.csv
    python -m bench.feature_changes compare old.csv new.csv

``dump`` loads ../shared/data into a fresh database on URL (bench.data), enqueues its
whole range as one-day jobs, drains it with one ``consumer run --drain`` (as
bench.end_to_end does), and writes every feature value as CSV (site, window_start,
window_end, signal, feature, value), sorted; the changepoints go next to it
(``*.changepoints.csv``). Run it once on each commit to compare. ``compare`` counts the
values only one side has, and those whose value differs, per site and signal, and
prints the ten largest groups.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import Counter
from pathlib import Path

import psycopg
from psycopg import sql

from bench import common, data, end_to_end

FEATURES = (
    "SELECT site, window_start, window_end, signal, feature, value FROM features "
    "ORDER BY site, window_start, window_end, signal, feature"
)
CHANGEPOINTS = "SELECT site, time, cost_gain FROM changepoints ORDER BY site, time"


def dump(server_url: str, out: Path, prefix: str) -> None:
    url = common.fresh_database(server_url, prefix)
    try:
        load = data.load(url)
        print(f"loaded {load['raw_rows']:,} raw rows in {load['load_seconds']:.0f} s", flush=True)
        drained = end_to_end.drain(url, consumers=1, batch=8)
        print(f"{drained['feature_values']:,} feature values", flush=True)
        with psycopg.connect(url) as conn:
            for statement, path in (
                (FEATURES, out),
                (CHANGEPOINTS, out.with_suffix(".changepoints.csv")),
            ):
                copy_out = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv)").format(sql.SQL(statement))
                with path.open("wb") as f, conn.cursor().copy(copy_out) as copy:
                    for block in copy:
                        f.write(block)
    finally:
        common.drop_database(server_url, url)


def read(path: Path) -> dict[tuple[str, ...], float]:
    with path.open(newline="") as f:
        return {tuple(row[:5]): float(row[5]) if row[5] else math.nan for row in csv.reader(f)}


def compare(old_path: Path, new_path: Path) -> None:
    old, new = read(old_path), read(new_path)
    gone = old.keys() - new.keys()
    added = new.keys() - old.keys()
    changed = [
        key
        for key in old.keys() & new.keys()
        if not (old[key] == new[key] or (math.isnan(old[key]) and math.isnan(new[key])))
    ]
    print(f"old {len(old):,} values, new {len(new):,} values")
    print(f"only old: {len(gone):,}; only new: {len(added):,}; changed: {len(changed):,}")
    for name, keys in (("only old", gone), ("only new", added), ("changed", changed)):
        groups = Counter((key[0], key[3]) for key in keys)
        months = Counter((key[0], key[3], key[1][:7]) for key in keys)
        print(f"\n{name}, by site and signal (largest first):")
        for (site, signal), n in groups.most_common(10):
            top = [m for (s, g, m), _ in months.most_common() if (s, g) == (site, signal)][:4]
            print(f"  {n:>8,}  {site} {signal}  (months: {', '.join(top)})")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("--database-url", required=True, help="a server's maintenance database")
    d.add_argument("--out", type=Path, required=True)
    d.add_argument("--prefix", default="bench_changes", help="of the scratch database's name")
    c = sub.add_parser("compare")
    c.add_argument("old", type=Path)
    c.add_argument("new", type=Path)
    args = p.parse_args(argv)
    if args.command == "dump":
        dump(args.database_url, args.out, args.prefix)
    else:
        compare(args.old, args.new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
